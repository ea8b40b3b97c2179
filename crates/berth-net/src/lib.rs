//! berth-net: container networking for the engine.
//!
//! A [`NetworkDriver`] makes interfaces (the bridge driver: a Linux bridge and
//! a veth per container); [`ipam::Ipam`] hands out addresses and remembers
//! them across restarts; a [`firewall::Firewall`] adds NAT and published-port
//! rules; [`proxy::Proxy`] relays published ports in user space (what makes
//! `-p 127.0.0.1:8080:80` answer). [`BridgeNetwork`] ties them together for
//! one network and undoes everything it half-made when a step fails. Links
//! and addresses are made over rtnetlink ([`netlink`]); rules with iptables.
//! The registry ([`networks`]) holds every user network as a [`UserNetwork`]:
//! bridge networks, macvlan and ipvlan ones ([`sublink`], parents in [`vlan`]),
//! CNI ones ([`cni_net`] over [`cni`]) and those of Docker network plugins
//! ([`remote_net`] over [`remote`]).

pub mod addresses;
pub mod bridge;
mod cmd;
pub mod cni;
pub mod cni_net;
pub mod dns;
pub mod error;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod ipam6;
pub mod ipvlan;
pub mod macvlan;
pub mod model;
pub mod netlink;
pub mod netns;
pub mod networks;
pub mod proxy;
pub mod reaper;
pub mod remote;
pub mod remote_net;
pub mod sublink;
pub mod vlan;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
use firewall::Firewall;
use ipam::{Ipam, Subnet};
use proxy::Proxy;

/// A container's interface on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub interface: String,
    pub host_interface: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    /// The container's network namespace, for drivers whose interface lives only there
    /// (macvlan, ipvlan): removing it on disconnect needs the namespace, and the inode
    /// makes sure it is still the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<NetnsRef>,
}

/// A network namespace by path and inode (a `/proc/PID/ns/net` path names another one once
/// the process is gone and its pid reused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsRef {
    pub path: String,
    pub inode: u64,
}

impl NetnsRef {
    /// The namespace at `path` now.
    pub fn at(path: &str) -> Result<NetnsRef> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(error::io(format!("stat {path}")))?;
        Ok(NetnsRef {
            path: path.to_string(),
            inode: m.ino(),
        })
    }

    /// Whether `path` still names this namespace.
    pub fn alive(&self) -> bool {
        NetnsRef::at(&self.path).is_ok_and(|n| n.inode == self.inode)
    }
}

/// Makes and removes the interfaces of one network.
pub trait NetworkDriver: Send + Sync {
    /// Create the network's shared parts (the bridge) if missing.
    fn ensure(&self) -> Result<()>;
    /// Give the network namespace at `netns` an interface with `addr` (and `mac`, if given).
    fn connect(
        &self,
        container_id: &str,
        netns: &str,
        addr: Ipv4Addr,
        mac: Option<[u8; 6]>,
    ) -> Result<Endpoint>;
    /// Remove the container's interface (gone already is fine).
    fn disconnect(&self, container_id: &str) -> Result<()>;
    /// Remove the interface `connect` returned as `endpoint` (drivers whose interface lives in
    /// the container's namespace need it; the others remove by container id).
    fn disconnect_endpoint(&self, container_id: &str, endpoint: &Endpoint) -> Result<()> {
        let _ = endpoint;
        self.disconnect(container_id)
    }
    /// Remove the network's shared parts.
    fn remove(&self) -> Result<()>;
}

/// One published port: `[host_ip:]host_port:container_port/protocol`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// `None`: every address of the host, IPv4 and IPv6.
    pub host_ip: Option<IpAddr>,
    /// 0 asks for any free port.
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

/// Whether a port published without a host address is also served on IPv6: its relay listens on
/// one dual-stack socket on `[::]` when the host has IPv6 (see `publish`), and then, as dockerd,
/// the container's port bindings list `::` beside `0.0.0.0`. Probed once.
pub fn any_address_dual_stack() -> bool {
    static DUAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DUAL.get_or_init(|| std::net::TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).is_ok())
}

