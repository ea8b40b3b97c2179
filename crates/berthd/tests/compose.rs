//! Compose projects as users write them, through the real Compose v2 (the docker CLI plugin) and
//! Compose v1 (Debian's docker-compose), where berthd once answered differently from dockerd.
//! Each test runs its own berthd with its own default bridge; project networks get subnets
//! 10.247.x.0/24 from the test's third octet, so parallel daemons never share one; each test ends
//! with `down` and checks nothing is left.

mod common;

use common::net::Net;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compose v2: `BERTH_TEST_COMPOSE2`, else the plugin where scripts/compose-v2.sh or Debian put it.
fn compose_v2() -> Option<PathBuf> {
    [
        std::env::var("BERTH_TEST_COMPOSE2").unwrap_or_default(),
        "/usr/local/lib/docker/cli-plugins/docker-compose".into(),
        "/usr/lib/docker/cli-plugins/docker-compose".into(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Compose v1 (Debian's docker-compose 1.29).
fn compose_v1() -> Option<PathBuf> {
    Some(PathBuf::from("/usr/bin/docker-compose")).filter(|p| p.is_file())
}

/// One project directory and the Compose binaries that drive it against the test's daemon.
struct Project<'a> {
    t: &'a Net,
    dir: PathBuf,
    name: &'a str,
}

impl<'a> Project<'a> {
    /// A project of `services` (the file's `services:` section), its default network on the
    /// test's subnet 10.247.x.0/24.
    fn new(t: &'a Net, name: &'a str, services: &str) -> Project<'a> {
        let dir = t.d.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let file = format!(
            "{services}networks:\n  default:\n    ipam:\n      config:\n        - subnet: 10.247.{}.0/24\n",
            t.x
        );
        std::fs::write(dir.join("docker-compose.yml"), file).unwrap();
        Project { t, dir, name }
    }

    /// Compose v2 for a test, or why the test skips.
    fn v2(test: &str) -> Option<PathBuf> {
        let c = compose_v2();
        if c.is_none() {
            println!("skipped: {test}: no Compose v2 plugin (scripts/compose-v2.sh installs it)");
        }
        c
    }

    /// Run `compose -p NAME ARGS`: (success, stdout + stderr).
    fn run(&self, compose: &Path, args: &[&str]) -> (bool, String) {
        let o = Command::new(compose)
            .args(["-p", self.name])
            .args(args)
            .current_dir(&self.dir)
            .env("DOCKER_HOST", format!("unix://{}", self.t.d.sock.display()))
            .env("DOCKER_CONFIG", self.t.d.dir.path().join("docker-config"))
            .output()
            .expect("run compose");
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), out)
    }

    /// [`Project::run`] that must succeed: its output.
    fn ok(&self, compose: &Path, args: &[&str]) -> String {
        let (ok, out) = self.run(compose, args);
        assert!(ok, "compose {args:?}: {out}\n{}", self.t.d.log());
        out
    }

    /// `down`, then nothing of the project is left: no container, network or volume.
    fn down_leaves_nothing(&self, compose: &Path) {
        self.ok(compose, &["down", "-v", "-t", "0", "--remove-orphans"]);
        assert!(self.t.d.ok(&["ps", "-aq"]).trim().is_empty());
        let nets = self.t.d.ok(&["network", "ls", "--format", "{{.Name}}"]);
        assert!(!nets.contains(self.name), "{nets}");
        assert!(self.t.d.ok(&["volume", "ls", "-q"]).trim().is_empty());
        assert!(self.t.user_bridges().is_empty());
    }
}

/// `links:` on a project network (where Docker leaves the legacy links to the endpoint's aliases):
/// `up` and `run` work with v2 and v1, the linking service resolves the alias, another does not.
#[test]
fn compose_links_on_a_project_network() {
    skip_unless_ready!("compose_links_on_a_project_network");
    let composes: Vec<PathBuf> = [compose_v2(), compose_v1()].into_iter().flatten().collect();
    if composes.is_empty() {
        println!("skipped: compose_links_on_a_project_network: no Compose v1 or v2");
        return;
    }
    let t = Net::start(11);
    let p = Project::new(
        &t,
        "blinks",
        r#"services:
  db:
    image: bb:1
    command: ["sleep", "1000"]
  web:
    image: bb:1
    command: ["sleep", "1000"]
    links: ["db:mydb"]
  other:
    image: bb:1
    command: ["sleep", "1000"]
"#,
    );
    for compose in &composes {
        p.ok(compose, &["up", "-d"]);
        let out = p.ok(
            compose,
            &["exec", "-T", "web", "busybox", "nslookup", "mydb"],
        );
        assert!(out.contains(&format!("10.247.{}.", t.x)), "{out}");
        let (found, out) = p.run(
            compose,
            &["exec", "-T", "other", "busybox", "nslookup", "mydb"],
        );
        assert!(!found, "another service resolves the link's alias: {out}");
        let out = p.ok(compose, &["run", "--rm", "web", "echo", "one-off"]);
        assert!(out.contains("one-off"), "{out}");
        p.down_leaves_nothing(compose);
    }
}

