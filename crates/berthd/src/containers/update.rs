//! `POST /containers/{id}/update`: new limits (memory, swap and reservation, CPU shares, quota,
//! period and cpuset, block I/O weight, pids) checked as dockerd checks them, applied to a running
//! or paused container through the runtime's `update`, and recorded (with a new restart policy)
//! for its next start. As dockerd: the real-time CPU limits and kernel memory are recorded only,
//! and a limit the host cannot apply is dropped with a warning.

use super::lifecycle::persist;
use super::model::{Container, RestartPolicyRequest};
use super::resources;
use super::shim::{self, Paths};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The fields of `UpdateConfig` (dockerd matches them case-insensitively).
const FIELDS: &[&str] = &[
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "MemorySwappiness",
    "KernelMemory",
    "KernelMemoryTCP",
    "OomKillDisable",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "CpuCount",
    "CpuPercent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "PidsLimit",
    "RestartPolicy",
];

/// The fields of the update body berthd acts on; zero (empty) leaves a limit as it is, as in
/// dockerd (the CLI sends every field, zero for those not given). `PidsLimit` comes only when
/// given.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateRequest {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub kernel_memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_realtime_period: Option<i64>,
    pub cpu_realtime_runtime: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub blkio_weight: Option<i64>,
    pub pids_limit: Option<i64>,
    pub restart_policy: Option<RestartPolicyRequest>,
}

