//! Remote log drivers through the stock docker CLI, against endpoints the tests listen on
//! (loopback and a unix socket in a temporary directory): what each driver sends, the local copy
//! `docker logs` reads beside it (dockerd's dual logging) and `cache-disabled`, an unreachable
//! endpoint failing the start with dockerd's words, and bad options refused at create; a log
//! plugin (tests/fixtures/plugins/log_plugin.py) reading its FIFO, stopped at the exit.

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

/// The fields of one native-protocol datagram.
fn journal_fields(d: &[u8]) -> std::collections::BTreeMap<String, String> {
    berth_logdriver::journald::parse(d)
        .expect("a well-formed journal entry")
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

#[test]
fn journald_gets_each_line_with_dockerds_fields() {
    skip_unless_ready!("journald_gets_each_line_with_dockerds_fields");
    // journald's socket path is fixed: the daemon runs in a mount namespace of its own where a
    // socket of this test's is bound there (the host's /run/systemd stays as it is).
    if !std::path::Path::new("/run/systemd").is_dir() {
        eprintln!(
            "skipping journald_gets_each_line_with_dockerds_fields: no /run/systemd to mount over"
        );
        return;
    }
    let jdir = tempfile::tempdir().unwrap();
    let journal = UnixDatagram::bind(jdir.path().join("socket")).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let script = format!(
        "mount -t tmpfs -o size=1m,mode=0755 berth-test /run/systemd && mkdir /run/systemd/journal \
         && mount --bind {} /run/systemd/journal && exec \"$@\"",
        jdir.path().display()
    );
    let d = Berthd::start_wrapped(&[
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        &script,
        "sh",
    ]);
    d.import_busybox("bb:1");
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "jd",
        "--network",
        "none",
        "--label",
        "com.example.tier=front",
        "--log-driver",
        "journald",
        "--log-opt",
        "labels=com.example.tier",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    let id = id.trim().to_string();
    d.ok(&["wait", "jd"]);
    let mut buf = vec![0u8; 65536];
    let mut entries: Vec<_> = (0..2)
        .map(|_| {
            let n = journal.recv(&mut buf).expect("an entry within the timeout");
            journal_fields(&buf[..n])
        })
        .collect();
    entries.sort_by_key(|e| e["PRIORITY"].clone());
    let (err, out) = (&entries[0], &entries[1]);
    assert_eq!(out["MESSAGE"], "out");
    assert_eq!(out["PRIORITY"], "6");
    assert_eq!(err["MESSAGE"], "err");
    assert_eq!(err["PRIORITY"], "3");
    for e in &entries {
        assert_eq!(e["CONTAINER_ID"], id[..12]);
        assert_eq!(e["CONTAINER_ID_FULL"], id);
        assert_eq!(e["CONTAINER_NAME"], "jd");
        assert_eq!(e["CONTAINER_TAG"], id[..12]);
        assert_eq!(e["SYSLOG_IDENTIFIER"], id[..12]);
        assert_eq!(e["IMAGE_NAME"], "bb:1");
        assert_eq!(e["COM_EXAMPLE_TIER"], "front");
    }
    // `docker logs` reads the local copy.
    assert_eq!(d.ok(&["logs", "jd"]).trim(), "out");
    let o = d.docker(&[
        "create",
        "--log-driver",
        "journald",
        "--log-opt",
        "x=1",
        "bb:1",
        "true",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown log opt 'x' for journald log driver")
    );
}

#[test]
fn journald_without_a_journal_fails_the_start() {
    skip_unless_ready!("journald_without_a_journal_fails_the_start");
    if std::path::Path::new(berth_logdriver::journald::SOCKET).exists() {
        eprintln!("skipping journald_without_a_journal_fails_the_start: this host runs journald");
        return;
    }
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let o = d.docker(&[
        "run",
        "--network",
        "none",
        "--log-driver",
        "journald",
        "bb:1",
        "true",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed to initialize logging driver: journald is not enabled on this host"),
        "{err}"
    );
}

/// A CA and a certificate for `localhost` it signed, made with openssl in `dir`: (ca, cert, key).
fn tls_files(dir: &std::path::Path) -> (String, String, String) {
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=berth test CA",
        ],
        vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &p("srv.key"),
            "-out",
            &p("srv.csr"),
            "-subj",
            "/CN=localhost",
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &p("srv.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &p("srv.pem"),
            "-days",
            "2",
            "-extfile",
            &p("ext"),
        ],
    ] {
        let o = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {o:?}");
    }
    (p("ca.pem"), p("srv.pem"), p("srv.key"))
}

/// A TLS server's settings: its certificate and key.
fn tls_config(cert: &str, key: &str) -> std::sync::Arc<rustls::ServerConfig> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut &std::fs::read(cert).unwrap()[..])
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut &std::fs::read(key).unwrap()[..])
        .unwrap()
        .unwrap();
    std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    )
}

