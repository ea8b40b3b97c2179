//! Images in the store: resolving names to manifests and configs, unpacking into a snapshotter or a plain
//! directory, importing a rootfs tarball as a one-layer image, exporting a filesystem, removing names.

use crate::compression::{decompress, Compression, Compressor};
use crate::config::{apply_changes, ConfigError, ContainerConfig, History, ImageConfig};
use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::extract::{extract_layer, ExtractError, ExtractOptions};
use crate::media::{self, MediaError, Parsed};
use crate::reference::{Reference, ReferenceError};
use crate::snapshot::{chain_ids, SnapshotError, Snapshotter};
use crate::store::{ImageRecord, Store, StoreError};
use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

/// Errors from image operations.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Manifest problem.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// Config problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Extraction failure.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// Snapshotter failure.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// No image with that name.
    #[error("image {0:?} not found")]
    NotFound(String),
    /// No manifest for this platform in an index.
    #[error("no manifest for platform {0} in index")]
    NoPlatform(String),
    /// Layers and diffIDs disagree.
    #[error("image {0}: manifest has {1} layers but config has {2} diffIDs")]
    LayerCount(Digest, usize, usize),
    /// I/O error.
    #[error("image i/o: {0}")]
    Io(#[from] io::Error),
    /// Build failure of an oci-spec document.
    #[error("building manifest: {0}")]
    Build(String),
}

/// A resolved single-platform image.
#[derive(Clone, Debug)]
pub struct ImageInfo {
    /// The record the name points at (may be an index).
    pub record: ImageRecord,
    /// Digest of the platform manifest.
    pub manifest_digest: Digest,
    /// Its media type.
    pub manifest_media_type: String,
    /// The manifest.
    pub manifest: ImageManifest,
    /// Config digest.
    pub config_digest: Digest,
    /// Parsed config.
    pub config: ImageConfig,
    /// Layer descriptors, bottom first.
    pub layers: Vec<Descriptor>,
    /// diffIDs, bottom first.
    pub diff_ids: Vec<Digest>,
}

impl ImageInfo {
    /// Chain ID of the top layer (None for an image without layers).
    pub fn top_chain_id(&self) -> Option<Digest> {
        chain_ids(&self.diff_ids).pop()
    }
}

/// Normalise a user-given name to the key used in the store (full reference or bare digest).
pub fn ref_key(name: &str) -> Result<String, ImageError> {
    if let Ok(d) = Digest::parse(name) {
        return Ok(d.to_string());
    }
    Ok(Reference::parse(name)?.to_string())
}

/// Look up a name (reference or manifest digest).
pub fn lookup(store: &Store, name: &str) -> Result<ImageRecord, ImageError> {
    let key = ref_key(name)?;
    if let Some(r) = store.get_ref(&key)? {
        return Ok(r);
    }
    if let Ok(d) = Digest::parse(name) {
        if let Some(r) = store.list_refs()?.into_values().find(|r| r.digest == d) {
            return Ok(r);
        }
    }
    Err(ImageError::NotFound(name.to_string()))
}

/// Resolve a record to the manifest for this host's platform, with its config.
pub fn resolve(store: &Store, record: &ImageRecord) -> Result<ImageInfo, ImageError> {
    let (os, arch, variant) = media::host_platform();
    resolve_for(store, record, &os, &arch, variant.as_deref())
}

