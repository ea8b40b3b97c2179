//! Logging as runc does it: `--log FILE` and `--log-format text|json`.
//! Engines (containerd's shim, conmon) read the last error from that file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::OnceLock;

struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Set up logging; without a file, messages go to stderr.
pub fn init(path: Option<&str>, json: bool, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) if !p.is_empty() => Some(OpenOptions::new().create(true).append(true).open(p)?),
        _ => None,
    };
    let _ = LOGGER.set(Logger { file, json, debug });
    Ok(())
}

fn write(level: &str, msg: &str) {
    let Some(logger) = LOGGER.get() else {
        eprintln!("{level}: {msg}");
        return;
    };
    let time = crate::state::now_rfc3339();
    let line = if logger.json {
        format!(
            "{}\n",
            serde_json::json!({"level": level, "msg": msg, "time": time})
        )
    } else {
        format!("time=\"{time}\" level={level} msg={msg:?}\n")
    };
    match &logger.file {
        Some(f) => {
            let mut f = f;
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Record an error. It reaches stderr too, since that is what a person sees, unless a JSON log
/// file takes it: then an engine reads the error from there, and stderr is the container's own
/// (a shim's pipe), where the line would show up in `docker run` and `docker logs` besides the
/// engine's message.
pub fn error(msg: &str) {
    if let Some(logger) = LOGGER.get() {
        if logger.file.is_some() {
            write("error", msg);
            if logger.json {
                return;
            }
        }
    }
    // One write, so whoever reads the pipe (berthd's exec) gets the line whole.
    let line = format!("berth-runtime: {msg}\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    if debug_enabled() {
        write("debug", msg);
    }
}

/// Whether `--debug` is on (so callers skip formatting otherwise).
pub fn debug_enabled() -> bool {
    LOGGER.get().is_some_and(|l| l.debug)
}

/// `log_debug!("fmt", args)`: a `level=debug` line with `--debug`; without
/// it nothing is formatted (the hot path of create and start stays as it is).
#[macro_export]
macro_rules! log_debug {
    ($($arg:tt)*) => {
        if $crate::log::debug_enabled() {
            $crate::log::debug(&format!($($arg)*));
        }
    };
}
