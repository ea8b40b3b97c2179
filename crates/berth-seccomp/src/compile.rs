//! Compiling the runtime-spec `linux.seccomp` section into a libseccomp
//! filter, and loading it.
//!
//! [`compile`] does all validation and builds the filter in memory; it has no
//! effect on the calling process and is meant to run in the runtime before it
//! forks. [`Filter::load`] is the one step that changes the process and is
//! meant to be the very last thing before `execve`.
//!
//! Semantics follow what runc and crun do with the same input:
//! - `SCMP_ACT_KILL` means kill the thread, like `SCMP_ACT_KILL_THREAD`.
//! - `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` return `EPERM` unless
//!   `errnoRet`/`defaultErrnoRet` says otherwise; `errnoRet` on any other
//!   action is an error.
//! - Syscall names libseccomp does not know are skipped (profiles list
//!   syscalls of every architecture and kernel); they are reported by
//!   [`Filter::skipped_syscalls`].
//! - Rules whose action equals the default action are redundant and skipped.
//! - The conditions of one rule are AND-ed, unless two of them test the same
//!   argument: then each condition becomes a rule of its own (OR), since a
//!   single libseccomp rule cannot test one argument twice.
//! - For `SCMP_CMP_MASKED_EQ`, `value` is the mask and `valueTwo` the value
//!   the masked argument must equal.
//! - libseccomp's habit of setting no_new_privs on load is turned off: the
//!   runtime decides about no_new_privs itself.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use crate::error::{Error, Result};
use crate::fd::NotifyFd;
use crate::names::name_of;

/// The errno returned by `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE` when none is given.
const DEFAULT_ERRNO: u32 = nix::libc::EPERM as u32;

/// Syscalls take at most six arguments.
const MAX_ARG_INDEX: usize = 5;

/// A validated, compiled seccomp filter that has not been loaded yet.
///
/// Build it with [`compile`] before forking; install it with
/// [`Filter::load`] in the container process right before `execve`.
#[derive(Debug)]
pub struct Filter {
    ctx: ScmpFilterContext,
    uses_notify: bool,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    skipped: Vec<String>,
}

/// Validates `seccomp` and compiles it into a [`Filter`].
///
/// Nothing is installed in the calling process. Errors name the syscall,
/// action, architecture or flag at fault.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter> {
    compile_at(seccomp, OPTIMIZE_TREE)
}

/// libseccomp's `SCMP_FLTATR_CTL_OPTIMIZE` level: 1 is a linear list of syscall numbers, 2 a
/// binary tree of them.
pub(crate) const OPTIMIZE_TREE: u32 = 2;

/// [`compile`] with libseccomp's optimisation level `optimize` (the tests compare the levels).
pub(crate) fn compile_at(seccomp: &LinuxSeccomp, optimize: u32) -> Result<Filter> {
    let default_action = seccomp.default_action();
    if default_action == LinuxSeccompAction::ScmpActNotify {
        return Err(Error::NotifyAsDefault);
    }
    let default = scmp_action(default_action, seccomp.default_errno_ret(), None)?;

    let mut ctx = ScmpFilterContext::new(default).map_err(|source| Error::Init {
        action: name_of(&default_action),
        source,
    })?;
    ctx.set_ctl_nnp(false).map_err(|source| Error::Attr {
        attr: "no_new_privs (SCMP_FLTATR_CTL_NNP)",
        source,
    })?;
    // A binary tree of syscall numbers instead of libseccomp's linear list: when the kernel
    // attaches a filter it runs it once per syscall number (to cache the ones always allowed),
    // and again on every syscall that cache misses; with Docker's default profile (~970
    // instructions as a list) the attach took ~1.1 ms, as a tree ~0.4 ms. The verdicts are the
    // same (compile_tests.rs runs both programs over every syscall number).
    ctx.set_ctl_optimize(optimize)
        .map_err(|source| Error::Attr {
            attr: "binary tree (SCMP_FLTATR_CTL_OPTIMIZE)",
            source,
        })?;

    for &arch in seccomp.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(arch))
            .map_err(|source| Error::UnsupportedArch {
                arch: name_of(&arch),
                source,
            })?;
    }

    for &flag in seccomp.flags().iter().flatten() {
        apply_flag(&mut ctx, flag)?;
    }

    let mut filter = Filter {
        ctx,
        uses_notify: false,
        listener_path: seccomp.listener_path().clone(),
        listener_metadata: seccomp.listener_metadata().clone(),
        skipped: Vec::new(),
    };
    for syscall in seccomp.syscalls().iter().flatten() {
        filter.add_syscall(syscall, default)?;
    }
    Ok(filter)
}

