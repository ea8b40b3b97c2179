//! The container's file system view, built by init inside its new mount
//! namespace: propagation, the rootfs bind, the config's mounts, devices,
//! pivot_root, then masked and read-only paths.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chdir, chown, fchdir, pivot_root, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::error::{Context, Error, Result};
use crate::mounts::{self, parse_options, prepare_target, propagation_flag};

const NONE: Option<&str> = None;

/// What the rootfs set-up needs to know besides the spec.
pub struct RootfsContext<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub user_ns: bool,
    pub terminal: bool,
    /// Idmapped trees made by the runtime, by mount index.
    pub idmapped: &'a [Option<std::os::fd::OwnedFd>],
}

/// Everything before pivot_root: propagation, the rootfs bind, mounts, devices.
/// `cgroups_ready` is called (it may be called more than once) before the
/// first step that needs init in its cgroups: a cgroup mount (it binds init's
/// own cgroups, or mounts the namespace's root) and the device nodes (the
/// devices controller checks mknod). The steps before it overlap with the
/// runtime's placing init in its cgroups.
pub fn prepare(ctx: &RootfsContext, cgroups_ready: &mut dyn FnMut() -> Result<()>) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
        .and_then(propagation_flag)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    // An unbindable host root could not give the rootfs its bind mount:
    // private until pivot_root, and finish() makes the new root unbindable.
    let prop = if prop.contains(MsFlags::MS_UNBINDABLE) {
        (prop - MsFlags::MS_UNBINDABLE) | MsFlags::MS_PRIVATE
    } else {
        prop
    };
    mount(NONE, "/", NONE, prop, NONE)
        .ctx("set propagation of / in the container's mount namespace")?;
    // After a recursive change to slave or private (the default rslave) no
    // mount in the namespace is shared, the rootfs's parent included: no
    // need to read the mount table (a host with many mounts makes that
    // read cost, once per container).
    let none_shared = prop.contains(MsFlags::MS_REC)
        && prop.intersects(MsFlags::MS_SLAVE | MsFlags::MS_PRIVATE)
        && !prop.contains(MsFlags::MS_SHARED);
    if !none_shared {
        make_parent_private(ctx.rootfs)?;
    }
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .with_ctx(|| format!("bind mount rootfs {}", ctx.rootfs.display()))?;

    let mounts: Vec<&Mount> = ctx.spec.mounts().iter().flatten().collect();
    let dev_is_bind = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && is_bind(m));
    let mount_at = |i: usize| {
        mount_one(ctx, mounts[i], ctx.idmapped.get(i).and_then(Option::as_ref)).map_err(|e| match e
        {
            Error::Io { context, source } => Error::Io {
                context: format!(
                    "mounts[{i}] ({}): {context}",
                    mounts[i].destination().display()
                ),
                source,
            },
            other => other,
        })
    };
    // The cgroup mounts need the runtime's word that init's cgroups exist: those that share no
    // path with a later mount (Docker's /sys/fs/cgroup) come last, after the devices, so the
    // runtime makes the cgroups while init mounts the rest instead of init waiting for them.
    let mut last = Vec::new();
    for i in 0..mounts.len() {
        if is_cgroup(mounts[i]) {
            if can_come_last(&mounts, i) {
                last.push(i);
                continue;
            }
            cgroups_ready()?;
        }
        mount_at(i)?;
    }
    if !dev_is_bind {
        create_devices(ctx)?;
        dev_symlinks(ctx.rootfs)?;
    }
    cgroups_ready()?;
    for i in last {
        mount_at(i)?;
    }
    if ctx.terminal {
        // The pty is bind-mounted here once it exists (after pivot_root).
        prepare_target(ctx.rootfs, Path::new("/dev/console"), true)?;
    }
    Ok(())
}

fn is_cgroup(m: &Mount) -> bool {
    matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2"))
}

