//! cgroup v1 -> v2 value conversions, with the formulas runc uses.
//!
//! Owns: CPU shares -> `cpu.weight` (runc >= 1.3.2 quadratic-in-log fit),
//! blkio weight -> `io.weight`, memory+swap -> `memory.swap.max`, and the
//! "0 = unset, -1 = max" number formatting of cgroup v2 files.

use crate::error::{Error, Result};

/// Convert cgroup v1 `cpu.shares` ([2, 262144], default 1024) to cgroup v2
/// `cpu.weight` ([1, 10000], default 100). `0` means unset and stays `0`.
///
/// This is the mapping of runc >= 1.3.2 / crun >= 1.23, which maps the
/// minimum, default and maximum onto each other: with `l = log2(shares)`,
/// `weight = ceil(10 ^ ((l² + 125·l) / 612 − 7/34))`.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    10f64.powf(exponent).ceil() as u64
}

/// The older linear mapping (runc < 1.3.2): `1 + (shares − 2)·9999/262142`.
/// Kept for callers that must reproduce old behaviour.
pub fn cpu_shares_to_weight_linear(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// Convert a v1 blkio weight ([10, 1000]) to v2 `io.weight` ([1, 10000]):
/// `1 + (weight − 10)·9999/990`. `0` means unset and stays `0`.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.max(10));
    1 + (w - 10) * 9999 / 990
}

/// Convert the OCI `memory.swap` (memory + swap, v1 semantics) into the
/// value for v2 `memory.swap.max` (swap only), as runc does.
/// `memory` and `swap` use `0` for unset and `-1` for unlimited; the result
/// too.
pub fn memory_swap_to_v2(swap: i64, memory: i64) -> Result<i64> {
    // Unlimited memory with swap unset means "unlimited memory and swap".
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err(Error::invalid(
            "memory.swap",
            "a swap limit needs a memory limit on cgroup v2",
        ));
    }
    if memory < 0 {
        return Err(Error::invalid("memory.limit", format!("{memory}")));
    }
    if swap < memory {
        return Err(Error::invalid(
            "memory.swap",
            format!("memory+swap limit {swap} is below the memory limit {memory}"),
        ));
    }
    Ok(swap - memory)
}

/// Format a v2 number: `0` (unset) -> `None`, negative -> `"max"`.
pub(crate) fn v2_num(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".to_string()),
        v => Some(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_fixed_points() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(1), 1);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 100);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(1 << 20), 10_000);
        // Monotonic in between.
        let mut last = 0;
        for s in (2..262_144).step_by(97) {
            let w = cpu_shares_to_weight(s);
            assert!(w >= last && (1..=10_000).contains(&w), "{s} -> {w}");
            last = w;
        }
        assert_eq!(cpu_shares_to_weight(512), 59);
        assert_eq!(cpu_shares_to_weight(2048), 174);
    }

    #[test]
    fn shares_to_weight_linear() {
        assert_eq!(cpu_shares_to_weight_linear(1024), 39);
        assert_eq!(cpu_shares_to_weight_linear(2), 1);
        assert_eq!(cpu_shares_to_weight_linear(262_144), 10_000);
    }

    #[test]
    fn blkio_to_io_weight() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(memory_swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(memory_swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(memory_swap_to_v2(0, 100).unwrap(), 0);
        assert_eq!(memory_swap_to_v2(300, 100).unwrap(), 200);
        assert_eq!(memory_swap_to_v2(100, 100).unwrap(), 0);
        assert!(memory_swap_to_v2(50, 100).is_err());
        assert!(memory_swap_to_v2(50, 0).is_err());
    }

    #[test]
    fn v2_numbers() {
        assert_eq!(v2_num(0), None);
        assert_eq!(v2_num(-1).as_deref(), Some("max"));
        assert_eq!(v2_num(42).as_deref(), Some("42"));
    }
}
