//! The rest of `HostConfig` users rely on, validated at create time and applied to the OCI config:
//! DNS settings and extra hosts (the container's resolv.conf and hosts), tmpfs mounts, ulimits,
//! sysctls, /dev/shm size, OOM score, extra groups, devices, sharing the host's pid/ipc/uts namespaces,
//! CPU shares and cpuset, memory+swap, memory reservation and swappiness, block I/O weight.

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `HostConfig.Ulimits[]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// `HostConfig.Devices[]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// `HostConfig.BlkioWeightDevice[]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// `HostConfig.BlkioDevice{Read,Write}{Bps,IOps}[]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// The request's fields (all optional).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExtraRequest {
    pub dns: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub sysctls: Option<BTreeMap<String, String>>,
    pub shm_size: Option<i64>,
    pub oom_score_adj: Option<i64>,
    pub group_add: Option<Vec<String>>,
    pub devices: Option<Vec<DeviceMapping>>,
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    pub cgroupns_mode: Option<String>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: Option<String>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_realtime_period: Option<i64>,
    pub cpu_realtime_runtime: Option<i64>,
    pub cpuset_mems: Option<String>,
    pub blkio_weight: Option<i64>,
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
}

/// The validated settings kept in the container's record.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct HostExtra {
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// (host name, address).
    pub extra_hosts: Vec<(String, String)>,
    pub tmpfs: BTreeMap<String, String>,
    pub ulimits: Vec<Ulimit>,
    pub sysctls: BTreeMap<String, String>,
    pub shm_size: i64,
    pub oom_score_adj: i64,
    pub group_add: Vec<String>,
    pub devices: Vec<DeviceMapping>,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub host_uts: bool,
    /// `CgroupnsMode` `private`: a cgroup namespace of its own (the default on cgroup v2 only,
    /// as dockerd's; see [`cgroupns_private`]).
    pub cgroupns_private: bool,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub memory_swap: i64,
    /// `MemoryReservation` (the soft limit; 0: none).
    pub memory_reservation: i64,
    /// `MemorySwappiness` (0-100; `None`: the host's).
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: bool,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    /// `CpuRealtimePeriod` and `CpuRealtimeRuntime` (microseconds; cgroup v1's cpu.rt_*).
    pub cpu_rt_period: i64,
    pub cpu_rt_runtime: i64,
    /// `CpusetMems` (memory nodes; empty: all).
    pub cpuset_mems: String,
    /// `BlkioWeight` (10-1000; 0: the default), where the host has it (see `super::resources`).
    pub blkio_weight: i64,
    /// Per-device weights and throttles (device paths, resolved at each start).
    pub blkio_weight_device: Vec<WeightDevice>,
    pub blkio_read_bps: Vec<ThrottleDevice>,
    pub blkio_write_bps: Vec<ThrottleDevice>,
    pub blkio_read_iops: Vec<ThrottleDevice>,
    pub blkio_write_iops: Vec<ThrottleDevice>,
}

pub const ULIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest(msg)
}

fn host_or_private(v: &Option<String>, what: &str) -> ApiResult<bool> {
    match v.as_deref().unwrap_or("") {
        "" | "private" | "shareable" => Ok(false),
        "host" => Ok(true),
        // Joining another container's namespace: see `super::modes`.
        other if other.starts_with("container:") => Ok(false),
        other => Err(bad(format!(
            "invalid {what}: {other:?} is not supported yet"
        ))),
    }
}

/// Whether `CgroupnsMode` gives the container a cgroup namespace of its own: `private`, or left
/// empty on a host with cgroup v2 alone (dockerd's default there; `host` on v1 and hybrid hosts).
pub fn cgroupns_private(mode: Option<&str>) -> ApiResult<bool> {
    match mode.unwrap_or("") {
        "" => {
            // The host's cgroup layout, looked at once.
            static V2_ONLY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
            Ok(*V2_ONLY
                .get_or_init(|| std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()))
        }
        "private" => Ok(true),
        "host" => Ok(false),
        other => Err(bad(format!("invalid cgroup namespace mode: {other}"))),
    }
}

