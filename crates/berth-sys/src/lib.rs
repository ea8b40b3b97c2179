//! berth-sys: the one crate of the workspace that holds `unsafe` code.
//!
//! Each function here wraps exactly one kernel interface that the safe crates
//! (`nix`, `caps`) do not offer safely, and states why the call is sound. The
//! rest of the workspace denies `unsafe_code`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::unistd::Pid;

/// Which side of a fork-like call we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The parent; holds the child's pid (in the parent's pid namespace).
    Parent(Pid),
    /// The new process.
    Child,
}

/// `clone(2)` with namespace flags and fork semantics (no new stack: the child
/// runs on a copy-on-write copy of the caller's stack, exactly like `fork`).
/// SIGCHLD is always added as the exit signal.
///
/// The caller must be single-threaded: only the calling thread exists in the
/// child, so any lock held by another thread would stay locked there.
pub fn clone_fork(flags: libc::c_int) -> io::Result<Forked> {
    // SAFETY: with a null stack pointer the raw clone syscall behaves like
    // fork(2): the child continues from here on a private copy of the address
    // space. The remaining pointer arguments (parent_tid, child_tid, tls) are
    // null and unused because no CLONE_*TID/SETTLS flag is passed. The
    // workspace's runtime is single-threaded when it calls this, which is the
    // documented precondition.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as libc::pid_t))),
    }
}

/// The kernel's `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C, align(8))]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7): the child starts in the cgroup2
/// directory whose descriptor `clone_args.cgroup` holds.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// [`clone_fork`] whose child starts in the cgroup2 directory `cgroup` (an
/// open directory descriptor), with `clone3(CLONE_INTO_CGROUP)`: no later
/// move by pid, which takes the kernel's global threadgroup lock and waits
/// for an RCU grace period. The error is the kernel's; `ENOSYS` or `E2BIG`
/// mean a kernel without clone3 or without `CLONE_INTO_CGROUP`.
///
/// The caller must be single-threaded, as for [`clone_fork`].
pub fn clone_fork_into_cgroup(flags: libc::c_int, cgroup: BorrowedFd<'_>) -> io::Result<Forked> {
    let args = CloneArgs {
        flags: (flags as u32 as u64) | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a live, properly aligned clone_args of the size
    // passed. With stack 0 and stack_size 0 clone3 behaves like fork(2): the
    // child continues from here on a copy-on-write copy of the address space
    // and stack. No flag asks the kernel to write through a pointer (no
    // CLONE_PIDFD, CLONE_*TID, CLONE_SETTLS), and set_tid is empty. The
    // caller is single-threaded, as documented.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as libc::pid_t))),
    }
}

/// Plain `fork(2)`, for single-threaded callers (hooks, helpers).
pub fn fork() -> io::Result<Forked> {
    clone_fork(0)
}

/// Set FD_CLOEXEC on every descriptor numbered `from` or above, so that exec
/// closes them all. Uses close_range(2) with CLOSE_RANGE_CLOEXEC where the
/// kernel has it (and no seccomp filter already loaded denies it), walks
/// /proc/self/fd otherwise, and where there is no /proc either (a chroot
/// without a mount namespace) tries every number up to the descriptor limit.
pub fn cloexec_from(from: RawFd) -> io::Result<()> {
    match cloexec_fast(from) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => cloexec_each(from),
        r => r,
    }
}

fn cloexec_each(from: RawFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // Limits lowered after a descriptor was opened do not close it, so walk
    // up to the default fs.nr_open (or a higher hard limit): about 0.1 s of
    // fcntl calls, only on this rare path.
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(io::Error::from)?;
    let limit = hard.clamp(1 << 20, 1 << 30) as RawFd;
    for fd in from.max(0)..limit {
        if fcntl(fd, FcntlArg::F_GETFD).is_ok() {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
        }
    }
    Ok(())
}

fn cloexec_fast(from: RawFd) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags in this process; no
    // memory is passed to the kernel.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            from as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let name = entry?.file_name();
        let Some(fd) = name.to_str().and_then(|s| s.parse::<RawFd>().ok()) else {
            continue;
        };
        if fd >= from {
            // The descriptor of the read_dir itself may already be gone; ignore EBADF.
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
    }
    Ok(())
}

/// Reset every catchable signal to its default disposition and clear the
/// signal mask. An exec keeps ignored signals ignored (Rust's runtime ignores
/// SIGPIPE), so the container process would otherwise inherit that.
pub fn reset_signals() -> io::Result<()> {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL passes no handler code; signal numbers that
        // are invalid simply fail with EINVAL, which is ignored.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    )?;
    Ok(())
}

