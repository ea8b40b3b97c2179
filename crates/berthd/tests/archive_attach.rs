//! End-to-end tests of what the Python SDK and `docker` reach beyond `run` on the container side: the
//! archive endpoints (stat header, volumes, archives that try to escape, copyUIDGID, the volume
//! copy-up), attach (log replay, detach keys, websocket) and exec detach. Raw HTTP on the socket
//! where the CLI cannot express the request. Prune, commit, load and distribution: prune_commit.rs.

mod common;

use base64::Engine;
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A raw request on a fresh connection; the stream is returned positioned after the response head.
fn request(
    d: &Berthd,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, UnixStream) {
    let mut s = UnixStream::connect(&d.sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            common::read_some(&mut s, &mut b).expect("read response head"),
            1,
            "no head"
        );
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head[9..12].parse().expect("status");
    (status, head, s)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A plain (non-upgraded) request with `Connection: close`: (status, head, body).
fn call(
    d: &Berthd,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut h = headers.to_vec();
    h.push(("Connection", "close"));
    let (st, head, mut s) = request(d, method, path, &h, body);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let body = if header(&head, "Transfer-Encoding") == Some("chunked") {
        dechunk(&rest)
    } else {
        rest
    };
    (st, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
}

/// A tar with raw entry names (`../` included: the tar crate's builder refuses those).
fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_old();
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn inspect(d: &Berthd, what: &str) -> Value {
    let out = d.ok(&["inspect", what]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

fn wait_exited(d: &Berthd, name: &str) {
    d.ok(&["wait", name]);
}

#[test]
fn archive_api_sees_volumes_and_stays_inside() {
    skip_unless_ready!("archive_api_sees_volumes_and_stays_inside");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "--name",
        "aa",
        "--network",
        "none",
        "-v",
        "/vol1",
        "bb:1",
        "sh",
        "-c",
        "printf abc > /vol1/data.txt; busybox ln -s / /vol1/root",
    ]);
    // HEAD: the stat header of a file in the (anonymous) volume.
    let (st, head, _) = call(
        &d,
        "HEAD",
        "/v1.47/containers/aa/archive?path=/vol1/data.txt",
        &[],
        b"",
    );
    assert_eq!(st, 200, "{head}");
    let raw = header(&head, "X-Docker-Container-Path-Stat").expect("stat header");
    let stat: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (stat["name"].as_str(), stat["size"].as_u64()),
        (Some("data.txt"), Some(3))
    );
    // GET: a tar holding the file.
    let (st, _, body) = call(
        &d,
        "GET",
        "/containers/aa/archive?path=/vol1/data.txt",
        &[],
        b"",
    );
    assert_eq!(st, 200);
    let mut ar = tar::Archive::new(&body[..]);
    let mut e = ar.entries().unwrap().next().expect("an entry").unwrap();
    assert_eq!(e.path().unwrap().to_str(), Some("data.txt"));
    let mut got = String::new();
    e.read_to_string(&mut got).unwrap();
    assert_eq!(got, "abc");
    let (st, _, body) = call(&d, "GET", "/containers/aa/archive?path=/nope", &[], b"");
    assert_eq!(st, 404, "{}", String::from_utf8_lossy(&body));

    // PUT into the volume of a container that has not started yet: it sees the file.
    d.ok(&[
        "create",
        "--name",
        "bb",
        "--network",
        "none",
        "-v",
        "/vol1",
        "bb:1",
        "cat",
        "/vol1/x.txt",
    ]);
    let (st, _, body) = call(
        &d,
        "PUT",
        "/containers/bb/archive?path=/vol1",
        &[],
        &tar_of(&[("x.txt", b"put-in")]),
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    d.ok(&["start", "bb"]);
    wait_exited(&d, "bb");
    assert_eq!(d.ok(&["logs", "bb"]), "put-in");

    // `.wh.` names are ordinary files in a user's archive, not deletions.
    let (st, _, _) = call(
        &d,
        "PUT",
        "/containers/aa/archive?path=/vol1",
        &[],
        &tar_of(&[(".wh.data.txt", b"w")]),
    );
    assert_eq!(st, 200);
    let (st, _, _) = call(
        &d,
        "HEAD",
        "/containers/aa/archive?path=/vol1/data.txt",
        &[],
        b"",
    );
    assert_eq!(st, 200, "a .wh. entry deleted a file");

    // Escapes: `../` entries are refused; a symlink to / in the container leads to the container's
    // root, never the host's.
    let marker = format!("berth-archive-escape-{}", std::process::id());
    let evil = tar_of(&[(&format!("../../../../../../tmp/{marker}"), b"x")]);
    let (st, _, _) = call(&d, "PUT", "/containers/aa/archive?path=/vol1", &[], &evil);
    assert!(st >= 400, "an archive with ../ entries was accepted");
    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "PUT escaped the container root"
    );
    let (st, _, _) = call(
        &d,
        "PUT",
        "/containers/aa/archive?path=/vol1/root/tmp",
        &[],
        &tar_of(&[(&marker, b"inside")]),
    );
    assert_eq!(st, 200);
    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "PUT followed a symlink out of the root"
    );
    let (st, _, _) = call(
        &d,
        "HEAD",
        &format!("/containers/aa/archive?path=/tmp/{marker}"),
        &[],
        b"",
    );
    assert_eq!(st, 200, "the file is in the container's /tmp");
    let (st, _, _) = call(
        &d,
        "HEAD",
        &format!("/containers/aa/archive?path=/../../../../tmp/{marker}"),
        &[],
        b"",
    );
    assert_eq!(st, 200, "../ in the path stays at the container's root");

    // noOverwriteDirNonDir: a file may not replace the directory /vol1 (docker cp sends it).
    let (st, _, _) = call(
        &d,
        "PUT",
        "/containers/aa/archive?path=/&noOverwriteDirNonDir=true",
        &[],
        &tar_of(&[("tmp", b"not a dir")]),
    );
    assert!(st >= 400, "a file replaced a directory");
    let (st, head, _) = call(&d, "HEAD", "/containers/aa/archive?path=/tmp", &[], b"");
    assert_eq!(st, 200);
    let stat: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(header(&head, "X-Docker-Container-Path-Stat").unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_ne!(
        stat["mode"].as_u64().unwrap() & (1 << 31),
        0,
        "/tmp is still a directory"
    );

    // A read-only root takes files only in its writable volumes.
    d.ok(&[
        "create",
        "--name",
        "ro",
        "--read-only",
        "--network",
        "none",
        "-v",
        "/data",
        "bb:1",
        "busybox",
        "ln",
        "-s",
        "/etc",
        "/data/link",
    ]);
    d.ok(&["start", "-a", "ro"]);
    // Through a symlink in the volume back into the read-only root: refused by the mount itself.
    let (st, _, _) = call(
        &d,
        "PUT",
        "/containers/ro/archive?path=/data/link",
        &[],
        &tar_of(&[("sneaked", b"x")]),
    );
    assert!(st >= 400, "wrote into a read-only root through a symlink");
    let (st, _, _) = call(
        &d,
        "HEAD",
        "/containers/ro/archive?path=/etc/sneaked",
        &[],
        b"",
    );
    assert_eq!(st, 404);
    let (st, _, body) = call(
        &d,
        "PUT",
        "/containers/ro/archive?path=/tmp",
        &[],
        &tar_of(&[("f", b"x")]),
    );
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("read-only"));
    let (st, _, _) = call(
        &d,
        "PUT",
        "/containers/ro/archive?path=/data",
        &[],
        &tar_of(&[("f", b"x")]),
    );
    assert_eq!(st, 200);
    let (st, _, _) = call(
        &d,
        "PUT",
        "/containers/ro/archive?path=/data/../tmp",
        &[],
        &tar_of(&[("f", b"x")]),
    );
    assert_eq!(st, 400, "../ out of a volume into a read-only root");
}

