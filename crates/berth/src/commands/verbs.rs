//! The verbs docker has both at the top level and in its `container` and `image` groups
//! (`berth stop` is `berth container stop`): one flag struct and one function each, and the
//! groups' own verbs (`container ls`, `image rm`, `inspect` of one kind, the prunes).

use anyhow::Result;
use clap::{Args, Subcommand};

use super::{build, containers, cp, images, inspect, manage, ps, update, PruneArgs};
use crate::client::Client;

/// Container verbs with the same name at the top level and under `container`.
#[derive(Subcommand, Debug)]
pub enum ContainerVerb {
    /// Create and run a new container from an image
    Run(Box<containers::RunArgs>),
    /// Create a new container
    Create(Box<containers::CreateArgs>),
    /// Fetch the logs of a container
    Logs(containers::LogsArgs),
    /// Execute a command in a running container
    Exec(containers::ExecArgs),
    /// Stop one or more running containers
    Stop(containers::StopArgs),
    /// Start one or more stopped containers
    Start(containers::StartArgs),
    /// Restart one or more containers
    Restart(containers::StopArgs),
    /// Kill one or more running containers
    Kill(containers::KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(containers::WaitArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(containers::AttachArgs),
    /// Pause all processes within one or more containers
    Pause(Names),
    /// Unpause all processes within one or more containers
    Unpause(Names),
    /// Rename a container
    Rename(RenameArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(OneContainer),
    /// Export a container's filesystem as a tar archive
    Export(manage::ExportArgs),
    /// Create a new image from a container's changes
    Commit(manage::CommitArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(manage::StatsArgs),
    /// Update configuration of one or more containers
    Update(Box<update::UpdateArgs>),
}

/// `berth container VERB`.
#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    #[command(flatten)]
    Verb(ContainerVerb),
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(ps::PsArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(containers::RmArgs),
    /// Display detailed information on one or more containers
    Inspect(inspect::ContainerInspectArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
}

/// Image verbs with the same name at the top level and under `image`.
#[derive(Subcommand, Debug)]
pub enum ImageVerb {
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Show the history of an image
    History(manage::HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(images::ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(images::LoadArgs),
    /// Download an image from a registry
    Pull(images::PullArgs),
    /// Upload an image to a registry
    Push(images::PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(images::SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
}

/// `berth image VERB`.
#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    #[command(flatten)]
    Verb(ImageVerb),
    /// List images
    #[command(visible_alias = "list")]
    Ls(images::ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(images::RmiArgs),
    /// Display detailed information on one or more images
    Inspect(inspect::FormatArgs),
    /// Remove unused images
    Prune(manage::ImagePruneArgs),
}

/// Verbs that take one or more container names and nothing else.
#[derive(Args, Debug)]
pub struct Names {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct OneContainer {
    pub container: String,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// Options for ps (e.g. -o pid,comm)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub private_port: Option<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

/// Run a container verb.
pub fn container(c: &Client, v: &ContainerVerb) -> Result<i32> {
    use ContainerVerb as V;
    match v {
        V::Run(a) => containers::run(c, a),
        V::Create(a) => containers::create(c, a),
        V::Logs(a) => containers::logs(c, a),
        V::Exec(a) => containers::exec(c, a),
        V::Stop(a) => containers::stop(c, a, false),
        V::Restart(a) => containers::stop(c, a, true),
        V::Start(a) => containers::start(c, a),
        V::Kill(a) => containers::kill(c, a),
        V::Wait(a) => containers::wait(c, a),
        V::Attach(a) => containers::attach(c, a),
        V::Pause(a) => manage::simple(c, "pause", &a.containers),
        V::Unpause(a) => manage::simple(c, "unpause", &a.containers),
        V::Rename(a) => manage::rename(c, &a.container, &a.new_name),
        V::Top(a) => manage::top(c, &a.container, &a.ps_args),
        V::Port(a) => manage::port(c, &a.container, a.private_port.as_deref()),
        V::Cp(a) => cp::cp(c, a),
        V::Diff(a) => manage::diff(c, &a.container),
        V::Export(a) => manage::export(c, a),
        V::Commit(a) => manage::commit(c, a),
        V::Stats(a) => manage::stats(c, a),
        V::Update(a) => update::update(c, a),
    }
}

/// Run `berth container VERB`.
pub fn container_group(c: &Client, cmd: &ContainerCmd) -> Result<i32> {
    match cmd {
        ContainerCmd::Verb(v) => container(c, v),
        ContainerCmd::Ls(a) => ps::ps(c, a),
        ContainerCmd::Rm(a) => containers::rm(c, a),
        ContainerCmd::Inspect(a) => inspect::containers(c, a),
        ContainerCmd::Prune(a) => manage::prune_containers(c, a),
    }
}

/// Run an image verb.
pub fn image(c: &Client, v: &ImageVerb) -> Result<i32> {
    use ImageVerb as V;
    match v {
        V::Build(a) => build::build(c, a),
        V::History(a) => manage::history(c, a),
        V::Import(a) => images::import(c, a),
        V::Load(a) => images::load(c, a),
        V::Pull(a) => images::pull(c, a),
        V::Push(a) => images::push(c, a),
        V::Save(a) => images::save(c, a),
        V::Tag(a) => images::tag(c, &a.source, &a.target),
    }
}

/// Run `berth image VERB`.
pub fn image_group(c: &Client, cmd: &ImageCmd) -> Result<i32> {
    match cmd {
        ImageCmd::Verb(v) => image(c, v),
        ImageCmd::Ls(a) => images::list(c, a),
        ImageCmd::Rm(a) => images::rmi(c, a),
        ImageCmd::Inspect(a) => inspect::objects(c, inspect::Kind::Image, false, a),
        ImageCmd::Prune(a) => {
            if let Some(space) = manage::prune_images(c, a, true)? {
                println!("Total reclaimed space: {}", crate::streams::human(space));
            }
            Ok(0)
        }
    }
}
