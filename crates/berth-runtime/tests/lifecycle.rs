//! The runtime driven through its command line, as engines drive runc:
//! spec + run, the create/start/kill/delete state machine, what a process
//! sees inside, terminals, hooks, and clean failure.

mod common;

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{err_text, sh, text, Bundle};
use serde_json::{json, Value};

#[test]
fn spec_config_runs_with_output_and_exit_code() {
    require_root!();
    // The config exactly as `spec` writes it (a terminal, `sh`): the runtime
    // relays the terminal itself in the foreground.
    let b = Bundle::new(|c| c["process"]["terminal"] = json!(true));
    let mut child = b
        .cmd(&["run", "spec-sh"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"echo marker-$((40+2)); exit 3\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "stderr: {}", err_text(&out));
    assert!(text(&out).contains("marker-42"), "stdout: {}", text(&out));

    let (code, out, err) = sh(|_| {}, "echo hello; exit 3");
    assert_eq!((code, out.as_str()), (3, "hello\n"), "stderr: {err}");
}

#[test]
fn death_by_signal_gives_128_plus_n() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let child = b
        .cmd(&["run", "sig"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.run(&["state", "sig"]).status.code() != Some(0) || b.state("sig")["status"] != "running"
    {
        assert!(Instant::now() < deadline, "container never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = b.run(&["kill", "sig", "KILL"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(137));
    // A foreground run removes the container once it has exited.
    assert!(!b.run(&["state", "sig"]).status.success());
}

#[test]
fn create_start_kill_delete_state_machine() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let pid_file = b.tmp.path().join("pid");
    let (ok, err) = b.detached(&["create", "--pid-file", pid_file.to_str().unwrap(), "life"]);
    assert!(ok, "create: {err}");
    let st = b.state("life");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "life");
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(
        st["bundle"],
        b.dir.canonicalize().unwrap().to_str().unwrap()
    );
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // The parked init is not yet the user's program.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!cmdline.starts_with(b"sleep"));

    let out = b.run(&["delete", "life"]);
    assert!(
        !out.status.success(),
        "deleting a created container must fail without --force"
    );
    assert!(err_text(&out).contains("created"), "{}", err_text(&out));

    let out = b.run(&["start", "life"]);
    assert!(out.status.success(), "start: {}", err_text(&out));
    assert_eq!(b.state("life")["status"], "running");
    // `start` returns once init is told to go (as runc's): its exec may come a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    let cmdline = loop {
        let c = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        if c.starts_with(b"sleep\x0060") || Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(cmdline.starts_with(b"sleep\x0060"), "{cmdline:?}");
    let out = b.run(&["start", "life"]);
    assert!(!out.status.success(), "a second start must fail");

    let out = b.run(&["delete", "life"]);
    assert!(
        !out.status.success(),
        "deleting a running container must fail without --force"
    );
    assert!(err_text(&out).contains("running"));

    let list = b.run(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["id"], "life");
    assert_eq!(list[0]["status"], "running");

    // Every signal number goes, real-time ones too (sleep, the pid namespace's init, has no
    // handler for 37: the kernel drops it); 0 only checks that init exists.
    for sig in ["37", "RTMIN+3", "0"] {
        let out = b.run(&["kill", "life", sig]);
        assert!(out.status.success(), "kill {sig}: {}", err_text(&out));
    }
    let out = b.run(&["kill", "life", "65"]);
    assert!(
        err_text(&out).contains("unknown signal \"65\""),
        "{}",
        err_text(&out)
    );
    assert_eq!(b.state("life")["status"], "running");
    assert!(b.run(&["kill", "life", "KILL"]).status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state("life")["status"] != "stopped" {
        assert!(Instant::now() < deadline, "never stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(b.state("life")["pid"], 0);
    let out = b.run(&["kill", "life", "TERM"]);
    assert!(
        !out.status.success(),
        "kill of a stopped container must fail"
    );
    let out = b.run(&["delete", "life"]);
    assert!(out.status.success(), "delete: {}", err_text(&out));
    let out = b.run(&["state", "life"]);
    assert!(!out.status.success());
    assert!(err_text(&out).contains("does not exist"));
}

#[test]
fn force_delete_of_running_container_kills_it() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "forced"]);
    assert!(ok, "{err}");
    let pid = b.state("forced")["pid"].as_i64().unwrap();
    let out = b.run(&["delete", "--force", "forced"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "init still alive: {stat}"
    );
}

#[test]
fn flags_after_the_id_are_accepted() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["true"]));
    let bundle = b.dir.to_str().unwrap().to_string();
    let (ok, err) = b.detached(&["create", "late-flags", "--bundle", &bundle]);
    assert!(ok, "{err}");
    assert!(b.run(&["delete", "--force", "late-flags"]).status.success());
}

#[test]
fn inside_the_container() {
    require_root!();
    let script = r#"
        echo "pid=$$"
        echo "host=$(hostname)"
        echo "procs=$(ls /proc | grep -c '^[0-9]')"
        echo "timer_list=$(cat /proc/timer_list | wc -c)"
        echo "firmware=$(ls -A /sys/firmware | wc -l)"
        echo x > /proc/sysrq-trigger 2>/dev/null && echo "sysrq=writable" || echo "sysrq=readonly"
        touch /newfile 2>/dev/null && echo "root=writable" || echo "root=readonly"
        echo "id=$(id -u):$(id -g):$(id -G)"
        echo "cwd=$(pwd)"
        echo "foo=$FOO"
        echo "home=$HOME"
    "#;
    let (code, out, err) = sh(
        |c| {
            c["hostname"] = json!("inside-test");
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]});
            c["process"]["cwd"] = json!("/tmp");
            c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
        },
        script,
    );
    assert_eq!(code, 0, "stderr: {err}");
    let get = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .to_string()
    };
    assert_eq!(get("pid"), "1");
    assert_eq!(get("host"), "inside-test");
    // sh itself plus the command substitution's processes, never the host's.
    assert!(get("procs").parse::<u32>().unwrap() <= 4, "{out}");
    assert_eq!(get("timer_list"), "0", "masked file must read empty");
    assert_eq!(get("firmware"), "0", "masked directory must be empty");
    assert_eq!(get("sysrq"), "readonly");
    assert_eq!(get("root"), "readonly");
    assert_eq!(get("id"), "1000:1000:1000 10 20");
    assert_eq!(get("cwd"), "/tmp");
    assert_eq!(get("foo"), "bar baz");
    assert_eq!(get("home"), "/home/user");
}

