//! Volume endpoints: create, list, inspect, remove, prune, update (refused: cluster volumes only).

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

/// Every `key` or `key=value` of `wants` matches a label (dockerd's `MatchKVList`).
fn label_match(v: &volumes::Volume, wants: &[String]) -> bool {
    wants.iter().all(|w| match w.split_once('=') {
        Some((k, val)) => v.labels.get(k).map(String::as_str) == Some(val),
        None => v.labels.contains_key(w),
    })
}

/// `label` all match, and `label!` not all (dockerd's volume label filter).
fn labels_pass(v: &volumes::Volume, f: &http::Filters) -> bool {
    let not = f.get("label!");
    label_match(v, f.get("label")) && (not.is_empty() || !label_match(v, not))
}

/// A boolean filter as dockerd reads it (`GetBoolOrDefault`): one of 1/true or 0/false.
fn bool_filter(f: &http::Filters, key: &str) -> ApiResult<Option<bool>> {
    let vals = f.get(key);
    if vals.is_empty() {
        return Ok(None);
    }
    let t = vals.iter().any(|v| v == "1" || v == "true");
    let fa = vals.iter().any(|v| v == "0" || v == "false");
    if t == fa {
        return Err(ApiError::BadRequest(format!(
            "invalid filter '{key}=[{}]'",
            vals.join(" ")
        )));
    }
    Ok(Some(t))
}

/// `GET /volumes?filters=`: `name` (substring), `driver`, `label`, `dangling`.
pub async fn list(d: &Daemon, q: &Query) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["name", "dangling", "label", "driver"])?;
    let dangling = bool_filter(&f, "dangling")?;
    let mut out = Vec::new();
    let mut all = volumes::list(d)?;
    let warnings = plugin_volumes::merge(d, &mut all).await;
    for v in all {
        if !f.get("name").is_empty() && !f.get("name").iter().any(|n| v.name.contains(n.as_str())) {
            continue;
        }
        if !f.get("driver").is_empty() && !f.get("driver").contains(&v.driver) {
            continue;
        }
        if dangling.is_some_and(|dg| dg != volumes::users(d, &v.name).is_empty()) {
            continue;
        }
        if !labels_pass(&v, &f) {
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

/// `PUT /volumes/{name}`: only cluster (swarm) volumes can be updated, and berthd has no swarm.
pub async fn update(_d: &Daemon, _name: &str) -> ApiResult<Resp> {
    Err(ApiError::Unavailable(
        "volume update only valid for cluster volumes, but swarm is unavailable".into(),
    ))
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

/// `POST /volumes/prune`: unused local volumes without driver options (a mount of a device or
/// a host directory holds nothing to reclaim), anonymous ones only unless `all=true`; clients
/// older than API 1.42 get all, as they did then. `label`/`label!` filters narrow it down.
pub async fn prune(d: &Daemon, q: &Query, api: (u32, u32)) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["label", "label!", "all"])?;
    let all = match f.get("all") {
        [] => api < (1, 42),
        [one] => parse_go_bool(one).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid filter 'all': strconv.ParseBool: parsing {one:?}: invalid syntax"
            ))
        })?,
        many => {
            return Err(ApiError::BadRequest(format!(
                "invalid filter 'all=[{}]': only one value is expected",
                many.join(" ")
            )))
        }
    };
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for v in volumes::list(d)? {
        if v.driver != "local"
            || !v.options.is_empty()
            || (!all && !volumes::is_anonymous(&v))
            || !labels_pass(&v, &f)
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
    d.events.emit(
        "volume",
        "prune",
        "",
        [("reclaimed".to_string(), reclaimed.to_string())].into(),
    );
    ok_json(&json!({
        "VolumesDeleted": if deleted.is_empty() { json!(null) } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    }))
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
