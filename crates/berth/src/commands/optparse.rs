//! Parsers for the values of `run`/`create` flags, with the syntax and the error texts of the
//! docker CLI: Go durations, docker's sizes (from `goparse`), `--mount` (from `mountopt`), `--ulimit`, `--add-host`, `--device`,
//! `--restart`, `--cpus`, `--expose`, env and label files. Each returns the API's shape of the
//! value, or the message docker gives (without the flag name: the caller adds that).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Value};

/// A parser's complaint, worded as docker's.
pub type Parsed<T> = Result<T, String>;

pub use super::goparse::{go_bool, go_duration, go_int, go_uint, ram_in_bytes};
pub use super::mountopt::mount;

/// `--cpus`: a rational number of CPUs as nano-CPUs (`1.5` = 1500000000).
pub fn nano_cpus(s: &str) -> Parsed<i64> {
    let bad = || format!("failed to parse {s} as a rational number");
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    // num / den, exactly.
    let (num, den): (i128, i128) = if let Some((a, b)) = body.split_once('/') {
        let a = a.parse::<i128>().map_err(|_| bad())?;
        let b = b.parse::<i128>().map_err(|_| bad())?;
        if b == 0 {
            return Err(bad());
        }
        (a, b)
    } else {
        let (mantissa, exp) = match body.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().map_err(|_| bad())?),
            None => (body, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part
                .chars()
                .chain(frac_part.chars())
                .all(|c| c.is_ascii_digit())
            || frac_part.len() > 30
            || exp.abs() > 30
        {
            return Err(bad());
        }
        let digits = format!("{int_part}{frac_part}");
        let mut num = digits.parse::<i128>().map_err(|_| bad())?;
        let mut den = 10i128.pow(frac_part.len() as u32);
        if exp >= 0 {
            num = num.checked_mul(10i128.pow(exp as u32)).ok_or_else(bad)?;
        } else {
            den = den.checked_mul(10i128.pow((-exp) as u32)).ok_or_else(bad)?;
        }
        (num, den)
    };
    let scaled = num.checked_mul(1_000_000_000).ok_or_else(bad)?;
    if scaled % den != 0 {
        return Err("value is too precise".into());
    }
    let v = i64::try_from(scaled / den).map_err(|_| bad())?;
    Ok(if neg { -v } else { v })
}

/// `--restart no|always|unless-stopped|on-failure[:N]` as a RestartPolicy.
pub fn restart_policy(s: &str) -> Parsed<Value> {
    let (name, count) = s.split_once(':').unwrap_or((s, ""));
    if s.contains(':') && name.is_empty() {
        return Err("invalid restart policy format: no policy provided before colon".into());
    }
    let mut policy = json!({ "Name": name });
    if !count.is_empty() {
        let n: i64 = count.parse().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_string()
        })?;
        policy["MaximumRetryCount"] = json!(n);
    }
    Ok(policy)
}

/// `--add-host NAME:IP` (or `NAME=IP`, `NAME:[IPv6]`, `NAME:host-gateway`) as the API's `NAME:IP`.
pub fn extra_host(s: &str) -> Parsed<String> {
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .filter(|(k, _)| !k.is_empty() && !k.contains(':'))
        .ok_or_else(|| format!("bad format for add-host: {s:?}"))?;
    let mut ip = ip;
    if ip != "host-gateway" {
        if ip.len() > 2 && ip.starts_with('[') && ip.ends_with(']') {
            ip = &ip[1..ip.len() - 1];
        }
        if ip.trim().parse::<IpAddr>().is_err() {
            return Err(format!("invalid IP address in add-host: {ip:?}"));
        }
    }
    Ok(format!("{name}:{ip}"))
}

/// `--dns IP`: the address in its canonical form.
pub fn ip_address(s: &str) -> Parsed<String> {
    match s.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => Ok(v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string())),
        Ok(ip) => Ok(ip.to_string()),
        Err(_) => Err(format!("IP address is not correctly formatted: {s}")),
    }
}

const ULIMITS: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `--ulimit NAME=SOFT[:HARD]` as `{"Name","Soft","Hard"}`.
pub fn ulimit(s: &str) -> Parsed<Value> {
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    if !ULIMITS.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let int = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))
    };
    let parts: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match parts.as_slice() {
        [soft] => (int(soft)?, int(soft)?),
        [soft, hard] => {
            let hard = int(hard)?;
            (int(soft)?, hard)
        }
        _ => {
            return Err(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            ))
        }
    };
    if hard != -1 && soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(json!({ "Name": name, "Soft": soft, "Hard": hard }))
}

