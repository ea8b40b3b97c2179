//! Isolation seen from inside and from the host: limits that hold,
//! capabilities and no_new_privs exactly as configured, Docker's seccomp
//! profile, user namespaces with id mappings.

mod common;

use std::time::{Duration, Instant};

use common::{cgroup_dir, err_text, sh, text, Bundle};
use serde_json::{json, Value};

/// Bit of a capability in /proc/self/status masks.
fn mask(caps: &[u32]) -> String {
    format!("{:016x}", caps.iter().fold(0u64, |m, c| m | (1u64 << c)))
}

fn status_line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:\t")))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn capabilities_and_no_new_privs_match_the_spec_exactly() {
    require_root!();
    // CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10, CAP_NET_RAW=13, CAP_SYS_CHROOT=18
    let (code, out, err) = sh(
        |c| {
            c["process"]["capabilities"] = json!({
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                "inheritable": ["CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"]
            });
            c["process"]["noNewPrivileges"] = json!(false);
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        },
        "grep -E '^(Cap|NoNewPrivs)' /proc/self/status",
    );
    assert_eq!(code, 0, "{err}");
    // After exec as a non-root user, effective and permitted come from the
    // ambient set (the kernel's rules); bounding and inheritable stay as set.
    assert_eq!(status_line(&out, "CapBnd"), mask(&[0, 5, 10, 13]));
    assert_eq!(status_line(&out, "CapInh"), mask(&[10]));
    assert_eq!(status_line(&out, "CapAmb"), mask(&[10]));
    assert_eq!(status_line(&out, "CapPrm"), mask(&[10]));
    assert_eq!(status_line(&out, "CapEff"), mask(&[10]));
    assert_eq!(status_line(&out, "NoNewPrivs"), "0");

    let (code, out, err) = sh(
        |c| {
            c["process"]["capabilities"] = json!({
                "bounding": ["CAP_KILL", "CAP_SYS_CHROOT"],
                "effective": ["CAP_KILL", "CAP_SYS_CHROOT"],
                "permitted": ["CAP_KILL", "CAP_SYS_CHROOT"]
            });
            c["process"]["noNewPrivileges"] = json!(true);
        },
        "grep -E '^(Cap|NoNewPrivs)' /proc/self/status",
    );
    assert_eq!(code, 0, "{err}");
    // Root keeps its bounding set as permitted and effective across exec.
    for key in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(status_line(&out, key), mask(&[5, 18]), "{key}");
    }
    assert_eq!(status_line(&out, "CapInh"), mask(&[]));
    assert_eq!(status_line(&out, "NoNewPrivs"), "1");
}

fn docker_seccomp() -> Value {
    let caps: Vec<String> = berth_seccomp::DOCKER_DEFAULT_CAPS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let profile = berth_seccomp::default_profile();
    let oci = berth_seccomp::docker_to_oci(&profile, &caps, berth_seccomp::native_arch()).unwrap();
    serde_json::to_value(oci).unwrap()
}

