//! berth-logdriver: Docker's log drivers that send a container's output elsewhere, beside the
//! json-file log that berthd keeps (dockerd's "dual logging": `docker logs` still reads a local
//! copy, unless `cache-disabled`).
//!
//! The crate has none of the Engine API's types and no daemon state. berthd calls [`validate`] at
//! create, as dockerd calls each driver's `ValidateLogOpt`, and [`cache`] for the local copy's
//! limits, and at start hands the shim a [`Spec`] (the driver, its options, what the container
//! is). The shim calls [`open`] before the container runs (a driver that cannot reach its endpoint
//! fails the start, as with dockerd), gives every line of output to [`Logger::log`], and calls
//! [`Logger::close`] when the output ends (a batching driver sends what it holds).
//!
//! Each driver formats messages into bytes and writes them to a [`Conn`], the trait at the
//! boundary with the outside (a socket: [`net`], a log plugin's FIFO: [`plugin`]; splunk speaks
//! HTTP over one: [`http`]); tests give the formatters a fake one.

pub mod fluentd;
pub mod gelf;
pub mod goval;
pub mod http;
pub mod journald;
pub mod msgpack;
pub mod net;
pub mod plugin;
pub mod splunk;
pub mod syslog;
pub mod tls;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::time::SystemTime;

/// The drivers of this crate, by the name `--log-driver` gives them.
pub const DRIVERS: [&str; 5] = ["fluentd", "gelf", "journald", "splunk", "syslog"];

/// Whether `name` is one of this crate's drivers.
pub fn is_remote(name: &str) -> bool {
    DRIVERS.contains(&name)
}

/// Which output stream a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`, as Docker names the source.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of a container's output.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Without its newline.
    pub line: &'a [u8],
    pub stream: Stream,
    /// When the shim read it.
    pub time: SystemTime,
    /// The line had no newline: it was cut at 16 KiB, or its stream ended.
    pub partial: bool,
}

/// What a driver is told about the container, fixed for one run of it (berthd computes it at
/// each start: a rename changes the name).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Info {
    /// 64 hex digits.
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    /// `sha256:` and 64 hex digits.
    pub image_id: String,
    /// The image as the request named it.
    pub image_name: String,
    /// The entrypoint and command, joined by spaces.
    pub command: String,
    /// The container's creation, RFC 3339.
    pub created: String,
    /// The daemon host's name.
    pub hostname: String,
    /// The `tag` option's template rendered (the driver's default when not given).
    pub tag: String,
    /// The attributes the `labels`, `labels-regex`, `env` and `env-regex` options pick.
    pub extra: BTreeMap<String, String>,
}

/// Everything the shim needs to open a driver: berthd writes it as JSON on the shim's command line.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Spec {
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub info: Info,
    /// The address options as the user wrote them, before [`resolve`] put addresses in their
    /// place (a TLS server's certificate is checked against the name).
    pub names: BTreeMap<String, String>,
    /// A log plugin's FIFO (berthd made it and told the plugin): the lines go there ([`plugin`]),
    /// whatever the driver's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fifo: Option<std::path::PathBuf>,
}

/// A driver that takes a container's lines.
pub trait Logger: Send {
    /// Send one message (an error is the shim's to report; the line still reaches the local log).
    fn log(&mut self, m: &Message) -> io::Result<()>;

    /// The container's output ended: send what is held (a batching driver), waiting a while for
    /// it. No line follows.
    fn close(&mut self) {}
}

/// Where a driver's bytes go: one datagram or one write on a stream per message.
pub trait Conn: Send {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Read what the other end answered (a driver whose protocol has answers: fluentd's acks).
    fn recv(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Drop the connection: the next send makes a new one.
    fn reset(&mut self) {}
}

/// The options every driver takes besides its own: the attributes and the tag (dockerd's
/// `logger.AttrEnv` and friends) and the daemon's buffering mode (checked by berthd) and the
/// local copy's (`cache-*`, [`cache`]).
const COMMON: [&str; 5] = ["env", "env-regex", "labels", "labels-regex", "tag"];
const BUFFERING: [&str; 2] = ["mode", "max-buffer-size"];
const CACHE: [&str; 4] = [
    "cache-disabled",
    "cache-max-size",
    "cache-max-file",
    "cache-compress",
];

/// Check the options of `driver` as dockerd's `ValidateLogOpt` does, with its messages
/// (`unknown log opt 'x' for syslog log driver`, `unsupported scheme: 'http'`).
pub fn validate(driver: &str, opts: &BTreeMap<String, String>) -> Result<(), String> {
    let own = |k: &str| COMMON.contains(&k) || BUFFERING.contains(&k) || CACHE.contains(&k);
    let rest: BTreeMap<String, String> = opts
        .iter()
        .filter(|(k, _)| !own(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match driver {
        "syslog" => syslog::validate(&rest),
        "journald" => journald::validate(&rest),
        "fluentd" => fluentd::validate(&rest),
        "gelf" => gelf::validate(&rest),
        "splunk" => splunk::validate(&rest),
        _ => Err(format!(
            "logger: no log driver named '{driver}' is registered"
        )),
    }
}

/// The default `tag` template of `driver` (dockerd's `ParseLogTag` default).
pub fn default_tag(driver: &str) -> &'static str {
    match driver {
        "fluentd" => "docker.{{.ID}}",
        _ => "{{.ID}}",
    }
}

/// The local copy `docker logs` reads for `driver`, from the `cache-*` options as dockerd's
/// `loggerutils/cache` reads them: `None` with `cache-disabled`, else (max size in bytes, files).
/// journald keeps its copy even then: dockerd reads that driver's lines back from the journal,
/// berthd from the copy.
pub fn cache(driver: &str, opts: &BTreeMap<String, String>) -> Result<Option<(u64, u32)>, String> {
    if let Some(v) = opts.get("cache-disabled") {
        match parse_bool(v) {
            Some(true) if driver != "journald" => return Ok(None),
            Some(_) => {}
            None => return Err(format!("invalid value for option cache-disabled: {v}")),
        }
    }
    let mut size = 20 * 1024 * 1024;
    let mut files = 5;
    if let Some(v) = opts.get("cache-max-size") {
        size = ram_in_bytes(v)
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("error parsing cache-max-size: invalid size: '{v}'"))?;
    }
    if let Some(v) = opts.get("cache-max-file") {
        files = v
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("error parsing cache-max-file: invalid max-file: '{v}'"))?;
    }
    if let Some(v) = opts.get("cache-compress") {
        parse_bool(v)
            .ok_or_else(|| format!("error parsing cache-compress: invalid value '{v}'"))?;
    }
    Ok(Some((size, files)))
}

/// `N` bytes from the kernel's random source (the time's bytes if it cannot give them: ids that
/// tell things apart, not secrets).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if berth_sys::random_bytes(&mut b).is_err() {
        let t = std::time::UNIX_EPOCH
            .elapsed()
            .unwrap_or_default()
            .as_nanos();
        for (d, s) in b.iter_mut().zip(t.to_le_bytes().iter().cycle()) {
            *d = *s;
        }
    }
    b
}

