//! What the checks look at: the engine (through its API) and the daemon's host (its process and
//! files). Both are traits so the checks can run over fakes in unit tests, over the Engine API
//! of any engine, and over the local machine or none at all (a remote engine).

use serde_json::Value;

/// A failure of a view (the engine could not be asked, a file could not be read).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ViewError(pub String);

/// The engine, as the Engine API shows it. Documents are the API's own JSON.
pub trait EngineView {
    /// `GET /info`.
    fn info(&self) -> Result<Value, ViewError>;
    /// `GET /containers/{id}/json` of every running container.
    fn running_containers(&self) -> Result<Vec<Value>, ViewError>;
    /// `GET /images/{id}/json` of every image.
    fn images(&self) -> Result<Vec<Value>, ViewError>;
    /// `GET /images/{id}/history`.
    fn image_history(&self, id: &str) -> Result<Vec<Value>, ViewError>;
    /// `GET /containers/{id}/top`: `{"Titles": [...], "Processes": [[...]]}`.
    fn top(&self, id: &str) -> Result<Value, ViewError>;
    /// `GET /exec/{id}/json`.
    fn exec(&self, id: &str) -> Result<Value, ViewError>;
    /// `GET /networks` (the list, with each network's options).
    fn networks(&self) -> Result<Vec<Value>, ViewError>;
}

/// Owner, group and mode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub is_dir: bool,
    /// The file system it lives on (`st_dev`).
    pub dev: u64,
}

/// The daemon process serving the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonProcess {
    pub pid: u32,
    /// Its executable (`/proc/PID/exe`).
    pub exe: String,
    /// Its command line after the program name.
    pub args: Vec<String>,
    /// Its effective user id.
    pub uid: u32,
    /// The systemd unit it runs in, if any (from `/proc/PID/cgroup`), e.g. `docker.service`.
    pub unit: Option<String>,
}

/// The machine the daemon runs on: only available when the engine is local.
pub trait HostView {
    /// The daemon's process, or why it cannot be seen (a remote engine, another pid namespace).
    fn daemon(&self) -> Result<DaemonProcess, String>;
    /// `stat` of a path (without following a final symlink); `None` if it does not exist.
    fn stat(&self, path: &str) -> Option<FileStat>;
    /// A whole small file (config files, /etc/group); `None` if missing or unreadable.
    fn read(&self, path: &str) -> Option<String>;
    /// The entries of a directory (names only); empty if missing.
    fn list_dir(&self, path: &str) -> Vec<String>;
    /// The audit rules in force: `auditctl -l` when it can run, else the rule files; `None`
    /// when the machine has neither.
    fn audit_rules(&self) -> Option<String>;
}

/// What the client itself contributes (4.5 is about the client's environment).
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    /// `DOCKER_CONTENT_TRUST` is `1`.
    pub content_trust: bool,
    /// How the client reaches the engine, shown in reports (e.g. `unix:///run/berth/berth.sock`).
    pub host: String,
}

/// A view over nothing: a remote engine's host.
pub struct NoHost(pub String);

impl HostView for NoHost {
    fn daemon(&self) -> Result<DaemonProcess, String> {
        Err(self.0.clone())
    }
    fn stat(&self, _: &str) -> Option<FileStat> {
        None
    }
    fn read(&self, _: &str) -> Option<String> {
        None
    }
    fn list_dir(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn audit_rules(&self) -> Option<String> {
        None
    }
}
