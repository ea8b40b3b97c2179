//! berthd under hostile sizes: huge logs, huge request bodies, decompression bombs, many parallel
//! unnamed creates; and the `--read-only` and archive compatibility details found on the way.

mod common;
use common::Berthd;
use std::path::PathBuf;

/// berthd's resident set now and at its peak since the last reset, in KiB.
fn rss(d: &Berthd) -> (u64, u64) {
    let pid = d.child.as_ref().expect("berthd runs").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |k: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("field")
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Forget berthd's peak resident set (VmHWM starts again from now).
fn reset_peak(d: &Berthd) {
    let pid = d.child.as_ref().expect("berthd runs").id();
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");
}

fn log_path(d: &Berthd, name: &str) -> PathBuf {
    let id = d.ok(&["inspect", "-f", "{{.Id}}", name]);
    let id = id.trim();
    d.dir
        .path()
        .join("data/containers")
        .join(id)
        .join(format!("{id}-json.log"))
}

/// Append `mib` MiB of json-file lines to `path`, fast (one prepared block written again and again).
fn grow_log(path: &PathBuf, mib: usize) {
    use std::io::Write;
    let line = format!(
        "{{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-05T10:00:00.000000000Z\"}}\n",
        "filler ".repeat(20)
    );
    let block = line.repeat((1 << 20) / line.len());
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open log");
    let mut written = 0;
    while written < mib << 20 {
        f.write_all(block.as_bytes()).expect("write log");
        written += block.len();
    }
}

/// `docker logs NAME` read as it comes (not held): its line count, first and last bytes.
fn stream_logs(d: &Berthd, name: &str) -> (usize, Vec<u8>, Vec<u8>) {
    let mut child = std::process::Command::new(common::docker_cli().unwrap())
        .args(["logs", name])
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker logs");
    let mut out = child.stdout.take().unwrap();
    let (mut lines, mut head, mut tail) = (0, Vec::new(), Vec::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = common::read_some(&mut out, &mut buf).expect("read docker logs");
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count();
        if head.len() < 64 {
            head.extend_from_slice(&buf[..n.min(64)]);
        }
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(64);
        tail.drain(..keep);
    }
    assert!(child.wait().unwrap().success());
    (lines, head, tail)
}

#[test]
fn logs_of_a_large_log_keep_memory_bounded() {
    skip_unless_ready!("logs_of_a_large_log_keep_memory_bounded");
    let d = Berthd::start();
    d.import_busybox("bb");
    d.ok(&["run", "--name", "big", "bb", "echo", "first"]);
    let log = log_path(&d, "big");
    let mib: usize = std::env::var("BERTH_TEST_LOG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    grow_log(&log, mib);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        for (i, s) in ["stdout", "stderr", "stdout"].iter().enumerate() {
            writeln!(
                f,
                "{{\"log\":\"last {i}\\n\",\"stream\":\"{s}\",\"time\":\"2026-12-05T10:00:01.00000000{i}Z\"}}"
            )
            .unwrap();
        }
    }
    let (idle, _) = rss(&d);
    reset_peak(&d);
    let o = d.docker(&["logs", "--tail", "3", "big"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "last 0\nlast 2\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "last 1\n");
    let o = d.ok(&["logs", "--tail", "2", "--timestamps", "big"]);
    assert_eq!(o, "2026-12-05T10:00:01.000000002Z last 2\n");
    let (_, peak) = rss(&d);
    println!(
        "docker logs --tail 3 of a {mib} MiB log: berthd RSS {idle} KiB idle, peak {peak} KiB"
    );
    assert!(
        peak < idle + 50 * 1024,
        "berthd grew from {idle} KiB to {peak} KiB for a tail of 3 lines"
    );

    // The whole log streams through a bounded buffer too (the CLI reads it all).
    reset_peak(&d);
    let t = std::time::Instant::now();
    let (lines, head, tail) = stream_logs(&d, "big");
    println!("docker logs: {lines} lines in {:?}", t.elapsed());
    assert!(lines > mib * 1000, "only {lines} lines");
    assert!(head.starts_with(b"first\nfiller "), "{head:?}");
    assert!(tail.ends_with(b"last 0\nlast 2\n"), "{tail:?}");
    let (_, peak) = rss(&d);
    println!("docker logs of a {mib} MiB log: berthd peak {peak} KiB");
    assert!(
        peak < idle + 50 * 1024,
        "berthd grew from {idle} KiB to {peak} KiB for the whole log"
    );

    // attach?logs=1 replays the whole log the same way (it was read into memory first).
    reset_peak(&d);
    let (bytes, tail) = attach_replay(&d, "big");
    assert!(bytes > (mib << 20) / 2, "only {bytes} bytes replayed");
    assert!(tail.ends_with(b"last 2\n"), "{tail:?}");
    let (_, peak) = rss(&d);
    println!("attach?logs=1 of a {mib} MiB log: berthd peak {peak} KiB");
    assert!(
        peak < idle + 50 * 1024,
        "berthd grew from {idle} KiB to {peak} KiB replaying the log to an attach"
    );
}

/// `POST /containers/NAME/attach?logs=1&stream=0&stdout=1&stderr=1` read as it comes: the bytes
/// after the response head, and the last of them.
fn attach_replay(d: &Berthd, name: &str) -> (usize, Vec<u8>) {
    use std::io::Write;
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    write!(
        s,
        "POST /v1.47/containers/{name}/attach?logs=1&stream=0&stdout=1&stderr=1 HTTP/1.1\r\n\
         Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let (mut head, mut bytes, mut tail) = (Vec::new(), 0usize, Vec::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = common::read_some(&mut s, &mut buf).expect("read the attach stream");
        if n == 0 {
            break;
        }
        let mut data = &buf[..n];
        if !head.ends_with(b"\r\n\r\n") {
            let mut i = 0;
            while i < data.len() && !head.ends_with(b"\r\n\r\n") {
                head.push(data[i]);
                i += 1;
            }
            data = &data[i..];
        }
        bytes += data.len();
        tail.extend_from_slice(data);
        let keep = tail.len().saturating_sub(64);
        tail.drain(..keep);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    (bytes, tail)
}

/// Send `head` then up to `body_len` bytes of a JSON body with one huge label (in 1 MiB writes, until
/// the daemon stops reading); answer the status line and body of the response.
fn huge_request(d: &Berthd, head: &str, body_len: usize, chunked: bool) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).expect("connect");
    s.write_all(head.as_bytes()).unwrap();
    let w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut w = w;
        let open = b"{\"Image\":\"bb\",\"Cmd\":[\"true\"],\"Labels\":{\"big\":\"";
        let close = b"\"}}";
        let block = vec![b'x'; 1 << 20];
        let mut send = |b: &[u8]| -> std::io::Result<()> {
            if chunked {
                // (An empty chunk ends the body.)
                write!(w, "{:x}\r\n", b.len())?;
                w.write_all(b)?;
                w.write_all(b"\r\n")
            } else {
                w.write_all(b)
            }
        };
        let mut sent = 0;
        let res = (|| {
            send(open)?;
            sent += open.len();
            while sent + block.len() + close.len() <= body_len {
                send(&block)?;
                sent += block.len();
            }
            let pad = vec![b'x'; body_len - sent - close.len()];
            send(&pad)?;
            send(close)?;
            if chunked {
                send(b"")?;
            }
            Ok::<_, std::io::Error>(())
        })();
        (sent, res.is_ok())
    });
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let (sent, completed) = writer.join().unwrap();
    let resp = String::from_utf8_lossy(&resp).into_owned();
    println!(
        "request of {body_len} bytes: sent {sent} (all: {completed}), answer {:?}",
        &resp[..resp.len().min(300)]
    );
    let status = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn huge_request_bodies_are_refused_unread() {
    skip_unless_ready!("huge_request_bodies_are_refused_unread");
    let d = Berthd::start();
    d.import_busybox("bb");
    let (idle, _) = rss(&d);
    reset_peak(&d);
    let len = 200 << 20;
    let head = format!(
        "POST /v1.47/containers/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    let (status, body) = huge_request(&d, &head, len, false);
    assert_eq!(status, 413, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).expect("a JSON error");
    assert!(v["message"].as_str().unwrap().contains("too large"), "{v}");
    // Without a length (chunked), the body is cut off once it passes the limit.
    let head = "POST /v1.47/containers/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (status, body) = huge_request(&d, head, len, true);
    assert_eq!(status, 413, "{body}");
    let (_, peak) = rss(&d);
    println!("berthd RSS {idle} KiB idle, peak {peak} KiB while refusing 2 x 200 MiB bodies");
    assert!(
        peak < idle + 50 * 1024,
        "berthd grew from {idle} to {peak} KiB"
    );
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "nothing was created");
    // A body of ordinary size still works, and the daemon serves on.
    let (status, body) = huge_request(&d, head, 64 << 10, true);
    assert_eq!(status, 201, "{body}");
    d.ok(&[
        "rm",
        "-f",
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"]
            .as_str()
            .unwrap(),
    ]);
}