/// Parse a MAC address (`02:42:ac:11:00:0a`, `-` separators too) for a container's interface: it
/// must be unicast (the kernel refuses a multicast address on an ethernet link).
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || Error::BadMac(s.to_string());
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 != 0 || mac == [0; 6] {
        return Err(bad());
    }
    Ok(mac)
}

/// Parse docker's `-p` forms: `80`, `8080:80`, `127.0.0.1:8080:80`,
/// `127.0.0.1::80`, each with an optional `/tcp` or `/udp`, and ranges
/// (`8000-8001:80-81`).
pub fn parse_port_spec(spec: &str) -> Result<Vec<PortMapping>> {
    let bad = |why: &str| Error::BadPortMapping {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) if p == "tcp" || p == "udp" => (r, p.to_string()),
        Some(_) => return Err(bad("the protocol must be tcp or udp")),
        None => (spec, "tcp".to_string()),
    };
    // `[::1]:8080:80`: an IPv6 host address in brackets.
    let (bracketed, rest) = match rest.strip_prefix('[') {
        Some(r) => match r.split_once("]:") {
            Some((ip, r)) => (Some(ip), r),
            None => return Err(bad("an IPv6 host address needs ]: after it")),
        },
        None => (None, rest),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let parts = match (bracketed, parts.as_slice()) {
        (None, _) => parts,
        (Some(ip), [h, c]) => vec![ip, *h, *c],
        (Some(_), _) => return Err(bad("want [IPv6]:host:container")),
    };
    let (ip, host, container) = match parts.as_slice() {
        [c] => (None, "", *c),
        [h, c] => (None, *h, *c),
        [ip, h, c] => (Some(*ip), *h, *c),
        _ => return Err(bad("too many ':'")),
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse::<IpAddr>()
                .map_err(|_| bad("the host address is not an IP address"))?,
        ),
    };
    let range = |s: &str, what: &str| -> Result<(u16, u16)> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a
            .parse()
            .map_err(|_| bad(&format!("{what} port is not a number")))?;
        let b: u16 = b
            .parse()
            .map_err(|_| bad(&format!("{what} port is not a number")))?;
        if a == 0 || b < a {
            return Err(bad(&format!("{what} port range is empty or starts at 0")));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(container, "container")?;
    let hosts: Vec<u16> = if host.is_empty() {
        vec![0; usize::from(c1 - c0) + 1]
    } else {
        let (h0, h1) = range(host, "host")?;
        if h1 - h0 != c1 - c0 {
            return Err(bad("host and container ranges differ in length"));
        }
        (h0..=h1).collect()
    };
    Ok((c0..=c1)
        .zip(hosts)
        .map(|(c, h)| PortMapping {
            host_ip,
            host_port: h,
            container_port: c,
            protocol: protocol.clone(),
        })
        .collect())
}

/// The first of 172.17.0.0/16 .. 172.31.0.0/16 that no route of the host
/// overlaps (routes through `bridge` itself do not count), as Docker picks
/// its default bridge's subnet.
pub fn pick_subnet(bridge: &str, pools: &[model::AddressPool]) -> Result<Subnet> {
    let taken = host_routes(&[bridge])?;
    let found = if pools.is_empty() {
        (17..=31)
            .map(|b| Subnet {
                network: Ipv4Addr::new(172, b, 0, 0),
                prefix: 16,
            })
            .find(|s| !taken.iter().any(|t| t.overlaps(s)))
    } else {
        model::candidate_pools(pools).find(|s| !taken.iter().any(|t| t.overlaps(s)))
    };
    found.ok_or_else(|| Error::Exhausted {
        subnet: if pools.is_empty() {
            "172.17.0.0/16-172.31.0.0/16".into()
        } else {
            "the default address pools".into()
        },
    })
}

/// The IPv4 routes of the host (but the default route and routes through the
/// links named in `except`).
pub fn host_routes(except: &[&str]) -> Result<Vec<Subnet>> {
    let routes =
        std::fs::read_to_string("/proc/net/route").map_err(error::io("read /proc/net/route"))?;
    Ok(routes
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 || except.contains(&f[0]) {
                return None;
            }
            let dest = u32::from_str_radix(f[1], 16).ok()?;
            let mask = u32::from_str_radix(f[7], 16).ok()?;
            if mask == 0 {
                return None; // the default route overlaps everything; it does not count
            }
            Some(Subnet {
                network: Ipv4Addr::from(u32::from_be(dest)),
                prefix: u32::from_be(mask).leading_ones() as u8,
            })
        })
        .collect())
}

