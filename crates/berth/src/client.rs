//! A small synchronous HTTP/1.1 client for the Docker Engine API over a unix
//! socket or TCP: plain requests, streamed bodies (chunked or sized), and
//! hijacked connections for attach and exec.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use anyhow::{anyhow, bail, Context, Result};

/// Where the daemon listens.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Unix(String),
    Tcp(String),
}

impl Endpoint {
    /// From `BERTH_HOST`, else `DOCKER_HOST`, else berthd's default socket.
    pub fn from_env(flag: Option<&str>) -> Result<Endpoint> {
        let host = flag
            .map(str::to_string)
            .or_else(|| std::env::var("BERTH_HOST").ok().filter(|s| !s.is_empty()))
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "unix:///run/berth/berth.sock".to_string());
        if let Some(p) = host.strip_prefix("unix://") {
            Ok(Endpoint::Unix(p.to_string()))
        } else if let Some(a) = host.strip_prefix("tcp://") {
            Ok(Endpoint::Tcp(a.trim_end_matches('/').to_string()))
        } else {
            bail!("unsupported host {host:?}: use unix:///path or tcp://host:port")
        }
    }
}

/// A connection, unix or TCP.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    pub fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
        })
    }
    /// Close our sending side (the daemon then sees end of stdin).
    pub fn shutdown_write(&self) {
        let _ = match self {
            Conn::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Conn::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

/// What a request sends.
pub enum Body<'a> {
    Empty,
    Json(serde_json::Value),
    /// JSON already written out (to keep its keys in a given order).
    JsonText(String),
    /// A stream (tar archives): sent with chunked encoding.
    Stream(&'a mut dyn Read),
}

/// A response whose body is read as it arrives.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    body: BodyReader,
}

enum BodyReader {
    Sized(io::Take<BufReader<Conn>>),
    Chunked {
        r: BufReader<Conn>,
        left: u64,
        done: bool,
    },
    Eof(BufReader<Conn>),
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.body {
            BodyReader::Sized(r) => r.read(buf),
            BodyReader::Eof(r) => r.read(buf),
            BodyReader::Chunked { r, left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let mut line = String::new();
                    r.read_line(&mut line)?;
                    if line.trim().is_empty() {
                        line.clear();
                        r.read_line(&mut line)?;
                    }
                    let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                        .map_err(|_| {
                            io::Error::new(io::ErrorKind::InvalidData, "bad chunk size")
                        })?;
                    if size == 0 {
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let want = buf.len().min(*left as usize);
                let n = r.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "chunked body cut off",
                    ));
                }
                *left -= n as u64;
                Ok(n)
            }
        }
    }
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(mut self) -> Result<String> {
        let mut s = String::new();
        self.read_to_string(&mut s)?;
        Ok(s)
    }

    pub fn json(self) -> Result<serde_json::Value> {
        let t = self.text()?;
        if t.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&t).with_context(|| format!("daemon sent invalid JSON: {t}"))
    }

    /// The body as an error if the status is not 2xx/1xx (Docker's
    /// {"message": ...} shape).
    pub fn ok(self) -> Result<Response> {
        if self.status < 300 {
            return Ok(self);
        }
        let status = self.status;
        let text = self.text().unwrap_or_default();
        let msg = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        Err(anyhow!(DaemonError {
            status,
            message: msg.trim().to_string()
        }))
    }

    /// The connection itself, for hijacked streams.
    pub fn into_conn(self) -> Conn {
        match self.body {
            BodyReader::Sized(r) => r.into_inner().into_inner(),
            BodyReader::Chunked { r, .. } | BodyReader::Eof(r) => r.into_inner(),
        }
    }
}

/// An error the daemon answered with.
#[derive(Debug)]
pub struct DaemonError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Error response from daemon: {}", self.message)
    }
}

impl std::error::Error for DaemonError {}

#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
    /// API version prefix, e.g. "/v1.41".
    prefix: String,
}

impl Client {
    /// Connect and agree on an API version with `HEAD /_ping`.
    pub fn new(endpoint: Endpoint) -> Result<Client> {
        let mut c = Client {
            endpoint,
            prefix: String::new(),
        };
        let r = c.raw("HEAD", "/_ping", &[], Body::Empty)?;
        let server = r.header("API-Version").unwrap_or("1.24").to_string();
        // We speak 1.24 .. 1.45; use the lower of the two.
        let ours = (1, 45);
        let theirs = parse_version(&server).unwrap_or((1, 24));
        let v = ours.min(theirs);
        c.prefix = format!("/v{}.{}", v.0, v.1);
        Ok(c)
    }

    /// Whether the agreed API version is at least `major.minor`.
    pub fn api_at_least(&self, major: u32, minor: u32) -> bool {
        parse_version(self.prefix.trim_start_matches("/v")).is_some_and(|v| v >= (major, minor))
    }

