//! `docker exec -d`: the process runs to its end although nobody reads its output, and a berthd
//! killed meanwhile does not take it along.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn wait_for_file(d: &Berthd, container: &str, path: &str) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        if d.docker(&["exec", container, "ls", path]).status.success() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn detached_exec_outlives_its_output_and_a_daemon_kill() {
    skip_unless_ready!("detached_exec_outlives_its_output_and_a_daemon_kill");
    let mut d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "host",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "600",
    ]);
    // Output on both streams first: with pipes nobody read, the first write ended it (SIGPIPE).
    d.ok(&[
        "exec",
        "-d",
        "host",
        "sh",
        "-c",
        "echo out; echo err >&2; touch /tmp/first",
    ]);
    assert!(
        wait_for_file(&d, "host", "/tmp/first"),
        "the detached exec did not finish: {}",
        d.log()
    );
    // Still running when berthd is killed; it finishes after the restart all the same.
    d.ok(&[
        "exec",
        "-d",
        "host",
        "sh",
        "-c",
        "sleep 2; echo late; touch /tmp/second",
    ]);
    d.kill9();
    d.spawn();
    assert!(
        wait_for_file(&d, "host", "/tmp/second"),
        "the detached exec did not survive the daemon: {}",
        d.log()
    );
}

/// Create and start a detached exec through the API; its id.
fn exec_detached(d: &Berthd, container: &str, script: &str) -> String {
    let body = serde_json::json!({ "Cmd": ["sh", "-c", script] }).to_string();
    let (code, out) = d.http(
        "POST",
        &format!("/containers/{container}/exec"),
        Some(&body),
    );
    assert_eq!(code, 201, "exec create: {out}");
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out) = d.http(
        "POST",
        &format!("/exec/{id}/start"),
        Some(r#"{"Detach":true}"#),
    );
    assert_eq!(code, 200, "exec start: {out}");
    id
}

/// `GET /exec/{id}/json` as (Running, ExitCode).
fn exec_state(d: &Berthd, id: &str) -> (bool, Option<i64>) {
    let (code, out) = d.http("GET", &format!("/exec/{id}/json"), None);
    assert_eq!(code, 200, "exec inspect {id}: {out}\n{}", d.log());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (v["Running"].as_bool().unwrap(), v["ExitCode"].as_i64())
}

/// Wait until an exec is not running; its exit code.
fn exec_exit(d: &Berthd, id: &str) -> Option<i64> {
    let t = Instant::now();
    loop {
        let (running, code) = exec_state(d, id);
        if !running || t.elapsed() > Duration::from_secs(20) {
            assert!(!running, "exec {id} still running after 20 s");
            return code;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn exec_records_and_exit_codes_survive_a_daemon_kill() {
    skip_unless_ready!("exec_records_and_exit_codes_survive_a_daemon_kill");
    let mut d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "host",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "600",
    ]);
    let done = exec_detached(&d, "host", "exit 3");
    assert_eq!(exec_exit(&d, &done), Some(3));
    // One ends while no berthd is there, one after the restart.
    let gap = exec_detached(&d, "host", "sleep 1; exit 5");
    let after = exec_detached(&d, "host", "sleep 4; exit 7");
    d.kill9();
    std::thread::sleep(Duration::from_secs(2));
    d.spawn();
    assert_eq!(exec_state(&d, &done), (false, Some(3)), "{}", d.log());
    assert_eq!(exec_exit(&d, &gap), Some(5), "{}", d.log());
    assert!(
        exec_state(&d, &after).0,
        "the running exec is not running after the restart"
    );
    assert_eq!(exec_exit(&d, &after), Some(7), "{}", d.log());
    // They go with the container.
    d.ok(&["rm", "-f", "host"]);
    let (code, _) = d.http("GET", &format!("/exec/{done}/json"), None);
    assert_eq!(code, 404);
}
