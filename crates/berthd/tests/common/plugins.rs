//! Legacy plugins for the tests: a Python script from tests/fixtures/plugins serving
//! `<dir>/plugins/<name>.sock` and logging each call it gets to `<dir>/calls.jsonl`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// dockerd's Accept header on plugin calls.
pub const ACCEPT: &str = "application/vnd.docker.plugins.v1.2+json";

pub struct Plugin {
    pub dir: tempfile::TempDir,
    pub name: String,
    script: String,
    child: Option<Child>,
}

impl Plugin {
    /// Start `tests/fixtures/plugins/<script>` as plugin `name`.
    pub fn start(script: &str, name: &str) -> Plugin {
        let dir = tempfile::Builder::new()
            .prefix("plg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let mut p = Plugin {
            dir,
            name: name.to_string(),
            script: script.to_string(),
            child: None,
        };
        p.spawn();
        p
    }

    pub fn sock(&self) -> PathBuf {
        self.dir
            .path()
            .join("plugins")
            .join(format!("{}.sock", self.name))
    }

    /// Where a volume plugin keeps its volumes.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("volumes")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("calls.jsonl")
    }

    /// (Re)start the process and wait for its socket.
    pub fn spawn(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/plugins")
            .join(&self.script);
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(self.sock());
        if self.script.starts_with("volume") {
            cmd.arg(self.root());
        }
        let child = cmd
            .arg(self.log_path())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3");
        self.child = Some(child);
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(self.sock()).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "plugin did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kill the process (its socket file stays, refusing connections, as after a crash).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// berthd flags that find this plugin, with a short retry budget.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--bridge".into(),
            "none".into(),
            "--plugin-dir".into(),
            self.dir.path().join("plugins").display().to_string(),
            "--plugin-retry-timeout".into(),
            "1".into(),
        ]
    }

    /// Every call so far: (method, request), each checked to carry dockerd's Accept header.
    pub fn calls(&self) -> Vec<(String, Value)> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["accept"], ACCEPT, "dockerd's Accept header: {l}");
                let m = v["path"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches('/')
                    .to_string();
                (m, v["req"].clone())
            })
            .collect()
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.stop();
    }
}
