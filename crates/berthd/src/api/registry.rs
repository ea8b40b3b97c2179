//! Registry endpoints: `POST /images/create?fromImage=` (pull), `POST /images/{name}/push`, `POST /auth`,
//! `GET /distribution/{name}/json`.
//! Progress goes out as Docker's JSON message stream (`\r\n` separated); failures after the headers come
//! inside the stream as `{"errorDetail": {...}, "error": ...}`. Insecure registries (127.0.0.0/8
//! always, as dockerd, and `--insecure-registry` ones) are spoken to over plain http; pulls of
//! Docker Hub images try the `--registry-mirror`s first.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Query, Resp};
use base64::Engine;
use berth_image::registry::{AuthConfig, Client, ClientOptions, Credentials, Progress};
use berth_image::Reference;
use bytes::Bytes;
use hyper::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::mpsc::Sender;

/// Credentials from `X-Registry-Auth` (base64url JSON `{username, password, serveraddress}`; `e30=` is none).
pub(crate) fn header_credentials(h: &HeaderMap) -> Option<Credentials> {
    let raw = h.get("X-Registry-Auth")?.to_str().ok()?.trim();
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim_end_matches('='))
        })
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let user = v["username"].as_str().unwrap_or("");
    let token = v["identitytoken"].as_str().unwrap_or("");
    if !token.is_empty() {
        return Some(Credentials {
            username: "<token>".into(),
            password: token.into(),
        });
    }
    (!user.is_empty()).then(|| Credentials {
        username: user.into(),
        password: v["password"].as_str().unwrap_or("").into(),
    })
}

/// A client for `host`: plain http if it is an insecure registry (127.0.0.0/8 always is, as with
/// dockerd, plus `--insecure-registry`), or an `http://` mirror.
pub(crate) fn client_for(
    reg: &crate::live::Registries,
    host: &str,
    creds: Option<Credentials>,
) -> Result<Client, String> {
    let mut auth = AuthConfig::default();
    if let Some(c) = creds {
        auth.insert(host, c);
    }
    let http_mirror = reg.mirrors.iter().any(|m| {
        m.strip_prefix("http://")
            .is_some_and(|h| h.trim_end_matches('/') == host)
    });
    let insecure = if http_mirror || reg.is_insecure(host) {
        vec![host.to_string()]
    } else {
        vec![]
    };
    Client::new(ClientOptions {
        auth,
        insecure_registries: insecure,
        ..Default::default()
    })
    .map_err(|e| e.to_string())
}

/// Where to get `r` from, in order: for a Docker Hub name each `registry-mirrors` entry (the same
/// repository on the mirror, without the Hub credentials), then the registry itself (managed
/// plugins are fetched this way).
pub(crate) fn sources(
    d: &Daemon,
    r: &Reference,
    creds: Option<Credentials>,
) -> Vec<Result<(Client, Reference), String>> {
    let reg = d.live().registries;
    let mut out = Vec::new();
    if r.registry() == "docker.io" {
        for m in &reg.mirrors {
            let host = mirror_host(m);
            out.push(
                r.with_registry(host)
                    .map_err(|e| format!("mirror {m}: {e}"))
                    .and_then(|from| client_for(&reg, host, None).map(|c| (c, from))),
            );
        }
    }
    out.push(client_for(&reg, r.api_host(), creds).map(|c| (c, r.clone())));
    out
}

/// The host[:port] of a mirror URL (`http://127.0.0.1:5000/` -> `127.0.0.1:5000`).
fn mirror_host(m: &str) -> &str {
    m.split_once("://")
        .map(|(_, h)| h)
        .unwrap_or(m)
        .trim_end_matches('/')
}

