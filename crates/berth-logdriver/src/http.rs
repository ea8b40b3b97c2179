//! A minimal HTTP/1.1 client over a [`Conn`], for drivers that post their events (splunk's HTTP
//! Event Collector): one request at a time, the body sent with its `Content-Length`, the answer's
//! status and the start of its body read back (by `Content-Length`, chunked, or to the end of the
//! connection). The connection is kept for the next request unless the server closes it; a
//! request whose kept connection turns out closed before any answer is sent once more on a new one.
//!
//! The answer is outside input: its size is bounded and anything malformed is an error.

use crate::Conn;
use std::io;

/// The most bytes of a status line and headers.
const MAX_HEAD: usize = 64 << 10;
/// The most bytes of a body read to keep the connection; a longer one closes it.
const MAX_BODY: usize = 1 << 20;

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub code: u16,
    /// The code and the reason, as Go's `Response.Status` (`200 OK`).
    pub status: String,
    /// The body's first `keep` bytes (see [`Client::request`]).
    pub body: Vec<u8>,
}

/// A request's method, path, headers and body.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The bytes on the wire, for the server named `host` (the `Host` header).
    pub fn bytes(&self, host: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: berth\r\n",
            self.method, self.path
        );
        // Go sends no length for a bodiless request other than these.
        if !self.body.is_empty() || matches!(self.method, "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        for (k, v) in self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(self.body);
        out
    }
}

/// A connection to one server.
pub struct Client<C: Conn> {
    conn: C,
    host: String,
    /// A request was answered on the current connection (so it may have been closed since).
    reused: bool,
}

fn bad(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed HTTP response: {why}"),
    )
}

/// The connection ended before the first byte of an answer.
fn no_answer() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection")
}

impl<C: Conn> Client<C> {
    /// A client of the server named `host` (`name[:port]`, as the `Host` header carries it).
    pub fn new(conn: C, host: &str) -> Client<C> {
        Client {
            conn,
            host: host.to_string(),
            reused: false,
        }
    }

    /// The connection (to connect it first, say).
    pub fn conn(&mut self) -> &mut C {
        &mut self.conn
    }

