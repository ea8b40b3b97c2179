//! Docker's remote network and IPAM plugins, the daemon's side of the wire:
//! the calls dockerd makes (`NetworkDriver.*`, `IpamDriver.*`), with the
//! fields it really sends and the checks it makes of the answers (network
//! answers carry errors in `Err`, IPAM answers in `Error`; a 404 is "not
//! implemented" for the optional calls; addresses come back in CIDR form,
//! Join's gateway bare). How a call reaches the plugin (discovery,
//! activation, HTTP over a unix socket) is the [`PluginCall`] behind it; the
//! network that uses both is [`crate::remote_net`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::ipam::Subnet;
use crate::PortMapping;

/// One call to a plugin: `POST /<method>` with `body` (`Value::Null`: no body); the answer.
pub trait PluginCall: Send + Sync {
    fn call(&self, method: &str, body: Value) -> Result<Value, CallError>;
}

/// Why a call got no answer to use.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// HTTP 404: the plugin does not implement the method.
    #[error("not implemented")]
    NotImplemented,
    /// The plugin is down, or answered with another error status (its message).
    #[error("{0}")]
    Failed(String),
}

/// Errors of remote drivers.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote plugin {method}: {message}")]
    Plugin { method: String, message: String },
    #[error("remote plugin {method}: invalid answer: {why}")]
    Garbage { method: String, why: String },
    #[error(transparent)]
    Net(#[from] crate::Error),
}

pub type RemoteResult<T> = std::result::Result<T, RemoteError>;

/// Which field a subsystem's answers carry errors in.
#[derive(Clone, Copy)]
enum ErrField {
    /// `NetworkDriver`: `Err`.
    Err,
    /// `IpamDriver`: `Error`.
    Error,
}

/// The plugin's answer to `method`, checked: a JSON object whose error field is empty.
fn check(method: &str, v: Value, field: ErrField) -> RemoteResult<Value> {
    if !v.is_object() {
        return Err(garbage(method, "not a JSON object"));
    }
    let key = match field {
        ErrField::Err => "Err",
        ErrField::Error => "Error",
    };
    match v.get(key) {
        Some(Value::String(m)) if !m.is_empty() => Err(RemoteError::Plugin {
            method: method.to_string(),
            message: m.clone(),
        }),
        _ => Ok(v),
    }
}

fn failed(method: &str, e: CallError) -> RemoteError {
    RemoteError::Plugin {
        method: method.to_string(),
        message: e.to_string(),
    }
}

/// Call `method`; an error field that is not empty is the plugin's error.
fn call(
    plugin: &dyn PluginCall,
    method: &str,
    body: Value,
    field: ErrField,
) -> RemoteResult<Value> {
    let v = plugin.call(method, body).map_err(|e| failed(method, e))?;
    check(method, v, field)
}

/// An optional call: 404 (not implemented) is `None`.
fn optional(
    plugin: &dyn PluginCall,
    method: &str,
    body: Value,
    field: ErrField,
) -> RemoteResult<Option<Value>> {
    match plugin.call(method, body) {
        Err(CallError::NotImplemented) => Ok(None),
        Err(e) => Err(failed(method, e)),
        Ok(v) => check(method, v, field).map(Some),
    }
}

fn garbage(method: &str, why: impl Into<String>) -> RemoteError {
    RemoteError::Garbage {
        method: method.to_string(),
        why: why.into(),
    }
}

fn str_field<'a>(v: &'a Value, method: &str, key: &str) -> RemoteResult<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| garbage(method, format!("no string {key:?}")))
}

/// `a.b.c.d/len` as plugins answer addresses.
fn cidr(method: &str, s: &str) -> RemoteResult<(Ipv4Addr, u8)> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| garbage(method, format!("{s:?} is not in CIDR form")))?;
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| garbage(method, format!("{s:?} is not an IPv4 address")))?;
    let prefix: u8 = p
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| garbage(method, format!("{s:?} has a bad prefix length")))?;
    Ok((addr, prefix))
}

/// A pool an IPAM plugin gave.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemotePool {
    pub id: String,
    pub subnet: Subnet,
    pub address_space: String,
}

/// A remote IPAM driver (`--ipam-driver NAME`).
pub struct RemoteIpam {
    plugin: Arc<dyn PluginCall>,
    /// `RequiresMACAddress`: the MAC goes along in RequestAddress's options.
    pub requires_mac: bool,
    /// `LocalDefaultAddressSpace`.
    pub address_space: String,
}

