//! What the host's cgroups can limit, as dockerd's `sysinfo` reports it:
//! read once from the hierarchies' root directories, so an engine can warn
//! about (and drop) a setting the kernel cannot apply, or refuse it, before
//! anything is written.
//!
//! cgroup v1 (and hybrid, whose controllers are the v1 ones): a feature is
//! there when its file is in the controller's mount (`memory.memsw.*` only
//! with swap accounting, `cpu.rt_*` only with `CONFIG_RT_GROUP_SCHED`,
//! `blkio.weight` or `blkio.bfq.weight` only with CFQ or BFQ). cgroup v2:
//! when the root's `cgroup.controllers` offers the controller (swap limits
//! when a child cgroup has `memory.swap.max`); swappiness, kernel memory,
//! the OOM-killer switch and real-time CPU limits do not exist there.

use std::path::Path;

use crate::layout::{CgroupVersion, Layout};

/// The limits the host can apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Support {
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub memory_reservation: bool,
    pub memory_swappiness: bool,
    pub kernel_memory: bool,
    pub kernel_memory_tcp: bool,
    pub oom_kill_disable: bool,
    pub pids_limit: bool,
    pub cpu_shares: bool,
    pub cpu_cfs: bool,
    pub cpu_realtime: bool,
    pub cpuset: bool,
    pub blkio_weight: bool,
    pub blkio_weight_device: bool,
    pub blkio_read_bps: bool,
    pub blkio_write_bps: bool,
    pub blkio_read_iops: bool,
    pub blkio_write_iops: bool,
    /// The CPUs and memory nodes a cpuset may name (the root cpuset's lists,
    /// e.g. `0-3`; empty without a cpuset controller).
    pub cpus: String,
    pub mems: String,
}