    /// Send `req` and read the answer, keeping at most `keep` bytes of its body.
    pub fn request(&mut self, req: &Request, keep: usize) -> io::Result<Response> {
        let bytes = req.bytes(&self.host);
        let mut retried = false;
        loop {
            let reused = self.reused;
            let r = self
                .conn
                .send(&bytes)
                .and_then(|()| read_response(&mut self.conn, req.method, keep));
            match r {
                Ok((resp, open)) => {
                    self.reused = open;
                    if !open {
                        self.conn.reset();
                    }
                    return Ok(resp);
                }
                Err(e) => {
                    self.conn.reset();
                    self.reused = false;
                    let stale = matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::BrokenPipe
                            | io::ErrorKind::ConnectionAborted
                    );
                    if reused && stale && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// Reads an answer from a connection.
struct Reader<'a, C: Conn> {
    conn: &'a mut C,
    buf: Vec<u8>,
    pos: usize,
    /// Bytes received so far.
    got: usize,
}

impl<C: Conn> Reader<'_, C> {
    fn fill(&mut self) -> io::Result<()> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; 8192];
        let n = self.conn.recv(&mut chunk)?;
        if n == 0 {
            return Err(if self.got == 0 {
                no_answer()
            } else {
                bad("unexpected end of the connection")
            });
        }
        self.got += n;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// One line without its `\r\n`.
    fn line(&mut self, limit: &mut usize) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|b| *b == b'\n') {
                let raw = &self.buf[self.pos..self.pos + i];
                *limit = limit
                    .checked_sub(i + 1)
                    .ok_or_else(|| bad("header too long"))?;
                let line = String::from_utf8_lossy(raw.strip_suffix(b"\r").unwrap_or(raw));
                let line = line.into_owned();
                self.pos += i + 1;
                return Ok(line);
            }
            if self.buf.len() - self.pos > *limit {
                return Err(bad("header too long"));
            }
            self.fill()?;
        }
    }

    /// `n` bytes, the first of them appended to `out` while it is shorter than `keep`.
    fn take(&mut self, mut n: usize, out: &mut Vec<u8>, keep: usize) -> io::Result<()> {
        while n > 0 {
            if self.pos == self.buf.len() {
                self.fill()?;
            }
            let k = n.min(self.buf.len() - self.pos);
            let room = keep.saturating_sub(out.len()).min(k);
            out.extend_from_slice(&self.buf[self.pos..self.pos + room]);
            self.pos += k;
            n -= k;
        }
        Ok(())
    }

    /// Everything until the connection ends.
    fn rest(&mut self, out: &mut Vec<u8>, keep: usize) -> io::Result<()> {
        let mut total = 0usize;
        loop {
            let k = self.buf.len() - self.pos;
            total += k;
            let room = keep.saturating_sub(out.len()).min(k);
            out.extend_from_slice(&self.buf[self.pos..self.pos + room]);
            self.pos = self.buf.len();
            if total > MAX_BODY {
                return Ok(());
            }
            let mut chunk = [0u8; 8192];
            match self.conn.recv(&mut chunk)? {
                0 => return Ok(()),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// The status line and headers that matter.
struct Head {
    code: u16,
    status: String,
    length: Option<usize>,
    chunked: bool,
    /// The connection stays open after this answer.
    open: bool,
}

fn read_head<C: Conn>(r: &mut Reader<C>) -> io::Result<Head> {
    let mut limit = MAX_HEAD;
    let line = r.line(&mut limit)?;
    let (version, status) = line.split_once(' ').ok_or_else(|| bad("no status"))?;
    let status = status.trim().to_string();
    let code = status
        .get(..3)
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| bad("no status code"))?;
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not HTTP/1"));
    }
    let mut head = Head {
        code,
        status,
        length: None,
        chunked: false,
        open: version == "HTTP/1.1",
    };
    loop {
        let line = r.line(&mut limit)?;
        if line.is_empty() {
            return Ok(head);
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad("header without colon"))?;
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                head.length = Some(v.parse().map_err(|_| bad("bad content-length"))?);
            }
            "transfer-encoding" => head.chunked = v.eq_ignore_ascii_case("chunked"),
            "connection" => {
                if v.eq_ignore_ascii_case("close") {
                    head.open = false;
                } else if v.eq_ignore_ascii_case("keep-alive") {
                    head.open = true;
                }
            }
            _ => {}
        }
    }
}

