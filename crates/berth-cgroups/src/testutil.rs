//! Fake cgroup filesystems for unit tests: a tempdir laid out like a v1,
//! hybrid or v2 cgroup root, a matching fake mountinfo and
//! `/proc/self/cgroup`, and helpers to pre-create cgroup files.

use std::fs;
use std::path::PathBuf;

use tempfile::TempDir;

use crate::fsutil::log;
use crate::ManagerConfig;

pub(crate) struct Fake {
    _tmp: TempDir,
    pub root: PathBuf,
    mountinfo: PathBuf,
    proc_cgroup: PathBuf,
}

/// Directory name of a v1 hierarchy (`name=systemd` is mounted as `systemd`).
pub(crate) fn hier_dir(h: &str) -> &str {
    h.strip_prefix("name=").unwrap_or(h)
}

impl Fake {
    fn base() -> (TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cgroup");
        fs::create_dir(&root).unwrap();
        (tmp, root)
    }

    fn finish(tmp: TempDir, root: PathBuf, mountinfo: String, own: &str) -> Fake {
        let mi = tmp.path().join("mountinfo");
        fs::write(&mi, mountinfo).unwrap();
        let pc = tmp.path().join("cgroup.proc");
        fs::write(&pc, own).unwrap();
        log::take(&root);
        Fake {
            _tmp: tmp,
            root,
            mountinfo: mi,
            proc_cgroup: pc,
        }
    }

    /// v1 hierarchies such as `["cpu,cpuacct", "memory", "name=systemd"]`;
    /// with `hybrid`, also a cgroup2 mount at `<root>/unified` offering
    /// `unified_controllers`.
    pub(crate) fn v1(hierarchies: &[&str], hybrid: Option<&str>) -> Fake {
        let (tmp, root) = Self::base();
        let mut mi = String::new();
        let mut own = String::new();
        for (i, h) in hierarchies.iter().enumerate() {
            let dir = root.join(hier_dir(h));
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("cgroup.procs"), "").unwrap();
            mi.push_str(&format!(
                "{} 1 0:{} / {} rw - cgroup cgroup rw,{h}\n",
                40 + i,
                40 + i,
                dir.display()
            ));
            own.push_str(&format!("{}:{h}:/\n", i + 1));
        }
        if let Some(ctrls) = hybrid {
            let dir = root.join("unified");
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("cgroup.controllers"), ctrls).unwrap();
            fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
            mi.push_str(&format!(
                "99 1 0:99 / {} rw - cgroup2 cgroup2 rw,nsdelegate\n",
                dir.display()
            ));
            own.push_str("0::/\n");
        }
        Self::finish(tmp, root, mi, &own)
    }

    /// A cgroup2 root offering `controllers` (e.g. `"cpu io memory pids"`).
    pub(crate) fn v2(controllers: &str) -> Fake {
        let (tmp, root) = Self::base();
        fs::write(root.join("cgroup.controllers"), controllers).unwrap();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        let mi = format!(
            "30 1 0:26 / {} rw - cgroup2 cgroup2 rw,nsdelegate\n",
            root.display()
        );
        Self::finish(tmp, root, mi, "0::/user.slice/me.scope\n")
    }

    pub(crate) fn config(&self, path: Option<&str>, id: &str) -> ManagerConfig {
        ManagerConfig::new(path.map(str::to_string), id)
            .with_root(&self.root)
            .with_mountinfo(&self.mountinfo)
            .with_proc_cgroup(&self.proc_cgroup)
    }

    /// Create `root/rel` with the given files (`(name, content)`).
    pub(crate) fn mk(&self, rel: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.root.join(rel);
        fs::create_dir_all(&dir).unwrap();
        for (f, c) in files {
            fs::write(dir.join(f), c).unwrap();
        }
        dir
    }

    /// Create `root/rel` with empty files.
    pub(crate) fn touch(&self, rel: &str, files: &[&str]) -> PathBuf {
        let v: Vec<(&str, &str)> = files.iter().map(|f| (*f, "")).collect();
        self.mk(rel, &v)
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap()
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }

    /// The writes made by this thread since the last call.
    pub(crate) fn writes(&self) -> Vec<(String, String)> {
        log::take(&self.root)
    }
}

/// Shorthand to build `(path, value)` pairs for comparing with
/// [`Fake::writes`].
pub(crate) fn w(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}
