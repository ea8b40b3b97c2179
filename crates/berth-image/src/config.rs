//! Image configuration (the Docker/OCI config JSON, including Docker's Healthcheck), the runtime defaults the
//! engine takes from it, and Dockerfile-style changes (`CMD`, `ENV`, ...) applied at import time.

use std::collections::BTreeMap;

/// Errors from config handling.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config JSON is malformed.
    #[error("malformed image config: {0}")]
    Json(#[from] serde_json::Error),
    /// A change instruction is not understood.
    #[error("unsupported config change {0:?}: expected CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR")]
    Change(String),
    /// A change instruction's arguments are wrong (dockerd's words).
    #[error("{0}")]
    Invalid(String),
}

/// A Go duration (`30s`, `1m30s`, `500ms`, `0`) in nanoseconds; `None` if it is not one.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Some(total as i64)
}

/// `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
/// [--retries=N] CMD ...|NONE` as dockerd's commit reads it.
fn healthcheck(rest: &str) -> Result<Healthcheck, ConfigError> {
    let mut h = Healthcheck::default();
    let mut rest = rest.trim_start();
    let mut flags = 0;
    while let Some(f) = rest.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let (name, value) = f[..end].split_once('=').unwrap_or((&f[..end], ""));
        let dur = || {
            parse_go_duration(value)
                .ok_or_else(|| ConfigError::Invalid(format!("time: invalid duration {value:?}")))
        };
        match name {
            "interval" => h.interval = Some(dur()?),
            "timeout" => h.timeout = Some(dur()?),
            "start-period" => h.start_period = Some(dur()?),
            "start-interval" => h.start_interval = Some(dur()?),
            "retries" => {
                h.retries = Some(
                    value
                        .parse()
                        .map_err(|_| ConfigError::Invalid(format!("invalid --retries: {value}")))?,
                )
            }
            other => return Err(ConfigError::Invalid(format!("Unknown flag: {other}"))),
        }
        flags += 1;
        rest = f[end..].trim_start();
    }
    let (kind, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    h.test = Some(match kind.to_ascii_uppercase().as_str() {
        "NONE" if flags > 0 => {
            return Err(ConfigError::Invalid(
                "HEALTHCHECK NONE takes no flags".into(),
            ))
        }
        "NONE" => vec!["NONE".into()],
        "CMD" => match serde_json::from_str::<Vec<String>>(args) {
            Ok(v) if args.starts_with('[') => [vec!["CMD".to_string()], v].concat(),
            _ => vec!["CMD-SHELL".into(), args.to_string()],
        },
        _ => {
            return Err(ConfigError::Invalid(format!(
                "Unknown type {kind:?} in HEALTHCHECK (try CMD)"
            )))
        }
    });
    Ok(h)
}

fn is_empty_map<T>(m: &Option<BTreeMap<String, T>>) -> bool {
    m.as_ref().map(|m| m.is_empty()).unwrap_or(true)
}

/// An empty JSON object (values of `ExposedPorts` and `Volumes`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Empty {}

/// Docker's health check settings (durations in nanoseconds).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Interval between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Timeout of one check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Interval between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Consecutive failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// The `config` object of an image config.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// User (name, uid, uid:gid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ports like `80/tcp`.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    /// `KEY=value` entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Volumes.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    /// Working dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Stop signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Health check (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// ONBUILD triggers, run by a build that starts `FROM` this image (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// The shell of shell-form instructions (`SHELL`; Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// `rootfs` of an image config.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Digests of the uncompressed layers, bottom first.
    pub diff_ids: Vec<String>,
}

/// One history entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct History {
    /// Creation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// What created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether this step made no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

