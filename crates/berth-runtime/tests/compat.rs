//! Compatibility with the OCI validation suite and runc's behaviour where
//! callers rely on it: inherited and joined namespaces, devices, cgroup v1
//! corners, terminals owned by the process's user, and the command line.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use common::{err_text, text, Bundle};
use serde_json::{json, Value};

fn ns_ino(pid: &str, ns: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .ino()
}

/// Host mounts at or under `dir` (other tests mount elsewhere meanwhile).
fn host_mounts_under(dir: &std::path::Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|p| std::path::Path::new(p).starts_with(&dir))
        })
        .map(str::to_string)
        .collect()
}

/// Drop the mount namespace and what needs one from `spec`'s config.
fn without_mount_ns(c: &mut Value) {
    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "mount");
    let linux = c["linux"].as_object_mut().unwrap();
    linux.remove("maskedPaths");
    linux.remove("readonlyPaths");
    c["root"]["readonly"] = json!(false);
}

#[test]
fn omitted_mount_namespace_is_inherited_and_host_mounts_untouched() {
    require_root!();
    let b = Bundle::new(|c| {
        without_mount_ns(c);
        c["process"]["args"] = json!(["sleep", "60"]);
    });
    std::fs::write(b.dir.join("rootfs/marker"), "in-the-rootfs\n").unwrap();
    let (ok, err) = b.detached(&["create", "nomnt"]);
    assert!(ok, "create without a mount namespace: {err}");
    let pid = b.state("nomnt")["pid"].as_i64().unwrap().to_string();
    assert_eq!(ns_ino(&pid, "mnt"), ns_ino("self", "mnt"), "not inherited");
    assert_ne!(
        ns_ino(&pid, "uts"),
        ns_ino("self", "uts"),
        "uts is still new"
    );
    assert_eq!(
        host_mounts_under(&b.dir),
        Vec::<String>::new(),
        "mounted on the host"
    );
    // init is chrooted into the rootfs.
    let root = std::fs::read_link(format!("/proc/{pid}/root")).unwrap();
    assert_eq!(root, b.dir.join("rootfs").canonicalize().unwrap());
    let out = b.run(&["start", "nomnt"]);
    assert!(out.status.success(), "start: {}", err_text(&out));
    // exec lands in the same root, not the host's.
    let out = b.run(&["exec", "nomnt", "cat", "/marker"]);
    assert_eq!(text(&out), "in-the-rootfs\n", "exec: {}", err_text(&out));
    let out = b.run(&["delete", "-f", "nomnt"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert_eq!(
        host_mounts_under(&b.dir),
        Vec::<String>::new(),
        "mounted on the host"
    );

    // What would need a mount namespace is refused, not ignored.
    let b = Bundle::new(without_mount_ns);
    b.set_config(|c| c["linux"]["maskedPaths"] = json!(["/proc/kcore"]));
    let out = b.run(&["run", "nomnt-masked"]);
    assert!(!out.status.success());
    assert!(
        err_text(&out).contains("without a private mount namespace"),
        "{}",
        err_text(&out)
    );
}

#[test]
fn mount_namespace_joined_by_path() {
    require_root!();
    let mut holder = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sleep", "60"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let hpid = holder.id().to_string();
    // unshare execs sleep once the namespace is made.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ns_ino(&hpid, "mnt") == ns_ino("self", "mnt") {
        assert!(std::time::Instant::now() < deadline, "unshare never ran");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let b = Bundle::new(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "mount" {
                n["path"] = json!(format!("/proc/{hpid}/ns/mnt"));
            }
        }
        c["process"]["args"] = json!(["sleep", "60"]);
    });
    let (ok, err) = b.detached(&["create", "joinmnt"]);
    let joined = ok.then(|| {
        let pid = b.state("joinmnt")["pid"].as_i64().unwrap().to_string();
        ns_ino(&pid, "mnt") == ns_ino(&hpid, "mnt")
    });
    let _ = b.run(&["delete", "-f", "joinmnt"]);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(holder.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = holder.wait();
    assert!(ok, "create with a mount namespace path: {err}");
    assert_eq!(joined, Some(true), "init is not in the given namespace");
}

#[test]
fn fifo_in_linux_devices_is_made() {
    require_root!();
    let (code, out, err) = common::sh(
        |c| {
            c["linux"]["devices"] = json!([{"path": "/dev/myfifo", "type": "p",
                "major": 0, "minor": 0, "fileMode": 0o640, "uid": 0, "gid": 0}]);
        },
        "stat -c '%F %a' /dev/myfifo",
    );
    assert_eq!((code, out.as_str()), (0, "fifo 640\n"), "stderr: {err}");
}

#[test]
fn read_only_dev_is_made_read_only_after_its_devices() {
    require_root!();
    let (code, out, err) = common::sh(
        |c| {
            for m in c["mounts"].as_array_mut().unwrap() {
                if m["destination"] == "/dev" {
                    m["options"].as_array_mut().unwrap().push(json!("ro"));
                }
            }
        },
        "test -c /dev/null && test -d /dev/pts && echo devices; \
         touch /dev/x 2>/dev/null || echo read-only; \
         grep ' /dev ' /proc/self/mountinfo | grep -q ' ro,' && echo ro-mount",
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "devices\nread-only\nro-mount\n"),
        "stderr: {err}"
    );
}

