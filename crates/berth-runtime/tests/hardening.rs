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
    assert!(!out.contains("wrote-"), "a recursive read-only mount was written: {out}");
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
    assert!(out.contains("kmsg=1"), "/dev/kmsg was writable: {out} {err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(out.trim_end().ends_with('1'), "/dev/zero must stay usable: {out}");
}
