//! The `local` driver's options (`docker volume create -o type=... -o device=... -o o=...`): a
//! volume whose `_data` directory gets a filesystem mounted on it (tmpfs, a bind of a host path,
//! ext4/xfs on a block device or loop file, nfs when the kernel has it). The options are checked
//! when the volume is created (dockerd's messages); the filesystem is mounted when the first
//! container using the volume starts and unmounted when the last one stops (a reference count per
//! volume, as dockerd's local driver keeps). The kernel sits behind [`Mounter`].

use nix::mount::MsFlags;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Errors of the local driver's options and mounts.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// An option the local driver does not know.
    #[error("invalid option key: {0:?}")]
    InvalidKey(String),
    /// An option that needs another one.
    #[error("missing required option: {0:?}")]
    Missing(String),
    /// `size=`: quotas need a filesystem with project quotas, which berthd does not set up.
    #[error("quota size requested but no quota support")]
    NoQuota,
    /// An option's value is wrong.
    #[error("{0}")]
    Invalid(String),
    /// mount(2) failed.
    #[error("failed to mount local volume: mount {device}:{target}, flags: {flags:#x}, data: {data}: {}{hint}", errno_text(*.errno))]
    Mount {
        device: String,
        target: String,
        flags: u64,
        data: String,
        errno: nix::errno::Errno,
        hint: String,
    },
    /// umount(2) failed.
    #[error("failed to unmount local volume {target}: {}", errno_text(*.errno))]
    Unmount {
        target: String,
        errno: nix::errno::Errno,
    },
    /// Removing a volume a container still has mounted.
    #[error("volume has active mounts")]
    Active,
}

/// An errno as Go prints it ("no such device").
fn errno_text(e: nix::errno::Errno) -> String {
    e.desc().to_lowercase()
}

/// The options of a local volume that mounts something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOpts {
    /// `type`: the filesystem type (`tmpfs`, `ext4`, `nfs`, `none` for a bind).
    pub kind: String,
    /// `device`: what is mounted (`tmpfs`, `/dev/loop0`, `:/export`, a host path).
    pub device: String,
    /// `o`: mount options, flags and filesystem data alike.
    pub o: String,
}

const KEYS: [&str; 4] = ["type", "o", "device", "size"];

/// Check a volume's driver options; `None`: a plain directory (no options).
pub fn validate(opts: &BTreeMap<String, String>) -> Result<Option<MountOpts>, LocalError> {
    if opts.is_empty() {
        return Ok(None);
    }
    if let Some(k) = opts.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(LocalError::InvalidKey(k.clone()));
    }
    if opts.contains_key("size") {
        return Err(LocalError::NoQuota);
    }
    // dockerd's mandatory pairs: device needs type, type needs device, o needs both.
    for (key, needs) in [
        ("device", &["type"][..]),
        ("type", &["device"][..]),
        ("o", &["device", "type"][..]),
    ] {
        if opts.contains_key(key) {
            if let Some(n) = needs.iter().find(|n| !opts.contains_key(**n)) {
                return Err(LocalError::Missing(n.to_string()));
            }
        }
    }
    let m = MountOpts {
        kind: opts["type"].clone(),
        device: opts["device"].clone(),
        o: opts.get("o").cloned().unwrap_or_default(),
    };
    if m.device.is_empty() {
        return Err(LocalError::Invalid(
            "missing device in volume options".into(),
        ));
    }
    if parse_o(&m.o).flags.contains(MsFlags::MS_BIND) {
        if !m.device.starts_with('/') {
            return Err(LocalError::Invalid(format!(
                "bind device {:?} must be an absolute host path",
                m.device
            )));
        }
        if !Path::new(&m.device).exists() {
            return Err(LocalError::Invalid(format!(
                "bind device {:?}: no such file or directory",
                m.device
            )));
        }
    }
    Ok(Some(m))
}

/// `o=` split into mount flags, propagation changes and the filesystem's data string.
#[derive(Debug, PartialEq, Eq)]
struct ParsedO {
    flags: MsFlags,
    /// Propagation changes, each its own mount call after the mount.
    propagation: Vec<MsFlags>,
    data: Vec<String>,
}

