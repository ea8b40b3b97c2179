//! `docker build` (the CLI's classic /build path) end to end: a multi-stage Dockerfile with every
//! instruction, build args, a .dockerignore and ADD of a local tar; the image's config and what it
//! runs; the layer cache (an unchanged rebuild is all `Using cache` with the same ID, a changed file
//! rebuilds from its COPY on); `--target`; a failing RUN's message with nothing left behind; and the
//! intermediate images hidden from `docker images` and removed with the final image; an error found
//! before the first step (no Dockerfile, one that does not parse) is the answer's status, as
//! dockerd's, while one in a step comes in the stream.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS build
ARG GREETING=hello
RUN mkdir -p /out \
 && echo "$GREETING from build" > /out/built.txt
FROM busybox:latest AS final
LABEL org.test.kind=final
ENV APP_HOME=/app \
    MODE=${MODE:-prod}
WORKDIR $APP_HOME
COPY --from=build /out/built.txt ./
COPY app.txt ./
COPY . /ctx/
ADD data.tar /data/
COPY --chown=1000:1000 --chmod=600 app.txt /owned.txt
RUN ls /ctx > /app/listing
USER 1000
EXPOSE 8080/tcp 53/udp
VOLUME /vol
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD cat /app/app.txt
STOPSIGNAL SIGUSR1
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/built.txt /app/app.txt /data/inside.txt"]
"#;

fn context(dir: &Path) {
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("app.txt"), "app v1\n").unwrap();
    std::fs::write(dir.join("secret.txt"), "do not send\n").unwrap();
    std::fs::write(dir.join("debug.log"), "noise\n").unwrap();
    std::fs::write(dir.join(".dockerignore"), "secret.txt\n*.log\n").unwrap();
    let t = dir.join("tarsrc");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("inside.txt"), "inside the tar\n").unwrap();
    let st = Command::new("tar")
        .arg("-C")
        .arg(&t)
        .arg("-cf")
        .arg(dir.join("data.tar"))
        .arg("inside.txt")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir_all(&t).unwrap();
}