#[test]
fn duplicate_additional_gids_are_set_once() {
    require_root!();
    let (code, out, err) = common::sh(
        |c| c["process"]["user"]["additionalGids"] = json!([10, 20, 10, 20, 10]),
        "grep Groups /proc/self/status",
    );
    assert_eq!(code, 0, "stderr: {err}");
    let groups: Vec<&str> = out.split_whitespace().skip(1).collect();
    assert_eq!(groups, ["10", "20"], "{out}");
}

#[test]
fn cpuset_parent_never_set_up_is_filled_from_its_parent() {
    require_root!();
    let cpuset = std::path::Path::new("/sys/fs/cgroup/cpuset");
    if !cpuset.join("cpuset.cpus").exists() {
        eprintln!(
            "skipped: no cgroup v1 cpuset hierarchy at {}",
            cpuset.display()
        );
        return;
    }
    // A parent made by hand and never set up: the kernel leaves it empty.
    let name = format!("berth-compat-{}", std::process::id());
    let parent = cpuset.join(&name);
    std::fs::create_dir(&parent).unwrap();
    assert_eq!(
        std::fs::read_to_string(parent.join("cpuset.cpus"))
            .unwrap()
            .trim(),
        ""
    );
    let (code, out, err) = common::sh(
        |c| c["linux"]["cgroupsPath"] = json!(format!("/{name}/c1")),
        "echo joined",
    );
    // The runtime removes its own cgroup; the parents it made are ours.
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(h.path().join(&name).join("c1"));
        let _ = std::fs::remove_dir(h.path().join(&name));
    }
    assert_eq!((code, out.as_str()), (0, "joined\n"), "stderr: {err}");
}

#[test]
fn stale_extra_cgroup_v1_mount_is_not_used_for_sys_fs_cgroup() {
    require_root!();
    if !std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        eprintln!("skipped: no cgroup v1 pids hierarchy");
        return;
    }
    // What runc's own tests leave behind: the pids hierarchy mounted again
    // elsewhere.
    let tmp = tempfile::Builder::new()
        .prefix("berth-cg-")
        .tempdir()
        .unwrap();
    let stale = tmp.path().join("cgroup-stale");
    std::fs::create_dir(&stale).unwrap();
    let st = Command::new("mount")
        .args(["-t", "cgroup", "-o", "pids", "cgroup"])
        .arg(&stale)
        .status()
        .unwrap();
    assert!(st.success(), "mount a second pids hierarchy");
    let (code, out, err) = common::sh(
        |_| {},
        "ls /sys/fs/cgroup; grep -c . /sys/fs/cgroup/pids/cgroup.procs",
    );
    let _ = Command::new("umount").arg(&stale).status();
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(!out.contains("cgroup-stale"), "{out}");
    // The container sees its own pids cgroup (grep alone), not the root's.
    assert!(out.contains("pids\n"), "{out}");
    let procs: usize = out.lines().last().unwrap().parse().unwrap();
    assert!((1..=2).contains(&procs), "{out}");
}

