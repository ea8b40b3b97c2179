//! Sections 1 and 3: the daemon's own files on this machine (data root, exec root, socket,
//! config file and directory, TLS files, systemd units, the binaries it runs) and the audit rules
//! that watch them. Each benchmark path is mapped to the running daemon's equivalent (Berth's
//! exec root is what /run/containerd is to Docker, berth-shim is its containerd-shim, the default
//! runtime is its runc); a path that does not exist is skipped with the reason.

use crate::settings::{Kind, Settings};
use crate::view::{DaemonProcess, HostView};
use crate::{Ctx, Verdict};

const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

const BIN_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// A file a check looks at, or why there is none to look at.
type Target = Result<String, String>;

pub(crate) fn check(ctx: &Ctx, id: &str) -> Verdict {
    let (p, s) = match &ctx.daemon {
        Ok(d) => d,
        Err(why) => return Verdict::skipped(format!("needs the daemon's host: {why}")),
    };
    let f = Files { ctx, p, s };
    let h = ctx.host;
    match id {
        "1.1.1" => separate_partition(&f),
        "1.1.2" => trusted_users(&f),
        "1.2.1" => Verdict::info(
            "harden the host (minimal install, patched kernel)",
            Vec::new(),
        ),
        "1.2.2" => Verdict::info(
            format!(
                "server version {}: compare with the latest release",
                ctx.info["ServerVersion"].as_str().unwrap_or("unknown")
            ),
            Vec::new(),
        ),
        "3.1" => owned_by_root(h, f.service_unit(), &[0]),
        "3.2" => at_most(h, f.service_unit(), 0o644),
        "3.3" => owned_by_root(h, f.socket_unit(), &[0]),
        "3.4" => at_most(h, f.socket_unit(), 0o644),
        "3.5" => owned_by_root(h, f.config_dir(), &[0]),
        "3.6" => at_most(h, f.config_dir(), 0o755),
        "3.7" => each_cert(&f, |t| owned_by_root(h, t, &[0])),
        "3.8" => each_cert(&f, |t| at_most(h, t, 0o444)),
        "3.9" => owned_by_root(h, f.tls("tlscacert"), &[0]),
        "3.10" => at_most(h, f.tls("tlscacert"), 0o444),
        "3.11" => owned_by_root(h, f.tls("tlscert"), &[0]),
        "3.12" => at_most(h, f.tls("tlscert"), 0o444),
        "3.13" => owned_by_root(h, f.tls("tlskey"), &[0]),
        "3.14" => at_most(h, f.tls("tlskey"), 0o400),
        "3.15" => {
            let mut groups = vec![0];
            groups.extend(group_by_name(h, "docker").map(|g| g.gid));
            owned_by_root(h, f.socket(), &groups)
        }
        "3.16" => at_most(h, f.socket(), 0o660),
        "3.17" => owned_by_root(h, f.config_file(), &[0]),
        "3.18" => at_most(h, f.config_file(), 0o644),
        "3.19" => owned_by_root(h, f.etc("default"), &[0]),
        "3.20" => at_most(h, f.etc("default"), 0o644),
        "3.21" => at_most(h, f.etc("sysconfig"), 0o644),
        "3.22" => owned_by_root(h, f.etc("sysconfig"), &[0]),
        "3.23" => owned_by_root(h, f.containerd("/run/containerd/containerd.sock"), &[0]),
        "3.24" => at_most(h, f.containerd("/run/containerd/containerd.sock"), 0o660),
        _ if id.starts_with("1.1.") => audited(h, f.audit_target(id)),
        _ => Verdict::skipped("not applicable"),
    }
}

/// The running daemon's files.
struct Files<'a> {
    ctx: &'a Ctx<'a>,
    p: &'a DaemonProcess,
    s: &'a Settings,
}

