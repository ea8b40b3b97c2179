//! Streaming endpoints: `logs` (the json-file log, framed, optionally followed) and `resize`; `attach`
//! is in [`super::attach`].

use crate::containers::logfile;
use crate::containers::model::Status;
use crate::containers::registry::FollowerDone;
use crate::containers::shim::{self, Paths};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Query, Resp};
use bytes::Bytes;
use hyper::StatusCode;
use std::borrow::Cow;
use std::sync::Arc;

fn stream_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// What a log read wants.
#[derive(Clone)]
pub struct LogOpts {
    /// Stdout lines.
    pub stdout: bool,
    /// Stderr lines.
    pub stderr: bool,
    /// Each line prefixed with its time.
    pub timestamps: bool,
    /// Each line prefixed with its attributes (`--details`).
    pub details: bool,
    /// Without the 8-byte stream headers.
    pub tty: bool,
    /// Lines from then on.
    pub since: Option<std::time::SystemTime>,
    /// Lines up to then.
    pub until: Option<std::time::SystemTime>,
}

impl LogOpts {
    /// Whether lines of `stream` (1 stdout, 2 stderr) are wanted.
    fn wants(&self, stream: u8) -> bool {
        (stream == 1 && self.stdout) || (stream == 2 && self.stderr)
    }
}

/// The whole log at `path`, rotated files first, as frames in chunks of about [`BATCH`] bytes (what
/// `attach?logs=1` replays; nothing with the `none` driver, which writes no file). Read on a
/// blocking thread that stays a few chunks ahead of the receiver, so a large log is never held in
/// memory; dropping the receiver stops it.
pub fn log_stream(path: &std::path::Path, o: &LogOpts) -> tokio::sync::mpsc::Receiver<Bytes> {
    let (path, o) = (path.to_path_buf(), o.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut batch = Framer::new(false);
        logfile::replay(&path, None, &|_| true, &mut |l| {
            batch.push_line(l, &o);
            batch.len() < BATCH || tx.blocking_send(batch.take()).is_ok()
        });
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch.take());
        }
    });
    rx
}

/// `since`/`until` as the CLI sends them: unix seconds with optional fraction (`1700000000.5`).
fn unix_time(q: &Query, k: &str) -> ApiResult<Option<std::time::SystemTime>> {
    match q.get(k) {
        None | Some("") | Some("0") => Ok(None),
        Some(v) => {
            let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
            let bad = || ApiError::BadRequest(format!("invalid value for {k}: {v:?}"));
            let secs: u64 = secs.parse().map_err(|_| bad())?;
            let nanos: u32 = format!("{frac:0<9}")[..9].parse().map_err(|_| bad())?;
            Ok(Some(
                std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos),
            ))
        }
    }
}

/// One line of the json-file log (the shim's fields; borrowed unless the text has escapes).
#[derive(serde::Deserialize)]
struct Entry<'a> {
    #[serde(borrow, default)]
    log: Cow<'a, str>,
    #[serde(borrow, default)]
    stream: Cow<'a, str>,
    #[serde(borrow, default)]
    time: Cow<'a, str>,
    /// The json-file driver's extra attributes (sorted by key, as `details` prints them).
    #[serde(default)]
    attrs: Option<std::collections::BTreeMap<String, String>>,
    /// `details`: `key=value,...` and a space (only the space without attributes), as dockerd
    /// prints them: sorted by key, each side query-escaped.
    #[serde(skip)]
    details: String,
}

impl Entry<'_> {
    fn stream(&self) -> u8 {
        if self.stream == "stderr" {
            2
        } else {
            1
        }
    }
}

/// The line if it parses and `o` wants it (its stream, within since/until).
fn wanted<'a>(line: &'a [u8], o: &LogOpts) -> Option<Entry<'a>> {
    let e: Entry = serde_json::from_slice(line).ok()?;
    let stream = e.stream();
    if !o.wants(stream) {
        return None;
    }
    if o.since.is_some() || o.until.is_some() {
        let t = crate::time::parse_rfc3339(&e.time)?;
        if o.since.is_some_and(|s| t < s) || o.until.is_some_and(|u| t > u) {
            return None;
        }
    }
    let mut e = e;
    if o.details {
        e.details = details(e.attrs.as_ref());
    }
    Some(e)
}

