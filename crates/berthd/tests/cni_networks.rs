//! CNI networks through the stock docker CLI, with Debian's
//! containernetworking-plugins: a bridge + host-local + portmap conflist; the
//! container gets its address from the conflist's range and answers on a
//! published port; after `rm` (also after a `kill -9` of berthd and a
//! restart) the host-local lease, the veth and the portmap rules are gone; a
//! plugin failing ADD gets DEL, the container does not start and nothing
//! stays; conflists in `--cni-config-dir` are networks at start.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGINS: &str = "/usr/lib/cni";

struct Cni {
    d: Berthd,
    bridge: String,
    x: u32,
    /// host-local's lease directory (`dataDir`).
    leases: PathBuf,
    /// The conflists and leases.
    files: tempfile::TempDir,
}

/// Tests of this file running now: the last one out removes portmap's shared chain (it leaves
/// `CNI-HOSTPORT-DNAT` and its jumps behind, as with any CNI runtime) when nothing is in it.
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn drop_portmap_chain() {
    let rules = host("iptables", &["-t", "nat", "-S", "CNI-HOSTPORT-DNAT"]);
    if rules.lines().any(|l| l.starts_with("-A ")) || !rules.contains("-N CNI-HOSTPORT-DNAT") {
        return;
    }
    for hook in ["PREROUTING", "OUTPUT"] {
        let _ = Command::new("iptables")
            .args([
                "-t",
                "nat",
                "-D",
                hook,
                "-m",
                "addrtype",
                "--dst-type",
                "LOCAL",
                "-j",
                "CNI-HOSTPORT-DNAT",
            ])
            .output();
    }
    let _ = Command::new("iptables")
        .args(["-t", "nat", "-X", "CNI-HOSTPORT-DNAT"])
        .output();
}

impl Drop for Cni {
    fn drop(&mut self) {
        if self.d.child.is_some() {
            let ids = self.d.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.d.docker(&["rm", "-f", id]);
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        if LIVE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            drop_portmap_chain();
        }
    }
}

fn conflist(name: &str, bridge: &str, subnet: &str, leases: &Path, extra: &str) -> String {
    format!(
        r#"{{"cniVersion": "1.0.0", "name": "{name}", "plugins": [
  {{"type": "bridge", "bridge": "{bridge}", "isGateway": true, "ipMasq": false,
    "ipam": {{"type": "host-local", "ranges": [[{{"subnet": "{subnet}"}}]],
             "dataDir": "{}", "routes": [{{"dst": "0.0.0.0/0"}}]}},
    "dns": {{"nameservers": ["10.9.9.9"]}}}},
  {{"type": "portmap", "capabilities": {{"portMappings": true}}, "snat": false}}{extra}
]}}"#,
        leases.display()
    )
}

fn start(salt: u32) -> Option<Cni> {
    if !Path::new(PLUGINS).join("portmap").is_file() {
        println!("skipped: {PLUGINS} has no CNI plugins (Debian containernetworking-plugins)");
        return None;
    }
    let tag = std::process::id() % 10000;
    let x = (tag * 3 + salt) % 250 + 2;
    let bridge = format!("bcn{tag}{salt}");
    let files = tempfile::Builder::new()
        .prefix("bcni")
        .tempdir_in("/tmp")
        .unwrap();
    let leases = files.path().join("ipam");
    let cnidir = files.path().join("cni");
    std::fs::create_dir_all(&cnidir).unwrap();
    // A conflist of the directory: a network at start.
    std::fs::write(
        cnidir.join("10-dir.conflist"),
        conflist(
            &format!("dirnet{tag}"),
            &format!("bcd{tag}{salt}"),
            &format!("10.237.{x}.0/24"),
            &leases,
            "",
        ),
    )
    .unwrap();
    LIVE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = Berthd::start_with(&[
        "--bridge",
        "none",
        "--cni-config-dir",
        cnidir.to_str().unwrap(),
    ]);
    let t = Cni {
        d,
        bridge,
        x,
        leases,
        files,
    };
    t.d.import_busybox("bb:1");
    Some(t)
}

