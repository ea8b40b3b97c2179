//! Output and clients under races: a `logs?follow=1` stream opened while the container runs gets every
//! line although the container is removed before the client reads (docker-py's
//! `containers.run(remove=True)` does create, start, logs follow, wait, rm, then reads); a client that
//! never reads its attach stream does not keep `rm -f` from removing a container that floods stdout;
//! shims leave no sockets behind; `run --rm` gets a burst of output whole; `logs` merges lines into
//! frames without mixing streams; `top` right after a start lists the container's command, not the
//! runtime's that was still about to exec it.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Send a request on a new connection (HTTP/1.0: the server closes it after the response).
fn send(d: &Berthd, method: &str, path: &str, body: &str) -> UnixStream {
    let mut s = UnixStream::connect(&d.sock).expect("connect");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write request");
    s
}

fn response(mut s: UnixStream) -> (u16, Vec<u8>) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read response");
    let status = std::str::from_utf8(&resp[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let start = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(resp.len(), |i| i + 4);
    (status, resp[start..].to_vec())
}

fn call(d: &Berthd, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
    response(send(d, method, path, body))
}

/// How many tries: `BERTH_FOLLOW_TRIES` (200 for the figure), 40 by default.
fn tries() -> usize {
    std::env::var("BERTH_FOLLOW_TRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

#[test]
fn follow_then_remove_loses_no_output() {
    skip_unless_ready!("follow_then_remove_loses_no_output");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done";
    let create = serde_json::json!({"Image": "bb:1", "Cmd": ["sh", "-c", script]}).to_string();
    let n = tries();
    let mut lost = Vec::new();
    for i in 0..n {
        let (st, body) = call(&d, "POST", "/v1.41/containers/create", &create);
        assert_eq!(st, 201, "create: {}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        let id = v["Id"].as_str().unwrap().to_string();
        let (st, _) = call(&d, "POST", &format!("/v1.41/containers/{id}/start"), "");
        assert_eq!(st, 204);
        let logs = send(
            &d,
            "GET",
            &format!("/v1.41/containers/{id}/logs?follow=1&stdout=1&stderr=1"),
            "",
        );
        let (st, _) = call(&d, "POST", &format!("/v1.41/containers/{id}/wait"), "");
        assert_eq!(st, 200);
        let (st, _) = call(&d, "DELETE", &format!("/v1.41/containers/{id}"), "");
        assert_eq!(st, 204);
        let (st, out) = response(logs);
        assert_eq!(st, 200);
        let out = String::from_utf8_lossy(&out);
        let missing: Vec<String> = (1..=5)
            .flat_map(|k| [format!("out{k}\n"), format!("err{k}\n")])
            .filter(|l| !out.contains(l.as_str()))
            .collect();
        if !missing.is_empty() {
            lost.push(format!("try {i}: missing {missing:?}"));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {n} follows lost output: {lost:#?}",
        lost.len()
    );
}

#[test]
fn a_client_that_never_reads_does_not_block_rm() {
    skip_unless_ready!("a_client_that_never_reads_does_not_block_rm");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let flood = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    d.ok(&[
        "run", "-d", "--name", "flood", "bb:1", "busybox", "yes", flood,
    ]);
    // Hijacked attach, never read: berthd's buffers and the shim's fill up.
    let mut stuck = UnixStream::connect(&d.sock).expect("connect");
    stuck
        .write_all(
            b"POST /v1.41/containers/flood/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n\
              Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n",
        )
        .expect("write attach");
    let mut head = [0u8; 12];
    stuck.read_exact(&mut head).expect("attach answer");
    assert_eq!(
        &head[9..12],
        b"101",
        "attach: {}",
        String::from_utf8_lossy(&head)
    );
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    let o = d.docker(&["rm", "-f", "flood"]);
    let took = t.elapsed();
    assert!(
        o.status.success(),
        "rm -f with a stuck attach client failed after {took:?}: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        d.log()
    );
    eprintln!("rm -f with a client that never reads: {took:?}");
    let left = d.ok(&["ps", "-aq"]);
    assert!(left.trim().is_empty(), "still there: {left}");
    // The log kept flowing while the client was stuck (nothing held the container's output up).
    drop(stuck);
}

#[test]
fn shims_leave_no_sockets() {
    skip_unless_ready!("shims_leave_no_sockets");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    for i in 0..5 {
        d.ok(&["run", "--rm", "bb:1", "true"]);
        d.ok(&[
            "run",
            "-d",
            "--name",
            &format!("s{i}"),
            "bb:1",
            "sleep",
            "100",
        ]);
        // A start the runtime refuses (no such program).
        let o = d.docker(&[
            "run",
            "--name",
            &format!("f{i}"),
            "-v",
            "/etc/hostname:/bin",
            "bb:1",
            "true",
        ]);
        assert!(!o.status.success());
        d.ok(&["rm", "-f", &format!("s{i}"), &format!("f{i}")]);
    }
    let s = d.dir.path().join("exec/s");
    let left: Vec<_> = std::fs::read_dir(&s)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "sockets left in {}: {left:?}", s.display());
}

/// `run --rm` attaches before its start: a program that writes more at once than its pipes hold
/// (the output waits there until the attach is connected to the shim, which is done while the
/// runtime runs) still hands the client every line in order, and a start the runtime refuses ends
/// the client's run with the error instead of leaving it attached.
#[test]
fn run_attached_before_start_gets_a_burst_whole() {
    skip_unless_ready!("run_attached_before_start_gets_a_burst_whole");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    for _ in 0..3 {
        // Read while it runs (the harness's `docker` reads the output only after the exit, and
        // the CLI would block on a full pipe).
        let o = std::process::Command::new(docker_cli().expect("docker"))
            .args(["run", "--rm", "--network", "none", "bb:1", "sh", "-c"])
            .arg("i=0; while [ $i -lt 60000 ]; do i=$((i+1)); echo $i; done")
            .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 60000, "last line {:?}", lines.last());
        let first_wrong = lines
            .iter()
            .enumerate()
            .find(|(i, l)| **l != (i + 1).to_string());
        assert!(first_wrong.is_none(), "out of order at {first_wrong:?}");
    }
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "/etc/hostname:/bin",
        "bb:1",
        "true",
    ]);
    assert!(!o.status.success());
    assert!(!o.stderr.is_empty());
}

/// The frames of a multiplexed stream: (stream, payload) each.
fn frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        assert!(b.len() >= 8 + len, "a frame cut short");
        out.push((b[0], b[8..8 + len].to_vec()));
        b = &b[8 + len..];
    }
    assert!(b.is_empty(), "bytes after the last frame");
    out
}

