//! Container DNS for user networks: one resolver per network, listening on
//! UDP port 53 of the network's gateway address (berthd's own network
//! namespace, so no socket has to be made inside each container; TCP too). It answers
//! A queries for the names of the network's endpoints (container name,
//! aliases, short id, hostname), round-robin when several containers share a
//! name, and forwards everything else to the host's resolvers (an
//! [`Upstream`]). The message codec is hand-written: a header, one question,
//! answers that point back at the question's name.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::{io, Result};

mod wire;
use wire::*;
pub use wire::{build_answer, parse_query, Question};

/// Queries being forwarded upstream at once, per network.
const MAX_FORWARDS: usize = 64;

/// Where names the network does not know go: the host's resolvers.
pub trait Upstream: Send + Sync {
    /// The reply to `query`, or None if no resolver answered.
    fn forward(&self, query: &[u8]) -> Option<Vec<u8>>;
}

/// Forwarding over UDP to the host's resolvers, one after another.
pub struct UdpUpstream {
    pub servers: Vec<SocketAddr>,
    pub timeout: Duration,
}

impl UdpUpstream {
    /// Forwarding to `servers` (a container's `--dns`).
    pub fn to(servers: Vec<SocketAddr>) -> UdpUpstream {
        UdpUpstream {
            servers,
            timeout: Duration::from_secs(2),
        }
    }

    /// The nameservers of a resolv.conf, leaving out loopback ones (they
    /// answer in the host's namespace only and would loop back to us).
    pub fn from_resolv_conf(text: &str) -> UdpUpstream {
        let servers = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("nameserver")).then(|| w.next())?
            })
            .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
            .filter(|a| !a.is_loopback())
            .map(|a| SocketAddr::new(a, 53))
            .collect();
        UdpUpstream {
            servers,
            timeout: Duration::from_secs(2),
        }
    }
}

impl Upstream for UdpUpstream {
    fn forward(&self, query: &[u8]) -> Option<Vec<u8>> {
        for server in &self.servers {
            let bind: SocketAddr = if server.is_ipv4() {
                "0.0.0.0:0".parse().expect("addr")
            } else {
                "[::]:0".parse().expect("addr")
            };
            let Ok(sock) = UdpSocket::bind(bind) else {
                continue;
            };
            if sock.set_read_timeout(Some(self.timeout)).is_err()
                || sock.connect(server).is_err()
                || sock.send(query).is_err()
            {
                continue;
            }
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                if n >= 2 && buf[..2] == query[..2] {
                    return Some(buf[..n].to_vec());
                }
            }
        }
        None
    }
}

/// The names of one network: name -> (container id, address), in the order added.
#[derive(Default)]
pub struct Records {
    names: BTreeMap<String, Vec<(String, Ipv4Addr)>>,
    /// container id -> its address on this network.
    owners: BTreeMap<String, Ipv4Addr>,
    /// container id -> (alias -> container name): legacy links on a user network,
    /// names only that container resolves.
    links: BTreeMap<String, BTreeMap<String, String>>,
    /// container id -> its IPv6 address on a dual-stack network.
    v6: BTreeMap<String, Ipv6Addr>,
    /// container id -> its first name (what a reverse lookup answers).
    primary: BTreeMap<String, String>,
    /// container id -> its own upstream servers (`--dns`).
    servers: BTreeMap<String, Vec<SocketAddr>>,
    turn: AtomicUsize,
    /// The network's name (lower case): reverse lookups answer `NAME.NETWORK`, and
    /// `NAME.NETWORK` resolves as `NAME` does, as with Docker's resolver.
    domain: String,
}

impl Records {
    /// Add a container's endpoint under each of `names` (case-insensitive).
    pub fn add(&mut self, container_id: &str, names: &[String], addr: Ipv4Addr) {
        self.owners.insert(container_id.to_string(), addr);
        if let Some(first) = names.iter().find(|n| !n.is_empty()) {
            self.primary
                .insert(container_id.to_string(), first.to_ascii_lowercase());
        }
        for n in names.iter().filter(|n| !n.is_empty()) {
            let list = self.names.entry(n.to_ascii_lowercase()).or_default();
            if !list.iter().any(|(c, _)| c == container_id) {
                list.push((container_id.to_string(), addr));
            }
        }
    }

