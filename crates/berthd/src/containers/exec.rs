//! `docker exec`: exec instances (created, then started once) and running them through the runtime's
//! `exec` in the foreground with piped stdio, relayed as Docker's multiplexed stream. An attached exec
//! loses its streams with berthd; a detached one (`exec -d`, no stdio) runs on through a restart,
//! though its record (and so its exit code) is berthd's memory only.

use super::model::Container;
use super::shim::Paths;
use super::spec;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde::Deserialize;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;

/// `POST /containers/{id}/exec` body.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecRequest {
    pub attach_stdin: Option<bool>,
    pub attach_stdout: Option<bool>,
    pub attach_stderr: Option<bool>,
    pub tty: Option<bool>,
    pub cmd: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub privileged: Option<bool>,
    /// docker-py sends `detachKeys` (dockerd's JSON decoding ignores case).
    #[serde(alias = "detachKeys")]
    pub detach_keys: Option<String>,
}

/// One exec instance.
#[derive(Debug, Clone)]
pub struct Exec {
    /// Its id.
    pub id: String,
    /// The container's id.
    pub container: String,
    /// What was asked.
    pub req: ExecRequest,
    /// Started (an exec starts once).
    pub started: bool,
    /// Running now.
    pub running: bool,
    /// Pid while running.
    pub pid: i32,
    /// Exit code once done.
    pub exit_code: Option<i32>,
    /// The terminal master of a tty exec while it runs.
    pub pty: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

/// The exec instances (in memory: they do not survive berthd).
#[derive(Default)]
pub struct Execs(Mutex<HashMap<String, Exec>>);

impl Execs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Exec>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register a new exec for a running container.
    pub fn create(&self, c: &Container, req: ExecRequest) -> ApiResult<String> {
        if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(ApiError::BadRequest("No exec command specified".into()));
        }
        let id = super::model::random_hex();
        self.lock().insert(
            id.clone(),
            Exec {
                id: id.clone(),
                container: c.id.clone(),
                req,
                started: false,
                running: false,
                pid: 0,
                exit_code: None,
                pty: None,
            },
        );
        Ok(id)
    }

    /// A copy of an exec.
    pub fn get(&self, id: &str) -> ApiResult<Exec> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("No such exec instance: {id}")))
    }

    /// Mark started (fails if it was).
    pub fn begin(&self, id: &str) -> ApiResult<Exec> {
        let mut g = self.lock();
        let e = g
            .get_mut(id)
            .ok_or_else(|| ApiError::NotFound(format!("No such exec instance: {id}")))?;
        if e.started {
            return Err(ApiError::Conflict(format!(
                "Error: Exec command {id} is already running"
            )));
        }
        e.started = true;
        e.running = true;
        Ok(e.clone())
    }

    /// Record the pid.
    pub fn set_pid(&self, id: &str, pid: i32) {
        if let Some(e) = self.lock().get_mut(id) {
            e.pid = pid;
        }
    }

    /// Record the end.
    pub fn finish(&self, id: &str, code: i32) {
        if let Some(e) = self.lock().get_mut(id) {
            e.running = false;
            e.exit_code = Some(code);
            e.pty = None;
        }
    }

    /// Keep the terminal of a running tty exec (for resize).
    pub fn set_pty(&self, id: &str, pty: std::sync::Arc<std::os::fd::OwnedFd>) {
        if let Some(e) = self.lock().get_mut(id) {
            e.pty = Some(pty);
        }
    }

    /// Forget the execs of a removed container.
    pub fn forget_container(&self, container: &str) {
        self.lock().retain(|_, e| e.container != container);
    }
}

