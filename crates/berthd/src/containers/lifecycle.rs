//! Container life cycle after [`super::create`]: start, pause, stop, kill (the exit and the restart
//! policies: [`super::exit`]; removal: [`super::removal`]).

use super::exit::{mark_stopped_by_user, spawn_waiter};
use super::model::{Container, Status};
use super::registry::Events;
pub use super::removal::{remove, remove_settled};
use super::shim::{self, Paths};
use super::spares;
use super::spec;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::time;
use berth_image::snapshot::OverlaySnapshotter;
use std::sync::Arc;
use std::time::Duration;

/// Write a container's record to the state store.
pub(super) fn persist(d: &Daemon, c: &Container) -> ApiResult<()> {
    d.db.update(&c.id, &c.name, c).map_err(ApiError::internal)
}

/// [`persist`] without waiting for the disk: for a record a host crash makes moot (it stops every
/// container; recovery then takes the record for what the last synced write said).
pub(super) fn persist_unsynced(d: &Daemon, c: &Container) -> ApiResult<()> {
    d.db.update_with(&c.id, &c.name, c, crate::store::Durability::Unsynced)
        .map_err(ApiError::internal)
}

pub fn signal_arg(sig: &str) -> ApiResult<String> {
    let s = sig.trim();
    if s.is_empty() {
        return Ok("KILL".into());
    }
    if let Ok(n) = s.parse::<u32>() {
        if n == 0 || n > 64 {
            return Err(ApiError::BadRequest(format!("Invalid signal: {sig}")));
        }
        return Ok(n.to_string());
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up).to_string();
    if let Some(n) = realtime_signal(&name) {
        return Ok(n.to_string());
    }
    if format!("SIG{name}")
        .parse::<nix::sys::signal::Signal>()
        .is_err()
    {
        return Err(ApiError::BadRequest(format!("Invalid signal: {sig}")));
    }
    Ok(name)
}

/// A real-time signal by Docker's names (`RTMIN`, `RTMIN+3`, `RTMAX-1`; systemd stops on
/// `SIGRTMIN+3`): its number, where the C library's SIGRTMIN is 34 and SIGRTMAX 64.
fn realtime_signal(name: &str) -> Option<u32> {
    const MIN: u32 = 34;
    const MAX: u32 = 64;
    let n = if let Some(r) = name.strip_prefix("RTMIN") {
        match r.strip_prefix('+') {
            Some(k) => MIN.checked_add(k.parse().ok()?)?,
            None if r.is_empty() => MIN,
            None => return None,
        }
    } else if let Some(r) = name.strip_prefix("RTMAX") {
        match r.strip_prefix('-') {
            Some(k) => MAX.checked_sub(k.parse().ok()?)?,
            None if r.is_empty() => MAX,
            None => return None,
        }
    } else {
        return None;
    };
    (MIN..=MAX).contains(&n).then_some(n)
}

/// The `kill` event, with the signal's number as Docker gives it.
pub(super) fn kill_event(d: &Daemon, c: &Container, sig: &str) {
    let number = sig.parse::<i32>().ok().or_else(|| {
        format!("SIG{sig}")
            .parse::<nix::sys::signal::Signal>()
            .ok()
            .map(|s| s as i32)
    });
    let signal = number.map(|n| n.to_string()).unwrap_or_else(|| sig.into());
    d.events.container(c, "kill", &[("signal", signal)]);
}

/// Mount the container's rootfs. A `--rm` container's writable layer goes with it, so it is mounted
/// volatile: its unmount at the exit then does not wait for a sync of the whole upper filesystem
/// (what every other writer on that disk has dirty: tens of milliseconds on a busy host). Not with
/// user namespaces: `modes::idmap_rootfs` mounts that root again (plain, idmapped) over the same work
/// dir, which overlayfs refuses once a volatile mount marked it.
fn mount_rootfs(d: &Daemon, c: &Container, p: &Paths) -> ApiResult<()> {
    let _ = OverlaySnapshotter::unmount(&p.rootfs);
    std::fs::create_dir_all(&p.rootfs).map_err(ApiError::internal)?;
    let volatile = c.spec.auto_remove && super::modes::remap(d, c).is_none();
    d.snap
        .mount_with(&c.id, &p.rootfs, volatile)
        .map_err(ApiError::internal)
}

