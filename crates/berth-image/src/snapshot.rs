//! Snapshots: read-only layers identified by chain ID, shared by every image and container above them, and
//! one writable upper+work dir per container, mounted with overlayfs.
//!
//! Layout under the root: `layers/<chain hex>/{diff/, parent, diff_id, init/}` (`init/`: the image's
//! init layer when that chain is an image's top, see [`crate::init_layer`]) and `active/<key>/{upper/,
//! work/, parent}`. Reference counts are derived from that layout (children layers plus active snapshots), so they
//! cannot drift from what is on disk.

use crate::digest::Digest;
use crate::extract::{extract_layer, ExtractOptions, WhiteoutMode};
use crate::pack::{pack_dir, PackMode};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

/// Errors from snapshotters.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Filesystem error.
    #[error("snapshot i/o on {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// Extraction failed.
    #[error("unpacking layer {chain_id}: {source}")]
    Extract {
        /// Chain ID being created.
        chain_id: Digest,
        /// Cause.
        source: crate::extract::ExtractError,
    },
    /// A parent layer does not exist.
    #[error("parent layer {0} does not exist")]
    MissingParent(Digest),
    /// The snapshot key is unknown.
    #[error("snapshot {0:?} does not exist")]
    NotFound(String),
    /// The snapshot key already exists.
    #[error("snapshot {0:?} already exists")]
    Exists(String),
    /// The key is not a valid name.
    #[error("invalid snapshot key {0:?}")]
    InvalidKey(String),
    /// A layer is still used.
    #[error("layer {0} is still in use")]
    InUse(Digest),
    /// Mounting failed.
    #[error("mounting {target}: {source}")]
    Mount {
        /// Mount point.
        target: PathBuf,
        /// Cause.
        source: nix::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A mount the engine performs to get a container's root filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Filesystem type (`overlay` or `bind`).
    pub fs_type: String,
    /// Source.
    pub source: String,
    /// Options (`lowerdir=...`, `upperdir=...`, `workdir=...`, or `rbind`, `ro`).
    pub options: Vec<String>,
}

/// Chain IDs for a list of diffIDs (bottom first), as the image spec defines them.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(p) => Digest::of(format!("{p} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// A layer known to a snapshotter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// Chain ID.
    pub chain_id: Digest,
    /// Parent chain ID.
    pub parent: Option<Digest>,
    /// Users: child layers plus active snapshots directly on top.
    pub refcount: usize,
}

/// A layer waiting to be applied by [`Snapshotter::apply_layers`].
pub struct PendingLayer<'a> {
    /// Its chain ID.
    pub chain_id: Digest,
    /// Parent chain ID.
    pub parent: Option<Digest>,
    /// diffID to verify.
    pub diff_id: Digest,
    /// The (possibly compressed) layer stream.
    pub reader: Box<dyn Read + Send + 'a>,
}

/// What the engine needs from a snapshotter (a fake can stand in for unit tests).
pub trait Snapshotter: Send + Sync {
    /// Whether a committed layer exists.
    fn has_layer(&self, chain_id: &Digest) -> bool;
    /// Unpack a layer stream (possibly compressed) above `parent` as layer `chain_id`; verifies the diffID.
    /// Doing it again for an existing layer is a no-op.
    fn apply_layer(
        &self,
        chain_id: &Digest,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
        diff_id: &Digest,
    ) -> Result<(), SnapshotError>;
    /// Apply a chain of layers (bottom first); implementations may unpack them concurrently. Layers that
    /// already exist are skipped.
    fn apply_layers(&self, layers: Vec<PendingLayer<'_>>) -> Result<(), SnapshotError> {
        for mut l in layers {
            self.apply_layer(&l.chain_id, l.parent.as_ref(), &mut l.reader, &l.diff_id)?;
        }
        Ok(())
    }
    /// Create a writable snapshot `key` above layer `parent` (or empty) and return how to mount it.
    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<Mount>, SnapshotError>;
    /// The mounts of an existing snapshot.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError>;
    /// Write the changes made in snapshot `key` as an uncompressed layer tar.
    fn diff(&self, key: &str, w: &mut dyn Write) -> Result<(), SnapshotError>;
    /// Remove a writable snapshot (its layers stay).
    fn remove(&self, key: &str) -> Result<(), SnapshotError>;
    /// All layers with their reference counts.
    fn layers(&self) -> Result<Vec<LayerInfo>, SnapshotError>;
    /// Remove an unused layer; fails with `InUse` if something is above it.
    fn remove_layer(&self, chain_id: &Digest) -> Result<(), SnapshotError>;
}