/// The shim's own layout of a line without attributes, `{"log":"...","stream":"stdout|stderr",
/// "time":"..."}`: the log's JSON string as written (escaped), its stream and its time. `None` for
/// any other line (with `attrs`, another order, a control byte): [`wanted`] parses those. Reading
/// the whole log takes this path for nearly every line: no parse into a struct, no string made
/// per line (the newline every line ends with is an escape), the text unescaped straight into the
/// frame ([`unescape_into`]).
fn plain_line(line: &[u8]) -> Option<(&[u8], u8, &[u8])> {
    let rest = line.strip_prefix(b"{\"log\":\"")?;
    let mut i = 0;
    let log_end = loop {
        let j = i + rest[i..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        match rest[j] {
            b'"' => break j,
            // An escape: its next byte is not the string's end.
            b'\\' if j + 1 < rest.len() => i = j + 2,
            _ => return None,
        }
    };
    let (log, rest) = (&rest[..log_end], &rest[log_end..]);
    let (stream, rest) = if let Some(r) = rest.strip_prefix(b"\",\"stream\":\"stdout\",\"time\":\"")
    {
        (1, r)
    } else {
        (
            2,
            rest.strip_prefix(b"\",\"stream\":\"stderr\",\"time\":\"")?,
        )
    };
    let time = rest.strip_suffix(b"\"}")?;
    (!time.iter().any(|&b| b == b'"' || b == b'\\')).then_some((log, stream, time))
}

/// Append the text of a JSON string's body (`raw`, as [`plain_line`] found it) to `out`, its
/// escapes undone; `None` (with `out` as it was) for an escape JSON does not have or a lone
/// surrogate, which serde refuses too.
fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    let mut rest = raw;
    let undo = |out: &mut Vec<u8>| {
        out.truncate(start);
        None
    };
    while let Some(i) = rest.iter().position(|&b| b == b'\\') {
        out.extend_from_slice(&rest[..i]);
        let Some(&c) = rest.get(i + 1) else {
            return undo(out);
        };
        rest = &rest[i + 2..];
        let b = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hex = |r: &[u8]| -> Option<u32> {
                    let h = std::str::from_utf8(r.get(..4)?).ok()?;
                    u32::from_str_radix(h, 16).ok()
                };
                let Some(mut cp) = hex(rest) else {
                    return undo(out);
                };
                rest = &rest[4..];
                if (0xD800..0xDC00).contains(&cp) {
                    let low = rest.strip_prefix(b"\\u").and_then(hex);
                    match low {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            rest = &rest[6..];
                        }
                        _ => return undo(out),
                    }
                } else if (0xDC00..0xE000).contains(&cp) {
                    return undo(out);
                }
                let Some(ch) = char::from_u32(cp) else {
                    return undo(out);
                };
                let mut enc = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut enc).as_bytes());
                continue;
            }
            _ => return undo(out),
        };
        out.push(b);
    }
    out.extend_from_slice(rest);
    Some(())
}

/// The `--details` prefix of a line with these attributes.
fn details(attrs: Option<&std::collections::BTreeMap<String, String>>) -> String {
    let mut s = String::new();
    for (i, (k, v)) in attrs.into_iter().flatten().enumerate() {
        if i > 0 {
            s.push(',');
        }
        query_escape(k, &mut s);
        s.push('=');
        query_escape(v, &mut s);
    }
    s.push(' ');
    s
}

