//! End-to-end tests: each starts its own berthd on a temporary socket, data root and exec root, makes a
//! busybox image from Debian's busybox-static, and drives the stock docker CLI against it. They need root
//! (mounts, namespaces), the docker CLI and /bin/busybox; without them they print why and pass.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn version_info_and_api_errors() {
    skip_unless_ready!("version_info_and_api_errors");
    let d = Berthd::start();
    let v = d.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
    ]);
    assert_eq!(v.trim(), "1.47 1.24");
    let info = d.ok(&[
        "info",
        "--format",
        "{{.OSType}} {{.Driver}} {{.DefaultRuntime}}",
    ]);
    assert_eq!(info.trim(), "linux overlay2 berth");

    let (st, body) = d.http("GET", "/_ping", None);
    assert_eq!((st, body.as_str()), (200, "OK"));
    let (st, _) = d.http("GET", "/v1.24/version", None);
    assert_eq!(st, 200);
    let (st, body) = d.http("GET", "/v1.12/version", None);
    assert_eq!(st, 400, "{body}");

    let (st, body) = d.http("GET", "/v1.47/containers/x/json", None);
    assert_eq!(st, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["message"], "No such container: x");

    let (st, body) = d.http("POST", "/containers/create", Some("{\"Image\":"));
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("\"message\""));

    d.import_busybox("bb:1");
    d.ok(&[
        "create",
        "--name",
        "dup",
        "--network",
        "none",
        "bb:1",
        "true",
    ]);
    let (st, body) = d.http(
        "POST",
        "/containers/create?name=dup",
        Some(r#"{"Image":"bb:1","Cmd":["true"]}"#),
    );
    assert_eq!(st, 409, "{body}");
    assert!(body.contains("is already in use"), "{body}");
    let (st, body) = d.http("POST", "/containers/create", Some(r#"{"Image":"nope:1"}"#));
    assert_eq!(st, 404, "{body}");
    assert!(body.contains("No such image: nope:1"), "{body}");
    // Nothing half-created: only `dup` exists.
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), 1);
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let ev = d.ok(&[
        "events",
        "--since",
        "1",
        "--until",
        &until,
        "--filter",
        "event=create",
        "--format",
        "{{.Type}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(ev, "container dup\n");
}

#[test]
fn images_import_load_tag_rmi_save() {
    skip_unless_ready!("images_import_load_tag_rmi_save");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["tag", "bb:1", "bb:2"]);
    let tags = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(tags.contains("bb:1") && tags.contains("bb:2"), "{tags}");
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "bb:1"]);
    assert!(id.trim().starts_with("sha256:"));

    let archive = d.dir.path().join("save.tar");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "bb:1"]);
    let out = d.ok(&["rmi", "bb:2"]);
    assert!(out.contains("Untagged: bb:2"), "{out}");

    // In use by a container: the last name cannot go without force.
    d.ok(&[
        "create",
        "--name",
        "user",
        "--network",
        "none",
        "bb:1",
        "true",
    ]);
    let o = d.docker(&["rmi", "bb:1"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("conflict"),
        "{o:?}"
    );
    d.ok(&["rm", "user"]);
    let out = d.ok(&["rmi", "bb:1"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");

    let out = d.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: bb:1"), "{out}");
    let filtered = d.ok(&[
        "images",
        "--filter",
        "reference=bb*",
        "--format",
        "{{.Tag}}",
    ]);
    assert_eq!(filtered.trim(), "1");
    assert_eq!(
        d.ok(&["images", "-q", "--filter", "dangling=true"]).trim(),
        ""
    );
    let run = d.ok(&["run", "--rm", "--network", "none", "bb:1", "echo", "loaded"]);
    assert_eq!(run, "loaded\n");
}

#[test]
fn run_logs_stop_rm() {
    skip_unless_ready!("run_logs_stop_rm");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "bb:1", "echo", "hi"]),
        "hi\n"
    );
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    let o = d.docker_in(
        &["run", "--rm", "-i", "--network", "none", "bb:1", "cat"],
        Some(b"piped\n"),
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "piped\n");
    // The CLI's exit codes for a program that cannot start come from the runtime's words, as
    // runc says them: missing 127, a directory (or no execute bit) 126.
    for (prog, code) in [("nosuchcmd", 127), ("/no/such/prog", 127), ("/etc", 126)] {
        let o = d.docker(&["run", "--rm", "--network", "none", "bb:1", prog]);
        assert_eq!(o.status.code(), Some(code), "{prog}: {o:?}");
    }
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "nobody",
        "bb:1",
        "true",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unable to find user nobody"),
        "{o:?}"
    );
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "--rm containers are gone");

    // Privileged: every capability the host has, no seccomp, the host's devices.
    let out = d.ok(&[
        "run",
        "--rm",
        "--privileged",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "busybox grep Seccomp: /proc/self/status; ls /dev/loop0 2>/dev/null || echo no-loop",
    ]);
    let host_has_loop = Path::new("/dev/loop0").exists();
    assert_eq!(
        out,
        if host_has_loop {
            "Seccomp:\t0\n/dev/loop0\n"
        } else {
            "Seccomp:\t0\nno-loop\n"
        }
    );

    // A custom seccomp profile (the CLI sends the file's JSON inline).
    let prof = d.dir.path().join("seccomp.json");
    std::fs::write(&prof, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
    let opt = format!("seccomp={}", prof.display());
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &opt,
        "bb:1",
        "sh",
        "-c",
        "mkdir /x 2>/dev/null || echo blocked",
    ]);
    assert_eq!(out, "blocked\n");

    // Docker's defaults inside: capabilities, hostname, read-only /proc/sys.
    let id_out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--hostname",
        "box",
        "bb:1",
        "sh",
        "-c",
        "hostname; grep CapBnd /proc/self/status; touch /proc/sys/x 2>/dev/null || echo ro",
    ]);
    assert_eq!(id_out, "box\nCapBnd:\t00000000a80425fb\nro\n");

    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done",
    ]);
    assert_eq!(id.trim().len(), 64);
    std::thread::sleep(Duration::from_millis(700));
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "web running");
    let logs = d.ok(&["logs", "web"]);
    assert!(logs.starts_with("line 0\nline 1\n"), "{logs}");
    assert_eq!(d.ok(&["logs", "--tail", "1", "web"]).lines().count(), 1);
    let t = Instant::now();
    d.ok(&["stop", "-t", "1", "web"]);
    assert!(t.elapsed() < Duration::from_secs(5));
    let ps = d.ok(&[
        "ps",
        "-a",
        "--filter",
        "status=exited",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(ps.starts_with("web Exited (137)"), "{ps}");
    d.ok(&["start", "web"]);
    d.ok(&["kill", "web"]);
    d.ok(&["rm", "web"]);

    // A terminal: output comes raw, with the pty's CRLF.
    let o = d.docker(&[
        "run",
        "--rm",
        "-t",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo tty; exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "tty\r\n");

    // logs -f follows until the container exits; restart runs it again.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ff",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "for i in 1 2 3; do echo n$i; sleep 0.2; done",
    ]);
    assert_eq!(d.ok(&["logs", "-f", "ff"]), "n1\nn2\nn3\n");
    d.ok(&["restart", "-t", "1", "ff"]);
    assert_eq!(d.ok(&["wait", "ff"]).trim(), "0");
    assert_eq!(d.ok(&["logs", "ff"]).lines().count(), 6);
    d.ok(&["rm", "ff"]);

    d.ok(&[
        "run",
        "-d",
        "--name",
        "victim",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "60",
    ]);
    let o = d.docker(&[
        "exec",
        "victim",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    let o = d.docker_in(
        &[
            "exec",
            "-i",
            "-u",
            "1000",
            "-w",
            "/tmp",
            "victim",
            "sh",
            "-c",
            "cat; id -u; pwd",
        ],
        Some(b"in\n"),
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "in\n1000\n/tmp\n");
    let o = d.docker(&["exec", "-t", "victim", "sh", "-c", "echo tty; exit 6"]);
    assert_eq!(o.status.code(), Some(6));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "tty\r\n");
    d.ok(&["pause", "victim"]);
    assert_eq!(d.ok(&["ps", "--format", "{{.State}}"]).trim(), "paused");
    d.ok(&["unpause", "victim"]);
    d.ok(&["pause", "victim"]);
    let top = d.ok(&["top", "victim"]);
    assert!(top.starts_with("UID") && top.contains("sleep 60"), "{top}");
    let o = d.docker(&["rm", "victim"]);
    assert!(
        !o.status.success(),
        "removing a running container needs force"
    );
    d.ok(&["rm", "-f", "victim"]);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn containers_survive_a_daemon_kill() {
    skip_unless_ready!("containers_survive_a_daemon_kill");
    let mut d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "long",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "short",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    d.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert!(ps.contains("long running"), "{ps}");
    assert!(ps.contains("short exited"), "{ps}");
    let code = d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "short"]);
    assert_eq!(code.trim(), "3");
    let before = d.ok(&["logs", "long"]).lines().count();
    std::thread::sleep(Duration::from_millis(600));
    let after = d.ok(&["logs", "long"]).lines().count();
    assert!(
        after > before,
        "logs go on after the restart ({before} -> {after})"
    );
    d.ok(&["stop", "-t", "1", "long"]);
    let code = d.ok(&["wait", "long"]);
    assert_eq!(code.trim(), "137");
}