fn build(d: &Berthd, args: &[&str]) -> (bool, String) {
    let mut a = vec!["build"];
    a.extend_from_slice(args);
    let o = d.docker(&a);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn inspect(d: &Berthd, what: &str) -> Value {
    serde_json::from_str::<Value>(&d.ok(&["image", "inspect", what])).unwrap()[0].clone()
}

#[test]
fn multi_stage_build_config_cache_and_target() {
    skip_unless_ready!("multi_stage_build_config_cache_and_target");
    let d = Berthd::start();
    d.import_busybox("busybox:latest");
    let ctx = tempfile::tempdir().unwrap();
    context(ctx.path());
    let c = ctx.path().to_str().unwrap();

    let (ok, out) = build(
        &d,
        &[
            "-t",
            "built:1",
            "-t",
            "built:alt",
            "--build-arg",
            "GREETING=hi",
            c,
        ],
    );
    assert!(ok, "{out}\n{}", d.log());
    assert!(out.contains("Step 1/23 : ARG BASE=busybox"), "{out}");
    assert!(out.contains("Step 4/23 : RUN mkdir -p /out"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("Removing intermediate container "), "{out}");
    // A metadata step runs nothing but is committed from a container, as dockerd 20.10 prints.
    let label: Vec<&str> = out
        .split("Step 6/23 : LABEL org.test.kind=final\n")
        .nth(1)
        .unwrap()
        .lines()
        .take(3)
        .collect();
    assert!(label[0].starts_with(" ---> Running in "), "{out}");
    assert_eq!(
        label[1],
        format!("Removing intermediate container {}", &label[0][17..]),
        "{out}"
    );
    assert!(label[2].starts_with(" ---> "), "{out}");
    assert!(
        out.contains("Successfully tagged built:1\nSuccessfully tagged built:alt"),
        "{out}"
    );
    let id = inspect(&d, "built:1")["Id"].as_str().unwrap().to_string();
    assert!(
        out.contains(&format!("Successfully built {}", &id[7..19])),
        "{out}"
    );
    assert_eq!(inspect(&d, "built:alt")["Id"], id.as_str());

    // The image runs, with the other stage's file, the context's and the tar's contents.
    let ran = d.ok(&["run", "--rm", "--network", "none", "built:1"]);
    assert_eq!(ran, "hi from build\napp v1\ninside the tar\n");
    let ls = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "built:1",
        "cat /app/listing; /bin/busybox stat -c '%u:%g %a' /owned.txt; id -u",
    ]);
    // .dockerignore kept secret.txt and debug.log out of the context (the CLI filters too).
    assert_eq!(ls, "Dockerfile\napp.txt\ndata.tar\n1000:1000 600\n1000\n");

    let cfg = &inspect(&d, "built:1")["Config"];
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!(["cat /app/built.txt /app/app.txt /data/inside.txt"])
    );
    let env: Vec<&str> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"APP_HOME=/app") && env.contains(&"MODE=prod"),
        "{env:?}"
    );
    assert!(
        !env.iter().any(|e| e.starts_with("GREETING")),
        "build args stay out of Env"
    );
    assert_eq!(
        cfg["ExposedPorts"],
        serde_json::json!({"53/udp": {}, "8080/tcp": {}})
    );
    assert_eq!(cfg["Labels"], serde_json::json!({"org.test.kind": "final"}));
    assert_eq!(cfg["User"], "1000");
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["StopSignal"], "SIGUSR1");
    assert_eq!(cfg["Volumes"], serde_json::json!({"/vol": {}}));
    assert_eq!(cfg["OnBuild"], serde_json::json!(["RUN echo triggered"]));
    assert_eq!(
        cfg["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "cat /app/app.txt"], "Interval": 30_000_000_000i64, "Timeout": 5_000_000_000i64, "Retries": 3})
    );

    // Intermediate images: hidden from `docker images` (but the `build` stage's result, untagged
    // and without children, shows as <none> as with dockerd), listed with -a.
    let shown = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut shown: Vec<&str> = shown.lines().collect();
    shown.sort();
    assert_eq!(
        shown,
        ["<none>:<none>", "built:1", "built:alt", "busybox:latest"]
    );
    let all = d.ok(&["images", "-aq"]);
    assert!(all.lines().count() > 20, "{all}");

    // An unchanged rebuild: every step from the cache, the same ID, no container run, and no
    // file written (the context stays in memory; a build directory made and removed would change
    // the mtime of <data-root>/build).
    let builds = d.dir.path().join("data/build");
    let seen = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let before = seen(&builds);
    let (ok, out) = build(&d, &["-t", "built:1", "--build-arg", "GREETING=hi", c]);
    assert!(ok, "{out}");
    assert_eq!(out.matches(" ---> Using cache").count(), 20, "{out}");
    assert!(!out.contains("Running in"), "{out}");
    assert_eq!(inspect(&d, "built:1")["Id"], id.as_str());
    assert_eq!(
        seen(&builds),
        before,
        "a cached rebuild wrote under {builds:?}"
    );

    // A changed file rebuilds from its COPY on; the steps before stay cached.
    std::fs::write(ctx.path().join("app.txt"), "app v2\n").unwrap();
    let (ok, out) = build(&d, &["-t", "built:2", "--build-arg", "GREETING=hi", c]);
    assert!(ok, "{out}");
    let (before, after) = out.split_once("COPY app.txt ./").unwrap();
    assert_eq!(before.matches("Using cache").count(), 6, "{out}");
    assert!(!after.contains("Using cache"), "{out}");
    let id2 = inspect(&d, "built:2")["Id"].as_str().unwrap().to_string();
    assert_ne!(id2, id);
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "built:2"]),
        "hi from build\napp v2\ninside the tar\n"
    );

    // --target stops at the named stage.
    let (ok, out) = build(&d, &["-t", "stage:build", "--target", "build", c]);
    assert!(ok, "{out}");
    assert!(out.contains("Step 4/4 : RUN"), "{out}");
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "stage:build",
            "cat",
            "/out/built.txt"
        ]),
        "hello from build\n"
    );

    // Removing the final image takes its now unused intermediate images along.
    let before = d.ok(&["images", "-aq"]).lines().count();
    let out = d.ok(&["rmi", "built:2"]);
    assert!(out.matches("Deleted:").count() > 1, "{out}");
    assert!(d.ok(&["images", "-aq"]).lines().count() < before);
    assert!(
        d.ok(&["ps", "-aq"]).trim().is_empty(),
        "no build container left"
    );
}