/// Read until `want` shows up (or fail after a while).
fn read_until(s: &mut UnixStream, want: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while !got.windows(want.len()).any(|w| w == want) {
        let n = common::read_some(s, &mut b).expect("read");
        assert!(
            n > 0,
            "EOF before {:?}: {:?}",
            String::from_utf8_lossy(want),
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&b[..n]);
    }
    got
}

/// True once the peer has closed the connection (EOF or reset), whatever it sent before.
fn closed(s: &mut UnixStream) -> bool {
    let mut b = [0u8; 4096];
    loop {
        match common::read_some(s, &mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn running(d: &Berthd, name: &str) -> bool {
    inspect(d, name)["State"]["Running"] == true
}

#[test]
fn attach_logs_and_detach_keys() {
    skip_unless_ready!("attach_logs_and_detach_keys");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "--name",
        "done",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo hello; echo oops >&2",
    ]);
    // logs=1 stream=0: the log, framed, then the end (no waiting for a start).
    let (st, _, mut s) = request(
        &d,
        "POST",
        "/v1.47/containers/done/attach?logs=1&stream=0&stdout=1",
        &[("Upgrade", "tcp"), ("Connection", "Upgrade")],
        b"",
    );
    assert_eq!(st, 101);
    let mut body = Vec::new();
    s.read_to_end(&mut body).unwrap();
    assert_eq!(
        body, b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n",
        "stdout only"
    );

    let (st, _, body) = call(
        &d,
        "POST",
        "/containers/done/attach?stream=1&stdin=1&detachKeys=ctrl-",
        &[],
        b"",
    );
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));

    for (keys, seq) in [("", &b"\x10\x11"[..]), ("&detachKeys=ctrl-x", &b"\x18"[..])] {
        let name = format!("cat{}", keys.len());
        d.ok(&[
            "run",
            "-d",
            "-i",
            "-t",
            "--name",
            &name,
            "--network",
            "none",
            "bb:1",
            "cat",
        ]);
        let path = format!("/containers/{name}/attach?stream=1&stdin=1&stdout=1{keys}");
        let (st, _, mut s) = request(
            &d,
            "POST",
            &path,
            &[("Upgrade", "tcp"), ("Connection", "Upgrade")],
            b"",
        );
        assert_eq!(st, 101);
        // A lone first key is held back and then passed on when the sequence breaks.
        s.write_all(b"ab\x10c\n").unwrap();
        let echoed = read_until(&mut s, b"c\r\n");
        assert!(
            echoed.windows(3).any(|w| w == b"ab^") || echoed.windows(3).any(|w| w == b"ab\x10"),
            "{echoed:?}"
        );
        s.write_all(seq).unwrap();
        assert!(closed(&mut s), "detach keys did not end the attach");
        assert!(running(&d, &name), "detaching stopped the container");
        // And it can be attached again: the terminal still echoes.
        let (_, _, mut s2) = request(
            &d,
            "POST",
            &path,
            &[("Upgrade", "tcp"), ("Connection", "Upgrade")],
            b"",
        );
        s2.write_all(b"again\n").unwrap();
        read_until(&mut s2, b"again");
    }

    // Exec with a terminal: its detach keys end the attach, the process runs on.
    let (st, _, body) = call(
        &d,
        "POST",
        "/containers/cat0/exec",
        &[("Content-Type", "application/json")],
        br#"{"Cmd":["sleep","60"],"Tty":true,"AttachStdin":true,"AttachStdout":true,"DetachKeys":"ctrl-y"}"#,
    );
    assert_eq!(st, 201);
    let id = serde_json::from_slice::<Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _, mut s) = request(
        &d,
        "POST",
        &format!("/exec/{id}/start"),
        &[
            ("Content-Type", "application/json"),
            ("Upgrade", "tcp"),
            ("Connection", "Upgrade"),
        ],
        br#"{"Detach":false,"Tty":true}"#,
    );
    assert_eq!(st, 101);
    s.write_all(b"\x19").unwrap();
    assert!(closed(&mut s), "exec detach keys did not end the attach");
    let (_, _, body) = call(&d, "GET", &format!("/exec/{id}/json"), &[], b"");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["Running"],
        true
    );
    let (st, _, _) = call(
        &d,
        "POST",
        "/containers/cat0/exec",
        &[("Content-Type", "application/json")],
        br#"{"Cmd":["true"],"DetachKeys":"ctrl-"}"#,
    );
    assert_eq!(st, 400);

    // A failed exec answers 126, as Docker does.
    let o = d.docker(&["exec", "cat0", "no-such-command"]);
    assert_eq!(o.status.code(), Some(126), "{o:?}");
}

