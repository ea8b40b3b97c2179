//! `exec`: start another process in a container. The runtime clones a child
//! (fork semantics, no re-exec of the runtime binary) that joins every
//! namespace of the container's init, user namespace first; the pid and time
//! namespaces only take effect for children, so the runtime joins those
//! itself before cloning. The runtime puts the child in the container's
//! cgroup, then the child takes init's last steps (terminal, rlimits, LSM,
//! cwd, seccomp, capabilities, user, no_new_privs) and execs. In the
//! foreground the runtime waits, forwarding signals and relaying the
//! terminal, and exits with the process's status.

use std::fs;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use berth_sys::Forked;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process, Spec};

use super::init::{self, ExecSetup};
use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::seccomp::Filter;
use crate::state::{State, Status};
use crate::sync::{Channel, Msg};

/// The flags of `exec` that shape the process (runc's).
#[derive(Debug, Clone, Default)]
pub struct ProcessFlags {
    /// `--process`: a JSON OCI Process that replaces the config's.
    pub process: Option<PathBuf>,
    /// The command after the container id.
    pub args: Vec<String>,
    pub tty: bool,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    /// `uid[:gid]`.
    pub user: Option<String>,
    pub additional_gids: Vec<i64>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub process_label: Option<String>,
    pub apparmor: Option<String>,
}

/// Everything `exec` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub id: String,
    pub flags: ProcessFlags,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    pub ignore_paused: bool,
    /// `--cgroup`: existing sub-cgroups to run the process in (runc's format).
    pub sub_cgroups: Vec<String>,
}

/// The process to start: the one of `--process`, or the container's own with
/// the command and the flags applied, as runc builds it. What a `--process`
/// file leaves out (capabilities, rlimits, no_new_privs, LSM labels) comes
/// from the container's config.
pub fn build_process(spec: &Spec, f: &ProcessFlags) -> Result<Process> {
    let base = spec.process().clone().unwrap_or_default();
    let mut p = match &f.process {
        Some(path) => {
            let data = fs::read(path).with_ctx(|| format!("--process: read {}", path.display()))?;
            let bad = |e: String| Error::Usage(format!("--process {}: {e}", path.display()));
            let mut v: serde_json::Value =
                serde_json::from_slice(&data).map_err(|e| bad(e.to_string()))?;
            // runc reads a missing user as uid 0, gid 0 (the zero value).
            if let Some(obj) = v.as_object_mut() {
                obj.entry("user")
                    .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
            }
            let mut p: Process = serde_path_to_error::deserialize(v).map_err(|e| {
                Error::Usage(format!(
                    "--process {}: {}: {}",
                    path.display(),
                    e.path(),
                    e.inner()
                ))
            })?;
            if p.capabilities().is_none() {
                p.set_capabilities(base.capabilities().clone());
            }
            if p.rlimits().as_ref().is_none_or(Vec::is_empty) {
                p.set_rlimits(base.rlimits().clone());
            }
            if p.no_new_privileges().is_none() {
                p.set_no_new_privileges(base.no_new_privileges());
            }
            if p.apparmor_profile().is_none() {
                p.set_apparmor_profile(base.apparmor_profile().clone());
            }
            if p.selinux_label().is_none() {
                p.set_selinux_label(base.selinux_label().clone());
            }
            p
        }
        None => flags_process(base, f)?,
    };
    if p.args().as_ref().is_none_or(Vec::is_empty) {
        return Err(Error::Usage("process args cannot be empty".into()));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::Usage(format!(
            "cwd {:?} is not an absolute path",
            p.cwd().display()
        )));
    }
    if p.terminal().is_none() {
        p.set_terminal(Some(false));
    }
    Ok(p)
}

