//! The daemon's configuration as its process shows it: command-line flags (dockerd's names, which
//! berthd shares) and the daemon.json they point at. A flag given on the command line wins over
//! the file, as both daemons do it.

use serde_json::Value;

use crate::view::{DaemonProcess, HostView};

/// Which daemon it is: the files and defaults differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Berthd,
    Dockerd,
    Other,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub kind: Kind,
    args: Vec<String>,
    /// The config file in use (given, or the daemon's default when it exists).
    pub config_path: Option<String>,
    /// Its JSON, when it parsed.
    config: Option<Value>,
}

impl Settings {
    pub fn load(p: &DaemonProcess, host: &dyn HostView) -> Settings {
        let base = p.exe.rsplit('/').next().unwrap_or("");
        let base = base.strip_suffix(" (deleted)").unwrap_or(base);
        let kind = match base {
            "berthd" => Kind::Berthd,
            "dockerd" => Kind::Dockerd,
            _ => Kind::Other,
        };
        let mut s = Settings {
            kind,
            args: p.args.clone(),
            config_path: None,
            config: None,
        };
        s.config_path = s.flag("config-file", None).or_else(|| {
            (kind == Kind::Dockerd && host.stat("/etc/docker/daemon.json").is_some())
                .then(|| "/etc/docker/daemon.json".to_string())
        });
        s.config = s
            .config_path
            .as_deref()
            .and_then(|p| host.read(p))
            .and_then(|t| serde_json::from_str(&t).ok());
        s
    }

    /// Every value of a flag that takes one: `--name=v`, `--name v`, `-x v`, `-xv`.
    pub fn flags(&self, long: &str, short: Option<char>) -> Vec<String> {
        let mut out = Vec::new();
        let eq = format!("--{long}=");
        let bare = format!("--{long}");
        let sh = short.map(|c| format!("-{c}"));
        let mut it = self.args.iter().peekable();
        while let Some(a) = it.next() {
            if let Some(v) = a.strip_prefix(&eq) {
                out.push(v.to_string());
            } else if *a == bare || sh.as_deref() == Some(a.as_str()) {
                if let Some(v) = it.next() {
                    out.push(v.clone());
                }
            } else if let Some(v) = sh
                .as_deref()
                .and_then(|s| a.strip_prefix(s))
                .filter(|v| !v.is_empty() && !a.starts_with("--"))
            {
                out.push(v.trim_start_matches('=').to_string());
            }
        }
        out
    }

    /// The last value of a flag that takes one.
    pub fn flag(&self, long: &str, short: Option<char>) -> Option<String> {
        self.flags(long, short).pop()
    }

    /// A boolean flag: `--name` or `--name=true|false` (the last one wins).
    pub fn bool_flag(&self, long: &str, short: Option<char>) -> Option<bool> {
        let bare = format!("--{long}");
        let eq = format!("--{long}=");
        let sh = short.map(|c| format!("-{c}"));
        let mut v = None;
        for a in &self.args {
            if *a == bare || sh.as_deref() == Some(a.as_str()) {
                v = Some(true);
            } else if let Some(x) = a.strip_prefix(&eq) {
                v = Some(x != "false" && x != "0");
            }
        }
        v
    }

    /// A config-file key.
    pub fn config(&self, key: &str) -> Option<&Value> {
        self.config.as_ref().and_then(|c| c.get(key))
    }

    /// A boolean from the flag, else the config file.
    pub fn boolean(&self, flag: &str, short: Option<char>, key: &str) -> Option<bool> {
        self.bool_flag(flag, short)
            .or_else(|| self.config(key).and_then(Value::as_bool))
    }

    /// A string from the flag, else the config file.
    pub fn string(&self, flag: &str, short: Option<char>, key: &str) -> Option<String> {
        self.flag(flag, short)
            .or_else(|| self.config(key).and_then(Value::as_str).map(str::to_string))
    }

    /// Every value from the flags and the config file (a list or a map's keys).
    pub fn list(&self, flag: &str, short: Option<char>, key: &str) -> Vec<String> {
        let mut v = self.flags(flag, short);
        match self.config(key) {
            Some(Value::Array(a)) => {
                v.extend(a.iter().filter_map(|x| x.as_str().map(String::from)))
            }
            Some(Value::Object(m)) => v.extend(m.keys().cloned()),
            Some(Value::String(s)) => v.push(s.clone()),
            _ => {}
        }
        v
    }

    /// The sockets it listens on (`-H`, `hosts`), or its default one.
    pub fn hosts(&self) -> Vec<String> {
        let v = self.list("host", Some('H'), "hosts");
        if !v.is_empty() {
            return v;
        }
        match self.kind {
            Kind::Berthd => vec!["unix:///run/berth/berth.sock".into()],
            _ => vec!["unix:///var/run/docker.sock".into()],
        }
    }

    /// Its runtime state directory.
    pub fn exec_root(&self) -> String {
        self.string("exec-root", None, "exec-root")
            .unwrap_or_else(|| match self.kind {
                Kind::Berthd => "/run/berth".into(),
                _ => "/var/run/docker".into(),
            })
    }

    /// The stem of its files under /etc and its systemd units: `docker` or `berthd`.
    pub fn stem(&self) -> &'static str {
        match self.kind {
            Kind::Berthd => "berthd",
            _ => "docker",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeHost;

    fn settings(args: &[&str]) -> Settings {
        let p = DaemonProcess {
            pid: 1,
            exe: "/usr/sbin/dockerd".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            uid: 0,
            unit: None,
        };
        Settings::load(&p, &FakeHost::default())
    }

    #[test]
    fn flags_in_every_spelling() {
        let s = settings(&[
            "-H",
            "unix:///a.sock",
            "--host=tcp://0.0.0.0:2375",
            "-Hunix:///b.sock",
            "--log-level",
            "debug",
            "--icc=false",
            "--tlsverify",
        ]);
        assert_eq!(
            s.hosts(),
            ["unix:///a.sock", "tcp://0.0.0.0:2375", "unix:///b.sock"]
        );
        assert_eq!(s.flag("log-level", Some('l')).as_deref(), Some("debug"));
        assert_eq!(s.bool_flag("icc", None), Some(false));
        assert_eq!(s.bool_flag("tlsverify", None), Some(true));
        assert_eq!(s.bool_flag("iptables", None), None);
        assert_eq!(s.exec_root(), "/var/run/docker");
    }

    #[test]
    fn the_config_file_fills_what_flags_leave() {
        let mut h = FakeHost::default();
        h.file(
            "/etc/d.json",
            0,
            0,
            0o644,
            r#"{"log-level":"warn","live-restore":true,"hosts":["unix:///c.sock"]}"#,
        );
        let p = DaemonProcess {
            pid: 1,
            exe: "/usr/bin/berthd".into(),
            args: vec![
                "--config-file".into(),
                "/etc/d.json".into(),
                "-l".into(),
                "error".into(),
            ],
            uid: 0,
            unit: None,
        };
        let s = Settings::load(&p, &h);
        assert_eq!(s.kind, Kind::Berthd);
        assert_eq!(
            s.string("log-level", Some('l'), "log-level").as_deref(),
            Some("error")
        );
        assert_eq!(s.boolean("live-restore", None, "live-restore"), Some(true));
        assert_eq!(s.hosts(), ["unix:///c.sock"]);
        assert_eq!(s.exec_root(), "/run/berth");
    }
}
