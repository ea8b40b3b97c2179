//! Seccomp filters for Berth.
//!
//! Two jobs:
//!
//! 1. **Runtime**: turn the runtime-spec `linux.seccomp` section
//!    ([`oci_spec::runtime::LinuxSeccomp`]) into a kernel filter.
//!    [`compile`] validates and builds it without touching the process (run
//!    it before forking, so a bad profile fails `create` cleanly);
//!    [`Filter::load`] installs it as the last step before `execve` and
//!    returns the user-notification listener when a rule uses
//!    `SCMP_ACT_NOTIFY`; [`send_listener_fd`] hands that listener, with the
//!    container process state, to the agent at `listenerPath`.
//! 2. **Daemon**: Docker-format profiles ([`DockerProfile`]), Docker's
//!    default profile carried inside this crate ([`default_profile`]), and
//!    [`docker_to_oci`], which resolves a profile for one container
//!    (capabilities, architecture, kernel) exactly as Docker does when it
//!    writes `config.json`.
//!
//! Filters are built with libseccomp (the C library, via the `libseccomp`
//! crate), like runc and crun.
//!
//! # Order of operations in the runtime
//!
//! Loading a filter needs either no_new_privs or `CAP_SYS_ADMIN`. When the
//! spec asks for `noNewPrivileges`, set it, drop capabilities, then call
//! [`Filter::load`] right before `execve`. Otherwise call [`Filter::load`]
//! while `CAP_SYS_ADMIN` is still held (before dropping capabilities), and
//! make sure the syscalls the runtime still needs afterwards are allowed by
//! the profile (they are by Docker's default profile).

mod compile;
mod docker;
mod enosys;
mod error;
mod fd;
mod learn;
mod learned;
mod listener;
mod names;
mod program;

pub use compile::{compile, Filter};
pub use docker::{
    default_profile, docker_to_oci, docker_to_oci_for_kernel, native_arch, ArchMapEntry, DockerArg,
    DockerFilter, DockerProfile, DockerSyscall, KernelVersion, DOCKER_DEFAULT_CAPS,
};
pub use error::{Error, Result};
pub use fd::NotifyFd;
pub use learn::{record, recording_filter, Observed, ALWAYS_ALLOWED, RUNTIME_SYSCALLS};
pub use learned::{allowed_syscalls, learned_profile, syscall_count};
pub use listener::{
    container_process_state, receive_listener_fd, send_listener_fd, send_listener_fd_on,
};
pub use names::{
    name_of, parse_action, parse_arch, parse_flag, parse_linux_seccomp, parse_operator,
};
pub use program::{Program, ProgramCache};
