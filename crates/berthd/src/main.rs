//! berthd: the Berth engine daemon. It serves the Docker Engine API on a unix socket (`-H`), keeps its
//! state in `<data-root>` (SQLite for containers, berth-image's store and overlay snapshotter for images)
//! and runs containers through `berth-shim` + a runc-compatible runtime, with per-container files in
//! `<exec-root>`.

#![recursion_limit = "256"]

mod api;
mod archive;
mod builder;
mod containers;
mod crash;
mod daemon;
mod error;
mod events;
mod http;
mod images;
mod logging;
mod store;
mod time;
mod tls;
mod userns;
mod volumes;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// berthd's flags (dockerd's names).
#[derive(Parser, Debug)]
#[command(name = "berthd", about = "The Berth engine daemon (Docker Engine API)")]
struct Flags {
    /// Daemon socket to listen on: unix:///path, or tcp://host:port (with --tlsverify only)
    #[arg(
        short = 'H',
        long = "host",
        default_value = "unix:///run/berth/berth.sock"
    )]
    host: Vec<String>,
    /// Root of persistent state
    #[arg(long = "data-root", default_value = "/var/lib/berth")]
    data_root: PathBuf,
    /// Root of runtime state (sockets, runtime state, exit files)
    #[arg(long = "exec-root", default_value = "/run/berth")]
    exec_root: PathBuf,
    /// Path of the daemon's pid file
    #[arg(short = 'p', long = "pidfile")]
    pidfile: Option<PathBuf>,
    /// Log level: debug, info, warn, error, fatal
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    log_level: String,
    /// Register a runc-compatible runtime: name=path
    #[arg(long = "add-runtime")]
    add_runtime: Vec<String>,
    /// Runtime used when a container names none
    #[arg(long = "default-runtime", default_value = "berth")]
    default_runtime: String,
    /// dockerd-style daemon.json (hosts, data-root, exec-root, pidfile, log-level, runtimes,
    /// default-runtime); flags given on the command line win
    #[arg(long = "config-file")]
    config_file: Option<PathBuf>,
    /// Bridge of the default network; "none" leaves containers with loopback only
    #[arg(short = 'b', long = "bridge", default_value = "berth0")]
    bridge: String,
    /// Address and subnet of the bridge, e.g. 172.18.0.1/16 (default: the first
    /// 172.17-31.0.0/16 no host route uses)
    #[arg(long = "bip")]
    bip: Option<String>,
    /// Add NAT and published-port rules with iptables
    #[arg(long = "iptables", default_value_t = true, action = clap::ArgAction::Set)]
    iptables: bool,
    /// Require clients on TCP sockets to present a certificate signed by --tlscacert
    #[arg(long = "tlsverify", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    tlsverify: bool,
    /// CA certificate that signs the clients' certificates (TCP sockets)
    #[arg(long = "tlscacert")]
    tlscacert: Option<PathBuf>,
    /// The server's TLS certificate (TCP sockets)
    #[arg(long = "tlscert")]
    tlscert: Option<PathBuf>,
    /// The server's TLS key (TCP sockets)
    #[arg(long = "tlskey")]
    tlskey: Option<PathBuf>,
    /// Run an init (berth-init) inside containers that do not set HostConfig.Init
    #[arg(long = "init", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    init: bool,
    /// The init binary (default: berth-init next to berthd, else on PATH)
    #[arg(long = "init-path")]
    init_path: Option<PathBuf>,
    /// Run containers in a user namespace: "default" (the berthremap user, made if missing) or
    /// user[:group] with ranges in /etc/subuid and /etc/subgid
    #[arg(long = "userns-remap")]
    userns_remap: Option<String>,
    /// The most one decompressed stream may hold: a loaded or imported archive, or a layer when it
    /// is checked or unpacked (bytes, or with a k/m/g/t suffix, binary units); larger ones fail
    /// and leave nothing behind
    #[arg(long = "max-uncompressed-size", default_value = "64g", value_parser = parse_size)]
    max_uncompressed_size: u64,
    /// The shim binary (default: berth-shim next to berthd, else on PATH)
    #[arg(long = "shim-binary", hide = true)]
    shim_binary: Option<PathBuf>,
}

/// A size such as `512m` or `64g` (binary units; a plain number is bytes).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'k')) => (&t[..i], 10),
        Some((i, 'm')) => (&t[..i], 20),
        Some((i, 'g')) => (&t[..i], 30),
        Some((i, 't')) => (&t[..i], 40),
        _ => (t, 0),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size {s:?} (e.g. 512m, 64g)"))?;
    n.checked_mul(1u64 << shift)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid size {s:?}"))
}

