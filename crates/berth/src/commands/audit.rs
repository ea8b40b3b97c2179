//! `berth audit`: the CIS Docker Benchmark checks (crate berth-audit) over the Engine API and,
//! when the engine's socket is on this machine, the daemon's process and files.

use anyhow::{bail, Result};
use serde_json::{json, Value};

use berth_audit::{ClientSettings, EngineView, HostView, LocalHost, NoHost, Outcome, ViewError};

use crate::client::{Client, DaemonError, Endpoint};

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Output format
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Exit 1 when a check ends at or above this result: fail; info (fail or info); never
    #[arg(long = "fail-on", default_value = "fail", value_parser = ["fail", "info", "never"])]
    pub fail_on: String,
}

/// The engine through its API.
struct ApiEngine<'a>(&'a Client);

fn view(r: Result<Value>) -> Result<Value, ViewError> {
    r.map_err(|e| ViewError(format!("{e:#}")))
}

fn not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<DaemonError>()
        .is_some_and(|d| d.status == 404)
}

impl ApiEngine<'_> {
    /// Inspect every object a list names, skipping those removed in between.
    fn inspect_all(&self, list: &str, each: &str) -> Result<Vec<Value>, ViewError> {
        let items = view(self.0.get(list))?;
        let mut out = Vec::new();
        for i in items.as_array().into_iter().flatten() {
            let Some(id) = i["Id"].as_str() else { continue };
            match self.0.get(&each.replace("{id}", id)) {
                Ok(v) => out.push(v),
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(ViewError(format!("{e:#}"))),
            }
        }
        Ok(out)
    }
}

impl EngineView for ApiEngine<'_> {
    fn info(&self) -> Result<Value, ViewError> {
        view(self.0.get("/info"))
    }
    fn running_containers(&self) -> Result<Vec<Value>, ViewError> {
        self.inspect_all("/containers/json", "/containers/{id}/json")
    }
    fn images(&self) -> Result<Vec<Value>, ViewError> {
        self.inspect_all("/images/json", "/images/{id}/json")
    }
    fn image_history(&self, id: &str) -> Result<Vec<Value>, ViewError> {
        let v = view(self.0.get(&format!("/images/{id}/history")))?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }
    fn top(&self, id: &str) -> Result<Value, ViewError> {
        view(self.0.get(&format!("/containers/{id}/top")))
    }
    fn exec(&self, id: &str) -> Result<Value, ViewError> {
        view(self.0.get(&format!("/exec/{id}/json")))
    }
    fn networks(&self) -> Result<Vec<Value>, ViewError> {
        let v = view(self.0.get("/networks"))?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }
}

pub fn audit(c: &Client, endpoint: &Endpoint, a: &AuditArgs) -> Result<i32> {
    let threshold = match a.fail_on.as_str() {
        "fail" => Some(Outcome::Fail),
        "info" => Some(Outcome::Info),
        "never" => None,
        x => bail!("unknown --fail-on {x:?}: use fail, info or never"),
    };
    let (host, address): (Box<dyn HostView>, String) = match endpoint {
        Endpoint::Unix(p) => (Box::new(LocalHost::new(p)), format!("unix://{p}")),
        Endpoint::Tcp(addr) => (
            Box::new(NoHost(format!(
                "the engine is reached over TCP (tcp://{addr}): its host's files are not visible from here"
            ))),
            format!("tcp://{addr}"),
        ),
    };
    let client = ClientSettings {
        content_trust: std::env::var("DOCKER_CONTENT_TRUST").is_ok_and(|v| v == "1"),
        host: address.clone(),
    };
    let findings = berth_audit::audit(&ApiEngine(c), host.as_ref(), &client)?;
    if a.format == "json" {
        let out = json!({
            "engine": address,
            "summary": berth_audit::Summary::of(&findings),
            "checks": findings,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", berth_audit::render_table(&findings));
    }
    let failed = threshold.is_some_and(|t| findings.iter().any(|f| f.result >= t));
    Ok(if failed { 1 } else { 0 })
}
