//! NAT and forwarding rules with iptables (nf_tables backed on Debian):
//! masquerade for a network's subnet, forwarding to and from its bridge, and
//! DNAT for published ports, each in Berth's own chains so they can be listed
//! and removed without touching anyone else's rules. The chains and the jumps
//! into them go with the last rule of the daemon's networks (`unused.rs`).
//! [`nft::Nftables`] is the nftables back end behind the same trait.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::RwLock;

mod ipv6;
pub mod nft;
mod unused;

pub use nft::Nftables;

/// Held for reading while rules are added, for writing while they are removed: a removal may
/// take the chains (or the nft table) away once nothing of ours is left, and an addition running
/// at the same time in this process must not lose its rules with them.
pub(crate) static RULES: RwLock<()> = RwLock::new(());

/// Pass the traffic between two ports of `bridge` through iptables (and ip6tables with `ipv6`),
/// which `enable_icc=false` needs: br_netfilter's per-bridge flag (`nf_call_iptables`), not the
/// host-wide `net.bridge.bridge-nf-call-iptables`, which would send every bridge of the host
/// through the firewall (Docker's, libvirt's, every other network of ours), against what the
/// host's administrator chose. A host that has it on (br_netfilter's own default) keeps it so.
/// Without br_netfilter the flag would do nothing: that is an error, as before.
pub fn bridge_nf_call(bridge: &str, ipv6: bool) -> Result<()> {
    for family in ["iptables", "ip6tables"]
        .iter()
        .take(if ipv6 { 2 } else { 1 })
    {
        let sysctl = format!("/proc/sys/net/bridge/bridge-nf-call-{family}");
        if !std::path::Path::new(&sysctl).exists() {
            return Err(crate::Error::Unsupported(format!(
                "{sysctl} is missing (is br_netfilter loaded?): enable_icc=false needs it"
            )));
        }
    }
    let index = crate::netlink::index(bridge)?;
    crate::netlink::Netlink::open()?.set_bridge_nf_call(index, ipv6)
}

use crate::cmd::run;
use crate::error::Result;
use crate::ipam::Subnet;
use crate::ipam6::Subnet6;
use crate::PortMapping;

/// Where rules go; `None` is for hosts whose firewall the user manages.
pub trait Firewall: Send + Sync {
    fn setup_network(&self, bridge: &str, subnet: Subnet) -> Result<()>;
    fn teardown_network(&self, bridge: &str, subnet: Subnet) -> Result<()>;
    fn publish(&self, bridge: &str, container: Ipv4Addr, port: &PortMapping) -> Result<()>;
    fn unpublish(&self, bridge: &str, container: Ipv4Addr, port: &PortMapping) -> Result<()>;
    /// An internal network: no NAT and nothing forwarded in or out of its bridge
    /// (only between its own containers). Called after `setup_network` is skipped.
    fn setup_internal(&self, bridge: &str, subnet: Subnet) -> Result<()> {
        let _ = (bridge, subnet);
        Ok(())
    }
    fn teardown_internal(&self, bridge: &str, subnet: Subnet) -> Result<()> {
        let _ = (bridge, subnet);
        Ok(())
    }
    /// `enable_icc=false`: containers of the bridge cannot reach each other
    /// (over IPv6 too when `ipv6`).
    fn block_icc(&self, bridge: &str, ipv6: bool) -> Result<()> {
        let _ = (bridge, ipv6);
        Ok(())
    }
    fn unblock_icc(&self, bridge: &str, ipv6: bool) {
        let _ = (bridge, ipv6);
    }
    /// A published port's IPv6 side: DNAT of IPv6 traffic to the container's IPv6 address.
    fn publish6(&self, bridge: &str, container: Ipv6Addr, port: &PortMapping) -> Result<()> {
        let _ = (bridge, container, port);
        Ok(())
    }
    fn unpublish6(&self, bridge: &str, container: Ipv6Addr, port: &PortMapping) -> Result<()> {
        let _ = (bridge, container, port);
        Ok(())
    }
    /// A dual-stack network's IPv6 side: isolation, forwarding and (unless
    /// `internal`) masquerade for `subnet`, as for IPv4.
    fn setup_ipv6(&self, bridge: &str, subnet: Subnet6, internal: bool) -> Result<()> {
        let _ = (bridge, subnet, internal);
        Ok(())
    }
    fn teardown_ipv6(&self, bridge: &str, subnet: Subnet6, internal: bool) {
        let _ = (bridge, subnet, internal);
    }
}