/// The overlayfs snapshotter.
#[derive(Debug)]
pub struct OverlaySnapshotter {
    root: PathBuf,
    lock: Mutex<()>,
    /// Empty snapshot directories (`upper`, `work`) made ahead in `tmp/`: `prepare` renames one
    /// into place instead of making three directories on `create`'s path (a first mkdir in a new
    /// directory took 0.2-0.4 ms each on this ext4).
    spares: Arc<Mutex<Vec<PathBuf>>>,
    /// Wakes the thread that makes the next spare (it ends with the snapshotter).
    refill: Mutex<Option<SyncSender<()>>>,
}

/// Start the thread that keeps one spare snapshot directory ready.
fn start_refill(root: PathBuf, spares: Arc<Mutex<Vec<PathBuf>>>) -> Option<SyncSender<()>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("snapshot-spare".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                if !spares.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                    continue;
                }
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                let dir = root.join("tmp").join(format!("spare-{stamp}"));
                // With an empty `parent` file (read as none): the snapshot's parent is written
                // over it, making no inode on the create's path.
                if ["upper", "work"]
                    .iter()
                    .all(|d| fs::create_dir_all(dir.join(d)).is_ok())
                    && fs::File::create(dir.join("parent")).is_ok()
                {
                    spares.lock().unwrap_or_else(|e| e.into_inner()).push(dir);
                } else {
                    let _ = fs::remove_dir_all(&dir);
                }
            }
        })
        .ok()?;
    let _ = tx.try_send(());
    Some(tx)
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 128
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && k != "."
        && k != ".."
}