/// dockerd's sysctls for a container with a network namespace of its own (not the host's, not
/// another container's), under the ones the request sets: any user may bind ports below 1024
/// and open ICMP echo sockets in it (the latter not in a remapped user namespace, where the
/// kernel refuses the range). Only those the host's kernel has.
pub fn default_net_sysctls(cfg: &mut Value, remapped: bool) {
    let mut add = |key: &str, value: &str| {
        let known = std::path::Path::new("/proc/sys").join(key.replace('.', "/"));
        if known.exists() && cfg["linux"]["sysctl"].get(key).is_none() {
            cfg["linux"]["sysctl"][key] = json!(value);
        }
    };
    if !remapped {
        add("net.ipv4.ping_group_range", "0 2147483647");
    }
    add("net.ipv4.ip_unprivileged_port_start", "0");
}

/// `--add-host name:host-gateway`: the host's address as containers reach it (the default
/// bridge's gateway), put in at each start.
pub const HOST_GATEWAY: &str = "host-gateway";

/// Validate the request.
pub fn parse(r: ExtraRequest) -> ApiResult<HostExtra> {
    let mut extra_hosts = Vec::new();
    for h in r.extra_hosts.unwrap_or_default() {
        let (name, ip) = h
            .split_once('=')
            .or_else(|| h.split_once(':'))
            .ok_or_else(|| bad(format!("invalid extra host {h:?}: want host:ip")))?;
        if ip != HOST_GATEWAY && ip.parse::<std::net::IpAddr>().is_err() {
            return Err(bad(format!("invalid IP address in add-host: {ip:?}")));
        }
        extra_hosts.push((name.to_string(), ip.to_string()));
    }
    for d in r.dns.iter().flatten() {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(bad(format!("{d} is not an ip address")));
        }
    }
    let ulimits = r.ulimits.unwrap_or_default();
    for u in &ulimits {
        if !ULIMITS.contains(&u.name.as_str()) {
            return Err(bad(format!("invalid ulimit type: {}", u.name)));
        }
        if u.soft > u.hard {
            return Err(bad(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
    }
    let tmpfs = r.tmpfs.unwrap_or_default();
    if let Some(p) = tmpfs.keys().find(|p| !p.starts_with('/')) {
        return Err(bad(format!("invalid mount path {p:?}: must be absolute")));
    }
    let devices = r.devices.unwrap_or_default();
    for dev in &devices {
        if !std::path::Path::new(&dev.path_on_host).exists() {
            return Err(bad(format!(
                "error gathering device information while adding custom device {:?}: no such file or directory",
                dev.path_on_host
            )));
        }
    }
    if r.shm_size.is_some_and(|s| s < 0) {
        return Err(bad("SHM size can not be less than 0".into()));
    }
    if r.oom_score_adj
        .is_some_and(|o| !(-1000..=1000).contains(&o))
    {
        return Err(bad(
            "Invalid value for OomScoreAdj, range is [-1000, 1000]".into()
        ));
    }
    let (cpu_rt_period, cpu_rt_runtime) = (
        r.cpu_realtime_period.unwrap_or(0),
        r.cpu_realtime_runtime.unwrap_or(0),
    );
    for (v, what) in [(cpu_rt_period, "period"), (cpu_rt_runtime, "runtime")] {
        if v > 0 && !super::resources::host_support().cpu_realtime {
            return Err(bad(format!(
                "Your kernel does not support cgroup cpu real-time {what}"
            )));
        }
    }
    if cpu_rt_period != 0 && cpu_rt_runtime != 0 && cpu_rt_runtime > cpu_rt_period {
        return Err(bad(
            "cpu real-time runtime cannot be higher than cpu real-time period".into(),
        ));
    }
    // dockerd's checks and messages.
    let memory_swappiness = match r.memory_swappiness {
        None | Some(-1) => None,
        Some(v) if (0..=100).contains(&v) => Some(v),
        Some(v) => {
            return Err(bad(format!(
                "Invalid value: {v}, valid memory swappiness range is 0-100"
            )))
        }
    };
    let memory_reservation = r.memory_reservation.unwrap_or(0);
    if memory_reservation > 0 && memory_reservation < 6 * 1024 * 1024 {
        return Err(bad("Minimum memory reservation allowed is 6MB".into()));
    }
    Ok(HostExtra {
        dns: r.dns.unwrap_or_default(),
        dns_search: r.dns_search.unwrap_or_default(),
        dns_options: r.dns_options.unwrap_or_default(),
        extra_hosts,
        tmpfs,
        ulimits,
        sysctls: r.sysctls.unwrap_or_default(),
        shm_size: r.shm_size.unwrap_or(0),
        oom_score_adj: r.oom_score_adj.unwrap_or(0),
        group_add: r.group_add.unwrap_or_default(),
        devices,
        host_pid: host_or_private(&r.pid_mode, "PidMode")?,
        host_ipc: host_or_private(&r.ipc_mode, "IpcMode")?,
        host_uts: host_or_private(&r.uts_mode, "UTSMode")?,
        cgroupns_private: cgroupns_private(r.cgroupns_mode.as_deref())?,
        cpu_shares: r.cpu_shares.unwrap_or(0),
        cpuset_cpus: r.cpuset_cpus.unwrap_or_default(),
        memory_swap: r.memory_swap.unwrap_or(0),
        memory_reservation,
        memory_swappiness,
        oom_kill_disable: r.oom_kill_disable.unwrap_or(false),
        cpu_quota: r.cpu_quota.unwrap_or(0),
        cpu_period: r.cpu_period.unwrap_or(0),
        cpu_rt_period,
        cpu_rt_runtime,
        cpuset_mems: r.cpuset_mems.unwrap_or_default(),
        blkio_weight: r.blkio_weight.unwrap_or(0),
        blkio_weight_device: r.blkio_weight_device.unwrap_or_default(),
        blkio_read_bps: r.blkio_device_read_bps.unwrap_or_default(),
        blkio_write_bps: r.blkio_device_write_bps.unwrap_or_default(),
        blkio_read_iops: r.blkio_device_read_iops.unwrap_or_default(),
        blkio_write_iops: r.blkio_device_write_iops.unwrap_or_default(),
    })
}

/// Extra lines for /etc/hosts.
pub fn hosts_lines(x: &HostExtra) -> String {
    x.extra_hosts
        .iter()
        .map(|(n, ip)| format!("{ip}\t{n}\n"))
        .collect()
}

/// resolv.conf when DNS settings were given (None: use the host's).
pub fn resolv_conf(x: &HostExtra, host: &str) -> Option<String> {
    if x.dns.is_empty() && x.dns_search.is_empty() && x.dns_options.is_empty() {
        return None;
    }
    let keep = |kw: &str| -> Vec<String> {
        host.lines()
            .filter(|l| l.split_whitespace().next() == Some(kw))
            .map(String::from)
            .collect()
    };
    let mut out = String::new();
    let ns: Vec<String> = if x.dns.is_empty() {
        keep("nameserver")
    } else {
        x.dns.iter().map(|d| format!("nameserver {d}")).collect()
    };
    let search: Vec<String> = if x.dns_search.is_empty() {
        keep("search")
    } else {
        vec![format!("search {}", x.dns_search.join(" "))]
    };
    let opts: Vec<String> = if x.dns_options.is_empty() {
        keep("options")
    } else {
        vec![format!("options {}", x.dns_options.join(" "))]
    };
    for l in search.iter().chain(ns.iter()).chain(opts.iter()) {
        out.push_str(l);
        out.push('\n');
    }
    Some(out)
}

/// Group names or ids of `GroupAdd`, resolved against the container's /etc/group.
pub fn group_ids(x: &HostExtra, rootfs: &std::path::Path) -> Result<Vec<u32>, String> {
    let groups = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    x.group_add
        .iter()
        .map(|g| {
            g.parse::<u32>().or_else(|_| {
                groups
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() > 2 && f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| {
                        format!("unable to find group {g}: no matching entries in group file")
                    })
            })
        })
        .collect()
}

pub(crate) fn device_node(path: &str) -> Option<(char, u64, u64, u32)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let md = std::fs::metadata(path).ok()?;
    let kind = if md.file_type().is_char_device() {
        'c'
    } else if md.file_type().is_block_device() {
        'b'
    } else {
        return None;
    };
    let rdev = md.rdev();
    Some((
        kind,
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev),
        md.permissions().mode() & 0o777,
    ))
}

