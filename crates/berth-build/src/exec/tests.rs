//! The executor over fakes: cache decisions, ARG scoping, stages, failures.

use super::*;
use crate::boundary::FileMeta;
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Default)]
struct World {
    configs: BTreeMap<String, ImageConfig>,
    tags: BTreeMap<String, String>,
    runs: Vec<RunStep>,
    removed: Vec<String>,
    created: Vec<String>,
    /// Exit code per command text (0 otherwise).
    exits: BTreeMap<String, i32>,
    layers: Vec<Layer>,
    rootfs: BTreeMap<String, PathBuf>,
    /// Handed out for any image not in `rootfs`.
    any_rootfs: Option<PathBuf>,
    /// Images whose root file system was asked for.
    rootfs_asked: Vec<String>,
    /// Remembered COPY --from checksums.
    checksums: BTreeMap<String, String>,
    /// Containers of metadata steps.
    meta: Vec<String>,
    n: usize,
}

#[derive(Clone, Default)]
struct Fake(Rc<RefCell<World>>);

impl ImageSource for Fake {
    fn get(
        &mut self,
        name: &str,
        _pull: bool,
        _out: &mut dyn Output,
    ) -> Result<BaseImage, BuildError> {
        let w = self.0.borrow();
        let id = w
            .tags
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string());
        w.configs
            .get(&id)
            .map(|c| BaseImage {
                id: id.clone(),
                config: c.clone(),
            })
            .ok_or_else(|| BuildError::Image(format!("No such image: {name}")))
    }
    fn lstat(&mut self, _id: &str, path: &str) -> Result<Option<FileMeta>, BuildError> {
        Ok(match path {
            "/usr" | "/usr/local" | "/tmp" => Some(FileMeta {
                mode: 0o041777,
                uid: 0,
                gid: 0,
                link: None,
            }),
            "/bin" => Some(FileMeta {
                mode: 0o120777,
                uid: 0,
                gid: 0,
                link: Some("usr/bin".into()),
            }),
            _ => None,
        })
    }
    fn rootfs(&mut self, id: &str) -> Result<PathBuf, BuildError> {
        let mut w = self.0.borrow_mut();
        w.rootfs_asked.push(id.to_string());
        w.rootfs
            .get(id)
            .or(w.any_rootfs.as_ref())
            .cloned()
            .ok_or_else(|| BuildError::Image(format!("no rootfs for {id}")))
    }
    fn remembered_checksum(&mut self, key: &str) -> Option<String> {
        self.0.borrow().checksums.get(key).cloned()
    }
    fn remember_checksum(&mut self, key: &str, sum: &str) {
        self.0
            .borrow_mut()
            .checksums
            .insert(key.to_string(), sum.to_string());
    }
}

impl StepRunner for Fake {
    fn create(&mut self, step: &RunStep) -> Result<String, BuildError> {
        let mut w = self.0.borrow_mut();
        w.n += 1;
        let id = format!("c{:063}", w.n);
        let cmd = step.config.cmd.clone().unwrap_or_default();
        if cmd.iter().any(|c| c.starts_with("#(nop) ")) {
            // A metadata step's container: made and removed, never run.
            w.meta.push(id.clone());
            return Ok(id);
        }
        w.runs.push(step.clone());
        w.created.push(id.clone());
        Ok(id)
    }
    fn run(&mut self, container: &str, out: &mut dyn Output) -> Result<i32, BuildError> {
        let w = self.0.borrow();
        let i = w.created.iter().position(|c| c == container).unwrap();
        let cmd = w.runs[i].config.cmd.clone().unwrap().join(" ");
        out.stream(&format!("ran {cmd}\n"));
        Ok(*w.exits.get(&cmd).unwrap_or(&0))
    }
    fn remove(&mut self, container: &str) -> Result<(), BuildError> {
        self.0.borrow_mut().removed.push(container.to_string());
        Ok(())
    }
}