/// A binary next to this executable, else the bare name (looked up on PATH when run).
fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The first executable `name` in `$PATH`.
fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Fill flags not given on the command line from daemon.json.
fn apply_config_file(f: &mut Flags, m: &clap::ArgMatches) -> Result<()> {
    let Some(path) = &f.config_file else {
        return Ok(());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let default = |id: &str| m.value_source(id) != Some(clap::parser::ValueSource::CommandLine);
    if let (true, Some(h)) = (default("host"), v["hosts"].as_array()) {
        f.host = h
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect();
    }
    for (id, key, slot) in [
        ("data_root", "data-root", &mut f.data_root),
        ("exec_root", "exec-root", &mut f.exec_root),
    ] {
        if let (true, Some(s)) = (default(id), v[key].as_str()) {
            *slot = PathBuf::from(s);
        }
    }
    if let (true, Some(s)) = (default("pidfile"), v["pidfile"].as_str()) {
        f.pidfile = Some(PathBuf::from(s));
    }
    if let (true, Some(s)) = (default("log_level"), v["log-level"].as_str()) {
        f.log_level = s.to_string();
    }
    if let (true, Some(s)) = (default("default_runtime"), v["default-runtime"].as_str()) {
        f.default_runtime = s.to_string();
    }
    if let (true, Some(b)) = (default("tlsverify"), v["tlsverify"].as_bool()) {
        f.tlsverify = b;
    }
    if let (true, Some(s)) = (default("userns_remap"), v["userns-remap"].as_str()) {
        f.userns_remap = Some(s.to_string());
    }
    if let (true, Some(b)) = (default("init"), v["init"].as_bool()) {
        f.init = b;
    }
    if let (true, Some(s)) = (default("init_path"), v["init-path"].as_str()) {
        f.init_path = Some(PathBuf::from(s));
    }
    for (id, slot) in [
        ("tlscacert", &mut f.tlscacert),
        ("tlscert", &mut f.tlscert),
        ("tlskey", &mut f.tlskey),
    ] {
        if let (true, Some(s)) = (default(id), v[id].as_str()) {
            *slot = Some(PathBuf::from(s));
        }
    }
    if let Some(rt) = v["runtimes"].as_object() {
        // Before the command line's, which therefore win for the same name.
        let from_file: Vec<String> = rt
            .iter()
            .filter_map(|(name, r)| r["path"].as_str().map(|p| format!("{name}={p}")))
            .collect();
        f.add_runtime.splice(0..0, from_file);
    }
    Ok(())
}

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

fn main() -> Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("__archive") {
        std::process::exit(archive::helper_main(&argv[2..]));
    }
    if argv.get(1).map(String::as_str) == Some("__userns") {
        std::process::exit(userns::helper_main());
    }
    let matches = <Flags as clap::CommandFactory>::command().get_matches();
    let mut f = <Flags as clap::FromArgMatches>::from_arg_matches(&matches)?;
    apply_config_file(&mut f, &matches)?;
    logging::set_level(&f.log_level)?;
    let mut runtimes = BTreeMap::new();
    runtimes.insert("berth".to_string(), sibling("berth-runtime"));
    for r in &f.add_runtime {
        let (name, path) = r
            .split_once('=')
            .with_context(|| format!("--add-runtime {r:?}: want name=path"))?;
        runtimes.insert(name.to_string(), PathBuf::from(path));
    }
    // Docker's default runtime is named `runc` and clients ask for it by name (`--runtime runc`):
    // it is offered when the runc binary is installed, as dockerd ships it (`berth` stays the default).
    if !runtimes.contains_key("runc") {
        if let Some(runc) = find_in_path("runc") {
            runtimes.insert("runc".to_string(), runc);
        }
    }
    if !runtimes.contains_key(&f.default_runtime) {
        bail!(
            "--default-runtime {:?} is not a known runtime",
            f.default_runtime
        );
    }
    let mut sockets = Vec::new();
    let mut tcp = Vec::new();
    for h in &f.host {
        match (h.strip_prefix("unix://"), tls::parse_tcp(h)) {
            (Some(p), _) if !p.is_empty() => sockets.push(PathBuf::from(p)),
            (_, Some(addr)) => tcp.push(addr),
            _ => bail!("-H {h:?}: want unix:///path or tcp://host:port"),
        }
    }
    let tls = tcp_tls(&f, !tcp.is_empty())?;
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
    let cfg = daemon::Config {
        sockets,
        tcp,
        tls,
        data_root: f.data_root,
        exec_root: f.exec_root,
        runtimes,
        default_runtime: f.default_runtime,
        shim: f.shim_binary.unwrap_or_else(|| sibling("berth-shim")),
        bridge: (f.bridge != "none").then(|| f.bridge.clone()),
        bip: f.bip.clone(),
        iptables: f.iptables,
        init: f.init,
        remap,
        init_binary: f.init_path.clone().unwrap_or_else(|| sibling("berth-init")),
        max_uncompressed: f.max_uncompressed_size,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let d = daemon::Daemon::open(cfg).await?;
        if let Some(p) = &f.pidfile {
            std::fs::write(p, format!("{}\n", std::process::id()))
                .with_context(|| format!("write pid file {}", p.display()))?;
        }
        let res = api::serve(d).await;
        if let Some(p) = &f.pidfile {
            let _ = std::fs::remove_file(p);
        }
        res
    })
}
