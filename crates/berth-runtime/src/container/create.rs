//! `create`: the runtime's side of making a container. It claims the state
//! directory, clones the container's init straight into its new namespaces
//! (no re-exec of the runtime binary), writes id maps, places init in its
//! cgroup, runs the runtime-side hooks, and records the state once init is
//! parked: on the exec fifo for a later `start`, or (for `run`, which
//! releases init itself) on the sync channel. Any failure undoes all of it.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use berth_cgroups::Joined;
use berth_sys::Forked;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::cgroups;
use crate::container::init::{self, InitArgs};
use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::spec::Bundle;
use crate::state::{self, State, Status, EXEC_FIFO};
use crate::sync::{Channel, Msg};

/// The flags of `create` (and `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    /// Where to send a pidfd of init (runc's --pidfd-socket).
    pub pidfd_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
}

/// How namespaces are obtained, worked out from linux.namespaces.
pub struct NsPlan {
    /// CLONE_NEW* flags passed to clone for init.
    pub clone_flags: CloneFlags,
    /// Namespaces init joins by path, user namespace first.
    pub joins: Vec<(CloneFlags, OwnedFd, PathBuf)>,
    pub new_user: bool,
    pub new_cgroup: bool,
    pub new_net: bool,
    pub new_mount: bool,
    pub new_pid: bool,
}

impl NsPlan {
    /// Whether init gets a mount namespace of its own (new, or joined by
    /// path). Without one it shares the runtime's, and nothing may be
    /// mounted: the rootfs is entered with chroot as it is.
    pub fn own_mount_ns(&self) -> bool {
        self.new_mount
            || self
                .joins
                .iter()
                .any(|(f, _, _)| *f == CloneFlags::CLONE_NEWNS)
    }
}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    CloneFlags::from_bits_retain(t as i32)
}

impl NsPlan {
    /// Open every namespace path now, in the runtime's own mount namespace,
    /// so a bad path is reported before anything is created. Namespaces that
    /// only affect children (pid, time) are entered here, by the runtime.
    pub fn prepare(spec: &Spec) -> Result<NsPlan> {
        let mut plan = NsPlan {
            clone_flags: CloneFlags::empty(),
            joins: Vec::new(),
            new_user: false,
            new_cgroup: false,
            new_net: false,
            new_mount: false,
            new_pid: false,
        };
        let namespaces = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        let mut time_new = false;
        for (i, ns) in namespaces.iter().enumerate() {
            let t = ns.typ();
            match ns.path() {
                Some(path) => {
                    let fd = crate::mounts::open_fd(path, OFlag::empty()).with_ctx(|| {
                        format!("linux.namespaces[{i}].path: open {}", path.display())
                    })?;
                    if matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                        // Only children enter these, so the runtime joins and
                        // the clone below inherits them.
                        nix::sched::setns(&fd, ns_flag(t)).with_ctx(|| {
                            format!("linux.namespaces[{i}]: join {}", path.display())
                        })?;
                    } else if t == LinuxNamespaceType::User {
                        plan.joins.insert(0, (ns_flag(t), fd, path.clone()));
                    } else {
                        plan.joins.push((ns_flag(t), fd, path.clone()));
                    }
                }
                None => match t {
                    LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                    LinuxNamespaceType::Time => time_new = true,
                    _ => {
                        plan.clone_flags |= ns_flag(t);
                        plan.new_user |= t == LinuxNamespaceType::User;
                        plan.new_net |= t == LinuxNamespaceType::Network;
                        plan.new_mount |= t == LinuxNamespaceType::Mount;
                        plan.new_pid |= t == LinuxNamespaceType::Pid;
                    }
                },
            }
        }
        if time_new {
            nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
                .ctx("unshare the time namespace")?;
            let mut offsets = String::new();
            for (clock, off) in spec
                .linux()
                .as_ref()
                .and_then(|l| l.time_offsets().clone())
                .unwrap_or_default()
            {
                if clock != "monotonic" && clock != "boottime" {
                    return Err(Error::Config(format!(
                        "linux.timeOffsets: unknown clock {clock:?} (monotonic or boottime)"
                    )));
                }
                offsets.push_str(&format!(
                    "{clock} {} {}\n",
                    off.secs().unwrap_or(0),
                    off.nanosecs().unwrap_or(0)
                ));
            }
            if !offsets.is_empty() {
                fs::write("/proc/self/timens_offsets", offsets)
                    .ctx("write time namespace offsets")?;
            }
        }
        Ok(plan)
    }
}

