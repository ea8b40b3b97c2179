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
    assert!(d.log().contains("TLS handshake"), "{}", d.log());
}
