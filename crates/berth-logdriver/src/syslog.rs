//! The `syslog` driver, as dockerd's: one message per line to `syslog-address` (`udp://`, `tcp://`,
//! `unix://`, `unixgram://`; without one, the host's `/dev/log`), facility `syslog-facility`
//! (default `daemon`), severity `info` for stdout and `err` for stderr, the `tag` (default the
//! short ID) as the program name, and dockerd's `syslog-format`s:
//!
//! - `` (default): `<PRI>Jan _2 15:04:05 TAG[PID]: LINE`
//! - `rfc3164`: `<PRI>Jan _2 15:04:05 HOSTNAME TAG[PID]: LINE`
//! - `rfc5424`: `<PRI>1 2006-01-02T15:04:05Z07:00 HOSTNAME TAG PID TAG - LINE`
//! - `rfc5424micro`: the same with microseconds.
//!
//! Each message ends in a newline; the stamps are in the host's local time. PID is the shim's (the
//! process that sends; dockerd's is the daemon's own). `tcp+tls://` takes dockerd's
//! `syslog-tls-ca-cert` (added to the host's CA bundle), `syslog-tls-cert` and `syslog-tls-key`
//! (a client certificate) and `syslog-tls-skip-verify` (present: the server is not verified); the
//! RFC 5424 formats are then framed by their length (RFC 5425), as dockerd frames them.

use crate::net::{self, Addr, Endpoint};
use crate::{Conn, Logger, Message, Spec, Stream};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// dockerd's facility names.
const FACILITIES: [(&str, u8); 20] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

const SCHEMES: [&str; 5] = ["unix", "unixgram", "udp", "tcp", "tcp+tls"];

/// The facility's number (dockerd's names, or 0-23).
fn facility(f: &str) -> Result<u8, String> {
    if f.is_empty() {
        return Ok(3);
    }
    if let Some((_, n)) = FACILITIES.iter().find(|(name, _)| *name == f) {
        return Ok(*n);
    }
    f.parse::<u8>()
        .ok()
        .filter(|n| *n <= 23)
        .ok_or_else(|| "invalid syslog facility".to_string())
}

/// The message layouts of `syslog-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Unix,
    Rfc3164,
    Rfc5424,
    Rfc5424Micro,
}

fn format(f: &str) -> Result<Format, String> {
    Ok(match f {
        "" => Format::Unix,
        "rfc3164" => Format::Rfc3164,
        "rfc5424" => Format::Rfc5424,
        "rfc5424micro" => Format::Rfc5424Micro,
        _ => return Err("Invalid syslog format".into()),
    })
}

/// The address option read as dockerd reads it (`None`: the host's local syslog).
fn address(opts: &BTreeMap<String, String>) -> Result<Option<Addr>, String> {
    let a = opts.get("syslog-address").map(String::as_str).unwrap_or("");
    if a.is_empty() {
        return Ok(None);
    }
    let addr = net::parse(a, &SCHEMES, 514)?;
    if let Addr::Unix(p) | Addr::Unixgram(p) = &addr {
        std::fs::metadata(p)
            .map_err(|e| format!("stat {}: {}", p.display(), crate::goval::io_error(&e)))?;
    }
    Ok(Some(addr))
}

/// dockerd's checks of the syslog options (the common ones already taken out).
pub fn validate(opts: &BTreeMap<String, String>) -> Result<(), String> {
    for k in opts.keys() {
        match k.as_str() {
            "syslog-address"
            | "syslog-facility"
            | "syslog-tls-ca-cert"
            | "syslog-tls-cert"
            | "syslog-tls-key"
            | "syslog-tls-skip-verify"
            | "syslog-format" => {}
            _ => return Err(format!("unknown log opt '{k}' for syslog log driver")),
        }
    }
    address(opts)?;
    facility(opts.get("syslog-facility").map_or("", String::as_str))?;
    format(opts.get("syslog-format").map_or("", String::as_str))?;
    Ok(())
}

/// The host's own syslog socket, as Go's syslog package looks for it.
fn local() -> Result<Endpoint, String> {
    for p in ["/dev/log", "/var/run/syslog", "/var/run/log"] {
        if !Path::new(p).exists() {
            continue;
        }
        for a in [Addr::Unixgram(p.into()), Addr::Unix(p.into())] {
            if let Ok(e) = Endpoint::dial(a) {
                return Ok(e);
            }
        }
    }
    Err("Unix syslog delivery error".into())
}