#[test]
fn spec_namespaces_match_runc() {
    require_root!();
    let b = Bundle::new(|_| {});
    let config: Value =
        serde_json::from_slice(&std::fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    let names: Vec<&str> = config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    let unified = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .unwrap()
        .filesystem_type()
        == nix::sys::statfs::CGROUP2_SUPER_MAGIC;
    let mut want = vec!["pid", "network", "ipc", "uts", "mount"];
    if unified {
        want.push("cgroup");
    }
    assert_eq!(names, want);
}

/// The container's directory in the v1 hierarchy `ctrl`, from init's /proc/PID/cgroup.
fn v1_cgroup_dir(pid: &str, ctrl: &str) -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        ctrls.split(',').any(|c| c == ctrl).then(|| {
            std::path::Path::new("/sys/fs/cgroup")
                .join(ctrl)
                .join(path.trim_start_matches('/'))
        })
    })
}

#[test]
fn exec_cgroup_runs_the_process_in_a_sub_cgroup() {
    require_root!();
    if !std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        eprintln!("skipped: no cgroup v1 pids hierarchy");
        return;
    }
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "subcg"]);
    assert!(ok, "{err}");
    let pid = b.state("subcg")["pid"].as_i64().unwrap().to_string();
    let pids_dir = v1_cgroup_dir(&pid, "pids").unwrap();
    std::fs::create_dir(pids_dir.join("sub")).unwrap();
    let out = b.run(&[
        "exec",
        "--cgroup",
        "pids:sub",
        "subcg",
        "cat",
        "/proc/self/cgroup",
    ]);
    let lines = text(&out);
    assert!(out.status.success(), "{}", err_text(&out));
    let line = |ctrl: &str| {
        lines
            .lines()
            .find(|l| l.split(':').nth(1) == Some(ctrl))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("pids").ends_with("/sub"), "{lines}");
    assert!(!line("memory").ends_with("/sub"), "{lines}");
    // A sub-cgroup that does not exist, or a path alone that is missing in
    // some hierarchy, is an error and runs nothing.
    let out = b.run(&["exec", "--cgroup", "pids:nope", "subcg", "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        err_text(&out).contains("does not exist"),
        "{}",
        err_text(&out)
    );
    let out = b.run(&["exec", "--cgroup", "sub", "subcg", "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", err_text(&out));
    let out = b.run(&["delete", "-f", "subcg"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert!(!pids_dir.exists(), "delete left the cgroup behind");
}

#[test]
fn terminal_belongs_to_the_process_user() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["args"] = json!(["sh", "-c", "stat -L -c 'pty %u %g %a' /proc/self/fd/0"]);
    });
    std::fs::write(
        b.dir.join("rootfs/etc/group"),
        "root:x:0:\ntty:x:5:\nuser:x:1000:\n",
    )
    .unwrap();
    let out = b.run(&["run", "ptyuser"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert!(text(&out).contains("pty 1000 5 620"), "{}", text(&out));
    // exec -t as another user gets its own pty, owned by that user.
    b.set_config(|c| c["process"]["args"] = json!(["sleep", "60"]));
    b.set_config(|c| c["process"]["terminal"] = json!(false));
    let (ok, err) = b.detached(&["run", "-d", "ptyexec"]);
    assert!(ok, "{err}");
    let out = b.run(&[
        "exec",
        "-t",
        "-u",
        "1000:1000",
        "ptyexec",
        "stat",
        "-L",
        "-c",
        "pty %u %g %a",
        "/proc/self/fd/0",
    ]);
    assert!(
        text(&out).contains("pty 1000 5 620"),
        "{} {}",
        text(&out),
        err_text(&out)
    );
}

#[test]
fn kill_signal_zero_and_kill_all_on_a_stopped_container() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "k0"]);
    assert!(ok, "{err}");
    // Signal 0 checks that init exists.
    let out = b.run(&["kill", "k0", "0"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert_eq!(b.state("k0")["status"], "running");
    let out = b.run(&["kill", "k0", "NOPE"]);
    assert!(!out.status.success());
    assert!(
        err_text(&out).contains("unknown signal \"NOPE\"")
            && !err_text(&out).contains("config.json"),
        "{}",
        err_text(&out)
    );
    let out = b.run(&["kill", "k0", "KILL"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.state("k0")["status"] != "stopped" {
        assert!(std::time::Instant::now() < deadline, "never stopped");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // As runc: --all on a stopped container succeeds; without it, it fails.
    let out = b.run(&["kill", "--all", "k0", "KILL"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let out = b.run(&["kill", "k0", "0"]);
    assert!(!out.status.success());
}

#[test]
fn exec_process_file_without_user_runs_as_root() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "procuser"]);
    assert!(ok, "{err}");
    let p = b.tmp.path().join("process.json");
    std::fs::write(&p, r#"{"args": ["id", "-u"], "cwd": "/"}"#).unwrap();
    let out = b.run(&["exec", "-p", p.to_str().unwrap(), "procuser"]);
    assert_eq!(text(&out), "0\n", "{}", err_text(&out));
}

#[test]
fn debug_prints_level_debug_lines() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["true"]));
    let out = b.run(&["--debug", "run", "dbg"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let err = err_text(&out);
    assert!(
        err.lines()
            .any(|l| l.contains("level=debug") && l.contains("create dbg")),
        "{err}"
    );
    let log = b.tmp.path().join("log.json");
    let out = b.run(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "run",
        "dbg2",
    ]);
    assert!(out.status.success(), "{}", err_text(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["level"], "debug", "{text}");
    // Without --debug: no debug lines.
    let out = b.run(&["run", "dbg3"]);
    assert!(!err_text(&out).contains("level=debug"));
}

#[test]
fn help_and_version_in_runcs_shape() {
    let run = |args: &[&str]| Command::new(common::BIN).args(args).output().unwrap();
    let out = run(&["--version"]);
    let lines: Vec<String> = text(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("berth-runtime version "), "{lines:?}");
    assert!(lines[1].starts_with("commit: "), "{lines:?}");
    assert!(lines[2].starts_with("spec: 1."), "{lines:?}");
    assert_eq!(text(&run(&["-v"])), text(&out));
    for args in [&["-h"][..], &["--help"], &["help"]] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}");
        let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        assert_eq!(lines[0], "NAME:", "{args:?}");
        assert_eq!(
            lines[1],
            "   berth-runtime - Open Container Initiative runtime"
        );
    }
    for args in [&["delete", "-h"][..], &["help", "delete"]] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}");
        let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        assert!(
            lines[1].starts_with("   berth-runtime delete - "),
            "{lines:?}"
        );
    }
    for args in [&["foo", "-h"][..], &["help", "foo"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            err_text(&out).contains("No help topic for 'foo'"),
            "{args:?}"
        );
    }
}