#[test]
fn diff_commit_export_rename_prune() {
    skip_unless_ready!("diff_commit_export_rename_prune");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "--name",
        "cc",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo x > /new; echo y >> /etc/passwd; rm /bin/ls",
    ]);
    assert_eq!(
        d.ok(&["diff", "cc"]),
        "C /bin\nD /bin/ls\nC /etc\nC /etc/passwd\nA /new\n"
    );
    d.ok(&["rename", "cc", "cc2"]);
    let hist = d.ok(&["history", "--format", "{{.CreatedBy}}|{{.Comment}}", "bb:1"]);
    assert_eq!(hist, "|Imported from -\n");
    let o = d.docker(&["rename", "cc2", "cc2"]);
    assert!(!o.status.success());
    // dockerd's words: the container is looked up first, the new name's errors are wrapped.
    d.ok(&["create", "--name", "other", "bb:1", "true"]);
    for (args, want) in [
        (&["rename", "nosuch", "x"][..], "No such container: nosuch"),
        (
            &["rename", "cc2", "other"],
            "Error when allocating new name: Conflict. The container name \"/other\" is already in use",
        ),
        (
            &["rename", "cc2", "a b"],
            "Error when allocating new name: Invalid container name (/a b)",
        ),
        (&["kill", "cc2"], "Cannot kill container: cc2: Container "),
        (&["kill", "-s", "BOGUS", "cc2"], "Invalid signal: BOGUS"),
    ] {
        let o = d.docker(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
    }
    // dockerd's init layer: /.dockerenv (scripts test for it) and /etc/mtab, in no diff.
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "bb:1",
            "sh",
            "-c",
            "stat -c '%a %s' /.dockerenv; readlink /etc/mtab"
        ]),
        "755 0\n/proc/mounts\n"
    );
    let id = d.ok(&["commit", "cc2", "committed:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "committed:1",
            "cat",
            "/new"
        ]),
        "x\n"
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "DOCKER_HOST=unix://{} {} export cc2 | tar t",
            d.sock.display(),
            docker_cli().unwrap().display()
        ))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(
        listing.contains("new") && listing.contains("bin/busybox"),
        "{listing}"
    );
    assert!(
        !listing.lines().any(|l| l.trim_end_matches('/') == "bin/ls"),
        "{listing}"
    );

    d.ok(&[
        "run",
        "-d",
        "--name",
        "up",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "ln -s / /escape; sleep 60",
    ]);
    // docker cp both ways; a symlink to / in the container must not lead to the host's root.
    let host = d.dir.path().join("cp");
    std::fs::create_dir_all(host.join("dir")).unwrap();
    std::fs::write(host.join("f.txt"), "hello\n").unwrap();
    std::fs::write(host.join("dir/g"), "inner\n").unwrap();
    let hs = |p: &str| host.join(p).display().to_string();
    std::thread::sleep(Duration::from_millis(300));
    d.ok(&["cp", &hs("f.txt"), "up:/tmp/"]);
    d.ok(&["cp", &hs("dir"), "up:/tmp/d2"]);
    assert_eq!(
        d.ok(&["exec", "up", "cat", "/tmp/f.txt", "/tmp/d2/g"]),
        "hello\ninner\n"
    );
    let marker = format!("berth-cp-escape-{}", std::process::id());
    std::fs::write(host.join(&marker), "x").unwrap();
    d.ok(&["cp", &hs(&marker), "up:/escape/tmp/"]);
    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "cp escaped the container root"
    );
    assert!(d.ok(&["exec", "up", "ls", "/tmp"]).contains(&marker));
    d.ok(&["cp", "up:/etc/passwd", &hs("out.txt")]);
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "root:x:0:0:root:/root:/bin/sh\n"
    );
    let o = d.docker(&["cp", "up:/nonexistent", &hs("x")]);
    // CLI 28 prints the daemon's message; older ones say "No such container:path".
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("/nonexistent"), "{o:?}");
    d.ok(&["cp", "cc2:/new", &hs("from-stopped")]);
    assert_eq!(
        std::fs::read_to_string(host.join("from-stopped")).unwrap(),
        "x\n"
    );

    let out = d.ok(&["container", "prune", "-f"]);
    assert!(out.contains("Deleted Containers"), "{out}");
    assert_eq!(d.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "up");
    d.ok(&["rmi", "committed:1"]);
    d.ok(&["image", "prune", "-f"]);
    let df = d.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(
        df.contains("Images 1") && df.contains("Containers 1"),
        "{df}"
    );
}

