//! Bringing every container back to a state the user can act on after berthd died, even by `kill -9`
//! half-way through an operation: running (its shim kept it alive; a start cut off after the record
//! said running is finished), created or exited and startable (whatever an interrupted start left,
//! a parked init, its shim, the runtime's state, the rootfs mount, a veth or an address, is taken
//! down), or gone (an interrupted removal is finished; auto-remove containers that are not running
//! are removed, as dockerd does). Shim sockets nobody answers on are removed.

use super::lifecycle;
use super::model::{Container, Status};
use super::shim::{self, Paths};
use crate::daemon::Daemon;
use berth_image::snapshot::OverlaySnapshotter;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a leftover shim gets to record its container's exit after the SIGKILL.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(5);

fn shim_answers(p: &Paths) -> bool {
    std::os::unix::net::UnixStream::connect(&p.socket).is_ok()
}

fn runtime_state(p: &Paths, id: &str) -> bool {
    p.runtime_root.join(id).exists()
}

/// Take down everything of a container's process side (for a container that must have none: not
/// running): kill the init (its shim reaps it, records the exit and exits), delete the runtime's
/// state, remove the socket, unmount the rootfs, and take it off the bridge (also an address or a
/// veth the record never heard of).
pub async fn teardown(d: &Arc<Daemon>, c: &Container) {
    let p = Paths::new(d, &c.id, &c.runtime);
    // A shim that reported the exit may still be deleting the runtime's state.
    d.containers.shim_gone(&c.id).await;
    if runtime_state(&p, &c.id) || shim_answers(&p) {
        crate::log!(
            2,
            "taking down what an interrupted operation left of {}",
            c.id
        );
        let t = Instant::now();
        loop {
            // Until the shim is gone: one still inside `<runtime> create` parks an init later.
            let _ = shim::runtime_cmd(d, &c.runtime, &p, &["kill", &c.id, "KILL"]).await;
            // Until the shim also deleted the runtime's state (or gave up), so the two deletes
            // do not race.
            let waited = tokio::time::timeout(Duration::from_millis(500), async {
                if let Some(exit) = shim::wait_exit(&p.socket).await {
                    exit.cleaned().await;
                }
            })
            .await;
            if waited.is_ok() || t.elapsed() > TEARDOWN_LIMIT {
                break;
            }
        }
        if let Err(e) = shim::runtime_cmd(d, &c.runtime, &p, &["delete", "--force", &c.id]).await {
            if runtime_state(&p, &c.id) {
                crate::log!(3, "deleting the runtime state of {}: {e}", c.id);
            }
        }
    }
    let _ = std::fs::remove_file(&p.socket);
    let rootfs = p.rootfs.clone();
    let _ = tokio::task::spawn_blocking(move || OverlaySnapshotter::unmount(&rootfs)).await;
    lifecycle::release_volumes(d, c, &p, false).await;
    // Plugin mounts a cut-off start or exit left (none for a container that never mounted one).
    crate::plugin_volumes::release(d, &c.id).await;
    // A log plugin a cut-off start or exit left started.
    super::logplugin::stop(d, &p).await;
    if c.state.network.is_some() {
        lifecycle::disconnect_network(d, &c.id).await;
    } else if let (Some(net), "default") = (d.bridge.clone(), c.spec.network_mode.as_str()) {
        // Cut off between the attach and recording it: the veth and address carry its id.
        let id = c.id.clone();
        let _ = tokio::task::spawn_blocking(move || {
            net.detach(&id, std::net::Ipv4Addr::UNSPECIFIED, &[])
        })
        .await;
    }
}

/// A start cut off after the record said running but before `<runtime> start`: its init is parked.
async fn finish_start(d: &Arc<Daemon>, c: &Container, p: &Paths) {
    let Some(bin) = d.runtime_path(&c.runtime) else {
        return;
    };
    let out = tokio::process::Command::new(bin)
        .arg("--root")
        .arg(&p.runtime_root)
        .args(["state", &c.id])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await;
    let created = out
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .is_some_and(|v| v["status"] == "created");
    if created {
        crate::log!(2, "finishing the interrupted start of {}", c.id);
        if let Err(e) = shim::runtime_cmd(d, &c.runtime, p, &["start", &c.id]).await {
            crate::log!(3, "starting {}: {e}", c.id);
            let _ = shim::runtime_cmd(d, &c.runtime, p, &["kill", &c.id, "KILL"]).await;
        }
    }
}

