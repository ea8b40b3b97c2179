//! Mount option parsing and path resolution inside a root that never leaves
//! it: symlinks are followed by hand, relative to the root, and `..` stops at
//! the root (the CVE-2024-21626 / symlink-exchange class of escapes).

use std::ffi::OsStr;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use berth_sys::mount_api::mount_attr as attr;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;

use crate::error::{Context, Error, Result};

/// Flags, propagation and file-system data parsed from OCI mount options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Flags to clear (`rw`, `suid`, ...), relevant on remounts.
    pub clear: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
    /// `idmap` / `ridmap`: an idmapped bind mount.
    pub idmap: bool,
    pub idmap_recursive: bool,
    /// `rro`, `rnosuid`, ... : `MOUNT_ATTR_*` bits to set on the mount and
    /// every mount below it (mount_setattr with AT_RECURSIVE).
    pub rec_set: u64,
    /// `rrw`, `rsuid`, ... : `MOUNT_ATTR_*` bits to clear recursively.
    pub rec_clr: u64,
}

impl MountOptions {
    /// Whether a recursive attribute (`rro`, `rnoexec`, ...) was asked for.
    pub fn has_recursive_attrs(&self) -> bool {
        self.rec_set != 0 || self.rec_clr != 0
    }

    pub fn data_string(&self) -> Option<String> {
        if self.data.is_empty() {
            None
        } else {
            Some(self.data.join(","))
        }
    }
}

/// Parse the `options` list of a mount.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions {
        flags: MsFlags::empty(),
        clear: MsFlags::empty(),
        propagation: Vec::new(),
        data: Vec::new(),
        bind: false,
        recursive: false,
        idmap: false,
        idmap_recursive: false,
        rec_set: 0,
        rec_clr: 0,
    };
    for opt in options {
        if let Some((clear, bit)) = recursive_attr(opt) {
            if bit & attr::ATIME_MASK == bit {
                // The access time is a field (relatime = 0, noatime,
                // strictatime), not a bit: mount_setattr wants the whole
                // field in attr_clr whenever it changes. Clearing a mode
                // falls back to relatime, the kernel's default.
                let current = o.rec_set & attr::ATIME_MASK;
                if clear && (bit == attr::RELATIME || (current != 0 && current != bit)) {
                    // `rnorelatime` has nothing to clear (as in runc); a
                    // clear of a mode other than the one asked keeps it.
                    continue;
                }
                o.rec_set &= !attr::ATIME_MASK;
                if !clear {
                    o.rec_set |= bit;
                }
                o.rec_clr |= attr::ATIME_MASK;
            } else if clear {
                o.rec_clr |= bit;
                o.rec_set &= !bit;
            } else {
                o.rec_set |= bit;
                o.rec_clr &= !bit;
            }
            continue;
        }
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            "private" => {
                o.propagation.push(MsFlags::MS_PRIVATE);
                continue;
            }
            "rprivate" => {
                o.propagation.push(MsFlags::MS_PRIVATE | MsFlags::MS_REC);
                continue;
            }
            "shared" => {
                o.propagation.push(MsFlags::MS_SHARED);
                continue;
            }
            "rshared" => {
                o.propagation.push(MsFlags::MS_SHARED | MsFlags::MS_REC);
                continue;
            }
            "slave" => {
                o.propagation.push(MsFlags::MS_SLAVE);
                continue;
            }
            "rslave" => {
                o.propagation.push(MsFlags::MS_SLAVE | MsFlags::MS_REC);
                continue;
            }
            "unbindable" => {
                o.propagation.push(MsFlags::MS_UNBINDABLE);
                continue;
            }
            "runbindable" => {
                o.propagation.push(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC);
                continue;
            }
            // Options that belong to other runtimes' extensions and carry no
            // kernel meaning.
            "idmap" => {
                o.idmap = true;
                continue;
            }
            "ridmap" => {
                o.idmap = true;
                o.idmap_recursive = true;
                continue;
            }
            "tmpcopyup" | "defaults" | "z" | "Z" | "copy" | "nocopy" => continue,
            _ => {
                o.data.push(opt.clone());
                continue;
            }
        };
        o.flags |= set;
        o.flags &= !clear;
        o.clear |= clear;
    }
    o
}