/// How init, once set up, waits to be released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Park {
    /// On the exec fifo in the state directory, for `start` (another
    /// process) to open; the state is recorded before `create` returns.
    Fifo,
    /// On the sync channel, for the caller (`run`) to release through
    /// [`Created::release`]; the caller records the state
    /// ([`Created::record`]). No fifo is made: a run's state directory holds
    /// one file.
    Sync,
}

/// A created container: its state, and init's pid for a foreground `run`.
pub struct Created {
    pub state: State,
    pub pid: Pid,
    /// The channel init waits on ([`Park::Sync`]).
    sync: Option<Channel>,
}

impl Created {
    /// Let init (parked on the sync channel) go on to exec, and return once it has: its end of
    /// the channel is close-on-exec, so the end of the channel is the exec (or init's death).
    /// Before it, init still runs the runtime's program: `docker top` right after `docker run
    /// -d` listed `berth-runtime` as the container's command. An init that has died since it
    /// reported ready makes this fail.
    pub fn release(&mut self) -> Result<()> {
        let mut sync = self
            .sync
            .take()
            .expect("release is for a container parked on the sync channel");
        if let Err(e) = sync.send_nosignal(&Msg::Start) {
            return Err(match self.state.init_alive() {
                true => e,
                false => Error::State {
                    id: self.state.id.clone(),
                    status: "stopped".into(),
                    action: "init exited before start".into(),
                },
            });
        }
        // Init sends nothing after `Start`: what arrives is the end of the channel.
        let _ = sync.recv();
        Ok(())
    }

    /// Put state.json (with the config, written while init set up) in
    /// place, then write the pid file and send the pidfd, as `create` does
    /// before it returns.
    pub fn record(&self, root: &Path, opts: &CreateOptions) -> Result<()> {
        self.state.commit(root)?;
        if let Some(pid_file) = &opts.pid_file {
            write_pid_file(pid_file, self.pid.as_raw())?;
        }
        if let Some(path) = &opts.pidfd_socket {
            send_pidfd(path, self.pid.as_raw())?;
        }
        crate::handover::send_mount_namespace(self.pid.as_raw());
        Ok(())
    }
}

/// Create a container. `console` is the socket init sends the terminal's
/// master to (from `--console-socket`, or the runtime's own for `run`).
pub fn create(root: &Path, opts: &CreateOptions, console: Option<UnixStream>) -> Result<Created> {
    state::validate_id(&opts.id)?;
    let bundle = Bundle::load(&opts.bundle)?;
    create_with(root, opts, &bundle, console, Park::Fifo)
}

