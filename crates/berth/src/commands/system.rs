//! version and info.

use anyhow::Result;
use serde_json::Value;

use super::ordered::Json;
use super::template::Template;
use crate::client::Client;

/// `--format` of `version` and `info`.
#[derive(clap::Args, Debug)]
pub struct FormatArg {
    /// Format output: 'json' or a Go template (e.g. '{{.Server.Version}}')
    #[arg(short = 'f', long)]
    format: Option<String>,
}

/// `format` applied to `data` and printed (`json`: the data on one line).
fn print_formatted(format: &str, data: &Json) -> Result<()> {
    if format == "json" {
        println!("{}", data.compact());
        return Ok(());
    }
    let t = Template::parse(format).map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = t.render(data).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{out}");
    Ok(())
}

pub fn version(c: &Client, a: &FormatArg) -> Result<i32> {
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        let (major, minor) = c.api_version();
        let client = Json::Obj(vec![
            (
                "Version".into(),
                Json::Str(env!("CARGO_PKG_VERSION").into()),
            ),
            ("ApiVersion".into(), Json::Str(format!("{major}.{minor}"))),
            ("Os".into(), Json::Str(std::env::consts::OS.into())),
            ("Arch".into(), Json::Str(go_arch().into())),
        ]);
        let server = c
            .request("GET", "/version", &[], crate::client::Body::Empty)?
            .ok()?
            .text()?;
        let data = Json::Obj(vec![
            ("Client".into(), client),
            ("Server".into(), Json::parse(&server)?),
        ]);
        print_formatted(f, &data)?;
        return Ok(0);
    }
    let v = c.get("/version")?;
    println!("Client:\n Version:    {}\n", env!("CARGO_PKG_VERSION"));
    println!("Server:");
    for (label, key) in [
        ("Version", "Version"),
        ("API version", "ApiVersion"),
        ("Min API version", "MinAPIVersion"),
        ("Go version", "GoVersion"),
        ("OS/Arch", "Os"),
        ("Kernel", "KernelVersion"),
    ] {
        let val = if key == "Os" {
            format!(
                "{}/{}",
                v["Os"].as_str().unwrap_or(""),
                v["Arch"].as_str().unwrap_or("")
            )
        } else {
            v[key].as_str().unwrap_or("").to_string()
        };
        if !val.is_empty() && val != "/" {
            println!(
                " {label}:{}{val}",
                " ".repeat(16usize.saturating_sub(label.len()))
            );
        }
    }
    Ok(0)
}

/// Go's name of this machine's architecture.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub fn info(c: &Client, a: &FormatArg) -> Result<i32> {
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        let text = c
            .request("GET", "/info", &[], crate::client::Body::Empty)?
            .ok()?
            .text()?;
        print_formatted(f, &Json::parse(&text)?)?;
        return Ok(0);
    }
    let i = c.get("/info")?;
    let n = |k: &str| i[k].as_i64().unwrap_or(0);
    println!("Containers: {}", n("Containers"));
    println!(
        " Running: {}\n Paused: {}\n Stopped: {}",
        n("ContainersRunning"),
        n("ContainersPaused"),
        n("ContainersStopped")
    );
    println!("Images: {}", n("Images"));
    for (label, key) in [
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
        ("Default Runtime", "DefaultRuntime"),
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("Docker Root Dir", "DockerRootDir"),
        ("Name", "Name"),
    ] {
        if let Some(v) = i[key].as_str() {
            println!("{label}: {v}");
        }
    }
    if let Some(rt) = i["Runtimes"].as_object() {
        println!(
            "Runtimes: {}",
            rt.keys().cloned().collect::<Vec<_>>().join(" ")
        );
    }
    println!(
        "CPUs: {}\nTotal Memory: {}",
        n("NCPU"),
        crate::streams::human(n("MemTotal") as u64)
    );
    Ok(0)
}

/// The `system` verbs.
#[derive(clap::Subcommand, Debug)]
pub enum SystemCmd {
    /// Show disk usage
    Df(super::df::DfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Show daemon information
    Info(FormatArg),
}

pub fn main(c: &Client, cmd: &SystemCmd) -> Result<i32> {
    match cmd {
        SystemCmd::Df(a) => super::df::df(c, a),
        SystemCmd::Prune(a) => prune(c, a),
        SystemCmd::Events(a) => events(c, a),
        SystemCmd::Info(a) => info(c, a),
    }
}

#[derive(clap::Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Prune anonymous volumes too
    #[arg(long)]
    volumes: bool,
    #[command(flatten)]
    prune: super::PruneArgs,
}

