//! Exec endpoints: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked unless detached),
//! `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use crate::containers::exec::{self, ExecRequest};
use crate::containers::model::Status;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::ReqBody;
use crate::http::{self, Resp};
use bytes::Bytes;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// `POST /containers/{id}/exec`.
pub async fn create(d: &Arc<Daemon>, key: &str, req: Request<ReqBody>) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    let body: ExecRequest = http::body_json(req.into_body(), http::SMALL_BODY_LIMIT).await?;
    if let Some(k) = body.detach_keys.as_deref().filter(|k| !k.is_empty()) {
        super::attach::parse_detach_keys(k)?;
    }
    if c.state.status != Status::Running {
        return Err(ApiError::Conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    if c.state.paused {
        return Err(ApiError::Conflict(format!(
            "Container {key} is paused, unpause the container before exec"
        )));
    }
    let action = format!(
        "exec_create: {}",
        body.cmd.as_deref().unwrap_or_default().join(" ")
    );
    let id = d.execs.create(&c, body)?;
    d.events.container(&c, &action, &[("execID", id.clone())]);
    // The exec process is migrated into the container's cgroup at start: see containers::warmup.
    d.warm_cgroups();
    Ok(http::json_response(
        StatusCode::CREATED,
        &json!({ "Id": id }),
    ))
}

async fn pump(mut r: impl AsyncRead + Unpin, stream: u8, tx: mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut f = Vec::with_capacity(n + 8);
                f.extend_from_slice(&frame_header(stream, n));
                f.extend_from_slice(&buf[..n]);
                if tx.send(Bytes::from(f)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// `POST /exec/{id}/start`.
pub async fn start(d: &Arc<Daemon>, id: &str, mut req: Request<ReqBody>) -> ApiResult<Resp> {
    let on_upgrade = hyper::upgrade::on(&mut req);
    let body: Value = http::body_json(req.into_body(), http::SMALL_BODY_LIMIT).await?;
    let detach = body["Detach"].as_bool().unwrap_or(false);
    let e = d.execs.get(id)?;
    // The start's own `Tty` decides the framing (as dockerd): a tty exec started with `Tty: false`
    // (docker-py does this) gets its terminal's output as stdout frames, and the reverse raw bytes.
    let framed = !body["Tty"]
        .as_bool()
        .unwrap_or_else(|| e.req.tty.unwrap_or(false));
    let c = d.containers.get(&e.container)?;
    if c.state.status != Status::Running {
        return Err(ApiError::Conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    if c.state.paused {
        return Err(ApiError::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            c.id
        )));
    }
    let e = d.execs.begin(id)?;
    let action = format!(
        "exec_start: {}",
        e.req.cmd.as_deref().unwrap_or_default().join(" ")
    );
    d.events
        .container(&c, &action, &[("execID", id.to_string())]);
    if e.req.tty.unwrap_or(false) {
        return start_tty(d, &c, &e, detach, framed, on_upgrade).await;
    }
    let d2 = d.clone();
    let id2 = id.to_string();
    if detach {
        let mut child = match exec::spawn(d, &c, &e, None, true) {
            Ok(ch) => ch,
            Err(err) => {
                exec::finished(d, id, 126);
                return Err(err);
            }
        };
        d.execs
            .set_pid(id, child.id().map(|p| p as i32).unwrap_or(0));
        crate::crash::point("exec:spawned");
        tokio::spawn(async move {
            let code = child
                .wait()
                .await
                .map(|s| s.code().unwrap_or(137))
                .unwrap_or(126);
            exec::finished(&d2, &id2, code);
        });
        return Ok(http::empty(StatusCode::OK));
    }
    let (want_out, want_err) = (
        e.req.attach_stdout.unwrap_or(false),
        e.req.attach_stderr.unwrap_or(false),
    );
    tokio::spawn(async move {
        // As dockerd does, the process starts once the connection is taken over, so its first
        // output never arrives with the 101 response: docker-py reads the stream from the raw
        // socket, and bytes that came in the same read as the response would be lost in its buffer.
        let upgraded = on_upgrade.await.ok().map(hyper_util::rt::TokioIo::new);
        let (mut cr, mut cw) = match upgraded {
            Some(io) => {
                let (r, w) = tokio::io::split(io);
                (Some(r), Some(w))
            }
            None => (None, None),
        };
        let mut child = match exec::spawn(&d2, &c, &e, None, false) {
            Ok(ch) => ch,
            Err(err) => {
                exec::finished(&d2, &id2, 126);
                report_start_failure(cw, framed, &err).await;
                return;
            }
        };
        d2.execs
            .set_pid(&id2, child.id().map(|p| p as i32).unwrap_or(0));
        crate::crash::point("exec:spawned");
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        let mut pumps = Vec::new();
        if let Some(o) = stdout {
            pumps.push(tokio::spawn(pump(o, 1, tx.clone())));
        }
        if let Some(er) = stderr {
            pumps.push(tokio::spawn(pump(er, 2, tx.clone())));
        }
        drop(tx);
        let input = match (cr.take(), stdin) {
            (Some(mut r), Some(mut w)) => Some(tokio::spawn(async move {
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            })),
            _ => None,
        };
        // The runtime's own failure ("exec failed: ...") comes first on stderr. When the first
        // thing on stderr reads like it, it is held until the runtime's exit says whose it was.
        let mut first_err: Vec<u8> = Vec::new();
        let mut held: Option<Bytes> = None;
        let mut first = true;
        while let Some(frame) = rx.recv().await {
            if frame[0] == 2 && first_err.len() < 4096 {
                first_err.extend_from_slice(&frame[8..]);
            }
            if std::mem::take(&mut first) && frame[0] == 2 && frame[8..].starts_with(RUNTIME_FAILED)
            {
                held = Some(frame);
                continue;
            }
            for frame in held.take().into_iter().chain(Some(frame)) {
                let wanted = if frame[0] == 2 { want_err } else { want_out };
                let bytes = if framed { &frame[..] } else { &frame[8..] };
                if let (true, Some(w)) = (wanted, cw.as_mut()) {
                    if w.write_all(bytes).await.is_err() {
                        cw = None;
                    }
                }
            }
        }
        for p in pumps {
            let _ = p.await;
        }
        let code = child
            .wait()
            .await
            .map(|s| s.code().unwrap_or(137))
            .unwrap_or(126);
        // The runtime's own failure exits 255; a program that exits 126 itself keeps its words.
        let runtime_failed = code == 255;
        let code = runtime_failure_code(code, &first_err);
        if let Some(frame) = held {
            // Ours: said as dockerd says it, on stdout. Else the program's own first words.
            let (kind, text) = match (runtime_failed, docker_exec_failure(&frame[8..])) {
                (true, Some(msg)) => (1, format!("{msg}\r\n").into_bytes()),
                _ => (2, frame[8..].to_vec()),
            };
            let wanted = if kind == 2 { want_err } else { want_out };
            if let (true, Some(w)) = (wanted, cw.as_mut()) {
                if framed {
                    let _ = w.write_all(&frame_header(kind, text.len())).await;
                }
                let _ = w.write_all(&text).await;
            }
        }
        // The client reads the exit code right after the stream ends: record it first.
        exec::finished(&d2, &id2, code);
        if let Some(mut w) = cw {
            let _ = w.shutdown().await;
        }
        if let Some(i) = input {
            i.abort();
        }
    });
    Ok(upgrade_response(if framed {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }))
}

/// How berth-runtime begins the message of an exec whose process it could not start.
const RUNTIME_FAILED: &[u8] = b"berth-runtime: exec failed: ";

/// berth-runtime's failure to start an exec's process (`berth-runtime: exec failed: WHY`) in
/// dockerd's words, which scripts match: `OCI runtime exec failed: exec failed: unable to start
/// container process: WHY: unknown`. None for anything else.
fn docker_exec_failure(stderr: &[u8]) -> Option<String> {
    let why = stderr.strip_prefix(RUNTIME_FAILED)?;
    let why = String::from_utf8_lossy(why);
    let why = why.lines().next().unwrap_or_default().trim();
    Some(format!(
        "OCI runtime exec failed: exec failed: unable to start container process: {why}: unknown"
    ))
}

/// Docker's code for an exec whose process could not be started (not found, not executable, bad
/// user...): 126, whatever the reason; the runtime itself says 255 with "exec failed".
fn runtime_failure_code(code: i32, stderr: &[u8]) -> i32 {
    let text = String::from_utf8_lossy(stderr);
    if code == 255 && text.contains("exec failed") {
        126
    } else {
        code
    }
}

fn upgrade_response(content_type: &str) -> Resp {
    let mut r = http::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert("Content-Type", content_type.parse().expect("header"));
    h.insert("Connection", "Upgrade".parse().expect("header"));
    h.insert("Upgrade", "tcp".parse().expect("header"));
    r
}

/// Tell an attached client why its exec did not start (dockerd writes the error into the stream
/// too, and the exit code, 126, is in the exec's record), then close its side.
async fn report_start_failure<W: tokio::io::AsyncWrite + Unpin>(
    w: Option<W>,
    framed: bool,
    err: &ApiError,
) {
    let Some(mut w) = w else { return };
    let msg = format!("{err}\r\n");
    if framed {
        let _ = w.write_all(&frame_header(1, msg.len())).await;
    }
    let _ = w.write_all(msg.as_bytes()).await;
    let _ = w.shutdown().await;
}

/// Start a tty exec: the runtime hands the terminal's master over on a console socket. Its child
/// and the master.
async fn launch_tty(
    d: &Daemon,
    c: &crate::containers::model::Container,
    e: &exec::Exec,
    detach: bool,
) -> ApiResult<(tokio::process::Child, Arc<std::os::fd::OwnedFd>)> {
    use std::os::fd::AsFd;
    let path = d.cfg.exec_root.join("s").join(format!("x{}", &e.id[..15]));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).map_err(ApiError::internal)?;
    let mut accept =
        tokio::task::spawn_blocking(move || -> std::io::Result<std::os::fd::OwnedFd> {
            let (conn, _) = listener.accept()?;
            berth_sys::recv_fd(conn.as_fd())?
                .map(|(fd, _)| fd)
                .ok_or_else(|| std::io::Error::other("the runtime sent no terminal"))
        });
    let mut child = match exec::spawn(d, c, e, Some(&path), false) {
        Ok(ch) => ch,
        Err(err) => {
            let _ = std::os::unix::net::UnixStream::connect(&path);
            let _ = std::fs::remove_file(&path);
            exec::finished(d, &e.id, 126);
            return Err(err);
        }
    };
    d.execs
        .set_pid(&e.id, child.id().map(|p| p as i32).unwrap_or(0));
    if detach {
        crate::crash::point("exec:spawned");
    }
    let got = tokio::select! {
        biased;
        r = &mut accept => r,
        _ = child.wait() => {
            // The runtime ended (a quick process ends it early): unblock the accept, which has
            // the terminal if the runtime sent it before it went.
            let _ = std::os::unix::net::UnixStream::connect(&path);
            (&mut accept).await
        }
    };
    let _ = std::fs::remove_file(&path);
    match got.map_err(std::io::Error::other).and_then(|r| r) {
        Ok(master) => Ok((child, Arc::new(master))),
        Err(_) => {
            let status = child.wait().await;
            let mut msg = String::new();
            if let Some(mut er) = child.stderr.take() {
                let _ = er.read_to_string(&mut msg).await;
            }
            let code = status.ok().and_then(|s| s.code()).unwrap_or(126);
            exec::finished(d, &e.id, code);
            Err(ApiError::BadRequest(
                docker_exec_failure(msg.as_bytes())
                    .unwrap_or_else(|| format!("exec failed: {}", msg.trim())),
            ))
        }
    }
}

/// A tty exec: bytes go both ways raw (or, `framed`, the terminal's output as stdout frames). A
/// detached one starts before the answer; an attached one once the connection is taken over.
async fn start_tty(
    d: &Arc<Daemon>,
    c: &crate::containers::model::Container,
    e: &exec::Exec,
    detach: bool,
    framed: bool,
    on_upgrade: hyper::upgrade::OnUpgrade,
) -> ApiResult<Resp> {
    let keys = match e.req.detach_keys.as_deref() {
        None | Some("") => super::attach::DEFAULT_DETACH_KEYS.to_vec(),
        Some(k) => super::attach::parse_detach_keys(k)?,
    };
    let launched = if detach {
        Some(launch_tty(d, c, e, true).await?)
    } else {
        None
    };
    let (d2, id2) = (d.clone(), e.id.clone());
    let mut escape = super::attach::Escape::new(keys);
    let (detached_tx, mut detached_rx) = tokio::sync::oneshot::channel::<()>();
    let (c2, e2) = (c.clone(), e.clone());
    tokio::spawn(async move {
        let upgraded = if detach { None } else { on_upgrade.await.ok() };
        let (mut child, master) = match launched {
            Some(l) => l,
            None => match launch_tty(&d2, &c2, &e2, false).await {
                Ok(l) => l,
                Err(err) => {
                    let w = upgraded.map(hyper_util::rt::TokioIo::new);
                    report_start_failure(w, framed, &err).await;
                    return;
                }
            },
        };
        d2.execs.set_pty(&id2, master.clone());
        let (reader, writer) = match (master.try_clone(), master.try_clone()) {
            (Ok(r), Ok(w)) => (r, w),
            _ => {
                let _ = child.start_kill();
                exec::finished(&d2, &id2, 126);
                return;
            }
        };
        let mut from_pty = tokio::fs::File::from_std(std::fs::File::from(reader));
        let mut to_pty = tokio::fs::File::from_std(std::fs::File::from(writer));
        let mut input = None;
        let mut client_w = None;
        if let Some(up) = upgraded {
            let (mut r, w) = tokio::io::split(hyper_util::rt::TokioIo::new(up));
            client_w = Some(w);
            input = Some(tokio::spawn(async move {
                // The client's input, minus the detach keys; they end the attach, not the process.
                let mut buf = vec![0u8; 16 * 1024];
                let mut out = Vec::with_capacity(buf.len());
                while let Ok(n @ 1..) = r.read(&mut buf).await {
                    out.clear();
                    let detach = escape.feed(&buf[..n], &mut out);
                    if to_pty.write_all(&out).await.is_err() {
                        break;
                    }
                    if detach {
                        let _ = detached_tx.send(());
                        break;
                    }
                }
            }));
        }
        let mut buf = vec![0u8; 16 * 1024];
        let mut watching = true;
        loop {
            // EIO once the last holder of the terminal's other side is gone.
            let n = tokio::select! {
                r = from_pty.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                },
                r = &mut detached_rx, if watching => {
                    watching = false;
                    // Detached: the client goes, the process keeps its terminal.
                    if r.is_ok() {
                        if let Some(mut w) = client_w.take() {
                            let _ = w.shutdown().await;
                        }
                    }
                    continue;
                }
            };
            if let Some(w) = client_w.as_mut() {
                let header = framed.then(|| frame_header(1, n));
                let mut ok = true;
                if let Some(h) = header {
                    ok = w.write_all(&h).await.is_ok();
                }
                if !ok || w.write_all(&buf[..n]).await.is_err() {
                    client_w = None;
                }
            }
        }
        let code = child
            .wait()
            .await
            .map(|s| s.code().unwrap_or(137))
            .unwrap_or(126);
        // A process that could not start ran no program on the terminal: the runtime's reason is
        // on its stderr; the client gets it, and Docker's 126.
        let mut why = Vec::new();
        if let Some(er) = child.stderr.take() {
            let _ = er.take(4096).read_to_end(&mut why).await;
        }
        let code = runtime_failure_code(code, &why);
        exec::finished(&d2, &id2, code);
        if let Some(mut w) = client_w {
            if code == 126 && !why.is_empty() {
                let msg = docker_exec_failure(&why)
                    .unwrap_or_else(|| String::from_utf8_lossy(&why).trim_end().to_string());
                let msg = format!("{msg}\r\n");
                if framed {
                    let _ = w.write_all(&frame_header(1, msg.len())).await;
                }
                let _ = w.write_all(msg.as_bytes()).await;
            }
            let _ = w.shutdown().await;
        }
        if let Some(i) = input {
            i.abort();
        }
    });
    if detach {
        return Ok(http::empty(StatusCode::OK));
    }
    Ok(upgrade_response(if framed {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }))
}

/// The header of a multiplexed-stream frame: stream, three zero bytes, the length big-endian.
fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let l = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// `POST /exec/{id}/resize?h=&w=`.
pub fn resize(d: &Daemon, id: &str, q: &http::Query) -> ApiResult<Resp> {
    use std::os::fd::AsFd;
    let e = d.execs.get(id)?;
    let dim = |k: &str| -> ApiResult<u16> {
        q.int(k)?
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| ApiError::BadRequest(format!("invalid or missing {k}")))
    };
    let (h, w) = (dim("h")?, dim("w")?);
    if let Some(m) = &e.pty {
        berth_sys::set_window_size(m.as_fd(), h, w).map_err(ApiError::internal)?;
    }
    Ok(http::empty(StatusCode::OK))
}

/// `GET /exec/{id}/json`.
pub fn inspect(d: &Daemon, id: &str) -> ApiResult<Resp> {
    let e = d.execs.get(id)?;
    let cmd = e.req.cmd.clone().unwrap_or_default();
    // dockerd's order (its structs').
    let mut process = json!({
        "tty": e.req.tty.unwrap_or(false),
        "entrypoint": cmd.first(),
        "arguments": cmd.get(1..).unwrap_or(&[]),
        "privileged": e.req.privileged.unwrap_or(false),
    });
    // Left out when not given, as dockerd does (`user,omitempty`).
    if let Some(u) = e.req.user.as_deref().filter(|u| !u.is_empty()) {
        process["user"] = json!(u);
    }
    http::ok_json(&json!({
        "ID": e.id,
        "Running": e.running,
        "ExitCode": e.exit_code,
        "ProcessConfig": process,
        "OpenStdin": e.req.attach_stdin.unwrap_or(false),
        "OpenStderr": e.req.attach_stderr.unwrap_or(false),
        "OpenStdout": e.req.attach_stdout.unwrap_or(false),
        "CanRemove": false,
        "ContainerID": e.container,
        "DetachKeys": "",
        "Pid": e.pid,
    }))
}
