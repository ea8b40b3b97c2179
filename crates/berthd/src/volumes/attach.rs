//! A container's volumes at start and stop: the local driver's filesystems are mounted before the
//! bundle is written and released when the container stops (reference-counted across containers),
//! `volume-subpath`s are resolved inside their volume and handed to the runtime as a bind of the
//! exact directory that was checked, and the `mount`/`unmount` volume events are published with
//! dockerd's attributes.

use super::local;
use crate::containers::model::{Bind, Container, Status};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// Prefix of the temporary subpath binds in a container's run directory.
const SUBPATH_PREFIX: &str = "volume-subpath-";

/// The local volume behind a bind that needs a filesystem mounted (`None`: a plain directory).
fn mount_opts(d: &Daemon, name: &str) -> ApiResult<Option<(local::MountOpts, PathBuf)>> {
    let v = super::get(d, name)?;
    if v.driver != "local" {
        return Ok(None);
    }
    let opts = local::validate(&v.options)?;
    Ok(opts.map(|o| (o, PathBuf::from(v.mountpoint))))
}

/// At start: mount the container's local volumes that need it and resolve subpaths (into
/// `run_dir`); the binds as the runtime should get them. Undoes its own work on failure.
pub fn mount_for(d: &Daemon, c: &Container, run_dir: &Path) -> ApiResult<Vec<Bind>> {
    let mut out = c.spec.binds.clone();
    for (i, b) in out.iter_mut().enumerate() {
        let Some(name) = b.volume.clone() else {
            continue;
        };
        if let Err(e) = mount_one(d, c, &name, b, run_dir, i) {
            release_subpaths(run_dir);
            unmount_for(d, c, false);
            return Err(e);
        }
        d.events.emit(
            "volume",
            "mount",
            &name,
            BTreeMap::from([
                ("driver".into(), driver_of(d, &name)),
                ("container".into(), c.id.clone()),
                ("destination".into(), b.destination.clone()),
                ("read/write".into(), (!b.readonly).to_string()),
                ("propagation".into(), String::new()),
            ]),
        );
    }
    Ok(out)
}

fn driver_of(d: &Daemon, name: &str) -> String {
    super::get(d, name)
        .map(|v| v.driver)
        .unwrap_or_else(|_| "local".into())
}

fn mount_one(
    d: &Daemon,
    c: &Container,
    name: &str,
    b: &mut Bind,
    run_dir: &Path,
    i: usize,
) -> ApiResult<()> {
    if let Some((opts, target)) = mount_opts(d, name)? {
        d.volume_mounts
            .acquire(&opts, &target, &c.id)
            .map_err(|e| {
                ApiError::Internal(format!(
                    "error while mounting volume '{}': {e}",
                    target.display()
                ))
            })?;
    }
    if !b.subpath.is_empty() {
        let path = bind_subpath(Path::new(&b.source), &b.subpath, run_dir, i)?;
        b.source = path.display().to_string();
        // What the image has at the destination is copied into whole volumes only.
        b.nocopy = true;
    }
    Ok(())
}

/// Closes a raw descriptor from `openat2`.
struct Fd(RawFd);

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = nix::unistd::close(self.0);
    }
}

