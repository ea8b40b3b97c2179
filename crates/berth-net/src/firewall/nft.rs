//! The nftables back end (`berthd --firewall-backend nftables`): every rule of
//! the daemon in one table of family `inet` (`berth` by default), so one rule
//! set covers IPv4 and IPv6 and teardown is one `delete table`.
//!
//! Layout of table `inet T`:
//! - `prerouting` (nat, dstnat) and `output` (nat, -100): destinations that are
//!   local addresses jump to `published` (from the host itself, not for
//!   loopback, which the userland relay answers);
//! - `published`: one DNAT rule per published port;
//! - `postrouting` (nat, srcnat): masquerade of each network's subnet(s);
//! - `forward` (filter): jumps to `iso1`, Docker's two-stage isolation
//!   (`iso1`: from one of our bridges to anywhere else goes to `iso2`; `iso2`:
//!   into one of our bridges is dropped), plus the drops of `--internal`
//!   networks and of `enable_icc=false`.
//!
//! The fixed chains and rules (the skeleton) open every batch: `add` of a
//! table or chain that exists is a no-op, and the chains holding only fixed
//! rules are flushed and filled again, so every batch is idempotent and the
//! table is made on first use. Every other rule carries a comment naming what
//! it belongs to (`net BRIDGE`, `net6 BRIDGE`, `icc BRIDGE`, `port ...`);
//! adding a tag replaces the rules it had (a restart adds nothing twice), and
//! removing the last tagged rule deletes the whole table. One list (`nft -a`,
//! for the handles) and one `nft -f -` batch per change, nothing in between.
//!
//! No ACCEPT rules: an accept in our table does not stop another table from
//! dropping the packet (unlike iptables' FORWARD chain), so they would only
//! pretend; a host whose own ruleset drops forwarded traffic must allow it there.

use std::net::IpAddr;

use super::{Firewall, RULES};
use crate::error::{Error, Result};
use crate::ipam::Subnet;
use crate::ipam6::Subnet6;
use crate::PortMapping;

/// Runs nft: the binary, or a fake in unit tests.
pub trait NftExec: Send + Sync {
    /// Apply `batch` atomically (`nft -f -`).
    fn apply(&self, batch: &str) -> Result<()>;
    /// `nft -a list table inet NAME` (rules with their handles); `None` when there is no table.
    fn list(&self, table: &str) -> Result<Option<String>>;
}

/// The `nft` command.
pub struct NftBinary;

impl NftExec for NftBinary {
    fn apply(&self, batch: &str) -> Result<()> {
        crate::cmd::run_with_input("nft", &["-f", "-"], batch)
    }

