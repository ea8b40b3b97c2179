//! `POST /build`: the classic builder's parameters and tar context (plain, gzip, bzip2, xz or zstd) mapped to
//! berth-build, and its progress as the classic JSON stream (`{"stream": ...}`, `{"aux": {"ID": ...}}`,
//! `{"errorDetail": ...}`), objects separated by `\r\n`.

use crate::builder::{Images, Layers, Runner, SharedCatalog};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Query, Resp};
use berth_build::{BuildOptions, HostOptions, Output};
use bytes::Bytes;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc::Sender;

fn line(v: Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    Bytes::from(b)
}

/// The stream a build writes to (from its blocking thread).
struct Stream {
    tx: Sender<Bytes>,
    quiet: bool,
}

impl Output for Stream {
    fn stream(&mut self, text: &str) {
        if !self.quiet {
            let _ = self.tx.blocking_send(line(json!({ "stream": text })));
        }
    }
    fn aux_id(&mut self, id: &str) {
        let _ = self.tx.blocking_send(line(json!({"aux": {"ID": id}})));
        if self.quiet {
            let _ = self
                .tx
                .blocking_send(line(json!({ "stream": format!("{id}\n") })));
        }
    }
    fn cancelled(&self) -> bool {
        // The response body is dropped once the connection is gone.
        self.tx.is_closed()
    }
}

fn json_param<T: serde::de::DeserializeOwned + Default>(q: &Query, k: &str) -> ApiResult<T> {
    match q.get(k).filter(|v| !v.is_empty()) {
        None => Ok(T::default()),
        Some(v) => serde_json::from_str(v)
            .map_err(|e| ApiError::BadRequest(format!("invalid {k} parameter: {e}"))),
    }
}

fn int(q: &Query, k: &str) -> ApiResult<i64> {
    Ok(q.int(k)?.unwrap_or(0))
}

/// The request, checked before anything streams.
fn options(q: &Query) -> ApiResult<BuildOptions> {
    if q.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::BadRequest(
            "remote build contexts (git or URL) are not supported: Berth builds the context sent in the request body".into(),
        ));
    }
    if q.bool("squash") {
        return Err(ApiError::BadRequest(
            "squash is not supported: Berth's builder keeps one layer per step (dockerd supports it only in experimental mode)".into(),
        ));
    }
    if let Some(p) = q.get("platform").filter(|p| !p.is_empty()) {
        let (os, arch, _) = berth_image::media::host_platform();
        let mut it = p.split('/');
        let (o, a) = (it.next().unwrap_or(""), it.next().unwrap_or(arch.as_str()));
        if o != os || a != arch {
            return Err(ApiError::BadRequest(format!(
                "platform {p} is not supported: Berth builds for {os}/{arch} (this host) only"
            )));
        }
    }
    let tags = q.all("t");
    for t in &tags {
        if crate::images::key_of(t).is_none() {
            return Err(ApiError::BadRequest(format!(
                "invalid reference format: {t}"
            )));
        }
    }
    let rm = if q.bool("forcerm") {
        true
    } else {
        q.get("rm").is_none_or(|v| v.is_empty()) || q.bool("rm")
    };
    let extra_hosts: Vec<String> = q
        .all("extrahosts")
        .iter()
        .flat_map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect();
    let network = q.get("networkmode").unwrap_or("").to_string();
    Ok(BuildOptions {
        tags,
        no_cache: q.bool("nocache"),
        pull: q.bool("pull"),
        rm,
        force_rm: q.bool("forcerm"),
        build_args: json_param(q, "buildargs")?,
        labels: json_param(q, "labels")?,
        target: q
            .get("target")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        cache_from: json_param(q, "cachefrom")?,
        host: HostOptions {
            network_mode: if network == "default" {
                String::new()
            } else {
                network
            },
            memory: int(q, "memory")?,
            memory_swap: int(q, "memswap")?,
            cpu_shares: int(q, "cpushares")?,
            cpuset_cpus: q.get("cpusetcpus").unwrap_or("").into(),
            cpuset_mems: q.get("cpusetmems").unwrap_or("").into(),
            cpu_period: int(q, "cpuperiod")?,
            cpu_quota: int(q, "cpuquota")?,
            shm_size: int(q, "shmsize")?,
            extra_hosts,
        },
        ..Default::default()
    })
}