#[test]
fn registry_login_push_pull() {
    skip_unless_ready!("registry_login_push_pull");
    let d = Berthd::start();
    let Some(reg) = Registry::start(d.dir.path(), true) else {
        println!("skipped: registry_login_push_pull: docker-registry or htpasswd is missing");
        return;
    };
    d.import_busybox("bb:1");
    let o = d.docker_in(
        &["login", "-u", "u", "--password-stdin", &reg.host],
        Some(b"wrong"),
    );
    assert!(!o.status.success(), "a bad password is refused");
    let o = d.docker_in(
        &["login", "-u", "u", "--password-stdin", &reg.host],
        Some(b"p"),
    );
    assert!(o.status.success(), "{o:?}");
    let name = format!("{}/bb:v1", reg.host);
    d.ok(&["tag", "bb:1", &name]);
    let out = d.ok(&["push", &name]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    d.ok(&["rmi", &name]);
    d.ok(&["rmi", "bb:1"]);
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");
    let out = d.ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", &name, "echo", "pulled"]),
        "pulled\n"
    );
}

#[test]
fn restart_policies() {
    skip_unless_ready!("restart_policies");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "0.2",
    ]);
    let t = Instant::now();
    loop {
        let s = d.ok(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Status}}",
            "flaky",
        ]);
        // The count goes up when the restart is decided, the third run comes just after.
        if s.trim() == "2 exited" && d.ok(&["logs", "flaky"]) == "run\nrun\nrun\n" {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "flaky: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        d.ok(&["logs", "flaky"]),
        "run\nrun\nrun\n",
        "no restart beyond the maximum"
    );
    let n: u32 = d
        .ok(&["inspect", "-f", "{{.RestartCount}}", "always"])
        .trim()
        .parse()
        .unwrap();
    assert!(n >= 1, "always restarted ({n})");
    d.ok(&["stop", "-t", "1", "always"]);
    std::thread::sleep(Duration::from_millis(1500));
    let s = d.ok(&["inspect", "-f", "{{.State.Status}}", "always"]);
    assert_eq!(s.trim(), "exited", "a stopped container stays stopped");
}

