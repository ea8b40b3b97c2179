//! berth-cgroups: the cgroup manager of the berth OCI runtime.
//!
//! Owns: creating a container's cgroup, moving processes into it, applying
//! every `linux.resources` setting of the OCI spec, freezing / thawing,
//! listing pids, collecting `runc events --stats`-shaped statistics, OOM
//! kill counting / notification and removing the cgroup again.
//!
//! Three back ends sit behind the object-safe [`CgroupManager`] trait:
//! cgroup v1 (`v1.rs`), cgroup v2 (`v2.rs`) and hybrid (v1 controllers plus
//! a cgroup2 mount, handled by the v1 back end with a unified directory).
//! The layout is detected from `/proc/self/mountinfo` (`layout.rs`).
//! Only the cgroupfs driver exists; asking for systemd gives
//! [`Error::SystemdDriverUnsupported`].
//!
//! ```no_run
//! use berth_cgroups::{create, ManagerConfig};
//! let cfg = ManagerConfig::new(Some("/berth/c1".into()), "c1");
//! let cg = create(&cfg)?;
//! cg.apply(nix::unistd::Pid::from_raw(1234))?;
//! # Ok::<(), berth_cgroups::Error>(())
//! ```
//!
//! What each back end does with `linux.resources` (see `v1.rs` / `v2.rs`):
//!
//! | resource | v1 (and hybrid) | v2 |
//! |---|---|---|
//! | memory | limit, memsw, soft limit, kmem / kmem.tcp (if present), swappiness, oom_control, use_hierarchy | memory.max, memory.swap.max (swap − limit), memory.low; swappiness / OOM killer / kmem ignored like runc |
//! | cpu | shares, cfs quota / period / burst, rt period / runtime, idle, cpuset | cpu.weight (shares converted), cpu.max, cpu.max.burst, cpu.idle, cpuset; realtime is an error |
//! | pids | pids.max | pids.max |
//! | blockIO | blkio weight / leaf weight / weight_device (CFQ or BFQ files), throttle files | io.bfq.weight or converted io.weight, io.max |
//! | hugepageLimits | hugetlb.SIZE.limit_in_bytes (hybrid: cgroup2 hugetlb.SIZE.max if v1 lacks hugetlb) | hugetlb.SIZE.max |
//! | devices | devices.deny / devices.allow | returned in [`SetOutcome`] with an eBPF program |
//! | network | net_cls.classid, net_prio.ifpriomap | error |
//! | rdma | rdma.max | rdma.max |
//! | unified | error on v1, files in the cgroup2 directory on hybrid | files in the directory |
//!
//! Module map: `error.rs` (the error enum), `fsutil.rs` (file I/O),
//! `layout.rs` (mounts and paths), `convert.rs` (v1 -> v2 formulas),
//! `devices.rs` (device rules and the v2 eBPF program), `stats.rs` (stats
//! types), `v1.rs` / `v1_stats.rs`, `v2.rs` / `v2_stats.rs` (back ends),
//! `oom.rs` (OOM notification), `validate.rs` (checks before any write),
//! `support.rs` (what the host's cgroups can limit, as dockerd's sysinfo).

mod convert;
mod devices;
mod error;
mod fsutil;
mod layout;
mod oom;
mod stats;
mod support;
mod v1;
mod v1_stats;
mod v2;
mod v2_stats;
mod validate;

#[cfg(test)]
mod tests_v1;
#[cfg(test)]
mod tests_v2;
#[cfg(test)]
mod testutil;

use std::path::{Path, PathBuf};

pub use berth_sys::SigNum;
pub use convert::{
    blkio_weight_to_io_weight, cpu_shares_to_weight, cpu_shares_to_weight_linear, memory_swap_to_v2,
};
pub use devices::{
    device_filter_program, rules_from_oci, BpfInsn, DeviceKind, DeviceProgram, DeviceRule,
};
pub use error::{Error, Result};
pub use layout::{
    clean_path, detect_layout, own_procs_file, parse_layout, parse_proc_cgroup, CgroupDriver,
    CgroupPaths, CgroupVersion, Layout, UnifiedMount, V1Mount,
};
pub use nix::sys::signal::Signal;
pub use nix::unistd::Pid;
pub use oom::OomNotifier;
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Event, Hugetlb, Memory, MemoryEntry, Pids, Stats,
    Throttling,
};
pub use support::{host_support, support, Support};

use oci_spec::runtime::LinuxResources;

/// Default cgroup root.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Freezer state of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezerState {
    Thawed,
    /// Freezing has been requested but not every task is frozen yet.
    Freezing,
    Frozen,
}