    /// Names only `container_id` resolves: (alias, name of the linked container).
    pub fn add_links(&mut self, container_id: &str, links: &[(String, String)]) {
        if links.is_empty() {
            return;
        }
        let map = self.links.entry(container_id.to_string()).or_default();
        for (alias, target) in links {
            map.insert(alias.to_ascii_lowercase(), target.to_ascii_lowercase());
        }
    }

    /// The container's IPv6 address (its names answer AAAA queries with it).
    pub fn add_ipv6(&mut self, container_id: &str, addr: Ipv6Addr) {
        self.v6.insert(container_id.to_string(), addr);
    }

    /// Where the container's queries for names nobody here has go (its `--dns`
    /// servers, port 53), instead of the host's resolvers.
    pub fn set_servers(&mut self, container_id: &str, servers: &[IpAddr]) {
        if servers.is_empty() {
            self.servers.remove(container_id);
        } else {
            let list = servers.iter().map(|a| SocketAddr::new(*a, 53)).collect();
            self.servers.insert(container_id.to_string(), list);
        }
    }

    /// The network's name, for the `NAME.NETWORK` forms.
    pub fn set_domain(&mut self, network: &str) {
        self.domain = network.to_ascii_lowercase();
    }

    /// The key of `name` in `names`: itself, or without `.NETWORK` when only that form is known.
    fn key<'a>(&self, name: &'a str) -> &'a str {
        let n = name.trim_end_matches('.');
        if self.names.contains_key(n) || self.domain.is_empty() {
            return n;
        }
        n.strip_suffix(self.domain.as_str())
            .and_then(|s| s.strip_suffix('.'))
            .filter(|s| !s.is_empty())
            .unwrap_or(n)
    }

    /// Remove every name of a container.
    pub fn remove(&mut self, container_id: &str) {
        self.owners.remove(container_id);
        self.v6.remove(container_id);
        self.primary.remove(container_id);
        self.servers.remove(container_id);
        self.links.remove(container_id);
        self.names.retain(|_, list| {
            list.retain(|(c, _)| c != container_id);
            !list.is_empty()
        });
    }

    /// The addresses of `name`, rotated one step per lookup (round-robin).
    pub fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let list = self.names.get(self.key(name))?;
        let mut addrs: Vec<Ipv4Addr> = list.iter().map(|(_, a)| *a).collect();
        addrs.dedup();
        let k = self.turn.fetch_add(1, Ordering::Relaxed) % addrs.len();
        addrs.rotate_left(k);
        Some(addrs)
    }

    /// The IPv6 addresses of `name`'s containers (round-robin too).
    pub fn lookup6(&self, name: &str) -> Option<Vec<Ipv6Addr>> {
        let list = self.names.get(self.key(name))?;
        let mut addrs: Vec<Ipv6Addr> = list
            .iter()
            .filter_map(|(c, _)| self.v6.get(c).copied())
            .collect();
        addrs.dedup();
        if !addrs.is_empty() {
            let k = self.turn.fetch_add(1, Ordering::Relaxed) % addrs.len();
            addrs.rotate_left(k);
        }
        Some(addrs)
    }

    /// The first name of the container with `addr` (either family).
    fn name_of(&self, addr: IpAddr) -> Option<String> {
        let who = match addr {
            IpAddr::V4(a) => self.owner(a)?,
            IpAddr::V6(a) => self.v6.iter().find(|(_, x)| **x == a)?.0.as_str(),
        };
        let name = self.primary.get(who)?;
        Some(if self.domain.is_empty() {
            name.clone()
        } else {
            format!("{name}.{}", self.domain)
        })
    }

    /// The container that has `addr` on this network.
    fn owner(&self, addr: Ipv4Addr) -> Option<&str> {
        self.owners
            .iter()
            .find(|(_, a)| **a == addr)
            .map(|(c, _)| c.as_str())
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The records of every network, so a container on several networks
/// resolves the names of all of them, whichever resolver it asks.
#[derive(Default)]
pub struct Directory {
    nets: BTreeMap<String, Records>,
}

impl Directory {
    /// The records of one network (made empty on first use).
    pub fn network(&mut self, net: &str) -> &mut Records {
        self.nets.entry(net.to_string()).or_default()
    }

    /// Forget a network.
    pub fn drop_network(&mut self, net: &str) {
        self.nets.remove(net);
    }

    /// `name` as the container at `from` on network `net` sees it: the names of
    /// `net` first, then of the other networks that container is on.
    pub fn lookup(&self, net: &str, from: Option<Ipv4Addr>, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.find(net, from, name, Records::lookup)
    }

    /// [`Directory::lookup`] for IPv6 addresses.
    pub fn lookup6(&self, net: &str, from: Option<Ipv4Addr>, name: &str) -> Option<Vec<Ipv6Addr>> {
        self.find(net, from, name, Records::lookup6)
    }

    fn find<T>(
        &self,
        net: &str,
        from: Option<Ipv4Addr>,
        name: &str,
        get: impl Fn(&Records, &str) -> Option<T>,
    ) -> Option<T> {
        let home = self.nets.get(net)?;
        if let Some(a) = get(home, name) {
            return Some(a);
        }
        let who = home.owner(from?)?;
        let name = name.trim_end_matches('.');
        if let Some(target) = home.links.get(who).and_then(|l| l.get(name)) {
            return get(home, target);
        }
        self.nets
            .iter()
            .filter(|(id, r)| id.as_str() != net && r.owners.contains_key(who))
            .find_map(|(_, r)| get(r, name))
    }

    /// The name of the container with `addr` on `net` or on another network of the asking container.
    pub fn ptr(&self, net: &str, from: Option<Ipv4Addr>, addr: IpAddr) -> Option<String> {
        let home = self.nets.get(net)?;
        if let Some(n) = home.name_of(addr) {
            return Some(n);
        }
        let who = home.owner(from?)?;
        self.nets
            .iter()
            .filter(|(id, r)| id.as_str() != net && r.owners.contains_key(who))
            .find_map(|(_, r)| r.name_of(addr))
    }

    /// The asking container's own upstream servers (`--dns`), if it has any.
    pub fn servers(&self, net: &str, from: Option<Ipv4Addr>) -> Option<Vec<SocketAddr>> {
        let home = self.nets.get(net)?;
        home.servers.get(home.owner(from?)?).cloned()
    }
}

impl Names for Records {
    fn a(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.lookup(name)
    }
    fn aaaa(&self, name: &str) -> Option<Vec<Ipv6Addr>> {
        self.lookup6(name)
    }
    fn ptr(&self, addr: IpAddr) -> Option<String> {
        self.name_of(addr)
    }
}

/// The directory as the container at `from` on network `net` sees it.
struct Asking<'a> {
    dir: &'a Directory,
    net: &'a str,
    from: Option<Ipv4Addr>,
}

