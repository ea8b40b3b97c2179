//! Image endpoints: list, inspect, load, import (`create?fromSrc`), save, tag, delete (with Docker's
//! conflict rules).

use crate::containers::model::Status;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::ReqBody;
use crate::http::{self, ok_json, Query, Resp};
use crate::images::{self, Image};
use berth_image::{Digest, Reference};
use bytes::Bytes;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// When an image was made, to the nanosecond where its config says so (berthd's before wrote
/// whole seconds; the zero time when it says nothing readable): what `since`/`before` compare and
/// the list is ordered by, as dockerd does.
fn created_at(img: &Image) -> std::time::SystemTime {
    berth_image::config::created_time(img.info.config.created.as_deref())
        .unwrap_or(std::time::UNIX_EPOCH)
}

/// [`created_at`] in seconds since the epoch, as the API shows it.
fn created_unix(img: &Image) -> i64 {
    created_at(img)
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Shell-style match of `*` and `?` (what Docker's `reference` filter uses).
fn glob(pat: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && m(p, &s[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pat.as_bytes(), s.as_bytes())
}

/// Whether a familiar name (`bb:v1`, `bb@sha256:...`) matches one of the patterns, whole or by its
/// repository (dockerd's `FamiliarMatch`).
fn matches_reference(name: &str, pats: &[String]) -> bool {
    let repo = match name.split_once('@') {
        Some((r, _)) => r,
        None => name
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .map_or(name, |(r, _)| r),
    };
    pats.iter().any(|p| glob(p, name) || glob(p, repo))
}

pub(super) fn labels(img: &Image) -> Value {
    img.info
        .config
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .map(|l| json!(l))
        .unwrap_or(Value::Null)
}

/// `VirtualSize` beside `Size` (the same number): API 1.44 dropped it, as dockerd 25 did.
pub(crate) fn virtual_size(v: &mut Value, api: (u32, u32)) {
    if api >= (1, 44) {
        if let Some(o) = v.as_object_mut() {
            o.shift_remove("VirtualSize");
        }
    }
}

/// `GET /images/json`.
pub async fn list(d: &Daemon, q: &Query, api: (u32, u32)) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["dangling", "reference", "label", "before", "since"])?;
    let mut out = Vec::new();
    let all_images = images::list(d)?;
    // `before=IMAGE` / `since=IMAGE`: created before / after that image (the latest given wins).
    let created_of = |key: &str| -> ApiResult<Option<std::time::SystemTime>> {
        match f.get(key).last() {
            Some(name) => images::find_in(&all_images, name)
                .map(|i| Some(created_at(&i)))
                .ok_or_else(|| images::not_found(name)),
            None => Ok(None),
        }
    };
    let (before, since) = (created_of("before")?, created_of("since")?);
    let parents = images::parents(&all_images);
    for img in all_images.into_values() {
        let dangling = img.repo_tags().is_empty();
        // Untagged images with children are a build's intermediate images: shown only with `all`.
        if dangling && parents.contains(&img.id()) && !q.bool("all") {
            continue;
        }
        let created = created_at(&img);
        if before.is_some_and(|b| created >= b) || since.is_some_and(|t| created <= t) {
            continue;
        }
        if let Some(v) = f.get("dangling").first() {
            let want = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "invalid filter 'dangling={v}'"
                    )))
                }
            };
            if want != dangling {
                continue;
            }
        }
        // As dockerd: with a reference filter the image shows only the names that match it.
        let (mut repo_tags, mut repo_digests) = (img.repo_tags(), img.repo_digests());
        if !f.get("reference").is_empty() {
            repo_tags.retain(|t| matches_reference(t, f.get("reference")));
            repo_digests.retain(|t| matches_reference(t, f.get("reference")));
            if repo_tags.is_empty() && repo_digests.is_empty() {
                continue;
            }
        }
        if !f.get("label").is_empty() {
            let l = labels(&img);
            let ok = f
                .get("label")
                .iter()
                .all(|want| match want.split_once('=') {
                    Some((k, v)) => l[k].as_str() == Some(v),
                    None => l.get(want).is_some(),
                });
            if !ok {
                continue;
            }
        }
        let size = img.size(&d.images);
        let mut entry = json!({
            "Containers": -1,
            "Created": created_unix(&img),
            "Id": img.id(),
            "Labels": labels(&img),
            "ParentId": img.info.config.parent.clone().unwrap_or_default(),
            "RepoDigests": repo_digests,
            "RepoTags": repo_tags,
            "SharedSize": -1,
            "Size": size,
            "VirtualSize": size,
        });
        virtual_size(&mut entry, api);
        out.push((created, entry));
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    ok_json(&out.into_iter().map(|(_, v)| v).collect::<Vec<_>>())
}

