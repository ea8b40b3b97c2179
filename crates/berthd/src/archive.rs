//! `docker cp`: the archive endpoints' file system work runs in a helper process (berthd re-executed as
//! `berthd __archive <op> <rootfs> <path>`) that first chroots into the container's root, so no path or
//! symlink the container controls can lead outside it. Ops: `stat` (JSON on stdout), `get` (a tar of
//! the path on stdout), `put` (a tar on stdin extracted into the directory at path).
//! Exit codes: 0 ok, 2 no such path, 3 not a directory, 1 anything else (message on stderr).

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const NOT_FOUND: i32 = 2;
const NOT_DIR: i32 = 3;

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

fn stat_json(path: &Path) -> std::io::Result<serde_json::Value> {
    let md = std::fs::symlink_metadata(path)?;
    let link = if md.file_type().is_symlink() {
        std::fs::read_link(path)?.display().to_string()
    } else {
        String::new()
    };
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(md.mtime().max(0) as u64, md.mtime_nsec().max(0) as u32);
    Ok(serde_json::json!({
        "name": path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into()),
        "size": md.len(),
        "mode": go_mode(&md),
        "mtime": crate::time::rfc3339_nano(mtime),
        "linkTarget": link,
    }))
}

fn fail(code: i32, msg: impl std::fmt::Display) -> i32 {
    eprintln!("{msg}");
    code
}

/// The helper's entry point (`args` after `__archive`); returns the exit code.
pub fn helper_main(args: &[String]) -> i32 {
    let [op, rootfs, path] = args else {
        return fail(1, "usage: berthd __archive stat|get|put ROOTFS PATH");
    };
    if let Err(e) = nix::unistd::chroot(rootfs.as_str()).and_then(|_| nix::unistd::chdir("/")) {
        return fail(1, format!("chroot {rootfs}: {e}"));
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
        "stat" => match stat_json(p) {
            Ok(v) => {
                let _ = writeln!(out.lock(), "{v}");
                0
            }
            Err(e) => fail(1, format!("{path}: {e}")),
        },
        "get" => {
            let name = p
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| ".".into());
            let mut b = tar::Builder::new(std::io::BufWriter::new(out.lock()));
            b.follow_symlinks(false);
            let res = if md.is_dir() {
                b.append_dir_all(&name, p)
            } else {
                b.append_path_with_name(p, &name)
            };
            match res.and_then(|_| b.into_inner()).and_then(|mut w| w.flush()) {
                Ok(()) => 0,
                Err(e) => fail(1, format!("archiving {path}: {e}")),
            }
        }
        "put" => {
            if !md.is_dir() {
                return fail(
                    NOT_DIR,
                    format!("extraction point is not a directory: {path}"),
                );
            }
            let opts = berth_image::extract::ExtractOptions::default();
            match berth_image::extract::extract_layer(std::io::stdin().lock(), p, &opts, None) {
                Ok(_) => 0,
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
        let v = stat_json(&f).unwrap();
        assert_eq!(
            (v["name"].as_str(), v["size"].as_u64()),
            (Some("f"), Some(1))
        );
    }
}
