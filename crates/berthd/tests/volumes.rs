//! Volumes through the stock docker CLI: named and anonymous volumes, copy-up, `rm -v`, removal
//! while in use, prune, tmpfs mounts, the local driver's `type`/`device`/`o` options, subpaths,
//! `nocopy`, list filters and volume events.

mod common;

use common::Berthd;
use std::path::Path;
use std::process::Command;

fn mounted(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path))
}

fn mountpoint(d: &Berthd, vol: &str) -> String {
    d.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", vol])
        .trim()
        .to_string()
}

fn stderr_of(d: &Berthd, args: &[&str]) -> String {
    let o = d.docker(args);
    assert!(!o.status.success(), "docker {args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run(d: &Berthd, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend_from_slice(args);
    d.ok(&a)
}

/// Done-when 1: data across containers, copy-up into a fresh volume, `rm -v`, 409 while in
/// use, prune of unused volumes only, and a `tmpfs-size=1m` mount of that size.
#[test]
fn named_anonymous_in_use_prune_and_tmpfs_size() {
    skip_unless_ready!("named_anonymous_in_use_prune_and_tmpfs_size");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&["volume", "create", "vol1"]);
    run(
        &d,
        &[
            "-v",
            "vol1:/data",
            "bb:1",
            "sh",
            "-c",
            "echo kept > /data/f",
        ],
    );
    assert_eq!(
        run(&d, &["-v", "vol1:/data:ro", "bb:1", "cat", "/data/f"]),
        "kept\n"
    );
    // A new volume is filled with what the image has at the mount point.
    assert_eq!(
        run(&d, &["-v", "etcvol:/etc", "bb:1", "cat", "/etc/group"]),
        "root:x:0:\n"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "vu",
        "--network",
        "none",
        "-v",
        "vol1:/data",
        "-v",
        "/anon",
        "bb:1",
        "sleep",
        "60",
    ]);
    let mounts = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}",
        "vu",
    ]);
    assert_eq!(mounts.trim(), "volume:/data volume:/anon");
    let (st, body) = d.http("DELETE", "/v1.47/volumes/vol1", None);
    assert_eq!(st, 409, "{body}");
    assert!(body.contains("volume is in use"), "{body}");
    assert!(stderr_of(&d, &["volume", "rm", "vol1"]).contains("volume is in use"));
    assert_eq!(d.ok(&["volume", "ls", "-q"]).lines().count(), 3);
    d.ok(&["rm", "-f", "-v", "vu"]);
    assert_eq!(
        d.ok(&["volume", "ls", "-q"]),
        "etcvol\nvol1\n",
        "rm -v removes the anonymous volume, not the named one"
    );
    // rm without -v keeps an anonymous volume.
    d.ok(&["create", "--name", "keep", "-v", "/anon2", "bb:1", "true"]);
    d.ok(&["rm", "keep"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]).lines().count(), 3);

    // Prune: unused volumes only (anonymous ones by default, all with --all).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "holder",
        "--network",
        "none",
        "-v",
        "vol1:/data",
        "bb:1",
        "sleep",
        "60",
    ]);
    let out = d.ok(&["volume", "prune", "--force"]);
    assert!(!out.contains("vol1") && !out.contains("etcvol"), "{out}");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "etcvol\nvol1\n");
    let out = d.ok(&["volume", "prune", "--all", "--force"]);
    assert!(out.contains("etcvol") && !out.contains("vol1"), "{out}");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "vol1\n");
    d.ok(&["rm", "-f", "holder"]);

    // --mount type=tmpfs,tmpfs-size=1m is 1 MiB (1024 1K-blocks) inside.
    let df = run(
        &d,
        &[
            "--mount",
            "type=tmpfs,dst=/scratch,tmpfs-size=1m",
            "bb:1",
            "busybox",
            "df",
            "-k",
            "/scratch",
        ],
    );
    let line = df.lines().last().unwrap();
    assert_eq!(line.split_whitespace().nth(1), Some("1024"), "{df}");
}

