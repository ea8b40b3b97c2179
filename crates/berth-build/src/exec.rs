//! The executor: runs the plan one instruction at a time over the [`crate::boundary`] traits, with the
//! classic builder's cache (a child of the current image whose `ContainerConfig` equals this step's
//! is reused; after the first miss a stage stops looking) and its progress lines.

use crate::boundary::{
    short, BaseImage, HostOptions, ImageSource, Layer, LayerStore, Output, RunStep, StepRunner,
};
use crate::copy::{self, join_abs, CopyRequest};
use crate::ignore::Ignore;
use crate::parser::{self, Args, Instruction};
use crate::plan::{self, BuildArgs};
use crate::shell;
use crate::BuildError;
use berth_image::config::{ContainerConfig, Empty, Healthcheck, History, ImageConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What a build is asked.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// The context: held in memory as it was unpacked (berthd), or a directory.
    pub context: crate::tree::Context,
    /// Its `.dockerignore`.
    pub ignore: Ignore,
    /// Names for the result.
    pub tags: Vec<String>,
    /// Never use the cache.
    pub no_cache: bool,
    /// Pull base images first.
    pub pull: bool,
    /// Remove intermediate containers after a successful step (and a failed one).
    pub rm: bool,
    /// Remove intermediate containers whatever happens.
    pub force_rm: bool,
    /// `buildargs`.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `labels` (a last LABEL step).
    pub labels: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// RUN containers' resources and network.
    pub host: HostOptions,
    /// `--cache-from` images: when given, only they (and their parents) serve as cache.
    pub cache_from: Vec<String>,
    /// A directory for the layer files being written, made when a step first needs it.
    pub scratch: PathBuf,
}

/// What a build made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildResult {
    /// The final image's ID.
    pub id: String,
}

/// The PATH a stage gets when its base image sets none (dockerd's default).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct State {
    image: Option<String>,
    config: ImageConfig,
    cmd_set: bool,
    /// Declared ARGs with a value, in order.
    args: Vec<(String, String)>,
}

impl State {
    fn run(&self) -> ContainerConfig {
        self.config.config.clone().unwrap_or_default()
    }

    fn env_vars(&self) -> Vec<(String, String)> {
        let mut v = self.args.clone();
        for e in self.run().env.unwrap_or_default() {
            let (k, val) = e.split_once('=').unwrap_or((e.as_str(), ""));
            v.push((k.to_string(), val.to_string()));
        }
        v
    }

    fn shell(&self) -> Vec<String> {
        self.run()
            .shell
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn workdir(&self) -> String {
        self.run()
            .working_dir
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }
}

struct Builder<'a> {
    opts: &'a BuildOptions,
    images: &'a mut dyn ImageSource,
    runner: &'a mut dyn StepRunner,
    layers: &'a mut dyn LayerStore,
    out: &'a mut dyn Output,
    escape: char,
    args: BuildArgs,
    step: usize,
    total: usize,
    /// Finished stages: (name, image).
    stages: Vec<(Option<String>, Option<String>)>,
    /// With `cachefrom`: the only images the cache may use.
    cache_allowed: Option<BTreeSet<String>>,
    /// With `cachefrom`: the images, matched by their history where no local image is a hit
    /// (pulled images have no parent chain here).
    cache_sources: Vec<BaseImage>,
    busted: bool,
}