/// The shim reports an exit (and closes the attached streams) before it deletes the runtime's
/// state: a `start` or `rm` that comes right after must wait for that, not fail on the runtime's
/// "already exists" or leave the state behind.
#[test]
fn start_and_rm_right_after_an_exit() {
    skip_unless_ready!("start_and_rm_right_after_an_exit");
    // A runtime whose `delete` takes its time (as with a busy cgroup), so the race is certain.
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow-delete");
    let runtime = Path::new(env!("CARGO_BIN_EXE_berthd")).with_file_name("berth-runtime");
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = delete ] && sleep 0.3; done\nexec {} \"$@\"\n",
        runtime.display()
    );
    std::fs::write(&slow, script).unwrap();
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // No default bridge: the container runs with --network none, and a bridge would stay on the
    // host after the test.
    let d = Berthd::start_with(&[
        "--bridge",
        "none",
        "--add-runtime",
        &format!("slow={}", slow.display()),
    ]);
    d.import_busybox("bb:1");
    d.ok(&[
        "create",
        "--name",
        "again",
        "--runtime",
        "slow",
        "--network",
        "none",
        "bb:1",
        "echo",
        "hi",
    ]);
    for i in 1..=6 {
        // The next start follows the wait's answer at once (the CLI's own start-up would hide
        // the race).
        let (status, body) = d.http("POST", "/containers/again/start", None);
        assert_eq!(status, 204, "start {i}: {body}");
        let (status, body) = d.http("POST", "/containers/again/wait", None);
        assert_eq!(status, 200, "wait {i}: {body}");
        assert!(body.contains("\"StatusCode\":0"), "wait {i}: {body}");
    }
    assert_eq!(d.ok(&["logs", "again"]), "hi\n".repeat(6));
    d.ok(&["rm", "again"]);
    let runtime_root = d.dir.path().join("exec").join("runtime");
    let left: Vec<_> = walk_names(&runtime_root);
    assert!(left.is_empty(), "runtime state left behind: {left:?}");
}

