//! The checks dockerd makes on a container's resource limits before it accepts them (at create and
//! at update), with its messages and warnings, in its order: a bad value fails at once instead of
//! at start, and a limit this host's cgroups cannot apply is dropped from the request with
//! dockerd's warning (the CLI prints it) instead of silently.

use crate::error::{ApiError, ApiResult};
use berth_cgroups::Support;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// dockerd's smallest memory, memory reservation and kernel memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// What this host's cgroups can limit, read once.
pub fn host_support() -> &'static Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    SUPPORT.get_or_init(berth_cgroups::host_support)
}

/// The host's CPU count, read once (as dockerd's `runtime.NumCPU()`: std's reads the cgroup's
/// quota files each time, on every create).
pub fn host_ncpu() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn int(o: &Map<String, Value>, k: &str) -> i64 {
    o.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(o: &'a Map<String, Value>, k: &str) -> &'a str {
    o.get(k).and_then(Value::as_str).unwrap_or("")
}

fn nonempty_list(o: &Map<String, Value>, k: &str) -> bool {
    o.get(k)
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// Check the resource fields of `o` (a create request's `HostConfig`, or an update's body) as
/// dockerd does, against the host's `sys` and `ncpu` CPUs: an error for a bad value, and for a
/// limit the host cannot apply its warning, with the field reset in `o` (as dockerd does, so
/// inspect shows it unset). `update`: the request is an update (a swap limit without a memory
/// limit is then fine).
pub fn verify(
    o: &mut Map<String, Value>,
    sys: &Support,
    ncpu: usize,
    update: bool,
) -> ApiResult<Vec<String>> {
    let mut warnings = Vec::new();
    let mut warn = |w: &str| warnings.push(w.to_string());
    if o.get("MemorySwappiness").and_then(Value::as_i64) == Some(-1) {
        o.insert("MemorySwappiness".into(), Value::Null);
    }

    // Memory.
    let memory = int(o, "Memory");
    if memory != 0 && memory < MIN_MEMORY {
        return Err(bad("Minimum memory limit allowed is 6MB"));
    }
    if memory > 0 && !sys.memory_limit {
        warn("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.");
        o.insert("Memory".into(), 0.into());
        o.insert("MemorySwap".into(), (-1).into());
    }
    if int(o, "Memory") > 0 && int(o, "MemorySwap") != -1 && !sys.swap_limit {
        warn("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.");
        o.insert("MemorySwap".into(), (-1).into());
    }
    let (memory, swap) = (int(o, "Memory"), int(o, "MemorySwap"));
    if memory > 0 && swap > 0 && swap < memory {
        return Err(bad(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if memory == 0 && swap > 0 && !update {
        return Err(bad(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if o.get("MemorySwappiness").is_some_and(|v| !v.is_null()) && !sys.memory_swappiness {
        warn("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.");
        o.insert("MemorySwappiness".into(), Value::Null);
    }
    if let Some(s) = o.get("MemorySwappiness").and_then(Value::as_i64) {
        if !(0..=100).contains(&s) {
            return Err(bad(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    if int(o, "MemoryReservation") > 0 && !sys.memory_reservation {
        warn("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.");
        o.insert("MemoryReservation".into(), 0.into());
    }
    let reservation = int(o, "MemoryReservation");
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err(bad("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if int(o, "KernelMemory") > 0 {
        warn("Specifying a kernel memory limit is deprecated and will be removed in a future release.");
        if !sys.kernel_memory {
            warn("Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded.");
            o.insert("KernelMemory".into(), 0.into());
        }
        let k = int(o, "KernelMemory");
        if k > 0 && k < MIN_MEMORY {
            return Err(bad("Minimum kernel memory limit allowed is 6MB"));
        }
    }
    if let Some(off) = o.get("OomKillDisable").and_then(Value::as_bool) {
        if !sys.oom_kill_disable {
            if off {
                warn("Your kernel does not support OomKillDisable. OomKillDisable discarded.");
            }
            o.insert("OomKillDisable".into(), Value::Null);
        } else if off && memory == 0 {
            warn("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.");
        }
    }
    if let Some(p) = o.get("PidsLimit").and_then(Value::as_i64) {
        if !sys.pids_limit {
            if p > 0 {
                warn("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.");
            }
            o.insert("PidsLimit".into(), Value::Null);
        }
    }

    // CPU.
    let nano = int(o, "NanoCpus");
    if nano > 0 && int(o, "CpuPeriod") > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && int(o, "CpuQuota") > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if nano > 0 && !sys.cpu_cfs {
        return Err(bad("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted"));
    }
    if nano < 0 || nano > ncpu as i64 * 1_000_000_000 {
        return Err(bad(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if int(o, "CpuShares") > 0 && !sys.cpu_shares {
        warn("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.");
        o.insert("CpuShares".into(), 0.into());
    }
    if (int(o, "CpuPeriod") != 0 || int(o, "CpuQuota") != 0) && !sys.cpu_cfs {
        warn("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.");
        o.insert("CpuPeriod".into(), 0.into());
        o.insert("CpuQuota".into(), 0.into());
    }
    let period = int(o, "CpuPeriod");
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    let quota = int(o, "CpuQuota");
    if quota > 0 && quota < 1000 {
        return Err(bad("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    if int(o, "CpuPercent") > 0 {
        warn("linux does not support CPU percent. Percent discarded.");
        o.insert("CpuPercent".into(), 0.into());
    }

    // Cpuset.
    if (!text(o, "CpusetCpus").is_empty() || !text(o, "CpusetMems").is_empty()) && !sys.cpuset {
        warn("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.");
        o.insert("CpusetCpus".into(), "".into());
        o.insert("CpusetMems".into(), "".into());
    }
    for (key, what, have, missing) in [
        ("CpusetCpus", "cpus", &sys.cpus, "CPUs"),
        ("CpusetMems", "mems", &sys.mems, "memory nodes"),
    ] {
        let want = text(o, key);
        if want.is_empty() {
            continue;
        }
        let wanted = cpu_list(want).ok_or_else(|| {
            bad(format!(
                "Invalid value {want} for cpuset {what}: invalid format: {want}"
            ))
        })?;
        let have_list = cpu_list(have).unwrap_or_default();
        if wanted.iter().any(|c| !have_list.contains(c)) {
            return Err(bad(format!(
                "Requested {missing} are not available - requested {want}, available: {have}"
            )));
        }
    }

    // Block I/O.
    if int(o, "BlkioWeight") > 0 && !sys.blkio_weight {
        warn("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.");
        o.insert("BlkioWeight".into(), 0.into());
    }
    let weight = int(o, "BlkioWeight");
    if weight > 0 && !(10..=1000).contains(&weight) {
        return Err(bad("Range of blkio weight is from 10 to 1000"));
    }
    if int(o, "IOMaximumBandwidth") != 0 || int(o, "IOMaximumIOps") != 0 {
        return Err(bad(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps",
        ));
    }
    for (key, supported, warning) in [
        ("BlkioWeightDevice", sys.blkio_weight_device, "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded."),
        ("BlkioDeviceReadBps", sys.blkio_read_bps, "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded."),
        ("BlkioDeviceWriteBps", sys.blkio_write_bps, "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded."),
        ("BlkioDeviceReadIOps", sys.blkio_read_iops, "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded."),
        ("BlkioDeviceWriteIOps", sys.blkio_write_iops, "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded."),
    ] {
        if nonempty_list(o, key) && !supported {
            warn(warning);
            o.insert(key.into(), Value::Array(vec![]));
        }
    }
    Ok(warnings)
}

/// dockerd's create refuses Windows' I/O limits before anything else (status 500, its message).
pub fn create_qos(o: &Map<String, Value>) -> ApiResult<()> {
    for (key, what) in [
        ("IOMaximumBandwidth", "maximum bandwidth"),
        ("IOMaximumIOps", "maximum IOPs"),
    ] {
        if int(o, key) != 0 {
            return Err(ApiError::Internal(format!(
                "Invalid QoS settings: linux does not support configuration of {what}"
            )));
        }
    }
    Ok(())
}

/// A cpuset list (`0-2,4`) as its CPU (or node) numbers; None when malformed.
fn cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = vec![];
    for part in s.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                if a > b || b - a > 65536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all() -> Support {
        Support {
            memory_limit: true,
            swap_limit: true,
            memory_reservation: true,
            memory_swappiness: true,
            kernel_memory: true,
            kernel_memory_tcp: true,
            oom_kill_disable: true,
            pids_limit: true,
            cpu_shares: true,
            cpu_cfs: true,
            cpu_realtime: true,
            cpuset: true,
            blkio_weight: true,
            blkio_weight_device: true,
            blkio_read_bps: true,
            blkio_write_bps: true,
            blkio_read_iops: true,
            blkio_write_iops: true,
            cpus: "0-1".into(),
            mems: "0".into(),
        }
    }

    fn run(v: Value, sys: &Support, update: bool) -> (ApiResult<Vec<String>>, Value) {
        let mut o = v.as_object().unwrap().clone();
        let r = verify(&mut o, sys, 2, update);
        (r, Value::Object(o))
    }

    fn msg(v: Value) -> String {
        run(v, &all(), false).0.unwrap_err().to_string()
    }

    #[test]
    fn docker_s_checks() {
        let ok = json!({"Memory": 64 << 20, "MemorySwap": -1, "NanoCpus": 2_000_000_000,
            "CpusetCpus": "0,1", "CpusetMems": "0", "MemoryReservation": 32 << 20, "BlkioWeight": 300});
        assert_eq!(run(ok, &all(), false).0.unwrap(), Vec::<String>::new());
        assert!(msg(json!({"NanoCpus": 99_000_000_000i64}))
            .starts_with("Range of CPUs is from 0.01 to 2.00"));
        assert!(msg(json!({"Memory": 64 << 20, "MemorySwap": 32 << 20}))
            .starts_with("Minimum memoryswap limit"));
        assert!(msg(json!({"MemorySwap": 32 << 20})).starts_with("You should always set"));
        assert!(run(json!({"MemorySwap": 32 << 20}), &all(), true).0.is_ok());
        assert!(msg(json!({"NanoCpus": 1, "CpuQuota": 50000})).contains("CPU Quota cannot both"));
        assert_eq!(
            msg(json!({"CpusetCpus": "7"})),
            "Requested CPUs are not available - requested 7, available: 0-1"
        );
        assert_eq!(
            msg(json!({"CpusetMems": "1"})),
            "Requested memory nodes are not available - requested 1, available: 0"
        );
        assert_eq!(
            msg(json!({"CpusetCpus": "x"})),
            "Invalid value x for cpuset cpus: invalid format: x"
        );
        assert_eq!(
            msg(json!({"Memory": 64 << 20, "MemoryReservation": 128 << 20})),
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        );
        assert_eq!(
            msg(json!({"MemoryReservation": 1 << 20})),
            "Minimum memory reservation allowed is 6MB"
        );
        assert_eq!(
            msg(json!({"Memory": -1})),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            msg(json!({"BlkioWeight": 5})),
            "Range of blkio weight is from 10 to 1000"
        );
        assert!(msg(json!({"MemorySwappiness": 101})).contains("range is 0-100"));
        assert!(msg(json!({"IOMaximumIOps": 1})).starts_with("Invalid QoS settings"));
    }

    #[test]
    fn what_the_host_cannot_apply_is_dropped_with_a_warning() {
        let none = Support::default();
        let (r, o) = run(
            json!({"Memory": 64 << 20, "MemoryReservation": 32 << 20, "MemorySwappiness": 10,
                "OomKillDisable": true, "PidsLimit": 5, "CpuShares": 512, "CpuQuota": 5000,
                "CpusetCpus": "0", "BlkioWeight": 5, "BlkioDeviceReadBps": [{"Path": "/dev/x", "Rate": 1}]}),
            &none,
            false,
        );
        let w = r.unwrap();
        assert_eq!(w.len(), 10, "{w:#?}");
        assert!(w[0].contains("memory limit capabilities"));
        assert!(w[9].contains("BPS Block I/O read limit"));
        assert_eq!(o["Memory"], 0);
        assert_eq!(o["MemorySwap"], -1);
        assert_eq!(o["MemoryReservation"], 0);
        assert!(o["MemorySwappiness"].is_null() && o["OomKillDisable"].is_null());
        assert!(o["PidsLimit"].is_null());
        assert_eq!(o["CpuQuota"], 0);
        assert_eq!(o["CpusetCpus"], "");
        assert_eq!(o["BlkioWeight"], 0, "dropped before its range is checked");
        assert_eq!(o["BlkioDeviceReadBps"], json!([]));

        // Without swap accounting a memory limit comes without swap.
        let sys = Support {
            swap_limit: false,
            ..all()
        };
        let (r, o) = run(json!({"Memory": 64 << 20}), &sys, false);
        assert!(r.unwrap()[0].contains("Memory limited without swap"));
        assert_eq!(o["MemorySwap"], -1);

        let (r, o) = run(
            json!({"KernelMemory": 50 << 20, "OomKillDisable": true, "CpuPercent": 50}),
            &all(),
            false,
        );
        assert_eq!(
            r.unwrap(),
            [
                "Specifying a kernel memory limit is deprecated and will be removed in a future release.",
                "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.",
                "linux does not support CPU percent. Percent discarded.",
            ]
        );
        assert_eq!(o["KernelMemory"], 50 << 20, "kept, as dockerd keeps it");
        assert_eq!(o["CpuPercent"], 0);
        assert!(create_qos(&o.as_object().unwrap().clone()).is_ok());
        let e = create_qos(json!({"IOMaximumBandwidth": 1}).as_object().unwrap()).unwrap_err();
        assert!(e.to_string().ends_with("maximum bandwidth"));
    }
}