impl Files<'_> {
    fn exists(&self, path: String) -> Target {
        if self.ctx.host.stat(&path).is_some() {
            Ok(path)
        } else {
            Err(format!("{path} does not exist"))
        }
    }

    fn data_root(&self) -> Target {
        match self.ctx.info["DockerRootDir"].as_str() {
            Some(d) if !d.is_empty() => self.exists(d.to_string()),
            _ => Err("the engine does not report its data root".into()),
        }
    }

    fn unit(&self, suffix: &str) -> Target {
        let service = self
            .p
            .unit
            .clone()
            .unwrap_or_else(|| format!("{}.service", self.s.stem()));
        let name = match service.strip_suffix(".service") {
            Some(stem) => format!("{stem}{suffix}"),
            None => service,
        };
        UNIT_DIRS
            .iter()
            .map(|d| format!("{d}/{name}"))
            .find(|p| self.ctx.host.stat(p).is_some())
            .ok_or_else(|| format!("no systemd unit {name}"))
    }

    fn service_unit(&self) -> Target {
        self.unit(".service")
    }

    fn socket_unit(&self) -> Target {
        self.unit(".socket")
    }

    fn config_file(&self) -> Target {
        match &self.s.config_path {
            Some(c) => self.exists(c.clone()),
            None => Err("the daemon uses no config file".into()),
        }
    }

    fn config_dir(&self) -> Target {
        match self.s.kind {
            Kind::Dockerd | Kind::Other => self.exists("/etc/docker".into()),
            Kind::Berthd => match &self.s.config_path {
                Some(c) => {
                    let dir = c.rsplit_once('/').map(|(d, _)| d).filter(|d| !d.is_empty());
                    self.exists(dir.unwrap_or("/").to_string())
                }
                None => Err("berthd reads no configuration directory (no --config-file)".into()),
            },
        }
    }

    fn socket(&self) -> Target {
        let socks: Vec<String> = self
            .s
            .hosts()
            .iter()
            .filter_map(|h| h.strip_prefix("unix://").map(str::to_string))
            .collect();
        let client = self.ctx.client.host.strip_prefix("unix://");
        let pick = socks
            .iter()
            .find(|s| Some(s.as_str()) == client)
            .or(socks.first())
            .cloned();
        match pick {
            Some(s) => self.exists(s),
            None => Err("the daemon listens on no unix socket".into()),
        }
    }

    fn tls(&self, key: &str) -> Target {
        match self.s.string(key, None, key) {
            Some(p) => self.exists(p),
            None => Err(format!("no --{key} (TLS is not configured)")),
        }
    }

    /// /etc/default/<stem> or /etc/sysconfig/<stem>.
    fn etc(&self, dir: &str) -> Target {
        self.exists(format!("/etc/{dir}/{}", self.s.stem()))
    }

    /// A containerd file: dockerd's, when it exists; berthd runs containers without containerd.
    fn containerd(&self, path: &str) -> Target {
        match self.s.kind {
            Kind::Berthd => Err("berthd runs containers without containerd".into()),
            _ => self.exists(path.into()),
        }
    }

    fn binary(&self, name: &str) -> Target {
        let beside = self.p.exe.rsplit_once('/').map(|(d, _)| d.to_string());
        beside
            .iter()
            .map(String::as_str)
            .chain(BIN_DIRS.iter().copied())
            .map(|d| format!("{d}/{name}"))
            .find(|p| self.ctx.host.stat(p).is_some())
            .ok_or_else(|| format!("{name} is not installed"))
    }

    /// The default runtime's binary (what runc is to Docker).
    fn runtime(&self) -> Target {
        let info = &self.ctx.info;
        let name = info["DefaultRuntime"].as_str().unwrap_or("runc");
        let path = info["Runtimes"][name]["path"].as_str().unwrap_or(name);
        if path.starts_with('/') {
            self.exists(path.to_string())
        } else {
            self.binary(path)
        }
    }

    /// What each auditing check (1.1.3 ..= 1.1.18) watches on this daemon.
    fn audit_target(&self, id: &str) -> Target {
        let berthd = self.s.kind == Kind::Berthd;
        match id {
            "1.1.3" => self.exists(self.p.exe.trim_end_matches(" (deleted)").to_string()),
            "1.1.4" if berthd => self.exists(self.s.exec_root()),
            "1.1.4" => self.exists("/run/containerd".into()),
            "1.1.5" => self.data_root(),
            "1.1.6" => self.config_dir(),
            "1.1.7" => self.service_unit(),
            "1.1.8" => self.containerd("/run/containerd/containerd.sock"),
            "1.1.9" => self.socket_unit(),
            "1.1.10" => self.etc("default"),
            "1.1.11" => self.config_file(),
            "1.1.12" => self.containerd("/etc/containerd/config.toml"),
            "1.1.13" => self.etc("sysconfig"),
            "1.1.14" if berthd => Err("berthd runs containers without containerd".into()),
            "1.1.14" => self.binary("containerd"),
            "1.1.15" | "1.1.16" if berthd => {
                Err("berthd has one shim, berth-shim (see 1.1.17)".into())
            }
            "1.1.15" => self.binary("containerd-shim"),
            "1.1.16" => self.binary("containerd-shim-runc-v1"),
            "1.1.17" if berthd => match self.s.flag("shim-binary", None) {
                Some(p) => self.exists(p),
                None => self.binary("berth-shim"),
            },
            "1.1.17" => self.binary("containerd-shim-runc-v2"),
            "1.1.18" => self.runtime(),
            _ => Err("not applicable".into()),
        }
    }
}

