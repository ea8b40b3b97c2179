//! The Engine API server: unix sockets and mutual-TLS TCP sockets, hyper connections (with upgrades for attach), the `/vX.Y`
//! prefix, routing to the handlers, and the common response headers.

mod archive;
mod attach;
mod build;
mod container_fs;
mod containers;
mod events;
mod exec;
mod images;
mod networks;
mod prune;
mod registry;
mod stats;
mod streams;
mod system;
mod top;
mod volumes;
mod websocket;

pub use images::keep_replaced_as_dangling;
pub use registry::pull_blocking;

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{Query, Resp};
use anyhow::{bail, Context, Result};
use hyper::body::Incoming;
use hyper::{Method, Request};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use tokio::net::{TcpListener, UnixListener};

/// The newest API version served (what `/_ping` and `/version` advertise).
pub const API_VERSION: &str = "1.47";
/// The oldest accepted.
pub const MIN_API_VERSION: &str = "1.24";

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn bind(path: &std::path::Path) -> Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{} is in use by another daemon", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("remove stale {}", path.display()))?;
    }
    let l = UnixListener::bind(path).with_context(|| format!("listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(l)
}

/// Serve one connection (plain unix stream or TLS over TCP), with upgrades for attach and exec.
async fn serve_conn<S>(d: Arc<Daemon>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let d = d.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(d, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
        .with_upgrades();
    if let Err(e) = conn.await {
        crate::log!(0, "connection: {e}");
    }
}

/// Accept TCP connections; each is served only after a TLS handshake with a verified client certificate.
fn spawn_tcp(d: Arc<Daemon>, l: TcpListener, tls: Arc<rustls::ServerConfig>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match l.accept().await {
                Ok(s) => s,
                Err(e) => {
                    crate::log!(3, "accept: {e}");
                    continue;
                }
            };
            let (d, acceptor) = (d.clone(), acceptor.clone());
            tokio::spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => serve_conn(d, tls).await,
                    Err(e) => crate::log!(2, "TLS handshake with {peer} failed: {e}"),
                }
            });
        }
    });
}

/// Serve every configured socket until SIGINT/SIGTERM.
pub async fn serve(d: Arc<Daemon>) -> Result<()> {
    let mut listeners = Vec::new();
    for s in &d.cfg.sockets {
        listeners.push((bind(s)?, s.clone()));
    }
    let mut tcp = Vec::new();
    for a in &d.cfg.tcp {
        let l = TcpListener::bind(a)
            .await
            .with_context(|| format!("listen on tcp://{a}"))?;
        tcp.push(l);
    }
    if let Some(tls) = &d.cfg.tls {
        for l in tcp {
            crate::log!(1, "API listening on tcp://{} (mutual TLS)", l.local_addr()?);
            spawn_tcp(d.clone(), l, tls.clone());
        }
    }
    for (l, path) in listeners {
        crate::log!(1, "API listening on {}", path.display());
        let d = d.clone();
        tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve_conn(d.clone(), stream));
                    }
                    Err(e) => crate::log!(3, "accept: {e}"),
                }
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    crate::log!(1, "shutting down (containers keep running)");
    for s in &d.cfg.sockets {
        let _ = std::fs::remove_file(s);
    }
    Ok(())
}

async fn handle(d: Arc<Daemon>, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    crate::log!(0, "{method} {}", req.uri());
    let mut resp = match route(d, req).await {
        Ok(r) => r,
        Err(e) => {
            if e.status().is_server_error() {
                crate::log!(3, "{method} {path}: {e}");
            }
            e.into_response()
        }
    };
    let h = resp.headers_mut();
    h.insert("Api-Version", API_VERSION.parse().expect("header"));
    h.insert("Docker-Experimental", "false".parse().expect("header"));
    h.insert("Ostype", "linux".parse().expect("header"));
    h.insert(
        "Server",
        format!("Berth/{} (linux)", env!("CARGO_PKG_VERSION"))
            .parse()
            .expect("header"),
    );
    resp
}

/// `%XX` escapes of a path segment decoded (invalid ones and non-UTF-8 results left as they are).
fn percent_decode(seg: &str) -> String {
    if !seg.contains('%') {
        return seg.to_string();
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| seg.to_string())
}

