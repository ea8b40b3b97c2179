//! A managed plugin's `config.json` (what `docker plugin create` takes and a registry serves as the
//! config blob `application/vnd.docker.plugin.v1+json`), its settings (`docker plugin set`) and the
//! privileges it asks for (`GET /plugins/privileges`), with dockerd's field names and rules.

use serde::{Deserialize, Serialize};

/// The media type of a plugin's config blob in a registry.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.docker.plugin.v1+json";

/// `Interface`: the protocols served and the socket (created in /run/docker/plugins inside).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Interface {
    /// `docker.volumedriver/1.0` and the like.
    #[serde(rename = "Types")]
    pub types: Vec<String>,
    /// The socket's file name.
    #[serde(rename = "Socket")]
    pub socket: String,
    /// `moby.plugins.http/v1` (or empty).
    #[serde(rename = "ProtocolScheme", skip_serializing_if = "String::is_empty")]
    pub protocol_scheme: String,
}

/// `Env[]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Env {
    /// Variable name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Which fields `set` may change (`value`).
    pub settable: Vec<String>,
    /// Default value (none: not set).
    pub value: Option<String>,
}

/// `Args`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Args {
    /// The name `set` uses.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `value` when settable.
    pub settable: Vec<String>,
    /// Arguments appended to the entrypoint.
    pub value: Vec<String>,
}

/// `Mounts[]`: a host path the plugin gets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// The name `set` uses.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `source` when settable.
    pub settable: Vec<String>,
    /// Host path (none: must be set before enabling).
    pub source: Option<String>,
    /// Path inside the plugin.
    pub destination: String,
    /// `bind` and the like.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Mount options.
    pub options: Vec<String>,
}

/// `Linux.Devices[]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Device {
    /// The name `set` uses.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `path` when settable.
    pub settable: Vec<String>,
    /// Host device path.
    pub path: Option<String>,
}

/// `Linux`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Linux {
    /// Capabilities beyond Docker's default set (`CAP_SYS_ADMIN`).
    pub capabilities: Vec<String>,
    /// `rwm` on every device.
    pub allow_all_devices: bool,
    /// Devices given to the plugin.
    pub devices: Vec<Device>,
}

/// `Network`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Network {
    /// `host` (the host's network namespace), or empty/`none`/`bridge`.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// `User`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct User {
    /// uid.
    #[serde(rename = "UID")]
    pub uid: u32,
    /// gid.
    #[serde(rename = "GID")]
    pub gid: u32,
}

/// `rootfs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RootFs {
    /// `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The uncompressed layer digests.
    pub diff_ids: Vec<String>,
}

/// A plugin's configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    /// The engine version that made it (informative).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub docker_version: String,
    /// Free text (`plugin ls`).
    pub description: String,
    /// A URL.
    pub documentation: String,
    /// Protocols and socket.
    pub interface: Interface,
    /// The program.
    pub entrypoint: Vec<String>,
    /// Its working directory (default `/`).
    pub work_dir: String,
    /// Its user.
    pub user: User,
    /// Its network.
    pub network: Network,
    /// Capabilities and devices.
    pub linux: Linux,
    /// Where volumes live inside the plugin; shared back to the host.
    pub propagated_mount: String,
    /// Host IPC namespace.
    pub ipc_host: bool,
    /// Host PID namespace.
    pub pid_host: bool,
    /// Host paths mounted into the plugin.
    pub mounts: Vec<Mount>,
    /// Environment.
    pub env: Vec<Env>,
    /// Settable arguments.
    pub args: Args,
    /// The layers.
    #[serde(rename = "rootfs", skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
}

/// What is wrong with a configuration or a setting.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The JSON does not parse.
    #[error("failed to parse config: {0}")]
    Parse(String),
    /// A field is missing or wrong.
    #[error("invalid plugin config: {0}")]
    Invalid(String),
    /// `set` names nothing in the configuration.
    #[error("setting {0:?} not found in the plugin configuration")]
    NoSuchSetting(String),
    /// `set` names something not settable.
    #[error("{0:?} is not settable")]
    NotSettable(String),
    /// `set` of a name with several settable fields, no field given.
    #[error("multiple fields are settable, one must be specified")]
    MultipleFields,
    /// `set` argument not `name[.field][=value]`.
    #[error("invalid format, must be <name>[.<field>][=<value>]")]
    Format,
}