/// Mount the root, write the /etc files and config.json; `netns`: the path of a network namespace
/// berthd made for the container (see [`own_netns`]), which the runtime then joins.
pub(super) fn prepare_bundle(
    d: &Daemon,
    c: &Container,
    p: &Paths,
    netns: Option<&str>,
) -> ApiResult<()> {
    spares::RUN_DIR.take_as(&p.run_dir);
    std::fs::create_dir_all(&p.run_dir).map_err(ApiError::internal)?;
    mount_rootfs(d, c, p)?;
    // The volumes' filesystems and subpaths, as the runtime will mount them.
    let mut c = c.clone();
    c.spec.binds = crate::volumes::attach::mount_for(d, &c, &p.run_dir)?;
    let c = &c;
    super::modes::idmap_rootfs(d, c, &p.rootfs)?;
    if !c.spec.cwd.is_empty() && c.spec.cwd != "/" {
        // Made where the container will look for it: symlinks resolve inside its root.
        let cwd = crate::volumes::resolve_in_root(&p.rootfs, &c.spec.cwd).ok_or_else(|| {
            ApiError::BadRequest(format!("working directory {}: too many links", c.spec.cwd))
        })?;
        if cwd.exists() && !cwd.is_dir() {
            return Err(ApiError::BadRequest(format!(
                "Cannot mkdir: {} is not a directory",
                c.spec.cwd
            )));
        }
        std::fs::create_dir_all(&cwd)
            .map_err(|e| ApiError::internal(format!("Cannot mkdir: {}: {e}", c.spec.cwd)))?;
    }
    for b in c
        .spec
        .binds
        .iter()
        .filter(|b| b.volume.is_some() && !b.nocopy)
    {
        // As the container sees the path: a symlink in the image must not lead to the host's files.
        let Some(inside) = crate::volumes::resolve_in_root(&p.rootfs, &b.destination) else {
            continue;
        };
        if let Err(e) = crate::volumes::copy_up(&inside, std::path::Path::new(&b.source)) {
            crate::log!(
                2,
                "copying {} into volume {:?}: {e}",
                b.destination,
                b.volume
            );
        }
    }
    for b in &c.spec.binds {
        if !std::path::Path::new(&b.source).exists() {
            std::fs::create_dir_all(&b.source).map_err(|e| {
                ApiError::BadRequest(format!("invalid mount source {:?}: {e}", b.source))
            })?;
        }
    }
    let fail = |e: spec::SpecError| ApiError::BadRequest(e.to_string());
    spec::write_etc_files(&c.spec, &p.dir).map_err(fail)?;
    let mut cfg = spec::oci_config(c, &p.rootfs, &p.dir).map_err(fail)?;
    super::modes::apply(d, c, &mut cfg)?;
    if let Some(path) = netns {
        super::modes::set_namespace(&mut cfg, "network", path.to_string());
    }
    if let Some(name) = c.labels().get(crate::profiles::LEARN_LABEL) {
        if c.spec.privileged || c.spec.seccomp_unconfined {
            return Err(ApiError::BadRequest(format!(
                "learning profile {name} needs a seccomp filter: drop --privileged and seccomp=unconfined"
            )));
        }
        let image = c.config["Image"].as_str().unwrap_or_default();
        cfg["linux"]["seccomp"] = d.profiles.begin(
            name,
            &c.id,
            image,
            &c.spec.caps,
            &std::path::PathBuf::from(format!("{}.learn", p.socket.display())),
        )?;
    }
    // Not truncated first (ext4 would start writing it to disk at its close): see
    // berth_sys::overwrite.
    berth_sys::overwrite(
        &p.dir.join("config.json"),
        &serde_json::to_vec_pretty(&cfg).expect("config serializes"),
    )
    .map_err(ApiError::internal)?;
    let _ = std::fs::remove_file(&p.exit_file);
    Ok(())
}

/// The container as its start sees it, what its bundle is made from: the environment and hosts
/// entries of the linked containers as they are now, `host-gateway` resolved, the daemon's DNS
/// settings and ulimits where it sets none, a user network's resolver.
pub(super) fn start_view(d: &Daemon, c: &Container) -> ApiResult<Container> {
    let mut c2 = c.clone();
    let r = super::links::resolve(d, c)?;
    c2.spec.env.splice(0..0, r.env);
    c2.spec.extra.extra_hosts.extend(r.hosts);
    // `host-gateway` is the host's address on the default bridge, as with dockerd.
    if let Some(h) = c2
        .spec
        .extra
        .extra_hosts
        .iter()
        .find(|(_, ip)| ip == super::hostextra::HOST_GATEWAY)
    {
        let Some(gw) = d.bridge.as_ref().map(|b| b.subnet().gateway()) else {
            return Err(ApiError::BadRequest(format!(
                "unable to derive the IP value for host-gateway of {}: berthd runs without a default bridge",
                h.0
            )));
        };
        for (_, ip) in c2.spec.extra.extra_hosts.iter_mut() {
            if ip == super::hostextra::HOST_GATEWAY {
                *ip = gw.to_string();
            }
        }
    }
    d.cfg.defaults.apply_at_start(&mut c2.spec.extra);
    // On a user network the container asks the network's resolver (on the gateway), which
    // forwards what it does not know to the container's `--dns` servers if it has any (as
    // Docker's embedded resolver does), else to the host's.
    if let Some(gw) = super::netconn::nameserver(d, c) {
        c2.spec.extra.dns = vec![gw.to_string()];
    }
    Ok(c2)
}