/// Pull `r`: Docker Hub images from the mirrors first, in order, then from Docker Hub itself, as
/// dockerd does; other registries directly.
fn pull_with_mirrors(
    d: &Daemon,
    reg: &crate::live::Registries,
    r: &Reference,
    creds: Option<Credentials>,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<berth_image::ImageRecord, String> {
    if r.registry() == "docker.io" {
        for m in &reg.mirrors {
            let host = mirror_host(m);
            let from = match r.with_registry(host) {
                Ok(f) => f,
                Err(e) => {
                    crate::log!(2, "mirror {m}: {e}");
                    continue;
                }
            };
            // Docker Hub credentials are not sent to mirrors.
            let res = client_for(reg, host, None).and_then(|c| {
                c.pull_as(&d.images, &from, r, progress)
                    .map_err(|e| e.to_string())
            });
            match res {
                Ok(rec) => {
                    crate::log!(1, "pulled {} from mirror {m}", r.familiar());
                    return Ok(rec);
                }
                Err(e) => crate::log!(
                    1,
                    "mirror {m} failed for {}: {e}; trying the next",
                    r.familiar()
                ),
            }
        }
    }
    client_for(reg, r.api_host(), creds)?
        .pull(&d.images, r, progress)
        .map_err(|e| e.to_string())
}

fn line(v: Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    Bytes::from(b)
}

fn short(d: &berth_image::Digest) -> String {
    d.hex()[..12].to_string()
}

/// A progress event as Docker's message, for pull (`push = false`) or push.
fn progress_message(p: &Progress, push: bool) -> Option<Value> {
    Some(match p {
        Progress::BlobExists { digest } => json!({
            "status": if push { "Layer already exists" } else { "Already exists" }, "id": short(digest)}),
        Progress::BlobStart { digest, size, .. } => json!({
            "status": if push { "Preparing" } else { "Pulling fs layer" }, "id": short(digest),
            "progressDetail": {"current": 0, "total": size}}),
        Progress::BlobProgress {
            digest,
            done,
            total,
        } => json!({
            "status": if push { "Pushing" } else { "Downloading" }, "id": short(digest),
            "progressDetail": {"current": done, "total": total}}),
        Progress::BlobDone { digest } => json!({
            "status": if push { "Pushed" } else { "Pull complete" }, "id": short(digest), "progressDetail": {}}),
        Progress::BlobMounted { digest, from } => json!({
            "status": format!("Mounted from {from}"), "id": short(digest), "progressDetail": {}}),
        Progress::Retry {
            digest, attempt, ..
        } => json!({
            "status": format!("Retrying in 0 seconds (attempt {attempt})"), "id": short(digest)}),
        Progress::Manifest { .. } => return None,
    })
}

fn send(tx: &Sender<Bytes>, v: Value) {
    let _ = tx.blocking_send(line(v));
}

fn send_error(tx: &Sender<Bytes>, msg: &str) {
    send(tx, json!({"errorDetail": {"message": msg}, "error": msg}));
}

/// `POST /images/create?fromImage=&tag=`.
pub async fn pull(d: &Arc<Daemon>, q: &Query, headers: &HeaderMap) -> ApiResult<Resp> {
    let from = q.get("fromImage").unwrap_or("");
    let tag = q.get("tag").unwrap_or("");
    let name = match tag {
        "" => from.to_string(),
        t if t.starts_with("sha256:") => format!("{from}@{t}"),
        t => format!("{from}:{t}"),
    };
    let r = Reference::parse(&name)
        .map_err(|e| ApiError::BadRequest(format!("invalid reference format: {e}")))?;
    let creds = header_credentials(headers);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    // An error before the registry has given the manifest (no such repository, no answer) is
    // the response's status, as dockerd's (which writes nothing before it has the manifest):
    // docker-py's pull() raises on it, while a 200 stream holding the error passed for success.
    let early = Arc::new(std::sync::Mutex::new(None::<ApiError>));
    let early_tx = early.clone();
    let d = d.clone();
    tokio::spawn(async move {
        let _g = d.image_lock.lock().await;
        let before = crate::images::list(&d).unwrap_or_default();
        let d2 = d.clone();
        let tx2 = tx.clone();
        let res = tokio::task::spawn_blocking(move || {
            let tx = tx2;
            let reg = d2.live().registries;
            let begun = std::sync::atomic::AtomicBool::new(false);
            let progress = |p: &Progress| {
                if !begun.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    send(&tx, json!({"status": format!("Pulling from {}", r.repository()),
                        "id": r.tag().unwrap_or("latest")}));
                }
                if let Some(v) = progress_message(p, false) {
                    send(&tx, v);
                }
            };
            let pulled = pull_with_mirrors(&d2, &reg, &r, creds, &progress);
            if let Err(e) = &pulled {
                if !begun.load(std::sync::atomic::Ordering::Relaxed) {
                    *early_tx.lock().unwrap_or_else(|p| p.into_inner()) = Some(early_error(&r, e));
                    return;
                }
            }
            match pulled {
                Ok(rec) => {
                    send(&tx, json!({"status": format!("Digest: {}", rec.digest)}));
                    // `RepoDigests`: the repository by the digest the registry serves it under.
                    record_repo_digest(&d2, &r, &rec.digest, &rec);
                    measure_layers_later(&d2, &rec);
                    d2.events.emit("image", "pull", &r.familiar(), [("name".to_string(), r.familiar())].into());
                    send(&tx, json!({"status": format!("Status: Downloaded newer image for {}", r.familiar())}));
                }
                Err(e) => send_error(&tx, &e),
            }
        })
        .await;
        if res.is_err() {
            let _ = tx.send(line(json!({"error": "pull failed"}))).await;
        }
        if let Err(e) = super::images::keep_replaced_as_dangling(&d, &before) {
            crate::log!(2, "pull: {e}");
        }
    });
    let mut first = Vec::new();
    match rx.recv().await {
        Some(b) => first.push(b),
        None => {
            if let Some(err) = early.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(err);
            }
        }
    }
    Ok(http::streamed_from(
        StatusCode::OK,
        "application/json",
        first,
        rx,
    ))
}

