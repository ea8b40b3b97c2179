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
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let aside = trash.join(format!("{}-{stamp}", name.to_string_lossy()));
    // The trash is made when a rename finds it missing, not tried before every removal (a
    // `mkdir` that fails with EEXIST on the path of each `run --rm`'s answer).
    let mut moved = std::fs::rename(dir, &aside);
    if matches!(&moved, Err(e) if e.kind() == std::io::ErrorKind::NotFound)
        && dir.exists()
        && !trash.is_dir()
    {
        if std::fs::create_dir_all(&trash).is_err() {
            return false;
        }
        moved = std::fs::rename(dir, &aside);
    }
    match moved {
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

/// Hand directories to the one thread that deletes the trash ([`berth_image::deleter`]): no
/// thread is spawned on a removal's path, and the deletion waits a few milliseconds after the
/// last discard (a `run --rm`'s removal answers its client's `wait` right after the discard, and
/// the deletion competed with the client's exit for a CPU on a busy 2-core host). Without the
/// thread the trash waits for the next start's sweep.
fn delete(dirs: Vec<PathBuf>) {
    static TRASH: berth_image::deleter::Deleter = berth_image::deleter::Deleter::new("trash");
    TRASH.delete(dirs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_makes_the_trash_when_missing_and_the_directory_goes() {
        let root = tempfile::tempdir().unwrap();
        let parent = root.path().join("containers");
        for n in ["a", "b"] {
            std::fs::create_dir_all(parent.join(n).join("rootfs")).unwrap();
            std::fs::write(parent.join(n).join("config.json"), "{}").unwrap();
        }
        // The first makes `.trash`, the second finds it.
        assert!(discard(&parent.join("a")));
        assert!(parent.join(".trash").is_dir());
        assert!(discard(&parent.join("b")));
        assert!(!parent.join("a").exists() && !parent.join("b").exists());
        // One that is not there is gone already.
        assert!(discard(&parent.join("missing")));
        // The thread deletes what was moved aside.
        let t = std::time::Instant::now();
        while std::fs::read_dir(parent.join(".trash"))
            .unwrap()
            .next()
            .is_some()
        {
            assert!(t.elapsed().as_secs() < 10, "the trash was not emptied");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
