//! Removing a container: `DELETE /containers/{id}` and a `--rm` container's removal after its exit.
//! `Removing` is recorded before anything is deleted (the next start finishes an interrupted
//! removal); the directories are moved aside and deleted off the request's path.

use super::exit::mark_stopped_by_user;
use super::lifecycle::{kill_event, persist, thaw, wait_for_exit};
use super::model::Status;
use super::shim::{self, Paths};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use berth_image::snapshot::{OverlaySnapshotter, Snapshotter};
use std::sync::Arc;
use std::time::Duration;

/// `DELETE /containers/{id}`: [`remove`], returning once the container's veths are gone too. Its
/// exit left them to berth-net's reaper (the kernel is busy with the dead namespace then); an
/// explicit removal waits for them, the auto-removal `run --rm` waits on does not.
pub async fn remove_settled(
    d: &Arc<Daemon>,
    key: &str,
    force: bool,
    volumes: bool,
) -> ApiResult<()> {
    let id = d.containers.get(key)?.id;
    remove(d, key, force, volumes).await?;
    let d2 = d.clone();
    let settled = tokio::task::spawn_blocking(move || d2.networks.settle_exited(&id)).await;
    if let Ok(Err(e)) = settled {
        crate::log!(3, "removing the interfaces of {key}: {e}");
    }
    Ok(())
}

/// Run short blocking file work (an unmount, a few renames) on this thread instead of handing it
/// to a blocking thread: on a busy host a hand-over waits for that thread to get a CPU (0.5 to
/// several ms measured here), and a `--rm` removal is on the path of `run`'s answer. On the
/// multi-threaded runtime the worker's other tasks move to another thread meanwhile.
pub(crate) fn blocking_here<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Remove a container (also the clean-up of `--rm`, recovery and the builder).
pub async fn remove(d: &Arc<Daemon>, key: &str, force: bool, volumes: bool) -> ApiResult<()> {
    remove_with(d, key, force, volumes, true).await
}

/// [`remove`]; `teardown`: take down what an interrupted operation may have left of the process
/// side first (not after [`super::lifecycle::on_exit`], which did).
pub(super) async fn remove_with(
    d: &Arc<Daemon>,
    key: &str,
    force: bool,
    volumes: bool,
    teardown: bool,
) -> ApiResult<()> {
    let clock = std::time::Instant::now();
    let lock = d.containers.op_lock(key)?;
    let _g = lock.lock().await;
    let c = d.containers.get(key)?;
    if c.is_active() && !force {
        let procedure = if c.state.paused {
            "Unpause and then stop the container before attempting removal or force remove"
        } else {
            "Stop the container before attempting removal or force remove"
        };
        return Err(ApiError::Conflict(format!(
            "You cannot remove a {} container {}. {procedure}",
            c.status_str(),
            c.id
        )));
    }
    if c.is_restarting() {
        mark_stopped_by_user(d, &c.id);
    }
    if c.state.status == Status::Running {
        let Ok(mut rx) = d.containers.subscribe(&c.id)? else {
            return Ok(());
        };
        let exits = rx.borrow().exits;
        mark_stopped_by_user(d, &c.id);
        thaw(d, &c).await;
        let p = Paths::new(d, &c.id, &c.runtime);
        let _ = shim::runtime_cmd(d, &c.runtime, &p, &["kill", &c.id, "KILL"]).await;
        kill_event(d, &c, "KILL");
        crate::crash::point("rm:killed");
        if !wait_for_exit(&mut rx, exits, Duration::from_secs(30)).await {
            return Err(ApiError::internal(format!(
                "could not kill running container {}, cannot remove",
                c.id
            )));
        }
        // The watch says "not running" as soon as the exit handler updates the record, before it
        // writes it: let it finish (it is immediate), or its write of `exited` could land after
        // ours of `Removing`, and an interrupted removal would come back as an exited container.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            rx.wait_for(|e| e.exits > exits || e.removed),
        )
        .await;
    }
    let c = d.containers.get(&c.id)?;
    if teardown && c.state.status != Status::Running {
        // Whatever an interrupted start left (a parked init holding the rootfs, its shim).
        super::recover::teardown(d, &c).await;
    }
    // From here on it goes, even if berthd dies half-way: the next start finishes the removal.
    let c = d
        .containers
        .modify(&c.id, |c| c.state.status = Status::Removing)?;
    // An auto-remove container writes no `Removing` (one write to the store fewer on `run --rm`'s
    // path): if berthd dies before its record is deleted, recovery removes it whatever its record
    // says (created, running, exited), as it removes every auto-remove container that does not
    // run; after the record's delete, the next start removes what has no record
    // (`recover::sweep_orphans`).
    if !c.spec.auto_remove {
        persist(d, &c)?;
    }
    let p = Paths::new(d, &c.id, &c.runtime);
    let (d2, id) = (d.clone(), c.id.clone());
    blocking_here(move || -> ApiResult<()> {
        let _ = OverlaySnapshotter::unmount(&p.rootfs);
        match d2.snap.remove(&id) {
            Ok(()) | Err(berth_image::snapshot::SnapshotError::NotFound(_)) => {}
            Err(e) => return Err(ApiError::internal(e)),
        }
        for dir in [&p.dir, &p.run_dir] {
            // Moved aside at once and deleted off the request's path.
            if super::trash::discard(dir) {
                continue;
            }
            // A late writer (the runtime's log) can race one pass; a second pass finishes.
            let first = std::fs::remove_dir_all(dir);
            let res = match first {
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                    std::fs::remove_dir_all(dir)
                }
                other => other,
            };
            match res {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ApiError::internal(format!("{}: {e}", dir.display()))),
            }
        }
        Ok(())
    })?;
    crate::crash::point("rm:files");
    // `Removing` (or, for an auto-remove container, the recovery of those) covers a crash until
    // here and a host crash that loses this delete: recovery finishes the removal. The record
    // and the in-memory entry go together, under the registry's lock: once the store lets a
    // new container take the name, the name leads to it alone (`wait ... removed` is answered
    // here, after the unmount and the snapshot's removal: `docker rmi` of the image right after
    // `run --rm` finds it unused).
    d.containers
        .remove_after(&c.id, || {
            d.db.delete_with(&c.id, crate::store::Durability::Unsynced)
        })
        .map_err(ApiError::internal)?;
    d.execs.forget_container(&c.id);
    d.events.emit(
        "container",
        "destroy",
        &c.id,
        crate::events::container_attrs(&c),
    );
    if volumes {
        for b in c.spec.binds.iter().filter(|b| b.anonymous) {
            if let Some(v) = &b.volume {
                if let Err(e) = crate::plugin_volumes::remove(d, v, true).await {
                    crate::log!(2, "removing volume {v} of {}: {e}", c.id);
                }
            }
        }
    }
    crate::log!(
        0,
        "removed container {} (in {} us)",
        c.id,
        clock.elapsed().as_micros()
    );
    if c.spec.auto_remove {
        // Its start left the next start's standby shim and namespace for now; made a few
        // milliseconds later still, once the `wait` answered above has reached the client and
        // the client has exited (making a process and a namespace, 1-3 ms of CPU, competed
        // with both on a 2-core host).
        let d = d.clone();
        tokio::spawn(async move {
            tokio::time::sleep(REFILL_AFTER_REMOVAL).await;
            super::spares::refill_all(&d);
        });
    }
    Ok(())
}

/// How long after an auto-remove container's removal the next standby shim and spare namespace
/// are made.
const REFILL_AFTER_REMOVAL: std::time::Duration = std::time::Duration::from_millis(5);