/// The recursive mount attributes runc knows: name -> (clears?, bit).
fn recursive_attr(opt: &str) -> Option<(bool, u64)> {
    Some(match opt {
        "rro" => (false, attr::RDONLY),
        "rrw" => (true, attr::RDONLY),
        "rnosuid" => (false, attr::NOSUID),
        "rsuid" => (true, attr::NOSUID),
        "rnodev" => (false, attr::NODEV),
        "rdev" => (true, attr::NODEV),
        "rnoexec" => (false, attr::NOEXEC),
        "rexec" => (true, attr::NOEXEC),
        "rnodiratime" => (false, attr::NODIRATIME),
        "rdiratime" => (true, attr::NODIRATIME),
        "rrelatime" => (false, attr::RELATIME),
        "rnorelatime" => (true, attr::RELATIME),
        "rnoatime" => (false, attr::NOATIME),
        "ratime" => (true, attr::NOATIME),
        "rstrictatime" => (false, attr::STRICTATIME),
        "rnostrictatime" => (true, attr::STRICTATIME),
        "rnosymfollow" => (false, attr::NOSYMFOLLOW),
        "rsymfollow" => (true, attr::NOSYMFOLLOW),
        _ => return None,
    })
}

/// The option names [`parse_options`] reads as recursive attributes.
pub const RECURSIVE_ATTR_OPTIONS: &[&str] = &[
    "ratime",
    "rdev",
    "rdiratime",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "rrelatime",
    "rro",
    "rrw",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
];

/// Parse a propagation name as in `rootfsPropagation`.
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    let p = parse_options(&[name.to_string()]).propagation;
    p.first().copied()
}

/// Open `path` with extra open(2) flags, as an owned descriptor.
pub fn open_fd(path: &Path, flags: OFlag) -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags((flags | OFlag::O_CLOEXEC).bits())
        .open(path)?;
    Ok(OwnedFd::from(f))
}

/// Resolve `unsafe_path` inside `root` as if `root` were `/`: every symlink
/// is read and followed relative to root, `..` never climbs above root, and
/// missing trailing components are kept as they are. The result always starts
/// with `root`.
pub fn resolve_in_root(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut current = PathBuf::new(); // relative to root
    let mut links = 0;
    // A work list of components still to walk, in order.
    let mut parts: Vec<std::ffi::OsString> = Vec::new();
    push_components(&mut parts, unsafe_path);
    parts.reverse();
    while let Some(part) = parts.pop() {
        if part == OsStr::new("..") {
            current.pop();
            continue;
        }
        let candidate = current.join(&part);
        let full = root.join(&candidate);
        match fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(Error::Config(format!(
                        "too many symlinks resolving {} in the rootfs",
                        unsafe_path.display()
                    )));
                }
                let target =
                    fs::read_link(&full).with_ctx(|| format!("read symlink {}", full.display()))?;
                if target.is_absolute() {
                    current = PathBuf::new();
                }
                let mut more = Vec::new();
                push_components(&mut more, &target);
                for p in more.into_iter().rev() {
                    parts.push(p);
                }
            }
            _ => current = candidate,
        }
    }
    Ok(root.join(current))
}

fn push_components(out: &mut Vec<std::ffi::OsString>, p: &Path) {
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => out.push("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

/// A mount target that was resolved inside the root and opened, so that a
/// later swap of a path component for a symlink cannot redirect the mount.
/// Mount onto `proc_path()` (a /proc/self/fd magic link).
pub struct Target {
    fd: OwnedFd,
    pub path: PathBuf,
}

impl Target {
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

/// Resolve `dest` inside `root`, create it (a directory, or an empty file
/// when `file` is true) if missing, open it without following a final
/// symlink, and check that the opened object really is inside `root`.
pub fn prepare_target(root: &Path, dest: &Path, file: bool) -> Result<Target> {
    let path = resolve_in_root(root, dest)?;
    if fs::symlink_metadata(&path).is_err() {
        if file {
            if let Some(parent) = path.parent() {
                mkdir_all_in_root(root, parent)?;
            }
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_ctx(|| format!("create mount point {}", path.display()))?;
        } else {
            mkdir_all_in_root(root, &path)?;
        }
    }
    let fd = open_fd(&path, OFlag::O_PATH | OFlag::O_NOFOLLOW)
        .with_ctx(|| format!("open mount point {}", path.display()))?;
    let target = Target { fd, path };
    let real = fs::read_link(target.proc_path()).ctx("check mount point")?;
    if !real.starts_with(root) {
        return Err(Error::Config(format!(
            "mount destination {} escapes the container root (resolves to {})",
            dest.display(),
            real.display()
        )));
    }
    Ok(target)
}

/// `mkdir -p` for a path already resolved inside root; each component is
/// re-checked so a symlink planted meanwhile is refused, not followed.
pub fn mkdir_all_in_root(root: &Path, path: &Path) -> Result<()> {
    let rel = path
        .strip_prefix(root)
        .map_err(|_| Error::Config(format!("{} is outside the root", path.display())))?;
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Config(format!(
                    "{} became a symlink while creating mount points",
                    cur.display()
                )))
            }
            Ok(_) => {
                return Err(Error::Config(format!(
                    "mount point component {} is not a directory",
                    cur.display()
                )))
            }
            Err(_) => match fs::create_dir(&cur) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_ctx(|| format!("mkdir {}", cur.display())),
            },
        }
    }
    Ok(())
}