/// A TLS server on loopback: each connection's bytes (until its end, or a failed handshake: what
/// came before) on the channel.
fn tls_server(cert: &str, key: &str) -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
    use std::io::Read;
    let config = tls_config(cert, key);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { break };
            let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, s);
            let mut got = Vec::new();
            let _ = tls.read_to_end(&mut got);
            if tx.send(got).is_err() {
                break;
            }
        }
    });
    (port, rx)
}

#[test]
fn syslog_and_fluentd_over_tls_verify_the_server() {
    skip_unless_ready!("syslog_and_fluentd_over_tls_verify_the_server");
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let (port, rx) = tls_server(&cert, &key);
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let addr = format!("syslog-address=tcp+tls://localhost:{port}");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--log-driver",
            "syslog",
            "--log-opt",
            &addr,
        ];
        for e in extra {
            args.extend(["--log-opt", e]);
        }
        args.extend(["bb:1", "sh", "-c", "echo one; echo two"]);
        d.docker(&args)
    };
    // The host's CAs do not know this server's: the start fails.
    let o = run(&[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed to initialize logging driver: tls: invalid peer certificate"),
        "{err}"
    );
    let _ = rx.recv_timeout(Duration::from_secs(10));
    // With its CA, over the name berthd resolved, RFC 5424 framed by length (RFC 5425).
    let ca_opt = format!("syslog-tls-ca-cert={ca}");
    let o = run(&[&ca_opt, "syslog-format=rfc5424"]);
    assert!(o.status.success(), "{o:?}");
    let got = String::from_utf8(rx.recv_timeout(Duration::from_secs(20)).unwrap()).unwrap();
    let mut rest = got.as_str();
    let mut msgs = Vec::new();
    while !rest.is_empty() {
        let (len, after) = rest.split_once(' ').expect("a length, then a space");
        let len: usize = len.parse().expect("a decimal length");
        msgs.push(&after[..len]);
        rest = &after[len..];
    }
    assert_eq!(msgs.len(), 2, "{got:?}");
    assert!(
        msgs[0].starts_with("<30>1 ") && msgs[0].ends_with(" - one\n"),
        "{got:?}"
    );
    assert!(msgs[1].ends_with(" - two\n"), "{got:?}");
    // Verification skipped at the user's word: no CA needed; the default format, newline-ended.
    let o = run(&["syslog-tls-skip-verify=true"]);
    assert!(o.status.success(), "{o:?}");
    let got = String::from_utf8(rx.recv_timeout(Duration::from_secs(20)).unwrap()).unwrap();
    let lines: Vec<&str> = got.lines().collect();
    assert!(lines.len() == 2 && lines[1].ends_with("]: two"), "{got:?}");
    // fluentd's `tls://` speaks TLS too; dockerd gives it no CA option, so this server, unknown to
    // the host's CAs, is refused at the handshake.
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &format!("fluentd-address=tls://localhost:{port}"),
        "bb:1",
        "true",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed to initialize logging driver: tls: invalid peer certificate"),
        "{err}"
    );
}

