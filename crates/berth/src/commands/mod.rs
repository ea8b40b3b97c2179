//! The command line: docker's flags for the everyday verbs.

mod audit;
mod build;
mod containers;
mod cp;
mod createbody;
mod df;
mod goparse;
mod images;
mod inspect;
mod listfmt;
mod manage;
mod mountopt;
mod network;
mod optparse;
mod ordered;
mod plugin;
mod profiles;
mod ps;
mod runopts;
mod system;
mod template;
mod update;
mod verbs;
mod volume;

use clap::{Parser, Subcommand};

use crate::client::{Client, Endpoint};
use verbs::{ContainerCmd, ContainerVerb, ImageCmd, ImageVerb};

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "Run and manage containers through berthd (Docker Engine API)",
    disable_version_flag = true
)]
pub struct Cli {
    /// Daemon socket (default: $BERTH_HOST, $DOCKER_HOST, unix:///run/berth/berth.sock)
    #[arg(short = 'H', long, global = true)]
    pub host: Option<String>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    #[command(flatten)]
    Container(ContainerVerb),
    /// List containers
    Ps(ps::PsArgs),
    /// Remove one or more containers
    Rm(containers::RmArgs),
    /// Return low-level information on Docker objects
    Inspect(inspect::InspectArgs),
    /// Get real time events from the server
    Events(system::EventsArgs),
    /// Manage containers
    #[command(subcommand, name = "container")]
    ContainerGroup(ContainerCmd),
    /// Manage images
    #[command(subcommand, name = "image")]
    ImageGroup(ImageCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCmd),
    /// Manage berthd (df, prune, events, info)
    #[command(subcommand)]
    System(system::SystemCmd),
    /// Manage plugins
    #[command(subcommand)]
    Plugin(plugin::PluginCmd),
    /// Manage builds (the build cache)
    #[command(subcommand)]
    Builder(plugin::BuilderCmd),
    #[command(flatten)]
    Image(ImageVerb),
    /// List images
    #[command(name = "images")]
    ImageList(images::ImagesArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    /// Log in to a registry
    Login(images::LoginArgs),
    /// Log out from a registry
    Logout { server: Option<String> },
    /// Show client and daemon versions
    Version(system::FormatArg),
    /// Show daemon information
    Info(system::FormatArg),
    /// Check the engine, its containers and images against the CIS Docker Benchmark
    Audit(audit::AuditArgs),
    /// Least-privilege profiles learned from a run (berthd only)
    #[command(subcommand)]
    Profile(profiles::ProfileCmd),
    /// Print a shell completion script (bash, zsh or fish)
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write man pages (berth.1 and one per subcommand) into a directory
    Man { dir: std::path::PathBuf },
}

/// The flags every prune takes.
#[derive(clap::Args, Debug, Clone)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. until=24h, label=k=v)
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// docker's prompt before a prune: `true` to go on (`force`, or the user answered y).
pub fn confirm(force: bool, warning: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    if force {
        return Ok(true);
    }
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        println!("Total reclaimed space: 0B");
    }
    Ok(yes)
}

/// The path of a prune with its `--filter` flags.
pub fn prune_path(base: &str, filter: &[String]) -> anyhow::Result<String> {
    Ok(match filters_query(filter)? {
        Some(f) => format!("{base}?filters={f}"),
        None => base.to_string(),
    })
}

/// `KEY=VALUE` flags as a JSON object (a flag without `=` has an empty value).
pub fn key_values(flags: &[String], what: &str) -> anyhow::Result<serde_json::Value> {
    let mut m = serde_json::Map::new();
    for f in flags {
        let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
        if k.is_empty() {
            anyhow::bail!("invalid {what} {f:?}: want KEY=VALUE");
        }
        m.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    Ok(serde_json::Value::Object(m))
}

/// A JSON array's strings.
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The first 12 characters of an id, without its `sha256:`.
pub fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

use containers::each;

/// Shells `berth completion` writes scripts for.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// `berth completion SHELL`: the script on stdout (source it, or install it where the shell
/// looks: /usr/share/bash-completion/completions/berth, .../zsh/vendor-completions/_berth,
/// .../fish/vendor_completions.d/berth.fish).
fn completion(shell: Shell) -> i32 {
    use clap::CommandFactory;
    let sh = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(sh, &mut Cli::command(), "berth", &mut std::io::stdout());
    0
}

/// `berth man DIR`: berth.1 and berth-VERB.1 for each subcommand.
fn man(dir: &std::path::Path) -> anyhow::Result<i32> {
    use anyhow::Context;
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let cmd = Cli::command();
    let write = |name: &str, c: clap::Command| -> anyhow::Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(c).render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("write {}", path.display()))
    };
    for sub in cmd.get_subcommands() {
        let name = format!("berth-{}", sub.get_name());
        write(&name, sub.clone().name(name.clone()))?;
    }
    write("berth", cmd)?;
    Ok(0)
}