/// Run a build.
pub fn build(
    opts: &BuildOptions,
    images: &mut dyn ImageSource,
    runner: &mut dyn StepRunner,
    layers: &mut dyn LayerStore,
    out: &mut dyn Output,
) -> Result<BuildResult, BuildError> {
    let df = parser::parse(&opts.dockerfile)?;
    for w in &df.warnings {
        out.stream(&format!("[Warning] {w}\n"));
    }
    let plan = plan::plan(&df, opts.target.as_deref(), &opts.labels)?;
    let mut b = Builder {
        opts,
        images,
        runner,
        layers,
        out,
        escape: df.escape,
        args: BuildArgs::new(opts.build_args.clone()),
        step: 0,
        total: plan.total_steps,
        stages: vec![],
        cache_allowed: None,
        cache_sources: vec![],
        busted: false,
    };
    b.cache_from()?;
    for ins in &plan.meta_args {
        b.print_step(ins)?;
        let meta: Vec<(String, String)> = b
            .args
            .meta
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        for (k, default) in BuildArgs::parse_arg(ins, b.escape, &meta)? {
            let v = b.args.resolve(&k, default, false);
            b.args.meta.insert(k, v);
        }
    }
    let mut last = None;
    for stage in &plan.stages {
        b.print_step(&stage.from)?;
        let mut st = b.from(&stage.from)?;
        for ins in &stage.commands {
            b.print_step(ins)?;
            b.dispatch(ins, &mut st)?;
        }
        b.stages.push((stage.name.clone(), st.image.clone()));
        last = Some(st.image);
    }
    let id = last.flatten().ok_or_else(|| {
        BuildError::Invalid("No image was generated. Is your Dockerfile empty?".into())
    })?;
    let unused = b.args.unused();
    if !unused.is_empty() {
        b.out.stream(&format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            unused.join(" ")
        ));
    }
    b.out.aux_id(&id);
    b.out
        .stream(&format!("Successfully built {}\n", short(&id)));
    for t in &opts.tags {
        b.layers.tag(&id, t)?;
        let shown = berth_image::Reference::parse(t)
            .map(|r| r.familiar())
            .unwrap_or_else(|_| t.clone());
        b.out.stream(&format!("Successfully tagged {shown}\n"));
    }
    Ok(BuildResult { id })
}

fn comma_free_flags(ins: &Instruction, allowed: &[&str]) -> Result<(), BuildError> {
    for (k, _) in &ins.flags {
        if !allowed.contains(&k.as_str()) {
            let hint = if matches!(
                k.as_str(),
                "mount"
                    | "network"
                    | "security"
                    | "link"
                    | "parents"
                    | "exclude"
                    | "checksum"
                    | "keep-git-dir"
            ) {
                " (it needs BuildKit, which Berth's classic builder is not)"
            } else {
                ""
            };
            return Err(BuildError::Invalid(format!("Unknown flag: {k}{hint}")));
        }
    }
    Ok(())
}

/// A list as Go's `%v` prints it (`[/bin/sh -c]`), how dockerd's history shows SHELL and VOLUME.
fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// A list as Go's `%q` prints it (`["/bin/sh" "-c"]`), how dockerd's history shows CMD and
/// ENTRYPOINT.
fn go_quoted_list(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, BuildError> {
    berth_image::config::parse_go_duration(s)
        .ok_or_else(|| BuildError::Invalid(format!("time: invalid duration {s:?}")))
}

fn ports(words: &[String]) -> Result<Vec<String>, BuildError> {
    let mut out = Vec::new();
    for w in words {
        let (p, proto) = w.split_once('/').unwrap_or((w.as_str(), "tcp"));
        let proto = proto.to_ascii_lowercase();
        if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
            return Err(BuildError::Invalid(format!("invalid proto: {proto}")));
        }
        let p = p.rsplit(':').next().unwrap_or(p);
        let (a, b) = p.split_once('-').unwrap_or((p, p));
        let (a, b): (u16, u16) = match (a.parse(), b.parse()) {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            _ => return Err(BuildError::Invalid(format!("invalid containerPort: {p}"))),
        };
        for n in a..=b {
            out.push(format!("{n}/{proto}"));
        }
    }
    Ok(out)
}

