//! `checkpoint` and `restore`: runc's flags, carried out by the `criu`
//! command (dump / pre-dump / restore). What criu needs to know about the
//! container comes from its config: bind mounts and masked files are
//! external mounts, namespaces joined by path are joined again on restore,
//! the network namespace is left empty (as runc: the runtime does not manage
//! network devices), and the stdio pipes init had are recorded in
//! `descriptors.json` so a restore hands over the caller's own.
//!
//! criu sits behind [`Criu`], so the arguments are tested without it.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Context, Error, Result};
use crate::state::{State, Status};

/// The flags both commands share, and checkpoint's own (runc's names).
#[derive(Debug, Clone, Default)]
pub struct CriuFlags {
    pub image_path: Option<PathBuf>,
    pub work_path: Option<PathBuf>,
    /// checkpoint: previous images (relative to the image path) for `--pre-dump` chains.
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_established: bool,
    pub tcp_skip_in_flight: bool,
    pub link_remap: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub lazy_pages: bool,
    pub status_fd: Option<i32>,
    pub page_server: Option<String>,
    pub file_locks: bool,
    pub pre_dump: bool,
    pub manage_cgroups_mode: Option<String>,
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
}

/// The outside boundary: running criu with arguments.
pub trait Criu {
    fn run(&self, args: &[String]) -> Result<()>;
}

/// The `criu` binary on PATH; its log names the file to read on failure.
pub struct CriuCommand;