impl OverlaySnapshotter {
    /// Open (creating) a snapshotter rooted at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, SnapshotError> {
        let root = root.as_ref().to_path_buf();
        for d in ["layers", "active", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        // What removals moved aside, and what a crash left half-made (an unpacked layer, an init
        // layer), kept from being deleted. Nothing else works in this root yet.
        if let Ok(rd) = fs::read_dir(root.join("tmp")) {
            let old: Vec<PathBuf> = rd
                .flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    ["rm-", "spare-", TMP_LAYER, TMP_INIT]
                        .iter()
                        .any(|p| name.starts_with(p))
                })
                .map(|e| e.path())
                .collect();
            delete_in_background(old);
        }
        let spares = Arc::new(Mutex::new(Vec::new()));
        let refill = start_refill(root.clone(), spares.clone());
        Ok(OverlaySnapshotter {
            root,
            lock: Mutex::new(()),
            spares,
            refill: Mutex::new(refill),
        })
    }

    fn layer_dir(&self, c: &Digest) -> PathBuf {
        self.root.join("layers").join(c.hex())
    }

    /// The read-only directory of a layer.
    pub fn layer_diff_dir(&self, c: &Digest) -> PathBuf {
        self.layer_dir(c).join("diff")
    }

    fn active_dir(&self, key: &str) -> Result<PathBuf, SnapshotError> {
        if !valid_key(key) {
            return Err(SnapshotError::InvalidKey(key.to_string()));
        }
        Ok(self.root.join("active").join(key))
    }

    fn parent_of(&self, dir: &Path) -> Option<Digest> {
        fs::read_to_string(dir.join("parent"))
            .ok()
            .and_then(|s| Digest::parse(s.trim()).ok())
    }

    /// Lower dirs from `top` down to the base.
    fn lowers(&self, top: &Digest) -> Result<Vec<PathBuf>, SnapshotError> {
        let mut out = Vec::new();
        let mut cur = Some(top.clone());
        while let Some(c) = cur {
            let d = self.layer_dir(&c);
            if !d.is_dir() {
                return Err(SnapshotError::MissingParent(c));
            }
            out.push(d.join("diff"));
            cur = self.parent_of(&d);
        }
        Ok(out)
    }

    fn mounts_for(&self, dir: &Path) -> Result<Vec<Mount>, SnapshotError> {
        let parent = self.parent_of(dir);
        let upper = dir.join("upper");
        let work = dir.join("work");
        let lowers = match &parent {
            Some(p) => {
                // The image's init layer (see [`Self::ensure_init_layer`]) tops its layers.
                let mut l = Vec::new();
                // The current one, or the one an older berthd made.
                let init = [crate::init_layer::DIR_NAME, "init"]
                    .map(|n| self.layer_dir(p).join(n))
                    .into_iter()
                    .find(|d| d.is_dir());
                l.extend(init);
                l.extend(self.lowers(p)?);
                l
            }
            None => {
                // overlayfs needs a lower dir; an empty one stands in.
                let e = dir.join("empty");
                fs::create_dir_all(&e).map_err(io_err(&e))?;
                vec![e]
            }
        };
        let lower = lowers
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        Ok(vec![Mount {
            fs_type: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={lower}"),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", work.display()),
                "index=off".into(),
            ],
        }])
    }

    /// The keys of the writable snapshots there are.
    pub fn active_keys(&self) -> Result<Vec<String>, SnapshotError> {
        let ad = self.root.join("active");
        let mut keys = Vec::new();
        for e in fs::read_dir(&ad).map_err(io_err(&ad))? {
            let e = e.map_err(io_err(&ad))?;
            if let Some(k) = e.file_name().to_str().filter(|k| valid_key(k)) {
                keys.push(k.to_string());
            }
        }
        Ok(keys)
    }

    /// The upper dir of a writable snapshot.
    pub fn upper_dir(&self, key: &str) -> Result<PathBuf, SnapshotError> {
        Ok(self.active_dir(key)?.join("upper"))
    }

    /// Mount snapshot `key` on `target` (root only).
    pub fn mount(&self, key: &str, target: &Path) -> Result<(), SnapshotError> {
        self.mount_with(key, target, false)
    }

    /// Mount snapshot `key` on `target`; with `volatile`, for a writable layer that is thrown away
    /// after this mount (a `--rm` container's), overlayfs skips every sync of the upper filesystem,
    /// above all the `syncfs` of the whole upper filesystem at unmount, which waits for every dirty
    /// page of every other writer on that disk. A kernel without the option (before 5.10) gets the
    /// plain mount.
    pub fn mount_with(
        &self,
        key: &str,
        target: &Path,
        volatile: bool,
    ) -> Result<(), SnapshotError> {
        let m = self.mounts(key)?.remove(0);
        // A volatile mount leaves `work/work/incompat/volatile`, and overlayfs refuses the next
        // mount while it is there (the upper layer may be torn if the host crashed meanwhile). Only
        // layers that are thrown away are mounted volatile, and a host crash has them removed before
        // anything mounts them again, so a mark found here is from an orderly unmount.
        let mark = self.active_dir(key)?.join("work/work/incompat/volatile");
        if mark.exists() {
            fs::remove_dir_all(&mark).map_err(io_err(&mark))?;
        }
        let options = m.options.join(",");
        let attempt = |opts: &str| {
            nix::mount::mount(
                Some("overlay"),
                target,
                Some("overlay"),
                nix::mount::MsFlags::empty(),
                Some(opts),
            )
        };
        let res = if volatile {
            match attempt(&format!("{options},volatile")) {
                Err(nix::errno::Errno::EINVAL) => attempt(&options),
                r => r,
            }
        } else {
            attempt(&options)
        };
        res.map_err(|source| SnapshotError::Mount {
            target: target.to_path_buf(),
            source,
        })
    }

    /// Unmount a target mounted with [`OverlaySnapshotter::mount`].
    pub fn unmount(target: &Path) -> Result<(), SnapshotError> {
        nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH).map_err(|source| {
            SnapshotError::Mount {
                target: target.to_path_buf(),
                source,
            }
        })
    }
}

