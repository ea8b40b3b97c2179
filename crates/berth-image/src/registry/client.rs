//! HTTP plumbing of the registry client: agent, TLS, URLs and the auth-retry loop.

use super::auth::{parse_challenge, AuthConfig, Challenge, TokenResponse};
use crate::digest::Digest;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Errors from registry operations.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an unexpected status.
    #[error("registry {method} {url} answered {status}: {body}")]
    Status {
        /// Method.
        method: String,
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// Connection-level failure.
    #[error("registry request {url} failed: {message}")]
    Transport {
        /// URL.
        url: String,
        /// Cause.
        message: String,
    },
    /// Authentication was refused.
    #[error("registry {host} refused authentication: {message}")]
    Unauthorized {
        /// Registry host.
        host: String,
        /// Details.
        message: String,
    },
    /// Downloaded content did not match its digest.
    #[error("registry content {url} does not match digest {expected} (got {actual})")]
    DigestMismatch {
        /// URL.
        url: String,
        /// Expected.
        expected: Digest,
        /// Actual.
        actual: Digest,
    },
    /// A blob download ended early.
    #[error("blob {digest} download incomplete: {got} of {want} bytes")]
    Incomplete {
        /// Blob.
        digest: Digest,
        /// Bytes received in total.
        got: u64,
        /// Expected size.
        want: u64,
    },
    /// A manifest is too large to be real.
    #[error("manifest at {0} is larger than 4 MiB")]
    ManifestTooLarge(String),
    /// Bad TLS configuration.
    #[error("tls configuration: {0}")]
    Tls(String),
    /// Local store error.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Local image error.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// Manifest parsing.
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
    /// Local i/o.
    #[error("registry client i/o on {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl RegistryError {
    /// Whether retrying (resuming) may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            RegistryError::Transport { .. } | RegistryError::Incomplete { .. } => true,
            RegistryError::Status { status, .. } => {
                *status >= 500 || *status == 429 || *status == 416
            }
            _ => false,
        }
    }
}

/// Progress events of pulls and pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A manifest or index was fetched or stored.
    Manifest {
        /// Its digest.
        digest: Digest,
    },
    /// A blob was already present locally (pull) or remotely (push).
    BlobExists {
        /// Blob.
        digest: Digest,
    },
    /// A blob transfer starts (at `offset` when resuming).
    BlobStart {
        /// Blob.
        digest: Digest,
        /// Total size.
        size: u64,
        /// Bytes already there.
        offset: u64,
    },
    /// Bytes moved so far for a blob.
    BlobProgress {
        /// Blob.
        digest: Digest,
        /// Bytes done.
        done: u64,
        /// Total.
        total: u64,
    },
    /// A blob finished and was verified.
    BlobDone {
        /// Blob.
        digest: Digest,
    },
    /// A blob was mounted from another repository.
    BlobMounted {
        /// Blob.
        digest: Digest,
        /// Source repository.
        from: String,
    },
    /// A transfer failed and is retried.
    Retry {
        /// Blob.
        digest: Digest,
        /// Attempt number (1-based).
        attempt: u32,
        /// The failure.
        error: String,
    },
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Credentials per registry host.
    pub auth: AuthConfig,
    /// Hosts (with port) spoken to over plain http.
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM) trusted besides the built-in roots.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// Layers fetched at once.
    pub parallel: usize,
    /// Retries per blob after a failure (each resumes where the last stopped).
    pub retries: u32,
    /// Upload in chunks of this many bytes (None: one monolithic PUT).
    pub chunk_size: Option<u64>,
    /// Platform to pick from indexes: (os, architecture, variant). None: this host.
    pub platform: Option<(String, String, Option<String>)>,
    /// Connect and read timeout.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            auth: AuthConfig::default(),
            insecure_registries: Vec::new(),
            extra_ca_pem: Vec::new(),
            parallel: 4,
            retries: 3,
            chunk_size: None,
            platform: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// A request body that can be sent again after an auth challenge.
pub(crate) enum Body<'a> {
    /// No body.
    Empty,
    /// In memory.
    Bytes(&'a [u8]),
    /// A slice of a file.
    File {
        /// File path.
        path: &'a std::path::Path,
        /// Start offset.
        offset: u64,
        /// Length.
        len: u64,
    },
}

/// The registry client.
pub struct Client {
    agent: ureq::Agent,
    pub(crate) opts: ClientOptions,
    tokens: Mutex<HashMap<String, String>>,
    basic_hosts: Mutex<HashSet<String>>,
}