/// What `attach` made for a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub endpoint: Endpoint,
    /// The published ports, with any port 0 replaced by the one bound.
    pub ports: Vec<PortMapping>,
    /// Name servers the network's driver gave (a CNI result's `dns`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<Ipv4Addr>,
    /// The IPv6 address on a dual-stack network.
    #[serde(default)]
    pub ipv6: Option<bridge::Endpoint6>,
}

/// The IPv6 lease file beside a network's IPv4 one (`<id>.ipam.json` -> `<id>.ipam6.json`).
fn ipam6_file(v4: &Path) -> std::path::PathBuf {
    let name = v4
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match name.strip_suffix(".ipam.json") {
        Some(stem) => format!("{stem}.ipam6.json"),
        None => format!("{name}.v6"),
    };
    v4.with_file_name(name)
}

/// One user network's running parts, whatever its driver: what the registry
/// ([`networks::Networks`]) puts containers on and takes them off.
pub trait UserNetwork: Send + Sync {
    /// Give the container at `netns` an interface and an address (`want` if given) and publish
    /// `ports` where the driver can; what a failed step half-made is undone.
    fn attach(
        &self,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment>;
    /// Undo `attach`; every step runs.
    fn detach(&self, container_id: &str, att: &Attachment) -> Result<()>;
    /// [`UserNetwork::detach`] for a container whose process has exited (drivers may then
    /// finish the kernel's part off the caller's path).
    fn detach_exited(&self, container_id: &str, att: &Attachment) -> Result<()> {
        self.detach(container_id, att)
    }
    /// After a daemon restart, for a container still attached: what died with the old daemon.
    fn restore(&self, container_id: &str, att: &Attachment) -> Result<()>;
    /// Take the network's kernel parts down (a failed bring-up), keeping its leases.
    fn remove(&self) -> Result<()>;
    /// The network is deleted: its kernel parts and its leases go.
    fn destroy(&self) -> Result<()>;
    /// Its IPv6 subnet, on a dual-stack network.
    fn subnet6(&self) -> Option<ipam6::Subnet6> {
        None
    }
    /// [`UserNetwork::attach`] with an IPv6 address too where the network has IPv6 (`want6`
    /// if given); drivers without IPv6 give the IPv4 attachment alone.
    fn attach_dual(
        &self,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        _want6: Option<Ipv6Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment> {
        self.attach(container_id, netns, ports, want, mac)
    }
}

impl UserNetwork for BridgeNetwork {
    fn attach(
        &self,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment> {
        BridgeNetwork::attach(self, container_id, netns, ports, want, mac)
    }
    fn detach(&self, container_id: &str, att: &Attachment) -> Result<()> {
        BridgeNetwork::detach(self, container_id, att.endpoint.address, &att.ports)
    }
    fn detach_exited(&self, container_id: &str, att: &Attachment) -> Result<()> {
        BridgeNetwork::detach_exited(self, container_id, att.endpoint.address, &att.ports)
    }
    fn restore(&self, container_id: &str, att: &Attachment) -> Result<()> {
        BridgeNetwork::restore(self, container_id, att.endpoint.address, &att.ports)
    }
    fn remove(&self) -> Result<()> {
        BridgeNetwork::remove(self)
    }
    fn destroy(&self) -> Result<()> {
        BridgeNetwork::destroy(self)
    }
    fn subnet6(&self) -> Option<ipam6::Subnet6> {
        BridgeNetwork::subnet6(self)
    }
    fn attach_dual(
        &self,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        want6: Option<Ipv6Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment> {
        BridgeNetwork::attach_dual(self, container_id, netns, ports, want, want6, mac)
    }
}

/// A bridge network: driver, addresses, firewall and port relays.
pub struct BridgeNetwork {
    pub name: String,
    driver: bridge::BridgeDriver,
    ipam: addresses::Addresses,
    firewall: Box<dyn Firewall>,
    proxies: Mutex<HashMap<String, Vec<Proxy>>>,
    /// No NAT and no way out (`--internal`).
    internal: bool,
    /// Containers cannot reach each other (`enable_icc=false`).
    no_icc: bool,
    /// The IPv6 leases of a dual-stack network.
    ipam6: Option<Mutex<ipam6::Ipam6>>,
}

/// What a user network's bridge is made from.
pub struct UserBridge {
    pub name: String,
    pub bridge_name: String,
    pub pool: model::IpamPool,
    pub ipam_file: std::path::PathBuf,
    /// The pool at a remote IPAM plugin (`--ipam-driver`); None: the daemon's own leases in
    /// `ipam_file`.
    pub remote_ipam: Option<addresses::RemoteAddresses>,
    pub firewall: Box<dyn Firewall>,
    pub internal: bool,
    /// `com.docker.network.bridge.enable_icc=false`.
    pub no_icc: bool,
    /// `com.docker.network.driver.mtu` (1500 by default).
    pub mtu: u32,
    /// Part of the host veth names (the network's short id).
    pub veth_tag: String,
    /// The IPv6 pool of a dual-stack network.
    pub pool6: Option<model::IpamPool6>,
    /// The veths' GSO/GRO size limits ([`bridge::big_tcp_size`]; None: the kernel's).
    pub big_tcp: Option<u32>,
}

impl BridgeNetwork {
    /// Open the network (creating the bridge and its NAT rules if missing);
    /// addresses are remembered in `<state_dir>/<name>.ipam.json`.
    pub fn open(
        name: &str,
        bridge_name: &str,
        subnet: Subnet,
        state_dir: &Path,
        firewall: Box<dyn Firewall>,
    ) -> Result<BridgeNetwork> {
        let driver = bridge::BridgeDriver::new(bridge_name, subnet);
        driver.ensure()?;
        firewall.setup_network(bridge_name, subnet)?;
        let ipam = Ipam::open(subnet, &state_dir.join(format!("{name}.ipam.json")))?;
        Ok(BridgeNetwork {
            name: name.to_string(),
            driver,
            ipam: addresses::Addresses::Local(Mutex::new(ipam)),
            firewall,
            proxies: Mutex::default(),
            internal: false,
            no_icc: false,
            ipam6: None,
        })
    }

    /// Open a user network's bridge (creating it and its rules if missing).
    /// What a failed step half-made is removed again.
    pub fn open_user(u: UserBridge) -> Result<BridgeNetwork> {
        let mut driver = bridge::BridgeDriver::new(&u.bridge_name, u.pool.subnet);
        driver.gateway = u.pool.gateway;
        driver.veth_tag = Some(u.veth_tag);
        driver.default_route = !u.internal;
        driver.mtu = u.mtu;
        driver.ipv6 = u.pool6.as_ref().map(|p| (p.subnet, p.gateway));
        driver.big_tcp = u.big_tcp;
        let ipam6 = match &u.pool6 {
            Some(p) => Some(Mutex::new(ipam6::Ipam6::open_pool(
                p.subnet,
                p.gateway,
                p.ip_range,
                Vec::new(),
                &ipam6_file(&u.ipam_file),
            )?)),
            None => None,
        };
        let ipam = match u.remote_ipam {
            Some(r) => addresses::Addresses::Remote(r),
            None => addresses::Addresses::local(&u.pool, &u.ipam_file)?,
        };
        let net = BridgeNetwork {
            name: u.name,
            driver,
            ipam,
            firewall: u.firewall,
            proxies: Mutex::default(),
            internal: u.internal,
            no_icc: u.no_icc,
            ipam6,
        };
        let made = net.driver.ensure().and_then(|()| {
            if net.internal {
                net.firewall
                    .setup_internal(&net.driver.bridge, net.driver.subnet)
            } else {
                net.firewall
                    .setup_network(&net.driver.bridge, net.driver.subnet)
            }
            .and_then(|()| {
                if net.no_icc {
                    net.firewall
                        .block_icc(&net.driver.bridge, net.driver.ipv6.is_some())
                } else {
                    Ok(())
                }
            })
            .and_then(|()| match net.driver.ipv6 {
                Some((s6, _)) => net
                    .firewall
                    .setup_ipv6(&net.driver.bridge, s6, net.internal),
                None => Ok(()),
            })
        });
        if let Err(e) = made {
            let _ = net.remove();
            return Err(e);
        }
        Ok(net)
    }

    /// The GSO/GRO size limits of the veths made from now on ([`bridge::big_tcp_size`] unless
    /// set; None: the kernel's).
    pub fn set_big_tcp(&mut self, size: Option<u32>) {
        self.driver.big_tcp = size;
    }

    /// Make the network dual-stack (the default bridge with `--ipv6 --fixed-cidr-v6`): the
    /// bridge gets `::1` of `subnet`, containers attached from now on an IPv6 address too
    /// (leases in `<state_dir>/<name>.ipam6.json`), and the IPv6 rules are added.
    pub fn enable_ipv6(&mut self, subnet: ipam6::Subnet6, state_dir: &Path) -> Result<()> {
        self.driver.ipv6 = Some((subnet, subnet.gateway()));
        self.driver.ensure()?;
        self.firewall
            .setup_ipv6(&self.driver.bridge, subnet, self.internal)?;
        self.ipam6 = Some(Mutex::new(ipam6::Ipam6::open(
            subnet,
            &state_dir.join(format!("{}.ipam6.json", self.name)),
        )?));
        Ok(())
    }

    /// The IPv6 subnet of a dual-stack network.
    pub fn subnet6(&self) -> Option<ipam6::Subnet6> {
        self.driver.ipv6.map(|(s, _)| s)
    }

    /// The Linux bridge's name.
    pub fn bridge_name(&self) -> &str {
        &self.driver.bridge
    }

    pub fn subnet(&self) -> Subnet {
        self.driver.subnet
    }

    /// Connect a container's network namespace and publish its ports.
    pub fn attach(
        &self,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment> {
        self.attach_dual(container_id, netns, ports, want, None, mac)
    }

    /// [`BridgeNetwork::attach`], with an IPv6 address too on a dual-stack
    /// network (`want6` if given, else the lowest free one).
    pub fn attach_dual(
        &self,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        want6: Option<Ipv6Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment> {
        if let (Some(a), None) = (want6, &self.ipam6) {
            return Err(Error::BadAddress(format!(
                "{a}: the network has no IPv6 subnet"
            )));
        }
        let addr = self.ipam.allocate(container_id, want)?;
        let v6 = match &self.ipam6 {
            Some(i) => match i.lock().expect("ipam6 lock").allocate(container_id, want6) {
                Ok(a) => Some(a),
                Err(e) => {
                    let _ = self.ipam.release(container_id, addr);
                    return Err(e);
                }
            },
            None => None,
        };
        let release = || {
            let _ = self.ipam.release(container_id, addr);
            if let Some(i) = &self.ipam6 {
                let _ = i.lock().expect("ipam6 lock").release(container_id);
            }
        };
        let endpoint = match self.driver.connect_dual(container_id, netns, addr, v6, mac) {
            Ok(e) => e,
            Err(e) => {
                release();
                return Err(e);
            }
        };
        let ipv6 = match (v6, self.driver.ipv6) {
            (Some(address), Some((s6, gateway))) => Some(bridge::Endpoint6 {
                address,
                prefix: s6.prefix,
                gateway,
            }),
            _ => None,
        };
        match self.publish(container_id, addr, v6, ports) {
            Ok(ports) => Ok(Attachment {
                endpoint,
                ports,
                dns: Vec::new(),
                ipv6,
            }),
            Err(e) => {
                let _ = self.detach(container_id, addr, &[]);
                Err(e)
            }
        }
    }

    fn publish(
        &self,
        container_id: &str,
        addr: Ipv4Addr,
        addr6: Option<Ipv6Addr>,
        ports: &[PortMapping],
    ) -> Result<Vec<PortMapping>> {
        let mut done: Vec<PortMapping> = Vec::new();
        let mut relays = Vec::new();
        let result = (|| {
            for p in ports {
                // Without a host address: one dual-stack socket on [::] answers IPv4 and IPv6
                // (0.0.0.0 on a host without IPv6), relayed to the container's IPv4 address as
                // Docker's proxy does; an IPv6 host address goes to the container's IPv6
                // address when it has one.
                let target_ip = match (p.host_ip, addr6) {
                    (Some(IpAddr::V6(_)), Some(a6)) => IpAddr::V6(a6),
                    _ => IpAddr::V4(addr),
                };
                let target = SocketAddr::new(target_ip, p.container_port);
                let relay = match p.host_ip {
                    Some(ip) => relay(&p.protocol, SocketAddr::new(ip, p.host_port), target)?,
                    None => relay(
                        &p.protocol,
                        SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), p.host_port),
                        target,
                    )
                    .or_else(|_| {
                        relay(
                            &p.protocol,
                            SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), p.host_port),
                            target,
                        )
                    })?,
                };
                let mut bound = p.clone();
                bound.host_port = relay.local_addr().port();
                relays.push(relay);
                self.firewall_publish(addr, addr6, &bound)?;
                done.push(bound);
            }
            Ok(())
        })();
        if let Err(e) = result {
            for p in &done {
                self.firewall_unpublish(addr, addr6, p);
            }
            return Err(e);
        }
        self.proxies
            .lock()
            .expect("proxies lock")
            .insert(container_id.to_string(), relays);
        Ok(done)
    }

    /// The DNAT rules of a port: IPv4 unless the host address is IPv6; IPv6 too when the
    /// container has an IPv6 address and the host address is IPv6 or any.
    fn firewall_publish(
        &self,
        addr: Ipv4Addr,
        addr6: Option<Ipv6Addr>,
        p: &PortMapping,
    ) -> Result<()> {
        let b = &self.driver.bridge;
        if !matches!(p.host_ip, Some(IpAddr::V6(_))) {
            self.firewall.publish(b, addr, p)?;
        }
        if let (Some(a6), false) = (addr6, matches!(p.host_ip, Some(IpAddr::V4(_)))) {
            if let Err(e) = self.firewall.publish6(b, a6, p) {
                let _ = self.firewall.unpublish(b, addr, p);
                return Err(e);
            }
        }
        Ok(())
    }

    fn firewall_unpublish(
        &self,
        addr: Ipv4Addr,
        addr6: Option<Ipv6Addr>,
        p: &PortMapping,
    ) -> Vec<String> {
        let b = &self.driver.bridge;
        let mut errors = Vec::new();
        if !matches!(p.host_ip, Some(IpAddr::V6(_))) {
            if let Err(e) = self.firewall.unpublish(b, addr, p) {
                errors.push(e.to_string());
            }
        }
        if let (Some(a6), false) = (addr6, matches!(p.host_ip, Some(IpAddr::V4(_)))) {
            if let Err(e) = self.firewall.unpublish6(b, a6, p) {
                errors.push(e.to_string());
            }
        }
        errors
    }

    /// The container's IPv6 address on this network, if it has one.
    fn addr6_of(&self, container_id: &str) -> Option<Ipv6Addr> {
        let i = self.ipam6.as_ref()?.lock().expect("ipam6 lock");
        let found = i
            .allocated()
            .find(|(_, owner)| owner.as_str() == container_id)
            .map(|(a, _)| *a);
        found
    }

    /// After a daemon restart: the container's interface and address are still
    /// there, but the port relays died with the old daemon; start them again
    /// (and make sure the rules are in place) for `ports` as recorded.
    pub fn restore(&self, container_id: &str, addr: Ipv4Addr, ports: &[PortMapping]) -> Result<()> {
        let addr6 = self.addr6_of(container_id);
        self.publish(container_id, addr, addr6, ports).map(|_| ())
    }

    /// Undo `attach`. Every step runs; errors are reported together.
    pub fn detach(&self, container_id: &str, addr: Ipv4Addr, ports: &[PortMapping]) -> Result<()> {
        self.detach_with(container_id, addr, ports, false)
    }

    /// [`BridgeNetwork::detach`] for a container whose process has exited: the same, but its
    /// veth is deleted off the caller's path ([`bridge::BridgeDriver::disconnect_exited`]).
    pub fn detach_exited(
        &self,
        container_id: &str,
        addr: Ipv4Addr,
        ports: &[PortMapping],
    ) -> Result<()> {
        self.detach_with(container_id, addr, ports, true)
    }

    fn detach_with(
        &self,
        container_id: &str,
        addr: Ipv4Addr,
        ports: &[PortMapping],
        exited: bool,
    ) -> Result<()> {
        let mut errors = Vec::new();
        let addr6 = self.addr6_of(container_id);
        for p in ports {
            errors.extend(self.firewall_unpublish(addr, addr6, p));
        }
        self.proxies
            .lock()
            .expect("proxies lock")
            .remove(container_id);
        if exited {
            self.driver.disconnect_exited(container_id);
        } else if let Err(e) = self.driver.disconnect(container_id) {
            errors.push(e.to_string());
        }
        if let Err(e) = self.ipam.release(container_id, addr) {
            errors.push(e.to_string());
        }
        if let Some(i) = &self.ipam6 {
            if let Err(e) = i.lock().expect("ipam6 lock").release(container_id) {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Cleanup(errors.join("; ")))
        }
    }

    /// Remove the bridge and the network's rules.
    pub fn remove(&self) -> Result<()> {
        if self.no_icc {
            self.firewall
                .unblock_icc(&self.driver.bridge, self.driver.ipv6.is_some());
        }
        if let Some((s6, _)) = self.driver.ipv6 {
            self.firewall
                .teardown_ipv6(&self.driver.bridge, s6, self.internal);
        }
        let fw = if self.internal {
            self.firewall
                .teardown_internal(&self.driver.bridge, self.driver.subnet)
        } else {
            self.firewall
                .teardown_network(&self.driver.bridge, self.driver.subnet)
        };
        let br = self.driver.remove();
        fw.and(br)
    }

    /// Remove the bridge, the rules and the address leases (the network is deleted).
    pub fn destroy(&self) -> Result<()> {
        let removed = self.remove();
        let leases = self.ipam.destroy();
        let leases6 = match &self.ipam6 {
            Some(i) => i.lock().expect("ipam6 lock").destroy(),
            None => Ok(()),
        };
        removed.and(leases).and(leases6)
    }
}

/// A userland relay of `protocol` from `listen` to `target`.
fn relay(protocol: &str, listen: SocketAddr, target: SocketAddr) -> Result<Proxy> {
    let made = if protocol == "udp" {
        Proxy::udp(listen, target)
    } else {
        Proxy::tcp(listen, target)
    };
    made.map_err(|e| match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            Error::PortInUse {
                protocol: protocol.to_string(),
                listen,
            }
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:42:AC:11:00:0a").unwrap(),
            [2, 0x42, 0xac, 0x11, 0, 0x0a]
        );
        assert!(parse_mac("01:00:5e:00:00:01").is_err());
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("02:42:ac:11:00:zz").is_err());
    }

