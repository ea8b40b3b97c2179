//! Endpoints a non-swarm dockerd answers that clients probe: the swarm endpoints (503, as dockerd
//! outside a swarm) and `docker search` (a registry's v1 search API, here a fake index on loopback).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

#[test]
fn swarm_endpoints_answer_like_a_node_outside_a_swarm() {
    skip_unless_ready!("swarm_endpoints_answer_like_a_node_outside_a_swarm");
    let d = Berthd::start();
    for args in [&["node", "ls"][..], &["service", "ls"], &["secret", "ls"]] {
        let o = d.docker(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(
            err.contains("This node is not a swarm manager"),
            "{args:?}: {err}"
        );
    }
    let o = d.docker(&["swarm", "leave"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("This node is not part of a swarm"));
    let (st, body) = d.http("GET", "/v1.41/swarm", None);
    assert_eq!(st, 503, "{body}");
    assert!(body.contains("\"message\""), "{body}");
}

/// A v1 search index on loopback: answers `q=bb` with three repositories, anything else with 404.
fn fake_index() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let (status, body) = if first.starts_with("GET /v1/search?q=bb&") {
                (
                    "200 OK",
                    r#"{"num_results":3,"query":"bb","results":[
                    {"name":"bb","description":"the official one","star_count":900,"is_official":true,"is_automated":false},
                    {"name":"someone/bb","description":"a fork","star_count":12,"is_official":false,"is_automated":false},
                    {"name":"other/bb-tools","description":"tools","star_count":3,"is_official":false,"is_automated":true}]}"#,
                )
            } else {
                ("404 Not Found", r#"{"errors":[{"code":"NOT_FOUND"}]}"#)
            };
            let mut w = conn;
            let _ = write!(
                w,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn search_asks_the_registry_named_in_the_term() {
    skip_unless_ready!("search_asks_the_registry_named_in_the_term");
    let d = Berthd::start();
    let port = fake_index();
    let term = format!("127.0.0.1:{port}/bb");
    let out = d.ok(&[
        "search",
        "--format",
        "{{.Name}} {{.StarCount}} {{.IsOfficial}}",
        &term,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["bb 900 [OK]", "someone/bb 12 ", "other/bb-tools 3 "],
        "{out}"
    );
    let out = d.ok(&[
        "search",
        "--format",
        "{{.Name}}",
        "--filter",
        "is-official=true",
        &term,
    ]);
    assert_eq!(out.trim(), "bb");
    let out = d.ok(&[
        "search",
        "--format",
        "{{.Name}}",
        "--filter",
        "stars=10",
        &term,
    ]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = d.ok(&["search", "--format", "{{.Name}}", "--limit", "1", &term]);
    assert_eq!(out.trim(), "bb");
    // A registry without the search API: the client sees the registry's answer, not a 404 of ours.
    let o = d.docker(&["search", &format!("127.0.0.1:{port}/nothing")]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/v1/search") && err.contains("404"), "{err}");
}

fn repo_digests(d: &Berthd, image: &str) -> Vec<String> {
    let out = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        image,
    ]);
    serde_json::from_str(out.trim()).unwrap_or_default()
}

#[test]
fn pull_and_push_record_repo_digests() {
    skip_unless_ready!("pull_and_push_record_repo_digests");
    let d = Berthd::start();
    let Some(reg) = Registry::start(d.dir.path(), false) else {
        println!("skipped: pull_and_push_record_repo_digests: docker-registry is missing");
        return;
    };
    d.import_busybox("bb:1");
    let name = format!("{}/bb:1", reg.host);
    d.ok(&["tag", "bb:1", &name]);
    let pushed = d.ok(&["push", &name]);
    let digest = pushed
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {pushed}"))
        .to_string();
    let by_digest = format!("{}/bb@{digest}", reg.host);
    assert_eq!(repo_digests(&d, "bb:1"), vec![by_digest.clone()]);
    // The last tag of the repository goes: its digest name with it, as dockerd does.
    let out = d.ok(&["rmi", &name]);
    assert!(out.contains(&format!("Untagged: {by_digest}")), "{out}");
    assert!(repo_digests(&d, "bb:1").is_empty());
    // Pulled again while present under another name: the digest is recorded again.
    d.ok(&["pull", &name]);
    assert_eq!(repo_digests(&d, &name), vec![by_digest.clone()]);
    let listed = d.ok(&[
        "images",
        "--digests",
        "--format",
        "{{.Repository}} {{.Digest}}",
    ]);
    assert!(
        listed.contains(&format!("{}/bb {digest}", reg.host)),
        "{listed}"
    );
    // It runs by digest.
    d.ok(&["run", "--rm", "--network", "none", &by_digest, "true"]);
    // An error before the manifest is the answer's status, as dockerd's (docker-py's pull()
    // raises on it; a 200 stream holding it passed for success): 404 for a repository the
    // registry does not have, 500 for a registry that does not answer.
    let (st, body) = d.http(
        "POST",
        &format!("/v1.41/images/create?fromImage={}/nosuch&tag=1", reg.host),
        None,
    );
    assert_eq!(st, 404, "{body}");
    assert!(
        body.contains(&format!(
            r#""message":"pull access denied for {}/nosuch, repository does not exist"#,
            reg.host
        )),
        "{body}"
    );
    let (st, body) = d.http(
        "POST",
        "/v1.41/images/create?fromImage=127.0.0.1:1/x&tag=1",
        None,
    );
    assert_eq!(st, 500, "{body}");
    let o = d.docker(&["pull", &format!("{}/nosuch:1", reg.host)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("Error response from daemon: pull access denied"),
        "{err}"
    );
    // A pull that gets its manifest streams as before.
    let (st, body) = d.http(
        "POST",
        &format!("/v1.41/images/create?fromImage={}/bb&tag=1", reg.host),
        None,
    );
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("Pulling from bb"), "{body}");
}

#[test]
fn disk_usage_and_volume_prune_report_real_sizes() {
    skip_unless_ready!("disk_usage_and_volume_prune_report_real_sizes");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["volume", "create", "data1"]);
    d.ok(&[
        "run",
        "--name",
        "writer",
        "--network",
        "none",
        "-v",
        "data1:/data",
        "bb:1",
        "sh",
        "-c",
        "/bin/busybox dd if=/dev/zero of=/big bs=1024 count=1024 && \
         /bin/busybox dd if=/dev/zero of=/data/half bs=1024 count=512",
    ]);
    let (st, body) = d.http("GET", "/v1.41/system/df", None);
    assert_eq!(st, 200, "{body}");
    let df: serde_json::Value = serde_json::from_str(&body).unwrap();
    let c = &df["Containers"][0];
    let rw = c["SizeRw"].as_i64().unwrap();
    assert!(rw >= 1 << 20, "{c}");
    assert!(c["SizeRootFs"].as_i64().unwrap() > rw, "{c}");
    assert!(c["Created"].as_i64().unwrap() > 1_700_000_000, "{c}");
    let v = &df["Volumes"][0];
    assert!(v["UsageData"]["Size"].as_i64().unwrap() >= 512 << 10, "{v}");
    d.ok(&["rm", "writer"]);
    let out = d.ok(&["volume", "prune", "--all", "--force"]);
    assert!(out.contains("data1"), "{out}");
    assert!(out.contains("Total reclaimed space: 524.3kB"), "{out}");
}

#[test]
fn exec_as_another_user_gets_that_users_groups_only() {
    skip_unless_ready!("exec_as_another_user_gets_that_users_groups_only");
    let d = Berthd::start();
    let root = d.dir.path().join("grp-root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    for a in ["sh", "id", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nwheel:x:10:root\nextra:x:50:www\n",
    )
    .unwrap();
    let tar = d.dir.path().join("grp.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    d.ok(&["import", tar.to_str().unwrap(), "grp:1"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "gr",
        "--network",
        "none",
        "-e",
        "FOO=1",
        "grp:1",
        "sleep",
        "600",
    ]);
    // The primary group is among the supplementary ones, as with dockerd since 20.10.18.
    assert_eq!(
        d.ok(&["exec", "gr", "id"]).trim(),
        "uid=0(root) gid=0(root) groups=0(root),10(wheel)"
    );
    // Not root's wheel group on top of its own (the runtime's -u/-g would add to init's).
    assert_eq!(
        d.ok(&["exec", "-u", "www", "gr", "id"]).trim(),
        "uid=33(www) gid=33 groups=33,50(extra)"
    );
    // user:group names the one group (dockerd lists it as the supplementary one too).
    assert_eq!(
        d.ok(&["exec", "-u", "www:wheel", "gr", "id"]).trim(),
        "uid=33(www) gid=10(wheel) groups=10(wheel)"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-u",
            "www",
            "grp:1",
            "id"
        ])
        .trim(),
        "uid=33(www) gid=33 groups=33,50(extra)"
    );
    // HOME is the exec user's, as runc sets it for dockerd.
    assert_eq!(
        d.ok(&["exec", "-u", "www", "gr", "sh", "-c", "echo $HOME"])
            .trim(),
        "/"
    );
    // The container's environment, the exec's additions and working directory still apply.
    let out = d.ok(&[
        "exec",
        "-u",
        "www",
        "-e",
        "BAR=2",
        "-w",
        "/etc",
        "gr",
        "sh",
        "-c",
        "echo $FOO $BAR $PWD",
    ]);
    assert_eq!(out.trim(), "1 2 /etc");
}

