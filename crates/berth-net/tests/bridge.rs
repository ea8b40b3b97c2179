//! The bridge network against the real kernel: two "containers" (processes
//! in their own network namespaces) get addresses on a test bridge, reach
//! each other and the gateway, a port published on 127.0.0.1 answers from
//! the host, the NAT rules appear and go, and detaching leaves nothing.
//! Traffic stays on loopback and inside the namespaces the test made.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_net::firewall::{list_rules, Iptables};
use berth_net::{parse_port_spec, BridgeNetwork};

fn skip() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("skipped: needs root (bridges, veths, iptables)");
    }
    for tool in ["ip", "nsenter", "iptables", "unshare", "busybox"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            return Some("skipped: needs ip, nsenter, iptables, unshare and busybox");
        }
    }
    None
}

/// Whatever the test made on the host, removed even when it fails midway.
struct HostCleanup {
    bridge: String,
    veths: Vec<String>,
    firewall: Iptables,
    server: Option<Child>,
}

impl Drop for HostCleanup {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        for v in self.veths.iter().chain(std::iter::once(&self.bridge)) {
            let _ = Command::new("ip").args(["link", "del", v]).output();
        }
        self.firewall.purge();
    }
}

/// A process holding a new network namespace; killed on drop.
struct Netns(Child);

