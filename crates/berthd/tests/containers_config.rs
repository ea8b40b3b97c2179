//! End-to-end tests of container configuration through the stock docker CLI: log drivers and
//! rotation, mounts (`--mount`), restart policies and `docker update`, runtimes, links, MAC addresses;
//! create's fields matched in any case (as Go's decoder does), real-time CPU limits, StorageOpt
//! refused; `docker update` of a running, paused and stopped container in its cgroup.

mod common;

use common::*;

fn inspect(d: &Berthd, name: &str, format: &str) -> String {
    d.ok(&["inspect", "--format", format, name])
        .trim()
        .to_string()
}

#[test]
fn log_drivers_and_rotation() {
    skip_unless_ready!("log_drivers_and_rotation");
    let d = Berthd::start();
    d.import_busybox("bb:1");

    // none: the output still reaches an attached client, but nothing is kept.
    let out = d.ok(&[
        "run",
        "--name",
        "quiet",
        "--network",
        "none",
        "--log-driver",
        "none",
        "bb:1",
        "echo",
        "live",
    ]);
    assert_eq!(out.trim(), "live");
    assert_eq!(
        inspect(&d, "quiet", "{{.HostConfig.LogConfig.Type}}"),
        "none"
    );
    let nets = d.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=quiet",
        "--format",
        "{{.Networks}}",
    ]);
    assert_eq!(nets.trim(), "none");
    let o = d.docker(&["logs", "quiet"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("configured logging driver does not support reading"),
        "{err}"
    );

    // local: kept (as json-file lines) and readable.
    d.ok(&[
        "run",
        "--name",
        "loc",
        "--network",
        "none",
        "--log-driver",
        "local",
        "bb:1",
        "echo",
        "kept",
    ]);
    assert_eq!(d.ok(&["logs", "loc"]), "kept\n");

    // Unknown drivers and options are refused at create time, as dockerd does.
    // (A name that is none of dockerd's drivers is looked up as a plugin: tests/log_drivers.rs.)
    let o = d.docker(&["create", "--log-driver", "awslogs", "bb:1", "true"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("logger: no log driver named 'awslogs' is registered"),
        "{err}"
    );
    let o = d.docker(&["create", "--log-opt", "max-file=0", "bb:1", "true"]);
    assert!(!o.status.success());
    let o = d.docker(&["create", "--log-opt", "colour=blue", "bb:1", "true"]);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("unknown log opt 'colour' for json-file log driver"));

    // json-file with rotation: 1 kB files, two kept; the tail survives, the head is rotated away.
    d.ok(&[
        "run",
        "--name",
        "chatty",
        "--network",
        "none",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "bb:1",
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done",
    ]);
    assert_eq!(
        inspect(&d, "chatty", "{{json .HostConfig.LogConfig}}"),
        r#"{"Type":"json-file","Config":{"max-file":"2","max-size":"1k"}}"#
    );
    let logs = d.ok(&["logs", "chatty"]);
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.last(), Some(&"line299"), "{logs}");
    assert!(!lines.contains(&"line0"), "{logs}");
    // What is kept is a contiguous tail, oldest first, across the rotated file and the live one.
    let first: usize = lines[0].trim_start_matches("line").parse().unwrap();
    let want: Vec<String> = (first..300).map(|i| format!("line{i}")).collect();
    assert_eq!(lines, want);
    let log_path = inspect(&d, "chatty", "{{.LogPath}}");
    let rotated = format!("{log_path}.1");
    assert!(std::path::Path::new(&rotated).is_file());
    assert!(!std::path::Path::new(&format!("{log_path}.2")).exists());
    assert!(std::fs::metadata(&log_path).unwrap().len() < 2048);
    assert_eq!(
        d.ok(&["logs", "--tail", "2", "chatty"]),
        "line298\nline299\n"
    );
    // attach?logs=1 replays the same tail, the rotated file included.
    let replay = attach_replay(&d, "chatty");
    assert_eq!(replay, logs, "attach replay differs from logs");
}

