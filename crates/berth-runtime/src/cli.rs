//! The command line, runc's: the same global flags, commands and flags, so
//! engines that drive runc can drive berth-runtime.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::container::{self, create::CreateOptions};
use crate::error::{Error, Result};
use crate::spec;
use crate::state::{State, OCI_VERSION};

mod fast;
mod standby;

#[derive(Parser, Debug)]
#[command(
    name = "berth-runtime",
    about = "Open Container Initiative runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// Root directory for storage of container state (default /run/berth-runtime;
    /// $XDG_RUNTIME_DIR/berth-runtime for other users)
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr)
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported yet)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// With `spec`: write a config for an unprivileged user (auto, true, false)
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the master of the container's terminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the container's init pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the container's init
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra file descriptors (from fd 3) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// The container id
    pub id: String,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            console_socket: self.console_socket.clone(),
            pid_file: self.pid_file.clone(),
            pidfd_socket: self.pidfd_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        }
    }
}

/// The flags of `exec` (runc's).
#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    /// Unix socket that receives the master of the process's terminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<String>,
    /// Set an environment variable (KEY=VALUE)
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// User and group ids (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group ids
    #[arg(short = 'g', long = "additional-gids", allow_negative_numbers = true)]
    pub additional_gids: Vec<i64>,
    /// Path to a JSON OCI process (replaces the config's process)
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Return once the process has started
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the process
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// SELinux label for the process
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding, effective, permitted and ambient sets
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass N extra file descriptors (from fd 3) to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// Run the process in an existing sub-cgroup: [<controller>[,<controller>...]:]<path>
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// The container id
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl ExecArgs {
    fn options(&self) -> container::exec::ExecOptions {
        container::exec::ExecOptions {
            id: self.id.clone(),
            flags: container::exec::ProcessFlags {
                process: self.process.clone(),
                args: self.command.clone(),
                tty: self.tty,
                cwd: self.cwd.clone(),
                env: self.env.clone(),
                user: self.user.clone(),
                additional_gids: self.additional_gids.clone(),
                caps: self.cap.clone(),
                no_new_privs: self.no_new_privs,
                process_label: self.process_label.clone(),
                apparmor: self.apparmor.clone(),
            },
            console_socket: self.console_socket.clone(),
            detach: self.detach,
            pid_file: self.pid_file.clone(),
            pidfd_socket: self.pidfd_socket.clone(),
            preserve_fds: self.preserve_fds,
            ignore_paused: self.ignore_paused,
            sub_cgroups: self.cgroup.clone(),
        }
    }
}

/// The flags of `update` (runc's; memory sizes take units like 512m).
#[derive(Args, Debug, Clone)]
pub struct UpdateArgs {
    /// JSON file of LinuxResources, or - for stdin (the other flags are then ignored)
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Block IO weight (10 to 1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<String>,
    /// CPU CFS quota in microseconds per period
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPU CFS burst in microseconds
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<String>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_share: Option<String>,
    /// CPU realtime period in microseconds
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<String>,
    /// CPU realtime runtime in microseconds per period
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPUs to use
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// SCHED_IDLE for the cgroup (1) or not (0)
    #[arg(long = "cpu-idle")]
    pub cpu_idle: Option<String>,
    /// Memory limit in bytes (-1: unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit in bytes
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit in bytes (-1: unlimited swap)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Obsolete, ignored
    #[arg(long = "kernel-memory", hide = true)]
    pub kernel_memory: Option<String>,
    /// Obsolete, ignored
    #[arg(long = "kernel-memory-tcp", hide = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Maximum number of pids (-1: unlimited)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported)
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported)
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// The container id
    pub id: String,
}

impl UpdateArgs {
    fn flags(&self) -> container::update::UpdateFlags {
        container::update::UpdateFlags {
            resources: self.resources.clone(),
            blkio_weight: self.blkio_weight,
            cpu_period: self.cpu_period.clone(),
            cpu_quota: self.cpu_quota.clone(),
            cpu_burst: self.cpu_burst.clone(),
            cpu_share: self.cpu_share.clone(),
            cpu_rt_period: self.cpu_rt_period.clone(),
            cpu_rt_runtime: self.cpu_rt_runtime.clone(),
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            cpu_idle: self.cpu_idle.clone(),
            memory: self.memory.clone(),
            memory_reservation: self.memory_reservation.clone(),
            memory_swap: self.memory_swap.clone(),
            kernel_memory: self.kernel_memory.clone(),
            kernel_memory_tcp: self.kernel_memory_tcp.clone(),
            pids_limit: self.pids_limit,
            l3_cache_schema: self.l3_cache_schema.clone(),
            mem_bw_schema: self.mem_bw_schema.clone(),
        }
    }
}

