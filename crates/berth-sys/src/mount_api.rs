//! The mount API of Linux 5.2-5.12 (open_tree, mount_setattr, move_mount): detached copies of
//! mount trees, idmapped or not, their attachment elsewhere, and attributes set on a whole tree.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// A detached copy of the mount at `path` (with its submounts when
/// `recursive`), as `mount --bind` would make it, for [`attach_mount`]:
/// opened by a process that can reach `path` for one that cannot (a bind
/// source closed to the container's user namespace).
pub fn bind_tree(path: &std::path::Path, recursive: bool) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: open_tree reads the NUL-terminated path from a live CString.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, cpath.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the mount tree at `path` (open_tree with
/// OPEN_TREE_CLONE, recursive when asked), idmapped through the user
/// namespace `userns`: ids on disk are shown as that namespace maps them.
/// The tree is attached elsewhere with [`attach_mount`].
pub fn idmapped_tree(
    path: &std::path::Path,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> io::Result<std::os::fd::OwnedFd> {
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    const AT_EMPTY_PATH: libc::c_uint = 0x1000;
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let tree = bind_tree(path, recursive)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let mut setattr_flags = AT_EMPTY_PATH;
    if recursive {
        setattr_flags |= AT_RECURSIVE;
    }
    // SAFETY: mount_setattr reads the empty C string and a live, initialised
    // `struct mount_attr` of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            setattr_flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(tree)
}

/// `MOUNT_ATTR_*` bits of mount_setattr(2), for [`mount_setattr_recursive`].
pub mod mount_attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    /// The access-time field: one of RELATIME (0), NOATIME, STRICTATIME.
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// mount_setattr(2) with AT_RECURSIVE on the mount at `path` (not following
/// a final symlink): set `attr_set` and clear `attr_clr` ([`mount_attr`]
/// bits) on that mount and every mount below it. Linux 5.12 or later; older
/// kernels give ENOSYS.
pub fn mount_setattr_recursive(
    path: &std::path::Path,
    attr_set: u64,
    attr_clr: u64,
) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    const AT_SYMLINK_NOFOLLOW: libc::c_uint = 0x100;
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let attr = MountAttr {
        attr_set,
        attr_clr,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr reads the NUL-terminated path from a live CString
    // and a live, initialised `struct mount_attr` of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            cpath.as_ptr(),
            AT_RECURSIVE | AT_SYMLINK_NOFOLLOW,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A detached copy of the mount tree at `path` (open_tree with OPEN_TREE_CLONE and
/// AT_RECURSIVE), to be attached elsewhere with [`attach_mount`] — for instance after a
/// chroot that hides `path`.
pub fn clone_tree(path: &std::path::Path) -> io::Result<std::os::fd::OwnedFd> {
    bind_tree(path, true)
}

/// Attach a detached mount tree (from [`idmapped_tree`] or [`clone_tree`]) on the directory
/// or file that `target` (an O_PATH descriptor) refers to.
pub fn attach_mount(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: move_mount reads two empty C string literals; both descriptors
    // are borrowed and stay open for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
