//! `kill`: send a signal to init, or with `--all` to every process in the
//! container's cgroup.

use std::path::Path;

use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::state::Status;

/// Parse a signal as runc accepts it: `KILL`, `SIGKILL` or `9`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::Config(format!("unknown signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| Error::Config(format!("unknown signal {s:?}")))
}

pub fn kill(root: &Path, id: &str, signal: Signal, all: bool) -> Result<()> {
    let (st, status) = super::load(root, id)?;
    if status == Status::Stopped {
        return Err(Error::State {
            id: id.into(),
            status: status.to_string(),
            action: "container not running".into(),
        });
    }
    if all {
        if let Some(cg) = Cgroup::from_state(&st) {
            return cg.signal_all(signal);
        }
    }
    send(Pid::from_raw(st.pid), signal)
        .with_ctx(|| format!("send {signal} to init (pid {})", st.pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