/// Whether `mounts[i]` may be made after every later mount (and the devices, in /dev) without a
/// change in what the container sees: no later mount is at, below or above its destination, both
/// absolute paths without `.` or `..`, and its own is not /dev or below it.
fn can_come_last(mounts: &[&Mount], i: usize) -> bool {
    let plain = |p: &Path| {
        p.is_absolute()
            && p.components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
    };
    let dest = mounts[i].destination();
    plain(dest)
        && !dest.starts_with("/dev")
        && mounts[i + 1..].iter().all(|m| {
            let other = m.destination();
            plain(other) && !other.starts_with(dest) && !dest.starts_with(other)
        })
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// pivot_root needs the rootfs's parent mount to not be shared.
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let infos = mounts::mountinfo()?;
    let parent = infos
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len());
    if let Some(m) = parent {
        if m.optional.contains("shared:") {
            mount(NONE, &m.mount_point, NONE, MsFlags::MS_PRIVATE, NONE)
                .with_ctx(|| format!("make {} private", m.mount_point.display()))?;
        }
    }
    Ok(())
}

fn mount_one(
    ctx: &RootfsContext,
    m: &Mount,
    idmapped: Option<&std::os::fd::OwnedFd>,
) -> Result<()> {
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    if typ == "cgroup" || typ == "cgroup2" {
        mount_cgroup(ctx, m, &opts)?;
        if opts.has_recursive_attrs() {
            let path = mounts::resolve_in_root(ctx.rootfs, m.destination())?;
            set_recursive_attrs(&opts, &path)?;
        }
        return Ok(());
    }
    if opts.bind || typ == "bind" {
        let source = m.source().as_ref().ok_or_else(|| {
            Error::Config(format!(
                "mount {}: bind without a source",
                m.destination().display()
            ))
        })?;
        let source = if source.is_absolute() {
            source.clone()
        } else {
            ctx.bundle.join(source)
        };
        // A tree the runtime opened is examined through its descriptor: the
        // path may be closed to init's user namespace.
        let meta = match idmapped {
            Some(tree) => fs::File::from(tree.try_clone().ctx("dup a mount tree")?).metadata(),
            None => fs::metadata(&source),
        }
        .with_ctx(|| format!("bind source {}", source.display()))?;
        let target = prepare_target(ctx.rootfs, m.destination(), !meta.is_dir())?;
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive {
            flags |= MsFlags::MS_REC;
        }
        match idmapped {
            Some(tree) => {
                use std::os::fd::AsFd;
                berth_sys::mount_api::attach_mount(tree.as_fd(), target.fd()).with_ctx(|| {
                    format!("attach {} on {}", source.display(), target.path.display())
                })?;
            }
            None => mount(Some(&source), &target.proc_path(), NONE, flags, NONE)
                .with_ctx(|| format!("bind {} on {}", source.display(), target.path.display()))?,
        }
        let wanted = opts.flags & !MsFlags::MS_REMOUNT;
        if !wanted.is_empty() {
            remount_bind(&target.path, wanted)?;
        }
        set_recursive_attrs(&opts, &target.path)?;
        for p in &opts.propagation {
            mount(NONE, &target.path, NONE, *p, NONE)
                .with_ctx(|| format!("set propagation of {}", target.path.display()))?;
        }
        return Ok(());
    }
    if typ == "proc" || typ == "sysfs" {
        // Never through a symlink (or onto a file): the link's target, which
        // the image chose, would get the mount (runc refuses the same way).
        let dest = ctx
            .rootfs
            .join(m.destination().strip_prefix("/").unwrap_or(m.destination()));
        if let Ok(meta) = fs::symlink_metadata(&dest) {
            if !meta.is_dir() {
                return Err(Error::Config(format!(
                    "mount {}: filesystem {typ:?} must be mounted on ordinary directory ({} is a {})",
                    m.destination().display(),
                    dest.display(),
                    if meta.file_type().is_symlink() { "symlink" } else { "file" }
                )));
            }
        }
    }
    let target = prepare_target(ctx.rootfs, m.destination(), false)?;
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_path_buf())
        .unwrap_or_else(|| PathBuf::from(typ));
    let data = opts.data_string();
    let mut flags = opts.flags;
    if delays_readonly(typ, m.destination()) {
        // Files are still to be made there (devices, chmod): read-only
        // comes in `finish`, as runc does it.
        flags &= !MsFlags::MS_RDONLY;
    }
    let res = mount(
        Some(&source),
        &target.proc_path(),
        Some(typ),
        flags,
        data.as_deref(),
    );
    match res {
        Ok(()) => {}
        // Without its own network namespace a container may not mount sysfs
        // (or mqueue without an ipc namespace in a user namespace): bind the
        // host's instead, read-only, as runc does.
        Err(nix::errno::Errno::EPERM) if ctx.user_ns && (typ == "sysfs" || typ == "mqueue") => {
            let host = if typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            mount(
                Some(host),
                &target.proc_path(),
                NONE,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                NONE,
            )
            .with_ctx(|| format!("bind host {host} on {}", target.path.display()))?;
            remount_bind(&target.path, flags | MsFlags::MS_RDONLY)?;
        }
        Err(e) => {
            return Err(e).with_ctx(|| format!("mount {typ} on {}", target.path.display()));
        }
    }
    set_recursive_attrs(&opts, &target.path)?;
    for p in &opts.propagation {
        mount(NONE, &target.path, NONE, *p, NONE)
            .with_ctx(|| format!("set propagation of {}", target.path.display()))?;
    }
    Ok(())
}

