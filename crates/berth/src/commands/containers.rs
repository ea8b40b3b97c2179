//! Container verbs: run, create, logs, exec, stop, start, restart, kill, rm, inspect, wait,
//! attach.

use std::io::{Read, Write};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::json;

use super::createbody::env_list;
pub use super::runopts::RunOpts;
use super::runopts::{CreateRequest, Pull};
use crate::client::{q, Body, Client, Conn, DaemonError};
use crate::streams;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run in the background and print the container id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub opts: RunOpts,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub opts: RunOpts,
}

/// The `--cidfile` of `run`/`create`: made before the container, so that a second run with the
/// same file stops early; removed again if no container came of it.
struct CidFile {
    path: String,
    written: bool,
}

impl CidFile {
    fn create(path: &str) -> Result<CidFile> {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(_) => Ok(CidFile {
                path: path.to_string(),
                written: false,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                "container ID file found, make sure the other container isn't running or delete {path}"
            ),
            Err(e) => Err(e).context("failed to create the container ID file"),
        }
    }

    fn write(mut self, id: &str) -> Result<()> {
        std::fs::write(&self.path, id).context("failed to write the container ID to the file")?;
        self.written = true;
        Ok(())
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `POST /containers/create` as `run` and `create` send it: the image pulled first (`--pull
/// always`), or when the daemon has none (`missing`); the id written to `--cidfile`.
fn create_container(c: &Client, opts: &RunOpts, req: &CreateRequest) -> Result<String> {
    let cidfile = req.cidfile.as_deref().map(CidFile::create).transpose()?;
    if req.pull == Pull::Always {
        pull_to_stderr(c, &opts.image, opts.quiet)?;
    }
    let created = match c.post(&req.path, req.body.clone()) {
        Ok(v) => v,
        Err(e)
            if req.pull == Pull::Missing
                && e.downcast_ref::<DaemonError>()
                    .is_some_and(|d| d.status == 404 && d.message.contains("No such image")) =>
        {
            eprintln!("Unable to find image '{}' locally", opts.image);
            pull_to_stderr(c, &opts.image, opts.quiet)?;
            c.post(&req.path, req.body.clone())?
        }
        Err(e) => return Err(e),
    };
    let id = created["Id"]
        .as_str()
        .ok_or_else(|| anyhow!("the daemon returned no container id"))?
        .to_string();
    for w in created["Warnings"].as_array().into_iter().flatten() {
        eprintln!("WARNING: {}", w.as_str().unwrap_or_default());
    }
    if let Some(f) = cidfile {
        f.write(&id)?;
    }
    Ok(id)
}

/// `pull`, its progress on stderr as docker's `run` and `create` show it (nowhere with `quiet`):
/// stdout stays for the container's id or output.
fn pull_to_stderr(c: &Client, image: &str, quiet: bool) -> Result<()> {
    let tty = nix::unistd::isatty(2).unwrap_or(false);
    let mut err = std::io::stderr().lock();
    let out: Option<(&mut dyn Write, bool)> = (!quiet).then_some((&mut err, tty));
    super::images::pull_to(c, image, out)
}

/// `berth create`: the container, not started; its id on stdout.
pub fn create(c: &Client, a: &CreateArgs) -> Result<i32> {
    let req = a
        .opts
        .create_request(a.name.as_deref(), false, a.rm, c.api_version())
        .map_err(Invalid)?;
    let id = create_container(c, &a.opts, &req)?;
    println!("{id}");
    Ok(0)
}

/// Options docker refuses before it asks the daemon anything (exit 125 for `create` too).
#[derive(Debug)]
pub struct Invalid(pub anyhow::Error);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for Invalid {}

pub fn run(c: &Client, a: &RunArgs) -> Result<i32> {
    if a.detach && !a.opts.attach.is_empty() {
        eprintln!("conflicting options: cannot specify both --attach and --detach");
        return Ok(1);
    }
    if a.opts.tty && a.opts.interactive && !a.detach && !stdin_is_terminal() {
        eprintln!("the input device is not a TTY");
        return Ok(1);
    }
    let req = a
        .opts
        .create_request(a.name.as_deref(), a.detach, a.rm, c.api_version())
        .map_err(Invalid)?;
    let id = create_container(c, &a.opts, &req)?;
    let s = req.streams;
    if !(s.stdin || s.stdout || s.stderr) {
        start_for_run(c, &id)?;
        println!("{id}");
        return Ok(0);
    }
    let mut attach = format!(
        "/containers/{id}/attach?stream=1{}{}{}",
        if s.stdin { "&stdin=1" } else { "" },
        if s.stdout { "&stdout=1" } else { "" },
        if s.stderr { "&stderr=1" } else { "" },
    );
    if let Some(k) = &a.opts.detach_keys {
        attach.push_str(&format!("&detachKeys={}", q(k)));
    }
    let (conn, multiplexed) = c.hijack(&attach, None)?;
    let wait = request_wait(c, &id, a.rm)?;
    start_for_run(c, &id)?;
    if a.opts.tty {
        resize(c, &id);
    } else if a.opts.sig_proxy {
        proxy_signals(c, &id);
    }
    relay(conn, s.stdin, a.opts.tty && !multiplexed)?;
    let status = wait.json()?;
    if let Some(msg) = status["Error"]["Message"]
        .as_str()
        .filter(|m| !m.is_empty())
    {
        bail!("{msg}");
    }
    Ok(status["StatusCode"].as_i64().unwrap_or(0) as i32)
}

fn stdin_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// `--sig-proxy`: the signals someone sends us go to the container instead (as docker run does
/// without a terminal); the container's exit then ends the run.
fn proxy_signals(c: &Client, id: &str) {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(sig);
    }
    // Blocked here, in the thread that reads the stream, and in the threads started after.
    if set.thread_block().is_err() {
        return;
    }
    let (c, id) = (c.clone(), id.to_string());
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            let _ = c.request(
                "POST",
                &format!("/containers/{id}/kill?signal={}", sig.as_str()),
                &[],
                Body::Empty,
            );
        }
    });
}