impl LayerStore for Fake {
    fn children(&mut self, parent: Option<&str>) -> Result<Vec<BaseImage>, BuildError> {
        Ok(self
            .0
            .borrow()
            .configs
            .iter()
            .filter(|(_, c)| c.parent.as_deref() == parent)
            .map(|(id, c)| BaseImage {
                id: id.clone(),
                config: c.clone(),
            })
            .collect())
    }
    fn parent(&mut self, id: &str) -> Result<Option<String>, BuildError> {
        Ok(self
            .0
            .borrow()
            .configs
            .get(id)
            .and_then(|c| c.parent.clone()))
    }
    fn commit(
        &mut self,
        _parent: Option<&str>,
        layer: Layer,
        mut config: ImageConfig,
    ) -> Result<String, BuildError> {
        let mut w = self.0.borrow_mut();
        w.n += 1;
        if let Layer::Tar(p) = &layer {
            // The tar is there to read when the store commits it.
            assert!(std::fs::metadata(p).unwrap().len() > 0);
        }
        if let Layer::Existing { image, index } = &layer {
            let d = w.configs[image].rootfs.diff_ids[*index].clone();
            config.rootfs.diff_ids.push(d);
        } else if layer != Layer::None {
            config.rootfs.diff_ids.push(format!("sha256:{:064}", w.n));
        }
        let id = format!("sha256:{:064x}", w.n);
        w.layers.push(layer);
        w.configs.insert(id.clone(), config);
        Ok(id)
    }
    fn tag(&mut self, id: &str, name: &str) -> Result<(), BuildError> {
        self.0.borrow_mut().tags.insert(name.into(), id.into());
        Ok(())
    }
}

fn world() -> (Fake, tempfile::TempDir) {
    let f = Fake::default();
    let mut base = ImageConfig::new_for_host(vec!["sha256:base".into()]);
    base.config = Some(ContainerConfig {
        cmd: Some(vec!["sh".into()]),
        env: Some(vec!["PATH=/bin".into()]),
        ..Default::default()
    });
    let id = format!("sha256:{:064x}", 0xba5e_u64);
    f.0.borrow_mut().configs.insert(id.clone(), base);
    f.0.borrow_mut().tags.insert("busybox".into(), id);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("app.txt"), "v1").unwrap();
    std::fs::write(ctx.path().join("secret.txt"), "s").unwrap();
    (f, ctx)
}

fn opts(ctx: &std::path::Path, df: &str) -> BuildOptions {
    BuildOptions {
        dockerfile: df.into(),
        context: crate::tree::Context(std::sync::Arc::new(crate::tree::DirTree(ctx.to_path_buf()))),
        ignore: Ignore::parse("secret.txt\n"),
        tags: vec!["out:1".into()],
        rm: true,
        scratch: ctx.to_path_buf(),
        ..Default::default()
    }
}

fn go(f: &Fake, o: &BuildOptions) -> (Result<BuildResult, BuildError>, Vec<String>) {
    let mut out: Vec<String> = Vec::new();
    let (mut a, mut b, mut c) = (f.clone(), f.clone(), f.clone());
    let r = build(o, &mut a, &mut b, &mut c, &mut out);
    (r, out)
}

const DF: &str = "ARG BASE=busybox
FROM $BASE
ARG V=1
ENV A=x B=\"y z\"
LABEL l1=$A \"l 2\"=two
WORKDIR app
WORKDIR sub
USER 1000:1000
EXPOSE 80 53/udp 8000-8001
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD [\"true\"]
COPY app.txt ./
RUN echo $V
ENTRYPOINT [\"/bin/app\"]
ONBUILD RUN echo child
";

#[test]
fn builds_every_metadata_instruction() {
    let (f, ctx) = world();
    let (r, out) = go(&f, &opts(ctx.path(), DF));
    let id = r.unwrap().id;
    let w = f.0.borrow();
    let c = w.configs[&id].config.clone().unwrap();
    assert_eq!(c.env.unwrap(), ["PATH=/bin", "A=x", "B=y z"]);
    assert_eq!(
        c.labels.unwrap(),
        [("l1".into(), "x".into()), ("l 2".into(), "two".into())].into()
    );
    assert_eq!(c.working_dir.as_deref(), Some("/app/sub"));
    assert_eq!(c.user.as_deref(), Some("1000:1000"));
    let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
    assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
    assert!(c.volumes.unwrap().contains_key("/data"));
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    let hc = c.healthcheck.unwrap();
    assert_eq!(hc.test.unwrap(), ["CMD", "true"]);
    assert_eq!(hc.interval, Some(5_000_000_000));
    assert_eq!(hc.retries, Some(2));
    // ENTRYPOINT after no CMD of this build resets the base image's CMD.
    assert_eq!(c.entrypoint.unwrap(), ["/bin/app"]);
    assert_eq!(c.cmd, None);
    assert_eq!(c.on_build.unwrap(), ["RUN echo child"]);
    // RUN saw the ARG in its environment, and its cache key carries it.
    let run = &w.runs[0];
    assert_eq!(
        run.config.cmd.clone().unwrap(),
        ["/bin/sh", "-c", "echo $V"]
    );
    assert!(run.config.env.clone().unwrap().contains(&"V=1".to_string()));
    assert_eq!(run.config.working_dir.as_deref(), Some("/app/sub"));
    let hist: Vec<_> = w.configs[&id]
        .history
        .iter()
        .filter_map(|h| h.created_by.clone())
        .collect();
    assert!(
        hist.contains(&"|1 V=1 /bin/sh -c echo $V".to_string()),
        "{hist:?}"
    );
    assert!(hist.iter().any(|h| h.starts_with("/bin/sh -c #(nop) COPY file:") && h.ends_with(" in /app/sub/ ")), "{hist:?}");
    // As the classic builder: a container per metadata step (never run), all removed.
    assert_eq!(w.meta.len(), 12);
    let mut made: Vec<&String> = w.meta.iter().chain(&w.created).collect();
    made.sort();
    let mut removed: Vec<&String> = w.removed.iter().collect();
    removed.sort();
    assert_eq!(removed, made);
    assert_eq!(w.configs[&id].container.as_ref(), w.meta.last());
    assert_eq!(w.tags["out:1"], id);
    let text = out.concat();
    let env_step: Vec<&str> = text.split("Step 4/16 : ").nth(1).unwrap().lines().collect();
    assert_eq!(env_step[0], "ENV A=x B=\"y z\"", "{text}");
    let c = short(&w.meta[1]);
    assert_eq!(env_step[1], format!(" ---> Running in {c}"), "{text}");
    assert_eq!(
        env_step[2],
        format!("Removing intermediate container {c}"),
        "{text}"
    );
    assert!(
        env_step[3].starts_with(" ---> ") && env_step[4].starts_with("Step 5/16"),
        "{text}"
    );
    assert!(
        text.starts_with("Step 1/16 : ARG BASE=busybox\nStep 2/16 : FROM $BASE\n ---> "),
        "{text}"
    );
    assert!(
        text.contains("ran /bin/sh -c echo $V\nRemoving intermediate container c0"),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "Successfully built {}\nSuccessfully tagged out:1\n",
            short(&id)
        )),
        "{text}"
    );
}

