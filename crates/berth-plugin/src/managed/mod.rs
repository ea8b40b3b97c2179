//! Managed ("v2") plugins: `docker plugin create/install/enable/disable/set/rm`. A plugin is a root
//! filesystem plus a [`config::Config`]; the [`Manager`] keeps each one under `<root>/<id>/`
//! (`plugin.json`, `rootfs/`, `propagated-mount/`), runs an enabled one through a [`Runner`] (berthd
//! implements it over its runtime and shim; a fake in the unit tests) with its socket directory
//! `<sock-root>/<id>/` mounted at `/run/docker/plugins`, and once the socket answers registers it
//! with [`crate::Plugins`], so `-d NAME[:TAG]` finds it like a discovered plugin. No HTTP types:
//! getting content (create's tar, a registry) is the caller's business.

pub mod config;

use crate::discovery::Addr;
use crate::{PathScope, Plugins};
use config::{Config, ConfigError, Settings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a plugin finds its socket directory.
pub const SOCKET_DIR_INSIDE: &str = "/run/docker/plugins";

/// A plugin as the API shows it (moby's `Plugin`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginObj {
    /// 64 hex digits.
    pub id: String,
    /// `name:tag`.
    pub name: String,
    /// Running and registered.
    pub enabled: bool,
    /// What `set` changed.
    pub settings: Settings,
    /// Where it came from (`localhost:5000/vp:latest`), empty for `create`.
    pub plugin_reference: String,
    /// Its configuration.
    pub config: Config,
}

/// What the manager keeps of a plugin: the API object and the digests of its content (so `push`
/// sends the same blobs that were created or pulled).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Stored {
    /// The API object.
    pub plugin: PluginObj,
    /// Digest of the config blob.
    pub config_digest: String,
    /// Digest of the compressed rootfs layer.
    pub layer_digest: String,
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum ManagedError {
    /// No such plugin.
    #[error("plugin {0:?} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("plugin {0:?} already exists")]
    AlreadyExists(String),
    /// The operation needs it disabled.
    #[error("plugin {0} is enabled")]
    Enabled(String),
    /// Enable of an enabled one.
    #[error("plugin {0} is already enabled")]
    AlreadyEnabled(String),
    /// Disable of a disabled one.
    #[error("plugin {0} is already disabled")]
    AlreadyDisabled(String),
    /// Its volumes are in use.
    #[error("plugin {name} is in use by {users}")]
    InUse {
        /// The plugin.
        name: String,
        /// Volumes and containers.
        users: String,
    },
    /// `set` while enabled.
    #[error("cannot set on an active plugin, disable plugin before setting")]
    SetWhileEnabled,
    /// A bad name.
    #[error("invalid plugin name {0:?}")]
    BadName(String),
    /// A bad configuration or setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The plugin did not start, or its socket never answered.
    #[error("plugin {name} failed to start: {msg}")]
    Start {
        /// The plugin.
        name: String,
        /// Why.
        msg: String,
    },
    /// Disk trouble.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> ManagedError {
    let what = what.to_string();
    move |source| ManagedError::Io { what, source }
}

/// One mount of a plugin's container.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMount {
    /// Host path.
    pub source: String,
    /// Path inside.
    pub destination: String,
    /// `bind`, ...
    pub kind: String,
    /// Options (`rbind`, `rshared`, ...).
    pub options: Vec<String>,
}

/// How to run a plugin: everything the configuration and settings say, resolved to host paths.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The plugin's id (the container's, too).
    pub id: String,
    /// Its name (for messages).
    pub name: String,
    /// Its root filesystem (writable, as dockerd's).
    pub rootfs: PathBuf,
    /// Entrypoint + args.
    pub args: Vec<String>,
    /// `PATH=...` then the settings' env.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// uid, gid.
    pub user: (u32, u32),
    /// Network type `host`: no network namespace.
    pub host_network: bool,
    /// No PID namespace.
    pub host_pid: bool,
    /// No IPC namespace.
    pub host_ipc: bool,
    /// Capabilities beyond Docker's default set.
    pub capabilities: Vec<String>,
    /// `rwm` on every device.
    pub allow_all_devices: bool,
    /// Host device paths given to it.
    pub devices: Vec<String>,
    /// Mounts, the socket directory and propagated mount included.
    pub mounts: Vec<RunMount>,
    /// The host side of the propagated mount (made a shared mount before start).
    pub propagated: Option<PathBuf>,
}