/// The criu flags of `checkpoint` and `restore` (runc's).
#[derive(Args, Debug, Clone)]
pub struct CriuArgs {
    /// Path for criu's image files (default: ./checkpoint)
    #[arg(long = "image-path")]
    pub image_path: Option<PathBuf>,
    /// Path for criu's work files and logs (default: the image path)
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// cgroups mode: soft|full|strict|ignore (default: soft)
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// Create a namespace, but do not restore its properties (network)
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
    /// Enable auto deduplication of memory images
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// Use userfaultfd to restore memory pages lazily
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
}

impl CriuArgs {
    fn flags(&self) -> container::checkpoint::CriuFlags {
        container::checkpoint::CriuFlags {
            image_path: self.image_path.clone(),
            work_path: self.work_path.clone(),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            manage_cgroups_mode: self.manage_cgroups_mode.clone(),
            empty_ns: self.empty_ns.clone(),
            auto_dedup: self.auto_dedup,
            lazy_pages: self.lazy_pages,
            ..Default::default()
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Checkpoint a running container with criu
    Checkpoint {
        #[command(flatten)]
        criu: CriuArgs,
        /// Previous images, relative to the image path (pre-dump chains)
        #[arg(long = "parent-path")]
        parent_path: Option<PathBuf>,
        /// Leave the process running after checkpointing
        #[arg(long = "leave-running")]
        leave_running: bool,
        /// Skip in-flight TCP connections
        #[arg(long = "tcp-skip-in-flight")]
        tcp_skip_in_flight: bool,
        /// Link unlinked files back when possible
        #[arg(long = "link-remap")]
        link_remap: bool,
        /// criu writes \0 to this descriptor once lazy pages are ready
        #[arg(long = "status-fd", default_value_t = -1, allow_negative_numbers = true)]
        status_fd: i32,
        /// ADDRESS:PORT of the page server
        #[arg(long = "page-server")]
        page_server: Option<String>,
        /// Dump the memory only and leave the container running
        #[arg(long = "pre-dump")]
        pre_dump: bool,
        id: String,
    },
    /// Restore a container from a previous checkpoint
    Restore {
        #[command(flatten)]
        criu: CriuArgs,
        /// Path to the bundle directory
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
        /// Unix socket that receives the master of the container's terminal
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        /// Return once the container runs
        #[arg(short = 'd', long)]
        detach: bool,
        /// File to write the restored init's pid to
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Do not act as a subreaper
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
        /// Do not use pivot_root
        #[arg(long = "no-pivot")]
        no_pivot: bool,
        /// LSM profile for the restore, TYPE:NAME
        #[arg(long = "lsm-profile")]
        lsm_profile: Option<String>,
        /// LSM mount context for the restore
        #[arg(long = "lsm-mount-context")]
        lsm_mount_context: Option<String>,
        id: String,
    },
    /// Write an example config.json into the bundle directory
    Spec {
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Create a container; its process waits until `start`
    Create(CreateArgs),
    /// Start the process of a created container
    Start { id: String },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal to a container's init (default SIGTERM)
    Kill {
        /// Send the signal to every process of the container
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container (or any, with --force)
    Delete {
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// Create and start a container
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container has started
        #[arg(short = 'd', long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
    },
    /// List containers
    #[command(alias = "ls")]
    List {
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        /// Only print the ids
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Print what this runtime supports, as JSON
    Features,
    /// Run a new process inside a container
    Exec(ExecArgs),
    /// List the processes of a container (extra arguments go to ps)
    Ps {
        /// table or json
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        id: String,
        /// Options for ps (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Suspend every process of a container
    Pause { id: String },
    /// Resume the processes of a paused container
    Resume { id: String },
    /// Change a container's resource limits
    Update(UpdateArgs),
    /// Print a container's statistics and OOM events as JSON lines
    Events {
        /// Interval between statistics (Go duration: 5s, 500ms)
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Print the statistics once and exit
        #[arg(long)]
        stats: bool,
        id: String,
    },
}

/// Help in runc's shape, which scripts parse: "NAME:" then "   <cmd> - <about>".
const HELP_TEMPLATE: &str =
    "NAME:\n   {name} - {about}\n\nUSAGE:\n   {usage}\n\n{all-args}{after-help}";

/// The name the runtime was invoked by: installed as `runc` (a drop-in),
/// help and version say `runc`, as scripts that parse them expect.
fn prog_name(args: &[std::ffi::OsString]) -> String {
    args.first()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| !n.is_empty() && n != "exe")
        .unwrap_or_else(|| "berth-runtime".into())
}

fn command(prog: &str) -> clap::Command {
    use clap::CommandFactory;
    // Built once per process: clap keeps names as &'static str.
    let name: &'static str = Box::leak(prog.to_string().into_boxed_str());
    Cli::command()
        .name(name)
        .bin_name(name)
        .help_template(HELP_TEMPLATE)
        .mut_subcommands(|c| {
            let name = c.get_name().to_string();
            c.help_template(HELP_TEMPLATE.replace("{name}", &format!("{prog} {name}")))
        })
}

/// `--version` as runc prints it (name, commit, spec), with the invoked name.
pub fn version_text(prog: &str) -> String {
    format!(
        "{prog} version {}\ncommit: {}\nspec: {OCI_VERSION}\n",
        env!("CARGO_PKG_VERSION"),
        env!("BERTH_GIT_COMMIT")
    )
}

/// Run the command line; returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if standby::is_standby(&args) {
        // Started ahead of need by berth-shim: the command line comes later.
        return match standby::wait(&args[0]) {
            Ok(Some(args)) => {
                crate::STANDBY_START.store(true, std::sync::atomic::Ordering::Relaxed);
                let code = run_args(args);
                if code == 0 {
                    crate::handover::tell_done();
                }
                code
            }
            Ok(None) => 0,
            Err(e) => {
                eprintln!("berth-runtime standby: {e}");
                127
            }
        };
    }
    run_args(args)
}

/// Run `args` (the program's name first) as the command line.
fn run_args(args: Vec<std::ffi::OsString>) -> i32 {
    use clap::FromArgMatches;
    // The lines engines send on every container skip clap's command tree.
    let parsed = match fast::parse(&args) {
        Some(c) => Ok(c),
        None => command(&prog_name(&args))
            .try_get_matches_from(&args)
            .and_then(|m| Cli::from_arg_matches(&m)),
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let prog = prog_name(&args);
            if let Some(topic) = unknown_help_topic(&e, &args) {
                // runc's answer (and exit status) to `help foo` / `foo -h`.
                eprintln!("{prog}: No help topic for '{topic}'");
                return 3;
            }
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    if cli.version {
        print!("{}", version_text(&prog_name(&args)));
        return 0;
    }
    let _ = crate::log::init(cli.log.as_deref(), cli.log_format == "json", cli.debug);
    if matches!(
        cli.command,
        Some(Command::Create(_) | Command::Run { .. } | Command::Exec(_))
    ) {
        // The commands that clone a process: the start-up's and the
        // argument parser's code is done with, so its pages are unmapped
        // (they stay in the page cache) and the peak RSS is what one stage
        // maps, not the sum of all (without this drop after the fast
        // reading, `run`'s peak is 3272 kB instead of 2760, for 19 faults).
        crate::drop_stage_pages();
    }
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            crate::log::error(&e.to_string());
            1
        }
    }
}

/// The unknown command of `help foo` or `foo -h`.
fn unknown_help_topic(e: &clap::Error, args: &[std::ffi::OsString]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::InvalidSubcommand {
        return None;
    }
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let wants_help =
        args.iter().any(|a| a == "-h" || a == "--help") || args.iter().any(|a| a == "help");
    match e.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(name)) if wants_help => Some(name.clone()),
        _ => None,
    }
}