#[test]
fn docker_default_seccomp_profile_lets_busybox_work_and_blocks_unshare_and_mount() {
    require_root!();
    let script = "ls / >/dev/null && echo ls-ok; \
                  unshare -m true 2>&1; echo unshare=$?; \
                  mount -t tmpfs none /tmp 2>&1; echo mount=$?; \
                  grep Seccomp: /proc/self/status";
    let (code, out, err) = sh(
        |c| {
            c["linux"]["seccomp"] = docker_seccomp();
            // Docker's caps include CAP_SYS_ADMIN nowhere; with it the
            // profile would allow these calls, so give the container Docker's set.
            let caps = json!(berth_seccomp::DOCKER_DEFAULT_CAPS);
            c["process"]["capabilities"] =
                json!({"bounding": caps, "effective": caps, "permitted": caps});
        },
        script,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ls-ok"), "{out}");
    assert!(
        out.contains("unshare=1") && out.contains("Operation not permitted"),
        "{out}"
    );
    // busybox mount words EPERM its own way.
    assert!(
        out.contains("mount=1") && out.contains("permission denied"),
        "{out}"
    );
    assert!(out.contains("Seccomp:\t2"), "{out}");
}

/// The program generated for a profile is kept under the state root; the
/// next container with that profile loads it and is filtered the same way,
/// and a damaged entry is regenerated rather than trusted.
#[test]
fn seccomp_program_cache_is_used_and_a_damaged_entry_is_regenerated() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "unshare -m true 2>&1; echo unshare=$?; grep Seccomp: /proc/self/status"
        ]);
        c["linux"]["seccomp"] = docker_seccomp();
        let caps = json!(berth_seccomp::DOCKER_DEFAULT_CAPS);
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
    });
    let cache = b.root.join(".seccomp-cache");
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&cache)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let filtered = |what: &str| {
        let out = b.run(&["run", "cached"]);
        let text = text(&out);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", err_text(&out));
        assert!(
            text.contains("unshare=1") && text.contains("Seccomp:\t2"),
            "{what}: {text}"
        );
    };
    filtered("first run (compiles)");
    let stored = entries();
    assert_eq!(stored.len(), 1, "one program kept: {stored:?}");
    assert!(
        stored[0].extension().is_some_and(|e| e == "bpf"),
        "{stored:?}"
    );
    let program = std::fs::read(&stored[0]).unwrap();
    assert!(!program.is_empty() && program.len() % 8 == 0);
    filtered("second run (cached program)");
    // The stored program is what gets loaded: swap in one of our own (x86_64:
    // unshare fails with ENOSYS, everything else allowed) and the container
    // sees it.
    if cfg!(target_arch = "x86_64") {
        let insn = |code: u16, jt: u8, jf: u8, k: u32| {
            let mut v = code.to_ne_bytes().to_vec();
            v.extend([jt, jf]);
            v.extend(k.to_ne_bytes());
            v
        };
        let own: Vec<u8> = [
            insn(0x20, 0, 0, 0),                // ld [nr]
            insn(0x15, 0, 1, 272),              // jeq unshare
            insn(0x06, 0, 0, 0x0005_0000 | 38), // ret ERRNO(ENOSYS)
            insn(0x06, 0, 0, 0x7fff_0000),      // ret ALLOW
        ]
        .concat();
        std::fs::write(&stored[0], &own).unwrap();
        let out = b.run(&["run", "cached"]);
        let text = text(&out);
        assert!(
            text.contains("unshare=1") && text.contains("not implemented"),
            "the stored program was not the one loaded: {text}"
        );
        std::fs::write(&stored[0], &program).unwrap();
    }
    // A truncated entry must not be loaded: the runtime regenerates it.
    std::fs::write(&stored[0], &program[..program.len() - 3]).unwrap();
    filtered("after damage");
    assert_eq!(
        std::fs::read(&stored[0]).unwrap(),
        program,
        "entry rewritten"
    );
}

#[test]
fn seccomp_errno_ret_and_argument_conditions() {
    require_root!();
    // mkdir gets ENOSYS (38); personality(0xffffffff) is allowed (a query),
    // any other personality value gets EPERM through the default action.
    let (code, out, err) = sh(
        |c| {
            c["root"]["readonly"] = json!(false);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                    {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]},
                    {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]}
                ]
            });
        },
        "mkdir /tmp/x 2>&1; echo mkdir=$?; touch /tmp/f; chmod 644 /tmp/f && echo chmod644=ok; chmod 777 /tmp/f 2>&1; echo chmod777=$?",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Function not implemented") && out.contains("mkdir=1"),
        "{out}"
    );
    assert!(out.contains("chmod644=ok"), "{out}");
    assert!(
        out.contains("chmod777=1") && out.contains("Operation not permitted"),
        "{out}"
    );
}

#[test]
fn user_namespace_maps_ids() {
    require_root!();
    let b = Bundle::new(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    let rootfs = b.dir.join("rootfs");
    let vol = b.tmp.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    for p in [&rootfs, &vol] {
        let st = std::process::Command::new("chown")
            .args(["-R", "200000:200000"])
            .arg(p)
            .status()
            .unwrap();
        assert!(st.success());
    }
    b.set_config(|c| {
        c["process"]["args"] = json!(["sh", "-c", "id -u; id -g; touch /vol/made-inside; sleep 30"]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/vol", "type": "bind", "source": vol.to_str().unwrap(), "options": ["rbind"]
        }));
    });
    let out_path = b.tmp.path().join("out");
    let out = std::fs::File::create(&out_path).unwrap();
    let st = b
        .cmd(&["run", "-d", "userns"])
        .stdout(out)
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !vol.join("made-inside").exists() {
        assert!(Instant::now() < deadline, "container never wrote its file");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "0\n0\n");
    // The host sees the mapped ids, for the process and for the file.
    let pid = b.state("userns")["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.contains("200000"), "{uid_line}");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(vol.join("made-inside")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (200000, 200000));
    assert!(b.run(&["delete", "-f", "userns"]).status.success());
}

