//! Where archives are read from and written to: a directory or a tar stream.

use crate::digest::Digest;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Errors reading an archive.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// I/O on a file of the archive.
    #[error("archive i/o on {path}: {source}")]
    Io {
        /// Path within the archive.
        path: String,
        /// Cause.
        source: io::Error,
    },
    /// A file the archive needs is missing.
    #[error("archive has no file {0:?}")]
    Missing(String),
    /// Store failure while ingesting.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A path in the archive is unsafe.
    #[error("archive path {0:?} is not a plain relative path")]
    BadPath(String),
}

fn tio(path: &str) -> impl FnOnce(io::Error) -> TransferError + '_ {
    move |source| TransferError::Io {
        path: path.to_string(),
        source,
    }
}

/// A place to write an archive: a directory or a tar stream.
pub trait Sink {
    /// Add a file of known size.
    fn put(&mut self, path: &str, size: u64, r: &mut dyn Read) -> io::Result<()>;
    /// Add a small file.
    fn put_bytes(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.put(path, bytes.len() as u64, &mut &bytes[..])
    }
    /// Finish writing.
    fn finish(&mut self) -> io::Result<()>;
}

/// Writes into a directory.
pub struct DirSink(pub PathBuf);

impl Sink for DirSink {
    fn put(&mut self, path: &str, _size: u64, r: &mut dyn Read) -> io::Result<()> {
        let p = self.0.join(path);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        let tmp = p.with_extension("berth-tmp");
        let mut f = fs::File::create(&tmp)?;
        io::copy(r, &mut f)?;
        f.sync_all()?;
        fs::rename(&tmp, &p)
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes a tar stream.
pub struct TarSink<W: Write> {
    b: tar::Builder<W>,
    dirs: std::collections::HashSet<String>,
}

impl<W: Write> TarSink<W> {
    /// Start a tar stream.
    pub fn new(w: W) -> Self {
        TarSink {
            b: tar::Builder::new(w),
            dirs: Default::default(),
        }
    }

    /// Finish and return the writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.b.into_inner()
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn put(&mut self, path: &str, size: u64, r: &mut dyn Read) -> io::Result<()> {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            acc.push_str(part);
            acc.push('/');
            if self.dirs.insert(acc.clone()) {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(0);
                self.b.append_data(&mut h, &acc, io::empty())?;
            }
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_mtime(0);
        self.b.append_data(&mut h, path, r.take(size))
    }
    fn finish(&mut self) -> io::Result<()> {
        self.b.finish()
    }
}

/// Remove blobs a failed operation added (best effort: a blob another image uses meanwhile is
/// fetched again when needed).
pub fn remove_blobs(store: &Store, blobs: &[Digest]) {
    for d in blobs {
        let _ = store.delete_blob(d);
    }
}

/// An archive being imported: a directory, or a tar whose blobs were streamed into the store.
pub enum Source {
    /// An unpacked directory.
    Dir(PathBuf),
    /// A scanned tar stream.
    Tar {
        /// Small metadata files kept in memory.
        small: HashMap<String, Vec<u8>>,
        /// Other files, already in the store.
        blobs: HashMap<String, (Digest, u64)>,
        /// The blobs the scan added to the store (absent before): what a failed import removes.
        created: Vec<Digest>,
    },
}

fn clean_path(p: &[u8]) -> Result<String, TransferError> {
    let s = String::from_utf8_lossy(p).into_owned();
    let parts: Vec<&str> = s
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(TransferError::BadPath(s));
    }
    Ok(parts.join("/"))
}

fn is_metadata(path: &str) -> bool {
    matches!(
        path,
        "index.json" | "oci-layout" | "manifest.json" | "repositories"
    ) || (path.ends_with(".json") && !path.contains('/'))
}

impl Source {
    /// Scan a tar stream: metadata files are kept, everything else goes into the store (blobs under
    /// `blobs/sha256/` are verified against their names).
    pub fn scan_tar<R: Read>(store: &Store, r: R) -> Result<Source, TransferError> {
        let mut created = Vec::new();
        let res = Self::scan_tar_into(store, r, &mut created);
        if res.is_err() {
            remove_blobs(store, &created);
        }
        let (small, blobs) = res?;
        Ok(Source::Tar {
            small,
            blobs,
            created,
        })
    }

