//! `/plugins`: managed plugins (`docker plugin ...`). Only translation: the lifecycle is
//! berth-plugin's `managed::Manager`, content is `crate::plugins::dist`; errors map in `error.rs`.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Query, ReqBody, Resp};
use crate::plugins::dist::{self, Content, DistError};
use berth_image::registry::Progress;
use berth_image::Reference;
use berth_plugin::managed::config::{privileges_match, Privilege};
use bytes::Bytes;
use hyper::{HeaderMap, Request, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

impl From<DistError> for ApiError {
    fn from(e: DistError) -> Self {
        match e {
            DistError::Invalid(m) => ApiError::BadRequest(m),
            DistError::NotFound(m) => ApiError::NotFound(m),
            DistError::Failed(m) => ApiError::Internal(m),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

fn event(d: &Daemon, action: &str, id: &str, name: &str) {
    d.events.emit(
        "plugin",
        action,
        id,
        [("name".to_string(), name.to_string())].into(),
    );
}

/// Docker's JSON message stream (chunked, one message a chunk: the SDK decodes it only so).
fn lines(msgs: &[Value]) -> Resp {
    let chunks: Vec<Bytes> = msgs
        .iter()
        .map(|m| {
            let mut b = serde_json::to_vec(m).unwrap_or_default();
            b.extend_from_slice(b"\r\n");
            Bytes::from(b)
        })
        .collect();
    let (tx, resp) = http::streamed(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        for c in chunks {
            if tx.send(c).await.is_err() {
                break;
            }
        }
    });
    resp
}

/// `GET /plugins` (filters `capability`, `enable`).
pub fn list(d: &Daemon, q: &Query) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["capability", "enable", "enabled"])?;
    let mut enabled: Vec<String> = f.get("enable").to_vec();
    enabled.extend(f.get("enabled").iter().cloned());
    for e in &enabled {
        if e != "true" && e != "false" {
            return Err(ApiError::BadRequest(format!("Invalid filter 'enable={e}'")));
        }
    }
    let caps = f.get("capability");
    let out: Vec<_> = d
        .managed
        .manager
        .list()
        .into_iter()
        .filter(|p| enabled.is_empty() || enabled.contains(&p.enabled.to_string()))
        .filter(|p| {
            caps.is_empty()
                || p.config.interface.types.iter().any(|t| {
                    let cap = t.split('/').next().unwrap_or(t);
                    let cap = cap.strip_prefix("docker.").unwrap_or(cap);
                    caps.iter().any(|c| c.eq_ignore_ascii_case(cap))
                })
        })
        .collect();
    http::ok_json(&out)
}

/// `GET /plugins/{name}/json`.
pub fn inspect(d: &Daemon, name: &str) -> ApiResult<Resp> {
    http::ok_json(&d.managed.manager.find(name)?.plugin)
}

fn parse_remote(remote: &str) -> ApiResult<Reference> {
    if remote.is_empty() {
        return Err(ApiError::BadRequest("remote is required".into()));
    }
    Reference::parse(remote)
        .map_err(|e| ApiError::BadRequest(format!("invalid reference format: {e}")))
}

/// Fetch the config of `r` from its sources (mirrors first for Docker Hub names).
fn fetch(
    d: &Daemon,
    r: &Reference,
    headers: &HeaderMap,
) -> ApiResult<(berth_image::registry::Client, Reference, Content, u64)> {
    let creds = super::registry::header_credentials(headers);
    let mut last = None;
    for src in super::registry::sources(d, r, creds) {
        let (client, from) = match src {
            Ok(s) => s,
            Err(e) => {
                last = Some(DistError::Failed(e));
                continue;
            }
        };
        match dist::fetch_config(&client, &d.managed.store, &from) {
            Ok((c, size)) => return Ok((client, from, c, size)),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| DistError::Failed("no registry to ask".into()))
        .into())
}

/// `GET /plugins/privileges?remote=`.
pub async fn privileges(d: &Arc<Daemon>, q: &Query, headers: &HeaderMap) -> ApiResult<Resp> {
    let r = parse_remote(q.get("remote").unwrap_or(""))?;
    let (d2, h) = (d.clone(), headers.clone());
    let (_, _, c, _) = blocking(move || fetch(&d2, &r, &h)).await?;
    http::ok_json(&c.config.privileges())
}

/// Get `remote`, check the accepted privileges, then `install` it (create or upgrade).
async fn get_and_install(
    d: &Arc<Daemon>,
    remote: &str,
    headers: &HeaderMap,
    accepted: Vec<Privilege>,
    install: impl FnOnce(&Daemon, &Reference, Content) -> ApiResult<String> + Send + 'static,
) -> ApiResult<Resp> {
    let r = parse_remote(remote)?;
    let (d2, h) = (d.clone(), headers.clone());
    blocking(move || {
        let (client, from, c, size) = fetch(&d2, &r, &h)?;
        let asked = c.config.privileges();
        if !privileges_match(&asked, &accepted) {
            let want: Vec<String> = asked
                .iter()
                .map(|p| format!("{}: {}", p.name, p.value.join(",")))
                .collect();
            return Err(ApiError::BadRequest(format!(
                "incorrect privileges: the plugin asks for [{}]",
                want.join("; ")
            )));
        }
        let msgs = std::sync::Mutex::new(vec![json!({"status": format!(
            "{}: Pulling from {}", r.tag().unwrap_or("latest"), r.repository())})]);
        let progress = |p: &Progress| {
            if let Progress::BlobDone { digest } = p {
                msgs.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(json!({"status": "Download complete", "id": &digest.hex()[..12]}));
            }
        };
        dist::fetch_layer(&client, &d2.managed.store, &from, &c, size, &progress)?;
        let digest = c.config_digest.to_string();
        let name = install(&d2, &r, c)?;
        let mut msgs = msgs.into_inner().unwrap_or_else(|e| e.into_inner());
        msgs.push(json!({"status": format!("Digest: {digest}")}));
        msgs.push(json!({"status": format!("Status: Downloaded newer plugin for {name}")}));
        Ok(lines(&msgs))
    })
    .await
}

fn unpack_into(d: &Daemon, c: &Content) -> impl FnOnce(&std::path::Path) -> Result<(), String> {
    let (store, layer) = (d.managed.store.clone(), c.layer_digest.clone());
    move |root| dist::unpack(&store, &layer, root)
}

/// The privileges a pull or upgrade accepts (its body; read before anything can be refused).
async fn accepted(body: ReqBody) -> ApiResult<Vec<Privilege>> {
    let b = http::body_bytes(body, 1 << 20).await?;
    if b.iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(Vec::new());
    }
    serde_json::from_slice::<Option<Vec<Privilege>>>(&b)
        .map(Option::unwrap_or_default)
        .map_err(|e| ApiError::BadRequest(format!("invalid privileges: {e}")))
}

