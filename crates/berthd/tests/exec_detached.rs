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
