//! Generated seccomp programs and their cache.
//!
//! Turning a profile the size of Docker's default into a kernel program is
//! the most expensive step of starting a container (libseccomp adds ~400
//! rules, then generates ~1000 BPF instructions, twice: once to check the
//! profile before forking and again on load). The program depends only on
//! the `linux.seccomp` section, the architecture, the libseccomp version and
//! the kernel, so a [`ProgramCache`] keyed by a digest of those keeps it: a
//! hit skips libseccomp entirely and loads the stored instructions with one
//! `seccomp(2)` call.
//!
//! Only filters without `SCMP_ACT_NOTIFY` rules are cached (a notify
//! profile is rare and carries its agent's socket path); their programs are
//! still loaded the same way, asking the kernel for the listener.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const FLAG_TSYNC: u64 = 1;
const FLAG_LOG: u64 = 2;
const FLAG_SPEC_ALLOW: u64 = 4;
/// SECCOMP_FILTER_FLAG_NEW_LISTENER: load returns the notify listener.
pub(crate) const FLAG_NEW_LISTENER: u64 = 8;

/// Classic BPF allows at most this many instructions.
const MAX_INSNS: usize = 4096;

/// A generated seccomp program and the `seccomp(2)` flags it is loaded with.
#[derive(Debug, Clone)]
pub struct Program {
    insns: Vec<u8>,
    flags: u64,
}

impl Program {
    pub(crate) fn new(insns: Vec<u8>, flags: u64) -> Result<Program> {
        if insns.is_empty() || !insns.len().is_multiple_of(8) || insns.len() / 8 > MAX_INSNS {
            return Err(Error::LoadProgram(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a program of {} bytes is not 1 to {MAX_INSNS} instructions",
                    insns.len()
                ),
            )));
        }
        Ok(Program { insns, flags })
    }

    /// The instructions (8 bytes each, host byte order).
    #[cfg(test)]
    pub(crate) fn insns(&self) -> &[u8] {
        &self.insns
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.insns.len() / 8
    }

    /// Never true: a program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Installs the program on the calling thread (same rules as
    /// [`crate::Filter::load`]: the very last step before `execve`, with
    /// no_new_privs set or `CAP_SYS_ADMIN` held).
    /// Returns the user-notification listener when the profile has notify
    /// rules (hand it to the agent at `listenerPath`).
    pub fn load(&self) -> Result<Option<crate::NotifyFd>> {
        let fd = berth_sys::seccomp_set_filter(&self.insns, self.flags as _)
            .map_err(Error::LoadProgram)?;
        Ok(fd.map(|fd| crate::NotifyFd::from_raw_owned(std::os::fd::IntoRawFd::into_raw_fd(fd))))
    }

    /// Whether loading makes a notify listener.
    pub fn uses_notify(&self) -> bool {
        self.flags & FLAG_NEW_LISTENER != 0
    }
}

/// The `seccomp(2)` flags for the spec's `flags`, or `None` if one of them
/// cannot be carried by a stored program.
pub(crate) fn kernel_flags(seccomp: &LinuxSeccomp) -> Option<u64> {
    let mut flags = 0;
    for f in seccomp.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => return None,
        };
    }
    Some(flags)
}

/// Generated programs kept as files in one directory (the runtime's state
/// root), one per distinct profile.
#[derive(Debug, Clone)]
pub struct ProgramCache {
    dir: PathBuf,
}

impl ProgramCache {
    /// A cache in `dir` (made on first store).
    pub fn new(dir: impl Into<PathBuf>) -> ProgramCache {
        ProgramCache { dir: dir.into() }
    }

    /// The cache key of a profile: `None` when its program must not be
    /// cached (notify rules, flags a stored program cannot carry).
    pub fn key(seccomp: &LinuxSeccomp) -> Option<String> {
        kernel_flags(seccomp)?;
        let notify = seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
        if notify {
            return None;
        }
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(seccomp).ok()?);
        let v = libseccomp::ScmpVersion::current().ok()?;
        let uts = nix::sys::utsname::uname().ok()?;
        h.update(format!(
            "\0berth-seccomp {} enosys-stub optimize={}\0libseccomp {}.{}.{}\0{}\0{}\0{}",
            env!("CARGO_PKG_VERSION"),
            crate::compile::OPTIMIZE_TREE,
            v.major,
            v.minor,
            v.micro,
            std::env::consts::ARCH,
            uts.release().to_string_lossy(),
            uts.version().to_string_lossy(),
        ));
        Some(format!("{:x}", h.finalize()))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.bpf"))
    }

    /// The stored program for `key`, if there is a sound one.
    pub fn get(&self, key: &str, seccomp: &LinuxSeccomp) -> Option<Program> {
        let flags = kernel_flags(seccomp)?;
        let insns = fs::read(self.path(key)).ok()?;
        Program::new(insns, flags).ok()
    }

    /// Stores a program (write to a temporary file, then rename, so readers
    /// never see half of one). The directory is private to root.
    pub fn put(&self, key: &str, program: &Program) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&program.insns)?;
            fs::rename(&tmp, self.path(key))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn keys_differ_by_profile_and_notify_profiles_are_not_cached() {
        let a = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]}));
        let b = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["umount2"], "action": "SCMP_ACT_ERRNO"}]}));
        let ka = ProgramCache::key(&a).unwrap();
        assert_eq!(ka.len(), 64);
        assert_eq!(Some(ka.clone()), ProgramCache::key(&a));
        assert_ne!(Some(ka), ProgramCache::key(&b));
        let notify = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]}));
        assert_eq!(ProgramCache::key(&notify), None);
    }

    #[test]
    fn cache_round_trip_and_damaged_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ProgramCache::new(dir.path().join("c"));
        let sc = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG"]}));
        let key = ProgramCache::key(&sc).unwrap();
        assert!(cache.get(&key, &sc).is_none());
        let program = crate::compile(&sc).unwrap().program(&sc).unwrap().unwrap();
        assert!(!program.is_empty() && program.flags == FLAG_LOG);
        cache.put(&key, &program).unwrap();
        let back = cache.get(&key, &sc).unwrap();
        assert_eq!(back.insns, program.insns);
        fs::write(cache.dir().join(format!("{key}.bpf")), [0u8; 12]).unwrap();
        assert!(
            cache.get(&key, &sc).is_none(),
            "a partial instruction is refused"
        );
    }
}
