//! Landlock file-system rules for the container's process: an extension of
//! the runtime spec in the shape of the runtime-spec's Landlock proposal,
//!
//! ```json
//! "process": {"landlock": {
//!     "ruleset": {"handledAccessFS": ["write_file", "make_reg", ...]},
//!     "rules": {"pathBeneath": [{"allowedAccess": ["write_file"], "paths": ["/tmp"]}]},
//!     "disableBestEffort": false}}
//! ```
//!
//! read from `process.landlock` in config.json or, for engines whose spec
//! types cannot carry new fields, from the annotation [`ANNOTATION`] holding
//! the same object. Rights the ruleset handles are denied everywhere except
//! beneath the rules' paths; rights it does not handle stay allowed (so a
//! ruleset handling only write rights leaves reads alone).
//!
//! The kernel's ABI is probed: by default (best effort) rights a kernel
//! does not know are left out, and a kernel without Landlock runs the
//! container unrestricted; `disableBestEffort` turns both into errors.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::OFlag;
use serde_json::Value;

use crate::error::{Context, Error, Result};

/// The annotation carrying `process.landlock` for engines that cannot send it.
pub const ANNOTATION: &str = "run.berth.landlock";

/// Access rights by name (the proposal's names), bit and the first ABI
/// that knows them.
const RIGHTS: &[(&str, u64, u32)] = &[
    ("execute", 1 << 0, 1),
    ("write_file", 1 << 1, 1),
    ("read_file", 1 << 2, 1),
    ("read_dir", 1 << 3, 1),
    ("remove_dir", 1 << 4, 1),
    ("remove_file", 1 << 5, 1),
    ("make_char", 1 << 6, 1),
    ("make_dir", 1 << 7, 1),
    ("make_reg", 1 << 8, 1),
    ("make_sock", 1 << 9, 1),
    ("make_fifo", 1 << 10, 1),
    ("make_block", 1 << 11, 1),
    ("make_sym", 1 << 12, 1),
    ("refer", 1 << 13, 2),
    ("truncate", 1 << 14, 3),
    ("ioctl_dev", 1 << 15, 5),
];

/// Rights that apply to a file (not a directory) in a rule.
const FILE_RIGHTS: u64 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15);
const WRITE_FILE: u64 = 1 << 1;
const TRUNCATE: u64 = 1 << 14;

/// A checked `process.landlock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landlock {
    pub handled: u64,
    pub rules: Vec<(u64, PathBuf)>,
    pub best_effort: bool,
}

/// The rights a kernel of Landlock ABI `abi` knows.
fn known_by(abi: u32) -> u64 {
    RIGHTS
        .iter()
        .filter(|(_, _, since)| *since <= abi)
        .fold(0, |m, (_, bit, _)| m | bit)
}

fn rights(v: &Value, field: &str) -> Result<u64> {
    let list = v
        .as_array()
        .ok_or_else(|| Error::Config(format!("{field}: must be a list of access rights")))?;
    let mut bits = 0;
    for (i, r) in list.iter().enumerate() {
        let name = r
            .as_str()
            .ok_or_else(|| Error::Config(format!("{field}[{i}]: must be a string")))?;
        // The proposal's "LANDLOCK_ACCESS_FS_WRITE_FILE" spelling too.
        let short = name
            .strip_prefix("LANDLOCK_ACCESS_FS_")
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| name.to_string());
        let bit = RIGHTS
            .iter()
            .find(|(n, _, _)| *n == short)
            .map(|(_, b, _)| *b)
            .ok_or_else(|| {
                let known: Vec<&str> = RIGHTS.iter().map(|(n, _, _)| *n).collect();
                Error::Config(format!(
                    "{field}[{i}]: unknown Landlock access right {name:?} (known: {})",
                    known.join(", ")
                ))
            })?;
        bits |= bit;
    }
    Ok(bits)
}

