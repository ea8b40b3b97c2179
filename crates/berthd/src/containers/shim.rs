//! Talking to a container's shim and runtime: where its files are, starting the shim (which runs
//! `<runtime> create`, or `<runtime> run --detach` for a container with nothing to set up between
//! the two), `<runtime> start` and `kill`, and waiting for the exit on the shim's socket.

use crate::daemon::Daemon;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Errors from the shim or runtime.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// Could not run a binary.
    #[error("running {0}: {1}")]
    Spawn(String, std::io::Error),
    /// The shim reported a failure (usually the runtime's create error).
    #[error("{0}")]
    Failed(String),
    /// The runtime command failed.
    #[error("{0}")]
    Runtime(String),
    /// Socket trouble.
    #[error("shim socket: {0}")]
    Socket(std::io::Error),
}

/// The files of one container.
pub struct Paths {
    /// `<data-root>/containers/<id>`: config.json (the bundle), hosts, hostname, resolv.conf, the log.
    pub dir: PathBuf,
    /// `<dir>/rootfs`: where the overlay is mounted.
    pub rootfs: PathBuf,
    /// json-file log.
    pub log: PathBuf,
    /// `<exec-root>/containers/<id>`: exit file, runtime and shim logs.
    pub run_dir: PathBuf,
    /// The exit file the shim writes.
    pub exit_file: PathBuf,
    /// The shim's socket (`<exec-root>/s/<id[..16]>`, short enough for sun_path).
    pub socket: PathBuf,
    /// The runtime's `--root`.
    pub runtime_root: PathBuf,
}

impl Paths {
    /// Paths for a container id and runtime name.
    pub fn new(d: &Daemon, id: &str, runtime: &str) -> Paths {
        let dir = d.cfg.data_root.join("containers").join(id);
        let run_dir = d.cfg.exec_root.join("containers").join(id);
        Paths {
            rootfs: dir.join("rootfs"),
            log: dir.join(format!("{id}-json.log")),
            exit_file: run_dir.join("exit.json"),
            socket: d.cfg.exec_root.join("s").join(&id[..16.min(id.len())]),
            runtime_root: d.cfg.exec_root.join("runtime").join(runtime),
            dir,
            run_dir,
        }
    }
}

/// A shim started ahead of need (`berth-shim --standby`): forked into its own session, waiting
/// for a container's arguments on its stdin. `start` hands it its container instead of spawning a
/// shim: the fork and exec of the shim and its first fork are then off `start`'s path (a freshly
/// forked process also waits longest for a CPU on a busy host). berthd keeps one; when berthd
/// exits, even by `kill -9`, the standby reads the end of its stdin and exits.
pub struct Standby {
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
}

/// The standby shim, if one is ready, and whether one is being started.
#[derive(Default)]
pub struct StandbySlot {
    ready: std::sync::Mutex<Option<Standby>>,
    filling: std::sync::atomic::AtomicBool,
}