/// Runs plugins as containers.
pub trait Runner: Send + Sync {
    /// Start it (returns once the program runs).
    fn start(&self, spec: &RunSpec) -> Result<(), String>;
    /// Stop it: SIGTERM, SIGKILL after `grace`; returns once it is gone.
    fn stop(&self, id: &str, grace: Duration) -> Result<(), String>;
    /// Whether it runs (after a daemon restart: whether it survived).
    fn is_running(&self, id: &str) -> bool;
    /// Undo what `start` made on the host beyond the container (the propagated mount).
    fn cleanup(&self, id: &str, propagated: Option<&Path>);
}

/// `name` with `:latest` when it has no tag (the last path component has no colon), the short form
/// of Docker Hub names (`docker.io/library/x` is `x`).
pub fn normalize(name: &str) -> String {
    let n = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    let n = n.strip_prefix("library/").unwrap_or(n);
    let last = n.rsplit('/').next().unwrap_or(n);
    if last.contains(':') || n.contains('@') {
        n.to_string()
    } else {
        format!("{n}:latest")
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 255
        && n.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'.' | b'_' | b'-' | b'/' | b':')
        })
        && !n.starts_with(['.', '-', '/', ':'])
}

/// A fresh 64-hex id.
fn new_id() -> Result<String, ManagedError> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(io("reading /dev/urandom"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The managed plugins of a daemon.
pub struct Manager {
    root: PathBuf,
    sock_root: PathBuf,
    runner: Box<dyn Runner>,
    plugins: Arc<Plugins>,
    state: Mutex<BTreeMap<String, Stored>>,
    /// Serializes lifecycle operations (enable, disable, remove, set, create).
    op: Mutex<()>,
}

impl Manager {
    /// The plugins recorded under `root`; sockets go in `<sock_root>/<id>/`.
    pub fn open(
        root: &Path,
        sock_root: &Path,
        runner: Box<dyn Runner>,
        plugins: Arc<Plugins>,
    ) -> Result<Manager, ManagedError> {
        std::fs::create_dir_all(root).map_err(io(format!("create {}", root.display())))?;
        let mut state = BTreeMap::new();
        for e in std::fs::read_dir(root).map_err(io(format!("read {}", root.display())))? {
            let Ok(e) = e else { continue };
            let f = e.path().join("plugin.json");
            let Ok(bytes) = std::fs::read(&f) else {
                continue;
            };
            match serde_json::from_slice::<Stored>(&bytes) {
                Ok(s) if s.plugin.id == e.file_name().to_string_lossy() => {
                    state.insert(s.plugin.id.clone(), s);
                }
                _ => crate::warn(&format!("{}: not a plugin record, ignored", f.display())),
            }
        }
        for s in state.values() {
            // Known, not yet running: a lookup says "disabled" at once (restore registers).
            plugins.unregister_managed(&s.plugin.name, false);
        }
        Ok(Manager {
            root: root.to_path_buf(),
            sock_root: sock_root.to_path_buf(),
            runner,
            plugins,
            state: Mutex::new(state),
            op: Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Stored>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn op(&self) -> std::sync::MutexGuard<'_, ()> {
        self.op.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every plugin.
    pub fn list(&self) -> Vec<PluginObj> {
        self.lock().values().map(|s| s.plugin.clone()).collect()
    }

    /// A plugin by name (`:latest` implied), full id or unique id prefix.
    pub fn find(&self, name: &str) -> Result<Stored, ManagedError> {
        let st = self.lock();
        let full = normalize(name);
        if let Some(s) = st.values().find(|s| s.plugin.name == full) {
            return Ok(s.clone());
        }
        if name.len() >= 3 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<_> = st
                .values()
                .filter(|s| s.plugin.id.starts_with(name))
                .collect();
            if let [one] = hits.as_slice() {
                return Ok((*one).clone());
            }
        }
        Err(ManagedError::NotFound(name.to_string()))
    }

    /// The directory of plugin `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// `<sock-root>/<id[..12]>`: short, so the socket's path fits in a unix address (108 bytes).
    fn socket_dir(&self, id: &str) -> PathBuf {
        self.sock_root.join(&id[..12.min(id.len())])
    }

    fn save(&self, s: &Stored) -> Result<(), ManagedError> {
        let dir = self.dir(&s.plugin.id);
        let tmp = dir.join("plugin.json.tmp");
        let bytes = serde_json::to_vec_pretty(s).unwrap_or_default();
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, dir.join("plugin.json")))
            .map_err(io(format!("save plugin {}", s.plugin.name)))?;
        self.lock().insert(s.plugin.id.clone(), s.clone());
        Ok(())
    }

    /// Check that `name` is free and well formed; returns its normal form.
    pub fn claimable(&self, name: &str) -> Result<String, ManagedError> {
        let full = normalize(name);
        if !valid_name(&full) || full.contains('@') {
            return Err(ManagedError::BadName(name.to_string()));
        }
        if self.lock().values().any(|s| s.plugin.name == full) {
            return Err(ManagedError::AlreadyExists(full));
        }
        Ok(full)
    }

    /// Record a new (disabled) plugin `name` whose root filesystem `fill` writes into the directory
    /// it is given. A failure leaves nothing behind.
    pub fn create(
        &self,
        name: &str,
        reference: &str,
        config: Config,
        digests: (String, String),
        fill: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<PluginObj, ManagedError> {
        let _op = self.op();
        let full = self.claimable(name)?;
        config.validate()?;
        let id = new_id()?;
        let dir = self.dir(&id);
        let made = (|| {
            let rootfs = dir.join("rootfs");
            std::fs::create_dir_all(&rootfs).map_err(io(format!("create {}", rootfs.display())))?;
            if !config.propagated_mount.is_empty() {
                let p = dir.join("propagated-mount");
                std::fs::create_dir_all(&p).map_err(io(format!("create {}", p.display())))?;
            }
            fill(&rootfs).map_err(|msg| ManagedError::Start {
                name: full.clone(),
                msg: format!("unpacking its root filesystem: {msg}"),
            })?;
            let s = Stored {
                plugin: PluginObj {
                    id: id.clone(),
                    name: full.clone(),
                    enabled: false,
                    settings: Settings::initial(&config),
                    plugin_reference: reference.to_string(),
                    config,
                },
                config_digest: digests.0,
                layer_digest: digests.1,
            };
            self.save(&s)?;
            self.plugins.unregister_managed(&s.plugin.name, false);
            Ok(s.plugin)
        })();
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        made
    }

    /// Replace a disabled plugin's content (`docker plugin upgrade`): a new root filesystem and
    /// configuration under the same id and name; its settings are kept where they still apply.
    pub fn upgrade(
        &self,
        name: &str,
        reference: &str,
        config: Config,
        digests: (String, String),
        fill: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<(PluginObj, Stored), ManagedError> {
        let _op = self.op();
        let old = self.find(name)?;
        if old.plugin.enabled {
            return Err(ManagedError::Enabled(old.plugin.name));
        }
        config.validate()?;
        let dir = self.dir(&old.plugin.id);
        let fresh = dir.join("rootfs.new");
        let _ = std::fs::remove_dir_all(&fresh);
        std::fs::create_dir_all(&fresh).map_err(io(format!("create {}", fresh.display())))?;
        if let Err(msg) = fill(&fresh) {
            let _ = std::fs::remove_dir_all(&fresh);
            return Err(ManagedError::Start {
                name: old.plugin.name,
                msg: format!("unpacking its root filesystem: {msg}"),
            });
        }
        let rootfs = dir.join("rootfs");
        let _ = std::fs::remove_dir_all(&rootfs);
        std::fs::rename(&fresh, &rootfs).map_err(io("replace the root filesystem"))?;
        if !config.propagated_mount.is_empty() {
            let _ = std::fs::create_dir_all(dir.join("propagated-mount"));
        }
        let mut settings = Settings::initial(&config);
        let kept: Vec<String> = old
            .plugin
            .settings
            .env
            .iter()
            .filter(|kv| {
                let k = kv.split_once('=').map(|(k, _)| k).unwrap_or(kv);
                config.env.iter().any(|e| e.name == k)
            })
            .cloned()
            .collect();
        if let Ok(s) = settings.set(&config, &kept) {
            settings = s;
        }
        let s = Stored {
            plugin: PluginObj {
                settings,
                plugin_reference: reference.to_string(),
                config,
                ..old.plugin.clone()
            },
            config_digest: digests.0,
            layer_digest: digests.1,
        };
        self.save(&s)?;
        Ok((s.plugin, old))
    }

    /// `docker plugin set`.
    pub fn set(&self, name: &str, args: &[String]) -> Result<(), ManagedError> {
        let _op = self.op();
        let mut s = self.find(name)?;
        if s.plugin.enabled {
            return Err(ManagedError::SetWhileEnabled);
        }
        s.plugin.settings = s.plugin.settings.set(&s.plugin.config, args)?;
        self.save(&s)
    }

    /// How plugin `s` runs.
    pub fn run_spec(&self, s: &Stored) -> RunSpec {
        let (p, c) = (&s.plugin, &s.plugin.config);
        let dir = self.dir(&p.id);
        let mut mounts = Vec::new();
        let propagated = (!c.propagated_mount.is_empty()).then(|| dir.join("propagated-mount"));
        if let Some(host) = &propagated {
            mounts.push(RunMount {
                source: host.display().to_string(),
                destination: c.propagated_mount.clone(),
                kind: "bind".into(),
                options: vec!["rbind".into(), "rw".into(), "rshared".into()],
            });
        }
        for m in &p.settings.mounts {
            match m.source.as_deref() {
                Some(src) if !src.is_empty() => mounts.push(RunMount {
                    source: src.to_string(),
                    destination: m.destination.clone(),
                    kind: if m.kind.is_empty() {
                        "bind".into()
                    } else {
                        m.kind.clone()
                    },
                    options: m.options.clone(),
                }),
                _ => crate::warn(&format!(
                    "plugin {}: mount {:?} has no source set, left out",
                    p.name, m.name
                )),
            }
        }
        mounts.push(RunMount {
            source: self.socket_dir(&p.id).display().to_string(),
            destination: SOCKET_DIR_INSIDE.into(),
            kind: "bind".into(),
            options: vec!["rbind".into()],
        });
        let host_network = c.network.kind == "host";
        if !c.network.kind.is_empty() {
            for f in ["/etc/hosts", "/etc/resolv.conf"] {
                mounts.push(RunMount {
                    source: f.into(),
                    destination: f.into(),
                    kind: "bind".into(),
                    options: vec!["rbind".into(), "ro".into()],
                });
            }
        }
        let mut env =
            vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
        env.extend(p.settings.env.iter().cloned());
        RunSpec {
            id: p.id.clone(),
            name: p.name.clone(),
            rootfs: dir.join("rootfs"),
            args: c
                .entrypoint
                .iter()
                .chain(p.settings.args.iter())
                .filter(|a| !a.is_empty())
                .cloned()
                .collect(),
            env,
            cwd: if c.work_dir.is_empty() {
                "/".into()
            } else {
                c.work_dir.clone()
            },
            user: (c.user.uid, c.user.gid),
            host_network,
            host_pid: c.pid_host,
            host_ipc: c.ipc_host,
            capabilities: c.linux.capabilities.clone(),
            allow_all_devices: c.linux.allow_all_devices,
            devices: p
                .settings
                .devices
                .iter()
                .filter_map(|d| d.path.clone())
                .filter(|d| !d.is_empty())
                .collect(),
            mounts,
            propagated,
        }
    }

    fn register(&self, s: &Stored) {
        let c = &s.plugin.config;
        let scope = PathScope {
            rootfs: self.dir(&s.plugin.id).join("rootfs"),
            propagated: (!c.propagated_mount.is_empty()).then(|| {
                (
                    c.propagated_mount.clone(),
                    self.dir(&s.plugin.id).join("propagated-mount"),
                )
            }),
        };
        let sock = self.socket_dir(&s.plugin.id).join(&c.interface.socket);
        self.plugins
            .register_managed(&s.plugin.name, Addr::Unix(sock), c.implements(), scope);
    }

    /// Wait until the plugin's socket accepts a connection.
    fn wait_socket(&self, s: &Stored, timeout: Duration) -> Result<(), String> {
        let sock = self
            .socket_dir(&s.plugin.id)
            .join(&s.plugin.config.interface.socket);
        let start = Instant::now();
        loop {
            match std::os::unix::net::UnixStream::connect(&sock) {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() >= timeout => {
                    return Err(format!(
                        "its socket {} did not answer within {} s: {e}",
                        s.plugin.config.interface.socket,
                        timeout.as_secs()
                    ))
                }
                Err(_) => {
                    if !self.runner.is_running(&s.plugin.id) {
                        return Err("it exited before serving its socket".into());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn start(&self, s: &Stored, timeout: Duration) -> Result<(), ManagedError> {
        let failed = |msg: String| ManagedError::Start {
            name: s.plugin.name.clone(),
            msg,
        };
        let sd = self.socket_dir(&s.plugin.id);
        std::fs::create_dir_all(&sd).map_err(io(format!("create {}", sd.display())))?;
        let _ = std::fs::remove_file(sd.join(&s.plugin.config.interface.socket));
        let spec = self.run_spec(s);
        if let Err(e) = self.runner.start(&spec) {
            self.runner
                .cleanup(&s.plugin.id, spec.propagated.as_deref());
            let _ = std::fs::remove_dir_all(&sd);
            return Err(failed(e));
        }
        if let Err(e) = self.wait_socket(s, timeout) {
            let _ = self.runner.stop(&s.plugin.id, Duration::from_secs(1));
            self.runner
                .cleanup(&s.plugin.id, spec.propagated.as_deref());
            let _ = std::fs::remove_dir_all(&sd);
            return Err(failed(e));
        }
        self.register(s);
        Ok(())
    }

    /// `docker plugin enable`: run it, wait for its socket (`timeout`), register it.
    pub fn enable(&self, name: &str, timeout: Duration) -> Result<(), ManagedError> {
        let _op = self.op();
        let mut s = self.find(name)?;
        if s.plugin.enabled {
            return Err(ManagedError::AlreadyEnabled(s.plugin.name));
        }
        self.start(&s, timeout)?;
        s.plugin.enabled = true;
        if let Err(e) = self.save(&s) {
            self.stop(&s);
            return Err(e);
        }
        Ok(())
    }

    fn stop(&self, s: &Stored) {
        self.plugins.unregister_managed(&s.plugin.name, false);
        if let Err(e) = self.runner.stop(&s.plugin.id, Duration::from_secs(10)) {
            crate::warn(&format!("stopping plugin {}: {e}", s.plugin.name));
        }
        let prop = (!s.plugin.config.propagated_mount.is_empty())
            .then(|| self.dir(&s.plugin.id).join("propagated-mount"));
        self.runner.cleanup(&s.plugin.id, prop.as_deref());
        let _ = std::fs::remove_dir_all(self.socket_dir(&s.plugin.id));
    }

    /// `docker plugin disable`: refused while `users` (what uses its volumes) is not empty, unless
    /// `force`.
    pub fn disable(&self, name: &str, force: bool, users: &[String]) -> Result<(), ManagedError> {
        let _op = self.op();
        let mut s = self.find(name)?;
        if !s.plugin.enabled {
            return Err(ManagedError::AlreadyDisabled(s.plugin.name));
        }
        if !force && !users.is_empty() {
            return Err(ManagedError::InUse {
                name: s.plugin.name,
                users: users.join(", "),
            });
        }
        self.stop(&s);
        s.plugin.enabled = false;
        self.save(&s)
    }

    /// `docker plugin rm`: an enabled plugin only with `force` (it is disabled first). Returns what
    /// was removed (its blobs are the caller's).
    pub fn remove(&self, name: &str, force: bool) -> Result<Stored, ManagedError> {
        let _op = self.op();
        let s = self.find(name)?;
        if s.plugin.enabled {
            if !force {
                return Err(ManagedError::Enabled(s.plugin.name));
            }
            self.stop(&s);
        }
        let dir = self.dir(&s.plugin.id);
        let trash = self.root.join(format!(".rm-{}", s.plugin.id));
        std::fs::rename(&dir, &trash).map_err(io(format!("remove {}", dir.display())))?;
        self.lock().remove(&s.plugin.id);
        self.plugins.unregister_managed(&s.plugin.name, true);
        if let Err(e) = std::fs::remove_dir_all(&trash) {
            crate::warn(&format!("removing {}: {e}", trash.display()));
        }
        Ok(s)
    }

    /// After a daemon start: enabled plugins that survived are registered again, the others are
    /// started again. Failures are returned (the plugin stays recorded as enabled, to be tried at
    /// the next start, as dockerd does).
    pub fn restore(&self) -> Vec<ManagedError> {
        let _op = self.op();
        let _ = std::fs::read_dir(&self.root).map(|rd| {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(".rm-") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        });
        let enabled: Vec<Stored> = self
            .lock()
            .values()
            .filter(|s| s.plugin.enabled)
            .cloned()
            .collect();
        let mut errs = Vec::new();
        for s in enabled {
            if self.runner.is_running(&s.plugin.id)
                && self.wait_socket(&s, Duration::from_secs(1)).is_ok()
            {
                self.register(&s);
                continue;
            }
            let _ = self.runner.stop(&s.plugin.id, Duration::from_secs(1));
            if let Err(e) = self.start(&s, Duration::from_secs(30)) {
                errs.push(e);
            }
        }
        errs
    }

    /// Whether a blob digest is still used by a plugin (after a remove or an upgrade).
    pub fn blob_in_use(&self, digest: &str) -> bool {
        self.lock()
            .values()
            .any(|s| s.config_digest == digest || s.layer_digest == digest)
    }
}

#[cfg(test)]
mod tests;
