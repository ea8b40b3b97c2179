//! `berth audit` against real engines: the same containers, made with the stock docker CLI from
//! the same busybox image (`docker load`), on berthd and on a private dockerd. The four settings
//! the benchmark is best known for are flagged on both, a container that avoids them is not, and
//! sections 4 and 5 (what the Engine API shows) come out the same on both engines.

use std::collections::BTreeMap;
use std::path::Path;

mod common;

use common::{busybox_tar, show, skip_reason, text, Engine};
use serde_json::Value;

/// name, docker run flags. Every container but the first four's one fault is limited, non-root
/// and off the host's network.
const CONTAINERS: &[(&str, &[&str])] = &[
    (
        "a-priv",
        &[
            "--privileged",
            "--user",
            "1000",
            "--memory",
            "64m",
            "--network",
            "none",
        ],
    ),
    (
        "a-hostnet",
        &["--network", "host", "--user", "1000", "--memory", "64m"],
    ),
    ("a-nomem", &["--user", "1000", "--network", "none"]),
    ("a-root", &["--memory", "64m", "--network", "none"]),
    (
        "a-good",
        &[
            "--user",
            "1000:1000",
            "--memory",
            "64m",
            "--network",
            "none",
        ],
    ),
];

/// Load the image and start the containers with the docker CLI; the audit as JSON and its exit code.
fn audit_of(e: &Engine, image: &Path) -> (Value, Option<i32>) {
    let o = e.docker(&["load", "-i", image.to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    for (name, flags) in CONTAINERS {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["audit-bb:1", "sleep", "300"]);
        let o = e.docker(&args);
        assert!(o.status.success(), "{name}: {}", show(&o));
    }
    let o = e.berth(&["audit", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", show(&o)));
    (v, o.status.code())
}

fn by_id(v: &Value) -> BTreeMap<String, Value> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

fn assert_flags_the_four(engine: &str, v: &Value, code: Option<i32>) {
    assert_eq!(code, Some(1), "{engine}: a failed check exits non-zero");
    let checks = by_id(v);
    assert!(checks.len() >= 60, "{engine}: {} checks", checks.len());
    for (id, bad) in [
        ("5.5", "a-priv"),
        ("5.10", "a-hostnet"),
        ("5.11", "a-nomem"),
        ("4.1", "a-root"),
    ] {
        let c = &checks[id];
        assert_eq!(c["result"], "fail", "{engine} {id}: {c}");
        let items: Vec<&str> = c["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(items, [bad], "{engine} {id}: only {bad} is flagged: {c}");
    }
    // The daemon behind the socket was found: its socket's owner and mode were checked.
    for id in ["3.15", "3.16", "1.1.5"] {
        assert_ne!(
            checks[id]["result"], "skipped",
            "{engine} {id}: {}",
            checks[id]
        );
    }
}

/// Sections 4 and 5 of two audits: the same result and items for every check.
fn assert_same_sections(an: &str, a: &Value, bn: &str, b: &Value) {
    let (a, b) = (by_id(a), by_id(b));
    let mut differ = Vec::new();
    for (id, ac) in a
        .iter()
        .filter(|(id, _)| id.starts_with("4.") || id.starts_with("5."))
    {
        let bc = &b[id];
        if (&ac["result"], &ac["items"]) != (&bc["result"], &bc["items"]) {
            differ.push(format!("{id}:\n  {an}: {ac}\n  {bn}: {bc}"));
        }
    }
    assert!(
        differ.is_empty(),
        "sections 4 and 5 differ:\n{}",
        differ.join("\n")
    );
}

#[test]
fn audit_flags_the_same_containers_on_berthd_and_dockerd() {
    if let Some(why) = skip_reason(true) {
        eprintln!("skipped: {why}");
        return;
    }
    if common::docker_cli().is_none() {
        eprintln!("skipped: needs the docker CLI");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-audit-")
        .tempdir()
        .unwrap();
    let (bdir, ddir) = (tmp.path().join("berthd"), tmp.path().join("dockerd"));
    std::fs::create_dir_all(&bdir).unwrap();
    std::fs::create_dir_all(&ddir).unwrap();

    // dockerd also answers on loopback TCP: the "remote" view of the same engine.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let dockerd = Engine::dockerd_with(&ddir, &["-H", &tcp]);

    // One image for both: imported into dockerd, saved, and loaded everywhere.
    let rootfs = busybox_tar(tmp.path());
    let o = dockerd.docker(&["import", rootfs.to_str().unwrap(), "audit-bb:1"]);
    assert!(o.status.success(), "{}", show(&o));
    let image = tmp.path().join("audit-bb.tar");
    let o = dockerd.docker(&["save", "-o", image.to_str().unwrap(), "audit-bb:1"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(dockerd.docker(&["rmi", "audit-bb:1"]).status.success());

    let (dv, dcode) = audit_of(&dockerd, &image);
    assert_flags_the_four("dockerd", &dv, dcode);

    // Over TCP the host sections are skipped with the reason; 4 and 5 come out the same.
    let o = dockerd.berth(&["-H", &tcp, "audit", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let rv: Value = serde_json::from_slice(&o.stdout).unwrap();
    for (id, c) in by_id(&rv) {
        if id.starts_with("1.") || id.starts_with("3.") {
            assert_eq!(c["result"], "skipped", "remote {id}: {c}");
            assert!(
                c["reason"].as_str().unwrap().contains("over TCP"),
                "remote {id}: {c}"
            );
        }
    }
    assert_eq!(by_id(&rv)["2.7"]["result"], "fail", "plain TCP without TLS");
    assert_same_sections("dockerd over TCP", &rv, "dockerd over its socket", &dv);

    let berthd = Engine::berthd(&bdir);
    let (bv, bcode) = audit_of(&berthd, &image);
    assert_flags_the_four("berthd", &bv, bcode);

    // Sections 4 and 5 read only the Engine API: the same findings on both engines.
    assert_same_sections("berthd", &bv, "dockerd", &dv);

    // The table says the same; --fail-on never keeps the exit code at 0.
    let o = berthd.berth(&["audit"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let t = text(&o);
    assert!(
        t.lines()
            .any(|l| l.starts_with("5.5 ") && l.contains("FAIL"))
            && t.contains("- a-priv"),
        "{t}"
    );
    let o = berthd.berth(&["audit", "--fail-on", "never"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = berthd.berth(&["audit", "--fail-on", "sometimes"]);
    assert!(
        o.status.code() == Some(2)
            && String::from_utf8_lossy(&o.stderr)
                .contains("invalid value 'sometimes' for '--fail-on"),
        "{}",
        show(&o)
    );
}
