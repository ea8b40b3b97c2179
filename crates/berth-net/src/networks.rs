//! The daemon's networks: the predefined `bridge`, `host` and `none`, and the
//! user-defined bridge networks, each with its own Linux bridge, rules,
//! address leases and DNS resolver. Creating, finding, removing, and putting
//! containers on and off them; the configurations persist in a
//! [`NetworkStore`], so a restarted daemon brings every network back.
//!
//! Which containers are on a network is the containers' business (their
//! records say it, and berthd asks them); this module only keeps what the
//! kernel and the resolver need.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use crate::addresses::{Addresses, RemoteAddresses};
use crate::cni::{ConfList, RealExec, Runner};
use crate::cni_net::{CniDirs, CniNetwork, OPT_CONFIG};
use crate::dns::{Directory, DnsServer, Upstream};
use crate::firewall::Firewall;
use crate::ipam::Subnet;
use crate::model::{
    self, CreateRequest, IpamPool, ModelError, NetworkConfig, NetworkStore, PREDEFINED,
};
use crate::remote_net::{default_ipam, Plugins};
use crate::sublink::{SublinkDriver, SublinkNetwork};
use crate::vlan::{self, Parent};
use crate::{Attachment, BridgeNetwork, PortMapping, UserBridge, UserNetwork};

/// Errors of the network registry.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Net(#[from] crate::Error),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
}

pub type NetResult<T> = std::result::Result<T, NetError>;

#[path = "networks_plugins.rs"]
mod plugins;

/// How the registry makes things.
pub struct Settings {
    /// Address leases of user networks live here (`<id>.ipam.json`).
    pub state_dir: PathBuf,
    /// A firewall for each network (all in this daemon's chains).
    pub firewall: Box<dyn Fn() -> Box<dyn Firewall> + Send + Sync>,
    /// Where the resolvers send names they do not know.
    pub upstream: Arc<dyn Upstream>,
    /// The default bridge's Linux bridge and subnet, if the daemon has one.
    pub default_bridge: Option<(String, Subnet)>,
    /// Port the resolvers listen on (53; tests of this crate use others).
    pub dns_port: u16,
    /// CNI plugins, configurations and result cache (None: no CNI networks).
    pub cni: Option<CniDirs>,
    /// Docker network and IPAM plugins (None: drivers other than the built-in ones are refused).
    pub plugins: Option<Plugins>,
    /// The default bridge's IPv6 subnet (`--fixed-cidr-v6`), if it is dual-stack.
    pub default_bridge6: Option<crate::ipam6::Subnet6>,
    /// `default-address-pools`: where networks without a subnet take one (empty: Docker's
    /// 172.17-31.0.0/16 and 192.168.0-240.0/20).
    pub address_pools: Vec<model::AddressPool>,
    /// The GSO/GRO size limits of user bridge networks' veths ([`crate::bridge::big_tcp_size`];
    /// None: the kernel's).
    pub big_tcp: Option<u32>,
}

/// A user network's running parts (bridge networks have a resolver).
struct Live {
    net: Arc<dyn UserNetwork>,
    _dns: Option<DnsServer>,
}

/// Whether a network's containers hang on a parent link (macvlan, ipvlan).
fn on_parent(cfg: &NetworkConfig) -> bool {
    matches!(cfg.driver.as_str(), "macvlan" | "ipvlan")
}

/// The containers' link kind of a macvlan or ipvlan network.
fn link_of(cfg: &NetworkConfig) -> Result<crate::netlink::Sublink, ModelError> {
    if cfg.driver == "macvlan" {
        crate::macvlan::link(&cfg.options)
    } else {
        crate::ipvlan::link(&cfg.options)
    }
}

/// The parent link of a macvlan or ipvlan network.
fn parent_of(cfg: &NetworkConfig) -> Result<Parent, ModelError> {
    vlan::plan(
        cfg.options.get(vlan::OPT_PARENT).map(String::as_str),
        cfg.internal,
        &cfg.id,
    )
}

struct Entry {
    cfg: NetworkConfig,
    live: Option<Live>,
}

