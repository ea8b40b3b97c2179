//! `update`: change a running container's resources. The request (runc's
//! flags, or a LinuxResources JSON from `--resources FILE` or `-` for stdin)
//! is merged into the resources of the saved config, the result is applied
//! through berth-cgroups (device rules excepted, as runc does), and the
//! saved config is updated so later commands see the new values.

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources, Spec};

use crate::error::{Context, Error, Result};
use crate::state;

/// runc's `update` flags; strings where runc takes strings.
#[derive(Debug, Clone, Default)]
pub struct UpdateFlags {
    /// A LinuxResources JSON file, or `-` for stdin; the other flags are
    /// then ignored.
    pub resources: Option<PathBuf>,
    pub blkio_weight: Option<u16>,
    pub cpu_period: Option<String>,
    pub cpu_quota: Option<String>,
    pub cpu_burst: Option<String>,
    pub cpu_share: Option<String>,
    pub cpu_rt_period: Option<String>,
    pub cpu_rt_runtime: Option<String>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub cpu_idle: Option<String>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    pub memory_swap: Option<String>,
    pub kernel_memory: Option<String>,
    pub kernel_memory_tcp: Option<String>,
    pub pids_limit: Option<i64>,
    pub l3_cache_schema: Option<String>,
    pub mem_bw_schema: Option<String>,
}

pub fn update(root: &Path, id: &str, flags: &UpdateFlags) -> Result<()> {
    let (st, _) = super::load_live(root, id, "container not running")?;
    let request = request(flags)?;
    let cg = super::cgroup_of(&st, "its resources cannot change")?;
    let mut spec: Spec = state::saved_spec(root, &st).ok_or_else(|| {
        Error::Config(format!(
            "the config saved for container {id} is missing or unreadable"
        ))
    })?;
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    merge(&mut resources, &request);
    // runc's update never touches device rules: an outside tool (a GPU
    // plugin) may have added some.
    let mut apply = resources.clone();
    apply.set_devices(None);
    cg.set(&apply)?;
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    state::save_spec(root, &st, &spec)
}

/// The resources the flags (or the `--resources` JSON) ask for.
pub fn request(f: &UpdateFlags) -> Result<LinuxResources> {
    if let Some(path) = &f.resources {
        let data = if path.as_os_str() == "-" {
            let mut v = Vec::new();
            std::io::stdin()
                .read_to_end(&mut v)
                .ctx("--resources -: read stdin")?;
            v
        } else {
            std::fs::read(path).with_ctx(|| format!("--resources: read {}", path.display()))?
        };
        let mut de = serde_json::Deserializer::from_slice(&data);
        return serde_path_to_error::deserialize(&mut de).map_err(|e| {
            Error::Usage(format!(
                "--resources {}: {}: {}",
                path.display(),
                e.path(),
                e.inner()
            ))
        });
    }
    for (name, v) in [
        ("l3-cache-schema", &f.l3_cache_schema),
        ("mem-bw-schema", &f.mem_bw_schema),
    ] {
        if v.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(Error::Unsupported(format!(
                "--{name}: Intel RDT is not supported"
            )));
        }
    }
    for (name, v) in [
        ("kernel-memory", &f.kernel_memory),
        ("kernel-memory-tcp", &f.kernel_memory_tcp),
    ] {
        if v.as_deref().is_some_and(|s| !s.is_empty()) {
            crate::log::warn(&format!(
                "setting --{name} is ignored (kernel memory limits are obsolete)"
            ));
        }
    }
    let u64_flag = |name: &str, v: &Option<String>| -> Result<Option<u64>> {
        flag_value(name, v, |s| s.parse().ok(), "a non-negative integer")
    };
    let i64_flag = |name: &str, v: &Option<String>| -> Result<Option<i64>> {
        flag_value(name, v, |s| s.parse().ok(), "an integer")
    };
    let mem_flag = |name: &str, v: &Option<String>| -> Result<Option<i64>> {
        let size = |s: &str| if s == "-1" { Some(-1) } else { ram_in_bytes(s) };
        flag_value(name, v, size, "a size like 512m or 1g")
    };

    let mut cpu = LinuxCpu::default();
    cpu.set_period(u64_flag("cpu-period", &f.cpu_period)?);
    cpu.set_quota(i64_flag("cpu-quota", &f.cpu_quota)?);
    cpu.set_burst(u64_flag("cpu-burst", &f.cpu_burst)?);
    cpu.set_shares(u64_flag("cpu-share", &f.cpu_share)?);
    cpu.set_realtime_period(u64_flag("cpu-rt-period", &f.cpu_rt_period)?);
    cpu.set_realtime_runtime(i64_flag("cpu-rt-runtime", &f.cpu_rt_runtime)?);
    cpu.set_idle(i64_flag("cpu-idle", &f.cpu_idle)?);
    cpu.set_cpus(f.cpuset_cpus.clone().filter(|s| !s.is_empty()));
    cpu.set_mems(f.cpuset_mems.clone().filter(|s| !s.is_empty()));

    let mut memory = LinuxMemory::default();
    memory.set_limit(mem_flag("memory", &f.memory)?);
    memory.set_swap(mem_flag("memory-swap", &f.memory_swap)?);
    memory.set_reservation(mem_flag("memory-reservation", &f.memory_reservation)?);

    let mut r = LinuxResources::default();
    r.set_cpu(Some(cpu));
    r.set_memory(Some(memory));
    if let Some(w) = f.blkio_weight.filter(|w| *w != 0) {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    if let Some(limit) = f.pids_limit.filter(|l| *l != 0) {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        r.set_pids(Some(p));
    }
    Ok(r)
}