/// An image config file (OCI and Docker compatible; unknown fields are ignored when reading).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageConfig {
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture.
    pub architecture: String,
    /// OS.
    pub os: String,
    /// Variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Runtime config.
    #[serde(default)]
    pub config: Option<ContainerConfig>,
    /// Layers.
    pub rootfs: RootFs,
    /// History.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Docker's fields for an image committed from a container: its ID...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// ...its config at the time (Docker's container config JSON)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<serde_json::Value>,
    /// ...and the ID of the image it ran (only for images made locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl ImageConfig {
    /// Parse config JSON.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, ConfigError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// Serialize to JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("config serializes")
    }

    /// A fresh config for this host with the given diffIDs.
    pub fn new_for_host(diff_ids: Vec<String>) -> ImageConfig {
        let (os, arch, variant) = crate::media::host_platform();
        ImageConfig {
            created: Some(now_rfc3339()),
            architecture: arch,
            os,
            variant,
            config: Some(ContainerConfig::default()),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids,
            },
            ..Default::default()
        }
    }

    /// Runtime defaults for the engine.
    pub fn defaults(&self) -> RuntimeDefaults {
        let c = self.config.clone().unwrap_or_default();
        RuntimeDefaults {
            env: c.env.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            entrypoint: c.entrypoint.unwrap_or_default(),
            working_dir: c
                .working_dir
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user: c.user.filter(|u| !u.is_empty()),
            exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
            volumes: c.volumes.unwrap_or_default().into_keys().collect(),
            stop_signal: c.stop_signal.unwrap_or_else(|| "SIGTERM".into()),
            healthcheck: c.healthcheck.filter(|h| {
                h.test
                    .as_ref()
                    .map(|t| t.first().map(|s| s != "NONE").unwrap_or(false))
                    .unwrap_or(false)
            }),
            labels: c.labels.unwrap_or_default(),
        }
    }
}

/// What the engine needs from an image to start a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeDefaults {
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// Default arguments.
    pub cmd: Vec<String>,
    /// Entrypoint.
    pub entrypoint: Vec<String>,
    /// Working directory (`/` if unset).
    pub working_dir: String,
    /// User, if set.
    pub user: Option<String>,
    /// Exposed ports (`80/tcp`).
    pub exposed_ports: Vec<String>,
    /// Volume mount points.
    pub volumes: Vec<String>,
    /// Stop signal (`SIGTERM` if unset).
    pub stop_signal: String,
    /// Health check, unless absent or `NONE`.
    pub healthcheck: Option<Healthcheck>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl RuntimeDefaults {
    /// The process args: entrypoint followed by cmd (or `override_cmd` if non-empty).
    pub fn args(&self, override_cmd: &[String]) -> Vec<String> {
        let mut a = self.entrypoint.clone();
        a.extend_from_slice(if override_cmd.is_empty() {
            &self.cmd
        } else {
            override_cmd
        });
        a
    }
}

/// Current time as dockerd writes an image's `created` (RFC 3339 in UTC to the nanosecond, Go's
/// `RFC3339Nano`): two commits in one second make two images, and `since`/`before` and the
/// newest-first order tell them apart.
pub fn now_rfc3339() -> String {
    berth_time::rfc3339_go(std::time::SystemTime::now())
}

/// A config's or history entry's `created` as a time: ours (to the nanosecond, or to the second
/// as berthd wrote them before) and other tools' alike; `None` when absent or unreadable.
pub fn created_time(created: Option<&str>) -> Option<std::time::SystemTime> {
    created.and_then(berth_time::parse_rfc3339)
}

fn json_or_shell(rest: &str, shell: bool) -> Vec<String> {
    if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
        return v;
    }
    if shell {
        vec!["/bin/sh".into(), "-c".into(), rest.to_string()]
    } else {
        rest.split_whitespace().map(String::from).collect()
    }
}

fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    env.retain(|e| e.split('=').next() != Some(key));
    env.push(format!("{key}={value}"));
}

