use super::*;
use crate::transport::FakeTransport;

#[derive(Default, Clone)]
struct FakeRunner {
    /// Started specs; the fake "serves" by binding the socket a started plugin names.
    started: Arc<Mutex<Vec<RunSpec>>>,
    running: Arc<Mutex<BTreeMap<String, std::os::unix::net::UnixListener>>>,
    stops: Arc<Mutex<Vec<String>>>,
    fail: Arc<Mutex<Option<String>>>,
    socket: Arc<Mutex<String>>,
}

impl Runner for FakeRunner {
    fn start(&self, spec: &RunSpec) -> Result<(), String> {
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        self.started.lock().unwrap().push(spec.clone());
        let dir = spec
            .mounts
            .iter()
            .find(|m| m.destination == SOCKET_DIR_INSIDE)
            .unwrap()
            .source
            .clone();
        let l = std::os::unix::net::UnixListener::bind(
            Path::new(&dir).join(self.socket.lock().unwrap().as_str()),
        )
        .map_err(|e| e.to_string())?;
        self.running.lock().unwrap().insert(spec.id.clone(), l);
        Ok(())
    }
    fn stop(&self, id: &str, _grace: Duration) -> Result<(), String> {
        self.stops.lock().unwrap().push(id.to_string());
        self.running.lock().unwrap().remove(id);
        Ok(())
    }
    fn is_running(&self, id: &str) -> bool {
        self.running.lock().unwrap().contains_key(id)
    }
    fn cleanup(&self, _id: &str, _propagated: Option<&Path>) {}
}

const CONFIG: &str = r#"{"Description":"test volumes","Entrypoint":["/vp","-s"],
  "Interface":{"Types":["docker.volumedriver/1.0"],"Socket":"vp.sock"},
  "Network":{"Type":"host"},"PropagatedMount":"/data",
  "Env":[{"Name":"DEBUG","Settable":["value"],"Value":"0"}]}"#;

fn setup() -> (tempfile::TempDir, FakeRunner, Arc<Plugins>, Manager) {
    let t = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    *runner.socket.lock().unwrap() = "vp.sock".into();
    let fake = FakeTransport::default();
    let plugins = Arc::new(Plugins::with_transport(
        vec![t.path().join("none")],
        crate::Settings {
            retry_budget: Duration::ZERO,
            ..Default::default()
        },
        Box::new(move |_| Arc::new(fake.clone())),
    ));
    let m = Manager::open(
        &t.path().join("plugins"),
        &t.path().join("run"),
        Box::new(runner.clone()),
        plugins.clone(),
    )
    .unwrap();
    (t, runner, plugins, m)
}

fn create(m: &Manager, name: &str) -> PluginObj {
    let c = Config::parse(CONFIG.as_bytes()).unwrap();
    m.create(
        name,
        "",
        c,
        ("sha256:c".into(), "sha256:l".into()),
        |root| std::fs::write(root.join("vp"), "x").map_err(|e| e.to_string()),
    )
    .unwrap()
}

