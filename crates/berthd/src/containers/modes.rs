//! Per-container modes beyond the plain OCI defaults: `--init` (berth-init bind-mounted at `/dev/init`
//! as PID 1, running the command), and namespaces joined from another container
//! (`container:<id|name>` as NetworkMode, PidMode or IpcMode: the other container's
//! `/proc/<pid>/ns/...` paths, its hosts/hostname/resolv.conf for a shared network), and the user
//! namespace of `--userns-remap` (see [`crate::userns`]) unless `UsernsMode` is `host`.

use super::model::{Container, Status};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The validated modes kept in the container's record.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Modes {
    /// Run the command under berth-init.
    pub init: bool,
    /// Share the network namespace of this container (id).
    pub net_container: Option<String>,
    /// Share the pid namespace of this container (id).
    pub pid_container: Option<String>,
    /// Share the IPC namespace of this container (id).
    pub ipc_container: Option<String>,
    /// `UsernsMode: host`: no user namespace even when the daemon remaps.
    pub userns_host: bool,
}

/// The container a `container:<id|name>` mode names: its id when it exists now, else the name as given
/// (as in Docker, a missing container fails the start, with 404, not the create).
fn joined(d: &Daemon, mode: Option<&str>) -> ApiResult<Option<String>> {
    let Some(key) = mode.and_then(|m| m.strip_prefix("container:")) else {
        return Ok(None);
    };
    if key.is_empty() {
        return Err(ApiError::BadRequest(
            "no container specified to join: want container:<name|id>".into(),
        ));
    }
    Ok(Some(
        d.containers
            .get(key)
            .map(|c| c.id)
            .unwrap_or_else(|_| key.to_string()),
    ))
}

/// Read the modes from the request's `HostConfig` (`Init` null means the daemon's `--init`).
pub fn parse(d: &Daemon, hc: &Value, hostname_given: bool) -> ApiResult<Modes> {
    let s = |k: &str| hc[k].as_str();
    let m = Modes {
        init: hc["Init"].as_bool().unwrap_or(d.cfg.init),
        net_container: joined(d, s("NetworkMode"))?,
        pid_container: joined(d, s("PidMode"))?,
        ipc_container: joined(d, s("IpcMode"))?,
        userns_host: match s("UsernsMode").unwrap_or("") {
            "" => false,
            "host" => true,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid UsernsMode {other:?}: want \"host\" or nothing"
                )))
            }
        },
    };
    if d.cfg.remap.is_some() && !m.userns_host {
        // Docker's rules: these need the host's user namespace (`--userns host`).
        let conflict = if hc["Privileged"].as_bool() == Some(true) {
            Some("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode")
        } else if s("NetworkMode") == Some("host") {
            Some("cannot share the host's network namespace when user namespaces are enabled")
        } else if s("PidMode") == Some("host") {
            Some("cannot share the host PID namespace when user namespaces are enabled")
        } else {
            None
        };
        if let Some(msg) = conflict {
            return Err(ApiError::BadRequest(msg.into()));
        }
    }
    if m.net_container.is_some() && hostname_given {
        return Err(ApiError::BadRequest(
            "conflicting options: hostname and the network mode".into(),
        ));
    }
    Ok(m)
}

/// The host pid of a running container; 409 with Docker's message when it is not running.
fn running_pid(d: &Daemon, self_id: &str, id: &str, what: &str) -> ApiResult<(Container, i32)> {
    if id == self_id {
        return Err(ApiError::BadRequest(format!("cannot join own {what}")));
    }
    let other = d.containers.get(id)?;
    if other.state.status != Status::Running || other.state.pid <= 0 {
        return Err(ApiError::Conflict(format!(
            "cannot join {what} of a non running container: {id}"
        )));
    }
    let pid = other.state.pid;
    Ok((other, pid))
}

/// Point a namespace of the config at a path (adding it when the config had none of that type).
pub(super) fn set_namespace(cfg: &mut Value, typ: &str, path: String) {
    let entry = json!({"type": typ, "path": path});
    match cfg["linux"]["namespaces"].as_array_mut() {
        Some(ns) => {
            ns.retain(|n| n["type"] != typ);
            ns.push(entry);
        }
        None => cfg["linux"]["namespaces"] = json!([entry]),
    }
}

/// The daemon's remapping if this container runs with it.
pub fn remap<'a>(d: &'a Daemon, c: &Container) -> Option<&'a crate::userns::Remap> {
    d.cfg.remap.as_deref().filter(|_| !c.spec.modes.userns_host)
}

