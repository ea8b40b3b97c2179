//! OCI image layout import and export (directory or tar): `oci-layout`, `index.json`, `blobs/sha256/`.

use crate::digest::Digest;
use crate::image::{lookup, ref_key, ImageError};
use crate::media::{self, Parsed, ANNOTATION_REF_NAME};
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};
use crate::transfer::{Sink, Source, TransferError};
use oci_spec::image::{Descriptor, ImageIndex};
use std::collections::{BTreeSet, HashMap};

/// Annotation with the full image name (as containerd writes it).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// Errors from OCI layout handling.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// Image-level failure.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Archive-level failure.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// Writing failed.
    #[error("writing OCI layout: {0}")]
    Write(#[from] std::io::Error),
    /// The layout is malformed.
    #[error("malformed OCI layout: {0}")]
    Malformed(String),
}

/// Every blob a manifest or index needs (itself first), following only children that are in the store.
pub fn blobs_of(
    store: &Store,
    digest: &Digest,
    media_type: &str,
) -> Result<Vec<(Digest, String, u64)>, ImageError> {
    let bytes = store.read_blob(digest)?;
    let mut out = vec![(digest.clone(), media_type.to_string(), bytes.len() as u64)];
    match media::parse(&bytes, media_type)? {
        Parsed::Manifest(m) => {
            for d in std::iter::once(m.config()).chain(m.layers().iter()) {
                out.push((media::desc_digest(d)?, d.media_type().to_string(), d.size()));
            }
        }
        Parsed::Index(idx) => {
            for d in idx.manifests() {
                let dd = media::desc_digest(d)?;
                if store.has_blob(&dd) {
                    out.extend(blobs_of(store, &dd, d.media_type().as_ref())?);
                }
            }
        }
    }
    Ok(out)
}

/// Export images by name into an OCI layout written to `sink`. Each name's tag becomes its
/// `org.opencontainers.image.ref.name`; the full name is kept in `io.containerd.image.name`.
pub fn export_oci_layout(
    store: &Store,
    names: &[&str],
    sink: &mut dyn Sink,
) -> Result<(), LayoutError> {
    sink.put_bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut written = BTreeSet::new();
    let mut manifests = Vec::new();
    for name in names {
        let rec = lookup(store, name)?;
        for (d, _, size) in blobs_of(store, &rec.digest, &rec.media_type)? {
            if written.insert(d.clone()) {
                let mut f = store.open_blob(&d).map_err(ImageError::from)?;
                sink.put(&format!("blobs/sha256/{}", d.hex()), size, &mut f)?;
            }
        }
        let mut desc = media::descriptor(&rec.media_type, &rec.digest, rec.size);
        let mut ann = HashMap::new();
        if let Ok(r) = Reference::parse(name) {
            ann.insert(ANNOTATION_IMAGE_NAME.to_string(), r.to_string());
            if let Some(t) = r.tag() {
                ann.insert(ANNOTATION_REF_NAME.to_string(), t.to_string());
            }
        }
        if !ann.is_empty() {
            desc.set_annotations(Some(ann));
        }
        manifests.push(desc);
    }
    let mut idx = ImageIndex::default();
    idx.set_schema_version(2);
    idx.set_media_type(Some(oci_spec::image::MediaType::ImageIndex));
    idx.set_manifests(manifests);
    sink.put_bytes(
        "index.json",
        &serde_json::to_vec(&idx).map_err(|e| LayoutError::Malformed(e.to_string()))?,
    )?;
    sink.finish()?;
    Ok(())
}

fn name_for(desc: &Descriptor, repo: Option<&Reference>) -> Option<String> {
    let ann = desc.annotations().as_ref();
    if let Some(n) = ann.and_then(|a| a.get(ANNOTATION_IMAGE_NAME)) {
        if let Ok(r) = Reference::parse(n) {
            return Some(r.to_string());
        }
    }
    let rn = ann.and_then(|a| a.get(ANNOTATION_REF_NAME))?;
    if rn.contains('/') || rn.contains(':') {
        return Reference::parse(rn).ok().map(|r| r.to_string());
    }
    repo.and_then(|r| r.with_tag(rn).ok())
        .map(|r| r.to_string())
}

fn ingest_tree(
    store: &Store,
    src: &Source,
    digest: &Digest,
    media_type: &str,
) -> Result<(), LayoutError> {
    let path = format!("blobs/sha256/{}", digest.hex());
    src.ingest(store, &path, Some(digest))?;
    let bytes = store.read_blob(digest).map_err(ImageError::from)?;
    match media::parse(&bytes, media_type).map_err(ImageError::from)? {
        Parsed::Manifest(m) => {
            for (i, d) in std::iter::once(m.config())
                .chain(m.layers().iter())
                .enumerate()
            {
                let dd = media::desc_digest(d).map_err(ImageError::from)?;
                src.ingest(store, &format!("blobs/sha256/{}", dd.hex()), Some(&dd))?;
                // A layer's size unpacked, as Docker shows image sizes (one that cannot be
                // measured now is measured when first asked for).
                if i > 0 {
                    let _ = store.measure_layer(&dd);
                }
            }
        }
        Parsed::Index(idx) => {
            for d in idx.manifests() {
                let dd = media::desc_digest(d).map_err(ImageError::from)?;
                ingest_tree(store, src, &dd, d.media_type().as_ref())?;
            }
        }
    }
    Ok(())
}

/// Import every image of an OCI layout. Names come from `io.containerd.image.name`, or a full reference in
/// `org.opencontainers.image.ref.name`, or `repo` with that tag; unnamed images are kept under their digest.
/// Returns the store keys set.
pub fn import_oci_layout(
    store: &Store,
    src: &Source,
    repo: Option<&Reference>,
) -> Result<Vec<(String, ImageRecord)>, LayoutError> {
    let idx_bytes = src.read(store, "index.json")?;
    let idx: ImageIndex = serde_json::from_slice(&idx_bytes)
        .map_err(|e| LayoutError::Malformed(format!("index.json: {e}")))?;
    let mut out = Vec::new();
    for desc in idx.manifests() {
        let d = media::desc_digest(desc).map_err(ImageError::from)?;
        let mt = desc.media_type().to_string();
        ingest_tree(store, src, &d, &mt)?;
        let rec = ImageRecord {
            digest: d.clone(),
            media_type: mt,
            size: desc.size(),
        };
        let key = match name_for(desc, repo) {
            Some(n) => n,
            None => ref_key(d.as_str())?,
        };
        store.set_ref(&key, rec.clone()).map_err(ImageError::from)?;
        out.push((key, rec));
    }
    Ok(out)
}
