//! Debian's docker-registry on a free loopback port, for tests that push and pull. Shared by
//! berthd's and the berth CLI's tests (the latter include this file by path); std only.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry, killed on drop. With auth it takes user `u`, password `p` (htpasswd).
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
}

impl Registry {
    /// Start one storing under `dir`; `None` where docker-registry (or, with `auth`, htpasswd from
    /// apache2-utils) is missing or it does not come up.
    pub fn start(dir: &Path, auth: bool) -> Option<Registry> {
        Registry::start_on(dir, auth, "127.0.0.1")
    }

    /// Like `start`, listening on the address `ip` (e.g. the host's own, which is not loopback).
    pub fn start_on(dir: &Path, auth: bool, ip: &str) -> Option<Registry> {
        let reg = Path::new("/usr/bin/docker-registry");
        if !reg.is_file() {
            return None;
        }
        let mut auth_cfg = String::new();
        if auth {
            let pw = Command::new("htpasswd")
                .args(["-Bbn", "u", "p"])
                .output()
                .ok()
                .filter(|o| o.status.success())?;
            std::fs::write(dir.join("htpasswd"), pw.stdout).ok()?;
            auth_cfg = format!(
                "auth:\n  htpasswd:\n    realm: t\n    path: {}\n",
                dir.join("htpasswd").display()
            );
        }
        let port = std::net::TcpListener::bind(format!("{ip}:0"))
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\nhttp:\n  addr: {ip}:{port}\n  secret: s\n{auth_cfg}",
            dir.join("registry").display(),
        );
        std::fs::write(dir.join("registry.yml"), cfg).ok()?;
        let child = Command::new(reg)
            .arg("serve")
            .arg(dir.join("registry.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let r = Registry {
            child,
            host: format!("{ip}:{port}"),
        };
        let t = Instant::now();
        while std::net::TcpStream::connect(&r.host).is_err() {
            if t.elapsed() > Duration::from_secs(15) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(r)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
