//! The Engine API server: unix sockets and mutual-TLS TCP sockets, hyper connections (with upgrades for attach), the `/vX.Y`
//! prefix, routing to the handlers, and the common response headers.

mod archive;
mod attach;
mod authz;
mod build;
mod container_fs;
mod containers;
mod events;
mod exec;
mod images;
mod networks;
mod plugins;
mod profiles;
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
use crate::http::{Query, ReqBody, Resp};
use anyhow::{bail, Context, Result};
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

/// The API version a request's path names (`/v1.44/...`), or ours when it names none.
fn request_api(path: &str) -> (u32, u32) {
    path.strip_prefix("/v")
        .and_then(|r| r.split('/').next())
        .and_then(parse_version)
        .or_else(|| parse_version(API_VERSION))
        .unwrap_or((1, 47))
}

fn bind(path: &std::path::Path, group: Option<nix::unistd::Gid>) -> Result<UnixListener> {
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
    if let Some(gid) = group {
        nix::unistd::chown(path, None, Some(gid))
            .with_context(|| format!("give {} to group {gid}", path.display()))?;
    }
    Ok(l)
}

/// Tells the accept loops and connections that the daemon is shutting down; its receivers'
/// count is the number of connections still open.
#[derive(Clone)]
struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    async fn wait(&mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }
}

/// Serve one connection (plain unix stream or TLS over TCP), with upgrades for attach and exec. On
/// shutdown, a request in flight is finished and the connection then closed.
async fn serve_conn<S>(d: Arc<Daemon>, stream: S, mut stop: Shutdown)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let d = d.clone();
        async move {
            let req = req.map(|b: hyper::body::Incoming| http_body_util::BodyExt::boxed(b));
            Ok::<_, std::convert::Infallible>(handle(d, req).await)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let res = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.wait() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = res {
        crate::log!(0, "connection: {e}");
    }
}

/// Accept TCP connections; each is served only after a TLS handshake with a verified client certificate.
fn spawn_tcp(d: Arc<Daemon>, l: TcpListener, tls: Arc<rustls::ServerConfig>, stop: Shutdown) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        let mut stopping = stop.clone();
        loop {
            let (stream, peer) = tokio::select! {
                r = l.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        crate::log!(3, "accept: {e}");
                        continue;
                    }
                },
                _ = stopping.wait() => return,
            };
            let (d, acceptor, stop) = (d.clone(), acceptor.clone(), stop.clone());
            tokio::spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => serve_conn(d, tls, stop).await,
                    Err(e) => crate::log!(2, "TLS handshake with {peer} failed: {e}"),
                }
            });
        }
    });
}

/// Accept on a unix socket until shutdown (the listener is then closed).
fn spawn_unix(d: Arc<Daemon>, l: UnixListener, stop: Shutdown) {
    tokio::spawn(async move {
        let mut stopping = stop.clone();
        loop {
            tokio::select! {
                r = l.accept() => match r {
                    Ok((stream, _)) => {
                        tokio::spawn(serve_conn(d.clone(), stream, stop.clone()));
                    }
                    Err(e) => crate::log!(3, "accept: {e}"),
                },
                _ = stopping.wait() => return,
            }
        }
    });
}

/// The unix sockets systemd passed (`-H fd://`).
fn activated(d: &Daemon) -> Result<Vec<UnixListener>> {
    let fds = std::mem::take(&mut *d.cfg.listen_fds.lock().unwrap_or_else(|e| e.into_inner()));
    fds.into_iter()
        .map(|fd| {
            use std::os::fd::AsRawFd;
            // Only unix stream sockets are served here (TCP needs mutual TLS: use -H tcp://).
            nix::sys::socket::getsockname::<nix::sys::socket::UnixAddr>(fd.as_raw_fd())
                .map_err(|_| anyhow::anyhow!("-H fd://: a passed socket is not a unix socket"))?;
            let l = std::os::unix::net::UnixListener::from(fd);
            l.set_nonblocking(true)?;
            UnixListener::from_std(l).context("-H fd://: the passed socket")
        })
        .collect()
}