/// tmpfs mounts and /dev are mounted writable first and made read-only
/// after the devices and the rest are in place.
fn delays_readonly(typ: &str, destination: &Path) -> bool {
    typ == "tmpfs" || destination == Path::new("/dev")
}

/// Apply `rro`, `rnosuid`, ... to the mount at `path` and every mount below
/// it. Nothing is done (no syscall) when none was asked; a kernel without
/// mount_setattr refuses the config rather than leaving them unapplied.
fn set_recursive_attrs(opts: &mounts::MountOptions, path: &Path) -> Result<()> {
    if !opts.has_recursive_attrs() {
        return Ok(());
    }
    match berth_sys::mount_api::mount_setattr_recursive(path, opts.rec_set, opts.rec_clr) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Err(Error::Unsupported(format!(
            "recursive mount options (rro, rnosuid, ...) on {} need mount_setattr (Linux 5.12 or later)",
            path.display()
        ))),
        Err(e) => Err(e).with_ctx(|| {
            format!(
                "set recursive mount attributes on {} (set {:#x}, clear {:#x})",
                path.display(),
                opts.rec_set,
                opts.rec_clr
            )
        }),
    }
}

/// Remount a bind mount with `flags`, keeping the flags the kernel locks
/// (nosuid, nodev, noexec, atime) so the remount is allowed in a user namespace.
pub fn remount_bind(path: &Path, flags: MsFlags) -> Result<()> {
    let locked = locked_flags(path);
    mount(
        NONE,
        path,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked,
        NONE,
    )
    .with_ctx(|| format!("remount {} with {:?}", path.display(), flags))
}

fn locked_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

/// /sys/fs/cgroup inside the container: on a cgroup v2 host a cgroup2 mount
/// (the namespace root); on v1 and hybrid hosts a tmpfs holding read-only
/// binds of the container's own cgroup in every hierarchy.
/// Co-mounted controllers get the symlinks users expect (cpu -> cpu,cpuacct).
fn symlink_co_mounted(dir: &Path, name: &std::ffi::OsStr) {
    let name = name.to_string_lossy();
    if name.contains(',') {
        for part in name.split(',') {
            let _ = symlink(&*name, dir.join(part));
        }
    }
}