/// The interface a `Types` entry stands for, as the legacy protocol's `Implements` names it.
pub fn implements_of(kind: &str) -> Option<&'static str> {
    let (cap, _version) = kind.split_once('/').unwrap_or((kind, ""));
    Some(match cap {
        "docker.volumedriver" => crate::VOLUME,
        "docker.networkdriver" => crate::NETWORK,
        "docker.ipamdriver" => crate::IPAM,
        "docker.authz" => crate::AUTHZ,
        "docker.logdriver" => "LogDriver",
        "docker.metricscollector" => "MetricsCollector",
        _ => return None,
    })
}

/// The spelling of each field name; dockerd (Go) matches JSON keys without regard to case, so
/// `"entrypoint"` is `Entrypoint` (the SDK's test plugin is all lower case).
const FIELDS: &[&str] = &[
    "AllowAllDevices",
    "Args",
    "Capabilities",
    "Description",
    "Destination",
    "Devices",
    "DockerVersion",
    "Documentation",
    "Entrypoint",
    "Env",
    "GID",
    "Interface",
    "IpcHost",
    "Linux",
    "Mounts",
    "Name",
    "Network",
    "Options",
    "Path",
    "PidHost",
    "PropagatedMount",
    "ProtocolScheme",
    "Settable",
    "Socket",
    "Source",
    "Type",
    "Types",
    "UID",
    "User",
    "Value",
    "WorkDir",
];

fn canonical_keys(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    if k.eq_ignore_ascii_case("rootfs") {
                        return ("rootfs".to_string(), v);
                    }
                    let k = FIELDS
                        .iter()
                        .find(|f| f.eq_ignore_ascii_case(&k))
                        .map(|f| f.to_string())
                        .unwrap_or(k);
                    (k, canonical_keys(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(canonical_keys).collect()),
        other => other,
    }
}

impl Config {
    /// Parse and check a `config.json` (keys in any case, as dockerd reads them).
    pub fn parse(bytes: &[u8]) -> Result<Config, ConfigError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let c: Config = serde_json::from_value(canonical_keys(v))
            .map_err(|e| ConfigError::Parse(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// dockerd's checks, plus what running it needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.interface.types.is_empty() {
            return bad("Interface.Types is empty");
        }
        if let Some(t) = self
            .interface
            .types
            .iter()
            .find(|t| implements_of(t).is_none())
        {
            return bad(&format!("unknown interface type {t:?}"));
        }
        let s = &self.interface.socket;
        if s.is_empty() || s.contains('/') || s == "." || s == ".." {
            return bad("Interface.Socket must be a file name");
        }
        if self.entrypoint.is_empty() {
            return bad("Entrypoint is empty");
        }
        if !self.propagated_mount.is_empty() && !self.propagated_mount.starts_with('/') {
            return bad("PropagatedMount must be an absolute path");
        }
        for m in &self.mounts {
            if !m.destination.starts_with('/') {
                return bad(&format!("mount {:?}: Destination must be absolute", m.name));
            }
        }
        Ok(())
    }

    /// The legacy interfaces it implements (`VolumeDriver`, ...).
    pub fn implements(&self) -> Vec<String> {
        self.interface
            .types
            .iter()
            .filter_map(|t| implements_of(t))
            .map(String::from)
            .collect()
    }

    /// The privileges it asks for, in dockerd's order and words.
    pub fn privileges(&self) -> Vec<Privilege> {
        let p = |name: &str, description: &str, value: Vec<String>| Privilege {
            name: name.into(),
            description: description.into(),
            value,
        };
        let mut out = Vec::new();
        let net = self.network.kind.as_str();
        if !matches!(net, "" | "null" | "bridge") {
            out.push(p(
                "network",
                "permissions to access a network",
                vec![net.into()],
            ));
        }
        if self.ipc_host {
            out.push(p(
                "host ipc namespace",
                "allow access to host ipc namespace",
                vec!["true".into()],
            ));
        }
        if self.pid_host {
            out.push(p(
                "host pid namespace",
                "allow access to host pid namespace",
                vec!["true".into()],
            ));
        }
        for m in &self.mounts {
            if let Some(s) = &m.source {
                out.push(p("mount", "host path to mount", vec![s.clone()]));
            }
        }
        for d in &self.linux.devices {
            if let Some(path) = &d.path {
                out.push(p("device", "host device to access", vec![path.clone()]));
            }
        }
        if self.linux.allow_all_devices {
            out.push(p(
                "allow-all-devices",
                "allow 'rwm' access to all devices",
                vec!["true".into()],
            ));
        }
        if !self.linux.capabilities.is_empty() {
            out.push(p(
                "capabilities",
                "list of additional capabilities required",
                self.linux.capabilities.clone(),
            ));
        }
        out
    }
}