/// What `set` could not do itself and leaves to the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetOutcome {
    /// cgroup v2 only: the device rules from the spec. The kernel enforces
    /// them only through an eBPF program the caller must load and attach
    /// (see [`SetOutcome::device_program`]). Always `None` on v1, where
    /// `set` wrote them to `devices.allow` / `devices.deny`.
    pub device_rules: Option<Vec<DeviceRule>>,
}

impl SetOutcome {
    /// The eBPF program enforcing [`SetOutcome::device_rules`], if any.
    pub fn device_program(&self) -> Option<DeviceProgram> {
        self.device_rules.as_deref().map(device_filter_program)
    }
}

/// A container's cgroup. Object safe: the runtime holds a
/// `Box<dyn CgroupManager>`.
pub trait CgroupManager: std::fmt::Debug + Send + Sync {
    /// Which back end this is.
    fn version(&self) -> CgroupVersion;
    /// Every directory this manager uses (persist it to rebuild the manager
    /// with [`from_paths`]).
    fn paths(&self) -> &CgroupPaths;
    /// The main directory, for messages: the v2 directory, or on v1 / hybrid
    /// the memory (else first) controller's directory.
    fn path(&self) -> PathBuf;
    /// Create the cgroup (in every mounted v1 hierarchy, or the v2 directory
    /// with controllers enabled in the parents' `cgroup.subtree_control`)
    /// and move `pid` into it. Fine on an existing cgroup: this is also how
    /// `exec` joins a process to a running container.
    fn apply(&self, pid: Pid) -> Result<()> {
        self.apply_joined(pid, Joined::default())
    }
    /// [`CgroupManager::apply`] for a process that entered part of the
    /// cgroup on its own (see [`Joined`]): creates everything, moves `pid`
    /// only where it did not.
    fn apply_joined(&self, pid: Pid, joined: Joined) -> Result<()>;
    /// Create the cgroup2 directory (pure v2, or the hybrid layout's
    /// unified one) with its controllers, and return it, for a child to be
    /// cloned straight into it (`CLONE_INTO_CGROUP`). `None` on pure v1.
    fn prepare_clone_target(&self) -> Result<Option<PathBuf>>;
    /// The cgroup2 directory of [`CgroupManager::prepare_clone_target`],
    /// without creating anything (`exec` into an existing cgroup).
    fn clone_target(&self) -> Option<PathBuf>;
    /// The v1 `tasks` files of the cgroup, one per hierarchy: a
    /// single-threaded process that writes `0` to each, through descriptors
    /// opened by a privileged caller, moves itself into every v1 hierarchy.
    /// Unlike a move by pid, a thread's move of itself skips the kernel's
    /// global threadgroup lock, whose first writer waits for an RCU grace
    /// period (about 15 ms on a small VM). Empty on v2.
    fn self_join_files(&self) -> Vec<PathBuf>;
    /// Move `pid` into the already existing cgroup (`exec`). Unlike
    /// [`CgroupManager::apply`] it never creates anything, so joining a
    /// container whose cgroup is gone is an error.
    fn add_process(&self, pid: Pid) -> Result<()> {
        if !self.exists() {
            return Err(fsutil::not_found(&self.path()));
        }
        self.apply(pid)
    }
    /// Apply all of `linux.resources`. On v2 the device rules are returned
    /// for the caller to enforce with eBPF.
    fn set(&self, resources: &LinuxResources) -> Result<SetOutcome>;
    /// Freeze every task and wait until the kernel reports frozen.
    fn freeze(&self) -> Result<()>;
    /// Thaw and wait until the kernel reports thawed.
    fn thaw(&self) -> Result<()>;
    /// Current freezer state.
    fn state(&self) -> Result<FreezerState>;
    /// All pids in the cgroup and its descendants.
    fn pids(&self) -> Result<Vec<Pid>>;
    /// Statistics for `runc events --stats`.
    fn stats(&self) -> Result<Stats>;
    /// How many tasks the OOM killer has killed in this cgroup (v1:
    /// `oom_kill` of `memory.oom_control`, v2: `memory.events`).
    fn oom_kill_count(&self) -> Result<u64>;
    /// A notifier that blocks until the next OOM event.
    fn oom_notifier(&self) -> Result<OomNotifier>;
    /// Whether the cgroup directory exists.
    fn exists(&self) -> bool;
    /// Remove every directory of the cgroup, leaf first. `EBUSY` is retried
    /// briefly; all failures are reported together in [`Error::Remove`].
    fn destroy(&self) -> Result<()>;

