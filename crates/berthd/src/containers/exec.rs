//! `docker exec`: exec instances (created, then started once) and running them through the runtime's
//! `exec` in the foreground with piped stdio, relayed as Docker's multiplexed stream. An attached exec
//! loses its streams with berthd; a detached one (`exec -d`, no stdio) runs on through a restart.
//! Each record is kept beside the container's run files (`exec-<id>.state`), so `exec inspect`
//! answers after a restart; the runtime runs under `berthd __execwait`, which writes the exit code
//! to `exec-<id>.exit`, so an exec that ends while no berthd is there still gets its code.

use super::model::Container;
use super::shim::Paths;
use super::spec;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

/// `POST /containers/{id}/exec` body.
#[derive(Deserialize, Serialize, Debug, Default, Clone)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    #[serde(skip)]
    pub pty: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

/// The exec instances, each also kept on disk under `<exec-root>/containers/<container>/`.
pub struct Execs {
    map: Mutex<HashMap<String, Exec>>,
    exec_root: PathBuf,
}

/// Where a container's exec files go (its run directory, removed with the container).
fn run_dir(exec_root: &Path, container: &str) -> PathBuf {
    exec_root.join("containers").join(container)
}

/// The record of an exec.
fn state_file(exec_root: &Path, container: &str, id: &str) -> PathBuf {
    run_dir(exec_root, container).join(format!("exec-{id}.state"))
}

/// The exit code `berthd __execwait` leaves.
fn exit_file(exec_root: &Path, container: &str, id: &str) -> PathBuf {
    run_dir(exec_root, container).join(format!("exec-{id}.exit"))
}

impl Execs {
    /// Exec records kept under `exec_root`.
    pub fn new(exec_root: PathBuf) -> Execs {
        Execs {
            map: Mutex::default(),
            exec_root,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Exec>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write an exec's record (a new file renamed over the old, so a crash leaves one or the other).
    fn save(&self, e: &Exec) {
        let path = state_file(&self.exec_root, &e.container, &e.id);
        let tmp = path.with_extension("state.tmp");
        let res = serde_json::to_vec(e)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(err) = res {
            crate::log!(3, "saving exec {}: {err}", e.id);
        }
    }

    /// Change an exec and save it.
    fn update(&self, id: &str, f: impl FnOnce(&mut Exec)) -> Option<Exec> {
        let e = {
            let mut g = self.lock();
            let e = g.get_mut(id)?;
            f(e);
            e.clone()
        };
        self.save(&e);
        Some(e)
    }

    /// Load a container's exec records after a restart. Those that were running: the ones whose
    /// `__execwait` left an exit code are finished with it; the ids of those still running are
    /// returned (see [`Execs::settle`]).
    pub fn load(&self, container: &str) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(run_dir(&self.exec_root, container)) else {
            return Vec::new();
        };
        let mut running = Vec::new();
        for ent in rd.flatten() {
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if !(name.starts_with("exec-") && name.ends_with(".state")) {
                continue;
            }
            let Some(e) = std::fs::read(ent.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Exec>(&b).ok())
                .filter(|e| e.container == container)
            else {
                continue;
            };
            let id = e.id.clone();
            let was_running = e.running;
            self.lock().insert(id.clone(), e);
            if was_running {
                running.push(id);
            }
        }
        running
    }

    /// For a running exec found after a restart: `Some(code)` once it has ended (its exit code, or
    /// 255 when nothing recorded one: its `__execwait` was killed too), `None` while it runs.
    pub fn settle(&self, id: &str) -> Option<i32> {
        let e = self.get(id).ok()?;
        let exit = exit_file(&self.exec_root, &e.container, id);
        if let Some(code) = read_exit(&exit) {
            return Some(code);
        }
        if e.pid > 0 && waiter_alive(e.pid, id) {
            return None;
        }
        // It may have written its code just before it went.
        Some(read_exit(&exit).unwrap_or(255))
    }

    /// Register a new exec for a running container.
    pub fn create(&self, c: &Container, req: ExecRequest) -> ApiResult<String> {
        if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(ApiError::BadRequest("No exec command specified".into()));
        }
        let id = super::model::random_hex();
        let e = Exec {
            id: id.clone(),
            container: c.id.clone(),
            req,
            started: false,
            running: false,
            pid: 0,
            exit_code: None,
            pty: None,
        };
        self.lock().insert(id.clone(), e.clone());
        self.save(&e);
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
        let e = {
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
            e.clone()
        };
        self.save(&e);
        Ok(e)
    }

