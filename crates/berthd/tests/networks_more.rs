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

    // Another dual-stack network cannot reach the first over IPv6 either.
    t.d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &format!("fd00:b4{x:02x}::/64"),
        "dual2",
    ]);
    let (ok, out) = t.sh("dual2", &format!("busybox ping6 -c1 -W1 {v6}"));
    assert!(!ok, "another network reaches {v6}: {out}");
    let (ok, out) = t.sh("dual2", "busybox ip -6 addr show eth0");
    assert!(
        ok && out.contains(&format!("fd00:b4{x:02x}::2/64")),
        "{out}"
    );
    t.d.ok(&["network", "rm", "dual2"]);

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

/// A DNS server on `addr:53` that knows one name, outside.example (A 192.0.2.55), until dropped.
struct FakeDns {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeDns {
    fn start(addr: &str) -> FakeDns {
        use std::sync::atomic::Ordering;
        let sock = std::net::UdpSocket::bind((addr, 53)).expect("bind the fake DNS server");
        sock.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, asked2) = (stop.clone(), asked.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let q = &buf[..n];
                let mut off = 12;
                let mut labels = Vec::new();
                while off < n && q[off] != 0 {
                    let l = q[off] as usize;
                    labels.push(String::from_utf8_lossy(&q[off + 1..off + 1 + l]).into_owned());
                    off += l + 1;
                }
                let end = off + 5;
                let name = labels.join(".");
                let known = name.starts_with("outside.example");
                asked2.lock().unwrap().push(name);
                let mut r = q[..2].to_vec();
                if known {
                    r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
                } else {
                    r.extend_from_slice(&[0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]);
                }
                r.extend_from_slice(&q[12..end]);
                if known && q[end - 3] == 1 {
                    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 55]);
                } else if known {
                    r[7] = 0;
                }
                let _ = sock.send_to(&r, from);
            }
        });
        FakeDns { stop, asked }
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The resolver of a user network: PTR answers for container addresses; with
/// `--dns` the container still asks the network's resolver (its names keep
/// working), which forwards the rest to those servers; `--dns-search`,
/// `--dns-option` and `--add-host NAME:host-gateway` land in its files.
#[test]
fn dns_reverse_forwarding_and_files() {
    skip_unless_ready!("dns_reverse_forwarding_and_files");
    let t = Net::start(3);
    let x = t.x;
    t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.225.{x}.0/24"),
        "dnsnet",
    ]);
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "dnsnet",
        "bb:1",
        "sleep",
        "1000",
    ]);
    let (ip, _) = addrs(&t, "srv", "dnsnet");
    // Docker's forms: the reverse answer is NAME.NETWORK, and that name resolves.
    let (ok, out) = t.sh(
        "dnsnet",
        &format!("busybox nslookup {ip} && busybox nslookup srv.dnsnet"),
    );
    assert!(
        ok && out.contains("srv.dnsnet"),
        "no PTR answer for {ip}: {out}"
    );
    assert!(out.contains(&format!("Address: {ip}")), "{out}");

    // A server of the container's own, on an address only the host reaches.
    let fake_ip = format!("127.0.{}.53", x);
    let fake = FakeDns::start(&fake_ip);
    let o = t.d.docker(&[
        "run",
        "--rm",
        "--network",
        "dnsnet",
        "--dns",
        &fake_ip,
        "--dns-search",
        "corp.test",
        "--dns-option",
        "ndots:2",
        "--add-host",
        "hostgw:host-gateway",
        "bb:1",
        "sh",
        "-c",
        "cat /etc/resolv.conf /etc/hosts; busybox nslookup outside.example; busybox ping -c1 -W2 srv",
    ]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("nameserver 10.225.{x}.1")),
        "the network's resolver is not the nameserver: {out}"
    );
    assert!(!out.contains(&format!("nameserver {fake_ip}")), "{out}");
    assert!(
        out.contains("search corp.test") && out.contains("options ndots:2"),
        "{out}"
    );
    assert!(out.contains("192.0.2.55"), "not forwarded to --dns: {out}");
    assert!(out.contains(&format!("10.218.{x}.1\thostgw")), "{out}");
    assert!(out.contains(&ip), "srv does not resolve: {out}");
    assert!(
        fake.asked
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.starts_with("outside.example")),
        "the --dns server was not asked"
    );
}