fn mount_cgroup(ctx: &RootfsContext, m: &Mount, opts: &mounts::MountOptions) -> Result<()> {
    let target = prepare_target(ctx.rootfs, m.destination(), false)?;
    let infos = mounts::mountinfo()?;
    let own = berth_sys::read_generated_string(Path::new("/proc/self/cgroup"))
        .ctx("read /proc/self/cgroup")?;
    let flags = opts.flags
        & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME);
    let v1 = pick_hierarchies(&infos, "cgroup");
    let v2 = pick_hierarchies(&infos, "cgroup2");
    if v1.is_empty() {
        if v2.is_empty() {
            return Err(Error::Cgroup(
                "no cgroup file system is mounted on the host".into(),
            ));
        }
        mount(
            Some("cgroup"),
            &target.proc_path(),
            Some("cgroup2"),
            opts.flags,
            NONE,
        )
        .with_ctx(|| format!("mount cgroup2 on {}", target.path.display()))?;
        return Ok(());
    }
    mount(
        Some("tmpfs"),
        &target.proc_path(),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .with_ctx(|| format!("mount tmpfs on {}", target.path.display()))?;
    let ro = if opts.flags.contains(MsFlags::MS_RDONLY) {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    // The hierarchies' binds get the mount's flags in one pass at the end (below).
    let mut binds = Vec::new();
    for h in v1.iter().chain(v2.iter()) {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        // The hierarchy's entry in /proc/self/cgroup: "N:controllers:/path".
        let key = if h.fs_type == "cgroup2" {
            String::new()
        } else {
            h.super_options
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let path = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
            let matches = if h.fs_type == "cgroup2" {
                ctrl.is_empty()
            } else {
                // Both name their controllers the same way ("cpu",
                // "name=systemd"); every one on the line must be mounted here.
                !ctrl.is_empty() && ctrl.split(',').all(|c| key.split(',').any(|k| k == c))
            };
            matches.then(|| path.to_string())
        });
        let Some(cg_path) = path else { continue };
        let dest = target.path.join(name);
        if h.root.split('/').any(|c| c == "..") {
            // In a new cgroup namespace the host's mount starts above the
            // namespace's root, so no path in it names our cgroup: a fresh
            // mount of the same hierarchy shows exactly the namespace's part
            // (as runc does with a cgroup namespace). A bind would expose the
            // host's whole tree.
            fs::create_dir_all(&dest).with_ctx(|| format!("mkdir {}", dest.display()))?;
            let (fstype, data) = if h.fs_type == "cgroup2" {
                ("cgroup2", None)
            } else {
                ("cgroup", Some(key.as_str()))
            };
            mount(Some("cgroup"), &dest, Some(fstype), opts.flags, data)
                .with_ctx(|| format!("mount {fstype} {key} on {}", dest.display()))?;
            symlink_co_mounted(&target.path, name);
            continue;
        }
        // Inside a cgroup namespace /proc/self/cgroup shows paths relative to
        // the namespace root, which is what the mount's root is in that case.
        let rel = cg_path.trim_start_matches('/');
        let root_rel = h.root.trim_start_matches('/');
        let source = if rel.starts_with(root_rel) {
            h.mount_point.join(
                rel.strip_prefix(root_rel)
                    .unwrap_or("")
                    .trim_start_matches('/'),
            )
        } else {
            h.mount_point.join(rel)
        };
        if !source.is_dir() {
            continue;
        }
        fs::create_dir_all(&dest).with_ctx(|| format!("mkdir {}", dest.display()))?;
        mount(
            Some(&source),
            &dest,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .with_ctx(|| format!("bind cgroup {} on {}", source.display(), dest.display()))?;
        symlink_co_mounted(&target.path, name);
        binds.push(dest);
    }
    // One mount_setattr over the tmpfs and every bind below it (Linux 5.12 or later), where a
    // statfs and a remount per hierarchy took ~20 system calls. A flag it sets no other way (an
    // access-time mode), or any refusal of the call (ENOSYS before 5.12), gets those remounts,
    // which keep the flags the kernel locks and name the mount that fails.
    let attrs = [
        (MsFlags::MS_RDONLY, berth_sys::mount_api::mount_attr::RDONLY),
        (MsFlags::MS_NOSUID, berth_sys::mount_api::mount_attr::NOSUID),
        (MsFlags::MS_NODEV, berth_sys::mount_api::mount_attr::NODEV),
        (MsFlags::MS_NOEXEC, berth_sys::mount_api::mount_attr::NOEXEC),
    ]
    .iter()
    .filter(|(f, _)| (flags | ro).contains(*f))
    .fold(0, |acc, (_, a)| acc | a);
    let one_pass = !flags.contains(MsFlags::MS_RELATIME)
        && berth_sys::mount_api::mount_setattr_recursive(&target.path, attrs, 0).is_ok();
    if !one_pass {
        for dest in &binds {
            remount_bind(dest, flags | ro)?;
        }
        if !ro.is_empty() {
            remount_bind(&target.path, flags | ro)?;
        }
    }
    Ok(())
}

/// One mount per hierarchy of `fs_type`: a hierarchy may be mounted more
/// than once (a stale test mount, a bind of a subtree), and the one to use is
/// the mount of its root under /sys/fs/cgroup, else any mount of its root,
/// as runc picks it.
fn pick_hierarchies<'a>(
    infos: &'a [mounts::MountInfo],
    fs_type: &str,
) -> Vec<&'a mounts::MountInfo> {
    let key = |i: &mounts::MountInfo| {
        let mut opts: Vec<&str> = i
            .super_options
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro"))
            .collect();
        opts.sort_unstable();
        opts.join(",")
    };
    let rank = |i: &mounts::MountInfo| match (
        i.root == "/",
        i.mount_point.starts_with("/sys/fs/cgroup"),
    ) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (false, false) => 3,
    };
    let mut picked: Vec<(String, &mounts::MountInfo)> = Vec::new();
    for i in infos.iter().filter(|i| i.fs_type == fs_type) {
        let k = if fs_type == "cgroup2" {
            String::new()
        } else {
            key(i)
        };
        match picked.iter_mut().find(|(pk, _)| *pk == k) {
            Some(slot) if rank(i) < rank(slot.1) => slot.1 = i,
            Some(_) => {}
            None => picked.push((k, i)),
        }
    }
    picked.into_iter().map(|(_, i)| i).collect()
}