fn wait_stopped(b: &Bundle, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.state(id)["status"] != "stopped" {
        assert!(Instant::now() < deadline, "{id} never stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn memory_limit_oom_kills() {
    require_root!();
    let b = Bundle::new(|c| {
        c["linux"]["resources"]["memory"] =
            json!({"limit": 32 * 1024 * 1024, "swap": 32 * 1024 * 1024});
        // A shell variable of 100 MB cannot fit in 32 MB.
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived ${#x}"
        ]);
    });
    let (ok, err) = b.detached(&["run", "-d", "oom"]);
    assert!(ok, "{err}");
    let dir = cgroup_dir(&b, "oom", "memory");
    wait_stopped(&b, "oom");
    let oom = std::fs::read_to_string(dir.join("memory.oom_control"))
        .or_else(|_| std::fs::read_to_string(dir.join("memory.events")))
        .unwrap();
    let kills: u64 = oom
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(kills >= 1, "no OOM kill recorded: {oom}");
    assert!(b.run(&["delete", "oom"]).status.success());
    assert!(!dir.exists(), "cgroup left behind");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    require_root!();
    // The bomb runs in a child shell; init then execs sleep, needing no fork.
    let b = Bundle::new(|c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 10});
        c["process"]["args"] = json!(["sh", "-c",
            "sh -c 'for i in $(seq 30); do sleep 20 & done' 2>/dev/null; echo bomb-done; exec sleep 20"]);
    });
    let out_path = b.tmp.path().join("out");
    let st = b
        .cmd(&["run", "-d", "bomb"])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&out_path)
        .unwrap()
        .contains("bomb-done")
    {
        assert!(Instant::now() < deadline, "the bomb never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = cgroup_dir(&b, "bomb", "pids");
    let current: u32 = std::fs::read_to_string(dir.join("pids.current"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (5..=10).contains(&current),
        "pids.current {current} with a limit of 10"
    );
    let events = std::fs::read_to_string(dir.join("pids.events")).unwrap();
    let refused: u64 = events.trim().strip_prefix("max ").unwrap().parse().unwrap();
    assert!(refused > 0, "no fork was refused: {events}");
    assert!(b.run(&["delete", "-f", "bomb"]).status.success());
    assert!(!dir.exists(), "cgroup left behind");
}

#[test]
fn cpu_quota_throttles() {
    require_root!();
    let b = Bundle::new(|c| {
        c["linux"]["resources"]["cpu"] = json!({"quota": 10000, "period": 100000});
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "end=$(($(date +%s)+2)); while [ $(date +%s) -lt $end ]; do :; done"
        ]);
    });
    let (ok, err) = b.detached(&["run", "-d", "cpu"]);
    assert!(ok, "{err}");
    let dir = cgroup_dir(&b, "cpu", "cpu");
    assert_eq!(
        std::fs::read_to_string(dir.join("cpu.cfs_quota_us"))
            .unwrap()
            .trim(),
        "10000"
    );
    wait_stopped(&b, "cpu");
    let stat = std::fs::read_to_string(dir.join("cpu.stat")).unwrap();
    let throttled: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(throttled > 0, "{stat}");
    assert!(b.run(&["delete", "cpu"]).status.success());
}

#[test]
fn denied_device_cannot_be_opened() {
    require_root!();
    let (code, out, err) = sh(
        |c| {
            c["linux"]["devices"] = json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420}]);
            c["linux"]["resources"]["devices"] = json!([
                {"allow": false, "access": "rwm"},
                {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"}
            ]);
        },
        "ls -l /dev/kmsg >/dev/null && echo node-present; head -c 1 /dev/kmsg 2>&1; echo kmsg=$?; head -c 1 /dev/zero | wc -c",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("node-present"), "{out}");
    assert!(
        out.contains("kmsg=1") && out.contains("Operation not permitted"),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with('1'),
        "/dev/zero must stay usable: {out}"
    );
}

