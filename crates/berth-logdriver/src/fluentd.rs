//! The `fluentd` driver, as dockerd's: each line an event of the Fluentd Forward protocol,
//! `[tag, time, record, option]` in MessagePack, over TCP or a unix socket (`fluentd-address`:
//! `host`, `host:port`, `tcp://host:port`, `unix:///path`; by default `127.0.0.1:24224`).
//!
//! - tag: the `tag` option rendered (default `docker.{{.ID}}`);
//! - time: the line's time in whole seconds, or with `fluentd-sub-second-precision` Fluentd's
//!   EventTime (extension type 0: seconds and nanoseconds, 32 bits each);
//! - record: `container_id`, `container_name` (with its leading slash), `source` (`stdout` or
//!   `stderr`), `log` (the line), the attributes of `labels`/`env` (and their `-regex` forms),
//!   and for a line that came in pieces dockerd's `partial_message`, `partial_id`,
//!   `partial_ordinal` and `partial_last`;
//! - option: `{}`, or with `fluentd-request-ack` `{"chunk": id}`, and the event counts as sent
//!   once the server answers `{"ack": id}`.
//!
//! By default the start connects and fails if it cannot; each line is written before the next is
//! read, tried `fluentd-max-retries` times (waiting `fluentd-retry-wait`, growing by half each
//! time, at most a minute) on new connections. With `fluentd-async` the start does not connect:
//! a thread sends the events while up to `fluentd-buffer-limit` of them wait for it, and a line
//! that finds the buffer full is not sent. `fluentd-async-reconnect-interval` makes that thread
//! reconnect periodically; `fluentd-write-timeout`/`fluentd-read-timeout` bound a write and the
//! wait for an ack. `tls://` connects with TLS, the server verified against the host's CAs.

use crate::goval;
use crate::msgpack::{self, Encoder, Value};
use crate::net::{self, Addr, Endpoint};
use crate::{Conn, Logger, Message, Spec, Stream};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 24224;
/// Events, not bytes (fluent-logger-golang's queue length).
const DEFAULT_BUFFER_LIMIT: u64 = 1024 * 1024;
const DEFAULT_RETRY_WAIT: Duration = Duration::from_millis(1000);
/// dockerd's "retry forever": `math.MaxInt32`.
const DEFAULT_MAX_RETRIES: u32 = i32::MAX as u32;
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
const MIN_RECONNECT_INTERVAL: i128 = 100_000_000;
const MAX_RECONNECT_INTERVAL: i128 = 10_000_000_000;
/// How long the end of a container waits for the events still queued in async mode.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The options of this driver (the common ones aside).
const KEYS: [&str; 10] = [
    "fluentd-address",
    "fluentd-async",
    "fluentd-async-reconnect-interval",
    "fluentd-buffer-limit",
    "fluentd-max-retries",
    "fluentd-request-ack",
    "fluentd-retry-wait",
    "fluentd-sub-second-precision",
    "fluentd-write-timeout",
    "fluentd-read-timeout",
];

/// Where the events go, as `fluentd-address` says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    Tcp { host: String, port: u16, tls: bool },
    Unix(PathBuf),
}

/// Whether `p` is empty or `:` and digits (Go's `validOptionalPort`).
fn valid_optional_port(p: &str) -> bool {
    p.is_empty()
        || p.strip_prefix(':')
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
}

/// `fluentd-address` read as dockerd's `parseAddress` reads it (through Go's `url.Parse`), with
/// its errors.
fn parse_address(address: &str) -> Result<Location, String> {
    if address.is_empty() {
        return Ok(Location::Tcp {
            host: DEFAULT_HOST.into(),
            port: DEFAULT_PORT,
            tls: false,
        });
    }
    let full = if address.contains("://") {
        address.to_string()
    } else {
        format!("tcp://{address}")
    };
    let parse_err = |why: &str| format!("parse {full:?}: {why}");
    let (scheme, rest) = full.split_once("://").unwrap_or(("", &full));
    if scheme.is_empty() {
        return Err(parse_err("missing protocol scheme"));
    }
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(parse_err("first path segment in URL cannot contain colon"));
    }
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.split(['#', '?']).next().unwrap_or("");
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (hostname, port) = if let Some(inner) = authority.strip_prefix('[') {
        let Some((h, after)) = inner.split_once(']') else {
            return Err(parse_err("missing ']' in host"));
        };
        if !valid_optional_port(after) {
            return Err(parse_err(&format!("invalid port {after:?} after host")));
        }
        (h, after.trim_start_matches(':'))
    } else {
        match authority.rfind(':') {
            Some(i) => {
                let (h, p) = authority.split_at(i);
                if !valid_optional_port(p) {
                    return Err(parse_err(&format!("invalid port {p:?} after host")));
                }
                (h, &p[1..])
            }
            None => (authority, ""),
        }
    };
    match scheme.as_str() {
        "unix" => {
            if path.trim_start_matches('/').is_empty() {
                return Err("path is empty".into());
            }
            return Ok(Location::Unix(path.into()));
        }
        "tcp" | "tls" => {}
        _ => return Err(format!("unsupported scheme: '{scheme}'")),
    }
    if !path.is_empty() {
        return Err("should not contain a path element".into());
    }
    let port = if port.is_empty() {
        DEFAULT_PORT
    } else {
        port.parse::<u16>().map_err(|_| {
            format!("invalid port: strconv.ParseUint: parsing {port:?}: value out of range")
        })?
    };
    Ok(Location::Tcp {
        host: if hostname.is_empty() {
            DEFAULT_HOST.into()
        } else {
            hostname.into()
        },
        port,
        tls: scheme == "tls",
    })
}

