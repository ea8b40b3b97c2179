//! Behaviour tests: load real filters and watch what syscalls do.
//!
//! A loaded filter cannot be removed, so every scenario runs in a fresh copy
//! of this binary, re-executed with `BERTH_SECCOMP_SCENARIO=<name>`. This
//! test has its own `main` (no libtest harness) so that the child is
//! single-threaded: `unshare(CLONE_NEWNS)` only works there, and the filter
//! then covers the whole process. The child sets no_new_privs, compiles and
//! loads the scenario's filter, runs probes and prints `probe=ok` or
//! `probe=<errno>` lines; the parent compares them with expectations.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_seccomp::{
    compile, container_process_state, default_profile, docker_to_oci, native_arch,
    receive_listener_fd, send_listener_fd, DOCKER_DEFAULT_CAPS,
};
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::personality::{self, Persona};
use nix::sys::stat::Mode;
use oci_spec::runtime::{ContainerState, LinuxSeccomp, State};
use serde_json::json;

const SCENARIO_ENV: &str = "BERTH_SECCOMP_SCENARIO";
const DIR_ENV: &str = "BERTH_SECCOMP_DIR";
const TIMEOUT: Duration = Duration::from_secs(30);
const NOTIFY_VALUE: i64 = 4242;

fn main() {
    match std::env::var(SCENARIO_ENV) {
        Ok(name) => child(&name, Path::new(&std::env::var(DIR_ENV).expect(DIR_ENV))),
        Err(_) => parent(),
    }
}

// ---------------------------------------------------------------- child side

fn docker_default(extra_cap: Option<&str>, default_errno: Option<u32>) -> LinuxSeccomp {
    let mut caps: Vec<String> = DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    caps.extend(extra_cap.map(str::to_owned));
    let mut profile = default_profile();
    profile.default_errno_ret = default_errno;
    docker_to_oci(&profile, &caps, native_arch()).expect("convert default profile")
}

fn spec_for(name: &str, dir: &Path) -> LinuxSeccomp {
    let value = match name {
        "docker_default" => return docker_default(None, None),
        "docker_sys_admin" => return docker_default(Some("CAP_SYS_ADMIN"), None),
        "default_errno" => return docker_default(None, Some(95)),
        "errno38" => json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        }),
        "args" => json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
                 "args": [{"index": 0, "value": 0x0040000, "op": "SCMP_CMP_EQ"}]},
                {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 78,
                 "args": [{"index": 0, "value": 0x40000000, "valueTwo": 0x40000000,
                           "op": "SCMP_CMP_MASKED_EQ"}]},
                // Same argument twice: either value matches.
                {"names": ["fchmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 79,
                 "args": [{"index": 1, "value": 0o600, "op": "SCMP_CMP_EQ"},
                          {"index": 1, "value": 0o640, "op": "SCMP_CMP_EQ"}]},
                // Different arguments: both must match.
                {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": 80,
                 "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                          {"index": 2, "value": 2, "op": "SCMP_CMP_EQ"}]}
            ]
        }),
        "kill_process" => json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_KILL_PROCESS"}]
        }),
        "notify" => json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": dir.join("agent.sock"),
            "listenerMetadata": "berth-test",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
        }),
        other => panic!("unknown scenario {other}"),
    };
    serde_json::from_value(value).expect("scenario spec")
}

fn show<T>(result: nix::Result<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => (e as i32).to_string(),
    }
}

fn show_io<T>(result: std::io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.raw_os_error().unwrap_or(-1).to_string(),
    }
}

fn probe(name: &str, result: String) {
    println!("{name}={result}");
}