/// One privilege (`GET /plugins/privileges`, the body of `POST /plugins/pull`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Privilege {
    /// `network`, `mount`, `device`, `capabilities`, ...
    pub name: String,
    /// What it means.
    pub description: String,
    /// The values asked for.
    pub value: Vec<String>,
}

/// Whether the privileges a user accepted are exactly those asked for (order aside).
pub fn privileges_match(asked: &[Privilege], accepted: &[Privilege]) -> bool {
    let key = |p: &Privilege| (p.name.clone(), p.value.clone());
    let mut a: Vec<_> = asked.iter().map(key).collect();
    let mut b: Vec<_> = accepted.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// `Settings`: what `docker plugin set` changes (and what the plugin then runs with).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Settings {
    /// The mounts (sources as set).
    pub mounts: Vec<Mount>,
    /// `NAME=VALUE`.
    pub env: Vec<String>,
    /// Arguments after the entrypoint.
    pub args: Vec<String>,
    /// The devices (paths as set).
    pub devices: Vec<Device>,
}

impl Settings {
    /// The settings of a fresh plugin: the configuration's defaults (dockerd's `InitEmptySettings`).
    pub fn initial(c: &Config) -> Settings {
        Settings {
            mounts: c.mounts.clone(),
            devices: c.linux.devices.clone(),
            env: c
                .env
                .iter()
                .filter_map(|e| e.value.as_ref().map(|v| format!("{}={v}", e.name)))
                .collect(),
            args: c.args.value.clone(),
        }
    }

    /// Apply `name[.field]=value` arguments: env (`value`), mounts (`source`), devices (`path`), the
    /// args (`value`, split on spaces), each only where the configuration lists the field as
    /// settable. Nothing changes unless every argument applies.
    pub fn set(&self, c: &Config, args: &[String]) -> Result<Settings, ConfigError> {
        let mut s = self.clone();
        for arg in args {
            let (name, value) = match arg.split_once('=') {
                Some(("", _)) => return Err(ConfigError::Format),
                Some((n, v)) => (n, v),
                None => (arg.as_str(), ""),
            };
            let (name, mut field) = match name.rfind('.') {
                Some(i) if i > 0 => (&name[..i], name[i + 1..].to_string()),
                _ => (name, String::new()),
            };
            let pretty = |f: &str| {
                if f.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}.{f}")
                }
            };
            let check = |field: &mut String,
                         allowed: &str,
                         settable: &[String]|
             -> Result<(), ConfigError> {
                if field.is_empty() {
                    match settable {
                        [one] => *field = one.clone(),
                        [] => {}
                        _ => return Err(ConfigError::MultipleFields),
                    }
                }
                if field == allowed && settable.iter().any(|x| x == allowed) {
                    Ok(())
                } else {
                    Err(ConfigError::NotSettable(pretty(field)))
                }
            };
            if let Some(e) = c.env.iter().find(|e| e.name == name) {
                check(&mut field, "value", &e.settable)?;
                let kv = format!("{name}={value}");
                match s
                    .env
                    .iter_mut()
                    .find(|x| x.split_once('=').map(|(k, _)| k) == Some(name))
                {
                    Some(x) => *x = kv,
                    None => s.env.push(kv),
                }
            } else if let Some(m) = c.mounts.iter().find(|m| m.name == name) {
                check(&mut field, "source", &m.settable)?;
                match s.mounts.iter_mut().find(|x| x.name == name) {
                    Some(x) => x.source = Some(value.to_string()),
                    None => s.mounts.push(Mount {
                        source: Some(value.to_string()),
                        ..m.clone()
                    }),
                }
            } else if let Some(d) = c.linux.devices.iter().find(|d| d.name == name) {
                check(&mut field, "path", &d.settable)?;
                match s.devices.iter_mut().find(|x| x.name == name) {
                    Some(x) => x.path = Some(value.to_string()),
                    None => s.devices.push(Device {
                        path: Some(value.to_string()),
                        ..d.clone()
                    }),
                }
            } else if !c.args.name.is_empty() && c.args.name == name {
                check(&mut field, "value", &c.args.settable)?;
                s.args = value.split(' ').map(String::from).collect();
            } else {
                return Err(ConfigError::NoSuchSetting(name.to_string()));
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSHFS: &str = r#"{
      "Description": "sshFS plugin for Docker",
      "Documentation": "https://docs.docker.com/engine/extend/plugins/",
      "Entrypoint": ["/docker-volume-sshfs"],
      "Env": [{"Name": "DEBUG", "Settable": ["value"], "Value": "0"}],
      "Interface": {"Socket": "sshfs.sock", "Types": ["docker.volumedriver/1.0"]},
      "Linux": {"Capabilities": ["CAP_SYS_ADMIN"], "Devices": [{"Path": "/dev/fuse"}]},
      "Mounts": [{"Destination": "/mnt/state", "Options": ["rbind"], "Name": "state",
                  "Source": "/var/lib/docker/plugins/", "Settable": ["source"], "Type": "bind"},
                 {"Destination": "/root/.ssh", "Options": ["rbind"], "Name": "sshkey",
                  "Source": "", "Settable": ["source"], "Type": "bind"}],
      "Network": {"Type": "host"},
      "PropagatedMount": "/mnt/volumes",
      "Args": {"Name": "args", "Settable": ["value"], "Value": []}
    }"#;

