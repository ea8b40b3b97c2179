//! Learned least-privilege profiles (issue 14): `berth profile learn` on
//! berthd, then the exported seccomp profile with the stock docker CLI on
//! berthd and on a private dockerd.

mod common;

use common::{busybox_tar, show, skip_reason, text, Engine};
use serde_json::Value;

/// A shell workload: files in /tmp, a pipe, a directory tree made and removed.
const WORKLOAD: &str = "echo hi > /tmp/x && cat /tmp/x; mkdir -p /tmp/d/e; \
    cat /etc/passwd | wc -l; ls / > /dev/null; rm -r /tmp/d; echo done";
/// What the workload never did: each must fail with EPERM under the profile.
const NEVER_USED: &str = "unshare -n true; echo unshare=$?; \
    mount -t tmpfs none /mnt; echo mount=$?; ip link; echo netlink=$?";

fn learn(e: &Engine, name: &str) -> Value {
    let o = e.berth(&[
        "profile",
        "learn",
        "--name",
        name,
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        WORKLOAD,
    ]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        text(&o).contains("hi\n") && text(&o).ends_with("done\n"),
        "{}",
        show(&o)
    );
    let o = e.berth(&["profile", "show", "--format", "json", name]);
    assert!(o.status.success(), "{}", show(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn run_under(e: &Engine, profile: &std::path::Path, script: &str) -> std::process::Output {
    e.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &format!("seccomp={}", profile.display()),
        "bb:1",
        "sh",
        "-c",
        script,
    ])
}

fn check_enforced(e: &Engine, profile: &std::path::Path) {
    let o = run_under(e, profile, WORKLOAD);
    assert!(o.status.success(), "{}", show(&o));
    assert!(text(&o).ends_with("done\n"), "{}", show(&o));
    let o = run_under(e, profile, NEVER_USED);
    let out = text(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    for what in ["unshare=1", "mount=1"] {
        assert!(out.contains(what), "{what}: {}", show(&o));
    }
    assert!(
        out.contains("netlink=") && !out.contains("netlink=0"),
        "{}",
        show(&o)
    );
    assert!(
        err.contains("unshare(0x40000000): Operation not permitted"),
        "{err}"
    );
    assert!(err.contains("socket: Operation not permitted"), "{err}");
    // Docker's default lets the netlink socket through (and the listing works).
    let o = e.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "ip link",
    ]);
    assert!(
        o.status.success() && text(&o).contains("lo"),
        "{}",
        show(&o)
    );
}