/// RequestAddress's option for a network's gateway.
pub const GATEWAY_REQUEST: &str = "com.docker.network.gateway";

impl RemoteIpam {
    /// Register the plugin as dockerd does after activation: GetCapabilities (optional),
    /// GetDefaultAddressSpaces.
    pub fn register(plugin: Arc<dyn PluginCall>) -> RemoteResult<RemoteIpam> {
        let caps = optional(
            plugin.as_ref(),
            "IpamDriver.GetCapabilities",
            Value::Null,
            ErrField::Error,
        )?;
        let requires_mac = caps
            .as_ref()
            .and_then(|c| c.get("RequiresMACAddress"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let m = "IpamDriver.GetDefaultAddressSpaces";
        let spaces = call(plugin.as_ref(), m, Value::Null, ErrField::Error)?;
        let address_space = str_field(&spaces, m, "LocalDefaultAddressSpace")?.to_string();
        Ok(RemoteIpam {
            plugin,
            requires_mac,
            address_space,
        })
    }

    /// `RequestPool`: the pool asked for (`None`: the plugin picks one).
    pub fn request_pool(
        &self,
        pool: Option<Subnet>,
        sub_pool: Option<Subnet>,
        options: &BTreeMap<String, String>,
    ) -> RemoteResult<RemotePool> {
        let m = "IpamDriver.RequestPool";
        if pool.is_none() && sub_pool.is_some() {
            return Err(RemoteError::Net(crate::Error::BadSubnet(
                "an ip-range needs a subnet".into(),
            )));
        }
        let v = call(
            self.plugin.as_ref(),
            m,
            json!({
                "AddressSpace": self.address_space,
                "Pool": pool.map(|p| p.to_string()).unwrap_or_default(),
                "SubPool": sub_pool.map(|p| p.to_string()).unwrap_or_default(),
                "Options": options,
                "V6": false,
            }),
            ErrField::Error,
        )?;
        let id = str_field(&v, m, "PoolID")?;
        if id.is_empty() {
            return Err(garbage(m, "empty PoolID"));
        }
        let subnet: Subnet = str_field(&v, m, "Pool")?
            .parse()
            .map_err(|e: crate::Error| garbage(m, e.to_string()))?;
        if let Some(p) = pool {
            if p != subnet {
                return Err(garbage(m, format!("asked for pool {p}, got {subnet}")));
            }
        }
        Ok(RemotePool {
            id: id.to_string(),
            subnet,
            address_space: self.address_space.clone(),
        })
    }

    /// `RequestAddress`: `want` or any address of the pool; `gateway` marks the network's gateway.
    pub fn request_address(
        &self,
        pool: &RemotePool,
        want: Option<Ipv4Addr>,
        gateway: bool,
        mac: Option<&str>,
    ) -> RemoteResult<(Ipv4Addr, u8)> {
        let m = "IpamDriver.RequestAddress";
        let options = if gateway {
            json!({"RequestAddressType": GATEWAY_REQUEST})
        } else if let Some(mac) = mac.filter(|_| self.requires_mac) {
            json!({"com.docker.network.endpoint.macaddress": mac})
        } else {
            Value::Null
        };
        let v = call(
            self.plugin.as_ref(),
            m,
            json!({
                "PoolID": pool.id,
                "Address": want.map(|a| a.to_string()).unwrap_or_default(),
                "Options": options,
            }),
            ErrField::Error,
        )?;
        let (addr, prefix) = cidr(m, str_field(&v, m, "Address")?)?;
        if !pool.subnet.contains(addr) || want.is_some_and(|w| w != addr) {
            return Err(garbage(
                m,
                format!("address {addr} is not the one asked for in {}", pool.subnet),
            ));
        }
        Ok((addr, prefix))
    }

    pub fn release_address(&self, pool: &RemotePool, addr: Ipv4Addr) -> RemoteResult<()> {
        call(
            self.plugin.as_ref(),
            "IpamDriver.ReleaseAddress",
            json!({"PoolID": pool.id, "Address": addr.to_string()}),
            ErrField::Error,
        )
        .map(|_| ())
    }

    pub fn release_pool(&self, pool: &RemotePool) -> RemoteResult<()> {
        call(
            self.plugin.as_ref(),
            "IpamDriver.ReleasePool",
            json!({"PoolID": pool.id}),
            ErrField::Error,
        )
        .map(|_| ())
    }
}

/// A static route of a Join answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    pub destination: Subnet,
    /// None: connected (RouteType 1).
    pub next_hop: Option<Ipv4Addr>,
}

/// What Join tells the daemon to do in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinInfo {
    /// The host interface the plugin made, to move into the sandbox...
    pub src_name: String,
    /// ...and rename to this prefix and the first free number.
    pub dst_prefix: String,
    pub gateway: Option<Ipv4Addr>,
    pub static_routes: Vec<StaticRoute>,
    pub disable_gateway_service: bool,
}