/// A stored container config (a build step's, a committed container's) with the keys dockerd
/// always shows, at their zero values where it has none.
fn with_config_defaults(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for (k, zero) in [
            ("Hostname", json!("")),
            ("Domainname", json!("")),
            ("User", json!("")),
            ("AttachStdin", json!(false)),
            ("AttachStdout", json!(false)),
            ("AttachStderr", json!(false)),
            ("Tty", json!(false)),
            ("OpenStdin", json!(false)),
            ("StdinOnce", json!(false)),
            ("Env", Value::Null),
            ("Cmd", Value::Null),
            ("Image", json!("")),
            ("Volumes", Value::Null),
            ("WorkingDir", json!("")),
            ("Entrypoint", Value::Null),
            ("OnBuild", Value::Null),
            ("Labels", Value::Null),
        ] {
            o.entry(k).or_insert(zero);
        }
    }
    v
}

/// `GET /images/{name}/json`.
pub async fn inspect(d: &Daemon, name: &str, api: (u32, u32)) -> ApiResult<Resp> {
    let img = images::find(d, name)?;
    let size = img.size(&d.images);
    let cfg = &img.info.config;
    let cc = cfg.config.clone().unwrap_or_default();
    let container_config = json!({
        "Hostname": "", "Domainname": "", "User": cc.user.clone().unwrap_or_default(),
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "ExposedPorts": cc.exposed_ports, "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": cc.env, "Cmd": cc.cmd, "Image": "", "Volumes": cc.volumes,
        "WorkingDir": cc.working_dir.clone().unwrap_or_default(), "Entrypoint": cc.entrypoint,
        "OnBuild": cc.on_build, "Labels": cc.labels, "StopSignal": cc.stop_signal,
    });
    let mut container_config = container_config;
    // Fields dockerd's Config omits when empty.
    for k in ["ExposedPorts", "StopSignal"] {
        let empty = match &container_config[k] {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if empty {
            if let Some(o) = container_config.as_object_mut() {
                o.shift_remove(k);
            }
        }
    }
    if let Some(h) = &cc.healthcheck {
        container_config["Healthcheck"] = json!(h);
    }
    if let Some(sh) = &cc.shell {
        container_config["Shell"] = json!(sh);
    }
    super::containers::in_order(
        &mut container_config,
        crate::containers::create::CONFIG_FIELDS,
    );
    let comment = cfg
        .history
        .last()
        .and_then(|h| h.comment.clone())
        .unwrap_or_default();
    let upper = d
        .snap
        .layer_diff_dir(&img.info.top_chain_id().unwrap_or_else(|| Digest::of(b"")))
        .display()
        .to_string();
    let mut v = json!({
        "Id": img.id(),
        "RepoTags": img.repo_tags(),
        "RepoDigests": img.repo_digests(),
        "Parent": cfg.parent.clone().unwrap_or_default(),
        "Comment": comment,
        "Created": cfg.created.clone().unwrap_or_else(|| crate::time::ZERO.to_string()),
        "Container": cfg.container.clone().unwrap_or_default(),
        "ContainerConfig": cfg
            .container_config
            .clone()
            .map(with_config_defaults)
            .map(|mut v| {
                super::containers::in_order(&mut v, crate::containers::create::CONFIG_FIELDS);
                v
            })
            .unwrap_or_else(|| container_config.clone()),
        "DockerVersion": "",
        "Author": cfg.author.clone().unwrap_or_default(),
        "Config": container_config,
        "Architecture": cfg.architecture,
        "Variant": cfg.variant,
        "Os": cfg.os,
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": {"Data": {"UpperDir": upper}, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": cfg.rootfs.diff_ids},
        "Metadata": {"LastTagTime": images::last_tag_time(d, &img.id())},
    });
    if cfg.variant.as_deref().unwrap_or("").is_empty() {
        if let Some(o) = v.as_object_mut() {
            o.shift_remove("Variant"); // omitted when empty, as dockerd does
        }
    }
    virtual_size(&mut v, api);
    ok_json(&v)
}

