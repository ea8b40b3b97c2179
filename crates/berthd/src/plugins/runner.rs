//! berthd's [`Runner`] of managed plugins: each plugin is a container of Berth's runtime under its
//! own shim, apart from the user's containers (runtime root `<exec-root>/plugins/runtime`, cgroup
//! `/berth/plugins/<id>`, never listed by `docker ps`). The bundle is the plugin's directory (its
//! `rootfs/` as the root, writable as with dockerd); output goes to `plugin.log` there. Synchronous:
//! the manager calls it on blocking threads.

use crate::containers::spec::{base_mounts, mount};
use berth_plugin::managed::{RunSpec, Runner};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs plugins through berth-shim and a runc-compatible runtime.
pub struct ShimRunner {
    /// The shim binary.
    pub shim: PathBuf,
    /// The runtime binary.
    pub runtime: PathBuf,
    /// `<data-root>/plugins`: each plugin's directory (the bundle).
    pub plugins_root: PathBuf,
    /// `<exec-root>/plugins`: runtime state, shim sockets, exit files.
    pub run_root: PathBuf,
}

/// The OCI configuration of a plugin (dockerd's `InitSpec` over its default spec).
pub fn oci_config(s: &RunSpec) -> Value {
    let mut mounts = base_mounts("ro");
    for m in &s.mounts {
        let o: Vec<&str> = m.options.iter().map(String::as_str).collect();
        mounts.push(mount(&m.destination, &m.kind, &m.source, &o));
    }
    let mut namespaces = vec![json!({"type": "mount"}), json!({"type": "uts"})];
    if !s.host_pid {
        namespaces.push(json!({"type": "pid"}));
    }
    if !s.host_ipc {
        namespaces.push(json!({"type": "ipc"}));
    }
    if !s.host_network {
        namespaces.push(json!({"type": "network"}));
    }
    let mut caps: Vec<String> = crate::containers::spec::DEFAULT_CAPS
        .iter()
        .map(|c| c.to_string())
        .collect();
    for c in &s.capabilities {
        let c = crate::containers::spec::normalize_cap(c).unwrap_or_else(|| c.clone());
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    let mut rules = if s.allow_all_devices {
        vec![json!({"allow": true, "access": "rwm"})]
    } else {
        vec![
            json!({"allow": false, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"}),
        ]
    };
    let mut devices = Vec::new();
    for path in &s.devices {
        if let Some((kind, major, minor, mode)) = crate::containers::hostextra::device_node(path) {
            devices.push(
                json!({"path": path, "type": kind.to_string(), "major": major,
                "minor": minor, "fileMode": mode, "uid": 0, "gid": 0}),
            );
            rules.push(
                json!({"allow": true, "type": kind.to_string(), "major": major,
                "minor": minor, "access": "rwm"}),
            );
        }
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": {"devices": rules},
        "devices": devices,
        "cgroupsPath": format!("/berth/plugins/{}", s.id),
        "maskedPaths": crate::containers::spec::MASKED_PATHS,
        "readonlyPaths": crate::containers::spec::READONLY_PATHS,
    });
    if s.propagated.is_some() {
        linux["rootfsPropagation"] = json!("rshared");
    }
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": s.user.0, "gid": s.user.1},
            "args": s.args,
            "env": s.env,
            "cwd": s.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        },
        "root": {"path": s.rootfs.display().to_string(), "readonly": false},
        "hostname": "",
        "mounts": mounts,
        "linux": linux,
    })
}

impl ShimRunner {
    fn bundle(&self, id: &str) -> PathBuf {
        self.plugins_root.join(id)
    }
    fn run_dir(&self, id: &str) -> PathBuf {
        self.run_root.join("run").join(id)
    }
    fn shim_socket(&self, id: &str) -> PathBuf {
        self.run_root.join("s").join(&id[..16.min(id.len())])
    }
    fn runtime_root(&self) -> PathBuf {
        self.run_root.join("runtime")
    }

    fn runtime(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new(&self.runtime)
            .arg("--root")
            .arg(self.runtime_root())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", self.runtime.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// The pid of the plugin's init, if its container exists and runs.
    fn pid(&self, id: &str) -> Option<i32> {
        let out = Command::new(&self.runtime)
            .arg("--root")
            .arg(self.runtime_root())
            .args(["state", id])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["status"] == "running")
            .then(|| v["pid"].as_i64())
            .flatten()
            .map(|p| p as i32)
    }

    /// Make the propagated mount's host directory a shared mount of its own, so mounts the plugin
    /// makes under it reach the host (dockerd does the same).
    fn share(dir: &Path) -> Result<(), String> {
        use nix::mount::{mount, MsFlags};
        let mounted = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(&*dir.to_string_lossy()));
        if !mounted {
            mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| format!("bind {}: {e}", dir.display()))?;
        }
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| format!("make {} shared: {e}", dir.display()))
    }
}

