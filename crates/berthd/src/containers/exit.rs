//! A container's exit: the waiter on its shim, recording the exit (network, rootfs, volumes, the
//! record, the `die` event, a `--rm` container's removal) and the restart policies.

use super::lifecycle::{disconnect_network, persist, release_volumes, start_locked};
use super::model::{Container, Status};
use super::shim::{self, Paths};
use crate::daemon::Daemon;
use crate::time;
use berth_image::snapshot::OverlaySnapshotter;
use std::sync::Arc;
use std::time::Duration;

/// Watch the shim until the container exits, then record it; `asked`: a connection that asked the
/// shim for the exit already (`shim::ask_wait`).
pub(super) fn spawn_waiter(d: Arc<Daemon>, id: String, asked: Option<tokio::net::UnixStream>) {
    tokio::spawn(async move {
        let c = match d.containers.get(&id) {
            Ok(c) => c,
            Err(_) => return,
        };
        let p = Paths::new(&d, &id, &c.runtime);
        let exit = match asked {
            Some(s) => shim::exit_of(s).await,
            None => shim::wait_exit(&p.socket).await,
        };
        let Some(exit) = exit else {
            on_exit(&d, &id, None).await;
            return;
        };
        // The shim deletes the runtime's state after it told us: the exit is handled (and a
        // `--rm` container removed) meanwhile, and what needs the id free again waits for it.
        d.containers.set_shim_busy(&id, true);
        let code = exit.code;
        let (d2, id2) = (d.clone(), id.clone());
        tokio::spawn(async move {
            if !exit.cleaned().await && p.runtime_root.join(&id2).exists() {
                let _ = shim::runtime_cmd(&d2, &c.runtime, &p, &["delete", "--force", &id2]).await;
            }
            d2.containers.set_shim_busy(&id2, false);
        });
        on_exit(&d, &id, Some(code)).await;
    });
}

pub(super) async fn on_exit(d: &Arc<Daemon>, id: &str, code: Option<i32>) {
    let clock = std::time::Instant::now();
    let Ok(c) = d.containers.get(id) else { return };
    let p = Paths::new(d, id, &c.runtime);
    let shim_answered = code.is_some();
    let (code, finished, err) = match shim::read_exit_file(&p) {
        Some((code, at)) => (code, at, String::new()),
        None => (
            code.unwrap_or(255),
            time::now_rfc3339_nano(),
            if code.is_none() {
                "the shim exited without recording the container's exit".to_string()
            } else {
                String::new()
            },
        ),
    };
    if !shim_answered && p.runtime_root.join(id).exists() {
        // The shim died before deleting the runtime's state (it was killed).
        let _ = shim::runtime_cmd(d, &c.runtime, &p, &["delete", "--force", id]).await;
    }
    // First, so the deletion of its veths (off this path, see `disconnect_all`) runs while the
    // rest is undone.
    disconnect_network(d, id).await;
    // A `--rm` container's removal, next, unmounts its rootfs in the same blocking call as the
    // rest of its files: one hand-over to a blocking thread fewer before `wait` is answered.
    if !c.spec.auto_remove {
        let rootfs = p.rootfs.clone();
        let _ = tokio::task::spawn_blocking(move || OverlaySnapshotter::unmount(&rootfs)).await;
    }
    release_volumes(d, &c, &p, true).await;
    // Only volumes are mounted by plugins (a query of the store fewer without any).
    if c.spec.binds.iter().any(|b| b.volume.is_some()) {
        crate::plugin_volumes::release(d, id).await;
    }
    // The shim wrote every line before it reported the exit: the plugin can stop.
    if c.spec.log.plugin {
        super::logplugin::stop(d, &p).await;
    }
    let Ok(c) = d.containers.modify(id, |c| {
        c.state.status = Status::Exited;
        c.state.paused = false;
        c.state.pid = 0;
        c.state.exit_code = code;
        c.state.finished_at = finished.clone();
        c.state.error = err.clone();
        // Restarting from the moment it exits, so no one sees it idle (and removes it) meanwhile.
        c.state.restarting = !c.spec.auto_remove && should_restart(c);
    }) else {
        return;
    };
    // A `--rm` container's next write is its removal (`Removing`, then the delete): one synced
    // write fewer on `run --rm`'s path. If berthd dies before that, the record still says running,
    // and recovery finds the exit file and removes the container, as it removes every auto-remove
    // container that is not running.
    if !c.spec.auto_remove {
        if let Err(e) = persist(d, &c) {
            crate::log!(3, "recording exit of {id}: {e}");
        }
    }
    d.containers
        .flush_followers(id, Duration::from_millis(250))
        .await;
    d.containers.notify_exit(id, code);
    let mut attrs = crate::events::container_attrs(&c);
    attrs.insert("exitCode".into(), code.to_string());
    d.events.emit("container", "die", id, attrs);
    crate::log!(
        0,
        "container {id} exited with {code} (recorded in {} us)",
        clock.elapsed().as_micros()
    );
    if c.spec.auto_remove {
        crate::crash::point("exit:autoremove");
        if let Err(e) = super::removal::remove_with(d, id, true, true, false).await {
            crate::log!(3, "auto-removing {id}: {e}");
        }
    } else if c.state.restarting {
        schedule_restart(d.clone(), c);
    }
}

/// Whether the restart policy brings an exited container back.
pub(super) fn should_restart(c: &Container) -> bool {
    let s = &c.spec;
    match s.restart_policy.as_str() {
        "always" | "unless-stopped" => !c.state.stopped_by_user,
        "on-failure" => {
            !c.state.stopped_by_user
                && c.state.exit_code != 0
                && (s.restart_max == 0 || i64::from(c.restart_count) < s.restart_max)
        }
        _ => false,
    }
}

/// Start it again after a back-off (100 ms doubling per restart, at most 10 s; 100 ms again once it
/// had run for 10 s), unless it was stopped, removed or started meanwhile.
pub(super) fn schedule_restart(d: Arc<Daemon>, c: Container) {
    let ran = match (
        time::parse_rfc3339(&c.state.started_at),
        time::parse_rfc3339(&c.state.finished_at),
    ) {
        (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    let delay = if ran >= Duration::from_secs(10) {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(100 * (1u64 << c.restart_count.min(7))).min(Duration::from_secs(10))
    };
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        // Under the operation lock, so a stop or an update that comes first cancels it.
        let Ok(lock) = d.containers.op_lock(&c.id) else {
            return;
        };
        let _g = lock.lock().await;
        let Ok(now) = d.containers.get(&c.id) else {
            return;
        };
        if !now.is_restarting() {
            return;
        }
        if !should_restart(&now) {
            // Its policy changed meanwhile: it stays exited.
            if let Ok(c) = d.containers.modify(&c.id, |c| c.state.restarting = false) {
                let _ = persist(&d, &c);
            }
            return;
        }
        if let Ok(c) = d.containers.modify(&c.id, |c| c.restart_count += 1) {
            let _ = persist(&d, &c);
        }
        if let Err(e) = start_locked(&d, &c.id).await {
            crate::log!(2, "restarting {}: {e}", c.id);
            if let Ok(c) = d.containers.modify(&c.id, |c| c.state.restarting = false) {
                let _ = persist(&d, &c);
            }
        }
    });
}

/// Record that the user stopped it (the restart policy leaves it alone until the next start; a
/// pending restart is cancelled).
pub(super) fn mark_stopped_by_user(d: &Daemon, id: &str) {
    if let Ok(c) = d.containers.modify(id, |c| {
        c.state.stopped_by_user = true;
        c.state.restarting = false;
    }) {
        let _ = persist(d, &c);
    }
}
