//! `run`: create and start in one go. In the foreground the runtime stays,
//! forwards signals to init, relays the terminal when it owns it, and exits
//! with the container's status (128+n for death by signal n), removing the
//! container afterwards as runc does.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use berth_sys::signal::Waited;
use berth_sys::SigNum;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::create::{create_with, CreateOptions, Park};
use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::spec::Bundle;
use crate::state::Status;

/// Signals the foreground runtime takes over (and forwards to init).
pub(crate) fn forwarded() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTRAP,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
    ] {
        set.remove(s);
    }
    set
}

/// With `keep`, a foreground run leaves the stopped container for `delete`.
pub fn run(root: &Path, opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    crate::state::validate_id(&opts.id)?;
    let bundle = Bundle::load(&opts.bundle)?;
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let (own_console, console) = console_for(
        opts.console_socket.as_deref(),
        terminal,
        detach,
        "process.terminal is true: a detached run needs --console-socket",
    )?;
    // Block the signals before init exists, so none (SIGCHLD above all) can be
    // lost between the clone and the wait loop. Init resets its mask.
    let sigset = forwarded();
    let sfd = if detach {
        None
    } else {
        sigset.thread_block().ctx("block signals")?;
        Some(SignalFd::with_flags(&sigset, SfdFlags::SFD_CLOEXEC).ctx("signalfd")?)
    };
    // Init waits on the sync channel, not an exec fifo: the state (written
    // once, config inside), the pid file and the pidfd go out first, as
    // `create` gives them before `start`, then init is released.
    let mut created = create_with(root, opts, &bundle, console, Park::Sync)?;
    if let Err(e) = created.record(root, opts).and_then(|()| created.release()) {
        let _ = kill(created.pid, Signal::SIGKILL);
        let _ = waitpid(created.pid, None);
        let _ = super::delete::destroy_with(root, &created.state, Some(&bundle.spec));
        return Err(e);
    }
    let st = &created.state;
    if let Some(h) = bundle.spec.hooks() {
        let json =
            serde_json::to_string(&st.hook_state(Status::Running)).expect("state serializes");
        hooks::run_all_warn("poststart", h.poststart().as_ref(), &json);
    }
    if detach {
        return Ok(0);
    }
    let master = match own_console {
        Some(sock) => Some(recv_fd(&sock)?),
        None => None,
    };
    // The foreground runtime waits as long as the container runs: it keeps
    // mapped only the code of the wait loop (and of delete, after).
    berth_sys::drop_readonly_segments();
    let code = supervise(created.pid, sfd.as_ref().expect("foreground"), master);
    let _ = sigset.thread_unblock();
    if keep {
        return code;
    }
    // Init is reaped (supervise returns Ok only then): tear down with the
    // state and config in hand rather than reading both back.
    let removed = match &code {
        Ok(_) => super::delete::destroy_with(root, st, Some(&bundle.spec)),
        Err(_) => super::delete::delete(root, &st.id, true),
    };
    if let Err(e) = removed {
        crate::log::warn(&format!("remove container after run: {e}"));
    }
    code
}

/// The console socket for a process that may want a terminal: the caller's
/// (`--console-socket`), or in the foreground a socketpair whose first end the
/// runtime keeps to receive the master and relay it. Returns (ours, theirs).
pub(crate) fn console_for(
    socket: Option<&Path>,
    terminal: bool,
    detach: bool,
    detached_error: &str,
) -> Result<(Option<UnixStream>, Option<UnixStream>)> {
    match (socket, terminal) {
        (Some(path), true) => Ok((
            None,
            Some(
                UnixStream::connect(path)
                    .with_ctx(|| format!("connect to console socket {}", path.display()))?,
            ),
        )),
        (None, true) if detach => Err(Error::Config(detached_error.into())),
        (None, true) => {
            let (ours, theirs) = UnixStream::pair().ctx("create console socketpair")?;
            Ok((Some(ours), Some(theirs)))
        }
        (_, false) => Ok((None, None)),
    }
}

