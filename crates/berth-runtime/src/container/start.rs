//! `start`: release a created container's init from the exec fifo, then run
//! the poststart hooks.

use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{State, Status, EXEC_FIFO};

pub fn start(root: &Path, id: &str) -> Result<()> {
    let (st, status) = super::load(root, id)?;
    crate::log_debug!("start {id}: init pid {}, status {status}", st.pid);
    match status {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::State {
                id: id.into(),
                status: status.to_string(),
                action: "cannot start a container that has stopped".into(),
            })
        }
        _ => {
            return Err(Error::State {
                id: id.into(),
                status: status.to_string(),
                action: "cannot start an already running container".into(),
            })
        }
    }
    release(root, &st)?;
    if let Some(spec) = crate::state::saved_spec(root, &st) {
        if let Some(h) = spec.hooks() {
            let json =
                serde_json::to_string(&st.hook_state(Status::Running)).expect("state serializes");
            hooks::run_all_warn("poststart", h.poststart().as_ref(), &json);
        }
    }
    Ok(())
}

/// Open the fifo's read end and take init's byte; init then execs. The open
/// does not block, and init's death is noticed while waiting.
pub fn release(root: &Path, st: &State) -> Result<()> {
    let path = st.dir(root).join(EXEC_FIFO);
    let mut fifo = fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&path)
        .with_ctx(|| format!("open {}", path.display()))?;
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(100u16)).ctx("wait on exec fifo")?;
        if n > 0 {
            let mut buf = [0u8; 1];
            match fifo.read(&mut buf) {
                Ok(1) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).ctx("read exec fifo"),
            }
        }
        if !st.init_alive() {
            let _ = fs::remove_file(&path);
            return Err(Error::State {
                id: st.id.clone(),
                status: "stopped".into(),
                action: "init exited before start".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Init has its byte and runs: a program that exits at once may already have been reaped and
    // the container deleted (state directory and fifo gone) by the engine's shim.
    match fs::remove_file(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r.with_ctx(|| format!("remove {}", path.display())),
    }
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(OFlag::O_NONBLOCK.bits())
    }
}