/// The json-file driver's `labels`, `env` and `tag` options: the named labels and variables and
/// the rendered tag are each line's attributes, which `docker logs --details` prints before the
/// line as dockerd 20.10 does (compared by hand: the same commands on dockerd print the same).
#[test]
fn log_attributes_and_details() {
    skip_unless_ready!("log_attributes_and_details");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "--name",
        "attrs",
        "--network",
        "none",
        "--log-opt",
        "labels=a,missing",
        "--label",
        "a=1 2/3",
        "--label",
        "b=2",
        "--log-opt",
        "env=E",
        "-e",
        "E=x",
        "-e",
        "F=y",
        "--log-opt",
        "tag={{.Name}}",
        "bb:1",
        "sh",
        "-c",
        "echo hello; echo oops >&2",
    ]);
    let o = d.docker(&["logs", "--details", "attrs"]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "E=x,a=1+2%2F3,tag=attrs hello\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "E=x,a=1+2%2F3,tag=attrs oops\n"
    );
    let o = d.docker(&["logs", "attrs"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "oops\n");
    // A line without attributes gets only the separating space, as with dockerd.
    d.ok(&[
        "run",
        "--name",
        "plain",
        "--network",
        "none",
        "bb:1",
        "echo",
        "p",
    ]);
    assert_eq!(d.ok(&["logs", "--details", "plain"]), " p\n");

    // A tag marker berthd does not render is refused at create, saying which it renders.
    let o = d.docker(&["create", "--log-opt", "tag={{.Hostname}}", "bb:1", "true"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unsupported template action {{.Hostname}}") && err.contains("{{.ImageName}}"),
        "{err}"
    );
    // The local driver has no attributes in dockerd either.
    let o = d.docker(&[
        "create",
        "--log-driver",
        "local",
        "--log-opt",
        "labels=a",
        "bb:1",
        "true",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("unknown log opt 'labels' for log driver local"));

    // mode=non-blocking (a queue the shim's writer thread empties) keeps what fits in it.
    d.ok(&[
        "run",
        "--name",
        "nb",
        "--network",
        "none",
        "--log-opt",
        "mode=non-blocking",
        "--log-opt",
        "max-buffer-size=4m",
        "--log-opt",
        "env=E",
        "-e",
        "E=z",
        "bb:1",
        "sh",
        "-c",
        "echo one; echo two",
    ]);
    assert_eq!(d.ok(&["logs", "--details", "nb"]), "E=z one\nE=z two\n");
    d.ok(&["rm", "attrs", "plain", "nb"]);
}

/// `POST /containers/{name}/attach?logs=1&stream=0&stdout=1` upgraded by hand: the payloads of the
/// multiplexed frames that come back.
fn attach_replay(d: &Berthd, name: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.write_all(
        format!(
            "POST /v1.47/containers/{name}/attach?logs=1&stream=0&stdout=1 HTTP/1.1\r\nHost: x\r\n\
         Upgrade: tcp\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let start = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head")
        + 4;
    assert!(
        raw.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let mut body = &raw[start..];
    let mut out = Vec::new();
    while body.len() >= 8 {
        let len = u32::from_be_bytes([body[4], body[5], body[6], body[7]]) as usize;
        out.extend_from_slice(&body[8..8 + len]);
        body = &body[8 + len..];
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn restart_policy_states_and_update() {
    skip_unless_ready!("restart_policy_states_and_update");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--restart",
        "always",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "exit 3",
    ]);
    // Once it exited, its policy owns it: restarting (or running again), never removable as is.
    assert_eq!(d.ok(&["wait", "again"]).trim(), "3");
    let o = d.docker(&["rm", "again"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("You cannot remove a restarting container")
            || err.contains("You cannot remove a running container"),
        "{err}"
    );
    let ps = d.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(ps.contains("again"), "docker ps lists it: {ps}");
    // Without a policy it stays down after its current (or next) exit.
    d.ok(&["update", "--restart", "no", "again"]);
    d.ok(&["wait", "again"]);
    assert_eq!(
        inspect(&d, "again", "{{.State.Status}} {{.State.Restarting}}"),
        "exited false"
    );
    d.ok(&["rm", "again"]);

    // A stop cancels a pending restart for good.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "again2",
        "--restart",
        "always",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(d.ok(&["wait", "again2"]).trim(), "4");
    d.ok(&["stop", "-t", "1", "again2"]);
    assert_eq!(
        inspect(&d, "again2", "{{.State.Status}} {{.State.Restarting}}"),
        "exited false"
    );
    d.ok(&["rm", "again2"]);

    d.ok(&[
        "run",
        "-d",
        "--name",
        "upd",
        "--network",
        "none",
        "--cpu-shares",
        "256",
        "--restart",
        "always",
        "bb:1",
        "sleep",
        "60",
    ]);
    d.ok(&[
        "update",
        "--cpu-shares",
        "512",
        "--restart",
        "on-failure:42",
        "upd",
    ]);
    assert_eq!(
        inspect(
            &d,
            "upd",
            "{{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "512 on-failure 42"
    );
    let shares = d.ok(&[
        "exec",
        "upd",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu,cpuacct/cpu.shares",
    ]);
    assert_eq!(shares.trim(), "512");
}

#[test]
fn runtimes_by_name() {
    skip_unless_ready!("runtimes_by_name");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let o = d.docker(&["create", "--runtime", "nope", "bb:1", "true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown or invalid runtime name: nope"));
    let info = d.ok(&["info", "--format", "{{.DefaultRuntime}} {{json .Runtimes}}"]);
    assert!(info.starts_with("berth "), "{info}");
    let runc_installed = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("runc").is_file()))
        .unwrap_or(false);
    if !runc_installed {
        println!("runc is not installed: only the default runtime is checked");
        return;
    }
    assert!(info.contains(r#""runc":{"path":""#), "{info}");
    let out = d.ok(&[
        "run",
        "--name",
        "viarunc",
        "--runtime",
        "runc",
        "--network",
        "none",
        "bb:1",
        "echo",
        "hello from runc",
    ]);
    assert_eq!(out, "hello from runc\n");
    assert_eq!(inspect(&d, "viarunc", "{{.HostConfig.Runtime}}"), "runc");
    // docker-py's create_container(runtime=...) sends the runtime at the top of the config.
    let (st, body) = d.http(
        "POST",
        "/v1.47/containers/create?name=pyrunc",
        Some(r#"{"Image":"bb:1","Cmd":["true"],"Runtime":"runc"}"#),
    );
    assert_eq!(st, 201, "{body}");
    assert_eq!(inspect(&d, "pyrunc", "{{.HostConfig.Runtime}}"), "runc");
    // exec and health probes through runc (which reads a `--` after the id as the command).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "runcexec",
        "--runtime",
        "runc",
        "--network",
        "none",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "bb:1",
        "sleep",
        "60",
    ]);
    assert_eq!(
        d.ok(&["exec", "runcexec", "echo", "-n", "in runc"]),
        "in runc"
    );
    assert_eq!(d.ok(&["exec", "-u", "root", "runcexec", "id", "-u"]), "0\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while inspect(&d, "runcexec", "{{.State.Health.Status}}") != "healthy" {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe never passed through runc"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    d.ok(&["rm", "-f", "runcexec"]);
}

#[test]
fn mounts_bind_volume_tmpfs() {
    skip_unless_ready!("mounts_bind_volume_tmpfs");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("shared.txt"), "from the host\n").unwrap();
    let src = host.path().to_str().unwrap();

    // Bind, read-only: visible, not writable; inspect lists it as a read-only bind.
    let out = d.ok(&[
        "run",
        "--name",
        "bm",
        "--network",
        "none",
        "--mount",
        &format!("type=bind,src={src},dst=/mnt,readonly"),
        "bb:1",
        "sh",
        "-c",
        "cat /mnt/shared.txt; echo x > /mnt/new 2>/dev/null || echo refused",
    ]);
    assert_eq!(out, "from the host\nrefused\n");
    assert_eq!(
        inspect(
            &d,
            "bm",
            "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}}{{end}}"
        ),
        format!("bind {src} /mnt false")
    );
    let o = d.docker(&[
        "create",
        "--mount",
        "type=bind,src=/nonexistent-berth-src,dst=/m",
        "bb:1",
        "true",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("bind source path does not exist: /nonexistent-berth-src"));

    // A named volume made by the mount (with its labels), read-only in a second container.
    d.ok(&[
        "run",
        "--network",
        "none",
        "--mount",
        "type=volume,src=v1,dst=/d,volume-label=team=blue",
        "bb:1",
        "sh",
        "-c",
        "echo kept > /d/f",
    ]);
    assert_eq!(
        d.ok(&["volume", "inspect", "--format", "{{.Labels.team}}", "v1"])
            .trim(),
        "blue"
    );
    let out = d.ok(&[
        "run",
        "--name",
        "ro",
        "--network",
        "none",
        "--mount",
        "type=volume,src=v1,dst=/d,readonly",
        "bb:1",
        "sh",
        "-c",
        "cat /d/f; echo y > /d/g 2>/dev/null || echo refused",
    ]);
    assert_eq!(out, "kept\nrefused\n");
    assert_eq!(
        inspect(
            &d,
            "ro",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}"
        ),
        "volume v1 /d false"
    );

    // tmpfs with size and mode.
    let out = d.ok(&[
        "run",
        "--name",
        "tm",
        "--network",
        "none",
        "--mount",
        "type=tmpfs,dst=/scratch,tmpfs-size=1m,tmpfs-mode=1770",
        "bb:1",
        "sh",
        "-c",
        "busybox grep ' /scratch ' /proc/mounts; ls -ld /scratch",
    ]);
    assert!(
        out.contains("/scratch tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    assert!(out.contains("mode=1770"), "{out}");
    assert!(out.contains("drwxrwx--T"), "{out}");
    assert_eq!(
        inspect(
            &d,
            "tm",
            "{{range .Mounts}}{{.Type}} {{.Destination}} {{.RW}}{{end}}"
        ),
        "tmpfs /scratch true"
    );
    let o = d.docker(&[
        "create",
        "--mount",
        "type=tmpfs,src=x,dst=/m",
        "bb:1",
        "true",
    ]);
    assert!(!o.status.success());
}

/// A private berthd with its own bridge and iptables chains, removed whatever happens.
struct BridgeDaemon {
    d: Berthd,
    bridge: String,
    chain: String,
    prefix: String,
}

impl BridgeDaemon {
    fn start() -> BridgeDaemon {
        let tag = std::process::id() % 1000;
        let bridge = format!("bcc{tag}");
        let prefix = format!("10.219.{}.", tag % 200 + 10);
        let d = Berthd::start_with(&["--bridge", &bridge, "--bip", &format!("{prefix}1/24")]);
        BridgeDaemon {
            chain: d.firewall_prefix.clone(),
            d,
            bridge,
            prefix,
        }
    }
}

impl Drop for BridgeDaemon {
    fn drop(&mut self) {
        let ids = self.d.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.d.docker(&["rm", "-f", id]);
        }
        self.d.kill9();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        berth_net::firewall::Iptables {
            chain: self.chain.clone(),
        }
        .purge();
    }
}

#[test]
fn links_and_mac_address_on_the_bridge() {
    skip_unless_ready!("links_and_mac_address_on_the_bridge");
    let b = BridgeDaemon::start();
    let d = &b.d;
    d.import_busybox("bb:1");

    // The MAC address asked for is the container's eth0, and inspect reports it.
    let out = d.ok(&[
        "run",
        "--name",
        "macd",
        "--mac-address",
        "02:42:ac:11:00:0a",
        "bb:1",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(out.trim(), "02:42:ac:11:00:0a");
    // Exited, it still names the network it is configured for.
    let nets = d.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=macd",
        "--format",
        "{{.Networks}}",
    ]);
    assert_eq!(nets.trim(), "bridge");
    let o = d.docker(&[
        "create",
        "--mac-address",
        "01:00:5e:00:00:01",
        "bb:1",
        "true",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid MAC address"));
    d.ok(&[
        "run",
        "-d",
        "--name",
        "macrun",
        "--mac-address",
        "02:42:ac:11:00:0b",
        "bb:1",
        "sleep",
        "60",
    ]);
    assert_eq!(
        inspect(d, "macrun", "{{.NetworkSettings.MacAddress}}"),
        "02:42:ac:11:00:0b"
    );

    // Legacy links: hosts entry and environment of the linked container.
    d.ok(&[
        "run", "-d", "--name", "db", "-e", "FOO=1", "--expose", "5432", "bb:1", "sleep", "60",
    ]);
    let db_ip = inspect(d, "db", "{{.NetworkSettings.IPAddress}}");
    assert!(db_ip.starts_with(&b.prefix), "{db_ip}");
    d.ok(&[
        "run", "-d", "--name", "web", "--link", "db:data", "bb:1", "sleep", "60",
    ]);
    let env = d.ok(&["exec", "web", "env"]);
    for want in [
        "DATA_NAME=/web/data".to_string(),
        "DATA_ENV_FOO=1".to_string(),
        format!("DATA_PORT=tcp://{db_ip}:5432"),
        format!("DATA_PORT_5432_TCP_ADDR={db_ip}"),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} in {env}");
    }
    let hosts = d.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with(&format!("{db_ip}\tdata ")) && l.ends_with(" db")),
        "{hosts}"
    );
    assert_eq!(
        inspect(d, "web", "{{json .HostConfig.Links}}"),
        r#"["/db:/web/data"]"#
    );
    let names = d.ok(&[
        "ps",
        "--no-trunc",
        "--filter",
        "name=db",
        "--format",
        "{{.Names}}",
    ]);
    assert!(names.contains("web/data"), "{names}");

    // The linked container comes back with another address: the linking one's hosts follow it.
    d.ok(&["stop", "-t", "1", "db"]);
    d.ok(&["run", "-d", "--name", "filler", "bb:1", "sleep", "60"]);
    d.ok(&["start", "db"]);
    let db_ip2 = inspect(d, "db", "{{.NetworkSettings.IPAddress}}");
    let hosts = d.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with(&format!("{db_ip2}\tdata "))),
        "{db_ip2} in {hosts}"
    );
    assert_eq!(hosts.matches("\tdata ").count(), 1, "{hosts}");

    // rm --link removes the link, not the containers.
    d.ok(&["rm", "--link", "/web/data"]);
    assert_eq!(inspect(d, "web", "{{json .HostConfig.Links}}"), "null");
    assert_eq!(inspect(d, "db", "{{.State.Status}}"), "running");
    let o = d.docker(&["rm", "--link", "/web/data"]);
    assert!(!o.status.success());

    // Links to containers that do not exist are refused at create time.
    let o = d.docker(&["create", "--link", "nosuch:x", "bb:1", "true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("could not get container for nosuch"));
}

#[test]
fn create_fields_in_any_case_and_realtime_cpu_limits() {
    skip_unless_ready!("create_fields_in_any_case_and_realtime_cpu_limits");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    // docker-py's create_host_config(cpu_rt_period=, cpu_rt_runtime=) sends CPURealtimePeriod.
    let rt = std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_period_us").exists()
        || std::path::Path::new("/sys/fs/cgroup/cpu,cpuacct/cpu.rt_period_us").exists();
    let body = r#"{"image": "bb:1", "CMD": ["true"], "HostConfig": {"cpushares": 512,
        "MEMORY": 8000000, "CPURealtimePeriod": 1000, "CPURealtimeRuntime": 500}}"#;
    let (st, out) = d.http("POST", "/v1.41/containers/create?name=cased", Some(body));
    if !rt {
        assert_eq!(st, 400, "{out}");
        assert!(
            out.contains("does not support cgroup cpu real-time period"),
            "{out}"
        );
        return;
    }
    assert_eq!(st, 201, "{out}");
    let hc = inspect(
        &d,
        "cased",
        "{{.HostConfig.CpuShares}} {{.HostConfig.Memory}} {{.HostConfig.CpuRealtimePeriod}} {{.HostConfig.CpuRealtimeRuntime}} {{.Config.Cmd}}",
    );
    assert_eq!(hc, "512 8000000 1000 500 [true]");
    let raw = d.ok(&["inspect", "cased"]);
    assert!(
        !raw.contains("cpushares") && !raw.contains("CPURealtime"),
        "{raw}"
    );
    let bad = r#"{"Image": "bb:1", "Cmd": ["true"], "HostConfig": {"CpuRealtimePeriod": 500, "CpuRealtimeRuntime": 1000}}"#;
    let (st, out) = d.http("POST", "/v1.41/containers/create", Some(bad));
    assert_eq!(st, 400, "{out}");
    assert!(
        out.contains("cpu real-time runtime cannot be higher than cpu real-time period"),
        "{out}"
    );
    // A size limit berthd would not enforce is refused, as dockerd's overlay2 off xfs refuses it.
    for (opt, msg) in [
        (
            "size",
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ),
        ("foo", "Unknown option foo"),
    ] {
        let body = format!(
            r#"{{"Image": "bb:1", "Cmd": ["true"], "HostConfig": {{"StorageOpt": {{"{opt}": "1G"}}}}}}"#
        );
        let (st, out) = d.http("POST", "/v1.41/containers/create", Some(&body));
        assert_eq!(st, 500, "{out}");
        assert!(out.contains(msg), "{out}");
    }
    d.ok(&["rm", "cased"]);
    assert!(d.ok(&["ps", "-aq"]).trim().is_empty());
}

/// `--oom-kill-disable`, `--memory-reservation` and `--memory-swappiness` reach the container's
/// memory cgroup (they were accepted and ignored), with dockerd's checks.
#[test]
fn memory_oom_reservation_and_swappiness_apply() {
    skip_unless_ready!("memory_oom_reservation_and_swappiness_apply");
    let memcg = std::path::Path::new("/sys/fs/cgroup/memory/memory.oom_control");
    if !memcg.exists() {
        println!(
            "skipped: memory_oom_reservation_and_swappiness_apply: no cgroup v1 memory controller"
        );
        return;
    }
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "--memory-swappiness",
        "7",
        "--oom-kill-disable",
        "bb:1",
        "cat",
        "/sys/fs/cgroup/memory/memory.oom_control",
        "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
        "/sys/fs/cgroup/memory/memory.swappiness",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"oom_kill_disable 1"), "{out}");
    assert!(
        lines.contains(&"33554432") && lines.last() == Some(&"7"),
        "{out}"
    );
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--memory-reservation",
        "1m",
        "bb:1",
        "true",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Minimum memory reservation allowed is 6MB"),
        "{o:?}"
    );
}