/// A MessagePack value, as much of the format as Forward-protocol events use (read here on its
/// own, not with the crate's decoder).
#[derive(Debug, Clone, PartialEq)]
enum Mp {
    Nil,
    Int(i64),
    Str(String),
    Ext(i8, Vec<u8>),
    Arr(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
}

impl Mp {
    fn get(&self, key: &str) -> Option<&Mp> {
        match self {
            Mp::Map(kv) => kv
                .iter()
                .find(|(k, _)| *k == Mp::Str(key.into()))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self) -> &str {
        match self {
            Mp::Str(s) => s,
            v => panic!("not a string: {v:?}"),
        }
    }
}

/// The value at `b[*at..]` (`None`: more bytes are needed).
fn mp(b: &[u8], at: &mut usize) -> Option<Mp> {
    let take = |at: &mut usize, n: usize| -> Option<Vec<u8>> {
        let v = b.get(*at..*at + n)?.to_vec();
        *at += n;
        Some(v)
    };
    let be = |at: &mut usize, n: usize| -> Option<u64> {
        Some(
            take(at, n)?
                .iter()
                .fold(0u64, |a, x| a << 8 | u64::from(*x)),
        )
    };
    let t = *b.get(*at)?;
    *at += 1;
    let text = |v: Vec<u8>| Mp::Str(String::from_utf8(v).expect("UTF-8 text"));
    let seq = |at: &mut usize, n: usize| -> Option<Vec<Mp>> { (0..n).map(|_| mp(b, at)).collect() };
    let map = |at: &mut usize, n: usize| -> Option<Mp> {
        let kv = seq(at, 2 * n)?;
        Some(Mp::Map(
            kv.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
        ))
    };
    Some(match t {
        0x00..=0x7f => Mp::Int(i64::from(t)),
        0x80..=0x8f => map(at, usize::from(t & 0xf))?,
        0x90..=0x9f => Mp::Arr(seq(at, usize::from(t & 0xf))?),
        0xa0..=0xbf => text(take(at, usize::from(t & 0x1f))?),
        0xc0 => Mp::Nil,
        0xcc..=0xcf => Mp::Int(be(at, 1 << (t - 0xcc))? as i64),
        0xd0..=0xd3 => {
            let n = 1 << (t - 0xd0);
            let v = be(at, n)?;
            Mp::Int(((v << (64 - 8 * n)) as i64) >> (64 - 8 * n))
        }
        0xd4..=0xd8 => {
            let kind = take(at, 1)?[0] as i8;
            Mp::Ext(kind, take(at, 1 << (t - 0xd4))?)
        }
        0xd9..=0xdb => {
            let n = be(at, 1 << (t - 0xd9))? as usize;
            text(take(at, n)?)
        }
        0xdc | 0xdd => {
            let n = be(at, 2 << (t - 0xdc))? as usize;
            Mp::Arr(seq(at, n)?)
        }
        0xde | 0xdf => {
            let n = be(at, 2 << (t - 0xde))? as usize;
            map(at, n)?
        }
        _ => panic!("unexpected MessagePack type {t:#x}"),
    })
}

/// One Forward-protocol event: `[tag, time, record, option]`.
#[derive(Debug)]
struct Fwd {
    tag: String,
    time: Mp,
    record: std::collections::BTreeMap<String, String>,
    option: Mp,
}

/// Read events from `s` until it closes (or `max` arrived), answering each chunk with its ack.
fn forward_events<S: std::io::Read + std::io::Write>(mut s: S, max: usize) -> Vec<Fwd> {
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut chunk = [0u8; 4096];
    while events.len() < max {
        let mut at = 0;
        if let Some(v) = mp(&buf, &mut at) {
            buf.drain(..at);
            let Mp::Arr(a) = v else {
                panic!("an event is an array: {v:?}")
            };
            assert_eq!(a.len(), 4, "{a:?}");
            let Mp::Map(r) = &a[2] else {
                panic!("a record is a map: {a:?}")
            };
            if let Some(id) = a[3].get("chunk") {
                // {"ack": id}
                let id = id.str().as_bytes();
                let mut ack = vec![0x81, 0xa3, b'a', b'c', b'k', 0xd9, id.len() as u8];
                ack.extend_from_slice(id);
                s.write_all(&ack).unwrap();
            }
            events.push(Fwd {
                tag: a[0].str().to_string(),
                time: a[1].clone(),
                record: r
                    .iter()
                    .map(|(k, v)| (k.str().to_string(), v.str().to_string()))
                    .collect(),
                option: a[3].clone(),
            });
            continue;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    events
}

/// The first connection to `l`, waiting at most a minute for it.
fn accept_tcp(l: &TcpListener) -> std::net::TcpStream {
    l.set_nonblocking(true).unwrap();
    let t = std::time::Instant::now();
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                return s;
            }
            Err(_) if t.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("no connection to {:?}: {e}", l.local_addr()),
        }
    }
}

#[test]
fn fluentd_forwards_each_line_as_an_event_and_keeps_a_local_copy() {
    skip_unless_ready!("fluentd_forwards_each_line_as_an_event_and_keeps_a_local_copy");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let info = d.ok(&["info", "--format", "{{json .Plugins.Log}}"]);
    assert!(info.contains("\"fluentd\""), "{info}");

    // TCP, the address without a scheme, a tag template, a label as an attribute.
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let server = std::thread::spawn(move || forward_events(accept_tcp(&tcp), usize::MAX));
    d.ok(&[
        "run",
        "--name",
        "fl-tcp",
        "--network",
        "none",
        "--label",
        "app=web",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &format!("fluentd-address=127.0.0.1:{port}"),
        "--log-opt",
        "labels=app",
        "--log-opt",
        "tag={{.Name}}/{{.ID}}",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    let id = inspect(&d, "fl-tcp", "{{.Id}}");
    // The shim closed its connection when the container ended.
    let mut events = server.join().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    events.sort_by(|a, b| a.record["source"].cmp(&b.record["source"]));
    for (e, (source, line)) in events.iter().zip([("stderr", "err"), ("stdout", "out")]) {
        assert_eq!(e.tag, format!("fl-tcp/{}", &id[..12]));
        assert!(matches!(e.time, Mp::Int(t) if t > 1_600_000_000), "{e:?}");
        let want: std::collections::BTreeMap<String, String> = [
            ("container_id", id.as_str()),
            ("container_name", "/fl-tcp"),
            ("source", source),
            ("log", line),
            ("app", "web"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(e.record, want);
        assert_eq!(e.option, Mp::Map(vec![]));
    }
    // The local copy.
    assert_eq!(d.ok(&["logs", "fl-tcp"]).trim(), "out");
    let o = d.docker(&["logs", "fl-tcp"]);
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim(), "err");
    assert_eq!(
        inspect(&d, "fl-tcp", "{{.HostConfig.LogConfig.Type}}"),
        "fluentd"
    );

    // A unix socket, the default tag, sub-second times and acks.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("fluent.sock");
    let ux = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = ux.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        forward_events(s, usize::MAX)
    });
    d.ok(&[
        "run",
        "--name",
        "fl-unix",
        "--network",
        "none",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &format!("fluentd-address=unix://{}", sock.display()),
        "--log-opt",
        "fluentd-sub-second-precision=true",
        "--log-opt",
        "fluentd-request-ack=true",
        "bb:1",
        "sh",
        "-c",
        "echo one; echo two",
    ]);
    let id = inspect(&d, "fl-unix", "{{.Id}}");
    let events = server.join().unwrap();
    let lines: Vec<_> = events.iter().map(|e| e.record["log"].as_str()).collect();
    assert_eq!(lines, ["one", "two"]);
    for e in &events {
        assert_eq!(e.tag, format!("docker.{}", &id[..12]));
        assert!(matches!(&e.time, Mp::Ext(0, b) if b.len() == 8), "{e:?}");
        assert!(e.option.get("chunk").is_some(), "{e:?}");
    }
}

#[test]
fn fluentd_refuses_bad_options_and_an_unreachable_endpoint_unless_async() {
    skip_unless_ready!("fluentd_refuses_bad_options_and_an_unreachable_endpoint_unless_async");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    for (opt, want) in [
        (
            "fluentd-address=udp://127.0.0.1",
            "invalid fluentd-address (udp://127.0.0.1): unsupported scheme: 'udp'",
        ),
        ("fluentd-address=tcp://127.0.0.1:99999", "invalid port"),
        (
            "fluentd-address=127.0.0.1:24224/x",
            "should not contain a path element",
        ),
        ("fluentd-address=unix://", "path is empty"),
        (
            "fluentd-async=maybe",
            "strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        ("fluentd-retry-wait=5", "time: missing unit in duration \"5\""),
        (
            "fluentd-max-retries=-1",
            "strconv.ParseUint: parsing \"-1\": invalid syntax",
        ),
        (
            "fluentd-async-reconnect-interval=11s",
            "invalid value for fluentd-async-reconnect-interval: value (\"11s\") must be between 100ms and 10s",
        ),
        (
            "fluentd-write-timeout=-1s",
            "invalid value for fluentd-write-timeout: value must be a duration that is non-negative",
        ),
        (
            "fluentd-async-connect=true",
            "unknown log opt 'fluentd-async-connect' for fluentd log driver",
        ),
    ] {
        let o = d.docker(&[
            "create",
            "--log-driver",
            "fluentd",
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
    let addr = format!("fluentd-address=tcp://127.0.0.1:{port}");
    let o = d.docker(&[
        "run",
        "--name",
        "fl-nowhere",
        "--network",
        "none",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &addr,
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
    assert_eq!(inspect(&d, "fl-nowhere", "{{.State.Status}}"), "created");

    // Async: the start does not wait for the endpoint; the line waits for it instead.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fl-async",
        "--network",
        "none",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &addr,
        "--log-opt",
        "fluentd-async=true",
        "--log-opt",
        "fluentd-retry-wait=100ms",
        "bb:1",
        "sh",
        "-c",
        "echo early; exec sleep 600",
    ]);
    assert_eq!(inspect(&d, "fl-async", "{{.State.Running}}"), "true");
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let events = forward_events(accept_tcp(&l), 1);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].record["log"], "early");
    assert_eq!(events[0].record["container_name"], "/fl-async");
    assert_eq!(d.ok(&["logs", "fl-async"]).trim(), "early");
    d.ok(&["rm", "-f", "fl-async"]);
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

/// The entries a test log plugin decoded from its FIFOs: (file, source, line), once there are at
/// least `n` (the plugin reads on its own thread).
fn plugin_lines(p: &common::plugins::Plugin, n: usize) -> Vec<(String, String, String)> {
    let path = format!("{}.lines", p.log_path().display());
    let t = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let got: Vec<(String, String, String)> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert!(v["time_nano"].as_u64().unwrap_or(0) > 0, "a time: {l}");
                assert_eq!(v["partial"], false, "{l}");
                let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
                (s("file"), s("source"), s("line"))
            })
            .collect();
        if got.len() >= n || t.elapsed() > Duration::from_secs(20) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn plugin_daemon(p: &common::plugins::Plugin) -> Berthd {
    let flags = p.flags();
    let f: Vec<&str> = flags.iter().map(String::as_str).collect();
    let d = Berthd::start_with(&f);
    d.import_busybox("bb:1");
    d
}

/// The calls of `method` the plugin got, their requests.
fn requests(p: &common::plugins::Plugin, method: &str) -> Vec<serde_json::Value> {
    p.calls()
        .into_iter()
        .filter(|(m, _)| m == method)
        .map(|(_, r)| r)
        .collect()
}

#[test]
fn a_log_plugin_reads_each_line_from_its_fifo() {
    skip_unless_ready!("a_log_plugin_reads_each_line_from_its_fifo");
    let p = common::plugins::Plugin::start("log_plugin.py", "tlp");
    let d = plugin_daemon(&p);
    let out = d.docker(&[
        "run",
        "--name",
        "lp1",
        "--network",
        "none",
        "--log-driver",
        "tlp",
        "--log-opt",
        "zone=eu",
        "--label",
        "team=rs",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    let id = inspect(&d, "lp1", "{{.Id}}");
    assert_eq!(inspect(&d, "lp1", "{{.HostConfig.LogConfig.Type}}"), "tlp");

    // StartLogging: a FIFO, and what the container is, in dockerd's fields.
    let starts = requests(&p, "LogDriver.StartLogging");
    assert_eq!(starts.len(), 1, "{starts:?}");
    let file = starts[0]["File"].as_str().unwrap().to_string();
    let info = &starts[0]["Info"];
    assert_eq!(info["ContainerID"], id.as_str());
    assert_eq!(info["ContainerName"], "/lp1");
    assert_eq!(info["ContainerImageName"], "bb:1");
    assert_eq!(info["ContainerEntrypoint"], "sh");
    assert_eq!(
        info["ContainerArgs"],
        serde_json::json!(["-c", "echo out; echo err >&2"])
    );
    assert_eq!(info["Config"]["zone"], "eu");
    assert_eq!(info["ContainerLabels"]["team"], "rs");
    assert_eq!(info["DaemonName"], "docker");

    // Each line, from its stream, through the FIFO.
    let mut lines = plugin_lines(&p, 2);
    lines.sort();
    assert_eq!(
        lines,
        vec![
            (file.clone(), "stderr".into(), "err".into()),
            (file.clone(), "stdout".into(), "out".into()),
        ]
    );
    // StopLogging with the same file once it exited, and the FIFO is gone.
    let stops = requests(&p, "LogDriver.StopLogging");
    assert_eq!(stops, vec![serde_json::json!({ "File": file })]);
    assert!(!std::path::Path::new(&file).exists(), "{file} is left");
    // docker logs reads the local copy.
    let logs = d.docker(&["logs", "lp1"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "err\n");

    // A name no plugin has is refused at create, in dockerd's words.
    let o = d.docker(&["create", "--log-driver", "nosuchlog", "bb:1", "true"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error looking up logging plugin nosuchlog: plugin \"nosuchlog\" not found"),
        "{err}"
    );

    // A plugin that refuses StartLogging fails the start, and nothing runs.
    let o = d.docker(&[
        "run",
        "--name",
        "lp2",
        "--network",
        "none",
        "--log-driver",
        "tlp",
        "--log-opt",
        "refuse=no room for logs",
        "bb:1",
        "sleep",
        "60",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "failed to initialize logging driver: error creating logger: no room for logs"
        ),
        "{err}"
    );
    assert_eq!(inspect(&d, "lp2", "{{.State.Running}}"), "false");
    assert_eq!(d.ok(&["ps", "-q"]).trim(), "");
    // Its FIFO is gone, and it was not stopped (it never started).
    let fifos = std::fs::read_dir(d.dir.path().join("exec/logging"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    assert_eq!(fifos, 0, "FIFOs left behind");
    assert_eq!(requests(&p, "LogDriver.StopLogging").len(), 1);
    d.ok(&["rm", "-f", "lp1", "lp2"]);
}

#[test]
fn a_log_plugin_is_stopped_at_an_exit_after_a_berthd_restart() {
    skip_unless_ready!("a_log_plugin_is_stopped_at_an_exit_after_a_berthd_restart");
    let p = common::plugins::Plugin::start("log_plugin.py", "tlr");
    let mut d = plugin_daemon(&p);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "lr1",
        "--network",
        "none",
        "--log-driver",
        "tlr",
        "bb:1",
        "sh",
        "-c",
        "echo before; while [ ! -e /go ]; do sleep 0.1; done; echo after",
    ]);
    let starts = requests(&p, "LogDriver.StartLogging");
    let file = starts[0]["File"].as_str().unwrap().to_string();
    assert_eq!(plugin_lines(&p, 1).len(), 1);
    d.kill9();
    d.spawn();
    d.ok(&["exec", "lr1", "sh", "-c", "echo > /go"]);
    assert_eq!(d.ok(&["wait", "lr1"]).trim(), "0");
    let lines: Vec<String> = plugin_lines(&p, 2).into_iter().map(|l| l.2).collect();
    assert_eq!(lines, ["before", "after"]);
    let stops = requests(&p, "LogDriver.StopLogging");
    assert_eq!(stops, vec![serde_json::json!({ "File": file })]);
    assert!(!std::path::Path::new(&file).exists(), "{file} is left");
    assert_eq!(d.ok(&["logs", "lr1"]), "before\nafter\n");
    d.ok(&["rm", "-f", "lr1"]);
}

#[test]
fn an_endpoint_gone_away_does_not_hold_the_exit() {
    skip_unless_ready!("an_endpoint_gone_away_does_not_hold_the_exit");
    use std::io::Read;
    let d = Berthd::start();
    d.import_busybox("bb:1");
    // A fluentd endpoint that takes the first event and goes away: by default the driver retries
    // without end, which must not keep the container from being seen to exit.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let gone = std::thread::spawn(move || {
        let mut s = accept_tcp(&l);
        let mut buf = [0u8; 4096];
        s.read(&mut buf).unwrap_or(0)
    });
    d.ok(&[
        "run",
        "-d",
        "--name",
        "gone",
        "--network",
        "none",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &format!("fluentd-address=tcp://127.0.0.1:{port}"),
        "--log-opt",
        "fluentd-retry-wait=100ms",
        "bb:1",
        "sh",
        "-c",
        "echo one; sleep 1; echo two; sleep 0.2; echo three",
    ]);
    assert!(gone.join().unwrap() > 0, "the first event arrived");
    let o = std::process::Command::new("timeout")
        .arg("60")
        .arg(docker_cli().unwrap())
        .args(["wait", "gone"])
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "docker wait did not return: {o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "0");
    // Every line reached the local copy before the driver took it.
    assert_eq!(d.ok(&["logs", "gone"]), "one\ntwo\nthree\n");
}

/// A request an HTTP Event Collector got.
#[derive(Debug, Clone)]
struct HecRequest {
    method: String,
    path: String,
    /// Names in lower case.
    headers: std::collections::BTreeMap<String, String>,
    body: Vec<u8>,
}

/// An HTTP server on loopback (with TLS when given its settings) answering every request `200 OK`
/// (as Splunk's collector does), each request sent on the channel; connections kept alive.
fn hec_server(
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> (u16, std::sync::mpsc::Receiver<HecRequest>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            let tx = tx.clone();
            match &tls {
                Some(config) => {
                    let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                    let s = rustls::StreamOwned::new(conn, s);
                    std::thread::spawn(move || hec_serve(s, &tx));
                }
                None => {
                    std::thread::spawn(move || hec_serve(s, &tx));
                }
            }
        }
    });
    (port, rx)
}

/// Answer the requests of one connection.
fn hec_serve<S: std::io::Read + std::io::Write>(s: S, tx: &std::sync::mpsc::Sender<HecRequest>) {
    use std::io::Read;
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = std::collections::BTreeMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.insert(k.to_ascii_lowercase(), v.trim().to_string());
        }
        let n: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0u8; n];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let answer = "{\"text\":\"Success\",\"code\":0}";
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        let w = r.get_mut();
        let _ = w
            .write_all(head.as_bytes())
            .and_then(|()| w.write_all(answer.as_bytes()))
            .and_then(|()| w.flush());
        let _ = tx.send(HecRequest {
            method,
            path,
            headers,
            body,
        });
    }
}