/// Names (manifest digest -> keys) before a change, to keep replaced images as dangling after it.
pub fn keep_replaced_as_dangling(
    d: &Daemon,
    before: &std::collections::BTreeMap<String, Image>,
) -> ApiResult<()> {
    let after = images::list(d)?;
    for (id, img) in before {
        if !after.contains_key(id) {
            let rec = &img.info.record;
            d.images
                .set_ref(rec.digest.as_str(), rec.clone())
                .map_err(ApiError::internal)?;
        }
    }
    Ok(())
}

fn temp_file(d: &Daemon, hint: &str) -> std::path::PathBuf {
    d.images.temp_path(hint)
}

fn progress_line(v: Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    Bytes::from(b)
}

/// `POST /images/load`: a `docker save` archive; a bad one is reported in the stream, as Docker does.
pub async fn load(d: &Arc<Daemon>, _q: &Query, req: Request<ReqBody>) -> ApiResult<Resp> {
    let tmp = temp_file(d, "load");
    let res = http::body_to_file(req.into_body(), &tmp).await;
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let _g = d.image_lock.lock().await;
    let before = images::list(d)?;
    let d2 = d.clone();
    let tmp2 = tmp.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&tmp2)?;
        let src = berth_image::transfer::Source::scan_tar(&d2.images, f)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        berth_image::archive::import_docker_archive(&d2.images, &src)
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
    .await
    .map_err(ApiError::internal)?;
    let _ = std::fs::remove_file(&tmp);
    let loaded = match loaded {
        Ok(l) => l,
        // Docker answers 200 and puts the error in the JSON stream (the SDK reads it from there).
        Err(e) => {
            let msg = format!("loading archive: {e}");
            let line = progress_line(json!({"errorDetail": {"message": msg}, "error": msg}));
            return Ok(http::full(StatusCode::OK, "application/json", line));
        }
    };
    keep_replaced_as_dangling(d, &before)?;
    let mut body = Vec::new();
    for img in loaded {
        for n in &img.names {
            let line = match Reference::parse(n) {
                Ok(r) if Digest::parse(n).is_err() => format!("Loaded image: {}\n", r.familiar()),
                _ => format!("Loaded image ID: sha256:{}\n", img.config_digest.hex()),
            };
            body.extend_from_slice(&progress_line(json!({ "stream": line })));
            d.events.emit(
                "image",
                "load",
                &format!("sha256:{}", img.config_digest.hex()),
                Default::default(),
            );
        }
    }
    Ok(http::full(StatusCode::OK, "application/json", body))
}

/// Whether a file (any compression) starts as a tar archive: a header block with a good checksum,
/// or the end-of-archive zeros. A file that is no tar at all fails here, before it becomes a layer.
fn check_tar_start(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Read;
    let (_, mut r) = berth_image::compression::decompress(std::fs::File::open(path)?)?;
    let mut block = [0u8; 512];
    r.read_exact(&mut block).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => std::io::Error::other("unexpected EOF"),
        _ => e,
    })?;
    if block.iter().all(|b| *b == 0) {
        return Ok(());
    }
    let header = tar::Header::from_byte_slice(&block);
    let mut summed = header.clone();
    summed.set_cksum();
    if header.cksum().ok() != summed.cksum().ok() {
        return Err(std::io::Error::other("archive/tar: invalid tar header"));
    }
    Ok(())
}

