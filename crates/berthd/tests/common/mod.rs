//! The berthd test harness: a private berthd per test (own socket, data root, exec root), the stock
//! docker CLI pointed at it, raw HTTP on its socket, and a busybox image made from Debian's busybox-static.
#![allow(dead_code)]

pub mod net;
pub mod plugins;
pub mod registry;
#[allow(unused_imports)]
pub use registry::Registry;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BUSYBOX: &str = "/bin/busybox";

/// The docker CLI: `BERTH_TEST_DOCKER` if set, else the machine's (28.x in /usr/local/bin), else Debian's.
pub fn docker_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_TEST_DOCKER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Why this machine cannot run the tests, if it cannot.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("berthd tests need root".into());
    }
    if docker_cli().is_none() {
        return Some("the docker CLI is not installed".into());
    }
    if !Path::new(BUSYBOX).is_file() {
        return Some(format!(
            "{BUSYBOX} is missing (Debian package busybox-static)"
        ));
    }
    None
}

#[macro_export]
macro_rules! skip_unless_ready {
    ($name:expr) => {
        if let Some(why) = $crate::common::skip_reason() {
            println!("skipped: {}: {why}", $name);
            return;
        }
    };
}

/// berth-shim and berth-runtime next to berthd (built here if `cargo test -p berthd` did not).
pub fn ensure_helpers(bin_dir: &Path) {
    // Always ask cargo (a no-op when they are fresh): `cargo test -p berthd` alone does not rebuild
    // the other crates' binaries, and a stale shim or runtime would test old code.
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let target = bin_dir.parent().expect("target dir");
        let st = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "berth-shim",
                "-p",
                "berth-runtime",
                "-p",
                "berth-init",
            ])
            // `cargo test --release` runs binaries from target/release: build those.
            .args(bin_dir.ends_with("release").then_some("--release"))
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(
            st.success(),
            "building berth-shim, berth-runtime and berth-init failed"
        );
    });
}

pub struct Berthd {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub sock: PathBuf,
    /// Extra daemon flags.
    pub extra: Vec<String>,
    /// A program and its arguments the daemon is started under (`unshare ...`), empty for none.
    pub wrap: Vec<String>,
    /// The daemon's `--firewall-prefix` (its iptables chains; its nft table is
    /// `berth_<prefix in lower case>`): unique per daemon, so daemons running at the same time
    /// never share chains and the host ends clean.
    pub firewall_prefix: String,
}

/// A chain prefix no other test daemon on the host has: pid and a counter.
fn unique_prefix() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("BT{}_{n}", std::process::id())
}

/// The prefix `extra` sets, or a new one.
fn prefix_of(extra: &[&str]) -> String {
    extra
        .iter()
        .position(|a| *a == "--firewall-prefix")
        .and_then(|i| extra.get(i + 1))
        .map_or_else(unique_prefix, |p| p.to_string())
}

/// Remove every rule a daemon with `prefix` may have left: its iptables and ip6tables chains and
/// the jumps into them, and its nft table.
pub fn purge_firewall(prefix: &str) {
    berth_net::firewall::Iptables {
        chain: prefix.to_string(),
    }
    .purge();
    berth_net::firewall::Nftables::new(&format!("berth_{}", prefix.to_lowercase())).purge();
}

impl Berthd {
    pub fn start() -> Berthd {
        // Most tests run with --network none; the daemon gets no bridge, so
        // tests never share one.
        Berthd::start_with(&["--bridge", "none"])
    }

    pub fn start_with(extra: &[&str]) -> Berthd {
        Berthd::start_under(&[], extra)
    }

    /// Like `start`, with the daemon started under `wrap` (a program that ends by exec'ing its
    /// arguments, so the child is the daemon).
    pub fn start_wrapped(wrap: &[&str]) -> Berthd {
        Berthd::start_under(wrap, &["--bridge", "none"])
    }

    fn start_under(wrap: &[&str], extra: &[&str]) -> Berthd {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
        ensure_helpers(bin.parent().expect("bin dir"));
        let dir = tempfile::Builder::new()
            .prefix("bd")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let sock = dir.path().join("b.sock");
        let mut d = Berthd {
            dir,
            child: None,
            sock,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            wrap: wrap.iter().map(|s| s.to_string()).collect(),
            firewall_prefix: prefix_of(extra),
        };
        d.spawn();
        d
    }

