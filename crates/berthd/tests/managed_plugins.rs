//! Managed plugins through the stock docker CLI (issue 11, done-when 3): a volume plugin built here
//! (a std-only Rust program compiled with rustc, with its libraries, in a busybox rootfs, plus
//! config.json) is created, configured, enabled, used by containers, disabled, pushed to a local
//! docker-registry, removed, installed again from the registry with its privileges granted, enabled
//! again across a berthd restart, and removed with nothing left behind.

mod common;

use common::{Berthd, Registry, BUSYBOX};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn rustc() -> PathBuf {
    let next_to_cargo = Path::new(env!("CARGO")).with_file_name("rustc");
    if next_to_cargo.is_file() {
        next_to_cargo
    } else {
        PathBuf::from("rustc")
    }
}

/// Copy `bin` and the libraries `ldd` names into `root` at the same paths.
fn copy_with_libs(bin: &Path, root: &Path, dest: &str) {
    std::fs::copy(bin, root.join(dest.trim_start_matches('/'))).unwrap();
    let out = Command::new("ldd").arg(bin).output().expect("ldd");
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let path = l
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(PathBuf::from);
        let Some(p) = path else { continue };
        let to = root.join(p.strip_prefix("/").unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&p, &to).unwrap();
    }
}

/// The plugin's context: config.json + rootfs/ (busybox, the plugin binary and its libraries).
fn plugin_context(dir: &Path) -> PathBuf {
    let ctx = dir.join("ctx");
    let root = ctx.join("rootfs");
    for d in [
        "bin",
        "data",
        "run/docker/plugins",
        "proc",
        "sys",
        "dev",
        "etc",
        "tmp",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugins/managed_volume.rs");
    let bin = dir.join("managed_volume");
    let st = Command::new(rustc())
        .args([
            "--edition",
            "2021",
            "-C",
            "opt-level=1",
            "-C",
            "strip=symbols",
            "-o",
        ])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("rustc");
    assert!(st.success(), "compiling the test plugin failed");
    copy_with_libs(&bin, &root, "/bin/mvp");
    std::fs::write(
        ctx.join("config.json"),
        r#"{
  "Description": "Berth test volume plugin",
  "Documentation": "https://example.invalid/mvp",
  "Entrypoint": ["/bin/sh", "-c", "trap 'exit 0' TERM; /bin/mvp \"$0\" & wait"],
  "Args": {"Name": "args", "Settable": ["value"], "Value": ["mvp.sock"]},
  "Env": [{"Name": "DEBUG", "Settable": ["value"], "Value": "0"}],
  "Interface": {"Types": ["docker.volumedriver/1.0"], "Socket": "mvp.sock"},
  "Network": {"Type": "host"},
  "PropagatedMount": "/data",
  "Linux": {"Capabilities": ["CAP_SYS_ADMIN"]}
}"#,
    )
    .unwrap();
    ctx
}

fn inspect(d: &Berthd, name: &str) -> Value {
    let out = d.ok(&["plugin", "inspect", name]);
    let v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0].clone()
}

fn err(d: &Berthd, args: &[&str]) -> String {
    let o = d.docker(args);
    assert!(!o.status.success(), "docker {args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Use the plugin: a container writes into a volume of it, another reads it back.
fn use_volume(d: &Berthd, plugin: &str, vol: &str) {
    d.ok(&["volume", "create", "-d", plugin, vol]);
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{vol}:/v"),
        "bb",
        "sh",
        "-c",
        "echo written-by-a-container > /v/f",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{vol}:/v"),
        "bb",
        "cat",
        "/v/f",
    ]);
    assert_eq!(out.trim(), "written-by-a-container");
}

/// Nothing of plugin `id` left: no directory, socket, mount or process.
fn nothing_left(d: &Berthd, id: &str) {
    let root = d.dir.path();
    assert!(
        !root.join("data/plugins").join(id).exists(),
        "plugin dir left"
    );
    assert!(
        !root.join("exec/plugins/sock").join(id).exists(),
        "socket dir left"
    );
    assert!(
        !root.join("exec/plugins/run").join(id).exists(),
        "run dir left"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(id), "a mount of the plugin is left");
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmd).contains(id),
            "a process of the plugin is left: {}",
            String::from_utf8_lossy(&cmd)
        );
    }
}