/// One line of /proc/self/mountinfo, the fields the runtime needs.
#[derive(Debug, Clone)]
pub struct MountInfo {
    pub root: String,
    pub mount_point: PathBuf,
    pub optional: String,
    pub fs_type: String,
    pub super_options: String,
}

pub fn mountinfo() -> Result<Vec<MountInfo>> {
    let data = berth_sys::read_generated(Path::new("/proc/self/mountinfo"))
        .ctx("read /proc/self/mountinfo")?;
    Ok(parse_mountinfo(&data))
}

pub fn parse_mountinfo(data: &[u8]) -> Vec<MountInfo> {
    let mut out = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        out.push(MountInfo {
            root: unescape(l[3]),
            mount_point: PathBuf::from(std::ffi::OsStr::from_bytes(unescape(l[4]).as_bytes())),
            optional: l[6..].join(" "),
            fs_type: r[0].to_string(),
            super_options: r[2].to_string(),
        });
    }
    out
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn options_parse_into_flags_and_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "noexec".into(),
            "mode=755".into(),
            "size=65536k".into(),
            "ro".into(),
            "rbind".into(),
            "rslave".into(),
        ]);
        assert!(o
            .flags
            .contains(MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY));
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        let o = parse_options(&["ro".into(), "rw".into()]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn recursive_attributes_parse_into_mount_setattr_bits() {
        let o = parse_options(&["rbind".into(), "rro".into(), "rnoexec".into()]);
        assert_eq!(o.rec_set, attr::RDONLY | attr::NOEXEC);
        assert_eq!(o.rec_clr, 0);
        assert!(o.flags.is_empty() && o.data.is_empty(), "{o:?}");
        let o = parse_options(&["rro".into(), "rrw".into(), "rsuid".into()]);
        assert_eq!(o.rec_set, 0);
        assert_eq!(o.rec_clr, attr::RDONLY | attr::NOSUID);
        assert!(o.has_recursive_attrs());
        // Access times: the whole field is cleared whenever one is set.
        let o = parse_options(&["rnoatime".into(), "rstrictatime".into()]);
        assert_eq!(o.rec_set, attr::STRICTATIME);
        assert_eq!(o.rec_clr, attr::ATIME_MASK);
        let o = parse_options(&["rnoatime".into(), "ratime".into()]);
        assert_eq!(o.rec_set, attr::RELATIME);
        assert_eq!(o.rec_clr, attr::ATIME_MASK);
        assert!(!parse_options(&["rnorelatime".into()]).has_recursive_attrs());
        assert!(!parse_options(&["ro".into(), "rbind".into()]).has_recursive_attrs());
    }

    #[test]
    fn symlinks_resolve_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("real/dir")).unwrap();
        symlink("/real", root.join("abs")).unwrap();
        symlink("../../../../etc", root.join("real/up")).unwrap();
        symlink("/", root.join("slash")).unwrap();
        assert_eq!(
            resolve_in_root(root, Path::new("/abs/dir")).unwrap(),
            root.join("real/dir")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/real/up/passwd")).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/../../x")).unwrap(),
            root.join("x")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/slash/tmp")).unwrap(),
            root.join("tmp")
        );
        symlink("loop", root.join("loop")).unwrap();
        assert!(resolve_in_root(root, Path::new("/loop")).is_err());
    }

    #[test]
    fn prepare_target_creates_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        symlink("/etc", root.join("hostetc")).unwrap();
        let t = prepare_target(&root, Path::new("/hostetc/x/y"), false).unwrap();
        assert_eq!(t.path, root.join("etc/x/y"));
        assert!(root.join("etc/x/y").is_dir());
        let t = prepare_target(&root, Path::new("/dev/console"), true).unwrap();
        assert!(t.path.is_file());
    }

    #[test]
    fn mountinfo_lines_parse() {
        let line = b"36 35 98:0 /mnt1 /mnt\\040x rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n";
        let m = parse_mountinfo(line);
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt x"));
        assert_eq!(m[0].fs_type, "ext3");
        assert_eq!(m[0].optional, "master:1");
        assert_eq!(m[0].root, "/mnt1");
    }
}
