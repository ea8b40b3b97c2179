//! `docker cp`: the archive endpoints' file system work runs in a helper process (berthd re-executed as
//! `berthd __archive <op> <rootfs> <path>`) that first chroots into the container's root, so no path or
//! symlink the container controls can lead outside it. Ops: `stat` (JSON on stdout), `get` (a tar of
//! the path on stdout), `put` (a tar on stdin extracted into the directory at path).
//! Exit codes: 0 ok, 2 no such path, 3 not a directory, 4 an archive entry outside the destination,
//! 1 anything else (message on stderr).

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const NOT_FOUND: i32 = 2;
const NOT_DIR: i32 = 3;
const BAD_ARCHIVE: i32 = 4;

/// Go's `os.FileMode` bits for a file (what `X-Docker-Container-Path-Stat` carries).
pub fn go_mode(md: &std::fs::Metadata) -> u64 {
    let ft = md.file_type();
    let mut m = u64::from(md.permissions().mode() & 0o777);
    let raw = md.permissions().mode();
    if raw & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if raw & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if raw & 0o1000 != 0 {
        m |= 1 << 20;
    }
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        m |= 1 << 31;
    } else if ft.is_symlink() {
        m |= 1 << 27;
    } else if ft.is_fifo() {
        m |= 1 << 25;
    } else if ft.is_socket() {
        m |= 1 << 24;
    } else if ft.is_char_device() {
        m |= (1 << 26) | (1 << 21);
    } else if ft.is_block_device() {
        m |= 1 << 26;
    }
    m
}

/// `X-Docker-Container-Path-Stat`'s JSON, its keys in dockerd's order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PathStat {
    name: String,
    size: u64,
    mode: u64,
    mtime: String,
    /// For a symlink, where it leads: the path with every link in it followed, inside the root
    /// (dockerd's `/d/f` for `/d/sl -> f`).
    link_target: String,
}

/// The stat of `path`, the helper's root being the container's.
fn stat_json(path: &Path) -> std::io::Result<PathStat> {
    let md = std::fs::symlink_metadata(path)?;
    let link = if md.file_type().is_symlink() {
        let shown = path.to_string_lossy();
        match crate::volumes::resolve_in_root(Path::new("/"), &shown) {
            Some(p) => p.display().to_string(),
            None => std::fs::read_link(path)?.display().to_string(),
        }
    } else {
        String::new()
    };
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(md.mtime().max(0) as u64, md.mtime_nsec().max(0) as u32);
    Ok(PathStat {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into()),
        size: md.len(),
        mode: go_mode(&md),
        mtime: crate::time::rfc3339_nano(mtime),
        link_target: link,
    })
}

fn fail(code: i32, msg: impl std::fmt::Display) -> i32 {
    eprintln!("{msg}");
    code
}

/// A volume or bind mount of the container: shown at its destination while the helper works, as the
/// container sees it. Passed as three arguments: `SOURCE DESTINATION ro|rw`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelperMount {
    /// Host path.
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Mounted read-only.
    pub readonly: bool,
}

impl HelperMount {
    /// The helper's arguments for this mount.
    pub fn args(&self) -> [&str; 3] {
        let mode = if self.readonly { "ro" } else { "rw" };
        [&self.source, &self.destination, mode]
    }
}

/// The helper's options, passed as one comma-separated argument (`-` for none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HelperOptions {
    /// `noOverwriteDirNonDir` of `put`: never replace a directory with a file or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// The container's root is read-only: so is the helper's view of it (volumes keep their mode).
    pub readonly_root: bool,
    /// `copyUIDGID` of `put`: files owned by this user (`user[:group]` of the container's config,
    /// resolved in its root; empty for root) instead of the archive's ids.
    pub chown_to: Option<String>,
}

