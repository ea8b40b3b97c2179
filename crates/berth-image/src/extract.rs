//! Safe layer extraction.
//!
//! Every path is resolved one component at a time from a directory file descriptor of the root, with
//! `O_NOFOLLOW` on each step: `..` in entry names is rejected, symlinks met on the way are resolved *inside*
//! the root (an absolute target restarts at the root, `..` never climbs above it), files are created with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` so a write can never land on a symlink's target, hardlink targets are resolved
//! the same way, and device nodes are skipped unless allowed. The tar crate is used only to parse headers.

use crate::compression::{decompress, Compression};
use crate::digest::{Digest, HashingReader};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps};
use rustix::io::Errno;
use std::collections::{HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Errors from extraction.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Reading the archive failed.
    #[error("reading layer archive: {0}")]
    Read(#[source] io::Error),
    /// An entry path contains `..`.
    #[error("layer entry {0:?} has a '..' component")]
    PathTraversal(String),
    /// A hardlink points outside the root or at a directory.
    #[error("layer hardlink {path:?} has a bad target {target:?}")]
    BadHardlink {
        /// The link entry.
        path: String,
        /// Its target.
        target: String,
    },
    /// Too many symlinks while resolving a path.
    #[error("layer entry {0:?}: too many levels of symbolic links")]
    SymlinkLoop(String),
    /// A path component is not a directory.
    #[error("layer entry {0:?}: a parent is not a directory")]
    NotADirectory(String),
    /// An entry would replace a directory with a non-directory or the reverse, and
    /// [`ExtractOptions::no_overwrite_dir_non_dir`] forbids it.
    #[error("cannot overwrite {existing} {path:?} with {new} {path:?}")]
    Overwrite {
        /// Entry path.
        path: String,
        /// What is there: `directory` or `non-directory`.
        existing: &'static str,
        /// What the entry is.
        new: &'static str,
    },
    /// A filesystem operation failed.
    #[error("extracting {path:?}: {op}: {source}")]
    Fs {
        /// Entry path.
        path: String,
        /// Operation.
        op: &'static str,
        /// Cause.
        source: io::Error,
    },
    /// The uncompressed content did not match the expected diffID.
    #[error("layer diffID mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// Expected diffID.
        expected: Digest,
        /// Actual.
        actual: Digest,
    },
    /// The compressed content did not match the expected digest.
    #[error("layer digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Expected.
        expected: Digest,
        /// Actual.
        actual: Digest,
    },
}

/// How whiteout entries are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Delete the whited-out paths in the target (flattening layers into one tree).
    Apply,
    /// Turn them into overlayfs whiteouts (0/0 char devices, `trusted.overlay.opaque`).
    Overlay,
    /// No whiteouts: `.wh.` entries are ordinary files (a user's archive, not a layer).
    Literal,
}

/// Extraction options.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Whiteout handling.
    pub whiteouts: WhiteoutMode,
    /// Create character and block devices (otherwise they are skipped).
    pub allow_devices: bool,
    /// chown entries to the uid/gid in the archive.
    pub same_owner: bool,
    /// Apply extended attributes from PAX headers.
    pub xattrs: bool,
    /// Fail instead of replacing a directory with a non-directory (or the reverse).
    pub no_overwrite_dir_non_dir: bool,
    /// With `same_owner`: every entry owned by these (uid, gid) instead of the archive's.
    pub owner: Option<(u32, u32)>,
    /// Resolve `..` in entry names lexically instead of refusing them (a user's archive, as
    /// `docker cp` takes them): `a/../b` is `b`, `/../b` is `b`; a relative name that climbs
    /// above the extraction directory is still refused.
    pub clean_dotdot: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        let root = nix::unistd::geteuid().is_root();
        ExtractOptions {
            whiteouts: WhiteoutMode::Apply,
            allow_devices: root,
            same_owner: root,
            xattrs: true,
            no_overwrite_dir_non_dir: false,
            owner: None,
            clean_dotdot: false,
        }
    }
}

/// What an extraction did.
#[derive(Clone, Debug)]
pub struct ExtractReport {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// sha256 of the stream as given (compressed).
    pub digest: Digest,
    /// Size of the uncompressed stream.
    pub uncompressed_size: u64,
    /// Compression detected.
    pub compression: Compression,
    /// Entries that were skipped (e.g. device nodes when not allowed).
    pub skipped: Vec<String>,
}

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

