//! Rootless operation: an unprivileged user runs a container in its own user
//! namespace with the config `spec --rootless` writes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::BIN;

const NOBODY: &str = "65534";

#[test]
fn unprivileged_user_runs_a_rootless_container() {
    require_root!();
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) missing");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-rootless-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bundle = tmp.path().join("bundle");
    common::make_rootfs(&bundle.join("rootfs"));
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let st = Command::new("chown")
        .args([&format!("{NOBODY}:{NOBODY}")])
        .arg(&bundle)
        .arg(&state)
        .status()
        .unwrap();
    assert!(st.success());
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", "--"])
            .arg(BIN)
            .args(args)
            .current_dir(&bundle)
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .unwrap()
    };
    let out = as_nobody(&["spec", "--rootless"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["process"]["terminal"] = serde_json::json!(false);
    config["process"]["args"] =
        serde_json::json!(["sh", "-c", "id -u; cat /proc/self/uid_map; hostname"]);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();

    let out = as_nobody(&["--root", state.to_str().unwrap(), "run", "rootless"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {stdout}");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, ["0", NOBODY, "1"], "{stdout}");
    assert_eq!(lines[2], "berth");
    assert!(!state.join("rootless").exists(), "run left its state");

    // Resource limits need a delegated cgroup, which a rootless caller lacks.
    config["linux"]["resources"] = serde_json::json!({"pids": {"limit": 10}});
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let out = as_nobody(&["--root", state.to_str().unwrap(), "run", "limited"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rootless"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
