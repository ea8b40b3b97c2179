//! Registry authentication: credentials in the docker `config.json` format, `WWW-Authenticate` challenges,
//! and the bearer token flow (realm, service, scope).

use base64::Engine as _;
use std::collections::HashMap;
use std::path::Path;

/// Errors from credential handling.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The config file could not be read.
    #[error("reading docker config {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The config file is malformed.
    #[error("malformed docker config: {0}")]
    Json(#[from] serde_json::Error),
    /// An `auth` field is not base64 `user:password`.
    #[error("malformed auth entry for {0}")]
    Entry(String),
}

/// A username and password (or identity token as password with user `<token>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Value of a `Basic` Authorization header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.username, self.password))
        )
    }
}

#[derive(serde::Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Credentials per registry host, as in docker's `config.json`.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    by_host: HashMap<String, Credentials>,
}

fn normalize_host(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

impl AuthConfig {
    /// Parse docker `config.json` contents.
    pub fn parse(bytes: &[u8]) -> Result<AuthConfig, AuthError> {
        let cf: ConfigFile = serde_json::from_slice(bytes)?;
        let mut by_host = HashMap::new();
        for (k, e) in cf.auths {
            let creds = if let Some(a) = e.auth.filter(|a| !a.is_empty()) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .map_err(|_| AuthError::Entry(k.clone()))?;
                let s = String::from_utf8(raw).map_err(|_| AuthError::Entry(k.clone()))?;
                let (u, p) = s
                    .split_once(':')
                    .ok_or_else(|| AuthError::Entry(k.clone()))?;
                Credentials {
                    username: u.to_string(),
                    password: p.to_string(),
                }
            } else if let Some(t) = e.identitytoken {
                Credentials {
                    username: "<token>".into(),
                    password: t,
                }
            } else if let (Some(u), Some(p)) = (e.username, e.password) {
                Credentials {
                    username: u,
                    password: p,
                }
            } else {
                continue;
            };
            by_host.insert(normalize_host(&k), creds);
        }
        Ok(AuthConfig { by_host })
    }

    /// Load a config file; a missing file means no credentials.
    pub fn load(path: &Path) -> Result<AuthConfig, AuthError> {
        match std::fs::read(path) {
            Ok(b) => AuthConfig::parse(&b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AuthConfig::default()),
            Err(source) => Err(AuthError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Load `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    pub fn load_default() -> Result<AuthConfig, AuthError> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")));
        match dir {
            Some(d) => AuthConfig::load(&d.join("config.json")),
            None => Ok(AuthConfig::default()),
        }
    }

    /// Add credentials for a host.
    pub fn insert(&mut self, host: &str, creds: Credentials) {
        self.by_host.insert(normalize_host(host), creds);
    }

    /// Credentials for a registry host.
    pub fn get(&self, host: &str) -> Option<&Credentials> {
        self.by_host.get(&normalize_host(host))
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP basic.
    Basic,
    /// Bearer token from `realm`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// Service name.
        service: Option<String>,
        /// Scope asked for.
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` header value.
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, after)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, remaining) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (q[..end].to_string(), q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(k, v);
        s = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        }),
        _ => None,
    }
}

/// The token endpoint's answer.
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(parse_challenge("Basic realm=\"x\""), Some(Challenge::Basic));
        let c = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into())
            }
        );
    }

    #[test]
    fn docker_config() {
        let c = AuthConfig::parse(br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},"127.0.0.1:5000":{"username":"a","password":"b"}}}"#).unwrap();
        assert_eq!(c.get("docker.io").unwrap().password, "pa:ss");
        assert_eq!(c.get("127.0.0.1:5000").unwrap().username, "a");
        assert!(c.get("quay.io").is_none());
        assert!(format!("{:?}", c.get("docker.io").unwrap()).contains("redacted"));
    }
}