fn fs_err<'a>(path: &'a str, op: &'static str) -> impl FnOnce(Errno) -> ExtractError + 'a {
    move |e| ExtractError::Fs {
        path: path.to_string(),
        op,
        source: io::Error::from(e),
    }
}

/// Split an archive path into components, dropping `.` and empty parts, rejecting `..`.
pub fn split_entry_path(p: &[u8]) -> Result<Vec<OsString>, ExtractError> {
    let mut out = Vec::new();
    for c in p.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(ExtractError::PathTraversal(
                    String::from_utf8_lossy(p).into_owned(),
                ))
            }
            c => out.push(OsString::from_vec(c.to_vec())),
        }
    }
    Ok(out)
}

/// Like [`split_entry_path`], resolving `..` lexically (see [`ExtractOptions::clean_dotdot`]).
pub fn clean_entry_path(p: &[u8]) -> Result<Vec<OsString>, ExtractError> {
    let mut out: Vec<OsString> = Vec::new();
    for c in p.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() && !p.starts_with(b"/") {
                    return Err(ExtractError::PathTraversal(
                        String::from_utf8_lossy(p).into_owned(),
                    ));
                }
            }
            c => out.push(OsString::from_vec(c.to_vec())),
        }
    }
    Ok(out)
}

/// Extract a (possibly compressed) layer into `root`, verifying `expected_diff_id` if given.
pub fn extract_layer<R: Read>(
    r: R,
    root: &Path,
    opts: &ExtractOptions,
    expected_diff_id: Option<&Digest>,
) -> Result<ExtractReport, ExtractError> {
    let mut raw = HashingReader::new(r);
    let (compression, plain) = decompress(&mut raw).map_err(ExtractError::Read)?;
    let mut hr = HashingReader::new(plain);
    let skipped = {
        let mut ex = Extractor::new(root, opts.clone())?;
        ex.run(&mut hr)?;
        ex.skipped
    };
    let (diff_id, uncompressed_size) = hr.finish().map_err(ExtractError::Read)?;
    let (digest, _) = raw.finish().map_err(ExtractError::Read)?;
    if let Some(e) = expected_diff_id {
        if *e != diff_id {
            return Err(ExtractError::DiffIdMismatch {
                expected: e.clone(),
                actual: diff_id,
            });
        }
    }
    Ok(ExtractReport {
        diff_id,
        digest,
        uncompressed_size,
        compression,
        skipped,
    })
}

/// Extract an uncompressed tar that is no layer (a build context) into `root`: no digests are
/// computed, since none is checked. Returns the entries skipped.
pub fn extract_archive<R: Read>(
    r: R,
    root: &Path,
    opts: &ExtractOptions,
) -> Result<Vec<String>, ExtractError> {
    let mut ex = Extractor::new(root, opts.clone())?;
    ex.run(r)?;
    Ok(ex.skipped)
}

struct Extractor {
    root: OwnedFd,
    root_path: PathBuf,
    opts: ExtractOptions,
    created: HashSet<Vec<OsString>>,
    dirs: Vec<(Vec<OsString>, u32, u64)>,
    skipped: Vec<String>,
}

fn open_dir_at<Fd: AsFd>(dir: Fd, name: &OsStr) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn exists_at<Fd: AsFd>(dir: Fd, name: &OsStr) -> Result<Option<rustix::fs::Stat>, Errno> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => Ok(Some(s)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove `name` in `dir` recursively without following symlinks.
pub(crate) fn remove_all_at<Fd: AsFd>(dir: Fd, name: &OsStr) -> Result<(), Errno> {
    let Some(st) = exists_at(dir.as_fd(), name)? else {
        return Ok(());
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let d = open_dir_at(dir.as_fd(), name)?;
        clear_dir(&d, &|_| false)?;
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())
    }
}

fn clear_dir(d: &OwnedFd, keep: &dyn Fn(&OsStr) -> bool) -> Result<(), Errno> {
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(d)? {
        let e = e?;
        let n = OsStr::from_bytes(e.file_name().to_bytes()).to_os_string();
        if n != "." && n != ".." && !keep(&n) {
            names.push(n);
        }
    }
    for n in names {
        remove_all_at(d, &n)?;
    }
    Ok(())
}

fn ts(secs: u64) -> Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: secs as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