/// The container's view of its cgroup limits, v1 or v2: memory soft limit, CPU shares (v2:
/// weight), CFS quota and pids.
fn cgroup_limits(d: &Berthd, name: &str) -> String {
    d.ok(&[
        "exec",
        name,
        "sh",
        "-c",
        "if [ -d /sys/fs/cgroup/memory ]; then \
           cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares \
               /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max; \
         else cat /sys/fs/cgroup/memory.low /sys/fs/cgroup/cpu.weight; \
           cut -d' ' -f1 /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/pids.max; fi",
    ])
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ")
}

/// `docker update` reaches a running (and a paused) container's cgroup, memory reservation
/// included; inspect shows it; a restart of the container and of berthd keeps it; and what
/// dockerd refuses is refused with its status and message.
#[test]
fn update_reaches_the_cgroup_and_survives_restarts() {
    skip_unless_ready!("update_reaches_the_cgroup_and_survives_restarts");
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory/memory.soft_limit_in_bytes").exists();
    // cgroup v2 converts the shares (512) to a weight (20) and keeps the reservation in memory.low.
    let (want, want_paused) = if v1 {
        ("50331648 512 50000 30", "41943040 512 50000 30")
    } else {
        ("50331648 20 50000 30", "41943040 20 50000 30")
    };
    let mut d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "upd",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "600",
    ]);
    let id = inspect(&d, "upd", "{{.Id}}");
    let o = d.docker(&[
        "update",
        "--memory-reservation",
        "48m",
        "--cpu-shares",
        "512",
        "--cpus",
        "0.5",
        "--pids-limit",
        "30",
        "upd",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(cgroup_limits(&d, "upd"), want);
    let fields = "{{.HostConfig.MemoryReservation}} {{.HostConfig.CpuShares}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}";
    assert_eq!(inspect(&d, "upd", fields), "50331648 512 500000000 30");

    // Refused as dockerd refuses them: a memory limit above the (unset) swap limit, a CPU period
    // beside --cpus, a restart policy on a --rm container (409); a missing container (404).
    let o = d.docker(&["update", "--memory", "64m", "upd"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        )),
        "{o:?}"
    );
    let (st, out) = d.http(
        "POST",
        "/v1.41/containers/upd/update",
        Some(r#"{"CpuPeriod": 50000}"#),
    );
    assert_eq!(st, 409, "{out}");
    assert!(
        out.contains("CPU Period cannot be updated as NanoCPUs has already been set"),
        "{out}"
    );
    let (st, out) = d.http(
        "POST",
        "/v1.41/containers/nosuch/update",
        Some(r#"{"Memory": 67108864}"#),
    );
    assert_eq!(
        (st, out.trim()),
        (404, r#"{"message":"No such container: nosuch"}"#)
    );
    d.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "gone",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "600",
    ]);
    let o = d.docker(&["update", "--restart", "always", "gone"]);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("Restart policy cannot be updated because AutoRemove is enabled"),
        "{o:?}"
    );
    d.ok(&["rm", "-f", "gone"]);

    // A limit this kernel cannot apply: dropped with dockerd's warning, not recorded.
    let blkio = std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
        || std::path::Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists();
    if v1 && !blkio {
        let o = d.docker(&["update", "--blkio-weight", "300", "upd"]);
        assert!(o.status.success(), "{o:?}");
        // The CLI prints an update's warnings on stdout, after the name.
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(
                "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
            ),
            "{o:?}"
        );
        assert_eq!(inspect(&d, "upd", "{{.HostConfig.BlkioWeight}}"), "0");
    }

    // Paused: applied too.
    d.ok(&["pause", "upd"]);
    d.ok(&["update", "--memory-reservation", "40m", "upd"]);
    d.ok(&["unpause", "upd"]);
    assert_eq!(cgroup_limits(&d, "upd"), want_paused);

    // The next start, after berthd's too, applies the recorded limits.
    d.ok(&["restart", "-t", "0", "upd"]);
    assert_eq!(cgroup_limits(&d, "upd"), want_paused);
    d.kill9();
    d.spawn();
    d.ok(&["restart", "-t", "0", "upd"]);
    assert_eq!(cgroup_limits(&d, "upd"), want_paused);

    // A stopped container takes them at its start.
    d.ok(&[
        "create",
        "--name",
        "later",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "600",
    ]);
    d.ok(&[
        "update",
        "--memory-reservation",
        "48m",
        "--cpu-shares",
        "512",
        "--cpu-quota",
        "50000",
        "--pids-limit",
        "30",
        "later",
    ]);
    d.ok(&["start", "later"]);
    assert_eq!(cgroup_limits(&d, "later"), want);
    d.ok(&["rm", "-f", "upd", "later"]);
}

