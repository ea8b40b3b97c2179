//! Finding a plugin by name on disk, as dockerd does for legacy plugins: a unix socket
//! (`NAME.sock`, `NAME/NAME.sock`), a `.spec` file holding one URL (`unix:///path`, `tcp://host:port`),
//! or a `.json` file `{"Name", "Addr", "TLSConfig"}`, in the plugin directories in order; the first
//! hit wins. Plugins are looked up lazily, on first use by name; [`scan`] lists every one present.

use crate::PluginError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// dockerd's plugin directories: sockets, then spec files.
pub const DEFAULT_DIRS: [&str; 3] = [
    "/run/docker/plugins",
    "/etc/docker/plugins",
    "/usr/lib/docker/plugins",
];

/// Where a plugin answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// A unix socket.
    Unix(PathBuf),
    /// `host:port` over plain TCP.
    Tcp(String),
    /// `host:port` over TLS (from a `.json` spec with `https://` or a `TLSConfig`).
    Tls { host_port: String, tls: TlsConfig },
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix://{}", p.display()),
            Addr::Tcp(a) => write!(f, "tcp://{a}"),
            Addr::Tls { host_port, .. } => write!(f, "https://{host_port}"),
        }
    }
}

/// The TLS settings of a `.json` spec (dockerd's field names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TlsConfig {
    /// CA bundle that signs the plugin's certificate (empty: not verified, as dockerd does).
    #[serde(rename = "CAFile")]
    pub ca_file: String,
    /// Client certificate.
    pub cert_file: String,
    /// Client key.
    pub key_file: String,
    /// Skip verification of the plugin's certificate.
    pub insecure_skip_verify: bool,
}

/// A plugin found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The name users give (`-d NAME`, `--authorization-plugin NAME`).
    pub name: String,
    /// Where it answers.
    pub addr: Addr,
    /// The file it was found by.
    pub source: PathBuf,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonSpec {
    #[serde(default)]
    name: String,
    addr: String,
    #[serde(rename = "TLSConfig")]
    tls_config: Option<TlsConfig>,
}

/// Parse a URL of a `.spec` file or the `Addr` of a `.json` one.
pub fn parse_addr(url: &str, tls: Option<TlsConfig>) -> Result<Addr, String> {
    let url = url.trim();
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("unknown protocol in {url:?} (want unix://, tcp:// or https://)"))?;
    let host_port = |rest: &str| -> Result<String, String> {
        let hp = rest.split('/').next().unwrap_or_default();
        if hp.is_empty() {
            return Err(format!("no host in {url:?}"));
        }
        Ok(hp.to_string())
    };
    match scheme {
        "unix" if rest.starts_with('/') => Ok(Addr::Unix(PathBuf::from(rest))),
        "unix" => Err(format!("{url:?}: the socket path must be absolute")),
        "tcp" | "http" => match tls {
            // dockerd: a TLSConfig on a tcp address means TLS (without a CA, unverified).
            Some(mut t) => {
                t.insecure_skip_verify |= t.ca_file.is_empty();
                Ok(Addr::Tls {
                    host_port: host_port(rest)?,
                    tls: t,
                })
            }
            None => Ok(Addr::Tcp(host_port(rest)?)),
        },
        "https" => {
            let mut t = tls.unwrap_or_default();
            t.insecure_skip_verify |= t.ca_file.is_empty();
            Ok(Addr::Tls {
                host_port: host_port(rest)?,
                tls: t,
            })
        }
        other => Err(format!("unknown protocol {other:?} in {url:?}")),
    }
}

