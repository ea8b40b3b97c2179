//! A `--rm` container's bundle is made right after its create (`containers/prestart.rs`): a start
//! that follows uses it only if nothing changed it meanwhile. Each change a client can make between
//! create and start shows in what the container then sees, through the stock CLI.

mod common;

use common::*;

fn rootfs_mounted(d: &Berthd, id: &str) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = d.dir.path().display().to_string();
    mounts
        .lines()
        .any(|l| l.contains(&dir) && l.contains(id) && l.contains("/rootfs "))
}

#[test]
fn a_rm_container_changed_between_create_and_start_runs_as_changed() {
    skip_unless_ready!("a_rm_container_changed_between_create_and_start_runs_as_changed");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let rm = ["create", "--rm", "--network", "none"];

    // `cp` into it mounts and unmounts the rootfs itself: the start mounts it again.
    d.ok(&[&rm[..], &["--name", "cp", "bb:1", "cat", "/added"]].concat());
    let src = d.dir.path().join("added");
    std::fs::write(&src, "copied in\n").unwrap();
    d.ok(&["cp", &src.display().to_string(), "cp:/added"]);
    assert_eq!(d.ok(&["start", "-a", "cp"]), "copied in\n");

    // `update`: the limit it sets is the one the container runs with.
    d.ok(&[
        &rm[..],
        &[
            "--name",
            "up",
            "--pids-limit",
            "100",
            "bb:1",
            "cat",
            "/sys/fs/cgroup/pids/pids.max",
        ],
    ]
    .concat());
    d.ok(&["update", "--pids-limit", "40", "up"]);
    assert_eq!(d.ok(&["start", "-a", "up"]).trim(), "40");

    // `rename`: the start finds it by its new name and runs it.
    d.ok(&[&rm[..], &["--name", "old", "bb:1", "echo", "renamed"]].concat());
    d.ok(&["rename", "old", "new"]);
    assert_eq!(d.ok(&["start", "-a", "new"]), "renamed\n");

    // Removed without a start: nothing stays mounted.
    let id = d.ok(&[&rm[..], &["--name", "gone", "bb:1", "true"]].concat());
    d.ok(&["rm", "gone"]);
    assert!(
        !rootfs_mounted(&d, id.trim()),
        "rootfs of a removed container left mounted"
    );

    // A start long after the create (the bundle made ahead is stale by then) still runs it.
    d.ok(&[&rm[..], &["--name", "late", "bb:1", "echo", "late"]].concat());
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(d.ok(&["start", "-a", "late"]), "late\n");

    // And the plain case, many times: every run's output arrives.
    for i in 0..10 {
        let out = d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "bb:1",
            "echo",
            &format!("x{i}"),
        ]);
        assert_eq!(out, format!("x{i}\n"));
    }
    // `start -a` returns before the auto-removal: wait for those.
    let t = std::time::Instant::now();
    while !d.ok(&["ps", "-aq"]).is_empty() && t.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let dir = d.dir.path().display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.lines().any(|l| l.contains(&dir)),
        "mounts left: {mounts}"
    );
}
