//! The `gelf` driver, as dockerd's: one GELF 1.1 message per non-empty line to `gelf-address`
//! (`udp://host:port` or `tcp://host:port`, both required).
//!
//! The message is dockerd's: `version` `1.1`, `host` (the daemon host's name), `short_message`
//! (the line), `timestamp` (seconds, to the millisecond), `level` (6 for stdout, 3 for stderr),
//! then the extra fields in key order: `_command`, `_container_id`, `_container_name`,
//! `_created`, `_image_id`, `_image_name`, `_tag` and the attributes the `labels`/`env` options
//! pick, each with a `_` in front (unless it has one). Partial lines go out as they are, unmarked,
//! as dockerd sends them. The JSON escapes `<`, `>`, `&`, U+2028 and U+2029 as Go's encoder does.
//!
//! Over UDP a message is compressed (`gelf-compression-type` `gzip`, the default, `zlib` or
//! `none`; `gelf-compression-level` -1 to 9, default 1) and cut into chunks when it is over 1420
//! bytes: each chunk is `0x1e 0x0f`, an 8-byte message id, its sequence number and the count, then
//! at most 1408 bytes of the message; a message that needs more than 128 chunks is not sent. Over
//! TCP a message is the JSON uncompressed and ends in a NUL byte; a failed write is tried again up
//! to `gelf-tcp-max-reconnect` times (default 3) on a new connection, `gelf-tcp-reconnect-delay`
//! seconds (default 1) apart.

use crate::net::{Addr, Endpoint};
use crate::{Conn, Logger, Message, Spec, Stream};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

/// The largest datagram sent; a bigger message is chunked.
pub const CHUNK_SIZE: usize = 1420;
/// Magic, message id, sequence number and count.
const CHUNK_HEAD: usize = 12;
/// The most chunks a message may have (GELF's limit).
const MAX_CHUNKS: usize = 128;
/// The chunk header's first two bytes.
const CHUNK_MAGIC: [u8; 2] = [0x1e, 0x0f];

/// How UDP messages are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compress {
    Gzip,
    Zlib,
    None,
}

/// How messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp { compress: Compress, level: u32 },
    Tcp,
}

/// Go's `url.Parse` error for `a`.
fn url_error(a: &str, why: &str) -> String {
    format!("parse {a:?}: {why}")
}

/// The scheme of `a` as Go's `url.Parse` finds it (lower-cased; empty when there is none) and
/// what follows its colon.
fn scheme(a: &str) -> Result<(String, &str), String> {
    for (i, c) in a.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(url_error(a, "missing protocol scheme")),
            b':' => return Ok((a[..i].to_ascii_lowercase(), &a[i + 1..])),
            _ => break,
        }
    }
    // No scheme: a colon before the first slash is refused.
    let first = a.split('/').next().unwrap_or(a);
    if first.contains(':') {
        return Err(url_error(
            a,
            "first path segment in URL cannot contain colon",
        ));
    }
    Ok((String::new(), a))
}

/// Whether `host` splits as Go's `net.SplitHostPort` splits `host:port`.
fn splits_host_port(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, p)) => !h.contains(['[', ']']) && p.starts_with(':') && !p[1..].contains(':'),
            None => false,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) => !h.contains([':', '[', ']']) && !p.contains(['[', ']']),
        None => false,
    }
}

/// `gelf-address` read as dockerd reads it, with its messages.
fn address(opts: &BTreeMap<String, String>) -> Result<Addr, String> {
    let a = opts.get("gelf-address").map_or("", String::as_str);
    if a.is_empty() {
        return Err("gelf-address is a required parameter".into());
    }
    let (scheme, rest) = scheme(a)?;
    // The authority, without any user information.
    let authority = rest
        .strip_prefix("//")
        .map_or("", |r| r.split(['/', '?', '#']).next().unwrap_or(r));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    // A port that is not all digits fails Go's parse before the scheme is looked at.
    if let Some((h, p)) = host.rsplit_once(':') {
        if (!h.contains(':') || h.ends_with(']')) && !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(url_error(a, &format!("invalid port \":{p}\" after host")));
        }
    }
    if scheme != "udp" && scheme != "tcp" {
        return Err("gelf: endpoint needs to be TCP or UDP".into());
    }
    if !splits_host_port(host) {
        return Err("gelf: please provide gelf-address as proto://host:port".into());
    }
    Ok(if scheme == "udp" {
        Addr::Udp(host.to_string())
    } else {
        Addr::Tcp(host.to_string())
    })
}

/// Go's `strconv.Atoi`, as far as dockerd's checks need it.
fn atoi(v: &str) -> Option<i64> {
    v.parse().ok()
}

