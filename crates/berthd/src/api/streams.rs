//! Streaming endpoints: `logs` (the json-file log, framed, optionally followed) and `resize`; `attach`
//! is in [`super::attach`].

use crate::containers::model::Status;
use crate::containers::shim::{self, Paths};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Query, Resp};
use bytes::Bytes;
use hyper::StatusCode;
use std::sync::Arc;

fn stream_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// What a log read wants.
pub struct LogOpts {
    /// Stdout lines.
    pub stdout: bool,
    /// Stderr lines.
    pub stderr: bool,
    /// Each line prefixed with its time.
    pub timestamps: bool,
    /// Without the 8-byte stream headers.
    pub tty: bool,
    /// Lines from then on.
    pub since: Option<std::time::SystemTime>,
    /// Lines up to then.
    pub until: Option<std::time::SystemTime>,
}

/// The whole log at `path`, rotated files first, as frames (what `attach?logs=1` replays; nothing
/// with the `none` driver, which writes no file).
pub async fn log_frames(path: &std::path::Path, o: &LogOpts) -> Vec<Bytes> {
    let (data, _) = crate::containers::logfile::Cursor::read_all(path).await;
    data.split(|b| *b == b'\n')
        .filter_map(|l| frame(l, o))
        .collect()
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
    // Opened before the answer: a client that removes the container next still gets every line.
    let (data, mut cursor) = crate::containers::logfile::Cursor::read_all(&path).await;
    let (tx, resp) = http::streamed(StatusCode::OK, stream_type(o.tty));
    let d = d.clone();
    let id = c.id.clone();
    tokio::spawn(async move {
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