impl Names for Asking<'_> {
    fn a(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.dir.lookup(self.net, self.from, name)
    }
    fn aaaa(&self, name: &str) -> Option<Vec<Ipv6Addr>> {
        self.dir.lookup6(self.net, self.from, name)
    }
    fn ptr(&self, addr: IpAddr) -> Option<String> {
        self.dir.ptr(self.net, self.from, addr)
    }
}

/// The answer to a query that needs no upstream: a name of the network (its
/// A or AAAA records; no other kind of record, which is an empty answer, not
/// an error), the PTR record of a container's address, or NXDOMAIN for a
/// single label nobody on the network has (the host's resolvers cannot know it
/// either). None: ask upstream.
fn answer_locally(query: &[u8], q: &Question, names: &dyn Names) -> Option<Vec<u8>> {
    if q.qclass == CLASS_IN {
        if q.qtype == TYPE_PTR {
            if let Some(name) = reverse_addr(&q.name).and_then(|a| names.ptr(a)) {
                return Some(build_records(
                    query,
                    q,
                    &[(TYPE_PTR, encode_name(&name))],
                    0,
                ));
            }
        } else if q.qtype == TYPE_AAAA {
            if let Some(addrs) = names.aaaa(&q.name) {
                let records: Vec<(u16, Vec<u8>)> = addrs
                    .iter()
                    .map(|a| (TYPE_AAAA, a.octets().to_vec()))
                    .collect();
                return Some(build_records(query, q, &records, 0));
            }
        } else if let Some(addrs) = names.a(&q.name) {
            let addrs = if q.qtype == TYPE_A { addrs } else { Vec::new() };
            return Some(build_answer(query, q, &addrs, 0));
        }
    }
    (!q.name.is_empty() && !q.name.contains('.'))
        .then(|| build_answer(query, q, &[], RCODE_NXDOMAIN))
}

