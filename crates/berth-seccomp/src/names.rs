//! Conversions between the spec's string names (`SCMP_ACT_*`, `SCMP_ARCH_*`,
//! `SCMP_CMP_*`, `SECCOMP_FILTER_FLAG_*`) and the `oci-spec` enums.
//!
//! The `oci-spec` enums already (de)serialize to exactly these names, so
//! serde is the single source of truth for the spelling; these helpers only
//! turn a failed parse into an [`Error`] that names the offending string.

use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
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
}
