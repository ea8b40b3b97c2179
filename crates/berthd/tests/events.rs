//! `docker events`: the container, image and exec events the stock CLI's verbs cause, with Docker's
//! actions and attributes, and the `event` filter matching `exec_start: ...` by its verb.

mod common;

use common::*;
use std::time::{SystemTime, UNIX_EPOCH};

fn events(d: &Berthd, filters: &str) -> Vec<serde_json::Value> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let mut path = format!("/events?since=0&until={now}");
    if !filters.is_empty() {
        path.push_str("&filters=");
        path.push_str(&filters.replace('"', "%22").replace(' ', "%20"));
    }
    let (st, body) = d.http("GET", &path, None);
    assert_eq!(st, 200, "{body}");
    body.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("event JSON"))
        .collect()
}

#[test]
fn verbs_publish_dockers_events() {
    skip_unless_ready!("verbs_publish_dockers_events");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let id = d
        .ok(&[
            "run",
            "-d",
            "--name",
            "ev",
            "--network",
            "none",
            "bb:1",
            "sleep",
            "600",
        ])
        .trim()
        .to_string();
    d.ok(&["exec", "ev", "echo", "hi"]);
    d.ok(&["top", "ev"]);
    d.ok(&["update", "--memory", "64m", "--memory-swap", "128m", "ev"]);
    let out = d.dir.path().join("out.txt");
    d.ok(&["cp", "ev:/etc/passwd", out.to_str().unwrap()]);
    d.ok(&["cp", out.to_str().unwrap(), "ev:/tmp/"]);
    d.ok(&["commit", "ev", "snap:1"]);
    d.ok(&["restart", "-t", "0", "ev"]);
    let tar = d.dir.path().join("ev.tar");
    d.ok(&["export", "-o", tar.to_str().unwrap(), "ev"]);
    d.ok(&["rm", "-f", "ev"]);
    d.ok(&["tag", "bb:1", "bb:2"]);
    let saved = d.dir.path().join("bb.tar");
    d.ok(&["save", "-o", saved.to_str().unwrap(), "bb:2"]);
    d.ok(&["rmi", "bb:2"]);

    let all = events(&d, "");
    let actions: Vec<(String, String)> = all
        .iter()
        .map(|e| {
            (
                e["Type"].as_str().unwrap_or("").to_string(),
                e["Action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let has = |kind: &str, action: &str| actions.iter().any(|(k, a)| k == kind && a == action);
    for action in [
        "create",
        "start",
        "exec_create: echo hi",
        "exec_start: echo hi",
        "exec_die",
        "top",
        "update",
        "archive-path",
        "extract-to-dir",
        "commit",
        "kill",
        "die",
        "restart",
        "export",
        "destroy",
    ] {
        assert!(
            has("container", action),
            "no container {action}: {actions:?}"
        );
    }
    for action in ["tag", "save", "untag"] {
        assert!(has("image", action), "no image {action}: {actions:?}");
    }
    // Actor attributes as Docker gives them.
    let die = all
        .iter()
        .find(|e| e["Action"] == "exec_die")
        .expect("exec_die");
    assert_eq!(die["Actor"]["ID"], id.as_str());
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "0");
    assert_eq!(die["Actor"]["Attributes"]["name"], "ev");
    assert!(die["Actor"]["Attributes"]["execID"].as_str().is_some());

    // The `event` filter matches an action by its verb.
    let starts = events(&d, r#"{"event":["exec_start"]}"#);
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(starts[0]["Action"], "exec_start: echo hi");

    // dockerd names the image of an untag event by its ID.
    let untag = all.iter().find(|e| e["Action"] == "untag").expect("untag");
    assert_eq!(untag["Actor"]["Attributes"]["name"], untag["Actor"]["ID"]);
    // dockerd's other filters: scope, and network/volume/container by a prefix of name or ID.
    d.ok(&["network", "create", "--internal", "evnet"]);
    d.ok(&["network", "rm", "evnet"]);
    let nets = events(&d, r#"{"network":["evn"],"scope":["local"]}"#);
    let acts: Vec<&str> = nets.iter().map(|e| e["Action"].as_str().unwrap()).collect();
    assert_eq!(acts, ["create", "destroy"], "{nets:?}");
    assert!(events(&d, r#"{"scope":["swarm"]}"#).is_empty());
    assert_eq!(
        events(&d, r#"{"container":["e"],"event":["die"]}"#).len(),
        2
    );
}
