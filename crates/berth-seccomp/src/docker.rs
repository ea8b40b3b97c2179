//! Docker seccomp profiles and their conversion to the runtime-spec form.
//!
//! Docker's profile format extends the spec's `linux.seccomp` with an
//! `archMap` (native architecture to the sub-architectures it can run) and,
//! per syscall entry, `includes`/`excludes` conditions on the container's
//! capabilities, the host architecture and the running kernel version. The
//! daemon resolves these when it writes `config.json`, and
//! [`docker_to_oci`] does the same:
//!
//! - `architectures` comes from the `archMap` entry of the host architecture
//!   (that architecture followed by its sub-architectures); a profile may set
//!   `architectures` directly instead, but not both.
//! - An entry is dropped when `excludes.arches` names the host architecture,
//!   when any of `excludes.caps` is in the capability set, or when the
//!   kernel is at least `excludes.minKernel`.
//! - An entry is kept only if `includes.arches` (when set) names the host
//!   architecture, all of `includes.caps` are in the capability set, and the
//!   kernel is at least `includes.minKernel` (when set).
//! - Kernel versions compare by `MAJOR.MINOR` only.
//! - Architecture conditions use Docker's names (`amd64`, `arm64`, `x32`,
//!   ...), see [`native_arch`].
//!
//! Berth carries its own copy of Docker's default profile
//! (`profiles/default.json`, from the Moby project, Apache-2.0), available as
//! [`default_profile`].

use std::path::PathBuf;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompArgBuilder, LinuxSyscall};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};
use crate::names::{parse_action, parse_arch, parse_flag, parse_operator};

const DEFAULT_PROFILE_JSON: &str = include_str!("../profiles/default.json");

/// The capabilities Docker grants a container by default (the bounding set
/// `docker_to_oci` is usually called with).
pub const DOCKER_DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A seccomp profile in Docker's JSON format.
///
/// Action, architecture, operator and flag names are kept as strings so that
/// [`docker_to_oci`] can report an unknown one by name, and only for entries
/// that apply to this host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerProfile {
    /// `SCMP_ACT_*` for syscalls no entry matches.
    #[serde(default)]
    pub default_action: String,
    /// errno for the default action when it is `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// Explicit `SCMP_ARCH_*` list; exclusive with `arch_map`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub architectures: Vec<String>,
    /// Native architecture to sub-architectures.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arch_map: Vec<ArchMapEntry>,
    /// `SECCOMP_FILTER_FLAG_*` names.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub flags: Vec<String>,
    /// Seccomp agent socket for `SCMP_ACT_NOTIFY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<PathBuf>,
    /// Opaque data for the seccomp agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    /// The syscall entries, in order.
    #[serde(default, deserialize_with = "null_default")]
    pub syscalls: Vec<DockerSyscall>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchMapEntry {
    /// The native `SCMP_ARCH_*` name.
    pub architecture: String,
    /// `SCMP_ARCH_*` names of architectures the native one also runs.
    #[serde(
        rename = "subArchitectures",
        default,
        deserialize_with = "null_default"
    )]
    pub sub_architectures: Vec<String>,
}

/// One syscall entry of a Docker profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerSyscall {
    /// Old single-name form; exclusive with `names`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Syscall names.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub names: Vec<String>,
    /// `SCMP_ACT_*` name.
    pub action: String,
    /// errno for `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions, AND-ed.
    #[serde(default, deserialize_with = "null_default")]
    pub args: Vec<DockerArg>,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// Conditions that must all hold for the entry to apply.
    #[serde(default, deserialize_with = "null_default")]
    pub includes: DockerFilter,
    /// Conditions any of which drops the entry.
    #[serde(default, deserialize_with = "null_default")]
    pub excludes: DockerFilter,
}

/// `includes`/`excludes` of a syscall entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerFilter {
    /// Capability names (`CAP_*`).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub caps: Vec<String>,
    /// Docker architecture names (`amd64`, `arm64`, ...).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arches: Vec<String>,
    /// Kernel version `MAJOR.MINOR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// One argument condition of a syscall entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerArg {
    /// Argument index, 0 to 5.
    pub index: usize,
    /// Value compared against (the mask for `SCMP_CMP_MASKED_EQ`).
    pub value: u64,
    /// Second value (the masked value for `SCMP_CMP_MASKED_EQ`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_two: Option<u64>,
    /// `SCMP_CMP_*` name.
    pub op: String,
}

