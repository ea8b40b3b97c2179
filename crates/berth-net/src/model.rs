//! The network model: what a network is (name, driver, IPAM pools, options,
//! labels, flags), how a create request becomes one (validation, a subnet
//! from the default pools when none is given, overlaps refused), and the
//! store it persists in. No HTTP types: berthd's API translates.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ipam::Subnet;
use crate::ipam6::Subnet6;
use std::net::Ipv6Addr;

/// The networks every daemon has.
pub const PREDEFINED: [(&str, &str); 3] =
    [("bridge", "bridge"), ("host", "host"), ("none", "null")];

/// One IPv4 pool of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamPool {
    pub subnet: Subnet,
    /// Automatic addresses come from here (`--ip-range`).
    #[serde(default)]
    pub ip_range: Option<Subnet>,
    pub gateway: Ipv4Addr,
    /// Addresses kept out of allocation (`--aux-address name=addr`).
    #[serde(default)]
    pub aux: BTreeMap<String, Ipv4Addr>,
    /// Whether the user gave the gateway (inspect shows only what was given or derived for user networks).
    #[serde(default)]
    pub gateway_given: bool,
}

/// The IPv6 pool of a dual-stack network (`--ipv6`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamPool6 {
    pub subnet: Subnet6,
    /// Automatic addresses come from here (`--ip-range`).
    #[serde(default)]
    pub ip_range: Option<Subnet6>,
    pub gateway: Ipv6Addr,
    /// Whether the user gave the gateway.
    #[serde(default)]
    pub gateway_given: bool,
}

/// A network as it persists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// Always `local` for now.
    pub scope: String,
    /// RFC 3339.
    pub created: String,
    pub ipam_driver: String,
    /// As given (None when the request had none, which inspect shows as null).
    #[serde(default)]
    pub ipam_options: Option<BTreeMap<String, String>>,
    pub pools: Vec<IpamPool>,
    /// The IPv6 pool of a network with `enable_ipv6` (at most one).
    #[serde(default)]
    pub pools6: Vec<IpamPool6>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub enable_ipv6: bool,
    /// The Linux bridge behind a bridge network (empty for host and none).
    #[serde(default)]
    pub bridge: String,
    /// `bridge`, `host` and `none`: listed, never removed.
    #[serde(default)]
    pub predefined: bool,
    /// macvlan and ipvlan: berthd made the parent link (an 802.1q sub-interface or a dummy),
    /// so the last network on it removes it.
    #[serde(default)]
    pub parent_made: bool,
}

impl NetworkConfig {
    /// Docker's `type` filter: `builtin` or `custom`.
    pub fn kind(&self) -> &'static str {
        if self.predefined {
            "builtin"
        } else {
            "custom"
        }
    }
}

/// A pool as asked for: every field optional.
#[derive(Debug, Clone, Default)]
pub struct PoolRequest {
    pub subnet: Option<String>,
    pub ip_range: Option<String>,
    pub gateway: Option<String>,
    pub aux: BTreeMap<String, String>,
}

/// `docker network create`, translated.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub ipam_driver: String,
    pub ipam_options: Option<BTreeMap<String, String>>,
    pub pools: Vec<PoolRequest>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// Why a network cannot be made, found or removed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    NameTaken(String),
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("Pool overlaps with other one on this address space")]
    Overlap,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoPool,
    #[error("network state store: {0}")]
    Store(String),
}

/// Where networks persist (berthd keeps them in its SQLite database).
pub trait NetworkStore: Send + Sync {
    fn load(&self) -> Result<Vec<NetworkConfig>, ModelError>;
    fn save(&self, n: &NetworkConfig) -> Result<(), ModelError>;
    fn delete(&self, id: &str) -> Result<(), ModelError>;
}

/// A store in memory (tests, and daemons that keep nothing).
#[derive(Default)]
pub struct MemoryStore(std::sync::Mutex<BTreeMap<String, NetworkConfig>>);

impl NetworkStore for MemoryStore {
    fn load(&self) -> Result<Vec<NetworkConfig>, ModelError> {
        Ok(self.0.lock().expect("store").values().cloned().collect())
    }
    fn save(&self, n: &NetworkConfig) -> Result<(), ModelError> {
        self.0
            .lock()
            .expect("store")
            .insert(n.id.clone(), n.clone());
        Ok(())
    }
    fn delete(&self, id: &str) -> Result<(), ModelError> {
        self.0.lock().expect("store").remove(id);
        Ok(())
    }
}

