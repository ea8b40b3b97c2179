//! Garbage collection: blobs no name reaches and layers no image or container uses are removed; anything
//! reachable from a name, or under a container, is never touched.

use crate::digest::Digest;
use crate::image::{resolve, ImageError};
use crate::layout::blobs_of;
use crate::snapshot::{chain_ids, Snapshotter};
use crate::store::Store;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

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
    collect_with_grace(store, snap, Duration::ZERO)
}

/// Like [`collect`], but blobs written less than `grace` ago are kept: a pull or import still in flight
/// writes its blobs before it names them.
pub fn collect_with_grace(
    store: &Store,
    snap: Option<&dyn Snapshotter>,
    grace: Duration,
) -> Result<GcReport, ImageError> {
    let keep = reachable_blobs(store)?;
    let mut report = GcReport::default();
    if let Some(snap) = snap {
        let mut chains = BTreeSet::new();
        let mut all_resolved = true;
        for rec in store.list_refs()?.values() {
            match resolve(store, rec) {
                Ok(info) => chains.extend(chain_ids(&info.diff_ids)),
                Err(_) => all_resolved = false,
            }
        }
        // If some image cannot be resolved its layers are unknown: remove no layer rather than a used one.
        if !all_resolved {
            return collect_blobs(store, &keep, grace, report);
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
    collect_blobs(store, &keep, grace, report)
}

fn collect_blobs(
    store: &Store,
    keep: &BTreeSet<Digest>,
    grace: Duration,
    mut report: GcReport,
) -> Result<GcReport, ImageError> {
    let now = SystemTime::now();
    for d in store.list_blobs()? {
        let young = std::fs::metadata(store.blob_path(&d))
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default() < grace)
            .unwrap_or(false);
        if !keep.contains(&d) && !young {
            let size = store.blob_size(&d).unwrap_or(0);
            if store.delete_blob(&d)? {
                report.bytes_freed += size;
                report.blobs_removed.push(d);
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_keeps_fresh_unreferenced_blobs() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open(t.path()).unwrap();
        let d = s.write_blob(b"in flight").unwrap();
        let r = collect_with_grace(&s, None, Duration::from_secs(600)).unwrap();
        assert!(r.blobs_removed.is_empty() && s.has_blob(&d));
        let r = collect(&s, None).unwrap();
        assert_eq!(r.blobs_removed, vec![d]);
        assert_eq!(r.bytes_freed, 9);
    }
}
