//! The daemon's shared state: configuration, the state store, the image store and snapshotter, and the
//! container registry. Handlers get an `Arc<Daemon>`.

use crate::containers::registry::Registry;
use crate::store::StateStore;
use anyhow::{Context, Result};
use berth_image::snapshot::OverlaySnapshotter;
use std::path::PathBuf;
use std::sync::Arc;

/// Settings from the command line and daemon.json that stay for the daemon's life (the ones
/// SIGHUP can change are in [`crate::live::Live`]).
#[derive(Debug)]
pub struct Config {
    /// Unix sockets to serve.
    pub sockets: Vec<PathBuf>,
    /// `--group`: the group given the unix sockets, if it exists.
    pub socket_group: Option<nix::unistd::Gid>,
    /// TCP addresses to serve (host:port), with mutual TLS.
    pub tcp: Vec<String>,
    /// Listening sockets systemd passed (`-H fd://`), taken over by the server.
    pub listen_fds: std::sync::Mutex<Vec<std::os::fd::OwnedFd>>,
    /// The TLS server config for the TCP addresses (client certificates required).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Persistent state.
    pub data_root: PathBuf,
    /// Runtime state.
    pub exec_root: PathBuf,
    /// The shim binary.
    pub shim: PathBuf,
    /// Bridge of the default network (None: loopback only).
    pub bridge: Option<String>,
    /// The bridge's address/prefix, when given.
    pub bip: Option<String>,
    /// `--default-address-pool`: where the default bridge (without `--bip`) and networks without
    /// a subnet take theirs.
    pub address_pools: Vec<berth_net::model::AddressPool>,
    /// `--cni-plugin-dir`: CNI plugin binaries.
    pub cni_plugin_dir: PathBuf,
    /// `--cni-config-dir`: conflists that become networks at start.
    pub cni_config_dir: PathBuf,
    /// `--ipv6 --fixed-cidr-v6 CIDR`: the default bridge's IPv6 subnet.
    pub fixed_cidr_v6: Option<String>,
    /// `--big-tcp`: the GSO/GRO size limits of bridge networks' veths (None: the kernel's).
    pub big_tcp: Option<u32>,
    /// Whether to manage iptables rules.
    pub iptables: bool,
    /// `--firewall-backend nftables`: the rules in an nft table instead.
    pub nftables: bool,
    /// `--firewall-prefix`: the daemon's own chain prefix and nft table.
    pub firewall_prefix: Option<String>,
    /// `--userns-remap`: the user namespace mapping containers run with.
    pub remap: Option<Arc<crate::userns::Remap>>,
    /// `--init`: containers that do not say run under berth-init.
    pub init: bool,
    /// The berth-init binary bind-mounted at /dev/init.
    pub init_binary: PathBuf,
    /// `--max-uncompressed-size`: the most one decompressed stream (a loaded archive, a layer)
    /// may hold.
    pub max_uncompressed: u64,
    /// `--build-context-memory`: file contents of one build context held in memory (the rest
    /// spills to an unnamed file in `<data-root>/build`).
    pub build_context_memory: u64,
    /// `--security-profiles=enforce`: images' learned profiles apply by default.
    pub security_profiles: bool,
    /// Log driver, DNS and ulimits of containers that set none.
    pub defaults: crate::containers::defaults::Defaults,
    /// `--experimental`.
    pub experimental: bool,
    /// `--plugin-dir`: where legacy plugins are looked for, in order.
    pub plugin_dirs: Vec<PathBuf>,
    /// Retry budget and time limits of plugin calls.
    pub plugin_settings: berth_plugin::Settings,
    /// `--authorization-plugin`: the chain asked about every request.
    pub authz: Vec<String>,
}

/// Everything the handlers share.
pub struct Daemon {
    /// Settings.
    pub cfg: Config,
    /// The settings SIGHUP reloads.
    pub live: std::sync::RwLock<crate::live::Live>,
    /// Container records.
    pub db: StateStore,
    /// Image content store.
    pub images: berth_image::Store,
    /// Layers and container root filesystems.
    pub snap: OverlaySnapshotter,
    /// Serializes image mutations (load, import, tag, delete) against each other and container creation.
    pub image_lock: tokio::sync::Mutex<()>,
    /// Live view of the containers.
    pub containers: Registry,
    /// The event bus.
    pub events: crate::events::Events,
    /// Exec instances.
    pub execs: crate::containers::exec::Execs,
    /// Engine ID shown by `docker info`.
    pub engine_id: String,
    /// The default bridge network, when there is one.
    pub bridge: Option<Arc<berth_net::BridgeNetwork>>,
    /// Every network: the predefined ones and the user-defined bridges.
    pub networks: berth_net::networks::Networks,
    /// Starts the kernel's cgroup-migration grace period ahead of a container start.
    pub warmup: crate::containers::warmup::Warmup,
    /// A shim started ahead of the next container start.
    pub shim_standby: crate::containers::shim::StandbySlot,
    /// The local volumes with a filesystem mounted, and the containers holding each.
    pub volume_mounts: crate::volumes::local::Active,
    /// Learned security profiles and the learning runs in progress.
    pub profiles: Arc<crate::profiles::Profiles>,
    /// Legacy plugins (volume, authz; network and IPAM later), activated on first use.
    pub plugins: Arc<berth_plugin::Plugins>,
    /// Managed plugins (`docker plugin ...`), run as containers and registered in `plugins`.
    pub managed: crate::plugins::Managed,
}