/// A pull's error before the manifest as dockerd answers it: 404 with its "pull access denied"
/// text when the registry does not have the repository or refuses the credentials, else 500.
fn early_error(r: &Reference, e: &str) -> ApiError {
    let denied = [
        " answered 404",
        " answered 401",
        " answered 403",
        "refused authentication",
    ];
    if denied.iter().any(|p| e.contains(p)) {
        // The familiar name without tag or digest, as dockerd's message has it.
        let f = r.familiar();
        let f = f.split('@').next().unwrap_or_default();
        let name = match f.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => n,
            _ => f,
        };
        ApiError::NotFound(format!(
            "pull access denied for {name}, repository does not exist or may require 'docker login': {e}"
        ))
    } else {
        ApiError::Internal(e.to_string())
    }
}

/// Pull `name` from its registry on this (blocking) thread, with `X-Registry-Config`-style credentials
/// by registry host (a build's base images); each progress message goes to `status`.
pub fn pull_blocking(
    d: &Daemon,
    name: &str,
    creds: &std::collections::BTreeMap<String, Credentials>,
    status: &mut dyn FnMut(String),
) -> Result<(), String> {
    let r = Reference::parse(name).map_err(|e| format!("invalid reference format: {e}"))?;
    status(format!(
        "{}: Pulling from {}",
        r.tag().unwrap_or("latest"),
        r.repository()
    ));
    // As `docker pull`: Docker Hub names through the mirrors first.
    let reg = d.live().registries.clone();
    let rec = pull_with_mirrors(
        d,
        &reg,
        &r,
        creds.get(r.api_host()).cloned(),
        &|_: &Progress| {},
    )?;
    record_repo_digest(d, &r, &rec.digest, &rec);
    measure_layers_later(d, &rec);
    status(format!("Digest: {}", rec.digest));
    status(format!(
        "Status: Downloaded newer image for {}",
        r.familiar()
    ));
    d.events.emit(
        "image",
        "pull",
        &r.familiar(),
        [("name".to_string(), r.familiar())].into(),
    );
    Ok(())
}

/// Measure a pulled image's layers unpacked (the sizes `docker images` shows, kept by the store)
/// on a thread of their own, off the pull's path: a pull decompresses nothing, and measuring a
/// 200 MB image's layers made it several times slower. A size asked for before this got to it is
/// measured then (the same number).
fn measure_layers_later(d: &Daemon, rec: &berth_image::ImageRecord) {
    let store = d.images.clone();
    let Ok(info) = berth_image::image::resolve(&store, rec) else {
        return;
    };
    let todo: Vec<berth_image::Digest> = info
        .layers
        .iter()
        .filter_map(|l| berth_image::media::desc_digest(l).ok())
        .filter(|l| store.layer_size(l).is_none())
        .collect();
    if todo.is_empty() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("layer-sizes".into())
        .spawn(move || {
            for l in todo {
                let _ = store.measure_layer(&l);
            }
        });
}

