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