#[test]
fn a_learned_shell_profile_is_small_and_enforced_by_berthd_and_dockerd() {
    if let Some(why) = skip_reason(true) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-prof-")
        .tempdir()
        .unwrap();
    let b = Engine::berthd(&tmp.path().join("b"));
    let tar = busybox_tar(tmp.path());
    let o = b.docker(&["import", tar.to_str().unwrap(), "bb:1"]);
    assert!(o.status.success(), "{}", show(&o));

    let p = learn(&b, "shell");
    let syscalls = p["syscalls"].as_array().unwrap();
    let caps = p["capabilities"].as_array().unwrap();
    assert!(
        syscalls.len() < 120,
        "{} syscalls: {syscalls:?}",
        syscalls.len()
    );
    assert!(caps.len() < 14, "{caps:?}");
    let names: Vec<&str> = syscalls.iter().filter_map(Value::as_str).collect();
    for needed in ["execve", "wait4", "mkdir", "rmdir", "openat"] {
        assert!(names.contains(&needed), "{needed} missing: {names:?}");
    }
    for never in ["unshare", "mount", "ptrace", "bpf"] {
        assert!(!names.contains(&never), "{never} allowed: {names:?}");
    }
    assert_eq!(p["dockerDefault"]["capabilities"], 14);
    assert!(p["dockerDefault"]["syscalls"].as_u64().unwrap() > 300);
    // Writes went to /tmp only.
    let rules = p["landlock"]["rules"]["pathBeneath"].as_array().unwrap();
    assert_eq!(rules[0]["paths"], serde_json::json!(["/tmp"]), "{rules:?}");
    let o = b.berth(&["profile", "ls"]);
    assert!(text(&o).contains("shell"), "{}", show(&o));

    let file = tmp.path().join("shell.json");
    let o = b.berth(&[
        "profile",
        "export",
        "--seccomp",
        "-o",
        file.to_str().unwrap(),
        "shell",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    check_enforced(&b, &file);

    // The same file on a private dockerd (runc).
    let d = Engine::dockerd(&tmp.path().join("d"));
    let o = d.docker(&["import", tar.to_str().unwrap(), "bb:1"]);
    assert!(o.status.success(), "{}", show(&o));
    check_enforced(&d, &file);

    let o = b.berth(&["profile", "rm", "shell"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = b.berth(&["profile", "show", "shell"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("No such profile: shell"),
        "{}",
        show(&o)
    );
}

#[test]
fn learning_ends_with_duration_or_stop() {
    if let Some(why) = skip_reason(false) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-prof-")
        .tempdir()
        .unwrap();
    let b = Engine::berthd(&tmp.path().join("b"));
    let tar = busybox_tar(tmp.path());
    let o = b.docker(&["import", tar.to_str().unwrap(), "bb:1"]);
    assert!(o.status.success(), "{}", show(&o));
    let started = std::time::Instant::now();
    let o = b.berth(&[
        "profile",
        "learn",
        "--name",
        "sleeper",
        "--duration",
        "1s",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "60",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(started.elapsed().as_secs() < 30);
    let o = b.berth(&["profile", "show", "--format", "json", "sleeper"]);
    let p: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        p["observed"]["syscalls"]
            .as_array()
            .unwrap()
            .contains(&Value::from("nanosleep"))
            || p["observed"]["syscalls"]
                .as_array()
                .unwrap()
                .contains(&Value::from("clock_nanosleep")),
        "{p}"
    );
    // A bad name is refused before anything runs.
    let o = b.berth(&["profile", "learn", "--name", "../x", "bb:1", "true"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("invalid profile name"),
        "{}",
        show(&o)
    );
}

#[path = "../../berthd/tests/common/registry.rs"]
mod registry;

/// Writes outside what the workload wrote fail through Landlock; unshare
/// through seccomp.
const OUTSIDE: &str = "echo x > /etc/y; echo etc=$?; unshare -n true; echo unshare=$?";

fn run_profiled(e: &Engine, image: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[image, "sh", "-c"]);
    let script = format!("{WORKLOAD}; {OUTSIDE}");
    args.push(&script);
    let o = e.docker(&args);
    assert!(o.status.success(), "{}", show(&o));
    assert!(text(&o).contains("done\n"), "{}", show(&o));
    text(&o)
}

fn assert_applied(e: &Engine, image: &str) {
    let out = run_profiled(e, image, &[]);
    assert!(out.contains("etc=1") && out.contains("unshare=1"), "{out}");
    let o = e.docker(&["create", "--network", "none", image, "true"]);
    let id = text(&o).trim().to_string();
    let o = e.docker(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"run.berth.profile.applied\"}}",
        &id,
    ]);
    assert_eq!(text(&o).trim(), "shell", "{}", show(&o));
    let _ = e.docker(&["rm", "-f", &id]);
}

#[test]
fn an_attached_profile_applies_by_default_travels_and_yields_to_the_user() {
    if let Some(why) = skip_reason(false) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-prof-")
        .tempdir()
        .unwrap();
    let b = Engine::berthd(&tmp.path().join("b"));
    let tar = busybox_tar(tmp.path());
    let o = b.docker(&["import", tar.to_str().unwrap(), "bb:1"]);
    assert!(o.status.success(), "{}", show(&o));
    learn(&b, "shell");
    let o = b.berth(&["profile", "attach", "shell", "bb:1", "bb:prof"]);
    assert!(o.status.success(), "{}", show(&o));

    // Without the profile the same writes work.
    let out = run_profiled(&b, "bb:1", &[]);
    assert!(out.contains("etc=0") && out.contains("unshare=1"), "{out}");
    assert_applied(&b, "bb:prof");
    // The user's explicit choices win.
    for extra in [
        &["--security-opt", "seccomp=unconfined"][..],
        &["--privileged"][..],
    ] {
        let out = run_profiled(&b, "bb:prof", extra);
        assert!(out.contains("etc=0"), "{extra:?}: {out}");
    }

    // save/load keeps it.
    let saved = tmp.path().join("prof.tar");
    let o = b.docker(&["save", "-o", saved.to_str().unwrap(), "bb:prof"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = b.docker(&["rmi", "bb:prof"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = b.docker(&["load", "-i", saved.to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    assert_applied(&b, "bb:prof");

    // push/pull through a local registry keeps it.
    if let Some(reg) = registry::Registry::start(tmp.path(), false) {
        let name = format!("{}/prof/bb:v1", reg.host);
        for args in [
            &["tag", "bb:prof", name.as_str()][..],
            &["push", name.as_str()][..],
            &["rmi", name.as_str(), "bb:prof"][..],
            &["pull", name.as_str()][..],
        ] {
            let o = b.docker(args);
            assert!(o.status.success(), "{args:?}: {}", show(&o));
        }
        assert_applied(&b, &name);
    } else {
        eprintln!("push/pull skipped: docker-registry is missing");
    }

    // A daemon with --security-profiles=off leaves it alone.
    drop(b);
    let off = Engine::berthd_with(&tmp.path().join("off"), &["--security-profiles", "off"]);
    let o = off.docker(&["load", "-i", saved.to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    let out = run_profiled(&off, "bb:prof", &[]);
    assert!(out.contains("etc=0"), "{out}");
}