/// `Config.Env` holds only what the image and the request set (null for neither, as dockerd: no
/// `PATH` of berthd's own), the request's variables first; the process gets dockerd's environment:
/// a default `PATH`, `HOSTNAME` and `TERM` replaced in place by the container's, `HOME` last.
#[test]
fn config_env_and_process_env_as_dockerd() {
    skip_unless_ready!("config_env_and_process_env_as_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["create", "--name", "plain", "bb:1", "true"]);
    assert_eq!(inspect(&d, "plain", "{{json .Config.Env}}"), "null");
    let env = d.ok(&["run", "--rm", "--network", "none", "bb:1", "env"]);
    let lines: Vec<&str> = env.lines().collect();
    assert_eq!(
        lines[0], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "{env}"
    );
    assert!(lines[1].starts_with("HOSTNAME="), "{env}");
    assert_eq!(lines[2..], ["HOME=/root"], "{env}");

    d.ok(&["commit", "-c", "ENV A=1 PATH=/bin", "plain", "bb:env"]);
    // Through the API with a fixed order: docker CLI 28 removes duplicate `-e`s on its side and
    // does not keep the flags' order (seen: `["A","B=2"]` in one run of four).
    let (st, body) = d.http(
        "POST",
        "/v1.41/containers/create?name=merged",
        Some(r#"{"Image":"bb:env","Cmd":["true"],"Env":["B=2","A"]}"#),
    );
    assert_eq!(st, 201, "{body}");
    assert_eq!(
        inspect(&d, "merged", "{{json .Config.Env}}"),
        r#"["B=2","A","PATH=/bin"]"#
    );
    let env = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-t",
        "-e",
        "B=2",
        "-e",
        "HOSTNAME=h1",
        "-e",
        "TERM=dumb",
        "bb:env",
        "env",
    ]);
    let lines: Vec<&str> = env.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(
        lines,
        [
            "PATH=/bin",
            "HOSTNAME=h1",
            "TERM=dumb",
            "B=2",
            "A=1",
            "HOME=/root"
        ]
    );
}

