//! Minimal leveled logging to stderr (`--log-level`).

use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(1);

/// The level of one of dockerd's names.
pub fn level_of(s: &str) -> Result<u8, String> {
    match s {
        "debug" => Ok(0),
        "info" => Ok(1),
        "warn" => Ok(2),
        "error" | "fatal" => Ok(3),
        _ => Err(format!(
            "--log-level {s:?}: want debug, info, warn, error or fatal"
        )),
    }
}

/// Set the level from dockerd's names.
pub fn set_level(s: &str) -> anyhow::Result<()> {
    LEVEL.store(level_of(s).map_err(anyhow::Error::msg)?, Ordering::Relaxed);
    Ok(())
}

/// Whether messages of level `l` (0 debug .. 3 error) are printed.
pub fn enabled(l: u8) -> bool {
    l >= LEVEL.load(Ordering::Relaxed)
}

/// Log at a level: `log!(1, "started {id}")`.
#[macro_export]
macro_rules! log {
    ($lvl:expr, $($arg:tt)*) => {
        if $crate::logging::enabled($lvl) {
            eprintln!("{} berthd: {}", $crate::time::now_rfc3339_nano(), format!($($arg)*));
        }
    };
}
