//! `berth network`: create, ls, inspect, rm, connect, disconnect, prune, with docker's flags and
//! output.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::listfmt::{self, ListFormat};
use super::ordered::Json;
use super::{confirm, each, key_values, short_id};
use crate::client::{q, Body, Client};

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show low-level information on networks
    Inspect(super::inspect::FormatArgs),
    /// Remove networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect {
        /// Force the container to disconnect
        #[arg(short = 'f', long)]
        force: bool,
        network: String,
        container: String,
    },
    /// Remove all unused networks
    Prune(super::PruneArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the network
    #[arg(short = 'd', long, default_value = "bridge")]
    driver: String,
    /// Driver specific options (KEY=VALUE)
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Subnet in CIDR format
    #[arg(long)]
    subnet: Vec<String>,
    /// Gateway for the subnet
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate container addresses from a sub-range
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// IP address management driver
    #[arg(long = "ipam-driver", default_value = "default")]
    ipam_driver: String,
    /// IPAM driver options (KEY=VALUE)
    #[arg(long = "ipam-opt")]
    ipam_opt: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Enable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// Metadata (KEY=VALUE)
    #[arg(long = "label")]
    labels: Vec<String>,
    name: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only show network ids
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Filter output (driver=, name=, id=, label=, type=custom|builtin, dangling=true)
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template (e.g. '{{.Name}}')
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address
    #[arg(long)]
    ip6: Option<String>,
    /// Add a link to another container (NAME[:ALIAS])
    #[arg(long)]
    link: Vec<String>,
    network: String,
    container: String,
}

pub fn main(c: &Client, cmd: &NetworkCmd) -> Result<i32> {
    match cmd {
        NetworkCmd::Create(a) => create(c, a),
        NetworkCmd::Ls(a) => ls(c, a),
        NetworkCmd::Inspect(a) => {
            super::inspect::objects(c, super::inspect::Kind::Network, false, a)
        }
        NetworkCmd::Rm { networks } => each(networks, |n| {
            c.request("DELETE", &format!("/networks/{}", q(n)), &[], Body::Empty)?
                .ok()?;
            Ok(())
        }),
        NetworkCmd::Connect(a) => {
            let mut ipam = Map::new();
            if let Some(ip) = &a.ip {
                ipam.insert("IPv4Address".into(), json!(ip));
            }
            if let Some(ip) = &a.ip6 {
                ipam.insert("IPv6Address".into(), json!(ip));
            }
            let mut endpoint = json!({"Aliases": a.alias, "Links": a.link});
            if !ipam.is_empty() {
                endpoint["IPAMConfig"] = Value::Object(ipam);
            }
            c.post(
                &format!("/networks/{}/connect", q(&a.network)),
                json!({"Container": a.container, "EndpointConfig": endpoint}),
            )?;
            Ok(0)
        }
        NetworkCmd::Disconnect {
            force,
            network,
            container,
        } => {
            c.post(
                &format!("/networks/{}/disconnect", q(network)),
                json!({"Container": container, "Force": force}),
            )?;
            Ok(0)
        }
        NetworkCmd::Prune(a) => {
            if !confirm(
                a.force,
                "WARNING! This will remove all custom networks not used by at least one container.",
            )? {
                return Ok(0);
            }
            let r = c.post(&super::prune_path("/networks/prune", &a.filter)?, json!({}))?;
            let names = super::strings(&r["NetworksDeleted"]);
            if !names.is_empty() {
                println!("Deleted Networks:");
                for n in names {
                    println!("{n}");
                }
            }
            Ok(0)
        }
    }
}

fn create(c: &Client, a: &CreateArgs) -> Result<i32> {
    if a.gateway.len() > a.subnet.len() || a.ip_range.len() > a.subnet.len() {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let config: Vec<Value> = a
        .subnet
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut m = json!({ "Subnet": s });
            if let Some(g) = a.gateway.get(i) {
                m["Gateway"] = json!(g);
            }
            if let Some(r) = a.ip_range.get(i) {
                m["IPRange"] = json!(r);
            }
            m
        })
        .collect();
    let body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Options": key_values(&a.opt, "--opt")?,
        "IPAM": {
            "Driver": a.ipam_driver,
            "Config": config,
            "Options": key_values(&a.ipam_opt, "--ipam-opt")?,
        },
        "Internal": a.internal,
        "Attachable": a.attachable,
        "EnableIPv6": a.ipv6,
        "Labels": key_values(&a.labels, "--label")?,
        "CheckDuplicate": true,
    });
    let r = c.post("/networks/create", body)?;
    if let Some(w) = r["Warning"].as_str().filter(|w| !w.is_empty()) {
        eprintln!("WARNING: {w}");
    }
    println!("{}", r["Id"].as_str().unwrap_or(""));
    Ok(0)
}

fn ls(c: &Client, a: &LsArgs) -> Result<i32> {
    let mut path = "/networks".to_string();
    if let Some(f) = super::filters_query(&a.filter)? {
        path.push_str(&format!("?filters={f}"));
    }
    let mut list = c.get(&path)?.as_array().cloned().unwrap_or_default();
    // docker sorts by name.
    list.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let id = |n: &Value| {
        let id = n["Id"].as_str().unwrap_or("");
        if a.no_trunc {
            id.to_string()
        } else {
            short_id(id)
        }
    };
    if a.quiet {
        for n in &list {
            println!("{}", id(n));
        }
        return Ok(0);
    }
    const TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
    let format = a.format.clone().filter(|f| !f.is_empty());
    let list_format = ListFormat::parse(format.as_deref().unwrap_or(TABLE), TABLE)?;
    let mut header = listfmt::header(&[
        ("CreatedAt", "CREATED AT"),
        ("Driver", "DRIVER"),
        ("ID", "NETWORK ID"),
        ("IPv4", "IPV4"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("Name", "NAME"),
        ("Scope", "SCOPE"),
    ]);
    if let Json::Obj(m) = &mut header {
        m.push(("\0Label".into(), Json::Null));
    }
    let rows: Vec<Json> = list
        .iter()
        .map(|n| {
            let text = |k: &str| Json::Str(n[k].as_str().unwrap_or("").to_string());
            let flag = |k: &str| Json::Str(n[k].as_bool().unwrap_or(false).to_string());
            let (labels, table) = listfmt::labels(&n["Labels"]);
            Json::Obj(vec![
                (
                    "CreatedAt".into(),
                    Json::Str(listfmt::go_time_string(n["Created"].as_str().unwrap_or(""))),
                ),
                ("Driver".into(), text("Driver")),
                ("ID".into(), Json::Str(id(n))),
                ("IPv4".into(), flag("EnableIPv4")),
                ("IPv6".into(), flag("EnableIPv6")),
                ("Internal".into(), flag("Internal")),
                ("Labels".into(), labels),
                ("Name".into(), text("Name")),
                ("Scope".into(), text("Scope")),
                ("\0Label".into(), table),
            ])
        })
        .collect();
    list_format.print(&header, &rows, "*formatter.networkContext")?;
    Ok(0)
}