/// The devices every container gets, whatever linux.devices says.
fn default_devices() -> Vec<(&'static str, u64, u64)> {
    vec![
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

fn create_devices(ctx: &RootfsContext) -> Result<()> {
    let old = nix::sys::stat::umask(Mode::empty());
    let res = (|| {
        let configured: Vec<LinuxDevice> = ctx
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().clone())
            .unwrap_or_default();
        for (path, major, minor) in default_devices() {
            if configured.iter().any(|d| d.path() == Path::new(path)) {
                continue;
            }
            make_device(
                ctx,
                Path::new(path),
                SFlag::S_IFCHR,
                major,
                minor,
                0o666,
                None,
                None,
            )?;
        }
        for (i, d) in configured.iter().enumerate() {
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
                LinuxDeviceType::B => SFlag::S_IFBLK,
                LinuxDeviceType::P => SFlag::S_IFIFO,
                LinuxDeviceType::A => {
                    return Err(Error::Config(format!(
                        "linux.devices[{i}].type: \"a\" is only valid in cgroup rules"
                    )))
                }
            };
            if !d.path().starts_with("/dev") {
                return Err(Error::Config(format!(
                    "linux.devices[{i}].path: {} is not under /dev",
                    d.path().display()
                )));
            }
            make_device(
                ctx,
                d.path(),
                kind,
                d.major() as u64,
                d.minor() as u64,
                d.file_mode().unwrap_or(0o666),
                d.uid(),
                d.gid(),
            )?;
        }
        Ok(())
    })();
    nix::sys::stat::umask(old);
    res
}