/// `POST /images/create`: `fromSrc` (import a rootfs tarball from the body); pulling is not served yet.
pub async fn create(d: &Arc<Daemon>, q: &Query, req: Request<ReqBody>) -> ApiResult<Resp> {
    let Some(src) = q.get("fromSrc") else {
        let headers = req.headers().clone();
        return super::registry::pull(d, q, &headers).await;
    };
    if src != "-" {
        return Err(ApiError::BadRequest(
            "only fromSrc=- (the request body) is supported".into(),
        ));
    }
    let repo = q.get("repo").unwrap_or("");
    let tag = q.get("tag").unwrap_or("");
    let name = match (repo, tag) {
        ("", _) => None,
        (r, "") => Some(r.to_string()),
        (r, t) => Some(format!("{r}:{t}")),
    };
    let key = match &name {
        Some(n) => Some(
            images::key_of(n)
                .ok_or_else(|| ApiError::BadRequest(format!("invalid reference format: {n}")))?,
        ),
        None => None,
    };
    let changes = q.all("changes");
    let comment = match q.get("message").unwrap_or("") {
        "" => format!("Imported from {src}"),
        m => m.to_string(),
    };
    let tmp = temp_file(d, "import");
    if let Err(e) = http::body_to_file(req.into_body(), &tmp).await {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = check_tar_start(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(ApiError::BadRequest(format!(
            "Error processing tar file: {e}"
        )));
    }
    let _g = d.image_lock.lock().await;
    let before = images::list(d)?;
    let d2 = d.clone();
    let tmp2 = tmp.clone();
    let temp_name = format!(
        "berth-import-{}:tmp",
        &crate::containers::model::random_hex()[..16]
    );
    let key2 = key.clone().unwrap_or(temp_name.clone());
    let res = tokio::task::spawn_blocking(move || -> Result<_, berth_image::image::ImageError> {
        let f = std::fs::File::open(&tmp2)?;
        let rec = berth_image::image::import_rootfs_with_comment(
            &d2.images, f, &key2, &changes, &comment,
        )?;
        let info = berth_image::image::resolve(&d2.images, &rec)?;
        Ok((rec, info.config_digest))
    })
    .await
    .map_err(ApiError::internal)?;
    let _ = std::fs::remove_file(&tmp);
    let (rec, cdigest) = res.map_err(|e| ApiError::BadRequest(format!("importing: {e}")))?;
    if key.is_none() {
        d.images
            .set_ref(rec.digest.as_str(), rec.clone())
            .map_err(ApiError::internal)?;
        let _ = berth_image::image::remove(&d.images, &temp_name);
    } else {
        images::mark_tagged(d, &format!("sha256:{}", cdigest.hex()));
    }
    keep_replaced_as_dangling(d, &before)?;
    d.events.emit(
        "image",
        "import",
        &format!("sha256:{}", cdigest.hex()),
        Default::default(),
    );
    let body = progress_line(json!({"status": format!("sha256:{}", cdigest.hex())}));
    Ok(http::full(StatusCode::OK, "application/json", body))
}

/// `GET /images/get?names=...`: a `docker save` archive, streamed.
pub async fn save(d: &Arc<Daemon>, names: Vec<String>) -> ApiResult<Resp> {
    if names.is_empty() {
        return Err(ApiError::BadRequest("no image names given".into()));
    }
    let mut keys = Vec::new();
    for n in &names {
        let img = images::find(d, n)?;
        match images::key_of(n).filter(|k| img.keys.contains(k)) {
            Some(k) => keys.push(k),
            None => keys.push(img.keys.first().cloned().unwrap_or_default()),
        }
    }
    for n in &names {
        let id = images::find(d, n).map(|i| i.id()).unwrap_or_default();
        d.events.emit(
            "image",
            "save",
            &id,
            [("name".to_string(), n.clone())].into(),
        );
    }
    let (tx, resp) = http::streamed(StatusCode::OK, "application/x-tar");
    let d2 = d.clone();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut sink = berth_image::transfer::TarSink::new(http::ChannelWriter(tx));
        if let Err(e) = berth_image::archive::export_docker_archive(&d2.images, &refs, &mut sink) {
            crate::log!(3, "save: {e}");
        }
    });
    Ok(resp)
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub async fn tag(d: &Daemon, name: &str, q: &Query) -> ApiResult<Resp> {
    let _g = d.image_lock.lock().await;
    let img = images::find(d, name)?;
    let repo = q.get("repo").unwrap_or("");
    let tag = q.get("tag").filter(|t| !t.is_empty()).unwrap_or("latest");
    if repo.is_empty() {
        return Err(ApiError::BadRequest(
            "repository name must have at least one component".into(),
        ));
    }
    let full = if repo.contains('@') {
        repo.to_string()
    } else {
        format!("{repo}:{tag}")
    };
    let r = Reference::parse(&full)
        .map_err(|e| ApiError::BadRequest(format!("invalid reference format: {e}")))?;
    if r.digest().is_some() {
        return Err(ApiError::BadRequest(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    let before = images::list(d)?;
    d.images
        .set_ref(&r.to_string(), img.info.record.clone())
        .map_err(ApiError::internal)?;
    for k in img.keys.iter().filter(|k| Digest::parse(k).is_ok()) {
        let _ = d.images.remove_ref(k);
    }
    images::mark_tagged(d, &img.id());
    keep_replaced_as_dangling(d, &before)?;
    d.events.emit(
        "image",
        "tag",
        &img.id(),
        [("name".to_string(), r.familiar())].into(),
    );
    Ok(http::empty(StatusCode::CREATED))
}

/// The digest names (`repo@sha256:...`) of the repository of the tag `key`, when `key` is the last
/// tag of that repository among `names`: untagging it removes them too.
fn digest_names_left_alone(key: &str, names: &[&String]) -> Vec<String> {
    let Ok(r) = Reference::parse(key) else {
        return Vec::new();
    };
    if r.digest().is_some() {
        return Vec::new();
    }
    let same_repo: Vec<(&String, Reference)> = names
        .iter()
        .filter(|k| k.as_str() != key)
        .filter_map(|k| Some((*k, Reference::parse(k).ok()?)))
        .filter(|(_, o)| o.name() == r.name())
        .collect();
    if same_repo.iter().any(|(_, o)| o.digest().is_none()) {
        return Vec::new();
    }
    same_repo.into_iter().map(|(k, _)| k.clone()).collect()
}

fn short(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..12.min(h.len())]
}

/// `DELETE /images/{name}`: Docker's rules — untag a name; delete the image when its last name goes,
/// unless a container uses it (409 unless forced; never for a running container when deleting by ID).
pub async fn delete(d: &Daemon, name: &str, q: &Query) -> ApiResult<Resp> {
    let force = q.bool("force");
    let _g = d.image_lock.lock().await;
    let img = images::find(d, name)?;
    let id = img.id();
    let users: Vec<_> = d
        .containers
        .all()
        .into_iter()
        .filter(|c| c.image_id == id)
        .collect();
    let by_name = images::key_of(name).filter(|k| img.keys.contains(k));
    let mut out = Vec::new();
    let untag = |k: &str, out: &mut Vec<Value>| -> ApiResult<()> {
        d.images.remove_ref(k).map_err(ApiError::internal)?;
        if Digest::parse(k).is_err() {
            let fam = Reference::parse(k)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| k.to_string());
            // dockerd names the image by its ID in an untag event, not by the name that went.
            d.events.emit(
                "image",
                "untag",
                &id,
                [("name".to_string(), id.clone())].into(),
            );
            out.push(json!({ "Untagged": fam }));
        }
        Ok(())
    };
    let named_keys: Vec<&String> = img
        .keys
        .iter()
        .filter(|k| Digest::parse(k).is_err())
        .collect();
    // Untagging the last tag of a repository takes that repository's digest names along (dockerd).
    let companions = by_name
        .as_deref()
        .map(|k| digest_names_left_alone(k, &named_keys))
        .unwrap_or_default();
    if let Some(k) = &by_name {
        let others = named_keys.len() - 1 - companions.len();
        if others > 0 || (others == 0 && !users.is_empty() && force) {
            // Other names remain (or forced while in use): only this name goes.
            untag(k, &mut out)?;
            for c in &companions {
                untag(c, &mut out)?;
            }
            if others == 0 {
                let rec = &img.info.record;
                d.images
                    .set_ref(rec.digest.as_str(), rec.clone())
                    .map_err(ApiError::internal)?;
            }
            return ok_json(&out);
        }
        if let Some(c) = users.first() {
            return Err(ApiError::Conflict(format!(
                "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                short(&c.id),
                short(&id)
            )));
        }
    } else {
        if let Some(c) = users.iter().find(|c| c.state.status == Status::Running) {
            return Err(ApiError::Conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                short(&id),
                short(&c.id)
            )));
        }
        if named_keys.len() > 1 && !force {
            return Err(ApiError::Conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(&id)
            )));
        }
        if let Some(c) = users.first() {
            if !force {
                return Err(ApiError::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                    short(&id),
                    short(&c.id)
                )));
            }
            for k in &img.keys {
                untag(k, &mut out)?;
            }
            let rec = &img.info.record;
            d.images
                .set_ref(rec.digest.as_str(), rec.clone())
                .map_err(ApiError::internal)?;
            return ok_json(&out);
        }
    }
    for k in &img.keys {
        untag(k, &mut out)?;
    }
    out.push(json!({ "Deleted": id }));
    d.events.emit("image", "delete", &id, Default::default());
    let mut gone = vec![img];
    if !q.bool("noprune") {
        gone.extend(delete_unused_parents(d, &gone[0], &mut out)?);
    }
    // dockerd lists the layers that went with each image (their chain IDs) after it.
    list_released(&mut out, &layers_gone(d, &gone)?);
    collect_garbage(d).await;
    ok_json(&out)
}

