//! The file trees COPY and ADD read: a directory on disk ([`DirTree`]: a stage's or an image's root
//! file system) or a build context held in memory as it was unpacked ([`MemTree`]), so that a
//! cached build writes no file. A context's file contents stay in memory up to a budget; the rest
//! goes to one unnamed temporary file (`O_TMPFILE`, gone when the tree is dropped), so memory stays
//! bounded whatever the context's size.
//!
//! Paths are relative to the tree's root, `/`-separated, without `.` or `..` (`""` is the root);
//! nothing here follows symlinks: [`crate::copy::in_root`] resolves them inside the root.

use crate::BuildError;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFIFO: u32 = 0o010000;

/// What `lstat` tells of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// `st_mode`: the type and permission bits.
    pub mode: u32,
    /// Size in bytes (a symlink's: its target's length).
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
}

impl Meta {
    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
    /// A symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }
}

/// The content digest COPY's checksum takes of a regular file: BLAKE3 (256 bits, hex). Any
/// collision-resistant hash keeps the cache exact; BLAKE3 runs several times faster than SHA-256
/// here (SIMD), and a cached rebuild hashes its whole context.
pub fn content_digest(r: &mut dyn Read) -> io::Result<String> {
    let mut h = blake3::Hasher::new();
    io::copy(r, &mut h)?;
    Ok(h.finalize().to_hex().to_string())
}

/// A file tree COPY and ADD read from.
pub trait Tree: Send + Sync + std::fmt::Debug {
    /// `lstat` of `rel` (the last component not followed).
    fn lstat(&self, rel: &str) -> io::Result<Meta>;
    /// A symlink's target.
    fn read_link(&self, rel: &str) -> io::Result<String>;
    /// The names in a directory (UTF-8 ones; any order).
    fn read_dir(&self, rel: &str) -> io::Result<Vec<String>>;
    /// A regular file's content.
    fn open(&self, rel: &str) -> io::Result<Box<dyn Read + Send + '_>>;
    /// A regular file's [`content_digest`] when the tree already knows it.
    fn digest(&self, _rel: &str) -> Option<String> {
        None
    }
}

/// A directory on disk.
#[derive(Clone, Debug)]
pub struct DirTree(pub PathBuf);

impl DirTree {
    fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.0.clone()
        } else {
            self.0.join(rel)
        }
    }
}

impl Tree for DirTree {
    fn lstat(&self, rel: &str) -> io::Result<Meta> {
        let md = fs::symlink_metadata(self.path(rel))?;
        Ok(Meta {
            mode: md.mode(),
            size: md.len(),
            mtime: md.mtime(),
        })
    }
    fn read_link(&self, rel: &str) -> io::Result<String> {
        Ok(fs::read_link(self.path(rel))?
            .to_string_lossy()
            .into_owned())
    }
    fn read_dir(&self, rel: &str) -> io::Result<Vec<String>> {
        Ok(fs::read_dir(self.path(rel))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect())
    }
    fn open(&self, rel: &str) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(fs::File::open(self.path(rel))?))
    }
}

/// Where a [`MemTree`] file's content is.
#[derive(Clone, Debug)]
enum Data {
    None,
    /// At this offset of the tree's slab (its length is the size).
    Mem(usize),
    /// At this offset of the spill file (its length is the size).
    Spilled(u64),
}

#[derive(Clone, Debug)]
struct Node {
    meta: Meta,
    link: Option<String>,
    data: Data,
    digest: Option<String>,
}

impl Node {
    fn dir(mode: u32, mtime: i64) -> Node {
        Node {
            meta: Meta {
                mode: S_IFDIR | (mode & 0o7777),
                size: 0,
                mtime,
            },
            link: None,
            data: Data::None,
            digest: None,
        }
    }
}

/// The slab of the last build context, kept for the next one: its pages stay mapped, so reading a
/// context no larger than the last one takes no page faults (fresh memory cost more CPU than the
/// copy itself). Only a slab of at most [`SLAB_KEPT`] bytes is kept.
static SLAB: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// The largest slab kept between builds.
pub const SLAB_KEPT: usize = 16 << 20;