/// A context up to this size is kept in memory as it arrives; a larger one goes to a file.
const IN_MEMORY: usize = 32 << 20;

/// The context as received.
enum Received {
    Memory(Vec<u8>),
    File(PathBuf),
}

/// Read the request body: into memory up to `limit` bytes (an everyday context is written to disk
/// once, unpacked, not twice), else into `spill`.
async fn receive(mut body: http::ReqBody, spill: &Path, limit: usize) -> ApiResult<Received> {
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    let mut mem = Vec::new();
    let mut file: Option<tokio::io::BufWriter<tokio::fs::File>> = None;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::BadRequest(format!("reading request body: {e}")))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if let Some(f) = file.as_mut() {
            f.write_all(data).await.map_err(ApiError::internal)?;
            continue;
        }
        mem.extend_from_slice(data);
        if mem.len() > limit {
            let f = tokio::fs::File::create(spill)
                .await
                .map_err(ApiError::internal)?;
            let mut f = tokio::io::BufWriter::with_capacity(1 << 20, f);
            f.write_all(&mem).await.map_err(ApiError::internal)?;
            mem = Vec::new();
            file = Some(f);
        }
    }
    match file {
        Some(mut f) => {
            f.flush().await.map_err(ApiError::internal)?;
            Ok(Received::File(spill.to_path_buf()))
        }
        None => Ok(Received::Memory(mem)),
    }
}

/// Unpack the context tar into `dir`; read the Dockerfile and `.dockerignore`.
fn prepare(
    d: &Daemon,
    tar: Received,
    dir: &Path,
    dockerfile: &str,
    opts: &mut BuildOptions,
) -> Result<(), String> {
    let f: Box<dyn std::io::Read + Send> = match tar {
        Received::Memory(v) => Box::new(std::io::Cursor::new(v)),
        Received::File(p) => Box::new(std::fs::File::open(&p).map_err(|e| e.to_string())?),
    };
    let ctx = dir.join("context");
    std::fs::create_dir_all(&ctx).map_err(|e| e.to_string())?;
    let eo = berth_image::extract::ExtractOptions {
        whiteouts: berth_image::extract::WhiteoutMode::Literal,
        allow_devices: false,
        same_owner: false,
        xattrs: false,
        clean_dotdot: true,
        ..Default::default()
    };
    let r = berth_image::compression::decompress_archive(f, d.images.max_uncompressed())
        .map_err(|e| e.to_string())?;
    berth_image::extract::extract_archive(r, &ctx, &eo)
        .map_err(|e| format!("unpacking the build context: {e}"))?;
    let name = if dockerfile.is_empty() {
        "Dockerfile"
    } else {
        dockerfile
    };
    let rel = berth_build::copy::clean_source(name)
        .map_err(|_| format!("the Dockerfile ({name}) must be within the build context"))?;
    let mut path = ctx.join(&rel);
    if !path.is_file() && dockerfile.is_empty() {
        path = ctx.join("dockerfile");
    }
    opts.dockerfile = std::fs::read_to_string(&path)
        .map_err(|_| format!("Cannot locate specified Dockerfile: {name}"))?;
    let ignore = std::fs::read_to_string(ctx.join(".dockerignore")).unwrap_or_default();
    opts.ignore = berth_build::ignore::Ignore::parse(&ignore);
    opts.context = ctx;
    opts.scratch = dir.to_path_buf();
    Ok(())
}