    fn list(&self, table: &str) -> Result<Option<String>> {
        match crate::cmd::run("nft", &["-a", "list", "table", "inet", table]) {
            Ok(out) => Ok(Some(out)),
            Err(Error::Command { stderr, .. }) if stderr.contains("No such file or directory") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether the `nft` command is there (for a clear error at start, and for tests).
pub fn available() -> bool {
    crate::cmd::run("nft", &["--version"]).is_ok()
}

/// Rules in table `inet <table>`.
pub struct Nftables {
    pub table: String,
    pub exec: Box<dyn NftExec>,
}

impl Nftables {
    /// The daemon's table through the `nft` binary.
    pub fn new(table: &str) -> Nftables {
        Nftables {
            table: table.to_string(),
            exec: Box::new(NftBinary),
        }
    }

    fn skeleton(&self) -> String {
        let t = &self.table;
        let mut b = format!("add table inet {t}\n");
        for (chain, spec) in [
            ("prerouting", "type nat hook prerouting priority dstnat;"),
            ("output", "type nat hook output priority -100;"),
            ("postrouting", "type nat hook postrouting priority srcnat;"),
            ("forward", "type filter hook forward priority filter;"),
        ] {
            b.push_str(&format!(
                "add chain inet {t} {chain} {{ {spec} policy accept; }}\n"
            ));
        }
        for chain in ["published", "iso1", "iso2"] {
            b.push_str(&format!("add chain inet {t} {chain}\n"));
        }
        for chain in ["prerouting", "output", "forward"] {
            b.push_str(&format!("flush chain inet {t} {chain}\n"));
        }
        for (chain, rule) in [
            ("prerouting", "fib daddr type local jump published"),
            (
                "output",
                "ip daddr != 127.0.0.0/8 fib daddr type local jump published",
            ),
            (
                "output",
                "ip6 daddr != ::1 fib daddr type local jump published",
            ),
            ("forward", "jump iso1"),
        ] {
            b.push_str(&format!("add rule inet {t} {chain} {rule}\n"));
        }
        b
    }

    /// Replace the rules tagged `tag` with `rules` ((chain, rule) pairs), in one batch.
    fn replace(&self, tag: &str, rules: &[(&str, String)]) -> Result<()> {
        let _held = RULES.read().unwrap_or_else(|e| e.into_inner());
        let listing = self.exec.list(&self.table)?.unwrap_or_default();
        let mut batch = self.skeleton();
        for (chain, handle) in tagged(&listing, |t| t == tag) {
            batch.push_str(&format!(
                "delete rule inet {} {chain} handle {handle}\n",
                self.table
            ));
        }
        for (chain, rule) in rules {
            batch.push_str(&format!(
                "add rule inet {} {chain} {rule} comment \"{tag}\"\n",
                self.table
            ));
        }
        self.exec.apply(&batch)
    }

    /// Remove the rules tagged `tag`; the whole table when nothing else of ours is left.
    fn remove(&self, tag: &str) -> Result<()> {
        let _held = RULES.write().unwrap_or_else(|e| e.into_inner());
        let Some(listing) = self.exec.list(&self.table)? else {
            return Ok(());
        };
        let ours = tagged(&listing, |t| t == tag);
        let others = tagged(&listing, |t| t != tag);
        let batch = if others.is_empty() {
            format!("delete table inet {}\n", self.table)
        } else if ours.is_empty() {
            return Ok(());
        } else {
            ours.iter()
                .map(|(chain, handle)| {
                    format!("delete rule inet {} {chain} handle {handle}\n", self.table)
                })
                .collect()
        };
        self.exec.apply(&batch)
    }

    /// Delete the table whatever it holds (a test daemon's leftovers).
    pub fn purge(&self) {
        let _held = RULES.write().unwrap_or_else(|e| e.into_inner());
        if let Ok(Some(_)) = self.exec.list(&self.table) {
            let _ = self
                .exec
                .apply(&format!("delete table inet {}\n", self.table));
        }
    }
}

/// (chain, handle) of every rule in `listing` whose comment tag passes `keep`.
fn tagged(listing: &str, keep: impl Fn(&str) -> bool) -> Vec<(String, u64)> {
    let mut chain = String::new();
    let mut found = Vec::new();
    for line in listing.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("chain ") {
            chain = rest.split_whitespace().next().unwrap_or("").to_string();
            continue;
        }
        let Some((_, after)) = line.split_once("comment \"") else {
            continue;
        };
        let Some((tag, tail)) = after.split_once('"') else {
            continue;
        };
        let handle = tail
            .trim()
            .strip_prefix("# handle ")
            .and_then(|h| h.trim().parse::<u64>().ok());
        if let (Some(h), true) = (handle, keep(tag)) {
            found.push((chain.clone(), h));
        }
    }
    found
}

fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// Isolation from the daemon's other bridges, for the `net` tag.
fn isolation(b: &str) -> Vec<(&'static str, String)> {
    vec![
        ("iso1", format!("iifname {b} oifname != {b} jump iso2")),
        ("iso2", format!("oifname {b} drop")),
    ]
}

/// The rule tag of a published port (what tells its rule apart from every other).
fn port_tag(bridge: &str, container: IpAddr, p: &PortMapping) -> String {
    let host = p
        .host_ip
        .filter(|ip| !ip.is_unspecified())
        .map_or("*".to_string(), |ip| ip.to_string());
    format!(
        "port {bridge} {} {host} {} {container} {}",
        p.protocol, p.host_port, p.container_port
    )
}

/// The DNAT rule of a published port: to `container`, from anywhere but its own bridge.
fn port_rule(bridge: &str, container: IpAddr, p: &PortMapping) -> String {
    let b = quoted(bridge);
    let (family, to) = match container {
        IpAddr::V4(a) => ("ip", format!("{a}:{}", p.container_port)),
        IpAddr::V6(a) => ("ip6", format!("[{a}]:{}", p.container_port)),
    };
    let dst = match p.host_ip.filter(|ip| !ip.is_unspecified()) {
        Some(ip) => format!("{family} daddr {ip} "),
        None => format!(
            "meta nfproto {} ",
            if family == "ip" { "ipv4" } else { "ipv6" }
        ),
    };
    format!(
        "{dst}iifname != {b} {} dport {} counter dnat {family} to {to}",
        p.protocol, p.host_port
    )
}

impl Firewall for Nftables {
    fn setup_network(&self, bridge: &str, subnet: Subnet) -> Result<()> {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            .map_err(crate::error::io("enable net.ipv4.ip_forward"))?;
        let b = quoted(bridge);
        let mut rules = isolation(&b);
        rules.push((
            "postrouting",
            format!("ip saddr {subnet} oifname != {b} masquerade"),
        ));
        self.replace(&format!("net {bridge}"), &rules)
    }

    fn teardown_network(&self, bridge: &str, _subnet: Subnet) -> Result<()> {
        self.remove(&format!("net {bridge}"))
    }

    fn publish(&self, bridge: &str, container: std::net::Ipv4Addr, p: &PortMapping) -> Result<()> {
        if matches!(p.host_ip, Some(IpAddr::V6(_))) {
            return Ok(());
        }
        let c = IpAddr::V4(container);
        self.replace(
            &port_tag(bridge, c, p),
            &[("published", port_rule(bridge, c, p))],
        )
    }

    fn unpublish(
        &self,
        bridge: &str,
        container: std::net::Ipv4Addr,
        p: &PortMapping,
    ) -> Result<()> {
        self.remove(&port_tag(bridge, IpAddr::V4(container), p))
    }

    fn publish6(&self, bridge: &str, container: std::net::Ipv6Addr, p: &PortMapping) -> Result<()> {
        let c = IpAddr::V6(container);
        self.replace(
            &port_tag(bridge, c, p),
            &[("published", port_rule(bridge, c, p))],
        )
    }

    fn unpublish6(
        &self,
        bridge: &str,
        container: std::net::Ipv6Addr,
        p: &PortMapping,
    ) -> Result<()> {
        self.remove(&port_tag(bridge, IpAddr::V6(container), p))
    }

    fn setup_internal(&self, bridge: &str, _subnet: Subnet) -> Result<()> {
        let b = quoted(bridge);
        let mut rules = isolation(&b);
        rules.push(("iso1", format!("iifname {b} oifname != {b} drop")));
        rules.push(("iso1", format!("oifname {b} iifname != {b} drop")));
        self.replace(&format!("net {bridge}"), &rules)
    }

    fn teardown_internal(&self, bridge: &str, _subnet: Subnet) -> Result<()> {
        self.remove(&format!("net {bridge}"))
    }

    fn block_icc(&self, bridge: &str, ipv6: bool) -> Result<()> {
        // Bridged traffic meets the forward hook only with br_netfilter's hooks on for the bridge.
        super::bridge_nf_call(bridge, ipv6)?;
        let b = quoted(bridge);
        self.replace(
            &format!("icc {bridge}"),
            &[("iso1", format!("iifname {b} oifname {b} drop"))],
        )
    }

    fn unblock_icc(&self, bridge: &str, _ipv6: bool) {
        let _ = self.remove(&format!("icc {bridge}"));
    }

    fn setup_ipv6(&self, bridge: &str, subnet: Subnet6, internal: bool) -> Result<()> {
        // Isolation and the internal drops match interfaces, so the `net` rules cover IPv6 too.
        if internal {
            return Ok(());
        }
        std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1")
            .map_err(crate::error::io("enable net.ipv6.conf.all.forwarding"))?;
        let b = quoted(bridge);
        self.replace(
            &format!("net6 {bridge}"),
            &[(
                "postrouting",
                format!("ip6 saddr {subnet} oifname != {b} masquerade"),
            )],
        )
    }

    fn teardown_ipv6(&self, bridge: &str, _subnet: Subnet6, _internal: bool) {
        let _ = self.remove(&format!("net6 {bridge}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records batches; `list` answers what the test put in `listing`.
    #[derive(Default, Clone)]
    struct Fake {
        batches: Arc<Mutex<Vec<String>>>,
        listing: Arc<Mutex<Option<String>>>,
    }

    impl NftExec for Fake {
        fn apply(&self, batch: &str) -> Result<()> {
            self.batches.lock().unwrap().push(batch.to_string());
            Ok(())
        }
        fn list(&self, _table: &str) -> Result<Option<String>> {
            Ok(self.listing.lock().unwrap().clone())
        }
    }

    fn fw() -> (Nftables, Fake) {
        let fake = Fake::default();
        let fw = Nftables {
            table: "berth".into(),
            exec: Box::new(fake.clone()),
        };
        (fw, fake)
    }

    const LISTING: &str = r#"table inet berth { # handle 9
	chain postrouting { # handle 3
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.9.0.0/24 oifname != "br-a" masquerade comment "net br-a" # handle 14
		ip saddr 10.8.0.0/24 oifname != "br-b" masquerade comment "net br-b" # handle 15
	}
	chain published { # handle 5
		ip daddr 127.0.0.1 iifname != "br-a" tcp dport 8080 dnat ip to 10.9.0.2:80 comment "port br-a tcp 127.0.0.1 8080 10.9.0.2 80" # handle 16
	}
	chain iso1 { # handle 6
		iifname "br-a" oifname != "br-a" jump iso2 comment "net br-a" # handle 12
	}
}
"#;

    #[test]
    fn a_published_port_is_one_dnat_rule_with_its_tag() {
        let (fw, fake) = fw();
        let p = PortMapping {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
        };
        fw.publish("br-a", "10.9.0.2".parse().unwrap(), &p).unwrap();
        let b = fake.batches.lock().unwrap()[0].clone();
        assert!(b.starts_with("add table inet berth\n"), "{b}");
        assert!(b.contains("add rule inet berth prerouting fib daddr type local jump published"));
        assert!(
            b.contains(
                "add rule inet berth published ip daddr 127.0.0.1 iifname != \"br-a\" tcp dport 8080 \
                 counter dnat ip to 10.9.0.2:80 comment \"port br-a tcp 127.0.0.1 8080 10.9.0.2 80\""
            ),
            "{b}"
        );
        // Published again (a restart): the old rule goes in the same batch.
        *fake.listing.lock().unwrap() = Some(LISTING.into());
        fw.publish("br-a", "10.9.0.2".parse().unwrap(), &p).unwrap();
        let b = fake.batches.lock().unwrap()[1].clone();
        assert!(
            b.contains("delete rule inet berth published handle 16\n"),
            "{b}"
        );
        assert_eq!(b.matches("delete rule").count(), 1, "{b}");
        // Any host address, udp, IPv6 container.
        let any = PortMapping {
            host_ip: None,
            host_port: 53,
            container_port: 5353,
            protocol: "udp".into(),
        };
        assert_eq!(
            port_rule("br-a", "fd00::2".parse().unwrap(), &any),
            "meta nfproto ipv6 iifname != \"br-a\" udp dport 53 counter dnat ip6 to [fd00::2]:5353"
        );
    }

    #[test]
    fn removing_a_network_deletes_its_rules_and_the_last_one_the_table() {
        let (fw, fake) = fw();
        // Nothing there: nothing to do.
        fw.teardown_network("br-a", "10.9.0.0/24".parse().unwrap())
            .unwrap();
        assert!(fake.batches.lock().unwrap().is_empty());
        *fake.listing.lock().unwrap() = Some(LISTING.into());
        fw.teardown_network("br-a", "10.9.0.0/24".parse().unwrap())
            .unwrap();
        let b = fake.batches.lock().unwrap()[0].clone();
        assert_eq!(
            b,
            "delete rule inet berth postrouting handle 14\ndelete rule inet berth iso1 handle 12\n"
        );
        // Only br-a's rules left: the table goes.
        let only_a = LISTING.replace("comment \"net br-b\"", "");
        let only_a = only_a.replace("comment \"port br-a tcp 127.0.0.1 8080 10.9.0.2 80\"", "");
        *fake.listing.lock().unwrap() = Some(only_a);
        fw.teardown_network("br-a", "10.9.0.0/24".parse().unwrap())
            .unwrap();
        assert_eq!(fake.batches.lock().unwrap()[1], "delete table inet berth\n");
    }

    #[test]
    fn networks_isolate_and_internal_ones_drop_the_rest() {
        let (fw, fake) = fw();
        fw.setup_internal("br-i", "10.7.0.0/24".parse().unwrap())
            .unwrap();
        fw.setup_ipv6("br-i", "fd00:7::/64".parse().unwrap(), true)
            .unwrap();
        let b = fake.batches.lock().unwrap()[0].clone();
        for rule in [
            "iso1 iifname \"br-i\" oifname != \"br-i\" jump iso2 comment \"net br-i\"",
            "iso2 oifname \"br-i\" drop comment \"net br-i\"",
            "iso1 iifname \"br-i\" oifname != \"br-i\" drop comment \"net br-i\"",
            "iso1 oifname \"br-i\" iifname != \"br-i\" drop comment \"net br-i\"",
        ] {
            assert!(b.contains(&format!("add rule inet berth {rule}\n")), "{b}");
        }
        assert!(!b.contains("masquerade"), "{b}");
        // An internal network's IPv6 side needs nothing more (the drops match interfaces).
        assert!(fake
            .batches
            .lock()
            .unwrap()
            .iter()
            .all(|b| !b.contains("net6")));
    }

    #[test]
    fn tags_are_found_by_chain_and_handle() {
        let all = tagged(LISTING, |_| true);
        assert_eq!(
            all,
            vec![
                ("postrouting".to_string(), 14),
                ("postrouting".to_string(), 15),
                ("published".to_string(), 16),
                ("iso1".to_string(), 12),
            ]
        );
    }
}