/// [`create`] with the bundle already loaded.
pub fn create_with(
    root: &Path,
    opts: &CreateOptions,
    bundle: &Bundle,
    console: Option<UnixStream>,
    park: Park,
) -> Result<Created> {
    state::validate_id(&opts.id)?;
    // The config's parser is done with: unmap its code before this stage
    // maps its own, so the peak RSS is one stage's (`run` of /bin/true:
    // 3364 -> 2980 kB, for 26 more page faults).
    crate::drop_stage_pages();
    let process = bundle.spec.process().as_ref().expect("validated");
    if process.terminal().unwrap_or(false) && console.is_none() {
        return Err(Error::Config(
            "process.terminal is true: give --console-socket (or set terminal to false)".into(),
        ));
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .with_ctx(|| format!("create state root {}", root.display()))?;
    let dir = state::claim_dir(root, &opts.id)?;
    let mut undo = Undo {
        dir: dir.clone(),
        pid: None,
        cgroup: None,
    };
    let created = create_in(bundle, opts, console, root, &dir, park, &mut undo)?;
    if park == Park::Fifo {
        created.record(root, opts)?;
    }
    undo.disarm();
    Ok(created)
}

/// What to tear down if create fails midway.
struct Undo {
    dir: PathBuf,
    pid: Option<Pid>,
    cgroup: Option<cgroups::Cgroup>,
}

impl Undo {
    fn disarm(&mut self) {
        self.dir = PathBuf::new();
        self.pid = None;
        self.cgroup = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                crate::log::warn(&format!("cleanup after failed create: {e}"));
            }
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn create_in(
    bundle: &Bundle,
    opts: &CreateOptions,
    console: Option<UnixStream>,
    root: &Path,
    dir: &Path,
    park: Park,
    undo: &mut Undo,
) -> Result<Created> {
    let spec = &bundle.spec;
    if opts.no_pivot {
        check_no_pivot_propagation(spec)?;
    }
    let seccomp = crate::seccomp::compile(spec, &crate::seccomp::cache(root))?;
    let cgroup = cgroups::Cgroup::for_spec(&opts.id, spec)?;
    let plan = NsPlan::prepare(spec)?;
    crate::log_debug!(
        "create {}: bundle {}, new namespaces {:?}, {} joined by path",
        opts.id,
        bundle.dir.display(),
        plan.clone_flags,
        plan.joins.len()
    );
    if !plan.own_mount_ns() {
        crate::rootfs::warn_shared_mount_ns(spec);
    }

    let fifo = match park {
        Park::Fifo => Some(make_exec_fifo(dir)?),
        Park::Sync => None,
    };

    let (parent_sock, child_sock) = UnixStream::pair().ctx("create sync socketpair")?;
    let created = state::now_rfc3339();
    let annotations = spec.annotations().clone().unwrap_or_default();

    // Asked before the clone: in a new user namespace init is nobody at first.
    let runtime_is_root = nix::unistd::geteuid().is_root();
    // No drop of the binary's read-only pages here: the one after the
    // config's load already bounds this stage, init drops its own before it
    // parks, and one here cost ~30 page faults per run for the same peak and
    // parked RSS (2892 and 640-644 kB either way, measured).
    // The stage lines of --debug use runc's words (nsexec, init): scripts
    // and runc's own tests grep them.
    crate::log_debug!(
        "nsexec container setup: cloning init of {} with {:?}",
        opts.id,
        plan.clone_flags
    );
    // The cgroup goes in the undo list before anything of it exists.
    undo.cgroup = cgroup;
    let target = match undo.cgroup.as_ref() {
        Some(cg) => cg.clone_target(true)?,
        None => None,
    };
    let (forked, joined) = clone_into(plan.clone_flags.bits(), target, "clone container init")?;
    let pid = match forked {
        Forked::Child => {
            drop(parent_sock);
            crate::log_debug!("child process in init(): container {}", opts.id);
            init::init_main(InitArgs {
                bundle,
                opts,
                sync: Channel(child_sock),
                fifo,
                console,
                plan: &plan,
                seccomp,
                idmapped: Vec::new(),
                runtime_is_root,
                proc_fds: None,
                host_pid: 0,
            })
        }
        Forked::Parent(pid) => {
            // Init has its own copy of the seccomp agent's connection; ours
            // closes now so the agent sees the end of init's message.
            drop(seccomp);
            pid
        }
    };
    undo.pid = Some(pid);
    crate::log_debug!("create {}: init cloned, pid {pid}", opts.id);
    drop(child_sock);
    drop(console);
    drop(fifo);
    let mut sync = Channel(parent_sock);

    if plan.new_user {
        write_id_maps(spec, pid)?;
    }
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        set_oom_score_adj(pid, adj)?;
    }
    // Init sets up its mounts while we make its cgroups; it waits for
    // `CgroupsPlaced` before its first step that needs to be in them.
    sync.send(&Msg::Continue(pid.as_raw()))?;
    let (devices, limits) = split_device_rules(cgroups::with_default_devices(
        spec.linux().as_ref().and_then(|l| l.resources().as_ref()),
        spec,
    ));
    // The device rules go in before init joins: on cgroup v1 they are a
    // deny-all and then each allow, and an init already inside could meet
    // that window with an open or a mknod of /dev (refused: a start that
    // fails now and then).
    let placed = match undo.cgroup.as_ref() {
        Some(cg) => place_in_cgroup(cg, pid, &opts.id, joined)
            .and_then(|files| cg.set(&devices).map(|()| files)),
        None => Ok(Vec::new()),
    };
    let told = placed.and_then(|files| {
        sync.send(&Msg::CgroupsPlaced(files.len() as u32))?;
        if !files.is_empty() {
            crate::sync::send_fds(&sync.0, &files)?;
        }
        Ok(())
    });
    if let Err(e) = told {
        return Err(init_failure_or(&mut sync, undo, e));
    }
    let trees: Vec<OwnedFd> = crate::idmap::prepare(spec, &bundle.dir, runtime_is_root)?
        .into_iter()
        .flatten()
        .collect();
    if !trees.is_empty() {
        crate::sync::send_fds(&sync.0, &trees)?;
    }
    // The other limits go in once init is in its cgroups (runc too sets
    // them after the move), while init goes on with its mounts instead of
    // waiting for them. No hook or user program runs before they are in
    // force: `Continue` after `HooksReady`, and `Start`, come after this.
    if let Some(cg) = undo.cgroup.as_ref() {
        if let Err(e) = cg.set(&limits) {
            return Err(init_failure_or(&mut sync, undo, e));
        }
    }
    // Keep the config for delete's poststop hooks and for exec, even if the
    // bundle goes away: state.json holds it. Serialized while init does its
    // mounts. process.landlock does not survive the spec types: it travels
    // in its annotation, so `exec` applies the same rules.
    let config = match &bundle.landlock {
        Some(l) => {
            let mut saved = spec.clone();
            let mut ann = saved.annotations().clone().unwrap_or_default();
            ann.insert(
                crate::landlock::ANNOTATION.to_string(),
                l.to_json().to_string(),
            );
            saved.set_annotations(Some(ann));
            serde_json::to_vec(&saved)
        }
        None => serde_json::to_vec(spec),
    }
    .expect("spec serializes");
    // Init stops at `HooksReady` only for the hooks that run now.
    let hooks = crate::hooks::during_create(spec);
    if hooks {
        sync.expect(&Msg::HooksReady)?;
        crate::log_debug!("create {}: mounts done, running runtime hooks", opts.id);
    }

    let pid_start = state::proc_stat(pid.as_raw())
        .map(|(_, s)| s)
        .ok_or_else(|| Error::Init("container init vanished".into()))?;
    let st = State {
        id: opts.id.clone(),
        pid: pid.as_raw(),
        pid_start,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created,
        cgroup: undo.cgroup.as_ref().map(|c| c.paths()),
        annotations,
        shared_pid_ns: !plan.new_pid,
    };
    if hooks {
        if let Some(h) = spec.hooks() {
            let json =
                serde_json::to_string(&st.hook_state(Status::Creating)).expect("state serializes");
            #[allow(deprecated)]
            hooks::run_all("prestart", h.prestart().as_ref(), &json)?;
            hooks::run_all("createRuntime", h.create_runtime().as_ref(), &json)?;
        }
        sync.send(&Msg::Continue(pid.as_raw()))?;
    }
    // The state file is written (not yet renamed into place) while init
    // finishes its set-up: `record`, after `Ready`, only renames it, so the
    // state still appears once init is ready, as before.
    st.stage(root, Some(&config))?;
    drop(config);
    sync.expect(&Msg::Ready)?;
    crate::log_debug!("create {}: init is parked ({park:?})", opts.id);
    Ok(Created {
        state: st,
        pid,
        sync: (park == Park::Sync).then_some(sync),
    })
}

/// Make the exec fifo `start` opens, and open it (O_PATH) for init.
fn make_exec_fifo(dir: &Path) -> Result<OwnedFd> {
    let fifo_path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622)).ctx("create exec fifo")?;
    // Any user init becomes must be able to write it; the umask would stop that.
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&fifo_path, fs::Permissions::from_mode(0o622))
            .ctx("chmod exec fifo")?;
    }
    crate::mounts::open_fd(&fifo_path, OFlag::O_PATH).ctx("open exec fifo")
}

