//! What berthd records per container, and the create request as the API sends it.

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Life-cycle status, Docker's names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started.
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Stopped after running.
    Exited,
    /// Being removed.
    Removing,
    /// Broken (removal failed half-way).
    Dead,
}

impl Status {
    /// Docker's string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }
}

/// The `State` of a container.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct State {
    /// Status.
    pub status: Status,
    /// Host pid of its init while running.
    pub pid: i32,
    /// Last exit code.
    pub exit_code: i32,
    /// RFC 3339 or Docker's zero time.
    pub started_at: String,
    /// RFC 3339 or Docker's zero time.
    pub finished_at: String,
    /// Last start error.
    pub error: String,
    /// Frozen by `pause` (while running).
    #[serde(default)]
    pub paused: bool,
    /// Stopped or killed through the API: the restart policy does not bring it back.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Exited, and its restart policy starts it again after a back-off (Docker's `restarting`).
    #[serde(default)]
    pub restarting: bool,
    /// Its place on the default bridge network while running.
    #[serde(default)]
    pub network: Option<berth_net::Attachment>,
    /// The health check's state, for a container that has one (`State.Health`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
    /// Its places on user networks while running (network id -> attachment).
    #[serde(default)]
    pub endpoints: BTreeMap<String, berth_net::Attachment>,
}

/// Bind mount or volume from `HostConfig.Binds` or `HostConfig.Mounts`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Bind {
    /// Host path.
    pub source: String,
    /// Container path.
    pub destination: String,
    /// Read-only.
    pub readonly: bool,
    /// Propagation (`rprivate` unless given).
    pub propagation: String,
    /// The named volume behind it (its mount point is `source`).
    #[serde(default)]
    pub volume: Option<String>,
    /// An anonymous volume (removed with the container by `rm -v`).
    #[serde(default)]
    pub anonymous: bool,
    /// A volume the image's content at the destination is not copied into (`nocopy`).
    #[serde(default)]
    pub nocopy: bool,
    /// A bind of the source alone, without the mounts below it (`BindOptions.NonRecursive`).
    #[serde(default)]
    pub non_recursive: bool,
    /// Labels of the volume, if this container creates it (`VolumeOptions.Labels`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_labels: BTreeMap<String, String>,
    /// Driver of the volume, if this container creates it (`local` or empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub volume_driver: String,
    /// Driver options of the volume, if this container creates it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_options: BTreeMap<String, String>,
    /// A path inside the volume mounted instead of its root (`VolumeOptions.Subpath`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
    /// `Mode` in inspect's `Mounts`, as dockerd shows it: a `Binds` entry's options as written
    /// (`z` for a named volume given none), `z` for a volume of `HostConfig.Mounts`, empty for its
    /// binds and for `Config.Volumes`. `None` in containers made before berthd kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// What the OCI config is generated from (resolved at create time).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct RunSpec {
    /// Full argv.
    pub args: Vec<String>,
    /// Environment (image's, then the request's).
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// User as given (`name`, `uid`, `uid:gid`, ...), empty for root.
    pub user: String,
    /// Hostname.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// Allocate a terminal.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// Close stdin after the first attach ends.
    pub stdin_once: bool,
    /// Signal for stop.
    pub stop_signal: String,
    /// Seconds before SIGKILL on stop.
    pub stop_timeout: Option<i64>,
    /// Bind mounts.
    pub binds: Vec<Bind>,
    /// Remove when it exits.
    pub auto_remove: bool,
    /// All capabilities, all devices, no confinement.
    pub privileged: bool,
    /// Final capability set (CAP_ names).
    pub caps: Vec<String>,
    /// Read-only root.
    pub readonly_rootfs: bool,
    /// Bytes, 0 = unlimited.
    pub memory: i64,
    /// CPU in 1e-9 units, 0 = unlimited.
    pub nano_cpus: i64,
    /// Max pids, 0 or less = unlimited.
    pub pids_limit: i64,
    /// `none`, `host`, or `default`/`bridge` (a private network namespace with loopback only, for now).
    pub network_mode: String,
    /// `no-new-privileges`.
    pub no_new_privileges: bool,
    /// No seccomp filter (`seccomp=unconfined` or privileged).
    pub seccomp_unconfined: bool,
    /// A Docker seccomp profile (JSON) given with `--security-opt seccomp=`, instead of the default.
    #[serde(default)]
    pub seccomp_profile: Option<String>,
    /// Landlock rules (the runtime-spec proposal's JSON) from the image's learned profile.
    #[serde(default)]
    pub landlock: Option<String>,
    /// Restart policy: `no`, `always`, `unless-stopped` or `on-failure`.
    #[serde(default)]
    pub restart_policy: String,
    /// `on-failure`'s maximum retry count (0 = unlimited).
    #[serde(default)]
    pub restart_max: i64,
    /// Top layer chain ID of the image (the snapshot's parent).
    pub chain_id: Option<String>,
    /// DNS, hosts, tmpfs, ulimits, sysctls, devices, shared namespaces, ...
    #[serde(default)]
    pub extra: super::hostextra::HostExtra,
    /// `--init`, namespaces joined from other containers.
    #[serde(default)]
    pub modes: super::modes::Modes,
    /// The log driver and its rotation.
    #[serde(default)]
    pub log: super::logconfig::LogSettings,
    /// The MAC address asked for on the default bridge (`Config.MacAddress`, or the endpoint's).
    #[serde(default)]
    pub mac_address: Option<String>,
    /// `IPAMConfig` and `DriverOpts` of the default bridge's endpoint as asked for at create
    /// (inspect shows them back, as dockerd does).
    #[serde(default)]
    pub bridge_endpoint: Option<serde_json::Value>,
    /// Legacy links to other containers (`HostConfig.Links`).
    #[serde(default)]
    pub links: Vec<super::links::Link>,
    /// tmpfs mounts of `HostConfig.Mounts`.
    #[serde(default)]
    pub tmpfs_mounts: Vec<super::mounts::TmpfsMount>,
    /// The user networks it is on (network id -> endpoint settings).
    #[serde(default)]
    pub networks: BTreeMap<String, EndpointSpec>,
}