/// The host's device nodes under /dev, for a privileged container (the runtime's defaults and the
/// per-container file systems excepted).
pub fn host_devices() -> Vec<Value> {
    const SKIP: &[&str] = &[
        "null", "zero", "full", "random", "urandom", "tty", "console", "ptmx",
    ];
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !matches!(p.to_str(), Some("/dev/pts" | "/dev/shm" | "/dev/mqueue")) {
                    stack.push(p);
                }
                continue;
            }
            if dir == std::path::Path::new("/dev")
                && SKIP.contains(&e.file_name().to_str().unwrap_or(""))
            {
                continue;
            }
            let Some(ps) = p.to_str() else { continue };
            if let Some((kind, major, minor, mode)) = device_node(ps) {
                out.push(
                    json!({"path": ps, "type": kind.to_string(), "major": major, "minor": minor,
                    "fileMode": mode, "uid": 0, "gid": 0}),
                );
            }
        }
    }
    out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    out
}

/// A block device's numbers, as dockerd finds them at start (any path: the kernel refuses
/// what is not a block device).
fn dev_numbers(path: &str) -> Result<(u64, u64), String> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).map_err(|e| {
        let why = e.raw_os_error().map_or_else(
            || e.to_string(),
            |n| nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        );
        format!("stat {path}: {why}")
    })?;
    let rdev = md.rdev();
    Ok((nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)))
}