impl Filter {
    fn add_syscall(&mut self, syscall: &LinuxSyscall, default: ScmpAction) -> Result<()> {
        let names = syscall.names();
        let action = scmp_action(syscall.action(), syscall.errno_ret(), Some(names))?;
        if action == ScmpAction::Notify {
            // Init writes to the runtime after the filter is in; a write
            // waiting on an agent that waits on the runtime never returns.
            if names.iter().any(|n| n == "write") {
                return Err(Error::NotifyOnWrite);
            }
            if self.listener_path.is_none() {
                return Err(Error::NotifyWithoutListener {
                    syscalls: names.clone(),
                });
            }
            ensure_notify_supported()?;
            self.uses_notify = true;
        }

        let conditions = syscall
            .args()
            .iter()
            .flatten()
            .map(|arg| condition(arg, names))
            .collect::<Result<Vec<_>>>()?;
        if action == default {
            return Ok(());
        }
        let rules = split_conditions(syscall.args().as_deref().unwrap_or_default(), conditions);

        for name in names {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                self.skipped.push(name.clone());
                continue;
            };
            for rule in &rules {
                let added = if rule.is_empty() {
                    self.ctx.add_rule(action, nr)
                } else {
                    self.ctx.add_rule_conditional(action, nr, rule)
                };
                added.map_err(|source| Error::AddRule {
                    syscall: name.clone(),
                    action: name_of(&syscall.action()),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Installs the filter on the calling thread and consumes it.
    ///
    /// Call this as the very last step before `execve`: every later syscall,
    /// including the runtime's own, is subject to the filter. Unless the
    /// process has no_new_privs set, the kernel requires `CAP_SYS_ADMIN` here.
    ///
    /// Returns the user-notification listener when a rule uses
    /// `SCMP_ACT_NOTIFY` (the kernel creates it close-on-exec); hand it to
    /// the agent at [`Filter::listener_path`], e.g. with
    /// [`crate::send_listener_fd`].
    pub fn load(self) -> Result<Option<NotifyFd>> {
        self.ctx.load().map_err(Error::Load)?;
        if !self.uses_notify {
            return Ok(None);
        }
        let raw = self.ctx.get_notify_fd().map_err(Error::NotifyFd)?;
        Ok(Some(NotifyFd::from_raw_owned(raw)))
    }

    /// Whether any rule uses `SCMP_ACT_NOTIFY`, i.e. whether [`Filter::load`]
    /// will return a listener fd.
    pub fn uses_notify(&self) -> bool {
        self.uses_notify
    }

    /// The spec's `listenerPath`, where the notify listener must be sent.
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    /// The spec's `listenerMetadata`, passed on to the seccomp agent.
    pub fn listener_metadata(&self) -> Option<&str> {
        self.listener_metadata.as_deref()
    }

    /// Syscall names that were skipped because libseccomp does not know
    /// them (worth a debug log line, not an error).
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// The kernel program for this filter, to load with
    /// [`crate::Program::load`] (and to keep in a [`crate::ProgramCache`]):
    /// what libseccomp generates, behind runc's `-ENOSYS` stub for syscalls
    /// newer than the profile (see `enosys.rs`). A filter with notify rules
    /// gets a program that asks the kernel for the listener on load.
    /// `None` when the profile uses a flag a program cannot carry.
    pub fn program(&self, seccomp: &LinuxSeccomp) -> Result<Option<crate::Program>> {
        let Some(mut flags) = crate::program::kernel_flags(seccomp) else {
            return Ok(None);
        };
        if self.uses_notify {
            flags |= crate::program::FLAG_NEW_LISTENER;
        }
        // At most 4096 instructions of 8 bytes: the whole program fits in a
        // pipe's buffer, so writing it before reading cannot block.
        let (r, w) = nix::unistd::pipe().map_err(|e| Error::LoadProgram(e.into()))?;
        self.ctx.export_bpf(&w).map_err(Error::Export)?;
        drop(w);
        let mut generated = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(r), &mut generated)
            .map_err(Error::LoadProgram)?;
        let mut arches: Vec<ScmpArch> = seccomp
            .architectures()
            .iter()
            .flatten()
            .map(|a| scmp_arch(*a))
            .collect();
        arches.push(ScmpArch::native());
        let mut insns = crate::enosys::stub(seccomp, &arches);
        insns.extend_from_slice(&generated);
        Ok(Some(crate::Program::new(insns, flags)?))
    }

    /// Writes the filter in libseccomp's human-readable pseudo filter code
    /// (PFC) to `fd`, for debugging.
    pub fn export_pfc<F: AsFd>(&self, fd: F) -> Result<()> {
        self.ctx.export_pfc(fd).map_err(Error::Load)
    }
}

/// Converts a spec action (with its optional errno) to a libseccomp action.
///
/// `names` is `None` for the default action.
fn scmp_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    names: Option<&Vec<String>>,
) -> Result<ScmpAction> {
    use LinuxSeccompAction as A;
    let checked_errno = || -> Result<u32> {
        let value = errno_ret.unwrap_or(DEFAULT_ERRNO);
        if value > u32::from(u16::MAX) {
            return Err(Error::ErrnoOutOfRange {
                value,
                what: names.map_or_else(|| "the default action".to_owned(), |n| n.join(",")),
            });
        }
        Ok(value)
    };
    let converted = match action {
        A::ScmpActErrno => return Ok(ScmpAction::Errno(checked_errno()? as i32)),
        A::ScmpActTrace => return Ok(ScmpAction::Trace(checked_errno()? as u16)),
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActNotify => ScmpAction::Notify,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
    };
    if errno_ret.is_some() {
        let action = name_of(&action);
        return Err(match names {
            Some(names) => Error::ErrnoRetNotAllowed {
                action,
                syscalls: names.clone(),
            },
            None => Error::DefaultErrnoRetNotAllowed { action },
        });
    }
    Ok(converted)
}

fn ensure_notify_supported() -> Result<()> {
    let ok = libseccomp::check_api(6, ScmpVersion::from((2, 5, 0))).unwrap_or(false);
    if ok {
        return Ok(());
    }
    let version = ScmpVersion::current().map_or_else(|_| "unknown".to_owned(), |v| v.to_string());
    Err(Error::UnsupportedAction {
        action: "SCMP_ACT_NOTIFY".to_owned(),
        detail: format!(
            "needs libseccomp >= 2.5.0 and api level >= 6 (kernel >= 5.0); have libseccomp {version}, api level {}",
            libseccomp::get_api()
        ),
    })
}

fn condition(arg: &LinuxSeccompArg, names: &[String]) -> Result<ScmpArgCompare> {
    use LinuxSeccompOperator as O;
    if arg.index() > MAX_ARG_INDEX {
        return Err(Error::ArgIndexOutOfRange {
            index: arg.index(),
            syscall: names.join(","),
        });
    }
    let (op, datum) = match arg.op() {
        O::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        O::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        O::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        O::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        O::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        O::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        O::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    // The index was checked above, so it fits.
    Ok(ScmpArgCompare::new(arg.index() as u32, op, datum))
}

/// Groups conditions into rules: one AND-ed rule, or one rule per condition
/// when some argument is tested more than once.
fn split_conditions(
    args: &[LinuxSeccompArg],
    conditions: Vec<ScmpArgCompare>,
) -> Vec<Vec<ScmpArgCompare>> {
    let mut seen = [false; MAX_ARG_INDEX + 1];
    let repeated = args
        .iter()
        .any(|a| std::mem::replace(&mut seen[a.index()], true));
    if repeated {
        conditions.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conditions]
    }
}

fn apply_flag(ctx: &mut ScmpFilterContext, flag: LinuxSeccompFilterFlag) -> Result<()> {
    use LinuxSeccompFilterFlag as F;
    let applied = match flag {
        F::SeccompFilterFlagLog => ctx.set_ctl_log(true),
        F::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
        F::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
        F::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
    };
    applied
        .map(|_| ())
        .map_err(|source| Error::UnsupportedFlag {
            flag: name_of(&flag),
            source,
        })
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
