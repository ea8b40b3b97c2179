//! The `splunk` driver, as dockerd's: each line an event of Splunk's HTTP Event Collector,
//! posted in batches to `<splunk-url>/services/collector/event/1.0` with the header
//! `Authorization: Splunk <splunk-token>` (both options required).
//!
//! An event is `{"event": ..., "time": "secs.micros", "host": ..., "source": ...,
//! "sourcetype": ..., "index": ...}` (the last three from `splunk-source`, `splunk-sourcetype` and
//! `splunk-index`, left out when not given). `splunk-format` says what the event is:
//! - `inline` (the default): `{"line": "...", "source": "stdout", "tag": ..., "attrs": {...}}`,
//!   the tag left out when the `tag` option is empty, the attributes (`labels`, `env` and their
//!   `-regex` forms) when there are none;
//! - `json`: the same, with `line` the line's JSON value when the line is JSON;
//! - `raw`: a string, the tag and each attribute `k=v` followed by a space, then the line
//!   (whitespace-only lines are not sent).
//!
//! The events of a batch are concatenated in one POST body (gzip with `splunk-gzip`, at
//! `splunk-gzip-level`). As dockerd's, a batch goes when it reaches 1000 events or on a timer, and
//! when the container's output ends; a failed one stays for the next try until 10 000 events
//! wait, then the oldest batch is dropped (written to the shim's log). The timer is 1 s rather
//! than dockerd's 5 s: the shim keeps a container's driver only briefly after its exit. dockerd's
//! `SPLUNK_LOGGING_DRIVER_POST_MESSAGES_FREQUENCY`, `..._BATCH_SIZE`, `..._BUFFER_MAX` and
//! `..._CHANNEL_SIZE` variables in the shim's environment change these.
//!
//! With `splunk-verify-connection` (the default) the start sends an `OPTIONS` request to the
//! collector's URL and fails unless it answers 200. `https://` URLs use TLS: `splunk-capath` a CA
//! file added to the host's, `splunk-caname` the name the certificate must carry (by default the
//! URL's host), `splunk-insecureskipverify` no verification.
//! `splunk-index-acknowledgment` sends a random `X-Splunk-Request-Channel` with each batch.

use crate::goval;
use crate::http::{Client, Request};
use crate::net::{self, Addr, Endpoint};
use crate::{Conn, Logger, Message, Spec};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The options of this driver (the common ones aside).
const KEYS: [&str; 13] = [
    "splunk-url",
    "splunk-token",
    "splunk-source",
    "splunk-sourcetype",
    "splunk-index",
    "splunk-capath",
    "splunk-caname",
    "splunk-insecureskipverify",
    "splunk-format",
    "splunk-verify-connection",
    "splunk-gzip",
    "splunk-gzip-level",
    "splunk-index-acknowledgment",
];

/// Where the events go, below the URL's host.
const PATH: &str = "/services/collector/event/1.0";
/// How often held events are posted (dockerd's is 5 s).
const DEFAULT_FREQUENCY: Duration = Duration::from_secs(1);
const DEFAULT_BATCH: usize = 1000;
const DEFAULT_BUFFER_MAX: usize = 10 * DEFAULT_BATCH;
/// Events waiting for the sender before a line waits for room.
const DEFAULT_CHANNEL: usize = 4 * DEFAULT_BATCH;
/// The most of an answer's body an error quotes.
const MAX_RESPONSE: usize = 1024;
/// A read or write on the connection.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the end of the output waits for the last batch (the shim allows 10 s).
const CLOSE_WAIT: Duration = Duration::from_secs(8);

/// dockerd's checks at create: the keys only (the values are read at start).
pub fn validate(opts: &BTreeMap<String, String>) -> Result<(), String> {
    match opts.keys().find(|k| !KEYS.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown log opt '{k}' for splunk log driver")),
        None => Ok(()),
    }
}

/// `splunk-url` as Go's `url.Parse` and dockerd's checks read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    https: bool,
    /// Without an IPv6 address's brackets.
    host: String,
    port: u16,
    /// `host[:port]` as written (the `Host` header).
    authority: String,
}

impl Url {
    /// The collector's URL.
    fn collector(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{PATH}", self.authority)
    }

