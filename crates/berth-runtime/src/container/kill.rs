//! `kill`: send a signal to init, or with `--all` to every process in the
//! container's cgroup.

use std::path::Path;

use berth_sys::signal::{SIGRTMAX, SIGRTMIN};
use berth_sys::SigNum;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::state::Status;

/// Parse a signal as runc accepts it: `KILL`, `SIGKILL` or `9`, any number
/// from 1 to 64 (the real-time signals 34-64 too: containerd and dockerd pass
/// numbers); `0` (no signal: only check that the process exists) is `None`.
/// Beyond runc, real-time signals also go by name as `kill(1)` takes them:
/// `RTMIN`, `RTMIN+3`, `RTMAX-1` (with or without `SIG`).
pub fn parse_signal(s: &str) -> Result<Option<SigNum>> {
    let unknown = || Error::Usage(format!("unknown signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        if n == 0 {
            return Ok(None);
        }
        return SigNum::new(n).map(Some).ok_or_else(unknown);
    }
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(n) = realtime(bare) {
        return Ok(SigNum::new(n));
    }
    format!("SIG{bare}")
        .parse::<Signal>()
        .map(|s| Some(s.into()))
        .map_err(|_| unknown())
}

/// `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n` within 34-64.
fn realtime(name: &str) -> Option<i32> {
    let (base, rest, sign) = if let Some(r) = name.strip_prefix("RTMIN") {
        (SIGRTMIN, r, '+')
    } else {
        (SIGRTMAX, name.strip_prefix("RTMAX")?, '-')
    };
    let n = if rest.is_empty() {
        base
    } else {
        let k: i32 = rest.strip_prefix(sign)?.parse().ok()?;
        if !(0..=SIGRTMAX - SIGRTMIN).contains(&k) {
            return None;
        }
        if sign == '+' {
            base + k
        } else {
            base - k
        }
    };
    (SIGRTMIN..=SIGRTMAX).contains(&n).then_some(n)
}

/// Send `signal` (`None`: signal 0) to init, or with `all` to every process
/// of the container's cgroup. As runc, `all` on a stopped container signals
/// whatever is left in its cgroup and succeeds.
pub fn kill(root: &Path, id: &str, signal: Option<SigNum>, all: bool) -> Result<()> {
    let (st, status) = super::load(root, id)?;
    crate::log_debug!(
        "kill {id}: {} to {} (container {status})",
        signal.map_or("signal 0".into(), |s| s.to_string()),
        if all {
            "every process".to_string()
        } else {
            format!("init (pid {})", st.pid)
        }
    );
    let cgroup = if all { Cgroup::from_state(&st) } else { None };
    if status == Status::Stopped {
        if all {
            if let (Some(cg), Some(sig)) = (&cgroup, signal) {
                if cg.exists() {
                    cg.signal_all(sig)?;
                }
            }
            return Ok(());
        }
        return Err(Error::State {
            id: id.into(),
            status: status.to_string(),
            action: "container not running".into(),
        });
    }
    if let (Some(cg), Some(sig)) = (&cgroup, signal) {
        return cg.signal_all(sig);
    }
    let what = signal.map_or("signal 0".to_string(), |s| s.to_string());
    berth_sys::signal::kill(Pid::from_raw(st.pid), signal)
        .with_ctx(|| format!("send {what} to init (pid {})", st.pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(n: i32) -> Option<SigNum> {
        SigNum::new(n)
    }

    #[test]
    fn signals_parse_like_runc() {
        assert_eq!(parse_signal("KILL").unwrap(), sig(9));
        assert_eq!(parse_signal("sigterm").unwrap(), sig(15));
        assert_eq!(parse_signal("9").unwrap(), sig(9));
        assert_eq!(parse_signal("SIGUSR1").unwrap(), sig(10));
        assert_eq!(parse_signal("0").unwrap(), None);
        let e = parse_signal("NOPE").unwrap_err().to_string();
        assert_eq!(e, "unknown signal \"NOPE\"");
    }

    /// Every number the kernel has, the real-time ones (what dockerd and
    /// berthd pass for `docker kill -s 37` or `--stop-signal SIGRTMIN+3`)
    /// included; nothing outside.
    #[test]
    fn every_signal_number_parses() {
        for n in 1..=64 {
            assert_eq!(parse_signal(&n.to_string()).unwrap(), sig(n), "{n}");
        }
        for bad in ["65", "99", "-1", "-9", "2147483648", "", " 9", "9x"] {
            assert!(parse_signal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn real_time_signals_by_name() {
        assert_eq!(parse_signal("RTMIN+3").unwrap(), sig(37));
        assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), sig(37));
        assert_eq!(parse_signal("sigrtmin").unwrap(), sig(34));
        assert_eq!(parse_signal("RTMIN+30").unwrap(), sig(64));
        assert_eq!(parse_signal("RTMAX").unwrap(), sig(64));
        assert_eq!(parse_signal("SIGRTMAX-1").unwrap(), sig(63));
        assert_eq!(parse_signal("RTMAX-30").unwrap(), sig(34));
        for bad in [
            "RTMIN+31",
            "RTMAX-31",
            "RTMIN-1",
            "RTMAX+1",
            "RTMIN3",
            "RTMIN+",
            "RTMIN+-1",
            "RTMIN+x",
            "SIG0",
            "0x9",
            "SIG",
            "SIGSIGKILL",
            "RTMIN+99999999999",
        ] {
            assert!(parse_signal(bad).is_err(), "{bad:?}");
        }
    }
}
