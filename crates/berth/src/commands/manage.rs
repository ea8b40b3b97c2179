//! More container and image verbs: pause, unpause, rename, top, port, diff, export, commit, stats,
//! history, and the prune of containers and images.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use super::listfmt::ListFormat;
use super::ordered::Json;
use super::{confirm, each, short_id, strings, PruneArgs};
use crate::client::{q, Body, Client};
use crate::streams;

/// POST `/containers/NAME/VERB` for each name (pause, unpause), printing the names.
pub fn simple(c: &Client, verb: &str, names: &[String]) -> Result<i32> {
    each(names, |n| {
        c.request(
            "POST",
            &format!("/containers/{}/{verb}", q(n)),
            &[],
            Body::Empty,
        )?
        .ok()?;
        Ok(())
    })
}

pub fn rename(c: &Client, old: &str, new: &str) -> Result<i32> {
    if new.is_empty() {
        bail!("Error: Neither old nor new names may be empty");
    }
    let renamed = c
        .request(
            "POST",
            &format!("/containers/{}/rename?name={}", q(old), q(new)),
            &[],
            Body::Empty,
        )
        .and_then(|r| r.ok());
    if let Err(e) = renamed {
        // docker prints the daemon's answer, then its own line.
        eprintln!("{e:#}");
        bail!("Error: failed to rename container named {old}");
    }
    Ok(0)
}

