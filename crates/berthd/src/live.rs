//! The settings a running daemon can change: SIGHUP reads the flags and daemon.json again and
//! swaps these in (dockerd's reloadable keys: debug, log-level, labels, insecure-registries,
//! registry-mirrors, runtimes, default-runtime, shutdown-timeout). Containers are not touched; a
//! configuration that does not load leaves the old one in place.

use crate::config::Flags;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("--add-runtime {0:?}: want name=path")]
    Runtime(String),
    #[error("--default-runtime {0:?} is not a known runtime")]
    DefaultRuntime(String),
    #[error("--label {0:?}: want key=value")]
    Label(String),
    #[error("invalid mirror {0:?}: {1}")]
    Mirror(String, &'static str),
    #[error("insecure registry {0} should not contain '://'")]
    Insecure(String),
    #[error("{0}")]
    LogLevel(String),
}

/// Registry settings (what `docker info` shows as RegistryConfig).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registries {
    /// Mirrors of Docker Hub, normalized to `scheme://host[:port]/`.
    pub mirrors: Vec<String>,
    /// Insecure registries: CIDRs (127.0.0.0/8 first, always) ...
    pub insecure_cidrs: Vec<String>,
    /// ... and host[:port] names.
    pub insecure_hosts: Vec<String>,
}

impl Registries {
    /// Whether `host` (host[:port] as in a reference) is spoken to over plain http.
    pub fn is_insecure(&self, host: &str) -> bool {
        if self.insecure_hosts.iter().any(|h| h == host) {
            return true;
        }
        let bare = match host.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let bare = bare.trim_start_matches('[').trim_end_matches(']');
        if bare == "localhost" {
            return true;
        }
        let Ok(ip) = bare.parse::<std::net::IpAddr>() else {
            return false;
        };
        ip.is_loopback() || self.insecure_cidrs.iter().any(|c| cidr_contains(c, ip))
    }
}

