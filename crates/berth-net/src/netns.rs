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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

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
        std::thread::spawn(Netns::unshare_here)
            .join()
            .map_err(|_| Error::Command {
                command: "network namespace thread".into(),
                stderr: "panicked".into(),
            })?
    }

    /// Move the calling thread (one that ends afterwards) into a new namespace and hold it.
    fn unshare_here() -> Result<Netns> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| Error::Command {
            command: "unshare a network namespace".into(),
            stderr: e.to_string(),
        })?;
        let ns = std::fs::File::open("/proc/thread-self/ns/net")
            .map_err(io("open /proc/thread-self/ns/net"))?;
        let mut nl = crate::netlink::Netlink::open()?;
        nl.set_link(crate::netlink::index("lo")?, true, None, None, None)?;
        let fd = OwnedFd::from(ns);
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

/// One namespace made ahead of need, so a start takes it instead of waiting for the kernel to make
/// one (0.8-2 ms here: every subsystem sets up its per-namespace state). Nothing has been done to
/// it; it lives as long as this process or until taken.
#[derive(Default)]
pub struct Spare {
    ready: Mutex<Option<Netns>>,
    filling: AtomicBool,
}

impl Spare {
    pub const fn new() -> Spare {
        Spare {
            ready: Mutex::new(None),
            filling: AtomicBool::new(false),
        }
    }

    /// The spare namespace if one is ready (never blocks).
    pub fn ready(&self) -> Option<Netns> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The spare namespace if one is ready, else one made now.
    pub fn take(&self) -> Result<Netns> {
        match self.ready() {
            Some(ns) => Ok(ns),
            None => Netns::create(),
        }
    }

    /// Make the next spare on a thread of its own (unless one is ready or being made); call it
    /// off a start's path, after the start took its namespace.
    pub fn refill(&'static self) {
        if self.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        if self
            .ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            self.filling.store(false, Ordering::Release);
            return;
        }
        std::thread::spawn(move || {
            // A failure shows at the next take, which makes one itself.
            if let Ok(ns) = Netns::unshare_here() {
                *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = Some(ns);
            }
            self.filling.store(false, Ordering::Release);
        });
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

    #[test]
    fn the_spare_is_a_fresh_namespace_each_time() {
        if !root() {
            eprintln!("skipped: needs root");
            return;
        }
        static SPARE: Spare = Spare::new();
        let first = SPARE.take().unwrap();
        SPARE.refill();
        let t = std::time::Instant::now();
        while SPARE.ready.lock().unwrap().is_none() {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(10),
                "no spare made"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let second = SPARE.take().unwrap();
        assert!(SPARE.ready.lock().unwrap().is_none(), "taken");
        assert_ne!(first.inode().unwrap(), second.inode().unwrap());
        // The spare's loopback is up too.
        let bound = crate::netlink::in_netns(std::path::Path::new(second.path()), |_| {
            Ok(std::net::UdpSocket::bind("127.0.0.1:0").is_ok())
        })
        .unwrap();
        assert!(bound);
    }
}