/// Tell the daemon our terminal's size.
fn resize(c: &Client, id: &str) {
    if let Ok((rows, cols)) = berth_sys::window_size(std::os::fd::AsFd::as_fd(&std::io::stdin())) {
        let _ = c.request(
            "POST",
            &format!("/containers/{id}/resize?h={rows}&w={cols}"),
            &[],
            Body::Empty,
        );
    }
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `berth wait`: each container's exit code, one a line, once it stops.
pub fn wait(c: &Client, a: &WaitArgs) -> Result<i32> {
    let mut code = 0;
    for n in &a.containers {
        let status = c
            .request(
                "POST",
                &format!("/containers/{}/wait", q(n)),
                &[],
                Body::Empty,
            )
            .and_then(|r| r.ok())
            .and_then(|r| r.json());
        match status {
            Ok(s) => match s["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
                Some(msg) => {
                    eprintln!("{msg}");
                    code = 1;
                }
                None => println!("{}", s["StatusCode"].as_i64().unwrap_or(0)),
            },
            Err(e) => {
                eprintln!("{e:#}");
                code = 1;
            }
        }
    }
    Ok(code)
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    container: String,
}

/// `berth attach`: the running container's output (and our stdin, if it keeps one open), then
/// its exit code.
pub fn attach(c: &Client, a: &AttachArgs) -> Result<i32> {
    let info = c.get(&format!("/containers/{}/json", q(&a.container)))?;
    if info["State"]["Running"].as_bool() != Some(true) {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if info["State"]["Paused"].as_bool() == Some(true) {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let id = info["Id"].as_str().unwrap_or(&a.container).to_string();
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !a.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    if tty && stdin && !stdin_is_terminal() {
        bail!("the input device is not a TTY");
    }
    if a.sig_proxy && !tty {
        proxy_signals(c, &id);
    }
    let (conn, multiplexed) = open_attach(c, &id, stdin, a.detach_keys.as_deref())?;
    if tty && stdin {
        resize(c, &id);
    }
    relay(conn, stdin, tty && !multiplexed)?;
    // The stream ends when the container exits (its code is ours) or when we detached (0); the
    // daemon may close the stream a moment before it records the exit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let state = c.get(&format!("/containers/{id}/json"))?["State"].clone();
        if state["Running"].as_bool() != Some(true) {
            return Ok(state["ExitCode"].as_i64().unwrap_or(0) as i32);
        }
        if std::time::Instant::now() > deadline {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `run`'s start: a refusal from the daemon becomes a [`StartFailed`] with docker's exit code.
fn start_for_run(c: &Client, id: &str) -> Result<()> {
    let refused = match c
        .request("POST", &format!("/containers/{id}/start"), &[], Body::Empty)?
        .ok()
    {
        Ok(_) => return Ok(()),
        Err(e) => e.downcast::<DaemonError>()?,
    };
    Err(StartFailed {
        code: start_exit_code(&refused.message),
        refused,
    }
    .into())
}

/// A container `run` created but the daemon could not start.
#[derive(Debug)]
pub struct StartFailed {
    /// What `run` exits with.
    pub code: i32,
    refused: DaemonError,
}

impl std::fmt::Display for StartFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.refused.fmt(f)
    }
}

impl std::error::Error for StartFailed {}

/// The exit code docker's `run` gives a start the daemon refused, from the words of the runtime's
/// error: 127 when the program is missing, 126 when it cannot be executed, else 125.
fn start_exit_code(message: &str) -> i32 {
    if ["executable file not found", "no such file or directory"]
        .iter()
        .any(|w| message.contains(w))
    {
        127
    } else if ["permission denied", "is a directory"]
        .iter()
        .any(|w| message.contains(w))
    {
        126
    } else {
        125
    }
}

/// The attach stream of container `id` (its output, and our stdin if `stdin`), as `attach` and
/// `start -a` open it; with whether it is multiplexed.
/// `POST /containers/{id}/wait` for its next exit, or for its removal (`removed`: an auto-remove
/// container); the answer's body comes when that happens.
fn request_wait(c: &Client, id: &str, removed: bool) -> Result<crate::client::Response> {
    let condition = if removed { "removed" } else { "next-exit" };
    c.request(
        "POST",
        &format!("/containers/{id}/wait?condition={condition}"),
        &[],
        Body::Empty,
    )?
    .ok()
}

fn open_attach(
    c: &Client,
    id: &str,
    stdin: bool,
    detach_keys: Option<&str>,
) -> Result<(crate::client::Conn, bool)> {
    let mut path = format!(
        "/containers/{id}/attach?stream=1&stdout=1&stderr=1{}",
        if stdin { "&stdin=1" } else { "" }
    );
    if let Some(k) = detach_keys {
        path.push_str(&format!("&detachKeys={}", q(k)));
    }
    c.hijack(&path, None)
}

fn start_attached(c: &Client, a: &StartArgs) -> Result<i32> {
    let [name] = a.containers.as_slice() else {
        bail!("you cannot start and attach multiple containers at once");
    };
    let info = c.get(&format!("/containers/{}/json", q(name)))?;
    let id = info["Id"].as_str().unwrap_or(name).to_string();
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = a.interactive && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    if tty && stdin && !stdin_is_terminal() {
        bail!("the input device is not a TTY");
    }
    if !tty {
        proxy_signals(c, &id);
    }
    let (conn, multiplexed) = open_attach(c, &id, stdin, a.detach_keys.as_deref())?;
    let auto_remove = info["HostConfig"]["AutoRemove"].as_bool() == Some(true);
    let wait = request_wait(c, &id, auto_remove)?;
    c.request("POST", &format!("/containers/{id}/start"), &[], Body::Empty)?
        .ok()?;
    if tty && stdin {
        resize(c, &id);
    }
    relay(conn, stdin, tty && !multiplexed)?;
    if !a.attach {
        return Ok(0);
    }
    let status = wait.json()?;
    Ok(status["StatusCode"].as_i64().unwrap_or(0) as i32)
}

/// Relay a hijacked stream: our stdin to it (if asked), its output to ours.
fn relay(conn: Conn, stdin: bool, raw: bool) -> Result<()> {
    let term = if raw && stdin {
        RawTerminal::enter()
    } else {
        None
    };
    if stdin {
        let mut to = conn.try_clone()?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut input = std::io::stdin().lock();
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
            to.shutdown_write();
        });
    } else {
        conn.shutdown_write();
    }
    let res = if raw {
        streams::raw(conn)
    } else {
        streams::demux(conn)
    };
    drop(term);
    res.context("read the container's output")
}

/// The caller's terminal in raw mode, restored on drop.
struct RawTerminal(nix::sys::termios::Termios);

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let orig = tcgetattr(&stdin).ok()?;
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal(orig))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.0,
        );
    }
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    follow: bool,
    /// Number of lines to show from the end
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    until: Option<String>,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    container: String,
}

