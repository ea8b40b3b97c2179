//! The OCI runtime config for a container, with Docker's defaults: its capability set, the default
//! seccomp profile (berth-seccomp), masked and read-only paths, the standard mounts, cgroup limits, and
//! `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` bound in from the container's directory.

use super::model::{Container, RunSpec};
use serde_json::{json, Value};
use std::path::Path;

/// Errors building the config.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// User lookup failed.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// Group lookup failed.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    /// Seccomp conversion failed.
    #[error("seccomp profile: {0}")]
    Seccomp(#[from] berth_seccomp::Error),
    /// A HostConfig setting could not be applied.
    #[error("{0}")]
    Extra(String),
    /// File I/O.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Docker's default capabilities: the same list the seccomp profile is
/// resolved against, so the two can never disagree.
pub const DEFAULT_CAPS: &[&str] = &berth_seccomp::DOCKER_DEFAULT_CAPS;

/// Every capability the kernel knows (for `ALL` and privileged containers).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's masked paths.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Normalise a capability name (`net_admin` -> `CAP_NET_ADMIN`); `None` if unknown (`ALL` passes).
pub fn normalize_cap(c: &str) -> Option<String> {
    let up = c.to_ascii_uppercase();
    if up == "ALL" {
        return Some(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    ALL_CAPS.contains(&full.as_str()).then_some(full)
}

/// The capabilities in this process's bounding set (a privileged container cannot have more); all
/// known ones if /proc does not say.
fn host_caps() -> Vec<String> {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The capability set from Docker's rules: default set, `ALL` in add or drop, then adds and drops.
pub fn capabilities(
    privileged: bool,
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, String> {
    if privileged {
        return Ok(host_caps());
    }
    let norm = |list: &[String], what: &str| -> Result<Vec<String>, String> {
        list.iter()
            .map(|c| {
                normalize_cap(c).ok_or_else(|| format!("invalid {what}: unknown capability: {c:?}"))
            })
            .collect()
    };
    let add = norm(add, "CapAdd")?;
    let drop = norm(drop, "CapDrop")?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        host_caps()
    } else if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if !drop.iter().any(|c| c == "ALL") {
        caps.retain(|c| !drop.contains(c));
    }
    for c in add.into_iter().filter(|c| c != "ALL") {
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// One of the image's account files, resolved the way the container sees it (a symlink in the image
/// must not make berthd read a host file) and opened without following a final link.
fn read_db(rootfs: &Path, file: &str) -> Vec<Vec<String>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = String::new();
    if let Some(path) = crate::volumes::resolve_in_root(rootfs, file) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)
        {
            let _ = f.read_to_string(&mut text);
        }
    }
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

/// The names the container's /etc/passwd and /etc/group give its ids, for the owner fields of
/// its archives (`docker export`, `docker cp`), as dockerd names them.
pub fn owners(rootfs: &Path) -> berth_image::pack::Owners {
    let table = |file| {
        read_db(rootfs, file)
            .into_iter()
            .filter_map(|e| Some((e.get(2)?.parse::<u32>().ok()?, e.first()?.clone())))
            .filter(|(_, name)| !name.is_empty())
            .rev() // the first line for an id wins
            .collect()
    };
    berth_image::pack::Owners {
        users: table("etc/passwd"),
        groups: table("etc/group"),
    }
}

/// Resolved user: uid, gid, additional gids, home.
#[derive(Debug, PartialEq, Eq)]
pub struct User {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary groups.
    pub additional: Vec<u32>,
    /// Home directory (`/` if unknown).
    pub home: String,
}

/// Resolve `user[:group]` against the container's /etc/passwd and /etc/group, as Docker does.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<User, SpecError> {
    let passwd = read_db(rootfs, "etc/passwd");
    let group = read_db(rootfs, "etc/group");
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = passwd
        .iter()
        .find(|e| e.len() >= 4 && (e[0] == u || e[2] == u));
    let (uid, mut gid, home, uname) = match (entry, u.parse::<u32>()) {
        (Some(e), _) => (
            e[2].parse().unwrap_or(0),
            e[3].parse().unwrap_or(0),
            e.get(5).cloned().unwrap_or_else(|| "/".into()),
            e[0].clone(),
        ),
        (None, Ok(n)) => (n, 0, "/".to_string(), String::new()),
        (None, Err(_)) => return Err(SpecError::NoUser(u.to_string())),
    };
    if let Some(g) = g {
        gid = match group
            .iter()
            .find(|e| e.len() >= 3 && (e[0] == g || e[2] == g))
        {
            Some(e) => e[2].parse().unwrap_or(0),
            None => g.parse().map_err(|_| SpecError::NoGroup(g.to_string()))?,
        };
    }
    // Supplementary groups: the primary group always (as dockerd since 20.10.18, so a group's
    // permission bits cannot be dropped with setgroups), plus, for `user` alone, the groups
    // /etc/group lists it in: `user:group` names the one group the process has.
    let mut additional = vec![gid];
    if !uname.is_empty() && g.is_none() {
        additional.extend(
            group
                .iter()
                .filter(|e| e.len() >= 4 && e[3].split(',').any(|m| m == uname))
                .filter_map(|e| e[2].parse::<u32>().ok())
                .filter(|g| *g != gid),
        );
    }
    Ok(User {
        uid,
        gid,
        additional,
        home,
    })
}

fn env_has(env: &[String], key: &str) -> bool {
    env.iter()
        .any(|e| e.split_once('=').map(|(k, _)| k) == Some(key) || e == key)
}

/// The process environment as dockerd makes it: a default `PATH`, `HOSTNAME` and, with a tty,
/// `TERM=xterm`, each replaced in place by the container's own (links' variables, then
/// `Config.Env`), whose other variables follow; a name without `=` unsets one of those. `HOME` last
/// when nothing set it (as runc adds it).
pub fn process_env(s: &RunSpec, home: &str) -> Vec<String> {
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("HOSTNAME={}", s.hostname),
    ];
    if s.tty {
        env.push("TERM=xterm".into());
    }
    let mut unset = Vec::new();
    for e in &s.env {
        let key = e.split_once('=').map(|(k, _)| k);
        let Some(key) = key else {
            unset.push(e.as_str());
            continue;
        };
        match env
            .iter()
            .position(|x| x.split_once('=').map(|(k, _)| k) == Some(key))
        {
            Some(i) => env[i] = e.clone(),
            None => env.push(e.clone()),
        }
    }
    env.retain(|x| {
        !unset
            .iter()
            .any(|u| x.split_once('=').map(|(k, _)| k) == Some(u))
    });
    if !env_has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

pub(crate) fn mount(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": src, "options": opts})
}

/// The kernel file systems every container (and every managed plugin) gets, in dockerd's order:
/// /proc, /dev, /dev/pts, /sys (`sys_opt` is "ro" or "rw"), /dev/mqueue, /dev/shm.
pub(crate) fn base_mounts(sys_opt: &str) -> Vec<Value> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_opt],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        ),
    ]
}

