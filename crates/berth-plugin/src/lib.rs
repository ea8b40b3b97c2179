//! Docker's legacy ("v1") plugin protocol, shared by berthd's volume, network, IPAM and authorization
//! code: [`discovery`] finds a plugin by name, [`Plugins`] activates it (`POST /Plugin.Activate`,
//! checking `Implements`) and keeps it, and [`Client`] makes the JSON calls with dockerd's `Accept`
//! header, retries while a plugin is still starting, per-call time limits and the protocol's error
//! fields turned into [`PluginError`]s. [`volume`], [`logdriver`] and [`authz`] are the typed
//! interfaces.
//! [`managed`] runs managed ("v2") plugins and registers them here once their socket answers.
//! No HTTP server types here: berthd maps these errors to API statuses.

pub mod authz;
pub mod discovery;
pub mod logdriver;
pub mod managed;
mod tls;
pub mod transport;
pub mod volume;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use transport::{HttpTransport, PluginTransport, TransportError};

/// The interfaces a plugin may implement (`Implements` of `Plugin.Activate`).
pub const VOLUME: &str = "VolumeDriver";
/// Network drivers.
pub const NETWORK: &str = "NetworkDriver";
/// IPAM drivers.
pub const IPAM: &str = "IpamDriver";
/// Authorization plugins.
pub const AUTHZ: &str = "authz";
/// Log drivers.
pub const LOG_DRIVER: &str = "LogDriver";

/// What can go wrong with a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No plugin of that name in the plugin directories.
    #[error("plugin \"{0}\" not found")]
    NotFound(String),
    /// A managed plugin that is installed but not enabled.
    #[error("plugin {0} found but disabled")]
    Disabled(String),
    /// A spec file that does not parse.
    #[error("plugin spec {}: {msg}", path.display())]
    BadSpec { path: PathBuf, msg: String },
    /// The plugin does not implement the interface asked for.
    #[error("plugin \"{name}\" does not implement {interface} (it implements {implements:?})")]
    NotImplemented {
        name: String,
        interface: String,
        implements: Vec<String>,
    },
    /// The plugin cannot be reached (after retrying for the start-up budget) or timed out.
    #[error("plugin \"{name}\" is not available: {method}: {msg}")]
    Unavailable {
        name: String,
        method: String,
        msg: String,
    },
    /// The plugin answered with an error (`Err`/`Error` field, or a non-200 status).
    #[error("{msg}")]
    Remote {
        name: String,
        method: String,
        status: u16,
        msg: String,
    },
    /// The answer is not the JSON the protocol says.
    #[error("plugin \"{name}\": {method}: bad answer: {msg}")]
    Protocol {
        name: String,
        method: String,
        msg: String,
    },
}

impl PluginError {
    /// Whether the plugin answered 404 (a method it does not serve: optional methods are skipped).
    pub fn is_unknown_method(&self) -> bool {
        matches!(self, PluginError::Remote { status: 404, .. })
    }
}

/// Print a warning the way berthd logs (stderr, one line).
pub(crate) fn warn(msg: &str) {
    eprintln!("level=warning msg={msg:?}");
}

/// How long calls may take.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Connection failures are retried with back-off for this long (dockerd: 30 s), so a plugin
    /// started after the daemon is waited for.
    pub retry_budget: Duration,
    /// Time limit of a call that may do real work (create, remove, mount, unmount; dockerd: 2 min).
    pub long_timeout: Duration,
    /// Time limit of the other calls (get, list, path, capabilities, activate, authz; dockerd: 1 min).
    pub short_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry_budget: Duration::from_secs(30),
            long_timeout: Duration::from_secs(120),
            short_timeout: Duration::from_secs(60),
        }
    }
}

/// Makes the transport for an address (the real one, or a fake in tests).
pub type TransportFactory = Box<dyn Fn(&discovery::Addr) -> Arc<dyn PluginTransport> + Send + Sync>;