/// A container's syslog writer.
pub struct Syslog<C: Conn = Endpoint> {
    conn: C,
    facility: u8,
    format: Format,
    hostname: String,
    tag: String,
    pid: u32,
    /// Each message is preceded by its length and a space (RFC 5425's framing).
    octet_counted: bool,
}

impl Syslog {
    /// Connect as `spec` says.
    pub fn open(spec: &Spec) -> Result<Syslog, String> {
        let o = &spec.options;
        let conn = match address(o)? {
            Some(a @ Addr::Tls(_)) => {
                let path = |k: &str| o.get(k).filter(|v| !v.is_empty()).map(Path::new);
                let config = crate::tls::client_config(
                    path("syslog-tls-ca-cert"),
                    path("syslog-tls-cert"),
                    path("syslog-tls-key"),
                    // dockerd skips verification when the option is there at all.
                    o.contains_key("syslog-tls-skip-verify"),
                )?;
                // The name the user wrote, not the address berthd resolved it to.
                let written = spec
                    .names
                    .get("syslog-address")
                    .or(o.get("syslog-address"))
                    .map_or("", String::as_str);
                let server_name = match net::parse(written, &SCHEMES, 514)? {
                    Addr::Tls(hp) => net::host_of(&hp).to_string(),
                    _ => String::new(),
                };
                Endpoint::dial_tls(
                    a,
                    Some(net::Tls {
                        config,
                        server_name,
                    }),
                )?
            }
            Some(a) => Endpoint::dial(a)?,
            None => local()?,
        };
        let mut s = Syslog::with(conn, spec)?;
        // RFC 5425: over TLS, RFC 5424 messages are framed by their length.
        s.octet_counted = matches!(s.format, Format::Rfc5424 | Format::Rfc5424Micro)
            && o.get("syslog-address")
                .is_some_and(|a| a.starts_with("tcp+tls://"));
        Ok(s)
    }
}

impl<C: Conn> Syslog<C> {
    /// A writer over `conn`.
    pub fn with(conn: C, spec: &Spec) -> Result<Syslog<C>, String> {
        let o = &spec.options;
        Ok(Syslog {
            conn,
            facility: facility(o.get("syslog-facility").map_or("", String::as_str))?,
            format: format(o.get("syslog-format").map_or("", String::as_str))?,
            hostname: spec.info.hostname.clone(),
            tag: spec.info.tag.clone(),
            pid: std::process::id(),
            octet_counted: false,
        })
    }

    /// One message's bytes.
    fn render(&self, m: &Message, now: SystemTime, offset: i32) -> Vec<u8> {
        let severity = match m.stream {
            Stream::Stdout => 6,
            Stream::Stderr => 3,
        };
        let pri = u32::from(self.facility) << 3 | severity;
        let head = match self.format {
            Format::Unix => format!(
                "<{pri}>{} {}[{}]: ",
                berth_time::syslog_stamp(now, offset),
                self.tag,
                self.pid
            ),
            Format::Rfc3164 => format!(
                "<{pri}>{} {} {}[{}]: ",
                berth_time::syslog_stamp(now, offset),
                self.hostname,
                self.tag,
                self.pid
            ),
            Format::Rfc5424 | Format::Rfc5424Micro => format!(
                "<{pri}>1 {} {} {} {} {} - ",
                berth_time::rfc3339_offset(
                    now,
                    offset,
                    if self.format == Format::Rfc5424 { 0 } else { 6 }
                ),
                self.hostname,
                self.tag,
                self.pid,
                self.tag
            ),
        };
        let mut out = Vec::with_capacity(head.len() + m.line.len() + 1);
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(m.line);
        if !m.line.ends_with(b"\n") {
            out.push(b'\n');
        }
        if self.octet_counted {
            let mut framed = format!("{} ", out.len()).into_bytes();
            framed.extend_from_slice(&out);
            return framed;
        }
        out
    }
}

