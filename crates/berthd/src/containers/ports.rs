//! A published port that cannot be had, in dockerd's words: `Bind for IP:PORT failed: port is
//! already allocated` when another container publishes it, the proxy's `address already in use`
//! when something else on the host holds it, both under `driver failed programming external
//! connectivity on endpoint NAME (ID)` (what Compose prints and users search for).

use super::model::Container;
use crate::daemon::Daemon;
use crate::error::ApiError;
use berth_net::PortMapping;
use std::net::IpAddr;

/// What starts every such error (see [`is_endpoint_failure`]).
const PREFIX: &str = "driver failed programming external connectivity on endpoint";

/// The error of endpoint `endpoint` (its id) of container `name`.
pub fn endpoint_failure(name: &str, endpoint: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("{PREFIX} {name} ({endpoint}): {why}"))
}

/// Whether `e` came from [`endpoint_failure`] (passed on as it is, without more context).
pub fn is_endpoint_failure(e: &ApiError) -> bool {
    matches!(e, ApiError::Internal(m) if m.starts_with(PREFIX))
}

/// Whether two host addresses of a published port overlap (none or unspecified is every one).
fn overlap(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
        _ => true,
    }
}

/// `Bind for IP:PORT failed: port is already allocated` for the first of `wanted` (the ports
/// container `id` is about to publish) that another running container publishes already.
pub fn taken(d: &Daemon, id: &str, wanted: &[PortMapping]) -> Option<String> {
    // Every start on a network passes here: without a fixed host port there is nothing to look
    // for, and no copy of every container's record to make.
    if wanted.iter().all(|w| w.host_port == 0) {
        return None;
    }
    let others: Vec<Container> = d
        .containers
        .all()
        .into_iter()
        .filter(|o| o.id != id)
        .collect();
    wanted.iter().filter(|w| w.host_port != 0).find_map(|w| {
        let busy = others.iter().any(|o| {
            o.state
                .network
                .iter()
                .chain(o.state.endpoints.values())
                .flat_map(|att| att.ports.iter())
                .any(|p| {
                    p.host_port == w.host_port
                        && p.protocol == w.protocol
                        && overlap(p.host_ip, w.host_ip)
                })
        });
        busy.then(|| {
            let ip = w
                .host_ip
                .map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string());
            format!(
                "Bind for {ip}:{} failed: port is already allocated",
                w.host_port
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_overlaps_every_one() {
        let lo: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        let other: Option<IpAddr> = Some("127.0.0.2".parse().unwrap());
        let any: Option<IpAddr> = Some("0.0.0.0".parse().unwrap());
        assert!(overlap(lo, lo));
        assert!(!overlap(lo, other));
        assert!(overlap(lo, None) && overlap(None, other));
        assert!(overlap(any, lo));
    }

    #[test]
    fn failures_are_recognised() {
        let e = endpoint_failure(
            "web-1",
            "abc",
            "Bind for 0.0.0.0:80 failed: port is already allocated",
        );
        assert_eq!(
            e.to_string(),
            "driver failed programming external connectivity on endpoint web-1 (abc): \
             Bind for 0.0.0.0:80 failed: port is already allocated"
        );
        assert!(is_endpoint_failure(&e));
        assert!(!is_endpoint_failure(&ApiError::Internal("other".into())));
    }
}