/// The layers of `gone` (images just deleted, in the order they went) that no image left has,
/// each with its size unpacked: what dockerd's layer store releases with each image (an image's
/// layers its parents still had go with the parent), listed as `Deleted` after that image and
/// counted as reclaimed space (configs, manifests and compressed blobs are not).
fn layers_gone(d: &Daemon, gone: &[Image]) -> ApiResult<Vec<Released>> {
    let chains_of = |i: &Image| berth_image::snapshot::chain_ids(&i.info.diff_ids);
    let mut kept: std::collections::BTreeSet<Digest> =
        images::list(d)?.values().flat_map(chains_of).collect();
    // Going backwards, each image releases what neither the images left nor those gone after it
    // (still there when it went) have.
    let mut out = Vec::new();
    for img in gone.iter().rev() {
        let sizes = img.layer_sizes(&d.images);
        let released: Vec<(Digest, u64)> = chains_of(img)
            .into_iter()
            .zip(sizes)
            .rev()
            .filter(|(c, _)| !kept.contains(c))
            .map(|(c, size)| (c, size.max(0) as u64))
            .collect();
        kept.extend(chains_of(img));
        out.push((img.id(), released));
    }
    out.reverse();
    Ok(out)
}

/// An image's ID and the layers (chain ID, unpacked size) that went with it.
type Released = (String, Vec<(Digest, u64)>);