    /// `host:port`, an IPv6 host in brackets.
    fn hostport(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn parse_url(s: &str) -> Result<Url, String> {
    let parse_err = || format!("splunk: failed to parse {s} as url value in splunk-url");
    let format_err =
        || "splunk: expected format scheme://dns_name_or_ip:port for splunk-url".into();
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(parse_err());
    }
    let scheme_len = s
        .bytes()
        .enumerate()
        .find(|(i, b)| !(b.is_ascii_alphabetic() || *i > 0 && b"0123456789+-.".contains(b)))
        .map(|(i, _)| i);
    let (scheme, rest) = match scheme_len {
        Some(0) if s.starts_with(':') => return Err(parse_err()),
        Some(i) if i > 0 && s.as_bytes()[i] == b':' => (s[..i].to_ascii_lowercase(), &s[i + 1..]),
        // No scheme: a relative URL, refused, or unparseable with a colon in its first segment.
        _ => {
            let first = s.split('/').next().unwrap_or(s);
            return Err(if first.contains(':') {
                parse_err()
            } else {
                format_err()
            });
        }
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(format_err());
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (h, after) = inner.split_once(']').ok_or_else(parse_err)?;
        let port = match after {
            "" => "",
            p => p.strip_prefix(':').ok_or_else(parse_err)?,
        };
        (h, port)
    } else {
        authority.rsplit_once(':').unwrap_or((authority, ""))
    };
    if !port.bytes().all(|b| b.is_ascii_digit())
        || host.contains([' ', '"', '<', '>', '\\', '^', '`', '{', '|', '}'])
    {
        return Err(parse_err());
    }
    if !matches!(scheme.as_str(), "http" | "https")
        || !(path.is_empty() || path == "/")
        || !query.is_empty()
        || !fragment.is_empty()
        || host.is_empty()
    {
        return Err(format_err());
    }
    let https = scheme == "https";
    let port = match port {
        "" if https => 443,
        "" => 80,
        p => p.parse::<u16>().map_err(|_| format_err())?,
    };
    Ok(Url {
        https,
        host: host.to_string(),
        port,
        authority: authority.trim_end_matches(':').to_string(),
    })
}

/// The URL with its host name resolved, as `scheme://ip:port` (berthd calls this before the shim,
/// which cannot resolve names, reads it); URLs with an address, and ones that do not parse (the
/// shim reports those), stay as they are.
pub fn resolve(url: &str) -> Result<String, String> {
    match parse_url(url) {
        Ok(u) if u.host.parse::<IpAddr>().is_err() => {
            let scheme = if u.https { "https" } else { "http" };
            Ok(format!(
                "{scheme}://{}",
                net::resolve_hostport(&u.hostport())?
            ))
        }
        _ => Ok(url.to_string()),
    }
}

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Inline,
    Json,
    Raw,
}

fn format(opts: &BTreeMap<String, String>) -> Result<Format, String> {
    match opts.get("splunk-format").map_or("inline", String::as_str) {
        "inline" => Ok(Format::Inline),
        "json" => Ok(Format::Json),
        "raw" => Ok(Format::Raw),
        f => Err(format!(
            "unknown format specified {f}, supported formats are inline, json and raw"
        )),
    }
}

/// The settings of one container's driver, read in dockerd's order (the format is read after the
/// connection is verified, as dockerd reads it).
struct Config {
    /// Where to connect (berthd resolved the host).
    target: Url,
    /// As the user wrote it: the `Host` header, the TLS name, the URL in errors.
    named: Url,
    token: String,
    tls: Option<net::Tls>,
    gzip: Option<u32>,
    index_ack: bool,
    verify: bool,
}

