//! CNI (spec 1.0) from the runtime's side: network configuration lists
//! (`.conflist`), running a list's plugins for ADD, CHECK and DEL with the CNI
//! environment and the per-plugin configuration on stdin (`name`,
//! `cniVersion`, `prevResult`, `runtimeConfig` for the capabilities the
//! plugin declares), checking what they answer, and caching each ADD's
//! result per container and interface as libcni does, so a DEL (after a
//! daemon crash too) gets the configuration and `prevResult` of its ADD.
//! Plugins run through [`PluginExec`] (the real one spawns the binary).

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Runs one plugin binary: (environment, stdin) -> stdout, or the failure.
pub trait PluginExec: Send + Sync {
    fn exec(&self, binary: &Path, env: &[(String, String)], stdin: &[u8]) -> Result<Vec<u8>>;
}

/// Spawns the plugin (a clean environment but for the CNI variables and PATH).
pub struct RealExec {
    /// How long one plugin may take (60 s).
    pub timeout: std::time::Duration,
}

impl Default for RealExec {
    fn default() -> Self {
        RealExec {
            timeout: std::time::Duration::from_secs(60),
        }
    }
}

impl PluginExec for RealExec {
    fn exec(&self, binary: &Path, env: &[(String, String)], stdin: &[u8]) -> Result<Vec<u8>> {
        let mut child = Command::new(binary)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(crate::error::io(format!(
                "run CNI plugin {}",
                binary.display()
            )))?;
        let input = stdin.to_vec();
        let mut w = child.stdin.take();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        // A plugin that hangs must not hold the container's start forever: after the timeout it
        // is killed (its pid stays ours until the waiting thread reaps it).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Some(w) = w.as_mut() {
                let _ = w.write_all(&input);
            }
            drop(w);
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(self.timeout) {
            Ok(r) => r.map_err(crate::error::io(format!(
                "wait for CNI plugin {}",
                binary.display()
            )))?,
            Err(_) => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                // Reaped by the thread; its children may hold the pipes a little longer.
                let _ = rx.recv_timeout(std::time::Duration::from_secs(5));
                return Err(Error::Command {
                    command: format!("CNI plugin {}", binary.display()),
                    stderr: format!("no answer in {:?}: killed", self.timeout),
                });
            }
        };
        if out.status.success() {
            return Ok(out.stdout);
        }
        // The spec's error: {"code", "msg", "details"} on stdout.
        let why = serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .map(|v| {
                let msg = v["msg"].as_str().unwrap_or("").to_string();
                match v["details"].as_str().filter(|d| !d.is_empty()) {
                    Some(d) => format!("{msg}: {d} (code {})", v["code"]),
                    None => format!("{msg} (code {})", v["code"]),
                }
            })
            .unwrap_or_else(|| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout).trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            });
        Err(Error::Command {
            command: format!("CNI plugin {}", binary.display()),
            stderr: why,
        })
    }
}

/// A network configuration list.
#[derive(Debug, Clone)]
pub struct ConfList {
    pub name: String,
    pub cni_version: String,
    pub disable_check: bool,
    /// Each plugin's configuration as written (with `type`).
    pub plugins: Vec<Value>,
    /// The list as read (kept with the network and in the cache).
    pub raw: Value,
}

impl ConfList {
    /// Parse and check a conflist (a single-plugin `.conf` is taken as a list of one).
    pub fn parse(text: &[u8]) -> Result<ConfList> {
        let bad = |why: String| Error::Unsupported(format!("invalid CNI configuration: {why}"));
        let raw: Value = serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?;
        let name = raw["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("no \"name\"".into()))?
            .to_string();
        let cni_version = raw["cniVersion"]
            .as_str()
            .ok_or_else(|| bad("no \"cniVersion\"".into()))?
            .to_string();
        let plugins = match raw.get("plugins") {
            Some(Value::Array(p)) => p.clone(),
            Some(_) => return Err(bad("\"plugins\" is not a list".into())),
            None if raw.get("type").is_some() => vec![raw.clone()],
            None => return Err(bad("no \"plugins\"".into())),
        };
        if plugins.is_empty() {
            return Err(bad("\"plugins\" is empty".into()));
        }
        for p in &plugins {
            let t = p["type"].as_str().unwrap_or("");
            if t.is_empty() || t.contains('/') || t.starts_with('.') {
                return Err(bad(format!("plugin type {t:?}")));
            }
        }
        Ok(ConfList {
            name,
            cni_version,
            disable_check: raw["disableCheck"].as_bool().unwrap_or(false),
            plugins,
            raw,
        })
    }

    pub fn read(path: &Path) -> Result<ConfList> {
        let text =
            std::fs::read(path).map_err(crate::error::io(format!("read {}", path.display())))?;
        ConfList::parse(&text)
    }

    /// Whether the list's plugins support CHECK (spec 0.4.0 on).
    pub fn can_check(&self) -> bool {
        !self.disable_check
            && !self.cni_version.starts_with("0.1")
            && !self.cni_version.starts_with("0.2")
            && !self.cni_version.starts_with("0.3")
    }

    /// The first plugin's `ipam.ranges[0][0].subnet` or `ipam.subnet` (what inspect shows).
    pub fn subnet(&self) -> Option<crate::ipam::Subnet> {
        let ipam = self.plugins.iter().find_map(|p| p.get("ipam"))?;
        let s = ipam["ranges"][0][0]["subnet"]
            .as_str()
            .or_else(|| ipam["subnet"].as_str())?;
        s.parse().ok()
    }
}