/// The leftovers of user network `id` on the host: links named after it other than its bridge,
/// leases in its lease files, and published-port rules in the daemon's chains.
fn leftovers(t: &Net, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bridge = format!("br-{}", &id[..12]);
    for l in host("ip", &["-o", "link"]).lines() {
        let name = l.split(':').nth(1).unwrap_or("").trim();
        let name = name.split('@').next().unwrap_or("");
        if name.contains(&id[..6]) && name != bridge {
            out.push(format!("link {name}"));
        }
    }
    for ext in ["ipam.json", "ipam6.json"] {
        let f = t.d.dir.path().join(format!("data/network/{id}.{ext}"));
        if let Ok(text) = std::fs::read_to_string(&f) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            for (addr, owner) in v["used"].as_object().into_iter().flatten() {
                out.push(format!("lease {addr} of {owner}"));
            }
        }
    }
    // Published ports: a DNAT rule and a FORWARD accept each.
    for r in host("iptables-save", &[]).lines() {
        if r.starts_with(&format!("-A {}-DNAT", t.chain))
            || r.starts_with(&format!("-A {}-FORWARD -d ", t.chain))
        {
            out.push(format!("rule {r}"));
        }
    }
    out
}

/// Done-when 4 of issue 9: run/rm cycles on a user network (BERTH_NET_CYCLES, 20 by default,
/// some with a published port) leave no veth, lease or rule; after a `kill -9` of berthd, a
/// container that died meanwhile is cleaned up at start and the running ones still resolve
/// each other.
#[test]
fn cycles_and_crash_leave_nothing_behind() {
    skip_unless_ready!("cycles_and_crash_leave_nothing_behind");
    let mut t = Net::start(4);
    let x = t.x;
    let id = t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.226.{x}.0/24"),
        "cyc",
    ]);
    let id = id.trim().to_string();
    let cycles: usize = std::env::var("BERTH_NET_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for i in 0..cycles {
        let mut args = vec!["run", "--rm", "--network", "cyc"];
        if i % 5 == 0 {
            args.extend(["-p", "127.0.0.1::80"]);
        }
        args.extend(["bb:1", "true"]);
        t.d.ok(&args);
    }
    // `run --rm` does not wait for the veth (the kernel takes it with the dead namespace, or
    // berthd's reaper right after): give it a moment.
    let mut left = leftovers(&t, &id);
    for _ in 0..30 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        left = leftovers(&t, &id);
    }
    assert!(left.is_empty(), "after {cycles} run/rm cycles: {left:?}");

    // Three containers; one dies while berthd is down.
    for n in ["ca", "cb", "cc"] {
        t.d.ok(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "cyc",
            "-p",
            "127.0.0.1::80",
            "bb:1",
            "sleep",
            "1000",
        ]);
    }
    let c_pid = t.d.ok(&["inspect", "-f", "{{.State.Pid}}", "cc"]);
    let c_id = t.d.ok(&["inspect", "-f", "{{.Id}}", "cc"]);
    t.d.kill9();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c_pid.trim().parse().unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.d.spawn();
    let o =
        t.d.ok(&["exec", "ca", "busybox", "ping", "-c1", "-W2", "cb"]);
    assert!(o.contains("1 packets received"), "{o}");
    let o = t.d.docker(&["exec", "ca", "busybox", "nslookup", "cc"]);
    assert!(!o.status.success(), "the dead container still resolves");
    let mut left = Vec::new();
    for _ in 0..50 {
        left = leftovers(&t, &id)
            .into_iter()
            .filter(|l| l.contains(&c_id.trim()[..8]) || l.starts_with("rule"))
            .collect();
        // ca and cb keep the two rules of their port each.
        if left.len() == 4 && left.iter().all(|l| l.starts_with("rule")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(left.len(), 4, "cc's leftovers after the restart: {left:?}");
    t.d.ok(&["rm", "-f", "ca", "cb", "cc"]);
    let left = leftovers(&t, &id);
    assert!(left.is_empty(), "after rm: {left:?}");
}

/// Read what a TCP server at 127.0.0.1:`port` sends, retrying while it starts.
fn read_tcp(port: u16) -> String {
    use std::io::Read;
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(std::time::Duration::from_secs(3)))
                .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if !out.is_empty() {
                return out;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    String::new()
}

/// Published ports of a container on a user network: a host range onto a container range,
/// UDP, `-P` for an exposed port, all bound to 127.0.0.1 as asked; `docker port` lists them.
#[test]
fn published_ports_on_user_networks() {
    skip_unless_ready!("published_ports_on_user_networks");
    let t = Net::start(5);
    let x = t.x;
    t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.227.{x}.0/24"),
        "pubs",
    ]);
    let base = 31000 + (x as u16) * 8;
    let range = format!("127.0.0.1:{}-{}:7000-7001", base, base + 1);
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "pubs",
        "-p",
        &range,
        "-p",
        "127.0.0.1::7002/udp",
        "--expose",
        "7003",
        "-P",
        "bb:1",
        "sh",
        "-c",
        "while true; do echo r0 | busybox nc -l -p 7000; done & \
         while true; do echo r1 | busybox nc -l -p 7001; done & \
         while true; do echo p3 | busybox nc -l -p 7003; done & \
         sleep 1000",
    ]);
    // Busybox has no UDP server: the test listens in the container's namespace itself.
    let pid: i32 =
        t.d.ok(&["inspect", "-f", "{{.State.Pid}}", "web"])
            .trim()
            .parse()
            .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let udp = std::thread::spawn(move || {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let sock = std::net::UdpSocket::bind("0.0.0.0:7002").unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        tx.send(()).unwrap();
        let mut buf = [0u8; 64];
        sock.recv(&mut buf)
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
            .unwrap_or_default()
    });
    rx.recv().unwrap();
    assert_eq!(read_tcp(base).trim(), "r0");
    assert_eq!(read_tcp(base + 1).trim(), "r1", "port {}", base + 1);
    let ports = t.d.ok(&["port", "web"]);
    let host_port = |key: &str| -> u16 {
        ports
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} not in `docker port`: {ports}"))
    };
    assert!(
        ports.contains(&format!("7000/tcp -> 127.0.0.1:{base}")),
        "{ports}"
    );
    let p3 = host_port("7003/tcp");
    assert_eq!(read_tcp(p3).trim(), "p3");
    let pu = host_port("7002/udp");
    assert!(
        ports.contains(&format!("7002/udp -> 127.0.0.1:{pu}")),
        "{ports}"
    );
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"udp-hello", ("127.0.0.1", pu)).unwrap();
    let got = udp.join().unwrap();
    assert_eq!(got, "udp-hello", "the UDP datagram did not arrive");
    // Bound to 127.0.0.1 only: the daemon's bridge address does not answer.
    let gw = format!("10.218.{x}.1");
    assert!(
        std::net::TcpStream::connect_timeout(
            &format!("{gw}:{base}").parse().unwrap(),
            std::time::Duration::from_millis(500)
        )
        .is_err(),
        "a port bound to 127.0.0.1 answers on {gw}"
    );
    t.d.ok(&["rm", "-f", "web"]);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", base)).is_err(),
        "the port outlived the container"
    );
}

