//! The bridge driver: one Linux bridge per network (the default one is
//! `berth0`), the gateway address on the bridge, and per container a veth
//! pair whose inside end becomes `eth0` with an address from IPAM and a
//! default route through the gateway. All through rtnetlink (no `ip`
//! processes), so connecting a container costs a few syscalls.

use std::net::{Ipv4Addr, Ipv6Addr};

use std::path::Path;

use crate::error::{Error, Result};
use crate::ipam::Subnet;
use crate::ipam6::Subnet6;
use crate::netlink::{self, Netlink};
use crate::reaper;
use crate::{Endpoint, NetworkDriver};

pub struct BridgeDriver {
    pub bridge: String,
    pub subnet: Subnet,
    /// The bridge's own address (the containers' default gateway).
    pub gateway: Ipv4Addr,
    pub mtu: u32,
    /// Part of the host veth names of a user network (its short id), so a
    /// container on several networks gets one distinct veth for each.
    pub veth_tag: Option<String>,
    /// Internal networks give containers no default route.
    pub default_route: bool,
    /// The IPv6 subnet and gateway of a dual-stack network; without one the
    /// containers' interfaces on it get IPv6 turned off.
    pub ipv6: Option<(Subnet6, Ipv6Addr)>,
    /// The GSO/GRO size limits of the veths (BIG TCP), [`big_tcp_size`] by default.
    pub big_tcp: Option<u32>,
}

/// The GSO/GRO size limit berthd gives both ends of a container's veth: 192 KiB (as Cilium's
/// BIG TCP), three times the kernel's 64 KiB. TCP between containers (and from a container to
/// the host) then builds and passes packets of up to 192 KiB through veth, bridge and
/// netfilter, a third of the per-packet work; nothing changes on any wire, as the MTU stays
/// and a packet leaving through a device with smaller limits is segmented by software GSO
/// first (`gso_features_check`, Linux 6.7; the IPv4 limits exist since 6.3). So only on a
/// 64-bit kernel of 6.7 or later; None elsewhere (the kernel's defaults, as Docker leaves them).
/// A network made with [`BridgeDriver::new`] uses it unless told otherwise (berthd's
/// `--big-tcp=false` gives its networks None).
pub fn big_tcp_size() -> Option<u32> {
    static SIZE: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        let uts = nix::sys::utsname::uname().ok()?;
        big_tcp_for(&uts.release().to_string_lossy())
    })
}

/// [`big_tcp_size`] for a kernel release string such as `6.18.44-fc`.
pub fn big_tcp_for(release: &str) -> Option<u32> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    ((major, minor) >= (6, 7) && cfg!(target_pointer_width = "64")).then_some(BIG_TCP_SIZE)
}

/// See [`big_tcp_size`].
pub const BIG_TCP_SIZE: u32 = 192 * 1024;

/// A container's IPv6 address on a dual-stack network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint6 {
    pub address: Ipv6Addr,
    pub prefix: u8,
    pub gateway: Ipv6Addr,
}

impl BridgeDriver {
    pub fn new(bridge: impl Into<String>, subnet: Subnet) -> BridgeDriver {
        BridgeDriver {
            bridge: bridge.into(),
            subnet,
            gateway: subnet.gateway(),
            mtu: 1500,
            veth_tag: None,
            default_route: true,
            ipv6: None,
            big_tcp: big_tcp_size(),
        }
    }

    /// The host end of a container's veth: short (15 bytes max) and derived
    /// from the container id (and the network's tag) so it can be found again
    /// for cleanup.
    pub fn host_veth(&self, container_id: &str) -> String {
        let alnum = |s: &str, n: usize| -> String {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(n)
                .collect()
        };
        match &self.veth_tag {
            None => format!("vb{}", alnum(container_id, 11)),
            Some(tag) => format!("v{}{}", alnum(container_id, 8), alnum(tag, 6)),
        }
    }
}

/// The first `ethN` not present in the calling thread's network namespace.
fn free_eth() -> String {
    (0..)
        .map(|n| format!("eth{n}"))
        .find(|n| netlink::index(n).is_err())
        .expect("some ethN is free")
}

impl NetworkDriver for BridgeDriver {
    fn ensure(&self) -> Result<()> {
        let mut nl = Netlink::open()?;
        if netlink::index(&self.bridge).is_err() {
            match nl.create_bridge(&self.bridge) {
                // Another caller made it meanwhile.
                Err(Error::Command { stderr, .. }) if stderr.contains("EEXIST") => {}
                other => other?,
            }
        }
        let idx = netlink::index(&self.bridge)?;
        nl.add_address(idx, self.gateway, self.subnet.prefix)?;
        if let Some((subnet, gw)) = self.ipv6 {
            netlink::set_ipv6(&self.bridge, true)?;
            nl.add_address6(idx, gw, subnet.prefix)?;
        }
        nl.set_link(idx, true, None, None, None)
    }

    fn connect(
        &self,
        container_id: &str,
        netns: &str,
        addr: Ipv4Addr,
        mac: Option<[u8; 6]>,
    ) -> Result<Endpoint> {
        self.connect_dual(container_id, netns, addr, None, mac)
    }

