//! The builder's outside boundaries as traits: the engine implements them (berthd: its image store,
//! snapshotter and containers), unit tests use fakes.

use crate::BuildError;
use berth_image::config::{ContainerConfig, ImageConfig};
use std::path::PathBuf;

/// A base image.
#[derive(Clone, Debug)]
pub struct BaseImage {
    /// `sha256:<hex>`.
    pub id: String,
    /// Its config.
    pub config: ImageConfig,
}

/// What `lstat` of a path inside an image tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// A symlink's target.
    pub link: Option<String>,
}

impl FileMeta {
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }
}

/// Images: base images for FROM, files for COPY --from, and lookups for COPY destinations.
pub trait ImageSource {
    /// The image `name` (a reference or an ID); with `pull`, pulled first (progress to `out`).
    fn get(
        &mut self,
        name: &str,
        pull: bool,
        out: &mut dyn Output,
    ) -> Result<BaseImage, BuildError>;
    /// `lstat` of an absolute path inside an image (`None`: absent).
    fn lstat(&mut self, id: &str, path: &str) -> Result<Option<FileMeta>, BuildError>;
    /// A directory with the image's whole filesystem, valid until the build ends.
    fn rootfs(&mut self, id: &str) -> Result<PathBuf, BuildError>;
    /// The checksum remembered for `key`, which names a `COPY --from` of an image (its ID fixes its
    /// files) with everything else that goes into the checksum, so a cached step needs no root
    /// file system; `None` when unknown.
    fn remembered_checksum(&mut self, _key: &str) -> Option<String> {
        None
    }
    /// Remember `sum` for `key` (see [`ImageSource::remembered_checksum`]).
    fn remember_checksum(&mut self, _key: &str, _sum: &str) {}
}

/// Resources and network of RUN containers (POST /build's parameters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostOptions {
    /// `bridge` (default), `host`, `none` or a network name.
    pub network_mode: String,
    /// Bytes (0: unlimited).
    pub memory: i64,
    /// Memory + swap (-1: unlimited).
    pub memory_swap: i64,
    /// CPU shares.
    pub cpu_shares: i64,
    /// CPUs allowed (`0-1`).
    pub cpuset_cpus: String,
    /// Memory nodes allowed.
    pub cpuset_mems: String,
    /// CFS period.
    pub cpu_period: i64,
    /// CFS quota.
    pub cpu_quota: i64,
    /// /dev/shm size in bytes.
    pub shm_size: i64,
    /// `host:ip` entries for /etc/hosts.
    pub extra_hosts: Vec<String>,
}

/// One RUN step's container.
#[derive(Clone, Debug, PartialEq)]
pub struct RunStep {
    /// The image it runs on.
    pub image: String,
    /// Its config: Cmd (the command), Env (with build args), User, WorkingDir; no Entrypoint.
    pub config: ContainerConfig,
    /// Resources and network.
    pub host: HostOptions,
}

/// Runs RUN steps as containers.
pub trait StepRunner {
    /// Create the container; returns its ID.
    fn create(&mut self, step: &RunStep) -> Result<String, BuildError>;
    /// Start it, copy its output to `out` as it comes, and wait: returns the exit code.
    fn run(&mut self, container: &str, out: &mut dyn Output) -> Result<i32, BuildError>;
    /// Remove it (and its file system).
    fn remove(&mut self, container: &str) -> Result<(), BuildError>;
}

/// What a new image adds on top of its parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    /// Nothing (a metadata step).
    None,
    /// A layer tar written by the builder (COPY/ADD).
    Tar(PathBuf),
    /// The changes a RUN container made.
    Container(String),
    /// The `index`th layer of an existing image (a `cachefrom` image's step taken over).
    Existing {
        /// The image.
        image: String,
        /// Which of its layers (0: the bottom one).
        index: usize,
    },
}

/// The image store: the cache's lookups, commits and tags.
pub trait LayerStore {
    /// Images whose parent is `parent` (`None`: images without a parent), with their configs.
    fn children(&mut self, parent: Option<&str>) -> Result<Vec<BaseImage>, BuildError>;
    /// The parent of an image, if it has one (for `cachefrom` chains).
    fn parent(&mut self, id: &str) -> Result<Option<String>, BuildError>;
    /// A new image: `parent`'s layers (none for `None`), then `layer`'s, and `config` (whose
    /// `rootfs.diff_ids` the store completes with the new layer). Returns its ID.
    fn commit(
        &mut self,
        parent: Option<&str>,
        layer: Layer,
        config: ImageConfig,
    ) -> Result<String, BuildError>;
    /// Name an image.
    fn tag(&mut self, id: &str, name: &str) -> Result<(), BuildError>;
}

/// Where the build's output goes (the classic `{"stream": ...}` lines).
pub trait Output {
    /// Some text (whole lines, or a RUN step's output as it comes).
    fn stream(&mut self, text: &str);
    /// The final image's ID, before `Successfully built` (the `{"aux": {"ID": ...}}` message).
    fn aux_id(&mut self, _id: &str) {}
    /// Whether the client has gone: the build stops before its next step, as dockerd cancels a
    /// build whose client disconnected.
    fn cancelled(&self) -> bool {
        false
    }
}

impl Output for Vec<String> {
    fn stream(&mut self, text: &str) {
        self.push(text.to_string());
    }
}

/// The 12-hex-digit short form of an ID.
pub fn short(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..12.min(h.len())]
}
