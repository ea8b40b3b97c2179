//! Authorization plugins through the stock docker CLI: a plugin written here from the protocol
//! (tests/fixtures/plugins/authz_plugin.py) denies `exec` and `--privileged` creates and allows the
//! rest; hijacked and streamed endpoints still work when allowed; with the plugin down every request
//! is refused (fail closed).

mod common;

use base64::Engine;
use common::plugins::Plugin;
use common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A POST with the headers and body given as they go on the wire: (status, response).
fn raw(d: &Berthd, path: &str, headers: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.write_all(
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n{body}")
            .as_bytes(),
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    (resp[9..12].parse().unwrap(), resp)
}

#[test]
fn authz_plugin_denies_exec_and_privileged_and_fails_closed() {
    skip_unless_ready!("authz_plugin_denies_exec_and_privileged_and_fails_closed");
    let mut p = Plugin::start("authz_plugin.py", "tauthz");
    let mut flags = p.flags();
    flags.extend(["--authorization-plugin".to_string(), "tauthz".to_string()]);
    let f: Vec<&str> = flags.iter().map(String::as_str).collect();
    let d = Berthd::start_with(&f);
    d.import_busybox("bb:1");

    // Allowed: create, start, a hijacked attach (run in the foreground), logs, events, inspect.
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "echo",
        "through",
    ]);
    assert_eq!(out.trim(), "through");
    let id = d
        .ok(&[
            "run",
            "-d",
            "--name",
            "keep",
            "--network",
            "none",
            "bb:1",
            "sh",
            "-c",
            "echo logged; sleep 300",
        ])
        .trim()
        .to_string();
    assert_eq!(d.ok(&["logs", "keep"]).trim(), "logged");
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let ev = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until.to_string(),
        "--filter",
        "event=start",
    ]);
    assert!(ev.contains(&id), "{ev}");
    assert!(d
        .ok(&["info", "--format", "{{json .Plugins.Authorization}}"])
        .contains("tauthz"));

    // Denied, with the plugin's message in dockerd's wording, as 403.
    let o = d.docker(&["exec", "keep", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("authorization denied by plugin tauthz: exec is not allowed here"),
        "{}",
        stderr(&o)
    );
    let (status, body) = d.http(
        "POST",
        &format!("/v1.47/containers/{id}/exec"),
        Some(r#"{"Cmd":["true"]}"#),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"],
        "authorization denied by plugin tauthz: exec is not allowed here"
    );
    let o = d.docker(&["run", "--privileged", "--network", "none", "bb:1", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "authorization denied by plugin tauthz: privileged containers are not allowed"
        ),
        "{}",
        stderr(&o)
    );
    // The body reaches the plugin however it is sent: chunked (no length declared), or JSON under
    // another content type.
    let create =
        r#"{"Image":"bb:1","Cmd":["true"],"HostConfig":{"Privileged":true,"NetworkMode":"none"}}"#;
    for (headers, body) in [
        (
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n".to_string(),
            format!("{:x}\r\n{create}\r\n0\r\n\r\n", create.len()),
        ),
        (
            format!(
                "Content-Type: text/plain\r\nContent-Length: {}\r\n",
                create.len()
            ),
            create.to_string(),
        ),
    ] {
        let (status, resp) = raw(&d, "/v1.47/containers/create", &headers, &body);
        assert_eq!(status, 403, "{headers}: {resp}");
        assert!(
            resp.contains("privileged containers are not allowed"),
            "{resp}"
        );
    }
    let ps = d.ok(&["ps", "-aq", "--no-trunc"]);
    assert_eq!(ps.trim(), id, "the denied create made nothing");

    // What the plugin was told: dockerd's field names, the JSON body base64-encoded, the response.
    let calls = p.calls();
    assert_eq!(calls[0].0, "Plugin.Activate");
    let create = calls
        .iter()
        .find(|(m, r)| {
            m == "AuthZPlugin.AuthZReq"
                && r["RequestUri"]
                    .as_str()
                    .unwrap_or("")
                    .contains("/containers/create")
        })
        .expect("create was asked about");
    let r = &create.1;
    assert_eq!(r["RequestMethod"], "POST");
    assert_eq!(r["RequestHeaders"]["Content-Type"], "application/json");
    let body = base64::engine::general_purpose::STANDARD
        .decode(r["RequestBody"].as_str().unwrap())
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["Image"], "bb:1");
    let res = calls
        .iter()
        .find(|(m, r)| {
            m == "AuthZPlugin.AuthZRes"
                && r["RequestUri"]
                    .as_str()
                    .unwrap_or("")
                    .contains("/containers/create")
        })
        .expect("the create's response was asked about");
    assert_eq!(res.1["ResponseStatusCode"], 201);
    assert!(res.1["ResponseBody"].is_string());

    // The plugin goes down: nothing is served.
    p.stop();
    let o = d.docker(&["ps"]);
    assert!(
        !o.status.success(),
        "served without its authorization plugin"
    );
    assert!(stderr(&o).contains("tauthz"), "{}", stderr(&o));
    let (status, _) = d.http("GET", "/v1.47/containers/json", None);
    assert_ne!(status, 200);
    p.spawn();
    d.ok(&["rm", "-f", "keep"]);
}
