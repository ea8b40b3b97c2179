//! The image view the API needs over berth-image's store: images grouped by ID (config digest) with all
//! the names pointing at them, and lookup by name, full ID or short ID prefix. An image without a name
//! (dangling) is kept under its manifest digest as key.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use berth_image::image::{self, ImageInfo};
use berth_image::{Digest, ImageRecord, Reference, Store};
use std::collections::BTreeMap;

/// One image.
#[derive(Clone, Debug)]
pub struct Image {
    /// Resolved manifest and config.
    pub info: ImageInfo,
    /// Store keys pointing at it (references and/or a bare digest key).
    pub keys: Vec<String>,
}

impl Image {
    /// `sha256:<hex>`.
    pub fn id(&self) -> String {
        format!("sha256:{}", self.info.config_digest.hex())
    }

    /// Names in Docker's familiar form (`busybox:latest`), tags only.
    pub fn repo_tags(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| Digest::parse(k).is_err())
            .filter_map(|k| Reference::parse(k).ok())
            .filter(|r| r.tag().is_some())
            .map(|r| r.familiar())
            .collect()
    }

    /// Names by digest (`busybox@sha256:...`).
    pub fn repo_digests(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| Digest::parse(k).is_err())
            .filter_map(|k| Reference::parse(k).ok())
            .filter(|r| r.digest().is_some())
            .map(|r| r.familiar())
            .collect()
    }

    /// The sizes of its layers unpacked, bottom first, as dockerd reports them (berth-image's
    /// `layer_size`): recorded when a layer is stored; one stored before berthd kept them is
    /// measured from its blob now, once. A layer that cannot be measured (its blob is unreadable)
    /// counts its blob's size.
    pub fn layer_sizes(&self, store: &Store) -> Vec<i64> {
        self.info
            .layers
            .iter()
            .map(|l| {
                let Ok(d) = berth_image::media::desc_digest(l) else {
                    return l.size() as i64;
                };
                store
                    .layer_size(&d)
                    .or_else(|| {
                        crate::containers::removal::blocking_here(|| store.measure_layer(&d)).ok()
                    })
                    .unwrap_or(l.size()) as i64
            })
            .collect()
    }

    /// Its size: its layers' unpacked ([`Image::layer_sizes`]).
    pub fn size(&self, store: &Store) -> i64 {
        self.layer_sizes(store).iter().sum()
    }
}

/// `system df`'s numbers for images, as dockerd counts them: each image's size, the part of it in
/// layers another image has too (`SharedSize`), and every layer once (`LayersSize`). Layers are
/// told apart by chain ID, as dockerd's layer store does.
pub struct DiskUsage {
    /// Image ID -> size.
    pub size: BTreeMap<String, i64>,
    /// Image ID -> shared size.
    pub shared: BTreeMap<String, i64>,
    /// All layers once.
    pub layers: i64,
}

/// [`DiskUsage`] of these images.
pub fn disk_usage(all: &BTreeMap<String, Image>, store: &Store) -> DiskUsage {
    // Chain ID -> (its layer's size, how many images have it).
    let mut chains: BTreeMap<Digest, (i64, usize)> = BTreeMap::new();
    let mut per_image = Vec::new();
    for (id, img) in all {
        let sizes = img.layer_sizes(store);
        let ids = berth_image::snapshot::chain_ids(&img.info.diff_ids);
        for (c, n) in ids.iter().zip(&sizes) {
            chains.entry(c.clone()).or_insert((*n, 0)).1 += 1;
        }
        per_image.push((id.clone(), ids, sizes));
    }
    let mut out = DiskUsage {
        size: BTreeMap::new(),
        shared: BTreeMap::new(),
        layers: chains.values().map(|(n, _)| n).sum(),
    };
    for (id, ids, sizes) in per_image {
        let shared = ids
            .iter()
            .zip(&sizes)
            .filter(|(c, _)| chains.get(*c).is_some_and(|(_, users)| *users > 1))
            .map(|(_, n)| n)
            .sum();
        out.size.insert(id.clone(), sizes.iter().sum());
        out.shared.insert(id, shared);
    }
    out
}

