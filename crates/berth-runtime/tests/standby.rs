//! `berth-runtime --standby`, as berth-shim starts it ahead of a container: the command line comes
//! later, NUL-separated, on descriptor 3 (here a file bash opens there), after a stdio mode.

mod common;

use std::process::{Command, Output};

use common::{output_with_input, text, Bundle, BIN};

/// Run a standby runtime handed `words` (mode, program, arguments) on descriptor 3, with `input`
/// on its stdin.
fn standby(words: &[&str], input: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let ctl = dir.path().join("ctl");
    let mut buf = Vec::new();
    for w in words {
        buf.extend_from_slice(w.as_bytes());
        buf.push(0);
    }
    std::fs::write(&ctl, buf).unwrap();
    output_with_input(
        Command::new("bash")
            .arg("-c")
            .arg(r#"exec 3<"$1"; exec "$2" --standby"#)
            .args(["bash", ctl.to_str().unwrap(), BIN]),
        input.as_bytes(),
    )
}

#[test]
fn the_command_line_on_descriptor_3_runs_in_the_standby() {
    let out = standby(&["pipes", BIN, "--version"], "");
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out).contains("version"), "{}", text(&out));
    // `null` (a terminal's container): the output goes nowhere.
    let out = standby(&["null", BIN, "--version"], "");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out), "");
}

#[test]
fn another_program_is_execd_with_the_words() {
    let out = standby(
        &["pipes-stdin", "/bin/sh", "-c", "cat; echo \"$0\""],
        "from stdin\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out), "from stdin\n/bin/sh\n");
    // `pipes`: no stdin for the container, whatever the pipe holds.
    let out = standby(&["pipes", "/bin/sh", "-c", "cat; echo end"], "unread\n");
    assert_eq!(text(&out), "end\n");
}

#[test]
fn an_empty_or_bad_hand_over_ends_it() {
    let out = standby(&[], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = standby(&["sockets", BIN, "--version"], "");
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown stdio mode"),
        "{out:?}"
    );
    // No descriptor 3 at all.
    let out = Command::new(BIN).arg("--standby").output().unwrap();
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("descriptor 3"),
        "{out:?}"
    );
}

#[test]
fn a_container_run_from_the_standby_gets_its_stdio_and_not_descriptor_3() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", "cat; ls /proc/self/fd"]);
    });
    let (root, bundle) = (b.root.to_str().unwrap(), b.dir.to_str().unwrap());
    let out = standby(
        &[
            "pipes-stdin",
            BIN,
            "--root",
            root,
            "run",
            "--bundle",
            bundle,
            "standby1",
        ],
        "to the container\n",
    );
    assert!(out.status.success(), "{out:?}");
    let got = text(&out);
    let mut lines = got.lines();
    assert_eq!(lines.next(), Some("to the container"));
    // 0-2 and ls's own directory descriptor: nothing of the hand-over.
    let fds: Vec<&str> = lines.collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "{got}");
}

/// A standby whose descriptor 3 is a socket (as berth-shim gives it) sends the container's mount
/// namespace back over it once init is set up, so the shim can hold it past init's exit, then
/// `done` once its command has succeeded (the shim goes on without waiting for its exit); a
/// command that fails ends the socket without it.
#[test]
fn a_standby_on_a_socket_hands_back_the_containers_mount_namespace() {
    require_root!();
    if Command::new("python3").arg("-V").output().is_err() {
        eprintln!("skipped: no python3 to hold the socket");
        return;
    }
    let b = Bundle::new(|c| {
        c["process"]["args"] = serde_json::json!(["sleep", "30"]);
    });
    let pid_file = b.tmp.path().join("init.pid");
    let script = r#"
import fcntl, os, socket, subprocess, sys
rt, root, bundle, pid_file = sys.argv[1:5]
a, theirs = socket.socketpair()
# Ours above 3, theirs on 3 (for the runtime) and nowhere else.
ours = socket.socket(fileno=fcntl.fcntl(a.fileno(), fcntl.F_DUPFD_CLOEXEC, 10))
a.close()
if theirs.fileno() == 3:
    theirs.detach()
    os.set_inheritable(3, True)
else:
    os.dup2(theirs.fileno(), 3)
    theirs.close()
words = ["pipes", rt, "--root", root, "run", "--detach", "--bundle", bundle,
         "--pid-file", pid_file, "standby2"]
p = subprocess.Popen([rt, "--standby"], pass_fds=[3], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(3)
ours.sendall(b"\0".join(w.encode() for w in words) + b"\0")
ours.shutdown(socket.SHUT_WR)
print("runtime", p.wait())
msg, fds, _, _ = socket.recv_fds(ours, 16, 4, socket.MSG_DONTWAIT)
pid = open(pid_file).read().strip()
ns = os.fstat(fds[0]).st_ino
print("word", msg.decode())
print("container's", ns == os.stat(f"/proc/{pid}/ns/mnt").st_ino)
print("ours", ns == os.stat("/proc/self/ns/mnt").st_ino)
print("then", ours.recv(16).decode(), "end", ours.recv(16) == b"")
# The same id again: the run fails, and says nothing.
a, theirs = socket.socketpair()
ours = socket.socket(fileno=fcntl.fcntl(a.fileno(), fcntl.F_DUPFD_CLOEXEC, 10))
a.close()
if theirs.fileno() != 3:
    os.dup2(theirs.fileno(), 3)
    theirs.close()
else:
    theirs.detach()
os.set_inheritable(3, True)
p = subprocess.Popen([rt, "--standby"], pass_fds=[3], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(3)
ours.sendall(b"\0".join(w.encode() for w in words) + b"\0")
ours.shutdown(socket.SHUT_WR)
print("again", p.wait() != 0, ours.recv(16) == b"")
"#;
    let out = Command::new("python3")
        .args(["-c", script, BIN])
        .arg(&b.root)
        .arg(&b.dir)
        .arg(&pid_file)
        .output()
        .unwrap();
    let got = text(&out);
    let _ = b.run(&["delete", "--force", "standby2"]);
    assert!(out.status.success(), "{got}{}", common::err_text(&out));
    assert_eq!(
        got,
        "runtime 0\nword mnt\ncontainer's True\nours False\nthen done end True\nagain True True\n",
        "{}",
        common::err_text(&out)
    );
}
