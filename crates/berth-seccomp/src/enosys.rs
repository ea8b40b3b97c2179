//! The `-ENOSYS` stub put in front of a generated program, as runc does.
//!
//! A profile lists the syscalls it knows about; a syscall newer than every
//! one of them (a kernel newer than the profile, or `syscall(1000)`) would
//! otherwise get the default action, typically `EPERM`. Programs and
//! libraries take `EPERM` as "forbidden" but `ENOSYS` as "not here, use the
//! fallback" (glibc's clone3 -> clone, statx -> fstatat), so runc answers
//! `ENOSYS` for any syscall numbered above the highest one the profile
//! names, per architecture. The stub does the same here; syscalls at or
//! below that number go to the profile's program unchanged.
//!
//! No stub is made when the default action already lets everything through
//! (`SCMP_ACT_ALLOW`, `SCMP_ACT_LOG`) or already answers `ENOSYS`.

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

const ENOSYS: u32 = 38;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// x32 syscalls are numbered with this bit on the x86_64 audit arch.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Classic BPF opcodes.
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// `struct seccomp_data` offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;

/// The audit arch value (`seccomp_data.arch`) of a libseccomp arch.
fn audit_arch(arch: ScmpArch) -> Option<u32> {
    Some(match arch {
        ScmpArch::X8664 | ScmpArch::X32 => 0xC000_003E,
        ScmpArch::X86 => 0x4000_0003,
        ScmpArch::Aarch64 => 0xC000_00B7,
        ScmpArch::Arm => 0x4000_0028,
        ScmpArch::Ppc64Le => 0xC000_0015,
        ScmpArch::Ppc64 => 0x8000_0015,
        ScmpArch::Ppc => 0x0000_0014,
        ScmpArch::S390X => 0x8000_0016,
        ScmpArch::S390 => 0x0000_0016,
        ScmpArch::Riscv64 => 0xC000_00F3,
        ScmpArch::Mips => 0x0000_0008,
        ScmpArch::Mipsel => 0x4000_0008,
        ScmpArch::Mips64 => 0x8000_0008,
        ScmpArch::Mipsel64 => 0xC000_0008,
        ScmpArch::Mips64N32 => 0xA000_0008,
        ScmpArch::Mipsel64N32 => 0xE000_0008,
        ScmpArch::Loongarch64 => 0xC000_0102,
        _ => return None,
    })
}

/// Where a jump goes, resolved once the stub's length is known.
#[derive(Clone, Copy)]
enum To {
    Next,
    Insn(usize),
    Enosys,
    Filter,
}

struct Insn {
    code: u16,
    jt: To,
    jf: To,
    k: u32,
}

/// The stub's instructions (8 bytes each, host byte order), to put before
/// the program libseccomp generated for `seccomp`; empty when none is due.
pub(crate) fn stub(seccomp: &LinuxSeccomp, arches: &[ScmpArch]) -> Vec<u8> {
    let default = seccomp.default_action();
    if matches!(
        default,
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
    ) || (default == LinuxSeccompAction::ScmpActErrno
        && seccomp.default_errno_ret() == Some(ENOSYS))
    {
        return Vec::new();
    }
    // The highest syscall number the profile names, per architecture.
    let mut last: Vec<(ScmpArch, u32)> = Vec::new();
    for &arch in arches {
        if last.iter().any(|(a, _)| *a == arch) {
            continue;
        }
        let max = seccomp
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|s| s.names())
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(|s| s.as_raw_syscall())
            .filter(|nr| *nr >= 0)
            .max();
        if let Some(nr) = max {
            last.push((arch, nr as u32));
        }
    }
    let find = |a: ScmpArch| last.iter().find(|(x, _)| *x == a).map(|(_, n)| *n);
    let mut insns: Vec<Insn> = vec![ins(LD_W_ABS, OFF_ARCH)];
    let mut done: Vec<u32> = Vec::new();
    for &(arch, nr) in &last {
        let Some(audit) = audit_arch(arch) else {
            continue;
        };
        if done.contains(&audit) {
            continue;
        }
        done.push(audit);
        // Patched to the next block's start once this block is written.
        let head = insns.len();
        insns.push(jump(JMP_JEQ_K, audit, To::Next, To::Next));
        insns.push(ins(LD_W_ABS, OFF_NR));
        if audit_arch(ScmpArch::X8664) == Some(audit) {
            // One audit arch, two syscall tables: x32 numbers carry a bit.
            let x32 = find(ScmpArch::X32).map(|n| n | X32_SYSCALL_BIT);
            let x64 = if arch == ScmpArch::X32 {
                find(ScmpArch::X8664)
            } else {
                Some(nr)
            };
            let jset = insns.len();
            insns.push(jump(JMP_JSET_K, X32_SYSCALL_BIT, To::Next, To::Next));
            insns.push(match x64 {
                Some(n) => jump(JMP_JGT_K, n, To::Enosys, To::Filter),
                None => jump(JMP_JA, 0, To::Filter, To::Filter),
            });
            insns[jset].jt = To::Insn(insns.len());
            insns.push(match x32 {
                Some(n) => jump(JMP_JGT_K, n, To::Enosys, To::Filter),
                None => jump(JMP_JA, 0, To::Filter, To::Filter),
            });
        } else {
            insns.push(jump(JMP_JGT_K, nr, To::Enosys, To::Filter));
        }
        insns[head].jf = To::Insn(insns.len());
    }
    if done.is_empty() {
        return Vec::new();
    }
    // An arch the stub does not know: straight to the profile's program.
    insns.push(jump(JMP_JA, 0, To::Filter, To::Filter));
    let enosys = insns.len();
    insns.push(ins(RET_K, SECCOMP_RET_ERRNO | ENOSYS));
    let filter = insns.len();

    let mut out = Vec::with_capacity(insns.len() * 8);
    for (pc, i) in insns.iter().enumerate() {
        let target = |t: To| match t {
            To::Next => pc + 1,
            To::Insn(n) => n,
            To::Enosys => enosys,
            To::Filter => filter,
        };
        let (code, jt, jf, k) = if i.code == JMP_JA {
            // `ja` jumps by k, not by jt/jf.
            (i.code, 0u8, 0u8, (target(i.jt) - pc - 1) as u32)
        } else if i.code & 0x07 == 0x05 {
            let off = |t: To| u8::try_from(target(t) - pc - 1).expect("stub jumps are short");
            (i.code, off(i.jt), off(i.jf), i.k)
        } else {
            (i.code, 0, 0, i.k)
        };
        out.extend_from_slice(&code.to_ne_bytes());
        out.push(jt);
        out.push(jf);
        out.extend_from_slice(&k.to_ne_bytes());
    }
    out
}

