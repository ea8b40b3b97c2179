//! The container's init before it becomes the user's program. It runs in the
//! cloned child, already inside its new namespaces, and does, in order:
//! join namespaces by path, mounts, pivot_root, masks, terminal, limits,
//! user and capabilities, Landlock, seccomp, then waits for `start` (on the exec fifo, or for
//! `run` on the sync channel) and execs.
//! Until it is parked it reports every failure to the runtime over the sync
//! channel; it never returns.

use std::ffi::CString;
use std::fs;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::unistd::{chdir, dup2, setresgid, setresuid, setsid, Gid, Uid};

use crate::container::create::{CreateOptions, NsPlan};
use crate::error::{Context, Error, Result};
use crate::landlock::Ruleset;
use crate::process::{self, CapPlan};
use crate::rootfs::{self, RootfsContext};
use crate::seccomp::Filter;
use crate::spec::Bundle;
use crate::state::{HookState, Status, OCI_VERSION};
use crate::sync::{Channel, Msg};

pub struct InitArgs<'a> {
    pub bundle: &'a Bundle,
    pub opts: &'a CreateOptions,
    pub sync: Channel,
    /// The exec fifo (O_PATH) `start` opens; `None` when the runtime
    /// releases init over the sync channel instead (`run`).
    pub fifo: Option<OwnedFd>,
    pub console: Option<UnixStream>,
    pub plan: &'a NsPlan,
    pub seccomp: Option<Filter>,
    /// Idmapped trees made by the runtime, by mount index.
    pub idmapped: Vec<Option<OwnedFd>>,
    /// The runtime runs as host root (so it opens bind sources for a user
    /// namespace; see idmap::indices).
    pub runtime_is_root: bool,
    /// Without a mount namespace: the host's /proc/self/fd, opened before
    /// the chroot, through which the exec fifo is reopened (the rootfs has
    /// no /proc then).
    pub proc_fds: Option<OwnedFd>,
    /// Init's pid in the runtime's pid namespace, from `Continue` (0 until then): the state's
    /// pid for the startContainer hooks, as runc gives them.
    pub host_pid: i32,
}

/// Entry point of the cloned child. Never returns.
pub fn init_main(mut args: InitArgs) -> ! {
    let code = match setup(&mut args) {
        Ok(()) => {
            // Set-up is done and `start` has opened the fifo; exec follows.
            match finish(&mut args) {
                Ok(never) => match never {},
                Err(e) => {
                    eprintln!("berth-runtime: container init: {e}");
                    127
                }
            }
        }
        Err(e) => {
            // The runtime adds "container init failed" itself.
            let msg = match e {
                Error::Init(m) => m,
                other => other.to_string(),
            };
            let _ = args.sync.send(&Msg::Failed(msg));
            1
        }
    };
    berth_sys::exit_now(code)
}

enum Never {}

