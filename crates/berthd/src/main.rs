//! berthd: the Berth engine daemon. It serves the Docker Engine API on a unix socket (`-H`), keeps its
//! state in `<data-root>` (SQLite for containers, berth-image's store and overlay snapshotter for images)
//! and runs containers through `berth-shim` + a runc-compatible runtime, with per-container files in
//! `<exec-root>`.

#![recursion_limit = "256"]

mod api;
mod archive;
mod builder;
mod config;
mod containers;
mod crash;
mod daemon;
mod error;
mod events;
mod http;
mod images;
mod live;
mod logging;
mod net_plugins;
mod plugin_volumes;
mod plugins;
mod profiles;
mod store;
mod time;
mod tls;
mod userns;
mod volumes;

use anyhow::{bail, Context, Result};
use config::Flags;
use std::path::PathBuf;

/// The TLS server config for TCP sockets; refuses TCP without client verification.
fn tcp_tls(f: &Flags, has_tcp: bool) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    if !has_tcp {
        return Ok(None);
    }
    if !f.tlsverify {
        bail!(
            "refusing to listen on TCP without --tlsverify: anyone who can reach the port would be root \
             on this host; give --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (or use a unix socket)"
        );
    }
    let (Some(ca), Some(cert), Some(key)) = (&f.tlscacert, &f.tlscert, &f.tlskey) else {
        bail!("--tlsverify needs --tlscacert, --tlscert and --tlskey");
    };
    let files = tls::TlsFiles {
        ca: ca.clone(),
        cert: cert.clone(),
        key: key.clone(),
    };
    Ok(Some(tls::server_config(&files).context("TLS")?))
}

/// Where the API is served: unix socket paths, TCP addresses, and systemd's sockets (`fd://`).
struct Hosts {
    sockets: Vec<PathBuf>,
    tcp: Vec<String>,
    systemd: bool,
}

fn hosts(f: &Flags) -> Result<Hosts> {
    let mut h = Hosts {
        sockets: Vec::new(),
        tcp: Vec::new(),
        systemd: false,
    };
    for host in &f.host {
        match (host.strip_prefix("unix://"), tls::parse_tcp(host)) {
            (Some(p), _) if !p.is_empty() => h.sockets.push(PathBuf::from(p)),
            (_, Some(addr)) => h.tcp.push(addr),
            _ if host == "fd://" => h.systemd = true,
            _ => bail!("-H {host:?}: want unix:///path, tcp://host:port or fd://"),
        }
    }
    Ok(h)
}

/// Everything that can be checked without touching the system (`--validate` stops here).
/// What `check` found valid: the reloadable settings, the sockets, the container defaults and the
/// address pools.
type Checked = (
    live::Live,
    Hosts,
    containers::defaults::Defaults,
    Vec<berth_net::model::AddressPool>,
);

fn check(f: &Flags) -> Result<Checked> {
    let settings = live::Live::from_flags(f)?;
    let hosts = hosts(f)?;
    let defaults = containers::defaults::Defaults::from_flags(f).map_err(anyhow::Error::msg)?;
    // Refused rather than ignored: a daemon that seems to enforce a policy but does not is worse
    // than one that does not start.
    if !f.ip_forward && f.iptables && f.bridge != "none" {
        bail!(
            "ip-forward false needs iptables false too: berthd's NAT rules turn net.ipv4.ip_forward on"
        );
    }
    let pools = f
        .default_address_pools
        .iter()
        .map(|p| berth_net::model::AddressPool::parse(p))
        .collect::<Result<_, _>>()
        .context("default-address-pools")?;
    Ok((settings, hosts, defaults, pools))
}