/// `out` with each released layer as `{"Deleted": chain ID}` after its image's own `Deleted`.
fn list_released(out: &mut Vec<Value>, layers: &[Released]) {
    for (id, released) in layers {
        let at = out
            .iter()
            .position(|e| e["Deleted"].as_str() == Some(id.as_str()))
            .map_or(out.len(), |i| i + 1);
        let items = released
            .iter()
            .map(|(l, _)| json!({ "Deleted": l.to_string() }));
        out.splice(at..at, items);
    }
}

/// After an image went: its untagged parents (a build's intermediate images) that no other image
/// descends from and no container uses go too, as dockerd prunes them. Returns them.
fn delete_unused_parents(d: &Daemon, img: &Image, out: &mut Vec<Value>) -> ApiResult<Vec<Image>> {
    let mut gone = Vec::new();
    let mut next = img.info.config.parent.clone();
    while let Some(pid) = next {
        let all = images::list(d)?;
        let Some(p) = all.get(&pid) else { break };
        let children = all
            .values()
            .filter(|i| i.info.config.parent.as_deref() == Some(pid.as_str()))
            .count();
        let used = d.containers.all().iter().any(|c| c.image_id == pid);
        if !p.repo_tags().is_empty() || !p.repo_digests().is_empty() || children > 0 || used {
            break;
        }
        for k in &p.keys {
            d.images.remove_ref(k).map_err(ApiError::internal)?;
        }
        out.push(json!({ "Deleted": pid }));
        d.events.emit("image", "delete", &pid, Default::default());
        next = p.info.config.parent.clone();
        gone.push(p.clone());
    }
    Ok(gone)
}

/// Remove unreferenced blobs and layers (a minute's grace for blobs written by imports in flight).
async fn collect_garbage(d: &Daemon) -> berth_image::gc::GcReport {
    let r = berth_image::gc::collect_with_grace(
        &d.images,
        Some(&d.snap),
        std::time::Duration::from_secs(60),
    );
    r.unwrap_or_else(|e| {
        crate::log!(2, "image garbage collection: {e}");
        berth_image::gc::GcReport::default()
    })
}

