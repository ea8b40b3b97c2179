//! The wire: one HTTP/1.1 `POST /<Interface>.<Method>` per call with dockerd's `Accept` header, over a
//! unix socket or TCP. [`PluginTransport`] is the seam; [`HttpTransport`] the real one and
//! [`FakeTransport`] answers from a table in unit tests.

use crate::discovery::Addr;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The media type dockerd sends in `Accept` (the docs say v1; dockerd's code and traffic say v1.2).
pub const ACCEPT: &str = "application/vnd.docker.plugins.v1.2+json";

/// The most a plugin's answer may hold (a `List` of many volumes stays far below).
const MAX_ANSWER: usize = 16 << 20;

/// A transport failure.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Could not reach the plugin (retried while it may be starting).
    #[error("{0}")]
    Connect(String),
    /// Reached it, but the exchange failed (not retried: the call may have had effects).
    #[error("{0}")]
    Exchange(String),
    /// No answer within the call's time limit.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The address kind cannot be used (yet).
    #[error("{0}")]
    Unsupported(String),
}

/// A plugin's HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Bytes,
}

/// A boxed future (the trait is used as `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends one call to a plugin. `path` is `/Interface.Method`; `body` is the JSON (empty for none).
pub trait PluginTransport: Send + Sync {
    /// One request and its answer, within `timeout`.
    fn post<'a>(
        &'a self,
        path: &'a str,
        body: Bytes,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Answer, TransportError>>;
}

/// HTTP/1.1 over a unix socket, TCP or TLS, a fresh connection per call.
pub struct HttpTransport {
    addr: Addr,
    /// For TLS addresses: the client config, or why there is none (an unreadable CA file...).
    tls: Option<Result<Arc<rustls::ClientConfig>, String>>,
}

impl HttpTransport {
    /// A transport to `addr`.
    pub fn new(addr: Addr) -> HttpTransport {
        let tls = match &addr {
            Addr::Tls { tls, .. } => Some(crate::tls::client_config(tls)),
            _ => None,
        };
        HttpTransport { addr, tls }
    }
}

async fn exchange<S>(io: S, host: &str, path: &str, body: Bytes) -> Result<Answer, TransportError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| TransportError::Connect(format!("handshake: {e}")))?;
    let driver = tokio::spawn(conn);
    let req = hyper::Request::post(path)
        .header("Host", host)
        .header("Accept", ACCEPT)
        .header("Content-Length", body.len())
        .body(Full::new(body))
        .map_err(|e| TransportError::Exchange(e.to_string()))?;
    let res = send
        .send_request(req)
        .await
        .map_err(|e| TransportError::Exchange(format!("POST {path}: {e}")))?;
    let status = res.status().as_u16();
    let mut body = res.into_body();
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| TransportError::Exchange(format!("reading answer: {e}")))?;
        if let Some(d) = frame.data_ref() {
            if out.len() + d.len() > MAX_ANSWER {
                return Err(TransportError::Exchange(format!(
                    "answer larger than {MAX_ANSWER} bytes"
                )));
            }
            out.extend_from_slice(d);
        }
    }
    driver.abort();
    Ok(Answer {
        status,
        body: out.freeze(),
    })
}

impl PluginTransport for HttpTransport {
    fn post<'a>(
        &'a self,
        path: &'a str,
        body: Bytes,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Answer, TransportError>> {
        Box::pin(async move {
            let call = async {
                match &self.addr {
                    Addr::Unix(p) => {
                        let s = tokio::net::UnixStream::connect(p).await.map_err(|e| {
                            TransportError::Connect(format!("dial unix {}: {e}", p.display()))
                        })?;
                        // dockerd's host for unix plugins is the escaped socket path; any works.
                        exchange(s, "plugin", path, body).await
                    }
                    Addr::Tcp(hp) => {
                        let s = tokio::net::TcpStream::connect(hp)
                            .await
                            .map_err(|e| TransportError::Connect(format!("dial tcp {hp}: {e}")))?;
                        exchange(s, hp, path, body).await
                    }
                    Addr::Tls { host_port, .. } => {
                        let cfg = match &self.tls {
                            Some(Ok(c)) => c.clone(),
                            Some(Err(e)) => return Err(TransportError::Unsupported(e.clone())),
                            None => {
                                return Err(TransportError::Unsupported("no TLS settings".into()))
                            }
                        };
                        let host = host_port
                            .rsplit_once(':')
                            .map(|(h, _)| h)
                            .unwrap_or(host_port)
                            .trim_start_matches('[')
                            .trim_end_matches(']');
                        let name = rustls::pki_types::ServerName::try_from(host.to_string())
                            .map_err(|e| TransportError::Unsupported(format!("{host}: {e}")))?;
                        let s = tokio::net::TcpStream::connect(host_port)
                            .await
                            .map_err(|e| {
                                TransportError::Connect(format!("dial tcp {host_port}: {e}"))
                            })?;
                        let s = tokio_rustls::TlsConnector::from(cfg)
                            .connect(name, s)
                            .await
                            .map_err(|e| {
                                TransportError::Exchange(format!("TLS with {host_port}: {e}"))
                            })?;
                        exchange(s, host_port, path, body).await
                    }
                }
            };
            match tokio::time::timeout(timeout, call).await {
                Ok(r) => r,
                Err(_) => Err(TransportError::Timeout(timeout)),
            }
        })
    }
}