impl Builder<'_> {
    fn print_step(&mut self, ins: &Instruction) -> Result<(), BuildError> {
        if self.out.cancelled() {
            return Err(BuildError::Cancelled);
        }
        self.step += 1;
        self.out.stream(&format!(
            "Step {}/{} : {}\n",
            self.step, self.total, ins.original
        ));
        Ok(())
    }

    fn meta_vars(&self) -> Vec<(String, String)> {
        self.args
            .meta
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect()
    }

    fn check_platform(p: &str) -> Result<(), BuildError> {
        if p.is_empty() {
            return Ok(());
        }
        let (os, arch, _) = berth_image::media::host_platform();
        let mut it = p.split('/');
        let (o, a) = (it.next().unwrap_or(""), it.next().unwrap_or(&arch));
        let a = match a {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            x => x,
        };
        if o != os || a != arch {
            return Err(BuildError::Invalid(format!(
                "platform {p} is not supported: Berth builds for {os}/{arch} (this host) only"
            )));
        }
        Ok(())
    }

    fn from(&mut self, ins: &Instruction) -> Result<State, BuildError> {
        comma_free_flags(ins, &["platform"])?;
        self.busted = false;
        let vars = self.meta_vars();
        if let Some(p) = ins.flag("platform") {
            Self::check_platform(&shell::word(p, self.escape, &vars)?)?;
        }
        let Args::Shell(s) = &ins.args else {
            return Err(BuildError::Invalid("FROM requires one argument".into()));
        };
        let raw = s.split_whitespace().next().unwrap_or("");
        let name = shell::word(raw, self.escape, &vars)?;
        if name.is_empty() {
            return Err(BuildError::Invalid(format!(
                "base name ({raw}) should not be blank"
            )));
        }
        let lname = name.to_ascii_lowercase();
        let from_stage = self
            .stages
            .iter()
            .rev()
            .find(|(n, _)| n.as_deref() == Some(lname.as_str()))
            .map(|(_, id)| id.clone());
        let base = match from_stage {
            Some(Some(id)) => Some(self.images.get(&id, false, self.out)?),
            Some(None) => None,
            None if lname == "scratch" => None,
            None => Some(self.images.get(&name, self.opts.pull, self.out)?),
        };
        let mut st = match base {
            Some(BaseImage { id, config }) => {
                self.out.stream(&format!(" ---> {}\n", short(&id)));
                State {
                    image: Some(id),
                    config,
                    cmd_set: false,
                    args: vec![],
                }
            }
            None => {
                let mut c = ImageConfig::new_for_host(vec![]);
                c.created = None;
                State {
                    image: None,
                    config: c,
                    cmd_set: false,
                    args: vec![],
                }
            }
        };
        let mut run = st.run();
        // As dockerd's classic builder: a stage whose image sets no PATH gets the default one.
        let env = run.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH.to_string());
        }
        st.config.config = Some(run.clone());
        let triggers = run.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            st.config.config = Some(run);
            self.out.stream(&format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ));
            for t in triggers {
                let ins = parser::parse_instruction(&t, ins.line)?;
                if matches!(ins.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(BuildError::Invalid(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        ins.keyword
                    )));
                }
                self.dispatch(&ins, &mut st)?;
            }
        }
        Ok(st)
    }

    fn words(&self, ins: &Instruction, st: &State) -> Result<Vec<String>, BuildError> {
        let vars = st.env_vars();
        match &ins.args {
            Args::Json(v) => v
                .iter()
                .map(|w| shell::word(w, self.escape, &vars))
                .collect(),
            Args::Shell(s) => shell::words(s, self.escape, &vars),
        }
    }

    fn raw(ins: &Instruction) -> &str {
        match &ins.args {
            Args::Shell(s) => s,
            Args::Json(_) => "",
        }
    }

    /// `KEY=value ...` or the legacy `KEY value` (ENV and LABEL).
    fn name_values(
        &self,
        ins: &Instruction,
        st: &State,
    ) -> Result<Vec<(String, String)>, BuildError> {
        let vars = st.env_vars();
        let s = Self::raw(ins);
        let words = shell::split_raw(s, self.escape);
        let Some(first) = words.first() else {
            return Err(BuildError::Invalid(format!(
                "{} requires at least one argument",
                ins.keyword
            )));
        };
        if !first.contains('=') {
            let rest = s[s.find(first.as_str()).unwrap_or(0) + first.len()..].trim();
            if rest.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "{} names can not be blank",
                    ins.keyword
                )));
            }
            return Ok(vec![(
                shell::word(first, self.escape, &vars)?,
                shell::word(rest, self.escape, &vars)?,
            )]);
        }
        let mut out = Vec::new();
        for w in &words {
            let Some((k, v)) = w.split_once('=') else {
                return Err(BuildError::Invalid(format!(
                    "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                )));
            };
            let k = shell::word(k, self.escape, &vars)?;
            if k.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "{} names can not be blank",
                    ins.keyword
                )));
            }
            out.push((k, shell::word(v, self.escape, &vars)?));
        }
        Ok(out)
    }

    fn dispatch(&mut self, ins: &Instruction, st: &mut State) -> Result<(), BuildError> {
        let kw = ins.keyword.as_str();
        if !matches!(kw, "COPY" | "ADD" | "RUN" | "HEALTHCHECK" | "FROM") && !ins.flags.is_empty() {
            comma_free_flags(ins, &[])?;
        }
        let mut run = st.run();
        let comment: String;
        match kw {
            "FROM" => {
                return Err(BuildError::Invalid("FROM inside a stage".into()));
            }
            "RUN" => return self.run_step(ins, st),
            "COPY" | "ADD" => return self.copy_step(ins, st),
            "ENV" => {
                let pairs = self.name_values(ins, st)?;
                let mut env = run.env.take().unwrap_or_default();
                let mut parts = Vec::new();
                for (k, v) in pairs {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |x| x.0) != k);
                    parts.push(format!("{k}={v}"));
                    env.push(format!("{k}={v}"));
                }
                run.env = Some(env);
                comment = format!("ENV {}", parts.join(" "));
            }
            "LABEL" => {
                let pairs = self.name_values(ins, st)?;
                let mut labels = run.labels.take().unwrap_or_default();
                let mut parts = Vec::new();
                for (k, v) in pairs {
                    parts.push(format!("{k}={v}"));
                    labels.insert(k, v);
                }
                run.labels = Some(labels);
                comment = format!("LABEL {}", parts.join(" "));
            }
            "ARG" => {
                let vars = st.env_vars();
                let mut parts = Vec::new();
                for (k, default) in BuildArgs::parse_arg(ins, self.escape, &vars)? {
                    parts.push(match &default {
                        Some(d) => format!("{k}={d}"),
                        None => k.clone(),
                    });
                    let v = self.args.resolve(&k, default, true);
                    st.args.retain(|(n, _)| *n != k);
                    if let Some(v) = v {
                        st.args.push((k, v));
                    }
                }
                comment = format!("ARG {}", parts.join(" "));
            }
            "WORKDIR" => {
                let w = shell::word(Self::raw(ins), self.escape, &st.env_vars())?;
                let abs = if w.starts_with('/') {
                    w
                } else {
                    join_abs(&st.workdir(), &w)
                };
                let clean = format!("/{}", crate::ignore::clean(&abs)).replace("/.", "/");
                let clean = if clean.len() > 1 {
                    clean.trim_end_matches('/').to_string()
                } else {
                    clean
                };
                run.working_dir = Some(clean.clone());
                comment = format!("WORKDIR {clean}");
            }
            "USER" => {
                let u = shell::word(Self::raw(ins), self.escape, &st.env_vars())?;
                run.user = Some(u.clone());
                comment = format!("USER {u}");
            }
            "EXPOSE" => {
                let words = self.words(ins, st)?;
                let p = ports(&words)?;
                let mut m = run.exposed_ports.take().unwrap_or_default();
                for x in &p {
                    m.insert(x.clone(), Empty {});
                }
                run.exposed_ports = Some(m);
                // The ports as written (`80`, not `80/tcp`) and sorted, as dockerd records them.
                let mut shown = words.clone();
                shown.sort();
                comment = format!("EXPOSE {}", shown.join(" "));
            }
            "VOLUME" => {
                let v = self.words(ins, st)?;
                let mut m = run.volumes.take().unwrap_or_default();
                for x in &v {
                    if x.trim().is_empty() {
                        return Err(BuildError::Invalid(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    m.insert(x.clone(), Empty {});
                }
                run.volumes = Some(m);
                comment = format!("VOLUME {}", go_list(&v));
            }
            "STOPSIGNAL" => {
                let s = shell::word(Self::raw(ins), self.escape, &st.env_vars())?;
                run.stop_signal = Some(s.clone());
                comment = format!("STOPSIGNAL {s}");
            }
            "SHELL" => {
                let Args::Json(v) = &ins.args else {
                    return Err(BuildError::Invalid(
                        "SHELL requires the arguments to be in JSON form".into(),
                    ));
                };
                run.shell = Some(v.clone());
                comment = format!("SHELL {}", go_list(v));
            }
            "CMD" | "ENTRYPOINT" => {
                let v = match &ins.args {
                    Args::Json(v) => v.clone(),
                    Args::Shell(s) => {
                        let mut sh = st.shell();
                        sh.push(s.clone());
                        sh
                    }
                };
                if kw == "CMD" {
                    run.cmd = Some(v.clone());
                    st.cmd_set = true;
                } else {
                    run.entrypoint = Some(v.clone());
                    if !st.cmd_set {
                        run.cmd = None;
                    }
                }
                comment = format!("{kw} {}", go_quoted_list(&v));
            }
            "HEALTHCHECK" => {
                comma_free_flags(
                    ins,
                    &[
                        "interval",
                        "timeout",
                        "start-period",
                        "start-interval",
                        "retries",
                    ],
                )?;
                let s = Self::raw(ins).trim();
                let hc = if s.eq_ignore_ascii_case("none") {
                    if !ins.flags.is_empty() {
                        return Err(BuildError::Invalid(
                            "HEALTHCHECK NONE takes no flags".into(),
                        ));
                    }
                    Healthcheck {
                        test: Some(vec!["NONE".into()]),
                        ..Default::default()
                    }
                } else {
                    let rest = s
                        .strip_prefix("CMD")
                        .or_else(|| s.strip_prefix("cmd"))
                        .ok_or_else(|| {
                            BuildError::Invalid(format!(
                                "Unknown type {:?} in HEALTHCHECK (try CMD)",
                                s.split_whitespace().next().unwrap_or("")
                            ))
                        })?
                        .trim();
                    let test = match serde_json::from_str::<Vec<String>>(rest) {
                        Ok(v) if rest.starts_with('[') => [vec!["CMD".to_string()], v].concat(),
                        _ => vec!["CMD-SHELL".into(), rest.to_string()],
                    };
                    let dur = |n: &str| ins.flag(n).map(parse_duration).transpose();
                    let retries = ins
                        .flag("retries")
                        .map(|r| {
                            r.parse::<i64>()
                                .map_err(|_| BuildError::Invalid(format!("invalid --retries: {r}")))
                        })
                        .transpose()?;
                    Healthcheck {
                        test: Some(test),
                        interval: dur("interval")?,
                        timeout: dur("timeout")?,
                        start_period: dur("start-period")?,
                        start_interval: dur("start-interval")?,
                        retries,
                    }
                };
                run.healthcheck = Some(hc.clone());
                comment = format!(
                    "HEALTHCHECK {}",
                    serde_json::to_string(&hc).unwrap_or_default()
                );
            }
            "ONBUILD" => {
                let t = Self::raw(ins).trim();
                let inner = parser::parse_instruction(t, ins.line)?;
                if matches!(inner.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(BuildError::Invalid(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        inner.keyword
                    )));
                }
                let rest = t[t.find(char::is_whitespace).unwrap_or(t.len())..].trim_start();
                let trigger = format!("{} {rest}", inner.keyword);
                run.on_build
                    .get_or_insert_with(Vec::new)
                    .push(trigger.clone());
                comment = format!("ONBUILD {trigger}");
            }
            "MAINTAINER" => {
                let m = shell::word(Self::raw(ins), self.escape, &st.env_vars())?;
                st.config.author = Some(m.clone());
                comment = format!("MAINTAINER {m}");
            }
            other => return Err(BuildError::Invalid(format!("unknown instruction: {other}"))),
        }
        let mut key = run.clone();
        let mut cmd = st.shell();
        // As dockerd's classic builder: two words (its history reads `#(nop)  CMD ...`), but one
        // for WORKDIR (`#(nop) WORKDIR /app`).
        if kw == "WORKDIR" {
            cmd.push(format!("#(nop) {comment}"));
        } else {
            cmd.push("#(nop) ".into());
            cmd.push(comment);
        }
        key.cmd = Some(cmd);
        self.commit(st, run, key, Layer::None, None)
    }

    /// Commit a step (after a cache probe, unless `probed` says it was done already).
    fn commit(
        &mut self,
        st: &mut State,
        run: ContainerConfig,
        key: ContainerConfig,
        layer: Layer,
        probed: Option<()>,
    ) -> Result<(), BuildError> {
        if probed.is_none() {
            if let Some(hit) = self.probe(st, &key, &run)? {
                self.use_cached(st, hit);
                return Ok(());
            }
        }
        // As the classic builder, a metadata step is committed from a container made (never
        // started) with the step's command.
        let meta = match (&layer, st.image.clone()) {
            (Layer::None, Some(image)) => {
                let mut config = key.clone();
                config.healthcheck = None;
                let c = self.runner.create(&RunStep {
                    image,
                    config,
                    host: self.opts.host.clone(),
                })?;
                self.out
                    .stream(&format!(" ---> Running in {}\n", short(&c)));
                Some(c)
            }
            _ => None,
        };
        let res = self.commit_image(st, run, key, layer, meta.clone());
        if let Some(c) = meta {
            if self.opts.rm || self.opts.force_rm || res.is_err() {
                let removed = self.runner.remove(&c);
                if res.is_ok() {
                    removed?;
                    self.out
                        .stream(&format!("Removing intermediate container {}\n", short(&c)));
                }
            }
        }
        let (id, show) = res?;
        if show {
            self.out.stream(&format!(" ---> {}\n", short(&id)));
        }
        Ok(())
    }

    /// Commit the image of a step; returns its ID and whether the caller shows it.
    fn commit_image(
        &mut self,
        st: &mut State,
        run: ContainerConfig,
        key: ContainerConfig,
        layer: Layer,
        meta: Option<String>,
    ) -> Result<(String, bool), BuildError> {
        let mut cfg = st.config.clone();
        cfg.created = Some(berth_image::config::now_rfc3339());
        let empty = layer == Layer::None;
        cfg.history.push(History {
            created: cfg.created.clone(),
            created_by: Some(key.cmd.clone().unwrap_or_default().join(" ")),
            comment: None,
            empty_layer: if empty { Some(true) } else { None },
        });
        cfg.config = Some(run);
        cfg.container_config = serde_json::to_value(&key).ok();
        cfg.parent = st.image.clone();
        cfg.container = match &layer {
            Layer::Container(c) => Some(c.clone()),
            _ => meta,
        };
        let show = !matches!(layer, Layer::Container(_));
        let id = self
            .layers
            .commit(st.image.as_deref(), layer, cfg.clone())?;
        let cfg = match self.images.get(&id, false, &mut Vec::<String>::new()) {
            Ok(b) => b.config,
            Err(_) => cfg,
        };
        st.image = Some(id.clone());
        st.config = cfg;
        Ok((id, show))
    }

    fn run_step(&mut self, ins: &Instruction, st: &mut State) -> Result<(), BuildError> {
        comma_free_flags(ins, &[])?;
        let cmd = match &ins.args {
            Args::Json(v) => v.clone(),
            Args::Shell(s) => {
                let mut sh = st.shell();
                sh.push(s.clone());
                sh
            }
        };
        let env_names: BTreeSet<String> = st
            .run()
            .env
            .unwrap_or_default()
            .iter()
            .map(|e| e.split_once('=').map_or(e.clone(), |x| x.0.to_string()))
            .collect();
        let mut arg_env: Vec<String> = st
            .args
            .iter()
            .filter(|(k, _)| !env_names.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        arg_env.sort();
        let mut key_cmd = Vec::new();
        if !arg_env.is_empty() {
            key_cmd.push(format!("|{}", arg_env.len()));
            key_cmd.extend(arg_env.iter().cloned());
        }
        key_cmd.extend(cmd.iter().cloned());
        let run = st.run();
        let mut key = run.clone();
        key.cmd = Some(key_cmd);
        if let Some(hit) = self.probe(st, &key, &run)? {
            self.use_cached(st, hit);
            return Ok(());
        }
        let Some(image) = st.image.clone() else {
            return Err(BuildError::Invalid(
                "RUN needs a base image with a shell: this stage starts FROM scratch and has no layers yet".into(),
            ));
        };
        let mut step_cfg = run.clone();
        step_cfg.cmd = Some(cmd.clone());
        step_cfg.entrypoint = Some(vec![]);
        step_cfg.healthcheck = None;
        let mut env = step_cfg.env.take().unwrap_or_default();
        env.extend(arg_env);
        for (k, v) in self.args.proxies() {
            if !env_names.contains(&k) && !st.args.iter().any(|(n, _)| *n == k) {
                env.push(format!("{k}={v}"));
            }
        }
        step_cfg.env = Some(env);
        let container = self.runner.create(&RunStep {
            image,
            config: step_cfg,
            host: self.opts.host.clone(),
        })?;
        self.out
            .stream(&format!(" ---> Running in {}\n", short(&container)));
        let code = match self.runner.run(&container, self.out) {
            Ok(c) => c,
            Err(e) => {
                let _ = self.runner.remove(&container);
                return Err(e);
            }
        };
        if code != 0 {
            if self.opts.rm || self.opts.force_rm {
                let _ = self.runner.remove(&container);
            }
            return Err(BuildError::RunFailed {
                command: cmd.join(" "),
                code,
            });
        }
        let res = self.commit(st, run, key, Layer::Container(container.clone()), Some(()));
        if self.opts.rm || self.opts.force_rm || res.is_err() {
            let removed = self.runner.remove(&container);
            if res.is_ok() {
                removed?;
                self.out.stream(&format!(
                    "Removing intermediate container {}\n",
                    short(&container)
                ));
            }
        }
        res?;
        let id = st.image.clone().unwrap_or_default();
        self.out.stream(&format!(" ---> {}\n", short(&id)));
        Ok(())
    }
}

mod cache;
mod copy_step;
#[cfg(test)]
mod tests;
