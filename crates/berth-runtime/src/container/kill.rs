//! `kill`: send a signal to init, or with `--all` to every process in the
//! container's cgroup.

use std::path::Path;

use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::state::Status;

/// Parse a signal as runc accepts it: `KILL`, `SIGKILL` or `9`; `0` (no
/// signal: only check that the process exists) is `None`.
pub fn parse_signal(s: &str) -> Result<Option<Signal>> {
    let unknown = || Error::Usage(format!("unknown signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        if n == 0 {
            return Ok(None);
        }
        return Signal::try_from(n).map(Some).map_err(|_| unknown());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map(Some).map_err(|_| unknown())
}

/// Send `signal` (`None`: signal 0) to init, or with `all` to every process
/// of the container's cgroup. As runc, `all` on a stopped container signals
/// whatever is left in its cgroup and succeeds.
pub fn kill(root: &Path, id: &str, signal: Option<Signal>, all: bool) -> Result<()> {
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
    send(Pid::from_raw(st.pid), signal).with_ctx(|| format!("send {what} to init (pid {})", st.pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        assert_eq!(parse_signal("KILL").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("sigterm").unwrap(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("9").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal("0").unwrap(), None);
        let e = parse_signal("NOPE").unwrap_err().to_string();
        assert_eq!(e, "unknown signal \"NOPE\"");
        assert!(parse_signal("99").is_err());
    }
}