impl Runner for ShimRunner {
    fn start(&self, s: &RunSpec) -> Result<(), String> {
        let bundle = self.bundle(&s.id);
        let run_dir = self.run_dir(&s.id);
        for d in [&run_dir, &self.run_root.join("s"), &self.runtime_root()] {
            std::fs::create_dir_all(d).map_err(|e| format!("create {}: {e}", d.display()))?;
        }
        if let Some(p) = &s.propagated {
            Self::share(p)?;
        }
        let cfg = serde_json::to_vec_pretty(&oci_config(s)).unwrap_or_default();
        std::fs::write(bundle.join("config.json"), cfg)
            .map_err(|e| format!("write the bundle: {e}"))?;
        // A container of a previous run that is still recorded (stopped) goes first.
        let _ = self.runtime(&["delete", "--force", &s.id]);
        let _ = std::fs::remove_file(run_dir.join("exit.json"));
        let shim_log = std::fs::File::create(run_dir.join("shim.log"))
            .map_err(|e| format!("shim log: {e}"))?;
        let mut child = Command::new(&self.shim)
            .arg("--id")
            .arg(&s.id)
            .arg("--bundle")
            .arg(&bundle)
            .arg("--runtime")
            .arg(&self.runtime)
            .arg("--runtime-root")
            .arg(self.runtime_root())
            .arg("--runtime-log")
            .arg(run_dir.join("runtime.log"))
            .arg("--log-path")
            .arg(bundle.join("plugin.log"))
            .arg("--socket")
            .arg(self.shim_socket(&s.id))
            .arg("--exit-file")
            .arg(run_dir.join("exit.json"))
            .args(["--log-max-size", "10485760", "--log-max-file", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(shim_log))
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.shim.display()))?;
        let out = child.stdout.take().expect("piped stdout");
        let _ = child.wait();
        if let Err(msg) = crate::containers::shim::read_answer_blocking(out) {
            let msg = if msg.is_empty() {
                std::fs::read_to_string(run_dir.join("shim.log")).unwrap_or_default()
            } else {
                msg
            };
            return Err(format!("creating its container: {}", msg.trim()));
        }
        if let Err(e) = self.runtime(&["start", &s.id]) {
            let _ = self.runtime(&["kill", &s.id, "KILL"]);
            return Err(format!("starting its container: {e}"));
        }
        Ok(())
    }

    fn stop(&self, id: &str, grace: Duration) -> Result<(), String> {
        if self.pid(id).is_none() {
            let _ = self.runtime(&["delete", "--force", id]);
            return Ok(());
        }
        let _ = self.runtime(&["kill", id, "TERM"]);
        let start = Instant::now();
        let mut killed = false;
        loop {
            // The shim deletes the container when its init is gone.
            let gone = self.pid(id).is_none();
            if gone {
                break;
            }
            if start.elapsed() >= grace && !killed {
                let _ = self.runtime(&["kill", id, "KILL"]);
                killed = true;
            }
            if start.elapsed() >= grace + Duration::from_secs(10) {
                return Err("the plugin's container did not exit after SIGKILL".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Wait for the shim's own cleanup (runtime delete), then make sure.
        let t = Instant::now();
        while self.run_dir(id).join("exit.json").metadata().is_err()
            && t.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.runtime(&["delete", "--force", id]);
        Ok(())
    }

    fn is_running(&self, id: &str) -> bool {
        self.pid(id).is_some()
    }

    fn cleanup(&self, id: &str, propagated: Option<&Path>) {
        if let Some(p) = propagated {
            // Every bind stacked there (one per start whose check missed an earlier one).
            for _ in 0..8 {
                if nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH).is_err() {
                    break;
                }
            }
        }
        let _ = std::fs::remove_dir_all(self.run_dir(id));
        let _ = std::fs::remove_file(self.shim_socket(id));
        let _ = std::fs::remove_file(self.bundle(id).join("config.json"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_plugin::managed::RunMount;

    #[test]
    fn the_spec_follows_the_plugin_config() {
        let s = RunSpec {
            id: "abc".into(),
            name: "vp:latest".into(),
            rootfs: "/p/abc/rootfs".into(),
            args: vec!["/vp".into()],
            env: vec!["PATH=/bin".into(), "DEBUG=1".into()],
            cwd: "/".into(),
            user: (0, 0),
            host_network: true,
            host_pid: false,
            host_ipc: false,
            capabilities: vec!["CAP_SYS_ADMIN".into()],
            allow_all_devices: false,
            devices: vec!["/dev/null".into()],
            mounts: vec![RunMount {
                source: "/p/abc/propagated-mount".into(),
                destination: "/data".into(),
                kind: "bind".into(),
                options: vec!["rbind".into(), "rshared".into()],
            }],
            propagated: Some("/p/abc/propagated-mount".into()),
        };
        let c = oci_config(&s);
        let ns: Vec<&str> = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert!(!ns.contains(&"network"), "host network: {ns:?}");
        assert!(ns.contains(&"pid"));
        let caps = c["process"]["capabilities"]["bounding"].as_array().unwrap();
        assert!(caps.iter().any(|x| x == "CAP_SYS_ADMIN"));
        assert!(caps.iter().any(|x| x == "CAP_CHOWN"));
        assert_eq!(c["linux"]["rootfsPropagation"], "rshared");
        assert_eq!(c["linux"]["devices"][0]["path"], "/dev/null");
        assert!(c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == "/data" && m["options"][1] == "rshared"));
    }
}
