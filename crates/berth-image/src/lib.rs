//! berth-image: everything about container images for Berth.
//!
//! - [`store::Store`]: a content-addressable blob store (sha256 verified on write, atomic, deduplicated)
//!   with a table of names ([`reference::Reference`], Docker-style) to manifests.
//! - [`media`]: OCI and Docker schema 2 manifests, indexes and media types (types from `oci-spec`).
//! - [`extract`]: safe layer extraction (gzip/zstd/plain, whiteouts, xattrs, owners, modes, mtimes,
//!   diffID verification) that never writes outside its root; [`pack`] writes trees back as layers.
//! - [`snapshot`]: the [`snapshot::Snapshotter`] trait, the overlayfs implementation and a fake.
//! - [`layout`], [`archive`]: OCI image layouts and `docker save` archives, in and out.
//! - [`image`]: resolving, unpacking, rootfs import, filesystem export, commit.
//! - [`config`]: image config and the runtime defaults the engine needs.
//! - [`registry`]: a Distribution API v2 client (pull/push, auth, mounts, resumable parallel pulls).
//! - [`layer_size`]: a layer's size unpacked, as Docker reports image sizes.
//! - [`gc`]: garbage collection of blobs and layers.

pub mod archive;
pub mod compression;
pub mod config;
pub mod deleter;
pub mod digest;
pub mod extract;
pub mod gc;
pub mod image;
pub mod init_layer;
pub mod layer_size;
pub mod layout;
pub mod media;
pub mod pack;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod store;
pub mod transfer;

pub use digest::Digest;
pub use reference::Reference;
pub use store::{ImageRecord, Store};
