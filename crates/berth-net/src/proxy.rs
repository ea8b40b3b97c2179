//! The userland side of published ports: a listener on the host address
//! that relays each TCP connection (or UDP flow) to the container. It makes
//! ports published on 127.0.0.1 work, which DNAT alone does not, as Docker's
//! proxy does. Plain threads: a few per mapping, idle while nothing flows.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::error::{io, Result};

/// A running relay; dropping it stops accepting and closes the listener.
pub struct Proxy {
    stop: Arc<AtomicBool>,
    local: SocketAddr,
    handle: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    /// Relay TCP from `listen` to `target`. Binding happens now, so a port
    /// in use is reported to the caller.
    pub fn tcp(listen: SocketAddr, target: SocketAddr) -> Result<Proxy> {
        let listener = TcpListener::bind(listen).map_err(io(format!("listen on {listen}")))?;
        let local = listener.local_addr().map_err(io("local address"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            for client in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(client) = client {
                    thread::spawn(move || relay_tcp(client, target));
                }
            }
        });
        Ok(Proxy {
            stop,
            local,
            handle: Some(handle),
        })
    }

    /// Relay UDP datagrams from `listen` to `target`, one upstream socket per client.
    pub fn udp(listen: SocketAddr, target: SocketAddr) -> Result<Proxy> {
        let sock = UdpSocket::bind(listen).map_err(io(format!("listen on udp {listen}")))?;
        let local = sock.local_addr().map_err(io("local address"))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(io("set timeout"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let sock = Arc::new(sock);
            let flows: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
            let mut buf = vec![0u8; 65536];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, client)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let upstream = {
                    let mut map = flows.lock().expect("flows lock");
                    if let Some(u) = map.get(&client) {
                        u.clone()
                    } else {
                        let any: SocketAddr = if target.is_ipv6() {
                            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                        } else {
                            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                        };
                        let Ok(u) = UdpSocket::bind(any) else {
                            continue;
                        };
                        if u.connect(target).is_err() {
                            continue;
                        }
                        let _ = u.set_read_timeout(Some(Duration::from_secs(60)));
                        let u = Arc::new(u);
                        map.insert(client, u.clone());
                        let (back, down, flows2, flag2) =
                            (u.clone(), sock.clone(), flows.clone(), flag.clone());
                        thread::spawn(move || {
                            let mut b = vec![0u8; 65536];
                            while !flag2.load(Ordering::Relaxed) {
                                match back.recv(&mut b) {
                                    Ok(n) => {
                                        let _ = down.send_to(&b[..n], client);
                                    }
                                    Err(_) => break,
                                }
                            }
                            flows2.lock().expect("flows lock").remove(&client);
                        });
                        u
                    }
                };
                let _ = upstream.send(&buf[..n]);
            }
        });
        Ok(Proxy {
            stop,
            local,
            handle: Some(handle),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake a TCP accept blocked on the listener (UDP wakes by timeout).
        let mut wake = self.local;
        if wake.ip().is_unspecified() {
            wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_millis(200));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn relay_tcp(client: TcpStream, target: SocketAddr) {
    let Ok(upstream) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
        return;
    };
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let t = thread::spawn(move || copy_half(c2, u2));
    copy_half(upstream, client);
    let _ = t.join();
}

/// Copy until EOF, then pass the EOF on (half-close) so the other direction
/// can finish.
fn copy_half(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_relay_carries_both_directions_and_half_close() {
        let backend = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = backend.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = backend.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&got.iter().rev().copied().collect::<Vec<_>>())
                .unwrap();
        });
        let proxy = Proxy::tcp("127.0.0.1:0".parse().unwrap(), target).unwrap();
        let mut c = TcpStream::connect(proxy.local_addr()).unwrap();
        c.write_all(b"berth").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).unwrap();
        assert_eq!(back, "htreb");
    }

    #[test]
    fn udp_relay_answers_the_client() {
        let backend = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = backend.local_addr().unwrap();
        thread::spawn(move || {
            let mut b = [0u8; 64];
            let (n, from) = backend.recv_from(&mut b).unwrap();
            backend.send_to(&b[..n].to_ascii_uppercase(), from).unwrap();
        });
        let proxy = Proxy::udp("127.0.0.1:0".parse().unwrap(), target).unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(b"ping", proxy.local_addr()).unwrap();
        let mut b = [0u8; 64];
        let n = c.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"PING");
    }

    #[test]
    fn a_port_in_use_is_an_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = Proxy::tcp(taken.local_addr().unwrap(), "127.0.0.1:1".parse().unwrap());
        assert!(err.is_err());
    }
}
