//! `berth build`: the context directory (minus what `.dockerignore` excludes; the Dockerfile and
//! `.dockerignore` always go) as a tar to `POST /build` with docker's flags, and the progress stream.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use berth_build::ignore::Ignore;
use clap::Args;
use serde_json::{json, Value};

use crate::client::{base64, q, Body, Client};
use crate::streams;

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); may be repeated
    #[arg(short = 't', long = "tag")]
    tag: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile)
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Set build-time variables (KEY=value, or KEY to take it from the environment)
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Set metadata for an image (KEY=value)
    #[arg(long = "label")]
    label: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Always attempt to pull a newer version of the base images
    #[arg(long)]
    pull: bool,
    /// Suppress the build output and print the image ID on success
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    force_rm: bool,
    /// Networking mode for the RUN instructions
    #[arg(long, default_value = "default")]
    network: String,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    cpu_period: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Set the parent cgroup for the RUN instructions during build
    #[arg(long = "cgroup-parent")]
    cgroup_parent: Option<String>,
    /// Container isolation technology
    #[arg(long)]
    isolation: Option<String>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long)]
    ulimit: Vec<String>,
    /// Squash newly built layers into a single new layer
    #[arg(long)]
    squash: bool,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    cache_from: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// The context directory, or - for a tar archive on stdin
    path: String,
}

/// Append the context under `dir` to `b`, skipping what `ignore` excludes (but never the
/// Dockerfile or .dockerignore).
fn add_dir(
    b: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    rel: &str,
    ignore: &Ignore,
    keep: &[String],
) -> Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for n in names {
        let r = if rel.is_empty() {
            n
        } else {
            format!("{rel}/{n}")
        };
        let p = root.join(&r);
        let md = std::fs::symlink_metadata(&p)?;
        let ignored = ignore.ignored(&r) && !keep.contains(&r);
        if md.is_dir() {
            if ignored && !ignore.has_exceptions() {
                continue;
            }
            if !ignored {
                b.append_path_with_name(&p, &r)?;
            }
            add_dir(b, root, &r, ignore, keep)?;
        } else if !ignored && (md.is_file() || md.file_type().is_symlink()) {
            b.append_path_with_name(&p, &r)?;
        }
    }
    Ok(())
}

fn pairs(list: &[String], from_env: bool) -> Result<BTreeMap<String, Value>> {
    let mut m = BTreeMap::new();
    for a in list {
        match a.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), json!(v)),
            None if from_env => m.insert(
                a.clone(),
                std::env::var(a).map(Value::from).unwrap_or(Value::Null),
            ),
            None => return Err(anyhow!("bad value {a:?}: use KEY=value")),
        };
    }
    Ok(m)
}