/// A docker command that must fail: its exit code and stderr.
fn fails(d: &Berthd, args: &[&str]) -> (i32, String) {
    let o = d.docker(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// What `docker run` and `create` accept and refuse, as dockerd 20.10 does: `--entrypoint ''`
/// resets the image's entrypoint, bad limits fail at create with dockerd's words, a missing
/// command's start failure says so once and records 127.
#[test]
fn run_options_checked_like_dockerd() {
    skip_unless_ready!("run_options_checked_like_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let run = |extra: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = run(&["--entrypoint", "", "bb:1", "echo", "x"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(d.ok(&args), "x\n");
    for (extra, want) in [
        (&["--entrypoint", "", "bb:1"][..], "No command specified"),
        (
            &["--cpus", "99", "bb:1", "true"][..],
            "Range of CPUs is from 0.01 to",
        ),
        (
            &["--memory", "64m", "--memory-swap", "32m", "bb:1", "true"][..],
            "Minimum memoryswap limit should be larger than memory limit",
        ),
        (
            &["--cpus", "1", "--cpu-quota", "50000", "bb:1", "true"][..],
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        (
            &["--cpuset-cpus", "4095", "bb:1", "true"][..],
            "Requested CPUs are not available - requested 4095",
        ),
        (
            &["--stop-signal", "SIGBOGUS", "bb:1", "true"][..],
            "Invalid signal: SIGBOGUS",
        ),
    ] {
        let a = run(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (code, err) = fails(&d, &a);
        assert_eq!(code, 125, "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    // A missing network is no missing image: the CLI pulls after a 404 from create.
    let (code, err) = fails(
        &d,
        &["run", "--rm", "--network", "nosuchnet", "bb:1", "true"],
    );
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("network nosuchnet not found"), "{err}");
    assert!(!err.contains("Unable to find image"), "{err}");
    // Nothing was left half-made by the refusals.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // A missing command: the daemon's message once (not the runtime's line on the container's
    // stderr besides), exit code 127 recorded.
    let (code, err) = fails(
        &d,
        &[
            "run",
            "--name",
            "nf",
            "--network",
            "none",
            "bb:1",
            "nosuchcmd",
        ],
    );
    assert_eq!(code, 127, "{err}");
    assert_eq!(err.matches("executable file not found").count(), 1, "{err}");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "nf"]).trim(),
        "127"
    );
    d.ok(&["rm", "nf"]);
    // --cpu-quota alone applies.
    let q = run(&[
        "--cpu-quota",
        "50000",
        "bb:1",
        "cat",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    ]);
    let q: Vec<&str> = q.iter().map(String::as_str).collect();
    if std::path::Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists() {
        assert_eq!(d.ok(&q).trim(), "50000");
    }
    // A real-time stop signal by name (systemd's SIGRTMIN+3) is taken at create and by `stop`
    // (which refused it as an invalid signal, leaving the container running).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rt",
        "--network",
        "none",
        "--stop-signal",
        "SIGRTMIN+3",
        "bb:1",
        "sleep",
        "60",
    ]);
    d.ok(&["stop", "-t", "1", "rt"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "rt"]).trim(),
        "exited"
    );
    d.ok(&["rm", "rt"]);
}

