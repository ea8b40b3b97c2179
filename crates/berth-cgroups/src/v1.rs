//! The cgroup v1 back end, also used for the hybrid layout.
//!
//! Owns: creating the container's directory in every mounted v1 hierarchy
//! (copying `cpuset.cpus`/`cpuset.mems` from the parent so tasks can join),
//! joining pids, writing every `linux.resources` field to its v1 file, the
//! v1 freezer, pids, destroy. In hybrid mode it also creates / joins the
//! container's directory in the cgroup2 mount, writes `unified` keys there
//! and uses it for controllers only available in cgroup2 (e.g. `hugetlb`).
//! Statistics live in `v1_stats.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxResources,
};

use crate::devices::rules_from_oci;
use crate::error::{Error, Result};
use crate::fsutil::{self, write};
use crate::layout::{CgroupPaths, CgroupVersion};
use crate::oom::OomNotifier;
use crate::stats::Stats;
use crate::{v2, CgroupManager, FreezerState, Joined, Pid, SetOutcome};

/// Manager for cgroup v1 and hybrid layouts.
#[derive(Debug, Clone)]
pub struct V1Manager {
    paths: CgroupPaths,
}

impl V1Manager {
    pub fn new(paths: CgroupPaths) -> Self {
        V1Manager { paths }
    }