impl<C: Conn> Logger for Syslog<C> {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        if m.line.is_empty() {
            return Ok(());
        }
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let bytes = self.render(m, now, berth_sys::utc_offset(secs));
        self.conn.send(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::Sent;
    use crate::Info;
    use std::time::{Duration, UNIX_EPOCH};

    fn spec(kv: &[(&str, &str)]) -> Spec {
        Spec {
            driver: "syslog".into(),
            options: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            info: Info {
                hostname: "host1".into(),
                tag: "315ae5780d2f".into(),
                ..Info::default()
            },
            names: BTreeMap::new(),
            fifo: None,
        }
    }

    fn msg(line: &[u8], stream: Stream) -> Message<'_> {
        Message {
            line,
            stream,
            time: UNIX_EPOCH,
            partial: false,
        }
    }

    #[test]
    fn every_format_lays_out_as_dockerds() {
        let t = UNIX_EPOCH + Duration::new(1_796_653_820, 66_316_370);
        let line = |kv: &[(&str, &str)], stream| {
            let mut s = Syslog::with(Sent::default(), &spec(kv)).unwrap();
            s.pid = 42;
            String::from_utf8(s.render(&msg(b"hello", stream), t, 0)).unwrap()
        };
        assert_eq!(
            line(&[], Stream::Stdout),
            "<30>Dec  7 14:30:20 315ae5780d2f[42]: hello\n"
        );
        assert_eq!(
            line(&[("syslog-facility", "local3")], Stream::Stderr),
            "<155>Dec  7 14:30:20 315ae5780d2f[42]: hello\n"
        );
        assert_eq!(
            line(&[("syslog-format", "rfc3164")], Stream::Stdout),
            "<30>Dec  7 14:30:20 host1 315ae5780d2f[42]: hello\n"
        );
        assert_eq!(
            line(&[("syslog-format", "rfc5424")], Stream::Stdout),
            "<30>1 2026-12-07T14:30:20Z host1 315ae5780d2f 42 315ae5780d2f - hello\n"
        );
        assert_eq!(
            line(
                &[("syslog-format", "rfc5424micro"), ("syslog-facility", "7")],
                Stream::Stderr
            ),
            "<59>1 2026-12-07T14:30:20.066316Z host1 315ae5780d2f 42 315ae5780d2f - hello\n"
        );
    }

    #[test]
    fn rfc5424_over_tls_is_framed_by_its_length() {
        let t = UNIX_EPOCH + Duration::new(1_796_653_820, 0);
        let mut s = Syslog::with(Sent::default(), &spec(&[("syslog-format", "rfc5424")])).unwrap();
        s.pid = 42;
        s.octet_counted = true;
        let want = "<30>1 2026-12-07T14:30:20Z host1 315ae5780d2f 42 315ae5780d2f - hi\n";
        assert_eq!(
            String::from_utf8(s.render(&msg(b"hi", Stream::Stdout), t, 0)).unwrap(),
            format!("{} {want}", want.len())
        );
    }

    #[test]
    fn lines_go_out_one_message_each_and_empty_ones_not_at_all() {
        let sent = Sent::default();
        let mut s = Syslog::with(sent.clone(), &spec(&[])).unwrap();
        s.log(&msg(b"a", Stream::Stdout)).unwrap();
        s.log(&msg(b"", Stream::Stdout)).unwrap();
        s.log(&msg(b"b", Stream::Stderr)).unwrap();
        let got = sent.take();
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with(b"<30>") && got[0].ends_with(b"]: a\n"));
        assert!(got[1].starts_with(b"<27>") && got[1].ends_with(b"]: b\n"));
    }

    #[test]
    fn options_are_checked_as_dockerd_checks_them() {
        let v = |kv: &[(&str, &str)]| validate(&spec(kv).options);
        assert_eq!(v(&[("syslog-address", "udp://127.0.0.1")]), Ok(()));
        assert_eq!(
            v(&[("syslog-address", "http://127.0.0.1")]),
            Err("unsupported scheme: 'http'".into())
        );
        assert_eq!(
            v(&[("syslog-address", "unix:///nonexistent/log")]),
            Err("stat /nonexistent/log: no such file or directory".into())
        );
        assert_eq!(
            v(&[("syslog-facility", "24")]),
            Err("invalid syslog facility".into())
        );
        assert_eq!(
            v(&[("syslog-format", "json")]),
            Err("Invalid syslog format".into())
        );
        assert_eq!(v(&[("syslog-address", "tcp+tls://127.0.0.1")]), Ok(()));
        assert_eq!(
            v(&[("syslog-bogus", "1")]),
            Err("unknown log opt 'syslog-bogus' for syslog log driver".into())
        );
    }
}
