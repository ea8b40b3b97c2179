//! The runtime's use of berth-cgroups: one cgroup per container, resolved
//! from `linux.cgroupsPath` at create time, saved in the state as resolved
//! paths, and rebuilt from them for kill, delete and status.

use berth_cgroups::{CgroupManager, CgroupPaths, FreezerState, Pid};
use oci_spec::runtime::{LinuxResources, Spec};

use crate::error::{Error, Result};
use crate::state::State;

pub struct Cgroup(Box<dyn CgroupManager>);

fn err(e: berth_cgroups::Error) -> Error {
    Error::Cgroup(e.to_string())
}

impl Cgroup {
    /// The container's cgroup as its config asks. An unprivileged caller
    /// without a delegated hierarchy runs without one, as runc does.
    pub fn for_spec(id: &str, spec: &Spec) -> Result<Option<Cgroup>> {
        let path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        match berth_cgroups::create_default(path.as_deref(), id) {
            Ok(m) => Ok(Some(Cgroup(m))),
            Err(e) if !nix::unistd::geteuid().is_root() => {
                crate::log::debug(&format!("running without a cgroup: {e}"));
                Ok(None)
            }
            Err(e) => Err(Error::Cgroup(format!("linux.cgroupsPath: {e}"))),
        }
    }

    pub fn from_state(state: &State) -> Option<Cgroup> {
        state
            .cgroup
            .clone()
            .map(|p| Cgroup(berth_cgroups::from_paths(p)))
    }

    pub fn apply(&self, pid: i32) -> Result<()> {
        self.0.apply(Pid::from_raw(pid)).map_err(err)
    }

    pub fn set(&self, res: &LinuxResources) -> Result<()> {
        let outcome = self.0.set(res).map_err(err)?;
        if outcome.device_program().is_some() {
            // cgroup v2 enforces device rules with an eBPF program; loading it
            // is not wired up yet, so say so instead of pretending.
            crate::log::warn("linux.resources.devices: not enforced on cgroup v2 yet");
        }
        Ok(())
    }

    pub fn destroy(&self) -> Result<()> {
        self.0.destroy().map_err(err)
    }

    pub fn freeze(&self) -> Result<()> {
        self.0.freeze().map_err(err)
    }

    pub fn thaw(&self) -> Result<()> {
        self.0.thaw().map_err(err)
    }

    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(self
            .0
            .pids()
            .map_err(err)?
            .into_iter()
            .map(|p| p.as_raw())
            .collect())
    }

    pub fn signal_all(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        self.0.signal_all(sig).map_err(err)
    }

    pub fn paths(&self) -> CgroupPaths {
        self.0.paths().clone()
    }
}

/// The device rules of the config, followed by what every container needs:
/// the default nodes init creates, ptys, and the config's own devices
/// (as runc does; a config that denies everything still gets /dev/null).
pub fn with_default_devices(res: &LinuxResources, spec: &Spec) -> LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    let mut out = res.clone();
    let mut rules = res.devices().clone().unwrap_or_default();
    if rules.is_empty() {
        return out;
    }
    use LinuxDeviceType::C;
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(rule(C, Some(major), Some(minor), "rwm"));
    }
    // The container's own devpts instance.
    rules.push(rule(C, Some(136), None, "rwm"));
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        rules.push(rule(d.typ(), Some(d.major()), Some(d.minor()), "rwm"));
    }
    out.set_devices(Some(rules));
    out
}

/// Whether the container's cgroup is frozen (status `paused`).
pub fn is_frozen(state: &State) -> bool {
    Cgroup::from_state(state).is_some_and(|c| matches!(c.0.state(), Ok(FreezerState::Frozen)))
}