/// A build context in memory: every entry's metadata, and file contents up to a budget in one slab
/// (the rest in one unnamed temporary file).
pub struct MemTree {
    nodes: BTreeMap<String, Node>,
    budget: u64,
    /// File contents, appended as they arrive (a replaced file's bytes stay: the budget bounds the
    /// slab, not what is still named). Its length is what was ever written (a kept slab is not
    /// zeroed again); `used` is this tree's part.
    slab: Vec<u8>,
    used: usize,
    spill_dir: PathBuf,
    spill: Option<fs::File>,
    spill_len: u64,
}

impl std::fmt::Debug for MemTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTree")
            .field("entries", &self.nodes.len())
            .field("in_memory", &self.used)
            .field("spilled", &self.spill_len)
            .finish()
    }
}

impl Drop for MemTree {
    fn drop(&mut self) {
        let slab = std::mem::take(&mut self.slab);
        if slab.capacity() <= SLAB_KEPT {
            if let Ok(mut kept) = SLAB.lock() {
                if slab.capacity() > kept.capacity() {
                    *kept = slab;
                }
            }
        }
    }
}

/// An empty tree that never holds a file (a build's default context): it leaves the kept slab
/// to the next context read with [`MemTree::new`].
impl Default for MemTree {
    fn default() -> Self {
        MemTree::with_slab(0, std::env::temp_dir(), Vec::new())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn not_found(rel: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{rel}: no such file"))
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// An entry's path, `..` resolved lexically as unpacking a context on disk does (berth-image's
/// [`berth_image::extract::clean_entry_path`]: one climbing above the root is refused); `None`
/// for a name that is not UTF-8 (COPY cannot name it either).
fn clean(raw: &[u8]) -> io::Result<Option<Vec<String>>> {
    let comps = berth_image::extract::clean_entry_path(raw).map_err(|e| bad(e.to_string()))?;
    Ok(comps.into_iter().map(|c| c.into_string().ok()).collect())
}

impl MemTree {
    /// An empty tree (only its root) keeping up to `budget` bytes of file contents in memory and
    /// the rest in a temporary file made in `spill_dir` when first needed.
    pub fn new(budget: u64, spill_dir: PathBuf) -> MemTree {
        let slab = SLAB
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        MemTree::with_slab(budget, spill_dir, slab)
    }

    fn with_slab(budget: u64, spill_dir: PathBuf, slab: Vec<u8>) -> MemTree {
        let mut nodes = BTreeMap::new();
        nodes.insert(String::new(), Node::dir(0o755, now()));
        MemTree {
            nodes,
            budget,
            slab,
            used: 0,
            spill_dir,
            spill: None,
            spill_len: 0,
        }
    }

    /// Read a tar (uncompressed) into the tree, as unpacking it on disk would leave it: parents
    /// made as needed (0755), symlinks on an entry's parent path followed inside the root, a later
    /// entry replacing an earlier one (a directory declared again only takes the new metadata),
    /// hard links as copies, devices skipped. Each file is hashed as it is read.
    pub fn unpack<R: Read>(&mut self, r: R) -> io::Result<()> {
        let mut ar = tar::Archive::new(r);
        for e in ar.entries()? {
            let mut e = e?;
            self.entry(&mut e)?;
        }
        Ok(())
    }

    /// Bytes of file contents held in memory.
    pub fn in_memory(&self) -> u64 {
        self.used as u64
    }

    /// Bytes of file contents in the spill file.
    pub fn spilled(&self) -> u64 {
        self.spill_len
    }

    /// The directory holding `comps` (symlinks followed inside the root), made if missing.
    fn parent(&mut self, comps: &[String], display: &str, create: bool) -> io::Result<String> {
        let mut queue: std::collections::VecDeque<String> = comps.iter().cloned().collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = queue.pop_front() {
            if c.is_empty() || c == "." {
                continue;
            }
            if c == ".." {
                done.pop();
                continue;
            }
            let p = join(&done.join("/"), &c);
            match self.nodes.get(&p) {
                Some(n) if n.meta.is_dir() => done.push(c),
                Some(n) if n.meta.is_symlink() => {
                    hops += 1;
                    if hops > 40 {
                        return Err(bad(format!(
                            "entry {display:?}: too many levels of symbolic links"
                        )));
                    }
                    let t = n.link.clone().unwrap_or_default();
                    if t.starts_with('/') {
                        done.clear();
                    }
                    for x in t.split('/').rev() {
                        queue.push_front(x.to_string());
                    }
                }
                Some(_) => {
                    return Err(bad(format!(
                        "entry {display:?}: a parent is not a directory"
                    )))
                }
                None if create => {
                    self.nodes.insert(p, Node::dir(0o755, now()));
                    done.push(c);
                }
                None => return Err(not_found(display)),
            }
        }
        Ok(done.join("/"))
    }

    fn remove(&mut self, path: &str) {
        if let Some(n) = self.nodes.remove(path) {
            if n.meta.is_dir() {
                let prefix = format!("{path}/");
                let below: Vec<String> = self
                    .nodes
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in below {
                    self.nodes.remove(&k);
                }
            }
        }
    }

    /// Read a file's content, hashing it; in memory while the budget allows, else spilled.
    fn store(&mut self, r: &mut dyn Read, size: u64) -> io::Result<(Data, u64, String)> {
        let mut h = blake3::Hasher::new();
        if self.used as u64 + size <= self.budget {
            let (at, end) = (self.used, self.used + size as usize);
            if self.slab.len() < end {
                if self.slab.capacity() < end {
                    // Grown into a new allocation and the old one freed (not `realloc`, which
                    // glibc does with `mremap` for large blocks): freeing a large block raises
                    // glibc's mmap threshold to its size (mallopt(3), M_MMAP_THRESHOLD), so the
                    // connection's read buffers then come from memory malloc keeps instead of
                    // fresh pages faulted in on every request (~700 faults per cached rebuild
                    // of bench/build.sh once the slab was kept and never freed).
                    let mut grown = Vec::with_capacity(end.max(self.slab.capacity() * 2));
                    grown.extend_from_slice(&self.slab);
                    self.slab = grown;
                }
                self.slab.resize(end, 0);
            }
            // Each piece is hashed as it comes: when the context's last byte is in, only that
            // piece is left to hash.
            let mut pos = at;
            while pos < end {
                let k = match r.read(&mut self.slab[pos..end]) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(k) => k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                h.update(&self.slab[pos..pos + k]);
                pos += k;
            }
            self.used = end;
            return Ok((Data::Mem(at), size, h.finalize().to_hex().to_string()));
        }
        if self.spill.is_none() {
            fs::create_dir_all(&self.spill_dir)?;
            self.spill = Some(tempfile::tempfile_in(&self.spill_dir)?);
        }
        let f = self.spill.as_ref().expect("spill file");
        let offset = self.spill_len;
        let mut w = io::BufWriter::with_capacity(256 * 1024, f);
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0u64;
        loop {
            let k = r.read(&mut buf)?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            w.write_all(&buf[..k])?;
            n += k as u64;
        }
        w.flush()?;
        self.spill_len += n;
        Ok((Data::Spilled(offset), n, h.finalize().to_hex().to_string()))
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> io::Result<()> {
        let raw = e.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw).into_owned();
        let Some(comps) = clean(&raw)? else {
            return Ok(());
        };
        let h = e.header().clone();
        let kind = h.entry_type();
        let perm = h.mode().unwrap_or(0o644) & 0o7777;
        let mtime = h.mtime().unwrap_or(0) as i64;
        let Some((name, parent)) = comps.split_last() else {
            if kind.is_dir() {
                self.nodes.insert(String::new(), Node::dir(perm, mtime));
            }
            return Ok(());
        };
        let parent = self.parent(parent, &display, true)?;
        let path = join(&parent, name);
        if kind.is_dir() {
            if !self.nodes.get(&path).is_some_and(|n| n.meta.is_dir()) {
                self.remove(&path);
            }
            let kept = self
                .nodes
                .entry(path)
                .or_insert_with(|| Node::dir(perm, mtime));
            kept.meta = Node::dir(perm, mtime).meta;
            return Ok(());
        }
        let node = if kind.is_file() || kind == tar::EntryType::Continuous || kind.is_gnu_sparse() {
            let size = e.size();
            let (data, n, digest) = self.store(e, size)?;
            Node {
                meta: Meta {
                    mode: S_IFREG | perm,
                    size: n,
                    mtime,
                },
                link: None,
                data,
                digest: Some(digest),
            }
        } else if kind.is_symlink() {
            let t = e
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            Node {
                meta: Meta {
                    mode: S_IFLNK | 0o777,
                    size: t.len() as u64,
                    mtime,
                },
                link: Some(t),
                data: Data::None,
                digest: None,
            }
        } else if kind.is_hard_link() {
            let t = e
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let broken = || bad(format!("entry {display:?}: bad hard link target"));
            let tcomps = clean(&t)?.ok_or_else(broken)?;
            let (tname, tparent) = tcomps.split_last().ok_or_else(broken)?;
            let tp = self
                .parent(tparent, &display, false)
                .map_err(|_| broken())?;
            let target = self.nodes.get(&join(&tp, tname)).ok_or_else(broken)?;
            if target.meta.is_dir() {
                return Err(broken());
            }
            // Shares its target's bytes.
            target.clone()
        } else if kind.is_fifo() {
            Node {
                meta: Meta {
                    mode: S_IFIFO | perm,
                    size: 0,
                    mtime,
                },
                link: None,
                data: Data::None,
                digest: None,
            }
        } else {
            // Devices (never unpacked from a context), and what tar itself consumes.
            return Ok(());
        };
        self.remove(&path);
        self.nodes.insert(path, node);
        Ok(())
    }

    fn node(&self, rel: &str) -> io::Result<&Node> {
        self.nodes.get(rel).ok_or_else(|| not_found(rel))
    }

    /// A file's content, its symlinks followed inside the tree (the Dockerfile, `.dockerignore`).
    pub fn read_followed(&self, rel: &str) -> Result<Vec<u8>, BuildError> {
        let p = crate::copy::in_root(self, rel, true)?;
        let mut v = Vec::new();
        self.open(&p)
            .and_then(|mut r| r.read_to_end(&mut v))
            .map_err(|e| BuildError::io(format!("reading {rel}"), e))?;
        Ok(v)
    }
}

/// A spilled file's content, read with `pread` (the spill file is shared).
struct SpillReader<'a> {
    f: &'a fs::File,
    at: u64,
    left: u64,
}

impl Read for SpillReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        if n == 0 {
            return Ok(0);
        }
        let k = self.f.read_at(&mut buf[..n], self.at)?;
        if k == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.at += k as u64;
        self.left -= k as u64;
        Ok(k)
    }
}

