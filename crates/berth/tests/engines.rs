//! The berth CLI against real Engine API servers: berthd and, as the
//! reference, a private dockerd (each with its own data root, exec root,
//! socket and pidfile; stopped by pid afterwards). The same verbs are run
//! against both: what works against the reference implementation must work
//! against berthd.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

#[path = "../../berthd/tests/common/registry.rs"]
mod registry;

use common::{busybox_tar, show, skip_reason, text, Engine};
use registry::Registry;

#[test]
fn everyday_verbs_against_dockerd() {
    if let Some(why) = skip_reason(true) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-cli-")
        .tempdir()
        .unwrap();
    let d = Engine::dockerd(tmp.path());
    everyday_verbs(&d, tmp.path());
}

#[test]
fn everyday_verbs_against_berthd() {
    if let Some(why) = skip_reason(false) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-cli-")
        .tempdir()
        .unwrap();
    let d = Engine::berthd(tmp.path());
    everyday_verbs(&d, tmp.path());
}

/// login, push and pull (with progress) through a local registry.
#[test]
fn login_push_pull_against_berthd() {
    if let Some(why) = skip_reason(false) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-cli-")
        .tempdir()
        .unwrap();
    let Some(reg) = Registry::start(tmp.path(), true) else {
        eprintln!("skipped: docker-registry or htpasswd (apache2-utils) is missing");
        return;
    };
    let d = Engine::berthd(tmp.path());
    let tar = busybox_tar(tmp.path());
    assert!(d
        .berth(&["import", tar.to_str().unwrap(), "cli-reg:v1"])
        .status
        .success());
    let name = format!("{}/cli/bb:v1", reg.host);
    assert!(d.berth(&["tag", "cli-reg:v1", &name]).status.success());
    let o = d.berth(&["push", &name]);
    assert!(
        !o.status.success(),
        "push without login must fail: {}",
        show(&o)
    );
    let o = d.berth_stdin(
        &["login", "-u", "u", "--password-stdin", &reg.host],
        b"wrong\n",
    );
    assert!(
        !o.status.success(),
        "a bad password is refused: {}",
        show(&o)
    );
    let o = d.berth_stdin(&["login", "-u", "u", "--password-stdin", &reg.host], b"p\n");
    assert!(o.status.success(), "{}", show(&o));
    let o = d.berth(&["push", &name]);
    assert!(
        o.status.success() && text(&o).contains("v1: digest: sha256:"),
        "{}",
        show(&o)
    );
    assert!(d.berth(&["rmi", &name]).status.success());
    assert!(d.berth(&["rmi", "cli-reg:v1"]).status.success());
    let o = d.berth(&["pull", &name]);
    assert!(
        o.status.success() && text(&o).contains("Downloaded newer image"),
        "{}",
        show(&o)
    );
    let o = d.berth(&["run", "--rm", "--network", "none", &name, "echo", "pulled"]);
    assert_eq!(text(&o), "pulled\n", "{}", show(&o));
}

