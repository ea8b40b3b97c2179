//! Shared set-up for the runtime's root tests: a busybox bundle in a temp
//! dir, a private state root, and a way to run the binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");
pub const BUSYBOX: &str = "/bin/busybox";

/// Root tests need root and Debian's busybox-static; say so clearly when not.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("skipped: needs root (namespaces, mounts)".into());
    }
    if !Path::new(BUSYBOX).exists() {
        return Some(format!(
            "skipped: {BUSYBOX} missing (apt-get install busybox-static)"
        ));
    }
    None
}

#[macro_export]
macro_rules! require_root {
    () => {
        if let Some(why) = common::skip_reason() {
            eprintln!("{why}");
            return;
        }
    };
}

/// Write a minimal busybox root file system into `dir`.
pub fn make_rootfs(dir: &Path) {
    for d in [
        "bin",
        "etc",
        "tmp",
        "proc",
        "sys",
        "dev",
        "root",
        "home/user",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    let out = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for name in String::from_utf8_lossy(&out.stdout).lines() {
        if name != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(name));
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
}

/// A bundle (rootfs + config.json from `berth-runtime spec`) and a state root.
pub struct Bundle {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub root: PathBuf,
}

impl Bundle {
    /// A bundle whose config is `spec`'s, changed by `edit`.
    pub fn new(edit: impl FnOnce(&mut Value)) -> Bundle {
        let tmp = tempfile::Builder::new()
            .prefix("berth-rt-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().join("bundle");
        std::fs::create_dir_all(&dir).unwrap();
        make_rootfs(&dir.join("rootfs"));
        let st = Command::new(BIN)
            .args(["spec", "--bundle"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "spec failed");
        let path = dir.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["process"]["terminal"] = Value::Bool(false);
        edit(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let root = tmp.path().join("state");
        Bundle { tmp, dir, root }
    }

    pub fn set_config(&self, edit: impl FnOnce(&mut Value)) {
        let path = self.dir.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    /// A command for the runtime with this bundle's state root, run in the bundle.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .current_dir(&self.dir);
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Run a command whose container outlives it (create, run -d): the
    /// container inherits stdio, so output goes to files, not pipes that
    /// would stay open. Returns success and stderr.
    pub fn detached(&self, args: &[&str]) -> (bool, String) {
        let err_path = self.tmp.path().join("detached.stderr");
        let err = std::fs::File::create(&err_path).unwrap();
        let status = self
            .cmd(args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .status()
            .unwrap();
        (
            status.success(),
            std::fs::read_to_string(&err_path).unwrap_or_default(),
        )
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        assert!(
            out.status.success(),
            "state {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Whatever a failed test left: kill and delete every container of this root.
        if let Ok(out) = Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(["list", "-q"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new(BIN)
                    .arg("--root")
                    .arg(&self.root)
                    .args(["delete", "-f", id])
                    .output();
            }
        }
    }
}

/// Run `cmd` with `input` on its stdin (closed after it) and its stdout and stderr collected. A
/// command that closes its stdin unread (a standby in `pipes` mode puts /dev/null there) may end
/// the pipe before the input is written: that broken pipe is not the test's failure.
pub fn output_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    match child.stdin.take().unwrap().write_all(input) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing the input: {e}"),
        _ => {}
    }
    child.wait_with_output().unwrap()
}

pub fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn err_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run `script` with sh -c in a fresh container; returns (exit code, stdout, stderr).
pub fn sh(edit: impl FnOnce(&mut Value), script: &str) -> (i32, String, String) {
    let b = Bundle::new(|c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        edit(c);
    });
    // Each call its own id: the default cgroup is named after it, and tests
    // run in parallel (one's delete would remove another's cgroup).
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = format!("sh-test-{}-{n}", std::process::id());
    let out = b.run(&["run", &id]);
    (out.status.code().unwrap_or(-1), text(&out), err_text(&out))
}

/// A container's cgroup directory for `controller` (the unified one where the controller has no
/// v1 hierarchy), read from its state.json.
pub fn cgroup_dir(b: &Bundle, id: &str, controller: &str) -> PathBuf {
    let state: Value =
        serde_json::from_slice(&std::fs::read(b.root.join(id).join("state.json")).unwrap())
            .unwrap();
    let cg = &state["cgroup"];
    let p = cg["v1"][controller]
        .as_str()
        .or_else(|| cg["unified"].as_str())
        .unwrap_or_else(|| panic!("no {controller} cgroup in {cg}"));
    PathBuf::from(p)
}
