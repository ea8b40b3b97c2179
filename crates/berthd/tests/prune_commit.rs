//! End-to-end tests of the image-side endpoints the Python SDK reaches: prune filters (containers and
//! images) with the space reclaimed, commit metadata, image sizes as dockerd reports them, load
//! errors in the stream, and `/distribution/{name}/json` against a local registry.

mod common;

use common::*;
use serde_json::Value;

fn inspect(d: &Berthd, what: &str) -> Value {
    let out = d.ok(&["inspect", what]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

fn prune(d: &Berthd, what: &str, filters: &str) -> Value {
    let q = form_urlencoded::byte_serialize(filters.as_bytes()).collect::<String>();
    let (st, body) = d.http("POST", &format!("/v1.47/{what}/prune?filters={q}"), None);
    assert_eq!(st, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn prune_filters_and_reclaimed_space() {
    skip_unless_ready!("prune_filters_and_reclaimed_space");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let mk = |name: &str, label: Option<&str>| -> String {
        let mut args = vec!["run", "--name", name, "--network", "none"];
        if let Some(l) = label {
            args.extend(["--label", l]);
        }
        args.extend([
            "bb:1",
            "sh",
            "-c",
            "busybox head -c 100000 /bin/busybox > /blob",
        ]);
        d.ok(&args);
        inspect(&d, name)["Id"].as_str().unwrap().to_string()
    };
    let keep = mk("keep", Some("tier=keep"));
    let other = mk("other", Some("tier=other"));
    let plain = mk("plain", None);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "up",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "60",
    ]);

    // until: nothing is older than an hour.
    let r = prune(&d, "containers", r#"{"until":["1h"]}"#);
    assert!(ids(&r, "ContainersDeleted").is_empty(), "{r}");
    let (st, body) = d.http(
        "POST",
        "/containers/prune?filters=%7B%22until%22%3A%5B%22soon%22%5D%7D",
        None,
    );
    assert_eq!(st, 400, "{body}");
    // label!: everything stopped except tier=keep.
    let r = prune(&d, "containers", r#"{"label!":["tier=keep"]}"#);
    let mut got = ids(&r, "ContainersDeleted");
    got.sort();
    let mut want = vec![other, plain];
    want.sort();
    assert_eq!(got, want, "{r}");
    assert!(r["SpaceReclaimed"].as_u64().unwrap() >= 200_000, "{r}");
    // label: only matching ones; the running one never.
    let r = prune(&d, "containers", r#"{"label":["tier"]}"#);
    assert_eq!(ids(&r, "ContainersDeleted"), vec![keep], "{r}");
    assert_eq!(d.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "up");

    // Images: committed ones with labels; dangling=false prunes unused tagged images too.
    for (name, label) in [("img-a:1", "keep=no"), ("img-b:1", "keep=yes")] {
        d.ok(&[
            "run",
            "--name",
            "src",
            "--network",
            "none",
            "bb:1",
            "sh",
            "-c",
            // Contents of its own: a layer the other image does not share.
            &format!("busybox head -c 50000 /bin/busybox > /f && echo {label} >> /f"),
        ]);
        d.ok(&["commit", "-c", &format!("LABEL {label}"), "src", name]);
        d.ok(&["rm", "src"]);
    }
    let r = prune(
        &d,
        "images",
        r#"{"dangling":["false"],"label!":["keep=yes"],"until":["1h"]}"#,
    );
    assert!(
        r["ImagesDeleted"].is_null(),
        "until=1h keeps new images: {r}"
    );
    let r = prune(
        &d,
        "images",
        r#"{"dangling":["false"],"label!":["keep=yes"]}"#,
    );
    let untagged: Vec<&str> = r["ImagesDeleted"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["Untagged"].as_str())
        .collect();
    assert_eq!(untagged, vec!["img-a:1"], "{r}");
    assert!(r["SpaceReclaimed"].as_u64().unwrap() > 0, "{r}");
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.contains("img-b:1") && images.contains("bb:1") && !images.contains("img-a"),
        "{images}"
    );
}

#[test]
fn commit_records_what_docker_records() {
    skip_unless_ready!("commit_records_what_docker_records");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "run",
        "--name",
        "cc",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "--network",
        "none",
        "bb:1",
        "busybox",
        "touch",
        "/test",
    ]);
    let cid = inspect(&d, "cc")["Id"].as_str().unwrap().to_string();
    d.ok(&[
        "commit",
        "-a",
        "Ann <ann@example.com>",
        "-m",
        "a message",
        "-c",
        "EXPOSE 8000",
        "-c",
        "CMD [\"cat\", \"/test\"]",
        "cc",
        "made:1",
    ]);
    let img = inspect(&d, "made:1");
    assert_eq!(img["Author"], "Ann <ann@example.com>");
    assert_eq!(img["Comment"], "a message");
    assert_eq!(img["Container"], cid.as_str());
    assert_eq!(img["ContainerConfig"]["Image"], "bb:1");
    assert_eq!(img["Parent"], inspect(&d, "bb:1")["Id"]);
    assert!(
        img["Config"]["ExposedPorts"]["8000/tcp"].is_object(),
        "{img}"
    );
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["cat", "/test"]));
    // The container's own config is the image's: its env and working directory come along.
    let env = img["Config"]["Env"].as_array().unwrap();
    assert!(env.iter().any(|e| e == "FOO=bar"), "{env:?}");
    assert_eq!(img["Config"]["WorkingDir"], "/tmp");
    assert_eq!(d.ok(&["run", "--rm", "--network", "none", "made:1"]), "");
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "made:1",
            "sh",
            "-c",
            "echo $FOO; pwd"
        ]),
        "bar\n/tmp\n"
    );

    // A running container is paused while it is committed, and runs on after.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "60",
    ]);
    d.ok(&["commit", "live", "live:1"]);
    let st = inspect(&d, "live")["State"].clone();
    assert_eq!(
        (st["Running"].as_bool(), st["Paused"].as_bool()),
        (Some(true), Some(false))
    );
}