/// `docker attach --detach-keys` with a real terminal (util-linux `script` provides the pty).
#[test]
fn cli_attach_detach_keys_through_a_pty() {
    skip_unless_ready!("cli_attach_detach_keys_through_a_pty");
    let Some(script) = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        println!("skipped: cli_attach_detach_keys_through_a_pty: util-linux script is missing");
        return;
    };
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "-it",
        "--name",
        "tt",
        "--network",
        "none",
        "bb:1",
        "cat",
    ]);
    let cmd = format!(
        "DOCKER_HOST=unix://{} DOCKER_CONFIG={} {} attach --detach-keys ctrl-x tt",
        d.sock.display(),
        d.dir.path().join("docker-config").display(),
        docker_cli().unwrap().display()
    );
    let mut child: Child = Command::new(script)
        .args(["-qfec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    input.write_all(b"via-pty\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    input.write_all(b"\x18").unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("docker attach did not detach on ctrl-x");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    // The CLI itself reports the detach ("read escape sequence"); its exit status is its own affair.
    let _ = status;
    assert!(out.contains("via-pty"), "{out:?}");
    assert!(running(&d, "tt"), "detaching stopped the container");
}

/// Read one websocket frame the server sent (unmasked): (opcode, payload).
fn ws_frame(s: &mut UnixStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).unwrap();
    (h[0] & 0x0f, p)
}

