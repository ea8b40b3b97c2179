//! `plugin` (managed plugins: ls, inspect, create, install, enable, disable, set, rm) and
//! `builder prune`, as docker CLI 28 sends and prints them.

use std::io::{BufRead, Write};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::inspect::{self, FormatArgs, Kind};
use super::listfmt::ListFormat;
use super::ordered::Json;
use super::{confirm, each, short_id, PruneArgs};
use crate::client::{q, Body, Client};
use crate::streams;

#[derive(Subcommand, Debug)]
pub enum PluginCmd {
    /// List plugins
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more plugins
    Inspect(FormatArgs),
    /// Create a plugin from a rootfs and configuration (a directory with config.json and rootfs/)
    Create(CreateArgs),
    /// Install a plugin
    Install(InstallArgs),
    /// Enable a plugin
    Enable(EnableArgs),
    /// Disable a plugin
    Disable(DisableArgs),
    /// Change settings for a plugin
    Set {
        plugin: String,
        /// KEY=VALUE
        #[arg(required = true)]
        settings: Vec<String>,
    },
    /// Remove one or more plugins
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "enabled=true")
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display plugin IDs
    #[arg(short = 'q', long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Compress the context using gzip (not supported: the context is sent as a plain tar)
    #[arg(long, hide = true)]
    compress: bool,
    /// PLUGIN[:tag]
    plugin: String,
    /// A directory holding config.json and rootfs/
    dir: std::path::PathBuf,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Local name for plugin
    #[arg(long)]
    alias: Option<String>,
    /// Do not enable the plugin on install
    #[arg(long)]
    disable: bool,
    /// Grant all permissions necessary to run the plugin
    #[arg(long = "grant-all-permissions")]
    grant_all: bool,
    /// Skip image verification (accepted; berth does not verify content trust)
    #[arg(long = "disable-content-trust", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    disable_content_trust: bool,
    /// PLUGIN
    plugin: String,
    /// KEY=VALUE settings
    settings: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EnableArgs {
    /// HTTP client timeout (in seconds)
    #[arg(long, default_value_t = 30)]
    timeout: u32,
    plugin: String,
}

#[derive(Args, Debug)]
pub struct DisableArgs {
    /// Force the disable of an active plugin
    #[arg(short = 'f', long)]
    force: bool,
    plugin: String,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of an active plugin
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(required = true, value_name = "PLUGIN")]
    plugins: Vec<String>,
}

pub fn main(c: &Client, cmd: &PluginCmd) -> Result<i32> {
    match cmd {
        PluginCmd::Ls(a) => ls(c, a),
        PluginCmd::Inspect(a) => inspect::objects(c, Kind::Plugin, false, a),
        PluginCmd::Create(a) => create(c, a),
        PluginCmd::Install(a) => install(c, a),
        PluginCmd::Enable(a) => {
            post(
                c,
                &format!("/plugins/{}/enable?timeout={}", a.plugin, a.timeout),
            )?;
            println!("{}", a.plugin);
            Ok(0)
        }
        PluginCmd::Disable(a) => {
            let force = if a.force { "?force=1" } else { "" };
            post(c, &format!("/plugins/{}/disable{force}", a.plugin))?;
            println!("{}", a.plugin);
            Ok(0)
        }
        PluginCmd::Set { plugin, settings } => {
            c.post(&format!("/plugins/{plugin}/set"), json!(settings))?;
            Ok(0)
        }
        PluginCmd::Rm(a) => each(&a.plugins, |p| {
            let force = if a.force { "?force=1" } else { "" };
            c.request("DELETE", &format!("/plugins/{p}{force}"), &[], Body::Empty)?
                .ok()?;
            Ok(())
        }),
    }
}

fn post(c: &Client, path: &str) -> Result<()> {
    c.request("POST", path, &[], Body::Empty)?.ok()?;
    Ok(())
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Description}}\t{{.Enabled}}";

/// `plugin ls`.
fn ls(c: &Client, a: &LsArgs) -> Result<i32> {
    let format = a.format.clone().filter(|f| !f.is_empty());
    let list_format = ListFormat::parse(format.as_deref().unwrap_or(DEFAULT_TABLE), DEFAULT_TABLE)?;
    let header = Json::Obj(
        [
            ("Description", "DESCRIPTION"),
            ("Enabled", "ENABLED"),
            ("ID", "ID"),
            ("Name", "NAME"),
            ("PluginReference", "IMAGE"),
        ]
        .iter()
        .map(|(k, h)| (k.to_string(), Json::Str(h.to_string())))
        .collect(),
    );
    let path = match super::filters_query(&a.filter)? {
        Some(f) => format!("/plugins?filters={f}"),
        None => "/plugins".to_string(),
    };
    let list = c.get(&path)?;
    let list = list.as_array().cloned().unwrap_or_default();
    let id = |p: &Value| {
        let id = p["Id"].as_str().unwrap_or("");
        if a.no_trunc {
            id.to_string()
        } else {
            short_id(id)
        }
    };
    if a.quiet {
        for p in &list {
            println!("{}", id(p));
        }
        return Ok(0);
    }
    let rows: Vec<Json> = list
        .iter()
        .map(|p| {
            let desc = p["Config"]["Description"].as_str().unwrap_or("");
            let desc = if a.no_trunc || desc.chars().count() <= 45 {
                desc.to_string()
            } else {
                format!("{}…", desc.chars().take(44).collect::<String>())
            };
            Json::Obj(vec![
                ("Description".into(), Json::Str(desc)),
                (
                    "Enabled".into(),
                    Json::Bool(p["Enabled"].as_bool().unwrap_or(false)),
                ),
                ("ID".into(), Json::Str(id(p))),
                (
                    "Name".into(),
                    Json::Str(p["Name"].as_str().unwrap_or("").into()),
                ),
                (
                    "PluginReference".into(),
                    Json::Str(p["PluginReference"].as_str().unwrap_or("").into()),
                ),
            ])
        })
        .collect();
    list_format.print(&header, &rows, "*formatter.pluginContext")?;
    Ok(0)
}

