//! berthd's configuration: the flags (dockerd's names) and daemon.json, merged as dockerd merges them.
//!
//! Each daemon.json key maps to one flag through [`KEYS`] (key, long flag name, how the JSON value
//! becomes flag values). The file's values are turned into `--flag=value` arguments and parsed by
//! clap together with the command line, so a key and its flag mean exactly the same thing. A key
//! given both in the file and on the command line is an error, as is a key no flag stands for.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Used when `--config-file` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// berthd's flags (dockerd's names).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "berthd",
    version,
    about = "The Berth engine daemon (Docker Engine API)"
)]
pub struct Flags {
    /// Daemon socket to listen on: unix:///path, tcp://host:port (with --tlsverify only), or
    /// fd:// (the sockets systemd passes, LISTEN_FDS)
    #[arg(
        short = 'H',
        long = "host",
        default_value = "unix:///run/berth/berth.sock"
    )]
    pub host: Vec<String>,
    /// Root of persistent state
    #[arg(long = "data-root", default_value = "/var/lib/berth")]
    pub data_root: PathBuf,
    /// Root of runtime state (sockets, runtime state, exit files)
    #[arg(long = "exec-root", default_value = "/run/berth")]
    pub exec_root: PathBuf,
    /// Group owning the unix sockets berthd makes (members use the API without sudo); left to
    /// root when the group does not exist
    #[arg(short = 'G', long = "group", default_value = "berth")]
    pub group: String,
    /// Path of the daemon's pid file
    #[arg(short = 'p', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// Log level: debug, info, warn, error, fatal
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Register a runc-compatible runtime: name=path
    #[arg(long = "add-runtime")]
    pub add_runtime: Vec<String>,
    /// Runtime used when a container names none
    #[arg(long = "default-runtime", default_value = "berth")]
    pub default_runtime: String,
    /// dockerd-style daemon.json (default: /etc/berth/daemon.json when it exists); a key also
    /// given as a flag is an error
    #[arg(long = "config-file")]
    pub config_file: Option<PathBuf>,
    /// Bridge of the default network; "none" leaves containers with loopback only
    #[arg(short = 'b', long = "bridge", default_value = "berth0")]
    pub bridge: String,
    /// Address and subnet of the bridge, e.g. 172.18.0.1/16 (default: the first
    /// 172.17-31.0.0/16 no host route uses)
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// Give the default bridge's containers IPv6 addresses too (needs --fixed-cidr-v6)
    #[arg(long = "ipv6", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub ipv6: bool,
    /// The default bridge's IPv6 subnet, e.g. fd00:1::/64
    #[arg(long = "fixed-cidr-v6")]
    pub fixed_cidr_v6: Option<String>,
    /// Directory of CNI plugin binaries (Debian's containernetworking-plugins)
    #[arg(long = "cni-plugin-dir", default_value = "/usr/lib/cni")]
    pub cni_plugin_dir: PathBuf,
    /// Directory whose .conflist files become networks (driver cni) at start
    #[arg(long = "cni-config-dir", default_value = "/etc/berth/cni")]
    pub cni_config_dir: PathBuf,
    /// Add NAT and published-port rules with iptables
    #[arg(long = "iptables", default_value_t = true, action = clap::ArgAction::Set)]
    pub iptables: bool,
    /// Give containers' veths BIG TCP's 192 KiB GSO/GRO sizes (Linux 6.7+; the MTU stays): faster
    /// TCP between containers; false keeps the kernel's 64 KiB, as Docker
    #[arg(long = "big-tcp", default_value_t = true, action = clap::ArgAction::Set)]
    pub big_tcp: bool,
    /// Where those rules go: iptables (chains BERTH-* in iptables and ip6tables) or nftables
    /// (table inet berth)
    #[arg(long = "firewall-backend", default_value = "iptables", value_parser = ["iptables", "nftables"])]
    pub firewall_backend: String,
    /// The daemon's own chain prefix (PREFIX-FORWARD, ...) and nft table (berth_prefix), so
    /// daemons sharing a host (tests) keep their rules apart; letters, digits, _ (at most 16)
    #[arg(long = "firewall-prefix", hide = true, value_parser = firewall_prefix)]
    pub firewall_prefix: Option<String>,
    /// Require clients on TCP sockets to present a certificate signed by --tlscacert
    #[arg(long = "tlsverify", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub tlsverify: bool,
    /// CA certificate that signs the clients' certificates (TCP sockets)
    #[arg(long = "tlscacert")]
    pub tlscacert: Option<PathBuf>,
    /// The server's TLS certificate (TCP sockets)
    #[arg(long = "tlscert")]
    pub tlscert: Option<PathBuf>,
    /// The server's TLS key (TCP sockets)
    #[arg(long = "tlskey")]
    pub tlskey: Option<PathBuf>,
    /// Run an init (berth-init) inside containers that do not set HostConfig.Init
    #[arg(long = "init", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub init: bool,
    /// The init binary (default: berth-init next to berthd, else on PATH)
    #[arg(long = "init-path")]
    pub init_path: Option<PathBuf>,
    /// Run containers in a user namespace: "default" (the berthremap user, made if missing) or
    /// user[:group] with ranges in /etc/subuid and /etc/subgid
    #[arg(long = "userns-remap")]
    pub userns_remap: Option<String>,
    /// The most one decompressed stream may hold: a loaded or imported archive, or a layer when it
    /// is checked or unpacked (bytes, or with a k/m/g/t suffix, binary units); larger ones fail
    /// and leave nothing behind
    #[arg(long = "max-uncompressed-size", default_value = "64g", value_parser = parse_size)]
    pub max_uncompressed_size: u64,
    /// File contents of one build's context kept in memory (bytes, or with a k/m/g/t suffix);
    /// the rest goes to an unnamed temporary file under the data root
    #[arg(long = "build-context-memory", default_value = "64m", value_parser = parse_size)]
    pub build_context_memory: u64,
    /// Apply the learned profile an image carries (label run.berth.profile) to its containers
    /// by default (enforce), or never (off)
    #[arg(long = "security-profiles", default_value = "enforce", value_parser = ["enforce", "off"])]
    pub security_profiles: String,
    /// Where legacy plugins are looked for, in order (repeatable; in each: NAME.sock, NAME/NAME.sock,
    /// NAME.spec, NAME/NAME.spec, NAME.json, NAME/NAME.json). Default: dockerd's /run/docker/plugins,
    /// /etc/docker/plugins, /usr/lib/docker/plugins
    #[arg(long = "plugin-dir")]
    pub plugin_dir: Vec<PathBuf>,
    /// How long calls wait for a plugin that cannot be reached yet (it may be starting), retrying
    /// with back-off, before they fail (seconds; dockerd waits 30)
    #[arg(long = "plugin-retry-timeout", default_value_t = 30.0)]
    pub plugin_retry_timeout: f64,
    /// The shim binary (default: berth-shim next to berthd, else on PATH)
    #[arg(long = "shim-binary", hide = true)]
    pub shim_binary: Option<PathBuf>,
    /// Debug output (the same as --log-level debug)
    #[arg(short = 'D', long = "debug", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub debug: bool,
    /// A label for the daemon (key=value), shown by `docker info`
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// A registry spoken to over plain http (host:port, or a CIDR of its addresses);
    /// 127.0.0.0/8 always is
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// A mirror tried before Docker Hub for docker.io images (http(s)://host[:port])
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Log driver of containers that name none (json-file, local, none)
    #[arg(long = "log-driver", default_value = "json-file")]
    pub log_driver: String,
    /// Option of the default log driver (key=value), for containers that name no driver
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// DNS server of containers that set none
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// DNS option of containers that set none
    #[arg(long = "dns-opt")]
    pub dns_opts: Vec<String>,
    /// DNS search domain of containers that set none
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Ulimit of containers that do not set that one: name=soft[:hard]
    #[arg(long = "default-ulimit")]
    pub default_ulimits: Vec<String>,
    /// Pool for networks created without a subnet: base=CIDR,size=PREFIX (accepted, not yet applied)
    #[arg(long = "default-address-pool")]
    pub default_address_pools: Vec<String>,
    /// Turn on the host's IPv4 forwarding (net.ipv4.ip_forward) for the bridge's NAT
    #[arg(long = "ip-forward", default_value_t = true, action = clap::ArgAction::Set)]
    pub ip_forward: bool,
    /// Experimental features (shown by `docker version` / `docker info`)
    #[arg(long = "experimental", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub experimental: bool,
    /// A daemon feature switched on or off: name=true|false (daemon.json "features")
    #[arg(long = "feature", hide = true)]
    pub features: Vec<String>,
    /// Authorization plugin consulted for every API request
    #[arg(long = "authorization-plugin")]
    pub authorization_plugins: Vec<String>,
    /// Seconds to let in-flight requests finish on SIGTERM before exiting
    #[arg(long = "shutdown-timeout", default_value_t = 15)]
    pub shutdown_timeout: u64,
    /// Check the flags and the configuration file, print "configuration OK" and exit
    #[arg(long = "validate")]
    pub validate: bool,
}