pub fn logs(c: &Client, a: &LogsArgs) -> Result<i32> {
    let info = c.get(&format!("/containers/{}/json", q(&a.container)))?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut path = format!(
        "/containers/{}/logs?stdout=1&stderr=1&tail={}{}",
        q(&a.container),
        q(&a.tail),
        if a.follow { "&follow=1" } else { "" }
    );
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            path.push_str(&format!("&{k}={}", q(&super::system::api_time(v))));
        }
    }
    if a.timestamps {
        path.push_str("&timestamps=1");
    }
    if a.details {
        path.push_str("&details=1");
    }
    let r = c.request("GET", &path, &[], Body::Empty)?.ok()?;
    if tty {
        streams::raw(r)?;
    } else {
        streams::demux(r)?;
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[arg(short = 'd', long)]
    detach: bool,
    #[arg(short = 'i', long)]
    interactive: bool,
    #[arg(short = 't', long)]
    tty: bool,
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    #[arg(short = 'u', long)]
    user: Option<String>,
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn exec(c: &Client, a: &ExecArgs) -> Result<i32> {
    let mut body = json!({
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Tty": a.tty,
        "Cmd": a.command,
        "Env": env_list(&a.env)?,
    });
    if let Some(u) = &a.user {
        body["User"] = json!(u);
    }
    if let Some(w) = &a.workdir {
        body["WorkingDir"] = json!(w);
    }
    if !a.env_file.is_empty() {
        // As docker: the files' variables first, then -e.
        let mut env = Vec::new();
        for f in &a.env_file {
            let lookup = |k: &str| std::env::var(k).ok();
            env.extend(super::optparse::kv_file(f, lookup).map_err(|e| anyhow!(e))?);
        }
        env.extend(env_list(&a.env)?);
        body["Env"] = json!(env);
    }
    if a.privileged {
        body["Privileged"] = json!(true);
    }
    if let Some(k) = &a.detach_keys {
        body["DetachKeys"] = json!(k);
    }
    let created = c.post(&format!("/containers/{}/exec", q(&a.container)), body)?;
    let id = created["Id"]
        .as_str()
        .ok_or_else(|| anyhow!("the daemon returned no exec id"))?
        .to_string();
    if a.detach {
        c.post(
            &format!("/exec/{id}/start"),
            json!({"Detach": true, "Tty": a.tty}),
        )?;
        return Ok(0);
    }
    let (conn, multiplexed) = c.hijack(
        &format!("/exec/{id}/start"),
        Some(json!({"Detach": false, "Tty": a.tty})),
    )?;
    relay(conn, a.interactive, a.tty && !multiplexed)?;
    let info = c.get(&format!("/exec/{id}/json"))?;
    Ok(info["ExitCode"].as_i64().unwrap_or(0) as i32)
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        alias = "time",
        allow_hyphen_values = true
    )]
    time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// Apply `f` to each name, printing the name on success (docker's output);