/// `profile` as the OCI config's `linux.seccomp` for a container with capabilities `caps`.
fn seccomp_section(
    profile: &berth_seccomp::DockerProfile,
    caps: &[String],
) -> Result<Value, SpecError> {
    let sc = berth_seccomp::docker_to_oci(profile, caps, berth_seccomp::native_arch())?;
    Ok(serde_json::to_value(sc).expect("seccomp serializes"))
}

/// [`seccomp_section`] of Docker's default profile, kept for the last capability set asked for:
/// every container with the same capabilities (most have Docker's default set) gets the same
/// section, and making it (parsing the embedded profile, choosing its rules, converting them)
/// cost 0.2-0.3 ms of CPU per container here. The kernel's version and the architecture it
/// depends on do not change while berthd runs.
fn default_seccomp(caps: &[String]) -> Result<Value, SpecError> {
    static LAST: std::sync::Mutex<Option<(Vec<String>, Value)>> = std::sync::Mutex::new(None);
    if let Some((c, v)) = &*LAST.lock().unwrap_or_else(|e| e.into_inner()) {
        if c == caps {
            return Ok(v.clone());
        }
    }
    let v = seccomp_section(&berth_seccomp::default_profile(), caps)?;
    *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some((caps.to_vec(), v.clone()));
    Ok(v)
}