/// After a restart: load every record and bring each to a state the user can act on.
pub async fn restore(d: &Arc<Daemon>, records: Vec<Container>) {
    let ids: std::collections::HashSet<String> = records.iter().map(|c| c.id.clone()).collect();
    let d2 = d.clone();
    let _ = tokio::task::spawn_blocking(move || sweep_orphans(&d2, &ids)).await;
    let mut remove = Vec::new();
    for c in records {
        let id = c.id.clone();
        d.containers.insert(c.clone());
        super::exec::restore(d, &id);
        let p = Paths::new(d, &id, &c.runtime);
        match c.state.status {
            Status::Running => {
                if shim::read_exit_file(&p).is_some() {
                    // It exited while no daemon watched: record that before the API answers, so
                    // no client sees it running.
                    super::exit::on_exit(d, &id, None).await;
                    continue;
                }
                if runtime_state(&p, &id) {
                    finish_start(d, &c, &p).await;
                }
                // The relays of its published ports died with the old daemon.
                if let (Some(att), Some(net)) = (c.state.network.clone(), d.bridge.clone()) {
                    let id2 = id.clone();
                    let res = tokio::task::spawn_blocking(move || {
                        net.restore(&id2, att.endpoint.address, &att.ports)
                    })
                    .await;
                    if let Ok(Err(e)) = res {
                        crate::log!(3, "restoring the published ports of {id}: {e}");
                    }
                }
                super::netconn::restore(d, &c).await;
                super::health::start_monitor(d, &c, false);
                super::exit::spawn_waiter(d.clone(), id, None);
                continue;
            }
            Status::Removing | Status::Dead => {
                teardown(d, &c).await;
                remove.push(id);
                continue;
            }
            Status::Created | Status::Exited => teardown(d, &c).await,
        }
        let c = d.containers.get(&id).unwrap_or(c);
        if c.spec.auto_remove {
            remove.push(id);
        } else if c.is_restarting()
            || (c.state.status == Status::Exited
                && matches!(c.spec.restart_policy.as_str(), "always" | "unless-stopped")
                && super::exit::should_restart(&c))
        {
            super::exit::schedule_restart(d.clone(), c);
        }
    }
    for id in remove {
        if let Err(e) = lifecycle::remove(d, &id, true, true).await {
            crate::log!(3, "finishing the removal of {id}: {e}");
        }
    }
    sweep_sockets(d);
}

/// Remove what a container without a record left: its snapshot and its directories. A create cut
/// off before its insert leaves them, and so does a host crash that lost an auto-remove container's
/// unsynced insert (see `create`). Runs before the API answers, so no create is under way.
fn sweep_orphans(d: &Daemon, ids: &std::collections::HashSet<String>) {
    let orphan = |name: &str| !name.starts_with('.') && !ids.contains(name);
    match d.snap.active_keys() {
        Ok(keys) => {
            for k in keys.iter().filter(|k| orphan(k)) {
                crate::log!(2, "removing the snapshot of unknown container {k}");
                if let Err(e) = berth_image::snapshot::Snapshotter::remove(&d.snap, k) {
                    crate::log!(3, "removing snapshot {k}: {e}");
                }
            }
        }
        Err(e) => crate::log!(3, "listing the snapshots: {e}"),
    }
    for root in [&d.cfg.data_root, &d.cfg.exec_root] {
        let parent = root.join("containers");
        let Ok(rd) = std::fs::read_dir(&parent) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !orphan(&name) || !e.path().is_dir() {
                continue;
            }
            crate::log!(2, "removing the directory of unknown container {name}");
            let _ = OverlaySnapshotter::unmount(&e.path().join("rootfs"));
            if !super::trash::discard(&e.path()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Remove the shim sockets no shim answers on (a shim killed, or one from before this fix).
fn sweep_sockets(d: &Daemon) {
    let Ok(rd) = std::fs::read_dir(d.cfg.exec_root.join("s")) else {
        return;
    };
    for e in rd.flatten() {
        let path = e.path();
        // A tty shim's `<socket>.console` goes with its socket (connecting to it would hand a
        // shim inside `create` a bogus terminal).
        let main = path.with_extension("");
        if std::os::unix::net::UnixStream::connect(&main).is_err() {
            let _ = std::fs::remove_file(&path);
        }
    }
}
