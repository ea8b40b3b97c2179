//! One test per hostile layer: each is rejected or neutralised, and nothing is written outside the root.

mod common;

use berth_image::extract::{extract_layer, ExtractError, ExtractOptions, WhiteoutMode};
use common::LayerBuilder;
use std::fs;
use std::path::Path;
use tar::EntryType;

struct Sandbox {
    _t: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn sandbox() -> Sandbox {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("a/b/root");
    let outside = t.path().join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), b"original").unwrap();
    Sandbox {
        root,
        outside,
        _t: t,
    }
}

fn opts() -> ExtractOptions {
    ExtractOptions {
        whiteouts: WhiteoutMode::Apply,
        allow_devices: false,
        same_owner: false,
        xattrs: true,
        no_overwrite_dir_non_dir: false,
        owner: None,
        clean_dotdot: false,
    }
}

fn extract(s: &Sandbox, tar: Vec<u8>) -> Result<berth_image::extract::ExtractReport, ExtractError> {
    extract_layer(&tar[..], &s.root, &opts(), None)
}

/// Nothing outside the root changed: only `secret`, with its original content, in `outside`, and nothing
/// next to the root.
fn assert_outside_untouched(s: &Sandbox) {
    let names: Vec<_> = fs::read_dir(&s.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("secret")],
        "files appeared outside the root"
    );
    assert_eq!(fs::read(s.outside.join("secret")).unwrap(), b"original");
    let parent: Vec<_> = fs::read_dir(s.root.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        parent,
        vec![std::ffi::OsString::from("root")],
        "files appeared next to the root"
    );
    let nlink =
        std::os::unix::fs::MetadataExt::nlink(&fs::metadata(s.outside.join("secret")).unwrap());
    assert_eq!(nlink, 1, "outside file gained a hardlink");
}

#[test]
fn dotdot_path_is_rejected() {
    let s = sandbox();
    let tar = LayerBuilder::default()
        .raw(
            EntryType::Regular,
            b"../../../outside/secret",
            b"",
            b"pwned",
        )
        .build();
    assert!(matches!(
        extract(&s, tar),
        Err(ExtractError::PathTraversal(_))
    ));
    let tar = LayerBuilder::default()
        .raw(EntryType::Regular, b"x/../../escape", b"", b"pwned")
        .build();
    assert!(matches!(
        extract(&s, tar),
        Err(ExtractError::PathTraversal(_))
    ));
    assert_outside_untouched(&s);
}

#[test]
fn absolute_path_lands_inside_root() {
    let s = sandbox();
    let abs = format!("{}/secret", s.outside.display());
    let tar = LayerBuilder::default()
        .raw(EntryType::Regular, abs.as_bytes(), b"", b"pwned")
        .build();
    extract(&s, tar).unwrap();
    assert_eq!(
        fs::read(s.root.join(abs.trim_start_matches('/'))).unwrap(),
        b"pwned"
    );
    assert_outside_untouched(&s);
}

