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
const IFLA_LINK: u16 = 5;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_GSO_MAX_SIZE: u16 = 41;
const IFLA_GRO_MAX_SIZE: u16 = 58;
const IFLA_GSO_IPV4_MAX_SIZE: u16 = 63;
const IFLA_GRO_IPV4_MAX_SIZE: u16 = 64;
/// The four size limits of BIG TCP, in the order [`LinkSizes`] holds them.
const GSO_GRO_SIZES: [u16; 4] = [
    IFLA_GSO_MAX_SIZE,
    IFLA_GRO_MAX_SIZE,
    IFLA_GSO_IPV4_MAX_SIZE,
    IFLA_GRO_IPV4_MAX_SIZE,
];
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
/// `IFLA_BR_NF_CALL_IPTABLES`; `_IP6TABLES` is the next one (u8 each).
const IFLA_BR_NF_CALL_IPTABLES: u16 = 36;
const IFLA_BR_NF_CALL_IP6TABLES: u16 = 37;
const IFLA_MACVLAN_MODE: u16 = 1;
const IFLA_IPVLAN_MODE: u16 = 1;
const IFLA_IPVLAN_FLAGS: u16 = 2;
const IFLA_VLAN_ID: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
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

/// Where netlink messages go: the kernel's route socket, or a fake in tests.
pub trait Wire: Send {
    fn send(&mut self, msg: &[u8]) -> std::result::Result<(), nix::errno::Errno>;
    fn recv(&mut self, buf: &mut [u8]) -> std::result::Result<usize, nix::errno::Errno>;
}

/// The kernel's NETLINK_ROUTE socket.
struct Kernel(OwnedFd);

impl Wire for Kernel {
    fn send(&mut self, msg: &[u8]) -> std::result::Result<(), nix::errno::Errno> {
        send(self.0.as_raw_fd(), msg, MsgFlags::empty()).map(|_| ())
    }
    fn recv(&mut self, buf: &mut [u8]) -> std::result::Result<usize, nix::errno::Errno> {
        recv(self.0.as_raw_fd(), buf, MsgFlags::empty())
    }
}

/// A link made on top of a parent link (macvlan, ipvlan, 802.1q VLAN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sublink {
    /// `mode`: MACVLAN_MODE_* (private 1, vepa 2, bridge 4, passthru 8).
    Macvlan { mode: u32 },
    /// `mode`: l2 0, l3 1, l3s 2; `flags`: bridge 0, private 1, vepa 2.
    Ipvlan { mode: u16, flags: u16 },
    /// An 802.1q sub-interface with VLAN id `id`.
    Vlan { id: u16 },
}

impl Sublink {
    /// The kernel's name of the link kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Sublink::Macvlan { .. } => "macvlan",
            Sublink::Ipvlan { .. } => "ipvlan",
            Sublink::Vlan { .. } => "vlan",
        }
    }

    fn data(&self) -> Vec<Attr> {
        match *self {
            Sublink::Macvlan { mode } => vec![Attr::u32(IFLA_MACVLAN_MODE, mode)],
            Sublink::Ipvlan { mode, flags } => vec![
                Attr::bytes(IFLA_IPVLAN_MODE, &mode.to_ne_bytes()),
                Attr::bytes(IFLA_IPVLAN_FLAGS, &flags.to_ne_bytes()),
            ],
            Sublink::Vlan { id } => vec![Attr::bytes(IFLA_VLAN_ID, &id.to_ne_bytes())],
        }
    }
}

/// A link's GSO/GRO size limits (bytes): how large a packet the stack may build for it
/// before segmenting, and how large GRO may merge received ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSizes {
    pub gso_max_size: u32,
    pub gro_max_size: u32,
    pub gso_ipv4_max_size: u32,
    pub gro_ipv4_max_size: u32,
}

