//! `POST /build` with the context compressed every way the Engine API takes it (plain, gzip,
//! bzip2, xz, zstd), sent by the Python `docker` SDK (`custom_context` with `encoding`, as a
//! program that packs its own context does; the docker CLI only sends plain or gzip),
//! `--cache-from` of a pulled image through the stock docker CLI, and a context larger than
//! `--build-context-memory` (its file contents spilled to disk).

mod common;

use common::*;
use std::process::Command;

/// docker-py sends each file as the context and prints one line per build: `tag ok|error text`.
const SEND: &str = r#"
import docker, sys
api = docker.APIClient(base_url="unix://" + sys.argv[1], version="auto")
for arg in sys.argv[2:]:
    tag, enc, path = arg.split(",")
    with open(path, "rb") as f:
        kw = {"encoding": enc} if enc != "plain" else {}
        try:
            out = list(api.build(fileobj=f, custom_context=True, tag=tag, decode=True, **kw))
        except docker.errors.APIError as e:
            # An error before the first step is the answer's status, as dockerd's.
            out = [{"error": "%d %s" % (e.status_code, e.explanation)}]
    err = [o["error"] for o in out if "error" in o]
    text = "".join(o.get("stream", "") for o in out)
    print(tag, "error " + err[0] if err else "ok " + str(text.count("Using cache")))
"#;

#[test]
fn contexts_in_every_compression_build_the_same_image() {
    skip_unless_ready!("contexts_in_every_compression_build_the_same_image");
    if Command::new("python3")
        .args(["-c", "import docker"])
        .status()
        .map_or(true, |s| !s.success())
    {
        println!(
            "skipped: contexts_in_every_compression_build_the_same_image: no python3 docker SDK"
        );
        return;
    }
    let tools = ["gzip", "bzip2", "xz", "zstd"];
    if let Some(t) = tools.iter().find(|t| {
        Command::new(t)
            .arg("--version")
            .output()
            .map_or(true, |o| !o.status.success())
    }) {
        println!("skipped: contexts_in_every_compression_build_the_same_image: no {t}");
        return;
    }
    let d = Berthd::start();
    d.import_busybox("busybox:latest");
    let ctx = tempfile::tempdir().unwrap();
    let src = ctx.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(
        src.join("Dockerfile"),
        "FROM busybox:latest\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n",
    )
    .unwrap();
    std::fs::write(src.join("hello.txt"), "hello from a packed context\n").unwrap();
    let tar = ctx.path().join("ctx.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-cf")
        .arg(&tar)
        .args(["Dockerfile", "hello.txt"])
        .status()
        .unwrap();
    assert!(st.success());
    let mut args = vec![
        "-c".to_string(),
        SEND.to_string(),
        d.sock.display().to_string(),
    ];
    args.push(format!("ctx:plain,plain,{}", tar.display()));
    for (tool, enc) in [
        ("gzip", "gzip"),
        ("bzip2", "bzip2"),
        ("xz", "xz"),
        ("zstd", "zstd"),
    ] {
        let out = Command::new(tool).arg("-c").arg(&tar).output().unwrap();
        assert!(out.status.success(), "{tool}");
        let p = ctx.path().join(format!("ctx.tar.{tool}"));
        std::fs::write(&p, &out.stdout).unwrap();
        args.push(format!("ctx:{tool},{enc},{}", p.display()));
    }
    let o = Command::new("python3").args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        d.log()
    );
    // The first build makes the COPY step; every other context has the same file, so the same
    // checksum: all from the cache, the same image.
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "ctx:plain ok 0",
            "ctx:gzip ok 2",
            "ctx:bzip2 ok 2",
            "ctx:xz ok 2",
            "ctx:zstd ok 2",
        ],
        "{}",
        d.log()
    );
    let ids: Vec<String> = ["plain", "gzip", "bzip2", "xz", "zstd"]
        .iter()
        .map(|t| d.ok(&["image", "inspect", "-f", "{{.Id}}", &format!("ctx:{t}")]))
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "ctx:xz"]),
        "hello from a packed context\n"
    );

    // Not a tar in any of them: a clear error in the stream, nothing built.
    let junk = ctx.path().join("junk.xz");
    std::fs::write(&junk, b"\xfd7zXZ\0 not really xz").unwrap();
    let o = Command::new("python3")
        .args([
            "-c",
            SEND,
            &d.sock.display().to_string(),
            &format!("ctx:junk,xz,{}", junk.display()),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.starts_with("ctx:junk error 500 "), "{text}");
    assert!(text.contains("unpacking the build context"), "{text}");
}

