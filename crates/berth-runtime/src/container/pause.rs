//! `pause` and `resume`: freeze and thaw every process of a container
//! through its cgroup's freezer. The status then reads `paused` (see
//! `State::status`), as runc's does.

use std::path::Path;

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::state::{State, Status};

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let (st, status) = super::load(root, id)?;
    if !matches!(status, Status::Running | Status::Created) {
        return Err(Error::State {
            id: id.into(),
            status: status.to_string(),
            action: "container not running".into(),
        });
    }
    cgroup(&st)?.freeze()
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let (st, status) = super::load(root, id)?;
    if status != Status::Paused {
        return Err(Error::State {
            id: id.into(),
            status: status.to_string(),
            action: "container not paused".into(),
        });
    }
    cgroup(&st)?.thaw()
}

fn cgroup(st: &State) -> Result<Cgroup> {
    Cgroup::from_state(st).ok_or_else(|| {
        Error::Cgroup(format!(
            "container {} runs without a cgroup, so it has no freezer",
            st.id
        ))
    })
}
