//! A network namespace made ahead of the runtime (as Podman and CNI callers do), so a networked
//! container's interfaces are set up before its init exists and the runtime starts it in one call
//! (`run --detach`), joining the namespace by path like `--network container:`.
//!
//! The namespace is held only by a descriptor of this process ([`Netns`]); the runtime is given
//! `/proc/<our pid>/fd/<n>`. Nothing of it is on the file system: when the holder drops it (the
//! container's init has joined it by then, or the start failed) or this process dies, even by
//! `kill -9`, the kernel removes the namespace, and the container ends of its veths with it (their
//! host ends go too). A bind mount (iproute2's `/run/netns`, Docker's `SandboxKey`) would outlive a
//! crash and need a sweep, and its copies in mount namespaces made meanwhile keep namespaces alive.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::error::{io, Error, Result};

/// A fresh network namespace with its loopback up, held by a descriptor.
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
    path: String,
}

impl Netns {
    /// Make a namespace: on a thread of its own that unshares and ends (a namespace switch never
    /// happens on a caller's thread, which may be a pool's).
    pub fn create() -> Result<Netns> {
        let fd = std::thread::spawn(|| -> Result<OwnedFd> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                Error::Command {
                    command: "unshare a network namespace".into(),
                    stderr: e.to_string(),
                }
            })?;
            let ns = std::fs::File::open("/proc/thread-self/ns/net")
                .map_err(io("open /proc/thread-self/ns/net"))?;
            let mut nl = crate::netlink::Netlink::open()?;
            nl.set_link(crate::netlink::index("lo")?, true, None, None, None)?;
            Ok(OwnedFd::from(ns))
        })
        .join()
        .map_err(|_| Error::Command {
            command: "network namespace thread".into(),
            stderr: "panicked".into(),
        })??;
        let path = format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd());
        Ok(Netns { fd, path })
    }

    /// The path another process (the runtime) or thread opens to join it, valid while `self` lives.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The namespace's inode (what `/proc/<pid>/ns/net` of a process in it links to).
    pub fn inode(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        let f = std::fs::File::from(self.fd.try_clone().map_err(io("dup the namespace"))?);
        Ok(f.metadata().map_err(io("stat the namespace"))?.ino())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn a_namespace_is_joinable_by_path_until_dropped() {
        if !root() {
            eprintln!("skipped: needs root");
            return;
        }
        let ns = Netns::create().unwrap();
        let host = std::fs::metadata("/proc/self/ns/net").unwrap();
        let path = ns.path().to_string();
        let inode = ns.inode().unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(inode, host.ino(), "a new namespace, not ours");
        // Another thread joins it by path: its loopback is up (127.0.0.1 is bound only then).
        let bound = crate::netlink::in_netns(std::path::Path::new(&path), |_| {
            Ok(std::net::UdpSocket::bind("127.0.0.1:0")
                .map(|_| ())
                .map_err(|e| e.to_string()))
        })
        .unwrap();
        assert_eq!(bound, Ok(()));
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        drop(ns);
        assert!(
            std::fs::metadata(&path).map(|m| m.ino()).ok() != Some(inode),
            "the path is gone with the descriptor"
        );
    }
}
