//! berth-shim: one small, synchronous process per container.
//!
//! berthd starts it for `start`, or ahead of need with `--standby` (it then reads the container's
//! arguments, NUL-separated, from its stdin until berthd closes it, having forked the runtime's
//! process ahead too: [`prefork`]); it double-forks (the first process exits at once, the second
//! calls `setsid`), so it is no child of berthd and outlives it. It then becomes a child subreaper, runs
//! `<runtime> create` (or with `--start`, `<runtime> run --detach`) with the container's stdio pipes
//! (the container's init is reparented to it when the runtime exits), reports `listening` once the
//! runtime runs and its socket is bound (connections wait there until it serves them), then
//! `ok <pid>` (or `error <message>`) on its stdout to berthd once the runtime has made the container
//! (a standby berth-runtime says `done` on its control socket before it exits; any other runtime's
//! exit is waited for), and from then on:
//!
//! - copies the container's stdout and stderr into a json-file log ([`log`]) and to attached clients
//!   (each through a bounded queue, [`outbox`]: a client that does not read is dropped, never waited for),
//! - serves its unix socket ([`server`]): `attach`, `wait`,
//! - reaps every process reparented to it, and when the container's init exits, records the status in
//!   the exit file (atomically), answers the waiters, closes the attached streams, runs
//!   `<runtime> delete`, tells the waiters `done` and exits.
//!
//! berthd runs `<runtime> start` itself once it has connected the attached clients. A container
//! started with `--start` runs from the shim's `ok` on, but its output stays in its pipes until
//! berthd has connected those clients and says `start` on the socket (or a `wait` comes).

mod args;
mod console;
mod log;
mod outbox;
mod prefork;
mod server;
mod time;

