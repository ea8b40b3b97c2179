//! The runtime's process of a standby shim, forked ahead of need along with the container's stdio
//! pipes: it waits on a control socket for the runtime's command line, then sets up its stdio and
//! execs the runtime. On a busy host a freshly forked process waits the longest for a CPU (the
//! shim's fork and exec of the runtime took 2 ms there); forked while the standby idles, that
//! wait is off `start`'s path, and the start pays only the exec.
//!
//! Given Berth's own runtime (berthd names it when it is the default), the process execs it ahead
//! too, as `<runtime> --standby`: the container's pipes on descriptors 0-2 and the control socket
//! on 3. The runtime then reads the same words from it and runs them as its command line (or execs
//! them if they name another program), so the start does not wait for the runtime's exec and
//! start-up either. The control channel is a socket: the runtime sends the container's mount
//! namespace back over it ([`Started::mount_namespace`]).

use anyhow::{bail, Context, Result};
use berth_sys::signal::Waited;
use nix::fcntl::OFlag;
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// How the runtime's process gets its stdio.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stdio3 {
    /// The container's output pipes; stdin from its pipe (`true`) or /dev/null.
    Pipes { stdin: bool },
    /// A terminal (the runtime sends its master over the console socket): all three /dev/null.
    Null,
}

/// The forked process, and the shim's ends of the pipes it holds the other ends of.
pub struct Runner {
    pid: Pid,
    control: UnixStream,
    /// Read ends of stdout and stderr, write end of stdin.
    ends: Option<(OwnedFd, OwnedFd, OwnedFd)>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")
}

impl Runner {
    /// Fork it; with `runtime` (Berth's own), the process execs it ahead as a standby runtime.
    /// The caller must be single-threaded.
    pub fn fork(runtime: Option<&Path>) -> Result<Runner> {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (in_r, in_w) = pipe()?;
        let (ctl_r, ctl_w) = UnixStream::pair().context("socketpair")?;
        let (ctl_r, ctl_w) = (OwnedFd::from(ctl_r), ctl_w);
        match berth_sys::fork().context("fork the runtime's process")? {
            berth_sys::Forked::Child => {
                drop((out_r, err_r, in_w, ctl_w));
                match runtime {
                    Some(rt) => standby_runtime(rt, [in_r, out_w, err_w, ctl_r]),
                    None => child(File::from(ctl_r), out_w, err_w, in_r),
                }
            }
            berth_sys::Forked::Parent(pid) => Ok(Runner {
                pid,
                control: ctl_w,
                ends: Some((out_r, err_r, in_w)),
            }),
        }
    }

    /// The shim's ends of the pipes (stdout and stderr to read, stdin to write), for a container
    /// without a terminal.
    pub fn take_ends(&mut self) -> Option<(OwnedFd, OwnedFd, OwnedFd)> {
        self.ends.take()
    }

    /// Run `cmd` (its program and arguments; its stdio settings are not used) in the forked
    /// process; [`Started::wait`] waits for it.
    pub fn begin(mut self, cmd: &Command, stdio: Stdio3) -> Result<Started> {
        let mode: &[u8] = match stdio {
            Stdio3::Pipes { stdin: true } => b"pipes-stdin",
            Stdio3::Pipes { stdin: false } => b"pipes",
            Stdio3::Null => b"null",
        };
        let mut buf = mode.to_vec();
        buf.push(0);
        for w in std::iter::once(cmd.get_program()).chain(cmd.get_args()) {
            buf.extend_from_slice(w.as_bytes());
            buf.push(0);
        }
        self.control
            .write_all(&buf)
            .and_then(|()| self.control.shutdown(std::net::Shutdown::Write))
            .context("hand over the runtime's command")?;
        Ok(Started {
            pid: self.pid,
            control: self.control,
            mount_ns: None,
        })
    }
}

/// The runtime's process, running the command it was handed.
pub struct Started {
    pid: Pid,
    control: UnixStream,
    mount_ns: Option<OwnedFd>,
}

/// What a standby berth-runtime says on the control socket once its command has succeeded, before
/// its own exit (berth-runtime's `handover::DONE`).
const DONE: &[u8] = b"done";

impl Started {
    /// The container's mount namespace, if the runtime sent it (a standby berth-runtime does,
    /// once init is set up): held, init's exit leaves its teardown to this descriptor's close.
    /// Taken once [`Started::wait`] has returned.
    pub fn mount_namespace(&mut self) -> Option<OwnedFd> {
        self.mount_ns.take()
    }

