//! Unit tests for [`super::compile`]: validation and the generated filter,
//! without loading anything (see `tests/behaviour.rs` for that).

use std::io::{Read, Seek};

use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

use super::*;

fn spec(value: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(value).expect("valid linux.seccomp json")
}

fn pfc(filter: &Filter) -> String {
    let mut file = tempfile::tempfile().unwrap();
    filter.export_pfc(&file).unwrap();
    file.rewind().unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text
}

fn compile_err(value: serde_json::Value) -> String {
    compile(&spec(value)).unwrap_err().to_string()
}

#[test]
fn minimal_filter_compiles_without_notify() {
    let filter = compile(&spec(json!({"defaultAction": "SCMP_ACT_ALLOW"}))).unwrap();
    assert!(!filter.uses_notify());
    assert!(filter.skipped_syscalls().is_empty());
    assert!(filter.listener_path().is_none());
}

#[test]
fn unknown_syscalls_are_skipped_and_reported() {
    let filter = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcwd", "no_such_syscall_here"], "action": "SCMP_ACT_ERRNO"}]
    })))
    .unwrap();
    assert_eq!(filter.skipped_syscalls(), ["no_such_syscall_here"]);
    assert!(pfc(&filter).contains("getcwd"));
}

#[test]
fn every_action_compiles() {
    let actions = [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ];
    let syscalls: Vec<_> = [
        "acct",
        "chroot",
        "pivot_root",
        "swapon",
        "swapoff",
        "reboot",
    ]
    .iter()
    .chain(["syslog", "vhangup"].iter())
    .zip(actions)
    .map(|(name, action)| json!({"names": [name], "action": action}))
    .collect();
    let filter = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "meta",
        "syscalls": syscalls,
    })))
    .unwrap();
    assert!(filter.uses_notify());
    assert_eq!(
        filter.listener_path(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
    assert_eq!(filter.listener_metadata(), Some("meta"));
}

#[test]
fn errno_values_reach_the_filter() {
    let filter = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 95,
        "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["getpid", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}
        ]
    })))
    .unwrap();
    let text = pfc(&filter);
    assert!(text.contains("ERRNO(38)"), "{text}");
    assert!(text.contains("ERRNO(95)"), "{text}");
}

#[test]
fn rule_equal_to_default_is_skipped() {
    // libseccomp itself refuses such rules; runc and crun skip them.
    let filter = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["umount2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
        ]
    })))
    .unwrap();
    assert!(!pfc(&filter).contains("umount2"));
}

#[test]
fn masked_eq_uses_value_as_mask_and_value_two_as_datum() {
    let filter = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["unshare"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 0x40000000u64, "valueTwo": 0x40000000u64, "op": "SCMP_CMP_MASKED_EQ"}]
        }]
    })))
    .unwrap();
    let text = pfc(&filter);
    assert!(text.contains("unshare"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("$a0.lo32"))
        .unwrap_or_default();
    assert!(line.contains("& 0x40000000 == 1073741824"), "{text}");
}

#[test]
fn repeated_argument_index_becomes_separate_rules() {
    let args: Vec<oci_spec::runtime::LinuxSeccompArg> = serde_json::from_value(json!([
        {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"},
    ]))
    .unwrap();
    let conds = args
        .iter()
        .map(|a| condition(a, &[]))
        .collect::<Result<Vec<_>>>()
        .unwrap();
    assert_eq!(split_conditions(&args, conds.clone()).len(), 2);
    assert_eq!(split_conditions(&args[..1], conds[..1].to_vec()).len(), 1);

    compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["fchmod"], "action": "SCMP_ACT_ERRNO", "args": args}]
    })))
    .unwrap();
}

#[test]
fn architectures_are_added() {
    let filter = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
    })));
    // Only meaningful where libseccomp supports these (any x86 host does).
    if cfg!(target_arch = "x86_64") {
        let text = pfc(&filter.unwrap());
        assert!(text.contains("x86_64"), "{text}");
        assert!(text.contains("x32"), "{text}");
    }
}

#[test]
fn flags_apply_or_fail_by_name() {
    let filter = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]
    })));
    assert!(filter.is_ok(), "{:?}", filter.err());
    // Needs libseccomp 2.6 and Linux 5.19; either it works or the error names it.
    if let Err(e) = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    }))) {
        assert!(
            e.to_string()
                .contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
            "{e}"
        );
    }
}

#[test]
fn errno_ret_on_other_actions_is_an_error() {
    let e = compile_err(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5}]
    }));
    assert!(e.contains("SCMP_ACT_ALLOW") && e.contains("getpid"), "{e}");

    let e = compile_err(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "defaultErrnoRet": 5}));
    assert_eq!(
        e,
        "defaultErrnoRet is not allowed with default action SCMP_ACT_KILL_PROCESS"
    );
}

#[test]
fn out_of_range_values_are_errors() {
    let e = compile_err(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]
    }));
    assert!(e.contains("70000") && e.contains("getpid"), "{e}");

    let e = compile_err(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mmap"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert_eq!(
        e,
        "argument index 6 for syscall mmap is out of range (at most 5)"
    );
}

#[test]
fn notify_needs_a_listener_and_cannot_be_default() {
    let e = compile_err(json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
    assert!(e.contains("SCMP_ACT_NOTIFY"), "{e}");

    let e = compile_err(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(e.contains("mkdir") && e.contains("listenerPath"), "{e}");
}

#[test]
fn notify_on_write_is_refused() {
    let e = compile_err(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "syscalls": [{"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert_eq!(e, "SCMP_ACT_NOTIFY cannot be used for the write syscall");
}

#[test]
fn notify_filters_become_programs_that_ask_for_the_listener() {
    let sc = spec(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "listenerPath": "/run/agent.sock",
        "syscalls": [
            {"names": ["read", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}
        ]
    }));
    let program = compile(&sc).unwrap().program(&sc).unwrap().unwrap();
    assert!(program.uses_notify());
}
