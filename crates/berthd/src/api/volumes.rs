//! Volume endpoints: create, list, inspect, remove, prune.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::ReqBody;
use crate::http::{self, ok_json, Query, Resp};
use crate::{plugin_volumes, volumes};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateVolume {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// `POST /volumes/create`.
pub async fn create(d: &Daemon, body: ReqBody) -> ApiResult<Resp> {
    let r: CreateVolume = http::body_json(body, http::SMALL_BODY_LIMIT).await?;
    let name = r
        .name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(crate::containers::model::random_hex);
    let v = plugin_volumes::create(
        d,
        &name,
        r.driver.as_deref().unwrap_or(""),
        r.labels.unwrap_or_default(),
        r.driver_opts.unwrap_or_default(),
    )
    .await?;
    let v = plugin_volumes::describe(d, v).await?;
    Ok(http::json_response(StatusCode::CREATED, &v))
}

fn label_match(v: &volumes::Volume, wants: &[String]) -> bool {
    wants.iter().all(|w| match w.split_once('=') {
        Some((k, val)) => v.labels.get(k).map(String::as_str) == Some(val),
        None => v.labels.contains_key(w),
    })
}

/// `GET /volumes?filters=`.
pub async fn list(d: &Daemon, q: &Query) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["name", "dangling", "label", "driver"])?;
    let mut out = Vec::new();
    let mut all = volumes::list(d)?;
    let warnings = plugin_volumes::merge(d, &mut all).await;
    for v in all {
        if !f.get("name").is_empty() && !f.get("name").iter().any(|n| v.name.contains(n.as_str())) {
            continue;
        }
        if let Some(dg) = f.get("dangling").first() {
            let dangling = volumes::users(d, &v.name).is_empty();
            if (dg == "true" || dg == "1") != dangling {
                continue;
            }
        }
        if !label_match(&v, f.get("label")) {
            continue;
        }
        out.push(v);
    }
    let warnings = if warnings.is_empty() {
        json!(null)
    } else {
        json!(warnings)
    };
    ok_json(&json!({"Volumes": out, "Warnings": warnings}))
}

/// `GET /volumes/{name}`.
pub async fn inspect(d: &Daemon, name: &str) -> ApiResult<Resp> {
    ok_json(&plugin_volumes::inspect(d, name).await?)
}

/// `DELETE /volumes/{name}?force=`.
pub async fn delete(d: &Daemon, name: &str, q: &Query) -> ApiResult<Resp> {
    plugin_volumes::remove(d, name, q.bool("force")).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune`: unused anonymous volumes (all unused ones with `all=true`).
pub async fn prune(d: &Daemon, q: &Query) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["label", "all"])?;
    let all = f
        .get("all")
        .first()
        .is_some_and(|v| v == "true" || v == "1");
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for v in volumes::list(d)? {
        let anonymous = v.name.len() == 64 && v.name.bytes().all(|b| b.is_ascii_hexdigit());
        if (!all && !anonymous)
            || !label_match(&v, f.get("label"))
            || !volumes::users(d, &v.name).is_empty()
        {
            continue;
        }
        let dir = std::path::PathBuf::from(&v.mountpoint);
        let size = tokio::task::spawn_blocking(move || super::prune::disk_usage(&dir))
            .await
            .unwrap_or(0);
        match plugin_volumes::remove(d, &v.name, false).await {
            Ok(()) => {
                deleted.push(v.name);
                reclaimed += size;
            }
            Err(ApiError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    ok_json(&json!({
        "VolumesDeleted": if deleted.is_empty() { json!(null) } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    }))
}
