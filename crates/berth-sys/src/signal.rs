//! Signals by number, the real-time ones included. nix's `Signal` has only the
//! 31 standard signals: its `kill` cannot send SIGRTMIN+3 (systemd's stop
//! signal), its `waitpid` fails with EINVAL after reaping a child that such a
//! signal killed (the status is lost), and `SigSet::wait` cannot return one.
//! These wrappers take and give the plain number.

use std::fmt;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;

/// The C library's first real-time signal (the kernel's 32 and 33 are kept by
/// the threads implementation).
pub const SIGRTMIN: i32 = 34;
/// The last real-time signal, and the highest signal number.
pub const SIGRTMAX: i32 = 64;

/// A signal number from 1 to 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SigNum(i32);

impl SigNum {
    /// SIGKILL.
    pub const KILL: SigNum = SigNum(libc::SIGKILL);

    /// `n` if it names a signal (1 to 64); 0 is no signal and is refused.
    pub fn new(n: i32) -> Option<SigNum> {
        (1..=SIGRTMAX).contains(&n).then_some(SigNum(n))
    }

    /// The number.
    pub fn as_raw(self) -> i32 {
        self.0
    }

    /// The standard signal, or `None` for a real-time one.
    pub fn standard(self) -> Option<Signal> {
        Signal::try_from(self.0).ok()
    }
}

impl From<Signal> for SigNum {
    fn from(s: Signal) -> SigNum {
        SigNum(s as i32)
    }
}

/// `SIGTERM`, `SIGRTMIN+3`; `signal 32` for the two the C library reserves.
impl fmt::Display for SigNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.standard() {
            Some(s) => f.write_str(s.as_str()),
            None if self.0 == SIGRTMIN => f.write_str("SIGRTMIN"),
            None if self.0 > SIGRTMIN => write!(f, "SIGRTMIN+{}", self.0 - SIGRTMIN),
            None => write!(f, "signal {}", self.0),
        }
    }
}

/// kill(2) with any signal; `None` sends no signal and only checks that `pid`
/// exists and may be signalled.
pub fn kill(pid: Pid, sig: Option<SigNum>) -> nix::Result<()> {
    // SAFETY: kill takes two integers; no memory is passed.
    let r = unsafe { libc::kill(pid.as_raw(), sig.map_or(0, SigNum::as_raw)) };
    Errno::result(r).map(drop)
}

/// What `waitpid` saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// The child exited with this code.
    Exited(Pid, i32),
    /// A signal killed the child.
    Signaled(Pid, SigNum),
    /// The child stopped or continued (only reported with flags that ask for it).
    Other(Pid),
    /// With WNOHANG: no child has changed state.
    StillAlive,
}

impl Waited {
    /// The exit code a shell gives: the code, or 128+n for death by signal n.
    pub fn exit_code(self) -> Option<i32> {
        match self {
            Waited::Exited(_, c) => Some(c),
            Waited::Signaled(_, s) => Some(128 + s.as_raw()),
            Waited::Other(_) | Waited::StillAlive => None,
        }
    }

    /// The child it is about.
    pub fn pid(self) -> Option<Pid> {
        match self {
            Waited::Exited(p, _) | Waited::Signaled(p, _) | Waited::Other(p) => Some(p),
            Waited::StillAlive => None,
        }
    }
}

/// waitpid(2) for `pid` (`None`: any child), with WNOHANG when `nohang`.
pub fn waitpid(pid: Option<Pid>, nohang: bool) -> nix::Result<Waited> {
    let mut status: libc::c_int = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: `status` is a valid c_int the kernel writes the status to.
    let r = unsafe { libc::waitpid(pid.map_or(-1, Pid::as_raw), &mut status, flags) };
    let p = Errno::result(r)?;
    if p == 0 {
        return Ok(Waited::StillAlive);
    }
    let p = Pid::from_raw(p);
    Ok(if libc::WIFEXITED(status) {
        Waited::Exited(p, libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Waited::Signaled(p, SigNum(libc::WTERMSIG(status)))
    } else {
        Waited::Other(p)
    })
}

/// sigwait(3): take one pending signal of `set` (which the caller blocks).
pub fn sigwait(set: &SigSet) -> nix::Result<SigNum> {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is an initialised sigset_t and `sig` a valid c_int the
    // call writes the signal number to.
    let r = unsafe { libc::sigwait(set.as_ref(), &mut sig) };
    // sigwait returns the error number itself instead of setting errno.
    if r != 0 {
        return Err(Errno::from_raw(r));
    }
    Ok(SigNum(sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::SigmaskHow;

    #[test]
    fn numbers_and_names() {
        assert_eq!(SigNum::new(0), None);
        assert_eq!(SigNum::new(65), None);
        assert_eq!(SigNum::new(-1), None);
        assert_eq!(SigNum::new(15).unwrap().to_string(), "SIGTERM");
        assert_eq!(SigNum::new(34).unwrap().to_string(), "SIGRTMIN");
        assert_eq!(SigNum::new(37).unwrap().to_string(), "SIGRTMIN+3");
        assert_eq!(SigNum::new(32).unwrap().to_string(), "signal 32");
        assert_eq!(SigNum::from(Signal::SIGKILL), SigNum::KILL);
        assert_eq!(SigNum::new(37).unwrap().standard(), None);
    }

    #[test]
    fn exit_codes_as_a_shell_gives_them() {
        let p = Pid::from_raw(5);
        assert_eq!(Waited::Exited(p, 3).exit_code(), Some(3));
        let term = SigNum::from(Signal::SIGTERM);
        assert_eq!(Waited::Signaled(p, term).exit_code(), Some(143));
        assert_eq!(Waited::Other(p).exit_code(), None);
        assert_eq!(Waited::StillAlive.exit_code(), None);
        assert_eq!(Waited::StillAlive.pid(), None);
    }

    /// A child killed by a real-time signal is reaped with that signal (nix's
    /// waitpid loses the status: EINVAL).
    #[test]
    fn a_real_time_signal_kills_and_is_reaped() {
        let rt = SigNum::new(SIGRTMIN + 3).unwrap();
        match crate::fork().expect("fork") {
            crate::Forked::Child => {
                // Default disposition of a real-time signal: terminate.
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
            crate::Forked::Parent(pid) => {
                kill(pid, None).expect("signal 0 to a live child");
                kill(pid, Some(rt)).expect("kill");
                let w = waitpid(Some(pid), false).expect("waitpid");
                assert_eq!(w, Waited::Signaled(pid, rt));
                assert_eq!(w.exit_code(), Some(165));
                assert_eq!(kill(pid, None), Err(Errno::ESRCH));
            }
        }
    }

    /// A blocked real-time signal is taken by `sigwait` (nix's `SigSet::wait`
    /// fails on it). In a forked child: a process-directed signal in the
    /// multi-threaded test binary could land on any thread.
    #[test]
    fn sigwait_takes_a_blocked_real_time_signal() {
        let rt = SigNum::new(SIGRTMAX - 1).unwrap();
        match crate::fork().expect("fork") {
            crate::Forked::Child => {
                let all = SigSet::all();
                if nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None).is_err()
                    || kill(nix::unistd::getpid(), Some(rt)).is_err()
                {
                    crate::exit_now(1);
                }
                crate::exit_now(sigwait(&all).map_or(2, SigNum::as_raw));
            }
            crate::Forked::Parent(pid) => {
                let w = waitpid(Some(pid), false).expect("waitpid");
                assert_eq!(w, Waited::Exited(pid, rt.as_raw()));
            }
        }
    }
}
