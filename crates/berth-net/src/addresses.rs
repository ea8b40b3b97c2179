//! Where a network's IPv4 addresses come from, whatever its driver: the
//! daemon's own allocator ([`Ipam`], leases in a file), or a remote IPAM
//! plugin (`--ipam-driver NAME`) that gave the network a pool and its gateway
//! and hands out and takes back container addresses, as dockerd asks it:
//!
//! - create: `RequestPool` (the user's `--subnet`/`--ip-range` and `--ipam-opt`s),
//!   `RequestAddress` for the gateway (`RequestAddressType: com.docker.network.gateway`);
//! - attach: `RequestAddress`; detach: `ReleaseAddress`;
//! - network removed: `ReleaseAddress` (the gateway), `ReleasePool`.
//!
//! Bridge, macvlan/ipvlan and plugin networks all hold an [`Addresses`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ipam::{Ipam, Subnet};
use crate::model::IpamPool;
use crate::remote::{RemoteError, RemoteIpam, RemotePool, RemoteResult};

/// What a network keeps across daemon restarts of its pool at a remote IPAM plugin: the pool
/// and the gateway the plugin gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteState {
    pub pool: RemotePool,
    pub gateway: Ipv4Addr,
    pub gateway_prefix: u8,
}

impl RemoteState {
    /// The pool as the network model records it (inspect shows the plugin's subnet and gateway).
    pub fn model_pool(&self, ip_range: Option<Subnet>) -> IpamPool {
        IpamPool {
            subnet: self.pool.subnet,
            ip_range,
            gateway: self.gateway,
            aux: BTreeMap::new(),
            gateway_given: true,
        }
    }
}

/// Registers an IPAM plugin when it is first needed.
pub type Connect = Arc<dyn Fn() -> RemoteResult<RemoteIpam> + Send + Sync>;

/// A pool at a remote IPAM plugin.
#[derive(Clone)]
pub struct RemoteAddresses {
    /// The registered plugin; None until first needed (a network reopened at a restart).
    ipam: Arc<Mutex<Option<Arc<RemoteIpam>>>>,
    connect: Option<Connect>,
    pub state: RemoteState,
}

impl RemoteAddresses {
    /// A pool made before (a daemon restart): the plugin is registered again at its first
    /// call, as dockerd looks it up only when it needs it, so a network and its running
    /// containers come back even while the plugin is down.
    pub fn reopen(connect: Connect, state: RemoteState) -> RemoteAddresses {
        RemoteAddresses {
            ipam: Arc::default(),
            connect: Some(connect),
            state,
        }
    }

    /// A pool at a plugin registered already.
    pub fn registered(ipam: Arc<RemoteIpam>, state: RemoteState) -> RemoteAddresses {
        RemoteAddresses {
            ipam: Arc::new(Mutex::new(Some(ipam))),
            connect: None,
            state,
        }
    }

    /// The registered plugin (registering it now if it was not).
    fn plugin(&self) -> RemoteResult<Arc<RemoteIpam>> {
        let mut slot = self.ipam.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let connect = self.connect.as_ref().ok_or_else(|| RemoteError::Plugin {
            method: "IpamDriver".into(),
            message: "the plugin is not registered".into(),
        })?;
        let p = Arc::new(connect()?);
        *slot = Some(p.clone());
        Ok(p)
    }

    /// Ask the plugin for a pool (`subnet`, `ip_range` if given; the plugin's choice else) and
    /// its gateway (`gateway` if given). The pool is released again if the gateway fails.
    pub fn request(
        ipam: Arc<RemoteIpam>,
        subnet: Option<Subnet>,
        ip_range: Option<Subnet>,
        gateway: Option<Ipv4Addr>,
        options: &BTreeMap<String, String>,
    ) -> RemoteResult<RemoteAddresses> {
        let pool = ipam.request_pool(subnet, ip_range, options)?;
        let (gw, gw_prefix) = match ipam.request_address(&pool, gateway, true, None) {
            Ok(g) => g,
            Err(e) => {
                let _ = ipam.release_pool(&pool);
                return Err(e);
            }
        };
        if gw == pool.subnet.network || gw == pool.subnet.broadcast() {
            let _ = ipam.release_address(&pool, gw);
            let _ = ipam.release_pool(&pool);
            return Err(RemoteError::Garbage {
                method: "IpamDriver.RequestAddress".into(),
                why: format!("gateway {gw} is not a host address of {}", pool.subnet),
            });
        }
        Ok(RemoteAddresses::registered(
            ipam,
            RemoteState {
                pool,
                gateway: gw,
                gateway_prefix: gw_prefix,
            },
        ))
    }

    /// Give back the gateway and the pool (every step runs).
    pub fn release_all(&self) -> RemoteResult<()> {
        let ipam = self.plugin()?;
        let gw = ipam.release_address(&self.state.pool, self.state.gateway);
        let pool = ipam.release_pool(&self.state.pool);
        gw.and(pool)
    }
}

/// Where a network's IPv4 addresses come from.
pub enum Addresses {
    /// The daemon's own allocator.
    Local(Mutex<Ipam>),
    /// A remote IPAM plugin's pool.
    Remote(RemoteAddresses),
}