fn child(scenario: &str, dir: &Path) {
    nix::sys::prctl::set_no_new_privs().expect("set no_new_privs");
    let filter = compile(&spec_for(scenario, dir)).expect("compile");
    let listener = filter.listener_path().map(Path::to_path_buf);
    let metadata = filter.listener_metadata().map(str::to_owned);
    let notify = filter.load().expect("load");
    probe(
        "notify_fd",
        if notify.is_some() { "yes" } else { "no" }.to_owned(),
    );

    let file_path = dir.join(format!("{scenario}.txt"));
    let file = std::fs::File::create(&file_path);
    let created = match &file {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.raw_os_error().unwrap_or(-1).to_string(),
    };
    probe("create_file", created);
    probe("stat_root", show(nix::sys::stat::stat("/")));

    match scenario {
        "docker_default" | "default_errno" => {
            probe("getcwd", show(nix::unistd::getcwd()));
            probe(
                "spawn_true",
                show_io(Command::new("true").status().map(exit_ok)),
            );
            probe("personality_query", show(personality::get()));
            probe(
                "personality_linux32",
                show(personality::set(Persona::from_bits_retain(8))),
            );
            probe(
                "personality_linux",
                show(personality::set(Persona::empty())),
            );
            probe(
                "personality_addr_no_randomize",
                show(personality::set(Persona::ADDR_NO_RANDOMIZE)),
            );
            probe("unshare_newns", show(unshare(CloneFlags::CLONE_NEWNS)));
            probe("unshare_newuts", show(unshare(CloneFlags::CLONE_NEWUTS)));
            probe("mount_tmpfs", show(mount_tmpfs(dir)));
        }
        "docker_sys_admin" => {
            probe("unshare_newns", show(unshare(CloneFlags::CLONE_NEWNS)));
            // Private first, so that nothing propagates back to the host.
            probe("make_private", show(make_root_private()));
            probe("mount_tmpfs", show(mount_tmpfs(dir)));
        }
        "errno38" => probe("getcwd", show(nix::unistd::getcwd())),
        "args" => {
            probe("personality_query", show(personality::get()));
            probe(
                "personality_addr_no_randomize",
                show(personality::set(Persona::ADDR_NO_RANDOMIZE)),
            );
            probe(
                "personality_linux",
                show(personality::set(Persona::empty())),
            );
            probe("unshare_newnet", show(unshare(CloneFlags::CLONE_NEWNET)));
            probe("unshare_newuts", show(unshare(CloneFlags::CLONE_NEWUTS)));
            let file = file.expect("file");
            let fd = file.as_raw_fd();
            for (name, mode) in [
                ("fchmod_600", 0o600),
                ("fchmod_640", 0o640),
                ("fchmod_644", 0o644),
            ] {
                probe(
                    name,
                    show(nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(mode))),
                );
            }
            use nix::unistd::{lseek, Whence};
            probe("lseek_end_0", show(lseek(fd, 0, Whence::SeekEnd)));
            probe("lseek_set_0", show(lseek(fd, 0, Whence::SeekSet)));
            probe("lseek_end_1", show(lseek(fd, 1, Whence::SeekEnd)));
        }
        "kill_process" => {
            probe("before_kill", "ok".to_owned());
            probe("getcwd", show(nix::unistd::getcwd()));
        }
        "notify" => {
            let notify = notify.expect("notify fd");
            let mut state = State::default();
            state
                .set_version(oci_spec::runtime::VERSION.to_owned())
                .set_id("notify-test".to_owned())
                .set_status(ContainerState::Creating)
                .set_pid(Some(std::process::id() as i32))
                .set_bundle(dir.to_path_buf());
            let process_state = container_process_state(state, std::process::id() as i32, metadata);
            let sent = send_listener_fd(
                &listener.expect("listener"),
                notify.as_raw_fd(),
                &process_state,
            );
            probe(
                "send_listener",
                sent.map_or_else(|e| e.to_string(), |_| "ok".to_owned()),
            );
            // The agent answers this one with NOTIFY_VALUE.
            probe("getppid", nix::unistd::getppid().to_string());
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn exit_ok(status: ExitStatus) -> bool {
    status.success()
}

fn mount_tmpfs(dir: &Path) -> nix::Result<()> {
    let target = dir.join("mnt");
    let _ = std::fs::create_dir(&target);
    nix::mount::mount(
        Some("tmpfs"),
        &target,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
}

fn make_root_private() -> nix::Result<()> {
    use nix::mount::MsFlags;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

// --------------------------------------------------------------- parent side

struct Outcome {
    status: ExitStatus,
    probes: BTreeMap<String, String>,
    stderr: String,
}

fn run_child(scenario: &str, dir: &Path) -> Outcome {
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .env(SCENARIO_ENV, scenario)
        .env(DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("child output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let probes = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Outcome {
        status: output.status,
        probes,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Checks `expected` probe results; returns a description of mismatches.
fn check(
    outcome: &Outcome,
    expected: &[(&str, &str)],
    want_exit: Option<i32>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    for (probe, want) in expected {
        let got = outcome
            .probes
            .get(*probe)
            .map_or("<missing>", String::as_str);
        if got != *want {
            problems.push(format!("{probe}: want {want}, got {got}"));
        }
    }
    if let Some(code) = want_exit {
        if outcome.status.code() != Some(code) {
            problems.push(format!(
                "exit status {:?}, want code {code}",
                outcome.status
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\nchild stderr:\n{}",
            problems.join("\n"),
            outcome.stderr
        ))
    }
}

fn scenario_checks(dir: &Path, root: bool) -> Vec<(&'static str, Result<(), String>)> {
    let eperm = "1";
    let mut results = Vec::new();

    let docker = run_child("docker_default", dir);
    results.push((
        "docker default profile: ordinary syscalls work, unshare and mount get EPERM",
        check(
            &docker,
            &[
                ("notify_fd", "no"),
                ("create_file", "ok"),
                ("stat_root", "ok"),
                ("getcwd", "ok"),
                ("spawn_true", "ok"),
                ("personality_query", "ok"),
                ("personality_linux32", "ok"),
                ("personality_linux", "ok"),
                ("personality_addr_no_randomize", eperm),
                ("unshare_newns", eperm),
                ("unshare_newuts", eperm),
                ("mount_tmpfs", eperm),
            ],
            Some(0),
        ),
    ));

    if root {
        let admin = run_child("docker_sys_admin", dir);
        results.push((
            "docker profile with CAP_SYS_ADMIN: unshare and mount allowed (root)",
            check(
                &admin,
                &[
                    ("unshare_newns", "ok"),
                    ("make_private", "ok"),
                    ("mount_tmpfs", "ok"),
                ],
                Some(0),
            ),
        ));
    }

    let errno = run_child("default_errno", dir);
    results.push((
        "defaultErrnoRet 95 is returned for syscalls no rule allows",
        check(
            &errno,
            &[
                ("getcwd", "ok"),
                ("unshare_newns", "95"),
                ("mount_tmpfs", "95"),
            ],
            Some(0),
        ),
    ));

    let e38 = run_child("errno38", dir);
    results.push((
        "SCMP_ACT_ERRNO with errnoRet 38 returns ENOSYS",
        check(&e38, &[("stat_root", "ok"), ("getcwd", "38")], Some(0)),
    ));

    let args = run_child("args", dir);
    let uts = if root { "ok" } else { eperm };
    results.push((
        "argument conditions: EQ, MASKED_EQ, same-index OR, cross-index AND",
        check(
            &args,
            &[
                ("personality_query", "ok"),
                ("personality_addr_no_randomize", "77"),
                ("personality_linux", "ok"),
                ("unshare_newnet", "78"),
                ("unshare_newuts", uts),
                ("fchmod_600", "79"),
                ("fchmod_640", "79"),
                ("fchmod_644", "ok"),
                ("lseek_end_0", "80"),
                ("lseek_set_0", "ok"),
                ("lseek_end_1", "ok"),
            ],
            Some(0),
        ),
    ));

    let kill = run_child("kill_process", dir);
    let killed = check(&kill, &[("before_kill", "ok")], None).and_then(|()| {
        match (kill.status.signal(), kill.probes.get("getcwd")) {
            (Some(sig), None) if sig == nix::libc::SIGSYS => Ok(()),
            (sig, got) => Err(format!(
                "want death by SIGSYS, got signal {sig:?}, getcwd {got:?}"
            )),
        }
    });
    results.push((
        "SCMP_ACT_KILL_PROCESS kills the process with SIGSYS",
        killed,
    ));

    results.push((
        "SCMP_ACT_NOTIFY yields a listener that reaches the agent at listenerPath",
        notify_scenario(dir),
    ));
    results
}

/// Plays the seccomp agent: receives the listener and answers `getppid`.
fn notify_scenario(dir: &Path) -> Result<(), String> {
    let socket = dir.join("agent.sock");
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).map_err(|e| format!("bind: {e}"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = (|| -> Result<String, String> {
            let (mut conn, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
            let (state, fd) = receive_listener_fd(&mut conn).map_err(|e| e.to_string())?;
            let req = ScmpNotifReq::receive(fd.as_raw_fd()).map_err(|e| format!("recv: {e}"))?;
            let name = req.data.syscall.get_name().unwrap_or_default();
            ScmpNotifResp::new_val(req.id, NOTIFY_VALUE, ScmpNotifRespFlags::empty())
                .respond(fd.as_raw_fd())
                .map_err(|e| format!("respond: {e}"))?;
            Ok(format!(
                "{}|{}|{}|{}",
                state.fds().join(","),
                state.metadata().clone().unwrap_or_default(),
                state.state().id(),
                name
            ))
        })();
        let _ = tx.send(result);
    });
    let outcome = run_child("notify", dir);
    let agent = rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| format!("agent got nothing; child stderr:\n{}", outcome.stderr))??;
    if agent != "seccompFd|berth-test|notify-test|getppid" {
        return Err(format!("agent saw {agent:?}"));
    }
    check(
        &outcome,
        &[
            ("notify_fd", "yes"),
            ("send_listener", "ok"),
            ("getppid", &NOTIFY_VALUE.to_string()),
        ],
        Some(0),
    )
}

fn parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path: PathBuf = dir.path().to_path_buf();
    let root = nix::unistd::geteuid().is_root();
    let results = scenario_checks(&dir_path, root);

    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                failed += 1;
                println!("test {name} ... FAILED\n{why}\n");
            }
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