#[test]
fn failing_run_fails_with_dockers_message_and_leaves_nothing() {
    skip_unless_ready!("failing_run_fails_with_dockers_message_and_leaves_nothing");
    let d = Berthd::start();
    d.import_busybox("busybox:latest");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo partial > /x\nRUN echo about to fail && exit 3\nCMD [\"true\"]\n",
    )
    .unwrap();
    let (ok, out) = build(&d, &["-t", "broken", ctx.path().to_str().unwrap()]);
    assert!(!ok, "{out}\n{}", d.log());
    assert!(
        out.contains("about to fail"),
        "the step output is shown: {out}\n{}",
        d.log()
    );
    assert!(
        out.contains(
            "The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3"
        ),
        "{out}"
    );
    assert!(!out.contains("Step 4/4"), "{out}");
    assert!(d.ok(&["ps", "-aq"]).trim().is_empty(), "no container left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = d.dir.path().to_str().unwrap();
    assert!(!mounts.contains(root), "no mount left under {root}");
    assert!(d.docker(&["image", "inspect", "broken"]).status.code() != Some(0));

    // Errors the builder finds in the Dockerfile come in the stream too.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN <<EOF\necho\nEOF\n",
    )
    .unwrap();
    let (ok, out) = build(&d, &[ctx.path().to_str().unwrap()]);
    assert!(!ok && out.contains("heredoc"), "{out}");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nADD https://example.com/x.tgz /\n",
    )
    .unwrap();
    let (ok, out) = build(&d, &[ctx.path().to_str().unwrap()]);
    assert!(
        !ok && out.contains("does not download remote files"),
        "{out}"
    );
    let (ok, out) = build(&d, &["--squash", ctx.path().to_str().unwrap()]);
    assert!(!ok, "{out}");
}

fn compose_build(d: &Berthd, compose: &[&str], project: &str, env: &[(&str, &str)]) {
    let dir = d.dir.path().join(project);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nARG MSG=unset\nRUN echo \"$MSG\" > /msg\nCMD [\"sh\", \"-c\", \"cat /msg; exec sleep 1000\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            r#"version: "3.4"
services:
  app:
    build:
      context: .
      args:
        MSG: built-by-{project}
    image: {project}-img:v1
    network_mode: none
"#
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(compose[0])
            .args(&compose[1..])
            .args(["-p", project])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .envs(env.iter().copied())
            .output()
            .expect("compose");
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "compose {args:?}: {out}\n{}", d.log());
        out
    };
    run(&["up", "-d", "--build"]);
    let out = run(&["exec", "-T", "app", "cat", "/msg"]);
    assert_eq!(out.trim(), format!("built-by-{project}"));
    let img = inspect(d, &format!("{project}-img:v1"));
    assert_eq!(
        img["Config"]["Cmd"],
        serde_json::json!(["sh", "-c", "cat /msg; exec sleep 1000"])
    );
    run(&["down", "-t", "0"]);
    assert!(d.ok(&["ps", "-aq"]).trim().is_empty());
}

