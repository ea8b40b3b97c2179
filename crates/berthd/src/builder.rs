//! berth-build's boundaries over berthd: base images and file lookups from the image store and the
//! snapshotter's layer directories ([`Images`]), RUN steps as ordinary containers created, attached,
//! started, waited and removed through `containers::*` ([`Runner`]), and commits, the cache's child
//! lookups and tags over the store ([`Layers`]). Both look images up in one [`Catalog`], the store's
//! listing read once per build. The build runs on a blocking thread; the async container calls are
//! driven from it with the runtime handle.

use crate::containers::registry::PendingAttach;
use crate::daemon::Daemon;
use crate::images::Image;
use berth_build::{
    BaseImage, BuildError, FileMeta, ImageSource, Layer, LayerStore, Output, RunStep, StepRunner,
};
use berth_image::compression::Compression;
use berth_image::config::ImageConfig;
use berth_image::image::{self, ImageInfo};
use berth_image::snapshot::{chain_ids, Snapshotter};
use berth_image::{media, Digest};
use serde_json::json;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::runtime::Handle;

fn engine(e: impl std::fmt::Display) -> BuildError {
    BuildError::Engine(e.to_string())
}

/// The image store's listing for one build: read once (every step's lookups would otherwise read
/// and parse each image's manifest and config again), read again when a name is not in it (a pull,
/// another client's tag), and kept current with the build's own commits.
#[derive(Default)]
pub struct Catalog {
    all: Option<BTreeMap<String, Image>>,
}

/// The catalog [`Images`] and [`Layers`] share (a build runs on one thread).
pub type SharedCatalog = Rc<RefCell<Catalog>>;

impl Catalog {
    /// A catalog starting from a listing already read (while the build's context arrived).
    pub fn preloaded(all: Option<BTreeMap<String, Image>>) -> SharedCatalog {
        Rc::new(RefCell::new(Catalog { all }))
    }

    fn listing(&mut self, d: &Daemon) -> Result<&BTreeMap<String, Image>, BuildError> {
        let all = match self.all.take() {
            Some(a) => a,
            None => crate::images::list(d).map_err(engine)?,
        };
        Ok(self.all.insert(all))
    }

    fn find(&mut self, d: &Daemon, name: &str) -> Result<Image, BuildError> {
        if let Some(i) = crate::images::find_in(self.listing(d)?, name) {
            return Ok(i);
        }
        self.all = None;
        crate::images::find_in(self.listing(d)?, name)
            .ok_or_else(|| BuildError::Image(format!("No such image: {name}")))
    }

    fn forget(&mut self) {
        self.all = None;
    }

    fn add(&mut self, img: Image) {
        if let Some(m) = self.all.as_mut() {
            m.insert(img.id(), img);
        }
    }
}

/// Base images, lookups and root filesystems.
pub struct Images {
    /// The daemon.
    pub d: Arc<Daemon>,
    /// Where flattened root filesystems go (removed with the build's scratch directory).
    pub scratch: PathBuf,
    /// Credentials by registry host (`X-Registry-Config`).
    pub creds: BTreeMap<String, berth_image::registry::Credentials>,
    cat: SharedCatalog,
    rootfs: BTreeMap<String, PathBuf>,
    unpacked: BTreeMap<String, Vec<PathBuf>>,
}

impl Images {
    /// Over `d`, with `scratch` for flattened file systems.
    pub fn new(
        d: Arc<Daemon>,
        scratch: PathBuf,
        creds: BTreeMap<String, berth_image::registry::Credentials>,
        cat: SharedCatalog,
    ) -> Self {
        Images {
            d,
            scratch,
            creds,
            cat,
            rootfs: BTreeMap::new(),
            unpacked: BTreeMap::new(),
        }
    }

