//! OOM notification.
//!
//! Owns: [`OomNotifier`]. On cgroup v1 it registers an eventfd for
//! `memory.oom_control` through `cgroup.event_control` and wakes when the
//! kernel signals an OOM in the cgroup. On cgroup v2 there is no
//! event_control; it polls the `oom` / `oom_kill` counters of
//! `memory.events`.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::error::{Error, Result};
use crate::fsutil;

#[derive(Debug)]
enum Kind {
    V1 {
        efd: EventFd,
        // Kept open: the kernel registration lives as long as this file.
        _control: File,
    },
    V2 {
        last: u64,
    },
}

/// Waits for OOM events of one cgroup.
#[derive(Debug)]
pub struct OomNotifier {
    dir: PathBuf,
    kind: Kind,
}

fn v2_count(dir: &Path) -> Result<u64> {
    let ev = fsutil::read_flat_keyed(dir, "memory.events")?;
    Ok(ev.get("oom").copied().unwrap_or(0) + ev.get("oom_kill").copied().unwrap_or(0))
}

impl OomNotifier {
    /// Register with the v1 memory cgroup `dir`.
    pub(crate) fn v1(dir: &Path) -> Result<Self> {
        let control_path = dir.join("memory.oom_control");
        let control = File::open(&control_path).map_err(|source| Error::Read {
            path: control_path,
            source,
        })?;
        let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).map_err(|source| {
            Error::Sys {
                what: "creating an eventfd for oom notification".into(),
                source,
            }
        })?;
        let reg = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
        fsutil::write(dir, "cgroup.event_control", &reg)?;
        Ok(OomNotifier {
            dir: dir.to_path_buf(),
            kind: Kind::V1 {
                efd,
                _control: control,
            },
        })
    }

    /// Watch the v2 cgroup `dir`; events before this call are not reported.
    pub(crate) fn v2(dir: &Path) -> Result<Self> {
        Ok(OomNotifier {
            dir: dir.to_path_buf(),
            kind: Kind::V2 {
                last: v2_count(dir)?,
            },
        })
    }

    /// Wait up to `timeout` (forever if `None`) for an OOM event. Returns
    /// `true` when one happened, `false` on timeout or when the cgroup was
    /// removed (v1: the kernel signals the eventfd on removal too, so check
    /// [`crate::CgroupManager::exists`] if that matters).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        match &mut self.kind {
            Kind::V1 { efd, .. } => {
                let pt = match timeout {
                    None => PollTimeout::NONE,
                    Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
                };
                let mut fds = [PollFd::new(efd.as_fd(), PollFlags::POLLIN)];
                let n = poll(&mut fds, pt).map_err(|source| Error::Sys {
                    what: "polling the oom eventfd".into(),
                    source,
                })?;
                if n == 0 {
                    return Ok(false);
                }
                efd.read().map_err(|source| Error::Sys {
                    what: "reading the oom eventfd".into(),
                    source,
                })?;
                Ok(self.dir.exists())
            }
            Kind::V2 { last } => loop {
                if !self.dir.exists() {
                    return Ok(false);
                }
                let now = v2_count(&self.dir)?;
                if now != *last {
                    *last = now;
                    return Ok(true);
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(false);
                }
                sleep(Duration::from_millis(50));
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_counter_polling() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("memory.events"), "low 0\noom 0\noom_kill 0\n").unwrap();
        let mut n = OomNotifier::v2(d.path()).unwrap();
        assert!(!n.wait(Some(Duration::from_millis(60))).unwrap());
        std::fs::write(d.path().join("memory.events"), "low 0\noom 1\noom_kill 1\n").unwrap();
        assert!(n.wait(Some(Duration::from_millis(500))).unwrap());
        assert!(!n.wait(Some(Duration::ZERO)).unwrap());
    }
}