/// Prefixes of the temporary directories under `tmp/`: a layer being unpacked, an init layer being
/// made.
const TMP_LAYER: &str = "layer-";
const TMP_INIT: &str = "init-";

fn write_parent(dir: &Path, parent: Option<&Digest>) -> Result<(), SnapshotError> {
    if let Some(p) = parent {
        let f = dir.join("parent");
        fs::write(&f, p.as_str()).map_err(io_err(&f))?;
    }
    Ok(())
}

impl OverlaySnapshotter {
    /// Make the init layer of the image whose top layer is `top`, unless it exists: the `entries`
    /// no layer of it has ([`crate::init_layer`]), kept as `layers/<top>/init` (it goes with that
    /// layer) and mounted as the topmost lower directory of every snapshot prepared on `top`.
    pub fn ensure_init_layer(
        &self,
        top: &Digest,
        entries: &[crate::init_layer::InitEntry],
    ) -> Result<(), SnapshotError> {
        let dst = self.layer_dir(top).join(crate::init_layer::DIR_NAME);
        if dst.is_dir() {
            return Ok(());
        }
        let lowers = self.lowers(top)?;
        let tmp = self.tmp_dir(TMP_INIT)?;
        let dir = tmp.path().join("init");
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        crate::init_layer::build(&dir, &lowers, entries).map_err(io_err(&dir))?;
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(io_err(&dir))?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if dst.is_dir() {
            return Ok(()); // another create made it meanwhile
        }
        fs::rename(&dir, &dst).map_err(io_err(&dst))
    }

    /// A fresh directory under `tmp/` named `prefix...`, removed when dropped (unless kept).
    fn tmp_dir(&self, prefix: &str) -> Result<tempfile::TempDir, SnapshotError> {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(self.root.join("tmp"))
            .map_err(io_err(&self.root))
    }

    /// Unpack a layer into a fresh temporary layer directory.
    fn extract_tmp(
        &self,
        chain_id: &Digest,
        layer: &mut dyn Read,
        diff_id: &Digest,
    ) -> Result<tempfile::TempDir, SnapshotError> {
        let tmp = self.tmp_dir(TMP_LAYER)?;
        let diff = tmp.path().join("diff");
        fs::create_dir(&diff).map_err(io_err(&diff))?;
        let opts = ExtractOptions {
            whiteouts: WhiteoutMode::Overlay,
            ..ExtractOptions::default()
        };
        extract_layer(layer, &diff, &opts, Some(diff_id)).map_err(|source| {
            SnapshotError::Extract {
                chain_id: chain_id.clone(),
                source,
            }
        })?;
        let f = tmp.path().join("diff_id");
        fs::write(&f, diff_id.as_str()).map_err(io_err(&f))?;
        Ok(tmp)
    }

    /// Move an unpacked layer into place under its chain ID.
    fn commit_tmp(
        &self,
        tmp: tempfile::TempDir,
        chain_id: &Digest,
        parent: Option<&Digest>,
    ) -> Result<(), SnapshotError> {
        write_parent(tmp.path(), parent)?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let dst = self.layer_dir(chain_id);
        if dst.exists() {
            return Ok(()); // someone else unpacked the same layer meanwhile
        }
        let tmp_path = tmp.keep();
        fs::rename(&tmp_path, &dst).map_err(io_err(&dst))
    }
}

