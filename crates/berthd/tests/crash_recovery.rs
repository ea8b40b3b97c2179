//! berthd killed (SIGKILL, through its `BERTHD_CRASH_AT=<step>` fault-injection hook) at each step of
//! create, start, stop, kill, rm, exec and an auto-remove exit, then started again: every container is
//! running, startable, or gone as the user asked, and once everything is removed nothing is left (no
//! shim or init, no cgroup, runtime state, shim socket, mount or veth).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// What the user may find after the restart.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// It runs (and takes an exec).
    Running,
    /// Created or exited, and `docker start` starts it.
    Startable,
    /// Running, or startable.
    RunningOrStartable,
    /// Removed (the user asked for it, or it was `--rm`).
    Gone,
    /// Removed, or exited and removable.
    GoneOrExited,
}

struct Case {
    step: &'static str,
    /// Commands before the one that crashes (run with the hook armed; they must not reach it).
    setup: &'static [&'static [&'static str]],
    /// The command that makes berthd reach the step (`None`: the step comes by itself).
    crash: Option<&'static [&'static str]>,
    expect: Expect,
}

const RUN: &[&str] = &["run", "-d", "--name", "cc", "bb:1", "sleep", "1000"];
const CREATE: &[&str] = &["create", "--name", "cc", "bb:1", "sleep", "1000"];
const START: &[&str] = &["start", "cc"];
const RUN_RM_NONE: &[&str] = &[
    "run",
    "--rm",
    "--network",
    "none",
    "--name",
    "cc",
    "bb:1",
    "true",
];
/// Without a network, the shim starts the container in one runtime call (`run --detach`) and
/// holds its output until berthd releases it.
const CREATE_NONE: &[&str] = &[
    "create",
    "--name",
    "cc",
    "--network",
    "none",
    "bb:1",
    "sleep",
    "1000",
];

fn cases() -> Vec<Case> {
    let start = |step, expect| Case {
        step,
        setup: &[CREATE],
        crash: Some(START),
        expect,
    };
    vec![
        Case {
            step: "create:stored",
            setup: &[],
            crash: Some(CREATE),
            expect: Expect::Startable,
        },
        // Cut off after the snapshot and the directories, before the record: nothing of it may
        // stay (also what a host crash leaves when it loses a `--rm` container's unsynced insert).
        Case {
            step: "create:prepared",
            setup: &[],
            crash: Some(CREATE),
            expect: Expect::Gone,
        },
        Case {
            step: "create:prepared",
            setup: &[],
            crash: Some(&["run", "--rm", "--name", "cc", "bb:1", "true"]),
            expect: Expect::Gone,
        },
        start("start:mounted", Expect::Startable),
        start("start:listening", Expect::Startable),
        start("start:shim", Expect::Startable),
        start("start:network", Expect::Startable),
        start("start:persisted", Expect::Running),
        start("start:started", Expect::Running),
        Case {
            step: "start:shim",
            setup: &[CREATE_NONE],
            crash: Some(START),
            expect: Expect::Startable,
        },
        Case {
            step: "start:persisted",
            setup: &[CREATE_NONE],
            crash: Some(START),
            expect: Expect::Running,
        },
        Case {
            step: "start:shim",
            setup: &[],
            crash: Some(&[
                "run",
                "--rm",
                "--network",
                "none",
                "--name",
                "cc",
                "bb:1",
                "sleep",
                "1000",
            ]),
            expect: Expect::Gone,
        },
        Case {
            step: "start:shim",
            setup: &[],
            crash: Some(&["run", "-d", "--rm", "--name", "cc", "bb:1", "sleep", "1000"]),
            expect: Expect::Gone,
        },
        Case {
            step: "stop:signalled",
            setup: &[RUN],
            crash: Some(&["stop", "-t", "1", "cc"]),
            expect: Expect::RunningOrStartable,
        },
        Case {
            step: "rm:killed",
            setup: &[RUN],
            crash: Some(&["rm", "-f", "cc"]),
            expect: Expect::GoneOrExited,
        },
        Case {
            step: "rm:files",
            setup: &[RUN],
            crash: Some(&["rm", "-f", "cc"]),
            expect: Expect::Gone,
        },
        // A `--rm` container's bundle made ahead of its start (its rootfs mounted): removed.
        Case {
            step: "prestart:made",
            setup: &[],
            crash: Some(RUN_RM_NONE),
            expect: Expect::Gone,
        },
        // Its auto-removal deletes the record before the files: what has no record goes.
        Case {
            step: "rm:files",
            setup: &[],
            crash: Some(RUN_RM_NONE),
            expect: Expect::Gone,
        },
        Case {
            step: "exit:autoremove",
            setup: &[&["run", "-d", "--rm", "--name", "cc", "bb:1", "sleep", "0.3"]],
            crash: None,
            expect: Expect::Gone,
        },
        Case {
            step: "exec:spawned",
            setup: &[RUN],
            crash: Some(&["exec", "cc", "sleep", "0.2"]),
            expect: Expect::Running,
        },
    ]
}