/// What dockerd's size of an unpacked layer directory is: the bytes of everything but directories
/// (a symbolic link's target's length), walked here by hand.
fn unpacked_size(dir: &std::path::Path) -> i64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let md = p.symlink_metadata().unwrap();
        total += if md.is_dir() {
            unpacked_size(&p)
        } else {
            md.len() as i64
        };
    }
    total
}

/// The CLI's size (`units.HumanSizeWithPrecision(n, 3)`): three significant digits, decimal units.
fn human(n: i64) -> String {
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < 4 {
        v /= 1000.0;
        unit += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}{}", ["B", "kB", "MB", "GB", "TB"][unit])
}

/// Image sizes are the layers' unpacked sizes, as dockerd reports them (not the gzip blobs
/// berthd stores): `images`, `image inspect`, `history`, `system df`; and image times are to the
/// nanosecond, so two commits of one container in a row are two images.
#[test]
fn image_sizes_are_unpacked_and_commits_in_a_row_differ() {
    skip_unless_ready!("image_sizes_are_unpacked_and_commits_in_a_row_differ");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let base = unpacked_size(&d.dir.path().join("rootfs"));
    assert!(base > 1_000_000, "{base}");
    let size = |name: &str| -> i64 {
        d.ok(&["image", "inspect", "-f", "{{.Size}}", name])
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(size("bb:1"), base);
    assert_eq!(
        d.ok(&["images", "--format", "{{.Size}}", "bb:1"]).trim(),
        human(base)
    );
    assert_eq!(
        d.ok(&["history", "--format", "{{.Size}}", "bb:1"]).trim(),
        human(base)
    );

    let target = "/a/long/target/of/a/link";
    d.ok(&[
        "run",
        "--name",
        "ww",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        &format!(
            "echo 12345678 > /f; busybox mkdir /d; echo abc > /d/g; busybox ln -s {target} /l"
        ),
    ]);
    let layer = (9 + 4 + target.len()) as i64;
    let first = d.ok(&["commit", "ww", "snap:1"]);
    let second = d.ok(&["commit", "ww", "snap:2"]);
    assert_ne!(first.trim(), second.trim(), "two commits, two images");
    let created = d.ok(&["image", "inspect", "-f", "{{.Created}}", "snap:1"]);
    assert!(created.trim().contains('.'), "no fraction in {created}");
    assert_eq!(size("snap:1"), base + layer);
    assert_eq!(
        d.ok(&["history", "--format", "{{.Size}}", "snap:1"])
            .lines()
            .collect::<Vec<_>>(),
        [format!("{layer}B"), human(base)]
    );
    // Newest first, each after bb:1 though made in the same second.
    assert_eq!(
        d.ok(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            "since=bb:1"
        ]),
        "snap:2\nsnap:1\n"
    );
    // `VirtualSize` is `Size` where the API still has it (before 1.44, so dockerd 20.10's 1.41).
    for (v, want) in [("1.41", Some(base)), ("1.47", None)] {
        let (st, body) = d.http("GET", &format!("/v{v}/images/bb:1/json"), None);
        assert_eq!(st, 200, "{body}");
        let img: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(img["VirtualSize"].as_i64(), want, "API {v}");
        assert_eq!(img["Size"].as_i64(), Some(base), "API {v}");
    }
    // Every layer once; bb:1's layer is in all three images, the commits' in two.
    let (st, body) = d.http("GET", "/v1.47/system/df", None);
    assert_eq!(st, 200, "{body}");
    let df: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(df["LayersSize"], base + layer);
    for img in df["Images"].as_array().unwrap() {
        let (want, shared) = if img["RepoTags"][0] == "bb:1" {
            (base, base)
        } else {
            (base + layer, base + layer)
        };
        assert_eq!(
            (img["Size"].as_i64(), img["SharedSize"].as_i64()),
            (Some(want), Some(shared)),
            "{img}"
        );
    }
    d.ok(&["rm", "ww"]);

    // Pulled into a daemon that has none of its layers: the same sizes.
    let Some(reg) = Registry::start(d.dir.path(), false) else {
        println!("skipped: the pull part of image_sizes_are_unpacked_and_commits_in_a_row_differ: docker-registry is missing");
        return;
    };
    let name = format!("{}/snap:1", reg.host);
    d.ok(&["tag", "snap:1", &name]);
    d.ok(&["push", &name]);
    let other = Berthd::start();
    other.ok(&["pull", &name]);
    assert_eq!(
        other
            .ok(&["image", "inspect", "-f", "{{.Size}}", &name])
            .trim(),
        (base + layer).to_string()
    );
    assert_eq!(
        other
            .ok(&["history", "--format", "{{.Size}}", &name])
            .lines()
            .collect::<Vec<_>>(),
        [format!("{layer}B"), human(base)]
    );
}

