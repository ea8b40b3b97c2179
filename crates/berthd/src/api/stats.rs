//! `GET /containers/{id}/stats?stream=&one-shot=`: cgroup statistics from the runtime's
//! `events --stats`, in Docker's shape (cpu with the previous sample, memory, pids), once or every second.

use crate::containers::model::{Container, Status};
use crate::containers::shim::Paths;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Query, Resp};
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Host CPU time in nanoseconds (the `cpu` line of /proc/stat, in USER_HZ = 100 ticks).
fn system_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
                    * 10_000_000
            })
        })
        .unwrap_or(0)
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// One sample, in Docker's shapes.
struct Sample {
    read: String,
    cpu: Value,
    memory: Value,
    pids: Value,
    blkio: Value,
}

/// Docker's blkio lists (cgroup v1's names) from the runtime's (runc's) `blkio`: each entry with
/// its major, minor, op and value (the runtime leaves zeros out). A list the runtime does not
/// report is empty on cgroup v1, as dockerd shows it, and null on v2.
fn blkio_stats(b: &Value) -> Value {
    let v1 = !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mut out = serde_json::Map::new();
    for (ours, theirs) in [
        ("io_service_bytes_recursive", "ioServiceBytesRecursive"),
        ("io_serviced_recursive", "ioServicedRecursive"),
        ("io_queue_recursive", "ioQueueRecursive"),
        ("io_service_time_recursive", "ioServiceTimeRecursive"),
        ("io_wait_time_recursive", "ioWaitTimeRecursive"),
        ("io_merged_recursive", "ioMergedRecursive"),
        ("io_time_recursive", "ioTimeRecursive"),
        ("sectors_recursive", "sectorsRecursive"),
    ] {
        let list = match b[theirs].as_array() {
            Some(entries) => json!(entries
                .iter()
                .map(|e| json!({
                    "major": e["major"].as_u64().unwrap_or(0),
                    "minor": e["minor"].as_u64().unwrap_or(0),
                    "op": e["op"].as_str().unwrap_or(""),
                    "value": e["value"].as_u64().unwrap_or(0),
                }))
                .collect::<Vec<_>>()),
            None if v1 => json!([]),
            None => Value::Null,
        };
        out.insert(ours.into(), list);
    }
    Value::Object(out)
}

/// One sample of the container's cgroup.
async fn sample(d: &Daemon, c: &Container) -> Option<Sample> {
    let runtime = d.runtime_path(&c.runtime)?;
    let p = Paths::new(d, &c.id, &c.runtime);
    let out = tokio::process::Command::new(runtime)
        .arg("--root")
        .arg(&p.runtime_root)
        .args(["events", "--stats", &c.id])
        .output()
        .await
        .ok()?;
    let v: Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next()?).ok()?;
    let data = &v["data"];
    let cpu = &data["cpu"];
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu_stats = json!({
        "cpu_usage": {
            "total_usage": cpu["usage"]["total"].as_u64().unwrap_or(0),
            "percpu_usage": cpu["usage"]["percpu"].clone(),
            "usage_in_kernelmode": cpu["usage"]["kernel"].as_u64().unwrap_or(0),
            "usage_in_usermode": cpu["usage"]["user"].as_u64().unwrap_or(0),
        },
        "system_cpu_usage": system_cpu_ns(),
        "online_cpus": cpus,
        "throttling_data": {
            "periods": cpu["throttling"]["periods"].as_u64().unwrap_or(0),
            "throttled_periods": cpu["throttling"]["throttledPeriods"].as_u64().unwrap_or(0),
            "throttled_time": cpu["throttling"]["throttledTime"].as_u64().unwrap_or(0),
        },
    });
    let mem = &data["memory"];
    let limit = mem["usage"]["limit"]
        .as_u64()
        .unwrap_or(u64::MAX)
        .min(mem_total());
    let memory_stats = json!({
        "usage": mem["usage"]["usage"].as_u64().unwrap_or(0),
        "max_usage": mem["usage"]["max"].as_u64().unwrap_or(0),
        "stats": mem["raw"].clone(),
        "limit": limit,
    });
    let pids = json!({"current": data["pids"]["current"].as_u64().unwrap_or(0)});
    Some(Sample {
        read: crate::time::now_rfc3339_nano(),
        cpu: cpu_stats,
        memory: memory_stats,
        pids,
        blkio: blkio_stats(&data["blkio"]),
    })
}

fn empty_cpu() -> Value {
    json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}})
}

fn document(c: &Container, cur: Option<&Sample>, pre: Option<&Sample>) -> Value {
    let zero = crate::time::ZERO.to_string();
    let mut doc = json!({
        "read": cur.map(|s| s.read.clone()).unwrap_or_else(|| zero.clone()),
        "preread": pre.map(|s| s.read.clone()).unwrap_or(zero),
        "pids_stats": cur.map(|s| s.pids.clone()).unwrap_or(json!({})),
        "blkio_stats": cur.map(|s| s.blkio.clone()).unwrap_or_else(|| blkio_stats(&Value::Null)),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cur.map(|s| s.cpu.clone()).unwrap_or_else(empty_cpu),
        "precpu_stats": pre.map(|s| s.cpu.clone()).unwrap_or_else(empty_cpu),
        "memory_stats": cur.map(|s| s.memory.clone()).unwrap_or(json!({})),
        "name": format!("/{}", c.name),
        "id": c.id,
    });
    // Interface counters of the container's own network namespace, as Docker
    // reports them for networked containers (none for --network none/host).
    if c.state.network.is_some() && c.state.pid > 0 {
        if let Some(n) = network_stats(c.state.pid) {
            doc["networks"] = n;
        }
    }
    doc
}

/// `/proc/<pid>/net/dev` of the container's init, loopback left out.
fn network_stats(pid: i32) -> Option<Value> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let mut out = serde_json::Map::new();
    for line in text.lines().skip(2) {
        let (name, rest) = line.split_once(':')?;
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({
                "rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11],
            }),
        );
    }
    Some(Value::Object(out))
}

/// The handler.
pub async fn stats(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    let stream = q.get("stream").is_none_or(|_| q.bool("stream"));
    let one_shot = q.bool("one-shot");
    if one_shot && stream {
        return Err(ApiError::BadRequest(
            "cannot have stream=true and one-shot=true".into(),
        ));
    }
    let (tx, resp) = http::streamed(StatusCode::OK, "application/json");
    let d = d.clone();
    tokio::spawn(async move {
        let mut pre = None;
        loop {
            let running = d
                .containers
                .get(&c.id)
                .map(|c| c.state.status == Status::Running)
                .unwrap_or(false);
            let cur = if running { sample(&d, &c).await } else { None };
            if !stream && !one_shot && pre.is_none() && cur.is_some() {
                // A single answer carries a previous sample too, so CPU% can be computed.
                pre = cur;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let doc = document(&c, cur.as_ref(), pre.as_ref());
            let line = format!("{doc}\n");
            if tx.send(Bytes::from(line)).await.is_err() || !stream || !running {
                return;
            }
            pre = cur;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(resp)
}