#[test]
fn a_managed_volume_plugin_from_create_to_registry_and_back() {
    skip_unless_ready!("managed plugins");
    let regdir = tempfile::tempdir().unwrap();
    let Some(reg) = Registry::start(regdir.path(), false) else {
        println!("skipped: managed plugins: docker-registry is not installed");
        return;
    };
    let mut d = Berthd::start();
    d.import_busybox("bb");
    let ctx = plugin_context(d.dir.path());
    let name = format!("{}/mvp", reg.host);
    let full = format!("{name}:latest");

    // create: disabled, settings from the config's defaults.
    let out = d.ok(&["plugin", "create", &name, ctx.to_str().unwrap()]);
    assert_eq!(out.trim(), name);
    let p = inspect(&d, &name);
    let id = p["Id"].as_str().unwrap().to_string();
    assert_eq!(p["Name"], full);
    assert_eq!(p["Enabled"], false);
    assert_eq!(p["Settings"]["Env"][0], "DEBUG=0");
    assert_eq!(
        p["Config"]["Interface"]["Types"][0],
        "docker.volumedriver/1.0"
    );
    let ls = d.ok(&[
        "plugin",
        "ls",
        "--format",
        "{{.Name}} {{.Enabled}} {{.Description}}",
    ]);
    assert_eq!(ls.trim(), format!("{full} false Berth test volume plugin"));
    assert!(err(&d, &["plugin", "create", &name, ctx.to_str().unwrap()]).contains("already exists"));
    // A disabled plugin's driver is refused at once.
    assert!(err(&d, &["volume", "create", "-d", &name, "early"]).contains("disabled"));

    // A plugin that exits before serving its socket: enable fails clearly and leaves nothing running.
    let good = std::fs::read_to_string(ctx.join("config.json")).unwrap();
    assert!(good.contains(r#"/bin/mvp \"$0\" & wait"#));
    std::fs::write(
        ctx.join("config.json"),
        good.replace(r#"/bin/mvp \"$0\" & wait"#, "exit 3"),
    )
    .unwrap();
    d.ok(&["plugin", "create", "broken", ctx.to_str().unwrap()]);
    std::fs::write(ctx.join("config.json"), good).unwrap();
    let broken = inspect(&d, "broken")["Id"].as_str().unwrap().to_string();
    let e = err(&d, &["plugin", "enable", "broken"]);
    assert!(e.contains("exited before serving its socket"), "{e}");
    assert_eq!(inspect(&d, "broken")["Enabled"], false);
    d.ok(&["plugin", "rm", "broken"]);
    nothing_left(&d, &broken);

    // set: only what the config lets users set.
    d.ok(&["plugin", "set", &name, "DEBUG=1"]);
    assert_eq!(inspect(&d, &name)["Settings"]["Env"][0], "DEBUG=1");
    let e = err(&d, &["plugin", "set", &name, "NOPE=1"]);
    assert!(e.contains("setting \"NOPE\" not found"), "{e}");

    // enable: it runs as a container of Berth's runtime and serves the volume protocol.
    d.ok(&["plugin", "enable", &name]);
    assert_eq!(inspect(&d, &name)["Enabled"], true);
    let e = err(&d, &["plugin", "set", &name, "DEBUG=2"]);
    assert!(e.contains("disable plugin before setting"), "{e}");
    assert!(
        d.ok(&["ps", "-aq"]).trim().is_empty(),
        "plugins are no containers of `ps`"
    );
    use_volume(&d, &name, "vol1");
    // The plugin's mount point is its propagated mount, seen from the host.
    let host_file = d
        .dir
        .path()
        .join("data/plugins")
        .join(&id)
        .join("propagated-mount/vol1/f");
    assert_eq!(
        std::fs::read_to_string(&host_file).unwrap(),
        "written-by-a-container\n"
    );
    let v: Value = serde_json::from_str(&d.ok(&["volume", "inspect", "vol1"])).unwrap();
    assert_eq!(v[0]["Driver"], full);
    assert_eq!(
        v[0]["Status"]["debug"], "1",
        "the plugin runs with the setting"
    );
    let info = d.ok(&["info", "--format", "{{json .Plugins.Volume}}"]);
    assert!(info.contains(&full), "docker info lists it: {info}");

    // rm refuses an enabled plugin; disable refuses while a container holds one of its volumes.
    assert!(err(&d, &["plugin", "rm", &name]).contains("is enabled"));
    d.ok(&[
        "create",
        "--name",
        "holder",
        "--network",
        "none",
        "-v",
        "vol1:/v",
        "bb",
        "true",
    ]);
    assert!(err(&d, &["plugin", "disable", &name]).contains("in use"));
    d.ok(&["rm", "holder"]);
    d.ok(&["volume", "rm", "vol1"]);
    assert!(!host_file.exists(), "the plugin removed the volume");
    d.ok(&["plugin", "disable", &name]);
    assert_eq!(inspect(&d, &name)["Enabled"], false);
    assert!(!d
        .dir
        .path()
        .join("exec/plugins/sock")
        .join(&id[..12])
        .exists());

    // push, rm, install from the registry.
    let out = d.ok(&["plugin", "push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");
    d.ok(&["plugin", "rm", &name]);
    assert!(d.ok(&["plugin", "ls", "-q"]).trim().is_empty());
    nothing_left(&d, &id);

    // The privileges the plugin asks for, as dockerd lists them; a pull that does not accept them fails.
    let (st, body) = d.http(
        "GET",
        &format!("/v1.47/plugins/privileges?remote={full}"),
        None,
    );
    assert_eq!(st, 200, "{body}");
    let privs: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(privs[0]["Name"], "network");
    assert_eq!(privs[0]["Value"][0], "host");
    assert_eq!(privs[1]["Name"], "capabilities");
    let (st, body) = d.http(
        "POST",
        &format!("/v1.47/plugins/pull?remote={full}"),
        Some("[]"),
    );
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("privileges"), "{body}");
    assert!(
        d.ok(&["plugin", "ls", "-q"]).trim().is_empty(),
        "a refused pull installs nothing"
    );

    let out = d.ok(&["plugin", "install", "--grant-all-permissions", &name]);
    assert!(out.contains(&format!("Installed plugin {name}")), "{out}");
    let p = inspect(&d, &name);
    let id2 = p["Id"].as_str().unwrap().to_string();
    assert_eq!(p["Enabled"], true, "install enables it");
    assert_eq!(p["PluginReference"], full);
    assert_eq!(
        p["Settings"]["Env"][0], "DEBUG=0",
        "a fresh install has the defaults"
    );
    use_volume(&d, &name, "vol2");

    // State persists: berthd restarts (even killed), the plugin comes back enabled.
    d.kill9();
    d.spawn();
    assert_eq!(inspect(&d, &name)["Enabled"], true);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "vol2:/v",
        "bb",
        "cat",
        "/v/f",
    ]);
    assert_eq!(out.trim(), "written-by-a-container");
    d.ok(&["volume", "rm", "vol2"]);

    // upgrade (from its own reference) wants it disabled, keeps id and settings, and it runs again.
    let e = err(&d, &["plugin", "upgrade", "--grant-all-permissions", &name]);
    assert!(e.contains("disabled"), "{e}");
    d.ok(&["plugin", "disable", &name]);
    d.ok(&["plugin", "set", &name, "DEBUG=1"]);
    d.ok(&["plugin", "upgrade", "--grant-all-permissions", &name]);
    let p = inspect(&d, &name);
    assert_eq!(p["Id"], id2.as_str());
    assert_eq!(p["Settings"]["Env"][0], "DEBUG=1");
    d.ok(&["plugin", "enable", &name]);
    use_volume(&d, &name, "vol3");
    d.ok(&["volume", "rm", "vol3"]);

    // rm -f disables and removes it; nothing is left behind.
    d.ok(&["plugin", "rm", "-f", &name]);
    assert!(err(&d, &["plugin", "inspect", &name]).contains("not found"));
    nothing_left(&d, &id2);
}