/// Wait until `name`'s log has `line` (its trap is set); false after 20 s.
fn wait_for_log(d: &Berthd, name: &str, line: &str) -> bool {
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_secs(20) {
        if d.ok(&["logs", name]).lines().any(|l| l == line) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// Real-time signals reach the container's process as with dockerd and runc: `docker kill -s 37`
/// runs the process's trap, `docker stop` of a `--stop-signal SIGRTMIN+3` container (systemd's) ends
/// it by its trap (exit 0, not the SIGKILL after the timeout), `--init` forwards one, and a process a
/// real-time signal kills exits 128+n. The runtime refused them ("unknown signal \"37\""), berth-init
/// panicked on one, and the shim recorded 255 for a death by one.
#[test]
fn real_time_signals_reach_the_process() {
    skip_unless_ready!("real_time_signals_reach_the_process");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    // busybox sh traps real-time signals by number only.
    let trap = "trap 'echo got 37; exit 0' 37; echo ready; while :; do sleep 1; done";
    let run = |name: &str, extra: &[&str], cmd: &[&str]| {
        let mut a = vec!["run", "-d", "--name", name, "--network", "none"];
        a.extend_from_slice(extra);
        a.push("bb:1");
        a.extend_from_slice(cmd);
        d.ok(&a);
    };
    let exit_code = |name: &str| d.ok(&["wait", name]).trim().to_string();

    run("rk", &[], &["sh", "-c", trap]);
    assert!(wait_for_log(&d, "rk", "ready"), "{}", d.ok(&["logs", "rk"]));
    d.ok(&["kill", "-s", "37", "rk"]);
    assert_eq!(exit_code("rk"), "0");
    assert_eq!(d.ok(&["logs", "rk"]), "ready\ngot 37\n");

    run("rs", &["--stop-signal", "SIGRTMIN+3"], &["sh", "-c", trap]);
    assert!(wait_for_log(&d, "rs", "ready"), "{}", d.ok(&["logs", "rs"]));
    d.ok(&["stop", "-t", "30", "rs"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "rs"]).trim(),
        "0"
    );
    assert_eq!(d.ok(&["logs", "rs"]), "ready\ngot 37\n");

    // Through berth-init to its command, by name as the CLI passes it.
    let trap3 = "trap 'echo got 37; exit 3' 37; echo ready; while :; do sleep 1; done";
    run("ri", &["--init"], &["sh", "-c", trap3]);
    assert!(wait_for_log(&d, "ri", "ready"), "{}", d.ok(&["logs", "ri"]));
    d.ok(&["kill", "-s", "RTMIN+3", "ri"]);
    assert_eq!(exit_code("ri"), "3");

    // Not a pid namespace's init (which ignores signals it has no handler for): the signal kills.
    run("rh", &["--pid", "host"], &["sleep", "60"]);
    d.ok(&["kill", "-s", "37", "rh"]);
    assert_eq!(exit_code("rh"), "165");

    d.ok(&["rm", "rk", "rs", "ri", "rh"]);
}

/// Container commands' answers as dockerd gives them: exec in a paused container, unpause of one
/// that is not running, a manual restart (not a policy's: RestartCount stays), `cp -a` keeping the
/// archive's owners (or giving the files the container's configured user).
#[test]
fn container_commands_answer_like_dockerd() {
    skip_unless_ready!("container_commands_answer_like_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "pz",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "600",
    ]);
    d.ok(&["pause", "pz"]);
    let (code, err) = fails(&d, &["exec", "pz", "true"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Container pz is paused, unpause the container before exec"),
        "{err}"
    );
    d.ok(&["unpause", "pz"]);
    d.ok(&["restart", "-t", "0", "pz"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "pz"])
            .trim(),
        "0 running"
    );
    d.ok(&[
        "create",
        "--name",
        "cz",
        "--network",
        "none",
        "bb:1",
        "true",
    ]);
    let (_, err) = fails(&d, &["unpause", "cz"]);
    assert!(err.contains("is not paused"), "{err}");
    // The archive's owners stay, with `-a` too; `-a` into a container whose config names a user
    // gives that user the files (dockerd's copyUIDGID).
    d.ok(&[
        "create",
        "--name",
        "cu",
        "-u",
        "1000:1000",
        "--network",
        "none",
        "bb:1",
        "true",
    ]);
    let f = d.dir.path().join("owned.txt");
    std::fs::write(&f, "x").unwrap();
    std::os::unix::fs::chown(&f, Some(1234), Some(4321)).unwrap();
    let f = f.to_str().unwrap();
    d.ok(&["cp", f, "cz:/tmp/plain"]);
    d.ok(&["cp", "-a", f, "cz:/tmp/kept"]);
    d.ok(&["cp", "-a", f, "cu:/tmp/user"]);
    let owners = |c: &str| {
        let out = d.docker(&["cp", &format!("{c}:/tmp"), "-"]);
        let mut a = tar::Archive::new(&out.stdout[..]);
        let mut owners = vec![];
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            owners.push(format!(
                "{} {}:{}",
                e.path().unwrap().display(),
                h.uid().unwrap(),
                h.gid().unwrap()
            ));
        }
        owners.sort();
        owners
    };
    assert_eq!(
        owners("cz"),
        ["tmp/ 0:0", "tmp/kept 1234:4321", "tmp/plain 1234:4321"]
    );
    assert_eq!(owners("cu"), ["tmp/ 0:0", "tmp/user 1000:1000"]);
    d.ok(&["rm", "-f", "cu"]);
    d.ok(&["rm", "-f", "pz", "cz"]);
}

