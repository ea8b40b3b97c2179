//! Statistics for the cgroup v2 back end.
//!
//! Owns: reading `cpu.stat`, `cpuset.*`, `memory.*`, `pids.*`, `io.stat`
//! and `hugetlb.*` into [`Stats`], converting to runc's v1-compatible
//! meaning (microseconds to nanoseconds, swap reported as memory + swap).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Result;
use crate::fsutil;
use crate::stats::{parse_cpu_list, BlkioEntry, Hugetlb, Stats};
use crate::v1_stats::hugetlb_sizes;

pub(crate) fn collect(dir: &Path) -> Result<Stats> {
    let mut s = Stats::default();
    let cpu = fsutil::read_flat_keyed(dir, "cpu.stat")?;
    let g = |k: &str| cpu.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = g("usage_usec") * 1000;
    s.cpu.usage.user = g("user_usec") * 1000;
    s.cpu.usage.kernel = g("system_usec") * 1000;
    s.cpu.throttling.periods = g("nr_periods");
    s.cpu.throttling.throttled_periods = g("nr_throttled");
    s.cpu.throttling.throttled_time = g("throttled_usec") * 1000;

    let cpus = match fsutil::read_opt(dir, "cpuset.cpus.effective")? {
        Some(c) => c,
        None => fsutil::read_opt(dir, "cpuset.cpus")?.unwrap_or_default(),
    };
    s.cpuset.cpus = parse_cpu_list(&cpus);
    let mems = match fsutil::read_opt(dir, "cpuset.mems.effective")? {
        Some(c) => c,
        None => fsutil::read_opt(dir, "cpuset.mems")?.unwrap_or_default(),
    };
    s.cpuset.mems = parse_cpu_list(&mems);

    let mem = &mut s.memory;
    mem.raw = fsutil::read_flat_keyed(dir, "memory.stat")?;
    mem.cache = mem.raw.get("file").copied().unwrap_or(0);
    mem.usage.usage = fsutil::read_u64(dir, "memory.current")?.unwrap_or(0);
    mem.usage.limit = fsutil::read_u64(dir, "memory.max")?.unwrap_or(u64::MAX);
    mem.usage.max = fsutil::read_u64(dir, "memory.peak")?.unwrap_or(0);
    mem.usage.failcnt = fsutil::read_flat_keyed(dir, "memory.events")?
        .get("max")
        .copied()
        .unwrap_or(0);
    // v1 reports memory+swap; do the same for compatibility.
    let swap = fsutil::read_u64(dir, "memory.swap.current")?.unwrap_or(0);
    let swap_max = fsutil::read_u64(dir, "memory.swap.max")?.unwrap_or(u64::MAX);
    mem.swap.usage = swap.saturating_add(mem.usage.usage);
    mem.swap.limit = swap_max.saturating_add(mem.usage.limit);
    mem.swap.max =
        fsutil::read_u64(dir, "memory.swap.peak")?.map_or(0, |p| p.saturating_add(mem.usage.max));
    mem.swap.failcnt = fsutil::read_flat_keyed(dir, "memory.swap.events")?
        .get("max")
        .copied()
        .unwrap_or(0);

    // Without the pids controller, count the processes instead.
    s.pids.current = match fsutil::read_u64(dir, "pids.current")? {
        Some(c) => c,
        None => fsutil::read_procs(dir)?.len() as u64,
    };
    s.pids.limit = fsutil::read_u64(dir, "pids.max")?
        .filter(|v| *v != u64::MAX)
        .unwrap_or(0);

    io_stat(dir, &mut s)?;
    s.hugetlb = hugetlb(dir)?;
    Ok(s)
}

fn io_stat(dir: &Path, s: &mut Stats) -> Result<()> {
    let Some(text) = fsutil::read_opt(dir, "io.stat")? else {
        return Ok(());
    };
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut s.blkio.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                "dios" => (&mut s.blkio.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    Ok(())
}

/// `hugetlb.<size>.current` and the `max` count of `hugetlb.<size>.events`.
pub(crate) fn hugetlb(dir: &Path) -> Result<BTreeMap<String, Hugetlb>> {
    let mut out = BTreeMap::new();
    for size in hugetlb_sizes(dir, ".current")? {
        let usage = fsutil::read_u64(dir, &format!("hugetlb.{size}.current"))?.unwrap_or(0);
        let failcnt = fsutil::read_flat_keyed(dir, &format!("hugetlb.{size}.events"))?
            .get("max")
            .copied()
            .unwrap_or(0);
        out.insert(
            size,
            Hugetlb {
                usage,
                max: 0,
                failcnt,
            },
        );
    }
    Ok(out)
}