impl Netns {
    fn new() -> Netns {
        Netns(
            Command::new("unshare")
                .args(["--net", "sleep", "120"])
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.0.id())
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bridge_network_connects_publishes_and_cleans_up() {
    if let Some(why) = skip() {
        eprintln!("{why}");
        return;
    }
    let tag = std::process::id() % 10000;
    let bridge = format!("bt{tag}");
    let subnet = format!("10.213.{}.0/24", tag % 200 + 20).parse().unwrap();
    let chain = format!("BT{tag}");
    let state = tempfile::tempdir().unwrap();
    // Give the namespaces a moment to exist before they are entered.
    let (a, b) = (Netns::new(), Netns::new());
    std::thread::sleep(Duration::from_millis(100));

    let net = BridgeNetwork::open(
        "test",
        &bridge,
        subnet,
        state.path(),
        Box::new(Iptables {
            chain: chain.clone(),
        }),
    )
    .unwrap();
    let mut cleanup = HostCleanup {
        bridge: bridge.clone(),
        veths: ["container-a", "container-b", "container-c"]
            .iter()
            .map(|c| berth_net::bridge::BridgeDriver::new(&bridge, subnet).host_veth(c))
            .collect(),
        firewall: Iptables {
            chain: chain.clone(),
        },
        server: None,
    };
    let ports = parse_port_spec("127.0.0.1::8080").unwrap();
    let att_a = net
        .attach("container-a", &a.path(), &ports, None, None)
        .unwrap();
    let mac = berth_net::parse_mac("02:42:ac:11:00:0a").unwrap();
    let att_b = net
        .attach("container-b", &b.path(), &[], None, Some(mac))
        .unwrap();
    assert_eq!(att_b.endpoint.mac, "02:42:ac:11:00:0a", "the MAC asked for");
    assert_eq!(
        att_a.endpoint.address.to_string(),
        format!("10.213.{}.2", tag % 200 + 20)
    );
    assert_eq!(
        att_b.endpoint.address.to_string(),
        format!("10.213.{}.3", tag % 200 + 20)
    );
    assert_eq!(att_a.endpoint.interface, "eth0");
    assert_eq!(att_a.endpoint.mac.len(), 17, "mac {:?}", att_a.endpoint.mac);
    assert!(att_a.ports[0].host_port != 0);

    // a reaches b and the gateway.
    let o = a.run(&[
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "3",
        &att_b.endpoint.address.to_string(),
    ]);
    assert!(
        o.status.success(),
        "ping b: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = a.run(&[
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "3",
        &att_a.endpoint.gateway.to_string(),
    ]);
    assert!(
        o.status.success(),
        "ping gateway: {}",
        String::from_utf8_lossy(&o.stdout)
    );

    // NAT and DNAT rules are in place.
    let post = list_rules("nat", &format!("{chain}-POSTROUTING")).unwrap();
    assert!(
        post.contains(&format!("-s {subnet} ! -o {bridge} -j MASQUERADE")),
        "{post}"
    );
    let dnat = list_rules("nat", &format!("{chain}-DNAT")).unwrap();
    assert!(
        dnat.contains(&format!("--to-destination {}:8080", att_a.endpoint.address)),
        "{dnat}"
    );

    // An HTTP server in a answers on the host's 127.0.0.1 through the relay.
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from a\n").unwrap();
    let server = Command::new("nsenter")
        .arg(format!("--net={}", a.path()))
        .args(["busybox", "httpd", "-f", "-p", "8080", "-h"])
        .arg(www.path())
        .spawn()
        .unwrap();
    cleanup.server = Some(server);
    let port = att_a.ports[0].host_port;
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
            let mut got = String::new();
            s.read_to_string(&mut got)?;
            Ok(got)
        })();
        match attempt {
            Ok(got) if got.contains("hello from a") => break got,
            _ if Instant::now() > deadline => {
                panic!("no answer through the published port: {attempt:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(
        body.starts_with("HTTP/1.") && body.contains(" 200 OK"),
        "{body}"
    );
    if let Some(mut s) = cleanup.server.take() {
        let _ = s.kill();
        let _ = s.wait();
    }

    // Detach undoes everything; the addresses are free again.
    net.detach("container-a", att_a.endpoint.address, &att_a.ports)
        .unwrap();
    net.detach("container-b", att_b.endpoint.address, &[])
        .unwrap();
    let links = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(
        !links.contains(&att_a.endpoint.host_interface),
        "veth left: {links}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "relay still listening"
    );
    let dnat = list_rules("nat", &format!("{chain}-DNAT")).unwrap();
    assert!(!dnat.contains("DNAT --to-destination"), "{dnat}");
    let again = net
        .attach("container-c", &b.path(), &[], None, None)
        .unwrap();
    assert_eq!(again.endpoint.address, att_a.endpoint.address);
    net.detach("container-c", again.endpoint.address, &[])
        .unwrap();

    net.remove().unwrap();
    drop(cleanup);
    let links = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(!links.contains(&format!(" {bridge}:")), "bridge left");
}

/// The links of the namespace at `ns` (`ip -o -d link` there).
fn links_in(ns: &Netns) -> String {
    String::from_utf8_lossy(&ns.run(&["ip", "-o", "-d", "link"]).stdout).to_string()
}

/// `enable_icc=false` needs br_netfilter for its bridge, and only there: in a namespace of the
/// test's own whose `bridge-nf-call-iptables` is 0, the bridge gets br_netfilter's per-bridge
/// flags and the namespace-wide sysctls stay 0 (every other bridge unfiltered, at full speed).
#[test]
fn bridge_filtering_is_turned_on_per_bridge() {
    if let Some(why) = skip() {
        eprintln!("{why}");
        return;
    }
    let ns = Netns::new();
    std::thread::sleep(Duration::from_millis(100));
    let sysctl = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    if !ns.run(&["test", "-e", sysctl]).status.success() {
        eprintln!("skipped: no br_netfilter ({sysctl} is missing)");
        return;
    }
    let path = ns.path();
    let after = std::thread::spawn(move || -> Vec<String> {
        let f = std::fs::File::open(&path).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let families = ["iptables", "ip6tables"];
        for fam in families {
            std::fs::write(format!("/proc/sys/net/bridge/bridge-nf-call-{fam}"), "0").unwrap();
        }
        let mut nl = berth_net::netlink::Netlink::open().unwrap();
        nl.create_bridge("bricc").unwrap();
        nl.create_bridge("brother").unwrap();
        berth_net::firewall::bridge_nf_call("bricc", true).unwrap();
        families
            .iter()
            .map(|fam| {
                std::fs::read_to_string(format!("/proc/sys/net/bridge/bridge-nf-call-{fam}"))
                    .unwrap()
            })
            .collect()
    })
    .join()
    .unwrap();
    assert_eq!(
        after,
        ["0\n", "0\n"],
        "the namespace-wide sysctls were changed"
    );
    let links = links_in(&ns);
    let line = |name: &str| {
        links
            .lines()
            .find(|l| l.contains(&format!(": {name}:")))
            .unwrap_or_else(|| panic!("no {name} in {links}"))
            .to_string()
    };
    let icc = line("bricc");
    assert!(
        icc.contains("nf_call_iptables 1") && icc.contains("nf_call_ip6tables 1"),
        "{icc}"
    );
    let other = line("brother");
    assert!(other.contains("nf_call_iptables 0"), "{other}");
}

/// An exited container's veth goes off the exit path (`detach_exited`), but never outlives its
/// bridge: removing the network settles it first.
#[test]
fn an_exited_containers_veth_goes_before_its_bridge() {
    if let Some(why) = skip() {
        eprintln!("{why}");
        return;
    }
    let tag = std::process::id() % 10000;
    let bridge = format!("bx{tag}");
    let subnet = format!("10.214.{}.0/24", tag % 200 + 20).parse().unwrap();
    let state = tempfile::tempdir().unwrap();
    let a = Netns::new();
    std::thread::sleep(Duration::from_millis(100));
    let net = BridgeNetwork::open(
        "test",
        &bridge,
        subnet,
        state.path(),
        Box::new(berth_net::firewall::NoFirewall),
    )
    .unwrap();
    let cleanup = HostCleanup {
        bridge: bridge.clone(),
        veths: vec![berth_net::bridge::BridgeDriver::new(&bridge, subnet).host_veth("exited-a")],
        firewall: Iptables {
            chain: format!("BX{tag}"),
        },
        server: None,
    };
    let att = net.attach("exited-a", &a.path(), &[], None, None).unwrap();
    // The namespace stays alive (as one shared with another container would): only berthd's
    // deletion takes the pair away.
    net.detach_exited("exited-a", att.endpoint.address, &[])
        .unwrap();
    net.remove().unwrap();
    let host = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(
        !host.contains(&format!(" {}@", att.endpoint.host_interface)),
        "veth left: {host}"
    );
    assert!(!host.contains(&format!(" {bridge}:")), "bridge left");
    assert!(
        !links_in(&a).contains(&att.endpoint.interface),
        "the container end is left"
    );
    drop(cleanup);
}
