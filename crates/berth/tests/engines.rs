//! The berth CLI against real Engine API servers: berthd and, as the
//! reference, a private dockerd (each with its own data root, exec root,
//! socket and pidfile; stopped by pid afterwards). The same verbs are run
//! against both: what works against the reference implementation must work
//! against berthd.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

#[path = "../../berthd/tests/common/registry.rs"]
mod registry;

use common::{busybox_tar, show, skip_reason, text, Engine};
use registry::Registry;

/// Run `verbs` against a private dockerd (`dockerd`) or berthd of its own, unless the machine
/// lacks what that needs.
fn against(dockerd: bool, verbs: impl FnOnce(&Engine, &Path)) {
    if let Some(why) = skip_reason(dockerd) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-cli-")
        .tempdir()
        .unwrap();
    let d = if dockerd {
        Engine::dockerd(tmp.path())
    } else {
        Engine::berthd(tmp.path())
    };
    verbs(&d, tmp.path());
}

#[test]
fn everyday_verbs_against_dockerd() {
    against(true, everyday_verbs);
}

#[test]
fn everyday_verbs_against_berthd() {
    against(false, everyday_verbs);
}

#[test]
fn run_options_against_dockerd() {
    against(true, run_options);
}

#[test]
fn run_options_against_berthd() {
    against(false, run_options);
}

