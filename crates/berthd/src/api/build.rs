//! `POST /build`: the classic builder's parameters and tar context (plain, gzip, bzip2, xz or zstd) mapped to
//! berth-build, and its progress as the classic JSON stream (`{"stream": ...}`, `{"aux": {"ID": ...}}`,
//! `{"errorDetail": ...}`), objects separated by `\r\n`.

use crate::builder::{Catalog, Images, Layers, Runner};
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
    /// Whether the build has begun its steps (written or, quiet, held back a line): an error
    /// before that is the response's status, as dockerd answers one before it has flushed
    /// anything (400 for a Dockerfile that does not parse, 500 for one not in the context).
    begun: bool,
}

impl Stream {
    /// The build's first line: a quiet build, which holds its lines back, sends an empty chunk
    /// instead so that the response's head goes out as dockerd's does (the handler drops it).
    fn begin(&mut self) {
        if !self.begun && self.quiet {
            let _ = self.tx.blocking_send(Bytes::new());
        }
        self.begun = true;
    }
}

impl Output for Stream {
    fn stream(&mut self, text: &str) {
        self.begin();
        if !self.quiet {
            let _ = self.tx.blocking_send(line(json!({ "stream": text })));
        }
    }
    fn aux_id(&mut self, id: &str) {
        self.begin();
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

/// How the request body reaches the blocking thread that unpacks it while it arrives.
enum Chunk {
    Data(Bytes),
    /// The body ended here (a missing end means the client went away mid-body).
    End,
    Failed(String),
}

/// Frames in flight between the connection and the unpacking thread (a bounded memory).
const IN_FLIGHT: usize = 64;

/// The request body as a `Read`, fed frame by frame by [`forward`].
struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<Chunk>,
    cur: Bytes,
    ended: bool,
}

impl BodyReader {
    /// The next frame (`None` at the body's end).
    fn recv(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.ended {
            return Ok(None);
        }
        match self.rx.blocking_recv() {
            Some(Chunk::Data(b)) => Ok(Some(b)),
            Some(Chunk::End) => {
                self.ended = true;
                Ok(None)
            }
            Some(Chunk::Failed(e)) => Err(std::io::Error::other(e)),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the client went away before the whole context arrived",
            )),
        }
    }

    /// Join frames until at least `n` bytes are at hand (or the body ended), so the archive's
    /// magic is told from its first bytes whatever sizes the client's chunks have.
    fn gather(&mut self, n: usize) -> std::io::Result<()> {
        while self.cur.len() < n {
            let Some(b) = self.recv()? else {
                return Ok(());
            };
            let mut v = bytes::BytesMut::with_capacity(self.cur.len() + b.len());
            v.extend_from_slice(&self.cur);
            v.extend_from_slice(&b);
            self.cur = v.freeze();
        }
        Ok(())
    }
}

