//! The firewall back ends (`--firewall-backend iptables|nftables`) through the stock docker CLI:
//! the same rules do the same things in both (isolation between networks over IPv4 and IPv6,
//! `--internal`, `enable_icc=false` over both families, masquerade, published ports DNATed from
//! the host's own non-loopback address, IPv4 and IPv6, and `-p [::1]:P:80`), and the last
//! network removed takes every chain, jump and table of the daemon with it.

mod common;

use common::net::{host, Net};
use common::Berthd;
use std::process::Command;

fn nft_missing(backend: &str) -> bool {
    backend == "nftables" && Command::new("nft").arg("--version").output().is_err()
}

/// Everything of the daemon with `prefix` in iptables, ip6tables and nft.
fn ours_left(prefix: &str) -> Vec<String> {
    let mut left = Vec::new();
    for tool in ["iptables-save", "ip6tables-save"] {
        for l in host(tool, &[]).lines() {
            if l.contains(&format!("{prefix}-")) {
                left.push(format!("{tool}: {l}"));
            }
        }
    }
    let table = format!("berth_{}", prefix.to_lowercase());
    for l in host("nft", &["list", "tables"]).lines() {
        if l.split_whitespace().last() == Some(table.as_str()) {
            left.push(format!("nft: {l}"));
        }
    }
    left
}

fn teardown_is_total(backend: &str) {
    if nft_missing(backend) {
        println!("skipped: no nft command (Debian package nftables)");
        return;
    }
    let d = Berthd::start_with(&["--bridge", "none", "--firewall-backend", backend]);
    d.import_busybox("bb:1");
    let x = std::process::id() % 200 + 20 + u32::from(backend == "nftables");
    let prefix = d.firewall_prefix.clone();
    assert!(ours_left(&prefix).is_empty(), "{:?}", ours_left(&prefix));
    // `docker info` names the back end, as dockerd 28 does.
    let o = d.ok(&["info", "-f", "{{.FirewallBackend.Driver}}"]);
    assert_eq!(o.trim(), backend);
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &format!("10.244.{x}.0/24"),
        "--subnet",
        &format!("fd00:d4{x:02x}::/64"),
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "dual",
    ]);
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &format!("10.245.{x}.0/24"),
        "inner",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "porter",
        "--network",
        "dual",
        "-p",
        "127.0.0.1::80",
        "-p",
        "9/udp",
        "bb:1",
        "sleep",
        "1000",
    ]);
    let rules = ours_left(&prefix);
    assert!(!rules.is_empty(), "no rules made by the {backend} back end");
    d.ok(&["rm", "-f", "porter"]);
    d.ok(&["network", "rm", "dual"]);
    // One network left: its rules stay.
    assert!(!ours_left(&prefix).is_empty());
    d.ok(&["network", "rm", "inner"]);
    let left = ours_left(&prefix);
    assert!(
        left.is_empty(),
        "the {backend} back end left after the last network: {left:?}"
    );
}

/// With no network left, nothing of the daemon stays in iptables or ip6tables: no chain and no
/// jump into one from the built-in chains.
#[test]
fn the_last_network_takes_the_iptables_chains_with_it() {
    skip_unless_ready!("the_last_network_takes_the_iptables_chains_with_it");
    teardown_is_total("iptables");
}

/// The same for nftables: the daemon's table goes with its last network.
#[test]
fn the_last_network_takes_the_nft_table_with_it() {
    skip_unless_ready!("the_last_network_takes_the_nft_table_with_it");
    teardown_is_total("nftables");
}

/// `(IPv4, IPv6)` addresses of container `c` on network `net`.
fn addrs(t: &Net, c: &str, net: &str) -> (String, String) {
    let f = format!(
        "{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}} \
         {{{{(index .NetworkSettings.Networks \"{net}\").GlobalIPv6Address}}}}"
    );
    let o = t.d.ok(&["inspect", "-f", &f, c]);
    let mut w = o.split_whitespace().map(String::from);
    (w.next().unwrap_or_default(), w.next().unwrap_or_default())
}

