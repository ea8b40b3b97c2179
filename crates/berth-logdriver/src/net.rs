//! The sockets drivers write to: unix stream and datagram sockets, UDP and TCP, named by URLs as
//! dockerd's options name them (`unix:///dev/log`, `udp://host:514`, `tcp://10.0.0.1:12201`).
//!
//! Host names are resolved by berthd when it makes the shim's [`crate::Spec`] ([`resolve`]): the
//! shim is a static program without the C library's name services, so it only parses addresses.
//! A write that fails is tried once more on a new connection (a syslog server restarted in
//! between), as dockerd's syslog writer does; [`Endpoint::reconnecting`] sets another count and a
//! delay between the tries (gelf's TCP options).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

/// Where a driver sends its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    Unix(PathBuf),
    Unixgram(PathBuf),
    Udp(String),
    Tcp(String),
    /// TCP with TLS (`tcp+tls://`); the server's name for its certificate is given at dial.
    Tls(String),
}

/// `scheme://rest` split, as Go's `url.Parse` reads such an address; the path for the unix
/// schemes, `host:port` (the default port added when it has none) for the others.
pub fn parse(address: &str, schemes: &[&str], default_port: u16) -> Result<Addr, String> {
    let Some((scheme, rest)) = address.split_once("://") else {
        // `host:port` without a scheme: Go takes `host` as the scheme.
        let scheme = address.split(':').next().unwrap_or(address);
        return Err(if scheme.is_empty() || scheme.contains(['/', '.']) {
            format!("parse {address:?}: missing protocol scheme")
        } else {
            format!("unsupported scheme: '{scheme}'")
        });
    };
    if !schemes.contains(&scheme) {
        return Err(format!("unsupported scheme: '{scheme}'"));
    }
    match scheme {
        "unix" | "unixgram" => {
            let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            if path.is_empty() {
                return Err(format!("{address}: no socket path"));
            }
            Ok(if scheme == "unix" {
                Addr::Unix(path.into())
            } else {
                Addr::Unixgram(path.into())
            })
        }
        _ => {
            // No host is Go's "local system" (`udp://` dials `:514`): see `resolve_hostport`.
            let host = rest.split('/').next().unwrap_or(rest);
            let hostport = if has_port(host) {
                host.to_string()
            } else {
                format!("{host}:{default_port}")
            };
            Ok(match scheme {
                "udp" => Addr::Udp(hostport),
                "tcp+tls" => Addr::Tls(hostport),
                _ => Addr::Tcp(hostport),
            })
        }
    }
}

/// Whether `host` (`name`, `1.2.3.4`, `[::1]`, with or without `:port`) ends in a port.
fn has_port(host: &str) -> bool {
    match host.rsplit_once(':') {
        None => false,
        Some((h, p)) => {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']'))
        }
    }
}

