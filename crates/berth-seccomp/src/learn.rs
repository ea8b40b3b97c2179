//! Learning a workload's least-privilege profile from a run.
//!
//! The run goes under a *recording filter*: Docker's default profile for the
//! container's capabilities with every `SCMP_ACT_ALLOW` turned into
//! `SCMP_ACT_NOTIFY` ([`recording_filter`]). The engine's agent
//! ([`record`]) answers each notification with `CONTINUE`, so the workload
//! runs as under Docker's default, while the agent sees every allowed
//! syscall with its arguments and the caller's pid. Because only what
//! Docker's default allows is ever notified (argument conditions included),
//! what is learned can never be wider than Docker's default.
//!
//! Why user notification: it gives the syscall number, all six arguments
//! and the pid synchronously (the caller waits, so its memory can be read
//! for path arguments and the answer comes after); `SCMP_ACT_LOG` goes to
//! the audit log or the kernel's ring buffer, which is rate limited, shared
//! with the host and carries no arguments; ptrace would take the workload's
//! tracer slot. The cost is a round trip to the agent per syscall
//! (measured in bench/PROFILES.md).
//!
//! `write`, `close` and `sendmsg` stay plainly allowed: the runtime hands
//! the listener to the agent with them after the filter is in force (runc
//! refuses notify on `write` for that reason); they are always in the
//! learned set.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use libseccomp::{notify_id_valid, ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};
use serde::{Deserialize, Serialize};

use crate::docker::{default_profile, docker_to_oci, native_arch};
use crate::error::Result;

/// Syscalls the recording filter allows without a notification (see the
/// module docs); a learned profile always has them.
pub const ALWAYS_ALLOWED: [&str; 3] = ["write", "close", "sendmsg"];

/// What an OCI runtime may call between loading the filter and exec'ing
/// the workload (setting the user and capabilities without no_new_privs,
/// the exec fifo, and runc's Go runtime: threads, signals, memory); a
/// learned profile allows them all, so it works with runc, crun and
/// berth-runtime alike (when Docker's default allows them).
pub const RUNTIME_SYSCALLS: &[&str] = &[
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "clone",
    "close",
    "close_range",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "execve",
    "exit",
    "exit_group",
    "fchdir",
    "fcntl",
    "fstat",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpid",
    "getppid",
    "gettid",
    "getuid",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "openat",
    "prctl",
    "pread64",
    "read",
    "readlinkat",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setresgid",
    "setresuid",
    "setuid",
    "sigaltstack",
    "tgkill",
    "umask",
    "write",
    "dup3",
    "lseek",
    "pipe2",
    "poll",
    "ppoll",
    "prlimit64",
    "recvfrom",
    "recvmsg",
    "sendto",
    "statx",
    "wait4",
    "waitid",
    "fstatfs",
    "statfs",
    "openat2",
    "faccessat",
    "faccessat2",
    "access",
    "getrandom",
    "clock_gettime",
    "clock_nanosleep",
    "restart_syscall",
    "getpgrp",
    "setsid",
    "ioctl",
    "dup",
    "dup2",
    "kill",
    "getrusage",
    "uname",
    "mremap",
    "rt_sigtimedwait",
    "rt_sigpending",
    "rt_sigsuspend",
    "socketpair",
];

/// Docker's default profile for `caps`, with ALLOW turned into NOTIFY
/// (except [`ALWAYS_ALLOWED`]) and `listener_path` as the agent's socket.
pub fn recording_filter(caps: &[String], listener_path: &Path) -> Result<LinuxSeccomp> {
    let mut sc = docker_to_oci(&default_profile(), caps, native_arch())?;
    let mut syscalls = Vec::new();
    for mut rule in sc.syscalls().clone().unwrap_or_default() {
        if rule.action() != LinuxSeccompAction::ScmpActAllow {
            syscalls.push(rule);
            continue;
        }
        let (keep, notify): (Vec<String>, Vec<String>) = rule
            .names()
            .iter()
            .cloned()
            .partition(|n| ALWAYS_ALLOWED.contains(&n.as_str()));
        if !keep.is_empty() {
            let mut allowed = rule.clone();
            allowed.set_names(keep);
            syscalls.push(allowed);
        }
        if !notify.is_empty() {
            rule.set_names(notify);
            rule.set_action(LinuxSeccompAction::ScmpActNotify);
            syscalls.push(rule);
        }
    }
    sc.set_syscalls(Some(syscalls));
    sc.set_listener_path(Some(listener_path.to_path_buf()));
    Ok(sc)
}

