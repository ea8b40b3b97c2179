//! The remote driver against the traffic dockerd 20.10 exchanged with a network + IPAM plugin
//! (`testdata/trace-network-ipam.jsonl`, recorded for `network create -d P --ipam-driver P
//! --subnet 10.231.80.0/24 -o com.example.mode=test`, `run --network ... -p
//! 127.0.0.1:18090:80`, `network rm`): the same calls in the same order with the same bodies,
//! and what a failing or garbage-answering plugin leaves (nothing).

use super::*;
use crate::remote::{CallError, PluginCall, StaticRoute};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::Mutex;

const TRACE: &str = include_str!("testdata/trace-network-ipam.jsonl");

type Answer = Box<dyn Fn(&str, &Value) -> std::result::Result<Value, CallError> + Send + Sync>;

/// A plugin that answers each call from a script (method -> answer) and logs the calls.
struct Fake {
    log: Mutex<Vec<(String, Value)>>,
    answer: Answer,
}

impl PluginCall for Fake {
    fn call(&self, method: &str, body: Value) -> std::result::Result<Value, CallError> {
        self.log
            .lock()
            .unwrap()
            .push((method.to_string(), body.clone()));
        (self.answer)(method, &body)
    }
}

impl Fake {
    fn methods(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }
}

/// The registration answers dockerd got before the trace starts.
fn registration(method: &str) -> Option<Value> {
    match method {
        "NetworkDriver.GetCapabilities" => {
            Some(json!({"Scope": "local", "ConnectivityScope": "local"}))
        }
        "IpamDriver.GetCapabilities" => Some(json!({"RequiresMACAddress": false})),
        "IpamDriver.GetDefaultAddressSpaces" => Some(
            json!({"LocalDefaultAddressSpace": "rslocal", "GlobalDefaultAddressSpace": "rsglobal"}),
        ),
        _ => None,
    }
}

/// The sandbox of the trace: records what it was asked to adopt and release.
#[derive(Default)]
struct FakeSandbox {
    adopted: Mutex<Vec<(String, JoinInfo, Ipv4Addr, u8)>>,
    released: Mutex<Vec<String>>,
    fail: bool,
}

impl Sandbox for FakeSandbox {
    fn adopt(&self, netns: &str, join: &JoinInfo, addr: Ipv4Addr, prefix: u8) -> Result<Adopted> {
        if self.fail {
            return Err(crate::Error::Unsupported("no such interface".into()));
        }
        self.adopted
            .lock()
            .unwrap()
            .push((netns.to_string(), join.clone(), addr, prefix));
        Ok(Adopted {
            interface: format!("{}0", join.dst_prefix),
            mac: "02:00:00:00:00:01".into(),
            netns: NetnsRef {
                path: netns.to_string(),
                inode: 1,
            },
        })
    }
    fn release(&self, _netns: &NetnsRef, interface: &str) -> Result<()> {
        self.released.lock().unwrap().push(interface.to_string());
        Ok(())
    }
}

fn register(plugin: &Arc<Fake>) -> (RemoteNetworkDriver, RemoteIpam) {
    let p: Arc<dyn PluginCall> = plugin.clone();
    let ipam = RemoteIpam::register(p.clone()).unwrap();
    let driver = RemoteNetworkDriver::register(p).unwrap();
    (driver, ipam)
}

fn trace() -> Vec<(String, Value, Value)> {
    TRACE
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            (
                v["path"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches('/')
                    .to_string(),
                v["req"].clone(),
                v["resp"].clone(),
            )
        })
        // EndpointOperInfo came from `docker inspect`, not from the network's life.
        .filter(|(m, _, _)| m != "NetworkDriver.EndpointOperInfo")
        .collect()
}