pub fn prune(c: &Client, a: &SystemPruneArgs) -> Result<i32> {
    let mut warning = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
    if a.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if a.all {
        "  - all images without at least one container associated to them\n  - all build cache"
    } else {
        "  - all dangling images\n  - unused build cache"
    });
    if !super::confirm(a.prune.force, &warning)? {
        return Ok(0);
    }
    use super::manage::print_pruned;
    let filter = &a.prune.filter;
    let mut total = 0u64;
    let r = c.post(
        &super::prune_path("/containers/prune", filter)?,
        serde_json::json!({}),
    )?;
    print_pruned(
        "Deleted Containers:",
        &super::strings(&r["ContainersDeleted"]),
    );
    total += r["SpaceReclaimed"].as_u64().unwrap_or(0);
    let r = c.post(
        &super::prune_path("/networks/prune", filter)?,
        serde_json::json!({}),
    )?;
    print_pruned("Deleted Networks:", &super::strings(&r["NetworksDeleted"]));
    if a.volumes {
        let r = c.post(
            &super::prune_path("/volumes/prune", filter)?,
            serde_json::json!({}),
        )?;
        print_pruned("Deleted Volumes:", &super::strings(&r["VolumesDeleted"]));
        total += r["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    let images = super::manage::ImagePruneArgs {
        all: a.all,
        prune: super::PruneArgs {
            force: true,
            filter: filter.clone(),
        },
    };
    total += super::manage::prune_images(c, &images, false)?.unwrap_or(0);
    let mut path = super::prune_path("/build/prune", filter)?;
    if a.all {
        path.push_str(if path.contains('?') {
            "&all=1"
        } else {
            "?all=1"
        });
    }
    let r = c.post(&path, serde_json::json!({}))?;
    print_pruned(
        "Deleted build cache objects:",
        &super::strings(&r["CachesDeleted"]),
    );
    total += r["SpaceReclaimed"].as_u64().unwrap_or(0);
    println!("Total reclaimed space: {}", crate::streams::human(total));
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Show events created since this time (a timestamp, or a duration such as 10m before now)
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this time (a timestamp, or a duration before now)
    #[arg(long)]
    until: Option<String>,
    /// Filter output (container=, event=, image=, label=, type=, volume=, network=, daemon=)
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Print each event as a JSON line
    #[arg(long = "format", value_parser = ["json"])]
    format: Option<String>,
}

/// A `--since`/`--until` value as the docker CLI sends it (its `GetTimestamp`): a duration before
/// now as whole unix seconds, a date or time (`2026-12-07`, `...T18:00`, RFC 3339 with a zone;
/// UTC without one) as `SECONDS.NANOS`, anything else as given.
pub(super) fn api_time(s: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    if let Ok(ns) = super::goparse::go_duration(s) {
        if s != "0" {
            let secs = now.as_nanos() as i128 - i128::from(ns);
            return (secs.div_euclid(1_000_000_000)).to_string();
        }
    }
    if !s.contains('-') || s.len() < 10 {
        return s.to_string();
    }
    let (date, rest) = s.split_at(10);
    let rest = rest.strip_prefix('T').unwrap_or(rest);
    let zone_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let parts: Vec<&str> = hms.split(':').filter(|p| !p.is_empty()).collect();
    let field = |i: usize| parts.get(i).copied().unwrap_or("00");
    let text = format!(
        "{date}T{}:{}:{}{}Z",
        field(0),
        field(1),
        field(2),
        if frac.is_empty() {
            String::new()
        } else {
            format!(".{frac}")
        }
    );
    let offset = match zone {
        "" | "Z" => Some(0i64),
        z => {
            let (sign, hm) = z.split_at(1);
            let (h, m) = hm.split_once(':').unwrap_or((hm, "0"));
            match (h.parse::<i64>(), m.parse::<i64>()) {
                (Ok(h), Ok(m)) => Some(if sign == "-" { -1 } else { 1 } * (h * 3600 + m * 60)),
                _ => None,
            }
        }
    };
    let Some(t) = offset.and_then(|o| Some((berth_time::parse_rfc3339(&text)?, o))) else {
        return s.to_string();
    };
    let d =
        t.0.duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
    format!("{}.{:09}", d.as_secs() as i64 - t.1, d.subsec_nanos())
}

/// One event as the docker CLI prints it:
/// `2026-12-07T14:50:00.123456789Z container start ID (image=x, name=y)`.
fn event_line(e: &Value) -> String {
    let mut out = String::new();
    if let Some(t) = e["timeNano"].as_u64().filter(|t| *t > 0) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(t);
        out.push_str(&berth_time::rfc3339_nano(t));
        out.push(' ');
    }
    out.push_str(&format!(
        "{} {} {}",
        e["Type"].as_str().unwrap_or(""),
        e["Action"].as_str().unwrap_or(""),
        e["Actor"]["ID"].as_str().unwrap_or("")
    ));
    let mut attrs: Vec<(String, String)> = e["Actor"]["Attributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    attrs.sort();
    if !attrs.is_empty() {
        let a: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!(" ({})", a.join(", ")));
    }
    out
}

pub fn events(c: &Client, a: &EventsArgs) -> Result<i32> {
    use std::io::{BufRead, Write};
    let mut query = Vec::new();
    if let Some(s) = &a.since {
        query.push(format!("since={}", crate::client::q(&api_time(s))));
    }
    if let Some(u) = &a.until {
        query.push(format!("until={}", crate::client::q(&api_time(u))));
    }
    if let Some(f) = super::filters_query(&a.filter)? {
        query.push(format!("filters={f}"));
    }
    let mut path = "/events".to_string();
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    let r = c
        .request("GET", &path, &[], crate::client::Body::Empty)?
        .ok()?;
    let mut out = std::io::stdout().lock();
    for line in std::io::BufReader::new(r).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(e) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if a.format.is_some() {
            writeln!(out, "{}", e)?;
        } else {
            writeln!(out, "{}", event_line(&e))?;
        }
        out.flush()?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_print_like_docker() {
        let e = serde_json::json!({
            "Type": "container", "Action": "start",
            "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "bb"}},
            "timeNano": 1_795_853_179_519_068_068u64,
        });
        assert_eq!(
            event_line(&e),
            "2026-11-28T08:06:19.519068068Z container start abc (image=bb, name=web)"
        );
        assert_eq!(api_time("1700000000"), "1700000000");
        assert!(api_time("10m").parse::<u64>().is_ok());
        // What docker CLI 28 sent for these (recorded).
        assert_eq!(api_time("2026-12-07"), "1796601600.000000000");
        assert_eq!(api_time("2026-12-07T18:00:00"), "1796666400.000000000");
        assert_eq!(
            api_time("2026-12-07T19:00:00+01:00"),
            "1796666400.000000000"
        );
        assert_eq!(api_time("2026-12-07T18:00"), "1796666400.000000000");
    }
}