/// Resolve a record to the manifest for a platform.
pub fn resolve_for(
    store: &Store,
    record: &ImageRecord,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Result<ImageInfo, ImageError> {
    let bytes = store.read_blob(&record.digest)?;
    let (mdigest, mtype, manifest) = match media::parse(&bytes, &record.media_type)? {
        Parsed::Manifest(m) => (record.digest.clone(), record.media_type.clone(), *m),
        Parsed::Index(idx) => {
            let d = media::choose_platform(&idx, os, arch, variant)
                .ok_or_else(|| ImageError::NoPlatform(format!("{os}/{arch}")))?;
            let dd = media::desc_digest(d)?;
            let mt = d.media_type().to_string();
            let b = store.read_blob(&dd)?;
            match media::parse(&b, &mt)? {
                Parsed::Manifest(m) => (dd, mt, *m),
                Parsed::Index(_) => {
                    return Err(ImageError::Media(MediaError::Unsupported(
                        "nested index".into(),
                    )))
                }
            }
        }
    };
    let config_digest = media::desc_digest(manifest.config())?;
    let config = ImageConfig::parse(&store.read_blob(&config_digest)?)?;
    let diff_ids = config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(MediaError::from)?;
    let layers = manifest.layers().clone();
    if layers.len() != diff_ids.len() {
        return Err(ImageError::LayerCount(
            mdigest,
            layers.len(),
            diff_ids.len(),
        ));
    }
    Ok(ImageInfo {
        record: record.clone(),
        manifest_digest: mdigest,
        manifest_media_type: mtype,
        manifest,
        config_digest,
        config,
        layers,
        diff_ids,
    })
}

/// Unpack every layer of an image into a snapshotter (layers already there are reused). Returns the top
/// chain ID to `prepare` a container on.
pub fn unpack(
    store: &Store,
    snap: &dyn Snapshotter,
    info: &ImageInfo,
) -> Result<Option<Digest>, ImageError> {
    let chains = chain_ids(&info.diff_ids);
    let mut pending = Vec::new();
    for (i, layer) in info.layers.iter().enumerate() {
        if snap.has_layer(&chains[i]) {
            continue;
        }
        let f = store.open_blob(&media::desc_digest(layer)?)?;
        // Decompressed here, within the store's bound (a bomb stops at the bound, its diffID
        // check fails and the snapshotter drops the partial layer).
        let f = crate::compression::decompress_bounded(f, store.max_uncompressed())?;
        pending.push(crate::snapshot::PendingLayer {
            chain_id: chains[i].clone(),
            parent: if i == 0 {
                None
            } else {
                Some(chains[i - 1].clone())
            },
            diff_id: info.diff_ids[i].clone(),
            reader: Box::new(f),
        });
    }
    snap.apply_layers(pending)?;
    Ok(chains.last().cloned())
}

/// Extract all layers, whiteouts applied, into one plain directory.
pub fn flatten(
    store: &Store,
    info: &ImageInfo,
    dest: &Path,
    opts: &ExtractOptions,
) -> Result<(), ImageError> {
    let opts = ExtractOptions {
        whiteouts: crate::extract::WhiteoutMode::Apply,
        ..opts.clone()
    };
    for (i, layer) in info.layers.iter().enumerate() {
        let f = store.open_blob(&media::desc_digest(layer)?)?;
        // Decompressed here, within the store's bound (a bomb stops at the bound, its diffID
        // check fails and the snapshotter drops the partial layer).
        let f = crate::compression::decompress_bounded(f, store.max_uncompressed())?;
        extract_layer(f, dest, &opts, Some(&info.diff_ids[i]))?;
    }
    Ok(())
}

/// Store a layer tar (any compression) compressing it with `compression`; returns (blob digest, size, diffID).
/// Its size unpacked ([`crate::layer_size`]) is measured on the way and recorded with the blob.
pub fn store_layer<R: Read>(
    store: &Store,
    r: R,
    compression: Compression,
) -> Result<(Digest, u64, Digest), ImageError> {
    let (_, plain) = decompress(r)?;
    let plain = crate::compression::Bounded::new(plain, store.max_uncompressed());
    let mut hr = HashingReader::new(plain);
    let tmp = store.temp_path("layer");
    let res = (|| {
        let f = BufWriter::new(File::create(&tmp)?);
        let mut c = Compressor::new(HashingWriter::new(f), compression)?;
        let unpacked = crate::layer_size::measure_through(&mut hr, &mut c)?;
        let hw = c.finish()?;
        let (mut f, digest, size) = hw.finish();
        f.flush()?;
        let (diff_id, _) = hr.finish()?;
        Ok::<_, io::Error>((digest, size, diff_id, unpacked))
    })();
    let (digest, size, diff_id, unpacked) = match res {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    store.commit_ingested(&tmp, &digest, Some(size))?;
    // Unrecorded (a failed write), it is measured again when first asked for.
    let _ = store.set_layer_size(&digest, unpacked);
    Ok((digest, size, diff_id))
}

/// Write a config and an OCI manifest for the given layers; returns the manifest record.
pub fn write_image(
    store: &Store,
    config: &ImageConfig,
    layers: Vec<Descriptor>,
    docker: bool,
) -> Result<ImageRecord, ImageError> {
    let cbytes = config.to_bytes();
    let cdigest = store.write_blob(&cbytes)?;
    let (mt, ct) = if docker {
        (media::DOCKER_MANIFEST, media::DOCKER_CONFIG)
    } else {
        (media::OCI_MANIFEST, media::OCI_CONFIG)
    };
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(mt))
        .config(media::descriptor(ct, &cdigest, cbytes.len() as u64))
        .layers(layers)
        .build()
        .map_err(|e| ImageError::Build(e.to_string()))?;
    let mbytes = serde_json::to_vec(&manifest).map_err(|e| ImageError::Build(e.to_string()))?;
    let mdigest = store.write_blob(&mbytes)?;
    Ok(ImageRecord {
        digest: mdigest,
        media_type: mt.to_string(),
        size: mbytes.len() as u64,
    })
}

/// Import a rootfs tarball (any compression) as a one-layer image named `name`, applying Dockerfile-style
/// `changes` to its config (as `docker import --change`); its history says "Imported from -".
pub fn import_rootfs<R: Read>(
    store: &Store,
    r: R,
    name: &str,
    changes: &[String],
) -> Result<ImageRecord, ImageError> {
    import_rootfs_with_comment(store, r, name, changes, "Imported from -")
}

/// [`import_rootfs`] with the history's comment (`docker import -m`).
pub fn import_rootfs_with_comment<R: Read>(
    store: &Store,
    r: R,
    name: &str,
    changes: &[String],
    comment: &str,
) -> Result<ImageRecord, ImageError> {
    let (digest, size, diff_id) = store_layer(store, r, Compression::Gzip)?;
    let mut config = ImageConfig::new_for_host(vec![diff_id.to_string()]);
    let mut cc = config.config.take().unwrap_or_default();
    apply_changes(&mut cc, changes)?;
    config.config = Some(cc);
    config.history.push(History {
        created: config.created.clone(),
        created_by: None,
        comment: Some(comment.to_string()),
        empty_layer: None,
    });
    let rec = write_image(
        store,
        &config,
        vec![media::descriptor(media::OCI_LAYER_GZIP, &digest, size)],
        false,
    )?;
    store.set_ref(&ref_key(name)?, rec.clone())?;
    Ok(rec)
}

/// Export a container's (merged, mounted or flattened) filesystem as an uncompressed tar, the
/// owners named from `owners` (the container's accounts).
pub fn export_fs<W: Write>(
    root: &Path,
    w: W,
    owners: &crate::pack::Owners,
) -> Result<W, ImageError> {
    Ok(crate::pack::pack_dir_owned(
        root,
        w,
        crate::pack::PackMode::Plain,
        owners,
    )?)
}

/// Commit a snapshot's changes as a new image on top of `base` (a new layer plus config).
pub fn commit(
    store: &Store,
    snap: &dyn Snapshotter,
    key: &str,
    base: &ImageInfo,
    name: &str,
    meta: &CommitMeta,
) -> Result<ImageRecord, ImageError> {
    let tmp = tempfile::NamedTempFile::new_in(store.root().join("ingest"))?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        snap.diff(key, &mut w)?;
        w.flush()?;
    }
    let (digest, size, diff_id) = store_layer(store, File::open(tmp.path())?, Compression::Gzip)?;
    let mut config = base.config.clone();
    config.created = Some(crate::config::now_rfc3339());
    config.rootfs.diff_ids.push(diff_id.to_string());
    let mut cc = match &meta.config {
        Some(c) => c.clone(),
        None => config.config.take().unwrap_or_default(),
    };
    apply_changes(&mut cc, &meta.changes)?;
    config.config = Some(cc);
    if meta.author.is_some() {
        config.author = meta.author.clone();
    }
    config.container = meta.container.clone();
    config.container_config = meta.container_config.clone();
    config.parent = meta.parent.clone();
    // dockerd's history names the committed container's command.
    let created_by = meta
        .container_config
        .as_ref()
        .and_then(|c| c["Cmd"].as_array())
        .map(|cmd| {
            cmd.iter()
                .filter_map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    config.history.push(History {
        created: config.created.clone(),
        created_by: Some(created_by),
        comment: meta.comment.clone(),
        ..Default::default()
    });
    let mut layers = base.layers.clone();
    layers.push(media::descriptor(media::OCI_LAYER_GZIP, &digest, size));
    let rec = write_image(store, &config, layers, false)?;
    store.set_ref(&ref_key(name)?, rec.clone())?;
    Ok(rec)
}

/// What [`commit`] records besides the new layer.
#[derive(Clone, Debug, Default)]
pub struct CommitMeta {
    /// The runtime config (the base image's when `None`), before `changes`.
    pub config: Option<ContainerConfig>,
    /// Dockerfile-style changes applied to it (`CMD ["x"]`, `EXPOSE 80`...).
    pub changes: Vec<String>,
    /// Author.
    pub author: Option<String>,
    /// The history entry's comment (`docker commit -m`).
    pub comment: Option<String>,
    /// The ID of the container committed.
    pub container: Option<String>,
    /// Its config, as Docker shows it.
    pub container_config: Option<serde_json::Value>,
    /// The ID of the image the container ran.
    pub parent: Option<String>,
}

/// Remove a name. Blobs stay until garbage collection.
pub fn remove(store: &Store, name: &str) -> Result<ImageRecord, ImageError> {
    store
        .remove_ref(&ref_key(name)?)?
        .ok_or_else(|| ImageError::NotFound(name.to_string()))
}
