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

/// Runs a classic BPF seccomp program on one `struct seccomp_data` (nr, arch, instruction
/// pointer, six 64-bit arguments; host byte order) and returns its verdict.
fn run_bpf(prog: &[u8], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let insn = |pc: usize| {
        let c = &prog[pc * 8..pc * 8 + 8];
        let k = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
        (
            u16::from_ne_bytes([c[0], c[1]]),
            c[2] as usize,
            c[3] as usize,
            k,
        )
    };
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0;
    loop {
        let (code, jt, jf, k) = insn(pc);
        pc += 1;
        let jump = |taken: bool| if taken { jt } else { jf };
        match code {
            0x20 => {
                let o = k as usize;
                a = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
            }
            0x00 => a = k,
            0x01 => x = k,
            0x60 => a = mem[k as usize],
            0x61 => x = mem[k as usize],
            0x02 => mem[k as usize] = a,
            0x03 => mem[k as usize] = x,
            0x07 => x = a,
            0x87 => a = x,
            0x54 => a &= k,
            0x44 => a |= k,
            0x5c => a &= x,
            0x05 => pc += k as usize,
            0x15 => pc += jump(a == k),
            0x25 => pc += jump(a > k),
            0x35 => pc += jump(a >= k),
            0x45 => pc += jump(a & k != 0),
            0x1d => pc += jump(a == x),
            0x2d => pc += jump(a > x),
            0x3d => pc += jump(a >= x),
            0x4d => pc += jump(a & x != 0),
            0x06 => return k,
            0x16 => return a,
            other => panic!("instruction {other:#x} at {} not emulated", pc - 1),
        }
    }
}

/// The program libseccomp makes with optimisation level `optimize`, behind the ENOSYS stub.
fn program_at(sc: &LinuxSeccomp, optimize: u32) -> Vec<u8> {
    let filter = compile_at(sc, optimize).unwrap();
    filter.program(sc).unwrap().unwrap().insns().to_vec()
}

/// Every syscall number (and, for the syscalls whose rules test arguments, arguments around
/// each value the profile compares with) gets the same verdict from the binary-tree program
/// the runtime loads as from libseccomp's plain list: the optimisation changes the speed only.
fn assert_tree_matches_list(sc: &LinuxSeccomp) {
    let list = program_at(sc, 1);
    let tree = program_at(sc, OPTIMIZE_TREE);
    assert_ne!(list, tree, "the tree program differs from the list");
    const X86_64: u32 = 0xC000_003E;
    const I386: u32 = 0x4000_0003;
    const AARCH64: u32 = 0xC000_00B7;
    const X32_BIT: u32 = 0x4000_0000;
    let mut values = vec![0u64, u64::MAX, 1 << 32, 0xFFFF_FFFF];
    let mut with_args = std::collections::BTreeSet::new();
    for s in sc.syscalls().iter().flatten() {
        let Some(args) = s.args() else { continue };
        for a in args {
            for v in [a.value(), a.value_two().unwrap_or(0)] {
                values.extend([v, v.wrapping_add(1), v.wrapping_sub(1), v | (1 << 40)]);
            }
        }
        for name in s.names() {
            for (arch, audit) in [
                (ScmpArch::X8664, X86_64),
                (ScmpArch::X32, X86_64),
                (ScmpArch::X86, I386),
            ] {
                if let Ok(nr) = ScmpSyscall::from_name_by_arch(name, arch) {
                    let nr = nr.as_raw_syscall() as u32;
                    with_args.insert((audit, nr));
                    with_args.insert((audit, nr | X32_BIT));
                }
            }
        }
    }
    values.sort_unstable();
    values.dedup();
    let mut checked = 0usize;
    let mut same = |nr: u32, arch: u32, args: [u64; 6]| {
        let (l, t) = (
            run_bpf(&list, nr, arch, args),
            run_bpf(&tree, nr, arch, args),
        );
        assert_eq!(
            l, t,
            "verdict of syscall {nr:#x} on arch {arch:#x} with {args:x?}: list {l:#x}, tree {t:#x}"
        );
        checked += 1;
    };
    for arch in [X86_64, I386, AARCH64] {
        let high = if arch == X86_64 { X32_BIT } else { 0 };
        for nr in (0..1100).chain(high..high + 1100).chain([u32::MAX]) {
            same(nr, arch, [0; 6]);
            same(nr, arch, [u64::MAX; 6]);
            if !with_args.contains(&(arch, nr)) {
                continue;
            }
            for &v in &values {
                same(nr, arch, [v; 6]);
                for i in 0..6 {
                    let mut args = [0; 6];
                    args[i] = v;
                    same(nr, arch, args);
                }
            }
        }
    }
    assert!(checked > 10_000, "only {checked} cases");
}

#[test]
fn tree_program_gives_the_list_programs_verdicts_for_dockers_default_profile() {
    let caps: Vec<String> = crate::DOCKER_DEFAULT_CAPS
        .iter()
        .map(|c| c.to_string())
        .collect();
    let kernel = crate::KernelVersion { major: 6, minor: 1 };
    for caps in [
        caps,
        vec!["CAP_SYS_ADMIN".to_string(), "CAP_SYS_PTRACE".into()],
    ] {
        let sc = crate::docker_to_oci_for_kernel(&crate::default_profile(), &caps, "amd64", kernel)
            .unwrap();
        assert_tree_matches_list(&sc);
        // The emulator sees what the kernel would: getpid allowed, reboot EPERM, a syscall
        // newer than the profile ENOSYS (the stub), an arch not listed killed.
        let tree = program_at(&sc, OPTIMIZE_TREE);
        assert_eq!(run_bpf(&tree, 39, 0xC000_003E, [0; 6]), 0x7fff_0000);
        assert_eq!(run_bpf(&tree, 169, 0xC000_003E, [0; 6]), 0x0005_0001);
        assert_eq!(run_bpf(&tree, 1000, 0xC000_003E, [0; 6]), 0x0005_0026);
        assert_eq!(run_bpf(&tree, 39, 0xC000_00B7, [0; 6]) & 0xffff_0000, 0);
    }
}

#[test]
fn tree_program_gives_the_list_programs_verdicts_for_argument_rules() {
    assert_tree_matches_list(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NE"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_KILL",
             "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mmap", "mprotect"], "action": "SCMP_ACT_TRAP",
             "args": [{"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 2, "value": 4096, "op": "SCMP_CMP_GT"}]},
            {"names": ["write"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_LE"}]},
            {"names": ["getpid", "getppid", "mount", "umount2", "reboot", "kexec_load"],
             "action": "SCMP_ACT_ERRNO"}
        ]
    })));
}