/// A route socket in the calling thread's network namespace.
pub struct Netlink {
    wire: Box<dyn Wire>,
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
        Ok(Netlink::over(Box::new(Kernel(fd))))
    }

    /// Netlink over another wire (a fake kernel in tests).
    pub fn over(wire: Box<dyn Wire>) -> Netlink {
        Netlink { wire, seq: 0 }
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
        self.wire.send(&msg).map_err(|e| nl_err(what, e))?;
        let mut reply = None;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = self.wire.recv(&mut buf).map_err(|e| nl_err(what, e))?;
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

    /// Pass the bridged traffic of one bridge (`index`) through iptables (and ip6tables with
    /// `ipv6`), as `ip link set BR type bridge nf_call_iptables 1` does: br_netfilter filters a
    /// bridge whose flag or whose namespace's `bridge-nf-call-*` sysctl is on.
    pub fn set_bridge_nf_call(&mut self, index: u32, ipv6: bool) -> Result<()> {
        let mut data = vec![Attr::bytes(IFLA_BR_NF_CALL_IPTABLES, &[1])];
        if ipv6 {
            data.push(Attr::bytes(IFLA_BR_NF_CALL_IP6TABLES, &[1]));
        }
        let info = Attr::nested(
            IFLA_LINKINFO,
            &[
                Attr::str(IFLA_INFO_KIND, "bridge"),
                Attr::nested(IFLA_INFO_DATA, &data),
            ],
        );
        self.request(
            &format!("set nf_call_iptables on link {index}"),
            RTM_NEWLINK,
            0,
            &ifinfo(index as i32, 0, 0),
            &[info],
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
        self.create_veth_into(name, peer, mtu, peer_mac, None, None)
    }

    /// A veth pair whose peer is made right in the network namespace `peer_ns`
    /// (if given): moving a link between namespaces afterwards costs an RCU grace
    /// period (10-15 ms here), making it there does not. `big_tcp`: the GSO/GRO
    /// size limits of both ends (generic and IPv4, see [`crate::bridge::big_tcp_size`]);
    /// None leaves the kernel's 64 KiB, and so does a kernel that refuses the sizes (EINVAL:
    /// a veth whose `tso_max_size` is smaller): the pair is made again without them.
    pub fn create_veth_into(
        &mut self,
        name: &str,
        peer: &str,
        mtu: u32,
        peer_mac: Option<[u8; 6]>,
        peer_ns: Option<&OwnedFd>,
        big_tcp: Option<u32>,
    ) -> Result<()> {
        match self.new_veth(name, peer, mtu, peer_mac, peer_ns, big_tcp) {
            Err(Error::Command { stderr, .. })
                if big_tcp.is_some() && stderr.contains("EINVAL") =>
            {
                self.new_veth(name, peer, mtu, peer_mac, peer_ns, None)
            }
            other => other,
        }
    }

    fn new_veth(
        &mut self,
        name: &str,
        peer: &str,
        mtu: u32,
        peer_mac: Option<[u8; 6]>,
        peer_ns: Option<&OwnedFd>,
        big_tcp: Option<u32>,
    ) -> Result<()> {
        let sizes: Vec<Attr> = big_tcp
            .map(|size| GSO_GRO_SIZES.iter().map(|&k| Attr::u32(k, size)).collect())
            .unwrap_or_default();
        let mut peer_data = ifinfo(0, 0, 0);
        Attr::str(IFLA_IFNAME, peer).encode(&mut peer_data);
        Attr::u32(IFLA_MTU, mtu).encode(&mut peer_data);
        for a in &sizes {
            a.encode(&mut peer_data);
        }
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
        let mut attrs = vec![Attr::str(IFLA_IFNAME, name), Attr::u32(IFLA_MTU, mtu)];
        attrs.extend(sizes);
        attrs.push(info);
        self.request(
            &format!("create veth {name}/{peer}"),
            RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifinfo(0, 0, 0),
            &attrs,
        )
        .map(|_| ())
    }

    /// A link of kind `sub` named `name` on the parent link with index `parent`. A kernel without
    /// the link kind gets [`Error::Unsupported`], saying which.
    pub fn create_sublink(&mut self, name: &str, parent: u32, sub: Sublink) -> Result<()> {
        let info = Attr::nested(
            IFLA_LINKINFO,
            &[
                Attr::str(IFLA_INFO_KIND, sub.kind()),
                Attr::nested(IFLA_INFO_DATA, &sub.data()),
            ],
        );
        let made = self.request(
            &format!("create {} link {name}", sub.kind()),
            RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifinfo(0, 0, 0),
            &[
                Attr::str(IFLA_IFNAME, name),
                Attr::u32(IFLA_LINK, parent),
                info,
            ],
        );
        unsupported_kind(made, sub.kind())
    }

    /// A dummy link (a parent that goes nowhere).
    pub fn create_dummy(&mut self, name: &str) -> Result<()> {
        let info = Attr::nested(IFLA_LINKINFO, &[Attr::str(IFLA_INFO_KIND, "dummy")]);
        let made = self.request(
            &format!("create dummy link {name}"),
            RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifinfo(0, 0, 0),
            &[Attr::str(IFLA_IFNAME, name), info],
        );
        unsupported_kind(made, "dummy")
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

    /// Give a link another hardware address.
    pub fn set_address(&mut self, index: u32, mac: [u8; 6]) -> Result<()> {
        self.request(
            &format!("set the address of link {index}"),
            RTM_NEWLINK,
            0,
            &ifinfo(index as i32, 0, 0),
            &[Attr::bytes(IFLA_ADDRESS, &mac)],
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
        let attrs = self.link_attrs(index)?;
        Ok(attrs
            .iter()
            .find(|(k, _)| *k == IFLA_ADDRESS)
            .map(|(_, v)| {
                v.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default())
    }

    /// The link's GSO and GRO size limits, as `ip -d link` shows them (0: the kernel has no
    /// such limit, as before Linux 6.3 for the IPv4 ones).
    pub fn link_sizes(&mut self, index: u32) -> Result<LinkSizes> {
        let attrs = self.link_attrs(index)?;
        let get = |kind: u16| {
            attrs
                .iter()
                .find(|(k, v)| *k == kind && v.len() >= 4)
                .map(|(_, v)| u32::from_ne_bytes(v[..4].try_into().expect("4 bytes")))
                .unwrap_or(0)
        };
        let [gso, gro, gso4, gro4] = GSO_GRO_SIZES.map(get);
        Ok(LinkSizes {
            gso_max_size: gso,
            gro_max_size: gro,
            gso_ipv4_max_size: gso4,
            gro_ipv4_max_size: gro4,
        })
    }

    /// The top-level attributes of a link (RTM_GETLINK), as (kind, payload).
    fn link_attrs(&mut self, index: u32) -> Result<Vec<(u16, Vec<u8>)>> {
        let reply = self.request(
            &format!("get link {index}"),
            RTM_GETLINK,
            0,
            &ifinfo(index as i32, 0, 0),
            &[],
        )?;
        let mut out = Vec::new();
        let mut off = 16;
        while off + 4 <= reply.len() {
            let len = u16::from_ne_bytes([reply[off], reply[off + 1]]) as usize;
            let kind = u16::from_ne_bytes([reply[off + 2], reply[off + 3]]);
            if len < 4 || off + len > reply.len() {
                break;
            }
            out.push((kind, reply[off + 4..off + len].to_vec()));
            off += (len + 3) & !3;
        }
        Ok(out)
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
        self.default_route(index, Some(gateway))
    }

    /// A default route straight out of link `index` (no gateway: ipvlan's l3 modes).
    pub fn add_default_device_route(&mut self, index: u32) -> Result<()> {
        self.default_route(index, None)
    }

    fn default_route(&mut self, index: u32, gateway: Option<Ipv4Addr>) -> Result<()> {
        self.add_route(index, None, gateway)
    }

    /// A route to `dst` (None: the default route) through `gateway`, or straight out of link
    /// `index` without one.
    pub fn add_route(
        &mut self,
        index: u32,
        dst: Option<crate::ipam::Subnet>,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
        let scope = if gateway.is_some() {
            libc::RT_SCOPE_UNIVERSE
        } else {
            libc::RT_SCOPE_LINK
        };
        let mut body = vec![
            libc::AF_INET as u8,
            dst.map_or(0, |d| d.prefix),
            0,
            0,
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            scope,
            libc::RTN_UNICAST,
        ];
        body.extend_from_slice(&0u32.to_ne_bytes());
        let mut attrs = vec![Attr::u32(RTA_OIF, index)];
        if let Some(g) = gateway {
            attrs.insert(0, Attr::bytes(RTA_GATEWAY, &g.octets()));
        }
        if let Some(d) = dst {
            attrs.insert(0, Attr::bytes(RTA_DST, &d.network.octets()));
        }
        let to = dst.map_or_else(|| "default".to_string(), |d| d.to_string());
        let what = match gateway {
            Some(g) => format!("add route {to} via {g}"),
            None => format!("add route {to} out of link {index}"),
        };
        self.request(
            &what,
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL,
            &body,
            &attrs,
        )
        .map(|_| ())
    }
}

fn unsupported_kind(made: Result<Vec<u8>>, kind: &str) -> Result<()> {
    match made {
        Err(Error::Command { stderr, .. }) if stderr.contains("EOPNOTSUPP") => {
            Err(Error::Unsupported(format!(
                "the kernel has no {kind} links (module {kind} missing)"
            )))
        }
        other => other.map(|_| ()),
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

    /// A kernel that records each request and answers with `errno` (0: ACK).
    struct FakeKernel {
        sent: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
        errno: i32,
        /// The answers to the first requests, before `errno` for all others.
        script: std::collections::VecDeque<i32>,
        pending: Option<Vec<u8>>,
    }

    impl Wire for FakeKernel {
        fn send(&mut self, msg: &[u8]) -> std::result::Result<(), nix::errno::Errno> {
            self.sent.lock().unwrap().push(msg.to_vec());
            let errno = self.script.pop_front().unwrap_or(self.errno);
            let mut ack = Vec::new();
            ack.extend_from_slice(&36u32.to_ne_bytes());
            ack.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            ack.extend_from_slice(&0u16.to_ne_bytes());
            ack.extend_from_slice(&msg[8..12]); // seq
            ack.extend_from_slice(&0u32.to_ne_bytes());
            ack.extend_from_slice(&(-errno).to_ne_bytes());
            ack.extend_from_slice(&msg[..16]);
            self.pending = Some(ack);
            Ok(())
        }
        fn recv(&mut self, buf: &mut [u8]) -> std::result::Result<usize, nix::errno::Errno> {
            let m = self.pending.take().expect("a request before the reply");
            buf[..m.len()].copy_from_slice(&m);
            Ok(m.len())
        }
    }

    type Sent = std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

    fn fake(errno: i32) -> (Netlink, Sent) {
        fake_script(&[], errno)
    }

    /// A fake answering the first requests with `script`, then `errno`.
    fn fake_script(script: &[i32], errno: i32) -> (Netlink, Sent) {
        let sent = std::sync::Arc::default();
        let nl = Netlink::over(Box::new(FakeKernel {
            sent: std::sync::Arc::clone(&sent),
            errno,
            script: script.iter().copied().collect(),
            pending: None,
        }));
        (nl, sent)
    }

    /// (kind, payload) of each attribute in `b`.
    fn attrs(mut b: &[u8]) -> Attrs {
        let mut out = Vec::new();
        while b.len() >= 4 {
            let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
            let kind = u16::from_ne_bytes([b[2], b[3]]);
            out.push((kind, b[4..len].to_vec()));
            b = &b[((len + 3) & !3).min(b.len())..];
        }
        out
    }

    fn find(a: &[(u16, Vec<u8>)], kind: u16) -> Vec<u8> {
        a.iter()
            .find(|(k, _)| *k == kind)
            .unwrap_or_else(|| panic!("attribute {kind} missing"))
            .1
            .clone()
    }

    /// The link name, the parent index, the kind and the kind's data of an RTM_NEWLINK.
    type Attrs = Vec<(u16, Vec<u8>)>;

    fn new_link(msg: &[u8]) -> (String, Option<u32>, String, Attrs) {
        assert_eq!(u16::from_ne_bytes([msg[4], msg[5]]), RTM_NEWLINK);
        let flags = u16::from_ne_bytes([msg[6], msg[7]]);
        assert_eq!(
            flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            "a new link is created exclusively, with an ACK"
        );
        let top = attrs(&msg[32..]);
        let name = find(&top, IFLA_IFNAME);
        let name = String::from_utf8(name[..name.len() - 1].to_vec()).unwrap();
        let parent = top
            .iter()
            .find(|(k, _)| *k == IFLA_LINK)
            .map(|(_, v)| u32::from_ne_bytes(v[..4].try_into().unwrap()));
        let info = attrs(&find(&top, IFLA_LINKINFO));
        let kind = find(&info, IFLA_INFO_KIND);
        let kind = String::from_utf8(kind[..kind.len() - 1].to_vec()).unwrap();
        let data = info
            .iter()
            .find(|(k, _)| *k == IFLA_INFO_DATA)
            .map(|(_, d)| attrs(d))
            .unwrap_or_default();
        (name, parent, kind, data)
    }

    #[test]
    fn sublink_messages_carry_parent_kind_and_mode() {
        let (mut nl, sent) = fake(0);
        nl.create_sublink("mv0", 7, Sublink::Macvlan { mode: 4 })
            .unwrap();
        nl.create_sublink("ipv0", 8, Sublink::Ipvlan { mode: 2, flags: 1 })
            .unwrap();
        nl.create_sublink("eth0.42", 2, Sublink::Vlan { id: 42 })
            .unwrap();
        nl.create_dummy("dm-x").unwrap();
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 4);

        let (name, parent, kind, data) = new_link(&sent[0]);
        assert_eq!(
            (name.as_str(), parent, kind.as_str()),
            ("mv0", Some(7), "macvlan")
        );
        assert_eq!(find(&data, IFLA_MACVLAN_MODE), 4u32.to_ne_bytes());

        let (name, parent, kind, data) = new_link(&sent[1]);
        assert_eq!(
            (name.as_str(), parent, kind.as_str()),
            ("ipv0", Some(8), "ipvlan")
        );
        assert_eq!(find(&data, IFLA_IPVLAN_MODE), 2u16.to_ne_bytes());
        assert_eq!(find(&data, IFLA_IPVLAN_FLAGS), 1u16.to_ne_bytes());

        let (name, parent, kind, data) = new_link(&sent[2]);
        assert_eq!(
            (name.as_str(), parent, kind.as_str()),
            ("eth0.42", Some(2), "vlan")
        );
        assert_eq!(find(&data, IFLA_VLAN_ID), 42u16.to_ne_bytes());

        let (name, parent, kind, data) = new_link(&sent[3]);
        assert_eq!(
            (name.as_str(), parent, kind.as_str()),
            ("dm-x", None, "dummy")
        );
        assert!(data.is_empty());
    }

    #[test]
    fn veth_ends_both_get_the_big_tcp_sizes_and_keep_the_mtu() {
        let (mut nl, sent) = fake(0);
        nl.create_veth_into("vh", "vp", 1400, None, None, Some(196608))
            .unwrap();
        nl.create_veth_into("vh2", "vp2", 1500, None, None, None)
            .unwrap();
        let sent = sent.lock().unwrap();
        let u32_of = |v: Vec<u8>| u32::from_ne_bytes(v[..4].try_into().unwrap());
        for (msg, want) in [(&sent[0], Some(196608)), (&sent[1], None)] {
            let top = attrs(&msg[32..]);
            let (_, _, kind, data) = new_link(msg);
            assert_eq!(kind, "veth");
            // The peer: its ifinfomsg (16 bytes), then its attributes.
            let peer = attrs(&find(&data, VETH_INFO_PEER)[16..]);
            for end in [&top, &peer] {
                assert_eq!(
                    u32_of(find(end, IFLA_MTU)),
                    if want.is_some() { 1400 } else { 1500 }
                );
                for k in GSO_GRO_SIZES {
                    let got = end
                        .iter()
                        .find(|(a, _)| *a == k)
                        .map(|(_, v)| u32_of(v.clone()));
                    assert_eq!(got, want, "attribute {k}");
                }
            }
        }
    }

    #[test]
    fn a_kernel_refusing_the_big_tcp_sizes_gets_a_plain_veth() {
        let has_sizes = |msg: &[u8]| {
            attrs(&msg[32..])
                .iter()
                .any(|(k, _)| *k == IFLA_GSO_MAX_SIZE)
        };
        let (mut nl, sent) = fake_script(&[libc::EINVAL], 0);
        nl.create_veth_into("vh", "vp", 1500, None, None, Some(196608))
            .unwrap();
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 2, "made again");
        assert!(has_sizes(&sent[0]) && !has_sizes(&sent[1]));
        // Other refusals are the caller's error, and without BIG TCP nothing is retried.
        let (mut nl, sent) = fake(libc::EEXIST);
        let e = nl
            .create_veth_into("vh", "vp", 1500, None, None, Some(196608))
            .unwrap_err();
        assert!(e.to_string().contains("EEXIST"), "{e}");
        assert_eq!(sent.lock().unwrap().len(), 1);
        let (mut nl, sent) = fake(libc::EINVAL);
        assert!(nl
            .create_veth_into("vh", "vp", 1500, None, None, None)
            .is_err());
        assert_eq!(sent.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_missing_link_kind_is_a_clear_error() {
        let (mut nl, _) = fake(libc::EOPNOTSUPP);
        let e = nl
            .create_sublink("ipv0", 3, Sublink::Ipvlan { mode: 0, flags: 0 })
            .unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the kernel has no ipvlan links (module ipvlan missing)"
        );
        let (mut nl, _) = fake(libc::ENODEV);
        let e = nl
            .create_sublink("mv0", 99, Sublink::Macvlan { mode: 4 })
            .unwrap_err();
        assert!(e.to_string().contains("ENODEV"), "{e}");
    }
}
