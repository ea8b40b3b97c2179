//! `GET /containers/{id}/attach/ws`: an attach over a websocket (RFC 6455, server side). The
//! handshake answers `Sec-WebSocket-Key`; then the client's text or binary messages are the
//! container's stdin and its output goes back as messages (binary from API 1.42 on, text before, as
//! Docker does), without stream headers. The attach itself is [`super::attach::serve`] on one end
//! of an in-memory pipe; this module only translates frames.

use super::attach::{self, AttachOpts};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::ReqBody;
use crate::http::{self, Query, Resp};
use base64::Engine;
use hyper::{Request, StatusCode};
use sha1::Digest;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Larger client messages are refused (stdin comes in small pieces).
const MAX_PAYLOAD: u64 = 1 << 20;

const OP_CONT: u8 = 0;
const OP_TEXT: u8 = 1;
const OP_BINARY: u8 = 2;
const OP_CLOSE: u8 = 8;
const OP_PING: u8 = 9;
const OP_PONG: u8 = 10;

/// `Sec-WebSocket-Accept` for a client's key.
pub fn accept_key(key: &str) -> String {
    let mut h = sha1::Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// One unmasked frame, FIN set (what a server sends).
pub fn encode_frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x80 | op);
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= 0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// Read one frame: (opcode, unmasked payload); `None` at end of stream or on a malformed frame.
pub async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await.ok()?;
    let op = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).await.ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).await.ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > MAX_PAYLOAD {
        return None;
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).await.ok()?;
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await.ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Some((op, payload))
}

/// Translate between the websocket `conn` and the byte stream `inner` until either side ends.
async fn bridge<C, I>(conn: C, inner: I, data_op: u8)
where
    C: AsyncRead + AsyncWrite,
    I: AsyncRead + AsyncWrite,
{
    let (mut cr, mut cw) = tokio::io::split(conn);
    let (mut ir, mut iw) = tokio::io::split(inner);
    let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::channel::<(u8, Vec<u8>)>(4);
    let incoming = async move {
        while let Some((op, payload)) = read_frame(&mut cr).await {
            match op {
                OP_CONT | OP_TEXT | OP_BINARY if iw.write_all(&payload).await.is_err() => break,
                OP_PING => {
                    let _ = ctl_tx.send((OP_PONG, payload)).await;
                }
                OP_CLOSE => {
                    let _ = ctl_tx.send((OP_CLOSE, Vec::new())).await;
                    // The outgoing side answers the close and ends the bridge.
                    std::future::pending::<()>().await;
                }
                _ => {}
            }
        }
        let _ = iw.shutdown().await;
        // Input is over; output may still come.
        std::future::pending::<()>().await;
    };
    let outgoing = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            tokio::select! {
                r = ir.read(&mut buf) => {
                    let n = match r {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if cw.write_all(&encode_frame(data_op, &buf[..n])).await.is_err() {
                        return;
                    }
                    let _ = cw.flush().await;
                }
                Some((op, payload)) = ctl_rx.recv() => {
                    let _ = cw.write_all(&encode_frame(op, &payload)).await;
                    if op == OP_CLOSE {
                        let _ = cw.shutdown().await;
                        return;
                    }
                }
            }
        }
        let _ = cw.write_all(&encode_frame(OP_CLOSE, &[])).await;
        let _ = cw.shutdown().await;
    };
    tokio::select! {
        _ = incoming => {}
        _ = outgoing => {}
    }
}

/// `GET /containers/{id}/attach/ws?logs=&stream=&stdin=&stdout=&stderr=&detachKeys=`.
pub async fn attach_ws(
    d: &Arc<Daemon>,
    key: &str,
    q: &Query,
    api_version: Option<(u32, u32)>,
    mut req: Request<ReqBody>,
) -> ApiResult<Resp> {
    let client_key = req
        .headers()
        .get("Sec-WebSocket-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let wants_ws = req
        .headers()
        .get("Upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let (Some(client_key), true) = (client_key, wants_ws) else {
        return Err(ApiError::BadRequest(
            "not a websocket handshake: Upgrade: websocket and Sec-WebSocket-Key are required"
                .into(),
        ));
    };
    let c = d.containers.get(key)?;
    let o = AttachOpts::new(q, c.spec.tty, true)?;
    let (live, lo, p) = attach::prepare(d, key, &o)?;
    let data_op = if api_version.is_none_or(|v| v >= (1, 42)) {
        OP_BINARY
    } else {
        OP_TEXT
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let serve = attach::serve(theirs, o, live, lo, p);
        let bridge = bridge(hyper_util::rt::TokioIo::new(up), ours, data_op);
        tokio::join!(serve, bridge);
    });
    let mut r = http::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert("Upgrade", "websocket".parse().expect("header"));
    h.insert("Connection", "Upgrade".parse().expect("header"));
    h.insert(
        "Sec-WebSocket-Accept",
        accept_key(&client_key)
            .parse()
            .map_err(ApiError::internal)?,
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn frames_round_trip_masked_and_long() {
        let long = vec![7u8; 70_000];
        for payload in [b"hi".to_vec(), vec![1u8; 300], long] {
            let mut f = encode_frame(OP_BINARY, &payload);
            // Mask it as a client would.
            let mask = [1u8, 2, 3, 4];
            let at = f.len() - payload.len();
            f[1] |= 0x80;
            let mut masked = f[..at].to_vec();
            masked.extend_from_slice(&mask);
            masked.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            let (op, got) = read_frame(&mut &masked[..]).await.unwrap();
            assert_eq!((op, got), (OP_BINARY, payload));
        }
        assert!(read_frame(&mut &[0x81u8][..]).await.is_none());
    }
}