/// A size such as `512m` or `64g` (binary units; a plain number is bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
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

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a JSON object, or a value has the wrong shape.
    #[error("unable to configure the Berth daemon with file {path}: {msg}")]
    File { path: PathBuf, msg: String },
    /// The flags (with the file's values) do not parse.
    #[error("{0}")]
    Flags(#[from] clap::Error),
}

/// How a JSON value becomes flag values.
type Convert = fn(&Value) -> Result<Vec<String>, String>;

/// One daemon.json key: its name, the long flag it stands for, and the conversion.
pub struct Key {
    pub key: &'static str,
    pub flag: &'static str,
    convert: Convert,
}

const fn key(key: &'static str, flag: &'static str, convert: Convert) -> Key {
    Key { key, flag, convert }
}

/// Every daemon.json key berthd knows (dockerd's names). One line per key.
pub const KEYS: &[Key] = &[
    key("hosts", "host", strings),
    key("data-root", "data-root", string),
    key("exec-root", "exec-root", string),
    key("pidfile", "pidfile", string),
    key("group", "group", string),
    key("log-level", "log-level", string),
    key("debug", "debug", boolean),
    key("runtimes", "add-runtime", runtimes),
    key("default-runtime", "default-runtime", string),
    key("bridge", "bridge", string),
    key("bip", "bip", string),
    key("ipv6", "ipv6", boolean),
    key("fixed-cidr-v6", "fixed-cidr-v6", string),
    key("cni-plugin-dir", "cni-plugin-dir", string),
    key("cni-config-dir", "cni-config-dir", string),
    key("security-profiles", "security-profiles", string),
    key("iptables", "iptables", boolean),
    key("firewall-backend", "firewall-backend", string),
    key("big-tcp", "big-tcp", boolean),
    key("ip-forward", "ip-forward", boolean),
    key("tlsverify", "tlsverify", boolean),
    key("tlscacert", "tlscacert", string),
    key("tlscert", "tlscert", string),
    key("tlskey", "tlskey", string),
    key("init", "init", boolean),
    key("init-path", "init-path", string),
    key("userns-remap", "userns-remap", string),
    key("max-uncompressed-size", "max-uncompressed-size", scalar),
    key("build-context-memory", "build-context-memory", scalar),
    key("labels", "label", strings),
    key("insecure-registries", "insecure-registry", strings),
    key("registry-mirrors", "registry-mirror", strings),
    key("log-driver", "log-driver", string),
    key("log-opts", "log-opt", string_map),
    key("dns", "dns", strings),
    key("dns-opts", "dns-opt", strings),
    key("dns-search", "dns-search", strings),
    key("default-ulimits", "default-ulimit", ulimits),
    key(
        "default-address-pools",
        "default-address-pool",
        address_pools,
    ),
    key("experimental", "experimental", boolean),
    key("features", "feature", features),
    key("authorization-plugins", "authorization-plugin", strings),
    key("shutdown-timeout", "shutdown-timeout", scalar),
];