#[tokio::test]
async fn lifecycle_registers_and_refuses_as_dockerd() {
    let (t, runner, plugins, m) = setup();
    let p = create(&m, "vp");
    assert_eq!(p.name, "vp:latest");
    assert!(!p.enabled);
    assert!(matches!(
        m.create(
            "vp:latest",
            "",
            p.config.clone(),
            Default::default(),
            |_| Ok(())
        ),
        Err(ManagedError::AlreadyExists(_))
    ));
    // Disabled: a lookup fails at once with dockerd's words.
    let e = plugins.get("vp", crate::VOLUME).await.err().unwrap();
    assert_eq!(e.to_string(), "plugin vp found but disabled");

    m.set("vp", &["DEBUG=1".into()]).unwrap();
    m.enable("vp", Duration::from_secs(5)).unwrap();
    let spec = runner.started.lock().unwrap()[0].clone();
    assert_eq!(spec.args, ["/vp", "-s"]);
    assert!(spec.env.contains(&"DEBUG=1".to_string()));
    assert!(spec.host_network);
    let pm = spec
        .mounts
        .iter()
        .find(|x| x.destination == "/data")
        .unwrap();
    assert!(pm.options.contains(&"rshared".to_string()));
    assert!(matches!(
        m.enable("vp", Duration::from_secs(1)),
        Err(ManagedError::AlreadyEnabled(_))
    ));
    assert!(matches!(
        m.set("vp", &["DEBUG=2".into()]),
        Err(ManagedError::SetWhileEnabled)
    ));
    // Registered under its name, found by the short one, paths scoped to the plugin.
    let got = plugins.get("vp", crate::VOLUME).await.unwrap();
    let scope = got.paths.clone().unwrap();
    assert_eq!(
        scope.host_path("/data/v1"),
        m.dir(&p.id)
            .join("propagated-mount/v1")
            .display()
            .to_string()
    );
    assert_eq!(
        scope.host_path("/etc/x"),
        m.dir(&p.id).join("rootfs/etc/x").display().to_string()
    );
    assert_eq!(plugins.active(crate::VOLUME), ["vp:latest"]);
    let (all, _) = plugins.all(crate::VOLUME).await;
    assert_eq!(all.len(), 1);

    assert!(matches!(
        m.remove("vp", false),
        Err(ManagedError::Enabled(_))
    ));
    assert!(matches!(
        m.disable("vp", false, &["v1".into()]),
        Err(ManagedError::InUse { .. })
    ));
    m.disable("vp", false, &[]).unwrap();
    assert!(!runner.is_running(&p.id));
    assert!(plugins.get("vp", crate::VOLUME).await.is_err());
    assert!(matches!(
        m.disable("vp", false, &[]),
        Err(ManagedError::AlreadyDisabled(_))
    ));

    // State persists: a new manager sees the plugin and its settings.
    let m2 = Manager::open(
        &t.path().join("plugins"),
        &t.path().join("run"),
        Box::new(runner.clone()),
        plugins.clone(),
    )
    .unwrap();
    let again = m2.find(&p.id[..12]).unwrap();
    assert_eq!(again.plugin.settings.env, ["DEBUG=1"]);
    m2.remove("vp:latest", false).unwrap();
    assert!(!m2.dir(&p.id).exists());
    assert!(matches!(m2.find("vp"), Err(ManagedError::NotFound(_))));
}

#[tokio::test]
async fn enabled_plugins_come_back_and_failures_leave_nothing() {
    let (t, runner, plugins, m) = setup();
    let p = create(&m, "localhost:5000/vp:1.0");
    m.enable("localhost:5000/vp:1.0", Duration::from_secs(5))
        .unwrap();
    // The daemon restarts; the plugin's container died meanwhile: restore starts it again.
    runner.running.lock().unwrap().clear();
    drop(m);
    let m = Manager::open(
        &t.path().join("plugins"),
        &t.path().join("run"),
        Box::new(runner.clone()),
        plugins.clone(),
    )
    .unwrap();
    assert!(m.restore().is_empty());
    assert!(runner.is_running(&p.id));
    assert_eq!(runner.started.lock().unwrap().len(), 2);
    assert!(plugins
        .get("localhost:5000/vp:1.0", crate::VOLUME)
        .await
        .is_ok());
    m.remove("localhost:5000/vp:1.0", true).unwrap();
    assert!(!runner.is_running(&p.id));

    // A plugin that never serves its socket: enable fails, nothing runs, socket dir gone.
    *runner.socket.lock().unwrap() = "other.sock".into();
    let q = create(&m, "late");
    let e = m.enable("late", Duration::from_millis(200)).unwrap_err();
    assert!(e.to_string().contains("did not answer"), "{e}");
    assert!(!runner.is_running(&q.id));
    assert!(!t.path().join("run").join(&q.id[..12]).exists());
    assert!(!m.find("late").unwrap().plugin.enabled);
    *runner.fail.lock().unwrap() = Some("no runtime".into());
    let e = m.enable("late", Duration::from_millis(200)).unwrap_err();
    assert!(e.to_string().contains("no runtime"), "{e}");
    // A create whose content fails leaves no directory.
    let before = std::fs::read_dir(t.path().join("plugins")).unwrap().count();
    let c = Config::parse(CONFIG.as_bytes()).unwrap();
    assert!(m
        .create("broken", "", c, Default::default(), |_| Err(
            "bad tar".into()
        ))
        .is_err());
    assert_eq!(
        std::fs::read_dir(t.path().join("plugins")).unwrap().count(),
        before
    );
    assert!(matches!(
        m.claimable("Bad Name"),
        Err(ManagedError::BadName(_))
    ));
}

#[test]
fn names_normalize_as_references() {
    assert_eq!(normalize("vp"), "vp:latest");
    assert_eq!(normalize("vieux/sshfs"), "vieux/sshfs:latest");
    assert_eq!(normalize("docker.io/vieux/sshfs:1"), "vieux/sshfs:1");
    assert_eq!(normalize("localhost:5000/vp"), "localhost:5000/vp:latest");
    assert_eq!(normalize("localhost:5000/vp:2"), "localhost:5000/vp:2");
}