#[test]
fn parallel_unnamed_creates_all_get_distinct_names() {
    skip_unless_ready!("parallel_unnamed_creates_all_get_distinct_names");
    let d = Berthd::start();
    d.import_busybox("bb");
    let n: usize = std::env::var("BERTH_TEST_PARALLEL_CREATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let outs: Vec<std::process::Output> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..n)
            .map(|_| s.spawn(|| d.docker(&["create", "bb", "true"])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert!(
            o.status.success(),
            "docker create failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let names = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    assert_eq!(names.len(), n);
    for name in &names {
        let (adj, rest) = name.split_once('_').unwrap_or_else(|| panic!("{name}"));
        assert!(!adj.is_empty() && !rest.is_empty(), "{name}");
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n, "names are distinct");
}

#[test]
fn read_only_containers_get_read_only_etc_files() {
    skip_unless_ready!("read_only_containers_get_read_only_etc_files");
    let d = Berthd::start();
    d.import_busybox("bb");
    for f in ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"] {
        let o = d.docker(&[
            "run",
            "--rm",
            "--read-only",
            "bb",
            "sh",
            "-c",
            &format!("echo x >> {f}"),
        ]);
        assert!(
            !o.status.success(),
            "{f} is writable in a read-only container"
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("Read-only file system"),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Without --read-only they stay writable, as in Docker.
        d.ok(&["run", "--rm", "bb", "sh", "-c", &format!("echo x >> {f}")]);
    }
}

/// Files under `dir` (recursively).
fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        count_files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A gzipped `docker save` archive whose one layer holds `mib` MiB of zeros, with a config that
/// names a wrong diffID.
fn bomb_archive(dir: &std::path::Path, mib: usize) -> PathBuf {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size((mib << 20) as u64);
    h.set_mode(0o644);
    h.set_cksum();
    layer
        .append_data(&mut h, "zeros", std::io::repeat(0).take((mib << 20) as u64))
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}}"#,
        "ab".repeat(32)
    );
    let manifest =
        r#"[{"Config":"config.json","RepoTags":["bomb:latest"],"Layers":["layer/layer.tar"]}]"#;
    let mut ar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("layer/layer.tar", &layer[..]),
        ("config.json", config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        ar.append_data(&mut h, name, data).unwrap();
    }
    let plain = dir.join("bomb.tar");
    std::fs::write(&plain, ar.into_inner().unwrap()).unwrap();
    let st = std::process::Command::new("gzip")
        .arg("-f")
        .arg(&plain)
        .status()
        .expect("gzip");
    assert!(st.success());
    dir.join("bomb.tar.gz")
}

use std::io::Read as _;

#[test]
fn failed_loads_leave_nothing_and_bombs_stop_at_the_limit() {
    skip_unless_ready!("failed_loads_leave_nothing_and_bombs_stop_at_the_limit");
    let d = Berthd::start_with(&["--bridge", "none", "--max-uncompressed-size", "8m"]);
    d.import_busybox("bb");
    let images = d.dir.path().join("data/images");
    let before = count_files(&images.join("blobs"));
    let load = |archive: &PathBuf| {
        let data = std::fs::read(archive).unwrap();
        let o = d.docker_in(&["load"], Some(&data));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), all)
    };
    // A bomb: 64 MiB of zeros gzip to a few hundred KiB; the limit stops it at 8 MiB.
    let work = tempfile::tempdir().unwrap();
    let bomb = bomb_archive(work.path(), 64);
    println!(
        "bomb: {} bytes gzipped",
        std::fs::metadata(&bomb).unwrap().len()
    );
    let (ok, out) = load(&bomb);
    assert!(!ok, "the bomb loaded: {out}");
    assert!(out.contains("exceeds the limit of 8388608 bytes"), "{out}");
    assert_eq!(
        count_files(&images.join("blobs")),
        before,
        "blobs left behind"
    );
    assert_eq!(
        count_files(&images.join("ingest")),
        0,
        "temporary files left behind"
    );
    // Within the limit, the wrong diffID fails the load, and its layer goes too.
    let wrong = bomb_archive(work.path(), 2);
    let (ok, out) = load(&wrong);
    assert!(!ok, "{out}");
    assert!(out.contains("diffID"), "{out}");
    assert_eq!(
        count_files(&images.join("blobs")),
        before,
        "blobs left behind"
    );
    assert_eq!(
        count_files(&images.join("ingest")),
        0,
        "temporary files left behind"
    );
    assert!(!d
        .ok(&["images", "--format", "{{.Repository}}"])
        .contains("bomb"));
}