/// The events of POSTs from `rx` until there are `n` (a gzip body unzipped).
fn hec_events(
    rx: &std::sync::mpsc::Receiver<HecRequest>,
    n: usize,
) -> Vec<(HecRequest, serde_json::Value)> {
    let mut got = Vec::new();
    while got.len() < n {
        let req = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the events within the timeout");
        if req.method != "POST" {
            continue;
        }
        let body = if req.headers.get("content-encoding").map(String::as_str) == Some("gzip") {
            let mut s = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&req.body[..]), &mut s)
                .unwrap();
            s
        } else {
            req.body.clone()
        };
        for v in serde_json::Deserializer::from_slice(&body).into_iter::<serde_json::Value>() {
            got.push((req.clone(), v.unwrap()));
        }
    }
    got
}

#[test]
fn splunk_posts_each_line_as_an_event_and_keeps_a_local_copy() {
    skip_unless_ready!("splunk_posts_each_line_as_an_event_and_keeps_a_local_copy");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let info = d.ok(&["info", "--format", "{{json .Plugins.Log}}"]);
    assert!(info.contains("\"splunk\""), "{info}");
    let (port, rx) = hec_server(None);

    // A host name (berthd resolves it for the shim; the server is still called by it), the
    // inline format, a source and a tag template.
    d.ok(&[
        "run",
        "--name",
        "sp-inline",
        "--network",
        "none",
        "--log-driver",
        "splunk",
        "--log-opt",
        &format!("splunk-url=http://localhost:{port}"),
        "--log-opt",
        "splunk-token=00000000-1111-2222-3333-444444444444",
        "--log-opt",
        "splunk-source=berth-test",
        "--log-opt",
        "tag=app-{{.Name}}",
        "--label",
        "team=web",
        "--log-opt",
        "labels=team",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    // The start checked the collector first.
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("OPTIONS", "/services/collector/event/1.0")
    );
    let mut got = hec_events(&rx, 2);
    got.sort_by_key(|(_, v)| v["event"]["source"].as_str().unwrap_or("").to_string());
    for (req, _) in &got {
        assert_eq!(req.path, "/services/collector/event/1.0");
        assert_eq!(
            req.headers["authorization"],
            "Splunk 00000000-1111-2222-3333-444444444444"
        );
        assert_eq!(req.headers["host"], format!("localhost:{port}"));
    }
    for ((_, v), (source, line)) in got.iter().zip([("stderr", "err"), ("stdout", "out")]) {
        assert_eq!(
            v["event"],
            serde_json::json!({"line": line, "source": source, "tag": "app-sp-inline", "attrs": {"team": "web"}}),
            "{v}"
        );
        assert_eq!(v["source"], "berth-test");
        assert_eq!(v["host"], hostname());
        let time = v["time"].as_str().unwrap();
        let (secs, micros) = time.split_once('.').unwrap();
        assert!(secs.len() >= 10 && micros.len() == 6, "{time}");
        assert!(
            v.get("index").is_none() && v.get("sourcetype").is_none(),
            "{v}"
        );
    }
    // The local copy.
    assert_eq!(d.ok(&["logs", "sp-inline"]).trim(), "out");
    let o = d.docker(&["logs", "sp-inline"]);
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim(), "err");

    // json and gzip: a JSON line is the event's value; raw: the tag before the line.
    d.ok(&[
        "run",
        "--name",
        "sp-json",
        "--network",
        "none",
        "--log-driver",
        "splunk",
        "--log-opt",
        &format!("splunk-url=http://127.0.0.1:{port}"),
        "--log-opt",
        "splunk-token=T",
        "--log-opt",
        "splunk-format=json",
        "--log-opt",
        "splunk-gzip=true",
        "--log-opt",
        "splunk-verify-connection=false",
        "--log-opt",
        "splunk-index=main",
        "bb:1",
        "echo",
        "{\"a\": [1, 2]}",
    ]);
    let got = hec_events(&rx, 1);
    let (req, v) = &got[0];
    assert_eq!(req.headers["content-encoding"], "gzip");
    assert_eq!(v["event"]["line"], serde_json::json!({"a": [1, 2]}));
    assert_eq!(v["index"], "main");
    let id = inspect(&d, "sp-json", "{{.Id}}");
    assert_eq!(v["event"]["tag"], id[..12]);
    d.ok(&[
        "run",
        "--name",
        "sp-raw",
        "--network",
        "none",
        "--log-driver",
        "splunk",
        "--log-opt",
        &format!("splunk-url=http://127.0.0.1:{port}"),
        "--log-opt",
        "splunk-token=T",
        "--log-opt",
        "splunk-format=raw",
        "--log-opt",
        "tag=raw",
        "bb:1",
        "echo",
        "plain words",
    ]);
    let got = hec_events(&rx, 1);
    assert_eq!(got[0].1["event"], "raw plain words");
}

