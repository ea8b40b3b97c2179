//! Garbage collection: blobs no name reaches and layers no image or container uses are removed; anything
//! reachable from a name, or under a container, is never touched.

use crate::digest::Digest;
use crate::image::{resolve, ImageError};
use crate::layout::blobs_of;
use crate::snapshot::{chain_ids, Snapshotter};
use crate::store::Store;
use std::collections::BTreeSet;

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs_removed: Vec<Digest>,
    /// Bytes freed in the blob store.
    pub bytes_freed: u64,
    /// Layers (chain IDs) removed from the snapshotter.
    pub layers_removed: Vec<Digest>,
}

/// Blobs reachable from any name.
pub fn reachable_blobs(store: &Store) -> Result<BTreeSet<Digest>, ImageError> {
    let mut keep = BTreeSet::new();
    for rec in store.list_refs()?.values() {
        if !store.has_blob(&rec.digest) {
            continue;
        }
        for (d, _, _) in blobs_of(store, &rec.digest, &rec.media_type)? {
            keep.insert(d);
        }
    }
    Ok(keep)
}

/// Collect garbage in the store and, if given, the snapshotter.
pub fn collect(store: &Store, snap: Option<&dyn Snapshotter>) -> Result<GcReport, ImageError> {
    let keep = reachable_blobs(store)?;
    let mut report = GcReport::default();
    if let Some(snap) = snap {
        let mut chains = BTreeSet::new();
        for rec in store.list_refs()?.values() {
            if let Ok(info) = resolve(store, rec) {
                chains.extend(chain_ids(&info.diff_ids));
            }
        }
        // Remove unused leaves repeatedly; a parent becomes a leaf once its last child goes.
        loop {
            let mut removed_any = false;
            for l in snap.layers()? {
                if l.refcount == 0
                    && !chains.contains(&l.chain_id)
                    && snap.remove_layer(&l.chain_id).is_ok()
                {
                    report.layers_removed.push(l.chain_id);
                    removed_any = true;
                }
            }
            if !removed_any {
                break;
            }
        }
    }
    for d in store.list_blobs()? {
        if !keep.contains(&d) {
            let size = store.blob_size(&d).unwrap_or(0);
            if store.delete_blob(&d)? {
                report.bytes_freed += size;
                report.blobs_removed.push(d);
            }
        }
    }
    Ok(report)
}