/// Clone (fork-like, see `berth_sys::clone_fork`), straight into the
/// cgroup2 directory `target` when there is one (`CLONE_INTO_CGROUP`: a move
/// by pid afterwards would wait for an RCU grace period). A kernel that
/// cannot (before 5.7, or a directory it refuses) gets a plain clone, and
/// the returned [`Joined`] says the move by pid is still to do.
pub(crate) fn clone_into(
    flags: i32,
    target: Option<OwnedFd>,
    what: &'static str,
) -> Result<(Forked, Joined)> {
    let mut joined = Joined::default();
    if let Some(target) = target {
        match berth_sys::clone_fork_into_cgroup(flags, target.as_fd()) {
            Ok(forked) => {
                joined.cgroup2 = true;
                return Ok((forked, joined));
            }
            Err(e) => crate::log_debug!("clone3 into the cgroup2 directory: {e}; cloning plainly"),
        }
    }
    let forked = berth_sys::clone_fork(flags).ctx(what)?;
    Ok((forked, joined))
}

/// Create init's cgroup, put init in it where it is not yet and set the
/// limits. Init joins the v1 hierarchies itself, before anything the
/// cgroups govern, through the returned `tasks` descriptors.
fn place_in_cgroup(
    cg: &cgroups::Cgroup,
    pid: Pid,
    id: &str,
    mut joined: Joined,
) -> Result<Vec<OwnedFd>> {
    joined.v1_by_self = true;
    cg.apply_joined(pid.as_raw(), joined)?;
    let files = cg.self_join_files()?;
    crate::log_debug!("create {id}: cgroup {} ready for init", cg.path().display());
    Ok(files)
}

