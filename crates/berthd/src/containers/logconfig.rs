//! `HostConfig.LogConfig`: which log driver keeps a container's output, validated at create time as
//! dockerd validates it. Two drivers exist: `json-file` (the default; `max-size` and `max-file`
//! rotate it, the shim does the writing) and `none` (nothing is kept, `logs` cannot read). `local`
//! is accepted as json-file with the local driver's default limits (20 MB per file, 5 files), since
//! berthd has no binary log format: the files stay readable JSON lines.
//!
//! json-file also takes dockerd's attribute options (`labels`, `labels-regex`, `env`, `env-regex`,
//! `tag`: [`super::logattrs`]); `local` refuses them, as dockerd's does. `mode` and
//! `max-buffer-size` are checked for every driver but `none`, before the driver's own options, as
//! dockerd checks them. `mode=non-blocking` is dockerd's: the shim queues the lines (1 MB unless
//! `max-buffer-size` says otherwise) for a writer thread and drops those that find the queue full,
//! so a container never waits for its log file.
//!
//! Any other name is a log plugin's (dockerd's `LogDriver` interface): looked up at create
//! ([`super::logplugin`]), its options unchecked but for the common ones, as dockerd does.

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `HostConfig.LogConfig` as the request sends it.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfigRequest {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub config: Option<BTreeMap<String, String>>,
}

/// The validated settings, kept in the container's record.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct LogSettings {
    /// `json-file`, `local` or `none` (empty in records made before log drivers: json-file).
    pub driver: String,
    /// The options as given (shown by inspect).
    pub options: BTreeMap<String, String>,
    /// Rotate when the file reaches this many bytes (0: never).
    pub max_size: u64,
    /// Files kept, the live one included (1: the live file is truncated instead of rotated).
    pub max_file: u32,
    /// `mode=non-blocking`: at most this many bytes of lines wait to be written (`None`: blocking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_buffer: Option<u64>,
    /// A remote driver's `cache-disabled`: no local copy is kept, `logs` cannot read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cache_disabled: bool,
    /// The driver is a log plugin ([`super::logplugin`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub plugin: bool,
}

impl LogSettings {
    /// Whether the output is kept (and `logs` can read it).
    pub fn readable(&self) -> bool {
        self.driver != "none" && !self.cache_disabled
    }

    /// A driver that sends the lines elsewhere (syslog, gelf, ...); the json-file log berthd
    /// keeps beside it is the local copy dockerd calls its cache.
    pub fn is_remote(&self) -> bool {
        self.plugin || berth_logdriver::is_remote(&self.driver)
    }

    /// The driver's name as inspect shows it.
    pub fn driver_name(&self) -> &str {
        if self.driver.is_empty() {
            "json-file"
        } else {
            &self.driver
        }
    }
}

/// dockerd's own drivers that berthd does not have: these names are not looked up as plugins.
const MISSING_BUILTINS: [&str; 4] = ["awslogs", "etwlogs", "gcplogs", "logentries"];

/// The default driver when the request names none.
pub const DEFAULT_DRIVER: &str = "json-file";

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest(msg)
}

/// Docker's sizes: a number with an optional `k`, `m`, `g` (decimal, as Docker's `FromHumanSize`)
/// or `kb`/`mb`/`gb`, `b`.
fn human_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && v >= 0.0).then_some(v as u64)
}

/// dockerd's buffer for `mode=non-blocking` without `max-buffer-size`.
const DEFAULT_MAX_BUFFER: u64 = 1_000_000;