/// `POST /images/prune?filters=`: dangling images (all unused ones with `dangling=false`) that no
/// container uses.
pub async fn prune(d: &Daemon, q: &Query) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["dangling", "label", "label!", "until"])?;
    let only_dangling = match f.get("dangling").first().map(String::as_str) {
        None | Some("true" | "1") => true,
        Some("false" | "0") => false,
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "invalid filter 'dangling={v}'"
            )))
        }
    };
    let until = super::prune::until(&f)?;
    let _g = d.image_lock.lock().await;
    let used: std::collections::BTreeSet<String> =
        d.containers.all().into_iter().map(|c| c.image_id).collect();
    let mut deleted = Vec::new();
    let mut gone = Vec::new();
    // Rounds, as dockerd's deletions take the parents they leave unused along: an image with a
    // child waits until the child is gone (a later round), and one whose child stays, stays.
    let mut round = true;
    while std::mem::take(&mut round) {
        let all = images::list(d)?;
        let parents = images::parents(&all);
        for img in all.into_values() {
            if used.contains(&img.id())
                || (only_dangling && !img.repo_tags().is_empty())
                || parents.contains(&img.id())
            {
                continue;
            }
            let labels = img
                .info
                .config
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default();
            if !super::prune::labels_match(&f, &labels)
                || !super::prune::created_before(img.info.config.created.as_deref(), until)
            {
                continue;
            }
            for k in &img.keys {
                d.images.remove_ref(k).map_err(ApiError::internal)?;
                if Digest::parse(k).is_err() {
                    let fam = Reference::parse(k)
                        .map(|r| r.familiar())
                        .unwrap_or_else(|_| k.clone());
                    d.events.emit(
                        "image",
                        "untag",
                        &img.id(),
                        [("name".to_string(), img.id())].into(),
                    );
                    deleted.push(json!({ "Untagged": fam }));
                }
            }
            deleted.push(json!({ "Deleted": img.id() }));
            gone.push(img);
            round = true;
        }
    }
    let layers = layers_gone(d, &gone)?;
    list_released(&mut deleted, &layers);
    let freed: u64 = layers
        .iter()
        .flat_map(|(_, released)| released.iter().map(|(_, size)| size))
        .sum();
    collect_garbage(d).await;
    ok_json(&json!({
        "ImagesDeleted": if deleted.is_empty() { json!(null) } else { json!(deleted) },
        "SpaceReclaimed": freed,
    }))
}

/// `GET /images/{name}/history`: the config's history, newest first; the top entry carries the ID and
/// tags, layer-making entries their layer's size.
pub async fn history(d: &Daemon, name: &str) -> ApiResult<Resp> {
    let img = images::find(d, name)?;
    let cfg = &img.info.config;
    let mut layer_sizes = img.layer_sizes(&d.images).into_iter();
    let mut rows: Vec<Value> = Vec::new();
    let hist = if cfg.history.is_empty() {
        // No history: one entry per layer.
        img.info
            .layers
            .iter()
            .map(|_| berth_image::config::History::default())
            .collect()
    } else {
        cfg.history.clone()
    };
    for h in &hist {
        let empty = h.empty_layer.unwrap_or(false);
        let size = if empty {
            0
        } else {
            layer_sizes.next().unwrap_or(0)
        };
        let created = h
            .created
            .as_deref()
            .and_then(crate::time::parse_rfc3339)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        // dockerd's order (alphabetical).
        rows.push(json!({
            "Comment": h.comment.clone().unwrap_or_default(),
            "Created": created,
            "CreatedBy": h.created_by.clone().unwrap_or_default(),
            "Id": "<missing>",
            "Size": size,
            "Tags": null,
        }));
    }
    rows.reverse();
    // As dockerd: the newest entries take the IDs (and tags) of the image and its local parents,
    // one each, while the parent chain lasts.
    let mut cur = Some(img);
    for row in rows.iter_mut() {
        let Some(i) = cur else { break };
        row["Id"] = json!(i.id());
        row["Tags"] = json!(i.repo_tags());
        cur = i
            .info
            .config
            .parent
            .as_deref()
            .and_then(|p| images::find(d, p).ok());
    }
    ok_json(&rows)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("busy*", "busybox:latest"));
        assert!(glob("busybox", "busybox"));
        assert!(!glob("busybox", "busybox:latest"));
        assert!(glob("library/*", "library/x"));
        assert!(!glob("*", "a/b"));
    }
}