/// 1.1.1: the data root lives on its own file system.
fn separate_partition(f: &Files) -> Verdict {
    let root = match f.data_root() {
        Ok(r) => r,
        Err(why) => return Verdict::skipped(why),
    };
    let (Some(d), Some(slash)) = (f.ctx.host.stat(&root), f.ctx.host.stat("/")) else {
        return Verdict::skipped(format!("cannot stat {root} or /"));
    };
    if d.dev != slash.dev {
        Verdict::pass_because(format!("{root} is on its own file system"))
    } else {
        Verdict::fail("the data root is on the root file system", vec![root])
    }
}

/// A line of /etc/group.
struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn groups(h: &dyn HostView) -> Vec<Group> {
    h.read("/etc/group")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split(':');
            let name = it.next()?.to_string();
            let _pw = it.next()?;
            let gid = it.next()?.parse().ok()?;
            let members = it
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            Some(Group { name, gid, members })
        })
        .collect()
}

fn group_by_name(h: &dyn HostView, name: &str) -> Option<Group> {
    groups(h).into_iter().find(|g| g.name == name)
}

/// 1.1.2: who besides root can use the socket (its group's members).
fn trusted_users(f: &Files) -> Verdict {
    let sock = match f.socket() {
        Ok(s) => s,
        Err(why) => return Verdict::skipped(why),
    };
    let Some(st) = f.ctx.host.stat(&sock) else {
        return Verdict::skipped(format!("cannot stat {sock}"));
    };
    if st.mode & 0o020 == 0 || st.gid == 0 {
        return Verdict::info(
            format!(
                "only root can use {sock} (group {}, mode {:04o})",
                st.gid, st.mode
            ),
            Vec::new(),
        );
    }
    let g = groups(f.ctx.host).into_iter().find(|g| g.gid == st.gid);
    let (name, members) = g
        .map(|g| (g.name, g.members))
        .unwrap_or_else(|| (st.gid.to_string(), Vec::new()));
    let reason = if members.is_empty() {
        format!("group {name} may use {sock} (it has no members now)")
    } else {
        format!("members of group {name} can control the daemon through {sock}: make sure they are trusted")
    };
    Verdict::info(reason, members)
}

fn owned_by_root(h: &dyn HostView, t: Target, gids: &[u32]) -> Verdict {
    let path = match t {
        Ok(p) => p,
        Err(why) => return Verdict::skipped(why),
    };
    match h.stat(&path) {
        None => Verdict::skipped(format!("{path} does not exist")),
        Some(st) if st.uid == 0 && gids.contains(&st.gid) => Verdict::pass(),
        Some(st) => Verdict::fail(
            "not owned by root",
            vec![format!("{path} (owner {}:{})", st.uid, st.gid)],
        ),
    }
}