/// The CVE-2019-5736 class: a process in the container must not reach the
/// runtime's binary through /proc/<pid>/exe of a runtime process that is in
/// its pid namespace. Here the parked init of a second container joins the
/// first one's pid namespace; the first one's root tries to read and write
/// its exe.
#[test]
fn runtime_binary_is_unreachable_from_a_shared_pid_namespace() {
    require_root!();
    let before = std::fs::read(common::BIN).unwrap();
    let shared_dir = tempfile::tempdir().unwrap();
    let shared = shared_dir.path().to_str().unwrap().to_string();
    let caps = json!(berth_seccomp::DOCKER_DEFAULT_CAPS);
    let a = Bundle::new(|c| {
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
        c["process"]["args"] = json!([
            "sh",
            "-c",
            r#"
            while [ ! -e /shared/go ]; do sleep 0.05; done
            for p in /proc/[0-9]*; do
                n=${p#/proc/}
                [ "$n" = 1 ] && continue
                if cat $p/exe >/dev/null 2>&1; then echo "read-ok $n"; else echo "read-denied $n"; fi
                if (echo x >> $p/exe) 2>/dev/null; then echo "write-ok $n"; else echo "write-denied $n"; fi
            done > /shared/report.tmp
            mv /shared/report.tmp /shared/report
            exec sleep 30"#
        ]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": shared, "options": ["rbind"]
        }));
    });
    let (ok, err) = a.detached(&["run", "-d", "victim-a"]);
    assert!(ok, "{err}");
    let a_pid = a.state("victim-a")["pid"].as_i64().unwrap();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["true"]);
        c["linux"]["namespaces"] = json!([
            {"type": "pid", "path": format!("/proc/{a_pid}/ns/pid")},
            {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}
        ]);
    });
    let (ok, err) = b.detached(&["create", "parked-b"]);
    assert!(ok, "{err}");
    let b_host_pid = b.state("parked-b")["pid"].as_i64().unwrap();
    // B's parked init, as numbered in A's pid namespace.
    let nspid = std::fs::read_to_string(format!("/proc/{b_host_pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("NSpid:")
                .map(|v| v.split_whitespace().last().unwrap().to_string())
        })
        .unwrap();
    std::fs::write(shared_dir.path().join("go"), "").unwrap();
    let report_path = shared_dir.path().join("report");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !report_path.exists() {
        assert!(Instant::now() < deadline, "no report from the container");
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = std::fs::read_to_string(&report_path).unwrap();
    assert!(
        report.contains(&format!("read-denied {nspid}")),
        "parked init's exe was readable:\n{report}"
    );
    assert!(
        report.contains(&format!("write-denied {nspid}")),
        "{report}"
    );
    assert!(!report.contains("write-ok"), "{report}");
    assert_eq!(
        std::fs::read(common::BIN).unwrap(),
        before,
        "runtime binary changed"
    );
    let _ = b.run(&["delete", "-f", "parked-b"]);
    let _ = a.run(&["delete", "-f", "victim-a"]);
}

/// An exec'd process leads a session and process group of its own, terminal
/// or not, as with runc: left in its caller's group (the engine's shim),
/// `kill(0, SIGKILL)` from inside the container would reach that host process.
#[test]
fn exec_process_leads_its_own_session() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "sess"]);
    assert!(ok, "{err}");
    let out = b.run(&["exec", "sess", "cat", "/proc/self/stat"]);
    assert!(out.status.success(), "{}", err_text(&out));
    // pid (comm) state ppid pgrp session ...; comm "cat" has no spaces.
    let stat = text(&out);
    let f: Vec<&str> = stat.split_whitespace().collect();
    assert_eq!((f[4], f[5]), (f[0], f[0]), "pid, pgrp, session: {stat}");
    let out = b.run(&["delete", "-f", "sess"]);
    assert!(out.status.success(), "{}", err_text(&out));
}

/// Init joins a session keyring named `_ses.<id>` that its root may search,
/// and every exec joins that same keyring, as with runc.
#[test]
fn exec_joins_the_session_keyring_of_init() {
    require_root!();
    if !std::path::Path::new("/proc/keys").exists() {
        eprintln!("skipped: kernel without keyrings (/proc/keys missing)");
        return;
    }
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "60"]);
        c["linux"]["maskedPaths"] = json!([]);
    });
    let (ok, err) = b.detached(&["run", "-d", "keyring-ses"]);
    assert!(ok, "{err}");
    let ring = || {
        let out = b.run(&["exec", "keyring-ses", "cat", "/proc/keys"]);
        assert!(out.status.success(), "{}", err_text(&out));
        let keys = text(&out);
        let rings: Vec<String> = keys
            .lines()
            .filter(|l| l.contains(" _ses.keyring-ses: "))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect();
        assert_eq!(rings.len(), 1, "{keys}");
        rings[0].clone()
    };
    assert_eq!(ring(), ring(), "two execs, two session keyrings");
    let out = b.run(&["delete", "-f", "keyring-ses"]);
    assert!(out.status.success(), "{}", err_text(&out));
}