impl HelperOptions {
    /// The helper's argument.
    pub fn arg(&self) -> String {
        let mut o = Vec::new();
        if self.no_overwrite_dir_non_dir {
            o.push("no-overwrite-dir-non-dir".to_string());
        }
        if self.readonly_root {
            o.push("ro-root".to_string());
        }
        if let Some(u) = &self.chown_to {
            o.push(format!("chown={}", u.replace(',', "")));
        }
        if o.is_empty() {
            "-".into()
        } else {
            o.join(",")
        }
    }

    fn parse(arg: &str) -> HelperOptions {
        let has = |n: &str| arg.split(',').any(|o| o == n);
        HelperOptions {
            no_overwrite_dir_non_dir: has("no-overwrite-dir-non-dir"),
            readonly_root: has("ro-root"),
            chown_to: arg
                .split(',')
                .find_map(|o| o.strip_prefix("chown="))
                .map(str::to_string),
        }
    }
}

/// Enter a private mount namespace, chroot into `rootfs` and show the mounts at their destinations
/// there (each destination created, and resolved, inside the new root).
fn enter_root(rootfs: &str, mounts: &[HelperMount], readonly_root: bool) -> Result<(), String> {
    use nix::mount::{mount, MsFlags};
    let mut trees = Vec::new();
    if !mounts.is_empty() || readonly_root {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("new mount namespace: {e}"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("make mounts private: {e}"))?;
        let mut sorted = mounts.to_vec();
        sorted.sort_by_key(|m| m.destination.split('/').filter(|c| !c.is_empty()).count());
        for m in sorted {
            let src = Path::new(&m.source);
            let Ok(md) = std::fs::metadata(src) else {
                continue; // made at start; nothing to show yet
            };
            let tree =
                berth_sys::mount_api::clone_tree(src).map_err(|e| format!("{}: {e}", m.source))?;
            trees.push((tree, m, md.is_dir()));
        }
    }
    nix::unistd::chroot(rootfs)
        .and_then(|_| nix::unistd::chdir("/"))
        .map_err(|e| format!("chroot {rootfs}: {e}"))?;
    // Each mount point is made (in the root, or in a mount made before it) and mounted on in turn;
    // the root turns read-only last (the mounts keep their own mode).
    for (tree, m, is_dir) in trees {
        let dest = Path::new(&m.destination);
        let made = if is_dir {
            std::fs::create_dir_all(dest)
        } else {
            dest.parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(dest)
                        .map(drop)
                })
        };
        made.map_err(|e| format!("mount point {}: {e}", m.destination))?;
        let target = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH)
                .open(dest)
                .map_err(|e| format!("mount point {}: {e}", m.destination))?
        };
        berth_sys::mount_api::attach_mount(
            std::os::fd::AsFd::as_fd(&tree),
            std::os::fd::AsFd::as_fd(&target),
        )
        .map_err(|e| format!("mount {} on {}: {e}", m.source, m.destination))?;
        if m.readonly {
            mount(
                None::<&str>,
                dest,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| format!("read-only {}: {e}", m.destination))?;
        }
    }
    if readonly_root {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| format!("read-only root: {e}"))?;
    }
    Ok(())
}

