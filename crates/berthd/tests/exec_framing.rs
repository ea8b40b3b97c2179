//! `POST /exec/{id}/start` frames its stream by the `Tty` of its own body, as dockerd does: docker-py
//! starts an exec created with `Tty: true` with `Tty: false` and then reads multiplexed frames.

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// Create an exec of `cmd` with `create_tty`, start it hijacked with `start_tty`; the content type
/// and the bytes after the response head.
fn exec_stream(
    d: &Berthd,
    container: &str,
    create_tty: bool,
    start_tty: bool,
) -> (String, Vec<u8>) {
    let body = format!(
        r#"{{"AttachStdout":true,"AttachStderr":true,"Tty":{create_tty},"Cmd":["sh","-c","echo hello"]}}"#
    );
    let (st, resp) = d.http(
        "POST",
        &format!("/containers/{container}/exec"),
        Some(&body),
    );
    assert_eq!(st, 201, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    let id = v["Id"].as_str().unwrap().to_string();
    let start = format!(r#"{{"Detach":false,"Tty":{start_tty}}}"#);
    let mut s = UnixStream::connect(&d.sock).unwrap();
    s.write_all(
        format!(
        "POST /v1.41/exec/{id}/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{start}",
        start.len()
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let head_end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head")
        + 4;
    let head = String::from_utf8_lossy(&all[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (ctype, all[head_end..].to_vec())
}

#[test]
fn exec_start_frames_by_its_own_tty() {
    skip_unless_ready!("exec_start_frames_by_its_own_tty");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ct",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "600",
    ]);
    // A tty exec started without a tty: the terminal's output as stdout frames.
    let (ctype, bytes) = exec_stream(&d, "ct", true, false);
    assert_eq!(ctype, "application/vnd.docker.multiplexed-stream");
    assert_eq!(&bytes[..4], &[1, 0, 0, 0], "{bytes:?}");
    let len = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(&bytes[8..8 + len], b"hello\r\n");
    // A plain exec started with a tty: raw bytes.
    let (ctype, bytes) = exec_stream(&d, "ct", false, true);
    assert_eq!(ctype, "application/vnd.docker.raw-stream");
    assert_eq!(bytes, b"hello\n");
    // As created: frames without a tty, raw with one.
    let (_, bytes) = exec_stream(&d, "ct", false, false);
    assert_eq!(&bytes[..8], &[1, 0, 0, 0, 0, 0, 0, 6]);
    let (_, bytes) = exec_stream(&d, "ct", true, true);
    assert_eq!(bytes, b"hello\r\n");
}

#[test]
fn exec_detach_keys_in_docker_py_spelling() {
    skip_unless_ready!("exec_detach_keys_in_docker_py_spelling");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "ct",
        "--network",
        "none",
        "bb:1",
        "cat",
    ]);
    // docker-py takes detachKeys from the client's config file and sends it in this spelling.
    let body = r#"{"AttachStdin":true,"AttachStdout":true,"Tty":true,"Cmd":["cat"],"detachKeys":"ctrl-x"}"#;
    let (st, resp) = d.http("POST", "/containers/ct/exec", Some(body));
    assert_eq!(st, 201, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    let id = v["Id"].as_str().unwrap().to_string();
    let start = r#"{"Detach":false,"Tty":true}"#;
    let mut s = UnixStream::connect(&d.sock).unwrap();
    s.write_all(
        format!(
        "POST /v1.41/exec/{id}/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{start}",
        start.len()
        )
        .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.write_all(b"\x18").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut all = Vec::new();
    // The attach ends (EOF) instead of timing out; the exec runs on.
    s.read_to_end(&mut all)
        .expect("the detach keys ended the stream");
    let (_, info) = d.http("GET", &format!("/exec/{id}/json"), None);
    assert!(info.contains("\"Running\":true"), "{info}");
}

#[test]
fn exec_that_cannot_start_says_why_as_dockerd_with_126() {
    skip_unless_ready!("exec_that_cannot_start_says_why_as_dockerd_with_126");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ct",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "600",
    ]);
    for tty in [&["-t"][..], &[][..]] {
        let mut args = vec!["exec"];
        args.extend_from_slice(tty);
        args.extend_from_slice(&["ct", "no-such-program"]);
        let o = d.docker(&args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.status.code(), Some(126), "exec {tty:?}: {all}");
        // dockerd's words, on stdout, which scripts match.
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "OCI runtime exec failed: exec failed: unable to start container process: \
             exec: \"no-such-program\": executable file not found in $PATH: unknown\r\n",
            "exec {tty:?} said: {all:?}"
        );
    }
    let o = d.docker(&["exec", "-w", "/no/such/dir", "ct", "true"]);
    assert_eq!(o.status.code(), Some(126), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(
            "unable to start container process: chdir to cwd (\"/no/such/dir\") set in \
             config.json failed: no such file or directory: unknown"
        ),
        "{o:?}"
    );
    // A program whose own first words on stderr look like the runtime's keeps them, and its code.
    let o = d.docker(&[
        "exec",
        "ct",
        "sh",
        "-c",
        "echo 'berth-runtime: exec failed: mine' >&2; echo out; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "berth-runtime: exec failed: mine\n"
    );
    // A quick program's terminal output arrives, and its code.
    let o = d.docker(&["exec", "-t", "ct", "sh", "-c", "printf done; exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "done");
}