fn setup(a: &mut InitArgs) -> Result<()> {
    let host_pid = match a.sync.expect(&Msg::Continue(0))? {
        Msg::Continue(pid) => pid,
        _ => unreachable!("expect checks the message kind"),
    };
    a.host_pid = host_pid;
    // The runtime places us in our cgroups while we set up what does not
    // need them; `cgroups_placed` waits for its word, once.
    let mut placed = false;
    let wanted = crate::idmap::indices(&a.bundle.spec, a.runtime_is_root);
    if !wanted.is_empty() {
        // The runtime sends the trees after the cgroups are done.
        cgroups_placed(&mut a.sync, &mut placed, a.plan.new_cgroup)?;
        let mut trees = crate::sync::recv_fds(&a.sync.0)?.into_iter();
        let count = a.bundle.spec.mounts().as_ref().map_or(0, Vec::len);
        a.idmapped = (0..count)
            .map(|i| {
                if wanted.contains(&i) {
                    trees.next()
                } else {
                    None
                }
            })
            .collect();
    }
    // Other processes (in a shared pid namespace) must not reach the
    // runtime's binary through /proc/<pid>/exe before we exec; exec resets
    // it. Only now: a rootless runtime writes our id maps in /proc/<pid>,
    // which a non-dumpable process's owner change would forbid. Until here
    // we hold every capability, so a less privileged process could not
    // ptrace-access us anyway.
    berth_sys::set_dumpable(false).ctx("prctl(PR_SET_DUMPABLE)")?;
    let spec = &a.bundle.spec;
    let process = spec.process().as_ref().expect("validated");
    let linux = spec.linux().as_ref();

    for (flag, fd, path) in &a.plan.joins {
        nix::sched::setns(fd, *flag).with_ctx(|| format!("join namespace {}", path.display()))?;
        if *flag == CloneFlags::CLONE_NEWUSER {
            become_root()?;
        }
    }
    if a.plan.new_user {
        become_root()?;
    }
    if !a.opts.no_new_keyring {
        match berth_sys::join_session_keyring(&session_keyring_name(&a.opts.id)) {
            // Searchable by the container's root (by "other" in a user
            // namespace), as runc makes it, so `exec` joins this keyring
            // by name instead of making one of its own.
            Ok(serial) => {
                let user_ns = a.plan.new_user
                    || a.plan
                        .joins
                        .iter()
                        .any(|(f, _, _)| *f == CloneFlags::CLONE_NEWUSER);
                let search = if user_ns { 0x08 } else { 0x08_0000 };
                if let Err(e) = berth_sys::add_key_permissions(serial, search) {
                    crate::log::debug(&format!("session keyring permissions: {e}"));
                }
            }
            // Kernels without keyrings, or a user namespace without quota,
            // refuse this; the container works without it.
            Err(e) => crate::log::debug(&format!("new session keyring: {e}")),
        }
    }
    if a.plan.new_net {
        berth_sys::loopback_up().ctx("bring up the loopback interface")?;
    }
    setsid().ctx("setsid")?;
    // process.oomScoreAdj: written by the runtime before `Continue` (see create::set_oom_score_adj).
    let terminal = process.terminal().unwrap_or(false);
    let ctx = RootfsContext {
        spec,
        rootfs: &a.bundle.rootfs,
        bundle: &a.bundle.dir,
        user_ns: a.plan.new_user
            || a.plan
                .joins
                .iter()
                .any(|(f, _, _)| *f == CloneFlags::CLONE_NEWUSER),
        terminal,
        idmapped: &a.idmapped,
    };
    let own_mount_ns = a.plan.own_mount_ns();
    let new_cgroup = a.plan.new_cgroup;
    if own_mount_ns {
        rootfs::prepare(&ctx, &mut || {
            cgroups_placed(&mut a.sync, &mut placed, new_cgroup)
        })?;
    } else if a.fifo.is_some() {
        a.proc_fds = Some(
            crate::mounts::open_fd(
                Path::new("/proc/self/fd"),
                nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_PATH,
            )
            .ctx("open /proc/self/fd")?,
        );
    }
    // Nothing from here on (hooks, the user's process) runs outside the cgroups.
    cgroups_placed(&mut a.sync, &mut placed, new_cgroup)?;

    if crate::hooks::during_create(spec) {
        // The runtime runs prestart and createRuntime now; without them
        // there is nothing to stop for (a round trip on the critical path).
        a.sync.send(&Msg::HooksReady)?;
        a.sync.expect(&Msg::Continue(0))?;
    }

    let annotations = spec.annotations().clone().unwrap_or_default();
    let hook_state = |status: Status| {
        serde_json::to_string(&HookState {
            oci_version: OCI_VERSION,
            id: &a.opts.id,
            status,
            pid: host_pid,
            bundle: &a.bundle.dir,
            annotations: &annotations,
        })
        .expect("state serializes")
    };
    if let Some(h) = spec.hooks() {
        // runc runs these in the container's root directory.
        chdir(a.bundle.rootfs.as_path())
            .with_ctx(|| format!("chdir to {}", a.bundle.rootfs.display()))?;
        crate::hooks::run_all(
            "createContainer",
            h.create_container().as_ref(),
            &hook_state(Status::Creating),
        )?;
    }

    if own_mount_ns {
        rootfs::switch_root(&a.bundle.rootfs, a.opts.no_pivot)?;
    } else {
        rootfs::chroot_into(&a.bundle.rootfs)?;
    }
    if let Some(name) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(name).with_ctx(|| format!("hostname: set {name:?}"))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        berth_sys::set_domainname(name).with_ctx(|| format!("domainname: set {name:?}"))?;
    }
    for (k, v) in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        write_sysctl(k, v)?;
    }
    // The working directory is made while the root is still writable.
    let cwd = process.cwd();
    let _ = fs::create_dir_all(cwd);
    if own_mount_ns {
        rootfs::finish(spec)?;
    }
    if let Some(p) = linux.and_then(|l| l.personality().as_ref()) {
        process::set_personality(p)?;
    }

    if terminal {
        setup_terminal(a.console.take(), process, own_mount_ns)?;
    }
    // The rules resolve their paths in the container's root; the exec
    // fifo, opened after they are in force, keeps its write right.
    let mut landlock = match &a.bundle.landlock {
        Some(l) => l.prepare(a.fifo.as_ref().map(|f| f.as_fd()))?,
        None => None,
    };
    prepare_exec(
        &ExecSetup {
            process,
            id: &a.opts.id,
            bundle: &a.bundle.dir,
            pid: host_pid,
            user_ns: ctx.user_ns,
            preserve_fds: a.opts.preserve_fds,
        },
        &mut a.seccomp,
        &mut landlock,
    )?;
    // With no_new_privs the filter goes in last, after user and
    // capabilities, but still during create, as runc does: a notify agent
    // gets its listener before `start` (it may answer syscalls made until
    // then), and the startContainer hooks run under the filter.
    // Said before the filter goes in, which may deny the log's write.
    crate::log_debug!(
        "init: closing the pipe to signal completion (set-up done, waiting for start)"
    );
    if let Some(f) = a.seccomp.take() {
        f.load(&a.opts.id, &a.bundle.dir, host_pid)?;
    }
    a.sync.send(&Msg::Ready)?;
    Ok(())
}

