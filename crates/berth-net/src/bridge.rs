//! The bridge driver: one Linux bridge per network (the default one is
//! `berth0`), the gateway address on the bridge, and per container a veth
//! pair whose inside end becomes `eth0` with an address from IPAM and a
//! default route through the gateway.

use std::net::Ipv4Addr;

use crate::cmd::{ip_in, run};
use crate::error::{Error, Result};
use crate::ipam::Subnet;
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

    fn link_exists(name: &str) -> bool {
        run("ip", &["link", "show", "dev", name]).is_ok()
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
        if !Self::link_exists(&self.bridge) {
            run(
                "ip",
                &["link", "add", "name", &self.bridge, "type", "bridge"],
            )?;
        }
        let cidr = format!("{}/{}", self.subnet.gateway(), self.subnet.prefix);
        let addrs = run("ip", &["-o", "-4", "addr", "show", "dev", &self.bridge])?;
        if !addrs.contains(&format!(" {cidr} ")) {
            run("ip", &["addr", "add", &cidr, "dev", &self.bridge])?;
        }
        run("ip", &["link", "set", "dev", &self.bridge, "up"])?;
        Ok(())
    }

    fn connect(&self, container_id: &str, netns: &str, addr: Ipv4Addr) -> Result<Endpoint> {
        let host = Self::host_veth(container_id);
        let peer = format!("{host}p");
        let mtu = self.mtu.to_string();
        run(
            "ip",
            &[
                "link", "add", &host, "mtu", &mtu, "type", "veth", "peer", "name", &peer, "mtu",
                &mtu,
            ],
        )?;
        let undo = |e: Error| {
            // Deleting one end removes both (and the peer inside the netns).
            let _ = run("ip", &["link", "del", &host]);
            e
        };
        let pid_or_path = netns;
        (|| {
            run(
                "ip",
                &["link", "set", "dev", &host, "master", &self.bridge, "up"],
            )?;
            run("ip", &["link", "set", "dev", &peer, "netns", pid_or_path])?;
            ip_in(netns, &["link", "set", "dev", &peer, "name", "eth0"])?;
            let cidr = format!("{addr}/{}", self.subnet.prefix);
            ip_in(netns, &["addr", "add", &cidr, "dev", "eth0"])?;
            ip_in(netns, &["link", "set", "dev", "eth0", "up"])?;
            ip_in(netns, &["link", "set", "dev", "lo", "up"])?;
            let gw = self.subnet.gateway().to_string();
            ip_in(
                netns,
                &["route", "add", "default", "via", &gw, "dev", "eth0"],
            )?;
            let mac = ip_in(netns, &["-o", "link", "show", "dev", "eth0"])?
                .split_whitespace()
                .skip_while(|w| *w != "link/ether")
                .nth(1)
                .unwrap_or_default()
                .to_string();
            Ok(Endpoint {
                interface: "eth0".into(),
                host_interface: host.clone(),
                address: addr,
                prefix: self.subnet.prefix,
                gateway: self.subnet.gateway(),
                mac,
            })
        })()
        .map_err(undo)
    }

    fn disconnect(&self, container_id: &str) -> Result<()> {
        let host = Self::host_veth(container_id);
        if Self::link_exists(&host) {
            run("ip", &["link", "del", &host])?;
        }
        Ok(())
    }

    fn remove(&self) -> Result<()> {
        if Self::link_exists(&self.bridge) {
            run("ip", &["link", "del", &self.bridge])?;
        }
        Ok(())
    }
}