/// `POST /build`.
pub async fn build(
    d: &Arc<Daemon>,
    q: &Query,
    req: Request<crate::http::ReqBody>,
) -> ApiResult<Resp> {
    let mut opts = options(q)?;
    let quiet = q.bool("q");
    let dockerfile = q.get("dockerfile").unwrap_or("").to_string();
    if dockerfile.starts_with("http://") || dockerfile.starts_with("https://") {
        return Err(ApiError::BadRequest(format!(
            "a remote Dockerfile ({dockerfile}) is not supported: Berth does not download build files"
        )));
    }
    let creds = super::registry::registry_config(req.headers());
    let dir: PathBuf = d
        .cfg
        .data_root
        .join("build")
        .join(crate::containers::model::random_hex());
    std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
    let t0 = std::time::Instant::now();
    let tar = match receive(req.into_body(), &dir.join("context.tar"), IN_MEMORY).await {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let (tx, resp) = http::streamed(StatusCode::OK, "application/json");
    let d = d.clone();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut out = Stream {
            tx: tx.clone(),
            quiet,
        };
        let received = t0.elapsed();
        let res = prepare(&d, tar, &dir, &dockerfile, &mut opts)
            .map_err(|msg| (msg, None))
            .and_then(|()| {
                crate::log!(
                    0,
                    "build: context received in {received:?}, unpacked in {:?}",
                    t0.elapsed() - received
                );
                let _ = std::fs::remove_file(dir.join("context.tar"));
                let cat = SharedCatalog::default();
                let mut images = Images::new(d.clone(), dir.clone(), creds, cat.clone());
                let mut runner = Runner { d: d.clone(), rt };
                let mut layers = Layers::new(d.clone(), cat);
                berth_build::build(&opts, &mut images, &mut runner, &mut layers, &mut out).map_err(
                    |e| {
                        // A failed RUN carries its exit code, as dockerd's errorDetail does.
                        let code = match &e {
                            berth_build::BuildError::RunFailed { code, .. } => Some(*code),
                            _ => None,
                        };
                        (e.to_string(), code)
                    },
                )
            });
        if let Err((msg, code)) = res {
            let mut detail = json!({ "message": msg });
            if let Some(c) = code {
                detail["code"] = json!(c);
            }
            let _ = tx.blocking_send(line(json!({"errorDetail": detail, "error": msg})));
        }
        crate::log!(0, "build: done in {:?}", t0.elapsed());
        // The response ends here: the client does not wait for the build directory to go.
        drop(out);
        drop(tx);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            crate::log!(2, "build: removing {}: {e}", dir.display());
        }
        crate::log!(0, "build: cleaned up in {:?}", t0.elapsed());
    });
    Ok(resp)
}

/// `GET /system/df`'s `BuildCache`: one record per cached build step.
pub fn cache_records(d: &Daemon) -> ApiResult<Vec<Value>> {
    let all = crate::images::list(d)?;
    let used: Vec<String> = d.containers.all().into_iter().map(|c| c.image_id).collect();
    let in_use = crate::images::in_use_ancestors(&all, &used);
    Ok(crate::images::build_cache(&all)
        .into_iter()
        .map(|(img, size)| {
            let cfg = &img.info.config;
            let created = cfg.created.clone().unwrap_or_default();
            let desc = cfg
                .history
                .last()
                .and_then(|h| h.created_by.clone())
                .unwrap_or_default();
            json!({
                "ID": img.info.config_digest.hex(),
                "Parent": cfg.parent.clone().unwrap_or_default().trim_start_matches("sha256:"),
                "Parents": [cfg.parent.clone().unwrap_or_default().trim_start_matches("sha256:")],
                "Type": "regular",
                "Description": desc,
                "InUse": in_use.contains(&img.id()),
                "Shared": false,
                "Size": size,
                "CreatedAt": created,
                "LastUsedAt": created,
                "UsageCount": 0,
            })
        })
        .collect())
}