/// The firewall of this daemon's networks: one set of chains (or one nft table) per default
/// bridge, so daemons with other bridges keep apart (`BERTH` for berth0, and for daemons without
/// a default bridge), unless `--firewall-prefix` names them.
fn make_firewall(
    cfg: &Config,
) -> Box<dyn Fn() -> Box<dyn berth_net::firewall::Firewall> + Send + Sync> {
    if !cfg.iptables {
        return Box::new(|| Box::new(berth_net::firewall::NoFirewall));
    }
    let chain = firewall_prefix(cfg);
    if cfg.nftables {
        let table = nft_table(&chain);
        return Box::new(move || Box::new(berth_net::firewall::Nftables::new(&table)));
    }
    Box::new(move || {
        Box::new(berth_net::firewall::Iptables {
            chain: chain.clone(),
        })
    })
}

/// The chain prefix of this daemon's iptables rules.
pub fn firewall_prefix(cfg: &Config) -> String {
    if let Some(p) = &cfg.firewall_prefix {
        return p.clone();
    }
    match cfg.bridge.as_deref() {
        None | Some("berth0") => "BERTH".to_string(),
        Some(name) => name.to_uppercase().chars().take(10).collect(),
    }
}

/// The nft table of a chain prefix: `berth` for BERTH, else `berth_<prefix>` in lower case.
pub fn nft_table(prefix: &str) -> String {
    if prefix == "BERTH" {
        "berth".into()
    } else {
        format!("berth_{}", prefix.to_lowercase())
    }
}

/// The registry of networks (predefined and user-defined), from the database.
fn open_networks(
    cfg: &Config,
    bridge: Option<&berth_net::BridgeNetwork>,
    plugins: &Arc<berth_plugin::Plugins>,
) -> Result<berth_net::networks::Networks> {
    let table = crate::store::NetworkTable::open(&cfg.data_root.join("berthd.db"))?;
    // The networks' resolvers forward what they do not know to `--dns`, else to the host's servers.
    let host_resolv = if cfg.defaults.dns.is_empty() {
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    } else {
        cfg.defaults
            .dns
            .iter()
            .map(|d| format!("nameserver {d}\n"))
            .collect()
    };
    let settings = berth_net::networks::Settings {
        state_dir: cfg.data_root.join("network"),
        firewall: make_firewall(cfg),
        upstream: Arc::new(berth_net::dns::UdpUpstream::from_resolv_conf(&host_resolv)),
        default_bridge: bridge.map(|b| (b.bridge_name().to_string(), b.subnet())),
        default_bridge6: bridge.and_then(|b| b.subnet6()),
        address_pools: cfg.address_pools.clone(),
        big_tcp: cfg.big_tcp,
        dns_port: 53,
        cni: Some(berth_net::cni_net::CniDirs {
            plugin_dir: cfg.cni_plugin_dir.clone(),
            config_dir: cfg.cni_config_dir.clone(),
            cache_dir: cfg.data_root.join("network").join("cni-cache"),
        }),
        // Docker's network and IPAM plugins, found as the volume and authorization ones are.
        plugins: Some(berth_net::remote_net::Plugins {
            resolver: Arc::new(crate::net_plugins::Resolver::new(
                plugins.clone(),
                tokio::runtime::Handle::current(),
            )),
            sandbox: Arc::new(berth_net::remote_net::KernelSandbox),
        }),
    };
    let (nets, problems) = berth_net::networks::Networks::open(Box::new(table), settings)?;
    for p in problems {
        crate::log!(3, "{p}");
    }
    Ok(nets)
}

/// Open the default bridge network: the bridge, its subnet and NAT rules.
fn open_bridge(cfg: &Config) -> anyhow::Result<Option<Arc<berth_net::BridgeNetwork>>> {
    let Some(name) = &cfg.bridge else {
        return Ok(None);
    };
    let subnet: berth_net::ipam::Subnet = match &cfg.bip {
        Some(b) => b.parse()?,
        None => berth_net::pick_subnet(name, &cfg.address_pools)?,
    };
    let firewall = make_firewall(cfg)();
    let mut net = berth_net::BridgeNetwork::open(
        "bridge",
        name,
        subnet,
        &cfg.data_root.join("network"),
        firewall,
    )?;
    net.set_big_tcp(cfg.big_tcp);
    if let Some(v6) = &cfg.fixed_cidr_v6 {
        let subnet6: berth_net::ipam6::Subnet6 = v6
            .parse()
            .map_err(|e| anyhow::anyhow!("--fixed-cidr-v6: {e}"))?;
        if let Err(e) = net.enable_ipv6(subnet6, &cfg.data_root.join("network")) {
            let _ = net.remove();
            return Err(e.into());
        }
    }
    Ok(Some(Arc::new(net)))
}