/// `linux.resources.blockIO`: the weight and the per-device weights and throttles.
fn block_io(x: &HostExtra) -> Result<serde_json::Map<String, Value>, String> {
    let mut b = serde_json::Map::new();
    if x.blkio_weight > 0 {
        b.insert("weight".into(), json!(x.blkio_weight));
    }
    if !x.blkio_weight_device.is_empty() {
        let mut list = Vec::new();
        for w in &x.blkio_weight_device {
            let (major, minor) = dev_numbers(&w.path)?;
            list.push(json!({"major": major, "minor": minor, "weight": w.weight}));
        }
        b.insert("weightDevice".into(), Value::Array(list));
    }
    for (key, devs) in [
        ("throttleReadBpsDevice", &x.blkio_read_bps),
        ("throttleWriteBpsDevice", &x.blkio_write_bps),
        ("throttleReadIOPSDevice", &x.blkio_read_iops),
        ("throttleWriteIOPSDevice", &x.blkio_write_iops),
    ] {
        if devs.is_empty() {
            continue;
        }
        let mut list = Vec::new();
        for t in devs {
            let (major, minor) = dev_numbers(&t.path)?;
            list.push(json!({"major": major, "minor": minor, "rate": t.rate}));
        }
        b.insert(key.into(), Value::Array(list));
    }
    Ok(b)
}