impl Extractor {
    fn new(root: &Path, opts: ExtractOptions) -> Result<Self, ExtractError> {
        let p = root.display().to_string();
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(fs_err(&p, "open root"))?;
        Ok(Extractor {
            root: fd,
            root_path: root.to_path_buf(),
            opts,
            created: HashSet::new(),
            dirs: Vec::new(),
            skipped: Vec::new(),
        })
    }

    /// Resolve the directory holding `comps`, confined to the root. Missing directories are created if
    /// `create`; symlinks are followed inside the root only.
    fn resolve_dir(
        &mut self,
        comps: &[OsString],
        display: &str,
        create: bool,
    ) -> Result<OwnedFd, ExtractError> {
        let mut stack: Vec<OwnedFd> =
            vec![rustix::io::dup(&self.root).map_err(fs_err(display, "dup"))?];
        let mut queue: VecDeque<OsString> = comps.iter().cloned().collect();
        let mut walked: Vec<OsString> = Vec::new();
        let mut links = 0;
        while let Some(c) = queue.pop_front() {
            if c == "." || c.is_empty() {
                continue;
            }
            if c == ".." {
                if stack.len() > 1 {
                    stack.pop();
                    walked.pop();
                }
                continue;
            }
            let top = stack.last().expect("root on stack");
            match open_dir_at(top, &c) {
                Ok(fd) => {
                    stack.push(fd);
                    walked.push(c);
                }
                Err(Errno::NOENT) if create => {
                    rustix::fs::mkdirat(top, &c, Mode::from_raw_mode(0o755))
                        .map_err(fs_err(display, "mkdir parent"))?;
                    let fd = open_dir_at(top, &c).map_err(fs_err(display, "open parent"))?;
                    stack.push(fd);
                    walked.push(c);
                    self.created.insert(walked.clone());
                }
                Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                    let st = rustix::fs::statat(top, &c, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(fs_err(display, "stat parent"))?;
                    if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
                        return Err(ExtractError::NotADirectory(display.to_string()));
                    }
                    links += 1;
                    if links > 40 {
                        return Err(ExtractError::SymlinkLoop(display.to_string()));
                    }
                    let target = rustix::fs::readlinkat(top, &c, Vec::new())
                        .map_err(fs_err(display, "readlink"))?;
                    let tb = target.as_bytes();
                    if tb.starts_with(b"/") {
                        stack.truncate(1);
                        walked.clear();
                    }
                    for part in tb.split(|b| *b == b'/').rev() {
                        queue.push_front(OsString::from_vec(part.to_vec()));
                    }
                }
                Err(e) => return Err(fs_err(display, "open parent")(e)),
            }
        }
        Ok(stack.pop().expect("root on stack"))
    }

    fn run<R: Read>(&mut self, r: R) -> Result<(), ExtractError> {
        let mut ar = tar::Archive::new(r);
        for entry in ar.entries().map_err(ExtractError::Read)? {
            let mut entry = entry.map_err(ExtractError::Read)?;
            self.entry(&mut entry)?;
        }
        self.finish_dirs();
        Ok(())
    }

    fn finish_dirs(&mut self) {
        let dirs = std::mem::take(&mut self.dirs);
        for (comps, mode, mtime) in dirs.iter().rev() {
            let Some((name, parent)) = comps.split_last() else {
                let _ = rustix::fs::fchmod(&self.root, Mode::from_raw_mode(*mode));
                let _ = rustix::fs::futimens(&self.root, &ts(*mtime));
                continue;
            };
            if let Ok(p) = self.resolve_dir(parent, "", false) {
                if let Ok(d) = open_dir_at(&p, name) {
                    let _ = rustix::fs::fchmod(&d, Mode::from_raw_mode(*mode));
                    let _ = rustix::fs::futimens(&d, &ts(*mtime));
                }
            }
        }
    }

    fn split(&self, p: &[u8]) -> Result<Vec<OsString>, ExtractError> {
        if self.opts.clean_dotdot {
            clean_entry_path(p)
        } else {
            split_entry_path(p)
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ExtractError> {
        let raw_path = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw_path).into_owned();
        let comps = self.split(&raw_path)?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) = match self.opts.owner {
            Some(ids) => ids,
            None => (
                header.uid().unwrap_or(0) as u32,
                header.gid().unwrap_or(0) as u32,
            ),
        };
        let mtime = header.mtime().unwrap_or(0);
        let mut xattrs: Vec<(String, Vec<u8>)> = Vec::new();
        if self.opts.xattrs {
            if let Some(exts) = entry.pax_extensions().map_err(ExtractError::Read)? {
                for ext in exts {
                    let ext = ext.map_err(ExtractError::Read)?;
                    if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr."))
                    {
                        if !name.starts_with("trusted.overlay.") {
                            xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
        let Some((name, parent_comps)) = comps.split_last() else {
            // The root itself ("./"): only metadata.
            if kind.is_dir() {
                self.dirs.push((Vec::new(), mode, mtime));
            }
            return Ok(());
        };
        let name = name.clone();
        let parent_comps = parent_comps.to_vec();
        let parent = self.resolve_dir(&parent_comps, &display, true)?;
        let nb = name.as_bytes();

        // Whiteouts.
        let whiteout = match self.opts.whiteouts {
            WhiteoutMode::Literal => None,
            _ => nb.strip_prefix(b".wh."),
        };
        if let Some(hidden) = whiteout {
            if hidden == b".wh..opq" {
                match self.opts.whiteouts {
                    WhiteoutMode::Overlay => rustix::fs::fsetxattr(
                        &parent,
                        OPAQUE_XATTR,
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(fs_err(&display, "set opaque xattr"))?,
                    WhiteoutMode::Apply | WhiteoutMode::Literal => {
                        let created = &self.created;
                        let keep = |n: &OsStr| {
                            let mut p = parent_comps.clone();
                            p.push(n.to_os_string());
                            created.contains(&p)
                        };
                        clear_dir(&parent, &keep)
                            .map_err(fs_err(&display, "apply opaque whiteout"))?;
                    }
                }
                return Ok(());
            }
            let hidden = OsStr::from_bytes(hidden);
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(ExtractError::PathTraversal(display));
            }
            remove_all_at(&parent, hidden).map_err(fs_err(&display, "apply whiteout"))?;
            if self.opts.whiteouts == WhiteoutMode::Overlay {
                rustix::fs::mknodat(
                    &parent,
                    hidden,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rustix::fs::makedev(0, 0),
                )
                .map_err(fs_err(&display, "create overlay whiteout"))?;
            }
            return Ok(());
        }

        let mut full = parent_comps.clone();
        full.push(name.clone());
        let existing = exists_at(&parent, &name).map_err(fs_err(&display, "stat"))?;
        if let Some(st) = &existing {
            let was_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            if self.opts.no_overwrite_dir_non_dir && was_dir != kind.is_dir() {
                let what = |dir: bool| if dir { "directory" } else { "non-directory" };
                return Err(ExtractError::Overwrite {
                    path: display,
                    existing: what(was_dir),
                    new: what(kind.is_dir()),
                });
            }
        }
        if kind.is_dir() {
            match existing {
                Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                Some(_) => {
                    remove_all_at(&parent, &name)
                        .map_err(fs_err(&display, "replace with directory"))?;
                    rustix::fs::mkdirat(&parent, &name, Mode::from_raw_mode(0o755))
                        .map_err(fs_err(&display, "mkdir"))?;
                }
                None => rustix::fs::mkdirat(&parent, &name, Mode::from_raw_mode(0o755))
                    .map_err(fs_err(&display, "mkdir"))?,
            }
            let d = open_dir_at(&parent, &name).map_err(fs_err(&display, "open dir"))?;
            self.owner_fd(&d, uid, gid, &display)?;
            self.xattrs_fd(&d, &xattrs);
            self.dirs.push((full.clone(), mode, mtime));
            self.created.insert(full);
            return Ok(());
        }
        if existing.is_some() {
            remove_all_at(&parent, &name).map_err(fs_err(&display, "replace existing"))?;
        }
        if kind.is_file() || kind == tar::EntryType::Continuous || kind.is_gnu_sparse() {
            let fd = rustix::fs::openat(
                &parent,
                &name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(fs_err(&display, "create file"))?;
            let mut f = File::from(fd);
            io::copy(entry, &mut f).map_err(|e| ExtractError::Fs {
                path: display.clone(),
                op: "write file",
                source: e,
            })?;
            self.owner_fd(&f, uid, gid, &display)?;
            rustix::fs::fchmod(&f, Mode::from_raw_mode(mode)).map_err(fs_err(&display, "chmod"))?;
            self.xattrs_fd(&f, &xattrs);
            let _ = rustix::fs::futimens(&f, &ts(mtime));
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent, &name)
                .map_err(fs_err(&display, "symlink"))?;
            if self.opts.same_owner {
                rustix::fs::chownat(
                    &parent,
                    &name,
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(fs_err(&display, "lchown"))?;
            }
            self.xattrs_link(&parent, &name, &xattrs);
            let _ = rustix::fs::utimensat(&parent, &name, &ts(mtime), AtFlags::SYMLINK_NOFOLLOW);
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            let tdisp = String::from_utf8_lossy(&target).into_owned();
            let bad = || ExtractError::BadHardlink {
                path: display.clone(),
                target: tdisp.clone(),
            };
            let tcomps = self.split(&target).map_err(|_| bad())?;
            let Some((tname, tparent)) = tcomps.split_last() else {
                return Err(bad());
            };
            let tdir = self
                .resolve_dir(tparent, &display, false)
                .map_err(|_| bad())?;
            match exists_at(&tdir, tname).map_err(fs_err(&display, "stat link target"))? {
                Some(st) if FileType::from_raw_mode(st.st_mode) != FileType::Directory => {}
                _ => return Err(bad()),
            }
            rustix::fs::linkat(&tdir, tname, &parent, &name, AtFlags::empty())
                .map_err(fs_err(&display, "hardlink"))?;
        } else if kind.is_character_special() || kind.is_block_special() {
            if !self.opts.allow_devices {
                self.skipped.push(display);
                return Ok(());
            }
            let ft = if kind.is_character_special() {
                FileType::CharacterDevice
            } else {
                FileType::BlockDevice
            };
            let dev = rustix::fs::makedev(
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            );
            rustix::fs::mknodat(&parent, &name, ft, Mode::from_raw_mode(mode), dev)
                .map_err(fs_err(&display, "mknod"))?;
            self.finish_special(&parent, &name, uid, gid, mode, mtime, &display, &xattrs)?;
        } else if kind.is_fifo() {
            rustix::fs::mknodat(&parent, &name, FileType::Fifo, Mode::from_raw_mode(mode), 0)
                .map_err(fs_err(&display, "mkfifo"))?;
            self.finish_special(&parent, &name, uid, gid, mode, mtime, &display, &xattrs)?;
        } else {
            self.skipped.push(display);
            return Ok(());
        }
        self.created.insert(full);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_special(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        uid: u32,
        gid: u32,
        mode: u32,
        mtime: u64,
        display: &str,
        xattrs: &[(String, Vec<u8>)],
    ) -> Result<(), ExtractError> {
        if self.opts.same_owner {
            rustix::fs::chownat(
                parent,
                name,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(fs_err(display, "chown"))?;
        }
        // We just created a non-symlink here, so chmodat cannot be redirected.
        rustix::fs::chmodat(parent, name, Mode::from_raw_mode(mode), AtFlags::empty())
            .map_err(fs_err(display, "chmod"))?;
        self.xattrs_link(parent, name, xattrs);
        let _ = rustix::fs::utimensat(parent, name, &ts(mtime), AtFlags::SYMLINK_NOFOLLOW);
        Ok(())
    }

    fn owner_fd<Fd: AsFd>(
        &self,
        fd: Fd,
        uid: u32,
        gid: u32,
        display: &str,
    ) -> Result<(), ExtractError> {
        if self.opts.same_owner {
            rustix::fs::fchown(
                fd,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(fs_err(display, "chown"))?;
        }
        Ok(())
    }

    fn xattrs_fd<Fd: AsFd>(&self, fd: Fd, xattrs: &[(String, Vec<u8>)]) {
        for (k, v) in xattrs {
            // Unsupported or unprivileged xattrs are not fatal, as in docker.
            let _ =
                rustix::fs::fsetxattr(fd.as_fd(), k.as_str(), v, rustix::fs::XattrFlags::empty());
        }
    }

    fn xattrs_link(&self, parent: &OwnedFd, name: &OsStr, xattrs: &[(String, Vec<u8>)]) {
        if xattrs.is_empty() {
            return;
        }
        // The parent is pinned by its fd; the last component is not followed (lsetxattr).
        let mut p = PathBuf::from(format!("/proc/self/fd/{}", parent.as_raw_fd()));
        p.push(name);
        for (k, v) in xattrs {
            let _ = rustix::fs::lsetxattr(&p, k.as_str(), v, rustix::fs::XattrFlags::empty());
        }
        let _ = &self.root_path;
    }
}
