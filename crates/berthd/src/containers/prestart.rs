//! A `--rm` container's bundle (its rootfs mount, /etc files and config.json) made right after its
//! create is answered, while the client sends its attach, wait and start requests (`docker run`
//! sends them one after the other, ~1.5 ms here): `start` then finds it made, instead of making it
//! on its own path.
//!
//! Only for the simple case: no volumes (their mounts are counted), no bind source to create on the
//! host, no user namespace remapping (a second mount of the root), no namespace of another container
//! (its pid can change), no learning profile, no network to set up between create and start. The
//! bundle is made under the container's operation lock, from the same view of the container `start`
//! takes ([`super::lifecycle::start_view`]); `start` uses it only if that view is unchanged (a
//! rename, an update, a link's address all change it), the rootfs is still mounted (`cp` and
//! `export` mount and unmount it themselves) and it is recent (the host's resolv.conf may change);
//! else it makes the bundle again as before. One not started within [`KEEP`] is unmounted; a
//! removal unmounts it as any rootfs, and after a berthd restart recovery does (created containers).
//! Its config.json names the network namespace berthd made for it (the spare, see
//! [`super::lifecycle::fresh_netns`]), held with the bundle: the start hands it to the runtime, and
//! a bundle that is not used (changed, stale, removed, or its keeping time over) drops it.

use super::lifecycle::{fresh_netns, prepare_bundle, start_view, starts_at_once};
use super::model::{Container, Status};
use super::shim::Paths;
use super::spares::NETNS as SPARE_NETNS;
use crate::daemon::Daemon;
use berth_image::snapshot::OverlaySnapshotter;
use berth_net::netns::Netns;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How old a bundle made ahead may be when `start` comes.
const FRESH: Duration = Duration::from_secs(2);

/// How long a bundle made ahead stays mounted for a start that does not come.
const KEEP: Duration = Duration::from_secs(10);

/// [`KEEP`], or `BERTHD_PRESTART_KEEP_MS` from berthd's environment (for the tests).
fn keep() -> Duration {
    std::env::var("BERTHD_PRESTART_KEEP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(KEEP, Duration::from_millis)
}

/// A container's bundle made ahead of its start.
#[derive(Debug)]
pub enum Prestage {
    /// Asked for at create, being made.
    Wanted,
    /// Made from this view of the container (its JSON) at this moment.
    Made {
        /// [`start_view`] of the container, serialized.
        view: String,
        /// When it was made.
        at: Instant,
        /// The network namespace its config.json names (a `--network none` container's, see
        /// [`fresh_netns`]): held until the runtime has joined it, or dropped with the bundle.
        netns: Option<Netns>,
    },
}

fn eligible(d: &Daemon, c: &Container) -> bool {
    let s = &c.spec;
    let m = &s.modes;
    s.auto_remove
        && c.state.status == Status::Created
        && starts_at_once(d, c)
        && s.network_mode != "host"
        && m.net_container.is_none()
        && m.pid_container.is_none()
        && m.ipc_container.is_none()
        && super::modes::remap(d, c).is_none()
        && !c.labels().contains_key(crate::profiles::LEARN_LABEL)
        && s.binds
            .iter()
            .all(|b| b.volume.is_none() && std::path::Path::new(&b.source).exists())
}

fn key(view: &Container) -> String {
    serde_json::to_string(view).expect("record serializes")
}

/// The rootfs is a mount of its own (`cp` or `export` of the created container unmounted it).
fn mounted(p: &Paths) -> bool {
    match (std::fs::metadata(&p.rootfs), std::fs::metadata(&p.dir)) {
        (Ok(r), Ok(d)) => r.dev() != d.dev(),
        _ => false,
    }
}

/// Whether bundles are made ahead: `BERTHD_PRESTART=off` in berthd's environment turns it off (for
/// the A/B rounds of `bench/run-ab.sh` with one binary).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("BERTHD_PRESTART").as_deref() != Ok("off"))
}

/// Right after a create: make the bundle of an eligible container in the background.
pub fn begin(d: &Arc<Daemon>, id: &str) {
    if !enabled() {
        return;
    }
    let Ok(c) = d.containers.get(id) else {
        return;
    };
    if !eligible(d, &c) {
        return;
    }
    // Taken here, before the create is answered (no one else knows the id yet), so the start
    // that follows waits for the bundle instead of racing to make its own (on a busy host the
    // task below may wait milliseconds for a CPU).
    let Ok(lock) = d.containers.op_lock(id) else {
        return;
    };
    let Ok(guard) = lock.clone().try_lock_owned() else {
        return;
    };
    if !d.containers.set_prestage(id, Some(Prestage::Wanted)) {
        return;
    }
    let (d, id) = (d.clone(), id.to_string());
    tokio::spawn(async move {
        let at = {
            let _g = guard;
            if !matches!(d.containers.take_prestage(&id), Some(Prestage::Wanted)) {
                return;
            }
            let Ok(c) = d.containers.get(&id) else {
                return;
            };
            if !eligible(&d, &c) {
                return;
            }
            let Ok(view) = start_view(&d, &c) else {
                // `start` reports it.
                return;
            };
            let k = key(&view);
            let (d2, p) = (d.clone(), Paths::new(&d, &id, &c.runtime));
            let wants_netns = fresh_netns(&d, &c);
            let made = tokio::task::spawn_blocking(move || {
                // The spare made after the last start (or one made now); the next is made
                // after this container's start, off the client's path.
                let netns = match wants_netns.then(|| SPARE_NETNS.take()).transpose() {
                    Ok(n) => n,
                    // `start` makes the bundle and reports it.
                    Err(_) => return None,
                };
                let r = prepare_bundle(&d2, &view, &p, netns.as_ref().map(Netns::path));
                if r.is_err() {
                    let _ = OverlaySnapshotter::unmount(&p.rootfs);
                    return None;
                }
                Some(netns)
            })
            .await;
            let Ok(Some(netns)) = made else {
                return;
            };
            crate::crash::point("prestart:made");
            let at = Instant::now();
            crate::log!(0, "bundle of {id} made ahead of its start");
            d.containers
                .set_prestage(&id, Some(Prestage::Made { view: k, at, netns }));
            at
        };
        tokio::time::sleep(keep()).await;
        let _g = lock.lock().await;
        match d.containers.take_prestage(&id) {
            Some(Prestage::Made { at: made, .. }) if made == at => {}
            other => {
                // Not ours (cannot happen: only this task makes one): leave it.
                if let Some(o) = other {
                    d.containers.set_prestage(&id, Some(o));
                }
                return;
            }
        }
        if let Ok(c) = d.containers.get(&id) {
            if c.state.status == Status::Created {
                let p = Paths::new(&d, &id, &c.runtime);
                let _ = tokio::task::spawn_blocking(move || OverlaySnapshotter::unmount(&p.rootfs))
                    .await;
            }
        }
    });
}

/// In `start`, with the operation lock held: whether `staged` (taken from the registry) is the
/// bundle `start` would make for `view` now; if so, `Some` with the network namespace its
/// config.json names (else that namespace is dropped here).
pub(super) fn matches(
    staged: Option<Prestage>,
    view: &Container,
    p: &Paths,
) -> Option<Option<Netns>> {
    let Some(Prestage::Made { view: k, at, netns }) = staged else {
        return None;
    };
    (at.elapsed() < FRESH && mounted(p) && k == key(view)).then_some(netns)
}
