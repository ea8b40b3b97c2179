//! The cgroup v2 (unified) back end.
//!
//! Owns: creating the container's directory and enabling the available
//! controllers in every ancestor's `cgroup.subtree_control`, joining pids,
//! writing `linux.resources` to v2 files (with runc's conversions for
//! shares, blkio weights and swap), `cgroup.freeze` / `cgroup.events`,
//! pids, destroy, and the helpers the hybrid back end shares (hugetlb,
//! rdma, `unified` keys). Devices are returned to the caller as rules (an
//! eBPF program has to be attached). Statistics live in `v2_stats.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxRdma, LinuxResources,
};

use crate::convert::{blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2, v2_num};
use crate::devices::rules_from_oci;
use crate::error::{Error, Result};
use crate::fsutil::{self, write};
use crate::layout::{CgroupPaths, CgroupVersion};
use crate::oom::OomNotifier;
use crate::stats::{is_page_size, Stats};
use crate::{CgroupManager, FreezerState, Joined, Pid, SetOutcome};

const LAYOUT: &str = "cgroup v2";

/// Manager for a pure cgroup v2 layout.
#[derive(Debug, Clone)]
pub struct V2Manager {
    paths: CgroupPaths,
    dir: PathBuf,
    mount: PathBuf,
}

impl V2Manager {
    pub fn new(paths: CgroupPaths) -> Self {
        let dir = paths.unified.clone().unwrap_or_default();
        let mount = paths.unified_mount.clone().unwrap_or_else(|| dir.clone());
        V2Manager { paths, dir, mount }
    }

    fn set_memory(&self, m: &LinuxMemory) -> Result<()> {
        let limit = m.limit().unwrap_or(0);
        let swap = memory_swap_to_v2(m.swap().unwrap_or(0), limit)?;
        if m.check_before_update() == Some(true) && limit > 0 {
            if let Some(cur) = fsutil::read_u64(&self.dir, "memory.current")? {
                if cur > limit as u64 {
                    return Err(Error::invalid(
                        "memory.limit",
                        format!("{limit} is below the current usage {cur}"),
                    ));
                }
            }
        }
        let mut swap_s = v2_num(swap);
        if swap_s.is_none() && swap == 0 && m.swap().unwrap_or(0) > 0 {
            // memory == memory+swap: no swap at all.
            swap_s = Some("0".to_string());
        }
        if let Some(s) = swap_s {
            // Without swap accounting the file is absent; "max" is then
            // already the truth.
            if s != "max" || fsutil::exists(&self.dir, "memory.swap.max") {
                write(&self.dir, "memory.swap.max", &s)?;
            }
        }
        if let Some(v) = v2_num(limit) {
            write(&self.dir, "memory.max", &v)?;
        }
        if let Some(v) = v2_num(m.reservation().unwrap_or(0)) {
            write(&self.dir, "memory.low", &v)?;
        }
        // kernel, kernelTCP, swappiness, disableOOMKiller and useHierarchy
        // have no cgroup v2 file; runc ignores them there too.
        Ok(())
    }