/// `POST /build/prune?all=&filters=`: cached build steps that no tagged image or container descends
/// from (with `all`, every one no container uses), and build directories a crash left behind.
pub async fn prune(d: &Arc<Daemon>, q: &Query) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&[
        "until",
        "id",
        "parent",
        "type",
        "description",
        "inuse",
        "shared",
        "private",
    ])?;
    let all_flag = q.bool("all");
    let _g = d.image_lock.lock().await;
    let all = crate::images::list(d)?;
    let used: Vec<String> = d.containers.all().into_iter().map(|c| c.image_id).collect();
    let keep = if all_flag {
        used.iter().cloned().collect()
    } else {
        crate::images::in_use_ancestors(&all, &used)
    };
    let mut deleted = Vec::new();
    let mut reclaimed: i64 = 0;
    for (img, size) in crate::images::build_cache(&all) {
        if keep.contains(&img.id()) {
            continue;
        }
        for k in &img.keys {
            d.images.remove_ref(k).map_err(ApiError::internal)?;
        }
        reclaimed += size;
        deleted.push(img.info.config_digest.hex().to_string());
    }
    // Build directories of builds that are not running (none run while the image lock is held
    // only between steps, so keep any younger than an hour).
    if let Ok(rd) = std::fs::read_dir(d.cfg.data_root.join("build")) {
        for e in rd.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|a| a > std::time::Duration::from_secs(3600));
            if old {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    // The remembered COPY --from checksums: cheap to compute again, and their images may be gone.
    let _ = std::fs::remove_dir_all(crate::builder::checksums_dir(d));
    let _ = berth_image::gc::collect_with_grace(
        &d.images,
        Some(&d.snap),
        std::time::Duration::from_secs(60),
    );
    http::ok_json(&json!({
        "CachesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    }))
}

/// The parameters' shape, for tests.
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_contexts_stay_in_memory_large_ones_go_to_a_file() {
        use http_body_util::BodyExt;
        let body = |b: &'static [u8]| {
            http_body_util::Full::new(Bytes::from_static(b))
                .map_err(|never| match never {})
                .boxed()
        };
        let t = tempfile::tempdir().unwrap();
        let spill = t.path().join("context.tar");
        match receive(body(b"0123456789"), &spill, 10).await.unwrap() {
            Received::Memory(v) => assert_eq!(v, b"0123456789"),
            Received::File(_) => panic!("a context within the limit went to a file"),
        }
        assert!(!spill.exists());
        match receive(body(b"0123456789x"), &spill, 10).await.unwrap() {
            Received::File(p) => assert_eq!(std::fs::read(p).unwrap(), b"0123456789x"),
            Received::Memory(_) => panic!("a context over the limit stayed in memory"),
        }
    }

    #[test]
    fn parameters() {
        let q = Query::parse(Some(
            "t=a:1&t=b&buildargs=%7B%22X%22%3A%221%22%2C%22Y%22%3Anull%7D&extrahosts=h%3A1.2.3.4&memory=5&rm=0&target=x",
        ));
        let o = options(&q).unwrap();
        assert_eq!(o.tags, ["a:1", "b"]);
        assert_eq!(o.build_args.get("X"), Some(&Some("1".to_string())));
        assert_eq!(o.build_args.get("Y"), Some(&None));
        assert_eq!(o.host.extra_hosts, ["h:1.2.3.4"]);
        assert_eq!(o.host.memory, 5);
        assert!(!o.rm);
        assert_eq!(o.target.as_deref(), Some("x"));
        assert!(options(&Query::parse(Some(""))).unwrap().rm);
        for bad in [
            "squash=1",
            "platform=linux/s390x",
            "t=UPPER:x",
            "remote=git://x",
            "memory=x",
        ] {
            assert!(options(&Query::parse(Some(bad))).is_err(), "{bad}");
        }
    }
}