#[test]
fn terminal_through_console_socket() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
        c["process"]["args"] = json!(["sh", "-c", "tty; stty size; echo done"]);
    });
    let sock_path = b.tmp.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let (ok, err) = b.detached(&[
        "create",
        "--console-socket",
        sock_path.to_str().unwrap(),
        "tty",
    ]);
    assert!(ok, "create: {err}");
    let (conn, _) = listener.accept().unwrap();
    let (master, name) = berth_sys::recv_fd(conn.as_fd())
        .unwrap()
        .expect("a terminal fd");
    assert!(String::from_utf8_lossy(&name).starts_with("/dev/pts/"));
    assert!(b.run(&["start", "tty"]).status.success());
    let mut f = std::fs::File::from(master);
    let mut buf = String::new();
    let mut chunk = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !buf.contains("done") && Instant::now() < deadline {
        match f.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
    assert!(buf.contains("/dev/pts/0"), "{buf:?}");
    assert!(buf.contains("33 101"), "{buf:?}");
    let _ = b.run(&["delete", "-f", "tty"]);
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["true"]));
    let log = b.tmp.path().join("hooks.log");
    let log_s = log.to_str().unwrap().to_string();
    // startContainer runs inside the container: its path resolves there, and
    // it writes to a file the runtime-side hooks can see only through a bind.
    let shared = b.tmp.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    b.set_config(|c| {
        let hook = |name: &str, path: &str, file: &str| {
            json!({"path": path, "args": ["sh", "-c",
                format!("read -r state; echo \"{name} $(echo \"$state\" | grep -o '\"status\":\"[a-z]*\"')\" >> {file}")]})
        };
        c["hooks"] = json!({
            "prestart": [hook("prestart", "/bin/sh", &log_s)],
            "createRuntime": [hook("createRuntime", "/bin/sh", &log_s)],
            "createContainer": [hook("createContainer", "/bin/sh", &log_s)],
            "startContainer": [
                hook("startContainer", "/bin/sh", "/shared/log"),
                {"path": "/bin/sh", "args": ["sh", "-c", "cat > /shared/state"]}
            ],
            "poststart": [hook("poststart", "/bin/sh", &log_s)],
            "poststop": [hook("poststop", "/bin/sh", &log_s)],
        });
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": shared.to_str().unwrap(), "options": ["rbind"]
        }));
    });
    let out = b.run(&["run", "hooked"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let got = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        got,
        "prestart \"status\":\"creating\"\ncreateRuntime \"status\":\"creating\"\n\
         createContainer \"status\":\"creating\"\npoststart \"status\":\"running\"\n\
         poststop \"status\":\"stopped\"\n"
    );
    let inside = std::fs::read_to_string(shared.join("log")).unwrap();
    assert_eq!(inside, "startContainer \"status\":\"created\"\n");
    // Init's pid as the runtime sees it, as runc gives it (it was left out).
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(shared.join("state")).unwrap()).unwrap();
    assert!(state["pid"].as_i64().unwrap_or(0) > 1, "{state}");
}