    fn set_cpu(&self, c: &LinuxCpu) -> Result<()> {
        if c.realtime_period().is_some_and(|v| v != 0)
            || c.realtime_runtime().is_some_and(|v| v != 0)
        {
            return Err(Error::unsupported(
                "cpu.realtimePeriod/realtimeRuntime",
                LAYOUT,
            ));
        }
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            write(
                &self.dir,
                "cpu.weight",
                &cpu_shares_to_weight(s).to_string(),
            )?;
        }
        let quota = c.quota().unwrap_or(0);
        let period = c.period().unwrap_or(0);
        if quota != 0 || period != 0 {
            let mut v = if quota > 0 {
                quota.to_string()
            } else {
                "max".to_string()
            };
            if period != 0 {
                v.push_str(&format!(" {period}"));
            }
            write(&self.dir, "cpu.max", &v)?;
        }
        if let Some(b) = c.burst() {
            write(&self.dir, "cpu.max.burst", &b.to_string())?;
        }
        if let Some(i) = c.idle() {
            write(&self.dir, "cpu.idle", &i.to_string())?;
        }
        for (file, val) in [("cpuset.cpus", c.cpus()), ("cpuset.mems", c.mems())] {
            if let Some(v) = val.as_deref().filter(|v| !v.is_empty()) {
                write(&self.dir, file, v)?;
            }
        }
        Ok(())
    }

    fn set_io(&self, b: &LinuxBlockIo) -> Result<()> {
        let dir = &self.dir;
        // With the BFQ scheduler io.bfq.weight takes the blkio value as is
        // and supports per-device weights; otherwise convert for io.weight.
        let bfq = fsutil::exists(dir, "io.bfq.weight");
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            if bfq {
                write(dir, "io.bfq.weight", &w.to_string())?;
            } else {
                write(dir, "io.weight", &blkio_weight_to_io_weight(w).to_string())?;
            }
        }
        for wd in b.weight_device().iter().flatten() {
            if let Some(w) = wd.weight().filter(|w| *w != 0) {
                if !bfq {
                    return Err(Error::unsupported(
                        "blockIO.weightDevice without the bfq io scheduler",
                        LAYOUT,
                    ));
                }
                write(
                    dir,
                    "io.bfq.weight",
                    &format!("{}:{} {w}", wd.major(), wd.minor()),
                )?;
            }
        }
        // leafWeight has no v2 equivalent and is ignored, as in runc.
        for (key, list) in [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ] {
            for t in list.iter().flatten() {
                let v = format!("{}:{} {key}={}", t.major(), t.minor(), t.rate());
                write(dir, "io.max", &v)?;
            }
        }
        Ok(())
    }

    fn wait_frozen(&self, wanted: bool) -> Result<()> {
        let want = if wanted { 1 } else { 0 };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_micros(100);
        loop {
            let ev = fsutil::read_flat_keyed(&self.dir, "cgroup.events")?;
            if ev.get("frozen").copied() == Some(want) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::FreezeTimeout {
                    path: self.dir.join("cgroup.events"),
                    wanted: if wanted { "frozen 1" } else { "frozen 0" },
                });
            }
            sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(10));
        }
    }

    fn need_freeze(&self) -> Result<()> {
        if fsutil::exists(&self.dir, "cgroup.freeze") {
            Ok(())
        } else {
            Err(Error::unsupported(
                "freezing (no cgroup.freeze, kernel < 5.2)",
                LAYOUT,
            ))
        }
    }
}

impl CgroupManager for V2Manager {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::V2
    }

    fn paths(&self) -> &CgroupPaths {
        &self.paths
    }

    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    fn apply_joined(&self, pid: Pid, joined: Joined) -> Result<()> {
        create_and_enable(&self.mount, &self.dir)?;
        if joined.cgroup2 {
            return Ok(());
        }
        write(&self.dir, "cgroup.procs", &pid.as_raw().to_string())
    }

    fn prepare_clone_target(&self) -> Result<Option<PathBuf>> {
        create_and_enable(&self.mount, &self.dir)?;
        Ok(Some(self.dir.clone()))
    }

    fn clone_target(&self) -> Option<PathBuf> {
        Some(self.dir.clone())
    }

    fn self_join_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    fn set(&self, r: &LinuxResources) -> Result<SetOutcome> {
        crate::validate::check(r, CgroupVersion::V2)?;
        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                let v = v2_num(p.limit()).unwrap_or_default();
                write(&self.dir, "pids.max", &v)?;
            }
        }
        if let Some(m) = r.memory() {
            self.set_memory(m)?;
        }
        if let Some(b) = r.block_io() {
            self.set_io(b)?;
        }
        if let Some(c) = r.cpu() {
            self.set_cpu(c)?;
        }
        if let Some(h) = r.hugepage_limits() {
            write_hugetlb(&self.dir, h)?;
        }
        if let Some(rdma) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            write_rdma(&self.dir, rdma)?;
        }
        if let Some(n) = r.network() {
            if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                return Err(Error::unsupported("network classID/priorities", LAYOUT));
            }
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            write_unified(&self.dir, u)?;
        }
        let device_rules = match r.devices().as_deref() {
            Some(list) if !list.is_empty() => Some(rules_from_oci(list)?),
            _ => None,
        };
        Ok(SetOutcome { device_rules })
    }

    fn freeze(&self) -> Result<()> {
        self.need_freeze()?;
        write(&self.dir, "cgroup.freeze", "1")?;
        if let Err(e) = self.wait_frozen(true) {
            let _ = write(&self.dir, "cgroup.freeze", "0");
            return Err(e);
        }
        Ok(())
    }

    fn thaw(&self) -> Result<()> {
        self.need_freeze()?;
        write(&self.dir, "cgroup.freeze", "0")?;
        self.wait_frozen(false)
    }

    fn state(&self) -> Result<FreezerState> {
        let Some(want) = fsutil::read_opt(&self.dir, "cgroup.freeze")? else {
            // No freezer: the cgroup can never be frozen.
            return Ok(FreezerState::Thawed);
        };
        if want.trim() != "1" {
            return Ok(FreezerState::Thawed);
        }
        let ev = fsutil::read_flat_keyed(&self.dir, "cgroup.events")?;
        Ok(if ev.get("frozen").copied() == Some(1) {
            FreezerState::Frozen
        } else {
            FreezerState::Freezing
        })
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        let mut out = Vec::new();
        fsutil::read_procs_recursive(&self.dir, &mut out)?;
        out.sort_unstable();
        out.dedup();
        Ok(out.into_iter().map(Pid::from_raw).collect())
    }

    fn stats(&self) -> Result<Stats> {
        if !self.exists() {
            return Err(fsutil::not_found(&self.dir));
        }
        crate::v2_stats::collect(&self.dir)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        Ok(fsutil::read_flat_keyed(&self.dir, "memory.events")?
            .get("oom_kill")
            .copied()
            .unwrap_or(0))
    }

    fn oom_notifier(&self) -> Result<OomNotifier> {
        OomNotifier::v2(&self.dir)
    }

    fn exists(&self) -> bool {
        self.dir.exists()
    }

    fn destroy(&self) -> Result<()> {
        let mut errs = Vec::new();
        fsutil::remove_tree(&self.dir, &mut errs);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Remove(errs))
        }
    }
}