/// One canned answer of the fake: (status, body), or a connection failure.
pub type FakeAnswer = Result<(u16, String), String>;

/// A transport for unit tests: answers each path from a table (unknown paths: 404) and records
/// every call. A path may hold a queue of answers; the last one repeats.
#[derive(Default, Clone)]
pub struct FakeTransport {
    answers: Arc<Mutex<std::collections::HashMap<String, Vec<FakeAnswer>>>>,
    /// Every call made: (path, body).
    pub calls: Arc<Mutex<Vec<(String, String)>>>,
}

impl FakeTransport {
    /// Answer `path` with `status` and `body` (queued behind earlier answers for it).
    pub fn answer(&self, path: &str, status: u16, body: &str) -> &Self {
        self.queue(path, Ok((status, body.to_string())))
    }

    /// Queue an answer (or a connection failure) for `path`.
    pub fn queue(&self, path: &str, a: FakeAnswer) -> &Self {
        self.answers
            .lock()
            .expect("fake")
            .entry(path.to_string())
            .or_default()
            .push(a);
        self
    }

    /// The paths called so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.calls
            .lock()
            .expect("fake")
            .iter()
            .map(|c| c.0.clone())
            .collect()
    }
}

impl PluginTransport for FakeTransport {
    fn post<'a>(
        &'a self,
        path: &'a str,
        body: Bytes,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Answer, TransportError>> {
        self.calls.lock().expect("fake").push((
            path.to_string(),
            String::from_utf8_lossy(&body).into_owned(),
        ));
        let a = {
            let mut m = self.answers.lock().expect("fake");
            match m.get_mut(path) {
                Some(q) if q.len() > 1 => q.remove(0),
                Some(q) if q.len() == 1 => q[0].clone(),
                _ => Ok((404, "404 page not found".to_string())),
            }
        };
        Box::pin(async move {
            match a {
                Ok((status, body)) => Ok(Answer {
                    status,
                    body: Bytes::from(body),
                }),
                Err(e) => Err(TransportError::Connect(e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn http_over_a_unix_socket_with_dockerds_accept_header() {
        let t = tempfile::tempdir().unwrap();
        let sock = t.path().join("p.sock");
        let l = tokio::net::UnixListener::bind(&sock).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !String::from_utf8_lossy(&buf).contains("{\"Name\":\"v\"}") {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&buf));
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = r#"{"Mountpoint":"/m"}"#;
            let resp = format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}");
            s.write_all(resp.as_bytes()).await.unwrap();
            s.shutdown().await.unwrap();
            String::from_utf8(buf).unwrap()
        });
        let tr = HttpTransport::new(Addr::Unix(sock.clone()));
        let a = tr
            .post(
                "/VolumeDriver.Path",
                Bytes::from_static(b"{\"Name\":\"v\"}"),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(
            (a.status, &a.body[..]),
            (200, &br#"{"Mountpoint":"/m"}"#[..])
        );
        let req = server.await.unwrap();
        assert!(
            req.starts_with("POST /VolumeDriver.Path HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(
            req.to_ascii_lowercase()
                .contains(&format!("accept: {ACCEPT}")),
            "{req}"
        );
        drop(tr);
        std::fs::remove_file(&sock).unwrap();
        let tr = HttpTransport::new(Addr::Unix(sock));
        let e = tr
            .post("/X.Y", Bytes::new(), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(e, TransportError::Connect(_)), "{e}");
    }

    #[tokio::test]
    async fn tcp_and_the_time_limit() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            // First connection: answered. Second: accepted and never answered.
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .await
                .unwrap();
            let (silent, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(silent);
        });
        let tr = HttpTransport::new(Addr::Tcp(addr));
        let a = tr
            .post("/Plugin.Activate", Bytes::new(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"{}"[..]));
        let start = std::time::Instant::now();
        let e = tr
            .post("/Plugin.Activate", Bytes::new(), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(e, TransportError::Timeout(_)), "{e}");
        assert!(start.elapsed() < Duration::from_secs(2));
        server.abort();
    }
}
