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
        if !nix::unistd::geteuid().is_root() {
            // Rootless: cgroup directories belong to root unless a hierarchy was
            // delegated, which is not supported yet; limits cannot hold then.
            let limited = spec
                .linux()
                .as_ref()
                .and_then(|l| l.resources().as_ref())
                .is_some_and(|r| {
                    r.memory().is_some()
                        || r.cpu().is_some()
                        || r.pids().is_some()
                        || r.block_io().is_some()
                        || r.hugepage_limits().is_some()
                        || r.unified().is_some()
                });
            if limited {
                return Err(Error::Cgroup(
                    "linux.resources: a rootless container cannot have resource limits (no delegated cgroup)".into(),
                ));
            }
            crate::log::debug("rootless: running without a cgroup");
            return Ok(None);
        }
        berth_cgroups::create_default(path.as_deref(), id)
            .map(|m| Some(Cgroup(m)))
            .map_err(|e| Error::Cgroup(format!("linux.cgroupsPath: {e}")))
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

    /// Move `pid` into the existing cgroup (`exec`); never creates it.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        self.0.add_process(Pid::from_raw(pid)).map_err(err)
    }

    pub fn set(&self, res: &LinuxResources) -> Result<()> {
        let outcome = self.0.set(res).map_err(err)?;
        if let Some(program) = outcome.device_program() {
            // cgroup v2 has no devices files: the rules become an eBPF
            // program attached to the container's cgroup directory.
            let dir = self.0.path();
            let fd = crate::mounts::open_fd(&dir, nix::fcntl::OFlag::O_DIRECTORY)
                .map_err(|e| Error::Cgroup(format!("open {}: {e}", dir.display())))?;
            use std::os::fd::AsFd;
            berth_sys::attach_cgroup_device_filter(&program.to_bytes(), fd.as_fd()).map_err(
                |e| Error::Cgroup(format!("linux.resources.devices on {}: {e}", dir.display())),
            )?;
        }
        Ok(())
    }

    /// `exec --cgroup`: the container's cgroup with existing sub-cgroups
    /// swapped in, runc's way. Each argument is `path` (every controller;
    /// alone) or `controller[,controller...]:path`. On cgroup v2 only the
    /// plain path counts; a controller-prefixed one leaves the base.
    pub fn with_sub_cgroups(&self, args: &[String]) -> Result<Cgroup> {
        let subs = parse_sub_cgroups(args)?;
        let mut paths = self.paths();
        let join = |base: &std::path::Path, sub: &str| -> Result<std::path::PathBuf> {
            let rel = std::path::Path::new(sub.trim_start_matches('/'));
            if sub.is_empty()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(Error::Usage(format!(
                    "--cgroup: {sub:?} is not a sub-cgroup path"
                )));
            }
            let dir = base.join(rel);
            if !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "--cgroup: sub-cgroup {} does not exist",
                    dir.display()
                )));
            }
            Ok(dir)
        };
        if paths.v1.is_empty() {
            if let (Some(sub), Some(base)) = (subs.get(""), paths.unified.clone()) {
                paths.unified = Some(join(&base, sub)?);
            }
        } else {
            for (ctrl, sub) in &subs {
                let targets: Vec<String> = if ctrl.is_empty() {
                    paths.v1.keys().cloned().collect()
                } else if paths.v1.contains_key(ctrl) {
                    vec![ctrl.clone()]
                } else {
                    return Err(Error::Usage(format!("--cgroup: unknown controller {ctrl}")));
                };
                for t in targets {
                    let dir = join(&paths.v1[&t], sub)?;
                    paths.v1.insert(t, dir);
                }
            }
        }
        Ok(Cgroup(berth_cgroups::from_paths(paths)))
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

    pub fn state(&self) -> Result<FreezerState> {
        self.0.state().map_err(err)
    }

    pub fn stats(&self) -> Result<berth_cgroups::Stats> {
        self.0.stats().map_err(err)
    }

    pub fn oom_notifier(&self) -> Result<berth_cgroups::OomNotifier> {
        self.0.oom_notifier().map_err(err)
    }

    pub fn exists(&self) -> bool {
        self.0.exists()
    }

    /// The main directory (v1: the memory controller's).
    pub fn path(&self) -> std::path::PathBuf {
        self.0.path()
    }

    pub fn paths(&self) -> CgroupPaths {
        self.0.paths().clone()
    }
}