/// Whether the container has no network of its own to set up (none, host, `container:`, or no
/// default bridge). The shim then starts it in one runtime invocation (`run --detach`: one process
/// and one round trip fewer) and holds its output until the clients that attached before the start
/// are connected ([`shim::release`]). A networked one starts so too when berthd makes its namespace
/// ([`own_netns`]); otherwise its interfaces go to the init the runtime parks between `create`
/// and `start`.
pub(super) fn starts_at_once(d: &Daemon, c: &Container) -> bool {
    let mode = c.spec.network_mode.as_str();
    let bridged = mode == "default" && d.bridge.is_some();
    let user = !matches!(mode, "default" | "none" | "host") && !mode.starts_with("container:");
    !bridged && !user && c.spec.networks.is_empty()
}

/// Whether berthd makes the network namespace of a networked container before the runtime runs
/// (held by a descriptor, see [`berth_net::netns`]) and sets up its interfaces in it, so the
/// container starts in one runtime call as one without a network does. Bridge networks only (the
/// default bridge and user bridge networks): macvlan, ipvlan, CNI and plugin endpoints record the
/// namespace's path for their teardown, which must stay valid while the container runs, so they
/// keep `create` (the runtime makes the namespace), setup in `/proc/<init>/ns/net`, `start`. Not with
/// user namespaces either: a namespace owned by the host's user namespace would keep the
/// container's root from its own network settings (sysctls).
fn own_netns(d: &Daemon, c: &Container) -> bool {
    super::modes::remap(d, c).is_none()
        && c.spec
            .networks
            .keys()
            .all(|id| d.networks.find(id).is_ok_and(|n| n.driver == "bridge"))
}

/// Whether a container without a network to set up (`--network none`, or no default bridge) gets
/// a namespace berthd made (the spare, loopback up: what the runtime would make in its clone,
/// 0.3-2 ms of the kernel's time on the start's path) rather than one the runtime makes. Not for
/// `host` and `container:` modes (they join another), nor with user namespaces (see [`own_netns`]).
/// `BERTHD_NONE_NETNS=off` in berthd's environment leaves it to the runtime (for the A/B rounds of
/// `bench/run-ab.sh` with one binary).
pub(super) fn fresh_netns(d: &Daemon, c: &Container) -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let on = *ON.get_or_init(|| std::env::var("BERTHD_NONE_NETNS").as_deref() != Ok("off"));
    let mode = c.spec.network_mode.as_str();
    on && starts_at_once(d, c)
        && mode != "host"
        && !mode.starts_with("container:")
        && c.spec.modes.net_container.is_none()
        && super::modes::remap(d, c).is_none()
}

/// Give a starting container its interfaces, addresses and published ports: on the default
/// bridge and on every user network it is configured for, inside the namespace at `netns`.
/// Returns the lines its /etc/hosts gets for its own addresses ([`append_hosts`]), which the
/// caller writes once the bundle's files exist.
async fn setup_network(
    d: &Arc<Daemon>,
    c: &Container,
    p: &Paths,
    netns: &str,
) -> ApiResult<String> {
    let t0 = std::time::Instant::now();
    let connected = match connect_network(d, c, netns).await {
        Ok(mut lines) => super::netconn::connect_all(d, c, netns, &p.dir)
            .await
            .map(|more| {
                lines.push_str(&more);
                lines
            }),
        Err(e) => Err(e),
    };
    crate::log!(
        0,
        "network setup of {}: {} us",
        c.id,
        t0.elapsed().as_micros()
    );
    connected
}

/// `POST /containers/{id}/start`.
pub async fn start(d: &Arc<Daemon>, key: &str) -> ApiResult<()> {
    let lock = d.containers.op_lock(key)?;
    let _g = lock.lock().await;
    start_locked(d, key).await
}

