//! berth-build: Berth's image builder, the classic Docker builder's behaviour without any HTTP types.
//!
//! - [`parser`]: the Dockerfile (directives, continuations, comments, JSON vs shell forms).
//! - [`shell`]: variable substitution (`$V`, `${V:-x}`, `${V:+x}`, quotes, escapes).
//! - [`ignore`]: `.dockerignore` patterns.
//! - [`plan`]: build args and `ARG` scoping, stages, `--target`, the step count.
//! - [`copy`]: COPY/ADD sources (wildcards, directories, local tar extraction), their checksum and layer.
//! - [`tree`]: the trees COPY reads: a directory, or a context held in memory as it was unpacked.
//! - [`exec`]: the executor: one step at a time, the classic layer cache (an image whose parent is the
//!   current image and whose `ContainerConfig` equals this step's is reused), progress lines.
//! - [`boundary`]: the traits at its edges ([`ImageSource`], [`StepRunner`], [`LayerStore`], [`Output`]);
//!   berthd implements them over its image store and containers, tests over fakes.

pub mod boundary;
pub mod copy;
pub mod exec;
pub mod ignore;
pub mod parser;
pub mod plan;
pub mod shell;
pub mod tree;

pub use boundary::{
    BaseImage, FileMeta, HostOptions, ImageSource, Layer, LayerStore, Output, RunStep, StepRunner,
};
pub use exec::{build, BuildOptions, BuildResult};

/// Build errors. Their text is what the client prints after the build's output.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse.
    #[error("dockerfile parse error line {line}: {message}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A substitution is malformed.
    #[error("{0}")]
    Substitution(String),
    /// An instruction is used wrongly (`EXPOSE` of a bad port, a missing stage...).
    #[error("{0}")]
    Invalid(String),
    /// A RUN step failed.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        /// The command as Docker shows it.
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// A COPY/ADD source problem.
    #[error("{0}")]
    Copy(String),
    /// The base image is missing or cannot be pulled.
    #[error("{0}")]
    Image(String),
    /// The engine failed (container, store).
    #[error("{0}")]
    Engine(String),
    /// The client went away; the build stopped before its next step.
    #[error("context canceled")]
    Cancelled,
    /// Reading the context or writing a layer failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl BuildError {
    /// An I/O error while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> BuildError {
        BuildError::Io {
            context: context.into(),
            source,
        }
    }
}