/// Apply Dockerfile-style change instructions (as `docker import --change`).
pub fn apply_changes(c: &mut ContainerConfig, changes: &[String]) -> Result<(), ConfigError> {
    for ch in changes {
        let ch_t = ch.trim();
        let (instr, rest) = ch_t.split_once(char::is_whitespace).unwrap_or((ch_t, ""));
        let rest = rest.trim();
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => c.cmd = Some(json_or_shell(rest, true)),
            "ENTRYPOINT" => c.entrypoint = Some(json_or_shell(rest, true)),
            "WORKDIR" => c.working_dir = Some(rest.to_string()),
            "USER" => c.user = Some(rest.to_string()),
            "STOPSIGNAL" => c.stop_signal = Some(rest.to_string()),
            "HEALTHCHECK" => c.healthcheck = Some(healthcheck(rest)?),
            "ONBUILD" => {
                let (kw, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                let kw = kw.to_ascii_uppercase();
                if matches!(kw.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(ConfigError::Invalid(format!(
                        "{kw} isn't allowed as an ONBUILD trigger"
                    )));
                }
                c.on_build
                    .get_or_insert_with(Vec::new)
                    .push(format!("{kw} {}", args.trim_start()));
            }
            "ENV" => {
                let env = c.env.get_or_insert_with(Vec::new);
                if rest.contains('=') {
                    for kv in rest.split_whitespace() {
                        let (k, v) = kv
                            .split_once('=')
                            .ok_or_else(|| ConfigError::Change(ch.clone()))?;
                        set_env(env, k, v.trim_matches('"'));
                    }
                } else {
                    let (k, v) = rest
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| ConfigError::Change(ch.clone()))?;
                    set_env(env, k, v.trim());
                }
            }
            "EXPOSE" => {
                let ports = c.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    ports.insert(p, Empty {});
                }
            }
            "VOLUME" => {
                let vols = c.volumes.get_or_insert_with(BTreeMap::new);
                for v in json_or_shell(rest, false) {
                    vols.insert(v, Empty {});
                }
            }
            "LABEL" => {
                let labels = c.labels.get_or_insert_with(BTreeMap::new);
                for kv in rest.split_whitespace() {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| ConfigError::Change(ch.clone()))?;
                    labels.insert(
                        k.trim_matches('"').to_string(),
                        v.trim_matches('"').to_string(),
                    );
                }
            }
            _ => return Err(ConfigError::Change(ch.clone())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_changes_healthcheck_and_onbuild_as_dockerd() {
        let mut c = ContainerConfig::default();
        apply_changes(
            &mut c,
            &[
                "HEALTHCHECK --interval=5s --retries=2 CMD true".into(),
                "ONBUILD run echo hi".into(),
            ],
        )
        .unwrap();
        let h = c.healthcheck.clone().unwrap();
        assert_eq!(h.test, Some(vec!["CMD-SHELL".into(), "true".into()]));
        assert_eq!((h.interval, h.retries), (Some(5_000_000_000), Some(2)));
        assert_eq!(c.on_build, Some(vec!["RUN echo hi".into()]));
        apply_changes(&mut c, &[r#"HEALTHCHECK CMD ["true","x"]"#.into()]).unwrap();
        assert_eq!(
            c.healthcheck.unwrap().test,
            Some(vec!["CMD".into(), "true".into(), "x".into()])
        );
        for (bad, msg) in [
            ("HEALTHCHECK --bogus=1 CMD true", "Unknown flag: bogus"),
            (
                "HEALTHCHECK FOO",
                "Unknown type \"FOO\" in HEALTHCHECK (try CMD)",
            ),
            ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ] {
            let e = apply_changes(&mut ContainerConfig::default(), &[bad.into()]).unwrap_err();
            assert_eq!(e.to_string(), msg);
        }
    }

    #[test]
    fn docker_config_to_defaults() {
        let j = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":null,
            "WorkingDir":"","User":"1000:1000","ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"StopSignal":"SIGQUIT",
            "Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000}},"rootfs":{"type":"layers","diff_ids":[]},
            "container_config":{"Hostname":"x"}}"#;
        let c = ImageConfig::parse(j.as_bytes()).unwrap();
        let d = c.defaults();
        assert_eq!(d.env, vec!["PATH=/bin"]);
        assert_eq!(d.args(&[]), vec!["sh"]);
        assert_eq!(d.working_dir, "/");
        assert_eq!(d.user.as_deref(), Some("1000:1000"));
        assert_eq!(d.exposed_ports, vec!["80/tcp"]);
        assert_eq!(d.volumes, vec!["/data"]);
        assert_eq!(d.stop_signal, "SIGQUIT");
        assert_eq!(d.healthcheck.unwrap().interval, Some(1_000_000_000));
    }

    #[test]
    fn changes_apply() {
        let mut c = ContainerConfig::default();
        let ch: Vec<String> = [
            "CMD [\"/bin/sh\",\"-c\",\"echo hi\"]",
            "ENV A=1 B=2",
            "ENV A 3",
            "WORKDIR /w",
            "USER nobody",
            "EXPOSE 80 53/udp",
            "VOLUME [\"/v\"]",
            "LABEL k=v",
            "STOPSIGNAL SIGINT",
            "ENTRYPOINT top -b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        apply_changes(&mut c, &ch).unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.env.unwrap(), vec!["B=2", "A=3"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "top -b"]);
        assert!(c.exposed_ports.unwrap().contains_key("53/udp"));
        assert!(apply_changes(&mut ContainerConfig::default(), &["RUN x".to_string()]).is_err());
        let now = now_rfc3339();
        let t = created_time(Some(&now)).unwrap();
        assert_eq!(
            berth_time::rfc3339_go(t),
            now,
            "read back to the nanosecond"
        );
        assert!(
            created_time(Some("2026-12-07T14:30:20Z"))
                < created_time(Some("2026-12-07T14:30:20.5Z"))
        );
        assert!(
            created_time(Some("2026-12-07T14:30:20.52Z"))
                > created_time(Some("2026-12-07T14:30:20.5Z"))
        );
        assert_eq!(created_time(None), None);
    }
}
