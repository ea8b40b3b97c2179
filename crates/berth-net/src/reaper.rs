//! The host ends of exited containers' veths, removed off the exit path.
//!
//! Deleting a link (RTM_DELLINK) takes the rtnl lock and waits for RCU grace periods, and when a
//! container exits the kernel is usually tearing its network namespace down at that very moment
//! (its cleanup work holds rtnl while it unregisters the namespace's devices, and the veth peer
//! takes our host end with it). Deleting the host end on the exit path made `run --rm` wait
//! 10-30 ms for that. So the exit path hands the host end's name to the [`Reaper`]: a worker
//! thread deletes it at once if it is still there (a namespace kept alive by another container
//! keeps the pair). Before a bridge gets a new interface (a connect, a container's restart with
//! the same host name) or goes away (`network rm`), its pending names are settled on the calling
//! thread, so a released address never meets the old holder's interface still on the bridge, and
//! no bridge goes with a veth of ours left behind.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use crate::error::{Error, Result};
use crate::netlink::{self, Netlink};

/// The kernel side: delete a link of the daemon's network namespace by name.
pub trait Links: Send + Sync + 'static {
    /// Delete the link named `name`; gone already is success.
    fn delete(&self, name: &str) -> Result<()>;
}

/// Links over rtnetlink.
pub struct KernelLinks;

impl Links for KernelLinks {
    fn delete(&self, name: &str) -> Result<()> {
        delete_link(name)
    }
}

/// Delete the link named `name` in the calling thread's namespace; gone already (or going while
/// we look: the pair goes with the container's namespace, ENODEV) is success.
pub fn delete_link(name: &str) -> Result<()> {
    match netlink::index(name) {
        Ok(idx) => match Netlink::open()?.delete_link(idx) {
            Err(_) if netlink::index(name).is_err() => Ok(()),
            other => other,
        },
        Err(_) => Ok(()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    /// The worker is deleting it (without the lock, so `defer` never waits for a deletion).
    Busy,
    /// The worker's try failed: left for `settle`, which reports the error.
    Failed,
}

struct Pending {
    bridge: String,
    link: String,
    /// The container it was made for.
    owner: String,
    state: State,
}

struct Shared {
    pending: Mutex<Vec<Pending>>,
    /// Signalled on every change of `pending`.
    changed: Condvar,
    links: Box<dyn Links>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Deferred deletion of links; one worker thread per reaper.
#[derive(Clone)]
pub struct Reaper {
    shared: Arc<Shared>,
}

impl Reaper {
    /// A reaper over `links`, with its worker thread started.
    pub fn new(links: Box<dyn Links>) -> Reaper {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            links,
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("berth-net-reaper".into())
            .spawn(move || work(&worker))
            .expect("spawn the link reaper thread");
        Reaper { shared }
    }

    /// Have `link` (a port of `bridge`, made for container `owner`) deleted soon, off the
    /// caller's path.
    pub fn defer(&self, bridge: &str, link: &str, owner: &str) {
        let mut p = self.shared.lock();
        if !p.iter().any(|e| e.link == link && e.state != State::Busy) {
            p.push(Pending {
                bridge: bridge.to_string(),
                link: link.to_string(),
                owner: owner.to_string(),
                state: State::Queued,
            });
        }
        self.shared.changed.notify_all();
    }

    /// Delete now what is still pending for `bridge`, after waiting for a deletion of the
    /// worker's on it; the errors of the links that could not be deleted, together.
    pub fn settle(&self, bridge: &str) -> Result<()> {
        self.settle_where(|e| e.bridge == bridge)
    }

    /// [`Reaper::settle`] for the links made for container `owner` (its removal waits for them:
    /// when `docker rm` returns, its veths are gone).
    pub fn settle_owner(&self, owner: &str) -> Result<()> {
        self.settle_where(|e| e.owner == owner)
    }

    fn settle_where(&self, mine: impl Fn(&Pending) -> bool) -> Result<()> {
        let mut p = self.shared.lock();
        while p.iter().any(|e| mine(e) && e.state == State::Busy) {
            p = self
                .shared
                .changed
                .wait(p)
                .unwrap_or_else(|e| e.into_inner());
        }
        let (mine, rest): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut *p).into_iter().partition(|e| mine(e));
        *p = rest;
        drop(p);
        let errors: Vec<String> = mine
            .iter()
            .filter_map(|e| self.shared.links.delete(&e.link).err())
            .map(|e| e.to_string())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Cleanup(errors.join("; ")))
        }
    }

    /// How many links wait for deletion (failed ones included).
    pub fn pending(&self) -> usize {
        self.shared.lock().len()
    }
}

