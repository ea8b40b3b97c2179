//! `--mount`: docker's comma-separated `key=value` grammar (a CSV record) for bind, volume, tmpfs
//! and image mounts, with its per-type options and the docker CLI's error texts; the value is the
//! API's `HostConfig.Mounts` entry.

use serde_json::{json, Map, Value};

use super::optparse::{csv_fields, go_bool, ram_in_bytes, Parsed};

/// One `--mount` flag (docker's comma-separated `key=value` list) as a Mount.
pub fn mount(s: &str) -> Parsed<Value> {
    let mut ty = "volume".to_string();
    let mut m = Map::new();
    let mut volume = Map::new();
    let mut bind = Map::new();
    let mut tmpfs = Map::new();
    let mut image = Map::new();
    let mut recursive = String::new();
    let mut labels = Map::new();
    let mut driver = Map::new();
    let mut driver_opts = Map::new();
    let flag = |key: &str, val: &str| -> Parsed<bool> {
        go_bool(val).ok_or_else(|| format!("invalid value for {key}: {val}"))
    };
    for field in csv_fields(s)? {
        let Some((key, val)) = field.split_once('=') else {
            match field.as_str() {
                "readonly" | "ro" => m.insert("ReadOnly".into(), json!(true)),
                "volume-nocopy" => volume.insert("NoCopy".into(), json!(true)),
                "bind-nonrecursive" => bind.insert("NonRecursive".into(), json!(true)),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            };
            continue;
        };
        match key {
            "type" => ty = val.to_lowercase(),
            "source" | "src" => {
                let src = if val == "." || val.starts_with("./") {
                    std::env::current_dir()
                        .map(|d| d.join(val).components().collect::<std::path::PathBuf>())
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_else(|_| val.to_string())
                } else {
                    val.to_string()
                };
                m.insert("Source".into(), json!(src));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(val));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(flag(key, val)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(val.to_lowercase()));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(val.to_lowercase()));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(flag(key, val)?));
            }
            "volume-nocopy" => {
                let v = go_bool(val).ok_or_else(|| format!("invalid value for {key}: {val}"))?;
                volume.insert("NoCopy".into(), json!(v));
            }
            "volume-label" | "volume-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                let target = if key == "volume-label" {
                    &mut labels
                } else {
                    &mut driver_opts
                };
                if !k.is_empty() {
                    target.insert(k.into(), json!(v));
                }
                if key == "volume-label" {
                    volume.entry("Labels").or_insert(json!({}));
                } else {
                    driver.entry("Options").or_insert(json!({}));
                }
            }
            "bind-recursive" => match val {
                "enabled" => recursive.clear(),
                "disabled" => {
                    bind.insert("NonRecursive".into(), json!(true));
                }
                "writable" | "readonly" => recursive = val.to_string(),
                _ => {
                    return Err(format!(
                        "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                    ))
                }
            },
            "image-subpath" => {
                image.insert("Subpath".into(), json!(val));
            }
            "volume-driver" => {
                driver.insert("Name".into(), json!(val));
            }
            "volume-subpath" => {
                volume.insert("Subpath".into(), json!(val));
            }
            "tmpfs-size" => {
                let n = ram_in_bytes(val).map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if ty.is_empty() {
        return Err("type is required".into());
    }
    if m.get("Target")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err("target is required".into());
    }
    if !recursive.is_empty() {
        if m.get("ReadOnly") != Some(&json!(true)) {
            return Err(format!(
                "option 'bind-recursive={recursive}' requires 'readonly' to be specified in conjunction"
            ));
        }
        if recursive == "writable" {
            bind.insert("ReadOnlyNonRecursive".into(), json!(true));
        } else {
            if bind.get("Propagation") != Some(&json!("rprivate")) {
                return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into());
            }
            bind.insert("ReadOnlyForceRecursive".into(), json!(true));
        }
    }
    if !labels.is_empty() {
        volume.insert("Labels".into(), Value::Object(labels));
    }
    if !driver_opts.is_empty() {
        driver.insert("Options".into(), Value::Object(driver_opts));
    }
    if !driver.is_empty() {
        volume.insert("DriverConfig".into(), Value::Object(driver));
    }
    for (opts, kind, key) in [
        (volume, "volume", "VolumeOptions"),
        (bind, "bind", "BindOptions"),
        (tmpfs, "tmpfs", "TmpfsOptions"),
        (image, "image", "ImageOptions"),
    ] {
        if opts.is_empty() {
            continue;
        }
        if ty != kind {
            return Err(format!(
                "cannot mix '{kind}-*' options with mount type '{ty}'"
            ));
        }
        m.insert(key.into(), Value::Object(opts));
    }
    m.insert("Type".into(), json!(ty));
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts() {
        assert_eq!(
            mount("type=bind,src=/tmp,dst=/x,ro,bind-propagation=rslave"),
            Ok(
                json!({"Type": "bind", "Source": "/tmp", "Target": "/x", "ReadOnly": true,
                      "BindOptions": {"Propagation": "rslave"}})
            )
        );
        assert_eq!(
            mount("type=volume,source=v1,target=/v,volume-opt=a=b,volume-opt=c=d,readonly=true"),
            Ok(
                json!({"Type": "volume", "Source": "v1", "Target": "/v", "ReadOnly": true,
                      "VolumeOptions": {"DriverConfig": {"Options": {"a": "b", "c": "d"}}}})
            )
        );
        assert_eq!(
            mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770"),
            Ok(json!({"Type": "tmpfs", "Target": "/t",
                      "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1770}}))
        );
        assert_eq!(
            mount("target=/x"),
            Ok(json!({"Type": "volume", "Target": "/x"}))
        );
        assert_eq!(
            mount("type=bind,\"src=/a,b\",dst=/x,ro=0"),
            Ok(json!({"Type": "bind", "Source": "/a,b", "Target": "/x", "ReadOnly": false}))
        );
        for (spec, err) in [
            ("/x", "invalid field '/x' must be a key=value pair"),
            ("type=bind,src=/tmp", "target is required"),
            ("type=,dst=/x", "type is required"),
            (
                "type=volume,dst=/x,bogus=1",
                "unexpected key 'bogus' in 'bogus=1'",
            ),
            (
                "type=bind,dst=/x,readonly=maybe",
                "invalid value for readonly: maybe",
            ),
            (
                "type=tmpfs,dst=/t,tmpfs-size=x",
                "invalid value for tmpfs-size: x",
            ),
            (
                "type=tmpfs,dst=/t,tmpfs-mode=99",
                "invalid value for tmpfs-mode: 99",
            ),
            (
                "type=bind,dst=/x,volume-nocopy",
                "cannot mix 'volume-*' options with mount type 'bind'",
            ),
            (
                "type=bind,src=/a,dst=/b,bind-recursive=writable",
                "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
            ),
            (
                "type=bind,src=/a,dst=/b,bind-recursive=readonly,ro",
                "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
            ),
            (
                "type=volume,dst=/b,image-subpath=/x",
                "cannot mix 'image-*' options with mount type 'volume'",
            ),
            (
                "type=volume,dst=/x,tmpfs-size=1m",
                "cannot mix 'tmpfs-*' options with mount type 'volume'",
            ),
        ] {
            assert_eq!(mount(spec), Err(err.to_string()), "{spec}");
        }
    }
}
