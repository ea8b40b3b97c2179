//! A remote network plugin against the real kernel: the plugin (a fake
//! written from the protocol) makes a veth pair at Join and answers its
//! SrcName, DstPrefix, Gateway and static routes; berth-net moves the
//! interface into a scratch network namespace, names it `eth0`, gives it the
//! address of the daemon's own IPAM and the routes, and takes it out again
//! at detach. Nothing leaves the namespace the test made.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use berth_net::model::IpamPool;
use berth_net::remote::{CallError, PluginCall, RemoteNetworkDriver};
use berth_net::remote_net::{KernelSandbox, RemoteNetwork};
use berth_net::UserNetwork;
use serde_json::{json, Value};

struct Plugin {
    src: String,
    peer: String,
    x: u32,
    calls: Mutex<Vec<String>>,
}

impl PluginCall for Plugin {
    fn call(&self, method: &str, _body: Value) -> Result<Value, CallError> {
        self.calls.lock().unwrap().push(method.to_string());
        let x = self.x;
        Ok(match method {
            "NetworkDriver.GetCapabilities" => json!({"Scope": "local"}),
            "NetworkDriver.CreateEndpoint" => json!({"Interface": {}}),
            "NetworkDriver.Join" => {
                let st = Command::new("ip")
                    .args([
                        "link", "add", &self.src, "type", "veth", "peer", "name", &self.peer,
                    ])
                    .status()
                    .unwrap();
                if !st.success() {
                    return Ok(json!({"Err": "cannot make the veth pair"}));
                }
                json!({"InterfaceName": {"SrcName": self.src, "DstPrefix": "eth"},
                       "Gateway": format!("10.240.{x}.1"),
                       "StaticRoutes": [
                           {"Destination": "10.50.0.0/16", "RouteType": 0, "NextHop": format!("10.240.{x}.254")},
                           {"Destination": "10.60.0.0/16", "RouteType": 1}]})
            }
            "NetworkDriver.ProgramExternalConnectivity" => return Err(CallError::NotImplemented),
            _ => json!({}),
        })
    }
}

fn ns(ns: &str, args: &[&str]) -> String {
    let o = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Cleanup {
    ns: String,
    peer: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.peer])
            .status();
    }
}

#[test]
fn join_moves_the_plugins_interface_into_the_sandbox() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: needs root (network namespaces, veths)");
        return;
    }
    let pid = std::process::id() % 100000;
    let x = pid % 250 + 2;
    let name = format!("brs{pid}");
    let guard = Cleanup {
        ns: name.clone(),
        peer: format!("rsh{pid}"),
    };
    assert!(Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap()
        .success());
    let plugin = Arc::new(Plugin {
        src: format!("rsq{pid}"),
        peer: guard.peer.clone(),
        x,
        calls: Mutex::default(),
    });
    let dir = tempfile::tempdir().unwrap();
    let subnet: berth_net::ipam::Subnet = format!("10.240.{x}.0/24").parse().unwrap();
    let pool = IpamPool {
        subnet,
        ip_range: None,
        gateway: subnet.gateway(),
        aux: BTreeMap::new(),
        gateway_given: false,
    };
    let driver = RemoteNetworkDriver::register(plugin.clone()).unwrap();
    let net = RemoteNetwork::create_local(
        "n1",
        driver,
        &pool,
        &dir.path().join("n1.ipam.json"),
        &BTreeMap::new(),
        Arc::new(KernelSandbox),
    )
    .unwrap();
    let netns = format!("/run/netns/{name}");
    let att = net.attach("c1", &netns, &[], None, None).unwrap();
    assert_eq!(att.endpoint.interface, "eth0");
    assert_eq!(att.endpoint.address.to_string(), format!("10.240.{x}.2"));
    let addrs = ns(&name, &["ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(addrs.contains(&format!("10.240.{x}.2/24")), "{addrs}");
    let routes = ns(&name, &["ip", "route"]);
    assert!(
        routes.contains(&format!("default via 10.240.{x}.1 dev eth0")),
        "{routes}"
    );
    assert!(
        routes.contains(&format!("10.50.0.0/16 via 10.240.{x}.254 dev eth0")),
        "{routes}"
    );
    assert!(routes.contains("10.60.0.0/16 dev eth0"), "{routes}");
    // The host no longer has the plugin's interface: it moved.
    assert!(!Command::new("ip")
        .args(["link", "show", &plugin.src])
        .output()
        .unwrap()
        .status
        .success());
    net.detach("c1", &att).unwrap();
    let links = ns(&name, &["ip", "-o", "link"]);
    assert!(!links.contains("eth0"), "{links}");
    let calls = plugin.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            "NetworkDriver.GetCapabilities",
            "NetworkDriver.CreateNetwork",
            "NetworkDriver.CreateEndpoint",
            "NetworkDriver.Join",
            "NetworkDriver.ProgramExternalConnectivity",
            "NetworkDriver.RevokeExternalConnectivity",
            "NetworkDriver.Leave",
            "NetworkDriver.DeleteEndpoint",
        ]
    );
    // The address is free again (and the pair went with the interface): the next one gets it.
    let att = net.attach("c2", &netns, &[], None, None).unwrap();
    assert_eq!(att.endpoint.address.to_string(), format!("10.240.{x}.2"));
    net.detach("c2", &att).unwrap();
    net.destroy().unwrap();
    assert!(!dir.path().join("n1.ipam.json").exists());
    drop(guard);
}
