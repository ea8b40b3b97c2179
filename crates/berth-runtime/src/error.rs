//! The runtime's error type: one enum, lower-case messages, the failing step named.

use std::io;

/// Everything that can go wrong in a runtime command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.' and '+' (1-1024 chars, not starting with '.')")]
    InvalidId(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("invalid config.json: {0}")]
    Config(String),
    #[error("container {id} is {status}: {action}")]
    State {
        id: String,
        status: String,
        action: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("container init failed: {0}")]
    Init(String),
    #[error("{0}")]
    Hook(String),
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("{0}")]
    Unsupported(String),
    /// A command-line flag with a bad value (the message names the flag).
    #[error("{0}")]
    Usage(String),
    /// What a process started by `exec` reported before it could exec.
    #[error("{0}")]
    Exec(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attach the name of a step to an OS error.
pub trait Context<T> {
    fn ctx<C: Into<String>>(self, context: C) -> Result<T>;
    fn with_ctx<C: Into<String>, F: FnOnce() -> C>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx<C: Into<String>>(self, context: C) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context.into(),
            source,
        })
    }
    fn with_ctx<C: Into<String>, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: f().into(),
            source,
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx<C: Into<String>>(self, context: C) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: context.into(),
            source: io::Error::from(e),
        })
    }
    fn with_ctx<C: Into<String>, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: f().into(),
            source: io::Error::from(e),
        })
    }
}
