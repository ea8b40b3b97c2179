//! Hiding the kernel's cgroup migration latency.
//!
//! Moving a process into a cgroup (the runtime's write to `cgroup.procs` for a new container's init)
//! takes the kernel's global cgroup threadgroup lock for writing. When no migration happened in the last
//! RCU grace period, that lock first waits for a full grace period: about 10 to 20 ms on a HZ=250 kernel,
//! which is most of the time a `docker run` spends in the runtime. Any migration starts that wait, and
//! once it has passed the next migrations go through at once.
//!
//! So when a container may be about to start (at `/_ping`, which the docker CLI sends before every
//! command, at create, which `docker run` follows with start within a few milliseconds, at start, and
//! at exec create), berthd starts the wait itself on a blocking thread by writing its own
//! pid to its own `cgroup.procs`: a migration to where it already is, which moves nothing. The grace
//! period then elapses while the client sends start, berthd prepares the bundle and the shim and
//! runtime come up, and the runtime's own write usually finds it over (the kernel keeps the way clear
//! for about one more grace period after the last migration). One warm-up is in flight at a time;
//! where berthd cannot find its cgroup it does nothing. A kick no start follows costs one write and
//! a grace period of the kernel's time.
//!
//! Only runtimes that move processes by pid need it: berth-runtime's init and exec processes enter
//! their cgroups on their own (cloned into the cgroup2 directory, and a thread's write of `0` to each
//! v1 `tasks` file, which skips the lock), so `Daemon::warm_cgroups` kicks only when the default
//! runtime is another one (runc, crun).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The warm-up: berthd's own `cgroup.procs`, and whether a write is in flight.
pub struct Warmup {
    procs: Option<PathBuf>,
    busy: Arc<AtomicBool>,
}

impl Warmup {
    /// Find berthd's own cgroup (cgroup2 if mounted, else a v1 hierarchy).
    pub fn detect() -> Warmup {
        let procs = berth_cgroups::detect_layout(
            std::path::Path::new("/proc/self/mountinfo"),
            std::path::Path::new("/sys/fs/cgroup"),
        )
        .ok()
        .and_then(|layout| {
            let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
            berth_cgroups::own_procs_file(&layout, &own)
        })
        .filter(|p| p.is_file());
        Warmup {
            procs,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Start a grace period now, unless one is being started already.
    pub fn kick(&self) {
        let Some(procs) = self.procs.clone() else {
            return;
        };
        if self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let busy = self.busy.clone();
        tokio::task::spawn_blocking(move || {
            // Errors only mean no warm-up (the runtime then waits as it would have).
            let _ = std::fs::write(&procs, std::process::id().to_string());
            busy.store(false, Ordering::Release);
        });
    }
}
