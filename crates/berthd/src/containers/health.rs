//! Health checks: the probe of `Config.Healthcheck` (the request's, merged over the image's HEALTHCHECK
//! at create, as Docker merges them), run through the runtime's `exec` while the container runs, and the
//! `State.Health` it keeps: status (`starting`, `healthy`, `unhealthy`), the failing streak and the last
//! five results. A status change is recorded and published as a `health_status: <status>` event; the
//! monitor ends with the container's run (exit, stop, pause or removal), and the status then turns
//! `unhealthy` as Docker's does.

use super::model::{Container, Status};
use super::shim::Paths;
use crate::daemon::Daemon;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Docker's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// Results kept in `State.Health.Log`.
const KEEP_RESULTS: usize = 5;
/// Bytes of a probe's output kept per result.
const MAX_OUTPUT: usize = 4096;

/// `starting`, `healthy` or `unhealthy`.
pub const STARTING: &str = "starting";
/// The probe passes.
pub const HEALTHY: &str = "healthy";
/// The probe failed `retries` times in a row (or the monitor stopped).
pub const UNHEALTHY: &str = "unhealthy";

/// What to run and when, from `Config.Healthcheck`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The command (`CMD-SHELL x` becomes `/bin/sh -c x`).
    pub argv: Vec<String>,
    /// Between probes.
    pub interval: Duration,
    /// Of one probe.
    pub timeout: Duration,
    /// Failures in this time after start do not count.
    pub start_period: Duration,
    /// Between probes during the start period.
    pub start_interval: Duration,
    /// Consecutive failures that make it unhealthy.
    pub retries: u32,
}

fn nanos(v: &Value, key: &str, default: Duration) -> Duration {
    match v.get(key).and_then(Value::as_i64) {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl Probe {
    /// The probe of a container's (merged) `Config`, unless it has none or `NONE`.
    pub fn of_config(config: &Value) -> Option<Probe> {
        let hc = config.get("Healthcheck")?;
        let test: Vec<String> = serde_json::from_value(hc.get("Test")?.clone()).ok()?;
        let argv = match test.split_first()? {
            (kind, rest) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
            (kind, [cmd]) if kind == "CMD-SHELL" => {
                vec!["/bin/sh".into(), "-c".into(), cmd.clone()]
            }
            _ => return None,
        };
        let retries = match hc.get("Retries").and_then(Value::as_i64) {
            Some(n) if n > 0 => u32::try_from(n).unwrap_or(u32::MAX),
            _ => DEFAULT_RETRIES,
        };
        Some(Probe {
            argv,
            interval: nanos(hc, "Interval", DEFAULT_INTERVAL),
            timeout: nanos(hc, "Timeout", DEFAULT_TIMEOUT),
            start_period: nanos(hc, "StartPeriod", Duration::ZERO),
            start_interval: nanos(hc, "StartInterval", DEFAULT_START_INTERVAL),
            retries,
        })
    }
}

/// Docker's merge of a request's `Healthcheck` over the image's: the image's test if the request
/// gives none, and each unset (zero) duration or count from the image.
pub fn merge(request: Option<&Value>, image: Option<&Value>) -> Option<Value> {
    let Some(req) = request.filter(|v| v.is_object()) else {
        return image.cloned();
    };
    let mut out = req.clone();
    if let (Some(o), Some(img)) = (out.as_object_mut(), image) {
        let empty_test = o
            .get("Test")
            .and_then(Value::as_array)
            .is_none_or(|t| t.is_empty());
        if empty_test {
            if let Some(t) = img.get("Test") {
                o.insert("Test".into(), t.clone());
            }
        }
        for key in [
            "Interval",
            "Timeout",
            "StartPeriod",
            "StartInterval",
            "Retries",
        ] {
            let unset = o.get(key).and_then(Value::as_i64).unwrap_or(0) == 0;
            if let (true, Some(v)) = (unset, img.get(key)) {
                o.insert(key.into(), v.clone());
            }
        }
    }
    Some(out)
}

/// One probe's result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    /// The probe's exit code, -1 when it timed out or could not run.
    pub exit_code: i32,
    /// The start of its output.
    pub output: String,
}

/// `State.Health`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: u32,
    /// The last results, oldest first.
    pub log: VecDeque<ProbeResult>,
}

impl Health {
    /// A run begins: `starting`, the streak cleared, the log kept.
    pub fn starting(prev: Option<&Health>) -> Health {
        Health {
            status: STARTING.into(),
            failing_streak: 0,
            log: prev.map(|h| h.log.clone()).unwrap_or_default(),
        }
    }