fn at_most(h: &dyn HostView, t: Target, max: u32) -> Verdict {
    let path = match t {
        Ok(p) => p,
        Err(why) => return Verdict::skipped(why),
    };
    match h.stat(&path) {
        None => Verdict::skipped(format!("{path} does not exist")),
        Some(st) if st.mode & !max & 0o7777 == 0 => Verdict::pass(),
        Some(st) => Verdict::fail(
            format!("permissions wider than {max:04o}"),
            vec![format!("{path} (mode {:04o})", st.mode)],
        ),
    }
}

/// 3.7/3.8: every file under dockerd's per-registry certificate directories.
fn each_cert(f: &Files, check: impl Fn(Target) -> Verdict) -> Verdict {
    if f.s.kind == Kind::Berthd {
        return Verdict::skipped("berthd reads no per-registry certificate directory");
    }
    let base = "/etc/docker/certs.d";
    if f.ctx.host.stat(base).is_none() {
        return Verdict::skipped(format!("{base} does not exist"));
    }
    let mut items = Vec::new();
    let mut reason = None;
    for reg in f.ctx.host.list_dir(base) {
        let dir = format!("{base}/{reg}");
        for file in f.ctx.host.list_dir(&dir) {
            let v = check(Ok(format!("{dir}/{file}")));
            if v.result == crate::Outcome::Fail {
                reason = v.reason;
                items.extend(v.items);
            }
        }
    }
    match reason {
        Some(r) => Verdict::fail(r, crate::sorted(items)),
        None => Verdict::pass(),
    }
}

/// Whether the audit rules watch `path` (`-w PATH`, `path=PATH`, `dir=PATH`).
pub(crate) fn watched(rules: &str, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    rules.lines().any(|l| {
        l.split_whitespace().any(|tok| {
            let v = tok.rsplit('=').next().unwrap_or(tok);
            !v.is_empty() && v.trim_end_matches('/') == path
        })
    })
}