    /// The image's layer directories, top first (unpacking them if needed).
    fn layer_dirs(&mut self, id: &str) -> Result<Vec<PathBuf>, BuildError> {
        if let Some(v) = self.unpacked.get(id) {
            return Ok(v.clone());
        }
        let img = self.cat.borrow_mut().find(&self.d, id)?;
        image::unpack(&self.d.images, &self.d.snap, &img.info).map_err(engine)?;
        let dirs: Vec<PathBuf> = chain_ids(&img.info.diff_ids)
            .iter()
            .rev()
            .map(|c| self.d.snap.layer_diff_dir(c))
            .collect();
        self.unpacked.insert(id.to_string(), dirs.clone());
        Ok(dirs)
    }
}

fn is_whiteout(md: &std::fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    berth_image::pack::lgetxattr(p, "trusted.overlay.opaque").is_some_and(|v| v == b"y")
}

/// `lstat` of `rel` through overlay layer directories (top first), honouring whiteouts and opaque
/// directories.
pub fn lstat_layers(dirs: &[PathBuf], rel: &str) -> Option<FileMeta> {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Some(FileMeta {
            mode: 0o040755,
            uid: 0,
            gid: 0,
            link: None,
        });
    }
    for dir in dirs {
        // An ancestor whited out, replaced by a non-directory or made opaque in this layer hides
        // everything below.
        for i in 1..parts.len() {
            let a = dir.join(parts[..i].join("/"));
            if let Ok(md) = std::fs::symlink_metadata(&a) {
                if is_whiteout(&md) || !md.is_dir() {
                    return None;
                }
            }
        }
        let p = dir.join(parts.join("/"));
        if let Ok(md) = std::fs::symlink_metadata(&p) {
            if is_whiteout(&md) {
                return None;
            }
            let link = if md.file_type().is_symlink() {
                std::fs::read_link(&p)
                    .ok()
                    .map(|t| t.to_string_lossy().into_owned())
            } else {
                None
            };
            return Some(FileMeta {
                mode: md.mode(),
                uid: md.uid(),
                gid: md.gid(),
                link,
            });
        }
        for i in 1..parts.len() {
            if is_opaque(&dir.join(parts[..i].join("/"))) {
                return None;
            }
        }
    }
    None
}

impl ImageSource for Images {
    fn get(
        &mut self,
        name: &str,
        pull: bool,
        out: &mut dyn Output,
    ) -> Result<BaseImage, BuildError> {
        let local = self.cat.borrow_mut().find(&self.d, name);
        let is_id = name.starts_with("sha256:");
        if !is_id && (pull || local.is_err()) {
            let mut status = |s: String| out.stream(&format!("{s}\n"));
            let pulled = crate::api::pull_blocking(&self.d, name, &self.creds, &mut status);
            self.cat.borrow_mut().forget();
            if let Err(e) = pulled {
                if local.is_err() {
                    return Err(BuildError::Image(format!(
                        "pull access denied for {name}, repository does not exist or may require 'docker login': {e}"
                    )));
                }
            }
        }
        let img = match local {
            Ok(i) if !pull => i,
            _ => self.cat.borrow_mut().find(&self.d, name)?,
        };
        Ok(BaseImage {
            id: img.id(),
            config: img.info.config,
        })
    }

    fn lstat(&mut self, id: &str, path: &str) -> Result<Option<FileMeta>, BuildError> {
        let dirs = self.layer_dirs(id)?;
        Ok(lstat_layers(&dirs, path))
    }

    fn rootfs(&mut self, id: &str) -> Result<PathBuf, BuildError> {
        if let Some(p) = self.rootfs.get(id) {
            return Ok(p.clone());
        }
        let img = self.cat.borrow_mut().find(&self.d, id)?;
        let dest = self
            .scratch
            .join(format!("rootfs-{}", &img.info.config_digest.hex()[..16]));
        std::fs::create_dir_all(&dest)
            .map_err(|e| BuildError::io("creating a root file system", e))?;
        let t0 = std::time::Instant::now();
        image::flatten(&self.d.images, &img.info, &dest, &Default::default()).map_err(engine)?;
        crate::log!(0, "build: flattened {id} in {:?}", t0.elapsed());
        self.rootfs.insert(id.to_string(), dest.clone());
        Ok(dest)
    }