fn null_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl DockerProfile {
    /// Parses a profile from Docker's JSON format.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(Error::Profile)
    }

    /// Docker treats a profile with neither `defaultAction` nor syscalls
    /// (e.g. `{}`) as "no seccomp at all".
    pub fn is_unconfined(&self) -> bool {
        self.default_action.is_empty() && self.syscalls.is_empty()
    }
}

/// Docker's default seccomp profile, as embedded in this crate.
pub fn default_profile() -> DockerProfile {
    // The embedded file is checked by the tests, so this cannot fail.
    DockerProfile::from_json(DEFAULT_PROFILE_JSON).expect("embedded default seccomp profile")
}

/// Docker's name for the architecture this program was built for (the name
/// `includes.arches`/`excludes.arches` use), e.g. `"amd64"` on x86-64.
pub fn native_arch() -> &'static str {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc" => "ppc",
        "powerpc64" if little => "ppc64le",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        "mips" if little => "mipsel",
        "mips" => "mips",
        "mips64" if little => "mipsel64",
        "mips64" => "mips64",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The `SCMP_ARCH_*` name `archMap` uses for a Docker architecture name.
fn seccomp_arch_name(docker_arch: &str) -> Option<&'static str> {
    Some(match docker_arch {
        "x86" => "SCMP_ARCH_X86",
        "amd64" => "SCMP_ARCH_X86_64",
        "x32" => "SCMP_ARCH_X32",
        "arm" => "SCMP_ARCH_ARM",
        "arm64" => "SCMP_ARCH_AARCH64",
        "mips" => "SCMP_ARCH_MIPS",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mips64n32" => "SCMP_ARCH_MIPS64N32",
        "mipsel" => "SCMP_ARCH_MIPSEL",
        "mipsel64" => "SCMP_ARCH_MIPSEL64",
        // Docker spells this one with a "3" in its profile and code.
        "mips3l64n32" | "mipsel64n32" => "SCMP_ARCH_MIPSEL64N32",
        "ppc" => "SCMP_ARCH_PPC",
        "ppc64" => "SCMP_ARCH_PPC64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390" => "SCMP_ARCH_S390",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        _ => return None,
    })
}

/// A kernel version as Docker compares it: `MAJOR.MINOR`, patch ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    /// E.g. 6 in 6.1.0.
    pub major: u32,
    /// E.g. 1 in 6.1.0.
    pub minor: u32,
}

impl KernelVersion {
    /// Parses the leading `MAJOR.MINOR` of `s`; anything after is ignored, so
    /// both `"4.8"` and `"6.1.0-18-amd64"` parse.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::KernelVersion(s.to_owned());
        let (major, rest) = s.trim().split_once('.').ok_or_else(bad)?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        Ok(Self {
            major: major.parse().map_err(|_| bad())?,
            minor: rest[..digits].parse().map_err(|_| bad())?,
        })
    }

    /// The running kernel's version, from `uname`.
    pub fn current() -> Result<Self> {
        let uts = nix::sys::utsname::uname().map_err(Error::Uname)?;
        Self::parse(&uts.release().to_string_lossy())
    }
}

/// Converts a Docker profile to the runtime-spec `linux.seccomp` section the
/// way the Docker daemon does, for a container whose bounding capability set
/// is `caps`, on the host architecture `host_arch` (Docker's name, see
/// [`native_arch`]), comparing `minKernel` against the running kernel.
///
/// Capabilities may be given with or without the `CAP_` prefix, in any case.
/// Fails on a profile Docker would reject, and on an unknown action,
/// architecture, operator or flag name in a part that applies to this host.
/// A profile that [`DockerProfile::is_unconfined`] has no `defaultAction`
/// and is an error here: the caller should then use no seccomp at all.
pub fn docker_to_oci(
    profile: &DockerProfile,
    caps: &[String],
    host_arch: &str,
) -> Result<LinuxSeccomp> {
    let mentions_kernel = profile
        .syscalls
        .iter()
        .any(|s| s.includes.min_kernel.is_some() || s.excludes.min_kernel.is_some());
    let kernel = if mentions_kernel {
        KernelVersion::current()?
    } else {
        // Never compared against.
        KernelVersion { major: 0, minor: 0 }
    };
    docker_to_oci_for_kernel(profile, caps, host_arch, kernel)
}