/// dockerd's checks of the gelf options (the common ones already taken out).
pub fn validate(opts: &BTreeMap<String, String>) -> Result<(), String> {
    let addr = address(opts)?;
    let udp = matches!(addr, Addr::Udp(_));
    for (k, v) in opts {
        match k.as_str() {
            "gelf-address" => {}
            "gelf-compression-level" | "gelf-compression-type" if !udp => {
                return Err("compression is only supported on UDP".into());
            }
            "gelf-compression-level" => {
                if atoi(v).is_none_or(|n| !(-1..=9).contains(&n)) {
                    return Err(format!(
                        "unknown value {v:?} for log opt {k:?} for gelf log driver"
                    ));
                }
            }
            "gelf-compression-type" => {
                if !matches!(v.as_str(), "gzip" | "zlib" | "none") {
                    return Err(format!(
                        "unknown value {v:?} for log opt {k:?} for gelf log driver"
                    ));
                }
            }
            "gelf-tcp-max-reconnect" | "gelf-tcp-reconnect-delay" => {
                if udp {
                    return Err(format!("{k:?} is only valid for TCP"));
                }
                if atoi(v).is_none_or(|n| n < 0) {
                    return Err(format!("{k:?} must be a positive integer"));
                }
            }
            _ => return Err(format!("unknown log opt {k:?} for gelf log driver")),
        }
    }
    Ok(())
}

/// The transport `opts` ask for (validated at create; read again, as dockerd does, at start).
fn transport(addr: &Addr, opts: &BTreeMap<String, String>) -> Result<Transport, String> {
    if !matches!(addr, Addr::Udp(_)) {
        return Ok(Transport::Tcp);
    }
    let compress = match opts.get("gelf-compression-type").map(String::as_str) {
        None | Some("gzip") => Compress::Gzip,
        Some("zlib") => Compress::Zlib,
        Some("none") => Compress::None,
        Some(v) => return Err(format!("gelf: invalid compression type {v:?}")),
    };
    let level = match opts.get("gelf-compression-level") {
        None => 1,
        Some(v) => match atoi(v) {
            Some(-1) => Compression::default().level(),
            Some(n) => u32::try_from(n.clamp(0, 9)).unwrap_or(9),
            None => return Err(format!("gelf: invalid compression level {v}")),
        },
    };
    Ok(Transport::Udp { compress, level })
}

/// The TCP retries: (reconnections, delay between them).
fn reconnect(opts: &BTreeMap<String, String>) -> Result<(u32, Duration), String> {
    let get = |k: &str, default: u32| match opts.get(k) {
        None => Ok(default),
        Some(v) => atoi(v)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{k} must be a positive integer")),
    };
    let max = get("gelf-tcp-max-reconnect", 3)?;
    let delay = get("gelf-tcp-reconnect-delay", 1)?;
    Ok((max, Duration::from_secs(u64::from(delay))))
}

/// Seconds since the epoch to the millisecond, as Go prints the float (`1796653820.066`,
/// `1796653820.5`, `1796653820`).
fn timestamp(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let (secs, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return secs.to_string();
    }
    let f = format!("{frac:03}");
    format!("{secs}.{}", f.trim_end_matches('0'))
}

/// The extra fields of every message, as the inside of a JSON object (no braces).
fn extra_fields(spec: &Spec) -> String {
    let i = &spec.info;
    let mut extra: BTreeMap<String, &str> = BTreeMap::new();
    for (k, v) in [
        ("_container_id", &i.id),
        ("_container_name", &i.name),
        ("_image_id", &i.image_id),
        ("_image_name", &i.image_name),
        ("_command", &i.command),
        ("_tag", &i.tag),
        ("_created", &i.created),
    ] {
        extra.insert(k.to_string(), v);
    }
    for (k, v) in &i.extra {
        let key = if k.starts_with('_') {
            k.clone()
        } else {
            format!("_{k}")
        };
        extra.insert(key, v);
    }
    let json = crate::goval::json(&extra);
    json.strip_prefix('{')
        .and_then(|j| j.strip_suffix('}'))
        .unwrap_or("")
        .to_string()
}

/// `bytes` compressed as `c` says.
fn compress(bytes: &[u8], c: Compress, level: u32) -> io::Result<Vec<u8>> {
    let level = Compression::new(level);
    match c {
        Compress::None => Ok(bytes.to_vec()),
        Compress::Gzip => {
            let mut e = GzEncoder::new(Vec::with_capacity(bytes.len() / 2 + 32), level);
            e.write_all(bytes)?;
            e.finish()
        }
        Compress::Zlib => {
            let mut e = ZlibEncoder::new(Vec::with_capacity(bytes.len() / 2 + 32), level);
            e.write_all(bytes)?;
            e.finish()
        }
    }
}

