//! The berth CLI against a real Engine API: a private dockerd (own data
//! root, exec root, socket and pidfile; stopped by pid afterwards). What
//! works against the reference implementation must work against berthd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

struct Dockerd {
    child: Child,
    dir: PathBuf,
    host: String,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let socket = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
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
            .unwrap();
        let d = Dockerd {
            child,
            dir: dir.to_path_buf(),
            host: format!("unix://{}", socket.display()),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !d.berth(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "dockerd did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        d
    }

    fn berth(&self, args: &[&str]) -> Output {
        Command::new(BERTH)
            .env("BERTH_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.join("client"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut c = Command::new(BERTH)
            .env("BERTH_HOST", &self.host)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input).unwrap();
        c.wait_with_output().unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
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

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        text(o),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn everyday_verbs_work_against_the_engine_api() {
    if !nix::unistd::geteuid().is_root()
        || Command::new("dockerd").arg("--version").output().is_err()
    {
        eprintln!("skipped: needs root and dockerd (apt-get install docker.io)");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-cli-")
        .tempdir()
        .unwrap();
    // A busybox root file system, imported as an image.
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for t in ["sh", "cat", "echo", "sleep", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(t)).unwrap();
    }
    let tar = tmp.path().join("rootfs.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let d = Dockerd::start(tmp.path());

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
    let saved = tmp.path().join("saved.tar");
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
}
