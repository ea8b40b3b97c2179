//! The terminal of a `tty` container: the runtime connects to our console socket during `create` and
//! sends the pty master with SCM_RIGHTS (runc's `--console-socket` protocol).

use anyhow::{anyhow, Context, Result};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// Accept one connection and receive the master.
pub fn receive(l: UnixListener) -> Result<OwnedFd> {
    let (conn, _) = l.accept().context("accept on the console socket")?;
    match berth_sys::recv_fd(conn.as_fd()).context("receive the pty master")? {
        Some((fd, _)) => Ok(fd),
        None => Err(anyhow!(
            "the runtime closed the console socket without a terminal"
        )),
    }
}
