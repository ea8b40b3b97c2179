//! Finding the cgroup hierarchies and resolving a container's cgroup
//! directories.
//!
//! Owns: parsing `/proc/self/mountinfo` into a [`Layout`] (v1, unified v2 or
//! hybrid), parsing `/proc/self/cgroup` for the caller's own cgroup, cleaning
//! the OCI `cgroupsPath`, and turning all of that into a serialisable
//! [`CgroupPaths`] (one absolute directory per v1 controller plus the v2 /
//! unified directory). Relative paths follow runc's cgroupfs driver:
//! on v1 they are joined to the caller's own cgroup in each hierarchy, on v2
//! to the *parent* of the caller's own cgroup; an absent path means the
//! relative path `<container-id>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which cgroup layout a machine (or a manager) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    /// Only cgroup v1 hierarchies.
    V1,
    /// A single cgroup2 hierarchy mounted at the root.
    V2,
    /// cgroup v1 controllers plus a cgroup2 mount (usually `<root>/unified`).
    Hybrid,
}

impl CgroupVersion {
    /// Short name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "cgroup v1",
            CgroupVersion::V2 => "cgroup v2",
            CgroupVersion::Hybrid => "hybrid cgroups",
        }
    }
}

/// One cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The mount's root inside the hierarchy (mountinfo field 4), usually `/`.
    pub mount_root: String,
    /// Controllers bound to it; named hierarchies appear as `name=systemd`.
    pub controllers: Vec<String>,
}

/// The cgroup2 mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedMount {
    pub mount_point: PathBuf,
    pub mount_root: String,
}

/// The cgroup hierarchies found under a cgroup root directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub version: CgroupVersion,
    pub v1: Vec<V1Mount>,
    pub unified: Option<UnifiedMount>,
}

fn unescape(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse mountinfo text and keep the cgroup / cgroup2 mounts at or below
/// `root`.
pub fn parse_layout(mountinfo: &str, root: &Path) -> Result<Layout> {
    let mut v1 = Vec::new();
    let mut unified: Option<UnifiedMount> = None;
    let mut unified_at_root = false;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.len() < 5 || fields.len() < sep + 4 {
            continue;
        }
        let mount_root = unescape(fields[3]);
        let mount_point = PathBuf::from(unescape(fields[4]));
        let fstype = fields[sep + 1];
        let super_opts = fields[sep + 3];
        if !mount_point.starts_with(root) {
            continue;
        }
        match fstype {
            "cgroup2" => {
                unified_at_root = mount_point == root;
                unified = Some(UnifiedMount {
                    mount_point,
                    mount_root,
                });
            }
            "cgroup" => {
                let controllers: Vec<String> = super_opts
                    .split(',')
                    .filter(|o| {
                        o.starts_with("name=")
                            || !(o.contains('=')
                                || matches!(
                                    *o,
                                    "rw" | "ro"
                                        | "xattr"
                                        | "noprefix"
                                        | "clone_children"
                                        | "cpuset_v2_mode"
                                        | "nsdelegate"
                                        | "favordynmods"
                                ))
                    })
                    .map(str::to_string)
                    .collect();
                if !controllers.is_empty() {
                    v1.retain(|m: &V1Mount| m.mount_point != mount_point);
                    v1.push(V1Mount {
                        mount_point,
                        mount_root,
                        controllers,
                    });
                }
            }
            _ => {}
        }
    }
    let version = if unified_at_root || (v1.is_empty() && unified.is_some()) {
        v1.clear();
        CgroupVersion::V2
    } else if !v1.is_empty() && unified.is_some() {
        CgroupVersion::Hybrid
    } else if !v1.is_empty() {
        CgroupVersion::V1
    } else {
        return Err(Error::NoCgroupMount(root.to_path_buf()));
    };
    Ok(Layout {
        version,
        v1,
        unified,
    })
}

