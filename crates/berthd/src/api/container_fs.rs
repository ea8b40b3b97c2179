//! A container's file system: `export` (its root as a tar), `changes` (`docker diff`, from the
//! snapshot's upper dir) and `commit` (the upper dir as a new layer on the container's image).

use crate::containers::model::{Container, Status};
use crate::containers::shim::Paths;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::ReqBody;
use crate::http::{self, Query, Resp};
use berth_image::snapshot::{chain_ids, OverlaySnapshotter};
use berth_image::Digest;
use hyper::Request;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `GET /containers/{id}/export`: the merged root file system, streamed as a tar.
pub async fn export(d: &Arc<Daemon>, key: &str) -> ApiResult<Resp> {
    let lock = d.containers.op_lock(key)?;
    let c = d.containers.get(key)?;
    let p = Paths::new(d, &c.id, &c.runtime);
    let (tx, resp) = http::streamed(StatusCode::OK, "application/x-tar");
    d.events.container(&c, "export", &[]);
    let d2 = d.clone();
    tokio::spawn(async move {
        // Hold the operation lock while the root is mounted for us (no start/remove meanwhile).
        let _g = lock.lock_owned().await;
        let running = d2
            .containers
            .get(&c.id)
            .map(|c| c.state.status == Status::Running)
            .unwrap_or(false);
        let _ = tokio::task::spawn_blocking(move || {
            if !running {
                let _ = OverlaySnapshotter::unmount(&p.rootfs);
                if let Err(e) = d2.snap.mount(&c.id, &p.rootfs) {
                    crate::log!(3, "export {}: {e}", c.id);
                    return;
                }
            }
            let owners = crate::containers::spec::owners(&p.rootfs);
            if let Err(e) =
                berth_image::image::export_fs(&p.rootfs, http::ChannelWriter(tx), &owners)
            {
                crate::log!(2, "export {}: {e}", c.id);
            }
            if !running {
                let _ = OverlaySnapshotter::unmount(&p.rootfs);
            }
        })
        .await;
    });
    Ok(resp)
}

fn image_layers(d: &Daemon, c: &Container) -> Vec<PathBuf> {
    crate::images::find(d, &c.image_id)
        .map(|img| {
            chain_ids(&img.info.diff_ids)
                .iter()
                .map(|ch| d.snap.layer_diff_dir(ch))
                .collect()
        })
        .unwrap_or_default()
}

/// Walk the upper dir: (path, kind) with Docker's kinds 0 modified, 1 added, 2 deleted.
fn changes_of(upper: &Path, lowers: &[PathBuf]) -> Vec<(String, u8)> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(upper.join(&rel)) else {
            continue;
        };
        for e in rd.flatten() {
            let r = rel.join(e.file_name());
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            let shown = format!("/{}", r.display());
            let in_lower = lowers.iter().any(|l| l.join(&r).symlink_metadata().is_ok());
            if md.file_type().is_char_device() && md.rdev() == 0 {
                out.push((shown, 2));
                continue;
            }
            out.push((shown, if in_lower { 0 } else { 1 }));
            if md.is_dir() {
                stack.push(r);
            }
        }
    }
    out.sort();
    // Mount points and files the engine creates (Docker's "init layer") are not the container's changes;
    // a directory only "modified" by them is not either.
    const INIT: &[&str] = &[
        "/dev",
        "/proc",
        "/sys",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/.dockerenv",
    ];
    out.retain(|(p, k)| {
        !(*k == 1
            && INIT
                .iter()
                .any(|i| p == i || p.starts_with(&format!("{i}/"))))
    });
    let kept: Vec<String> = out.iter().map(|(p, _)| p.clone()).collect();
    out.retain(|(p, k)| {
        *k != 0
            || !upper.join(p.trim_start_matches('/')).is_dir()
            || kept.iter().any(|q| q.starts_with(&format!("{p}/")))
    });
    out
}

/// `GET /containers/{id}/changes`.
pub async fn changes(d: &Arc<Daemon>, key: &str) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    let upper = d.snap.upper_dir(&c.id).map_err(ApiError::internal)?;
    let lowers = image_layers(d, &c);
    let list = tokio::task::spawn_blocking(move || changes_of(&upper, &lowers))
        .await
        .map_err(ApiError::internal)?;
    let v: Vec<_> = list
        .into_iter()
        .map(|(p, k)| json!({"Path": p, "Kind": k}))
        .collect();
    http::ok_json(&if v.is_empty() { json!(null) } else { json!(v) })
}