/// A remote network driver (`-d NAME`).
pub struct RemoteNetworkDriver {
    plugin: Arc<dyn PluginCall>,
    /// `global` drivers are swarm drivers; berthd is local only but registers both as dockerd does.
    pub scope: String,
}

/// The endpoint options of dockerd: exposed ports and port mappings (`{}` without ports).
pub fn endpoint_options(ports: &[PortMapping]) -> Value {
    if ports.is_empty() {
        return json!({});
    }
    let proto = |p: &str| if p == "udp" { 17 } else { 6 };
    let exposed: Vec<Value> = ports
        .iter()
        .map(|p| json!({"Proto": proto(&p.protocol), "Port": p.container_port}))
        .collect();
    let map: Vec<Value> = ports
        .iter()
        .map(|p| {
            json!({"Proto": proto(&p.protocol), "IP": "", "Port": p.container_port,
                   "HostIP": p.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                   "HostPort": p.host_port, "HostPortEnd": p.host_port})
        })
        .collect();
    json!({"com.docker.network.endpoint.exposedports": exposed,
           "com.docker.network.portmap": map})
}

impl RemoteNetworkDriver {
    /// Register the plugin as dockerd does: GetCapabilities, whose Scope must be local or global.
    pub fn register(plugin: Arc<dyn PluginCall>) -> RemoteResult<RemoteNetworkDriver> {
        let m = "NetworkDriver.GetCapabilities";
        let caps = call(plugin.as_ref(), m, Value::Null, ErrField::Err)?;
        let scope = str_field(&caps, m, "Scope")?.to_string();
        if scope != "local" && scope != "global" {
            return Err(garbage(
                m,
                format!("invalid capability: expecting 'local' or 'global', got {scope:?}"),
            ));
        }
        Ok(RemoteNetworkDriver { plugin, scope })
    }

    fn call(&self, method: &str, body: Value) -> RemoteResult<Value> {
        call(self.plugin.as_ref(), method, body, ErrField::Err)
    }

    /// `CreateNetwork` with the user's `-o` options as `com.docker.network.generic`.
    pub fn create_network(
        &self,
        id: &str,
        options: &BTreeMap<String, String>,
        pool: &RemotePool,
        gateway: (Ipv4Addr, u8),
        aux: &BTreeMap<String, Ipv4Addr>,
    ) -> RemoteResult<()> {
        let mut data = json!({
            "AddressSpace": pool.address_space,
            "Pool": pool.subnet.to_string(),
            "Gateway": format!("{}/{}", gateway.0, gateway.1),
        });
        if !aux.is_empty() {
            let aux: Map<String, Value> = aux
                .iter()
                .map(|(k, a)| (k.clone(), json!(a.to_string())))
                .collect();
            data["AuxAddresses"] = Value::Object(aux);
        }
        self.call(
            "NetworkDriver.CreateNetwork",
            json!({
                "NetworkID": id,
                "Options": {
                    "com.docker.network.enable_ipv6": false,
                    "com.docker.network.generic": options,
                },
                "IPv4Data": [data],
                "IPv6Data": [],
            }),
        )
        .map(|_| ())
    }

    pub fn delete_network(&self, id: &str) -> RemoteResult<()> {
        self.call("NetworkDriver.DeleteNetwork", json!({"NetworkID": id}))
            .map(|_| ())
    }

