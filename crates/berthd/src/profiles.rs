//! Learned least-privilege profiles (`berth profile ...`).
//!
//! A container created with the label [`LEARN_LABEL`]`=NAME` runs under the
//! recording filter of berth-seccomp (Docker's default with ALLOW turned into
//! user notification); berthd binds the agent's socket before the runtime
//! starts, receives the listener and answers every notification with
//! CONTINUE on a thread of its own ([`berth_seccomp::record`]). When every
//! process of the container is gone the recording becomes the profile NAME,
//! kept as `<data-root>/profiles/NAME.json`: the syscalls and Docker seccomp
//! profile (Docker's default cut down to what was used), the capabilities
//! the syscalls needed, and Landlock write rules from the paths written.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_seccomp::Observed;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};

/// The label that makes a container a learning run for the profile it names.
pub const LEARN_LABEL: &str = "run.berth.profile.learn";

/// The image label carrying a learned profile (`berth profile attach`).
pub const IMAGE_LABEL: &str = "run.berth.profile";
/// The container label naming the image profile berthd applied.
pub const APPLIED_LABEL: &str = "run.berth.profile.applied";

/// What a container gets from its image's profile.
pub struct ImageProfile {
    pub name: String,
    /// Docker seccomp JSON.
    pub seccomp: String,
    pub caps: Vec<String>,
    /// `process.landlock` JSON.
    pub landlock: String,
}

/// The profile an image's labels carry, if any.
pub fn for_image(
    labels: &std::collections::BTreeMap<String, String>,
) -> ApiResult<Option<ImageProfile>> {
    let Some(text) = labels.get(IMAGE_LABEL) else {
        return Ok(None);
    };
    let bad = |what: &str| {
        ApiError::BadRequest(format!(
            "the image's {IMAGE_LABEL} label is not a Berth profile: {what}"
        ))
    };
    let p: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let seccomp = p
        .get("seccomp")
        .filter(|s| s.is_object())
        .ok_or_else(|| bad("no seccomp"))?;
    berth_seccomp::DockerProfile::from_json(&seccomp.to_string())
        .map_err(|e| bad(&e.to_string()))?;
    let caps = p["capabilities"]
        .as_array()
        .ok_or_else(|| bad("no capabilities"))?
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    Ok(Some(ImageProfile {
        name: p["Name"].as_str().unwrap_or("").to_string(),
        seccomp: seccomp.to_string(),
        caps,
        landlock: p["landlock"].to_string(),
    }))
}

/// Landlock rights a learned profile handles: every kind of write. Reads
/// and execution stay unrestricted.
const WRITE_RIGHTS: [&str; 12] = [
    "write_file",
    "remove_dir",
    "remove_file",
    "make_char",
    "make_dir",
    "make_reg",
    "make_sock",
    "make_fifo",
    "make_block",
    "make_sym",
    "refer",
    "truncate",
];

/// Devices any program may write without it being worth a rule.
const ALWAYS_WRITABLE: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/pts",
];

struct Session {
    container: String,
    cancel: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

/// The profile store and the learning runs in progress.
pub struct Profiles {
    dir: PathBuf,
    sessions: Mutex<BTreeMap<String, Session>>,
}

/// A profile name: what a file name and a URL segment can carry.
pub fn check_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid profile name {name:?}: use letters, digits, '_', '.' and '-' (starting with a letter or digit)"
        )))
    }
}

