//! Volumes of legacy volume plugins (`docker volume create -d NAME`), and the dispatch between them
//! and the `local` driver of `volumes.rs`. berthd keeps the record (name, driver, labels, options,
//! scope) in its volume table as dockerd does; the plugin keeps the data. A container's start asks the
//! plugin to `Mount` each of its plugin volumes with the container's id, and its exit to `Unmount`;
//! every mount is recorded in the `volume_mounts` table until its `Unmount` succeeded, so a berthd
//! restart with the container still running neither mounts again nor forgets to unmount later, and
//! an `Unmount` that failed (plugin down) is tried again on the next exit handling or removal.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::volumes::{self, Volume};
use berth_plugin::volume::{PluginVolume, VolumeDriver};
use berth_plugin::PluginError;
use serde_json::Value;
use std::collections::BTreeMap;

/// Whether `driver` names the built-in driver.
pub fn is_local(driver: &str) -> bool {
    driver.is_empty() || driver == "local"
}

async fn driver(d: &Daemon, name: &str) -> ApiResult<VolumeDriver> {
    let p = d
        .plugins
        .get(name, berth_plugin::VOLUME)
        .await
        .map_err(|e| ApiError::plugin(&format!("error looking up volume plugin {name}"), e))?;
    Ok(VolumeDriver::of(&p))
}

fn record(d: &Daemon, name: &str) -> ApiResult<Option<Volume>> {
    d.db.volume_get(name).map_err(ApiError::internal)
}

fn attrs(driver: &str) -> BTreeMap<String, String> {
    [("driver".to_string(), driver.to_string())].into()
}

/// Create a volume of any driver (an existing one is returned as it is, after the plugin confirmed
/// it still has it). A plugin that already has a volume of that name gets no `Create` (dockerd asks
/// `Get` first); labels stay with berthd, only the options go to the plugin.
pub async fn create(
    d: &Daemon,
    name: &str,
    driver_name: &str,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
) -> ApiResult<Volume> {
    if let Some(v) = record(d, name)? {
        let same = is_local(driver_name) && is_local(&v.driver) || v.driver == driver_name;
        if !driver_name.is_empty() && !same {
            return Err(ApiError::Conflict(format!(
                "create {name}: a volume with this name already exists with driver \"{}\"",
                v.driver
            )));
        }
        if !is_local(&v.driver) {
            driver(d, &v.driver)
                .await?
                .get(name)
                .await
                .map_err(|e| ApiError::plugin(&format!("get {name}"), e))?;
        }
        return Ok(v);
    }
    if is_local(driver_name) {
        return volumes::create(d, name, driver_name, labels, options);
    }
    volumes::validate_name(name)?;
    let vd = driver(d, driver_name).await?;
    // A managed plugin's volumes name it in full (`vp:latest`), as dockerd records them.
    let full;
    let driver_name = if d.plugins.managed_state(driver_name).is_some() {
        full = berth_plugin::managed::normalize(driver_name);
        full.as_str()
    } else {
        driver_name
    };
    let fail = |e| ApiError::plugin(&format!("create {name}"), e);
    let scope = vd.capabilities().await.map_err(fail)?;
    match vd.get(name).await {
        Ok(_) => {}
        Err(PluginError::Remote { .. }) => vd.create(name, &options).await.map_err(fail)?,
        Err(e) => return Err(fail(e)),
    }
    let v = Volume {
        name: name.to_string(),
        driver: driver_name.to_string(),
        mountpoint: String::new(),
        created_at: crate::time::now_rfc3339_nano(),
        labels,
        options,
        scope: scope.as_str().to_string(),
    };
    d.db.volume_put(&v.name, &v).map_err(ApiError::internal)?;
    d.events
        .emit("volume", "create", &v.name, attrs(driver_name));
    Ok(v)
}

/// A volume as `docker volume inspect` shows it: a plugin volume with the plugin's `Mountpoint` and
/// `Status` (asked with `Get`).
pub async fn describe(d: &Daemon, v: Volume) -> ApiResult<Value> {
    if is_local(&v.driver) {
        return serde_json::to_value(&v).map_err(ApiError::internal);
    }
    let pv = driver(d, &v.driver)
        .await?
        .get(&v.name)
        .await
        .map_err(|e| ApiError::plugin(&format!("get {}", v.name), e))?;
    Ok(with_plugin_view(v, &pv))
}