#[test]
fn splunk_over_https_verifies_the_server() {
    skip_unless_ready!("splunk_over_https_verifies_the_server");
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let (port, rx) = hec_server(Some(tls_config(&cert, &key)));
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let url = format!("splunk-url=https://localhost:{port}");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--log-driver",
            "splunk",
            "--log-opt",
            &url,
            "--log-opt",
            "splunk-token=T",
        ];
        for e in extra {
            args.extend(["--log-opt", e]);
        }
        args.extend(["bb:1", "echo", "secret"]);
        d.docker(&args)
    };
    // The host's CAs do not know this server's: the check at start fails.
    let o = run(&[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed to initialize logging driver: Options \"https://localhost:")
            && err.contains("invalid peer certificate"),
        "{err}"
    );
    // With its CA, over the name berthd resolved.
    let ca_opt = format!("splunk-capath={ca}");
    let o = run(&[&ca_opt]);
    assert!(o.status.success(), "{o:?}");
    let got = hec_events(&rx, 1);
    assert_eq!(got[0].1["event"]["line"], "secret");
    assert_eq!(got[0].0.headers["authorization"], "Splunk T");
    // A name the certificate does not carry is refused; skipping verification takes any.
    let o = run(&[&ca_opt, "splunk-caname=splunk.example"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("certificate"), "{err}");
    let o = run(&["splunk-insecureskipverify=true"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(hec_events(&rx, 1)[0].1["event"]["line"], "secret");
}

#[test]
fn splunk_refuses_bad_options_and_an_unreachable_endpoint() {
    skip_unless_ready!("splunk_refuses_bad_options_and_an_unreachable_endpoint");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    // At create, as dockerd: the options' names.
    let o = d.docker(&[
        "create",
        "--log-driver",
        "splunk",
        "--log-opt",
        "splunk-url=http://127.0.0.1:1",
        "--log-opt",
        "splunk-tokn=T",
        "bb:1",
        "true",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown log opt 'splunk-tokn' for splunk log driver"),
        "{err}"
    );

    // At start, as dockerd: the values, and the collector that must answer.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("splunk-url=http://127.0.0.1:{port}");
    for (name, opts, want) in [
        (
            "sp-nourl",
            vec!["splunk-token=T"],
            "failed to initialize logging driver: splunk: splunk-url is expected".to_string(),
        ),
        (
            "sp-badurl",
            vec!["splunk-url=http://127.0.0.1:1/x", "splunk-token=T"],
            "splunk: expected format scheme://dns_name_or_ip:port for splunk-url".to_string(),
        ),
        (
            "sp-nowhere",
            vec![url.as_str(), "splunk-token=T"],
            format!(
                "failed to initialize logging driver: Options \"http://127.0.0.1:{port}/services/collector/event/1.0\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            ),
        ),
        (
            "sp-format",
            vec![url.as_str(), "splunk-token=T", "splunk-verify-connection=false", "splunk-format=xml"],
            "unknown format specified xml, supported formats are inline, json and raw".to_string(),
        ),
    ] {
        let mut args = vec!["run", "--name", name, "--network", "none", "--log-driver", "splunk"];
        for o in &opts {
            args.extend(["--log-opt", o]);
        }
        args.extend(["bb:1", "echo", "lost"]);
        let o = d.docker(&args);
        assert!(!o.status.success(), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&want), "{name}: {err}");
        assert_eq!(inspect(&d, name, "{{.State.Status}}"), "created", "{name}");
    }

    // Without the check, the container runs (its lines reach the local copy only).
    d.ok(&[
        "run",
        "--name",
        "sp-unchecked",
        "--network",
        "none",
        "--log-driver",
        "splunk",
        "--log-opt",
        &url,
        "--log-opt",
        "splunk-token=T",
        "--log-opt",
        "splunk-verify-connection=false",
        "bb:1",
        "echo",
        "kept",
    ]);
    assert_eq!(d.ok(&["logs", "sp-unchecked"]).trim(), "kept");
}