fn has(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

fn list(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The support of the hierarchies in `layout`.
pub fn support(layout: &Layout) -> Support {
    match (layout.version, &layout.unified) {
        (CgroupVersion::V2, Some(u)) => support_v2(&u.mount_point),
        _ => support_v1(layout),
    }
}

/// The support of this host's cgroups (`/proc/self/mountinfo` under
/// `/sys/fs/cgroup`); nothing when no cgroup file system is mounted.
pub fn host_support() -> Support {
    crate::layout::detect_layout(
        Path::new("/proc/self/mountinfo"),
        Path::new(crate::DEFAULT_ROOT),
    )
    .map(|l| support(&l))
    .unwrap_or_default()
}

fn support_v1(layout: &Layout) -> Support {
    let mount = |controller: &str| {
        layout
            .v1
            .iter()
            .find(|m| m.controllers.iter().any(|c| c == controller))
            .map(|m| m.mount_point.as_path())
    };
    let mut s = Support::default();
    if let Some(d) = mount("memory") {
        s.memory_limit = true;
        s.swap_limit = has(d, "memory.memsw.limit_in_bytes");
        s.memory_reservation = has(d, "memory.soft_limit_in_bytes");
        s.memory_swappiness = has(d, "memory.swappiness");
        s.kernel_memory = has(d, "memory.kmem.limit_in_bytes");
        s.kernel_memory_tcp = has(d, "memory.kmem.tcp.limit_in_bytes");
        s.oom_kill_disable = has(d, "memory.oom_control");
    }
    if let Some(d) = mount("cpu") {
        s.cpu_shares = has(d, "cpu.shares");
        s.cpu_cfs = has(d, "cpu.cfs_quota_us") && has(d, "cpu.cfs_period_us");
        s.cpu_realtime = has(d, "cpu.rt_period_us") && has(d, "cpu.rt_runtime_us");
    }
    if let Some(d) = mount("cpuset") {
        s.cpuset = true;
        s.cpus = list(d, "cpuset.cpus");
        s.mems = list(d, "cpuset.mems");
    }
    s.pids_limit = mount("pids").is_some();
    if let Some(d) = mount("blkio") {
        s.blkio_weight = has(d, "blkio.weight") || has(d, "blkio.bfq.weight");
        s.blkio_weight_device = has(d, "blkio.weight_device") || has(d, "blkio.bfq.weight_device");
        s.blkio_read_bps = has(d, "blkio.throttle.read_bps_device");
        s.blkio_write_bps = has(d, "blkio.throttle.write_bps_device");
        s.blkio_read_iops = has(d, "blkio.throttle.read_iops_device");
        s.blkio_write_iops = has(d, "blkio.throttle.write_iops_device");
    }
    s
}

/// Whether cgroup v2 accounts swap: the root has no memory files of its own,
/// so look for `memory.swap.max` in its child cgroups (absent everywhere
/// without swap accounting, and then a swap limit could not be written).
fn swap_accounted_v2(root: &Path) -> bool {
    std::fs::read_dir(root).is_ok_and(|dirs| {
        dirs.flatten()
            .any(|e| e.path().join("memory.swap.max").exists())
    })
}

fn support_v2(root: &Path) -> Support {
    let offered = list(root, "cgroup.controllers");
    let on = |c: &str| offered.split_whitespace().any(|x| x == c);
    let mut s = Support::default();
    if on("memory") {
        s.memory_limit = true;
        s.swap_limit = swap_accounted_v2(root);
        s.memory_reservation = true;
    }
    if on("cpu") {
        s.cpu_shares = true;
        s.cpu_cfs = true;
    }
    if on("cpuset") {
        s.cpuset = true;
        s.cpus = list(root, "cpuset.cpus.effective");
        s.mems = list(root, "cpuset.mems.effective");
    }
    s.pids_limit = on("pids");
    if on("io") {
        s.blkio_weight = true;
        s.blkio_weight_device = true;
        s.blkio_read_bps = true;
        s.blkio_write_bps = true;
        s.blkio_read_iops = true;
        s.blkio_write_iops = true;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fake;

    fn layout(f: &Fake) -> Layout {
        let cfg = f.config(None, "x");
        crate::layout::detect_layout(&cfg.mountinfo, &cfg.root).unwrap()
    }

    #[test]
    fn v1_reads_the_controllers_files() {
        let f = Fake::v1(&["memory", "cpu,cpuacct", "cpuset", "pids", "blkio"], None);
        f.touch(
            "memory",
            &[
                "memory.soft_limit_in_bytes",
                "memory.swappiness",
                "memory.oom_control",
                "memory.kmem.limit_in_bytes",
            ],
        );
        f.touch(
            "cpu,cpuacct",
            &["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
        );
        f.mk(
            "cpuset",
            &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")],
        );
        f.touch("blkio", &["blkio.throttle.read_bps_device"]);
        let s = support(&layout(&f));
        assert!(s.memory_limit && s.memory_reservation && s.memory_swappiness);
        assert!(s.oom_kill_disable && s.kernel_memory && !s.kernel_memory_tcp);
        assert!(!s.swap_limit, "no memsw file: no swap accounting");
        assert!(s.cpu_shares && s.cpu_cfs && !s.cpu_realtime);
        assert!(s.cpuset && s.pids_limit);
        assert_eq!((s.cpus.as_str(), s.mems.as_str()), ("0-1", "0"));
        assert!(!s.blkio_weight && !s.blkio_weight_device, "no CFQ or BFQ");
        assert!(s.blkio_read_bps && !s.blkio_write_bps);

        f.touch("blkio", &["blkio.bfq.weight"]);
        f.touch("cpu,cpuacct", &["cpu.rt_period_us", "cpu.rt_runtime_us"]);
        f.touch("memory", &["memory.memsw.limit_in_bytes"]);
        let s = support(&layout(&f));
        assert!(s.blkio_weight && s.cpu_realtime && s.swap_limit);
    }

    #[test]
    fn hybrid_uses_the_v1_controllers() {
        let f = Fake::v1(&["memory"], Some("hugetlb"));
        f.touch("memory", &["memory.soft_limit_in_bytes"]);
        let s = support(&layout(&f));
        assert!(s.memory_reservation && !s.cpu_shares && !s.pids_limit);
    }

    #[test]
    fn v2_reads_the_root_controllers() {
        let f = Fake::v2("cpuset cpu memory pids");
        f.mk(
            "",
            &[
                ("cpuset.cpus.effective", "0-3\n"),
                ("cpuset.mems.effective", "0\n"),
            ],
        );
        let s = support(&layout(&f));
        assert!(s.memory_limit && s.memory_reservation);
        assert!(!s.swap_limit, "no child cgroup with memory.swap.max");
        assert!(!s.memory_swappiness && !s.kernel_memory && !s.oom_kill_disable);
        assert!(s.cpu_shares && s.cpu_cfs && !s.cpu_realtime && s.pids_limit);
        assert_eq!(s.cpus, "0-3");
        f.touch("system.slice", &["memory.swap.max"]);
        assert!(support(&layout(&f)).swap_limit);
        assert!(!s.blkio_weight, "no io controller");
        let s = support(&layout(&Fake::v2("io")));
        assert!(s.blkio_weight && s.blkio_write_iops && !s.memory_limit);
    }
}
