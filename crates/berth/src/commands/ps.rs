//! `ps` (and `container ls`): the containers as docker lists them, its default table or
//! `--format` over the fields of docker's container context (`{{.ID}}`, `{{.Names}}`, ...).

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::listfmt::ListFormat;
use super::ordered::Json;
use super::short_id;
use crate::client::Client;
use crate::streams;

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Filter output (e.g. status=exited, label=k=v, name=x)
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template (e.g. '{{.ID}} {{.Names}}')
    #[arg(long)]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1, allow_hyphen_values = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Each field's column title.
const HEADERS: [(&str, &str); 15] = [
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Labels", "LABELS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Mounts", "MOUNTS"),
    ("Names", "NAMES"),
    ("Networks", "NETWORKS"),
    ("Platform", "PLATFORM"),
    ("Ports", "PORTS"),
    ("RunningFor", "CREATED"),
    ("Size", "SIZE"),
    ("State", "STATE"),
    ("Status", "STATUS"),
];

pub fn ps(c: &Client, a: &PsArgs) -> Result<i32> {
    let format = match (&a.format, a.size) {
        (Some(f), _) if !f.is_empty() => f.clone(),
        (_, true) => format!("{DEFAULT_TABLE}\t{{{{.Size}}}}"),
        _ => DEFAULT_TABLE.to_string(),
    };
    // The template is checked before the daemon is asked, as docker does.
    let list_format = ListFormat::parse(&format, DEFAULT_TABLE)?;
    let header = header_row();
    if !a.quiet {
        list_format.check(&header, "*formatter.ContainerContext")?;
    }
    let last = if a.latest && a.last == -1 { 1 } else { a.last };
    let mut path = "/containers/json".to_string();
    let mut query = Vec::new();
    if a.all {
        query.push("all=1".to_string());
    }
    if last > 0 {
        query.push(format!("limit={last}"));
    }
    if a.size || (!a.quiet && list_format.wants("Size")) {
        query.push("size=1".to_string());
    }
    if let Some(f) = super::filters_query(&a.filter)? {
        query.push(format!("filters={f}"));
    }
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    let list = c.get(&path)?;
    let list = list.as_array().cloned().unwrap_or_default();
    if a.quiet {
        for ct in &list {
            let id = ct["Id"].as_str().unwrap_or("");
            println!("{}", if a.no_trunc { id.into() } else { short_id(id) });
        }
        return Ok(0);
    }
    let rows: Vec<Json> = list.iter().map(|ct| row(ct, !a.no_trunc)).collect();
    list_format.print(&header, &rows, "*formatter.ContainerContext")?;
    Ok(0)
}

fn header_row() -> Json {
    let mut fields: Vec<(String, Json)> = HEADERS
        .iter()
        .map(|(k, h)| (k.to_string(), Json::Str(h.to_string())))
        .collect();
    fields.push(("\0Label".into(), Json::Null));
    Json::Obj(fields)
}

/// docker's `Ellipsis`: at most `n` characters, the last one `…` when cut.
fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!(
            "{}…",
            s.chars().take(n.saturating_sub(1)).collect::<String>()
        )
    }
}

/// Go's `time.Time.String()` of a unix time, in UTC.
pub(super) fn go_time(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    let s = berth_time::rfc3339_nano(t);
    format!("{} {} +0000 UTC", &s[..10], &s[11..19])
}

/// `0.0.0.0:8080->80/tcp, 443/tcp`.
fn ports(ct: &Value) -> String {
    let ports: Vec<String> = ct["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p["Type"].as_str().unwrap_or("tcp");
            match p["PublicPort"].as_u64() {
                Some(pp) => format!(
                    "{}:{}->{}/{}",
                    p["IP"].as_str().unwrap_or(""),
                    pp,
                    p["PrivatePort"],
                    proto
                ),
                None => format!("{}/{}", p["PrivatePort"], proto),
            }
        })
        .collect();
    ports.join(", ")
}

/// One container as docker's container context shows it (every value a string, as `--format
/// json` prints them).
pub(super) fn row(ct: &Value, trunc: bool) -> Json {
    let text = |k: &str| ct[k].as_str().unwrap_or("").to_string();
    let id = text("Id");
    let image = match text("Image") {
        i if i.is_empty() => "<no image>".to_string(),
        i if trunc && i.starts_with("sha256:") => short_id(&i),
        i if trunc => i.split('@').next().unwrap_or("").to_string(),
        i => i,
    };
    let command = text("Command");
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let mut names: Vec<String> = super::strings(&ct["Names"])
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    if trunc {
        // Names of links (`other/alias`) only without --no-trunc.
        if let Some(n) = names.iter().find(|n| !n.contains('/')) {
            names = vec![n.clone()];
        }
    }
    let mut labels: Vec<(String, String)> = ct["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    labels.sort();
    let mounts: Vec<&Value> = ct["Mounts"].as_array().into_iter().flatten().collect();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = m["Name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .or(m["Source"].as_str())
                .unwrap_or("");
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local = mounts
        .iter()
        .filter(|m| m["Driver"].as_str() == Some("local"))
        .count();
    let mut networks: Vec<&String> = ct["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .collect();
    networks.sort();
    let created = ct["Created"].as_i64().unwrap_or(0);
    let (rw, root) = (
        ct["SizeRw"].as_u64().unwrap_or(0),
        ct["SizeRootFs"].as_u64().unwrap_or(0),
    );
    let size = if root > 0 {
        format!("{} (virtual {})", streams::human(rw), streams::human(root))
    } else {
        streams::human(rw)
    };
    let s = |v: String| Json::Str(v);
    Json::Obj(vec![
        ("Command".into(), s(Json::Str(command).compact())),
        ("CreatedAt".into(), s(go_time(created))),
        (
            "ID".into(),
            s(if trunc { short_id(&id) } else { id.clone() }),
        ),
        ("Image".into(), s(image)),
        (
            "Labels".into(),
            s(labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")),
        ),
        ("LocalVolumes".into(), s(local.to_string())),
        ("Mounts".into(), s(mount_names.join(","))),
        ("Names".into(), s(names.join(","))),
        (
            "Networks".into(),
            s(networks
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(",")),
        ),
        ("Platform".into(), Json::Null),
        ("Ports".into(), s(ports(ct))),
        ("RunningFor".into(), s(streams::ago(created))),
        ("Size".into(), s(size)),
        ("State".into(), s(text("State"))),
        ("Status".into(), s(text("Status"))),
        (
            "\0Label".into(),
            Json::Obj(labels.into_iter().map(|(k, v)| (k, s(v))).collect()),
        ),
    ])
}