/// The datagrams that carry `payload`: itself when it fits in one, else its chunks under the
/// message id `id`.
fn chunks(payload: &[u8], id: [u8; 8]) -> Result<Vec<Vec<u8>>, String> {
    if payload.len() <= CHUNK_SIZE {
        return Ok(vec![payload.to_vec()]);
    }
    let per = CHUNK_SIZE - CHUNK_HEAD;
    let n = payload.len().div_ceil(per);
    if n > MAX_CHUNKS {
        return Err(format!("msg too large, would need {n} chunks"));
    }
    Ok(payload
        .chunks(per)
        .enumerate()
        .map(|(seq, data)| {
            let mut d = Vec::with_capacity(CHUNK_HEAD + data.len());
            d.extend_from_slice(&CHUNK_MAGIC);
            d.extend_from_slice(&id);
            // Both fit in a byte: n <= 128.
            d.push(seq as u8);
            d.push(n as u8);
            d.extend_from_slice(data);
            d
        })
        .collect())
}

/// A container's GELF writer.
pub struct Gelf<C: Conn = Endpoint> {
    conn: C,
    transport: Transport,
    host: String,
    /// [`extra_fields`], made once.
    extra: String,
}

impl Gelf {
    /// Connect as `spec` says (`gelf: cannot connect to GELF endpoint: ...` when it cannot).
    pub fn open(spec: &Spec) -> Result<Gelf, String> {
        let addr = address(&spec.options)?;
        let (hostport, tcp) = match &addr {
            Addr::Tcp(h) | Addr::Tls(h) => (h.clone(), true),
            Addr::Udp(h) => (h.clone(), false),
            Addr::Unix(p) | Addr::Unixgram(p) => (p.display().to_string(), false),
        };
        let mut conn = Endpoint::dial(addr)
            .map_err(|e| format!("gelf: cannot connect to GELF endpoint: {hostport} {e}"))?;
        if tcp {
            let (max, delay) = reconnect(&spec.options)?;
            conn = conn.reconnecting(max, delay);
        }
        Gelf::with(conn, spec)
    }
}

impl<C: Conn> Gelf<C> {
    /// A writer over `conn`.
    pub fn with(conn: C, spec: &Spec) -> Result<Gelf<C>, String> {
        let addr = address(&spec.options)?;
        Ok(Gelf {
            conn,
            transport: transport(&addr, &spec.options)?,
            host: spec.info.hostname.clone(),
            extra: extra_fields(spec),
        })
    }

    /// One message's JSON.
    fn render(&self, m: &Message) -> String {
        let level = match m.stream {
            Stream::Stdout => 6,
            Stream::Stderr => 3,
        };
        let mut s = format!(
            "{{\"version\":\"1.1\",\"host\":{},\"short_message\":{},\"timestamp\":{},\"level\":{level}",
            crate::goval::json(&self.host),
            crate::goval::json(&String::from_utf8_lossy(m.line)),
            timestamp(m.time),
        );
        if !self.extra.is_empty() {
            s.push(',');
            s.push_str(&self.extra);
        }
        s.push('}');
        s
    }

    /// Send `json` as the transport wants it.
    fn send(&mut self, json: String) -> io::Result<()> {
        match self.transport {
            Transport::Tcp => {
                let mut bytes = json.into_bytes();
                bytes.push(0);
                self.conn.send(&bytes)
            }
            Transport::Udp { compress: c, level } => {
                let payload = compress(json.as_bytes(), c, level)?;
                let mut id = [0u8; 8];
                if payload.len() > CHUNK_SIZE {
                    berth_sys::random_bytes(&mut id)?;
                }
                for d in chunks(&payload, id).map_err(io::Error::other)? {
                    self.conn.send(&d)?;
                }
                Ok(())
            }
        }
    }
}