    pub fn spawn(&mut self) {
        self.spawn_env(&[]);
    }

    /// Start the daemon with extra environment variables (e.g. `BERTHD_CRASH_AT`).
    pub fn spawn_env(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("berthd.log"))
            .expect("log file");
        let mut cmd = match self.wrap.split_first() {
            Some((prog, args)) => {
                let mut c = Command::new(prog);
                c.args(args).arg(env!("CARGO_BIN_EXE_berthd"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_berthd")),
        };
        let child = cmd
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--data-root")
            .arg(self.dir.path().join("data"))
            .arg("--exec-root")
            .arg(self.dir.path().join("exec"))
            .arg("--pidfile")
            .arg(self.dir.path().join("berthd.pid"))
            .args(
                (!self.extra.iter().any(|a| a == "--firewall-prefix"))
                    .then_some(["--firewall-prefix", self.firewall_prefix.as_str()])
                    .into_iter()
                    .flatten(),
            )
            .args(&self.extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start berthd");
        self.child = Some(child);
        let t = Instant::now();
        while UnixStream::connect(&self.sock).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "berthd did not come up: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL the daemon (its containers' shims live on).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_in(args, None)
    }

    pub fn docker_in(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(docker_cli().expect("docker"));
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run docker");
        // Input and output move on their own threads: a CLI that writes more than a pipe holds
        // (64 KB) before it exits, or before it reads its input, must not stall here.
        let writer = stdin.map(|input| {
            let mut w = child.stdin.take().expect("stdin");
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = w.write_all(&input);
            })
        });
        let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(child.stdout.take().map(|o| Box::new(o) as _));
        let err = drain(child.stderr.take().map(|e| Box::new(e) as _));
        let t = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait docker") {
                break status;
            }
            if t.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("docker {args:?} hung; berthd log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(w) = writer {
            let _ = w.join();
        }
        Output {
            status,
            stdout: out.join().expect("stdout reader"),
            stderr: err.join().expect("stderr reader"),
        }
    }

    /// Run docker, assert success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.log()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A raw HTTP/1.0 request on the socket: (status, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut s = UnixStream::connect(&self.sock).expect("connect");
        let b = body.unwrap_or("");
        // One write: berthd may answer (and close) as soon as it has the head, before a body it
        // does not need; a request written in pieces would then fail with EPIPE half-way. A
        // broken pipe after the head still leaves the answer to read.
        let req = format!(
            "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        );
        match s.write_all(req.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => panic!("write request: {e}"),
        }
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read response");
        let status = resp[9..12].parse().expect("status");
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// Build a tarball of a busybox rootfs and import it as `name`.
    pub fn import_busybox(&self, name: &str) {
        let root = self.dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
        for a in [
            "sh", "echo", "cat", "sleep", "true", "false", "id", "hostname", "ls", "env",
        ] {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(a));
        }
        std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        let tar = self.dir.path().join("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success());
        let out = self.ok(&["import", tar.to_str().unwrap(), name]);
        assert!(out.trim().starts_with("sha256:"), "import said {out:?}");
    }

    /// Like `start_with`, after `prepare` ran on the fresh directory (before the daemon starts).
    pub fn start_prepared(extra: &[&str], prepare: impl FnOnce(&Path)) -> Berthd {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
        ensure_helpers(bin.parent().expect("bin dir"));
        let dir = tempfile::Builder::new()
            .prefix("bd")
            .tempdir_in("/tmp")
            .expect("tempdir");
        prepare(dir.path());
        let sock = dir.path().join("b.sock");
        let mut d = Berthd {
            dir,
            child: None,
            sock,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            wrap: Vec::new(),
            firewall_prefix: prefix_of(extra),
        };
        d.spawn();
        d
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
            // The user networks' bridges and rules go through the daemon's own teardown.
            let _ = self.docker(&["network", "prune", "-f"]);
        }
        self.kill9();
        purge_firewall(&self.firewall_prefix);
        let dir = self.dir.path().to_string_lossy().into_owned();
        // Shims of containers left behind (a failed test): only ours, found by our unique directory.
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmd).contains(&dir) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::SIGKILL,
                    );
                }
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&dir))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// One `read`, again when a signal interrupted it (a stop and continue of the test process, as
/// under a tracer, ends a blocked read with a timeout set in EINTR even without handlers).
pub fn read_some(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