/// `start` with the container's operation lock held.
pub(super) async fn start_locked(d: &Arc<Daemon>, key: &str) -> ApiResult<()> {
    // Microseconds of each step for the debug log (where `run`'s time goes).
    let clock = std::time::Instant::now();
    let us = || clock.elapsed().as_micros();
    let c = d.containers.get(key)?;
    if c.state.status == Status::Running {
        return Err(ApiError::NotModified);
    }
    if matches!(c.state.status, Status::Removing | Status::Dead) {
        return Err(ApiError::Conflict(format!(
            "container {} is marked for removal and cannot be started",
            c.id
        )));
    }
    d.warm_cgroups();
    // The shim of its last run may still be deleting the runtime's state of this id.
    d.containers.shim_gone(&c.id).await;
    let p = Paths::new(d, &c.id, &c.runtime);
    // A bundle made ahead of this start (`prestart`): taken here, so one not made yet is not.
    let staged = d.containers.take_prestage(&c.id);
    let mut c2 = match start_view(d, &c) {
        Ok(v) => v,
        Err(e) => return Err(start_failed(d, &c, &p, e).await),
    };
    // Plugin volumes: mounted by their plugins for this container; the record shows where.
    if let Err(e) = crate::plugin_volumes::mount_for(d, &mut c2).await {
        return Err(start_failed(d, &c, &p, e).await);
    }
    let sources: Vec<String> = c2.spec.binds.iter().map(|b| b.source.clone()).collect();
    let _ = d.containers.modify(&c.id, |rec| {
        for (b, s) in rec.spec.binds.iter_mut().zip(&sources) {
            if b.volume.is_some() {
                b.source = s.clone();
            }
        }
    });
    let no_network = starts_at_once(d, &c);
    // A bundle made ahead (a --rm container with no network to set up, see prestart.rs) is used
    // as it is when the container is unchanged, with the namespace its config.json names.
    let staged = super::prestart::matches(staged, &c2, &p);
    let made_ahead = staged.is_some();
    // A networked container's namespace, made (or taken ready) here so its interfaces are set up
    // before it runs: at the same time as the bundle. A `--network none` one's too (the spare,
    // its loopback up), so the runtime joins one instead of making it.
    let netns = if let Some(ns) = staged {
        ns
    } else if (!no_network && own_netns(d, &c)) || fresh_netns(d, &c) {
        let t0 = std::time::Instant::now();
        let taken = match spares::NETNS.ready() {
            Some(ns) => Ok(Ok(ns)),
            None => tokio::task::spawn_blocking(|| spares::NETNS.take()).await,
        };
        match taken {
            Ok(Ok(ns)) => {
                crate::log!(
                    0,
                    "network namespace of {}: {} us",
                    c.id,
                    t0.elapsed().as_micros()
                );
                Some(ns)
            }
            Ok(Err(e)) => {
                let e = ApiError::internal(format!("creating a network namespace: {e}"));
                return Err(start_failed(d, &c, &p, e).await);
            }
            Err(e) => return Err(start_failed(d, &c, &p, ApiError::internal(e)).await),
        }
    } else {
        None
    };
    let d2 = d.clone();
    let p2 = Paths::new(d, &c.id, &c.runtime);
    let ns_path = netns.as_ref().map(|n| n.path().to_string());
    let bundle = async move {
        if made_ahead {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || prepare_bundle(&d2, &c2, &p2, ns_path.as_deref()))
            .await
            .map_err(ApiError::internal)
            .and_then(|r| r)
    };
    let network = async {
        match &netns {
            Some(ns) if !no_network => setup_network(d, &c, &p, ns.path()).await,
            _ => Ok(String::new()),
        }
    };
    let (prepared, networked) = tokio::join!(bundle, network);
    let prepared = prepared.and_then(|()| networked.and_then(|lines| append_hosts(&p, &lines)));
    if let Err(e) = prepared {
        // Dropping the namespace takes the container ends of its veths with it.
        drop(netns);
        return Err(start_failed(d, &c, &p, e).await);
    }
    crate::crash::point("start:mounted");
    if netns.is_some() && !no_network {
        crate::crash::point("start:network");
    }
    let t_bundle = us();
    let own_netns_used = netns.is_some();
    let at_once = no_network || own_netns_used;
    // The attaches that came before the start, and the waiter's `wait`, are connected while the
    // runtime runs (the shim's socket is bound before it), not after its return: the attached
    // streams go to their clients at once, and the `wait` (which lets a held output flow) follows
    // them. The exit it brings is handled once the record says running (`spawn_waiter` below).
    let mut early_wait = None;
    // A log plugin reads its FIFO from before the shim writes to it.
    let log_plugin = match super::logplugin::start(d, &c, &p).await {
        Ok(s) => s,
        Err(e) => {
            drop(netns);
            return Err(start_failed(d, &c, &p, e).await);
        }
    };
    let fifo = log_plugin.as_ref().map(|s| s.fifo.as_path());
    let spawned = match shim::spawn(d, &c, &p, at_once, fifo).await {
        Ok(mut s) => {
            if s.listening().await {
                connect_pending(d, &c.id, &p).await;
                early_wait = shim::ask_wait(&p.socket).await.ok();
                // The runtime may still run: a berthd cut off here leaves the shim's answer to
                // a closed pipe.
                crate::crash::point("start:listening");
            }
            s.answer(&p).await
        }
        Err(e) => Err(e),
    };
    // The runtime has joined it (or failed): the container's init holds it now.
    drop(netns);
    // The shim has opened the FIFO (or failed).
    drop(log_plugin);
    let t_created = us();
    // The runtime has made the container's mounts: the temporary subpath binds can go.
    crate::volumes::attach::release_subpaths(&p.run_dir);
    let pid = match spawned {
        Ok(pid) => pid,
        Err(e) => {
            let e = ApiError::BadRequest(format!("failed to create task for container: {e}"));
            return Err(start_failed(d, &c, &p, e).await);
        }
    };
    crate::crash::point("start:shim");
    if !at_once {
        // Init is parked in the namespaces the runtime made until `start`: give it its
        // interface, address and published ports now, so the program starts networked.
        let netns = format!("/proc/{pid}/ns/net");
        let connected = setup_network(d, &c, &p, &netns)
            .await
            .and_then(|lines| append_hosts(&p, &lines));
        if let Err(e) = connected {
            let _ = shim::runtime_cmd(d, &c.runtime, &p, &["kill", &c.id, "KILL"]).await;
            return Err(start_failed(d, &c, &p, e).await);
        }
        crate::crash::point("start:network");
    }
    // Attaches that came while the runtime ran (as a rule none).
    connect_pending(d, &c.id, &p).await;
    let now = time::now_rfc3339_nano();
    let c = d.containers.modify(&c.id, |c| {
        c.state.status = Status::Running;
        c.state.stopped_by_user = false;
        c.state.restarting = false;
        c.state.pid = pid;
        c.state.started_at = now.clone();
        c.state.finished_at = time::ZERO.into();
        c.state.error.clear();
    })?;
    // Running survives a berthd crash (recovery finishes the start); after a host crash the
    // container is not running whatever the record says.
    persist_unsynced(d, &c)?;
    crate::crash::point("start:persisted");
    let start_event = |c: &Container| {
        d.events.emit(
            "container",
            "start",
            &c.id,
            crate::events::container_attrs(c),
        )
    };
    if at_once {
        // It runs already, and its waiter may report the exit before `release` returns: `start`
        // comes first.
        start_event(&c);
    }
    spawn_waiter(d.clone(), c.id.clone(), early_wait);
    let t_ready = us();
    let started = if at_once {
        // It runs already; its output waited in its pipes for the clients connected above. The
        // waiter's `wait` releases it too: a shim that is gone by now (the container exited at
        // once, its output drained) has nothing left to release.
        if let Err(e) = shim::release(&p.socket).await {
            crate::log!(0, "releasing the output of {}: {e}", c.id);
        }
        Ok(())
    } else {
        shim::runtime_cmd(d, &c.runtime, &p, &["start", &c.id]).await
    };
    if let Err(e) = started {
        let _ = shim::runtime_cmd(d, &c.runtime, &p, &["kill", &c.id, "KILL"]).await;
        return Err(ApiError::internal(format!(
            "failed to start container: {e}"
        )));
    }
    crate::crash::point("start:started");
    if !at_once {
        start_event(&c);
    }
    super::health::start_monitor(d, &c, true);
    crate::log!(
        0,
        "started container {} pid {pid} (us from the request: bundle {t_bundle}, shim and runtime \
         {} {t_created}, ready to start {t_ready}, {} done {})",
        c.id,
        if at_once { "run" } else { "create" },
        if at_once {
            "output release"
        } else {
            "runtime start"
        },
        us()
    );
    // The next start's shim and network namespace, off this one's path: for a `--rm` container
    // once it is removed (its client waits for that: making a process and a namespace, 1-3 ms of
    // CPU, would compete with its exit and removal on a busy 2-core host), or a second after its
    // start if it still runs; else now.
    if c.spec.auto_remove {
        let d = d.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            spares::refill_all(&d);
        });
    } else {
        shim::refill(d);
        if own_netns_used {
            spares::NETNS.refill();
        }
        spares::refill_dirs(d);
    }
    Ok(())
}

