//! `/_ping`, `/version`, `/info`.

use super::{API_VERSION, MIN_API_VERSION};
use crate::containers::model::Status;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{full, ok_json, Query, Resp};
use hyper::{Method, StatusCode};
use serde_json::json;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET|HEAD /_ping`: `OK` with the version headers (added for every response by the router).
pub fn ping(m: &Method) -> ApiResult<Resp> {
    let body = if m == Method::HEAD { "" } else { "OK" };
    let mut r = full(StatusCode::OK, "text/plain; charset=utf-8", body);
    let h = r.headers_mut();
    h.insert("Builder-Version", "1".parse().expect("header"));
    h.insert(
        "Cache-Control",
        "no-cache, no-store, must-revalidate"
            .parse()
            .expect("header"),
    );
    h.insert("Pragma", "no-cache".parse().expect("header"));
    Ok(r)
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET /version`.
pub fn version(d: &Daemon) -> ApiResult<Resp> {
    let live = d.live();
    let rt = live
        .runtimes
        .get(&live.default_runtime)
        .map(|p| p.display().to_string());
    ok_json(&json!({
        "Platform": {"Name": "Berth Engine"},
        "Components": [
            {"Name": "Engine", "Version": VERSION, "Details": {
                "ApiVersion": API_VERSION, "Arch": go_arch(), "BuildTime": "", "Experimental": d.cfg.experimental.to_string(),
                "GitCommit": "", "GoVersion": "n/a (Rust)", "KernelVersion": kernel(),
                "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}},
            {"Name": live.default_runtime, "Version": VERSION, "Details": {"Path": rt}},
        ],
        "Version": VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "n/a (Rust)",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel(),
        "BuildTime": "",
    }))
}

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (get("PRETTY_NAME"), get("VERSION_ID"))
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// A `/proc/sys` switch that reads 1 (false when absent).
fn sysctl_on(key: &str) -> bool {
    std::fs::read_to_string(std::path::Path::new("/proc/sys").join(key))
        .is_ok_and(|v| v.trim() == "1")
}

fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

/// `RegistryConfig` as dockerd shows it: the insecure CIDRs, and an index entry for Docker Hub
/// (with the mirrors) and for each insecure registry named by host.
fn registry_config(r: &crate::live::Registries) -> serde_json::Value {
    let mut index = serde_json::Map::new();
    index.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Mirrors": r.mirrors, "Secure": true, "Official": true}),
    );
    for h in &r.insecure_hosts {
        index.insert(
            h.clone(),
            json!({"Name": h, "Mirrors": [], "Secure": false, "Official": false}),
        );
    }
    json!({"AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": r.insecure_cidrs, "IndexConfigs": index, "Mirrors": r.mirrors})
}

/// `Plugins` of `docker info`: the built-in drivers, the legacy plugins activated so far (as dockerd
/// lists them), and the authorization chain.
fn plugins_info(d: &Daemon) -> serde_json::Value {
    let with = |builtin: &[&str], iface: &str| {
        let mut v: Vec<String> = builtin.iter().map(|s| s.to_string()).collect();
        v.extend(d.plugins.active(iface));
        v
    };
    let mut log = vec!["json-file", "local"];
    log.extend(berth_logdriver::DRIVERS);
    log.sort_unstable();
    json!({
        "Volume": with(&["local"], berth_plugin::VOLUME),
        "Network": with(&["bridge", "host", "ipvlan", "macvlan", "null"], berth_plugin::NETWORK),
        "Authorization": if d.cfg.authz.is_empty() { json!(null) } else { json!(d.cfg.authz) },
        "Log": log,
    })
}

/// `GET /info`.
pub async fn info(d: &Daemon) -> ApiResult<Resp> {
    let all = d.containers.all();
    let count = |s: Status| all.iter().filter(|c| c.state.status == s).count();
    let images = crate::images::list(d)?.len();
    let (os, os_version) = os_release();
    let live = d.live();
    let runtimes: serde_json::Map<String, serde_json::Value> = live
        .runtimes
        .iter()
        .map(|(k, v)| (k.clone(), json!({"path": v.display().to_string()})))
        .collect();
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nfd = std::fs::read_dir("/proc/self/fd")
        .map(|r| r.count())
        .unwrap_or(0);
    // What the host's cgroups can limit, as dockerd reports it.
    let sys = crate::containers::resources::host_support();
    ok_json(&json!({
        "ID": d.engine_id,
        "Containers": all.len(),
        "ContainersRunning": count(Status::Running),
        "ContainersPaused": all.iter().filter(|c| c.state.paused && c.state.status == Status::Running).count(),
        "ContainersStopped": all.len() - count(Status::Running),
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": plugins_info(d),
        "MemoryLimit": sys.memory_limit, "SwapLimit": sys.swap_limit, "KernelMemory": sys.kernel_memory,
        "KernelMemoryTCP": sys.kernel_memory_tcp, "CpuCfsPeriod": sys.cpu_cfs, "CpuCfsQuota": sys.cpu_cfs,
        "CPUShares": sys.cpu_shares, "CPUSet": sys.cpuset, "PidsLimit": sys.pids_limit,
        "IPv4Forwarding": std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1"), "BridgeNfIptables": sysctl_on("net/bridge/bridge-nf-call-iptables"), "BridgeNfIp6tables": sysctl_on("net/bridge/bridge-nf-call-ip6tables"),
        "FirewallBackend": firewall_backend(d),
        "Debug": live.debug,
        "NFd": nfd,
        "OomKillDisable": sys.oom_kill_disable,
        "NGoroutines": 0,
        "SystemTime": crate::time::now_rfc3339_nano(),
        "LoggingDriver": d.cfg.defaults.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "NEventsListener": 0,
        "KernelVersion": kernel(),
        "OperatingSystem": os,
        "OSVersion": os_version,
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(&live.registries),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total(),
        "GenericResources": null,
        "DockerRootDir": d.cfg.data_root.display().to_string(),
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": hostname,
        "Labels": live.labels,
        "ExperimentalBuild": d.cfg.experimental,
        "ServerVersion": VERSION,
        "Runtimes": runtimes,
        "DefaultRuntime": live.default_runtime,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
            "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": security_options(d),
        "Warnings": null,
    }))
}

/// `GET /system/df`: images, containers (their writable layers' sizes) and volumes (their sizes);
/// and the build cache (the untagged images of build steps).
pub async fn df(d: &Daemon, api: (u32, u32)) -> ApiResult<Resp> {
    // As dockerd: the containers as `ps -a` lists them, with their sizes; the images as `images`
    // lists them (a build's intermediate images left out).
    let mut cs = super::containers::summaries(d, &Query::parse(Some("all=1")), api, false)?;
    let images = crate::images::list(d)?;
    let usage = crate::images::disk_usage(&images, &d.images);
    // The sizes are walks of directories: on a blocking thread, all at once.
    let uppers: Vec<(Option<std::path::PathBuf>, i64)> = cs
        .iter()
        .map(|c| {
            let id = c["Id"].as_str().unwrap_or_default();
            let image = c["ImageID"].as_str().unwrap_or_default();
            let base = usage.size.get(image).copied().unwrap_or(0);
            (d.snap.upper_dir(id).ok(), base)
        })
        .collect();
    // As dockerd: local volumes without driver options (a mounted device or host directory is
    // not the daemon's space, and walking it could mean walking the host).
    let vols: Vec<_> = crate::volumes::list(d)?
        .into_iter()
        .filter(|v| v.driver == "local" && v.options.is_empty())
        .collect();
    let vol_dirs: Vec<std::path::PathBuf> =
        vols.iter().map(|v| v.mountpoint.clone().into()).collect();
    let (rw, vol_sizes) = tokio::task::spawn_blocking(move || {
        let rw: Vec<u64> = uppers
            .iter()
            .map(|(u, _)| u.as_deref().map(super::prune::disk_usage).unwrap_or(0))
            .collect();
        let vs: Vec<u64> = vol_dirs
            .iter()
            .map(|p| super::prune::disk_usage(p))
            .collect();
        (rw, vs)
    })
    .await
    .map_err(ApiError::internal)?;
    for (c, rw) in cs.iter_mut().zip(rw) {
        let base = usage
            .size
            .get(c["ImageID"].as_str().unwrap_or_default())
            .copied()
            .unwrap_or(0);
        c["SizeRw"] = json!(rw);
        c["SizeRootFs"] = json!(base + rw as i64);
    }
    let containers = d.containers.all();
    let parents = crate::images::parents(&images);
    // Newest first, as dockerd lists them.
    let mut by_age: Vec<&crate::images::Image> = images
        .values()
        .filter(|i| !(i.repo_tags().is_empty() && parents.contains(&i.id())))
        .collect();
    by_age.sort_by_key(|i| {
        std::cmp::Reverse(berth_image::config::created_time(
            i.info.config.created.as_deref(),
        ))
    });
    let imgs: Vec<_> = by_age
        .into_iter()
        .map(|i| {
            let n = containers.iter().filter(|c| c.image_id == i.id()).count();
            let size = usage.size.get(&i.id()).copied().unwrap_or(0);
            let mut v = json!({
                "Containers": n, "Created": created_unix(i.info.config.created.as_deref()), "Id": i.id(),
                "Labels": super::images::labels(i),
                "ParentId": i.info.config.parent.clone().unwrap_or_default(),
                "RepoDigests": i.repo_digests(), "RepoTags": i.repo_tags(),
                "SharedSize": usage.shared.get(&i.id()).copied().unwrap_or(0),
                "Size": size, "VirtualSize": size,
            });
            super::images::virtual_size(&mut v, api);
            v
        })
        .collect();
    ok_json(&json!({
        "LayersSize": usage.layers,
        "Images": imgs,
        "Containers": cs,
        "Volumes": vols
            .into_iter()
            .zip(vol_sizes)
            .map(|(v, size)| {
                let n = crate::volumes::users(d, &v.name).len();
                let mut j = serde_json::to_value(&v).unwrap_or_default();
                j["UsageData"] = json!({"RefCount": n, "Size": size});
                j
            })
            .collect::<Vec<_>>(),
        "BuildCache": super::build::cache_records(d)?,
    }))
}

/// Seconds since the epoch of an RFC 3339 time (0 if absent or malformed).
fn created_unix(ts: Option<&str>) -> i64 {
    ts.and_then(crate::time::parse_rfc3339)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `SecurityOptions` of `/info`.
fn security_options(d: &Daemon) -> Vec<&'static str> {
    let mut v = vec!["name=seccomp,profile=builtin"];
    if d.cfg.remap.is_some() {
        v.push("name=userns");
    }
    v
}

/// The swarm endpoints' first path segment.
pub fn is_swarm_path(first: &str) -> bool {
    matches!(
        first,
        "swarm" | "nodes" | "services" | "tasks" | "secrets" | "configs"
    )
}

/// What a dockerd that is not in a swarm answers there: 503, "not part of a swarm" for the calls
/// on the node's own membership, "not a swarm manager" for everything else; `init` and `join` are
/// refused with 503 too, since berthd has no swarm mode.
pub fn not_a_swarm_node(first: &str, rest: &[&str]) -> ApiError {
    let membership = first == "swarm" && matches!(rest, ["leave"] | ["update"] | ["unlockkey"]);
    if first == "swarm" && matches!(rest, ["init"] | ["join"]) {
        ApiError::Unavailable("berthd does not run swarm mode".into())
    } else if membership {
        ApiError::Unavailable("This node is not part of a swarm".into())
    } else {
        ApiError::Unavailable(
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" \
             to connect this node to swarm and try again."
                .into(),
        )
    }
}

/// `FirewallBackend` as dockerd 28 reports it: the driver, and for Berth the table or chains.
fn firewall_backend(d: &Daemon) -> serde_json::Value {
    if !d.cfg.iptables {
        return serde_json::Value::Null;
    }
    let prefix = crate::daemon::firewall_prefix(&d.cfg);
    if d.cfg.nftables {
        json!({"Driver": "nftables",
               "Info": [["Table", format!("inet {}", crate::daemon::nft_table(&prefix))]]})
    } else {
        json!({"Driver": "iptables", "Info": [["Chains", format!("{prefix}-*")]]})
    }
}
