//! Legacy volume plugins through the stock docker CLI: a plugin written here from the protocol
//! (tests/fixtures/plugins/volume_plugin.py, Python on a unix socket in a private plugin directory)
//! logs every call berthd makes; the calls must come in the order dockerd makes them
//! (tests/fixtures/plugins/dockerd-trace-volume.jsonl, recorded from dockerd 20.10), mounts are
//! one per container and survive a berthd restart without a second Mount, and a plugin that is
//! down gives clear errors without losing a record.

mod common;

use common::plugins::Plugin;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn start_daemon(p: &Plugin) -> Berthd {
    let flags = p.flags();
    let f: Vec<&str> = flags.iter().map(String::as_str).collect();
    let d = Berthd::start_with(&f);
    d.import_busybox("bb:1");
    d
}

/// Methods of `calls` that change something (Create, Mount, Unmount, Remove), in order, and the
/// whole sequence with repeated Gets collapsed.
fn shape(calls: &[String]) -> (Vec<String>, Vec<String>) {
    let changing: Vec<String> = calls
        .iter()
        .filter(|m| {
            ["Create", "Mount", "Unmount", "Remove"]
                .iter()
                .any(|x| m.as_str() == format!("VolumeDriver.{x}"))
        })
        .cloned()
        .collect();
    let mut collapsed: Vec<String> = Vec::new();
    for m in calls.iter().filter(|m| {
        !matches!(
            m.as_str(),
            "Plugin.Activate"
                | "VolumeDriver.Capabilities"
                | "VolumeDriver.List"
                | "VolumeDriver.Path"
        )
    }) {
        if collapsed.last() != Some(m) {
            collapsed.push(m.clone());
        }
    }
    (changing, collapsed)
}

#[test]
fn volume_plugin_calls_follow_dockerds_order() {
    skip_unless_ready!("volume_plugin_calls_follow_dockerds_order");
    let p = Plugin::start("volume_plugin.py", "tvp");
    let d = start_daemon(&p);
    let out = d.ok(&[
        "volume", "create", "-d", "tvp", "--opt", "size=1g", "--label", "team=rs", "pv1",
    ]);
    assert_eq!(out.trim(), "pv1");
    let v: Value = serde_json::from_str(&d.ok(&["volume", "inspect", "pv1"])).unwrap();
    let v = &v[0];
    assert_eq!(v["Driver"], "tvp");
    assert_eq!(v["Labels"]["team"], "rs");
    assert_eq!(v["Options"]["size"], "1g");
    assert_eq!(v["Scope"], "local");
    assert_eq!(
        v["Status"]["opts"]["size"], "1g",
        "the plugin's Status, verbatim: {v}"
    );
    assert_eq!(v["Mountpoint"], p.root().join("pv1").display().to_string());
    let ran = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "pv1:/data",
        "bb:1",
        "sh",
        "-c",
        "echo written > /data/f && cat /data/f",
    ]);
    assert_eq!(ran.trim(), "written");
    assert_eq!(
        std::fs::read_to_string(p.root().join("pv1/f")).unwrap(),
        "written\n",
        "the container wrote into the plugin's directory"
    );
    // --rm removes the container in the background: wait for it before removing the volume.
    let t = Instant::now();
    while !d.ok(&["ps", "-aq"]).trim().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    d.ok(&["volume", "rm", "pv1"]);
    let info = d.ok(&["info", "--format", "{{json .Plugins.Volume}}"]);
    assert!(
        info.contains("\"tvp\"") && info.contains("\"local\""),
        "{info}"
    );

    let calls = p.calls();
    let ours: Vec<String> = calls.iter().map(|c| c.0.clone()).collect();
    assert_eq!(ours[0], "Plugin.Activate", "{ours:?}");
    let trace = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/plugins/dockerd-trace-volume.jsonl"),
    )
    .unwrap();
    let theirs: Vec<String> = trace
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["path"]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    let (ours_changing, ours_collapsed) = shape(&ours);
    let (theirs_changing, theirs_collapsed) = shape(&theirs);
    assert_eq!(ours_changing, theirs_changing, "calls: {ours:?}");
    // Every Get we make sits where dockerd makes one (dockerd also asks once between Mount and
    // Unmount, which changes nothing).
    let mut rest = theirs_collapsed.iter();
    for m in &ours_collapsed {
        assert!(
            rest.any(|t| t == m),
            "{m} out of dockerd's order: ours {ours_collapsed:?}, dockerd's {theirs_collapsed:?}"
        );
    }
    // The plugin gets the options, never the labels; Mount and Unmount carry the same 64-hex ID.
    let req = |m: &str| {
        calls
            .iter()
            .find(|c| c.0 == format!("VolumeDriver.{m}"))
            .map(|c| c.1.clone())
            .unwrap()
    };
    assert_eq!(
        req("Create"),
        serde_json::json!({"Name": "pv1", "Opts": {"size": "1g"}})
    );
    let id = req("Mount")["ID"].as_str().unwrap().to_string();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(req("Unmount"), serde_json::json!({"Name": "pv1", "ID": id}));
    assert_eq!(req("Remove"), serde_json::json!({"Name": "pv1"}));
    // The first Get of the volume, before Create, was answered "no such volume".
    let first_get = ours.iter().position(|m| m == "VolumeDriver.Get").unwrap();
    assert!(
        first_get
            < ours
                .iter()
                .position(|m| m == "VolumeDriver.Create")
                .unwrap()
    );
}