/// `docker build --cache-from` of an image pulled from a registry (no parent chain here): its
/// steps match by history, the result is the pulled image, nothing runs.
#[test]
fn cache_from_a_pulled_image_reuses_its_steps() {
    skip_unless_ready!("cache_from_a_pulled_image_reuses_its_steps");
    let d = Berthd::start();
    let Some(reg) = Registry::start(d.dir.path(), false) else {
        println!("skipped: cache_from_a_pulled_image_reuses_its_steps: docker-registry is missing");
        return;
    };
    d.import_busybox("busybox:latest");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:latest\nENV MODE=x\nCOPY app.txt /app/\nRUN echo built > /app/built\nCMD [\"cat\", \"/app/built\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("app.txt"), "app\n").unwrap();
    let c = ctx.path().to_str().unwrap();
    let name = format!("{}/app:1", reg.host);
    let build = |args: &[&str]| {
        let mut a = vec!["build", "--network", "none"];
        a.extend_from_slice(args);
        a.push(c);
        let o = d.docker(&a);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "{text}\n{}", d.log());
        text
    };
    build(&["-t", &name]);
    d.ok(&["push", &name]);
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", &name]);
    // Only busybox stays: the image and its intermediate images go, then it comes back by pull.
    d.ok(&["rmi", &name]);
    assert_eq!(d.ok(&["images", "-aq"]).lines().count(), 1);
    d.ok(&["pull", &name]);
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", &name]), id);

    // Without --cache-from the pulled image is no cache (no parent chain): the RUN runs.
    let out = build(&["-t", "plain:1"]);
    assert!(!out.contains("Using cache"), "{out}");
    assert!(out.contains("Running in"), "{out}");
    d.ok(&["rmi", "plain:1"]);

    let out = build(&["--cache-from", &name, "-t", "again:1"]);
    assert_eq!(out.matches("Using cache").count(), 4, "{out}");
    assert!(!out.contains("Running in"), "{out}");
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "again:1"]), id);
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "again:1"]),
        "built\n"
    );
}

/// A client that goes away mid-build (docker-py's `build()` left unread does this) stops the
/// build, as dockerd cancels it: no more RUN containers appear once the client is gone.
#[test]
fn a_build_stops_when_its_client_goes() {
    use std::io::Write;
    skip_unless_ready!("a_build_stops_when_its_client_goes");
    let d = Berthd::start();
    d.import_busybox("busybox:latest");
    let ctx = tempfile::tempdir().unwrap();
    let src = ctx.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let mut df = String::from("FROM busybox:latest\n");
    for i in 0..6 {
        df.push_str(&format!("RUN sleep 1 && echo step{i}\n"));
    }
    std::fs::write(src.join("Dockerfile"), df).unwrap();
    let tar = ctx.path().join("ctx.tar");
    let st = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let body = std::fs::read(&tar).unwrap();
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        s,
        "POST /build?rm=0 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    // Read until the first RUN step has started, then hang up.
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("Step 2/7") {
        let n = read_some(&mut s, &mut b).expect("read the build stream");
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&b[..n]);
    }
    drop(s);
    // Uncancelled, the six RUN steps would leave six containers (rm=0) within about 6 s.
    std::thread::sleep(std::time::Duration::from_secs(9));
    let ids = d.ok(&["ps", "-aq"]);
    let n = ids.lines().count();
    assert!(
        (1..=3).contains(&n),
        "{n} build containers after the client left (6 without cancelling)"
    );
}

/// A context whose files do not fit `--build-context-memory` builds as one that does: the files
/// past the budget are read back from the spill file, hashed the same (an unchanged rebuild is
/// all cache with the same ID, a changed file rebuilds from its COPY on), and nothing is left
/// under the data root.
#[test]
fn a_context_over_the_memory_budget_builds_and_caches_the_same() {
    skip_unless_ready!("a_context_over_the_memory_budget_builds_and_caches_the_same");
    let d = Berthd::start_with(&["--bridge", "none", "--build-context-memory", "4k"]);
    d.import_busybox("busybox:latest");
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    std::fs::create_dir(c.join("data")).unwrap();
    // 10 files of 1800 bytes: two fit the budget, the rest spill.
    let mut all = String::new();
    for i in 0..10 {
        let text: String = (0..100)
            .map(|l| format!("file {i} line {l:05}\n"))
            .collect();
        assert_eq!(text.len(), 1800);
        std::fs::write(c.join(format!("data/f{i}.txt")), &text).unwrap();
        all.push_str(&text);
    }
    std::fs::write(
        c.join("Dockerfile"),
        "FROM busybox:latest\nCOPY data /data\nRUN cat /data/* > /all\nCMD [\"cat\", \"/all\"]\n",
    )
    .unwrap();
    let dir = c.to_str().unwrap();
    let build = |tag: &str| {
        let o = d.docker_in(&["build", "--network", "none", "-t", tag, dir], None);
        let out =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{out}");
        out
    };
    build("spill:1");
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "spill:1"]);
    assert_eq!(d.ok(&["run", "--rm", "--network", "none", "spill:1"]), all);
    let out = build("spill:1");
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "spill:1"]), id);
    // A file past the budget changed: the COPY and what follows run again.
    std::fs::write(c.join("data/f9.txt"), "changed\n").unwrap();
    let out = build("spill:2");
    assert!(!out.contains("Using cache"), "{out}");
    let changed = all[..9 * 1800].to_string() + "changed\n";
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "spill:2"]),
        changed
    );
    // The spill file had no name; the build directories are gone.
    let left: Vec<_> = std::fs::read_dir(d.dir.path().join("data/build"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