/// Wait (once) for the runtime's word that init's cgroups exist (it joins
/// the v1 ones itself, here; their limits follow before `Start`), then enter a new cgroup namespace if the config asks for one:
/// its root is the cgroup init is in when it unshares.
fn cgroups_placed(sync: &mut Channel, placed: &mut bool, new_cgroup: bool) -> Result<()> {
    if *placed {
        return Ok(());
    }
    let count = match sync.expect(&Msg::CgroupsPlaced(0))? {
        Msg::CgroupsPlaced(n) => n as usize,
        _ => unreachable!("expect checks the message kind"),
    };
    if count > 0 {
        // Move ourselves (one thread: init is single-threaded) into each v1
        // hierarchy by writing 0 to its `tasks`, through descriptors the
        // runtime opened: cheaper than the runtime's move by pid.
        let files = crate::sync::recv_fds(&sync.0)?;
        if files.len() != count {
            return Err(Error::Init(format!(
                "expected {count} cgroup descriptors, got {}",
                files.len()
            )));
        }
        for f in files {
            nix::unistd::write(&f, b"0").ctx("join the container's cgroup (write 0 to tasks)")?;
        }
    }
    *placed = true;
    if new_cgroup {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).ctx("unshare the cgroup namespace")?;
    }
    Ok(())
}

/// What [`prepare_exec`] needs to know about the process it prepares.
pub(crate) struct ExecSetup<'a> {
    pub process: &'a oci_spec::runtime::Process,
    pub id: &'a str,
    pub bundle: &'a Path,
    /// The process's pid in the runtime's pid namespace (for the seccomp agent).
    pub pid: i32,
    /// Whether the process is in a user namespace other than the host's.
    pub user_ns: bool,
    pub preserve_fds: i32,
}