/// Build config.json. `dir` holds hosts, hostname, resolv.conf; `rootfs` is the mounted root.
pub fn oci_config(c: &Container, rootfs: &Path, dir: &Path) -> Result<Value, SpecError> {
    let s = &c.spec;
    let user = resolve_user(rootfs, &s.user)?;
    let ro_sys = if s.privileged { "rw" } else { "ro" };
    let mut mounts = base_mounts(ro_sys);
    // After /sys, before /dev/mqueue, as dockerd orders them.
    mounts.insert(
        4,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[ro_sys, "nosuid", "noexec", "nodev"],
        ),
    );
    let user_dests: Vec<&str> = s
        .binds
        .iter()
        .map(|b| b.destination.as_str())
        .chain(s.tmpfs_mounts.iter().map(|t| t.destination.as_str()))
        .collect();
    for f in ["resolv.conf", "hostname", "hosts"] {
        let dest = format!("/etc/{f}");
        if !user_dests.contains(&dest.as_str()) {
            let src = dir.join(f).display().to_string();
            // Read-only with a read-only root, as dockerd makes them.
            let mut o = vec!["rbind", "rprivate"];
            if s.readonly_rootfs {
                o.push("ro");
            }
            mounts.push(mount(&dest, "bind", &src, &o));
        }
    }
    for b in &s.binds {
        let kind = if b.non_recursive { "bind" } else { "rbind" };
        let mut o = vec![kind, b.propagation.as_str()];
        if b.readonly {
            o.push("ro");
        }
        mounts.push(mount(&b.destination, "bind", &b.source, &o));
    }
    for t in &s.tmpfs_mounts {
        let o = t.options();
        let o: Vec<&str> = o.iter().map(String::as_str).collect();
        mounts.push(mount(&t.destination, "tmpfs", "tmpfs", &o));
    }
    let mut namespaces = vec![
        json!({"type": "mount"}),
        json!({"type": "uts"}),
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
    ];
    if s.network_mode != "host" {
        namespaces.push(json!({"type": "network"}));
    }
    let mut resources = json!({
        "devices": if s.privileged {
            json!([{"allow": true, "access": "rwm"}])
        } else {
            json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
                {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
                {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
                {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
                {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
            ])
        },
    });
    if s.memory > 0 {
        resources["memory"] = json!({"limit": s.memory});
    }
    if s.nano_cpus > 0 {
        let period: i64 = 100_000;
        resources["cpu"] = json!({"quota": s.nano_cpus * period / 1_000_000_000, "period": period});
    }
    if s.pids_limit > 0 {
        resources["pids"] = json!({"limit": s.pids_limit});
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": format!("/berth/{}", c.id),
    });
    if !s.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if !s.seccomp_unconfined && !s.privileged {
        linux["seccomp"] = match &s.seccomp_profile {
            Some(json) => {
                let profile = berth_seccomp::DockerProfile::from_json(json)?;
                seccomp_section(&profile, &s.caps)?
            }
            None => default_seccomp(&s.caps)?,
        };
    }
    // Landlock travels as berth-runtime's annotation (other runtimes ignore it).
    let landlock = s.landlock.as_ref().filter(|_| !s.privileged);
    let mut cfg = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": s.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional},
            "args": s.args,
            "env": process_env(s, &user.home),
            "cwd": s.cwd,
            "capabilities": {
                "bounding": s.caps, "effective": s.caps, "permitted": s.caps,
            },
            "noNewPrivileges": s.no_new_privileges,
            "oomScoreAdj": 0,
        },
        "root": {"path": rootfs.display().to_string(), "readonly": s.readonly_rootfs},
        "hostname": s.hostname,
        "mounts": mounts,
        "linux": linux,
    });
    super::hostextra::apply(&s.extra, &mut cfg, rootfs).map_err(SpecError::Extra)?;
    if let Some(all) = cfg["mounts"].as_array_mut() {
        // The kernel file systems stay first; the container's own mounts (with `HostConfig.Tmpfs`'s,
        // which the line above added) follow, parents first.
        let kernel = all
            .iter()
            .take_while(|m| {
                m["type"] != "bind"
                    && KERNEL_MOUNTS.contains(&m["destination"].as_str().unwrap_or(""))
            })
            .count();
        let own = all.split_off(kernel);
        all.extend(parents_first(own));
    }
    // The NIS domain name (`Config.Domainname`), through its sysctl as dockerd sets it: the OCI
    // config has no field for it. A `--sysctl kernel.domainname=` given wins, as in dockerd.
    if !s.domainname.is_empty()
        && !s.extra.host_uts
        && cfg["linux"]["sysctl"].get("kernel.domainname").is_none()
    {
        cfg["linux"]["sysctl"]["kernel.domainname"] = json!(s.domainname);
    }
    if s.privileged {
        let mut devs = super::hostextra::host_devices();
        if let Some(given) = cfg["linux"]["devices"].as_array() {
            devs.retain(|d| !given.iter().any(|g| g["path"] == d["path"]));
            devs.extend(given.iter().cloned());
        }
        cfg["linux"]["devices"] = json!(devs);
    }
    if let Some(l) = landlock {
        cfg["annotations"]["run.berth.landlock"] = json!(l);
    }
    Ok(cfg)
}

/// Where [`base_mounts`] and the cgroup file system go.
const KERNEL_MOUNTS: &[&str] = &[
    "/proc",
    "/dev",
    "/dev/pts",
    "/sys",
    "/sys/fs/cgroup",
    "/dev/mqueue",
    "/dev/shm",
];