/// A tar whose entry names are written as given (`..` included, which the tar crate refuses).
fn raw_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut ar = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        ar.append(&h, *data).unwrap();
    }
    ar.into_inner().unwrap()
}

/// `PUT /containers/NAME/archive?path=PATH` with a tar body: (status, body).
fn put_archive(d: &Berthd, name: &str, path: &str, tar: &[u8]) -> (u16, String) {
    use std::io::Write;
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).expect("connect");
    write!(
        s,
        "PUT /v1.47/containers/{name}/archive?path={path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        tar.len()
    )
    .unwrap();
    s.write_all(tar).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn archive_put_follows_symlinks_and_cleans_dotdot_inside_the_root() {
    skip_unless_ready!("archive_put_follows_symlinks_and_cleans_dotdot_inside_the_root");
    let d = Berthd::start();
    d.import_busybox("bb");
    d.ok(&["run", "-d", "--name", "cpc", "bb", "sleep", "1000"]);
    d.ok(&["exec", "cpc", "sh", "-c", "busybox mkdir -p /data/sub && busybox ln -s /data /linkdir && busybox ln -s ../../../.. /data/up"]);
    // A symlink to a directory is followed, inside the container.
    let (st, body) = put_archive(&d, "cpc", "/linkdir", &raw_tar(&[("hello.txt", b"hi")]));
    assert_eq!(st, 200, "{body}");
    assert_eq!(d.ok(&["exec", "cpc", "cat", "/data/hello.txt"]), "hi");
    // One that climbs out ends at the container's root, not the host's.
    let (st, body) = put_archive(&d, "cpc", "/data/up", &raw_tar(&[("berth-up-probe", b"x")]));
    assert_eq!(st, 200, "{body}");
    assert_eq!(d.ok(&["exec", "cpc", "cat", "/berth-up-probe"]), "x");
    assert!(!std::path::Path::new("/berth-up-probe").exists());
    // `..` in entry names is resolved lexically; climbing above the destination is a 400.
    let (st, body) = put_archive(
        &d,
        "cpc",
        "/data/sub",
        &raw_tar(&[("a/../b.txt", b"b"), ("/../c.txt", b"c")]),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        d.ok(&["exec", "cpc", "cat", "/data/sub/b.txt", "/data/sub/c.txt"]),
        "bc"
    );
    let (st, body) = put_archive(
        &d,
        "cpc",
        "/data/sub",
        &raw_tar(&[("../../evil.txt", b"e")]),
    );
    assert_eq!(st, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).expect("JSON error");
    assert!(v["message"].as_str().unwrap().contains(".."), "{v}");
    assert!(!d
        .docker(&["exec", "cpc", "cat", "/evil.txt"])
        .status
        .success());
    // docker cp into the symlink, as the CLI does it.
    let f = d.dir.path().join("cp.txt");
    std::fs::write(&f, "cp").unwrap();
    d.ok(&["cp", f.to_str().unwrap(), "cpc:/linkdir/"]);
    assert_eq!(d.ok(&["exec", "cpc", "cat", "/data/cp.txt"]), "cp");
}

