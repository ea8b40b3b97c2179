//! berth-init: the init of `docker run --init`. berthd bind-mounts it at `/dev/init` and makes it PID 1
//! of the container, running `/dev/init -- CMD ARGS...`. It starts the command, forwards the signals it
//! gets (SIGTERM from `docker stop`, SIGINT, SIGHUP, ...) to it, reaps every process that is reparented
//! to it, and exits with the command's status (128+n when signal n killed it).
//!
//! All signals but the synchronous ones (faults, and the terminal stops) stay blocked and are taken with
//! `sigwait`, so nothing runs in a signal handler. Real-time signals (SIGRTMIN+3, systemd's stop signal)
//! are forwarded like the others, through berth-sys (nix's `Signal` has none). The command is forked and gets an empty mask and
//! default dispositions before its exec.

use berth_sys::signal::{kill, sigwait, waitpid, Waited};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Signals left unblocked: raised by faults in init itself, or terminal job control.
const SYNCHRONOUS: [Signal; 9] = [
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// The command after an optional `--`.
fn command(args: Vec<OsString>) -> Vec<OsString> {
    match args.first() {
        Some(a) if a == "--" => args[1..].to_vec(),
        _ => args,
    }
}

/// Reap every exited child; the command's exit code once it is among them.
fn reap(child: Pid) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(None, true) {
            Ok(Waited::StillAlive) | Err(Errno::ECHILD) => return code,
            Ok(st) if st.pid() == Some(child) => code = st.exit_code().or(code),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                eprintln!("berth-init: waitpid: {e}");
                return code;
            }
        }
    }
}

/// In the forked child: default dispositions, empty mask, then the command (126/127 if it cannot run).
fn exec_child(prog: &OsString, rest: &[OsString]) -> ! {
    if let Err(e) = berth_sys::reset_signals() {
        eprintln!("berth-init: reset signals: {e}");
        berth_sys::exit_now(126);
    }
    let e = Command::new(prog).args(rest).exec();
    eprintln!("berth-init: exec {}: {e}", prog.to_string_lossy());
    berth_sys::exit_now(if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    })
}

fn run() -> i32 {
    let argv = command(std::env::args_os().skip(1).collect());
    let Some((prog, rest)) = argv.split_first() else {
        eprintln!("usage: berth-init [--] COMMAND [ARGS...]");
        return 2;
    };
    let mut set = SigSet::all();
    for s in SYNCHRONOUS {
        set.remove(s);
    }
    if let Err(e) = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        eprintln!("berth-init: block signals: {e}");
        return 1;
    }
    let child = match berth_sys::fork() {
        Ok(berth_sys::Forked::Parent(pid)) => pid,
        Ok(berth_sys::Forked::Child) => exec_child(prog, rest),
        Err(e) => {
            eprintln!("berth-init: fork: {e}");
            return 1;
        }
    };
    loop {
        match sigwait(&set) {
            Ok(sig) if sig.standard() == Some(Signal::SIGCHLD) => {
                if let Some(code) = reap(child) {
                    return code;
                }
            }
            Ok(sig) => {
                // The command may already be gone (its SIGCHLD is next); nothing to do then.
                let _ = kill(child, Some(sig));
            }
            Err(_) => {}
        }
    }
}

fn main() {
    std::process::exit(run());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_dash_is_optional() {
        let v = |s: &[&str]| s.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(command(v(&["--", "ls", "-l"])), v(&["ls", "-l"]));
        assert_eq!(command(v(&["ls", "--"])), v(&["ls", "--"]));
        assert!(command(vec![]).is_empty());
    }
}