    fn disconnect(&self, container_id: &str) -> Result<()> {
        reaper::delete_link(&self.host_veth(container_id))
    }

    fn remove(&self) -> Result<()> {
        // No veth of an exited container may outlive its bridge.
        let settled = reaper::global().settle(&self.bridge);
        let removed = match netlink::index(&self.bridge) {
            Ok(idx) => Netlink::open()?.delete_link(idx),
            Err(_) => Ok(()),
        };
        removed.and(settled)
    }
}

impl BridgeDriver {
    /// [`NetworkDriver::disconnect`] for a container whose process has exited: the host end of
    /// its veth is deleted by the [`reaper`], off the caller's path (the kernel is usually
    /// removing the pair with the container's namespace right then, holding the rtnl lock);
    /// [`reaper::Reaper::settle_owner`] waits for it.
    pub fn disconnect_exited(&self, container_id: &str) {
        reaper::global().defer(&self.bridge, &self.host_veth(container_id), container_id);
    }

    /// [`NetworkDriver::connect`] with an IPv6 address too (`addr6`, on a
    /// dual-stack network): the interface gets both and a default route for
    /// each family; on an IPv4-only network its IPv6 is turned off.
    pub fn connect_dual(
        &self,
        container_id: &str,
        netns: &str,
        addr: Ipv4Addr,
        addr6: Option<Ipv6Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Endpoint> {
        let host = self.host_veth(container_id);
        // The veths of containers that exited go first (the same host name, on a restart; an
        // old interface still answering for an address handed out again, otherwise). A link
        // that cannot be deleted shows as the creation's error below when it is in the way.
        let _ = reaper::global().settle(&self.bridge);
        // Made in the container's namespace under a name of ours, renamed to ethN there.
        let peer = format!("{}p", &host[..host.len().min(14)]);
        let mut nl = Netlink::open()?;
        let ns = std::fs::File::open(netns).map_err(crate::error::io(format!("open {netns}")))?;
        nl.create_veth_into(
            &host,
            &peer,
            self.mtu,
            mac,
            Some(&std::os::fd::OwnedFd::from(ns)),
            self.big_tcp,
        )?;
        let result = (|| {
            let bridge_idx = netlink::index(&self.bridge)?;
            let host_idx = netlink::index(&host)?;
            nl.set_link(host_idx, true, Some(bridge_idx), None, None)?;
            let (prefix, gateway, route) = (self.subnet.prefix, self.gateway, self.default_route);
            let peer_name = peer.clone();
            let v6 = match (self.ipv6, addr6) {
                (Some((subnet, gw)), Some(a)) => Some((a, subnet.prefix, gw)),
                _ => None,
            };
            let (interface, mac) = netlink::in_netns(Path::new(netns), move |nl| {
                let idx = netlink::index(&peer_name)?;
                let name = free_eth();
                nl.set_link(idx, false, None, Some(&name), None)?;
                // Before the link is up, so an IPv4-only one never gets a link-local address.
                netlink::set_ipv6(&name, v6.is_some())?;
                nl.add_address(idx, addr, prefix)?;
                if let Some((a6, p6, _)) = v6 {
                    nl.add_address6(idx, a6, p6)?;
                }
                nl.set_link(idx, true, None, None, None)?;
                nl.set_link(netlink::index("lo")?, true, None, None, None)?;
                if route {
                    // The first network with a way out keeps the default route.
                    match nl.add_default_route(idx, gateway) {
                        Err(Error::Command { stderr, .. }) if stderr.contains("EEXIST") => {}
                        other => other?,
                    }
                    if let Some((_, _, gw6)) = v6 {
                        match nl.add_default_route6(idx, gw6) {
                            Err(Error::Command { stderr, .. }) if stderr.contains("EEXIST") => {}
                            other => other?,
                        }
                    }
                }
                Ok((name, nl.mac(idx)?))
            })?;
            Ok(Endpoint {
                interface,
                host_interface: host.clone(),
                address: addr,
                prefix,
                gateway,
                mac,
                netns: None,
            })
        })();
        if result.is_err() {
            // Deleting one end removes both, wherever the peer went.
            if let Ok(idx) = netlink::index(&host) {
                let _ = nl.delete_link(idx);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_tcp_only_where_the_kernel_segments_what_a_device_cannot_take() {
        let big = cfg!(target_pointer_width = "64").then_some(BIG_TCP_SIZE);
        assert_eq!(big_tcp_for("6.18.44-fc-v1272"), big);
        assert_eq!(big_tcp_for("6.7.0"), big);
        assert_eq!(big_tcp_for("7.0-rc1"), big);
        assert_eq!(big_tcp_for("6.6.30-amd64"), None);
        assert_eq!(big_tcp_for("5.10.0-28-amd64"), None);
        assert_eq!(big_tcp_for("4.19"), None);
        assert_eq!(big_tcp_for("garbage"), None);
        assert_eq!(big_tcp_for(""), None);
    }
}
