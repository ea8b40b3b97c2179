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

/// A GELF UDP datagram's JSON: gunzipped.
fn gunzip(b: &[u8]) -> serde_json::Value {
    use std::io::Read;
    assert_eq!(&b[..2], &[0x1f, 0x8b], "gzip'd: {b:?}");
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .expect("gzip");
    serde_json::from_str(&s).expect("JSON")
}

/// The next GELF message on `s`, its chunks put together when it came in chunks, as bytes.
fn gelf_datagram(s: &UdpSocket) -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; 65536];
    let n = s.recv(&mut buf).expect("a datagram within the timeout");
    if buf[..2] != [0x1e, 0x0f] {
        return (buf[..n].to_vec(), 1);
    }
    let id = buf[2..10].to_vec();
    let count = usize::from(buf[11]);
    let mut parts = vec![(buf[10], buf[12..n].to_vec())];
    while parts.len() < count {
        let n = s.recv(&mut buf).expect("the next chunk within the timeout");
        assert!(n <= 1420, "a chunk of {n} bytes");
        assert_eq!(&buf[..2], &[0x1e, 0x0f]);
        assert_eq!(buf[2..10], id[..], "one message at a time");
        assert_eq!(usize::from(buf[11]), count);
        parts.push((buf[10], buf[12..n].to_vec()));
    }
    parts.sort();
    let seqs: Vec<u8> = parts.iter().map(|p| p.0).collect();
    assert_eq!(seqs, (0..count as u8).collect::<Vec<_>>());
    (parts.into_iter().flat_map(|p| p.1).collect(), count)
}

#[test]
fn gelf_sends_each_line_over_udp_and_tcp_and_keeps_a_local_copy() {
    skip_unless_ready!("gelf_sends_each_line_over_udp_and_tcp_and_keeps_a_local_copy");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let info = d.ok(&["info", "--format", "{{json .Plugins.Log}}"]);
    assert!(info.contains("\"gelf\""), "{info}");

    // UDP: gzip'd JSON per line, with dockerd's fields and a label picked by `labels`.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let addr = format!("udp://{}", udp.local_addr().unwrap());
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "gelf-udp",
        "--network",
        "none",
        "--label",
        "team=core",
        "--log-driver",
        "gelf",
        "--log-opt",
        &format!("gelf-address={addr}"),
        "--log-opt",
        "labels=team",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo; echo err >&2",
    ]);
    let id = id.trim().to_string();
    d.ok(&["wait", "gelf-udp"]);
    let mut got: Vec<serde_json::Value> = (0..2)
        .map(|_| {
            let (b, chunks) = gelf_datagram(&udp);
            assert_eq!(chunks, 1);
            gunzip(&b)
        })
        .collect();
    got.sort_by_key(|m| m["short_message"].as_str().unwrap_or("").to_string());
    let (err, out) = (&got[0], &got[1]);
    assert_eq!(out["short_message"], "out", "{got:?}");
    assert_eq!(err["short_message"], "err", "{got:?}");
    assert_eq!(out["level"], 6);
    assert_eq!(err["level"], 3);
    let created = inspect(&d, "gelf-udp", "{{.Created}}");
    let image_id = inspect(&d, "gelf-udp", "{{.Image}}");
    for m in [out, err] {
        assert_eq!(m["version"], "1.1");
        assert_eq!(m["host"], hostname().as_str());
        assert!(m["timestamp"].as_f64().unwrap() > 1.5e9, "{m}");
        assert_eq!(m["_container_id"], id.as_str());
        assert_eq!(m["_container_name"], "gelf-udp");
        assert_eq!(m["_image_name"], "bb:1");
        assert_eq!(m["_image_id"], image_id.as_str());
        assert_eq!(m["_command"], "sh -c echo out; echo; echo err >&2");
        assert_eq!(m["_tag"], &id[..12]);
        assert_eq!(m["_created"], created.as_str());
        assert_eq!(m["_team"], "core");
    }
    // The empty line was not sent (the next message is the big one below), but the local copy
    // has it: `docker logs` reads it as it reads a json-file log.
    assert_eq!(d.ok(&["logs", "gelf-udp"]), "out\n\n");
    let o = d.docker(&["logs", "gelf-udp"]);
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    assert_eq!(
        inspect(&d, "gelf-udp", "{{.HostConfig.LogConfig.Type}}"),
        "gelf"
    );

    // A line that does not fit in one datagram even gzip'd (6000 hex digits of random bytes)
    // arrives in chunks of one message id, and put together is the whole line.
    d.ok(&[
        "run",
        "--name",
        "gelf-big",
        "--network",
        "none",
        "--log-driver",
        "gelf",
        "--log-opt",
        &format!("gelf-address={addr}"),
        "bb:1",
        "sh",
        "-c",
        "head -c 3000 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo",
    ]);
    let (b, chunks) = gelf_datagram(&udp);
    assert!(chunks > 1, "{chunks} chunk");
    let m = gunzip(&b);
    let line = m["short_message"].as_str().unwrap();
    assert_eq!(line.len(), 6000, "{line}");
    assert_eq!(m["_container_name"], "gelf-big");
    assert_eq!(d.ok(&["logs", "gelf-big"]).trim_end(), line);

    // TCP: the JSON uncompressed, each message ending in a NUL byte.
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tcp://{}", tcp.local_addr().unwrap());
    let reader = std::thread::spawn(move || {
        let (mut s, _) = tcp.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut all).unwrap();
        all
    });
    d.ok(&[
        "run",
        "-d",
        "--name",
        "gelf-tcp",
        "--network",
        "none",
        "--log-driver",
        "gelf",
        "--log-opt",
        &format!("gelf-address={addr}"),
        "--log-opt",
        "gelf-tcp-max-reconnect=1",
        "--log-opt",
        "tag={{.Name}}",
        "bb:1",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; done",
    ]);
    d.ok(&["wait", "gelf-tcp"]);
    d.ok(&["rm", "gelf-tcp"]);
    // The shim closed its connection when the container ended.
    let all = reader.join().unwrap();
    assert_eq!(all.last(), Some(&0u8), "{all:?}");
    let msgs: Vec<serde_json::Value> = all[..all.len() - 1]
        .split(|b| *b == 0)
        .map(|m| serde_json::from_slice(m).expect("plain JSON"))
        .collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m["short_message"], format!("line{}", i + 1));
        assert_eq!(m["_tag"], "gelf-tcp");
        assert_eq!(m["level"], 6);
    }
}

