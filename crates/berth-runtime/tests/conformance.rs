//! Cases the OCI runtime-tools validation suite found (scripts/conformance.sh
//! runs the suite itself; these are its failures reduced to one config each).

mod common;

use std::os::fd::AsRawFd;

use common::{err_text, text, Bundle};
use serde_json::json;

/// runtime-tools' linux_ns_itype: no mount namespace (so no /proc in the
/// chrooted rootfs) and a seccomp profile from before close_range(2), loaded
/// before the capabilities drop (no no_new_privs). The runtime must still
/// close its descriptors on exec instead of failing to start, and a
/// descriptor the runtime inherited must not reach the container.
#[test]
fn descriptors_are_closed_without_proc_or_close_range() {
    require_root!();
    let leak = tempfile::tempfile().unwrap();
    // Inheritable, as a careless caller's descriptor would be.
    nix::fcntl::fcntl(
        leak.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    let n = leak.as_raw_fd();
    let b = Bundle::new(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "mount");
        let linux = c["linux"].as_object_mut().unwrap();
        linux.remove("maskedPaths");
        linux.remove("readonlyPaths");
        c["root"]["readonly"] = json!(false);
        c["process"]["noNewPrivileges"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO"}]
        });
        c["process"]["args"] = json!([
            "sh",
            "-c",
            format!("if echo leaked >&{n}; then echo leaked; else echo closed; fi")
        ]);
    });
    assert!(
        !b.dir.join("rootfs/proc/self").exists(),
        "the rootfs must have no /proc for this case"
    );
    let out = b.run(&["run", "noproc"]);
    assert!(out.status.success(), "run: {}", err_text(&out));
    assert_eq!(text(&out), "closed\n", "{}", err_text(&out));
    drop(leak);
}

/// runtime-tools' linux_rootfs_propagation: `rootfsPropagation: unbindable`
/// made the host's root unbindable before the rootfs was bound, so create
/// failed with EINVAL (runc 1.1.5 fails the same way; crun runs it). The
/// container's root must end up unbindable.
#[test]
fn unbindable_rootfs_propagation() {
    require_root!();
    for prop in ["unbindable", "runbindable"] {
        let b = Bundle::new(|c| {
            c["linux"]["rootfsPropagation"] = json!(prop);
            c["process"]["args"] = json!(["cat", "/proc/self/mountinfo"]);
        });
        let out = b.run(&["run", "unbind"]);
        assert!(out.status.success(), "{prop}: {}", err_text(&out));
        let root = text(&out)
            .lines()
            .find(|l| l.split(' ').nth(4) == Some("/"))
            .map(str::to_string)
            .unwrap_or_default();
        assert!(root.contains(" unbindable "), "{prop}: root mount {root:?}");
    }
}

/// A shared root propagation leaves the rootfs's parent shared, which
/// pivot_root refuses: the runtime makes that parent private first (it skips
/// reading the mount table only when the propagation was set recursively to
/// slave or private, so nothing is shared).
#[test]
fn shared_rootfs_propagation_runs() {
    require_root!();
    for prop in ["shared", "rshared", "slave", "private"] {
        let b = Bundle::new(|c| {
            c["linux"]["rootfsPropagation"] = json!(prop);
            c["process"]["args"] = json!(["true"]);
        });
        let out = b.run(&["run", "shared"]);
        assert!(out.status.success(), "{prop}: {}", err_text(&out));
    }
}