/// `plugin create NAME DIR`: DIR's config.json and rootfs/ as a tar (symlinks kept as links).
fn create(c: &Client, a: &CreateArgs) -> Result<i32> {
    let dir = &a.dir;
    if !dir.is_dir() {
        bail!("context must be a directory");
    }
    if !dir.join("config.json").is_file() {
        bail!("config.json must exist in {}", dir.display());
    }
    if !dir.join("rootfs").is_dir() {
        bail!("rootfs must be a directory in {}", dir.display());
    }
    let _ = a.compress;
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.append_dir_all(".", dir)
        .with_context(|| format!("archive {}", dir.display()))?;
    let data = tar.into_inner()?;
    let mut body = std::io::Cursor::new(data);
    c.request(
        "POST",
        &format!("/plugins/create?name={}", q(&a.plugin)),
        &[],
        Body::Stream(&mut body),
    )?
    .ok()?;
    println!("{}", a.plugin);
    Ok(0)
}

/// A plugin reference as docker names it: `:latest` when it has no tag or digest.
fn with_tag(r: &str) -> String {
    let last = r.rsplit('/').next().unwrap_or(r);
    if last.contains(':') || last.contains('@') {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

/// `plugin install PLUGIN [KEY=VALUE...]`: the privileges it asks for (granted by the user or
/// `--grant-all-permissions`), the pull, the settings, then enable unless `--disable`.
fn install(c: &Client, a: &InstallArgs) -> Result<i32> {
    let _ = a.disable_content_trust;
    let remote = with_tag(&a.plugin);
    let auth = super::images::registry_auth(&remote);
    let headers = [("X-Registry-Auth", auth.as_str())];
    let privileges = c
        .request(
            "GET",
            &format!("/plugins/privileges?remote={}", q(&remote)),
            &headers,
            Body::Empty,
        )?
        .ok()?
        .json()?;
    if !a.grant_all && !granted(&remote, &privileges)? {
        bail!("permission denied while installing plugin {remote}");
    }
    let name = a.alias.clone().unwrap_or_else(|| remote.clone());
    let mut path = format!("/plugins/pull?remote={}", q(&remote));
    if a.alias.is_some() {
        path.push_str(&format!("&name={}", q(&name)));
    }
    let r = c
        .request("POST", &path, &headers, Body::Json(privileges))?
        .ok()?;
    streams::progress(r, false)?;
    if !a.settings.is_empty() {
        c.post(&format!("/plugins/{name}/set"), json!(a.settings))?;
    }
    if !a.disable {
        post(c, &format!("/plugins/{name}/enable?timeout=30"))?;
    }
    println!("Installed plugin {}", a.plugin);
    Ok(0)
}

/// docker's question before an install: the privileges, one a line, then y/N.
fn granted(remote: &str, privileges: &Value) -> Result<bool> {
    println!("Plugin {remote:?} is requesting the following privileges:");
    for p in privileges.as_array().into_iter().flatten() {
        let values = super::strings(&p["Value"]);
        println!(
            " - {}: [{}]",
            p["Name"].as_str().unwrap_or(""),
            values.join(" ")
        );
    }
    print!("Do you grant the above permissions? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// `builder` (the build cache).
#[derive(Subcommand, Debug)]
pub enum BuilderCmd {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage")]
    keep_storage: Option<String>,
    #[command(flatten)]
    prune: PruneArgs,
}

/// `builder prune`: `POST /build/prune`, then the objects deleted and the space reclaimed.
pub fn builder(c: &Client, cmd: &BuilderCmd) -> Result<i32> {
    let BuilderCmd::Prune(a) = cmd;
    let warning = if a.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !confirm(a.prune.force, warning)? {
        return Ok(0);
    }
    let mut path = "/build/prune?".to_string();
    if a.all {
        path.push_str("all=1&");
    }
    if let Some(k) = &a.keep_storage {
        let bytes = super::optparse::ram_in_bytes(k).map_err(|e| {
            anyhow::anyhow!("invalid argument {k:?} for \"--keep-storage\" flag: {e}")
        })?;
        path.push_str(&format!("keep-storage={bytes}&"));
    }
    path.push_str(&format!(
        "filters={}",
        super::filters_query(&a.prune.filter)?.unwrap_or_default()
    ));
    let r = c.request("POST", &path, &[], Body::Empty)?.ok()?.json()?;
    super::manage::print_pruned(
        "Deleted build cache objects:",
        &super::strings(&r["CachesDeleted"]),
    );
    println!(
        "Total reclaimed space: {}",
        streams::human(r["SpaceReclaimed"].as_u64().unwrap_or(0))
    );
    Ok(0)
}
