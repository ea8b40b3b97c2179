//! Operating berthd as dockerd is operated: daemon.json (merge rules, `--validate`, the keys taking
//! effect), SIGHUP reload seen through the stock CLI's `docker info` while a container runs,
//! registry mirrors for Docker Hub names, and a graceful SIGTERM.

mod common;

use common::{Berthd, Registry};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn berthd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berthd"))
}

/// `berthd --config-file FILE ARGS --validate`: (exit code, stdout, stderr).
fn validate(json: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("daemon.json");
    std::fs::write(&file, json).unwrap();
    let o = Command::new(berthd_bin())
        .arg("--config-file")
        .arg(&file)
        .args(args)
        .arg("--validate")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn validate_and_dockerds_merge_errors() {
    let (code, out, err) = validate(
        r#"{"debug": true, "labels": ["a=b"], "log-opts": {"max-size": "1m"},
            "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}},
            "registry-mirrors": ["https://mirror.example"], "shutdown-timeout": 5}"#,
        &[],
    );
    assert_eq!((code, out.trim()), (0, "configuration OK"), "{err}");

    let (code, _, err) = validate(
        r#"{"data-root": "/srv/berth", "labels": ["a=b"]}"#,
        &["--data-root", "/var/lib/x"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "the following directives are specified both as a flag and in the configuration \
             file: data-root: (from flag: /var/lib/x, from file: /srv/berth)"
        ),
        "{err}"
    );

    let (code, _, err) = validate(r#"{"debug": true, "no-such-directive": 1}"#, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "the following directives don't match any configuration option: no-such-directive"
        ),
        "{err}"
    );

    // A value the daemon would refuse at start is refused by --validate too.
    let (code, _, err) = validate(r#"{"ip-forward": false}"#, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("ip-forward false needs iptables false"),
        "{err}"
    );
    let (code, _, err) = validate(r#"{"ip-forward": false, "iptables": false}"#, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = validate(r#"{"log-opts": {"max-size": "lots"}}"#, &[]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = validate(r#"{"log-opts": {"tag": "{{.Foo}}"}}"#, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("unsupported template action {{.Foo}}"),
        "{err}"
    );
    let (code, _, err) = validate(r#"{"registry-mirrors": ["mirror.example"]}"#, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("mirror.example"), "{err}");
}

fn write_config(dir: &Path, json: &str) -> String {
    let p = dir.join("daemon.json");
    std::fs::write(&p, json).unwrap();
    p.display().to_string()
}

fn pid(d: &Berthd) -> nix::unistd::Pid {
    nix::unistd::Pid::from_raw(d.child.as_ref().expect("running").id() as i32)
}

#[test]
fn sighup_reloads_what_docker_info_shows_while_a_container_runs() {
    skip_unless_ready!("sighup_reloads_what_docker_info_shows_while_a_container_runs");
    let cfg = tempfile::tempdir().unwrap();
    let file = write_config(cfg.path(), r#"{"labels": ["stage=one"]}"#);
    let d = Berthd::start_with(&["--bridge", "none", "--config-file", &file]);
    d.import_busybox("bb");
    let id = d.ok(&["run", "-d", "bb", "sleep", "1000"]);
    let id = id.trim();
    let fmt = "{{json .Labels}} {{.Debug}} {{json .RegistryConfig.Mirrors}}";
    assert_eq!(
        d.ok(&["info", "--format", fmt]).trim(),
        r#"["stage=one"] false []"#
    );
    let before = d.ok(&["inspect", "-f", "{{.State.Pid}}", id]);

    write_config(
        cfg.path(),
        r#"{"labels": ["stage=two", "zone=b"], "debug": true,
            "registry-mirrors": ["http://127.0.0.1:5999"], "insecure-registries": ["myreg.example:5000", "10.9.0.0/16"]}"#,
    );
    nix::sys::signal::kill(pid(&d), nix::sys::signal::SIGHUP).unwrap();
    let t = Instant::now();
    loop {
        let now = d.ok(&["info", "--format", fmt]);
        if now.trim() == r#"["stage=two","zone=b"] true ["http://127.0.0.1:5999/"]"# {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "not reloaded: {now}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The stock CLI's own rendering of the registry settings.
    let info = d.ok(&["info"]);
    for want in [
        "Debug Mode: true",
        "stage=two",
        "myreg.example:5000",
        "10.9.0.0/16",
        "127.0.0.0/8",
        "http://127.0.0.1:5999/",
    ] {
        assert!(
            info.contains(want),
            "{want} missing from docker info:\n{info}"
        );
    }
    // The container was not touched.
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Pid}}", id]), before);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", id]).trim(),
        "true"
    );

    // A broken file is logged and the running configuration kept.
    write_config(cfg.path(), r#"{"labels": ["stage=three"], "bogus": 1}"#);
    nix::sys::signal::kill(pid(&d), nix::sys::signal::SIGHUP).unwrap();
    let t = Instant::now();
    while !d.log().contains("keeping the running configuration") {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.log().contains("bogus"), "{}", d.log());
    assert!(d.ok(&["info", "--format", fmt]).contains("stage=two"));
}