fn ins(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: To::Next,
        jf: To::Next,
        k,
    }
}

fn jump(code: u16, k: u32, jt: To, jf: To) -> Insn {
    Insn { code, jt, jf, k }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the stub on (arch, nr): Some(errno) when it answers itself,
    /// None when it passes the syscall on to the profile's program.
    fn run(stub: &[u8], arch: u32, nr: u32) -> Option<u32> {
        let insns: Vec<(u16, u8, u8, u32)> = stub
            .chunks_exact(8)
            .map(|c| {
                (
                    u16::from_ne_bytes([c[0], c[1]]),
                    c[2],
                    c[3],
                    u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect();
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            if pc == insns.len() {
                return None;
            }
            let (code, jt, jf, k) = insns[pc];
            pc += 1;
            let branch = |cond: bool| usize::from(if cond { jt } else { jf });
            match code {
                LD_W_ABS => acc = if k == OFF_ARCH { arch } else { nr },
                JMP_JA => pc += k as usize,
                JMP_JEQ_K => pc += branch(acc == k),
                JMP_JGT_K => pc += branch(acc > k),
                JMP_JSET_K => pc += branch(acc & k != 0),
                RET_K => return Some(k & 0xffff),
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn syscalls_above_the_profiles_highest_get_enosys() {
        let sc = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write", "openat"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}
            ]
        }));
        let stub = stub(&sc, &[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32]);
        let x64 = 0xC000_003E;
        // openat is 257 on x86_64, the highest named.
        assert_eq!(run(&stub, x64, 1000), Some(ENOSYS));
        assert_eq!(run(&stub, x64, 258), Some(ENOSYS));
        assert_eq!(run(&stub, x64, 257), None);
        assert_eq!(run(&stub, x64, 100), None, "gaps go to the profile");
        // x32: openat is 257 | bit there too.
        assert_eq!(run(&stub, x64, X32_SYSCALL_BIT | 257), None);
        assert_eq!(run(&stub, x64, X32_SYSCALL_BIT | 600), Some(ENOSYS));
        // i386: openat is 295.
        assert_eq!(run(&stub, 0x4000_0003, 295), None);
        assert_eq!(run(&stub, 0x4000_0003, 296), Some(ENOSYS));
        // An arch nobody asked for goes to the profile (which refuses it).
        assert_eq!(run(&stub, 0xC000_00B7, 5000), None);
    }

    #[test]
    fn no_stub_when_the_default_lets_syscalls_through_or_is_enosys() {
        for v in [
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
            serde_json::json!({"defaultAction": "SCMP_ACT_LOG",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}),
        ] {
            assert!(stub(&profile(v), &[ScmpArch::X8664]).is_empty());
        }
        // Nothing named that this arch knows: nothing to compare with.
        let sc = profile(serde_json::json!({"defaultAction": "SCMP_ACT_KILL",
            "syscalls": [{"names": ["no_such_call"], "action": "SCMP_ACT_ALLOW"}]}));
        assert!(stub(&sc, &[ScmpArch::X8664]).is_empty());
    }
}