/// No rules at all.
pub struct NoFirewall;

impl Firewall for NoFirewall {
    fn setup_network(&self, _: &str, _: Subnet) -> Result<()> {
        Ok(())
    }
    fn teardown_network(&self, _: &str, _: Subnet) -> Result<()> {
        Ok(())
    }
    fn publish(&self, _: &str, _: Ipv4Addr, _: &PortMapping) -> Result<()> {
        Ok(())
    }
    fn unpublish(&self, _: &str, _: Ipv4Addr, _: &PortMapping) -> Result<()> {
        Ok(())
    }
}

/// The chain prefixes whose chains and jumps this process has made (or found) already.
static READY: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Rules through the `iptables` command.
pub struct Iptables {
    /// Prefix of the chains this instance owns (BERTH by default).
    pub chain: String,
}

impl Default for Iptables {
    fn default() -> Self {
        Iptables {
            chain: "BERTH".into(),
        }
    }
}

/// The rule tool of one address family: `iptables` or `ip6tables`.
#[derive(Clone, Copy)]
pub(crate) struct Tool(pub(crate) &'static str);

pub(crate) const V4: Tool = Tool("iptables");
pub(crate) const V6: Tool = Tool("ip6tables");

impl Tool {
    pub(crate) fn ipt(self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-w"];
        full.extend_from_slice(args);
        run(self.0, &full)
    }

    /// Append `rule` to `chain` of `table` unless it is there already.
    pub(crate) fn ensure_rule(self, table: &str, chain: &str, rule: &[&str]) -> Result<()> {
        let mut check = vec!["-t", table, "-C", chain];
        check.extend_from_slice(rule);
        if self.ipt(&check).is_ok() {
            return Ok(());
        }
        let mut add = vec!["-t", table, "-A", chain];
        add.extend_from_slice(rule);
        self.ipt(&add).map(|_| ())
    }

    /// Insert `rule` at the top of `chain` unless it is there already.
    pub(crate) fn ensure_first(self, table: &str, chain: &str, rule: &[&str]) -> Result<()> {
        let mut check = vec!["-t", table, "-C", chain];
        check.extend_from_slice(rule);
        if self.ipt(&check).is_ok() {
            return Ok(());
        }
        let mut add = vec!["-t", table, "-I", chain, "1"];
        add.extend_from_slice(rule);
        self.ipt(&add).map(|_| ())
    }

    pub(crate) fn delete_rule(self, table: &str, chain: &str, rule: &[&str]) {
        let mut del = vec!["-t", table, "-D", chain];
        del.extend_from_slice(rule);
        while self.ipt(&del).is_ok() {}
    }

    pub(crate) fn ensure_chain(self, table: &str, chain: &str) -> Result<()> {
        if self.ipt(&["-t", table, "-L", chain, "-n"]).is_err() {
            self.ipt(&["-t", table, "-N", chain])?;
        }
        Ok(())
    }
}

fn ipt(args: &[&str]) -> Result<String> {
    V4.ipt(args)
}

fn ensure_rule(table: &str, chain: &str, rule: &[&str]) -> Result<()> {
    V4.ensure_rule(table, chain, rule)
}

fn delete_rule(table: &str, chain: &str, rule: &[&str]) {
    V4.delete_rule(table, chain, rule)
}

fn ensure_chain(table: &str, chain: &str) -> Result<()> {
    V4.ensure_chain(table, chain)
}

impl Iptables {
    fn nat_chain(&self) -> String {
        format!("{}-DNAT", self.chain)
    }
    fn post_chain(&self) -> String {
        format!("{}-POSTROUTING", self.chain)
    }
    fn fwd_chain(&self) -> String {
        format!("{}-FORWARD", self.chain)
    }
    /// Isolation, stage 1: traffic leaving a bridge for another one goes to stage 2.
    fn iso1_chain(&self) -> String {
        format!("{}-ISO1", self.chain)
    }
    /// Isolation, stage 2: traffic about to enter one of this daemon's bridges is dropped.
    fn iso2_chain(&self) -> String {
        format!("{}-ISO2", self.chain)
    }

    /// Keep `bridge` apart from this daemon's other bridges (Docker's two-stage
    /// isolation: any packet from one of our bridges to another one is dropped).
    fn isolate(&self, bridge: &str) -> Result<()> {
        let (iso1, iso2) = (self.iso1_chain(), self.iso2_chain());
        ensure_rule(
            "filter",
            &iso1,
            &["-i", bridge, "!", "-o", bridge, "-j", &iso2],
        )?;
        ensure_rule("filter", &iso2, &["-o", bridge, "-j", "DROP"])
    }

    fn unisolate(&self, bridge: &str) {
        let (iso1, iso2) = (self.iso1_chain(), self.iso2_chain());
        delete_rule(
            "filter",
            &iso1,
            &["-i", bridge, "!", "-o", bridge, "-j", &iso2],
        );
        delete_rule("filter", &iso2, &["-o", bridge, "-j", "DROP"]);
    }

    /// The jumps from the built-in chains into this instance's chains:
    /// (table, built-in chain, rule).
    fn jumps(&self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        let v = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (nat, post, fwd) = (self.nat_chain(), self.post_chain(), self.fwd_chain());
        vec![
            (
                "nat",
                "PREROUTING",
                v(&["-m", "addrtype", "--dst-type", "LOCAL", "-j", &nat]),
            ),
            (
                "nat",
                "OUTPUT",
                v(&[
                    "!",
                    "-d",
                    "127.0.0.0/8",
                    "-m",
                    "addrtype",
                    "--dst-type",
                    "LOCAL",
                    "-j",
                    &nat,
                ]),
            ),
            ("nat", "POSTROUTING", v(&["-j", &post])),
            ("filter", "FORWARD", v(&["-j", &fwd])),
        ]
    }

    /// The chains and the jumps into them from the built-in chains, checked once per daemon
    /// (each check is an iptables process: a published port paid ten of them before).
    fn ensure_chains(&self) -> Result<()> {
        let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
        if ready.contains(&self.chain) {
            return Ok(());
        }
        self.make_chains()?;
        ready.insert(self.chain.clone());
        Ok(())
    }

    fn make_chains(&self) -> Result<()> {
        ensure_chain("nat", &self.nat_chain())?;
        ensure_chain("nat", &self.post_chain())?;
        ensure_chain("filter", &self.fwd_chain())?;
        ensure_chain("filter", &self.iso1_chain())?;
        ensure_chain("filter", &self.iso2_chain())?;
        for (table, chain, rule) in self.jumps() {
            ensure_rule(table, chain, &strs(&rule))?;
        }
        // Isolation comes before any ACCEPT of the forward chain.
        let (fwd, iso1) = (self.fwd_chain(), self.iso1_chain());
        if ipt(&["-t", "filter", "-C", &fwd, "-j", &iso1]).is_err() {
            ipt(&["-t", "filter", "-I", &fwd, "1", "-j", &iso1])?;
        }
        Ok(())
    }
}

fn port_rule(bridge: &str, container: Ipv4Addr, p: &PortMapping) -> Vec<String> {
    let mut r = vec!["-p".to_string(), p.protocol.clone()];
    if let Some(ip) = p.host_ip.filter(|ip| !ip.is_unspecified()) {
        r.extend(["-d".into(), format!("{ip}/32")]);
    }
    r.extend([
        "!".into(),
        "-i".into(),
        bridge.to_string(),
        "--dport".into(),
        p.host_port.to_string(),
        "-j".into(),
        "DNAT".into(),
        "--to-destination".into(),
        format!("{container}:{}", p.container_port),
    ]);
    r
}

impl Firewall for Iptables {
    fn setup_network(&self, bridge: &str, subnet: Subnet) -> Result<()> {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        // Containers reach the outside only if the host forwards packets.
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            .map_err(crate::error::io("enable net.ipv4.ip_forward"))?;
        self.ensure_chains()?;
        self.isolate(bridge)?;
        let s = subnet.to_string();
        ensure_rule(
            "nat",
            &self.post_chain(),
            &["-s", &s, "!", "-o", bridge, "-j", "MASQUERADE"],
        )?;
        let fwd = self.fwd_chain();
        ensure_rule("filter", &fwd, &["-i", bridge, "-j", "ACCEPT"])?;
        ensure_rule(
            "filter",
            &fwd,
            &[
                "-o",
                bridge,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "ACCEPT",
            ],
        )?;
        Ok(())
    }

    fn teardown_network(&self, bridge: &str, subnet: Subnet) -> Result<()> {
        let _held = RULES.write().unwrap_or_else(|e| e.into_inner());
        self.unisolate(bridge);
        let s = subnet.to_string();
        delete_rule(
            "nat",
            &self.post_chain(),
            &["-s", &s, "!", "-o", bridge, "-j", "MASQUERADE"],
        );
        let fwd = self.fwd_chain();
        delete_rule("filter", &fwd, &["-i", bridge, "-j", "ACCEPT"]);
        delete_rule(
            "filter",
            &fwd,
            &[
                "-o",
                bridge,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "ACCEPT",
            ],
        );
        self.release_if_unused();
        Ok(())
    }

    fn publish(&self, bridge: &str, container: Ipv4Addr, p: &PortMapping) -> Result<()> {
        if matches!(p.host_ip, Some(std::net::IpAddr::V6(_))) {
            return Ok(());
        }
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        self.ensure_chains()?;
        let (dnat, accept) = (
            port_rule(bridge, container, p),
            forward_rule(bridge, container, p),
        );
        // Checked first (a restored container's rules may be there), then added together.
        let nat_there =
            ipt(&[&["-t", "nat", "-C", &self.nat_chain()], &strs(&dnat)[..]].concat()).is_ok();
        let fwd_there = ipt(&[
            &["-t", "filter", "-C", &self.fwd_chain()],
            &strs(&accept)[..],
        ]
        .concat())
        .is_ok();
        let mut batch = String::new();
        if !nat_there {
            batch.push_str(&format!(
                "*nat\n-A {} {}\nCOMMIT\n",
                self.nat_chain(),
                dnat.join(" ")
            ));
        }
        if !fwd_there {
            batch.push_str(&format!(
                "*filter\n-A {} {}\nCOMMIT\n",
                self.fwd_chain(),
                accept.join(" ")
            ));
        }
        if batch.is_empty() {
            return Ok(());
        }
        crate::cmd::run_with_input("iptables-restore", &["-w", "--noflush"], &batch)
    }

    fn unpublish(&self, bridge: &str, container: Ipv4Addr, p: &PortMapping) -> Result<()> {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        let (dnat, accept) = (
            port_rule(bridge, container, p),
            forward_rule(bridge, container, p),
        );
        // Both rules in one iptables-restore (one process, not four); if either is missing
        // (the batch fails as a whole), one by one.
        let batch = format!(
            "*nat\n-D {} {}\nCOMMIT\n*filter\n-D {} {}\nCOMMIT\n",
            self.nat_chain(),
            dnat.join(" "),
            self.fwd_chain(),
            accept.join(" ")
        );
        if crate::cmd::run_with_input("iptables-restore", &["-w", "--noflush"], &batch).is_err() {
            delete_rule("nat", &self.nat_chain(), &strs(&dnat));
            delete_rule("filter", &self.fwd_chain(), &strs(&accept));
        }
        Ok(())
    }

    fn setup_internal(&self, bridge: &str, _subnet: Subnet) -> Result<()> {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        self.ensure_chains()?;
        self.isolate(bridge)?;
        let iso1 = self.iso1_chain();
        for rule in internal_rules(bridge) {
            let r = strs(&rule);
            let mut check = vec!["-t", "filter", "-C", &iso1];
            check.extend_from_slice(&r);
            if ipt(&check).is_err() {
                let mut add = vec!["-t", "filter", "-I", &iso1, "1"];
                add.extend_from_slice(&r);
                ipt(&add)?;
            }
        }
        ensure_rule(
            "filter",
            &self.fwd_chain(),
            &["-i", bridge, "-o", bridge, "-j", "ACCEPT"],
        )
    }

    fn block_icc(&self, bridge: &str, ipv6: bool) -> Result<()> {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        // Bridged traffic meets iptables only with br_netfilter's hook on for the bridge.
        bridge_nf_call(bridge, ipv6)?;
        self.ensure_chains()?;
        let rule = ["-i", bridge, "-o", bridge, "-j", "DROP"];
        V4.ensure_first("filter", &self.iso1_chain(), &rule)?;
        if ipv6 {
            self.ensure_chains6()?;
            V6.ensure_first("filter", &self.iso1_chain(), &rule)?;
        }
        Ok(())
    }

    fn unblock_icc(&self, bridge: &str, ipv6: bool) {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        let rule = ["-i", bridge, "-o", bridge, "-j", "DROP"];
        delete_rule("filter", &self.iso1_chain(), &rule);
        if ipv6 {
            V6.delete_rule("filter", &self.iso1_chain(), &rule);
        }
    }

    fn setup_ipv6(&self, bridge: &str, subnet: Subnet6, internal: bool) -> Result<()> {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        self.setup6(bridge, subnet, internal)
    }

    fn publish6(&self, bridge: &str, container: Ipv6Addr, p: &PortMapping) -> Result<()> {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        self.publish6(bridge, container, p)
    }

    fn unpublish6(&self, bridge: &str, container: Ipv6Addr, p: &PortMapping) -> Result<()> {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        Iptables::unpublish6(self, bridge, container, p);
        Ok(())
    }

    fn teardown_ipv6(&self, bridge: &str, subnet: Subnet6, internal: bool) {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        self.teardown6(bridge, subnet, internal)
    }

    fn teardown_internal(&self, bridge: &str, _subnet: Subnet) -> Result<()> {
        let _held = RULES.write().unwrap_or_else(|e| e.into_inner());
        self.unisolate(bridge);
        for rule in internal_rules(bridge) {
            delete_rule("filter", &self.iso1_chain(), &strs(&rule));
        }
        delete_rule(
            "filter",
            &self.fwd_chain(),
            &["-i", bridge, "-o", bridge, "-j", "ACCEPT"],
        );
        self.release_if_unused();
        Ok(())
    }
}

/// An internal network's bridge: nothing leaves it for elsewhere, nothing enters it from elsewhere.
fn internal_rules(bridge: &str) -> [Vec<String>; 2] {
    let v = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    [
        v(&["-i", bridge, "!", "-o", bridge, "-j", "DROP"]),
        v(&["-o", bridge, "!", "-i", bridge, "-j", "DROP"]),
    ]
}

/// Let the DNATed traffic of a published port through FORWARD.
fn forward_rule(bridge: &str, container: Ipv4Addr, p: &PortMapping) -> Vec<String> {
    [
        "-d",
        &format!("{container}/32"),
        "!",
        "-i",
        bridge,
        "-o",
        bridge,
        "-p",
        &p.protocol,
        "--dport",
        &p.container_port.to_string(),
        "-j",
        "ACCEPT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

impl Iptables {
    /// Remove this instance's chains and the jumps into them (IPv6 ones too).
    pub fn purge(&self) {
        let _held = RULES.write().unwrap_or_else(|e| e.into_inner());
        self.purge_chains();
    }

    fn purge_chains(&self) {
        READY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.chain);
        ipv6::purge(self);
        for (table, chain, rule) in self.jumps() {
            delete_rule(table, chain, &strs(&rule));
        }
        let (nat, post, fwd) = (self.nat_chain(), self.post_chain(), self.fwd_chain());
        let (iso1, iso2) = (self.iso1_chain(), self.iso2_chain());
        for (table, chain) in [
            ("nat", &nat),
            ("nat", &post),
            ("filter", &fwd),
            ("filter", &iso1),
            ("filter", &iso2),
        ] {
            let _ = ipt(&["-t", table, "-F", chain]);
            let _ = ipt(&["-t", table, "-X", chain]);
        }
    }
}

/// List the rules of Berth's chains (for tests and `berth network inspect`).
pub fn list_rules(table: &str, chain: &str) -> Result<String> {
    ipt(&["-t", table, "-S", chain])
}
