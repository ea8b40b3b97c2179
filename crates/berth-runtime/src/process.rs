//! The container process's identity and limits: rlimits, user and groups,
//! capabilities, and finding the program to exec.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimit, Process};

use crate::error::{Context, Error, Result};

/// Apply `process.rlimits`.
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for (i, rl) in rlimits.iter().enumerate() {
        let name = rl.typ().to_string();
        let res = resource(&name).ok_or_else(|| {
            Error::Config(format!(
                "process.rlimits[{i}].type: unknown rlimit {name:?}"
            ))
        })?;
        setrlimit(res, rl.soft(), rl.hard()).with_ctx(|| {
            format!(
                "process.rlimits[{i}]: set {name} to soft {} hard {}",
                rl.soft(),
                rl.hard()
            )
        })?;
    }
    Ok(())
}

fn resource(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    })
}

fn cap_set(
    names: Option<&oci_spec::runtime::Capabilities>,
    field: &str,
) -> Result<Option<CapsHashSet>> {
    let Some(names) = names else { return Ok(None) };
    let mut out = CapsHashSet::new();
    for c in names {
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        match Capability::from_str(&name) {
            Ok(cap) => {
                out.insert(cap);
            }
            // A capability this kernel or library does not know: runc warns
            // and goes on, so containers written for newer kernels still run.
            Err(_) => crate::log::warn(&format!(
                "process.capabilities.{field}: unknown capability {name}, ignored"
            )),
        }
    }
    Ok(Some(out))
}

/// Capability sets resolved from the config, computed before anything changes.
pub struct CapPlan {
    bounding: Option<CapsHashSet>,
    effective: Option<CapsHashSet>,
    permitted: Option<CapsHashSet>,
    inheritable: Option<CapsHashSet>,
    ambient: Option<CapsHashSet>,
}

impl CapPlan {
    pub fn new(caps: Option<&LinuxCapabilities>) -> Result<Option<CapPlan>> {
        let Some(c) = caps else { return Ok(None) };
        Ok(Some(CapPlan {
            bounding: cap_set(c.bounding().as_ref(), "bounding")?,
            effective: cap_set(c.effective().as_ref(), "effective")?,
            permitted: cap_set(c.permitted().as_ref(), "permitted")?,
            inheritable: cap_set(c.inheritable().as_ref(), "inheritable")?,
            ambient: cap_set(c.ambient().as_ref(), "ambient")?,
        }))
    }

    /// Drop from the bounding set what the config leaves out (needs
    /// CAP_SETPCAP, so this runs before the user changes).
    pub fn apply_bounding(&self) -> Result<()> {
        let wanted = self.bounding.clone().unwrap_or_default();
        for cap in caps::all() {
            if !wanted.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| Error::Init(format!("drop {cap} from the bounding set: {e}")))?;
            }
        }
        Ok(())
    }

    /// Set effective, inheritable, permitted and ambient (after the user
    /// change, which kept the permitted set thanks to PR_SET_KEEPCAPS).
    pub fn apply_rest(&self) -> Result<()> {
        let empty = CapsHashSet::new();
        let eff = self.effective.as_ref().unwrap_or(&empty);
        let perm = self.permitted.as_ref().unwrap_or(&empty);
        let inh = self.inheritable.as_ref().unwrap_or(&empty);
        if let Some(extra) = eff.iter().find(|c| !perm.contains(c)) {
            return Err(Error::Config(format!(
                "process.capabilities.effective: {extra} is not in the permitted set"
            )));
        }
        let set = |which: CapSet, v: &CapsHashSet, name: &str| {
            caps::set(None, which, v)
                .map_err(|e| Error::Init(format!("set {name} capabilities: {e}")))
        };
        set(CapSet::Effective, eff, "effective")?;
        set(CapSet::Inheritable, inh, "inheritable")?;
        set(CapSet::Permitted, perm, "permitted")?;
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| Error::Init(format!("clear ambient capabilities: {e}")))?;
        for cap in self.ambient.iter().flatten() {
            // Ambient needs the capability in both permitted and inheritable;
            // runc skips the others silently.
            if perm.contains(cap) && inh.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap)
                    .map_err(|e| Error::Init(format!("raise ambient {cap}: {e}")))?;
            }
        }
        Ok(())
    }
}