/// Read `mountinfo` (normally `/proc/self/mountinfo`) and detect the layout
/// under `root`.
pub fn detect_layout(mountinfo: &Path, root: &Path) -> Result<Layout> {
    let text = berth_sys::read_generated_string(mountinfo).map_err(|source| Error::Read {
        path: mountinfo.to_path_buf(),
        source,
    })?;
    parse_layout(&text, root)
}

/// The caller's own cgroups as listed in `/proc/self/cgroup`:
/// controller (or `name=x`, or `""` for the v2 line) -> path.
pub fn parse_proc_cgroup(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if ctrls.is_empty() {
            out.insert(String::new(), path.to_string());
        } else {
            for c in ctrls.split(',') {
                out.insert(c.to_string(), path.to_string());
            }
        }
    }
    out
}

/// The `cgroup.procs` file of the cgroup a process is in, in one hierarchy
/// (cgroup2 if mounted, else the first v1 hierarchy), from its mountinfo and
/// `/proc/<pid>/cgroup` texts; `None` if neither names a usable one.
pub fn own_procs_file(layout: &Layout, proc_cgroup: &str) -> Option<PathBuf> {
    let own = parse_proc_cgroup(proc_cgroup);
    let inside = |mount_root: &str, path: &str| -> Option<PathBuf> {
        let rel = if mount_root == "/" {
            path
        } else {
            path.strip_prefix(mount_root)?
        };
        Some(PathBuf::from(rel.trim_start_matches('/')))
    };
    if let (Some(u), Some(path)) = (&layout.unified, own.get("")) {
        if let Some(rel) = inside(&u.mount_root, path) {
            return Some(u.mount_point.join(rel).join("cgroup.procs"));
        }
    }
    layout.v1.iter().find_map(|m| {
        let path = m.controllers.iter().find_map(|c| own.get(c))?;
        Some(
            m.mount_point
                .join(inside(&m.mount_root, path)?)
                .join("cgroup.procs"),
        )
    })
}

/// Clean a path lexically the way runc's `CleanPath` does: `.` and `..` are
/// resolved, and a relative path can never climb above its starting point.
/// Returns the cleaned path and whether it is absolute; `""` stays `""`.
pub fn clean_path(p: &str) -> (String, bool) {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if abs {
        (format!("/{joined}"), true)
    } else {
        (joined, false)
    }
}

/// The cgroup driver requested by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupDriver {
    /// Write cgroupfs directly (runc's default `fs`/`fs2` driver).
    #[default]
    Cgroupfs,
    /// systemd transient units: not implemented, always an error.
    Systemd,
}

/// The cleaned inner cgroup path: an absolute path, or a relative one to be
/// joined to the caller's own cgroup.
pub fn inner_path(cgroups_path: Option<&str>, container_id: &str) -> Result<(String, bool)> {
    let raw = cgroups_path.unwrap_or("");
    if !raw.starts_with('/') && raw.split(':').count() == 3 {
        return Err(Error::SystemdDriverUnsupported(raw.to_string()));
    }
    let (p, abs) = clean_path(raw);
    if abs && p == "/" {
        return Err(Error::InvalidPath {
            path: raw.to_string(),
            reason: "it names the cgroup root itself".into(),
        });
    }
    if !p.is_empty() {
        return Ok((p, abs));
    }
    let (id, _) = clean_path(container_id);
    if id.is_empty() || id.contains('/') {
        return Err(Error::InvalidPath {
            path: container_id.to_string(),
            reason: "container id cannot be used as a cgroup name".into(),
        });
    }
    Ok((id, false))
}

/// Absolute cgroup directories of one container: what a manager operates on.
/// Serialisable so the runtime can persist it and rebuild the exact same
/// manager later with [`crate::from_paths`] even if its own cgroup changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPaths {
    pub version: CgroupVersion,
    /// v1 / hybrid: controller (or `name=x`) -> directory. Co-mounted
    /// controllers share a directory.
    #[serde(default)]
    pub v1: BTreeMap<String, PathBuf>,
    /// v2: the container's directory; hybrid: its directory in the cgroup2
    /// mount.
    #[serde(default)]
    pub unified: Option<PathBuf>,
    /// The cgroup2 mount point (controllers are enabled from here down).
    #[serde(default)]
    pub unified_mount: Option<PathBuf>,
}

