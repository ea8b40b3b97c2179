//! The Docker-format profile made from a recording: Docker's default cut
//! down to what the workload used, so it can never be wider.

use std::collections::BTreeSet;

use crate::docker::{default_profile, DockerArg, DockerProfile, DockerSyscall};
use crate::learn::Observed;

const ALLOW: &str = "SCMP_ACT_ALLOW";

/// Docker's default profile, keeping of its ALLOW entries only the
/// syscalls `seen` used (and of its `personality` entries only the values
/// used); `socket` is allowed only for the address families used. Entries
/// that deny (e.g. `clone3` answered ENOSYS) are kept as they are. Syscalls
/// no entry allows get EPERM.
pub fn learned_profile(seen: &Observed) -> DockerProfile {
    let base = default_profile();
    let mut out = DockerProfile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(1),
        arch_map: base.arch_map.clone(),
        ..DockerProfile::default()
    };
    for e in &base.syscalls {
        let mut names: Vec<String> = e.names.clone();
        if !e.name.is_empty() {
            names.push(e.name.clone());
        }
        if e.action != ALLOW {
            out.syscalls.push(e.clone());
            continue;
        }
        names.retain(|n| {
            (seen.syscalls.contains(n)
                || seen.runtime_syscalls.contains(n)
                || crate::learn::RUNTIME_SYSCALLS.contains(&n.as_str()))
                && n != "socket"
        });
        if names.iter().any(|n| n == "personality") {
            let values_seen = e.args.iter().all(|a| {
                a.index != 0 || a.op != "SCMP_CMP_EQ" || seen.personalities.contains(&a.value)
            });
            if !values_seen {
                names.retain(|n| n != "personality");
            }
        }
        if names.is_empty() {
            continue;
        }
        let mut kept = e.clone();
        kept.name = String::new();
        kept.names = names;
        out.syscalls.push(kept);
    }
    if seen.syscalls.contains("socket") {
        for family in &seen.socket_families {
            out.syscalls.push(DockerSyscall {
                names: vec!["socket".into()],
                action: ALLOW.into(),
                args: vec![DockerArg {
                    index: 0,
                    value: *family,
                    value_two: None,
                    op: "SCMP_CMP_EQ".into(),
                }],
                comment: "address family seen while learning".into(),
                ..DockerSyscall::default()
            });
        }
    }
    out
}

/// The syscalls a profile allows (in some case) for a container with
/// `caps` on this host: the names of its resolved ALLOW rules.
pub fn syscall_count(profile: &DockerProfile, caps: &[String]) -> crate::Result<usize> {
    Ok(allowed_syscalls(profile, caps)?.len())
}

/// The names [`syscall_count`] counts.
pub fn allowed_syscalls(
    profile: &DockerProfile,
    caps: &[String],
) -> crate::Result<BTreeSet<String>> {
    let sc = crate::docker_to_oci(profile, caps, crate::native_arch())?;
    let names: BTreeSet<String> = sc
        .syscalls()
        .iter()
        .flatten()
        .filter(|r| r.action() == oci_spec::runtime::LinuxSeccompAction::ScmpActAllow)
        .flat_map(|r| r.names().iter().cloned())
        .collect();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Vec<String> {
        crate::DOCKER_DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn a_learned_profile_keeps_only_what_was_seen() {
        let mut seen = Observed::default();
        for s in [
            "read",
            "write",
            "exit_group",
            "socket",
            "personality",
            "mount",
        ] {
            seen.syscalls.insert(s.into());
        }
        seen.socket_families.insert(1);
        seen.personalities.insert(0);
        let p = learned_profile(&seen);
        // mount needs CAP_SYS_ADMIN in Docker's default: not for these caps.
        let allowed = allowed_syscalls(&p, &caps()).unwrap();
        assert!(allowed.contains("socket") && allowed.contains("personality"));
        assert!(!allowed.contains("mount") && !allowed.contains("unshare"));
        assert!(allowed.len() < 100, "{allowed:?}");
        let sc = crate::docker_to_oci(&p, &caps(), crate::native_arch()).unwrap();
        let socket_rules: Vec<_> = sc
            .syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == "socket"))
            .collect();
        assert_eq!(socket_rules.len(), 1);
        assert_eq!(socket_rules[0].args().as_ref().unwrap()[0].value(), 1);
        let docker = syscall_count(&default_profile(), &caps()).unwrap();
        assert!(docker > 300, "{docker}");
    }
}