/// Apply `process.ioPriority` and `process.scheduler`.
pub fn set_scheduling(process: &Process) -> Result<()> {
    use oci_spec::runtime::{IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy};
    if let Some(io) = process.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        if !(0..=7).contains(&io.priority()) {
            return Err(Error::Config(format!(
                "process.ioPriority.priority: {} is outside 0-7",
                io.priority()
            )));
        }
        berth_sys::set_io_priority(class, io.priority() as u32).with_ctx(|| {
            format!(
                "process.ioPriority: set class {class} level {}",
                io.priority()
            )
        })?;
    }
    if let Some(s) = process.scheduler() {
        let policy = match s.policy() {
            LinuxSchedulerPolicy::SchedOther => 0,
            LinuxSchedulerPolicy::SchedFifo => 1,
            LinuxSchedulerPolicy::SchedRr => 2,
            LinuxSchedulerPolicy::SchedBatch => 3,
            LinuxSchedulerPolicy::SchedIso => 4,
            LinuxSchedulerPolicy::SchedIdle => 5,
            LinuxSchedulerPolicy::SchedDeadline => 6,
        };
        let mut flags = 0u64;
        for f in s.flags().iter().flatten() {
            flags |= match f {
                LinuxSchedulerFlag::SchedResetOnFork => 0x01,
                LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
                LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
                LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
                LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
                LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
                LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
            };
        }
        let attr = berth_sys::SchedAttr {
            policy,
            flags,
            nice: s.nice().unwrap_or(0),
            priority: s.priority().unwrap_or(0) as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
            ..Default::default()
        };
        berth_sys::set_sched_attr(&attr)
            .with_ctx(|| format!("process.scheduler: set {:?}", s.policy()))?;
    }
    Ok(())
}

/// Apply `process.execCPUAffinity.final` (a cpu list such as "0-3,7").
pub fn set_cpu_affinity(process: &Process) -> Result<()> {
    let Some(list) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().clone())
    else {
        return Ok(());
    };
    let mut set = nix::sched::CpuSet::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let bad = || {
            Error::Config(format!(
                "process.execCPUAffinity.final: {list:?} is not a cpu list"
            ))
        };
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        for cpu in a..=b {
            set.set(cpu).map_err(|_| bad())?;
        }
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .with_ctx(|| format!("process.execCPUAffinity.final: set affinity {list}"))
}

/// Apply `linux.personality`.
pub fn set_personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<()> {
    use oci_spec::runtime::LinuxPersonalityDomain;
    let domain: libc::c_ulong = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    if let Some(flags) = p.flags() {
        if !flags.is_empty() {
            return Err(Error::Unsupported(format!(
                "linux.personality.flags {flags:?}: no flags are defined by the runtime-spec yet"
            )));
        }
    }
    berth_sys::set_personality(domain)
        .with_ctx(|| format!("linux.personality: set {:?}", p.domain()))
}

/// Become the configured user: groups, gid, uid. Capabilities survive via
/// PR_SET_KEEPCAPS and are then set by [`CapPlan::apply_rest`].
pub fn set_user(process: &Process, setgroups_allowed: bool) -> Result<()> {
    let user = process.user();
    let uid = Uid::from_raw(user.uid());
    let gid = Gid::from_raw(user.gid());
    if setgroups_allowed {
        // Each group once, as runc passes them (the kernel keeps duplicates).
        let mut groups: Vec<Gid> = Vec::new();
        for g in user.additional_gids().iter().flatten() {
            if !groups.contains(&Gid::from_raw(*g)) {
                groups.push(Gid::from_raw(*g));
            }
        }
        setgroups(&groups).ctx("setgroups (process.user.additionalGids)")?;
    }
    setresgid(gid, gid, gid).with_ctx(|| format!("setgid {} (process.user.gid)", user.gid()))?;
    setresuid(uid, uid, uid).with_ctx(|| format!("setuid {} (process.user.uid)", user.uid()))?;
    Ok(())
}