/// The packet count of the daemon's DNAT rule for host port `port` (both back ends count).
fn dnat_hits(t: &Net, backend: &str, port: u16) -> u64 {
    let lines = if backend == "nftables" {
        host(
            "nft",
            &[
                "list",
                "chain",
                "inet",
                &format!("berth_{}", t.chain.to_lowercase()),
                "published",
            ],
        )
    } else {
        host("iptables-save", &["-c", "-t", "nat"]) + &host("ip6tables-save", &["-c", "-t", "nat"])
    };
    let dnat = format!("{}-DNAT", t.chain);
    lines
        .lines()
        .filter(|l| {
            if backend == "nftables" {
                l.contains(&format!("dport {port} "))
            } else {
                l.contains(&dnat) && l.contains(&format!("--dport {port} "))
            }
        })
        .filter_map(|l| {
            let n = if backend == "nftables" {
                l.split("counter packets ").nth(1)?
            } else {
                l.strip_prefix('[')?
            };
            n.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// What `url` answers (busybox wget, retried while the server starts).
fn get(url: &str) -> String {
    let mut got = String::new();
    for _ in 0..50 {
        let o = Command::new("timeout")
            .args(["5", "busybox", "wget", "-q", "-O", "-", url])
            .output()
            .unwrap();
        got = String::from_utf8_lossy(&o.stdout).into_owned();
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    got
}

fn rules_do_what_they_say(backend: &str, salt: u32) {
    if nft_missing(backend) {
        println!("skipped: no nft command (Debian package nftables)");
        return;
    }
    let t = Net::start_with(salt, |_| {
        vec!["--firewall-backend".to_string(), backend.to_string()]
    });
    let x = t.x;
    for (name, n, icc) in [("a", 1, false), ("b", 2, true)] {
        let mut args = vec![
            "network".to_string(),
            "create".into(),
            "--ipv6".into(),
            "--subnet".into(),
            format!("10.24{n}.{x}.0/24"),
            "--subnet".into(),
            format!("fd00:e{n}{x:02x}::/64"),
        ];
        if !icc {
            args.extend([
                "-o".into(),
                "com.docker.network.bridge.enable_icc=false".into(),
            ]);
        }
        args.push(name.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        t.d.ok(&args);
    }
    t.d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &format!("10.243.{x}.0/24"),
        "i",
    ]);
    for (c, net) in [("ca", "a"), ("cb", "b")] {
        t.d.ok(&[
            "run",
            "-d",
            "--name",
            c,
            "--network",
            net,
            "bb:1",
            "sleep",
            "1000",
        ]);
    }
    let (a4, a6) = addrs(&t, "ca", "a");
    let (b4, b6) = addrs(&t, "cb", "b");
    assert!(!a6.is_empty() && !b6.is_empty(), "{a6} {b6}");
    // On b: its own container over both families; a's over neither.
    let (ok, out) = t.sh(
        "b",
        &format!(
            "busybox ping -c1 -W2 {b4} && busybox ping -c1 -W2 {b6} \
             && ! busybox ping -c1 -W1 {a4} && ! busybox ping -c1 -W1 {a6} && echo ALLOK"
        ),
    );
    assert!(ok && out.contains("ALLOK"), "{backend}: from b: {out}");
    // On a (enable_icc=false): the name resolves, the container is out of reach over both.
    let (ok, out) = t.sh(
        "a",
        &format!(
            "busybox nslookup ca && ! busybox ping -c1 -W1 {a4} && ! busybox ping -c1 -W1 {a6} && echo ALLOK"
        ),
    );
    assert!(ok && out.contains("ALLOK"), "{backend}: icc off: {out}");
    // Internal: even with a default route it adds itself, a container reaches neither the
    // daemon's default bridge nor another network (the firewall drops it, not only the routes).
    let o = t.d.docker(&[
        "run",
        "--rm",
        "--cap-add",
        "NET_ADMIN",
        "--network",
        "i",
        "bb:1",
        "sh",
        "-c",
        &format!(
            "busybox ip route add default via 10.243.{x}.1 && busybox ping -c1 -W2 10.243.{x}.1 \
             && ! busybox ping -c1 -W1 {b4} && echo ALLOK"
        ),
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(out.contains("ALLOK"), "{backend}: internal: {out}");

    // A published port, asked for at the host's own non-loopback address: DNAT from OUTPUT.
    let port = 23000 + (std::process::id() % 1000) as u16 + 1000 * (salt % 2) as u16;
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "b",
        "-p",
        &format!("{port}:80"),
        "bb:1",
        "sh",
        "-c",
        "echo hello-from-b > /tmp/i; exec busybox httpd -f -p 80 -h /tmp",
    ]);
    // Over IPv4 and, the network being dual-stack, over IPv6 to the bridge's IPv6 address
    // (DNAT to the container's IPv6 address) and to [::1] (the relay).
    for url in [
        format!("http://10.218.{x}.1:{port}/i"),
        format!("http://[fd00:e2{x:02x}::1]:{port}/i"),
        format!("http://[::1]:{port}/i"),
    ] {
        let before = dnat_hits(&t, backend, port);
        assert!(
            get(&url).contains("hello-from-b"),
            "{backend}: nothing from {url}"
        );
        if !url.contains("[::1]") {
            assert!(
                dnat_hits(&t, backend, port) > before,
                "{backend}: the DNAT rule of {port} saw nothing of {url}"
            );
        }
    }
    // Published on [::1] only: answers there, not on 127.0.0.1; `docker port` says so.
    let port6 = port + 500;
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "web6",
        "--network",
        "b",
        "-p",
        &format!("[::1]:{port6}:80/tcp"),
        "bb:1",
        "sh",
        "-c",
        "echo hello-over-v6 > /tmp/i; exec busybox httpd -f -p 80 -h /tmp",
    ]);
    assert!(get(&format!("http://[::1]:{port6}/i")).contains("hello-over-v6"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port6)).is_err());
    let o = t.d.ok(&["port", "web6"]);
    assert!(o.contains(&format!("[::1]:{port6}")), "{o}");
    // Masquerade of both families for a network with a way out.
    let rules = if backend == "nftables" {
        host(
            "nft",
            &[
                "list",
                "table",
                "inet",
                &format!("berth_{}", t.chain.to_lowercase()),
            ],
        )
    } else {
        host("iptables-save", &[]) + &host("ip6tables-save", &[])
    };
    for s in [format!("10.242.{x}.0/24"), format!("fd00:e2{x:02x}::/64")] {
        assert!(
            rules
                .lines()
                .any(|l| l.contains(&s) && l.contains("MASQUERADE")
                    || l.contains(&s) && l.contains("masquerade")),
            "{backend}: no masquerade of {s}: {rules}"
        );
    }
}

/// The iptables back end: isolation, icc and internal over both families, DNAT, masquerade.
#[test]
fn iptables_rules_do_what_they_say() {
    skip_unless_ready!("iptables_rules_do_what_they_say");
    rules_do_what_they_say("iptables", 6);
}

/// The nftables back end: the same behaviour from table `inet berth_<prefix>`.
#[test]
fn nftables_rules_do_what_they_say() {
    skip_unless_ready!("nftables_rules_do_what_they_say");
    rules_do_what_they_say("nftables", 7);
}
