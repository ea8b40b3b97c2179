//! End-to-end tests of daemon modes through the stock docker CLI: TCP with mutual TLS, `--init`,
//! `container:<id>` namespace modes, and user-namespace remapping.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (Debian package openssl)");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA `<ca>.pem`/`<ca>-key.pem` in `dir`.
fn make_ca(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}-key.pem"),
            "-out",
            &format!("{ca}.pem"),
        ],
    );
}

/// A certificate `<name>.pem`/`<name>-key.pem` signed by `ca`, with the given extensions.
fn make_cert(dir: &Path, ca: &str, name: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The docker CLI against a TCP address with the given TLS flags (no DOCKER_HOST from the harness).
fn docker_tcp(cfg: &Path, port: u16, tls: &[String], args: &[&str]) -> Output {
    Command::new(docker_cli().unwrap())
        .args(tls)
        .arg("-H")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("DOCKER_CONFIG", cfg)
        .stdin(Stdio::null())
        .output()
        .expect("run docker")
}

#[test]
fn tcp_requires_mutual_tls() {
    skip_unless_ready!("tcp_requires_mutual_tls");
    let certs = tempfile::Builder::new().prefix("bdtls").tempdir().unwrap();
    let c = certs.path();
    make_ca(c, "ca");
    make_ca(c, "otherca");
    make_cert(
        c,
        "ca",
        "server",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    make_cert(c, "ca", "client", "extendedKeyUsage=clientAuth\n");
    make_cert(c, "otherca", "stranger", "extendedKeyUsage=clientAuth\n");
    let p = |f: &str| c.join(f).display().to_string();

    // Plain TCP is refused, with the reason.
    let o = Command::new(env!("CARGO_BIN_EXE_berthd"))
        .args(["-H", &format!("tcp://127.0.0.1:{}", free_port())])
        .arg("--data-root")
        .arg(c.join("data"))
        .arg("--exec-root")
        .arg(c.join("exec"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--tlsverify"), "{err}");
    assert!(
        !c.join("data").exists(),
        "refused daemon made its data root"
    );

    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let (ca, cert, key) = (p("ca.pem"), p("server.pem"), p("server-key.pem"));
    let d = Berthd::start_with(&[
        "--bridge",
        "none",
        "-H",
        &tcp,
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
    ]);
    // The unix socket serves as well.
    assert_eq!(
        d.ok(&["version", "--format", "{{.Server.APIVersion}}"])
            .trim(),
        "1.47"
    );
    let cfg = d.dir.path().join("docker-config");
    let flags = |ca: &str, cert: Option<(&str, &str)>| -> Vec<String> {
        let mut v = vec!["--tlsverify".to_string(), "--tlscacert".into(), p(ca)];
        if let Some((c, k)) = cert {
            v.extend(["--tlscert".into(), p(c), "--tlskey".into(), p(k)]);
        }
        v
    };
    let good = flags("ca.pem", Some(("client.pem", "client-key.pem")));
    let o = docker_tcp(
        &cfg,
        port,
        &good,
        &["version", "--format", "{{.Server.Os}}"],
    );
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        d.log()
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "linux");
    // A container runs and streams its output over the TLS connection (attach hijack).
    d.import_busybox("bb:tls");
    let o = docker_tcp(
        &cfg,
        port,
        &good,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "bb:tls",
            "echo",
            "over-tls",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "over-tls");

    // No client certificate, or one from another CA: refused at the handshake.
    for bad in [
        flags("ca.pem", None),
        flags("ca.pem", Some(("stranger.pem", "stranger-key.pem"))),
    ] {
        let o = docker_tcp(&cfg, port, &bad, &["version", "--format", "{{.Server.Os}}"]);
        assert!(!o.status.success(), "{bad:?} was let in");
        let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
        assert!(err.contains("tls") || err.contains("certificate"), "{err}");
        assert!(String::from_utf8_lossy(&o.stdout).trim().is_empty());
    }
    // The server's side of the refusal (logged once its handshake task ends).
    let logged = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        d.log().contains("TLS handshake")
    });
    assert!(logged, "{}", d.log());
}

/// The namespace a symlink like `/proc/self/ns/net` names, from `ls -l` output (`net:[4026531840]`).
fn ns_of(ls_output: &str) -> String {
    ls_output
        .rsplit("-> ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn init_runs_the_command_forwards_signals_and_reaps() {
    skip_unless_ready!("init_runs_the_command_forwards_signals_and_reaps");
    let d = Berthd::start();
    d.import_busybox("bb:init");
    let ps = d.ok(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "bb:init",
        "busybox",
        "ps",
    ]);
    let pid1 = ps
        .lines()
        .find(|l| l.split_whitespace().next() == Some("1"))
        .unwrap_or_else(|| panic!("no PID 1 in {ps}"));
    assert!(pid1.contains("/dev/init -- busybox ps"), "{ps}");
    // Without --init the command itself is PID 1.
    let ps = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:init",
        "busybox",
        "ps",
    ]);
    assert!(!ps.contains("/dev/init"), "{ps}");

    // Exit codes come through, 128+n for a signal.
    for (script, code) in [("exit 3", 3), ("kill -KILL $$", 137)] {
        let o = d.docker(&[
            "run",
            "--rm",
            "--init",
            "--network",
            "none",
            "bb:init",
            "sh",
            "-c",
            script,
        ]);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // An orphan reparented to init is reaped (it would stay a zombie otherwise).
    let script = "sh -c 'sleep 0 & echo $! > /tmp/orphan'; p=$(cat /tmp/orphan); i=0; \
                  while [ -e /proc/$p ] && [ $i -lt 500 ]; do busybox usleep 10000; i=$((i+1)); done; \
                  if [ -e /proc/$p ]; then echo zombie; else echo reaped; fi";
    let out = d.ok(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "bb:init",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.trim(), "reaped");

    // `docker stop`: SIGTERM reaches sleep through init (sleep as PID 1 would ignore it, and the stop
    // would end in SIGKILL after the timeout: exit code 137 instead of 143).
    let id = d.ok(&[
        "run",
        "-d",
        "--init",
        "--network",
        "none",
        "bb:init",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    d.ok(&["stop", "-t", "60", id]);
    let code = d.ok(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.HostConfig.Init}}",
        id,
    ]);
    assert_eq!(code.trim(), "143 true");
}

