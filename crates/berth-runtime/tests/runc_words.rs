//! What callers of a drop-in runc read from it: the `--debug` stage lines,
//! warnings and refusals in runc's words (its integration suite, shims and
//! scripts grep them), and the configs runc's own tests use that must run.

mod common;

use common::{err_text, text, Bundle};
use serde_json::json;

/// The stage lines of `--debug` name runc's stages (nsexec, init, the pipe
/// init closes when set-up is done), on stderr or in the `--log` file in
/// either format, and never on stderr when a log file is given.
#[test]
fn debug_lines_name_the_stages_of_create() {
    require_root!();
    let stages = [
        "nsexec container setup",
        "child process in init()",
        "init: closing the pipe to signal completion",
    ];
    let b = Bundle::new(|c| c["process"]["args"] = json!(["echo", "Hello World"]));
    let out = b.run(&["--debug", "run", "dbg1"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert_eq!(text(&out), "Hello World\n");
    let err = err_text(&out);
    assert!(err.contains("level=debug"), "{err}");
    for s in stages {
        assert!(err.contains(s), "no {s:?} in: {err}");
    }
    for (format, level) in [("text", "level=debug"), ("json", "\"level\":\"debug\"")] {
        let log = b.tmp.path().join(format!("log.{format}"));
        let out = b.run(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            format,
            "--debug",
            "run",
            "dbg2",
        ]);
        assert!(out.status.success(), "{}", err_text(&out));
        assert!(!err_text(&out).contains("level"), "{}", err_text(&out));
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.contains(level), "{logged}");
        for s in stages {
            assert!(logged.contains(s), "{format}: no {s:?} in: {logged}");
        }
    }
}

#[test]
fn debug_lines_name_the_stages_of_exec() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "dbgexec"]);
    assert!(ok, "{err}");
    let out = b.run(&["--debug", "exec", "dbgexec", "true"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let err = err_text(&out);
    for s in [
        "level=debug",
        "nsexec container setup",
        "child process in init()",
        "setns_init: about to exec",
    ] {
        assert!(err.contains(s), "no {s:?} in: {err}");
    }
    let out = b.run(&["delete", "-f", "dbgexec"]);
    assert!(out.status.success(), "{}", err_text(&out));
}

/// A second container in the cgroup of a running one is allowed, with
/// runc's warning, since kill --all and delete reach both.
#[test]
fn a_non_empty_cgroup_is_warned_about() {
    require_root!();
    let cg = format!("/berth-test-nonempty-{}", std::process::id());
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "60"]);
        c["linux"]["cgroupsPath"] = json!(cg);
    });
    let (ok, err) = b.detached(&["run", "-d", "ne1"]);
    assert!(ok, "{err}");
    assert!(!err.contains("not empty"), "{err}");
    let (ok, err) = b.detached(&["create", "ne2"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("container's cgroup is not empty: 1 process(es) found"),
        "{err}"
    );
    for id in ["ne2", "ne1"] {
        let out = b.run(&["delete", "-f", id]);
        assert!(out.status.success(), "{}", err_text(&out));
    }
}

/// A startContainer hook killed by the container's seccomp filter: the
/// error says a hook failed and why, in runc's words.
#[test]
fn a_hook_killed_by_seccomp_says_bad_system_call() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["true"]);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]
        });
        c["hooks"] = json!({"startContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", "mkdir /tmp/hook-dir"]
        }]});
    });
    let out = b.run(&["run", "hookkill"]);
    assert!(!out.status.success());
    let err = err_text(&out);
    assert!(err.contains("error running hook"), "{err}");
    assert!(err.contains("bad system call"), "{err}");
}

#[test]
fn a_missing_seccomp_agent_is_named() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["true"]));
    let socket = b.tmp.path().join("no-agent.sock");
    b.set_config(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket.to_str().unwrap(),
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let out = b.run(&["run", "noagent"]);
    assert!(!out.status.success());
    let err = err_text(&out);
    assert!(
        err.contains("failed to connect with seccomp agent"),
        "{err}"
    );
    assert!(text(&b.run(&["list", "-q"])).trim().is_empty());
}

