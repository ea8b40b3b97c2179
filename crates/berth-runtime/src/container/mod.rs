//! Container lifecycle operations, one file each.

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod init;
pub mod kill;
pub mod pause;
pub mod ps;
pub mod run;
pub mod start;
pub mod update;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::state::{State, Status};

/// Load a container and its current status.
pub fn load(root: &Path, id: &str) -> Result<(State, Status)> {
    let st = State::load(root, id)?;
    let status = st.status(root);
    Ok((st, status))
}

/// Load a container that has not stopped; `action` is the refusal's text.
pub fn load_live(root: &Path, id: &str, action: &str) -> Result<(State, Status)> {
    let (st, status) = load(root, id)?;
    if status == Status::Stopped {
        return Err(Error::State {
            id: id.into(),
            status: status.to_string(),
            action: action.into(),
        });
    }
    Ok((st, status))
}

/// The container's cgroup; `need` says what it is needed for, in the error
/// (an unprivileged container may run without one).
pub fn cgroup_of(st: &State, need: &str) -> Result<Cgroup> {
    Cgroup::from_state(st).ok_or_else(|| {
        Error::Cgroup(format!(
            "container {} runs without a cgroup, so {need}",
            st.id
        ))
    })
}

/// Wait until init is gone (or a zombie), up to `timeout`.
pub fn wait_gone(st: &State, timeout: Duration) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    // A pidfd turns readable the moment init exits, where sleeps in a loop
    // overshoot (a killed /bin/true: 0.6 ms of sleeps for a 0.1 ms exit).
    // It is opened before the check that the pid is still init's, so a
    // recycled pid is never waited for; each wake-up checks again.
    let pidfd = berth_sys::pidfd_open(st.pid).ok();
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    while st.init_alive() {
        if start.elapsed() > timeout {
            return Err(Error::State {
                id: st.id.clone(),
                status: "still running".into(),
                action: format!("init (pid {}) did not exit within {:?}", st.pid, timeout),
            });
        }
        match &pidfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(20u16));
            }
            None => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
    Ok(())
}