/// A container that exits leaves neither the runtime's state nor its cgroups (berth-shim deletes
/// them once it has told the exit: in its own process for Berth's runtime), and starts again.
#[test]
fn an_exited_container_leaves_no_runtime_state_or_cgroup() {
    skip_unless_ready!("an_exited_container_leaves_no_runtime_state_or_cgroup");
    let d = Berthd::start_with(&["--bridge", "none"]);
    d.import_busybox("bb:1");
    let id = d.ok(&["run", "-d", "--network", "none", "bb:1", "true"]);
    let id = id.trim();
    assert_eq!(d.ok(&["wait", id]).trim(), "0");
    let left = || {
        let mut left = walk_names(&d.dir.path().join("exec").join("runtime"));
        for ctl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let p = ctl.path().join("berth").join(id);
            if p.exists() {
                left.push(p.display().to_string());
            }
        }
        left
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !left().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(left(), Vec::<String>::new(), "{}", d.log());
    assert_eq!(d.ok(&["start", "-a", id]), "");
    d.ok(&["rm", id]);
}

fn walk_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.file_name().to_string_lossy().into_owned());
        if e.path().is_dir() {
            out.extend(walk_names(&e.path()));
        }
    }
    out.retain(|n| n.len() == 64);
    out
}

#[test]
fn update_limits() {
    skip_unless_ready!("update_limits");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--network",
        "none",
        "--pids-limit",
        "100",
        "bb:1",
        "sleep",
        "60",
    ]);
    d.ok(&[
        "update",
        "--pids-limit",
        "40",
        "--restart",
        "on-failure:3",
        "lim",
    ]);
    let pids = d.ok(&["exec", "lim", "cat", "/sys/fs/cgroup/pids/pids.max"]);
    let v2 = d.ok(&[
        "exec",
        "lim",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids.max 2>/dev/null || true",
    ]);
    assert!(
        pids.trim() == "40" || v2.trim() == "40",
        "pids.max: {pids} {v2}"
    );
    let hc = d.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}",
        "lim",
    ]);
    assert_eq!(hc.trim(), "40 on-failure");
    let st = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "lim",
    ]);
    assert_eq!(st.trim(), "lim 1");

    // More of HostConfig: extra hosts, DNS, ulimits, tmpfs, OOM score, extra groups.
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--add-host",
        "db:10.1.2.3",
        "--dns",
        "9.9.9.9",
        "--ulimit",
        "nofile=100:200",
        "--tmpfs",
        "/run:size=1m",
        "--oom-score-adj",
        "300",
        "--group-add",
        "50",
        "bb:1",
        "sh",
        "-c",
        "busybox tail -1 /etc/hosts; busybox grep nameserver /etc/resolv.conf; ulimit -n; \
         busybox grep -c ' /run tmpfs' /proc/mounts; cat /proc/self/oom_score_adj; id -G",
    ]);
    assert_eq!(out, "10.1.2.3\tdb\nnameserver 9.9.9.9\n100\n1\n300\n0 50\n");
}