/// Receive the terminal's master that init sent with SCM_RIGHTS.
pub fn recv_fd(sock: &UnixStream) -> Result<OwnedFd> {
    berth_sys::recv_fd(sock.as_fd())
        .ctx("receive the terminal from init")?
        .map(|(fd, _name)| fd)
        .ok_or_else(|| Error::Init("init sent no terminal".into()))
}

/// Wait for init (or an exec'd process), forwarding signals and relaying the terminal.
pub(crate) fn supervise(pid: Pid, sfd: &SignalFd, master: Option<OwnedFd>) -> Result<i32> {
    let stdin = std::io::stdin();
    let stdin_fd = stdin.as_fd();
    let saved = match &master {
        Some(_) if nix::unistd::isatty(stdin_fd.as_raw_fd()).unwrap_or(false) => {
            let t = termios::tcgetattr(stdin_fd).ok();
            if let Some(orig) = &t {
                let mut raw = orig.clone();
                termios::cfmakeraw(&mut raw);
                let _ = termios::tcsetattr(stdin_fd, SetArg::TCSANOW, &raw);
            }
            if let Some(m) = &master {
                copy_winsize(stdin_fd, m.as_fd());
            }
            t
        }
        _ => None,
    };
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let code = loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin_fd, PollFlags::POLLIN));
        }
        let master_idx = fds.len();
        if let (true, Some(m)) = (master_open, &master) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => break Err(e).ctx("poll"),
        }
        let sig_ready = fds[0].any().unwrap_or(false);
        let stdin_ready = stdin_open && fds[1].any().unwrap_or(false);
        let master_ready =
            master_open && master.is_some() && fds[master_idx].any().unwrap_or(false);
        drop(fds);
        if master_ready {
            let m = master.as_ref().expect("checked");
            if !relay(m.as_fd(), &mut std::io::stdout()) {
                master_open = false;
            }
        }
        if stdin_ready {
            let m = master
                .as_ref()
                .expect("stdin is relayed only to a terminal");
            let mut buf = [0u8; 4096];
            match std::io::stdin().lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = nix::unistd::write(m, &buf[..n]);
                }
            }
        }
        if sig_ready {
            let Ok(Some(info)) = sfd.read_signal() else {
                continue;
            };
            // Real-time signals too (nix's `Signal` has none): runc forwards every one.
            let Some(sig) = SigNum::new(info.ssi_signo as i32) else {
                continue;
            };
            match sig.standard() {
                Some(Signal::SIGCHLD) => {
                    if let Some(code) = reap(pid)? {
                        break Ok(code);
                    }
                }
                Some(Signal::SIGWINCH) => {
                    if let Some(m) = &master {
                        copy_winsize(stdin_fd, m.as_fd());
                    }
                }
                _ => {
                    let _ = berth_sys::signal::kill(pid, Some(sig));
                }
            }
        }
    };
    // Output the program wrote just before exiting.
    if let (true, Some(m)) = (master_open, &master) {
        let _ = nix::fcntl::fcntl(
            m.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        while relay(m.as_fd(), &mut std::io::stdout()) {}
    }
    if let Some(orig) = saved {
        let _ = termios::tcsetattr(stdin_fd, SetArg::TCSANOW, &orig);
    }
    code
}

/// Copy one chunk from the terminal to `out`; false at end of output.
fn relay(from: BorrowedFd, out: &mut impl Write) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from.as_raw_fd(), &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
            true
        }
    }
}

fn copy_winsize(from: BorrowedFd, to: BorrowedFd) {
    if let Ok((rows, cols)) = berth_sys::window_size(from) {
        let _ = berth_sys::set_window_size(to, rows, cols);
    }
}

/// Reap exited children; the exit code once init itself has exited (128+n
/// when signal n, a real-time one too, killed it).
fn reap(init: Pid) -> Result<Option<i32>> {
    loop {
        match berth_sys::signal::waitpid(None, true) {
            Ok(Waited::StillAlive) => return Ok(None),
            Ok(w) if w.pid() == Some(init) && w.exit_code().is_some() => return Ok(w.exit_code()),
            Ok(_) => {}
            Err(Errno::ECHILD) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).ctx("wait for container init"),
        }
    }
}
