//! Network endpoints: list, inspect, create, remove, prune, connect and
//! disconnect. The model lives in berth-net; this module translates between
//! it and moby's JSON shapes, and asks the containers which are on what.

use crate::containers::model::{Container, EndpointRequest};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::ReqBody;
use crate::http::{self, ok_json, Query, Resp};
use berth_net::model::{CreateRequest, NetworkConfig, PoolRequest};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The containers on a network: (container, address/prefix, mac, endpoint id).
fn members(d: &Daemon, net: &NetworkConfig) -> Vec<(Container, String, String, String, String)> {
    let mut out = Vec::new();
    for c in d.containers.all() {
        if net.predefined && net.name == "bridge" {
            if let Some(att) = &c.state.network {
                let e = &att.endpoint;
                out.push((
                    c.clone(),
                    format!("{}/{}", e.address, e.prefix),
                    e.mac.clone(),
                    c.id.clone(),
                    v6_cidr(att),
                ));
            }
        } else if let (Some(att), Some(spec)) =
            (c.state.endpoints.get(&net.id), c.spec.networks.get(&net.id))
        {
            let e = &att.endpoint;
            out.push((
                c.clone(),
                format!("{}/{}", e.address, e.prefix),
                e.mac.clone(),
                spec.endpoint_id.clone(),
                v6_cidr(att),
            ));
        }
    }
    out
}

/// Whether any container (running or not) is configured for the network.
fn configured(d: &Daemon, net: &NetworkConfig) -> bool {
    d.containers.all().iter().any(|c| {
        c.spec.networks.contains_key(&net.id) || (net.predefined && c.spec.network_mode == net.name)
    })
}

/// `addr/prefix` of an endpoint's IPv6 address, or "".
fn v6_cidr(att: &berth_net::Attachment) -> String {
    att.ipv6
        .map(|v| format!("{}/{}", v.address, v.prefix))
        .unwrap_or_default()
}

/// moby's `Network` object.
fn network_json(d: &Daemon, net: &NetworkConfig, with_containers: bool) -> Value {
    let config: Vec<Value> = net
        .pools
        .iter()
        .map(|p| {
            let mut v = json!({"Subnet": p.subnet.to_string(), "Gateway": p.gateway.to_string()});
            if let Some(r) = p.ip_range {
                v["IPRange"] = json!(r.to_string());
            }
            if !p.aux.is_empty() {
                let aux: BTreeMap<&String, String> =
                    p.aux.iter().map(|(k, a)| (k, a.to_string())).collect();
                v["AuxiliaryAddresses"] = json!(aux);
            }
            v
        })
        .chain(net.pools6.iter().map(|p| {
            let mut v = json!({"Subnet": p.subnet.to_string(), "Gateway": p.gateway.to_string()});
            if let Some(r) = p.ip_range {
                v["IPRange"] = json!(r.to_string());
            }
            v
        }))
        .collect();
    let mut containers = serde_json::Map::new();
    if with_containers {
        for (c, addr, mac, eid, addr6) in members(d, net) {
            containers.insert(
                c.id.clone(),
                json!({"Name": c.name, "EndpointID": eid, "MacAddress": mac,
                       "IPv4Address": addr, "IPv6Address": addr6}),
            );
        }
    }
    json!({
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": net.scope,
        "Driver": net.driver,
        "EnableIPv4": true,
        "EnableIPv6": net.enable_ipv6,
        "IPAM": {
            "Driver": net.ipam_driver,
            "Options": net.ipam_options,
            "Config": config,
        },
        "Internal": net.internal,
        "Attachable": net.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": net.options,
        "Labels": net.labels,
    })
}

fn label_match(net: &NetworkConfig, wants: &[String]) -> bool {
    wants.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => net.labels.get(k).map(String::as_str) == Some(v),
        None => net.labels.contains_key(w),
    })
}

/// `GET /networks?filters=`.
pub async fn list(d: &Daemon, q: &Query) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["driver", "id", "label", "name", "scope", "type", "dangling"])?;
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let v = f.get(key);
        v.is_empty() || v.iter().any(|x| pred(x))
    };
    for t in f.get("type") {
        if t != "custom" && t != "builtin" {
            return Err(ApiError::BadRequest(format!(
                "invalid filter: 'type'='{t}'"
            )));
        }
    }
    let mut out = Vec::new();
    for net in d.networks.list().into_iter().filter(|n| !disabled(n)) {
        let keep = any("driver", &|x| x == net.driver)
            && any("id", &|x| net.id.starts_with(x))
            && any("name", &|x| net.name.contains(x))
            && any("scope", &|x| x == net.scope)
            && any("type", &|x| x == net.kind())
            && label_match(&net, f.get("label"))
            && match f.get("dangling").first().map(String::as_str) {
                None => true,
                Some(v) => {
                    let dangling = !net.predefined && !configured(d, &net);
                    (v == "true" || v == "1") == dangling
                }
            };
        if keep {
            out.push(network_json(d, &net, false));
        }
    }
    ok_json(&out)
}

/// The default bridge of a berthd started with `--bridge none`: dockerd then has no `bridge`
/// network, so it is neither listed nor inspected.
fn disabled(net: &NetworkConfig) -> bool {
    net.predefined && net.name == "bridge" && net.bridge.is_empty()
}

