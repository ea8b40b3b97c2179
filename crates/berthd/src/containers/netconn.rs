//! A container's user-defined networks: the endpoints asked for at create
//! (`--network`, `NetworkingConfig`), putting a starting container on each of
//! them and taking an exiting one off, `docker network connect`/`disconnect`
//! on running and stopped containers, and the names each endpoint has in the
//! network's resolver. The default bridge stays in [`super::lifecycle`].

use super::lifecycle::persist;
use super::model::{Container, EndpointRequest, EndpointSpec, Status};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use berth_net::model::NetworkConfig;
use berth_net::networks::DnsNames;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The network mode of `--network NAME|ID` for a name that is not `default`,
/// `bridge`, `host`, `none` or `container:`: the user network's name.
pub fn user_network_mode(d: &Daemon, key: &str) -> ApiResult<String> {
    let net = d.networks.find(key)?;
    Ok(match (net.predefined, net.name.as_str()) {
        (true, "bridge") => "default".into(),
        (true, other) => other.to_string(),
        (false, name) => name.to_string(),
    })
}

/// A container's settings on `net` from an `EndpointSettings` request.
pub fn endpoint_spec(
    net: &NetworkConfig,
    req: Option<&EndpointRequest>,
) -> ApiResult<EndpointSpec> {
    let empty = EndpointRequest::default();
    let req = req.unwrap_or(&empty);
    let ipv4 = match req
        .ipam_config
        .as_ref()
        .and_then(|i| i.ipv4_address.as_deref())
        .filter(|a| !a.is_empty())
    {
        Some(a) => {
            let ip: Ipv4Addr = a
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid IPv4 address {a:?}")))?;
            if !net.pools.iter().any(|p| p.subnet.contains(ip)) {
                return Err(ApiError::BadRequest(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )));
            }
            Some(ip)
        }
        None => None,
    };
    let ipv6 = match req
        .ipam_config
        .as_ref()
        .and_then(|i| i.ipv6_address.as_deref())
        .filter(|a| !a.is_empty())
    {
        Some(a) => {
            let ip: Ipv6Addr = a
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid IPv6 address {a:?}")))?;
            if !net.pools6.iter().any(|p| p.subnet.contains(ip)) {
                return Err(ApiError::BadRequest(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )));
            }
            Some(ip)
        }
        None => None,
    };
    let mac = match req.mac_address.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => {
            berth_net::parse_mac(m).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Some(m.to_ascii_lowercase())
        }
        None => None,
    };
    let mut links = Vec::new();
    for l in req.links.iter().flatten() {
        let (name, alias) = l.split_once(':').unwrap_or((l, l));
        let name = name.trim_start_matches('/');
        if name.is_empty() || alias.is_empty() {
            return Err(ApiError::BadRequest(format!("invalid link {l:?}")));
        }
        links.push(format!("{name}:{alias}"));
    }
    Ok(EndpointSpec {
        network: net.name.clone(),
        links,
        aliases: req.aliases.clone().unwrap_or_default(),
        ipv4,
        ipv6,
        mac,
        endpoint_id: super::model::random_hex(),
        driver_opts: req.driver_opts.clone().unwrap_or_default(),
    })
}

/// The user networks of a new container: its network mode's, and any other
/// named in `NetworkingConfig.EndpointsConfig`.
pub fn endpoints_at_create(
    d: &Daemon,
    network_mode: &str,
    config: Option<&BTreeMap<String, Option<EndpointRequest>>>,
) -> ApiResult<BTreeMap<String, EndpointSpec>> {
    let mut out = BTreeMap::new();
    let mut wanted: Vec<(NetworkConfig, Option<&EndpointRequest>)> = Vec::new();
    for (key, req) in config.into_iter().flatten() {
        // The CLI names the mode's own entry as the mode (`default` too).
        if matches!(key.as_str(), "default" | "bridge" | "host" | "none")
            || key == network_mode
            || key.starts_with("container:")
        {
            if let Some(net) = d.networks.find(key).ok().filter(|n| !n.predefined) {
                wanted.push((net, req.as_ref()));
            }
            continue;
        }
        let net = d.networks.find(key)?;
        if !net.predefined {
            wanted.push((net, req.as_ref()));
        }
    }
    if !matches!(network_mode, "default" | "none" | "host")
        && !network_mode.starts_with("container:")
    {
        let net = d.networks.find(network_mode)?;
        if !wanted.iter().any(|(n, _)| n.id == net.id) {
            wanted.push((net, None));
        }
    } else if !wanted.is_empty() && network_mode != "default" {
        return Err(ApiError::BadRequest(format!(
            "conflicting options: network mode {network_mode:?} cannot be combined with other networks"
        )));
    }
    for (net, req) in wanted {
        out.insert(net.id.clone(), endpoint_spec(&net, req)?);
    }
    Ok(out)
}

