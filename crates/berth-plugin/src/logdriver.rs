//! The `LogDriver` interface: dockerd's log plugin protocol, typed. The daemon makes a FIFO, calls
//! `StartLogging` with its path (as the plugin sees it) and what the container is, writes the
//! container's lines to the FIFO (framed by `berth-logdriver`'s `plugin` module) and calls
//! `StopLogging` with the same path when the container is done. `ReadLogs` is not called: berthd
//! reads `docker logs` from its own local copy.

use crate::{Client, Plugin, PluginError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the plugin is told of the container (dockerd's `logger.Info`, with its field names).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogInfo {
    /// The `--log-opt` options.
    pub config: BTreeMap<String, String>,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// With dockerd's leading slash.
    pub container_name: String,
    pub container_entrypoint: String,
    pub container_args: Vec<String>,
    #[serde(rename = "ContainerImageID")]
    pub container_image_id: String,
    pub container_image_name: String,
    /// RFC 3339.
    pub container_created: String,
    pub container_env: Vec<String>,
    pub container_labels: BTreeMap<String, String>,
    /// Empty for a plugin (dockerd sets it for its file drivers only).
    pub log_path: String,
    /// `docker`, as dockerd names itself to log drivers.
    pub daemon_name: String,
}

/// A log plugin's capabilities (`Capabilities`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Capability {
    /// It can serve `docker logs` itself (`ReadLogs`).
    pub read_logs: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StartReq<'a> {
    file: &'a str,
    info: &'a LogInfo,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StopReq<'a> {
    file: &'a str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CapsResp {
    cap: Capability,
}

/// A log plugin.
#[derive(Clone)]
pub struct LogDriver {
    client: Client,
}

impl LogDriver {
    /// The log interface of an activated plugin's client.
    pub fn new(client: Client) -> LogDriver {
        LogDriver { client }
    }

    /// The log interface of an activated plugin.
    pub fn of(p: &Plugin) -> LogDriver {
        LogDriver::new(p.client.clone())
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.client.name()
    }

    /// `LogDriver.StartLogging`: the plugin opens `file` (a FIFO, the path as the plugin sees it)
    /// and reads the container's entries from it.
    pub async fn start_logging(&self, file: &str, info: &LogInfo) -> Result<(), PluginError> {
        let t = self.client.settings().long_timeout;
        let _: Value = self
            .client
            .call("LogDriver.StartLogging", Some(&StartReq { file, info }), t)
            .await?;
        Ok(())
    }

    /// `LogDriver.StopLogging` for the `file` given at the start.
    pub async fn stop_logging(&self, file: &str) -> Result<(), PluginError> {
        let t = self.client.settings().long_timeout;
        let _: Value = self
            .client
            .call("LogDriver.StopLogging", Some(&StopReq { file }), t)
            .await?;
        Ok(())
    }

    /// `LogDriver.Capabilities` (optional: a plugin without it reads no logs).
    pub async fn capabilities(&self) -> Result<Capability, PluginError> {
        let t = self.client.settings().short_timeout;
        match self
            .client
            .call::<(), CapsResp>("LogDriver.Capabilities", None, t)
            .await
        {
            Ok(r) => Ok(r.cap),
            Err(e) if e.is_unknown_method() => Ok(Capability::default()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::FakeTransport;
    use std::sync::Arc;

    fn driver(fake: &FakeTransport) -> LogDriver {
        let s = crate::Settings {
            retry_budget: std::time::Duration::ZERO,
            ..Default::default()
        };
        LogDriver::new(Client::new("lp", Arc::new(fake.clone()), s))
    }

    #[tokio::test]
    async fn requests_and_answers_are_the_protocols() {
        let fake = FakeTransport::default();
        fake.answer("/LogDriver.StartLogging", 200, r#"{"Err":""}"#)
            .answer("/LogDriver.StopLogging", 200, "{}")
            .answer(
                "/LogDriver.Capabilities",
                200,
                r#"{"Cap":{"ReadLogs":true}}"#,
            );
        let d = driver(&fake);
        let info = LogInfo {
            config: BTreeMap::from([("tag".to_string(), "x".to_string())]),
            container_id: "abc".into(),
            container_name: "/c".into(),
            container_args: vec!["-c".into(), "echo".into()],
            daemon_name: "docker".into(),
            ..Default::default()
        };
        d.start_logging("/run/docker/logging/1", &info)
            .await
            .unwrap();
        d.stop_logging("/run/docker/logging/1").await.unwrap();
        assert!(d.capabilities().await.unwrap().read_logs);
        let calls = fake.calls.lock().unwrap().clone();
        let start: Value = serde_json::from_str(&calls[0].1).unwrap();
        assert_eq!(start["File"], "/run/docker/logging/1");
        assert_eq!(start["Info"]["ContainerID"], "abc");
        assert_eq!(start["Info"]["ContainerName"], "/c");
        assert_eq!(start["Info"]["ContainerImageID"], "");
        assert_eq!(start["Info"]["ContainerArgs"][1], "echo");
        assert_eq!(start["Info"]["Config"]["tag"], "x");
        assert_eq!(start["Info"]["DaemonName"], "docker");
        assert_eq!(start["Info"]["LogPath"], "");
        assert_eq!(calls[1].1, r#"{"File":"/run/docker/logging/1"}"#);
        assert_eq!(calls[2].1, "");
    }

    #[tokio::test]
    async fn a_refusal_is_the_plugins_words_and_capabilities_are_optional() {
        let fake = FakeTransport::default();
        fake.answer(
            "/LogDriver.StartLogging",
            200,
            r#"{"Err":"no space for logs"}"#,
        );
        let d = driver(&fake);
        let e = d
            .start_logging("/f", &LogInfo::default())
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "no space for logs");
        assert_eq!(d.capabilities().await.unwrap(), Capability::default());
        fake.answer("/LogDriver.Capabilities", 200, r#"{"Cap":"lots"}"#);
        assert!(matches!(
            d.capabilities().await,
            Err(PluginError::Protocol { .. })
        ));
    }
}