/// Image commands as dockerd answers them: `images NAME` and `reference=` show only the matching
/// names, `before`/`since` filters, a missing image's 404 with its tag, `commit` without a name
/// leaves no name behind and keeps a replaced image as dangling, `import` refuses what is no tar
/// and keeps `-m` as the comment.
#[test]
fn image_commands_answer_like_dockerd() {
    skip_unless_ready!("image_commands_answer_like_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["tag", "bb:1", "bb:2"]);
    d.ok(&["tag", "bb:1", "other/name:x"]);
    let names = |args: &[&str]| {
        let mut a = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = d.ok(&a).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(names(&["bb:2"]), ["bb:2"]);
    assert_eq!(names(&["--filter", "reference=bb"]), ["bb:1", "bb:2"]);
    assert_eq!(names(&["--filter", "reference=*/name"]), ["other/name:x"]);
    let (_, err) = fails(&d, &["image", "inspect", "nosuch"]);
    assert!(err.contains("No such image: nosuch:latest"), "{err}");
    let (_, err) = fails(&d, &["images", "--filter", "before=nosuch"]);
    assert!(err.contains("No such image: nosuch:latest"), "{err}");

    // Image times are to the nanosecond: commits right after bb:1's import are `since=bb:1`, and
    // two in a row are two images.
    d.ok(&["run", "--name", "wk", "--network", "none", "bb:1", "true"]);
    let first = d.ok(&["commit", "wk", "snap:1"]);
    let second = d.ok(&["commit", "wk", "snap:1"]);
    assert_ne!(first, second);
    // The replaced snap:1 dangles.
    assert_eq!(
        names(&[]),
        ["<none>:<none>", "bb:1", "bb:2", "other/name:x", "snap:1"]
    );
    assert_eq!(
        names(&["--filter", "since=bb:1"]),
        ["<none>:<none>", "snap:1"]
    );
    assert_eq!(
        names(&["--filter", "before=snap:1", "--filter", "dangling=true"]),
        ["<none>:<none>"]
    );
    // An unnamed commit is an untagged image, with no name of berthd's own left behind.
    let id = d.ok(&["commit", "wk"]);
    assert!(names(&[]).iter().all(|n| !n.contains("berth-commit")));
    assert!(d.ok(&["images", "-q", "--no-trunc"]).contains(id.trim()));

    let bad = d.dir.path().join("bad.tar");
    std::fs::write(&bad, "not a tar\n").unwrap();
    let (_, err) = fails(&d, &["import", bad.to_str().unwrap(), "bad:1"]);
    assert!(err.contains("Error processing tar file"), "{err}");
    assert!(names(&["bad"]).is_empty());
    let out = d.docker(&["export", "wk"]);
    assert!(out.status.success());
    let tar = d.dir.path().join("w.tar");
    std::fs::write(&tar, &out.stdout).unwrap();
    d.ok(&["import", "-m", "my note", tar.to_str().unwrap(), "imp:1"]);
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Comment}}", "imp:1"])
            .trim(),
        "my note"
    );
    d.ok(&["rm", "wk"]);
}