impl Profiles {
    /// The store under `data_root`.
    pub fn new(data_root: &Path) -> Profiles {
        Profiles {
            dir: data_root.join("profiles"),
            sessions: Mutex::new(BTreeMap::new()),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// A stored profile.
    pub fn get(&self, name: &str) -> ApiResult<Value> {
        check_name(name)?;
        match std::fs::read(self.path(name)) {
            Ok(data) => serde_json::from_slice(&data).map_err(ApiError::internal),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.learning(name).is_some() {
                    return Err(ApiError::Conflict(format!(
                        "profile {name} is still being learned (berth profile stop {name} ends it)"
                    )));
                }
                Err(ApiError::NotFound(format!("No such profile: {name}")))
            }
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// Every stored profile, by name.
    pub fn list(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(str::to_string)
            })
            .collect();
        names.sort();
        for n in names {
            if let Ok(p) = self.get(&n) {
                out.push(p);
            }
        }
        out
    }

    /// Remove a stored profile.
    pub fn remove(&self, name: &str) -> ApiResult<()> {
        check_name(name)?;
        match std::fs::remove_file(self.path(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ApiError::NotFound(format!("No such profile: {name}")))
            }
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// The container learning `name`, while it learns.
    pub fn learning(&self, name: &str) -> Option<String> {
        let s = self.sessions.lock().expect("sessions lock");
        s.get(name)
            .filter(|s| !s.done.load(Ordering::SeqCst))
            .map(|s| s.container.clone())
    }

    /// Start recording for `container` (whose bounding set is `caps`): bind
    /// the agent's socket at `sock`, start the agent, and return the
    /// recording filter for the container's config.
    pub fn begin(
        self: &Arc<Self>,
        name: &str,
        container: &str,
        image: &str,
        caps: &[String],
        sock: &Path,
    ) -> ApiResult<Value> {
        check_name(name)?;
        // A run of the same profile that just ended may still be storing
        // its recording (its agent sees the last process go): give it a
        // moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self
            .learning(name)
            .is_some_and(|c| c != container && Instant::now() < deadline)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut sessions = self.sessions.lock().expect("sessions lock");
        if let Some(s) = sessions.get(name) {
            if !s.done.load(Ordering::SeqCst) && s.container != container {
                return Err(ApiError::Conflict(format!(
                    "profile {name} is already being learned by container {}",
                    s.container
                )));
            }
            s.cancel.store(true, Ordering::SeqCst);
        }
        let filter = berth_seccomp::recording_filter(caps, sock)
            .map_err(|e| ApiError::Internal(format!("recording filter: {e}")))?;
        let _ = std::fs::remove_file(sock);
        let listener = UnixListener::bind(sock).map_err(|e| {
            ApiError::Internal(format!("bind the learning socket {}: {e}", sock.display()))
        })?;
        listener.set_nonblocking(true).map_err(ApiError::internal)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        sessions.insert(
            name.to_string(),
            Session {
                container: container.to_string(),
                cancel: cancel.clone(),
                done: done.clone(),
            },
        );
        let me = self.clone();
        let (name, container, image) = (name.to_string(), container.to_string(), image.to_string());
        let caps = caps.to_vec();
        let sock = sock.to_path_buf();
        std::thread::Builder::new()
            .name(format!("learn-{name}"))
            .spawn(move || {
                let started = Instant::now();
                if let Some(seen) = agent(&listener, &cancel) {
                    let profile = build(&name, &container, &image, &caps, &seen, started.elapsed());
                    if let Err(e) = me.store(&name, &profile) {
                        crate::log!(1, "storing profile {name}: {e}");
                    }
                }
                let _ = std::fs::remove_file(&sock);
                done.store(true, Ordering::SeqCst);
            })
            .map_err(ApiError::internal)?;
        serde_json::to_value(filter).map_err(ApiError::internal)
    }

    /// Wait (at most `limit`) for the learning run of `name` to be stored.
    pub fn wait(&self, name: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.learning(name).is_some() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Give up a learning run whose container never started.
    pub fn cancel(&self, name: &str) {
        if let Some(s) = self.sessions.lock().expect("sessions lock").get(name) {
            s.cancel.store(true, Ordering::SeqCst);
        }
    }

    fn store(&self, name: &str, profile: &Value) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(profile).expect("json"))?;
        std::fs::rename(&tmp, self.path(name))
    }
}

/// Accept the runtime's connection, take the listener, record until the
/// container is gone. `None` when cancelled before the container started.
fn agent(listener: &UnixListener, cancel: &AtomicBool) -> Option<Observed> {
    // A start that failed before the runtime connected never comes back.
    let deadline = Instant::now() + Duration::from_secs(120);
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if cancel.load(Ordering::SeqCst) || Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                crate::log!(1, "learning socket: {e}");
                return None;
            }
        }
    };
    stream.set_nonblocking(false).ok()?;
    let (fds, _state) = match berth_sys::recv_fds(std::os::fd::AsFd::as_fd(&stream)) {
        Ok(r) => r,
        Err(e) => {
            crate::log!(1, "receiving the seccomp listener: {e}");
            return None;
        }
    };
    let listener_fd = fds.into_iter().next()?;
    Some(berth_seccomp::record(listener_fd))
}