/// A JSON client of one plugin.
#[derive(Clone)]
pub struct Client {
    name: String,
    transport: Arc<dyn PluginTransport>,
    settings: Settings,
}

impl Client {
    /// A client of plugin `name` over `transport`.
    pub fn new(name: &str, transport: Arc<dyn PluginTransport>, settings: Settings) -> Client {
        Client {
            name: name.to_string(),
            transport,
            settings,
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The call settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Call `method` (`Interface.Method`) with `req` as JSON (None: an empty body) and decode the
    /// answer. Connection failures are retried with back-off (250 ms doubling to 4 s) within the
    /// retry budget; an answer with a non-empty `Err` (or IPAM's `Error`), or a non-200 status,
    /// becomes [`PluginError::Remote`].
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: Option<&Req>,
        timeout: Duration,
    ) -> Result<Resp, PluginError> {
        let body = match req {
            Some(r) => Bytes::from(serde_json::to_vec(r).map_err(|e| self.protocol(method, e))?),
            None => Bytes::new(),
        };
        let path = format!("/{method}");
        let start = Instant::now();
        let mut backoff = Duration::from_millis(250);
        let answer = loop {
            match self.transport.post(&path, body.clone(), timeout).await {
                Ok(a) => break a,
                Err(TransportError::Connect(msg))
                    if start.elapsed() + backoff <= self.settings.retry_budget =>
                {
                    let _ = msg;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(4));
                }
                Err(e) => {
                    let mut msg = e.to_string();
                    if matches!(e, TransportError::Connect(_)) && !start.elapsed().is_zero() {
                        msg.push_str(&format!(
                            " (gave up after {:.1} s)",
                            start.elapsed().as_secs_f64()
                        ));
                    }
                    return Err(PluginError::Unavailable {
                        name: self.name.clone(),
                        method: method.to_string(),
                        msg,
                    });
                }
            }
        };
        self.decode(method, answer)
    }

    fn protocol(&self, method: &str, e: impl std::fmt::Display) -> PluginError {
        PluginError::Protocol {
            name: self.name.clone(),
            method: method.to_string(),
            msg: e.to_string(),
        }
    }

    fn decode<Resp: DeserializeOwned>(
        &self,
        method: &str,
        a: transport::Answer,
    ) -> Result<Resp, PluginError> {
        let v: Option<serde_json::Value> = serde_json::from_slice(&a.body).ok();
        let blank = a.body.iter().all(|b| b.is_ascii_whitespace());
        let err_field = v.as_ref().and_then(|v| {
            ["Err", "Error"]
                .iter()
                .find_map(|k| v.get(*k).and_then(|e| e.as_str()))
                .filter(|e| !e.is_empty())
                .map(String::from)
        });
        if a.status != 200 || err_field.is_some() {
            let msg = err_field.unwrap_or_else(|| {
                let t = String::from_utf8_lossy(&a.body).trim().to_string();
                if t.is_empty() {
                    format!("{method}: HTTP status {}", a.status)
                } else {
                    t
                }
            });
            return Err(PluginError::Remote {
                name: self.name.clone(),
                method: method.to_string(),
                status: a.status,
                msg,
            });
        }
        let v = match v {
            Some(v) => v,
            None if blank => serde_json::Value::Null,
            None => return Err(self.protocol(method, "not JSON")),
        };
        let v = if v.is_null() {
            serde_json::json!({})
        } else {
            v
        };
        serde_json::from_value(v).map_err(|e| self.protocol(method, e))
    }
}

/// Where a managed plugin's paths are on the host: a volume's `Mountpoint` under the propagated
/// mount is under `<plugin dir>/propagated-mount`, any other path is inside its root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathScope {
    /// The plugin's root filesystem on the host.
    pub rootfs: PathBuf,
    /// (`PropagatedMount` inside, its host directory).
    pub propagated: Option<(String, PathBuf)>,
}

