//! Berth's own endpoints for learned profiles, under `/berth/v1/profiles`
//! (outside Docker's API namespace).

use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, ok_json, Resp};

/// `GET /berth/v1/profiles`: one summary per stored profile.
pub fn list(d: &Daemon) -> ApiResult<Resp> {
    let count = |v: &Value| v.as_array().map_or(0, Vec::len);
    let out: Vec<Value> = d
        .profiles
        .list()
        .iter()
        .map(|p| {
            json!({
                "Name": p["Name"],
                "Created": p["Created"],
                "Image": p["Image"],
                "Syscalls": count(&p["syscalls"]),
                "Capabilities": count(&p["capabilities"]),
            })
        })
        .collect();
    ok_json(&out)
}

/// `GET /berth/v1/profiles/{name}`.
pub fn inspect(d: &Daemon, name: &str) -> ApiResult<Resp> {
    ok_json(&d.profiles.get(name)?)
}

/// `DELETE /berth/v1/profiles/{name}`.
pub fn delete(d: &Daemon, name: &str) -> ApiResult<Resp> {
    if let Some(c) = d.profiles.learning(name) {
        return Err(ApiError::Conflict(format!(
            "profile {name} is being learned by container {c}: stop it first"
        )));
    }
    d.profiles.remove(name)?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /berth/v1/profiles/{name}/stop`: end the learning run (its
/// container is killed if it still runs) and return the stored profile.
pub async fn stop(d: &Arc<Daemon>, name: &str) -> ApiResult<Resp> {
    crate::profiles::check_name(name)?;
    if let Some(c) = d.profiles.learning(name) {
        // A container still starting is let start first (cancelling under
        // it would fail its start), then killed.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status = d.containers.get(&c).map(|c| c.state.status);
            match status {
                Ok(crate::containers::model::Status::Running) => {
                    crate::containers::lifecycle::kill(d, &c, "KILL").await?;
                    break;
                }
                Ok(crate::containers::model::Status::Created)
                    if std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ => {
                    d.profiles.cancel(name);
                    break;
                }
            }
        }
        let d2 = d.clone();
        let n = name.to_string();
        let done =
            tokio::task::spawn_blocking(move || d2.profiles.wait(&n, Duration::from_secs(30)))
                .await
                .map_err(ApiError::internal)?;
        if !done {
            return Err(ApiError::Internal(format!(
                "the learning run of profile {name} did not end within 30 s"
            )));
        }
    }
    inspect(d, name)
}