/// Compose v1 (Debian's docker-compose) and v2 (the CLI plugin; classic builder with
/// DOCKER_BUILDKIT=0) build a service with `build:` and build args, and start it.
#[test]
fn compose_v1_and_v2_build_and_start_a_service() {
    skip_unless_ready!("compose_v1_and_v2_build_and_start_a_service");
    let d = Berthd::start();
    d.import_busybox("busybox:latest");
    if Path::new("/usr/bin/docker-compose").is_file() {
        compose_build(&d, &["/usr/bin/docker-compose"], "cv1", &[]);
    } else {
        println!("skipped: compose v1: /usr/bin/docker-compose is missing");
    }
    let v2 = [
        std::env::var("BERTH_TEST_COMPOSE2").unwrap_or_default(),
        "/usr/local/lib/docker/cli-plugins/docker-compose".into(),
        "/usr/lib/docker/cli-plugins/docker-compose".into(),
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file());
    match v2 {
        Some(p) => compose_build(&d, &[&p], "cv2", &[("DOCKER_BUILDKIT", "0")]),
        None => println!(
            "skipped: compose v2: no Compose v2 plugin (scripts/compose-v2.sh installs it)"
        ),
    }
}

/// The build cache in `docker system df` and `docker builder prune`: steps no tagged image
/// descends from go, the ones the current image is made of stay (its rebuild is still cached).
#[test]
fn build_cache_in_system_df_and_builder_prune() {
    skip_unless_ready!("build_cache_in_system_df_and_builder_prune");
    let d = Berthd::start();
    d.import_busybox("busybox:latest");
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path().to_str().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY a.txt /\nRUN cat /a.txt > /b.txt\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("a.txt"), "one\n").unwrap();
    assert!(build(&d, &["-t", "cached", c]).0);
    std::fs::write(ctx.path().join("a.txt"), "two\n").unwrap();
    assert!(build(&d, &["-t", "cached", c]).0);
    let df = d.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.contains("Build Cache 3"), "{df}");
    let out = d.ok(&["builder", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    let df = d.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(
        df.contains("Build Cache 1"),
        "the current image's COPY step stays: {df}"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "cached",
            "cat",
            "/b.txt"
        ]),
        "two\n"
    );
    let (ok, out) = build(&d, &["-t", "cached", c]);
    assert!(ok && out.matches("Using cache").count() == 2, "{out}");
}