/// The value of a string flag: absent or empty is `None`, else `parse`'s
/// result, or an error naming the flag and what `want`s.
fn flag_value<T>(
    name: &str,
    v: &Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    want: &str,
) -> Result<Option<T>> {
    match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse(s)
            .map(Some)
            .ok_or_else(|| Error::Usage(format!("--{name} {s:?}: not {want}"))),
    }
}

/// Parse a size as docker's units.RAMInBytes does: a decimal number with an
/// optional binary unit (k, m, g, t, p; `b`, `ib` suffixes allowed).
pub fn ram_in_bytes(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let num: f64 = num.parse().ok()?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0f64.powi(2),
        "g" => 1024.0f64.powi(3),
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return None,
    };
    let v = num * mult;
    (v < i64::MAX as f64).then_some(v as i64)
}

/// Lay the requested values over the current ones; absent values keep theirs.
pub fn merge(cur: &mut LinuxResources, req: &LinuxResources) {
    if let Some(m) = req.memory() {
        let mut c = cur.memory().unwrap_or_default();
        let mut swap = m.swap();
        // As runc: an unlimited memory without a swap value means unlimited swap too.
        if m.limit() == Some(-1) && swap.is_none() {
            swap = Some(-1);
        }
        c.set_limit(m.limit().or(c.limit()));
        c.set_reservation(m.reservation().or(c.reservation()));
        c.set_swap(swap.or(c.swap()));
        c.set_kernel(m.kernel().or(c.kernel()));
        c.set_kernel_tcp(m.kernel_tcp().or(c.kernel_tcp()));
        c.set_swappiness(m.swappiness().or(c.swappiness()));
        c.set_disable_oom_killer(m.disable_oom_killer().or(c.disable_oom_killer()));
        c.set_use_hierarchy(m.use_hierarchy().or(c.use_hierarchy()));
        cur.set_memory(Some(c));
    }
    if let Some(u) = req.cpu() {
        let mut c = cur.cpu().clone().unwrap_or_default();
        c.set_shares(u.shares().or(c.shares()));
        c.set_quota(u.quota().or(c.quota()));
        c.set_burst(u.burst().or(c.burst()));
        c.set_period(u.period().or(c.period()));
        c.set_realtime_runtime(u.realtime_runtime().or(c.realtime_runtime()));
        c.set_realtime_period(u.realtime_period().or(c.realtime_period()));
        c.set_idle(u.idle().or(c.idle()));
        let text = |new: &Option<String>, old: &Option<String>| {
            new.clone()
                .filter(|s| !s.is_empty())
                .or_else(|| old.clone())
        };
        let (cpus, mems) = (text(u.cpus(), c.cpus()), text(u.mems(), c.mems()));
        c.set_cpus(cpus);
        c.set_mems(mems);
        cur.set_cpu(Some(c));
    }
    if let Some(p) = req.pids().filter(|p| p.limit() != 0) {
        cur.set_pids(Some(p));
    }
    if let Some(b) = req.block_io() {
        let mut c = cur.block_io().clone().unwrap_or_default();
        c.set_weight(b.weight().or(c.weight()));
        c.set_leaf_weight(b.leaf_weight().or(c.leaf_weight()));
        macro_rules! lists {
            ($($get:ident / $set:ident),*) => {$(
                if b.$get().is_some() {
                    c.$set(b.$get().clone());
                }
            )*};
        }
        lists!(
            weight_device / set_weight_device,
            throttle_read_bps_device / set_throttle_read_bps_device,
            throttle_write_bps_device / set_throttle_write_bps_device,
            throttle_read_iops_device / set_throttle_read_iops_device,
            throttle_write_iops_device / set_throttle_write_iops_device
        );
        cur.set_block_io(Some(c));
    }
    if req.hugepage_limits().is_some() {
        cur.set_hugepage_limits(req.hugepage_limits().clone());
    }
    if req.network().is_some() {
        cur.set_network(req.network().clone());
    }
    if req.rdma().is_some() {
        cur.set_rdma(req.rdma().clone());
    }
    if let Some(u) = req.unified() {
        let mut c = cur.unified().clone().unwrap_or_default();
        c.extend(u.iter().map(|(k, v)| (k.clone(), v.clone())));
        cur.set_unified(Some(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker_units() {
        assert_eq!(ram_in_bytes("1024"), Some(1024));
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("64MB"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1.5g"), Some(3 << 29));
        assert_eq!(ram_in_bytes("2 KiB"), Some(2048));
        for bad in ["", "m", "1x", "-5", "1.m", "12mbx"] {
            assert_eq!(ram_in_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn flags_make_a_request_and_merge_keeps_the_rest() {
        let req = request(&UpdateFlags {
            memory: Some("64m".into()),
            pids_limit: Some(20),
            cpu_share: Some("512".into()),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        })
        .unwrap();
        let mut cur: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 1073741824, "reservation": 1000},
            "cpu": {"quota": 50000, "period": 100000, "mems": "0"},
            "pids": {"limit": 100},
            "devices": [{"allow": false, "access": "rwm"}]
        }))
        .unwrap();
        merge(&mut cur, &req);
        let m = cur.memory().unwrap();
        assert_eq!((m.limit(), m.reservation()), (Some(64 << 20), Some(1000)));
        let c = cur.cpu().as_ref().unwrap();
        assert_eq!((c.shares(), c.quota()), (Some(512), Some(50000)));
        assert_eq!(
            (c.cpus().as_deref(), c.mems().as_deref()),
            (Some("0"), Some("0"))
        );
        assert_eq!(cur.pids().unwrap().limit(), 20);
        assert_eq!(cur.devices().as_ref().unwrap().len(), 1);

        // No --pids-limit (0) keeps the current limit; -1 memory frees swap too.
        let req = request(&UpdateFlags {
            memory: Some("-1".into()),
            ..Default::default()
        })
        .unwrap();
        merge(&mut cur, &req);
        assert_eq!(cur.pids().unwrap().limit(), 20);
        assert_eq!(cur.memory().unwrap().swap(), Some(-1));
    }

    #[test]
    fn bad_values_name_the_flag() {
        let e = request(&UpdateFlags {
            cpu_quota: Some("lots".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("--cpu-quota \"lots\""), "{e}");
        let e = request(&UpdateFlags {
            memory: Some("12q".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("--memory"), "{e}");
    }
}
