//! The live view of containers: records by id, lookup by id, name or unique id prefix, a watch channel
//! per container for `wait`, per-container operation locks, and attach requests waiting for `start`.
//! Records are persisted by the callers through [`crate::store::StateStore`].

use super::model::{Container, Status};
use crate::error::{ApiError, ApiResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// What `wait` watches.
#[derive(Clone, Copy, Debug, Default)]
pub struct Events {
    /// How many times it exited (since berthd started).
    pub exits: u64,
    /// Exit code of the last exit.
    pub exit_code: i32,
    /// Whether it is running.
    pub running: bool,
    /// Removed.
    pub removed: bool,
    /// Its shim reported the exit and is still deleting the runtime's state (the id is not free
    /// for the runtime yet).
    pub shim_busy: bool,
}

/// An attach made before `start`: `start` connects it to the shim and hands over the stream.
pub struct PendingAttach {
    /// `attach <stdin> <stdout> <stderr>` flags.
    pub flags: (bool, bool, bool),
    /// Where the connected shim stream goes.
    pub tx: oneshot::Sender<tokio::net::UnixStream>,
}

/// What a log follower gets when its container exits: dropped once it has passed on every line
/// (see [`Registry::flush_followers`]).
pub type FollowerDone = oneshot::Sender<()>;

struct Entry {
    c: Container,
    events: watch::Sender<Events>,
    op: Arc<tokio::sync::Mutex<()>>,
    pending: Vec<PendingAttach>,
    prestage: Option<super::prestart::Prestage>,
    /// `logs --follow` requests to wake at the exit.
    followers: Vec<oneshot::Sender<FollowerDone>>,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Entry>,
    /// Recently removed containers: a `wait` that comes late still gets the exit code.
    tombstones: HashMap<String, (i32, Instant)>,
}

/// The registry.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

const TOMBSTONE_TTL: Duration = Duration::from_secs(60);

/// How long [`Registry::shim_gone`] waits for a shim's `<runtime> delete`.
const SHIM_CLEANUP: Duration = Duration::from_secs(10);

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a container.
    pub fn insert(&self, c: Container) {
        let ev = Events {
            running: c.state.status == Status::Running,
            exit_code: c.state.exit_code,
            ..Default::default()
        };
        let (tx, _) = watch::channel(ev);
        self.lock().by_id.insert(
            c.id.clone(),
            Entry {
                c,
                events: tx,
                op: Arc::new(tokio::sync::Mutex::new(())),
                pending: Vec::new(),
                prestage: None,
                followers: Vec::new(),
            },
        );
    }

    fn resolve(inner: &Inner, key: &str) -> ApiResult<String> {
        if key.is_empty() {
            return Err(ApiError::NotFound("No such container: ".into()));
        }
        if inner.by_id.contains_key(key) {
            return Ok(key.to_string());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        // A container being removed keeps its name until its record is deleted, and the entry
        // goes right after that; a new container that took the name in between is the one
        // the name means.
        let mut named = inner.by_id.values().filter(|e| e.c.name == name);
        if let Some(first) = named.next() {
            let e = match first.c.state.status {
                Status::Removing => named.next().unwrap_or(first),
                _ => first,
            };
            return Ok(e.c.id.clone());
        }
        let matches: Vec<&String> = inner
            .by_id
            .keys()
            .filter(|id| id.starts_with(key))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ApiError::NotFound(format!("No such container: {key}"))),
            _ => Err(ApiError::BadRequest(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
        }
    }

    /// Full id for an id, name or prefix.
    pub fn id_of(&self, key: &str) -> ApiResult<String> {
        Self::resolve(&self.lock(), key)
    }

    /// A copy of a container's record.
    pub fn get(&self, key: &str) -> ApiResult<Container> {
        let g = self.lock();
        let id = Self::resolve(&g, key)?;
        Ok(g.by_id[&id].c.clone())
    }

    /// Copies of every record.
    pub fn all(&self) -> Vec<Container> {
        self.lock().by_id.values().map(|e| e.c.clone()).collect()
    }

    /// The operation lock of a container (start/stop/remove take it).
    pub fn op_lock(&self, id: &str) -> ApiResult<Arc<tokio::sync::Mutex<()>>> {
        let g = self.lock();
        let id = Self::resolve(&g, id)?;
        Ok(g.by_id[&id].op.clone())
    }

    /// Change a record in memory; returns the new copy (the caller persists it).
    pub fn modify(&self, id: &str, f: impl FnOnce(&mut Container)) -> ApiResult<Container> {
        let mut g = self.lock();
        let e = g
            .by_id
            .get_mut(id)
            .ok_or_else(|| ApiError::NotFound(format!("No such container: {id}")))?;
        f(&mut e.c);
        let (running, code) = (e.c.state.status == Status::Running, e.c.state.exit_code);
        e.events.send_modify(|ev| {
            // A waiter woken by the exit reads the code recorded with it.
            if ev.running && !running {
                ev.exit_code = code;
            }
            ev.running = running;
        });
        Ok(e.c.clone())
    }

    /// Record an exit for `wait`.
    pub fn notify_exit(&self, id: &str, code: i32) {
        if let Some(e) = self.lock().by_id.get(id) {
            e.events.send_modify(|ev| {
                ev.exits += 1;
                ev.exit_code = code;
                ev.running = false;
            });
        }
    }

    /// A `logs --follow` of the container: woken at its exit by [`Registry::flush_followers`].
    pub fn follow_exit(&self, id: &str) -> Option<oneshot::Receiver<FollowerDone>> {
        let mut g = self.lock();
        let e = g.by_id.get_mut(id)?;
        e.followers.retain(|f| !f.is_closed());
        let (tx, rx) = oneshot::channel();
        e.followers.push(tx);
        Some(rx)
    }

    /// At an exit, before the `die` event: wake the container's log followers and wait (at most
    /// `limit`) until each has passed on the last lines, so a client that follows both sees the
    /// output before the exit, as with dockerd.
    pub async fn flush_followers(&self, id: &str, limit: Duration) {
        let followers = match self.lock().by_id.get_mut(id) {
            Some(e) => std::mem::take(&mut e.followers),
            None => return,
        };
        let mut done = Vec::new();
        for f in followers {
            let (tx, rx) = oneshot::channel();
            if f.send(tx).is_ok() {
                done.push(rx);
            }
        }
        if done.is_empty() {
            return;
        }
        let all = async {
            for rx in done {
                let _ = rx.await;
            }
        };
        let _ = tokio::time::timeout(limit, all).await;
    }

    /// Mark the shim as deleting the runtime's state after the exit it reported (or done with it).
    pub fn set_shim_busy(&self, id: &str, busy: bool) {
        if let Some(e) = self.lock().by_id.get(id) {
            e.events.send_modify(|ev| ev.shim_busy = busy);
        }
    }

    /// Until the shim that reported the container's exit has deleted the runtime's state (at most
    /// [`SHIM_CLEANUP`]): what creates the container again or takes down its leftovers waits.
    pub async fn shim_gone(&self, key: &str) {
        let Ok(Ok(mut rx)) = self.subscribe(key) else {
            return;
        };
        let _ = tokio::time::timeout(SHIM_CLEANUP, rx.wait_for(|e| !e.shim_busy)).await;
    }

    /// Watch a container's events; `Err(code)` if it was removed recently (tombstone).
    pub fn subscribe(&self, key: &str) -> ApiResult<Result<watch::Receiver<Events>, i32>> {
        let mut g = self.lock();
        g.tombstones.retain(|_, (_, t)| t.elapsed() < TOMBSTONE_TTL);
        if let Some((code, _)) = g.tombstones.get(key) {
            return Ok(Err(*code));
        }
        let id = Self::resolve(&g, key)?;
        Ok(Ok(g.by_id[&id].events.subscribe()))
    }

    /// Forget a container (after its files are gone) once `delete_record` (the store's delete
    /// of its record) succeeds, both under the registry's lock: a create that finds the name
    /// free in the store cannot be followed by a lookup that still finds the old container by
    /// id or name. Wakes `wait ... removed`.
    pub fn remove_after<E>(
        &self,
        id: &str,
        delete_record: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let mut g = self.lock();
        delete_record()?;
        if let Some(e) = g.by_id.remove(id) {
            g.tombstones
                .insert(id.to_string(), (e.c.state.exit_code, Instant::now()));
            e.events.send_modify(|ev| {
                ev.removed = true;
                ev.running = false;
            });
        }
        Ok(())
    }

    /// Queue an attach until `start`.
    pub fn add_pending(&self, id: &str, p: PendingAttach) -> ApiResult<()> {
        let mut g = self.lock();
        let e = g
            .by_id
            .get_mut(id)
            .ok_or_else(|| ApiError::NotFound(format!("No such container: {id}")))?;
        e.pending.push(p);
        Ok(())
    }

    /// Take the queued attaches.
    pub fn take_pending(&self, id: &str) -> Vec<PendingAttach> {
        self.lock()
            .by_id
            .get_mut(id)
            .map(|e| std::mem::take(&mut e.pending))
            .unwrap_or_default()
    }

    /// Set (or clear) the bundle made ahead of `start` ([`super::prestart`]); false if the
    /// container is gone.
    pub(super) fn set_prestage(&self, id: &str, p: Option<super::prestart::Prestage>) -> bool {
        match self.lock().by_id.get_mut(id) {
            Some(e) => {
                e.prestage = p;
                true
            }
            None => false,
        }
    }

    /// Take the bundle made ahead of `start`, if any.
    pub(super) fn take_prestage(&self, id: &str) -> Option<super::prestart::Prestage> {
        self.lock()
            .by_id
            .get_mut(id)
            .and_then(|e| e.prestage.take())
    }

    /// Whether a name is used by another container than `id`.
    pub fn name_owner(&self, name: &str) -> Option<String> {
        self.lock()
            .by_id
            .values()
            .find(|e| e.c.name == name)
            .map(|e| e.c.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::model::{RunSpec, State};

    fn ctr(id: &str, name: &str) -> Container {
        Container {
            id: id.into(),
            name: name.into(),
            created: String::new(),
            image_id: String::new(),
            config: serde_json::json!({}),
            host_config: serde_json::Value::Null,
            runtime: "berth".into(),
            spec: RunSpec::default(),
            state: State {
                exit_code: 3,
                ..Default::default()
            },
            restart_count: 0,
        }
    }

    #[test]
    fn lookup_by_id_name_and_prefix() {
        let r = Registry::default();
        r.insert(ctr("abc123", "web"));
        r.insert(ctr("abd456", "db"));
        assert_eq!(r.id_of("abc123").unwrap(), "abc123");
        assert_eq!(r.id_of("/web").unwrap(), "abc123");
        assert_eq!(r.id_of("abd").unwrap(), "abd456");
        assert!(matches!(r.id_of("ab"), Err(ApiError::BadRequest(_))));
        match r.id_of("zzz") {
            Err(ApiError::NotFound(m)) => assert_eq!(m, "No such container: zzz"),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.name_owner("db").as_deref(), Some("abd456"));
    }

    #[test]
    fn a_name_leads_to_the_new_container_not_one_being_removed() {
        for order in [["old1", "new1"], ["new1", "old1"]] {
            let r = Registry::default();
            for id in order {
                let mut c = ctr(id, "web");
                if id == "old1" {
                    c.state.status = Status::Removing;
                }
                r.insert(c);
            }
            assert_eq!(r.id_of("web").unwrap(), "new1");
            assert_eq!(r.get("/web").unwrap().id, "new1");
        }
    }

    #[test]
    fn removal_wakes_waiters_and_leaves_a_tombstone() {
        let r = Registry::default();
        r.insert(ctr("abc123", "web"));
        let mut rx = r.subscribe("web").unwrap().unwrap();
        r.notify_exit("abc123", 7);
        assert_eq!(rx.borrow_and_update().exits, 1);
        // A record the store fails to delete keeps the container.
        assert_eq!(r.remove_after("abc123", || Err("disk")), Err("disk"));
        assert!(!rx.borrow().removed);
        assert!(r.get("abc123").is_ok());
        r.remove_after("abc123", || Ok::<(), ()>(())).unwrap();
        assert!(rx.borrow().removed);
        // A `wait` that arrives after the removal still learns the exit code.
        assert_eq!(r.subscribe("abc123").unwrap().unwrap_err(), 3);
        assert!(r.get("abc123").is_err());
    }
}
