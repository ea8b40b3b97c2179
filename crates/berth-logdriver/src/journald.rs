//! The `journald` driver, as dockerd's: each line is one entry sent to systemd-journald's native
//! socket (`/run/systemd/journal/socket`), with `MESSAGE`, `PRIORITY` (6 for stdout, 3 for stderr)
//! and dockerd's fields: `CONTAINER_ID` (12 digits), `CONTAINER_ID_FULL`, `CONTAINER_NAME`,
//! `CONTAINER_TAG` and `SYSLOG_IDENTIFIER` (the tag, by default the short ID), `IMAGE_NAME`,
//! `SYSLOG_TIMESTAMP` (when the shim read the line), `CONTAINER_LOG_EPOCH` (random, one per run)
//! and `CONTAINER_LOG_ORDINAL` (1, 2, ... within it), `CONTAINER_PARTIAL_MESSAGE=true` for a line
//! without its newline, and the `labels`/`env` attributes with their names made journal field
//! names (upper case, other characters `_`, no leading `_`).
//!
//! The native protocol: one datagram per entry, `NAME=value\n` per field, or for a value holding a
//! newline `NAME\n`, its length as 8 bytes little-endian, the value and `\n`. Lines are at most
//! 16 KiB (the shim cuts them there), so an entry always fits a datagram.
//!
//! journald is not readable through berthd: `docker logs` reads the local copy, which is kept
//! even with `cache-disabled` (dockerd reads the journal itself, so its `logs` works there too).

use crate::net::{Addr, Endpoint};
use crate::{Conn, Logger, Message, Spec, Stream};
use std::collections::BTreeMap;
use std::io;

/// journald's native socket.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// dockerd's checks of the journald options (the common ones already taken out): it has none.
pub fn validate(opts: &BTreeMap<String, String>) -> Result<(), String> {
    match opts.keys().next() {
        Some(k) => Err(format!("unknown log opt '{k}' for journald log driver")),
        None => Ok(()),
    }
}

/// An attribute's name as a journal field's (dockerd's `sanitizeKeyMod`).
fn field_name(k: &str) -> String {
    let mut n = String::new();
    for c in k.chars() {
        let c = match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' => c,
            _ => '_',
        };
        if n.is_empty() && c == '_' {
            continue;
        }
        n.push(c);
    }
    n
}

/// One field in the native protocol.
fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// A container's journal writer.
pub struct Journald<C: Conn = Endpoint> {
    conn: C,
    /// The fields every entry carries.
    fields: Vec<(String, String)>,
    ordinal: u64,
}

impl Journald {
    /// Connect to the host's journald (`journald is not enabled on this host` without one).
    pub fn open(spec: &Spec) -> Result<Journald, String> {
        let conn = Endpoint::dial(Addr::Unixgram(SOCKET.into()))
            .map_err(|_| "journald is not enabled on this host".to_string())?;
        Ok(Journald::with(conn, spec))
    }
}

impl<C: Conn> Journald<C> {
    /// A writer over `conn`.
    pub fn with(conn: C, spec: &Spec) -> Journald<C> {
        let i = &spec.info;
        let epoch = crate::random_hex::<32>();
        let mut fields: Vec<(String, String)> = vec![
            (
                "CONTAINER_ID".into(),
                i.id.get(..12).unwrap_or(&i.id).into(),
            ),
            ("CONTAINER_ID_FULL".into(), i.id.clone()),
            ("CONTAINER_NAME".into(), i.name.clone()),
            ("CONTAINER_TAG".into(), i.tag.clone()),
            ("IMAGE_NAME".into(), i.image_name.clone()),
            ("SYSLOG_IDENTIFIER".into(), i.tag.clone()),
            ("CONTAINER_LOG_EPOCH".into(), epoch),
        ];
        for (k, v) in &i.extra {
            let name = field_name(k);
            if name.is_empty() {
                continue;
            }
            // An attribute named like one of dockerd's fields replaces it, as in dockerd's map.
            fields.retain(|(n, _)| *n != name);
            fields.push((name, v.clone()));
        }
        Journald {
            conn,
            fields,
            ordinal: 0,
        }
    }

    /// One entry's datagram.
    fn render(&mut self, m: &Message) -> Vec<u8> {
        self.ordinal += 1;
        let mut out = Vec::with_capacity(m.line.len() + 512);
        field(&mut out, "MESSAGE", m.line);
        let pri = match m.stream {
            Stream::Stdout => b"6",
            Stream::Stderr => b"3",
        };
        field(&mut out, "PRIORITY", pri);
        for (k, v) in &self.fields {
            field(&mut out, k, v.as_bytes());
        }
        field(
            &mut out,
            "SYSLOG_TIMESTAMP",
            berth_time::rfc3339_go(m.time).as_bytes(),
        );
        if m.partial {
            field(&mut out, "CONTAINER_PARTIAL_MESSAGE", b"true");
        }
        field(
            &mut out,
            "CONTAINER_LOG_ORDINAL",
            self.ordinal.to_string().as_bytes(),
        );
        out
    }
}