fn rel_to_mount(own: &str, mount_root: &str) -> String {
    let (own, _) = clean_path(own);
    let (root, _) = clean_path(mount_root);
    let own = own.trim_start_matches('/');
    let root = root.trim_start_matches('/');
    if root.is_empty() {
        return own.to_string();
    }
    match own.strip_prefix(root) {
        Some(rest) => rest.trim_start_matches('/').to_string(),
        None => own.to_string(),
    }
}

/// Resolve the container's directories in `layout`.
/// `proc_cgroup` is the text of `/proc/self/cgroup` (only used for relative
/// paths).
pub fn resolve_paths(
    layout: &Layout,
    inner: &str,
    absolute: bool,
    proc_cgroup: &str,
) -> Result<CgroupPaths> {
    let own = parse_proc_cgroup(proc_cgroup);
    let inner_rel = inner.trim_start_matches('/');
    let mut v1 = BTreeMap::new();
    for m in &layout.v1 {
        let dir = if absolute {
            m.mount_point.join(inner_rel)
        } else {
            let own_path = m
                .controllers
                .iter()
                .find_map(|c| own.get(c))
                .ok_or_else(|| Error::InvalidPath {
                    path: inner.to_string(),
                    reason: format!(
                        "relative path but own cgroup for {} is unknown",
                        m.controllers.join(",")
                    ),
                })?;
            m.mount_point
                .join(rel_to_mount(own_path, &m.mount_root))
                .join(inner_rel)
        };
        for c in &m.controllers {
            v1.insert(c.clone(), dir.clone());
        }
    }
    let unified = match &layout.unified {
        None => None,
        Some(u) if absolute => Some(u.mount_point.join(inner_rel)),
        Some(u) => {
            let own_path = own.get("").cloned().unwrap_or_else(|| "/".to_string());
            let rel = rel_to_mount(&own_path, &u.mount_root);
            // Like runc's fs2 driver: the parent of our own cgroup, because
            // our own cgroup has processes and cannot delegate controllers.
            let parent = Path::new(&rel).parent().map(Path::to_path_buf);
            let base = match parent {
                Some(p) => u.mount_point.join(p),
                None => u.mount_point.clone(),
            };
            Some(base.join(inner_rel))
        }
    };
    Ok(CgroupPaths {
        version: layout.version,
        v1,
        unified,
        unified_mount: layout.unified.as_ref().map(|u| u.mount_point.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
33 31 0:28 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct
34 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
35 31 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
36 31 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
37 31 0:32 / /sys/fs/cgroup/net_cls,net_prio rw shared:9 - cgroup cgroup rw,net_cls,net_prio
";

    #[test]
    fn own_procs_file_prefers_cgroup2_and_falls_back_to_v1() {
        let own = "4:memory:/svc/berthd\n2:cpu:/svc/berthd\n0::/system.slice/berthd.service\n";
        let hybrid = parse_layout(HYBRID, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(
            own_procs_file(&hybrid, own),
            Some(PathBuf::from(
                "/sys/fs/cgroup/unified/system.slice/berthd.service/cgroup.procs"
            ))
        );
        let mut v1 = hybrid.clone();
        v1.unified = None;
        assert_eq!(
            own_procs_file(&v1, own),
            Some(PathBuf::from("/sys/fs/cgroup/cpu/svc/berthd/cgroup.procs"))
        );
        assert_eq!(own_procs_file(&v1, "0::/x\n"), None);
    }

    #[test]
    fn detects_hybrid_and_controllers() {
        let l = parse_layout(HYBRID, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(l.version, CgroupVersion::Hybrid);
        assert_eq!(l.v1.len(), 5);
        assert_eq!(l.v1[3].controllers, vec!["name=systemd"]);
        assert_eq!(l.v1[4].controllers, vec!["net_cls", "net_prio"]);
        assert_eq!(
            l.unified.unwrap().mount_point,
            PathBuf::from("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn detects_v1_v2_and_none() {
        let v1: String =
            HYBRID
                .lines()
                .filter(|l| !l.contains("cgroup2"))
                .fold(String::new(), |mut a, l| {
                    a.push_str(l);
                    a.push('\n');
                    a
                });
        assert_eq!(
            parse_layout(&v1, Path::new("/sys/fs/cgroup"))
                .unwrap()
                .version,
            CgroupVersion::V1
        );
        let v2 = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = parse_layout(v2, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(l.version, CgroupVersion::V2);
        assert!(matches!(
            parse_layout(HYBRID, Path::new("/elsewhere")),
            Err(Error::NoCgroupMount(_))
        ));
    }

    #[test]
    fn unescapes_mount_points() {
        let mi = "1 0 0:1 / /tmp/a\\040b/cg rw - cgroup2 cgroup2 rw\n";
        let l = parse_layout(mi, Path::new("/tmp/a b/cg")).unwrap();
        assert_eq!(l.unified.unwrap().mount_point, PathBuf::from("/tmp/a b/cg"));
    }

    #[test]
    fn cleans_paths_like_runc() {
        assert_eq!(clean_path("/a/../../b/./c/"), ("/b/c".into(), true));
        assert_eq!(clean_path("../../x/y"), ("x/y".into(), false));
        assert_eq!(clean_path(""), ("".into(), false));
    }

    #[test]
    fn inner_path_defaults_and_errors() {
        assert_eq!(inner_path(None, "c1").unwrap(), ("c1".into(), false));
        assert_eq!(inner_path(Some(""), "c1").unwrap(), ("c1".into(), false));
        assert_eq!(
            inner_path(Some("/berth/c1"), "c1").unwrap(),
            ("/berth/c1".into(), true)
        );
        assert!(matches!(
            inner_path(Some("system.slice:berth:c1"), "c1"),
            Err(Error::SystemdDriverUnsupported(_))
        ));
        assert!(inner_path(Some("/"), "c1").is_err());
        assert!(inner_path(None, "..").is_err());
    }

    #[test]
    fn resolves_relative_paths_against_own_cgroup() {
        let l = parse_layout(HYBRID, Path::new("/sys/fs/cgroup")).unwrap();
        let own = "4:memory:/user/me\n3:cpu:/\n2:cpuacct:/\n1:name=systemd:/s\n5:net_cls,net_prio:/\n0::/user.slice/session-1.scope\n";
        let p = resolve_paths(&l, "c1", false, own).unwrap();
        assert_eq!(
            p.v1["memory"],
            PathBuf::from("/sys/fs/cgroup/memory/user/me/c1")
        );
        assert_eq!(p.v1["cpu"], PathBuf::from("/sys/fs/cgroup/cpu/c1"));
        assert_eq!(p.v1["net_prio"], p.v1["net_cls"]);
        assert_eq!(
            p.unified,
            Some(PathBuf::from("/sys/fs/cgroup/unified/user.slice/c1"))
        );
        let a = resolve_paths(&l, "/berth/c1", true, "").unwrap();
        assert_eq!(
            a.v1["memory"],
            PathBuf::from("/sys/fs/cgroup/memory/berth/c1")
        );
        assert_eq!(
            a.unified,
            Some(PathBuf::from("/sys/fs/cgroup/unified/berth/c1"))
        );
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<CgroupPaths>(&json).unwrap(), a);
    }

    #[test]
    fn mount_root_is_stripped() {
        assert_eq!(rel_to_mount("/docker/abc/x", "/docker/abc"), "x");
        assert_eq!(rel_to_mount("/a", "/"), "a");
    }
}
