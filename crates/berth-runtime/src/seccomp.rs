//! The runtime's use of berth-seccomp: compile `linux.seccomp` before
//! forking (so a bad profile fails `create` cleanly, before anything is
//! made), and load it in init as late as the spec allows.
//!
//! Generated programs are kept in `<root>/.seccomp-cache/` (a
//! [`berth_seccomp::ProgramCache`]): the next container or exec with the same
//! profile loads the stored program and skips libseccomp altogether.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// A compiled filter, ready for init to load, and the listener connection
/// (made before pivot_root, while `listenerPath` is still reachable).
pub struct Filter {
    inner: Inner,
    /// The agent's socket and `listenerMetadata`, for notify profiles.
    listener: Option<(UnixStream, Option<String>)>,
}

enum Inner {
    /// libseccomp's filter, loaded by libseccomp (flags a stored program
    /// cannot carry).
    Filter(berth_seccomp::Filter),
    /// A generated (possibly cached) program, loaded with one syscall.
    Program(berth_seccomp::Program),
}

/// The program cache under the runtime's state root (a name no container
/// id can have: ids never start with a dot).
pub fn cache(root: &std::path::Path) -> berth_seccomp::ProgramCache {
    berth_seccomp::ProgramCache::new(root.join(".seccomp-cache"))
}

/// Compile the spec's seccomp section, if any, or take its program from
/// `cache`.
pub fn compile(spec: &Spec, cache: &berth_seccomp::ProgramCache) -> Result<Option<Filter>> {
    let Some(sc) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    let key = berth_seccomp::ProgramCache::key(sc);
    if let Some(p) = key.as_deref().and_then(|k| cache.get(k, sc)) {
        return Ok(Some(Filter {
            inner: Inner::Program(p),
            listener: None,
        }));
    }
    let filter =
        berth_seccomp::compile(sc).map_err(|e| Error::Seccomp(format!("linux.seccomp: {e}")))?;
    for name in filter.skipped_syscalls() {
        crate::log::debug(&format!(
            "seccomp: syscall {name} unknown here, rule skipped"
        ));
    }
    let program = filter
        .program(sc)
        .map_err(|e| Error::Seccomp(format!("linux.seccomp: {e}")))?;
    let listener = match filter.listener_path().filter(|_| filter.uses_notify()) {
        Some(path) => Some((
            UnixStream::connect(path).map_err(|e| {
                Error::Seccomp(format!(
                    "failed to connect with seccomp agent at linux.seccomp.listenerPath {}: {e}",
                    path.display()
                ))
            })?,
            filter.listener_metadata().map(str::to_string),
        )),
        None => None,
    };
    let inner = match program {
        Some(p) => {
            if let Some(k) = &key {
                if let Err(e) = cache.put(k, &p) {
                    crate::log::debug(&format!(
                        "seccomp: keeping the program in {}: {e}",
                        cache.dir().display()
                    ));
                }
            }
            Inner::Program(p)
        }
        None => Inner::Filter(filter),
    };
    Ok(Some(Filter { inner, listener }))
}

impl Filter {
    /// Install the filter in the calling process; hand a notify listener,
    /// if the profile makes one, to the agent at `listenerPath` with the
    /// state `creating` (as runc does, during `create`).
    pub fn load(self, id: &str, bundle: &std::path::Path, pid: i32) -> Result<()> {
        let notify = match self.inner {
            Inner::Program(p) => p.load(),
            Inner::Filter(f) => f.load(),
        }
        .map_err(|e| Error::Seccomp(format!("load filter: {e}")))?;
        if let (Some(fd), Some((stream, metadata))) = (notify, self.listener) {
            let state: oci_spec::runtime::State = serde_json::from_value(serde_json::json!({
                "ociVersion": crate::state::OCI_VERSION,
                "id": id,
                "status": "creating",
                "pid": pid,
                "bundle": bundle,
            }))
            .map_err(|e| Error::Seccomp(format!("listener state: {e}")))?;
            let msg = berth_seccomp::container_process_state(state, pid, metadata);
            berth_seccomp::send_listener_fd_on(stream, fd.as_raw_fd(), &msg)
                .map_err(|e| Error::Seccomp(format!("send listener fd: {e}")))?;
        }
        Ok(())
    }
}

/// The seccomp part of `features`.
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "enabled": true,
        "actions": [
            "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"
        ],
        "operators": [
            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
        ],
        "archs": [
            "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
            "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
            "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64",
            "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"
        ],
        "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"],
        "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"]
    })
}