/// Apply to a config built by [`super::spec::oci_config`].
pub fn apply(x: &HostExtra, cfg: &mut Value, rootfs: &std::path::Path) -> Result<(), String> {
    // Namespaces shared with the host.
    if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| {
            let t = n["type"].as_str().unwrap_or("");
            !((t == "pid" && x.host_pid)
                || (t == "ipc" && x.host_ipc)
                || (t == "uts" && x.host_uts))
        });
        if x.cgroupns_private && !ns.iter().any(|n| n["type"] == "cgroup") {
            ns.push(json!({"type": "cgroup"}));
        }
    }
    if x.host_uts {
        if let Some(o) = cfg.as_object_mut() {
            o.remove("hostname");
        }
    }
    if let Some(mounts) = cfg["mounts"].as_array_mut() {
        if x.shm_size > 0 {
            for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
                m["options"] = json!([
                    "nosuid",
                    "noexec",
                    "nodev",
                    "mode=1777",
                    format!("size={}", x.shm_size)
                ]);
            }
        }
        for (dest, opts) in &x.tmpfs {
            let mut o: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
            o.extend(opts.split(',').filter(|s| !s.is_empty()).map(String::from));
            mounts.retain(|m| m["destination"] != dest.as_str());
            mounts.push(
                json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": o}),
            );
        }
    }
    if !x.ulimits.is_empty() {
        cfg["process"]["rlimits"] = json!(x
            .ulimits
            .iter()
            .map(|u| json!({"type": format!("RLIMIT_{}", u.name.to_uppercase()), "soft": u.soft, "hard": u.hard}))
            .collect::<Vec<_>>());
    }
    if !x.sysctls.is_empty() {
        cfg["linux"]["sysctl"] = json!(x.sysctls);
    }
    if x.oom_score_adj != 0 {
        cfg["process"]["oomScoreAdj"] = json!(x.oom_score_adj);
    }
    if !x.group_add.is_empty() {
        let mut gids: Vec<u32> =
            serde_json::from_value(cfg["process"]["user"]["additionalGids"].clone())
                .unwrap_or_default();
        gids.extend(group_ids(x, rootfs)?);
        cfg["process"]["user"]["additionalGids"] = json!(gids);
    }
    let res = &mut cfg["linux"]["resources"];
    if x.cpu_shares > 0
        || !x.cpuset_cpus.is_empty()
        || !x.cpuset_mems.is_empty()
        || x.cpu_quota > 0
        || x.cpu_period > 0
    {
        if !res["cpu"].is_object() {
            res["cpu"] = json!({});
        }
        if x.cpu_quota > 0 {
            res["cpu"]["quota"] = json!(x.cpu_quota);
        }
        if x.cpu_period > 0 {
            res["cpu"]["period"] = json!(x.cpu_period);
        }
        if x.cpu_shares > 0 {
            res["cpu"]["shares"] = json!(x.cpu_shares);
        }
        if !x.cpuset_cpus.is_empty() {
            res["cpu"]["cpus"] = json!(x.cpuset_cpus);
        }
        if !x.cpuset_mems.is_empty() {
            res["cpu"]["mems"] = json!(x.cpuset_mems);
        }
    }
    let block_io = block_io(x)?;
    if !block_io.is_empty() {
        res["blockIO"] = Value::Object(block_io);
    }
    // The runtime writes them to the container's cgroup: with no real-time budget in the parent
    // (berthd sets none, as dockerd without --cpu-rt-runtime), the start then fails as dockerd's.
    for (key, v) in [
        ("realtimePeriod", x.cpu_rt_period),
        ("realtimeRuntime", x.cpu_rt_runtime),
    ] {
        if v > 0 {
            if !res["cpu"].is_object() {
                res["cpu"] = json!({});
            }
            res["cpu"][key] = json!(v);
        }
    }
    if x.memory_swap != 0 && res["memory"].is_object() {
        res["memory"]["swap"] = json!(x.memory_swap);
    }
    for (key, v, set) in [
        (
            "reservation",
            json!(x.memory_reservation),
            x.memory_reservation > 0,
        ),
        (
            "swappiness",
            json!(x.memory_swappiness),
            x.memory_swappiness.is_some(),
        ),
        ("disableOOMKiller", json!(true), x.oom_kill_disable),
    ] {
        if set {
            if !res["memory"].is_object() {
                res["memory"] = json!({});
            }
            res["memory"][key] = v;
        }
    }
    let mut devs = Vec::new();
    for d in &x.devices {
        let (kind, major, minor, mode) = device_node(&d.path_on_host)
            .ok_or_else(|| format!("{} is not a device", d.path_on_host))?;
        let dest = if d.path_in_container.is_empty() {
            &d.path_on_host
        } else {
            &d.path_in_container
        };
        let access = if d.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            d.cgroup_permissions.as_str()
        };
        devs.push(
            json!({"path": dest, "type": kind.to_string(), "major": major, "minor": minor,
            "fileMode": mode, "uid": 0, "gid": 0}),
        );
        if let Some(rules) = res["devices"].as_array_mut() {
            rules.push(json!({"allow": true, "type": kind.to_string(), "major": major, "minor": minor, "access": access}));
        }
    }
    if !devs.is_empty() {
        cfg["linux"]["devices"] = json!(devs);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_applies() {
        let r: ExtraRequest = serde_json::from_value(json!({
            "ExtraHosts": ["db:10.0.0.5"], "Dns": ["1.1.1.1"], "DnsSearch": ["example.com"],
            "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}], "Tmpfs": {"/run": "size=1m"},
            "PidMode": "host", "ShmSize": 1048576, "Sysctls": {"net.ipv4.ip_forward": "1"}
        }))
        .unwrap();
        let x = parse(r).unwrap();
        assert_eq!(hosts_lines(&x), "10.0.0.5\tdb\n");
        assert_eq!(
            resolv_conf(&x, "nameserver 9.9.9.9\noptions ndots:1\n").unwrap(),
            "search example.com\nnameserver 1.1.1.1\noptions ndots:1\n"
        );
        let mut cfg = json!({"process": {"user": {}}, "mounts": [{"destination": "/dev/shm", "options": []}],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}], "resources": {"devices": []}}});
        apply(&x, &mut cfg, std::path::Path::new("/nonexistent")).unwrap();
        assert_eq!(cfg["linux"]["namespaces"], json!([{"type": "mount"}]));
        assert_eq!(cfg["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
        assert_eq!(cfg["mounts"][1]["destination"], "/run");
        assert!(
            parse(serde_json::from_value(json!({"Ulimits": [{"Name": "bogus"}]})).unwrap())
                .is_err()
        );
        assert!(
            parse(serde_json::from_value(json!({"ExtraHosts": ["x:notanip"]})).unwrap()).is_err()
        );
    }

    #[test]
    fn block_io_devices_reach_the_config() {
        let x = parse(
            serde_json::from_value(json!({"BlkioWeight": 300,
                "BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1048576}],
                "BlkioDeviceWriteIOps": [{"Path": "/dev/null", "Rate": 100}],
                "BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 200}]}))
            .unwrap(),
        )
        .unwrap();
        let mut cfg = json!({"process": {}, "linux": {"resources": {}}});
        apply(&x, &mut cfg, std::path::Path::new("/nonexistent")).unwrap();
        let b = &cfg["linux"]["resources"]["blockIO"];
        assert_eq!(b["weight"], 300);
        // /dev/null is 1:3.
        assert_eq!(
            b["throttleReadBpsDevice"],
            json!([{"major": 1, "minor": 3, "rate": 1048576}])
        );
        assert_eq!(b["throttleWriteIOPSDevice"][0]["rate"], 100);
        assert_eq!(b["weightDevice"][0]["weight"], 200);
        assert!(b.get("throttleWriteBpsDevice").is_none());
        let x = parse(
            serde_json::from_value(
                json!({"BlkioDeviceReadBps": [{"Path": "/dev/nonexistent", "Rate": 1}]}),
            )
            .unwrap(),
        )
        .unwrap();
        let e = apply(&x, &mut cfg, std::path::Path::new("/nonexistent")).unwrap_err();
        assert_eq!(e, "stat /dev/nonexistent: no such file or directory");
    }
}
