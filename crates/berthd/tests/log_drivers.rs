//! Remote log drivers through the stock docker CLI, against endpoints the tests listen on
//! (loopback and a unix socket in a temporary directory): what each driver sends, the local copy
//! `docker logs` reads beside it (dockerd's dual logging) and `cache-disabled`, an unreachable
//! endpoint failing the start with dockerd's words, and bad options refused at create.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

fn inspect(d: &Berthd, name: &str, format: &str) -> String {
    d.ok(&["inspect", "--format", format, name])
        .trim()
        .to_string()
}

/// The next `n` datagrams on `s`, as text.
fn datagrams(n: usize, recv: impl Fn(&mut [u8]) -> std::io::Result<usize>) -> Vec<String> {
    let mut buf = vec![0u8; 65536];
    (0..n)
        .map(|_| {
            let k = recv(&mut buf).expect("a datagram within the timeout");
            String::from_utf8_lossy(&buf[..k]).into_owned()
        })
        .collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn syslog_sends_each_line_and_keeps_a_local_copy() {
    skip_unless_ready!("syslog_sends_each_line_and_keeps_a_local_copy");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let info = d.ok(&["info", "--format", "{{json .Plugins.Log}}"]);
    assert!(info.contains("\"syslog\""), "{info}");

    // UDP, the default format, a facility, a tag template.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let addr = format!("udp://{}", udp.local_addr().unwrap());
    d.ok(&[
        "run",
        "--name",
        "sys-udp",
        "--network",
        "none",
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address={addr}"),
        "--log-opt",
        "syslog-facility=local0",
        "--log-opt",
        "tag=app-{{.Name}}",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    let mut got = datagrams(2, |b| udp.recv(b));
    got.sort();
    // local0 (16) * 8 + info (6) = 134 for stdout, + err (3) = 131 for stderr.
    let re =
        |pri: &str, text: &str| regex_like(&got, pri, " app-sys-udp[", &format!("]: {text}\n"));
    assert!(re("<131>", "err"), "{got:?}");
    assert!(re("<134>", "out"), "{got:?}");
    // The local copy: `docker logs` reads it as it reads a json-file log.
    assert_eq!(d.ok(&["logs", "sys-udp"]).trim(), "out");
    let o = d.docker(&["logs", "sys-udp"]);
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim(), "err");
    assert_eq!(
        inspect(&d, "sys-udp", "{{.HostConfig.LogConfig.Type}}"),
        "syslog"
    );
    assert_eq!(inspect(&d, "sys-udp", "{{.LogPath}}"), "");

    // TCP with RFC 5424: the host's name, the tag (the short ID by default) as app name.
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tcp://{}", tcp.local_addr().unwrap());
    let reader = std::thread::spawn(move || {
        let (s, _) = tcp.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut lines = Vec::new();
        for l in BufReader::new(s).lines() {
            match l {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
        lines
    });
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "sys-tcp",
        "--network",
        "none",
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address={addr}"),
        "--log-opt",
        "syslog-format=rfc5424",
        "bb:1",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; done",
    ]);
    let short = &id.trim()[..12];
    d.ok(&["wait", "sys-tcp"]);
    d.ok(&["rm", "sys-tcp"]);
    // The shim closed its connection when the container ended.
    let lines = reader.join().unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (i, l) in lines.iter().enumerate() {
        let want_tail = format!(" {} {short} ", hostname());
        assert!(l.starts_with("<30>1 "), "{l}");
        assert!(l.contains(&want_tail), "{l}");
        assert!(l.ends_with(&format!(" {short} - line{}", i + 1)), "{l}");
    }

    // A unix datagram socket, and no local copy with cache-disabled.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log.sock");
    let ux = UnixDatagram::bind(&sock).unwrap();
    ux.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    d.ok(&[
        "run",
        "--name",
        "sys-unix",
        "--network",
        "none",
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=unixgram://{}", sock.display()),
        "--log-opt",
        "cache-disabled=true",
        "bb:1",
        "echo",
        "via unix",
    ]);
    let got = datagrams(1, |b| ux.recv(b));
    assert!(
        got[0].starts_with("<30>") && got[0].ends_with("]: via unix\n"),
        "{got:?}"
    );
    let o = d.docker(&["logs", "sys-unix"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("configured logging driver does not support reading"),
        "{o:?}"
    );
}

/// Whether one of `got` starts with `pri`, holds `mid` and ends with `end`.
fn regex_like(got: &[String], pri: &str, mid: &str, end: &str) -> bool {
    got.iter()
        .any(|g| g.starts_with(pri) && g.contains(mid) && g.ends_with(end))
}

#[test]
fn remote_drivers_refuse_bad_options_and_unreachable_endpoints() {
    skip_unless_ready!("remote_drivers_refuse_bad_options_and_unreachable_endpoints");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    for (opt, want) in [
        (
            "syslog-address=http://127.0.0.1",
            "unsupported scheme: 'http'",
        ),
        ("syslog-format=json", "Invalid syslog format"),
        ("syslog-facility=99", "invalid syslog facility"),
        (
            "max-size=1m",
            "unknown log opt 'max-size' for syslog log driver",
        ),
        (
            "cache-disabled=maybe",
            "invalid value for option cache-disabled",
        ),
    ] {
        let o = d.docker(&[
            "create",
            "--log-driver",
            "syslog",
            "--log-opt",
            opt,
            "bb:1",
            "true",
        ]);
        assert!(!o.status.success(), "{opt}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{opt}: {err}");
    }
    // Nothing listens there: the start fails with dockerd's words and nothing runs.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = d.docker(&[
        "run",
        "--name",
        "nowhere",
        "--network",
        "none",
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=tcp://127.0.0.1:{port}"),
        "bb:1",
        "echo",
        "lost",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "failed to initialize logging driver: dial tcp 127.0.0.1:{port}: connect: connection refused"
        )),
        "{err}"
    );
    assert_eq!(inspect(&d, "nowhere", "{{.State.Running}}"), "false");
    assert_eq!(inspect(&d, "nowhere", "{{.State.Status}}"), "created");
    // Once something listens, the same container starts.
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let reader = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        BufReader::new(s)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    d.ok(&["start", "-a", "nowhere"]);
    let lines = reader.join().unwrap();
    assert!(
        lines.len() == 1 && lines[0].ends_with("]: lost"),
        "{lines:?}"
    );
}