    fn remembered_checksum(&mut self, key: &str) -> Option<String> {
        let sum = std::fs::read_to_string(checksum_path(&self.d, key)).ok()?;
        let (kind, hex) = sum.split_once(':')?;
        let valid = matches!(kind, "file" | "dir" | "multi")
            && hex.len() == 64
            && hex.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then_some(sum)
    }

    fn remember_checksum(&mut self, key: &str, sum: &str) {
        // Best effort: a checksum not remembered is computed again next time.
        let path = checksum_path(&self.d, key);
        let tmp = path.with_extension(format!("tmp-{}", crate::containers::model::random_hex()));
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, sum))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            crate::log!(2, "build: remembering a COPY --from checksum: {e}");
        }
    }
}

/// Where the checksum of a `COPY --from` is remembered: `<data-root>/build-checksums/<sha256 of key>`
/// (`POST /build/prune` empties it).
pub fn checksums_dir(d: &Daemon) -> PathBuf {
    d.cfg.data_root.join("build-checksums")
}

fn checksum_path(d: &Daemon, key: &str) -> PathBuf {
    checksums_dir(d).join(Digest::of(key.as_bytes()).hex())
}

/// RUN steps as containers.
pub struct Runner {
    /// The daemon.
    pub d: Arc<Daemon>,
    /// The runtime to drive async calls with.
    pub rt: Handle,
}

impl StepRunner for Runner {
    fn create(&mut self, step: &RunStep) -> Result<String, BuildError> {
        let c = &step.config;
        let h = &step.host;
        let mut host = json!({
            "NetworkMode": if h.network_mode.is_empty() { "default" } else { h.network_mode.as_str() },
            "Memory": h.memory,
            "MemorySwap": h.memory_swap,
            "CpuShares": h.cpu_shares,
            "CpusetCpus": h.cpuset_cpus,
            "CpusetMems": h.cpuset_mems,
            "CpuPeriod": h.cpu_period,
            "CpuQuota": h.cpu_quota,
            "ExtraHosts": h.extra_hosts,
        });
        if h.shm_size > 0 {
            host["ShmSize"] = json!(h.shm_size);
        }
        let body = json!({
            "Image": step.image,
            "Cmd": c.cmd,
            "Entrypoint": [],
            "Env": c.env,
            "User": c.user.clone().unwrap_or_default(),
            "WorkingDir": c.working_dir.clone().unwrap_or_default(),
            "AttachStdout": true,
            "AttachStderr": true,
            "Healthcheck": {"Test": ["NONE"]},
            "Labels": {},
            "HostConfig": host,
        });
        let d = self.d.clone();
        let (id, _warnings) = self
            .rt
            .block_on(crate::containers::create::create(&d, None, body))
            .map_err(|e| BuildError::Engine(e.to_string()))?;
        Ok(id)
    }