/// A network name as Docker accepts them: anything printable (spaces too;
/// the Linux bridge is named after the id, not the name).
pub fn valid_name(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= 255 && !name.chars().any(char::is_control)
}

/// The default pools, in Docker's order: 172.17-31.0.0/16, then 192.168.0-240.0/20.
/// One `default-address-pools` entry: `base` cut into subnets of `size` bits, taken in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressPool {
    pub base: Subnet,
    pub size: u8,
}

impl AddressPool {
    /// `base=10.10.0.0/16,size=24` (dockerd's `--default-address-pool` form).
    pub fn parse(s: &str) -> Result<AddressPool, ModelError> {
        let (mut base, mut size) = (None, None);
        for kv in s.split(',') {
            match kv.split_once('=') {
                Some(("base", v)) => base = Some(parse_subnet("default address pool base", v)?),
                Some(("size", v)) => {
                    size = Some(v.parse::<u8>().map_err(|_| {
                        ModelError::Invalid(format!("invalid default address pool size {v:?}"))
                    })?)
                }
                _ => {
                    return Err(ModelError::Invalid(format!(
                        "invalid default address pool {s:?}: want base=CIDR,size=N"
                    )))
                }
            }
        }
        let (Some(base), Some(size)) = (base, size) else {
            return Err(ModelError::Invalid(format!(
                "invalid default address pool {s:?}: want base=CIDR,size=N"
            )));
        };
        if size < base.prefix || size > 30 {
            return Err(ModelError::Invalid(format!(
                "invalid default address pool {s:?}: size {size} must be between {} and 30",
                base.prefix
            )));
        }
        Ok(AddressPool { base, size })
    }

    /// Its subnets, in order (at most 65536 of them are looked at).
    pub fn subnets(&self) -> impl Iterator<Item = Subnet> {
        let start = u32::from(self.base.network);
        let step = 1u64 << (32 - u32::from(self.size));
        let count = 1u64 << (u32::from(self.size) - u32::from(self.base.prefix)).min(16);
        let size = self.size;
        (0..count).map(move |i| Subnet {
            network: Ipv4Addr::from((u64::from(start) + i * step) as u32),
            prefix: size,
        })
    }
}

/// Where networks without a subnet take theirs: the configured pools, else Docker's defaults.
pub fn candidate_pools(pools: &[AddressPool]) -> Box<dyn Iterator<Item = Subnet> + '_> {
    if pools.is_empty() {
        Box::new(default_pools())
    } else {
        Box::new(pools.iter().flat_map(AddressPool::subnets))
    }
}