fn read_spec(name: &str, path: &Path) -> Result<Spec, PluginError> {
    let bad = |msg: String| PluginError::BadSpec {
        path: path.to_path_buf(),
        msg,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let addr = if path.extension().is_some_and(|e| e == "json") {
        let j: JsonSpec = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if !j.name.is_empty() && j.name != name {
            crate::warn(&format!(
                "{}: Name {:?} differs from the file name; using {name:?}",
                path.display(),
                j.name
            ));
        }
        parse_addr(&j.addr, j.tls_config).map_err(bad)?
    } else {
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        parse_addr(line, None).map_err(bad)?
    };
    Ok(Spec {
        name: name.to_string(),
        addr,
        source: path.to_path_buf(),
    })
}

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// A plain plugin name: no path separators, no dots leading anywhere.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Find plugin `name` in `dirs` (in order; in each: `NAME.sock`, `NAME/NAME.sock`, `NAME.spec`,
/// `NAME/NAME.spec`, `NAME.json`, `NAME/NAME.json`).
pub fn lookup(dirs: &[PathBuf], name: &str) -> Result<Spec, PluginError> {
    if !valid_name(name) {
        return Err(PluginError::NotFound(name.to_string()));
    }
    for dir in dirs {
        for sock in [
            dir.join(format!("{name}.sock")),
            dir.join(name).join(format!("{name}.sock")),
        ] {
            if is_socket(&sock) {
                return Ok(Spec {
                    name: name.to_string(),
                    addr: Addr::Unix(sock.clone()),
                    source: sock,
                });
            }
        }
        for ext in ["spec", "json"] {
            for f in [
                dir.join(format!("{name}.{ext}")),
                dir.join(name).join(format!("{name}.{ext}")),
            ] {
                if f.is_file() {
                    return read_spec(name, &f);
                }
            }
        }
    }
    Err(PluginError::NotFound(name.to_string()))
}

/// Every plugin present in `dirs` (the first of each name wins; unreadable specs are skipped with a
/// warning).
pub fn scan(dirs: &[PathBuf]) -> Vec<Spec> {
    let mut names: Vec<String> = Vec::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut here: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let p = e.path();
                let file = e.file_name().to_string_lossy().into_owned();
                if p.is_dir() {
                    let inner = ["sock", "spec", "json"]
                        .iter()
                        .any(|x| p.join(format!("{file}.{x}")).exists());
                    return inner.then_some(file);
                }
                let (stem, ext) = file.rsplit_once('.')?;
                matches!(ext, "sock" | "spec" | "json").then(|| stem.to_string())
            })
            .collect();
        here.sort();
        for n in here {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
        .into_iter()
        .filter_map(|n| match lookup(dirs, &n) {
            Ok(s) => Some(s),
            Err(e) => {
                crate::warn(&e.to_string());
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_urls() {
        assert_eq!(
            parse_addr("unix:///run/p.sock\n", None).unwrap(),
            Addr::Unix("/run/p.sock".into())
        );
        assert_eq!(
            parse_addr("tcp://127.0.0.1:6000", None).unwrap(),
            Addr::Tcp("127.0.0.1:6000".into())
        );
        assert!(parse_addr("/run/p.sock", None)
            .unwrap_err()
            .contains("unknown protocol"));
        assert!(parse_addr("ftp://x", None).is_err());
        match parse_addr("https://plugins.example:8443/x", None).unwrap() {
            Addr::Tls { host_port, tls } => {
                assert_eq!(host_port, "plugins.example:8443");
                assert!(
                    tls.insecure_skip_verify,
                    "no CA file: unverified, as dockerd"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lookup_order_and_formats() {
        let t = tempfile::tempdir().unwrap();
        let (run, etc) = (t.path().join("run"), t.path().join("etc"));
        std::fs::create_dir_all(run.join("nested")).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        let dirs = vec![run.clone(), etc.clone()];
        let _l1 = std::os::unix::net::UnixListener::bind(run.join("nested/nested.sock")).unwrap();
        std::fs::write(etc.join("nested.spec"), "tcp://127.0.0.1:1\n").unwrap();
        std::fs::write(etc.join("tcpone.spec"), "tcp://127.0.0.1:7000\n").unwrap();
        std::fs::write(
            etc.join("secure.json"),
            r#"{"Name":"secure","Addr":"https://h:1","TLSConfig":{"CAFile":"/ca.pem"}}"#,
        )
        .unwrap();
        std::fs::write(etc.join("broken.spec"), "no scheme here").unwrap();
        // The socket in the first directory wins over the spec in the second.
        assert_eq!(
            lookup(&dirs, "nested").unwrap().addr,
            Addr::Unix(run.join("nested/nested.sock"))
        );
        assert_eq!(
            lookup(&dirs, "tcpone").unwrap().addr,
            Addr::Tcp("127.0.0.1:7000".into())
        );
        match lookup(&dirs, "secure").unwrap().addr {
            Addr::Tls { tls, .. } => {
                assert_eq!(tls.ca_file, "/ca.pem");
                assert!(!tls.insecure_skip_verify);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            lookup(&dirs, "absent"),
            Err(PluginError::NotFound(_))
        ));
        assert!(matches!(
            lookup(&dirs, "../etc/tcpone"),
            Err(PluginError::NotFound(_))
        ));
        assert!(matches!(
            lookup(&dirs, "broken"),
            Err(PluginError::BadSpec { .. })
        ));
        let names: Vec<String> = scan(&dirs).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["nested", "secure", "tcpone"]);
    }
}
