//! The command line: docker's flags for the everyday verbs.

mod audit;
mod build;
mod containers;
mod cp;
mod createbody;
mod goparse;
mod images;
mod manage;
mod network;
mod optparse;
mod profiles;
mod runopts;
mod system;
mod volume;

use clap::{Parser, Subcommand};

use crate::client::{Client, Endpoint};

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
    /// Create and run a container
    Run(Box<containers::RunArgs>),
    /// Create a new container (without starting it)
    Create(Box<containers::CreateArgs>),
    /// List containers
    Ps(containers::PsArgs),
    /// Fetch a container's logs
    Logs(containers::LogsArgs),
    /// Run a command in a running container
    Exec(containers::ExecArgs),
    /// Stop containers
    Stop(containers::StopArgs),
    /// Start stopped containers
    Start { containers: Vec<String> },
    /// Restart containers
    Restart(containers::StopArgs),
    /// Send a signal to containers
    Kill(containers::KillArgs),
    /// Remove containers
    Rm(containers::RmArgs),
    /// Block until containers stop, then print their exit codes
    Wait(containers::WaitArgs),
    /// Attach to a running container's input and output
    Attach(containers::AttachArgs),
    /// Show low-level information on containers, images, networks or volumes
    Inspect { names: Vec<String> },
    /// Pause all processes within containers
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Unpause all processes within containers
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Display the running processes of a container
    Top {
        container: String,
        /// Options for ps (e.g. -o pid,comm)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List port mappings of a container
    Port {
        container: String,
        /// PRIVATE_PORT[/PROTO]
        private_port: Option<String>,
    },
    /// Copy files between a container and the local file system
    Cp(cp::CpArgs),
    /// Inspect changes to files on a container's file system
    Diff { container: String },
    /// Export a container's file system as a tar archive
    Export(manage::ExportArgs),
    /// Create a new image from a container's changes
    Commit(manage::CommitArgs),
    /// Display a live stream of containers' resource usage
    Stats(manage::StatsArgs),
    /// Show the history of an image
    History(manage::HistoryArgs),
    /// Get real time events from the server
    Events(system::EventsArgs),
    /// Manage containers (prune)
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Manage images (prune, history)
    #[command(subcommand)]
    Image(ImageCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCmd),
    /// Manage berthd (df, prune, events, info)
    #[command(subcommand)]
    System(system::SystemCmd),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Pull an image from a registry
    Pull { image: String },
    /// Push an image to a registry
    Push { image: String },
    /// Log in to a registry
    Login(images::LoginArgs),
    /// Log out from a registry
    Logout { server: Option<String> },
    /// Load images from a tar archive (docker save format)
    Load(images::LoadArgs),
    /// Save images to a tar archive
    Save(images::SaveArgs),
    /// Import a root file system tarball as an image
    Import(images::ImportArgs),
    /// Tag an image
    Tag { source: String, target: String },
    /// Remove images
    Rmi(images::RmiArgs),
    /// Show client and daemon versions
    Version,
    /// Show daemon information
    Info,
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

#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    /// Remove all stopped containers
    Prune(PruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// Remove unused images
    Prune(manage::ImagePruneArgs),
    /// Show the history of an image
    History(manage::HistoryArgs),
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

/// Inspect each name with `get`, printing the JSON array of what was found; 1 if any was not.
pub fn inspect_each(
    names: &[String],
    get: impl Fn(&str) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    let mut code = 0;
    for n in names {
        match get(n) {
            Ok(v) => out.push(v),
            Err(e) => {
                eprintln!("{e:#}");
                code = 1;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(code)
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

/// `inspect NAME...`: each name as a container, an image, a network or a volume, in docker's order.
fn inspect(c: &Client, names: &[String]) -> anyhow::Result<i32> {
    if names.is_empty() {
        anyhow::bail!("\"berth inspect\" requires at least 1 argument");
    }
    use crate::client::q;
    inspect_each(names, |n| {
        c.get(&format!("/containers/{}/json", q(n)))
            .or_else(|_| c.get(&format!("/images/{n}/json")))
            .or_else(|_| c.get(&format!("/networks/{}", q(n))))
            .or_else(|_| c.get(&format!("/volumes/{}", q(n))))
            .map_err(|_| anyhow::anyhow!("Error: No such object: {n}"))
    })
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
            Cmd::Run(a) => containers::run(&client, a),
            Cmd::Create(a) => containers::create(&client, a),
            Cmd::Ps(a) => containers::ps(&client, a),
            Cmd::Logs(a) => containers::logs(&client, a),
            Cmd::Exec(a) => containers::exec(&client, a),
            Cmd::Stop(a) => containers::stop(&client, a, false),
            Cmd::Restart(a) => containers::stop(&client, a, true),
            Cmd::Start { containers: names } => containers::start(&client, names),
            Cmd::Kill(a) => containers::kill(&client, a),
            Cmd::Rm(a) => containers::rm(&client, a),
            Cmd::Wait(a) => containers::wait(&client, a),
            Cmd::Attach(a) => containers::attach(&client, a),
            Cmd::Inspect { names } => inspect(&client, names),
            Cmd::Pause { containers: n } => manage::simple(&client, "pause", n),
            Cmd::Unpause { containers: n } => manage::simple(&client, "unpause", n),
            Cmd::Rename {
                container,
                new_name,
            } => manage::rename(&client, container, new_name),
            Cmd::Top { container, ps_args } => manage::top(&client, container, ps_args),
            Cmd::Port {
                container,
                private_port,
            } => manage::port(&client, container, private_port.as_deref()),
            Cmd::Cp(a) => cp::cp(&client, a),
            Cmd::Diff { container } => manage::diff(&client, container),
            Cmd::Export(a) => manage::export(&client, a),
            Cmd::Commit(a) => manage::commit(&client, a),
            Cmd::Stats(a) => manage::stats(&client, a),
            Cmd::History(a) | Cmd::Image(ImageCmd::History(a)) => manage::history(&client, a),
            Cmd::Events(a) => system::events(&client, a),
            Cmd::Container(ContainerCmd::Prune(a)) => manage::prune_containers(&client, a),
            Cmd::Image(ImageCmd::Prune(a)) => {
                if let Some(space) = manage::prune_images(&client, a, true)? {
                    println!("Total reclaimed space: {}", crate::streams::human(space));
                }
                Ok(0)
            }
            Cmd::Network(n) => network::main(&client, n),
            Cmd::Volume(v) => volume::main(&client, v),
            Cmd::System(s) => system::main(&client, s),
            Cmd::Build(a) => build::build(&client, a),
            Cmd::Images(a) => images::list(&client, a),
            Cmd::Pull { image } => images::pull(&client, image),
            Cmd::Push { image } => images::push(&client, image),
            Cmd::Login(a) => images::login(&client, a),
            Cmd::Load(a) => images::load(&client, a),
            Cmd::Logout { .. } => Ok(0),
            Cmd::Save(a) => images::save(&client, a),
            Cmd::Import(a) => images::import(&client, a),
            Cmd::Tag { source, target } => images::tag(&client, source, target),
            Cmd::Rmi(a) => images::rmi(&client, a),
            Cmd::Version => system::version(&client),
            Cmd::Info => system::info(&client),
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
            match (&cli.command, e.downcast_ref::<containers::StartFailed>()) {
                (Cmd::Run(_), Some(s)) => s.code,
                (Cmd::Run(_), None) => 125,
                // create: refused options 125, the daemon's refusals 1.
                (Cmd::Create(_), _) if e.is::<containers::Invalid>() => 125,
                _ => 1,
            }
        }
    }
}
