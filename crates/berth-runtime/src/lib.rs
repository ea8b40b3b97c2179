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

/// Whether this process is a standby runtime running the start it waited for.
static STANDBY_START: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Unmap the binary's read-only pages a stage is done with (they stay in the page cache), so the
/// peak RSS is what one stage maps, not the sum of all. Not in a standby runtime: it gave back
/// what its start-up touched while it waited, and it exits once the start it runs is done, so a
/// drop there would only make it fault the same pages in again on the start's path.
pub(crate) fn drop_stage_pages() {
    if !STANDBY_START.load(std::sync::atomic::Ordering::Relaxed) {
        berth_sys::drop_readonly_segments();
    }
}

pub use error::{Error, Result};