/// The answer to a `method` request, and whether the connection stays open.
fn read_response<C: Conn>(conn: &mut C, method: &str, keep: usize) -> io::Result<(Response, bool)> {
    let mut r = Reader {
        conn,
        buf: Vec::new(),
        pos: 0,
        got: 0,
    };
    let mut head = read_head(&mut r)?;
    // Interim answers (100 Continue) come before the real one.
    while (100..200).contains(&head.code) && head.code != 101 {
        head = read_head(&mut r)?;
    }
    let mut body = Vec::new();
    let bodiless = method == "HEAD" || matches!(head.code, 101 | 204 | 304);
    if bodiless {
    } else if head.chunked {
        let mut total = 0usize;
        loop {
            let mut limit = MAX_HEAD;
            let line = r.line(&mut limit)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let n = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
            if n == 0 {
                // Trailers, up to the empty line.
                while !r.line(&mut limit)?.is_empty() {}
                break;
            }
            total = total.saturating_add(n);
            if total > MAX_BODY {
                return Err(bad("body too long"));
            }
            r.take(n, &mut body, keep)?;
            if !r.line(&mut limit)?.is_empty() {
                return Err(bad("chunk without its end"));
            }
        }
    } else if let Some(n) = head.length {
        if n > MAX_BODY {
            // Not worth reading to keep the connection: what came with the head is enough.
            let first = (r.buf.len() - r.pos).min(keep);
            body.extend_from_slice(&r.buf[r.pos..r.pos + first]);
            head.open = false;
        } else {
            r.take(n, &mut body, keep)?;
        }
    } else {
        r.rest(&mut body, keep)?;
        head.open = false;
    }
    // Bytes beyond the answer: the server is not speaking HTTP as we are.
    if r.pos != r.buf.len() {
        head.open = false;
    }
    Ok((
        Response {
            code: head.code,
            status: head.status,
            body,
        },
        head.open,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A server over a fake connection: it records each request's bytes and answers each with
    /// the next of its answers (none left: the connection ends).
    #[derive(Clone, Default)]
    pub struct Server {
        pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
        pub answers: Arc<Mutex<Vec<Vec<u8>>>>,
        pending: Vec<u8>,
        pub resets: Arc<Mutex<usize>>,
    }

    impl Server {
        pub fn answering(answers: &[&[u8]]) -> Server {
            let s = Server::default();
            *s.answers.lock().unwrap() = answers.iter().map(|a| a.to_vec()).collect();
            s
        }

        pub fn requests(&self) -> Vec<Vec<u8>> {
            self.requests.lock().unwrap().clone()
        }
    }

    impl Conn for Server {
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.requests.lock().unwrap().push(bytes.to_vec());
            let mut a = self.answers.lock().unwrap();
            self.pending = if a.is_empty() {
                Vec::new()
            } else {
                a.remove(0)
            };
            Ok(())
        }

        fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // A few bytes at a time: the reader must put the answer together.
            let n = buf.len().min(self.pending.len()).min(7);
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Ok(n)
        }

        fn reset(&mut self) {
            *self.resets.lock().unwrap() += 1;
        }
    }

    const OK: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{\"text\":\"Success\",\"code\":0}";

    fn post(body: &[u8]) -> Request<'_> {
        Request {
            method: "POST",
            path: "/p",
            headers: &[("Authorization", "Splunk t")],
            body,
        }
    }

    #[test]
    fn a_post_carries_its_length_and_headers() {
        assert_eq!(
            post(b"abc").bytes("h:1"),
            b"POST /p HTTP/1.1\r\nHost: h:1\r\nUser-Agent: berth\r\nContent-Length: 3\r\nAuthorization: Splunk t\r\n\r\nabc"
        );
        let options = Request {
            method: "OPTIONS",
            path: "/p",
            headers: &[],
            body: b"",
        };
        assert_eq!(
            options.bytes("h"),
            b"OPTIONS /p HTTP/1.1\r\nHost: h\r\nUser-Agent: berth\r\n\r\n"
        );
    }

    #[test]
    fn answers_are_read_by_length_chunks_or_to_the_end() {
        let s = Server::answering(&[
            OK,
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nno s\r\n3;x=1\r\nir!\r\n0\r\n\r\n",
            b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy",
        ]);
        let mut c = Client::new(s.clone(), "h");
        let r = c.request(&post(b"1"), 1024).unwrap();
        assert_eq!((r.code, r.status.as_str()), (200, "200 OK"));
        assert_eq!(r.body, b"{\"text\":\"Success\",\"code\":0}");
        let r = c.request(&post(b"2"), 5).unwrap();
        assert_eq!((r.code, r.status.as_str()), (403, "403 Forbidden"));
        assert_eq!(r.body, b"no si", "kept to its first bytes");
        assert_eq!(*s.resets.lock().unwrap(), 0, "kept alive");
        let r = c.request(&post(b"3"), 1024).unwrap();
        assert_eq!((r.code, r.body.as_slice()), (503, &b"busy"[..]));
        assert_eq!(*s.resets.lock().unwrap(), 1, "closed after a 1.0 answer");
    }

    #[test]
    fn a_closed_kept_connection_is_tried_once_more_and_garbage_is_an_error() {
        // The second request finds the connection closed (no answer), then a new one answers.
        let s = Server::answering(&[OK, b"", OK]);
        let mut c = Client::new(s.clone(), "h");
        c.request(&post(b"1"), 0).unwrap();
        assert_eq!(c.request(&post(b"2"), 0).unwrap().code, 200);
        assert_eq!(s.requests().len(), 3);
        // A fresh connection that ends without an answer is not retried.
        let s = Server::answering(&[b""]);
        let e = Client::new(s.clone(), "h")
            .request(&post(b"1"), 0)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(s.requests().len(), 1);
        for garbage in [
            &b"SSH-2.0-OpenSSH\r\n"[..],
            b"HTTP/1.1 abc\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        ] {
            let s = Server::answering(&[garbage]);
            let e = Client::new(s, "h").request(&post(b"1"), 0).unwrap_err();
            assert!(e.to_string().starts_with("malformed HTTP response"), "{e}");
        }
        let endless = [b'a'; MAX_HEAD + 10];
        let s = Server::answering(&[&endless]);
        assert!(Client::new(s, "h").request(&post(b"1"), 0).is_err());
    }
}