#[test]
fn logs_merge_lines_into_frames_but_never_streams() {
    skip_unless_ready!("logs_merge_lines_into_frames_but_never_streams");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    // Runs of stdout lines with a stderr line between them.
    let script = "for i in $(seq 1 300); do echo out$i; if [ $((i % 100)) = 0 ]; then echo err$i >&2; fi; done";
    d.ok(&["run", "--name", "mix", "bb:1", "sh", "-c", script]);
    let want = |s: u8| -> Vec<String> {
        match s {
            1 => (1..=300).map(|i| format!("out{i}\n")).collect(),
            _ => (1..=3).map(|i| format!("err{}\n", i * 100)).collect(),
        }
    };
    // Every frame holds whole lines of one stream.
    let lines = |fs: &[(u8, Vec<u8>)]| -> Vec<(u8, String)> {
        fs.iter()
            .flat_map(|(s, p)| {
                assert!(p.ends_with(b"\n"), "a frame ends mid-line: {p:?}");
                String::from_utf8_lossy(p)
                    .split_inclusive('\n')
                    .map(|l| (*s, l.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let of = |ls: &[(u8, String)], s: u8| -> Vec<String> {
        ls.iter()
            .filter(|l| l.0 == s)
            .map(|l| l.1.clone())
            .collect()
    };
    // Following (docker-py's `logs(stream=True)` iterates these frames): a frame per line, in the
    // log's order (the two pipes' lines interleave as the shim read them).
    let (st, body) = call(
        &d,
        "GET",
        "/v1.41/containers/mix/logs?stdout=1&stderr=1&follow=1",
        "",
    );
    assert_eq!(st, 200);
    let followed = frames(&body);
    let order = lines(&followed);
    assert_eq!(followed.len(), 303);
    assert_eq!((of(&order, 1), of(&order, 2)), (want(1), want(2)));
    // Not following: the same lines in the same order, a frame per run of one stream.
    let (st, body) = call(
        &d,
        "GET",
        "/v1.41/containers/mix/logs?stdout=1&stderr=1",
        "",
    );
    assert_eq!(st, 200);
    let merged = frames(&body);
    assert_eq!(lines(&merged), order);
    let runs = 1 + order.windows(2).filter(|w| w[0].0 != w[1].0).count();
    assert_eq!(merged.len(), runs, "frames: {merged:?}");
    assert!(runs <= 7, "{runs} runs of one stream");
    let (st, body) = call(
        &d,
        "GET",
        "/v1.41/containers/mix/logs?stdout=1&stderr=1&timestamps=1&tail=150",
        "",
    );
    assert_eq!(st, 200);
    let stamped = lines(&frames(&body));
    assert_eq!(stamped.len(), 150);
    assert!(stamped
        .iter()
        .all(|(_, l)| l.contains("Z out") || l.contains("Z err")));
    // Through the CLI: each stream gets its own lines.
    let o = d.docker(&["logs", "mix"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), want(1).concat());
    assert_eq!(String::from_utf8_lossy(&o.stderr), want(2).concat());
}

#[test]
fn top_right_after_start_lists_the_command() {
    skip_unless_ready!("top_right_after_start_lists_the_command");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    // docker-py's models test: containers.run("alpine", "sleep 60", detach=True).top().
    let create = serde_json::json!({"Image": "bb:1", "Cmd": ["sleep", "60"]}).to_string();
    let mut wrong = Vec::new();
    for _ in 0..20 {
        let (st, body) = call(&d, "POST", "/v1.41/containers/create", &create);
        assert_eq!(st, 201, "create: {}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        let id = v["Id"].as_str().unwrap().to_string();
        let (st, _) = call(&d, "POST", &format!("/v1.41/containers/{id}/start"), "");
        assert_eq!(st, 204);
        let (st, body) = call(&d, "GET", &format!("/v1.41/containers/{id}/top"), "");
        assert_eq!(st, 200, "top: {}", String::from_utf8_lossy(&body));
        let top: Value = serde_json::from_slice(&body).unwrap();
        let rows = top["Processes"].as_array().unwrap();
        let cmd = rows.first().and_then(|r| r.as_array()?.last()?.as_str());
        if rows.len() != 1 || cmd != Some("sleep 60") {
            wrong.push(top["Processes"].to_string());
        }
        let (st, _) = call(&d, "DELETE", &format!("/v1.41/containers/{id}?force=1"), "");
        assert_eq!(st, 204);
    }
    assert!(wrong.is_empty(), "top after start: {wrong:#?}");
}