/// Make `fd` (a terminal) the controlling terminal of this session.
pub fn set_controlling_terminal(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal); no memory
    // is passed.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Set the window size of a terminal.
pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a `struct winsize` from the pointer, which
    // points at a live, properly initialised local.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Read the window size of a terminal as (rows, cols).
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `struct winsize` into the pointer, which
    // points at a live local of that type.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok((ws.ws_row, ws.ws_col))
}

/// setdomainname(2).
pub fn set_domainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe the bytes of a live &str.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Join the session keyring called `name`, made anew unless one of that name
/// is searchable by the caller (what runc does unless `--no-new-keyring`), so
/// containers do not share the caller's keys. Returns its serial.
pub fn join_session_keyring(name: &str) -> io::Result<i32> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING) reads a NUL-terminated string from
    // the pointer, which points into a live CString.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    i32::try_from(ret).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Add permission bits (KEY_USR_SEARCH, KEY_OTH_SEARCH, ...) to a key's.
pub fn add_key_permissions(serial: i32, bits: u32) -> io::Result<()> {
    const KEYCTL_SETPERM: libc::c_long = 5;
    const KEYCTL_DESCRIBE: libc::c_long = 6;
    // "type;uid;gid;perm;description": the perm field comes early, so a
    // description cut short does not matter.
    let mut buf = [0u8; 256];
    // SAFETY: keyctl(DESCRIBE) writes at most `buf.len()` bytes into the live
    // local buffer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    let len = usize::try_from(ret).unwrap_or(0).min(buf.len());
    let perm = std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|d| d.split(';').nth(3))
        .and_then(|p| u32::from_str_radix(p, 16).ok())
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: keyctl(SETPERM) takes two integers and no pointers.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, serial, perm | bits) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// prctl(PR_SET_KEEPCAPS).
pub fn set_keep_caps(keep: bool) -> io::Result<()> {
    prctl2(libc::PR_SET_KEEPCAPS, keep as libc::c_ulong)
}

/// prctl(PR_SET_DUMPABLE): a non-dumpable process's /proc entries (exe, fd,
/// mem) are unreachable for other processes without CAP_SYS_PTRACE.
pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    prctl2(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong)
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1).
pub fn set_no_new_privs() -> io::Result<()> {
    prctl2(libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// prctl(PR_SET_PDEATHSIG).
pub fn set_parent_death_signal(sig: libc::c_int) -> io::Result<()> {
    prctl2(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong)
}

fn prctl2(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the options used here take plain integer arguments and no
    // pointers.
    let ret = unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bring the loopback interface of the current network namespace up.
pub fn loopback_up() -> io::Result<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: socket(2) takes no pointers; the result is checked below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is a plain C struct for which all-zero bytes are valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into the
    // live `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFFLAGS the flags member of the union is the one set.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads the live `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive one descriptor sent with SCM_RIGHTS, with the message's payload.
/// `None` when the peer closed the socket or sent no descriptor.
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<Option<(std::os::fd::OwnedFd, Vec<u8>)>> {
    let (fds, payload) = recv_fds(sock)?;
    Ok(fds.into_iter().next().map(|fd| (fd, payload)))
}

/// Receive one message with the descriptors sent along (SCM_RIGHTS, up to 64).
pub fn recv_fds(sock: BorrowedFd<'_>) -> io::Result<(Vec<std::os::fd::OwnedFd>, Vec<u8>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut buf = [0u8; 4096];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 64]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let len = msg.bytes;
    let mut received: Vec<OwnedFd> = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel installed these descriptors in this
                // process during this recvmsg call; nothing else refers to them.
                received.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Ok((received, buf[..len].to_vec()))
}

/// personality(2): set the execution domain (PER_LINUX, PER_LINUX32) and flags.
pub fn set_personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: personality takes an integer and touches no memory of ours.
    let ret = unsafe { libc::personality(persona) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level) for the caller.
pub fn set_io_priority(class: u32, level: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    let prio = ((class << 13) | (level & 0x1fff)) as libc::c_long;
    // SAFETY: ioprio_set takes three integers; no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_long,
            prio,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's `struct sched_attr` (version 1, with utilisation clamps).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// sched_setattr(2) for the calling thread.
pub fn set_sched_attr(attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: the pointer refers to a live, fully initialised SchedAttr whose
    // `size` field tells the kernel how much of it to read.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::c_long,
            &a as *const SchedAttr,
            0 as libc::c_ulong,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Install a classic-BPF seccomp filter (raw 8-byte `sock_filter`
/// instructions, host byte order) on the calling thread with
/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`. With
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` in `flags` the kernel returns the
/// user-notification listener, which is handed back.
pub fn seccomp_set_filter(
    insns: &[u8],
    flags: libc::c_ulong,
) -> io::Result<Option<std::os::fd::OwnedFd>> {
    use std::os::fd::{FromRawFd, OwnedFd};
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 8;
    #[repr(C)]
    struct SockFprog {
        len: libc::c_ushort,
        filter: *const u8,
    }
    if insns.is_empty() || !insns.len().is_multiple_of(8) || insns.len() / 8 > 4096 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seccomp program must be 1 to 4096 whole 8-byte instructions",
        ));
    }
    // The kernel reads `sock_filter`s (u16, u8, u8, u32) through the pointer;
    // copy into a buffer aligned for them rather than trusting `insns`.
    let aligned: Vec<u64> = insns
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().expect("8-byte chunk")))
        .collect();
    let prog = SockFprog {
        len: aligned.len() as libc::c_ushort,
        filter: aligned.as_ptr() as *const u8,
    };
    // SAFETY: `prog` points at `aligned`, which holds `len` complete 8-byte
    // instructions and outlives the call; the kernel copies the program and
    // keeps no pointer into our memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const SockFprog,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the return value is a new descriptor that
        // nothing else owns.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }));
    }
    Ok(None)
}