/// `host:port` with the host resolved to one address: its first IPv4 address, else its first
/// (one address is dialed, where Go's dialer tries each in turn; a name with both, `localhost`,
/// mostly has its server on IPv4).
pub fn resolve_hostport(hostport: &str) -> Result<String, String> {
    if hostport.parse::<SocketAddr>().is_ok() {
        return Ok(hostport.to_string());
    }
    // Without a host Go dials the local system.
    if let Some(port) = hostport.strip_prefix(':') {
        return Ok(format!("127.0.0.1:{port}"));
    }
    let addrs: Vec<SocketAddr> = hostport
        .to_socket_addrs()
        .map_err(|e| format!("resolve {hostport}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.to_string())
        .ok_or_else(|| format!("resolve {hostport}: no address"))
}

/// Rewrite a `udp://`/`tcp://`/`tcp+tls://` address option with its host resolved (unix ones
/// stay).
pub fn resolve(address: &str) -> Result<String, String> {
    let Some((scheme, rest)) = address.split_once("://") else {
        return Ok(address.to_string());
    };
    if matches!(scheme, "unix" | "unixgram") {
        return Ok(address.to_string());
    }
    let host = rest.split('/').next().unwrap_or(rest);
    if host.is_empty() {
        // Go's local system; the driver adds its default port.
        return Ok(format!("{scheme}://127.0.0.1"));
    }
    if !has_port(host) {
        return Ok(address.to_string());
    }
    Ok(format!("{scheme}://{}", resolve_hostport(host)?))
}

/// The host part of `host:port` (without the brackets of an IPv6 address).
pub fn host_of(hostport: &str) -> &str {
    let h = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
    h.trim_start_matches('[').trim_end_matches(']')
}

/// An open socket.
enum Sock {
    Unix(UnixStream),
    Unixgram(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// What a TLS connection needs besides the address.
#[derive(Clone)]
pub struct Tls {
    pub config: std::sync::Arc<rustls::ClientConfig>,
    /// The name the server's certificate must carry (the address's host as the user wrote it).
    pub server_name: String,
}

/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn socket_addr(hostport: &str) -> io::Result<SocketAddr> {
    hostport.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{hostport}: not an IP address and port"),
        )
    })
}

fn connect(addr: &Addr, tls: Option<&Tls>) -> io::Result<Sock> {
    Ok(match addr {
        Addr::Unix(p) => Sock::Unix(UnixStream::connect(p)?),
        Addr::Unixgram(p) => {
            let s = UnixDatagram::unbound()?;
            s.connect(p)?;
            Sock::Unixgram(s)
        }
        Addr::Udp(hp) => {
            let to = socket_addr(hp)?;
            let any: SocketAddr = if to.is_ipv4() {
                "0.0.0.0:0".parse().map_err(io::Error::other)?
            } else {
                "[::]:0".parse().map_err(io::Error::other)?
            };
            let s = UdpSocket::bind(any)?;
            s.connect(to)?;
            Sock::Udp(s)
        }
        Addr::Tcp(hp) => {
            let s = TcpStream::connect_timeout(&socket_addr(hp)?, CONNECT_TIMEOUT)?;
            let _ = s.set_nodelay(true);
            Sock::Tcp(s)
        }
        Addr::Tls(hp) => {
            let tls = tls.ok_or_else(|| io::Error::other("no TLS settings"))?;
            let s = TcpStream::connect_timeout(&socket_addr(hp)?, CONNECT_TIMEOUT)?;
            let _ = s.set_nodelay(true);
            let name = rustls::pki_types::ServerName::try_from(tls.server_name.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let conn = rustls::ClientConnection::new(tls.config.clone(), name)
                .map_err(io::Error::other)?;
            let mut stream = rustls::StreamOwned::new(conn, s);
            // The handshake now, so that a server that refuses us fails the start.
            stream.conn.complete_io(&mut stream.sock)?;
            Sock::Tls(Box::new(stream))
        }
    })
}

/// Go's wording for a failed dial (`dial tcp 127.0.0.1:514: connect: connection refused`).
pub fn dial_error(addr: &Addr, e: &io::Error) -> String {
    let (net, at) = match addr {
        Addr::Unix(p) => ("unix", p.display().to_string()),
        Addr::Unixgram(p) => ("unixgram", p.display().to_string()),
        Addr::Udp(h) => ("udp", h.clone()),
        Addr::Tcp(h) | Addr::Tls(h) => ("tcp", h.clone()),
    };
    let why = crate::goval::io_error(e);
    format!("dial {net} {at}: connect: {why}")
}

/// A connection that reconnects when a write fails (once and at once, unless
/// [`Endpoint::reconnecting`] says otherwise).
pub struct Endpoint {
    addr: Addr,
    tls: Option<Tls>,
    sock: Option<Sock>,
    /// A stream socket's read and write timeouts (`None`: none), set on every new connection.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// Tries after a failed write, each on a new connection, `delay` apart.
    retries: u32,
    delay: Duration,
}

impl Endpoint {
    /// Connect now (the start fails if this does).
    pub fn dial(addr: Addr) -> Result<Endpoint, String> {
        Endpoint::dial_tls(addr, None)
    }

    /// Connect now, with TLS for [`Addr::Tls`].
    pub fn dial_tls(addr: Addr, tls: Option<Tls>) -> Result<Endpoint, String> {
        let mut e = Endpoint::unconnected(addr).with_tls(tls);
        e.connect()?;
        Ok(e)
    }

    /// An endpoint that connects at its first write.
    pub fn unconnected(addr: Addr) -> Endpoint {
        Endpoint {
            addr,
            tls: None,
            sock: None,
            read_timeout: None,
            write_timeout: None,
            retries: 1,
            delay: Duration::ZERO,
        }
    }

    /// TLS for an [`Addr::Tls`] endpoint.
    pub fn with_tls(mut self, tls: Option<Tls>) -> Endpoint {
        self.tls = tls;
        self
    }

    /// Reads and writes on a stream socket fail after waiting this long (`None` or zero: they
    /// wait as long as it takes).
    pub fn with_timeouts(mut self, read: Option<Duration>, write: Option<Duration>) -> Endpoint {
        self.read_timeout = read.filter(|d| !d.is_zero());
        self.write_timeout = write.filter(|d| !d.is_zero());
        self
    }

    /// Connect unless connected, with Go's wording for a failure (a TLS failure, the handshake or
    /// a certificate, says so rather than `connect:`).
    pub fn connect(&mut self) -> Result<(), String> {
        self.ensure().map_err(|e| match e.get_ref() {
            Some(inner) if inner.is::<rustls::Error>() => format!("tls: {inner}"),
            _ => dial_error(&self.addr, &e),
        })
    }

    /// Try a failed write again up to `retries` times, each on a new connection made `delay`
    /// after the failure.
    pub fn reconnecting(self, retries: u32, delay: Duration) -> Endpoint {
        Endpoint {
            retries,
            delay,
            ..self
        }
    }

    /// The address it sends to.
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    fn ensure(&mut self) -> io::Result<()> {
        if self.sock.is_none() {
            let s = connect(&self.addr, self.tls.as_ref())?;
            let tcp = match &s {
                Sock::Unix(u) => {
                    u.set_read_timeout(self.read_timeout)?;
                    u.set_write_timeout(self.write_timeout)?;
                    None
                }
                Sock::Tcp(t) => Some(t),
                Sock::Tls(t) => Some(&t.sock),
                Sock::Unixgram(_) | Sock::Udp(_) => None,
            };
            if let Some(t) = tcp {
                t.set_read_timeout(self.read_timeout)?;
                t.set_write_timeout(self.write_timeout)?;
            }
            self.sock = Some(s);
        }
        Ok(())
    }

    fn write_once(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.ensure()?;
        let r = match self.sock.as_mut() {
            Some(Sock::Unix(s)) => s.write_all(bytes),
            Some(Sock::Tcp(s)) => s.write_all(bytes),
            Some(Sock::Tls(s)) => s.write_all(bytes).and_then(|()| s.flush()),
            Some(Sock::Unixgram(s)) => s.send(bytes).map(drop),
            Some(Sock::Udp(s)) => s.send(bytes).map(drop),
            None => Ok(()),
        };
        if r.is_err() {
            self.sock = None;
        }
        r
    }
}

impl crate::Conn for Endpoint {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut r = self.write_once(bytes);
        for _ in 0..self.retries {
            if r.is_ok() {
                break;
            }
            std::thread::sleep(self.delay);
            r = self.write_once(bytes);
        }
        r
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = match self.sock.as_mut() {
            Some(Sock::Unix(s)) => s.read(buf),
            Some(Sock::Tcp(s)) => s.read(buf),
            Some(Sock::Tls(s)) => s.read(buf),
            Some(Sock::Unixgram(s)) => s.recv(buf),
            Some(Sock::Udp(s)) => s.recv(buf),
            None => Err(io::ErrorKind::NotConnected.into()),
        };
        if r.is_err() {
            self.sock = None;
        }
        r
    }

    fn reset(&mut self) {
        self.sock = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Conn;

    const ALL: [&str; 4] = ["unix", "unixgram", "udp", "tcp"];

    #[test]
    fn addresses_parse_as_dockerd_reads_them() {
        assert_eq!(
            parse("udp://10.0.0.1", &ALL, 514),
            Ok(Addr::Udp("10.0.0.1:514".into()))
        );
        assert_eq!(
            parse("tcp://[::1]:1514", &ALL, 514),
            Ok(Addr::Tcp("[::1]:1514".into()))
        );
        assert_eq!(
            parse("tcp://[::1]", &ALL, 514),
            Ok(Addr::Tcp("[::1]:514".into()))
        );
        assert_eq!(
            parse("unix:///dev/log", &ALL, 514),
            Ok(Addr::Unix("/dev/log".into()))
        );
        assert_eq!(
            parse("http://x", &ALL, 514),
            Err("unsupported scheme: 'http'".into())
        );
        assert_eq!(
            parse("localhost:514", &ALL, 514),
            Err("unsupported scheme: 'localhost'".into())
        );
        assert_eq!(parse("udp://", &ALL, 514), Ok(Addr::Udp(":514".into())));
        assert_eq!(resolve("udp://:514"), Ok("udp://127.0.0.1:514".into()));
        assert_eq!(resolve("udp://"), Ok("udp://127.0.0.1".into()));
    }

    #[test]
    fn names_resolve_and_addresses_stay() {
        assert_eq!(resolve("udp://127.0.0.1:9"), Ok("udp://127.0.0.1:9".into()));
        assert_eq!(resolve("unix:///dev/log"), Ok("unix:///dev/log".into()));
        assert_eq!(resolve("tcp://localhost:9"), Ok("tcp://127.0.0.1:9".into()));
        assert_eq!(
            resolve("tcp+tls://localhost"),
            Ok("tcp+tls://localhost".into()),
            "a name without its port stays for the driver's default"
        );
    }

    #[test]
    fn a_refused_dial_says_so_and_datagrams_arrive() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = Endpoint::dial(Addr::Tcp(format!("127.0.0.1:{port}")))
            .err()
            .unwrap();
        assert_eq!(
            e,
            format!("dial tcp 127.0.0.1:{port}: connect: connection refused")
        );
        let r = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut c = Endpoint::dial(Addr::Udp(r.local_addr().unwrap().to_string())).unwrap();
        c.send(b"one").unwrap();
        let mut buf = [0u8; 16];
        let n = r.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
    }
}