/// the exit code is 1 if any failed.
pub(super) fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut code = 0;
    for n in names {
        match f(n) {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("{e:#}");
                code = 1;
            }
        }
    }
    Ok(code)
}

pub fn stop(c: &Client, a: &StopArgs, restart: bool) -> Result<i32> {
    let verb = if restart { "restart" } else { "stop" };
    let mut query = Vec::new();
    if let Some(s) = &a.signal {
        query.push(format!("signal={}", q(s)));
    }
    if let Some(t) = a.time {
        query.push(format!("t={t}"));
    }
    let t = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    each(&a.containers, |n| {
        c.request(
            "POST",
            &format!("/containers/{}/{verb}{t}", q(n)),
            &[],
            Body::Empty,
        )?
        .ok()?;
        Ok(())
    })
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `start`: each container started and named; with `-a`/`-i`, the one container's streams
/// attached before it starts and its exit code as ours (as `run` without `-d`).
pub fn start(c: &Client, a: &StartArgs) -> Result<i32> {
    if a.attach || a.interactive {
        return start_attached(c, a);
    }
    let names = &a.containers;
    let mut failed = Vec::new();
    for n in names {
        let started = c
            .request(
                "POST",
                &format!("/containers/{}/start", q(n)),
                &[],
                Body::Empty,
            )
            .and_then(|r| r.ok());
        match started {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprintln!("{e:#}");
                failed.push(n.as_str());
            }
        }
    }
    if !failed.is_empty() {
        bail!("Error: failed to start containers: {}", failed.join(", "));
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct KillArgs {
    #[arg(short = 's', long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn kill(c: &Client, a: &KillArgs) -> Result<i32> {
    each(&a.containers, |n| {
        c.request(
            "POST",
            &format!("/containers/{}/kill?signal={}", q(n), q(&a.signal)),
            &[],
            Body::Empty,
        )?
        .ok()?;
        Ok(())
    })
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[arg(short = 'f', long)]
    force: bool,
    /// Remove anonymous volumes too
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    link: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn rm(c: &Client, a: &RmArgs) -> Result<i32> {
    each(&a.containers, |n| {
        c.request(
            "DELETE",
            &format!(
                "/containers/{}?force={}&v={}{}",
                q(n),
                u8::from(a.force),
                u8::from(a.volumes),
                if a.link { "&link=1" } else { "" }
            ),
            &[],
            Body::Empty,
        )?
        .ok()?;
        Ok(())
    })
}