    /// Send `signal` to every process in the cgroup (`kill --all`). The
    /// cgroup is frozen meanwhile when a freezer is available, so no task
    /// can fork away unseen, and thawed afterwards (also on error).
    /// Processes that exit on their own meanwhile (`ESRCH`) are fine. Any
    /// signal number goes, real-time ones (SIGRTMIN+3) included.
    fn signal_all(&self, signal: SigNum) -> Result<()> {
        let frozen = self.freeze().is_ok();
        let result = (|| {
            for pid in self.pids()? {
                match berth_sys::signal::kill(pid, Some(signal)) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(source) => {
                        return Err(Error::Sys {
                            what: format!("sending {signal} to pid {pid}"),
                            source,
                        })
                    }
                }
            }
            Ok(())
        })();
        if frozen {
            self.thaw()?;
        }
        result
    }
}

/// Which parts of its cgroup a process entered by itself, for
/// [`CgroupManager::apply_joined`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Joined {
    /// Cloned into [`CgroupManager::prepare_clone_target`]'s directory.
    pub cgroup2: bool,
    /// Writes `0` to [`CgroupManager::self_join_files`] itself.
    pub v1_by_self: bool,
}

/// The inputs a manager is built from. Building again from the same
/// inputs gives the same manager (for relative paths as long as the caller's
/// own cgroup is unchanged; persist [`CgroupManager::paths`] otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerConfig {
    /// OCI `linux.cgroupsPath`. Absolute: below the cgroup root. Relative:
    /// below the caller's own cgroup (v2: its parent), like runc's
    /// cgroupfs driver. `None` / empty: the relative path `<container_id>`.
    pub cgroups_path: Option<String>,
    pub container_id: String,
    /// The cgroup root, default `/sys/fs/cgroup`.
    pub root: PathBuf,
    pub driver: CgroupDriver,
    /// Where to read mounts from, default `/proc/self/mountinfo`.
    pub mountinfo: PathBuf,
    /// Where to read our own cgroup from, default `/proc/self/cgroup`.
    pub proc_cgroup: PathBuf,
}

impl ManagerConfig {
    pub fn new(cgroups_path: Option<String>, container_id: impl Into<String>) -> Self {
        ManagerConfig {
            cgroups_path,
            container_id: container_id.into(),
            root: PathBuf::from(DEFAULT_ROOT),
            driver: CgroupDriver::Cgroupfs,
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            proc_cgroup: PathBuf::from("/proc/self/cgroup"),
        }
    }

    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    pub fn with_driver(mut self, driver: CgroupDriver) -> Self {
        self.driver = driver;
        self
    }

    pub fn with_mountinfo(mut self, p: impl Into<PathBuf>) -> Self {
        self.mountinfo = p.into();
        self
    }

    pub fn with_proc_cgroup(mut self, p: impl Into<PathBuf>) -> Self {
        self.proc_cgroup = p.into();
        self
    }

    /// Resolve the directories without touching the cgroup filesystem.
    pub fn resolve(&self) -> Result<CgroupPaths> {
        if self.driver == CgroupDriver::Systemd {
            return Err(Error::SystemdDriverUnsupported(
                self.cgroups_path.clone().unwrap_or_default(),
            ));
        }
        let (inner, absolute) =
            layout::inner_path(self.cgroups_path.as_deref(), &self.container_id)?;
        let lay = detect_layout(&self.mountinfo, &self.root)?;
        let own = if absolute {
            String::new()
        } else {
            read_text(&self.proc_cgroup)?
        };
        layout::resolve_paths(&lay, &inner, absolute, &own)
    }
}

fn read_text(p: &Path) -> Result<String> {
    berth_sys::read_generated_string(p).map_err(|source| Error::Read {
        path: p.to_path_buf(),
        source,
    })
}

/// Build the manager for `config` (detects the layout; creates nothing).
pub fn create(config: &ManagerConfig) -> Result<Box<dyn CgroupManager>> {
    Ok(from_paths(config.resolve()?))
}

/// Shorthand for [`create`] with the default root and `/proc/self`.
pub fn create_default(
    cgroups_path: Option<&str>,
    container_id: &str,
) -> Result<Box<dyn CgroupManager>> {
    create(&ManagerConfig::new(
        cgroups_path.map(str::to_string),
        container_id,
    ))
}

/// Rebuild a manager from previously resolved (persisted) paths.
pub fn from_paths(paths: CgroupPaths) -> Box<dyn CgroupManager> {
    match paths.version {
        CgroupVersion::V2 => Box::new(v2::V2Manager::new(paths)),
        CgroupVersion::V1 | CgroupVersion::Hybrid => Box::new(v1::V1Manager::new(paths)),
    }
}