fn host(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().expect(cmd);
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Cni {
    fn leases_of(&self, net: &str) -> Vec<String> {
        std::fs::read_dir(self.leases.join(net))
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("10."))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn bridge_ports(&self) -> Vec<String> {
        std::fs::read_dir(format!("/sys/class/net/{}/brif", self.bridge))
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Run a web server on `net` publishing `port`; (id, address).
    fn web(&self, name: &str, port: u16) -> (String, String) {
        let id = self.d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "cn",
            "-p",
            &format!("{port}:80"),
            "bb:1",
            "sh",
            "-c",
            "echo hello-cni > /tmp/index.html; exec busybox httpd -f -p 80 -h /tmp",
        ]);
        let ip = self.d.ok(&[
            "inspect",
            "-f",
            "{{(index .NetworkSettings.Networks \"cn\").IPAddress}}",
            name,
        ]);
        (id.trim().to_string(), ip.trim().to_string())
    }

    /// After a container's removal: no lease, no veth, no portmap rule naming it.
    fn assert_clean(&self, id: &str) {
        assert!(
            self.leases_of("cn").is_empty(),
            "leases left: {:?}",
            self.leases_of("cn")
        );
        assert!(
            self.bridge_ports().is_empty(),
            "veths left: {:?}",
            self.bridge_ports()
        );
        let nat = host("iptables", &["-t", "nat", "-S"]);
        assert!(
            !nat.contains(id),
            "portmap rules left: {}",
            nat.lines()
                .filter(|l| l.contains(id))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn get(url: &str) -> String {
    host("timeout", &["5", "busybox", "wget", "-qO-", url])
}

#[test]
fn cni_bridge_host_local_portmap() {
    skip_unless_ready!("cni_bridge_host_local_portmap");
    let Some(mut t) = start(0) else { return };
    let x = t.x;
    let tag = std::process::id() % 10000;
    // The directory's conflist is a network of driver cni.
    let ls =
        t.d.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(ls.contains(&format!("dirnet{tag} cni")), "{ls}");

    let subnet = format!("10.236.{x}.0/24");
    let file = t.files.path().join("net.conflist");
    std::fs::write(&file, conflist("cn", &t.bridge, &subnet, &t.leases, "")).unwrap();
    t.d.ok(&[
        "network",
        "create",
        "-d",
        "cni",
        "-o",
        &format!("config={}", file.display()),
        "cn",
    ]);
    assert_eq!(
        t.d.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
            "cn"
        ])
        .trim(),
        format!("cni {subnet}")
    );

    let port = 20000 + (tag % 5000) as u16 * 2;
    let (id, ip) = t.web("web", port);
    assert!(ip.starts_with(&format!("10.236.{x}.")), "{ip}");
    assert_eq!(
        t.leases_of("cn"),
        vec![ip.clone()],
        "host-local's lease is the address inspect shows"
    );
    // DNS from the result.
    let resolv = t.d.ok(&["exec", "web", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 10.9.9.9"), "{resolv}");
    // The published port answers (portmap's DNAT for the host's own address on the bridge).
    let out = get(&format!("http://10.236.{x}.1:{port}/"));
    assert!(out.contains("hello-cni"), "published port: {out}");
    t.d.ok(&["rm", "-f", "web"]);
    t.assert_clean(&id);

    // The same after a kill -9 of berthd and a restart.
    let (id, _) = t.web("web2", port + 1);
    assert_eq!(t.leases_of("cn").len(), 1);
    t.d.kill9();
    t.d.spawn();
    let out = get(&format!("http://10.236.{x}.1:{}/", port + 1));
    assert!(out.contains("hello-cni"), "after the restart: {out}");
    t.d.ok(&["rm", "-f", "web2"]);
    t.assert_clean(&id);
    t.d.ok(&["network", "rm", "cn"]);
}

#[test]
fn a_failing_cni_add_leaves_nothing() {
    skip_unless_ready!("a_failing_cni_add_leaves_nothing");
    let Some(t) = start(1) else { return };
    let x = t.x;
    let file = t.files.path().join("bad.conflist");
    // tuning fails on a sysctl that does not exist: after bridge and host-local did their part.
    std::fs::write(
        &file,
        conflist(
            "cn",
            &t.bridge,
            &format!("10.236.{x}.0/24"),
            &t.leases,
            r#", {"type": "tuning", "sysctl": {"net.ipv4.conf.nosuchknob": "1"}}"#,
        ),
    )
    .unwrap();
    t.d.ok(&[
        "network",
        "create",
        "-d",
        "cni",
        "-o",
        &format!("config={}", file.display()),
        "cn",
    ]);
    let o = t.d.docker(&[
        "run",
        "-d",
        "--name",
        "bad",
        "--network",
        "cn",
        "bb:1",
        "sleep",
        "100",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "the container started");
    assert!(err.contains("tuning"), "{err}");
    let state = t.d.ok(&["inspect", "-f", "{{.State.Running}}", "bad"]);
    assert_eq!(state.trim(), "false");
    assert!(
        t.leases_of("cn").is_empty(),
        "lease left: {:?}",
        t.leases_of("cn")
    );
    assert!(
        t.bridge_ports().is_empty(),
        "veth left: {:?}",
        t.bridge_ports()
    );
    let cache = t.d.dir.path().join("data/network/cni-cache/results");
    let left = std::fs::read_dir(&cache).map(|r| r.count()).unwrap_or(0);
    assert_eq!(left, 0, "cache entries left");
    // A conflist that is not one, and a missing file: clear errors.
    std::fs::write(&file, "{\"name\": 1}").unwrap();
    let o = t.d.docker(&[
        "network",
        "create",
        "-d",
        "cni",
        "-o",
        &format!("config={}", file.display()),
        "cn2",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid CNI configuration"));
    let o = t.d.docker(&[
        "network",
        "create",
        "-d",
        "cni",
        "-o",
        "config=/nonexistent.conflist",
        "cn3",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.conflist"));
}