#[test]
fn write_through_absolute_symlink_dir_stays_inside() {
    let s = sandbox();
    let target = s.outside.display().to_string();
    let tar = LayerBuilder::default()
        .symlink("evil", &target)
        .file("evil/secret", b"pwned", 0o644)
        .build();
    extract(&s, tar).unwrap();
    // The symlink was resolved against the root, so the write landed in root/<outside path>.
    assert_eq!(
        fs::read(s.root.join(target.trim_start_matches('/')).join("secret")).unwrap(),
        b"pwned"
    );
    assert!(fs::symlink_metadata(s.root.join("evil"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_outside_untouched(&s);
}

#[test]
fn write_through_relative_symlink_climbing_out_stays_inside() {
    let s = sandbox();
    let tar = LayerBuilder::default()
        .symlink("up", "../../../../../../..")
        .file("up/outside/secret", b"pwned", 0o644)
        .build();
    extract(&s, tar).unwrap();
    assert_eq!(fs::read(s.root.join("outside/secret")).unwrap(), b"pwned");
    assert_outside_untouched(&s);
}

#[test]
fn file_over_symlink_replaces_the_link_not_its_target() {
    let s = sandbox();
    let target = format!("{}/secret", s.outside.display());
    let tar = LayerBuilder::default()
        .symlink("link", &target)
        .file("link", b"pwned", 0o644)
        .build();
    extract(&s, tar).unwrap();
    let md = fs::symlink_metadata(s.root.join("link")).unwrap();
    assert!(md.file_type().is_file());
    assert_eq!(fs::read(s.root.join("link")).unwrap(), b"pwned");
    assert_outside_untouched(&s);
}

#[test]
fn hardlink_to_outside_is_rejected() {
    let s = sandbox();
    let rel = b"../../../outside/secret";
    let tar = LayerBuilder::default()
        .raw(EntryType::Link, b"hl", rel, b"")
        .build();
    assert!(matches!(
        extract(&s, tar),
        Err(ExtractError::BadHardlink { .. })
    ));
    let abs = format!("{}/secret", s.outside.display());
    let tar = LayerBuilder::default()
        .raw(EntryType::Link, b"hl2", abs.as_bytes(), b"")
        .build();
    assert!(matches!(
        extract(&s, tar),
        Err(ExtractError::BadHardlink { .. })
    ));
    let tar = LayerBuilder::default()
        .symlink("d", &s.outside.display().to_string())
        .raw(EntryType::Link, b"hl3", b"d/secret", b"")
        .build();
    assert!(matches!(
        extract(&s, tar),
        Err(ExtractError::BadHardlink { .. })
    ));
    assert!(
        !s.root.join("hl").exists() && !s.root.join("hl2").exists() && !s.root.join("hl3").exists()
    );
    assert_outside_untouched(&s);
}

#[test]
fn hardlink_inside_root_works() {
    let s = sandbox();
    let tar = LayerBuilder::default()
        .file("a", b"data", 0o644)
        .raw(EntryType::Link, b"b", b"a", b"")
        .build();
    extract(&s, tar).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::nlink(&fs::metadata(s.root.join("b")).unwrap()),
        2
    );
}

#[test]
fn device_nodes_are_skipped_when_not_allowed() {
    let s = sandbox();
    let tar = LayerBuilder::default()
        .dir("dev/")
        .device("dev/sda", EntryType::Block, 8, 0)
        .device("dev/mem", EntryType::Char, 1, 1)
        .build();
    let r = extract(&s, tar).unwrap();
    assert_eq!(r.skipped.len(), 2);
    assert!(!s.root.join("dev/sda").exists() && !s.root.join("dev/mem").exists());
    assert_outside_untouched(&s);
}

#[test]
fn whiteout_cannot_reach_outside() {
    let s = sandbox();
    let tar = LayerBuilder::default()
        .raw(EntryType::Regular, b".wh...", b"", b"")
        .build();
    assert!(extract(&s, tar).is_err());
    let tar = LayerBuilder::default()
        .symlink("s", &s.outside.display().to_string())
        .file("s/.wh.secret", b"", 0o644)
        .build();
    extract(&s, tar).unwrap();
    let tar = LayerBuilder::default()
        .symlink("o", &s.outside.display().to_string())
        .file("o/.wh..wh..opq", b"", 0o644)
        .build();
    extract(&s, tar).unwrap();
    assert_outside_untouched(&s);
}

#[test]
fn symlink_loop_is_rejected() {
    let s = sandbox();
    let tar = LayerBuilder::default()
        .symlink("a", "b")
        .symlink("b", "a")
        .file("a/x", b"x", 0o644)
        .build();
    assert!(matches!(
        extract(&s, tar),
        Err(ExtractError::SymlinkLoop(_))
    ));
    assert_outside_untouched(&s);
}

#[test]
fn diff_id_mismatch_is_rejected() {
    let s = sandbox();
    let tar = LayerBuilder::default().file("a", b"data", 0o644).build();
    let wrong = berth_image::Digest::of(b"other");
    assert!(matches!(
        extract_layer(&tar[..], &s.root, &opts(), Some(&wrong)),
        Err(ExtractError::DiffIdMismatch { .. })
    ));
    let good = berth_image::Digest::of(&tar);
    let r = extract_layer(
        &common::gzip(&tar)[..],
        Path::new(&s.root),
        &opts(),
        Some(&good),
    )
    .unwrap();
    assert_eq!(r.diff_id, good);
}

#[test]
fn literal_whiteouts_and_no_overwrite_dir_non_dir() {
    let s = sandbox();
    fs::create_dir_all(s.root.join("d")).unwrap();
    fs::write(s.root.join("keep"), b"k").unwrap();
    let o = ExtractOptions {
        whiteouts: WhiteoutMode::Literal,
        no_overwrite_dir_non_dir: true,
        ..opts()
    };
    // A user's archive: `.wh.keep` is a file like any other, not a deletion.
    let tar = LayerBuilder::default()
        .file(".wh.keep", b"w", 0o644)
        .build();
    extract_layer(&tar[..], &s.root, &o, None).unwrap();
    assert_eq!(fs::read(s.root.join("keep")).unwrap(), b"k");
    assert_eq!(fs::read(s.root.join(".wh.keep")).unwrap(), b"w");
    // A file where a directory is, and a directory where a file is, are refused.
    let tar = LayerBuilder::default().file("d", b"x", 0o644).build();
    let err = extract_layer(&tar[..], &s.root, &o, None).unwrap_err();
    assert!(matches!(err, ExtractError::Overwrite { .. }), "{err}");
    assert!(s.root.join("d").is_dir());
    let tar = LayerBuilder::default().dir("keep").build();
    let err = extract_layer(&tar[..], &s.root, &o, None).unwrap_err();
    assert!(
        err.to_string().contains("cannot overwrite non-directory"),
        "{err}"
    );
    assert_eq!(fs::read(s.root.join("keep")).unwrap(), b"k");
    assert_outside_untouched(&s);
}

#[test]
fn owner_override_replaces_the_archives_ids() {
    if !common::is_root() {
        println!("skipped: owner_override_replaces_the_archives_ids: needs root");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let s = sandbox();
    let o = ExtractOptions {
        same_owner: true,
        owner: Some((4321, 8765)),
        ..opts()
    };
    let tar = LayerBuilder::default()
        .dir("d")
        .file("d/f", b"x", 0o644)
        .symlink("d/l", "f")
        .build();
    extract_layer(&tar[..], &s.root, &o, None).unwrap();
    for p in ["d", "d/f", "d/l"] {
        let md = fs::symlink_metadata(s.root.join(p)).unwrap();
        assert_eq!((md.uid(), md.gid()), (4321, 8765), "{p}");
    }
    assert_outside_untouched(&s);
}

#[test]
fn clean_dotdot_resolves_inside_and_refuses_climbing_out() {
    use berth_image::extract::clean_entry_path;
    let p = |s: &str| -> Vec<String> {
        clean_entry_path(s.as_bytes())
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(p("a/../b"), ["b"]);
    assert_eq!(p("/../b"), ["b"]);
    assert_eq!(p("./a/./b/.."), ["a"]);
    assert!(clean_entry_path(b"../x").is_err());
    assert!(clean_entry_path(b"a/../../x").is_err());
}