/// `ps` filters dockerd has (`volume`, `network`, `isolation`, `is-task`, `name` as a regular
/// expression over `/name` too), sizes with `-s`, `top` with ps arguments, the default swap of a
/// memory limit, a working directory that is a file.
#[test]
fn ps_top_and_inspect_like_dockerd() {
    skip_unless_ready!("ps_top_and_inspect_like_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "vv",
        "-v",
        "psvol:/data",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "600",
    ]);
    d.ok(&[
        "create",
        "--name",
        "other",
        "--network",
        "none",
        "bb:1",
        "true",
    ]);
    let ps = |filter: &str| {
        d.ok(&["ps", "-a", "--format", "{{.Names}}", "--filter", filter])
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(ps("volume=psvol"), ["vv"]);
    assert_eq!(ps("volume=/data"), ["vv"]);
    assert_eq!(ps("network=none").len(), 2);
    assert_eq!(ps("isolation=default").len(), 2);
    assert_eq!(ps("is-task=false").len(), 2);
    assert_eq!(ps("name=^/vv$"), ["vv"]);
    assert_eq!(ps("name=^vv$"), ["vv"]);
    assert_eq!(ps("name=/oth"), ["other"]);

    let sized = d.ok(&["inspect", "-s", "-f", "{{if .SizeRootFs}}root{{end}}", "vv"]);
    assert_eq!(sized.trim(), "root");
    let ps_size = d.ok(&["ps", "-s", "--format", "{{.Size}}", "--filter", "name=vv"]);
    assert!(ps_size.contains("(virtual "), "{ps_size}");

    let top = d.ok(&["top", "vv", "-o", "pid,comm"]);
    let mut lines = top.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["PID", "COMMAND"]
    );
    assert_eq!(
        lines.next().unwrap().split_whitespace().nth(1),
        Some("sleep"),
        "{top}"
    );

    // A ps error is ps's own first line, without its usage text.
    let (_, err) = fails(&d, &["top", "vv", "-bogus"]);
    assert!(err.contains("ps: ") && !err.contains("Usage"), "{err}");
    // A negative tail is every line.
    d.ok(&[
        "run",
        "--name",
        "lg",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo 1; echo 2",
    ]);
    assert_eq!(d.ok(&["logs", "--tail", "-1", "lg"]), "1\n2\n");
    if std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        d.ok(&["create", "--name", "mem", "--memory", "64m", "bb:1", "true"]);
        assert_eq!(
            d.ok(&["inspect", "-f", "{{.HostConfig.MemorySwap}}", "mem"])
                .trim(),
            "134217728"
        );
        let (_, err) = fails(&d, &["update", "--memory", "256m", "mem"]);
        assert!(
            err.contains("Memory limit should be smaller than already set memoryswap limit"),
            "{err}"
        );
    }
    d.ok(&[
        "create",
        "--name",
        "wdf",
        "-w",
        "/etc/passwd",
        "--network",
        "none",
        "bb:1",
        "true",
    ]);
    let (_, err) = fails(&d, &["start", "wdf"]);
    assert!(
        err.contains("Cannot mkdir: /etc/passwd is not a directory"),
        "{err}"
    );
    d.ok(&["rm", "-f", "vv"]);
}

