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

/// `volumes_from:` gives the service the other one's named volume and bind mount at the same
/// places (what one writes the other reads), and Compose v1's `:ro` makes them read-only; `down -v`
/// takes the volume with the containers.
#[test]
fn compose_volumes_from_shares_the_mounts() {
    skip_unless_ready!("compose_volumes_from_shares_the_mounts");
    let Some(compose) = Project::v2("compose_volumes_from_shares_the_mounts") else {
        return;
    };
    let t = Net::start(16);
    let p = Project::new(
        &t,
        "bvolfrom",
        r#"services:
  writer:
    image: bb:1
    command: ["sh", "-c", "echo written > /data/w.txt; exec sleep 1000"]
    volumes: ["data:/data", "./conf:/conf:ro"]
  reader:
    image: bb:1
    command: ["sleep", "1000"]
    volumes_from: ["writer:ro"]
volumes:
  data:
"#,
    );
    std::fs::create_dir_all(p.dir.join("conf")).unwrap();
    std::fs::write(p.dir.join("conf/app.conf"), "key=value\n").unwrap();
    // A missing source is the request's fault (400, as dockerd), not a missing image to pull.
    let o =
        t.d.docker(&["create", "--volumes-from", "nosuch", "bb:1", "true"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("No such container: nosuch")
            && !err.contains("Unable to find image"),
        "{err}"
    );
    p.ok(&compose, &["up", "-d"]);
    let out = p.ok(
        &compose,
        &[
            "exec",
            "-T",
            "reader",
            "cat",
            "/data/w.txt",
            "/conf/app.conf",
        ],
    );
    assert_eq!(out, "written\nkey=value\n");
    // Compose v2 passes the container alone (no mode): the volume is shared both ways.
    p.ok(
        &compose,
        &[
            "exec",
            "-T",
            "reader",
            "sh",
            "-c",
            "echo back > /data/r.txt",
        ],
    );
    let out = p.ok(&compose, &["exec", "-T", "writer", "cat", "/data/r.txt"]);
    assert_eq!(out, "back\n");
    p.down_leaves_nothing(&compose);
    if let Some(v1) = compose_v1() {
        p.ok(&v1, &["up", "-d"]);
        let out = p.ok(&v1, &["exec", "-T", "reader", "cat", "/data/w.txt"]);
        assert_eq!(out.trim(), "written");
        let (wrote, out) = p.run(
            &v1,
            &["exec", "-T", "reader", "busybox", "touch", "/data/x"],
        );
        assert!(!wrote && out.contains("Read-only file system"), "{out}");
        p.down_leaves_nothing(&v1);
    }
}

/// A bind mount inside a volume's destination shows on top of the volume whatever order the
/// service lists them in (the mounts go on parents first, as dockerd sorts them).
#[test]
fn compose_nested_mounts_go_on_parents_first() {
    skip_unless_ready!("compose_nested_mounts_go_on_parents_first");
    let Some(compose) = Project::v2("compose_nested_mounts_go_on_parents_first") else {
        return;
    };
    let t = Net::start(17);
    let p = Project::new(
        &t,
        "bnested",
        r#"services:
  app:
    image: bb:1
    command: ["sleep", "1000"]
    tmpfs: ["/data/sub/scratch"]
    volumes:
      - ./sub:/data/sub
      - data:/data
volumes:
  data:
"#,
    );
    std::fs::create_dir_all(p.dir.join("sub")).unwrap();
    std::fs::write(p.dir.join("sub/s.txt"), "from the host\n").unwrap();
    p.ok(&compose, &["up", "-d"]);
    let out = p.ok(
        &compose,
        &[
            "exec",
            "-T",
            "app",
            "sh",
            "-c",
            "cat /data/sub/s.txt && grep -q ' /data/sub/scratch ' /proc/mounts && echo scratch",
        ],
    );
    assert_eq!(out, "from the host\nscratch\n");
    p.down_leaves_nothing(&compose);
}

/// `domainname:` reaches the container: `hostname -d` prints it and /etc/hosts names the
/// container `host.domain host`, as with dockerd.
#[test]
fn compose_domainname_reaches_the_container() {
    skip_unless_ready!("compose_domainname_reaches_the_container");
    let Some(compose) = Project::v2("compose_domainname_reaches_the_container") else {
        return;
    };
    let t = Net::start(18);
    let p = Project::new(
        &t,
        "bdomain",
        r#"services:
  app:
    image: bb:1
    command: ["sleep", "1000"]
    hostname: apphost
    domainname: example.test
"#,
    );
    p.ok(&compose, &["up", "-d"]);
    let out = p.ok(
        &compose,
        &[
            "exec",
            "-T",
            "app",
            "sh",
            "-c",
            "hostname; busybox hostname -d; cat /etc/hosts",
        ],
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("apphost"), "{out}");
    assert_eq!(lines.next(), Some("example.test"), "{out}");
    let own = format!("10.247.{}.", t.x);
    assert!(
        out.lines()
            .any(|l| l.starts_with(&own) && l.ends_with("\tapphost.example.test apphost")),
        "{out}"
    );
    p.down_leaves_nothing(&compose);
}

/// `images` shows when the service's image was last tagged (the harness imported it just now),
/// not Docker's zero time ("292 years ago").
#[test]
fn compose_images_shows_when_the_image_was_tagged() {
    skip_unless_ready!("compose_images_shows_when_the_image_was_tagged");
    let Some(compose) = Project::v2("compose_images_shows_when_the_image_was_tagged") else {
        return;
    };
    let t = Net::start(19);
    let p = Project::new(
        &t,
        "bimages",
        r#"services:
  app:
    image: bb:1
    command: ["sleep", "1000"]
"#,
    );
    p.ok(&compose, &["up", "-d"]);
    let out = p.ok(&compose, &["images"]);
    let row = out
        .lines()
        .find(|l| l.starts_with("bimages-app-1"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.ends_with(" ago") && !row.contains("years"), "{out}");
    let tagged = t.d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Metadata.LastTagTime}}",
        "bb:1",
    ]);
    assert!(!tagged.starts_with("0001-01-01"), "{tagged}");
    p.down_leaves_nothing(&compose);
}

