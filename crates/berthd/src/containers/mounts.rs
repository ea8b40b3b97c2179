//! `HostConfig.Mounts` (`docker run --mount`): bind mounts, named or anonymous volumes and tmpfs
//! mounts, validated with dockerd's messages. Binds and volumes become [`Bind`]s (the same path as
//! `HostConfig.Binds`: volumes are created at create time, copied up at start unless `NoCopy`);
//! tmpfs mounts become [`TmpfsMount`]s.

use super::model::Bind;
use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One entry of `HostConfig.Mounts`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountRequest {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub read_only: Option<bool>,
    pub consistency: Option<String>,
    pub bind_options: Option<BindOptions>,
    pub volume_options: Option<VolumeOptions>,
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `BindOptions`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    pub propagation: Option<String>,
    pub non_recursive: Option<bool>,
    pub create_mountpoint: Option<bool>,
}

/// `VolumeOptions`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    pub no_copy: Option<bool>,
    pub labels: Option<BTreeMap<String, String>>,
    pub driver_config: Option<DriverConfig>,
    pub subpath: Option<String>,
}

/// `VolumeOptions.DriverConfig`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfig {
    pub name: Option<String>,
    pub options: Option<BTreeMap<String, String>>,
}

/// `TmpfsOptions`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    pub size_bytes: Option<i64>,
    /// A file mode (`1777` octal arrives as 1023).
    pub mode: Option<u32>,
}

/// A tmpfs mount from `HostConfig.Mounts`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TmpfsMount {
    /// Container path.
    pub destination: String,
    /// Bytes, 0: the kernel's default (half of RAM).
    pub size: i64,
    /// Permission bits of the root of the mount, if given.
    pub mode: Option<u32>,
    /// Read-only.
    pub readonly: bool,
}

impl TmpfsMount {
    /// The mount options after Docker's `noexec,nosuid,nodev`.
    pub fn options(&self) -> Vec<String> {
        let mut o: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
        if self.size > 0 {
            o.push(format!("size={}", self.size));
        }
        if let Some(m) = self.mode {
            o.push(format!("mode={m:o}"));
        }
        if self.readonly {
            o.push("ro".into());
        }
        o
    }
}

/// What `HostConfig.Mounts` adds to a container.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Binds and volumes.
    pub binds: Vec<Bind>,
    /// tmpfs mounts.
    pub tmpfs: Vec<TmpfsMount>,
}

fn err(kind: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("invalid mount config for type \"{kind}\": {msg}"))
}

fn absolute(kind: &str, p: &str) -> ApiResult<()> {
    if p.starts_with('/') {
        Ok(())
    } else {
        Err(err(
            kind,
            format!("invalid mount path: '{p}' mount path must be absolute"),
        ))
    }
}

/// Validate the mounts; `taken` are the destinations `HostConfig.Binds` already uses.
pub fn parse(list: Vec<MountRequest>, taken: &[String]) -> ApiResult<Parsed> {
    let mut out = Parsed::default();
    let mut seen: Vec<String> = taken.to_vec();
    for m in list {
        let kind = m.kind.clone().unwrap_or_default();
        let target = m.target.clone().unwrap_or_default();
        if target.is_empty() {
            return Err(err(&kind, "field Target must not be empty"));
        }
        absolute(&kind, &target)?;
        let target = clean(&target);
        if seen.contains(&target) {
            return Err(ApiError::BadRequest(format!(
                "Duplicate mount point: {target}"
            )));
        }
        seen.push(target.clone());
        let source = m.source.clone().unwrap_or_default();
        let readonly = m.read_only.unwrap_or(false);
        match kind.as_str() {
            "bind" => {
                if m.volume_options.is_some() {
                    return Err(err(&kind, "field VolumeOptions must not be specified"));
                }
                if m.tmpfs_options.is_some() {
                    return Err(err(&kind, "field TmpfsOptions must not be specified"));
                }
                if source.is_empty() {
                    return Err(err(&kind, "field Source must not be empty"));
                }
                absolute(&kind, &source)?;
                let o = m.bind_options.unwrap_or_default();
                if !o.create_mountpoint.unwrap_or(false) && !std::path::Path::new(&source).exists()
                {
                    return Err(err(
                        &kind,
                        format!("bind source path does not exist: {source}"),
                    ));
                }
                let propagation = match o.propagation.as_deref().unwrap_or("") {
                    "" => "rprivate".to_string(),
                    p @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave") => {
                        p.to_string()
                    }
                    p => return Err(err(&kind, format!("invalid propagation mode: {p}"))),
                };
                out.binds.push(Bind {
                    source,
                    destination: target,
                    readonly,
                    propagation,
                    non_recursive: o.non_recursive.unwrap_or(false),
                    mode: Some(String::new()),
                    ..Default::default()
                });
            }
            "volume" => {
                if m.bind_options.is_some() {
                    return Err(err(&kind, "field BindOptions must not be specified"));
                }
                if m.tmpfs_options.is_some() {
                    return Err(err(&kind, "field TmpfsOptions must not be specified"));
                }
                let o = m.volume_options.unwrap_or_default();
                let anonymous = source.is_empty();
                let subpath = o.subpath.clone().unwrap_or_default();
                if !subpath.is_empty() {
                    if anonymous {
                        return Err(err(
                            &kind,
                            "must not set Subpath when using anonymous volumes",
                        ));
                    }
                    if !is_local(&subpath) {
                        return Err(err(
                            &kind,
                            "subpath must be a relative path within the volume",
                        ));
                    }
                }
                let name = if anonymous {
                    super::model::random_hex()
                } else {
                    crate::volumes::validate_name(&source)?;
                    source
                };
                let dc = o.driver_config.unwrap_or_default();
                out.binds.push(Bind {
                    destination: target,
                    readonly,
                    propagation: "rprivate".into(),
                    volume: Some(name),
                    anonymous,
                    nocopy: o.no_copy.unwrap_or(false),
                    volume_labels: o.labels.unwrap_or_default(),
                    volume_driver: dc.name.unwrap_or_default(),
                    volume_options: dc.options.unwrap_or_default(),
                    subpath,
                    mode: Some("z".into()),
                    ..Default::default()
                });
            }
            "tmpfs" => {
                if !source.is_empty() {
                    return Err(err(&kind, "field Source must not be specified"));
                }
                if m.bind_options.is_some() {
                    return Err(err(&kind, "field BindOptions must not be specified"));
                }
                if m.volume_options.is_some() {
                    return Err(err(&kind, "field VolumeOptions must not be specified"));
                }
                let o = m.tmpfs_options.unwrap_or_default();
                let size = o.size_bytes.unwrap_or(0);
                if size < 0 {
                    return Err(err(&kind, "size must not be negative"));
                }
                out.tmpfs.push(TmpfsMount {
                    destination: target,
                    size,
                    mode: o.mode.map(|m| m & 0o7777),
                    readonly,
                });
            }
            _ => return Err(err(&kind, "mount type unknown")),
        }
    }
    Ok(out)
}