/// The names a container answers to on a network: its name, the aliases,
/// its short id and its hostname (Docker's `DNSNames`).
pub fn dns_names(c: &Container, e: &EndpointSpec) -> Vec<String> {
    let mut names = vec![c.name.clone()];
    names.extend(e.aliases.iter().cloned());
    names.push(c.id[..12.min(c.id.len())].to_string());
    if !c.spec.hostname.is_empty() {
        names.push(c.spec.hostname.clone());
    }
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// What the resolvers know of a container on a network: its names and its links.
fn dns_scope(c: &Container, e: &EndpointSpec) -> DnsNames {
    DnsNames {
        names: dns_names(c, e),
        links: e
            .links
            .iter()
            .filter_map(|l| l.split_once(':'))
            .map(|(name, alias)| (alias.to_string(), name.to_string()))
            .collect(),
        servers: c
            .spec
            .extra
            .dns
            .iter()
            .filter_map(|s| s.parse::<IpAddr>().ok())
            .collect(),
    }
}

/// The resolver a container asks: its network mode's network's gateway (bridge networks only:
/// macvlan and ipvlan networks have no resolver, their containers use the host's servers).
pub fn nameserver(d: &Daemon, c: &Container) -> Option<Ipv4Addr> {
    let (id, _) = c
        .spec
        .networks
        .iter()
        .find(|(_, e)| e.network == c.spec.network_mode)?;
    let net = d.networks.find(id).ok().filter(|n| n.driver == "bridge")?;
    net.pools.first().map(|p| p.gateway)
}

/// Put one container on one user network; `netns`: the path of its network namespace
/// (`/proc/<init>/ns/net`, or one berthd made for a start, see [`berth_net::netns`]).
async fn attach_one(
    d: &Arc<Daemon>,
    c: &Container,
    net_id: &str,
    e: &EndpointSpec,
    netns: &str,
) -> ApiResult<berth_net::Attachment> {
    let ports = if e.network == c.spec.network_mode {
        super::lifecycle::port_mappings(c)?
    } else {
        Vec::new()
    };
    if let Some(why) = super::ports::taken(d, &c.id, &ports) {
        return Err(super::ports::endpoint_failure(&c.name, &e.endpoint_id, why));
    }
    let mac = match &e.mac {
        Some(m) => Some(berth_net::parse_mac(m).map_err(|e| ApiError::BadRequest(e.to_string()))?),
        None => None,
    };
    let names = dns_scope(c, e);
    let (d2, net_id, cid, want, netns) = (
        d.clone(),
        net_id.to_string(),
        c.id.clone(),
        (e.ipv4, e.ipv6),
        netns.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        d2.networks
            .connect_dual(&net_id, &cid, &netns, &ports, want, mac, &names)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|err| match err {
        berth_net::networks::NetError::Net(why @ berth_net::Error::PortInUse { .. }) => {
            super::ports::endpoint_failure(&c.name, &e.endpoint_id, why)
        }
        other => ApiError::from(other),
    })
}

/// Put a starting container (its network namespace at `netns`) on every user network it is
/// configured for. On failure, what was made is undone and the error returned.
/// Returns the lines of its own addresses for its /etc/hosts, as Docker writes it (the caller
/// appends them once the bundle's files exist). Servers a driver gives (a CNI result, never a
/// bridge network's, whose setup may run beside the bundle's) go into its resolv.conf in `dir`.
pub async fn connect_all(
    d: &Arc<Daemon>,
    c: &Container,
    netns: &str,
    dir: &std::path::Path,
) -> ApiResult<String> {
    let mode = c.spec.network_mode.as_str();
    let user_mode = !matches!(mode, "default" | "none" | "host") && !mode.starts_with("container:");
    if user_mode && !c.spec.networks.values().any(|e| e.network == mode) {
        // Its network was removed while it was stopped (as dockerd, the start fails).
        return Err(ApiError::NotFound(format!("network {mode} not found")));
    }
    let mut lines = String::new();
    // By name: the first with a way out gets the default route, as Docker picks the gateway among
    // a container's networks (and the interfaces are numbered in that order, not by network id).
    let mut nets: Vec<(&String, &EndpointSpec)> = c.spec.networks.iter().collect();
    nets.sort_by(|a, b| a.1.network.cmp(&b.1.network));
    for (net_id, e) in nets {
        match attach_one(d, c, net_id, e, netns).await {
            Ok(att) => {
                if e.network == c.spec.network_mode
                    && !att.dns.is_empty()
                    && c.spec.extra.dns.is_empty()
                {
                    // DNS the network's driver gave (a CNI result): the servers of resolv.conf.
                    write_nameservers(&dir.join("resolv.conf"), &att.dns);
                }
                if e.network == c.spec.network_mode {
                    let names = c.hosts_names();
                    lines.push_str(&format!("{}\t{names}\n", att.endpoint.address));
                    if let Some(v6) = att.ipv6 {
                        lines.push_str(&format!("{}\t{names}\n", v6.address));
                    }
                }
                d.containers.modify(&c.id, |c| {
                    c.state.endpoints.insert(net_id.clone(), att.clone());
                })?;
                lifecycle_event(d, "connect", net_id, &c.id);
            }
            Err(err) => {
                disconnect_all(d, &c.id).await;
                if super::ports::is_endpoint_failure(&err) {
                    return Err(err);
                }
                return Err(ApiError::BadRequest(format!(
                    "connect to network {}: {err}",
                    e.network
                )));
            }
        }
    }
    // The caller persists the record with the rest of the start.
    Ok(lines)
}

/// Replace the `nameserver` lines of a container's resolv.conf in place (it is bind-mounted).
fn write_nameservers(path: &std::path::Path, servers: &[Ipv4Addr]) {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut new: String = servers
        .iter()
        .map(|s| format!("nameserver {s}\n"))
        .collect();
    for l in old
        .lines()
        .filter(|l| !l.trim_start().starts_with("nameserver"))
    {
        new.push_str(l);
        new.push('\n');
    }
    if let Err(e) = std::fs::write(path, new) {
        crate::log!(3, "writing {}: {e}", path.display());
    }
}

/// Take a container off one user network (names, ports, interface, lease).
async fn detach_one(
    d: &Arc<Daemon>,
    id: &str,
    net_id: &str,
    att: berth_net::Attachment,
) -> ApiResult<()> {
    let (d2, id2, net2) = (d.clone(), id.to_string(), net_id.to_string());
    tokio::task::spawn_blocking(move || d2.networks.disconnect(&net2, &id2, &att))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// Take an exited (or failed) container off all its user networks (the record is not persisted here).
pub async fn disconnect_all(d: &Arc<Daemon>, id: &str) {
    let Ok(c) = d.containers.get(id) else { return };
    if c.state.endpoints.is_empty() {
        return;
    }
    // Its process is gone: the veths go off this path (berth-net's reaper), which `run --rm`
    // waits on.
    let (d2, id2, endpoints) = (d.clone(), id.to_string(), c.state.endpoints.clone());
    let _ = tokio::task::spawn_blocking(move || {
        for (net_id, att) in endpoints {
            if let Err(e) = d2.networks.disconnect_exited(&net_id, &id2, &att) {
                crate::log!(3, "disconnecting {id2} from network {net_id}: {e}");
            }
            lifecycle_event(&d2, "disconnect", &net_id, &id2);
        }
    })
    .await;
    // The caller (exit or failed start) persists the record.
    let _ = d.containers.modify(id, |c| c.state.endpoints.clear());
}

/// After a daemon restart, for a running container: its names in the
/// resolvers and the relays of its published ports.
pub async fn restore(d: &Arc<Daemon>, c: &Container) {
    for (net_id, att) in &c.state.endpoints {
        let Some(e) = c.spec.networks.get(net_id) else {
            continue;
        };
        let names = dns_scope(c, e);
        let (d2, net2, id2, att2) = (d.clone(), net_id.clone(), c.id.clone(), att.clone());
        let res =
            tokio::task::spawn_blocking(move || d2.networks.restore(&net2, &id2, &att2, &names))
                .await;
        if let Ok(Err(e)) = res {
            crate::log!(3, "restoring {} on network {net_id}: {e}", c.id);
        }
    }
}

/// After a rename: the resolvers answer to the new name (and no longer to the old one).
pub fn renamed(d: &Daemon, c: &Container) {
    for (net_id, att) in &c.state.endpoints {
        if let Some(e) = c.spec.networks.get(net_id) {
            d.networks
                .refresh_names(net_id, &c.id, att, &dns_scope(c, e));
        }
    }
}

/// `docker network connect`: on a running container at once, on a stopped
/// one at its next start.
pub async fn connect(
    d: &Arc<Daemon>,
    net_key: &str,
    container: &str,
    req: Option<EndpointRequest>,
) -> ApiResult<()> {
    let net = d.networks.find(net_key)?;
    let c = d.containers.get(container)?;
    let lock = d.containers.op_lock(&c.id)?;
    let _g = lock.lock().await;
    let c = d.containers.get(&c.id)?;
    if net.predefined {
        return Err(ApiError::BadRequest(format!(
            "connecting a container to the predefined network {} is not supported",
            net.name
        )));
    }
    match c.spec.network_mode.as_str() {
        "host" | "none" => {
            return Err(ApiError::BadRequest(format!(
                "container cannot be connected to network {}: it runs with network mode {}",
                net.name, c.spec.network_mode
            )))
        }
        m if m.starts_with("container:") => {
            return Err(ApiError::BadRequest(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ))
        }
        _ => {}
    }
    if c.spec.networks.contains_key(&net.id) {
        return Err(ApiError::Forbidden(format!(
            "endpoint with name {} already exists in network {}",
            c.name, net.name
        )));
    }
    let e = endpoint_spec(&net, req.as_ref())?;
    let c = d.containers.modify(&c.id, |c| {
        c.spec.networks.insert(net.id.clone(), e.clone());
    })?;
    if c.state.status == Status::Running && c.state.pid > 0 {
        let netns = format!("/proc/{}/ns/net", c.state.pid);
        match attach_one(d, &c, &net.id, &e, &netns).await {
            Ok(att) => {
                d.containers.modify(&c.id, |c| {
                    c.state.endpoints.insert(net.id.clone(), att.clone());
                })?;
            }
            Err(err) => {
                d.containers.modify(&c.id, |c| {
                    c.spec.networks.remove(&net.id);
                })?;
                return Err(err);
            }
        }
    }
    persist(d, &d.containers.get(&c.id)?)?;
    connection_event(d, "connect", &net.id, &net.name, &net.driver, &c.id);
    Ok(())
}

/// The `connect`/`disconnect` event of a network a container joins as it starts or leaves as it
/// stops, as dockerd reports them (`docker events --filter type=network`).
pub(super) fn lifecycle_event(d: &Daemon, action: &str, net_id: &str, container: &str) {
    if let Ok(net) = d.networks.find(net_id) {
        connection_event(d, action, &net.id, &net.name, &net.driver, container);
    }
}

/// The `connect`/`disconnect` event of a network (Docker's attributes: container, name, type).
fn connection_event(
    d: &Daemon,
    action: &str,
    net: &str,
    name: &str,
    driver: &str,
    container: &str,
) {
    d.events.emit(
        "network",
        action,
        net,
        [
            ("container".to_string(), container.to_string()),
            ("name".to_string(), name.to_string()),
            ("type".to_string(), driver.to_string()),
        ]
        .into_iter()
        .collect(),
    );
}

/// `docker network disconnect [-f]`.
pub async fn disconnect(
    d: &Arc<Daemon>,
    net_key: &str,
    container: &str,
    force: bool,
) -> ApiResult<()> {
    let net = d.networks.find(net_key)?;
    let c = d.containers.get(container)?;
    let lock = d.containers.op_lock(&c.id)?;
    let _g = lock.lock().await;
    let c = d.containers.get(&c.id)?;
    if !c.spec.networks.contains_key(&net.id) {
        return Err(ApiError::Forbidden(format!(
            "container {} is not connected to network {}",
            c.id, net.name
        )));
    }
    if let Some(att) = c.state.endpoints.get(&net.id).cloned() {
        if let Err(e) = detach_one(d, &c.id, &net.id, att).await {
            if !force {
                return Err(e);
            }
            crate::log!(3, "disconnecting {} from {} (forced): {e}", c.id, net.name);
        }
    }
    let c = d.containers.modify(&c.id, |c| {
        c.state.endpoints.remove(&net.id);
        c.spec.networks.remove(&net.id);
    })?;
    persist(d, &c)?;
    connection_event(d, "disconnect", &net.id, &net.name, &net.driver, &c.id);
    Ok(())
}
