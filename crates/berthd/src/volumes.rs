//! Named volumes of the `local` driver: a directory `<data-root>/volumes/<name>/_data`, recorded in the
//! state store. Containers get them as bind mounts; `-v name:/path` creates one on first use, and
//! anonymous volumes (`-v /path`, an image's `VOLUME`) get random names and go with `rm -v`.

pub mod attach;
pub mod local;

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A volume as the API shows it.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    // In dockerd's order (its generated type's fields are alphabetical).
    pub created_at: String,
    pub driver: String,
    /// null when empty, as dockerd shows a volume's labels and options.
    #[serde(serialize_with = "null_if_empty", deserialize_with = "map_or_null")]
    pub labels: BTreeMap<String, String>,
    pub mountpoint: String,
    pub name: String,
    #[serde(serialize_with = "null_if_empty", deserialize_with = "map_or_null")]
    pub options: BTreeMap<String, String>,
    pub scope: String,
}

fn null_if_empty<S: serde::Serializer>(
    m: &BTreeMap<String, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    if m.is_empty() {
        s.serialize_none()
    } else {
        m.serialize(s)
    }
}

fn map_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

/// A volume's `CreatedAt` as dockerd's local driver writes it: RFC 3339 in whole seconds.
fn created_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::time::rfc3339_go(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Docker's volume name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(n: &str) -> ApiResult<()> {
    let ok = n.len() >= 2
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

fn dir(d: &Daemon, name: &str) -> PathBuf {
    d.cfg.data_root.join("volumes").join(name)
}

/// Get a volume.
pub fn get(d: &Daemon, name: &str) -> ApiResult<Volume> {
    d.db.volume_get(name)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound(format!("get {name}: no such volume")))
}

/// Create a volume (an existing one is returned as it is, as Docker does).
pub fn create(
    d: &Daemon,
    name: &str,
    driver: &str,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
) -> ApiResult<Volume> {
    validate_name(name)?;
    if !driver.is_empty() && driver != "local" {
        return Err(ApiError::NotFound(format!(
            "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
        )));
    }
    // The local driver's options (a plugin's are the plugin's to check).
    let local_opts = if driver.is_empty() || driver == "local" {
        local::validate(&options).map(|_| ())
    } else {
        Ok(())
    };
    if let Err(e) = local_opts {
        return Err(match ApiError::from(e) {
            ApiError::BadRequest(m) => ApiError::BadRequest(format!("create {name}: {m}")),
            other => other,
        });
    }
    if let Some(v) = d.db.volume_get(name).map_err(ApiError::internal)? {
        return Ok(v);
    }
    let data = dir(d, name).join("_data");
    std::fs::create_dir_all(&data).map_err(ApiError::internal)?;
    let v = Volume {
        name: name.to_string(),
        driver: "local".into(),
        mountpoint: data.display().to_string(),
        created_at: created_now(),
        labels,
        options,
        scope: "local".into(),
    };
    d.db.volume_put(&v.name, &v).map_err(ApiError::internal)?;
    d.events.emit(
        "volume",
        "create",
        &v.name,
        [("driver".to_string(), "local".to_string())].into(),
    );
    Ok(v)
}

/// The label dockerd puts on anonymous volumes (what `volume prune` without `--all` removes).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// An anonymous volume: labelled so, or (made before the label) named by 64 hex digits.
pub fn is_anonymous(v: &Volume) -> bool {
    v.labels.contains_key(ANONYMOUS_LABEL)
        || (v.name.len() == 64 && v.name.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Containers using a volume.
pub fn users(d: &Daemon, name: &str) -> Vec<String> {
    d.containers
        .all()
        .into_iter()
        .filter(|c| {
            c.spec
                .binds
                .iter()
                .any(|b| b.volume.as_deref() == Some(name))
        })
        .map(|c| c.id)
        .collect()
}

/// Remove a volume (409 while a container uses it, unless `force`... which Docker also refuses then).
pub fn remove(d: &Daemon, name: &str, force: bool) -> ApiResult<()> {
    if d.db
        .volume_get::<Volume>(name)
        .map_err(ApiError::internal)?
        .is_none()
    {
        if force {
            return Ok(());
        }
        return Err(ApiError::NotFound(format!("get {name}: no such volume")));
    }
    let used = users(d, name);
    if !used.is_empty() {
        return Err(ApiError::Conflict(format!(
            "remove {name}: volume is in use - [{}]",
            used.join(", ")
        )));
    }
    // A filesystem still mounted on it (a bound host directory, a device) comes off first.
    attach::before_remove(d, &dir(d, name).join("_data"))?;
    match std::fs::remove_dir_all(dir(d, name)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ApiError::internal(e)),
    }
    d.db.volume_delete(name).map_err(ApiError::internal)?;
    d.events.emit(
        "volume",
        "destroy",
        name,
        [("driver".to_string(), "local".to_string())].into(),
    );
    Ok(())
}

/// Every volume.
pub fn list(d: &Daemon) -> ApiResult<Vec<Volume>> {
    d.db.volume_list().map_err(ApiError::internal)
}

/// Fill an empty new volume with what the image has at the mount point (Docker's copy-up).
pub fn copy_up(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !from.is_dir() || std::fs::read_dir(to)?.next().is_some() {
        return Ok(());
    }
    let md = std::fs::metadata(from)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
    let _ = nix::unistd::chown(to, Some(md.uid().into()), Some(md.gid().into()));
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let md = std::fs::symlink_metadata(&src)?;
        if md.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if md.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_up(&src, &dst)?;
            continue;
        } else if md.is_file() {
            std::fs::copy(&src, &dst)?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
        } else {
            continue;
        }
        let _ = nix::unistd::fchownat(
            None,
            &dst,
            Some(md.uid().into()),
            Some(md.gid().into()),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
    }
    Ok(())
}

/// `path` (absolute, as the container names it) resolved under `root` the way the container would
/// resolve it: symlinks are followed, absolute ones from `root`, and `..` never climbs above `root`.
/// `None` after too many links. Meant for a root no process runs in (nothing changes meanwhile).
pub fn resolve_in_root(root: &std::path::Path, path: &str) -> Option<std::path::PathBuf> {
    let mut todo: std::collections::VecDeque<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let here = done
            .iter()
            .fold(root.to_path_buf(), |p, d| p.join(d))
            .join(&c);
        match std::fs::symlink_metadata(&here) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return None;
                }
                let target = std::fs::read_link(&here).ok()?;
                let t = target.to_string_lossy();
                if t.starts_with('/') {
                    done.clear();
                }
                for part in t.split('/').filter(|p| !p.is_empty()).rev() {
                    todo.push_front(part.to_string());
                }
            }
            _ => done.push(c),
        }
    }
    Some(done.iter().fold(root.to_path_buf(), |p, d| p.join(d)))
}

#[cfg(test)]
mod tests {
    use super::resolve_in_root;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("var/lib")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("data")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("var/lib/up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(resolve_in_root(&root, "/data").unwrap(), root.join("etc"));
        assert_eq!(
            resolve_in_root(&root, "/var/lib/up/etc").unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve_in_root(&root, "/../../x/./y").unwrap(),
            root.join("x/y")
        );
        assert_eq!(resolve_in_root(&root, "/loop"), None);
    }
}
