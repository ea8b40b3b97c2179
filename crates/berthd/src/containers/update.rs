//! `POST /containers/{id}/update`: new limits (memory and swap, CPU quota, shares and cpuset, pids) applied to a running container through
//! the runtime's `update`, and recorded (with a new restart policy) for the next start.

use super::lifecycle::persist;
use super::model::{RestartPolicyRequest, Status};
use super::shim::{self, Paths};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde::Deserialize;
use std::sync::Arc;

/// The fields of the update body berthd acts on.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateRequest {
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub memory_swap: Option<i64>,
    pub restart_policy: Option<RestartPolicyRequest>,
}

/// Apply an update; returns Docker's warnings.
pub async fn update(d: &Arc<Daemon>, key: &str, mut u: UpdateRequest) -> ApiResult<Vec<String>> {
    // The CLI sends every field, zero for those not given: zero (empty) leaves a limit as it is,
    // as in dockerd (PidsLimit only comes when given: there 0 means unlimited).
    for v in [
        &mut u.memory,
        &mut u.nano_cpus,
        &mut u.cpu_shares,
        &mut u.memory_swap,
    ] {
        if *v == Some(0) {
            *v = None;
        }
    }
    if u.cpuset_cpus.as_deref() == Some("") {
        u.cpuset_cpus = None;
    }
    let lock = d.containers.op_lock(key)?;
    let _g = lock.lock().await;
    let c = d.containers.get(key)?;
    if u.memory.is_some_and(|m| m != 0 && m < 6 * 1024 * 1024) {
        return Err(ApiError::BadRequest(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    if u.nano_cpus.is_some_and(|n| n < 0) {
        return Err(ApiError::BadRequest(
            "invalid NanoCpus: must not be negative".into(),
        ));
    }
    if u.cpu_shares.is_some_and(|s| s < 0) {
        return Err(ApiError::BadRequest(
            "invalid CpuShares: must not be negative".into(),
        ));
    }
    let memory = u.memory.unwrap_or(c.spec.memory);
    if u.memory_swap.is_none() && c.spec.extra.memory_swap > 0 && memory > c.spec.extra.memory_swap
    {
        return Err(ApiError::BadRequest(format!(
            "Cannot update container {}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            c.id
        )));
    }
    let (ncpu, online) = super::resources::host_cpus();
    super::resources::check(
        &super::resources::Limits {
            memory,
            memory_swap: u.memory_swap.unwrap_or(c.spec.extra.memory_swap),
            nano_cpus: u.nano_cpus.unwrap_or(c.spec.nano_cpus),
            cpu_quota: c.spec.extra.cpu_quota,
            cpu_period: c.spec.extra.cpu_period,
            cpuset_cpus: u.cpuset_cpus.as_deref().unwrap_or(""),
        },
        ncpu,
        &online,
    )?;
    let policy = match &u.restart_policy {
        Some(r) => {
            let name = r
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "no".into());
            if !["no", "always", "unless-stopped", "on-failure"].contains(&name.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "invalid restart policy: unknown policy '{name}'"
                )));
            }
            if name != "no" && c.spec.auto_remove {
                return Err(ApiError::BadRequest(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
            Some((name, r.maximum_retry_count.unwrap_or(0)))
        }
        None => None,
    };
    if c.state.status == Status::Running {
        let mut args: Vec<String> = vec!["update".into()];
        if let Some(m) = u.memory.filter(|m| *m > 0) {
            args.extend(["--memory".into(), m.to_string()]);
        }
        if let Some(n) = u.nano_cpus.filter(|n| *n > 0) {
            let period: i64 = 100_000;
            args.extend(["--cpu-period".into(), period.to_string()]);
            args.extend([
                "--cpu-quota".into(),
                (n * period / 1_000_000_000).to_string(),
            ]);
        }
        if let Some(s) = u.cpu_shares.filter(|s| *s > 0) {
            args.extend(["--cpu-share".into(), s.to_string()]);
        }
        if let Some(c) = u.cpuset_cpus.as_ref().filter(|c| !c.is_empty()) {
            args.extend(["--cpuset-cpus".into(), c.clone()]);
        }
        if let Some(s) = u.memory_swap.filter(|s| *s != 0) {
            args.extend(["--memory-swap".into(), s.to_string()]);
        }
        if let Some(p) = u.pids_limit {
            args.extend([
                "--pids-limit".into(),
                if p > 0 { p.to_string() } else { "-1".into() },
            ]);
        }
        if args.len() > 1 {
            args.push(c.id.clone());
            let p = Paths::new(d, &c.id, &c.runtime);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            shim::runtime_cmd(d, &c.runtime, &p, &refs)
                .await
                .map_err(|e| {
                    ApiError::BadRequest(format!("Cannot update container {}: {e}", c.id))
                })?;
        }
    }
    let c = d.containers.modify(&c.id, |c| {
        let hc = c.host_config.as_object_mut();
        let mut hc = hc;
        if let Some(m) = u.memory {
            c.spec.memory = m;
            if let Some(h) = hc.as_mut() {
                h.insert("Memory".into(), m.into());
            }
        }
        if let Some(n) = u.nano_cpus {
            c.spec.nano_cpus = n;
            if let Some(h) = hc.as_mut() {
                h.insert("NanoCpus".into(), n.into());
            }
        }
        if let Some(p) = u.pids_limit {
            c.spec.pids_limit = p;
            if let Some(h) = hc.as_mut() {
                h.insert("PidsLimit".into(), p.into());
            }
        }
        if let Some(s) = u.cpu_shares {
            c.spec.extra.cpu_shares = s;
            if let Some(h) = hc.as_mut() {
                h.insert("CpuShares".into(), s.into());
            }
        }
        if let Some(cpus) = &u.cpuset_cpus {
            c.spec.extra.cpuset_cpus = cpus.clone();
            if let Some(h) = hc.as_mut() {
                h.insert("CpusetCpus".into(), cpus.clone().into());
            }
        }
        if let Some(s) = u.memory_swap {
            c.spec.extra.memory_swap = s;
            if let Some(h) = hc.as_mut() {
                h.insert("MemorySwap".into(), s.into());
            }
        }
        if let Some((name, max)) = &policy {
            c.spec.restart_policy = name.clone();
            c.spec.restart_max = *max;
            if name == "no" {
                // A pending restart is off too.
                c.state.restarting = false;
            }
            if let Some(h) = hc.as_mut() {
                h.insert(
                    "RestartPolicy".into(),
                    serde_json::json!({"Name": name, "MaximumRetryCount": max}),
                );
            }
        }
    })?;
    persist(d, &c)?;
    Ok(vec![])
}
