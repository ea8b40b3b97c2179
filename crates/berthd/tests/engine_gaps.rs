//! Endpoints a non-swarm dockerd answers that clients probe: the swarm endpoints (503, as dockerd
//! outside a swarm) and `docker search` (a registry's v1 search API, here a fake index on loopback).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

#[test]
fn swarm_endpoints_answer_like_a_node_outside_a_swarm() {
    skip_unless_ready!("swarm_endpoints_answer_like_a_node_outside_a_swarm");
    let d = Berthd::start();
    for args in [&["node", "ls"][..], &["service", "ls"], &["secret", "ls"]] {
        let o = d.docker(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(
            err.contains("This node is not a swarm manager"),
            "{args:?}: {err}"
        );
    }
    let o = d.docker(&["swarm", "leave"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("This node is not part of a swarm"));
    let (st, body) = d.http("GET", "/v1.41/swarm", None);
    assert_eq!(st, 503, "{body}");
    assert!(body.contains("\"message\""), "{body}");
}

/// A v1 search index on loopback: answers `q=bb` with three repositories, anything else with 404.
fn fake_index() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let (status, body) = if first.starts_with("GET /v1/search?q=bb&") {
                (
                    "200 OK",
                    r#"{"num_results":3,"query":"bb","results":[
                    {"name":"bb","description":"the official one","star_count":900,"is_official":true,"is_automated":false},
                    {"name":"someone/bb","description":"a fork","star_count":12,"is_official":false,"is_automated":false},
                    {"name":"other/bb-tools","description":"tools","star_count":3,"is_official":false,"is_automated":true}]}"#,
                )
            } else {
                ("404 Not Found", r#"{"errors":[{"code":"NOT_FOUND"}]}"#)
            };
            let mut w = conn;
            let _ = write!(
                w,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn search_asks_the_registry_named_in_the_term() {
    skip_unless_ready!("search_asks_the_registry_named_in_the_term");
    let d = Berthd::start();
    let port = fake_index();
    let term = format!("127.0.0.1:{port}/bb");
    let out = d.ok(&[
        "search",
        "--format",
        "{{.Name}} {{.StarCount}} {{.IsOfficial}}",
        &term,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["bb 900 [OK]", "someone/bb 12 ", "other/bb-tools 3 "],
        "{out}"
    );
    let out = d.ok(&[
        "search",
        "--format",
        "{{.Name}}",
        "--filter",
        "is-official=true",
        &term,
    ]);
    assert_eq!(out.trim(), "bb");
    let out = d.ok(&[
        "search",
        "--format",
        "{{.Name}}",
        "--filter",
        "stars=10",
        &term,
    ]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = d.ok(&["search", "--format", "{{.Name}}", "--limit", "1", &term]);
    assert_eq!(out.trim(), "bb");
    // A registry without the search API: the client sees the registry's answer, not a 404 of ours.
    let o = d.docker(&["search", &format!("127.0.0.1:{port}/nothing")]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/v1/search") && err.contains("404"), "{err}");
}

fn repo_digests(d: &Berthd, image: &str) -> Vec<String> {
    let out = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        image,
    ]);
    serde_json::from_str(out.trim()).unwrap_or_default()
}

#[test]
fn pull_and_push_record_repo_digests() {
    skip_unless_ready!("pull_and_push_record_repo_digests");
    let d = Berthd::start();
    let Some(reg) = Registry::start(d.dir.path(), false) else {
        println!("skipped: pull_and_push_record_repo_digests: docker-registry is missing");
        return;
    };
    d.import_busybox("bb:1");
    let name = format!("{}/bb:1", reg.host);
    d.ok(&["tag", "bb:1", &name]);
    let pushed = d.ok(&["push", &name]);
    let digest = pushed
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {pushed}"))
        .to_string();
    let by_digest = format!("{}/bb@{digest}", reg.host);
    assert_eq!(repo_digests(&d, "bb:1"), vec![by_digest.clone()]);
    // The last tag of the repository goes: its digest name with it, as dockerd does.
    let out = d.ok(&["rmi", &name]);
    assert!(out.contains(&format!("Untagged: {by_digest}")), "{out}");
    assert!(repo_digests(&d, "bb:1").is_empty());
    // Pulled again while present under another name: the digest is recorded again.
    d.ok(&["pull", &name]);
    assert_eq!(repo_digests(&d, &name), vec![by_digest.clone()]);
    let listed = d.ok(&[
        "images",
        "--digests",
        "--format",
        "{{.Repository}} {{.Digest}}",
    ]);
    assert!(
        listed.contains(&format!("{}/bb {digest}", reg.host)),
        "{listed}"
    );
    // It runs by digest.
    d.ok(&["run", "--rm", "--network", "none", &by_digest, "true"]);
}

#[test]
fn disk_usage_and_volume_prune_report_real_sizes() {
    skip_unless_ready!("disk_usage_and_volume_prune_report_real_sizes");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["volume", "create", "data1"]);
    d.ok(&[
        "run",
        "--name",
        "writer",
        "--network",
        "none",
        "-v",
        "data1:/data",
        "bb:1",
        "sh",
        "-c",
        "/bin/busybox dd if=/dev/zero of=/big bs=1024 count=1024 && \
         /bin/busybox dd if=/dev/zero of=/data/half bs=1024 count=512",
    ]);
    let (st, body) = d.http("GET", "/v1.41/system/df", None);
    assert_eq!(st, 200, "{body}");
    let df: serde_json::Value = serde_json::from_str(&body).unwrap();
    let c = &df["Containers"][0];
    let rw = c["SizeRw"].as_i64().unwrap();
    assert!(rw >= 1 << 20, "{c}");
    assert!(c["SizeRootFs"].as_i64().unwrap() > rw, "{c}");
    assert!(c["Created"].as_i64().unwrap() > 1_700_000_000, "{c}");
    let v = &df["Volumes"][0];
    assert!(v["UsageData"]["Size"].as_i64().unwrap() >= 512 << 10, "{v}");
    d.ok(&["rm", "writer"]);
    let out = d.ok(&["volume", "prune", "--all", "--force"]);
    assert!(out.contains("data1"), "{out}");
    assert!(out.contains("Total reclaimed space: 524.3kB"), "{out}");
}

#[test]
fn exec_as_another_user_gets_that_users_groups_only() {
    skip_unless_ready!("exec_as_another_user_gets_that_users_groups_only");
    let d = Berthd::start();
    let root = d.dir.path().join("grp-root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    for a in ["sh", "id", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nwheel:x:10:root\nextra:x:50:www\n",
    )
    .unwrap();
    let tar = d.dir.path().join("grp.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    d.ok(&["import", tar.to_str().unwrap(), "grp:1"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "gr",
        "--network",
        "none",
        "-e",
        "FOO=1",
        "grp:1",
        "sleep",
        "600",
    ]);
    assert_eq!(
        d.ok(&["exec", "gr", "id"]).trim(),
        "uid=0(root) gid=0(root) groups=0(root),10(wheel)"
    );
    // Not root's wheel group on top of its own (the runtime's -u/-g would add to init's).
    assert_eq!(
        d.ok(&["exec", "-u", "www", "gr", "id"]).trim(),
        "uid=33(www) gid=33 groups=33,50(extra)"
    );
    // user:group names the one group (dockerd lists it as the supplementary one too).
    assert_eq!(
        d.ok(&["exec", "-u", "www:wheel", "gr", "id"]).trim(),
        "uid=33(www) gid=10(wheel) groups=10(wheel)"
    );
    // The container's environment, the exec's additions and working directory still apply.
    let out = d.ok(&[
        "exec",
        "-u",
        "www",
        "-e",
        "BAR=2",
        "-w",
        "/etc",
        "gr",
        "sh",
        "-c",
        "echo $FOO $BAR $PWD",
    ]);
    assert_eq!(out.trim(), "1 2 /etc");
}