/// Removes a loop device and its file when the test ends, passed or not.
struct LoopDev(String);

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// `-o type=ext4 -o device=/dev/loopN` on a loop device made (and removed) here.
fn ext4_on_a_loop_device(d: &Berthd) {
    let tools = ["losetup", "mkfs.ext4"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !tools || !Path::new("/dev/loop-control").exists() {
        println!("skipped: ext4 on a loop device: no losetup/mkfs.ext4 or no loop support");
        return;
    }
    let img = d.dir.path().join("fs.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let st = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&img)
        .output()
        .unwrap();
    if !out.status.success() {
        println!(
            "skipped: ext4 on a loop device: losetup: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    let loopdev = LoopDev(String::from_utf8_lossy(&out.stdout).trim().to_string());
    let dev = format!("device={}", loopdev.0);
    d.ok(&["volume", "create", "-o", "type=ext4", "-o", &dev, "ev"]);
    let out = run(
        d,
        &[
            "-v",
            "ev:/e",
            "bb:1",
            "sh",
            "-c",
            "busybox grep ' /e ' /proc/mounts | busybox cut -d' ' -f3; echo x > /e/kept",
        ],
    );
    assert_eq!(out, "ext4\n");
    let mp = mountpoint(d, "ev");
    assert!(!mounted(&mp));
    assert!(
        !Path::new(&mp).join("kept").exists(),
        "the file went to the device, not the directory"
    );
    assert_eq!(run(d, &["-v", "ev:/e", "bb:1", "cat", "/e/kept"]), "x\n");
    d.ok(&["volume", "rm", "ev"]);
}

/// `docker volume create -o type=... -o device=... -o o=...`: tmpfs with size and mode, a bind of
/// a host directory, ext4 on a loop device; mounted while a container uses the volume,
/// unmounted when the last one stops; bad options refused at create.
#[test]
fn local_driver_options() {
    skip_unless_ready!("local_driver_options");
    let d = Berthd::start();
    d.import_busybox("bb:1");

    // Unknown and incomplete options: 400 with dockerd's wording, nothing made.
    let (st, body) = d.http(
        "POST",
        "/v1.47/volumes/create",
        Some(r#"{"Name":"bad","DriverOpts":{"foo":"bar"}}"#),
    );
    assert_eq!(st, 400, "{body}");
    assert!(
        body.contains(r#"create bad: invalid option key: \"foo\""#),
        "{body}"
    );
    let e = stderr_of(&d, &["volume", "create", "-o", "type=tmpfs", "bad"]);
    assert!(e.contains(r#"missing required option: "device""#), "{e}");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");

    // tmpfs with a size and a mode.
    d.ok(&[
        "volume",
        "create",
        "--driver",
        "local",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m,mode=0700",
        "tv",
    ]);
    let mp = mountpoint(&d, "tv");
    assert!(!mounted(&mp), "mounted at first use, not at create");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "holder",
        "--network",
        "none",
        "-v",
        "tv:/t",
        "bb:1",
        "sleep",
        "60",
    ]);
    assert!(mounted(&mp));
    let out = run(
        &d,
        &[
            "-v",
            "tv:/t",
            "bb:1",
            "sh",
            "-c",
            "busybox df -k /t | busybox tail -1; busybox stat -c %a /t; echo hi > /t/f",
        ],
    );
    let mut lines = out.lines();
    let df = lines.next().unwrap();
    assert_eq!(df.split_whitespace().nth(1), Some("1024"), "{out}");
    assert_eq!(lines.next(), Some("700"), "{out}");
    assert!(mounted(&mp), "the first container still holds it");
    assert_eq!(
        d.ok(&["exec", "holder", "cat", "/t/f"]),
        "hi\n",
        "both containers share the one tmpfs"
    );
    d.ok(&["rm", "-f", "holder"]);
    assert!(!mounted(&mp), "unmounted when the last container stopped");

    // A bind of a host directory: the container sees and writes the host's files, and removing
    // the volume leaves the host directory alone.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("from-host"), "host\n").unwrap();
    let dev = format!("device={}", host.path().display());
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &dev,
        "bv",
    ]);
    assert_eq!(
        run(
            &d,
            &[
                "-v",
                "bv:/b",
                "bb:1",
                "sh",
                "-c",
                "cat /b/from-host; echo c > /b/from-container"
            ]
        ),
        "host\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("from-container")).unwrap(),
        "c\n"
    );
    assert!(!mounted(&mountpoint(&d, "bv")));
    // docker cp into a stopped container reaches the bound directory too.
    d.ok(&[
        "create",
        "--name",
        "cpb",
        "--network",
        "none",
        "-v",
        "bv:/b",
        "bb:1",
        "true",
    ]);
    let src = d.dir.path().join("to-copy");
    std::fs::write(&src, "copied\n").unwrap();
    d.ok(&["cp", src.to_str().unwrap(), "cpb:/b/copied"]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("copied")).unwrap(),
        "copied\n"
    );
    assert!(!mounted(&mountpoint(&d, "bv")), "unmounted after the copy");
    d.ok(&["rm", "cpb"]);
    d.ok(&["volume", "rm", "bv"]);
    assert!(
        host.path().join("from-host").exists(),
        "removing the volume must not touch the bound directory"
    );
    let e = stderr_of(
        &d,
        &[
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            "device=rel",
            "x1",
        ],
    );
    assert!(e.contains("must be an absolute host path"), "{e}");

    ext4_on_a_loop_device(&d);

    // nfs: a clear error when the kernel has no nfs (a real server is out of a test's reach).
    let has_nfs = std::fs::read_to_string("/proc/filesystems")
        .unwrap()
        .lines()
        .any(|l| l.ends_with("\tnfs"));
    if has_nfs {
        println!("skipped: nfs error path: this kernel has nfs");
    } else {
        d.ok(&[
            "volume",
            "create",
            "-o",
            "type=nfs",
            "-o",
            "o=addr=127.0.0.1,rw",
            "-o",
            "device=:/export",
            "nv",
        ]);
        let e = stderr_of(
            &d,
            &[
                "run",
                "--name",
                "nfsc",
                "--network",
                "none",
                "-v",
                "nv:/n",
                "bb:1",
                "true",
            ],
        );
        assert!(e.contains(r#"the kernel has no "nfs" filesystem"#), "{e}");
        assert!(!mounted(&mountpoint(&d, "nv")));
        d.ok(&["rm", "nfsc"]);
        d.ok(&["volume", "rm", "nv"]);
    }
}

/// `--mount ...,volume-subpath=SUB` mounts that directory of the volume (an error if it is
/// missing or leaves the volume through a symlink); `volume-nocopy` keeps the image's content out.
#[test]
fn subpath_and_nocopy() {
    skip_unless_ready!("subpath_and_nocopy");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    run(
        &d,
        &[
            "-v",
            "sv:/v",
            "bb:1",
            "sh",
            "-c",
            "busybox mkdir -p /v/a/b && echo deep > /v/a/b/f && echo top > /v/top && \
             busybox ln -s /etc /v/link",
        ],
    );
    assert_eq!(
        run(
            &d,
            &[
                "--mount",
                "type=volume,src=sv,dst=/m,volume-subpath=a/b",
                "bb:1",
                "sh",
                "-c",
                "ls /m; echo new > /m/g"
            ]
        ),
        "f\n"
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(&mountpoint(&d, "sv")).join("a/b/g")).unwrap(),
        "new\n"
    );
    let e = stderr_of(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            "type=volume,src=sv,dst=/m,volume-subpath=missing",
            "bb:1",
            "true",
        ],
    );
    assert!(
        e.contains("cannot access path") && e.contains("missing"),
        "{e}"
    );
    let e = stderr_of(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            "type=volume,src=sv,dst=/m,volume-subpath=link",
            "bb:1",
            "true",
        ],
    );
    assert!(
        e.contains("cannot access path"),
        "a symlink is refused: {e}"
    );
    let e = stderr_of(
        &d,
        &[
            "create",
            "--mount",
            "type=volume,src=sv,dst=/m,volume-subpath=../x",
            "bb:1",
            "true",
        ],
    );
    assert!(
        e.contains("subpath must be a relative path within the volume"),
        "{e}"
    );
    let e = stderr_of(
        &d,
        &[
            "create",
            "--mount",
            "type=volume,dst=/m,volume-subpath=a",
            "bb:1",
            "true",
        ],
    );
    assert!(
        e.contains("must not set Subpath when using anonymous volumes"),
        "{e}"
    );
    // docker cp sees the subpath, not the whole volume.
    d.ok(&[
        "create",
        "--name",
        "spc",
        "--network",
        "none",
        "--mount",
        "type=volume,src=sv,dst=/m,volume-subpath=a/b",
        "bb:1",
        "true",
    ]);
    let out = d.dir.path().join("spc-out");
    d.ok(&["cp", "spc:/m", out.to_str().unwrap()]);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["f", "g"]);
    d.ok(&["rm", "spc"]);
    // No temporary bind is left behind in the daemon's mount table.
    let left = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!left.contains("volume-subpath-"), "{left}");

    // nocopy: a fresh volume gets nothing of the image, only (as with dockerd, which mounts
    // the container's own /etc files on top of it) the targets of hostname, hosts and
    // resolv.conf; without it the image's /etc is copied in.
    assert_eq!(
        run(
            &d,
            &[
                "--mount",
                "type=volume,src=nc,dst=/etc,volume-nocopy",
                "bb:1",
                "ls",
                "/etc"
            ]
        ),
        "hostname\nhosts\nresolv.conf\n"
    );
    assert_eq!(
        run(
            &d,
            &[
                "--mount",
                "type=volume,src=cp,dst=/etc",
                "bb:1",
                "ls",
                "/etc"
            ]
        ),
        // The image's files and, as with dockerd (whose copy also takes its init layer's
        // hostname, hosts, mtab and resolv.conf), what the image's init layer has in /etc.
        "group\nhostname\nhosts\nmtab\npasswd\nresolv.conf\n"
    );
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `volume ls` filters, `volume prune` (anonymous by default on API >= 1.42, all before, label
/// and label! filters, never a volume with driver options), `volume update` refused, `system df
/// -v` sizes and links, and the volume events with dockerd's attributes.
#[test]
fn filters_prune_update_df_and_events() {
    skip_unless_ready!("filters_prune_update_df_and_events");
    let d = Berthd::start();
    d.import_busybox("bb:1");
    let since = now_secs().to_string();
    d.ok(&[
        "volume",
        "create",
        "--label",
        "team=blue",
        "--label",
        "keep",
        "blue1",
    ]);
    d.ok(&["volume", "create", "--label", "team=red", "red1"]);
    let host = tempfile::tempdir().unwrap();
    let dev = format!("device={}", host.path().display());
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &dev,
        "bindv",
    ]);
    d.ok(&[
        "run",
        "--name",
        "user",
        "--network",
        "none",
        "-v",
        "blue1:/b:ro",
        "-v",
        "/anon",
        "bb:1",
        "sh",
        "-c",
        "busybox dd if=/dev/zero of=/anon/z bs=1024 count=100 2>/dev/null",
    ]);
    let anon = d
        .ok(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}",
            "user",
        ])
        .trim()
        .to_string();
    assert_eq!(anon.len(), 64);
    assert_eq!(
        d.ok(&["volume", "inspect", "-f", "{{json .Labels}}", &anon])
            .trim(),
        r#"{"com.docker.volume.anonymous":""}"#
    );
    let ls = |f: &[&str]| {
        let mut a = vec!["volume", "ls", "-q"];
        for x in f {
            a.extend(["--filter", x]);
        }
        d.ok(&a)
    };
    assert_eq!(ls(&["label=team=blue"]), "blue1\n");
    assert_eq!(ls(&["label=team"]), "blue1\nred1\n");
    assert_eq!(ls(&["label=team", "label=keep"]), "blue1\n");
    assert_eq!(ls(&["name=red"]), "red1\n");
    assert_eq!(ls(&["driver=local", "label=team"]), "blue1\nred1\n");
    assert_eq!(ls(&["driver=other"]), "");
    assert_eq!(ls(&["dangling=true"]), "bindv\nred1\n");
    let mut used = [anon.as_str(), "blue1"];
    used.sort();
    assert_eq!(
        ls(&["dangling=false"]),
        format!("{}\n{}\n", used[0], used[1])
    );
    let (st, body) = d.http(
        "GET",
        "/v1.47/volumes?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D",
        None,
    );
    assert_eq!(
        (st, body.contains("invalid filter 'dangling=[maybe]'")),
        (400, true),
        "{body}"
    );

    // system df -v: the sizes of local volumes and how many containers use each.
    let df = d.ok(&[
        "system",
        "df",
        "-v",
        "--format",
        "{{range .Volumes}}{{.Name}} {{.Links}} {{.Size}}\n{{end}}",
    ]);
    assert!(df.contains(&format!("{anon} 1 102.4kB")), "{df}");
    assert!(df.contains("red1 0 0B"), "{df}");
    assert!(
        !df.contains("bindv"),
        "volumes with driver options are not the daemon's space: {df}"
    );

    // volume update: only cluster volumes, and there is no swarm.
    let (st, body) = d.http("PUT", "/v1.47/volumes/red1?version=1", Some("{}"));
    assert_eq!(st, 503, "{body}");
    assert!(
        body.contains("volume update only valid for cluster volumes"),
        "{body}"
    );

    // Prune: unused anonymous volumes only by default; the anonymous one is in use until rm.
    d.ok(&["rm", "user"]);
    let out = d.ok(&["volume", "prune", "-f", "--filter", "label=team"]);
    assert!(
        !out.contains("red1"),
        "named volumes stay without --all: {out}"
    );
    let out = d.ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&anon) && out.contains("102.4kB"), "{out}");
    let out = d.ok(&["volume", "prune", "-f", "--all", "--filter", "label!=keep"]);
    assert!(out.contains("red1") && !out.contains("blue1"), "{out}");
    assert!(
        !out.contains("bindv"),
        "never a volume with driver options: {out}"
    );
    // Clients older than API 1.42 prune every unused volume.
    d.ok(&["volume", "create", "old1"]);
    let (st, body) = d.http("POST", "/v1.41/volumes/prune", None);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("old1") && body.contains("blue1"), "{body}");
    assert_eq!(ls(&[]), "bindv\n");
    d.ok(&["volume", "rm", "bindv"]);

    // Events: create, mount (driver, container, destination, read/write, propagation),
    // unmount, destroy, prune.
    let until = (now_secs() + 1).to_string();
    let ev = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--format",
        "{{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}",
    ]);
    let cid = ev
        .lines()
        .find(|l| l.starts_with("mount blue1"))
        .and_then(|l| l.split("\"container\":\"").nth(1))
        .map(|s| s[..64].to_string())
        .unwrap_or_else(|| panic!("no mount event: {ev}"));
    for want in [
        r#"create blue1 {"driver":"local"}"#.to_string(),
        format!(
            r#"mount blue1 {{"container":"{cid}","destination":"/b","driver":"local","propagation":"","read/write":"false"}}"#
        ),
        format!(
            r#"mount {anon} {{"container":"{cid}","destination":"/anon","driver":"local","propagation":"","read/write":"true"}}"#
        ),
        format!(r#"unmount blue1 {{"container":"{cid}","driver":"local"}}"#),
        format!(r#"destroy {anon} {{"driver":"local"}}"#),
        r#"destroy red1 {"driver":"local"}"#.to_string(),
        r#"prune  {"reclaimed":"102400"}"#.to_string(),
    ] {
        assert!(ev.lines().any(|l| l == want), "missing {want:?} in\n{ev}");
    }
}

/// A local volume's mount outlives a berthd crash with its container: after the restart a second
/// container's exit leaves it mounted for the first, and the first one's stop takes it down.
#[test]
fn local_mount_refcount_across_a_daemon_restart() {
    skip_unless_ready!("local_mount_refcount_across_a_daemon_restart");
    let mut d = Berthd::start();
    d.import_busybox("bb:1");
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "tv",
    ]);
    let mp = mountpoint(&d, "tv");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "first",
        "--network",
        "none",
        "-v",
        "tv:/t",
        "bb:1",
        "sh",
        "-c",
        "echo a > /t/a; exec sleep 60",
    ]);
    d.kill9();
    d.spawn();
    assert!(mounted(&mp));
    assert_eq!(run(&d, &["-v", "tv:/t", "bb:1", "cat", "/t/a"]), "a\n");
    assert!(mounted(&mp), "the first container still uses it");
    let (st, body) = d.http("DELETE", "/v1.47/volumes/tv", None);
    assert_eq!(st, 409, "{body}");
    d.ok(&["stop", "-t", "1", "first"]);
    assert!(!mounted(&mp), "unmounted with its last user");
    d.ok(&["rm", "first"]);
    d.ok(&["volume", "rm", "tv"]);
}

/// A volume's `Labels` and `Options` are null when it has none and `CreatedAt` is in whole
/// seconds, as dockerd's local driver shows them (inspect and ls alike).
#[test]
fn volume_fields_shown_as_dockerd() {
    skip_unless_ready!("volume_fields_shown_as_dockerd");
    let d = Berthd::start();
    d.ok(&["volume", "create", "plain"]);
    let out = d.ok(&[
        "volume",
        "inspect",
        "--format",
        "{{json .Labels}} {{json .Options}} {{.CreatedAt}}",
        "plain",
    ]);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[..2], ["null", "null"], "{out}");
    assert!(
        f[2].len() == 20 && f[2].ends_with('Z') && !f[2].contains('.'),
        "{out}"
    );
    d.ok(&["volume", "create", "--label", "a=b", "labelled"]);
    let out = d.ok(&[
        "volume",
        "inspect",
        "--format",
        "{{json .Labels}}",
        "labelled",
    ]);
    assert_eq!(out.trim(), r#"{"a":"b"}"#);
    let (st, body) = d.http("GET", "/v1.41/volumes", None);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains(r#""Labels":null"#), "{body}");
}
