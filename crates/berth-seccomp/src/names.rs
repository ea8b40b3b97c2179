//! Conversions between the spec's string names (`SCMP_ACT_*`, `SCMP_ARCH_*`,
//! `SCMP_CMP_*`, `SECCOMP_FILTER_FLAG_*`) and the `oci-spec` enums.
//!
//! The `oci-spec` enums already (de)serialize to exactly these names, so
//! serde is the single source of truth for the spelling; these helpers only
//! turn a failed parse into an [`Error`] that names the offending string.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

fn parse<T: DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// The spec name of an `oci-spec` seccomp enum value, e.g. `"SCMP_ACT_ALLOW"`.
pub fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        // The enums this is used with all serialize to plain strings.
        _ => String::from("<unnamed>"),
    }
}

/// Parses an `SCMP_ACT_*` name.
pub fn parse_action(s: &str) -> Result<LinuxSeccompAction> {
    parse(s).ok_or_else(|| Error::UnknownAction(s.to_owned()))
}

/// Parses an `SCMP_ARCH_*` name.
pub fn parse_arch(s: &str) -> Result<Arch> {
    parse(s).ok_or_else(|| Error::UnknownArch(s.to_owned()))
}

/// Parses an `SCMP_CMP_*` name.
pub fn parse_operator(s: &str) -> Result<LinuxSeccompOperator> {
    parse(s).ok_or_else(|| Error::UnknownOperator(s.to_owned()))
}

/// Parses a `SECCOMP_FILTER_FLAG_*` name.
pub fn parse_flag(s: &str) -> Result<LinuxSeccompFilterFlag> {
    parse(s).ok_or_else(|| Error::UnknownFlag(s.to_owned()))
}

/// Parses a raw `linux.seccomp` JSON value, reporting an unknown action,
/// architecture, operator or flag by name (plain serde errors only say
/// "unknown variant").
///
/// Useful when parsing the whole `config.json` failed and the runtime wants
/// a clear message, or to validate a section on its own.
pub fn parse_linux_seccomp(value: &serde_json::Value) -> Result<LinuxSeccomp> {
    let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
        match v {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    for action in strings(value.get("defaultAction")) {
        parse_action(&action)?;
    }
    for arch in strings(value.get("architectures")) {
        parse_arch(&arch)?;
    }
    for flag in strings(value.get("flags")) {
        parse_flag(&flag)?;
    }
    let empty = Vec::new();
    let syscalls = value
        .get("syscalls")
        .and_then(|v| v.as_array())
        .unwrap_or(&empty);
    for syscall in syscalls {
        for action in strings(syscall.get("action")) {
            parse_action(&action)?;
        }
        let args = syscall
            .get("args")
            .and_then(|v| v.as_array())
            .unwrap_or(&empty);
        for arg in args {
            for op in strings(arg.get("op")) {
                parse_operator(&op)?;
            }
        }
    }
    serde_json::from_value(value.clone()).map_err(Error::InvalidSeccomp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_names() {
        assert_eq!(
            parse_action("SCMP_ACT_KILL_PROCESS").unwrap(),
            LinuxSeccompAction::ScmpActKillProcess
        );
        assert_eq!(
            parse_action("SCMP_ACT_NOTIFY").unwrap(),
            LinuxSeccompAction::ScmpActNotify
        );
        assert_eq!(
            parse_arch("SCMP_ARCH_X86_64").unwrap(),
            Arch::ScmpArchX86_64
        );
        assert_eq!(
            parse_arch("SCMP_ARCH_MIPSEL64N32").unwrap(),
            Arch::ScmpArchMipsel64n32
        );
        assert_eq!(
            parse_operator("SCMP_CMP_MASKED_EQ").unwrap(),
            LinuxSeccompOperator::ScmpCmpMaskedEq
        );
        assert_eq!(
            parse_flag("SECCOMP_FILTER_FLAG_SPEC_ALLOW").unwrap(),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow
        );
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(name_of(&Arch::ScmpArchPpc64le), "SCMP_ARCH_PPC64LE");
        assert_eq!(name_of(&LinuxSeccompAction::ScmpActErrno), "SCMP_ACT_ERRNO");
        assert_eq!(
            name_of(&LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv),
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
        );
    }

    #[test]
    fn unknown_names_are_named_in_the_error() {
        let e = parse_action("SCMP_ACT_BOGUS").unwrap_err().to_string();
        assert_eq!(e, "unknown seccomp action \"SCMP_ACT_BOGUS\"");
        let e = parse_arch("SCMP_ARCH_VAX").unwrap_err().to_string();
        assert!(e.contains("SCMP_ARCH_VAX"), "{e}");
        let e = parse_operator("SCMP_CMP_SORTA").unwrap_err().to_string();
        assert!(e.contains("SCMP_CMP_SORTA"), "{e}");
        let e = parse_flag("SECCOMP_FILTER_FLAG_NOPE")
            .unwrap_err()
            .to_string();
        assert!(e.contains("SECCOMP_FILTER_FLAG_NOPE"), "{e}");
    }

    #[test]
    fn raw_sections_are_checked_by_name() {
        let ok = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]
        });
        assert!(parse_linux_seccomp(&ok).is_ok());
        let mut bad = ok.clone();
        bad["syscalls"][0]["action"] = "SCMP_ACT_MAYBE".into();
        let e = parse_linux_seccomp(&bad).unwrap_err().to_string();
        assert_eq!(e, "unknown seccomp action \"SCMP_ACT_MAYBE\"");
        let mut bad = ok.clone();
        bad["syscalls"][0]["args"][0]["op"] = "SCMP_CMP_NEAR".into();
        assert!(parse_linux_seccomp(&bad)
            .unwrap_err()
            .to_string()
            .contains("SCMP_CMP_NEAR"));
        let mut bad = ok.clone();
        bad["architectures"][0] = "SCMP_ARCH_6502".into();
        assert!(parse_linux_seccomp(&bad)
            .unwrap_err()
            .to_string()
            .contains("SCMP_ARCH_6502"));
        let mut bad = ok;
        bad["syscalls"][0]["names"] = 7.into();
        assert!(parse_linux_seccomp(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("invalid linux.seccomp"));
    }
}