/// The registry of networks.
pub struct Networks {
    store: Box<dyn NetworkStore>,
    settings: Settings,
    nets: Mutex<BTreeMap<String, Entry>>,
    /// The names on every network, shared by the resolvers.
    dns: Arc<RwLock<Directory>>,
}

/// The DNS names of a container on a network, and its links there.
#[derive(Debug, Clone, Default)]
pub struct DnsNames {
    /// Names every container on the network resolves.
    pub names: Vec<String>,
    /// (alias, container name): names only this container resolves.
    pub links: Vec<(String, String)>,
    /// The container's own DNS servers (`--dns`): what the resolver forwards its
    /// other queries to, instead of the host's resolvers.
    pub servers: Vec<IpAddr>,
}

impl Networks {
    /// Load the stored networks, add the predefined ones the first time, and
    /// bring up every user network (bridge, rules, resolver). A network that
    /// cannot come up is kept (and reported in the returned list) so it can
    /// still be removed.
    pub fn open(
        store: Box<dyn NetworkStore>,
        settings: Settings,
    ) -> NetResult<(Networks, Vec<String>)> {
        let mut nets = BTreeMap::new();
        for cfg in store.load()? {
            nets.insert(cfg.id.clone(), Entry { cfg, live: None });
        }
        let now = berth_time::now_rfc3339_nano();
        for (name, driver) in PREDEFINED {
            let existing = nets
                .values_mut()
                .find(|e| e.cfg.predefined && e.cfg.name == name);
            let cfg = match existing {
                Some(e) => &mut e.cfg,
                None => {
                    let cfg = NetworkConfig {
                        id: model::new_id(),
                        name: name.into(),
                        driver: driver.into(),
                        scope: "local".into(),
                        created: now.clone(),
                        ipam_driver: "default".into(),
                        ipam_options: None,
                        pools: Vec::new(),
                        pools6: Vec::new(),
                        options: BTreeMap::new(),
                        labels: BTreeMap::new(),
                        internal: false,
                        attachable: false,
                        enable_ipv6: false,
                        bridge: String::new(),
                        predefined: true,
                        parent_made: false,
                    };
                    let id = cfg.id.clone();
                    nets.insert(id.clone(), Entry { cfg, live: None });
                    &mut nets.get_mut(&id).expect("just added").cfg
                }
            };
            if name == "bridge" {
                // The default bridge follows the daemon's flags of this start.
                let (bridge, pools) = match &settings.default_bridge {
                    Some((b, s)) => (
                        b.clone(),
                        vec![IpamPool {
                            subnet: *s,
                            ip_range: None,
                            gateway: s.gateway(),
                            aux: BTreeMap::new(),
                            gateway_given: true,
                        }],
                    ),
                    None => (String::new(), Vec::new()),
                };
                cfg.bridge = bridge.clone();
                cfg.pools = pools;
                cfg.pools6 = settings
                    .default_bridge6
                    .iter()
                    .map(|s| model::IpamPool6 {
                        subnet: *s,
                        ip_range: None,
                        gateway: s.gateway(),
                        gateway_given: true,
                    })
                    .collect();
                cfg.enable_ipv6 = settings.default_bridge6.is_some();
                cfg.options = [
                    ("com.docker.network.bridge.default_bridge", "true"),
                    ("com.docker.network.bridge.enable_icc", "true"),
                    ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                    ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                    ("com.docker.network.bridge.name", bridge.as_str()),
                    ("com.docker.network.driver.mtu", "1500"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            }
            store.save(cfg)?;
        }
        let this = Networks {
            store,
            settings,
            nets: Mutex::new(nets),
            dns: Arc::default(),
        };
        let mut problems = Vec::new();
        let user: Vec<NetworkConfig> = this
            .lock()
            .values()
            .filter(|e| !e.cfg.predefined)
            .map(|e| e.cfg.clone())
            .collect();
        for cfg in user {
            match this.bring_up(&cfg, None) {
                Ok(live) => {
                    if let Some(e) = this.lock().get_mut(&cfg.id) {
                        e.live = Some(live);
                    }
                }
                Err(e) => problems.push(format!("network {}: {e}", cfg.name)),
            }
        }
        problems.extend(this.adopt_cni_dir());
        Ok((this, problems))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.nets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bridge, rules and resolver of a user network (the parent link and lease file of
    /// a macvlan or ipvlan one).
    /// `fresh`: the pool an IPAM plugin just gave (at a restart, the stored one is used).
    fn bring_up(&self, cfg: &NetworkConfig, fresh: Option<RemoteAddresses>) -> NetResult<Live> {
        if cfg.driver == "cni" {
            let list = ConfList::read(&self.conflist_file(cfg))?;
            let net = CniNetwork::new(list, self.cni_runner()?);
            // ADDs a crash cut short: nothing will DEL them otherwise (best effort).
            let _ = net.clean_interrupted();
            return Ok(Live {
                net: Arc::new(net),
                _dns: None,
            });
        }
        let pool = cfg
            .pools
            .first()
            .cloned()
            .ok_or_else(|| ModelError::Invalid("the network has no address pool".into()))?;
        if !model::builtin_driver(&cfg.driver) {
            let plugins = self.plugins()?;
            let state = self.load_remote(cfg)?;
            let net = plugins.reopen(
                &cfg.id,
                &cfg.driver,
                &cfg.ipam_driver,
                state,
                &pool,
                &self.ipam_file(cfg),
            )?;
            return Ok(Live {
                net: Arc::new(net),
                _dns: None,
            });
        }
        let remote_ipam = match fresh {
            Some(r) => Some(r),
            None if !default_ipam(&cfg.ipam_driver) => {
                let (plugins, name) = (self.plugins()?.clone(), cfg.ipam_driver.clone());
                Some(RemoteAddresses::reopen(
                    Arc::new(move || plugins.ipam(&name)),
                    self.load_remote(cfg)?,
                ))
            }
            None => None,
        };
        if on_parent(cfg) {
            let parent = parent_of(cfg)?;
            if cfg.parent_made {
                // A reboot took the link berthd made: make it again.
                vlan::ensure(&parent)?;
            }
            let link = link_of(cfg)?;
            let driver = SublinkDriver {
                parent: parent.name().to_string(),
                link,
                subnet: pool.subnet,
                gateway: pool.gateway,
                default_route: !cfg.internal && !matches!(parent, Parent::Dummy(_)),
                tag: cfg.id[..6].to_string(),
            };
            let ipam = match remote_ipam {
                Some(r) => Addresses::Remote(r),
                None => Addresses::local(&pool, &self.ipam_file(cfg))?,
            };
            let net = SublinkNetwork::open(driver, ipam)?;
            return Ok(Live {
                net: Arc::new(net),
                _dns: None,
            });
        }
        let net = BridgeNetwork::open_user(UserBridge {
            name: cfg.name.clone(),
            bridge_name: cfg.bridge.clone(),
            pool: pool.clone(),
            ipam_file: self.ipam_file(cfg),
            remote_ipam,
            firewall: (self.settings.firewall)(),
            internal: cfg.internal,
            no_icc: cfg
                .options
                .get(model::OPT_ICC)
                .is_some_and(|v| v == "false"),
            mtu: cfg
                .options
                .get(model::OPT_MTU)
                .and_then(|v| v.parse().ok())
                .unwrap_or(1500),
            veth_tag: cfg.id[..6].to_string(),
            pool6: cfg.pools6.first().filter(|_| cfg.enable_ipv6).cloned(),
            big_tcp: self.settings.big_tcp,
        })?;
        let dns = DnsServer::start(
            SocketAddr::new(pool.gateway.into(), self.settings.dns_port),
            &cfg.id,
            self.dns.clone(),
            self.settings.upstream.clone(),
        );
        let dns = match dns {
            Ok(d) => d,
            Err(e) => {
                let _ = net.remove();
                return Err(e.into());
            }
        };
        Ok(Live {
            net: Arc::new(net),
            _dns: Some(dns),
        })
    }

    /// A CNI network's conflist, as it was at create.
    fn conflist_file(&self, cfg: &NetworkConfig) -> PathBuf {
        self.settings.state_dir.join(format!("{}.conflist", cfg.id))
    }

    fn cni_runner(&self) -> NetResult<Arc<Runner>> {
        let dirs = self
            .settings
            .cni
            .as_ref()
            .ok_or_else(|| ModelError::Unsupported("this daemon runs without CNI".into()))?;
        Ok(Arc::new(Runner {
            plugin_dir: dirs.plugin_dir.clone(),
            cache_dir: dirs.cache_dir.clone(),
            exec: Box::new(RealExec::default()),
        }))
    }

    /// The conflists of the CNI directory that are not networks yet become networks.
    fn adopt_cni_dir(&self) -> Vec<String> {
        let Some(dir) = self.settings.cni.as_ref().map(|c| c.config_dir.clone()) else {
            return Vec::new();
        };
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "conflist" || x == "conf")
            })
            .collect();
        files.sort();
        let mut problems = Vec::new();
        for f in files {
            let list = match ConfList::read(&f) {
                Ok(l) => l,
                Err(e) => {
                    problems.push(format!("{}: {e}", f.display()));
                    continue;
                }
            };
            if self.lock().values().any(|e| e.cfg.name == list.name) {
                continue;
            }
            let req = CreateRequest {
                name: list.name.clone(),
                driver: "cni".into(),
                options: [(OPT_CONFIG.to_string(), f.display().to_string())].into(),
                ..Default::default()
            };
            if let Err(e) = self.create(req) {
                problems.push(format!("{}: {e}", f.display()));
            }
        }
        problems
    }

    fn ipam_file(&self, cfg: &NetworkConfig) -> PathBuf {
        self.settings
            .state_dir
            .join(format!("{}.ipam.json", cfg.id))
    }

    /// Every network, predefined first, then by name.
    pub fn list(&self) -> Vec<NetworkConfig> {
        let mut all: Vec<NetworkConfig> = self.lock().values().map(|e| e.cfg.clone()).collect();
        all.sort_by(|a, b| (!a.predefined, &a.name).cmp(&(!b.predefined, &b.name)));
        all
    }

    /// A network by full id, full name or unique id prefix, as Docker looks them up.
    pub fn find(&self, key: &str) -> NetResult<NetworkConfig> {
        let nets = self.lock();
        if let Some(e) = nets.get(key) {
            return Ok(e.cfg.clone());
        }
        if let Some(e) = nets.values().find(|e| e.cfg.name == key) {
            return Ok(e.cfg.clone());
        }
        let mut by_prefix = nets
            .values()
            .filter(|e| !key.is_empty() && e.cfg.id.starts_with(key));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(e), None) => Ok(e.cfg.clone()),
            (Some(_), Some(_)) => Err(ModelError::Invalid(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                nets.values().filter(|e| e.cfg.id.starts_with(key)).count()
            ))
            .into()),
            _ => Err(ModelError::NotFound(key.to_string()).into()),
        }
    }

    /// Create a user-defined bridge network.
    pub fn create(&self, req: CreateRequest) -> NetResult<NetworkConfig> {
        model::check_request_with(&req, self.settings.plugins.is_some())?;
        let plugin_driver = !model::builtin_driver(&req.driver);
        let mut nets = self.lock();
        if nets.values().any(|e| e.cfg.name == req.name) {
            return Err(ModelError::NameTaken(req.name).into());
        }
        let mut in_use: Vec<Subnet> = nets
            .values()
            .flat_map(|e| e.cfg.pools.iter().map(|p| p.subnet))
            .collect();
        if let Some((_, s)) = &self.settings.default_bridge {
            in_use.push(*s);
        }
        let ours: Vec<String> = nets.values().map(|e| e.cfg.bridge.clone()).collect();
        let except: Vec<&str> = ours.iter().map(String::as_str).collect();
        let routes = crate::host_routes(&except)?;
        let (v4, v6) = model::split_pools(&req.pools);
        // An IPv6 pool given without EnableIPv6 is kept (inspect shows it) but not used, as dockerd does.
        let pools6 = if req.enable_ipv6 || !v6.is_empty() {
            let in_use6: Vec<crate::ipam6::Subnet6> = nets
                .values()
                .flat_map(|e| e.cfg.pools6.iter().map(|p| p.subnet))
                .collect();
            vec![model::plan_pool6(v6.first().copied(), &in_use6)?]
        } else {
            Vec::new()
        };
        let id = model::new_id();
        let mut conflist = None;
        let pool = if req.driver == "cni" {
            let path = req
                .options
                .get(OPT_CONFIG)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    ModelError::Invalid("a CNI network needs -o config=PATH (a .conflist)".into())
                })?;
            let text = std::fs::read(path)
                .map_err(|e| ModelError::Invalid(format!("CNI configuration {path}: {e}")))?;
            let list = ConfList::parse(&text)?;
            let subnet = list.subnet();
            conflist = Some(text);
            subnet.map(|s| IpamPool {
                subnet: s,
                ip_range: None,
                gateway: s.gateway(),
                aux: BTreeMap::new(),
                gateway_given: false,
            })
        } else if !default_ipam(&req.ipam_driver) {
            None // the IPAM plugin's
        } else {
            Some(model::plan_pool(
                v4.first().copied(),
                &in_use,
                &routes,
                &self.settings.address_pools,
            )?)
        };
        let driver = if req.driver.is_empty() {
            "bridge".to_string()
        } else {
            req.driver.clone()
        };
        let bridge = if driver != "bridge" {
            String::new()
        } else {
            req.options
                .get("com.docker.network.bridge.name")
                .filter(|b| !b.is_empty())
                .cloned()
                .unwrap_or_else(|| model::bridge_name(&id))
        };
        let mut cfg = NetworkConfig {
            bridge,
            id,
            name: req.name.clone(),
            driver,
            scope: "local".into(),
            created: berth_time::now_rfc3339_nano(),
            ipam_driver: if default_ipam(&req.ipam_driver) {
                "default".into()
            } else {
                req.ipam_driver.clone()
            },
            ipam_options: req.ipam_options.clone(),
            pools: pool.clone().into_iter().collect(),
            options: req.options.clone(),
            labels: req.labels.clone(),
            pools6,
            internal: req.internal,
            attachable: req.attachable,
            enable_ipv6: req.enable_ipv6,
            predefined: false,
            parent_made: false,
        };
        if cfg.bridge.len() > 15 {
            return Err(ModelError::Invalid(format!(
                "bridge name {:?} is longer than 15 characters",
                cfg.bridge
            ))
            .into());
        }
        if let Some(text) = &conflist {
            let file = self.conflist_file(&cfg);
            std::fs::create_dir_all(&self.settings.state_dir)
                .and_then(|()| std::fs::write(&file, text))
                .map_err(|e| ModelError::Store(format!("{}: {e}", file.display())))?;
        }
        let mut made = None;
        if on_parent(&cfg) {
            let parent = parent_of(&cfg)?;
            let made_now = vlan::ensure(&parent)?;
            if made_now {
                made = Some(parent.name().to_string());
            }
            let link = link_of(&cfg)?;
            if let Err(e) = crate::sublink::probe(parent.name(), link, &cfg.id[..12]) {
                if made_now {
                    let _ = vlan::remove(parent.name());
                }
                return Err(e.into());
            }
            // A VLAN link another of our networks made stays ours to remove with the last of them.
            cfg.parent_made = made_now
                || nets.values().any(|e| {
                    on_parent(&e.cfg)
                        && e.cfg.parent_made
                        && parent_of(&e.cfg).is_ok_and(|p| p.name() == parent.name())
                });
        }
        let drop_made = |made: &Option<String>| {
            if let Some(p) = made {
                let _ = vlan::remove(p);
            }
        };
        let up = if plugin_driver {
            self.create_remote(&mut cfg, &req, pool)
        } else {
            self.request_remote_pool(&mut cfg, &req, &in_use)
                .and_then(|fresh| {
                    self.bring_up(&cfg, fresh.clone()).inspect_err(|_| {
                        if let Some(r) = fresh {
                            let _ = r.release_all();
                        }
                    })
                })
        };
        let live = match up {
            Ok(l) => l,
            Err(e) => {
                drop_made(&made);
                let _ = std::fs::remove_file(self.conflist_file(&cfg));
                let _ = std::fs::remove_file(self.remote_file(&cfg));
                return Err(e);
            }
        };
        if let Err(e) = self.store.save(&cfg) {
            let _ = live.net.destroy();
            let _ = std::fs::remove_file(self.conflist_file(&cfg));
            let _ = std::fs::remove_file(self.remote_file(&cfg));
            drop_made(&made);
            return Err(e.into());
        }
        nets.insert(
            cfg.id.clone(),
            Entry {
                cfg: cfg.clone(),
                live: Some(live),
            },
        );
        Ok(cfg)
    }

    /// Delete a user network (the caller checked that no container is on it):
    /// its resolver, rules, bridge and leases go.
    pub fn remove(&self, id: &str) -> NetResult<()> {
        let mut nets = self.lock();
        let Some(e) = nets.get(id) else {
            return Err(ModelError::NotFound(id.to_string()).into());
        };
        if e.cfg.predefined {
            return Err(ModelError::Predefined(e.cfg.name.clone()).into());
        }
        self.store.delete(id)?;
        let e = nets.remove(id).expect("present");
        self.names().drop_network(id);
        let destroyed = match e.live {
            Some(live) => {
                drop(live._dns);
                live.net.destroy()
            }
            None => Ok(()),
        };
        // The parent link berthd made goes with the last network on it.
        if on_parent(&e.cfg) && e.cfg.parent_made {
            if let Ok(parent) = parent_of(&e.cfg) {
                let still_used = nets.values().any(|o| {
                    on_parent(&o.cfg) && parent_of(&o.cfg).is_ok_and(|p| p.name() == parent.name())
                });
                if !still_used {
                    vlan::remove(parent.name())?;
                }
            }
        }
        if e.cfg.driver == "cni" {
            let _ = std::fs::remove_file(self.conflist_file(&e.cfg));
        }
        let _ = std::fs::remove_file(self.remote_file(&e.cfg));
        destroyed?;
        Ok(())
    }

    fn names(&self) -> std::sync::RwLockWriteGuard<'_, Directory> {
        self.dns.write().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self, id: &str) -> NetResult<Arc<dyn UserNetwork>> {
        let nets = self.lock();
        let e = nets
            .get(id)
            .ok_or_else(|| ModelError::NotFound(id.to_string()))?;
        let live = e.live.as_ref().ok_or_else(|| {
            ModelError::Unsupported(format!(
                "network {} is not up (see berthd's log)",
                e.cfg.name
            ))
        })?;
        Ok(live.net.clone())
    }

    /// Put the container whose network namespace is `netns` on user network
    /// `id`: an interface, an address (`want` if given), published ports, and
    /// its names in the network's resolver.
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        &self,
        id: &str,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: Option<Ipv4Addr>,
        mac: Option<[u8; 6]>,
        names: &DnsNames,
    ) -> NetResult<Attachment> {
        self.connect_dual(id, container_id, netns, ports, (want, None), mac, names)
    }

    /// [`Networks::connect`] with the IPv4 and IPv6 addresses asked for (a
    /// dual-stack network gives an IPv6 one in any case).
    #[allow(clippy::too_many_arguments)]
    pub fn connect_dual(
        &self,
        id: &str,
        container_id: &str,
        netns: &str,
        ports: &[PortMapping],
        want: (Option<Ipv4Addr>, Option<Ipv6Addr>),
        mac: Option<[u8; 6]>,
        names: &DnsNames,
    ) -> NetResult<Attachment> {
        let net = self.live(id)?;
        // An IPv6 address asked for on a network without IPv6 is recorded, not given (as dockerd).
        let want6 = want.1.filter(|_| net.subnet6().is_some());
        let att = net.attach_dual(container_id, netns, ports, want.0, want6, mac)?;
        self.register(id, container_id, &att, names);
        Ok(att)
    }

    /// A connected container's names, IPv6 address and DNS servers in the network's resolver.
    fn register(&self, id: &str, container_id: &str, att: &Attachment, names: &DnsNames) {
        let domain = self.lock().get(id).map(|e| e.cfg.name.clone());
        let mut dir = self.names();
        let records = dir.network(id);
        if let Some(d) = domain {
            records.set_domain(&d);
        }
        records.add(container_id, &names.names, att.endpoint.address);
        records.add_links(container_id, &names.links);
        if let Some(v6) = att.ipv6 {
            records.add_ipv6(container_id, v6.address);
        }
        records.set_servers(container_id, &names.servers);
    }

    /// Undo `connect`: names, ports, interface and lease. Every step runs.
    pub fn disconnect(&self, id: &str, container_id: &str, att: &Attachment) -> NetResult<()> {
        let net = self.live(id)?;
        self.names().network(id).remove(container_id);
        net.detach(container_id, att)?;
        Ok(())
    }

    /// [`Networks::disconnect`] for a container whose process has exited: the driver may finish
    /// the kernel's part (a bridge's veth) off the caller's path.
    pub fn disconnect_exited(
        &self,
        id: &str,
        container_id: &str,
        att: &Attachment,
    ) -> NetResult<()> {
        let net = self.live(id)?;
        self.names().network(id).remove(container_id);
        net.detach_exited(container_id, att)?;
        Ok(())
    }

    /// Wait until the interfaces of exited container `container_id` that
    /// [`Networks::disconnect_exited`] (or the default bridge's `detach_exited`) left to be
    /// deleted off the exit path are gone (its removal calls this).
    pub fn settle_exited(&self, container_id: &str) -> NetResult<()> {
        crate::reaper::global().settle_owner(container_id)?;
        Ok(())
    }

    /// Replace a connected container's names (after a rename); its addresses stay.
    pub fn refresh_names(&self, id: &str, container_id: &str, att: &Attachment, names: &DnsNames) {
        self.names().network(id).remove(container_id);
        self.register(id, container_id, att, names);
    }

    /// After a daemon restart, for a running container: its names again, and
    /// the relays of its published ports (the interface survived).
    pub fn restore(
        &self,
        id: &str,
        container_id: &str,
        att: &Attachment,
        names: &DnsNames,
    ) -> NetResult<()> {
        let net = self.live(id)?;
        self.register(id, container_id, att, names);
        net.restore(container_id, att)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::NoFirewall;
    use crate::model::MemoryStore;

    struct NoUpstream;
    impl Upstream for NoUpstream {
        fn forward(&self, _: &[u8]) -> Option<Vec<u8>> {
            None
        }
    }

    fn settings(dir: &std::path::Path) -> Settings {
        Settings {
            state_dir: dir.to_path_buf(),
            firewall: Box::new(|| Box::new(NoFirewall)),
            upstream: Arc::new(NoUpstream),
            default_bridge: Some(("b0".into(), "10.88.0.0/16".parse().unwrap())),
            dns_port: 0,
            cni: None,
            plugins: None,
            default_bridge6: None,
            address_pools: Vec::new(),
            big_tcp: None,
        }
    }

    /// Shares one store between two registries (a daemon and its restart).
    struct Shared(Arc<MemoryStore>);
    impl NetworkStore for Shared {
        fn load(&self) -> Result<Vec<NetworkConfig>, ModelError> {
            self.0.load()
        }
        fn save(&self, n: &NetworkConfig) -> Result<(), ModelError> {
            self.0.save(n)
        }
        fn delete(&self, id: &str) -> Result<(), ModelError> {
            self.0.delete(id)
        }
    }

    #[test]
    fn predefined_networks_keep_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::default());
        let (a, problems) =
            Networks::open(Box::new(Shared(store.clone())), settings(dir.path())).unwrap();
        assert!(problems.is_empty());
        let names: Vec<String> = a.list().iter().map(|n| n.name.clone()).collect();
        assert_eq!(names, ["bridge", "host", "none"]);
        let bridge = a.find("bridge").unwrap();
        assert_eq!(bridge.id.len(), 64);
        assert_eq!(bridge.pools[0].subnet.to_string(), "10.88.0.0/16");
        assert_eq!(a.find(&bridge.id[..10]).unwrap().name, "bridge");
        assert_eq!(a.find("none").unwrap().driver, "null");
        assert!(matches!(
            a.remove(&bridge.id),
            Err(NetError::Model(ModelError::Predefined(_)))
        ));
        assert!(matches!(
            a.create(CreateRequest {
                name: "host".into(),
                ..Default::default()
            }),
            Err(NetError::Model(ModelError::NameTaken(_)))
        ));
        drop(a);
        let (b, _) = Networks::open(Box::new(Shared(store)), settings(dir.path())).unwrap();
        assert_eq!(b.find("bridge").unwrap().id, bridge.id);
        assert_eq!(b.list().len(), 3);
    }
}
