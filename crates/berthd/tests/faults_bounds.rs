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
    use std::io::Read;
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
        let n = out.read(&mut buf).expect("read docker logs");
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
        .unwrap_or(64);
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
}
