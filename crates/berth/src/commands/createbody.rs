//! The one place where `run`/`create` options become the body and query of
//! `POST /containers/create`, as the docker CLI 28 builds them: a step per group of flags.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Map, Value};

use super::optparse::{self as p, Parsed};
use super::runopts::{CreateRequest, Pull, RunOpts, Streams};
use crate::client::q;

/// A flag's value docker would refuse, worded as docker words it.
pub(super) fn flag<T>(name: &str, value: &str, f: impl FnOnce(&str) -> Parsed<T>) -> Result<T> {
    f(value).map_err(|e| anyhow!("invalid argument {value:?} for \"{name}\" flag: {e}"))
}

/// An optional flag through its parser.
pub(super) fn opt<T>(
    name: &str,
    value: &Option<String>,
    f: impl FnOnce(&str) -> Parsed<T>,
) -> Result<Option<T>> {
    value.as_deref().map(|v| flag(name, v, f)).transpose()
}

/// Set `key` when the value is not its type's zero (as Go's omitempty leaves it out).
fn set(obj: &mut Map<String, Value>, key: &str, v: impl Into<Value>) {
    let v = v.into();
    let empty = match &v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    };
    if !empty {
        obj.insert(key.to_string(), v);
    }
}

/// Networks that are not user-defined: no aliases there.
fn user_defined(network: &str) -> bool {
    !matches!(network, "" | "default" | "bridge" | "host" | "none")
        && !network.starts_with("container:")
}

/// `-e`: `KEY` takes the variable from the caller's environment (left out when unset), and a
/// later `-e` for the same key replaces the earlier in its place, as docker does.
pub fn env_list(env: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for e in env {
        if e.starts_with('=') {
            bail!(
                "invalid argument {e:?} for \"-e, --env\" flag: invalid environment variable: {e}"
            );
        }
        let entry = if e.contains('=') {
            e.clone()
        } else if let Ok(v) = std::env::var(e) {
            format!("{e}={v}")
        } else {
            continue;
        };
        let key = entry.split('=').next().unwrap_or_default().to_string();
        match out
            .iter_mut()
            .find(|o| o.split('=').next() == Some(key.as_str()))
        {
            Some(earlier) => *earlier = entry,
            None => out.push(entry),
        }
    }
    Ok(out)
}

/// `-p` into ExposedPorts and PortBindings.
pub fn ports(specs: &[String]) -> Result<(Map<String, Value>, Map<String, Value>)> {
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for spec in specs {
        for (key, ip, host) in p::port_spec(spec).map_err(|e| anyhow!(e))? {
            exposed.insert(key.clone(), json!({}));
            let entry = bindings.entry(key).or_insert_with(|| json!([]));
            entry
                .as_array_mut()
                .expect("bindings are arrays")
                .push(json!({"HostIp": ip, "HostPort": host}));
        }
    }
    Ok((exposed, bindings))
}

/// `-v`: a spec with a source is a bind (or named volume) for Binds, a bare path an anonymous
/// volume for Config.Volumes; a relative source (`./data`, `../data`) is made absolute, as docker
/// does.
fn volumes(specs: &[String]) -> Result<(Vec<String>, Map<String, Value>)> {
    let mut binds = Vec::new();
    let mut anonymous = Map::new();
    for spec in specs {
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.iter().any(|p| p.is_empty()) {
            bail!("invalid spec: {spec}: empty section between colons");
        }
        if parts.len() == 1 {
            anonymous.insert(spec.clone(), json!({}));
            continue;
        }
        let src = parts[0];
        if src == "." || src == ".." || src.starts_with("./") || src.starts_with("../") {
            if let Ok(cwd) = std::env::current_dir() {
                binds.push(format!("{}{}", clean(&cwd.join(src)), &spec[src.len()..]));
                continue;
            }
        }
        binds.push(spec.clone());
    }
    Ok((binds, anonymous))
}

/// A path with `.` and `..` resolved by name, as Go's `filepath.Clean` does.
fn clean(path: &std::path::Path) -> String {
    use std::path::Component;
    let mut out = std::path::PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out.display().to_string()
}