/// Find the program the way execvp would, with the container's PATH. The errors say what runc's
/// do (`stat PATH: no such file or directory`, `permission denied` for a directory or a file
/// without an execute bit, `executable file not found in $PATH`): the docker CLI picks its exit
/// code from those words (127 for the first and last, 126 for the second).
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let check = |p: &Path| -> std::result::Result<(), String> {
        match std::fs::metadata(p) {
            Err(e) => Err(format!("stat {}: {}", p.display(), errno_words(&e))),
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
            Ok(_) => Err("permission denied".to_string()),
        }
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match check(&p) {
            Ok(()) => Ok(p),
            Err(why) => Err(Error::Init(format!("exec: {arg0:?}: {why}"))),
        };
    }
    let path = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(arg0);
        if check(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(Error::Init(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

/// Enter process.cwd. The error is worded as runc's (`chdir to cwd ("/x") set in config.json
/// failed: no such file or directory`), which dockerd passes on to the client of a failed exec.
pub fn chdir_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).map_err(|e| {
        Error::Init(format!(
            "chdir to cwd ({:?}) set in config.json failed: {}",
            cwd.display().to_string(),
            errno_words(&std::io::Error::from(e))
        ))
    })
}

/// An I/O error as the C library words it, in lower case and without Rust's `(os error N)`:
/// `no such file or directory`.
fn errno_words(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}

/// The environment for exec, as runc sets it: a name given twice keeps its first place and its
/// last value, and HOME, when missing or empty, comes from /etc/passwd (or is `/`).
pub fn final_env(process: &Process) -> Vec<CString> {
    let mut env: Vec<String> = Vec::new();
    for kv in process.env().iter().flatten() {
        let name = kv.split_once('=').map_or(kv.as_str(), |(n, _)| n);
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == name)
        {
            Some(e) => e.clone_from(kv),
            None => env.push(kv.clone()),
        }
    }
    let home = |e: &String| e.strip_prefix("HOME=").map(str::is_empty);
    if !env.iter().any(|e| home(e) == Some(false)) {
        let value = format!(
            "HOME={}",
            home_of(process.user().uid()).unwrap_or_else(|| "/".into())
        );
        match env.iter_mut().find(|e| home(e) == Some(true)) {
            Some(e) => *e = value,
            None => env.push(value),
        }
    }
    env.into_iter()
        .filter_map(|kv| CString::new(kv).ok())
        .collect()
}

fn home_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keeps_the_last_value_of_a_name_and_fills_an_empty_home() {
        let p: Process = serde_json::from_value(serde_json::json!({
            "cwd": "/",
            "args": ["sh"],
            "user": {"uid": 4242, "gid": 0},
            "env": ["A=1", "HOME=", "B=x", "A=2"]
        }))
        .unwrap();
        let env: Vec<String> = final_env(&p)
            .into_iter()
            .map(|c| c.into_string().unwrap())
            .collect();
        // uid 4242 has no /etc/passwd line here: runc's default home.
        assert_eq!(env, ["A=2", "HOME=/", "B=x"]);
        let mut p = p;
        p.set_env(Some(vec!["HOME=/h".into(), "HOME=".into()]));
        let env: Vec<String> = final_env(&p)
            .into_iter()
            .map(|c| c.into_string().unwrap())
            .collect();
        assert_eq!(env, ["HOME=/"]);
    }

    #[test]
    fn executable_lookup_uses_path() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        assert_eq!(
            find_executable("sh", &env).unwrap(),
            PathBuf::from("/bin/sh")
        );
        let err = find_executable("no-such-program-x", &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not found in $PATH"), "{err}");
        // runc's words, which the docker CLI turns into exit codes 127 and 126.
        let err = |p: &str| find_executable(p, &env).unwrap_err().to_string();
        assert!(
            err("/no/such/prog").ends_with(
                "exec: \"/no/such/prog\": stat /no/such/prog: no such file or directory"
            ),
            "{}",
            err("/no/such/prog")
        );
        assert!(
            err("/etc/passwd").ends_with("exec: \"/etc/passwd\": permission denied"),
            "{}",
            err("/etc/passwd")
        );
        assert!(
            err("/etc").ends_with("exec: \"/etc\": permission denied"),
            "{}",
            err("/etc")
        );
    }

    #[test]
    fn rlimit_names_map() {
        for n in [
            "RLIMIT_NOFILE",
            "RLIMIT_NPROC",
            "RLIMIT_CORE",
            "RLIMIT_RTTIME",
        ] {
            assert!(resource(n).is_some(), "{n}");
        }
        assert!(resource("RLIMIT_BOGUS").is_none());
    }

    #[test]
    fn cap_names_convert() {
        let caps: oci_spec::runtime::LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_NET_BIND_SERVICE"],"effective":["CAP_KILL"]}"#,
        )
        .unwrap();
        let plan = CapPlan::new(Some(&caps)).unwrap().unwrap();
        assert!(plan
            .bounding
            .as_ref()
            .unwrap()
            .contains(&Capability::CAP_NET_BIND_SERVICE));
        assert_eq!(plan.effective.as_ref().unwrap().len(), 1);
        assert!(plan.permitted.is_none());
    }
}
