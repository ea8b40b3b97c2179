//! Docker's remote network and IPAM plugins through the stock docker CLI: a plugin written here
//! from the protocol (tests/fixtures/plugins/network_plugin.py) serves both interfaces on a unix
//! socket in a private plugin directory; a container on its network gets the plugin's address on
//! eth0, and the calls berthd makes follow the order of dockerd's recorded trace through
//! `network rm`.

mod common;

use common::plugins::Plugin;
use common::*;
use serde_json::Value;
use std::path::Path;

/// The methods of dockerd's recorded trace, in order.
fn trace_methods() -> Vec<String> {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../berth-net/src/testdata/trace-network-ipam.jsonl");
    std::fs::read_to_string(trace)
        .expect("the recorded trace")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["path"]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_string()
        })
        .collect()
}

/// Calls that change something, in order: without discovery (Activate, capabilities, address
/// spaces) and EndpointOperInfo, which dockerd asks whenever it is inspected.
fn changing(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .filter(|m| {
            !matches!(
                m.as_str(),
                "Plugin.Activate"
                    | "NetworkDriver.GetCapabilities"
                    | "IpamDriver.GetCapabilities"
                    | "IpamDriver.GetDefaultAddressSpaces"
                    | "NetworkDriver.EndpointOperInfo"
            )
        })
        .cloned()
        .collect()
}

#[test]
fn remote_network_and_ipam_plugin_follow_dockerds_order() {
    skip_unless_ready!("remote_network_and_ipam_plugin_follow_dockerds_order");
    let p = Plugin::start("network_plugin.py", "tnet");
    let flags = p.flags();
    let f: Vec<&str> = flags.iter().map(String::as_str).collect();
    let d = Berthd::start_with(&f);
    d.import_busybox("bb:1");
    d.ok(&[
        "network",
        "create",
        "-d",
        "tnet",
        "--ipam-driver",
        "tnet",
        "--subnet",
        "10.231.80.0/24",
        "tn",
    ]);
    let inspect = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.Driver}} {{json .IPAM}}",
        "tn",
    ]);
    assert!(inspect.starts_with("tnet "), "{inspect}");
    assert!(inspect.contains("10.231.80.0/24"), "{inspect}");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "tn",
        "bb:1",
        "sh",
        "-c",
        "ip -4 addr show eth0; ip route",
    ]);
    assert!(
        out.contains("inet 10.231.80.2/24"),
        "the plugin's address on eth0: {out}"
    );
    assert!(
        out.contains("default via 10.231.80.1"),
        "the plugin's gateway: {out}"
    );
    d.ok(&["network", "rm", "tn"]);
    let calls: Vec<String> = p.calls().into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        changing(&calls),
        changing(&trace_methods()),
        "berthd's calls: {calls:?}"
    );
    // The veth the plugin made for the container is gone with it.
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("tnp"),
        "a plugin veth was left behind"
    );
    // A plugin that is down: a clear error, no network.
    drop(p);
    let o = d.docker(&["network", "create", "-d", "tnet", "tn2"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("tnet"), "{err}");
    assert!(!d
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .contains("tn2"));
}

/// The IPAM calls a plugin got, with their requests.
fn ipam_calls(p: &Plugin) -> Vec<(String, Value)> {
    p.calls()
        .into_iter()
        .filter(|(m, _)| m.starts_with("IpamDriver."))
        .collect()
}

fn ipam_methods(p: &Plugin) -> Vec<String> {
    ipam_calls(p).into_iter().map(|(m, _)| m).collect()
}