/// A container's settings on one user network (`EndpointSettings` as sent).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The network's name.
    pub network: String,
    /// `--network-alias`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`.
    #[serde(default)]
    pub ipv4: Option<std::net::Ipv4Addr>,
    /// `--ip6`.
    #[serde(default)]
    pub ipv6: Option<std::net::Ipv6Addr>,
    /// `--mac-address` for this network.
    #[serde(default)]
    pub mac: Option<String>,
    /// `--link name:alias` on this network: `alias` resolves to `name` for this container only.
    #[serde(default)]
    pub links: Vec<String>,
    /// 64 hex digits, stable while the container is on the network.
    pub endpoint_id: String,
    /// `DriverOpts` as sent, echoed by inspect.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

/// A container.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Container {
    /// 64 hex digits.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// Image ID (`sha256:` + config digest).
    pub image_id: String,
    /// Docker's `Config`, merged with the image's defaults, for inspect.
    pub config: Value,
    /// `HostConfig` as sent.
    pub host_config: Value,
    /// Runtime name.
    pub runtime: String,
    /// Resolved settings.
    pub spec: RunSpec,
    /// Current state.
    pub state: State,
    /// Restarts so far.
    pub restart_count: u32,
}

impl Container {
    /// `Path` (argv[0]).
    pub fn path(&self) -> &str {
        self.spec.args.first().map(String::as_str).unwrap_or("")
    }

    /// `Args` (argv[1..]).
    pub fn args(&self) -> &[String] {
        self.spec.args.get(1..).unwrap_or(&[])
    }

    /// Exited and waiting for its restart.
    pub fn is_restarting(&self) -> bool {
        self.state.status == Status::Exited && self.state.restarting
    }

    /// Running or about to run again (what `docker ps` lists and `rm` refuses without force).
    pub fn is_active(&self) -> bool {
        self.state.status == Status::Running || self.is_restarting()
    }

    /// Labels from the config.
    pub fn labels(&self) -> BTreeMap<String, String> {
        serde_json::from_value(self.config["Labels"].clone()).unwrap_or_default()
    }

    /// Docker's status string (`paused` is a running container that is frozen, `restarting` an
    /// exited one its restart policy brings back).
    pub fn status_str(&self) -> &'static str {
        if self.state.status == Status::Running && self.state.paused {
            "paused"
        } else if self.is_restarting() {
            "restarting"
        } else {
            self.state.status.as_str()
        }
    }

    /// The names of its own /etc/hosts entry, as dockerd writes them: `host.domain host` with a
    /// domain name (`Config.Domainname`), else the host name.
    pub fn hosts_names(&self) -> String {
        let (h, dom) = (&self.spec.hostname, &self.spec.domainname);
        if dom.is_empty() {
            h.clone()
        } else {
            format!("{h}.{dom} {h}")
        }
    }

    /// Image as the user named it.
    pub fn image_name(&self) -> &str {
        self.config["Image"].as_str().unwrap_or("")
    }
}

/// `Cmd`/`Entrypoint`: a list, or (old clients) a string.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum StrOrVec {
    /// One string.
    Str(String),
    /// A list.
    Vec(Vec<String>),
}

impl StrOrVec {
    /// As a list (a string is one element; Docker splits nothing).
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StrOrVec::Str(s) if s.is_empty() => vec![],
            StrOrVec::Str(s) => vec![s],
            StrOrVec::Vec(v) => v,
        }
    }
}

/// The fields of `POST /containers/create` that berthd acts on (the body is also kept whole).
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub user: Option<String>,
    pub tty: Option<bool>,
    pub open_stdin: Option<bool>,
    pub stdin_once: Option<bool>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<StrOrVec>,
    pub entrypoint: Option<StrOrVec>,
    pub image: Option<String>,
    pub working_dir: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub mac_address: Option<String>,
    /// Where docker-py's `create_container(runtime=...)` puts the runtime (dockerd reads only
    /// `HostConfig.Runtime`, and its default is the runc the client asks for).
    pub runtime: Option<String>,
    pub host_config: Option<HostConfigRequest>,
    pub networking_config: Option<NetworkingConfigRequest>,
}

