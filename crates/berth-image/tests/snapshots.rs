//! Overlay snapshots: two images sharing a base share its layer on disk; removing one leaves the other
//! intact; GC frees the rest. Also a container's upper dir committed as a new layer.

mod common;

use berth_image::compression::Compression;
use berth_image::gc::collect;
use berth_image::image::{
    commit, import_rootfs, lookup, remove, resolve, store_layer, unpack, write_image,
};
use berth_image::media;
use berth_image::snapshot::{OverlaySnapshotter, Snapshotter};
use berth_image::Store;
use common::LayerBuilder;
use std::fs;
use std::os::unix::fs::MetadataExt;

/// Builds image `name` = base layers of `base` + one more layer.
fn derive(store: &Store, base: &str, name: &str, layer: Vec<u8>) {
    let info = resolve(store, &lookup(store, base).unwrap()).unwrap();
    let (d, size, diff_id) = store_layer(store, &layer[..], Compression::Zstd).unwrap();
    let mut cfg = info.config.clone();
    cfg.rootfs.diff_ids.push(diff_id.to_string());
    let mut layers = info.layers.clone();
    layers.push(media::descriptor(media::OCI_LAYER_ZSTD, &d, size));
    let rec = write_image(store, &cfg, layers, false).unwrap();
    store
        .set_ref(&berth_image::image::ref_key(name).unwrap(), rec)
        .unwrap();
}

#[test]
fn shared_base_layer_remove_and_gc() {
    if !common::is_root() {
        println!(
            "skipped: shared_base_layer_remove_and_gc: overlay whiteouts and mounts need root"
        );
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    let snap = OverlaySnapshotter::open(t.path().join("snap")).unwrap();
    import_rootfs(
        &store,
        &common::busybox_rootfs(50_000, 7)[..],
        "berth.test/base:1",
        &[],
    )
    .unwrap();
    derive(
        &store,
        "berth.test/base:1",
        "berth.test/app-a:1",
        LayerBuilder::default().file("a.txt", b"a", 0o644).build(),
    );
    derive(
        &store,
        "berth.test/base:1",
        "berth.test/app-b:1",
        LayerBuilder::default()
            .file("b.txt", b"b", 0o644)
            .file("etc/.wh.hostname", b"", 0o644)
            .build(),
    );
    let a = resolve(&store, &lookup(&store, "berth.test/app-a:1").unwrap()).unwrap();
    let b = resolve(&store, &lookup(&store, "berth.test/app-b:1").unwrap()).unwrap();
    unpack(&store, &snap, &a).unwrap();
    unpack(&store, &snap, &b).unwrap();
    let layers = snap.layers().unwrap();
    assert_eq!(layers.len(), 3, "base layer unpacked once, shared");
    let base_chain = &berth_image::snapshot::chain_ids(&a.diff_ids)[0];
    assert_eq!(
        layers
            .iter()
            .find(|l| &l.chain_id == base_chain)
            .unwrap()
            .refcount,
        2
    );
    let busybox = snap.layer_diff_dir(base_chain).join("bin/busybox");
    let ino = fs::metadata(&busybox).unwrap().ino();
    // The whiteout in b became an overlay whiteout device.
    let wh = snap
        .layer_diff_dir(&b.top_chain_id().unwrap())
        .join("etc/hostname");
    assert_eq!(fs::symlink_metadata(&wh).unwrap().rdev(), 0);

    // A container on b: mounted view, write, delete, commit.
    snap.prepare("c1", b.top_chain_id().as_ref()).unwrap();
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    snap.mount("c1", &mnt).unwrap();
    let view = || {
        assert!(mnt.join("bin/busybox").is_file());
        assert!(mnt.join("b.txt").is_file());
        assert!(!mnt.join("a.txt").exists());
        assert!(
            !mnt.join("etc/hostname").exists(),
            "whiteout hides the base file"
        );
        fs::write(mnt.join("new.txt"), b"new").unwrap();
        fs::remove_file(mnt.join("b.txt")).unwrap();
    };
    let r = std::panic::catch_unwind(view);
    OverlaySnapshotter::unmount(&mnt).unwrap();
    r.unwrap();
    let c = commit(
        &store,
        &snap,
        "c1",
        &b,
        "berth.test/committed:1",
        &berth_image::image::CommitMeta {
            changes: vec!["CMD [\"true\"]".into()],
            author: Some("a <a@b>".into()),
            comment: Some("why".into()),
            container: Some("c1".into()),
            parent: Some("sha256:p".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let ci = resolve(&store, &c).unwrap();
    assert_eq!(ci.config.author.as_deref(), Some("a <a@b>"));
    assert_eq!(ci.config.container.as_deref(), Some("c1"));
    assert_eq!(ci.config.parent.as_deref(), Some("sha256:p"));
    assert_eq!(
        ci.config.history.last().and_then(|h| h.comment.as_deref()),
        Some("why")
    );
    assert_eq!(ci.layers.len(), 3);
    let flat = t.path().join("flat");
    fs::create_dir(&flat).unwrap();
    berth_image::image::flatten(&store, &ci, &flat, &Default::default()).unwrap();
    assert!(flat.join("new.txt").is_file());
    assert!(
        !flat.join("b.txt").exists(),
        "deletion committed as a whiteout"
    );
    assert_eq!(ci.config.defaults().cmd, vec!["true"]);

    // Removing a leaves b intact; GC frees a's own layer but not the shared base.
    remove(&store, "berth.test/app-a:1").unwrap();
    let r = collect(&store, Some(&snap)).unwrap();
    assert_eq!(r.layers_removed, vec![a.top_chain_id().unwrap()]);
    assert!(!r.blobs_removed.is_empty());
    assert_eq!(
        fs::metadata(&busybox).unwrap().ino(),
        ino,
        "shared base untouched"
    );
    unpack(&store, &snap, &b).unwrap();
    for l in &b.layers {
        assert!(store.has_blob(&media::desc_digest(l).unwrap()));
    }
    // The container still pins b's layers even after every name is gone.
    for n in [
        "berth.test/app-b:1",
        "berth.test/base:1",
        "berth.test/committed:1",
    ] {
        remove(&store, n).unwrap();
    }
    collect(&store, Some(&snap)).unwrap();
    assert!(
        snap.has_layer(&b.top_chain_id().unwrap()),
        "layer under a container is kept"
    );
    snap.remove("c1").unwrap();
    let r = collect(&store, Some(&snap)).unwrap();
    assert_eq!(r.layers_removed.len(), 2);
    assert!(snap.layers().unwrap().is_empty());
    assert!(store.list_blobs().unwrap().is_empty(), "every blob freed");
}

#[test]
fn exported_filesystem_reimports() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    import_rootfs(
        &store,
        &common::busybox_rootfs(10_000, 3)[..],
        "berth.test/fs:1",
        &[],
    )
    .unwrap();
    let info = resolve(&store, &lookup(&store, "berth.test/fs:1").unwrap()).unwrap();
    let flat = t.path().join("flat");
    fs::create_dir(&flat).unwrap();
    berth_image::image::flatten(&store, &info, &flat, &Default::default()).unwrap();
    let tar = berth_image::image::export_fs(&flat, Vec::new(), &Default::default()).unwrap();
    let rec = import_rootfs(
        &store,
        &tar[..],
        "berth.test/fs:2",
        &["WORKDIR /data".into()],
    )
    .unwrap();
    let again = resolve(&store, &rec).unwrap();
    let flat2 = t.path().join("flat2");
    fs::create_dir(&flat2).unwrap();
    berth_image::image::flatten(&store, &again, &flat2, &Default::default()).unwrap();
    assert_eq!(
        fs::read(flat.join("data/blob")).unwrap(),
        fs::read(flat2.join("data/blob")).unwrap()
    );
    assert_eq!(
        fs::read_link(flat2.join("bin/sh")).unwrap(),
        std::path::PathBuf::from("busybox")
    );
    assert_eq!(again.config.defaults().working_dir, "/data");
}

/// The options of the mount at `target`, from this process's mountinfo.
fn super_options(target: &std::path::Path) -> Option<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let t = target.display().to_string();
    info.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.get(4) == Some(&t.as_str())).then(|| f.last().unwrap_or(&"").to_string())
    })
}

