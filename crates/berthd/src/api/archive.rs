//! `HEAD|GET|PUT /containers/{id}/archive?path=` (`docker cp`). The work happens in the chrooted helper
//! of [`crate::archive`]; a stopped container's root is mounted for the request (under its operation
//! lock) and unmounted after.

use crate::archive::{HelperMount, HelperOptions};
use crate::containers::model::Status;
use crate::containers::shim::Paths;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::ReqBody;
use crate::http::{self, Query, Resp};
use base64::Engine;
use berth_image::snapshot::OverlaySnapshotter;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Request, StatusCode};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The container's root, mounted for as long as this lives.
struct Root {
    path: std::path::PathBuf,
    unmount: bool,
    name: String,
    mounts: Vec<HelperMount>,
    readonly: bool,
    user: String,
    _held: crate::volumes::attach::Held,
    _lock: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Root {
    fn drop(&mut self) {
        if self.unmount {
            let _ = OverlaySnapshotter::unmount(&self.path);
        }
    }
}

async fn root(d: &Arc<Daemon>, key: &str) -> ApiResult<Root> {
    let lock = d.containers.op_lock(key)?.lock_owned().await;
    let c = d.containers.get(key)?;
    let p = Paths::new(d, &c.id, &c.runtime);
    let unmount = c.state.status != Status::Running;
    if unmount {
        let (d2, id, rootfs) = (d.clone(), c.id.clone(), p.rootfs.clone());
        tokio::task::spawn_blocking(move || {
            let _ = OverlaySnapshotter::unmount(&rootfs);
            std::fs::create_dir_all(&rootfs)?;
            d2.snap
                .mount(&id, &rootfs)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    }
    // The volumes as the container has them: filesystems mounted, subpaths resolved.
    let (d2, c2, run_dir) = (d.clone(), c.clone(), p.run_dir.clone());
    let held =
        tokio::task::spawn_blocking(move || crate::volumes::attach::Held::new(&d2, &c2, &run_dir))
            .await
            .map_err(ApiError::internal)
            .and_then(|r| r);
    let (held, binds) = match held {
        Ok(h) => h,
        Err(e) => {
            if unmount {
                let _ = OverlaySnapshotter::unmount(&p.rootfs);
            }
            return Err(e);
        }
    };
    let mounts = binds
        .iter()
        .map(|b| HelperMount {
            source: b.source.clone(),
            destination: b.destination.clone(),
            readonly: b.readonly,
        })
        .collect();
    Ok(Root {
        path: p.rootfs,
        unmount,
        name: c.name,
        mounts,
        readonly: c.spec.readonly_rootfs,
        user: c.config["User"].as_str().unwrap_or("").to_string(),
        _held: held,
        _lock: lock,
    })
}

/// The path, absolute and lexically clean (`..` cannot climb above `/`); a trailing `/` or `/.` is
/// kept, since it means "the directory's contents" to `docker cp`.
fn target(q: &Query) -> ApiResult<String> {
    let raw = match q.get("path") {
        None | Some("") => return Err(ApiError::BadRequest("path is required".into())),
        Some(p) => p,
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut clean = format!("/{}", parts.join("/"));
    if clean != "/" {
        if raw.ends_with("/.") {
            clean.push_str("/.");
        } else if raw.ends_with('/') {
            clean.push('/');
        }
    }
    Ok(clean)
}

fn helper(
    op: &str,
    root: &Root,
    path: &str,
    opts: HelperOptions,
) -> ApiResult<tokio::process::Command> {
    let exe = std::env::current_exe().map_err(ApiError::internal)?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("__archive").arg(op).arg(&root.path).arg(path);
    cmd.arg(
        HelperOptions {
            readonly_root: root.readonly,
            ..opts
        }
        .arg(),
    );
    for m in &root.mounts {
        cmd.args(m.args());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(cmd)
}

fn helper_error(code: Option<i32>, stderr: &[u8], path: &str, name: &str) -> ApiError {
    let msg = String::from_utf8_lossy(stderr).trim().to_string();
    match code {
        Some(2) => ApiError::NotFound(format!(
            "Could not find the file {path} in container {name}"
        )),
        Some(3) | Some(4) => ApiError::BadRequest(msg),
        _ => ApiError::internal(msg),
    }
}

async fn stat(root: &Root, path: &str) -> ApiResult<String> {
    let out = helper("stat", root, path, HelperOptions::default())?
        .output()
        .await
        .map_err(ApiError::internal)?;
    if !out.status.success() {
        return Err(helper_error(
            out.status.code(),
            &out.stderr,
            path,
            &root.name,
        ));
    }
    let json = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(base64::engine::general_purpose::STANDARD.encode(json))
}

/// Whether `path` lies in a read-write volume or bind mount (writable even with a read-only root).
fn in_writable_mount(mounts: &[HelperMount], path: &str) -> bool {
    let p = std::path::Path::new(path);
    mounts
        .iter()
        .any(|m| !m.readonly && p.starts_with(&m.destination))
}

/// The archive endpoints' events (dockerd's `archive-path` and `extract-to-dir`).
fn container_event(d: &Daemon, key: &str, action: &str) {
    if let Ok(c) = d.containers.get(key) {
        d.events.container(&c, action, &[]);
    }
}

/// `HEAD /containers/{id}/archive?path=`.
pub async fn head(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let path = target(q)?;
    let root = root(d, key).await?;
    let st = stat(&root, &path).await?;
    container_event(d, key, "archive-path");
    let mut r = http::empty(StatusCode::OK);
    r.headers_mut().insert(
        "X-Docker-Container-Path-Stat",
        st.parse().map_err(ApiError::internal)?,
    );
    Ok(r)
}

/// `GET /containers/{id}/archive?path=`: a tar of the path, streamed.
pub async fn get(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let path = target(q)?;
    let root = root(d, key).await?;
    let st = stat(&root, &path).await?;
    let mut child = helper("get", &root, &path, HelperOptions::default())?
        .spawn()
        .map_err(ApiError::internal)?;
    let mut out = child.stdout.take().expect("piped");
    container_event(d, key, "archive-path");
    let (tx, mut resp) = http::streamed(StatusCode::OK, "application/x-tar");
    resp.headers_mut().insert(
        "X-Docker-Container-Path-Stat",
        st.parse().map_err(ApiError::internal)?,
    );
    tokio::spawn(async move {
        let _root = root;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match out.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        let _ = child.kill().await;
                        break;
                    }
                }
            }
        }
        let _ = child.wait().await;
    });
    Ok(resp)
}

/// `PUT /containers/{id}/archive?path=`: extract the request's tar into the directory at path.
pub async fn put(d: &Arc<Daemon>, key: &str, q: &Query, req: Request<ReqBody>) -> ApiResult<Resp> {
    let path = target(q)?;
    let root = root(d, key).await?;
    if root.readonly && !in_writable_mount(&root.mounts, &path) {
        return Err(ApiError::BadRequest(
            "container rootfs is marked read-only".into(),
        ));
    }
    let opts = HelperOptions {
        no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir"),
        readonly_root: root.readonly,
        // dockerd's copyUIDGID: owned by the container's user when its config names one; else
        // the archive's own owners stay (the CLI sends root's unless `cp -a`).
        chown_to: q
            .bool("copyUIDGID")
            .then(|| root.user.clone())
            .filter(|u| !u.is_empty()),
    };
    let mut cmd = helper("put", &root, &path, opts)?;
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(ApiError::internal)?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut body = req.into_body();
    let mut read_err = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(data) = f.data_ref() {
                    if stdin.write_all(data).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                read_err = Some(e);
                break;
            }
        }
    }
    drop(stdin);
    let out = child.wait_with_output().await.map_err(ApiError::internal)?;
    if let Some(e) = read_err {
        return Err(ApiError::BadRequest(format!("reading request body: {e}")));
    }
    if !out.status.success() {
        return Err(helper_error(
            out.status.code(),
            &out.stderr,
            &path,
            &root.name,
        ));
    }
    container_event(d, key, "extract-to-dir");
    Ok(http::empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> String {
        let q = format!(
            "path={}",
            form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>()
        );
        target(&Query::parse(Some(&q))).unwrap()
    }

    #[test]
    fn paths_are_absolute_and_clean() {
        assert_eq!(t("/vol1/data.txt"), "/vol1/data.txt");
        assert_eq!(t("vol1"), "/vol1");
        assert_eq!(t("/../../etc/./passwd"), "/etc/passwd");
        assert_eq!(t("/data/../tmp"), "/tmp");
        assert_eq!(t("/dir/"), "/dir/");
        assert_eq!(t("/dir/."), "/dir/.");
        assert_eq!(t("/.."), "/");
        assert!(target(&Query::parse(Some("path="))).is_err());
    }

    #[test]
    fn writable_mounts() {
        let m = |d: &str, ro| HelperMount {
            source: "/s".into(),
            destination: d.into(),
            readonly: ro,
        };
        let mounts = [m("/data", false), m("/conf", true)];
        assert!(in_writable_mount(&mounts, "/data/x"));
        assert!(!in_writable_mount(&mounts, "/conf/x"));
        assert!(!in_writable_mount(&mounts, "/database"));
    }
}