fn everyday_verbs(d: &Engine, dir: &Path) {
    let tar = busybox_tar(dir);
    let tmp = dir;

    let o = d.berth(&["import", tar.to_str().unwrap(), "cli-test:v1"]);
    assert!(
        o.status.success() && text(&o).starts_with("sha256:"),
        "{}",
        show(&o)
    );
    let o = d.berth(&["images"]);
    assert!(
        text(&o).contains("cli-test") && text(&o).contains("v1"),
        "{}",
        show(&o)
    );

    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "cli-test:v1",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert_eq!(text(&o), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");

    let o = d.berth_stdin(
        &[
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "cli-test:v1",
            "cat",
        ],
        b"piped in\n",
    );
    assert_eq!(text(&o), "piped in\n", "{}", show(&o));

    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "cli-d",
        "--network",
        "none",
        "cli-test:v1",
        "sh",
        "-c",
        "echo started; sleep 60",
    ]);
    assert!(
        o.status.success() && text(&o).trim().len() == 64,
        "{}",
        show(&o)
    );
    let o = d.berth(&["ps"]);
    assert!(
        text(&o).contains("cli-d") && text(&o).contains("Up"),
        "{}",
        show(&o)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&d.berth(&["logs", "cli-d"])).contains("started") {
        assert!(Instant::now() < deadline, "no logs");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = d.berth(&["exec", "cli-d", "sh", "-c", "echo in-exec; exit 4"]);
    assert_eq!(
        (o.status.code(), text(&o).as_str()),
        (Some(4), "in-exec\n"),
        "{}",
        show(&o)
    );
    let o = d.berth(&["stop", "-t", "1", "cli-d"]);
    assert_eq!(text(&o), "cli-d\n", "{}", show(&o));
    let o = d.berth(&["ps", "-a", "--filter", "status=exited", "-q"]);
    assert_eq!(text(&o).lines().count(), 1, "{}", show(&o));
    let o = d.berth(&["inspect", "cli-d"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["State"]["Status"], "exited");
    assert!(d.berth(&["rm", "cli-d"]).status.success());

    // Images: tag, save, rmi, load round trip.
    assert!(d
        .berth(&["tag", "cli-test:v1", "cli-test:v2"])
        .status
        .success());
    let saved = tmp.join("saved.tar");
    let o = d.berth(&["save", "-o", saved.to_str().unwrap(), "cli-test:v2"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = d.berth(&["rmi", "cli-test:v2"]);
    assert!(text(&o).contains("Untagged: cli-test:v2"), "{}", show(&o));
    let o = d.berth(&["load", "-i", saved.to_str().unwrap()]);
    assert!(text(&o).contains("cli-test:v2"), "{}", show(&o));

    // Errors name the thing and use docker's exit codes.
    let o = d.berth(&["stop", "no-such-container"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("No such container: no-such-container"),
        "{}",
        show(&o)
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "80/sctp",
        "cli-test:v1",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{}", show(&o));
    // A program the runtime cannot start: 127 when it is missing, 126 when it is not executable.
    for (program, code) in [("no-such-program", 127), ("/etc", 126)] {
        let o = d.berth(&["run", "--rm", "--network", "none", "cli-test:v1", program]);
        assert_eq!(o.status.code(), Some(code), "{program}: {}", show(&o));
    }
}

/// `berth build`: tags, build args, another Dockerfile name, .dockerignore, -q, and a failing RUN's
/// message; the same against dockerd's classic builder and berthd.
fn build_verbs(e: &Engine, dir: &Path) {
    let tar = busybox_tar(dir);
    assert!(e
        .berth(&["import", tar.to_str().unwrap(), "bb:build"])
        .status
        .success());
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Build.file"),
        "FROM bb:build\nARG WHO=nobody\nCOPY . /ctx/\nRUN echo \"hi $WHO\" > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.join("keep.txt"), "k").unwrap();
    std::fs::write(ctx.join("skip.txt"), "s").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "skip.txt\n").unwrap();
    let c = ctx.to_str().unwrap();
    let df = ctx.join("Build.file");
    let o = e.berth(&[
        "build",
        "-t",
        "cli-built:1",
        "-t",
        "cli-built:2",
        "-f",
        df.to_str().unwrap(),
        "--build-arg",
        "WHO=berth",
        "--network",
        "none",
        c,
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{:?} {out}", o.status);
    assert!(
        out.contains("Step 4/5 : RUN echo") && out.contains("Successfully tagged cli-built:2"),
        "{out}"
    );
    let run = |args: &[&str]| String::from_utf8_lossy(&e.berth(args).stdout).into_owned();
    assert_eq!(
        run(&["run", "--rm", "--network", "none", "cli-built:1"]),
        "hi berth\n"
    );
    let ls = run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "cli-built:2",
        "sh",
        "-c",
        "echo /ctx/*",
    ]);
    assert!(ls.contains("keep.txt") && !ls.contains("skip.txt"), "{ls}");
    let o = e.berth(&[
        "build",
        "-q",
        "-f",
        df.to_str().unwrap(),
        "--network",
        "none",
        c,
    ]);
    let id = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success() && id.trim().starts_with("sha256:") && id.lines().count() == 1,
        "{id}"
    );
    std::fs::write(ctx.join("Dockerfile"), "FROM bb:build\nRUN exit 7\n").unwrap();
    let o = e.berth(&["build", "--network", "none", c]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("The command '/bin/sh -c exit 7' returned a non-zero code: 7"),
        "{err}"
    );
}

#[test]
fn build_against_dockerd() {
    if let Some(why) = skip_reason(true) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-cli-")
        .tempdir()
        .unwrap();
    let d = Engine::dockerd(tmp.path());
    build_verbs(&d, tmp.path());
}

#[test]
fn build_against_berthd() {
    if let Some(why) = skip_reason(false) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-cli-")
        .tempdir()
        .unwrap();
    let d = Engine::berthd(tmp.path());
    build_verbs(&d, tmp.path());
}