/// `--filter key=value` flags as the API's `filters` query value
/// (`{"key":{"value":true}}`), percent-encoded; `None` without filters.
pub fn filters_query(flags: &[String]) -> anyhow::Result<Option<String>> {
    use serde_json::{json, Map, Value};
    let mut filters: Map<String, Value> = Map::new();
    for f in flags {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad filter {f:?}: use key=value"))?;
        filters
            .entry(k.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("filter values are objects")
            .insert(v.to_string(), json!(true));
    }
    Ok((!filters.is_empty()).then(|| crate::client::q(&Value::Object(filters).to_string())))
}

/// Parse, run, and turn errors into docker's messages and exit codes.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // These need no daemon.
    match &cli.command {
        Cmd::Completion { shell } => return completion(*shell),
        Cmd::Man { dir } => {
            return man(dir).unwrap_or_else(|e| {
                eprintln!("{e:#}");
                1
            })
        }
        Cmd::Logout { server } => {
            return images::logout(server.as_deref()).unwrap_or_else(|e| {
                eprintln!("{e:#}");
                1
            })
        }
        _ => {}
    }
    let run = || -> anyhow::Result<i32> {
        let endpoint = Endpoint::from_env(cli.host.as_deref())?;
        let client = Client::new(endpoint.clone())?;
        match &cli.command {
            Cmd::Container(v) => verbs::container(&client, v),
            Cmd::Ps(a) => ps::ps(&client, a),
            Cmd::Rm(a) => containers::rm(&client, a),
            Cmd::Inspect(a) => inspect::inspect(&client, a),
            Cmd::Events(a) => system::events(&client, a),
            Cmd::ContainerGroup(g) => verbs::container_group(&client, g),
            Cmd::ImageGroup(g) => verbs::image_group(&client, g),
            Cmd::Network(n) => network::main(&client, n),
            Cmd::Volume(v) => volume::main(&client, v),
            Cmd::System(s) => system::main(&client, s),
            Cmd::Plugin(p) => plugin::main(&client, p),
            Cmd::Builder(b) => plugin::builder(&client, b),
            Cmd::Image(v) => verbs::image(&client, v),
            Cmd::ImageList(a) => images::list(&client, a),
            Cmd::Rmi(a) => images::rmi(&client, a),
            Cmd::Login(a) => images::login(&client, a),
            Cmd::Logout { .. } => Ok(0),
            Cmd::Version(a) => system::version(&client, a),
            Cmd::Info(a) => system::info(&client, a),
            Cmd::Audit(a) => audit::audit(&client, &endpoint, a),
            Cmd::Profile(p) => profiles::main(&client, p),
            Cmd::Completion { .. } | Cmd::Man { .. } => Ok(0),
        }
    };
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            // docker run reports its own failures (not the container's) as 125, a start the
            // daemon refused by what kept the program from running (126, 127).
            let verb = match &cli.command {
                Cmd::Container(v) | Cmd::ContainerGroup(ContainerCmd::Verb(v)) => Some(v),
                _ => None,
            };
            match (verb, e.downcast_ref::<containers::StartFailed>()) {
                (Some(ContainerVerb::Run(_)), Some(s)) => s.code,
                (Some(ContainerVerb::Run(_)), None) => 125,
                // create: refused options 125, the daemon's refusals 1.
                (Some(ContainerVerb::Create(_)), _) if e.is::<containers::Invalid>() => 125,
                _ => 1,
            }
        }
    }
}
