//! Just enough rtnetlink to wire a container: create bridges and veth
//! pairs, set master, state, name and namespace of links, add addresses and
//! a default route. Messages are built by hand (header, family struct,
//! attributes padded to 4 bytes); every request asks for an ACK, so the
//! kernel's errno comes back with the step that failed. Work inside a
//! container's network namespace happens on a short-lived thread that
//! joins it, so the caller's own namespace never changes.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};

use crate::error::{Error, Result};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;
const IFF_UP: u32 = 1;
/// No duplicate address detection: the address is usable at once (IPAM made it unique).
const IFA_F_NODAD: u8 = 0x02;

/// A netlink attribute under construction (possibly nested).
struct Attr {
    kind: u16,
    data: Vec<u8>,
}

impl Attr {
    fn bytes(kind: u16, data: &[u8]) -> Attr {
        Attr {
            kind,
            data: data.to_vec(),
        }
    }
    fn str(kind: u16, s: &str) -> Attr {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        Attr { kind, data: d }
    }
    fn u32(kind: u16, v: u32) -> Attr {
        Attr::bytes(kind, &v.to_ne_bytes())
    }
    fn nested(kind: u16, children: &[Attr]) -> Attr {
        let mut d = Vec::new();
        for c in children {
            c.encode(&mut d);
        }
        Attr { kind, data: d }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let len = 4 + self.data.len();
        out.extend_from_slice(&(len as u16).to_ne_bytes());
        out.extend_from_slice(&self.kind.to_ne_bytes());
        out.extend_from_slice(&self.data);
        pad(out);
    }
}