fn status(d: &Berthd) -> Option<String> {
    let o = d.docker(&["inspect", "-f", "{{.State.Status}}", "cc"]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn wait_dead(d: &mut Berthd) {
    let t = Instant::now();
    let child = d.child.as_mut().expect("daemon");
    while child.try_wait().expect("try_wait").is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "berthd never reached its crash step: {}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes in any of the containers' cgroups, or with the test directory in their command line.
fn leftover_processes(dir: &str, ids: &[String], daemon: u32) -> Vec<String> {
    let mut out = Vec::new();
    let (me, daemon) = (std::process::id().to_string(), daemon.to_string());
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() || name == me || name == daemon {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let cg = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        // The running daemon's idle standby shim and its forked runtime process, which still read
        // berthd's pipe (checked after the last kill below). A standby that took a container
        // keeps its command line but has /dev/null there: that one counts.
        let idle = std::fs::read_link(e.path().join("fd/0"))
            .is_ok_and(|l| l.to_string_lossy().starts_with("pipe:"));
        if cmd.contains(dir) && cmd.contains("--standby") && idle {
            continue;
        }
        if cmd.contains(dir) || ids.iter().any(|id| cg.contains(&format!("/berth/{id}"))) {
            out.push(format!("{name}: {cmd}"));
        }
    }
    out
}

fn leftovers(d: &Berthd, ids: &[String], bridge_up: bool) -> Vec<String> {
    let dir = d.dir.path().to_string_lossy().into_owned();
    let daemon = d.child.as_ref().map_or(0, |c| c.id());
    let mut out = leftover_processes(&dir, ids, daemon);
    for id in ids {
        for ctl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let p = ctl.path().join("berth").join(id);
            if p.exists() {
                out.push(format!("cgroup {}", p.display()));
            }
        }
        let veth: String = format!("vb{}", &id[..11]);
        if bridge_up && Path::new("/sys/class/net").join(&veth).exists() {
            out.push(format!("veth {veth}"));
        }
    }
    let exec = d.dir.path().join("exec");
    for rt in std::fs::read_dir(exec.join("runtime"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for st in std::fs::read_dir(rt.path()).into_iter().flatten().flatten() {
            if !st.file_name().to_string_lossy().starts_with('.') {
                out.push(format!("runtime state {}", st.path().display()));
            }
        }
    }
    for s in std::fs::read_dir(exec.join("s"))
        .into_iter()
        .flatten()
        .flatten()
    {
        out.push(format!("socket {}", s.path().display()));
    }
    // Directories and snapshots of containers (none is left once `cc` is removed).
    let data = d.dir.path().join("data");
    for parent in [
        data.join("containers"),
        data.join("overlay").join("active"),
        exec.join("containers"),
    ] {
        for e in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            if !e.file_name().to_string_lossy().starts_with('.') {
                out.push(format!("directory {}", e.path().display()));
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for m in mounts.lines().filter_map(|l| l.split(' ').nth(4)) {
        if m.starts_with(&dir) {
            out.push(format!("mount {m}"));
        }
    }
    out
}

#[test]
fn kill_9_at_every_step_recovers_and_leaves_nothing() {
    skip_unless_ready!("kill_9_at_every_step_recovers_and_leaves_nothing");
    let tag = std::process::id() % 1000;
    let bridge = format!("bcr{tag}");
    let bip = format!("10.223.{}.1/24", tag % 200 + 10);
    let mut d = Berthd::start_with(&["--bridge", &bridge, "--bip", &bip]);
    // The harness's drop removes the daemon's chains; the bridge goes here.
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).output();
        }
    }
    let _cleanup = Cleanup(bridge.clone());
    d.import_busybox("bb:1");
    let mut ids = Vec::new();
    for case in cases() {
        let t = Instant::now();
        d.kill9();
        d.spawn_env(&[("BERTHD_CRASH_AT", case.step)]);
        for cmd in case.setup {
            d.ok(cmd);
        }
        if let Some(cmd) = case.crash {
            let o = d.docker(cmd);
            assert!(
                !o.status.success(),
                "{}: docker {cmd:?} succeeded, the step was never reached\n{}",
                case.step,
                d.log()
            );
        }
        wait_dead(&mut d);
        d.kill9();
        d.spawn();
        let ctx = |what: &str| format!("{} ({:?}): {what}\n{}", case.step, case.expect, d.log());
        let id = d.docker(&["inspect", "-f", "{{.Id}}", "cc"]);
        let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
        if !id.is_empty() {
            ids.push(id);
        }
        let st = status(&d);
        match (case.expect, st.as_deref()) {
            (Expect::Gone, None) | (Expect::GoneOrExited, None) => {}
            (Expect::GoneOrExited, Some("exited")) => {}
            (Expect::Running | Expect::RunningOrStartable, Some("running")) => {
                let o = d.docker(&["exec", "cc", "true"]);
                assert!(o.status.success(), "{}", ctx("running but exec fails"));
            }
            (Expect::Startable | Expect::RunningOrStartable, Some("created" | "exited")) => {
                let o = d.docker(&["start", "cc"]);
                assert!(
                    o.status.success(),
                    "{}",
                    ctx(&format!(
                        "start after recovery: {}",
                        String::from_utf8_lossy(&o.stderr)
                    ))
                );
                assert_eq!(status(&d).as_deref(), Some("running"), "{}", ctx("started"));
            }
            (_, other) => panic!("{}", ctx(&format!("status after restart: {other:?}"))),
        }
        if st.is_some() {
            d.ok(&["rm", "-f", "cc"]);
        }
        let left = leftovers(&d, &ids, true);
        assert!(left.is_empty(), "{}", ctx(&format!("left: {left:#?}")));
        eprintln!("{}: ok in {:?}", case.step, t.elapsed());
    }
    // Containers that exit on their own: their veth is gone with their namespace, and that is no error.
    for _ in 0..3 {
        d.ok(&["run", "--rm", "bb:1", "true"]);
    }
    let log = d.log();
    assert!(
        !log.contains("disconnecting"),
        "taking containers off the bridge failed:\n{log}"
    );
    // The standby shim a daemon keeps goes with it, even with a kill -9.
    let dir = d.dir.path().to_string_lossy().into_owned();
    let standby = |dir: &str| {
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains("--standby") && cmd.contains(dir) {
                found.push(cmd);
            }
        }
        found
    };
    let t = Instant::now();
    while standby(&dir).is_empty() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!standby(&dir).is_empty(), "no standby shim: {}", d.log());
    d.kill9();
    let t = Instant::now();
    while !standby(&dir).is_empty() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        standby(&dir),
        Vec::<String>::new(),
        "standby shims outlived berthd"
    );
}
