//! A CNI network behind the registry: `docker network create -d cni -o
//! config=PATH NAME`, or a conflist found in the daemon's CNI directory at
//! start. Attach runs ADD through the list (the interface is the first free
//! `ethN` of the container; published ports go to plugins declaring the
//! `portMappings` capability, so portmap makes the rules), detach runs DEL
//! with the cached ADD, a restart runs CHECK for the containers still
//! attached and DEL for ADDs a crash cut short.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::cni::{port_mappings, ConfList, Invocation, Runner};
use crate::error::{Error, Result};
use crate::{netlink, Attachment, Endpoint, NetnsRef, PortMapping, UserNetwork};

/// Where CNI things are.
#[derive(Debug, Clone)]
pub struct CniDirs {
    /// Plugin binaries (`--cni-plugin-dir`, /usr/lib/cni).
    pub plugin_dir: std::path::PathBuf,
    /// Conflists made into networks at start (`--cni-config-dir`, /etc/berth/cni).
    pub config_dir: std::path::PathBuf,
    /// Cached ADD results.
    pub cache_dir: std::path::PathBuf,
}

/// `-o config=PATH`.
pub const OPT_CONFIG: &str = "config";

pub struct CniNetwork {
    pub list: ConfList,
    runner: Arc<Runner>,
}

/// A free host port for `-p CONTAINER` (portmap needs a number).
fn free_port(p: &PortMapping) -> Result<u16> {
    let ip = p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED.into());
    let at = SocketAddr::new(ip, 0);
    let port = if p.protocol == "udp" {
        std::net::UdpSocket::bind(at).and_then(|s| s.local_addr())
    } else {
        std::net::TcpListener::bind(at).and_then(|s| s.local_addr())
    };
    port.map(|a| a.port())
        .map_err(crate::error::io("find a free host port"))
}

impl CniNetwork {
    pub fn new(list: ConfList, runner: Arc<Runner>) -> CniNetwork {
        CniNetwork { list, runner }
    }

    /// DEL the ADDs a crash cut short (cached without a result).
    pub fn clean_interrupted(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for c in self.runner.cached(&self.list.name) {
            if c.result.is_some() {
                continue;
            }
            let inv = Invocation {
                container_id: c.container_id.clone(),
                netns: c.netns.clone(),
                ifname: c.if_name.clone(),
                capability_args: c.capability_args.clone(),
            };
            if let Err(e) = self.runner.del(&self.list, &inv) {
                problems.push(format!("CNI DEL of {}: {e}", c.container_id));
            }
        }
        problems
    }
}

impl UserNetwork for CniNetwork {
    fn attach(
        &self,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment> {
        if want.is_some() || mac.is_some() {
            return Err(Error::Unsupported(
                "a static address or MAC on a CNI network is not supported".into(),
            ));
        }
        let ns_ref = NetnsRef::at(netns)?;
        let ifname = netlink::in_netns(Path::new(netns), |_| {
            Ok((0..)
                .map(|n| format!("eth{n}"))
                .find(|n| netlink::index(n).is_err())
                .expect("a free name"))
        })?;
        let mut bound = Vec::new();
        for p in ports {
            let mut b = p.clone();
            if b.host_port == 0 {
                b.host_port = free_port(p)?;
            }
            bound.push(b);
        }
        let capability_args = if bound.is_empty() {
            json!({})
        } else {
            json!({"portMappings": port_mappings(&bound)})
        };
        let inv = Invocation {
            container_id: container_id.to_string(),
            netns: netns.to_string(),
            ifname: ifname.clone(),
            capability_args,
        };
        let r = self.runner.add(&self.list, &inv)?;
        Ok(Attachment {
            endpoint: Endpoint {
                interface: ifname,
                host_interface: String::new(),
                address: r.address,
                prefix: r.prefix,
                gateway: r.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED),
                mac: r.mac,
                netns: Some(ns_ref),
            },
            ports: bound,
            ipv6: None,
            dns: r.nameservers,
        })
    }

    fn detach(&self, container_id: &str, att: &Attachment) -> Result<()> {
        let inv = Invocation {
            container_id: container_id.to_string(),
            netns: att
                .endpoint
                .netns
                .as_ref()
                .filter(|n| n.alive())
                .map(|n| n.path.clone())
                .unwrap_or_default(),
            ifname: att.endpoint.interface.clone(),
            capability_args: if att.ports.is_empty() {
                json!({})
            } else {
                json!({"portMappings": port_mappings(&att.ports)})
            },
        };
        self.runner.del(&self.list, &inv)
    }

    fn restore(&self, container_id: &str, att: &Attachment) -> Result<()> {
        let Some(ns) = att.endpoint.netns.as_ref().filter(|n| n.alive()) else {
            return Ok(());
        };
        let inv = Invocation {
            container_id: container_id.to_string(),
            netns: ns.path.clone(),
            ifname: att.endpoint.interface.clone(),
            capability_args: if att.ports.is_empty() {
                json!({})
            } else {
                json!({"portMappings": port_mappings(&att.ports)})
            },
        };
        self.runner.check(&self.list, &inv)
    }

    fn remove(&self) -> Result<()> {
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        // Whatever a crash left cached for this network goes too.
        let mut errors = Vec::new();
        for c in self.runner.cached(&self.list.name) {
            let inv = Invocation {
                container_id: c.container_id.clone(),
                netns: String::new(),
                ifname: c.if_name.clone(),
                capability_args: c.capability_args.clone(),
            };
            if let Err(e) = self.runner.del(&self.list, &inv) {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Cleanup(errors.join("; ")))
        }
    }
}
