//! The checks dockerd makes on a container's CPU and memory limits before it accepts them (at
//! create and at update), with its messages, so a bad value fails at once instead of at start.

use crate::error::{ApiError, ApiResult};

/// The limits a request asks for (0: unset).
#[derive(Debug, Default, Clone, Copy)]
pub struct Limits<'a> {
    pub memory: i64,
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub cpuset_cpus: &'a str,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Check `l` against each other and the host's `ncpu` CPUs (`online`: the host's online CPU list,
/// as /sys/devices/system/cpu/online has it).
pub fn check(l: &Limits, ncpu: usize, online: &str) -> ApiResult<()> {
    if l.memory_swap > 0 && l.memory == 0 {
        return Err(bad(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if l.memory > 0 && l.memory_swap > 0 && l.memory_swap < l.memory {
        return Err(bad(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if l.nano_cpus > 0 && l.cpu_period > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if l.nano_cpus > 0 && l.cpu_quota > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if l.nano_cpus < 0 || l.nano_cpus > ncpu as i64 * 1_000_000_000 {
        return Err(bad(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if l.cpu_period != 0 && !(1000..=1_000_000).contains(&l.cpu_period) {
        return Err(bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if l.cpu_quota > 0 && l.cpu_quota < 1000 {
        return Err(bad("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    if !l.cpuset_cpus.is_empty() {
        let wanted = cpu_list(l.cpuset_cpus)
            .ok_or_else(|| bad(format!("Invalid value {} for cpuset cpus", l.cpuset_cpus)))?;
        let have = cpu_list(online.trim()).unwrap_or_default();
        if wanted.iter().any(|c| !have.contains(c)) {
            return Err(bad(format!(
                "Requested CPUs are not available - requested {}, available: {}",
                l.cpuset_cpus,
                online.trim()
            )));
        }
    }
    Ok(())
}

/// The host's CPU count and online list.
pub fn host_cpus() -> (usize, String) {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .unwrap_or_else(|_| format!("0-{}", n.saturating_sub(1)));
    (n, online)
}

/// A cpuset list (`0-2,4`) as its CPU numbers; None when malformed.
fn cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = vec![];
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                if a > b || b - a > 65536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(l: Limits) -> String {
        check(&l, 2, "0-1\n").unwrap_err().to_string()
    }

    #[test]
    fn docker_s_checks() {
        assert!(check(&Limits::default(), 2, "0-1").is_ok());
        let ok = Limits {
            memory: 64 << 20,
            memory_swap: -1,
            nano_cpus: 2_000_000_000,
            cpuset_cpus: "0,1",
            ..Default::default()
        };
        assert!(check(&ok, 2, "0-1").is_ok());
        assert!(msg(Limits {
            nano_cpus: 99_000_000_000,
            ..Default::default()
        })
        .starts_with("Range of CPUs is from 0.01 to 2.00"));
        assert!(msg(Limits {
            memory: 64 << 20,
            memory_swap: 32 << 20,
            ..Default::default()
        })
        .starts_with("Minimum memoryswap limit"));
        assert!(msg(Limits {
            nano_cpus: 1,
            cpu_quota: 50000,
            ..Default::default()
        })
        .contains("CPU Quota cannot both be set"));
        assert_eq!(
            msg(Limits {
                cpuset_cpus: "7",
                ..Default::default()
            }),
            "Requested CPUs are not available - requested 7, available: 0-1"
        );
        assert!(msg(Limits {
            cpuset_cpus: "x",
            ..Default::default()
        })
        .contains("Invalid value x"));
    }
}