/// The last steps before exec, shared by init and `exec`: rlimits, LSM,
/// working directory, the program's presence, seccomp (when it must go in
/// before the capabilities are dropped), capabilities, user, no_new_privs,
/// umask and descriptors. `seccomp` is left for [`exec_process`] when the
/// process has no_new_privs.
pub(crate) fn prepare_exec(
    s: &ExecSetup,
    seccomp: &mut Option<Filter>,
    landlock: &mut Option<Ruleset>,
) -> Result<()> {
    let process = s.process;
    let cwd = process.cwd();
    if let Some(rl) = process.rlimits() {
        process::set_rlimits(rl)?;
    }
    apply_lsm(process)?;
    process::set_scheduling(process)?;
    process::set_cpu_affinity(process)?;

    process::chdir_cwd(cwd)?;
    // A leaked descriptor of a host directory must never become the cwd
    // (the CVE-2024-21626 class): the kernel reports a cwd outside our root
    // as unreachable, which getcwd turns into an error.
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => {}
        _ => {
            return Err(Error::Init(format!(
                "process.cwd {} is outside the container's root",
                cwd.display()
            )))
        }
    }
    let args = process.args().as_ref().expect("validated");
    let env = process.env().clone().unwrap_or_default();
    process::find_executable(&args[0], &env)?;

    let nnp = process.no_new_privileges().unwrap_or(false);
    if !nnp {
        // Without no_new_privs Landlock and the filter need CAP_SYS_ADMIN,
        // so they go in before the capabilities are dropped (Landlock
        // first: the filter may not allow its system calls).
        if let Some(l) = landlock.take() {
            l.restrict()?;
        }
        if let Some(f) = seccomp.take() {
            f.load(s.id, s.bundle, s.pid)?;
        }
    }
    let plan = CapPlan::new(process.capabilities().as_ref())?;
    if let Some(p) = &plan {
        p.apply_bounding()?;
    }
    berth_sys::set_keep_caps(true).ctx("prctl(PR_SET_KEEPCAPS)")?;
    let setgroups_allowed =
        !s.user_ns || fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "allow");
    process::set_user(process, setgroups_allowed)?;
    berth_sys::set_keep_caps(false).ctx("prctl(PR_SET_KEEPCAPS)")?;
    if let Some(p) = &plan {
        p.apply_rest()?;
    }
    if nnp {
        berth_sys::set_no_new_privs().ctx("prctl(PR_SET_NO_NEW_PRIVS)")?;
        // Last, after no_new_privs, and before the filter (see above).
        if let Some(l) = landlock.take() {
            l.restrict()?;
        }
    }
    if let Some(umask) = process.user().umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    }
    let keep = 3 + s.preserve_fds;
    for fd in 3..keep {
        let _ = nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        );
    }
    berth_sys::cloexec_from(keep).ctx("mark descriptors close-on-exec")?;
    Ok(())
}

/// The session keyring of container `id`, runc's name for it: init makes it,
/// `exec` joins it.
pub(crate) fn session_keyring_name(id: &str) -> String {
    format!("_ses.{id}")
}

/// In a new or joined user namespace, become its root (uid and gid 0).
pub(crate) fn become_root() -> Result<()> {
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .ctx("setgid 0 in the user namespace")?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .ctx("setuid 0 in the user namespace")?;
    Ok(())
}

/// Runs after `start`: wait on the fifo (or the sync channel), startContainer hooks, exec.
fn finish(a: &mut InitArgs) -> Result<Never> {
    match a.fifo.take() {
        Some(fifo) => wait_on_fifo(a, fifo)?,
        None => {
            // `run` releases us at once: nothing to give back first.
            match a.sync.recv() {
                Ok(Some(Msg::Start)) => {}
                Ok(None) => {
                    return Err(Error::Init(
                        "the runtime went away before starting the container".into(),
                    ))
                }
                Ok(Some(m)) => return Err(Error::Init(format!("expected Start, got {m:?}"))),
                Err(e) => return Err(e),
            }
        }
    }
    // Under the container's user, seccomp filter and Landlock rules already:
    // one that forbids the open leaves stdio as it was.
    if let Err(e) = rootfs::reopen_dev_null() {
        crate::log::debug(&format!("stdio on the container's /dev/null: {e}"));
    }
    let spec = &a.bundle.spec;
    let process = spec.process().as_ref().expect("validated");
    if let Some(h) = spec.hooks() {
        let annotations = spec.annotations().clone().unwrap_or_default();
        let json = serde_json::to_string(&HookState {
            oci_version: OCI_VERSION,
            id: &a.opts.id,
            status: Status::Created,
            pid: a.host_pid,
            bundle: &a.bundle.dir,
            annotations: &annotations,
        })
        .expect("state serializes");
        crate::hooks::run_all("startContainer", h.start_container().as_ref(), &json)?;
    }
    // The filter went in during set-up; nothing is left to load here.
    Err(exec_process(
        process,
        a.seccomp.take(),
        &a.opts.id,
        &a.bundle.dir,
        0,
    ))
}