/// What a recording saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// Syscall names.
    pub syscalls: BTreeSet<String>,
    /// `clone` flag values.
    pub clone_flags: BTreeSet<u64>,
    /// `socket` address families.
    pub socket_families: BTreeSet<u64>,
    /// `personality` values.
    pub personalities: BTreeSet<u64>,
    /// Capabilities the syscalls needed (see [`Observed::note_caps`]).
    pub capabilities: BTreeSet<String>,
    /// Existing files opened for writing.
    pub written_files: BTreeSet<String>,
    /// Directories whose entries were created, removed or renamed.
    pub changed_dirs: BTreeSet<String>,
    /// Programs executed.
    pub executed: BTreeSet<String>,
    /// Syscalls the runtime made in the container's init before exec'ing
    /// the workload (allowed by a learned profile, with [`RUNTIME_SYSCALLS`]).
    pub runtime_syscalls: BTreeSet<String>,
    /// Notifications answered.
    pub notifications: u64,
}

const O_WRONLY: u64 = 0o1;
const O_RDWR: u64 = 0o2;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;
const AT_FDCWD: i32 = -100;

/// A recording agent: answers notifications on `listener` (as received
/// from the runtime, e.g. with `berth_sys::recv_fds`) with CONTINUE
/// until every process under the filter is gone, and returns what it saw.
/// Blocking: run it on a thread of its own.
pub fn record(listener: OwnedFd) -> Observed {
    let mut seen = Observed::default();
    for name in ALWAYS_ALLOWED {
        seen.syscalls.insert(name.to_string());
    }
    let fd = listener.as_raw_fd();
    let mut init_pid = None;
    let mut init_execed = false;
    loop {
        let mut pfd = [nix::poll::PollFd::new(
            listener.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ev = pfd[0].revents().unwrap_or(nix::poll::PollFlags::POLLHUP);
        if !ev.contains(nix::poll::PollFlags::POLLIN) {
            // POLLHUP: no process uses the filter any more.
            break;
        }
        let req = match ScmpNotifReq::receive(fd) {
            Ok(r) => r,
            // The caller died between poll and receive.
            Err(_) => continue,
        };
        // The first caller is the container's init, still the runtime
        // until its first execve: what it does before belongs to the
        // runtime (RUNTIME_SYSCALLS covers it), not to the workload.
        let init = *init_pid.get_or_insert(req.pid);
        let is_exec = req
            .data
            .syscall
            .get_name_by_arch(req.data.arch)
            .is_ok_and(|n| n == "execve" || n == "execveat");
        if req.pid != init || init_execed || is_exec {
            seen.observe(fd, &req);
            init_execed |= req.pid == init && is_exec;
        } else if let Ok(name) = req.data.syscall.get_name_by_arch(req.data.arch) {
            seen.runtime_syscalls.insert(name);
        }
        seen.notifications += 1;
        let _ = ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty()).respond(fd);
    }
    seen
}

impl Observed {
    fn observe(&mut self, fd: i32, req: &ScmpNotifReq) {
        let Ok(name) = req.data.syscall.get_name_by_arch(req.data.arch) else {
            return;
        };
        let a = req.data.args;
        let pid = req.pid;
        let mem = || File::open(format!("/proc/{pid}/mem")).ok();
        let path_at = |dirfd: u64, addr: u64| -> Option<String> {
            let p = read_cstr(&mem()?, addr)?;
            // The process still waits on this very call: the memory was its own.
            notify_id_valid(fd, req.id).ok()?;
            absolute(pid, dirfd as i32, &p)
        };
        match name.as_str() {
            "clone" => {
                self.clone_flags.insert(a[0]);
            }
            "socket" => {
                self.socket_families.insert(a[0]);
                let raw = a[1] & 0xf == 3; // SOCK_RAW
                if a[0] == 17 || (raw && (a[0] == 2 || a[0] == 10)) {
                    self.cap("CAP_NET_RAW");
                }
                if a[0] == 16 && a[2] == 9 {
                    self.cap("CAP_AUDIT_WRITE");
                }
            }
            "personality" => {
                self.personalities.insert(a[0]);
            }
            "open" | "creat" => {
                let flags = if name == "creat" {
                    O_CREAT | O_WRONLY
                } else {
                    a[1]
                };
                if let Some(p) = path_at(AT_FDCWD as u64, a[0]) {
                    self.note_open(pid, &p, flags);
                }
            }
            "openat" => {
                if let Some(p) = path_at(a[0], a[1]) {
                    self.note_open(pid, &p, a[2]);
                }
            }
            "openat2" => {
                let flags = mem().and_then(|m| {
                    let mut b = [0u8; 8];
                    m.read_exact_at(&mut b, a[2]).ok()?;
                    Some(u64::from_ne_bytes(b))
                });
                if let (Some(p), Some(flags)) = (path_at(a[0], a[1]), flags) {
                    self.note_open(pid, &p, flags);
                }
            }
            "mkdir" | "rmdir" | "unlink" | "mknod" => {
                if let Some(p) = path_at(AT_FDCWD as u64, a[0]) {
                    let creates = name == "mkdir" || name == "mknod";
                    self.note_change(pid, &p, creates);
                }
                if name == "mknod" && is_device(a[1]) {
                    self.cap("CAP_MKNOD");
                }
            }
            "mkdirat" | "unlinkat" | "mknodat" => {
                if let Some(p) = path_at(a[0], a[1]) {
                    self.note_change(pid, &p, name != "unlinkat");
                }
                if name == "mknodat" && is_device(a[2]) {
                    self.cap("CAP_MKNOD");
                }
            }
            "rename" | "link" | "symlink" => {
                if name == "rename" {
                    if let Some(p) = path_at(AT_FDCWD as u64, a[0]) {
                        self.note_change(pid, &p, false);
                    }
                }
                if let Some(p) = path_at(AT_FDCWD as u64, a[1]) {
                    self.note_change(pid, &p, name != "rename");
                }
            }
            "renameat" | "renameat2" | "linkat" => {
                if name != "linkat" {
                    if let Some(p) = path_at(a[0], a[1]) {
                        self.note_change(pid, &p, false);
                    }
                }
                if let Some(p) = path_at(a[2], a[3]) {
                    self.note_change(pid, &p, name == "linkat");
                }
            }
            "symlinkat" => {
                if let Some(p) = path_at(a[1], a[2]) {
                    self.note_change(pid, &p, true);
                }
            }
            "truncate" => {
                if let Some(p) = path_at(AT_FDCWD as u64, a[0]) {
                    self.written_files.insert(p);
                }
            }
            "execve" => {
                if let Some(p) = path_at(AT_FDCWD as u64, a[0]) {
                    self.executed.insert(p);
                }
            }
            "execveat" => {
                if let Some(p) = path_at(a[0], a[1]) {
                    self.executed.insert(p);
                }
            }
            "chown" | "fchown" | "lchown" | "fchownat" => self.cap("CAP_CHOWN"),
            "setuid" | "setreuid" | "setresuid" | "setfsuid" => self.cap("CAP_SETUID"),
            "setgid" | "setregid" | "setresgid" | "setfsgid" | "setgroups" => {
                self.cap("CAP_SETGID")
            }
            "chroot" => self.cap("CAP_SYS_CHROOT"),
            "capset" => self.cap("CAP_SETPCAP"),
            // PR_CAPBSET_DROP
            "prctl" if a[0] == 24 => self.cap("CAP_SETPCAP"),
            "bind" => {
                let port = mem().and_then(|m| {
                    let mut b = [0u8; 4];
                    m.read_exact_at(&mut b, a[1]).ok()?;
                    let family = u16::from_ne_bytes([b[0], b[1]]);
                    (family == 2 || family == 10).then(|| u16::from_be_bytes([b[2], b[3]]))
                });
                if port.is_some_and(|p| p != 0 && p < 1024) {
                    self.cap("CAP_NET_BIND_SERVICE");
                }
            }
            "kill" | "tkill" | "tgkill" => {
                // Signalling a process of another user needs CAP_KILL.
                let target = if name == "tgkill" { a[1] } else { a[0] } as i64 as i32;
                let (own, theirs) = (uid_of(pid as i32, "Uid"), uid_of_in(pid as i32, target));
                if target > 0 && own.is_some() && theirs.is_some() && own != theirs {
                    self.cap("CAP_KILL");
                }
            }
            _ => {}
        }
        self.syscalls.insert(name);
    }

    fn cap(&mut self, c: &str) {
        self.capabilities.insert(c.to_string());
    }

    fn note_open(&mut self, pid: u32, path: &str, flags: u64) {
        if flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC) == 0 {
            return;
        }
        let inside = Path::new(&format!("/proc/{pid}/root")).join(path.trim_start_matches('/'));
        match std::fs::metadata(&inside) {
            Ok(md) => {
                // Root writing a file its mode does not let it write
                // (another owner's, or read-only) needs CAP_DAC_OVERRIDE.
                use std::os::unix::fs::MetadataExt;
                let fsuid = uid_of(pid as i32, "Uid");
                if fsuid == Some(0) {
                    let bit = if md.uid() == 0 { 0o200 } else { 0o002 };
                    if md.mode() & bit == 0 && !md.is_dir() {
                        self.cap("CAP_DAC_OVERRIDE");
                    }
                }
                self.written_files.insert(path.to_string());
            }
            Err(_) => self.note_change(pid, path, true),
        }
    }

    /// A directory entry made (`creates`) or removed in `path`'s parent.
    /// Calls bound to fail (making what exists, removing what does not,
    /// as `mkdir -p` does for every component) change nothing.
    fn note_change(&mut self, pid: u32, path: &str, creates: bool) {
        let inside = Path::new(&format!("/proc/{pid}/root")).join(path.trim_start_matches('/'));
        if std::fs::symlink_metadata(&inside).is_ok() == creates {
            return;
        }
        let parent = Path::new(path)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        self.changed_dirs.insert(parent);
    }
}