impl Daemon {
    /// Open the stores under the data root and restore the containers.
    pub async fn open(cfg: Config, live: crate::live::Live) -> Result<Arc<Daemon>> {
        for d in [
            cfg.data_root.join("containers"),
            cfg.exec_root.join("containers"),
            cfg.exec_root.join("s"),
        ] {
            std::fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
        }
        crate::containers::trash::sweep(&cfg.data_root.join("containers"));
        crate::containers::trash::sweep(&cfg.exec_root.join("containers"));
        let db = StateStore::open(&cfg.data_root.join("berthd.db"))?;
        let images = berth_image::Store::open(cfg.data_root.join("images"))?;
        images.set_max_uncompressed(cfg.max_uncompressed);
        let snap = OverlaySnapshotter::open(cfg.data_root.join("overlay"))?;
        let profiles = Arc::new(crate::profiles::Profiles::new(&cfg.data_root));
        let engine_id = db.meta_or_init("engine-id", crate::containers::model::new_engine_id)?;
        let records = db.all()?;
        // Without a bridge containers still run (loopback only); say why.
        let bridge = match open_bridge(&cfg) {
            Ok(b) => b,
            Err(e) => {
                crate::log!(
                    3,
                    "default bridge network unavailable, containers get loopback only: {e:#}"
                );
                None
            }
        };
        let plugins = Arc::new(berth_plugin::Plugins::new(
            cfg.plugin_dirs.clone(),
            cfg.plugin_settings.clone(),
        ));
        let networks = open_networks(&cfg, bridge.as_deref(), &plugins)?;
        // Managed plugins run on Berth's own runtime (the configured default if it is missing).
        let plugin_runtime = live
            .runtimes
            .get("berth")
            .or_else(|| live.runtimes.get(&live.default_runtime))
            .cloned()
            .unwrap_or_else(|| std::path::PathBuf::from("berth-runtime"));
        let managed = crate::plugins::open(&cfg, plugin_runtime, plugins.clone())?;
        let execs = crate::containers::exec::Execs::new(cfg.exec_root.clone());
        let d = Arc::new(Daemon {
            cfg,
            live: std::sync::RwLock::new(live),
            db,
            images,
            snap,
            image_lock: tokio::sync::Mutex::new(()),
            containers: Registry::default(),
            execs,
            events: Default::default(),
            engine_id,
            bridge,
            networks,
            warmup: crate::containers::warmup::Warmup::detect(),
            shim_standby: Default::default(),
            volume_mounts: Default::default(),
            profiles,
            plugins,
            managed,
        });
        // Enabled plugins first: the containers' plugin volumes need them.
        let d2 = d.clone();
        let errs = tokio::task::spawn_blocking(move || d2.managed.manager.restore())
            .await
            .unwrap_or_default();
        for e in errs {
            crate::log!(3, "restoring a managed plugin: {e}");
        }
        crate::containers::recover::restore(&d, records).await;
        crate::containers::shim::refill(&d);
        crate::containers::spares::sweep_all(&d);
        crate::containers::spares::refill_dirs(&d);
        Ok(d)
    }

    /// The reloadable settings as they are now.
    pub fn live(&self) -> crate::live::Live {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Swap in reloaded settings.
    pub fn set_live(&self, l: crate::live::Live) {
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = l;
    }

    /// The binary of a runtime by name.
    pub fn runtime_path(&self, name: &str) -> Option<PathBuf> {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .runtimes
            .get(name)
            .cloned()
    }

    /// Start the kernel's cgroup-migration grace period ahead of a container
    /// start (see `containers::warmup`), unless the default runtime is
    /// Berth's own: berth-runtime's processes enter their cgroups without a
    /// move by pid, so for them the warm-up would only cost a grace period
    /// and a moment of the global lock that every fork takes.
    pub fn warm_cgroups(&self) {
        let ours = self.default_runtime() == "berth" || self.own_default_runtime().is_some();
        if !ours {
            self.warmup.kick();
        }
    }

    /// The default runtime's binary if it is Berth's own (berth-runtime, by its file name).
    pub fn own_default_runtime(&self) -> Option<PathBuf> {
        self.runtime_path(&self.default_runtime()).filter(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("berth-runtime"))
        })
    }

    /// The runtime of containers that name none.
    pub fn default_runtime(&self) -> String {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .default_runtime
            .clone()
    }
}