    /// The API version agreed with the daemon.
    pub fn api_version(&self) -> (u32, u32) {
        parse_version(self.prefix.trim_start_matches("/v")).unwrap_or((1, 24))
    }

    fn connect(&self) -> Result<Conn> {
        Ok(match &self.endpoint {
            Endpoint::Unix(p) => Conn::Unix(UnixStream::connect(p).with_context(|| {
                format!("cannot connect to the daemon at unix://{p}: is berthd running?")
            })?),
            Endpoint::Tcp(a) => Conn::Tcp(
                TcpStream::connect(a)
                    .with_context(|| format!("cannot connect to the daemon at tcp://{a}"))?,
            ),
        })
    }

    /// A versioned API request.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<Response> {
        let full = format!("{}{}", self.prefix, path);
        self.raw(method, &full, headers, body)
    }

    pub fn get(&self, path: &str) -> Result<serde_json::Value> {
        self.request("GET", path, &[], Body::Empty)?.ok()?.json()
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        self.request("POST", path, &[], Body::Json(body))?
            .ok()?
            .json()
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<Response> {
        let mut conn = self.connect()?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: berth/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        match &body {
            Body::Empty => {
                if method == "POST" || method == "PUT" {
                    head.push_str("Content-Length: 0\r\n");
                }
            }
            Body::Json(_) | Body::JsonText(_) => {
                let data = match &body {
                    Body::Json(v) => v.to_string(),
                    Body::JsonText(t) => t.clone(),
                    _ => String::new(),
                };
                head.push_str(&format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n",
                    data.len()
                ));
            }
            Body::Stream(_) => {
                head.push_str("Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n")
            }
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes())?;
        match body {
            Body::Empty => {}
            Body::Json(v) => conn.write_all(v.to_string().as_bytes())?,
            Body::JsonText(t) => conn.write_all(t.as_bytes())?,
            Body::Stream(r) => {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = r.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    conn.write_all(format!("{n:x}\r\n").as_bytes())?;
                    conn.write_all(&buf[..n])?;
                    conn.write_all(b"\r\n")?;
                }
                conn.write_all(b"0\r\n\r\n")?;
            }
        }
        conn.flush()?;
        let mut r = BufReader::new(conn);
        let mut line = String::new();
        r.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("the daemon sent no HTTP status (got {line:?})"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let body = if method == "HEAD" || status == 204 || status == 304 {
            BodyReader::Sized(r.take(0))
        } else if status == 101 {
            BodyReader::Eof(r)
        } else if get("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            BodyReader::Chunked {
                r,
                left: 0,
                done: false,
            }
        } else if let Some(len) = get("Content-Length").and_then(|v| v.parse::<u64>().ok()) {
            BodyReader::Sized(r.take(len))
        } else {
            BodyReader::Eof(r)
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// POST that upgrades the connection to a raw stream (attach, exec start).
    pub fn hijack(&self, path: &str, body: Option<serde_json::Value>) -> Result<(Conn, bool)> {
        let headers = [("Connection", "Upgrade"), ("Upgrade", "tcp")];
        let b = match body {
            Some(v) => Body::Json(v),
            None => Body::Empty,
        };
        let r = self.request("POST", path, &headers, b)?;
        if r.status != 101 && r.status != 200 {
            r.ok()?;
            bail!("the daemon did not upgrade the connection");
        }
        let multiplexed = r
            .header("Content-Type")
            .is_none_or(|t| !t.contains("raw-stream"));
        Ok((r.into_conn(), multiplexed))
    }
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Percent-encode a query value.
pub fn q(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Standard base64 (with padding), for X-Registry-Auth and config.json auths.
pub fn base64(data: &[u8], url_safe: bool) -> String {
    let table: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b"user:pass", false), "dXNlcjpwYXNz");
        assert_eq!(base64(b"{}", false), "e30=");
        assert_eq!(base64(b"a", false), "YQ==");
        assert_eq!(base64(&[0xfb, 0xff], true), "-_8=");
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            q("docker.io/library/busybox"),
            "docker.io%2Flibrary%2Fbusybox"
        );
        assert_eq!(q("a b&c"), "a%20b%26c");
    }

    #[test]
    fn hosts_parse() {
        assert!(
            matches!(Endpoint::from_env(Some("unix:///x.sock")).unwrap(), Endpoint::Unix(p) if p == "/x.sock")
        );
        assert!(
            matches!(Endpoint::from_env(Some("tcp://127.0.0.1:2375")).unwrap(), Endpoint::Tcp(a) if a == "127.0.0.1:2375")
        );
        assert!(Endpoint::from_env(Some("ssh://x")).is_err());
    }
}