fn main() -> Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("__archive") {
        std::process::exit(archive::helper_main(&argv[2..]));
    }
    if argv.get(1).map(String::as_str) == Some("__execwait") {
        std::process::exit(containers::exec::waiter_main(&argv[2..]));
    }
    if argv.get(1).map(String::as_str) == Some("__man") {
        // Packaging: `berthd __man DIR` writes berthd.8.
        let dir = PathBuf::from(argv.get(2).map(String::as_str).unwrap_or("."));
        let mut out = Vec::new();
        clap_mangen::Man::new(<Flags as clap::CommandFactory>::command())
            .section("8")
            .render(&mut out)?;
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("berthd.8"), out)?;
        return Ok(());
    }
    if argv.get(1).map(String::as_str) == Some("__userns") {
        std::process::exit(userns::helper_main());
    }
    let f = match config::load(&argv) {
        Ok(f) => f,
        Err(config::ConfigError::Flags(e)) => e.exit(),
        Err(e) => return Err(e.into()),
    };
    let (settings, hosts, defaults, address_pools) = check(&f)?;
    if f.validate {
        println!("configuration OK");
        return Ok(());
    }
    settings.apply_log_level();
    for feature in &f.features {
        crate::log!(
            2,
            "feature {feature}: berthd has no optional features; ignored"
        );
    }
    let listen_fds = if hosts.systemd {
        let fds = berth_sys::take_listen_fds();
        if fds.is_empty() {
            bail!(
                "-H fd://: no sockets were passed (LISTEN_FDS); start berthd through berthd.socket"
            );
        }
        fds
    } else {
        Vec::new()
    };
    let tls = tcp_tls(&f, !hosts.tcp.is_empty())?;
    if !(f.plugin_retry_timeout >= 0.0 && f.plugin_retry_timeout <= 3600.0) {
        bail!("--plugin-retry-timeout: want seconds between 0 and 3600");
    }
    let plugin_dirs = if f.plugin_dir.is_empty() {
        berth_plugin::discovery::DEFAULT_DIRS
            .iter()
            .map(PathBuf::from)
            .collect()
    } else {
        f.plugin_dir.clone()
    };
    let plugin_settings = berth_plugin::Settings {
        retry_budget: std::time::Duration::from_secs_f64(f.plugin_retry_timeout),
        ..Default::default()
    };
    let remap = match f.userns_remap.as_deref().filter(|s| !s.is_empty()) {
        Some(spec) => {
            let r = userns::Remap::setup(spec, &[&f.data_root, &f.exec_root])
                .with_context(|| format!("--userns-remap {spec}"))?;
            let (uid, gid) = r.root();
            crate::log!(
                1,
                "user namespaces: containers' root is uid {uid} gid {gid} ({}:{})",
                r.user,
                r.group
            );
            Some(std::sync::Arc::new(r))
        }
        None => None,
    };
    if f.iptables && f.firewall_backend == "nftables" && !berth_net::firewall::nft::available() {
        bail!("--firewall-backend nftables: the nft command is missing (Debian package nftables)");
    }
    if f.ip_forward && f.bridge != "none" {
        if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
            crate::log!(2, "ip-forward: enable net.ipv4.ip_forward: {e}");
        }
    }
    let cfg = daemon::Config {
        sockets: hosts.sockets,
        socket_group: nix::unistd::Group::from_name(&f.group)
            .ok()
            .flatten()
            .map(|g| g.gid),
        tcp: hosts.tcp,
        listen_fds: std::sync::Mutex::new(listen_fds),
        tls,
        data_root: f.data_root.clone(),
        exec_root: f.exec_root.clone(),
        shim: f
            .shim_binary
            .clone()
            .unwrap_or_else(|| live::sibling("berth-shim")),
        bridge: (f.bridge != "none").then(|| f.bridge.clone()),
        bip: f.bip.clone(),
        address_pools,
        cni_plugin_dir: f.cni_plugin_dir.clone(),
        cni_config_dir: f.cni_config_dir.clone(),
        fixed_cidr_v6: if f.ipv6 {
            match &f.fixed_cidr_v6 {
                Some(c) => Some(c.clone()),
                None => {
                    anyhow::bail!("--ipv6 needs --fixed-cidr-v6 (the default bridge's IPv6 subnet)")
                }
            }
        } else {
            None
        },
        big_tcp: f.big_tcp.then(berth_net::bridge::big_tcp_size).flatten(),
        iptables: f.iptables,
        nftables: f.firewall_backend == "nftables",
        firewall_prefix: f.firewall_prefix.clone(),
        init: f.init,
        remap,
        init_binary: f
            .init_path
            .clone()
            .unwrap_or_else(|| live::sibling("berth-init")),
        max_uncompressed: f.max_uncompressed_size,
        build_context_memory: f.build_context_memory,
        security_profiles: f.security_profiles == "enforce",
        defaults,
        experimental: f.experimental,
        plugin_dirs,
        plugin_settings,
        authz: f.authorization_plugins.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()?;
    let res = rt.block_on(async move {
        let d = daemon::Daemon::open(cfg, settings).await?;
        if let Some(p) = &f.pidfile {
            std::fs::write(p, format!("{}\n", std::process::id()))
                .with_context(|| format!("write pid file {}", p.display()))?;
        }
        let res = api::serve(d.clone(), argv).await;
        containers::spares::sweep_at_exit(&d);
        if let Some(p) = &f.pidfile {
            let _ = std::fs::remove_file(p);
        }
        res
    });
    // Background work (health checks, exec pumps) does not hold the exit up.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    res
}