/// [`docker_to_oci`] against a given kernel version instead of the running one.
pub fn docker_to_oci_for_kernel(
    profile: &DockerProfile,
    caps: &[String],
    host_arch: &str,
    kernel: KernelVersion,
) -> Result<LinuxSeccomp> {
    if profile.default_action.is_empty() {
        return Err(Error::MissingDefaultAction);
    }
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(Error::ArchitecturesAndArchMap);
    }

    let mut arch_names: Vec<&str> = profile.architectures.iter().map(String::as_str).collect();
    if let Some(native) = seccomp_arch_name(host_arch) {
        if let Some(entry) = profile.arch_map.iter().find(|e| e.architecture == native) {
            arch_names.push(&entry.architecture);
            arch_names.extend(entry.sub_architectures.iter().map(String::as_str));
        }
    }
    let architectures = arch_names
        .into_iter()
        .map(parse_arch)
        .collect::<Result<Vec<_>>>()?;
    let flags = profile
        .flags
        .iter()
        .map(|f| parse_flag(f))
        .collect::<Result<Vec<_>>>()?;

    let caps: Vec<String> = caps.iter().map(|c| normalize_cap(c)).collect();
    let has_cap = |c: &String| caps.contains(&normalize_cap(c));

    let mut syscalls = Vec::new();
    for entry in &profile.syscalls {
        if !entry.name.is_empty() && !entry.names.is_empty() {
            return Err(Error::NameAndNames(entry.name.clone()));
        }
        let ex = &entry.excludes;
        if ex.arches.iter().any(|a| a == host_arch)
            || ex.caps.iter().any(has_cap)
            || at_least(kernel, ex.min_kernel.as_deref())?.unwrap_or(false)
        {
            continue;
        }
        let inc = &entry.includes;
        if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == host_arch))
            || !inc.caps.iter().all(has_cap)
            || !at_least(kernel, inc.min_kernel.as_deref())?.unwrap_or(true)
        {
            continue;
        }
        syscalls.push(convert_entry(entry)?);
    }

    let mut seccomp = LinuxSeccomp::default();
    seccomp
        .set_default_action(parse_action(&profile.default_action)?)
        .set_default_errno_ret(profile.default_errno_ret)
        .set_architectures((!architectures.is_empty()).then_some(architectures))
        .set_flags((!flags.is_empty()).then_some(flags))
        .set_listener_path(profile.listener_path.clone())
        .set_listener_metadata(profile.listener_metadata.clone())
        .set_syscalls(Some(syscalls));
    Ok(seccomp)
}

/// `Some(kernel >= min)` when `min` is set.
fn at_least(kernel: KernelVersion, min: Option<&str>) -> Result<Option<bool>> {
    min.map(|m| Ok(kernel >= KernelVersion::parse(m)?))
        .transpose()
}

fn normalize_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

fn convert_entry(entry: &DockerSyscall) -> Result<LinuxSyscall> {
    let names = if entry.name.is_empty() {
        entry.names.clone()
    } else {
        vec![entry.name.clone()]
    };
    let args = entry
        .args
        .iter()
        .map(|a| {
            let mut arg = LinuxSeccompArgBuilder::default()
                .index(a.index)
                .value(a.value)
                .op(parse_operator(&a.op)?);
            if let Some(two) = a.value_two {
                arg = arg.value_two(two);
            }
            arg.build().map_err(Error::Spec)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut syscall = LinuxSyscall::default();
    syscall
        .set_names(names)
        .set_action(parse_action(&entry.action)?)
        .set_errno_ret(entry.errno_ret)
        .set_args((!args.is_empty()).then_some(args));
    Ok(syscall)
}

#[cfg(test)]
#[path = "docker_tests.rs"]
mod tests;