/// Strip `/vX.Y`, checking the version is one we serve.
fn strip_version(path: &str) -> ApiResult<&str> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some(v) = parse_version(ver) else {
        return Ok(path);
    };
    let min = parse_version(MIN_API_VERSION).expect("min version");
    let max = parse_version(API_VERSION).expect("max version");
    if v < min {
        return Err(ApiError::BadRequest(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if v > max {
        return Err(ApiError::BadRequest(format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok(tail)
}

async fn route(d: Arc<Daemon>, req: Request<Incoming>) -> ApiResult<Resp> {
    let full = req.uri().path().to_string();
    let path = strip_version(&full)?.to_string();
    let q = Query::parse(req.uri().query());
    // Each segment percent-decoded (a network named "test 01" arrives as test%2001).
    let owned: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let m = req.method().clone();
    use Method as M;
    match (&m, segs.as_slice()) {
        (&M::GET | &M::HEAD, ["_ping"]) => {
            // The docker CLI pings before every command; when that command is `run`, the
            // container's cgroup migration follows within milliseconds (see containers::warmup).
            d.warmup.kick();
            system::ping(&m)
        }
        (&M::GET, ["version"]) => system::version(&d),
        (&M::GET, ["info"]) => system::info(&d).await,
        (&M::GET, ["events"]) => events::events(&d, &q).await,

        (&M::GET, ["images", "json"]) => images::list(&d, &q).await,
        (&M::POST, ["images", "load"]) => images::load(&d, &q, req).await,
        (&M::POST, ["images", "create"]) => images::create(&d, &q, req).await,
        (&M::GET, ["images", "get"]) => images::save(&d, q.all("names")).await,
        (&M::GET, ["images", name @ .., "get"]) if !name.is_empty() => {
            images::save(&d, vec![name.join("/")]).await
        }
        (&M::GET, ["images", name @ .., "history"]) if !name.is_empty() => {
            images::history(&d, &name.join("/")).await
        }
        (&M::GET, ["images", name @ .., "json"]) if !name.is_empty() => {
            images::inspect(&d, &name.join("/")).await
        }
        (&M::POST, ["images", name @ .., "tag"]) if !name.is_empty() => {
            images::tag(&d, &name.join("/"), &q).await
        }
        (&M::POST, ["images", "prune"]) => images::prune(&d, &q).await,
        (&M::GET, ["images", "search"]) => registry::search(&q, req.headers()).await,
        (&M::POST, ["images", name @ .., "push"]) if !name.is_empty() => {
            let headers = req.headers().clone();
            registry::push(&d, &name.join("/"), &q, &headers).await
        }
        (&M::POST, ["auth"]) => registry::auth(req.into_body()).await,
        (&M::GET, ["distribution", name @ .., "json"]) if !name.is_empty() => {
            let headers = req.headers().clone();
            registry::distribution(&d, &name.join("/"), &headers).await
        }
        (&M::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            images::delete(&d, &name.join("/"), &q).await
        }

        (&M::POST, ["containers", "create"]) => containers::create(&d, &q, req).await,
        (&M::POST, ["containers", "prune"]) => containers::prune(&d, &q).await,
        (&M::POST, ["containers", id, "rename"]) => containers::rename(&d, id, &q).await,
        (&M::GET, ["containers", id, "export"]) => container_fs::export(&d, id).await,
        (&M::POST, ["containers", id, "exec"]) => exec::create(&d, id, req).await,
        (&M::POST, ["exec", id, "start"]) => exec::start(&d, id, req).await,
        (&M::GET, ["exec", id, "json"]) => exec::inspect(&d, id),
        (&M::POST, ["exec", id, "resize"]) => exec::resize(&d, id, &q),
        (&M::HEAD, ["containers", id, "archive"]) => archive::head(&d, id, &q).await,
        (&M::GET, ["containers", id, "archive"]) => archive::get(&d, id, &q).await,
        (&M::PUT, ["containers", id, "archive"]) => archive::put(&d, id, &q, req).await,
        (&M::GET, ["containers", id, "stats"]) => stats::stats(&d, id, &q).await,
        (&M::GET, ["containers", id, "top"]) => top::top(&d, id),
        (&M::GET, ["containers", id, "changes"]) => container_fs::changes(&d, id).await,
        (&M::GET, ["networks"]) => networks::list(&d, &q).await,
        (&M::POST, ["networks", "create"]) => networks::create(&d, req.into_body()).await,
        (&M::POST, ["networks", "prune"]) => networks::prune(&d, &q).await,
        (&M::GET, ["networks", id]) => networks::inspect(&d, id).await,
        (&M::DELETE, ["networks", id]) => networks::delete(&d, id).await,
        (&M::POST, ["networks", id, "connect"]) => networks::connect(&d, id, req.into_body()).await,
        (&M::POST, ["networks", id, "disconnect"]) => {
            networks::disconnect(&d, id, req.into_body()).await
        }
        (&M::POST, ["volumes", "create"]) => volumes::create(&d, req.into_body()).await,
        (&M::POST, ["volumes", "prune"]) => volumes::prune(&d, &q).await,
        (&M::GET, ["volumes"]) => volumes::list(&d, &q).await,
        (&M::GET, ["volumes", name]) => volumes::inspect(&d, name).await,
        (&M::DELETE, ["volumes", name]) => volumes::delete(&d, name, &q).await,
        (&M::POST, ["build"]) => build::build(&d, &q, req).await,
        (&M::POST, ["build", "prune"]) => build::prune(&d, &q).await,
        (&M::POST, ["commit"]) => container_fs::commit(&d, &q, req).await,
        (&M::GET, ["system", "df"]) => system::df(&d).await,
        (&M::GET, ["containers", "json"]) => containers::list(&d, &q),
        (&M::GET, ["containers", id, "json"]) => containers::inspect(&d, id),
        (&M::POST, ["containers", id, "start"]) => containers::start(&d, id).await,
        (&M::POST, ["containers", id, "stop"]) => containers::stop(&d, id, &q).await,
        (&M::POST, ["containers", id, "restart"]) => containers::restart(&d, id, &q).await,
        (&M::POST, ["containers", id, "pause"]) => containers::pause(&d, id, true).await,
        (&M::POST, ["containers", id, "unpause"]) => containers::pause(&d, id, false).await,
        (&M::POST, ["containers", id, "update"]) => containers::update(&d, id, req).await,
        (&M::POST, ["containers", id, "kill"]) => containers::kill(&d, id, &q).await,
        (&M::POST, ["containers", id, "wait"]) => containers::wait(&d, id, &q).await,
        (&M::DELETE, ["containers", id]) => containers::delete(&d, id, &q).await,
        (&M::DELETE, ["containers", parent, alias]) => {
            containers::delete(&d, &format!("{parent}/{alias}"), &q).await
        }
        (&M::POST, ["containers", id, "attach"]) => attach::attach(&d, id, &q, req).await,
        (&M::GET, ["containers", id, "attach", "ws"]) => {
            let version = full
                .strip_prefix("/v")
                .and_then(|r| r.split('/').next())
                .and_then(parse_version);
            websocket::attach_ws(&d, id, &q, version, req).await
        }
        (&M::GET, ["containers", id, "logs"]) => streams::logs(&d, id, &q).await,
        (&M::POST, ["containers", id, "resize"]) => streams::resize(&d, id, &q).await,
        (_, [first, rest @ ..]) if system::is_swarm_path(first) => {
            Err(system::not_a_swarm_node(first, rest))
        }
        _ => Err(ApiError::NotFound(format!("page not found: {m} {full}"))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(super::percent_decode("test%2001"), "test 01");
        assert_eq!(super::percent_decode("a%zz%2"), "a%zz%2");
        assert_eq!(super::percent_decode("plain"), "plain");
    }

    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            strip_version("/v1.41/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/_ping").unwrap(), "/_ping");
        assert!(strip_version("/v1.12/info").is_err());
        assert!(strip_version("/v1.99/info").is_err());
        assert_eq!(strip_version("/v1.24/version").unwrap(), "/version");
    }
}