/// The host's IPv4 addresses, one per line.
fn host_addresses() -> String {
    let o = std::process::Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `--ipam-driver NAME` with the built-in bridge driver: the pool, the bridge's gateway and the
/// containers' addresses come from the plugin, with dockerd's calls and fields (the trace's IPAM
/// calls, once more for a second container), and every address goes back: at exit, at
/// disconnect, after a `kill -9` of berthd (the restarted daemon releases the address of a
/// container that died meanwhile), at `network rm`.
#[test]
fn bridge_networks_take_their_addresses_from_an_ipam_plugin() {
    skip_unless_ready!("bridge_networks_take_their_addresses_from_an_ipam_plugin");
    let p = Plugin::start("network_plugin.py", "tipam");
    let flags = p.flags();
    let f: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut d = Berthd::start_with(&f);
    d.import_busybox("bb:1");
    let subnet = "10.241.81.0/24";
    d.ok(&[
        "network",
        "create",
        "--ipam-driver",
        "tipam",
        "--ipam-opt",
        "tmode=ok",
        "--subnet",
        subnet,
        "tb",
    ]);
    let inspect = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.Driver}} {{.Id}} {{json .IPAM}}",
        "tb",
    ]);
    let mut parts = inspect.trim().splitn(3, ' ');
    let (driver, id, ipam) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert_eq!(driver, "bridge");
    let ipam: Value = serde_json::from_str(ipam).unwrap();
    assert_eq!(ipam["Driver"], "tipam", "{ipam}");
    assert_eq!(ipam["Options"]["tmode"], "ok", "{ipam}");
    assert_eq!(ipam["Config"][0]["Subnet"], subnet, "{ipam}");
    assert_eq!(ipam["Config"][0]["Gateway"], "10.241.81.1", "{ipam}");
    // The gateway the plugin gave is on the network's bridge.
    let bridge = format!("br-{}", &id[..12]);
    assert!(
        host_addresses()
            .lines()
            .any(|l| l.contains(&bridge) && l.contains("inet 10.241.81.1/24")),
        "{}",
        host_addresses()
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ta",
        "--network",
        "tb",
        "bb:1",
        "sleep",
        "1000",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "tb",
        "bb:1",
        "sh",
        "-c",
        "ip -4 addr show eth0 && ping -c1 -W3 ta",
    ]);
    assert!(out.contains("inet 10.241.81.3/24"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    assert!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.tb.IPAddress}}",
            "ta"
        ])
        .contains("10.241.81.2"),
        "the first container has the plugin's first address"
    );
    // disconnect gives the address back; connect asks again.
    d.ok(&["network", "disconnect", "tb", "ta"]);
    d.ok(&["network", "connect", "tb", "ta"]);
    // berthd killed; the container dies meanwhile; the restarted daemon releases its address.
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", "ta"]);
    d.kill9();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid.trim().parse().unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.spawn();
    let released = |p: &Plugin| {
        ipam_calls(p)
            .iter()
            .filter(|(m, r)| m == "IpamDriver.ReleaseAddress" && r["Address"] == "10.241.81.4")
            .count()
    };
    for _ in 0..100 {
        if released(&p) == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(released(&p), 1, "{:?}\n{}", ipam_calls(&p), d.log());
    d.ok(&["rm", "-f", "ta"]);
    d.ok(&["network", "rm", "tb"]);
    assert!(
        !host_addresses().contains("10.241.81."),
        "{}",
        host_addresses()
    );
    let calls = ipam_calls(&p);
    let methods: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
    // Registration first, then dockerd's order: the trace's IPAM calls (pool, gateway, a
    // container's address and its release, the gateway's release, the pool's release) with the
    // other containers' addresses in between (the restart registers the plugin again).
    let (ra, rel) = ("IpamDriver.RequestAddress", "IpamDriver.ReleaseAddress");
    assert_eq!(
        methods,
        [
            "IpamDriver.GetCapabilities",
            "IpamDriver.GetDefaultAddressSpaces",
            "IpamDriver.RequestPool",
            ra, // the gateway
            ra, // ta: .2
            ra, // the --rm one: .3
            rel,
            rel, // disconnect
            ra,  // connect: .4
            "IpamDriver.GetCapabilities",
            "IpamDriver.GetDefaultAddressSpaces",
            rel, // ta died while berthd was down
            rel, // the gateway
            "IpamDriver.ReleasePool",
        ],
        "{calls:?}"
    );
    let trace: Vec<String> = trace_methods()
        .into_iter()
        .filter(|m| m.starts_with("IpamDriver."))
        .collect();
    let mut ours: Vec<&str> = methods
        .iter()
        .copied()
        .filter(|m| m.contains("Address") || m.contains("Pool"))
        .filter(|m| !m.contains("Default"))
        .collect();
    ours.dedup();
    let mut theirs: Vec<&str> = trace.iter().map(String::as_str).collect();
    theirs.dedup();
    assert_eq!(
        theirs,
        ["IpamDriver.RequestPool", ra, rel, "IpamDriver.ReleasePool"]
    );
    assert_eq!((ours.first(), ours.last()), (theirs.first(), theirs.last()));
    let req = |i: usize| &calls[i].1;
    assert_eq!(
        req(2),
        &serde_json::json!({"AddressSpace": "tlocal", "Pool": subnet, "SubPool": "",
                            "Options": {"tmode": "ok"}, "V6": false})
    );
    assert_eq!(
        req(3)["Options"],
        serde_json::json!({"RequestAddressType": "com.docker.network.gateway"})
    );
    assert_eq!(req(4)["Options"], Value::Null);
    assert_eq!(req(7)["Address"], "10.241.81.2");
    assert_eq!(req(12)["Address"], "10.241.81.1");
    assert_eq!(req(13)["PoolID"], format!("tpool-{subnet}"));
}