/// Docker's `RAMInBytes`: a number with an optional binary unit (`k`, `kb`, `KiB`, `m`, ... `p`).
fn ram_in_bytes(s: &str) -> Option<u64> {
    let re = regex::Regex::new(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$").ok()?;
    let c = re.captures(s)?;
    let n: f64 = c[1].parse().ok()?;
    let shift = c
        .get(2)
        .map_or(0, |u| match u.as_str().to_ascii_lowercase().as_str() {
            "k" => 10,
            "m" => 20,
            "g" => 30,
            "t" => 40,
            _ => 50,
        });
    let v = n * (1u64 << shift) as f64;
    (v.is_finite() && v < u64::MAX as f64).then_some(v as u64)
}

/// Validate the request (a missing or empty `Type` is the default driver).
pub fn parse(r: Option<LogConfigRequest>) -> ApiResult<LogSettings> {
    let r = r.unwrap_or_default();
    let driver = r
        .kind
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| DEFAULT_DRIVER.to_string());
    let options = r.config.unwrap_or_default();
    let (mut max_size, mut max_file) = match driver.as_str() {
        "json-file" => (0, 1),
        "local" => (20_000_000, 5),
        // dockerd takes any options for `none`: nothing reads them.
        "none" => {
            return Ok(LogSettings {
                driver,
                options,
                max_size: 0,
                max_file: 1,
                max_buffer: None,
                cache_disabled: false,
                plugin: false,
            })
        }
        _ => (0, 1),
    };
    // Every driver's options, checked before the driver's own (and its existence), as dockerd does.
    let mode = options.get("mode").map(String::as_str).unwrap_or("");
    let non_blocking = match mode {
        "" | "blocking" => false,
        "non-blocking" => true,
        _ => return Err(bad(format!("logger: logging mode not supported: {mode}"))),
    };
    let mut max_buffer = non_blocking.then_some(DEFAULT_MAX_BUFFER);
    if let Some(v) = options.get("max-buffer-size") {
        if !non_blocking {
            return Err(bad(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'".into(),
            ));
        }
        max_buffer = Some(ram_in_bytes(v).ok_or_else(|| {
            bad(format!(
                "error parsing option max-buffer-size: invalid size: '{v}'"
            ))
        })?);
    }
    let builtin = ["json-file", "local"].contains(&driver.as_str());
    let remote = berth_logdriver::is_remote(&driver);
    // Any other name is a plugin's (whether there is one is asked at create), unless it is one of
    // dockerd's own drivers berthd lacks.
    let plugin = !builtin && !remote && !MISSING_BUILTINS.contains(&driver.as_str());
    if remote || plugin {
        // A plugin takes its options as they are; a remote driver's are checked as dockerd does.
        if remote {
            berth_logdriver::validate(&driver, &options).map_err(bad)?;
            super::logattrs::validate(&options)
                .map_err(|e| bad(format!("failed to initialize logging driver: {e}")))?;
        }
        let cache = berth_logdriver::cache(&driver, &options).map_err(bad)?;
        let (max_size, max_file) = cache.unwrap_or((0, 1));
        return Ok(LogSettings {
            driver,
            options,
            max_size,
            max_file,
            max_buffer,
            cache_disabled: cache.is_none(),
            plugin,
        });
    }
    if !builtin {
        return Err(bad(format!(
            "logger: no log driver named '{driver}' is registered"
        )));
    }
    for (k, v) in &options {
        match k.as_str() {
            "mode" | "max-buffer-size" => {}
            "max-size" => {
                max_size = human_size(v)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("max-size must be a positive number".into()))?;
            }
            "max-file" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| bad(format!("invalid max-file {v:?}: not a number")))?;
                if n < 1 {
                    return Err(bad("max-file cannot be less than 1".into()));
                }
                max_file = u32::try_from(n).unwrap_or(u32::MAX);
            }
            "compress" => match v.as_str() {
                "false" | "0" => {}
                "true" | "1" => {
                    return Err(bad(format!(
                        "log opt 'compress' of the {driver} log driver is not supported by berthd"
                    )))
                }
                _ => return Err(bad(format!("invalid value for compress: {v:?}"))),
            },
            // The json-file driver's attributes (the local driver has none in dockerd).
            "labels" | "labels-regex" | "env" | "env-regex" | "tag" if driver == "json-file" => {}
            _ if driver == "local" => {
                return Err(bad(format!("unknown log opt '{k}' for log driver local")))
            }
            _ => {
                return Err(bad(format!(
                    "unknown log opt '{k}' for {driver} log driver"
                )))
            }
        }
    }
    if driver == "json-file" {
        super::logattrs::validate(&options)
            .map_err(|e| bad(format!("failed to initialize logging driver: {e}")))?;
    }
    Ok(LogSettings {
        driver,
        options,
        max_size,
        max_file,
        max_buffer,
        cache_disabled: false,
        plugin: false,
    })
}