    #[test]
    fn port_specs_parse_like_docker() {
        let p = parse_port_spec("127.0.0.1:8080:80").unwrap();
        assert_eq!(
            p,
            vec![PortMapping {
                host_ip: Some(Ipv4Addr::LOCALHOST.into()),
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into()
            }]
        );
        let p = parse_port_spec("53/udp").unwrap();
        assert_eq!(
            (p[0].host_port, p[0].container_port, p[0].protocol.as_str()),
            (0, 53, "udp")
        );
        let p = parse_port_spec("127.0.0.1::80").unwrap();
        assert_eq!(
            (p[0].host_ip, p[0].host_port),
            (Some(Ipv4Addr::LOCALHOST.into()), 0)
        );
        let p = parse_port_spec("[::1]:8080:80/udp").unwrap();
        assert_eq!(
            (p[0].host_ip, p[0].host_port, p[0].protocol.as_str()),
            (Some("::1".parse().unwrap()), 8080, "udp")
        );
        let p = parse_port_spec("[::]::80").unwrap();
        assert_eq!(p[0].host_ip, Some(Ipv6Addr::UNSPECIFIED.into()));
        let p = parse_port_spec("8000-8002:80-82").unwrap();
        assert_eq!(
            p.iter()
                .map(|m| (m.host_port, m.container_port))
                .collect::<Vec<_>>(),
            [(8000, 80), (8001, 81), (8002, 82)]
        );
        for bad in [
            "80/sctp",
            "a:80",
            "1:2:3:4",
            "8000-8001:80",
            "0",
            "localhost:80:80",
            "[::1:8080:80",
            "[::1]:1:2:3",
        ] {
            assert!(parse_port_spec(bad).is_err(), "{bad}");
        }
    }
}
