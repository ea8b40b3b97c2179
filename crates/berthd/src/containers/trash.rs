//! Removal off the request's path: a removed container's directories are renamed into a `.trash`
//! directory beside them (one rename each, so they are gone from their names at once) and deleted
//! by a background thread. What a crash keeps from being deleted goes at the next start.

use std::path::{Path, PathBuf};

/// The trash beside `dir` (`<parent>/.trash`): the same file system, so a rename moves it.
fn trash_of(dir: &Path) -> Option<PathBuf> {
    Some(dir.parent()?.join(".trash"))
}

/// Move `dir` into the trash and delete it in the background. False when it could not be moved
/// (the caller deletes it in place); true also when it does not exist.
pub fn discard(dir: &Path) -> bool {
    let (Some(trash), Some(name)) = (trash_of(dir), dir.file_name()) else {
        return false;
    };
    if std::fs::create_dir_all(&trash).is_err() {
        return false;
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let aside = trash.join(format!("{}-{stamp}", name.to_string_lossy()));
    match std::fs::rename(dir, &aside) {
        Ok(()) => {
            delete(vec![aside]);
            true
        }
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Empty the trash of the directories under `parent` (at start-up).
pub fn sweep(parent: &Path) {
    let Ok(rd) = std::fs::read_dir(parent.join(".trash")) else {
        return;
    };
    delete(rd.flatten().map(|e| e.path()).collect());
}

/// Empty the trash of the directories under `parent` now, and remove it (at shutdown: what the
/// thread had not reached yet would otherwise stay until the next start).
pub fn empty_now(parent: &Path) {
    let trash = parent.join(".trash");
    let Ok(rd) = std::fs::read_dir(&trash) else {
        return;
    };
    for e in rd.flatten() {
        // The thread may be deleting the same tree: a second pass finishes what it raced.
        if std::fs::remove_dir_all(e.path()).is_err() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let _ = std::fs::remove_dir(&trash);
}

/// How long the trash waits after a discard before it deletes: a `run --rm`'s removal answers its
/// client's `wait` right after the discard, and the deletion (a dozen unlinks and rmdirs, a
/// directory tree each) competed with the client's exit for a CPU on a busy 2-core host.
const DELAY: std::time::Duration = std::time::Duration::from_millis(5);

/// Hand directories to the one thread that deletes the trash (started at the first use): no thread
/// is spawned on a removal's path, and the deletion waits [`DELAY`] after the last discard.
fn delete(dirs: Vec<PathBuf>) {
    use std::sync::mpsc::{channel, Sender};
    use std::sync::{Mutex, OnceLock};
    static TRASH: OnceLock<Mutex<Option<Sender<PathBuf>>>> = OnceLock::new();
    if dirs.is_empty() {
        return;
    }
    let slot = TRASH.get_or_init(|| {
        let (tx, rx) = channel::<PathBuf>();
        let started = std::thread::Builder::new()
            .name("trash".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    // Until the discards stop for a moment (at most 64 at a time).
                    while batch.len() < 64 {
                        let Ok(more) = rx.recv_timeout(DELAY) else {
                            break;
                        };
                        batch.push(more);
                    }
                    for d in batch {
                        if std::fs::remove_dir_all(&d).is_err() {
                            // A late writer (the runtime's log) can race one pass; a second
                            // pass finishes.
                            let _ = std::fs::remove_dir_all(&d);
                        }
                    }
                }
            });
        Mutex::new(started.ok().map(|_| tx))
    });
    let tx = slot.lock().unwrap_or_else(|e| e.into_inner());
    // Without the thread (it could not be started) the trash waits for the next start's sweep.
    if let Some(tx) = tx.as_ref() {
        for d in dirs {
            let _ = tx.send(d);
        }
    }
}
