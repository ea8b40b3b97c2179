//! `POST /containers/create`: the request merged with the image's defaults into a [`RunSpec`], the
//! root filesystem prepared as a snapshot, and the record stored (name reservation and all) in one
//! transaction; nothing is left behind when any step fails.

use super::model::{self, Container, CreateRequest, RunSpec, State};
use super::shim::Paths;
use super::spec;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::store::StoreError;
use crate::time;
use berth_image::snapshot::Snapshotter;
use serde_json::{json, Value};
use std::sync::Arc;

/// A generated name no container has yet (a concurrent create may still take it first: the
/// insert decides, and [`create`] tries again).
fn random_name(d: &Daemon, attempt: usize) -> String {
    let mut n = super::names::generate(attempt);
    for _ in 0..3 {
        if d.containers.name_owner(&n).is_none() {
            break;
        }
        n = super::names::generate(attempt);
    }
    n
}

/// The mount targets of a container's default mounts that sit in its root file system (those
/// inside /dev's tmpfs and sysfs are made there): an image lacking them gets them in its init
/// layer, as dockerd's init layer has them. (Changing the list means a new
/// `berth_image::init_layer::DIR_NAME`.)
const MOUNT_TARGETS: &[berth_image::init_layer::InitEntry] = {
    use berth_image::init_layer::InitEntry::{Dir, File, Symlink};
    &[
        Dir("proc"),
        Dir("sys"),
        Dir("dev"),
        Dir("dev/pts"),
        Dir("dev/shm"),
        File("dev/console"),
        File("etc/hosts"),
        File("etc/hostname"),
        File("etc/resolv.conf"),
        // Not mount targets: what dockerd's init layer also has, and programs look for.
        File(".dockerenv"),
        Symlink("etc/mtab", "/proc/mounts"),
    ]
};

/// The create body's fields (`Config`'s in dockerd's order, with `HostConfig` and
/// `NetworkingConfig`).
pub(crate) const CONFIG_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
    "HostConfig",
    "NetworkingConfig",
];

/// `HostConfig`'s fields, in dockerd's order (its struct's, the embedded resources after `Isolation`):
/// the create's keys are matched to them, and inspect lists them so.
pub(crate) const HOST_CONFIG_FIELDS: &[&str] = &[
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "ConsoleSize",
    "Annotations",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "StorageOpt",
    "Tmpfs",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Sysctls",
    "Runtime",
    "Isolation",
    "CpuShares",
    "Memory",
    "NanoCpus",
    "CgroupParent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "KernelMemory",
    "KernelMemoryTCP",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    "Ulimits",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "Mounts",
    "MaskedPaths",
    "ReadonlyPaths",
    "Init",
];

/// Each key of `o` under its field's name in `fields` when it differs only in case: dockerd's
/// (Go's) decoder matches a field's name case-insensitively, and clients rely on it (docker-py
/// sends `CPURealtimePeriod`). A key that also comes under its exact name gives way to it.
pub(crate) fn canonical_keys(o: &mut serde_json::Map<String, Value>, fields: &[&str]) {
    let renames: Vec<(String, &str)> = o
        .keys()
        .filter_map(|k| {
            let f = fields
                .iter()
                .find(|f| f.eq_ignore_ascii_case(k) && **f != k)?;
            Some((k.clone(), *f))
        })
        .collect();
    for (k, f) in renames {
        if let Some(v) = o.shift_remove(&k) {
            if !o.contains_key(f) {
                o.insert(f.to_string(), v);
            }
        }
    }
}

/// `HostConfig.StorageOpt`, refused as dockerd's overlay2 refuses it off xfs with project quotas:
/// berthd has no per-container size limit, and a limit taken and not enforced would be a lie.
fn storage_opt(v: Option<&Value>) -> ApiResult<()> {
    let Some(opts) = v.and_then(Value::as_object).filter(|o| !o.is_empty()) else {
        return Ok(());
    };
    if let Some(k) = opts.keys().find(|k| !k.eq_ignore_ascii_case("size")) {
        return Err(ApiError::Internal(format!(
            "Unknown option {}",
            k.to_lowercase()
        )));
    }
    Err(ApiError::Internal(
        "--storage-opt is supported only for overlay over xfs with 'pquota' mount option".into(),
    ))
}