fn flags_process(mut p: Process, f: &ProcessFlags) -> Result<Process> {
    p.set_args(Some(f.args.clone()));
    if let Some(cwd) = f.cwd.as_deref().filter(|c| !c.is_empty()) {
        p.set_cwd(PathBuf::from(cwd));
    }
    if let Some(a) = f.apparmor.as_deref().filter(|a| !a.is_empty()) {
        p.set_apparmor_profile(Some(a.to_string()));
    }
    if let Some(l) = f.process_label.as_deref().filter(|l| !l.is_empty()) {
        p.set_selinux_label(Some(l.to_string()));
    }
    if !f.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_else(empty_caps);
        for name in &f.caps {
            let cap = parse_cap(name)?;
            // runc adds the capability to every set but inheritable.
            let add = |set: &Option<Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            let (bo, ef, pe, am) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
                add(caps.ambient()),
            );
            caps.set_bounding(bo);
            caps.set_effective(ef);
            caps.set_permitted(pe);
            caps.set_ambient(am);
        }
        p.set_capabilities(Some(caps));
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &f.env {
        merge_env(&mut env, kv);
    }
    p.set_env(Some(env));
    p.set_terminal(Some(f.tty));
    if f.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    let mut user = p.user().clone();
    if let Some(u) = f.user.as_deref().filter(|u| !u.is_empty()) {
        let (uid, gid) = match u.split_once(':') {
            Some((uid, gid)) => (uid, Some(gid)),
            None => (u, None),
        };
        let num = |s: &str, what: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Usage(format!("--user {u:?}: {what} {s:?} is not a number")))
        };
        user.set_uid(num(uid, "uid")?);
        if let Some(gid) = gid {
            user.set_gid(num(gid, "gid")?);
        }
    }
    if !f.additional_gids.is_empty() {
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        for g in &f.additional_gids {
            let g = u32::try_from(*g).map_err(|_| {
                Error::Usage(format!(
                    "--additional-gids {g}: must be a number from 0 to {}",
                    u32::MAX
                ))
            })?;
            gids.push(g);
        }
        user.set_additional_gids(Some(gids));
    }
    p.set_user(user);
    Ok(p)
}

/// Capabilities with every set absent (the default has Docker's sets).
fn empty_caps() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(None);
    c.set_effective(None);
    c.set_permitted(None);
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}

/// `CAP_NET_ADMIN` (runc's spelling) or `net_admin`.
fn parse_cap(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    serde_json::from_value(serde_json::Value::String(full))
        .map_err(|_| Error::Usage(format!("--cap {name:?}: unknown capability")))
}

/// Set `KEY=VALUE` in `env`, replacing an earlier value of KEY.
fn merge_env(env: &mut Vec<String>, kv: &str) {
    let key = kv.split_once('=').map_or(kv, |(k, _)| k);
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(e) => *e = kv.to_string(),
        None => env.push(kv.to_string()),
    }
}