/// `NetworkingConfig`: per network endpoint settings (berthd reads the MAC address).
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfigRequest {
    pub endpoints_config: Option<BTreeMap<String, Option<EndpointRequest>>>,
}

/// One entry of `NetworkingConfig.EndpointsConfig` (and the body of a network connect).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointRequest {
    pub mac_address: Option<String>,
    pub driver_opts: Option<BTreeMap<String, String>>,
    pub aliases: Option<Vec<String>>,
    pub links: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<IpamConfigRequest>,
}

/// `EndpointSettings.IPAMConfig`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(default)]
pub struct IpamConfigRequest {
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: Option<String>,
}

/// The `HostConfig` fields berthd acts on.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfigRequest {
    pub binds: Option<Vec<String>>,
    pub auto_remove: Option<bool>,
    pub privileged: Option<bool>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub readonly_rootfs: Option<bool>,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    pub network_mode: Option<String>,
    pub security_opt: Option<Vec<String>>,
    pub runtime: Option<String>,
    pub restart_policy: Option<RestartPolicyRequest>,
    pub log_config: Option<super::logconfig::LogConfigRequest>,
    pub mounts: Option<Vec<super::mounts::MountRequest>>,
    pub links: Option<Vec<String>>,
    pub volumes_from: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: super::hostextra::ExtraRequest,
}

/// `HostConfig.RestartPolicy`.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicyRequest {
    pub name: Option<String>,
    pub maximum_retry_count: Option<i64>,
}

/// A container name must match Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading `/` is dropped).
pub fn validate_name(name: &str) -> ApiResult<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let ok = n.len() >= 2
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(n.to_string())
    } else {
        Err(ApiError::BadRequest(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// Parse `HostConfig.Binds` entries: `/host:/ctr[:ro|rw|z|Z|<propagation>,...]`.
pub fn parse_bind(s: &str) -> ApiResult<Bind> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "invalid volume specification: '{s}'"
            )))
        }
    };
    let volume = if src.starts_with('/') {
        None
    } else {
        crate::volumes::validate_name(src)?;
        Some(src.to_string())
    };
    if !dst.starts_with('/') {
        return Err(ApiError::BadRequest(format!(
            "invalid volume specification: '{s}': mount path must be absolute"
        )));
    }
    let mode = if opts.is_empty() && volume.is_some() {
        "z"
    } else {
        opts
    };
    let mut b = Bind {
        source: src.to_string(),
        destination: dst.to_string(),
        readonly: false,
        propagation: "rprivate".into(),
        volume,
        mode: Some(mode.to_string()),
        ..Default::default()
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => b.readonly = true,
            "nocopy" if b.volume.is_some() => b.nocopy = true,
            "rw" | "z" | "Z" => {}
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                b.propagation = o.to_string()
            }
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "invalid mode: {o} in volume specification '{s}'"
                )))
            }
        }
    }
    Ok(b)
}

/// 64 random hex digits.
pub fn random_hex() -> String {
    let mut b = [0u8; 32];
    random_fill(&mut b);
    let mut out = String::with_capacity(64);
    for x in b {
        use std::fmt::Write;
        let _ = write!(out, "{x:02x}");
    }
    out
}

/// The kernel's random bytes (`getrandom`; /dev/urandom where that call is missing).
pub fn random_fill(b: &mut [u8]) {
    if berth_sys::random_bytes(b).is_ok() {
        return;
    }
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(b);
    }
}

/// Docker's engine ID shape (`XXXX:XXXX:...`, 12 groups).
pub fn new_engine_id() -> String {
    let h = random_hex().to_uppercase();
    h.as_bytes()
        .chunks(4)
        .take(12)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_binds() {
        assert_eq!(validate_name("/web1").unwrap(), "web1");
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a b").is_err());
        let b = parse_bind("/h:/c:ro,rshared").unwrap();
        assert!(b.readonly);
        assert_eq!(b.propagation, "rshared");
        assert_eq!(b.mode.as_deref(), Some("ro,rshared"));
        let v = parse_bind("vol:/c").unwrap();
        assert_eq!(
            (v.volume.as_deref(), v.mode.as_deref()),
            (Some("vol"), Some("z"))
        );
        assert_eq!(parse_bind("/h:/c").unwrap().mode.as_deref(), Some(""));
        assert!(parse_bind("bad/name:/c").is_err());
        assert!(parse_bind("/h:c").is_err());
    }

    #[test]
    fn create_request_tolerates_nulls_and_unknowns() {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/create_req.json"
        ))
        .unwrap();
        let r: CreateRequest = serde_json::from_str(&raw).unwrap();
        assert_eq!(r.image.as_deref(), Some("busybox:local"));
        assert_eq!(r.host_config.unwrap().auto_remove, Some(true));
    }
}
