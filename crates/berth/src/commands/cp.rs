//! `berth cp`: files between a container and the host, as docker cp copies them. Paths in the
//! container are `CONTAINER:PATH`; `-` on either side is a tar stream on stdin or stdout.
//!
//! From the container, the archive is unpacked with the tar crate's `unpack_in`, which refuses
//! entries that would land outside the destination (`..`, absolute paths, paths through symlinks
//! the archive itself made), so a container cannot write outside the directory the user named.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::Value;

use crate::client::{q, Body, Client};

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    archive: bool,
    /// Always follow symbolic links in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output
    #[arg(short = 'q', long)]
    quiet: bool,
    src: String,
    dst: String,
}

/// `CONTAINER:PATH` split, or `None` for a host path (one starting with `/` or `.`, or without a
/// colon, as docker decides).
fn container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty()).then_some((c, p))
}

/// The stat docker puts in `X-Docker-Container-Path-Stat` (base64 JSON).
fn path_stat(header: Option<&str>) -> Option<Value> {
    let raw = super::images::decode_base64(header?)?;
    serde_json::from_slice(&raw).ok()
}

/// Go's os.ModeDir bit in that stat's mode.
const GO_MODE_DIR: u64 = 1 << 31;

pub fn cp(c: &Client, a: &CpArgs) -> Result<i32> {
    match (container_path(&a.src), container_path(&a.dst)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((ct, p)), None) => from_container(c, ct, p, &a.dst, a.follow_link),
        (None, Some((ct, p))) => into_container(c, &a.src, ct, p, a.archive, a.follow_link),
    }
}