#[test]
fn daemon_defaults_reach_containers() {
    skip_unless_ready!("daemon_defaults_reach_containers");
    let cfg = tempfile::tempdir().unwrap();
    let file = write_config(
        cfg.path(),
        r#"{"log-driver": "json-file", "log-opts": {"max-size": "1m", "max-file": "2"},
            "dns": ["192.0.2.53"], "dns-search": ["corp.example"],
            "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 777, "Hard": 888}}}"#,
    );
    let d = Berthd::start_with(&["--bridge", "none", "--config-file", &file]);
    d.import_busybox("bb");
    d.ok(&[
        "create",
        "--name",
        "c1",
        "bb",
        "sh",
        "-c",
        "cat /etc/resolv.conf; ulimit -n; ulimit -Hn",
    ]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}",
            "c1"
        ])
        .trim(),
        r#"json-file {"max-file":"2","max-size":"1m"}"#
    );
    d.ok(&["start", "-a", "c1"]);
    let out = d.ok(&["logs", "c1"]);
    assert!(out.contains("nameserver 192.0.2.53"), "{out}");
    assert!(out.contains("search corp.example"), "{out}");
    assert!(out.contains("\n777\n888"), "{out}");
    // The container's own settings win.
    let out = d.ok(&[
        "run",
        "--rm",
        "--dns",
        "192.0.2.1",
        "--ulimit",
        "nofile=100:200",
        "--log-opt",
        "max-size=5m",
        "bb",
        "sh",
        "-c",
        "cat /etc/resolv.conf; ulimit -n",
    ]);
    assert!(
        out.contains("nameserver 192.0.2.1") && !out.contains("192.0.2.53"),
        "{out}"
    );
    assert!(out.contains("\n100"), "{out}");
}

#[test]
fn docker_hub_names_are_pulled_from_the_mirror() {
    skip_unless_ready!("docker_hub_names_are_pulled_from_the_mirror");
    let regdir = tempfile::tempdir().unwrap();
    let Some(reg) = Registry::start(regdir.path(), false) else {
        println!(
            "skipped: docker_hub_names_are_pulled_from_the_mirror: docker-registry is missing"
        );
        return;
    };
    let cfg = tempfile::tempdir().unwrap();
    // A mirror that does not answer first: the next one is tried, as dockerd does.
    let file = write_config(
        cfg.path(),
        &format!(
            r#"{{"registry-mirrors": ["http://127.0.0.1:9", "http://{}"]}}"#,
            reg.host
        ),
    );
    let d = Berthd::start_with(&["--bridge", "none", "--config-file", &file]);
    d.import_busybox("bb");
    // The mirror holds library/mirrored, as a Docker Hub mirror would.
    let on_mirror = format!("{}/library/mirrored:v1", reg.host);
    d.ok(&["tag", "bb", &on_mirror]);
    d.ok(&["push", &on_mirror]);
    d.ok(&["rmi", &on_mirror]);
    // This machine has no route to Docker Hub: only the mirror can answer.
    let out = d.ok(&["pull", "docker.io/library/mirrored:v1"]);
    assert!(
        out.contains("Downloaded newer image for mirrored:v1"),
        "{out}"
    );
    d.ok(&["rmi", "mirrored:v1"]);
    d.ok(&["pull", "mirrored:v1"]);
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.lines().any(|l| l == "mirrored:v1"), "{images}");
    assert!(
        !images.contains(&reg.host),
        "the mirror's name must not be kept: {images}"
    );
    assert!(
        d.log().contains("pulled mirrored:v1 from mirror"),
        "{}",
        d.log()
    );
    let out = d.ok(&["run", "--rm", "mirrored:v1", "echo", "from-mirror"]);
    assert_eq!(out.trim(), "from-mirror");
}