/// The Landlock rules (runtime-spec proposal shape) for what was written.
pub fn landlock_rules(seen: &Observed) -> Value {
    let dirs: BTreeSet<&str> = seen.changed_dirs.iter().map(String::as_str).collect();
    let beneath = |p: &str| {
        dirs.iter()
            .any(|d| *d != p && (*d == "/" || p.starts_with(&format!("{d}/"))))
    };
    let dirs: Vec<&str> = dirs.iter().copied().filter(|d| !beneath(d)).collect();
    let mut files: BTreeSet<&str> = seen
        .written_files
        .iter()
        .map(String::as_str)
        .filter(|f| !beneath(f) && !dirs.contains(f))
        .collect();
    files.extend(ALWAYS_WRITABLE);
    let mut rules = Vec::new();
    if !dirs.is_empty() {
        rules.push(json!({"allowedAccess": WRITE_RIGHTS, "paths": dirs}));
    }
    rules.push(json!({"allowedAccess": ["write_file", "truncate"], "paths": files}));
    json!({
        "ruleset": {"handledAccessFS": WRITE_RIGHTS},
        "rules": {"pathBeneath": rules},
        "disableBestEffort": false,
    })
}

fn build(
    name: &str,
    container: &str,
    image: &str,
    caps: &[String],
    seen: &Observed,
    took: Duration,
) -> Value {
    let seccomp = berth_seccomp::learned_profile(seen);
    let capabilities: Vec<&String> = seen
        .capabilities
        .iter()
        .filter(|c| caps.contains(c))
        .collect();
    let cap_names: Vec<String> = capabilities.iter().map(|c| c.to_string()).collect();
    let syscalls = berth_seccomp::allowed_syscalls(&seccomp, &cap_names).unwrap_or_default();
    let docker_caps: Vec<String> = berth_seccomp::DOCKER_DEFAULT_CAPS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let docker_syscalls =
        berth_seccomp::syscall_count(&berth_seccomp::default_profile(), &docker_caps).unwrap_or(0);
    json!({
        "Name": name,
        "Created": crate::time::now_rfc3339_nano(),
        "Container": container,
        "Image": image,
        "LearnSeconds": took.as_secs_f64(),
        "syscalls": syscalls,
        "capabilities": capabilities,
        "landlock": landlock_rules(seen),
        "observed": seen,
        "seccomp": seccomp,
        "dockerDefault": {"syscalls": docker_syscalls, "capabilities": docker_caps.len()},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_rules_collapse_beneath_changed_directories() {
        let mut seen = Observed::default();
        seen.changed_dirs.insert("/tmp".into());
        seen.changed_dirs.insert("/tmp/x".into());
        seen.written_files.insert("/tmp/x/f".into());
        seen.written_files.insert("/etc/motd".into());
        let l = landlock_rules(&seen);
        let rules = l["rules"]["pathBeneath"].as_array().unwrap();
        assert_eq!(rules[0]["paths"], json!(["/tmp"]));
        let files = rules[1]["paths"].as_array().unwrap();
        assert!(files.contains(&json!("/etc/motd")));
        assert!(!files.contains(&json!("/tmp/x/f")));
        assert!(check_name("../x").is_err() && check_name("web-1.2").is_ok());
    }
}