impl Addresses {
    /// The daemon's allocator over `pool` (gateway, ip-range and aux addresses kept out),
    /// leases in `file`.
    pub fn local(pool: &IpamPool, file: &Path) -> Result<Addresses> {
        Ok(Addresses::Local(Mutex::new(Ipam::open_pool(
            pool.subnet,
            pool.gateway,
            pool.ip_range,
            pool.aux.values().copied().collect(),
            file,
        )?)))
    }

    fn leases(m: &Mutex<Ipam>) -> MutexGuard<'_, Ipam> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An address for `owner` (`want` if given) and its prefix length; `mac` goes to plugins
    /// that ask for it.
    pub fn request(
        &self,
        owner: &str,
        want: Option<Ipv4Addr>,
        mac: Option<&str>,
    ) -> RemoteResult<(Ipv4Addr, u8)> {
        match self {
            Addresses::Local(m) => {
                let mut ipam = Addresses::leases(m);
                let a = ipam.allocate(owner, want)?;
                Ok((a, ipam.subnet().prefix))
            }
            Addresses::Remote(r) => {
                let ipam = r.plugin()?;
                let (a, _) = ipam.request_address(&r.state.pool, want, false, mac)?;
                let pool = &r.state.pool.subnet;
                if a == pool.network || a == pool.broadcast() || a == r.state.gateway {
                    // Not ours to keep, but the plugin thinks it gave it: give it back.
                    let _ = ipam.release_address(&r.state.pool, a);
                    return Err(RemoteError::Garbage {
                        method: "IpamDriver.RequestAddress".into(),
                        why: format!("{a} is not a free host address of {pool}"),
                    });
                }
                Ok((a, pool.prefix))
            }
        }
    }

    /// [`Addresses::request`] for drivers whose errors are berth-net's own.
    pub fn allocate(&self, owner: &str, want: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        self.request(owner, want, None)
            .map(|(a, _)| a)
            .map_err(net_error)
    }

    /// Give back what `owner` holds (`addr` at a plugin).
    pub fn release(&self, owner: &str, addr: Ipv4Addr) -> Result<()> {
        match self {
            Addresses::Local(m) => Addresses::leases(m).release(owner),
            Addresses::Remote(r) => r
                .plugin()
                .and_then(|p| p.release_address(&r.state.pool, addr))
                .map_err(net_error),
        }
    }

    /// The network is gone: the lease file, or the gateway and pool at the plugin.
    pub fn destroy(&self) -> Result<()> {
        match self {
            Addresses::Local(m) => Addresses::leases(m).destroy(),
            Addresses::Remote(r) => r.release_all().map_err(net_error),
        }
    }
}