/// inspect's `Mounts` as dockerd shows them: `Mode` is a `-v` entry's options as written (`z` for
/// a named volume given none), `z` for `--mount type=volume`, empty for `--mount type=bind` (even
/// read-only) and for `Config.Volumes`; `Propagation` only for binds; `--tmpfs` not listed.
#[test]
fn mounts_show_mode_and_propagation_as_dockerd() {
    skip_unless_ready!("mounts_show_mode_and_propagation_as_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let h = d.dir.path().join("h");
    std::fs::create_dir_all(&h).unwrap();
    let h = h.to_str().unwrap();
    d.ok(&[
        "create",
        "--name",
        "mounts",
        "-v",
        &format!("{h}:/a:ro"),
        "-v",
        &format!("{h}:/b:z"),
        "-v",
        &format!("{h}:/c"),
        "--mount",
        &format!("type=bind,src={h},dst=/d,readonly"),
        "-v",
        "nv:/e",
        "-v",
        "/f",
        "--tmpfs",
        "/g",
        "--mount",
        "type=tmpfs,dst=/h",
        "--mount",
        "type=volume,src=nv,dst=/i,ro",
        "-v",
        "nv:/j:rw,nocopy",
        "--mount",
        &format!("type=bind,src={h},dst=/k,bind-propagation=rshared"),
        "-v",
        &format!("{h}:/l:ro,Z,rslave"),
        "bb:1",
        "true",
    ]);
    let got = inspect(
        &d,
        "mounts",
        "{{range .Mounts}}{{.Destination}} {{.Type}} [{{.Mode}}] {{.RW}} [{{.Propagation}}];{{end}}",
    );
    let mut got: Vec<&str> = got.split(';').filter(|s| !s.is_empty()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "/a bind [ro] false [rprivate]",
            "/b bind [z] true [rprivate]",
            "/c bind [] true [rprivate]",
            "/d bind [] false [rprivate]",
            "/e volume [z] true []",
            "/f volume [] true []",
            "/h tmpfs [] true []",
            "/i volume [z] false []",
            "/j volume [rw,nocopy] true []",
            "/k bind [] true [rshared]",
            "/l bind [ro,Z,rslave] false [rslave]",
        ]
    );
}