/// `expose:` ports show in `ps` while the service runs (`81/tcp`, as dockerd lists them), and not
/// once it stopped.
#[test]
fn compose_ps_lists_exposed_ports() {
    skip_unless_ready!("compose_ps_lists_exposed_ports");
    let Some(compose) = Project::v2("compose_ps_lists_exposed_ports") else {
        return;
    };
    let t = Net::start(12);
    let p = Project::new(
        &t,
        "bexpose",
        r#"services:
  web:
    image: bb:1
    command: ["sleep", "1000"]
    expose: ["81", "53/udp"]
"#,
    );
    p.ok(&compose, &["up", "-d"]);
    let ports = p.ok(&compose, &["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ports.trim(), "53/udp, 81/tcp");
    assert_eq!(
        t.d.ok(&["ps", "--format", "{{.Ports}}"]).trim(),
        "53/udp, 81/tcp"
    );
    p.ok(&compose, &["stop", "-t", "0"]);
    let ports = p.ok(&compose, &["ps", "-a", "--format", "{{.Ports}}|"]);
    assert_eq!(ports.trim(), "|");
    p.down_leaves_nothing(&compose);
}

/// A service's `user:` and a one-off's default user get dockerd's groups: the primary group is
/// also the supplementary one (`id` prints `groups=1000`, `groups=0(root)`).
#[test]
fn compose_service_user_has_its_group() {
    skip_unless_ready!("compose_service_user_has_its_group");
    let Some(compose) = Project::v2("compose_service_user_has_its_group") else {
        return;
    };
    let t = Net::start(13);
    let p = Project::new(
        &t,
        "busers",
        r#"services:
  app:
    image: bb:1
    user: "1000:1000"
    command: ["sleep", "1000"]
"#,
    );
    p.ok(&compose, &["up", "-d"]);
    let out = p.ok(&compose, &["exec", "-T", "app", "id"]);
    assert_eq!(out.trim(), "uid=1000 gid=1000 groups=1000");
    let out = p.ok(&compose, &["run", "--rm", "-T", "-u", "0", "app", "id"]);
    assert!(
        out.contains("uid=0(root) gid=0(root) groups=0(root)"),
        "{out}"
    );
    p.down_leaves_nothing(&compose);
}

/// `top` prints each process's start time in `ps -ef`'s STIME column (`HH:MM` today), as dockerd.
#[test]
fn compose_top_shows_start_times() {
    skip_unless_ready!("compose_top_shows_start_times");
    let Some(compose) = Project::v2("compose_top_shows_start_times") else {
        return;
    };
    let t = Net::start(14);
    let p = Project::new(
        &t,
        "btop",
        r#"services:
  app:
    image: bb:1
    command: ["sleep", "1000"]
"#,
    );
    p.ok(&compose, &["up", "-d"]);
    let out = p.ok(&compose, &["top", "app"]);
    let row = out
        .lines()
        .find(|l| l.contains("sleep 1000"))
        .unwrap_or_else(|| panic!("{out}"));
    // SERVICE # UID PID PPID C STIME TTY TIME CMD
    let stime = row.split_whitespace().nth(6).unwrap_or_default();
    let b = stime.as_bytes();
    assert!(
        b.len() == 5 && b[2] == b':' && stime.replace(':', "").bytes().all(|c| c.is_ascii_digit()),
        "{out}"
    );
    p.down_leaves_nothing(&compose);
}

/// `logs -f` of a service that prints its last lines as it exits shows them before Compose's
/// `exited with code` (which follows the `die` event), as with dockerd: the exit waits for the
/// followers to pass the lines on. Three rounds (the race lost most rounds before).
#[test]
fn compose_logs_follow_gets_the_last_lines_before_the_exit() {
    skip_unless_ready!("compose_logs_follow_gets_the_last_lines_before_the_exit");
    let Some(compose) = Project::v2("compose_logs_follow_gets_the_last_lines_before_the_exit")
    else {
        return;
    };
    let t = Net::start(15);
    let p = Project::new(
        &t,
        "blogs",
        r#"services:
  job:
    image: bb:1
    command: ["sh", "-c", "sleep 1; echo one; echo two; echo LAST; exit 3"]
"#,
    );
    for _ in 0..3 {
        p.ok(&compose, &["up", "-d"]);
        let out = p.ok(&compose, &["logs", "-f", "job"]);
        let last = out
            .find("LAST")
            .unwrap_or_else(|| panic!("no last line: {out}"));
        let exited = out
            .find("exited with code 3")
            .unwrap_or_else(|| panic!("no exit: {out}"));
        assert!(last < exited, "the exit came before the last lines: {out}");
        p.ok(&compose, &["rm", "-s", "-f"]);
    }
    p.down_leaves_nothing(&compose);
}
