//! Container state on disk: `<root>/<id>/state.json`, which also holds a
//! copy of the config (its `config` field), and the exec fifo while a
//! container made by `create` waits for `start`. The state survives a crash
//! of the runtime; the status is derived from the kernel (is init alive, is
//! the fifo still there) rather than stored, so it can never go stale.
//!
//! Older versions kept the config in a file of its own, `config.json`, and
//! made the fifo for `run` too: a state directory they wrote (a container
//! that outlived an upgrade) is read the same way, see [`saved_spec`].

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// The runtime-spec version this runtime implements.
pub const OCI_VERSION: &str = "1.2.0";

pub const STATE_FILE: &str = "state.json";
/// The config's own file, as older versions wrote it (read, never written).
pub const CONFIG_FILE: &str = "config.json";
/// The field of state.json holding the config.
const CONFIG_FIELD: &str = "config";
pub const EXEC_FIFO: &str = "exec.fifo";

/// A container's status, as the runtime-spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the runtime records about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init.
    pub pid: i32,
    /// Start time of init in clock ticks since boot (field 22 of
    /// /proc/pid/stat), so a recycled pid is never mistaken for init.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 time of creation, UTC, nanoseconds.
    pub created: String,
    /// The container's cgroup, resolved at create time.
    pub cgroup: Option<berth_cgroups::CgroupPaths>,
    pub annotations: HashMap<String, String>,
    /// Whether the init shares the host pid namespace (kill --all then matters).
    #[serde(default)]
    pub shared_pid_ns: bool,
}

/// The state as `berth-runtime state` prints it (runc's shape).
#[derive(Debug, Serialize)]
pub struct StateView<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

/// The state given to hooks on stdin (the runtime-spec's shape).
#[derive(Debug, Serialize)]
pub struct HookState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: Status,
    #[serde(skip_serializing_if = "is_zero")]
    pub pid: i32,
    pub bundle: &'a Path,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

/// Check a container id the way runc does, so it is safe as a directory name.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// The directory holding one container's state.
pub fn container_dir(root: &Path, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(root.join(id))
}

impl State {
    pub fn load(root: &Path, id: &str) -> Result<State> {
        Self::load_with_text(root, id).map(|(st, _)| st)
    }

    /// [`State::load`], with the file's bytes too (they hold the saved config).
    pub fn load_with_text(root: &Path, id: &str) -> Result<(State, Vec<u8>)> {
        let dir = container_dir(root, id)?;
        let data = match fs::read(dir.join(STATE_FILE)) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(e).with_ctx(|| format!("read state of {id}")),
        };
        let st = serde_json::from_slice(&data)
            .map_err(|e| Error::Config(format!("state of container {id} is corrupt: {e}")))?;
        Ok((st, data))
    }

    /// Write the state atomically (temporary file, fsync-free rename),
    /// with `config` (the container's config, serialized) inside it. A
    /// state directory an older version wrote keeps its config.json, and
    /// `config` is then left out (`update` rewrites that file instead).
    pub fn save(&self, root: &Path, config: Option<&[u8]>) -> Result<()> {
        let dir = container_dir(root, &self.id)?;
        write_atomic(&dir.join(STATE_FILE), &self.to_json(config))
    }

    /// [`State::save`] in two steps: write the temporary file now, and
    /// [`State::commit`] renames it into place later (the state is then
    /// visible). The writing overlaps with init's set-up.
    pub fn stage(&self, root: &Path, config: Option<&[u8]>) -> Result<()> {
        let dir = container_dir(root, &self.id)?;
        write_tmp(&dir.join(STATE_FILE), &self.to_json(config)).map(drop)
    }

    /// Rename the file [`State::stage`] wrote into place.
    pub fn commit(&self, root: &Path) -> Result<()> {
        let path = container_dir(root, &self.id)?.join(STATE_FILE);
        let tmp = path.with_extension("tmp");
        fs::rename(&tmp, &path).with_ctx(|| format!("rename {} into place", path.display()))
    }

    /// The state as state.json holds it: the state's own fields, then
    /// `config` (already-serialized JSON, spliced in rather than parsed
    /// back, so the config is serialized once, while init does its mounts).
    pub fn to_json(&self, config: Option<&[u8]>) -> Vec<u8> {
        let mut data = serde_json::to_vec(self).expect("state serializes");
        if let Some(config) = config {
            // The state is a JSON object with fields: drop its closing brace.
            debug_assert_eq!(data.last(), Some(&b'}'));
            data.pop();
            data.extend_from_slice(format!(",\"{CONFIG_FIELD}\":").as_bytes());
            data.extend_from_slice(config);
            data.push(b'}');
        }
        data
    }

    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(&self.id)
    }

    /// Whether init is still alive (and is still our process, not a reused pid).
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match proc_stat(self.pid) {
            Some((state, start)) => state != 'Z' && state != 'X' && start == self.pid_start,
            None => false,
        }
    }

    /// The status, derived from the kernel and the exec fifo.
    pub fn status(&self, root: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        // Frozen wins over created, as in runc: a paused created container
        // must read `paused`, so that resume and delete --force thaw it.
        if crate::cgroups::is_frozen(self) {
            return Status::Paused;
        }
        if self.dir(root).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        Status::Running
    }

    pub fn view<'a>(&'a self, status: Status) -> StateView<'a> {
        StateView {
            oci_version: OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: "",
            annotations: &self.annotations,
        }
    }

    pub fn hook_state<'a>(&'a self, status: Status) -> HookState<'a> {
        HookState {
            oci_version: OCI_VERSION,
            id: &self.id,
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: &self.bundle,
            annotations: &self.annotations,
        }
    }
}