fn with_plugin_view(mut v: Volume, pv: &PluginVolume) -> Value {
    if !pv.mountpoint.is_empty() {
        v.mountpoint = pv.mountpoint.clone();
    }
    if v.created_at.is_empty() {
        v.created_at = pv.created_at.clone();
    }
    let mut out = serde_json::to_value(&v).unwrap_or(Value::Null);
    if let Some(s) = &pv.status {
        out["Status"] = serde_json::json!(s);
    }
    out
}

/// `GET /volumes/{name}`: a recorded volume, else one a plugin has that berthd holds no record of.
pub async fn inspect(d: &Daemon, name: &str) -> ApiResult<Value> {
    if let Some(v) = record(d, name)? {
        return describe(d, v).await;
    }
    match find_unrecorded(d, name).await {
        Some((vd, pv, scope)) => Ok(with_plugin_view(unrecorded(&vd, &pv, scope), &pv)),
        None => volumes::get(d, name).map(|v| serde_json::to_value(v).unwrap_or(Value::Null)),
    }
}

fn unrecorded(vd: &VolumeDriver, pv: &PluginVolume, scope: berth_plugin::volume::Scope) -> Volume {
    Volume {
        name: pv.name.clone(),
        driver: vd.name().to_string(),
        mountpoint: pv.mountpoint.clone(),
        created_at: pv.created_at.clone(),
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
        scope: scope.as_str().to_string(),
    }
}

/// A volume no record names, looked for in every volume plugin.
async fn find_unrecorded(
    d: &Daemon,
    name: &str,
) -> Option<(VolumeDriver, PluginVolume, berth_plugin::volume::Scope)> {
    let (plugins, _) = d.plugins.all(berth_plugin::VOLUME).await;
    for p in plugins {
        let vd = VolumeDriver::of(&p);
        if let Ok(pv) = vd.get(name).await {
            let scope = vd
                .capabilities()
                .await
                .unwrap_or(berth_plugin::volume::Scope::Local);
            return Some((vd, pv, scope));
        }
    }
    None
}