/// One attachment's parameters (the same for ADD, CHECK and DEL).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Invocation {
    pub container_id: String,
    pub netns: String,
    pub ifname: String,
    /// Capability arguments (`portMappings`).
    pub capability_args: Value,
}

/// The checked parts of an ADD result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddResult {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    pub nameservers: Vec<Ipv4Addr>,
    pub raw: Value,
}

/// Check a plugin's result (outside input): an object with `cniVersion`, IPs in CIDR form whose
/// `interface` indexes `interfaces`. Returns the IPv4 address of `ifname` (or the first one).
pub fn check_result(v: &Value, ifname: &str) -> std::result::Result<Option<AddResult>, String> {
    if !v.is_object() {
        return Err("the result is not a JSON object".into());
    }
    if v["cniVersion"].as_str().is_none() {
        return Err("the result has no cniVersion".into());
    }
    let ifaces = match v.get("interfaces") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err("\"interfaces\" is not a list".into()),
    };
    let mut best: Option<AddResult> = None;
    let ips = match v.get("ips") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err("\"ips\" is not a list".into()),
    };
    for ip in &ips {
        let addr = ip["address"].as_str().ok_or("an IP without \"address\"")?;
        let iface = match ip.get("interface") {
            None | Some(Value::Null) => None,
            Some(i) => {
                let i = i.as_u64().ok_or("an IP's \"interface\" is not an index")? as usize;
                Some(
                    ifaces
                        .get(i)
                        .ok_or("an IP's \"interface\" is out of range")?,
                )
            }
        };
        if addr.contains(':') {
            continue; // IPv6: not ours to show yet
        }
        let (a, p) = addr
            .split_once('/')
            .ok_or(format!("address {addr:?} is not CIDR"))?;
        let a: Ipv4Addr = a.parse().map_err(|_| format!("bad address {addr:?}"))?;
        let p: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or(format!("bad prefix {addr:?}"))?;
        let gateway = match ip["gateway"].as_str() {
            None | Some("") => None,
            Some(g) => Some(g.parse().map_err(|_| format!("bad gateway {g:?}"))?),
        };
        let mine = iface.is_some_and(|i| i["name"] == json!(ifname));
        let mac = iface
            .and_then(|i| i["mac"].as_str())
            .unwrap_or("")
            .to_string();
        if best.is_none() || mine {
            best = Some(AddResult {
                address: a,
                prefix: p,
                gateway,
                mac,
                nameservers: Vec::new(),
                raw: v.clone(),
            });
        }
        if mine {
            break;
        }
    }
    if let Some(b) = best.as_mut() {
        b.nameservers = v["dns"]["nameservers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str()?.parse().ok())
            .collect();
    }
    Ok(best)
}

/// What libcni keeps of an ADD (`cniCacheV1`): the list and parameters used, and the result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Cached {
    pub kind: String,
    #[serde(rename = "containerId")]
    pub container_id: String,
    pub config: Value,
    #[serde(rename = "ifName")]
    pub if_name: String,
    #[serde(rename = "networkName")]
    pub network_name: String,
    pub netns: String,
    #[serde(rename = "capabilityArgs")]
    pub capability_args: Value,
    /// None while the ADD runs (a crash then leaves an entry DEL can still clean up).
    pub result: Option<Value>,
}