/// The emptied state directory a removed container leaves in the root for
/// the next `create` to claim (a name no container can have: ids never start
/// with a dot). On ext4 mounted with `discard` (this project's VMs) freeing a
/// directory's block waits for the disk's discard: 2-3 ms per rmdir, half of
/// a `run` of /bin/true; a rename each way costs microseconds. The spare
/// keeps the last state.json as `state.tmp` too, which the next state write
/// truncates and renames into place: a run allocates no inode (on ext4 each
/// allocation scans the recently deleted ones).
pub const SPARE_DIR: &str = ".spare";
/// The temporary name state.json is written under ([`write_atomic`]).
const STATE_TMP: &str = "state.tmp";

/// Claim `<root>/<id>` for a new container: the spare directory renamed to
/// it (never over an existing one), or a new directory (mode 0711). An id in
/// use is [`Error::Exists`].
pub fn claim_dir(root: &Path, id: &str) -> Result<PathBuf> {
    use nix::fcntl::{renameat2, RenameFlags};
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let dir = root.join(id);
    let spare = root.join(SPARE_DIR);
    match renameat2(None, &spare, None, &dir, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => {
            // Only this runtime parks directories there, emptied; anything
            // else found under the name is not reused.
            let ours = fs::symlink_metadata(&dir).is_ok_and(|m| {
                m.is_dir()
                    && m.uid() == nix::unistd::geteuid().as_raw()
                    && m.mode() & 0o7777 == 0o711
            }) && fs::read_dir(&dir).is_ok_and(|d| {
                d.into_iter().all(|e| {
                    e.is_ok_and(|e| {
                        // A regular file of its own (a hard link's target
                        // would be truncated by the next write), readable by
                        // its owner only (an older version's state was not).
                        e.file_name() == STATE_TMP
                            && e.metadata().is_ok_and(|m| {
                                m.is_file() && m.nlink() == 1 && m.mode() & 0o777 == 0o600
                            })
                    })
                })
            });
            if ours {
                return Ok(dir);
            }
            remove_any(&dir).with_ctx(|| format!("remove {}", dir.display()))?;
        }
        Err(nix::errno::Errno::EEXIST) => return Err(Error::Exists(id.to_string())),
        // No spare (ENOENT), or a kernel or file system without
        // RENAME_NOREPLACE: a new directory.
        Err(_) => {}
    }
    match fs::DirBuilder::new().mode(0o711).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::Exists(id.to_string()))
        }
        Err(e) => Err(e).with_ctx(|| format!("create {}", dir.display())),
    }
}

/// Remove a container's state directory: emptied (state.json kept as
/// `state.tmp`), then parked as the root's spare directory (see
/// [`SPARE_DIR`]) if there is none, else removed. A directory already gone
/// is no error (another delete won).
pub fn remove_dir(root: &Path, dir: &Path) -> std::io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags};
    let entries = match fs::read_dir(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let ignore_gone = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name();
        if name != STATE_FILE && name != STATE_TMP {
            ignore_gone(remove_any(&e.path()))?;
        }
    }
    // Nothing of the removed container stays in the spare: its state (with
    // its config, whose environment may hold secrets) is overwritten with
    // zeros of the same length, which keeps the file's blocks (freeing them
    // would cost a discard, see [`SPARE_DIR`]).
    let state = dir.join(STATE_FILE);
    if let Ok(mut f) = fs::OpenOptions::new().write(true).open(&state) {
        let len = f.metadata().map_or(0, |m| m.len());
        if f.write_all(&vec![0; len as usize]).is_err() {
            drop(f);
            ignore_gone(fs::remove_file(&state))?;
        }
    }
    let tmp = dir.join(STATE_TMP);
    ignore_gone(fs::rename(&state, &tmp))?;
    let spare = root.join(SPARE_DIR);
    if renameat2(None, dir, None, &spare, RenameFlags::RENAME_NOREPLACE).is_ok() {
        return Ok(());
    }
    ignore_gone(fs::remove_file(&tmp))?;
    match fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Remove a file, or a directory with what it holds (not following links).