#[test]
fn load_errors_come_in_the_stream() {
    skip_unless_ready!("load_errors_come_in_the_stream");
    let d = Berthd::start();
    let (st, body) = d.http("POST", "/v1.47/images/load", Some("abc"));
    assert_eq!(st, 200);
    let v: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    assert_eq!(v["errorDetail"]["message"], v["error"]);
    let o = d.docker_in(&["load"], Some(b"abc"));
    assert!(!o.status.success(), "docker load of garbage succeeded");
    assert_eq!(d.ok(&["images", "-q"]), "");
}

#[test]
fn distribution_inspect_against_a_local_registry() {
    skip_unless_ready!("distribution_inspect_against_a_local_registry");
    let d = Berthd::start();
    let Some(reg) = Registry::start(d.dir.path(), false) else {
        println!(
            "skipped: distribution_inspect_against_a_local_registry: docker-registry is missing"
        );
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
    let (st, body) = d.http("GET", &format!("/v1.47/distribution/{name}/json"), None);
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Descriptor"]["digest"], digest.as_str());
    assert!(v["Descriptor"]["size"].as_u64().unwrap() > 0);
    assert_eq!(
        v["Platforms"],
        serde_json::json!([{"architecture": "amd64", "os": "linux"}])
    );
    let (st, body) = d.http(
        "GET",
        &format!("/v1.47/distribution/{}/nope:1/json", reg.host),
        None,
    );
    assert_eq!(st, 404, "{body}");
}

/// Reclaimed space as dockerd counts it: the unpacked size of the layers no image keeps (files once
/// per inode, symlinks their target's length), not image configs or compressed blobs; those
/// layers are listed as `Deleted` after the images, by `image prune` and `rmi` alike. Container
/// and volume prune count the same way.
#[test]
fn reclaimed_space_counts_released_layers_as_dockerd() {
    skip_unless_ready!("reclaimed_space_counts_released_layers_as_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    // A dangling image whose only layer bb:1 keeps (the same tar imported again): the image goes,
    // nothing is reclaimed.
    let tar = d.dir.path().join("rootfs.tar");
    d.ok(&["import", tar.to_str().unwrap(), "bb:1"]);
    let r = prune(&d, "images", "{}");
    assert_eq!(r["ImagesDeleted"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["SpaceReclaimed"], 0, "{r}");

    // A dangling image with a layer of its own: 6 + 4 bytes (the hard link once).
    let write = "echo hello > /hello && mkdir /dd && echo abc > /dd/f && ln /hello /hl";
    d.ok(&[
        "run",
        "--name",
        "c1",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        write,
    ]);
    d.ok(&["commit", "c1", "mine:1"]);
    d.ok(&["rm", "c1"]);
    d.ok(&["tag", "bb:1", "mine:1"]);
    let r = prune(&d, "images", "{}");
    let deleted: Vec<&Value> = r["ImagesDeleted"].as_array().unwrap().iter().collect();
    assert_eq!(deleted.len(), 2, "the image and its layer: {r}");
    assert_eq!(r["SpaceReclaimed"], 10, "{r}");

    d.ok(&[
        "run",
        "--name",
        "c2",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        write,
    ]);
    d.ok(&["commit", "c2", "mine:2"]);
    let out = d.ok(&["rmi", "mine:2"]);
    assert_eq!(
        out.lines().count(),
        3,
        "untagged, the image, its layer: {out}"
    );
    let r = prune(&d, "containers", "{}");
    assert_eq!(r["SpaceReclaimed"], 10, "{r}");

    // A build's image and its intermediate one: each image's layer right after it.
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb:1\nRUN echo hi > /x\nRUN echo there > /y\n",
    )
    .unwrap();
    d.ok(&["build", "-q", "-t", "chain:1", ctx.to_str().unwrap()]);
    let images = d.ok(&["history", "-q", "--no-trunc", "chain:1"]);
    let images: Vec<&str> = images.lines().take(2).collect();
    let out = d.ok(&["rmi", "chain:1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], "Untagged: chain:1");
    assert_eq!(lines[1], format!("Deleted: {}", images[0]), "{out}");
    assert_eq!(lines[3], format!("Deleted: {}", images[1]), "{out}");
    for l in [lines[2], lines[4]] {
        assert!(
            l.starts_with("Deleted: sha256:") && !images.iter().any(|i| l.ends_with(i)),
            "{out}"
        );
    }

    d.ok(&["volume", "create", "v1"]);
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "v1:/v",
        "bb:1",
        "sh",
        "-c",
        "echo 12345 > /v/a && ln -s a /v/s && ln /v/a /v/b",
    ]);
    let r = prune(&d, "volumes", r#"{"all":["true"]}"#);
    assert_eq!(r["SpaceReclaimed"], 7, "{r}");
}

/// Image inspect leaves out what dockerd omits when empty: `Variant`, and `ExposedPorts` and
/// `StopSignal` of its Config (they showed as null).
#[test]
fn image_inspect_omits_empty_fields_as_dockerd() {
    skip_unless_ready!("image_inspect_omits_empty_fields_as_dockerd");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let v = inspect(&d, "bb:1");
    let o = v.as_object().unwrap();
    assert!(!o.contains_key("Variant"), "{v}");
    let c = v["Config"].as_object().unwrap();
    assert!(
        !c.contains_key("ExposedPorts") && !c.contains_key("StopSignal"),
        "{v}"
    );
    // A built image's ContainerConfig has every key dockerd shows, not only those the step set.
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM bb:1\nCMD [\"sh\"]\n").unwrap();
    d.ok(&["build", "-q", "-t", "built:1", ctx.to_str().unwrap()]);
    let v = inspect(&d, "built:1");
    let cc = v["ContainerConfig"].as_object().unwrap();
    for k in [
        "Hostname",
        "AttachStdin",
        "Tty",
        "Image",
        "Volumes",
        "WorkingDir",
        "Entrypoint",
        "OnBuild",
    ] {
        assert!(cc.contains_key(k), "{k}: {v}");
    }
}