/// Merge the plugins' volumes into `vols` (the records): recorded plugin volumes get the plugin's
/// mount point, volumes only a plugin knows are added. Plugins that cannot be asked become
/// warnings (the records are still listed, as dockerd does).
pub async fn merge(d: &Daemon, vols: &mut Vec<Volume>) -> Vec<String> {
    let (plugins, errs) = d.plugins.all(berth_plugin::VOLUME).await;
    let mut warnings: Vec<String> = errs.into_iter().map(|e| e.to_string()).collect();
    for p in plugins {
        let vd = VolumeDriver::of(&p);
        let listed = match vd.list().await {
            Ok(l) => l,
            Err(e) => {
                warnings.push(e.to_string());
                continue;
            }
        };
        let mut scope = None;
        for pv in listed {
            if let Some(v) = vols.iter_mut().find(|v| v.name == pv.name) {
                if v.driver == vd.name() && !pv.mountpoint.is_empty() {
                    v.mountpoint = pv.mountpoint.clone();
                }
                continue;
            }
            if scope.is_none() {
                scope = Some(
                    vd.capabilities()
                        .await
                        .unwrap_or(berth_plugin::volume::Scope::Local),
                );
            }
            vols.push(unrecorded(
                &vd,
                &pv,
                scope.unwrap_or(berth_plugin::volume::Scope::Local),
            ));
        }
    }
    // Records whose plugin is not in the directories any more.
    let mut missing: Vec<&str> = vols
        .iter()
        .filter(|v| {
            !is_local(&v.driver)
                && d.plugins
                    .active(berth_plugin::VOLUME)
                    .iter()
                    .all(|a| a != &v.driver)
        })
        .map(|v| v.driver.as_str())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    for m in missing {
        let w = format!("volume plugin {m} is not available: its volumes are listed as recorded");
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    vols.sort_by(|a, b| a.name.cmp(&b.name));
    warnings
}

/// Remove a volume of any driver: 409 while a container uses it; a plugin volume goes only once the
/// plugin removed it (its record stays otherwise), unless `force` and the plugin is gone.
pub async fn remove(d: &Daemon, name: &str, force: bool) -> ApiResult<()> {
    let v = match record(d, name)? {
        Some(v) => v,
        None => {
            let Some((vd, _, _)) = find_unrecorded(d, name).await else {
                return volumes::remove(d, name, force);
            };
            vd.remove(name)
                .await
                .map_err(|e| ApiError::plugin(&format!("remove {name}"), e))?;
            d.events.emit("volume", "destroy", name, attrs(vd.name()));
            return Ok(());
        }
    };
    if is_local(&v.driver) {
        return volumes::remove(d, name, force);
    }
    let mut used = volumes::users(d, name);
    for c in d.db.mounts_of_volume(name).map_err(ApiError::internal)? {
        if !used.contains(&c) {
            used.push(c);
        }
    }
    if !used.is_empty() {
        return Err(ApiError::Conflict(format!(
            "remove {name}: volume is in use - [{}]",
            used.join(", ")
        )));
    }
    let removed = match driver(d, &v.driver).await {
        Ok(vd) => {
            // dockerd asks Get before Remove; a plugin that lost the volume still gets the Remove.
            match vd.get(name).await {
                Err(e @ (PluginError::Unavailable { .. } | PluginError::Protocol { .. })) => {
                    Err(ApiError::plugin(&format!("remove {name}"), e))
                }
                _ => vd
                    .remove(name)
                    .await
                    .map_err(|e| ApiError::plugin(&format!("remove {name}"), e)),
            }
        }
        Err(e) => Err(e),
    };
    if let Err(e) = removed {
        if !force {
            return Err(e);
        }
        crate::log!(
            2,
            "volume {name}: forgetting it although its plugin failed: {e}"
        );
    }
    d.db.volume_delete(name).map_err(ApiError::internal)?;
    d.events.emit("volume", "destroy", name, attrs(&v.driver));
    Ok(())
}

/// Before a container starts: `Mount` each of its plugin volumes with the container's id (once per
/// volume, however many destinations it has), record the mount, and point the binds at the plugin's
/// mount points. On failure the mounts made here are undone.
pub async fn mount_for(d: &Daemon, c: &mut crate::containers::model::Container) -> ApiResult<()> {
    let held = d.db.mounts_of(&c.id).map_err(ApiError::internal)?;
    let mut made: Vec<String> = Vec::new();
    let mut result = Ok(());
    for i in 0..c.spec.binds.len() {
        let Some(name) = c.spec.binds[i].volume.clone() else {
            continue;
        };
        let v = match record(d, &name) {
            Ok(Some(v)) if !is_local(&v.driver) => v,
            Ok(_) => continue,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        if let Some((_, _, mp)) = held.iter().find(|(vol, _, _)| vol == &name) {
            c.spec.binds[i].source = mp.clone();
            continue;
        }
        if let Some(j) = (0..i).find(|&j| c.spec.binds[j].volume.as_deref() == Some(&name)) {
            c.spec.binds[i].source = c.spec.binds[j].source.clone();
            continue;
        }
        let mounted = match driver(d, &v.driver).await {
            Ok(vd) => vd
                .mount(&name, &c.id)
                .await
                .map_err(|e| ApiError::plugin(&format!("error while mounting volume '{name}'"), e)),
            Err(e) => Err(e),
        };
        match mounted {
            Ok(mp) => {
                // Recorded before anything else can fail, so the Unmount is never forgotten.
                if let Err(e) = d.db.mount_put(&name, &c.id, &v.driver, &mp) {
                    crate::log!(3, "recording the mount of volume {name} for {}: {e}", c.id);
                }
                made.push(name.clone());
                c.spec.binds[i].source = mp;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if result.is_err() && !made.is_empty() {
        release(d, &c.id).await;
    }
    result
}

/// After a container's exit (or a failed start, or its removal): `Unmount` every plugin mount it
/// holds. A failure is logged and the mount stays recorded, to be tried again next time.
pub async fn release(d: &Daemon, container: &str) {
    let held = match d.db.mounts_of(container) {
        Ok(h) => h,
        Err(e) => {
            crate::log!(3, "reading the plugin mounts of {container}: {e}");
            return;
        }
    };
    for (vol, drv, _) in held {
        let res = match driver(d, &drv).await {
            Ok(vd) => vd
                .unmount(&vol, container)
                .await
                .map_err(|e| ApiError::plugin(&format!("unmounting volume {vol}"), e)),
            Err(e) => Err(e),
        };
        match res {
            Ok(()) => {
                if let Err(e) = d.db.mount_delete(&vol, container) {
                    crate::log!(
                        3,
                        "forgetting the mount of volume {vol} for {container}: {e}"
                    );
                }
            }
            Err(e) => crate::log!(3, "container {container}: {e} (kept, tried again later)"),
        }
    }
}