/// `up` and `stop` show in `docker events` as the project network's `connect` and `disconnect`,
/// one per container, as dockerd reports them.
#[test]
fn compose_up_and_stop_report_network_events() {
    skip_unless_ready!("compose_up_and_stop_report_network_events");
    let Some(compose) = Project::v2("compose_up_and_stop_report_network_events") else {
        return;
    };
    let t = Net::start(20);
    let p = Project::new(
        &t,
        "bnetev",
        r#"services:
  a:
    image: bb:1
    command: ["sleep", "1000"]
  b:
    image: bb:1
    command: ["sleep", "1000"]
"#,
    );
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    p.ok(&compose, &["up", "-d"]);
    p.ok(&compose, &["stop", "-t", "0"]);
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let out = t.d.ok(&[
        "events",
        "--since",
        &start,
        "--until",
        &until,
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}",
    ]);
    let count = |what: &str| out.lines().filter(|l| *l == what).count();
    assert_eq!(count("create bnetev_default bridge"), 1, "{out}");
    assert_eq!(count("connect bnetev_default bridge"), 2, "{out}");
    assert_eq!(count("disconnect bnetev_default bridge"), 2, "{out}");
    p.down_leaves_nothing(&compose);
}

/// A service on runc (`runtime: runc`) takes `exec` and its health check as one on Berth's own
/// runtime does: `up --wait` sees it healthy and `exec` runs the command (runc took a `--` after
/// the container id for the command to run).
#[test]
fn compose_exec_and_health_checks_on_runc() {
    skip_unless_ready!("compose_exec_and_health_checks_on_runc");
    let Some(compose) = Project::v2("compose_exec_and_health_checks_on_runc") else {
        return;
    };
    let has_runc = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("runc").is_file()));
    if !has_runc {
        println!("skipped: compose_exec_and_health_checks_on_runc: no runc on PATH");
        return;
    }
    let t = Net::start(21);
    let p = Project::new(
        &t,
        "brunc",
        r#"services:
  app:
    image: bb:1
    runtime: runc
    command: ["sh", "-c", "touch /tmp/ready; exec sleep 1000"]
    healthcheck:
      test: ["CMD", "ls", "/tmp/ready"]
      interval: 1s
      retries: 30
"#,
    );
    p.ok(&compose, &["up", "-d", "--wait"]);
    let out = p.ok(&compose, &["ps", "--format", "{{.Health}}"]);
    assert_eq!(out.trim(), "healthy");
    let out = p.ok(
        &compose,
        &["exec", "-T", "app", "sh", "-c", "echo $((6 * 7))"],
    );
    assert_eq!(out, "42\n");
    let (ok, _) = p.run(&compose, &["exec", "-T", "app", "ls", "-d", "/nonexistent"]);
    assert!(!ok);
    p.down_leaves_nothing(&compose);
}

/// A service on two networks gets its default route from the one whose name sorts first (as
/// Docker picks the gateway), whichever order the file lists them in, and its interfaces follow
/// that order.
#[test]
fn compose_default_route_goes_to_the_first_network_by_name() {
    skip_unless_ready!("compose_default_route_goes_to_the_first_network_by_name");
    let Some(compose) = Project::v2("compose_default_route_goes_to_the_first_network_by_name")
    else {
        return;
    };
    let t = Net::start(22);
    let x = t.x;
    let p = Project::new(&t, "broute", "services: {}\n");
    // On two networks of its own (no default one): the file is written whole.
    std::fs::write(
        p.dir.join("docker-compose.yml"),
        format!(
            r#"services:
  app:
    image: bb:1
    command: ["sleep", "1000"]
    networks: [zeta, alpha]
networks:
  zeta:
    ipam:
      config:
        - subnet: 10.248.{x}.0/24
  alpha:
    ipam:
      config:
        - subnet: 10.249.{x}.0/24
"#
        ),
    )
    .unwrap();
    p.ok(&compose, &["up", "-d"]);
    let out = p.ok(&compose, &["exec", "-T", "app", "busybox", "ip", "route"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("default via 10.249.{x}.1 dev eth0"))),
        "{out}"
    );
    assert!(out.contains(&format!("10.248.{x}.0/24 dev eth1")), "{out}");
    p.down_leaves_nothing(&compose);
}

