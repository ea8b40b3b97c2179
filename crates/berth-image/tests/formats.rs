//! Round trips with tools Berth did not write: skopeo reads Berth's OCI layouts and docker archives with the
//! same digests, and an umoci-built layout, turned into a docker archive by skopeo, loads into Berth.

mod common;

use berth_image::archive::{export_docker_archive, import_docker_archive};
use berth_image::extract::ExtractOptions;
use berth_image::image::{flatten, import_rootfs, lookup, resolve};
use berth_image::layout::{export_oci_layout, import_oci_layout};
use berth_image::transfer::{DirSink, Source, TarSink};
use berth_image::{Digest, Reference, Store};
use common::run;
use std::fs;
use std::process::Command;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("tool printed JSON")
}

fn sample_store(t: &std::path::Path) -> Store {
    let store = Store::open(t.join("store")).unwrap();
    let tar = common::busybox_rootfs(100_000, 1);
    import_rootfs(
        &store,
        &common::gzip(&tar)[..],
        "berth.test/busybox:1",
        &["CMD [\"sh\"]".into(), "ENV A=b".into()],
    )
    .unwrap();
    store
}

#[test]
fn skopeo_reads_berth_oci_layout_with_same_digests() {
    let Some(tools) = common::need(
        "skopeo_reads_berth_oci_layout_with_same_digests",
        &["skopeo"],
    ) else {
        return;
    };
    let skopeo = &tools[0];
    let t = tempfile::tempdir().unwrap();
    let store = sample_store(t.path());
    let rec = lookup(&store, "berth.test/busybox:1").unwrap();
    let dir = t.path().join("layout");
    export_oci_layout(&store, &["berth.test/busybox:1"], &mut DirSink(dir.clone())).unwrap();
    let raw = run(Command::new(skopeo)
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:1", dir.display())));
    assert_eq!(
        Digest::of(&raw.stdout),
        rec.digest,
        "skopeo sees the same manifest bytes"
    );
    let info = json(&run(Command::new(skopeo)
        .arg("inspect")
        .arg(format!("oci:{}:1", dir.display()))));
    assert_eq!(info["Digest"].as_str().unwrap(), rec.digest.as_str());
    let cfg = run(Command::new(skopeo)
        .args(["inspect", "--config", "--raw"])
        .arg(format!("oci:{}:1", dir.display())));
    let ours = resolve(&store, &rec).unwrap();
    assert_eq!(Digest::of(&cfg.stdout), ours.config_digest);
    // skopeo copy into a new layout keeps the digest, and Berth reads the copy back.
    let copy = t.path().join("copy");
    run(Command::new(skopeo)
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:1", dir.display()))
        .arg(format!("oci:{}:copied", copy.display())));
    let store2 = Store::open(t.path().join("store2")).unwrap();
    let repo = Reference::parse("berth.test/again").unwrap();
    let got = import_oci_layout(&store2, &Source::dir(&copy), Some(&repo)).unwrap();
    assert_eq!(got[0].0, "berth.test/again:copied");
    assert_eq!(got[0].1.digest, rec.digest);
    // The tar form too.
    let tarp = t.path().join("layout.tar");
    let mut f = fs::File::create(&tarp).unwrap();
    export_oci_layout(&store, &["berth.test/busybox:1"], &mut TarSink::new(&mut f)).unwrap();
    drop(f);
    let info = json(&run(Command::new(skopeo)
        .arg("inspect")
        .arg(format!("oci-archive:{}:1", tarp.display()))));
    assert_eq!(info["Digest"].as_str().unwrap(), rec.digest.as_str());
    let store3 = Store::open(t.path().join("store3")).unwrap();
    let src = Source::scan_tar(&store3, fs::File::open(&tarp).unwrap()).unwrap();
    let got = import_oci_layout(&store3, &src, None).unwrap();
    assert_eq!(got[0].0, "berth.test/busybox:1");
    assert_eq!(got[0].1.digest, rec.digest);
}

#[test]
fn skopeo_reads_berth_docker_archive_with_same_digests() {
    let Some(tools) = common::need(
        "skopeo_reads_berth_docker_archive_with_same_digests",
        &["skopeo"],
    ) else {
        return;
    };
    let skopeo = &tools[0];
    let t = tempfile::tempdir().unwrap();
    let store = sample_store(t.path());
    let info = resolve(&store, &lookup(&store, "berth.test/busybox:1").unwrap()).unwrap();
    let tarp = t.path().join("save.tar");
    let mut f = fs::File::create(&tarp).unwrap();
    export_docker_archive(&store, &["berth.test/busybox:1"], &mut TarSink::new(&mut f)).unwrap();
    drop(f);
    let sk = json(&run(Command::new(skopeo)
        .arg("inspect")
        .arg(format!("docker-archive:{}", tarp.display()))));
    let layers: Vec<&str> = sk["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let diff_ids: Vec<String> = info.diff_ids.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        layers, diff_ids,
        "skopeo sees the uncompressed layers under their diffIDs"
    );
    let cfg = run(Command::new(skopeo)
        .args(["inspect", "--config", "--raw"])
        .arg(format!("docker-archive:{}", tarp.display())));
    assert_eq!(Digest::of(&cfg.stdout), info.config_digest);
    // Copy through skopeo into an OCI layout and back into Berth: same config (image ID).
    let copy = t.path().join("copy");
    run(Command::new(skopeo)
        .args(["copy", "--quiet"])
        .arg(format!("docker-archive:{}", tarp.display()))
        .arg(format!("oci:{}:x", copy.display())));
    let store2 = Store::open(t.path().join("store2")).unwrap();
    let got = import_oci_layout(
        &store2,
        &Source::dir(&copy),
        Some(&Reference::parse("berth.test/y").unwrap()),
    )
    .unwrap();
    let back = resolve(&store2, &got[0].1).unwrap();
    assert_eq!(back.config_digest, info.config_digest);
    // And our own loader reads our archive.
    let store3 = Store::open(t.path().join("store3")).unwrap();
    let src = Source::scan_tar(&store3, fs::File::open(&tarp).unwrap()).unwrap();
    let loaded = import_docker_archive(&store3, &src).unwrap();
    assert_eq!(loaded[0].names, vec!["berth.test/busybox:1".to_string()]);
    assert_eq!(loaded[0].config_digest, info.config_digest);
}

#[test]
fn umoci_layout_through_skopeo_docker_archive_loads() {
    let Some(tools) = common::need(
        "umoci_layout_through_skopeo_docker_archive_loads",
        &["umoci", "skopeo"],
    ) else {
        return;
    };
    let (umoci, skopeo) = (&tools[0], &tools[1]);
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("umoci");
    let bundle = t.path().join("bundle");
    let img = format!("{}:base", layout.display());
    run(Command::new(umoci).args(["init", "--layout"]).arg(&layout));
    run(Command::new(umoci).args(["new", "--image", &img]));
    let rootless: &[&str] = if common::is_root() {
        &[]
    } else {
        &["--rootless"]
    };
    run(Command::new(umoci)
        .arg("unpack")
        .args(rootless)
        .args(["--image", &img])
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy(common::busybox().unwrap(), rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    fs::write(rootfs.join("hello.txt"), b"from umoci\n").unwrap();
    run(Command::new(umoci)
        .arg("repack")
        .args(["--image", &img])
        .arg(&bundle));
    run(Command::new(umoci).args([
        "config",
        "--image",
        &img,
        "--config.cmd",
        "sh",
        "--config.env",
        "X=1",
    ]));
    let archive = t.path().join("umoci.tar");
    run(Command::new(skopeo)
        .args(["copy", "--quiet"])
        .arg(format!("oci:{img}"))
        .arg(format!(
            "docker-archive:{}:berth.test/umoci:latest",
            archive.display()
        )));

    let store = Store::open(t.path().join("store")).unwrap();
    let src = Source::scan_tar(&store, fs::File::open(&archive).unwrap()).unwrap();
    let loaded = import_docker_archive(&store, &src).unwrap();
    assert_eq!(loaded[0].names, vec!["berth.test/umoci:latest".to_string()]);
    let info = resolve(&store, &lookup(&store, "berth.test/umoci").unwrap()).unwrap();
    assert_eq!(info.config.defaults().cmd, vec!["sh"]);
    assert!(info.config.defaults().env.contains(&"X=1".to_string()));
    let dest = t.path().join("flat");
    fs::create_dir(&dest).unwrap();
    flatten(&store, &info, &dest, &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(dest.join("hello.txt")).unwrap(), b"from umoci\n");
    assert!(dest.join("bin/busybox").is_file());
    // The umoci layout itself imports directly as well, with the same config.
    let store2 = Store::open(t.path().join("store2")).unwrap();
    let got = import_oci_layout(
        &store2,
        &Source::dir(&layout),
        Some(&Reference::parse("berth.test/umoci").unwrap()),
    )
    .unwrap();
    assert_eq!(got[0].0, "berth.test/umoci:base");
    assert_eq!(
        resolve(&store2, &got[0].1).unwrap().config_digest,
        info.config_digest
    );
    if common::is_root() {
        let _ = fs::remove_dir_all(&bundle);
    }
}

#[test]
fn docker_archive_with_several_images_round_trips() {
    let t = tempfile::tempdir().unwrap();
    let store = sample_store(t.path());
    let rec = lookup(&store, "berth.test/busybox:1").unwrap();
    store
        .set_ref("berth.test/busybox:also", rec.clone())
        .unwrap();
    store
        .set_ref(
            &Reference::parse("other.test:5000/x/y:2")
                .unwrap()
                .to_string(),
            rec,
        )
        .unwrap();
    common::generated_image(&store, "berth.test/second:1", 4, &[5_000]);
    let names = [
        "berth.test/busybox:1",
        "berth.test/busybox:also",
        "other.test:5000/x/y:2",
        "berth.test/second:1",
    ];
    let mut buf = Vec::new();
    export_docker_archive(&store, &names, &mut TarSink::new(&mut buf)).unwrap();
    let store2 = Store::open(t.path().join("again")).unwrap();
    let src = Source::scan_tar(&store2, &buf[..]).unwrap();
    let loaded = import_docker_archive(&store2, &src).unwrap();
    assert_eq!(loaded.len(), 2, "one manifest.json entry per image");
    assert_eq!(loaded[0].names.len(), 3, "all tags of the first image kept");
    for n in names {
        let a = resolve(&store, &lookup(&store, n).unwrap()).unwrap();
        let b = resolve(&store2, &lookup(&store2, n).unwrap()).unwrap();
        assert_eq!(a.config_digest, b.config_digest, "{n}");
    }
    let repos: serde_json::Value =
        serde_json::from_slice(&src.read(&store2, "repositories").unwrap()).unwrap();
    assert!(repos["berth.test/busybox"]["also"].is_string());
}

/// Each layer's size unpacked (what `docker images` shows) is kept with its blob by an import,
/// a docker archive load and an OCI layout import, and measured from the blob for a layer stored
/// without one: the bytes of the files plus the symbolic links' targets, not the blob's size.
#[test]
fn layer_sizes_unpacked_are_kept_through_import_load_and_layouts() {
    let t = tempfile::tempdir().unwrap();
    let store = sample_store(t.path());
    common::generated_image(&store, "berth.test/second:1", 4, &[5_000]);
    let bb = fs::metadata(common::busybox().unwrap()).unwrap().len();
    // busybox_rootfs: the binary, `sh -> busybox`, `berth\n` and that many random bytes.
    let rootfs = |extra: u64| bb + "busybox".len() as u64 + "berth\n".len() as u64 + extra;
    let sizes = |s: &Store, name: &str| -> Vec<(Digest, Option<u64>)> {
        let info = resolve(s, &lookup(s, name).unwrap()).unwrap();
        info.layers
            .iter()
            .map(|l| {
                let d = berth_image::media::desc_digest(l).unwrap();
                let n = s.layer_size(&d);
                (d, n)
            })
            .collect()
    };
    let imported = sizes(&store, "berth.test/busybox:1");
    assert_eq!(
        imported[0].1,
        Some(rootfs(100_000)),
        "recorded by the import"
    );
    assert!(
        store.blob_size(&imported[0].0).unwrap() < rootfs(100_000),
        "a gzip blob"
    );
    let second = sizes(&store, "berth.test/second:1");
    let want = vec![Some(rootfs(1_000)), Some(5_000)];
    assert_eq!(second.iter().map(|(_, n)| *n).collect::<Vec<_>>(), want);
    // A layer stored without its size (as before sizes were kept) is measured when asked.
    fs::remove_file(t.path().join("store/layer-sizes").join(second[1].0.hex())).unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    assert_eq!(store.layer_size(&second[1].0), None);
    assert_eq!(store.measure_layer(&second[1].0).unwrap(), 5_000);
    assert_eq!(store.layer_size(&second[1].0), Some(5_000));

    let names = ["berth.test/busybox:1", "berth.test/second:1"];
    let mut buf = Vec::new();
    export_docker_archive(&store, &names, &mut TarSink::new(&mut buf)).unwrap();
    let loaded = Store::open(t.path().join("loaded")).unwrap();
    import_docker_archive(&loaded, &Source::scan_tar(&loaded, &buf[..]).unwrap()).unwrap();
    let dir = t.path().join("layout");
    export_oci_layout(&store, &names, &mut DirSink(dir.clone())).unwrap();
    let oci = Store::open(t.path().join("oci")).unwrap();
    import_oci_layout(&oci, &Source::dir(&dir), None).unwrap();
    for s in [&loaded, &oci] {
        assert_eq!(sizes(s, "berth.test/busybox:1")[0].1, Some(rootfs(100_000)));
        let got: Vec<Option<u64>> = sizes(s, "berth.test/second:1")
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(got, want);
    }
}
