//! A network whose driver is a remote plugin (and whose addresses come from a
//! remote IPAM plugin), in the order dockerd makes the calls:
//!
//! - create: `RequestPool`, `RequestAddress` (the gateway), `CreateNetwork`;
//! - attach: `RequestAddress`, `CreateEndpoint`, `Join` (then the interface the
//!   plugin made, `SrcName`, is moved into the container's namespace, renamed
//!   `DstPrefix`+N, given the address, the gateway route and the static
//!   routes), `ProgramExternalConnectivity`;
//! - detach: `RevokeExternalConnectivity`, `Leave`, `DeleteEndpoint`, `ReleaseAddress`;
//! - remove: `ReleaseAddress` (the gateway), `ReleasePool`, `DeleteNetwork`.
//!
//! A step that fails undoes the ones before it. The kernel side of Join is a
//! [`Sandbox`] (rtnetlink, or a fake in tests).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use crate::addresses::RemoteAddresses;
use crate::error::Result;
use crate::ipam::Subnet;
use crate::netlink::{self, Netlink};
use crate::remote::{
    endpoint_options, JoinInfo, PluginCall, RemoteError, RemoteIpam, RemoteNetworkDriver,
    RemotePool, RemoteResult,
};
use crate::{Attachment, Endpoint, NetnsRef, PortMapping, UserNetwork};

/// The plugin's interface, in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    pub interface: String,
    pub mac: String,
    pub netns: NetnsRef,
}

/// Moves a plugin's interface into a container and takes it out again.
pub trait Sandbox: Send + Sync {
    /// Move `join.src_name` into the namespace at `netns`, rename it `join.dst_prefix`+N (the
    /// first free N), give it `addr/prefix`, bring it up, and add the gateway and static routes.
    fn adopt(&self, netns: &str, join: &JoinInfo, addr: Ipv4Addr, prefix: u8) -> Result<Adopted>;
    /// Delete `interface` in the namespace at `netns` (gone already is fine).
    fn release(&self, netns: &NetnsRef, interface: &str) -> Result<()>;
}

/// The sandbox of the kernel, over rtnetlink.
pub struct KernelSandbox;

impl Sandbox for KernelSandbox {
    fn adopt(&self, netns: &str, join: &JoinInfo, addr: Ipv4Addr, prefix: u8) -> Result<Adopted> {
        let ns_ref = NetnsRef::at(netns)?;
        let src = netlink::index(&join.src_name).map_err(|_| {
            crate::Error::Unsupported(format!(
                "the plugin's interface {} is not on the host",
                join.src_name
            ))
        })?;
        let ns = std::fs::File::open(netns).map_err(crate::error::io(format!("open {netns}")))?;
        Netlink::open()?.set_link(
            src,
            false,
            None,
            None,
            Some(&std::os::fd::OwnedFd::from(ns)),
        )?;
        let join = join.clone();
        let (interface, mac) = netlink::in_netns(Path::new(netns), move |nl| {
            let idx = netlink::index(&join.src_name)?;
            let done = (|| {
                let name = (0..)
                    .map(|n| format!("{}{n}", join.dst_prefix))
                    .find(|n| netlink::index(n).is_err())
                    .expect("a free name");
                nl.set_link(idx, false, None, Some(&name), None)?;
                nl.add_address(idx, addr, prefix)?;
                nl.set_link(idx, true, None, None, None)?;
                nl.set_link(netlink::index("lo")?, true, None, None, None)?;
                if let Some(g) = join.gateway {
                    nl.add_default_route(idx, g)?;
                }
                for r in &join.static_routes {
                    nl.add_route(idx, Some(r.destination), r.next_hop)?;
                }
                Ok((name, nl.mac(idx)?))
            })();
            if done.is_err() {
                let _ = nl.delete_link(idx);
            }
            done
        })?;
        Ok(Adopted {
            interface,
            mac,
            netns: ns_ref,
        })
    }

    fn release(&self, netns: &NetnsRef, interface: &str) -> Result<()> {
        if !netns.alive() {
            return Ok(());
        }
        let name = interface.to_string();
        netlink::in_netns(Path::new(&netns.path), move |nl| {
            match netlink::index(&name) {
                Ok(idx) => nl.delete_link(idx),
                Err(_) => Ok(()),
            }
        })
    }
}

pub use crate::addresses::{Addresses, RemoteState};

/// The address space dockerd's own IPAM names its local pools in.
pub const LOCAL_SPACE: &str = "LocalDefault";

/// A network of a remote driver.
pub struct RemoteNetwork {
    id: String,
    driver: RemoteNetworkDriver,
    ipam: Addresses,
    pub state: RemoteState,
    sandbox: Arc<dyn Sandbox>,
}

/// The endpoint id of a container on a remote network: its own id (64 hex, unique on the network).
fn endpoint_id(container_id: &str) -> String {
    container_id.to_string()
}