/// Answer one query: from `records`, else through `upstream` (SERVFAIL when
/// no resolver answers). None for a malformed query (which gets no reply).
pub fn resolve(query: &[u8], records: &Records, upstream: &dyn Upstream) -> Option<Vec<u8>> {
    let q = parse_query(query)?;
    Some(answer_locally(query, &q, records).unwrap_or_else(|| forward(query, &q, upstream)))
}

fn forward(query: &[u8], q: &Question, upstream: &dyn Upstream) -> Vec<u8> {
    upstream
        .forward(query)
        .unwrap_or_else(|| build_answer(query, q, &[], RCODE_SERVFAIL))
}

/// A resolver serving one network on `addr:53`, UDP and TCP, each on a thread of its own.
pub struct DnsServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    tcp_thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    /// Bind `addr` (UDP, and TCP on the same port) and answer for network `net` of `dir`.
    pub fn start(
        addr: SocketAddr,
        net: &str,
        dir: Arc<RwLock<Directory>>,
        upstream: Arc<dyn Upstream>,
    ) -> Result<DnsServer> {
        let sock = UdpSocket::bind(addr).map_err(io(format!("bind the DNS resolver on {addr}")))?;
        let addr = sock
            .local_addr()
            .map_err(io("the DNS resolver's address"))?;
        let sock = Arc::new(sock);
        let stop = Arc::new(AtomicBool::new(false));
        let listener = std::net::TcpListener::bind(addr)
            .map_err(io(format!("bind the DNS resolver on {addr}/tcp")))?;
        let (stop2, net2, dir2, up2) =
            (stop.clone(), net.to_string(), dir.clone(), upstream.clone());
        let tcp_thread = std::thread::Builder::new()
            .name(format!("dns tcp {addr}"))
            .spawn(move || serve_tcp(&listener, &stop2, &net2, &dir2, &up2))
            .map_err(io("start the DNS resolver thread"))?;
        let (sock2, stop2, net) = (sock.clone(), stop.clone(), net.to_string());
        let thread = std::thread::Builder::new()
            .name(format!("dns {addr}"))
            .spawn(move || serve(&sock2, &stop2, &net, &dir, upstream));
        let mut server = DnsServer {
            addr,
            stop,
            thread: None,
            tcp_thread: Some(tcp_thread),
        };
        // On failure, dropping `server` stops the TCP thread.
        server.thread = Some(thread.map_err(io("start the DNS resolver thread"))?);
        Ok(server)
    }
}

/// DNS over TCP (clients retry there when a UDP answer is truncated): each
/// connection on a thread of its own, at most MAX_FORWARDS at once.
fn serve_tcp(
    listener: &std::net::TcpListener,
    stop: &AtomicBool,
    net: &str,
    dir: &Arc<RwLock<Directory>>,
    up: &Arc<dyn Upstream>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let Ok(stream) = conn else { continue };
        if open.fetch_add(1, Ordering::AcqRel) >= MAX_FORWARDS {
            open.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let slot = Slot(open.clone());
        let (net, dir, up) = (net.to_string(), dir.clone(), up.clone());
        let _ = std::thread::Builder::new()
            .name("dns tcp conn".into())
            .spawn(move || {
                let _slot = slot;
                serve_tcp_conn(stream, &net, &dir, up.as_ref());
            });
    }
}

