//! Real engines driving berth-runtime in place of runc: podman with
//! `--runtime`, and dockerd (through containerd and its shim) with
//! `--add-runtime berth=...` on a private data root, exec root and socket.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

fn have(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

fn out_text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A tarball of the busybox rootfs, for `podman import` / `docker import`.
fn rootfs_tar(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    common::make_rootfs(&rootfs);
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

// Root here may not raise rlimits above its own hard limits (no
// CAP_SYS_RESOURCE), and podman's defaults do: ask for values under them.
const PODMAN_ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

#[test]
fn podman_runs_containers_with_berth_runtime() {
    require_root!();
    let Some(podman) = have("podman") else {
        eprintln!("skipped: podman not installed (apt-get install podman)");
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("berth-podman-")
        .tempdir()
        .unwrap();
    let tar = rootfs_tar(tmp.path());
    // A private podman store, so the test neither sees nor leaves images.
    let root = tmp.path().join("storage");
    let runroot = tmp.path().join("run");
    let podman_cmd = |args: &[&str]| {
        let mut c = Command::new(&podman);
        c.arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .arg("--runtime")
            .arg(BIN)
            .arg("--cgroup-manager")
            .arg("cgroupfs")
            .arg("--events-backend")
            .arg("file")
            .args(args);
        c.stdin(Stdio::null());
        c
    };
    let o = podman_cmd(&[
        "import",
        tar.to_str().unwrap(),
        "localhost/berth-test:latest",
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "import: {}", out_text(&o));

    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend(PODMAN_ULIMITS);
    args.extend([
        "localhost/berth-test:latest",
        "sh",
        "-c",
        "echo hello-$((6*7)); exit 4",
    ]);
    let o = podman_cmd(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", out_text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello-42\n");

    // A terminal through conmon's console socket.
    let mut args = vec!["run", "--rm", "-t", "--network", "none"];
    args.extend(PODMAN_ULIMITS);
    args.extend(["localhost/berth-test:latest", "tty"]);
    let o = podman_cmd(&args).output().unwrap();
    assert!(o.status.success(), "{}", out_text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("/dev/pts/0"),
        "{}",
        out_text(&o)
    );

    // Detached, listed, stopped, removed.
    let mut args = vec!["run", "-d", "--name", "berth-podman-d", "--network", "none"];
    args.extend(PODMAN_ULIMITS);
    args.extend(["localhost/berth-test:latest", "sleep", "100"]);
    let o = podman_cmd(&args).output().unwrap();
    assert!(o.status.success(), "{}", out_text(&o));
    let o = podman_cmd(&["ps", "--format", "{{.Names}} {{.Status}}"])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(ps.contains("berth-podman-d Up"), "{ps}");
    let o = podman_cmd(&["exec", "berth-podman-d", "sh", "-c", "hostname; exit 3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", out_text(&o));
    for cmd in [
        &["pause", "berth-podman-d"][..],
        &["unpause", "berth-podman-d"],
        &["update", "--memory", "64m", "berth-podman-d"],
    ] {
        let o = podman_cmd(cmd).output().unwrap();
        assert!(o.status.success(), "{cmd:?}: {}", out_text(&o));
    }
    let o = podman_cmd(&["top", "berth-podman-d"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("sleep 100"),
        "{}",
        out_text(&o)
    );
    let o = podman_cmd(&["exec", "berth-podman-d", "sh", "-c", "echo exec-ok; exit 3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", out_text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "exec-ok\n");
    for verb in ["pause", "unpause"] {
        let o = podman_cmd(&[verb, "berth-podman-d"]).output().unwrap();
        assert!(o.status.success(), "{verb}: {}", out_text(&o));
    }
    let o = podman_cmd(&["stop", "-t", "1", "berth-podman-d"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out_text(&o));
    let o = podman_cmd(&["rm", "berth-podman-d"]).output().unwrap();
    assert!(o.status.success(), "{}", out_text(&o));

    let _ = podman_cmd(&["rmi", "-a", "-f"]).output();
    let _ = Command::new("umount").arg("-R").arg(&root).output();
    let _ = Command::new("umount").arg("-R").arg(&runroot).output();
}

/// A dockerd of the test's own: data root, exec root, socket and pidfile in
/// a temp dir; stopped by its pid when dropped.
struct Dockerd {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Option<Dockerd> {
        let dockerd = have("dockerd")?;
        let socket = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new(dockerd)
            .arg("--add-runtime")
            .arg(format!("berth={BIN}"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .ok()?;
        let d = Dockerd {
            child,
            dir: dir.to_path_buf(),
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if d.docker(&["version"]).status.success() {
                return Some(d);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "dockerd did not come up: {}",
            std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new(have("docker").expect("docker CLI"))
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever dockerd left mounted under its roots.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| m.starts_with(self.dir.to_str().unwrap()))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").arg("-l").arg(m).output();
        }
    }
}

#[test]
fn dockerd_runs_containers_with_berth_runtime() {
    require_root!();
    if have("docker").is_none() || have("dockerd").is_none() {
        eprintln!("skipped: docker CLI or dockerd missing (apt-get install docker.io)");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-dockerd-")
        .tempdir()
        .unwrap();
    let tar = rootfs_tar(tmp.path());
    let d = Dockerd::start(tmp.path()).expect("dockerd starts");
    let o = d.docker(&["import", tar.to_str().unwrap(), "berth-test:latest"]);
    assert!(o.status.success(), "import: {}", out_text(&o));
    let run = ["run", "--rm", "--runtime", "berth", "--network", "none"];

    let mut args = run.to_vec();
    args.extend([
        "berth-test:latest",
        "sh",
        "-c",
        "echo hello-$((6*7)) pid=$$; exit 5",
    ]);
    let o = d.docker(&args);
    assert_eq!(o.status.code(), Some(5), "{}", out_text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello-42 pid=1\n");

    let mut args = run.to_vec();
    args.extend(["-t", "berth-test:latest", "tty"]);
    let o = d.docker(&args);
    assert!(o.status.success(), "{}", out_text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("/dev/pts/0"),
        "{}",
        out_text(&o)
    );

    // Docker's defaults reach the container: its capability set, its
    // seccomp profile, masked paths.
    let mut args = run.to_vec();
    args.extend([
        "berth-test:latest",
        "sh",
        "-c",
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; unshare -m true && echo unshare-allowed || echo unshare-denied",
    ]);
    let o = d.docker(&args);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", out_text(&o));
    assert!(text.contains("CapEff:\t00000000a80425fb"), "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("unshare-denied"), "{text}");

    // Limits, capabilities, user and a custom seccomp profile from docker's flags.
    let profile = tmp.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let seccomp_opt = format!("seccomp={}", profile.display());
    let mut args = run.to_vec();
    args.extend([
        "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50",
        "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "--user", "0:0",
        "--security-opt", &seccomp_opt,
        "berth-test:latest", "sh", "-c",
        "id -u; grep CapEff /proc/self/status; cat /sys/fs/cgroup/memory/memory.limit_in_bytes \
         /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us; mkdir /tmp/d 2>&1 || echo mkdir-denied",
    ]);
    let o = d.docker(&args);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", out_text(&o));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0", "{text}");
    assert_eq!(lines[1], "CapEff:\t0000000000000400", "{text}");
    assert_eq!(&lines[2..5], ["67108864", "50", "50000"], "{text}");
    assert!(text.contains("mkdir-denied"), "{text}");

    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-d",
        "--runtime",
        "berth",
        "--network",
        "none",
        "berth-test:latest",
        "sleep",
        "100",
    ]);
    assert!(o.status.success(), "{}", out_text(&o));
    // exec joins the container; top, pause, update and stats go through the runtime.
    let o = d.docker(&[
        "exec",
        "berth-d",
        "sh",
        "-c",
        "echo exec-ok; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "exec-ok\nsleep 100 ",
        "{}",
        out_text(&o)
    );
    let o = d.docker(&["exec", "berth-d", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", out_text(&o));
    let o = d.docker(&["top", "berth-d"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("sleep 100"),
        "{}",
        out_text(&o)
    );
    let o = d.docker(&["pause", "berth-d"]);
    assert!(o.status.success(), "{}", out_text(&o));
    let o = d.docker(&["ps", "--format", "{{.Status}}", "--filter", "name=berth-d"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Paused"),
        "{}",
        out_text(&o)
    );
    let o = d.docker(&["unpause", "berth-d"]);
    assert!(o.status.success(), "{}", out_text(&o));
    let o = d.docker(&[
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "256m",
        "berth-d",
    ]);
    assert!(o.status.success(), "{}", out_text(&o));
    let o = d.docker(&[
        "exec",
        "berth-d",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "134217728",
        "{}",
        out_text(&o)
    );
    let o = d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}",
        "berth-d",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("/ 128MiB"),
        "{}",
        out_text(&o)
    );
    d.docker(&["rm", "-f", "berth-d"]);

    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-d",
        "--runtime",
        "berth",
        "--network",
        "none",
        "berth-test:latest",
        "sleep",
        "100",
    ]);
    assert!(o.status.success(), "{}", out_text(&o));
    let o = d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("berth-d Up"),
        "{}",
        out_text(&o)
    );
    // What engines do to a running container: exec (the shim's `exec
    // --process`), a terminal, pause/unpause, update, stats and top.
    let o = d.docker(&["exec", "berth-d", "sh", "-c", "echo exec-$((2*3)); exit 6"]);
    assert_eq!(o.status.code(), Some(6), "{}", out_text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "exec-6\n");
    let o = d.docker(&[
        "exec",
        "-t",
        "-u",
        "1000",
        "berth-d",
        "sh",
        "-c",
        "id -u; tty",
    ]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.starts_with("1000\r\n/dev/pts/"), "{}", out_text(&o));
    assert!(d.docker(&["pause", "berth-d"]).status.success());
    let o = d.docker(&["ps", "--format", "{{.Status}}"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("(Paused)"),
        "{}",
        out_text(&o)
    );
    assert!(d.docker(&["unpause", "berth-d"]).status.success());
    let o = d.docker(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--pids-limit",
        "30",
        "berth-d",
    ]);
    assert!(o.status.success(), "{}", out_text(&o));
    let o = d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}",
        "berth-d",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("/ 64MiB"),
        "{}",
        out_text(&o)
    );
    let o = d.docker(&["top", "berth-d"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("sleep 100"),
        "{}",
        out_text(&o)
    );

    let o = d.docker(&["rm", "-f", "berth-d"]);
    assert!(o.status.success(), "{}", out_text(&o));
    let o = d.docker(&["ps", "-aq"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).trim().is_empty(),
        "{}",
        out_text(&o)
    );
}
