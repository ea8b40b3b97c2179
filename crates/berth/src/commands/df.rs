//! `system df`: disk usage by images, containers, volumes and build cache, with docker's sums
//! (what is reclaimable and its share), its `--format`, and `-v`'s sections.

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::listfmt::{self, ListFormat};
use super::ordered::Json;
use super::short_id;
use crate::client::Client;
use crate::streams::{ago, human, human_digits};

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template (e.g. '{{.Type}} {{.Size}}')
    #[arg(long)]
    format: Option<String>,
}

/// go-units' `HumanSize` (four significant digits), what `df` prints most sizes with.
fn size4(n: i64) -> String {
    human_digits(n.max(0) as u64, 4)
}

/// `reclaimable` of `total` as docker shows it: `1.2MB (50%)`, the share only when there is a
/// total.
fn reclaimable(part: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", size4(part), part * 100 / total)
    } else {
        size4(part)
    }
}

const SUMMARY: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

pub fn df(c: &Client, a: &DfArgs) -> Result<i32> {
    let d = c.get("/system/df")?;
    if a.verbose {
        return verbose(&d);
    }
    let list = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
    let (images, containers, volumes, cache) = (
        list("Images"),
        list("Containers"),
        list("Volumes"),
        list("BuildCache"),
    );
    // Images: what the images with containers hold of their own is not reclaimable.
    let layers = n(&d, "LayersSize");
    let used: i64 = images
        .iter()
        .filter(|i| n(i, "Containers") != 0 && n(i, "SharedSize") != -1)
        .map(|i| n(i, "Size") - n(i, "SharedSize"))
        .sum();
    let active_ct = |ct: &Value| {
        matches!(
            ct["State"].as_str(),
            Some("running" | "paused" | "restarting")
        )
    };
    let ct_total: i64 = containers.iter().map(|ct| n(ct, "SizeRw")).sum();
    let ct_free: i64 = containers
        .iter()
        .filter(|ct| !active_ct(ct))
        .map(|ct| n(ct, "SizeRw"))
        .sum();
    let vol_size = |v: &Value| v["UsageData"]["Size"].as_i64().unwrap_or(-1);
    let vol_refs = |v: &Value| v["UsageData"]["RefCount"].as_i64().unwrap_or(0);
    let measured = volumes.iter().filter(|v| vol_size(v) != -1);
    let vol_total: i64 = measured.clone().map(vol_size).sum();
    let vol_free: i64 = measured.filter(|v| vol_refs(v) == 0).map(vol_size).sum();
    let shared = |b: &Value| b["Shared"].as_bool().unwrap_or(false);
    let in_use = |b: &Value| b["InUse"].as_bool().unwrap_or(false);
    let cache_total: i64 = cache
        .iter()
        .filter(|b| !shared(b))
        .map(|b| n(b, "Size"))
        .sum();
    let cache_used: i64 = cache
        .iter()
        .filter(|b| in_use(b) && !shared(b))
        .map(|b| n(b, "Size"))
        .sum();
    let row = |kind: &str, total: usize, active: usize, size: String, free: String| {
        Json::Obj(vec![
            ("Active".into(), Json::Str(active.to_string())),
            ("Reclaimable".into(), Json::Str(free)),
            ("Size".into(), Json::Str(size)),
            ("TotalCount".into(), Json::Str(total.to_string())),
            ("Type".into(), Json::Str(kind.into())),
        ])
    };
    let rows = [
        row(
            "Images",
            images.len(),
            images.iter().filter(|i| n(i, "Containers") > 0).count(),
            size4(layers),
            reclaimable(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|ct| active_ct(ct)).count(),
            size4(ct_total),
            reclaimable(ct_free, ct_total),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            volumes.iter().filter(|v| vol_refs(v) > 0).count(),
            size4(vol_total),
            reclaimable(vol_free, vol_total),
        ),
        row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|b| in_use(b)).count(),
            size4(cache_total),
            size4(cache_total - cache_used),
        ),
    ];
    let format = a.format.clone().filter(|f| !f.is_empty());
    let list_format = ListFormat::parse(format.as_deref().unwrap_or(SUMMARY), SUMMARY)?;
    let header = listfmt::header(&[
        ("Active", "ACTIVE"),
        ("Reclaimable", "RECLAIMABLE"),
        ("Size", "SIZE"),
        ("TotalCount", "TOTAL"),
        ("Type", "TYPE"),
    ]);
    list_format.print(&header, &rows, "*formatter.diskUsageContext")?;
    Ok(0)
}

/// A section of `-v`: its title, then its table.
fn section(title: &str, template: &str, header: &[(&str, &str)], rows: &[Json]) -> Result<()> {
    println!("{title}\n");
    ListFormat::parse(template, template)?.print(&listfmt::header(header), rows, "")?;
    Ok(())
}

/// How long ago an RFC 3339 time was, as docker's build cache rows show it ("" for none).
fn ago_rfc3339(t: &Value) -> String {
    t.as_str()
        .and_then(berth_time::parse_rfc3339)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| ago(d.as_secs() as i64))
        .unwrap_or_default()
}

