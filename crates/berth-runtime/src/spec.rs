//! Reading and checking a bundle's config.json, and writing the example
//! config of `berth-runtime spec`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::{json, Value};

use crate::error::{Context, Error, Result};

/// A loaded, checked config with its bundle directory.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    /// The absolute path of the root filesystem.
    pub rootfs: PathBuf,
    /// `process.landlock` (or its annotation), checked.
    pub landlock: Option<crate::landlock::Landlock>,
}

/// Parse config.json, naming the field that is wrong when it is invalid.
pub fn parse_config(data: &[u8]) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            Error::Config(inner.to_string())
        } else {
            Error::Config(format!("{path}: {inner}"))
        }
    })
}

impl Bundle {
    /// Load `<dir>/config.json` and check what the runtime relies on.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir)
            .with_ctx(|| format!("bundle directory {}", dir.display()))?;
        let path = dir.join("config.json");
        let data = std::fs::read(&path).with_ctx(|| format!("read {}", path.display()))?;
        let spec = parse_config(&data)?;
        validate(&spec)?;
        // Extensions the spec types drop: read them from the raw document, parsed a second time
        // only when it may hold one (the word, or an escape that could spell it).
        let landlock = if may_hold_landlock(&data) {
            let raw: Value = serde_json::from_slice(&data)
                .map_err(|e| Error::Config(format!("config.json: {e}")))?;
            crate::landlock::Landlock::from_config(&raw)?
        } else {
            None
        };
        let root = spec.root().as_ref().ok_or_else(|| {
            Error::Config("root: missing (the container needs a root filesystem)".into())
        })?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            dir.join(root.path())
        };
        let rootfs = std::fs::canonicalize(&rootfs)
            .with_ctx(|| format!("root.path {}", rootfs.display()))?;
        if !rootfs.is_dir() {
            return Err(Error::Config(format!(
                "root.path: {} is not a directory",
                rootfs.display()
            )));
        }
        Ok(Bundle {
            dir,
            spec,
            rootfs,
            landlock,
        })
    }
}

/// Whether a config document may carry Landlock rules (`process.landlock`, or the annotation
/// [`crate::landlock::ANNOTATION`]): it has the word, or a `\u` escape, which could spell it.
fn may_hold_landlock(data: &[u8]) -> bool {
    let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    has(b"landlock") || has(b"\\u")
}

/// Checks that serde cannot make: required fields, absolute paths, duplicates.
pub fn validate(spec: &Spec) -> Result<()> {
    let major = spec.version().split('.').next().unwrap_or("");
    if major != "1" {
        return Err(Error::Config(format!(
            "ociVersion: {:?} is not a 1.x version of the runtime-spec",
            spec.version()
        )));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("process: missing".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Config(
            "process.args: must name the program to run".into(),
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::Config(format!(
            "process.cwd: {:?} is not an absolute path",
            process.cwd()
        )));
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::Config(format!(
                "mounts[{i}].destination: {:?} is not an absolute path",
                m.destination()
            )));
        }
    }
    let mount_ns = spec
        .linux()
        .iter()
        .flat_map(|l| l.namespaces().iter().flatten())
        .any(|ns| ns.typ() == LinuxNamespaceType::Mount);
    let readonly_root_without_mount_ns = || {
        if !mount_ns && spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
            return Err(Error::Config(
                "root.readonly: cannot make the root read-only without a private mount namespace"
                    .into(),
            ));
        }
        Ok(())
    };
    let Some(linux) = spec.linux() else {
        return readonly_root_without_mount_ns();
    };
    // Parts of the spec this runtime does not implement yet: refuse them
    // rather than run the container without what they ask for.
    if linux.intel_rdt().is_some() {
        return Err(Error::Unsupported(
            "linux.intelRdt: Intel RDT (resctrl) is not supported".into(),
        ));
    }
    if linux.memory_policy().is_some() {
        return Err(Error::Unsupported(
            "linux.memoryPolicy: NUMA memory policies are not supported yet".into(),
        ));
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(Error::Unsupported(
            "linux.netDevices: moving host network devices is not supported yet".into(),
        ));
    }
    let mut seen = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ() as i64) {
            return Err(Error::Config(format!(
                "linux.namespaces[{i}]: namespace {:?} is listed twice",
                ns.typ()
            )));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(Error::Config(format!(
                    "linux.namespaces[{i}].path: {p:?} is not an absolute path"
                )));
            }
        }
    }
    let has_new =
        |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|ns| ns.typ() == t);
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has_new(LinuxNamespaceType::Uts)
    {
        return Err(Error::Config(
            "hostname: cannot set a hostname without a private UTS namespace".into(),
        ));
    }
    let user_ns = has_new(LinuxNamespaceType::User);
    if user_ns
        && linux
            .namespaces()
            .iter()
            .flatten()
            .any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_none())
        && linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
    {
        return Err(Error::Config(
            "linux.uidMappings: a new user namespace needs uid mappings".into(),
        ));
    }
    if !user_ns
        && (linux.uid_mappings().is_some() && !linux.uid_mappings().as_ref().unwrap().is_empty())
    {
        return Err(Error::Config(
            "linux.uidMappings: mappings given without a user namespace".into(),
        ));
    }
    readonly_root_without_mount_ns()?;
    if !mount_ns {
        // Without a mount namespace of its own the container shares the
        // host's mount table: what these ask for could only be done by
        // changing the host's mounts, so refuse rather than weaken (runc
        // refuses the paths too).
        if linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty())
            || linux
                .readonly_paths()
                .as_ref()
                .is_some_and(|p| !p.is_empty())
        {
            return Err(Error::Config(
                "linux.maskedPaths/readonlyPaths: cannot restrict paths without a private mount namespace".into(),
            ));
        }
    }
    // Relative masked and read-only paths are taken from the container's
    // root, as runc does (it applies them with / as the working directory).
    if let Some(prop) = linux.rootfs_propagation() {
        if !matches!(
            prop.as_str(),
            "" | "shared"
                | "slave"
                | "private"
                | "unbindable"
                | "rshared"
                | "rslave"
                | "rprivate"
                | "runbindable"
        ) {
            return Err(Error::Config(format!(
                "linux.rootfsPropagation: unknown propagation {prop:?}"
            )));
        }
    }
    Ok(())
}