/// A plugin answering garbage: a pool that is no CIDR or a gateway outside the pool refuse the
/// network clearly and leave nothing (the pool given back); a container address outside the
/// pool refuses the container. `--ipam-driver default` and `--ipam-opt` with the default driver
/// are kept as dockerd keeps them.
#[test]
fn ipam_plugins_answering_garbage_leave_nothing() {
    skip_unless_ready!("ipam_plugins_answering_garbage_leave_nothing");
    let p = Plugin::start("network_plugin.py", "tipam");
    let flags = p.flags();
    let f: Vec<&str> = flags.iter().map(String::as_str).collect();
    let d = Berthd::start_with(&f);
    d.import_busybox("bb:1");
    let create = |mode: &str, subnet: &str| {
        d.docker(&[
            "network",
            "create",
            "--ipam-driver",
            "tipam",
            "--ipam-opt",
            &format!("tmode={mode}"),
            "--subnet",
            subnet,
            "tg",
        ])
    };
    let o = create("badpool", "10.241.82.0/24");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("IpamDriver.RequestPool") && err.contains("10.241.82.0/33"),
        "{err}"
    );
    let o = create("gwout", "10.241.83.0/24");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("IpamDriver.RequestAddress") && err.contains("10.9.9.1"),
        "{err}"
    );
    assert_eq!(
        ipam_methods(&p).last().map(String::as_str),
        Some("IpamDriver.ReleasePool"),
        "the pool is given back"
    );
    assert!(!d
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .contains("tg"));
    let addrs = host_addresses();
    assert!(
        !addrs.contains("10.241.82.")
            && !addrs.contains("10.241.83.")
            && !addrs.contains("10.9.9."),
        "{addrs}"
    );
    // A container address outside the pool: the container does not start, nothing stays.
    assert!(create("addrout", "10.241.84.0/24").status.success());
    let o = d.docker(&["run", "--name", "tc", "--network", "tg", "bb:1", "true"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("IpamDriver.RequestAddress") && err.contains("10.9.9.5"),
        "{err}"
    );
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "tc"]);
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(&id.trim()[..8]),
        "a veth of the refused container was left behind"
    );
    d.ok(&["rm", "tc"]);
    d.ok(&["network", "rm", "tg"]);
    assert!(!host_addresses().contains("10.241.84."));
    // The default IPAM driver, named, with options: accepted and shown.
    d.ok(&[
        "network",
        "create",
        "--ipam-driver",
        "default",
        "--ipam-opt",
        "foo=bar",
        "--subnet",
        "10.241.85.0/24",
        "td",
    ]);
    let ipam = d.ok(&["network", "inspect", "-f", "{{json .IPAM}}", "td"]);
    let ipam: Value = serde_json::from_str(&ipam).unwrap();
    assert_eq!(ipam["Driver"], "default", "{ipam}");
    assert_eq!(ipam["Options"], serde_json::json!({"foo": "bar"}), "{ipam}");
    d.ok(&["network", "rm", "td"]);
}

/// A macvlan network over a veth parent with `--ipam-driver`: the container's address and the
/// gateway of its default route come from the plugin; both go back with the network.
#[test]
fn macvlan_networks_take_their_addresses_from_an_ipam_plugin() {
    skip_unless_ready!("macvlan_networks_take_their_addresses_from_an_ipam_plugin");
    let tag = std::process::id() % 10000;
    let (link, peer) = (format!("bmi{tag}"), format!("bmj{tag}"));
    struct Veth(String);
    impl Drop for Veth {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.0])
                .output();
        }
    }
    let made = std::process::Command::new("ip")
        .args(["link", "add", &link, "type", "veth", "peer", "name", &peer])
        .status()
        .unwrap();
    assert!(made.success());
    let _veth = Veth(link.clone());
    let p = Plugin::start("network_plugin.py", "tipam");
    let flags = p.flags();
    let f: Vec<&str> = flags.iter().map(String::as_str).collect();
    let d = Berthd::start_with(&f);
    d.import_busybox("bb:1");
    d.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "-o",
        &format!("parent={link}"),
        "--ipam-driver",
        "tipam",
        "--subnet",
        "10.241.86.0/24",
        "tm",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "tm",
        "bb:1",
        "sh",
        "-c",
        "ip -4 addr show eth0; ip route",
    ]);
    assert!(out.contains("inet 10.241.86.2/24"), "{out}");
    assert!(out.contains("default via 10.241.86.1"), "{out}");
    d.ok(&["network", "rm", "tm"]);
    assert_eq!(
        ipam_methods(&p)[2..],
        [
            "IpamDriver.RequestPool",
            "IpamDriver.RequestAddress",
            "IpamDriver.RequestAddress",
            "IpamDriver.ReleaseAddress",
            "IpamDriver.ReleaseAddress",
            "IpamDriver.ReleasePool",
        ]
    );
}
