//! Log driver plugins (`--log-driver NAME` naming a plugin that implements `LogDriver`), as dockerd
//! runs them: the plugin is looked up at create; at each start berthd makes a FIFO, calls
//! `LogDriver.StartLogging` with its path and what the container is, and the shim writes every line
//! to it (`berth_logdriver::plugin`); when the container has exited, `LogDriver.StopLogging` with
//! the same path, and the FIFO goes.
//!
//! berthd holds the FIFO open for reading and writing from before `StartLogging` until the shim has
//! opened its end: the plugin's open for reading does not wait, and it never reads an end of file
//! between the two. The FIFO is `<exec-root>/logging/<random id>` for a legacy plugin; a managed
//! plugin is told `/run/docker/logging/<id>`, made inside its root filesystem, as dockerd does.
//!
//! What was started is recorded in the container's run directory (`logplugin.json`), so the exit
//! handled by a restarted berthd still stops it. `docker logs` reads the local copy berthd keeps
//! beside the plugin (unless `cache-disabled`), whatever the plugin's `ReadLogs` capability.

use super::model::Container;
use super::shim::Paths;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use berth_plugin::logdriver::{LogDriver, LogInfo};
use berth_plugin::PluginError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Where dockerd makes the FIFOs, as a managed plugin sees them.
const UNSCOPED: &str = "/run/docker/logging";

/// The record of a started plugin, in the run directory.
const RECORD: &str = "logplugin.json";

#[derive(Serialize, Deserialize)]
struct Record {
    plugin: String,
    /// The path the plugin was told.
    file: String,
    /// The FIFO on the host.
    fifo: PathBuf,
}

/// A plugin told to read a container's FIFO; berthd's descriptor on it is held until this is
/// dropped (once the shim has opened its end, or failed).
pub struct Session {
    /// The FIFO on the host, for the shim.
    pub fifo: PathBuf,
    _held: File,
}

async fn driver(d: &Daemon, name: &str) -> Result<LogDriver, PluginError> {
    let p = d.plugins.get(name, berth_plugin::LOG_DRIVER).await?;
    Ok(LogDriver::of(&p))
}

/// At create: whether plugin `name` is there (dockerd's words when not; 400 as dockerd's create).
pub async fn check(d: &Daemon, name: &str) -> ApiResult<()> {
    driver(d, name)
        .await
        .map(|_| ())
        .map_err(|e| ApiError::BadRequest(format!("error looking up logging plugin {name}: {e}")))
}

fn failed(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("failed to initialize logging driver: {e}"))
}

/// What dockerd tells a log driver of `c` (`logger.Info`).
fn info(c: &Container) -> LogInfo {
    let labels: BTreeMap<String, String> = c
        .config
        .get("Labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    LogInfo {
        config: c.spec.log.options.clone(),
        container_id: c.id.clone(),
        container_name: format!("/{}", c.name),
        container_entrypoint: c.path().to_string(),
        container_args: c.args().to_vec(),
        container_image_id: c.image_id.clone(),
        container_image_name: c
            .config
            .get("Image")
            .and_then(|i| i.as_str())
            .unwrap_or("")
            .to_string(),
        container_created: c.created.clone(),
        container_env: c.spec.env.clone(),
        container_labels: labels,
        log_path: String::new(),
        daemon_name: "docker".into(),
    }
}

/// Make the FIFO at `path` and open it for reading and writing.
fn make_fifo(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU)?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
}

/// At start, before the shim: start `c`'s plugin on a new FIFO (`None` for another driver). A
/// plugin that is gone or refuses fails the start with dockerd's words, nothing left behind.
pub async fn start(d: &Daemon, c: &Container, p: &Paths) -> ApiResult<Option<Session>> {
    let s = &c.spec.log;
    if !s.plugin {
        return Ok(None);
    }
    let name = s.driver.as_str();
    let plugin = d
        .plugins
        .get(name, berth_plugin::LOG_DRIVER)
        .await
        .map_err(|e| failed(format!("error looking up logging plugin {name}: {e}")))?;
    let ld = LogDriver::of(&plugin);
    // Asked as dockerd asks; berthd serves `docker logs` from its local copy either way.
    if let Err(e) = ld.capabilities().await {
        crate::log!(2, "log plugin {name}: capabilities: {e}");
    }
    let id = super::model::random_hex();
    let (fifo, file) = match &plugin.paths {
        Some(scope) => (
            PathBuf::from(scope.host_path(UNSCOPED)).join(&id),
            format!("{UNSCOPED}/{id}"),
        ),
        None => {
            let f = d.cfg.exec_root.join("logging").join(&id);
            let told = f.display().to_string();
            (f, told)
        }
    };
    let held = make_fifo(&fifo).map_err(|e| {
        failed(format!(
            "error creating i/o pipe for log plugin: {name}: {e}"
        ))
    })?;
    let record = Record {
        plugin: name.to_string(),
        file: file.clone(),
        fifo: fifo.clone(),
    };
    let written = serde_json::to_vec(&record)
        .map_err(std::io::Error::other)
        .and_then(|b| std::fs::write(p.run_dir.join(RECORD), b));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&fifo);
        return Err(failed(format!("recording the log plugin's FIFO: {e}")));
    }
    if let Err(e) = ld.start_logging(&file, &info(c)).await {
        let _ = std::fs::remove_file(p.run_dir.join(RECORD));
        let _ = std::fs::remove_file(&fifo);
        return Err(failed(format!("error creating logger: {e}")));
    }
    Ok(Some(Session { fifo, _held: held }))
}

/// Once the container has exited (or its start failed after [`start`]): `StopLogging` and the
/// FIFO removed. Nothing to do when no plugin was started; a plugin that cannot be reached is
/// logged, its FIFO removed all the same.
pub async fn stop(d: &Daemon, p: &Paths) {
    let path = p.run_dir.join(RECORD);
    let Ok(bytes) = std::fs::read(&path) else {
        return;
    };
    // Taken first: a second exit handling does not stop it again.
    let _ = std::fs::remove_file(&path);
    let Ok(r) = serde_json::from_slice::<Record>(&bytes) else {
        crate::log!(3, "unreadable log plugin record {}", path.display());
        return;
    };
    let stopped = match driver(d, &r.plugin).await {
        Ok(ld) => ld.stop_logging(&r.file).await,
        Err(e) => Err(e),
    };
    if let Err(e) = stopped {
        crate::log!(3, "log plugin {}: stopping {}: {e}", r.plugin, r.file);
    }
    if let Err(e) = std::fs::remove_file(&r.fifo) {
        if e.kind() != std::io::ErrorKind::NotFound {
            crate::log!(3, "removing {}: {e}", r.fifo.display());
        }
    }
}
