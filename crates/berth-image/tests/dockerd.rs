//! Round trip with a real dockerd: Berth's docker archive loads into dockerd with the same image ID, and
//! archives saved by dockerd (several images in one) load into Berth. The test starts its own private
//! dockerd (own data root, exec root, socket and pidfile) and stops it by PID.

mod common;

use berth_image::archive::{export_docker_archive, import_docker_archive};
use berth_image::image::{flatten, import_rootfs, lookup, resolve};
use berth_image::transfer::{Source, TarSink};
use berth_image::Store;
use common::run;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Dockerd {
    child: Child,
    docker: PathBuf,
    sock: String,
    dir: tempfile::TempDir,
}

impl Dockerd {
    fn start(test: &str) -> Option<Dockerd> {
        if !common::is_root() {
            println!("skipped: {test}: dockerd needs root");
            return None;
        }
        let tools = common::need(test, &["dockerd", "containerd"])?;
        let docker = ["/usr/bin/docker"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| common::tool("docker"));
        let Some(docker) = docker else {
            println!("skipped: {test}: docker client is not installed");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let sock = format!("unix://{}", d.join("docker.sock").display());
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new(&tools[0])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .args([
                "-H",
                &sock,
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--storage-driver=vfs",
                "--log-level=error",
            ])
            .arg(format!("--config-file={}", write_daemon_json(d).display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let me = Dockerd {
            child,
            docker,
            sock,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new(&me.docker)
                .args(["-H", &me.sock, "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Some(me);
            }
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(me.dir.path().join("dockerd.log")).unwrap_or_default();
                println!("skipped: {test}: private dockerd did not come up: {log}");
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        run(Command::new(&self.docker)
            .args(["-H", &self.sock])
            .args(args))
    }
}

fn write_daemon_json(d: &Path) -> PathBuf {
    let p = d.join("daemon.json");
    std::fs::write(&p, "{}").unwrap();
    p
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Stop only the dockerd this test started, by its PID: SIGTERM, then SIGKILL after a grace period.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Unmount whatever it left under its roots before the directory is removed.
        if let Ok(m) = std::fs::read_to_string("/proc/self/mounts") {
            let root = self.dir.path().display().to_string();
            let mut points: Vec<&str> = m
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|p| p.starts_with(&root))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

#[test]
fn dockerd_round_trip() {
    let Some(d) = Dockerd::start("dockerd_round_trip") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("store")).unwrap();
    import_rootfs(
        &store,
        &common::busybox_rootfs(20_000, 11)[..],
        "berth.test/to-docker:1",
        &["CMD [\"sh\"]".into(), "ENV FROM=berth".into()],
    )
    .unwrap();
    let ours = resolve(&store, &lookup(&store, "berth.test/to-docker:1").unwrap()).unwrap();

    // Berth -> dockerd: same image ID (config digest), config preserved.
    let arch = t.path().join("berth.tar");
    let mut f = std::fs::File::create(&arch).unwrap();
    export_docker_archive(
        &store,
        &["berth.test/to-docker:1"],
        &mut TarSink::new(&mut f),
    )
    .unwrap();
    drop(f);
    d.docker(&["load", "-i", arch.to_str().unwrap()]);
    let id = d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        "berth.test/to-docker:1",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&id.stdout).trim(),
        ours.config_digest.as_str()
    );
    let env = d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Env}}",
        "berth.test/to-docker:1",
    ]);
    assert!(String::from_utf8_lossy(&env.stdout).contains("FROM=berth"));

    // dockerd -> Berth: a second image made by dockerd itself, both saved in one archive.
    let rootfs = t.path().join("rootfs.tar");
    std::fs::write(&rootfs, common::busybox_rootfs(30_000, 12)).unwrap();
    d.docker(&[
        "import",
        "--change",
        "CMD [\"echo\",\"hi\"]",
        rootfs.to_str().unwrap(),
        "made-by-docker:2",
    ]);
    let docker_id = String::from_utf8_lossy(
        &d.docker(&["image", "inspect", "-f", "{{.Id}}", "made-by-docker:2"])
            .stdout,
    )
    .trim()
    .to_string();
    let saved = t.path().join("docker-save.tar");
    d.docker(&[
        "save",
        "-o",
        saved.to_str().unwrap(),
        "made-by-docker:2",
        "berth.test/to-docker:1",
    ]);
    let store2 = Store::open(t.path().join("store2")).unwrap();
    let src = Source::scan_tar(&store2, std::fs::File::open(&saved).unwrap()).unwrap();
    let loaded = import_docker_archive(&store2, &src).unwrap();
    assert_eq!(loaded.len(), 2, "both images of the archive loaded");
    let mine = resolve(&store2, &lookup(&store2, "berth.test/to-docker:1").unwrap()).unwrap();
    assert_eq!(
        mine.config_digest, ours.config_digest,
        "image ID survives the trip through dockerd"
    );
    let theirs = resolve(&store2, &lookup(&store2, "made-by-docker:2").unwrap()).unwrap();
    assert_eq!(theirs.config_digest.as_str(), docker_id);
    assert_eq!(theirs.config.defaults().cmd, vec!["echo", "hi"]);
    let flat = t.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    flatten(&store2, &theirs, &flat, &Default::default()).unwrap();
    assert!(flat.join("bin/busybox").is_file());
}