#[test]
fn sigterm_finishes_requests_in_flight_and_leaves_containers_running() {
    skip_unless_ready!("sigterm_finishes_requests_in_flight_and_leaves_containers_running");
    let cfg = tempfile::tempdir().unwrap();
    let file = write_config(cfg.path(), r#"{"shutdown-timeout": 20}"#);
    let mut d = Berthd::start_with(&["--bridge", "none", "--config-file", &file]);
    d.import_busybox("bb");
    let keep = d.ok(&["run", "-d", "--name", "keep", "bb", "sleep", "1000"]);
    d.ok(&["run", "-d", "--name", "slow", "bb", "sleep", "1000"]);
    // `sleep` as pid 1 ignores SIGTERM: the stop takes its whole 3 s timeout, then SIGKILL.
    let stop = Command::new(common::docker_cli().unwrap())
        .args(["stop", "-t", "3", "slow"])
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    nix::sys::signal::kill(pid(&d), nix::sys::signal::SIGTERM).unwrap();
    // The socket goes at once: no new requests.
    let t = Instant::now();
    while d.sock.exists() {
        assert!(t.elapsed() < Duration::from_secs(2), "socket still there");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The request in flight still gets its answer.
    let out = stop.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "in-flight stop failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    let mut child = d.child.take().unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(25), "berthd did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "berthd exited with {status}: {}", d.log());
    assert!(!d.dir.path().join("berthd.pid").exists());
    // Containers live on: the next daemon finds `keep` running, with the same process.
    d.spawn();
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", keep.trim()])
            .trim(),
        "true"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.ExitCode}}",
            "slow"
        ])
        .trim(),
        "false 137"
    );
}

/// The host's first address that is not loopback (`hostname -I`).
fn host_address() -> Option<String> {
    let o = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(String::from)
}

#[test]
fn plain_http_only_for_insecure_registries() {
    skip_unless_ready!("plain_http_only_for_insecure_registries");
    let Some(ip) = host_address() else {
        println!("skipped: plain_http_only_for_insecure_registries: no non-loopback address");
        return;
    };
    let regdir = tempfile::tempdir().unwrap();
    let Some(reg) = Registry::start_on(regdir.path(), false, &ip) else {
        println!("skipped: plain_http_only_for_insecure_registries: docker-registry is missing");
        return;
    };
    let name = format!("{}/x/insecure:1", reg.host);
    // Not listed: berthd speaks https to it, which the plain-http registry cannot answer.
    let d = Berthd::start();
    d.import_busybox("bb");
    d.ok(&["tag", "bb", &name]);
    let o = d.docker(&["push", &name]);
    assert!(
        !o.status.success(),
        "a push over plain http to an unlisted registry must fail"
    );
    drop(d);
    // Listed by its network (a CIDR), as dockerd accepts them: push and pull over http.
    let cfg = tempfile::tempdir().unwrap();
    let file = write_config(
        cfg.path(),
        &format!(r#"{{"insecure-registries": ["{ip}/32"]}}"#),
    );
    let d = Berthd::start_with(&["--bridge", "none", "--config-file", &file]);
    d.import_busybox("bb");
    d.ok(&["tag", "bb", &name]);
    d.ok(&["push", &name]);
    d.ok(&["rmi", &name]);
    d.ok(&["pull", &name]);
    let listed = d.ok(&[
        "info",
        "--format",
        "{{json .RegistryConfig.InsecureRegistryCIDRs}}",
    ]);
    assert_eq!(listed.trim(), format!(r#"["127.0.0.0/8","{ip}/32"]"#));
}

#[test]
fn default_address_pools_give_new_networks_their_subnets() {
    skip_unless_ready!("default_address_pools_give_new_networks_their_subnets");
    let (code, _, err) = validate(
        r#"{"default-address-pools": [{"base": "10.123.0.0/16", "size": 8}]}"#,
        &[],
    );
    assert_eq!(code, 1, "a size wider than the base: {err}");
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        r#"{"default-address-pools": [{"base": "10.123.0.0/16", "size": 24}]}"#,
    );
    let d = Berthd::start_with(&["--bridge", "none", "--config-file", &file]);
    let subnet = |n: &str| {
        d.ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            n,
        ])
        .trim()
        .to_string()
    };
    d.ok(&["network", "create", "pa"]);
    d.ok(&["network", "create", "--subnet", "10.123.1.0/24", "pb"]);
    d.ok(&["network", "create", "pc"]);
    assert_eq!(subnet("pa"), "10.123.0.0/24");
    // The next free one: 10.123.1.0/24 is taken by pb.
    assert_eq!(subnet("pc"), "10.123.2.0/24");
    for n in ["pa", "pb", "pc"] {
        d.ok(&["network", "rm", n]);
    }
}