/// The resources split in two: the device rules alone, and everything else.
fn split_device_rules(
    mut all: oci_spec::runtime::LinuxResources,
) -> (
    oci_spec::runtime::LinuxResources,
    oci_spec::runtime::LinuxResources,
) {
    let mut devices = oci_spec::runtime::LinuxResources::default();
    devices.set_devices(all.devices().clone());
    all.set_devices(None);
    (devices, all)
}

/// A step of ours failed while init went on with its set-up: stop init, and
/// report init's own failure if it had one (an init that already exited
/// makes the cgroup move fail with ESRCH, which would hide the cause).
fn init_failure_or(sync: &mut Channel, undo: &mut Undo, ours: Error) -> Error {
    if let Some(pid) = undo.pid.take() {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
    match sync.recv() {
        Ok(Some(Msg::Failed(m))) => Error::Init(m),
        _ => ours,
    }
}

/// Without pivot_root the host's mounts stay under the container's root in
/// its mount namespace; a private root would keep host unmounts from ever
/// reaching them (runc refuses the same combination).
fn check_no_pivot_propagation(spec: &Spec) -> Result<()> {
    let private = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(crate::mounts::propagation_flag)
        .is_some_and(|f| f.contains(nix::mount::MsFlags::MS_PRIVATE));
    if private {
        return Err(Error::Config(
            "linux.rootfsPropagation: [r]private is not safe without pivot_root (--no-pivot)"
                .into(),
        ));
    }
    Ok(())
}

/// Send a pidfd of `pid` to the unix socket at `path`, so the caller can
/// signal and wait for the process without pid reuse races.
pub fn send_pidfd(path: &Path, pid: i32) -> Result<()> {
    let sock = UnixStream::connect(path)
        .with_ctx(|| format!("connect to pidfd socket {}", path.display()))?;
    let pidfd = berth_sys::pidfd_open(pid).with_ctx(|| format!("pidfd_open({pid})"))?;
    crate::container::init::send_fd(&sock, &pidfd, Path::new("pidfd"))
}

/// Write the pid file atomically (runc writes the bare number, no newline).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ctx("current directory")?.join(path)
    };
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("pid")
    ));
    fs::write(&tmp, pid.to_string()).with_ctx(|| format!("write pid file {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_ctx(|| format!("write pid file {}", path.display()))
}

/// `process.oomScoreAdj`, written by the runtime for its child: the child, non-dumpable in a user
/// namespace, may not open its own /proc files (they stay host root's until it execs).
pub fn set_oom_score_adj(pid: Pid, adj: i32) -> Result<()> {
    fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
        .with_ctx(|| format!("process.oomScoreAdj: write {adj}"))
}

fn write_id_maps(spec: &Spec, pid: Pid) -> Result<()> {
    let linux = spec.linux().as_ref().expect("user namespace implies linux");
    let fmt = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let uid = fmt(linux.uid_mappings().as_ref());
    let gid = fmt(linux.gid_mappings().as_ref());
    if !nix::unistd::geteuid().is_root() {
        // An unprivileged caller may only map itself, and only after denying setgroups.
        let _ = fs::write(format!("/proc/{pid}/setgroups"), "deny");
    }
    fs::write(format!("/proc/{pid}/uid_map"), &uid)
        .with_ctx(|| format!("linux.uidMappings: write uid_map ({})", uid.trim()))?;
    if !gid.is_empty() {
        fs::write(format!("/proc/{pid}/gid_map"), &gid)
            .with_ctx(|| format!("linux.gidMappings: write gid_map ({})", gid.trim()))?;
    }
    Ok(())
}