#[allow(clippy::too_many_arguments)]
fn make_device(
    ctx: &RootfsContext,
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Result<()> {
    let resolved = mounts::resolve_in_root(ctx.rootfs, path)?;
    if let Some(parent) = resolved.parent() {
        mounts::mkdir_all_in_root(ctx.rootfs, parent)?;
    }
    let _ = fs::remove_file(&resolved);
    let bind_host_node = || -> Result<()> {
        let target = prepare_target(ctx.rootfs, path, true)?;
        mount(
            Some(path),
            &target.proc_path(),
            NONE,
            MsFlags::MS_BIND,
            NONE,
        )
        .with_ctx(|| format!("bind device {}", path.display()))
    };
    if ctx.user_ns && kind != SFlag::S_IFIFO {
        // mknod of a device is not allowed in a user namespace (of a FIFO
        // it is): bind the host's node.
        return bind_host_node();
    }
    match mknod(
        &resolved,
        kind,
        Mode::from_bits_truncate(mode & 0o7777),
        makedev(major, minor),
    ) {
        Ok(()) => {}
        // The device cgroup may deny creating the node (the config lists the
        // device but denies it): give the container the host's node, which
        // the cgroup still keeps it from opening.
        Err(nix::errno::Errno::EPERM) if path.exists() => return bind_host_node(),
        Err(e) => return Err(e).with_ctx(|| format!("mknod {}", path.display())),
    }
    if uid.is_some() || gid.is_some() {
        chown(&resolved, uid.map(Uid::from_raw), gid.map(Gid::from_raw))
            .with_ctx(|| format!("chown {}", path.display()))?;
    }
    Ok(())
}

fn dev_symlinks(rootfs: &Path) -> Result<()> {
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    let dev = mounts::resolve_in_root(rootfs, Path::new("/dev"))?;
    for (target, name) in links {
        match symlink(target, dev.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_ctx(|| format!("symlink /dev/{name}")),
        }
    }
    let ptmx = dev.join("ptmx");
    if dev.join("pts/ptmx").exists() {
        let _ = fs::remove_file(&ptmx);
        symlink("pts/ptmx", &ptmx).ctx("symlink /dev/ptmx")?;
    }
    Ok(())
}

/// Without a mount namespace of its own, nothing is mounted (it would
/// change the host's mounts): say what of the config is left out.
pub fn warn_shared_mount_ns(spec: &Spec) {
    let n = spec.mounts().as_ref().map_or(0, Vec::len);
    if n > 0 {
        crate::log::warn(&format!(
            "no mount namespace: the {n} mounts of the config are not made (they would change the host's mounts); the rootfs is used as it is"
        ));
    }
}

/// Enter the rootfs with chroot (no mount namespace: no pivot_root, as runc).
pub fn chroot_into(rootfs: &Path) -> Result<()> {
    chdir(rootfs).ctx("chdir to rootfs")?;
    nix::unistd::chroot(".").ctx("chroot into rootfs")?;
    chdir("/").ctx("chdir /")
}

/// Before `--no-pivot`'s chroot: the host's whole procfs and sysfs mounts
/// stay in this mount namespace (only out of the chroot's reach), and the
/// kernel lets a user namespace mount a fresh procfs or sysfs whenever such
/// a fully visible one exists. Detach them (or, where that is not allowed,
/// cover them with an empty tmpfs), as runc does, so the container's own
/// masked /proc is the only one left.
fn hide_host_pseudo_fs(rootfs: &Path) -> Result<()> {
    use nix::errno::Errno;
    for m in mounts::mountinfo()? {
        if m.root != "/"
            || !matches!(m.fs_type.as_str(), "proc" | "sysfs")
            || m.mount_point.starts_with(rootfs)
        {
            continue;
        }
        let p = &m.mount_point;
        // Keep the detach from propagating back to the host.
        match mount(NONE, p, NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE) {
            Ok(()) => {}
            // Already gone with a parent detached before it.
            Err(Errno::ENOENT | Errno::EINVAL) => continue,
            Err(e) => return Err(e).with_ctx(|| format!("make {} a slave", p.display())),
        }
        match umount2(p, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL | Errno::EPERM) => {
                mount(Some("tmpfs"), p, Some("tmpfs"), MsFlags::empty(), NONE)
                    .with_ctx(|| format!("cover host {} {}", m.fs_type, p.display()))?;
            }
            Err(e) => return Err(e).with_ctx(|| format!("detach host {}", p.display())),
        }
    }
    Ok(())
}