/// runc's update.bats denies `rwa` on /dev/kmsg after a deny-all: the
/// container runs, /dev/kmsg stays closed and /dev/null open.
#[test]
fn device_rules_with_unknown_access_letters_run() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "head -c 1 /dev/kmsg >/dev/null 2>&1 && echo kmsg-read; echo ok > /dev/null && echo null-ok"
        ]);
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwa"}
        ]);
        c["linux"]["devices"] =
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
    });
    let out = b.run(&["run", "rwa"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert_eq!(text(&out), "null-ok\n");
}

/// `exec --cgroup` refusals in runc's words, before anything runs.
#[test]
fn exec_cgroup_refusals_use_runcs_words() {
    require_root!();
    if !std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        eprintln!("skipped: no cgroup v1 pids hierarchy");
        return;
    }
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "cgwords"]);
    assert!(ok, "{err}");
    let out = b.run(&["exec", "--cgroup", "..", "cgwords", "true"]);
    assert!(!out.status.success());
    assert!(
        err_text(&out).contains(" .. is not a sub cgroup path"),
        "{}",
        err_text(&out)
    );
    for arg in ["nonexistent", "pids:nonexistent"] {
        let out = b.run(&["exec", "--cgroup", arg, "cgwords", "true"]);
        assert!(!out.status.success());
        let err = err_text(&out);
        let at = err.find(" adding pid ").unwrap_or_else(|| panic!("{err}"));
        assert!(
            err[at..].contains("/nonexistent/cgroup.procs: no such file "),
            "{err}"
        );
    }
    let out = b.run(&["delete", "-f", "cgwords"]);
    assert!(out.status.success(), "{}", err_text(&out));
}

/// On a hybrid host whose cgroup2 hierarchy has no memory controller,
/// `unified: {"memory.min": ...}` is refused as runc refuses it.
#[test]
fn unified_keys_without_their_controller_are_an_invalid_configuration() {
    require_root!();
    let controllers = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers");
    match controllers {
        Ok(c) if !c.split_whitespace().any(|x| x == "memory") => {}
        _ => {
            eprintln!("skipped: needs a hybrid host without memory in cgroup2");
            return;
        }
    }
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["true"]);
        c["linux"]["resources"]["unified"] = json!({"memory.min": "131072"});
    });
    let out = b.run(&["run", "unified"]);
    assert!(!out.status.success());
    assert!(
        err_text(&out).contains("invalid configuration"),
        "{}",
        err_text(&out)
    );
    assert!(text(&b.run(&["list", "-q"])).trim().is_empty());
}

/// `checkpoint --parent-path` is checked before anything else (before
/// criu and before what the container's mounts allow).
#[test]
fn checkpoint_checks_the_parent_path_first() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "predump"]);
    assert!(ok, "{err}");
    let images = b.tmp.path().join("images");
    let abs = b.tmp.path().join("parent-dir");
    for parent in [abs.to_str().unwrap(), "./parent-dir"] {
        let out = b.run(&[
            "checkpoint",
            "--parent-path",
            parent,
            "--image-path",
            images.to_str().unwrap(),
            "predump",
        ]);
        assert!(!out.status.success());
        assert!(
            err_text(&out).contains("--parent-path"),
            "{}",
            err_text(&out)
        );
    }
    assert_eq!(b.state("predump")["status"], "running");
    let out = b.run(&["delete", "-f", "predump"]);
    assert!(out.status.success(), "{}", err_text(&out));
}

/// A missing container is the error of every command that names one, before anything else about
/// the command line is read (runc looks the container up first): `kill nosuch 99` says the
/// container does not exist, not that the signal is unknown. Exit codes are runc's: 1, 255 for
/// exec, 0 for `delete --force`.
#[test]
fn a_missing_container_is_the_error_before_a_bad_signal() {
    let root = tempfile::tempdir().unwrap();
    for (args, code) in [
        (&["kill", "nosuch", "99"][..], 1),
        (&["kill", "nosuch", "FOO"], 1),
        (&["kill", "nosuch"], 1),
        (&["delete", "nosuch"], 1),
        (&["state", "nosuch"], 1),
        (&["start", "nosuch"], 1),
        (&["pause", "nosuch"], 1),
        (&["resume", "nosuch"], 1),
        (&["exec", "nosuch", "true"], 255),
    ] {
        let out = std::process::Command::new(common::BIN)
            .arg("--root")
            .arg(root.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            err_text(&out)
        );
        assert!(
            err_text(&out).contains("does not exist"),
            "{args:?}: {}",
            err_text(&out)
        );
    }
    let out = std::process::Command::new(common::BIN)
        .arg("--root")
        .arg(root.path())
        .args(["delete", "--force", "nosuch"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", err_text(&out));
}
