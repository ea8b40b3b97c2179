//! The runtime's process of a standby shim, forked ahead of need along with the container's stdio
//! pipes: it waits on a control pipe for the runtime's command line, then sets up its stdio and
//! execs the runtime. On a busy host a freshly forked process waits the longest for a CPU (the
//! shim's fork and exec of the runtime took 2 ms there); forked while the standby idles, that
//! wait is off `start`'s path, and the start pays only the exec.

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
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
    control: File,
    /// Read ends of stdout and stderr, write end of stdin.
    ends: Option<(OwnedFd, OwnedFd, OwnedFd)>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")
}

impl Runner {
    /// Fork it. The caller must be single-threaded.
    pub fn fork() -> Result<Runner> {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (in_r, in_w) = pipe()?;
        let (ctl_r, ctl_w) = pipe()?;
        match berth_sys::fork().context("fork the runtime's process")? {
            berth_sys::Forked::Child => {
                drop((out_r, err_r, in_w, ctl_w));
                child(File::from(ctl_r), out_w, err_w, in_r)
            }
            berth_sys::Forked::Parent(pid) => Ok(Runner {
                pid,
                control: File::from(ctl_w),
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
            .context("hand over the runtime's command")?;
        drop(self.control);
        Ok(Started { pid: self.pid })
    }
}

/// The runtime's process, running the command it was handed.
pub struct Started {
    pid: Pid,
}

impl Started {
    /// Wait for the runtime's process to end.
    pub fn wait(self) -> Result<std::process::ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        loop {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, c)) => return Ok(ExitStatusExt::from_raw(c << 8)),
                Ok(WaitStatus::Signaled(_, s, _)) => return Ok(ExitStatusExt::from_raw(s as i32)),
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

/// The forked side: wait for the command, then become it (exit 0 if the standby closed the
/// control pipe without one, 127 if the exec failed).
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
