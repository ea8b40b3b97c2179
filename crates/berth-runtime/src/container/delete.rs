//! `delete`: remove a stopped container (or, with `--force`, kill it first):
//! its cgroup, the poststop hooks, its state directory.

use std::fs;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{self, State, Status};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let (st, status) = match super::load(root, id) {
        Ok(v) => v,
        Err(Error::NotFound(_)) => {
            // A create that died before writing its state leaves a bare
            // directory; remove it so the id can be used again.
            let dir = state::container_dir(root, id)?;
            let existed = dir.exists();
            let _ = fs::remove_dir_all(&dir);
            if force || existed {
                return Ok(());
            }
            return Err(Error::NotFound(id.into()));
        }
        Err(e) => return Err(e),
    };
    crate::log_debug!("delete {id}: status {status}, force {force}");
    match status {
        Status::Stopped => {}
        _ if force => {
            if status == Status::Paused {
                if let Some(cg) = Cgroup::from_state(&st) {
                    let _ = cg.thaw();
                }
            }
            if let Some(cg) = Cgroup::from_state(&st) {
                for pid in cg.pids().unwrap_or_default() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            let _ = kill(Pid::from_raw(st.pid), Signal::SIGKILL);
            super::wait_gone(&st, Duration::from_secs(10))?;
        }
        _ => {
            return Err(Error::State {
                id: id.into(),
                status: status.to_string(),
                action: format!("cannot delete a container that is {status} without --force"),
            })
        }
    }
    destroy(root, &st)
}

/// `delete` of a container whose init has exited, for the process that reaped it (berth-shim,
/// when the container's runtime is this one): what `delete(root, id, true)` does for a stopped
/// container without poststop hooks, in the caller's process. The shim would otherwise fork and
/// exec this binary for it (its start-up alone, ~0.55 ms of CPU here, is more than the delete).
/// Without reading the config into a Spec, a caller linking this keeps little of the runtime.
/// `Ok(false)`: not that case (no state, init still alive, or a saved config that names
/// poststop hooks), nothing was done: run the full `delete`.
pub fn delete_exited(root: &Path, id: &str) -> Result<bool> {
    let (st, text) = match State::load_with_text(root, id) {
        Ok(v) => v,
        Err(Error::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    if st.init_alive() || may_have_poststop(root, &st, &text) {
        return Ok(false);
    }
    destroy_with(root, &st, None).map(|()| true)
}

/// Whether the config saved with the state (inside state.json, whose bytes are `state_text`, or
/// in config.json beside it, as [`state::saved_spec`] reads it) may name poststop hooks: the word
/// anywhere in either.
fn may_have_poststop(root: &Path, st: &State, state_text: &[u8]) -> bool {
    let named = |d: &[u8]| d.windows(8).any(|w| w == b"poststop");
    named(state_text) || fs::read(st.dir(root).join(state::CONFIG_FILE)).is_ok_and(|d| named(&d))
}

/// Tear down a stopped container. Every step runs even if an earlier one
/// failed; the errors are reported together.
pub fn destroy(root: &Path, st: &State) -> Result<()> {
    destroy_with(root, st, crate::state::saved_spec(root, st).as_ref())
}

/// `destroy` with the container's config already in hand (a foreground
/// `run` that has just reaped init), instead of read back from the state
/// directory.
pub(crate) fn destroy_with(root: &Path, st: &State, spec: Option<&Spec>) -> Result<()> {
    let mut errors = Vec::new();
    if let Some(cg) = Cgroup::from_state(st) {
        if st.shared_pid_ns {
            // Without its own pid namespace, init's death does not take the
            // other processes with it.
            for pid in cg.pids().unwrap_or_default() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if let Err(e) = cg.destroy() {
            errors.push(e.to_string());
        }
    }
    if let Some(spec) = spec {
        if let Some(h) = spec.hooks() {
            let json =
                serde_json::to_string(&st.hook_state(Status::Stopped)).expect("state serializes");
            hooks::run_all_warn("poststop", h.poststop().as_ref(), &json);
        }
    }
    // Someone else's delete getting there first is no error: the container
    // is gone either way.
    if let Err(e) = state::remove_dir(root, &st.dir(root)) {
        errors.push(format!("remove state directory: {e}"))
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::State {
            id: st.id.clone(),
            status: "stopped".into(),
            action: format!("delete left work undone: {}", errors.join("; ")),
        })
    }
}