    /// What [`Source::scan_tar`] does, noting each blob it adds in `created`. The decompressed
    /// stream is bounded by the store's [`Store::max_uncompressed`].
    #[allow(clippy::type_complexity)]
    fn scan_tar_into<R: Read>(
        store: &Store,
        r: R,
        created: &mut Vec<Digest>,
    ) -> Result<(HashMap<String, Vec<u8>>, HashMap<String, (Digest, u64)>), TransferError> {
        let (_, plain) = crate::compression::decompress(r).map_err(tio("<archive>"))?;
        let plain = crate::compression::Bounded::new(plain, store.max_uncompressed());
        let mut ar = tar::Archive::new(plain);
        let mut small = HashMap::new();
        let mut blobs = HashMap::new();
        for e in ar.entries().map_err(tio("<archive>"))? {
            let mut e = e.map_err(tio("<archive>"))?;
            if !e.header().entry_type().is_file() {
                continue;
            }
            let path = clean_path(&e.path_bytes())?;
            if is_metadata(&path) && e.size() < 64 << 20 {
                let mut v = Vec::new();
                e.read_to_end(&mut v).map_err(tio(&path))?;
                small.insert(path, v);
                continue;
            }
            let expected = path
                .strip_prefix("blobs/sha256/")
                .and_then(|h| Digest::from_hex(h).ok());
            let size = e.size();
            let (d, n, new) = store.ingest_new(&mut e, expected.as_ref(), Some(size))?;
            if new {
                created.push(d.clone());
            }
            blobs.insert(path, (d, n));
        }
        Ok((small, blobs))
    }

    /// The blobs this source added to the store (none for a directory).
    pub fn created(&self) -> &[Digest] {
        match self {
            Source::Dir(_) => &[],
            Source::Tar { created, .. } => created,
        }
    }

    /// Read a small file (metadata, config, manifest).
    pub fn read(&self, store: &Store, path: &str) -> Result<Vec<u8>, TransferError> {
        let path = clean_path(path.as_bytes())?;
        match self {
            Source::Dir(d) => fs::read(d.join(&path)).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    TransferError::Missing(path.clone())
                } else {
                    TransferError::Io {
                        path: path.clone(),
                        source: e,
                    }
                }
            }),
            Source::Tar { small, blobs, .. } => {
                if let Some(v) = small.get(&path) {
                    return Ok(v.clone());
                }
                let (d, _) = blobs
                    .get(&path)
                    .ok_or_else(|| TransferError::Missing(path.clone()))?;
                Ok(store.read_blob(d)?)
            }
        }
    }

    /// Make sure a file is in the store and return its digest and size (verified against `expected`).
    pub fn ingest(
        &self,
        store: &Store,
        path: &str,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), TransferError> {
        let path = clean_path(path.as_bytes())?;
        match self {
            Source::Dir(d) => {
                let p = d.join(&path);
                let f = fs::File::open(&p).map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        TransferError::Missing(path.clone())
                    } else {
                        TransferError::Io {
                            path: path.clone(),
                            source: e,
                        }
                    }
                })?;
                Ok(store.ingest(f, expected, None)?)
            }
            Source::Tar { small, blobs, .. } => {
                if let Some(v) = small.get(&path) {
                    let d = store.write_blob(v)?;
                    if let Some(e) = expected {
                        if *e != d {
                            return Err(StoreError::DigestMismatch {
                                expected: e.clone(),
                                actual: d,
                            }
                            .into());
                        }
                    }
                    return Ok((d, v.len() as u64));
                }
                let (d, n) = blobs
                    .get(&path)
                    .ok_or_else(|| TransferError::Missing(path.clone()))?;
                if let Some(e) = expected {
                    if e != d {
                        return Err(StoreError::DigestMismatch {
                            expected: e.clone(),
                            actual: d.clone(),
                        }
                        .into());
                    }
                }
                Ok((d.clone(), *n))
            }
        }
    }

    /// Open a directory source.
    pub fn dir(p: &Path) -> Source {
        Source::Dir(p.to_path_buf())
    }
}
