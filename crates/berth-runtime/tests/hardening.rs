//! What the config asks to restrict stays restricted: recursive mount
//! attributes, explicit device denies, --no-pivot and procfs, a cgroup
//! frozen in advance, and seccomp's corner cases — each checked beside what
//! runc does with the same bundle.

mod common;

use std::path::{Path, PathBuf};

use common::{err_text, sh, text, Bundle};
use serde_json::json;

/// A tmpfs mounted on the host for the length of a test, detached on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .expect("mount tmpfs");
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The mountinfo line of `point` as the container saw it.
fn mount_line<'a>(mountinfo: &'a str, point: &str) -> &'a str {
    mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(point))
        .unwrap_or_else(|| panic!("no mount at {point} in\n{mountinfo}"))
}

#[test]
fn recursive_read_only_and_noexec_reach_submounts() {
    require_root!();
    let host = tempfile::Builder::new()
        .prefix("berth-rro-")
        .tempdir()
        .unwrap();
    let vol = host.path().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    let _sub = HostMount::tmpfs(&vol.join("sub"));
    let (code, out, err) = sh(
        |c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "type": "bind", "source": vol, "destination": "/mnt",
                "options": ["rbind", "rro", "rnoexec"]
            }));
        },
        "touch /mnt/a 2>/dev/null && echo wrote-top; \
         touch /mnt/sub/b 2>/dev/null && echo wrote-sub; \
         cat /proc/self/mountinfo",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("wrote-"),
        "a recursive read-only mount was written: {out}"
    );
    for point in ["/mnt", "/mnt/sub"] {
        let line = mount_line(&out, point);
        let opts: Vec<&str> = line.split(' ').nth(5).unwrap().split(',').collect();
        assert!(opts.contains(&"ro") && opts.contains(&"noexec"), "{line}");
    }
    // The host's view is untouched.
    std::fs::write(vol.join("sub/host-can-write"), "x").unwrap();
}

/// `linux.devices` creates a node; whether the container may open it is for
/// `linux.resources.devices` alone. A deny-all with no allow for /dev/kmsg
/// leaves it unusable (runc: EPERM), while the default nodes still work.
#[test]
fn device_deny_all_holds_for_a_listed_device() {
    require_root!();
    let (code, out, err) = sh(
        |c| {
            c["linux"]["devices"] = json!([
                {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438}
            ]);
            c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
        },
        "test -c /dev/kmsg && echo node-present; \
         echo berth-device-test > /dev/kmsg; echo kmsg=$?; \
         head -c 1 /dev/zero | wc -c",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("node-present"), "{out}");
    assert!(
        out.contains("kmsg=1"),
        "/dev/kmsg was writable: {out} {err}"
    );
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(
        out.trim_end().ends_with('1'),
        "/dev/zero must stay usable: {out}"
    );
}

/// With --no-pivot the host's /proc must not stay reachable for the
/// kernel's "a fully visible procfs exists" check: a user namespace made
/// inside the container may not mount a fresh procfs (runc: permission
/// denied; runc's no_pivot.bats).
#[test]
fn no_pivot_leaves_no_bare_procfs_to_remount() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!([
            "unshare",
            "-mrpf",
            "sh",
            "-c",
            "mount -t proc none /proc && echo procfs-mounted"
        ]);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SETFCAP"));
        }
    });
    let out = b.run(&["run", "--no-pivot", "np"]);
    let (o, e) = (text(&out), err_text(&out));
    assert!(!o.contains("procfs-mounted"), "procfs was mounted: {o} {e}");
    assert!(e.contains("permission denied"), "{o} {e}");
    assert_ne!(out.status.code(), Some(0));
    // The host keeps its /proc.
    assert!(Path::new("/proc/self/status").exists());
}

/// A rootfs whose /proc (or /sys) is a symlink gets no procfs at the link's
/// target: the config is refused, as runc refuses it.
#[test]
fn proc_or_sys_on_a_symlink_is_refused() {
    require_root!();
    for dir in ["proc", "sys"] {
        let b = Bundle::new(|c| {
            c["process"]["args"] = json!(["true"]);
        });
        let rootfs = b.dir.join("rootfs");
        std::fs::remove_dir(rootfs.join(dir)).unwrap();
        std::os::unix::fs::symlink("tmp", rootfs.join(dir)).unwrap();
        let out = b.run(&["run", "link"]);
        assert!(!out.status.success(), "{dir}: ran");
        let e = err_text(&out);
        assert!(
            e.contains("must be mounted on ordinary directory"),
            "{dir}: {e}"
        );
        assert!(std::fs::read_dir(rootfs.join("tmp"))
            .unwrap()
            .next()
            .is_none());
        let list = text(&b.run(&["list", "-q"]));
        assert!(list.trim().is_empty(), "{dir}: left behind {list}");
    }
}

/// Where the cgroup v1 hierarchy with `controller` is mounted, if any.
fn v1_hierarchy(controller: &str) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mut r = right.split(' ');
        let (fs, _, opts) = (r.next()?, r.next()?, r.next()?);
        let point = left.split(' ').nth(4)?;
        (fs == "cgroup" && opts.split(',').any(|o| o == controller)).then(|| PathBuf::from(point))
    })
}

/// A cgroup frozen before the container exists must make `run -d` fail at
/// once with runc's message (it used to hang with init frozen in D state),
/// leaving no container and no cgroup directories of its own behind.
#[test]
fn pre_frozen_cgroup_fails_run_at_once() {
    require_root!();
    let Some(freezer) = v1_hierarchy("freezer") else {
        eprintln!("skipped: no cgroup v1 freezer hierarchy");
        return;
    };
    let rel = format!("berth-test-frozen-{}", std::process::id());
    let dir = freezer.join(&rel);
    std::fs::create_dir_all(&dir).unwrap();
    struct Thaw(PathBuf);
    impl Drop for Thaw {
        fn drop(&mut self) {
            let _ = std::fs::write(self.0.join("freezer.state"), "THAWED");
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _thaw = Thaw(dir.clone());
    std::fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "30"]);
        c["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
    });
    let mut child = b
        .cmd(&["run", "-d", "frozen"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            // Let the frozen init go so the cleanup can kill it.
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            panic!("run -d hung on a frozen cgroup");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(
        err.contains("container's cgroup unexpectedly frozen"),
        "{err}"
    );
    assert!(text(&b.run(&["list", "-q"])).trim().is_empty());
    if let Some(mem) = v1_hierarchy("memory") {
        assert!(!mem.join(&rel).exists(), "a memory cgroup was left behind");
    }
    assert!(std::fs::read_to_string(dir.join("tasks"))
        .unwrap()
        .trim()
        .is_empty());
}