/// Go's `filepath.IsLocal`: relative, not empty, and never above its start (`a/../b` is fine).
fn is_local(p: &str) -> bool {
    if p.is_empty() || p.starts_with('/') {
        return false;
    }
    let mut depth = 0i32;
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// A path without a trailing slash or doubled slashes (`/a//b/` is `/a/b`).
fn clean(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(v: serde_json::Value) -> ApiResult<Parsed> {
        parse(serde_json::from_value(v).unwrap(), &[])
    }

    #[test]
    fn kinds_and_options() {
        let p = parse_json(json!([
            {"Type": "bind", "Source": "/tmp", "Target": "/mnt/", "ReadOnly": true,
             "BindOptions": {"Propagation": "rslave"}},
            {"Type": "volume", "Source": "data", "Target": "/data",
             "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"}}},
            {"Type": "volume", "Target": "/anon"},
            {"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1770}}
        ]))
        .unwrap();
        assert_eq!(p.binds[0].destination, "/mnt");
        assert!(p.binds[0].readonly && p.binds[0].propagation == "rslave");
        assert_eq!(p.binds[1].volume.as_deref(), Some("data"));
        assert!(p.binds[1].nocopy && p.binds[1].volume_labels["a"] == "b");
        assert!(p.binds[2].anonymous);
        assert_eq!(
            p.tmpfs[0].options(),
            ["nosuid", "nodev", "noexec", "size=1048576", "mode=1770"]
        );
    }

    #[test]
    fn dockerd_messages() {
        let e = |v| parse_json(v).unwrap_err().to_string();
        assert_eq!(
            e(json!([{"Type": "bind", "Source": "/nonexistent-berth", "Target": "/m"}])),
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth"
        );
        assert_eq!(
            e(json!([{"Type": "tmpfs", "Source": "x", "Target": "/m"}])),
            "invalid mount config for type \"tmpfs\": field Source must not be specified"
        );
        assert_eq!(
            e(json!([{"Type": "volume", "Target": "/m"}, {"Type": "tmpfs", "Target": "/m"}])),
            "Duplicate mount point: /m"
        );
        assert!(e(json!([{"Type": "bind", "Source": "/tmp"}])).contains("Target must not be empty"));
        assert!(e(json!([{"Type": "nfs", "Target": "/m"}])).contains("mount type unknown"));
        assert_eq!(
            e(json!([{"Type": "volume", "Target": "/m", "VolumeOptions": {"Subpath": "a"}}])),
            "invalid mount config for type \"volume\": must not set Subpath when using anonymous volumes"
        );
        for bad in ["/abs", "../up", "a/../../b"] {
            assert_eq!(
                e(json!([{"Type": "volume", "Source": "vv", "Target": "/m",
                          "VolumeOptions": {"Subpath": bad}}])),
                "invalid mount config for type \"volume\": subpath must be a relative path within the volume",
                "{bad}"
            );
        }
        let p = parse_json(json!([{"Type": "volume", "Source": "vv", "Target": "/m",
                                   "VolumeOptions": {"Subpath": "a/../b/c"}}]))
        .unwrap();
        assert_eq!(p.binds[0].subpath, "a/../b/c");
        assert!(parse(
            serde_json::from_value(json!([{"Type": "volume", "Target": "/m"}])).unwrap(),
            &["/m".to_string()]
        )
        .is_err());
    }
}