/// The device rules of the config with what every container needs put in
/// after its leading deny-all rules: the default nodes init creates, ptys,
/// and the config's own linux.devices (a config that denies everything still
/// gets /dev/null). Later rules of the config, explicit denies included, keep
/// the last word.
pub fn with_default_devices(res: &LinuxResources, spec: &Spec) -> LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some("rwm".to_string()));
        r
    };
    let mut out = res.clone();
    let rules = res.devices().clone().unwrap_or_default();
    if rules.is_empty() {
        return out;
    }
    let deny_all = |r: &LinuxDeviceCgroup| {
        !r.allow()
            && matches!(r.typ(), None | Some(LinuxDeviceType::A))
            && r.major().is_none()
            && r.minor().is_none()
    };
    let split = rules.iter().rposition(deny_all).map_or(0, |i| i + 1);
    let mut merged: Vec<LinuxDeviceCgroup> = rules[..split].to_vec();
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
        merged.push(rule(C, Some(major), Some(minor)));
    }
    // The container's own devpts instance.
    merged.push(rule(C, Some(136), None));
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        // A FIFO is no device: the device cgroup neither knows nor guards it.
        .filter(|d| d.typ() != LinuxDeviceType::P)
    {
        merged.push(rule(d.typ(), Some(d.major()), Some(d.minor())));
    }
    merged.extend_from_slice(&rules[split..]);
    out.set_devices(Some(merged));
    out
}

/// `exec --cgroup` arguments as runc reads them: controller -> sub-path,
/// with "" for a path given alone (which must then be the only argument).
fn parse_sub_cgroups(args: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for a in args {
        match a.split_once(':') {
            Some((ctrls, path)) => {
                for c in ctrls.split(',') {
                    if c.is_empty() {
                        return Err(Error::Usage(format!(
                            "invalid --cgroup argument: {a} (empty <controller> prefix)"
                        )));
                    }
                    if out.insert(c.to_string(), path.to_string()).is_some() {
                        return Err(Error::Usage(format!(
                            "invalid --cgroup argument(s): controller {c} specified multiple times"
                        )));
                    }
                }
            }
            None if args.len() != 1 => {
                return Err(Error::Usage(format!(
                    "invalid --cgroup argument: {a} (missing <controller>: prefix)"
                )))
            }
            None => {
                out.insert(String::new(), a.clone());
            }
        }
    }
    Ok(out)
}

/// Whether the container's cgroup is frozen (status `paused`).
pub fn is_frozen(state: &State) -> bool {
    Cgroup::from_state(state).is_some_and(|c| matches!(c.0.state(), Ok(FreezerState::Frozen)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_cgroup_arguments_are_read_like_runc() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = parse_sub_cgroups(&args(&["cpu,memory:sub", "pids:other"])).unwrap();
        assert_eq!(m["cpu"], "sub");
        assert_eq!(m["memory"], "sub");
        assert_eq!(m["pids"], "other");
        assert_eq!(parse_sub_cgroups(&args(&["sub"])).unwrap()[""], "sub");
        for bad in [&["a", "b"][..], &[":x"], &["cpu:a", "cpu:b"]] {
            assert!(parse_sub_cgroups(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn default_devices_go_after_deny_all_and_before_later_rules() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {
                "devices": [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}],
                "resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"}
                ]}
            }
        }))
        .unwrap();
        let res = spec.linux().as_ref().unwrap().resources().as_ref().unwrap();
        let merged = with_default_devices(res, &spec);
        let rules: Vec<String> = merged
            .devices()
            .iter()
            .flatten()
            .map(|r| format!("{} {r}", if r.allow() { "allow" } else { "deny" }))
            .collect();
        assert_eq!(rules.first().unwrap(), "deny a *:* rwm");
        assert!(rules.contains(&"allow c 1:3 rwm".to_string()));
        assert_eq!(rules[rules.len() - 2], "allow c 1:11 rwm");
        assert_eq!(rules.last().unwrap(), "deny c 1:11 rwm");
    }
}