fn parse_o(o: &str) -> ParsedO {
    let mut p = ParsedO {
        flags: MsFlags::empty(),
        propagation: Vec::new(),
        data: Vec::new(),
    };
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "defaults" | "async" | "suid" | "dev" | "exec" | "atime" | "diratime" | "mand"
            | "norelatime" | "nostrictatime" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                let rec = if opt.starts_with('r') {
                    MsFlags::MS_REC
                } else {
                    MsFlags::empty()
                };
                let kind = match opt.trim_start_matches('r') {
                    "private" => MsFlags::MS_PRIVATE,
                    "shared" => MsFlags::MS_SHARED,
                    "slave" => MsFlags::MS_SLAVE,
                    _ => MsFlags::MS_UNBINDABLE,
                };
                p.propagation.push(kind | rec);
                continue;
            }
            other => {
                p.data.push(other.to_string());
                continue;
            }
        };
        p.flags = (p.flags | set) & !clear;
    }
    p
}

/// What a volume's mount runs: `mount(device, target, fstype, flags, data)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountCall {
    pub device: String,
    pub fstype: String,
    pub flags: MsFlags,
    pub data: String,
    /// A second call for a bind with flags (`ro`, `nosuid`...): the kernel ignores them on the first.
    pub remount: bool,
    pub propagation: Vec<MsFlags>,
}

impl MountOpts {
    /// The mount call for these options, with an nfs/cifs `addr=` host name resolved as dockerd does.
    pub fn call(&self) -> Result<MountCall, LocalError> {
        let p = parse_o(&self.o);
        let mut data = p.data;
        if matches!(self.kind.as_str(), "nfs" | "nfs4" | "cifs") {
            for d in data.iter_mut() {
                let Some(host) = d.strip_prefix("addr=") else {
                    continue;
                };
                if host.parse::<std::net::IpAddr>().is_ok() {
                    continue;
                }
                use std::net::ToSocketAddrs;
                let ip = (host, 0)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        LocalError::Invalid(format!(
                            "error resolving passed in network volume address: {host}"
                        ))
                    })?;
                *d = format!("addr={}", ip.ip());
            }
        }
        let bind = p.flags.contains(MsFlags::MS_BIND);
        Ok(MountCall {
            device: self.device.clone(),
            fstype: self.kind.clone(),
            flags: p.flags,
            data: data.join(","),
            remount: bind && !(p.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC)).is_empty(),
            propagation: p.propagation,
        })
    }
}

/// The kernel's mount table, behind a trait so the reference counting is tested without root.
pub trait Mounter: Send + Sync {
    /// Mount as `call` says on `target`.
    fn mount(&self, call: &MountCall, target: &Path) -> Result<(), LocalError>;
    /// Unmount `target`.
    fn unmount(&self, target: &Path) -> Result<(), LocalError>;
    /// Whether something is mounted on `target` (itself a mount point).
    fn is_mounted(&self, target: &Path) -> bool;
}

/// The real mount table.
pub struct SysMounter;