/// The default bridge network: a published port on 127.0.0.1 answers from the
/// host (also after a `kill -9` of berthd), containers reach each other by
/// address, inspect and ps show the address and ports, and removal leaves no
/// interface or rule behind. The daemon gets a bridge and subnet of the
/// test's own; traffic stays on loopback and the test's bridge.
#[test]
fn bridge_network_and_published_ports() {
    if let Some(why) = skip_reason() {
        eprintln!("{why}");
        return;
    }
    let tag = std::process::id() % 1000;
    let bridge = format!("btd{tag}");
    let bip = format!("10.217.{}.1/24", tag % 200 + 10);
    let mut d = Berthd::start_with(&["--bridge", &bridge, "--bip", &bip]);
    let chain = d.firewall_prefix.clone();
    // The bridge and berthd's iptables chains for it, removed whatever happens.
    struct Cleanup(String, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).output();
            berth_net::firewall::Iptables {
                chain: self.1.clone(),
            }
            .purge();
        }
    }
    let _cleanup = Cleanup(bridge.clone(), chain.clone());
    d.import_busybox("bb:1");
    let www = d.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello through the bridge\n").unwrap();
    let port = 20000 + (tag as u16);
    let publish = format!("127.0.0.1:{port}:80");
    let vol = format!("{}:/www", www.display());
    let id = d.ok(&[
        "run", "-d", "--name", "web", "-p", &publish, "-v", &vol, "bb:1", "busybox", "httpd", "-f",
        "-p", "80", "-h", "/www",
    ]);
    let id = id.trim().to_string();
    let get = || -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    };
    let answered = |d: &Berthd, what: &str| {
        let t = Instant::now();
        loop {
            if get().is_some_and(|b| b.contains("hello through the bridge")) {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "no answer on 127.0.0.1:{port} {what}: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    answered(&d, "after run");
    let ip = d.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]);
    let ip = ip.trim().to_string();
    assert!(
        ip.starts_with(&format!("10.217.{}.", tag % 200 + 10)),
        "{ip}"
    );
    let ports = d.ok(&["ps", "--format", "{{.Ports}}", "--filter", "name=web"]);
    assert!(
        ports.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{ports}"
    );
    // Another container reaches it by address and finds itself in /etc/hosts.
    let out = d.ok(&[
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        &format!("busybox wget -q -O - http://{ip}/index.html; busybox tail -1 /etc/hosts"),
    ]);
    assert!(out.contains("hello through the bridge"), "{out}");
    assert!(
        out.lines().last().unwrap_or("").starts_with("10.217."),
        "{out}"
    );
    // Stats carry the interface counters of the container's namespace.
    let (code, body) = d.http("GET", &format!("/containers/{id}/stats?stream=0"), None);
    assert_eq!(code, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        stats["networks"]["eth0"]["rx_bytes"].as_u64().unwrap_or(0) > 0,
        "{body}"
    );
    // The relay comes back with a restarted daemon.
    d.kill9();
    d.spawn();
    answered(&d, "after berthd was killed and restarted");
    d.ok(&["rm", "-f", &id]);
    let links = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    let veth = format!("vb{}", &id[..11]);
    assert!(!links.contains(&veth), "veth left behind: {links}");
    let dnat = String::from_utf8_lossy(
        &Command::new("iptables")
            .args(["-w", "-t", "nat", "-S", &format!("{chain}-DNAT")])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(!dnat.contains("DNAT --to-destination"), "{dnat}");
    assert!(get().is_none(), "port still answers after rm");
}
