//! Root-only test of the cgroup v2 device filter against the real kernel:
//! the program from `device_filter_program` is loaded through the BPF
//! verifier and attached to a fresh cgroup2 directory, and a shell inside
//! that cgroup tries to open devices.
//!
//! The `bpf(2)` load and attach go through berth-sys, as the runtime does.
//! The test prints "skipped: ..." without root or a cgroup2 mount.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_cgroups::{create, ManagerConfig, Pid};
use oci_spec::runtime::LinuxResources;
use serde_json::json;

fn cgroup2_mount() -> Option<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let sep = f.iter().position(|x| *x == "-")?;
        (f.get(sep + 1) == Some(&"cgroup2")).then(|| PathBuf::from(f[4]))
    })
}

struct Cleanup(Box<dyn berth_cgroups::CgroupManager>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in self.0.pids().unwrap_or_default() {
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
        }
        sleep(Duration::from_millis(100));
        if let Err(e) = self.0.destroy() {
            eprintln!("cleanup failed: {e}");
        }
    }
}

#[test]
fn real_v2_device_filter_is_enforced() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: needs root");
        return;
    }
    let Some(mount) = cgroup2_mount() else {
        println!("skipped: no cgroup2 mount");
        return;
    };
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("berth-test-dev-{}-{ns}", std::process::id());
    let cfg = ManagerConfig::new(Some(format!("/{name}")), name.clone()).with_root(&mount);
    let guard = Cleanup(create(&cfg).unwrap());
    let cg = &guard.0;

    // The shell waits until it has been moved into the cgroup. It must not
    // redirect to /dev/null itself: writing /dev/null is denied below.
    let child = Command::new("sh")
        .arg("-c")
        .arg(
            "sleep 0.5; \
             cat /dev/null && echo null-ok; \
             (echo x > /dev/null) || echo null-write-denied; \
             [ \"$(head -c1 /dev/zero | wc -c)\" = 1 ] && echo zero-read-ok; \
             (echo x > /dev/zero) || echo zero-write-denied; \
             [ \"$(head -c1 /dev/urandom | wc -c)\" = 1 ] || echo urandom-denied",
        )
        .stdout(Stdio::piped())
        // Opened here, outside the cgroup: /dev/null writes are denied in it.
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    cg.apply(Pid::from_raw(child.id() as i32)).unwrap();

    let r: LinuxResources = serde_json::from_value(json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"},
        {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}
    ]}))
    .unwrap();
    let program = cg.set(&r).unwrap().device_program().unwrap();
    let dir = fs::File::open(cg.path()).unwrap();
    use std::os::fd::AsFd;
    berth_sys::attach_cgroup_device_filter(&program.to_bytes(), dir.as_fd())
        .expect("load and attach");

    let got = child.wait_with_output().unwrap();
    let got = String::from_utf8_lossy(&got.stdout);
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        vec![
            "null-ok",
            "null-write-denied",
            "zero-read-ok",
            "zero-write-denied",
            "urandom-denied"
        ],
        "device access inside the cgroup"
    );
}
