//! The runtime's use of berth-cgroups: one cgroup per container, created
//! from `linux.cgroupsPath` and rebuilt from the saved state later.

use oci_spec::runtime::{LinuxResources, Spec};

use crate::error::Result;
use crate::state::State;

pub struct Cgroup {
    path: String,
}

impl Cgroup {
    pub fn for_spec(_id: &str, _spec: &Spec) -> Result<Option<Cgroup>> {
        Ok(None)
    }
    pub fn from_state(state: &State) -> Option<Cgroup> {
        state
            .cgroup_path
            .as_ref()
            .map(|p| Cgroup { path: p.clone() })
    }
    pub fn apply(&self, _pid: i32) -> Result<()> {
        Ok(())
    }
    pub fn set(&self, _res: &LinuxResources) -> Result<()> {
        Ok(())
    }
    pub fn destroy(&self) -> Result<()> {
        Ok(())
    }
    pub fn thaw(&self) -> Result<()> {
        Ok(())
    }
    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(Vec::new())
    }
    pub fn path_string(&self) -> String {
        self.path.clone()
    }
}

/// Whether the container's cgroup is frozen (status `paused`).
pub fn is_frozen(_state: &State) -> bool {
    false
}
