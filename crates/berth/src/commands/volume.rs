//! `berth volume`: create, ls, inspect, rm, prune, with docker's flags and output.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::listfmt::{self, ListFormat};
use super::ordered::Json;
use super::{confirm, each, key_values};
use crate::client::{q, Body, Client};
use crate::streams;

#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show low-level information on volumes
    Inspect(super::inspect::FormatArgs),
    /// Remove volumes
    #[command(alias = "remove")]
    Rm {
        /// Force the removal of volumes
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove unused local volumes
    Prune(VolumePruneArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    driver: String,
    /// Driver specific options (KEY=VALUE)
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Metadata (KEY=VALUE)
    #[arg(long = "label")]
    labels: Vec<String>,
    /// The volume's name (generated when missing)
    #[arg(long = "name", conflicts_with = "volume")]
    name: Option<String>,
    volume: Option<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only show volume names
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Filter output (dangling=true, driver=, label=, name=)
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template (e.g. '{{.Name}}')
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    all: bool,
    #[command(flatten)]
    prune: super::PruneArgs,
}

pub fn main(c: &Client, cmd: &VolumeCmd) -> Result<i32> {
    match cmd {
        VolumeCmd::Create(a) => {
            let name = a.name.as_ref().or(a.volume.as_ref());
            let body = json!({
                "Name": name.cloned().unwrap_or_default(),
                "Driver": a.driver,
                "DriverOpts": key_values(&a.opt, "--opt")?,
                "Labels": key_values(&a.labels, "--label")?,
            });
            let r = c.post("/volumes/create", body)?;
            println!("{}", r["Name"].as_str().unwrap_or(""));
            Ok(0)
        }
        VolumeCmd::Ls(a) => ls(c, a),
        VolumeCmd::Inspect(a) => super::inspect::objects(c, super::inspect::Kind::Volume, false, a),
        VolumeCmd::Rm { force, volumes } => each(volumes, |n| {
            c.request(
                "DELETE",
                &format!("/volumes/{}?force={}", q(n), u8::from(*force)),
                &[],
                Body::Empty,
            )?
            .ok()?;
            Ok(())
        }),
        VolumeCmd::Prune(a) => {
            // Before API 1.42 the daemon prunes every unused volume, named or not.
            let all = a.all || !c.api_at_least(1, 42);
            let warning = if all {
                "WARNING! This will remove all local volumes not used by at least one container."
            } else {
                "WARNING! This will remove anonymous local volumes not used by at least one container."
            };
            if !confirm(a.prune.force, warning)? {
                return Ok(0);
            }
            let mut filter = a.prune.filter.clone();
            if a.all && c.api_at_least(1, 42) {
                filter.push("all=true".into());
            }
            let r = c.post(&super::prune_path("/volumes/prune", &filter)?, json!({}))?;
            let names = super::strings(&r["VolumesDeleted"]);
            if !names.is_empty() {
                println!("Deleted Volumes:");
                for n in names {
                    println!("{n}");
                }
                println!();
            }
            println!(
                "Total reclaimed space: {}",
                streams::human(r["SpaceReclaimed"].as_u64().unwrap_or(0))
            );
            Ok(0)
        }
    }
}

fn ls(c: &Client, a: &LsArgs) -> Result<i32> {
    let mut path = "/volumes".to_string();
    if let Some(f) = super::filters_query(&a.filter)? {
        path.push_str(&format!("?filters={f}"));
    }
    let r = c.get(&path)?;
    let mut list: Vec<Value> = r["Volumes"].as_array().cloned().unwrap_or_default();
    list.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    for w in super::strings(&r["Warnings"]) {
        eprintln!("WARNING: {w}");
    }
    if a.quiet {
        for v in &list {
            println!("{}", v["Name"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    const TABLE: &str = "table {{.Driver}}\t{{.Name}}";
    let format = a.format.clone().filter(|f| !f.is_empty());
    let list_format = ListFormat::parse(format.as_deref().unwrap_or(TABLE), TABLE)?;
    let mut header = listfmt::header(&[
        ("Availability", "AVAILABILITY"),
        ("Driver", "DRIVER"),
        ("Group", "GROUP"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Name", "VOLUME NAME"),
        ("Scope", "SCOPE"),
        ("Size", "SIZE"),
        ("Status", "STATUS"),
    ]);
    if let Json::Obj(m) = &mut header {
        m.push(("\0Label".into(), Json::Null));
    }
    let rows: Vec<Json> = list
        .iter()
        .map(|v| {
            let text = |k: &str| Json::Str(v[k].as_str().unwrap_or("").to_string());
            let na = || Json::Str("N/A".into());
            let usage = |k: &str| match v["UsageData"][k].as_i64() {
                Some(n) if n >= 0 && k == "Size" => Json::Str(streams::human(n as u64)),
                Some(n) if n >= 0 => Json::Str(n.to_string()),
                _ => na(),
            };
            let (labels, table) = listfmt::labels(&v["Labels"]);
            Json::Obj(vec![
                ("Availability".into(), na()),
                ("Driver".into(), text("Driver")),
                ("Group".into(), na()),
                ("Labels".into(), labels),
                ("Links".into(), usage("RefCount")),
                ("Mountpoint".into(), text("Mountpoint")),
                ("Name".into(), text("Name")),
                ("Scope".into(), text("Scope")),
                ("Size".into(), usage("Size")),
                ("Status".into(), na()),
                ("\0Label".into(), table),
            ])
        })
        .collect();
    list_format.print(&header, &rows, "*formatter.volumeContext")?;
    Ok(0)
}