/// `base/sub` opened (`O_PATH`) without following any symlink and without leaving `base`.
fn open_beneath(base: &Path, sub: &str) -> ApiResult<Fd> {
    let joined = base.join(sub);
    let dir = nix::fcntl::open(
        base,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map(Fd)
    .map_err(|e| {
        ApiError::NotFound(format!(
            "cannot access path {}: {}",
            base.display(),
            e.desc().to_lowercase()
        ))
    })?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match nix::fcntl::openat2(dir.0, sub, how) {
        Ok(fd) => Ok(Fd(fd)),
        Err(nix::errno::Errno::EXDEV) => Err(ApiError::BadRequest(format!(
            "path concatenation escapes the base directory, base: {}, subpath: {sub}",
            base.display()
        ))),
        Err(e) => Err(ApiError::NotFound(format!(
            "cannot access path {}: {}",
            joined.display(),
            e.desc().to_lowercase()
        ))),
    }
}

/// `base/sub` opened with [`open_beneath`], then bound on a private mount point in `run_dir`:
/// what the runtime mounts is what was checked, even if a container sharing the volume swaps a
/// directory for a symlink meanwhile.
fn bind_subpath(base: &Path, sub: &str, run_dir: &Path, i: usize) -> ApiResult<PathBuf> {
    let joined = base.join(sub);
    let fd = open_beneath(base, sub)?;
    let proc_path = format!("/proc/self/fd/{}", fd.0);
    let is_dir = std::fs::metadata(&proc_path)
        .map_err(|e| ApiError::internal(format!("{}: {e}", joined.display())))?
        .is_dir();
    std::fs::create_dir_all(run_dir).map_err(ApiError::internal)?;
    let tmp = run_dir.join(format!("{SUBPATH_PREFIX}{i}"));
    release_one(&tmp);
    let made = if is_dir {
        std::fs::create_dir(&tmp)
    } else {
        std::fs::File::create(&tmp).map(drop)
    };
    made.map_err(|e| ApiError::internal(format!("{}: {e}", tmp.display())))?;
    let bound = nix::mount::mount(
        Some(proc_path.as_str()),
        &tmp,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .and_then(|()| {
        // Private: taking it down after the start must not reach the container's copy.
        nix::mount::mount(
            None::<&str>,
            &tmp,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
    });
    if let Err(e) = bound {
        release_one(&tmp);
        return Err(ApiError::internal(format!(
            "failed to mount resolved path {}: {e}",
            joined.display()
        )));
    }
    Ok(tmp)
}

fn release_one(p: &Path) {
    let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(p).or_else(|_| std::fs::remove_file(p));
}

/// Take down the temporary subpath binds (once the runtime has made the container's mounts).
pub fn release_subpaths(run_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(run_dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(SUBPATH_PREFIX) {
            release_one(&e.path());
        }
    }
}

/// At stop (or a failed start): let go of the container's local volumes, unmounting those no
/// other container holds; with `events`, one `unmount` event per volume as dockerd sends.
pub fn unmount_for(d: &Daemon, c: &Container, events: bool) {
    for b in &c.spec.binds {
        let Some(name) = &b.volume else { continue };
        match mount_opts(d, name) {
            Ok(Some((_, target))) => {
                let others = d.containers.all().into_iter().any(|o| {
                    o.id != c.id
                        && o.state.status == Status::Running
                        && o.spec
                            .binds
                            .iter()
                            .any(|ob| ob.volume.as_ref() == Some(name))
                });
                if let Err(e) = d.volume_mounts.release(&target, &c.id, others) {
                    crate::log!(3, "unmounting volume {name} of {}: {e}", c.id);
                }
            }
            Ok(None) => {}
            Err(e) => crate::log!(2, "volume {name} of {}: {e}", c.id),
        }
        if events {
            d.events.emit(
                "volume",
                "unmount",
                name,
                BTreeMap::from([
                    ("driver".into(), driver_of(d, name)),
                    ("container".into(), c.id.clone()),
                ]),
            );
        }
    }
}

/// Before a volume's directory is removed: its filesystem comes off first.
pub fn before_remove(d: &Daemon, mountpoint: &Path) -> ApiResult<()> {
    Ok(d.volume_mounts.ensure_unmounted(mountpoint)?)
}

/// A stopped or running container's volumes held for a one-off job in a helper process (`docker
/// cp`): the local filesystems mounted (a stopped container holds none) and each subpath bound
/// in `run_dir` as at start. Released on drop.
pub struct Held {
    d: std::sync::Arc<Daemon>,
    c: Container,
    holder: String,
    run_dir: PathBuf,
}

impl Held {
    /// Hold `c`'s volumes; the binds' sources as the helper should use them.
    pub fn new(
        d: &std::sync::Arc<Daemon>,
        c: &Container,
        run_dir: &Path,
    ) -> ApiResult<(Held, Vec<Bind>)> {
        let held = Held {
            d: d.clone(),
            c: c.clone(),
            holder: format!("cp:{}", c.id),
            run_dir: run_dir.to_path_buf(),
        };
        let mut binds = c.spec.binds.clone();
        for (i, b) in binds.iter_mut().enumerate() {
            let Some(name) = b.volume.clone() else {
                continue;
            };
            if let Some((opts, target)) = mount_opts(d, &name)? {
                d.volume_mounts
                    .acquire(&opts, &target, &held.holder)
                    .map_err(|e| {
                        ApiError::Internal(format!(
                            "error while mounting volume '{}': {e}",
                            target.display()
                        ))
                    })?;
            }
            if !b.subpath.is_empty() {
                let path = bind_subpath(Path::new(&b.source), &b.subpath, run_dir, i)?;
                b.source = path.display().to_string();
            }
        }
        Ok((held, binds))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        release_subpaths(&self.run_dir);
        for b in &self.c.spec.binds {
            let Some(name) = &b.volume else { continue };
            if let Ok(Some((_, target))) = mount_opts(&self.d, name) {
                let others = self.d.containers.all().into_iter().any(|o| {
                    o.state.status == Status::Running
                        && o.spec
                            .binds
                            .iter()
                            .any(|ob| ob.volume.as_ref() == Some(name))
                });
                if let Err(e) = self.d.volume_mounts.release(&target, &self.holder, others) {
                    crate::log!(3, "unmounting volume {name} after a copy: {e}");
                }
            }
        }
    }
}