#[test]
fn websocket_attach() {
    skip_unless_ready!("websocket_attach");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "create",
        "-i",
        "--name",
        "ww",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "printf one; read x; printf \"got:$x\"",
    ]);
    let (st, head, mut s) = request(
        &d,
        "GET",
        "/v1.47/containers/ww/attach/ws?stream=1&stdout=1&stdin=1&logs=1",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
        b"",
    );
    assert_eq!(st, 101, "{head}");
    let (st, _, _) = call(
        &d,
        "GET",
        "/containers/ww/attach/ws?stream=1&stdout=1",
        &[],
        b"",
    );
    assert_eq!(st, 400, "a websocket attach needs the handshake headers");
    assert_eq!(
        header(&head, "Sec-WebSocket-Accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    d.ok(&["start", "ww"]);
    assert_eq!(ws_frame(&mut s), (2, b"one".to_vec()));
    // A masked text frame from the client is the container's stdin.
    let payload = b"hi\n";
    let mask = [9u8, 8, 7, 6];
    let mut f = vec![0x81, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&f).unwrap();
    assert_eq!(ws_frame(&mut s), (2, b"got:hi".to_vec()));
    assert_eq!(
        ws_frame(&mut s).0,
        8,
        "a close frame at the end of the output"
    );
}

/// A volume whose mount point is a symlink in the image is filled from the container's side of the
/// link, never from the host's.
#[test]
fn volume_copy_up_through_a_symlink_stays_inside() {
    skip_unless_ready!("volume_copy_up_through_a_symlink_stays_inside");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let host_dir = d.dir.path().join("host-secrets");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("secret"), "host only").unwrap();
    let target = host_dir.display().to_string();
    d.ok(&[
        "run",
        "--name",
        "mk",
        "--network",
        "none",
        "bb:1",
        "busybox",
        "ln",
        "-s",
        &target,
        "/data",
    ]);
    d.ok(&["commit", "mk", "linked:1"]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "/data",
        "linked:1",
        "ls",
        "-a",
        "/data",
    ]);
    assert!(
        !out.contains("secret"),
        "host files copied into the volume: {out}"
    );
    // The working directory is made inside the root too, not through the link on the host.
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-w",
        "/data/made",
        "linked:1",
        "sh",
        "-c",
        "pwd",
    ]);
    assert!(out.trim().ends_with("/made"), "{out}");
    assert!(
        !host_dir.join("made").exists(),
        "the working directory was made on the host"
    );
}