/// The published ports a container asks for: `HostConfig.PortBindings`, plus
/// every exposed port on a free host port with `PublishAllPorts` (`-P`).
pub fn port_mappings(c: &Container) -> ApiResult<Vec<berth_net::PortMapping>> {
    let mut out = Vec::new();
    let parse_key = |key: &str| -> ApiResult<(u16, String)> {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let port = port
            .parse::<u16>()
            .map_err(|_| ApiError::BadRequest(format!("invalid port {key:?} in PortBindings")))?;
        Ok((port, proto.to_string()))
    };
    if let Some(bindings) = c.host_config["PortBindings"].as_object() {
        for (key, list) in bindings {
            let (container_port, protocol) = parse_key(key)?;
            for b in list.as_array().into_iter().flatten() {
                let host_ip = match b["HostIp"].as_str().unwrap_or("") {
                    "" => None,
                    ip => Some(ip.parse().map_err(|_| {
                        ApiError::BadRequest(format!("invalid HostIp {ip:?} for {key}"))
                    })?),
                };
                let host_port = match b["HostPort"].as_str().unwrap_or("") {
                    "" => 0,
                    p => p.parse().map_err(|_| {
                        ApiError::BadRequest(format!("invalid HostPort {p:?} for {key}"))
                    })?,
                };
                out.push(berth_net::PortMapping {
                    host_ip,
                    host_port,
                    container_port,
                    protocol: protocol.clone(),
                });
            }
        }
    }
    if c.host_config["PublishAllPorts"].as_bool() == Some(true) {
        for key in c.config["ExposedPorts"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
        {
            let (container_port, protocol) = parse_key(key)?;
            if !out
                .iter()
                .any(|m| m.container_port == container_port && m.protocol == protocol)
            {
                out.push(berth_net::PortMapping {
                    host_ip: None,
                    host_port: 0,
                    container_port,
                    protocol,
                });
            }
        }
    }
    Ok(out)
}

/// Put a created container (init parked, pid known) on the default bridge:
/// veth + address + ports, its IP in its /etc/hosts, the attachment recorded.
async fn connect_network(d: &Arc<Daemon>, c: &Container, netns: &str) -> ApiResult<String> {
    if c.spec.network_mode != "default" {
        return Ok(String::new());
    }
    let Some(net) = d.bridge.clone() else {
        return Ok(String::new());
    };
    let ports = port_mappings(c)?;
    if let Some(why) = super::ports::taken(d, &c.id, &ports) {
        return Err(super::ports::endpoint_failure(&c.name, &c.id, why));
    }
    let mac = match &c.spec.mac_address {
        Some(m) => Some(berth_net::parse_mac(m).map_err(|e| ApiError::BadRequest(e.to_string()))?),
        None => None,
    };
    let (id, netns) = (c.id.clone(), netns.to_string());
    let name = c.name.clone();
    let att = tokio::task::spawn_blocking(move || {
        net.attach(&id, &netns, &ports, None, mac)
            .map_err(|e| match e {
                why @ berth_net::Error::PortInUse { .. } => {
                    super::ports::endpoint_failure(&name, &id, why)
                }
                e => ApiError::internal(format!("connect to the bridge network: {e}")),
            })
    })
    .await
    .map_err(ApiError::internal)??;
    let names = c.hosts_names();
    let mut lines = format!("{}\t{names}\n", att.endpoint.address);
    if let Some(v6) = att.ipv6 {
        lines.push_str(&format!("{}\t{names}\n", v6.address));
    }
    let c = d
        .containers
        .modify(&c.id, |c| c.state.network = Some(att.clone()))?;
    persist(d, &c)?;
    super::netconn::lifecycle_event(d, "connect", "bridge", &c.id);
    let (d2, ip) = (d.clone(), att.endpoint.address.to_string());
    let _ = tokio::task::spawn_blocking(move || super::links::refresh_parents(&d2, &c, &ip)).await;
    Ok(lines)
}

/// Append a container's own addresses to its /etc/hosts (bind-mounted into it: in place).
fn append_hosts(p: &Paths, lines: &str) -> ApiResult<()> {
    use std::io::Write;
    if lines.is_empty() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(p.dir.join("hosts"))
        .and_then(|mut f| f.write_all(lines.as_bytes()))
        .map_err(ApiError::internal)
}

/// Take a container off the bridge and its user networks (after it exited, or when its start failed).
pub(super) async fn disconnect_network(d: &Arc<Daemon>, id: &str) {
    let t0 = std::time::Instant::now();
    super::netconn::disconnect_all(d, id).await;
    crate::log!(
        0,
        "user networks teardown of {id}: {} us",
        t0.elapsed().as_micros()
    );
    let Ok(c) = d.containers.get(id) else { return };
    let (Some(att), Some(net)) = (c.state.network.clone(), d.bridge.clone()) else {
        return;
    };
    let id2 = id.to_string();
    let res = tokio::task::spawn_blocking(move || {
        net.detach_exited(&id2, att.endpoint.address, &att.ports)
    })
    .await;
    if let Ok(Err(e)) = res {
        crate::log!(3, "disconnecting {id} from the bridge: {e}");
    }
    super::netconn::lifecycle_event(d, "disconnect", "bridge", id);
    if let Ok(c) = d.containers.modify(id, |c| c.state.network = None) {
        let _ = persist(d, &c);
    }
}

/// Connect the attaches queued for `start` to the container's shim and hand each its stream.
async fn connect_pending(d: &Daemon, id: &str, p: &Paths) {
    for pending in d.containers.take_pending(id) {
        if let Ok(s) = shim::attach(&p.socket, pending.flags).await {
            let _ = pending.tx.send(s);
        }
    }
}

/// A start that failed before the process ran: unmount, record the error, drop waiting attaches, and
/// remove an auto-remove container (its client waits for the removal); returns the error to report.
async fn start_failed(d: &Arc<Daemon>, c: &Container, p: &Paths, e: ApiError) -> ApiError {
    super::logplugin::stop(d, p).await;
    disconnect_network(d, &c.id).await;
    crate::plugin_volumes::release(d, &c.id).await;
    let rootfs = p.rootfs.clone();
    let _ = tokio::task::spawn_blocking(move || OverlaySnapshotter::unmount(&rootfs)).await;
    release_volumes(d, c, p, false).await;
    let msg = e.to_string();
    // dockerd's codes: 127 when the command is missing, 126 when it cannot be run, else 128.
    let code =
        if msg.contains("executable file not found") || msg.contains("no such file or directory") {
            127
        } else if msg.contains("permission denied") {
            126
        } else {
            128
        };
    if let Ok(c) = d.containers.modify(&c.id, |c| {
        c.state.error = msg.clone();
        c.state.exit_code = code;
    }) {
        if let Err(e) = persist(d, &c) {
            crate::log!(3, "recording start failure of {}: {e}", c.id);
        }
    }
    drop(d.containers.take_pending(&c.id));
    if c.spec.auto_remove {
        let (d2, id) = (d.clone(), c.id.clone());
        tokio::spawn(async move {
            if let Err(e) = remove(&d2, &id, true, true).await {
                crate::log!(3, "auto-removing {id}: {e}");
            }
        });
    }
    e
}

/// Let go of a container's volumes (unmounting the local ones no one else holds) and take down
/// any temporary subpath binds; `events`: publish the `unmount` events (a container that ran).
pub(super) async fn release_volumes(d: &Arc<Daemon>, c: &Container, p: &Paths, events: bool) {
    if !c.spec.binds.iter().any(|b| b.volume.is_some()) {
        return;
    }
    let (d2, c2, run_dir) = (d.clone(), c.clone(), p.run_dir.clone());
    let _ = tokio::task::spawn_blocking(move || {
        crate::volumes::attach::release_subpaths(&run_dir);
        crate::volumes::attach::unmount_for(&d2, &c2, events);
    })
    .await;
}

pub(super) async fn wait_for_exit(
    rx: &mut tokio::sync::watch::Receiver<Events>,
    exits: u64,
    limit: Duration,
) -> bool {
    tokio::time::timeout(
        limit,
        rx.wait_for(|e| e.exits > exits || !e.running || e.removed),
    )
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false)
}

