//! `berth profile`: least-privilege profiles berthd learns from a run
//! (Berth's own API, under /berth/v1/profiles).

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::containers::{self, RunArgs, RunOpts};
use crate::client::{q, Body, Client, DaemonError};

/// The label berthd learns a profile for.
const LEARN_LABEL: &str = "run.berth.profile.learn";

#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// Run a workload under a recording filter and learn its profile
    Learn(Box<LearnArgs>),
    /// End a learning run (its container is killed) and store the profile
    Stop { name: String },
    /// List learned profiles
    Ls,
    /// Show a profile
    Show {
        /// table (default) or json
        #[arg(long, default_value = "table")]
        format: String,
        name: String,
    },
    /// Remove profiles
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Make a new image that carries the profile (berthd applies it to its containers)
    Attach {
        name: String,
        image: String,
        new_ref: String,
    },
    /// Write a profile out in another format
    Export {
        /// Docker's seccomp JSON (for `docker run --security-opt seccomp=FILE`)
        #[arg(long)]
        seccomp: bool,
        /// Write to this file instead of standard output
        #[arg(short = 'o', long)]
        output: Option<String>,
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct LearnArgs {
    /// The profile's name
    #[arg(long = "name")]
    pub profile: String,
    /// End learning after this long (e.g. 30s, 2m, 500ms)
    #[arg(long)]
    pub duration: Option<String>,
    #[command(flatten)]
    pub opts: RunOpts,
}

/// `30s`, `2m`, `1h`, `500ms`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || anyhow!("invalid duration {s:?}: use e.g. 30s, 2m, 1h or 500ms");
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn path(name: &str) -> String {
    format!("/berth/v1/profiles/{}", q(name))
}

fn stop_run(c: &Client, name: &str) -> Result<Value> {
    c.request("POST", &format!("{}/stop", path(name)), &[], Body::Empty)?
        .ok()?
        .json()
}

pub fn main(c: &Client, cmd: &ProfileCmd) -> Result<i32> {
    match cmd {
        ProfileCmd::Learn(a) => learn(c, a),
        ProfileCmd::Stop { name } => {
            let p = stop_run(c, name)?;
            summary(&p);
            Ok(0)
        }
        ProfileCmd::Ls => {
            let list = c.get("/berth/v1/profiles")?;
            println!(
                "{:<24} {:>8} {:>12}  {:<30} CREATED",
                "NAME", "SYSCALLS", "CAPABILITIES", "IMAGE"
            );
            for p in list.as_array().into_iter().flatten() {
                println!(
                    "{:<24} {:>8} {:>12}  {:<30} {}",
                    p["Name"].as_str().unwrap_or(""),
                    p["Syscalls"],
                    p["Capabilities"],
                    p["Image"].as_str().unwrap_or(""),
                    p["Created"].as_str().unwrap_or("")
                );
            }
            Ok(0)
        }
        ProfileCmd::Show { format, name } => {
            let p = c.get(&path(name))?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&p)?),
                "table" => summary(&p),
                other => bail!("unknown format {other:?}: use table or json"),
            }
            Ok(0)
        }
        ProfileCmd::Rm { names } => {
            let mut code = 0;
            for n in names {
                match c.request("DELETE", &path(n), &[], Body::Empty)?.ok() {
                    Ok(_) => println!("{n}"),
                    Err(e) => {
                        eprintln!("{e:#}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        ProfileCmd::Attach {
            name,
            image,
            new_ref,
        } => attach(c, name, image, new_ref),
        ProfileCmd::Export {
            seccomp,
            output,
            name,
        } => {
            if !seccomp {
                bail!("say which format to export: --seccomp");
            }
            let p = c.get(&path(name))?;
            let text = serde_json::to_string_pretty(&p["seccomp"])? + "\n";
            match output {
                Some(f) => std::fs::write(f, text)?,
                None => print!("{text}"),
            }
            Ok(0)
        }
    }
}

fn learn(c: &Client, a: &LearnArgs) -> Result<i32> {
    let mut opts = a.opts.clone();
    opts.labels.push(format!("{LEARN_LABEL}={}", a.profile));
    let run = RunArgs {
        detach: false,
        rm: true,
        name: None,
        opts,
    };
    let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(d) = &a.duration {
        let d = parse_duration(d)?;
        let (c2, name, flag) = (c.clone(), a.profile.clone(), timed_out.clone());
        std::thread::spawn(move || {
            // The duration counts from the workload's start.
            let filter = q(&serde_json::json!({
                "label": {format!("{LEARN_LABEL}={name}"): true},
                "status": {"running": true},
            })
            .to_string());
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while std::time::Instant::now() < deadline {
                let running = c2
                    .get(&format!("/containers/json?filters={filter}"))
                    .is_ok_and(|v| v.as_array().is_some_and(|a| !a.is_empty()));
                if running {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(d);
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = stop_run(&c2, &name);
        });
    }
    let code = containers::run(c, &run)?;
    let p = match stop_run(c, &a.profile) {
        Ok(p) => p,
        Err(e)
            if e.downcast_ref::<DaemonError>()
                .is_some_and(|d| d.status == 404) =>
        {
            bail!("no profile was learned: the container did not start under the recording filter")
        }
        Err(e) => return Err(e),
    };
    summary(&p);
    if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(0);
    }
    Ok(code)
}

fn summary(p: &Value) {
    let n = |v: &Value| v.as_array().map_or(0, Vec::len);
    eprintln!(
        "profile {}: {} syscalls (Docker's default: {}), {} capabilities (Docker's default: {}): {}",
        p["Name"].as_str().unwrap_or(""),
        n(&p["syscalls"]),
        p["dockerDefault"]["syscalls"],
        n(&p["capabilities"]),
        p["dockerDefault"]["capabilities"],
        p["capabilities"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    let rules = p["landlock"]["rules"]["pathBeneath"].as_array();
    for r in rules.into_iter().flatten() {
        eprintln!(
            "  writes allowed beneath: {}",
            r["paths"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "))
                .unwrap_or_default()
        );
    }
}

/// The image label berthd reads the profile from.
const IMAGE_LABEL: &str = "run.berth.profile";

/// A new image: `image` with the profile in its config's labels (committed
/// from a container that never runs, so the image's own config stays).
fn attach(c: &Client, name: &str, image: &str, new_ref: &str) -> Result<i32> {
    let p = c.get(&path(name))?;
    let carried = serde_json::json!({
        "Name": p["Name"],
        "capabilities": p["capabilities"],
        "landlock": p["landlock"],
        "seccomp": p["seccomp"],
    });
    let img = c.get(&format!("/images/{}/json", q(image)))?;
    let config = &img["Config"];
    let mut labels = config["Labels"].as_object().cloned().unwrap_or_default();
    labels.insert(IMAGE_LABEL.into(), Value::String(carried.to_string()));
    let cmd = match &config["Cmd"] {
        Value::Array(a) if !a.is_empty() => Value::Array(a.clone()),
        _ => serde_json::json!(["true"]),
    };
    let created = c.post(
        "/containers/create",
        serde_json::json!({"Image": image, "Cmd": cmd, "Entrypoint": config["Entrypoint"], "HostConfig": {"NetworkMode": "none"}}),
    )?;
    let id = created["Id"]
        .as_str()
        .ok_or_else(|| anyhow!("the daemon returned no container id"))?
        .to_string();
    let (repo, tag) = match new_ref.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (new_ref, "latest"),
    };
    let body = serde_json::json!({"Labels": labels, "Cmd": config["Cmd"], "Entrypoint": config["Entrypoint"]});
    let committed = c.post(
        &format!("/commit?container={id}&repo={}&tag={}", q(repo), q(tag)),
        body,
    );
    let _ = c.request(
        "DELETE",
        &format!("/containers/{id}?force=1"),
        &[],
        Body::Empty,
    );
    let committed = committed?;
    println!("{}", committed["Id"].as_str().unwrap_or(""));
    Ok(0)
}
