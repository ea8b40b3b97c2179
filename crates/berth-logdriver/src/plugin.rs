//! Log driver plugins (dockerd's `LogDriver` interface): berthd makes a FIFO and tells the plugin
//! its path (`LogDriver.StartLogging`); the shim writes every line to it as a `LogEntry` protobuf
//! preceded by its length, a 4-byte big-endian integer (dockerd's `logdriver` stream format).
//!
//! The message is encoded here by hand: `source` (1, string), `time_nano` (2, int64), `line` (3,
//! bytes), `partial` (4, bool) and `partial_log_metadata` (5: `last` 1, `id` 2, `ordinal` 3), zero
//! values left out as proto3 does. As in dockerd, every piece of a line cut into pieces carries the
//! metadata (one random id per line, ordinals from 1, `last` on the piece that ends it) and
//! `partial`, the last piece included.
//!
//! The FIFO is opened for reading and writing, as dockerd opens it: the open never waits for the
//! plugin, and a plugin that goes away does not make writes fail; a plugin that stops reading
//! makes them wait once the pipe is full (`mode=non-blocking` keeps the container from waiting).

use crate::{Conn, Logger, Message, Stream};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

/// The FIFO of a plugin, written one frame at a time.
pub struct Fifo(File);

impl Fifo {
    /// Open the FIFO at `path` (berthd made it and holds it open, so this does not wait).
    pub fn open(path: &Path) -> io::Result<Fifo> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        if !f.metadata()?.file_type().is_fifo() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a FIFO", path.display()),
            ));
        }
        Ok(Fifo(f))
    }
}

impl Conn for Fifo {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
}

/// The pieces of a cut line so far on one stream: its id and the last ordinal given.
struct Pieces {
    id: String,
    ordinal: i32,
}

/// A plugin's logger: frames every message onto its connection.
pub struct Plugin {
    conn: Box<dyn Conn>,
    /// Per stream (stdout, stderr): the line being cut into pieces, if one is.
    pieces: [Option<Pieces>; 2],
    new_id: fn() -> String,
}

impl Plugin {
    /// A logger writing to `conn`.
    pub fn new(conn: Box<dyn Conn>) -> Plugin {
        Plugin {
            conn,
            pieces: [None, None],
            new_id: crate::random_hex::<32>,
        }
    }

    /// The logger of the FIFO at `path`.
    pub fn open(path: &Path) -> Result<Plugin, String> {
        let f = Fifo::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
        Ok(Plugin::new(Box::new(f)))
    }
}

impl Logger for Plugin {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let slot = &mut self.pieces[match m.stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }];
        let meta = if m.partial || slot.is_some() {
            let p = slot.get_or_insert_with(|| Pieces {
                id: (self.new_id)(),
                ordinal: 0,
            });
            p.ordinal = p.ordinal.saturating_add(1);
            let meta = Meta {
                last: !m.partial,
                id: p.id.clone(),
                ordinal: p.ordinal,
            };
            if !m.partial {
                *slot = None;
            }
            Some(meta)
        } else {
            None
        };
        self.conn.send(&frame(m, meta.as_ref()))
    }
}

/// `PartialLogEntryMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    last: bool,
    id: String,
    ordinal: i32,
}

/// One message as the plugin reads it: the length of the entry (4 bytes, big-endian), then the
/// `LogEntry`.
fn frame(m: &Message, meta: Option<&Meta>) -> Vec<u8> {
    let time_nano = m
        .time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let mut e = Vec::with_capacity(m.line.len() + 64);
    bytes_field(&mut e, 1, m.stream.name().as_bytes());
    varint_field(&mut e, 2, time_nano as u64);
    bytes_field(&mut e, 3, m.line);
    varint_field(&mut e, 4, u64::from(meta.is_some()));
    if let Some(meta) = meta {
        let mut p = Vec::with_capacity(80);
        varint_field(&mut p, 1, u64::from(meta.last));
        bytes_field(&mut p, 2, meta.id.as_bytes());
        // int32: a negative one is sign-extended to 64 bits, as protobuf encodes it.
        varint_field(&mut p, 3, i64::from(meta.ordinal) as u64);
        key(&mut e, 5, 2);
        varint(&mut e, p.len() as u64);
        e.extend_from_slice(&p);
    }
    // A line is at most 16 KiB (the shim cuts longer ones): the length fits.
    let len = u32::try_from(e.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(4 + e.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&e);
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// A varint field, left out when zero (proto3).
fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(out, field, 0);
        varint(out, v);
    }
}

