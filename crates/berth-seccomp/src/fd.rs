//! [`NotifyFd`], the owned seccomp user-notification listener.
//!
//! libseccomp hands the listener out as a bare `int`. Turning a raw fd into
//! a `std::os::fd::OwnedFd` needs `unsafe`, which this workspace denies, so
//! the listener is wrapped in this small owning type instead: it closes the
//! fd when dropped, and [`NotifyFd::into_raw_fd`] gives up ownership for
//! callers that pass it on (e.g. with `SCM_RIGHTS`).

use std::os::fd::{AsRawFd, IntoRawFd, RawFd};

/// The seccomp user-notification listener returned by
/// [`crate::Filter::load`]. Owns the fd and closes it on drop.
///
/// The kernel creates it close-on-exec, so it does not leak into the
/// container's program.
#[derive(Debug)]
pub struct NotifyFd {
    fd: RawFd,
}

impl NotifyFd {
    /// Takes ownership of `fd`, which nothing else may close.
    pub(crate) fn from_raw_owned(fd: RawFd) -> Self {
        Self { fd }
    }
}

impl AsRawFd for NotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl IntoRawFd for NotifyFd {
    fn into_raw_fd(self) -> RawFd {
        let fd = self.fd;
        std::mem::forget(self);
        fd
    }
}

impl Drop for NotifyFd {
    fn drop(&mut self) {
        // Nothing useful can be done about a failed close here.
        let _ = nix::unistd::close(self.fd);
    }
}
