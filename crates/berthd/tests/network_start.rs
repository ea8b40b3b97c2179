//! How a networked container starts: berthd makes its network namespace, sets up its interfaces
//! there and the runtime runs it in one call (`run --detach`, joining that namespace), as for
//! `--network none`; and a start whose network setup fails leaves nothing behind (no veth, lease,
//! rule or namespace). Through the stock docker CLI, with a runtime wrapper that records its calls.

mod common;

use common::net::{host, Net};
use common::Berthd;
use std::path::{Path, PathBuf};

/// A runtime that logs each call's arguments to `<dir>/calls` and runs berth-runtime.
fn logging_runtime(dir: &Path) -> PathBuf {
    let real = Path::new(env!("CARGO_BIN_EXE_berthd"))
        .parent()
        .expect("bin dir")
        .join("berth-runtime");
    let script = dir.join("logged-runtime");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec {} \"$@\"\n",
            dir.join("calls").display(),
            real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The runtime's subcommands the wrapper saw for container `id` (run, create, start, ...).
fn calls(dir: &Path, id: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("calls")).unwrap_or_default();
    let verbs = ["run", "create", "start", "kill", "delete", "state", "exec"];
    text.lines()
        .filter(|l| l.contains(id))
        .filter_map(|l| l.split_whitespace().find(|w| verbs.contains(w)))
        .map(String::from)
        .collect()
}

/// Wait until berthd holds its one spare namespace (made after each networked start, off its
/// path), and return it.
fn spare(pid: u32) -> Vec<String> {
    let t = std::time::Instant::now();
    loop {
        let held = netns_fds(pid);
        if !held.is_empty() || t.elapsed() > std::time::Duration::from_secs(5) {
            assert_eq!(held.len(), 1, "berthd holds one spare namespace: {held:?}");
            return held;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// berthd's descriptors that hold a network namespace.
fn netns_fds(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.display().to_string())
        .filter(|l| l.starts_with("net:["))
        .collect()
}

/// What a container (`cid`) may have left: links named after it, leases, DNAT rules, namespaces.
fn leftovers(t: &Net, cid: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in host("ip", &["-o", "link"]).lines() {
        let name = l.split(':').nth(1).unwrap_or("").trim();
        if name.contains(&cid[..8]) {
            out.push(format!("link {name}"));
        }
    }
    let net_dir = t.d.dir.path().join("data/network");
    for f in std::fs::read_dir(&net_dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap_or_default();
        if f.file_name().to_string_lossy().contains("ipam") && text.contains(cid) {
            out.push(format!("lease in {}", f.path().display()));
        }
    }
    for r in host("iptables-save", &[]).lines() {
        if r.starts_with(&format!("-A {}-DNAT", t.chain)) {
            out.push(format!("rule {r}"));
        }
    }
    let pid = t.d.child.as_ref().expect("daemon").id();
    out.extend(
        netns_fds(pid)
            .into_iter()
            .map(|n| format!("berthd holds {n}")),
    );
    out
}

#[test]
fn networked_containers_start_in_one_runtime_call() {
    skip_unless_ready!("networked_containers_start_in_one_runtime_call");
    let dir = tempfile::tempdir().unwrap();
    let rt = logging_runtime(dir.path());
    let t = Net::start_with(7, |_| {
        vec!["--add-runtime".into(), format!("logged={}", rt.display())]
    });
    let x = t.x;
    t.d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &format!("10.235.{x}.0/24"),
        "--subnet",
        &format!("fd00:b235:{x:x}::/64"),
        "ns1",
    ]);
    let pid = t.d.child.as_ref().expect("daemon").id();
    // On a user network (dual stack) and on the default bridge: addresses, routes and the name
    // server are there when the program starts, and the runtime ran once (no create + start).
    for (name, net) in [("u1", "ns1"), ("b1", "bridge")] {
        let out = t.d.ok(&[
            "run",
            "--runtime",
            "logged",
            "--name",
            name,
            "--network",
            net,
            "bb:1",
            "sh",
            "-c",
            "ip -o addr show eth0; ip route; ip -6 route; cat /etc/resolv.conf",
        ]);
        let id =
            t.d.ok(&["inspect", "-f", "{{.Id}}", name])
                .trim()
                .to_string();
        let want = if net == "ns1" {
            format!("10.235.{x}.")
        } else {
            format!("10.218.{x}.")
        };
        assert!(out.contains(&format!("inet {want}")), "{name}: {out}");
        assert!(out.contains("default via"), "{name}: {out}");
        if net == "ns1" {
            assert!(out.contains(&format!("inet6 fd00:b235:{x:x}::")), "{out}");
            assert!(out.contains(&format!("nameserver 10.235.{x}.1")), "{out}");
        }
        let verbs = calls(dir.path(), &id);
        assert!(verbs.iter().any(|v| v == "run"), "{name}: {verbs:?}");
        assert!(
            !verbs.iter().any(|v| v == "create" || v == "start"),
            "{name}: {verbs:?}"
        );
        // The runtime joined a namespace berthd held by a descriptor, which berthd let go.
        let cfg = std::fs::read_to_string(
            t.d.dir
                .path()
                .join(format!("data/containers/{id}/config.json")),
        )
        .unwrap();
        let cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
        let path = cfg["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["type"] == "network")
            .and_then(|n| n["path"].as_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            path.starts_with(&format!("/proc/{pid}/fd/")),
            "{name}: {path}"
        );
    }
    // Besides the spare for the next start, berthd let go of what it made.
    spare(pid);

    // A running container: `network connect`/`disconnect`, `--network container:`, `docker
    // restart` (a fresh namespace, the same address) and stop + start.
    t.d.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.239.{x}.0/24"),
        "ns2",
    ]);
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "r1",
        "--network",
        "ns1",
        "--ip",
        &format!("10.235.{x}.40"),
        "-p",
        "127.0.0.1::80",
        "bb:1",
        "sh",
        "-c",
        "mkdir -p /w; echo up > /w/i; exec httpd -f -p 80 -h /w",
    ]);
    let netns_of = |c: &str| {
        let p = t.d.ok(&["inspect", "-f", "{{.State.Pid}}", c]);
        std::fs::read_link(format!("/proc/{}/ns/net", p.trim()))
            .unwrap()
            .display()
            .to_string()
    };
    let first = netns_of("r1");
    t.d.ok(&["network", "connect", "ns2", "r1"]);
    let addrs = t.d.ok(&["exec", "r1", "sh", "-c", "ip -o -4 addr"]);
    assert!(addrs.contains(&format!("inet 10.239.{x}.")), "{addrs}");
    t.d.ok(&["network", "disconnect", "ns2", "r1"]);
    let addrs = t.d.ok(&["exec", "r1", "sh", "-c", "ip -o -4 addr"]);
    assert!(!addrs.contains(&format!("inet 10.239.{x}.")), "{addrs}");
    let joined = t.d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:r1",
        "bb:1",
        "sh",
        "-c",
        "ip -o -4 addr show eth0",
    ]);
    assert!(joined.contains(&format!("inet 10.235.{x}.40/")), "{joined}");
    let port = |c: &str| {
        t.d.ok(&["port", c, "80"])
            .trim()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string()
    };
    let get = |p: &str| {
        host(
            "sh",
            &[
                "-c",
                &format!("timeout 5 busybox wget -qO- http://127.0.0.1:{p}/i"),
            ],
        )
    };
    let fetched = (0..50)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            get(&port("r1"))
        })
        .find(|o| o.contains("up"));
    assert!(fetched.is_some(), "published port answers");
    t.d.ok(&["restart", "-t", "1", "r1"]);
    assert_ne!(netns_of("r1"), first, "a fresh namespace per start");
    for _ in 0..2 {
        let addrs =
            t.d.ok(&["exec", "r1", "sh", "-c", "ip -o -4 addr show eth0"]);
        assert!(addrs.contains(&format!("inet 10.235.{x}.40/")), "{addrs}");
        let fetched = (0..50)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                get(&port("r1"))
            })
            .find(|o| o.contains("up"));
        assert!(fetched.is_some(), "published port answers after a restart");
        t.d.ok(&["stop", "-t", "1", "r1"]);
        t.d.ok(&["start", "r1"]);
    }
    assert_ne!(
        spare(pid),
        vec![netns_of("r1")],
        "the spare is not the container's"
    );
}