/// A length-delimited field, left out when empty (proto3).
fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    if !b.is_empty() {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::Sent;
    use std::io::Read;
    use std::time::{Duration, SystemTime};

    fn msg(line: &[u8], stream: Stream, partial: bool) -> Message<'_> {
        Message {
            line,
            stream,
            time: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            partial,
        }
    }

    /// A protobuf message read back: (field, wire type, value) with varints as numbers and
    /// length-delimited fields as bytes.
    #[derive(Debug, PartialEq)]
    enum Val {
        Int(u64),
        Bytes(Vec<u8>),
    }

    fn read_varint(b: &[u8], i: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let x = b[*i];
            *i += 1;
            v |= u64::from(x & 0x7f) << shift;
            if x < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    fn fields(b: &[u8]) -> Vec<(u64, Val)> {
        let (mut i, mut out) = (0, Vec::new());
        while i < b.len() {
            let k = read_varint(b, &mut i);
            let v = match k & 7 {
                0 => Val::Int(read_varint(b, &mut i)),
                2 => {
                    let n = read_varint(b, &mut i) as usize;
                    i += n;
                    Val::Bytes(b[i - n..i].to_vec())
                }
                t => panic!("wire type {t}"),
            };
            out.push((k >> 3, v));
        }
        out
    }

    /// The entries of a stream of frames.
    fn entries(mut b: &[u8]) -> Vec<Vec<(u64, Val)>> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let n = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
            out.push(fields(&b[4..4 + n]));
            b = &b[4 + n..];
        }
        out
    }

    #[test]
    fn each_line_is_a_length_prefixed_log_entry() {
        let sent = Sent::default();
        let mut p = Plugin::new(Box::new(sent.clone()));
        p.log(&msg(b"hello", Stream::Stdout, false)).unwrap();
        p.log(&msg(b"", Stream::Stderr, false)).unwrap();
        let frames = sent.take();
        assert_eq!(frames.len(), 2);
        // The exact bytes of the first: what a protobuf library makes of the same entry.
        let mut want = vec![0, 0, 0, 25];
        want.extend_from_slice(b"\x0a\x06stdout");
        want.extend_from_slice(b"\x10\x95\x9a\x97\xec\xe3\x9f\xe7\xcb\x17");
        want.extend_from_slice(b"\x1a\x05hello");
        assert_eq!(frames[0], want);
        assert_eq!(
            entries(&frames[1]),
            vec![vec![
                (1, Val::Bytes(b"stderr".to_vec())),
                (2, Val::Int(1_700_000_000_123_456_789)),
            ]]
        );
    }

    #[test]
    fn a_cut_line_carries_its_pieces_metadata() {
        let sent = Sent::default();
        let mut p = Plugin::new(Box::new(sent.clone()));
        p.new_id = || "id1".to_string();
        p.log(&msg(b"aa", Stream::Stdout, true)).unwrap();
        p.log(&msg(b"whole", Stream::Stderr, false)).unwrap();
        p.log(&msg(b"bb", Stream::Stdout, true)).unwrap();
        p.log(&msg(b"cc", Stream::Stdout, false)).unwrap();
        p.log(&msg(b"next", Stream::Stdout, false)).unwrap();
        let all: Vec<_> = sent.take().iter().flat_map(|f| entries(f)).collect();
        let meta = |e: &Vec<(u64, Val)>| {
            e.iter().find(|(f, _)| *f == 5).map(|(_, v)| match v {
                Val::Bytes(b) => fields(b),
                Val::Int(_) => panic!("metadata is a message"),
            })
        };
        let partial = |e: &Vec<(u64, Val)>| e.contains(&(4, Val::Int(1)));
        let id = (2, Val::Bytes(b"id1".to_vec()));
        assert!(partial(&all[0]));
        assert_eq!(meta(&all[0]), Some(vec![id, (3, Val::Int(1))]));
        assert!(!partial(&all[1]) && meta(&all[1]).is_none());
        let id = (2, Val::Bytes(b"id1".to_vec()));
        assert_eq!(meta(&all[2]), Some(vec![id, (3, Val::Int(2))]));
        // The piece that ends the line: partial too, and last.
        assert!(partial(&all[3]));
        let id = (2, Val::Bytes(b"id1".to_vec()));
        assert_eq!(
            meta(&all[3]),
            Some(vec![(1, Val::Int(1)), id, (3, Val::Int(3))])
        );
        assert!(!partial(&all[4]) && meta(&all[4]).is_none());
    }

    #[test]
    fn frames_reach_a_reader_of_the_fifo() {
        let dir = std::env::temp_dir().join(format!("berth-logfifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Opened for reading and writing: the open waits for no reader, and lets one open.
        let mut p = Plugin::open(&path).unwrap();
        let mut r = OpenOptions::new().read(true).open(&path).unwrap();
        let now = SystemTime::now();
        p.log(&Message {
            line: b"out",
            stream: Stream::Stdout,
            time: now,
            partial: false,
        })
        .unwrap();
        let mut len = [0u8; 4];
        r.read_exact(&mut len).unwrap();
        let mut e = vec![0u8; u32::from_be_bytes(len) as usize];
        r.read_exact(&mut e).unwrap();
        let f = fields(&e);
        assert_eq!(f[0], (1, Val::Bytes(b"stdout".to_vec())));
        assert_eq!(f[2], (3, Val::Bytes(b"out".to_vec())));
        assert!(Plugin::open(&dir).is_err(), "a directory is no FIFO");
        drop((p, r));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