/// Create `dir` below the cgroup2 `mount` and enable controllers along
/// the way (see [`enable_along`]).
pub(crate) fn create_and_enable(mount: &Path, dir: &Path) -> Result<()> {
    enable_along(mount, dir, true)
}

/// Enable, in every ancestor of `dir` from `mount` down to `dir`'s parent,
/// each controller the ancestor offers in `cgroup.controllers`, creating
/// missing directories when `create` is set. Enabling is best effort: a
/// controller that cannot be delegated (e.g. the parent has processes) is
/// skipped, and the write that needs it will report the missing file.
pub(crate) fn enable_along(mount: &Path, dir: &Path, create: bool) -> Result<()> {
    let rel = dir.strip_prefix(mount).map_err(|_| Error::InvalidPath {
        path: dir.display().to_string(),
        reason: format!("not below the cgroup2 mount {}", mount.display()),
    })?;
    let mut cur = mount.to_path_buf();
    for comp in rel.components() {
        enable_controllers(&cur);
        cur.push(comp);
        if create && !cur.exists() {
            fsutil::create_dirs(&cur)?;
        }
    }
    Ok(())
}

fn enable_controllers(dir: &Path) {
    let Ok(Some(avail)) = fsutil::read_opt(dir, "cgroup.controllers") else {
        return;
    };
    let enabled = fsutil::read_opt(dir, "cgroup.subtree_control")
        .ok()
        .flatten()
        .unwrap_or_default();
    for c in avail.split_whitespace() {
        if !enabled.split_whitespace().any(|e| e == c) {
            let _ = write(dir, "cgroup.subtree_control", &format!("+{c}"));
        }
    }
}

/// `hugetlb.<size>.max` (and `.rsvd.max` where present).
pub(crate) fn write_hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        if !is_page_size(l.page_size()) {
            return Err(Error::invalid(
                "hugepageLimits.pageSize",
                format!("{:?} is not a page size like 2MB", l.page_size()),
            ));
        }
        let v = l.limit().to_string();
        write(dir, &format!("hugetlb.{}.max", l.page_size()), &v)?;
        let rsvd = format!("hugetlb.{}.rsvd.max", l.page_size());
        if fsutil::exists(dir, &rsvd) {
            write(dir, &rsvd, &v)?;
        }
    }
    Ok(())
}

/// `rdma.max` lines: `<device> hca_handle=N hca_object=M` (same on v1).
pub(crate) fn write_rdma(dir: &Path, rdma: &HashMap<String, LinuxRdma>) -> Result<()> {
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, lim) in devices {
        let mut v = dev.clone();
        if let Some(h) = lim.hca_handles() {
            v.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = lim.hca_objects() {
            v.push_str(&format!(" hca_object={o}"));
        }
        write(dir, "rdma.max", &v)?;
    }
    Ok(())
}

/// Write `linux.resources.unified` keys as files in `dir`.
pub(crate) fn write_unified(dir: &Path, unified: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<_> = unified.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in keys {
        if k.is_empty() || k.contains('/') || k.starts_with('.') {
            return Err(Error::invalid(
                "unified",
                format!("key {k:?} is not a file name"),
            ));
        }
        if k == "cgroup.procs" || k == "cgroup.threads" || k == "cgroup.subtree_control" {
            return Err(Error::invalid(
                "unified",
                format!("key {k:?} may not be set"),
            ));
        }
        if let Err(e) = write(dir, k, v) {
            if !fsutil::exists(dir, k) {
                let ctrl = k.split('.').next().unwrap_or(k);
                return Err(Error::UnifiedControllerMissing {
                    key: k.to_string(),
                    controller: ctrl.to_string(),
                });
            }
            return Err(e);
        }
    }
    Ok(())
}