fn remove_any(path: &Path) -> std::io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// The config saved when the container was made: the `config` field of
/// state.json, or an older version's config.json beside it. `None` when
/// neither can be read.
pub fn saved_spec(root: &Path, st: &State) -> Option<oci_spec::runtime::Spec> {
    let dir = st.dir(root);
    let data = fs::read(dir.join(STATE_FILE)).ok()?;
    #[derive(Deserialize)]
    struct WithConfig {
        config: Option<oci_spec::runtime::Spec>,
    }
    match serde_json::from_slice::<WithConfig>(&data) {
        Ok(WithConfig { config: Some(spec) }) => Some(spec),
        Ok(WithConfig { config: None }) => {
            let data = fs::read(dir.join(CONFIG_FILE)).ok()?;
            serde_json::from_slice(&data).ok()
        }
        Err(_) => None,
    }
}

/// Replace the saved config (`update`): inside state.json, or in an older
/// version's config.json where that is where it lives.
pub fn save_spec(root: &Path, st: &State, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let config = serde_json::to_vec(spec).expect("spec serializes");
    let old = st.dir(root).join(CONFIG_FILE);
    if old.exists() {
        write_atomic(&old, &config)
    } else {
        st.save(root, Some(&config))
    }
}

/// State letter and start time (clock ticks) of a process, from /proc/pid/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let data = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let rest = &data[data.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // rest starts at field 3 (state); starttime is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Write a file by writing a temporary sibling (`x.json` -> `x.tmp`, reused
/// if it exists) and renaming it over. An existing temporary file is
/// overwritten and then cut to length, never truncated to zero first: ext4
/// forces the blocks of a file written after a truncation to zero to be
/// allocated at close (`auto_da_alloc`), and freeing them later waits for a
/// discard on this project's VMs; overwritten, the data stays delayed.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = write_tmp(path, data)?;
    fs::rename(&tmp, path).with_ctx(|| format!("rename {} into place", path.display()))
}

/// The first half of [`write_atomic`]: write `path`'s temporary sibling,
/// and return its path.
fn write_tmp(path: &Path, data: &[u8]) -> Result<PathBuf> {
    let tmp = path.with_extension("tmp");
    debug_assert!(path.file_name() != Some(STATE_FILE.as_ref()) || tmp.ends_with(STATE_TMP));
    use std::os::unix::fs::OpenOptionsExt;
    // The state holds the config, whose environment may hold secrets: the
    // owner's only.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&tmp)
        .with_ctx(|| format!("create {}", tmp.display()))?;
    f.write_all(data)
        .with_ctx(|| format!("write {}", tmp.display()))?;
    f.set_len(data.len() as u64)
        .with_ctx(|| format!("write {}", tmp.display()))?;
    drop(f);
    Ok(tmp)
}

/// The current time as RFC 3339 with nanoseconds, UTC (runc's `created`).
pub fn now_rfc3339() -> String {
    berth_time::now_rfc3339_nano()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1.2_3+x").is_ok());
        for bad in ["", ".hidden", "a/b", "../x", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn config_is_spliced_into_the_state_and_read_back() {
        let st = State {
            id: "c1".into(),
            pid: 7,
            pid_start: 9,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00Z".into(),
            cgroup: None,
            annotations: HashMap::new(),
            shared_pid_ns: false,
        };
        let spec = oci_spec::runtime::Spec::default();
        let config = serde_json::to_vec(&spec).unwrap();
        let data = st.to_json(Some(&config));
        let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(v["id"], "c1");
        assert_eq!(v["config"], serde_json::to_value(&spec).unwrap());
        // The state itself loads with the config beside it, and without.
        let back: State = serde_json::from_slice(&data).unwrap();
        assert_eq!((back.id.as_str(), back.pid), ("c1", 7));
        let bare: serde_json::Value = serde_json::from_slice(&st.to_json(None)).unwrap();
        assert!(bare.get("config").is_none());
    }

    #[test]
    fn write_atomic_reuses_a_longer_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(dir.path().join("state.tmp"), "x".repeat(100)).unwrap();
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert!(!dir.path().join("state.tmp").exists());
    }

    #[test]
    fn the_spare_keeps_nothing_of_the_removed_container() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = claim_dir(root.path(), "c1").unwrap();
        write_atomic(&dir.join(STATE_FILE), b"{\"env\":\"PASSWORD=hunter2\"}").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(STATE_FILE)), 0o600);
        remove_dir(root.path(), &dir).unwrap();
        let kept = root.path().join(SPARE_DIR).join(STATE_TMP);
        let data = fs::read(&kept).unwrap();
        assert!(
            data.iter().all(|b| *b == 0),
            "{:?}",
            String::from_utf8_lossy(&data)
        );
        // Claimed again: the same directory, no older state readable in it.
        let dir = claim_dir(root.path(), "c2").unwrap();
        assert!(dir.join(STATE_TMP).exists());
        // A spare whose state file others could read (an older version's) is not reused.
        remove_dir(root.path(), &dir).unwrap();
        fs::set_permissions(&kept, fs::Permissions::from_mode(0o644)).unwrap();
        let dir = claim_dir(root.path(), "c3").unwrap();
        assert!(!dir.join(STATE_TMP).exists());
    }

    #[test]
    fn proc_stat_reads_own_process() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
    }
}