fn dispatch(cli: &Cli) -> Result<i32> {
    if cli.log_format != "text" && cli.log_format != "json" {
        return Err(Error::Config(format!(
            "--log-format {:?}: use text or json",
            cli.log_format
        )));
    }
    if cli.systemd_cgroup {
        return Err(Error::Unsupported(
            "--systemd-cgroup: the systemd cgroup driver is not supported yet; use the cgroupfs driver".into(),
        ));
    }
    let Some(command) = &cli.command else {
        return Err(Error::Config("no command given; see --help".into()));
    };
    let root = &cli.root.clone().unwrap_or_else(default_root);
    match command {
        Command::Spec { bundle } => {
            let rootless = cli.rootless.as_deref().is_some_and(|v| v == "true");
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(Error::Config(format!("{} already exists", path.display())));
            }
            let text = spec::to_pretty_json(&spec::example_config(rootless));
            std::fs::write(&path, text).map_err(|e| Error::Io {
                context: format!("write {}", path.display()),
                source: e,
            })?;
        }
        Command::Create(args) => {
            let console = match &args.console_socket {
                Some(p) => {
                    Some(
                        std::os::unix::net::UnixStream::connect(p).map_err(|e| Error::Io {
                            context: format!("connect to console socket {}", p.display()),
                            source: e,
                        })?,
                    )
                }
                None => None,
            };
            container::create::create(root, &args.options(), console)?;
        }
        Command::Start { id } => container::start::start(root, id)?,
        Command::Checkpoint {
            criu,
            parent_path,
            leave_running,
            tcp_skip_in_flight,
            link_remap,
            status_fd,
            page_server,
            pre_dump,
            id,
        } => {
            let flags = container::checkpoint::CriuFlags {
                parent_path: parent_path.clone(),
                leave_running: *leave_running,
                tcp_skip_in_flight: *tcp_skip_in_flight,
                link_remap: *link_remap,
                status_fd: Some(*status_fd),
                page_server: page_server.clone(),
                pre_dump: *pre_dump,
                ..criu.flags()
            };
            container::checkpoint::checkpoint(
                root,
                id,
                &flags,
                &container::checkpoint::CriuCommand,
            )?;
        }
        Command::Restore {
            criu,
            bundle,
            console_socket,
            detach,
            pid_file,
            no_subreaper,
            no_pivot,
            lsm_profile,
            lsm_mount_context,
            id,
        } => {
            let flags = container::checkpoint::CriuFlags {
                lsm_profile: lsm_profile.clone(),
                lsm_mount_context: lsm_mount_context.clone(),
                ..criu.flags()
            };
            let opts = container::checkpoint::RestoreOptions {
                id: id.clone(),
                bundle: bundle.clone(),
                detach: *detach,
                pid_file: pid_file.clone(),
                console_socket: console_socket.clone(),
                no_subreaper: *no_subreaper,
                no_pivot: *no_pivot,
            };
            return container::checkpoint::restore(
                root,
                &opts,
                &flags,
                &container::checkpoint::CriuCommand,
            );
        }
        Command::State { id } => {
            let (st, status) = container::load(root, id)?;
            print_json(&st.view(status), true);
        }
        Command::Kill { all, id, signal } => {
            // As runc: the container is looked up first, so a missing one is the error even
            // when the signal is bad too.
            container::load(root, id)?;
            let sig = container::kill::parse_signal(signal)?;
            container::kill::kill(root, id, sig, *all)?;
        }
        Command::Delete { force, id } => container::delete::delete(root, id, *force)?,
        Command::Run {
            create,
            detach,
            keep,
        } => {
            return container::run::run(root, &create.options(), *detach, *keep);
        }
        Command::List { format, quiet } => list(root, format, *quiet)?,
        Command::Features => print_json(&crate::features::features(), true),
        Command::Exec(args) => {
            let result = container::exec::exec(root, &args.options());
            // runc exits 255 when exec itself fails, so callers can tell
            // that from the process's own status.
            return Ok(result.unwrap_or_else(|e| {
                crate::log::error(&format!("exec failed: {e}"));
                255
            }));
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => container::ps::ps(root, id, format, ps_args)?,
        Command::Pause { id } => container::pause::pause(root, id)?,
        Command::Resume { id } => container::pause::resume(root, id)?,
        Command::Update(args) => container::update::update(root, &args.id, &args.flags())?,
        Command::Events {
            interval,
            stats,
            id,
        } => {
            let interval = container::events::parse_duration(interval)?;
            container::events::events(root, id, interval, *stats)?;
        }
    }
    Ok(0)
}