/// Mount a remapped container's root again with idmapped image layers (image files owned by root show
/// as the container's root).
pub fn idmap_rootfs(d: &Daemon, c: &Container, rootfs: &std::path::Path) -> ApiResult<()> {
    use berth_image::snapshot::{OverlaySnapshotter, Snapshotter};
    let Some(r) = remap(d, c) else {
        return Ok(());
    };
    let mounts = d.snap.mounts(&c.id).map_err(ApiError::internal)?;
    let m = mounts
        .first()
        .filter(|m| m.fs_type == "overlay")
        .ok_or_else(|| ApiError::internal("user namespaces need an overlay root"))?;
    OverlaySnapshotter::unmount(rootfs).map_err(ApiError::internal)?;
    r.mount_overlay(&m.options, rootfs)
        .map_err(ApiError::internal)
}

/// Apply to a config built by [`super::spec::oci_config`], at start (the joined containers must run).
pub fn apply(d: &Daemon, c: &Container, cfg: &mut Value) -> ApiResult<()> {
    let m = &c.spec.modes;
    // Namespaces of a remapped container belong to its user namespace: join that one too.
    let mut owner_userns = None;
    let mut note_owner = |other: &Container, pid: i32| {
        if remap(d, c).is_some() && remap(d, other).is_some() && owner_userns.is_none() {
            owner_userns = Some(format!("/proc/{pid}/ns/user"));
        }
    };
    if let Some(id) = &m.net_container {
        let (other, pid) = running_pid(d, &c.id, id, "network")?;
        note_owner(&other, pid);
        set_namespace(cfg, "network", format!("/proc/{pid}/ns/net"));
        // Docker shares the other container's hosts, hostname and resolv.conf files.
        let dir = d.cfg.data_root.join("containers").join(&other.id);
        if let Some(mounts) = cfg["mounts"].as_array_mut() {
            for f in ["hosts", "hostname", "resolv.conf"] {
                let dest = format!("/etc/{f}");
                for mnt in mounts.iter_mut().filter(|x| x["destination"] == dest) {
                    mnt["source"] = json!(dir.join(f).display().to_string());
                }
            }
        }
        if cfg.get("hostname").is_some() {
            cfg["hostname"] = json!(other.spec.hostname);
        }
    }
    if let Some(id) = &m.pid_container {
        let (other, pid) = running_pid(d, &c.id, id, "PID")?;
        note_owner(&other, pid);
        set_namespace(cfg, "pid", format!("/proc/{pid}/ns/pid"));
    }
    if let Some(id) = &m.ipc_container {
        let (other, pid) = running_pid(d, &c.id, id, "IPC")?;
        note_owner(&other, pid);
        set_namespace(cfg, "ipc", format!("/proc/{pid}/ns/ipc"));
    }
    if let Some(r) = remap(d, c) {
        let volumes: Vec<String> = c
            .spec
            .binds
            .iter()
            .filter(|b| b.volume.is_some())
            .map(|b| b.destination.clone())
            .collect();
        r.apply(cfg, &volumes);
        if let Some(path) = owner_userns {
            set_namespace(cfg, "user", path);
        }
    }
    if m.init {
        let init = &d.cfg.init_binary;
        if !init.is_file() {
            return Err(ApiError::internal(format!(
                "--init: {} not found (install berth-init next to berthd or give --init-path)",
                init.display()
            )));
        }
        let mut args = vec![json!("/dev/init"), json!("--")];
        args.extend(c.spec.args.iter().map(|a| json!(a)));
        cfg["process"]["args"] = json!(args);
        if let Some(mounts) = cfg["mounts"].as_array_mut() {
            mounts.push(json!({
                "destination": "/dev/init", "type": "bind",
                "source": init.display().to_string(),
                "options": ["bind", "ro", "nosuid", "nodev"],
            }));
        }
    }
    if m.net_container.is_none() && c.spec.network_mode != "host" {
        super::hostextra::default_net_sysctls(cfg, remap(d, c).is_some());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_replaced_or_added() {
        let mut cfg = json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]}});
        set_namespace(&mut cfg, "network", "/proc/7/ns/net".into());
        set_namespace(&mut cfg, "ipc", "/proc/7/ns/ipc".into());
        assert_eq!(
            cfg["linux"]["namespaces"],
            json!([{"type": "pid"}, {"type": "network", "path": "/proc/7/ns/net"},
                   {"type": "ipc", "path": "/proc/7/ns/ipc"}])
        );
    }
}