fn is_device(mode: u64) -> bool {
    let fmt = mode & 0o170000;
    fmt == 0o020000 || fmt == 0o060000
}

/// The fourth field (the fs uid) of `key` in /proc/PID/status.
fn uid_of(pid: i32, key: &str) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(&format!("{key}:")))?;
    line.split_whitespace().nth(4)?.parse().ok()
}

/// The uid of `target` (a pid in the namespace of `pid`).
fn uid_of_in(pid: i32, target: i32) -> Option<u32> {
    // The caller's /proc is its pid namespace's; reach it through its root.
    let status = std::fs::read_to_string(format!("/proc/{pid}/root/proc/{target}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(4)?.parse().ok()
}

/// A NUL-terminated string of at most 4096 bytes at `addr`.
fn read_cstr(mem: &File, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let mut at = addr;
    while out.len() < 4096 {
        // Reads stop at page ends; shorter reads are fine.
        let n = mem.read_at(&mut buf, at).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(i) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..i]);
            return String::from_utf8(out).ok();
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    None
}

/// `path` as the process sees it, absolute and lexically normal.
fn absolute(pid: u32, dirfd: i32, path: &str) -> Option<String> {
    let base = if path.starts_with('/') {
        PathBuf::from("/")
    } else if dirfd == AT_FDCWD {
        std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?
    } else {
        std::fs::read_link(format!("/proc/{pid}/fd/{dirfd}")).ok()?
    };
    let mut out = PathBuf::from("/");
    for c in base.join(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Some(out.to_string_lossy().into_owned())
}