impl StandbySlot {
    fn take(&self) -> Option<Standby> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Start a standby shim in the background unless one is ready or being started.
pub fn refill(d: &std::sync::Arc<Daemon>) {
    use std::sync::atomic::Ordering;
    let slot = &d.shim_standby;
    if slot.filling.swap(true, Ordering::AcqRel) {
        return;
    }
    if slot
        .ready
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some()
    {
        slot.filling.store(false, Ordering::Release);
        return;
    }
    let d = d.clone();
    tokio::spawn(async move {
        match start_standby(&d).await {
            Ok(sb) => {
                *d.shim_standby
                    .ready
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(sb)
            }
            Err(e) => crate::log!(2, "starting a standby shim: {e}"),
        }
        d.shim_standby.filling.store(false, Ordering::Release);
    });
}

async fn start_standby(d: &Daemon) -> Result<Standby, ShimError> {
    let (shim, exec_root) = (d.cfg.shim.clone(), d.cfg.exec_root.clone());
    // Berth's own runtime is started ahead too (`berth-runtime --standby`, see berth-shim's
    // prefork), off the start's path; a container of another runtime has it exec'd at the start.
    let runtime = d.own_default_runtime();
    let name = shim.display().to_string();
    let spawn_err = |e| ShimError::Spawn(name.clone(), e);
    // On a blocking thread: the spawn's vfork stops the calling thread until the exec, which on a
    // busy host took milliseconds, and a tokio worker stopped there holds up the tasks queued on
    // it (the exit of the container just started among them).
    let (stdin, stdout) = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(&shim)
            .arg("--standby")
            // Names whose standby it is (to find one left behind), no argument of the shim's.
            .arg(&exec_root)
            .args(runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let pipes = (child.stdin.take(), child.stdout.take());
        // The first process exits at once (the shim forks ahead of need too); reap it.
        let _ = child.wait();
        Ok(pipes)
    })
    .await
    .map_err(|e| ShimError::Failed(format!("standby shim: {e}")))?
    .map_err(spawn_err)?;
    let (Some(stdin), Some(stdout)) = (stdin, stdout) else {
        return Err(ShimError::Failed("standby shim without pipes".into()));
    };
    Ok(Standby {
        stdin: tokio::process::ChildStdin::from_std(stdin).map_err(spawn_err)?,
        stdout: tokio::process::ChildStdout::from_std(stdout).map_err(spawn_err)?,
    })
}

/// A shim handed its container: it says `listening` once the runtime runs and its socket is bound,
/// then `ok <pid>` or `error <message>`.
pub struct Spawned {
    out: BufReader<tokio::process::ChildStdout>,
    /// A line read while looking for `listening` that was the answer itself.
    first: Option<String>,
}

/// The line a shim says on its stdout once its socket is bound, before its answer.
pub const LISTENING: &str = "listening";

/// A shim's answer line: `ok <pid>` gives the pid, `error <message>` (or anything else) the
/// message; an empty message means the shim died without one (its log may say why).
pub fn parse_answer(line: &str) -> Result<i32, String> {
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("ok ") {
        return pid.parse().map_err(|_| format!("shim said {line:?}"));
    }
    Err(line.strip_prefix("error ").unwrap_or(line).to_string())
}

/// A shim's answer from its stdout, read by a blocking caller (the managed plugin runner): the
/// first line after [`LISTENING`].
pub fn read_answer_blocking(out: impl std::io::Read) -> Result<i32, String> {
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        let _ = out.read_line(&mut line);
        if line.trim() != LISTENING {
            return parse_answer(&line);
        }
    }
}

impl Spawned {
    /// Wait until the shim's socket is bound (true: connections to it are served, even while the
    /// runtime still runs), or the shim answered without it (false: it failed).
    pub async fn listening(&mut self) -> bool {
        let mut line = String::new();
        let _ = self.out.read_line(&mut line).await;
        if line.trim() == LISTENING {
            return true;
        }
        self.first = Some(line);
        false
    }

    /// The container's init pid once the runtime's `create` (or `run`) succeeded.
    pub async fn answer(mut self, p: &Paths) -> Result<i32, ShimError> {
        let line = match self.first.take() {
            Some(line) => line,
            None => {
                let mut line = String::new();
                self.out
                    .read_line(&mut line)
                    .await
                    .map_err(|e| ShimError::Spawn("shim".into(), e))?;
                line
            }
        };
        parse_answer(&line).map_err(|msg| {
            if msg.is_empty() {
                let log = std::fs::read_to_string(p.run_dir.join("shim.log")).unwrap_or_default();
                ShimError::Failed(format!("shim exited: {}", log.trim()))
            } else {
                ShimError::Failed(msg)
            }
        })
    }
}