use anyhow::{bail, Context, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::sync::Arc;

fn main() {
    // `--standby MARK [RUNTIME]`: started ahead of need; the container's arguments come later on
    // stdin. MARK (berthd's exec root) only names whose standby it is; RUNTIME, Berth's own, is
    // exec'd ahead as a standby runtime too.
    let standby = std::env::args().nth(1).as_deref() == Some("--standby");
    let standby_runtime = standby
        .then(|| std::env::args_os().nth(3).map(std::path::PathBuf::from))
        .flatten();
    let args = if standby {
        None
    } else {
        match args::Args::parse(std::env::args().skip(1)) {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("berth-shim: {e:#}");
                std::process::exit(2);
            }
        }
    };
    // First fork: the parent returns to berthd at once; the child leads a new session.
    match berth_sys::fork() {
        Ok(berth_sys::Forked::Parent(_)) => std::process::exit(0),
        Ok(berth_sys::Forked::Child) => {}
        Err(e) => {
            println!("error fork: {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = nix::unistd::setsid() {
        println!("error setsid: {e}");
        berth_sys::exit_now(1);
    }
    // A standby forks the runtime's process ahead too (while it is still single-threaded).
    let runner = if standby {
        match prefork::Runner::fork(standby_runtime.as_deref()) {
            Ok(r) => Some(r),
            Err(e) => {
                println!("error {}", format!("{e:#}").replace('\n', " "));
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let args = match args.map_or_else(standby_args, |a| Ok(Some(a))) {
        Ok(Some(a)) => a,
        // berthd closed the standby's stdin without a container for it (it exits, or has no
        // more use for it).
        Ok(None) => std::process::exit(0),
        Err(e) => {
            println!("error {}", format!("{e:#}").replace('\n', " "));
            std::process::exit(1);
        }
    };
    if let Some(path) = &args.shim_log {
        match File::create(path) {
            Ok(f) => {
                let _ = nix::unistd::dup2(f.as_raw_fd(), 2);
            }
            Err(e) => {
                println!("error shim log {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
    let code = match run(&args, runner) {
        Ok(()) => 0,
        Err(e) => {
            // Still connected to berthd's pipe if the failure came before `ok`.
            let msg = format!("{e:#}").replace('\n', " ");
            let _ = writeln!(std::io::stdout(), "error {msg}");
            // No one will answer there: leave no socket behind.
            let _ = fs::remove_file(&args.socket);
            let _ = fs::remove_file(args.socket.with_extension("console"));
            eprintln!("berth-shim {}: {msg}", args.id);
            1
        }
    };
    std::process::exit(code);
}

/// A standby shim's arguments: NUL-separated on its stdin, up to its end (berthd closes it once
/// written); `None` if it closed it without any.
fn standby_args() -> Result<Option<args::Args>> {
    // Room for a container's arguments (~1 kB): read in one call once they come, not in the
    // 32-byte probe and doubling reads an empty buffer gets.
    let mut buf = Vec::with_capacity(8192);
    std::io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .context("read the arguments")?;
    if buf.is_empty() {
        return Ok(None);
    }
    let words = prefork::words(&buf).map(|w| w.to_string_lossy().into_owned());
    args::Args::parse(words).map(Some)
}

/// Make descriptors 0-2 point at /dev/null (stdout last, after berthd got its answer).
fn detach_stdio() -> Result<()> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in [0, 1] {
        nix::unistd::dup2(null.as_raw_fd(), fd)?;
    }
    Ok(())
}

fn runtime_error(log: &std::path::Path) -> String {
    // The runtime's json log: the last `error` entry says why create failed.
    let text = fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "error")
        .and_then(|v| v["msg"].as_str().map(str::to_string))
        .unwrap_or_else(|| "runtime create failed".into())
}

fn run(a: &args::Args, mut runner: Option<prefork::Runner>) -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    // A remote log driver connects before the container runs: one that cannot reach its endpoint
    // fails the start with nothing made, as with dockerd.
    let remote = a
        .log_remote
        .as_ref()
        .map(|spec| {
            berth_logdriver::open(spec)
                .map(|d| (spec.driver.clone(), d))
                .map_err(|e| anyhow::anyhow!("failed to initialize logging driver: {e}"))
        })
        .transpose()?;
    let mut remote = Some(remote);
    let pid_file = a.bundle.join("init.pid");
    let _ = fs::remove_file(&pid_file);
    let mut cmd = Command::new(&a.runtime);
    cmd.arg("--root")
        .arg(&a.runtime_root)
        .arg("--log")
        .arg(&a.runtime_log)
        .arg("--log-format")
        .arg("json");
    if a.start {
        cmd.arg("run").arg("--detach");
    } else {
        cmd.arg("create");
    }
    cmd.arg("--bundle")
        .arg(&a.bundle)
        .arg("--pid-file")
        .arg(&pid_file);
    // Output sources: (fd, stream) pairs; the pty master for a terminal.
    let mut outputs: Vec<(OwnedFd, u8)> = Vec::new();
    let stdin_w: Option<OwnedFd>;
    let console = if a.tty {
        let path = a.socket.with_extension("console");
        let _ = fs::remove_file(&path);
        let l = UnixListener::bind(&path).with_context(|| format!("bind {}", path.display()))?;
        cmd.arg("--console-socket").arg(&path);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        stdin_w = None;
        Some((std::thread::spawn(move || console::receive(l)), path))
    } else if let Some((out_r, err_r, in_w)) = runner.as_mut().and_then(|r| r.take_ends()) {
        // The forked runtime process holds the other ends.
        stdin_w = a.stdin.then_some(in_w);
        outputs.push((out_r, 1));
        outputs.push((err_r, 2));
        None
    } else {
        let (out_r, out_w) = nix::unistd::pipe()?;
        let (err_r, err_w) = nix::unistd::pipe()?;
        let stdin_child = if a.stdin {
            let (r, w) = nix::unistd::pipe()?;
            stdin_w = Some(w);
            Stdio::from(r)
        } else {
            stdin_w = None;
            Stdio::null()
        };
        cmd.stdin(stdin_child)
            .stdout(Stdio::from(out_w))
            .stderr(Stdio::from(err_w));
        outputs.push((out_r, 1));
        outputs.push((err_r, 2));
        None
    };
    cmd.arg(&a.id);
    let mut running = match runner {
        Some(r) => {
            let stdio = if a.tty {
                prefork::Stdio3::Null
            } else {
                prefork::Stdio3::Pipes { stdin: a.stdin }
            };
            Running::Preforked(r.begin(&cmd, stdio)?)
        }
        None => Running::Child(
            cmd.spawn()
                .with_context(|| format!("run {}", a.runtime.display()))?,
        ),
    };
    // The socket is bound while the runtime runs (a new inode: 0.3 ms on this ext4, off the
    // runtime's path); if that fails, the container the runtime makes is taken down again.
    let listener = match bind(&a.socket) {
        Ok(l) => l,
        Err(e) => {
            drop(cmd);
            if running.wait().is_ok_and(|s| s.success()) {
                delete_container(a);
            }
            return Err(e);
        }
    };
    // The socket is bound (and listening): berthd may connect its attaches and its `wait` while
    // the runtime runs, instead of after the answer.
    // A failed write (berthd gone) is not this step's to handle: the runtime runs already.
    let _ = writeln!(std::io::stdout(), "listening");
    let _ = std::io::stdout().flush();
    // Without a terminal the container's outputs are known now: the log, the copiers and the
    // socket's server are made while the runtime runs (on another CPU), not before or after it.
    let mut early = None;
    let mut late = None;
    if console.is_none() {
        early = Some(serve(
            a,
            std::mem::take(&mut outputs),
            stdin_w,
            None,
            listener,
            remote.take().flatten(),
        ));
    } else {
        late = Some((stdin_w, listener, remote.take().flatten()));
    }
    let status = running.wait();
    // The container's ends of the pipes must not stay open here.
    drop(cmd);
    let status = status?;
    // Held until the exit is told (see below).
    let mount_ns = match &mut running {
        Running::Preforked(r) if status.success() => r.mount_namespace(),
        _ => None,
    };
    // From here on the runtime may have made a container: whatever keeps the shim from serving it
    // (the log, the terminal, the pid file) takes it down again, so nothing runs unsupervised.
    let after = || -> Result<(i32, Served)> {
        let early = early.transpose()?;
        let mut pty = None;
        if let Some((t, path)) = console {
            if !status.success() {
                // Unblock the receiver if the runtime never connected.
                let _ = std::os::unix::net::UnixStream::connect(&path);
            }
            let master = t
                .join()
                .map_err(|_| anyhow::anyhow!("console thread panicked"))?;
            let _ = fs::remove_file(&path);
            if status.success() {
                let master = master.context("receive the terminal from the runtime")?;
                outputs.push((master.try_clone()?, 1));
                pty = Some(master);
            }
        }
        if !status.success() {
            bail!("{}", runtime_error(&a.runtime_log));
        }
        let pid: i32 = fs::read_to_string(&pid_file)
            .context("read pid file")?
            .trim()
            .parse()
            .context("parse pid file")?;
        let served = match (early, late) {
            (Some(served), _) => served,
            (None, Some((stdin_w, listener, remote))) => {
                serve(a, outputs, stdin_w, pty, listener, remote)?
            }
            (None, None) => unreachable!("one of the two is set"),
        };
        Ok((pid, served))
    };
    let (pid, (shared, logger, readers)) = match after() {
        Ok(v) => v,
        Err(e) => {
            if status.success() {
                delete_container(a);
            }
            return Err(e);
        }
    };
    // berthd may be gone (it exited, or was killed, while the runtime ran): the container still
    // gets its shim, and a restarted berthd finds it by its socket. A panic here (println!) would
    // have left it unsupervised.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ok {pid}").and_then(|()| out.flush());
    let _ = detach_stdio();

    let code = reap_until(Pid::from_raw(pid));
    // A remote log driver can hold the copiers without end (an endpoint gone away: fluentd retries
    // forever by default): after init's exit its lines get `REMOTE_DRAIN`, as dockerd gives its
    // logger at close, and the exit is recorded either way.
    let deadline = logger
        .has_remote()
        .then(|| std::time::Instant::now() + REMOTE_DRAIN);
    let all_read = join_until(readers, deadline);
    if !logger.flush_until(deadline) || !all_read {
        eprintln!(
            "berth-shim {}: the log driver still held output {} s after the exit; the rest is dropped",
            a.id,
            REMOTE_DRAIN.as_secs()
        );
    }
    logger.close_remote();
    write_exit_file(a, code)?;
    // Unlinked before the waiters hear of the exit: a restart's new shim binds the same path.
    let _ = fs::remove_file(&a.socket);
    // The exit is known and recorded: the waiters and the attached clients hear of it now, before
    // the runtime's state goes (berthd's `run --rm` finishes meanwhile). The waiters' connections
    // stay open until then, and get `done` once the state is deleted, so berthd knows when the id
    // is free for the runtime again.
    let clients = shared.finish(code);
    // The container's mount namespace was held so that init's exit did not wait for its teardown
    // (an RCU grace period, then every mount); it goes now, after the exit is told.
    drop(mount_ns);
    // Its log goes to ours: the run directory may already be gone (removal), and runc refuses a
    // `--log` it cannot open.
    let deleted = delete_container(a);
    shared.deleted(deleted);
    let deadline = std::time::Instant::now() + outbox::DRAIN;
    for c in clients {
        c.wait_done(deadline);
    }
    Ok(())
}

/// How long a remote log driver may still take the output once init has exited.
const REMOTE_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Join the threads, giving up at `deadline` on those still running (they are left behind):
/// whether all ended.
fn join_until(
    threads: Vec<std::thread::JoinHandle<()>>,
    deadline: Option<std::time::Instant>,
) -> bool {
    if let Some(d) = deadline {
        while threads.iter().any(|t| !t.is_finished()) && std::time::Instant::now() < d {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    let mut all = true;
    for t in threads {
        if deadline.is_none() || t.is_finished() {
            let _ = t.join();
        } else {
            all = false;
        }
    }
    all
}

/// `<runtime> delete --force <id>` (its log to the shim's): whether it succeeded. With Berth's
/// own runtime, a container whose init the shim reaped is deleted here, in the shim's process
/// (`delete_exited`: the exec of the runtime and its start-up cost more CPU than the delete, ~0.55
/// ms here); what that leaves to the full delete (poststop hooks) still gets the exec.
fn delete_container(a: &args::Args) -> bool {
    if a.own_runtime {
        match berth_runtime::container::delete::delete_exited(&a.runtime_root, &a.id) {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => {
                eprintln!("berth-shim {}: delete: {e}", a.id);
                return false;
            }
        }
    }
    Command::new(&a.runtime)
        .arg("--root")
        .arg(&a.runtime_root)
        .arg("--log")
        .arg("/proc/self/fd/2")
        .arg("--log-format")
        .arg("json")
        .arg("delete")
        .arg("--force")
        .arg(&a.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The runtime's process while it runs.
enum Running {
    /// The process the standby forked ahead.
    Preforked(prefork::Started),
    /// One spawned now.
    Child(std::process::Child),
}

impl Running {
    /// Wait for it to end.
    fn wait(&mut self) -> Result<std::process::ExitStatus> {
        match self {
            Running::Preforked(r) => r.wait(),
            Running::Child(c) => c.wait().context("wait for the runtime"),
        }
    }
}

/// The container's socket, bound afresh.
fn bind(path: &std::path::Path) -> Result<UnixListener> {
    let _ = fs::remove_file(path);
    UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))
}

/// What serves a running container: the state its socket's server shares, its log, its copiers.
type Served = (
    Arc<server::Shared>,
    Arc<log::JsonLog>,
    Vec<std::thread::JoinHandle<()>>,
);

/// The threads serving a container: open its json-file log (and hand it the remote driver, if
/// any), start a copier per output stream
/// (each waits for the release of a held output first) and the socket's server.
fn serve(
    a: &args::Args,
    outputs: Vec<(OwnedFd, u8)>,
    stdin_w: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    listener: UnixListener,
    remote: Option<(String, Box<dyn berth_logdriver::Logger>)>,
) -> Result<Served> {
    let shared = Arc::new(server::Shared::new(stdin_w, a.stdin_once, pty, a.start));
    let mut l = if a.no_log {
        log::JsonLog::disabled()
    } else {
        log::JsonLog::open(&a.log_path, a.log_max_size, a.log_max_file)?
            .with_attrs(a.log_attrs.as_deref())
    };
    if let Some((name, driver)) = remote {
        l = l.with_remote(&name, driver);
    }
    if let Some(max) = a.log_max_buffer {
        l = l.non_blocking(usize::try_from(max).unwrap_or(usize::MAX));
    }
    let logger = Arc::new(l);
    shared.expect_copiers(outputs.len());
    let readers: Vec<_> = outputs
        .into_iter()
        .map(|(fd, stream)| {
            let shared = shared.clone();
            let logger = logger.clone();
            std::thread::spawn(move || copy_output(File::from(fd), stream, &logger, &shared))
        })
        .collect();
    {
        let shared = shared.clone();
        std::thread::spawn(move || server::serve(listener, shared));
    }
    Ok((shared, logger, readers))
}

/// Reap every child until `init` exits; its exit code (128+n for signal n, a
/// real-time one too: nix's `waitpid` reaps such a child and then fails with
/// EINVAL, losing its status).
fn reap_until(init: Pid) -> i32 {
    loop {
        match berth_sys::signal::waitpid(None, false) {
            Ok(w) if w.pid() == Some(init) => {
                if let Some(code) = w.exit_code() {
                    return code;
                }
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            // No children left at all: init is gone without us seeing it (should not happen).
            Err(_) => return 255,
        }
    }
}

fn write_exit_file(a: &args::Args, code: i32) -> Result<()> {
    let body = serde_json::json!({
        "exit_code": code,
        "finished_at": time::now_rfc3339_nano(),
    });
    // Atomic by the rename, for a berthd that dies or restarts meanwhile (the page cache outlives
    // any process). Not synced: it lives in the exec root, whose state means nothing after a host
    // crash (the container died with the host), and an fsync on the exit path waits for every
    // other writer's dirty data on that disk (1 to 10 ms measured here on a busy host).
    // The spare run directory holds an empty `exit.tmp` (no inode made on the exit's path): it is
    // written over, not truncated first, or ext4 would start writing it to disk at its close.
    let tmp = a.exit_file.with_extension("tmp");
    berth_sys::overwrite(&tmp, body.to_string().as_bytes())?;
    fs::rename(&tmp, &a.exit_file)?;
    Ok(())
}

fn copy_output(mut f: File, stream: u8, logger: &log::JsonLog, shared: &server::Shared) {
    // A container started with `run` writes into its pipes (or terminal) until berthd has
    // connected the clients that attached before the start: none of them misses its first output.
    let held = shared.wait_released();
    let mut buf = vec![0u8; 32 * 1024];
    let mut log_state = log::LineBuffer::default();
    // Held output: first what is waiting in the pipe now (bounded: a container that writes without
    // pause does not hold up the `start` answer), then the rest as it comes.
    let mut backlog = if held { HELD_OUTPUT_MAX } else { 0 };
    let mut ended = false;
    while backlog > 0 {
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
        if !matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
            break;
        }
        match read_some(&mut f, &mut buf) {
            Some(n) => {
                logger.write(stream, &mut log_state, &buf[..n]);
                shared.broadcast(stream, &buf[..n]);
                backlog = backlog.saturating_sub(n);
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    if ended {
        logger.finish(stream, &mut log_state);
        shared.copier_drained();
        return;
    }
    // (`write` has flushed every complete line; in non-blocking mode they are written now.)
    logger.flush();
    shared.copier_drained();
    while let Some(n) = read_some(&mut f, &mut buf) {
        logger.write(stream, &mut log_state, &buf[..n]);
        shared.broadcast(stream, &buf[..n]);
    }
    logger.finish(stream, &mut log_state);
}

/// At most this much held output is logged before a `start` is answered.
const HELD_OUTPUT_MAX: usize = 1 << 20;

/// One read: `None` at the end of the stream (or an error, which ends it too).
fn read_some(f: &mut File, buf: &mut [u8]) -> Option<usize> {
    loop {
        match f.read(buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a container wrote before berthd's `start` is in the log when `start` is answered (the
    /// container still runs: the pipe has not ended), so `docker start` then `docker logs` shows it.
    #[test]
    fn start_is_answered_once_the_held_output_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let logger = Arc::new(log::JsonLog::open(&path, 0, 1).unwrap());
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut w = File::from(w);
        w.write_all(b"written before start\n").unwrap();
        let shared = Arc::new(server::Shared::new(None, false, None, true));
        shared.expect_copiers(1);
        let copier = {
            let (shared, logger) = (shared.clone(), logger.clone());
            std::thread::spawn(move || copy_output(File::from(r), 1, &logger, &shared))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(fs::read_to_string(&path).unwrap(), "", "logged while held");
        shared.release();
        shared.wait_drained();
        let logged = fs::read_to_string(&path).unwrap();
        assert!(logged.contains("written before start"), "{logged:?}");
        // Later output still flows, and the end of the stream ends the copier.
        w.write_all(b"after\n").unwrap();
        drop(w);
        copier.join().unwrap();
        assert!(fs::read_to_string(&path).unwrap().contains("after"));

        // The same when the release comes before the copier even runs (a busy host).
        let path = dir.path().join("log2.json");
        let logger = Arc::new(log::JsonLog::open(&path, 0, 1).unwrap());
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut w = File::from(w);
        w.write_all(b"also before start\n").unwrap();
        let shared = Arc::new(server::Shared::new(None, false, None, true));
        shared.expect_copiers(1);
        shared.release();
        let copier = {
            let (shared, logger) = (shared.clone(), logger.clone());
            std::thread::spawn(move || copy_output(File::from(r), 1, &logger, &shared))
        };
        shared.wait_drained();
        let logged = fs::read_to_string(&path).unwrap();
        assert!(logged.contains("also before start"), "{logged:?}");
        drop(w);
        copier.join().unwrap();
    }
}