/// docker run's everyday options through `berth create`/`run`: what inspect shows and what the
/// container sees; then `create` + `start` + `wait`, `attach`, `--cidfile`, `--pull never`.
fn run_options(d: &Engine, dir: &Path) {
    let tar = busybox_tar(dir);
    assert!(d
        .berth(&["import", tar.to_str().unwrap(), "cli-opts:v1"])
        .status
        .success());
    let env_file = dir.join("app.env");
    std::fs::write(&env_file, "# settings\nFROM_FILE=yes\n\n  SPACED=a b\n").unwrap();
    let label_file = dir.join("app.labels");
    std::fs::write(&label_file, "tier=web\nowner=ops\n").unwrap();
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("f"), "from the host\n").unwrap();
    let bind = format!("type=bind,src={},dst=/host,ro", shared.display());
    let common: Vec<&str> = vec![
        "--network",
        "none",
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "--pids-limit",
        "50",
        "--read-only",
        "--tmpfs",
        "/run2:size=2m",
        "--mount",
        "type=tmpfs,dst=/scratch,tmpfs-size=1m",
        "--mount",
        &bind,
        "--add-host",
        "db:10.1.2.3",
        "--dns",
        "10.0.0.53",
        "--dns-search",
        "example.test",
        "--env-file",
        env_file.to_str().unwrap(),
        "--label-file",
        label_file.to_str().unwrap(),
        "-l",
        "owner=dev",
        "--ulimit",
        "nofile=512:1024",
        "--sysctl",
        "kernel.shm_rmid_forced=1",
        "-h",
        "box",
    ];

    // What the daemon keeps.
    let mut args = vec!["create", "--name", "cli-opts"];
    args.extend(&common);
    args.extend([
        "--restart",
        "on-failure:2",
        "--cpus",
        "0.5",
        "--health-cmd",
        "true",
        "--health-interval",
        "1m30s",
        "--health-retries",
        "2",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "7",
        "--init",
        "cli-opts:v1",
        "true",
    ]);
    let o = d.berth(&args);
    assert!(
        o.status.success() && text(&o).trim().len() == 64,
        "{}",
        show(&o)
    );
    let o = d.berth(&["inspect", "cli-opts"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (hc, cfg) = (&v[0]["HostConfig"], &v[0]["Config"]);
    assert_eq!(hc["Memory"], 64 << 20);
    assert_eq!(hc["MemoryReservation"], 32 << 20);
    assert_eq!(hc["NanoCpus"], 500_000_000);
    assert_eq!(hc["PidsLimit"], 50);
    assert_eq!(
        hc["RestartPolicy"],
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2})
    );
    assert_eq!(hc["ReadonlyRootfs"], true);
    assert_eq!(hc["Init"], true);
    assert_eq!(hc["Tmpfs"], serde_json::json!({"/run2": "size=2m"}));
    assert_eq!(
        hc["Mounts"][0],
        serde_json::json!({"Type": "tmpfs", "Target": "/scratch",
                           "TmpfsOptions": {"SizeBytes": 1 << 20}})
    );
    assert_eq!(hc["Mounts"][1]["ReadOnly"], true);
    assert_eq!(hc["ExtraHosts"], serde_json::json!(["db:10.1.2.3"]));
    assert_eq!(hc["Dns"], serde_json::json!(["10.0.0.53"]));
    assert_eq!(hc["DnsSearch"], serde_json::json!(["example.test"]));
    assert_eq!(
        hc["Ulimits"],
        serde_json::json!([{"Name": "nofile", "Soft": 512, "Hard": 1024}])
    );
    assert_eq!(
        hc["Sysctls"],
        serde_json::json!({"kernel.shm_rmid_forced": "1"})
    );
    assert_eq!(
        cfg["Labels"],
        serde_json::json!({"tier": "web", "owner": "dev"})
    );
    let env: Vec<&str> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(
        env.contains(&"FROM_FILE=yes") && env.contains(&"SPACED=a b"),
        "{env:?}"
    );
    assert_eq!(
        cfg["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000i64,
                           "Retries": 2})
    );
    assert_eq!(cfg["StopSignal"], "SIGUSR1");
    assert_eq!(cfg["StopTimeout"], 7);
    assert_eq!(cfg["Hostname"], "box");
    assert!(d.berth(&["rm", "cli-opts"]).status.success());

    // What the container sees.
    let mut args = vec!["run", "--rm"];
    args.extend(&common);
    args.extend([
        "cli-opts:v1",
        "sh",
        "-c",
        "b=busybox; $b grep db /etc/hosts; $b grep nameserver /etc/resolv.conf; \
         ulimit -n; ulimit -Hn; $b grep -E ' /(scratch|run2) ' /proc/mounts | $b cut -d' ' -f1-3; \
         cat /proc/sys/kernel/shm_rmid_forced; $b hostname; echo $FROM_FILE; cat /host/f; \
         touch /x 2>/dev/null || echo read-only",
    ]);
    let o = d.berth(&args);
    let out = text(&o);
    assert!(o.status.success(), "{}", show(&o));
    let mut lines: Vec<&str> = out.lines().collect();
    // The two tmpfs lines come in the daemon's mount order.
    lines[4..6].sort();
    assert_eq!(
        lines,
        [
            "10.1.2.3\tdb",
            "nameserver 10.0.0.53",
            "512",
            "1024",
            "tmpfs /run2 tmpfs",
            "tmpfs /scratch tmpfs",
            "1",
            "box",
            "yes",
            "from the host",
            "read-only",
        ],
        "{}",
        show(&o)
    );

    // create, start, wait.
    let o = d.berth(&[
        "create",
        "--name",
        "cli-exit",
        "--network",
        "none",
        "cli-opts:v1",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(d.berth(&["start", "cli-exit"]).status.success());
    let o = d.berth(&["wait", "cli-exit"]);
    assert_eq!(
        (o.status.code(), text(&o).as_str()),
        (Some(0), "7\n"),
        "{}",
        show(&o)
    );
    let o = d.berth(&["wait", "cli-no-such"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(d.berth(&["rm", "cli-exit"]).status.success());

    // attach: our stdin to a waiting container, its output back, its exit code ours.
    let o = d.berth(&[
        "create",
        "-i",
        "--name",
        "cli-att",
        "--network",
        "none",
        "cli-opts:v1",
        "sh",
        "-c",
        "read x; echo got $x; exit 5",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(d.berth(&["start", "cli-att"]).status.success());
    let o = d.berth_stdin(&["attach", "cli-att"], b"hello\n");
    assert_eq!(
        (o.status.code(), text(&o).as_str()),
        (Some(5), "got hello\n"),
        "{}",
        show(&o)
    );
    assert!(d.berth(&["rm", "cli-att"]).status.success());

    // --cidfile gets the id; a second container with the same file is refused.
    let cid = dir.join("cid");
    let cid_s = cid.to_str().unwrap();
    let o = d.berth(&["create", "--cidfile", cid_s, "cli-opts:v1", "true"]);
    assert!(o.status.success(), "{}", show(&o));
    let id = text(&o);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim());
    let o = d.berth(&["create", "--cidfile", cid_s, "cli-opts:v1", "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("container ID file found"),
        "{}",
        show(&o)
    );
    assert!(d.berth(&["rm", id.trim()]).status.success());

    // Refusals before the daemon is asked: docker's words, exit 125; --pull never does not pull.
    for (args, words) in [
        (
            &["run", "--rm", "-m", "10x", "cli-opts:v1"][..],
            "invalid argument \"10x\" for \"-m, --memory\" flag: invalid suffix: 'x'",
        ),
        (
            &["create", "--restart", "always", "--rm", "cli-opts:v1"][..],
            "conflicting options: cannot specify both --restart and --rm",
        ),
        (
            &["run", "--pull", "never", "cli-opts:missing"][..],
            "No such image: cli-opts:missing",
        ),
    ] {
        let o = d.berth(args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", show(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(words),
            "{args:?}: {}",
            show(&o)
        );
    }
    assert!(d.berth(&["ps", "-aq"]).stdout.is_empty());
}

/// login, push and pull (with progress) through a local registry.
#[test]
fn login_push_pull_against_berthd() {
    if let Some(why) = skip_reason(false) {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-cli-")
        .tempdir()
        .unwrap();
    let Some(reg) = Registry::start(tmp.path(), true) else {
        eprintln!("skipped: docker-registry or htpasswd (apache2-utils) is missing");
        return;
    };
    let d = Engine::berthd(tmp.path());
    let tar = busybox_tar(tmp.path());
    assert!(d
        .berth(&["import", tar.to_str().unwrap(), "cli-reg:v1"])
        .status
        .success());
    let name = format!("{}/cli/bb:v1", reg.host);
    assert!(d.berth(&["tag", "cli-reg:v1", &name]).status.success());
    let o = d.berth(&["push", &name]);
    assert!(
        !o.status.success(),
        "push without login must fail: {}",
        show(&o)
    );
    let o = d.berth_stdin(
        &["login", "-u", "u", "--password-stdin", &reg.host],
        b"wrong\n",
    );
    assert!(
        !o.status.success(),
        "a bad password is refused: {}",
        show(&o)
    );
    let o = d.berth_stdin(&["login", "-u", "u", "--password-stdin", &reg.host], b"p\n");
    assert!(o.status.success(), "{}", show(&o));
    let o = d.berth(&["push", &name]);
    assert!(
        o.status.success() && text(&o).contains("v1: digest: sha256:"),
        "{}",
        show(&o)
    );
    assert!(d.berth(&["rmi", &name]).status.success());
    assert!(d.berth(&["rmi", "cli-reg:v1"]).status.success());
    let o = d.berth(&["pull", &name]);
    assert!(
        o.status.success() && text(&o).contains("Downloaded newer image"),
        "{}",
        show(&o)
    );
    let o = d.berth(&["run", "--rm", "--network", "none", &name, "echo", "pulled"]);
    assert_eq!(text(&o), "pulled\n", "{}", show(&o));
    // -q: only the reference, as docker prints it; the same through `image pull`/`image push`.
    let o = d.berth(&["image", "push", "-q", &name]);
    assert_eq!(text(&o), format!("{name}\n"), "{}", show(&o));
    assert!(d.berth(&["image", "rm", &name]).status.success());
    let o = d.berth(&["image", "pull", "-q", &name]);
    assert_eq!(text(&o), format!("{name}\n"), "{}", show(&o));

    // run pulls a missing image, and with --pull always any image, showing the progress on
    // stderr as docker does: stdout keeps only the container's output.
    assert!(d.berth(&["rmi", &name]).status.success());
    let o = d.berth(&["run", "--rm", "--network", "none", &name, "echo", "missing"]);
    assert_eq!(text(&o), "missing\n", "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Unable to find image"),
        "{}",
        show(&o)
    );
    let o = d.berth(&[
        "run",
        "--pull",
        "always",
        "--rm",
        "--network",
        "none",
        &name,
        "echo",
        "always",
    ]);
    assert_eq!(text(&o), "always\n", "{}", show(&o));
    assert!(!o.stderr.is_empty(), "{}", show(&o));
    let o = d.berth(&[
        "run",
        "--pull",
        "never",
        "--rm",
        "--network",
        "none",
        "cli-reg:none",
    ]);
    assert_eq!(o.status.code(), Some(125), "{}", show(&o));
    let o = d.berth(&[
        "run",
        "-q",
        "--pull",
        "always",
        "--rm",
        "--network",
        "none",
        &name,
        "echo",
        "quiet",
    ]);
    assert_eq!(
        (text(&o).as_str(), o.stderr.is_empty()),
        ("quiet\n", true),
        "{}",
        show(&o)
    );

    // The saved credentials are the owner's alone; logout forgets them, and a push then fails.
    let cfg = d.dir.join("client/config.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cfg).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let o = d.berth(&["logout", &reg.host]);
    assert_eq!(
        text(&o),
        format!("Removing login credentials for {}\n", reg.host),
        "{}",
        show(&o)
    );
    assert!(!std::fs::read_to_string(&cfg).unwrap().contains(&reg.host));
    assert!(!d.berth(&["push", &name]).status.success());
}

fn everyday_verbs(d: &Engine, dir: &Path) {
    let tar = busybox_tar(dir);
    let tmp = dir;

    let o = d.berth(&["import", tar.to_str().unwrap(), "cli-test:v1"]);
    assert!(
        o.status.success() && text(&o).starts_with("sha256:"),
        "{}",
        show(&o)
    );
    let o = d.berth(&["images"]);
    assert!(
        text(&o).contains("cli-test") && text(&o).contains("v1"),
        "{}",
        show(&o)
    );

    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "cli-test:v1",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert_eq!(text(&o), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");

    let o = d.berth_stdin(
        &[
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "cli-test:v1",
            "cat",
        ],
        b"piped in\n",
    );
    assert_eq!(text(&o), "piped in\n", "{}", show(&o));

    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "cli-d",
        "--network",
        "none",
        "cli-test:v1",
        "sh",
        "-c",
        "echo started; sleep 60",
    ]);
    assert!(
        o.status.success() && text(&o).trim().len() == 64,
        "{}",
        show(&o)
    );
    let o = d.berth(&["ps"]);
    assert!(
        text(&o).contains("cli-d") && text(&o).contains("Up"),
        "{}",
        show(&o)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&d.berth(&["logs", "cli-d"])).contains("started") {
        assert!(Instant::now() < deadline, "no logs");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = d.berth(&["exec", "cli-d", "sh", "-c", "echo in-exec; exit 4"]);
    assert_eq!(
        (o.status.code(), text(&o).as_str()),
        (Some(4), "in-exec\n"),
        "{}",
        show(&o)
    );
    let o = d.berth(&["stop", "-t", "1", "cli-d"]);
    assert_eq!(text(&o), "cli-d\n", "{}", show(&o));
    let o = d.berth(&["ps", "-a", "--filter", "status=exited", "-q"]);
    assert_eq!(text(&o).lines().count(), 1, "{}", show(&o));
    let o = d.berth(&["inspect", "cli-d"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["State"]["Status"], "exited");
    assert!(d.berth(&["rm", "cli-d"]).status.success());

    // Images: tag, save, rmi, load round trip.
    assert!(d
        .berth(&["tag", "cli-test:v1", "cli-test:v2"])
        .status
        .success());
    let saved = tmp.join("saved.tar");
    let o = d.berth(&["save", "-o", saved.to_str().unwrap(), "cli-test:v2"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = d.berth(&["rmi", "cli-test:v2"]);
    assert!(text(&o).contains("Untagged: cli-test:v2"), "{}", show(&o));
    let o = d.berth(&["load", "-i", saved.to_str().unwrap()]);
    assert!(text(&o).contains("cli-test:v2"), "{}", show(&o));

    // Errors name the thing and use docker's exit codes.
    let o = d.berth(&["stop", "no-such-container"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("No such container: no-such-container"),
        "{}",
        show(&o)
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "80/foo",
        "cli-test:v1",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{}", show(&o));
    // A program the runtime cannot start: 127 when it is missing, 126 when it is not executable.
    for (program, code) in [("no-such-program", 127), ("/etc", 126)] {
        let o = d.berth(&["run", "--rm", "--network", "none", "cli-test:v1", program]);
        assert_eq!(o.status.code(), Some(code), "{program}: {}", show(&o));
    }
}

/// `berth build`: tags, build args, another Dockerfile name, .dockerignore, -q, and a failing RUN's
/// message; the same against dockerd's classic builder and berthd.
fn build_verbs(e: &Engine, dir: &Path) {
    let tar = busybox_tar(dir);
    assert!(e
        .berth(&["import", tar.to_str().unwrap(), "bb:build"])
        .status
        .success());
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Build.file"),
        "FROM bb:build\nARG WHO=nobody\nCOPY . /ctx/\nRUN echo \"hi $WHO\" > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.join("keep.txt"), "k").unwrap();
    std::fs::write(ctx.join("skip.txt"), "s").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "skip.txt\n").unwrap();
    let c = ctx.to_str().unwrap();
    let df = ctx.join("Build.file");
    let o = e.berth(&[
        "build",
        "-t",
        "cli-built:1",
        "-t",
        "cli-built:2",
        "-f",
        df.to_str().unwrap(),
        "--build-arg",
        "WHO=berth",
        "--network",
        "none",
        c,
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{:?} {out}", o.status);
    assert!(
        out.contains("Step 4/5 : RUN echo") && out.contains("Successfully tagged cli-built:2"),
        "{out}"
    );
    let run = |args: &[&str]| String::from_utf8_lossy(&e.berth(args).stdout).into_owned();
    assert_eq!(
        run(&["run", "--rm", "--network", "none", "cli-built:1"]),
        "hi berth\n"
    );
    let ls = run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "cli-built:2",
        "sh",
        "-c",
        "echo /ctx/*",
    ]);
    assert!(ls.contains("keep.txt") && !ls.contains("skip.txt"), "{ls}");
    let o = e.berth(&[
        "build",
        "-q",
        "-f",
        df.to_str().unwrap(),
        "--network",
        "none",
        c,
    ]);
    let id = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success() && id.trim().starts_with("sha256:") && id.lines().count() == 1,
        "{id}"
    );
    // --iidfile: the same ID in a file, from a build that prints its steps.
    let iid = dir.join("iid");
    let o = e.berth(&[
        "image",
        "build",
        "--iidfile",
        iid.to_str().unwrap(),
        "-m",
        "256m",
        "-f",
        df.to_str().unwrap(),
        "--network",
        "none",
        c,
    ]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id.trim());
    std::fs::write(ctx.join("Dockerfile"), "FROM bb:build\nRUN exit 7\n").unwrap();
    let o = e.berth(&["build", "--network", "none", c]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("The command '/bin/sh -c exit 7' returned a non-zero code: 7"),
        "{err}"
    );
}

#[test]
fn build_against_dockerd() {
    against(true, build_verbs);
}

#[test]
fn build_against_berthd() {
    against(false, build_verbs);
}

#[test]
fn management_verbs_against_dockerd() {
    against(true, |d, dir| management_verbs(d, dir, "10.231.1"));
}

#[test]
fn management_verbs_against_berthd() {
    against(false, |d, dir| management_verbs(d, dir, "10.231.2"));
}

/// Networks, volumes and the verbs beyond the everyday ones (pause, rename, top, diff, cp, commit,
/// history, export, stats, events, the prunes), the same against dockerd and berthd. `net` is the
/// first three octets of the test's private subnets.
fn management_verbs(d: &Engine, dir: &Path, net: &str) {
    let ok = |args: &[&str]| {
        let o = d.berth(args);
        assert!(o.status.success(), "berth {args:?}: {}", show(&o));
        text(&o)
    };
    let tar = busybox_tar(dir);
    ok(&["import", tar.to_str().unwrap(), "cli-mgmt:v1"]);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;

    // Volumes and networks.
    assert_eq!(
        ok(&["volume", "create", "--label", "k=v", "mvol"]),
        "mvol\n"
    );
    assert!(ok(&["volume", "ls", "-q"]).lines().any(|l| l == "mvol"));
    let v: serde_json::Value = serde_json::from_str(&ok(&["volume", "inspect", "mvol"])).unwrap();
    assert_eq!(v[0]["Labels"]["k"], "v");
    let subnet = format!("{net}.0/24");
    let id = ok(&["network", "create", "--subnet", &subnet, "mnet"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let ls = ok(&["network", "ls"]);
    assert!(
        ls.starts_with("NETWORK ID     NAME ") && ls.contains(" mnet "),
        "{ls}"
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&["network", "inspect", "mnet"])).unwrap();
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], subnet.as_str());

    // A container on both, then what the container verbs show of it.
    ok(&[
        "run",
        "-d",
        "--name",
        "m1",
        "--network",
        "mnet",
        "-v",
        "mvol:/data",
        "cli-mgmt:v1",
        "sh",
        "-c",
        "mkdir /made; echo hi > /data/f; exec sleep 60",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.berth(&["exec", "m1", "cat", "/data/f"]).status.success() {
        assert!(Instant::now() < deadline, "the container did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok(&["top", "m1"]).contains("sleep 60"));
    assert_eq!(ok(&["pause", "m1"]), "m1\n");
    let v: serde_json::Value = serde_json::from_str(&ok(&["inspect", "m1"])).unwrap();
    assert_eq!(v[0]["State"]["Paused"], true);
    assert_eq!(ok(&["unpause", "m1"]), "m1\n");
    ok(&["rename", "m1", "m2"]);
    assert!(ok(&["ps"]).contains(" m2\n"));
    assert!(ok(&["diff", "m2"]).lines().any(|l| l == "A /made"));
    let st = ok(&["stats", "--no-stream", "m2"]);
    assert!(
        st.starts_with("CONTAINER ID") && st.contains(" m2 "),
        "{st}"
    );

    // A second network, connected live with an alias, then let go.
    ok(&[
        "network",
        "create",
        "--subnet",
        &format!("{net}0.0/24"),
        "mnet2",
    ]);
    ok(&["network", "connect", "--alias", "other", "mnet2", "m2"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&["inspect", "m2"])).unwrap();
    let ep = &v[0]["NetworkSettings"]["Networks"]["mnet2"];
    assert!(ep["IPAddress"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{net}0.")));
    assert!(ep["Aliases"].to_string().contains("other"), "{ep}");
    ok(&["network", "disconnect", "mnet2", "m2"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&["inspect", "m2"])).unwrap();
    assert!(v[0]["NetworkSettings"]["Networks"]["mnet2"].is_null());

    // cp both ways: into a directory, renamed, a directory's content, and as a tar.
    let host = dir.join("cp");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("one.txt"), "one\n").unwrap();
    std::fs::write(host.join("tree/sub/two.txt"), "two\n").unwrap();
    let h = |p: &str| host.join(p).to_str().unwrap().to_string();
    ok(&["cp", &h("one.txt"), "m2:/data/"]);
    ok(&["cp", &h("one.txt"), "m2:/renamed.txt"]);
    ok(&["cp", &h("tree"), "m2:/tree"]);
    assert_eq!(ok(&["exec", "m2", "cat", "/data/one.txt"]), "one\n");
    assert_eq!(ok(&["exec", "m2", "cat", "/renamed.txt"]), "one\n");
    assert_eq!(ok(&["exec", "m2", "cat", "/tree/sub/two.txt"]), "two\n");
    ok(&["cp", "m2:/tree", &h("back")]);
    ok(&["cp", "m2:/data/f", &h("f-copy")]);
    ok(&["cp", "m2:/tree/.", &h("content")]);
    assert_eq!(
        std::fs::read_to_string(host.join("back/sub/two.txt")).unwrap(),
        "two\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("f-copy")).unwrap(),
        "hi\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("content/sub/two.txt")).unwrap(),
        "two\n"
    );
    let o = d.berth(&["cp", "m2:/etc/passwd", "-"]);
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["passwd"]);
    let o = d.berth(&["cp", "m2:/no/such", &h("x")]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));

    // commit, history, export.
    let img = ok(&[
        "commit",
        "-m",
        "made by the test",
        "m2",
        "cli-mgmt:committed",
    ]);
    assert!(img.starts_with("sha256:"), "{img}");
    let hist = ok(&["history", "cli-mgmt:committed"]);
    assert!(
        hist.starts_with("IMAGE ")
            && hist.contains("made by the test")
            && hist.contains("sh -c mkdir /made;"),
        "{hist}"
    );
    // The imported base is a local parent: its ID, not <missing>.
    let ids = ok(&["history", "-q", "cli-mgmt:committed"]);
    assert!(
        ids.lines().count() == 2 && !ids.contains("<missing>"),
        "{ids}"
    );
    let exported = dir.join("exported.tar");
    ok(&["export", "-o", exported.to_str().unwrap(), "m2"]);
    let f = std::fs::File::open(&exported).unwrap();
    assert!(tar::Archive::new(f)
        .entries()
        .unwrap()
        .any(|e| e.unwrap().path().unwrap().to_str() == Some("made/")));

    // events: the pause and the rename seen since the test began.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let until = until.to_string();
    let ev = ok(&[
        "events",
        "--since",
        &start.to_string(),
        "--until",
        &until,
        "--filter",
        "type=container",
    ]);
    assert!(
        ev.lines()
            .any(|l| l.contains(" container pause ") && l.contains("name=m1")),
        "{ev}"
    );
    assert!(ev.contains(" container rename "), "{ev}");

    // Removal and the prunes.
    ok(&["rm", "-f", "m2"]);
    assert_eq!(ok(&["network", "rm", "mnet", "mnet2"]), "mnet\nmnet2\n");
    assert_eq!(ok(&["volume", "rm", "mvol"]), "mvol\n");
    ok(&[
        "run",
        "--name",
        "stopped",
        "--network",
        "none",
        "cli-mgmt:v1",
        "true",
    ]);
    let stopped = ok(&["inspect", "stopped"]);
    let stopped: serde_json::Value = serde_json::from_str(&stopped).unwrap();
    let out = ok(&["container", "prune", "-f"]);
    assert!(
        out.starts_with("Deleted Containers:\n")
            && out.contains(stopped[0]["Id"].as_str().unwrap())
            && out.contains("Total reclaimed space:"),
        "{out}"
    );
    ok(&[
        "network",
        "create",
        "--subnet",
        &format!("{net}1.0/24"),
        "unused",
    ]);
    assert_eq!(
        ok(&["network", "prune", "-f"]),
        "Deleted Networks:\nunused\n"
    );
    ok(&["volume", "create", "leftover"]);
    let out = ok(&["volume", "prune", "-f", "-a"]);
    assert!(out.contains("leftover\n"), "{out}");
    let out = ok(&["image", "prune", "-a", "-f"]);
    assert!(
        out.contains("untagged: cli-mgmt:committed") && out.contains("untagged: cli-mgmt:v1"),
        "{out}"
    );
    assert_eq!(ok(&["images", "-q"]), "");
    let df = ok(&["system", "df"]);
    assert!(
        df.starts_with("TYPE ") && df.contains("\nContainers      0 "),
        "{df}"
    );
    // A missing network or volume is an error that names it.
    let o = d.berth(&["network", "rm", "no-such-net"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no-such-net"),
        "{}",
        show(&o)
    );
}

#[test]
fn group_verbs_against_dockerd() {
    against(true, group_verbs);
}

#[test]
fn group_verbs_against_berthd() {
    against(false, group_verbs);
}

/// docker's `container` and `image` groups, `update`, and the `--format`/`--type` flags of `ps`
/// and `inspect`: what berth prints, and where the stock docker CLI is here, that it prints the
/// same as docker does against the same engine.
fn group_verbs(d: &Engine, dir: &Path) {
    let ok = |args: &[&str]| {
        let o = d.berth(args);
        assert!(o.status.success(), "berth {args:?}: {}", show(&o));
        text(&o)
    };
    // The same output and exit code from berth and the docker CLI.
    let same = |args: &[&str]| {
        let b = d.berth(args);
        if common::docker_cli().is_some() {
            let k = d.docker(args);
            assert_eq!(
                (text(&b), b.status.code()),
                (text(&k), k.status.code()),
                "berth and docker differ on {args:?}:\nberth {}\ndocker {}",
                show(&b),
                show(&k)
            );
        }
        b
    };
    let tar = busybox_tar(dir);
    let id = ok(&["image", "import", tar.to_str().unwrap(), "cli-groups:v1"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert!(ok(&["image", "ls"]).contains("cli-groups "));
    let v = same(&["version", "--format", "{{.Server.Version}} {{.Server.Os}}"]);
    assert!(text(&v).ends_with(" linux\n"), "{}", show(&v));
    same(&[
        "info",
        "-f",
        "{{.ServerVersion}} {{.Images}} {{json .Runtimes}}",
    ]);
    assert_eq!(ok(&["image", "list", "-q"]).trim(), &id.trim()[7..19]);
    let img = text(&same(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        "cli-groups:v1",
    ]));
    assert_eq!(img, id);
    assert_eq!(
        ok(&[
            "inspect",
            "--type",
            "image",
            "-f",
            "{{.Id}}",
            "cli-groups:v1"
        ]),
        id
    );
    let o = same(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}}",
    ]);
    assert_eq!(
        text(&o),
        format!("cli-groups:v1 {} <none>\n", &id.trim()[7..19])
    );
    same(&[
        "images",
        "--format",
        "table {{.Repository}}\t{{.Tag}}\t{{.Size}}",
    ]);
    same(&[
        "network",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}} {{.Internal}}",
    ]);
    ok(&["volume", "create", "--label", "k=v", "gvol"]);
    let o = same(&[
        "volume",
        "ls",
        "--format",
        "table {{.Name}}\t{{.Label \"k\"}}\t{{.Driver}}",
    ]);
    assert_eq!(
        text(&o),
        "VOLUME NAME   k         DRIVER\ngvol          v         local\n"
    );
    ok(&["volume", "rm", "gvol"]);
    ok(&["image", "tag", "cli-groups:v1", "cli-groups:v2"]);
    assert_eq!(
        ok(&["image", "rm", "cli-groups:v2"]),
        "Untagged: cli-groups:v2\n"
    );

    // A container made and driven through `container VERB`.
    let cid = ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "g1",
        "--network",
        "none",
        "-l",
        "tier=web",
        "cli-groups:v1",
        "sleep",
        "60",
    ]);
    assert_eq!(cid.trim().len(), 64, "{cid}");
    let ls = same(&[
        "container",
        "ls",
        "--format",
        "{{.Names}} {{.Label \"tier\"}} {{.Labels}} {{.State}} {{.Networks}}",
    ]);
    assert_eq!(text(&ls), "g1 web tier=web running none\n");
    let ls = same(&[
        "container",
        "ps",
        "-a",
        "--format",
        "table {{.ID}}\t{{.Names}}",
    ]);
    assert_eq!(
        text(&ls),
        format!("CONTAINER ID   NAMES\n{}   g1\n", &cid[..12])
    );
    assert_eq!(
        ok(&["container", "list", "-q", "--no-trunc"]).trim(),
        cid.trim()
    );
    let json = ok(&["container", "ls", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (&row["Names"], &row["Labels"], &row["State"]),
        (&"g1".into(), &"tier=web".into(), &"running".into())
    );
    let o = same(&[
        "container",
        "inspect",
        "-f",
        "{{.Name}} {{.State.Status}} {{.Config.Cmd}} {{index .Config.Labels \"tier\"}}",
        "g1",
    ]);
    assert_eq!(text(&o), "/g1 running [sleep 60] web\n");
    let v: serde_json::Value = serde_json::from_str(&ok(&["container", "inspect", "g1"])).unwrap();
    assert_eq!(v[0]["Id"], cid.trim());
    // Each group's inspect looks at its own kind only; --type does the same for inspect.
    for args in [
        &["container", "inspect", "cli-groups:v1"][..],
        &["image", "inspect", "g1"],
        &["inspect", "--type", "volume", "g1"],
    ] {
        let o = d.berth(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", show(&o));
        assert_eq!(text(&o), "[]\n", "{args:?}");
    }
    let o = same(&["inspect", "--type", "bogus", "g1"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("unknown type: \"bogus\""),
        "{}",
        show(&o)
    );

    // update: docker's output, the daemon's record, the cgroup.
    let o = same(&[
        "update",
        "-m",
        "48m",
        "--memory-swap",
        "96m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "40",
        "--restart",
        "on-failure:3",
        "g1",
    ]);
    assert_eq!(text(&o), "g1\n", "{}", show(&o));
    let o = same(&[
        "container",
        "update",
        "--memory-reservation",
        "16m",
        "-c",
        "512",
        "g1",
    ]);
    assert_eq!(text(&o), "g1\n", "{}", show(&o));
    assert_eq!(
        ok(&[
            "container",
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} \
             {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}} \
             {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "g1",
        ]),
        "50331648 100663296 16777216 500000000 512 40 on-failure:3\n"
    );
    assert_eq!(
        ok(&[
            "container",
            "exec",
            "g1",
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes"
        ]),
        "50331648\n"
    );
    let o = same(&["update", "-m", "64m", "g1", "no-such-ctr"]);
    assert_eq!(text(&o), "g1\n");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("No such container: no-such-ctr"),
        "{}",
        show(&o)
    );
    let o = same(&["update", "g1"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "you must provide one or more flags when using this command"
    );
    let o = d.berth(&["container", "update", "-m", "lots", "g1"]);
    assert_eq!(o.status.code(), Some(125), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr)
        .starts_with("invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"));

    // The rest of the container group.
    assert!(ok(&["container", "top", "g1"]).contains("sleep 60"));
    assert_eq!(ok(&["container", "pause", "g1"]), "g1\n");
    assert_eq!(
        ok(&["container", "inspect", "-f", "{{.State.Paused}}", "g1"]),
        "true\n"
    );
    assert_eq!(ok(&["container", "unpause", "g1"]), "g1\n");
    assert_eq!(
        ok(&[
            "container",
            "exec",
            "g1",
            "sh",
            "-c",
            "echo hi > /made; echo done"
        ]),
        "done\n"
    );
    assert!(ok(&["container", "diff", "g1"])
        .lines()
        .any(|l| l == "A /made"));
    let copied = dir.join("made");
    ok(&["container", "cp", "g1:/made", copied.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), "hi\n");
    assert!(ok(&["container", "stats", "--no-stream", "g1"]).contains(" g1 "));
    ok(&["container", "rename", "g1", "g2"]);
    let o = same(&["container", "rename", "no-such-ctr", "x"]);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("Error: failed to rename container named no-such-ctr"));
    assert_eq!(
        ok(&["container", "stop", "-s", "KILL", "--timeout", "5", "g2"]),
        "g2\n"
    );
    assert_eq!(ok(&["container", "start", "g2"]), "g2\n");
    assert_eq!(ok(&["container", "restart", "-t", "1", "g2"]), "g2\n");
    assert_eq!(ok(&["container", "kill", "g2"]), "g2\n");
    assert_eq!(ok(&["container", "wait", "g2"]), "137\n");
    let img = ok(&["container", "commit", "g2", "cli-groups:committed"]);
    assert!(img.starts_with("sha256:"), "{img}");
    assert_eq!(
        ok(&["image", "history", "-q", "cli-groups:committed"])
            .lines()
            .count(),
        2
    );
    let exported = dir.join("g2.tar");
    ok(&[
        "container",
        "export",
        "-o",
        exported.to_str().unwrap(),
        "g2",
    ]);
    assert!(std::fs::metadata(&exported).unwrap().len() > 0);
    let saved = dir.join("committed.tar");
    ok(&[
        "image",
        "save",
        "-o",
        saved.to_str().unwrap(),
        "cli-groups:committed",
    ]);
    assert!(
        ok(&["image", "remove", "cli-groups:committed"]).contains("Untagged: cli-groups:committed")
    );
    assert!(ok(&["image", "load", "-i", saved.to_str().unwrap()]).contains("cli-groups:committed"));
    assert_eq!(ok(&["container", "remove", "g2"]), "g2\n");

    // create + start + logs + attach-free wait, and the prunes.
    ok(&[
        "container",
        "create",
        "--name",
        "g3",
        "--network",
        "none",
        "cli-groups:v1",
        "echo",
        "from g3",
    ]);
    assert_eq!(ok(&["container", "start", "g3"]), "g3\n");
    assert_eq!(ok(&["container", "wait", "g3"]), "0\n");
    assert_eq!(ok(&["container", "logs", "g3"]), "from g3\n");
    let o = same(&[
        "container",
        "logs",
        "--since",
        "1h",
        "--until",
        "2099-01-01",
        "g3",
    ]);
    assert_eq!(text(&o), "from g3\n");
    let o = d.berth(&["container", "logs", "-t", "g3"]);
    let line = text(&o);
    assert!(
        line.starts_with("20") && line.contains("Z from g3"),
        "{}",
        show(&o)
    );
    // start -a: the container's output and exit code are ours.
    ok(&[
        "container",
        "create",
        "--name",
        "g4",
        "--network",
        "none",
        "cli-groups:v1",
        "sh",
        "-c",
        "echo attached; exit 3",
    ]);
    let o = d.berth(&["container", "start", "-a", "g4"]);
    assert_eq!(
        (o.status.code(), text(&o).as_str()),
        (Some(3), "attached\n"),
        "{}",
        show(&o)
    );
    let o = same(&["container", "start", "-a", "g3", "g4"]);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("you cannot start and attach multiple containers at once"));
    assert!(ok(&["container", "prune", "-f"]).contains("Deleted Containers:"));
    assert!(ok(&["image", "prune", "-a", "-f"]).contains("untagged: cli-groups:v1"));
    assert_eq!(ok(&["image", "ls", "-q"]), "");
    let o = same(&["system", "df"]);
    assert!(text(&o).starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"));
    same(&["system", "df", "--format", "json"]);
}

#[test]
fn plugin_verbs_against_dockerd() {
    against(true, plugin_verbs);
}

#[test]
fn plugin_verbs_against_berthd() {
    against(false, plugin_verbs);
}

/// `plugin create/ls/inspect/set/disable/rm` with a plugin made here (busybox that never serves
/// its socket, so it is never enabled) and `builder prune`, each as the docker CLI prints it.
fn plugin_verbs(d: &Engine, dir: &Path) {
    let same = |args: &[&str]| {
        let b = d.berth(args);
        if common::docker_cli().is_some() {
            let k = d.docker(args);
            assert_eq!(
                (text(&b), b.status.code()),
                (text(&k), k.status.code()),
                "berth and docker differ on {args:?}:\nberth {}\ndocker {}",
                show(&b),
                show(&k)
            );
        }
        b
    };
    let ctx = dir.join("plugin");
    let root = ctx.join("rootfs");
    for d in [
        "bin",
        "run/docker/plugins",
        "proc",
        "sys",
        "dev",
        "etc",
        "tmp",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sleep")).unwrap();
    std::fs::write(
        ctx.join("config.json"),
        r#"{"Description": "A berth CLI test plugin that never serves its socket at all",
            "Documentation": "https://example.invalid/p", "Entrypoint": ["/bin/sleep", "1000"],
            "Env": [{"Name": "DEBUG", "Settable": ["value"], "Value": "0"}],
            "Interface": {"Types": ["docker.volumedriver/1.0"], "Socket": "p.sock"},
            "Network": {"Type": "host"}}"#,
    )
    .unwrap();
    let o = d.berth(&["plugin", "create", "cliplug", ctx.to_str().unwrap()]);
    assert_eq!(text(&o), "cliplug\n", "{}", show(&o));
    let ls = text(&same(&["plugin", "ls"]));
    assert!(
        ls.starts_with("ID             NAME             DESCRIPTION ")
            && ls.contains(
                "   cliplug:latest   A berth CLI test plugin that never serves it…   false\n"
            ),
        "{ls}"
    );
    same(&["plugin", "ls", "--no-trunc"]);
    let id = text(&same(&["plugin", "list", "-q", "--no-trunc"]));
    assert_eq!(id.trim().len(), 64, "{id}");
    same(&["plugin", "ls", "--format", "{{.Name}} {{.Enabled}}"]);
    same(&["plugin", "ls", "--format", "json"]);
    let o = same(&[
        "plugin",
        "inspect",
        "-f",
        "{{.Name}} {{.Enabled}} {{.Settings.Env}}",
        "cliplug",
    ]);
    assert_eq!(text(&o), "cliplug:latest false [DEBUG=0]\n");
    same(&["plugin", "set", "cliplug", "DEBUG=1"]);
    let o = d.berth(&["plugin", "inspect", "-f", "{{.Settings.Env}}", "cliplug"]);
    assert_eq!(text(&o), "[DEBUG=1]\n");
    let o = d.berth(&["inspect", "--type", "plugin", "-f", "{{.Id}}", "cliplug"]);
    assert_eq!(text(&o), id);
    same(&["plugin", "disable", "cliplug"]);
    let o = d.berth(&["plugin", "rm", "cliplug"]);
    assert_eq!(text(&o), "cliplug\n", "{}", show(&o));
    assert_eq!(same(&["plugin", "rm", "cliplug"]).status.code(), Some(1));
    same(&["plugin", "ls", "-q"]);
    same(&["plugin", "inspect", "cliplug"]);
    let o = same(&["builder", "prune", "-f"]);
    assert!(
        text(&o).ends_with("Total reclaimed space: 0B\n"),
        "{}",
        show(&o)
    );
}