    /// Wait until the runtime's command has succeeded or its process has ended. A standby
    /// berth-runtime sends the container's mount namespace, then says [`DONE`] before it exits:
    /// its exit status is then 0, and the shim goes on at once (it reaps the process later, with
    /// the others it reaps). Any other process's end is waited for. The end is watched on a pidfd
    /// too, not only as the socket's end: a container's init the runtime left parked holds a copy
    /// of the socket, so a runtime killed before it took init down would never end it.
    pub fn wait(&mut self) -> Result<std::process::ExitStatus> {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        use std::os::unix::process::ExitStatusExt;
        let pidfd = berth_sys::pidfd_open(self.pid.as_raw()).ok();
        let mut said = Vec::new();
        // Whether the runtime's process has ended: what it said is then all there.
        let mut ended = false;
        loop {
            if let (Some(p), false) = (&pidfd, ended) {
                let mut fds = [
                    PollFd::new(self.control.as_fd(), PollFlags::POLLIN),
                    PollFd::new(p.as_fd(), PollFlags::POLLIN),
                ];
                match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                }
                let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
                if !ready(&fds[0]) {
                    if !ready(&fds[1]) {
                        continue;
                    }
                    ended = true;
                    if self.control.set_nonblocking(true).is_err() {
                        break;
                    }
                }
            }
            match berth_sys::recv_fds(self.control.as_fd()) {
                // The end of the socket without the word: the process ends without success, or
                // is another program (which never had the socket).
                Ok((fds, payload)) if fds.is_empty() && payload.is_empty() => break,
                Ok((fds, payload)) => {
                    if payload.starts_with(b"mnt") {
                        self.mount_ns = fds.into_iter().next();
                    }
                    said.extend_from_slice(&payload);
                    if said.ends_with(DONE) {
                        return Ok(ExitStatusExt::from_raw(0));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Nothing more to read from a process that has ended (or a broken socket).
                Err(_) => break,
            }
        }
        loop {
            match berth_sys::signal::waitpid(Some(self.pid), false) {
                Ok(Waited::Exited(_, c)) => return Ok(ExitStatusExt::from_raw(c << 8)),
                Ok(Waited::Signaled(_, s)) => return Ok(ExitStatusExt::from_raw(s.as_raw())),
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => bail!("wait for the runtime: {e}"),
            }
        }
    }
}

/// The words of a NUL-separated list (what berthd writes to a standby's stdin, what the standby
/// writes to its forked process), empty ones skipped.
pub fn words(buf: &[u8]) -> impl Iterator<Item = &OsStr> {
    buf.split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(OsStr::from_bytes)
}

/// The forked side with a standby runtime: put `fds` on descriptors 0-3 and exec `runtime
/// --standby` (exit 127 if that fails: the shim's hand-over then fails, and the start with it).
fn standby_runtime(runtime: &Path, fds: [OwnedFd; 4]) -> ! {
    use nix::fcntl::{fcntl, FcntlArg};
    // Copies above the targets first, so that no target overwrites a source still to be placed.
    let mut high = Vec::with_capacity(fds.len());
    for fd in &fds {
        match fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(10)) {
            Ok(h) => high.push(h),
            Err(_) => berth_sys::exit_now(127),
        }
    }
    drop(fds);
    for (target, h) in (0..).zip(high) {
        // The new descriptor is without close-on-exec (the copies are, and go at the exec).
        if nix::unistd::dup2(h, target).is_err() {
            berth_sys::exit_now(127);
        }
        let _ = nix::unistd::close(h);
    }
    // As Command's exec does: no signal ignored (Rust ignores SIGPIPE) or blocked in the runtime.
    let _ = berth_sys::reset_signals();
    let (Ok(prog), Ok(flag)) = (
        std::ffi::CString::new(runtime.as_os_str().as_bytes()),
        std::ffi::CString::new(STANDBY_FLAG),
    ) else {
        berth_sys::exit_now(127);
    };
    let _ = nix::unistd::execv(&prog, &[prog.as_c_str(), flag.as_c_str()]);
    berth_sys::exit_now(127);
}

/// The argument berth-runtime's standby is started with.
const STANDBY_FLAG: &str = "--standby";

/// The forked side: wait for the command, then become it (exit 0 if the standby closed the
/// control socket without one, 127 if the exec failed).
fn child(mut control: File, out_w: OwnedFd, err_w: OwnedFd, in_r: OwnedFd) -> ! {
    let mut buf = Vec::new();
    if control.read_to_end(&mut buf).is_err() || buf.is_empty() {
        berth_sys::exit_now(0);
    }
    let mut words = words(&buf);
    let (Some(mode), Some(program)) = (words.next(), words.next()) else {
        berth_sys::exit_now(127);
    };
    let mut cmd = Command::new(program);
    cmd.args(words);
    if mode == "null" {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    } else {
        cmd.stdin(if mode == "pipes-stdin" {
            Stdio::from(in_r)
        } else {
            Stdio::null()
        })
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w));
    }
    let e = cmd.exec();
    eprintln!("berth-shim: exec {}: {e}", program.to_string_lossy());
    berth_sys::exit_now(127);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(cmd: &str) -> (Started, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        // Reaped by `Started::wait` (or the test), by its pid, as the shim reaps the runtime.
        #[allow(clippy::zombie_processes)]
        let child = Command::new("sh").args(["-c", cmd]).spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let s = Started {
            pid,
            control: ours,
            mount_ns: None,
        };
        (s, theirs)
    }

    #[test]
    fn a_runtime_that_ends_is_seen_though_another_process_holds_the_socket() {
        // `theirs` stays open here, as a parked init's copy would: no end of the socket comes.
        let (mut s, _theirs) = started("exit 3");
        let status = s.wait().unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(s.mount_namespace().is_none());
    }

    #[test]
    fn done_is_success_before_the_runtime_ends() {
        let (mut s, mut theirs) = started("sleep 30");
        theirs.write_all(DONE).unwrap();
        let status = s.wait().unwrap();
        assert!(status.success());
        let _ = nix::sys::signal::kill(s.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(s.pid, None);
    }
}