/// `X-Registry-Config` (base64 JSON: registry host -> auth config), as `POST /build` gets it.
pub fn registry_config(h: &HeaderMap) -> std::collections::BTreeMap<String, Credentials> {
    let mut out = std::collections::BTreeMap::new();
    let Some(raw) = h.get("X-Registry-Config").and_then(|v| v.to_str().ok()) else {
        return out;
    };
    let raw = raw.trim();
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim_end_matches('='))
        });
    let Ok(bytes) = bytes else { return out };
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&bytes) else {
        return out;
    };
    for (host, v) in m {
        let user = v["username"].as_str().unwrap_or("");
        if user.is_empty() {
            continue;
        }
        let host = host
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        out.insert(
            host,
            Credentials {
                username: user.into(),
                password: v["password"].as_str().unwrap_or("").into(),
            },
        );
    }
    out
}

/// Name the image `repo@digest` too, as dockerd does after a pull or push.
fn record_repo_digest(
    d: &Daemon,
    r: &Reference,
    digest: &berth_image::Digest,
    rec: &berth_image::ImageRecord,
) {
    let key = crate::images::key_of(&format!("{}@{digest}", r.name()));
    if let Some(key) = key {
        if let Err(e) = d.images.set_ref(&key, rec.clone()) {
            crate::log!(2, "recording {key}: {e}");
        }
    }
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(d: &Arc<Daemon>, name: &str, q: &Query, headers: &HeaderMap) -> ApiResult<Resp> {
    let full = match q.get("tag").unwrap_or("") {
        "" => name.to_string(),
        t => format!("{name}:{t}"),
    };
    let img = crate::images::find(d, &full)?;
    let target = Reference::parse(&full)
        .map_err(|e| ApiError::BadRequest(format!("invalid reference format: {e}")))?;
    let creds = header_credentials(headers);
    let (tx, resp) = http::streamed(StatusCode::OK, "application/json");
    let d = d.clone();
    tokio::task::spawn_blocking(move || {
        let client = match client_for(&d.live().registries, target.api_host(), creds) {
            Ok(c) => c,
            Err(e) => return send_error(&tx, &e),
        };
        send(
            &tx,
            json!({"status": format!("The push refers to repository [{}]", target.name())}),
        );
        let progress = |p: &Progress| {
            if let Some(v) = progress_message(p, true) {
                send(&tx, v);
            }
        };
        match client.push(&d.images, &img.info.record, &target, None, &progress) {
            Ok(digest) => {
                record_repo_digest(&d, &target, &digest, &img.info.record);
                let tag = target.tag().unwrap_or("latest").to_string();
                let size = img.info.record.size;
                send(
                    &tx,
                    json!({"status": format!("{tag}: digest: {digest} size: {size}")}),
                );
                send(
                    &tx,
                    json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size}}),
                );
                d.events.emit(
                    "image",
                    "push",
                    &target.familiar(),
                    [("name".to_string(), target.familiar())].into(),
                );
            }
            Err(e) => send_error(&tx, &e.to_string()),
        }
    });
    Ok(resp)
}

/// `GET /images/search?term=&limit=&filters=`: the registry's v1 search (Docker Hub's index unless
/// the term names a registry), filtered by `is-official`, `is-automated` and `stars`.
pub async fn search(d: &Daemon, q: &Query, headers: &HeaderMap) -> ApiResult<Resp> {
    let term = q.get("term").unwrap_or("").trim().to_string();
    if term.is_empty() {
        return Err(ApiError::BadRequest("a search term is required".into()));
    }
    let limit = q.int("limit")?.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "Limit {limit} is outside the range of [1, 100]"
        )));
    }
    let f = q.filters()?;
    f.only(&["is-automated", "is-official", "stars"])?;
    let flag = |k: &str| -> ApiResult<Option<bool>> {
        match f.get(k).first().map(String::as_str) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(v) => Err(ApiError::BadRequest(format!("invalid filter '{k}={v}'"))),
        }
    };
    let (official, automated) = (flag("is-official")?, flag("is-automated")?);
    let stars = match f.get("stars").first() {
        None => 0,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| ApiError::BadRequest(format!("invalid filter 'stars={v}'")))?,
    };
    let (host, what) = berth_image::registry::search::split_term(&term);
    let creds = header_credentials(headers);
    let reg = d.live().registries;
    let found = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let client = client_for(&reg, &host, creds)?;
        client
            .search(&host, &what, limit as u32)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::Internal)?;
    let kept: Vec<_> = found
        .into_iter()
        .filter(|r| official.is_none_or(|o| r.is_official == o))
        .filter(|r| automated.is_none_or(|a| r.is_automated == a))
        .filter(|r| r.star_count >= stars)
        .collect();
    http::ok_json(&json!(kept))
}

