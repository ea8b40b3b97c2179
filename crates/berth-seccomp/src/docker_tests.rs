//! Unit tests for the Docker profile conversion.

use std::collections::BTreeSet;

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use super::*;

const K6_1: KernelVersion = KernelVersion { major: 6, minor: 1 };

fn default_caps() -> Vec<String> {
    DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
}

fn caps_with(extra: &str) -> Vec<String> {
    let mut caps = default_caps();
    caps.push(extra.to_owned());
    caps
}

fn convert(caps: &[String], arch: &str) -> LinuxSeccomp {
    docker_to_oci_for_kernel(&default_profile(), caps, arch, K6_1).unwrap()
}

/// Names allowed unconditionally (action allow, no argument conditions).
fn allowed(seccomp: &LinuxSeccomp) -> BTreeSet<String> {
    seccomp
        .syscalls()
        .iter()
        .flatten()
        .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
        .flat_map(|s| s.names().clone())
        .collect()
}

fn entries_for<'a>(
    seccomp: &'a LinuxSeccomp,
    name: &'a str,
) -> impl Iterator<Item = &'a oci_spec::runtime::LinuxSyscall> + 'a {
    seccomp
        .syscalls()
        .iter()
        .flatten()
        .filter(move |s| s.names().iter().any(|n| n == name))
}

#[test]
fn embedded_default_profile_parses() {
    let profile = default_profile();
    assert_eq!(profile.default_action, "SCMP_ACT_ERRNO");
    assert!(profile.syscalls.len() > 20);
    assert!(!profile.arch_map.is_empty());
    assert!(!profile.is_unconfined());
}

#[test]
fn embedded_profile_matches_the_reference_copy_when_present() {
    // Only a development check; the product never reads this path.
    let reference = std::path::Path::new("/work/shared/reference/seccomp-default.json");
    if let Ok(text) = std::fs::read_to_string(reference) {
        assert_eq!(DockerProfile::from_json(&text).unwrap(), default_profile());
    }
}

#[test]
fn profile_round_trips_through_json() {
    let profile = default_profile();
    let text = serde_json::to_string(&profile).unwrap();
    assert_eq!(DockerProfile::from_json(&text).unwrap(), profile);
}

#[test]
fn default_caps_do_not_allow_namespace_or_mount_syscalls() {
    let seccomp = convert(&default_caps(), "amd64");
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    let allowed = allowed(&seccomp);
    for name in [
        "read", "write", "openat", "execve", "getpid", "chroot", "ptrace",
    ] {
        assert!(allowed.contains(name), "{name} should be allowed");
    }
    for name in [
        "unshare",
        "mount",
        "umount2",
        "setns",
        "bpf",
        "clone3",
        "reboot",
        "pivot_root",
        "init_module",
    ] {
        assert!(!allowed.contains(name), "{name} should not be allowed");
    }
    // clone only without namespace flags.
    let clone: Vec<_> = entries_for(&seccomp, "clone").collect();
    assert_eq!(clone.len(), 1);
    let arg = clone[0].args().as_ref().unwrap()[0];
    assert_eq!(
        (arg.index(), arg.value(), arg.op()),
        (0, 2114060288, LinuxSeccompOperator::ScmpCmpMaskedEq)
    );
    // clone3 gets ENOSYS so that libcs fall back to clone.
    let clone3: Vec<_> = entries_for(&seccomp, "clone3").collect();
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(clone3[0].errno_ret(), Some(38));
}

#[test]
fn cap_sys_admin_allows_namespace_and_mount_syscalls() {
    let seccomp = convert(&caps_with("CAP_SYS_ADMIN"), "amd64");
    let allowed = allowed(&seccomp);
    for name in [
        "unshare", "mount", "umount2", "setns", "clone", "clone3", "bpf",
    ] {
        assert!(allowed.contains(name), "{name} should be allowed");
    }
    // The restricted clone and the clone3 ENOSYS entries are excluded.
    assert!(entries_for(&seccomp, "clone").all(|s| s.args().is_none()));
    assert!(entries_for(&seccomp, "clone3").all(|s| s.errno_ret().is_none()));
}

#[test]
fn capabilities_match_without_prefix_and_case() {
    let caps = vec!["sys_admin".to_owned()];
    assert!(allowed(&convert(&caps, "amd64")).contains("mount"));
    let caps = vec!["CAP_SYS_PTRACE".to_owned()];
    assert!(allowed(&convert(&caps, "amd64")).contains("process_vm_readv"));
    assert!(!allowed(&convert(&[], "amd64")).contains("process_vm_readv"));
}

#[test]
fn personality_is_allowed_only_for_listed_values() {
    let seccomp = convert(&default_caps(), "amd64");
    let values: BTreeSet<u64> = entries_for(&seccomp, "personality")
        .map(|s| {
            let args = s.args().as_ref().expect("personality has conditions");
            assert_eq!(args.len(), 1);
            assert_eq!(args[0].index(), 0);
            assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpEq);
            args[0].value()
        })
        .collect();
    assert_eq!(
        values,
        BTreeSet::from([0, 8, 0x20000, 0x20008, 0xffff_ffff])
    );
}

#[test]
fn arch_map_resolves_the_host_architecture() {
    let arches = |arch: &str| convert(&default_caps(), arch).architectures().clone();
    assert_eq!(
        arches("amd64"),
        Some(vec![
            Arch::ScmpArchX86_64,
            Arch::ScmpArchX86,
            Arch::ScmpArchX32
        ])
    );
    assert_eq!(
        arches("arm64"),
        Some(vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm])
    );
    assert_eq!(
        arches("s390x"),
        Some(vec![Arch::ScmpArchS390x, Arch::ScmpArchS390])
    );
    assert_eq!(arches("sparc64"), None);
}