#[test]
fn a_failed_network_setup_leaves_nothing() {
    skip_unless_ready!("a_failed_network_setup_leaves_nothing");
    let t = Net::start(8);
    let x = t.x;
    for (n, net) in [(235, "fa"), (239, "fb")] {
        t.d.ok(&[
            "network",
            "create",
            "--subnet",
            &format!("10.{n}.{x}.0/24"),
            net,
        ]);
    }
    let (a, b) = (format!("10.235.{x}.20"), format!("10.239.{x}.20"));
    t.d.ok(&[
        "run",
        "-d",
        "--name",
        "holder",
        "--network",
        "fb",
        "--ip",
        &b,
        "bb:1",
        "sleep",
        "100",
    ]);
    // Its first network's setup succeeds, its second's address is taken: the start fails and
    // undoes the first (veth, lease, published port), and the namespace berthd made goes.
    t.d.ok(&[
        "create",
        "--name",
        "f1",
        "--network",
        "fa",
        "--ip",
        &a,
        "-p",
        "127.0.0.1::80",
        "bb:1",
        "sleep",
        "100",
    ]);
    t.d.ok(&["network", "connect", "--ip", &b, "fb", "f1"]);
    let pid = t.d.child.as_ref().expect("daemon").id();
    spare(pid);
    let o = t.d.docker(&["start", "f1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("already in use"), "{err}");
    let f1 =
        t.d.ok(&["inspect", "-f", "{{.Id}}", "f1"])
            .trim()
            .to_string();
    assert_eq!(leftovers(&t, &f1), Vec::<String>::new());
    // Its address on the first network is free again.
    t.d.ok(&["run", "--rm", "--network", "fa", "--ip", &a, "bb:1", "true"]);

    // A host port that is taken (on the default bridge): the same.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = taken.local_addr().unwrap().port();
    spare(pid);
    let o = t.d.docker(&[
        "run",
        "--name",
        "f2",
        "-p",
        &format!("127.0.0.1:{p}:80"),
        "bb:1",
        "true",
    ]);
    assert!(!o.status.success());
    let f2 =
        t.d.ok(&["inspect", "-f", "{{.Id}}", "f2"])
            .trim()
            .to_string();
    assert_eq!(leftovers(&t, &f2), Vec::<String>::new());
    drop(taken);
    // Once the port is free, both start.
    t.d.ok(&["network", "disconnect", "fb", "f1"]);
    t.d.ok(&["start", "f1"]);
    t.d.ok(&["start", "f2"]);
}

/// The network namespace a process of the host is in (`net:[inode]`).
fn netns_of_pid(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .display()
        .to_string()
}

/// Until berthd holds at most its spare namespace (the next is made after a start, off its path).
fn settled(pid: u32) -> Vec<String> {
    let t = std::time::Instant::now();
    loop {
        let held = netns_fds(pid);
        if held.len() <= 1 || t.elapsed() > std::time::Duration::from_secs(5) {
            return held;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_container_without_a_network_runs_in_a_fresh_namespace_of_its_own() {
    skip_unless_ready!("a_container_without_a_network_runs_in_a_fresh_namespace_of_its_own");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let pid = d.child.as_ref().expect("daemon").id();
    let host_ns = netns_of_pid("self");
    let show = "readlink /proc/self/ns/net; ip -o link; cat /sys/class/net/lo/flags";
    // `--rm` (its bundle and namespace made ahead of the start), a plain one, and one with no
    // network option on a daemon without a bridge: only `lo`, up (flags 0x9: UP|LOOPBACK), in a
    // namespace that is not the host's (the kernel reuses a freed namespace's inode number).
    for args in [
        &["run", "--rm", "--network", "none"][..],
        &["run", "--name", "kept", "--network", "none"][..],
        &["run", "--rm"][..],
    ] {
        let out = d.ok(&[args, &["bb:1", "sh", "-c", show]].concat());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{args:?}: {out}");
        assert_ne!(lines[0], host_ns, "{args:?}: {out}");
        assert!(
            lines[1].starts_with("1: lo: <LOOPBACK,UP"),
            "{args:?}: {out}"
        );
        assert_eq!(lines[2], "0x9", "{args:?}: {out}");
    }
    d.ok(&["rm", "kept"]);
    // Two running at once (one made ahead, one not) never share one, nor hold berthd's spare.
    let a = d.ok(&[
        "run",
        "-d",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "60",
    ]);
    let b = d.ok(&["run", "-d", "--network", "none", "bb:1", "sleep", "60"]);
    let ns: Vec<String> = [a.trim(), b.trim()]
        .iter()
        .map(|id| netns_of_pid(d.ok(&["inspect", "-f", "{{.State.Pid}}", id]).trim()))
        .collect();
    assert_ne!(ns[0], ns[1]);
    assert!(!ns.contains(&host_ns));
    for n in &ns {
        assert!(!settled(pid).contains(n), "berthd still holds {n}");
    }
    d.ok(&["rm", "-f", a.trim(), b.trim()]);

    // Nothing leaks: a start that fails after taking its namespace, a `--rm` container removed
    // before its start (its namespace was made ahead), many runs: berthd's descriptors stay as
    // they were, with at most the one spare namespace among them.
    let fds = || {
        let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .map(|e| {
                let l = std::fs::read_link(e.path()).unwrap_or_default();
                format!("{} {}", e.file_name().to_string_lossy(), l.display())
            })
            .collect();
        v.sort();
        v
    };
    let spare_ns = spare(pid);
    let before = fds();
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "/no/such/program",
    ]);
    assert!(!o.status.success());
    d.ok(&[
        "create",
        "--rm",
        "--name",
        "never",
        "--network",
        "none",
        "bb:1",
        "true",
    ]);
    d.ok(&["rm", "never"]);
    let held = settled(pid);
    assert!(held.len() <= 1, "{held:?}");
    assert!(!held.contains(&spare_ns[0]), "a used namespace still held");
    for i in 0..5 {
        let out = d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "bb:1",
            "echo",
            &i.to_string(),
        ]);
        assert_eq!(out, format!("{i}\n"));
    }
    spare(pid);
    // One sample per look: the refills (a standby shim, a spare namespace) start a few
    // milliseconds after the last removal, so a second look could catch a spawn in flight (its
    // pipes both ends open) right after a first one saw the count settled.
    let t = std::time::Instant::now();
    let mut after = fds();
    while after.len() > before.len() && t.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        after = fds();
    }
    assert!(
        after.len() <= before.len(),
        "berthd's descriptors grew: {before:?} -> {after:?}"
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}