/// The attributes of `c`'s log lines as a JSON object (`None`: none), computed at each start: the
/// tag can name the container, which a rename changes.
pub fn attrs_json(c: &super::model::Container) -> Result<Option<String>, String> {
    let s = &c.spec.log;
    if s.driver_name() != "json-file" || s.options.is_empty() {
        return Ok(None);
    }
    let labels: BTreeMap<String, String> = c
        .config
        .get("Labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let info = super::logattrs::LogInfo {
        id: &c.id,
        name: &c.name,
        image_id: &c.image_id,
        image_name: c.config.get("Image").and_then(|i| i.as_str()).unwrap_or(""),
        env: &c.spec.env,
        labels: &labels,
    };
    let a = super::logattrs::attrs_json(&s.options, &info)?;
    // They go on the shim's command line, where one argument is at most 128 KiB.
    if a.as_ref().is_some_and(|a| a.len() > MAX_ATTRS) {
        return Err(format!(
            "the log attributes (labels, env, tag) are over {} KiB",
            MAX_ATTRS >> 10
        ));
    }
    Ok(a)
}

/// The most bytes of attributes a log line carries.
const MAX_ATTRS: usize = 64 << 10;

/// What a remote driver is told of `c` ([`berth_logdriver::Spec`]), as JSON for the shim's
/// command line (`None` for the other drivers). Computed at each start, as the attributes are; a
/// host name in the driver's address is resolved here (the shim is a static program without the
/// C library's name services). A log plugin's lines go to `fifo` (made for this start), framed
/// by the shim; what the plugin is told of the container it was told by berthd.
pub fn remote_spec(
    c: &super::model::Container,
    fifo: Option<&std::path::Path>,
) -> Result<Option<String>, String> {
    let s = &c.spec.log;
    if !s.is_remote() {
        return Ok(None);
    }
    if s.plugin {
        let Some(fifo) = fifo else {
            return Err(format!("log plugin {}: no FIFO made", s.driver));
        };
        let spec = berth_logdriver::Spec {
            driver: s.driver.clone(),
            fifo: Some(fifo.to_path_buf()),
            ..Default::default()
        };
        return serde_json::to_string(&spec)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    let labels: BTreeMap<String, String> = c
        .config
        .get("Labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let image_name = c.config.get("Image").and_then(|i| i.as_str()).unwrap_or("");
    let info = super::logattrs::LogInfo {
        id: &c.id,
        name: &c.name,
        image_id: &c.image_id,
        image_name,
        env: &c.spec.env,
        labels: &labels,
    };
    let mut extra = super::logattrs::attrs(&s.options, &info)?;
    extra.remove("tag");
    let template = s
        .options
        .get("tag")
        .filter(|t| !t.is_empty())
        .map_or(berth_logdriver::default_tag(&s.driver), String::as_str);
    let mut spec = berth_logdriver::Spec {
        driver: s.driver.clone(),
        options: s.options.clone(),
        info: berth_logdriver::Info {
            id: c.id.clone(),
            name: c.name.clone(),
            image_id: c.image_id.clone(),
            image_name: image_name.to_string(),
            command: c.spec.args.join(" "),
            created: c.created.clone(),
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            tag: super::logattrs::tag(template, &info)?,
            extra,
        },
        names: BTreeMap::new(),
        fifo: None,
    };
    berth_logdriver::resolve(&mut spec)?;
    let json = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
    // It goes on the shim's command line, where one argument is at most 128 KiB.
    if json.len() > MAX_ATTRS {
        return Err(format!(
            "the log driver's settings and attributes are over {} KiB",
            MAX_ATTRS >> 10
        ));
    }
    Ok(Some(json))
}

/// The shim's flags for these settings, the lines' attributes ([`attrs_json`]) and a remote
/// driver's spec ([`remote_spec`]).
pub fn shim_args(s: &LogSettings, attrs: Option<String>, remote: Option<String>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(r) = remote {
        v.extend(["--log-remote".into(), r]);
    }
    if let Some(n) = s.max_buffer {
        v.extend(["--log-max-buffer".into(), n.to_string()]);
    }
    if !s.readable() {
        v.extend(["--log-driver".into(), "none".into()]);
        return v;
    }
    v.extend([
        "--log-max-size".into(),
        s.max_size.to_string(),
        "--log-max-file".into(),
        s.max_file.max(1).to_string(),
    ]);
    if let Some(a) = attrs {
        v.extend(["--log-attrs".into(), a]);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: &str, opts: &[(&str, &str)]) -> Option<LogConfigRequest> {
        Some(LogConfigRequest {
            kind: Some(kind.into()),
            config: Some(
                opts.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        })
    }

    #[test]
    fn drivers_and_options() {
        let s = parse(None).unwrap();
        assert_eq!(
            (s.driver.as_str(), s.max_size, s.max_file),
            ("json-file", 0, 1)
        );
        let s = parse(req("", &[("max-file", "100")])).unwrap();
        assert_eq!(s.driver_name(), "json-file");
        assert_eq!(s.max_file, 100);
        let s = parse(req("json-file", &[("max-size", "10k"), ("max-file", "3")])).unwrap();
        assert_eq!((s.max_size, s.max_file), (10_000, 3));
        assert_eq!(parse(req("local", &[])).unwrap().max_file, 5);
        assert!(!parse(req("none", &[])).unwrap().readable());
        let e = parse(req("awslogs", &[])).unwrap_err().to_string();
        assert_eq!(e, "logger: no log driver named 'awslogs' is registered");
        // Another name is a plugin's, its options its own (but the local copy's).
        let s = parse(req("asdf", &[("any", "thing"), ("cache-max-file", "2")])).unwrap();
        assert!(s.plugin && s.is_remote() && s.readable());
        assert_eq!(s.max_file, 2);
        let s = parse(req("asdf", &[("cache-disabled", "true")])).unwrap();
        assert!(!s.readable());
        assert!(parse(req("asdf", &[("cache-max-file", "0")])).is_err());
        assert!(parse(req("json-file", &[("max-file", "0")])).is_err());
        assert!(parse(req("json-file", &[("max-size", "-1")])).is_err());
        assert!(parse(req("json-file", &[("bogus", "1")])).is_err());
    }

    #[test]
    fn attribute_options_and_modes() {
        let ok = [
            ("labels", "a,b"),
            ("labels-regex", "^com\\."),
            ("env", "E"),
            ("env-regex", "^E"),
            ("tag", "{{.Name}}/{{.ID}}"),
            ("mode", "blocking"),
        ];
        let s = parse(req("json-file", &ok)).unwrap();
        assert_eq!(s.options["tag"], "{{.Name}}/{{.ID}}");
        let msg =
            |kind: &str, opts: &[(&str, &str)]| parse(req(kind, opts)).unwrap_err().to_string();
        assert_eq!(
            msg("local", &[("labels", "a")]),
            "unknown log opt 'labels' for log driver local"
        );
        assert_eq!(
            msg("json-file", &[("bogus", "1")]),
            "unknown log opt 'bogus' for json-file log driver"
        );
        let e = msg("json-file", &[("tag", "{{.Foo}}")]);
        assert!(
            e.starts_with("failed to initialize logging driver: tag \"{{.Foo}}\": unsupported"),
            "{e}"
        );
        assert!(msg("json-file", &[("env-regex", "(")]).contains("env-regex"));
        assert_eq!(
            msg("json-file", &[("mode", "foo")]),
            "logger: logging mode not supported: foo"
        );
        // As dockerd: the mode is checked before the driver exists.
        assert_eq!(
            msg("asdf", &[("mode", "foo")]),
            "logger: logging mode not supported: foo"
        );
        assert_eq!(
            msg("local", &[("max-buffer-size", "1m")]),
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
        );
        assert_eq!(
            msg(
                "json-file",
                &[("mode", "non-blocking"), ("max-buffer-size", "lots")]
            ),
            "error parsing option max-buffer-size: invalid size: 'lots'"
        );
        let nb = |opts: &[(&str, &str)]| parse(req("local", opts)).unwrap().max_buffer;
        assert_eq!(nb(&[("mode", "non-blocking")]), Some(1_000_000));
        assert_eq!(
            nb(&[("mode", "non-blocking"), ("max-buffer-size", "4m")]),
            Some(4 << 20)
        );
        assert_eq!(nb(&[("mode", "blocking")]), None);
        let s = parse(req("json-file", &[("mode", "non-blocking")])).unwrap();
        assert_eq!(
            shim_args(&s, None, None),
            [
                "--log-max-buffer",
                "1000000",
                "--log-max-size",
                "0",
                "--log-max-file",
                "1"
            ]
        );
        // `none` takes anything.
        assert!(parse(req("none", &[("tag", "{{.Foo}}")])).is_ok());
    }

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("4m"), Some(4 << 20));
        assert_eq!(ram_in_bytes("1.5 KiB"), Some(1536));
        assert_eq!(ram_in_bytes("10"), Some(10));
        assert_eq!(ram_in_bytes("1x"), None);
        assert_eq!(human_size("1k"), Some(1000));
        assert_eq!(human_size("1.5m"), Some(1_500_000));
        assert_eq!(human_size("20"), Some(20));
        assert_eq!(human_size("x"), None);
    }
}