/// The frames are the buffers: a plain tar is read from them with no copy through another buffer.
impl std::io::BufRead for BodyReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.cur.is_empty() {
            match self.recv()? {
                Some(b) => self.cur = b,
                None => break,
            }
        }
        Ok(&self.cur)
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.cur.len());
        bytes::Buf::advance(&mut self.cur, n);
    }
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead;
        let have = self.fill_buf()?;
        let n = buf.len().min(have.len());
        buf[..n].copy_from_slice(&have[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Read the request body into `tx` as it comes. The reader may stop early (the tar's end, or an
/// error it reports itself): the rest of the body is still read, so the client finishes sending.
async fn forward(mut body: http::ReqBody, tx: tokio::sync::mpsc::Sender<Chunk>) -> ApiResult<()> {
    use http_body_util::BodyExt;
    let mut open = true;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                let msg = format!("reading request body: {e}");
                let _ = tx.send(Chunk::Failed(msg.clone())).await;
                return Err(ApiError::BadRequest(msg));
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if open && !data.is_empty() {
            open = tx.send(Chunk::Data(data)).await.is_ok();
        }
    }
    let _ = tx.send(Chunk::End).await;
    Ok(())
}

/// Read the context tar into memory as it arrives (file contents above `--build-context-memory`
/// go to an unnamed file in `<data-root>/build`); read the Dockerfile and `.dockerignore` from it.
/// Nothing is written to disk for a context that fits: a cached build makes no file.
fn prepare(
    d: &Daemon,
    mut f: BodyReader,
    dir: &Path,
    dockerfile: &str,
    opts: &mut BuildOptions,
) -> Result<(), String> {
    f.gather(16).map_err(|e| e.to_string())?;
    let r = berth_image::compression::decompress_archive_buffered(f, d.images.max_uncompressed())
        .map_err(|e| e.to_string())?;
    let spill = d.cfg.data_root.join("build");
    let mut tree = berth_build::tree::MemTree::new(d.cfg.build_context_memory, spill);
    tree.unpack(r)
        .map_err(|e| format!("unpacking the build context: {e}"))?;
    let name = if dockerfile.is_empty() {
        "Dockerfile"
    } else {
        dockerfile
    };
    let rel = berth_build::copy::clean_source(name)
        .map_err(|_| format!("the Dockerfile ({name}) must be within the build context"))?;
    let text = match tree.read_followed(&rel) {
        Err(_) if dockerfile.is_empty() => tree.read_followed("dockerfile"),
        r => r,
    };
    opts.dockerfile = text
        .ok()
        .and_then(|t| String::from_utf8(t).ok())
        .ok_or_else(|| format!("Cannot locate specified Dockerfile: {name}"))?;
    let ignore = tree.read_followed(".dockerignore").unwrap_or_default();
    opts.ignore = berth_build::ignore::Ignore::parse(&String::from_utf8_lossy(&ignore));
    opts.context = berth_build::tree::Context(Arc::new(tree));
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
    let t0 = std::time::Instant::now();
    // The context is unpacked on the build's thread while it arrives: when its last byte is in,
    // little of the unpacking is left.
    let (ctx_tx, ctx_rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let (tx, mut progress) = tokio::sync::mpsc::channel::<Bytes>(16);
    let d = d.clone();
    let rt = tokio::runtime::Handle::current();
    // The store's listing is read while the context arrives, off the path from its last byte to
    // the answer (a name the build asks for that is not in it is looked up again).
    let listing = {
        let d = d.clone();
        tokio::task::spawn_blocking(move || crate::images::list(&d).ok())
    };
    let body = BodyReader {
        rx: ctx_rx,
        cur: Bytes::new(),
        ended: false,
    };
    let early = Arc::new(std::sync::Mutex::new(None::<ApiError>));
    let early_tx = early.clone();
    tokio::task::spawn_blocking(move || {
        let early = early_tx;
        let mut out = Stream {
            tx: tx.clone(),
            quiet,
            begun: false,
        };
        let res = prepare(&d, body, &dir, &dockerfile, &mut opts)
            .map_err(|msg| (msg, None, false))
            .and_then(|()| {
                crate::log!(
                    0,
                    "build: context received and unpacked in {:?}",
                    t0.elapsed()
                );
                let cat = Catalog::preloaded(rt.block_on(listing).ok().flatten());
                let mut images = Images::new(d.clone(), dir.clone(), creds, cat.clone());
                let mut runner = Runner { d: d.clone(), rt };
                let mut layers = Layers::new(d.clone(), cat);
                berth_build::build(&opts, &mut images, &mut runner, &mut layers, &mut out).map_err(
                    |e| {
                        // A failed RUN carries its exit code, as dockerd's errorDetail does.
                        use berth_build::BuildError as E;
                        let code = match &e {
                            E::RunFailed { code, .. } => Some(*code),
                            _ => None,
                        };
                        let invalid =
                            matches!(e, E::Parse { .. } | E::Substitution(_) | E::Invalid(_));
                        (e.to_string(), code, invalid)
                    },
                )
            });
        if let Err((msg, code, invalid)) = res {
            if !out.begun {
                // Nothing streamed yet: the handler answers with the status (it sees the
                // channel end without a line).
                let err = if invalid {
                    ApiError::BadRequest(msg)
                } else {
                    ApiError::Internal(msg)
                };
                *early.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
                drop(out);
                drop(tx);
                remove_build_dir(&dir);
                return;
            }
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
        remove_build_dir(&dir);
        crate::log!(0, "build: cleaned up in {:?}", t0.elapsed());
    });
    // A body that fails to arrive is the request's error (the build's thread stops on it and
    // removes its directory).
    forward(req.into_body(), ctx_tx).await?;
    crate::log!(0, "build: context received in {:?}", t0.elapsed());
    // The head waits a moment for the build's lines (a cached build's whole answer comes well
    // under a millisecond after the context's last byte): the client then reads head, lines
    // and the body's end at once instead of waking for each. A build that takes longer (one
    // running steps) gets its head and first lines after the wait and streams the rest. No
    // head goes before the build's first line: a build that fails before it answers with the
    // status alone.
    let mut first = Vec::new();
    match progress.recv().await {
        Some(b) if b.is_empty() => {}
        Some(b) => first.push(b),
        None => {
            if let Some(err) = early.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(err);
            }
        }
    }
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    while let Ok(Some(b)) = tokio::time::timeout_at(deadline, progress.recv()).await {
        first.push(b);
    }
    Ok(http::streamed_from(
        StatusCode::OK,
        "application/json",
        first,
        progress,
    ))
}

/// A step that needed it made the build directory (a layer file, a flattened stage).
fn remove_build_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            crate::log!(2, "build: removing {}: {e}", dir.display())
        }
        _ => {}
    }
}

