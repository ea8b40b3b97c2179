//! Checks of `linux.resources` that need no cgroup I/O.
//!
//! Owns: rejecting a spec before `set` writes anything, so an invalid
//! value never leaves a half-applied configuration behind. The back ends
//! call [`check`] first; errors found only by the kernel still surface from
//! the individual writes.

use oci_spec::runtime::LinuxResources;

use crate::convert::memory_swap_to_v2;
use crate::devices::rules_from_oci;
use crate::error::{Error, Result};
use crate::layout::CgroupVersion;
use crate::stats::is_page_size;

pub(crate) fn check(r: &LinuxResources, version: CgroupVersion) -> Result<()> {
    if let Some(list) = r.devices() {
        rules_from_oci(list)?;
    }
    if let Some(m) = r.memory() {
        if let Some(s) = m.swappiness().filter(|s| *s > 100) {
            return Err(Error::invalid(
                "memory.swappiness",
                format!("{s} is outside 0-100"),
            ));
        }
        if version == CgroupVersion::V2 {
            memory_swap_to_v2(m.swap().unwrap_or(0), m.limit().unwrap_or(0))?;
        }
    }
    for l in r.hugepage_limits().iter().flatten() {
        if !is_page_size(l.page_size()) {
            return Err(Error::invalid(
                "hugepageLimits.pageSize",
                format!("{:?} is not a page size like 2MB", l.page_size()),
            ));
        }
    }
    if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
        if version == CgroupVersion::V1 {
            return Err(Error::unsupported(
                "linux.resources.unified",
                version.name(),
            ));
        }
        for k in u.keys() {
            if k.is_empty() || k.contains('/') || k.starts_with('.') {
                return Err(Error::invalid(
                    "unified",
                    format!("key {k:?} is not a file name"),
                ));
            }
            if matches!(
                k.as_str(),
                "cgroup.procs" | "cgroup.threads" | "cgroup.subtree_control"
            ) {
                return Err(Error::invalid(
                    "unified",
                    format!("key {k:?} may not be set"),
                ));
            }
        }
    }
    if version == CgroupVersion::V2 {
        if let Some(c) = r.cpu() {
            if c.realtime_period().is_some_and(|v| v != 0)
                || c.realtime_runtime().is_some_and(|v| v != 0)
            {
                return Err(Error::unsupported(
                    "cpu.realtimePeriod/realtimeRuntime",
                    version.name(),
                ));
            }
        }
        if let Some(n) = r.network() {
            if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                return Err(Error::unsupported(
                    "network classID/priorities",
                    version.name(),
                ));
            }
        }
    }
    Ok(())
}