/// The container's own mounts in dockerd's order: by the depth of their destination, so a mount
/// inside another one's destination (`./sub:/data/sub` beside `data:/data`) goes on top of it
/// whatever order the request gave them in (stable: the same depth keeps the request's order).
fn parents_first(mut own: Vec<Value>) -> Vec<Value> {
    own.sort_by_key(|m| {
        m["destination"]
            .as_str()
            .unwrap_or_default()
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .count()
    });
    own
}

/// Write hosts, hostname and resolv.conf for the container into `dir`.
pub fn write_etc_files(s: &RunSpec, dir: &Path) -> Result<(), SpecError> {
    let w = |name: &str, body: String| {
        // Over a spare's empty file or the last start's (a restart), never truncated first: see
        // berth_sys::overwrite.
        berth_sys::overwrite(&dir.join(name), body.as_bytes())
            .map_err(|e| SpecError::Io(name.to_string(), e))
    };
    w("hostname", format!("{}\n", s.hostname))?;
    let hosts = if s.network_mode == "host" {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            .to_string()
    };
    w("hosts", hosts + &super::hostextra::hosts_lines(&s.extra))?;
    // Docker copies the host's resolv.conf (minus local resolvers when the container has its own network).
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv: String = if s.network_mode == "host" {
        host
    } else {
        host.lines()
            .filter(|l| {
                let mut it = l.split_whitespace();
                !(it.next() == Some("nameserver")
                    && it
                        .next()
                        .is_some_and(|a| a.starts_with("127.") || a == "::1"))
            })
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let resolv = super::hostextra::resolv_conf(&s.extra, &resolv).unwrap_or(resolv);
    w("resolv.conf", resolv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_docker_rules() {
        let c = capabilities(false, &[], &[]).unwrap();
        assert_eq!(c.len(), DEFAULT_CAPS.len());
        let c = capabilities(false, &["net_admin".into()], &["CHOWN".into()]).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".into()) && !c.contains(&"CAP_CHOWN".into()));
        let c = capabilities(false, &["KILL".into()], &["ALL".into()]).unwrap();
        assert_eq!(c, vec!["CAP_KILL".to_string()]);
        assert!(capabilities(false, &["BOGUS".into()], &[]).is_err());
        assert!(capabilities(true, &[], &[]).unwrap().len() >= DEFAULT_CAPS.len());
    }

    #[test]
    fn the_kept_default_seccomp_section_follows_the_capabilities() {
        let fresh =
            |caps: &[String]| seccomp_section(&berth_seccomp::default_profile(), caps).unwrap();
        let plain = capabilities(false, &[], &[]).unwrap();
        let admin = capabilities(false, &["SYS_ADMIN".into()], &[]).unwrap();
        let mounts = |v: &Value| v.to_string().contains("\"mount\"");
        assert!(!mounts(&fresh(&plain)) && mounts(&fresh(&admin)));
        // Asked in turn, each set gets its own section, kept or made anew.
        for caps in [&plain, &plain, &admin, &admin, &plain] {
            assert_eq!(default_seccomp(caps).unwrap(), fresh(caps));
        }
    }

    #[test]
    fn mounts_go_on_after_the_ones_they_are_inside() {
        let own = [
            "/data/sub",
            "/etc/hosts",
            "/data",
            "/data/sub/x",
            "/a",
            "/b/",
        ]
        .map(|d| mount(d, "bind", "/src", &[]));
        let dests: Vec<String> = parents_first(own.to_vec())
            .iter()
            .map(|m| m["destination"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            dests,
            [
                "/data",
                "/a",
                "/b/",
                "/data/sub",
                "/etc/hosts",
                "/data/sub/x"
            ]
        );
    }

    #[test]
    fn users_resolve_from_the_rootfs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nextra:x:50:www\n",
        )
        .unwrap();
        assert_eq!(resolve_user(d.path(), "").unwrap().home, "/root");
        let u = resolve_user(d.path(), "www").unwrap();
        assert_eq!((u.uid, u.gid, u.additional.clone()), (33, 33, vec![33, 50]));
        let u = resolve_user(d.path(), "1000:extra").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        let u = resolve_user(d.path(), "www:root").unwrap();
        assert_eq!((u.uid, u.gid, u.additional), (33, 0, vec![0]));
        assert!(resolve_user(d.path(), "nobody").is_err());
    }

    #[test]
    fn account_files_resolve_inside_the_rootfs() {
        // An image whose /etc/passwd is an absolute symlink: it must name the file in the image,
        // never the host's.
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/real")).unwrap();
        std::fs::write(
            d.path().join("etc/real/passwd"),
            "img:x:4242:4242::/:/bin/sh\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/real/passwd", d.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/group")).unwrap();
        let u = resolve_user(d.path(), "img").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 4242));
        // The host's root account is not seen through the group link either.
        assert!(resolve_user(d.path(), "0:root").is_err());
    }
}
