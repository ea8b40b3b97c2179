//! `berth-runtime --standby`: the runtime started ahead of need by a standby berth-shim, so that a
//! container's start does not wait for the runtime's exec and start-up (the loader's mapping, the
//! relocations, glibc's start-up, whose CPU probes trap to the hypervisor on a VM: 0.5-0.7 ms here).
//!
//! The shim execs `<runtime> --standby` with the container's stdio pipes on descriptors 0-2 and
//! a socket on descriptor 3 (a pipe or a file works too, without the hand-over). Once it knows the
//! container it writes, NUL-separated, up to its end (a shutdown for writing): how stdio is to be set up (`pipes-stdin`, `pipes`: stdin from /dev/null, or `null`: all
//! three from /dev/null, for a terminal), the program, and its arguments. If the program is this
//! binary (the same path it was started by), the arguments run here as a command line; any other
//! program (another runtime chosen for that container) is exec'd with them. An end without a word
//! ends the standby with status 0. A socket on descriptor 3 stays open for what the runtime
//! hands back to the shim (`crate::handover`).

use std::ffi::{OsStr, OsString};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;

/// The argument a standby runtime is started with (alone).
pub const FLAG: &str = "--standby";
/// The descriptor its command line comes on.
const CONTROL_FD: i32 = 3;

/// Whether `args` (the program's name first) start a standby.
pub fn is_standby(args: &[OsString]) -> bool {
    args.len() == 2 && args[1] == FLAG
}

/// Wait for the command line; `None` if descriptor 3 ended without one. Sets up stdio as asked, and
/// execs a program other than `me` (this process's own name, as started).
pub fn wait(me: &OsStr) -> Result<Option<Vec<OsString>>, String> {
    // It may wait long (until the next container's start): what the start-up touched of the
    // binary's read-only pages and the heap it freed go back first (the pages stay in the page
    // cache and fault back in as `run` needs them), as init does before it parks.
    berth_sys::drop_readonly_segments();
    berth_sys::trim_heap();
    let buf =
        read_control().map_err(|e| format!("reading the command line on descriptor 3: {e}"))?;
    if buf.is_empty() {
        return Ok(None);
    }
    let mut words = buf
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| OsStr::from_bytes(w).to_os_string());
    let (Some(mode), Some(program)) = (words.next(), words.next()) else {
        return Err("the command line lacks a program".into());
    };
    let rest: Vec<OsString> = words.collect();
    stdio(&mode).map_err(|e| format!("setting up stdio: {e}"))?;
    if program != me {
        let e = std::process::Command::new(&program).args(&rest).exec();
        return Err(format!("exec {}: {e}", program.to_string_lossy()));
    }
    let mut args = Vec::with_capacity(rest.len() + 1);
    args.push(program);
    args.extend(rest);
    Ok(Some(args))
}

/// The whole of descriptor 3 (up to its end: the shim shuts its side down for writing). A socket
/// is kept, close-on-exec, for the hand-over back to the shim (`crate::handover`); anything else
/// is closed. Nothing the runtime starts inherits it.
fn read_control() -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let fd = berth_sys::take_inherited_fd(CONTROL_FD)?;
    let is_socket = nix::sys::stat::fstat(fd.as_raw_fd())
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK);
    let mut file = std::fs::File::from(fd);
    // Room for the command line (~0.5 kB): read in one call once it comes, not in the 32-byte
    // probe and doubling reads an empty buffer gets.
    let mut buf = Vec::with_capacity(8192);
    file.read_to_end(&mut buf)?;
    if is_socket {
        crate::handover::set_socket(std::os::unix::net::UnixStream::from(
            std::os::fd::OwnedFd::from(file),
        ));
    }
    Ok(buf)
}

/// Put /dev/null where the mode says the container's pipes are not used.
fn stdio(mode: &OsStr) -> std::io::Result<()> {
    let null_fds: &[i32] = match mode.as_bytes() {
        b"pipes-stdin" => &[],
        b"pipes" => &[0],
        b"null" => &[0, 1, 2],
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("unknown stdio mode {:?}", mode.to_string_lossy()),
            ))
        }
    };
    if null_fds.is_empty() {
        return Ok(());
    }
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for &fd in null_fds {
        nix::unistd::dup2(null.as_raw_fd(), fd)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_flag_alone_starts_a_standby() {
        let v = |s: &[&str]| s.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(is_standby(&v(&["/usr/bin/berth-runtime", "--standby"])));
        assert!(!is_standby(&v(&["berth-runtime", "--standby", "x"])));
        assert!(!is_standby(&v(&["berth-runtime", "state", "--standby"])));
        assert!(!is_standby(&v(&["berth-runtime"])));
    }

    #[test]
    fn an_unknown_mode_is_refused() {
        assert!(stdio(OsStr::new("sockets")).is_err());
        assert!(stdio(OsStr::new("pipes-stdin")).is_ok());
    }
}