/// `POST /plugins/pull?remote=&name=` with the accepted privileges.
pub async fn pull(
    d: &Arc<Daemon>,
    q: &Query,
    headers: &HeaderMap,
    body: ReqBody,
) -> ApiResult<Resp> {
    let accepted = accepted(body).await?;
    let remote = q.get("remote").unwrap_or("").to_string();
    let alias = q.get("name").unwrap_or("").to_string();
    // Checked before anything is fetched.
    let local = if alias.is_empty() { &remote } else { &alias };
    let full = d.managed.manager.claimable(local)?;
    let local = local.clone();
    let mut resp = get_and_install(d, &remote, headers, accepted, move |d, r, c| {
        let digests = (c.config_digest.to_string(), c.layer_digest.to_string());
        let fill = unpack_into(d, &c);
        let p = d
            .managed
            .manager
            .create(&local, &r.familiar(), c.config, digests, fill)?;
        event(d, "pull", &p.id, &p.name);
        Ok(p.name)
    })
    .await?;
    // The CLI enables the plugin by this name after the pull.
    if let Ok(v) = hyper::header::HeaderValue::from_str(&full) {
        resp.headers_mut().insert("Docker-Plugin-Name", v);
    }
    Ok(resp)
}

/// `POST /plugins/{name}/upgrade?remote=` with the accepted privileges (the plugin disabled).
pub async fn upgrade(
    d: &Arc<Daemon>,
    name: &str,
    q: &Query,
    headers: &HeaderMap,
    body: ReqBody,
) -> ApiResult<Resp> {
    let accepted = accepted(body).await?;
    let s = d.managed.manager.find(name)?;
    if s.plugin.enabled {
        return Err(ApiError::Conflict(format!(
            "plugin {} must be disabled before upgrading",
            s.plugin.name
        )));
    }
    let remote = q.get("remote").unwrap_or("").to_string();
    let name = s.plugin.name.clone();
    get_and_install(d, &remote, headers, accepted, move |d, r, c| {
        let digests = (c.config_digest.to_string(), c.layer_digest.to_string());
        let fill = unpack_into(d, &c);
        let (p, old) = d
            .managed
            .manager
            .upgrade(&name, &r.familiar(), c.config, digests, fill)?;
        crate::plugins::drop_blobs(&d.managed, &old);
        event(d, "upgrade", &p.id, &p.name);
        Ok(p.name)
    })
    .await
}