/// Permissions of a device's cgroup rule: some of `r`, `w`, `m`, each once.
fn device_mode(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 3
        && m.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        && m.chars().enumerate().all(|(i, c)| !m[..i].contains(c))
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]` as a DeviceMapping.
pub fn device(s: &str) -> Parsed<Value> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() > 3 || parts[0].is_empty() {
        return Err(format!("bad format for path: {s}"));
    }
    let host = parts[0];
    let (container, mode) = match parts.as_slice() {
        [_] => (host, "rwm"),
        [_, m] if device_mode(m) => (host, *m),
        [_, c] => (*c, "rwm"),
        [_, c, m] => {
            if !device_mode(m) {
                return Err(format!("bad mode specified: {m}"));
            }
            (*c, *m)
        }
        _ => unreachable!("split gives one to three parts here"),
    };
    // docker checks the container's side only; the daemon checks the host's.
    if !container.starts_with('/') {
        return Err(format!("{container} is not an absolute path"));
    }
    Ok(json!({
        "PathOnHost": host,
        "PathInContainer": container,
        "CgroupPermissions": mode,
    }))
}

/// `--sysctl KEY=VALUE`, only the namespaced ones docker lets through.
pub fn sysctl(s: &str) -> Parsed<(String, String)> {
    const ALLOWED: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let not_allowed = || format!("sysctl '{s}' is not allowed");
    let (k, v) = s.split_once('=').ok_or_else(not_allowed)?;
    if ALLOWED.contains(&k) || k.starts_with("net.") || k.starts_with("fs.mqueue.") {
        Ok((k.to_string(), v.to_string()))
    } else {
        Err(not_allowed())
    }
}

/// `--expose PORT[-PORT][/PROTO]`: the ExposedPorts keys.
pub fn expose(s: &str) -> Parsed<Vec<String>> {
    let (ports, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let fail = |e: String| format!("invalid range format for --expose: {s}, error: {e}");
    if ports.is_empty() {
        return Err(fail("empty string specified for ports".into()));
    }
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => {
            let a = go_uint(a, 16).map_err(fail)?;
            let b = go_uint(b.split('-').next().unwrap_or(b), 16).map_err(fail)?;
            if b < a {
                return Err(fail(format!("invalid range specified for port: {ports}")));
            }
            (a, b)
        }
        None => {
            let p = go_uint(ports, 16).map_err(fail)?;
            (p, p)
        }
    };
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// `PATH:VALUE` for the block IO flags, with docker's checks of the path.
fn device_value(s: &str) -> Parsed<(&str, &str)> {
    match s.split_once(':') {
        Some((k, v)) if !k.is_empty() => {
            if k.starts_with("/dev/") {
                Ok((k, v))
            } else {
                Err(format!("bad format for device path: {s}"))
            }
        }
        _ => Err(format!("bad format: {s}")),
    }
}

/// `--blkio-weight-device PATH:WEIGHT` (10 to 1000, or 0).
pub fn weight_device(s: &str) -> Parsed<Value> {
    let (path, v) = device_value(s)?;
    match v.parse::<u16>() {
        Ok(w) if w == 0 || (10..=1000).contains(&w) => Ok(json!({"Path": path, "Weight": w})),
        _ => Err(format!("invalid weight for device: {s}")),
    }
}

/// `--device-read-bps`/`--device-write-bps PATH:RATE` (a size: `1mb`).
pub fn throttle_bps(s: &str) -> Parsed<Value> {
    let (path, v) = device_value(s)?;
    let rate = ram_in_bytes(v).map_err(|_| {
        format!(
            "invalid rate for device: {s}. The correct format is <device-path>:<number>[<unit>]. \
             Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
        )
    })?;
    Ok(json!({"Path": path, "Rate": rate}))
}

/// `--device-read-iops`/`--device-write-iops PATH:RATE`.
pub fn throttle_iops(s: &str) -> Parsed<Value> {
    let (path, v) = device_value(s)?;
    let rate = go_uint(v, 64).map_err(|_| {
        format!(
            "invalid rate for device: {s}. The correct format is <device-path>:<number>. \
             Number must be a positive integer"
        )
    })?;
    Ok(json!({"Path": path, "Rate": rate}))
}

/// `--link NAME[:ALIAS]`, sent as written.
pub fn link(s: &str) -> Parsed<String> {
    if s.is_empty() {
        return Err("empty string specified for links".into());
    }
    if s.split(':').count() > 2 {
        return Err(format!("bad format for links: {s}"));
    }
    Ok(s.to_string())
}

/// `--device-cgroup-rule 'TYPE MAJOR:MINOR PERMISSIONS'` (`c 1:3 mr`, `a *:* rwm`).
pub fn device_cgroup_rule(s: &str) -> Parsed<String> {
    let bad = || format!("invalid device cgroup format '{s}'");
    let parts: Vec<&str> = s.split(' ').collect();
    let [kind, numbers, perms] = parts.as_slice() else {
        return Err(bad());
    };
    let number = |n: &str| n == "*" || (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    let ok = matches!(*kind, "a" | "b" | "c")
        && numbers
            .split_once(':')
            .is_some_and(|(a, b)| number(a) && number(b))
        && (1..=3).contains(&perms.len())
        && perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(bad())
    }
}

/// `PORT[-PORT]` as docker's `ParsePortRange` reads it.
fn port_range(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (go_uint(a, 16).ok()?, go_uint(b, 16).ok()?);
    (b >= a).then_some((a, b))
}

/// `-p [IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTO]`: (`PORT/PROTO`, host IP, host port) for
/// each container port.
pub fn port_spec(s: &str) -> Parsed<Vec<(String, String, String)>> {
    let parts: Vec<&str> = s.split(':').collect();
    let n = parts.len();
    let (ip, host, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (container, proto) = match container.split_once('/') {
        _ if container.is_empty() || container.starts_with('/') => ("", ""),
        Some((c, p)) if !p.is_empty() => (c, p.split('/').next().unwrap_or(p)),
        Some((c, _)) => (c, "tcp"),
        None => (container, "tcp"),
    };
    let ip = match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
        Some(inner) => inner.to_string(),
        None => ip,
    };
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {s}<empty>"));
    }
    let (start, end) =
        port_range(container).ok_or_else(|| format!("invalid containerPort: {container}"))?;
    let (host_start, host_end) = if host.is_empty() {
        (0, 0)
    } else {
        port_range(host).ok_or_else(|| format!("invalid hostPort: {host}"))?
    };
    if !host.is_empty() && end - start != host_end - host_start && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container} and {host}"
        ));
    }
    let proto = proto.to_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    Ok((0..=end - start)
        .map(|i| {
            let host_port = if host.is_empty() {
                String::new()
            } else if start == end && host_start != host_end {
                format!("{host_start}-{host_end}")
            } else {
                (host_start + i).to_string()
            };
            (format!("{}/{proto}", start + i), ip.clone(), host_port)
        })
        .collect())
}

/// One `--network`, in docker's short form (a name) or long form.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NetworkAttachment {
    pub target: String,
    pub aliases: Vec<String>,
    pub ipv4: String,
    pub ipv6: String,
    pub mac: String,
    pub link_local: Vec<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub gw_priority: i64,
}

/// `--network NAME` or `--network name=NAME,alias=A,ip=IP,ip6=IP,mac-address=MAC,
/// link-local-ip=IP,driver-opt=K=V,gw-priority=N` (lower-cased, as docker does). Docker takes
/// the long form when some `word=word` appears.
pub fn network(s: &str) -> Parsed<NetworkAttachment> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = s.as_bytes();
    let long = (1..bytes.len().saturating_sub(1))
        .any(|i| bytes[i] == b'=' && word(bytes[i - 1]) && word(bytes[i + 1]));
    let mut n = NetworkAttachment::default();
    if !long {
        n.target = s.to_string();
        return Ok(n);
    }
    for field in csv_fields(s)? {
        let lower = field.to_lowercase();
        let (key, value) = lower
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("invalid field {field}"))?;
        let (key, value) = (key.trim(), value.trim().to_string());
        match key {
            "name" => n.target = value,
            "alias" => n.aliases.push(value),
            "ip" => n.ipv4 = value,
            "ip6" => n.ipv6 = value,
            "mac-address" => n.mac = value,
            "link-local-ip" => n.link_local.push(value),
            "driver-opt" => {
                let (k, v) = value
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or("invalid key value pair format in driver options")?;
                n.driver_opts.insert(k.trim().into(), v.trim().into());
            }
            "gw-priority" => {
                n.gw_priority = value
                    .parse()
                    .map_err(|_| format!("invalid gw-priority ({value}): invalid syntax"))?;
            }
            _ => return Err(format!("invalid field key {key}")),
        }
    }
    if n.target.is_empty() {
        return Err("network name/id is not specified".into());
    }
    Ok(n)
}