    /// Take a result; `in_start_period`: a failure then does not count. Returns the new status
    /// when it changed.
    pub fn record(
        &mut self,
        r: ProbeResult,
        in_start_period: bool,
        retries: u32,
    ) -> Option<String> {
        let before = self.status.clone();
        if r.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
        } else if !(in_start_period && self.status == STARTING) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = UNHEALTHY.into();
            }
        }
        self.log.push_back(r);
        while self.log.len() > KEEP_RESULTS {
            self.log.pop_front();
        }
        (self.status != before).then(|| self.status.clone())
    }

    /// The inspect form.
    pub fn to_json(&self) -> Value {
        json!({
            "Status": self.status,
            "FailingStreak": self.failing_streak,
            "Log": self.log.iter().map(|r| json!({
                "Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Monitor a running container (a no-op without a probe): `fresh` for a run that has just begun
/// (`starting`), else (berthd restarted) the recorded status goes on.
pub fn start_monitor(d: &Arc<Daemon>, c: &Container, fresh: bool) {
    let Some(probe) = Probe::of_config(&c.config) else {
        return;
    };
    let id = c.id.clone();
    let Ok(c) = d.containers.modify(&id, |c| {
        if fresh || c.state.health.is_none() {
            c.state.health = Some(Health::starting(c.state.health.as_ref()));
        }
    }) else {
        return;
    };
    if fresh {
        if let Err(e) = super::lifecycle::persist(d, &c) {
            crate::log!(3, "recording the health of {id}: {e}");
        }
    }
    let d = d.clone();
    tokio::spawn(async move { monitor(d, c, probe).await });
}

/// Whether the run that `started_at` began is still going and not paused.
fn same_run(d: &Daemon, id: &str, started_at: &str) -> Option<Container> {
    d.containers
        .get(id)
        .ok()
        .filter(|c| c.state.status == Status::Running && c.state.started_at == started_at)
}

async fn monitor(d: Arc<Daemon>, c: Container, probe: Probe) {
    let id = c.id.clone();
    let run = c.state.started_at.clone();
    let Ok(Ok(mut rx)) = d.containers.subscribe(&id) else {
        return;
    };
    let began = Instant::now();
    loop {
        let in_start = began.elapsed() < probe.start_period;
        let starting = same_run(&d, &id, &run)
            .and_then(|c| c.state.health)
            .is_some_and(|h| h.status == STARTING);
        let wait = if in_start && starting {
            probe.start_interval
        } else {
            probe.interval
        };
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        // Wake early when the run ends.
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                changed = rx.changed() => {
                    let ev = *rx.borrow_and_update();
                    if changed.is_err() || ev.removed || !ev.running {
                        return end(&d, &id, &run);
                    }
                }
            }
        }
        let Some(c) = same_run(&d, &id, &run) else {
            return end(&d, &id, &run);
        };
        if c.state.paused {
            continue;
        }
        let result = run_probe(&d, &c, &probe).await;
        let in_start = began.elapsed() < probe.start_period;
        let mut changed = None;
        let Ok(c) = d.containers.modify(&id, |c| {
            if c.state.started_at == run {
                let h = c.state.health.get_or_insert_with(|| Health::starting(None));
                changed = h.record(result.clone(), in_start, probe.retries);
            }
        }) else {
            return;
        };
        if let Some(status) = changed {
            // Only changes go to disk: a probe every second must not cost a synchronous write.
            if let Err(e) = super::lifecycle::persist(&d, &c) {
                crate::log!(3, "recording the health of {id}: {e}");
            }
            d.events.emit(
                "container",
                &format!("health_status: {status}"),
                &id,
                crate::events::container_attrs(&c),
            );
        }
    }
}

/// The monitor of a run has stopped: the status turns `unhealthy`, as Docker reports it.
fn end(d: &Daemon, id: &str, run: &str) {
    let mut changed = false;
    let Ok(c) = d.containers.modify(id, |c| {
        if let Some(h) = c
            .state
            .health
            .as_mut()
            .filter(|_| c.state.started_at == run)
        {
            changed = h.status != UNHEALTHY;
            h.status = UNHEALTHY.into();
        }
    }) else {
        return;
    };
    if changed {
        if let Err(e) = super::lifecycle::persist(d, &c) {
            crate::log!(3, "recording the health of {id}: {e}");
        }
    }
}

/// Read up to `MAX_OUTPUT` bytes of a stream into `buf`, draining the rest so the probe never blocks.
async fn collect(mut r: impl AsyncRead + Unpin, buf: Arc<std::sync::Mutex<Vec<u8>>>) {
    let mut chunk = [0u8; 4096];
    while let Ok(n) = r.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_OUTPUT.saturating_sub(b.len());
        b.extend_from_slice(&chunk[..n.min(room)]);
    }
}

/// Run the probe once through `<runtime> exec` (the container's user, environment and working
/// directory, as Docker runs it).
async fn run_probe(d: &Daemon, c: &Container, probe: &Probe) -> ProbeResult {
    let start = crate::time::now_rfc3339_nano();
    let (exit_code, output) = match exec_probe(d, c, probe).await {
        Ok(r) => r,
        Err(e) => (-1, e),
    };
    ProbeResult {
        start,
        end: crate::time::now_rfc3339_nano(),
        exit_code,
        output,
    }
}

async fn exec_probe(d: &Daemon, c: &Container, probe: &Probe) -> Result<(i32, String), String> {
    let runtime = d
        .runtime_path(&c.runtime)
        .ok_or_else(|| format!("unknown runtime {}", c.runtime))?;
    let p = Paths::new(d, &c.id, &c.runtime);
    let pid_file = p
        .run_dir
        .join(format!("health-{}.pid", super::model::random_hex()));
    let mut child = tokio::process::Command::new(runtime)
        .arg("--root")
        .arg(&p.runtime_root)
        .arg("exec")
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&c.id)
        // No `--` before the command: runc would run it (see exec.rs).
        .args(&probe.argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running the health check: {e}"))?;
    let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = child.stdout.take().map(|s| collect(s, buf.clone()));
    let err = child.stderr.take().map(|s| collect(s, buf.clone()));
    let io = async {
        if let Some(o) = out {
            o.await;
        }
    };
    let io2 = async {
        if let Some(e) = err {
            e.await;
        }
    };
    let waited = tokio::time::timeout(probe.timeout, async {
        let (st, _, _) = tokio::join!(child.wait(), io, io2);
        st
    })
    .await;
    let result = match waited {
        Ok(Ok(st)) => {
            let b = buf.lock().unwrap_or_else(|e| e.into_inner());
            Ok((
                st.code().unwrap_or(-1),
                String::from_utf8_lossy(&b).into_owned(),
            ))
        }
        Ok(Err(e)) => Err(format!("waiting for the health check: {e}")),
        Err(_) => {
            // The probe inside the container, then the runtime that supervises it.
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .filter(|p| *p > 0)
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.start_kill();
            let _ = child.wait().await;
            Err(format!(
                "Health check exceeded timeout ({})",
                go_duration(probe.timeout)
            ))
        }
    };
    let _ = std::fs::remove_file(&pid_file);
    result
}

/// A duration as Go prints it for whole and fractional seconds (`30s`, `1.5s`, `500ms`).
fn go_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: i32) -> ProbeResult {
        ProbeResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn probe_forms_and_defaults() {
        let c = json!({"Healthcheck": {"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 1_000_000_000i64}});
        let p = Probe::of_config(&c).unwrap();
        assert_eq!(p.argv, ["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        assert_eq!(p.retries, 3);
        let c = json!({"Healthcheck": {"Test": ["CMD", "true"], "Retries": 1}});
        assert_eq!(Probe::of_config(&c).unwrap().argv, ["true"]);
        assert!(Probe::of_config(&json!({"Healthcheck": {"Test": ["NONE"]}})).is_none());
        assert!(Probe::of_config(&json!({"Healthcheck": {"Test": []}})).is_none());
        assert!(Probe::of_config(&json!({})).is_none());
    }

    #[test]
    fn merge_takes_the_images_test_and_unset_fields() {
        let img = json!({"Test": ["CMD", "true"], "Interval": 5, "Retries": 7});
        let req = json!({"Test": [], "Interval": 9});
        let m = merge(Some(&req), Some(&img)).unwrap();
        assert_eq!(m["Test"], json!(["CMD", "true"]));
        assert_eq!(m["Interval"], 9);
        assert_eq!(m["Retries"], 7);
        assert_eq!(merge(None, Some(&img)).unwrap(), img);
        let none = json!({"Test": ["NONE"]});
        assert_eq!(
            merge(Some(&none), Some(&img)).unwrap()["Test"],
            json!(["NONE"])
        );
    }

    #[test]
    fn streaks_start_period_and_log() {
        let mut h = Health::starting(None);
        // Failures in the start period do not count.
        assert_eq!(h.record(res(1), true, 2), None);
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.record(res(0), true, 2).as_deref(), Some(HEALTHY));
        assert_eq!(h.record(res(1), false, 2), None);
        assert_eq!(h.record(res(1), false, 2).as_deref(), Some(UNHEALTHY));
        assert_eq!(h.failing_streak, 2);
        for _ in 0..10 {
            h.record(res(1), false, 2);
        }
        assert_eq!(h.log.len(), KEEP_RESULTS);
        assert_eq!(h.record(res(0), false, 2).as_deref(), Some(HEALTHY));
        assert_eq!(h.failing_streak, 0);
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
    }
}