/// Load a BPF_PROG_TYPE_CGROUP_DEVICE program (raw 8-byte instructions) and
/// attach it to the cgroup v2 directory `cgroup_dir` with BPF_F_ALLOW_MULTI,
/// so it adds to what parent cgroups enforce. On failure the verifier's log
/// is part of the error.
pub fn attach_cgroup_device_filter(insns: &[u8], cgroup_dir: BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_ATTACH: libc::c_long = 8;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    #[repr(C)]
    #[derive(Default)]
    struct LoadAttr {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
    }
    #[repr(C)]
    #[derive(Default)]
    struct AttachAttr {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
    }
    if insns.is_empty() || !insns.len().is_multiple_of(8) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bpf program must be whole 8-byte instructions",
        ));
    }
    let license = b"Apache\0";
    let mut log = vec![0u8; 64 * 1024];
    let load = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (insns.len() / 8) as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `load` is a live, initialised bpf_attr prefix whose pointers
    // (instructions, license, log buffer) refer to live buffers of the stated
    // sizes for the whole call; the size argument is the struct's size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &load as *const LoadAttr,
            std::mem::size_of::<LoadAttr>(),
        )
    };
    if fd < 0 {
        let err = io::Error::last_os_error();
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        return Err(io::Error::new(
            err.kind(),
            format!("load device program: {err}: {}", text.trim()),
        ));
    }
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let attach = AttachAttr {
        target_fd: cgroup_dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attach` is a live, initialised bpf_attr prefix with no pointers;
    // the size argument is its size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attach as *const AttachAttr,
            std::mem::size_of::<AttachAttr>(),
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("attach device program: {err}"),
        ));
    }
    // The attached program lives as long as the cgroup; our descriptor can go.
    drop(prog);
    Ok(())
}

/// pidfd_open(2): a descriptor that refers to process `pid` itself, immune to
/// pid reuse.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes two integers; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Terminate the current process immediately with `code`, without running
/// Rust destructors or atexit handlers (used in forked children, whose copies
/// of the parent's buffers must not be flushed twice).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Unmap this process's pages of the read-only segments (code, constants)
/// of the executable and of every shared library it has loaded, leaving the
/// page cache alone: the pages stay cached and are mapped back, from the same
/// file, by the next access. A process that is about to block for long (a
/// container's init parked until `start`) keeps only what it touches after.
/// The vDSO is left alone. Returns the number of bytes advised; segments the
/// kernel refuses (e.g. mlocked) are skipped.
pub fn drop_readonly_segments() -> usize {
    struct Walk {
        vdso: usize,
        page: usize,
        advised: usize,
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid dl_phdr_info for the
        // duration of the call, and `data` is the `Walk` given below, which
        // nothing else touches while the walk runs.
        let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk>()) };
        if info.dlpi_addr as usize == walk.vdso || info.dlpi_phdr.is_null() {
            return 0;
        }
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: dlpi_phdr points to dlpi_phnum program headers of a
            // loaded object, which stay mapped while it is loaded.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_W != 0 || ph.p_memsz == 0 {
                continue;
            }
            let start = (info.dlpi_addr as usize + ph.p_vaddr as usize) & !(walk.page - 1);
            let end = (info.dlpi_addr as usize + (ph.p_vaddr + ph.p_memsz) as usize + walk.page
                - 1)
                & !(walk.page - 1);
            // SAFETY: [start, end) is a PT_LOAD segment without PF_W, which
            // the loader maps read-only and private from the object's file
            // and never writes (no text relocations in our binaries and
            // libraries; the RELRO part that is written lies in a writable
            // PT_LOAD and is skipped above). Segments never share a page
            // with a writable one, since protections are per page. Its pages
            // therefore hold exactly the file's contents, and
            // MADV_DONTNEED only drops the mappings: the next access maps
            // the same page-cache pages again. Nothing is freed that Rust
            // holds a reference into.
            let ret = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            };
            if ret == 0 {
                walk.advised += end - start;
            }
        }
        0
    }
    // SAFETY: sysconf and getauxval only read process constants.
    let (page, vdso) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE).max(4096) as usize,
            libc::getauxval(libc::AT_SYSINFO_EHDR) as usize,
        )
    };
    let mut walk = Walk {
        vdso,
        page,
        advised: 0,
    };
    // SAFETY: `each` matches the callback type dl_iterate_phdr expects and
    // only reads what it is given; `walk` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut walk).cast()) };
    walk.advised
}

/// Open `path` write-only (close-on-exec) after [`drop_readonly_segments`],
/// for a process that blocks in this open for long (a container's init on
/// its exec fifo until `start`): the drop comes last so that only the pages
/// this call and the open itself run on are mapped back while it waits.
pub fn open_write_lean(path: &std::ffi::CStr) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    drop_readonly_segments();
    let fd = loop {
        // SAFETY: `path` is a valid NUL-terminated string for the call.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd >= 0 {
            break fd;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Fill `buf` with the kernel's random bytes (`getrandom(2)`, no file opened: a container's ID and
/// name on create took three opens, reads and closes of /dev/urandom).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the pointer and length name the unfilled part of `buf`, writable and owned here.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        done += n as usize;
    }
    Ok(())
}

/// The mount API (open_tree, mount_setattr, move_mount).
pub mod mount_api;

/// Landlock (the unprivileged access-control LSM): the three system calls,
/// file-system rules only.
pub mod landlock;

/// Signals by number (real-time ones included): `kill`, `waitpid`, `sigwait`.
pub mod signal;
pub use signal::SigNum;

/// Read a file the kernel makes as it is read (`/proc/self/mountinfo`, `/proc/self/cgroup`):
/// into a 16 KiB buffer, so a few kB take one read and the end a second, where `fs::read`
/// (the size says 0) asks for 32 bytes first, then twice as many each time (9 reads of a 3 kB
/// mountinfo, each one made anew by the kernel), after a `statx` for the size.
pub fn read_generated(path: &std::path::Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// [`read_generated`], as text (UTF-8, else `InvalidData`).
pub fn read_generated_string(path: &std::path::Path) -> io::Result<String> {
    String::from_utf8(read_generated(path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Make `bytes` the whole content of `path` (made if missing, mode 0644 under the umask), as
/// `fs::write` does, but over the old content instead of truncating it first. ext4 (unless
/// mounted `noauto_da_alloc`) takes a truncation to zero followed by new data as a file being
/// replaced and starts writing it to disk at its close: the block allocation and the device's
/// I/O on the caller's path, for a file (a bundle's config.json, a spare's hostname) that is
/// usually deleted before writeback would ever have written it. Shrinking to a non-zero length,
/// as here when the new content is shorter, is no such sign. Not atomic for a reader that reads
/// meanwhile, just as `fs::write` is not.
pub fn overwrite(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    f.write_all(bytes)?;
    let len = bytes.len() as u64;
    if f.metadata()?.len() > len {
        f.set_len(len)?;
    }
    Ok(())
}

/// Give the heap's free memory back to the kernel (glibc's malloc_trim),
/// so a long-lived process keeps only the heap pages it still uses.
pub fn trim_heap() {
    // SAFETY: malloc_trim only works on the allocator's own free lists and
    // is safe to call at any time from any thread.
    unsafe { libc::malloc_trim(0) };
}

/// Take descriptor `fd`, handed to this process at its exec by agreement with the process that
/// started it (berth-shim gives berth-runtime's standby its control socket as descriptor 3), and
/// mark it close-on-exec. Fails with EBADF when it is not open. Call it once, at start-up, before
/// anything else in the process could own that number.
pub fn take_inherited_fd(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl on an integer descriptor touches no memory; a closed one fails with EBADF.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (the fcntl above) and, by the caller's agreement with the
    // process that exec'd this one, nothing else in this process owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// The sockets systemd passed to this process (socket activation): `LISTEN_FDS` descriptors from
/// fd 3 on, when `LISTEN_PID` is this process. The variables are removed so children do not see
/// them; each descriptor is marked close-on-exec. Empty when nothing was passed.
pub fn take_listen_fds() -> Vec<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let n = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    if !pid_ok || n <= 0 {
        return Vec::new();
    }
    (3..3 + n)
        .filter(|fd| {
            // SAFETY: fcntl on an integer descriptor touches no memory; a closed one fails with EBADF.
            let r = unsafe { libc::fcntl(*fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            r == 0
        })
        // SAFETY: systemd hands these descriptors to this process (LISTEN_PID matched) and nothing
        // else in it owns them; the fcntl above proved each is open.
        .map(|fd| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
        .collect()
}

/// The local time zone's offset from UTC at `secs` since the epoch, in seconds east (what
/// `localtime_r(3)` says from `TZ` or /etc/localtime; 0 if it cannot say). Log drivers stamp
/// syslog lines in local time, as dockerd does.
pub fn utc_offset(secs: i64) -> i32 {
    let t: libc::time_t = secs;
    // SAFETY: an all-zero `tm` is a valid value of the plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers name live locals; localtime_r is the reentrant form.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        i32::try_from(tm.tm_gmtoff).unwrap_or(0)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_fill_the_whole_buffer_differently_each_time() {
        let (mut a, mut b) = ([0u8; 4096], [0u8; 4096]);
        random_bytes(&mut a).unwrap();
        random_bytes(&mut b).unwrap();
        assert_ne!(a, b);
        // No long run of untouched zeros at the end (a short read would leave one).
        assert!(a[4064..].iter().any(|x| *x != 0) && b[4064..].iter().any(|x| *x != 0));
    }

    #[test]
    fn fork_child_exit_code_is_seen_by_parent() {
        match fork().expect("fork") {
            Forked::Child => exit_now(7),
            Forked::Parent(pid) => {
                let status = nix::sys::wait::waitpid(pid, None).expect("waitpid");
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 7));
            }
        }
    }

    #[test]
    fn overwrite_leaves_just_the_new_content() {
        let dir = std::env::temp_dir().join(format!("berth-sys-overwrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("hosts");
        overwrite(&f, b"made\n").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"made\n");
        overwrite(&f, b"a longer second text\n").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"a longer second text\n");
        // Shorter: nothing of the old text is left after it.
        overwrite(&f, b"short\n").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"short\n");
        overwrite(&f, b"").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"");
        assert!(overwrite(&dir.join("missing/x"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn rss_file_kb() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    #[test]
    fn dropping_readonly_segments_unmaps_pages_and_code_still_runs() {
        let before = rss_file_kb();
        let advised = drop_readonly_segments();
        let after = rss_file_kb();
        assert!(advised > 0, "nothing advised");
        assert!(after < before, "RssFile {before} kB -> {after} kB");
        // Code and constants come back from the page cache.
        let s = format!("{:?}", std::path::Path::new("/proc/self").canonicalize());
        assert!(s.contains("/proc/"), "{s}");
    }

    #[test]
    fn open_write_lean_opens_write_only_and_reports_errors() {
        let fd = open_write_lean(c"/dev/null").expect("open /dev/null");
        let mut f = std::fs::File::from(fd);
        std::io::Write::write_all(&mut f, b"x").unwrap();
        let err = open_write_lean(c"/nonexistent/berth").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn cloexec_from_marks_descriptors() {
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let fd = file.as_raw_fd();
        nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .unwrap();
        cloexec_from(fd).unwrap();
        let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert!(
            nix::fcntl::FdFlag::from_bits_truncate(flags).contains(nix::fcntl::FdFlag::FD_CLOEXEC)
        );
    }
}