/// `host:port`, an IPv6 host in brackets.
fn hostport(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The settings of one container's driver.
#[derive(Debug, Clone, PartialEq)]
struct Config {
    location: Location,
    buffer_limit: u64,
    retry_wait: Duration,
    max_retries: u32,
    async_send: bool,
    reconnect_interval: Option<Duration>,
    sub_second: bool,
    request_ack: bool,
    write_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
}

/// A non-negative duration option (`fluentd-write-timeout`, `fluentd-read-timeout`).
fn timeout(key: &str, v: &str) -> Result<Option<Duration>, String> {
    let d = goval::parse_duration(v)
        .map_err(|e| format!("invalid value for {key}: value must be a duration: {e}"))?;
    if d < 0 {
        return Err(format!(
            "invalid value for {key}: value must be a duration that is non-negative"
        ));
    }
    Ok((d > 0).then(|| nanos(d)))
}

fn nanos(d: i128) -> Duration {
    Duration::from_nanos(u64::try_from(d.max(0)).unwrap_or(u64::MAX))
}

/// dockerd's `parseConfig`: the options in its order, with its errors.
fn config(opts: &BTreeMap<String, String>) -> Result<Config, String> {
    let get = |k: &str| opts.get(k).map_or("", String::as_str);
    let address = get("fluentd-address");
    let location =
        parse_address(address).map_err(|e| format!("invalid fluentd-address ({address}): {e}"))?;
    let mut c = Config {
        location,
        buffer_limit: DEFAULT_BUFFER_LIMIT,
        retry_wait: DEFAULT_RETRY_WAIT,
        max_retries: DEFAULT_MAX_RETRIES,
        async_send: false,
        reconnect_interval: None,
        sub_second: false,
        request_ack: false,
        write_timeout: None,
        read_timeout: None,
    };
    let v = get("fluentd-buffer-limit");
    if !v.is_empty() {
        c.buffer_limit = crate::ram_in_bytes(v).ok_or_else(|| format!("invalid size: '{v}'"))?;
    }
    let v = get("fluentd-retry-wait");
    if !v.is_empty() {
        // Whole milliseconds, as dockerd keeps it.
        c.retry_wait = Duration::from_millis(
            u64::try_from(goval::parse_duration(v)? / 1_000_000).unwrap_or(0),
        );
    }
    let v = get("fluentd-max-retries");
    if !v.is_empty() {
        // Go's ParseUint(v, 10, 32): digits only (no sign), at most 32 bits.
        let out_of_range = || format!("strconv.ParseUint: parsing {v:?}: value out of range");
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("strconv.ParseUint: parsing {v:?}: invalid syntax"));
        }
        let n = v.parse::<u64>().map_err(|_| out_of_range())?;
        if n > u64::from(u32::MAX) {
            return Err(out_of_range());
        }
        if n > i32::MAX as u64 {
            return Err("invalid fluentd-max-retries: value out of range".into());
        }
        c.max_retries = n as u32;
    }
    let v = get("fluentd-async");
    if !v.is_empty() {
        c.async_send = goval::parse_bool(v)?;
    }
    let v = get("fluentd-async-reconnect-interval");
    if !v.is_empty() {
        let key = "fluentd-async-reconnect-interval";
        let d = goval::parse_duration(v).map_err(|e| format!("invalid value for {key}: {e}"))?;
        if d != 0 {
            if !(MIN_RECONNECT_INTERVAL..=MAX_RECONNECT_INTERVAL).contains(&d) {
                return Err(format!(
                    "invalid value for {key}: value (\"{}\") must be between 100ms and 10s",
                    goval::duration_string(d)
                ));
            }
            c.reconnect_interval = Some(nanos(d));
        }
    }
    let v = get("fluentd-sub-second-precision");
    if !v.is_empty() {
        c.sub_second = goval::parse_bool(v)?;
    }
    let v = get("fluentd-request-ack");
    if !v.is_empty() {
        c.request_ack = goval::parse_bool(v)?;
    }
    let v = get("fluentd-write-timeout");
    if !v.is_empty() {
        c.write_timeout = timeout("fluentd-write-timeout", v)?;
    }
    let v = get("fluentd-read-timeout");
    if !v.is_empty() {
        c.read_timeout = timeout("fluentd-read-timeout", v)?;
    }
    Ok(c)
}

