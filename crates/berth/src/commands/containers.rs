//! Container verbs: run, ps, logs, exec, stop, start, restart, kill, rm, inspect.

use std::io::{Read, Write};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};

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

/// The options `run` shares with `profile learn`.
#[derive(Args, Debug, Clone)]
pub struct RunOpts {
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Environment variables (KEY=VALUE, or KEY to take it from here)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Bind mounts or volumes (SRC:DST[:ro])
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Publish ports ([IP:][HOST:]CONTAINER[/PROTO])
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Network mode (bridge, none, host, container:NAME)
    #[arg(long)]
    pub network: Option<String>,
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(long)]
    pub entrypoint: Option<String>,
    #[arg(long)]
    pub hostname: Option<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Labels (KEY=VALUE)
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security options (seccomp=FILE|unconfined, no-new-privileges, ...)
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Give extended privileges to the container
    #[arg(long)]
    pub privileged: bool,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `-e KEY` takes the variable from the caller's environment, as docker does.
fn env_list(env: &[String]) -> Vec<String> {
    env.iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

/// `-p` into ExposedPorts and PortBindings.
fn ports(specs: &[String]) -> Result<(Map<String, Value>, Map<String, Value>)> {
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for spec in specs {
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, p)) if p == "tcp" || p == "udp" => (r, p),
            Some(_) => bail!("invalid port {spec:?}: the protocol must be tcp or udp"),
            None => (spec.as_str(), "tcp"),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, cport) = match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [ip, h, c] => (*ip, *h, *c),
            _ => bail!("invalid port {spec:?}: use [IP:][HOST:]CONTAINER[/PROTO]"),
        };
        cport
            .parse::<u16>()
            .map_err(|_| anyhow!("invalid port {spec:?}: {cport:?} is not a port number"))?;
        if !host.is_empty() {
            host.parse::<u16>()
                .map_err(|_| anyhow!("invalid port {spec:?}: {host:?} is not a port number"))?;
        }
        let key = format!("{cport}/{proto}");
        exposed.insert(key.clone(), json!({}));
        let entry = bindings.entry(key).or_insert_with(|| json!([]));
        entry
            .as_array_mut()
            .expect("bindings are arrays")
            .push(json!({"HostIp": ip, "HostPort": host}));
    }
    Ok((exposed, bindings))
}