fn config(spec: &Spec) -> Result<Config, String> {
    let opts = &spec.options;
    let url = opts
        .get("splunk-url")
        .ok_or("splunk: splunk-url is expected")?;
    let target = parse_url(url)?;
    let named = match spec.names.get("splunk-url").map(|u| parse_url(u)) {
        Some(Ok(u)) => u,
        _ => target.clone(),
    };
    let token = opts
        .get("splunk-token")
        .ok_or("splunk: splunk-token is expected")?
        .clone();
    // It goes in a header: a line break there would end the header (Go's client refuses it too).
    if token.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return Err("net/http: invalid header field value for \"Authorization\"".into());
    }
    let skip_verify = match opts.get("splunk-insecureskipverify") {
        Some(v) => goval::parse_bool(v)?,
        None => false,
    };
    let ca = opts.get("splunk-capath").map(std::path::Path::new);
    if let Some(ca) = ca {
        std::fs::File::open(ca)
            .map_err(|e| format!("open {}: {}", ca.display(), goval::io_error(&e)))?;
    }
    let server_name = opts
        .get("splunk-caname")
        .cloned()
        .unwrap_or_else(|| named.host.clone());
    let tls = if target.https {
        Some(net::Tls {
            config: crate::tls::client_config(ca, None, None, skip_verify)?,
            server_name,
        })
    } else {
        None
    };
    let gzip = match opts.get("splunk-gzip") {
        Some(v) => goval::parse_bool(v)?,
        None => false,
    };
    let level = match opts.get("splunk-gzip-level") {
        None => -1,
        Some(v) => {
            let n = goval::parse_int32(v)?;
            if !(-1..=9).contains(&n) {
                return Err(format!(
                    "not supported level '{v}' for splunk-gzip-level (supported values between -1 and 9)"
                ));
            }
            n
        }
    };
    let index_ack = match opts.get("splunk-index-acknowledgment") {
        Some(v) => goval::parse_bool(v)?,
        None => false,
    };
    let verify = match opts.get("splunk-verify-connection") {
        Some(v) => goval::parse_bool(v)?,
        None => true,
    };
    let level = u32::try_from(level).unwrap_or_else(|_| Compression::default().level());
    Ok(Config {
        target,
        named,
        token,
        tls,
        gzip: gzip.then_some(level),
        index_ack,
        verify,
    })
}

/// How events are batched (dockerd's defaults, its variables in the environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timing {
    frequency: Duration,
    batch: usize,
    buffer_max: usize,
    channel: usize,
}

impl Timing {
    fn from_env() -> Timing {
        let var = |k: &str| std::env::var(format!("SPLUNK_LOGGING_DRIVER_{k}")).ok();
        let int = |k: &str, default: usize| {
            var(k)
                .and_then(|v| goval::parse_int32(&v).ok())
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let frequency = var("POST_MESSAGES_FREQUENCY")
            .and_then(|v| goval::parse_duration(&v).ok())
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0)
            .map_or(DEFAULT_FREQUENCY, Duration::from_nanos);
        Timing {
            frequency,
            batch: int("POST_MESSAGES_BATCH_SIZE", DEFAULT_BATCH),
            buffer_max: int("BUFFER_MAX", DEFAULT_BUFFER_MAX),
            channel: int("CHANNEL_SIZE", DEFAULT_CHANNEL),
        }
    }
}

/// `line` as the JSON value it is, compacted as Go's encoder writes a `json.RawMessage`; `None`
/// when it is not JSON.
fn compact_json(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        goval::push_json_char(&mut out, c);
    }
    Some(out)
}

/// Seconds since the epoch with six decimals, as dockerd's `%f`.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let micros = (d.as_nanos() + 500) / 1000;
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// Makes each line's event.
struct Events {
    format: Format,
    /// The event's fields after `source` (`,"tag":..,"attrs":{..}}`).
    event_tail: String,
    /// The message's fields after `time` (`,"host":..[,"source":..]..}`).
    tail: String,
    /// raw: the tag and attributes before the line.
    prefix: Vec<u8>,
}

impl Events {
    fn new(spec: &Spec, format: Format) -> Events {
        let opts = &spec.options;
        // An empty `tag` option leaves the tag out.
        let tag = if opts.get("tag").is_some_and(|t| t.is_empty()) {
            ""
        } else {
            spec.info.tag.as_str()
        };
        let attrs = &spec.info.extra;
        let mut event_tail = String::new();
        if !tag.is_empty() {
            event_tail.push_str(&format!(",\"tag\":{}", goval::json(&tag)));
        }
        if !attrs.is_empty() {
            event_tail.push_str(&format!(",\"attrs\":{}", goval::json(attrs)));
        }
        event_tail.push('}');
        let mut tail = format!(",\"host\":{}", goval::json(&spec.info.hostname));
        for (k, field) in [
            ("splunk-source", "source"),
            ("splunk-sourcetype", "sourcetype"),
            ("splunk-index", "index"),
        ] {
            if let Some(v) = opts.get(k).filter(|v| !v.is_empty()) {
                tail.push_str(&format!(",\"{field}\":{}", goval::json(v)));
            }
        }
        tail.push('}');
        let mut prefix = Vec::new();
        if !tag.is_empty() {
            prefix.extend_from_slice(tag.as_bytes());
            prefix.push(b' ');
        }
        for (k, v) in attrs {
            prefix.extend_from_slice(format!("{k}={v} ").as_bytes());
        }
        Events {
            format,
            event_tail,
            tail,
            prefix,
        }
    }