/// Start `<runtime> exec` for an exec instance: with piped stdio (stdin only if attached), or, with
/// `console`, a terminal whose master the runtime sends to that socket; `detached` (non-tty): no stdio.
pub fn spawn(
    d: &Daemon,
    c: &Container,
    e: &Exec,
    console: Option<&std::path::Path>,
    detached: bool,
) -> ApiResult<tokio::process::Child> {
    let runtime = d
        .runtime_path(&c.runtime)
        .ok_or_else(|| ApiError::internal(format!("unknown runtime {}", c.runtime)))?;
    let p = Paths::new(d, &c.id, &c.runtime);
    let mut cmd = tokio::process::Command::new(&runtime);
    cmd.arg("--root").arg(&p.runtime_root).arg("exec");
    let as_user = e.req.user.as_deref().filter(|u| !u.is_empty());
    match as_user {
        // Another user: the whole process (its own supplementary groups, not init's added to
        // them, which is what the runtime's `-u`/`-g` flags would give, as runc's do).
        Some(u) => {
            let user = spec::resolve_user(&p.rootfs, u)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let file = write_process(&p, e, &user, console.is_some())?;
            cmd.arg("--process").arg(file);
        }
        None => {
            if let Some(cwd) = e.req.working_dir.as_deref().filter(|w| !w.is_empty()) {
                cmd.arg("--cwd").arg(cwd);
            }
            for kv in e.req.env.iter().flatten() {
                cmd.arg("-e").arg(kv);
            }
            if e.req.privileged.unwrap_or(false) {
                for cap in spec::capabilities(true, &[], &[]).unwrap_or_default() {
                    cmd.arg("-c").arg(cap);
                }
            }
        }
    }
    if let Some(sock) = console {
        cmd.arg("--tty").arg("--console-socket").arg(sock);
        if as_user.is_none() && !e.req.env.iter().flatten().any(|kv| kv.starts_with("TERM=")) {
            cmd.arg("-e").arg("TERM=xterm");
        }
    }
    cmd.arg(&c.id);
    if as_user.is_none() {
        cmd.arg("--").args(e.req.cmd.iter().flatten());
    }
    let stdin = e.req.attach_stdin.unwrap_or(false) && console.is_none();
    // A detached exec's output goes nowhere, as in Docker; pipes nobody reads would end it with
    // SIGPIPE at its first write (and would tie it to berthd).
    let out = |piped: bool| {
        if piped && !detached {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    cmd.stdin(if stdin && !detached {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(out(console.is_none()))
    .stderr(out(true))
    .kill_on_drop(false);
    cmd.spawn()
        .map_err(|err| ApiError::internal(format!("running {}: {err}", runtime.display())))
}

/// Where an exec's process JSON is kept while it runs.
pub fn process_file(p: &Paths, exec_id: &str) -> std::path::PathBuf {
    p.run_dir.join(format!("exec-{exec_id}.json"))
}

/// The OCI process of an exec run as `user`: the container's process (from its bundle) with the
/// exec's command, environment, working directory, terminal and capabilities.
fn write_process(
    p: &Paths,
    e: &Exec,
    user: &spec::User,
    terminal: bool,
) -> ApiResult<std::path::PathBuf> {
    let bundle = std::fs::read(p.dir.join("config.json")).map_err(ApiError::internal)?;
    let cfg: serde_json::Value = serde_json::from_slice(&bundle).map_err(ApiError::internal)?;
    let mut proc = cfg["process"].clone();
    if !proc.is_object() {
        return Err(ApiError::internal("the container's config has no process"));
    }
    proc["user"] = serde_json::json!({
        "uid": user.uid, "gid": user.gid, "additionalGids": user.additional,
    });
    proc["args"] = serde_json::json!(e.req.cmd.clone().unwrap_or_default());
    proc["terminal"] = serde_json::json!(terminal);
    let mut env: Vec<String> = serde_json::from_value(proc["env"].clone()).unwrap_or_default();
    let mut extra: Vec<String> = e.req.env.clone().unwrap_or_default();
    if terminal && !extra.iter().chain(&env).any(|kv| kv.starts_with("TERM=")) {
        extra.push("TERM=xterm".into());
    }
    for kv in extra {
        let key = kv
            .split_once('=')
            .map_or(kv.as_str(), |(k, _)| k)
            .to_string();
        env.retain(|old| old.split_once('=').map_or(old.as_str(), |(k, _)| k) != key);
        env.push(kv);
    }
    proc["env"] = serde_json::json!(env);
    if let Some(cwd) = e.req.working_dir.as_deref().filter(|w| !w.is_empty()) {
        proc["cwd"] = serde_json::json!(cwd);
    }
    if e.req.privileged.unwrap_or(false) {
        let all = spec::capabilities(true, &[], &[]).unwrap_or_default();
        proc["capabilities"] = serde_json::json!({
            "bounding": all, "effective": all, "permitted": all, "inheritable": all, "ambient": all,
        });
    }
    let path = process_file(p, &e.id);
    std::fs::write(
        &path,
        serde_json::to_vec(&proc).map_err(ApiError::internal)?,
    )
    .map_err(ApiError::internal)?;
    Ok(path)
}
