//! Container endpoints: create, list, inspect, start, stop, restart, kill, wait, delete.

use crate::containers::model::{Container, Status};
use crate::containers::shim::Paths;
use crate::containers::spec::{MASKED_PATHS, READONLY_PATHS};
use crate::containers::{health, lifecycle};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::ReqBody;
use crate::http::{self, ok_json, Query, Resp};
use crate::time;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// `POST /containers/create?name=`.
pub async fn create(d: &Arc<Daemon>, q: &Query, req: Request<ReqBody>) -> ApiResult<Resp> {
    let body: Value = http::body_json(req.into_body(), http::CONFIG_BODY_LIMIT).await?;
    if !body.is_object() {
        return Err(ApiError::BadRequest(
            "invalid JSON: body must be an object".into(),
        ));
    }
    let (id, warnings) = crate::containers::create::create(d, q.get("name"), body).await?;
    crate::crash::point("create:stored");
    Ok(http::json_response(
        StatusCode::CREATED,
        &json!({"Id": id, "Warnings": warnings}),
    ))
}

fn command_line(c: &Container) -> String {
    c.spec
        .args
        .iter()
        .map(|a| {
            if a.is_empty() || a.contains(|ch: char| ch.is_whitespace() || "'\"$\\".contains(ch)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn since(ts: &str) -> String {
    time::parse_rfc3339(ts)
        .and_then(|t| t.elapsed().ok())
        .map(time::human_duration)
        .unwrap_or_else(|| "Less than a second".into())
}

fn status_line(c: &Container) -> String {
    match c.state.status {
        Status::Running if c.state.paused => format!("Up {} (Paused)", since(&c.state.started_at)),
        Status::Running => match c.state.health.as_ref().map(|h| h.status.as_str()) {
            Some(health::STARTING) => {
                format!("Up {} (health: starting)", since(&c.state.started_at))
            }
            Some(h) => format!("Up {} ({h})", since(&c.state.started_at)),
            None => format!("Up {}", since(&c.state.started_at)),
        },
        Status::Exited if c.state.restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            since(&c.state.finished_at)
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            since(&c.state.finished_at)
        ),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// `State`, with `Health` for a container that has a health check.
fn with_health(c: &Container, mut state: Value) -> Value {
    if let Some(h) = &c.state.health {
        state["Health"] = h.to_json();
    }
    state
}

fn unix(ts: &str) -> i64 {
    time::parse_rfc3339(ts)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `HostConfig.NetworkMode` as dockerd shows it: the default bridge as the request named it
/// (`bridge` for `--network bridge` and Compose's `network_mode: bridge`, else `default`).
fn network_mode(c: &Container) -> &str {
    match c.spec.network_mode.as_str() {
        "default" if c.host_config["NetworkMode"] == "bridge" => "bridge",
        other => other,
    }
}

fn mounts(c: &Container) -> Value {
    let tmpfs = c.spec.tmpfs_mounts.iter().map(|t| {
        json!({"Type": "tmpfs", "Source": "", "Destination": t.destination, "Mode": "",
            "RW": !t.readonly, "Propagation": ""})
    });
    json!(c
        .spec
        .binds
        .iter()
        .map(|b| {
            // Containers made before the mode was kept: what it most likely was.
            let mode = b.mode.clone().unwrap_or_else(|| {
                match (b.readonly, b.volume.is_some()) {
                    (true, _) => "ro",
                    (false, true) => "z",
                    (false, false) => "",
                }
                .into()
            });
            match &b.volume {
                Some(v) => json!({
                    "Type": "volume", "Name": v, "Source": b.source, "Destination": b.destination,
                    "Driver": "local", "Mode": mode, "RW": !b.readonly, "Propagation": "",
                }),
                None => json!({
                    "Type": "bind", "Source": b.source, "Destination": b.destination, "Mode": mode,
                    "RW": !b.readonly, "Propagation": b.propagation,
                }),
            }
        })
        .chain(tmpfs)
        .collect::<Vec<_>>())
}

fn filter_match(d: &Daemon, c: &Container, f: &http::Filters) -> ApiResult<bool> {
    for s in f.get("status") {
        if ![
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ]
        .contains(&s.as_str())
        {
            return Err(ApiError::BadRequest(format!("invalid filter 'status={s}'")));
        }
    }
    if !f.get("status").is_empty() && !f.get("status").iter().any(|s| s == c.status_str()) {
        return Ok(false);
    }
    for h in f.get("health") {
        if ![health::STARTING, health::HEALTHY, health::UNHEALTHY, "none"].contains(&h.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "Unrecognised filter value for health: {h}"
            )));
        }
    }
    if !f.get("health").is_empty() {
        let mine = match (&c.state.health, c.state.status) {
            (Some(h), Status::Running) => h.status.as_str(),
            _ => "none",
        };
        if !f.get("health").iter().any(|h| h == mine) {
            return Ok(false);
        }
    }
    if !f.get("id").is_empty() && !f.get("id").iter().any(|p| c.id.starts_with(p.as_str())) {
        return Ok(false);
    }
    // A regular expression over the name with and without its leading `/` (dockerd's; one that
    // does not compile matches nothing, as there).
    if !f.get("name").is_empty() {
        let slashed = format!("/{}", c.name);
        let ok = f.get("name").iter().any(|n| {
            regex::Regex::new(n).is_ok_and(|re| re.is_match(&slashed) || re.is_match(&c.name))
        });
        if !ok {
            return Ok(false);
        }
    }
    // `volume=`: a mount's volume name or its destination.
    if !f.get("volume").is_empty() {
        let m = mounts(c);
        let ok = f.get("volume").iter().any(|v| {
            m.as_array().into_iter().flatten().any(|m| {
                m["Name"].as_str() == Some(v.as_str())
                    || m["Destination"].as_str() == Some(v.as_str())
            })
        });
        if !ok {
            return Ok(false);
        }
    }
    // `network=`: a network the container is on, by name or ID.
    if !f.get("network").is_empty() {
        let nets = network_settings(d, c, (1, 47))["Networks"].clone();
        let ok = nets.as_object().into_iter().flatten().any(|(name, ep)| {
            f.get("network").iter().any(|want| {
                want == name
                    || ep["NetworkID"]
                        .as_str()
                        .is_some_and(|id| !id.is_empty() && id.starts_with(want.as_str()))
            })
        });
        if !ok {
            return Ok(false);
        }
    }
    // `publish=` / `expose=`: a port (`80`, `80/udp`, a range `8000-8080/tcp`) the container
    // publishes on the host / exposes, as its `Ports` list shows them (so only while it runs).
    let (publish, expose) = (port_filter(f, "publish")?, port_filter(f, "expose")?);
    if !publish.is_empty() || !expose.is_empty() {
        let ports = list_ports(c);
        let ok = ports.as_array().into_iter().flatten().any(|p| {
            let proto = p["Type"].as_str().unwrap_or("tcp").to_string();
            let port_of = |key: &str| p[key].as_u64().and_then(|n| u16::try_from(n).ok());
            port_of("PublicPort").is_some_and(|n| publish.contains(&(n, proto.clone())))
                || port_of("PrivatePort").is_some_and(|n| expose.contains(&(n, proto.clone())))
        });
        if !ok {
            return Ok(false);
        }
    }
    // Linux has one isolation, `default`; and outside a swarm no container is a task.
    if f.get("isolation").iter().any(|i| i != "default")
        || f.get("is-task").iter().any(|t| t == "true" || t == "1")
    {
        return Ok(false);
    }
    for (key, newer) in [("since", true), ("before", false)] {
        for other in f.get(key) {
            let o = d
                .containers
                .get(other)
                .map_err(|_| ApiError::NotFound(format!("No such container: {other}")))?;
            let keep = if newer {
                c.created > o.created
            } else {
                c.created < o.created
            };
            if !keep {
                return Ok(false);
            }
        }
    }
    let labels = c.labels();
    for want in f.get("label") {
        let ok = match want.split_once('=') {
            Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
            None => labels.contains_key(want),
        };
        if !ok {
            return Ok(false);
        }
    }
    if !f.get("exited").is_empty()
        && (c.state.status != Status::Exited
            || !f
                .get("exited")
                .iter()
                .any(|e| e.parse() == Ok(c.state.exit_code)))
    {
        return Ok(false);
    }
    if !f.get("ancestor").is_empty() {
        let ok = f.get("ancestor").iter().any(|a| {
            a == c.image_name()
                || crate::images::find(d, a)
                    .map(|i| i.id() == c.image_id)
                    .unwrap_or(false)
        });
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `GET /containers/json`.
pub fn list(d: &Daemon, q: &Query, api: (u32, u32)) -> ApiResult<Resp> {
    ok_json(&summaries(d, q, api, true)?)
}

/// The containers' summaries `GET /containers/json` answers with (newest first); `GET /system/df`
/// gives the same, without walking the writable layers here (`sizes`: false).
pub fn summaries(
    d: &Daemon,
    q: &Query,
    api: (u32, u32),
    sizes_here: bool,
) -> ApiResult<Vec<Value>> {
    let f = q.filters()?;
    f.only(&[
        "status",
        "id",
        "name",
        "label",
        "exited",
        "ancestor",
        "before",
        "since",
        "health",
        "volume",
        "network",
        "isolation",
        "is-task",
        "publish",
        "expose",
    ])?;
    let all = q.bool("all") || !f.get("status").is_empty() || !f.get("exited").is_empty();
    let mut cs: Vec<Container> = d.containers.all();
    cs.sort_by(|a, b| b.created.cmp(&a.created));
    let everyone = cs.clone();
    let mut out = Vec::new();
    for c in cs {
        if !all && !c.is_active() {
            continue;
        }
        if !filter_match(d, &c, &f)? {
            continue;
        }
        let mut entry = summary(d, &c, &everyone, api);
        if q.bool("size") && sizes_here {
            let (rw, root) = sizes(d, &c);
            entry["SizeRw"] = json!(rw);
            entry["SizeRootFs"] = json!(root);
        }
        out.push(entry);
    }
    if let Some(n) = q.int("limit")? {
        if n > 0 {
            out.truncate(n as usize);
        }
    }
    Ok(out)
}

/// A container as `GET /containers/json` (and `system df`) lists it; `everyone` for link names.
pub fn summary(d: &Daemon, c: &Container, everyone: &[Container], api: (u32, u32)) -> Value {
    json!({
        "Id": c.id,
        "Names": std::iter::once(format!("/{}", c.name))
            .chain(crate::containers::links::link_names(everyone, &c.id))
            .collect::<Vec<_>>(),
        "Image": c.image_name(),
        "ImageID": c.image_id,
        "Command": command_line(c),
        "Created": unix(&c.created),
        "Ports": list_ports(c),
        "Labels": c.labels(),
        "State": c.status_str(),
        "Status": status_line(c),
        "HostConfig": {"NetworkMode": network_mode(c)},
        "NetworkSettings": {"Networks": network_settings(d, c, api)["Networks"].clone()},
        "Mounts": mounts(c),
    })
}

/// `NetworkSettings` of inspect: the bridge endpoint while it runs, Docker's
/// shape (top-level fields for the default network, and `Networks.bridge`).
fn network_settings(d: &Daemon, c: &Container, api: (u32, u32)) -> Value {
    let bridge_id = d.networks.find("bridge").map(|n| n.id).unwrap_or_default();
    // As dockerd: ports only while the container runs with an endpoint that maps them (not
    // created, stopped, or on the host or no network).
    let mapped = c.state.status == Status::Running
        && (c.state.network.is_some() || !c.state.endpoints.is_empty());
    let mut ports = serde_json::Map::new();
    for key in c.config["ExposedPorts"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|_| mapped)
    {
        ports.insert(key.clone(), Value::Null);
    }
    let mut ns = json!({
        "Bridge": "", "SandboxID": "", "HairpinMode": false, "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0, "Ports": {}, "SandboxKey": "", "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        "Networks": {},
    });
    let user = user_endpoints(c, api);
    let published = c
        .state
        .network
        .as_ref()
        .or_else(|| c.state.endpoints.values().find(|a| !a.ports.is_empty()))
        .filter(|_| mapped);
    for p in published.iter().flat_map(|a| a.ports.iter()) {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let entry = ports.entry(key).or_insert_with(|| json!([]));
        if !entry.is_array() {
            *entry = json!([]);
        }
        let list = entry.as_array_mut().expect("array");
        for ip in binding_ips(p) {
            list.push(json!({"HostIp": ip, "HostPort": p.host_port.to_string()}));
        }
    }
    let Some(att) = &c.state.network else {
        ns["Ports"] = Value::Object(ports);
        if !c.spec.networks.is_empty() {
            ns["Networks"] = user;
            return ns;
        }
        // As dockerd: the network a container is configured for is listed while it is not
        // connected too (stopped, or `none`/`host`, which have no endpoint of their own).
        let net = match c.spec.network_mode.as_str() {
            "default" => "bridge",
            "none" => "none",
            "host" => "host",
            _ => return ns,
        };
        ns["Networks"] = json!({ net: {
            "IPAMConfig": null, "Links": null, "Aliases": null,
            "NetworkID": if net == "bridge" { bridge_id.as_str() } else { "" }, "EndpointID": "",
            "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "MacAddress": c.spec.mac_address.clone().unwrap_or_default(),
            "DriverOpts": null,
        }});
        if net == "bridge" {
            echo_bridge_endpoint(c, &mut ns["Networks"]["bridge"]);
        }
        return ns;
    };
    let e = &att.endpoint;
    let endpoint = json!({
        "IPAMConfig": null, "Links": null, "Aliases": null, "NetworkID": bridge_id, "EndpointID": c.id,
        "Gateway": e.gateway.to_string(), "IPAddress": e.address.to_string(), "IPPrefixLen": e.prefix,
        "IPv6Gateway": att.ipv6.map(|v| v.gateway.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": att.ipv6.map(|v| v.address.to_string()).unwrap_or_default(),
        "GlobalIPv6PrefixLen": att.ipv6.map(|v| v.prefix).unwrap_or(0), "MacAddress": e.mac,
        "DriverOpts": null,
    });
    ns["Ports"] = Value::Object(ports);
    ns["Gateway"] = json!(e.gateway.to_string());
    ns["IPAddress"] = json!(e.address.to_string());
    ns["IPPrefixLen"] = json!(e.prefix);
    ns["MacAddress"] = json!(e.mac);
    ns["EndpointID"] = json!(c.id);
    if let Some(v) = att.ipv6 {
        ns["GlobalIPv6Address"] = json!(v.address.to_string());
        ns["GlobalIPv6PrefixLen"] = json!(v.prefix);
        ns["IPv6Gateway"] = json!(v.gateway.to_string());
    }
    let mut nets = user;
    nets["bridge"] = endpoint;
    echo_bridge_endpoint(c, &mut nets["bridge"]);
    ns["Networks"] = nets;
    ns
}

/// The default bridge's `IPAMConfig` and `DriverOpts` as the container was created with.
fn echo_bridge_endpoint(c: &Container, entry: &mut Value) {
    if let Some(asked) = &c.spec.bridge_endpoint {
        for k in ["IPAMConfig", "DriverOpts"] {
            if !asked[k].is_null() {
                entry[k] = asked[k].clone();
            }
        }
    }
}

/// `NetworkSettings.Networks` entries of the user networks (addresses while it runs). A client
/// of API 1.44 or older also finds the container's short id among the `Aliases`, as dockerd
/// lists it there for them (newer ones find it in `DNSNames` only).
fn user_endpoints(c: &Container, api: (u32, u32)) -> Value {
    let mut out = serde_json::Map::new();
    for (id, e) in &c.spec.networks {
        let mut aliases = e.aliases.clone();
        let short = &c.id[..12.min(c.id.len())];
        if api < (1, 45) && !aliases.iter().any(|a| a == short) {
            aliases.push(short.to_string());
        }
        let v6 = c.state.endpoints.get(id).and_then(|a| a.ipv6);
        let att = c.state.endpoints.get(id).map(|a| &a.endpoint);
        let ipam = if e.ipv4.is_none() && e.ipv6.is_none() {
            Value::Null
        } else {
            let mut m = serde_json::Map::new();
            if let Some(ip) = e.ipv4 {
                m.insert("IPv4Address".into(), json!(ip.to_string()));
            }
            if let Some(ip) = e.ipv6 {
                m.insert("IPv6Address".into(), json!(ip.to_string()));
            }
            Value::Object(m)
        };
        out.insert(
            e.network.clone(),
            json!({
                "IPAMConfig": ipam,
                "Links": if e.links.is_empty() { Value::Null } else { json!(e.links) },
                "Aliases": if aliases.is_empty() { Value::Null } else { json!(aliases) },
                "MacAddress": att.map(|a| a.mac.clone()).or(e.mac.clone()).unwrap_or_default(),
                "DriverOpts": if e.driver_opts.is_empty() { Value::Null } else { json!(e.driver_opts) },
                "NetworkID": id,
                "EndpointID": if att.is_some() { e.endpoint_id.as_str() } else { "" },
                "Gateway": att.map(|a| a.gateway.to_string()).unwrap_or_default(),
                "IPAddress": att.map(|a| a.address.to_string()).unwrap_or_default(),
                "IPPrefixLen": att.map(|a| a.prefix).unwrap_or(0),
                "IPv6Gateway": v6.map(|v| v.gateway.to_string()).unwrap_or_default(),
                "GlobalIPv6Address": v6.map(|v| v.address.to_string()).unwrap_or_default(),
                "GlobalIPv6PrefixLen": v6.map(|v| v.prefix).unwrap_or(0),
                "DNSNames": crate::containers::netconn::dns_names(c, e),
            }),
        );
    }
    Value::Object(out)
}

/// `Ports` of the container list: the published ports, and while the container is on a network
/// the exposed ones nothing publishes (`PrivatePort` alone; `docker ps` shows `81/tcp`), as dockerd.
/// The ports a `publish=` or `expose=` filter names, as dockerd reads them: `PORT[/PROTO]` or
/// `START-END[/PROTO]`, the protocol `tcp` when left out.
fn port_filter(f: &http::Filters, key: &str) -> ApiResult<HashSet<(u16, String)>> {
    let mut out = HashSet::new();
    for value in f.get(key) {
        if value.contains(':') {
            return Err(ApiError::BadRequest(format!(
                "filter for '{key}' should not contain ':': {value}"
            )));
        }
        let (range, proto) = value.split_once('/').unwrap_or((value.as_str(), "tcp"));
        let bad = |why: String| {
            ApiError::BadRequest(format!("error while looking up for {key} {value}: {why}"))
        };
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| bad(format!("invalid port {p:?}")))
        };
        let (start, end) = match range.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(range)?, port(range)?),
        };
        if end < start {
            return Err(bad(format!(
                "Invalid range specified for the Port: {range}"
            )));
        }
        for port in start..=end {
            out.insert((port, proto.to_ascii_lowercase()));
        }
    }
    Ok(out)
}

/// The host addresses a published port is bound to, as dockerd lists them: its own, or for one
/// without `0.0.0.0` and, on a host with IPv6 (the relay's socket is dual-stack), `::` too.
fn binding_ips(p: &berth_net::PortMapping) -> Vec<String> {
    match p.host_ip {
        Some(ip) => vec![ip.to_string()],
        None if berth_net::any_address_dual_stack() => vec!["0.0.0.0".into(), "::".into()],
        None => vec!["0.0.0.0".into()],
    }
}

fn list_ports(c: &Container) -> Value {
    let mut out = Vec::new();
    let published = c
        .state
        .network
        .as_ref()
        .or_else(|| c.state.endpoints.values().find(|a| !a.ports.is_empty()));
    if let Some(att) = published {
        for p in &att.ports {
            for ip in binding_ips(p) {
                out.push(json!({
                    "IP": ip, "PrivatePort": p.container_port, "PublicPort": p.host_port,
                    "Type": p.protocol,
                }));
            }
        }
    }
    if c.state.network.is_some() || !c.state.endpoints.is_empty() {
        let exposed = c.config["ExposedPorts"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(|k| {
                let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                Some((port.parse::<u16>().ok()?, proto.to_string()))
            });
        for (port, proto) in exposed {
            if !out
                .iter()
                .any(|p| p["PrivatePort"] == port && p["Type"] == proto.as_str())
            {
                out.push(json!({"PrivatePort": port, "Type": proto}));
            }
        }
    }
    Value::Array(out)
}

fn host_config(c: &Container) -> Value {
    let mut hc = json!({
        "Binds": null, "ContainerIDFile": "",
        "LogConfig": {"Type": c.spec.log.driver_name(), "Config": c.spec.log.options},
        "NetworkMode": network_mode(c), "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0], "CapAdd": null,
        "CapDrop": null, "CgroupnsMode": "host", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": null,
        "GroupAdd": null, "IpcMode": "private", "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "",
        "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null,
        "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864, "Runtime": c.runtime, "Isolation": "",
        "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
        "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
        "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": null, "OomKillDisable": false, "PidsLimit": null, "Ulimits": [], "CpuCount": 0,
        "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": if c.spec.privileged { json!(null) } else { json!(MASKED_PATHS) },
        "ReadonlyPaths": if c.spec.privileged { json!(null) } else { json!(READONLY_PATHS) },
    });
    if let (Some(o), Some(given)) = (hc.as_object_mut(), c.host_config.as_object()) {
        for (k, v) in given {
            let keep_default = v.is_null()
                || matches!(
                    k.as_str(),
                    "LogConfig" | "NetworkMode" | "Runtime" | "MaskedPaths" | "ReadonlyPaths"
                )
                || (k == "ShmSize" && v.as_i64() == Some(0))
                || (k == "IpcMode" && v.as_str() == Some(""))
                || (k == "CgroupnsMode" && v.as_str() == Some(""));
            if !keep_default {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    in_order(&mut hc, crate::containers::create::HOST_CONFIG_FIELDS);
    hc
}

/// Put an object's keys named in `order` first, in that order; the others follow as they were.
pub(super) fn in_order(v: &mut Value, order: &[&str]) {
    let Some(o) = v.as_object_mut() else {
        return;
    };
    let mut rest = std::mem::take(o);
    for k in order {
        if let Some(x) = rest.shift_remove(*k) {
            o.insert((*k).to_string(), x);
        }
    }
    o.extend(rest);
}

/// `GET /containers/{id}/json`.
/// `SizeRw` and `SizeRootFs` (`size=1` of list and inspect): the bytes in the container's own
/// layer, and those plus its image's.
fn sizes(d: &Daemon, c: &Container) -> (i64, i64) {
    let rw = d
        .snap
        .upper_dir(&c.id)
        .map(|u| crate::containers::removal::blocking_here(|| super::prune::disk_usage(&u)))
        .unwrap_or(0) as i64;
    let image = crate::images::find(d, &c.image_id).map_or(0, |i| i.size(&d.images));
    (rw, image + rw)
}

/// `GraphDriver.Data` as dockerd's overlay2 shows it: the lower (the image's init layer and
/// layers, top first), upper, work and merged directories of the container's snapshot.
fn graph_data(d: &Daemon, id: &str, merged: &std::path::Path, upper: String) -> Value {
    // dockerd's order: LowerDir, MergedDir, UpperDir, WorkDir.
    let mut data =
        json!({"LowerDir": null, "MergedDir": merged, "UpperDir": upper, "WorkDir": null});
    let mounts = berth_image::snapshot::Snapshotter::mounts(&d.snap, id).unwrap_or_default();
    for o in mounts.iter().flat_map(|m| m.options.iter()) {
        for (opt, key) in [("lowerdir=", "LowerDir"), ("workdir=", "WorkDir")] {
            if let Some(v) = o.strip_prefix(opt) {
                data[key] = json!(v);
            }
        }
    }
    if let Some(o) = data.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    data
}

pub fn inspect(d: &Daemon, key: &str, api: (u32, u32), size: bool) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    let p = Paths::new(d, &c.id, &c.runtime);
    let s = &c.state;
    let upper = d
        .snap
        .upper_dir(&c.id)
        .map(|u| u.display().to_string())
        .unwrap_or_default();
    let mut config = c.config.clone();
    if let Some(o) = config.as_object_mut() {
        for k in [
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "Tty",
            "OpenStdin",
            "StdinOnce",
        ] {
            o.entry(k).or_insert(json!(false));
        }
        o.entry("Domainname").or_insert(json!(""));
        o.entry("Volumes").or_insert(Value::Null);
        o.entry("OnBuild").or_insert(Value::Null);
    }
    // In dockerd's order whatever order the client sent the fields in.
    in_order(&mut config, crate::containers::create::CONFIG_FIELDS);
    let mut hc = host_config(&c);
    // API 1.42 deprecated kernel memory; dockerd shows the fields before that.
    if api < (1, 42) {
        if let Some(o) = hc.as_object_mut() {
            for k in ["KernelMemory", "KernelMemoryTCP"] {
                o.entry(k).or_insert(json!(0));
            }
        }
    }
    let links = crate::containers::links::inspect_form(d, &c);
    hc["Links"] = if links.is_empty() {
        Value::Null
    } else {
        json!(links)
    };
    let mut out = json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path(),
        "Args": c.args(),
        "State": with_health(&c, json!({
            "Status": c.status_str(),
            "Running": c.is_active(),
            "Paused": s.paused,
            "Restarting": c.is_restarting(),
            "OOMKilled": false,
            "Dead": s.status == Status::Dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
        })),
        "Image": c.image_id,
        "ResolvConfPath": p.dir.join("resolv.conf"),
        "HostnamePath": p.dir.join("hostname"),
        "HostsPath": p.dir.join("hosts"),
        "LogPath": if c.spec.log.readable() && !c.spec.log.is_remote() { json!(p.log) } else { json!("") },
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": hc,
        "GraphDriver": {"Data": graph_data(d, &c.id, &p.rootfs, upper), "Name": "overlay2"},
        "Mounts": mounts(&c),
        "Config": config,
        "NetworkSettings": network_settings(d, &c, api),
    });
    if size {
        let (rw, root) = sizes(d, &c);
        out["SizeRw"] = json!(rw);
        out["SizeRootFs"] = json!(root);
    }
    ok_json(&out)
}

/// `POST /containers/{id}/start`.
pub async fn start(d: &Arc<Daemon>, key: &str) -> ApiResult<Resp> {
    lifecycle::start(d, key).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/stop?t=&signal=`.
pub async fn stop(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let t = q.int("t")?.or(q.int("timeout")?);
    lifecycle::stop(d, key, t, q.get("signal")).await?;
    if let Ok(c) = d.containers.get(key) {
        d.events.emit(
            "container",
            "stop",
            &c.id,
            crate::events::container_attrs(&c),
        );
    }
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let t = q.int("t")?.or(q.int("timeout")?);
    match lifecycle::stop(d, key, t, q.get("signal")).await {
        Ok(()) => {
            if let Ok(c) = d.containers.get(key) {
                d.events.container(&c, "stop", &[]);
            }
        }
        Err(ApiError::NotModified) => {}
        Err(e) => return Err(e),
    }
    // RestartCount counts the restart policy's restarts only: dockerd leaves it as it is here.
    let id = d.containers.id_of(key)?;
    lifecycle::start(d, &id).await?;
    if let Ok(c) = d.containers.get(&id) {
        d.events.container(&c, "restart", &[]);
    }
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    // As dockerd: the signal is checked first; what goes wrong after names the container.
    let signal = q.get("signal").unwrap_or("");
    lifecycle::signal_arg(signal)?;
    lifecycle::kill(d, key, signal)
        .await
        .map_err(|e| e.context(&format!("Cannot kill container: {key}")))?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `DELETE /containers/{id}?force=&v=&link=` (`{id}` is `parent/alias` to remove a link).
pub async fn delete(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    if q.bool("link") {
        crate::containers::links::remove(d, key).await?;
        return Ok(http::empty(StatusCode::NO_CONTENT));
    }
    lifecycle::remove_settled(d, key, q.bool("force"), q.bool("v")).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/wait?condition=`: headers at once, `{"Error":null,"StatusCode":N}` when done.
pub async fn wait(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let cond = q.get("condition").unwrap_or("not-running").to_string();
    if !["not-running", "next-exit", "removed", ""].contains(&cond.as_str()) {
        return Err(ApiError::BadRequest(format!("invalid condition: {cond:?}")));
    }
    let mut rx = match d.containers.subscribe(key)? {
        Ok(rx) => rx,
        Err(code) => {
            return ok_json(&json!({"Error": null, "StatusCode": code}));
        }
    };
    let start = *rx.borrow();
    let (tx, resp) = http::streamed(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let done = rx
            .wait_for(|e| match cond.as_str() {
                "next-exit" => e.exits > start.exits || e.removed,
                "removed" => e.removed,
                _ => !e.running || e.removed,
            })
            .await
            .map(|e| *e);
        let code = match done {
            Ok(e) => e.exit_code,
            Err(_) => rx.borrow().exit_code,
        };
        let body = format!("{}\n", json!({"Error": null, "StatusCode": code}));
        let _ = tx.send(bytes::Bytes::from(body)).await;
    });
    Ok(resp)
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    // dockerd's order: both names given, the container found, then the new name checked.
    let asked = q.get("name").unwrap_or("");
    if asked.is_empty() || key.is_empty() {
        return Err(ApiError::BadRequest(
            "Neither old nor new names may be empty".to_string(),
        ));
    }
    let id = d.containers.id_of(key)?;
    let lock = d.containers.op_lock(&id)?;
    let _g = lock.lock().await;
    let old = d.containers.get(&id)?;
    if asked.strip_prefix('/').unwrap_or(asked) == old.name {
        return Err(ApiError::BadRequest(
            "Renaming a container with the same name as its current name".to_string(),
        ));
    }
    let slashed = format!("/{}", asked.strip_prefix('/').unwrap_or(asked));
    let new = crate::containers::model::validate_name(&slashed)
        .map_err(|e| ApiError::BadRequest(format!("Error when allocating new name: {e}")))?;
    if let Some(owner) = d.containers.name_owner(&new) {
        return Err(ApiError::Conflict(format!(
            "Error when allocating new name: Conflict. The container name \"/{new}\" is already \
             in use by container \"{owner}\". You have to remove (or rename) that container to be \
             able to reuse that name."
        )));
    }
    let c = d.containers.modify(&id, |c| c.name = new.clone())?;
    if let Err(e) = d.db.update(&c.id, &c.name, &c) {
        let _ = d.containers.modify(&id, |c| c.name = old.name.clone());
        return Err(ApiError::internal(e));
    }
    crate::containers::netconn::renamed(d, &c);
    let mut attrs = crate::events::container_attrs(&c);
    attrs.insert("oldName".into(), format!("/{}", old.name));
    d.events.emit("container", "rename", &c.id, attrs);
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/prune`: remove every container that is not running.
pub async fn prune(d: &Arc<Daemon>, q: &Query) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["label", "label!", "until"])?;
    let until = super::prune::until(&f)?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in d.containers.all() {
        if c.state.status == Status::Running
            || !super::prune::labels_match(&f, &c.labels())
            || !super::prune::created_before(Some(&c.created), until)
        {
            continue;
        }
        let size = match d.snap.upper_dir(&c.id) {
            Ok(u) => tokio::task::spawn_blocking(move || super::prune::disk_usage(&u))
                .await
                .unwrap_or(0),
            Err(_) => 0,
        };
        match lifecycle::remove(d, &c.id, false, false).await {
            Ok(()) => {
                deleted.push(c.id);
                reclaimed += size;
            }
            Err(ApiError::NotFound(_)) => {}
            Err(e) => crate::log!(2, "prune {}: {e}", c.id),
        }
    }
    ok_json(&json!({
        "ContainersDeleted": if deleted.is_empty() { json!(null) } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    }))
}

/// `POST /containers/{id}/pause` and `/unpause`.
pub async fn pause(d: &Arc<Daemon>, key: &str, pause: bool) -> ApiResult<Resp> {
    lifecycle::pause(d, key, pause).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/update`.
pub async fn update(d: &Arc<Daemon>, key: &str, req: Request<ReqBody>) -> ApiResult<Resp> {
    let body: Value = http::body_json(req.into_body(), http::SMALL_BODY_LIMIT).await?;
    let warnings = crate::containers::update::update(d, key, body).await?;
    if let Ok(c) = d.containers.get(key) {
        d.events.container(&c, "update", &[]);
    }
    // dockerd answers null, not [], when there is nothing to warn about.
    let warnings = if warnings.is_empty() {
        Value::Null
    } else {
        json!(warnings)
    };
    ok_json(&json!({ "Warnings": warnings }))
}