impl<C: Conn> Logger for Journald<C> {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let bytes = self.render(m);
        self.conn.send(&bytes)
    }
}

/// The fields of one datagram in the native protocol (for tests: berthd's and this crate's).
pub fn parse(mut d: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    while !d.is_empty() {
        let nl = d.iter().position(|&b| b == b'\n')?;
        let head = &d[..nl];
        if let Some(eq) = head.iter().position(|&b| b == b'=') {
            out.push((
                String::from_utf8_lossy(&head[..eq]).into_owned(),
                head[eq + 1..].to_vec(),
            ));
            d = &d[nl + 1..];
        } else {
            let rest = &d[nl + 1..];
            let len = usize::try_from(u64::from_le_bytes(rest.get(..8)?.try_into().ok()?)).ok()?;
            let value = rest.get(8..8 + len)?;
            if rest.get(8 + len) != Some(&b'\n') {
                return None;
            }
            out.push((String::from_utf8_lossy(head).into_owned(), value.to_vec()));
            d = &rest[9 + len..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::Sent;
    use crate::Info;
    use std::time::{Duration, UNIX_EPOCH};

    fn get<'a>(f: &'a [(String, Vec<u8>)], k: &str) -> Option<&'a [u8]> {
        f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_slice())
    }

    #[test]
    fn entries_carry_dockerds_fields_in_the_native_protocol() {
        let spec = Spec {
            driver: "journald".into(),
            info: Info {
                id: "315ae5780d2f71ee048e8fb10bbca293dd2d32fc3da3e225d633b0c236d89489".into(),
                name: "web".into(),
                image_name: "bb:1".into(),
                tag: "t-web".into(),
                extra: [("com.example.tier".to_string(), "front".to_string())].into(),
                ..Info::default()
            },
            ..Spec::default()
        };
        let sent = Sent::default();
        let mut j = Journald::with(sent.clone(), &spec);
        let t = UNIX_EPOCH + Duration::new(1_796_653_820, 66_316_370);
        for (line, stream, partial) in [
            (&b"hello"[..], Stream::Stdout, false),
            (&b"two\nlines"[..], Stream::Stderr, true),
        ] {
            j.log(&Message {
                line,
                stream,
                time: t,
                partial,
            })
            .unwrap();
        }
        let got: Vec<_> = sent.take().iter().map(|d| parse(d).unwrap()).collect();
        let a = &got[0];
        assert_eq!(get(a, "MESSAGE"), Some(&b"hello"[..]));
        assert_eq!(get(a, "PRIORITY"), Some(&b"6"[..]));
        assert_eq!(get(a, "CONTAINER_ID"), Some(&b"315ae5780d2f"[..]));
        assert_eq!(get(a, "CONTAINER_NAME"), Some(&b"web"[..]));
        assert_eq!(get(a, "CONTAINER_TAG"), Some(&b"t-web"[..]));
        assert_eq!(get(a, "SYSLOG_IDENTIFIER"), Some(&b"t-web"[..]));
        assert_eq!(get(a, "IMAGE_NAME"), Some(&b"bb:1"[..]));
        assert_eq!(get(a, "COM_EXAMPLE_TIER"), Some(&b"front"[..]));
        assert_eq!(
            get(a, "SYSLOG_TIMESTAMP"),
            Some(&b"2026-12-07T14:30:20.06631637Z"[..])
        );
        assert_eq!(get(a, "CONTAINER_LOG_ORDINAL"), Some(&b"1"[..]));
        assert_eq!(get(a, "CONTAINER_PARTIAL_MESSAGE"), None);
        let b = &got[1];
        // A value with a newline goes in the binary form.
        assert_eq!(get(b, "MESSAGE"), Some(&b"two\nlines"[..]));
        assert_eq!(get(b, "PRIORITY"), Some(&b"3"[..]));
        assert_eq!(get(b, "CONTAINER_PARTIAL_MESSAGE"), Some(&b"true"[..]));
        assert_eq!(get(b, "CONTAINER_LOG_ORDINAL"), Some(&b"2"[..]));
        assert_eq!(get(a, "CONTAINER_LOG_EPOCH"), get(b, "CONTAINER_LOG_EPOCH"));
        assert_eq!(get(a, "CONTAINER_LOG_EPOCH").unwrap().len(), 64);
    }

    #[test]
    fn names_and_options_as_dockerd() {
        assert_eq!(field_name("com.example-x"), "COM_EXAMPLE_X");
        assert_eq!(field_name("_private"), "PRIVATE");
        assert_eq!(validate(&BTreeMap::new()), Ok(()));
        assert_eq!(
            validate(&[("journald-x".to_string(), "1".to_string())].into()),
            Err("unknown log opt 'journald-x' for journald log driver".into())
        );
    }
}