impl Snapshotter for OverlaySnapshotter {
    fn has_layer(&self, chain_id: &Digest) -> bool {
        self.layer_dir(chain_id).join("diff").is_dir()
    }

    fn apply_layer(
        &self,
        chain_id: &Digest,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
        diff_id: &Digest,
    ) -> Result<(), SnapshotError> {
        if self.has_layer(chain_id) {
            return Ok(());
        }
        if let Some(p) = parent {
            if !self.has_layer(p) {
                return Err(SnapshotError::MissingParent(p.clone()));
            }
        }
        let tmp = self.extract_tmp(chain_id, layer, diff_id)?;
        self.commit_tmp(tmp, chain_id, parent)
    }

    fn apply_layers(&self, layers: Vec<PendingLayer<'_>>) -> Result<(), SnapshotError> {
        let mut known: BTreeSet<Digest> = BTreeSet::new();
        let mut todo = Vec::new();
        for l in layers {
            if self.has_layer(&l.chain_id) {
                known.insert(l.chain_id.clone());
                continue;
            }
            if let Some(p) = &l.parent {
                if !known.contains(p) && !self.has_layer(p) {
                    return Err(SnapshotError::MissingParent(p.clone()));
                }
            }
            known.insert(l.chain_id.clone());
            todo.push(l);
        }
        // Every layer already there (a cached build step's image): no worker to start.
        if todo.is_empty() {
            return Ok(());
        }
        // Each layer unpacks into its own directory, so all can be unpacked at once; they are committed
        // bottom first so a layer never appears before its parent.
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .min(todo.len().max(1));
        let slots: Vec<Mutex<Option<Result<tempfile::TempDir, SnapshotError>>>> =
            todo.iter().map(|_| Mutex::new(None)).collect();
        let queue = Mutex::new(todo.iter_mut().enumerate().collect::<Vec<_>>());
        std::thread::scope(|sc| {
            for _ in 0..workers {
                sc.spawn(|| loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let Some((i, l)) = next else { return };
                    let r = self.extract_tmp(&l.chain_id, &mut l.reader, &l.diff_id);
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                });
            }
        });
        for (l, slot) in todo.iter().zip(slots) {
            let tmp = slot
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every layer was unpacked")?;
            self.commit_tmp(tmp, &l.chain_id, l.parent.as_ref())?;
        }
        Ok(())
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<Mount>, SnapshotError> {
        let dir = self.active_dir(key)?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = parent {
            if !self.has_layer(p) {
                return Err(SnapshotError::MissingParent(p.clone()));
            }
        }
        if dir.exists() {
            return Err(SnapshotError::Exists(key.to_string()));
        }
        let spare = self.spares.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let placed = match spare {
            Some(s) => match fs::rename(&s, &dir) {
                Ok(()) => true,
                Err(_) => {
                    delete_in_background(vec![s]);
                    false
                }
            },
            None => false,
        };
        if let Some(tx) = self
            .refill
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            let _ = tx.try_send(());
        }
        if !placed {
            for d in [dir.join("upper"), dir.join("work")] {
                fs::create_dir_all(&d).map_err(io_err(&d))?;
            }
        }
        write_parent(&dir, parent)?;
        self.mounts_for(&dir)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let dir = self.active_dir(key)?;
        if !dir.is_dir() {
            return Err(SnapshotError::NotFound(key.to_string()));
        }
        self.mounts_for(&dir)
    }

    fn diff(&self, key: &str, w: &mut dyn Write) -> Result<(), SnapshotError> {
        let upper = self.upper_dir(key)?;
        if !upper.is_dir() {
            return Err(SnapshotError::NotFound(key.to_string()));
        }
        pack_dir(&upper, w, PackMode::OverlayDiff).map_err(io_err(&upper))?;
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        let dir = self.active_dir(key)?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if !dir.exists() {
            return Err(SnapshotError::NotFound(key.to_string()));
        }
        // Gone from its name at once (one rename); its files are deleted off the caller's path.
        let aside = self.root.join("tmp").join(format!(
            "rm-{key}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        match fs::rename(&dir, &aside) {
            Ok(()) => {
                delete_in_background(vec![aside]);
                Ok(())
            }
            Err(_) => fs::remove_dir_all(&dir).map_err(io_err(&dir)),
        }
    }

    fn layers(&self) -> Result<Vec<LayerInfo>, SnapshotError> {
        let mut parents: BTreeMap<Digest, Option<Digest>> = BTreeMap::new();
        let ld = self.root.join("layers");
        for e in fs::read_dir(&ld).map_err(io_err(&ld))? {
            let e = e.map_err(io_err(&ld))?;
            if let Some(c) = e
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                parents.insert(c, self.parent_of(&e.path()));
            }
        }
        let mut counts: BTreeMap<Digest, usize> = BTreeMap::new();
        for p in parents.values().flatten() {
            *counts.entry(p.clone()).or_default() += 1;
        }
        let ad = self.root.join("active");
        for e in fs::read_dir(&ad).map_err(io_err(&ad))? {
            let e = e.map_err(io_err(&ad))?;
            if let Some(p) = self.parent_of(&e.path()) {
                *counts.entry(p).or_default() += 1;
            }
        }
        Ok(parents
            .into_iter()
            .map(|(c, parent)| LayerInfo {
                refcount: counts.get(&c).copied().unwrap_or(0),
                chain_id: c,
                parent,
            })
            .collect())
    }

    fn remove_layer(&self, chain_id: &Digest) -> Result<(), SnapshotError> {
        let info = self.layers()?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match info.iter().find(|l| &l.chain_id == chain_id) {
            None => return Err(SnapshotError::NotFound(chain_id.to_string())),
            Some(l) if l.refcount > 0 => return Err(SnapshotError::InUse(chain_id.clone())),
            Some(_) => {}
        }
        // Move aside first so a half-removed layer is never visible under its name.
        let dir = self.layer_dir(chain_id);
        let tmp = self.root.join("tmp").join(format!("rm-{}", chain_id.hex()));
        fs::rename(&dir, &tmp).map_err(io_err(&dir))?;
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))
    }
}