    fn layout_name(&self) -> &'static str {
        self.paths.version.name()
    }

    /// Directory of `controller`, if that hierarchy is mounted.
    pub(crate) fn dir(&self, controller: &str) -> Option<&Path> {
        self.paths.v1.get(controller).map(PathBuf::as_path)
    }

    fn need(&self, controller: &str, resource: &str) -> Result<&Path> {
        self.dir(controller)
            .ok_or_else(|| Error::ControllerMissing {
                controller: controller.to_string(),
                resource: resource.to_string(),
            })
    }

    /// Unique hierarchy directories (co-mounted controllers share one).
    fn unique_dirs(&self) -> Vec<&Path> {
        let set: BTreeSet<&Path> = self.paths.v1.values().map(PathBuf::as_path).collect();
        set.into_iter().collect()
    }

    fn unified(&self) -> Option<&Path> {
        match self.paths.version {
            CgroupVersion::Hybrid => self.paths.unified.as_deref(),
            _ => None,
        }
    }

    /// Whether the hybrid cgroup2 mount offers `controller`.
    fn unified_has(&self, controller: &str) -> bool {
        let Some(mount) = self.paths.unified_mount.as_deref() else {
            return false;
        };
        self.unified().is_some()
            && fsutil::read_opt(mount, "cgroup.controllers")
                .ok()
                .flatten()
                .is_some_and(|c| c.split_whitespace().any(|x| x == controller))
    }

    /// Enable the cgroup2 controllers above the hybrid unified `dir`.
    fn enable_unified(&self, dir: &Path) -> Result<()> {
        let mount = self.paths.unified_mount.as_deref().unwrap_or(dir);
        v2::enable_along(mount, dir, false)
    }

    fn set_cpuset(&self, cpu: &LinuxCpu) -> Result<()> {
        for (file, val) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
            if let Some(v) = val.as_deref().filter(|v| !v.is_empty()) {
                write(self.need("cpuset", file)?, file, v)?;
            }
        }
        Ok(())
    }

    fn set_memory(&self, m: &LinuxMemory) -> Result<()> {
        let any = m.limit().is_some()
            || m.reservation().is_some()
            || m.swap().is_some()
            || m.kernel().is_some()
            || m.kernel_tcp().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some()
            || m.use_hierarchy().is_some();
        if !any {
            return Ok(());
        }
        let dir = self.need("memory", "memory")?;
        let limit = m.limit().unwrap_or(0);
        let mut swap = m.swap().unwrap_or(0);
        if m.check_before_update() == Some(true) && limit > 0 {
            if let Some(usage) = fsutil::read_u64(dir, "memory.usage_in_bytes")? {
                if usage > limit as u64 {
                    return Err(Error::invalid(
                        "memory.limit",
                        format!("{limit} is below the current usage {usage}"),
                    ));
                }
            }
        }
        let has_memsw = fsutil::exists(dir, "memory.memsw.limit_in_bytes");
        // Unlimited memory without an explicit swap: unlimited swap too.
        if limit == -1 && swap == 0 && has_memsw {
            swap = -1;
        }
        let write_limit = |v: i64| -> Result<()> {
            if v != 0 {
                write(dir, "memory.limit_in_bytes", &v.to_string())
                    .map_err(|e| below_usage(dir, v, e))?;
            }
            Ok(())
        };
        let write_swap = |v: i64| -> Result<()> {
            if v == 0 || (v == -1 && !has_memsw) {
                return Ok(());
            }
            write(dir, "memory.memsw.limit_in_bytes", &v.to_string())
        };
        // The kernel requires memory <= memory+swap at every step, so the
        // order depends on whether the limits grow or shrink.
        let mut done = false;
        if limit != 0 && swap != 0 {
            let cur = fsutil::read_u64(dir, "memory.limit_in_bytes")?.unwrap_or(0);
            if swap == -1 || cur < swap as u64 {
                write_swap(swap)?;
                write_limit(limit)?;
                done = true;
            }
        }
        if !done {
            write_limit(limit)?;
            write_swap(swap)?;
        }
        if let Some(r) = m.reservation().filter(|r| *r != 0) {
            write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
        }
        // Kernel memory limits are deprecated; written only where the
        // kernel still has the files.
        if let Some(k) = m.kernel().filter(|k| *k != 0) {
            if fsutil::exists(dir, "memory.kmem.limit_in_bytes") {
                write(dir, "memory.kmem.limit_in_bytes", &k.to_string())?;
            }
        }
        if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
            if fsutil::exists(dir, "memory.kmem.tcp.limit_in_bytes") {
                write(dir, "memory.kmem.tcp.limit_in_bytes", &k.to_string())?;
            }
        }
        if let Some(s) = m.swappiness() {
            write(dir, "memory.swappiness", &s.to_string())?;
        }
        if m.disable_oom_killer() == Some(true) {
            write(dir, "memory.oom_control", "1")?;
        }
        if let Some(h) = m.use_hierarchy() {
            write(dir, "memory.use_hierarchy", if h { "1" } else { "0" })?;
        }
        Ok(())
    }

    fn set_cpu(&self, c: &LinuxCpu) -> Result<()> {
        let any = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.realtime_period().is_some()
            || c.realtime_runtime().is_some()
            || c.idle().is_some();
        if !any {
            return Ok(());
        }
        let dir = self.need("cpu", "cpu")?;
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            write(dir, "cpu.shares", &s.to_string())?;
            // The kernel clamps silently; report it like runc does.
            if let Some(got) = fsutil::read_u64(dir, "cpu.shares")? {
                if got != s {
                    return Err(Error::invalid(
                        "cpu.shares",
                        format!(
                            "the kernel accepted {got} instead of {s} (allowed range 2-262144)"
                        ),
                    ));
                }
            }
        }
        let quota = c.quota().unwrap_or(0);
        let mut period_pending = None;
        if let Some(p) = c.period().filter(|p| *p != 0) {
            if let Err(e) = write(dir, "cpu.cfs_period_us", &p.to_string()) {
                // A smaller period may be refused until the quota is
                // lowered: retry after writing the quota.
                let einval = matches!(&e, Error::Write { source, .. }
                    if source.raw_os_error() == Some(nix::libc::EINVAL));
                if !einval || quota == 0 {
                    return Err(e);
                }
                period_pending = Some(p);
            }
        }
        if quota != 0 {
            write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
            if let Some(p) = period_pending {
                write(dir, "cpu.cfs_period_us", &p.to_string())?;
            }
        }
        if let Some(b) = c.burst() {
            write(dir, "cpu.cfs_burst_us", &b.to_string())?;
        }
        if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
            write(dir, "cpu.rt_period_us", &p.to_string())?;
        }
        if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
            write(dir, "cpu.rt_runtime_us", &r.to_string())?;
        }
        if let Some(i) = c.idle() {
            write(dir, "cpu.idle", &i.to_string())?;
        }
        Ok(())
    }

    fn set_blkio(&self, b: &LinuxBlockIo) -> Result<()> {
        let devs = |v: &Option<Vec<_>>| v.as_ref().is_some_and(|v: &Vec<_>| !v.is_empty());
        let any = b.weight().is_some()
            || b.leaf_weight().is_some()
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || devs(b.throttle_read_bps_device())
            || devs(b.throttle_write_bps_device())
            || devs(b.throttle_read_iops_device())
            || devs(b.throttle_write_iops_device());
        if !any {
            return Ok(());
        }
        let dir = self.need("blkio", "blockIO")?;
        let (wfile, wdfile) = if fsutil::exists(dir, "blkio.weight") {
            ("blkio.weight", "blkio.weight_device")
        } else {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        };
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            write(dir, wfile, &w.to_string())?;
        }
        if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
            write(dir, "blkio.leaf_weight", &w.to_string())?;
        }
        for wd in b.weight_device().iter().flatten() {
            if let Some(w) = wd.weight().filter(|w| *w != 0) {
                write(dir, wdfile, &format!("{}:{} {w}", wd.major(), wd.minor()))?;
            }
            if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
                let v = format!("{}:{} {w}", wd.major(), wd.minor());
                write(dir, "blkio.leaf_weight_device", &v)?;
            }
        }
        for (file, list) in [
            (
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ] {
            for t in list.iter().flatten() {
                write(
                    dir,
                    file,
                    &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                )?;
            }
        }
        Ok(())
    }

    fn set_hugetlb(&self, limits: &[LinuxHugepageLimit]) -> Result<()> {
        if limits.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.dir("hugetlb") {
            for l in limits {
                let file = format!("hugetlb.{}.limit_in_bytes", l.page_size());
                write(dir, &file, &l.limit().to_string())?;
                let rsvd = format!("hugetlb.{}.rsvd.limit_in_bytes", l.page_size());
                if fsutil::exists(dir, &rsvd) {
                    write(dir, &rsvd, &l.limit().to_string())?;
                }
            }
            return Ok(());
        }
        // Hybrid: hugetlb may only be bound to the cgroup2 hierarchy.
        match self.unified() {
            Some(dir) if self.unified_has("hugetlb") => {
                self.enable_unified(dir)?;
                v2::write_hugetlb(dir, limits)
            }
            _ => Err(Error::ControllerMissing {
                controller: "hugetlb".into(),
                resource: "hugepageLimits".into(),
            }),
        }
    }

    fn set_network(&self, n: &LinuxNetwork) -> Result<()> {
        if let Some(id) = n.class_id() {
            write(
                self.need("net_cls", "network.classID")?,
                "net_cls.classid",
                &id.to_string(),
            )?;
        }
        for p in n.priorities().iter().flatten() {
            let dir = self.need("net_prio", "network.priorities")?;
            write(
                dir,
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
            )?;
        }
        Ok(())
    }

    fn wait_freezer(&self, dir: &Path, wanted: &'static str, rewrite: bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_micros(100);
        for i in 0u32.. {
            let state = fsutil::read(dir, "freezer.state")?;
            if state.trim() == wanted {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::FreezeTimeout {
                    path: dir.join("freezer.state"),
                    wanted,
                });
            }
            // A task in an uninterruptible sleep can keep the cgroup in
            // FREEZING; writing FROZEN again retries the freeze.
            if rewrite && i % 50 == 49 {
                write(dir, "freezer.state", wanted)?;
            }
            sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(10));
        }
        unreachable!()
    }
}