pub fn default_pools() -> impl Iterator<Item = Subnet> {
    (17..=31)
        .map(|b| Subnet {
            network: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .chain((0..16).map(|i| Subnet {
            network: Ipv4Addr::new(192, 168, i * 16, 0),
            prefix: 20,
        }))
}

fn parse_v4(what: &str, s: &str) -> Result<Ipv4Addr, ModelError> {
    if s.contains(':') {
        return Err(ModelError::Unsupported(format!(
            "IPv6 {what} {s}: IPv6 networks are not supported yet"
        )));
    }
    s.parse()
        .map_err(|_| ModelError::Invalid(format!("invalid {what} address {s:?}")))
}

fn parse_subnet(what: &str, s: &str) -> Result<Subnet, ModelError> {
    if s.contains(':') {
        return Err(ModelError::Unsupported(format!(
            "IPv6 {what} {s}: IPv6 networks are not supported yet"
        )));
    }
    s.parse()
        .map_err(|e: crate::Error| ModelError::Invalid(format!("invalid {what}: {e}")))
}

/// Turn the requested pool (if any) into a checked one. `taken` are the
/// subnets of the other networks and the host's routes; `used` only the
/// other networks' (an explicit subnet may overlap a host route, as in Docker).
pub fn plan_pool(
    req: Option<&PoolRequest>,
    networks: &[Subnet],
    host_routes: &[Subnet],
    pools: &[AddressPool],
) -> Result<IpamPool, ModelError> {
    let empty = PoolRequest::default();
    let req = req.unwrap_or(&empty);
    let subnet = match &req.subnet {
        Some(s) if !s.is_empty() => {
            let subnet = parse_subnet("subnet", s)?;
            if networks.iter().any(|n| n.overlaps(&subnet)) {
                return Err(ModelError::Overlap);
            }
            subnet
        }
        _ => {
            if req.ip_range.as_deref().is_some_and(|r| !r.is_empty())
                || req.gateway.as_deref().is_some_and(|g| !g.is_empty())
            {
                return Err(ModelError::Invalid(
                    "an ip-range or gateway needs a subnet".into(),
                ));
            }
            candidate_pools(pools)
                .find(|p| {
                    !networks.iter().any(|n| n.overlaps(p))
                        && !host_routes.iter().any(|n| n.overlaps(p))
                })
                .ok_or(ModelError::NoPool)?
        }
    };
    let ip_range = match req.ip_range.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => {
            let r = parse_subnet("ip-range", r)?;
            if !(subnet.contains(r.network) && r.prefix >= subnet.prefix) {
                return Err(ModelError::Invalid(format!(
                    "ip-range {r} is not within subnet {subnet}"
                )));
            }
            Some(r)
        }
        None => None,
    };
    let (gateway, gateway_given) = match req.gateway.as_deref().filter(|g| !g.is_empty()) {
        Some(g) => {
            let g = parse_v4("gateway", g)?;
            if !subnet.contains(g) || g == subnet.network || g == subnet.broadcast() {
                return Err(ModelError::Invalid(format!(
                    "gateway {g} is not a host address of subnet {subnet}"
                )));
            }
            (g, true)
        }
        None => (subnet.gateway(), false),
    };
    let mut aux = BTreeMap::new();
    for (name, a) in &req.aux {
        let addr = parse_v4("auxiliary", a)?;
        if !subnet.contains(addr) {
            return Err(ModelError::Invalid(format!(
                "auxiliary address {name}={addr} is not within subnet {subnet}"
            )));
        }
        aux.insert(name.clone(), addr);
    }
    Ok(IpamPool {
        subnet,
        ip_range,
        gateway,
        aux,
        gateway_given,
    })
}

/// `-o com.docker.network.bridge.enable_icc=false`: no traffic between the network's containers.
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
/// `-o com.docker.network.driver.mtu=N`: the MTU of the containers' interfaces.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// The bridge driver options berthd acts on; others with a meaning it lacks are refused
/// rather than ignored (unknown keys pass, as with dockerd).
fn check_options(options: &BTreeMap<String, String>) -> Result<(), ModelError> {
    let bool_opt = |k: &str, v: &str| -> Result<bool, ModelError> {
        match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(ModelError::Invalid(format!("invalid value {v:?} for {k}"))),
        }
    };
    for (k, v) in options {
        match k.as_str() {
            OPT_ICC => {
                bool_opt(k, v)?;
            }
            OPT_MTU => match v.parse::<u32>() {
                Ok(m) if (68..=65535).contains(&m) => {}
                _ => return Err(ModelError::Invalid(format!("invalid MTU {v:?}: 68-65535"))),
            },
            "com.docker.network.bridge.enable_ip_masquerade" if !bool_opt(k, v)? => {
                return Err(ModelError::Unsupported(format!(
                    "{k}=false is not supported yet"
                )));
            }
            "com.docker.network.bridge.host_binding_ipv4" if v != "0.0.0.0" => {
                return Err(ModelError::Unsupported(format!("{k} is not supported yet")));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check the parts of a create request that do not depend on other networks.
pub fn check_request(req: &CreateRequest) -> Result<(), ModelError> {
    check_request_with(req, false)
}

/// The network drivers berthd has itself.
pub fn builtin_driver(driver: &str) -> bool {
    matches!(driver, "" | "bridge" | "macvlan" | "ipvlan" | "cni")
}

/// [`check_request`], where `plugins` says whether drivers other than the built-in ones may be
/// plugins (then a plugin driver may take a plugin IPAM driver).
pub fn check_request_with(req: &CreateRequest, plugins: bool) -> Result<(), ModelError> {
    if !valid_name(&req.name) {
        return Err(ModelError::Invalid(format!(
            "invalid network name {:?}: it must be printable and not empty",
            req.name
        )));
    }
    match req.driver.as_str() {
        "" | "bridge" => check_options(&req.options)?,
        "macvlan" => {
            crate::macvlan::link(&req.options)?;
        }
        "ipvlan" => {
            crate::ipvlan::link(&req.options)?;
        }
        "cni" => {}
        _ if plugins => {}
        other => {
            return Err(ModelError::Unsupported(format!(
            "plugin {other:?} not found: berthd has the bridge, macvlan, ipvlan and cni network drivers"
        )))
        }
    }
    if !matches!(req.ipam_driver.as_str(), "" | "default") {
        let ipam = &req.ipam_driver;
        if !plugins {
            return Err(ModelError::Unsupported(format!(
                "IPAM driver {ipam:?} not found: berthd has the default one only"
            )));
        }
        if req.driver == "cni" {
            return Err(ModelError::Unsupported(format!(
                "IPAM driver {ipam:?}: a CNI network's addresses come from the IPAM plugin of its conflist"
            )));
        }
        if builtin_driver(&req.driver) {
            if req.enable_ipv6 || !split_pools(&req.pools).1.is_empty() {
                return Err(ModelError::Unsupported(format!(
                    "IPv6 pools from IPAM driver {ipam:?} are not supported yet"
                )));
            }
            if req.pools.iter().any(|p| !p.aux.is_empty()) {
                return Err(ModelError::Unsupported(format!(
                    "auxiliary addresses with IPAM driver {ipam:?} are not supported yet"
                )));
            }
        }
    }
    check_options(&req.options)?;
    let (v4, v6) = split_pools(&req.pools);
    if v4.len() > 1 || v6.len() > 1 {
        return Err(ModelError::Unsupported(
            "one IPv4 and one IPv6 pool per network are supported for now".into(),
        ));
    }
    Ok(())
}

/// The requested pools by family: those whose subnet is IPv6, and the rest.
pub fn split_pools(pools: &[PoolRequest]) -> (Vec<&PoolRequest>, Vec<&PoolRequest>) {
    pools
        .iter()
        .partition(|p| !p.subnet.as_deref().is_some_and(|s| s.contains(':')))
}

/// The IPv6 pool of a network with IPv6 enabled: the requested subnet (which may
/// overlap no other network's), or a random unique local /64.
pub fn plan_pool6(
    req: Option<&PoolRequest>,
    networks: &[Subnet6],
) -> Result<IpamPool6, ModelError> {
    let subnet = match req.and_then(|r| r.subnet.as_deref()) {
        Some(s) => s
            .parse::<Subnet6>()
            .map_err(|e| ModelError::Invalid(format!("invalid subnet: {e}")))?,
        None => loop {
            let s = Subnet6::random_ula();
            if !networks.iter().any(|n| n.overlaps(&s)) {
                break s;
            }
        },
    };
    if networks.iter().any(|n| n.overlaps(&subnet)) {
        return Err(ModelError::Overlap);
    }
    if req.is_some_and(|r| !r.aux.is_empty()) {
        return Err(ModelError::Unsupported(
            "auxiliary addresses of IPv6 pools are not supported yet".into(),
        ));
    }
    let ip_range = match req
        .and_then(|r| r.ip_range.as_deref())
        .filter(|r| !r.is_empty())
    {
        Some(r) => {
            let r: Subnet6 = r
                .parse()
                .map_err(|e| ModelError::Invalid(format!("invalid ip-range: {e}")))?;
            if !(subnet.contains(r.network) && r.prefix >= subnet.prefix) {
                return Err(ModelError::Invalid(format!(
                    "ip-range {r} is not within subnet {subnet}"
                )));
            }
            Some(r)
        }
        None => None,
    };
    let (gateway, gateway_given) = match req
        .and_then(|r| r.gateway.as_deref())
        .filter(|g| !g.is_empty())
    {
        Some(g) => {
            let g: Ipv6Addr = g
                .parse()
                .map_err(|_| ModelError::Invalid(format!("invalid gateway address {g:?}")))?;
            if !subnet.contains(g) || g == subnet.network {
                return Err(ModelError::Invalid(format!(
                    "gateway {g} is not a host address of subnet {subnet}"
                )));
            }
            (g, true)
        }
        None => (subnet.gateway(), false),
    };
    Ok(IpamPool6 {
        subnet,
        ip_range,
        gateway,
        gateway_given,
    })
}

/// 64 random hex digits.
pub fn new_id() -> String {
    let mut b = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The Linux bridge of a user network: `br-` and the first 12 digits of its id, as Docker names them.
pub fn bridge_name(id: &str) -> String {
    format!("br-{}", &id[..12.min(id.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(subnet: &str) -> PoolRequest {
        PoolRequest {
            subnet: Some(subnet.into()),
            ..Default::default()
        }
    }

    #[test]
    fn pools_come_in_dockers_order_and_skip_what_is_taken() {
        let taken: Vec<Subnet> = vec!["172.17.0.0/16".parse().unwrap()];
        let routes: Vec<Subnet> = vec!["172.18.5.0/24".parse().unwrap()];
        let p = plan_pool(None, &taken, &routes, &[]).unwrap();
        assert_eq!(p.subnet.to_string(), "172.19.0.0/16");
        assert_eq!(p.gateway, Ipv4Addr::new(172, 19, 0, 1));
        let all: Vec<Subnet> = (17..=31)
            .map(|b| format!("172.{b}.0.0/16").parse().unwrap())
            .collect();
        let p = plan_pool(None, &all, &[], &[]).unwrap();
        assert_eq!(p.subnet.to_string(), "192.168.0.0/20");
        assert_eq!(default_pools().count(), 31);
    }

    #[test]
    fn explicit_pools_are_checked() {
        let taken: Vec<Subnet> = vec!["10.1.0.0/16".parse().unwrap()];
        assert!(matches!(
            plan_pool(Some(&req("10.1.2.0/24")), &taken, &[], &[]),
            Err(ModelError::Overlap)
        ));
        assert_eq!(
            ModelError::Overlap.to_string(),
            "Pool overlaps with other one on this address space"
        );
        let mut r = req("10.2.0.0/24");
        r.gateway = Some("10.2.0.254".into());
        r.ip_range = Some("10.2.0.128/25".into());
        r.aux.insert("printer".into(), "10.2.0.5".into());
        let p = plan_pool(Some(&r), &taken, &[], &[]).unwrap();
        assert_eq!(p.gateway, Ipv4Addr::new(10, 2, 0, 254));
        assert!(p.gateway_given);
        assert_eq!(p.ip_range.unwrap().to_string(), "10.2.0.128/25");
        r.gateway = Some("10.3.0.1".into());
        assert!(plan_pool(Some(&r), &taken, &[], &[]).is_err());
        let mut r = req("10.2.0.0/24");
        r.ip_range = Some("10.2.1.0/25".into());
        assert!(plan_pool(Some(&r), &taken, &[], &[]).is_err());
        assert!(matches!(
            plan_pool(Some(&req("fd00::/64")), &taken, &[], &[]),
            Err(ModelError::Unsupported(_))
        ));
    }

    #[test]
    fn ipv6_pools_are_checked() {
        let mut r = req("2001:389::/64");
        r.ip_range = Some("2001:389::/96".into());
        r.gateway = Some("2001:389::ffff".into());
        let p = plan_pool6(Some(&r), &[]).unwrap();
        assert_eq!(p.gateway.to_string(), "2001:389::ffff");
        assert_eq!(p.ip_range.unwrap().to_string(), "2001:389::/96");
        assert!(matches!(
            plan_pool6(Some(&req("2001:389:0:0:1::/80")), &[p.subnet]),
            Err(ModelError::Overlap)
        ));
        r.ip_range = Some("2001:38a::/96".into());
        assert!(plan_pool6(Some(&r), &[]).is_err());
        let auto = plan_pool6(None, &[]).unwrap();
        assert_eq!(
            (auto.subnet.prefix, auto.gateway),
            (64, auto.subnet.gateway())
        );
        // Split by family; an IPv6 pool without EnableIPv6 is accepted (kept, unused), as dockerd.
        let c = CreateRequest {
            name: "n".into(),
            pools: vec![req("10.0.0.0/24"), req("fd00::/64")],
            ..Default::default()
        };
        assert!(check_request(&c).is_ok());
        let (v4, v6) = split_pools(&c.pools);
        assert_eq!((v4.len(), v6.len()), (1, 1));
    }

    #[test]
    fn names_and_drivers() {
        assert!(valid_name("my_net-1.x") && valid_name("test 01"));
        assert!(!valid_name("") && !valid_name(" ") && !valid_name("a\nb"));
        let mut r = CreateRequest {
            name: "n".into(),
            ..Default::default()
        };
        assert!(check_request(&r).is_ok());
        r.driver = "overlay".into();
        assert!(matches!(check_request(&r), Err(ModelError::Unsupported(_))));
        r.driver = "bridge".into();
        for (k, v, ok) in [
            (OPT_ICC, "false", true),
            (OPT_ICC, "maybe", false),
            (OPT_MTU, "1400", true),
            (OPT_MTU, "10", false),
            (
                "com.docker.network.bridge.enable_ip_masquerade",
                "false",
                false,
            ),
            ("com.example.anything", "x", true),
        ] {
            r.options = [(k.to_string(), v.to_string())].into_iter().collect();
            assert_eq!(check_request(&r).is_ok(), ok, "{k}={v}");
        }
        assert_eq!(bridge_name(&new_id()).len(), 15);
    }
}