/// `pause` (freeze every process) or `unpause`.
pub async fn pause(d: &Arc<Daemon>, key: &str, pause: bool) -> ApiResult<()> {
    let lock = d.containers.op_lock(key)?;
    let _g = lock.lock().await;
    let c = d.containers.get(key)?;
    // Unpausing a container that is not running: dockerd says it is not paused.
    if c.state.status != Status::Running && pause {
        return Err(ApiError::Conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    if c.state.paused == pause || c.state.status != Status::Running {
        return Err(ApiError::Conflict(format!(
            "Container {} is {}paused",
            c.id,
            if pause { "already " } else { "not " }
        )));
    }
    let p = Paths::new(d, &c.id, &c.runtime);
    let verb = if pause { "pause" } else { "resume" };
    shim::runtime_cmd(d, &c.runtime, &p, &[verb, &c.id])
        .await
        .map_err(ApiError::internal)?;
    let c = d.containers.modify(&c.id, |c| c.state.paused = pause)?;
    let action = if pause { "pause" } else { "unpause" };
    d.events.emit(
        "container",
        action,
        &c.id,
        crate::events::container_attrs(&c),
    );
    persist(d, &c)
}

/// Thaw a paused container before signalling it (a frozen process cannot act on the signal).
pub(super) async fn thaw(d: &Arc<Daemon>, c: &Container) {
    if c.state.paused {
        let p = Paths::new(d, &c.id, &c.runtime);
        let _ = shim::runtime_cmd(d, &c.runtime, &p, &["resume", &c.id]).await;
        if let Ok(c) = d.containers.modify(&c.id, |c| c.state.paused = false) {
            let _ = persist(d, &c);
        }
    }
}

/// `POST /containers/{id}/kill`.
pub async fn kill(d: &Arc<Daemon>, key: &str, signal: &str) -> ApiResult<()> {
    let c = d.containers.get(key)?;
    if c.is_restarting() {
        return Err(ApiError::Conflict(format!(
            "Container {} is restarting, wait until the container is running",
            c.id
        )));
    }
    if c.state.status != Status::Running {
        return Err(ApiError::Conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    let sig = signal_arg(signal)?;
    mark_stopped_by_user(d, &c.id);
    thaw(d, &c).await;
    let Ok(mut rx) = d.containers.subscribe(&c.id)? else {
        return Ok(());
    };
    let exits = rx.borrow().exits;
    let p = Paths::new(d, &c.id, &c.runtime);
    shim::runtime_cmd(d, &c.runtime, &p, &["kill", &c.id, &sig])
        .await
        .map_err(ApiError::internal)?;
    kill_event(d, &c, &sig);
    // As dockerd: after SIGKILL the answer waits until the container is recorded as exited.
    if sig == "KILL" || sig == "9" {
        wait_for_exit(&mut rx, exits, Duration::from_secs(10)).await;
    }
    Ok(())
}

/// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the timeout.
pub async fn stop(
    d: &Arc<Daemon>,
    key: &str,
    t: Option<i64>,
    signal: Option<&str>,
) -> ApiResult<()> {
    let lock = d.containers.op_lock(key)?;
    let _g = lock.lock().await;
    let c = d.containers.get(key)?;
    mark_stopped_by_user(d, &c.id);
    if c.is_restarting() {
        // Its pending restart is cancelled: it stays exited.
        return Ok(());
    }
    if c.state.status != Status::Running {
        return Err(ApiError::NotModified);
    }
    let Ok(mut rx) = d.containers.subscribe(&c.id)? else {
        return Ok(());
    };
    let exits = rx.borrow().exits;
    let sig = signal_arg(
        signal
            .filter(|s| !s.is_empty())
            .unwrap_or(&c.spec.stop_signal),
    )?;
    let timeout = t.or(c.spec.stop_timeout).unwrap_or(10);
    thaw(d, &c).await;
    let p = Paths::new(d, &c.id, &c.runtime);
    let _ = shim::runtime_cmd(d, &c.runtime, &p, &["kill", &c.id, &sig]).await;
    kill_event(d, &c, &sig);
    crate::crash::point("stop:signalled");
    if timeout >= 0 && wait_for_exit(&mut rx, exits, Duration::from_secs(timeout as u64)).await {
        return Ok(());
    }
    let _ = shim::runtime_cmd(d, &c.runtime, &p, &["kill", &c.id, "KILL"]).await;
    kill_event(d, &c, "KILL");
    if wait_for_exit(&mut rx, exits, Duration::from_secs(30)).await {
        Ok(())
    } else {
        Err(ApiError::internal(format!(
            "container {} did not exit after SIGKILL",
            c.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::signal_arg;

    #[test]
    fn signals_by_name_number_and_real_time_name() {
        assert_eq!(signal_arg("SIGTERM").unwrap(), "TERM");
        assert_eq!(signal_arg("9").unwrap(), "9");
        assert_eq!(signal_arg("SIGRTMIN+3").unwrap(), "37");
        assert_eq!(signal_arg("rtmin").unwrap(), "34");
        assert_eq!(signal_arg("RTMAX-1").unwrap(), "63");
        for bad in ["SIGBOGUS", "RTMIN+31", "RTMAX-31", "RTMIN3", "65"] {
            assert!(signal_arg(bad).is_err(), "{bad}");
        }
    }
}
