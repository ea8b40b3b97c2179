//! More of user-defined networks through the stock docker CLI: dual-stack (IPv6)
//! networks, the resolver's PTR answers and forwarding to a container's own
//! `--dns` servers, published ports on user networks, and teardown after many
//! run/rm cycles and after a `kill -9` of berthd. Each test has its own daemon,
//! default bridge and chains, and subnets of its own (10.223-226.x, fd00:b2xx).

mod common;

use common::net::{host, Net};

/// `a.b.c.d` of a container on network `net`, and its IPv6 address (or "").
fn addrs(t: &Net, c: &str, net: &str) -> (String, String) {
    let f = format!(
        "{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}} {{{{(index .NetworkSettings.Networks \"{net}\").GlobalIPv6Address}}}}"
    );
    let o = t.d.ok(&["inspect", "-f", &f, c]);
    let mut w = o.split_whitespace().map(String::from);
    (w.next().unwrap_or_default(), w.next().unwrap_or_default())
}

/// A dual-stack network: containers get an IPv6 address beside the IPv4 one
/// (`--ip6` too), reach each other over IPv6 by name (AAAA answers), the
/// firewall has the network's ip6tables rules while it exists and none after;
/// a container on an IPv4-only network has IPv6 turned off on its interface.
#[test]
fn ipv6_networks_talk_by_name() {
    skip_unless_ready!("ipv6_networks_talk_by_name");
    let t = Net::start(2);
    let x = t.x;
    let (s4, s6) = (format!("10.223.{x}.0/24"), format!("fd00:b2{x:02x}::/64"));
    t.d.ok(&[
        "network", "create", "--ipv6", "--subnet", &s4, "--subnet", &s6, "dual",
    ]);
    let net = t.d.ok(&["network", "inspect", "dual"]);
    let net: serde_json::Value = serde_json::from_str(&net).unwrap();
    assert_eq!(net[0]["EnableIPv6"], true, "{net}");
    let subnets: Vec<&str> = net[0]["IPAM"]["Config"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["Subnet"].as_str())
        .collect();
    assert_eq!(subnets, [s4.as_str(), s6.as_str()]);

    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "dual",
        "bb:1",
        "sleep",
        "1000",
    ]);
    let (v4, v6) = addrs(&t, "srv", "dual");
    assert!(v4.starts_with(&format!("10.223.{x}.")), "{v4}");
    assert!(v6.starts_with(&format!("fd00:b2{x:02x}::")), "{v6}");
    let eps = t.d.ok(&[
        "inspect",
        "-f",
        "{{json (index .NetworkSettings.Networks \"dual\")}}",
        "srv",
    ]);
    let ep: serde_json::Value = serde_json::from_str(&eps).unwrap();
    assert_eq!(ep["GlobalIPv6PrefixLen"], 64, "{ep}");
    assert_eq!(ep["IPv6Gateway"], format!("fd00:b2{x:02x}::1"), "{ep}");
    let net = t.d.ok(&["network", "inspect", "dual"]);
    assert!(net.contains(&format!("\"{v6}/64\"")), "{net}");

    // Over IPv6 by name: the AAAA answer, then ping6 and a TCP exchange to the address.
    t.d.ok(&[
        "exec",
        "-d",
        "srv",
        "sh",
        "-c",
        "echo v6-hello | busybox nc -l -p 7000",
    ]);
    let (ok, out) = t.sh(
        "dual",
        "busybox nslookup -type=AAAA srv && busybox ping6 -c1 -W2 srv && \
         for i in 1 2 3 4 5; do busybox nc srv 7000 </dev/null && break; sleep 0.2; done",
    );
    assert!(ok, "{out}");
    assert!(out.contains(&v6), "no AAAA answer with {v6}: {out}");
    assert!(out.contains("v6-hello"), "{out}");
    // The client's own side: an IPv6 address and default route of the network.
    let (ok, out) = t.sh(
        "dual",
        "busybox ip -6 addr show eth0 && busybox ip -6 route",
    );
    assert!(
        ok && out.contains("fd00:b2") && out.contains("default via"),
        "{out}"
    );

    // A static IPv6 address.
    let want = format!("fd00:b2{x:02x}::77");
    let o = t.d.ok(&[
        "run",
        "--rm",
        "--network",
        "dual",
        "--ip6",
        &want,
        "bb:1",
        "busybox",
        "ip",
        "-6",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(o.contains(&format!("{want}/64")), "{o}");
    let o = t.d.docker(&[
        "run",
        "--rm",
        "--network",
        "dual",
        "--ip6",
        "fd00:dead::5",
        "bb:1",
        "true",
    ]);
    assert!(
        !o.status.success(),
        "an --ip6 outside the subnet was accepted"
    );

    // IPv6 rules while the network exists.
    let bridge = t.user_bridges().pop().unwrap();
    let rules6 = host("ip6tables-save", &[]);
    assert!(
        rules6.contains(&format!("-s {s6} ! -o {bridge} -j MASQUERADE")),
        "{rules6}"
    );

    // IPv4-only networks: no IPv6 on the container's interface, not even link-local.
    t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.224.{x}.0/24"),
        "v4only",
    ]);
    let (ok, out) = t.sh(
        "v4only",
        "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; busybox ip -6 addr show eth0",
    );
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "1",
        "IPv6 is on for an IPv4-only network: {out}"
    );

    // Teardown: no IPv6 rule, no lease file left.
    let dual_id = t.d.ok(&["network", "inspect", "-f", "{{.Id}}", "dual"]);
    t.d.ok(&["rm", "-f", "srv"]);
    t.d.ok(&["network", "rm", "dual", "v4only"]);
    let rules6 = host("ip6tables-save", &[]);
    assert!(!rules6.contains(&bridge), "IPv6 rules left: {rules6}");
    let files: Vec<String> = std::fs::read_dir(t.d.dir.path().join("data/network"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !files.iter().any(|f| f.starts_with(&dual_id.trim()[..12])),
        "leases left: {files:?}"
    );
}
