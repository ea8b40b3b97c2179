//! The berth CLI's test harness: Engine API daemons (berthd from this workspace, and a private
//! dockerd as the reference), each with its own data root, exec root, socket and pidfile and
//! stopped by pid, and a busybox image built from Debian's busybox-static.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A daemon serving the Engine API on a unix socket in `dir`.
pub struct Engine {
    pub child: Child,
    pub dir: PathBuf,
    pub host: String,
}

impl Engine {
    pub fn dockerd(dir: &Path) -> Engine {
        Engine::dockerd_with(dir, &[])
    }

    /// dockerd with more flags (e.g. another `-H`).
    pub fn dockerd_with(dir: &Path, extra: &[&str]) -> Engine {
        std::fs::create_dir_all(dir).unwrap();
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
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        Engine::ready(child, dir, &socket)
    }

    /// berthd from this workspace's target dir (brought up to date here with
    /// its shim and runtime).
    pub fn berthd(dir: &Path) -> Engine {
        Engine::berthd_with(dir, &[])
    }

    /// berthd with extra daemon flags.
    pub fn berthd_with(dir: &Path, extra: &[&str]) -> Engine {
        std::fs::create_dir_all(dir).unwrap();
        let bin_dir = Path::new(BERTH).parent().unwrap().to_path_buf();
        // Always ask cargo (a no-op when fresh): `cargo test -p berth` does not rebuild them.
        {
            let st = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "-p",
                    "berthd",
                    "-p",
                    "berth-shim",
                    "-p",
                    "berth-runtime",
                ])
                // `cargo test --release` runs binaries from target/release: build those.
                .args(bin_dir.ends_with("release").then_some("--release"))
                .env("CARGO_TARGET_DIR", bin_dir.parent().unwrap())
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(st.success(), "building berthd failed");
        }
        let socket = dir.join("berth.sock");
        let log = std::fs::File::create(dir.join("berthd.log")).unwrap();
        let child = Command::new(bin_dir.join("berthd"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("berthd.pid"))
            .args(["--bridge", "none"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        Engine::ready(child, dir, &socket)
    }

    pub fn ready(child: Child, dir: &Path, socket: &Path) -> Engine {
        let e = Engine {
            child,
            dir: dir.to_path_buf(),
            host: format!("unix://{}", socket.display()),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !e.berth(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "the daemon did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        e
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(BERTH)
            .env("BERTH_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.join("client"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The stock docker CLI against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(docker_cli().expect("a docker CLI"))
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.join("client"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut c = Command::new(BERTH)
            .env("BERTH_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.join("client"))
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

impl Drop for Engine {
    fn drop(&mut self) {
        // Containers a failed test left behind go first, through the API.
        let ids = text(&self.berth(&["ps", "-aq"]));
        for id in ids.split_whitespace() {
            let _ = self.berth(&["rm", "-f", id]);
        }
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

/// The docker CLI: `$BERTH_TEST_DOCKER`, else the machine's (/usr/local/bin first, then Debian's).
pub fn docker_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_TEST_DOCKER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        text(o),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Why these tests cannot run here, if they cannot.
pub fn skip_reason(dockerd: bool) -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root");
    }
    if !Path::new("/bin/busybox").is_file() {
        return Some("needs /bin/busybox (busybox-static)");
    }
    if dockerd && Command::new("dockerd").arg("--version").output().is_err() {
        return Some("needs dockerd (apt-get install docker.io)");
    }
    None
}

/// A busybox root file system as a tarball in `dir`.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for t in [
        "sh", "cat", "echo", "sleep", "true", "mkdir", "rm", "ls", "wc", "unshare", "mount", "ip",
        "touch", "httpd", "wget",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(t)).unwrap();
    }
    for d in ["tmp", "etc", "mnt"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let tar = dir.join("rootfs.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    tar
}
