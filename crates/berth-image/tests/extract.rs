//! Layer extraction semantics: whiteouts (flattened and as overlayfs whiteouts), opaque directories, xattrs,
//! ownership, modes, mtimes, compressions; and packing an overlay upper dir back into `.wh.` entries.

mod common;

use berth_image::extract::{extract_layer, ExtractOptions, WhiteoutMode};
use berth_image::pack::{pack_dir, PackMode};
use common::LayerBuilder;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn base_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o750);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        b.append_data(&mut h, p, std::io::empty()).unwrap();
    };
    dir(&mut b, "a/");
    dir(&mut b, "b/");
    for (p, mode, uid) in [("a/x", 0o644, 0), ("a/y", 0o4755, 1234), ("b/z", 0o600, 0)] {
        if p == "a/y" {
            b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"yes"[..])])
                .unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid + 1);
        h.set_mtime(1_600_000_123);
        h.set_size(3);
        b.append_data(&mut h, p, &b"abc"[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn top_layer() -> Vec<u8> {
    LayerBuilder::default()
        .file("a/.wh.x", b"", 0o644)
        .file("b/.wh..wh..opq", b"", 0o644)
        .file("b/new", b"new", 0o644)
        .build()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn flattened_whiteouts_metadata_and_compressions() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    fs::create_dir(&root).unwrap();
    let opts = ExtractOptions {
        whiteouts: WhiteoutMode::Apply,
        ..Default::default()
    };
    let r1 = extract_layer(&common::gzip(&base_layer())[..], &root, &opts, None).unwrap();
    assert_eq!(r1.compression, berth_image::compression::Compression::Gzip);
    assert_eq!(r1.diff_id, berth_image::Digest::of(&base_layer()));
    let y = fs::metadata(root.join("a/y")).unwrap();
    assert_eq!(y.mtime(), 1_600_000_123);
    assert_eq!(
        fs::metadata(root.join("a")).unwrap().mtime(),
        1_600_000_000,
        "dir mtime set after its children"
    );
    assert_eq!(
        fs::metadata(root.join("a")).unwrap().permissions().mode() & 0o7777,
        0o750
    );
    if common::is_root() {
        assert_eq!((y.uid(), y.gid()), (1234, 1235));
        assert_eq!(
            y.permissions().mode() & 0o7777,
            0o4755,
            "setuid kept after chown"
        );
    } else {
        println!("skipped part: ownership needs root");
    }
    match berth_image::pack::lgetxattr(&root.join("a/y"), "user.berth") {
        Some(v) => assert_eq!(v, b"yes"),
        None => println!(
            "skipped part: filesystem of {} does not take user xattrs",
            root.display()
        ),
    }
    let r2 = extract_layer(&zstd(&top_layer())[..], &root, &opts, None).unwrap();
    assert_eq!(r2.compression, berth_image::compression::Compression::Zstd);
    assert!(!root.join("a/x").exists(), "whiteout removed a/x");
    assert!(root.join("a/y").exists());
    assert!(!root.join("b/z").exists(), "opaque dir hid lower content");
    assert_eq!(fs::read(root.join("b/new")).unwrap(), b"new");
    assert!(!root.join("b/.wh..wh..opq").exists() && !root.join("a/.wh.x").exists());
}

#[test]
fn overlay_whiteouts_and_diff_round_trip() {
    if !common::is_root() {
        println!("skipped: overlay_whiteouts_and_diff_round_trip: whiteout devices and trusted xattrs need root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let upper = t.path().join("upper");
    fs::create_dir(&upper).unwrap();
    let opts = ExtractOptions {
        whiteouts: WhiteoutMode::Overlay,
        ..Default::default()
    };
    extract_layer(&top_layer()[..], &upper, &opts, None).unwrap();
    let wh = fs::symlink_metadata(upper.join("a/x")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &wh.file_type()
    ));
    assert_eq!(wh.rdev(), 0);
    assert_eq!(
        berth_image::pack::lgetxattr(&upper.join("b"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    // Packing the upper dir gives the whiteout entries back.
    let tar = pack_dir(&upper, Vec::new(), PackMode::OverlayDiff).unwrap();
    let mut names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["a/", "a/.wh.x", "b/", "b/.wh..wh..opq", "b/new"]
    );
}