impl CgroupManager for V1Manager {
    fn version(&self) -> CgroupVersion {
        self.paths.version
    }

    fn paths(&self) -> &CgroupPaths {
        &self.paths
    }

    fn path(&self) -> PathBuf {
        self.dir("memory")
            .or_else(|| self.unique_dirs().first().copied())
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn apply_joined(&self, pid: Pid, joined: Joined) -> Result<()> {
        for (ctrl, dir) in &self.paths.v1 {
            fsutil::create_dirs(dir)?;
            if ctrl == "cpuset" {
                fill_cpuset(dir)?;
            }
        }
        // Hybrid: join the cgroup2 tree too, but enable its controllers in
        // the host's cgroup2 root only when `set` needs one of them.
        if let Some(u) = self.unified() {
            fsutil::create_dirs(u)?;
        }
        let pid_s = pid.as_raw().to_string();
        if !joined.v1_by_self {
            for dir in self.unique_dirs() {
                write(dir, "cgroup.procs", &pid_s)?;
            }
        }
        if let Some(u) = self.unified().filter(|_| !joined.cgroup2) {
            write(u, "cgroup.procs", &pid_s)?;
        }
        Ok(())
    }

    fn prepare_clone_target(&self) -> Result<Option<PathBuf>> {
        let Some(u) = self.unified() else {
            return Ok(None);
        };
        fsutil::create_dirs(u)?;
        Ok(Some(u.to_path_buf()))
    }

    fn clone_target(&self) -> Option<PathBuf> {
        self.unified().map(Path::to_path_buf)
    }

    fn self_join_files(&self) -> Vec<PathBuf> {
        self.unique_dirs()
            .into_iter()
            .map(|d| d.join("tasks"))
            .collect()
    }

    fn set(&self, r: &LinuxResources) -> Result<SetOutcome> {
        crate::validate::check(r, self.paths.version)?;
        if let Some(c) = r.cpu() {
            self.set_cpuset(c)?;
        }
        if let Some(list) = r.devices().as_deref().filter(|l| !l.is_empty()) {
            let rules = rules_from_oci(list)?;
            let dir = self.need("devices", "devices")?;
            let mut files = fsutil::OpenFiles::new(dir);
            for rule in &rules {
                files.write(rule.v1_file(), &rule.v1_string())?;
            }
        }
        if let Some(m) = r.memory() {
            self.set_memory(m)?;
        }
        if let Some(c) = r.cpu() {
            self.set_cpu(c)?;
        }
        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                let v = if p.limit() > 0 {
                    p.limit().to_string()
                } else {
                    "max".to_string()
                };
                write(self.need("pids", "pids")?, "pids.max", &v)?;
            }
        }
        if let Some(b) = r.block_io() {
            self.set_blkio(b)?;
        }
        if let Some(h) = r.hugepage_limits() {
            self.set_hugetlb(h)?;
        }
        if let Some(n) = r.network() {
            self.set_network(n)?;
        }
        if let Some(rdma) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            let dir = self.need("rdma", "rdma")?;
            v2::write_rdma(dir, rdma)?;
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            match self.unified() {
                Some(dir) => {
                    self.enable_unified(dir)?;
                    v2::write_unified(dir, u)?
                }
                None => {
                    return Err(Error::unsupported(
                        "linux.resources.unified",
                        self.layout_name(),
                    ))
                }
            }
        }
        Ok(SetOutcome::default())
    }

    fn freeze(&self) -> Result<()> {
        let dir = self.need("freezer", "freeze")?;
        write(dir, "freezer.state", "FROZEN")?;
        if let Err(e) = self.wait_freezer(dir, "FROZEN", true) {
            // Do not leave a half-frozen container behind.
            let _ = write(dir, "freezer.state", "THAWED");
            return Err(e);
        }
        Ok(())
    }

    fn thaw(&self) -> Result<()> {
        let dir = self.need("freezer", "thaw")?;
        write(dir, "freezer.state", "THAWED")?;
        self.wait_freezer(dir, "THAWED", false)
    }

    fn state(&self) -> Result<FreezerState> {
        // Without a freezer hierarchy the cgroup can never be frozen.
        let Some(dir) = self.dir("freezer") else {
            return Ok(FreezerState::Thawed);
        };
        let s = fsutil::read(dir, "freezer.state")?;
        match s.trim() {
            "THAWED" => Ok(FreezerState::Thawed),
            "FREEZING" => Ok(FreezerState::Freezing),
            "FROZEN" => Ok(FreezerState::Frozen),
            other => Err(Error::Parse {
                path: dir.join("freezer.state"),
                content: other.to_string(),
            }),
        }
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        let dir = [
            "pids",
            "freezer",
            "memory",
            "devices",
            "cpu",
            "name=systemd",
        ]
        .iter()
        .find_map(|c| self.dir(c))
        .or_else(|| self.unique_dirs().first().copied())
        .or(self.unified());
        let mut out = Vec::new();
        if let Some(dir) = dir {
            fsutil::read_procs_recursive(dir, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out.into_iter().map(Pid::from_raw).collect())
    }

    fn stats(&self) -> Result<Stats> {
        if !self.exists() {
            return Err(fsutil::not_found(&self.path()));
        }
        crate::v1_stats::collect(self, self.unified())
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let dir = self.need("memory", "oom kill count")?;
        Ok(fsutil::read_flat_keyed(dir, "memory.oom_control")?
            .get("oom_kill")
            .copied()
            .unwrap_or(0))
    }

    fn oom_notifier(&self) -> Result<OomNotifier> {
        OomNotifier::v1(self.need("memory", "oom notification")?)
    }

    fn exists(&self) -> bool {
        self.unique_dirs().iter().any(|d| d.exists())
    }

    fn destroy(&self) -> Result<()> {
        let mut errs = Vec::new();
        for dir in self.unique_dirs() {
            fsutil::remove_tree(dir, &mut errs);
        }
        if let Some(u) = self.unified() {
            fsutil::remove_tree(u, &mut errs);
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Remove(errs))
        }
    }
}