/// Switch the root: pivot_root, or with `--no-pivot` MS_MOVE plus chroot.
pub fn switch_root(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        hide_host_pseudo_fs(rootfs)?;
        chdir(rootfs).ctx("chdir to rootfs")?;
        mount(Some(rootfs), "/", NONE, MsFlags::MS_MOVE, NONE).ctx("move rootfs to /")?;
        nix::unistd::chroot(".").ctx("chroot into rootfs")?;
        chdir("/").ctx("chdir /")?;
        return Ok(());
    }
    let old =
        mounts::open_fd(Path::new("/"), nix::fcntl::OFlag::O_DIRECTORY).ctx("open old root")?;
    chdir(rootfs).ctx("chdir to rootfs")?;
    // pivot_root(".", ".") stacks the old root on top of the new one, so no
    // directory for it is needed inside the container.
    pivot_root(".", ".").ctx("pivot_root")?;
    fchdir(old.as_raw_fd()).ctx("fchdir to old root")?;
    mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
        .ctx("make old root a slave")?;
    umount2(".", MntFlags::MNT_DETACH).ctx("detach old root")?;
    chdir("/").ctx("chdir /")?;
    Ok(())
}

/// Once in the container's root: stdio left on a /dev/null other than the container's (the
/// host's, which engines pass for a stdin they do not attach) is pointed at the container's, as
/// runc does for init. Through /proc/self/fd/N the container's root could otherwise chmod or
/// chown the host's /dev/null. Any /dev/null there is reopened read-write, as runc's (a /dev
/// bound from the host has the same node, but its stdin then reads as runc's does).
pub fn reopen_dev_null() -> Result<()> {
    use nix::sys::stat::fstat;
    use std::os::unix::fs::OpenOptionsExt;
    let null = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open("/dev/null")
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx("open the container's /dev/null"),
    };
    let ours = fstat(null.as_raw_fd()).ctx("stat the container's /dev/null")?;
    let is_chr = |mode: nix::libc::mode_t| mode & SFlag::S_IFMT.bits() == SFlag::S_IFCHR.bits();
    if !is_chr(ours.st_mode) {
        return Ok(());
    }
    for fd in 0..3 {
        // A closed descriptor stays closed.
        let Ok(st) = fstat(fd) else { continue };
        if is_chr(st.st_mode) && st.st_rdev == ours.st_rdev {
            nix::unistd::dup2(null.as_raw_fd(), fd)
                .with_ctx(|| format!("put the container's /dev/null on fd {fd}"))?;
        }
    }
    Ok(())
}

/// After pivot_root: masked paths, read-only paths, a read-only root, and
/// the root's propagation.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    for m in spec.mounts().iter().flatten() {
        let typ = m.typ().as_deref().unwrap_or("");
        let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
        if opts.flags.contains(MsFlags::MS_RDONLY)
            && !opts.bind
            && typ != "bind"
            && delays_readonly(typ, m.destination())
        {
            remount_bind(m.destination(), opts.flags | MsFlags::MS_RDONLY)?;
        }
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask_path(p)?;
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly_path(p)?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_bind(Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    if let Some(flag) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
        .and_then(propagation_flag)
    {
        mount(NONE, "/", NONE, flag, NONE).ctx("set rootfs propagation")?;
    }
    Ok(())
}