#[test]
fn an_unchanged_rebuild_is_all_cache_and_a_changed_file_rebuilds_from_its_copy() {
    let (f, ctx) = world();
    let o = opts(ctx.path(), DF);
    let first = go(&f, &o).0.unwrap().id;
    let runs = f.0.borrow().runs.len();
    let (again, out) = go(&f, &o);
    assert_eq!(again.unwrap().id, first);
    assert_eq!(f.0.borrow().runs.len(), runs, "no RUN re-ran");
    assert_eq!(out.concat().matches("Using cache").count(), 14);
    // A file the COPY does not take (ignored) changes nothing.
    std::fs::write(ctx.path().join("secret.txt"), "other").unwrap();
    assert_eq!(go(&f, &o).0.unwrap().id, first);
    std::fs::write(ctx.path().join("app.txt"), "v2").unwrap();
    let (changed, out) = go(&f, &o);
    assert_ne!(changed.unwrap().id, first);
    let text = out.concat();
    assert_eq!(text.matches("Using cache").count(), 10, "{text}");
    assert_eq!(f.0.borrow().runs.len(), runs + 1);
    // A different build arg misses the cache from the RUN that sees it.
    let mut o2 = o.clone();
    o2.build_args.insert("V".into(), Some("2".into()));
    let (r, out) = go(&f, &o2);
    r.unwrap();
    assert_eq!(out.concat().matches("Using cache").count(), 11);
    assert!(f
        .0
        .borrow()
        .runs
        .last()
        .unwrap()
        .config
        .env
        .clone()
        .unwrap()
        .contains(&"V=2".to_string()));
    // --no-cache runs everything again.
    let mut o3 = o.clone();
    o3.no_cache = true;
    let (_, out) = go(&f, &o3);
    assert_eq!(out.concat().matches("Using cache").count(), 0);
}

#[test]
fn failing_run_reports_dockers_message_and_removes_its_container() {
    let (f, ctx) = world();
    f.0.borrow_mut().exits.insert("/bin/sh -c false".into(), 3);
    let (r, out) = go(&f, &opts(ctx.path(), "FROM busybox\nRUN false\nCMD x\n"));
    let e = r.unwrap_err();
    assert_eq!(
        e.to_string(),
        "The command '/bin/sh -c false' returned a non-zero code: 3"
    );
    let w = f.0.borrow();
    assert_eq!(w.removed, w.created);
    assert!(!out.concat().contains("Step 3/3"));
}