    /// The message of `m`, or `None` when it is not sent.
    fn render(&self, m: &Message) -> Option<String> {
        let text = String::from_utf8_lossy(m.line);
        let line = match self.format {
            Format::Raw => {
                if text.trim().is_empty() {
                    return None;
                }
                let mut raw = self.prefix.clone();
                raw.extend_from_slice(m.line);
                let event = goval::json(&String::from_utf8_lossy(&raw));
                return Some(self.message(&event, m.time));
            }
            Format::Json => compact_json(m.line).unwrap_or_else(|| goval::json(&text)),
            Format::Inline => goval::json(&text),
        };
        let event = format!(
            "{{\"line\":{line},\"source\":\"{}\"{}",
            m.stream.name(),
            self.event_tail
        );
        Some(self.message(&event, m.time))
    }

    fn message(&self, event: &str, time: SystemTime) -> String {
        format!(
            "{{\"event\":{event},\"time\":\"{}\"{}",
            timestamp(time),
            self.tail
        )
    }
}

/// A random UUID (version 4), for index acknowledgment's channel.
fn uuid() -> io::Result<String> {
    let mut b = [0u8; 16];
    berth_sys::random_bytes(&mut b)?;
    b[6] = b[6] & 0x0f | 0x40;
    b[8] = b[8] & 0x3f | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// Posts batches of events to the collector.
struct Poster<C: Conn> {
    http: Client<C>,
    /// The collector's URL as the user wrote it (errors name it).
    url: String,
    auth: String,
    gzip: Option<u32>,
    index_ack: bool,
    batch: usize,
    buffer_max: usize,
    /// The last post failed (reported; the next failures are not, until one succeeds).
    failing: bool,
}

impl<C: Conn> Poster<C> {
    fn new(conn: C, c: &Config, t: Timing) -> Poster<C> {
        Poster {
            http: Client::new(conn, &c.named.authority),
            url: c.named.collector(),
            auth: format!("Splunk {}", c.token),
            gzip: c.gzip,
            index_ack: c.index_ack,
            batch: t.batch.max(1),
            buffer_max: t.buffer_max,
            failing: false,
        }
    }

    /// dockerd's check at start: `OPTIONS` on the collector, answered 200.
    fn verify(&mut self) -> Result<(), String> {
        let req = Request {
            method: "OPTIONS",
            path: PATH,
            headers: &[],
            body: b"",
        };
        let r = self
            .http
            .request(&req, MAX_RESPONSE)
            .map_err(|e| format!("Options {:?}: {}", self.url, goval::io_error(&e)))?;
        if r.code != 200 {
            return Err(format!(
                "splunk: failed to verify connection - {} - {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        Ok(())
    }

    /// The body of a batch: the events back to back, compressed with `splunk-gzip`.
    fn body(&self, events: &[String]) -> io::Result<Vec<u8>> {
        let size = events.iter().map(String::len).sum();
        let Some(level) = self.gzip else {
            let mut body = Vec::with_capacity(size);
            for e in events {
                body.extend_from_slice(e.as_bytes());
            }
            return Ok(body);
        };
        let mut gz = GzEncoder::new(Vec::with_capacity(size / 4 + 32), Compression::new(level));
        for e in events {
            gz.write_all(e.as_bytes())?;
        }
        gz.finish()
    }

    /// Post one batch.
    fn try_post(&mut self, events: &[String]) -> Result<(), String> {
        if events.is_empty() {
            return Ok(());
        }
        let body = self.body(events).map_err(|e| e.to_string())?;
        let channel = if self.index_ack {
            Some(uuid().map_err(|e| e.to_string())?)
        } else {
            None
        };
        let mut headers = vec![("Authorization", self.auth.as_str())];
        if self.gzip.is_some() {
            headers.push(("Content-Encoding", "gzip"));
        }
        if let Some(c) = &channel {
            headers.push(("X-Splunk-Request-Channel", c.as_str()));
        }
        let req = Request {
            method: "POST",
            path: PATH,
            headers: &headers,
            body: &body,
        };
        let r = self
            .http
            .request(&req, MAX_RESPONSE)
            .map_err(|e| format!("Post {:?}: {}", self.url, goval::io_error(&e)))?;
        if r.code != 200 {
            return Err(format!(
                "splunk: failed to send event - {} - {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        Ok(())
    }

    /// Post `events` in batches, as dockerd's `postMessages`: what is left to try again (after a
    /// failure; the oldest batch is dropped when `buffer_max` wait, and all on the `last` try).
    fn post(&mut self, events: Vec<String>, last: bool) -> Vec<String> {
        let len = events.len();
        let mut i = 0;
        while i < len {
            let upper = (i + self.batch).min(len);
            if let Err(e) = self.try_post(&events[i..upper]) {
                if !self.failing {
                    eprintln!("splunk: error while sending logs: {e}");
                    self.failing = true;
                }
                if len - i >= self.buffer_max || last {
                    let upper = if last { len } else { upper };
                    for ev in &events[i..upper] {
                        eprintln!("splunk: failed to send a message: {ev}");
                    }
                    return events[upper..].to_vec();
                }
                return events[i..].to_vec();
            }
            self.failing = false;
            i = upper;
        }
        Vec::new()
    }
}

/// The events on their way from the container's lines to the sender thread.
struct Queue {
    state: Mutex<QueueState>,
    wake: Condvar,
    /// Events waiting before a line waits for room.
    capacity: usize,
}

#[derive(Default)]
struct QueueState {
    events: VecDeque<String>,
    /// The output ended: post what is held, then stop.
    closing: bool,
    /// The sender stopped.
    done: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, event: String) -> io::Result<()> {
        let mut st = self.lock();
        while !st.closing && st.events.len() >= self.capacity {
            st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.closing {
            return Err(io::Error::other("splunk: driver is closed"));
        }
        st.events.push_back(event);
        self.wake.notify_all();
        Ok(())
    }

    /// The sender: batches posted when full, every `frequency`, and at the end.
    fn run<C: Conn>(&self, mut poster: Poster<C>, frequency: Duration) {
        let mut held: Vec<String> = Vec::new();
        let mut tick = Instant::now() + frequency;
        loop {
            let (new, closing) = {
                let mut st = self.lock();
                while st.events.is_empty() && !st.closing {
                    let left = tick.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    st = self
                        .wake
                        .wait_timeout(st, left)
                        .map_or_else(|e| e.into_inner().0, |(g, _)| g);
                }
                (st.events.drain(..).collect::<Vec<_>>(), st.closing)
            };
            self.wake.notify_all();
            for ev in new {
                held.push(ev);
                if held.len().is_multiple_of(poster.batch) {
                    held = poster.post(std::mem::take(&mut held), false);
                }
            }
            if closing {
                poster.post(held, true);
                break;
            }
            if Instant::now() >= tick {
                held = poster.post(std::mem::take(&mut held), false);
                tick = Instant::now() + frequency;
            }
        }
        self.lock().done = true;
        self.wake.notify_all();
    }

    /// Tell the sender the output ended and give it a while to post what it holds (once: a second
    /// close, the drop after the shim's, does not wait again).
    fn close(&self) {
        let deadline = Instant::now() + CLOSE_WAIT;
        let mut st = self.lock();
        if st.closing {
            return;
        }
        st.closing = true;
        self.wake.notify_all();
        while !st.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .wake
                .wait_timeout(st, left)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    }
}

/// A container's splunk writer: its lines' events go to a sender thread.
pub struct Splunk {
    events: Events,
    queue: Arc<Queue>,
}

impl Splunk {
    /// Read the options and verify the connection as dockerd does, then start the sender.
    pub fn open(spec: &Spec) -> Result<Splunk, String> {
        let c = config(spec)?;
        let addr = if c.target.https {
            Addr::Tls(c.target.hostport())
        } else {
            Addr::Tcp(c.target.hostport())
        };
        let conn = Endpoint::unconnected(addr)
            .with_tls(c.tls.clone())
            .with_timeouts(Some(IO_TIMEOUT), Some(IO_TIMEOUT));
        let timing = Timing::from_env();
        let mut poster = Poster::new(conn, &c, timing);
        if c.verify {
            poster
                .http
                .conn()
                .connect()
                .map_err(|e| format!("Options {:?}: {e}", poster.url))?;
            poster.verify()?;
        }
        let format = format(&spec.options)?;
        Ok(Splunk::start(poster, Events::new(spec, format), timing))
    }

    fn start<C: Conn + 'static>(poster: Poster<C>, events: Events, t: Timing) -> Splunk {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState::default()),
            wake: Condvar::new(),
            capacity: t.channel.max(1),
        });
        let sender = queue.clone();
        std::thread::spawn(move || sender.run(poster, t.frequency));
        Splunk { events, queue }
    }
}

impl Logger for Splunk {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        match self.events.render(m) {
            Some(ev) => self.queue.push(ev),
            None => Ok(()),
        }
    }

    fn close(&mut self) {
        self.queue.close();
    }
}

impl Drop for Splunk {
    fn drop(&mut self) {
        self.queue.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tests::Server;
    use crate::{Info, Stream};
    use std::io::Read;

    const OK: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{\"text\":\"Success\",\"code\":0}";

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spec(kv: &[(&str, &str)]) -> Spec {
        let mut o = opts(&[
            ("splunk-url", "http://127.0.0.1:8088"),
            ("splunk-token", "tok"),
        ]);
        o.extend(opts(kv));
        Spec {
            driver: "splunk".into(),
            options: o,
            info: Info {
                id: "315ae5780d2f".repeat(5) + "abcd",
                name: "web".into(),
                hostname: "box".into(),
                tag: "315ae5780d2f".into(),
                extra: [("app".to_string(), "shop".to_string())].into(),
                ..Info::default()
            },
            ..Spec::default()
        }
    }

    fn msg(line: &[u8], stream: Stream) -> Message<'_> {
        Message {
            line,
            stream,
            time: UNIX_EPOCH + Duration::from_nanos(1_796_653_820_250_000_400),
            partial: false,
        }
    }

    fn render(kv: &[(&str, &str)], line: &[u8]) -> Option<serde_json::Value> {
        let s = spec(kv);
        let e = Events::new(&s, format(&s.options).unwrap());
        e.render(&msg(line, Stream::Stdout))
            .map(|j| serde_json::from_str(&j).unwrap())
    }

    #[test]
    fn inline_events_carry_the_line_its_source_tag_and_attributes() {
        let s = spec(&[("splunk-source", "src"), ("splunk-index", "main")]);
        let e = Events::new(&s, Format::Inline);
        assert_eq!(
            e.render(&msg(b"a<b", Stream::Stderr)).unwrap(),
            "{\"event\":{\"line\":\"a\\u003cb\",\"source\":\"stderr\",\"tag\":\"315ae5780d2f\",\"attrs\":{\"app\":\"shop\"}},\"time\":\"1796653820.250000\",\"host\":\"box\",\"source\":\"src\",\"index\":\"main\"}"
        );
        // No tag with an empty `tag`, no attributes without any, no empty line left out.
        let mut s = spec(&[("tag", "")]);
        s.info.extra.clear();
        let e = Events::new(&s, Format::Inline);
        assert_eq!(
            e.render(&msg(b"", Stream::Stdout)).unwrap(),
            "{\"event\":{\"line\":\"\",\"source\":\"stdout\"},\"time\":\"1796653820.250000\",\"host\":\"box\"}"
        );
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_nanos(1_999_999_600)),
            "2.000000"
        );
    }

    #[test]
    fn json_events_carry_the_lines_value_when_it_is_json() {
        let v = render(&[("splunk-format", "json")], b" {\"a\": [1, \"b c\"]} ").unwrap();
        assert_eq!(v["event"]["line"], serde_json::json!({"a": [1, "b c"]}));
        let v = render(&[("splunk-format", "json")], b"notajson").unwrap();
        assert_eq!(v["event"]["line"], "notajson");
        assert_eq!(v["event"]["source"], "stdout");
        assert_eq!(
            compact_json(b"{ \"k\" : \"x <y> \\\" z\" }").unwrap(),
            "{\"k\":\"x \\u003cy\\u003e \\\" z\"}"
        );
        assert_eq!(compact_json(b"{\"a\":"), None);
        assert_eq!(compact_json(b""), None);
    }

    #[test]
    fn raw_events_are_the_prefixed_line() {
        let v = render(
            &[("splunk-format", "raw"), ("splunk-sourcetype", "st")],
            b"hi",
        )
        .unwrap();
        assert_eq!(v["event"], "315ae5780d2f app=shop hi");
        assert_eq!(v["sourcetype"], "st");
        assert_eq!(render(&[("splunk-format", "raw")], b" \t "), None);
        assert_eq!(
            format(&opts(&[("splunk-format", "xml")])),
            Err("unknown format specified xml, supported formats are inline, json and raw".into())
        );
    }

    #[test]
    fn options_are_checked_as_dockerd_checks_them() {
        assert_eq!(
            validate(&opts(&[("splunk-url", "x"), ("splunk-gzip", "x")])),
            Ok(())
        );
        assert_eq!(
            validate(&opts(&[("splunk-nope", "1")])),
            Err("unknown log opt 'splunk-nope' for splunk log driver".into())
        );
        let err = |kv: &[(&str, &str)]| config(&spec(kv)).err().unwrap();
        let mut s = spec(&[]);
        s.options.remove("splunk-url");
        assert_eq!(config(&s).err().unwrap(), "splunk: splunk-url is expected");
        let mut s = spec(&[]);
        s.options.remove("splunk-token");
        assert_eq!(
            config(&s).err().unwrap(),
            "splunk: splunk-token is expected"
        );
        let format_err = "splunk: expected format scheme://dns_name_or_ip:port for splunk-url";
        for u in [
            "/x",
            "ftp://h",
            "http://h/x",
            "http://h?x=1",
            "http://h#f",
            "http://",
            "h",
        ] {
            assert_eq!(err(&[("splunk-url", u)]), format_err, "{u}");
        }
        for u in [
            "127.0.0.1:8088/x",
            "http://h:x",
            "://h",
            "http://[::1",
            "http://h h",
            "1:2",
        ] {
            assert_eq!(
                err(&[("splunk-url", u)]),
                format!("splunk: failed to parse {u} as url value in splunk-url"),
                "{u}"
            );
        }
        assert_eq!(
            err(&[("splunk-token", "a\r\nX-Evil: 1")]),
            "net/http: invalid header field value for \"Authorization\""
        );
        assert_eq!(
            err(&[("splunk-gzip", "yes")]),
            "strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(
            err(&[("splunk-gzip-level", "x")]),
            "strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            err(&[("splunk-gzip-level", "10")]),
            "not supported level '10' for splunk-gzip-level (supported values between -1 and 9)"
        );
        assert_eq!(
            err(&[("splunk-capath", "/nonexistent/ca.pem")]),
            "open /nonexistent/ca.pem: no such file or directory"
        );
        let c = config(&spec(&[
            ("splunk-url", "https://[::1]/"),
            ("splunk-gzip", "true"),
            ("splunk-verify-connection", "false"),
            ("splunk-caname", "splunk.local"),
        ]))
        .unwrap();
        assert_eq!(c.target.hostport(), "[::1]:443");
        assert_eq!(
            c.named.collector(),
            "https://[::1]/services/collector/event/1.0"
        );
        assert_eq!(c.tls.unwrap().server_name, "splunk.local");
        assert_eq!((c.gzip, c.verify), (Some(6), false));
    }

    #[test]
    fn names_resolve_and_the_written_url_names_the_server() {
        assert_eq!(
            resolve("http://127.0.0.1:1"),
            Ok("http://127.0.0.1:1".into())
        );
        assert_eq!(resolve("not a url"), Ok("not a url".into()));
        let r = resolve("https://localhost").unwrap();
        assert!(
            r == "https://127.0.0.1:443" || r == "https://[::1]:443",
            "{r}"
        );
        let mut s = spec(&[("splunk-url", &r)]);
        s.names
            .insert("splunk-url".into(), "https://localhost".into());
        let c = config(&s).unwrap();
        assert_eq!(c.named.authority, "localhost");
        assert_eq!(c.tls.unwrap().server_name, "localhost");
        assert_eq!(c.target.port, 443);
    }

    fn poster(
        server: &Server,
        kv: &[(&str, &str)],
        batch: usize,
        buffer_max: usize,
    ) -> Poster<Server> {
        let t = Timing {
            frequency: Duration::from_secs(3600),
            batch,
            buffer_max,
            channel: 100,
        };
        Poster::new(server.clone(), &config(&spec(kv)).unwrap(), t)
    }

    #[test]
    fn a_batch_is_one_post_with_the_token() {
        let s = Server::answering(&[OK]);
        let mut p = poster(&s, &[], 10, 100);
        assert!(p
            .post(vec!["{\"a\":1}".into(), "{\"b\":2}".into()], false)
            .is_empty());
        assert_eq!(
            s.requests(),
            [b"POST /services/collector/event/1.0 HTTP/1.1\r\nHost: 127.0.0.1:8088\r\nUser-Agent: berth\r\nContent-Length: 14\r\nAuthorization: Splunk tok\r\n\r\n{\"a\":1}{\"b\":2}".to_vec()]
        );
    }

    #[test]
    fn gzip_bodies_say_so_and_index_acks_name_a_channel() {
        let s = Server::answering(&[OK]);
        let mut p = poster(
            &s,
            &[
                ("splunk-gzip", "true"),
                ("splunk-gzip-level", "9"),
                ("splunk-index-acknowledgment", "true"),
            ],
            10,
            100,
        );
        assert!(p.post(vec!["{\"a\":1}".into()], false).is_empty());
        let req = s.requests().remove(0);
        let split = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&req[..split]).to_string();
        assert!(head.contains("\r\nContent-Encoding: gzip"), "{head}");
        let channel = head
            .lines()
            .find_map(|l| l.strip_prefix("X-Splunk-Request-Channel: "))
            .unwrap();
        assert_eq!((channel.len(), &channel[14..15]), (36, "4"));
        let mut body = String::new();
        flate2::read::GzDecoder::new(&req[split + 4..])
            .read_to_string(&mut body)
            .unwrap();
        assert_eq!(body, "{\"a\":1}");
    }

    #[test]
    fn failed_batches_wait_for_the_next_try_until_the_buffer_is_full() {
        let busy: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy";
        let s = Server::answering(&[busy, OK, OK, busy]);
        let mut p = poster(&s, &[], 2, 4);
        let evs = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
        assert_eq!(
            p.try_post(&evs(1)),
            Err("splunk: failed to send event - 503 Service Unavailable - busy".into())
        );
        // Kept, then sent in two batches.
        assert_eq!(p.post(evs(3), false), Vec::<String>::new());
        assert_eq!(s.requests().len(), 3);
        // Four waiting (the buffer's maximum): the failed batch is dropped.
        assert_eq!(p.post(evs(4), false), ["2", "3"]);
        // The last try drops everything that fails.
        let s = Server::answering(&[busy]);
        let mut p = poster(&s, &[], 2, 100);
        assert_eq!(p.post(evs(3), true), Vec::<String>::new());
        assert_eq!(s.requests().len(), 1);
    }

    #[test]
    fn verification_wants_a_200_to_options() {
        let s = Server::answering(&[OK]);
        poster(&s, &[], 1, 1).verify().unwrap();
        assert_eq!(
            s.requests()[0],
            b"OPTIONS /services/collector/event/1.0 HTTP/1.1\r\nHost: 127.0.0.1:8088\r\nUser-Agent: berth\r\n\r\n"
        );
        let s = Server::answering(&[b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ntoken?"]);
        assert_eq!(
            poster(&s, &[], 1, 1).verify(),
            Err("splunk: failed to verify connection - 403 Forbidden - token?".into())
        );
        let s = Server::answering(&[b""]);
        assert_eq!(
            poster(&s, &[], 1, 1).verify(),
            Err("Options \"http://127.0.0.1:8088/services/collector/event/1.0\": server closed the connection".into())
        );
    }

    #[test]
    fn lines_are_batched_and_the_rest_goes_at_the_end_of_the_output() {
        let s = Server::answering(&[OK, OK, OK]);
        let p = poster(&s, &[], 2, 100);
        let c = spec(&[]);
        let mut l = Splunk::start(
            p,
            Events::new(&c, Format::Raw),
            Timing {
                frequency: Duration::from_secs(3600),
                batch: 2,
                buffer_max: 100,
                channel: 100,
            },
        );
        for line in [&b"a"[..], b" ", b"b", b"c"] {
            l.log(&msg(line, Stream::Stdout)).unwrap();
        }
        l.close();
        let events: Vec<Vec<String>> = s
            .requests()
            .iter()
            .map(|r| {
                let body = &r[r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
                serde_json::Deserializer::from_slice(body)
                    .into_iter::<serde_json::Value>()
                    .map(|v| v.unwrap()["event"].as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        let p = "315ae5780d2f app=shop ";
        assert_eq!(
            events,
            [
                vec![format!("{p}a"), format!("{p}b")],
                vec![format!("{p}c")]
            ]
        );
        assert_eq!(
            l.log(&msg(b"late", Stream::Stdout))
                .unwrap_err()
                .to_string(),
            "splunk: driver is closed"
        );
    }
}
