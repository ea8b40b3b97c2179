//! The README's first command, `bash scripts/quickstart.sh`, leaves berthd running behind the docker
//! context `berth`, and `--stop` takes it all away again. The test reuses this run's debug binaries
//! (BERTH_QUICKSTART_BIN_DIR: no apt, no release build) and runs berthd without a bridge, so the
//! host's network is not changed. systemd is not PID 1 on the CI machine: this is the background
//! mode (pid file under /run/berth); the systemd mode is the package's, tested in package.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SOCK: &str = "/run/berth/berth.sock";

fn docker(cfg: &Path, args: &[&str]) -> Output {
    Command::new(common::docker_cli().unwrap())
        .args(args)
        .env("DOCKER_CONFIG", cfg)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap()
}

#[test]
fn quickstart_leaves_docker_context_berth_working_and_stop_removes_it() {
    skip_unless_ready!("quickstart_leaves_docker_context_berth_working_and_stop_removes_it");
    if !Path::new("/usr/bin/jq").exists() {
        println!("skipped: quickstart: jq is missing");
        return;
    }
    if std::os::unix::net::UnixStream::connect(SOCK).is_ok()
        || Path::new("/run/berth/quickstart").exists()
    {
        println!("skipped: quickstart: a berthd already serves {SOCK} on this machine");
        return;
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_berthd"))
        .parent()
        .unwrap()
        .to_path_buf();
    common::ensure_helpers(&bin);
    let st = Command::new(env!("CARGO"))
        .args(["build", "-p", "berth"])
        .env("CARGO_TARGET_DIR", bin.parent().unwrap())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(st.success());
    let had_data_root = Path::new("/var/lib/berth").exists();
    let had_exec_root = Path::new("/run/berth").exists();
    let cfg = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/quickstart.sh");
    let quickstart = |args: &[&str]| {
        Command::new("bash")
            .arg(&script)
            .args(args)
            .env("BERTH_QUICKSTART_BIN_DIR", &bin)
            .env("BERTH_QUICKSTART_DAEMON_ARGS", "--bridge none")
            .env("DOCKER_CONFIG", cfg.path())
            .output()
            .unwrap()
    };
    let o = quickstart(&[]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let check = || {
        assert!(o.status.success(), "quickstart failed: {said}");
        assert!(said.contains("hello from a berthd container"), "{said}");
        assert!(
            said.contains("docker --context berth"),
            "no usage printed: {said}"
        );
        // After the script ended: the daemon is still there, reached through the context.
        let ps = docker(cfg.path(), &["--context", "berth", "ps"]);
        assert!(ps.status.success(), "docker --context berth ps: {ps:?}");
        assert!(String::from_utf8_lossy(&ps.stdout).starts_with("CONTAINER ID"));
        let pid: i32 = std::fs::read_to_string("/run/berth/berthd.pid")
            .expect("pid file")
            .trim()
            .parse()
            .unwrap();
        assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok());
        pid
    };
    let checked = std::panic::catch_unwind(check);
    let stop = quickstart(&["--stop"]);
    let stop_said = String::from_utf8_lossy(&stop.stdout).into_owned();
    if !had_data_root {
        let _ = std::fs::remove_dir_all("/var/lib/berth");
    }
    let _ = std::fs::remove_file("/var/log/berthd.log");
    let pid = match checked {
        Ok(pid) => pid,
        Err(e) => std::panic::resume_unwind(e),
    };
    assert!(stop.status.success(), "--stop: {stop:?}");
    assert!(stop_said.contains("stopped berthd"), "{stop_said}");
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "berthd {pid} still runs after --stop"
    );
    assert!(!Path::new(SOCK).exists() && !Path::new("/run/berth/berthd.pid").exists());
    if !had_exec_root {
        assert!(!Path::new("/run/berth").exists(), "/run/berth was left");
    }
    let ctx = docker(cfg.path(), &["context", "inspect", "berth"]);
    assert!(!ctx.status.success(), "the context berth is still there");
}