/// A remote IPAM error as berth-net's (the plugin's message kept).
pub fn net_error(e: RemoteError) -> Error {
    match e {
        RemoteError::Net(e) => e,
        other => Error::Unsupported(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::{CallError, PluginCall};
    use serde_json::{json, Value};

    /// An IPAM plugin handing out 10.5.0.0/24 from .2 on, whose answers a test may spoil.
    struct Plugin {
        calls: Mutex<Vec<(String, Value)>>,
        pool: &'static str,
        gateway: &'static str,
        address: &'static str,
    }

    impl PluginCall for Plugin {
        fn call(&self, method: &str, body: Value) -> std::result::Result<Value, CallError> {
            self.calls
                .lock()
                .unwrap()
                .push((method.to_string(), body.clone()));
            Ok(match method {
                "IpamDriver.GetDefaultAddressSpaces" => {
                    json!({"LocalDefaultAddressSpace": "l", "GlobalDefaultAddressSpace": "g"})
                }
                "IpamDriver.RequestPool" => json!({"PoolID": "p1", "Pool": self.pool}),
                "IpamDriver.RequestAddress" if body["Options"].is_object() => {
                    json!({"Address": self.gateway})
                }
                "IpamDriver.RequestAddress" => json!({"Address": self.address}),
                _ => json!({}),
            })
        }
    }

    fn plugin(pool: &'static str, gateway: &'static str, address: &'static str) -> Arc<Plugin> {
        Arc::new(Plugin {
            calls: Mutex::default(),
            pool,
            gateway,
            address,
        })
    }

    fn methods(p: &Plugin) -> Vec<String> {
        let calls = p.calls.lock().unwrap();
        calls.iter().map(|(m, _)| m.clone()).collect()
    }

    fn request(p: &Arc<Plugin>) -> RemoteResult<RemoteAddresses> {
        let call: Arc<dyn PluginCall> = p.clone();
        let ipam = Arc::new(RemoteIpam::register(call).unwrap());
        let opts = [("k".to_string(), "v".to_string())].into();
        RemoteAddresses::request(ipam, None, None, None, &opts)
    }

    #[test]
    fn a_plugin_pool_serves_containers_in_dockerds_order() {
        let p = plugin("10.5.0.0/24", "10.5.0.1/24", "10.5.0.2/24");
        let r = request(&p).unwrap();
        assert_eq!(r.state.gateway, Ipv4Addr::new(10, 5, 0, 1));
        let a = Addresses::Remote(r);
        assert_eq!(
            a.request("c1", None, None).unwrap(),
            (Ipv4Addr::new(10, 5, 0, 2), 24)
        );
        a.release("c1", Ipv4Addr::new(10, 5, 0, 2)).unwrap();
        a.destroy().unwrap();
        assert_eq!(
            methods(&p),
            [
                "IpamDriver.GetCapabilities",
                "IpamDriver.GetDefaultAddressSpaces",
                "IpamDriver.RequestPool",
                "IpamDriver.RequestAddress",
                "IpamDriver.RequestAddress",
                "IpamDriver.ReleaseAddress",
                "IpamDriver.ReleaseAddress",
                "IpamDriver.ReleasePool",
            ]
        );
        let calls = p.calls.lock().unwrap();
        assert_eq!(calls[2].1["Options"], json!({"k": "v"}), "--ipam-opt");
        assert_eq!(
            calls[3].1["Options"],
            json!({"RequestAddressType": "com.docker.network.gateway"})
        );
        assert_eq!(calls[6].1["Address"], "10.5.0.1", "the gateway goes last");
    }

    #[test]
    fn garbage_answers_are_refused_and_undone() {
        // A pool that is no CIDR: nothing was taken.
        let p = plugin("10.5.0.0/33", "10.5.0.1/24", "10.5.0.2/24");
        let e = request(&p).err().expect("refused").to_string();
        assert!(
            e.contains("IpamDriver.RequestPool") && e.contains("10.5.0.0/33"),
            "{e}"
        );
        // A gateway outside the pool: the pool goes back.
        let p = plugin("10.5.0.0/24", "10.6.0.1/24", "10.5.0.2/24");
        let e = request(&p).err().expect("refused").to_string();
        assert!(e.contains("10.6.0.1"), "{e}");
        assert_eq!(methods(&p).last().unwrap(), "IpamDriver.ReleasePool");
        // The pool's broadcast address as gateway: both go back.
        let p = plugin("10.5.0.0/24", "10.5.0.255/24", "10.5.0.2/24");
        assert!(request(&p).is_err());
        assert_eq!(
            methods(&p)[4..],
            ["IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool"]
        );
        // A container address outside the pool, or the gateway's: refused.
        for bad in ["10.9.0.2/24", "10.5.0.1/24", "nonsense"] {
            let p = plugin("10.5.0.0/24", "10.5.0.1/24", Box::leak(bad.into()));
            let a = Addresses::Remote(request(&p).unwrap());
            let e = a.allocate("c1", None).unwrap_err().to_string();
            assert!(e.contains("IpamDriver.RequestAddress"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_reopened_pool_registers_its_plugin_when_first_needed() {
        let p = plugin("10.5.0.0/24", "10.5.0.1/24", "10.5.0.2/24");
        let state = request(&p).unwrap().state;
        let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p2, up2) = (p.clone(), up.clone());
        let connect: Connect = Arc::new(move || {
            if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(RemoteError::Plugin {
                    method: "IpamDriver tipam".into(),
                    message: "connection refused".into(),
                });
            }
            let call: Arc<dyn PluginCall> = p2.clone();
            RemoteIpam::register(call)
        });
        let before = methods(&p).len();
        // Reopened with the plugin down: nothing is called yet, a request says why it fails.
        let a = Addresses::Remote(RemoteAddresses::reopen(connect, state));
        assert_eq!(methods(&p).len(), before);
        let e = a.allocate("c1", None).unwrap_err().to_string();
        assert!(e.contains("connection refused"), "{e}");
        // The plugin is back: registered once, then used.
        up.store(true, std::sync::atomic::Ordering::SeqCst);
        a.release("c0", Ipv4Addr::new(10, 5, 0, 9)).unwrap();
        a.destroy().unwrap();
        assert_eq!(
            methods(&p)[before..],
            [
                "IpamDriver.GetCapabilities",
                "IpamDriver.GetDefaultAddressSpaces",
                "IpamDriver.ReleaseAddress",
                "IpamDriver.ReleaseAddress",
                "IpamDriver.ReleasePool",
            ]
        );
    }

    #[test]
    fn local_addresses_keep_their_leases() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n.ipam.json");
        let pool = IpamPool {
            subnet: "10.7.0.0/29".parse().unwrap(),
            ip_range: None,
            gateway: Ipv4Addr::new(10, 7, 0, 6),
            aux: [("x".to_string(), Ipv4Addr::new(10, 7, 0, 1))].into(),
            gateway_given: true,
        };
        let a = Addresses::local(&pool, &file).unwrap();
        assert_eq!(
            a.request("c1", None, None).unwrap(),
            (Ipv4Addr::new(10, 7, 0, 2), 29)
        );
        let again = Addresses::local(&pool, &file).unwrap();
        assert_eq!(
            again.allocate("c2", None).unwrap(),
            Ipv4Addr::new(10, 7, 0, 3)
        );
        again.release("c2", Ipv4Addr::new(10, 7, 0, 3)).unwrap();
        again.destroy().unwrap();
        assert!(!file.exists());
    }
}
