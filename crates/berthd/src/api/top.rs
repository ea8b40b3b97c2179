//! `GET /containers/{id}/top`: the container's processes in `ps -ef` columns. The processes are those
//! in the pid namespace of the container's init, read from /proc. With `ps_args` (`docker top C
//! aux`), the host's `ps` with those arguments gives the columns, as dockerd does, and its rows
//! of the container's processes are kept.

use crate::containers::model::Status;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{ok_json, Resp};
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Proc {
    uid: u32,
    pid: i32,
    ppid: i32,
    cpu_secs: u64,
    /// Start, in seconds after boot.
    start_secs: u64,
    cmd: String,
}

fn read_proc(pid: i32) -> Option<Proc> {
    let base = format!("/proc/{pid}");
    let stat = std::fs::read_to_string(format!("{base}/stat")).ok()?;
    // comm may contain spaces and parentheses: the fields after it start past the last ')'.
    let close = stat.rfind(')')?;
    let comm = stat[stat.find('(')? + 1..close].to_string();
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ppid = f.get(1)?.parse().ok()?;
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let start_ticks: u64 = f.get(19)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("{base}/status")).ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let raw = std::fs::read(format!("{base}/cmdline")).unwrap_or_default();
    let cmd = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Some(Proc {
        uid,
        pid,
        ppid,
        cpu_secs: ticks / 100,
        start_secs: start_ticks / 100,
        cmd: if cmd.is_empty() {
            format!("[{comm}]")
        } else {
            cmd
        },
    })
}

/// The boot time, in seconds since the epoch (`btime` of /proc/stat).
fn boot_time() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// `ps -ef`'s STIME (in UTC): `HH:MM` for a process started in the last 24 hours, else `MonDD`,
/// else the year when that is not this year's.
fn stime(start: u64, now: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = |t: u64| berth_time::rfc3339_nano(UNIX_EPOCH + Duration::from_secs(t));
    let (s, n) = (at(start), at(now));
    if start + 24 * 3600 > now {
        return s[11..16].to_string();
    }
    if s[..4] != n[..4] {
        return s[..4].to_string();
    }
    let month: usize = s[5..7].parse().unwrap_or(1);
    format!("{}{}", MONTHS[month.clamp(1, 12) - 1], &s[8..10])
}

fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

/// The rows of `ps ARGS` (run on the host) for the processes `pids`: dockerd's way, the last
/// column taking the rest of the line.
async fn ps_with_args(args: &str, pids: &[i32]) -> ApiResult<Resp> {
    let out = tokio::process::Command::new("ps")
        .args(args.split_whitespace())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("running ps: {e}")))?;
    if !out.status.success() {
        // ps's first line says what is wrong; its usage text follows.
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().map(str::trim).find(|l| !l.is_empty());
        return Err(ApiError::internal(format!(
            "ps: {}",
            first.unwrap_or("failed")
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::internal("Couldn't find PID field in ps output"))?;
    let mut rows = vec![];
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < titles.len() {
            continue;
        }
        if f[pid_col].parse().is_ok_and(|p: i32| pids.contains(&p)) {
            let mut row: Vec<String> = f[..titles.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect();
            row.push(f[titles.len() - 1..].join(" "));
            rows.push(row);
        }
    }
    ok_json(&json!({"Processes": rows, "Titles": titles}))
}

/// The handler.
pub async fn top(d: &Daemon, key: &str, ps_args: Option<&str>) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    if c.state.status != Status::Running {
        return Err(ApiError::Conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    d.events.container(&c, "top", &[]);
    let ns = std::fs::read_link(format!("/proc/{}/ns/pid", c.state.pid))
        .map_err(|e| ApiError::internal(format!("container init: {e}")))?;
    let mut procs: Vec<Proc> = std::fs::read_dir("/proc")
        .map_err(ApiError::internal)?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                .ok()
                .as_ref()
                == Some(&ns)
        })
        .filter_map(read_proc)
        .collect();
    procs.sort_by_key(|p| p.pid);
    if let Some(args) = ps_args.filter(|a| !a.trim().is_empty() && a.trim() != "-ef") {
        let pids: Vec<i32> = procs.iter().map(|p| p.pid).collect();
        return ps_with_args(args, &pids).await;
    }
    let boot = boot_time();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let rows: Vec<Vec<String>> = procs
        .iter()
        .map(|p| {
            let t = p.cpu_secs;
            vec![
                user_name(p.uid),
                p.pid.to_string(),
                p.ppid.to_string(),
                "0".into(),
                boot.map_or_else(|| "-".into(), |b| stime(b + p.start_secs, now)),
                "?".into(),
                format!("{:02}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60),
                p.cmd.clone(),
            ]
        })
        .collect();
    ok_json(&json!({
        "Processes": rows,
        "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
    }))
}

#[cfg(test)]
mod tests {
    use super::stime;

    #[test]
    fn stime_is_ps_ef_s() {
        // 2026-12-07T12:05:00Z
        let now = 1_796_645_100;
        assert_eq!(stime(now - 60, now), "12:04");
        assert_eq!(stime(now - 20 * 3600, now), "16:05");
        assert_eq!(stime(now - 3 * 86400, now), "Dec04");
        assert_eq!(stime(now - 400 * 86400, now), "2025");
    }
}