fn hide_password(s: &str) -> String {
    s.split(',')
        .map(|o| {
            if o.starts_with("password=") {
                "password=********"
            } else {
                o
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Mounter for SysMounter {
    fn mount(&self, call: &MountCall, target: &Path) -> Result<(), LocalError> {
        let fail = |errno: nix::errno::Errno, flags: MsFlags| {
            let hint = if errno == nix::errno::Errno::ENODEV && !kernel_has(&call.fstype) {
                format!(" (the kernel has no {:?} filesystem)", call.fstype)
            } else {
                String::new()
            };
            LocalError::Mount {
                device: call.device.clone(),
                target: target.display().to_string(),
                flags: flags.bits(),
                data: hide_password(&call.data),
                errno,
                hint,
            }
        };
        let data = (!call.data.is_empty()).then_some(call.data.as_str());
        nix::mount::mount(
            Some(call.device.as_str()),
            target,
            Some(call.fstype.as_str()),
            call.flags,
            data,
        )
        .map_err(|e| fail(e, call.flags))?;
        let undo = |e| {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
            e
        };
        if call.remount {
            let f = call.flags | MsFlags::MS_REMOUNT;
            nix::mount::mount(None::<&str>, target, None::<&str>, f, None::<&str>)
                .map_err(|e| undo(fail(e, f)))?;
        }
        for f in &call.propagation {
            nix::mount::mount(None::<&str>, target, None::<&str>, *f, None::<&str>)
                .map_err(|e| undo(fail(e, *f)))?;
        }
        Ok(())
    }

    fn unmount(&self, target: &Path) -> Result<(), LocalError> {
        match nix::mount::umount2(target, nix::mount::MntFlags::empty()) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::EBUSY) => {
                // Still open somewhere (a process in a shared mount namespace): detach it.
                nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH).map_err(|errno| {
                    LocalError::Unmount {
                        target: target.display().to_string(),
                        errno,
                    }
                })
            }
            Err(_) if !self.is_mounted(target) => Ok(()),
            Err(errno) => Err(LocalError::Unmount {
                target: target.display().to_string(),
                errno,
            }),
        }
    }

    fn is_mounted(&self, target: &Path) -> bool {
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        let want = target.to_string_lossy();
        info.lines().any(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|p| unescape_octal(p) == want.as_ref())
        })
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `/proc/filesystems` lists `fstype`.
pub fn kernel_has(fstype: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|s| {
        s.lines()
            .any(|l| l.split_whitespace().last() == Some(fstype))
    })
}

/// Which containers hold each mounted local volume (by mount point): the reference count.
pub struct Active {
    mounter: Box<dyn Mounter>,
    refs: Mutex<HashMap<PathBuf, HashSet<String>>>,
}

impl Default for Active {
    fn default() -> Self {
        Active::new(Box::new(SysMounter))
    }
}

impl Active {
    /// Reference counts over `mounter`.
    pub fn new(mounter: Box<dyn Mounter>) -> Active {
        Active {
            mounter,
            refs: Mutex::new(HashMap::new()),
        }
    }

    /// Container `holder` uses the volume at `target`: mount it unless it already is.
    pub fn acquire(&self, opts: &MountOpts, target: &Path, holder: &str) -> Result<(), LocalError> {
        let mut refs = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        if !self.mounter.is_mounted(target) {
            std::fs::create_dir_all(target).map_err(|e| LocalError::Invalid(e.to_string()))?;
            self.mounter.mount(&opts.call()?, target)?;
        }
        refs.entry(target.to_path_buf())
            .or_default()
            .insert(holder.to_string());
        Ok(())
    }