/// The namespaces the process joins, opened in the runtime.
struct Joins {
    /// Joined by the child, user namespace first, mount namespace last.
    child: Vec<(CloneFlags, OwnedFd, &'static str)>,
    /// Joined by the runtime before cloning (pid, time).
    runtime: Vec<(CloneFlags, OwnedFd, &'static str)>,
    user: bool,
    /// init's root directory, when init shares the runtime's mount
    /// namespace (the container was made without one): entered by chroot.
    root: Option<OwnedFd>,
}

/// Open every namespace of `pid` that differs from the runtime's own.
fn open_namespaces(pid: i32) -> Result<Joins> {
    const CHILD: [(&str, CloneFlags); 6] = [
        ("user", CloneFlags::CLONE_NEWUSER),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let runtime_ns = [
        ("pid", CloneFlags::CLONE_NEWPID),
        ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ];
    let mut joins = Joins {
        child: Vec::new(),
        runtime: Vec::new(),
        user: false,
        root: None,
    };
    for (i, (name, flag)) in CHILD.iter().chain(runtime_ns.iter()).enumerate() {
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let their_meta = match fs::metadata(&theirs) {
            Ok(m) => m,
            // A kernel without this namespace type (time before 5.6).
            Err(_) if fs::metadata(format!("/proc/self/ns/{name}")).is_err() => continue,
            Err(e) => {
                return Err(e).with_ctx(|| format!("read the {name} namespace of init (pid {pid})"))
            }
        };
        let ours = fs::metadata(format!("/proc/self/ns/{name}"));
        if ours.is_ok_and(|m| m.ino() == their_meta.ino() && m.dev() == their_meta.dev()) {
            if *flag == CloneFlags::CLONE_NEWNS {
                let root = PathBuf::from(format!("/proc/{pid}/root"));
                joins.root = Some(
                    crate::mounts::open_fd(&root, OFlag::O_PATH | OFlag::O_DIRECTORY)
                        .with_ctx(|| format!("open {}", root.display()))?,
                );
            }
            continue;
        }
        let fd = crate::mounts::open_fd(&theirs, OFlag::empty())
            .with_ctx(|| format!("open {}", theirs.display()))?;
        if i < CHILD.len() {
            joins.user |= *flag == CloneFlags::CLONE_NEWUSER;
            joins.child.push((*flag, fd, name));
        } else {
            joins.runtime.push((*flag, fd, name));
        }
    }
    Ok(joins)
}

/// Run `exec`; the exit code of the command (the process's status in the
/// foreground, 0 once it has started with `--detach`).
pub fn exec(root: &Path, opts: &ExecOptions) -> Result<i32> {
    reserve_preserved_fds(opts.preserve_fds)?;
    let (st, status) = super::load(root, &opts.id)?;
    let refuse = |action: &str| Error::State {
        id: st.id.clone(),
        status: status.to_string(),
        action: action.into(),
    };
    match status {
        Status::Stopped => return Err(refuse("cannot exec in a stopped container")),
        Status::Paused if !opts.ignore_paused => {
            return Err(refuse(
                "cannot exec in a paused container (use --ignore-paused to override)",
            ))
        }
        _ => {}
    }
    let spec = crate::state::saved_spec(root, &st).ok_or_else(|| {
        Error::Config(format!(
            "the config saved for container {} is missing or unreadable",
            st.id
        ))
    })?;
    let process = build_process(&spec, &opts.flags)?;
    let terminal = process.terminal().unwrap_or(false);
    if opts.console_socket.is_some() && !terminal {
        return Err(Error::Usage(
            "--console-socket needs --tty (or process.terminal in --process)".into(),
        ));
    }
    let seccomp = crate::seccomp::compile(&spec, &crate::seccomp::cache(root))?;
    let annotations = spec.annotations().as_ref().map(|a| {
        serde_json::Value::Object(
            a.iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    });
    let landlock = crate::landlock::Landlock::from_annotations(annotations.as_ref())?;
    let joins = open_namespaces(st.pid)?;
    // The namespaces were opened by pid: make sure it was still init.
    if !st.init_alive() {
        return Err(refuse("cannot exec in a stopped container"));
    }
    let cgroup = match Cgroup::from_state(&st) {
        Some(cg) if !opts.sub_cgroups.is_empty() => Some(cg.with_sub_cgroups(&opts.sub_cgroups)?),
        Some(cg) => Some(cg),
        None if !opts.sub_cgroups.is_empty() => {
            return Err(Error::Usage("--cgroup: the container has no cgroup".into()))
        }
        None => None,
    };

    // Block the signals before the process exists, so none (SIGCHLD above
    // all) is lost between the clone and the wait loop; the child resets
    // its mask before exec.
    let sigset = super::run::forwarded();
    let sfd = if opts.detach {
        None
    } else {
        sigset.thread_block().ctx("block signals")?;
        Some(SignalFd::with_flags(&sigset, SfdFlags::SFD_CLOEXEC).ctx("signalfd")?)
    };
    let (own_console, console) = super::run::console_for(
        opts.console_socket.as_deref(),
        terminal,
        opts.detach,
        "--tty: a detached exec needs --console-socket",
    )?;
    let (parent_sock, child_sock) = UnixStream::pair().ctx("create sync socketpair")?;
    for (flag, fd, name) in &joins.runtime {
        nix::sched::setns(fd, *flag)
            .with_ctx(|| format!("join the {name} namespace of init (pid {})", st.pid))?;
    }

    // The stage lines of --debug use runc's words (nsexec, init, setns_init):
    // scripts and runc's own tests grep them.
    crate::log_debug!(
        "nsexec container setup: exec {} joins init's namespaces (pid {})",
        st.id,
        st.pid
    );
    // The process enters the container's cgroup on its own: cloned into the
    // cgroup2 directory, and writing 0 to each v1 `tasks` (inherited
    // descriptors) first thing; a move by pid would wait for an RCU grace
    // period.
    let (target, cgroup_files) = match &cgroup {
        Some(cg) => (cg.clone_target(false)?, cg.self_join_files()?),
        None => (None, Vec::new()),
    };
    let (forked, mut joined) = super::create::clone_into(0, target, "clone the exec process")?;
    let pid = match forked {
        Forked::Child => {
            drop(parent_sock);
            crate::log_debug!("child process in init(): exec process of {}", st.id);
            child_main(Child {
                st: &st,
                process: &process,
                joins,
                sync: Channel(child_sock),
                console,
                seccomp,
                landlock,
                preserve_fds: opts.preserve_fds,
                cgroup_files,
            })
        }
        Forked::Parent(pid) => {
            // The child has its own copy of the seccomp agent's connection;
            // ours must close now, or an agent reading to the end of the
            // message would wait for this process while the child's
            // notified syscalls wait for the agent.
            drop(seccomp);
            pid
        }
    };
    let mut guard = KillOnDrop(Some(pid));
    drop(child_sock);
    drop(console);
    joined.v1_by_self = !cgroup_files.is_empty();
    drop(cgroup_files);
    let mut sync = Channel(parent_sock);
    if let Some(cg) = &cgroup {
        cg.add_joined(pid.as_raw(), joined)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        super::create::set_oom_score_adj(pid, adj)?;
    }
    sync.send(&Msg::Continue(pid.as_raw()))?;
    // The channel closes on exec (close-on-exec); before that the child
    // can only report a failure.
    match sync.recv() {
        Ok(None) => {}
        Ok(Some(Msg::Failed(m))) => return Err(Error::Exec(m)),
        Ok(Some(m)) => return Err(Error::Exec(format!("unexpected message {m:?}"))),
        Err(e) => return Err(e),
    }
    if let Some(path) = &opts.pid_file {
        super::create::write_pid_file(path, pid.as_raw())?;
    }
    if let Some(path) = &opts.pidfd_socket {
        super::create::send_pidfd(path, pid.as_raw())?;
    }
    guard.0 = None;
    crate::log_debug!("exec {}: process started, pid {pid}", st.id);
    let Some(sfd) = sfd else { return Ok(0) };
    let master = match own_console {
        Some(sock) => Some(super::run::recv_fd(&sock)?),
        None => None,
    };
    let code = super::run::supervise(pid, &sfd, master);
    let _ = sigset.thread_unblock();
    code
}

/// Hold fds 3..3+n with /dev/null where the caller left them closed, so
/// that no descriptor the runtime opens lands there and, marked to be kept,
/// leaks into the container.
fn reserve_preserved_fds(n: i32) -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg};
    for fd in 3..3 + n.max(0) {
        if fcntl(fd, FcntlArg::F_GETFD) == Err(nix::errno::Errno::EBADF) {
            // Lower descriptors are all open by now, so this one lands on `fd`.
            let null = fs::File::open("/dev/null").ctx("open /dev/null")?;
            if null.as_raw_fd() != fd {
                nix::unistd::dup2(null.as_raw_fd(), fd).ctx("reserve a preserved descriptor")?;
            } else {
                // Kept open for the process (prepare_exec clears close-on-exec).
                let _ = null.into_raw_fd();
            }
        }
    }
    Ok(())
}

/// Kills and reaps the child if exec fails on the runtime's side.
struct KillOnDrop(Option<Pid>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

struct Child<'a> {
    st: &'a State,
    process: &'a Process,
    joins: Joins,
    sync: Channel,
    console: Option<UnixStream>,
    seccomp: Option<Filter>,
    landlock: Option<crate::landlock::Landlock>,
    preserve_fds: i32,
    /// The container's v1 `tasks` files: writing 0 moves this process in.
    cgroup_files: Vec<std::os::fd::OwnedFd>,
}

/// The cloned child. Never returns: it execs or reports and exits.
fn child_main(mut c: Child) -> ! {
    let err = match child_setup(&mut c) {
        Ok(pid) => init::exec_process(c.process, c.seccomp.take(), &c.st.id, &c.st.bundle, pid),
        Err(e) => e,
    };
    // Error::Init would say "container init failed"; this is not init.
    let msg = match err {
        Error::Init(m) => m,
        other => other.to_string(),
    };
    let _ = c.sync.send(&Msg::Failed(msg));
    berth_sys::exit_now(255)
}

/// Everything before the exec; returns the process's pid in the runtime's
/// pid namespace.
fn child_setup(c: &mut Child) -> Result<i32> {
    // Processes of the container must not reach the runtime's memory or
    // binary through /proc/<pid> before the exec; exec resets this.
    berth_sys::set_dumpable(false).ctx("prctl(PR_SET_DUMPABLE)")?;
    for f in std::mem::take(&mut c.cgroup_files) {
        nix::unistd::write(&f, b"0").ctx("join the container's cgroup (write 0 to tasks)")?;
    }
    let host_pid = match c.sync.expect(&Msg::Continue(0))? {
        Msg::Continue(pid) => pid,
        _ => unreachable!("expect checks the message kind"),
    };
    if let Some(root) = c.joins.root.take() {
        nix::unistd::fchdir(root.as_raw_fd()).ctx("fchdir to init's root")?;
        nix::unistd::chroot(".").ctx("chroot into init's root")?;
        nix::unistd::chdir("/").ctx("chdir /")?;
    }
    for (flag, fd, name) in &c.joins.child {
        nix::sched::setns(fd, *flag)
            .with_ctx(|| format!("join the {name} namespace of init (pid {})", c.st.pid))?;
        if *flag == CloneFlags::CLONE_NEWUSER {
            init::become_root()?;
        }
    }
    c.joins.child.clear();
    // Beyond runc (which does this for init only): an exec'd process gets no
    // descriptor of the host's /dev/null either (unless the container's own
    // cannot be opened: device rules that deny it).
    if let Err(e) = crate::rootfs::reopen_dev_null() {
        crate::log::debug(&format!("stdio on the container's /dev/null: {e}"));
    }
    // The container's session keyring (made by init, joined by name as runc
    // does), so the process never sees the caller's keys; kernels without
    // keyrings go on without one.
    if let Err(e) = berth_sys::join_session_keyring(&init::session_keyring_name(&c.st.id)) {
        crate::log::debug(&format!("new session keyring: {e}"));
    }
    // A session (and process group) of its own, terminal or not, as runc
    // does: left in the caller's group, `kill(0, sig)` from the container
    // would reach the engine's shim and whatever else shares that group on
    // the host, outside the container's pid namespace.
    nix::unistd::setsid().ctx("setsid")?;
    let process = c.process;
    if process.terminal().unwrap_or(false) {
        init::setup_terminal(c.console.take(), process, false)?;
    }
    // The container's Landlock rules (create keeps them in the saved
    // config's annotation), resolved in its root.
    let mut landlock = match &c.landlock {
        Some(l) => l.prepare(None)?,
        None => None,
    };
    // Said before the last steps, as a filter loaded there may deny the write.
    crate::log_debug!("setns_init: about to exec {:?}", process.args());
    init::prepare_exec(
        &ExecSetup {
            process,
            id: &c.st.id,
            bundle: &c.st.bundle,
            pid: host_pid,
            user_ns: c.joins.user,
            preserve_fds: c.preserve_fds,
        },
        &mut c.seccomp,
        &mut landlock,
    )?;
    Ok(host_pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {
                "cwd": "/",
                "args": ["sh"],
                "env": ["PATH=/bin", "TERM=xterm"],
                "user": {"uid": 0, "gid": 0},
                "terminal": true,
                "noNewPrivileges": true,
                "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn flags_override_the_config_like_runc() {
        let f = ProcessFlags {
            args: vec!["id".into(), "-u".into()],
            env: vec!["TERM=dumb".into(), "X=1".into()],
            user: Some("1000:100".into()),
            additional_gids: vec![5, 6],
            caps: vec!["CAP_NET_ADMIN".into(), "sys_time".into()],
            cwd: Some("/tmp".into()),
            ..Default::default()
        };
        let p = build_process(&spec(), &f).unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["id", "-u"]);
        assert_eq!(
            p.env().as_ref().unwrap(),
            &["PATH=/bin", "TERM=dumb", "X=1"]
        );
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 100));
        assert_eq!(p.user().additional_gids().as_ref().unwrap(), &[5, 6]);
        assert_eq!(p.cwd(), Path::new("/tmp"));
        // No --tty: no terminal, whatever the config says.
        assert_eq!(p.terminal(), Some(false));
        let caps = p.capabilities().as_ref().unwrap();
        for set in [
            caps.bounding(),
            caps.effective(),
            caps.permitted(),
            caps.ambient(),
        ] {
            let set = set.as_ref().unwrap();
            assert!(set.contains(&Capability::NetAdmin) && set.contains(&Capability::SysTime));
        }
        assert!(caps.inheritable().is_none());
        assert_eq!(p.no_new_privileges(), Some(true));
    }

