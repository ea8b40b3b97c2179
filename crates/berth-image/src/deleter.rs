//! Deleting directories that were moved aside, off the caller's path: one long-lived thread per
//! [`Deleter`] (started at its first use, so nothing is spawned on a removal's path) deletes them
//! a short while after the last one came, in batches. A removal's caller answers its client
//! meanwhile; the unlinks competed with that client for a CPU on a busy host.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long a deleter waits after the last directory it was given.
pub const DELAY: Duration = Duration::from_millis(5);

/// At most this many directories are taken before a batch is deleted.
const BATCH: usize = 64;

/// A background deleter; meant to live in a `static`.
pub struct Deleter {
    name: &'static str,
    tx: OnceLock<Mutex<Option<Sender<PathBuf>>>>,
}

impl Deleter {
    /// A deleter whose thread is called `name`.
    pub const fn new(name: &'static str) -> Self {
        Deleter {
            name,
            tx: OnceLock::new(),
        }
    }

    /// Hand `dirs` over for deletion. Without the thread (it could not be started) they stay
    /// where they are, for the caller's next sweep.
    pub fn delete(&self, dirs: Vec<PathBuf>) {
        if dirs.is_empty() {
            return;
        }
        let slot = self.tx.get_or_init(|| {
            let (tx, rx) = channel::<PathBuf>();
            let started = std::thread::Builder::new()
                .name(self.name.into())
                .spawn(move || {
                    while let Ok(first) = rx.recv() {
                        let mut batch = vec![first];
                        while batch.len() < BATCH {
                            let Ok(more) = rx.recv_timeout(DELAY) else {
                                break;
                            };
                            batch.push(more);
                        }
                        for d in batch {
                            // A late writer (a runtime's log) can race one pass; a second
                            // pass finishes.
                            if std::fs::remove_dir_all(&d).is_err() {
                                let _ = std::fs::remove_dir_all(&d);
                            }
                        }
                    }
                });
            Mutex::new(started.ok().map(|_| tx))
        });
        let tx = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = tx.as_ref() {
            for d in dirs {
                let _ = tx.send(d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_directories_are_deleted_soon_after() {
        static D: Deleter = Deleter::new("test-rm");
        let tmp = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("d{i}"))).collect();
        for d in &dirs {
            std::fs::create_dir_all(d.join("sub")).unwrap();
            std::fs::write(d.join("sub/f"), b"x").unwrap();
        }
        D.delete(dirs.clone());
        let t = std::time::Instant::now();
        while dirs.iter().any(|d| d.exists()) && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(dirs.iter().all(|d| !d.exists()));
        assert!(tmp.path().exists(), "only what was given goes");
    }
}