/// Whether the IPv4 or IPv6 CIDR `c` holds `ip`.
fn cidr_contains(c: &str, ip: std::net::IpAddr) -> bool {
    let Some((net, bits)) = c.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<std::net::IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(i)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(i)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// The reloadable settings.
#[derive(Debug, Clone)]
pub struct Live {
    /// `--debug`.
    pub debug: bool,
    /// The log level in effect (debug when `--debug`).
    pub log_level: String,
    /// `--label`: the daemon's labels.
    pub labels: Vec<String>,
    /// Mirrors and insecure registries.
    pub registries: Registries,
    /// Runtime name -> binary.
    pub runtimes: BTreeMap<String, PathBuf>,
    /// Runtime for containers that name none.
    pub default_runtime: String,
    /// Seconds SIGTERM waits for in-flight requests.
    pub shutdown_timeout: u64,
}

/// A binary next to this executable, else the bare name (looked up on PATH when run).
pub fn sibling(name: &str) -> PathBuf {
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

fn mirror(m: &str) -> Result<String, LiveError> {
    let bad = |why| LiveError::Mirror(m.to_string(), why);
    let rest = m
        .strip_prefix("https://")
        .or_else(|| m.strip_prefix("http://"))
        .ok_or_else(|| bad("want an http:// or https:// URL"))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.contains(['/', '?', '#']) {
        return Err(bad("path, query, or fragment at end of the URI"));
    }
    let scheme = &m[..m.len() - rest.len()];
    Ok(format!("{scheme}{host}/"))
}

impl Live {
    /// The settings the flags (and daemon.json, already merged into them) give.
    pub fn from_flags(f: &Flags) -> Result<Live, LiveError> {
        let mut runtimes = BTreeMap::new();
        runtimes.insert("berth".to_string(), sibling("berth-runtime"));
        for r in &f.add_runtime {
            let (name, path) = r
                .split_once('=')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .ok_or_else(|| LiveError::Runtime(r.clone()))?;
            runtimes.insert(name.to_string(), PathBuf::from(path));
        }
        // Docker's default runtime is named `runc` and clients ask for it by name (`--runtime
        // runc`): it is offered when the runc binary is installed, as dockerd ships it (`berth`
        // stays the default).
        if !runtimes.contains_key("runc") {
            if let Some(runc) = find_in_path("runc") {
                runtimes.insert("runc".to_string(), runc);
            }
        }
        if !runtimes.contains_key(&f.default_runtime) {
            return Err(LiveError::DefaultRuntime(f.default_runtime.clone()));
        }
        if let Some(l) = f.labels.iter().find(|l| !l.contains('=')) {
            return Err(LiveError::Label(l.clone()));
        }
        let mut registries = Registries {
            insecure_cidrs: vec!["127.0.0.0/8".into()],
            ..Default::default()
        };
        for m in &f.registry_mirrors {
            registries.mirrors.push(mirror(m)?);
        }
        for i in &f.insecure_registries {
            if i.contains("://") {
                return Err(LiveError::Insecure(i.clone()));
            }
            let list = if i.contains('/') {
                &mut registries.insecure_cidrs
            } else {
                &mut registries.insecure_hosts
            };
            if !list.contains(i) {
                list.push(i.clone());
            }
        }
        let log_level = if f.debug { "debug" } else { &f.log_level }.to_string();
        crate::logging::level_of(&log_level).map_err(LiveError::LogLevel)?;
        Ok(Live {
            debug: f.debug,
            log_level,
            labels: f.labels.clone(),
            registries,
            runtimes,
            default_runtime: f.default_runtime.clone(),
            shutdown_timeout: f.shutdown_timeout,
        })
    }

    /// Make the log level the one in effect.
    pub fn apply_log_level(&self) {
        crate::logging::set_level(&self.log_level).ok();
    }
}

/// SIGHUP: read the flags and daemon.json again and swap in the reloadable settings. A
/// configuration that does not load is logged and the running one kept.
pub fn reload(d: &crate::daemon::Daemon, argv: &[String]) {
    let loaded = crate::config::load(argv)
        .map_err(|e| e.to_string())
        .and_then(|f| Live::from_flags(&f).map_err(|e| e.to_string()));
    match loaded {
        Ok(l) => {
            l.apply_log_level();
            crate::log!(
                1,
                "reloaded configuration: debug={} log-level={} labels={:?} registry-mirrors={:?} \
                 insecure-registries={:?} default-runtime={} runtimes={:?} shutdown-timeout={}",
                l.debug,
                l.log_level,
                l.labels,
                l.registries.mirrors,
                l.registries.insecure_hosts,
                l.default_runtime,
                l.runtimes.keys().collect::<Vec<_>>(),
                l.shutdown_timeout
            );
            d.set_live(l);
        }
        Err(e) => crate::log!(3, "reload: keeping the running configuration: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn live(args: &[&str]) -> Result<Live, String> {
        let f = Flags::try_parse_from(std::iter::once("berthd").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Live::from_flags(&f).map_err(|e| e.to_string())
    }

    #[test]
    fn insecure_registries_by_name_cidr_and_loopback() {
        let l = live(&[
            "--insecure-registry=myreg:5000",
            "--insecure-registry=10.1.0.0/16",
        ])
        .unwrap();
        let r = &l.registries;
        assert!(r.is_insecure("myreg:5000"));
        assert!(!r.is_insecure("myreg:5001"));
        assert!(r.is_insecure("10.1.2.3:5000"));
        assert!(!r.is_insecure("10.2.0.1:5000"));
        assert!(r.is_insecure("127.0.0.1:5000") && r.is_insecure("localhost:5000"));
        assert!(!r.is_insecure("registry-1.docker.io"));
        assert_eq!(r.insecure_cidrs, ["127.0.0.0/8", "10.1.0.0/16"]);
    }

    #[test]
    fn mirrors_are_normalized_and_checked() {
        let l = live(&["--registry-mirror=http://127.0.0.1:5000"]).unwrap();
        assert_eq!(l.registries.mirrors, ["http://127.0.0.1:5000/"]);
        let e = live(&["--registry-mirror=mirror.example"]).unwrap_err();
        assert!(e.contains("http:// or https://"), "{e}");
        let e = live(&["--registry-mirror=https://m.example/v2/x"]).unwrap_err();
        assert!(e.contains("path"), "{e}");
        let e = live(&["--insecure-registry=http://m:5000"]).unwrap_err();
        assert!(e.contains("should not contain"), "{e}");
    }

    #[test]
    fn debug_wins_over_log_level_and_labels_need_a_value() {
        assert_eq!(
            live(&["--debug", "--log-level=warn"]).unwrap().log_level,
            "debug"
        );
        assert!(live(&["--label=novalue"])
            .unwrap_err()
            .contains("key=value"));
        assert!(live(&["--default-runtime=nope"])
            .unwrap_err()
            .contains("not a known runtime"));
    }
}