#[test]
fn failing_prestart_hook_fails_create_and_leaves_nothing() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "60"]);
        c["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no-go >&2; exit 7"]}]});
    });
    let (ok, err) = b.detached(&["create", "badhook"]);
    assert!(!ok);
    assert!(
        err.contains("prestart hook #0") && err.contains("no-go"),
        "{err}"
    );
    assert!(
        !b.root.join("badhook").exists(),
        "state directory left behind"
    );
    // Nothing of ours runs on with this bundle's rootfs.
    let rootfs = b.dir.join("rootfs").canonicalize().unwrap();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(root) = std::fs::read_link(entry.path().join("root")) {
            assert_ne!(root, rootfs, "a process was left running in the container");
        }
    }
    assert!(find_cgroup_dir("badhook").is_none(), "cgroup left behind");
    // And the id can be used again.
    b.set_config(|c| {
        c.as_object_mut().unwrap().remove("hooks");
    });
    assert!(b.detached(&["create", "badhook"]).0);
}

#[test]
fn limit_the_kernel_refuses_fails_run_and_leaves_nothing() {
    require_root!();
    if !std::path::Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus").exists() {
        eprintln!("skipped: no cgroup v1 cpuset hierarchy");
        return;
    }
    // Init joins its cgroups before the limits are written: a limit the
    // kernel refuses (a CPU this machine lacks) must still fail the run
    // before the program starts, and take init, the cgroups and the state
    // away with it.
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["sh", "-c", "echo started > /started"]);
        c["root"]["readonly"] = json!(false);
        c["linux"]["resources"]["cpu"] = json!({"cpus": "4095"});
    });
    let pid_file = b.tmp.path().join("pid");
    let out = b.run(&["run", "--pid-file", pid_file.to_str().unwrap(), "badlimit"]);
    assert!(!out.status.success());
    assert!(err_text(&out).contains("cpuset.cpus"), "{}", err_text(&out));
    assert!(
        !b.dir.join("rootfs/started").exists(),
        "the program ran without its limits"
    );
    assert!(
        !b.root.join("badlimit").exists(),
        "state directory left behind"
    );
    assert!(!pid_file.exists(), "pid file left behind");
    let rootfs = b.dir.join("rootfs").canonicalize().unwrap();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(root) = std::fs::read_link(entry.path().join("root")) {
            assert_ne!(root, rootfs, "a process was left running in the container");
        }
    }
    assert!(find_cgroup_dir("badlimit").is_none(), "cgroup left behind");
    b.set_config(|c| {
        c["linux"]["resources"]
            .as_object_mut()
            .unwrap()
            .remove("cpu");
    });
    let out = b.run(&["run", "badlimit"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert!(b.dir.join("rootfs/started").exists());
}

#[test]
fn invalid_config_names_the_field() {
    require_root!();
    let b = Bundle::new(|c| c["linux"]["namespaces"][0]["type"] = json!("pidd"));
    let out = b.run(&["run", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err_text(&out).contains("linux.namespaces[0].type"),
        "{}",
        err_text(&out)
    );
    assert!(!b.root.join("bad").exists());

    let b = Bundle::new(|c| c["process"]["args"] = json!(["no-such-binary"]));
    let out = b.run(&["run", "noexec"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err_text(&out).contains("no-such-binary"),
        "{}",
        err_text(&out)
    );
    assert!(
        !b.root.join("noexec").exists(),
        "failed create left its state"
    );
}

#[test]
fn mount_destination_symlink_stays_inside_rootfs() {
    require_root!();
    let b = Bundle::new(|_| {});
    let rootfs = b.dir.join("rootfs");
    let victim = b.tmp.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    // A symlink in the image pointing at a host path must resolve inside.
    std::os::unix::fs::symlink(&victim, rootfs.join("escape")).unwrap();
    b.set_config(|c| {
        c["process"]["args"] = json!(["sh", "-c", "ls /escape"]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"
        }));
    });
    let out = b.run(&["run", "escape"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert!(
        !victim.join("x").exists(),
        "mount point created on the host"
    );
    let inside = rootfs.join(victim.strip_prefix("/").unwrap()).join("x");
    assert!(inside.exists(), "mount point not created inside the rootfs");
}

#[test]
fn no_runtime_descriptor_leaks_into_the_container() {
    require_root!();
    let (code, out, err) = sh(|_| {}, "ls /proc/self/fd | sort -n | tr '\\n' ' '");
    assert_eq!(code, 0, "{err}");
    // stdio plus the descriptor ls opened for the directory listing.
    assert_eq!(out.trim(), "0 1 2 3", "unexpected descriptors: {out}");
}

#[test]
fn run_keep_leaves_the_stopped_container() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sh", "-c", "exit 6"]));
    let out = b.run(&["run", "--keep", "kept"]);
    assert_eq!(out.status.code(), Some(6), "{}", err_text(&out));
    assert_eq!(b.state("kept")["status"], "stopped");
    assert!(b.run(&["delete", "kept"]).status.success());
}

#[test]
fn pidfd_socket_receives_a_pidfd_of_init() {
    require_root!();
    use std::os::fd::AsRawFd;
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let sock = b.tmp.path().join("pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let (ok, err) = b.detached(&["create", "--pidfd-socket", sock.to_str().unwrap(), "pidfd"]);
    assert!(ok, "{err}");
    let (conn, _) = listener.accept().unwrap();
    let (pidfd, _) = berth_sys::recv_fd(conn.as_fd()).unwrap().expect("a pidfd");
    let pid = b.state("pidfd")["pid"].as_i64().unwrap();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).unwrap();
    assert!(info.lines().any(|l| l == format!("Pid:\t{pid}")), "{info}");
    // The pidfd becomes readable when init exits.
    assert!(b.run(&["delete", "--force", "pidfd"]).status.success());
    let mut fds = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
    assert_eq!(n, 1, "pidfd did not report the exit");
}

#[test]
fn no_pivot_works() {
    require_root!();
    let b =
        Bundle::new(|c| c["process"]["args"] = json!(["sh", "-c", "cat /etc/passwd | head -1"]));
    let out = b.run(&["run", "--no-pivot", "nopivot"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert!(text(&out).starts_with("root:x:0:0"));
}

/// A cgroup directory named `name` anywhere in the first levels of the
/// host's hierarchies (relative cgroup paths sit under the caller's cgroup).
fn find_cgroup_dir(name: &str) -> Option<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, name: &str, depth: u32) -> Option<std::path::PathBuf> {
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let p = e.path();
            if !p.is_dir() || p.is_symlink() {
                continue;
            }
            if e.file_name() == name {
                return Some(p);
            }
            if depth > 0 {
                if let Some(found) = walk(&p, name, depth - 1) {
                    return Some(found);
                }
            }
        }
        None
    }
    walk(std::path::Path::new("/sys/fs/cgroup"), name, 4)
}

/// Init sets up its mounts while the runtime places it in its cgroups; the
/// hooks and the user's process must still all see it there: the
/// createRuntime hook (through the state's pid), the createContainer hook
/// (forked by init, so in init's cgroups) and the process itself.
#[test]
fn hooks_and_process_see_init_in_its_cgroups() {
    require_root!();
    let cg = format!("/berth-order-test-{}", std::process::id());
    let b = Bundle::new(|c| {
        c["linux"]["cgroupsPath"] = json!(cg);
        c["process"]["args"] = json!(["cat", "/proc/self/cgroup"]);
    });
    let log = b.tmp.path().join("cgroups");
    std::fs::create_dir(&log).unwrap();
    let l = log.to_str().unwrap();
    b.set_config(|c| {
        c["hooks"] = json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!(
                "read -r s; pid=$(echo \"$s\" | grep -o '\"pid\":[0-9]*' | cut -d: -f2); \
                 cat /proc/$pid/cgroup > {l}/createRuntime")]}],
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", format!(
                "cat /proc/self/cgroup > {l}/createContainer")]}],
        });
    });
    let out = b.run(&["run", "placed"]);
    assert!(out.status.success(), "{}", err_text(&out));
    // Every hierarchy, v1 ones, named ones and the cgroup2 one (hybrid or
    // v2), names the container's cgroup: init joins them in three ways
    // (cloned into the cgroup2 one, its own move into the v1 ones, a move by
    // pid as the fallback).
    let in_cgroup = |what: &str, table: &str| {
        let own: Vec<&str> = table.lines().collect();
        assert!(
            table.lines().any(|l| l.ends_with(&format!(":{cg}"))),
            "{what} outside {cg}: {table}"
        );
        for line in own {
            assert!(
                line.ends_with(&format!(":{cg}")),
                "{what}: {line} in {table}"
            );
        }
    };
    in_cgroup("process", &text(&out));
    for hook in ["createRuntime", "createContainer"] {
        let table = std::fs::read_to_string(log.join(hook)).unwrap();
        in_cgroup(hook, &table);
    }
}