impl Landlock {
    /// Parse a `process.landlock` object; `field` names it in errors.
    pub fn parse(v: &Value, field: &str) -> Result<Landlock> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::Config(format!("{field}: must be an object")))?;
        for key in obj.keys() {
            if !["ruleset", "rules", "disableBestEffort"].contains(&key.as_str()) {
                return Err(Error::Config(format!("{field}.{key}: unknown field")));
            }
        }
        let handled_field = format!("{field}.ruleset.handledAccessFS");
        let handled = match v.pointer("/ruleset/handledAccessFS") {
            Some(list) => rights(list, &handled_field)?,
            None => 0,
        };
        if handled == 0 {
            return Err(Error::Config(format!(
                "{handled_field}: must name at least one access right"
            )));
        }
        let mut rules = Vec::new();
        let beneath = v.pointer("/rules/pathBeneath");
        for (i, rule) in beneath
            .map(|b| {
                b.as_array().ok_or_else(|| {
                    Error::Config(format!("{field}.rules.pathBeneath: must be a list"))
                })
            })
            .transpose()?
            .into_iter()
            .flatten()
            .enumerate()
        {
            let rf = format!("{field}.rules.pathBeneath[{i}]");
            let allowed = rights(
                rule.get("allowedAccess").unwrap_or(&Value::Null),
                &format!("{rf}.allowedAccess"),
            )?;
            if allowed & !handled != 0 {
                return Err(Error::Config(format!(
                    "{rf}.allowedAccess: allows rights the ruleset does not handle \
                     (list them in ruleset.handledAccessFS)"
                )));
            }
            let paths = rule
                .get("paths")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::Config(format!("{rf}.paths: must be a list of paths")))?;
            for (j, p) in paths.iter().enumerate() {
                let p = p
                    .as_str()
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .ok_or_else(|| {
                        Error::Config(format!("{rf}.paths[{j}]: must be an absolute path"))
                    })?;
                rules.push((allowed, p));
            }
        }
        let best_effort = match v.get("disableBestEffort") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => !b,
            Some(_) => {
                return Err(Error::Config(format!(
                    "{field}.disableBestEffort: must be true or false"
                )))
            }
        };
        Ok(Landlock {
            handled,
            rules,
            best_effort,
        })
    }

    /// The rules of a raw config.json: `process.landlock`, else the
    /// [`ANNOTATION`].
    pub fn from_config(raw: &Value) -> Result<Option<Landlock>> {
        if let Some(v) = raw.pointer("/process/landlock").filter(|v| !v.is_null()) {
            return Landlock::parse(v, "process.landlock").map(Some);
        }
        Self::from_annotations(raw.get("annotations"))
    }

    /// The rules carried by the [`ANNOTATION`] of an annotations object.
    pub fn from_annotations(annotations: Option<&Value>) -> Result<Option<Landlock>> {
        let Some(text) = annotations
            .and_then(|a| a.get(ANNOTATION))
            .and_then(Value::as_str)
        else {
            return Ok(None);
        };
        let field = format!("annotations[{ANNOTATION:?}]");
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("{field}: not JSON: {e}")))?;
        Landlock::parse(&v, &field).map(Some)
    }

    /// The object form, as it goes into the [`ANNOTATION`].
    pub fn to_json(&self) -> Value {
        let names = |bits: u64| -> Vec<&str> {
            RIGHTS
                .iter()
                .filter(|(_, b, _)| bits & b != 0)
                .map(|(n, _, _)| *n)
                .collect()
        };
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|(a, p)| serde_json::json!({"allowedAccess": names(*a), "paths": [p]}))
            .collect();
        serde_json::json!({
            "ruleset": {"handledAccessFS": names(self.handled)},
            "rules": {"pathBeneath": rules},
            "disableBestEffort": !self.best_effort,
        })
    }

    /// Build the ruleset, resolving the paths in the current root (call it
    /// inside the container's root). `fifo` (the exec fifo, opened by init
    /// after the rules are in force) keeps its write right. `None` when
    /// the kernel has no Landlock and best effort allows running without.
    pub fn prepare(&self, fifo: Option<BorrowedFd<'_>>) -> Result<Option<Ruleset>> {
        let abi = berth_sys::landlock::abi_version().ctx("landlock: probe the ABI version")?;
        let known = known_by(abi);
        if abi == 0 || self.handled & !known != 0 {
            let missing = self.handled & !known;
            if !self.best_effort {
                return Err(Error::Unsupported(if abi == 0 {
                    "process.landlock: Landlock is not enabled on this kernel \
                     (and disableBestEffort is set)"
                        .into()
                } else {
                    format!(
                        "process.landlock: the kernel's Landlock ABI {abi} lacks {} \
                         (and disableBestEffort is set)",
                        self.names_of(missing)
                    )
                }));
            }
            if abi == 0 {
                crate::log::debug("process.landlock: Landlock is not enabled; not applied");
                return Ok(None);
            }
        }
        let handled = self.handled & known;
        if handled == 0 {
            return Ok(None);
        }
        let fd =
            berth_sys::landlock::create_ruleset(handled).ctx("landlock: create the ruleset")?;
        for (allowed, path) in &self.rules {
            let target = match crate::mounts::open_fd(path, OFlag::O_PATH | OFlag::O_CLOEXEC) {
                Ok(t) => t,
                Err(e) if self.best_effort && e.kind() == std::io::ErrorKind::NotFound => {
                    crate::log::debug(&format!(
                        "process.landlock: {} does not exist; rule skipped",
                        path.display()
                    ));
                    continue;
                }
                Err(e) => {
                    return Err(Error::Io {
                        context: format!("process.landlock: open {}", path.display()),
                        source: e,
                    })
                }
            };
            let is_dir = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&target))
                .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                .unwrap_or(false);
            let mut allowed = allowed & handled;
            if !is_dir {
                allowed &= FILE_RIGHTS;
            }
            if allowed == 0 {
                continue;
            }
            berth_sys::landlock::add_path_beneath(fd.as_fd(), allowed, target.as_fd())
                .with_ctx(|| format!("process.landlock: add the rule for {}", path.display()))?;
        }
        if let Some(fifo) = fifo {
            let allowed = handled & (WRITE_FILE | TRUNCATE);
            if allowed != 0 {
                berth_sys::landlock::add_path_beneath(fd.as_fd(), allowed, fifo)
                    .ctx("process.landlock: allow the exec fifo")?;
            }
        }
        Ok(Some(Ruleset(fd)))
    }

    fn names_of(&self, bits: u64) -> String {
        RIGHTS
            .iter()
            .filter(|(_, b, _)| bits & b != 0)
            .map(|(n, _, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A built ruleset, ready to be enforced.
pub struct Ruleset(OwnedFd);

impl Ruleset {
    /// Enforce the rules on this process and everything it runs (needs
    /// no_new_privs or CAP_SYS_ADMIN).
    pub fn restrict(self) -> Result<()> {
        berth_sys::landlock::restrict_self(self.0.as_fd())
            .ctx("process.landlock: enforce the ruleset")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_proposal_shape_and_names_bad_fields() {
        let l = Landlock::parse(
            &json!({
                "ruleset": {"handledAccessFS": ["write_file", "LANDLOCK_ACCESS_FS_MAKE_REG"]},
                "rules": {"pathBeneath": [{"allowedAccess": ["write_file", "make_reg"], "paths": ["/tmp", "/run"]}]},
                "disableBestEffort": true
            }),
            "process.landlock",
        )
        .unwrap();
        assert_eq!(l.handled, (1 << 1) | (1 << 8));
        assert_eq!(l.rules.len(), 2);
        assert!(!l.best_effort);
        assert_eq!(Landlock::parse(&l.to_json(), "x").unwrap(), l);

        let err = Landlock::parse(
            &json!({"ruleset": {"handledAccessFS": ["write_file", "wrte_dir"]}}),
            "process.landlock",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("process.landlock.ruleset.handledAccessFS[1]: unknown Landlock access right \"wrte_dir\""),
            "{err}"
        );
        let err = Landlock::parse(
            &json!({"ruleset": {"handledAccessFS": ["write_file"]},
                    "rules": {"pathBeneath": [{"allowedAccess": ["read_file"], "paths": ["/"]}]}}),
            "p",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("p.rules.pathBeneath[0].allowedAccess"),
            "{err}"
        );
        let err = Landlock::parse(
            &json!({"ruleset": {"handledAccessFS": ["write_file"]},
                    "rules": {"pathBeneath": [{"allowedAccess": ["write_file"], "paths": ["tmp"]}]}}),
            "p",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("p.rules.pathBeneath[0].paths[0]"), "{err}");
    }

    #[test]
    fn the_annotation_is_read_when_the_config_has_no_field() {
        let rules = json!({"ruleset": {"handledAccessFS": ["write_file"]}});
        let raw = json!({"annotations": {ANNOTATION: rules.to_string()}});
        assert!(Landlock::from_config(&raw).unwrap().is_some());
        let raw = json!({"annotations": {ANNOTATION: "{"}});
        assert!(Landlock::from_config(&raw)
            .unwrap_err()
            .to_string()
            .contains("not JSON"));
        assert!(Landlock::from_config(&json!({})).unwrap().is_none());
    }
}