/// The root has what dockerd's init layer gives every container: /.dockerenv (empty, 0755) and
/// /etc/mtab linking to /proc/mounts, /dev/console, /dev/pts and /dev/shm under the mounts.
#[test]
fn root_has_dockerds_init_layer_entries() {
    skip_unless_ready!("root_has_dockerds_init_layer_entries");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "ls -l /.dockerenv; ls -l /etc/mtab; wc -l < /etc/mtab",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("-rwxr-xr-x"), "{out}");
    assert!(lines[1].ends_with("/etc/mtab -> /proc/mounts"), "{out}");
    assert_ne!(lines[2].trim(), "0", "{out}");
}

/// inspect's Config merges the image's volumes and exposed ports with the request's, as dockerd's
/// create does (Volumes null and ExposedPorts absent when neither has any); HostConfig shows no
/// pids limit and the host's swappiness as null, not the CLI's 0 and -1.
#[test]
fn config_merges_image_volumes_and_ports_as_dockerd() {
    skip_unless_ready!("config_merges_image_volumes_and_ports_as_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["create", "--name", "plain", "bb:1", "true"]);
    assert_eq!(
        inspect(
            &d,
            "plain",
            "{{json .Config.Volumes}} {{json .Config.ExposedPorts}} {{json .HostConfig.PidsLimit}} {{json .HostConfig.MemorySwappiness}}"
        ),
        "null null null null"
    );
    let o = d.ok(&["inspect", "plain"]);
    assert!(!o.contains("\"ExposedPorts\""), "{o}");
    d.ok(&[
        "commit",
        "-c",
        "VOLUME /iv",
        "-c",
        "EXPOSE 80",
        "plain",
        "bb:vol",
    ]);
    d.ok(&[
        "create", "--name", "both", "--expose", "90", "-v", "/uv", "bb:vol", "true",
    ]);
    assert_eq!(
        inspect(
            &d,
            "both",
            "{{json .Config.Volumes}} {{json .Config.ExposedPorts}}"
        ),
        r#"{"/iv":{},"/uv":{}} {"80/tcp":{},"90/tcp":{}}"#
    );
    d.ok(&[
        "create",
        "--name",
        "limited",
        "--pids-limit",
        "5",
        "--memory-swappiness",
        "10",
        "bb:1",
        "true",
    ]);
    assert_eq!(
        inspect(
            &d,
            "limited",
            "{{json .HostConfig.PidsLimit}} {{json .HostConfig.MemorySwappiness}}"
        ),
        "5 10"
    );
}

/// NetworkSettings.Ports lists exposed ports only while the container runs with an endpoint that
/// maps them, as dockerd: {} when created, stopped, or on the host or no network.
#[test]
fn ports_listed_only_while_mapped() {
    skip_unless_ready!("ports_listed_only_while_mapped");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["create", "--name", "made", "--expose", "90", "bb:1", "true"]);
    assert_eq!(inspect(&d, "made", "{{json .NetworkSettings.Ports}}"), "{}");
    for net in ["none", "host"] {
        let name = format!("on-{net}");
        d.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            net,
            "--expose",
            "90",
            "bb:1",
            "sleep",
            "30",
        ]);
        assert_eq!(
            inspect(&d, &name, "{{json .NetworkSettings.Ports}}"),
            "{}",
            "{net}"
        );
        d.ok(&["rm", "-f", &name]);
    }
}