    fn run(&mut self, container: &str, out: &mut dyn Output) -> Result<i32, BuildError> {
        // The container is driven by a task on the runtime; its output comes back over a channel
        // to this (blocking) thread, which writes it to the build's stream.
        enum Msg {
            Out(u8, Vec<u8>),
            Exit(Result<i32, String>),
        }
        let (mtx, mrx) = std::sync::mpsc::channel::<Msg>();
        let d = self.d.clone();
        let id = container.to_string();
        self.rt.spawn(async move {
            let res = drive(&d, &id, &mtx).await;
            let _ = mtx.send(Msg::Exit(res));
        });
        async fn drive(
            d: &Arc<Daemon>,
            id: &str,
            mtx: &std::sync::mpsc::Sender<Msg>,
        ) -> Result<i32, String> {
            let (tx, rx) = tokio::sync::oneshot::channel();
            d.containers
                .add_pending(
                    id,
                    PendingAttach {
                        flags: (false, true, true),
                        tx,
                    },
                )
                .map_err(|e| e.to_string())?;
            let mut events = match d.containers.subscribe(id).map_err(|e| e.to_string())? {
                Ok(rx) => rx,
                Err(code) => return Ok(code),
            };
            let before = events.borrow().exits;
            crate::containers::lifecycle::start(d, id)
                .await
                .map_err(|e| e.to_string())?;
            if let Ok(mut s) = rx.await {
                // Frames until the shim closes the stream. Should it stay open after the process
                // exited, a grace period ends the reading (everything written is in by then).
                let reading = async {
                    let mut head = [0u8; 8];
                    while s.read_exact(&mut head).await.is_ok() {
                        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
                        let mut buf = vec![0u8; len];
                        if s.read_exact(&mut buf).await.is_err() {
                            break;
                        }
                        let _ = mtx.send(Msg::Out(head[0], buf));
                    }
                };
                let mut ev = events.clone();
                let grace = async {
                    let _ = ev.wait_for(|e| e.exits > before || e.removed).await;
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                };
                tokio::select! {
                    _ = reading => {}
                    _ = grace => {}
                }
            }
            let e = events
                .wait_for(|e| e.exits > before || e.removed)
                .await
                .map(|e| *e)
                .map_err(|e| e.to_string())?;
            Ok(e.exit_code)
        }
        loop {
            match mrx.recv() {
                // stderr in red, between the classic builder's escape codes.
                Ok(Msg::Out(2, b)) => {
                    out.stream(&format!("\x1b[91m{}\x1b[0m", String::from_utf8_lossy(&b)))
                }
                Ok(Msg::Out(_, b)) => out.stream(&String::from_utf8_lossy(&b)),
                Ok(Msg::Exit(r)) => return r.map_err(BuildError::Engine),
                Err(_) => {
                    return Err(BuildError::Engine(
                        "the RUN step's task ended unexpectedly".into(),
                    ))
                }
            }
        }
    }

    fn remove(&mut self, container: &str) -> Result<(), BuildError> {
        let d = self.d.clone();
        self.rt
            .block_on(crate::containers::lifecycle::remove(
                &d, container, true, true,
            ))
            .map_err(engine)
    }
}

/// Commits, cache lookups and tags.
pub struct Layers {
    /// The daemon.
    pub d: Arc<Daemon>,
    cat: SharedCatalog,
    /// Images by parent, made from the catalog once per build (every step's cache lookup asks)
    /// and kept current with the build's own commits.
    by_parent: Option<BTreeMap<Option<String>, Vec<BaseImage>>>,
}

impl Layers {
    /// Over `d`, looking images up in `cat`.
    pub fn new(d: Arc<Daemon>, cat: SharedCatalog) -> Self {
        Layers {
            d,
            cat,
            by_parent: None,
        }
    }
}

fn store_tar(d: &Daemon, path: &Path) -> Result<(Digest, u64, Digest), BuildError> {
    let f = std::fs::File::open(path).map_err(|e| BuildError::io("reading a layer", e))?;
    image::store_layer(&d.images, f, Compression::Gzip).map_err(engine)
}

impl LayerStore for Layers {
    fn children(&mut self, parent: Option<&str>) -> Result<Vec<BaseImage>, BuildError> {
        if self.by_parent.is_none() {
            let mut m: BTreeMap<Option<String>, Vec<BaseImage>> = BTreeMap::new();
            for i in self.cat.borrow_mut().listing(&self.d)?.values() {
                if i.info.config.container_config.is_some() {
                    m.entry(i.info.config.parent.clone())
                        .or_default()
                        .push(BaseImage {
                            id: i.id(),
                            config: i.info.config.clone(),
                        });
                }
            }
            self.by_parent = Some(m);
        }
        let m = self.by_parent.as_ref().expect("index built");
        Ok(m.get(&parent.map(str::to_string))
            .cloned()
            .unwrap_or_default())
    }