/// New cpusets start empty and refuse tasks until filled, and so does a parent someone made and
/// never set up: read the levels from `dir` up to the first whose `cpuset.cpus` and `cpuset.mems`
/// are both set (its ancestors are then too: a cpuset holds a subset of its parent's), or to the
/// hierarchy's top, where the files end; then, top-down, each empty file takes its parent's value,
/// as runc fills them. Each file is read once.
/// A memory limit the kernel refused with `EBUSY` (the cgroup uses more than
/// that and could not reclaim it) as runc reports it, with the usage.
pub(crate) fn below_usage(dir: &Path, limit: i64, e: Error) -> Error {
    let busy = matches!(&e, Error::Write { source, .. }
        if source.raw_os_error() == Some(nix::errno::Errno::EBUSY as i32));
    if !busy {
        return e;
    }
    let read = |f: &str| fsutil::read_u64(dir, f).ok().flatten();
    match (
        read("memory.usage_in_bytes"),
        read("memory.max_usage_in_bytes"),
    ) {
        (Some(usage), Some(peak)) => Error::MemoryBelowUsage { limit, usage, peak },
        _ => e,
    }
}

fn fill_cpuset(dir: &Path) -> Result<()> {
    const FILES: [&str; 2] = ["cpuset.cpus", "cpuset.mems"];
    let mut levels: Vec<(&Path, [String; 2])> = Vec::new();
    for d in dir.ancestors() {
        // A missing file: above the hierarchy's top (or a fake tree).
        let (Some(cpus), Some(mems)) = (
            fsutil::read_opt(d, FILES[0])?,
            fsutil::read_opt(d, FILES[1])?,
        ) else {
            break;
        };
        let vals = [cpus.trim().to_string(), mems.trim().to_string()];
        let full = vals.iter().all(|v| !v.is_empty());
        levels.push((d, vals));
        if full {
            break;
        }
    }
    let mut above: Option<[String; 2]> = None;
    for (d, mut vals) in levels.into_iter().rev() {
        if let Some(parent) = &above {
            for i in 0..2 {
                if vals[i].is_empty() && !parent[i].is_empty() {
                    write(d, FILES[i], &parent[i])?;
                    vals[i].clone_from(&parent[i]);
                }
            }
        }
        above = Some(vals);
    }
    Ok(())
}