fn tls_config(extra: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>, RegistryError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in extra {
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            let cert = cert.map_err(|e| RegistryError::Tls(format!("bad CA PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| RegistryError::Tls(format!("bad CA certificate: {e}")))?;
        }
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| RegistryError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Percent-encode a query value.
pub(crate) fn qs(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Build a client.
    pub fn new(opts: ClientOptions) -> Result<Client, RegistryError> {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(opts.timeout)
            .timeout_read(opts.timeout)
            .timeout_write(opts.timeout)
            .redirects(5)
            .tls_config(tls_config(&opts.extra_ca_pem)?)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            opts,
            tokens: Mutex::new(HashMap::new()),
            basic_hosts: Mutex::new(HashSet::new()),
        })
    }

    /// `http(s)://host`.
    pub(crate) fn base(&self, host: &str) -> String {
        let insecure = self.opts.insecure_registries.iter().any(|h| h == host);
        format!("{}://{}", if insecure { "http" } else { "https" }, host)
    }

    /// Make a URL absolute against the registry base (Location headers may be relative).
    pub(crate) fn absolute(&self, host: &str, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else {
            format!("{}{}", self.base(host), loc)
        }
    }

    fn token_key(host: &str, scopes: &BTreeSet<String>) -> String {
        format!(
            "{host}|{}",
            scopes.iter().cloned().collect::<Vec<_>>().join(" ")
        )
    }

    fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &BTreeSet<String>,
    ) -> Result<String, RegistryError> {
        let mut url = realm.to_string();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        if let Some(s) = service {
            url.push_str(&format!("{sep}service={}", qs(s)));
            sep = '&';
        }
        for s in scopes {
            url.push_str(&format!("{sep}scope={}", qs(s)));
            sep = '&';
        }
        let mut req = self.agent.get(&url);
        if let Some(c) = self.opts.auth.get(host) {
            req = req.set("Authorization", &c.basic_header());
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let body = r.into_string().unwrap_or_default();
                return Err(RegistryError::Unauthorized {
                    host: host.into(),
                    message: format!(
                        "token endpoint answered {code}: {}",
                        body.chars().take(200).collect::<String>()
                    ),
                });
            }
            Err(e) => {
                return Err(RegistryError::Transport {
                    url,
                    message: e.to_string(),
                })
            }
        };
        let body = resp.into_string().map_err(|e| RegistryError::Transport {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let tr: TokenResponse =
            serde_json::from_str(&body).map_err(|e| RegistryError::Unauthorized {
                host: host.into(),
                message: format!("bad token response: {e}"),
            })?;
        tr.token
            .or(tr.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Unauthorized {
                host: host.into(),
                message: "token response has no token".into(),
            })
    }

    fn auth_header(&self, host: &str, scopes: &BTreeSet<String>) -> Option<String> {
        if let Some(t) = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&Self::token_key(host, scopes))
        {
            return Some(format!("Bearer {t}"));
        }
        if self
            .basic_hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(host)
        {
            return self.opts.auth.get(host).map(|c| c.basic_header());
        }
        None
    }

    fn do_send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        auth: Option<&str>,
        body: &Body<'_>,
    ) -> Result<ureq::Response, RegistryError> {
        let mut req = self.agent.request(method, url);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        if let Some(a) = auth {
            req = req.set("Authorization", a);
        }
        let tr = |e: ureq::Error| RegistryError::Transport {
            url: url.to_string(),
            message: e.to_string(),
        };
        let res = match body {
            Body::Empty => {
                if method == "PUT" || method == "POST" || method == "PATCH" {
                    req.set("Content-Length", "0").send_bytes(&[])
                } else {
                    req.call()
                }
            }
            Body::Bytes(b) => req.send_bytes(b),
            Body::File { path, offset, len } => {
                let mut f = std::fs::File::open(path).map_err(|source| RegistryError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|source| RegistryError::Io {
                        path: path.to_path_buf(),
                        source,
                    })?;
                req.set("Content-Length", &len.to_string())
                    .send(f.take(*len))
            }
        };
        match res {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(_, r)) => Ok(r),
            Err(e) => Err(tr(e)),
        }
    }

    /// Send a request, answering one auth challenge (basic or bearer for `scopes`) if the registry asks.
    pub(crate) fn send(
        &self,
        method: &str,
        url: &str,
        host: &str,
        scopes: &[String],
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<ureq::Response, RegistryError> {
        let mut scopes: BTreeSet<String> = scopes.iter().cloned().collect();
        let auth = self.auth_header(host, &scopes);
        let resp = self.do_send(method, url, headers, auth.as_deref(), &body)?;
        if resp.status() != 401 {
            return Ok(resp);
        }
        let challenge = resp.header("WWW-Authenticate").and_then(parse_challenge);
        let _ = resp.into_string();
        let auth = match challenge {
            Some(Challenge::Basic) => {
                let c = self
                    .opts
                    .auth
                    .get(host)
                    .ok_or_else(|| RegistryError::Unauthorized {
                        host: host.into(),
                        message: "basic auth required and no credentials configured".into(),
                    })?;
                self.basic_hosts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(host.to_string());
                c.basic_header()
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                if let Some(s) = scope {
                    scopes.extend(s.split(' ').map(String::from));
                }
                let t = self.fetch_token(host, &realm, service.as_deref(), &scopes)?;
                self.tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(Self::token_key(host, &scopes), t.clone());
                format!("Bearer {t}")
            }
            None => {
                return Err(RegistryError::Unauthorized {
                    host: host.into(),
                    message: "401 without a usable WWW-Authenticate challenge".into(),
                })
            }
        };
        let resp = self.do_send(method, url, headers, Some(&auth), &body)?;
        if resp.status() == 401 {
            return Err(RegistryError::Unauthorized {
                host: host.into(),
                message: format!("{method} {url} still unauthorized after authenticating"),
            });
        }
        Ok(resp)
    }

    /// Turn a non-success response into an error.
    pub(crate) fn expect(
        method: &str,
        url: &str,
        resp: ureq::Response,
        ok: &[u16],
    ) -> Result<ureq::Response, RegistryError> {
        if ok.contains(&resp.status()) {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp
            .into_string()
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        Err(RegistryError::Status {
            method: method.into(),
            url: url.into(),
            status,
            body,
        })
    }

    /// Check that the registry speaks API v2 (and that we can authenticate to it).
    pub fn ping(&self, host: &str) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base(host));
        let r = self.send("GET", &url, host, &[], &[], Body::Empty)?;
        Self::expect("GET", &url, r, &[200]).map(|_| ())
    }
}

pub(crate) fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

pub(crate) fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}
