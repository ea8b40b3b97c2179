//! Content-addressable blob store plus a name → manifest table.
//!
//! Layout under the root: `blobs/sha256/<hex>` (immutable, verified on write), `ingest/` (temporary files
//! renamed into place once their digest checks out), `refs.json` (names to manifest descriptors, updated
//! atomically under an exclusive lock on `refs.lock`), `layer-sizes/<hex>` (a layer blob's size
//! unpacked, as Docker reports it: see [`crate::layer_size`]; it goes with its blob).

use crate::digest::{Digest, HashingReader};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Errors from the content store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("store i/o on {path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// Content did not hash to the digest it was claimed to have.
    #[error("blob digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Claimed digest.
        expected: Digest,
        /// Actual digest.
        actual: Digest,
    },
    /// Content had the wrong size.
    #[error("blob {digest} size mismatch: expected {expected}, got {actual}")]
    SizeMismatch {
        /// Digest of the blob.
        digest: Digest,
        /// Claimed size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// A blob is not in the store.
    #[error("blob {0} not found in store")]
    NotFound(Digest),
    /// The refs table is corrupt.
    #[error("refs table {path} is corrupt: {source}")]
    Refs {
        /// Path of refs.json.
        path: PathBuf,
        /// Parser error.
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a name points at: a manifest or index blob.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRecord {
    /// Digest of the manifest or index.
    pub digest: Digest,
    /// Its media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The content store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Bound on one decompressed stream (see [`crate::compression::Bounded`]).
    max_uncompressed: std::sync::Arc<AtomicU64>,
    /// The layer sizes read or written so far (`layer-sizes/`), so a listing reads each once.
    layer_sizes: std::sync::Arc<std::sync::Mutex<HashMap<Digest, u64>>>,
    /// Held while a layer is measured: one asking for a size another is measuring waits for that
    /// answer instead of decompressing the same blob again.
    measuring: std::sync::Arc<std::sync::Mutex<()>>,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The directory of the layer sizes.
const LAYER_SIZES: &str = "layer-sizes";

impl Store {
    /// Open (creating if needed) a store rooted at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Store, StoreError> {
        let root = root.as_ref().to_path_buf();
        for d in [
            root.join("blobs/sha256"),
            root.join("ingest"),
            root.join(LAYER_SIZES),
        ] {
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        Ok(Store {
            root,
            max_uncompressed: std::sync::Arc::new(AtomicU64::new(
                crate::compression::DEFAULT_MAX_UNCOMPRESSED,
            )),
            layer_sizes: Default::default(),
            measuring: Default::default(),
        })
    }

    /// Bound what one decompressed stream (a loaded archive, a layer) may hold.
    pub fn set_max_uncompressed(&self, limit: u64) {
        self.max_uncompressed.store(limit, Ordering::Relaxed);
    }

    /// The bound on one decompressed stream.
    pub fn max_uncompressed(&self) -> u64 {
        self.max_uncompressed.load(Ordering::Relaxed)
    }

    /// Root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a blob (which may not exist).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// Whether a blob is present.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Mark a present blob as just used (a garbage collector with a grace period keeps it for now).
    pub fn touch_blob(&self, d: &Digest) {
        if let Ok(f) = OpenOptions::new().write(true).open(self.blob_path(d)) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// Size of a present blob.
    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(d)).ok().map(|m| m.len())
    }

    /// A fresh temporary path in the ingest directory.
    pub fn temp_path(&self, hint: &str) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.root
            .join("ingest")
            .join(format!("{hint}.{}.{n}.{nanos}.tmp", std::process::id()))
    }

    /// Stable ingest path for a resumable download of `d`.
    pub fn partial_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("ingest")
            .join(format!("{}.partial", d.hex()))
    }

    /// Store bytes, returning their digest. Idempotent.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let (d, _) = self.ingest(bytes, None, None)?;
        Ok(d)
    }

    /// Store bytes that must have digest `expected`.
    pub fn write_blob_expected(&self, bytes: &[u8], expected: &Digest) -> Result<(), StoreError> {
        self.ingest(bytes, Some(expected), Some(bytes.len() as u64))
            .map(|_| ())
    }

    /// Stream content into the store, verifying the digest (and size) if given. Write-then-rename; if the
    /// blob already exists the new copy is discarded.
    pub fn ingest<R: Read>(
        &self,
        r: R,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(Digest, u64), StoreError> {
        self.ingest_new(r, expected, size).map(|(d, n, _)| (d, n))
    }

    /// [`Store::ingest`], also saying whether the blob is new (absent before): what a failed
    /// operation that brought it must remove again. Nothing is left in the ingest area on error.
    pub fn ingest_new<R: Read>(
        &self,
        r: R,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(Digest, u64, bool), StoreError> {
        if let Some(d) = expected {
            if self.has_blob(d) {
                self.touch_blob(d);
                let mut hr = HashingReader::new(r);
                io::copy(&mut hr, &mut io::sink()).map_err(io_err(&self.root))?;
                return Ok((d.clone(), hr.count(), false));
            }
        }
        let tmp = self.temp_path("blob");
        let res = (|| {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            let mut hr = HashingReader::new(r);
            io::copy(&mut hr, &mut f).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
            let (d, n) = hr.finish().map_err(io_err(&tmp))?;
            let created = self.commit_file(&tmp, &d, n, expected, size)?;
            Ok((d, n, created))
        })();
        let _ = fs::remove_file(&tmp);
        res
    }

    /// Verify a fully-written temp file's digest and size, then rename it into place.
    fn commit_file(
        &self,
        tmp: &Path,
        actual: &Digest,
        n: u64,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<bool, StoreError> {
        if let Some(e) = expected {
            if e != actual {
                return Err(StoreError::DigestMismatch {
                    expected: e.clone(),
                    actual: actual.clone(),
                });
            }
        }
        if let Some(s) = size {
            if s != n {
                return Err(StoreError::SizeMismatch {
                    digest: actual.clone(),
                    expected: s,
                    actual: n,
                });
            }
        }
        let dst = self.blob_path(actual);
        if dst.exists() {
            self.touch_blob(actual);
            return Ok(false);
        }
        fs::rename(tmp, &dst).map_err(io_err(&dst))?;
        Ok(true)
    }

    /// Hash an already-written file in the ingest area and move it into place if it matches.
    pub fn commit_ingested(
        &self,
        tmp: &Path,
        expected: &Digest,
        size: Option<u64>,
    ) -> Result<(), StoreError> {
        let f = File::open(tmp).map_err(io_err(tmp))?;
        let (d, n) = HashingReader::new(f).finish().map_err(io_err(tmp))?;
        let res = self.commit_file(tmp, &d, n, Some(expected), size);
        if res.is_err() || tmp.exists() {
            let _ = fs::remove_file(tmp);
        }
        res.map(|_| ())
    }

    /// Move a file in the ingest area into place given the digest the caller computed while writing it
    /// (saves hashing it again); fails and removes it if that is not the expected digest or size.
    pub fn commit_hashed(
        &self,
        tmp: &Path,
        actual: &Digest,
        size: u64,
        expected: &Digest,
    ) -> Result<(), StoreError> {
        let res = self.commit_file(tmp, actual, size, Some(expected), None);
        if res.is_err() || tmp.exists() {
            let _ = fs::remove_file(tmp);
        }
        res.map(|_| ())
    }

    /// Read a whole blob.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(d);
        fs::read(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound(d.clone())
            } else {
                StoreError::Io { path: p, source: e }
            }
        })
    }

    /// Open a blob for streaming.
    pub fn open_blob(&self, d: &Digest) -> Result<File, StoreError> {
        let p = self.blob_path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound(d.clone())
            } else {
                StoreError::Io { path: p, source: e }
            }
        })
    }

    /// Delete a blob (and its layer size); returns whether it existed.
    pub fn delete_blob(&self, d: &Digest) -> Result<bool, StoreError> {
        self.sizes().remove(d);
        let _ = fs::remove_file(self.layer_size_path(d));
        let p = self.blob_path(d);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::Io { path: p, source: e }),
        }
    }

    /// Every blob in the store.
    pub fn list_blobs(&self) -> Result<Vec<Digest>, StoreError> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            if let Some(d) = e
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Total bytes of all blobs.
    pub fn disk_usage(&self) -> u64 {
        self.list_blobs()
            .unwrap_or_default()
            .iter()
            .filter_map(|d| self.blob_size(d))
            .sum()
    }

    fn layer_size_path(&self, d: &Digest) -> PathBuf {
        self.root.join(LAYER_SIZES).join(d.hex())
    }

    fn sizes(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, u64>> {
        self.layer_sizes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recorded unpacked size of layer blob `d` ([`crate::layer_size`]), if there is one.
    pub fn layer_size(&self, d: &Digest) -> Option<u64> {
        if let Some(n) = self.sizes().get(d) {
            return Some(*n);
        }
        let n = fs::read_to_string(self.layer_size_path(d))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        self.sizes().insert(d.clone(), n);
        Some(n)
    }

    /// Record the unpacked size of layer blob `d` (written whole or not at all).
    pub fn set_layer_size(&self, d: &Digest, size: u64) -> Result<(), StoreError> {
        let p = self.layer_size_path(d);
        let tmp = self.temp_path("size");
        let res = fs::write(&tmp, size.to_string()).and_then(|()| fs::rename(&tmp, &p));
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::Io { path: p, source: e });
        }
        self.sizes().insert(d.clone(), size);
        Ok(())
    }

    /// The unpacked size of layer blob `d`: the recorded one, else measured from the blob now
    /// (decompressed within the store's bound) and recorded. Layers stored before sizes were
    /// kept are measured here, once each.
    pub fn measure_layer(&self, d: &Digest) -> Result<u64, StoreError> {
        if let Some(n) = self.layer_size(d) {
            return Ok(n);
        }
        let _one_at_a_time = self.measuring.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = self.layer_size(d) {
            return Ok(n);
        }
        let p = self.blob_path(d);
        let f = self.open_blob(d)?;
        let n = crate::compression::decompress_bounded(f, self.max_uncompressed())
            .and_then(crate::layer_size::measure)
            .map_err(io_err(&p))?;
        self.set_layer_size(d, n)?;
        Ok(n)
    }

    fn refs_path(&self) -> PathBuf {
        self.root.join("refs.json")
    }

    fn lock_refs(&self) -> Result<nix::fcntl::Flock<File>, StoreError> {
        let p = self.root.join("refs.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
            StoreError::Io {
                path: p,
                source: io::Error::from(e),
            }
        })
    }

    fn load_refs(&self) -> Result<BTreeMap<String, ImageRecord>, StoreError> {
        let p = self.refs_path();
        match fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|source| StoreError::Refs { path: p, source })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(StoreError::Io { path: p, source: e }),
        }
    }

    fn save_refs(&self, refs: &BTreeMap<String, ImageRecord>) -> Result<(), StoreError> {
        let p = self.refs_path();
        let tmp = self.temp_path("refs");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&serde_json::to_vec_pretty(refs).expect("refs serialize"))
            .map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, &p).map_err(io_err(&p))
    }

    /// Point `name` (a full reference string or a bare digest) at a manifest.
    pub fn set_ref(&self, name: &str, rec: ImageRecord) -> Result<(), StoreError> {
        let _l = self.lock_refs()?;
        let mut refs = self.load_refs()?;
        refs.insert(name.to_string(), rec);
        self.save_refs(&refs)
    }

    /// Look a name up.
    pub fn get_ref(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        Ok(self.load_refs()?.remove(name))
    }

    /// Remove a name; returns the record it pointed at.
    pub fn remove_ref(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        let _l = self.lock_refs()?;
        let mut refs = self.load_refs()?;
        let r = refs.remove(name);
        if r.is_some() {
            self.save_refs(&refs)?;
        }
        Ok(r)
    }

    /// All names.
    pub fn list_refs(&self) -> Result<BTreeMap<String, ImageRecord>, StoreError> {
        self.load_refs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_verified_and_deduplicated() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open(t.path()).unwrap();
        let d = s.write_blob(b"abc").unwrap();
        assert!(s.has_blob(&d));
        assert_eq!(s.read_blob(&d).unwrap(), b"abc");
        assert_eq!(s.write_blob(b"abc").unwrap(), d);
        assert_eq!(s.list_blobs().unwrap(), vec![d.clone()]);
        let wrong = Digest::of(b"abd");
        assert!(matches!(
            s.write_blob_expected(b"abc", &wrong),
            Err(StoreError::DigestMismatch { .. })
        ));
        assert!(!s.has_blob(&wrong));
        assert!(matches!(
            s.ingest(&b"abcd"[..], None, Some(3)),
            Err(StoreError::SizeMismatch { .. })
        ));
        assert_eq!(
            fs::read_dir(t.path().join("ingest")).unwrap().count(),
            0,
            "temp files cleaned"
        );
        assert!(s.delete_blob(&d).unwrap());
        assert!(matches!(s.read_blob(&d), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn layer_sizes_are_measured_once_kept_and_go_with_their_blob() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open(t.path()).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1234);
        b.append_data(&mut h, "f", &[0u8; 1234][..]).unwrap();
        let tar = b.into_inner().unwrap();
        let mut gz =
            crate::compression::Compressor::new(Vec::new(), crate::compression::Compression::Gzip)
                .unwrap();
        gz.write_all(&tar).unwrap();
        let d = s.write_blob(&gz.finish().unwrap()).unwrap();
        assert_eq!(s.layer_size(&d), None);
        assert_eq!(s.measure_layer(&d).unwrap(), 1234);
        // Kept for a store opened later, and not measured again.
        let again = Store::open(t.path()).unwrap();
        assert_eq!(again.layer_size(&d), Some(1234));
        again.set_layer_size(&d, 99).unwrap();
        assert_eq!(again.measure_layer(&d).unwrap(), 99);
        assert!(again.delete_blob(&d).unwrap());
        assert_eq!(again.layer_size(&d), None);
        assert!(!t.path().join(LAYER_SIZES).join(d.hex()).exists());
        assert!(matches!(
            again.measure_layer(&d),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn refs_round_trip() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open(t.path()).unwrap();
        let rec = ImageRecord {
            digest: Digest::of(b"m"),
            media_type: crate::media::OCI_MANIFEST.into(),
            size: 1,
        };
        s.set_ref("docker.io/library/a:latest", rec.clone())
            .unwrap();
        assert_eq!(
            s.get_ref("docker.io/library/a:latest").unwrap(),
            Some(rec.clone())
        );
        assert_eq!(s.list_refs().unwrap().len(), 1);
        assert_eq!(
            s.remove_ref("docker.io/library/a:latest").unwrap(),
            Some(rec)
        );
        assert!(s.get_ref("docker.io/library/a:latest").unwrap().is_none());
    }
}
