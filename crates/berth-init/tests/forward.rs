//! berth-init as `docker run --init` runs it: signals it gets reach the command.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A real-time signal (SIGRTMIN+3, systemd's stop signal) is forwarded like SIGTERM: the command's
/// trap runs and its exit code is init's. Before, berth-init dropped it and the command never saw it.
#[test]
fn a_real_time_signal_reaches_the_command() {
    let mut init = Command::new(env!("CARGO_BIN_EXE_berth-init"))
        .args(["--", "sh", "-c"])
        .arg("trap 'exit 7' 37; echo ready; while :; do sleep 0.1; done")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start berth-init");
    let mut line = String::new();
    BufReader::new(init.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let pid = nix::unistd::Pid::from_raw(init.id() as i32);
    berth_sys::signal::kill(pid, berth_sys::SigNum::new(37)).unwrap();
    // A dropped signal leaves the loop running: end it rather than hang the test.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = init.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = init.kill();
            let _ = init.wait();
            panic!("berth-init and the command still run after SIGRTMIN+3");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(7), "{status:?}");
}