/// dockerd's checks of the fluentd options (the common ones already taken out).
pub fn validate(opts: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(k) = opts.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown log opt '{k}' for fluentd log driver"));
    }
    config(opts)?;
    Ok(())
}

/// The address with its host name resolved, as `tcp://ip:port` (berthd calls this before the
/// shim, which cannot resolve names, reads it); unix addresses, and ones that do not parse (the
/// shim reports those), stay as they are.
pub fn resolve(address: &str) -> Result<String, String> {
    match parse_address(address) {
        Ok(Location::Tcp { host, port, tls }) => Ok(format!(
            "{}://{}",
            if tls { "tls" } else { "tcp" },
            net::resolve_hostport(&hostport(&host, port))?
        )),
        _ => Ok(address.to_string()),
    }
}

/// A chunk id for an ack: the seconds (little-endian) and 8 random bytes, in base64, as
/// fluent-logger-golang makes them.
fn chunk_id(secs: i64) -> String {
    use base64::Engine;
    let mut b = secs.to_le_bytes().to_vec();
    b.extend_from_slice(&crate::random_bytes::<8>());
    base64::engine::general_purpose::STANDARD.encode(&b)
}

/// A line that came in pieces: the id, ordinal and time its pieces share (dockerd's copier's).
struct Partial {
    id: String,
    ordinal: u32,
    time: SystemTime,
}

/// One event, ready for the wire.
struct Event {
    bytes: Vec<u8>,
    /// The chunk id the server must ack.
    chunk: Option<String>,
}

/// How an event is retried.
#[derive(Clone, Copy)]
struct Retry {
    max: u32,
    wait: Duration,
}

impl Retry {
    /// The wait before attempt `i` (from 1): fluent-logger-golang's `RetryWait * int(1.5^(i-1))`,
    /// at most a minute.
    fn wait(&self, i: u32) -> Duration {
        let factor = 1.5f64.powi(i.saturating_sub(1).min(64) as i32).floor();
        self.wait.mul_f64(factor.min(1e6)).min(MAX_RETRY_WAIT)
    }
}

