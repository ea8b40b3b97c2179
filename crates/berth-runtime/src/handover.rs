//! What a standby runtime (`--standby`, see `cli::standby`) hands back to the berth-shim that
//! started it, over the socket its command line came on: the container's mount namespace, sent
//! while init is parked and alive, then `done` once its command has succeeded.
//!
//! The shim holds it until it has told berthd of the container's exit, so init's exit does not
//! tear the namespace down (an expedited RCU grace period, then every mount's superblock, 0.3-0.6
//! ms on this VM) before its parent can reap it: that work moves to the shim's close, after the
//! exit is known. Best effort: a runtime started any other way has no socket, and a failed send
//! only leaves the teardown where it was.

use std::os::unix::net::UnixStream;
use std::sync::Mutex;

static SOCKET: Mutex<Option<UnixStream>> = Mutex::new(None);

/// Keep the standby's socket for the hand-over.
pub fn set_socket(s: UnixStream) {
    *SOCKET.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
}

/// Send the mount namespace of init (`pid`, alive) to the shim, named `mnt` (as a console
/// master goes to its socket); nothing without a socket.
pub fn send_mount_namespace(pid: i32) {
    let guard = SOCKET.lock().unwrap_or_else(|e| e.into_inner());
    let Some(sock) = guard.as_ref() else {
        return;
    };
    let Ok(ns) = std::fs::File::open(format!("/proc/{pid}/ns/mnt")) else {
        return;
    };
    let _ = crate::container::init::send_fd(
        sock,
        &std::os::fd::OwnedFd::from(ns),
        std::path::Path::new("mnt"),
    );
}

/// The word [`tell_done`] sends.
pub const DONE: &[u8] = b"done";

/// Tell the shim that the command succeeded (its exit status will be 0), then close the socket:
/// the shim answers berthd at once instead of waiting for this process to end. Nothing without a
/// socket.
pub fn tell_done() {
    use std::io::Write;
    if let Some(mut sock) = SOCKET.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = sock.write_all(DONE);
    }
}