/// `DIR/.`: the directory's contents, as `docker cp` says it.
fn contents_only(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

/// The helper's entry point (`args` after `__archive`): `OP ROOTFS PATH PUT-OPTIONS [SRC DST ro|rw]...`;
/// returns the exit code.
pub fn helper_main(args: &[String]) -> i32 {
    let [op, rootfs, path, opts, rest @ ..] = args else {
        return fail(
            1,
            "usage: berthd __archive stat|get|put ROOTFS PATH OPTIONS [SRC DST ro|rw]...",
        );
    };
    if rest.len() % 3 != 0 {
        return fail(1, "mounts come as SRC DST ro|rw");
    }
    let mounts: Vec<HelperMount> = rest
        .chunks(3)
        .map(|c| HelperMount {
            source: c[0].clone(),
            destination: c[1].clone(),
            readonly: c[2] == "ro",
        })
        .collect();
    let opts = HelperOptions::parse(opts);
    if let Err(e) = enter_root(rootfs, &mounts, opts.readonly_root) {
        return fail(1, e);
    }
    let p = Path::new(path);
    let md = match std::fs::symlink_metadata(p) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(NOT_FOUND, format!("no such file or directory: {path}"))
        }
        Err(e) => return fail(1, format!("{path}: {e}")),
    };
    let out = std::io::stdout();
    match op.as_str() {
        "stat" => match stat_json(p).map(|mut v| {
            if contents_only(path) {
                v.name = ".".into();
            }
            v
        }) {
            Ok(v) => {
                let json = serde_json::to_string(&v).expect("a stat serializes");
                let _ = writeln!(out.lock(), "{json}");
                0
            }
            Err(e) => fail(1, format!("{path}: {e}")),
        },
        "get" => {
            // `DIR/.` is the directory's contents, named `./...`: the CLI renames the entries by
            // replacing that leading `.`.
            let name: Vec<u8> = if md.is_dir() && contents_only(path) {
                b"./".to_vec()
            } else {
                use std::os::unix::ffi::OsStrExt;
                // The root itself is `/`, its entries `/bin/`, ... as dockerd names them (the
                // CLI's rebasing expects that).
                p.file_name()
                    .map_or_else(|| b"/".to_vec(), |n| n.as_bytes().to_vec())
            };
            // Inside the root now: its /etc/passwd and /etc/group name the owners.
            let owners = crate::containers::spec::owners(Path::new("/"));
            let mut b = tar::Builder::new(std::io::BufWriter::new(out.lock()));
            let res = berth_image::pack::append_tree(&mut b, p, &name, &owners);
            match res.and_then(|_| b.into_inner()).and_then(|mut w| w.flush()) {
                Ok(()) => 0,
                Err(e) => fail(1, format!("archiving {path}: {e}")),
            }
        }
        "put" => {
            // The extraction point may be a symlink to a directory: followed, inside the root.
            let (p, md) = match std::fs::canonicalize(p).and_then(|c| {
                let md = std::fs::metadata(&c)?;
                Ok((c, md))
            }) {
                Ok(v) => v,
                Err(_) => (p.to_path_buf(), md),
            };
            let p = p.as_path();
            if !md.is_dir() {
                return fail(
                    NOT_DIR,
                    format!("extraction point is not a directory: {path}"),
                );
            }
            // Inside the root now: its /etc/passwd and /etc/group are the container's.
            let owner = match &opts.chown_to {
                None => None,
                Some(u) => match crate::containers::spec::resolve_user(Path::new("/"), u) {
                    Ok(u) => Some((u.uid, u.gid)),
                    Err(e) => return fail(1, format!("copyUIDGID: {e}")),
                },
            };
            let opts = berth_image::extract::ExtractOptions {
                whiteouts: berth_image::extract::WhiteoutMode::Literal,
                no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                owner,
                clean_dotdot: true,
                ..Default::default()
            };
            match berth_image::extract::extract_layer(std::io::stdin().lock(), p, &opts, None) {
                Ok(_) => 0,
                Err(e @ berth_image::extract::ExtractError::PathTraversal(_)) => {
                    fail(BAD_ARCHIVE, format!("extracting into {path}: {e}"))
                }
                Err(e) => fail(1, format!("extracting into {path}: {e}")),
            }
        }
        other => fail(1, format!("unknown archive op {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_modes() {
        let d = tempfile::tempdir().unwrap();
        let md = std::fs::metadata(d.path()).unwrap();
        assert_ne!(go_mode(&md) & (1 << 31), 0);
        let f = d.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(go_mode(&std::fs::metadata(&f).unwrap()), 0o644);
        let v = serde_json::to_string(&stat_json(&f).unwrap()).unwrap();
        assert!(
            v.starts_with(r#"{"name":"f","size":1,"mode":420,"mtime":""#),
            "{v}"
        );
    }
}
