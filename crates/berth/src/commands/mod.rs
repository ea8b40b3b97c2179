//! The command line: docker's flags for the everyday verbs.

mod audit;
mod build;
mod containers;
mod images;
mod profiles;
mod system;

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
    /// Show low-level information on containers or images
    Inspect { names: Vec<String> },
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
        _ => {}
    }
    let run = || -> anyhow::Result<i32> {
        let endpoint = Endpoint::from_env(cli.host.as_deref())?;
        let client = Client::new(endpoint.clone())?;
        match &cli.command {
            Cmd::Run(a) => containers::run(&client, a),
            Cmd::Ps(a) => containers::ps(&client, a),
            Cmd::Logs(a) => containers::logs(&client, a),
            Cmd::Exec(a) => containers::exec(&client, a),
            Cmd::Stop(a) => containers::stop(&client, a, false),
            Cmd::Restart(a) => containers::stop(&client, a, true),
            Cmd::Start { containers: names } => containers::start(&client, names),
            Cmd::Kill(a) => containers::kill(&client, a),
            Cmd::Rm(a) => containers::rm(&client, a),
            Cmd::Inspect { names } => containers::inspect(&client, names),
            Cmd::Build(a) => build::build(&client, a),
            Cmd::Images(a) => images::list(&client, a),
            Cmd::Pull { image } => images::pull(&client, image),
            Cmd::Push { image } => images::push(&client, image),
            Cmd::Login(a) => images::login(&client, a),
            Cmd::Load(a) => images::load(&client, a),
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
                _ => 1,
            }
        }
    }
}