/// A chain prefix iptables takes (its chain names hold at most 28 characters).
fn firewall_prefix(s: &str) -> Result<String, String> {
    let ok =
        !s.is_empty() && s.len() <= 16 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err("want 1-16 letters, digits or _".into())
    }
}

fn string(v: &Value) -> Result<Vec<String>, String> {
    v.as_str()
        .map(|s| vec![s.to_string()])
        .ok_or_else(|| "want a string".into())
}

fn scalar(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        _ => Err("want a number or a string".into()),
    }
}

fn boolean(v: &Value) -> Result<Vec<String>, String> {
    v.as_bool()
        .map(|b| vec![b.to_string()])
        .ok_or_else(|| "want true or false".into())
}

fn strings(v: &Value) -> Result<Vec<String>, String> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| "want a list of strings".into())
}

fn object(v: &Value) -> Result<&serde_json::Map<String, Value>, String> {
    v.as_object().ok_or_else(|| "want an object".into())
}

/// `{"name": {"path": "/usr/bin/runc"}}` → `name=/usr/bin/runc`.
fn runtimes(v: &Value) -> Result<Vec<String>, String> {
    object(v)?
        .iter()
        .map(|(name, r)| match r["path"].as_str() {
            Some(p) => Ok(format!("{name}={p}")),
            None => Err(format!(
                "runtime {name:?}: want {{\"path\": \"/path/to/binary\"}}"
            )),
        })
        .collect()
}