impl PathScope {
    /// The host path of a path the plugin gave (dockerd's `ScopedPath`).
    pub fn host_path(&self, inside: &str) -> String {
        let join = |base: &std::path::Path, rest: &str| {
            let rest = rest.trim_start_matches('/');
            if rest.is_empty() {
                base.display().to_string()
            } else {
                base.join(rest).display().to_string()
            }
        };
        if let Some((pm, host)) = &self.propagated {
            if let Some(rest) = inside.strip_prefix(pm.as_str()) {
                if rest.is_empty() || rest.starts_with('/') {
                    return join(host, rest);
                }
            }
        }
        join(&self.rootfs, inside)
    }
}

/// An activated plugin.
pub struct Plugin {
    /// Where it was found.
    pub spec: discovery::Spec,
    /// Its `Implements`.
    pub implements: Vec<String>,
    /// Its client.
    pub client: Client,
    /// A managed plugin's host paths (None: a legacy plugin, whose paths are the host's).
    pub paths: Option<PathScope>,
}

impl Plugin {
    /// Whether it implements `interface`.
    pub fn implements(&self, interface: &str) -> bool {
        self.implements.iter().any(|i| i == interface)
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Activation {
    implements: Vec<String>,
}

/// The plugins of a daemon: looked up in `dirs` on first use, activated once, kept.
pub struct Plugins {
    dirs: Vec<PathBuf>,
    settings: Settings,
    transport: TransportFactory,
    active: Mutex<BTreeMap<String, Arc<Plugin>>>,
    /// The managed plugins by name: enabled (registered) or not.
    managed: Mutex<BTreeMap<String, bool>>,
}

impl Plugins {
    /// Plugins found in `dirs` (in order), reached over HTTP.
    pub fn new(dirs: Vec<PathBuf>, settings: Settings) -> Plugins {
        Plugins::with_transport(
            dirs,
            settings,
            Box::new(|a| Arc::new(HttpTransport::new(a.clone()))),
        )
    }

    /// Plugins reached through `transport` (tests give a fake).
    pub fn with_transport(
        dirs: Vec<PathBuf>,
        settings: Settings,
        transport: TransportFactory,
    ) -> Plugins {
        Plugins {
            dirs,
            settings,
            transport,
            active: Mutex::new(BTreeMap::new()),
            managed: Mutex::new(BTreeMap::new()),
        }
    }

    /// The directories searched.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The call settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn cached(&self, name: &str) -> Option<Arc<Plugin>> {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = active.get(name) {
            return Some(p.clone());
        }
        // A managed plugin answers to its name without the tag too (`-d vp` is `vp:latest`).
        let full = managed::normalize(name);
        active.get(&full).filter(|p| p.paths.is_some()).cloned()
    }

