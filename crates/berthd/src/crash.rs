//! Fault injection for the crash tests: with `BERTHD_CRASH_AT=<step>` in its environment, berthd
//! SIGKILLs itself when it reaches that step (no destructor, no flush: what `kill -9` at that instant
//! would leave). Steps are named `<operation>:<point>` where they are called (`start:shim`,
//! `rm:files`, ...). Without the variable a step costs one comparison. `BERTHD_PAUSE_AT=<step>:<ms>`
//! holds the thread that reaches the step that long instead (for the tests of what others see in
//! the middle of an operation: a window that is microseconds wide otherwise).

use std::sync::OnceLock;

/// Die here if the environment asks for it.
pub fn point(step: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| {
        std::env::var("BERTHD_CRASH_AT")
            .ok()
            .filter(|s| !s.is_empty())
    });
    if at.as_deref() == Some(step) {
        crate::log!(3, "BERTHD_CRASH_AT={step}: killing myself");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    static PAUSE: OnceLock<Option<(String, u64)>> = OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        let v = std::env::var("BERTHD_PAUSE_AT").ok()?;
        let (s, ms) = v.rsplit_once(':')?;
        Some((s.to_string(), ms.parse().ok()?))
    });
    if let Some((s, ms)) = pause {
        if s == step {
            crate::log!(3, "BERTHD_PAUSE_AT={step}: pausing {ms} ms");
            std::thread::sleep(std::time::Duration::from_millis(*ms));
        }
    }
}
