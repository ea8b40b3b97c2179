//! The IPv6 side of a dual-stack network, with `ip6tables` in chains of the
//! same names as the IPv4 ones: Docker's two-stage isolation between bridges,
//! forwarding to and from the bridge, and masquerade of the subnet for a way
//! out (Docker's default NAT mode for IPv6); an internal network gets the
//! drops instead. A published port gets an IPv6 DNAT rule to the container's
//! IPv6 address (the relay answers loopback, as for IPv4).

use std::net::{IpAddr, Ipv6Addr};

use super::{strs, Iptables, V6};
use crate::error::Result;
use crate::ipam6::Subnet6;
use crate::PortMapping;

/// The DNAT and FORWARD rules of a port published to `container`.
fn port_rules6(
    fw: &Iptables,
    bridge: &str,
    container: Ipv6Addr,
    p: &PortMapping,
) -> [(&'static str, String, Vec<String>); 2] {
    let mut dnat = vec!["-p".to_string(), p.protocol.clone()];
    if let Some(IpAddr::V6(ip)) = p.host_ip.filter(|ip| !ip.is_unspecified()) {
        dnat.extend(["-d".into(), format!("{ip}/128")]);
    }
    dnat.extend(
        [
            "!",
            "-i",
            bridge,
            "--dport",
            &p.host_port.to_string(),
            "-j",
            "DNAT",
            "--to-destination",
            &format!("[{container}]:{}", p.container_port),
        ]
        .map(String::from),
    );
    let accept = [
        "-d",
        &format!("{container}/128"),
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
    .map(String::from)
    .to_vec();
    [
        ("nat", fw.nat_chain(), dnat),
        ("filter", fw.fwd_chain(), accept),
    ]
}

impl Iptables {
    pub(super) fn ensure_chains6(&self) -> Result<()> {
        V6.ensure_chain("nat", &self.post_chain())?;
        V6.ensure_chain("filter", &self.fwd_chain())?;
        V6.ensure_chain("filter", &self.iso1_chain())?;
        V6.ensure_chain("filter", &self.iso2_chain())?;
        V6.ensure_rule("nat", "POSTROUTING", &["-j", &self.post_chain()])?;
        V6.ensure_rule("filter", "FORWARD", &["-j", &self.fwd_chain()])?;
        V6.ensure_first("filter", &self.fwd_chain(), &["-j", &self.iso1_chain()])
    }

    /// (table, chain, rule, at the top) of a network's IPv6 side.
    fn rules6(
        &self,
        bridge: &str,
        subnet: Subnet6,
        internal: bool,
    ) -> Vec<(&'static str, String, Vec<String>, bool)> {
        let v = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (iso1, iso2, fwd, post) = (
            self.iso1_chain(),
            self.iso2_chain(),
            self.fwd_chain(),
            self.post_chain(),
        );
        let mut rules = vec![
            (
                "filter",
                iso1.clone(),
                v(&["-i", bridge, "!", "-o", bridge, "-j", &iso2]),
                false,
            ),
            ("filter", iso2, v(&["-o", bridge, "-j", "DROP"]), false),
        ];
        if internal {
            rules.push((
                "filter",
                iso1.clone(),
                v(&["-i", bridge, "!", "-o", bridge, "-j", "DROP"]),
                true,
            ));
            rules.push((
                "filter",
                iso1,
                v(&["-o", bridge, "!", "-i", bridge, "-j", "DROP"]),
                true,
            ));
            rules.push((
                "filter",
                fwd,
                v(&["-i", bridge, "-o", bridge, "-j", "ACCEPT"]),
                false,
            ));
        } else {
            let s = subnet.to_string();
            rules.push((
                "nat",
                post,
                v(&["-s", &s, "!", "-o", bridge, "-j", "MASQUERADE"]),
                false,
            ));
            rules.push((
                "filter",
                fwd.clone(),
                v(&["-i", bridge, "-j", "ACCEPT"]),
                false,
            ));
            rules.push((
                "filter",
                fwd,
                v(&[
                    "-o",
                    bridge,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED",
                    "-j",
                    "ACCEPT",
                ]),
                false,
            ));
        }
        rules
    }

    pub(super) fn setup6(&self, bridge: &str, subnet: Subnet6, internal: bool) -> Result<()> {
        if !internal {
            std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1")
                .map_err(crate::error::io("enable net.ipv6.conf.all.forwarding"))?;
        }
        self.ensure_chains6()?;
        for (table, chain, rule, first) in self.rules6(bridge, subnet, internal) {
            if first {
                V6.ensure_first(table, &chain, &strs(&rule))?;
            } else {
                V6.ensure_rule(table, &chain, &strs(&rule))?;
            }
        }
        Ok(())
    }

    pub(super) fn publish6(
        &self,
        bridge: &str,
        container: Ipv6Addr,
        p: &PortMapping,
    ) -> Result<()> {
        self.ensure_chains6()?;
        let nat = self.nat_chain();
        V6.ensure_chain("nat", &nat)?;
        for (chain, rule) in nat_jumps6(&nat) {
            V6.ensure_rule("nat", chain, &rule)?;
        }
        for (table, chain, rule) in port_rules6(self, bridge, container, p) {
            V6.ensure_rule(table, &chain, &strs(&rule))?;
        }
        Ok(())
    }

    pub(super) fn unpublish6(&self, bridge: &str, container: Ipv6Addr, p: &PortMapping) {
        for (table, chain, rule) in port_rules6(self, bridge, container, p) {
            V6.delete_rule(table, &chain, &strs(&rule));
        }
    }

    pub(super) fn teardown6(&self, bridge: &str, subnet: Subnet6, internal: bool) {
        for (table, chain, rule, _) in self.rules6(bridge, subnet, internal) {
            V6.delete_rule(table, &chain, &strs(&rule));
        }
    }
}

/// The jumps into the IPv6 DNAT chain `nat`: one list, so what `purge` deletes is exactly what
/// publishing added.
fn nat_jumps6(nat: &str) -> [(&'static str, Vec<&str>); 2] {
    let local = ["-m", "addrtype", "--dst-type", "LOCAL", "-j", nat];
    [
        ("PREROUTING", local.to_vec()),
        ("OUTPUT", [&["!", "-d", "::1/128"][..], &local[..]].concat()),
    ]
}

/// Remove the IPv6 chains of `fw` and the jumps into them.
pub(super) fn purge(fw: &Iptables) {
    let nat = fw.nat_chain();
    for (chain, rule) in nat_jumps6(&nat) {
        V6.delete_rule("nat", chain, &rule);
    }
    V6.delete_rule("nat", "POSTROUTING", &["-j", &fw.post_chain()]);
    V6.delete_rule("filter", "FORWARD", &["-j", &fw.fwd_chain()]);
    for (table, chain) in [
        ("nat", nat),
        ("nat", fw.post_chain()),
        ("filter", fw.fwd_chain()),
        ("filter", fw.iso1_chain()),
        ("filter", fw.iso2_chain()),
    ] {
        let _ = V6.ipt(&["-t", table, "-F", &chain]);
        let _ = V6.ipt(&["-t", table, "-X", &chain]);
    }
}