#[test]
fn daemon_init_default_and_opt_out() {
    skip_unless_ready!("daemon_init_default_and_opt_out");
    let d = Berthd::start_with(&["--bridge", "none", "--init"]);
    d.import_busybox("bb:dinit");
    let ps = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:dinit",
        "busybox",
        "ps",
    ]);
    assert!(ps.contains("/dev/init"), "{ps}");
    let (st, body) = d.http(
        "POST",
        "/containers/create?name=noinit",
        Some(r#"{"Image":"bb:dinit","Cmd":["busybox","ps"],"HostConfig":{"Init":false,"NetworkMode":"none"}}"#),
    );
    assert_eq!(st, 201, "{body}");
    d.ok(&["start", "noinit"]);
    d.ok(&["wait", "noinit"]);
    let logs = d.ok(&["logs", "noinit"]);
    assert!(
        logs.contains("busybox ps") && !logs.contains("/dev/init"),
        "{logs}"
    );
}

#[test]
fn container_namespace_modes() {
    skip_unless_ready!("container_namespace_modes");
    let d = Berthd::start();
    d.import_busybox("bb:ns");
    let first = d.ok(&[
        "run",
        "-d",
        "--name",
        "first",
        "--hostname",
        "firsthost",
        "--network",
        "none",
        "bb:ns",
        "sleep",
        "1000",
    ]);
    let first = first.trim();
    let ns = |args: &[&str], kind: &str| -> String {
        let path = format!("/proc/self/ns/{kind}");
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["ls", "-l", &path]);
        ns_of(&d.ok(&a))
    };
    let first_ns = |kind: &str| ns(&["exec", "first"], kind);
    let run = ["run", "--rm"];

    // Network: same namespace, the first's host name and hosts file.
    let second = [&run[..], &["--network", "container:first", "bb:ns"]].concat();
    assert_eq!(ns(&second, "net"), first_ns("net"));
    let mut a = second.clone();
    a.extend(["sh", "-c", "hostname; cat /etc/hostname"]);
    assert_eq!(d.ok(&a), "firsthost\nfirsthost\n");
    // A container on its own network is elsewhere.
    assert_ne!(
        ns(&["run", "--rm", "--network", "none", "bb:ns"], "net"),
        first_ns("net")
    );

    // PID: the first's processes are visible.
    let mut a = [
        &run[..],
        &["--network", "none", "--pid", "container:first", "bb:ns"],
    ]
    .concat();
    a.extend(["busybox", "ps"]);
    let ps = d.ok(&a);
    assert!(ps.contains("sleep 1000"), "{ps}");
    // IPC.
    let a = [
        &run[..],
        &["--network", "none", "--ipc", "container:first", "bb:ns"],
    ]
    .concat();
    assert_eq!(ns(&a, "ipc"), first_ns("ipc"));
    // The host's IPC namespace for --ipc host.
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    let a = [&run[..], &["--network", "none", "--ipc", "host", "bb:ns"]].concat();
    assert_eq!(ns(&a, "ipc"), host_ipc.display().to_string());

    // Inspect shows the modes.
    let id = d.ok(&[
        "create",
        "--network",
        "container:first",
        "--pid",
        "container:first",
        "bb:ns",
        "true",
    ]);
    let modes = d.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.NetworkMode}} {{.HostConfig.PidMode}}",
        id.trim(),
    ]);
    assert_eq!(modes.trim(), format!("container:{first} container:first"));

    // Joining a container that does not run: 409; one that does not exist: 404.
    d.ok(&[
        "create",
        "--name",
        "idle",
        "--network",
        "none",
        "bb:ns",
        "true",
    ]);
    for mode in ["NetworkMode", "PidMode", "IpcMode"] {
        let body = format!(
            r#"{{"Image":"bb:ns","Cmd":["true"],"HostConfig":{{"{mode}":"container:idle"}}}}"#
        );
        let (st, out) = d.http("POST", "/containers/create", Some(&body));
        assert_eq!(st, 201, "{out}");
        let id: serde_json::Value = serde_json::from_str(&out).unwrap();
        let id = id["Id"].as_str().unwrap();
        let (st, out) = d.http("POST", &format!("/containers/{id}/start"), None);
        assert_eq!(st, 409, "{mode}: {out}");
        assert!(out.contains("of a non running container: "), "{out}");
    }
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nope",
        "bb:ns",
        "true",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("No such container: nope"), "{err}");
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:first",
        "-h",
        "x",
        "bb:ns",
        "true",
    ]);
    assert!(!o.status.success());
}