/// runc's help.bats and version.bats: installed as `runc` (a drop-in), the
/// runtime's help and version name it `runc`, as scripts that parse
/// `runc --version` or `runc -h` expect; under its own name it says its own.
#[test]
fn help_and_version_use_the_invoked_name() {
    let dir = tempfile::tempdir().unwrap();
    let runc = dir.path().join("runc");
    std::os::unix::fs::symlink(common::BIN, &runc).unwrap();
    let run = |bin: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        (out.status.code(), text(&out), err_text(&out))
    };
    let (code, out, _) = run(&runc, &["--version"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("runc version "), "{out}");
    let (_, out, _) = run(&runc, &["-h"]);
    assert_eq!(
        out.lines().nth(1),
        Some("   runc - Open Container Initiative runtime"),
        "{out}"
    );
    let (_, out, _) = run(&runc, &["delete", "-h"]);
    assert!(
        out.lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("   runc delete - "),
        "{out}"
    );
    let (code, _, err) = run(&runc, &["help", "foo"]);
    assert_eq!(code, Some(3));
    assert!(err.starts_with("runc: No help topic for 'foo'"), "{err}");
    let (_, out, _) = run(std::path::Path::new(common::BIN), &["--version"]);
    assert!(out.starts_with("berth-runtime version "), "{out}");
}

/// runc's delete.bats "delete --force in cgroupv1 with subcgroups": with a
/// cgroup namespace, /sys/fs/cgroup/<controller> in the container is the
/// container's own cgroup (a sub-cgroup can be made there), never the host's
/// whole hierarchy, which the bind of the host's mount exposed.
#[test]
fn cgroup_namespace_sees_only_its_own_v1_cgroup() {
    require_root!();
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        eprintln!("skipped: no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory");
        return;
    }
    let marker = format!("berth-host-only-{}", std::process::id());
    let host_marker = std::path::Path::new("/sys/fs/cgroup/memory").join(&marker);
    std::fs::create_dir_all(&host_marker).unwrap();
    let cg = format!("/berth-cgns-test-{}", std::process::id());
    let b = Bundle::new(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}));
        c["linux"]["cgroupsPath"] = json!(cg);
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "relatime"]);
            }
        }
        c["process"]["args"] = json!(["sh", "-c",
            "set -e; cd /sys/fs/cgroup/memory; mkdir sub; echo $$ > sub/tasks; \
             grep -c . sub/tasks; ls; grep ' /sys/fs/cgroup/memory ' /proc/self/mountinfo | cut -d' ' -f4"]);
    });
    let out = b.run(&["run", "cgns"]);
    let _ = std::fs::remove_dir(&host_marker);
    assert!(out.status.success(), "{}", err_text(&out));
    let stdout = text(&out);
    assert!(
        !stdout.contains(&marker),
        "host's cgroups visible: {stdout}"
    );
    assert!(stdout.lines().any(|l| l == "sub"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("/"), "mount root: {stdout}");
}

/// runc's userns.bats "userns with 2 inaccessible mounts": bind sources the
/// user namespace's root cannot reach (mode 0700 directories of host root)
/// are opened by the runtime and attached by init, as runc passes them; an
/// `rbind,ro` one keeps its flags.
#[test]
fn user_namespace_binds_sources_it_cannot_reach() {
    require_root!();
    let b = Bundle::new(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 210000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 210000, "size": 65536}]);
        c["root"]["readonly"] = json!(false);
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"source": "closed-1/dir", "destination": "/m1", "options": ["bind"]}));
        mounts.push(
            json!({"source": "closed-2/dir", "destination": "/m2", "options": ["rbind", "ro"]}),
        );
        c["process"]["args"] =
            json!(["sh", "-c",
            "cat /m1/f /m2/f; touch /m2/new 2>/dev/null && echo m2-writable || echo m2-read-only"]);
    });
    for d in ["closed-1", "closed-2"] {
        let dir = b.dir.join(d);
        std::fs::create_dir_all(dir.join("dir")).unwrap();
        std::fs::write(dir.join("dir/f"), format!("{d}\n")).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
    }
    let st = std::process::Command::new("chown")
        .args(["-R", "210000:210000"])
        .arg(b.dir.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = b.run(&["run", "userns-closed"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert_eq!(text(&out), "closed-1\nclosed-2\nm2-read-only\n");
}