/// Serve every configured socket until SIGINT/SIGTERM; SIGHUP reloads the configuration (`argv`
/// and daemon.json read again). On SIGTERM the listeners close, requests in flight get up to the
/// shutdown timeout to finish, the sockets are removed, and containers keep running.
pub async fn serve(d: Arc<Daemon>, argv: Vec<String>) -> Result<()> {
    // Handlers first: a signal that arrives once the first request has been answered must find them.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = Shutdown(stop_rx);
    let mut listeners = Vec::new();
    for s in &d.cfg.sockets {
        listeners.push((bind(s, d.cfg.socket_group)?, s.display().to_string()));
    }
    for l in activated(&d)? {
        listeners.push((l, "the socket systemd passed (fd://)".to_string()));
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
            spawn_tcp(d.clone(), l, tls.clone(), stop.clone());
        }
    }
    for (l, what) in listeners {
        crate::log!(1, "API listening on {what}");
        spawn_unix(d.clone(), l, stop.clone());
    }
    loop {
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = hup.recv() => crate::live::reload(&d, &argv),
        }
    }
    let timeout = std::time::Duration::from_secs(d.live().shutdown_timeout);
    crate::log!(
        1,
        "shutting down: no new requests, up to {}s for those in flight (containers keep running)",
        timeout.as_secs()
    );
    let _ = stop_tx.send(true);
    drop(stop);
    for s in &d.cfg.sockets {
        let _ = std::fs::remove_file(s);
    }
    // Every open connection holds a receiver; wait until they are all done, or the timeout.
    let t = std::time::Instant::now();
    while stop_tx.receiver_count() > 0 && t.elapsed() < timeout {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if stop_tx.receiver_count() > 0 {
        crate::log!(
            2,
            "shutdown timeout: {} connection(s) still busy are cut",
            stop_tx.receiver_count()
        );
    }
    Ok(())
}

