//! `docker save` archives: `manifest.json` (config, repo tags and layer paths per image), `repositories`,
//! one uncompressed `layer.tar` per layer; several images per archive. Also reads the newer layout where
//! layers live under `blobs/sha256/`.

use crate::compression::{decompress, Compression};
use crate::digest::{Digest, HashingReader};
use crate::image::{lookup, resolve, ImageError};
use crate::media;
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};
use crate::transfer::{Sink, Source, TransferError};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Read, Seek, Write};

/// Errors from docker archive handling.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Image-level failure.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Archive-level failure.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// I/O.
    #[error("docker archive i/o: {0}")]
    Io(#[from] io::Error),
    /// Malformed manifest.json.
    #[error("malformed docker archive manifest.json: {0}")]
    Manifest(String),
    /// A layer does not match the config's diffID.
    #[error("docker archive layer {path} has diffID {actual}, config says {expected}")]
    DiffId {
        /// Layer path.
        path: String,
        /// From the config.
        expected: String,
        /// Computed.
        actual: Digest,
    },
}

/// One entry of `manifest.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveEntry {
    /// Path of the config file.
    pub config: String,
    /// Tags, in Docker's familiar form.
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// Layer paths, bottom first.
    pub layers: Vec<String>,
}

/// An image loaded from an archive.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Store keys set for it.
    pub names: Vec<String>,
    /// Its manifest.
    pub record: ImageRecord,
    /// Config digest (Docker's image ID).
    pub config_digest: Digest,
}

/// Load every image of a docker archive. All or nothing: every image is checked (layers against
/// the config's diffIDs, decompressed within the store's bound) before any name is set, and a
/// failure removes every blob the load added, the scanned ones included.
pub fn import_docker_archive(
    store: &Store,
    src: &Source,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let mut created: Vec<Digest> = src.created().to_vec();
    let checked = check_entries(store, src, &mut created);
    let checked = match checked {
        Ok(c) => c,
        Err(e) => {
            crate::transfer::remove_blobs(store, &created);
            return Err(e);
        }
    };
    let mut out = Vec::new();
    for (rec, cdigest, tags) in checked {
        let mut names = Vec::new();
        for r in tags {
            store
                .set_ref(&r.to_string(), rec.clone())
                .map_err(ImageError::from)?;
            names.push(r.to_string());
        }
        if names.is_empty() {
            store
                .set_ref(rec.digest.as_str(), rec.clone())
                .map_err(ImageError::from)?;
            names.push(rec.digest.to_string());
        }
        out.push(LoadedImage {
            names,
            record: rec,
            config_digest: cdigest,
        });
    }
    Ok(out)
}