fn mounts(p: &Plugin) -> Vec<(String, String)> {
    p.calls()
        .into_iter()
        .filter(|c| c.0 == "VolumeDriver.Mount" || c.0 == "VolumeDriver.Unmount")
        .map(|c| {
            (
                c.0.trim_start_matches("VolumeDriver.").to_string(),
                c.1["ID"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn plugin_mounts_are_per_container_and_survive_a_restart() {
    skip_unless_ready!("plugin_mounts_are_per_container_and_survive_a_restart");
    let p = Plugin::start("volume_plugin.py", "tvq");
    let mut d = start_daemon(&p);
    d.ok(&["volume", "create", "-d", "tvq", "shared"]);
    d.ok(&["volume", "create", "localone"]);
    let run = |name: &str| {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "-v",
            "shared:/d",
            "bb:1",
            "sleep",
            "300",
        ])
        .trim()
        .to_string()
    };
    let (c1, c2) = (run("one"), run("two"));
    assert_eq!(
        mounts(&p),
        [
            ("Mount".to_string(), c1.clone()),
            ("Mount".to_string(), c2.clone())
        ],
        "one Mount per container, with its id"
    );
    let o = d.docker(&["volume", "rm", "shared"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("volume is in use"),
        "{o:?}"
    );

    // A berthd restart with both still running: no second Mount, and the Unmounts still come.
    d.kill9();
    d.spawn();
    d.ok(&["stop", "-t", "0", "one"]);
    let o = d.docker(&["volume", "rm", "shared"]);
    assert!(!o.status.success(), "still used by two");
    let o = d.docker(&["volume", "rm", "shared"]);
    assert!(!o.status.success(), "a stopped container still uses it");
    d.ok(&["rm", "one"]);
    d.ok(&["rm", "-f", "two"]);
    assert_eq!(
        mounts(&p),
        [
            ("Mount".to_string(), c1.clone()),
            ("Mount".to_string(), c2.clone()),
            ("Unmount".to_string(), c1.clone()),
            ("Unmount".to_string(), c2.clone()),
        ]
    );

    // The plugin goes down: clear errors, local volumes still listed, no record lost.
    let mut p = p;
    p.stop();
    let (status, body) = d.http("GET", "/v1.47/volumes", None);
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = list["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"localone") && names.contains(&"shared"),
        "{body}"
    );
    assert!(list["Warnings"].to_string().contains("tvq"), "{body}");
    for args in [
        vec!["volume", "rm", "shared"],
        vec!["volume", "inspect", "shared"],
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "shared:/d",
            "bb:1",
            "true",
        ],
        vec!["volume", "create", "-d", "tvq", "another"],
    ] {
        let o = d.docker(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "{args:?} succeeded with the plugin down"
        );
        assert!(
            err.contains("tvq") && err.contains("not available"),
            "{args:?}: {err}"
        );
    }
    let ls = d.ok(&["volume", "ls", "-q"]);
    assert!(ls.contains("shared") && ls.contains("localone"), "{ls}");
    assert!(!ls.contains("another"), "{ls}");
    // Back up: the record was kept, so the volume is removed through the plugin.
    p.spawn();
    d.ok(&["volume", "rm", "shared"]);
    assert!(!d.ok(&["volume", "ls", "-q"]).contains("shared"));
    assert!(!p.root().join("shared").exists());
}

/// A venv with PyPI's docker-volume-easyfuse (made once per machine), or why there is none.
fn easyfuse() -> Result<std::path::PathBuf, String> {
    for tool in ["/usr/bin/bindfs", "/usr/sbin/mount.fuse3"] {
        if !Path::new(tool).exists() {
            return Err(format!("{tool} is missing (Debian packages bindfs, fuse3)"));
        }
    }
    if !Path::new("/dev/fuse").exists() {
        return Err("no /dev/fuse".into());
    }
    let venv = std::env::temp_dir().join("berth-test-easyfuse-venv");
    let py = venv.join("bin/python");
    let ready = |py: &Path| {
        std::process::Command::new(py)
            .args(["-c", "import easyfuse"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready(&py) {
        let ok = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && std::process::Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "docker-volume-easyfuse==0.2.1"])
                .status()
                .is_ok_and(|s| s.success());
        if !ok || !ready(&py) {
            return Err("could not pip install docker-volume-easyfuse (PyPI unreachable?)".into());
        }
    }
    Ok(py)
}

#[test]
fn easyfuse_from_pypi_serves_a_volume_a_container_writes_to() {
    skip_unless_ready!("easyfuse_from_pypi_serves_a_volume_a_container_writes_to");
    let py = match easyfuse() {
        Ok(p) => p,
        Err(why) => {
            println!("skipped: easyfuse_from_pypi_serves_a_volume_a_container_writes_to: {why}");
            return;
        }
    };
    let t = tempfile::Builder::new()
        .prefix("ef")
        .tempdir_in("/tmp")
        .unwrap();
    let (plugins, src, mnt) = (
        t.path().join("plugins"),
        t.path().join("src"),
        t.path().join("mnt"),
    );
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&src).unwrap();
    let sock = plugins.join("easyfuse.sock");
    let mut plugin = std::process::Command::new(py)
        .args(["-m", "easyfuse", "-s"])
        .arg(&sock)
        .arg("-m")
        .arg(&mnt)
        .arg("-d")
        .arg(t.path().join("mntdb.json"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Reap<'a>(&'a mut std::process::Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _reap = Reap(&mut plugin);
    let plugin_dir = plugins.display().to_string();
    // The plugin may still be starting: berthd waits for it (the retry budget).
    let d = Berthd::start_with(&[
        "--bridge",
        "none",
        "--plugin-dir",
        &plugin_dir,
        "--plugin-retry-timeout",
        "20",
    ]);
    d.import_busybox("bb:1");
    let device = format!("device=bindfs#{}", src.display());
    d.ok(&["volume", "create", "-d", "easyfuse", "-o", &device, "efv"]);
    let v: Value = serde_json::from_str(&d.ok(&["volume", "inspect", "efv"])).unwrap();
    assert_eq!(v[0]["Driver"], "easyfuse");
    assert_eq!(v[0]["Scope"], "global", "easyfuse's Capabilities");
    assert_eq!(v[0]["Status"]["Mounted"], false);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "efv:/data",
        "bb:1",
        "sh",
        "-c",
        "echo from-container > /data/hello && cat /data/hello && grep ' /data ' /proc/mounts",
    ]);
    assert!(out.starts_with("from-container\n"), "{out}");
    assert!(out.contains(" /data fuse "), "a FUSE mount inside: {out}");
    assert_eq!(
        std::fs::read_to_string(src.join("hello")).unwrap(),
        "from-container\n",
        "written through the FUSE mount into the plugin's device"
    );
    // --rm finishes in the background: wait for the container (and its Unmount) to go.
    let t0 = Instant::now();
    while !d.ok(&["ps", "-aq"]).trim().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(&mnt.display().to_string()),
        "unmounted after the container: {mounts}"
    );
    d.ok(&["volume", "rm", "efv"]);
    assert!(!d.ok(&["volume", "ls", "-q"]).contains("efv"));
}
