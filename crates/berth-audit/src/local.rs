//! The real [`HostView`]: this machine, seen from the client's side. The daemon is the process
//! holding the listening end of the engine's unix socket (found through /proc/net/unix and the
//! processes' file descriptors), so it works for berthd and dockerd alike.

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use crate::view::{DaemonProcess, FileStat, HostView};

/// This machine, with the daemon serving `socket`.
pub struct LocalHost {
    socket: String,
}

impl LocalHost {
    pub fn new(socket: &str) -> LocalHost {
        LocalHost {
            socket: socket.to_string(),
        }
    }
}

/// The inodes of listening unix sockets bound to `path` (from /proc/net/unix).
fn listening_inodes(table: &str, path: &str) -> Vec<u64> {
    const ACCEPTCON: u64 = 0x10000;
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = u64::from_str_radix(f.get(3)?, 16).ok()?;
            let inode = f.get(6)?.parse().ok()?;
            (f.get(7) == Some(&path) && flags & ACCEPTCON != 0).then_some(inode)
        })
        .collect()
}

/// The pid of a process with an fd on socket inode `inode`.
fn holder(inode: u64) -> Option<u32> {
    let want = format!("socket:[{inode}]");
    for p in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == want.as_str()))
        {
            return Some(pid);
        }
    }
    None
}

/// The systemd unit named in /proc/PID/cgroup, if any.
fn unit_of(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|l| {
        let path = l.splitn(3, ':').nth(2)?;
        path.rsplit('/')
            .find(|seg| seg.ends_with(".service"))
            .map(str::to_string)
    })
}

impl HostView for LocalHost {
    fn daemon(&self) -> Result<DaemonProcess, String> {
        let table = std::fs::read_to_string("/proc/net/unix")
            .map_err(|e| format!("cannot read /proc/net/unix: {e}"))?;
        let canon = std::fs::canonicalize(&self.socket)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| self.socket.clone());
        let mut inodes = listening_inodes(&table, &self.socket);
        if canon != self.socket {
            inodes.extend(listening_inodes(&table, &canon));
        }
        if inodes.is_empty() {
            return Err(format!(
                "no process in this network namespace listens on {}",
                self.socket
            ));
        }
        let pid = inodes.into_iter().find_map(holder).ok_or_else(|| {
            format!(
                "the process listening on {} is not visible to this user (run as root to check the host)",
                self.socket
            )
        })?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.display().to_string())
            .map_err(|e| format!("cannot read the daemon's executable (pid {pid}): {e}"))?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map_err(|e| format!("cannot read the daemon's command line (pid {pid}): {e}"))?;
        let args = cmdline
            .split(|b| *b == 0)
            .skip(1)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let uid = std::fs::metadata(format!("/proc/{pid}"))
            .map(|m| m.uid())
            .unwrap_or(u32::MAX);
        let unit = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .ok()
            .and_then(|c| unit_of(&c));
        Ok(DaemonProcess {
            pid,
            exe,
            args,
            uid,
            unit,
        })
    }

    fn stat(&self, path: &str) -> Option<FileStat> {
        let m = std::fs::symlink_metadata(path).ok()?;
        Some(FileStat {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode() & 0o7777,
            is_dir: m.is_dir(),
            dev: m.dev(),
        })
    }

    fn read(&self, path: &str) -> Option<String> {
        use std::io::Read;
        let mut s = String::new();
        std::fs::File::open(path)
            .ok()?
            .take(1 << 20)
            .read_to_string(&mut s)
            .ok()?;
        Some(s)
    }

    fn list_dir(&self, path: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(path)
            .map(|r| {
                r.flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn audit_rules(&self) -> Option<String> {
        let live = Command::new("auditctl")
            .arg("-l")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        if live.is_some() {
            return live;
        }
        let mut files = vec!["/etc/audit/audit.rules".to_string()];
        files.extend(
            self.list_dir("/etc/audit/rules.d")
                .into_iter()
                .filter(|f| f.ends_with(".rules"))
                .map(|f| format!("/etc/audit/rules.d/{f}")),
        );
        let text: Vec<String> = files.iter().filter_map(|f| self.read(f)).collect();
        (!text.is_empty()).then(|| text.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_told_from_connections() {
        let t = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                 0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/b.sock\n\
                 0000000000000000: 00000003 00000000 00000000 0001 03 4343 /run/b.sock\n\
                 0000000000000000: 00000002 00000000 00010000 0001 01 4444 /run/other.sock\n";
        assert_eq!(listening_inodes(t, "/run/b.sock"), [4242]);
    }

    #[test]
    fn the_unit_comes_from_the_cgroup() {
        let c =
            "12:pids:/system.slice/docker.service\n1:name=systemd:/system.slice/docker.service\n";
        assert_eq!(unit_of(c).as_deref(), Some("docker.service"));
        assert_eq!(unit_of("0::/user.slice/session-1.scope\n"), None);
    }

    #[test]
    fn this_process_is_found_behind_its_own_socket() {
        let dir = std::env::temp_dir().join(format!("berth-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let h = LocalHost::new(sock.to_str().unwrap());
        let d = h.daemon().unwrap();
        assert_eq!(d.pid, std::process::id());
        assert_eq!(
            d.exe,
            std::env::current_exe().unwrap().display().to_string()
        );
        let st = h.stat(sock.to_str().unwrap()).unwrap();
        assert_eq!(st.uid, nix_uid());
        drop(_l);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(LocalHost::new("/nonexistent/x.sock").daemon().is_err());
    }

    fn nix_uid() -> u32 {
        std::fs::metadata("/proc/self").unwrap().uid()
    }
}