#[test]
fn volatile_mount_skips_syncs_and_mounts_again() {
    if !common::is_root() {
        println!("skipped: volatile_mount_skips_syncs_and_mounts_again: mounts need root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let snap = OverlaySnapshotter::open(t.path().join("snap")).unwrap();
    snap.prepare("rm1", None).unwrap();
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    snap.mount_with("rm1", &mnt, true).unwrap();
    let opts = super_options(&mnt).expect("mounted");
    fs::write(mnt.join("f"), b"kept").unwrap();
    OverlaySnapshotter::unmount(&mnt).unwrap();
    // Shown as `fsync=volatile` since Linux 6.6.
    if !opts
        .split(',')
        .any(|o| o == "volatile" || o == "fsync=volatile")
    {
        println!("skipped: volatile_mount_skips_syncs_and_mounts_again: kernel without overlay volatile ({opts})");
        return;
    }
    // overlayfs refuses a work dir a volatile mount used until its mark is gone: a second start of
    // the same snapshot (volatile or not) must still mount, with what the first one wrote.
    for volatile in [true, false] {
        snap.mount_with("rm1", &mnt, volatile).unwrap();
        let r = fs::read(mnt.join("f"));
        OverlaySnapshotter::unmount(&mnt).unwrap();
        assert_eq!(r.unwrap(), b"kept");
    }
}

/// `prepare` takes a spare directory made ahead (renamed into place): each snapshot gets its own
/// empty `upper` and `work`, one spare is kept ready, and spares a crash left go at the next open.
#[test]
fn prepare_uses_spare_directories_made_ahead() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("snap");
    fs::create_dir_all(root.join("tmp").join("spare-1").join("upper")).unwrap();
    let snap = OverlaySnapshotter::open(&root).unwrap();
    let spares = || -> Vec<String> {
        fs::read_dir(root.join("tmp"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("spare-"))
            .collect()
    };
    let ready = || {
        let t0 = std::time::Instant::now();
        while spares().len() != 1 || spares() == ["spare-1"] {
            assert!(t0.elapsed().as_secs() < 10, "no spare made: {:?}", spares());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    ready();
    let before = spares();
    for key in ["one", "two", "three"] {
        snap.prepare(key, None).unwrap();
        let dir = root.join("active").join(key);
        for d in ["upper", "work"] {
            let entries = fs::read_dir(dir.join(d)).unwrap().count();
            assert_eq!(entries, 0, "{key}/{d} is not empty");
        }
        // Put something in it: the next snapshot must not see it.
        fs::write(dir.join("upper").join("f"), key).unwrap();
    }
    assert!(
        !spares().contains(&before[0]),
        "the spare was not used: {:?}",
        spares()
    );
    ready();
    assert!(snap.prepare("one", None).is_err(), "a key prepared twice");
}