/// A platform as Docker shows it: only the fields that are set.
fn platform(v: &Value) -> Value {
    let mut p = serde_json::Map::new();
    for k in ["architecture", "os", "os.version", "os.features", "variant"] {
        let set = match &v[k] {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            _ => false,
        };
        if set {
            p.insert(k.to_string(), v[k].clone());
        }
    }
    Value::Object(p)
}

/// `GET /distribution/{name}/json`: the registry's descriptor for the name and the platforms it
/// offers (from an index, or from a single manifest's config).
pub async fn distribution(d: &Arc<Daemon>, name: &str, headers: &HeaderMap) -> ApiResult<Resp> {
    let r = Reference::parse(name)
        .map_err(|e| ApiError::BadRequest(format!("invalid reference format: {e}")))?;
    let creds = header_credentials(headers);
    let d = d.clone();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || -> ApiResult<Resp> {
        let client =
            client_for(&d.live().registries, r.api_host(), creds).map_err(ApiError::internal)?;
        let reference = match (r.digest(), r.tag()) {
            (Some(dg), _) => dg.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let fail = |e: berth_image::registry::RegistryError| match &e {
            berth_image::registry::RegistryError::Status { status: 404, .. } => {
                ApiError::NotFound(format!("{name}: not found: {e}"))
            }
            berth_image::registry::RegistryError::Unauthorized { .. } => {
                ApiError::Unauthorized(e.to_string())
            }
            _ => ApiError::internal(e),
        };
        let (bytes, media_type, digest) = client.fetch_manifest(&r, &reference).map_err(fail)?;
        let m: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
        let platforms: Vec<Value> = match m["manifests"].as_array() {
            Some(list) => list.iter().map(|e| platform(&e["platform"])).collect(),
            None => {
                let cfg = berth_image::Digest::parse(m["config"]["digest"].as_str().unwrap_or(""))
                    .map_err(|e| ApiError::internal(format!("manifest config: {e}")))?;
                let size = m["config"]["size"].as_u64().unwrap_or(0);
                client
                    .fetch_blob(&d.images, &r, &cfg, size, &|_| {})
                    .map_err(fail)?;
                let mut raw = Vec::new();
                std::io::Read::read_to_end(
                    &mut d.images.open_blob(&cfg).map_err(ApiError::internal)?,
                    &mut raw,
                )
                .map_err(ApiError::internal)?;
                let c: Value = serde_json::from_slice(&raw).map_err(ApiError::internal)?;
                vec![platform(&c)]
            }
        };
        http::ok_json(&json!({
            "Descriptor": {"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()},
            "Platforms": platforms,
        }))
    })
    .await
    .map_err(ApiError::internal)?
}

/// `POST /auth`: check the credentials against the registry.
pub async fn auth(d: &Daemon, body: crate::http::ReqBody) -> ApiResult<Resp> {
    let v: Value = http::body_json(body, http::SMALL_BODY_LIMIT).await?;
    let user = v["username"].as_str().unwrap_or("").to_string();
    let pass = v["password"].as_str().unwrap_or("").to_string();
    let server = v["serveraddress"].as_str().unwrap_or("").to_string();
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let host = if host.is_empty() || host == "index.docker.io" {
        "registry-1.docker.io".to_string()
    } else {
        host
    };
    let reg = d.live().registries;
    let res = tokio::task::spawn_blocking(move || {
        let client = client_for(
            &reg,
            &host,
            Some(Credentials {
                username: user,
                password: pass,
            }),
        )?;
        client.ping(&host).map_err(|e| e.to_string())
    })
    .await
    .map_err(ApiError::internal)?;
    match res {
        Ok(()) => http::ok_json(&json!({"IdentityToken": "", "Status": "Login Succeeded"})),
        Err(e) => Err(ApiError::Unauthorized(format!("login attempt failed: {e}"))),
    }
}
