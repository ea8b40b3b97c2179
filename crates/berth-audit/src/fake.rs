//! Fakes of both views for the unit tests: an engine made of JSON documents and a host made of a
//! table of files.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::view::{DaemonProcess, EngineView, FileStat, HostView, ViewError};

#[derive(Default)]
pub struct FakeEngine {
    pub info: Value,
    pub containers: Vec<Value>,
    pub images: Vec<Value>,
    pub history: BTreeMap<String, Vec<Value>>,
    pub top: BTreeMap<String, Value>,
    pub execs: BTreeMap<String, Value>,
    pub networks: Vec<Value>,
}

impl FakeEngine {
    /// An engine like a fresh dockerd: no containers, no images.
    pub fn new() -> FakeEngine {
        FakeEngine {
            info: json!({
                "Driver": "overlay2",
                "DockerRootDir": "/var/lib/docker",
                "LoggingDriver": "json-file",
                "LiveRestoreEnabled": false,
                "ExperimentalBuild": false,
                "SecurityOptions": ["name=seccomp,profile=builtin"],
                "Plugins": {"Authorization": null},
                "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}},
                "Swarm": {"LocalNodeState": "inactive"},
                "ServerVersion": "20.10.24",
                "DefaultRuntime": "runc",
                "Runtimes": {"runc": {"path": "runc"}},
            }),
            ..FakeEngine::default()
        }
    }

    /// Add a running container: `patch` is merged over a well-configured container.
    pub fn container(&mut self, name: &str, patch: Value) {
        let mut c = json!({
            "Id": format!("{name}-id"),
            "Name": format!("/{name}"),
            "Image": "sha256:img",
            "Config": {"User": "1000", "Env": []},
            "State": {"Running": true, "Health": {"Status": "healthy"}},
            "HostConfig": {
                "Privileged": false, "NetworkMode": "none", "Memory": 67108864,
                "CpuShares": 512, "ReadonlyRootfs": true, "PidMode": "", "IpcMode": "private",
                "UTSMode": "", "UsernsMode": "", "CapAdd": null, "CapDrop": ["ALL"],
                "SecurityOpt": ["no-new-privileges"], "PidsLimit": 100, "CgroupParent": "",
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5},
                "Devices": [], "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 1024}],
                "PortBindings": {}
            },
            "Mounts": [],
            "NetworkSettings": {"Ports": {}, "Networks": {"none": {}}},
            "AppArmorProfile": "",
            "ExecIDs": null,
        });
        merge(&mut c, patch);
        self.top.insert(
            format!("{name}-id"),
            json!({"Titles": ["PID", "CMD"], "Processes": [["1", "sleep 60"]]}),
        );
        self.containers.push(c);
    }
}

/// Merge `patch` into `v` (objects key by key; anything else replaces).
pub fn merge(v: &mut Value, patch: Value) {
    match (v, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, p) in b {
                merge(a.entry(k).or_insert(Value::Null), p);
            }
        }
        (v, p) => *v = p,
    }
}

impl EngineView for FakeEngine {
    fn info(&self) -> Result<Value, ViewError> {
        Ok(self.info.clone())
    }
    fn running_containers(&self) -> Result<Vec<Value>, ViewError> {
        Ok(self.containers.clone())
    }
    fn images(&self) -> Result<Vec<Value>, ViewError> {
        Ok(self.images.clone())
    }
    fn image_history(&self, id: &str) -> Result<Vec<Value>, ViewError> {
        Ok(self.history.get(id).cloned().unwrap_or_default())
    }
    fn top(&self, id: &str) -> Result<Value, ViewError> {
        self.top
            .get(id)
            .cloned()
            .ok_or_else(|| ViewError(format!("no such container: {id}")))
    }
    fn exec(&self, id: &str) -> Result<Value, ViewError> {
        self.execs
            .get(id)
            .cloned()
            .ok_or_else(|| ViewError(format!("no such exec: {id}")))
    }
    fn networks(&self) -> Result<Vec<Value>, ViewError> {
        Ok(self.networks.clone())
    }
}

#[derive(Default)]
pub struct FakeHost {
    pub daemon: Option<DaemonProcess>,
    pub files: BTreeMap<String, (FileStat, Option<String>)>,
    pub audit: Option<String>,
}

impl FakeHost {
    pub fn file(&mut self, path: &str, uid: u32, gid: u32, mode: u32, text: &str) {
        let st = FileStat {
            uid,
            gid,
            mode,
            is_dir: false,
            dev: 1,
        };
        self.files
            .insert(path.to_string(), (st, Some(text.to_string())));
    }
    pub fn dir(&mut self, path: &str, uid: u32, gid: u32, mode: u32, dev: u64) {
        let st = FileStat {
            uid,
            gid,
            mode,
            is_dir: true,
            dev,
        };
        self.files.insert(path.to_string(), (st, None));
    }
}

impl HostView for FakeHost {
    fn daemon(&self) -> Result<DaemonProcess, String> {
        self.daemon.clone().ok_or_else(|| "no daemon here".into())
    }
    fn stat(&self, path: &str) -> Option<FileStat> {
        self.files.get(path).map(|f| f.0)
    }
    fn read(&self, path: &str) -> Option<String> {
        self.files.get(path).and_then(|f| f.1.clone())
    }
    fn list_dir(&self, path: &str) -> Vec<String> {
        let pre = format!("{}/", path.trim_end_matches('/'));
        self.files
            .keys()
            .filter_map(|k| k.strip_prefix(&pre))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect()
    }
    fn audit_rules(&self) -> Option<String> {
        self.audit.clone()
    }
}