/// `GET /networks/{id}`.
pub async fn inspect(d: &Daemon, key: &str) -> ApiResult<Resp> {
    let net = d.networks.find(key)?;
    if disabled(&net) {
        return Err(ApiError::NotFound(format!("network {key} not found")));
    }
    ok_json(&network_json(d, &net, true))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: Option<String>,
    internal: bool,
    attachable: bool,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM")]
    ipam: Option<IpamBody>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    /// Ignored: a clash is always refused (as dockerd does since API 1.44).
    #[allow(dead_code)]
    check_duplicate: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct IpamBody {
    driver: Option<String>,
    config: Option<Vec<PoolBody>>,
    options: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PoolBody {
    subnet: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
    gateway: Option<String>,
    auxiliary_addresses: Option<BTreeMap<String, String>>,
}

/// `POST /networks/create`: 201 `{"Id", "Warning"}`.
pub async fn create(d: &Arc<Daemon>, body: ReqBody) -> ApiResult<Resp> {
    let b: CreateBody = http::body_json(body, http::SMALL_BODY_LIMIT).await?;
    let ipam = b.ipam.unwrap_or_default();
    let req = CreateRequest {
        name: b.name,
        driver: b.driver.unwrap_or_default(),
        internal: b.internal,
        attachable: b.attachable,
        enable_ipv6: b.enable_ipv6.unwrap_or(false),
        ipam_driver: ipam.driver.unwrap_or_default(),
        ipam_options: ipam.options,
        pools: ipam
            .config
            .unwrap_or_default()
            .into_iter()
            .map(|p| PoolRequest {
                subnet: p.subnet,
                ip_range: p.ip_range,
                gateway: p.gateway,
                aux: p.auxiliary_addresses.unwrap_or_default(),
            })
            .collect(),
        options: b.options.unwrap_or_default(),
        labels: b.labels.unwrap_or_default(),
    };
    let d2 = d.clone();
    let net = tokio::task::spawn_blocking(move || d2.networks.create(req))
        .await
        .map_err(ApiError::internal)??;
    emit(d, "create", &net, None);
    Ok(http::json_response(
        StatusCode::CREATED,
        &json!({"Id": net.id, "Warning": ""}),
    ))
}

fn emit(d: &Daemon, action: &str, net: &NetworkConfig, container: Option<&str>) {
    let mut attrs = BTreeMap::new();
    attrs.insert("name".to_string(), net.name.clone());
    attrs.insert("type".to_string(), net.driver.clone());
    if let Some(c) = container {
        attrs.insert("container".to_string(), c.to_string());
    }
    d.events.emit("network", action, &net.id, attrs);
}

/// Remove one network: 403 for the predefined ones, 409 while containers are on it.
async fn remove_one(d: &Arc<Daemon>, net: &NetworkConfig) -> ApiResult<()> {
    if net.predefined {
        return Err(ApiError::Forbidden(format!(
            "{} is a pre-defined network and cannot be removed",
            net.name
        )));
    }
    if !members(d, net).is_empty() {
        return Err(ApiError::Conflict(format!(
            "error while removing network: network {} id {} has active endpoints",
            net.name, net.id
        )));
    }
    let (d2, id) = (d.clone(), net.id.clone());
    tokio::task::spawn_blocking(move || d2.networks.remove(&id))
        .await
        .map_err(ApiError::internal)??;
    // Stopped containers configured for it lose the endpoint, as with dockerd.
    for c in d.containers.all() {
        if c.spec.networks.contains_key(&net.id) {
            if let Ok(c) = d.containers.modify(&c.id, |c| {
                c.spec.networks.remove(&net.id);
            }) {
                let _ = d.db.update(&c.id, &c.name, &c);
            }
        }
    }
    emit(d, "destroy", net, None);
    Ok(())
}

/// `DELETE /networks/{id}`.
pub async fn delete(d: &Arc<Daemon>, key: &str) -> ApiResult<Resp> {
    let net = d.networks.find(key)?;
    remove_one(d, &net).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /networks/prune`: user networks no container is configured for.
pub async fn prune(d: &Arc<Daemon>, q: &Query) -> ApiResult<Resp> {
    let f = q.filters()?;
    f.only(&["label", "until"])?;
    let until = crate::api::prune::until(&f)?;
    let mut deleted = Vec::new();
    for net in d.networks.list() {
        if net.predefined || configured(d, &net) || !label_match(&net, f.get("label")) {
            continue;
        }
        if !crate::api::prune::created_before(Some(&net.created), until) {
            continue;
        }
        if remove_one(d, &net).await.is_ok() {
            deleted.push(net.name.clone());
        }
    }
    ok_json(&json!({ "NetworksDeleted": deleted }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointRequest>,
    force: bool,
}

/// `POST /networks/{id}/connect`.
pub async fn connect(d: &Arc<Daemon>, key: &str, body: ReqBody) -> ApiResult<Resp> {
    let b: ConnectBody = http::body_json(body, http::SMALL_BODY_LIMIT).await?;
    if b.container.is_empty() {
        return Err(ApiError::BadRequest("no container given".into()));
    }
    crate::containers::netconn::connect(d, key, &b.container, b.endpoint_config).await?;
    Ok(http::empty(StatusCode::OK))
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(d: &Arc<Daemon>, key: &str, body: ReqBody) -> ApiResult<Resp> {
    let b: ConnectBody = http::body_json(body, http::SMALL_BODY_LIMIT).await?;
    if b.container.is_empty() {
        return Err(ApiError::BadRequest("no container given".into()));
    }
    crate::containers::netconn::disconnect(d, key, &b.container, b.force).await?;
    Ok(http::empty(StatusCode::OK))
}