#[test]
fn calls_match_dockerds_trace() {
    let expected = trace();
    let network_id = expected[2].1["NetworkID"].as_str().unwrap().to_string();
    let endpoint_id = expected[4].1["EndpointID"].as_str().unwrap().to_string();
    let sandbox_key = expected[5].1["SandboxKey"].as_str().unwrap().to_string();
    let script: Mutex<VecDeque<(String, Value, Value)>> = Mutex::new(expected.clone().into());
    let plugin = Arc::new(Fake {
        log: Mutex::default(),
        answer: Box::new(move |method, body| {
            if let Some(a) = registration(method) {
                assert_eq!(body, &Value::Null, "{method} has no body");
                return Ok(a);
            }
            let (m, req, resp) = script.lock().unwrap().pop_front().expect("a call too many");
            assert_eq!(method, m, "call order");
            assert_eq!(body, &req, "the body of {method}");
            Ok(resp)
        }),
    });
    let (driver, ipam) = register(&plugin);
    assert_eq!(driver.scope, "local");
    assert_eq!(ipam.address_space, "rslocal");
    let sandbox = Arc::new(FakeSandbox::default());
    let options = [("com.example.mode".to_string(), "test".to_string())].into();
    let net = RemoteNetwork::create(
        &network_id,
        driver,
        ipam,
        Some("10.231.80.0/24".parse().unwrap()),
        None,
        None,
        &BTreeMap::new(),
        &options,
        sandbox.clone(),
    )
    .unwrap();
    assert_eq!(net.state.gateway, Ipv4Addr::new(10, 231, 80, 1));
    let ports = crate::parse_port_spec("127.0.0.1:18090:80").unwrap();
    let att = UserNetwork::attach(&net, &endpoint_id, &sandbox_key, &ports, None, None).unwrap();
    assert_eq!(att.endpoint.address, Ipv4Addr::new(10, 231, 80, 2));
    assert_eq!(att.endpoint.prefix, 24);
    assert_eq!(att.endpoint.interface, "eth0");
    assert_eq!(att.endpoint.gateway, Ipv4Addr::new(10, 231, 80, 1));
    {
        let adopted = sandbox.adopted.lock().unwrap();
        let (ns, join, addr, prefix) = &adopted[0];
        assert_eq!(ns, &sandbox_key);
        assert_eq!(
            (join.src_name.as_str(), join.dst_prefix.as_str()),
            ("rsq16bf0760", "eth")
        );
        assert_eq!(join.gateway, Some(Ipv4Addr::new(10, 231, 80, 1)));
        assert_eq!((*addr, *prefix), (Ipv4Addr::new(10, 231, 80, 2), 24));
    }
    UserNetwork::detach(&net, &endpoint_id, &att).unwrap();
    assert_eq!(*sandbox.released.lock().unwrap(), ["eth0"]);
    UserNetwork::destroy(&net).unwrap();
    let methods = plugin.methods();
    let want: Vec<String> = [
        "IpamDriver.GetCapabilities",
        "IpamDriver.GetDefaultAddressSpaces",
        "NetworkDriver.GetCapabilities",
    ]
    .into_iter()
    .map(String::from)
    .chain(expected.iter().map(|(m, _, _)| m.clone()))
    .collect();
    assert_eq!(methods, want);
}