/// `--ipv6 --fixed-cidr-v6` make the default bridge dual-stack: containers get an IPv6
/// address in the subnet (inspect's top-level and `bridge` entry), reach each other over it,
/// and `network inspect bridge` shows the subnet.
#[test]
fn default_bridge_ipv6() {
    skip_unless_ready!("default_bridge_ipv6");
    let t = Net::start_with(6, |x| {
        vec![
            "--ipv6".into(),
            "--fixed-cidr-v6".into(),
            format!("fd00:b3{x:02x}::/64"),
        ]
    });
    let x = t.x;
    let s6 = format!("fd00:b3{x:02x}::/64");
    t.d.ok(&["run", "-d", "--name", "one", "bb:1", "sleep", "1000"]);
    let v6 = t.d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.GlobalIPv6Address}} {{.NetworkSettings.Networks.bridge.GlobalIPv6Address}} {{.NetworkSettings.Networks.bridge.IPv6Gateway}}",
        "one",
    ]);
    let f: Vec<&str> = v6.split_whitespace().collect();
    assert_eq!(f.len(), 3, "{v6}");
    assert!(f[0].starts_with(&format!("fd00:b3{x:02x}::")), "{v6}");
    assert_eq!(f[0], f[1]);
    assert_eq!(f[2], format!("fd00:b3{x:02x}::1"));
    let o = t.d.ok(&[
        "run", "--rm", "bb:1", "busybox", "ping6", "-c1", "-W2", f[0],
    ]);
    assert!(o.contains("1 packets received"), "{o}");
    let net = t.d.ok(&["network", "inspect", "bridge"]);
    assert!(net.contains(&format!("\"Subnet\": \"{s6}\"")), "{net}");
    assert!(net.contains("\"EnableIPv6\": true"), "{net}");
    t.d.ok(&["rm", "-f", "one"]);
}

/// The default bridge's endpoint settings given at create (the CLI's advanced `--network`
/// syntax: driver options, link-local addresses) are shown back by inspect, as dockerd does.
#[test]
fn default_bridge_endpoint_settings_are_kept() {
    skip_unless_ready!("default_bridge_endpoint_settings_are_kept");
    let t = Net::start(7);
    t.d.ok(&[
        "create",
        "--name",
        "ep",
        "--network",
        "name=bridge,driver-opt=com.example.setting=on,link-local-ip=169.254.8.8",
        "bb:1",
        "true",
    ]);
    let o = t.d.ok(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks.bridge}}",
        "ep",
    ]);
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v["DriverOpts"]["com.example.setting"], "on", "{v}");
    assert_eq!(v["IPAMConfig"]["LinkLocalIPs"][0], "169.254.8.8", "{v}");
    t.d.ok(&["rm", "ep"]);
}
