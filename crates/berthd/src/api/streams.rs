//! Streaming endpoints: `attach` (a hijacked connection proxied to the shim's socket; an attach made
//! before `start` is connected by `start` before the process runs) and `logs` (the json-file log,
//! framed, optionally followed).

use crate::containers::model::Status;
use crate::containers::registry::PendingAttach;
use crate::containers::shim::{self, Paths};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Query, Resp};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

fn stream_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// Copy shim frames to the client: as they are, or without the 8-byte headers for a TTY.
async fn copy_frames(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    raw: bool,
) -> std::io::Result<()> {
    if !raw {
        tokio::io::copy(&mut from, &mut to).await?;
        return Ok(());
    }
    let mut head = [0u8; 8];
    loop {
        if from.read_exact(&mut head).await.is_err() {
            return Ok(());
        }
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut buf = vec![0u8; len];
        from.read_exact(&mut buf).await?;
        to.write_all(&buf).await?;
        to.flush().await?;
    }
}

async fn proxy(upgraded: hyper::upgrade::Upgraded, shim: tokio::net::UnixStream, tty: bool) {
    let io = hyper_util::rt::TokioIo::new(upgraded);
    let (mut cr, mut cw) = tokio::io::split(io);
    let (sr, mut sw) = shim.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    });
    let _ = copy_frames(sr, &mut cw, tty).await;
    let _ = cw.shutdown().await;
    up.abort();
}

/// `POST /containers/{id}/attach?stream=1&stdin=&stdout=&stderr=`.
pub async fn attach(
    d: &Arc<Daemon>,
    key: &str,
    q: &Query,
    mut req: Request<Incoming>,
) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    let flags = (q.bool("stdin"), q.bool("stdout"), q.bool("stderr"));
    let tty = c.spec.tty;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let p = Paths::new(d, &c.id, &c.runtime);
    if c.state.status == Status::Running {
        let socket = p.socket.clone();
        tokio::spawn(async move {
            let Ok(up) = on_upgrade.await else { return };
            match shim::attach(&socket, flags).await {
                Ok(s) => proxy(up, s, tty).await,
                Err(e) => crate::log!(2, "attach: {e}"),
            }
        });
    } else {
        let (tx, rx) = tokio::sync::oneshot::channel();
        d.containers
            .add_pending(&c.id, PendingAttach { flags, tx })?;
        tokio::spawn(async move {
            let Ok(up) = on_upgrade.await else { return };
            if let Ok(s) = rx.await {
                proxy(up, s, tty).await;
            }
        });
    }
    let mut r = http::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert("Content-Type", stream_type(tty).parse().expect("header"));
    h.insert("Connection", "Upgrade".parse().expect("header"));
    h.insert("Upgrade", "tcp".parse().expect("header"));
    Ok(r)
}

struct LogOpts {
    stdout: bool,
    stderr: bool,
    timestamps: bool,
    tty: bool,
    since: Option<std::time::SystemTime>,
    until: Option<std::time::SystemTime>,
}

/// `since`/`until` as the CLI sends them: unix seconds with optional fraction (`1700000000.5`).
fn unix_time(q: &Query, k: &str) -> ApiResult<Option<std::time::SystemTime>> {
    match q.get(k) {
        None | Some("") | Some("0") => Ok(None),
        Some(v) => {
            let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
            let bad = || ApiError::BadRequest(format!("invalid value for {k}: {v:?}"));
            let secs: u64 = secs.parse().map_err(|_| bad())?;
            let nanos: u32 = format!("{frac:0<9}")[..9].parse().map_err(|_| bad())?;
            Ok(Some(
                std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos),
            ))
        }
    }
}

/// One json-file line as a frame, or `None` if its stream is not wanted.
fn frame(line: &[u8], o: &LogOpts) -> Option<Bytes> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let stream = if v["stream"] == "stderr" { 2u8 } else { 1u8 };
    if (stream == 1 && !o.stdout) || (stream == 2 && !o.stderr) {
        return None;
    }
    if o.since.is_some() || o.until.is_some() {
        let t = crate::time::parse_rfc3339(v["time"].as_str().unwrap_or(""))?;
        if o.since.is_some_and(|s| t < s) || o.until.is_some_and(|u| t > u) {
            return None;
        }
    }
    let mut text = String::new();
    if o.timestamps {
        text.push_str(v["time"].as_str().unwrap_or(""));
        text.push(' ');
    }
    text.push_str(v["log"].as_str().unwrap_or(""));
    let mut out = Vec::with_capacity(text.len() + 8);
    if !o.tty {
        out.extend_from_slice(&[stream, 0, 0, 0]);
        out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    Some(Bytes::from(out))
}

/// `GET /containers/{id}/logs?stdout=&stderr=&follow=&tail=&timestamps=`.
pub async fn logs(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    if !c.spec.log.readable() {
        return Err(ApiError::NotImplemented(
            "configured logging driver does not support reading".into(),
        ));
    }
    let o = LogOpts {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        timestamps: q.bool("timestamps"),
        tty: c.spec.tty,
        since: unix_time(q, "since")?,
        until: unix_time(q, "until")?,
    };
    if !o.stdout && !o.stderr {
        return Err(ApiError::BadRequest(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    let tail: Option<usize> = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid tail {n:?}")))?,
        ),
    };
    let follow = q.bool("follow");
    let path = Paths::new(d, &c.id, &c.runtime).log;
    let (tx, resp) = http::streamed(StatusCode::OK, stream_type(o.tty));
    let d = d.clone();
    let id = c.id.clone();
    tokio::spawn(async move {
        let (data, mut cursor) = crate::containers::logfile::Cursor::read_all(&path).await;
        let mut frames: Vec<Bytes> = data
            .split(|b| *b == b'\n')
            .filter_map(|l| frame(l, &o))
            .collect();
        if let Some(n) = tail {
            let skip = frames.len().saturating_sub(n);
            frames.drain(..skip);
        }
        for f in frames {
            if tx.send(f).await.is_err() {
                return;
            }
        }
        if !follow {
            return;
        }
        loop {
            let running = d
                .containers
                .get(&id)
                .map(|c| c.state.status == Status::Running)
                .unwrap_or(false);
            let buf = cursor.read_new().await;
            for l in buf.split(|b| *b == b'\n') {
                if let Some(fr) = frame(l, &o) {
                    if tx.send(fr).await.is_err() {
                        return;
                    }
                }
            }
            if !running {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    let dim = |k: &str| -> ApiResult<u16> {
        q.int(k)?
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| ApiError::BadRequest(format!("invalid or missing {k}")))
    };
    let (h, w) = (dim("h")?, dim("w")?);
    if c.state.status != Status::Running {
        return Err(ApiError::Conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    let p = Paths::new(d, &c.id, &c.runtime);
    shim::resize(&p.socket, h, w)
        .await
        .map_err(|e| ApiError::BadRequest(format!("resize: {e}")))?;
    Ok(http::empty(StatusCode::OK))
}
