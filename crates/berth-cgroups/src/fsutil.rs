//! Small helpers for reading and writing cgroup files and removing cgroup
//! directories. All cgroup I/O in the crate goes through here so errors
//! consistently name the file and the value.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use crate::error::{Error, Result};

/// Write `value` to `dir/file` in a single `write(2)`, opened with
/// `O_WRONLY|O_TRUNC` like runc (cgroup files always exist, so a missing file
/// is an error, never created). In unit tests every write is also recorded
/// in a per-thread log so tests can check exactly what was written, in order.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    #[cfg(test)]
    log::record(&path, value);
    let res = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|source| Error::Write {
        path,
        value: value.to_string(),
        source,
    })
}

/// Files of one cgroup directory kept open across writes: each value still
/// goes in a `write(2)` of its own (a v1 `devices.allow` takes one rule per
/// write), without opening the file again for every value (a dozen device
/// rules per container).
pub(crate) struct OpenFiles<'a> {
    dir: &'a Path,
    files: Vec<(&'a str, fs::File)>,
}

impl<'a> OpenFiles<'a> {
    pub(crate) fn new(dir: &'a Path) -> OpenFiles<'a> {
        OpenFiles {
            dir,
            files: Vec::new(),
        }
    }

    /// [`write`] `value` to `dir/file`, through the descriptor opened by
    /// the first write to that file.
    pub(crate) fn write(&mut self, file: &'a str, value: &str) -> Result<()> {
        let path = self.dir.join(file);
        #[cfg(test)]
        log::record(&path, value);
        let res = match self.files.iter_mut().find(|(f, _)| *f == file) {
            Some((_, f)) => f.write_all(value.as_bytes()),
            None => OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .and_then(|mut f| {
                    f.write_all(value.as_bytes())?;
                    self.files.push((file, f));
                    Ok(())
                }),
        };
        res.map_err(|source| Error::Write {
            path,
            value: value.to_string(),
            source,
        })
    }
}

/// The error for a cgroup directory that does not exist (any more).
pub(crate) fn not_found(dir: &Path) -> Error {
    Error::Read {
        path: dir.to_path_buf(),
        source: std::io::Error::from(ErrorKind::NotFound),
    }
}

/// Whether `dir/file` exists.
pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Read `dir/file` as text.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
}

/// Read `dir/file` if it exists.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path, source }),
    }
}

fn parse_err(dir: &Path, file: &str, content: &str) -> Error {
    Error::Parse {
        path: dir.join(file),
        content: content.to_string(),
    }
}

/// Parse a single unsigned number; `max` maps to `u64::MAX`.
pub(crate) fn parse_u64_str(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// Read a single-number file; `None` if the file does not exist.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<Option<u64>> {
    match read_opt(dir, file)? {
        None => Ok(None),
        Some(s) => parse_u64_str(&s)
            .map(Some)
            .ok_or_else(|| parse_err(dir, file, &s)),
    }
}

/// Read a flat-keyed file (`key value` per line, e.g. `memory.stat`).
/// Returns an empty map if the file does not exist.
pub(crate) fn read_flat_keyed(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let Some(text) = read_opt(dir, file)? else {
        return Ok(out);
    };
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let v = parse_u64_str(v).ok_or_else(|| parse_err(dir, file, line))?;
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

/// Read a whitespace-separated list of numbers (e.g. `cpuacct.usage_percpu`).
pub(crate) fn read_u64_list(dir: &Path, file: &str) -> Result<Vec<u64>> {
    let Some(text) = read_opt(dir, file)? else {
        return Ok(Vec::new());
    };
    text.split_whitespace()
        .map(|v| parse_u64_str(v).ok_or_else(|| parse_err(dir, file, &text)))
        .collect()
}

/// Read pids from a `cgroup.procs` file.
pub(crate) fn read_procs(dir: &Path) -> Result<Vec<i32>> {
    let Some(text) = read_opt(dir, "cgroup.procs")? else {
        return Ok(Vec::new());
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse()
                .map_err(|_| parse_err(dir, "cgroup.procs", l))
        })
        .collect()
}

/// All pids in `dir` and every cgroup below it.
pub(crate) fn read_procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    out.extend(read_procs(dir)?);
    for sub in subdirs(dir)? {
        read_procs_recursive(&sub, out)?;
    }
    Ok(())
}

/// Child directories of `dir` (sorted, for deterministic order).
pub(crate) fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

/// Create `dir` and every missing parent. Returns the directories that were created, outermost first.
pub(crate) fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    // Usually only the leaf is missing: one mkdir, no lookups of each parent first.
    match fs::create_dir(dir) {
        Ok(()) => return Ok(vec![dir.to_path_buf()]),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(Vec::new()),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::CreateDir {
                path: dir.to_path_buf(),
                source,
            })
        }
    }
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.exists() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    missing.reverse();
    for d in &missing {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(Error::CreateDir {
                    path: d.clone(),
                    source,
                })
            }
        }
    }
    Ok(missing)
}

/// Remove the cgroup `dir` and everything below it, deepest first.
/// `EBUSY` is retried briefly (the kernel may still be tearing down exited
/// tasks). Every failure is collected into `errs`; a missing `dir` is fine.
pub(crate) fn remove_tree(dir: &Path, errs: &mut Vec<(PathBuf, std::io::Error)>) {
    // A container's cgroup rarely has children: one rmdir does it, without
    // a lookup and a directory listing first. Children (EBUSY on cgroupfs),
    // tasks still leaving, or a fake tree's files take the walk below.
    match fs::remove_dir(dir) {
        Ok(()) => return,
        Err(e) if e.kind() == ErrorKind::NotFound => return,
        Err(_) => {}
    }
    match subdirs(dir) {
        Ok(subs) => {
            for s in subs {
                remove_tree(&s, errs);
            }
        }
        Err(Error::Read { path, source }) => errs.push((path, source)),
        Err(_) => {}
    }
    let mut delay = Duration::from_millis(10);
    for attempt in 0.. {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == ErrorKind::NotFound => return,
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) && attempt < 6 => {
                sleep(delay);
                delay *= 2;
            }
            // Only a fake tree (a normal filesystem) reports ENOTEMPTY for a
            // directory without sub-directories: cgroupfs lets rmdir remove
            // its control files. Drop the plain files and try again.
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTEMPTY) && attempt == 0 => {
                remove_plain_files(dir);
            }
            Err(e) => {
                errs.push((dir.to_path_buf(), e));
                return;
            }
        }
    }
}

fn remove_plain_files(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod log {
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    thread_local! {
        static LOG: RefCell<Vec<(PathBuf, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn record(path: &Path, value: &str) {
        LOG.with(|l| l.borrow_mut().push((path.to_path_buf(), value.to_string())));
    }

    /// Take this thread's writes, paths relative to `base`.
    pub(crate) fn take(base: &Path) -> Vec<(String, String)> {
        LOG.with(|l| {
            l.borrow_mut()
                .drain(..)
                .map(|(p, v)| {
                    let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
                    (rel, v)
                })
                .collect()
        })
    }
}