    #[test]
    fn privileges_are_dockerds() {
        let c = Config::parse(SSHFS.as_bytes()).unwrap();
        let p = c.privileges();
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["network", "mount", "mount", "device", "capabilities"]
        );
        assert_eq!(p[0].value, ["host"]);
        assert_eq!(p[3].value, ["/dev/fuse"]);
        assert_eq!(p[4].value, ["CAP_SYS_ADMIN"]);
        let mut shuffled = p.clone();
        shuffled.reverse();
        assert!(privileges_match(&p, &shuffled));
        assert!(!privileges_match(&p, &p[1..]));
        assert_eq!(c.implements(), ["VolumeDriver"]);
    }

    #[test]
    fn settings_follow_settable() {
        let c = Config::parse(SSHFS.as_bytes()).unwrap();
        let s = Settings::initial(&c);
        assert_eq!(s.env, ["DEBUG=0"]);
        let s2 = s
            .set(
                &c,
                &[
                    "DEBUG=1".into(),
                    "sshkey.source=/home/u/.ssh".into(),
                    "args=-o a -v".into(),
                ],
            )
            .unwrap();
        assert_eq!(s2.env, ["DEBUG=1"]);
        assert_eq!(s2.mounts[1].source.as_deref(), Some("/home/u/.ssh"));
        assert_eq!(s2.args, ["-o", "a", "-v"]);
        assert_eq!(
            s.set(&c, &["NOPE=1".into()]).unwrap_err().to_string(),
            "setting \"NOPE\" not found in the plugin configuration"
        );
        assert_eq!(
            s.set(&c, &["DEBUG.path=1".into()]).unwrap_err(),
            ConfigError::NotSettable("DEBUG.path".into())
        );
        assert_eq!(s.set(&c, &["=1".into()]).unwrap_err(), ConfigError::Format);
    }

    #[test]
    fn keys_match_in_any_case() {
        let c = Config::parse(
            br#"{"description":"d","entrypoint":["/dummy"],"network":{"type":"host"},
                "interface":{"types":["docker.volumedriver/1.0"],"socket":"dummy.sock"},
                "env":[{"name":"DEBUG","settable":["value"],"value":"0"}],
                "rootfs":{"type":"layers","diff_ids":["sha256:x"]}}"#,
        )
        .unwrap();
        assert_eq!(c.entrypoint, ["/dummy"]);
        assert_eq!(c.network.kind, "host");
        assert_eq!(c.interface.socket, "dummy.sock");
        assert_eq!(c.env[0].value.as_deref(), Some("0"));
        assert_eq!(c.rootfs.unwrap().kind, "layers");
    }

    #[test]
    fn bad_configs_are_refused() {
        for (json, want) in [
            ("{", "failed to parse"),
            (r#"{"Entrypoint":["/x"]}"#, "Interface.Types is empty"),
            (
                r#"{"Entrypoint":["/x"],"Interface":{"Types":["docker.volumedriver/1.0"],"Socket":"../x"}}"#,
                "Socket must be a file name",
            ),
            (
                r#"{"Interface":{"Types":["docker.volumedriver/1.0"],"Socket":"x.sock"}}"#,
                "Entrypoint is empty",
            ),
            (
                r#"{"Entrypoint":["/x"],"Interface":{"Types":["docker.bogus/1.0"],"Socket":"x"}}"#,
                "unknown interface type",
            ),
        ] {
            let e = Config::parse(json.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
    }
}