/// `top CONTAINER [ps OPTIONS]`.
pub fn top(c: &Client, container: &str, ps_args: &[String]) -> Result<i32> {
    let mut path = format!("/containers/{}/top", q(container));
    if !ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", q(&ps_args.join(" "))));
    }
    let r = c.get(&path)?;
    let titles = strings(&r["Titles"]);
    let rows: Vec<Vec<String>> = r["Processes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(strings)
        .collect();
    let head: Vec<&str> = titles.iter().map(String::as_str).collect();
    streams::table(&head, &rows);
    Ok(0)
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`: `80/tcp -> 0.0.0.0:8080` lines.
pub fn port(c: &Client, container: &str, private: Option<&str>) -> Result<i32> {
    let info = c.get(&format!("/containers/{}/json", q(container)))?;
    let want = private.map(|p| {
        if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<(&String, &Value)> = info["NetworkSettings"]["Ports"]
        .as_object()
        .into_iter()
        .flatten()
        .collect();
    keys.sort_by_key(|(k, _)| {
        let (n, proto) = k.split_once('/').unwrap_or((k.as_str(), ""));
        (n.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    let mut found = false;
    for (k, bindings) in keys {
        if want.as_ref().is_some_and(|w| w != k) {
            continue;
        }
        for b in bindings.as_array().into_iter().flatten() {
            found = true;
            let ip = b["HostIp"].as_str().unwrap_or("");
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            let host_port = b["HostPort"].as_str().unwrap_or("");
            if want.is_some() {
                println!("{ip}:{host_port}");
            } else {
                println!("{k} -> {ip}:{host_port}");
            }
        }
    }
    if let (Some(w), false) = (want, found) {
        bail!("Error: No public port '{w}' published for {container}");
    }
    Ok(0)
}

/// `diff CONTAINER`: `C /etc`, `A /etc/new`, `D /gone`.
pub fn diff(c: &Client, container: &str) -> Result<i32> {
    let r = c.get(&format!("/containers/{}/changes", q(container)))?;
    for ch in r.as_array().into_iter().flatten() {
        let kind = match ch["Kind"].as_u64() {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        println!("{kind} {}", ch["Path"].as_str().unwrap_or(""));
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file instead of the standard output
    #[arg(short = 'o', long)]
    output: Option<String>,
    container: String,
}

/// `export [-o FILE] CONTAINER`: the container's file system as a tar.
pub fn export(c: &Client, a: &ExportArgs) -> Result<i32> {
    let out = output_or_stdout(a.output.as_deref(), "export")?;
    let r = c
        .request(
            "GET",
            &format!("/containers/{}/export", q(&a.container)),
            &[],
            Body::Empty,
        )?
        .ok()?;
    copy_to(r, out)
}

/// A file to write, or the standard output when it is not a terminal (docker refuses to write
/// a tar to a terminal).
pub fn output_or_stdout(path: Option<&str>, verb: &str) -> Result<Box<dyn Write>> {
    match path {
        Some(p) => Ok(Box::new(
            std::fs::File::create(p).with_context(|| format!("create {p}"))?,
        )),
        None if std::io::stdout().is_terminal() => bail!(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect: berth {verb}"
        ),
        None => Ok(Box::new(std::io::stdout())),
    }
}

/// Copy a response body to `out` and flush it.
pub fn copy_to(mut r: impl std::io::Read, mut out: Box<dyn Write>) -> Result<i32> {
    std::io::copy(&mut r, &mut out)?;
    out.flush()?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g. "Jane Doe <jane@example.com>")
    #[arg(short = 'a', long)]
    author: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENV, LABEL, ...)
    #[arg(short = 'c', long = "change")]
    change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// Pause the container during the commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pause: bool,
    container: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

pub fn commit(c: &Client, a: &CommitArgs) -> Result<i32> {
    let mut path = format!(
        "/commit?container={}&pause={}",
        q(&a.container),
        u8::from(a.pause)
    );
    if let Some(r) = &a.reference {
        let (repo, tag) = super::images::split_tag(r);
        path.push_str(&format!("&repo={}&tag={}", q(repo), q(tag)));
    }
    if let Some(m) = &a.message {
        path.push_str(&format!("&comment={}", q(m)));
    }
    if let Some(au) = &a.author {
        path.push_str(&format!("&author={}", q(au)));
    }
    for ch in &a.change {
        path.push_str(&format!("&changes={}", q(ch)));
    }
    let r = c.post(&path, json!({}))?;
    println!("{}", r["Id"].as_str().unwrap_or(""));
    Ok(0)
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Only show image IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Print sizes and dates in human readable format (docker's -H is berth's --host)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    human: bool,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template (e.g. '{{.ID}} {{.Size}}')
    #[arg(long)]
    format: Option<String>,
    image: String,
}

/// `history`: the image's layers, newest first, as docker's history context shows them.
pub fn history(c: &Client, a: &HistoryArgs) -> Result<i32> {
    let r = c.get(&format!("/images/{}/history", a.image))?;
    let id = |v: &Value| {
        let id = v["Id"].as_str().unwrap_or("");
        if id == "<missing>" || a.no_trunc {
            id.to_string()
        } else {
            short_id(id)
        }
    };
    let list = r.as_array().cloned().unwrap_or_default();
    if a.quiet {
        for v in &list {
            println!("{}", id(v));
        }
        return Ok(0);
    }
    let table = if a.human {
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    } else {
        "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    };
    let format = a.format.clone().filter(|f| !f.is_empty());
    let list_format = ListFormat::parse(format.as_deref().unwrap_or(table), table)?;
    let header = super::listfmt::header(&[
        ("Comment", "COMMENT"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("CreatedSince", "CREATED"),
        ("ID", "IMAGE"),
        ("Size", "SIZE"),
    ]);
    let rows: Vec<Json> = list
        .iter()
        .map(|v| {
            let by = v["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            let by = if a.no_trunc || by.chars().count() <= 45 {
                by
            } else {
                format!("{}…", by.chars().take(44).collect::<String>())
            };
            let created = v["Created"].as_i64().unwrap_or(0);
            let size = v["Size"].as_u64().unwrap_or(0);
            let at = berth_time::rfc3339_go(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(created.max(0) as u64),
            );
            let s = |x: String| Json::Str(x);
            Json::Obj(vec![
                (
                    "Comment".into(),
                    s(v["Comment"].as_str().unwrap_or("").into()),
                ),
                ("CreatedAt".into(), s(at.clone())),
                ("CreatedBy".into(), s(by)),
                (
                    "CreatedSince".into(),
                    s(if a.human { streams::ago(created) } else { at }),
                ),
                ("ID".into(), s(id(v))),
                (
                    "Size".into(),
                    s(if a.human {
                        streams::human(size)
                    } else {
                        size.to_string()
                    }),
                ),
            ])
        })
        .collect();
    list_format.print(&header, &rows, "*formatter.historyContext")?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Print one sample and exit
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template (e.g. '{{.Name}} {{.CPUPerc}}')
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

/// One row of `stats` from a sample with its previous CPU reading, computed as docker does.
fn stats_row(s: &Value, no_trunc: bool) -> Vec<String> {
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let num = |v: &Value| v.as_f64().unwrap_or(0.0);
    let cpu_delta = num(&cpu["cpu_usage"]["total_usage"]) - num(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = num(&cpu["system_cpu_usage"]) - num(&pre["system_cpu_usage"]);
    let ncpu = cpu["online_cpus"]
        .as_f64()
        .filter(|n| *n > 0.0)
        .or_else(|| {
            cpu["cpu_usage"]["percpu_usage"]
                .as_array()
                .map(|a| a.len() as f64)
        })
        .unwrap_or(1.0);
    let cpu_pct = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * ncpu * 100.0
    } else {
        0.0
    };
    let mem = &s["memory_stats"];
    // As docker: the usage less the page cache (cgroup v1 total_inactive_file, v2 inactive_file).
    let cache = mem["stats"]["total_inactive_file"]
        .as_f64()
        .or_else(|| mem["stats"]["inactive_file"].as_f64())
        .unwrap_or(0.0);
    let used = (num(&mem["usage"]) - cache).max(0.0);
    let limit = num(&mem["limit"]);
    let mem_pct = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0u64, 0u64);
    for n in s["networks"].as_object().into_iter().flatten() {
        rx += n.1["rx_bytes"].as_u64().unwrap_or(0);
        tx += n.1["tx_bytes"].as_u64().unwrap_or(0);
    }
    let (mut rd, mut wr) = (0u64, 0u64);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => rd += e["value"].as_u64().unwrap_or(0),
            Some("write") => wr += e["value"].as_u64().unwrap_or(0),
            _ => {}
        }
    }
    let id = s["id"].as_str().unwrap_or("");
    vec![
        if no_trunc {
            id.to_string()
        } else {
            short_id(id)
        },
        s["name"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string(),
        format!("{cpu_pct:.2}%"),
        format!(
            "{} / {}",
            streams::binary(used as u64),
            streams::binary(limit as u64)
        ),
        format!("{mem_pct:.2}%"),
        format!("{} / {}", streams::human(rx), streams::human(tx)),
        format!("{} / {}", streams::human(rd), streams::human(wr)),
        s["pids_stats"]["current"].as_u64().unwrap_or(0).to_string(),
    ]
}

const STATS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// The fields of docker's stats context, in `stats_row`'s order after `Container`, with titles.
const STATS_FIELDS: [(&str, &str); 9] = [
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// A stats row as docker's context holds it (`container`: the name as asked for, or the id).
fn stats_json(container: &str, cells: Vec<String>) -> Json {
    let mut m: Vec<(String, Json)> = std::iter::once(container.to_string())
        .chain(cells)
        .zip(STATS_FIELDS.iter())
        .map(|(v, (k, _))| (k.to_string(), Json::Str(v)))
        .collect();
    // `--format json` prints the keys in Go's sorted order.
    m.sort_by(|a, b| a.0.cmp(&b.0));
    Json::Obj(m)
}

/// `stats`: a sample per container (the daemon takes two readings a second apart for the CPU
/// share); without `--no-stream` the table is redrawn until interrupted.
pub fn stats(c: &Client, a: &StatsArgs) -> Result<i32> {
    let format = a.format.clone().filter(|f| !f.is_empty());
    let list_format = ListFormat::parse(format.as_deref().unwrap_or(STATS_TABLE), STATS_TABLE)?;
    let header = super::listfmt::header(&STATS_FIELDS);
    loop {
        let names: Vec<String> = if a.containers.is_empty() {
            let list = c.get(&format!("/containers/json?all={}", u8::from(a.all)))?;
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|ct| ct["Id"].as_str().map(str::to_string))
                .collect()
        } else {
            a.containers.clone()
        };
        // One thread per container: each sample takes the daemon about a second.
        let samples: Vec<Result<Value>> = std::thread::scope(|s| {
            let hs: Vec<_> = names
                .iter()
                .map(|n| {
                    s.spawn(move || c.get(&format!("/containers/{}/stats?stream=false", q(n))))
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|_| bail!("stats thread failed")))
                .collect()
        });
        let mut rows = Vec::new();
        for (n, s) in names.iter().zip(samples) {
            match s {
                // A container from the list goes by its short id, as in docker.
                Ok(v) if a.containers.is_empty() => {
                    rows.push(stats_json(&short_id(n), stats_row(&v, a.no_trunc)))
                }
                Ok(v) => rows.push(stats_json(n, stats_row(&v, a.no_trunc))),
                // A container named on the command line must exist; one that went away meanwhile
                // from the list is skipped.
                Err(e) if !a.containers.is_empty() => bail!("{e:#} ({n})"),
                Err(_) => {}
            }
        }
        if !a.no_stream && std::io::stdout().is_terminal() {
            print!("\x1b[2J\x1b[H");
        }
        list_format.print(&header, &rows, "*formatter.statsContext")?;
        if a.no_stream {
            return Ok(0);
        }
    }
}

/// `container prune`.
pub fn prune_containers(c: &Client, a: &PruneArgs) -> Result<i32> {
    if !confirm(a.force, "WARNING! This will remove all stopped containers.")? {
        return Ok(0);
    }
    let r = c.post(
        &super::prune_path("/containers/prune", &a.filter)?,
        json!({}),
    )?;
    print_pruned("Deleted Containers:", &strings(&r["ContainersDeleted"]));
    println!(
        "Total reclaimed space: {}",
        streams::human(r["SpaceReclaimed"].as_u64().unwrap_or(0))
    );
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    #[command(flatten)]
    pub prune: PruneArgs,
}

/// `image prune`: the images deleted and the space reclaimed (its number for `system prune`).
pub fn prune_images(c: &Client, a: &ImagePruneArgs, ask: bool) -> Result<Option<u64>> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if ask && !confirm(a.prune.force, warning)? {
        return Ok(None);
    }
    let mut filter = a.prune.filter.clone();
    filter.push(format!("dangling={}", !a.all));
    let r = c.post(&super::prune_path("/images/prune", &filter)?, json!({}))?;
    let mut lines = Vec::new();
    for d in r["ImagesDeleted"].as_array().into_iter().flatten() {
        if let Some(u) = d["Untagged"].as_str() {
            lines.push(format!("untagged: {u}"));
        }
        if let Some(x) = d["Deleted"].as_str() {
            lines.push(format!("deleted: {x}"));
        }
    }
    print_pruned("Deleted Images:", &lines);
    Ok(Some(r["SpaceReclaimed"].as_u64().unwrap_or(0)))
}

/// A prune's list under its heading, then a blank line; nothing when the list is empty.
pub fn print_pruned(heading: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    println!("{heading}");
    for i in items {
        println!("{i}");
    }
    println!();
}
