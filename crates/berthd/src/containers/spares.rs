//! What a container's create and start take ready-made instead of making on their path: the
//! spare network namespace ([`NETNS`]), and its directories made ahead of need: `<data-root>/containers/.spare-<stamp>`, with
//! its `rootfs` mount point and the empty files a start writes into (hostname, hosts, resolv.conf,
//! config.json), and its run directory under `<exec-root>/containers` (with the empty files the
//! shim and the runtime write there, [`RUN_FILES`]). A create (the data
//! directory) and a start (the run directory) rename them to the container's id, so neither makes
//! a new inode on its path: on this ext4 without a journal every inode made in a fresh
//! directory scans the recently deleted ones (0.4-3 ms each under `run --rm` churn), and writing
//! over an empty file makes none. The spares are made on one thread of their own, after a start (after
//! the removal of a `--rm` container) and at start-up; a name starting with a dot is never taken
//! for a container's (ids are hex), and recovery's sweep leaves it alone; a half-made one from a
//! crash is removed at start-up.

use crate::daemon::Daemon;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

/// The data directory's mount point for the root, and the files a start writes there.
pub const DATA_DIRS: &[&str] = &["rootfs"];
pub const DATA_FILES: &[&str] = &["hostname", "hosts", "resolv.conf", "config.json"];

/// The network namespace the next start of a container takes (made after each such start).
pub static NETNS: berth_net::netns::Spare = berth_net::netns::Spare::new();
/// The data directory the next create takes.
pub static DATA_DIR: SpareDir = SpareDir::new(DATA_DIRS, DATA_FILES);
/// The files a container's shim and runtime write in its run directory, made empty ahead: the
/// shim's log (opened before it hands the runtime its command line), the runtime's log, and the
/// exit file's temporary name (written on the exit's path, then renamed to `exit.json`).
pub const RUN_FILES: &[&str] = &["shim.log", "runtime.log", "exit.tmp"];
/// The run directory (in the exec root) the next start takes.
pub static RUN_DIR: SpareDir = SpareDir::new(&[], RUN_FILES);

/// Make the next standby shim, spare network namespace and spare directories unless they are
/// ready or being made.
pub fn refill_all(d: &Arc<Daemon>) {
    super::shim::refill(d);
    NETNS.refill();
    refill_dirs(d);
}

/// Make the next spare data directory (for a create) and run directory (for a start).
pub fn refill_dirs(d: &Daemon) {
    DATA_DIR.refill(&d.cfg.data_root.join("containers"));
    RUN_DIR.refill(&d.cfg.exec_root.join("containers"));
}

/// At start-up, before the first spares are made: remove what a previous run left.
pub fn sweep_all(d: &Daemon) {
    sweep(&d.cfg.data_root.join("containers"));
    sweep(&d.cfg.exec_root.join("containers"));
}

/// At shutdown: the spare directories (the run directory's holds files, so an emptied exec root
/// would not go with `find -empty`) and the trash's leftovers go with berthd.
pub fn sweep_at_exit(d: &Daemon) {
    sweep_all(d);
    for root in [&d.cfg.data_root, &d.cfg.exec_root] {
        super::trash::empty_now(&root.join("containers"));
    }
}

/// One spare directory of a shape (its subdirectories and empty files), and whether the next is
/// being made.
pub struct SpareDir {
    dirs: &'static [&'static str],
    files: &'static [&'static str],
    ready: Mutex<Option<PathBuf>>,
    filling: AtomicBool,
}

