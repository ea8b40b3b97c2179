//! berth-runtime: an OCI runtime-spec runtime with runc's command line.
//!
//! `cli` parses runc's flags; `container/` has one module per operation;
//! `container::init` is what runs inside the new namespaces before exec.
//! State lives under `--root` (see `state`); nothing of the runtime stays
//! running once a command returns.

pub mod cgroups;
pub mod cli;
pub mod container;
pub mod error;
pub mod features;
pub mod handover;
pub mod hooks;
pub mod idmap;
pub mod landlock;
pub mod log;
pub mod mounts;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sync;
pub mod sysctl;

pub use error::{Error, Result};