/// How long the response's head waits for the build's lines once the context is in.
const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// `GET /system/df`'s `BuildCache`: one record per cached build step.
pub fn cache_records(d: &Daemon) -> ApiResult<Vec<Value>> {
    let all = crate::images::list(d)?;
    let used: Vec<String> = d.containers.all().into_iter().map(|c| c.image_id).collect();
    let in_use = crate::images::in_use_ancestors(&all, &used);
    Ok(crate::images::build_cache(&all, &d.images)
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
    for (img, size) in crate::images::build_cache(&all, &d.images) {
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

    fn body(parts: &[&'static [u8]]) -> http::ReqBody {
        use http_body_util::BodyExt;
        let frames: Vec<Result<hyper::body::Frame<Bytes>, hyper::Error>> = parts
            .iter()
            .map(|p| Ok(hyper::body::Frame::data(Bytes::from_static(p))))
            .collect();
        http_body_util::StreamBody::new(tokio_stream::iter(frames)).boxed()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_context_is_read_as_it_arrives_and_a_cut_body_is_an_error() {
        use std::io::Read;
        let read_all = |rx| {
            tokio::task::spawn_blocking(move || {
                let mut r = BodyReader {
                    rx,
                    cur: Bytes::new(),
                    ended: false,
                };
                let mut v = Vec::new();
                r.read_to_end(&mut v).map(|_| v).map_err(|e| e.kind())
            })
        };
        // Whole: every frame in order, then the end.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let reading = read_all(rx);
        forward(body(&[b"0123", b"", b"45", b"6789"]), tx)
            .await
            .unwrap();
        assert_eq!(reading.await.unwrap().unwrap(), b"0123456789");
        // A reader that stops early does not stop the body being read to its end.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        drop(rx);
        forward(body(&[b"a", b"b", b"c"]), tx).await.unwrap();
        // The sender gone without the end (the client went away mid-body): an error, never a
        // short context taken for a whole one.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let reading = read_all(rx);
        tx.send(Chunk::Data(Bytes::from_static(b"part")))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(
            reading.await.unwrap().unwrap_err(),
            std::io::ErrorKind::UnexpectedEof
        );
    }

    /// A context in any compression is told by its magic and unpacked from the body's frames
    /// themselves, whatever sizes the client's chunks have (here 1 to 7 bytes).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_context_in_small_frames_is_unpacked_in_every_compression() {
        use berth_build::tree::Tree;
        use berth_image::compression::{Compression, Compressor};
        use std::io::{Read, Write};
        let mut plain = tar::Builder::new(Vec::new());
        let content: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        plain.append_data(&mut h, "dir/file", &content[..]).unwrap();
        let plain = plain.into_inner().unwrap();
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut w = Compressor::new(Vec::new(), c).unwrap();
            w.write_all(&plain).unwrap();
            let body_bytes = w.finish().unwrap();
            let frames: Vec<&'static [u8]> = {
                let leaked: &'static [u8] = Box::leak(body_bytes.into_boxed_slice());
                let mut v = Vec::new();
                let (mut at, mut k) = (0, 1);
                while at < leaked.len() {
                    let n = k.min(leaked.len() - at);
                    v.push(&leaked[at..at + n]);
                    at += n;
                    k = k % 7 + 1;
                }
                v
            };
            let (tx, rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
            let unpacking = tokio::task::spawn_blocking(move || {
                let mut r = BodyReader {
                    rx,
                    cur: Bytes::new(),
                    ended: false,
                };
                r.gather(16).unwrap();
                let plain =
                    berth_image::compression::decompress_archive_buffered(r, u64::MAX).unwrap();
                let mut t = berth_build::tree::MemTree::new(1 << 20, std::env::temp_dir());
                t.unpack(plain).unwrap();
                let mut got = Vec::new();
                t.open("dir/file").unwrap().read_to_end(&mut got).unwrap();
                (got, t.digest("dir/file"))
            });
            forward(body(&frames), tx).await.unwrap();
            let (got, digest) = unpacking.await.unwrap();
            assert!(got == content, "{c:?}: the file's content differs");
            let want = berth_build::tree::content_digest(&mut &content[..]).unwrap();
            assert_eq!(digest, Some(want), "{c:?}: the digest taken while reading");
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