impl Criu for CriuCommand {
    fn run(&self, args: &[String]) -> Result<()> {
        let status = std::process::Command::new("criu")
            .args(args)
            .status()
            .ctx("run criu (is it installed?)")?;
        if status.success() {
            return Ok(());
        }
        let log = args
            .iter()
            .position(|a| a == "--log-file")
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_default();
        let work = args
            .iter()
            .position(|a| a == "--work-dir")
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_default();
        let tail = fs::read_to_string(Path::new(&work).join(&log))
            .ok()
            .and_then(|t| {
                t.lines()
                    .rev()
                    .find(|l| l.contains("Error"))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        Err(Error::Unsupported(format!(
            "criu {} failed ({status}): {tail} (log: {work}/{log})",
            args.first().map(String::as_str).unwrap_or("")
        )))
    }
}

const DESCRIPTORS: &str = "descriptors.json";

fn image_dir(flags: &CriuFlags) -> Result<PathBuf> {
    let dir = match &flags.image_path {
        Some(p) if !p.as_os_str().is_empty() => p.clone(),
        _ => std::env::current_dir()
            .ctx("current directory")?
            .join("checkpoint"),
    };
    fs::create_dir_all(&dir).with_ctx(|| format!("--image-path: create {}", dir.display()))?;
    Ok(dir)
}

fn push(args: &mut Vec<String>, items: &[&str]) {
    args.extend(items.iter().map(|s| s.to_string()));
}

/// Options both dump and restore pass the same way.
fn common_args(args: &mut Vec<String>, flags: &CriuFlags, spec: &Spec) -> Result<()> {
    for (on, flag) in [
        (flags.tcp_established, "--tcp-established"),
        (flags.ext_unix_sk, "--ext-unix-sk"),
        (flags.shell_job, "--shell-job"),
        (flags.file_locks, "--file-locks"),
        (flags.auto_dedup, "--auto-dedup"),
        (flags.lazy_pages, "--lazy-pages"),
    ] {
        if on {
            args.push(flag.into());
        }
    }
    let mode = flags.manage_cgroups_mode.as_deref().unwrap_or("soft");
    if !matches!(mode, "soft" | "full" | "strict" | "ignore") {
        return Err(Error::Usage(format!(
            "--manage-cgroups-mode {mode:?}: use soft, full, strict or ignore"
        )));
    }
    args.push(format!("--manage-cgroups={mode}"));
    // runc does not manage network devices: the network namespace is
    // always left empty; --empty-ns may only name it again.
    for ns in &flags.empty_ns {
        if ns != "network" {
            return Err(Error::Usage(format!(
                "--empty-ns: namespace {ns:?} is not supported (only network)"
            )));
        }
    }
    push(args, &["--empty-ns", "net"]);
    let _ = spec;
    Ok(())
}

/// Mounts criu must treat as external: bind mounts, and masked paths that
/// are files (bound from /dev/null). Pairs of (destination, source).
fn external_mounts(spec: &Spec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        if bind {
            let src = m
                .source()
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_default();
            out.push((m.destination().display().to_string(), src));
        }
    }
    out
}

/// The criu arguments of `checkpoint` for init `pid`.
pub fn dump_args(
    st: &State,
    spec: &Spec,
    flags: &CriuFlags,
    images: &Path,
    masked_files: &[String],
) -> Result<Vec<String>> {
    let work = flags.work_path.clone().unwrap_or_else(|| images.into());
    let mut args = vec![if flags.pre_dump { "pre-dump" } else { "dump" }.to_string()];
    push(
        &mut args,
        &[
            "--tree",
            &st.pid.to_string(),
            "--images-dir",
            &images.display().to_string(),
            "--work-dir",
            &work.display().to_string(),
            "--log-file",
            if flags.pre_dump {
                "pre-dump.log"
            } else {
                "dump.log"
            },
            "-v4",
        ],
    );
    common_args(&mut args, flags, spec)?;
    for (on, flag) in [
        (flags.leave_running && !flags.pre_dump, "--leave-running"),
        (flags.tcp_skip_in_flight, "--tcp-skip-in-flight"),
        (flags.link_remap, "--link-remap"),
        (flags.pre_dump, "--track-mem"),
    ] {
        if on {
            args.push(flag.into());
        }
    }
    if let Some(parent) = &flags.parent_path {
        check_parent_path(parent, images)?;
        push(
            &mut args,
            &["--prev-images-dir", &parent.display().to_string()],
        );
        if !flags.pre_dump {
            args.push("--track-mem".into());
        }
    }
    if let Some(ps) = &flags.page_server {
        let (addr, port) = ps
            .rsplit_once(':')
            .filter(|(a, p)| !a.is_empty() && p.parse::<u16>().is_ok())
            .ok_or_else(|| {
                Error::Usage("use --page-server ADDRESS:PORT to specify the page server".into())
            })?;
        push(
            &mut args,
            &["--page-server", "--address", addr, "--port", port],
        );
    }
    if let Some(fd) = flags.status_fd.filter(|fd| *fd >= 0) {
        push(&mut args, &["--status-fd", &fd.to_string()]);
    }
    for (dest, _) in external_mounts(spec) {
        push(&mut args, &["--external", &format!("mnt[{dest}]:{dest}")]);
    }
    for p in masked_files {
        push(&mut args, &["--external", &format!("mnt[{p}]:{p}")]);
    }
    if let Some(freezer) = st.cgroup.as_ref().and_then(|c| c.v1.get("freezer")) {
        push(
            &mut args,
            &["--freeze-cgroup", &freezer.display().to_string()],
        );
    }
    Ok(args)
}

/// `--parent-path` is relative to the image directory and names a
/// directory there (a pre-dump's images).
fn check_parent_path(parent: &Path, images: &Path) -> Result<()> {
    if parent.is_absolute() {
        return Err(Error::Usage("--parent-path must be relative".into()));
    }
    if !images.join(parent).is_dir() {
        return Err(Error::Usage(format!(
            "invalid --parent-path: {} is not a directory",
            images.join(parent).display()
        )));
    }
    Ok(())
}

/// Masked paths of the config that are files in the running container.
fn masked_files(st: &State, spec: &Spec) -> Vec<String> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| fs::metadata(format!("/proc/{}/root{p}", st.pid)).is_ok_and(|m| !m.is_dir()))
        .collect()
}