fn from_container(c: &Client, ct: &str, path: &str, dst: &str, follow: bool) -> Result<i32> {
    let mut path = path.to_string();
    if follow {
        // Ask for the link's target rather than the link.
        let r = c.request(
            "HEAD",
            &format!("/containers/{}/archive?path={}", q(ct), q(&path)),
            &[],
            Body::Empty,
        )?;
        let stat = path_stat(r.header("X-Docker-Container-Path-Stat"));
        r.ok()?;
        if let Some(t) = stat.as_ref().and_then(|s| s["linkTarget"].as_str()) {
            if !t.is_empty() {
                path = t.to_string();
            }
        }
    }
    let r = c
        .request(
            "GET",
            &format!("/containers/{}/archive?path={}", q(ct), q(&path)),
            &[],
            Body::Empty,
        )?
        .ok()?;
    if dst == "-" {
        return super::manage::copy_to(r, Box::new(std::io::stdout()));
    }
    let dst = Path::new(dst);
    // A path ending in "/." copies the directory's content: the archive's top entry is renamed away.
    let base = Path::new(path.trim_end_matches("/.").trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let content_only = path.ends_with("/.");
    if dst.is_dir() && !content_only {
        unpack(r, dst)?;
        return Ok(0);
    }
    if dst.as_os_str().to_string_lossy().ends_with('/') && !dst.exists() {
        bail!("destination directory {} does not exist", dst.display());
    }
    // Unpack beside the destination, then move the copied item into its place.
    let parent = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = staging_dir(parent)?;
    let result = (|| -> Result<()> {
        unpack(r, &tmp)?;
        // The daemon names the entries of a `DIR/.` archive `./...`: they land in `tmp` itself.
        let item = if content_only {
            tmp.clone()
        } else {
            tmp.join(&base)
        };
        replace(&item, dst)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|()| 0)
}

/// A fresh directory in `parent` for unpacking (removed by the caller).
fn staging_dir(parent: &Path) -> Result<PathBuf> {
    for i in 0..100u32 {
        let p = parent.join(format!(".berth-cp-{}-{i}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("create {}", p.display())),
        }
    }
    bail!("cannot make a staging directory in {}", parent.display())
}

/// Move `from` to `to`: a file replaces a file, a directory may not replace a file.
fn replace(from: &Path, to: &Path) -> Result<()> {
    let from_dir = from.symlink_metadata()?.is_dir();
    match to.symlink_metadata() {
        Ok(m) if m.is_dir() && !from_dir => {
            bail!(
                "cannot overwrite directory {} with non-directory",
                to.display()
            )
        }
        Ok(m) if !m.is_dir() && from_dir => {
            bail!(
                "cannot overwrite non-directory {} with directory",
                to.display()
            )
        }
        Ok(m) if m.is_dir() => {
            // Merge a directory into an existing one, as an unpack there would.
            for e in std::fs::read_dir(from)? {
                let e = e?;
                replace(&e.path(), &to.join(e.file_name()))?;
            }
            Ok(())
        }
        _ => std::fs::rename(from, to).with_context(|| format!("move into {}", to.display())),
    }
}

fn unpack(r: impl Read, dst: &Path) -> Result<()> {
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_overwrite(true);
    for e in ar.entries()? {
        let mut e = e?;
        if !e.unpack_in(dst)? {
            let p = e
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            bail!(
                "refusing to copy {p:?}: it would land outside {}",
                dst.display()
            );
        }
    }
    Ok(())
}

fn into_container(
    c: &Client,
    src: &str,
    ct: &str,
    path: &str,
    archive: bool,
    follow: bool,
) -> Result<i32> {
    if path.is_empty() {
        bail!("destination path in the container must not be empty");
    }
    let put = |dir: &str, body: &mut dyn Read| -> Result<()> {
        c.request(
            "PUT",
            &format!(
                "/containers/{}/archive?path={}&noOverwriteDirNonDir=true&copyUIDGID={}",
                q(ct),
                q(dir),
                u8::from(archive)
            ),
            &[],
            Body::Stream(body),
        )?
        .ok()?;
        Ok(())
    };
    if src == "-" {
        // A tar on stdin is unpacked into the directory as it is.
        put(path, &mut std::io::stdin())?;
        return Ok(0);
    }
    let src_path = Path::new(src);
    let meta = if follow {
        std::fs::metadata(src_path)
    } else {
        std::fs::symlink_metadata(src_path)
    }
    .with_context(|| format!("could not stat {src}"))?;
    // Where the copy lands: into an existing directory under its own name, else renamed to the
    // destination's last element inside the destination's parent.
    let r = c.request(
        "HEAD",
        &format!("/containers/{}/archive?path={}", q(ct), q(path)),
        &[],
        Body::Empty,
    )?;
    let (status, stat) = (
        r.status,
        path_stat(r.header("X-Docker-Container-Path-Stat")),
    );
    let dst_is_dir = match status {
        200 => stat
            .as_ref()
            .and_then(|s| s["mode"].as_u64())
            .is_some_and(|m| m & GO_MODE_DIR != 0),
        404 => {
            if path.ends_with('/') {
                bail!("destination directory {path} does not exist in the container");
            }
            false
        }
        _ => {
            r.ok()?;
            false
        }
    };
    let content_only = src.ends_with("/.");
    let (dir, name): (String, String) = if dst_is_dir {
        let name = src_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow!("cannot copy {src}: it has no name"))?;
        (path.to_string(), name)
    } else {
        if meta.is_dir() && status == 200 {
            bail!("cannot copy a directory onto the file {path}");
        }
        let p = Path::new(path.trim_end_matches('/'));
        let parent = p
            .parent()
            .map(|x| x.to_string_lossy().into_owned())
            .filter(|x| !x.is_empty())
            .unwrap_or_else(|| "/".into());
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow!("invalid destination {path}"))?;
        (parent, name)
    };
    // The archive is written by a thread into a pipe while the request streams it out.
    let (rx, tx) = nix::unistd::pipe()?;
    let (src_path, name2) = (src_path.to_path_buf(), name.clone());
    let writer = std::thread::spawn(move || -> Result<()> {
        let mut b = tar::Builder::new(std::fs::File::from(tx));
        b.follow_symlinks(follow);
        if meta.is_dir() {
            let top = if content_only && dst_is_dir {
                "."
            } else {
                &name2
            };
            b.append_dir_all(top, &src_path)?;
        } else {
            b.append_path_with_name(&src_path, &name2)?;
        }
        b.into_inner()?;
        Ok(())
    });
    let sent = put(&dir, &mut std::fs::File::from(rx));
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(anyhow!("the archive's writer failed")));
    // The daemon's answer says more than the writer's broken pipe.
    sent?;
    written.with_context(|| format!("archive {src}"))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_split_as_docker_does() {
        assert_eq!(
            container_path("web:/etc/hosts"),
            Some(("web", "/etc/hosts"))
        );
        assert_eq!(container_path("/tmp/a:b"), None);
        assert_eq!(container_path("./x:y"), None);
        assert_eq!(container_path("plain"), None);
        assert_eq!(container_path(":x"), None);
    }

    #[test]
    fn an_archive_cannot_write_outside_its_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        // A header naming ../escaped, written by hand (the builder refuses such names).
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..12].copy_from_slice(b"../escaped\0\0");
        h.set_size(2);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &b"hi"[..]).unwrap();
        let data = b.into_inner().unwrap();
        assert!(unpack(&data[..], &dst).is_err());
        assert!(!dir.path().join("escaped").exists());
    }
}
