//! The bridge driver: one Linux bridge per network (the default one is
//! `berth0`), the gateway address on the bridge, and per container a veth
//! pair whose inside end becomes `eth0` with an address from IPAM and a
//! default route through the gateway. All through rtnetlink (no `ip`
//! processes), so connecting a container costs a few syscalls.

use std::net::Ipv4Addr;

use std::path::Path;

use crate::error::{Error, Result};
use crate::ipam::Subnet;
use crate::netlink::{self, Netlink};
use crate::{Endpoint, NetworkDriver};

pub struct BridgeDriver {
    pub bridge: String,
    pub subnet: Subnet,
    pub mtu: u32,
}

impl BridgeDriver {
    pub fn new(bridge: impl Into<String>, subnet: Subnet) -> BridgeDriver {
        BridgeDriver {
            bridge: bridge.into(),
            subnet,
            mtu: 1500,
        }
    }

    /// The host end of a container's veth: short (15 bytes max) and derived
    /// from the container id so it can be found again for cleanup.
    pub fn host_veth(container_id: &str) -> String {
        let short: String = container_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(11)
            .collect();
        format!("vb{short}")
    }
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
        nl.add_address(idx, self.subnet.gateway(), self.subnet.prefix)?;
        nl.set_link(idx, true, None, None, None)
    }

    fn connect(
        &self,
        container_id: &str,
        netns: &str,
        addr: Ipv4Addr,
        mac: Option<[u8; 6]>,
    ) -> Result<Endpoint> {
        let host = Self::host_veth(container_id);
        let peer = format!("{host}p");
        let mut nl = Netlink::open()?;
        nl.create_veth(&host, &peer, self.mtu, mac)?;
        let result = (|| {
            let bridge_idx = netlink::index(&self.bridge)?;
            let host_idx = netlink::index(&host)?;
            let peer_idx = netlink::index(&peer)?;
            nl.set_link(host_idx, true, Some(bridge_idx), None, None)?;
            let ns =
                std::fs::File::open(netns).map_err(crate::error::io(format!("open {netns}")))?;
            nl.set_link(
                peer_idx,
                false,
                None,
                None,
                Some(&std::os::fd::OwnedFd::from(ns)),
            )?;
            let (prefix, gateway) = (self.subnet.prefix, self.subnet.gateway());
            let peer_name = peer.clone();
            let mac = netlink::in_netns(Path::new(netns), move |nl| {
                let idx = netlink::index(&peer_name)?;
                nl.set_link(idx, false, None, Some("eth0"), None)?;
                nl.add_address(idx, addr, prefix)?;
                nl.set_link(idx, true, None, None, None)?;
                nl.set_link(netlink::index("lo")?, true, None, None, None)?;
                nl.add_default_route(idx, gateway)?;
                nl.mac(idx)
            })?;
            Ok(Endpoint {
                interface: "eth0".into(),
                host_interface: host.clone(),
                address: addr,
                prefix,
                gateway,
                mac,
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

    fn disconnect(&self, container_id: &str) -> Result<()> {
        let host = Self::host_veth(container_id);
        match netlink::index(&host) {
            // The pair goes with the container's namespace, which may be going right now (ENODEV):
            // gone already is what was asked for.
            Ok(idx) => match Netlink::open()?.delete_link(idx) {
                Err(_) if netlink::index(&host).is_err() => Ok(()),
                other => other,
            },
            Err(_) => Ok(()),
        }
    }

    fn remove(&self) -> Result<()> {
        match netlink::index(&self.bridge) {
            Ok(idx) => Netlink::open()?.delete_link(idx),
            Err(_) => Ok(()),
        }
    }
}