#[test]
fn arch_conditions_use_docker_arch_names() {
    let amd64 = allowed(&convert(&default_caps(), "amd64"));
    let arm64 = allowed(&convert(&default_caps(), "arm64"));
    assert!(amd64.contains("arch_prctl") && amd64.contains("modify_ldt"));
    assert!(!arm64.contains("arch_prctl"));
    assert!(arm64.contains("arm_fadvise64_64") && !amd64.contains("arm_fadvise64_64"));
    // s390 has clone's flags in the second argument.
    let s390x = convert(&default_caps(), "s390x");
    let clone: Vec<_> = entries_for(&s390x, "clone").collect();
    assert_eq!(clone.len(), 1);
    assert_eq!(clone[0].args().as_ref().unwrap()[0].index(), 1);
}

#[test]
fn min_kernel_is_compared_by_major_and_minor() {
    let profile = default_profile();
    let old = KernelVersion { major: 4, minor: 4 };
    let at = KernelVersion { major: 4, minor: 8 };
    let ptrace = |k| {
        allowed(&docker_to_oci_for_kernel(&profile, &default_caps(), "amd64", k).unwrap())
            .contains("ptrace")
    };
    assert!(!ptrace(old));
    assert!(ptrace(at));
    assert!(ptrace(K6_1));
    // The running kernel here is well past 4.8.
    let current = docker_to_oci(&profile, &default_caps(), native_arch()).unwrap();
    assert!(allowed(&current).contains("ptrace"));
}

#[test]
fn kernel_versions_parse_like_docker() {
    let v = |s| KernelVersion::parse(s).unwrap();
    assert_eq!(v("4.8"), KernelVersion { major: 4, minor: 8 });
    assert_eq!(v("6.1.0-18-amd64"), KernelVersion { major: 6, minor: 1 });
    assert_eq!(
        v("3.12-1-amd64"),
        KernelVersion {
            major: 3,
            minor: 12
        }
    );
    assert!(KernelVersion::parse("six").is_err());
    assert!(KernelVersion::parse("6").is_err());
    assert!(KernelVersion::current().unwrap() >= v("3.0"));
}

#[test]
fn converted_default_profile_compiles_for_this_host() {
    for caps in [default_caps(), caps_with("CAP_SYS_ADMIN")] {
        let seccomp = docker_to_oci(&default_profile(), &caps, native_arch()).unwrap();
        let filter = crate::compile(&seccomp).unwrap();
        assert!(!filter.uses_notify());
    }
}

#[test]
fn fields_pass_through() {
    let profile = DockerProfile::from_json(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/agent.sock", "listenerMetadata": "m",
            "syscalls": [{"name": "getpid", "action": "SCMP_ACT_ALLOW"},
                         {"names": ["fchmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
                          "args": [{"index": 1, "value": 384, "valueTwo": 7, "op": "SCMP_CMP_NE"}]}]}"#,
    )
    .unwrap();
    let s = docker_to_oci_for_kernel(&profile, &[], "amd64", K6_1).unwrap();
    assert_eq!(s.default_errno_ret(), Some(1));
    assert_eq!(s.architectures(), &Some(vec![Arch::ScmpArchX86_64]));
    assert_eq!(s.flags().as_ref().map(Vec::len), Some(1));
    assert_eq!(
        s.listener_path().as_deref(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
    assert_eq!(s.listener_metadata().as_deref(), Some("m"));
    let calls = s.syscalls().as_ref().unwrap();
    assert_eq!(calls[0].names(), &["getpid"]);
    assert_eq!(calls[1].errno_ret(), Some(77));
    let arg = calls[1].args().as_ref().unwrap()[0];
    assert_eq!(arg.value_two(), Some(7));
    assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpNe);
}

#[test]
fn invalid_profiles_are_errors_naming_the_value() {
    let err = |json: &str| {
        let profile = DockerProfile::from_json(json).unwrap();
        docker_to_oci_for_kernel(&profile, &[], "amd64", K6_1)
            .unwrap_err()
            .to_string()
    };
    let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_PERHAPS"}]}"#);
    assert_eq!(e, "unknown seccomp action \"SCMP_ACT_PERHAPS\"");
    let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ROUGHLY"}]}]}"#);
    assert!(e.contains("SCMP_CMP_ROUGHLY"), "{e}");
    let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}"#);
    assert!(e.contains("SCMP_ARCH_Z80"), "{e}");
    let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}"#);
    assert!(e.contains("SECCOMP_FILTER_FLAG_FAST"), "{e}");
    let e = err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}]}"#,
    );
    assert!(e.contains("architectures and archMap"), "{e}");
    let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}"#);
    assert!(e.contains("\"read\""), "{e}");
    let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}]}"#);
    assert!(e.contains("\"new\""), "{e}");
    let e = err(r#"{"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#);
    assert_eq!(e, "seccomp profile has no defaultAction");
    // Entries that do not apply to this host are not parsed further.
    let profile = DockerProfile::from_json(
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["x"], "action": "SCMP_ACT_FUTURE", "includes": {"arches": ["vax"]}}]}"#,
    )
    .unwrap();
    assert!(docker_to_oci_for_kernel(&profile, &[], "amd64", K6_1).is_ok());
    assert!(DockerProfile::from_json("{}").unwrap().is_unconfined());
    assert!(DockerProfile::from_json("[1]").is_err());
}