/// Length-prefixed queries on one connection until it closes or idles for 10 s.
fn serve_tcp_conn(
    mut stream: std::net::TcpStream,
    net: &str,
    dir: &RwLock<Directory>,
    up: &dyn Upstream,
) {
    use std::io::{Read, Write};
    let from = match stream.peer_addr().map(|a| a.ip()) {
        Ok(std::net::IpAddr::V4(a)) => Some(a),
        _ => None,
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .is_err()
    {
        return;
    }
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
        if stream.read_exact(&mut query).is_err() {
            return;
        }
        let Some(q) = parse_query(&query) else { return };
        let (local, own) = {
            let dir = dir.read().unwrap_or_else(|e| e.into_inner());
            let asking = Asking {
                dir: &dir,
                net,
                from,
            };
            (answer_locally(&query, &q, &asking), dir.servers(net, from))
        };
        let reply = local.unwrap_or_else(|| match own {
            Some(servers) => forward(&query, &q, &UdpUpstream::to(servers)),
            None => forward(&query, &q, up),
        });
        let mut out = (reply.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&reply);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

fn serve(
    sock: &Arc<UdpSocket>,
    stop: &AtomicBool,
    net: &str,
    dir: &RwLock<Directory>,
    up: Arc<dyn Upstream>,
) {
    let mut buf = vec![0u8; 4096];
    let in_flight = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            if stop.load(Ordering::Acquire) {
                return;
            }
            continue;
        };
        if stop.load(Ordering::Acquire) {
            return;
        }
        let query = buf[..n].to_vec();
        let Some(q) = parse_query(&query) else {
            continue;
        };
        let from_v4 = match from.ip() {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        };
        let (local, own) = {
            let dir = dir.read().unwrap_or_else(|e| e.into_inner());
            let asking = Asking {
                dir: &dir,
                net,
                from: from_v4,
            };
            (
                answer_locally(&query, &q, &asking),
                dir.servers(net, from_v4),
            )
        };
        match local {
            Some(reply) => {
                let _ = sock.send_to(&truncate_for_udp(reply, &q), from);
            }
            None => {
                // Forwarding waits on the network: not on the thread that answers the rest,
                // and never more than MAX_FORWARDS at once (the rest are dropped; clients retry).
                if in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_FORWARDS {
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    continue;
                }
                // Gives the slot back when the forward ends (or its thread never started).
                let slot = Slot(in_flight.clone());
                let (sock, up) = (sock.clone(), up.clone());
                let _ = std::thread::Builder::new()
                    .name("dns forward".into())
                    .spawn(move || {
                        let _slot = slot;
                        let reply = match own {
                            Some(servers) => forward(&query, &q, &UdpUpstream::to(servers)),
                            None => forward(&query, &q, up.as_ref()),
                        };
                        let _ = sock.send_to(&reply, from);
                    });
            }
        }
    }
}