async fn handle(d: Arc<Daemon>, req: Request<ReqBody>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let experimental = if d.cfg.experimental { "true" } else { "false" };
    crate::log!(0, "{method} {}", req.uri());
    let routed = if d.cfg.authz.is_empty() {
        route(d, req).await
    } else {
        authorized(d, req).await
    };
    let mut resp = match routed {
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
    h.insert("Docker-Experimental", experimental.parse().expect("header"));
    h.insert("Ostype", "linux".parse().expect("header"));
    h.insert(
        "Server",
        format!("Berth/{} (linux)", env!("CARGO_PKG_VERSION"))
            .parse()
            .expect("header"),
    );
    resp
}

/// A request through the authorization plugins: asked before routing and again with the response.
async fn authorized(d: Arc<Daemon>, req: Request<ReqBody>) -> ApiResult<Resp> {
    let (req, a) = authz::check_request(&d, req).await?;
    let resp = match route(d.clone(), req).await {
        Ok(r) => r,
        Err(e) => {
            if e.status().is_server_error() {
                crate::log!(3, "{}: {e}", a.uri);
            }
            e.into_response()
        }
    };
    authz::check_response(&d, a, resp).await
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

async fn route(d: Arc<Daemon>, req: Request<ReqBody>) -> ApiResult<Resp> {
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
            d.warm_cgroups();
            system::ping(&m)
        }
        (&M::GET, ["version"]) => system::version(&d),
        (&M::GET, ["info"]) => system::info(&d).await,
        (&M::GET, ["events"]) => events::events(&d, &q).await,

        (&M::GET, ["images", "json"]) => images::list(&d, &q, request_api(&full)).await,
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
            images::inspect(&d, &name.join("/"), request_api(&full)).await
        }
        (&M::POST, ["images", name @ .., "tag"]) if !name.is_empty() => {
            images::tag(&d, &name.join("/"), &q).await
        }
        (&M::POST, ["images", "prune"]) => images::prune(&d, &q).await,
        (&M::GET, ["images", "search"]) => registry::search(&d, &q, req.headers()).await,
        (&M::POST, ["images", name @ .., "push"]) if !name.is_empty() => {
            let headers = req.headers().clone();
            registry::push(&d, &name.join("/"), &q, &headers).await
        }
        (&M::POST, ["auth"]) => registry::auth(&d, req.into_body()).await,
        (&M::GET, ["distribution", name @ .., "json"]) if !name.is_empty() => {
            let headers = req.headers().clone();
            registry::distribution(&d, &name.join("/"), &headers).await
        }
        (&M::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            images::delete(&d, &name.join("/"), &q).await
        }

        (&M::GET, ["plugins"]) => plugins::list(&d, &q),
        (&M::GET, ["plugins", "privileges"]) => {
            plugins::privileges(&d, &q, &req.headers().clone()).await
        }
        (&M::POST, ["plugins", "pull"]) => {
            let headers = req.headers().clone();
            plugins::pull(&d, &q, &headers, req.into_body()).await
        }
        (&M::POST, ["plugins", "create"]) => plugins::create(&d, &q, req).await,
        (&M::GET, ["plugins", name @ .., "json"]) if !name.is_empty() => {
            plugins::inspect(&d, &name.join("/"))
        }
        (&M::POST, ["plugins", name @ .., "enable"]) if !name.is_empty() => {
            plugins::enable(&d, &name.join("/"), &q).await
        }
        (&M::POST, ["plugins", name @ .., "disable"]) if !name.is_empty() => {
            plugins::disable(&d, &name.join("/"), &q).await
        }
        (&M::POST, ["plugins", name @ .., "push"]) if !name.is_empty() => {
            plugins::push(&d, &name.join("/"), &req.headers().clone()).await
        }
        (&M::POST, ["plugins", name @ .., "set"]) if !name.is_empty() => {
            plugins::set(&d, &name.join("/"), req.into_body()).await
        }
        (&M::POST, ["plugins", name @ .., "upgrade"]) if !name.is_empty() => {
            let headers = req.headers().clone();
            plugins::upgrade(&d, &name.join("/"), &q, &headers, req.into_body()).await
        }
        (&M::DELETE, ["plugins", name @ ..]) if !name.is_empty() => {
            plugins::remove(&d, &name.join("/"), &q).await
        }
        (&M::GET, ["berth", "v1", "profiles"]) => profiles::list(&d),
        (&M::GET, ["berth", "v1", "profiles", name]) => profiles::inspect(&d, name),
        (&M::DELETE, ["berth", "v1", "profiles", name]) => profiles::delete(&d, name),
        (&M::POST, ["berth", "v1", "profiles", name, "stop"]) => profiles::stop(&d, name).await,
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
        (&M::GET, ["containers", id, "top"]) => top::top(&d, id, q.get("ps_args")).await,
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
        (&M::POST, ["volumes", "prune"]) => volumes::prune(&d, &q, request_api(&full)).await,
        (&M::PUT, ["volumes", name]) => volumes::update(&d, name).await,
        (&M::GET, ["volumes"]) => volumes::list(&d, &q).await,
        (&M::GET, ["volumes", name]) => volumes::inspect(&d, name).await,
        (&M::DELETE, ["volumes", name]) => volumes::delete(&d, name, &q).await,
        (&M::POST, ["build"]) => build::build(&d, &q, req).await,
        (&M::POST, ["build", "prune"]) => build::prune(&d, &q).await,
        (&M::POST, ["commit"]) => container_fs::commit(&d, &q, req).await,
        (&M::GET, ["system", "df"]) => system::df(&d, request_api(&full)).await,
        (&M::GET, ["containers", "json"]) => containers::list(&d, &q, request_api(&full)),
        (&M::GET, ["containers", id, "json"]) => {
            containers::inspect(&d, id, request_api(&full), q.bool("size"))
        }
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