/// Stdio on the host's /dev/null (engines pass it for a stdin they do not
/// attach) is the container's /dev/null inside, for init as with runc and for
/// exec: through /proc/self/fd/0 the container's root could chmod the host's.
#[test]
fn stdio_on_the_hosts_dev_null_becomes_the_containers() {
    use std::os::unix::fs::MetadataExt;
    require_root!();
    let node = |p: String| {
        let m = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
        (m.dev(), m.ino())
    };
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    // `detached` gives the runtime the host's /dev/null as stdin and stdout.
    let (ok, err) = b.detached(&["run", "-d", "devnull"]);
    assert!(ok, "{err}");
    let pid = b.state("devnull")["pid"].as_i64().unwrap();
    // Init reopens after `Start`, on its way to the exec: wait for the exec.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n" {
        assert!(Instant::now() < deadline, "init never exec'd sleep");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ours = node(format!("/proc/{pid}/root/dev/null"));
    assert_ne!(
        ours,
        node("/dev/null".into()),
        "the config makes its own /dev"
    );
    assert_eq!(node(format!("/proc/{pid}/fd/0")), ours, "init's stdin");
    assert_eq!(node(format!("/proc/{pid}/fd/1")), ours, "init's stdout");
    let out = b
        .cmd(&[
            "exec",
            "devnull",
            "sh",
            "-c",
            "stat -L -c '%d %i' /proc/self/fd/0 /dev/null",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", err_text(&out));
    let lines: Vec<String> = text(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], lines[1], "exec's stdin: {lines:?}");
    let out = b.run(&["delete", "-f", "devnull"]);
    assert!(out.status.success(), "{}", err_text(&out));
}

/// linux.seccomp.listenerPath: SCMP_ACT_NOTIFY rules hand the listener and
/// the container's state to an agent, which then decides the syscall.
#[test]
fn seccomp_notify_reaches_the_agent_at_listener_path() {
    require_root!();
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    use std::os::fd::AsRawFd;
    let b = Bundle::new(|_| {});
    let socket = b.tmp.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    b.set_config(|c| {
        c["process"]["args"] = json!(["sh", "-c", "mkdir /tmp/agent-decides 2>&1; echo mkdir=$?"]);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket.to_str().unwrap(),
            "listenerMetadata": "berth-test-agent",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let agent = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let (state, fd) = berth_seccomp::receive_listener_fd(&mut conn).unwrap();
        let req = ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
        let name = req.data.syscall.get_name().unwrap_or_default();
        ScmpNotifResp::new_error(req.id, -libc::EACCES, ScmpNotifRespFlags::empty())
            .respond(fd.as_raw_fd())
            .unwrap();
        (
            state.state().id().to_string(),
            state.metadata().clone(),
            name,
        )
    });
    let out = b.run(&["run", "notified"]);
    assert!(out.status.success(), "{}", common::err_text(&out));
    assert!(
        common::text(&out).contains("Permission denied") && common::text(&out).contains("mkdir=1"),
        "{}",
        common::text(&out)
    );
    let (id, metadata, syscall) = agent.join().unwrap();
    assert_eq!(id, "notified");
    assert_eq!(metadata.as_deref(), Some("berth-test-agent"));
    assert!(syscall.starts_with("mkdir"), "{syscall}");
}

/// An idmapped bind mount (`idmap` option) in a user-namespaced container:
/// files owned by host root show as owned by the container's root, and what
/// the container writes lands as host root. Without idmapping the same
/// volume shows as nobody and cannot be written.
#[test]
fn idmapped_volume_in_a_user_namespace() {
    require_root!();
    let vol_dir = tempfile::tempdir().unwrap();
    let vol = vol_dir.path().to_path_buf();
    std::fs::write(vol.join("hostfile"), "hi").unwrap();
    let run = |options: serde_json::Value| {
        let b = Bundle::new(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
            c["process"]["args"] = json!(["sh", "-c",
                "stat -c 'owner=%u:%g' /vol/hostfile; touch /vol/made-inside 2>/dev/null && echo write=ok || echo write=denied"]);
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/vol", "type": "bind", "source": vol.to_str().unwrap(), "options": options
            }));
        });
        let st = std::process::Command::new("chown")
            .args(["-R", "300000:300000"])
            .arg(b.dir.join("rootfs"))
            .status()
            .unwrap();
        assert!(st.success());
        let out = b.run(&["run", "idmapped"]);
        assert!(out.status.success(), "{}", common::err_text(&out));
        common::text(&out)
    };
    let plain = run(json!(["rbind"]));
    assert!(
        plain.contains("owner=65534:65534") && plain.contains("write=denied"),
        "{plain}"
    );
    let mapped = run(json!(["rbind", "idmap"]));
    assert!(
        mapped.contains("owner=0:0") && mapped.contains("write=ok"),
        "{mapped}"
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(vol.join("made-inside")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (0, 0),
        "written through the idmapped mount as host root"
    );
}