/// A plugin that answers `Err` (network) or `Error` (IPAM) for `fail_at`, 404 for `missing`,
/// and like the trace's plugin otherwise.
fn scripted(fail_at: &'static str, missing: &'static [&'static str], join: Value) -> Arc<Fake> {
    Arc::new(Fake {
        log: Mutex::default(),
        answer: Box::new(move |method, body| {
            if let Some(a) = registration(method) {
                return Ok(a);
            }
            if missing.contains(&method) {
                return Err(CallError::NotImplemented);
            }
            if method == fail_at {
                return Ok(if method.starts_with("Ipam") {
                    json!({"Error": "no more addresses"})
                } else {
                    json!({"Err": "the switch is on fire"})
                });
            }
            Ok(match method {
                "IpamDriver.RequestPool" => {
                    json!({"PoolID": "p1", "Pool": body["Pool"].as_str().filter(|p| !p.is_empty()).unwrap_or("10.9.0.0/24"), "Data": {}})
                }
                "IpamDriver.RequestAddress" => {
                    let a = if body["Options"]["RequestAddressType"]
                        == json!(crate::remote::GATEWAY_REQUEST)
                    {
                        "10.9.0.1/24"
                    } else {
                        "10.9.0.7/24"
                    };
                    json!({"Address": a, "Data": {}})
                }
                "NetworkDriver.CreateEndpoint" => json!({"Interface": {}}),
                "NetworkDriver.Join" => join.clone(),
                _ => json!({}),
            })
        }),
    })
}

fn join_ok() -> Value {
    json!({"InterfaceName": {"SrcName": "veth9", "DstPrefix": "net"}, "Gateway": "10.9.0.1",
           "StaticRoutes": [{"Destination": "10.50.0.0/16", "RouteType": 0, "NextHop": "10.9.0.254"},
                            {"Destination": "10.60.0.0/16", "RouteType": 1}]})
}

fn network(plugin: &Arc<Fake>, sandbox: Arc<FakeSandbox>) -> RemoteResult<RemoteNetwork> {
    let (driver, ipam) = register(plugin);
    RemoteNetwork::create(
        "n1",
        driver,
        ipam,
        None,
        None,
        None,
        &BTreeMap::new(),
        &BTreeMap::new(),
        sandbox,
    )
}

/// The calls after registration.
fn after_registration(plugin: &Fake) -> Vec<String> {
    plugin.methods().into_iter().skip(3).collect()
}

#[test]
fn join_answers_become_routes_and_optional_calls_may_be_missing() {
    let plugin = scripted(
        "",
        &[
            "NetworkDriver.ProgramExternalConnectivity",
            "NetworkDriver.RevokeExternalConnectivity",
        ],
        join_ok(),
    );
    let sandbox = Arc::new(FakeSandbox::default());
    let net = network(&plugin, sandbox.clone()).unwrap();
    assert_eq!(net.state.pool.subnet.to_string(), "10.9.0.0/24");
    let att = UserNetwork::attach(&net, "c1", "/proc/1/ns/net", &[], None, None).unwrap();
    assert_eq!(att.endpoint.interface, "net0");
    let join = sandbox.adopted.lock().unwrap()[0].1.clone();
    assert_eq!(
        join.static_routes,
        [
            StaticRoute {
                destination: "10.50.0.0/16".parse().unwrap(),
                next_hop: Some(Ipv4Addr::new(10, 9, 0, 254))
            },
            StaticRoute {
                destination: "10.60.0.0/16".parse().unwrap(),
                next_hop: None
            }
        ]
    );
    UserNetwork::detach(&net, "c1", &att).unwrap();
    // Without ports, the endpoint options are an empty object.
    let log = plugin.log.lock().unwrap();
    let ce = log
        .iter()
        .find(|(m, _)| m == "NetworkDriver.CreateEndpoint")
        .unwrap();
    assert_eq!(ce.1["Options"], json!({}));
    assert_eq!(ce.1["Interface"]["Address"], json!("10.9.0.7/24"));
}

#[test]
fn a_failing_join_undoes_the_endpoint_and_the_address() {
    let plugin = scripted("NetworkDriver.Join", &[], join_ok());
    let net = network(&plugin, Arc::default()).unwrap();
    let e = UserNetwork::attach(&net, "c1", "/proc/1/ns/net", &[], None, None).unwrap_err();
    assert!(e.to_string().contains("the switch is on fire"), "{e}");
    assert_eq!(
        after_registration(&plugin)[3..],
        [
            "IpamDriver.RequestAddress",
            "NetworkDriver.CreateEndpoint",
            "NetworkDriver.Join",
            "NetworkDriver.DeleteEndpoint",
            "IpamDriver.ReleaseAddress"
        ]
    );
}

#[test]
fn garbage_from_join_or_the_sandbox_undoes_everything() {
    for (join, why) in [
        (
            json!({"InterfaceName": {"SrcName": "veth9", "DstPrefix": "eth"}, "Gateway": "10.9.0.1/24"}),
            "not a bare IPv4 address",
        ),
        (json!({"Gateway": "10.9.0.1"}), "no InterfaceName"),
        (
            json!({"InterfaceName": {"SrcName": "../../etc", "DstPrefix": "eth"}}),
            "bad SrcName",
        ),
    ] {
        let plugin = scripted("", &[], join);
        let net = network(&plugin, Arc::default()).unwrap();
        let e = UserNetwork::attach(&net, "c1", "/proc/1/ns/net", &[], None, None).unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
        let calls = after_registration(&plugin);
        assert_eq!(
            calls[calls.len() - 2..],
            ["NetworkDriver.DeleteEndpoint", "IpamDriver.ReleaseAddress"]
        );
    }
    // The plugin's interface cannot be moved: Leave too.
    let plugin = scripted("", &[], join_ok());
    let sandbox = Arc::new(FakeSandbox {
        fail: true,
        ..Default::default()
    });
    let net = network(&plugin, sandbox).unwrap();
    assert!(UserNetwork::attach(&net, "c1", "/proc/1/ns/net", &[], None, None).is_err());
    let calls = after_registration(&plugin);
    assert_eq!(
        calls[calls.len() - 3..],
        [
            "NetworkDriver.Leave",
            "NetworkDriver.DeleteEndpoint",
            "IpamDriver.ReleaseAddress"
        ]
    );
}

#[test]
fn errors_come_in_err_for_networks_and_error_for_ipam() {
    // IPAM's error field is `Error`.
    let plugin = scripted("IpamDriver.RequestPool", &[], join_ok());
    let e = network(&plugin, Arc::default()).err().unwrap();
    assert!(e.to_string().contains("no more addresses"), "{e}");
    // A failing CreateNetwork gives back the gateway and the pool.
    let plugin = scripted("NetworkDriver.CreateNetwork", &[], join_ok());
    let e = network(&plugin, Arc::default()).err().unwrap();
    assert!(e.to_string().contains("the switch is on fire"), "{e}");
    assert_eq!(
        after_registration(&plugin),
        [
            "IpamDriver.RequestPool",
            "IpamDriver.RequestAddress",
            "NetworkDriver.CreateNetwork",
            "IpamDriver.ReleaseAddress",
            "IpamDriver.ReleasePool"
        ]
    );
    // `Error` in a network answer or `Err` in an IPAM answer is not the subsystem's error field.
    let p: Arc<dyn PluginCall> = Arc::new(Fake {
        log: Mutex::default(),
        answer: Box::new(|m, _| {
            Ok(match m {
                "NetworkDriver.GetCapabilities" => json!({"Scope": "local", "Error": "ignored"}),
                _ => json!({"Err": "ignored", "LocalDefaultAddressSpace": "s"}),
            })
        }),
    });
    assert!(RemoteNetworkDriver::register(p.clone()).is_ok());
    assert!(RemoteIpam::register(p).is_ok());
    // A bad scope, a non-object answer, a down plugin.
    for (answer, why) in [
        (
            Ok(json!({"Scope": "galaxy"})),
            "expecting 'local' or 'global'",
        ),
        (Ok(json!([1, 2])), "not a JSON object"),
        (Err("connection refused"), "connection refused"),
    ] {
        let p: Arc<dyn PluginCall> = Arc::new(Fake {
            log: Mutex::default(),
            answer: Box::new(move |_, _| answer.clone().map_err(|m| CallError::Failed(m.into()))),
        });
        let e = RemoteNetworkDriver::register(p).err().unwrap();
        assert!(e.to_string().contains(why), "{e}");
    }
}

#[test]
fn ipam_answers_are_checked() {
    // An address outside the pool, or not the one asked for, is refused.
    let plugin = Arc::new(Fake {
        log: Mutex::default(),
        answer: Box::new(|m, _| {
            if let Some(a) = registration(m) {
                return Ok(a);
            }
            Ok(match m {
                "IpamDriver.RequestPool" => json!({"PoolID": "p", "Pool": "10.9.0.0/24"}),
                "IpamDriver.RequestAddress" => json!({"Address": "10.10.0.1/24"}),
                _ => json!({}),
            })
        }),
    });
    let (_, ipam) = register(&plugin);
    let pool = ipam.request_pool(None, None, &BTreeMap::new()).unwrap();
    let e = ipam.request_address(&pool, None, false, None).unwrap_err();
    assert!(e.to_string().contains("not the one asked for"), "{e}");
    // A pool other than the one asked for.
    let e = ipam
        .request_pool(Some("10.1.0.0/24".parse().unwrap()), None, &BTreeMap::new())
        .unwrap_err();
    assert!(e.to_string().contains("asked for pool 10.1.0.0/24"), "{e}");
    // An ip-range without a subnet never reaches the plugin.
    let n = plugin.methods().len();
    assert!(ipam
        .request_pool(None, Some("10.9.0.0/25".parse().unwrap()), &BTreeMap::new())
        .is_err());
    assert_eq!(plugin.methods().len(), n);
}

/// The resolver of the tests: one plugin for both subsystems, under one name.
struct OnePlugin(Arc<Fake>);

impl PluginResolver for OnePlugin {
    fn find(
        &self,
        name: &str,
        _subsystem: &str,
    ) -> std::result::Result<Arc<dyn PluginCall>, String> {
        if name == "rs" {
            Ok(self.0.clone())
        } else {
            Err(format!("plugin {name:?} not found"))
        }
    }
}

/// Ids and the sandbox key replaced by placeholders (they are random per run).
fn normalized(mut v: Value) -> Value {
    for (k, p) in [("NetworkID", "N"), ("EndpointID", "E"), ("SandboxKey", "S")] {
        if v.get(k).is_some() {
            v[k] = json!(p);
        }
    }
    v
}

#[test]
fn the_registry_drives_plugin_networks_in_dockerds_order_across_a_restart() {
    use crate::model::{CreateRequest, MemoryStore, NetworkConfig, NetworkStore, PoolRequest};
    use crate::networks::{DnsNames, Networks, Settings};
    let expected = trace();
    let script: Mutex<VecDeque<(String, Value, Value)>> = Mutex::new(expected.clone().into());
    let plugin = Arc::new(Fake {
        log: Mutex::default(),
        answer: Box::new(move |method, body| {
            if let Some(a) = registration(method) {
                return Ok(a);
            }
            let (m, req, resp) = script.lock().unwrap().pop_front().expect("a call too many");
            assert_eq!(method, m, "call order");
            assert_eq!(
                normalized(body.clone()),
                normalized(req),
                "the body of {method}"
            );
            Ok(resp)
        }),
    });
    struct Shared(Arc<MemoryStore>);
    impl NetworkStore for Shared {
        fn load(&self) -> std::result::Result<Vec<NetworkConfig>, crate::model::ModelError> {
            self.0.load()
        }
        fn save(&self, n: &NetworkConfig) -> std::result::Result<(), crate::model::ModelError> {
            self.0.save(n)
        }
        fn delete(&self, id: &str) -> std::result::Result<(), crate::model::ModelError> {
            self.0.delete(id)
        }
    }
    struct NoUpstream;
    impl crate::dns::Upstream for NoUpstream {
        fn forward(&self, _: &[u8]) -> Option<Vec<u8>> {
            None
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Arc::new(FakeSandbox::default());
    let settings = || Settings {
        state_dir: dir.path().to_path_buf(),
        firewall: Box::new(|| Box::new(crate::firewall::NoFirewall)),
        upstream: Arc::new(NoUpstream),
        default_bridge: None,
        default_bridge6: None,
        address_pools: Vec::new(),
        big_tcp: None,
        dns_port: 0,
        cni: None,
        plugins: Some(Plugins {
            resolver: Arc::new(OnePlugin(plugin.clone())),
            sandbox: sandbox.clone(),
        }),
    };
    let store = Arc::new(MemoryStore::default());
    let (nets, problems) = Networks::open(Box::new(Shared(store.clone())), settings()).unwrap();
    assert!(problems.is_empty());
    // An unknown plugin is a clear error.
    let e = nets
        .create(CreateRequest {
            name: "x".into(),
            driver: "nosuch".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(e.to_string().contains("plugin \"nosuch\" not found"), "{e}");
    let cfg = nets
        .create(CreateRequest {
            name: "rsnet".into(),
            driver: "rs".into(),
            ipam_driver: "rs".into(),
            pools: vec![PoolRequest {
                subnet: Some("10.231.80.0/24".into()),
                ..Default::default()
            }],
            options: [("com.example.mode".to_string(), "test".to_string())].into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        (cfg.driver.as_str(), cfg.ipam_driver.as_str()),
        ("rs", "rs")
    );
    assert_eq!(cfg.pools[0].subnet.to_string(), "10.231.80.0/24");
    assert_eq!(cfg.pools[0].gateway, Ipv4Addr::new(10, 231, 80, 1));
    let cid = "16bf0760b310a2bca39537252107110f6f8f1801876e50d858c4517210a8be00";
    let ports = crate::parse_port_spec("127.0.0.1:18090:80").unwrap();
    let att = nets
        .connect(
            &cfg.id,
            cid,
            "/proc/self/ns/net",
            &ports,
            None,
            None,
            &DnsNames::default(),
        )
        .unwrap();
    assert_eq!(att.endpoint.address, Ipv4Addr::new(10, 231, 80, 2));
    // A restart: the network comes back from its stored state (the plugins registered again).
    drop(nets);
    let (nets, problems) = Networks::open(Box::new(Shared(store)), settings()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    nets.disconnect(&cfg.id, cid, &att).unwrap();
    nets.remove(&cfg.id).unwrap();
    let calls: Vec<String> = plugin
        .methods()
        .into_iter()
        .filter(|m| registration(m).is_none())
        .collect();
    let want: Vec<String> = expected.iter().map(|(m, _, _)| m.clone()).collect();
    assert_eq!(calls, want);
    assert_eq!(
        plugin
            .methods()
            .iter()
            .filter(|m| *m == "NetworkDriver.GetCapabilities")
            .count(),
        2,
        "registered at create and again after the restart"
    );
    assert!(!dir.path().join(format!("{}.remote.json", cfg.id)).exists());
}