/// `{"max-size": "10m"}` → `max-size=10m`.
fn string_map(v: &Value) -> Result<Vec<String>, String> {
    object(v)?
        .iter()
        .map(|(k, x)| match x.as_str() {
            Some(s) => Ok(format!("{k}={s}")),
            None => Err(format!("{k}: want a string")),
        })
        .collect()
}

/// `{"feature": true}` → `feature=true`.
fn features(v: &Value) -> Result<Vec<String>, String> {
    object(v)?
        .iter()
        .map(|(k, x)| match x.as_bool() {
            Some(b) => Ok(format!("{k}={b}")),
            None => Err(format!("{k}: want true or false")),
        })
        .collect()
}

/// `{"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}}` → `nofile=1024:2048`.
fn ulimits(v: &Value) -> Result<Vec<String>, String> {
    object(v)?
        .iter()
        .map(|(k, u)| {
            let n = |f: &str| {
                u[f].as_i64()
                    .ok_or_else(|| format!("{k}: want {f} as a number"))
            };
            let name = u["Name"].as_str().unwrap_or(k);
            Ok(format!("{name}={}:{}", n("Soft")?, n("Hard")?))
        })
        .collect()
}

/// `[{"base": "10.10.0.0/16", "size": 24}]` → `base=10.10.0.0/16,size=24`.
fn address_pools(v: &Value) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or("want a list of {\"base\": CIDR, \"size\": PREFIX}")?
        .iter()
        .map(|p| match (p["base"].as_str(), p["size"].as_u64()) {
            (Some(b), Some(s)) => Ok(format!("base={b},size={s}")),
            _ => Err(format!("{p}: want {{\"base\": CIDR, \"size\": PREFIX}}")),
        })
        .collect()
}

/// A value as dockerd's conflict message shows it (strings bare, lists in brackets).
fn shown(vals: &[String]) -> String {
    match vals {
        [one] => one.clone(),
        many => format!("[{}]", many.join(" ")),
    }
}

/// The flag arguments daemon.json stands for, after checking it against the command line.
fn file_args(
    path: &Path,
    text: &str,
    cli: &ArgMatches,
    cmd: &clap::Command,
) -> Result<Vec<String>, ConfigError> {
    let bad = |msg: String| ConfigError::File {
        path: path.to_path_buf(),
        msg,
    };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("want a JSON object".into()))?;
    let unknown: Vec<&str> = obj
        .keys()
        .filter(|k| !KEYS.iter().any(|key| key.key == k.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(bad(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        )));
    }
    let mut args = Vec::new();
    let mut conflicts = Vec::new();
    for k in KEYS {
        let Some(val) = obj.get(k.key) else { continue };
        let vals = (k.convert)(val).map_err(|e| bad(format!("{}: {e}", k.key)))?;
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(k.flag))
            .unwrap_or_else(|| panic!("daemon.json key {} names no flag --{}", k.key, k.flag));
        let id = arg.get_id().as_str();
        if cli.value_source(id) == Some(ValueSource::CommandLine) {
            let from_flag: Vec<String> = cli
                .get_raw(id)
                .map(|r| r.map(|s| s.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            conflicts.push(format!(
                "{}: (from flag: {}, from file: {})",
                k.key,
                shown(&from_flag),
                shown(&vals)
            ));
            continue;
        }
        args.extend(vals.into_iter().map(|x| format!("--{}={x}", k.flag)));
    }
    if !conflicts.is_empty() {
        return Err(bad(format!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        )));
    }
    Ok(args)
}

/// The configuration file in effect: `--config-file`, else the default one if it exists.
pub fn config_path(cli: &ArgMatches) -> Option<PathBuf> {
    match cli.get_one::<PathBuf>("config_file") {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
    }
}

