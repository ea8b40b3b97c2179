//! `berth audit`: the CIS Docker Benchmark v1.6 checks that apply to an Engine API daemon
//! (Berth's or Docker's), with the benchmark's ids and titles and docker-bench-security's
//! meaning. The checks look at the engine through [`EngineView`] (sections 2, 4, 5, 6: the
//! Engine API, so they work against a remote engine) and at the daemon's own process and files
//! through [`HostView`] (sections 1, 2 and 3: only when the engine runs on this machine; skipped
//! with the reason otherwise). No HTTP here: the CLI supplies the views.

mod catalog;
mod containers;
mod daemon;
mod host;
mod images;
mod local;
mod report;
mod settings;
mod view;

#[cfg(test)]
mod fake;

use serde::Serialize;
use serde_json::Value;

pub use catalog::{CHECKS, SECTIONS};
pub use local::LocalHost;
pub use report::{render_table, Summary};
pub use view::{ClientSettings, DaemonProcess, EngineView, FileStat, HostView, NoHost, ViewError};

use settings::Settings;

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// Could not be checked here (the reason says why).
    Skipped,
    /// Nothing to pass or fail: facts for a manual review.
    Info,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Skipped => "skipped",
            Outcome::Info => "info",
            Outcome::Fail => "fail",
        }
    }
}

/// One check's finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub title: &'static str,
    /// The benchmark section, e.g. `5 Container Runtime`.
    pub section: String,
    /// The benchmark marks it automated (scored) rather than manual.
    pub automated: bool,
    pub result: Outcome,
    /// Why it was skipped, or what was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The containers, images or files that fail (or, for `info`, that a reviewer should see).
    pub items: Vec<String>,
}

/// What a check function decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub result: Outcome,
    pub reason: Option<String>,
    pub items: Vec<String>,
}

impl Verdict {
    pub fn pass() -> Verdict {
        Verdict {
            result: Outcome::Pass,
            reason: None,
            items: Vec::new(),
        }
    }
    pub fn pass_because(reason: impl Into<String>) -> Verdict {
        Verdict {
            reason: Some(reason.into()),
            ..Verdict::pass()
        }
    }
    pub fn fail(reason: impl Into<String>, items: Vec<String>) -> Verdict {
        Verdict {
            result: Outcome::Fail,
            reason: Some(reason.into()),
            items,
        }
    }
    pub fn info(reason: impl Into<String>, items: Vec<String>) -> Verdict {
        Verdict {
            result: Outcome::Info,
            reason: Some(reason.into()),
            items,
        }
    }
    pub fn skipped(reason: impl Into<String>) -> Verdict {
        Verdict {
            result: Outcome::Skipped,
            reason: Some(reason.into()),
            items: Vec::new(),
        }
    }
    /// Information naming `items` if there are any (a manual check found something to review),
    /// else pass.
    pub fn note_any(why: &str, items: Vec<String>) -> Verdict {
        if items.is_empty() {
            Verdict::pass()
        } else {
            Verdict::info(why, items)
        }
    }
    /// Fail naming `items` if there are any, else pass.
    pub fn unless_any(items: Vec<String>, why: &str) -> Verdict {
        if items.is_empty() {
            Verdict::pass()
        } else {
            Verdict::fail(why, items)
        }
    }
}

/// Everything the checks read, gathered once.
pub(crate) struct Ctx<'a> {
    pub engine: &'a dyn EngineView,
    pub host: &'a dyn HostView,
    pub client: &'a ClientSettings,
    pub info: Value,
    pub containers: Result<Vec<Value>, String>,
    pub images: Result<Vec<Value>, String>,
    /// The daemon's process and its configuration (flags and config file), or why not.
    pub daemon: Result<(DaemonProcess, Settings), String>,
}

/// The audit's error: the engine could not be reached at all.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot read the engine's information")]
    Info(#[source] ViewError),
}

/// Run every check; findings in the benchmark's order.
pub fn audit(
    engine: &dyn EngineView,
    host: &dyn HostView,
    client: &ClientSettings,
) -> Result<Vec<Finding>, AuditError> {
    let info = engine.info().map_err(AuditError::Info)?;
    let daemon = host.daemon().map(|p| {
        let s = Settings::load(&p, host);
        (p, s)
    });
    let ctx = Ctx {
        engine,
        host,
        client,
        info,
        containers: engine.running_containers().map_err(|e| e.to_string()),
        images: engine.images().map_err(|e| e.to_string()),
        daemon,
    };
    let mut out = Vec::with_capacity(CHECKS.len());
    for &(id, title, automated) in CHECKS {
        let section = id.split('.').next().unwrap_or(id);
        let v = match section {
            "1" | "3" => host::check(&ctx, id),
            "2" => daemon::check(&ctx, id),
            "4" => images::check(&ctx, id),
            _ => containers::check(&ctx, id),
        };
        let name = SECTIONS
            .iter()
            .find(|(n, _)| *n == section)
            .map(|(n, t)| format!("{n} {t}"))
            .unwrap_or_else(|| section.to_string());
        out.push(Finding {
            id,
            title,
            section: name,
            automated,
            result: v.result,
            reason: v.reason,
            items: v.items,
        });
    }
    Ok(out)
}

/// A container's name without the leading slash.
pub(crate) fn container_name(c: &Value) -> String {
    c["Name"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string()
}

/// An image's first tag, else its short id.
pub(crate) fn image_name(i: &Value) -> String {
    i["RepoTags"]
        .as_array()
        .and_then(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "<none>:<none>")
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            let id = i["Id"].as_str().unwrap_or("");
            let id = id.strip_prefix("sha256:").unwrap_or(id);
            id.chars().take(12).collect()
        })
}

/// Items sorted and without repeats, so reports compare across engines.
pub(crate) fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeEngine, FakeHost};
    use serde_json::json;

    #[test]
    fn every_check_of_sections_1_to_6_has_its_own_code() {
        let mut e = FakeEngine::new();
        e.container("c", json!({}));
        e.images
            .push(json!({"Id": "sha256:1", "RepoTags": ["x:1"], "Config": {}}));
        let h = FakeHost {
            daemon: Some(DaemonProcess {
                pid: 1,
                exe: "/usr/bin/berthd".into(),
                ..DaemonProcess::default()
            }),
            ..FakeHost::default()
        };
        let f = audit(&e, &h, &ClientSettings::default()).unwrap();
        assert!(f.len() >= 100, "{}", f.len());
        let mut ids: Vec<&str> = f.iter().map(|x| x.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), f.len(), "ids are unique");
        for x in &f {
            assert_ne!(x.reason.as_deref(), Some("not applicable"), "{x:?}");
        }
        let json = serde_json::to_value(&f[0]).unwrap();
        assert_eq!(json["id"], "1.1.1");
        assert_eq!(json["section"], "1 Host Configuration");
    }

    #[test]
    fn a_remote_engine_skips_the_host_sections_with_the_reason() {
        let host = NoHost("the engine is remote".into());
        let f = audit(&FakeEngine::new(), &host, &ClientSettings::default()).unwrap();
        for x in f
            .iter()
            .filter(|x| x.id.starts_with("1.") || x.id.starts_with("3."))
        {
            assert_eq!(x.result, Outcome::Skipped, "{x:?}");
            assert!(
                x.reason
                    .as_deref()
                    .unwrap()
                    .contains("the engine is remote"),
                "{x:?}"
            );
        }
        let table = render_table(&f);
        assert!(table.contains("[5 Container Runtime]"), "{table}");
        assert!(
            table.contains("5.5      SKIPPED  Ensure that privileged containers are not used"),
            "{table}"
        );
    }
}
