//! Device access rules.
//!
//! Owns: the normalised [`DeviceRule`] (built from the OCI
//! `linux.resources.devices` entries), its cgroup v1 text form
//! (`c 1:3 rwm` written to `devices.allow` / `devices.deny`), and for
//! cgroup v2 the `BPF_PROG_TYPE_CGROUP_DEVICE` program that enforces the
//! same rules ([`device_filter_program`]). Loading and attaching the program
//! (the `bpf(2)` syscall) is left to the runtime.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Device class a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceKind {
    /// Every device (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

/// One device rule; later rules take precedence over earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DeviceKind,
    /// `None` = any major.
    pub major: Option<i64>,
    /// `None` = any minor.
    pub minor: Option<i64>,
    /// Subset of `rwm`, never empty.
    pub access: String,
}

impl DeviceRule {
    /// Normalise an OCI device rule. A missing type means `a`, a missing
    /// access means `rwm`; `u` is a character device; `p` is rejected
    /// because the device cgroup has no FIFO class.
    pub fn from_oci(d: &LinuxDeviceCgroup) -> Result<Self> {
        let kind = match d.typ().unwrap_or_default() {
            LinuxDeviceType::A => DeviceKind::All,
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => {
                return Err(Error::invalid(
                    "devices.type",
                    "\"p\" cannot be used in a device cgroup rule",
                ))
            }
        };
        let asked = d.access().clone().unwrap_or_else(|| "rwm".to_string());
        // Letters other than r, w and m name no device access the kernel
        // knows: they are dropped, as runc does (its tests deny "rwa"), so
        // they can neither widen nor narrow the rule. Nothing left is an error.
        let access: String = ['r', 'w', 'm']
            .into_iter()
            .filter(|c| asked.contains(*c))
            .collect();
        if access.is_empty() {
            return Err(Error::invalid(
                "devices.access",
                format!("{asked:?} names none of \"rwm\""),
            ));
        }
        let fix = |v: Option<i64>| v.filter(|n| *n >= 0);
        Ok(DeviceRule {
            allow: d.allow(),
            kind,
            major: fix(d.major()),
            minor: fix(d.minor()),
            access,
        })
    }

    /// The cgroup v1 text: `c 1:3 rwm`, `a *:* rwm`.
    pub fn v1_string(&self) -> String {
        let t = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let n = |v: Option<i64>| v.map_or_else(|| "*".to_string(), |v| v.to_string());
        format!("{t} {}:{} {}", n(self.major), n(self.minor), self.access)
    }

    /// The file a v1 rule goes to.
    pub fn v1_file(&self) -> &'static str {
        if self.allow {
            "devices.allow"
        } else {
            "devices.deny"
        }
    }

    fn access_bits(&self) -> i32 {
        self.access.chars().fold(0, |a, c| {
            a | match c {
                'm' => ACC_MKNOD,
                'r' => ACC_READ,
                _ => ACC_WRITE,
            }
        })
    }
}

/// Normalise a list of OCI rules.
pub fn rules_from_oci(list: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>> {
    list.iter().map(DeviceRule::from_oci).collect()
}

// Values of the kernel's bpf_cgroup_dev_ctx fields (uapi/linux/bpf.h).
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl BpfInsn {
    /// The 8-byte kernel encoding (little-endian host).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

// Opcodes used by the generated program.
pub(crate) const LDX_MEM_W: u8 = 0x61;
pub(crate) const ALU32_AND_K: u8 = 0x54;
pub(crate) const ALU32_RSH_K: u8 = 0x74;
pub(crate) const ALU32_MOV_K: u8 = 0xb4;
pub(crate) const ALU32_MOV_X: u8 = 0xbc;
pub(crate) const JMP_JEQ_K: u8 = 0x15;
pub(crate) const JMP_JNE_K: u8 = 0x55;
pub(crate) const JMP_EXIT: u8 = 0x95;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// A cgroup device eBPF program ready to be loaded with
/// `BPF_PROG_LOAD(BPF_PROG_TYPE_CGROUP_DEVICE)` and attached with
/// `BPF_PROG_ATTACH(BPF_CGROUP_DEVICE)` to the container's v2 directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceProgram {
    pub insns: Vec<BpfInsn>,
    /// License string to pass to the loader.
    pub license: &'static str,
}

impl DeviceProgram {
    /// All instructions encoded back to back.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.insns.iter().flat_map(|i| i.to_bytes()).collect()
    }
}