impl Tree for MemTree {
    fn lstat(&self, rel: &str) -> io::Result<Meta> {
        Ok(self.node(rel)?.meta)
    }
    fn read_link(&self, rel: &str) -> io::Result<String> {
        self.node(rel)?.link.clone().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{rel}: not a link"))
        })
    }
    fn read_dir(&self, rel: &str) -> io::Result<Vec<String>> {
        if !self.node(rel)?.meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{rel}: not a directory"),
            ));
        }
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        Ok(self
            .nodes
            .range(prefix.clone()..)
            .skip_while(|(k, _)| k.is_empty())
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                let name = &k[prefix.len()..];
                (!name.contains('/')).then(|| name.to_string())
            })
            .collect())
    }
    fn open(&self, rel: &str) -> io::Result<Box<dyn Read + Send + '_>> {
        let n = self.node(rel)?;
        if !n.meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{rel}: not a regular file"),
            ));
        }
        match &n.data {
            Data::Mem(at) => Ok(Box::new(&self.slab[*at..*at + n.meta.size as usize])),
            Data::Spilled(at) => Ok(Box::new(SpillReader {
                f: self.spill.as_ref().ok_or_else(|| not_found(rel))?,
                at: *at,
                left: n.meta.size,
            })),
            Data::None => Ok(Box::new(io::empty())),
        }
    }
    fn digest(&self, rel: &str) -> Option<String> {
        self.nodes.get(rel)?.digest.clone()
    }
}

