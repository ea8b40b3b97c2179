//! `pause` and `resume`: freeze and thaw every process of a container
//! through its cgroup's freezer. The status then reads `paused` (see
//! `State::status`), as runc's does.

use std::path::Path;

use crate::error::{Error, Result};
use crate::state::Status;

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let (st, status) = super::load(root, id)?;
    if !matches!(status, Status::Running | Status::Created) {
        return Err(Error::State {
            id: id.into(),
            status: status.to_string(),
            action: "container not running".into(),
        });
    }
    super::cgroup_of(&st, "it has no freezer")?.freeze()
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
    super::cgroup_of(&st, "it has no freezer")?.thaw()
}