/// A set-up step of init that fails while the runtime is still placing it in
/// its cgroups is reported in init's words (not as a failed cgroup move of a
/// process that has exited), and the cgroup and state are removed.
#[test]
fn init_failure_during_cgroup_placement_is_reported_and_undone() {
    require_root!();
    let name = format!("berth-order-fail-{}", std::process::id());
    let b = Bundle::new(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{name}"));
        c["process"]["args"] = json!(["true"]);
        // The first mount fails at once, before any cgroup mount.
        c["mounts"].as_array_mut().unwrap().insert(
            0,
            json!({"destination": "/x", "type": "no-such-fs", "source": "none"}),
        );
    });
    let out = b.run(&["run", "failing"]);
    assert!(!out.status.success());
    let err = err_text(&out);
    assert!(
        err.contains("mounts[0]") && err.contains("/x"),
        "not init's reason: {err}"
    );
    assert!(
        !b.root.join("failing").exists(),
        "state directory left behind"
    );
    assert_eq!(find_cgroup_dir(&name), None, "cgroup left behind");
}

/// A foreground `run` tears down what it made once its process exits: the
/// cgroup in every hierarchy (made with its missing parent) and the state
/// directory, and the id can be used again at once.
#[test]
fn run_removes_its_cgroups_and_state() {
    require_root!();
    let parent = format!("berth-run-gone-{}", std::process::id());
    let b = Bundle::new(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{parent}/inner"));
        c["process"]["args"] = json!(["sh", "-c", "grep -c inner /proc/self/cgroup"]);
    });
    for _ in 0..2 {
        let out = b.run(&["run", "gone"]);
        assert!(out.status.success(), "{}", err_text(&out));
        assert_ne!(text(&out).trim(), "0", "not in its cgroup");
        assert!(!b.root.join("gone").exists(), "state directory left behind");
        let parents = cgroup_dirs_named(&parent);
        assert!(!parents.is_empty(), "no cgroup made");
        let left: Vec<_> = parents
            .iter()
            .map(|p| p.join("inner"))
            .filter(|p| p.exists())
            .collect();
        assert!(left.is_empty(), "cgroup left behind: {left:?}");
    }
    // The runtime leaves the parent it made (as runc does): remove it.
    for p in cgroup_dirs_named(&parent) {
        std::fs::remove_dir(&p).unwrap();
    }
}