    fn parent(&mut self, id: &str) -> Result<Option<String>, BuildError> {
        Ok(self.cat.borrow_mut().find(&self.d, id)?.info.config.parent)
    }

    fn commit(
        &mut self,
        parent: Option<&str>,
        layer: Layer,
        mut config: ImageConfig,
    ) -> Result<String, BuildError> {
        let d = &self.d;
        let base: Option<ImageInfo> = match parent {
            Some(p) => Some(self.cat.borrow_mut().find(d, p)?.info),
            None => None,
        };
        let mut layers = base.as_ref().map(|b| b.layers.clone()).unwrap_or_default();
        config.rootfs.diff_ids = base
            .as_ref()
            .map(|b| b.diff_ids.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default();
        config.rootfs.kind = "layers".into();
        let new = match &layer {
            Layer::None | Layer::Existing { .. } => None,
            Layer::Tar(p) => Some(store_tar(d, p)?),
            Layer::Container(c) => {
                let tmp = d.images.temp_path("build-layer");
                let written = (|| {
                    let f = std::fs::File::create(&tmp)
                        .map_err(|e| BuildError::io("creating a layer file", e))?;
                    let mut w = BufWriter::new(f);
                    d.snap.diff(c, &mut w).map_err(engine)?;
                    w.flush()
                        .map_err(|e| BuildError::io("writing a layer file", e))?;
                    store_tar(d, &tmp)
                })();
                let _ = std::fs::remove_file(&tmp);
                Some(written?)
            }
        };
        if let Some((digest, size, diff_id)) = new {
            layers.push(media::descriptor(media::OCI_LAYER_GZIP, &digest, size));
            config.rootfs.diff_ids.push(diff_id.to_string());
        }
        if let Layer::Existing { image, index } = &layer {
            let src = self.cat.borrow_mut().find(d, image)?.info;
            let (Some(desc), Some(diff_id)) = (src.layers.get(*index), src.diff_ids.get(*index))
            else {
                return Err(BuildError::Engine(format!(
                    "image {image} has no layer {index}"
                )));
            };
            layers.push(desc.clone());
            config.rootfs.diff_ids.push(diff_id.to_string());
        }
        let _g = d.image_lock.blocking_lock();
        let rec = image::write_image(&d.images, &config, layers, false).map_err(engine)?;
        d.images
            .set_ref(rec.digest.as_str(), rec.clone())
            .map_err(engine)?;
        let info = image::resolve(&d.images, &rec).map_err(engine)?;
        let id = format!("sha256:{}", info.config_digest.hex());
        if let Some(m) = self.by_parent.as_mut() {
            m.entry(info.config.parent.clone())
                .or_default()
                .push(BaseImage {
                    id: id.clone(),
                    config: info.config.clone(),
                });
        }
        self.cat.borrow_mut().add(Image {
            info,
            keys: vec![rec.digest.as_str().to_string()],
        });
        Ok(id)
    }

    fn tag(&mut self, id: &str, name: &str) -> Result<(), BuildError> {
        let d = &self.d;
        let key = crate::images::key_of(name)
            .ok_or_else(|| BuildError::Invalid(format!("invalid reference format: {name}")))?;
        let img = self.cat.borrow_mut().find(d, id)?;
        let _g = d.image_lock.blocking_lock();
        // An unchanged rebuild names the image the tag already names: nothing to write.
        if d.images.get_ref(&key).map_err(engine)?.as_ref() != Some(&img.info.record) {
            let before = crate::images::list(d).map_err(engine)?;
            d.images
                .set_ref(&key, img.info.record.clone())
                .map_err(engine)?;
            crate::api::keep_replaced_as_dangling(d, &before).map_err(engine)?;
            self.cat.borrow_mut().forget();
        }
        crate::images::mark_tagged(d, &img.id());
        let fam = berth_image::Reference::parse(&key)
            .map(|r| r.familiar())
            .unwrap_or_default();
        d.events
            .emit("image", "tag", id, [("name".to_string(), fam)].into());
        Ok(())
    }
}