/// A build's context (an empty tree by default).
#[derive(Clone, Debug)]
pub struct Context(pub Arc<dyn Tree>);

impl Default for Context {
    fn default() -> Self {
        Context(Arc::new(MemTree::default()))
    }
}

impl std::ops::Deref for Context {
    type Target = dyn Tree;
    fn deref(&self) -> &(dyn Tree + 'static) {
        &*self.0
    }
}

/// `Path` of a tree-relative path, for messages.
pub fn shown(rel: &str) -> &Path {
    Path::new(if rel.is_empty() { "." } else { rel })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::{resolve, CopyRequest};

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_700_000_000);
        h
    }

    /// A context as a client might pack it: directories, an implicit parent, modes, a symlink, a
    /// hard link, a file sent twice (the second wins), a symlinked parent and a fifo.
    fn context_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
            let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
            b.append_data(&mut h, path, data).unwrap();
        };
        let mut h = header(tar::EntryType::Directory, 0o750, 0);
        b.append_data(&mut h, "src/", std::io::empty()).unwrap();
        file(&mut b, "src/a.txt", 0o644, b"alpha\n");
        file(&mut b, "src/sub/b.txt", 0o600, b"beta\n");
        file(&mut b, "run.sh", 0o755, b"#!/bin/sh\necho hi\n");
        file(&mut b, "x", 0o644, b"first");
        file(&mut b, "x", 0o640, b"second, longer");
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, "link", "src/a.txt").unwrap();
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, "into", "src/sub").unwrap();
        file(&mut b, "into/c.txt", 0o644, b"through a link\n");
        let mut h = header(tar::EntryType::Link, 0o644, 0);
        b.append_link(&mut h, "hard", "src/a.txt").unwrap();
        let mut h = header(tar::EntryType::Fifo, 0o644, 0);
        b.append_data(&mut h, "pipe", std::io::empty()).unwrap();
        b.into_inner().unwrap()
    }

    fn layer_entries(layer: &[u8]) -> Vec<(String, u32, u64, Vec<u8>)> {
        let mut a = tar::Archive::new(layer);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.size().unwrap(),
                    data,
                )
            })
            .collect()
    }

    /// berthd makes the build's options (their context a default, empty tree) before it reads
    /// the context: that tree must leave the slab the last build kept, or every context is read
    /// into fresh memory (zeroed and faulted in again: 4 MB per cached rebuild of bench/build.sh).
    #[test]
    fn a_default_tree_leaves_the_kept_slab_to_the_next_context() {
        *SLAB.lock().unwrap() = Vec::with_capacity(1 << 20);
        let empty = MemTree::default();
        assert_eq!(
            empty.slab.capacity(),
            0,
            "the default tree took the kept slab"
        );
        drop(empty);
        // (Other tests may read contexts at the same time and take the slab: only a default
        // tree's own is checked.)
    }

    #[test]
    fn a_context_in_memory_reads_as_it_unpacked_on_disk() {
        let tar = context_tar();
        let disk = tempfile::tempdir().unwrap();
        let opts = berth_image::extract::ExtractOptions {
            whiteouts: berth_image::extract::WhiteoutMode::Literal,
            allow_devices: false,
            same_owner: false,
            xattrs: false,
            clean_dotdot: true,
            ..Default::default()
        };
        berth_image::extract::extract_archive(&tar[..], disk.path(), &opts).unwrap();
        let on_disk = DirTree(disk.path().to_path_buf());
        let mut mem = MemTree::new(1 << 20, disk.path().join("spill"));
        mem.unpack(&tar[..]).unwrap();
        assert_eq!(mem.spilled(), 0);
        let trees: [&dyn Tree; 2] = [&on_disk, &mem];
        for srcs in [
            &["src"][..],
            &["*"],
            &["link", "hard", "x"],
            &["into/c.txt"],
            &["src/sub/*.txt", "run.sh"],
        ] {
            let mut sums = Vec::new();
            let mut layers = Vec::new();
            for t in trees {
                let p = resolve(&CopyRequest {
                    root: t,
                    ignore: None,
                    sources: srcs.iter().map(|s| s.to_string()).collect(),
                    dest: "/dst".into(),
                    dest_is_dir: true,
                    add: false,
                    chown: None,
                    chmod: None,
                    keyword: "COPY",
                })
                .unwrap();
                sums.push(p.checksum(t).unwrap());
                let l = p.write_layer(t, Vec::new(), &BTreeMap::new()).unwrap();
                layers.push(layer_entries(&l));
            }
            assert_eq!(sums[0], sums[1], "{srcs:?}");
            assert_eq!(layers[0], layers[1], "{srcs:?}");
        }
        // What unpacking on disk leaves, in memory too.
        assert_eq!(mem.read_followed("x").unwrap(), b"second, longer");
        assert_eq!(mem.read_followed("link").unwrap(), b"alpha\n");
        assert_eq!(mem.lstat("src").unwrap().mode, 0o040750);
        assert_eq!(mem.lstat("x").unwrap().mode, 0o100640);
        assert_eq!(
            mem.read_followed("src/sub/c.txt").unwrap(),
            b"through a link\n"
        );
        let mut top = mem.read_dir("").unwrap();
        top.sort();
        assert_eq!(top, ["hard", "into", "link", "pipe", "run.sh", "src", "x"]);
        let digest = mem.digest("src/a.txt").unwrap();
        assert_eq!(digest, content_digest(&mut &b"alpha\n"[..]).unwrap());
        assert_eq!(digest, blake3::hash(b"alpha\n").to_hex().as_str());
        assert_eq!(
            mem.lstat("nope").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // Nothing climbs out of the root.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, 0o644, 1);
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        h.set_cksum();
        b.append(&h, &b"e"[..]).unwrap();
        let e = MemTree::new(1 << 20, disk.path().join("spill"))
            .unpack(&b.into_inner().unwrap()[..])
            .unwrap_err();
        assert!(e.to_string().contains(".."), "{e}");
    }

    #[test]
    fn a_context_over_the_memory_budget_spills_to_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let spill = dir.path().join("build");
        let mut b = tar::Builder::new(Vec::new());
        let parts: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; 600]).collect();
        for (i, p) in parts.iter().enumerate() {
            let mut h = header(tar::EntryType::Regular, 0o644, p.len() as u64);
            b.append_data(&mut h, format!("f{i}"), &p[..]).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut mem = MemTree::new(1000, spill.clone());
        mem.unpack(&tar[..]).unwrap();
        // One file fits the budget; the other three went to the spill file, which has no name.
        assert_eq!(mem.in_memory(), 600);
        assert_eq!(mem.spilled(), 1800);
        assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0);
        for (i, p) in parts.iter().enumerate() {
            let name = format!("f{i}");
            assert_eq!(&mem.read_followed(&name).unwrap(), p, "{name}");
            assert_eq!(
                mem.digest(&name).unwrap(),
                blake3::hash(p).to_hex().as_str()
            );
        }
        // A replaced file's bytes still count: the budget bounds all that is held.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, 0o644, 1);
        b.append_data(&mut h, "f0", &b"z"[..]).unwrap();
        mem.unpack(&b.into_inner().unwrap()[..]).unwrap();
        assert_eq!(mem.in_memory(), 601);
        assert_eq!(mem.read_followed("f0").unwrap(), b"z");
        // The next tree may reuse the slab: it reads only what it wrote itself.
        drop(mem);
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, 0o644, 3);
        b.append_data(&mut h, "g", &b"new"[..]).unwrap();
        let mut next = MemTree::new(1000, spill.clone());
        next.unpack(&b.into_inner().unwrap()[..]).unwrap();
        assert_eq!(next.read_followed("g").unwrap(), b"new");
        assert_eq!(next.in_memory(), 3);
        // Nothing spilled, nothing written: the spill directory is never made.
        let mut small = MemTree::new(1000, dir.path().join("never"));
        small.unpack(&context_tar()[..]).unwrap();
        assert!(!dir.path().join("never").exists());
    }
}