/// Load the seccomp filter still pending (the no_new_privs case) and exec
/// the process's program; shared by init and `exec`. `pid` is the process's
/// pid in the runtime's pid namespace, for the seccomp agent. Returns only
/// on failure.
pub(crate) fn exec_process(
    process: &oci_spec::runtime::Process,
    seccomp: Option<Filter>,
    id: &str,
    bundle: &Path,
    pid: i32,
) -> Error {
    match try_exec(process, seccomp, id, bundle, pid) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_exec(
    process: &oci_spec::runtime::Process,
    seccomp: Option<Filter>,
    id: &str,
    bundle: &Path,
    pid: i32,
) -> Result<Never> {
    if let Some(f) = seccomp {
        f.load(id, bundle, pid)?;
    }
    let args = process.args().as_ref().expect("validated");
    let env_list = process.env().clone().unwrap_or_default();
    let path = process::find_executable(&args[0], &env_list)?;
    let path = CString::new(path.into_os_string().into_encoded_bytes())
        .map_err(|_| Error::Config("process.args[0]: contains a NUL byte".into()))?;
    let argv: Vec<CString> = args
        .iter()
        .map(|s| CString::new(s.as_bytes()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::Config("process.args: contains a NUL byte".into()))?;
    let env = process::final_env(process);
    berth_sys::reset_signals().ctx("reset signals")?;
    let err = nix::unistd::execve(&path, &argv, &env).unwrap_err();
    Err(Error::Init(format!("exec {}: {err}", args[0])))
}

/// Open a pty in the container, send its master to `console`, and make the
/// slave the controlling terminal and stdio; `dev_console` also binds it
/// over /dev/console (init only; `exec` shares the container's).
pub(crate) fn setup_terminal(
    console: Option<UnixStream>,
    process: &oci_spec::runtime::Process,
    dev_console: bool,
) -> Result<()> {
    let pty = nix::pty::openpty(None, None).ctx("open a pseudo-terminal (/dev/ptmx)")?;
    let slave_path = fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd()))
        .unwrap_or_else(|_| PathBuf::from("/dev/pts/0"));
    give_pty_to_user(&pty.slave, process);
    if let Some(size) = process.console_size() {
        berth_sys::set_window_size(
            pty.master.as_fd(),
            size.height() as u16,
            size.width() as u16,
        )
        .ctx("process.consoleSize: set window size")?;
    }
    if dev_console {
        rootfs::bind_console(&slave_path)?;
    }
    let sock =
        console.ok_or_else(|| Error::Init("terminal requested without a console socket".into()))?;
    send_fd(&sock, &pty.master, &slave_path)?;
    drop(sock);
    drop(pty.master);
    berth_sys::set_controlling_terminal(pty.slave.as_fd())
        .ctx("make the pty the controlling terminal")?;
    for fd in 0..3 {
        dup2(pty.slave.as_raw_fd(), fd).ctx("dup the pty onto stdio")?;
    }
    Ok(())
}