pub fn run(c: &Client, a: &RunArgs) -> Result<i32> {
    let (exposed, bindings) = ports(&a.opts.publish)?;
    let mut host_config = json!({
        "Binds": a.opts.volumes,
        "PortBindings": bindings,
        "AutoRemove": a.rm,
    });
    if let Some(n) = &a.opts.network {
        host_config["NetworkMode"] = json!(n);
    }
    if let Some(r) = &a.opts.runtime {
        host_config["Runtime"] = json!(r);
    }
    host_config["CapAdd"] = json!(a.opts.cap_add);
    host_config["CapDrop"] = json!(a.opts.cap_drop);
    host_config["Privileged"] = json!(a.opts.privileged);
    let mut security_opt = Vec::new();
    for o in &a.opts.security_opt {
        // As docker does: seccomp=FILE sends the file's content.
        match o.split_once(['=', ':']) {
            Some(("seccomp", v)) if v != "unconfined" && v != "builtin" => {
                let json = std::fs::read_to_string(v)
                    .with_context(|| format!("opening seccomp profile ({v})"))?;
                security_opt.push(format!("seccomp={json}"));
            }
            _ => security_opt.push(o.clone()),
        }
    }
    host_config["SecurityOpt"] = json!(security_opt);
    let mut labels = Map::new();
    for l in &a.opts.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), json!(v));
    }
    let mut config = json!({
        "Image": a.opts.image,
        "Env": env_list(&a.opts.env),
        "Tty": a.opts.tty,
        "OpenStdin": a.opts.interactive,
        "StdinOnce": a.opts.interactive,
        "AttachStdin": a.opts.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "ExposedPorts": exposed,
        "HostConfig": host_config,
        "Labels": labels,
    });
    if !a.opts.command.is_empty() {
        config["Cmd"] = json!(a.opts.command);
    }
    if let Some(e) = &a.opts.entrypoint {
        config["Entrypoint"] = json!([e]);
    }
    for (key, val) in [
        ("WorkingDir", &a.opts.workdir),
        ("User", &a.opts.user),
        ("Hostname", &a.opts.hostname),
    ] {
        if let Some(v) = val {
            config[key] = json!(v);
        }
    }
    let path = match &a.name {
        Some(n) => format!("/containers/create?name={}", q(n)),
        None => "/containers/create".to_string(),
    };
    let created = match c.post(&path, config.clone()) {
        Ok(v) => v,
        Err(e)
            if e.downcast_ref::<DaemonError>()
                .is_some_and(|d| d.status == 404 && d.message.contains("No such image")) =>
        {
            eprintln!("Unable to find image '{}' locally", a.opts.image);
            super::images::pull(c, &a.opts.image)?;
            c.post(&path, config)?
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
    if a.detach {
        start_for_run(c, &id)?;
        println!("{id}");
        return Ok(0);
    }
    let attach = format!(
        "/containers/{id}/attach?stream=1&stdout=1&stderr=1{}",
        if a.opts.interactive { "&stdin=1" } else { "" }
    );
    let (conn, multiplexed) = c.hijack(&attach, None)?;
    let condition = if a.rm { "removed" } else { "next-exit" };
    let wait = c
        .request(
            "POST",
            &format!("/containers/{id}/wait?condition={condition}"),
            &[],
            Body::Empty,
        )?
        .ok()?;
    start_for_run(c, &id)?;
    let resize = |c: &Client| {
        if let Ok((rows, cols)) =
            berth_sys::window_size(std::os::fd::AsFd::as_fd(&std::io::stdin()))
        {
            let _ = c.request(
                "POST",
                &format!("/containers/{id}/resize?h={rows}&w={cols}"),
                &[],
                Body::Empty,
            );
        }
    };
    if a.opts.tty {
        resize(c);
    }
    relay(conn, a.opts.interactive, a.opts.tty && !multiplexed)?;
    let status = wait.json()?;
    if let Some(msg) = status["Error"]["Message"]
        .as_str()
        .filter(|m| !m.is_empty())
    {
        bail!("{msg}");
    }
    Ok(status["StatusCode"].as_i64().unwrap_or(0) as i32)
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
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display container ids
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Filter output (e.g. status=exited, label=k=v, name=x)
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
}

pub fn ps(c: &Client, a: &PsArgs) -> Result<i32> {
    let mut path = format!("/containers/json?all={}", u8::from(a.all));
    if let Some(f) = super::filters_query(&a.filter)? {
        path.push_str(&format!("&filters={f}"));
    }
    let list = c.get(&path)?;
    let list = list.as_array().cloned().unwrap_or_default();
    if a.quiet {
        for ct in &list {
            println!(
                "{}",
                &ct["Id"].as_str().unwrap_or("")[..12.min(ct["Id"].as_str().unwrap_or("").len())]
            );
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|ct| {
            let id = ct["Id"].as_str().unwrap_or("");
            let cmd = ct["Command"].as_str().unwrap_or("");
            let cmd = if cmd.chars().count() > 20 {
                format!("\"{}…\"", cmd.chars().take(19).collect::<String>())
            } else {
                format!("\"{cmd}\"")
            };
            let ports: Vec<String> = ct["Ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| match p["PublicPort"].as_u64() {
                    Some(pp) => format!(
                        "{}:{}->{}/{}",
                        p["IP"].as_str().unwrap_or(""),
                        pp,
                        p["PrivatePort"],
                        p["Type"].as_str().unwrap_or("tcp")
                    ),
                    None => format!(
                        "{}/{}",
                        p["PrivatePort"],
                        p["Type"].as_str().unwrap_or("tcp")
                    ),
                })
                .collect();
            let names: Vec<String> = ct["Names"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(|s| s.trim_start_matches('/').to_string()))
                .collect();
            vec![
                id[..12.min(id.len())].to_string(),
                ct["Image"].as_str().unwrap_or("").to_string(),
                cmd,
                streams::ago(ct["Created"].as_i64().unwrap_or(0)),
                ct["Status"].as_str().unwrap_or("").to_string(),
                ports.join(", "),
                names.join(","),
            ]
        })
        .collect();
    streams::table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ],
        &rows,
    );
    Ok(0)
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    follow: bool,
    /// Number of lines to show from the end
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    container: String,
}

pub fn logs(c: &Client, a: &LogsArgs) -> Result<i32> {
    let info = c.get(&format!("/containers/{}/json", q(&a.container)))?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let path = format!(
        "/containers/{}/logs?stdout=1&stderr=1&tail={}{}",
        q(&a.container),
        q(&a.tail),
        if a.follow { "&follow=1" } else { "" }
    );
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
        "Env": env_list(&a.env),
    });
    if let Some(u) = &a.user {
        body["User"] = json!(u);
    }
    if let Some(w) = &a.workdir {
        body["WorkingDir"] = json!(w);
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
    /// Seconds to wait before killing
    #[arg(short = 't', long)]
    time: Option<u32>,
    #[arg(required = true)]
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
    let t = a.time.map(|t| format!("?t={t}")).unwrap_or_default();
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

pub fn start(c: &Client, names: &[String]) -> Result<i32> {
    if names.is_empty() {
        bail!("\"berth start\" requires at least 1 container");
    }
    each(names, |n| {
        c.request(
            "POST",
            &format!("/containers/{}/start", q(n)),
            &[],
            Body::Empty,
        )?
        .ok()?;
        Ok(())
    })
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
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn rm(c: &Client, a: &RmArgs) -> Result<i32> {
    each(&a.containers, |n| {
        c.request(
            "DELETE",
            &format!(
                "/containers/{}?force={}&v={}",
                q(n),
                u8::from(a.force),
                u8::from(a.volumes)
            ),
            &[],
            Body::Empty,
        )?
        .ok()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_become_bindings() {
        let (exposed, bindings) = ports(&["127.0.0.1:8080:80".into(), "53/udp".into()]).unwrap();
        assert!(exposed.contains_key("80/tcp") && exposed.contains_key("53/udp"));
        assert_eq!(
            bindings["80/tcp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
        );
        assert_eq!(bindings["53/udp"], json!([{"HostIp": "", "HostPort": ""}]));
        assert!(ports(&["80/sctp".into()]).is_err());
        assert!(ports(&["x:80".into()]).is_err());
    }
}