/// `copyUIDGID` (`docker cp -a`): the files belong to the container's user, not to the archive's ids.
#[test]
fn archive_put_copy_uid_gid() {
    skip_unless_ready!("archive_put_copy_uid_gid");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "own",
        "--user",
        "1234:4321",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "60",
    ]);
    let put = |q: &str, name: &str| {
        let (st, _, body) = call(
            &d,
            "PUT",
            &format!("/containers/own/archive?path=/tmp{q}"),
            &[],
            &tar_of(&[(name, b"x")]),
        );
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    };
    put("", "plain");
    put("&copyUIDGID=1", "owned");
    let ls = d.ok(&["exec", "own", "busybox", "ls", "-ln", "/tmp"]);
    let ids = |name: &str| -> String {
        let line = ls
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{ls}"));
        let f: Vec<&str> = line.split_whitespace().collect();
        format!("{}:{}", f[2], f[3])
    };
    assert_eq!(ids("plain"), "0:0", "{ls}");
    assert_eq!(ids("owned"), "1234:4321", "{ls}");
}

#[test]
fn cp_of_a_directorys_contents() {
    skip_unless_ready!("cp_of_a_directorys_contents");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let long = "l".repeat(120);
    d.ok(&[
        "run",
        "--name",
        "src",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        &format!(
            "mkdir -p /d/sub/{long} && echo a > /d/a.txt && echo b > /d/sub/b && \
             ln -s a.txt /d/link && echo deep > /d/sub/{long}/f"
        ),
    ]);
    let host = d.dir.path().join("cpout");
    let existing = host.join("existing");
    std::fs::create_dir_all(&existing).unwrap();
    let fresh = host.join("fresh");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    // `DIR/.` into an existing directory and into a new one: the contents, not DIR itself.
    d.ok(&["cp", "src:/d/.", &s(&existing)]);
    d.ok(&["cp", "src:/d/.", &s(&fresh)]);
    for dir in [&existing, &fresh] {
        assert_eq!(
            std::fs::read_to_string(dir.join("a.txt")).unwrap(),
            "a\n",
            "{dir:?}"
        );
        assert_eq!(std::fs::read_to_string(dir.join("sub/b")).unwrap(), "b\n");
        let deep = dir.join("sub").join(&long).join("f");
        assert_eq!(std::fs::read_to_string(deep).unwrap(), "deep\n");
        assert_eq!(
            std::fs::read_link(dir.join("link")).unwrap(),
            std::path::PathBuf::from("a.txt")
        );
        assert!(!dir.join("d").exists(), "{dir:?} got d/ itself");
    }
    assert!(
        !host.join("a.txt").exists(),
        "the contents landed in the parent"
    );
    // Without `/.` the directory itself goes.
    d.ok(&["cp", "src:/d", &s(&existing)]);
    assert_eq!(
        std::fs::read_to_string(existing.join("d/sub/b")).unwrap(),
        "b\n"
    );
}

/// (name as written, type, mode, uname, gname, link name) of each entry of a tar.
fn tar_entries(tar: &[u8]) -> Vec<(String, char, u32, String, String, String)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            (
                name,
                h.entry_type().as_byte() as char,
                h.mode().unwrap(),
                h.username().unwrap().unwrap_or("").to_string(),
                h.groupname().unwrap().unwrap_or("").to_string(),
                link,
            )
        })
        .collect()
}