#[test]
fn create_container_hook_runs_in_the_rootfs() {
    require_root!();
    let b = Bundle::new(|_| {});
    let out_file = b.tmp.path().join("hook-cwd");
    b.set_config(|c| {
        c["process"]["args"] = json!(["true"]);
        c["hooks"] = json!({"createContainer": [{
            "path": common::BUSYBOX,
            "args": ["busybox", "sh", "-c", format!("pwd > {}", out_file.display())]
        }]});
    });
    let out = b.run(&["run", "hookcwd"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let cwd = std::fs::read_to_string(&out_file).unwrap();
    let rootfs = b.dir.join("rootfs").canonicalize().unwrap();
    assert_eq!(cwd.trim(), rootfs.to_str().unwrap());
}

#[test]
fn relative_readonly_path_counts_from_the_root() {
    require_root!();
    let (code, out, err) = common::sh(
        |c| {
            c["root"]["readonly"] = json!(false);
            c["linux"]["readonlyPaths"] = json!(["etc"]);
        },
        "touch /tmp/ok && echo writable-tmp; touch /etc/x 2>/dev/null || echo ro-etc",
    );
    assert_eq!((code, out.as_str()), (0, "writable-tmp\nro-etc\n"), "{err}");
}

/// Why criu cannot work here, if it cannot (`criu check`, run in a scratch directory: Debian's
/// criu leaves a log file in its working directory).
fn criu_unusable() -> Option<String> {
    let scratch = tempfile::tempdir().expect("tempdir");
    match Command::new("criu")
        .arg("check")
        .current_dir(scratch.path())
        .output()
    {
        Err(e) => Some(format!("criu is not installed ({e})")),
        Ok(o) if !o.status.success() => Some(format!(
            "criu cannot start on this kernel: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .find(|l| l.contains("Error"))
                .unwrap_or("criu check failed")
        )),
        Ok(_) => None,
    }
}

#[test]
fn checkpoint_and_restore_with_criu() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done"
        ]);
        // /sys/fs/cgroup on a v1 host is refused (tested below).
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
    });
    // A container that is not running cannot be checkpointed.
    let (ok, err) = b.detached(&["create", "ckpt"]);
    assert!(ok, "{err}");
    let out = b.run(&["checkpoint", "ckpt"]);
    assert!(!out.status.success());
    assert!(err_text(&out).contains("not running"), "{}", err_text(&out));
    let out = b.run(&["start", "ckpt"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let images = b.tmp.path().join("images");
    let image_arg = format!("--image-path={}", images.display());
    let v1 = std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists();
    if v1 {
        let c = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
        let (ok, err) = c.detached(&["run", "-d", "ckpt-cg"]);
        assert!(ok, "{err}");
        let out = c.run(&[
            "checkpoint",
            &format!("--image-path={}", c.tmp.path().join("i").display()),
            "ckpt-cg",
        ]);
        assert!(
            err_text(&out).contains("/sys/fs/cgroup mount on a cgroup v1 host"),
            "{}",
            err_text(&out)
        );
        assert_eq!(c.state("ckpt-cg")["status"], "running");
    }
    if let Some(why) = criu_unusable() {
        // criu's failure comes back plainly and the container keeps running.
        let out = b.run(&["checkpoint", &image_arg, "ckpt"]);
        assert!(!out.status.success());
        assert!(
            err_text(&out).contains("criu dump failed"),
            "{}",
            err_text(&out)
        );
        assert_eq!(b.state("ckpt")["status"], "running");
        eprintln!("skipped: the checkpoint/restore round trip: {why}");
        return;
    }
    let out = b.run(&["checkpoint", &image_arg, "ckpt"]);
    assert!(out.status.success(), "checkpoint: {}", err_text(&out));
    assert!(
        !b.run(&["state", "ckpt"]).status.success(),
        "checkpoint removes it"
    );
    let (ok, err) = b.detached(&["restore", "-d", &image_arg, "ckpt"]);
    assert!(ok, "restore: {err}");
    assert_eq!(b.state("ckpt")["status"], "running");
    let out = b.run(&["exec", "ckpt", "cat", "/tmp/count"]);
    let n: u64 = text(&out).trim().parse().unwrap_or(0);
    assert!(n > 0, "the loop's count survives: {}", text(&out));
}