impl SpareDir {
    pub const fn new(dirs: &'static [&'static str], files: &'static [&'static str]) -> Self {
        SpareDir {
            dirs,
            files,
            ready: Mutex::new(None),
            filling: AtomicBool::new(false),
        }
    }

    /// Make `dest` (a container's data directory, not there yet) from the spare, if one is ready:
    /// true if it was. Else the caller makes it as before.
    pub fn take_as(&self, dest: &Path) -> bool {
        let Some(spare) = self.ready.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return false;
        };
        use nix::fcntl::{renameat2, RenameFlags};
        // Never over something already there (one step, no check then rename): the spare stays.
        match renameat2(None, &spare, None, dest, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => true,
            Err(nix::errno::Errno::EEXIST) => {
                *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = Some(spare);
                false
            }
            Err(e) => {
                crate::log!(2, "taking the spare directory {}: {e}", spare.display());
                let _ = std::fs::remove_dir_all(&spare);
                false
            }
        }
    }

    /// Make the next spare under `parent` (`<data-root>/containers` or `<exec-root>/containers`)
    /// on a thread of its own, unless one is ready or being made.
    pub fn refill(&'static self, parent: &Path) {
        if self
            .ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
            || self.filling.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let sent = worker().is_some_and(|tx| tx.send((self, parent.to_path_buf())).is_ok());
        if !sent {
            self.filling.store(false, Ordering::Release);
        }
    }

    /// Make the next spare under `parent` (on the worker).
    fn fill(&self, parent: &Path) {
        match make(parent, self.dirs, self.files) {
            Ok(dir) => *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir),
            Err(e) => crate::log!(2, "making a spare container directory: {e}"),
        }
        self.filling.store(false, Ordering::Release);
    }
}

/// A spare to make, and the directory it goes in.
type Job = (&'static SpareDir, PathBuf);

/// The one thread that makes the spare directories, started at the first refill (a thread
/// started per spare cost a thread's creation and exit twice per `run --rm`); `None` if it could
/// not be started (the creates and starts then make their directories themselves).
fn worker() -> Option<&'static std::sync::mpsc::Sender<Job>> {
    static TX: std::sync::OnceLock<Option<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("spare-dir".into())
            .spawn(move || {
                for (spare, parent) in rx {
                    spare.fill(&parent);
                }
            })
            .ok()?;
        Some(tx)
    })
    .as_ref()
}

/// Made under a temporary name and renamed whole, so a spare is complete or absent.
fn make(parent: &Path, dirs: &[&str], files: &[&str]) -> std::io::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or_default();
    let tmp = parent.join(format!(".spare-tmp-{stamp}"));
    let dir = parent.join(format!(".spare-{stamp}"));
    let made = (|| {
        std::fs::create_dir_all(&tmp)?;
        for d in dirs {
            std::fs::create_dir(tmp.join(d))?;
        }
        for f in files {
            std::fs::File::create(tmp.join(f))?;
        }
        std::fs::rename(&tmp, &dir)
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(dir)
}

/// At start-up: remove the spares a previous run left (made or half-made), before the first is made.
pub fn sweep(parent: &Path) {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(".spare-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_becomes_the_directory_with_its_files_and_is_made_again() {
        static SPARE: SpareDir = SpareDir::new(DATA_DIRS, DATA_FILES);
        let root = tempfile::tempdir().unwrap();
        let parent = root.path().join("containers");
        std::fs::create_dir_all(&parent).unwrap();
        let dest = parent.join("abc");
        assert!(!SPARE.take_as(&dest), "nothing is ready before a refill");
        SPARE.refill(&parent);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !SPARE.take_as(&dest) {
            assert!(std::time::Instant::now() < deadline, "no spare was made");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(dest.join("rootfs").is_dir());
        for f in DATA_FILES {
            assert_eq!(std::fs::metadata(dest.join(f)).unwrap().len(), 0, "{f}");
        }
        // Never over an existing directory.
        SPARE.refill(&parent);
        while SPARE.ready.lock().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "no second spare");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::write(dest.join("hostname"), "mine").unwrap();
        assert!(!SPARE.take_as(&dest));
        assert_eq!(
            std::fs::read_to_string(dest.join("hostname")).unwrap(),
            "mine"
        );
        // A crash's leftovers go at start-up.
        std::fs::create_dir_all(parent.join(".spare-tmp-1/rootfs")).unwrap();
        sweep(&parent);
        let left: Vec<_> = std::fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["abc".to_string()]);
    }
}