/// Every image, by ID.
pub fn list(d: &Daemon) -> ApiResult<BTreeMap<String, Image>> {
    let refs = d.images.list_refs().map_err(ApiError::internal)?;
    let mut by_manifest: BTreeMap<Digest, (ImageRecord, Vec<String>)> = BTreeMap::new();
    for (k, r) in refs {
        by_manifest
            .entry(r.digest.clone())
            .or_insert_with(|| (r.clone(), vec![]))
            .1
            .push(k);
    }
    let mut out: BTreeMap<String, Image> = BTreeMap::new();
    for (_, (rec, keys)) in by_manifest {
        let info = match image::resolve(&d.images, &rec) {
            Ok(i) => i,
            Err(e) => {
                crate::log!(2, "skipping unreadable image {}: {e}", rec.digest);
                continue;
            }
        };
        let id = format!("sha256:{}", info.config_digest.hex());
        match out.get_mut(&id) {
            Some(img) => img.keys.extend(keys),
            None => {
                out.insert(id, Image { info, keys });
            }
        }
    }
    Ok(out)
}

/// The meta key of an image's last tag time.
fn tag_time_key(id: &str) -> String {
    format!("image-tagged:{id}")
}

/// Record that a name was just put on the image `id` (`sha256:...`) by a tag, an import, a commit
/// or a build: dockerd's `Metadata.LastTagTime`, which `docker compose images` shows as CREATED
/// and `pull_policy: daily` goes by. A failure to record it is logged, never the request's.
pub fn mark_tagged(d: &Daemon, id: &str) {
    if let Err(e) =
        d.db.meta_set(&tag_time_key(id), &crate::time::now_rfc3339_nano())
    {
        crate::log!(2, "recording the tag time of {id}: {e}");
    }
}

/// When a name was last put on the image `id` (Docker's zero time if never: a pulled or loaded one).
pub fn last_tag_time(d: &Daemon, id: &str) -> String {
    d.db.meta_get(&tag_time_key(id))
        .ok()
        .flatten()
        .unwrap_or_else(|| crate::time::ZERO.to_string())
}

/// The store key of a user-given name, if it parses as a reference (`busybox` -> `docker.io/library/busybox:latest`).
pub fn key_of(name: &str) -> Option<String> {
    image::ref_key(name).ok()
}

/// Find an image by name, ID or ID prefix; 404 `No such image: <name>`.
pub fn find(d: &Daemon, name: &str) -> ApiResult<Image> {
    find_in(&list(d)?, name).ok_or_else(|| not_found(name))
}

/// dockerd's 404 for a missing image: a name as its familiar reference with the tag
/// (`busybox` -> `busybox:latest`), an ID as given.
pub fn not_found(name: &str) -> ApiError {
    let shown = match Reference::parse(name) {
        Ok(r) if !name.starts_with("sha256:") => r.familiar(),
        _ => name.to_string(),
    };
    ApiError::NotFound(format!("No such image: {shown}"))
}

/// [`find`] in a listing already read.
pub fn find_in(all: &BTreeMap<String, Image>, name: &str) -> Option<Image> {
    if let Some(k) = key_of(name) {
        if let Some(img) = all.values().find(|i| i.keys.contains(&k)) {
            return Some(img.clone());
        }
    }
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let m: Vec<&Image> = all
            .values()
            .filter(|i| i.info.config_digest.hex().starts_with(hex))
            .collect();
        if m.len() == 1 {
            return Some(m[0].clone());
        }
    }
    None
}

/// IDs of images that some image names as its parent (a build's intermediate images have children).
pub fn parents(all: &BTreeMap<String, Image>) -> std::collections::BTreeSet<String> {
    all.values()
        .filter_map(|i| i.info.config.parent.clone())
        .collect()
}

/// The build cache: untagged images a build made (they have a parent and the step's
/// `ContainerConfig`), with the size of the layer each added (unpacked).
pub fn build_cache(all: &BTreeMap<String, Image>, store: &Store) -> Vec<(Image, i64)> {
    all.values()
        .filter(|i| i.repo_tags().is_empty() && i.repo_digests().is_empty())
        .filter(|i| i.info.config.parent.is_some() && i.info.config.container_config.is_some())
        .map(|i| {
            let parent_layers = i
                .info
                .config
                .parent
                .as_ref()
                .and_then(|p| all.get(p))
                .map(|p| p.info.layers.len())
                .unwrap_or(0);
            let own: i64 = i.layer_sizes(store).iter().skip(parent_layers).sum();
            (i.clone(), own)
        })
        .collect()
}

/// Images some tagged image or container descends from (the cache entries still in use).
pub fn in_use_ancestors(
    all: &BTreeMap<String, Image>,
    container_images: &[String],
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let starts = all
        .values()
        .filter(|i| !i.repo_tags().is_empty() || !i.repo_digests().is_empty())
        .map(|i| i.id())
        .chain(container_images.iter().cloned());
    for s in starts {
        let mut cur = Some(s);
        while let Some(id) = cur {
            if !out.insert(id.clone()) {
                break;
            }
            cur = all.get(&id).and_then(|i| i.info.config.parent.clone());
        }
    }
    out
}