/// A published port that is taken fails the start with dockerd's words: `port is already
/// allocated` when another container has it, the proxy's `address already in use` when a host
/// process holds it.
#[test]
fn compose_taken_ports_fail_with_dockerd_messages() {
    skip_unless_ready!("compose_taken_ports_fail_with_dockerd_messages");
    let Some(compose) = Project::v2("compose_taken_ports_fail_with_dockerd_messages") else {
        return;
    };
    let t = Net::start(23);
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = Project::new(
        &t,
        "bports",
        &format!(
            r#"services:
  web:
    image: bb:1
    command: ["sleep", "1000"]
    ports: ["127.0.0.1:{free_port}:80"]
  clash:
    image: bb:1
    command: ["sleep", "1000"]
    ports: ["127.0.0.1:{held_port}:80"]
    profiles: [clash]
"#
        ),
    );
    p.ok(&compose, &["up", "-d", "web"]);
    let (ok, out) = p.run(
        &compose,
        &["run", "--rm", "-T", "--service-ports", "web", "true"],
    );
    assert!(!ok);
    assert!(
        out.contains("driver failed programming external connectivity on endpoint bports-web-run-")
            && out.contains(&format!(
                "Bind for 127.0.0.1:{free_port} failed: port is already allocated"
            )),
        "{out}"
    );
    let (ok, out) = p.run(&compose, &["--profile", "clash", "up", "-d", "clash"]);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "Error starting userland proxy: listen tcp4 127.0.0.1:{held_port}: bind: address already in use"
        )),
        "{out}"
    );
    drop(held);
    p.ok(
        &compose,
        &[
            "--profile",
            "clash",
            "down",
            "-v",
            "-t",
            "0",
            "--remove-orphans",
        ],
    );
    p.down_leaves_nothing(&compose);
}

/// `network_mode: bridge` puts the service on the default bridge and inspect shows the mode as
/// the file gave it (`bridge`), as dockerd does; `docker run` without one shows `default`.
#[test]
fn compose_network_mode_bridge_shows_as_given() {
    skip_unless_ready!("compose_network_mode_bridge_shows_as_given");
    let Some(compose) = Project::v2("compose_network_mode_bridge_shows_as_given") else {
        return;
    };
    let t = Net::start(24);
    let p = Project::new(
        &t,
        "bnetmode",
        r#"services:
  app:
    image: bb:1
    command: ["sleep", "1000"]
    network_mode: bridge
"#,
    );
    p.ok(&compose, &["up", "-d"]);
    let mode = t.d.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.NetworkMode}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
        "bnetmode-app-1",
    ]);
    assert_eq!(mode.trim(), "bridge bridge");
    // Its start shows as the default bridge's `connect` event.
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let events = t.d.ok(&[
        "events",
        "--since",
        "1",
        "--until",
        &until,
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}",
    ]);
    assert_eq!(events, "connect bridge bridge\n");
    t.d.ok(&["create", "--name", "plain", "bb:1", "true"]);
    let mode =
        t.d.ok(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", "plain"]);
    assert_eq!(mode.trim(), "default");
    t.d.ok(&["rm", "plain"]);
    p.down_leaves_nothing(&compose);
}

/// A service's `logging:` (driver and options) reaches the container with v2 and v1: each line goes
/// to the syslog endpoint the test listens on, tagged with the container's name, and `logs` still
/// reads the local copy.
#[test]
fn compose_logging_sends_to_syslog() {
    skip_unless_ready!("compose_logging_sends_to_syslog");
    let composes: Vec<PathBuf> = [compose_v2(), compose_v1()].into_iter().flatten().collect();
    if composes.is_empty() {
        println!("skipped: compose_logging_sends_to_syslog: no Compose v1 or v2");
        return;
    }
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let t = Net::start(25);
    let p = Project::new(
        &t,
        "blogging",
        &format!(
            r#"services:
  app:
    image: bb:1
    command: ["sh", "-c", "echo from-compose"]
    logging:
      driver: syslog
      options:
        syslog-address: "udp://{}"
        tag: "{{{{.Name}}}}"
"#,
            udp.local_addr().unwrap()
        ),
    );
    for compose in &composes {
        p.ok(compose, &["up", "-d"]);
        let mut buf = [0u8; 2048];
        let n = udp.recv(&mut buf).expect("a syslog message");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let name = t.d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
        let name = name.trim();
        assert!(msg.starts_with("<30>"), "{msg}");
        assert!(
            msg.contains(&format!(" {name}[")) && msg.ends_with("]: from-compose\n"),
            "{msg}"
        );
        assert_eq!(
            t.d.ok(&[
                "inspect",
                "--format",
                "{{.HostConfig.LogConfig.Type}}",
                name
            ])
            .trim(),
            "syslog"
        );
        let logs = p.ok(compose, &["logs", "--no-color", "app"]);
        assert!(logs.contains("from-compose"), "{logs}");
        p.down_leaves_nothing(compose);
    }
}