/// Start the shim for a prepared bundle (its answer: [`Spawned`]). `run`: the shim runs the
/// container at once (`<runtime> run --detach`) and holds its output until [`release`] (or a
/// `wait`). `log_fifo`: a log plugin's FIFO (see `logplugin`). Takes the standby shim if one is
/// ready.
pub async fn spawn(
    d: &Daemon,
    c: &super::model::Container,
    p: &Paths,
    run: bool,
    log_fifo: Option<&std::path::Path>,
) -> Result<Spawned, ShimError> {
    let (id, runtime, s) = (c.id.as_str(), c.runtime.as_str(), &c.spec);
    let runtime_bin = d
        .runtime_path(runtime)
        .ok_or_else(|| ShimError::Failed(format!("unknown runtime {runtime:?}")))?;
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    for (flag, value) in [
        ("--id", std::path::Path::new(id)),
        ("--bundle", &p.dir),
        ("--runtime", &runtime_bin),
        ("--runtime-root", &p.runtime_root),
        ("--runtime-log", &p.run_dir.join("runtime.log")),
        ("--log-path", &p.log),
        ("--socket", &p.socket),
        ("--exit-file", &p.exit_file),
    ] {
        args.push(flag.into());
        args.push(value.into());
    }
    for (flag, on) in [
        ("--stdin", s.open_stdin),
        ("--stdin-once", s.stdin_once),
        ("--tty", s.tty),
        ("--start", run),
        // Berth's own runtime: the shim deletes the container's state in its own process.
        (
            "--own-runtime",
            d.own_default_runtime().as_deref() == Some(runtime_bin.as_path()),
        ),
    ] {
        if on {
            args.push(flag.into());
        }
    }
    let failed = |e| ShimError::Failed(format!("failed to initialize logging driver: {e}"));
    let attrs = super::logconfig::attrs_json(c).map_err(failed)?;
    let remote = super::logconfig::remote_spec(c, log_fifo).map_err(failed)?;
    args.extend(
        super::logconfig::shim_args(&s.log, attrs, remote)
            .into_iter()
            .map(Into::into),
    );
    let shim_log = p.run_dir.join("shim.log");
    if let Some(sb) = d.shim_standby.take() {
        let mut words = args.clone();
        words.push("--shim-log".into());
        words.push(shim_log.clone().into());
        let mut buf = Vec::new();
        for w in &words {
            buf.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(w.as_os_str()));
            buf.push(0);
        }
        let Standby { mut stdin, stdout } = sb;
        // A standby that died meanwhile (killed) refuses the write: start one as before.
        if stdin.write_all(&buf).await.is_ok() {
            drop(stdin);
            return Ok(Spawned {
                out: BufReader::new(stdout),
                first: None,
            });
        }
    }
    let log_file =
        std::fs::File::create(&shim_log).map_err(|e| ShimError::Spawn("shim log".into(), e))?;
    let mut child = tokio::process::Command::new(&d.cfg.shim)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| ShimError::Spawn(d.cfg.shim.display().to_string(), e))?;
    let out = child.stdout.take().expect("piped stdout");
    // The first process exits at once (the shim double-forks); reap it.
    let _ = child.wait().await;
    Ok(Spawned {
        out: BufReader::new(out),
        first: None,
    })
}

/// Run `<runtime> --root R <args...>`; the error carries the runtime's message.
pub async fn runtime_cmd(
    d: &Daemon,
    runtime: &str,
    p: &Paths,
    args: &[&str],
) -> Result<(), ShimError> {
    let bin = d
        .runtime_path(runtime)
        .ok_or_else(|| ShimError::Runtime(format!("unknown runtime {runtime:?}")))?;
    let out = tokio::process::Command::new(&bin)
        .arg("--root")
        .arg(&p.runtime_root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| ShimError::Spawn(bin.display().to_string(), e))?;
    if out.status.success() {
        Ok(())
    } else {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(ShimError::Runtime(if msg.is_empty() {
            format!("{} {} failed", bin.display(), args.join(" "))
        } else {
            msg
        }))
    }
}

/// Let the output of a container the shim started at once flow (its attached clients are connected).
pub async fn release(socket: &std::path::Path) -> Result<(), ShimError> {
    command(socket, "start").await
}

