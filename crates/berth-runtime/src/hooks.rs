//! Running OCI hooks: the program with its args and env, the container state
//! as JSON on stdin, killed when its timeout passes.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Spec};

use crate::error::{Error, Result};

/// Whether the config has a hook that runs while init is set up (prestart,
/// createRuntime, createContainer): only then do init and the runtime stop
/// at `HooksReady` for them. Both sides ask the same config.
pub fn during_create(spec: &Spec) -> bool {
    spec.hooks().as_ref().is_some_and(|h| {
        #[allow(deprecated)]
        let prestart = h.prestart();
        [prestart, h.create_runtime(), h.create_container()]
            .iter()
            .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()))
    })
}

/// Run `hooks` in order; the first failure stops the list and is returned.
pub fn run_all(kind: &str, hooks: Option<&Vec<Hook>>, state_json: &str) -> Result<()> {
    for (i, hook) in hooks.into_iter().flatten().enumerate() {
        run_one(hook, state_json).map_err(|e| {
            // "error running hook" is runc's wording, which callers grep.
            Error::Hook(format!(
                "{kind} hook #{i} ({}): error running hook: {e}",
                hook.path().display()
            ))
        })?;
    }
    Ok(())
}

/// Run every hook even when some fail (poststart, poststop: the spec says to
/// warn and go on); failures are logged.
pub fn run_all_warn(kind: &str, hooks: Option<&Vec<Hook>>, state_json: &str) {
    for (i, hook) in hooks.into_iter().flatten().enumerate() {
        if let Err(e) = run_one(hook, state_json) {
            crate::log::warn(&format!(
                "{kind} hook #{i} ({}) failed: {e}",
                hook.path().display()
            ));
        }
    }
}

fn run_one(hook: &Hook, state_json: &str) -> std::result::Result<(), String> {
    let mut cmd = Command::new(hook.path());
    match hook.args() {
        // args[0] is the program's own name, as in execve.
        Some(args) if !args.is_empty() => {
            use std::os::unix::process::CommandExt;
            cmd.arg0(&args[0]).args(&args[1..]);
        }
        _ => {}
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    // Drain the hook's output as it comes, so a chatty hook never blocks on
    // a full pipe; the end of stderr is kept for the error message.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(mut p) = pipe {
                let mut buf = [0u8; 8192];
                while let Ok(n) = p.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 4096 {
                        kept.drain(..kept.len() - 4096);
                    }
                }
            }
            kept
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not make us fail.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if let Some(t) = timeout {
            if start.elapsed() >= t {
                let _ = child.kill();
                let _ = child.wait();
                // The output threads end once the hook (and anything it left
                // holding the pipes) is gone; they are not waited for.
                return Err(format!("timed out after {}s", t.as_secs()));
            }
        }
        std::thread::sleep(Duration::from_millis(
            (start.elapsed().as_millis() as u64 / 10).clamp(1, 20),
        ));
    };
    let _ = out.join();
    let stderr = err
        .join()
        .map(|e| String::from_utf8_lossy(&e).trim().to_string())
        .unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let mut msg = match status.code() {
        Some(c) => format!("exited with status {c}"),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let sig = status.signal().unwrap_or(0);
            format!("killed by signal {sig}: {}", signal_text(sig))
        }
    };
    if !stderr.is_empty() {
        msg.push_str(&format!(": {stderr}"));
    }
    Err(msg)
}

/// What a signal means, in the words of Go's and libc's signal tables
/// (runc's hook errors say "signal: bad system call").
fn signal_text(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "hangup",
        libc::SIGINT => "interrupt",
        libc::SIGQUIT => "quit",
        libc::SIGILL => "illegal instruction",
        libc::SIGTRAP => "trace/breakpoint trap",
        libc::SIGABRT => "aborted",
        libc::SIGBUS => "bus error",
        libc::SIGFPE => "floating point exception",
        libc::SIGKILL => "killed",
        libc::SIGSEGV => "segmentation fault",
        libc::SIGPIPE => "broken pipe",
        libc::SIGALRM => "alarm clock",
        libc::SIGTERM => "terminated",
        libc::SIGXCPU => "CPU time limit exceeded",
        libc::SIGXFSZ => "file size limit exceeded",
        libc::SIGSYS => "bad system call",
        _ => "other signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, timeout: Option<i64>) -> Hook {
        let mut h = Hook::default();
        h.set_path("/bin/sh".into());
        h.set_args(Some(vec!["sh".into(), "-c".into(), script.into()]));
        h.set_timeout(timeout);
        h
    }

    #[test]
    fn hook_gets_state_on_stdin_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut h = hook(
            &format!(
                "cat > {}; echo \"$FOO\" >> {}",
                out.display(),
                out.display()
            ),
            None,
        );
        h.set_env(Some(vec!["FOO=bar".into()]));
        run_all("prestart", Some(&vec![h]), "{\"id\":\"x\"}").unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), "{\"id\":\"x\"}bar\n");
    }

    #[test]
    fn failing_hook_is_named_and_stops_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("second");
        let hooks = vec![
            hook("echo broken >&2; exit 3", None),
            hook(&format!("touch {}", marker.display()), None),
        ];
        let err = run_all("createRuntime", Some(&hooks), "{}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("createRuntime hook #0")
                && err.contains("status 3")
                && err.contains("broken"),
            "{err}"
        );
        assert!(!marker.exists());
    }

    #[test]
    fn chatty_hook_does_not_block() {
        run_all(
            "prestart",
            Some(&vec![hook(
                "head -c 1000000 /dev/zero; head -c 300000 /dev/zero >&2",
                Some(10),
            )]),
            "{}",
        )
        .unwrap();
    }

    #[test]
    fn hook_timeout_kills() {
        let err = run_all("prestart", Some(&vec![hook("sleep 5", Some(1))]), "{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("timed out"), "{err}");
    }
}
