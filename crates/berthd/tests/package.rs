//! Installing Berth as people install an engine: the .deb (scripts/build-deb.sh, from the debug
//! binaries this test run already has, so CI builds nothing twice) installed on this machine with
//! dpkg and apt, its systemd units, socket activation, and the quickstart that leaves a running
//! berthd behind a docker context. systemd is not PID 1 on the CI machine: the units are checked
//! with `systemd-analyze verify` and socket activation with `systemd-socket-activate`, not started
//! by systemd itself.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berthd"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The helpers and the berth CLI next to berthd (a no-op when fresh).
fn ensure_binaries() {
    common::ensure_helpers(&bin_dir());
    let st = Command::new(env!("CARGO"))
        .args(["build", "-p", "berth"])
        .env("CARGO_TARGET_DIR", bin_dir().parent().unwrap())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(st.success(), "building the berth CLI failed");
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("run");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn group_exists(name: &str) -> bool {
    nix::unistd::Group::from_name(name).ok().flatten().is_some()
}

fn package_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "berth"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

const FILES: &[&str] = &[
    "/usr/bin/berthd",
    "/usr/bin/berth-runtime",
    "/usr/bin/berth-shim",
    "/usr/bin/berth-init",
    "/usr/bin/berth",
    "/lib/systemd/system/berthd.socket",
    "/lib/systemd/system/berthd.service",
    "/usr/share/bash-completion/completions/berth",
    "/usr/share/zsh/vendor-completions/_berth",
    "/usr/share/fish/vendor_completions.d/berth.fish",
    "/usr/share/man/man1/berth.1.gz",
    "/usr/share/man/man1/berth-run.1.gz",
    "/usr/share/man/man8/berthd.8.gz",
];

/// The links enabling the units at boot.
const WANTS: &[&str] = &[
    "/etc/systemd/system/sockets.target.wants/berthd.socket",
    "/etc/systemd/system/multi-user.target.wants/berthd.service",
];

#[test]
fn deb_installs_units_and_uninstalls_cleanly() {
    skip_unless_ready!("deb_installs_units_and_uninstalls_cleanly");
    for tool in [
        "dpkg-deb",
        "strip",
        "systemd-analyze",
        "systemd-socket-activate",
    ] {
        if !Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            println!("skipped: deb_installs_units_and_uninstalls_cleanly: {tool} is missing");
            return;
        }
    }
    if package_installed() {
        println!("skipped: deb_installs_units_and_uninstalls_cleanly: a berth package is already installed here");
        return;
    }
    ensure_binaries();
    let out = tempfile::Builder::new()
        .prefix("berth-deb-")
        .tempdir()
        .unwrap();
    // apt reads the .deb as its sandbox user: the directory must be open to it.
    std::fs::set_permissions(
        out.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let o = run(Command::new("bash")
        .arg(repo().join("scripts/build-deb.sh"))
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--out")
        .arg(out.path()));
    let deb = PathBuf::from(stdout(&o).trim());
    assert!(deb.is_file(), "{deb:?}");

    let fields = stdout(&run(Command::new("dpkg-deb").arg("-f").arg(&deb)));
    for dep in ["libseccomp2", "iptables", "libc6"] {
        assert!(fields.contains(dep), "Depends lacks {dep}:\n{fields}");
    }
    let listing = stdout(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    for f in FILES {
        assert!(
            listing.contains(&format!(".{f}")),
            "{f} not in the package:\n{listing}"
        );
    }

    let had_group = group_exists("berth");
    // apt resolves the Depends (simulated: apt 2.6 run from the test harness fails a real
    // local install with "Pathname to install is not absolute", while the same command from a
    // shell works), then dpkg -i installs it.
    let sim = Command::new("apt-get")
        .args(["install", "-s", "-o", "DPkg::Lock::Timeout=120"])
        .arg(&deb)
        .output()
        .unwrap();
    let plan = stdout(&sim);
    assert!(
        sim.status.success() && plan.contains("Inst berth ") && plan.contains("Conf berth "),
        "apt-get install -s: {plan}{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let o = Command::new("dpkg").arg("-i").arg(&deb).output().unwrap();
    let installed = o.status.success();
    let cleanup = || {
        let _ = Command::new("dpkg").args(["--purge", "berth"]).output();
        if !had_group {
            let _ = Command::new("groupdel").arg("berth").output();
        }
    };
    if !installed {
        cleanup();
        panic!(
            "dpkg -i {deb:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let result = std::panic::catch_unwind(|| check_installed(out.path()));
    // `dpkg -r`: every file goes; the group stays, as docker.io leaves its group.
    let removed = Command::new("dpkg").args(["-r", "berth"]).output().unwrap();
    let left: Vec<&&str> = FILES.iter().filter(|f| Path::new(f).exists()).collect();
    let wants_left: Vec<&&str> = WANTS
        .iter()
        .filter(|w| Path::new(w).symlink_metadata().is_ok())
        .collect();
    cleanup();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    assert!(removed.status.success(), "dpkg -r: {removed:?}");
    assert!(left.is_empty(), "left after dpkg -r: {left:?}");
    assert!(
        wants_left.is_empty(),
        "enable links left behind: {wants_left:?}"
    );
}

fn check_installed(tmp: &Path) {
    for f in FILES {
        assert!(Path::new(f).exists(), "{f} was not installed");
    }
    // The installed units as systemd reads them (systemd itself is not PID 1 here, so they are
    // verified, not started).
    let o = Command::new("systemd-analyze")
        .args([
            "verify",
            "--man=no",
            "/lib/systemd/system/berthd.socket",
            "/lib/systemd/system/berthd.service",
        ])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let bad: Vec<&str> = said.lines().filter(|l| l.contains("berthd.s")).collect();
    assert!(
        o.status.success() && bad.is_empty(),
        "systemd-analyze verify: {said}"
    );
    assert!(
        group_exists("berth"),
        "postinst did not create the berth group"
    );
    let gid = nix::unistd::Group::from_name("berth").unwrap().unwrap().gid;
    for w in WANTS {
        assert!(
            Path::new(w).symlink_metadata().is_ok(),
            "not enabled: {w} is missing"
        );
    }
    // The installed daemon checks its configuration (none given: the defaults).
    let o = Command::new("/usr/bin/berthd")
        .arg("--validate")
        .output()
        .unwrap();
    if !Path::new("/etc/berth/daemon.json").exists() {
        assert_eq!(stdout(&o).trim(), "configuration OK", "{o:?}");
    }
    let comp = stdout(&run(
        Command::new("/usr/bin/berth").args(["completion", "bash"])
    ));
    assert!(
        comp.contains("berth") && comp.contains("complete"),
        "{comp}"
    );
    let man = run(Command::new("sh").args(["-c", "zcat /usr/share/man/man8/berthd.8.gz"]));
    assert!(
        stdout(&man).contains("shutdown\\-timeout"),
        "berthd.8 lacks the flags"
    );

    // The unit's own command line under socket activation, with the installed binaries: the
    // socket is made by the activator (as berthd.socket makes it), berthd serves on it.
    let sock = tmp.join("act.sock");
    let data = tmp.join("data");
    let mut child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&sock)
        .args([
            "/usr/bin/berthd",
            "-H",
            "fd://",
            "--bridge",
            "none",
            "--group",
            "berth",
        ])
        .arg("--data-root")
        .arg(&data)
        .arg("--exec-root")
        .arg(tmp.join("exec"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.join("act.log")).unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !sock.exists() {
        assert!(t.elapsed() < Duration::from_secs(10), "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let docker = Command::new(common::docker_cli().unwrap())
        .args(["version", "--format", "{{.Server.Os}}"])
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("DOCKER_CONFIG", tmp.join("dc"))
        .output()
        .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGTERM,
    );
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(tmp.join("act.log")).unwrap_or_default();
    assert_eq!(stdout(&docker).trim(), "linux", "{docker:?}\n{log}");
    assert!(
        status.success(),
        "berthd under socket activation: {status}\n{log}"
    );

    // Sockets berthd makes itself go to the berth group (members need no sudo).
    let mut d = std::process::Command::new("/usr/bin/berthd")
        .arg("-H")
        .arg(format!("unix://{}", tmp.join("own.sock").display()))
        .args(["--bridge", "none"])
        .arg("--data-root")
        .arg(&data)
        .arg("--exec-root")
        .arg(tmp.join("exec"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::os::unix::net::UnixStream::connect(tmp.join("own.sock")).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "berthd did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let meta = std::fs::metadata(tmp.join("own.sock")).unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.id() as i32),
        nix::sys::signal::SIGTERM,
    );
    let _ = d.wait();
    assert_eq!(meta.gid(), gid.as_raw(), "socket group");
    assert_eq!(meta.mode() & 0o777, 0o660, "socket mode");
}