    /// `CreateEndpoint` with the address IPAM gave: the plugin must not answer another interface.
    pub fn create_endpoint(
        &self,
        network: &str,
        endpoint: &str,
        addr: (Ipv4Addr, u8),
        mac: Option<&str>,
        options: &Value,
    ) -> RemoteResult<()> {
        let m = "NetworkDriver.CreateEndpoint";
        let v = self.call(
            m,
            json!({
                "NetworkID": network,
                "EndpointID": endpoint,
                "Interface": {"Address": format!("{}/{}", addr.0, addr.1), "AddressIPv6": "",
                              "MacAddress": mac.unwrap_or("")},
                "Options": options,
            }),
        )?;
        let changed = v
            .get("Interface")
            .and_then(Value::as_object)
            .is_some_and(|i| {
                i.values()
                    .any(|x| x.as_str().is_some_and(|s| !s.is_empty()))
            });
        if changed {
            return Err(garbage(
                m,
                "the plugin answered an interface although the daemon gave one",
            ));
        }
        Ok(())
    }

    pub fn delete_endpoint(&self, network: &str, endpoint: &str) -> RemoteResult<()> {
        self.call(
            "NetworkDriver.DeleteEndpoint",
            json!({"NetworkID": network, "EndpointID": endpoint}),
        )
        .map(|_| ())
    }

    /// `Join`: what to move into the sandbox at `sandbox_key` and how to route.
    pub fn join(
        &self,
        network: &str,
        endpoint: &str,
        sandbox_key: &str,
        options: &Value,
    ) -> RemoteResult<JoinInfo> {
        let m = "NetworkDriver.Join";
        let v = self.call(
            m,
            json!({"NetworkID": network, "EndpointID": endpoint, "SandboxKey": sandbox_key,
                   "Options": options}),
        )?;
        let iface = v
            .get("InterfaceName")
            .filter(|i| i.is_object())
            .ok_or_else(|| garbage(m, "no InterfaceName"))?;
        let src_name = str_field(iface, m, "SrcName")?.to_string();
        let dst_prefix = str_field(iface, m, "DstPrefix")?.to_string();
        if src_name.is_empty() || src_name.len() > 15 || src_name.contains('/') {
            return Err(garbage(m, format!("bad SrcName {src_name:?}")));
        }
        if dst_prefix.is_empty() || dst_prefix.len() > 12 || dst_prefix.contains('/') {
            return Err(garbage(m, format!("bad DstPrefix {dst_prefix:?}")));
        }
        let gateway = match v.get("Gateway").and_then(Value::as_str).unwrap_or("") {
            "" => None,
            g => Some(
                g.parse::<Ipv4Addr>()
                    .map_err(|_| garbage(m, format!("Gateway {g:?} is not a bare IPv4 address")))?,
            ),
        };
        let mut static_routes = Vec::new();
        for r in v
            .get("StaticRoutes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let destination: Subnet = str_field(r, m, "Destination")?
                .parse()
                .map_err(|e: crate::Error| garbage(m, e.to_string()))?;
            let next_hop = match r.get("RouteType").and_then(Value::as_u64) {
                Some(1) => None,
                Some(0) | None => {
                    let hop = str_field(r, m, "NextHop")?;
                    Some(hop.parse::<Ipv4Addr>().map_err(|_| {
                        garbage(m, format!("NextHop {hop:?} is not an IPv4 address"))
                    })?)
                }
                Some(t) => return Err(garbage(m, format!("unknown RouteType {t}"))),
            };
            static_routes.push(StaticRoute {
                destination,
                next_hop,
            });
        }
        Ok(JoinInfo {
            src_name,
            dst_prefix,
            gateway,
            static_routes,
            disable_gateway_service: v
                .get("DisableGatewayService")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    pub fn leave(&self, network: &str, endpoint: &str) -> RemoteResult<()> {
        self.call(
            "NetworkDriver.Leave",
            json!({"NetworkID": network, "EndpointID": endpoint}),
        )
        .map(|_| ())
    }

    /// Optional: a plugin without it (404) is fine.
    pub fn program_external_connectivity(
        &self,
        network: &str,
        endpoint: &str,
        options: &Value,
    ) -> RemoteResult<()> {
        optional(
            self.plugin.as_ref(),
            "NetworkDriver.ProgramExternalConnectivity",
            json!({"NetworkID": network, "EndpointID": endpoint, "Options": options}),
            ErrField::Err,
        )
        .map(|_| ())
    }

    /// Optional: a plugin without it (404) is fine.
    pub fn revoke_external_connectivity(&self, network: &str, endpoint: &str) -> RemoteResult<()> {
        optional(
            self.plugin.as_ref(),
            "NetworkDriver.RevokeExternalConnectivity",
            json!({"NetworkID": network, "EndpointID": endpoint}),
            ErrField::Err,
        )
        .map(|_| ())
    }
}