/// The new image's runtime config, as Docker makes it: the request body's config (if any) over the
/// container's config; `changes` are applied after. Fields an image config does not carry are dropped.
fn commit_config(
    container: &Value,
    body: &Value,
) -> ApiResult<berth_image::config::ContainerConfig> {
    let mut merged = container.clone();
    if let (Some(m), Some(b)) = (merged.as_object_mut(), body.as_object()) {
        for (k, v) in b {
            let empty = v.is_null()
                || v.as_str() == Some("")
                || v.as_array().is_some_and(|a| a.is_empty())
                || v.as_object().is_some_and(|o| o.is_empty());
            if !empty {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(merged)
        .map_err(|e| ApiError::BadRequest(format!("invalid commit config: {e}")))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=` (body: a container config
/// to commit with): 201 `{"Id": "sha256:..."}`. A running container is paused meanwhile unless
/// `pause=0`.
pub async fn commit(d: &Arc<Daemon>, q: &Query, req: Request<ReqBody>) -> ApiResult<Resp> {
    let key = q.get("container").unwrap_or("");
    let c = d.containers.get(key)?;
    let raw = http::body_bytes(req.into_body(), http::CONFIG_BODY_LIMIT).await?;
    let body: Value = if raw.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&raw)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    let base = crate::images::find(d, &c.image_id)?;
    let name = match (q.get("repo").unwrap_or(""), q.get("tag").unwrap_or("")) {
        ("", _) => None,
        (r, "") => Some(r.to_string()),
        (r, t) => Some(format!("{r}:{t}")),
    };
    // Without a name the image is kept under a temporary one, dropped below: its store key is the
    // normalized reference, as the commit writes it.
    let key_name = match &name {
        Some(n) => crate::images::key_of(n)
            .ok_or_else(|| ApiError::BadRequest(format!("invalid reference format: {n}")))?,
        None => crate::images::key_of(&format!(
            "berth-commit-{}:tmp",
            &crate::containers::model::random_hex()[..16]
        ))
        .ok_or_else(|| ApiError::internal("temporary commit name"))?,
    };
    let non_empty = |k: &str| q.get(k).filter(|v| !v.is_empty()).map(str::to_string);
    let meta = berth_image::image::CommitMeta {
        config: Some(commit_config(&c.config, &body)?),
        changes: q.all("changes"),
        author: non_empty("author"),
        comment: non_empty("comment"),
        container: Some(c.id.clone()),
        container_config: Some(c.config.clone()),
        parent: Some(c.image_id.clone()),
    };
    // Docker's default: pause a running container so the layer is consistent.
    let pause = !matches!(q.get("pause"), Some("0" | "false" | "False"));
    let paused_here = pause
        && c.state.status == Status::Running
        && !c.state.paused
        && crate::containers::lifecycle::pause(d, &c.id, true)
            .await
            .is_ok();
    let _g = d.image_lock.lock().await;
    // An image the new one takes the name from stays, untagged (dockerd's dangling image).
    let before = crate::images::list(d);
    let (d2, id, k2) = (d.clone(), c.id.clone(), key_name.clone());
    let res = tokio::task::spawn_blocking(move || -> Result<_, berth_image::image::ImageError> {
        let rec = berth_image::image::commit(&d2.images, &d2.snap, &id, &base.info, &k2, &meta)?;
        let info = berth_image::image::resolve(&d2.images, &rec)?;
        Ok((rec, info.config_digest))
    })
    .await;
    if paused_here {
        if let Err(e) = crate::containers::lifecycle::pause(d, &c.id, false).await {
            crate::log!(2, "commit: unpausing {}: {e}", c.id);
        }
    }
    let (rec, cdigest) = res
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::BadRequest(format!("commit: {e}")))?;
    if name.is_none() {
        d.images
            .set_ref(rec.digest.as_str(), rec.clone())
            .map_err(ApiError::internal)?;
        d.images.remove_ref(&key_name).map_err(ApiError::internal)?;
    } else {
        crate::images::mark_tagged(d, &format!("sha256:{}", cdigest.hex()));
    }
    if let Ok(before) = &before {
        super::images::keep_replaced_as_dangling(d, before)?;
    }
    let id: Digest = cdigest;
    d.events.container(
        &c,
        "commit",
        &[
            ("comment", q.get("comment").unwrap_or("").to_string()),
            ("imageID", format!("sha256:{}", id.hex())),
            ("imageRef", name.clone().unwrap_or_default()),
        ],
    );
    Ok(http::json_response(
        StatusCode::CREATED,
        &json!({"Id": format!("sha256:{}", id.hex())}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_from_an_upper_dir() {
        let t = tempfile::tempdir().unwrap();
        let (upper, lower) = (t.path().join("u"), t.path().join("l"));
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/passwd"), "x").unwrap();
        std::fs::write(upper.join("etc/passwd"), "y").unwrap();
        std::fs::write(upper.join("new"), "n").unwrap();
        let got = changes_of(&upper, &[lower]);
        assert_eq!(
            got,
            vec![
                ("/etc".into(), 0),
                ("/etc/passwd".into(), 0),
                ("/new".into(), 1)
            ]
        );
    }
}