    /// Container `holder` no longer uses it: unmount when no one does. `others_running` says
    /// whether a running container other than `holder` uses it (after a daemon restart the
    /// counts start empty while containers kept running).
    pub fn release(
        &self,
        target: &Path,
        holder: &str,
        others_running: bool,
    ) -> Result<bool, LocalError> {
        let mut refs = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        let left = refs.get_mut(target).map(|s| {
            s.remove(holder);
            s.len()
        });
        if left.unwrap_or(0) > 0 || others_running {
            return Ok(false);
        }
        refs.remove(target);
        if self.mounter.is_mounted(target) {
            self.mounter.unmount(target)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Before removing a volume: nothing may hold it, and its filesystem comes off (so removing
    /// the directory never reaches into a bound host directory or a device).
    pub fn ensure_unmounted(&self, target: &Path) -> Result<(), LocalError> {
        let refs = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        if refs.get(target).is_some_and(|s| !s.is_empty()) {
            return Err(LocalError::Active);
        }
        if self.mounter.is_mounted(target) {
            self.mounter.unmount(target)?;
        }
        if self.mounter.is_mounted(target) {
            return Err(LocalError::Active);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dockerd_messages_at_create() {
        let e = |kv: &[(&str, &str)]| validate(&opts(kv)).unwrap_err().to_string();
        assert_eq!(e(&[("foo", "x")]), "invalid option key: \"foo\"");
        assert_eq!(
            e(&[("type", "tmpfs")]),
            "missing required option: \"device\""
        );
        assert_eq!(
            e(&[("device", "tmpfs")]),
            "missing required option: \"type\""
        );
        assert_eq!(
            e(&[("o", "size=1m"), ("type", "tmpfs")]),
            "missing required option: \"device\""
        );
        assert_eq!(
            e(&[("size", "1g")]),
            "quota size requested but no quota support"
        );
        assert!(
            e(&[("type", "none"), ("o", "bind"), ("device", "rel/path")])
                .contains("must be an absolute host path")
        );
        assert!(e(&[
            ("type", "none"),
            ("o", "bind"),
            ("device", "/nonexistent-berth")
        ])
        .contains("no such file or directory"));
        assert_eq!(validate(&opts(&[])).unwrap(), None);
    }

    #[test]
    fn mount_calls() {
        let m = validate(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m,mode=0700,nosuid"),
        ]))
        .unwrap()
        .unwrap();
        let c = m.call().unwrap();
        assert_eq!(c.fstype, "tmpfs");
        assert_eq!(c.flags, MsFlags::MS_NOSUID);
        assert_eq!(c.data, "size=1m,mode=0700");
        assert!(!c.remount);
        let m = validate(&opts(&[
            ("type", "none"),
            ("o", "bind,ro,rshared"),
            ("device", "/tmp"),
        ]))
        .unwrap()
        .unwrap();
        let c = m.call().unwrap();
        assert_eq!(c.flags, MsFlags::MS_BIND | MsFlags::MS_RDONLY);
        assert!(c.remount, "a read-only bind needs the remount");
        assert_eq!(c.propagation, [MsFlags::MS_SHARED | MsFlags::MS_REC]);
        let c = MountOpts {
            kind: "nfs".into(),
            device: ":/export".into(),
            o: "addr=localhost,rw,vers=4".into(),
        }
        .call()
        .unwrap();
        assert!(c.data.starts_with("addr=127.0.0.1") || c.data.starts_with("addr=::1"));
        assert_eq!(
            hide_password("user=a,password=secret"),
            "user=a,password=********"
        );
        assert_eq!(unescape_octal("/a\\040b"), "/a b");
    }

    /// A mount table in memory.
    #[derive(Default)]
    struct Fake(std::sync::Arc<Mutex<Vec<PathBuf>>>);

    impl Mounter for Fake {
        fn mount(&self, _: &MountCall, target: &Path) -> Result<(), LocalError> {
            self.0.lock().unwrap().push(target.into());
            Ok(())
        }
        fn unmount(&self, target: &Path) -> Result<(), LocalError> {
            self.0.lock().unwrap().retain(|p| p != target);
            Ok(())
        }
        fn is_mounted(&self, target: &Path) -> bool {
            self.0.lock().unwrap().iter().any(|p| p == target)
        }
    }

    #[test]
    fn mounted_while_any_container_holds_it() {
        let table = std::sync::Arc::new(Mutex::new(Vec::new()));
        let a = Active::new(Box::new(Fake(table.clone())));
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("_data");
        let o = MountOpts {
            kind: "tmpfs".into(),
            device: "tmpfs".into(),
            o: String::new(),
        };
        a.acquire(&o, &target, "c1").unwrap();
        a.acquire(&o, &target, "c2").unwrap();
        assert_eq!(table.lock().unwrap().len(), 1, "mounted once");
        assert!(matches!(
            a.ensure_unmounted(&target),
            Err(LocalError::Active)
        ));
        assert!(!a.release(&target, "c1", false).unwrap());
        assert!(a.mounter.is_mounted(&target), "c2 still holds it");
        assert!(a.release(&target, "c2", false).unwrap());
        assert!(table.lock().unwrap().is_empty());
        // After a daemon restart the counts are empty but a running container still uses it.
        a.acquire(&o, &target, "c3").unwrap();
        let fresh = Active::new(Box::new(Fake(table.clone())));
        assert!(!fresh.release(&target, "c4", true).unwrap());
        assert!(fresh.mounter.is_mounted(&target));
        assert!(fresh.release(&target, "c3", false).unwrap());
        fresh.ensure_unmounted(&target).unwrap();
    }
}