/// Send the shim one command line and take its answer: `ok`, or `error <message>`.
async fn command(socket: &std::path::Path, line: &str) -> Result<(), ShimError> {
    let mut s = UnixStream::connect(socket)
        .await
        .map_err(ShimError::Socket)?;
    s.write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(ShimError::Socket)?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .await
        .map_err(ShimError::Socket)?;
    match answer.trim() {
        "ok" => Ok(()),
        other => Err(ShimError::Failed(
            other.trim_start_matches("error ").to_string(),
        )),
    }
}

/// Connect to the shim and attach: returns the stream after the shim's `ok` (frames follow).
pub async fn attach(
    socket: &std::path::Path,
    flags: (bool, bool, bool),
) -> Result<UnixStream, ShimError> {
    let mut s = UnixStream::connect(socket)
        .await
        .map_err(ShimError::Socket)?;
    let b = |x: bool| if x { 1 } else { 0 };
    s.write_all(format!("attach {} {} {}\n", b(flags.0), b(flags.1), b(flags.2)).as_bytes())
        .await
        .map_err(ShimError::Socket)?;
    let mut ack = [0u8; 3];
    tokio::io::AsyncReadExt::read_exact(&mut s, &mut ack)
        .await
        .map_err(ShimError::Socket)?;
    if &ack != b"ok\n" {
        return Err(ShimError::Failed("shim refused attach".into()));
    }
    Ok(s)
}

/// The exit the shim reported; the shim deletes the runtime's state after it said so.
pub struct Exit {
    /// The container's exit code.
    pub code: i32,
    rest: BufReader<UnixStream>,
}

impl Exit {
    /// Wait until the shim is done with the runtime's state: true once it says it deleted it,
    /// false if it could not (or went away without saying).
    pub async fn cleaned(mut self) -> bool {
        let mut line = String::new();
        self.rest.read_line(&mut line).await.is_ok() && line.trim() == "done"
    }
}

/// Wait for the container's exit through the shim; `None` if the shim is gone without saying.
pub async fn wait_exit(socket: &std::path::Path) -> Option<Exit> {
    exit_of(ask_wait(socket).await.ok()?).await
}

/// Connect to the shim and ask for the exit (which also lets a held output flow); the answer
/// comes on the stream ([`exit_of`]).
pub async fn ask_wait(socket: &std::path::Path) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(socket).await?;
    s.write_all(b"wait\n").await?;
    Ok(s)
}

/// The exit the shim reports on a stream from [`ask_wait`]; `None` if the shim is gone without saying.
pub async fn exit_of(s: UnixStream) -> Option<Exit> {
    let mut rest = BufReader::new(s);
    let mut line = String::new();
    rest.read_line(&mut line).await.ok()?;
    let code = line.trim().parse().ok()?;
    Some(Exit { code, rest })
}

/// What the shim recorded in the exit file.
pub fn read_exit_file(p: &Paths) -> Option<(i32, String)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p.exit_file).ok()?).ok()?;
    Some((
        v["exit_code"].as_i64()? as i32,
        v["finished_at"]
            .as_str()
            .unwrap_or(crate::time::ZERO)
            .to_string(),
    ))
}

/// Set the terminal size of a tty container.
pub async fn resize(socket: &std::path::Path, rows: u16, cols: u16) -> Result<(), ShimError> {
    command(socket, &format!("resize {rows} {cols}")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shims_answer_is_read_after_its_listening_line() {
        assert_eq!(read_answer_blocking(&b"listening\nok 42\n"[..]), Ok(42));
        assert_eq!(read_answer_blocking(&b"ok 7\n"[..]), Ok(7));
        assert_eq!(
            read_answer_blocking(&b"listening\nerror no such image\n"[..]),
            Err("no such image".into())
        );
        // A shim that died says nothing: the caller looks in its log.
        assert_eq!(
            read_answer_blocking(&b"listening\n"[..]),
            Err(String::new())
        );
        assert_eq!(parse_answer("ok x"), Err("shim said \"ok x\"".into()));
    }
}