/// `docker info` reports what the host has, as dockerd does: the bridge netfilter switches as
/// /proc/sys has them, OomKillDisable where cgroup v1's memory controller offers it, and the
/// built-in macvlan and ipvlan drivers among the network plugins.
#[test]
fn info_reports_host_features_as_dockerd() {
    skip_unless_ready!("info_reports_host_features_as_dockerd");
    let d = Berthd::start();
    let (st, body) = d.http("GET", "/v1.41/info", None);
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let on = |k: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/bridge/{k}")).is_ok_and(|s| s.trim() == "1")
    };
    assert_eq!(
        v["BridgeNfIptables"],
        on("bridge-nf-call-iptables"),
        "{body}"
    );
    assert_eq!(
        v["BridgeNfIp6tables"],
        on("bridge-nf-call-ip6tables"),
        "{body}"
    );
    let oom = !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        && std::path::Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists();
    assert_eq!(v["OomKillDisable"], oom, "{body}");
    let nets = v["Plugins"]["Network"].to_string();
    assert!(
        nets.contains("\"macvlan\"") && nets.contains("\"ipvlan\""),
        "{nets}"
    );
}

/// `stats` carries the container's block I/O (what `docker stats` shows as BLOCK I/O) in
/// dockerd's shape: on cgroup v1 every blkio list is a list (empty when the kernel reports
/// nothing), entries with major, minor, op and value. An exec's inspect leaves out a user it was
/// not given, as dockerd does.
#[test]
fn stats_blkio_and_exec_inspect_as_dockerd() {
    skip_unless_ready!("stats_blkio_and_exec_inspect_as_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "io",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "60",
    ]);
    let (st, body) = d.http(
        "GET",
        "/v1.41/containers/io/stats?stream=0&one-shot=1",
        None,
    );
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let b = &v["blkio_stats"];
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        for k in [
            "io_service_bytes_recursive",
            "io_serviced_recursive",
            "io_queue_recursive",
            "sectors_recursive",
        ] {
            assert!(b[k].is_array(), "{k}: {b}");
        }
        for e in b["io_service_bytes_recursive"].as_array().unwrap() {
            let o = e.as_object().unwrap();
            assert!(
                ["major", "minor", "op", "value"]
                    .iter()
                    .all(|k| o.contains_key(*k)),
                "{e}"
            );
        }
    }
    let (st, body) = d.http(
        "POST",
        "/v1.41/containers/io/exec",
        Some(r#"{"Cmd":["true"]}"#),
    );
    assert_eq!(st, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = d.http("GET", &format!("/v1.41/exec/{id}/json"), None);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["ProcessConfig"].get("user").is_none(), "{body}");
    d.ok(&["rm", "-f", "io"]);
}