    /// Record the pid (of its `__execwait`).
    pub fn set_pid(&self, id: &str, pid: i32) {
        self.update(id, |e| e.pid = pid);
    }

    /// Record the end.
    pub fn finish(&self, id: &str, code: i32) {
        if let Some(e) = self.update(id, |e| {
            e.running = false;
            e.exit_code = Some(code);
            e.pty = None;
        }) {
            let _ = std::fs::remove_file(exit_file(&self.exec_root, &e.container, id));
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
    // The runtime runs under `berthd __execwait`, which records its exit code on disk.
    let me = std::env::current_exe()
        .map_err(|err| ApiError::internal(format!("locating berthd: {err}")))?;
    let mut cmd = tokio::process::Command::new(me);
    cmd.arg("__execwait")
        .arg(exit_file(&d.cfg.exec_root, &c.id, &e.id))
        .arg(&runtime);
    cmd.arg("--root").arg(&p.runtime_root).arg("exec");
    let as_user = e.req.user.as_deref().filter(|u| !u.is_empty());
    match as_user {
        // Another user: the whole process (its own supplementary groups, not init's added to
        // them, which is what the runtime's `-u`/`-g` flags would give, as runc's do).
        Some(u) => {
            let user = spec::resolve_user(&p.rootfs, u)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let home_set = c.spec.env.iter().any(|kv| kv.starts_with("HOME="));
            let file = write_process(&p, e, &user, console.is_some(), home_set)?;
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
        // The command right after the id, no `--`: runc (Go's flag parsing stops at the id) would
        // take a `--` there for the command.
        cmd.args(e.req.cmd.iter().flatten());
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
/// exec's command, environment, working directory, terminal and capabilities; HOME the user's
/// unless the container's config sets it (`home_set`).
fn write_process(
    p: &Paths,
    e: &Exec,
    user: &spec::User,
    terminal: bool,
    home_set: bool,
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
    // HOME is the exec user's, unless the container's config sets it (as runc does for dockerd).
    if !home_set {
        extra.insert(0, format!("HOME={}", user.home));
    }
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

/// Record an exec's end (its process file goes) and publish `exec_die`.
pub fn finished(d: &Daemon, id: &str, code: i32) {
    d.execs.finish(id, code);
    if let Some(c) = d
        .execs
        .get(id)
        .ok()
        .and_then(|e| d.containers.get(&e.container).ok())
    {
        let p = Paths::new(d, &c.id, &c.runtime);
        let _ = std::fs::remove_file(process_file(&p, id));
        d.events.container(
            &c,
            "exec_die",
            &[("execID", id.to_string()), ("exitCode", code.to_string())],
        );
    }
}

/// After a restart: load a container's exec records and follow those that were running until
/// they end (their `__execwait` is not berthd's child any more, so it is polled).
pub fn restore(d: &std::sync::Arc<Daemon>, container: &str) {
    let running = d.execs.load(container);
    if running.is_empty() {
        return;
    }
    let d = d.clone();
    tokio::spawn(async move {
        let mut left = running;
        while !left.is_empty() {
            left.retain(|id| match d.execs.settle(id) {
                Some(code) => {
                    finished(&d, id, code);
                    false
                }
                None => true,
            });
            if !left.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    });
}

/// The exit code an `__execwait` wrote, if it did.
fn read_exit(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` is still the `__execwait` of exec `id` (and not a reused pid).
fn waiter_alive(pid: i32, id: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let s = String::from_utf8_lossy(&c);
            s.contains("__execwait") && s.contains(id)
        })
        .unwrap_or(false)
}

/// `berthd __execwait EXIT-FILE PROGRAM ARGS...`: run PROGRAM with this process's stdio, write its
/// exit code (128 + signal when a signal ended it) to EXIT-FILE, and exit with that code. It outlives
/// a berthd that is killed, so an exec's code is not lost with it.
pub fn waiter_main(args: &[String]) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let [exit, prog, rest @ ..] = args else {
        eprintln!("usage: berthd __execwait EXIT-FILE PROGRAM [ARGS...]");
        return 125;
    };
    let status = match std::process::Command::new(prog).args(rest).status() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("exec failed: running {prog}: {err}");
            return 126;
        }
    };
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255);
    let exit = Path::new(exit);
    let tmp = exit.with_extension("exit.tmp");
    if std::fs::write(&tmp, code.to_string())
        .and_then(|()| std::fs::rename(&tmp, exit))
        .is_err()
    {
        let _ = std::fs::remove_file(&tmp);
    }
    code
}