fn print_json<T: serde::Serialize>(v: &T, pretty: bool) {
    let text = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .expect("serializes");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

/// runc's default state root: /run for root, the user's runtime directory
/// for anyone else.
fn default_root() -> PathBuf {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return PathBuf::from("/run/berth-runtime");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("berth-runtime"),
        _ => PathBuf::from(format!("/run/user/{uid}/berth-runtime")),
    }
}

fn list(root: &std::path::Path, format: &str, quiet: bool) -> Result<()> {
    let mut states = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let Some(id) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Ok(st) = State::load(root, &id) {
                let status = st.status(root);
                states.push((st, status));
            }
        }
    }
    states.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let mut out = std::io::stdout().lock();
    if quiet {
        for (st, _) in &states {
            let _ = writeln!(out, "{}", st.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let views: Vec<_> = states.iter().map(|(s, st)| s.view(*st)).collect();
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string(&views).expect("serializes")
            );
        }
        "table" => {
            let rows: Vec<[String; 6]> = states
                .iter()
                .map(|(s, st)| {
                    let v = s.view(*st);
                    [
                        s.id.clone(),
                        v.pid.to_string(),
                        st.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        "root".to_string(),
                    ]
                })
                .collect();
            let head = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut widths = head.clone().map(|h| h.len());
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.len());
                }
            }
            for r in std::iter::once(&head).chain(rows.iter()) {
                let line: Vec<String> = r
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                let _ = writeln!(out, "{}", line.join("   ").trim_end());
            }
        }
        other => {
            return Err(Error::Config(format!(
                "--format {other:?}: use table or json"
            )))
        }
    }
    Ok(())
}