/// `POST /containers/create`: returns the new id.
pub async fn create(
    d: &Arc<Daemon>,
    name: Option<&str>,
    mut body: Value,
) -> ApiResult<(String, Vec<String>)> {
    // dockerd's resource checks come first (a bad limit fails even for a missing image); what the
    // host cannot apply is dropped here, with its warning.
    let mut warnings = vec![];
    if let Some(o) = body.as_object_mut() {
        canonical_keys(o, CONFIG_FIELDS);
        if let Some(hc) = o.get_mut("HostConfig").and_then(Value::as_object_mut) {
            canonical_keys(hc, HOST_CONFIG_FIELDS);
            storage_opt(hc.get("StorageOpt"))?;
            super::resources::create_qos(hc)?;
            warnings = super::resources::verify(
                hc,
                super::resources::host_support(),
                super::resources::host_ncpu(),
                false,
            )?;
            let ports = hc
                .get("PortBindings")
                .and_then(Value::as_object)
                .is_some_and(|p| !p.is_empty());
            if ports && hc.get("NetworkMode").and_then(Value::as_str) == Some("host") {
                warnings.push("Published ports are discarded when using host network mode".into());
            }
            // As dockerd: 0 and negative pid limits are no limit.
            if hc
                .get("PidsLimit")
                .and_then(Value::as_i64)
                .is_some_and(|p| p <= 0)
            {
                hc.insert("PidsLimit".into(), Value::Null);
            }
        }
    }
    let req: CreateRequest = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))?;
    // A start usually follows within milliseconds: let its cgroup migration find the way clear.
    d.warm_cgroups();
    let image_name = req
        .image
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("config.Image is required".into()))?;
    let generated = name.is_none_or(str::is_empty);
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => model::validate_name(n)?,
        None => random_name(d, 0),
    };
    let hc = req.host_config.unwrap_or_default();
    let runtime = hc
        .runtime
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| req.runtime.clone().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| d.default_runtime());
    if d.runtime_path(&runtime).is_none() {
        return Err(ApiError::BadRequest(format!(
            "unknown or invalid runtime name: {runtime}"
        )));
    }
    let _img_guard = d.image_lock.lock().await;
    let img = crate::images::find(d, &image_name)?;
    let defaults = img.info.config.defaults();
    let id = model::random_hex();

    // `--entrypoint ''` sends `[""]`: it resets the image's entrypoint, as an empty list does.
    let user_entrypoint =
        req.entrypoint
            .map(|e| e.into_vec())
            .map(|e| if e == [""] { vec![] } else { e });
    let user_cmd = req.cmd.map(|c| c.into_vec()).unwrap_or_default();
    let (entrypoint, cmd) = match user_entrypoint {
        Some(ep) if !ep.is_empty() => (ep, user_cmd),
        Some(_) => (
            vec![],
            if user_cmd.is_empty() {
                vec![]
            } else {
                user_cmd
            },
        ),
        None => (
            defaults.entrypoint.clone(),
            if user_cmd.is_empty() {
                defaults.cmd.clone()
            } else {
                user_cmd
            },
        ),
    };
    let args: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if args.is_empty() {
        return Err(ApiError::BadRequest("No command specified".into()));
    }
    let env = merge_env(req.env.unwrap_or_default(), &defaults.env);
    let modes = super::modes::parse(
        d,
        &body["HostConfig"],
        req.hostname.as_ref().is_some_and(|h| !h.is_empty()),
    )?;
    let network_mode = match hc.network_mode.as_deref().unwrap_or("default") {
        "" | "default" | "bridge" => "default".to_string(),
        "none" => "none".into(),
        "host" => "host".into(),
        other => match &modes.net_container {
            Some(id) => format!("container:{id}"),
            // Not a 404: the CLI takes a 404 from create for a missing image and pulls it.
            None => super::netconn::user_network_mode(d, other).map_err(|e| match e {
                ApiError::NotFound(m) => ApiError::BadRequest(m),
                e => e,
            })?,
        },
    };
    let networks = super::netconn::endpoints_at_create(
        d,
        &network_mode,
        req.networking_config
            .as_ref()
            .and_then(|n| n.endpoints_config.as_ref()),
    )?;
    // API 1.44 moved the MAC address to the endpoint; older clients (the Python SDK) send Config's.
    let endpoint_mac = req
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .and_then(|m| {
            m.iter()
                .filter(|(k, _)| matches!(k.as_str(), "bridge" | "default") || *k == &network_mode)
                .filter_map(|(_, e)| e.as_ref())
                .find_map(|e| e.mac_address.clone())
        })
        .filter(|_| !networks.values().any(|e| e.mac.is_some()));
    let mac_address = match endpoint_mac
        .or(req.mac_address.clone())
        .filter(|m| !m.is_empty())
    {
        Some(m) => {
            let b = berth_net::parse_mac(&m).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            if network_mode == "host" {
                return Err(ApiError::BadRequest(
                    "conflicting options: mac-address and the network mode".into(),
                ));
            }
            Some(
                b.iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            )
        }
        None => None,
    };
    let security = hc.security_opt.clone().unwrap_or_default();
    let mut no_new_privileges = false;
    let mut seccomp_unconfined = false;
    let mut seccomp_profile = None;
    for o in &security {
        let (key, value) = match o.find(['=', ':']) {
            Some(i) => (&o[..i], &o[i + 1..]),
            None => (o.as_str(), ""),
        };
        match (key, value) {
            ("no-new-privileges", "" | "true") => no_new_privileges = true,
            ("no-new-privileges", "false") => {}
            ("seccomp", "unconfined") => seccomp_unconfined = true,
            ("seccomp", "builtin" | "default") => {}
            ("seccomp", json) => {
                let p = berth_seccomp::DockerProfile::from_json(json).map_err(|e| {
                    ApiError::BadRequest(format!("Decoding seccomp profile failed: {e}"))
                })?;
                if p.is_unconfined() {
                    seccomp_unconfined = true;
                } else {
                    seccomp_profile = Some(json.to_string());
                }
            }
            ("apparmor", _) | ("label", _) => {}
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "invalid --security-opt: {o:?} is not supported yet"
                )))
            }
        }
    }
    let (restart_policy, restart_max) = match &hc.restart_policy {
        Some(r) => (
            r.name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "no".into()),
            r.maximum_retry_count.unwrap_or(0),
        ),
        None => ("no".to_string(), 0),
    };
    // dockerd 20.10's checks and words.
    if restart_policy != "no" && hc.auto_remove.unwrap_or(false) {
        return Err(ApiError::BadRequest(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    if let Some(r) = &hc.restart_policy {
        super::update::check_restart(r)?;
    }
    let mut extra = super::hostextra::parse(hc.extra.clone())?;
    // dockerd's default swap with a memory limit: as much again (without swap accounting
    // `resources::verify` has made it -1).
    let default_swap = (hc.memory.unwrap_or(0) > 0 && extra.memory_swap == 0)
        .then(|| hc.memory.unwrap_or(0).saturating_mul(2));
    if let Some(s) = default_swap {
        extra.memory_swap = s;
    }
    let cgroupns_private = extra.cgroupns_private;
    let log = super::logconfig::parse(Some(d.cfg.defaults.log_config(hc.log_config.clone())))?;
    if log.plugin {
        super::logplugin::check(d, &log.driver).await?;
    }
    let links = super::links::parse(d, &hc.links.clone().unwrap_or_default(), &network_mode)?;
    let privileged = hc.privileged.unwrap_or(false);
    let caps = spec::capabilities(
        privileged,
        &hc.cap_add.clone().unwrap_or_default(),
        &hc.cap_drop.clone().unwrap_or_default(),
    )
    .map_err(ApiError::BadRequest)?;
    // dockerd refuses an unknown stop signal at create.
    if let Some(sig) = req.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        super::lifecycle::signal_arg(sig)?;
    }
    let mut binds = hc
        .binds
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|b| model::parse_bind(b))
        .collect::<ApiResult<Vec<_>>>()?;
    let taken: Vec<String> = binds.iter().map(|b| b.destination.clone()).collect();
    let mounts = super::mounts::parse(hc.mounts.clone().unwrap_or_default(), &taken)?;
    binds.extend(mounts.binds);
    let tmpfs_mounts = mounts.tmpfs;
    // `--volumes-from`: under the request's own mounts.
    let taken: Vec<&str> = binds
        .iter()
        .map(|b| b.destination.as_str())
        .chain(tmpfs_mounts.iter().map(|t| t.destination.as_str()))
        .collect();
    let from = super::volumes_from::resolve(
        hc.volumes_from.as_deref().unwrap_or_default(),
        &taken,
        // Not a 404 (dockerd's 400): the CLI takes a 404 from create for a missing image.
        |name| match d.containers.get(name) {
            Ok(c) => Ok(c.spec.binds),
            Err(ApiError::NotFound(m)) => Err(ApiError::BadRequest(m)),
            Err(e) => Err(e),
        },
    )?;
    binds.extend(from);
    // Anonymous volumes: `-v /path` (Config.Volumes) and the image's VOLUMEs not covered by a mount.
    let mut anon: Vec<String> = req
        .volumes
        .clone()
        .unwrap_or_default()
        .into_keys()
        .collect();
    anon.extend(defaults.volumes.iter().cloned());
    anon.sort();
    anon.dedup();
    for dest in anon {
        if !dest.starts_with('/') {
            return Err(ApiError::BadRequest(format!(
                "invalid volume {dest:?}: must be an absolute path"
            )));
        }
        if binds.iter().any(|b| b.destination == dest)
            || tmpfs_mounts.iter().any(|t| t.destination == dest)
        {
            continue;
        }
        binds.push(model::Bind {
            destination: dest,
            propagation: "rprivate".into(),
            volume: Some(model::random_hex()),
            anonymous: true,
            mode: Some(String::new()),
            ..Default::default()
        });
    }
    // A shared network shares the other container's host name too.
    let joined_hostname = modes
        .net_container
        .as_ref()
        .and_then(|id| d.containers.get(id).ok())
        .map(|o| o.spec.hostname);
    let hostname = match req.hostname.filter(|h| !h.is_empty()).or(joined_hostname) {
        Some(h) => h,
        None if network_mode == "host" => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| id[..12].to_string()),
        None => id[..12].to_string(),
    };
    let cwd = req
        .working_dir
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| defaults.working_dir.clone());
    if !cwd.starts_with('/') {
        return Err(ApiError::BadRequest(format!(
            "the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )));
    }
    let user = req
        .user
        .filter(|u| !u.is_empty())
        .or(defaults.user.clone())
        .unwrap_or_default();
    let mut labels = defaults.labels.clone();
    labels.extend(req.labels.unwrap_or_default());
    // The learned profile the image carries, unless the user said otherwise.
    let (mut caps, mut seccomp_profile) = (caps, seccomp_profile);
    let mut landlock = None;
    if d.cfg.security_profiles && !privileged && !seccomp_unconfined {
        if let Some(p) = crate::profiles::for_image(&labels)? {
            let explicit_seccomp = security.iter().any(|o| o.starts_with("seccomp"));
            if !explicit_seccomp {
                seccomp_profile = Some(p.seccomp);
            }
            let explicit_caps = hc.cap_add.as_ref().is_some_and(|c| !c.is_empty())
                || hc.cap_drop.as_ref().is_some_and(|c| !c.is_empty());
            if !explicit_caps {
                caps = p.caps;
            }
            landlock = Some(p.landlock);
            labels.insert(crate::profiles::APPLIED_LABEL.into(), p.name);
        }
    }
    let chain_id = img.info.top_chain_id().map(|c| c.to_string());
    // The default bridge's endpoint settings, shown back by inspect.
    let bridge_endpoint = if network_mode == "default" {
        let eps = &body["NetworkingConfig"]["EndpointsConfig"];
        ["bridge", "default"]
            .iter()
            .map(|k| &eps[*k])
            .find(|e| e.is_object())
            .map(|e| {
                serde_json::json!({
                    "IPAMConfig": e.get("IPAMConfig").cloned().unwrap_or(serde_json::Value::Null),
                    "DriverOpts": e.get("DriverOpts").cloned().unwrap_or(serde_json::Value::Null),
                })
            })
    } else {
        None
    };
    let run = RunSpec {
        args,
        env: env.clone(),
        cwd: cwd.clone(),
        user: user.clone(),
        hostname: hostname.clone(),
        domainname: req.domainname.unwrap_or_default(),
        tty: req.tty.unwrap_or(false),
        open_stdin: req.open_stdin.unwrap_or(false),
        stdin_once: req.stdin_once.unwrap_or(false),
        stop_signal: req
            .stop_signal
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or(defaults.stop_signal.clone()),
        stop_timeout: req.stop_timeout,
        binds,
        auto_remove: hc.auto_remove.unwrap_or(false),
        restart_policy,
        restart_max,
        privileged,
        caps,
        readonly_rootfs: hc.readonly_rootfs.unwrap_or(false),
        memory: hc.memory.unwrap_or(0),
        nano_cpus: hc.nano_cpus.unwrap_or(0),
        pids_limit: hc.pids_limit.unwrap_or(0),
        network_mode,
        no_new_privileges,
        seccomp_unconfined,
        seccomp_profile,
        landlock,
        chain_id: chain_id.clone(),
        extra,
        modes,
        log,
        mac_address,
        bridge_endpoint,
        links,
        tmpfs_mounts,
        networks,
    };
    // Docker's Config in inspect: the request, merged with the image's defaults.
    let mut config = body;
    let mut host_config = Value::Null;
    if let Some(o) = config.as_object_mut() {
        host_config = o.shift_remove("HostConfig").unwrap_or(Value::Null);
        if let Some(s) = default_swap {
            host_config["MemorySwap"] = json!(s);
        }
        // No limit and the host's swappiness show as null, as dockerd keeps them (the CLI sends
        // 0 and -1).
        if host_config["PidsLimit"].as_i64().is_some_and(|p| p <= 0) {
            host_config["PidsLimit"] = Value::Null;
        }
        if host_config["MemorySwappiness"].as_i64() == Some(-1) {
            host_config["MemorySwappiness"] = Value::Null;
        }
        // dockerd keeps the mode it chose for an empty one.
        if host_config.is_object() {
            host_config["CgroupnsMode"] = json!(if cgroupns_private { "private" } else { "host" });
        }
        // dockerd's merge: the request's volumes and exposed ports with the image's; for none,
        // Volumes null and no ExposedPorts (omitted when empty).
        for (key, image) in [
            ("Volumes", &defaults.volumes),
            ("ExposedPorts", &defaults.exposed_ports),
        ] {
            let mut m = o
                .get(key)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for k in image {
                m.entry(k.clone()).or_insert(json!({}));
            }
            match (m.is_empty(), key) {
                (true, "ExposedPorts") => o.shift_remove(key),
                (true, _) => o.insert(key.into(), Value::Null),
                (false, _) => o.insert(key.into(), Value::Object(m)),
            };
        }
        o.shift_remove("NetworkingConfig");
        o.shift_remove("Runtime");
        o.insert("Hostname".into(), json!(hostname));
        o.insert(
            "Env".into(),
            if env.is_empty() {
                Value::Null
            } else {
                json!(env)
            },
        );
        o.insert("Cmd".into(), json!(cmd));
        let ep = if entrypoint.is_empty() {
            Value::Null
        } else {
            json!(entrypoint)
        };
        o.insert("Entrypoint".into(), ep);
        let wd = if cwd == "/" && defaults.working_dir == "/" {
            String::new()
        } else {
            cwd
        };
        o.insert("WorkingDir".into(), json!(wd));
        o.insert("User".into(), json!(user));
        o.insert("Labels".into(), json!(labels));
        o.insert("Image".into(), json!(image_name));
        let image_hc = defaults
            .healthcheck
            .as_ref()
            .and_then(|h| serde_json::to_value(h).ok());
        match super::health::merge(o.get("Healthcheck"), image_hc.as_ref()) {
            Some(h) => o.insert("Healthcheck".into(), h),
            None => o.shift_remove("Healthcheck"),
        };
    }
    let c = Container {
        id: id.clone(),
        name: name.clone(),
        created: time::now_rfc3339_nano(),
        image_id: format!("sha256:{}", img.info.config_digest.hex()),
        config,
        host_config,
        runtime,
        spec: run,
        state: State {
            started_at: time::ZERO.into(),
            finished_at: time::ZERO.into(),
            ..Default::default()
        },
        restart_count: 0,
    };
    // The root filesystem: the image's layers, then a writable snapshot keyed by the id.
    let d2 = d.clone();
    let info = img.info.clone();
    let id2 = id.clone();
    tokio::task::spawn_blocking(move || -> ApiResult<()> {
        berth_image::image::unpack(&d2.images, &d2.snap, &info)?;
        if let Some(top) = info.top_chain_id() {
            // Once per image; without it the runtime makes the targets in the container's layer.
            if let Err(e) = d2.snap.ensure_init_layer(&top, MOUNT_TARGETS) {
                crate::log!(2, "init layer of {top}: {e}");
            }
        }
        d2.snap
            .prepare(&id2, info.top_chain_id().as_ref())
            .map_err(ApiError::internal)?;
        Ok(())
    })
    .await
    .map_err(ApiError::internal)??;
    drop(_img_guard);
    // Named and anonymous volumes (created on first use); undone if the container is not created.
    let mut made: Vec<String> = Vec::new();
    let mut c = c;
    let volume_driver = c.host_config["VolumeDriver"]
        .as_str()
        .unwrap_or("")
        .to_string();
    for b in c.spec.binds.iter_mut() {
        let Some(name) = b.volume.clone() else {
            continue;
        };
        let existed = crate::volumes::get(d, &name).is_ok();
        let mut labels = b.volume_labels.clone();
        if b.anonymous {
            labels.insert(crate::volumes::ANONYMOUS_LABEL.into(), String::new());
        }
        // `--volume-driver` (HostConfig.VolumeDriver) for volumes a `--mount` names no driver of.
        let driver = match b.volume_driver.as_str() {
            "" => volume_driver.clone(),
            other => other.to_string(),
        };
        let created =
            crate::plugin_volumes::create(d, &name, &driver, labels, b.volume_options.clone())
                .await;
        match created {
            // A plugin volume's source is the mount point its plugin gives at start.
            Ok(v) => b.source = v.mountpoint,
            Err(e) => {
                for n in &made {
                    let _ = crate::plugin_volumes::remove(d, n, true).await;
                }
                let _ = d.snap.remove(&id);
                return Err(e);
            }
        }
        if !existed {
            made.push(name);
        }
    }
    let dirs = Paths::new(d, &id, &c.runtime);
    // The directory made ahead, or made now. An auto-remove container's start leaves the next
    // spare until after its removal (as the standby shim); any other create makes it now.
    if super::spares::DATA_DIR.take_as(&dirs.dir) && !c.spec.auto_remove {
        super::spares::refill_dirs(d);
    }
    if let Err(e) = std::fs::create_dir_all(&dirs.rootfs) {
        let _ = d.snap.remove(&id);
        let _ = std::fs::remove_dir_all(&dirs.dir);
        return Err(ApiError::internal(e));
    }
    crate::crash::point("create:prepared");
    // An auto-remove container's record is not synced: a host crash stops it anyway, and whatever
    // of it the disk keeps goes at the next start (a record: recovery removes every auto-remove
    // container that does not run; its snapshot and directories without one:
    // `recover::sweep_orphans`). One fsync fewer on `run --rm`'s path.
    let durability = if c.spec.auto_remove {
        crate::store::Durability::Unsynced
    } else {
        crate::store::Durability::Synced
    };
    // The name is reserved by the insert (the name column is unique); a generated one that a
    // concurrent create took meanwhile is replaced, as Docker does.
    let mut attempt = 0;
    let inserted = loop {
        match d.db.insert_with(&id, &c.name, &c, durability) {
            Err(StoreError::NameInUse(..)) if generated && attempt + 1 < super::names::TRIES => {
                attempt += 1;
                c.name = random_name(d, attempt);
            }
            Err(StoreError::NameInUse(..)) if generated && attempt + 1 == super::names::TRIES => {
                attempt += 1;
                c.name = super::names::fallback(&id);
            }
            other => break other,
        }
    };
    let name = c.name.clone();
    match inserted {
        Ok(()) => {}
        Err(e) => {
            let _ = d.snap.remove(&id);
            let _ = std::fs::remove_dir_all(&dirs.dir);
            for n in &made {
                let _ = crate::plugin_volumes::remove(d, n, true).await;
            }
            return Err(match e {
                StoreError::NameInUse(n, owner) => ApiError::Conflict(format!(
                    "Conflict. The container name \"/{n}\" is already in use by container \"{owner}\". \
                     You have to remove (or rename) that container to be able to reuse that name."
                )),
                other => ApiError::internal(other),
            });
        }
    }
    d.events.emit(
        "container",
        "create",
        &id,
        crate::events::container_attrs(&c),
    );
    d.containers.insert(c);
    // `docker run --rm`'s attach, wait and start requests follow: its bundle is made meanwhile.
    super::prestart::begin(d, &id);
    // Only when a bridge was asked for and failed: with `--bridge none` loopback only is the
    // daemon's setting, and dockerd says nothing either.
    if d.bridge.is_none() && d.cfg.bridge.is_some() && run_network_is_default(d, &id) {
        warnings.push(
            "the default bridge network is not available (see berthd's log): the container has only a loopback interface"
                .to_string(),
        );
    }
    crate::log!(0, "created container {id} ({name})");
    Ok((id, warnings))
}

/// The container's `Config.Env` as dockerd merges it: the request's variables, then the image's
/// whose names the request does not set. No `PATH` is added here: the process gets a default one
/// at start (`spec::process_env`), and inspect shows only what the image and the request gave.
fn merge_env(user: Vec<String>, image: &[String]) -> Vec<String> {
    if user.is_empty() {
        return image.to_vec();
    }
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let keys: std::collections::HashSet<String> = user.iter().map(|e| key(e)).collect();
    let mut env = user;
    env.extend(image.iter().filter(|e| !keys.contains(&key(e))).cloned());
    env
}

fn run_network_is_default(d: &Daemon, id: &str) -> bool {
    d.containers
        .get(id)
        .map(|c| c.spec.network_mode == "default")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::merge_env;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn env_merges_as_dockerd_does() {
        let image = v(&["A=1", "B=2", "PATH=/bin"]);
        assert_eq!(merge_env(vec![], &image), image);
        assert_eq!(
            merge_env(v(&["B=3", "C=4", "A"]), &image),
            v(&["B=3", "C=4", "A", "PATH=/bin"])
        );
        // No PATH of its own when neither the image nor the request has one.
        assert!(merge_env(v(&["X=1"]), &[]) == v(&["X=1"]));
        assert!(merge_env(vec![], &[]).is_empty());
    }
}