/// Delete directories that were moved aside, off the caller's path ([`crate::deleter`]). A
/// failure (or no thread) leaves them for the next [`OverlaySnapshotter::open`].
fn delete_in_background(dirs: Vec<PathBuf>) {
    static DELETER: crate::deleter::Deleter = crate::deleter::Deleter::new("snapshot-rm");
    DELETER.delete(dirs);
}

/// Layers (chain ID → parent) and snapshots (key → parent) of the fake.
type FakeState = (
    BTreeMap<Digest, Option<Digest>>,
    BTreeMap<String, Option<Digest>>,
);

/// An in-memory snapshotter for engine unit tests: tracks layers and snapshots, stores nothing.
#[derive(Debug, Default)]
pub struct FakeSnapshotter {
    state: Mutex<FakeState>,
}

impl Snapshotter for FakeSnapshotter {
    fn has_layer(&self, chain_id: &Digest) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .contains_key(chain_id)
    }
    fn apply_layer(
        &self,
        chain_id: &Digest,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
        _diff_id: &Digest,
    ) -> Result<(), SnapshotError> {
        io::copy(layer, &mut io::sink()).map_err(io_err(Path::new("<fake>")))?;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = parent {
            if !s.0.contains_key(p) {
                return Err(SnapshotError::MissingParent(p.clone()));
            }
        }
        s.0.insert(chain_id.clone(), parent.cloned());
        Ok(())
    }
    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<Mount>, SnapshotError> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.1.contains_key(key) {
            return Err(SnapshotError::Exists(key.into()));
        }
        s.1.insert(key.into(), parent.cloned());
        Ok(vec![Mount {
            fs_type: "bind".into(),
            source: format!("/fake/{key}"),
            options: vec!["rbind".into()],
        }])
    }
    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.1.get(key)
            .ok_or_else(|| SnapshotError::NotFound(key.into()))?;
        Ok(vec![Mount {
            fs_type: "bind".into(),
            source: format!("/fake/{key}"),
            options: vec!["rbind".into()],
        }])
    }
    fn diff(&self, key: &str, w: &mut dyn Write) -> Result<(), SnapshotError> {
        self.mounts(key)?;
        tar::Builder::new(w)
            .finish()
            .map_err(io_err(Path::new("<fake>")))
    }
    fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.1.remove(key)
            .map(|_| ())
            .ok_or_else(|| SnapshotError::NotFound(key.into()))
    }
    fn layers(&self) -> Result<Vec<LayerInfo>, SnapshotError> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let users: Vec<&Digest> =
            s.0.values()
                .flatten()
                .chain(s.1.values().flatten())
                .collect();
        Ok(s.0
            .iter()
            .map(|(c, p)| LayerInfo {
                chain_id: c.clone(),
                parent: p.clone(),
                refcount: users.iter().filter(|u| **u == c).count(),
            })
            .collect())
    }
    fn remove_layer(&self, chain_id: &Digest) -> Result<(), SnapshotError> {
        let l = self
            .layers()?
            .into_iter()
            .find(|l| &l.chain_id == chain_id)
            .ok_or_else(|| SnapshotError::NotFound(chain_id.to_string()))?;
        if l.refcount > 0 {
            return Err(SnapshotError::InUse(chain_id.clone()));
        }
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .remove(chain_id);
        Ok(())
    }
}