/// Whether `s` is a MAC address as Go's `net.ParseMAC` reads one.
fn valid_mac(s: &str) -> bool {
    let groups: Vec<&str> = s.split([':', '-']).collect();
    matches!(groups.len(), 6 | 8 | 20)
        && groups
            .iter()
            .all(|g| g.len() == 2 && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The namespace modes docker checks before sending (`--pid`, `--uts`, `--userns`, `--cgroupns`).
fn namespace_mode(flag: &str, kind: &str, value: &Option<String>, ok: &[&str]) -> Result<String> {
    let v = value.clone().unwrap_or_default();
    let container = flag == "--pid" && v.strip_prefix("container:").is_some_and(|n| !n.is_empty());
    if v.is_empty() || ok.contains(&v.as_str()) || container {
        Ok(v)
    } else {
        bail!("{flag}: invalid {kind} mode")
    }
}

impl RunOpts {
    /// The create request these options make: `name` for `--name`, `detach` for `run -d`,
    /// `auto_remove` for `--rm`, `api` the agreed API version (for where the MAC address goes).
    pub fn create_request(
        &self,
        name: Option<&str>,
        detach: bool,
        auto_remove: bool,
        api: (u32, u32),
    ) -> Result<CreateRequest> {
        let o = self;
        let mut cfg = Map::new();
        let mut hc = Map::new();

        let streams = self.streams(&mut cfg, detach)?;
        self.process(&mut cfg, &mut hc)?;
        self.health(&mut cfg)?;
        self.storage(&mut cfg, &mut hc)?;
        self.resources(&mut hc)?;
        self.lifecycle(&mut hc, auto_remove, api)?;
        self.network(&mut cfg, &mut hc, api)?;
        self.security(&mut hc)?;

        // Where it goes.
        let pull = match o.pull.as_str() {
            "always" => Pull::Always,
            "missing" => Pull::Missing,
            "never" => Pull::Never,
            other => bail!(
                "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
            ),
        };
        let mut query = Vec::new();
        if let Some(n) = name {
            query.push(format!("name={}", q(n)));
        }
        if let Some(pf) = &o.platform {
            query.push(format!("platform={}", q(pf)));
        }
        let path = if query.is_empty() {
            "/containers/create".to_string()
        } else {
            format!("/containers/create?{}", query.join("&"))
        };
        cfg.insert("HostConfig".into(), Value::Object(hc));
        Ok(CreateRequest {
            path,
            body: Value::Object(cfg),
            streams,
            pull,
            cidfile: o.cidfile.clone(),
        })
    }

    /// Which streams the caller attaches to: `-a`, `-i`, `-d`.
    fn streams(&self, cfg: &mut Map<String, Value>, detach: bool) -> Result<Streams> {
        let o = self;
        let mut streams = Streams::default();
        for a in &o.attach {
            match flag("-a, --attach", a, |v| match v.to_lowercase().as_str() {
                s @ ("stdin" | "stdout" | "stderr") => Ok(s.to_string()),
                _ => Err("valid streams are STDIN, STDOUT and STDERR".to_string()),
            })?
            .as_str()
            {
                "stdin" => streams.stdin = true,
                "stdout" => streams.stdout = true,
                _ => streams.stderr = true,
            }
        }
        if o.attach.is_empty() {
            streams.stdout = true;
            streams.stderr = true;
        }
        if o.interactive {
            streams.stdin = true;
        }
        if detach {
            if !o.attach.is_empty() {
                bail!("conflicting options: cannot specify both --attach and --detach");
            }
            streams = Streams::default();
        }
        set(cfg, "AttachStdin", streams.stdin);
        set(cfg, "AttachStdout", streams.stdout);
        set(cfg, "AttachStderr", streams.stderr);
        set(cfg, "Tty", o.tty);
        set(cfg, "OpenStdin", o.interactive);
        set(cfg, "StdinOnce", o.interactive && streams.stdin);
        Ok(streams)
    }

    /// The program, its environment, user, names and labels.
    fn process(&self, cfg: &mut Map<String, Value>, hc: &mut Map<String, Value>) -> Result<()> {
        let o = self;
        cfg.insert("Image".into(), json!(o.image));
        set(cfg, "Cmd", json!(o.command));
        if let Some(e) = &o.entrypoint {
            cfg.insert("Entrypoint".into(), json!([e]));
        }
        let mut env = Vec::new();
        for f in &o.env_file {
            env.extend(p::kv_file(f, |k| std::env::var(k).ok()).map_err(|e| anyhow!(e))?);
        }
        env.extend(env_list(&o.env)?);
        set(cfg, "Env", json!(env));
        set(cfg, "WorkingDir", o.workdir.clone().unwrap_or_default());
        set(cfg, "User", o.user.clone().unwrap_or_default());
        set(cfg, "Hostname", o.hostname.clone().unwrap_or_default());
        set(cfg, "Domainname", o.domainname.clone().unwrap_or_default());
        set(hc, "GroupAdd", json!(o.group_add));
        let mut labels = Vec::new();
        for f in &o.label_file {
            labels.extend(p::kv_file(f, |_| None).map_err(|e| anyhow!(e))?);
        }
        labels.extend(o.labels.iter().cloned());
        cfg.insert("Labels".into(), json!(p::kv_map(&labels)));
        set(cfg, "StopSignal", o.stop_signal.clone().unwrap_or_default());
        if let Some(t) = opt("--stop-timeout", &o.stop_timeout, p::go_int)? {
            cfg.insert("StopTimeout".into(), json!(t));
        }
        if o.init {
            hc.insert("Init".into(), json!(true));
        }
        Ok(())
    }

    /// `--health-*` and `--no-healthcheck` as Config.Healthcheck.
    fn health(&self, cfg: &mut Map<String, Value>) -> Result<()> {
        let o = self;
        let durations = [
            ("--health-interval", &o.health_interval, "Interval"),
            ("--health-timeout", &o.health_timeout, "Timeout"),
            (
                "--health-start-period",
                &o.health_start_period,
                "StartPeriod",
            ),
            (
                "--health-start-interval",
                &o.health_start_interval,
                "StartInterval",
            ),
        ];
        let mut health = Map::new();
        let mut have_health = o.health_cmd.as_deref().is_some_and(|c| !c.is_empty());
        for (name, value, key) in durations {
            let d = opt(name, value, p::go_duration)?.unwrap_or(0);
            have_health |= d != 0;
            health.insert(key.into(), json!(d));
        }
        let retries = opt("--health-retries", &o.health_retries, p::go_int)?.unwrap_or(0);
        have_health |= retries != 0;
        if o.no_healthcheck {
            if have_health {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            cfg.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
        } else if have_health {
            for (name, _, key) in durations {
                if health[key].as_i64().unwrap_or(0) < 0 {
                    bail!("{name} cannot be negative");
                }
            }
            if retries < 0 {
                bail!("--health-retries cannot be negative");
            }
            let mut h = Map::new();
            if let Some(cmd) = o.health_cmd.as_deref().filter(|c| !c.is_empty()) {
                h.insert("Test".into(), json!(["CMD-SHELL", cmd]));
            }
            for (_, _, key) in durations {
                set(&mut h, key, health[key].clone());
            }
            set(&mut h, "Retries", retries);
            cfg.insert("Healthcheck".into(), Value::Object(h));
        }
        Ok(())
    }

    /// `-v`, `--mount`, `--tmpfs`, `--volumes-from`, `--read-only`, storage options.
    fn storage(&self, cfg: &mut Map<String, Value>, hc: &mut Map<String, Value>) -> Result<()> {
        let o = self;
        let (binds, anonymous) = volumes(&o.volumes)?;
        set(hc, "Binds", json!(binds));
        set(cfg, "Volumes", Value::Object(anonymous));
        let mounts = o
            .mounts
            .iter()
            .map(|m| flag("--mount", m, p::mount))
            .collect::<Result<Vec<_>>>()?;
        set(hc, "Mounts", json!(mounts));
        let tmpfs: BTreeMap<&str, &str> = o
            .tmpfs
            .iter()
            .map(|t| t.split_once(':').unwrap_or((t.as_str(), "")))
            .collect();
        set(hc, "Tmpfs", json!(tmpfs));
        set(hc, "VolumesFrom", json!(o.volumes_from));
        set(
            hc,
            "VolumeDriver",
            o.volume_driver.clone().unwrap_or_default(),
        );
        let mut storage = BTreeMap::new();
        for s in &o.storage_opt {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| anyhow!("invalid storage option"))?;
            storage.insert(k, v);
        }
        set(hc, "StorageOpt", json!(storage));
        set(hc, "ReadonlyRootfs", o.read_only);
        Ok(())
    }

    /// Memory, CPU, pids, block IO, ulimits, devices, sysctls.
    fn resources(&self, hc: &mut Map<String, Value>) -> Result<()> {
        let o = self;
        let size = |name: &str, v: &Option<String>| opt(name, v, p::ram_in_bytes);
        set(hc, "Memory", size("-m, --memory", &o.limits.memory)?);
        let swap = opt("--memory-swap", &o.limits.memory_swap, |v| {
            if v == "-1" {
                Ok(-1)
            } else {
                p::ram_in_bytes(v)
            }
        })?;
        set(hc, "MemorySwap", swap);
        set(
            hc,
            "MemoryReservation",
            size("--memory-reservation", &o.limits.memory_reservation)?,
        );
        set(hc, "ShmSize", size("--shm-size", &o.shm_size)?);
        if let Some(s) = opt("--memory-swappiness", &o.memory_swappiness, p::go_int)? {
            if s != -1 && !(0..=100).contains(&s) {
                bail!("invalid value: {s}. Valid memory swappiness range is 0-100");
            }
            hc.insert("MemorySwappiness".into(), json!(s));
        }
        set(hc, "NanoCpus", opt("--cpus", &o.limits.cpus, p::nano_cpus)?);
        set(
            hc,
            "CpuShares",
            opt("-c, --cpu-shares", &o.limits.cpu_shares, p::go_int)?,
        );
        set(
            hc,
            "CpuPeriod",
            opt("--cpu-period", &o.limits.cpu_period, p::go_int)?,
        );
        set(
            hc,
            "CpuQuota",
            opt("--cpu-quota", &o.limits.cpu_quota, p::go_int)?,
        );
        set(
            hc,
            "CpusetCpus",
            o.limits.cpuset_cpus.clone().unwrap_or_default(),
        );
        set(
            hc,
            "CpusetMems",
            o.limits.cpuset_mems.clone().unwrap_or_default(),
        );
        if let Some(n) = opt("--pids-limit", &o.limits.pids_limit, p::go_int)? {
            hc.insert("PidsLimit".into(), json!(n));
        }
        let weight = opt("--blkio-weight", &o.limits.blkio_weight, |v| {
            p::go_uint(v, 16)
        })?;
        set(hc, "BlkioWeight", weight);
        for (name, values, key, parse) in [
            (
                "--blkio-weight-device",
                &o.blkio_weight_device,
                "BlkioWeightDevice",
                p::weight_device as fn(&str) -> Parsed<Value>,
            ),
            (
                "--device-read-bps",
                &o.device_read_bps,
                "BlkioDeviceReadBps",
                p::throttle_bps,
            ),
            (
                "--device-write-bps",
                &o.device_write_bps,
                "BlkioDeviceWriteBps",
                p::throttle_bps,
            ),
            (
                "--device-read-iops",
                &o.device_read_iops,
                "BlkioDeviceReadIOps",
                p::throttle_iops,
            ),
            (
                "--device-write-iops",
                &o.device_write_iops,
                "BlkioDeviceWriteIOps",
                p::throttle_iops,
            ),
        ] {
            let list = values
                .iter()
                .map(|v| flag(name, v, parse))
                .collect::<Result<Vec<_>>>()?;
            set(hc, key, json!(list));
        }
        set(
            hc,
            "CpuRealtimePeriod",
            opt("--cpu-rt-period", &o.limits.cpu_rt_period, p::go_int)?,
        );
        set(
            hc,
            "CpuRealtimeRuntime",
            opt("--cpu-rt-runtime", &o.limits.cpu_rt_runtime, p::go_int)?,
        );
        set(hc, "OomKillDisable", o.oom_kill_disable);
        set(
            hc,
            "OomScoreAdj",
            opt("--oom-score-adj", &o.oom_score_adj, p::go_int)?,
        );
        let mut ulimits = BTreeMap::new();
        for u in &o.ulimit {
            let v = flag("--ulimit", u, p::ulimit)?;
            ulimits.insert(v["Name"].as_str().unwrap_or_default().to_string(), v);
        }
        set(
            hc,
            "Ulimits",
            json!(ulimits.into_values().collect::<Vec<_>>()),
        );
        let devices = o
            .device
            .iter()
            .map(|d| p::device(d).map_err(|e| anyhow!(e)))
            .collect::<Result<Vec<_>>>()?;
        set(hc, "Devices", json!(devices));
        let rules = o
            .device_cgroup_rule
            .iter()
            .map(|r| flag("--device-cgroup-rule", r, p::device_cgroup_rule))
            .collect::<Result<Vec<_>>>()?;
        set(hc, "DeviceCgroupRules", json!(rules));
        let mut sysctls = BTreeMap::new();
        for s in &o.sysctl {
            let (k, v) = flag("--sysctl", s, p::sysctl)?;
            sysctls.insert(k, v);
        }
        set(hc, "Sysctls", json!(sysctls));
        set(
            hc,
            "CgroupParent",
            o.cgroup_parent.clone().unwrap_or_default(),
        );
        Ok(())
    }

    /// Restart policy, `--rm`, logging, annotations, runtime, `--cidfile`.
    fn lifecycle(
        &self,
        hc: &mut Map<String, Value>,
        auto_remove: bool,
        api: (u32, u32),
    ) -> Result<()> {
        let o = self;
        let restart = match &o.limits.restart {
            Some(r) => p::restart_policy(r).map_err(|e| anyhow!(e))?,
            None => json!({"Name": "no"}),
        };
        let restarts = !matches!(restart["Name"].as_str(), Some("no" | ""));
        if auto_remove && restarts {
            bail!("conflicting options: cannot specify both --restart and --rm");
        }
        if o.limits.restart.is_some() {
            hc.insert("RestartPolicy".into(), restart);
        }
        set(hc, "AutoRemove", auto_remove);
        let driver = o.log_driver.clone().unwrap_or_default();
        if driver == "none" && !o.log_opt.is_empty() {
            bail!("invalid logging opts for driver none");
        }
        if !driver.is_empty() || !o.log_opt.is_empty() {
            hc.insert(
                "LogConfig".into(),
                json!({"Type": driver, "Config": p::kv_map(&o.log_opt)}),
            );
        }
        if !o.annotation.is_empty() {
            if api < (1, 43) {
                bail!(
                    "\"--annotation\" requires API version 1.43, but the Docker daemon API version is {}.{}",
                    api.0,
                    api.1
                );
            }
            hc.insert("Annotations".into(), json!(p::kv_map(&o.annotation)));
        }
        set(hc, "Isolation", o.isolation.clone().unwrap_or_default());
        if let Some(r) = &o.runtime {
            hc.insert("Runtime".into(), json!(r));
        }
        set(hc, "ContainerIDFile", o.cidfile.clone().unwrap_or_default());
        Ok(())
    }

    /// Ports, the network and its endpoint, hosts and DNS.
    fn network(
        &self,
        cfg: &mut Map<String, Value>,
        hc: &mut Map<String, Value>,
        api: (u32, u32),
    ) -> Result<()> {
        let o = self;
        let (mut exposed, bindings) = ports(&o.publish)?;
        for e in &o.expose {
            for port in p::expose(e).map_err(|e| anyhow!(e))? {
                exposed.insert(port, json!({}));
            }
        }
        set(cfg, "ExposedPorts", Value::Object(exposed));
        set(hc, "PortBindings", Value::Object(bindings));
        set(hc, "PublishAllPorts", o.publish_all);
        let extra_hosts = o
            .add_host
            .iter()
            .map(|h| flag("--add-host", h, p::extra_host))
            .collect::<Result<Vec<_>>>()?;
        set(hc, "ExtraHosts", json!(extra_hosts));
        let links = o
            .link
            .iter()
            .map(|l| flag("--link", l, p::link))
            .collect::<Result<Vec<_>>>()?;
        set(hc, "Links", json!(links));
        let dns = o
            .dns
            .iter()
            .map(|d| flag("--dns", d, p::ip_address))
            .collect::<Result<Vec<_>>>()?;
        set(hc, "Dns", json!(dns));
        set(hc, "DnsSearch", json!(o.dns_search));
        set(hc, "DnsOptions", json!(o.dns_option));
        let endpoints = self.endpoints(&links, api)?;
        let first = endpoints
            .first()
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        if first != "default" {
            hc.insert("NetworkMode".into(), json!(first));
        }
        // Without options, a single network needs no endpoint: the daemon makes it.
        let single_plain = endpoints.len() == 1 && endpoints[0].1.is_empty();
        if api < (1, 44) {
            if let Some(mac) = &o.mac_address {
                // Before 1.44 the address is the container's (deprecated since).
                cfg.insert("MacAddress".into(), json!(mac));
            }
        }
        if !single_plain {
            let eps: Map<String, Value> = endpoints
                .into_iter()
                .map(|(n, e)| (n, Value::Object(e)))
                .collect();
            cfg.insert("NetworkingConfig".into(), json!({ "EndpointsConfig": eps }));
        }
        Ok(())
    }

    /// `--network` flags (or the default network) with their endpoint settings; the first takes
    /// `--network-alias`, `--ip`, `--ip6`, `--mac-address`, `--link-local-ip` and `--link`.
    fn endpoints(
        &self,
        links: &[String],
        api: (u32, u32),
    ) -> Result<Vec<(String, Map<String, Value>)>> {
        let o = self;
        let mut nets = o
            .network
            .iter()
            .map(|n| flag("--network", n, p::network))
            .collect::<Result<Vec<_>>>()?;
        if nets.is_empty() {
            nets.push(p::NetworkAttachment {
                target: "default".into(),
                ..Default::default()
            });
        }
        let first = &mut nets[0];
        let conflict = |what: &str| anyhow!("conflicting options: cannot specify both {what}");
        if !o.network_alias.is_empty() {
            if !first.aliases.is_empty() {
                return Err(conflict("--network-alias and per-network alias"));
            }
            first.aliases = o.network_alias.clone();
        }
        for (flag_value, per_network, what) in [
            (&o.ip, &mut first.ipv4, "--ip and per-network IPv4 address"),
            (
                &o.ip6,
                &mut first.ipv6,
                "--ip6 and per-network IPv6 address",
            ),
            (
                &o.mac_address,
                &mut first.mac,
                "--mac-address and per-network MAC address",
            ),
        ] {
            if let Some(v) = flag_value {
                if !per_network.is_empty() {
                    return Err(conflict(what));
                }
                *per_network = v.clone();
            }
        }
        if !o.link_local_ip.is_empty() {
            if !first.link_local.is_empty() {
                return Err(conflict(
                    "--link-local-ip and per-network link-local IP addresses",
                ));
            }
            first.link_local = o.link_local_ip.clone();
        }
        let user = nets.iter().filter(|n| user_defined(&n.target)).count();
        if user != 0 && user != nets.len() {
            bail!(
                "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
            );
        }
        let mut out: Vec<(String, Map<String, Value>)> = Vec::new();
        for (i, n) in nets.into_iter().enumerate() {
            if out.iter().any(|(t, _)| *t == n.target) {
                bail!("network {:?} is specified multiple times", n.target);
            }
            if !n.aliases.is_empty() && !user_defined(&n.target) {
                bail!("network-scoped aliases are only supported for user-defined networks");
            }
            if !n.mac.is_empty() && !valid_mac(&n.mac) {
                bail!("{} is not a valid mac address", n.mac);
            }
            let mut ep = Map::new();
            set(&mut ep, "Aliases", json!(n.aliases));
            if i == 0 && user_defined(&n.target) {
                set(&mut ep, "Links", json!(links));
            }
            let mut ipam = Map::new();
            set(&mut ipam, "IPv4Address", n.ipv4);
            set(&mut ipam, "IPv6Address", n.ipv6);
            set(&mut ipam, "LinkLocalIPs", json!(n.link_local));
            set(&mut ep, "IPAMConfig", Value::Object(ipam));
            if api >= (1, 44) {
                set(&mut ep, "MacAddress", n.mac);
            }
            set(&mut ep, "DriverOpts", json!(n.driver_opts));
            set(&mut ep, "GwPriority", n.gw_priority);
            out.push((n.target, ep));
        }
        Ok(out)
    }

    /// Capabilities, security options, privileges and namespaces.
    fn security(&self, hc: &mut Map<String, Value>) -> Result<()> {
        let o = self;
        set(hc, "CapAdd", json!(o.cap_add));
        set(hc, "CapDrop", json!(o.cap_drop));
        set(hc, "Privileged", o.privileged);
        let mut security_opt = Vec::new();
        for s in &o.security_opt {
            let kv = s
                .split_once('=')
                .or_else(|| s.split_once(':'))
                .filter(|(_, v)| !v.is_empty());
            match kv {
                None if s == "no-new-privileges" => security_opt.push(s.clone()),
                None => bail!("Invalid --security-opt: {s:?}"),
                // As docker does: seccomp=FILE sends the file's content, compacted.
                Some(("seccomp", v)) if v != "unconfined" && v != "builtin" => {
                    let text = std::fs::read_to_string(v).map_err(|e| {
                        anyhow!(
                            "opening seccomp profile ({v}) failed: {}",
                            p::open_error(v, &e)
                        )
                    })?;
                    let profile: Value = serde_json::from_str(&text).map_err(|e| {
                        anyhow!("compacting json for seccomp profile ({v}) failed: {e}")
                    })?;
                    security_opt.push(format!("seccomp={profile}"));
                }
                Some(_) => security_opt.push(s.clone()),
            }
        }
        set(hc, "SecurityOpt", json!(security_opt));
        set(
            hc,
            "PidMode",
            namespace_mode("--pid", "PID", &o.pid, &["host"])?,
        );
        set(
            hc,
            "UTSMode",
            namespace_mode("--uts", "UTS", &o.uts, &["host"])?,
        );
        let userns = namespace_mode("--userns", "USER", &o.userns, &["host"])?;
        set(hc, "UsernsMode", userns);
        let cgroupns = namespace_mode("--cgroupns", "CGROUP", &o.cgroupns, &["host", "private"])?;
        set(hc, "CgroupnsMode", cgroupns);
        set(hc, "IpcMode", o.ipc.clone().unwrap_or_default());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: RunOpts,
    }

    fn body(args: &[&str]) -> Result<Value> {
        let cli = Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied()))?;
        Ok(cli.opts.create_request(None, false, false, (1, 47))?.body)
    }

    #[test]
    fn ports_become_bindings() {
        let (exposed, bindings) = ports(&["127.0.0.1:8080:80".into(), "53/udp".into()]).unwrap();
        assert!(exposed.contains_key("80/tcp") && exposed.contains_key("53/udp"));
        assert_eq!(
            bindings["80/tcp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
        );
        assert_eq!(bindings["53/udp"], json!([{"HostIp": "", "HostPort": ""}]));
        assert!(ports(&["80/foo".into()]).is_err());
        assert!(ports(&["x:80".into()]).is_err());
    }

    #[test]
    fn flags_map_to_the_api_fields() {
        let b = body(&[
            "-m",
            "512m",
            "--memory-swap",
            "-1",
            "--cpus",
            "1.5",
            "-c",
            "512",
            "--restart",
            "on-failure:3",
            "--tmpfs",
            "/run:size=1m",
            "--tmpfs",
            "/t",
            "--add-host",
            "a:1.2.3.4",
            "--ulimit",
            "nofile=10:20",
            "--health-cmd",
            "true",
            "--health-interval",
            "1m30s",
            "-h",
            "box",
            "-v",
            "/anon",
            "-v",
            "/a:/b:ro",
            "--pids-limit",
            "-1",
            "--init",
            "bb",
            "true",
        ])
        .unwrap();
        let hc = &b["HostConfig"];
        assert_eq!(hc["Memory"], 512 << 20);
        assert_eq!(hc["MemorySwap"], -1);
        assert_eq!(hc["NanoCpus"], 1_500_000_000);
        assert_eq!(hc["CpuShares"], 512);
        assert_eq!(
            hc["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(hc["Tmpfs"], json!({"/run": "size=1m", "/t": ""}));
        assert_eq!(hc["ExtraHosts"], json!(["a:1.2.3.4"]));
        assert_eq!(
            hc["Ulimits"],
            json!([{"Name": "nofile", "Soft": 10, "Hard": 20}])
        );
        assert_eq!(hc["Binds"], json!(["/a:/b:ro"]));
        assert_eq!(hc["PidsLimit"], -1);
        assert_eq!(hc["Init"], true);
        assert_eq!(b["Volumes"], json!({"/anon": {}}));
        assert_eq!(b["Hostname"], "box");
        assert_eq!(
            b["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000i64})
        );
        assert_eq!(b["Cmd"], json!(["true"]));
        assert_eq!(clean(std::path::Path::new("/tmp/a/../x/./y")), "/tmp/x/y");
        let b = body(&["-v", "/a:ro", "-v", "/b", "bb"]).unwrap();
        assert_eq!(
            (&b["HostConfig"]["Binds"], &b["Volumes"]),
            (&json!(["/a:ro"]), &json!({"/b": {}}))
        );
        assert!(body(&["-v", ":/x", "bb"]).is_err());
        let b = body(&["-e", "A=1", "-e", "B=2", "-e", "A=3", "bb"]).unwrap();
        assert_eq!(b["Env"], json!(["A=3", "B=2"]));
    }

    #[test]
    fn refusals_read_like_docker() {
        let err = |args: &[&str]| format!("{:#}", body(args).unwrap_err());
        assert_eq!(
            err(&["-m", "10x", "bb"]),
            "invalid argument \"10x\" for \"-m, --memory\" flag: invalid suffix: 'x'"
        );
        assert_eq!(
            err(&["--health-interval", "10", "bb"]),
            "invalid argument \"10\" for \"--health-interval\" flag: time: missing unit in duration \"10\""
        );
        assert_eq!(
            err(&["--no-healthcheck", "--health-cmd", "x", "bb"]),
            "--no-healthcheck conflicts with --health-* options"
        );
        assert_eq!(err(&["--pid", "bogus", "bb"]), "--pid: invalid PID mode");
        assert_eq!(
            err(&["--network-alias", "a", "bb"]),
            "network-scoped aliases are only supported for user-defined networks"
        );
        assert!(err(&["--pull", "bogus", "bb"]).starts_with("invalid pull option: 'bogus'"));
        let cli = Cli::try_parse_from(["run", "--restart", "always", "bb"]).unwrap();
        assert_eq!(
            format!(
                "{:#}",
                cli.opts
                    .create_request(None, false, true, (1, 47))
                    .unwrap_err()
            ),
            "conflicting options: cannot specify both --restart and --rm"
        );
    }

    #[test]
    fn attach_streams() {
        let streams = |args: &[&str], detach| {
            let cli =
                Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied())).unwrap();
            cli.opts
                .create_request(None, detach, false, (1, 47))
                .map(|r| r.streams)
        };
        let s = |stdin, stdout, stderr| Streams {
            stdin,
            stdout,
            stderr,
        };
        assert_eq!(streams(&["bb"], false).unwrap(), s(false, true, true));
        assert_eq!(streams(&["-i", "bb"], false).unwrap(), s(true, true, true));
        assert_eq!(
            streams(&["-a", "STDOUT", "bb"], false).unwrap(),
            s(false, true, false)
        );
        assert_eq!(
            streams(&["-i", "bb"], true).unwrap(),
            s(false, false, false)
        );
        assert!(streams(&["-a", "stdout", "bb"], true).is_err());
        assert!(streams(&["-a", "x", "bb"], false).is_err());
    }
}