/// GraphDriver.Data names all four overlay directories, as dockerd's overlay2 does: LowerDir (the
/// init layer and the image's layers, `:`-separated), UpperDir, WorkDir and MergedDir.
#[test]
fn graph_driver_lists_lower_and_work_dirs() {
    skip_unless_ready!("graph_driver_lists_lower_and_work_dirs");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["create", "--name", "gd", "bb:1", "true"]);
    let lower = inspect(&d, "gd", "{{.GraphDriver.Data.LowerDir}}");
    let work = inspect(&d, "gd", "{{.GraphDriver.Data.WorkDir}}");
    let dirs: Vec<&str> = lower.split(':').collect();
    assert_eq!(dirs.len(), 2, "the init layer and the image's one: {lower}");
    for dir in dirs.iter().chain([&work.as_str()]) {
        assert!(std::path::Path::new(dir).is_dir(), "{dir}");
    }
}

/// dockerd's namespace defaults: a container with a network namespace of its own lets any user
/// bind ports below 1024 and ping (its `--sysctl` wins; the host network keeps the host's), and
/// `--cgroupns private` gives it a cgroup namespace of its own, where its cgroup is the root
/// (host: the host's namespace; an unknown mode is refused).
#[test]
fn network_sysctl_defaults_and_cgroup_namespaces() {
    skip_unless_ready!("network_sysctl_defaults_and_cgroup_namespaces");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let sysctls =
        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range";
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        d.ok(&all).split_whitespace().collect::<Vec<_>>().join(" ")
    };
    assert_eq!(
        run(&[
            "--network",
            "none",
            "-u",
            "1000",
            "bb:1",
            "sh",
            "-c",
            sysctls
        ]),
        "0 0 2147483647"
    );
    assert_eq!(
        run(&[
            "--network",
            "none",
            "--sysctl",
            "net.ipv4.ip_unprivileged_port_start=1024",
            "bb:1",
            "sh",
            "-c",
            sysctls,
        ]),
        "1024 0 2147483647"
    );
    let host = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{f}"))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let want = format!(
        "{} {}",
        host("ip_unprivileged_port_start"),
        host("ping_group_range")
    );
    assert_eq!(
        run(&["--network", "host", "bb:1", "sh", "-c", sysctls]),
        want
    );

    let host_ns = std::fs::read_link("/proc/self/ns/cgroup").unwrap();
    let host_ns = host_ns.to_string_lossy().to_string();
    let probe = "readlink /proc/self/ns/cgroup; grep -c ':/$' /proc/self/cgroup || true";
    let private = run(&[
        "--network",
        "none",
        "--cgroupns",
        "private",
        "bb:1",
        "sh",
        "-c",
        probe,
    ]);
    let (ns, roots) = private.split_once(' ').unwrap();
    assert_ne!(ns, host_ns, "{private}");
    assert!(
        roots.parse::<u32>().unwrap() > 0,
        "its cgroups are the root: {private}"
    );
    let shared = run(&[
        "--network",
        "none",
        "--cgroupns",
        "host",
        "bb:1",
        "sh",
        "-c",
        probe,
    ]);
    assert!(shared.starts_with(&format!("{host_ns} ")), "{shared}");
    d.ok(&["create", "--name", "cgdefault", "bb:1", "true"]);
    let v2_only = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(
        inspect(&d, "cgdefault", "{{.HostConfig.CgroupnsMode}}"),
        if v2_only { "private" } else { "host" }
    );
    let (st, body) = d.http(
        "POST",
        "/v1.41/containers/create",
        Some(r#"{"Image":"bb:1","Cmd":["true"],"HostConfig":{"CgroupnsMode":"bogus"}}"#),
    );
    assert_eq!(st, 400, "{body}");
    assert!(
        body.contains("invalid cgroup namespace mode: bogus"),
        "{body}"
    );
}