/// Subordinate id ranges for a test, restored (or removed) when dropped.
struct SubidRanges(Vec<(&'static str, Option<String>)>);

impl SubidRanges {
    fn add(line: &str) -> SubidRanges {
        let mut saved = Vec::new();
        for f in ["/etc/subuid", "/etc/subgid"] {
            let before = std::fs::read_to_string(f).ok();
            let mut text = before.clone().unwrap_or_default();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(line);
            text.push('\n');
            saved.push((f, before));
            std::fs::write(f, text).unwrap();
        }
        SubidRanges(saved)
    }
}

impl Drop for SubidRanges {
    fn drop(&mut self) {
        for (f, before) in &self.0 {
            let _ = match before {
                Some(t) => std::fs::write(f, t),
                None => std::fs::remove_file(f),
            };
        }
    }
}

/// `Uid:` of /proc/<pid>/status: the real uid on the host.
fn host_uid(pid: &str) -> u32 {
    let st = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    st.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn userns_remap_runs_containers_as_subordinate_ids() {
    skip_unless_ready!("userns_remap_runs_containers_as_subordinate_ids");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // Debian's `daemon` user (uid 1), with a range only this test uses.
    let base = 1_000_000 + (std::process::id() % 500) * 65536;
    let _ranges = SubidRanges::add(&format!("daemon:{base}:65536"));
    let d = Berthd::start_prepared(&["--bridge", "none", "--userns-remap", "daemon"], |dir| {
        // The remapped root must be able to get through to the data root.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    });
    let opts = d.ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(opts.contains("name=userns"), "{opts}");
    d.import_busybox("bb:userns");

    // Root inside, the range's first id outside.
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "bb:userns", "id", "-u"])
            .trim(),
        "0"
    );
    let id = d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "-v",
        "vol:/data",
        "bb:userns",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", id]);
    assert_eq!(host_uid(&pid), base);
    // The image's files and berthd's files are root's inside.
    let ls = d.ok(&["exec", id, "ls", "-ln", "/bin/busybox", "/etc/hosts"]);
    for l in ls.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!((f[2], f[3]), ("0", "0"), "{ls}");
    }
    // What the container writes (root fs and volume) is its root's: the mapped ids on the host.
    d.ok(&[
        "exec",
        id,
        "sh",
        "-c",
        "echo hi > /made-inside && echo hi > /data/f && ls -ln /data/f",
    ]);
    let rootfs = d.dir.path().join(format!("data/containers/{id}/rootfs"));
    let md = std::fs::metadata(rootfs.join("made-inside")).unwrap();
    assert_eq!((md.uid(), md.gid()), (base, base));
    let vol = d.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "vol"]);
    assert!(Path::new(vol.trim()).join("f").exists());
    let inside = d.ok(&["exec", id, "ls", "-ln", "/data/f"]);
    assert_eq!(inside.split_whitespace().nth(2), Some("0"), "{inside}");

    // The OOM score is set for the process in its user namespace (by the runtime, from outside).
    let adj = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--oom-score-adj",
        "321",
        "bb:userns",
        "cat",
        "/proc/self/oom_score_adj",
    ]);
    assert_eq!(adj.trim(), "321");
    let adj = d.ok(&["exec", id, "cat", "/proc/self/oom_score_adj"]);
    assert_eq!(adj.trim(), "0");

    // --userns host: not remapped.
    let id2 = d.ok(&[
        "run",
        "-d",
        "--userns",
        "host",
        "--network",
        "none",
        "bb:userns",
        "sleep",
        "1000",
    ]);
    let pid2 = d.ok(&[
        "inspect",
        "-f",
        "{{.State.Pid}} {{.HostConfig.UsernsMode}}",
        id2.trim(),
    ]);
    let (pid2, mode) = pid2.trim().split_once(' ').unwrap();
    assert_eq!((host_uid(pid2), mode), (0, "host"));
    // Privileged, the host's network or pid namespace need the host's user namespace.
    for (flags, msg) in [
        (
            &["--privileged", "--network", "none"][..],
            "incompatible with user namespaces",
        ),
        (
            &["--network", "host"][..],
            "cannot share the host's network namespace",
        ),
        (
            &["--network", "none", "--pid", "host"][..],
            "cannot share the host PID namespace",
        ),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(flags);
        a.extend(["bb:userns", "true"]);
        let o = d.docker(&a);
        assert!(!o.status.success(), "{flags:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{flags:?}: {err}");
        a.splice(2..2, ["--userns", "host"]);
        d.ok(&a);
    }
}

/// `berthd --version` (and `-V`) prints its version and exits, as `dockerd --version` does, instead
/// of refusing the flag; the version is the one `docker version` reports for the engine.
#[test]
fn version_flag_prints_the_version() {
    for flag in ["--version", "-V"] {
        let o = Command::new(env!("CARGO_BIN_EXE_berthd"))
            .arg(flag)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{flag}: {o:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            format!("berthd {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