#[test]
fn stages_target_copy_from_and_arg_scoping() {
    let (f, ctx) = world();
    let rootfs = tempfile::tempdir().unwrap();
    std::fs::write(rootfs.path().join("built"), "artifact").unwrap();
    let df = "ARG TAG=busybox\nARG ONLY_META=m\nFROM $TAG AS build\nARG TAG\nARG ONLY_META\nRUN echo $TAG $ONLY_META\nFROM busybox AS final\nCOPY --from=build /built /usr/local/bin/\nCMD run\nFROM busybox AS never\nRUN never\n";
    let mut o = opts(ctx.path(), df);
    o.target = Some("final".into());
    o.build_args.insert("UNUSED".into(), Some("1".into()));
    // The build stage's image gets a rootfs the fake hands out for COPY --from.
    let first = {
        let fake = f.clone();
        let mut o1 = o.clone();
        o1.target = Some("build".into());
        let (r, _) = go(&fake, &o1);
        r.unwrap().id
    };
    f.0.borrow_mut()
        .rootfs
        .insert(first.clone(), rootfs.path().to_path_buf());
    let (r, out) = go(&f, &o);
    let id = r.unwrap().id;
    let text = out.concat();
    assert!(text.contains("Step 9/9 : CMD run"), "{text}");
    assert!(
        text.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{text}"
    );
    let w = f.0.borrow();
    assert!(!w
        .runs
        .iter()
        .any(|r| r.config.cmd.clone().unwrap().contains(&"never".to_string())));
    let env = w.runs[0].config.env.clone().unwrap();
    assert!(
        env.contains(&"TAG=busybox".to_string()) && env.contains(&"ONLY_META=m".to_string()),
        "{env:?}"
    );
    assert!(
        w.layers.iter().any(|l| matches!(l, Layer::Tar(_))),
        "COPY made a tar layer"
    );
    assert_eq!(
        w.configs[&id].config.clone().unwrap().cmd.unwrap(),
        ["/bin/sh", "-c", "run"]
    );
}

#[test]
fn a_cached_copy_from_needs_no_root_file_system() {
    let (f, ctx) = world();
    let rootfs = tempfile::tempdir().unwrap();
    std::fs::write(rootfs.path().join("built"), "artifact").unwrap();
    f.0.borrow_mut().any_rootfs = Some(rootfs.path().to_path_buf());
    let df = |make: &str| {
        format!("FROM busybox AS build\nRUN {make}\nFROM busybox\nCOPY --from=build /built /usr/local/bin/\n")
    };
    let o = opts(ctx.path(), &df("make"));
    let first = go(&f, &o).0.unwrap().id;
    assert_eq!(f.0.borrow().rootfs_asked.len(), 1);
    assert_eq!(f.0.borrow().checksums.len(), 1);

    // No root file system to be had: the unchanged rebuild takes the checksum remembered for the
    // stage's image and every step from the cache.
    f.0.borrow_mut().any_rootfs = None;
    let (r, out) = go(&f, &o);
    assert_eq!(r.unwrap().id, first);
    assert_eq!(out.concat().matches("Using cache").count(), 2, "{out:?}");
    assert_eq!(f.0.borrow().rootfs_asked.len(), 1);

    // Another stage image (its RUN changed): nothing remembered for it, its files are read; they
    // are the same files, so the COPY is the first build's.
    let o2 = opts(ctx.path(), &df("make all"));
    let e = go(&f, &o2).0.unwrap_err();
    assert!(e.to_string().contains("no rootfs"), "{e}");
    f.0.borrow_mut().any_rootfs = Some(rootfs.path().to_path_buf());
    assert_eq!(go(&f, &o2).0.unwrap().id, first);
    assert_eq!(f.0.borrow().rootfs_asked.len(), 3);
    assert_eq!(f.0.borrow().checksums.len(), 2);
}

