//! `POST /containers/{id}/attach` (a hijacked connection) and `GET /containers/{id}/attach/ws` (a
//! websocket, see [`super::websocket`]). With `logs=1` the json-file log is replayed first; with
//! `stream=1` the live streams follow, through the shim (an attach made before `start` is connected by
//! `start` before the process runs). With a TTY, the detach keys (ctrl-p ctrl-q unless `detachKeys=`)
//! in the input end the attach and leave the container running.

use super::streams::{log_stream, LogOpts};
use crate::containers::model::Status;
use crate::containers::registry::PendingAttach;
use crate::containers::shim::{self, Paths};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::ReqBody;
use crate::http::{self, Query, Resp};
use hyper::{Request, StatusCode};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long the upgrade's head travels alone before a log replay follows it.
const HEAD_ALONE: std::time::Duration = std::time::Duration::from_millis(20);

/// Docker's default detach sequence: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// Parse Docker's detach key notation: comma-separated single characters or `ctrl-<x>` with `x`
/// one of `a`-`z`, `@`, `[`, `\`, `]`, `^`, `_`.
pub fn parse_detach_keys(spec: &str) -> ApiResult<Vec<u8>> {
    let bad = || ApiError::BadRequest(format!("Invalid detach keys ({spec}) provided"));
    let mut out = Vec::new();
    for key in spec.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'@'] => 0,
                [c @ (b'[' | b'\\' | b']' | b'^' | b'_')] => c - b'[' + 27,
                _ => return Err(bad()),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

/// Finds the detach sequence in the input: bytes that might start it are held back until it is
/// either complete (detach) or broken (they are passed on after all).
#[derive(Debug)]
pub struct Escape {
    keys: Vec<u8>,
    matched: usize,
}

impl Escape {
    /// Watch for `keys` (none: never detach).
    pub fn new(keys: Vec<u8>) -> Escape {
        Escape { keys, matched: 0 }
    }

    /// Feed input; what may go on to the container is appended to `out`. True once the sequence is
    /// complete (the rest of `input` is dropped).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return true;
                }
            } else {
                out.push(b);
            }
        }
        false
    }
}

/// What an attach asked for.
pub struct AttachOpts {
    /// `attach <stdin> <stdout> <stderr>` flags for the shim.
    pub flags: (bool, bool, bool),
    /// Replay the log first.
    pub logs: bool,
    /// Then follow the live streams.
    pub stream: bool,
    /// Detach sequence, watched for with a TTY only.
    pub escape: Option<Escape>,
    /// Output without the 8-byte stream headers (a TTY, or a websocket).
    pub raw: bool,
}

impl AttachOpts {
    /// From the query; `raw` forced for websockets.
    pub fn new(q: &Query, tty: bool, force_raw: bool) -> ApiResult<AttachOpts> {
        let keys = match q.get("detachKeys") {
            None | Some("") => DEFAULT_DETACH_KEYS.to_vec(),
            Some(s) => parse_detach_keys(s)?,
        };
        let flags = (q.bool("stdin"), q.bool("stdout"), q.bool("stderr"));
        Ok(AttachOpts {
            flags,
            logs: q.bool("logs"),
            stream: q.bool("stream"),
            escape: (tty && flags.0).then(|| Escape::new(keys)),
            raw: tty || force_raw,
        })
    }
}

/// Where the live streams will come from.
pub enum Live {
    /// `stream=0`: the log only.
    None,
    /// A running container: its shim, connected after the upgrade.
    Now(std::path::PathBuf),
    /// Not running: `start` connects it.
    Later(tokio::sync::oneshot::Receiver<tokio::net::UnixStream>),
}

/// Register the attach: the shim connection now or at the next start.
pub fn prepare(d: &Arc<Daemon>, key: &str, o: &AttachOpts) -> ApiResult<(Live, LogOpts, Paths)> {
    let c = d.containers.get(key)?;
    let p = Paths::new(d, &c.id, &c.runtime);
    let live = if !o.stream {
        Live::None
    } else if c.state.status == Status::Running {
        Live::Now(p.socket.clone())
    } else {
        let (tx, rx) = tokio::sync::oneshot::channel();
        d.containers
            .add_pending(&c.id, PendingAttach { flags: o.flags, tx })?;
        Live::Later(rx)
    };
    let lo = LogOpts {
        stdout: o.flags.1,
        stderr: o.flags.2,
        timestamps: false,
        details: false,
        tty: o.raw,
        since: None,
        until: None,
    };
    Ok((live, lo, p))
}