/// A masked or read-only path as the container names it: relative ones
/// count from its root.
fn in_container(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

fn mask_path(p: &str) -> Result<()> {
    let owned = in_container(p);
    let p = owned.as_str();
    let meta = match fs::metadata(p) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if meta.is_dir() {
        mount(Some("tmpfs"), p, Some("tmpfs"), MsFlags::MS_RDONLY, NONE)
            .with_ctx(|| format!("mask {p}"))
    } else {
        match mount(Some("/dev/null"), p, NONE, MsFlags::MS_BIND, NONE) {
            Ok(()) => Ok(()),
            Err(e) => Err(e).with_ctx(|| format!("mask {p}")),
        }
    }
}

fn readonly_path(p: &str) -> Result<()> {
    let owned = in_container(p);
    let p = owned.as_str();
    if fs::symlink_metadata(p).is_err() {
        return Ok(());
    }
    mount(Some(p), p, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)
        .with_ctx(|| format!("bind read-only path {p}"))?;
    remount_bind(Path::new(p), MsFlags::MS_RDONLY | MsFlags::MS_REC)
}

/// Bind the terminal's slave on /dev/console.
pub fn bind_console(pts_path: &Path) -> Result<()> {
    let console = Path::new("/dev/console");
    if !console.exists() {
        fs::File::create(console).ctx("create /dev/console")?;
        let _ = fs::set_permissions(console, fs::Permissions::from_mode(0o600));
    }
    mount(Some(pts_path), console, NONE, MsFlags::MS_BIND, NONE)
        .with_ctx(|| format!("bind {} on /dev/console", pts_path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_mount_comes_last_only_when_no_later_mount_shares_its_path() {
        let m = |dest: &str, typ: &str| {
            oci_spec::runtime::MountBuilder::default()
                .destination(dest)
                .typ(typ)
                .build()
                .unwrap()
        };
        let docker = [
            m("/proc", "proc"),
            m("/sys", "sysfs"),
            m("/sys/fs/cgroup", "cgroup"),
            m("/dev/mqueue", "mqueue"),
            m("/etc/hosts", "bind"),
        ];
        let refs: Vec<&Mount> = docker.iter().collect();
        assert!(can_come_last(&refs, 2), "Docker's list");
        for later in [
            "/sys/fs/cgroup/memory",
            "/sys",
            "/sys/fs/cgroup",
            "/sys/fs/../fs/x",
        ] {
            let list = [m("/sys/fs/cgroup", "cgroup"), m(later, "bind")];
            let refs: Vec<&Mount> = list.iter().collect();
            assert!(!can_come_last(&refs, 0), "a later mount at {later}");
        }
        for own in ["/dev/cgroup", "sys/fs/cgroup", "/sys/fs/../cgroup"] {
            let list = [m(own, "cgroup")];
            let refs: Vec<&Mount> = list.iter().collect();
            assert!(!can_come_last(&refs, 0), "its own destination {own}");
        }
    }

    #[test]
    fn one_mount_per_cgroup_hierarchy_the_root_under_sys_fs_cgroup() {
        let info = b"\
90 25 0:26 /sub /tmp/y/pids rw - cgroup cgroup rw,pids
30 25 0:26 / /sys/fs/cgroup/pids rw,nosuid shared:12 - cgroup cgroup rw,pids
31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw shared:13 - cgroup cgroup rw,cpuacct,cpu
99 25 0:26 / /tmp/x/cgroup-stale rw shared:50 - cgroup cgroup rw,pids
100 25 0:27 / /tmp/x/cg2 rw - cgroup cgroup rw,cpu,cpuacct
29 25 0:25 / /sys/fs/cgroup/unified rw shared:11 - cgroup2 cgroup2 rw
";
        let infos = mounts::parse_mountinfo(info);
        let v1: Vec<_> = pick_hierarchies(&infos, "cgroup")
            .iter()
            .map(|i| i.mount_point.display().to_string())
            .collect();
        assert_eq!(v1, ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu,cpuacct"]);
        let v2 = pick_hierarchies(&infos, "cgroup2");
        assert_eq!(v2.len(), 1);
    }
}