impl RemoteNetwork {
    /// Create network `id`: a pool (`subnet` if given), its gateway (`gateway` if given), then
    /// the network at the driver with the user's `options`. Undone on failure.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        id: &str,
        driver: RemoteNetworkDriver,
        ipam: RemoteIpam,
        subnet: Option<Subnet>,
        ip_range: Option<Subnet>,
        gateway: Option<Ipv4Addr>,
        ipam_options: &BTreeMap<String, String>,
        options: &BTreeMap<String, String>,
        sandbox: Arc<dyn Sandbox>,
    ) -> RemoteResult<RemoteNetwork> {
        let addresses =
            RemoteAddresses::request(Arc::new(ipam), subnet, ip_range, gateway, ipam_options)?;
        let state = addresses.state.clone();
        if let Err(e) = driver.create_network(
            id,
            options,
            &state.pool,
            (state.gateway, state.gateway_prefix),
            &BTreeMap::new(),
        ) {
            let _ = addresses.release_all();
            return Err(e);
        }
        Ok(RemoteNetwork {
            id: id.to_string(),
            driver,
            ipam: Addresses::Remote(addresses),
            state,
            sandbox,
        })
    }

    /// Create network `id` at the driver with addresses from the daemon's own IPAM (`pool`,
    /// leases in `ipam_file`); undone on failure.
    pub fn create_local(
        id: &str,
        driver: RemoteNetworkDriver,
        pool: &crate::model::IpamPool,
        ipam_file: &Path,
        options: &BTreeMap<String, String>,
        sandbox: Arc<dyn Sandbox>,
    ) -> RemoteResult<RemoteNetwork> {
        let state = RemoteState {
            pool: RemotePool {
                id: format!("{LOCAL_SPACE}/{}", pool.subnet),
                subnet: pool.subnet,
                address_space: LOCAL_SPACE.into(),
            },
            gateway: pool.gateway,
            gateway_prefix: pool.subnet.prefix,
        };
        let ipam = Addresses::local(pool, ipam_file)?;
        if let Err(e) = driver.create_network(
            id,
            options,
            &state.pool,
            (state.gateway, state.gateway_prefix),
            &pool.aux,
        ) {
            let _ = ipam.destroy();
            return Err(e);
        }
        Ok(RemoteNetwork {
            id: id.to_string(),
            driver,
            ipam,
            state,
            sandbox,
        })
    }

    /// A network made before (after a daemon restart).
    pub fn reopen(
        id: &str,
        driver: RemoteNetworkDriver,
        ipam: Addresses,
        state: RemoteState,
        sandbox: Arc<dyn Sandbox>,
    ) -> RemoteNetwork {
        RemoteNetwork {
            id: id.to_string(),
            driver,
            ipam,
            state,
            sandbox,
        }
    }

    fn attach_remote(
        &self,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        mac: Option<[u8; 6]>,
    ) -> RemoteResult<Attachment> {
        let eid = endpoint_id(container_id);
        let mac = mac.map(|m| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        });
        let (addr, prefix) = self.ipam.request(container_id, want, mac.as_deref())?;
        let options = endpoint_options(ports);
        let release = || {
            let _ = self.ipam.release(container_id, addr);
        };
        if let Err(e) =
            self.driver
                .create_endpoint(&self.id, &eid, (addr, prefix), mac.as_deref(), &options)
        {
            release();
            return Err(e);
        }
        let delete = || {
            let _ = self.driver.delete_endpoint(&self.id, &eid);
            release();
        };
        let join = match self.driver.join(&self.id, &eid, netns, &options) {
            Ok(j) => j,
            Err(e) => {
                delete();
                return Err(e);
            }
        };
        let adopted = match self.sandbox.adopt(netns, &join, addr, prefix) {
            Ok(a) => a,
            Err(e) => {
                let _ = self.driver.leave(&self.id, &eid);
                delete();
                return Err(e.into());
            }
        };
        let endpoint = Endpoint {
            interface: adopted.interface,
            host_interface: join.src_name.clone(),
            address: addr,
            prefix,
            gateway: join.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED),
            mac: adopted.mac,
            netns: Some(adopted.netns),
        };
        if let Err(e) = self
            .driver
            .program_external_connectivity(&self.id, &eid, &options)
        {
            let _ = self
                .sandbox
                .release(endpoint.netns.as_ref().expect("set"), &endpoint.interface);
            let _ = self.driver.leave(&self.id, &eid);
            delete();
            return Err(e);
        }
        Ok(Attachment {
            endpoint,
            ports: ports.to_vec(),
            ipv6: None,
            dns: Vec::new(),
        })
    }

    fn detach_remote(&self, container_id: &str, att: &Attachment) -> RemoteResult<()> {
        let eid = endpoint_id(container_id);
        let mut errors = Vec::new();
        if let Some(ns) = &att.endpoint.netns {
            if let Err(e) = self.sandbox.release(ns, &att.endpoint.interface) {
                errors.push(e.to_string());
            }
        }
        let steps: [&dyn Fn() -> RemoteResult<()>; 4] = [
            &|| self.driver.revoke_external_connectivity(&self.id, &eid),
            &|| self.driver.leave(&self.id, &eid),
            &|| self.driver.delete_endpoint(&self.id, &eid),
            &|| Ok(self.ipam.release(container_id, att.endpoint.address)?),
        ];
        for step in steps {
            if let Err(e) = step() {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(crate::Error::Cleanup(errors.join("; ")).into())
        }
    }

    fn destroy_remote(&self) -> RemoteResult<()> {
        let addresses = self.ipam.destroy().map_err(RemoteError::from);
        let net = self.driver.delete_network(&self.id);
        addresses.and(net)
    }
}