/// One CSV record (what `--mount` and `--network`'s long form are): commas separate fields,
/// double quotes protect them.
pub(super) fn csv_fields(s: &str) -> Parsed<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if quoted {
        return Err("extraneous or missing \" in quoted-field".into());
    }
    fields.push(cur);
    Ok(fields)
}

/// A failed open as Go words it: `open PATH: no such file or directory`.
pub fn open_error(path: &str, e: &std::io::Error) -> String {
    let msg = e
        .raw_os_error()
        .map(|n| nix::errno::Errno::from_raw(n).desc().to_string())
        .unwrap_or_else(|| e.to_string());
    let mut chars = msg.chars();
    let msg: String = chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default();
    format!("open {path}: {msg}")
}

/// The lines of an `--env-file` or `--label-file` as `KEY=VALUE`: blank lines and `#` comments
/// skipped, leading blanks trimmed, values kept as written; a bare `KEY` takes `lookup(KEY)` and
/// is left out when that gives nothing.
pub fn kv_file(path: &str, lookup: impl Fn(&str) -> Option<String>) -> Parsed<Vec<String>> {
    let data = std::fs::read(path).map_err(|e| open_error(path, &e))?;
    let text = String::from_utf8(data)
        .map_err(|_| format!("env file {path} contains invalid utf8 bytes"))?;
    let invalid = |why: String| format!("invalid env file ({path}): {why}");
    let mut out = Vec::new();
    for raw in text.trim_start_matches('\u{feff}').lines() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(invalid(format!("no variable name on line '{line}'")));
        }
        if key.contains(char::is_whitespace) {
            return Err(invalid(format!("variable '{key}' contains whitespaces")));
        }
        match value.map(str::to_string).or_else(|| lookup(key)) {
            Some(v) => out.push(format!("{key}={v}")),
            None => continue,
        }
    }
    Ok(out)
}