/// The worker: delete queued links one at a time.
fn work(shared: &Shared) {
    let mut p = shared.lock();
    loop {
        let Some(i) = p.iter().position(|e| e.state == State::Queued) else {
            p = shared.changed.wait(p).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        p[i].state = State::Busy;
        let link = p[i].link.clone();
        drop(p);
        let ok = shared.links.delete(&link).is_ok();
        p = shared.lock();
        if let Some(i) = p
            .iter()
            .position(|e| e.link == link && e.state == State::Busy)
        {
            if ok {
                p.remove(i);
            } else {
                p[i].state = State::Failed;
            }
        }
        shared.changed.notify_all();
    }
}

/// The daemon's reaper (over rtnetlink), started on first use.
pub fn global() -> &'static Reaper {
    static REAPER: OnceLock<Reaper> = OnceLock::new();
    REAPER.get_or_init(|| Reaper::new(Box::new(KernelLinks)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Records deletions; links named in `refuse` cannot be deleted; `gate` holds deletions back.
    #[derive(Clone, Default)]
    struct FakeLinks {
        deleted: Arc<Mutex<Vec<String>>>,
        refuse: Arc<Mutex<Vec<String>>>,
        gate: Arc<Mutex<()>>,
    }

    impl Links for FakeLinks {
        fn delete(&self, name: &str) -> Result<()> {
            let _held = self.gate.lock().unwrap();
            if self.refuse.lock().unwrap().iter().any(|r| r == name) {
                return Err(Error::Command {
                    command: format!("delete link {name}"),
                    stderr: "EPERM".into(),
                });
            }
            self.deleted.lock().unwrap().push(name.to_string());
            Ok(())
        }
    }

    fn wait_until(what: &str, f: impl Fn() -> bool) {
        let t = Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(5), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn the_worker_deletes_deferred_links() {
        let fake = FakeLinks::default();
        let r = Reaper::new(Box::new(fake.clone()));
        r.defer("br1", "va", "c-va");
        r.defer("br1", "vb", "c-vb");
        r.defer("br1", "va", "c-va");
        wait_until("both deleted", || r.pending() == 0);
        assert_eq!(*fake.deleted.lock().unwrap(), ["va", "vb"]);
    }

    #[test]
    fn settle_deletes_the_bridges_pending_links_before_returning() {
        let fake = FakeLinks::default();
        let r = Reaper::new(Box::new(fake.clone()));
        // The worker is stuck on its first deletion; settle must not return before the
        // bridge's links are gone, and must leave the other bridge's to the worker.
        let gate = fake.gate.lock().unwrap();
        r.defer("br1", "va", "c-va");
        r.defer("br2", "vx", "c-vx");
        r.defer("br1", "vb", "c-vb");
        let r2 = r.clone();
        let settled = std::thread::spawn(move || r2.settle("br1"));
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !settled.is_finished(),
            "settle returned with a deletion still under way"
        );
        drop(gate);
        settled.join().unwrap().unwrap();
        let deleted = fake.deleted.lock().unwrap().clone();
        assert!(deleted.contains(&"va".to_string()) && deleted.contains(&"vb".to_string()));
        wait_until("the other bridge's link deleted", || r.pending() == 0);
        assert!(fake.deleted.lock().unwrap().contains(&"vx".to_string()));
    }

    #[test]
    fn a_link_that_cannot_be_deleted_is_reported_by_settle() {
        let fake = FakeLinks::default();
        fake.refuse.lock().unwrap().push("vbad".into());
        let r = Reaper::new(Box::new(fake.clone()));
        r.defer("br1", "vbad", "c-vbad");
        r.defer("br1", "vok", "c-vok");
        wait_until("the good one deleted", || {
            fake.deleted.lock().unwrap().contains(&"vok".to_string())
        });
        assert_eq!(r.pending(), 1, "the failed one stays for settle");
        let e = r.settle("br1").unwrap_err().to_string();
        assert!(e.contains("vbad"), "{e}");
        assert_eq!(r.pending(), 0);
        // Nothing else pending for the bridge: settling again is quiet.
        r.settle("br1").unwrap();
    }

    #[test]
    fn settle_owner_takes_only_that_containers_links() {
        let fake = FakeLinks::default();
        let r = Reaper::new(Box::new(fake.clone()));
        let gate = fake.gate.lock().unwrap();
        r.defer("br1", "vq", "c1");
        r.defer("br1", "va", "c2");
        r.defer("br2", "vb", "c2");
        r.defer("br1", "vc", "c3");
        let r2 = r.clone();
        let settled = std::thread::spawn(move || r2.settle_owner("c2"));
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !settled.is_finished(),
            "settle_owner returned before its links went"
        );
        drop(gate);
        settled.join().unwrap().unwrap();
        let deleted = fake.deleted.lock().unwrap().clone();
        assert!(deleted.contains(&"va".to_string()) && deleted.contains(&"vb".to_string()));
        wait_until("the rest deleted by the worker", || r.pending() == 0);
    }
}