/// `system df -v`: each image, container, volume and build cache record.
fn verbose(d: &Value) -> Result<i32> {
    let list = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
    let s = |v: String| Json::Str(v);
    let images: Vec<Json> = list("Images")
        .iter()
        .map(|i| {
            let tag = super::strings(&i["RepoTags"])
                .into_iter()
                .find(|t| t != "<none>:<none>");
            let (repo, tag) = match tag.as_deref().map(super::images::split_tag) {
                Some((r, t)) => (r.to_string(), t.to_string()),
                None => ("<none>".into(), "<none>".into()),
            };
            let shared = n(i, "SharedSize");
            Json::Obj(vec![
                ("Repository".into(), s(repo)),
                ("Tag".into(), s(tag)),
                ("ID".into(), s(short_id(i["Id"].as_str().unwrap_or("")))),
                ("CreatedSince".into(), s(ago(n(i, "Created")))),
                ("Size".into(), s(human(n(i, "Size").max(0) as u64))),
                (
                    "SharedSize".into(),
                    s(if shared == -1 {
                        "N/A".into()
                    } else {
                        size4(shared)
                    }),
                ),
                (
                    "UniqueSize".into(),
                    s(if shared == -1 {
                        "N/A".into()
                    } else {
                        size4(n(i, "Size") - shared)
                    }),
                ),
                ("Containers".into(), s(n(i, "Containers").to_string())),
            ])
        })
        .collect();
    section(
        "Images space usage:",
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        &[
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("Size", "SIZE"),
            ("SharedSize", "SHARED SIZE"),
            ("UniqueSize", "UNIQUE SIZE"),
            ("Containers", "CONTAINERS"),
        ],
        &images,
    )?;
    let containers: Vec<Json> = list("Containers")
        .iter()
        .map(|ct| {
            let mut row = super::ps::row(ct, true);
            if let Json::Obj(m) = &mut row {
                for (k, v) in m.iter_mut() {
                    if k == "Size" {
                        *v = s(human(n(ct, "SizeRw").max(0) as u64));
                    }
                }
            }
            row
        })
        .collect();
    println!();
    section(
        "Containers space usage:",
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("LocalVolumes", "LOCAL VOLUMES"),
            ("Size", "SIZE"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Names", "NAMES"),
        ],
        &containers,
    )?;
    let volumes: Vec<Json> = list("Volumes")
        .iter()
        .map(|v| {
            let size = v["UsageData"]["Size"].as_i64().unwrap_or(-1);
            Json::Obj(vec![
                ("Name".into(), s(v["Name"].as_str().unwrap_or("").into())),
                (
                    "Links".into(),
                    s(v["UsageData"]["RefCount"].as_i64().unwrap_or(0).to_string()),
                ),
                (
                    "Size".into(),
                    s(if size == -1 {
                        "N/A".into()
                    } else {
                        human(size as u64)
                    }),
                ),
            ])
        })
        .collect();
    println!();
    section(
        "Local Volumes space usage:",
        "table {{.Name}}\t{{.Links}}\t{{.Size}}",
        &[
            ("Name", "VOLUME NAME"),
            ("Links", "LINKS"),
            ("Size", "SIZE"),
        ],
        &volumes,
    )?;
    let cache = list("BuildCache");
    let total: i64 = cache
        .iter()
        .filter(|b| !b["Shared"].as_bool().unwrap_or(false))
        .map(|b| n(b, "Size"))
        .sum();
    let cache: Vec<Json> = cache
        .iter()
        .map(|b| {
            Json::Obj(vec![
                ("ID".into(), s(short_id(b["ID"].as_str().unwrap_or("")))),
                (
                    "CacheType".into(),
                    s(b["Type"].as_str().unwrap_or("").into()),
                ),
                ("Size".into(), s(size4(n(b, "Size")))),
                ("CreatedSince".into(), s(ago_rfc3339(&b["CreatedAt"]))),
                ("LastUsedSince".into(), s(ago_rfc3339(&b["LastUsedAt"]))),
                ("UsageCount".into(), s(n(b, "UsageCount").to_string())),
                (
                    "Shared".into(),
                    s(b["Shared"].as_bool().unwrap_or(false).to_string()),
                ),
            ])
        })
        .collect();
    println!();
    section(
        &format!("Build cache usage: {}", size4(total)),
        "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
        &[
            ("ID", "CACHE ID"),
            ("CacheType", "CACHE TYPE"),
            ("Size", "SIZE"),
            ("CreatedSince", "CREATED"),
            ("LastUsedSince", "LAST USED"),
            ("UsageCount", "USAGE"),
            ("Shared", "SHARED"),
        ],
        &cache,
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclaimable_reads_like_docker() {
        assert_eq!(reclaimable(50, 200), "50B (25%)");
        assert_eq!(reclaimable(1_982_321, 1_982_321), "1.982MB (100%)");
        assert_eq!(reclaimable(0, 0), "0B");
    }
}