/// Build the device filter for `rules`, with cgroup v1 semantics: the last
/// matching rule decides, nothing matching means deny. An allow rule matches
/// when every requested access is in its access set; a deny rule matches when
/// any requested access is in its set. (Unlike runc's emulator, separate
/// allow rules for `r` and `w` on one device are not merged.)
///
/// Registers on entry: r1 = `struct bpf_cgroup_dev_ctx *`
/// (`access_type` = type | access << 16, `major`, `minor`).
pub fn device_filter_program(rules: &[DeviceRule]) -> DeviceProgram {
    let mut insns = vec![
        ins(LDX_MEM_W, 2, 1, 0, 0),
        ins(ALU32_AND_K, 2, 0, 0, 0xffff),
        ins(LDX_MEM_W, 3, 1, 0, 0),
        ins(ALU32_RSH_K, 3, 0, 0, 16),
        ins(LDX_MEM_W, 4, 1, 4, 0),
        ins(LDX_MEM_W, 5, 1, 8, 0),
    ];
    let mut unconditional = false;
    for rule in rules.iter().rev() {
        // Each block: conditional jumps to the next block, then the verdict.
        // The jump offsets are filled in once the block length is known.
        let mut block: Vec<BpfInsn> = Vec::new();
        match rule.kind {
            DeviceKind::All => {}
            DeviceKind::Char => block.push(ins(JMP_JNE_K, 2, 0, 0, DEV_CHAR)),
            DeviceKind::Block => block.push(ins(JMP_JNE_K, 2, 0, 0, DEV_BLOCK)),
        }
        let acc = rule.access_bits();
        if acc != ACC_MKNOD | ACC_READ | ACC_WRITE {
            block.push(ins(ALU32_MOV_X, 1, 3, 0, 0));
            if rule.allow {
                block.push(ins(ALU32_AND_K, 1, 0, 0, !acc & 7));
                block.push(ins(JMP_JNE_K, 1, 0, 0, 0));
            } else {
                block.push(ins(ALU32_AND_K, 1, 0, 0, acc));
                block.push(ins(JMP_JEQ_K, 1, 0, 0, 0));
            }
        }
        if let Some(m) = rule.major {
            block.push(ins(JMP_JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = rule.minor {
            block.push(ins(JMP_JNE_K, 5, 0, 0, m as i32));
        }
        let is_uncond = block.is_empty();
        block.push(ins(ALU32_MOV_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(ins(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, b) in block.iter_mut().enumerate() {
            if b.code == JMP_JNE_K || b.code == JMP_JEQ_K {
                b.off = (len - i - 1) as i16;
            }
        }
        insns.extend(block);
        if is_uncond {
            // Everything below would be unreachable (the verifier rejects it).
            unconditional = true;
            break;
        }
    }
    if !unconditional {
        insns.push(ins(ALU32_MOV_K, 0, 0, 0, 0));
        insns.push(ins(JMP_EXIT, 0, 0, 0, 0));
    }
    DeviceProgram {
        insns,
        license: "Apache",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    /// A tiny interpreter for the opcodes the generator emits.
    fn run(p: &DeviceProgram, kind: i32, access: i32, major: u32, minor: u32) -> u32 {
        let ctx = [(kind | (access << 16)) as u32, major, minor];
        let mut r = [0u32; 11];
        let mut pc = 0usize;
        loop {
            let i = p.insns[pc];
            let (d, s) = (usize::from(i.dst), usize::from(i.src));
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    r[d] = ctx[(i.off / 4) as usize];
                }
                ALU32_AND_K => r[d] &= i.imm as u32,
                ALU32_RSH_K => r[d] >>= i.imm as u32,
                ALU32_MOV_K => r[d] = i.imm as u32,
                ALU32_MOV_X => r[d] = r[s],
                JMP_JNE_K if r[d] != i.imm as u32 => pc += i.off as usize,
                JMP_JEQ_K if r[d] == i.imm as u32 => pc += i.off as usize,
                JMP_JNE_K | JMP_JEQ_K => {}
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn rule(
        allow: bool,
        t: LinuxDeviceType,
        maj: Option<i64>,
        min: Option<i64>,
        a: &str,
    ) -> DeviceRule {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(t)
            .access(a);
        if let Some(m) = maj {
            b = b.major(m);
        }
        if let Some(m) = min {
            b = b.minor(m);
        }
        DeviceRule::from_oci(&b.build().unwrap()).unwrap()
    }

    #[test]
    fn v1_strings() {
        assert_eq!(
            rule(false, LinuxDeviceType::A, None, None, "rwm").v1_string(),
            "a *:* rwm"
        );
        let r = rule(true, LinuxDeviceType::C, Some(1), Some(3), "rw");
        assert_eq!(r.v1_string(), "c 1:3 rw");
        assert_eq!(r.v1_file(), "devices.allow");
        assert_eq!(
            rule(true, LinuxDeviceType::B, Some(8), None, "r").v1_string(),
            "b 8:* r"
        );
        let bad = LinuxDeviceCgroupBuilder::default()
            .access("x")
            .build()
            .unwrap();
        assert!(DeviceRule::from_oci(&bad).is_err());
        let fifo = LinuxDeviceCgroupBuilder::default()
            .typ(LinuxDeviceType::P)
            .build()
            .unwrap();
        assert!(DeviceRule::from_oci(&fifo).is_err());
    }

    /// runc's update.bats denies "rwa": the unknown letter is dropped, the
    /// known ones kept in the kernel's order.
    #[test]
    fn unknown_access_letters_are_dropped() {
        let r = rule(false, LinuxDeviceType::C, Some(1), Some(11), "rwa");
        assert_eq!(r.v1_string(), "c 1:11 rw");
        assert_eq!(r.v1_file(), "devices.deny");
        let r = rule(true, LinuxDeviceType::C, Some(1), Some(3), "mwr");
        assert_eq!(r.access, "rwm");
    }

    #[test]
    fn program_enforces_rules() {
        let rules = vec![
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"), // /dev/null
            rule(true, LinuxDeviceType::C, Some(5), None, "rw"),
            rule(false, LinuxDeviceType::C, Some(5), Some(1), "w"),
            rule(true, LinuxDeviceType::B, Some(8), Some(0), "r"),
        ];
        let p = device_filter_program(&rules);
        let (c, b) = (DEV_CHAR, DEV_BLOCK);
        let (m, r, w) = (ACC_MKNOD, ACC_READ, ACC_WRITE);
        assert_eq!(run(&p, c, r | w | m, 1, 3), 1);
        assert_eq!(run(&p, c, r, 1, 5), 0, "1:5 not listed");
        assert_eq!(run(&p, c, r | w, 5, 0), 1);
        assert_eq!(run(&p, c, m, 5, 0), 0, "mknod not granted on 5:*");
        assert_eq!(run(&p, c, r, 5, 1), 1);
        assert_eq!(run(&p, c, r | w, 5, 1), 0, "write to 5:1 denied");
        assert_eq!(run(&p, b, r, 8, 0), 1);
        assert_eq!(run(&p, b, w, 8, 0), 0);
        assert_eq!(run(&p, c, r, 8, 0), 0, "char 8:0 is not block 8:0");
        // Bytes: 8 per instruction, first is ldxw r2 = *(u32 *)(r1 + 0).
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), p.insns.len() * 8);
        assert_eq!(&bytes[..8], &[0x61, 0x12, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn trailing_wildcard_has_no_unreachable_code() {
        let rules = vec![
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::A, None, None, "rwm"),
        ];
        let p = device_filter_program(&rules);
        // prologue (6) + one unconditional block (2), nothing after it.
        assert_eq!(p.insns.len(), 8);
        assert_eq!(run(&p, DEV_BLOCK, ACC_WRITE, 9, 9), 1);
        let empty = device_filter_program(&[]);
        assert_eq!(run(&empty, DEV_CHAR, ACC_READ, 1, 3), 0);
    }
}