/// Parse `argv` (the program name first) and the configuration file into the flags in effect.
pub fn load(argv: &[String]) -> Result<Flags, ConfigError> {
    let cmd = Flags::command();
    let cli = cmd.clone().try_get_matches_from(argv)?;
    let Some(path) = config_path(&cli) else {
        return Ok(Flags::from_arg_matches(&cli)?);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let mut all: Vec<String> = argv.iter().take(1).cloned().collect();
    all.extend(file_args(&path, &text, &cli, &cmd)?);
    all.extend(argv.iter().skip(1).cloned());
    let merged = cmd.try_get_matches_from(all)?;
    let mut f = Flags::from_arg_matches(&merged)?;
    f.config_file = Some(path);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(json: &str, flags: &[&str]) -> Result<Flags, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, json).unwrap();
        let mut argv = vec![
            "berthd".to_string(),
            format!("--config-file={}", p.display()),
        ];
        argv.extend(flags.iter().map(|s| s.to_string()));
        load(&argv).map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_names_a_flag() {
        let cmd = Flags::command();
        for k in KEYS {
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some(k.flag)),
                "{} -> --{}",
                k.key,
                k.flag
            );
        }
    }

    #[test]
    fn file_values_become_flags() {
        let f = with_file(
            r#"{"data-root": "/srv/b", "debug": true, "labels": ["a=b", "c=d"],
                "runtimes": {"crun": {"path": "/usr/bin/crun"}}, "log-opts": {"max-size": "1m"},
                "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 2048, "Soft": 1024}},
                "shutdown-timeout": 3, "iptables": false, "registry-mirrors": ["http://m:5000"]}"#,
            &["--bridge", "none"],
        )
        .unwrap();
        assert_eq!(f.data_root, PathBuf::from("/srv/b"));
        assert!(f.debug && !f.iptables);
        assert_eq!(f.labels, ["a=b", "c=d"]);
        assert_eq!(f.add_runtime, ["crun=/usr/bin/crun"]);
        assert_eq!(f.log_opts, ["max-size=1m"]);
        assert_eq!(f.default_ulimits, ["nofile=1024:2048"]);
        assert_eq!(f.shutdown_timeout, 3);
        assert_eq!(f.registry_mirrors, ["http://m:5000"]);
        assert_eq!(f.bridge, "none");
    }

    #[test]
    fn firewall_backend_from_the_file_or_the_flag() {
        let f = with_file(r#"{"firewall-backend": "nftables"}"#, &[]).unwrap();
        assert_eq!(f.firewall_backend, "nftables");
        let f = with_file("{}", &[]).unwrap();
        assert_eq!(f.firewall_backend, "iptables");
        let e = with_file("{}", &["--firewall-backend", "pf"]).unwrap_err();
        assert!(e.contains("pf") && e.contains("nftables"), "{e}");
        let f = with_file("{}", &["--firewall-prefix", "BT12_3"]).unwrap();
        assert_eq!(f.firewall_prefix.as_deref(), Some("BT12_3"));
        for bad in ["", "A-B", "X2345678901234567"] {
            let e = with_file("{}", &["--firewall-prefix", bad]).unwrap_err();
            assert!(e.contains("want 1-16 letters, digits or _"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_key_in_both_places_is_refused_as_dockerd_does() {
        let e = with_file(r#"{"data-root": "/y"}"#, &["--data-root", "/x"]).unwrap_err();
        assert!(
            e.contains("the following directives are specified both as a flag and in the configuration file: data-root: (from flag: /x, from file: /y)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = with_file(r#"{"debug": true, "no-such-key": 1}"#, &[]).unwrap_err();
        assert!(
            e.contains(
                "the following directives don't match any configuration option: no-such-key"
            ),
            "{e}"
        );
    }

    #[test]
    fn wrong_shapes_say_which_key() {
        let e = with_file(r#"{"labels": "a=b"}"#, &[]).unwrap_err();
        assert!(e.contains("labels: want a list of strings"), "{e}");
        let e = with_file(r#"{"shutdown-timeout": "soon"}"#, &[]).unwrap_err();
        assert!(e.contains("shutdown-timeout"), "{e}");
        let e = with_file("[1]", &[]).unwrap_err();
        assert!(e.contains("want a JSON object"), "{e}");
    }
}