#[test]
fn cache_from_a_pulled_image_matches_its_history() {
    let (f, ctx) = world();
    {
        // A base image with a history entry for its layer, as real ones have.
        let mut w = f.0.borrow_mut();
        let base = w.tags["busybox"].clone();
        w.configs.get_mut(&base).unwrap().history = vec![History {
            created_by: Some("ADD rootfs.tar /".into()),
            ..Default::default()
        }];
    }
    let df = "FROM busybox\nENV A=1\nCOPY app.txt /app/\nRUN make\nCMD [\"run\"]\n";
    let o = opts(ctx.path(), df);
    let built = go(&f, &o).0.unwrap().id;
    // What a pull of it gives: the same config, no local parent chain, no intermediate images.
    {
        let mut w = f.0.borrow_mut();
        let mut cfg = w.configs[&built].clone();
        cfg.parent = Some("sha256:elsewhere".into());
        let base = w.tags["busybox"].clone();
        w.configs.retain(|id, _| *id == base);
        w.configs.insert("sha256:pulled".into(), cfg);
        w.tags.insert("reg/app:1".into(), "sha256:pulled".into());
        w.runs.clear();
        w.created.clear();
    }
    let mut with = o.clone();
    with.cache_from = vec!["reg/app:1".into()];
    let (r, out) = go(&f, &with);
    assert_eq!(r.unwrap().id, "sha256:pulled", "{out:?}");
    assert_eq!(out.concat().matches("Using cache").count(), 4, "{out:?}");
    let w = f.0.borrow();
    assert!(w.runs.is_empty(), "nothing ran");
    // The steps before the last were made here from the pulled image's history and layers.
    let pulled = &w.configs["sha256:pulled"];
    let made: Vec<&ImageConfig> = w
        .configs
        .values()
        .filter(|c| c.history.len() > 1 && c.history.len() < pulled.history.len())
        .collect();
    assert_eq!(made.len(), 3);
    for c in made {
        let n = c.history.len();
        assert_eq!(c.history[..], pulled.history[..n]);
        let layers = c
            .history
            .iter()
            .filter(|h| h.empty_layer != Some(true))
            .count();
        assert_eq!(c.rootfs.diff_ids[..], pulled.rootfs.diff_ids[..layers]);
    }
    drop(w);
    // A Dockerfile that differs from it: the steps before the difference match, the rest run.
    let mut other = with.clone();
    other.dockerfile = df.replace("RUN make", "RUN make all");
    let (r, out) = go(&f, &other);
    assert_ne!(r.unwrap().id, "sha256:pulled");
    assert_eq!(out.concat().matches("Using cache").count(), 2, "{out:?}");
    assert_eq!(f.0.borrow().runs.len(), 1);
}

#[test]
fn onbuild_triggers_run_in_the_child_and_bad_input_is_refused() {
    let (f, ctx) = world();
    let mut o = opts(ctx.path(), "FROM busybox\nONBUILD RUN echo child\n");
    o.tags = vec!["parent".into()];
    go(&f, &o).0.unwrap();
    let (r, out) = go(&f, &opts(ctx.path(), "FROM parent\nCMD x\n"));
    let id = r.unwrap().id;
    assert!(out.concat().contains("# Executing 1 build trigger\n"));
    let w = f.0.borrow();
    assert_eq!(
        w.runs.last().unwrap().config.cmd.clone().unwrap(),
        ["/bin/sh", "-c", "echo child"]
    );
    assert_eq!(w.configs[&id].config.clone().unwrap().on_build, None);
    drop(w);
    let rootfs = tempfile::tempdir().unwrap();
    std::fs::create_dir(rootfs.path().join("etc")).unwrap();
    std::fs::write(
        rootfs.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\n",
    )
    .unwrap();
    let base = f.0.borrow().tags["busybox"].clone();
    f.0.borrow_mut()
        .rootfs
        .insert(base, rootfs.path().to_path_buf());
    for (df, msg) in [
        (
            "FROM busybox\nRUN --mount=type=cache x\n",
            "Unknown flag: mount",
        ),
        (
            "FROM busybox\nONBUILD FROM x\n",
            "isn't allowed as an ONBUILD trigger",
        ),
        ("FROM busybox\nEXPOSE 99999\n", "invalid containerPort"),
        ("FROM nothere\n", "No such image: nothere"),
        ("FROM --platform=linux/s390x busybox\n", "is not supported"),
        ("FROM scratch\nRUN x\n", "FROM scratch"),
        ("FROM busybox\nCOPY a\n", "at least two arguments"),
        (
            "FROM busybox\nCOPY --chown=nobody app.txt /\n",
            "can't find uid for user nobody",
        ),
    ] {
        let (r, _) = go(&f, &opts(ctx.path(), df));
        let e = r.unwrap_err().to_string();
        assert!(e.contains(msg), "{df}: {e}");
    }
}

#[test]
fn copy_destinations_follow_the_images_symlinks_and_keep_existing_dirs() {
    let (f, ctx) = world();
    let (r, _) = go(&f, &opts(ctx.path(), "FROM busybox\nCOPY app.txt /bin/\n"));
    let id = r.unwrap().id;
    let w = f.0.borrow();
    let h = w.configs[&id]
        .history
        .last()
        .unwrap()
        .created_by
        .clone()
        .unwrap();
    assert!(h.ends_with(" in /bin/ "), "{h}");
    // The layer went to /usr/bin (where /bin points), not over the symlink.
    assert!(matches!(w.layers.last(), Some(Layer::Tar(_))));
}

#[test]
fn go_durations() {
    assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
    assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
    assert!(parse_duration("5").is_err());
    assert!(parse_duration("x").is_err());
}
