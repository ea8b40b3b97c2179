//! The commands engines call on a running container, driven through the
//! command line: exec, ps, pause/resume, update and events. Where runc can
//! run the same bundle, the output shapes (keys, columns) are compared with
//! runc's.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{err_text, text, Bundle};
use serde_json::{json, Value};

/// A running `sleep` container named `id`, with `edit` applied to the config.
fn running(id: &str, edit: impl FnOnce(&mut Value)) -> Bundle {
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "600"]);
        edit(c);
    });
    let (ok, err) = b.detached(&["run", "-d", id]);
    assert!(ok, "run -d {id}: {err}");
    assert_eq!(b.state(id)["status"], "running");
    b
}

fn init_pid(b: &Bundle, id: &str) -> i64 {
    b.state(id)["pid"].as_i64().unwrap()
}

/// The container's saved state, with the resolved cgroup paths.
fn saved_state(b: &Bundle, id: &str) -> Value {
    serde_json::from_slice(&std::fs::read(b.root.join(id).join("state.json")).unwrap()).unwrap()
}

/// Read a cgroup file of the container: v1 (and hybrid) controller
/// directory, or the v2 directory.
fn cgroup_file(b: &Bundle, id: &str, controller: &str, v1: &str, v2: &str) -> String {
    let cg = &saved_state(b, id)["cgroup"];
    let path = match cg["v1"][controller].as_str() {
        Some(dir) => Path::new(dir).join(v1),
        None => Path::new(cg["unified"].as_str().unwrap()).join(v2),
    };
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// runc with its own state root, on the same bundle.
struct Runc {
    root: PathBuf,
    bundle: PathBuf,
}

impl Runc {
    /// Start `id` under runc, or None (with the reason printed) when runc
    /// is missing or cannot run containers here.
    fn start(b: &Bundle, id: &str) -> Option<Runc> {
        let r = Runc {
            root: b.tmp.path().join("runc-state"),
            bundle: b.dir.clone(),
        };
        let err_path = b.tmp.path().join("runc.stderr");
        let status = Command::new("runc")
            .arg("--root")
            .arg(&r.root)
            .args(["run", "-d", "-b"])
            .arg(&r.bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status();
        match status {
            Ok(s) if s.success() => Some(r),
            Ok(_) => {
                let err = std::fs::read_to_string(&err_path).unwrap_or_default();
                eprintln!("runc comparison skipped: runc run failed: {err}");
                None
            }
            Err(e) => {
                eprintln!("runc comparison skipped: {e}");
                None
            }
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["list", "-q"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(&self.root)
                    .args(["delete", "-f", id])
                    .output();
            }
        }
    }
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[test]
fn exec_joins_every_namespace_of_the_container() {
    require_root!();
    let b = running("ns", |c| c["hostname"] = json!("berth-exec-host"));
    std::fs::write(b.dir.join("rootfs/marker"), "in-the-rootfs\n").unwrap();
    let out = b.run(&[
        "exec",
        "ns",
        "sh",
        "-c",
        "hostname; cat /marker; ps -o pid,comm | awk '$1 == 1 {print \"init:\" $2}'; \
         for n in ipc mnt net pid uts cgroup; do echo ns:$n:$(readlink /proc/self/ns/$n); done",
    ]);
    assert!(out.status.success(), "exec: {}", err_text(&out));
    let stdout = text(&out);
    assert!(stdout.contains("berth-exec-host\n"), "{stdout}");
    assert!(stdout.contains("in-the-rootfs\n"), "{stdout}");
    // The pid namespace: the container's init is PID 1.
    assert!(stdout.contains("init:sleep\n"), "{stdout}");
    let pid = init_pid(&b, "ns");
    for n in ["ipc", "mnt", "net", "pid", "uts", "cgroup"] {
        let init_ns = std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap();
        let line = format!("ns:{n}:{}\n", init_ns.display());
        assert!(stdout.contains(&line), "{n}: want {line:?} in {stdout}");
    }
    // The environment is the config's.
    let out = b.run(&["exec", "ns", "sh", "-c", "echo $PATH; pwd"]);
    assert!(text(&out).starts_with("/usr/local/sbin:"), "{}", text(&out));
}

#[test]
fn exec_exit_codes_env_cwd_and_failures() {
    require_root!();
    let b = running("codes", |_| {});
    let out = b.run(&["exec", "codes", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", err_text(&out));
    let out = b.run(&["exec", "codes", "sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(137));
    let out = b.run(&[
        "exec",
        "--env",
        "FOO=bar",
        "-e",
        "TERM=dumb",
        "--cwd",
        "/tmp",
        "codes",
        "sh",
        "-c",
        "echo $FOO $TERM; pwd",
    ]);
    assert_eq!(text(&out), "bar dumb\n/tmp\n", "{}", err_text(&out));

    // A missing program: exec itself fails, with 255 as runc.
    let out = b.run(&["exec", "codes", "no-such-program"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        err_text(&out).contains("no-such-program"),
        "{}",
        err_text(&out)
    );
    let out = b.run(&["exec", "codes"]);
    assert!(!out.status.success());
    assert!(
        err_text(&out).contains("args cannot be empty"),
        "{}",
        err_text(&out)
    );

    // --process replaces the process, env included.
    let p = b.tmp.path().join("process.json");
    std::fs::write(
        &p,
        json!({"args": ["env"], "cwd": "/", "env": ["ONLY=this"], "user": {"uid": 0, "gid": 0}})
            .to_string(),
    )
    .unwrap();
    let out = b.run(&["exec", "--process", p.to_str().unwrap(), "codes"]);
    assert!(out.status.success(), "{}", err_text(&out));
    // HOME is added from /etc/passwd when missing, as runc does.
    assert_eq!(text(&out), "ONLY=this\nHOME=/root\n");

    assert!(b.run(&["kill", "codes", "KILL"]).status.success());
    wait_for("stop", || b.state("codes")["status"] == "stopped");
    let out = b.run(&["exec", "codes", "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(err_text(&out).contains("stopped"), "{}", err_text(&out));
}

#[test]
fn exec_user_groups_caps_and_no_new_privs() {
    require_root!();
    let b = running("who", |c| c["process"]["noNewPrivileges"] = json!(false));
    let status = |args: &[&str]| {
        let mut all = vec!["exec"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["who", "cat", "/proc/self/status"]);
        let out = b.run(&all);
        assert!(out.status.success(), "{args:?}: {}", err_text(&out));
        let field = |name: &str| {
            text(&out)
                .lines()
                .find_map(|l| {
                    l.strip_prefix(&format!("{name}:"))
                        .map(|v| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        (
            field("Uid"),
            field("Gid"),
            field("Groups"),
            field("CapBnd"),
            field("CapEff"),
            field("NoNewPrivs"),
        )
    };
    let (uid, gid, groups, _, eff, nnp) = status(&["-u", "1000:1000", "-g", "5", "-g", "6"]);
    assert_eq!(uid.split_whitespace().collect::<Vec<_>>(), ["1000"; 4]);
    assert_eq!(gid.split_whitespace().collect::<Vec<_>>(), ["1000"; 4]);
    assert_eq!(groups, "5 6");
    assert_eq!(eff, "0000000000000000");
    assert_eq!(nnp, "0");

    // The spec's caps are AUDIT_WRITE, KILL and NET_BIND_SERVICE; --cap adds
    // NET_RAW (bit 13) to the bounding, effective and permitted sets.
    let (uid, _, _, bnd, eff, nnp) = status(&["--cap", "CAP_NET_RAW", "--no-new-privs"]);
    assert!(uid.starts_with('0'));
    assert_eq!(bnd, "0000000020002420");
    assert_eq!(eff, "0000000020002420");
    assert_eq!(nnp, "1");
    let (_, _, _, bnd, _, _) = status(&[]);
    assert_eq!(bnd, "0000000020000420");

    // runc, given the same flags on the same bundle, makes the same identity.
    let Some(runc) = Runc::start(&b, "who-runc") else {
        return;
    };
    let identity = |out: &std::process::Output| -> Vec<String> {
        let keys = [
            "Uid:",
            "Gid:",
            "Groups:",
            "CapInh:",
            "CapPrm:",
            "CapEff:",
            "CapBnd:",
            "CapAmb:",
            "NoNewPrivs:",
            "Seccomp:",
        ];
        text(out)
            .lines()
            .filter(|l| keys.iter().any(|k| l.starts_with(k)))
            .map(str::to_string)
            .collect()
    };
    for flags in [
        &["-u", "1000:1000", "-g", "5", "-g", "6"][..],
        &["--cap", "CAP_NET_RAW", "--no-new-privs"],
        &["--cap", "CAP_SYS_ADMIN", "-u", "1000"],
        &[],
    ] {
        let args = |id: &'static str| {
            let mut a = vec!["exec"];
            a.extend_from_slice(flags);
            a.extend([id, "cat", "/proc/self/status"]);
            a
        };
        let ours = b.run(&args("who"));
        let theirs = runc.run(&args("who-runc"));
        assert!(theirs.status.success(), "runc: {}", err_text(&theirs));
        assert_eq!(identity(&ours), identity(&theirs), "{flags:?}");
    }
}

#[test]
fn exec_tty_through_a_console_socket() {
    require_root!();
    let b = running("tty", |_| {});
    let sock_path = b.tmp.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let child = b
        .cmd(&[
            "exec",
            "--tty",
            "--console-socket",
            sock_path.to_str().unwrap(),
            "tty",
            "sh",
            "-c",
            "tty; echo done; exit 5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let (master, name) = berth_sys::recv_fd(conn.as_fd())
        .unwrap()
        .expect("a terminal fd");
    assert!(String::from_utf8_lossy(&name).starts_with("/dev/pts/"));
    let mut f = std::fs::File::from(master);
    let mut buf = String::new();
    let mut chunk = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !buf.contains("done") && Instant::now() < deadline {
        match f.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
    assert!(buf.contains("/dev/pts/"), "{buf:?}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", err_text(&out));

    // Without a console socket the runtime relays the terminal itself.
    let mut child = b
        .cmd(&["exec", "-t", "tty", "sh"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"tty; echo relay-$((20+1)); exit 6\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", err_text(&out));
    assert!(text(&out).contains("relay-21"), "{}", text(&out));

    // A detached terminal needs somewhere to send it.
    let out = b.run(&["exec", "-d", "-t", "tty", "sh"]);
    assert!(!out.status.success());
    assert!(
        err_text(&out).contains("--console-socket"),
        "{}",
        err_text(&out)
    );
}

#[test]
fn exec_detached_writes_the_pid_file_and_joins_the_cgroup() {
    require_root!();
    let b = running("det", |_| {});
    let pid_file = b.tmp.path().join("exec.pid");
    let (ok, err) = b.detached(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "det",
        "sleep",
        "300",
    ]);
    assert!(ok, "exec -d: {err}");
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    // Host pid and a pid inside the container's pid namespace.
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert_eq!(nspid.split_whitespace().count(), 3, "{nspid}");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with(b"sleep\x00300"), "{cmdline:?}");
    let init = init_pid(&b, "det");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap(),
        std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap()
    );
    let out = b.run(&["ps", "--format", "json", "det"]);
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(pids.contains(&pid) && pids.contains(&init), "{pids:?}");
}

#[test]
fn ps_lists_the_containers_processes_like_runc() {
    require_root!();
    let b = running("ps", |_| {});
    let init = init_pid(&b, "ps");
    let out = b.run(&["ps", "-f", "json", "ps"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let json_ours: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json_ours, json!([init]));

    let out = b.run(&["ps", "ps"]);
    assert!(out.status.success(), "{}", err_text(&out));
    let table = text(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header[..2], ["UID", "PID"]);
    assert_eq!(
        lines[1].split_whitespace().nth(1),
        Some(init.to_string().as_str())
    );
    assert!(lines[1].ends_with("sleep 600"), "{table}");

    // Arguments after the id go to ps.
    let out = b.run(&["ps", "ps", "-o", "pid,comm"]);
    let words: Vec<Vec<String>> = text(&out)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(
        words,
        [
            vec!["PID".to_string(), "COMMAND".into()],
            vec![init.to_string(), "sleep".into()]
        ],
        "{}",
        err_text(&out)
    );

    let Some(runc) = Runc::start(&b, "ps-runc") else {
        return;
    };
    let theirs = runc.run(&["ps", "-f", "json", "ps-runc"]);
    let json_theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
    assert!(json_theirs.as_array().unwrap().iter().all(Value::is_i64));
    assert_eq!(json_theirs.as_array().unwrap().len(), 1);
    let theirs = text(&runc.run(&["ps", "ps-runc"]));
    assert_eq!(theirs.lines().next(), lines.first().copied(), "{theirs}");
    assert_eq!(theirs.lines().count(), 2, "{theirs}");
}

#[test]
fn pause_and_resume() {
    require_root!();
    let b = running("pz", |_| {});
    let out = b.run(&["resume", "pz"]);
    assert!(!out.status.success(), "resume of a running container");
    assert!(err_text(&out).contains("not paused"), "{}", err_text(&out));

    let out = b.run(&["pause", "pz"]);
    assert!(out.status.success(), "pause: {}", err_text(&out));
    assert_eq!(b.state("pz")["status"], "paused");
    let pid = init_pid(&b, "pz");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let list = b.run(&["list", "--format", "json"]);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["status"], "paused", "{stat}");

    let out = b.run(&["exec", "pz", "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(err_text(&out).contains("paused"), "{}", err_text(&out));
    let out = b.run(&["pause", "pz"]);
    assert!(!out.status.success(), "pause of a paused container");

    let out = b.run(&["resume", "pz"]);
    assert!(out.status.success(), "resume: {}", err_text(&out));
    assert_eq!(b.state("pz")["status"], "running");
    let out = b.run(&["exec", "pz", "echo", "back"]);
    assert_eq!(text(&out), "back\n", "{}", err_text(&out));

    // A created container pauses too (as with runc), reads `paused`, and
    // resumes to `created`, ready to start.
    let c = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "600"]));
    let (ok, err) = c.detached(&["create", "pc"]);
    assert!(ok, "create: {err}");
    assert!(c.run(&["pause", "pc"]).status.success());
    assert_eq!(c.state("pc")["status"], "paused");
    assert!(c.run(&["resume", "pc"]).status.success());
    assert_eq!(c.state("pc")["status"], "created");
    assert!(c.run(&["start", "pc"]).status.success());
    assert_eq!(c.state("pc")["status"], "running");

    // A paused container can still be force-deleted.
    assert!(b.run(&["pause", "pz"]).status.success());
    let out = b.run(&["delete", "-f", "pz"]);
    assert!(out.status.success(), "{}", err_text(&out));
}

#[test]
fn update_changes_the_cgroup_and_the_saved_config() {
    require_root!();
    let b = running("upd", |_| {});
    let out = b.run(&["update", "--memory", "64m", "--pids-limit", "20", "upd"]);
    assert!(out.status.success(), "update: {}", err_text(&out));
    assert_eq!(
        cgroup_file(&b, "upd", "memory", "memory.limit_in_bytes", "memory.max"),
        (64u64 << 20).to_string()
    );
    assert_eq!(cgroup_file(&b, "upd", "pids", "pids.max", "pids.max"), "20");

    // --resources from a file, then from stdin; values not given stay.
    let res = b.tmp.path().join("res.json");
    std::fs::write(&res, r#"{"pids": {"limit": 33}}"#).unwrap();
    let out = b.run(&["update", "--resources", res.to_str().unwrap(), "upd"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert_eq!(cgroup_file(&b, "upd", "pids", "pids.max", "pids.max"), "33");
    let out = common::output_with_input(
        &mut b.cmd(&["update", "-r", "-", "upd"]),
        br#"{"memory": {"limit": 100663296}}"#,
    );
    assert!(out.status.success(), "{}", err_text(&out));
    assert_eq!(
        cgroup_file(&b, "upd", "memory", "memory.limit_in_bytes", "memory.max"),
        "100663296"
    );
    assert_eq!(cgroup_file(&b, "upd", "pids", "pids.max", "pids.max"), "33");
    // The saved config lives inside state.json.
    let saved: Value =
        serde_json::from_slice(&std::fs::read(b.root.join("upd/state.json")).unwrap()).unwrap();
    let saved = &saved["config"];
    assert_eq!(saved["linux"]["resources"]["memory"]["limit"], 100663296);
    assert_eq!(saved["linux"]["resources"]["pids"]["limit"], 33);

    let out = b.run(&["update", "--memory", "lots", "upd"]);
    assert!(!out.status.success());
    assert!(err_text(&out).contains("--memory"), "{}", err_text(&out));
    assert!(b.run(&["kill", "upd", "KILL"]).status.success());
    wait_for("stop", || b.state("upd")["status"] == "stopped");
    let out = b.run(&["update", "--pids-limit", "5", "upd"]);
    assert!(!out.status.success(), "update of a stopped container");
}

#[test]
fn events_stats_has_runcs_shape() {
    require_root!();
    let b = running("ev", |_| {});
    let out = b.run(&["events", "--stats", "ev"]);
    assert!(out.status.success(), "{}", err_text(&out));
    assert_eq!(text(&out).lines().count(), 1, "one JSON line");
    let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ours["type"], "stats");
    assert_eq!(ours["id"], "ev");
    for k in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
        assert!(ours["data"].get(k).is_some(), "no {k} in {ours}");
    }
    assert!(ours["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    assert!(ours["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);

    if let Some(runc) = Runc::start(&b, "ev-runc") {
        let theirs = runc.run(&["events", "--stats", "ev-runc"]);
        let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
        assert_eq!(keys(&theirs), keys(&ours));
        assert_eq!(keys(&theirs["data"]), keys(&ours["data"]));
        for k in ["cpu", "pids"] {
            assert_eq!(keys(&theirs["data"][k]), keys(&ours["data"][k]), "data.{k}");
        }
        let mem = |v: &Value| {
            let mut k = keys(&v["data"]["memory"]);
            // `cache` is left out when zero (in both runtimes).
            k.retain(|k| k != "cache");
            k
        };
        assert_eq!(mem(&theirs), mem(&ours));
    }
}

#[test]
fn events_stream_stats_and_oom_until_the_container_stops() {
    require_root!();
    let b = running("oom", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
    });
    let mut events = b
        .cmd(&["events", "--interval", "300ms", "oom"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(events.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        (first["type"].as_str(), first["id"].as_str()),
        (Some("stats"), Some("oom"))
    );
    // 64 MiB of buffer against a 32 MiB limit: the OOM killer ends it.
    let out = b.run(&[
        "exec",
        "oom",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", err_text(&out));
    let mut saw_oom = false;
    for line in lines.by_ref() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(v["id"], "oom");
        if v["type"] == "oom" {
            assert!(v.get("data").is_none(), "{v}");
            saw_oom = true;
            break;
        }
        assert_eq!(v["type"], "stats");
    }
    assert!(saw_oom, "no oom event");
    assert!(b.run(&["kill", "oom", "KILL"]).status.success());
    // events ends by itself once the container has stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = events.try_wait().unwrap() {
            assert!(st.success(), "events exited with {st}");
            break;
        }
        assert!(Instant::now() < deadline, "events kept running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exec_forwards_signals_and_passes_preserved_fds() {
    require_root!();
    let b = running("sig", |_| {});
    let init = init_pid(&b, "sig");
    let child = b
        .cmd(&["exec", "sig", "sleep", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the exec'd sleep", || {
        let out = b.run(&["ps", "-f", "json", "sig"]);
        serde_json::from_slice::<Vec<i64>>(&out.stdout).is_ok_and(|p| p.len() == 2)
    });
    // SIGTERM to the runtime reaches the process: 128 + 15.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", err_text(&out));
    let out = b.run(&["ps", "-f", "json", "sig"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!([init])
    );
    // A real-time signal (SIGRTMIN+3) is forwarded too, and the death by it reaped: 128 + 37.
    let child = b
        .cmd(&["exec", "sig", "sleep", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the exec'd sleep", || {
        let out = b.run(&["ps", "-f", "json", "sig"]);
        serde_json::from_slice::<Vec<i64>>(&out.stdout).is_ok_and(|p| p.len() == 2)
    });
    let runtime = nix::unistd::Pid::from_raw(child.id() as i32);
    berth_sys::signal::kill(runtime, berth_sys::SigNum::new(37)).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(165), "{}", err_text(&out));

    // fd 3 of the caller reaches the process with --preserve-fds 1.
    let file = b.tmp.path().join("fd3");
    std::fs::write(&file, "through-fd-3\n").unwrap();
    let with_fd3 = |exec_args: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                r#"exec 3<"$1"; exec "$2" --root "$3" exec {exec_args}"#
            ))
            .args(["sh", file.to_str().unwrap(), common::BIN])
            .arg(&b.root)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = with_fd3("--preserve-fds 1 sig cat /proc/self/fd/3");
    assert_eq!(text(&out), "through-fd-3\n", "{}", err_text(&out));
    // Without it, the descriptor stays out.
    let out = with_fd3("sig ls /proc/self/fd/3");
    assert!(!out.status.success(), "fd 3 leaked: {}", text(&out));
    // Preserved descriptors the caller did not open are /dev/null, never
    // one of the runtime's own.
    let out = b.run(&[
        "exec",
        "--preserve-fds",
        "2",
        "sig",
        "sh",
        "-c",
        "readlink /proc/self/fd/3; readlink /proc/self/fd/4",
    ]);
    assert_eq!(text(&out), "/dev/null\n/dev/null\n", "{}", err_text(&out));
}

#[test]
fn exec_applies_user_namespace_seccomp_rlimits_and_lsm_checks() {
    require_root!();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "600"]);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 888}]);
    });
    let st = Command::new("chown")
        .args(["-R", "300000:300000"])
        .arg(b.dir.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let (ok, err) = b.detached(&["run", "-d", "uns"]);
    assert!(ok, "run -d: {err}");
    let out = b.run(&[
        "exec",
        "uns",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; mkdir /tmp/x || echo mkdir-denied; \
         grep -E '^Seccomp:' /proc/self/status; ulimit -n; ulimit -Hn",
    ]);
    assert!(out.status.success(), "{}", err_text(&out));
    let lines: Vec<String> = text(&out)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            "0",
            "0 300000 65536",
            "mkdir-denied",
            "Seccomp: 2",
            "777",
            "888"
        ],
        "{}",
        err_text(&out)
    );
    // The host sees the mapped uid.
    let pid_file = b.tmp.path().join("p");
    let (ok, err) = b.detached(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "uns",
        "sleep",
        "60",
    ]);
    assert!(ok, "{err}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.contains("300000"), "{uid}");

    // An LSM this host lacks is a clear error, not a silent no-op.
    if !Path::new("/sys/kernel/security/apparmor").exists() {
        let out = b.run(&["exec", "--apparmor", "some-profile", "uns", "true"]);
        assert_eq!(out.status.code(), Some(255));
        assert!(
            err_text(&out).contains("AppArmor is not enabled"),
            "{}",
            err_text(&out)
        );
    }
}

#[test]
fn update_flags_land_like_runcs() {
    require_root!();
    let b = running("upd-ours", |_| {});
    let Some(runc) = Runc::start(&b, "upd-runc") else {
        return;
    };
    let flags = [
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--memory-reservation",
        "32m",
        "--cpu-share",
        "512",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "20",
    ];
    let mut args = vec!["update"];
    args.extend(flags);
    let out = b.run(&[&args[..], &["upd-ours"]].concat());
    assert!(out.status.success(), "{}", err_text(&out));
    let theirs = runc.run(&[&args[..], &["upd-runc"]].concat());
    assert!(theirs.status.success(), "runc: {}", err_text(&theirs));

    let ours_cg = saved_state(&b, "upd-ours")["cgroup"].clone();
    let runc_state: Value =
        serde_json::from_slice(&std::fs::read(runc.root.join("upd-runc/state.json")).unwrap())
            .unwrap();
    let runc_cg = &runc_state["cgroup_paths"];
    let files = [
        ("memory", "memory.limit_in_bytes", "memory.max"),
        ("memory", "memory.memsw.limit_in_bytes", "memory.swap.max"),
        ("memory", "memory.soft_limit_in_bytes", "memory.low"),
        ("cpu", "cpu.shares", "cpu.weight"),
        ("cpu", "cpu.cfs_period_us", "cpu.max"),
        ("cpu", "cpu.cfs_quota_us", "cpu.max"),
        ("cpuset", "cpuset.cpus", "cpuset.cpus"),
        ("pids", "pids.max", "pids.max"),
    ];
    let mut compared = 0;
    for (controller, v1, v2) in files {
        let (ours, theirs) = match (
            ours_cg["v1"][controller].as_str(),
            runc_cg[controller].as_str(),
        ) {
            (Some(o), Some(t)) => (Path::new(o).join(v1), Path::new(t).join(v1)),
            _ => match (ours_cg["unified"].as_str(), runc_cg[""].as_str()) {
                (Some(o), Some(t)) => (Path::new(o).join(v2), Path::new(t).join(v2)),
                _ => continue,
            },
        };
        let (Ok(o), Ok(t)) = (
            std::fs::read_to_string(&ours),
            std::fs::read_to_string(&theirs),
        ) else {
            continue;
        };
        assert_eq!(o, t, "{} vs {}", ours.display(), theirs.display());
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} cgroup files compared");
}
