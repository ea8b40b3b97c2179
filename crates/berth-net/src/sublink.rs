//! What macvlan and ipvlan networks share: no bridge, no NAT, no published
//! ports; per container one link made on the network's parent interface,
//! moved into the container's namespace and renamed there to the first free
//! `ethN`, with an address from the network's IPAM and (unless the network is
//! internal) a default route through its gateway. The link lives only in the
//! container's namespace, so it goes with it; `disconnect` of a running
//! container deletes it there.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::addresses::Addresses;
use crate::error::{Error, Result};
use crate::ipam::Subnet;
use crate::netlink::{self, Netlink, Sublink};
use crate::{Attachment, Endpoint, NetnsRef, NetworkDriver, PortMapping, UserNetwork};

/// The error of a parent interface that is not there, in Docker's words.
pub fn no_parent(parent: &str) -> Error {
    Error::Unsupported(format!(
        "the requested parent interface {parent} was not found on the Docker host"
    ))
}

/// Make a link of kind `link` on `parent` and delete it again: a network is refused at create
/// when the kernel cannot make its links (no ipvlan module, say), not at its first container.
pub fn probe(parent: &str, link: Sublink, tag: &str) -> Result<()> {
    let parent_idx = netlink::index(parent).map_err(|_| no_parent(parent))?;
    let name: String = format!("t{tag}").chars().take(15).collect();
    let mut nl = Netlink::open()?;
    nl.create_sublink(&name, parent_idx, link)?;
    match netlink::index(&name) {
        Ok(idx) => nl.delete_link(idx),
        Err(_) => Ok(()),
    }
}

/// Makes a container's link of kind `link` on `parent`.
pub struct SublinkDriver {
    pub parent: String,
    pub link: Sublink,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// Internal networks give containers no default route.
    pub default_route: bool,
    /// Part of the temporary host-side link names (the network's short id).
    pub tag: String,
}

impl SublinkDriver {
    /// The link's name while it is in the host's namespace (15 bytes at most).
    fn temp_name(&self, container_id: &str) -> String {
        let alnum = |s: &str, n: usize| -> String {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(n)
                .collect()
        };
        format!("s{}{}", alnum(container_id, 8), alnum(&self.tag, 6))
    }
}

/// The first `ethN` not present in the calling thread's network namespace.
fn free_eth() -> String {
    (0..)
        .map(|n| format!("eth{n}"))
        .find(|n| netlink::index(n).is_err())
        .expect("some ethN is free")
}

impl NetworkDriver for SublinkDriver {
    fn ensure(&self) -> Result<()> {
        netlink::index(&self.parent)
            .map(|_| ())
            .map_err(|_| no_parent(&self.parent))
    }

    fn connect(
        &self,
        container_id: &str,
        netns: &str,
        addr: Ipv4Addr,
        mac: Option<[u8; 6]>,
    ) -> Result<Endpoint> {
        let parent = netlink::index(&self.parent).map_err(|_| no_parent(&self.parent))?;
        let ns_ref = NetnsRef::at(netns)?;
        let temp = self.temp_name(container_id);
        let mut nl = Netlink::open()?;
        nl.create_sublink(&temp, parent, self.link)?;
        let moved = (|| {
            let idx = netlink::index(&temp)?;
            let ns =
                std::fs::File::open(netns).map_err(crate::error::io(format!("open {netns}")))?;
            nl.set_link(
                idx,
                false,
                None,
                None,
                Some(&std::os::fd::OwnedFd::from(ns)),
            )
        })();
        if let Err(e) = moved {
            if let Ok(idx) = netlink::index(&temp) {
                let _ = nl.delete_link(idx);
            }
            return Err(e);
        }
        let (prefix, gateway, route) = (self.subnet.prefix, self.gateway, self.default_route);
        let by_device = crate::ipvlan::routes_by_device(self.link);
        let set_mac = matches!(self.link, Sublink::Macvlan { .. })
            .then_some(mac)
            .flatten();
        let (interface, mac) = netlink::in_netns(Path::new(netns), move |nl| {
            let idx = netlink::index(&temp)?;
            let inside = (|| {
                let name = free_eth();
                nl.set_link(idx, false, None, Some(&name), None)?;
                if let Some(m) = set_mac {
                    nl.set_address(idx, m)?;
                }
                nl.add_address(idx, addr, prefix)?;
                nl.set_link(idx, true, None, None, None)?;
                nl.set_link(netlink::index("lo")?, true, None, None, None)?;
                if route {
                    let made = if by_device {
                        nl.add_default_device_route(idx)
                    } else {
                        nl.add_default_route(idx, gateway)
                    };
                    match made {
                        Err(Error::Command { stderr, .. }) if stderr.contains("EEXIST") => {}
                        other => other?,
                    }
                }
                Ok((name, nl.mac(idx)?))
            })();
            if inside.is_err() {
                let _ = nl.delete_link(idx);
            }
            inside
        })?;
        Ok(Endpoint {
            interface,
            host_interface: String::new(),
            address: addr,
            prefix,
            gateway,
            mac,
            netns: Some(ns_ref),
        })
    }

    fn disconnect(&self, _container_id: &str) -> Result<()> {
        // Without the endpoint there is nothing to find: the link is only in the container.
        Ok(())
    }

    fn disconnect_endpoint(&self, _container_id: &str, endpoint: &Endpoint) -> Result<()> {
        let Some(ns) = endpoint.netns.as_ref().filter(|n| n.alive()) else {
            // The namespace went with the container, and the link with it.
            return Ok(());
        };
        let name = endpoint.interface.clone();
        netlink::in_netns(Path::new(&ns.path), move |nl| match netlink::index(&name) {
            Ok(idx) => nl.delete_link(idx),
            Err(_) => Ok(()),
        })
    }

    fn remove(&self) -> Result<()> {
        Ok(())
    }
}

/// A macvlan or ipvlan network: its driver and its address leases.
pub struct SublinkNetwork {
    driver: SublinkDriver,
    ipam: Addresses,
}

impl SublinkNetwork {
    /// Open the network over an existing parent, its addresses from `ipam` (the daemon's
    /// leases or a remote IPAM plugin's pool).
    pub fn open(driver: SublinkDriver, ipam: Addresses) -> Result<Self> {
        driver.ensure()?;
        Ok(SublinkNetwork { driver, ipam })
    }
}

impl UserNetwork for SublinkNetwork {
    fn attach(
        &self,
        container_id: &str,
        netns: &str,
        _ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment> {
        // As with dockerd, published ports mean nothing here: the container is on the
        // parent's segment with an address of its own.
        let addr = self.ipam.allocate(container_id, want)?;
        match self.driver.connect(container_id, netns, addr, mac) {
            Ok(endpoint) => Ok(Attachment {
                endpoint,
                ports: Vec::new(),
                ipv6: None,
                dns: Vec::new(),
            }),
            Err(e) => {
                let _ = self.ipam.release(container_id, addr);
                Err(e)
            }
        }
    }

    fn detach(&self, container_id: &str, att: &Attachment) -> Result<()> {
        let link = self.driver.disconnect_endpoint(container_id, &att.endpoint);
        let lease = self.ipam.release(container_id, att.endpoint.address);
        link.and(lease)
    }

    fn restore(&self, _container_id: &str, _att: &Attachment) -> Result<()> {
        Ok(())
    }

    fn remove(&self) -> Result<()> {
        self.driver.remove()
    }

    fn destroy(&self) -> Result<()> {
        self.ipam.destroy()
    }
}