impl UpdateRequest {
    /// Zero (empty) values as absent.
    fn given(mut self) -> Self {
        for v in [
            &mut self.memory,
            &mut self.memory_swap,
            &mut self.memory_reservation,
            &mut self.kernel_memory,
            &mut self.nano_cpus,
            &mut self.cpu_shares,
            &mut self.cpu_period,
            &mut self.cpu_quota,
            &mut self.cpu_realtime_period,
            &mut self.cpu_realtime_runtime,
            &mut self.blkio_weight,
        ] {
            if *v == Some(0) {
                *v = None;
            }
        }
        for v in [&mut self.cpuset_cpus, &mut self.cpuset_mems] {
            if v.as_deref() == Some("") {
                *v = None;
            }
        }
        // 0 and any negative value mean unlimited.
        self.pids_limit = self.pids_limit.map(|p| p.max(0));
        if self
            .restart_policy
            .as_ref()
            .is_some_and(|r| r.name.as_deref().unwrap_or("").is_empty())
        {
            self.restart_policy = None;
        }
        self
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// dockerd's check of a restart policy (its 20.10 messages), at create and update.
pub(super) fn check_restart(r: &RestartPolicyRequest) -> ApiResult<()> {
    let name = r.name.as_deref().unwrap_or("");
    let max = r.maximum_retry_count.unwrap_or(0);
    match name {
        "" => Ok(()),
        "always" | "unless-stopped" | "no" if max != 0 => Err(bad(format!(
            "maximum retry count cannot be used with restart policy '{name}'"
        ))),
        "always" | "unless-stopped" | "no" => Ok(()),
        "on-failure" if max < 0 => Err(bad("maximum retry count cannot be negative")),
        "on-failure" => Ok(()),
        other => Err(bad(format!("invalid restart policy '{other}'"))),
    }
}

/// The checks dockerd makes against the container's current limits (409 Conflict).
fn conflicts(c: &Container, u: &UpdateRequest) -> Result<(), &'static str> {
    let (cur_period, cur_quota) = (c.spec.extra.cpu_period, c.spec.extra.cpu_quota);
    if u.nano_cpus.is_some_and(|n| n > 0) {
        if cur_period > 0 {
            return Err("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
        }
        if cur_quota > 0 {
            return Err("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
        }
    }
    if c.spec.nano_cpus > 0 {
        if u.cpu_period.is_some_and(|p| p > 0) {
            return Err("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
        }
        if u.cpu_quota.is_some_and(|q| q > 0) {
            return Err(
                "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
            );
        }
    }
    // As dockerd: a container without a swap limit (0) or with unlimited swap (-1) needs the
    // swap limit given with a new memory limit too.
    if u.memory.is_some_and(|m| m > c.spec.extra.memory_swap) && u.memory_swap.is_none() {
        return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
    }
    if let Some(r) = &u.restart_policy {
        if c.spec.auto_remove && r.name.as_deref() != Some("no") {
            return Err(
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            );
        }
    }
    Ok(())
}

/// The runtime's `update` flags for the request, as dockerd hands them to containerd: only what
/// the request sets (the real-time limits and kernel memory are not applied to a running
/// container).
fn runtime_args(u: &UpdateRequest) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut flag = |name: &str, v: String| args.extend([format!("--{name}"), v]);
    if let Some(w) = u.blkio_weight {
        flag("blkio-weight", w.to_string());
    }
    if let Some(c) = &u.cpuset_cpus {
        flag("cpuset-cpus", c.clone());
    }
    if let Some(m) = &u.cpuset_mems {
        flag("cpuset-mems", m.clone());
    }
    if let Some(s) = u.cpu_shares {
        flag("cpu-share", s.to_string());
    }
    match u.nano_cpus {
        Some(n) => {
            let period: i64 = 100_000;
            flag("cpu-period", period.to_string());
            flag("cpu-quota", (n * period / 1_000_000_000).to_string());
        }
        None => {
            if let Some(p) = u.cpu_period {
                flag("cpu-period", p.to_string());
            }
            if let Some(q) = u.cpu_quota {
                flag("cpu-quota", q.to_string());
            }
        }
    }
    if let Some(m) = u.memory {
        flag("memory", m.to_string());
    }
    if let Some(r) = u.memory_reservation {
        flag("memory-reservation", r.to_string());
    }
    if let Some(s) = u.memory_swap {
        flag("memory-swap", s.to_string());
    }
    if let Some(p) = u.pids_limit {
        flag(
            "pids-limit",
            if p > 0 { p.to_string() } else { "-1".into() },
        );
    }
    args
}

/// Record the request in the container's settings and its inspect `HostConfig`.
fn record(c: &mut Container, u: &UpdateRequest) {
    let x = &mut c.spec.extra;
    let mut hc: Vec<(&str, Value)> = Vec::new();
    macro_rules! set {
        ($field:expr, $target:expr, $key:literal) => {
            if let Some(v) = &$field {
                $target = v.clone();
                hc.push(($key, json!(v)));
            }
        };
    }
    set!(u.memory, c.spec.memory, "Memory");
    set!(u.memory_swap, x.memory_swap, "MemorySwap");
    set!(
        u.memory_reservation,
        x.memory_reservation,
        "MemoryReservation"
    );
    set!(u.nano_cpus, c.spec.nano_cpus, "NanoCpus");
    set!(u.cpu_shares, x.cpu_shares, "CpuShares");
    set!(u.cpu_period, x.cpu_period, "CpuPeriod");
    set!(u.cpu_quota, x.cpu_quota, "CpuQuota");
    set!(u.cpu_realtime_period, x.cpu_rt_period, "CpuRealtimePeriod");
    set!(
        u.cpu_realtime_runtime,
        x.cpu_rt_runtime,
        "CpuRealtimeRuntime"
    );
    set!(u.cpuset_cpus, x.cpuset_cpus, "CpusetCpus");
    set!(u.cpuset_mems, x.cpuset_mems, "CpusetMems");
    set!(u.blkio_weight, x.blkio_weight, "BlkioWeight");
    set!(u.pids_limit, c.spec.pids_limit, "PidsLimit");
    if let Some(k) = u.kernel_memory {
        hc.push(("KernelMemory", json!(k)));
    }
    if let Some(r) = &u.restart_policy {
        let name = r.name.clone().unwrap_or_default();
        let max = r.maximum_retry_count.unwrap_or(0);
        if name == "no" {
            // A pending restart is off too.
            c.state.restarting = false;
        }
        hc.push((
            "RestartPolicy",
            json!({"Name": name, "MaximumRetryCount": max}),
        ));
        c.spec.restart_policy = name;
        c.spec.restart_max = max;
    }
    if !c.host_config.is_object() {
        c.host_config = Value::Object(Map::new());
    }
    if let Some(h) = c.host_config.as_object_mut() {
        for (k, v) in hc {
            h.insert(k.into(), v);
        }
    }
}

/// Apply an update body; returns dockerd's warnings.
pub async fn update(d: &Arc<Daemon>, key: &str, body: Value) -> ApiResult<Vec<String>> {
    let Value::Object(mut o) = body else {
        return Err(bad("invalid JSON: the update must be an object"));
    };
    super::create::canonical_keys(&mut o, FIELDS);
    let parse = |o: &Map<String, Value>| -> ApiResult<UpdateRequest> {
        serde_json::from_value(Value::Object(o.clone()))
            .map_err(|e| bad(format!("invalid JSON: {e}")))
    };
    if let Some(r) = &parse(&o)?.restart_policy {
        check_restart(r)?;
    }
    let warnings = resources::verify(
        &mut o,
        resources::host_support(),
        resources::host_ncpu(),
        true,
    )?;
    let u = parse(&o)?.given();
    if u.cpu_shares.is_some_and(|s| s < 0) {
        return Err(bad("invalid CpuShares: must not be negative"));
    }
    let lock = d.containers.op_lock(key)?;
    let _g = lock.lock().await;
    let c = d.containers.get(key)?;
    let cannot = |e: &dyn std::fmt::Display| format!("Cannot update container {}: {e}", c.id);
    conflicts(&c, &u).map_err(|e| ApiError::Conflict(cannot(&e)))?;
    // Running or paused (a restarting container takes the new limits at its next start).
    if c.state.status == super::model::Status::Running {
        let mut args = vec!["update".to_string()];
        args.extend(runtime_args(&u));
        if args.len() > 1 {
            args.push(c.id.clone());
            let p = Paths::new(d, &c.id, &c.runtime);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            shim::runtime_cmd(d, &c.runtime, &p, &refs)
                .await
                .map_err(|e| ApiError::Internal(cannot(&e)))?;
        }
    }
    let c = d.containers.modify(&c.id, |c| record(c, &u))?;
    persist(d, &c)?;
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> UpdateRequest {
        serde_json::from_value::<UpdateRequest>(v).unwrap().given()
    }

    #[test]
    fn runtime_gets_what_the_request_sets() {
        let u = req(
            json!({"Memory": 0, "MemoryReservation": 41943040, "NanoCpus": 500000000,
            "CpusetCpus": "", "CpusetMems": "0", "BlkioWeight": 300, "PidsLimit": -1,
            "CpuRealtimePeriod": 1000, "KernelMemory": 52428800, "RestartPolicy": {"Name": ""}}),
        );
        assert_eq!(
            runtime_args(&u).join(" "),
            "--blkio-weight 300 --cpuset-mems 0 --cpu-period 100000 --cpu-quota 50000 \
             --memory-reservation 41943040 --pids-limit -1"
        );
        assert!(u.restart_policy.is_none());
        assert_eq!(u.pids_limit, Some(0));
    }

    #[test]
    fn conflicts_with_the_current_limits() {
        let mut c = Container::default();
        let no_swap = req(json!({"Memory": 64 << 20}));
        assert!(conflicts(&c, &no_swap)
            .unwrap_err()
            .starts_with("Memory limit should be smaller"));
        assert!(conflicts(&c, &req(json!({"Memory": 64 << 20, "MemorySwap": -1}))).is_ok());
        c.spec.extra.memory_swap = 128 << 20;
        assert!(conflicts(&c, &no_swap).is_ok());
        c.spec.extra.cpu_period = 50000;
        assert!(conflicts(&c, &req(json!({"NanoCpus": 1})))
            .unwrap_err()
            .contains("CPU Period has already been set"));
        c.spec.extra.cpu_period = 0;
        c.spec.nano_cpus = 1;
        assert!(conflicts(&c, &req(json!({"CpuQuota": 5000})))
            .unwrap_err()
            .contains("NanoCPUs has already been set"));
        c.spec.auto_remove = true;
        let always = req(json!({"RestartPolicy": {"Name": "always"}}));
        assert!(conflicts(&c, &always).unwrap_err().contains("AutoRemove"));
        assert!(conflicts(&c, &req(json!({"RestartPolicy": {"Name": "no"}}))).is_ok());
    }

    #[test]
    fn restart_policies_as_dockerd_checks_them() {
        let r = |v: Value| check_restart(&serde_json::from_value(v).unwrap());
        assert!(r(json!({"Name": "on-failure", "MaximumRetryCount": 3})).is_ok());
        assert_eq!(
            r(json!({"Name": "bogus"})).unwrap_err().to_string(),
            "invalid restart policy 'bogus'"
        );
        assert!(r(json!({"Name": "always", "MaximumRetryCount": 3}))
            .unwrap_err()
            .to_string()
            .contains("cannot be used with restart policy 'always'"));
        assert!(r(json!({"Name": "on-failure", "MaximumRetryCount": -1})).is_err());
    }

    #[test]
    fn record_updates_settings_and_inspect() {
        let mut c = Container::default();
        record(
            &mut c,
            &req(
                json!({"MemoryReservation": 41943040, "CpusetMems": "0", "PidsLimit": -1,
                "KernelMemory": 52428800, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}),
            ),
        );
        assert_eq!(c.spec.extra.memory_reservation, 41943040);
        assert_eq!(c.spec.extra.cpuset_mems, "0");
        assert_eq!(c.host_config["PidsLimit"], 0);
        assert_eq!(c.host_config["KernelMemory"], 52428800);
        assert_eq!(c.host_config["RestartPolicy"]["MaximumRetryCount"], 2);
        assert_eq!(c.spec.restart_policy, "on-failure");
    }
}