/// `KEY=VALUE` strings as a map (a bare `KEY` maps to ""), later keys winning.
pub fn kv_map<'a>(items: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, String> {
    items
        .into_iter()
        .map(|s| {
            let (k, v) = s.split_once('=').unwrap_or((s.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_cpus() {
        assert_eq!(go_int("512"), Ok(512));
        assert_eq!(go_int("-1"), Ok(-1));
        assert_eq!(go_int("0x10"), Ok(16));
        assert_eq!(go_int("010"), Ok(8));
        assert_eq!(
            go_int("x"),
            Err("strconv.ParseInt: parsing \"x\": invalid syntax".into())
        );
        assert!(go_int("99999999999999999999")
            .unwrap_err()
            .contains("out of range"));
        assert_eq!(
            go_uint("70000", 16),
            Err("strconv.ParseUint: parsing \"70000\": value out of range".into())
        );
        assert_eq!(nano_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("2"), Ok(2_000_000_000));
        assert_eq!(nano_cpus("3/2"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("1e-3"), Ok(1_000_000));
        assert_eq!(nano_cpus("-1"), Ok(-1_000_000_000));
        assert_eq!(
            nano_cpus("0.0000000001"),
            Err("value is too precise".into())
        );
        assert_eq!(
            nano_cpus("x"),
            Err("failed to parse x as a rational number".into())
        );
    }

    #[test]
    fn restart_policies() {
        assert_eq!(restart_policy("always"), Ok(json!({"Name": "always"})));
        assert_eq!(
            restart_policy("on-failure:3"),
            Ok(json!({"Name": "on-failure", "MaximumRetryCount": 3}))
        );
        assert_eq!(restart_policy("always:"), Ok(json!({"Name": "always"})));
        assert!(restart_policy(":3")
            .unwrap_err()
            .contains("no policy provided"));
        assert!(restart_policy("on-failure:x")
            .unwrap_err()
            .contains("must be an integer"));
    }

    #[test]
    fn add_host_and_dns() {
        assert_eq!(extra_host("a:1.2.3.4"), Ok("a:1.2.3.4".into()));
        assert_eq!(extra_host("b=::1"), Ok("b:::1".into()));
        assert_eq!(extra_host("c:[::1]"), Ok("c:::1".into()));
        assert_eq!(extra_host("h:host-gateway"), Ok("h:host-gateway".into()));
        assert_eq!(
            extra_host("bad"),
            Err("bad format for add-host: \"bad\"".into())
        );
        assert_eq!(
            extra_host(":1.2.3.4"),
            Err("bad format for add-host: \":1.2.3.4\"".into())
        );
        assert_eq!(
            extra_host("a:notip"),
            Err("invalid IP address in add-host: \"notip\"".into())
        );
        assert_eq!(ip_address("8.8.8.8"), Ok("8.8.8.8".into()));
        assert_eq!(ip_address("0:0::1"), Ok("::1".into()));
        assert_eq!(
            ip_address("notip"),
            Err("IP address is not correctly formatted: notip".into())
        );
    }

    #[test]
    fn ulimits() {
        assert_eq!(
            ulimit("nofile=1024:2048"),
            Ok(json!({"Name": "nofile", "Soft": 1024, "Hard": 2048}))
        );
        assert_eq!(
            ulimit("nproc=100"),
            Ok(json!({"Name": "nproc", "Soft": 100, "Hard": 100}))
        );
        assert_eq!(
            ulimit("nofile=-1"),
            Ok(json!({"Name": "nofile", "Soft": -1, "Hard": -1}))
        );
        assert_eq!(
            ulimit("nofile=2048:1024"),
            Err("ulimit soft limit must be less than or equal to hard limit: 2048 > 1024".into())
        );
        assert_eq!(ulimit("bogus=1"), Err("invalid ulimit type: bogus".into()));
        assert_eq!(
            ulimit("nofile"),
            Err("invalid ulimit argument: nofile".into())
        );
        assert!(ulimit("nofile=1:2:3").unwrap_err().contains("too many"));
        assert_eq!(
            ulimit("nofile=x"),
            Err("strconv.ParseInt: parsing \"x\": invalid syntax".into())
        );
    }

    #[test]
    fn devices() {
        let dev = |h: &str, c: &str, m: &str| json!({"PathOnHost": h, "PathInContainer": c, "CgroupPermissions": m});
        assert_eq!(
            device("/dev/fuse"),
            Ok(dev("/dev/fuse", "/dev/fuse", "rwm"))
        );
        assert_eq!(
            device("/dev/null:/dev/mynull:r"),
            Ok(dev("/dev/null", "/dev/mynull", "r"))
        );
        assert_eq!(
            device("/dev/zero:rw"),
            Ok(dev("/dev/zero", "/dev/zero", "rw"))
        );
        assert_eq!(device("/dev/zero:/z"), Ok(dev("/dev/zero", "/z", "rwm")));
        assert_eq!(
            device("/dev/null:/x:rwz"),
            Err("bad mode specified: rwz".into())
        );
        assert_eq!(
            device("/dev/null:/x:rr"),
            Err("bad mode specified: rr".into())
        );
        assert_eq!(
            device("relative"),
            Err("relative is not an absolute path".into())
        );
        assert_eq!(
            device("/dev/null:rel"),
            Err("rel is not an absolute path".into())
        );
        assert!(device("/a:/b:r:x").unwrap_err().contains("bad format"));
    }

    #[test]
    fn block_io_links_and_cgroup_rules() {
        assert_eq!(
            weight_device("/dev/sda:200"),
            Ok(json!({"Path": "/dev/sda", "Weight": 200}))
        );
        assert_eq!(
            weight_device("/dev/sda:5"),
            Err("invalid weight for device: /dev/sda:5".into())
        );
        assert_eq!(
            throttle_bps("/dev/sda:1mb"),
            Ok(json!({"Path": "/dev/sda", "Rate": 1 << 20}))
        );
        assert_eq!(throttle_bps("/dev/sda"), Err("bad format: /dev/sda".into()));
        assert_eq!(
            throttle_bps("sda:1"),
            Err("bad format for device path: sda:1".into())
        );
        assert!(throttle_iops("/dev/sda:x")
            .unwrap_err()
            .starts_with("invalid rate for device: /dev/sda:x."));
        assert_eq!(link("db:alias"), Ok("db:alias".into()));
        assert_eq!(link("a:b:c"), Err("bad format for links: a:b:c".into()));
        assert_eq!(device_cgroup_rule("c 1:3 mr"), Ok("c 1:3 mr".into()));
        assert_eq!(device_cgroup_rule("a *:* rwm"), Ok("a *:* rwm".into()));
        assert_eq!(
            device_cgroup_rule("bad"),
            Err("invalid device cgroup format 'bad'".into())
        );
    }

    #[test]
    fn port_specs() {
        let one = |k: &str, ip: &str, h: &str| vec![(k.to_string(), ip.to_string(), h.to_string())];
        assert_eq!(port_spec("80"), Ok(one("80/tcp", "", "")));
        assert_eq!(port_spec("53/udp"), Ok(one("53/udp", "", "")));
        assert_eq!(port_spec("80/sctp"), Ok(one("80/sctp", "", "")));
        assert_eq!(
            port_spec("127.0.0.1::80"),
            Ok(one("80/tcp", "127.0.0.1", ""))
        );
        assert_eq!(port_spec("[::1]:8080:80"), Ok(one("80/tcp", "::1", "8080")));
        assert_eq!(
            port_spec("8000-8001:80"),
            Ok(one("80/tcp", "", "8000-8001"))
        );
        assert_eq!(
            port_spec("8000-8001:80-81"),
            Ok(vec![
                ("80/tcp".into(), "".into(), "8000".into()),
                ("81/tcp".into(), "".into(), "8001".into())
            ])
        );
        for (spec, err) in [
            ("x:80", "invalid hostPort: x"),
            ("80/foo", "invalid proto: foo"),
            ("80-x", "invalid containerPort: 80-x"),
            ("99999", "invalid containerPort: 99999"),
            ("1.2.3.x:80:80", "invalid IP address: 1.2.3.x"),
            (
                "8000-8002:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
            ),
        ] {
            assert_eq!(port_spec(spec), Err(err.to_string()), "{spec}");
        }
    }

    #[test]
    fn networks() {
        assert_eq!(
            network("n1"),
            Ok(NetworkAttachment {
                target: "n1".into(),
                ..Default::default()
            })
        );
        assert_eq!(
            network("container:x").map(|n| n.target),
            Ok("container:x".into())
        );
        let n =
            network("name=N1,alias=A,alias=b,ip=10.0.0.2,driver-opt=k=v,gw-priority=5").unwrap();
        assert_eq!(
            (n.target.as_str(), n.aliases, n.ipv4.as_str(), n.gw_priority),
            ("n1", vec!["a".to_string(), "b".into()], "10.0.0.2", 5)
        );
        assert_eq!(n.driver_opts.get("k").map(String::as_str), Some("v"));
        assert_eq!(
            network("name=n1,bogus=1"),
            Err("invalid field key bogus".into())
        );
        assert_eq!(
            network("alias=x"),
            Err("network name/id is not specified".into())
        );
        assert_eq!(
            network("name=n1,driver-opt=bad"),
            Err("invalid key value pair format in driver options".into())
        );
        assert_eq!(
            network("name=n1,gw-priority=x"),
            Err("invalid gw-priority (x): invalid syntax".into())
        );
    }

    #[test]
    fn expose_ranges_and_sysctls() {
        assert_eq!(expose("80"), Ok(vec!["80/tcp".to_string()]));
        assert_eq!(
            expose("1000-1002/udp"),
            Ok(vec![
                "1000/udp".into(),
                "1001/udp".into(),
                "1002/udp".into()
            ])
        );
        assert!(expose("5-2")
            .unwrap_err()
            .contains("invalid range specified for port: 5-2"));
        assert!(expose("x")
            .unwrap_err()
            .starts_with("invalid range format for --expose: x"));
        assert_eq!(
            sysctl("net.ipv4.ip_forward=1"),
            Ok(("net.ipv4.ip_forward".into(), "1".into()))
        );
        assert_eq!(
            sysctl("kernel.hostname=x"),
            Err("sysctl 'kernel.hostname=x' is not allowed".into())
        );
    }

    #[test]
    fn env_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(&f, "\u{feff}A=1\r\n# comment\n\nB\nC=x y \n  D=2\nUNSET\n").unwrap();
        let lookup = |k: &str| (k == "B").then(|| "from-here".to_string());
        assert_eq!(
            kv_file(f.to_str().unwrap(), lookup),
            Ok(vec![
                "A=1".to_string(),
                "B=from-here".into(),
                "C=x y ".into(),
                "D=2".into()
            ])
        );
        std::fs::write(&f, "export E=3\n").unwrap();
        let p = f.to_str().unwrap();
        assert_eq!(
            kv_file(p, |_| None),
            Err(format!(
                "invalid env file ({p}): variable 'export E' contains whitespaces"
            ))
        );
        std::fs::write(&f, "=bad\n").unwrap();
        assert!(kv_file(p, |_| None)
            .unwrap_err()
            .ends_with("no variable name on line '=bad'"));
        assert_eq!(
            kv_file("/no/such/file", |_| None),
            Err("open /no/such/file: no such file or directory".into())
        );
    }
}