/// The ack the server sent for the last event.
fn read_ack<C: Conn>(conn: &mut C) -> io::Result<String> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match msgpack::decode(&got) {
            Ok((v, _)) => {
                return v
                    .get("ack")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| bad("the answer has no ack"));
            }
            Err(msgpack::DecodeError::Short) if got.len() < 64 << 10 => {}
            Err(_) => return Err(bad("the answer is not an ack")),
        }
        let n = conn.recv(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// Write `ev` (and wait for its ack), trying up to `retry.max` times; `pause` waits between the
/// attempts (when it returns false, the next attempt is the last).
fn post<C: Conn>(
    conn: &mut C,
    ev: &Event,
    retry: Retry,
    pause: &mut dyn FnMut(Duration) -> bool,
) -> io::Result<()> {
    for i in 0..retry.max {
        // Told to stop while waiting: this attempt is the last.
        let last = i > 0 && !pause(retry.wait(i));
        if conn.send(&ev.bytes).is_ok() {
            let Some(chunk) = &ev.chunk else {
                return Ok(());
            };
            match read_ack(conn) {
                Ok(a) if a == *chunk => return Ok(()),
                _ => conn.reset(),
            }
        }
        if last {
            break;
        }
    }
    Err(io::Error::other(format!(
        "fluent#write: failed to write after {} attempts",
        retry.max
    )))
}

/// Where the events go: written in turn, or queued for a sender thread.
enum Out<C: Conn> {
    Sync { conn: C, retry: Retry },
    Async(Arc<Queue>),
}

/// Async mode's queue between the container's lines and the sender thread.
struct Queue {
    state: Mutex<QueueState>,
    wake: Condvar,
    limit: u64,
}

#[derive(Default)]
struct QueueState {
    events: VecDeque<Event>,
    /// The one the sender is writing (it counts against the limit).
    sending: bool,
    /// The container ended: send what is queued (one try each), then stop.
    closing: bool,
    /// The sender stopped.
    done: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, ev: Event) -> io::Result<()> {
        let mut st = self.lock();
        if st.events.len() as u64 + u64::from(st.sending) >= self.limit {
            return Err(io::Error::other(format!(
                "fluent#appendBuffer: Buffer full, limit {}",
                self.limit
            )));
        }
        st.events.push_back(ev);
        self.wake.notify_all();
        Ok(())
    }

    /// Wait up to `d`; whether the sender should go on (not closing).
    fn pause(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut st = self.lock();
        while !st.closing {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            st = self
                .wake
                .wait_timeout(st, left)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
        false
    }

    /// The sender: each event in turn until closed.
    fn run<C: Conn>(&self, mut conn: C, retry: Retry, reconnect: Option<Duration>) {
        let mut since = Instant::now();
        loop {
            let (ev, closing) = {
                let mut st = self.lock();
                while st.events.is_empty() && !st.closing {
                    st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                let Some(ev) = st.events.pop_front() else {
                    break;
                };
                st.sending = true;
                (ev, st.closing)
            };
            if reconnect.is_some_and(|r| since.elapsed() >= r) {
                conn.reset();
                since = Instant::now();
            }
            let r = if closing {
                post(&mut conn, &ev, Retry { max: 1, ..retry }, &mut |_| false)
            } else {
                post(&mut conn, &ev, retry, &mut |d| self.pause(d))
            };
            let mut st = self.lock();
            st.sending = false;
            if r.is_err() && st.closing {
                // The endpoint is gone as the container ends: the rest would fail alike.
                st.events.clear();
            }
        }
        self.lock().done = true;
        self.wake.notify_all();
    }

    /// Tell the sender the container ended and give it a while to send what is queued.
    fn close(&self) {
        let deadline = Instant::now() + CLOSE_WAIT;
        let mut st = self.lock();
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

/// A container's fluentd writer.
pub struct Fluentd<C: Conn = Endpoint> {
    tag: String,
    id: String,
    /// With its leading slash, as dockerd's.
    name: String,
    extra: Vec<(String, String)>,
    sub_second: bool,
    request_ack: bool,
    /// Per stream (stdout, stderr): the line in pieces, if one is.
    partial: [Option<Partial>; 2],
    out: Out<C>,
}

impl Fluentd {
    /// Connect as `spec` says (async: in the background).
    pub fn open(spec: &Spec) -> Result<Fluentd, String> {
        let c = config(&spec.options)?;
        let mut tls = None;
        let addr = match &c.location {
            Location::Tcp {
                host,
                port,
                tls: true,
            } => {
                // Verified against the host's CAs and the name the user wrote (dockerd sets no
                // other TLS option for fluentd).
                let written = spec.names.get("fluentd-address").map(String::as_str);
                let server_name = match written.map(parse_address) {
                    Some(Ok(Location::Tcp { host, .. })) => host,
                    _ => host.clone(),
                };
                tls = Some(net::Tls {
                    config: crate::tls::client_config(None, None, None, false)?,
                    server_name,
                });
                Addr::Tls(hostport(host, *port))
            }
            Location::Tcp { host, port, .. } => Addr::Tcp(hostport(host, *port)),
            Location::Unix(p) => Addr::Unix(p.clone()),
        };
        let mut conn = Endpoint::unconnected(addr)
            .with_tls(tls)
            .with_timeouts(c.read_timeout, c.write_timeout);
        if !c.async_send {
            conn.connect()?;
        }
        Ok(Fluentd::with(conn, spec, &c))
    }
}

impl<C: Conn + 'static> Fluentd<C> {
    /// A writer over `conn` (async mode: a thread that owns it).
    fn with(conn: C, spec: &Spec, c: &Config) -> Fluentd<C> {
        let retry = Retry {
            max: c.max_retries,
            wait: c.retry_wait,
        };
        let out = if c.async_send {
            let q = Arc::new(Queue {
                state: Mutex::new(QueueState::default()),
                wake: Condvar::new(),
                limit: c.buffer_limit,
            });
            let (sender, reconnect) = (q.clone(), c.reconnect_interval);
            std::thread::spawn(move || sender.run(conn, retry, reconnect));
            Out::Async(q)
        } else {
            Out::Sync { conn, retry }
        };
        let name = &spec.info.name;
        Fluentd {
            tag: spec.info.tag.clone(),
            id: spec.info.id.clone(),
            name: if name.starts_with('/') {
                name.clone()
            } else {
                format!("/{name}")
            },
            extra: spec
                .info
                .extra
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            sub_second: c.sub_second,
            request_ack: c.request_ack,
            partial: [None, None],
            out,
        }
    }
}

impl<C: Conn> Fluentd<C> {
    /// The event of `m`: its record as dockerd's `Log` makes it (the attributes may replace the
    /// four fields, as in dockerd's map).
    fn event(&mut self, m: &Message) -> Event {
        let slot = &mut self.partial[usize::from(m.stream == Stream::Stderr)];
        let piece = if m.partial {
            let p = slot.get_or_insert_with(|| Partial {
                id: crate::random_hex::<32>(),
                ordinal: 0,
                time: m.time,
            });
            p.ordinal = p.ordinal.saturating_add(1);
            Some((p.id.clone(), p.ordinal, false, p.time))
        } else {
            slot.take()
                .map(|p| (p.id, p.ordinal.saturating_add(1), true, p.time))
        };
        let time = piece.as_ref().map_or(m.time, |p| p.3);
        let mut record: Vec<(String, Vec<u8>)> = vec![
            ("container_id".into(), self.id.clone().into_bytes()),
            ("container_name".into(), self.name.clone().into_bytes()),
            ("source".into(), m.stream.name().into()),
            ("log".into(), m.line.to_vec()),
        ];
        let mut set = |k: &str, v: Vec<u8>| match record.iter_mut().find(|(key, _)| key == k) {
            Some(e) => e.1 = v,
            None => record.push((k.to_string(), v)),
        };
        for (k, v) in &self.extra {
            set(k, v.clone().into_bytes());
        }
        if let Some((id, ordinal, last, _)) = piece {
            set("partial_message", b"true".to_vec());
            set("partial_id", id.into_bytes());
            set("partial_ordinal", ordinal.to_string().into_bytes());
            set("partial_last", last.to_string().into_bytes());
        }
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
        let mut e = Encoder::default();
        e.array(4).str(&self.tag);
        if self.sub_second {
            let mut t = (secs as u32).to_be_bytes().to_vec();
            t.extend_from_slice(&since.subsec_nanos().to_be_bytes());
            e.ext(0, &t);
        } else {
            e.int(secs);
        }
        e.map(record.len());
        for (k, v) in &record {
            e.str(k).str(v);
        }
        let chunk = self.request_ack.then(|| chunk_id(secs));
        match &chunk {
            Some(id) => e.map(1).str("chunk").str(id),
            None => e.map(0),
        };
        Event { bytes: e.0, chunk }
    }
}

impl<C: Conn> Logger for Fluentd<C> {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let ev = self.event(m);
        match &mut self.out {
            Out::Sync { conn, retry } => post(conn, &ev, *retry, &mut |d| {
                std::thread::sleep(d);
                true
            }),
            Out::Async(q) => q.push(ev),
        }
    }
}

impl<C: Conn> Drop for Fluentd<C> {
    fn drop(&mut self) {
        if let Out::Async(q) = &self.out {
            q.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::Sent;
    use crate::Info;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spec(kv: &[(&str, &str)]) -> Spec {
        Spec {
            driver: "fluentd".into(),
            options: opts(kv),
            info: Info {
                id: "315ae5780d2f".repeat(5) + "abcd",
                name: "web".into(),
                tag: "docker.315ae5780d2f".into(),
                extra: [("app".to_string(), "shop".to_string())].into(),
                ..Info::default()
            },
            ..Spec::default()
        }
    }

    fn logger<C: Conn + 'static>(conn: C, kv: &[(&str, &str)]) -> Fluentd<C> {
        let s = spec(kv);
        Fluentd::with(conn, &s, &config(&s.options).unwrap())
    }

    fn msg(line: &[u8], stream: Stream, partial: bool, secs: u64) -> Message<'_> {
        Message {
            line,
            stream,
            time: UNIX_EPOCH + Duration::new(secs, 250_000_000),
            partial,
        }
    }

    /// The event's four parts; the record as text pairs.
    fn parts(bytes: &[u8]) -> (String, Value, BTreeMap<String, String>, Value) {
        let (v, n) = msgpack::decode(bytes).unwrap();
        assert_eq!(n, bytes.len());
        let Value::Array(a) = v else {
            panic!("not an array: {v:?}")
        };
        assert_eq!(a.len(), 4);
        let Value::Map(r) = &a[2] else {
            panic!("no record: {a:?}")
        };
        let record = r
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_string(),
                    v.as_str().unwrap().to_string(),
                )
            })
            .collect();
        (
            a[0].as_str().unwrap().to_string(),
            a[1].clone(),
            record,
            a[3].clone(),
        )
    }

    #[test]
    fn addresses_parse_as_dockerd_reads_them() {
        let tcp = |h: &str, p| {
            Ok(Location::Tcp {
                host: h.into(),
                port: p,
                tls: false,
            })
        };
        assert_eq!(parse_address(""), tcp("127.0.0.1", 24224));
        assert_eq!(parse_address("192.168.1.1"), tcp("192.168.1.1", 24224));
        assert_eq!(parse_address("192.168.1.1:"), tcp("192.168.1.1", 24224));
        assert_eq!(parse_address("example.com:123"), tcp("example.com", 123));
        assert_eq!(parse_address("[::1]:65535"), tcp("::1", 65535));
        assert_eq!(parse_address("tcp://"), tcp("127.0.0.1", 24224));
        assert_eq!(parse_address("tcp://:123"), tcp("127.0.0.1", 123));
        assert_eq!(
            parse_address("tls://example.com"),
            Ok(Location::Tcp {
                host: "example.com".into(),
                port: 24224,
                tls: true
            })
        );
        assert_eq!(
            parse_address("unix:///some/socket.sock:80"),
            Ok(Location::Unix("/some/socket.sock:80".into()))
        );
        let err = |a: &str| parse_address(a).unwrap_err();
        assert_eq!(err("://"), "parse \"://\": missing protocol scheme");
        assert_eq!(err("udp://"), "unsupported scheme: 'udp'");
        assert_eq!(err("tcp+tls://"), "unsupported scheme: 'tcp+tls'");
        assert_eq!(err("unixgram://"), "unsupported scheme: 'unixgram'");
        assert_eq!(
            err("corrupted:c"),
            "parse \"tcp://corrupted:c\": invalid port \":c\" after host"
        );
        assert_eq!(
            err("tcp://example.com:-1"),
            "parse \"tcp://example.com:-1\": invalid port \":-1\" after host"
        );
        assert_eq!(
            err("tcp://example.com:65536"),
            "invalid port: strconv.ParseUint: parsing \"65536\": value out of range"
        );
        assert_eq!(err("unix://"), "path is empty");
        assert_eq!(err("unix:///"), "path is empty");
        for a in ["tcp://example.com/", "1.2.3.4:5/some-path", "[::1]/"] {
            assert_eq!(err(a), "should not contain a path element", "{a}");
        }
    }

    #[test]
    fn options_are_checked_as_dockerd_checks_them() {
        let v = |kv: &[(&str, &str)]| validate(&opts(kv));
        assert_eq!(v(&[]), Ok(()));
        for k in ["fluentd-async-connect", "max-size"] {
            assert_eq!(
                v(&[(k, "1")]),
                Err(format!("unknown log opt '{k}' for fluentd log driver"))
            );
        }
        assert_eq!(
            v(&[("fluentd-address", "udp://x")]),
            Err("invalid fluentd-address (udp://x): unsupported scheme: 'udp'".into())
        );
        assert_eq!(v(&[("fluentd-address", "tls://x")]), Ok(()));
        let key = "fluentd-async-reconnect-interval";
        for bad in ["-1", "1", "-1s", "99ms", "11s"] {
            let e = v(&[(key, bad)]).unwrap_err();
            assert!(e.starts_with(&format!("invalid value for {key}:")), "{e}");
        }
        assert_eq!(
            v(&[(key, "99ms")]),
            Err(format!(
                "invalid value for {key}: value (\"99ms\") must be between 100ms and 10s"
            ))
        );
        assert_eq!(
            v(&[(key, "1")]),
            Err(format!(
                "invalid value for {key}: time: missing unit in duration \"1\""
            ))
        );
        for good in ["100ms", "10s", "0"] {
            assert_eq!(v(&[(key, good)]), Ok(()));
        }
        let key = "fluentd-write-timeout";
        for bad in ["-1", "1", "-1s"] {
            let e = v(&[(key, bad)]).unwrap_err();
            assert!(e.starts_with(&format!("invalid value for {key}:")), "{e}");
        }
        assert_eq!(
            v(&[(key, "-1s")]),
            Err(format!(
                "invalid value for {key}: value must be a duration that is non-negative"
            ))
        );
        assert_eq!(
            v(&[("fluentd-read-timeout", "x")]),
            Err("invalid value for fluentd-read-timeout: value must be a duration: time: invalid duration \"x\"".into())
        );
        assert_eq!(
            v(&[("fluentd-async", "maybe")]),
            Err("strconv.ParseBool: parsing \"maybe\": invalid syntax".into())
        );
        assert_eq!(
            v(&[("fluentd-max-retries", "+1")]),
            Err("strconv.ParseUint: parsing \"+1\": invalid syntax".into())
        );
        assert_eq!(
            v(&[("fluentd-max-retries", "99999999999999999999999")]),
            Err(
                "strconv.ParseUint: parsing \"99999999999999999999999\": value out of range".into()
            )
        );
        assert_eq!(
            v(&[("fluentd-max-retries", "-1")]),
            Err("strconv.ParseUint: parsing \"-1\": invalid syntax".into())
        );
        assert_eq!(
            v(&[("fluentd-max-retries", "4294967296")]),
            Err("strconv.ParseUint: parsing \"4294967296\": value out of range".into())
        );
        assert_eq!(
            v(&[("fluentd-max-retries", "2147483648")]),
            Err("invalid fluentd-max-retries: value out of range".into())
        );
        assert_eq!(
            v(&[("fluentd-retry-wait", "5")]),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            v(&[("fluentd-buffer-limit", "lots")]),
            Err("invalid size: 'lots'".into())
        );
        let c = config(&opts(&[
            ("fluentd-buffer-limit", "8k"),
            ("fluentd-retry-wait", "1.5s"),
            ("fluentd-max-retries", "3"),
            ("fluentd-async", "true"),
            ("fluentd-write-timeout", "2s"),
        ]))
        .unwrap();
        assert_eq!(
            (c.buffer_limit, c.retry_wait, c.max_retries, c.async_send),
            (8192, Duration::from_millis(1500), 3, true)
        );
        assert_eq!(c.write_timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_chunk_id_is_the_seconds_and_random_bytes_in_base64() {
        use base64::Engine;
        let id = base64::engine::general_purpose::STANDARD
            .decode(chunk_id(1))
            .unwrap();
        assert_eq!(id.len(), 16);
        assert_eq!(id[..8], 1i64.to_le_bytes());
    }

    #[test]
    fn each_line_is_an_event_with_dockerds_record() {
        let sent = Sent::default();
        let mut f = logger(sent.clone(), &[]);
        f.log(&msg(b"hello", Stream::Stdout, false, 1_796_653_820))
            .unwrap();
        f.log(&msg(b"", Stream::Stderr, false, 1_796_653_821))
            .unwrap();
        let got = sent.take();
        assert_eq!(got.len(), 2);
        let (tag, time, record, option) = parts(&got[0]);
        assert_eq!(tag, "docker.315ae5780d2f");
        assert_eq!(time, Value::Int(1_796_653_820));
        assert_eq!(option, Value::Map(vec![]));
        let want: BTreeMap<String, String> = [
            ("container_id", spec(&[]).info.id.as_str()),
            ("container_name", "/web"),
            ("source", "stdout"),
            ("log", "hello"),
            ("app", "shop"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(record, want);
        let (_, _, record, _) = parts(&got[1]);
        assert_eq!(
            (record["source"].as_str(), record["log"].as_str()),
            ("stderr", "")
        );

        // Sub-second precision: Fluentd's EventTime.
        let sent = Sent::default();
        let mut f = logger(sent.clone(), &[("fluentd-sub-second-precision", "true")]);
        f.log(&msg(b"x", Stream::Stdout, false, 1_796_653_820))
            .unwrap();
        let (_, time, _, _) = parts(&sent.take()[0]);
        let mut want = 1_796_653_820u32.to_be_bytes().to_vec();
        want.extend_from_slice(&250_000_000u32.to_be_bytes());
        assert_eq!(time, Value::Ext(0, want));
    }

    #[test]
    fn a_line_in_pieces_carries_dockerds_partial_fields() {
        let sent = Sent::default();
        let mut f = logger(sent.clone(), &[]);
        f.log(&msg(b"a", Stream::Stdout, true, 10)).unwrap();
        f.log(&msg(b"solo", Stream::Stderr, false, 11)).unwrap();
        f.log(&msg(b"b", Stream::Stdout, true, 12)).unwrap();
        f.log(&msg(b"c", Stream::Stdout, false, 13)).unwrap();
        f.log(&msg(b"d", Stream::Stdout, false, 14)).unwrap();
        let got: Vec<_> = sent.take().iter().map(|b| parts(b)).collect();
        let field = |i: usize, k: &str| got[i].2.get(k).cloned();
        assert_eq!(field(1, "partial_message"), None);
        assert_eq!(field(4, "partial_message"), None);
        let id = field(0, "partial_id").unwrap();
        assert_eq!(id.len(), 64);
        for (i, ordinal, last) in [(0, "1", "false"), (2, "2", "false"), (3, "3", "true")] {
            assert_eq!(field(i, "partial_message").as_deref(), Some("true"));
            assert_eq!(field(i, "partial_id"), Some(id.clone()));
            assert_eq!(field(i, "partial_ordinal").as_deref(), Some(ordinal));
            assert_eq!(field(i, "partial_last").as_deref(), Some(last));
            // The pieces keep the time of the first.
            assert_eq!(got[i].1, Value::Int(10));
        }
        assert_eq!(got[4].1, Value::Int(14));
    }

    /// A server that refuses while `down`, and acks what it gets (the first `wrong` acks wrong).
    #[derive(Clone, Default)]
    struct Server {
        sent: Arc<Mutex<Vec<Vec<u8>>>>,
        down: Arc<AtomicBool>,
        wrong: Arc<AtomicUsize>,
        resets: Arc<AtomicUsize>,
        answer: Vec<u8>,
    }

    impl Conn for Server {
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            if self.down.load(Ordering::SeqCst) {
                return Err(io::ErrorKind::ConnectionRefused.into());
            }
            self.sent.lock().unwrap().push(bytes.to_vec());
            let (v, _) = msgpack::decode(bytes).unwrap();
            if let Value::Array(a) = v {
                if let Some(chunk) = a[3].get("chunk").and_then(Value::as_str) {
                    let wrong = self
                        .wrong
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let mut e = Encoder::default();
                    e.map(1).str("ack").str(if wrong { "nope" } else { chunk });
                    self.answer = e.0;
                }
            }
            Ok(())
        }

        fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // One byte at a time: the reader must put the answer together.
            if self.answer.is_empty() {
                return Ok(0);
            }
            buf[0] = self.answer.remove(0);
            Ok(1)
        }

        fn reset(&mut self) {
            self.answer.clear();
            self.resets.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn acks_are_awaited_and_a_wrong_one_sends_again() {
        let s = Server::default();
        s.wrong.store(1, Ordering::SeqCst);
        let mut f = logger(
            s.clone(),
            &[
                ("fluentd-request-ack", "true"),
                ("fluentd-retry-wait", "1ms"),
            ],
        );
        f.log(&msg(b"x", Stream::Stdout, false, 5)).unwrap();
        let sent = s.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], sent[1]);
        let (_, _, _, option) = parts(&sent[0]);
        assert_eq!(
            option.get("chunk").and_then(Value::as_str).map(str::len),
            Some(24)
        );
        assert_eq!(s.resets.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_write_that_keeps_failing_gives_up_after_max_retries() {
        let s = Server::default();
        s.down.store(true, Ordering::SeqCst);
        let mut f = logger(
            s.clone(),
            &[("fluentd-max-retries", "3"), ("fluentd-retry-wait", "1ms")],
        );
        let e = f.log(&msg(b"x", Stream::Stdout, false, 5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "fluent#write: failed to write after 3 attempts"
        );
        s.down.store(false, Ordering::SeqCst);
        f.log(&msg(b"y", Stream::Stdout, false, 5)).unwrap();
        assert_eq!(s.sent.lock().unwrap().len(), 1);
    }

    #[test]
    fn async_lines_wait_in_the_buffer_until_the_server_is_up() {
        let s = Server::default();
        s.down.store(true, Ordering::SeqCst);
        let mut f = logger(
            s.clone(),
            &[
                ("fluentd-async", "true"),
                ("fluentd-buffer-limit", "3"),
                ("fluentd-retry-wait", "1ms"),
            ],
        );
        for l in [&b"1"[..], b"2", b"3"] {
            f.log(&msg(l, Stream::Stdout, false, 5)).unwrap();
        }
        let e = f.log(&msg(b"4", Stream::Stdout, false, 5)).unwrap_err();
        assert_eq!(e.to_string(), "fluent#appendBuffer: Buffer full, limit 3");
        s.down.store(false, Ordering::SeqCst);
        // Drop waits for the queue to be sent.
        drop(f);
        let logs: Vec<String> = s
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|b| parts(b).2["log"].clone())
            .collect();
        assert_eq!(logs, ["1", "2", "3"]);
    }

    #[test]
    fn names_resolve_to_a_tcp_address() {
        assert_eq!(resolve(""), Ok("tcp://127.0.0.1:24224".into()));
        assert_eq!(resolve("127.0.0.1:5"), Ok("tcp://127.0.0.1:5".into()));
        assert_eq!(resolve("tcp://[::1]"), Ok("tcp://[::1]:24224".into()));
        assert_eq!(resolve("unix:///x.sock"), Ok("unix:///x.sock".into()));
        let r = resolve("localhost").unwrap();
        assert!(
            r == "tcp://127.0.0.1:24224" || r == "tcp://[::1]:24224",
            "{r}"
        );
        assert!(validate(&opts(&[("fluentd-address", &r)])).is_ok());
    }
}
