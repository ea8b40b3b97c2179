//! Process and namespace settings of the spec, each observed from inside:
//! rlimits, oomScoreAdj, sysctls (and the refusal of host-wide ones),
//! domainname, personality, I/O priority, scheduler, time namespace offsets,
//! LSM profiles on a host without that LSM, and leaked-fd working directories.

mod common;

use common::{err_text, sh, Bundle};
use serde_json::json;

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn rlimits_oom_score_domainname_sysctl() {
    require_root!();
    let script = "echo nofile=$(ulimit -n); echo nofile_hard=$(ulimit -Hn); \
                  echo oom=$(cat /proc/self/oom_score_adj); \
                  echo domain=$(cat /proc/sys/kernel/domainname); \
                  echo shmmni=$(cat /proc/sys/kernel/shmmni); \
                  echo fwd=$(cat /proc/sys/net/ipv4/ip_forward)";
    let (code, out, err) = sh(
        |c| {
            c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768}]);
            c["process"]["oomScoreAdj"] = json!(345);
            c["domainname"] = json!("berth.example");
            c["linux"]["sysctl"] = json!({"kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"});
        },
        script,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(value(&out, "nofile"), "512");
    assert_eq!(value(&out, "nofile_hard"), "768");
    assert_eq!(value(&out, "oom"), "345");
    assert_eq!(value(&out, "domain"), "berth.example");
    assert_eq!(value(&out, "shmmni"), "1234");
    assert_eq!(value(&out, "fwd"), "1");
    // The host is untouched.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/domainname")
            .unwrap()
            .trim(),
        "berth.example"
    );

    let (code, _, err) = sh(
        |c| c["linux"]["sysctl"] = json!({"vm.swappiness": "1"}),
        "true",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("vm.swappiness") && err.contains("not namespaced"),
        "{err}"
    );

    // Raising a hard limit above the caller's is refused by the kernel; the
    // error names the rlimit.
    let (code, _, err) = sh(
        |c| {
            c["process"]["rlimits"] =
                json!([{"type": "RLIMIT_NOFILE", "soft": 99999999, "hard": 99999999}])
        },
        "true",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("process.rlimits[0]") && err.contains("RLIMIT_NOFILE"),
        "{err}"
    );
}

#[test]
fn personality_io_priority_and_scheduler() {
    require_root!();
    let (code, out, err) = sh(
        |c| {
            c["linux"]["personality"] = json!({"domain": "LINUX32"});
            c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
            c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
        },
        "echo arch=$(uname -m); echo ionice=$(ionice -p $$); \
         echo policy=$(grep '^policy' /proc/self/sched | tr -d ' '); echo nice=$(cut -d' ' -f19 /proc/self/stat)",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(value(&out, "arch"), "i686");
    assert!(value(&out, "ionice").starts_with("idle"), "{out}");
    assert_eq!(value(&out, "policy"), "policy:3");
    assert_eq!(value(&out, "nice"), "7");
}

#[test]
fn exec_cpu_affinity_and_unsupported_sections() {
    require_root!();
    let (code, out, err) = sh(
        |c| c["process"]["execCPUAffinity"] = json!({"final": "0"}),
        "grep Cpus_allowed_list /proc/self/status",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Cpus_allowed_list:\t0"), "{out}");
    // Sections not implemented are refused by name, never silently skipped.
    let (code, _, err) = sh(|c| c["linux"]["intelRdt"] = json!({"closID": "x"}), "true");
    assert_eq!(code, 1);
    assert!(err.contains("linux.intelRdt"), "{err}");
}

#[test]
fn time_namespace_offsets_apply() {
    require_root!();
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        eprintln!("skipped: this kernel has no time namespaces");
        return;
    }
    let (code, out, err) = sh(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time"}));
            c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 400, "nanosecs": 0}});
        },
        "cut -d. -f1 /proc/uptime",
    );
    assert_eq!(code, 0, "{err}");
    let inside: u64 = out.trim().parse().unwrap();
    let host: u64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        inside >= host + 86400 * 400 - 5,
        "uptime inside {inside}, host {host}"
    );
}

#[test]
fn lsm_profile_without_the_lsm_is_a_clear_error() {
    require_root!();
    if std::path::Path::new("/sys/kernel/security/apparmor").exists() {
        eprintln!(
            "skipped: AppArmor is active here; this test checks the error on hosts without it"
        );
    } else {
        let (code, _, err) = sh(
            |c| c["process"]["apparmorProfile"] = json!("docker-default"),
            "true",
        );
        assert_eq!(code, 1);
        assert!(err.contains("AppArmor is not enabled"), "{err}");
    }
    if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        eprintln!(
            "skipped: SELinux is active here; this test checks the error on hosts without it"
        );
    } else {
        let (code, _, err) = sh(
            |c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0"),
            "true",
        );
        assert_eq!(code, 1);
        assert!(err.contains("SELinux is not enabled"), "{err}");
    }
}

/// The CVE-2024-21626 class: a working directory given as a /proc/self/fd
/// path must never land on a host directory, whether the descriptor is the
/// runtime's own or one the caller passed with --preserve-fds.
#[test]
fn working_directory_cannot_be_a_host_descriptor() {
    require_root!();
    for fd in 3..8 {
        let (code, out, err) = sh(
            |c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{fd}")),
            "pwd; ls",
        );
        assert!(
            code != 0 || !out.contains("bundle"),
            "fd {fd}: cwd escaped: {out} {err}"
        );
    }
    // A host directory deliberately passed in as fd 3.
    let b = Bundle::new(|c| {
        c["process"]["cwd"] = json!("/proc/self/fd/3");
        c["process"]["args"] = json!(["sh", "-c", "pwd; ls"]);
    });
    let cmd = format!(
        "exec 3</etc; exec {} --root {} run --preserve-fds 1 leak",
        common::BIN,
        b.root.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &cmd])
        .current_dir(&b.dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "ran with a host cwd: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err_text(&out).contains("outside the container's root"),
        "{}",
        err_text(&out)
    );
}