/// Copy shim frames to the client: as they are, or without the 8-byte headers.
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

/// Serve an upgraded client connection: the log, then the live streams until the container's output
/// ends, the client goes, or it sends the detach keys.
pub async fn serve<C>(client: C, mut o: AttachOpts, live: Live, lo: LogOpts, p: Paths)
where
    C: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    if o.logs {
        let mut chunks = log_stream(&p.log, &lo);
        let mut first = true;
        while let Some(chunk) = chunks.recv().await {
            if std::mem::take(&mut first) {
                // Clients such as the Python SDK read the 101 head through a buffered reader and
                // then take the raw socket: bytes that arrive with the head are lost to them. Let
                // the head go alone first (dockerd's replay starts later too).
                tokio::time::sleep(HEAD_ALONE).await;
            }
            if cw.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = cw.flush().await;
    }
    let shim = match live {
        Live::None => None,
        Live::Now(socket) => match shim::attach(&socket, o.flags).await {
            Ok(s) => Some(s),
            Err(e) => {
                crate::log!(2, "attach: {e}");
                None
            }
        },
        Live::Later(rx) => rx.await.ok(),
    };
    let Some(shim) = shim else {
        let _ = cw.shutdown().await;
        return;
    };
    let (sr, mut sw) = shim.into_split();
    let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
    let mut escape = o.escape.take();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut out = Vec::with_capacity(buf.len());
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            out.clear();
            let detach = match escape.as_mut() {
                Some(e) => e.feed(&buf[..n], &mut out),
                None => {
                    out.extend_from_slice(&buf[..n]);
                    false
                }
            };
            if !out.is_empty() && sw.write_all(&out).await.is_err() {
                break;
            }
            if detach {
                let _ = detached_tx.send(());
                // The container keeps its stdin: the shim connection just goes.
                return;
            }
        }
        let _ = sw.shutdown().await;
    });
    tokio::select! {
        _ = copy_frames(sr, &mut cw, o.raw) => {}
        Ok(()) = detached_rx => {}
    }
    let _ = cw.shutdown().await;
    up.abort();
}

/// The answer to a hijacking request.
pub fn upgrade_response(raw: bool) -> Resp {
    let mut r = http::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    let ct = if raw {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    h.insert("Content-Type", ct.parse().expect("header"));
    h.insert("Connection", "Upgrade".parse().expect("header"));
    h.insert("Upgrade", "tcp".parse().expect("header"));
    r
}

/// `POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=&detachKeys=`.
pub async fn attach(
    d: &Arc<Daemon>,
    key: &str,
    q: &Query,
    mut req: Request<ReqBody>,
) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    let o = AttachOpts::new(q, c.spec.tty, false)?;
    let raw = o.raw;
    let (live, lo, p) = prepare(d, key, &o)?;
    d.events.container(&c, "attach", &[]);
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        serve(hyper_util::rt::TokioIo::new(up), o, live, lo, p).await;
    });
    Ok(upgrade_response(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_key_notation() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-x").unwrap(), vec![24]);
        assert_eq!(
            parse_detach_keys("a,ctrl-@,ctrl-_").unwrap(),
            vec![b'a', 0, 31]
        );
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("ab").is_err());
        assert!(parse_detach_keys("ctrl-1").is_err());
    }

    #[test]
    fn escape_holds_back_a_prefix_and_detaches_on_the_whole_sequence() {
        let mut e = Escape::new(vec![16, 17]);
        let mut out = Vec::new();
        assert!(!e.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        // A broken sequence is passed on after all.
        assert!(!e.feed(b"c", &mut out));
        assert_eq!(out, b"ab\x10c");
        out.clear();
        assert!(!e.feed(b"\x10\x10", &mut out));
        assert_eq!(out, b"\x10");
        assert!(e.feed(b"\x11rest", &mut out));
        assert_eq!(out, b"\x10");
        let mut one = Escape::new(vec![24]);
        out.clear();
        assert!(one.feed(b"xy\x18z", &mut out));
        assert_eq!(out, b"xy");
    }
}
