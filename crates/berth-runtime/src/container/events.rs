//! `events`: a container's statistics and OOM notifications as runc prints
//! them, one JSON object a line: `{"type":"stats","id":...,"data":{...}}`
//! every interval and `{"type":"oom","id":...}` when the memory cgroup
//! reports an OOM. `--stats` prints one stats record and exits; otherwise the
//! command runs until the container stops.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_cgroups::Event;

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};

pub fn events(root: &Path, id: &str, interval: Duration, stats_only: bool) -> Result<()> {
    if interval.is_zero() {
        return Err(Error::Usage(
            "--interval: duration interval must be greater than 0".into(),
        ));
    }
    let (st, _) = super::load_live(root, id, "container is not running")?;
    let cg = super::cgroup_of(&st, "it has no statistics")?;
    let stats_event = |cg: &Cgroup| -> Result<String> {
        let ev = Event {
            kind: "stats".into(),
            id: id.to_string(),
            data: Some(cg.stats()?),
        };
        Ok(serde_json::to_string(&ev).expect("stats serialize"))
    };
    let print = |line: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    if stats_only {
        print(&stats_event(&cg)?);
        return Ok(());
    }
    let oom_line = serde_json::to_string(&Event::<()> {
        kind: "oom".into(),
        id: id.to_string(),
        data: None,
    })
    .expect("event serializes");
    let mut notifier = match cg.oom_notifier() {
        Ok(n) => Some(n),
        Err(e) => {
            crate::log::warn(&format!("no OOM events for {id}: {e}"));
            None
        }
    };
    // How often the loop looks whether the container is still there.
    const CHECK: Duration = Duration::from_millis(200);
    let mut next = Instant::now() + interval;
    while st.init_alive() {
        let wait = next.saturating_duration_since(Instant::now()).min(CHECK);
        match &mut notifier {
            Some(n) => match n.wait(Some(wait)) {
                Ok(true) if cg.exists() => print(&oom_line),
                Ok(_) => {}
                Err(e) => {
                    crate::log::warn(&format!("OOM notification for {id}: {e}"));
                    notifier = None;
                }
            },
            None => std::thread::sleep(wait),
        }
        if Instant::now() >= next {
            match stats_event(&cg) {
                Ok(line) => print(&line),
                // runc logs the error and tries again at the next tick.
                Err(e) => crate::log::error(&e.to_string()),
            }
            next += interval;
        }
    }
    Ok(())
}

/// Parse a duration as Go's time.ParseDuration does: `5s`, `1m30s`,
/// `250ms`, `1.5h`; units ns, us (µs), ms, s, m, h; `0` alone is zero.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || Error::Usage(format!("--interval {s:?}: not a duration like 5s or 500ms"));
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if n == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * nanos;
        rest = &rest[u..];
    }
    if total > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "s", "5x", "-1s", "1..5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