    /// Register an enabled managed plugin: reached at `addr`, implementing what its configuration
    /// says (no `Plugin.Activate`, as dockerd does for managed plugins), its paths in `paths`.
    pub fn register_managed(
        &self,
        name: &str,
        addr: discovery::Addr,
        implements: Vec<String>,
        paths: PathScope,
    ) {
        let client = Client::new(name, (self.transport)(&addr), self.settings.clone());
        let p = Plugin {
            spec: discovery::Spec {
                name: name.to_string(),
                addr,
                source: paths.rootfs.clone(),
            },
            implements,
            client,
            paths: Some(paths),
        };
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), Arc::new(p));
        self.managed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), true);
    }

    /// A managed plugin that is disabled (`removed`: gone): looking it up fails at once.
    pub fn unregister_managed(&self, name: &str, removed: bool) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        let mut m = self.managed.lock().unwrap_or_else(|e| e.into_inner());
        if removed {
            m.remove(name);
        } else {
            m.insert(name.to_string(), false);
        }
    }

    /// Whether `name` is a managed plugin, and if so whether it is enabled.
    pub fn managed_state(&self, name: &str) -> Option<bool> {
        let m = self.managed.lock().unwrap_or_else(|e| e.into_inner());
        m.get(name)
            .or_else(|| m.get(&managed::normalize(name)))
            .copied()
    }

    /// Plugin `name`, activated, implementing `interface`.
    pub async fn get(&self, name: &str, interface: &str) -> Result<Arc<Plugin>, PluginError> {
        let p = match self.cached(name) {
            Some(p) => p,
            None if self.managed_state(name) == Some(false) => {
                return Err(PluginError::Disabled(name.to_string()))
            }
            None => {
                let spec = self.lookup_with_retry(name).await?;
                let p = Arc::new(self.activate(spec).await?);
                self.active
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.to_string(), p.clone());
                p
            }
        };
        if !p.implements(interface) {
            return Err(PluginError::NotImplemented {
                name: name.to_string(),
                interface: interface.to_string(),
                implements: p.implements.clone(),
            });
        }
        Ok(p)
    }

    /// Find `name` in the directories; a plugin not there yet is looked for again with back-off
    /// within the retry budget (dockerd does the same: plugins may start after the daemon).
    async fn lookup_with_retry(&self, name: &str) -> Result<discovery::Spec, PluginError> {
        let start = Instant::now();
        let mut backoff = Duration::from_millis(250);
        loop {
            match discovery::lookup(&self.dirs, name) {
                Err(PluginError::NotFound(_))
                    if start.elapsed() + backoff <= self.settings.retry_budget =>
                {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(4));
                }
                other => return other,
            }
        }
    }

    async fn activate(&self, spec: discovery::Spec) -> Result<Plugin, PluginError> {
        let client = Client::new(
            &spec.name,
            (self.transport)(&spec.addr),
            self.settings.clone(),
        );
        let a: Activation = client
            .call::<(), _>("Plugin.Activate", None, self.settings.short_timeout)
            .await?;
        Ok(Plugin {
            spec,
            implements: a.implements,
            client,
            paths: None,
        })
    }

    /// Every plugin in the directories that implements `interface`, activated; plugins that fail to
    /// activate come back as errors beside them (dockerd logs those and lists the rest).
    pub async fn all(&self, interface: &str) -> (Vec<Arc<Plugin>>, Vec<PluginError>) {
        let (mut ok, mut errs) = (Vec::new(), Vec::new());
        let managed: Vec<String> = self
            .managed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, on)| **on)
            .map(|(n, _)| n.clone())
            .collect();
        let names = discovery::scan(&self.dirs)
            .into_iter()
            .map(|s| s.name)
            .chain(managed);
        for name in names {
            match self.get(&name, interface).await {
                Ok(p) => ok.push(p),
                Err(PluginError::NotImplemented { .. }) => {}
                Err(e) => errs.push(e),
            }
        }
        (ok, errs)
    }

    /// Names of the plugins activated so far that implement `interface` (for `docker info`).
    pub fn active(&self, interface: &str) -> Vec<String> {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|p| p.implements(interface))
            .map(|p| p.spec.name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transport::FakeTransport;

    fn fast() -> Settings {
        Settings {
            retry_budget: Duration::from_secs(1),
            long_timeout: Duration::from_secs(1),
            short_timeout: Duration::from_secs(1),
        }
    }

    fn with_fake(fake: &FakeTransport) -> (tempfile::TempDir, Plugins) {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("vp.spec"), "tcp://127.0.0.1:1\n").unwrap();
        let f = fake.clone();
        let p = Plugins::with_transport(
            vec![t.path().to_path_buf()],
            fast(),
            Box::new(move |_| Arc::new(f.clone())),
        );
        (t, p)
    }

    #[tokio::test]
    async fn activation_checks_implements() {
        let fake = FakeTransport::default();
        fake.answer(
            "/Plugin.Activate",
            200,
            r#"{"Implements":["VolumeDriver"]}"#,
        );
        let (_t, plugins) = with_fake(&fake);
        assert!(plugins.get("vp", VOLUME).await.is_ok());
        let e = plugins.get("vp", AUTHZ).await.err().unwrap();
        assert!(matches!(e, PluginError::NotImplemented { .. }), "{e}");
        assert_eq!(plugins.active(VOLUME), ["vp"]);
        assert!(plugins.active(NETWORK).is_empty());
        // Activated once, kept.
        assert_eq!(fake.paths(), ["/Plugin.Activate"]);
        assert!(matches!(
            plugins.get("nope", VOLUME).await,
            Err(PluginError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_plugin_that_appears_late_is_found() {
        let fake = FakeTransport::default();
        fake.answer("/Plugin.Activate", 200, r#"{"Implements":["authz"]}"#);
        let t = tempfile::tempdir().unwrap();
        let f = fake.clone();
        let plugins = Plugins::with_transport(
            vec![t.path().to_path_buf()],
            fast(),
            Box::new(move |_| Arc::new(f.clone())),
        );
        let spec = t.path().join("late.spec");
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            std::fs::write(spec, "tcp://127.0.0.1:1\n").unwrap();
        });
        assert!(plugins.get("late", AUTHZ).await.is_ok());
        writer.await.unwrap();
        let start = Instant::now();
        assert!(matches!(
            plugins.get("never", AUTHZ).await,
            Err(PluginError::NotFound(_))
        ));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "within the budget"
        );
    }

    #[tokio::test]
    async fn connection_failures_are_retried_within_the_budget() {
        let fake = FakeTransport::default();
        fake.queue("/Plugin.Activate", Err("connection refused".into()))
            .queue("/Plugin.Activate", Err("connection refused".into()))
            .answer("/Plugin.Activate", 200, r#"{"Implements":["authz"]}"#);
        let (_t, plugins) = with_fake(&fake);
        let p = plugins.get("vp", AUTHZ).await.unwrap();
        assert_eq!(fake.paths().len(), 3, "two failures, then the answer");
        assert!(p.implements(AUTHZ));

        let down = FakeTransport::default();
        down.queue("/Plugin.Activate", Err("connection refused".into()));
        let (_t2, plugins) = with_fake(&down);
        let start = Instant::now();
        let e = plugins.get("vp", AUTHZ).await.err().unwrap();
        assert!(matches!(e, PluginError::Unavailable { .. }), "{e}");
        assert!(e.to_string().contains("connection refused"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(down.paths().len() >= 2, "retried: {:?}", down.paths());
    }

    #[tokio::test]
    async fn error_fields_become_typed_errors() {
        let fake = FakeTransport::default();
        fake.answer(
            "/Plugin.Activate",
            200,
            r#"{"Implements":["VolumeDriver"]}"#,
        )
        .answer("/A.Err", 200, r#"{"Err":"disk full"}"#)
        .answer("/A.Ipam", 200, r#"{"Error":"pool gone"}"#)
        .answer("/A.Text", 500, "boom\n")
        .answer("/A.Bad", 200, "not json")
        .answer("/A.Ok", 200, r#"{"Err":"","X":1}"#);
        let (_t, plugins) = with_fake(&fake);
        let c = &plugins.get("vp", VOLUME).await.unwrap().client;
        let t = Duration::from_secs(1);
        let call =
            |m: &'static str| async move { c.call::<(), serde_json::Value>(m, None, t).await };
        assert_eq!(call("A.Err").await.unwrap_err().to_string(), "disk full");
        assert_eq!(call("A.Ipam").await.unwrap_err().to_string(), "pool gone");
        assert_eq!(call("A.Text").await.unwrap_err().to_string(), "boom");
        assert!(call("A.Missing").await.unwrap_err().is_unknown_method());
        assert!(matches!(
            c.call::<(), Vec<u8>>("A.Bad", None, t).await,
            Err(PluginError::Protocol { .. })
        ));
        assert_eq!(call("A.Ok").await.unwrap()["X"], 1);
    }
}
