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

/// --no-pivot with a private root propagation is refused before anything is
/// made, as runc refuses it.
#[test]
fn no_pivot_refuses_a_private_root_propagation() {
    require_root!();
    for prop in ["private", "rprivate"] {
        let b = Bundle::new(|c| {
            c["process"]["args"] = json!(["true"]);
            c["linux"]["rootfsPropagation"] = json!(prop);
        });
        let out = b.run(&["run", "--no-pivot", "np-private"]);
        assert!(!out.status.success(), "{prop}: ran");
        assert!(
            err_text(&out).contains("not safe without pivot_root"),
            "{prop}: {}",
            err_text(&out)
        );
        assert!(text(&b.run(&["list", "-q"])).trim().is_empty());
        // With pivot_root the same config runs.
        let out = b.run(&["run", "np-private"]);
        assert!(out.status.success(), "{prop}: {}", err_text(&out));
    }
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

/// A static x86_64 program that makes syscall 1000 (which no kernel has)
/// and exits with the errno it got back.
fn syscall_1000_program() -> Vec<u8> {
    let code: &[u8] = &[
        0xb8, 0xe8, 0x03, 0x00, 0x00, // mov eax, 1000
        0x0f, 0x05, // syscall
        0xf7, 0xd8, // neg eax
        0x89, 0xc7, // mov edi, eax
        0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
        0x0f, 0x05, // syscall
    ];
    let base: u64 = 0x40_0000;
    let total = (64 + 56 + code.len()) as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(base + 120).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // shoff
    elf.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, 1, 0, 0, 0] {
        elf.extend_from_slice(&v.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0u64, base, base, total, total, 0x1000] {
        elf.extend_from_slice(&v.to_le_bytes());
    }
    elf.extend_from_slice(code);
    elf
}

/// Docker's profile (default EPERM) answers ENOSYS for a syscall newer than
/// any it names, as runc does, so programs fall back instead of failing.
#[test]
fn seccomp_unknown_syscall_gets_enosys_like_runc() {
    require_root!();
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: the probe program is x86_64 code");
        return;
    }
    let caps = json!(berth_seccomp::DOCKER_DEFAULT_CAPS);
    let profile = berth_seccomp::docker_to_oci(
        &berth_seccomp::default_profile(),
        &berth_seccomp::DOCKER_DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        berth_seccomp::native_arch(),
    )
    .unwrap();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["/bin/sys1000"]);
        c["linux"]["seccomp"] = serde_json::to_value(&profile).unwrap();
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
    });
    let prog = b.dir.join("rootfs/bin/sys1000");
    std::fs::write(&prog, syscall_1000_program()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Twice: the second run loads the cached program.
    for (i, id) in ["enosys-1", "enosys-2"].into_iter().enumerate() {
        let out = b.run(&["run", id]);
        assert_eq!(
            out.status.code(),
            Some(libc::ENOSYS),
            "run {i}: {}",
            err_text(&out)
        );
    }
}

/// The startContainer hooks run in the container after the filter is in
/// (runc loads it before them, no_new_privs or not).
#[test]
fn start_container_hooks_run_under_the_seccomp_filter() {
    require_root!();
    for nnp in [true, false] {
        let b = Bundle::new(|c| {
            c["process"]["args"] = json!(["cat", "/tmp/hook-result"]);
            c["root"]["readonly"] = json!(false);
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                              "errnoRet": 13}]
            });
            c["hooks"] = json!({"startContainer": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "mkdir /tmp/hook-dir; echo mkdir=$? > /tmp/hook-result"]
            }]});
        });
        let out = b.run(&["run", "hooked"]);
        assert!(out.status.success(), "nnp={nnp}: {}", err_text(&out));
        assert_eq!(
            text(&out).trim(),
            "mkdir=1",
            "nnp={nnp}: the hook ran unfiltered"
        );
        assert!(!b.dir.join("rootfs/tmp/hook-dir").exists());
    }
}

/// SCMP_ACT_NOTIFY on write would leave init's own writes waiting on the
/// agent: refused before anything is made (runc refuses it too).
#[test]
fn seccomp_notify_on_write_is_refused() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["true"]));
    // An agent socket that exists (nobody answers on it).
    let socket = b.tmp.path().join("agent.sock");
    let _agent = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    b.set_config(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket.to_str().unwrap(),
            "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let out = b.run(&["run", "notify-write"]);
    assert!(!out.status.success());
    assert!(
        err_text(&out).contains("SCMP_ACT_NOTIFY cannot be used for the write syscall"),
        "{}",
        err_text(&out)
    );
    assert!(text(&b.run(&["list", "-q"])).trim().is_empty());
}

/// The agent at listenerPath gets the state ("creating") and the listener
/// during `create`, as with runc, not only at `start`; it then decides the
/// container's notified syscalls.
#[test]
fn seccomp_listener_arrives_during_create() {
    require_root!();
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    use std::os::fd::AsRawFd;
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "mkdir /tmp/agent-decides 2>/dev/null; echo mkdir=$? > /tmp/result"
        ]);
        c["process"]["noNewPrivileges"] = json!(true);
        c["root"]["readonly"] = json!(false);
    });
    let socket = b.tmp.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    b.set_config(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket.to_str().unwrap(),
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let agent = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let (state, fd) = berth_seccomp::receive_listener_fd(&mut conn).unwrap();
        tx.send(format!("{:?}", state.state().status())).unwrap();
        let req = ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
        ScmpNotifResp::new_error(req.id, -libc::EACCES, ScmpNotifRespFlags::empty())
            .respond(fd.as_raw_fd())
            .unwrap();
    });
    let (ok, err) = b.detached(&["create", "listened"]);
    assert!(ok, "{err}");
    let status = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the agent got nothing during create");
    assert_eq!(status, "Creating");
    let out = b.run(&["start", "listened"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let result = b.dir.join("rootfs/tmp/result");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&result).map_or(true, |s| !s.ends_with('\n')) {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&result).unwrap().trim(), "mkdir=1");
    agent.join().unwrap();
}

/// An `exec` under a notify profile hands the agent its own listener, with
/// the state's pid naming the exec'd process (the one whose syscalls the
/// agent will see), not 0.
#[test]
fn seccomp_listener_of_an_exec_names_its_process() {
    require_root!();
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    use std::os::fd::AsRawFd;
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "30"]);
        c["process"]["noNewPrivileges"] = json!(true);
    });
    let socket = b.tmp.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    b.set_config(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket.to_str().unwrap(),
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let agent = std::thread::spawn(move || {
        // First init's listener (kept open), then the exec's.
        let (mut conn, _) = listener.accept().unwrap();
        let _init = berth_seccomp::receive_listener_fd(&mut conn).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let (state, fd) = berth_seccomp::receive_listener_fd(&mut conn).unwrap();
        let req = ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
        ScmpNotifResp::new_error(req.id, -libc::EACCES, ScmpNotifRespFlags::empty())
            .respond(fd.as_raw_fd())
            .unwrap();
        (*state.pid(), req.pid)
    });
    let (ok, err) = b.detached(&["run", "-d", "execd"]);
    assert!(ok, "{err}");
    // mkdir itself is the exec'd process (a shell would fork it).
    let out = b.run(&["exec", "execd", "mkdir", "/tmp/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err_text(&out).contains("Permission denied"),
        "{}",
        err_text(&out)
    );
    let (state_pid, syscall_pid) = agent.join().unwrap();
    assert_eq!(
        state_pid as u32, syscall_pid,
        "the state names another process"
    );
}