/// Go's `url.QueryEscape`: unreserved characters as they are, a space as `+`, the other bytes as
/// `%XX`.
fn query_escape(v: &str, out: &mut String) {
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// The payload's length: the line with its prefixes.
fn payload_len(e: &Entry, o: &LogOpts) -> usize {
    e.log.len() + e.details.len() + if o.timestamps { e.time.len() + 1 } else { 0 }
}

/// Append the frame of a wanted line to `out`.
fn push_frame(e: &Entry, o: &LogOpts, out: &mut Vec<u8>) {
    let len = payload_len(e, o);
    if !o.tty {
        out.extend_from_slice(&[e.stream(), 0, 0, 0]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    push_payload(e, o, out);
}

fn push_payload(e: &Entry, o: &LogOpts, out: &mut Vec<u8>) {
    if o.timestamps {
        out.extend_from_slice(e.time.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(e.details.as_bytes());
    out.extend_from_slice(e.log.as_bytes());
}

/// The most payload one merged frame carries.
const MERGED_FRAME: usize = 32 << 10;

/// Frames of wanted lines, built into a chunk. With `merge`, a line goes into the frame before it
/// when that frame is of the same stream and stays under [`MERGED_FRAME`] bytes: a frame then holds
/// whole lines, several of them. The stream format promises no line per frame (dockerd's own attach
/// frames are whatever the program wrote), and a client pays for every frame (the docker CLI makes a
/// write per frame: 1.2 s of its time for a 50 MiB log of 200-byte lines, 0.2 s with merged frames).
/// `docker logs -f` (and docker-py's `logs(stream=True)`, which follows) keeps a frame per line.
struct Framer {
    buf: Vec<u8>,
    /// Where the last frame's header starts in `buf`, and its stream, while it can take more.
    open: Option<(usize, u8)>,
    merge: bool,
}

impl Framer {
    fn new(merge: bool) -> Framer {
        Framer {
            buf: Vec::new(),
            open: None,
            merge,
        }
    }

    fn push(&mut self, e: &Entry, o: &LogOpts) {
        if !self.merge || o.tty {
            return push_frame(e, o, &mut self.buf);
        }
        let add = payload_len(e, o);
        let stream = e.stream();
        match self.open {
            Some((at, s)) if s == stream && self.buf.len() - at - 8 + add <= MERGED_FRAME => {
                push_payload(e, o, &mut self.buf);
                let len = (self.buf.len() - at - 8) as u32;
                self.buf[at + 4..at + 8].copy_from_slice(&len.to_be_bytes());
            }
            _ => {
                self.open = Some((self.buf.len(), stream));
                push_frame(e, o, &mut self.buf);
            }
        }
    }

    /// Frame one line of the log if `o` wants it: a plain line of the shim's ([`plain_line`])
    /// without a parse when no option needs its time or attributes, any other through serde.
    fn push_line(&mut self, line: &[u8], o: &LogOpts) {
        if !o.details && o.since.is_none() && o.until.is_none() {
            if let Some((log, stream, time)) = plain_line(line) {
                if !o.wants(stream) || self.push_plain(log, stream, time, o) {
                    return;
                }
            }
        }
        if let Some(e) = wanted(line, o) {
            self.push(&e, o);
        }
    }

    /// [`Framer::push`] of a line [`plain_line`] split (`log` still escaped); false if its text
    /// does not unescape (nothing was added: the caller parses the line instead).
    fn push_plain(&mut self, log: &[u8], stream: u8, time: &[u8], o: &LogOpts) -> bool {
        let prefix = if o.timestamps { time.len() + 1 } else { 0 };
        // The text is at most as long as its escaped form: the merge test takes that bound.
        let fits = |at: usize, buf: &[u8]| buf.len() - at - 8 + prefix + log.len() <= MERGED_FRAME;
        let (at, mark) = match self.open {
            Some((at, s)) if self.merge && !o.tty && s == stream && fits(at, &self.buf) => {
                (Some(at), self.buf.len())
            }
            _ => {
                let mark = self.buf.len();
                if !o.tty {
                    self.buf.extend_from_slice(&[stream, 0, 0, 0, 0, 0, 0, 0]);
                }
                (None, mark)
            }
        };
        if o.timestamps {
            self.buf.extend_from_slice(time);
            self.buf.push(b' ');
        }
        if unescape_into(log, &mut self.buf).is_none() {
            self.buf.truncate(mark);
            return false;
        }
        if !o.tty {
            let header = at.unwrap_or(mark);
            let len = (self.buf.len() - header - 8) as u32;
            self.buf[header + 4..header + 8].copy_from_slice(&len.to_be_bytes());
            if self.merge && at.is_none() {
                self.open = Some((mark, stream));
            }
        }
        true
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The chunk so far; the next line starts a new frame.
    fn take(&mut self) -> Bytes {
        self.open = None;
        Bytes::from(std::mem::take(&mut self.buf))
    }
}

/// How many bytes of frames go out in one chunk.
const BATCH: usize = 64 << 10;

/// The frames of the lines in `buf`, in chunks of about [`BATCH`] bytes.
fn batches(buf: &[u8], o: &LogOpts) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut batch = Framer::new(false);
    for l in buf.split(|b| *b == b'\n') {
        batch.push_line(l, o);
        if batch.len() >= BATCH {
            out.push(batch.take());
        }
    }
    if !batch.is_empty() {
        out.push(batch.take());
    }
    out
}

/// `GET /containers/{id}/logs?stdout=&stderr=&follow=&tail=&timestamps=&details=`.
pub async fn logs(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    if !c.spec.log.readable() {
        return Err(ApiError::NotImplemented(
            "configured logging driver does not support reading".into(),
        ));
    }
    let o = LogOpts {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        timestamps: q.bool("timestamps"),
        details: q.bool("details"),
        tty: c.spec.tty,
        since: unix_time(q, "since")?,
        until: unix_time(q, "until")?,
    };
    if !o.stdout && !o.stderr {
        return Err(ApiError::BadRequest(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    // A negative count is every line, as dockerd takes it.
    let tail: Option<usize> = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(n) => usize::try_from(
            n.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid tail {n:?}")))?,
        )
        .ok(),
    };
    let follow = q.bool("follow");
    let path = Paths::new(d, &c.id, &c.runtime).log;
    // The files are opened before the answer: a client that removes the container next still
    // gets every line written before.
    let snapshot = tokio::task::spawn_blocking(move || logfile::Snapshot::open(&path))
        .await
        .map_err(ApiError::internal)?;
    let (tx, resp) = http::streamed(StatusCode::OK, stream_type(o.tty));
    let d = d.clone();
    let id = c.id.clone();
    tokio::spawn(async move {
        // The log so far, streamed from a blocking thread through a bounded buffer.
        let (o2, tx2) = (o.clone(), tx.clone());
        let replayed = tokio::task::spawn_blocking(move || {
            let mut batch = Framer::new(!follow);
            let keep = |l: &[u8]| wanted(l, &o2).is_some();
            let cursor = snapshot.replay(tail, &keep, &mut |l| {
                batch.push_line(l, &o2);
                batch.len() < BATCH || tx2.blocking_send(batch.take()).is_ok()
            })?;
            (batch.is_empty() || tx2.blocking_send(batch.take()).is_ok()).then_some(cursor)
        })
        .await;
        let Ok(Some(mut cursor)) = replayed else {
            return;
        };
        if !follow {
            return;
        }
        // Woken at the exit (which waits for this to pass on the last lines before `die`); the
        // sender it then holds is dropped when this returns.
        let mut exit = d.containers.follow_exit(&id);
        let mut _done: Option<FollowerDone> = None;
        loop {
            let running = d
                .containers
                .get(&id)
                .map(|c| c.state.status == Status::Running)
                .unwrap_or(false);
            let buf = cursor.read_new().await;
            for b in batches(&buf, &o) {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
            // A read takes a bounded chunk: read on at once when it was full, and until nothing is
            // left once the container stopped.
            let full = buf.len() as u64 >= logfile::FOLLOW_CHUNK / 2;
            if !buf.is_empty() && (full || !running) {
                continue;
            }
            if !running {
                // Until the client's connection has taken what is queued (briefly).
                for _ in 0..50 {
                    if tx.capacity() == tx.max_capacity() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                return;
            }
            let woken = async {
                match exit.as_mut() {
                    Some(rx) => rx.await.ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                _ = tx.closed() => return,
                done = woken => {
                    exit = None;
                    _done = done;
                }
            }
        }
    });
    Ok(resp)
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize(d: &Arc<Daemon>, key: &str, q: &Query) -> ApiResult<Resp> {
    let c = d.containers.get(key)?;
    let dim = |k: &str| -> ApiResult<u16> {
        q.int(k)?
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| ApiError::BadRequest(format!("invalid or missing {k}")))
    };
    let (h, w) = (dim("h")?, dim("w")?);
    if c.state.status != Status::Running {
        return Err(ApiError::Conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    let p = Paths::new(d, &c.id, &c.runtime);
    shim::resize(&p.socket, h, w)
        .await
        .map_err(|e| ApiError::BadRequest(format!("resize: {e}")))?;
    d.events.container(
        &c,
        "resize",
        &[("height", h.to_string()), ("width", w.to_string())],
    );
    Ok(http::empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames of `lines` through the plain path where it applies, and through serde alone.
    fn both_ways(lines: &[&[u8]], o: &LogOpts, merge: bool) -> (Vec<u8>, Vec<u8>, usize) {
        let (mut fast, mut slow, mut plain) = (Framer::new(merge), Framer::new(merge), 0);
        for l in lines {
            let took = match plain_line(l) {
                Some((_, st, _)) if !o.wants(st) => true,
                Some((log, st, time)) => fast.push_plain(log, st, time, o),
                None => false,
            };
            if took {
                plain += 1;
            } else if let Some(e) = wanted(l, o) {
                fast.push(&e, o);
            }
            if let Some(e) = wanted(l, o) {
                slow.push(&e, o);
            }
        }
        (fast.take().to_vec(), slow.take().to_vec(), plain)
    }

    #[test]
    fn plain_lines_frame_as_parsed_ones() {
        let lines: Vec<&[u8]> = vec![
            br#"{"log":"hello\n","stream":"stdout","time":"2026-12-05T10:00:00.000000001Z"}"#,
            br#"{"log":"tab\t quote \" slash \/ back \\ \u00e9 \ud83d\ude00 \u0001\r\n","stream":"stderr","time":"T2"}"#,
            br#"{"log":"no newline","stream":"stderr","time":"T3"}"#,
            br#"{"log":"","stream":"stdout","time":"T4"}"#,
            br#"{"log":"with attrs\n","stream":"stdout","attrs":{"a":"1"},"time":"T5"}"#,
            br#"{"stream":"stdout","log":"reordered\n","time":"T6"}"#,
            br#"{"log":"lone \udc00 surrogate","stream":"stdout","time":"T7"}"#,
            br#"{"log":"bad \x escape","stream":"stdout","time":"T8"}"#,
            b"not json at all",
            "{\"log\":\"utf8 \u{e9} raw\",\"stream\":\"stdout\",\"time\":\"T9\"}".as_bytes(),
            br#"{"log":"tail\n","stream":"stdout","time":"T10"}"#,
        ];
        let opts = |stdout, stderr, timestamps, tty| LogOpts {
            stdout,
            stderr,
            timestamps,
            details: false,
            tty,
            since: None,
            until: None,
        };
        for o in [
            opts(true, true, false, false),
            opts(true, true, true, false),
            opts(true, false, false, false),
            opts(false, true, true, false),
            opts(true, true, true, true),
        ] {
            for merge in [true, false] {
                let (fast, slow, plain) = both_ways(&lines, &o, merge);
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&slow),
                    "merge {merge}, timestamps {}, tty {}",
                    o.timestamps,
                    o.tty
                );
                // Every line in the shim's layout took the plain path, and so did an unwanted
                // stream's (dropped unparsed); the lone surrogate and the bad escape of a wanted
                // stream fell back (and serde drops them too).
                let expected = if o.stdout { 6 } else { 8 };
                assert_eq!(plain, expected, "stdout {} merge {merge}", o.stdout);
            }
        }
        let mut out = Vec::new();
        assert!(unescape_into(br"a\u00e9\ud83d\ude00\n", &mut out).is_some());
        assert_eq!(out, "a\u{e9}\u{1F600}\n".as_bytes());
        out.clear();
        assert!(unescape_into(br"cut \", &mut out).is_none());
        assert!(out.is_empty());
    }

    #[test]
    fn details_print_the_attributes_as_dockerd_does() {
        let o = LogOpts {
            stdout: true,
            stderr: true,
            timestamps: true,
            details: true,
            tty: true,
            since: None,
            until: None,
        };
        let line = br#"{"log":"hi\n","stream":"stdout","attrs":{"a":"1","F":"a b&c=d,\u00e9~*","tag":"x/y"},"time":"T"}"#;
        let mut out = Vec::new();
        push_frame(&wanted(line, &o).unwrap(), &o, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "T F=a+b%26c%3Dd%2C%C3%A9~%2A,a=1,tag=x%2Fy hi\n"
        );
        // Without attributes: only the space; without `details`: nothing.
        let plain = br#"{"log":"hi\n","stream":"stdout","time":"T"}"#;
        let mut out = Vec::new();
        push_frame(&wanted(plain, &o).unwrap(), &o, &mut out);
        assert_eq!(out, b"T  hi\n");
        let o = LogOpts {
            details: false,
            timestamps: false,
            tty: false,
            ..o
        };
        let mut out = Vec::new();
        push_frame(&wanted(line, &o).unwrap(), &o, &mut out);
        assert_eq!(out, b"\x01\0\0\0\0\0\0\x03hi\n");
    }
}