/// The same context built by a private dockerd's classic builder (DOCKER_BUILDKIT=0) gives the
/// same image config (dockerd 20.10's classic builder has no `COPY --chmod`: left out here).
#[test]
fn config_matches_dockerds_classic_builder() {
    skip_unless_ready!("config_matches_dockerds_classic_builder");
    if Command::new("dockerd").arg("--version").output().is_err() {
        println!("skipped: config_matches_dockerds_classic_builder: no dockerd");
        return;
    }
    let d = Berthd::start();
    d.import_busybox("busybox:latest");
    let ctx = tempfile::tempdir().unwrap();
    context(ctx.path());
    let df = DOCKERFILE.replace("--chmod=600 ", "");
    std::fs::write(ctx.path().join("Dockerfile"), &df).unwrap();
    let c = ctx.path().to_str().unwrap();
    let dir = d.dir.path().join("dockerd");
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("docker.sock");
    let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
    let mut child = Command::new("dockerd")
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("docker.pid"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args([
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--storage-driver=vfs",
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let docker = |args: &[&str]| {
        Command::new(docker_cli().unwrap())
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .env("DOCKER_CONFIG", dir.join("cfg"))
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap()
    };
    let t = std::time::Instant::now();
    while !docker(&["version"]).status.success() {
        assert!(t.elapsed().as_secs() < 60, "dockerd did not start");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let rootfs_tar = d.dir.path().join("rootfs.tar");
    let res = std::panic::catch_unwind(|| {
        assert!(
            docker(&["import", rootfs_tar.to_str().unwrap(), "busybox:latest"])
                .status
                .success()
        );
        let o = docker(&[
            "build",
            "--network",
            "none",
            "-t",
            "ref:1",
            "--build-arg",
            "GREETING=hi",
            c,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let theirs: Value =
            serde_json::from_slice(&docker(&["image", "inspect", "ref:1"]).stdout).unwrap();
        let (ok, out) = build(
            &d,
            &[
                "--network",
                "none",
                "-t",
                "ours:1",
                "--build-arg",
                "GREETING=hi",
                c,
            ],
        );
        assert!(ok, "{out}");
        let ours = inspect(&d, "ours:1");
        for k in [
            "Entrypoint",
            "Cmd",
            "Env",
            "ExposedPorts",
            "Labels",
            "User",
            "WorkingDir",
            "StopSignal",
            "Healthcheck",
            "Volumes",
            "OnBuild",
        ] {
            assert_eq!(ours["Config"][k], theirs[0]["Config"][k], "Config.{k}");
        }
        // The metadata steps' history reads as dockerd's (`#(nop)  CMD ["a" "b"]`, `SHELL
        // [/bin/sh -c]`, `EXPOSE` as written); HEALTHCHECK's Go struct dump aside.
        let nop = |out: &[u8]| -> Vec<String> {
            String::from_utf8_lossy(out)
                .lines()
                .filter(|l| l.contains("#(nop)") && !l.contains("HEALTHCHECK"))
                .filter(|l| !l.contains(" COPY ") && !l.contains(" ADD "))
                .map(str::to_string)
                .collect()
        };
        let fmt = ["history", "--no-trunc", "--format", "{{.CreatedBy}}"];
        let theirs_h = nop(&docker(&[&fmt[..], &["ref:1"]].concat()).stdout);
        let ours_h = nop(d.ok(&[&fmt[..], &["ours:1"]].concat()).as_bytes());
        assert!(!theirs_h.is_empty());
        assert_eq!(ours_h, theirs_h);
        let run = |img: &str, theirs: bool| {
            let args = ["run", "--rm", "--network", "none", img];
            let o = if theirs {
                docker(&args)
            } else {
                d.docker(&args)
            };
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        assert_eq!(run("ours:1", false), run("ref:1", true));
    });
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "grep ' {0}' /proc/self/mountinfo | awk '{{print $5}}' | sort -r | xargs -r umount -l",
            dir.display()
        ))
        .status();
    if let Err(e) = res {
        std::panic::resume_unwind(e);
    }
}

/// `POST /build` with the files as a tar context (`q=1` with `quiet`): (status, body).
fn post_build(d: &Berthd, files: &[(&str, &str)], quiet: bool) -> (u16, String) {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let o = Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(o.status.success());
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    let q = if quiet { "&q=1" } else { "" };
    let mut req = format!(
        "POST /v1.41/build?t=early{q} HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        o.stdout.len()
    )
    .into_bytes();
    req.extend_from_slice(&o.stdout);
    s.write_all(&req).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

#[test]
fn errors_before_the_first_step_are_the_status() {
    skip_unless_ready!("errors_before_the_first_step_are_the_status");
    let d = Berthd::start();
    d.import_busybox("busybox:latest");
    // docker-py's regression test 443: an empty context raises APIError from build().
    let (st, body) = post_build(&d, &[("other", "x")], false);
    assert_eq!(st, 500, "{body}");
    assert!(
        body.contains(r#""message":"Cannot locate specified Dockerfile: Dockerfile""#),
        "{body}"
    );
    let (st, body) = post_build(&d, &[("Dockerfile", "FOO bar\n")], false);
    assert_eq!(st, 400, "{body}");
    assert!(
        body.contains("dockerfile parse error line 1: unknown instruction: FOO"),
        "{body}"
    );
    // Once a step has begun, a failure comes in the 200 stream, quiet or not.
    let failing = [("Dockerfile", "FROM busybox\nCOPY nothere /\n")];
    for quiet in [false, true] {
        let (st, body) = post_build(&d, &failing, quiet);
        assert_eq!(st, 200, "quiet {quiet}: {body}");
        assert!(
            body.contains(r#""error":"COPY failed"#),
            "quiet {quiet}: {body}"
        );
    }
    let (st, body) = post_build(&d, &[("Dockerfile", "FROM busybox\n")], true);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains(r#"{"aux":{"ID":"sha256:"#), "{body}");
}