/// Runs a list's plugins from `plugin_dir` and caches results in `cache_dir`.
pub struct Runner {
    pub plugin_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub exec: Box<dyn PluginExec>,
}

impl Runner {
    /// `<cache>/results/<network>-<container>-<ifname>`, as libcni names them.
    pub fn cache_path(&self, network: &str, container_id: &str, ifname: &str) -> PathBuf {
        self.cache_dir
            .join("results")
            .join(format!("{network}-{container_id}-{ifname}"))
    }

    fn write_cache(&self, c: &Cached) -> Result<()> {
        let path = self.cache_path(&c.network_name, &c.container_id, &c.if_name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(crate::error::io(format!("create {}", dir.display())))?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(c).expect("serializable"))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(crate::error::io(format!("write {}", path.display())))
    }

    /// The cached ADDs of `network` (for cleanup after a crash).
    pub fn cached(&self, network: &str) -> Vec<Cached> {
        let Ok(rd) = std::fs::read_dir(self.cache_dir.join("results")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{network}-"))
            })
            .filter_map(|e| serde_json::from_slice::<Cached>(&std::fs::read(e.path()).ok()?).ok())
            .filter(|c| c.network_name == network)
            .collect()
    }

    /// One plugin's stdin: its configuration with the list's name and version, the previous
    /// result, and the runtimeConfig of the capabilities it declares.
    fn plugin_conf(list: &ConfList, plugin: &Value, prev: Option<&Value>, caps: &Value) -> Value {
        let mut conf = plugin.clone();
        conf["name"] = json!(list.name);
        conf["cniVersion"] = json!(list.cni_version);
        if let Some(p) = prev {
            conf["prevResult"] = p.clone();
        }
        let mut runtime = serde_json::Map::new();
        if let Some(declared) = plugin["capabilities"].as_object() {
            for (k, on) in declared {
                if on.as_bool() == Some(true) {
                    if let Some(v) = caps.get(k) {
                        runtime.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if !runtime.is_empty() {
            conf["runtimeConfig"] = Value::Object(runtime);
        }
        conf
    }

    fn run(
        &self,
        command: &str,
        list: &ConfList,
        plugin: &Value,
        inv: &Invocation,
        prev: Option<&Value>,
    ) -> Result<Vec<u8>> {
        let t = plugin["type"].as_str().unwrap_or("");
        let binary = self.plugin_dir.join(t);
        if !binary.is_file() {
            return Err(Error::Unsupported(format!(
                "CNI plugin {t:?} not found in {}",
                self.plugin_dir.display()
            )));
        }
        let env = [
            ("CNI_COMMAND", command.to_string()),
            ("CNI_CONTAINERID", inv.container_id.clone()),
            ("CNI_NETNS", inv.netns.clone()),
            ("CNI_IFNAME", inv.ifname.clone()),
            ("CNI_ARGS", String::new()),
            ("CNI_PATH", self.plugin_dir.display().to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v));
        let conf = Self::plugin_conf(list, plugin, prev, &inv.capability_args);
        self.exec.exec(
            &binary,
            &env,
            &serde_json::to_vec(&conf).expect("serializable"),
        )
    }

    /// ADD through the list; the last result, cached. A failed ADD runs DEL through the list and
    /// leaves no cache entry.
    pub fn add(&self, list: &ConfList, inv: &Invocation) -> Result<AddResult> {
        let mut cached = Cached {
            kind: "cniCacheV1".into(),
            container_id: inv.container_id.clone(),
            config: list.raw.clone(),
            if_name: inv.ifname.clone(),
            network_name: list.name.clone(),
            netns: inv.netns.clone(),
            capability_args: inv.capability_args.clone(),
            result: None,
        };
        self.write_cache(&cached)?;
        let mut prev: Option<Value> = None;
        let outcome = (|| {
            for p in &list.plugins {
                let out = self.run("ADD", list, p, inv, prev.as_ref())?;
                let v: Value = serde_json::from_slice(&out).map_err(|e| Error::Command {
                    command: format!("CNI plugin {}", p["type"]),
                    stderr: format!("its ADD result is not JSON: {e}"),
                })?;
                check_result(&v, &inv.ifname).map_err(|why| Error::Command {
                    command: format!("CNI plugin {}", p["type"]),
                    stderr: format!("invalid ADD result: {why}"),
                })?;
                prev = Some(v);
            }
            let last = prev.clone().unwrap_or(Value::Null);
            check_result(&last, &inv.ifname)
                .ok()
                .flatten()
                .ok_or_else(|| Error::Command {
                    command: format!("CNI network {}", list.name),
                    stderr: "the result has no IPv4 address".into(),
                })
        })();
        match outcome {
            Ok(r) => {
                cached.result = Some(r.raw.clone());
                self.write_cache(&cached)?;
                Ok(r)
            }
            Err(e) => {
                let _ = self.del_with(list, inv, prev.as_ref());
                let _ = std::fs::remove_file(self.cache_path(
                    &list.name,
                    &inv.container_id,
                    &inv.ifname,
                ));
                Err(e)
            }
        }
    }

    fn del_with(&self, list: &ConfList, inv: &Invocation, prev: Option<&Value>) -> Result<()> {
        let mut errors = Vec::new();
        for p in list.plugins.iter().rev() {
            if let Err(e) = self.run("DEL", list, p, inv, prev) {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Cleanup(errors.join("; ")))
        }
    }

    /// DEL through the list (in reverse) with the configuration, parameters and result of the
    /// cached ADD (or `list` and `inv` when nothing is cached); the cache entry goes.
    pub fn del(&self, list: &ConfList, inv: &Invocation) -> Result<()> {
        let path = self.cache_path(&list.name, &inv.container_id, &inv.ifname);
        let cached = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cached>(&b).ok());
        let (list, inv, prev) = match &cached {
            Some(c) => (
                ConfList::parse(&serde_json::to_vec(&c.config).expect("json"))
                    .unwrap_or_else(|_| list.clone()),
                Invocation {
                    container_id: c.container_id.clone(),
                    netns: c.netns.clone(),
                    ifname: c.if_name.clone(),
                    capability_args: c.capability_args.clone(),
                },
                c.result.clone(),
            ),
            None => (list.clone(), inv.clone(), None),
        };
        self.del_with(&list, &inv, prev.as_ref())?;
        let _ = std::fs::remove_file(&path);
        Ok(())
    }

    /// CHECK through the list with the cached result (lists of spec 0.4.0 on, unless disabled).
    pub fn check(&self, list: &ConfList, inv: &Invocation) -> Result<()> {
        if !list.can_check() {
            return Ok(());
        }
        let path = self.cache_path(&list.name, &inv.container_id, &inv.ifname);
        let prev = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cached>(&b).ok())
            .and_then(|c| c.result);
        for p in &list.plugins {
            self.run("CHECK", list, p, inv, prev.as_ref())?;
        }
        Ok(())
    }
}

/// The `portMappings` capability argument of published ports.
pub fn port_mappings(ports: &[crate::PortMapping]) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|p| {
                let mut m = json!({"hostPort": p.host_port, "containerPort": p.container_port,
                                   "protocol": p.protocol});
                if let Some(ip) = p.host_ip {
                    m["hostIP"] = json!(ip.to_string());
                }
                m
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A plugin runner that logs (plugin, CNI_COMMAND, stdin) and answers from a script.
    #[derive(Clone, Default)]
    struct FakeExec {
        log: Arc<Mutex<Vec<(String, String, Value)>>>,
        /// Plugin type whose ADD fails.
        fail_add: Option<&'static str>,
        /// Answer this instead of a proper result (plugin type, stdout).
        garbage: Option<(&'static str, &'static str)>,
    }

    impl PluginExec for FakeExec {
        fn exec(&self, binary: &Path, env: &[(String, String)], stdin: &[u8]) -> Result<Vec<u8>> {
            let t = binary.file_name().unwrap().to_string_lossy().into_owned();
            let get = |k: &str| {
                env.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap()
            };
            let cmd = get("CNI_COMMAND");
            assert_eq!(get("CNI_IFNAME"), "eth0");
            assert_eq!(get("CNI_CONTAINERID"), "c1");
            assert!(!get("CNI_PATH").is_empty());
            let conf: Value = serde_json::from_slice(stdin).unwrap();
            self.log
                .lock()
                .unwrap()
                .push((t.clone(), cmd.clone(), conf.clone()));
            if cmd != "ADD" {
                return Ok(Vec::new());
            }
            if self.fail_add == Some(t.as_str()) {
                return Err(Error::Command {
                    command: t,
                    stderr: "no can do".into(),
                });
            }
            if let Some((g, out)) = self.garbage {
                if g == t {
                    return Ok(out.as_bytes().to_vec());
                }
            }
            // bridge makes the result; the others pass prevResult through.
            let result = conf.get("prevResult").cloned().unwrap_or_else(|| {
                json!({"cniVersion": "1.0.0",
                       "interfaces": [{"name": "cni0"}, {"name": "eth0", "mac": "02:00:00:00:00:09", "sandbox": "/proc/1/ns/net"}],
                       "ips": [{"address": "10.5.0.9/24", "gateway": "10.5.0.1", "interface": 1}],
                       "dns": {"nameservers": ["10.5.0.53"]}})
            });
            Ok(serde_json::to_vec(&result).unwrap())
        }
    }

    fn list() -> ConfList {
        ConfList::parse(
            br#"{"cniVersion": "1.0.0", "name": "n", "plugins": [
                 {"type": "bridge", "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.5.0.0/24"}]]}},
                 {"type": "portmap", "capabilities": {"portMappings": true}},
                 {"type": "tuning", "capabilities": {"mac": true}}]}"#,
        )
        .unwrap()
    }

    fn runner(exec: FakeExec, dir: &Path) -> Runner {
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        for p in ["bridge", "portmap", "tuning"] {
            std::fs::write(dir.join("plugins").join(p), "").unwrap();
        }
        Runner {
            plugin_dir: dir.join("plugins"),
            cache_dir: dir.join("cache"),
            exec: Box::new(exec),
        }
    }

    fn inv() -> Invocation {
        let ports = crate::parse_port_spec("8080:80").unwrap();
        Invocation {
            container_id: "c1".into(),
            netns: "/proc/1/ns/net".into(),
            ifname: "eth0".into(),
            capability_args: json!({"portMappings": port_mappings(&ports), "mac": "02:00:00:00:00:01"}),
        }
    }

    #[test]
    fn add_chains_prev_results_and_del_gets_the_cached_one() {
        let dir = tempfile::tempdir().unwrap();
        let exec = FakeExec::default();
        let r = runner(exec.clone(), dir.path());
        let l = list();
        assert_eq!(l.subnet().unwrap().to_string(), "10.5.0.0/24");
        let res = r.add(&l, &inv()).unwrap();
        assert_eq!((res.address, res.prefix), (Ipv4Addr::new(10, 5, 0, 9), 24));
        assert_eq!(res.gateway, Some(Ipv4Addr::new(10, 5, 0, 1)));
        assert_eq!(res.mac, "02:00:00:00:00:09");
        assert_eq!(res.nameservers, [Ipv4Addr::new(10, 5, 0, 53)]);
        {
            let log = exec.log.lock().unwrap();
            let order: Vec<(&str, &str)> = log
                .iter()
                .map(|(t, c, _)| (t.as_str(), c.as_str()))
                .collect();
            assert_eq!(
                order,
                [("bridge", "ADD"), ("portmap", "ADD"), ("tuning", "ADD")]
            );
            let (bridge, portmap, tuning) = (&log[0].2, &log[1].2, &log[2].2);
            // Each plugin gets the list's name and version; the first no prevResult.
            assert_eq!(
                (bridge["name"].as_str(), bridge["cniVersion"].as_str()),
                (Some("n"), Some("1.0.0"))
            );
            assert!(bridge.get("prevResult").is_none());
            assert!(
                bridge.get("runtimeConfig").is_none(),
                "bridge declares no capability"
            );
            assert_eq!(portmap["prevResult"]["ips"][0]["address"], "10.5.0.9/24");
            // Only the capabilities a plugin declares reach it.
            assert_eq!(
                portmap["runtimeConfig"]["portMappings"][0]["hostPort"],
                8080
            );
            assert_eq!(
                portmap["runtimeConfig"]["portMappings"][0]["containerPort"],
                80
            );
            assert!(portmap["runtimeConfig"].get("mac").is_none());
            assert_eq!(tuning["runtimeConfig"], json!({"mac": "02:00:00:00:00:01"}));
        }
        let cached = r.cached("n");
        assert_eq!(cached.len(), 1);
        assert_eq!(cached[0].kind, "cniCacheV1");
        assert!(cached[0].result.is_some());
        // DEL runs in reverse with the cached result, even if the list changed meanwhile.
        let mut changed = l.clone();
        changed.plugins.truncate(1);
        r.del(&changed, &inv()).unwrap();
        let log = exec.log.lock().unwrap();
        let dels: Vec<&(String, String, Value)> =
            log.iter().filter(|(_, c, _)| c == "DEL").collect();
        let order: Vec<&str> = dels.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(order, ["tuning", "portmap", "bridge"]);
        for (_, _, conf) in &dels {
            assert_eq!(conf["prevResult"]["ips"][0]["address"], "10.5.0.9/24");
        }
        assert!(r.cached("n").is_empty(), "the cache entry goes with DEL");
    }

    #[test]
    fn a_failed_or_garbage_add_runs_del_and_keeps_no_cache() {
        for exec in [
            FakeExec {
                fail_add: Some("portmap"),
                ..Default::default()
            },
            FakeExec {
                garbage: Some(("portmap", "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.5.0.9\"}]}")),
                ..Default::default()
            },
            FakeExec {
                garbage: Some(("bridge", "not json")),
                ..Default::default()
            },
            FakeExec {
                garbage: Some(("tuning", "{\"cniVersion\": \"1.0.0\", \"interfaces\": [], \"ips\": [{\"address\": \"10.5.0.9/24\", \"interface\": 3}]}")),
                ..Default::default()
            },
        ] {
            let dir = tempfile::tempdir().unwrap();
            let r = runner(exec.clone(), dir.path());
            assert!(r.add(&list(), &inv()).is_err());
            let log = exec.log.lock().unwrap();
            let dels: Vec<&str> = log
                .iter()
                .filter(|(_, c, _)| c == "DEL")
                .map(|(t, _, _)| t.as_str())
                .collect();
            assert_eq!(dels, ["tuning", "portmap", "bridge"], "DEL through the whole list");
            assert!(r.cached("n").is_empty());
        }
    }

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("plugin");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn real_plugins_errors_and_hangs() {
        let dir = tempfile::tempdir().unwrap();
        let exec = RealExec {
            timeout: std::time::Duration::from_millis(300),
        };
        let env = [("CNI_COMMAND".to_string(), "ADD".to_string())];
        // stdin arrives, the environment is only what was given (and PATH).
        let p = script(dir.path(), "cat; echo \" $CNI_COMMAND ${HOME:-nohome}\"");
        let out = exec.exec(&p, &env, b"{}").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{} ADD nohome\n");
        // The spec's error object becomes the message.
        let p = script(
            dir.path(),
            "echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad config\",\"details\":\"no bridge\"}'; exit 1",
        );
        let e = exec.exec(&p, &env, b"{}").unwrap_err();
        assert!(
            e.to_string().contains("bad config: no bridge (code 7)"),
            "{e}"
        );
        // A hanging plugin is killed after the timeout.
        let p = script(dir.path(), "exec sleep 30");
        let t = std::time::Instant::now();
        let e = exec.exec(&p, &env, b"{}").unwrap_err();
        assert!(e.to_string().contains("killed"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn conflists_and_results_are_checked() {
        for bad in [
            &b"{"[..],
            br#"{"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}"#,
            br#"{"cniVersion": "1.0.0", "name": "n", "plugins": []}"#,
            br#"{"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../../bin/sh"}]}"#,
        ] {
            assert!(
                ConfList::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // A single plugin's .conf is a list of one.
        let one =
            ConfList::parse(br#"{"cniVersion": "0.3.1", "name": "n", "type": "bridge"}"#).unwrap();
        assert_eq!(one.plugins.len(), 1);
        assert!(!one.can_check(), "CHECK came with 0.4.0");
        assert!(list().can_check());
        assert!(check_result(&json!([]), "eth0").is_err());
        assert!(check_result(&json!({"ips": []}), "eth0").is_err());
        assert!(check_result(
            &json!({"cniVersion": "1.0.0", "ips": [{"address": "300.1.1.1/24"}]}),
            "eth0"
        )
        .is_err());
        assert!(check_result(
            &json!({"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.1/24", "gateway": "x"}]}),
            "eth0"
        )
        .is_err());
        assert_eq!(
            check_result(&json!({"cniVersion": "1.0.0"}), "eth0").unwrap(),
            None
        );
        // A plugin that is not there.
        let dir = tempfile::tempdir().unwrap();
        let r = runner(FakeExec::default(), dir.path());
        let missing = ConfList::parse(
            br#"{"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "nosuch"}]}"#,
        )
        .unwrap();
        let e = r.add(&missing, &inv()).unwrap_err();
        assert!(
            e.to_string().contains("CNI plugin \"nosuch\" not found"),
            "{e}"
        );
    }
}