/// The images of an archive, checked and written (config, manifest), with their tags; the blobs
/// written that were absent before are added to `created`.
#[allow(clippy::type_complexity)]
fn check_entries(
    store: &Store,
    src: &Source,
    created: &mut Vec<Digest>,
) -> Result<Vec<(ImageRecord, Digest, Vec<Reference>)>, ArchiveError> {
    let m = src.read(store, "manifest.json")?;
    let entries: Vec<ArchiveEntry> =
        serde_json::from_slice(&m).map_err(|e| ArchiveError::Manifest(e.to_string()))?;
    let mut out = Vec::new();
    for e in entries {
        let cbytes = src.read(store, &e.config)?;
        let config = crate::config::ImageConfig::parse(&cbytes).map_err(ImageError::from)?;
        let tags = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ImageError::from)?;
        if config.rootfs.diff_ids.len() != e.layers.len() {
            return Err(ArchiveError::Manifest(format!(
                "{} layers but {} diffIDs",
                e.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (i, path) in e.layers.iter().enumerate() {
            let (d, size) = src.ingest(store, path, None)?;
            let mut f = store.open_blob(&d).map_err(ImageError::from)?;
            let mut head = [0u8; 4];
            let n = f.read(&mut head)?;
            f.rewind()?;
            let c = Compression::detect(&head[..n]);
            // The diffID: the blob's own digest for a plain tar, else hashed while decompressing
            // (bounded: nothing of the decompressed data is kept). The layer's size unpacked is
            // measured on the same read (a plain tar is read for it alone).
            let known = store.layer_size(&d);
            let diff_id = if c == Compression::None {
                if known.is_none() {
                    let n = crate::layer_size::measure(io::BufReader::new(f))?;
                    let _ = store.set_layer_size(&d, n);
                }
                d.clone()
            } else {
                let (_, plain) = decompress(f)?;
                let plain = crate::compression::Bounded::new(plain, store.max_uncompressed());
                let mut hr = HashingReader::new(plain);
                let n = crate::layer_size::measure(&mut hr)?;
                let diff_id = hr.finish()?.0;
                if known.is_none() && diff_id.as_str() == config.rootfs.diff_ids[i] {
                    let _ = store.set_layer_size(&d, n);
                }
                diff_id
            };
            if diff_id.as_str() != config.rootfs.diff_ids[i] {
                return Err(ArchiveError::DiffId {
                    path: path.clone(),
                    expected: config.rootfs.diff_ids[i].clone(),
                    actual: diff_id,
                });
            }
            layers.push(media::descriptor(c.docker_layer_type(), &d, size));
        }
        let (cdigest, _, new) = store
            .ingest_new(&cbytes[..], None, None)
            .map_err(ImageError::from)?;
        if new {
            created.push(cdigest.clone());
        }
        let (rec, new) = write_image_with_config(store, &cdigest, cbytes.len() as u64, layers)?;
        if new {
            created.push(rec.digest.clone());
        }
        out.push((rec, cdigest, tags));
    }
    Ok(out)
}

fn write_image_with_config(
    store: &Store,
    cdigest: &Digest,
    csize: u64,
    layers: Vec<oci_spec::image::Descriptor>,
) -> Result<(ImageRecord, bool), ImageError> {
    let manifest = oci_spec::image::ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(oci_spec::image::MediaType::from(media::DOCKER_MANIFEST))
        .config(media::descriptor(media::DOCKER_CONFIG, cdigest, csize))
        .layers(layers)
        .build()
        .map_err(|e| ImageError::Build(e.to_string()))?;
    let mbytes = serde_json::to_vec(&manifest).map_err(|e| ImageError::Build(e.to_string()))?;
    let (d, _, new) = store.ingest_new(&mbytes[..], None, None)?;
    let rec = ImageRecord {
        digest: d,
        media_type: media::DOCKER_MANIFEST.into(),
        size: mbytes.len() as u64,
    };
    Ok((rec, new))
}

/// Write images by name as a `docker save` archive (layers uncompressed, as docker writes them).
pub fn export_docker_archive(
    store: &Store,
    names: &[&str],
    sink: &mut dyn Sink,
) -> Result<(), ArchiveError> {
    // Group names by image so one entry carries all its tags.
    let mut by_config: BTreeMap<Digest, (crate::image::ImageInfo, Vec<String>)> = BTreeMap::new();
    let mut order = Vec::new();
    for n in names {
        let info = resolve(store, &lookup(store, n)?)?;
        let tag = Reference::parse(n)
            .ok()
            .filter(|r| r.tag().is_some())
            .map(|r| r.familiar());
        let slot = by_config
            .entry(info.config_digest.clone())
            .or_insert_with(|| {
                order.push(info.config_digest.clone());
                (info.clone(), Vec::new())
            });
        if let Some(t) = tag {
            slot.1.push(t);
        }
    }
    let mut written = BTreeSet::new();
    let mut entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for cd in order {
        let (info, tags) = &by_config[&cd];
        let cfg_path = format!("{}.json", cd.hex());
        if written.insert(cfg_path.clone()) {
            sink.put_bytes(&cfg_path, &store.read_blob(&cd).map_err(ImageError::from)?)?;
        }
        let mut layer_paths = Vec::new();
        for (i, l) in info.layers.iter().enumerate() {
            let diff_id = &info.diff_ids[i];
            let path = format!("{}/layer.tar", diff_id.hex());
            if written.insert(path.clone()) {
                let ld = media::desc_digest(l).map_err(ImageError::from)?;
                let mut f = store.open_blob(&ld).map_err(ImageError::from)?;
                if &ld == diff_id {
                    sink.put(&path, l.size(), &mut f)?;
                } else {
                    let mut tmp = tempfile::tempfile_in(store.root().join("ingest"))?;
                    {
                        let (_, mut plain) = decompress(f)?;
                        let mut w = BufWriter::new(&mut tmp);
                        io::copy(&mut plain, &mut w)?;
                        w.flush()?;
                    }
                    let size = tmp.stream_position()?;
                    tmp.rewind()?;
                    sink.put(&path, size, &mut tmp)?;
                }
            }
            layer_paths.push(path);
        }
        if let Some(top) = info.diff_ids.last() {
            for t in tags {
                if let Some((repo, tag)) = t.rsplit_once(':') {
                    repositories
                        .entry(repo.to_string())
                        .or_default()
                        .insert(tag.to_string(), top.hex().to_string());
                }
            }
        }
        entries.push(ArchiveEntry {
            config: cfg_path,
            repo_tags: Some(tags.clone()),
            layers: layer_paths,
        });
    }
    sink.put_bytes(
        "manifest.json",
        &serde_json::to_vec(&entries).map_err(|e| ArchiveError::Manifest(e.to_string()))?,
    )?;
    sink.put_bytes(
        "repositories",
        &serde_json::to_vec(&repositories).map_err(|e| ArchiveError::Manifest(e.to_string()))?,
    )?;
    sink.finish()?;
    Ok(())
}