/// The example config written by `spec` (the same defaults as runc's, which
/// tools and tests rely on: a terminal, `sh`, a read-only root).
pub fn example_config(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut config = json!({
        "ociVersion": crate::state::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps.clone(),
                "effective": caps.clone(),
                "permitted": caps.clone(),
                "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let linux = &mut config["linux"];
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        linux["namespaces"] = json!([
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}
        ]);
        linux.as_object_mut().unwrap().remove("resources");
        let mounts = config["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["type"] != "cgroup");
        for m in mounts.iter_mut() {
            if m["type"] == "sysfs" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if m["type"] == "devpts" {
                if let Some(opts) = m["options"].as_array_mut() {
                    opts.retain(|o| o != "gid=5");
                }
            }
        }
    }
    // As runc: a cgroup namespace only on a pure cgroup v2 host; on v1 and
    // hybrid hosts the container sees the host's cgroup paths.
    if cgroup2_unified() {
        if let Some(ns) = config["linux"]["namespaces"].as_array_mut() {
            ns.push(json!({"type": "cgroup"}));
        }
    }
    config
}

fn cgroup2_unified() -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    statfs("/sys/fs/cgroup").is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
}

/// Serialize the way runc does (tab indentation), so diffs against runc's are small.
pub fn to_pretty_json(v: &Value) -> String {
    use serde::Serialize;
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("json value serializes");
    String::from_utf8(out).expect("json is utf-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landlock_rules_are_read_even_when_an_escape_spells_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let rules = json!({
            "ruleset": {"handledAccessFS": ["write_file"]},
            "rules": {"pathBeneath": [{"allowedAccess": ["write_file"], "paths": ["/tmp"]}]}
        });
        let load = |text: String| {
            std::fs::write(dir.path().join("config.json"), text).unwrap();
            Bundle::load(dir.path()).unwrap().landlock
        };
        let mut v = example_config(false);
        v["root"]["path"] = json!("rootfs");
        assert!(load(v.to_string()).is_none(), "no rules in the example");
        v["process"]["landlock"] = rules;
        assert!(load(v.to_string()).is_some(), "process.landlock");
        let escaped = v.to_string().replace("\"landlock\"", "\"landl\\u006fck\"");
        assert!(!escaped.contains("landlock"), "{escaped}");
        assert!(
            load(escaped).is_some(),
            "process.landlock spelled with an escape"
        );
    }

    #[test]
    fn example_config_parses_and_validates() {
        for rootless in [false, true] {
            let v = example_config(rootless);
            let spec = parse_config(to_pretty_json(&v).as_bytes()).unwrap();
            validate(&spec).unwrap();
            assert_eq!(spec.process().as_ref().unwrap().terminal(), Some(true));
        }
    }

    #[test]
    fn bad_field_is_named() {
        let mut v = example_config(false);
        v["linux"]["namespaces"][1]["type"] = json!("netwrk");
        let err = parse_config(v.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.namespaces[1].type"), "{err}");
        let mut v = example_config(false);
        v["process"]["user"]["uid"] = json!("root");
        let err = parse_config(v.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("process.user.uid"), "{err}");
    }

    #[test]
    fn semantic_errors_are_named() {
        let mut v = example_config(false);
        v["process"]["cwd"] = json!("relative");
        let spec = parse_config(v.to_string().as_bytes()).unwrap();
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .contains("process.cwd"));
        let mut v = example_config(false);
        v["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "pid"}]);
        v.as_object_mut().unwrap().remove("hostname");
        let spec = parse_config(v.to_string().as_bytes()).unwrap();
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .contains("listed twice"));
        let mut v = example_config(false);
        v["ociVersion"] = json!("1.3.0");
        let spec = parse_config(v.to_string().as_bytes()).unwrap();
        validate(&spec).expect("newer minor versions are accepted");
    }
}