/// `checkpoint`: dump the container with criu. Unless it is left running
/// (`--leave-running`, `--pre-dump`), the container is then removed.
pub fn checkpoint(root: &Path, id: &str, flags: &CriuFlags, criu: &dyn Criu) -> Result<()> {
    let (st, status) = super::load(root, id)?;
    if matches!(status, Status::Created | Status::Stopped) {
        return Err(Error::State {
            id: id.into(),
            status: status.to_string(),
            action: "cannot checkpoint a container that is not running".into(),
        });
    }
    let spec = crate::state::saved_spec(root, &st).ok_or_else(|| {
        Error::Config(format!(
            "the config saved for container {id} is missing or unreadable"
        ))
    })?;
    // The flags are checked first: a bad one is the caller's mistake
    // whatever else stands in the way (runc checks them before criu too).
    let images = image_dir(flags)?;
    if let Some(parent) = &flags.parent_path {
        check_parent_path(parent, &images)?;
    }
    let v1_host = st
        .cgroup
        .as_ref()
        .is_some_and(|c| c.version != berth_cgroups::CgroupVersion::V2);
    if v1_host
        && spec
            .mounts()
            .iter()
            .flatten()
            .any(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")))
    {
        // Its binds of host cgroup directories would need mapping to the
        // restored container's; refuse rather than write images that
        // cannot be restored.
        return Err(Error::Unsupported(
            "checkpoint: a /sys/fs/cgroup mount on a cgroup v1 host is not supported yet".into(),
        ));
    }
    let args = dump_args(&st, &spec, flags, &images, &masked_files(&st, &spec))?;
    // What init's stdio were, so restore can hand over the caller's pipes.
    let fds: Vec<String> = (0..3)
        .map(|i| {
            fs::read_link(format!("/proc/{}/fd/{i}", st.pid))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    state_write(&images.join(DESCRIPTORS), &fds)?;
    crate::log_debug!("checkpoint {id}: criu {}", args.join(" "));
    criu.run(&args)?;
    if !flags.leave_running && !flags.pre_dump {
        super::wait_gone(&st, std::time::Duration::from_secs(10))?;
        super::delete::delete(root, id, true)?;
    }
    Ok(())
}

fn state_write(path: &Path, fds: &[String]) -> Result<()> {
    let data = serde_json::to_vec(fds).expect("strings serialize");
    fs::write(path, data).with_ctx(|| format!("write {}", path.display()))
}

/// The criu arguments of `restore` into `root_mount` (the rootfs bound on a
/// directory of its own, as criu wants a mount point for `--root`).
pub fn restore_args(
    spec: &Spec,
    flags: &CriuFlags,
    images: &Path,
    root_mount: &Path,
    pid_file: &Path,
    cgroup: Option<&berth_cgroups::CgroupPaths>,
    descriptors: &[String],
) -> Result<Vec<String>> {
    let work = flags.work_path.clone().unwrap_or_else(|| images.into());
    let mut args = vec!["restore".to_string()];
    push(
        &mut args,
        &[
            "--images-dir",
            &images.display().to_string(),
            "--work-dir",
            &work.display().to_string(),
            "--log-file",
            "restore.log",
            "-v4",
            "--root",
            &root_mount.display().to_string(),
            "--restore-detached",
            "--restore-sibling",
            "--pidfile",
            &pid_file.display().to_string(),
        ],
    );
    common_args(&mut args, flags, spec)?;
    for (dest, src) in external_mounts(spec) {
        push(&mut args, &["--external", &format!("mnt[{dest}]:{src}")]);
    }
    for p in spec
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
    {
        // Dumped as external only if it was a file; criu ignores the rest.
        push(&mut args, &["--external", &format!("mnt[{p}]:/dev/null")]);
    }
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
    {
        let Some(path) = ns.path() else { continue };
        let name = match ns.typ() {
            LinuxNamespaceType::Network => "net",
            LinuxNamespaceType::Uts => "uts",
            LinuxNamespaceType::Ipc => "ipc",
            LinuxNamespaceType::User => "user",
            LinuxNamespaceType::Pid => "pid",
            LinuxNamespaceType::Mount => "mnt",
            LinuxNamespaceType::Cgroup => "cgroup",
            LinuxNamespaceType::Time => "time",
        };
        push(
            &mut args,
            &["--join-ns", &format!("{name}:{}", path.display())],
        );
    }
    if let Some(cg) = cgroup {
        for (ctrl, dir) in &cg.v1 {
            if let Some(rel) = rel_to_hierarchy(dir, true) {
                push(&mut args, &["--cgroup-root", &format!("{ctrl}:{rel}")]);
            }
        }
        if cg.v1.is_empty() {
            let hybrid = cg.unified_mount.as_deref() != Some(Path::new("/sys/fs/cgroup"));
            if let Some(rel) = cg
                .unified
                .as_deref()
                .and_then(|d| rel_to_hierarchy(d, hybrid))
            {
                push(&mut args, &["--cgroup-root", &rel]);
            }
        }
    }
    // The caller's stdio take the place of the pipes init had.
    for (i, d) in descriptors.iter().enumerate() {
        if d.starts_with("pipe:") {
            push(&mut args, &["--inherit-fd", &format!("fd[{i}]:{d}")]);
        }
    }
    if let Some(p) = &flags.lsm_profile {
        push(&mut args, &["--lsm-profile", p]);
    }
    if let Some(c) = &flags.lsm_mount_context {
        push(&mut args, &["--lsm-mount-context", c]);
    }
    Ok(args)
}

/// A cgroup directory relative to its hierarchy's mount: v1 and hybrid
/// hierarchies are mounted at /sys/fs/cgroup/NAME, a v2-only one at
/// /sys/fs/cgroup itself.
fn rel_to_hierarchy(dir: &Path, named_mount: bool) -> Option<String> {
    let rest = dir.strip_prefix("/sys/fs/cgroup").ok()?;
    let mut comps = rest.components();
    if named_mount {
        comps.next();
    }
    Some(format!("/{}", comps.as_path().display()))
}

/// The flags of `restore` beyond criu's.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Accepted as runc does; the restored init is the runtime's own child
    /// (criu's `--restore-sibling`), so no subreaper is set either way.
    pub no_subreaper: bool,
    /// Accepted as runc does; criu switches the root itself.
    pub no_pivot: bool,
}

/// `restore`: make container `id` from the bundle and criu's images. In
/// the foreground the runtime waits for it as `run` does and removes it
/// when it exits; with `--detach` it returns once it runs.
pub fn restore(
    root: &Path,
    opts: &RestoreOptions,
    flags: &CriuFlags,
    criu: &dyn Criu,
) -> Result<i32> {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    use nix::sys::signalfd::{SfdFlags, SignalFd};

    crate::state::validate_id(&opts.id)?;
    let bundle = crate::spec::Bundle::load(&opts.bundle)?;
    let spec = &bundle.spec;
    if spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
        || opts.console_socket.is_some()
    {
        return Err(Error::Unsupported(
            "restore: a container with a terminal cannot be restored yet".into(),
        ));
    }
    if spec.hooks().is_some() {
        crate::log::warn("restore: the config's hooks are not run on restore");
    }
    let images = image_dir(flags)?;
    let descriptors: Vec<String> = fs::read(images.join(DESCRIPTORS))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default();
    let cgroup = crate::cgroups::Cgroup::for_spec(&opts.id, spec)?;

    fs::create_dir_all(root).with_ctx(|| format!("create state root {}", root.display()))?;
    let dir = root.join(&opts.id);
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(opts.id.clone()))
        }
        Err(e) => return Err(e).with_ctx(|| format!("create {}", dir.display())),
    }
    let mut undo = Undo {
        pid: None,
        dir: Some(dir.clone()),
        root_mount: None,
        cgroup: None,
    };
    // criu wants the root as a mount point of its own.
    let root_mount = dir.join("criu-root");
    fs::create_dir(&root_mount).with_ctx(|| format!("create {}", root_mount.display()))?;
    mount(
        Some(&bundle.rootfs),
        &root_mount,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_ctx(|| format!("bind {} for criu", bundle.rootfs.display()))?;
    undo.root_mount = Some(root_mount.clone());
    let pid_path = dir.join("criu.pid");
    let args = restore_args(
        spec,
        flags,
        &images,
        &root_mount,
        &pid_path,
        cgroup.as_ref().map(|c| c.paths()).as_ref(),
        &descriptors,
    )?;
    // Block the forwarded signals before the process exists (as `run`).
    let sigset = super::run::forwarded();
    let sfd = if opts.detach {
        None
    } else {
        sigset.thread_block().ctx("block signals")?;
        Some(SignalFd::with_flags(&sigset, SfdFlags::SFD_CLOEXEC).ctx("signalfd")?)
    };
    crate::log_debug!("restore {}: criu {}", opts.id, args.join(" "));
    criu.run(&args)?;
    let pid: i32 = fs::read_to_string(&pid_path)
        .ctx("read criu's pid file")?
        .trim()
        .parse()
        .map_err(|_| Error::Unsupported("criu wrote no pid".into()))?;
    undo.pid = Some(pid);
    let _ = umount2(&root_mount, MntFlags::MNT_DETACH);
    let _ = fs::remove_dir(&root_mount);
    undo.root_mount = None;
    if let Some(cg) = cgroup {
        let cg = undo.cgroup.insert(cg);
        cg.apply(pid)?;
        let res = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
        cg.set(&crate::cgroups::with_default_devices(res, spec))?;
    }
    let pid_start = crate::state::proc_stat(pid)
        .map(|(_, s)| s)
        .ok_or_else(|| Error::Init("the restored process vanished".into()))?;
    let new_pid = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| {
            n.iter()
                .any(|ns| ns.typ() == LinuxNamespaceType::Pid && ns.path().is_none())
        });
    let st = State {
        id: opts.id.clone(),
        pid,
        pid_start,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::state::now_rfc3339(),
        cgroup: undo.cgroup.as_ref().map(|c| c.paths()),
        annotations: spec.annotations().clone().unwrap_or_default(),
        shared_pid_ns: !new_pid,
    };
    let config = serde_json::to_vec(spec).expect("spec serializes");
    st.save(root, Some(&config))?;
    if let Some(p) = &opts.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    undo.pid = None;
    undo.dir = None;
    undo.cgroup = None;
    let Some(sfd) = sfd else { return Ok(0) };
    let code = super::run::supervise(nix::unistd::Pid::from_raw(pid), &sfd, None);
    let _ = sigset.thread_unblock();
    if let Err(e) = super::delete::delete(root, &opts.id, true) {
        crate::log::warn(&format!("remove container after restore: {e}"));
    }
    code
}

