//! The runtime's use of berth-cgroups: one cgroup per container, resolved
//! from `linux.cgroupsPath` at create time, saved in the state as resolved
//! paths, and rebuilt from them for kill, delete and status.

use std::path::Path;

use std::os::fd::OwnedFd;

use berth_cgroups::{CgroupManager, CgroupPaths, FreezerState, Joined, Pid};
use nix::fcntl::OFlag;
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
        let m = berth_cgroups::create_default(path.as_deref(), id)
            .map_err(|e| Error::Cgroup(format!("linux.cgroupsPath: {e}")))?;
        // A cgroup frozen in advance would freeze init as soon as it joins,
        // and create would wait for it forever: refuse it first, as runc
        // does. (A cgroup that does not exist yet cannot be frozen; the read
        // fails then and is no answer.)
        if matches!(m.state(), Ok(FreezerState::Frozen | FreezerState::Freezing)) {
            return Err(Error::Cgroup(format!(
                "container's cgroup unexpectedly frozen ({})",
                m.path().display()
            )));
        }
        // A cgroup shared with processes already there works, but kill --all
        // and delete would reach them too: warn, in runc's words.
        if let Ok(pids) = m.pids() {
            if !pids.is_empty() {
                crate::log::warn(&format!(
                    "container's cgroup is not empty: {} process(es) found ({})",
                    pids.len(),
                    m.path().display()
                ));
            }
        }
        Ok(Some(Cgroup(m)))
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

    /// [`Cgroup::apply`] for a process that entered part of the cgroup on
    /// its own (cloned into the cgroup2 directory, or joining the v1
    /// hierarchies through [`Cgroup::self_join_files`]).
    pub fn apply_joined(&self, pid: i32, joined: Joined) -> Result<()> {
        self.0.apply_joined(Pid::from_raw(pid), joined).map_err(err)
    }

    /// The cgroup2 directory opened for `CLONE_INTO_CGROUP`; `create`
    /// makes it first (with its controllers), else it must exist.
    pub fn clone_target(&self, create: bool) -> Result<Option<OwnedFd>> {
        let dir = if create {
            self.0.prepare_clone_target().map_err(err)?
        } else {
            self.0.clone_target()
        };
        let Some(dir) = dir else {
            return Ok(None);
        };
        crate::mounts::open_fd(&dir, OFlag::O_DIRECTORY | OFlag::O_RDONLY)
            .map(Some)
            .map_err(|e| Error::Cgroup(format!("open {}: {e}", dir.display())))
    }

    /// The v1 `tasks` files, opened for writing, for a single-threaded
    /// process to move itself in with `0` (see
    /// `CgroupManager::self_join_files`). The cgroup must exist.
    pub fn self_join_files(&self) -> Result<Vec<OwnedFd>> {
        self.0
            .self_join_files()
            .iter()
            .map(|f| {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(OFlag::O_CLOEXEC.bits())
                    .open(f)
                    .map(OwnedFd::from)
                    .map_err(|e| Error::Cgroup(format!("open {}: {e}", f.display())))
            })
            .collect()
    }

    /// [`Cgroup::add_process`] for a process that entered part of the
    /// cgroup on its own (see [`Cgroup::apply_joined`]).
    pub fn add_joined(&self, pid: i32, joined: Joined) -> Result<()> {
        if !self.0.exists() {
            return Err(Error::Cgroup(format!(
                "{}: no such cgroup",
                self.0.path().display()
            )));
        }
        self.apply_joined(pid, joined)
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
                    "--cgroup: {sub} is not a sub cgroup path"
                )));
            }
            let dir = base.join(rel);
            if !dir.is_dir() {
                // runc's words (callers grep them): the exec would fail
                // adding its pid there; nothing has been started yet.
                return Err(Error::Usage(format!(
                    "--cgroup: sub-cgroup {sub} does not exist: adding pid to {}/cgroup.procs: no such file or directory",
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

    pub fn signal_all(&self, sig: berth_sys::SigNum) -> Result<()> {
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

/// The container's device rules, in runc's order: deny everything, the
/// config's `linux.resources.devices` as written, then the devices every
/// container gets (mknod of any node, the default nodes, ptys, tun) at the
/// end. Entries of `linux.devices` get no allow rule of their own: the
/// config's rules decide whether the container may open them, so an
/// explicit deny holds. A default node whose path `linux.devices` lists
/// loses its default rule too (the config's entry takes its place).
pub fn with_default_devices(res: Option<&LinuxResources>, spec: &Spec) -> LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let rule = |allow: bool,
                typ: LinuxDeviceType,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    let mut out = res.cloned().unwrap_or_default();
    let config_rules = res.and_then(|r| r.devices().clone()).unwrap_or_default();
    let deny_all = |r: &LinuxDeviceCgroup| {
        !r.allow()
            && matches!(r.typ(), None | Some(LinuxDeviceType::A))
            && r.major().is_none()
            && r.minor().is_none()
            && r.access()
                .as_deref()
                .is_some_and(|a| a.contains('r') && a.contains('w') && a.contains('m'))
    };
    let mut rules = Vec::with_capacity(config_rules.len() + 12);
    // runc starts from an empty (deny-all) set; say so explicitly so cgroup
    // v1, which starts from the parent's rules, ends in the same place.
    if !config_rules.first().is_some_and(deny_all) {
        rules.push(rule(false, LinuxDeviceType::A, None, None, "rwm"));
    }
    rules.extend(config_rules);
    let listed: Vec<&Path> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .map(|d| d.path().as_path())
        .collect();
    use LinuxDeviceType::{B, C};
    rules.push(rule(true, C, None, None, "m"));
    rules.push(rule(true, B, None, None, "m"));
    for (path, major, minor) in [
        ("/dev/null", 1, 3),
        ("/dev/random", 1, 8),
        ("/dev/full", 1, 7),
        ("/dev/tty", 5, 0),
        ("/dev/zero", 1, 5),
        ("/dev/urandom", 1, 9),
    ] {
        if !listed.contains(&Path::new(path)) {
            rules.push(rule(true, C, Some(major), Some(minor), "rwm"));
        }
    }
    // The container's own devpts instance and its ptmx, and tun.
    rules.push(rule(true, C, Some(136), None, "rwm"));
    rules.push(rule(true, C, Some(5), Some(2), "rwm"));
    rules.push(rule(true, C, Some(10), Some(200), "rwm"));
    out.set_devices(Some(rules));
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

    fn rules(spec: serde_json::Value) -> Vec<String> {
        let spec: Spec = serde_json::from_value(spec).unwrap();
        let res = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
        with_default_devices(res, &spec)
            .devices()
            .iter()
            .flatten()
            .map(|r| format!("{} {r}", if r.allow() { "allow" } else { "deny" }))
            .collect()
    }

    #[test]
    fn listed_devices_get_no_allow_rule_and_defaults_come_last() {
        let got = rules(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {
                "devices": [
                    {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11},
                    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3}
                ],
                "resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": false, "type": "c", "major": 1, "minor": 8, "access": "rwm"}
                ]}
            }
        }));
        assert_eq!(got[0], "deny a *:* rwm");
        assert_eq!(got[1], "deny c 1:8 rwm");
        assert!(!got.iter().any(|r| r.contains(" 1:11 ")), "{got:?}");
        // /dev/null is the config's now: no default rule for it either.
        assert!(!got.iter().any(|r| r.contains(" 1:3 ")), "{got:?}");
        // The defaults come after the config's rules, as in runc (so its
        // default /dev/random rule wins over the config's deny).
        assert!(got[2..].contains(&"allow c 1:8 rwm".to_string()), "{got:?}");
        assert_eq!(got.last().unwrap(), "allow c 10:200 rwm");
    }

    #[test]
    fn a_config_without_device_rules_starts_from_deny_all() {
        let got = rules(serde_json::json!({"ociVersion": "1.0.2", "linux": {}}));
        assert_eq!(got[0], "deny a *:* rwm");
        assert_eq!(got[1], "allow c *:* m");
        let got = rules(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"resources": {"devices": [{"allow": true, "access": "rwm"}]}}
        }));
        assert_eq!(got[..2], ["deny a *:* rwm", "allow a *:* rwm"]);
    }
}