fn net_err(e: RemoteError) -> crate::Error {
    match e {
        RemoteError::Net(e) => e,
        other => crate::Error::Unsupported(other.to_string()),
    }
}

impl UserNetwork for RemoteNetwork {
    fn attach(
        &self,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment> {
        self.attach_remote(container_id, netns, ports, want, mac)
            .map_err(net_err)
    }
    fn detach(&self, container_id: &str, att: &Attachment) -> Result<()> {
        self.detach_remote(container_id, att).map_err(net_err)
    }
    fn restore(&self, _container_id: &str, _att: &Attachment) -> Result<()> {
        Ok(())
    }
    fn remove(&self) -> Result<()> {
        Ok(())
    }
    fn destroy(&self) -> Result<()> {
        self.destroy_remote().map_err(net_err)
    }
}

/// Finds Docker plugins by name (the plugin crate's discovery and activation behind it).
pub trait PluginResolver: Send + Sync {
    /// The activated plugin `name` implementing `subsystem` (`NetworkDriver`, `IpamDriver`).
    fn find(&self, name: &str, subsystem: &str)
        -> std::result::Result<Arc<dyn PluginCall>, String>;
}

/// What the registry needs for networks of plugin drivers.
#[derive(Clone)]
pub struct Plugins {
    pub resolver: Arc<dyn PluginResolver>,
    pub sandbox: Arc<dyn Sandbox>,
}

/// Whether `name` is the daemon's own IPAM.
pub fn default_ipam(name: &str) -> bool {
    matches!(name, "" | "default")
}

impl Plugins {
    fn find(&self, name: &str, subsystem: &str) -> RemoteResult<Arc<dyn PluginCall>> {
        self.resolver
            .find(name, subsystem)
            .map_err(|why| RemoteError::Plugin {
                method: format!("{subsystem} {name}"),
                message: why,
            })
    }

    /// The IPAM plugin `name`, registered (GetCapabilities, GetDefaultAddressSpaces).
    pub fn ipam(&self, name: &str) -> RemoteResult<RemoteIpam> {
        RemoteIpam::register(self.find(name, "IpamDriver")?)
    }

    /// Make network `id` of driver `driver` at the plugins. `pool` is the daemon's own pool when
    /// `ipam_driver` is the default one (else the request goes to the IPAM plugin).
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &self,
        id: &str,
        driver: &str,
        ipam_driver: &str,
        pool: PoolChoice<'_>,
        ipam_options: &BTreeMap<String, String>,
        options: &BTreeMap<String, String>,
        ipam_file: &Path,
    ) -> RemoteResult<RemoteNetwork> {
        let d = RemoteNetworkDriver::register(self.find(driver, "NetworkDriver")?)?;
        match pool {
            PoolChoice::Local(p) => {
                RemoteNetwork::create_local(id, d, p, ipam_file, options, self.sandbox.clone())
            }
            PoolChoice::Remote {
                subnet,
                ip_range,
                gateway,
            } => {
                let ipam = self.ipam(ipam_driver)?;
                RemoteNetwork::create(
                    id,
                    d,
                    ipam,
                    subnet,
                    ip_range,
                    gateway,
                    ipam_options,
                    options,
                    self.sandbox.clone(),
                )
            }
        }
    }

    /// A network made before (after a daemon restart): the plugins registered again.
    pub fn reopen(
        &self,
        id: &str,
        driver: &str,
        ipam_driver: &str,
        state: RemoteState,
        local_pool: &crate::model::IpamPool,
        ipam_file: &Path,
    ) -> RemoteResult<RemoteNetwork> {
        let d = RemoteNetworkDriver::register(self.find(driver, "NetworkDriver")?)?;
        let addresses = if default_ipam(ipam_driver) {
            Addresses::local(local_pool, ipam_file)?
        } else {
            Addresses::Remote(RemoteAddresses::registered(
                Arc::new(self.ipam(ipam_driver)?),
                state.clone(),
            ))
        };
        Ok(RemoteNetwork::reopen(
            id,
            d,
            addresses,
            state,
            self.sandbox.clone(),
        ))
    }
}

/// Where a new remote network's pool comes from.
pub enum PoolChoice<'a> {
    /// The daemon's own IPAM planned it.
    Local(&'a crate::model::IpamPool),
    /// The IPAM plugin gives it (what the user asked for, if anything).
    Remote {
        subnet: Option<Subnet>,
        ip_range: Option<Subnet>,
        gateway: Option<Ipv4Addr>,
    },
}

#[cfg(test)]
#[path = "remote_tests.rs"]
mod tests;