/// Every directory named `name` in the first levels of every hierarchy.
fn cgroup_dirs_named(name: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, name: &str, depth: u32, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if !p.is_dir() || p.is_symlink() {
                continue;
            }
            if e.file_name() == name {
                out.push(p);
            } else if depth > 0 {
                walk(&p, name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new("/sys/fs/cgroup"), name, 4, &mut out);
    out
}

/// A new network namespace is init's own, not the host's, holds only a
/// loopback that is up, and is the one the runtime's hooks see at init's pid.
#[test]
fn new_network_namespace_has_loopback_up_and_hooks_see_it() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "readlink /proc/self/ns/net; ls /sys/class/net; cat /sys/class/net/lo/flags"
        ])
    });
    let seen = b.tmp.path().join("hook-net");
    let seen_s = seen.to_str().unwrap().to_string();
    b.set_config(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c",
            format!("pid=$(grep -o '\"pid\":[0-9]*' | cut -d: -f2); readlink /proc/$pid/ns/net > {seen_s}")]}]});
    });
    let out = b.run(&["run", "netns"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let text = text(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert!(lines[0].starts_with("net:["), "{text}");
    assert_ne!(lines[0], host.to_str().unwrap(), "the host's namespace");
    assert_eq!(lines[1], "lo", "devices: {text}");
    let flags = u32::from_str_radix(lines[2].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "loopback down: {text}");
    let hook = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(hook.trim(), lines[0], "hooks saw another namespace");
}