impl<C: Conn> Logger for Gelf<C> {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        if m.line.is_empty() {
            return Ok(());
        }
        let json = self.render(m);
        self.send(json)
            .map_err(|e| io::Error::other(format!("gelf: cannot send GELF message: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::Sent;
    use crate::Info;
    use std::io::Read;
    use std::time::UNIX_EPOCH;

    fn spec(kv: &[(&str, &str)]) -> Spec {
        Spec {
            driver: "gelf".into(),
            options: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            info: Info {
                id: "315ae5780d2f0f5f".into(),
                name: "web".into(),
                image_id: "sha256:abc".into(),
                image_name: "busybox".into(),
                command: "sh -c echo".into(),
                created: "2026-12-07T14:30:20.066316370Z".into(),
                hostname: "host1".into(),
                tag: "315ae5780d2f".into(),
                extra: [
                    ("team", "a<b"),
                    ("_raw", "kept"),
                    ("container_name", "label wins"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            },
            ..Spec::default()
        }
    }

    const UDP: (&str, &str) = ("gelf-address", "udp://127.0.0.1:12201");
    const TCP: (&str, &str) = ("gelf-address", "tcp://127.0.0.1:12201");

    fn msg(line: &[u8], stream: Stream) -> Message<'_> {
        Message {
            line,
            stream,
            time: UNIX_EPOCH + Duration::new(1_796_653_820, 66_916_370),
            partial: false,
        }
    }

    fn gunzip(b: &[u8]) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(b)
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn a_message_lays_out_as_dockerds() {
        let g = Gelf::with(Sent::default(), &spec(&[UDP])).unwrap();
        assert_eq!(
            g.render(&msg(b"hello \"you\" & <me>", Stream::Stdout)),
            concat!(
                r#"{"version":"1.1","host":"host1","short_message":"hello \"you\" \u0026 \u003cme\u003e","#,
                r#""timestamp":1796653820.066,"level":6,"_command":"sh -c echo","#,
                r#""_container_id":"315ae5780d2f0f5f","_container_name":"label wins","#,
                r#""_created":"2026-12-07T14:30:20.066316370Z","_image_id":"sha256:abc","#,
                r#""_image_name":"busybox","_raw":"kept","_tag":"315ae5780d2f","_team":"a\u003cb"}"#
            )
        );
        let j: serde_json::Value =
            serde_json::from_str(&g.render(&msg(b"oops", Stream::Stderr))).unwrap();
        assert_eq!(j["level"], 3);
        assert_eq!(j["short_message"], "oops");
    }

    #[test]
    fn timestamps_are_seconds_to_the_millisecond() {
        let t = |s, n| timestamp(UNIX_EPOCH + Duration::new(s, n));
        assert_eq!(t(1_796_653_820, 66_916_370), "1796653820.066");
        assert_eq!(t(1_796_653_820, 500_000_000), "1796653820.5");
        assert_eq!(t(1_796_653_820, 999_999), "1796653820");
    }

    #[test]
    fn udp_messages_are_compressed_as_asked() {
        let sent = Sent::default();
        let mut g = Gelf::with(sent.clone(), &spec(&[UDP])).unwrap();
        g.log(&msg(b"one", Stream::Stdout)).unwrap();
        g.log(&msg(b"", Stream::Stdout)).unwrap();
        let got = sent.take();
        assert_eq!(got.len(), 1, "empty lines are not sent");
        assert_eq!(&got[0][..2], &[0x1f, 0x8b]);
        assert_eq!(gunzip(&got[0]), g.render(&msg(b"one", Stream::Stdout)));

        let mut g = Gelf::with(
            sent.clone(),
            &spec(&[UDP, ("gelf-compression-type", "zlib")]),
        )
        .unwrap();
        g.log(&msg(b"two", Stream::Stdout)).unwrap();
        let got = sent.take();
        assert_eq!(got[0][0], 0x78);
        let mut s = String::new();
        flate2::read::ZlibDecoder::new(&got[0][..])
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, g.render(&msg(b"two", Stream::Stdout)));

        let mut g = Gelf::with(
            sent.clone(),
            &spec(&[
                UDP,
                ("gelf-compression-type", "none"),
                ("gelf-compression-level", "9"),
            ]),
        )
        .unwrap();
        let partial = Message {
            partial: true,
            ..msg(b"three", Stream::Stderr)
        };
        g.log(&partial).unwrap();
        assert_eq!(sent.take(), vec![g.render(&partial).into_bytes()]);
    }

    #[test]
    fn big_udp_messages_go_in_chunks() {
        let sent = Sent::default();
        let mut g = Gelf::with(
            sent.clone(),
            &spec(&[UDP, ("gelf-compression-type", "none")]),
        )
        .unwrap();
        let line = vec![b'x'; 4000];
        g.log(&msg(&line, Stream::Stdout)).unwrap();
        let got = sent.take();
        let json = g.render(&msg(&line, Stream::Stdout)).into_bytes();
        assert_eq!(got.len(), json.len().div_ceil(CHUNK_SIZE - CHUNK_HEAD));
        let mut whole = Vec::new();
        for (i, c) in got.iter().enumerate() {
            assert!(c.len() <= CHUNK_SIZE);
            assert_eq!(&c[..2], &CHUNK_MAGIC);
            assert_eq!(c[2..10], got[0][2..10], "one message id");
            assert_eq!((c[10], c[11]), (i as u8, got.len() as u8));
            whole.extend_from_slice(&c[CHUNK_HEAD..]);
        }
        assert_eq!(whole, json);

        // Exactly one datagram's worth is not chunked; over 128 chunks is refused.
        assert_eq!(chunks(&[7; CHUNK_SIZE], [0; 8]).unwrap().len(), 1);
        assert_eq!(chunks(&[7; CHUNK_SIZE + 1], [0; 8]).unwrap().len(), 2);
        let most = 128 * (CHUNK_SIZE - CHUNK_HEAD);
        assert_eq!(chunks(&vec![7; most], [0; 8]).unwrap().len(), 128);
        assert_eq!(
            chunks(&vec![7; most + 1], [0; 8]).unwrap_err(),
            "msg too large, would need 129 chunks"
        );
    }

    #[test]
    fn tcp_messages_are_plain_json_ending_in_nul() {
        let sent = Sent::default();
        let mut g = Gelf::with(sent.clone(), &spec(&[TCP])).unwrap();
        g.log(&msg(b"a", Stream::Stdout)).unwrap();
        let got = sent.take();
        let mut want = g.render(&msg(b"a", Stream::Stdout)).into_bytes();
        want.push(0);
        assert_eq!(got, vec![want]);
    }

    #[test]
    fn options_are_checked_as_dockerd_checks_them() {
        let v = |kv: &[(&str, &str)]| validate(&spec(kv).options);
        assert_eq!(v(&[UDP]), Ok(()));
        assert_eq!(
            v(&[
                UDP,
                ("gelf-compression-type", "zlib"),
                ("gelf-compression-level", "-1")
            ]),
            Ok(())
        );
        assert_eq!(
            v(&[
                TCP,
                ("gelf-tcp-max-reconnect", "5"),
                ("gelf-tcp-reconnect-delay", "0")
            ]),
            Ok(())
        );
        assert_eq!(v(&[("gelf-address", "tcp://[::1]:12201")]), Ok(()));
        assert_eq!(v(&[]), Err("gelf-address is a required parameter".into()));
        assert_eq!(
            v(&[("gelf-address", "http://127.0.0.1:12201")]),
            Err("gelf: endpoint needs to be TCP or UDP".into())
        );
        assert_eq!(
            v(&[("gelf-address", "graylog")]),
            Err("gelf: endpoint needs to be TCP or UDP".into())
        );
        assert_eq!(
            v(&[("gelf-address", "127.0.0.1:12201")]),
            Err("parse \"127.0.0.1:12201\": first path segment in URL cannot contain colon".into())
        );
        assert_eq!(
            v(&[("gelf-address", "udp://127.0.0.1:port")]),
            Err("parse \"udp://127.0.0.1:port\": invalid port \":port\" after host".into())
        );
        assert_eq!(
            v(&[("gelf-address", "udp://127.0.0.1")]),
            Err("gelf: please provide gelf-address as proto://host:port".into())
        );
        assert_eq!(
            v(&[TCP, ("gelf-compression-type", "gzip")]),
            Err("compression is only supported on UDP".into())
        );
        assert_eq!(
            v(&[UDP, ("gelf-compression-level", "10")]),
            Err(
                "unknown value \"10\" for log opt \"gelf-compression-level\" for gelf log driver"
                    .into()
            )
        );
        assert_eq!(
            v(&[UDP, ("gelf-compression-type", "rar")]),
            Err(
                "unknown value \"rar\" for log opt \"gelf-compression-type\" for gelf log driver"
                    .into()
            )
        );
        assert_eq!(
            v(&[UDP, ("gelf-tcp-max-reconnect", "1")]),
            Err("\"gelf-tcp-max-reconnect\" is only valid for TCP".into())
        );
        assert_eq!(
            v(&[TCP, ("gelf-tcp-reconnect-delay", "-3")]),
            Err("\"gelf-tcp-reconnect-delay\" must be a positive integer".into())
        );
        assert_eq!(
            v(&[UDP, ("gelf-bogus", "1")]),
            Err("unknown log opt \"gelf-bogus\" for gelf log driver".into())
        );
    }

    #[test]
    fn an_unreachable_tcp_endpoint_fails_the_open() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let addr = format!("tcp://127.0.0.1:{port}");
        let e = Gelf::open(&spec(&[("gelf-address", &addr)])).err().unwrap();
        assert_eq!(
            e,
            format!(
                "gelf: cannot connect to GELF endpoint: 127.0.0.1:{port} dial tcp 127.0.0.1:{port}: connect: connection refused"
            )
        );
    }
}
