//! An image's init layer: the mount targets a container's runtime mounts over (`/proc`, `/sys`,
//! `/etc/hosts`, ...) that the image itself lacks, made once per image and mounted read-only
//! between the image's layers and each container's writable layer (dockerd keeps one per container,
//! `<id>-init`, for the same reason).
//!
//! Without it the runtime makes each missing target in the container's writable layer as the
//! container starts: a new inode apiece on the start's path (on ext4 without a journal each one
//! scans the recently deleted inodes), and entries in the container's diff it never wrote.
//! The layer holds only what no layer provides; a directory it needs on the way (`etc` for
//! `etc/hosts`) copies the owner and mode of the image's own, so the merged view keeps them.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A mount target (or a file dockerd's init layer has), relative to the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitEntry {
    /// A directory, 0755.
    Dir(&'static str),
    /// An empty file, 0755 as dockerd makes them.
    File(&'static str),
    /// A symlink to the second path (`etc/mtab` to `/proc/mounts`).
    Symlink(&'static str, &'static str),
}

impl InitEntry {
    fn path(&self) -> &'static str {
        match self {
            InitEntry::Dir(p) | InitEntry::File(p) | InitEntry::Symlink(p, _) => p,
        }
    }
}

/// The init layer's directory name in its layer's directory: versioned, so an image whose layer
/// predates an entry gets a new one with it (the old one goes with the layer).
pub const DIR_NAME: &str = "init-2";

/// What the merged view of `lowers` (topmost first, overlay's on-disk form) has at `rel`: the
/// metadata of the topmost entry, or `None` when no layer has one or the topmost is a whiteout.
fn lookup(lowers: &[PathBuf], rel: &Path) -> Option<fs::Metadata> {
    for l in lowers {
        if let Ok(m) = fs::symlink_metadata(l.join(rel)) {
            let whiteout = m.file_type().is_char_device() && m.rdev() == 0;
            return (!whiteout).then_some(m);
        }
    }
    None
}

/// Fill `dir` (empty) with the entries the image of `lowers` lacks. Returns how many it made.
pub fn build(dir: &Path, lowers: &[PathBuf], entries: &[InitEntry]) -> io::Result<usize> {
    let mut made = 0;
    for e in entries {
        let rel = Path::new(e.path());
        if lookup(lowers, rel).is_some() {
            continue;
        }
        // The directories on the way, as the image has them (or root's 0755).
        let mut on_the_way = PathBuf::new();
        for c in rel.parent().into_iter().flat_map(Path::components) {
            on_the_way.push(c);
            let here = dir.join(&on_the_way);
            if here.is_dir() {
                continue;
            }
            fs::create_dir(&here)?;
            match lookup(lowers, &on_the_way).filter(fs::Metadata::is_dir) {
                Some(m) => {
                    std::os::unix::fs::chown(&here, Some(m.uid()), Some(m.gid()))?;
                    fs::set_permissions(&here, fs::Permissions::from_mode(m.mode() & 0o7777))?;
                }
                None => fs::set_permissions(&here, fs::Permissions::from_mode(0o755))?,
            }
        }
        let path = dir.join(rel);
        match e {
            InitEntry::Dir(_) => {
                fs::create_dir(&path)?;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
            }
            InitEntry::File(_) => {
                fs::File::create(&path)?;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
            }
            InitEntry::Symlink(_, target) => std::os::unix::fs::symlink(target, &path)?,
        }
        made += 1;
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRIES: &[InitEntry] = &[
        InitEntry::Dir("proc"),
        InitEntry::Dir("sys"),
        InitEntry::File("etc/hosts"),
        InitEntry::File("etc/resolv.conf"),
    ];

    /// Two empty layers (top, base) and an empty init layer, in a temporary directory.
    fn layers() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let [top, base, out] = ["top", "base", "out"].map(|n| t.path().join(n));
        for d in [&top, &base, &out] {
            fs::create_dir(d).unwrap();
        }
        (t, top, base, out)
    }

    #[test]
    fn only_what_no_layer_has_is_made() {
        let (_t, top, base, out) = layers();
        fs::create_dir(base.join("proc")).unwrap();
        fs::create_dir(base.join("etc")).unwrap();
        fs::set_permissions(base.join("etc"), fs::Permissions::from_mode(0o750)).unwrap();
        fs::write(base.join("etc/hosts"), "127.0.0.1 image\n").unwrap();
        let made = build(&out, &[top, base], ENTRIES).unwrap();
        assert_eq!(made, 2, "sys and etc/resolv.conf");
        assert!(!out.join("proc").exists());
        assert!(out.join("sys").is_dir());
        assert!(
            !out.join("etc/hosts").exists(),
            "the image's own stays visible"
        );
        assert_eq!(fs::read(out.join("etc/resolv.conf")).unwrap(), b"");
        let etc = fs::metadata(out.join("etc")).unwrap();
        assert_eq!(etc.mode() & 0o7777, 0o750, "etc keeps the image's mode");
    }

    #[test]
    fn a_whiteout_in_a_higher_layer_hides_the_lower_entry() {
        let (_t, top, base, out) = layers();
        fs::create_dir(base.join("sys")).unwrap();
        // overlay's whiteout: a character device 0/0 (needs CAP_MKNOD: root).
        let wh = nix::sys::stat::mknod(
            &top.join("sys"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        );
        if wh.is_err() {
            eprintln!("skipped: cannot make a whiteout here (not root)");
            return;
        }
        build(&out, &[top, base], &[InitEntry::Dir("sys")]).unwrap();
        assert!(out.join("sys").is_dir());
    }
}