pub fn build(c: &Client, a: &BuildArgs) -> Result<i32> {
    let (context, dockerfile) = if a.path == "-" {
        let mut v = Vec::new();
        std::io::stdin().read_to_end(&mut v)?;
        (v, a.file.clone().unwrap_or_default())
    } else {
        let root = Path::new(&a.path);
        let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap_or_default();
        let ignore = Ignore::parse(&ignore);
        let df = a.file.clone().unwrap_or_else(|| "Dockerfile".into());
        let df_path = Path::new(&df);
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        // A Dockerfile outside the context goes in under a name of its own.
        let name =
            match df_path.strip_prefix(root).ok().or_else(|| {
                (!df_path.is_absolute() && root.join(df_path).is_file()).then_some(df_path)
            }) {
                Some(rel) => rel.to_string_lossy().into_owned(),
                None => {
                    let text = std::fs::read(df_path).with_context(|| format!("reading {df}"))?;
                    let mut h = tar::Header::new_gnu();
                    h.set_size(text.len() as u64);
                    h.set_mode(0o644);
                    h.set_cksum();
                    b.append_data(&mut h, ".berth-dockerfile", &text[..])?;
                    ".berth-dockerfile".into()
                }
            };
        add_dir(
            &mut b,
            root,
            "",
            &ignore,
            &[name.clone(), ".dockerignore".into()],
        )?;
        (b.into_inner()?, name)
    };
    let mut path = format!("/build?dockerfile={}", q(&dockerfile));
    for t in &a.tag {
        path.push_str(&format!("&t={}", q(t)));
    }
    let flag = |b: bool| u8::from(b);
    path.push_str(&format!(
        "&q={}&nocache={}&pull={}&rm={}&forcerm={}&networkmode={}",
        flag(a.quiet),
        flag(a.no_cache),
        flag(a.pull),
        flag(a.rm),
        flag(a.force_rm),
        q(&a.network)
    ));
    let args = pairs(&a.build_arg, true)?;
    if !args.is_empty() {
        path.push_str(&format!("&buildargs={}", q(&json!(args).to_string())));
    }
    let labels = pairs(&a.label, false)?;
    if !labels.is_empty() {
        path.push_str(&format!("&labels={}", q(&json!(labels).to_string())));
    }
    if !a.cache_from.is_empty() {
        path.push_str(&format!(
            "&cachefrom={}",
            q(&json!(a.cache_from).to_string())
        ));
    }
    let size = |name: &str, v: &Option<String>| -> Result<Option<String>> {
        v.as_deref()
            .map(|v| match v {
                "-1" if name == "--memory-swap" => Ok("-1".to_string()),
                v => super::optparse::ram_in_bytes(v)
                    .map(|n| n.to_string())
                    .map_err(|e| anyhow!("invalid argument {v:?} for \"{name}\" flag: {e}")),
            })
            .transpose()
    };
    for (k, v) in [
        ("target", a.target.clone()),
        ("platform", a.platform.clone()),
        ("cpusetcpus", a.cpuset_cpus.clone()),
        ("cpusetmems", a.cpuset_mems.clone()),
        ("shmsize", size("--shm-size", &a.shm_size)?),
        ("memory", size("-m, --memory", &a.memory)?),
        ("memswap", size("--memory-swap", &a.memory_swap)?),
        ("cpushares", a.cpu_shares.map(|v| v.to_string())),
        ("cpuperiod", a.cpu_period.map(|v| v.to_string())),
        ("cpuquota", a.cpu_quota.map(|v| v.to_string())),
        ("cgroupparent", a.cgroup_parent.clone()),
        ("isolation", a.isolation.clone()),
        ("squash", a.squash.then(|| "1".to_string())),
    ] {
        if let Some(v) = v {
            path.push_str(&format!("&{k}={}", q(&v)));
        }
    }
    if !a.add_host.is_empty() {
        path.push_str(&format!("&extrahosts={}", q(&a.add_host.join(","))));
    }
    if !a.ulimit.is_empty() {
        let ulimits = a
            .ulimit
            .iter()
            .map(|u| {
                super::optparse::ulimit(u)
                    .map_err(|e| anyhow!("invalid argument {u:?} for \"--ulimit\" flag: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        path.push_str(&format!("&ulimits={}", q(&json!(ulimits).to_string())));
    }
    // As docker: an old ID file goes before the build, so a failed build leaves none.
    if let Some(f) = &a.iidfile {
        match std::fs::remove_file(f) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing image ID file {f}"))
            }
            _ => {}
        }
    }
    let registry_config = base64(b"{}", true);
    let mut body: &[u8] = &context;
    let r = c
        .request(
            "POST",
            &path,
            &[
                ("Content-Type", "application/x-tar"),
                ("X-Registry-Config", &registry_config),
            ],
            Body::Stream(&mut body),
        )?
        .ok()?;
    let events = streams::progress(r, a.quiet)?;
    // The ID: an `aux` message, or (dockerd in quiet mode) the one `stream` line.
    let id = events
        .iter()
        .find_map(|e| e["aux"]["ID"].as_str().map(str::to_string))
        .or_else(|| {
            events
                .iter()
                .filter_map(|e| e["stream"].as_str())
                .map(str::trim)
                .find(|s| s.starts_with("sha256:"))
                .map(str::to_string)
        });
    if a.quiet {
        if let Some(id) = &id {
            println!("{id}");
        }
    }
    if let (Some(f), Some(id)) = (&a.iidfile, &id) {
        std::fs::write(f, id).with_context(|| format!("write image ID file {f}"))?;
    }
    Ok(0)
}