/// What a failed restore leaves to undo.
struct Undo {
    pid: Option<i32>,
    dir: Option<PathBuf>,
    root_mount: Option<PathBuf>,
    cgroup: Option<crate::cgroups::Cgroup>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(m) = self.root_mount.take() {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.destroy();
        }
        if let Some(d) = self.dir.take() {
            let _ = fs::remove_dir_all(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    fn spec() -> Spec {
        let v = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}, {"type": "mount"}],
                "maskedPaths": ["/proc/kcore"]
            }
        });
        serde_json::from_value(v).unwrap()
    }

    fn state() -> State {
        State {
            id: "c1".into(),
            pid: 42,
            pid_start: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            cgroup: Some(berth_cgroups::CgroupPaths {
                version: berth_cgroups::CgroupVersion::V1,
                v1: BTreeMap::from([
                    (
                        "freezer".to_string(),
                        PathBuf::from("/sys/fs/cgroup/freezer/c1"),
                    ),
                    (
                        "memory".to_string(),
                        PathBuf::from("/sys/fs/cgroup/memory/x/c1"),
                    ),
                ]),
                unified: None,
                unified_mount: None,
            }),
            annotations: HashMap::new(),
            shared_pid_ns: false,
        }
    }

    fn has(args: &[String], pair: &[&str]) -> bool {
        args.windows(pair.len())
            .any(|w| w.iter().zip(pair).all(|(a, b)| a == b))
    }

    #[test]
    fn dump_arguments_follow_runcs_flags() {
        let flags = CriuFlags {
            leave_running: true,
            tcp_established: true,
            file_locks: true,
            page_server: Some("10.0.0.1:27".into()),
            ..Default::default()
        };
        let a = dump_args(
            &state(),
            &spec(),
            &flags,
            Path::new("/img"),
            &["/proc/kcore".into()],
        )
        .unwrap();
        assert_eq!(a[0], "dump");
        for pair in [
            &["--tree", "42"][..],
            &["--images-dir", "/img", "--work-dir", "/img"],
            &["--leave-running"],
            &["--tcp-established"],
            &["--file-locks"],
            &["--manage-cgroups=soft"],
            &["--empty-ns", "net"],
            &["--external", "mnt[/data]:/data"],
            &["--external", "mnt[/proc/kcore]:/proc/kcore"],
            &["--freeze-cgroup", "/sys/fs/cgroup/freezer/c1"],
            &["--page-server", "--address", "10.0.0.1", "--port", "27"],
        ] {
            assert!(has(&a, pair), "{pair:?} in {a:?}");
        }
        let pre = CriuFlags {
            pre_dump: true,
            leave_running: true,
            ..Default::default()
        };
        let a = dump_args(&state(), &spec(), &pre, Path::new("/img"), &[]).unwrap();
        assert_eq!(a[0], "pre-dump");
        assert!(has(&a, &["--track-mem"]) && !has(&a, &["--leave-running"]));
        for bad in [
            CriuFlags {
                manage_cgroups_mode: Some("loose".into()),
                ..Default::default()
            },
            CriuFlags {
                empty_ns: vec!["ipc".into()],
                ..Default::default()
            },
            CriuFlags {
                page_server: Some("nope".into()),
                ..Default::default()
            },
            CriuFlags {
                parent_path: Some("/abs".into()),
                ..Default::default()
            },
        ] {
            assert!(dump_args(&state(), &spec(), &bad, Path::new("/img"), &[]).is_err());
        }
    }

    #[test]
    fn restore_arguments_map_mounts_namespaces_cgroups_and_stdio() {
        let st = state();
        let a = restore_args(
            &spec(),
            &CriuFlags::default(),
            Path::new("/img"),
            Path::new("/run/x/criu-root"),
            Path::new("/run/x/pid"),
            st.cgroup.as_ref(),
            &["/dev/null".into(), "pipe:[123]".into(), "socket:[9]".into()],
        )
        .unwrap();
        for pair in [
            &["--root", "/run/x/criu-root"][..],
            &["--restore-detached", "--restore-sibling"],
            &["--pidfile", "/run/x/pid"],
            &["--external", "mnt[/data]:/srv/data"],
            &["--external", "mnt[/proc/kcore]:/dev/null"],
            &["--join-ns", "net:/run/netns/x"],
            &["--cgroup-root", "memory:/x/c1"],
            &["--cgroup-root", "freezer:/c1"],
            &["--inherit-fd", "fd[1]:pipe:[123]"],
        ] {
            assert!(has(&a, pair), "{pair:?} in {a:?}");
        }
        assert!(!a.iter().any(|x| x.contains("socket:[9]")));
    }

    struct FailingCriu;
    impl Criu for FailingCriu {
        fn run(&self, _: &[String]) -> Result<()> {
            Err(Error::Unsupported("criu dump failed".into()))
        }
    }

    #[test]
    fn checkpoint_of_a_missing_container_says_so() {
        let root = std::env::temp_dir().join(format!("berth-ckpt-{}", std::process::id()));
        let e = checkpoint(&root, "nope", &CriuFlags::default(), &FailingCriu).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