/// `POST /plugins/create?name=` with a tar of `config.json` and `rootfs/`.
pub async fn create(d: &Arc<Daemon>, q: &Query, req: Request<ReqBody>) -> ApiResult<Resp> {
    let name = q.get("name").unwrap_or("").to_string();
    if name.is_empty() {
        return Err(ApiError::BadRequest("name is required".into()));
    }
    // The body is read before the name is checked: a refusal while the client still sends the
    // context would reach it as a broken connection instead of the message.
    let tmp = d.managed.store.temp_path("plugin-context");
    if let Err(e) = http::body_to_file(req.into_body(), &tmp).await {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = d.managed.manager.claimable(&name) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    let d2 = d.clone();
    let tmp2 = tmp.clone();
    let res = blocking(move || {
        let c = dist::from_context(&d2.managed.store, &tmp2)?;
        let digests = (c.config_digest.to_string(), c.layer_digest.to_string());
        let fill = unpack_into(&d2, &c);
        let created = d2
            .managed
            .manager
            .create(&name, "", c.config.clone(), digests, fill);
        match created {
            Ok(p) => {
                event(&d2, "create", &p.id, &p.name);
                Ok(())
            }
            Err(e) => {
                let old = berth_plugin::managed::Stored {
                    config_digest: c.config_digest.to_string(),
                    layer_digest: c.layer_digest.to_string(),
                    ..Default::default()
                };
                crate::plugins::drop_blobs(&d2.managed, &old);
                Err(e.into())
            }
        }
    })
    .await;
    let _ = std::fs::remove_file(&tmp);
    res?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /plugins/{name}/enable?timeout=`.
pub async fn enable(d: &Arc<Daemon>, name: &str, q: &Query) -> ApiResult<Resp> {
    let secs = match q.int("timeout")? {
        Some(t) if t > 0 => t as u64,
        _ => 30,
    };
    let (d2, n) = (d.clone(), name.to_string());
    blocking(move || {
        d2.managed
            .manager
            .enable(&n, Duration::from_secs(secs))
            .map_err(ApiError::from)
    })
    .await?;
    let p = d.managed.manager.find(name)?.plugin;
    event(d, "enable", &p.id, &p.name);
    Ok(http::empty(StatusCode::OK))
}

/// `POST /plugins/{name}/disable?force=`.
pub async fn disable(d: &Arc<Daemon>, name: &str, q: &Query) -> ApiResult<Resp> {
    let p = d.managed.manager.find(name)?.plugin;
    let users = crate::plugins::users(d, &p.name);
    let (d2, n, force) = (d.clone(), name.to_string(), q.bool("force"));
    blocking(move || {
        d2.managed
            .manager
            .disable(&n, force, &users)
            .map_err(ApiError::from)
    })
    .await?;
    event(d, "disable", &p.id, &p.name);
    Ok(http::empty(StatusCode::OK))
}

/// `DELETE /plugins/{name}?force=`.
pub async fn remove(d: &Arc<Daemon>, name: &str, q: &Query) -> ApiResult<Resp> {
    let (d2, n, force) = (d.clone(), name.to_string(), q.bool("force"));
    let old = blocking(move || {
        let old = d2.managed.manager.remove(&n, force)?;
        crate::plugins::drop_blobs(&d2.managed, &old);
        Ok(old)
    })
    .await?;
    event(d, "remove", &old.plugin.id, &old.plugin.name);
    Ok(http::empty(StatusCode::OK))
}

/// `POST /plugins/{name}/set` with `["KEY=VALUE", ...]`.
pub async fn set(d: &Arc<Daemon>, name: &str, body: ReqBody) -> ApiResult<Resp> {
    let args: Vec<String> = http::body_json::<Option<Vec<String>>>(body, 1 << 20)
        .await?
        .unwrap_or_default();
    d.managed.manager.set(name, &args)?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /plugins/{name}/push`.
pub async fn push(d: &Arc<Daemon>, name: &str, headers: &HeaderMap) -> ApiResult<Resp> {
    let s = d.managed.manager.find(name)?;
    let target = parse_remote(&s.plugin.name)?;
    let creds = super::registry::header_credentials(headers);
    let d2 = d.clone();
    blocking(move || {
        let parse =
            |x: &str| berth_image::Digest::parse(x).map_err(|e| ApiError::Internal(e.to_string()));
        let c = Content {
            config: s.plugin.config.clone(),
            config_digest: parse(&s.config_digest)?,
            layer_digest: parse(&s.layer_digest)?,
        };
        let reg = d2.live().registries;
        let client = super::registry::client_for(&reg, target.api_host(), creds)
            .map_err(ApiError::Internal)?;
        let msgs = std::sync::Mutex::new(vec![json!({"status": format!(
            "The push refers to repository [{}]", target.name())})]);
        let progress = |p: &Progress| {
            let m = match p {
                Progress::BlobExists { digest } => {
                    json!({"status": "Layer already exists", "id": &digest.hex()[..12]})
                }
                Progress::BlobDone { digest } => {
                    json!({"status": "Pushed", "id": &digest.hex()[..12]})
                }
                _ => return,
            };
            msgs.lock().unwrap_or_else(|e| e.into_inner()).push(m);
        };
        let (digest, size) = dist::push(&client, &d2.managed.store, &c, &target, &progress)
            .map_err(ApiError::from)?;
        let tag = target.tag().unwrap_or("latest").to_string();
        let mut msgs = msgs.into_inner().unwrap_or_else(|e| e.into_inner());
        msgs.push(json!({"status": format!("{tag}: digest: {digest} size: {size}")}));
        msgs.push(json!({"progressDetail": {},
            "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size}}));
        event(&d2, "push", &s.plugin.id, &s.plugin.name);
        Ok(lines(&msgs))
    })
    .await
}
