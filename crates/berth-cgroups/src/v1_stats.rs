//! Statistics for the cgroup v1 / hybrid back end.
//!
//! Owns: reading `cpuacct.*`, `cpu.stat`, `cpuset.*`, `memory.*`,
//! `pids.*`, `blkio.*` and `hugetlb.*` into [`Stats`]. Missing
//! controllers or files leave the corresponding fields at zero.

use std::path::Path;

use crate::error::Result;
use crate::fsutil;
use crate::stats::{is_page_size, parse_cpu_list, BlkioEntry, Hugetlb, MemoryEntry, Stats};
use crate::v1::V1Manager;

fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|v| *v > 0)
        .map_or(100, |v| v as u64)
}

pub(crate) fn collect(m: &V1Manager, unified: Option<&Path>) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(dir) = m.dir("cpuacct") {
        let u = &mut s.cpu.usage;
        u.total = fsutil::read_u64(dir, "cpuacct.usage")?.unwrap_or(0);
        u.percpu = fsutil::read_u64_list(dir, "cpuacct.usage_percpu")?;
        u.percpu_kernel = fsutil::read_u64_list(dir, "cpuacct.usage_percpu_sys")?;
        u.percpu_user = fsutil::read_u64_list(dir, "cpuacct.usage_percpu_user")?;
        // cpuacct.stat is in USER_HZ ticks.
        let st = fsutil::read_flat_keyed(dir, "cpuacct.stat")?;
        let ns_per_tick = 1_000_000_000 / clock_ticks();
        u.user = st.get("user").copied().unwrap_or(0) * ns_per_tick;
        u.kernel = st.get("system").copied().unwrap_or(0) * ns_per_tick;
    }
    if let Some(dir) = m.dir("cpu") {
        let st = fsutil::read_flat_keyed(dir, "cpu.stat")?;
        let t = &mut s.cpu.throttling;
        t.periods = st.get("nr_periods").copied().unwrap_or(0);
        t.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        t.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(dir) = m.dir("cpuset") {
        s.cpuset.cpus = parse_cpu_list(&fsutil::read_opt(dir, "cpuset.cpus")?.unwrap_or_default());
        s.cpuset.mems = parse_cpu_list(&fsutil::read_opt(dir, "cpuset.mems")?.unwrap_or_default());
    }
    if let Some(dir) = m.dir("memory") {
        let mem = &mut s.memory;
        mem.usage = memory_entry(dir, "memory")?;
        mem.swap = memory_entry(dir, "memory.memsw")?;
        mem.kernel = memory_entry(dir, "memory.kmem")?;
        mem.kernel_tcp = memory_entry(dir, "memory.kmem.tcp")?;
        mem.raw = fsutil::read_flat_keyed(dir, "memory.stat")?;
        mem.cache = mem.raw.get("cache").copied().unwrap_or(0);
    }
    if let Some(dir) = m.dir("pids") {
        s.pids.current = fsutil::read_u64(dir, "pids.current")?.unwrap_or(0);
        s.pids.limit = fsutil::read_u64(dir, "pids.max")?
            .filter(|v| *v != u64::MAX)
            .unwrap_or(0);
    }
    if let Some(dir) = m.dir("blkio") {
        blkio(dir, &mut s)?;
    }
    match (m.dir("hugetlb"), unified) {
        (Some(dir), _) => {
            for size in hugetlb_sizes(dir, ".limit_in_bytes")? {
                let f = |n: &str| format!("hugetlb.{size}.{n}");
                let h = Hugetlb {
                    usage: fsutil::read_u64(dir, &f("usage_in_bytes"))?.unwrap_or(0),
                    max: fsutil::read_u64(dir, &f("max_usage_in_bytes"))?.unwrap_or(0),
                    failcnt: fsutil::read_u64(dir, &f("failcnt"))?.unwrap_or(0),
                };
                s.hugetlb.insert(size, h);
            }
        }
        (None, Some(u)) if u.exists() => {
            s.hugetlb = crate::v2_stats::hugetlb(u)?;
        }
        _ => {}
    }
    Ok(s)
}

/// `<prefix>.usage_in_bytes`, `.max_usage_in_bytes`, `.limit_in_bytes`,
/// `.failcnt`.
fn memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let f = |n: &str| format!("{prefix}.{n}");
    Ok(MemoryEntry {
        limit: fsutil::read_u64(dir, &f("limit_in_bytes"))?.unwrap_or(0),
        usage: fsutil::read_u64(dir, &f("usage_in_bytes"))?.unwrap_or(0),
        max: fsutil::read_u64(dir, &f("max_usage_in_bytes"))?.unwrap_or(0),
        failcnt: fsutil::read_u64(dir, &f("failcnt"))?.unwrap_or(0),
    })
}

/// Page sizes that have a `hugetlb.<size><suffix>` file in `dir`.
pub(crate) fn hugetlb_sizes(dir: &Path, suffix: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(suffix))
        {
            if is_page_size(size) {
                out.push(size.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Parse blkio lines: `8:0 Read 4096`, `8:0 4096` or `Total 4096` (skipped).
pub(crate) fn parse_blkio(text: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some((maj, min)) = f.first().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        let (op, value) = match f.len() {
            3 => (f[1].to_string(), f[2].parse().unwrap_or(0)),
            2 => (String::new(), f[1].parse().unwrap_or(0)),
            _ => continue,
        };
        out.push(BlkioEntry {
            major,
            minor,
            op,
            value,
        });
    }
    out
}

fn blkio(dir: &Path, s: &mut Stats) -> Result<()> {
    let read = |f: &str| -> Result<Vec<BlkioEntry>> {
        Ok(parse_blkio(&fsutil::read_opt(dir, f)?.unwrap_or_default()))
    };
    let b = &mut s.blkio;
    // Prefer the CFQ / BFQ scheduler statistics, fall back to throttling.
    for prefix in ["blkio.", "blkio.bfq."] {
        b.io_service_bytes_recursive = read(&format!("{prefix}io_service_bytes_recursive"))?;
        if !b.io_service_bytes_recursive.is_empty() {
            b.io_serviced_recursive = read(&format!("{prefix}io_serviced_recursive"))?;
            b.io_queued_recursive = read(&format!("{prefix}io_queued_recursive"))?;
            b.io_service_time_recursive = read(&format!("{prefix}io_service_time_recursive"))?;
            b.io_wait_time_recursive = read(&format!("{prefix}io_wait_time_recursive"))?;
            b.io_merged_recursive = read(&format!("{prefix}io_merged_recursive"))?;
            b.io_time_recursive = read(&format!("{prefix}time_recursive"))?;
            b.sectors_recursive = read(&format!("{prefix}sectors_recursive"))?;
            return Ok(());
        }
    }
    b.io_service_bytes_recursive = read("blkio.throttle.io_service_bytes_recursive")?;
    if b.io_service_bytes_recursive.is_empty() {
        b.io_service_bytes_recursive = read("blkio.throttle.io_service_bytes")?;
    }
    b.io_serviced_recursive = read("blkio.throttle.io_serviced_recursive")?;
    if b.io_serviced_recursive.is_empty() {
        b.io_serviced_recursive = read("blkio.throttle.io_serviced")?;
    }
    Ok(())
}
