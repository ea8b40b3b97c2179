//! The crate's single error type.
//!
//! Every message is lower-case and names the cgroup file involved and, for
//! writes, the value that was written, so a failing `set` can be diagnosed
//! from the message alone.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while managing a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing `value` into the cgroup file `path` failed.
    #[error("writing {value:?} to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    /// cgroup v1 refused a memory limit below what the cgroup uses (`EBUSY`);
    /// runc's words, which callers show.
    #[error("unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})")]
    MemoryBelowUsage { limit: i64, usage: u64, peak: u64 },
    /// Reading the cgroup file `path` failed.
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A cgroup file held text that could not be parsed.
    #[error("parsing {}: unexpected content {content:?}", path.display())]
    Parse { path: PathBuf, content: String },
    /// Creating a cgroup directory failed.
    #[error("creating cgroup directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Removing cgroup directories failed; every failure is listed.
    #[error("removing cgroup directories: {}", display_list(.0))]
    Remove(Vec<(PathBuf, std::io::Error)>),
    /// A value in the spec is invalid (reported before anything is written).
    #[error("invalid value for {field}: {reason}")]
    InvalidValue { field: String, reason: String },
    /// The resource is set in the spec but cannot be applied on this
    /// cgroup version / layout (for example `unified` on pure cgroup v1).
    #[error("{resource} is not supported on {layout}")]
    Unsupported {
        resource: String,
        layout: &'static str,
    },
    /// The resource needs a controller that is not mounted / enabled.
    #[error("controller {controller} is not available (needed for {resource})")]
    ControllerMissing {
        controller: String,
        resource: String,
    },
    /// A `unified` key names a controller the cgroup2 hierarchy does not
    /// have (on a cgroup v1 host, any v1-only controller). runc's words
    /// ("invalid configuration") lead, as callers grep them.
    #[error("invalid configuration: unified key {key:?} needs controller {controller}, which the cgroup2 hierarchy here does not have")]
    UnifiedControllerMissing { key: String, controller: String },
    /// The systemd cgroup driver was requested; it is not implemented.
    #[error(
        "the systemd cgroup driver is not supported (cgroupsPath {0:?}); use the cgroupfs driver"
    )]
    SystemdDriverUnsupported(String),
    /// No cgroup hierarchy could be found under the given root.
    #[error("no cgroup filesystem found under {}", .0.display())]
    NoCgroupMount(PathBuf),
    /// The cgroups path escapes the cgroup root or is otherwise unusable.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    /// Freezing or thawing did not reach the wanted state in time.
    #[error("timed out waiting for {} to become {wanted}", path.display())]
    FreezeTimeout { path: PathBuf, wanted: &'static str },
    /// A system call failed (eventfd for OOM notification).
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
}

fn display_list(items: &[(PathBuf, std::io::Error)]) -> String {
    items
        .iter()
        .map(|(p, e)| format!("{}: {e}", p.display()))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidValue {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(resource: impl Into<String>, layout: &'static str) -> Self {
        Error::Unsupported {
            resource: resource.into(),
            layout,
        }
    }
}