fn audited(h: &dyn HostView, t: Target) -> Verdict {
    let path = match t {
        Ok(p) => p,
        Err(why) => return Verdict::skipped(why),
    };
    match h.audit_rules() {
        None => Verdict::fail(
            "no audit rules on this host (auditd is not set up)",
            vec![path],
        ),
        Some(r) if watched(&r, &path) => Verdict::pass(),
        Some(_) => Verdict::fail("no audit rule watches it", vec![path]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeEngine, FakeHost};
    use crate::{audit, ClientSettings, Finding, Outcome};

    fn host(exe: &str, args: &[&str]) -> FakeHost {
        let mut h = FakeHost {
            daemon: Some(DaemonProcess {
                pid: 7,
                exe: exe.into(),
                args: args.iter().map(|s| s.to_string()).collect(),
                uid: 0,
                unit: None,
            }),
            ..FakeHost::default()
        };
        h.dir("/", 0, 0, 0o755, 1);
        h.file(
            "/etc/group",
            0,
            0,
            0o644,
            "root:x:0:\ndocker:x:998:alice,bob\n",
        );
        h
    }

    fn get<'a>(f: &'a [Finding], id: &str) -> &'a Finding {
        f.iter().find(|x| x.id == id).unwrap()
    }

    #[test]
    fn dockerd_files_are_checked_for_owner_and_mode() {
        let mut h = host(
            "/usr/sbin/dockerd",
            &["--config-file", "/etc/docker/daemon.json"],
        );
        h.dir("/var/lib/docker", 0, 0, 0o710, 2);
        h.dir("/etc/docker", 0, 0, 0o755, 1);
        h.file("/etc/docker/daemon.json", 1000, 0, 0o666, "{}");
        h.file("/var/run/docker.sock", 0, 998, 0o660, "");
        h.file("/lib/systemd/system/docker.service", 0, 0, 0o644, "");
        h.dir("/etc/docker/certs.d", 0, 0, 0o755, 1);
        h.dir("/etc/docker/certs.d/reg:5000", 0, 0, 0o755, 1);
        h.file("/etc/docker/certs.d/reg:5000/ca.crt", 0, 0, 0o644, "");
        h.file("/usr/sbin/dockerd", 0, 0, 0o755, "");
        h.audit = Some(
            "-w /usr/sbin/dockerd -k docker\n-a always,exit -F path=/var/lib/docker -k d\n".into(),
        );
        let f = audit(&FakeEngine::new(), &h, &ClientSettings::default()).unwrap();
        assert_eq!(get(&f, "1.1.1").result, Outcome::Pass);
        assert_eq!(get(&f, "1.1.2").items, ["alice", "bob"]);
        assert_eq!(get(&f, "1.1.3").result, Outcome::Pass);
        assert_eq!(get(&f, "1.1.5").result, Outcome::Pass);
        assert_eq!(get(&f, "1.1.6").items, ["/etc/docker"]);
        assert_eq!(get(&f, "1.1.8").result, Outcome::Skipped);
        assert_eq!(get(&f, "3.1").result, Outcome::Pass);
        assert_eq!(get(&f, "3.3").result, Outcome::Skipped);
        assert_eq!(
            get(&f, "3.8").items,
            ["/etc/docker/certs.d/reg:5000/ca.crt (mode 0644)"]
        );
        assert_eq!(get(&f, "3.15").result, Outcome::Pass);
        assert_eq!(get(&f, "3.16").result, Outcome::Pass);
        assert_eq!(
            get(&f, "3.17").items,
            ["/etc/docker/daemon.json (owner 1000:0)"]
        );
        assert_eq!(
            get(&f, "3.18").items,
            ["/etc/docker/daemon.json (mode 0666)"]
        );
        assert!(get(&f, "3.9")
            .reason
            .as_deref()
            .unwrap()
            .contains("TLS is not configured"));
    }

    #[test]
    fn berthd_files_map_to_their_docker_counterparts() {
        let mut h = host(
            "/usr/bin/berthd",
            &["-H", "unix:///tmp/b.sock", "--exec-root", "/tmp/x"],
        );
        h.file("/tmp/b.sock", 0, 0, 0o755, "");
        h.dir("/tmp/x", 0, 0, 0o700, 1);
        h.file("/usr/bin/berth-shim", 0, 0, 0o755, "");
        h.dir("/var/lib/docker", 0, 0, 0o710, 1);
        let mut e = FakeEngine::new();
        e.info["Runtimes"] = serde_json::json!({"berth": {"path": "/usr/bin/berth-runtime"}});
        e.info["DefaultRuntime"] = "berth".into();
        let f = audit(&e, &h, &ClientSettings::default()).unwrap();
        assert_eq!(get(&f, "1.1.1").result, Outcome::Fail);
        assert_eq!(get(&f, "1.1.4").items, ["/tmp/x"]);
        assert_eq!(get(&f, "1.1.17").items, ["/usr/bin/berth-shim"]);
        assert_eq!(
            get(&f, "1.1.18").reason.as_deref(),
            Some("/usr/bin/berth-runtime does not exist")
        );
        assert_eq!(get(&f, "1.1.14").result, Outcome::Skipped);
        assert_eq!(get(&f, "3.16").items, ["/tmp/b.sock (mode 0755)"]);
        assert_eq!(get(&f, "3.15").result, Outcome::Pass);
        assert_eq!(
            get(&f, "3.23").reason.as_deref(),
            Some("berthd runs containers without containerd")
        );
    }

    #[test]
    fn audit_rules_match_whole_paths() {
        assert!(watched("-w /var/lib/docker/ -k docker", "/var/lib/docker"));
        assert!(watched(
            "-a exit,always -F dir=/etc/docker -k x",
            "/etc/docker"
        ));
        assert!(!watched("-w /var/lib/docker2 -k docker", "/var/lib/docker"));
    }
}
