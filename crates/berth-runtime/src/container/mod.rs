//! Container lifecycle operations, one file each.

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

use crate::error::{Error, Result};
use crate::state::{State, Status};

/// Load a container and its current status.
pub fn load(root: &Path, id: &str) -> Result<(State, Status)> {
    let st = State::load(root, id)?;
    let status = st.status(root);
    Ok((st, status))
}

/// Wait until init is gone (or a zombie), up to `timeout`.
pub fn wait_gone(st: &State, timeout: Duration) -> Result<()> {
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
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    Ok(())
}