/// `N` random bytes in hex (`random_hex::<32>()`: 64 digits, as dockerd's `GenerateRandomID`).
pub fn random_hex<const N: usize>() -> String {
    random_bytes::<N>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Docker's `RAMInBytes`: a number with an optional binary unit (`k`, `m`, `g`, `t`, `p`, with an
/// optional `i` and `b`).
fn ram_in_bytes(s: &str) -> Option<u64> {
    let t = s.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let n: f64 = num.parse().ok()?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let v = n * (1u64 << shift) as f64;
    (v.is_finite() && v < u64::MAX as f64).then_some(v as u64)
}

/// The options that name a driver's endpoint, and how each is resolved.
type Resolver = fn(&str) -> Result<String, String>;
const ADDRESSES: [(&str, Resolver); 4] = [
    ("syslog-address", net::resolve),
    ("gelf-address", net::resolve),
    ("fluentd-address", fluentd::resolve),
    ("splunk-url", splunk::resolve),
];

/// Resolve the host names in `spec`'s addresses (berthd does, before it hands the spec to the
/// shim: [`net`]).
pub fn resolve(spec: &mut Spec) -> Result<(), String> {
    for (k, resolve) in ADDRESSES {
        if let Some(a) = spec.options.get_mut(k) {
            let resolved = resolve(a)?;
            if resolved != *a {
                spec.names
                    .insert(k.to_string(), std::mem::replace(a, resolved));
            }
        }
    }
    Ok(())
}

/// Connect the driver `spec` names (`failed to initialize logging driver: ...` is the caller's
/// prefix to the error, as dockerd's).
pub fn open(spec: &Spec) -> Result<Box<dyn Logger>, String> {
    if let Some(f) = &spec.fifo {
        return Ok(Box::new(plugin::Plugin::open(f)?));
    }
    match spec.driver.as_str() {
        "syslog" => Ok(Box::new(syslog::Syslog::open(spec)?)),
        "journald" => Ok(Box::new(journald::Journald::open(spec)?)),
        "fluentd" => Ok(Box::new(fluentd::Fluentd::open(spec)?)),
        "gelf" => Ok(Box::new(gelf::Gelf::open(spec)?)),
        "splunk" => Ok(Box::new(splunk::Splunk::open(spec)?)),
        d => Err(format!("logger: no log driver named '{d}' is registered")),
    }
}

#[cfg(test)]
pub(crate) mod fake {
    use std::sync::{Arc, Mutex};

    /// A connection that keeps what is sent.
    #[derive(Clone, Default)]
    pub struct Sent(pub Arc<Mutex<Vec<Vec<u8>>>>);

    impl super::Conn for Sent {
        fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.0.lock().unwrap().push(bytes.to_vec());
            Ok(())
        }
    }

    impl Sent {
        pub fn take(&self) -> Vec<Vec<u8>> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_local_copy_follows_the_cache_options() {
        assert_eq!(cache("syslog", &opts(&[])), Ok(Some((20 << 20, 5))));
        assert_eq!(
            cache("syslog", &opts(&[("cache-disabled", "true")])),
            Ok(None)
        );
        assert_eq!(
            cache(
                "syslog",
                &opts(&[("cache-max-size", "1m"), ("cache-max-file", "2")])
            ),
            Ok(Some((1 << 20, 2)))
        );
        assert_eq!(
            cache("journald", &opts(&[("cache-disabled", "true")])),
            Ok(Some((20 << 20, 5)))
        );
        assert!(cache("syslog", &opts(&[("cache-disabled", "yes")])).is_err());
        assert!(cache("syslog", &opts(&[("cache-max-size", "lots")])).is_err());
        assert!(cache("syslog", &opts(&[("cache-max-file", "0")])).is_err());
    }

    #[test]
    fn unknown_drivers_and_options_are_refused() {
        assert_eq!(
            validate("nope", &opts(&[])),
            Err("logger: no log driver named 'nope' is registered".into())
        );
        assert_eq!(
            validate("syslog", &opts(&[("max-size", "1m")])),
            Err("unknown log opt 'max-size' for syslog log driver".into())
        );
        assert_eq!(
            validate("syslog", &opts(&[("tag", "x"), ("cache-disabled", "true")])),
            Ok(())
        );
    }
}