/// Archives of a container's files as dockerd makes them (`docker cp` out, `docker export`):
/// directories end in `/` at every depth, a file's second link is a hard link entry, modes carry
/// the type bits, and owners are named from the container's own /etc/passwd and /etc/group (an id
/// they do not name goes without). The stat header's keys come in dockerd's order, a symlink's
/// `linkTarget` resolved in the container. The container's root has dockerd's init-layer
/// entries: /.dockerenv and /etc/mtab.
#[test]
fn archives_name_dirs_links_and_owners_as_dockerd() {
    skip_unless_ready!("archives_name_dirs_links_and_owners_as_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "--name",
        "src",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "mkdir -p /d/sub/deep && echo hi > /d/f && ln -s f /d/sl && ln /d/f /d/hl && \
         echo x > /d/sub/n && chown 4242:4243 /d/sub/n && echo y > /d/sub/u && chown 1:1 /d/sub/u && \
         echo foo:x:4242:4242::/:/bin/sh >> /etc/passwd && echo grp:x:4243: >> /etc/group",
    ]);
    let (st, head, body) = call(&d, "GET", "/containers/src/archive?path=/d", &[], b"");
    assert_eq!(st, 200, "{head}");
    let got = tar_entries(&body);
    let s = |v: &str| v.to_string();
    assert_eq!(
        got,
        [
            (s("d/"), '5', 0o40755, s("root"), s("root"), s("")),
            (s("d/f"), '0', 0o100644, s("root"), s("root"), s("")),
            (s("d/hl"), '1', 0o100644, s("root"), s("root"), s("d/f")),
            (s("d/sl"), '2', 0o120777, s("root"), s("root"), s("f")),
            (s("d/sub/"), '5', 0o40755, s("root"), s("root"), s("")),
            (s("d/sub/deep/"), '5', 0o40755, s("root"), s("root"), s("")),
            (s("d/sub/n"), '0', 0o100644, s("foo"), s("grp"), s("")),
            (s("d/sub/u"), '0', 0o100644, s(""), s(""), s("")),
        ]
    );
    let (st, head, _) = call(&d, "HEAD", "/containers/src/archive?path=/d/sl", &[], b"");
    assert_eq!(st, 200, "{head}");
    let stat = base64::engine::general_purpose::STANDARD
        .decode(header(&head, "X-Docker-Container-Path-Stat").unwrap())
        .unwrap();
    let stat = String::from_utf8(stat).unwrap();
    assert!(
        stat.starts_with(r#"{"name":"sl","size":1,"mode":134218239,"mtime":""#),
        "{stat}"
    );
    assert!(stat.ends_with(r#","linkTarget":"/d/f"}"#), "{stat}");

    let o = d.docker(&["export", "src"]);
    assert!(o.status.success());
    let got = tar_entries(&o.stdout);
    let find = |n: &str| got.iter().find(|e| e.0 == n).cloned();
    assert_eq!(find("d/sub/").map(|e| e.1), Some('5'), "{got:?}");
    assert_eq!(
        find("d/sub/n").map(|e| (e.3, e.4)),
        Some((s("foo"), s("grp")))
    );
    assert_eq!(find("etc/mtab").map(|e| e.5), Some(s("/proc/mounts")));
    assert_eq!(find(".dockerenv").map(|e| e.2), Some(0o100755));

    // The root is archived as `/` with `/bin/`, ... (dockerd's names): `docker cp c:/ DIR`
    // fills DIR (it made nothing when the names were `./...`).
    let (_, _, body) = call(&d, "GET", "/containers/src/archive?path=/", &[], b"");
    assert_eq!(tar_entries(&body)[0].0, "/");
    let out = d.dir.path().join("whole");
    d.ok(&["cp", "src:/", out.to_str().unwrap()]);
    assert!(
        out.join("bin/busybox").is_file(),
        "{:?}",
        std::fs::read_dir(d.dir.path())
    );
}
