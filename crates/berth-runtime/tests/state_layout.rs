//! What a container's state directory holds, and that every command reads
//! it: `run` (foreground or detached) leaves one file, state.json with the
//! config inside; `create` adds the exec fifo until `start`. A directory an
//! older berth-runtime wrote (config.json beside a state.json without the
//! config) stays readable: berthd keeps containers running across upgrades.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{cgroup_dir, err_text, text, Bundle};
use serde_json::{json, Value};

/// The names in a container's state directory, sorted.
fn files(b: &Bundle, id: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(b.root.join(id))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A bundle running `sleep 60` whose poststop hook appends its state's
/// status to `marker` (so a delete shows it found the saved config).
fn sleeper(marker: &Path) -> Bundle {
    let marker = marker.display().to_string();
    Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "60"]);
        c["hooks"] = json!({"poststop": [{"path": "/bin/sh",
            "args": ["sh", "-c", format!("cat >> {marker}; echo >> {marker}")]}]});
    })
}

fn memory_limit(config: &Value) -> &Value {
    &config["linux"]["resources"]["memory"]["limit"]
}

fn wait_stopped(b: &Bundle, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state(id)["status"] != "stopped" {
        assert!(Instant::now() < deadline, "{id} never stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Rewrite a state directory the way berth-runtime before this layout left
/// it: the config in config.json, state.json without it.
fn to_old_layout(b: &Bundle, id: &str) {
    let dir = b.root.join(id);
    let mut st: Value = serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap())
        .expect("state.json is JSON");
    let config = st
        .as_object_mut()
        .unwrap()
        .remove("config")
        .expect("state.json holds the config");
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("state.json"), serde_json::to_vec(&st).unwrap()).unwrap();
}

/// Exec, update, pause/resume, ps, kill and delete on a running container.
fn drive_running(b: &Bundle, id: &str, marker: &Path) {
    assert_eq!(b.state(id)["status"], "running");
    let out = b.run(&["exec", id, "cat", "/proc/1/cmdline"]);
    assert!(out.status.success(), "exec: {}", err_text(&out));
    assert_eq!(text(&out), "sleep\u{0}60\u{0}");
    let out = b.run(&["update", "--memory", "64M", id]);
    assert!(out.status.success(), "update: {}", err_text(&out));
    let out = b.run(&["ps", "--format", "json", id]);
    assert!(out.status.success(), "ps: {}", err_text(&out));
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pids, vec![b.state(id)["pid"].as_i64().unwrap()]);
    for (cmd, want) in [("pause", "paused"), ("resume", "running")] {
        let out = b.run(&[cmd, id]);
        assert!(out.status.success(), "{cmd}: {}", err_text(&out));
        assert_eq!(b.state(id)["status"], want);
    }
    let out = b.run(&["list", "--format", "json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], id);
    assert!(b.run(&["kill", id, "KILL"]).status.success());
    wait_stopped(b, id);
    let out = b.run(&["delete", id]);
    assert!(out.status.success(), "delete: {}", err_text(&out));
    assert!(!b.root.join(id).exists());
    // The poststop hook came from the saved config.
    let hooked = std::fs::read_to_string(marker).unwrap_or_default();
    assert!(
        hooked.contains(&format!("\"id\":\"{id}\"")),
        "poststop did not run: {hooked:?}"
    );
}

#[test]
fn run_detached_leaves_one_file_that_every_command_reads() {
    require_root!();
    let marker = tempfile::NamedTempFile::new().unwrap();
    let b = sleeper(marker.path());
    let (ok, err) = b.detached(&["run", "-d", "one"]);
    assert!(ok, "run -d: {err}");
    assert_eq!(files(&b, "one"), ["state.json"]);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(b.root.join("one/state.json")).unwrap()).unwrap();
    assert_eq!(saved["config"]["process"]["args"], json!(["sleep", "60"]));
    // update changes the config inside state.json.
    let out = b.run(&["update", "--memory", "48M", "one"]);
    assert!(out.status.success(), "update: {}", err_text(&out));
    let saved: Value =
        serde_json::from_slice(&std::fs::read(b.root.join("one/state.json")).unwrap()).unwrap();
    assert_eq!(memory_limit(&saved["config"]), 48 << 20);
    assert_eq!(files(&b, "one"), ["state.json"]);
    drive_running(&b, "one", marker.path());
}

#[test]
fn foreground_run_makes_no_fifo_and_cleans_up() {
    require_root!();
    // The container looks at its own state directory while it runs.
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let mut child = b.cmd(&["run", "fg"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.root.join("fg/state.json").exists() {
        assert!(Instant::now() < deadline, "no state written");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(files(&b, "fg"), ["state.json"]);
    assert_eq!(b.state("fg")["status"], "running");
    assert!(b.run(&["kill", "fg", "KILL"]).status.success());
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(!b.root.join("fg").exists());
}

#[test]
fn create_keeps_the_fifo_until_start_and_the_config_in_state() {
    require_root!();
    let marker = tempfile::NamedTempFile::new().unwrap();
    let b = sleeper(marker.path());
    let (ok, err) = b.detached(&["create", "two"]);
    assert!(ok, "create: {err}");
    assert_eq!(files(&b, "two"), ["exec.fifo", "state.json"]);
    assert_eq!(b.state("two")["status"], "created");
    let out = b.run(&["start", "two"]);
    assert!(out.status.success(), "start: {}", err_text(&out));
    assert_eq!(files(&b, "two"), ["state.json"]);
    drive_running(&b, "two", marker.path());
}

#[test]
fn state_directory_of_an_older_version_is_read() {
    require_root!();
    let marker = tempfile::NamedTempFile::new().unwrap();
    let b = sleeper(marker.path());
    // Running, as `run -d` of an older version left it.
    let (ok, err) = b.detached(&["run", "-d", "old"]);
    assert!(ok, "run -d: {err}");
    to_old_layout(&b, "old");
    // update writes the old config.json, and state.json stays without one.
    let out = b.run(&["update", "--memory", "40M", "old"]);
    assert!(out.status.success(), "update: {}", err_text(&out));
    let config: Value =
        serde_json::from_slice(&std::fs::read(b.root.join("old/config.json")).unwrap()).unwrap();
    assert_eq!(memory_limit(&config), 40 << 20);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(b.root.join("old/state.json")).unwrap()).unwrap();
    assert!(saved.get("config").is_none());
    drive_running(&b, "old", marker.path());

    // Created, waiting on its fifo, as an older `create` left it.
    let (ok, err) = b.detached(&["create", "oldc"]);
    assert!(ok, "create: {err}");
    to_old_layout(&b, "oldc");
    assert_eq!(
        files(&b, "oldc"),
        ["config.json", "exec.fifo", "state.json"]
    );
    assert_eq!(b.state("oldc")["status"], "created");
    let out = b.run(&["start", "oldc"]);
    assert!(out.status.success(), "start: {}", err_text(&out));
    drive_running(&b, "oldc", marker.path());
}

/// The names in the state root, sorted.
fn root_names(b: &Bundle) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&b.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn removed_state_directory_is_reused_by_the_next_container() {
    require_root!();
    let b = Bundle::new(|c| c["process"]["args"] = json!(["true"]));
    let out = b.run(&["run", "r1"]);
    assert!(out.status.success(), "run: {}", err_text(&out));
    // The emptied directory stays as the root's one spare, not a container,
    // with the last state file under the name the next one is written as.
    assert_eq!(root_names(&b), [".spare"]);
    assert_eq!(files(&b, ".spare"), ["state.tmp"]);
    let list = b.run(&["list", "-q"]);
    assert_eq!(text(&list), "");
    assert!(!b.run(&["state", ".spare"]).status.success());

    // The next container takes both (their inodes: none is allocated).
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(b.root.join(p)).unwrap().ino();
    let (dir_ino, file_ino) = (ino(".spare"), ino(".spare/state.tmp"));
    b.set_config(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "r2"]);
    assert!(ok, "run -d: {err}");
    assert_eq!(root_names(&b), ["r2"]);
    assert_eq!(files(&b, "r2"), ["state.json"]);
    assert_eq!((ino("r2"), ino("r2/state.json")), (dir_ino, file_ino));
    assert_eq!(b.state("r2")["status"], "running");
    // An id in use is refused, and the spare it did not take stays.
    std::fs::create_dir(b.root.join(".spare")).unwrap();
    std::fs::set_permissions(
        b.root.join(".spare"),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    let (ok, err) = b.detached(&["run", "-d", "r2"]);
    assert!(!ok && err.contains("exists"), "second r2: {err}");
    assert_eq!(root_names(&b), [".spare", "r2"]);
    assert!(b.run(&["delete", "-f", "r2"]).status.success());
    // One spare at most: the second directory is removed.
    assert_eq!(root_names(&b), [".spare"]);

    // A state.tmp with another name (a hard link) is not written through.
    let outside = b.tmp.path().join("outside");
    std::fs::write(&outside, "keep").unwrap();
    let _ = std::fs::remove_file(b.root.join(".spare/state.tmp"));
    std::fs::hard_link(&outside, b.root.join(".spare/state.tmp")).unwrap();
    let (ok, err) = b.detached(&["run", "-d", "r4"]);
    assert!(ok, "run -d: {err}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
    assert!(b.run(&["delete", "-f", "r4"]).status.success());

    // A spare that is not empty is not reused as it is: a leftover exec.fifo
    // would make the new container read `created`.
    std::fs::write(b.root.join(".spare/exec.fifo"), "").unwrap();
    let (ok, err) = b.detached(&["run", "-d", "r3"]);
    assert!(ok, "run -d: {err}");
    assert_eq!(files(&b, "r3"), ["state.json"]);
    assert_eq!(b.state("r3")["status"], "running");
    assert!(b.run(&["delete", "-f", "r3"]).status.success());
}

#[test]
fn concurrent_runs_share_the_spare_without_clashing() {
    require_root!();
    // Four runs at a time in one root, each repeated: every claim and
    // park of the one spare directory races the others'.
    let b = Bundle::new(|c| c["process"]["args"] = json!(["true"]));
    std::thread::scope(|s| {
        for t in 0..4 {
            let b = &b;
            s.spawn(move || {
                for i in 0..8 {
                    let id = format!("c{t}-{i}");
                    let out = b.run(&["run", &id]);
                    assert!(out.status.success(), "{id}: {}", err_text(&out));
                }
            });
        }
    });
    assert_eq!(root_names(&b), [".spare"]);
}

/// What berth-shim runs in its own process once it has reaped a container's init: a stopped
/// container without poststop hooks goes (its state and its cgroup); a running one, or one whose
/// saved config has poststop hooks, is left to the full `delete`, untouched.
#[test]
fn delete_exited_removes_a_stopped_container_and_leaves_hooks_to_delete() {
    require_root!();
    use berth_runtime::container::delete::delete_exited;
    let b = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let (ok, err) = b.detached(&["run", "-d", "plain"]);
    assert!(ok, "run -d: {err}");
    let cgroup = cgroup_dir(&b, "plain", "pids");
    assert!(cgroup.is_dir(), "{}", cgroup.display());
    assert!(
        !delete_exited(&b.root, "plain").unwrap(),
        "running: not deleted"
    );
    assert_eq!(b.state("plain")["status"], "running");
    assert!(b.run(&["kill", "plain", "KILL"]).status.success());
    wait_stopped(&b, "plain");
    assert!(delete_exited(&b.root, "plain").unwrap());
    assert!(
        !b.run(&["state", "plain"]).status.success(),
        "state is gone"
    );
    assert!(!cgroup.exists(), "cgroup left: {}", cgroup.display());
    // Nothing there now: left to the full delete, which says so.
    assert!(!delete_exited(&b.root, "plain").unwrap());

    let marker = tempfile::NamedTempFile::new().unwrap();
    let b = sleeper(marker.path());
    let (ok, err) = b.detached(&["run", "-d", "hooked"]);
    assert!(ok, "run -d: {err}");
    assert!(b.run(&["kill", "hooked", "KILL"]).status.success());
    wait_stopped(&b, "hooked");
    assert!(
        !delete_exited(&b.root, "hooked").unwrap(),
        "hooks: not deleted"
    );
    assert_eq!(b.state("hooked")["status"], "stopped");
    let out = b.run(&["delete", "hooked"]);
    assert!(out.status.success(), "delete: {}", err_text(&out));
    let hooked = std::fs::read_to_string(marker.path()).unwrap_or_default();
    assert!(hooked.contains("\"id\":\"hooked\""), "poststop: {hooked:?}");
}
