//! Health checks through the stock docker CLI: `--health-*` flags, `State.Health` in inspect, the
//! `(healthy)` marks and `health=` filter of `ps`, `health_status` events, timeouts, and monitoring that
//! goes on after a berthd restart and ends with the container.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn health(d: &Berthd, name: &str) -> serde_json::Value {
    let out = d.ok(&["inspect", "--format", "{{json .State.Health}}", name]);
    serde_json::from_str(out.trim()).unwrap_or(serde_json::Value::Null)
}

/// Wait until the container's health status is `want`; panics with the last state otherwise.
fn wait_status(d: &Berthd, name: &str, want: &str) -> serde_json::Value {
    let t = Instant::now();
    loop {
        let h = health(d, name);
        if h["Status"] == want {
            return h;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{name} never became {want}: {h}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn probes_turn_unhealthy_then_healthy_and_survive_a_restart() {
    skip_unless_ready!("probes_turn_unhealthy_then_healthy_and_survive_a_restart");
    let mut d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "none",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "bb:1",
        "sleep",
        "600",
    ]);
    let h = health(&d, "web");
    assert!(
        h["Status"] == "starting" || h["Status"] == "unhealthy",
        "{h}"
    );
    let h = wait_status(&d, "web", "unhealthy");
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    assert_eq!(h["Log"].as_array().unwrap()[0]["ExitCode"], 1, "{h}");
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("web Up") && ps.contains("(unhealthy)"), "{ps}");
    let listed = d.ok(&["ps", "-q", "--filter", "health=unhealthy"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(d
        .ok(&["ps", "-q", "--filter", "health=healthy"])
        .trim()
        .is_empty());

    // The probe passes once the file is there.
    d.ok(&["exec", "web", "sh", "-c", ": > /tmp/ok"]);
    let h = wait_status(&d, "web", "healthy");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert!(log.len() <= 5, "{h}");
    let last = log.last().unwrap();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n");
    assert!(d.ok(&["ps"]).contains("(healthy)"));

    // The status changes were published.
    let (_, events) = d.http(
        "GET",
        &format!(
            "/events?since=0&until={}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 1
        ),
        None,
    );
    assert!(events.contains("\"health_status: unhealthy\""), "{events}");
    assert!(events.contains("\"health_status: healthy\""), "{events}");

    // After a berthd crash the probes go on.
    d.kill9();
    d.spawn();
    assert_eq!(health(&d, "web")["Status"], "healthy");
    d.ok(&["exec", "web", "/bin/busybox", "rm", "/tmp/ok"]);
    wait_status(&d, "web", "unhealthy");

    // Stopped, the monitor ends (unhealthy, as Docker reports it) and `ps` stops marking it.
    d.ok(&["exec", "web", "sh", "-c", ": > /tmp/ok"]);
    wait_status(&d, "web", "healthy");
    d.ok(&["stop", "-t", "0", "web"]);
    assert_eq!(health(&d, "web")["Status"], "unhealthy");
    let none = d.ok(&["ps", "-aq", "--filter", "health=none"]);
    assert_eq!(none.lines().count(), 1, "{none}");
}

#[test]
fn timeouts_kill_the_probe_and_no_healthcheck_disables_it() {
    skip_unless_ready!("timeouts_kill_the_probe_and_no_healthcheck_disables_it");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--network",
        "none",
        "--health-cmd",
        "sleep 77",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "500ms",
        "--health-retries",
        "1",
        "bb:1",
        "sleep",
        "600",
    ]);
    let h = wait_status(&d, "slow", "unhealthy");
    let r = &h["Log"][0];
    assert_eq!(r["ExitCode"], -1, "{h}");
    assert_eq!(r["Output"], "Health check exceeded timeout (300ms)", "{h}");
    // The timed-out probes were killed, not left running in the container.
    std::thread::sleep(Duration::from_millis(300));
    let top = d.ok(&["top", "slow"]);
    let lingering = top.lines().filter(|l| l.contains("sleep 77")).count();
    assert!(lingering <= 1, "timed-out probes linger:\n{top}");

    // `--no-healthcheck`: no probe, no State.Health.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "plain",
        "--network",
        "none",
        "--no-healthcheck",
        "bb:1",
        "sleep",
        "600",
    ]);
    let cfg = d.ok(&[
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        "plain",
    ]);
    assert_eq!(cfg.trim(), r#"{"Test":["NONE"]}"#);
    assert_eq!(health(&d, "plain"), serde_json::Value::Null);
    assert!(!d
        .ok(&["ps"])
        .lines()
        .any(|l| l.contains("plain") && l.contains("health")));
}
