//! The `VolumeDriver` interface: every method of dockerd's volume plugin protocol, typed.
//! Names and field spellings are the protocol's (`Name`, `Opts`, `ID`, `Mountpoint`, `Status`).

use crate::{Client, PathScope, Plugin, PluginError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A volume as a plugin describes it (`Get`, `List`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginVolume {
    /// Its name.
    pub name: String,
    /// Where it is mounted on the host (may be empty until mounted).
    pub mountpoint: String,
    /// When the plugin made it (optional).
    pub created_at: String,
    /// Free-form status, shown verbatim by `docker volume inspect`.
    pub status: Option<BTreeMap<String, Value>>,
}

/// A plugin's volume scope (`Capabilities`): anything but `global` is `local`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Volumes of this host only.
    Local,
    /// Volumes the plugin serves on every host.
    Global,
}

impl Scope {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Global => "global",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NameReq<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateReq<'a> {
    name: &'a str,
    opts: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct MountReq<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "ID")]
    id: &'a str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct MountpointResp {
    mountpoint: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct GetResp {
    volume: Option<PluginVolume>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ListResp {
    volumes: Vec<PluginVolume>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CapsResp {
    capabilities: Caps,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Caps {
    scope: String,
}

/// A volume plugin.
#[derive(Clone)]
pub struct VolumeDriver {
    client: Client,
    paths: Option<PathScope>,
}

impl VolumeDriver {
    /// The volume interface of an activated plugin's client.
    pub fn new(client: Client) -> VolumeDriver {
        VolumeDriver {
            client,
            paths: None,
        }
    }

    /// The volume interface of an activated plugin: a managed plugin's mount points (paths
    /// inside it) come back as host paths.
    pub fn of(p: &Plugin) -> VolumeDriver {
        VolumeDriver {
            client: p.client.clone(),
            paths: p.paths.clone(),
        }
    }

    fn host(&self, mp: String) -> String {
        match &self.paths {
            Some(s) if !mp.is_empty() => s.host_path(&mp),
            _ => mp,
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.client.name()
    }

    /// `VolumeDriver.Create` with the driver options (labels stay with the daemon, as in dockerd).
    pub async fn create(
        &self,
        name: &str,
        opts: &BTreeMap<String, String>,
    ) -> Result<(), PluginError> {
        let t = self.client.settings().long_timeout;
        let _: Value = self
            .client
            .call("VolumeDriver.Create", Some(&CreateReq { name, opts }), t)
            .await?;
        Ok(())
    }

    /// `VolumeDriver.Remove`.
    pub async fn remove(&self, name: &str) -> Result<(), PluginError> {
        let t = self.client.settings().long_timeout;
        let _: Value = self
            .client
            .call("VolumeDriver.Remove", Some(&NameReq { name }), t)
            .await?;
        Ok(())
    }

    /// `VolumeDriver.Mount` for caller `id` (one per container): the host path to bind.
    pub async fn mount(&self, name: &str, id: &str) -> Result<String, PluginError> {
        let t = self.client.settings().long_timeout;
        let r: MountpointResp = self
            .client
            .call("VolumeDriver.Mount", Some(&MountReq { name, id }), t)
            .await?;
        if r.mountpoint.is_empty() {
            return Err(PluginError::Protocol {
                name: self.name().to_string(),
                method: "VolumeDriver.Mount".into(),
                msg: "no Mountpoint in the answer".into(),
            });
        }
        Ok(self.host(r.mountpoint))
    }

    /// `VolumeDriver.Unmount` for the `id` that mounted it.
    pub async fn unmount(&self, name: &str, id: &str) -> Result<(), PluginError> {
        let t = self.client.settings().long_timeout;
        let _: Value = self
            .client
            .call("VolumeDriver.Unmount", Some(&MountReq { name, id }), t)
            .await?;
        Ok(())
    }

    /// `VolumeDriver.Path`: where the volume is mounted (empty if the plugin says nothing).
    pub async fn path(&self, name: &str) -> Result<String, PluginError> {
        let t = self.client.settings().short_timeout;
        let r: MountpointResp = self
            .client
            .call("VolumeDriver.Path", Some(&NameReq { name }), t)
            .await?;
        Ok(self.host(r.mountpoint))
    }

    /// `VolumeDriver.Get`: the volume, or the plugin's error (e.g. "no such volume").
    pub async fn get(&self, name: &str) -> Result<PluginVolume, PluginError> {
        let t = self.client.settings().short_timeout;
        let r: GetResp = self
            .client
            .call("VolumeDriver.Get", Some(&NameReq { name }), t)
            .await?;
        r.volume
            .map(|mut v| {
                v.mountpoint = self.host(std::mem::take(&mut v.mountpoint));
                v
            })
            .ok_or_else(|| PluginError::Remote {
                name: self.name().to_string(),
                method: "VolumeDriver.Get".into(),
                status: 200,
                msg: "no such volume".into(),
            })
    }

    /// `VolumeDriver.List`.
    pub async fn list(&self) -> Result<Vec<PluginVolume>, PluginError> {
        let t = self.client.settings().short_timeout;
        let r: ListResp = self
            .client
            .call("VolumeDriver.List", Some(&serde_json::json!({})), t)
            .await?;
        Ok(r.volumes
            .into_iter()
            .map(|mut v| {
                v.mountpoint = self.host(std::mem::take(&mut v.mountpoint));
                v
            })
            .collect())
    }

    /// `VolumeDriver.Capabilities` (optional: a plugin without it is `local`).
    pub async fn capabilities(&self) -> Result<Scope, PluginError> {
        let t = self.client.settings().short_timeout;
        match self
            .client
            .call::<_, CapsResp>("VolumeDriver.Capabilities", Some(&serde_json::json!({})), t)
            .await
        {
            Ok(r) if r.capabilities.scope == "global" => Ok(Scope::Global),
            Ok(_) => Ok(Scope::Local),
            Err(e) if e.is_unknown_method() => Ok(Scope::Local),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::FakeTransport;
    use std::sync::Arc;

    fn driver(fake: &FakeTransport) -> VolumeDriver {
        let s = crate::Settings {
            retry_budget: std::time::Duration::ZERO,
            ..Default::default()
        };
        VolumeDriver::new(Client::new("vp", Arc::new(fake.clone()), s))
    }

    #[tokio::test]
    async fn requests_and_answers_are_the_protocols() {
        let fake = FakeTransport::default();
        fake.answer("/VolumeDriver.Create", 200, r#"{"Err":""}"#)
            .answer(
                "/VolumeDriver.Mount",
                200,
                r#"{"Mountpoint":"/mnt/v","Err":""}"#,
            )
            .answer("/VolumeDriver.Unmount", 200, "{}")
            .answer(
                "/VolumeDriver.Get",
                200,
                r#"{"Volume":{"Name":"v","Mountpoint":"/mnt/v","Status":{"opts":{"size":"1g"}}},"Err":""}"#,
            )
            .answer(
                "/VolumeDriver.List",
                200,
                r#"{"Volumes":[{"Name":"v"},{"Name":"w","Mountpoint":"/mnt/w"}]}"#,
            )
            .answer(
                "/VolumeDriver.Capabilities",
                200,
                r#"{"Capabilities":{"Scope":"global"}}"#,
            )
            .answer("/VolumeDriver.Remove", 200, r#"{"Err":"volume is busy"}"#);
        let d = driver(&fake);
        let opts = BTreeMap::from([("size".to_string(), "1g".to_string())]);
        d.create("v", &opts).await.unwrap();
        assert_eq!(d.mount("v", "abc").await.unwrap(), "/mnt/v");
        d.unmount("v", "abc").await.unwrap();
        let v = d.get("v").await.unwrap();
        assert_eq!(v.status.unwrap()["opts"]["size"], "1g");
        assert_eq!(d.list().await.unwrap().len(), 2);
        assert_eq!(d.capabilities().await.unwrap(), Scope::Global);
        assert_eq!(
            d.remove("v").await.unwrap_err().to_string(),
            "volume is busy"
        );
        // Path is optional on the plugin's side: 404 is an error here, the caller decides.
        assert!(d.path("v").await.unwrap_err().is_unknown_method());
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(calls[0].1, r#"{"Name":"v","Opts":{"size":"1g"}}"#);
        assert_eq!(calls[1].1, r#"{"Name":"v","ID":"abc"}"#);
        assert_eq!(calls[4].1, "{}");
    }

    #[tokio::test]
    async fn capabilities_are_optional() {
        let fake = FakeTransport::default();
        assert_eq!(driver(&fake).capabilities().await.unwrap(), Scope::Local);
        fake.answer(
            "/VolumeDriver.Capabilities",
            200,
            r#"{"Capabilities":{"Scope":"cluster"}}"#,
        );
        assert_eq!(driver(&fake).capabilities().await.unwrap(), Scope::Local);
    }
}