#[test]
fn a_pulled_bomb_stops_at_the_limit_when_unpacked() {
    skip_unless_ready!("a_pulled_bomb_stops_at_the_limit_when_unpacked");
    let src = Berthd::start();
    let Some(reg) = common::Registry::start(src.dir.path(), false) else {
        println!(
            "skipped: a_pulled_bomb_stops_at_the_limit_when_unpacked: docker-registry is missing"
        );
        return;
    };
    // A rootfs of 12 MiB of zeros: its layer is stored gzipped, a few tens of KiB.
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(12 << 20);
    h.set_mode(0o644);
    h.set_cksum();
    t.append_data(&mut h, "zeros", std::io::repeat(0).take(12 << 20))
        .unwrap();
    let tarball = src.dir.path().join("zeros.tar");
    std::fs::write(&tarball, t.into_inner().unwrap()).unwrap();
    let name = format!("{}/bomb:1", reg.host);
    src.ok(&["import", tarball.to_str().unwrap(), &name]);
    src.ok(&["push", &name]);
    let d = Berthd::start_with(&["--bridge", "none", "--max-uncompressed-size", "4m"]);
    d.ok(&["pull", &name]);
    let o = d.docker(&["create", &name, "true"]);
    assert!(!o.status.success(), "the bomb unpacked");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exceeds the limit of 4194304 bytes"), "{err}");
    let overlay = d.dir.path().join("data/overlay");
    // The snapshotter's spare (`spare-*`: empty upper and work, an empty parent file) is not a
    // layer; anything else in tmp is.
    let partial: usize = std::fs::read_dir(overlay.join("tmp"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with("spare-"))
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum();
    assert_eq!(partial, 0, "partial layer left");
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

/// The processes whose command line is exactly `args`.
fn processes_running(args: &[&str]) -> usize {
    let want: Vec<u8> = args
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| *c == want)
        .count()
}

/// A shim that cannot serve the container the runtime made (here its json-file log cannot be
/// opened) takes the container down again: the start fails with the reason, nothing of it runs
/// or stays in the runtime's state, and once the log can be written the same container starts.
#[test]
fn a_start_whose_log_cannot_be_opened_leaves_nothing_running() {
    skip_unless_ready!("a_start_whose_log_cannot_be_opened_leaves_nothing_running");
    let d = Berthd::start();
    d.import_busybox("bb");
    let cmd = ["sleep", "4243"];
    let id = d.ok(&[
        &["create", "--name", "nolog", "--network", "none", "bb"][..],
        &cmd,
    ]
    .concat());
    let id = id.trim();
    let log = log_path(&d, "nolog");
    let _ = std::fs::remove_file(&log);
    std::fs::create_dir(&log).expect("a directory where the log goes");
    let o = d.docker(&["start", "nolog"]);
    assert!(!o.status.success(), "started without a log: {o:?}");
    let state = d.dir.path().join("exec/runtime/berth").join(id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while (processes_running(&cmd) > 0 || state.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(processes_running(&cmd), 0, "the container still runs");
    assert!(!state.exists(), "the runtime still has {}", state.display());
    std::fs::remove_dir(&log).unwrap();
    d.ok(&["start", "nolog"]);
    assert_eq!(processes_running(&cmd), 1);
    d.ok(&["rm", "-f", "nolog"]);
}