#[test]
fn gelf_refuses_bad_options_and_unreachable_endpoints() {
    skip_unless_ready!("gelf_refuses_bad_options_and_unreachable_endpoints");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let udp = "gelf-address=udp://127.0.0.1:12201";
    let tcp = "gelf-address=tcp://127.0.0.1:12201";
    for (opts, want) in [
        (&[][..], "gelf-address is a required parameter"),
        (
            &["gelf-address=http://127.0.0.1:12201"][..],
            "gelf: endpoint needs to be TCP or UDP",
        ),
        (
            &["gelf-address=udp://127.0.0.1"][..],
            "gelf: please provide gelf-address as proto://host:port",
        ),
        (
            &[tcp, "gelf-compression-type=gzip"][..],
            "compression is only supported on UDP",
        ),
        (
            &[udp, "gelf-compression-level=12"][..],
            r#"unknown value "12" for log opt "gelf-compression-level" for gelf log driver"#,
        ),
        (
            &[udp, "gelf-tcp-max-reconnect=2"][..],
            r#""gelf-tcp-max-reconnect" is only valid for TCP"#,
        ),
        (
            &[tcp, "gelf-tcp-reconnect-delay=soon"][..],
            r#""gelf-tcp-reconnect-delay" must be a positive integer"#,
        ),
        (
            &[udp, "max-size=1m"][..],
            r#"unknown log opt "max-size" for gelf log driver"#,
        ),
    ] {
        let mut args = vec!["create", "--log-driver", "gelf"];
        for o in opts {
            args.extend(["--log-opt", o]);
        }
        args.extend(["bb:1", "true"]);
        let o = d.docker(&args);
        assert!(!o.status.success(), "{opts:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{opts:?}: {err}");
    }
    // Nothing listens there: the start fails with dockerd's words and nothing runs.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = d.docker(&[
        "run",
        "--name",
        "gelf-nowhere",
        "--network",
        "none",
        "--log-driver",
        "gelf",
        "--log-opt",
        &format!("gelf-address=tcp://127.0.0.1:{port}"),
        "bb:1",
        "echo",
        "lost",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "failed to initialize logging driver: gelf: cannot connect to GELF endpoint: \
             127.0.0.1:{port} dial tcp 127.0.0.1:{port}: connect: connection refused"
        )),
        "{err}"
    );
    assert_eq!(inspect(&d, "gelf-nowhere", "{{.State.Status}}"), "created");
}
