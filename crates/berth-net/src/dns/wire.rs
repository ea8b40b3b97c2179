//! The DNS message codec the resolver speaks: a header, one question, answers that point back
//! at the question's name; truncation for UDP; reverse names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(super) const TYPE_A: u16 = 1;
pub(super) const TYPE_PTR: u16 = 12;
pub(super) const TYPE_AAAA: u16 = 28;
pub(super) const CLASS_IN: u16 = 1;
pub(super) const RCODE_SERVFAIL: u8 = 2;
pub(super) const RCODE_NXDOMAIN: u8 = 3;
/// Seconds a client may keep an answer (containers come and go: short).
pub(super) const TTL: u32 = 600;

/// One question of a DNS query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Lower-case, without the final dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Bytes of the header plus question, as received (echoed in the answer).
    pub(super) end: usize,
}

/// Parse the header and the first question of a query; None if malformed or not a query.
pub fn parse_query(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qdcount != 1 {
        return None;
    }
    let mut off = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(off)? as usize;
        off += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression has no place in a question
        }
        let label = msg.get(off..off + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        off += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(off)?, *msg.get(off + 1)?]);
    let qclass = u16::from_be_bytes([*msg.get(off + 2)?, *msg.get(off + 3)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        qclass,
        end: off + 4,
    })
}

/// The answer to `query` (whose question is `q`): `addrs` as A records, or
/// the given error code when `rcode` is not 0.
pub fn build_answer(query: &[u8], q: &Question, addrs: &[Ipv4Addr], rcode: u8) -> Vec<u8> {
    let records: Vec<(u16, Vec<u8>)> = addrs
        .iter()
        .map(|a| (TYPE_A, a.octets().to_vec()))
        .collect();
    build_records(query, q, &records, rcode)
}

/// The answer to `query` with `records` ((type, rdata), each owned by the question's name).
pub(super) fn build_records(
    query: &[u8],
    q: &Question,
    records: &[(u16, Vec<u8>)],
    rcode: u8,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + records.len() * 28);
    out.extend_from_slice(&query[..2]); // id
                                        // QR, the query's opcode and RD; AA, RA; the code.
    out.push(0x80 | (query[2] & 0x79) | 0x04);
    out.push(0x80 | (rcode & 0x0f));
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    out.extend_from_slice(&query[12..q.end]);
    for (kind, data) in records {
        out.extend_from_slice(&[0xc0, 12]); // the question's name
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// A local answer cut to what fits a plain UDP message (512 bytes): whole
/// records only (all of one type, so of one size), with the TC bit set so the
/// client asks again over TCP.
pub(super) fn truncate_for_udp(mut reply: Vec<u8>, q: &Question) -> Vec<u8> {
    let count = u16::from_be_bytes([reply[6], reply[7]]) as usize;
    if reply.len() <= 512 || count == 0 {
        return reply;
    }
    let size = (reply.len() - q.end) / count;
    let fit = (512 - q.end) / size;
    reply.truncate(q.end + fit * size);
    reply[2] |= 0x02;
    reply[6..8].copy_from_slice(&(fit as u16).to_be_bytes());
    reply
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa`, the 32 nibbles of `ip6.arpa`) stands for.
pub(super) fn reverse_addr(name: &str) -> Option<IpAddr> {
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let mut o: Vec<u8> = v4
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        if o.len() != 4 {
            return None;
        }
        o.reverse();
        return Some(IpAddr::from([o[0], o[1], o[2], o[3]]));
    }
    let v6 = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = v6
        .split('.')
        .map(|p| (p.len() == 1).then(|| u8::from_str_radix(p, 16).ok())?)
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut o = [0u8; 16];
    for (i, pair) in nibbles.rchunks(2).enumerate() {
        o[i] = pair[1] << 4 | pair[0];
    }
    Some(IpAddr::from(o))
}

/// `name` as DNS labels, ending with the root.
pub(super) fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.split('.').filter(|l| !l.is_empty()) {
        let l = &l.as_bytes()[..l.len().min(63)];
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
    out
}

/// What a resolver knows, as the asking container sees it.
pub trait Names {
    /// The IPv4 addresses of `name`; None if nobody has it.
    fn a(&self, name: &str) -> Option<Vec<Ipv4Addr>>;
    /// The IPv6 addresses of `name` (empty when its containers have none); None if nobody has it.
    fn aaaa(&self, name: &str) -> Option<Vec<Ipv6Addr>>;
    /// The name of the container that has `addr`.
    fn ptr(&self, addr: IpAddr) -> Option<String>;
}