/// The pty belongs to the process's user, mode 0620, group `tty` when the
/// container has one (runc chowns it too, so a non-root user can use its
/// terminal). Owners not mapped in a user namespace or a read-only /dev
/// leave it as it is, as runc does.
fn give_pty_to_user(slave: &OwnedFd, process: &oci_spec::runtime::Process) {
    let uid = process.user().uid();
    let tty_gid = fs::read_to_string("/etc/group").ok().and_then(|g| {
        g.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some("tty"))
                .then(|| f.nth(1).and_then(|id| id.parse::<u32>().ok()))
                .flatten()
        })
    });
    let fd = slave.as_raw_fd();
    if let Err(e) = nix::unistd::fchown(fd, Some(Uid::from_raw(uid)), tty_gid.map(Gid::from_raw)) {
        crate::log::debug(&format!("chown the pty to {uid}: {e}"));
        return;
    }
    if let Err(e) = nix::sys::stat::fchmod(fd, nix::sys::stat::Mode::from_bits_truncate(0o620)) {
        crate::log::debug(&format!("chmod the pty: {e}"));
    }
}

/// Send `fd` with its name as payload over a unix socket (SCM_RIGHTS), as
/// runc does for the console socket.
pub fn send_fd(sock: &UnixStream, fd: &OwnedFd, name: &Path) -> Result<()> {
    let payload = name.as_os_str().as_encoded_bytes();
    let iov = [IoSlice::new(payload)];
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .ctx("send the terminal to the console socket")?;
    Ok(())
}

fn write_sysctl(key: &str, value: &str) -> Result<()> {
    if !crate::sysctl::is_namespaced(key) {
        return Err(Error::Config(format!(
            "linux.sysctl: {key} is not namespaced and would change the host; refused"
        )));
    }
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    fs::write(&path, value).with_ctx(|| format!("linux.sysctl: write {key}={value}"))
}

fn apply_lsm(process: &oci_spec::runtime::Process) -> Result<()> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !Path::new("/sys/kernel/security/apparmor").exists() {
            return Err(Error::Unsupported(format!(
                "process.apparmorProfile {profile:?}: AppArmor is not enabled on this host"
            )));
        }
        let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        fs::write(attr, format!("exec {profile}"))
            .with_ctx(|| format!("process.apparmorProfile: apply {profile}"))?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|p| !p.is_empty()) {
        if !Path::new("/sys/fs/selinux/enforce").exists() {
            return Err(Error::Unsupported(format!(
                "process.selinuxLabel {label:?}: SELinux is not enabled on this host"
            )));
        }
        fs::write("/proc/self/attr/exec", label)
            .with_ctx(|| format!("process.selinuxLabel: apply {label}"))?;
    }
    Ok(())
}

/// Block until `start` opens the exec fifo's read end, and write init's
/// byte to it.
fn wait_on_fifo(a: &mut InitArgs, fifo_fd: OwnedFd) -> Result<()> {
    let fifo = format!("/proc/self/fd/{}", fifo_fd.as_raw_fd());
    // Init may stay parked for long: give back the heap it no longer needs
    // and the binary's pages mapped so far (they come back from the page
    // cache after `start`).
    berth_sys::trim_heap();
    let open = |path: String| {
        let path = CString::new(path).expect("a /proc path has no NUL");
        berth_sys::open_write_lean(&path)
    };
    // Blocks until `start` opens the read end.
    let w = match a.proc_fds.take() {
        // The rootfs has no /proc: open the fifo relative to the host's
        // /proc/self/fd, then go back to the process's working directory.
        Some(dir) => {
            nix::unistd::fchdir(dir.as_raw_fd()).ctx("fchdir to /proc/self/fd")?;
            let opened = open(fifo_fd.as_raw_fd().to_string()).ctx("open exec fifo");
            let cwd = a.bundle.spec.process().as_ref().expect("validated").cwd();
            process::chdir_cwd(cwd)?;
            opened?
        }
        None => open(fifo.clone()).with_ctx(|| {
            format!("open exec fifo through {fifo} (the container needs /proc mounted)")
        })?,
    };
    let mut w = fs::File::from(w);
    std::io::Write::write_all(&mut w, b"0").ctx("write exec fifo")?;
    drop(w);
    Ok(())
}