/// Chain IDs that must be kept for a set of images (each given as its diffIDs).
pub fn chains_in_use<'a>(images: impl IntoIterator<Item = &'a [Digest]>) -> BTreeSet<Digest> {
    images.into_iter().flat_map(chain_ids).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_spec() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::of(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn fake_counts_references() {
        let f = FakeSnapshotter::default();
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        f.apply_layer(&a, None, &mut io::empty(), &a).unwrap();
        f.apply_layer(&b, Some(&a), &mut io::empty(), &b).unwrap();
        f.prepare("c1", Some(&b)).unwrap();
        assert!(matches!(f.remove_layer(&a), Err(SnapshotError::InUse(_))));
        assert!(matches!(f.remove_layer(&b), Err(SnapshotError::InUse(_))));
        f.remove("c1").unwrap();
        f.remove_layer(&b).unwrap();
        f.remove_layer(&a).unwrap();
        assert!(f.layers().unwrap().is_empty());
    }

    #[test]
    fn active_keys_lists_the_writable_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let s = OverlaySnapshotter::open(dir.path()).unwrap();
        assert!(s.active_keys().unwrap().is_empty());
        s.prepare("c1", None).unwrap();
        s.prepare("c2", None).unwrap();
        let mut keys = s.active_keys().unwrap();
        keys.sort();
        assert_eq!(keys, ["c1", "c2"]);
        s.remove("c1").unwrap();
        assert_eq!(s.active_keys().unwrap(), ["c2"]);
    }

    #[test]
    fn what_a_crash_left_half_made_goes_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(OverlaySnapshotter::open(dir.path()).unwrap());
        let tmp = dir.path().join("tmp");
        let left = [format!("{TMP_INIT}x1"), format!("{TMP_LAYER}x2")];
        for n in &left {
            fs::create_dir_all(tmp.join(n).join("diff")).unwrap();
        }
        fs::create_dir(tmp.join("someone-elses")).unwrap();
        let _s = OverlaySnapshotter::open(dir.path()).unwrap();
        // Deleted in the background (batched a few ms after the last one came).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while left.iter().any(|n| tmp.join(n).exists()) {
            assert!(
                std::time::Instant::now() < deadline,
                "still there: {left:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(tmp.join("someone-elses").exists());
    }
}
