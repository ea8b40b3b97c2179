//! User-namespace remapping (`--userns-remap`): containers run in a user namespace whose root is an
//! unprivileged host id from /etc/subuid and /etc/subgid (`default` makes and uses the `berthremap`
//! user; `user[:group]` names an existing one). Image layers stay as they are on disk, shared with
//! unmapped containers: a remapped container's overlay gets its lower layers as idmapped mounts
//! (overlayfs itself cannot be idmapped), its upper dir belongs to the containers' root, so what it
//! writes lands on disk as its mapped ids, like dockerd's. Volumes and the hosts/hostname/resolv.conf
//! files are bound with the runtime's `idmap` option. The idmaps come from
//! a user namespace with the same mapping that berthd holds open for its whole life.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The user `--userns-remap default` makes and uses.
pub const DEFAULT_USER: &str = "berthremap";

/// Errors setting remapping up.
#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    /// The user is not in /etc/passwd.
    #[error("user {0:?} not found in /etc/passwd")]
    NoUser(String),
    /// No subordinate ranges for the name.
    #[error("no subordinate {0} ranges found for {1:?} in /etc/sub{0}")]
    NoRanges(&'static str, String),
    /// A path on the way to the data root is closed to the remapped root.
    #[error("{0} is not searchable by the remapped root (mode {1:o}): allow o+x on it")]
    Closed(PathBuf, u32),
    /// A system call or file failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// A command failed.
    #[error("{0}")]
    Cmd(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> UsernsError {
    let what = what.into();
    move |e| UsernsError::Io(what, e)
}

/// One contiguous range: container ids `container..container+size` are host ids `host..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id inside.
    pub container: u32,
    /// First id on the host.
    pub host: u32,
    /// Length.
    pub size: u32,
}

/// The daemon's remapping, with the user namespace that idmaps mounts.
#[derive(Debug)]
pub struct Remap {
    /// User name the ranges belong to.
    pub user: String,
    /// Group name the gid ranges belong to.
    pub group: String,
    /// uid ranges.
    pub uids: Vec<IdRange>,
    /// gid ranges.
    pub gids: Vec<IdRange>,
    userns: OwnedFd,
}

/// `name:start:count` lines of a subid file for `name` or `id`, stacked from container id 0 up.
pub fn ranges(text: &str, name: &str, id: Option<u32>) -> Vec<IdRange> {
    let id = id.map(|i| i.to_string());
    let mut out = Vec::new();
    let mut next = 0u32;
    for l in text.lines() {
        let f: Vec<&str> = l.trim().split(':').collect();
        if f.len() != 3 || (f[0] != name && Some(f[0]) != id.as_deref()) {
            continue;
        }
        let (Ok(host), Ok(size)) = (f[1].parse::<u32>(), f[2].parse::<u32>()) else {
            continue;
        };
        if size == 0 {
            continue;
        }
        out.push(IdRange {
            container: next,
            host,
            size,
        });
        next = next.saturating_add(size);
    }
    out
}

/// The first free start for a new 65536-id range after every range in a subid file (at least 100000).
pub fn next_free(text: &str) -> u32 {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            (f.len() == 3)
                .then(|| Some(f[1].parse::<u32>().ok()?.saturating_add(f[2].parse().ok()?)))
                .flatten()
        })
        .fold(100_000, u32::max)
}

/// A `/etc/passwd` entry by name or uid: (name, uid).
fn passwd_entry(user: &str) -> Option<(String, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && (f[0] == user || f[2] == user))
            .then(|| Some((f[0].to_string(), f[2].parse().ok()?)))
            .flatten()
    })
}

/// A gid by group name, if the group exists.
fn group_id(group: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && (f[0] == group || f[2] == group))
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