fn pad(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

/// struct ifinfomsg
fn ifinfo(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut v = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    v.extend_from_slice(&index.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&change.to_ne_bytes());
    v
}

/// A route socket in the calling thread's network namespace.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    pub fn open() -> Result<Netlink> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| nl_err("open a netlink socket", e))?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))
            .map_err(|e| nl_err("bind the netlink socket", e))?;
        Ok(Netlink { fd, seq: 0 })
    }

    /// Send one request and wait for its ACK (or its reply, for GET).
    fn request(
        &mut self,
        what: &str,
        kind: u16,
        flags: u16,
        body: &[u8],
        attrs: &[Attr],
    ) -> Result<Vec<u8>> {
        self.seq += 1;
        let mut payload = body.to_vec();
        pad(&mut payload);
        for a in attrs {
            a.encode(&mut payload);
        }
        let mut msg = Vec::with_capacity(16 + payload.len());
        msg.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&payload);
        send(self.fd.as_raw_fd(), &msg, MsgFlags::empty()).map_err(|e| nl_err(what, e))?;
        let mut reply = None;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(|e| nl_err(what, e))?;
            let mut off = 0;
            while off + 16 <= n {
                let len =
                    u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes")) as usize;
                let typ = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().expect("2 bytes"));
                let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().expect("4 bytes"));
                if len < 16 || off + len > n {
                    return Err(Error::Command {
                        command: what.to_string(),
                        stderr: "malformed netlink reply".into(),
                    });
                }
                if seq == self.seq {
                    if typ == NLMSG_ERROR {
                        let errno = i32::from_ne_bytes(
                            buf[off + 16..off + 20].try_into().expect("4 bytes"),
                        );
                        if errno == 0 {
                            return Ok(reply.unwrap_or_default());
                        }
                        return Err(nl_err(what, nix::errno::Errno::from_raw(-errno)));
                    }
                    reply = Some(buf[off + 16..off + len].to_vec());
                }
                off += (len + 3) & !3;
            }
        }
    }

    pub fn create_bridge(&mut self, name: &str) -> Result<()> {
        let info = Attr::nested(IFLA_LINKINFO, &[Attr::str(IFLA_INFO_KIND, "bridge")]);
        self.request(
            &format!("create bridge {name}"),
            RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifinfo(0, 0, 0),
            &[Attr::str(IFLA_IFNAME, name), info],
        )
        .map(|_| ())
    }

    /// A veth pair; the peer gets `peer_mac` if given (else the kernel's random one).
    pub fn create_veth(
        &mut self,
        name: &str,
        peer: &str,
        mtu: u32,
        peer_mac: Option<[u8; 6]>,
    ) -> Result<()> {
        self.create_veth_into(name, peer, mtu, peer_mac, None)
    }

    /// A veth pair whose peer is made right in the network namespace `peer_ns`
    /// (if given): moving a link between namespaces afterwards costs an RCU grace
    /// period (10-15 ms here), making it there does not.
    pub fn create_veth_into(
        &mut self,
        name: &str,
        peer: &str,
        mtu: u32,
        peer_mac: Option<[u8; 6]>,
        peer_ns: Option<&OwnedFd>,
    ) -> Result<()> {
        let mut peer_data = ifinfo(0, 0, 0);
        Attr::str(IFLA_IFNAME, peer).encode(&mut peer_data);
        Attr::u32(IFLA_MTU, mtu).encode(&mut peer_data);
        if let Some(mac) = peer_mac {
            Attr::bytes(IFLA_ADDRESS, &mac).encode(&mut peer_data);
        }
        if let Some(fd) = peer_ns {
            Attr::u32(IFLA_NET_NS_FD, fd.as_fd().as_raw_fd() as u32).encode(&mut peer_data);
        }
        let info = Attr::nested(
            IFLA_LINKINFO,
            &[
                Attr::str(IFLA_INFO_KIND, "veth"),
                Attr::nested(IFLA_INFO_DATA, &[Attr::bytes(VETH_INFO_PEER, &peer_data)]),
            ],
        );
        self.request(
            &format!("create veth {name}/{peer}"),
            RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifinfo(0, 0, 0),
            &[Attr::str(IFLA_IFNAME, name), Attr::u32(IFLA_MTU, mtu), info],
        )
        .map(|_| ())
    }

    /// Change a link: bring it up, give it a master, a new name or a netns.
    pub fn set_link(
        &mut self,
        index: u32,
        up: bool,
        master: Option<u32>,
        name: Option<&str>,
        netns: Option<&OwnedFd>,
    ) -> Result<()> {
        let mut attrs = Vec::new();
        if let Some(m) = master {
            attrs.push(Attr::u32(IFLA_MASTER, m));
        }
        if let Some(n) = name {
            attrs.push(Attr::str(IFLA_IFNAME, n));
        }
        if let Some(fd) = netns {
            attrs.push(Attr::u32(IFLA_NET_NS_FD, fd.as_fd().as_raw_fd() as u32));
        }
        let (flags, change) = if up { (IFF_UP, IFF_UP) } else { (0, 0) };
        self.request(
            &format!("set link {index}"),
            RTM_NEWLINK,
            0,
            &ifinfo(index as i32, flags, change),
            &attrs,
        )
        .map(|_| ())
    }

    pub fn delete_link(&mut self, index: u32) -> Result<()> {
        self.request(
            &format!("delete link {index}"),
            RTM_DELLINK,
            0,
            &ifinfo(index as i32, 0, 0),
            &[],
        )
        .map(|_| ())
    }

    /// The link's hardware address, as aa:bb:cc:dd:ee:ff.
    pub fn mac(&mut self, index: u32) -> Result<String> {
        let reply = self.request(
            &format!("get link {index}"),
            RTM_GETLINK,
            0,
            &ifinfo(index as i32, 0, 0),
            &[],
        )?;
        let mut off = 16;
        while off + 4 <= reply.len() {
            let len = u16::from_ne_bytes([reply[off], reply[off + 1]]) as usize;
            let kind = u16::from_ne_bytes([reply[off + 2], reply[off + 3]]);
            if len < 4 || off + len > reply.len() {
                break;
            }
            if kind == IFLA_ADDRESS {
                return Ok(reply[off + 4..off + len]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"));
            }
            off += (len + 3) & !3;
        }
        Ok(String::new())
    }

    /// Add `addr/prefix` to a link; an address already there is fine.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut body = vec![libc::AF_INET as u8, prefix, 0, 0];
        body.extend_from_slice(&index.to_ne_bytes());
        let o = addr.octets();
        match self.request(
            &format!("add address {addr}/{prefix}"),
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL,
            &body,
            &[Attr::bytes(IFA_LOCAL, &o), Attr::bytes(IFA_ADDRESS, &o)],
        ) {
            Err(Error::Command { stderr, .. }) if stderr.contains("EEXIST") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Add an IPv6 `addr/prefix` to a link, usable at once (no duplicate address
    /// detection: IPAM made it unique); an address already there is fine.
    pub fn add_address6(&mut self, index: u32, addr: Ipv6Addr, prefix: u8) -> Result<()> {
        let mut body = vec![libc::AF_INET6 as u8, prefix, IFA_F_NODAD, 0];
        body.extend_from_slice(&index.to_ne_bytes());
        let o = addr.octets();
        match self.request(
            &format!("add address {addr}/{prefix}"),
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL,
            &body,
            &[Attr::bytes(IFA_LOCAL, &o), Attr::bytes(IFA_ADDRESS, &o)],
        ) {
            Err(Error::Command { stderr, .. }) if stderr.contains("EEXIST") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// An IPv6 default route through `gateway` on link `index`.
    pub fn add_default_route6(&mut self, index: u32, gateway: Ipv6Addr) -> Result<()> {
        let mut body = vec![
            libc::AF_INET6 as u8,
            0,
            0,
            0,
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            libc::RT_SCOPE_UNIVERSE,
            libc::RTN_UNICAST,
        ];
        body.extend_from_slice(&0u32.to_ne_bytes());
        self.request(
            &format!("add default route via {gateway}"),
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL,
            &body,
            &[
                Attr::bytes(RTA_GATEWAY, &gateway.octets()),
                Attr::u32(RTA_OIF, index),
            ],
        )
        .map(|_| ())
    }

    /// A default route through `gateway` on link `index`.
    pub fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> Result<()> {
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
        let mut body = vec![
            libc::AF_INET as u8,
            0,
            0,
            0,
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            libc::RT_SCOPE_UNIVERSE,
            libc::RTN_UNICAST,
        ];
        body.extend_from_slice(&0u32.to_ne_bytes());
        self.request(
            &format!("add default route via {gateway}"),
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL,
            &body,
            &[
                Attr::bytes(RTA_GATEWAY, &gateway.octets()),
                Attr::u32(RTA_OIF, index),
            ],
        )
        .map(|_| ())
    }
}

fn nl_err(what: &str, e: nix::errno::Errno) -> Error {
    Error::Command {
        command: format!("netlink: {what}"),
        stderr: format!("{e} ({})", e.desc()),
    }
}

/// The index of a link in the calling thread's network namespace.
pub fn index(name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(|e| nl_err(&format!("find link {name}"), e))
}

/// Turn IPv6 on or off for one link of the calling thread's network namespace
/// (off: no link-local address either, as Docker leaves a container's interface
/// on an IPv4-only network). A kernel without IPv6 has nothing to turn off.
pub fn set_ipv6(link: &str, on: bool) -> Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{link}/disable_ipv6");
    match std::fs::write(&path, if on { "0" } else { "1" }) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !on => Ok(()),
        other => other.map_err(crate::error::io(format!("write {path}"))),
    }
}

/// Run `f` with a netlink socket inside the network namespace at `netns`,
/// on a thread of its own.
pub fn in_netns<T: Send + 'static>(
    netns: &Path,
    f: impl FnOnce(&mut Netlink) -> Result<T> + Send + 'static,
) -> Result<T> {
    let ns = std::fs::File::open(netns)
        .map_err(crate::error::io(format!("open {}", netns.display())))?;
    std::thread::spawn(move || {
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| nl_err("enter the container's network namespace", e))?;
        let mut nl = Netlink::open()?;
        f(&mut nl)
    })
    .join()
    .map_err(|_| Error::Command {
        command: "netlink thread".into(),
        stderr: "panicked".into(),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested() {
        let mut out = Vec::new();
        Attr::str(IFLA_IFNAME, "eth0").encode(&mut out);
        // len 4+5=9, padded to 12.
        assert_eq!(out.len(), 12);
        assert_eq!(u16::from_ne_bytes([out[0], out[1]]), 9);
        let nested = Attr::nested(IFLA_LINKINFO, &[Attr::str(IFLA_INFO_KIND, "veth")]);
        let mut out = Vec::new();
        nested.encode(&mut out);
        assert_eq!(u16::from_ne_bytes([out[0], out[1]]) as usize, 4 + 12);
        assert_eq!(out.len(), 16);
    }
}