    #[test]
    fn bad_flags_are_named() {
        let bad = |f: ProcessFlags| build_process(&spec(), &f).unwrap_err().to_string();
        let args = vec!["true".to_string()];
        assert!(bad(ProcessFlags::default()).contains("args cannot be empty"));
        let e = bad(ProcessFlags {
            args: args.clone(),
            user: Some("bob".into()),
            ..Default::default()
        });
        assert!(e.contains("--user") && e.contains("uid"), "{e}");
        let e = bad(ProcessFlags {
            args: args.clone(),
            caps: vec!["CAP_NOPE".into()],
            ..Default::default()
        });
        assert!(e.contains("--cap \"CAP_NOPE\""), "{e}");
        let e = bad(ProcessFlags {
            args,
            additional_gids: vec![-1],
            ..Default::default()
        });
        assert!(e.contains("--additional-gids -1"), "{e}");
    }

    #[test]
    fn process_file_replaces_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        fs::write(
            &path,
            r#"{"args":["ls"],"cwd":"/","env":["A=b"],"user":{"uid":5,"gid":5}}"#,
        )
        .unwrap();
        let f = ProcessFlags {
            process: Some(path.clone()),
            args: vec!["ignored".into()],
            ..Default::default()
        };
        let p = build_process(&spec(), &f).unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["ls"]);
        // The process's env replaces the config's.
        assert_eq!(p.env().as_ref().unwrap(), &["A=b"]);
        // What the file leaves out comes from the container.
        assert!(p.capabilities().is_some());
        assert_eq!(p.rlimits().as_ref().unwrap().len(), 1);
        fs::write(&path, r#"{"args":"ls","cwd":"/"}"#).unwrap();
        let e = build_process(&spec(), &f).unwrap_err().to_string();
        assert!(e.contains("--process") && e.contains("args"), "{e}");
    }
}