/// `default`: the berthremap user (made if missing) with a 65536-id range in each subid file.
fn ensure_default_user() -> Result<(), UsernsError> {
    if passwd_entry(DEFAULT_USER).is_none() {
        let o = Command::new("useradd")
            .args(["--system", "--no-create-home", "--user-group"])
            .args(["--shell", "/bin/false", DEFAULT_USER])
            .output()
            .map_err(io("run useradd"))?;
        if !o.status.success() {
            return Err(UsernsError::Cmd(format!(
                "useradd {DEFAULT_USER}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if ranges(&text, DEFAULT_USER, None).is_empty() {
            let line = format!("{DEFAULT_USER}:{}:65536\n", next_free(&text));
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .map_err(io(file))?;
            f.write_all(line.as_bytes()).map_err(io(file))?;
        }
    }
    Ok(())
}

/// In the re-executed `berthd __userns`: enter a new user namespace, say so, and stay until stdin closes
/// (berthd writes the maps and opens the namespace meanwhile).
pub fn helper_main() -> i32 {
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
        eprintln!("unshare a user namespace: {e}");
        return 1;
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    0
}

fn map_text(r: &[IdRange]) -> String {
    r.iter()
        .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
        .collect()
}

/// A user namespace with the mapping, held by a descriptor (made by a re-executed berthd, since a
/// threaded process cannot unshare one).
fn hold_userns(uids: &[IdRange], gids: &[IdRange]) -> Result<OwnedFd, UsernsError> {
    let exe = std::env::current_exe().map_err(io("locate berthd"))?;
    let mut child = Command::new(exe)
        .arg("__userns")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(io("start the user namespace helper"))?;
    let pid = child.id();
    let result = (|| {
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .map_err(io("user namespace helper"))?;
        if line.trim() != "ready" {
            return Err(UsernsError::Cmd("the user namespace helper failed".into()));
        }
        std::fs::write(format!("/proc/{pid}/uid_map"), map_text(uids)).map_err(io("uid_map"))?;
        std::fs::write(format!("/proc/{pid}/gid_map"), map_text(gids)).map_err(io("gid_map"))?;
        let f = std::fs::File::open(format!("/proc/{pid}/ns/user")).map_err(io("open userns"))?;
        Ok(OwnedFd::from(f))
    })();
    drop(child.stdin.take());
    let _ = child.wait();
    result
}

/// Every directory from `/` down to `dir` must let the remapped root through (Docker's rule); the
/// data root itself is opened to search (0711).
fn open_path(dir: &Path) -> Result<(), UsernsError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(io(dir.display().to_string()))?;
    let md = std::fs::metadata(dir).map_err(io(dir.display().to_string()))?;
    let mode = md.permissions().mode() & 0o7777;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o011))
        .map_err(io(dir.display().to_string()))?;
    for a in dir.ancestors().skip(1) {
        let mode = std::fs::metadata(a)
            .map_err(io(a.display().to_string()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(UsernsError::Closed(a.to_path_buf(), mode & 0o7777));
        }
    }
    Ok(())
}

impl Remap {
    /// Resolve `--userns-remap` (`default` or `user[:group]`) and open the data and exec roots to the
    /// remapped root.
    pub fn setup(spec: &str, roots: &[&Path]) -> Result<Remap, UsernsError> {
        let spec = if spec == "default" {
            ensure_default_user()?;
            DEFAULT_USER
        } else {
            spec
        };
        let (user, group) = spec.split_once(':').unwrap_or((spec, ""));
        let (user, uid) =
            passwd_entry(user).ok_or_else(|| UsernsError::NoUser(user.to_string()))?;
        let group = if group.is_empty() {
            user.clone()
        } else {
            group.to_string()
        };
        let gid = group_id(&group);
        let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        let subgid = std::fs::read_to_string("/etc/subgid").unwrap_or_default();
        let uids = ranges(&subuid, &user, Some(uid));
        if uids.is_empty() {
            return Err(UsernsError::NoRanges("uid", user));
        }
        let gids = ranges(&subgid, &group, gid);
        if gids.is_empty() {
            return Err(UsernsError::NoRanges("gid", group));
        }
        for r in roots {
            open_path(r)?;
        }
        let userns = hold_userns(&uids, &gids)?;
        Ok(Remap {
            user,
            group,
            uids,
            gids,
            userns,
        })
    }

    /// The host uid and gid of the containers' root.
    pub fn root(&self) -> (u32, u32) {
        (self.uids[0].host, self.gids[0].host)
    }

    /// Mount a container's overlay root at `target` with every lower layer idmapped (on-disk root shows
    /// as the containers' root); the upper dir's root is given to the containers' root, so what the
    /// container writes lands on disk as its own (mapped) ids, as with dockerd. `options` are the
    /// snapshotter's overlay options.
    pub fn mount_overlay(&self, options: &[String], target: &Path) -> Result<(), UsernsError> {
        let what = || format!("idmapped overlay on {}", target.display());
        let mut trees = Vec::new();
        let mut opts = Vec::new();
        for o in options {
            if let Some(lowers) = o.strip_prefix("lowerdir=") {
                let mut paths = Vec::new();
                for l in lowers.split(':') {
                    let tree = berth_sys::mount_api::idmapped_tree(
                        Path::new(l),
                        false,
                        self.userns.as_fd(),
                    )
                    .map_err(io(format!("idmap layer {l}")))?;
                    paths.push(format!("/proc/self/fd/{}", tree.as_raw_fd()));
                    trees.push(tree);
                }
                opts.push(format!("lowerdir={}", paths.join(":")));
            } else {
                if let Some(upper) = o.strip_prefix("upperdir=") {
                    let (uid, gid) = self.root();
                    std::os::unix::fs::chown(upper, Some(uid), Some(gid))
                        .map_err(io(format!("chown {upper}")))?;
                }
                opts.push(o.clone());
            }
        }
        nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(opts.join(",").as_str()),
        )
        .map_err(|e| UsernsError::Io(what(), e.into()))
        // The overlay holds the idmapped layers; their descriptors close here.
    }

    /// Put the container in a user namespace with the remapping: the namespace, the maps, and the
    /// `idmap` option on the binds of berthd's files and of volumes (`volume_dests`).
    pub fn apply(&self, cfg: &mut Value, volume_dests: &[String]) {
        let maps = |r: &[IdRange]| {
            json!(r
                .iter()
                .map(|m| json!({"containerID": m.container, "hostID": m.host, "size": m.size}))
                .collect::<Vec<_>>())
        };
        if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
            if !ns.iter().any(|n| n["type"] == "user") {
                ns.push(json!({"type": "user"}));
            }
        }
        cfg["linux"]["uidMappings"] = maps(&self.uids);
        cfg["linux"]["gidMappings"] = maps(&self.gids);
        const OURS: &[&str] = &["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];
        for m in cfg["mounts"].as_array_mut().into_iter().flatten() {
            let dest = m["destination"].as_str().unwrap_or("").to_string();
            if m["type"] != "bind"
                || !(OURS.contains(&dest.as_str()) || volume_dests.contains(&dest))
            {
                continue;
            }
            if let Some(o) = m["options"].as_array_mut() {
                o.push(json!("idmap"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_ranges_stack_and_free_space_follows() {
        let text = "alice:100000:65536\nbob:165536:1000\n1001:300000:10\nbob:400000:5\n# x\n";
        assert_eq!(
            ranges(text, "bob", Some(1001)),
            vec![
                IdRange {
                    container: 0,
                    host: 165536,
                    size: 1000
                },
                IdRange {
                    container: 1000,
                    host: 300000,
                    size: 10
                },
                IdRange {
                    container: 1010,
                    host: 400000,
                    size: 5
                },
            ]
        );
        assert!(ranges(text, "carol", None).is_empty());
        assert_eq!(next_free(text), 400005);
        assert_eq!(next_free(""), 100_000);
    }

    #[test]
    fn config_gets_the_namespace_maps_and_idmapped_binds() {
        let r = Remap {
            user: "u".into(),
            group: "u".into(),
            uids: vec![IdRange {
                container: 0,
                host: 5000,
                size: 100,
            }],
            gids: vec![IdRange {
                container: 0,
                host: 6000,
                size: 100,
            }],
            userns: OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
        };
        let mut cfg = json!({"linux": {"namespaces": [{"type": "pid"}]}, "mounts": [
            {"destination": "/etc/hosts", "type": "bind", "options": ["rbind"]},
            {"destination": "/data", "type": "bind", "options": ["rbind"]},
            {"destination": "/host", "type": "bind", "options": ["rbind"]},
        ]});
        r.apply(&mut cfg, &["/data".to_string()]);
        assert_eq!(cfg["linux"]["namespaces"][1]["type"], "user");
        assert_eq!(cfg["linux"]["uidMappings"][0]["hostID"], 5000);
        assert_eq!(cfg["mounts"][0]["options"], json!(["rbind", "idmap"]));
        assert_eq!(cfg["mounts"][1]["options"], json!(["rbind", "idmap"]));
        assert_eq!(cfg["mounts"][2]["options"], json!(["rbind"]));
        assert_eq!(r.root(), (5000, 6000));
    }
}
