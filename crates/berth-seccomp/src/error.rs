//! The crate's single error type.

use std::path::PathBuf;

use libseccomp::error::SeccompError;

/// Everything that can go wrong while converting, compiling, loading or
/// handing over a seccomp filter.
///
/// Messages are lower-case and name the offending syscall, action,
/// architecture, operator or flag so that a runtime can print them as is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An action string that is not one of the `SCMP_ACT_*` names.
    #[error("unknown seccomp action {0:?}")]
    UnknownAction(String),

    /// An architecture string that is not one of the `SCMP_ARCH_*` names.
    #[error("unknown seccomp architecture {0:?}")]
    UnknownArch(String),

    /// An operator string that is not one of the `SCMP_CMP_*` names.
    #[error("unknown seccomp operator {0:?}")]
    UnknownOperator(String),

    /// A filter flag string that is not one of the `SECCOMP_FILTER_FLAG_*` names.
    #[error("unknown seccomp flag {0:?}")]
    UnknownFlag(String),

    /// The architecture is valid for the spec but the installed libseccomp
    /// (or the kernel) cannot build filters for it.
    #[error("seccomp architecture {arch} is not supported here: {source}")]
    UnsupportedArch {
        /// The `SCMP_ARCH_*` name.
        arch: String,
        /// What libseccomp reported.
        source: SeccompError,
    },

    /// A valid flag that the installed libseccomp or kernel cannot apply.
    #[error("seccomp flag {flag} is not supported here: {source}")]
    UnsupportedFlag {
        /// The `SECCOMP_FILTER_FLAG_*` name.
        flag: String,
        /// What libseccomp reported.
        source: SeccompError,
    },

    /// An action that is valid but cannot be used here (e.g. notify on an
    /// old kernel or libseccomp).
    #[error("seccomp action {action} is not supported here: {detail}")]
    UnsupportedAction {
        /// The `SCMP_ACT_*` name.
        action: String,
        /// What is missing.
        detail: String,
    },

    /// `errnoRet` was given for an action that returns no errno.
    #[error("errnoRet is not allowed with action {action} (syscalls {syscalls:?})")]
    ErrnoRetNotAllowed {
        /// The `SCMP_ACT_*` name.
        action: String,
        /// The syscall names of the offending rule.
        syscalls: Vec<String>,
    },

    /// `defaultErrnoRet` was given for a default action that returns no errno.
    #[error("defaultErrnoRet is not allowed with default action {action}")]
    DefaultErrnoRetNotAllowed {
        /// The `SCMP_ACT_*` name.
        action: String,
    },

    /// An errno value that does not fit into the 16 bits the kernel keeps.
    #[error("errno return value {value} for {what} is out of range (at most 65535)")]
    ErrnoOutOfRange {
        /// The value given.
        value: u32,
        /// `default action` or the syscall names.
        what: String,
    },

    /// A syscall argument index past the sixth argument.
    #[error("argument index {index} for syscall {syscall} is out of range (at most 5)")]
    ArgIndexOutOfRange {
        /// The index given.
        index: usize,
        /// The syscall name.
        syscall: String,
    },

    /// `SCMP_ACT_NOTIFY` as the default action would block every syscall,
    /// including the ones the runtime needs to hand the listener over.
    #[error("seccomp action SCMP_ACT_NOTIFY cannot be the default action")]
    NotifyAsDefault,

    /// `SCMP_ACT_NOTIFY` on `write`: the runtime's own writes after the
    /// filter is loaded would wait on the agent (runc refuses it too).
    #[error("SCMP_ACT_NOTIFY cannot be used for the write syscall")]
    NotifyOnWrite,

    /// A rule uses `SCMP_ACT_NOTIFY` but nobody would receive the listener.
    #[error("syscalls {syscalls:?} use SCMP_ACT_NOTIFY but listenerPath is not set")]
    NotifyWithoutListener {
        /// The syscall names of the offending rule.
        syscalls: Vec<String>,
    },

    /// libseccomp refused to create the filter context.
    #[error("cannot create seccomp filter with default action {action}: {source}")]
    Init {
        /// The `SCMP_ACT_*` name.
        action: String,
        /// What libseccomp reported.
        source: SeccompError,
    },

    /// libseccomp refused a filter attribute.
    #[error("cannot set seccomp filter attribute {attr}: {source}")]
    Attr {
        /// The attribute name.
        attr: &'static str,
        /// What libseccomp reported.
        source: SeccompError,
    },

    /// libseccomp refused a rule.
    #[error("cannot add seccomp rule for syscall {syscall} with action {action}: {source}")]
    AddRule {
        /// The syscall name.
        syscall: String,
        /// The `SCMP_ACT_*` name.
        action: String,
        /// What libseccomp reported.
        source: SeccompError,
    },

    /// The kernel refused the filter.
    #[error("cannot load seccomp filter: {0}")]
    Load(#[source] SeccompError),

    /// libseccomp could not generate the BPF program.
    #[error("cannot generate seccomp program: {0}")]
    Export(#[source] SeccompError),

    /// The kernel refused a BPF program (or reading it back failed).
    #[error("cannot load seccomp program: {0}")]
    LoadProgram(#[source] std::io::Error),

    /// The filter was loaded but its notify listener could not be obtained.
    #[error("cannot get seccomp notify listener fd: {0}")]
    NotifyFd(#[source] SeccompError),

    /// A Docker profile that sets both `architectures` and `archMap`.
    #[error("seccomp profile sets both architectures and archMap, use one of them")]
    ArchitecturesAndArchMap,

    /// A Docker profile entry that sets both `name` and `names`.
    #[error("seccomp profile entry sets both name {0:?} and names, use one of them")]
    NameAndNames(String),

    /// A raw `linux.seccomp` section that does not deserialize.
    #[error("invalid linux.seccomp section: {0}")]
    InvalidSeccomp(#[source] serde_json::Error),

    /// An `oci-spec` value could not be built.
    #[error("cannot build seccomp spec value: {0}")]
    Spec(#[source] oci_spec::OciSpecError),

    /// A Docker profile without `defaultAction`.
    #[error("seccomp profile has no defaultAction")]
    MissingDefaultAction,

    /// A `minKernel` that is not `MAJOR.MINOR`.
    #[error("invalid kernel version {0:?} (expected MAJOR.MINOR)")]
    KernelVersion(String),

    /// `uname` failed.
    #[error("cannot read the running kernel version: {0}")]
    Uname(#[source] nix::Error),

    /// A Docker profile that is not valid JSON for [`crate::DockerProfile`].
    #[error("invalid docker seccomp profile: {0}")]
    Profile(#[source] serde_json::Error),

    /// Connecting to `listenerPath` failed.
    #[error("cannot connect to seccomp listener {path}: {source}")]
    ListenerConnect {
        /// The socket path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// Sending the state and the listener fd failed.
    #[error("cannot send seccomp listener fd to {path}: {source}")]
    ListenerSend {
        /// The socket path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// Receiving the state and the listener fd failed (agent side).
    #[error("cannot receive seccomp listener fd: {0}")]
    ListenerReceive(#[source] std::io::Error),

    /// The received container process state is not valid JSON.
    #[error("cannot decode container process state: {0}")]
    DecodeState(#[source] serde_json::Error),

    /// The container process state could not be serialized.
    #[error("cannot encode container process state: {0}")]
    EncodeState(#[source] serde_json::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
