//! Managed plugins in berthd: berth-plugin's [`Manager`] (store and lifecycle) with the
//! [`runner::ShimRunner`] (plugins as containers of Berth's runtime) and [`dist`] (content from
//! `docker plugin create`'s tar and registries). `api/plugins.rs` only translates HTTP.

pub mod dist;
pub mod runner;

use crate::daemon::Daemon;
use berth_plugin::managed::{Manager, Stored};
use std::sync::Arc;

/// The managed plugins of the daemon and their content store.
pub struct Managed {
    /// Records and lifecycle.
    pub manager: Manager,
    /// Layers, configs and manifests (`<data-root>/plugins/store`).
    pub store: berth_image::Store,
}

/// Open `<data-root>/plugins` (plugins run from `<exec-root>/plugins`).
pub fn open(
    cfg: &crate::daemon::Config,
    runtime: std::path::PathBuf,
    plugins: Arc<berth_plugin::Plugins>,
) -> anyhow::Result<Managed> {
    let root = cfg.data_root.join("plugins");
    let run_root = cfg.exec_root.join("plugins");
    let store = berth_image::Store::open(root.join("store"))?;
    store.set_max_uncompressed(cfg.max_uncompressed);
    let runner = runner::ShimRunner {
        shim: cfg.shim.clone(),
        runtime,
        plugins_root: root.clone(),
        run_root: run_root.clone(),
    };
    let manager = Manager::open(&root, &run_root.join("sock"), Box::new(runner), plugins)?;
    Ok(Managed { manager, store })
}

/// Volumes of plugin `name` that containers use (refuse `disable` while there are any).
pub fn users(d: &Daemon, name: &str) -> Vec<String> {
    let full = berth_plugin::managed::normalize(name);
    let vols: Vec<crate::volumes::Volume> = d.db.volume_list().unwrap_or_default();
    let mut out = Vec::new();
    for v in vols {
        if v.driver != full && berth_plugin::managed::normalize(&v.driver) != full {
            continue;
        }
        let mut by = crate::volumes::users(d, &v.name);
        for c in d.db.mounts_of_volume(&v.name).unwrap_or_default() {
            if !by.contains(&c) {
                by.push(c);
            }
        }
        if !by.is_empty() {
            out.push(format!("volume {} ({})", v.name, by.join(", ")));
        }
    }
    out
}

/// Drop the blobs of a removed or upgraded plugin that no plugin uses any more.
pub fn drop_blobs(m: &Managed, old: &Stored) {
    for d in [&old.config_digest, &old.layer_digest] {
        if d.is_empty() || m.manager.blob_in_use(d) {
            continue;
        }
        if let Ok(d) = berth_image::Digest::parse(d) {
            let _ = m.store.delete_blob(&d);
        }
    }
}
