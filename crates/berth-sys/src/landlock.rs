//! Landlock (the unprivileged access-control LSM): the three system calls,
//! file-system rules only.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: libc::c_int = 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
}

// The kernel's struct is packed (12 bytes).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version the kernel offers; 0 when Landlock is built
/// out or not enabled at boot (ENOSYS, EOPNOTSUPP).
pub fn abi_version() -> io::Result<u32> {
    // SAFETY: with LANDLOCK_CREATE_RULESET_VERSION the attribute pointer
    // must be NULL and the size 0; the kernel reads no memory and
    // returns a number, not a descriptor.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => Ok(0),
            _ => Err(err),
        };
    }
    Ok(ret as u32)
}

/// A new ruleset that handles the file-system rights in `handled_fs`
/// (LANDLOCK_ACCESS_FS_* bits).
pub fn create_ruleset(handled_fs: u64) -> io::Result<OwnedFd> {
    let attr = RulesetAttr {
        handled_access_fs: handled_fs,
    };
    // SAFETY: `attr` is a valid landlock_ruleset_attr prefix (the
    // kernel accepts any size from handled_access_fs on) that lives for
    // the call; the kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the return value is a new descriptor that
    // nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) })
}

/// Allow `allowed` beneath the file or directory `parent` (any
/// descriptor of it, O_PATH included).
pub fn add_path_beneath(
    ruleset: BorrowedFd<'_>,
    allowed: u64,
    parent: BorrowedFd<'_>,
) -> io::Result<()> {
    let attr = PathBeneathAttr {
        allowed_access: allowed,
        parent_fd: parent.as_raw_fd(),
    };
    // SAFETY: `attr` is a landlock_path_beneath_attr (packed, as the
    // kernel declares it) living for the call; both descriptors are
    // borrowed, so they stay open during it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0u32,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Enforce `ruleset` on the calling thread and its future children (needs
/// no_new_privs or CAP_SYS_ADMIN in the user namespace).
pub fn restrict_self(ruleset: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain integer arguments; the descriptor is borrowed, so
    // it stays open during the call.
    let ret = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