/// `system df` lists containers as `ps` does (newest first, the status line, mounts, ports,
/// networks) with their sizes: `docker system df -v` shows "Exited (0) ..." and the volumes.
#[test]
fn system_df_lists_containers_as_ps_does() {
    skip_unless_ready!("system_df_lists_containers_as_ps_does");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["run", "--name", "old", "--network", "none", "bb:1", "true"]);
    d.ok(&[
        "run",
        "--name",
        "new",
        "--network",
        "none",
        "-v",
        "dfv:/v",
        "bb:1",
        "true",
    ]);
    let (st, body) = d.http("GET", "/v1.41/system/df", None);
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cs = v["Containers"].as_array().unwrap();
    assert_eq!(cs[0]["Names"][0], "/new", "{body}");
    assert!(
        cs[0]["Status"].as_str().unwrap().starts_with("Exited (0)"),
        "{body}"
    );
    assert_eq!(cs[0]["Mounts"][0]["Name"], "dfv", "{body}");
    assert!(
        cs[0]["SizeRw"].is_number() && cs[0]["HostConfig"].is_object(),
        "{body}"
    );
}

/// The keys of `v` (an object) in the order the answer has them.
fn keys(v: &serde_json::Value) -> Vec<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Answers list their fields in dockerd's order (its structs' declaration order: `docker inspect`
/// reads as dockerd's does), and Go maps (labels, options, sysctls) sorted by key, as Go's encoder
/// writes them, whatever order the client sent them in.
#[test]
fn answers_keep_dockerds_key_order() {
    skip_unless_ready!("answers_keep_dockerds_key_order");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    // The fields in another order than dockerd's (as a client's dict may send them).
    let body = r#"{"Labels":{"zeta":"1","alpha":"2","mid":"3"},"Cmd":["true"],"Image":"bb:1","Tty":false,"User":"","Hostname":"h",
        "HostConfig":{"Sysctls":{"net.ipv4.ip_forward":"1","kernel.msgmax":"65536"},"Tmpfs":{"/t":""},"NetworkMode":"none"}}"#;
    let (status, out) = d.http("POST", "/containers/create?name=order", Some(body));
    assert_eq!(status, 201, "{out}");
    d.ok(&["volume", "create", "--label", "b=1", "--label", "a=2", "vo"]);
    let (_, out) = d.http("GET", "/containers/order/json", None);
    let c: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        keys(&c)[..8],
        [
            "Id",
            "Created",
            "Path",
            "Args",
            "State",
            "Image",
            "ResolvConfPath",
            "HostnamePath"
        ],
        "{out}"
    );
    assert_eq!(
        keys(&c["State"])[..4],
        ["Status", "Running", "Paused", "Restarting"]
    );
    assert_eq!(keys(&c["Config"]["Labels"]), ["alpha", "mid", "zeta"]);
    let cfg = keys(&c["Config"]);
    let at = |k: &str| {
        cfg.iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("{k}: {cfg:?}"))
    };
    assert_eq!(cfg[..3], ["Hostname", "Domainname", "User"], "{cfg:?}");
    assert!(
        at("Tty") < at("Cmd") && at("Cmd") < at("Image") && at("Image") < at("Labels"),
        "{cfg:?}"
    );
    assert_eq!(
        keys(&c["HostConfig"]["Sysctls"]),
        ["kernel.msgmax", "net.ipv4.ip_forward"]
    );
    let hc = keys(&c["HostConfig"]);
    let at = |k: &str| {
        hc.iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("{k}: {hc:?}"))
    };
    assert_eq!(hc[..3], ["Binds", "ContainerIDFile", "LogConfig"]);
    assert!(
        at("SecurityOpt") < at("Tmpfs") && at("Tmpfs") < at("UTSMode"),
        "{hc:?}"
    );
    assert!(
        at("ShmSize") < at("Sysctls") && at("Sysctls") < at("Runtime"),
        "{hc:?}"
    );
    // Where the struct of dockerd at API 1.47 has it (20.10's had it after Runtime).
    assert!(
        at("VolumesFrom") < at("ConsoleSize") && at("ConsoleSize") < at("CapAdd"),
        "{hc:?}"
    );
    // Volumes, history and top: dockerd's generated types, whose fields are alphabetical.
    let (_, out) = d.http("GET", "/volumes/vo", None);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        keys(&v),
        [
            "CreatedAt",
            "Driver",
            "Labels",
            "Mountpoint",
            "Name",
            "Options",
            "Scope"
        ]
    );
    assert_eq!(keys(&v["Labels"]), ["a", "b"]);
    let (_, out) = d.http("GET", "/images/bb:1/history", None);
    let h: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        keys(&h[0]),
        ["Comment", "Created", "CreatedBy", "Id", "Size", "Tags"]
    );
}