/// One forward in flight.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocked receive with a datagram of our own, the accept with a connection.
        if let Ok(s) = UdpSocket::bind(SocketAddr::new(self.addr.ip(), 0)) {
            let _ = s.send_to(&[], self.addr);
        }
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for t in [self.thread.take(), self.tcp_thread.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    /// Records the queries it is asked and answers none.
    #[derive(Default)]
    struct FakeUpstream(std::sync::Mutex<Vec<Vec<u8>>>);
    impl Upstream for FakeUpstream {
        fn forward(&self, q: &[u8]) -> Option<Vec<u8>> {
            self.0.lock().unwrap().push(q.to_vec());
            None
        }
    }

    fn answers(reply: &[u8]) -> (u8, Vec<Ipv4Addr>) {
        let q = parse_query(&{
            let mut r = reply.to_vec();
            r[2] &= 0x7f;
            r
        })
        .unwrap();
        let n = u16::from_be_bytes([reply[6], reply[7]]) as usize;
        let addrs = (0..n)
            .map(|i| {
                let o = q.end + i * 16 + 12;
                Ipv4Addr::new(reply[o], reply[o + 1], reply[o + 2], reply[o + 3])
            })
            .collect();
        (reply[3] & 0x0f, addrs)
    }

    #[test]
    fn names_answer_round_robin_and_others_go_upstream() {
        let mut r = Records::default();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3));
        r.add("c1", &["web".into(), "Front".into()], a);
        r.add("c2", &["front".into()], b);
        let up = FakeUpstream::default();
        let reply = resolve(&query("web", TYPE_A), &r, &up).unwrap();
        assert_eq!(&reply[..2], &[0x12, 0x34], "the id is echoed");
        assert_eq!(answers(&reply), (0, vec![a]));
        let first = answers(&resolve(&query("FRONT", TYPE_A), &r, &up).unwrap()).1;
        let second = answers(&resolve(&query("front", TYPE_A), &r, &up).unwrap()).1;
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], second[0], "round-robin");
        // AAAA of a known name: an empty answer, not an error.
        assert_eq!(
            answers(&resolve(&query("web", 28), &r, &up).unwrap()),
            (0, vec![])
        );
        assert!(up.0.lock().unwrap().is_empty());
        // A name nobody has: the host's resolvers, SERVFAIL when none answers.
        let reply = resolve(&query("example.org", TYPE_A), &r, &up).unwrap();
        assert_eq!(answers(&reply).0, RCODE_SERVFAIL);
        assert_eq!(up.0.lock().unwrap().len(), 1);
        // A single label nobody has: NXDOMAIN at once.
        let reply = resolve(&query("nosuch", TYPE_A), &r, &up).unwrap();
        assert_eq!(answers(&reply).0, RCODE_NXDOMAIN);
        r.remove("c1");
        assert!(r.lookup("web").is_none());
        assert_eq!(r.lookup("front"), Some(vec![b]));
    }

    #[test]
    fn aaaa_and_ptr_answers() {
        let mut r = Records::default();
        let a = Ipv4Addr::new(10, 0, 0, 2);
        let a6: Ipv6Addr = "fd00:1::2".parse().unwrap();
        r.add("c1", &["web".into(), "www".into()], a);
        r.add_ipv6("c1", a6);
        r.add("c2", &["db".into()], Ipv4Addr::new(10, 0, 0, 3));
        let up = FakeUpstream::default();
        let reply = resolve(&query("www", TYPE_AAAA), &r, &up).unwrap();
        let q = parse_query(&query("www", TYPE_AAAA)).unwrap();
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1);
        assert_eq!(&reply[q.end + 12..q.end + 28], &a6.octets());
        // A name without an IPv6 address: an empty answer, not an error.
        let reply = resolve(&query("db", TYPE_AAAA), &r, &up).unwrap();
        assert_eq!((reply[3] & 0x0f, reply[7]), (0, 0));
        // Reverse lookups of either address answer the first name.
        for rev in [
            "2.0.0.10.in-addr.arpa".to_string(),
            "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa".to_string(),
        ] {
            let qq = query(&rev, TYPE_PTR);
            let reply = resolve(&qq, &r, &up).unwrap();
            let q = parse_query(&qq).unwrap();
            assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1, "{rev}");
            assert_eq!(&reply[q.end + 12..], b"\x03web\x00", "{rev}");
        }
        assert!(up.0.lock().unwrap().is_empty());
        // With the network's name: `NAME.NETWORK` in reverse answers, and it resolves too.
        r.set_domain("Front");
        let qq = query("2.0.0.10.in-addr.arpa", TYPE_PTR);
        let reply = resolve(&qq, &r, &up).unwrap();
        let q = parse_query(&qq).unwrap();
        assert_eq!(&reply[q.end + 12..], b"\x03web\x05front\x00");
        assert_eq!(r.lookup("www.front."), Some(vec![a]));
        assert_eq!(r.lookup("www.back"), None);
        assert!(up.0.lock().unwrap().is_empty());
        // An address nobody here has goes upstream.
        resolve(&query("9.0.0.10.in-addr.arpa", TYPE_PTR), &r, &up).unwrap();
        assert_eq!(up.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_container_on_two_networks_resolves_both() {
        let mut dir = Directory::default();
        let (c1a, c1b) = (Ipv4Addr::new(10, 1, 0, 2), Ipv4Addr::new(10, 2, 0, 2));
        let c2 = Ipv4Addr::new(10, 2, 0, 3);
        let c3 = Ipv4Addr::new(10, 1, 0, 3);
        dir.network("a").add("c1", &["one".into()], c1a);
        dir.network("b").add("c1", &["one".into()], c1b);
        dir.network("b").add("c2", &["two".into()], c2);
        dir.network("a").add("c3", &["three".into()], c3);
        // c1 asks network a's resolver for a name of network b.
        assert_eq!(dir.lookup("a", Some(c1a), "two"), Some(vec![c2]));
        // c3 is only on a: b's names stay hidden.
        assert_eq!(dir.lookup("a", Some(c3), "two"), None);
        assert_eq!(dir.lookup("a", None, "two"), None);
        dir.network("b").remove("c1");
        assert_eq!(dir.lookup("a", Some(c1a), "two"), None);
        // A link: c3 alone resolves `db` to c1 (by c1's name, c1 may come later).
        dir.network("a")
            .add_links("c3", &[("db".into(), "one".into())]);
        assert_eq!(dir.lookup("a", Some(c3), "db"), Some(vec![c1a]));
        assert_eq!(dir.lookup("a", Some(c1a), "db"), None);
    }

    #[test]
    fn big_answers_are_truncated_for_udp() {
        let mut r = Records::default();
        for i in 0..40u8 {
            r.add(
                &format!("c{i}"),
                &["many".into()],
                Ipv4Addr::new(10, 0, 1, i),
            );
        }
        let q = query("many", TYPE_A);
        let full = resolve(&q, &r, &FakeUpstream::default()).unwrap();
        assert_eq!(answers(&full).1.len(), 40);
        let cut = truncate_for_udp(full, &parse_query(&q).unwrap());
        assert!(cut.len() <= 512);
        assert_eq!(cut[2] & 0x02, 0x02, "TC set");
        assert_eq!(answers(&cut).1.len(), (512 - q.len()) / 16);
    }

    #[test]
    fn malformed_queries_are_ignored() {
        let up = FakeUpstream::default();
        let r = Records::default();
        assert!(resolve(&[1, 2, 3], &r, &up).is_none());
        let mut q = query("web", TYPE_A);
        q.truncate(q.len() - 2);
        assert!(resolve(&q, &r, &up).is_none());
    }

    #[test]
    fn upstreams_skip_loopback() {
        let u = UdpUpstream::from_resolv_conf(
            "nameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch x\nnameserver ::1\n",
        );
        assert_eq!(u.servers, vec!["10.1.1.1:53".parse().unwrap()]);
    }

    #[test]
    fn the_server_answers_over_udp() {
        let dir = Arc::new(RwLock::new(Directory::default()));
        dir.write()
            .unwrap()
            .network("n1")
            .add("c1", &["db".into()], Ipv4Addr::new(10, 0, 0, 9));
        let srv = DnsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            "n1",
            dir,
            Arc::new(FakeUpstream::default()),
        )
        .unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(&query("db", TYPE_A), srv.addr).unwrap();
        let mut buf = [0u8; 512];
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(answers(&buf[..n]), (0, vec![Ipv4Addr::new(10, 0, 0, 9)]));
        // The same over TCP, twice on one connection.
        use std::io::{Read, Write};
        let mut t = std::net::TcpStream::connect(srv.addr).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for _ in 0..2 {
            let q = query("db", TYPE_A);
            let mut msg = (q.len() as u16).to_be_bytes().to_vec();
            msg.extend_from_slice(&q);
            t.write_all(&msg).unwrap();
            let mut len = [0u8; 2];
            t.read_exact(&mut len).unwrap();
            let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
            t.read_exact(&mut reply).unwrap();
            assert_eq!(answers(&reply), (0, vec![Ipv4Addr::new(10, 0, 0, 9)]));
        }
        drop(t);
        drop(srv); // returns: both threads stopped
    }

    /// Answers every query with 192.0.2.7.
    struct Canned;
    impl Upstream for Canned {
        fn forward(&self, q: &[u8]) -> Option<Vec<u8>> {
            let question = parse_query(q)?;
            Some(build_answer(
                q,
                &question,
                &[Ipv4Addr::new(192, 0, 2, 7)],
                0,
            ))
        }
    }

    #[test]
    fn the_server_forwards_what_it_does_not_know() {
        let srv = DnsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            "n1",
            Arc::default(),
            Arc::new(Canned),
        )
        .unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(&query("example.org", TYPE_A), srv.addr).unwrap();
        let mut buf = [0u8; 512];
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(answers(&buf[..n]), (0, vec![Ipv4Addr::new(192, 0, 2, 7)]));
    }
}
