//! Image verbs: images, pull, push, login, load, save, import, tag, rmi.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use super::listfmt::ListFormat;
use super::ordered::Json;
use crate::client::{base64, q, Body, Client};
use crate::streams;

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Filter output (dangling=true, reference=x, label=k=v, ...)
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go template (e.g. '{{.Repository}}:{{.Tag}}')
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// [REPOSITORY[:TAG]]
    reference: Option<String>,
}

const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const IMAGES_DIGESTS_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// `images` (and `image ls`): a row per repository and tag, as docker's image context shows it.
pub fn list(c: &Client, a: &ImagesArgs) -> Result<i32> {
    let default = if a.digests {
        IMAGES_DIGESTS_TABLE
    } else {
        IMAGES_TABLE
    };
    let format = a.format.clone().filter(|f| !f.is_empty());
    let list_format = ListFormat::parse(format.as_deref().unwrap_or(default), default)?;
    let header = Json::Obj(
        [
            ("Containers", "CONTAINERS"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedSince", "CREATED"),
            ("Digest", "DIGEST"),
            ("ID", "IMAGE ID"),
            ("Repository", "REPOSITORY"),
            ("SharedSize", "SHARED SIZE"),
            ("Size", "SIZE"),
            ("Tag", "TAG"),
            ("UniqueSize", "UNIQUE SIZE"),
            ("VirtualSize", "SIZE"),
        ]
        .iter()
        .map(|(k, h)| (k.to_string(), Json::Str(h.to_string())))
        .collect(),
    );
    let mut filter = a.filter.clone();
    if let Some(r) = &a.reference {
        filter.push(format!("reference={r}"));
    }
    let mut path = "/images/json".to_string();
    let mut query = Vec::new();
    if a.all {
        query.push("all=1".to_string());
    }
    if let Some(f) = super::filters_query(&filter)? {
        query.push(format!("filters={f}"));
    }
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    let list = c.get(&path)?;
    let id = |img: &Value| {
        let id = img["Id"].as_str().unwrap_or("");
        if a.no_trunc {
            id.to_string()
        } else {
            super::short_id(id)
        }
    };
    let mut rows = Vec::new();
    for img in list.as_array().into_iter().flatten() {
        for (repo, tag, digest) in image_rows(img, a.digests) {
            if a.quiet {
                println!("{}", id(img));
            } else {
                rows.push(image_row(img, id(img), repo, tag, digest));
            }
        }
    }
    if a.quiet {
        return Ok(0);
    }
    list_format.print(&header, &rows, "*formatter.imageContext")?;
    Ok(0)
}

/// The (repository, tag, digest) rows of an image, as docker makes them: one per tag (per tag and
/// digest with `--digests`), one for a repository known only by digest, `<none>` when dangling.
fn image_rows(img: &Value, digests: bool) -> Vec<(String, String, String)> {
    let none = || "<none>".to_string();
    let tags: Vec<String> = super::strings(&img["RepoTags"])
        .into_iter()
        .filter(|t| t != "<none>:<none>")
        .collect();
    let mut by_digest: Vec<(String, String)> = super::strings(&img["RepoDigests"])
        .into_iter()
        .filter(|d| d != "<none>@<none>")
        .filter_map(|d| {
            d.split_once('@')
                .map(|(r, d)| (r.to_string(), d.to_string()))
        })
        .collect();
    if tags.is_empty() && by_digest.is_empty() {
        return vec![(none(), none(), none())];
    }
    let mut rows = Vec::new();
    for t in &tags {
        let (repo, tag) = split_tag(t);
        let ds: Vec<String> = by_digest
            .iter()
            .filter(|(r, _)| r == repo)
            .map(|(_, d)| d.clone())
            .collect();
        if digests && !ds.is_empty() {
            for d in ds {
                rows.push((repo.to_string(), tag.to_string(), d));
            }
        } else {
            rows.push((repo.to_string(), tag.to_string(), none()));
        }
    }
    by_digest.retain(|(r, _)| !tags.iter().any(|t| split_tag(t).0 == r));
    let mut seen = Vec::new();
    for (repo, d) in by_digest {
        if digests {
            rows.push((repo, none(), d));
        } else if !seen.contains(&repo) {
            seen.push(repo.clone());
            rows.push((repo, none(), none()));
        }
    }
    rows
}

fn image_row(img: &Value, id: String, repo: String, tag: String, digest: String) -> Json {
    let created = img["Created"].as_i64().unwrap_or(0);
    let size = img["Size"].as_u64().unwrap_or(0);
    let count = |k: &str| img[k].as_i64().unwrap_or(-1);
    let (containers, shared) = (count("Containers"), count("SharedSize"));
    let s = |v: String| Json::Str(v);
    Json::Obj(vec![
        (
            "Containers".into(),
            s(if containers < 0 {
                "N/A".into()
            } else {
                containers.to_string()
            }),
        ),
        ("CreatedAt".into(), s(super::ps::go_time(created))),
        ("CreatedSince".into(), s(streams::ago(created))),
        ("Digest".into(), s(digest)),
        ("ID".into(), s(id)),
        ("Repository".into(), s(repo)),
        (
            "SharedSize".into(),
            s(if shared < 0 {
                "N/A".into()
            } else {
                streams::human(shared as u64)
            }),
        ),
        ("Size".into(), s(streams::human(size))),
        ("Tag".into(), s(tag)),
        (
            "UniqueSize".into(),
            s(if shared < 0 {
                "N/A".into()
            } else {
                streams::human(size.saturating_sub(shared as u64))
            }),
        ),
        ("VirtualSize".into(), s(streams::human_digits(size, 4))),
    ])
}

/// Split `name[:tag]` (a port in the registry host is not a tag).
pub(super) fn split_tag(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

/// The registry an image name points at, as config.json keys it.
fn registry_of(image: &str) -> String {
    let first = image.split('/').next().unwrap_or("");
    if image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        first.to_string()
    } else {
        "https://index.docker.io/v1/".to_string()
    }
}

fn config_path() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".docker")
        });
    dir.join("config.json")
}

pub(super) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
        .collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= val(*b)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    Some(out)
}

/// X-Registry-Auth for `image`: saved credentials, or `{}`.
pub(super) fn registry_auth(image: &str) -> String {
    let server = registry_of(image);
    let creds = std::fs::read(config_path())
        .ok()
        .and_then(|d| serde_json::from_slice::<Value>(&d).ok())
        .and_then(|cfg| cfg["auths"][&server]["auth"].as_str().map(str::to_string))
        .and_then(|a| decode_base64(&a))
        .and_then(|d| String::from_utf8(d).ok());
    match creds.as_deref().and_then(|c| c.split_once(':')) {
        Some((user, pass)) => base64(
            json!({"username": user, "password": pass, "serveraddress": server})
                .to_string()
                .as_bytes(),
            true,
        ),
        None => "e30=".to_string(),
    }
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// NAME[:TAG|@DIGEST]
    image: String,
}

/// `pull`: the progress (bars on a terminal), or with `-q` only the reference pulled.
pub fn pull(c: &Client, a: &PullArgs) -> Result<i32> {
    let last = a.image.rsplit('/').next().unwrap_or("");
    if a.all_tags && last.contains([':', '@']) {
        anyhow::bail!("tag can't be used with --all-tags/-a");
    }
    let tty = nix::unistd::isatty(1).unwrap_or(false);
    let mut stdout = std::io::stdout().lock();
    let out: Option<(&mut dyn Write, bool)> = (!a.quiet).then_some((&mut stdout, tty));
    pull_with(c, &a.image, a.platform.as_deref(), a.all_tags, out)?;
    if a.quiet {
        println!("{}", full_reference(&a.image, a.all_tags));
    }
    Ok(0)
}

/// A reference as docker prints it in full: `docker.io/library/` before a Docker Hub name, and
/// `:latest` when it has no tag or digest (and not every tag was asked for).
fn full_reference(image: &str, all_tags: bool) -> String {
    let first = image.split('/').next().unwrap_or("");
    let has_registry = image.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    let mut r = if has_registry {
        image.to_string()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    };
    let last = r.rsplit('/').next().unwrap_or("");
    if !all_tags && !last.contains([':', '@']) {
        r.push_str(":latest");
    }
    r
}

pub(super) fn pull_to(c: &Client, image: &str, out: Option<(&mut dyn Write, bool)>) -> Result<()> {
    pull_with(c, image, None, false, out)
}

/// `pull_to` for a platform, or for every tag of the repository.
fn pull_with(
    c: &Client,
    image: &str,
    platform: Option<&str>,
    all_tags: bool,
    out: Option<(&mut dyn Write, bool)>,
) -> Result<()> {
    let (name, tag) = split_tag(image);
    let auth = registry_auth(image);
    let mut path = format!("/images/create?fromImage={}", q(name));
    if !tag.is_empty() && !all_tags {
        path.push_str(&format!("&tag={}", q(tag)));
    }
    if let Some(p) = platform {
        path.push_str(&format!("&platform={}", q(p)));
    }
    let r = c
        .request("POST", &path, &[("X-Registry-Auth", &auth)], Body::Empty)?
        .ok()?;
    match out {
        Some((w, tty)) => streams::progress_to(r, false, w, tty)?,
        None => streams::progress_to(r, true, &mut std::io::sink(), false)?,
    };
    Ok(())
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// NAME[:TAG]
    image: String,
}

/// `push`: the progress, or with `-q` only the reference pushed.
pub fn push(c: &Client, a: &PushArgs) -> Result<i32> {
    let (name, tag) = split_tag(&a.image);
    let auth = registry_auth(&a.image);
    let path = if a.all_tags {
        format!("/images/{name}/push")
    } else {
        format!("/images/{}/push?tag={}", name, q(tag))
    };
    let r = c
        .request("POST", &path, &[("X-Registry-Auth", &auth)], Body::Empty)?
        .ok()?;
    streams::progress(r, a.quiet)?;
    if a.quiet {
        println!("{}", full_reference(&a.image, a.all_tags));
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[arg(short = 'u', long)]
    username: String,
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Read the password from stdin
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    /// Registry (default Docker Hub)
    server: Option<String>,
}

pub fn login(c: &Client, a: &LoginArgs) -> Result<i32> {
    let password = match (&a.password, a.password_stdin) {
        (Some(p), _) => p.clone(),
        (None, true) => {
            let mut s = String::new();
            std::io::stdin().read_line(&mut s)?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => return Err(anyhow!("give --password or --password-stdin")),
    };
    let server = a
        .server
        .clone()
        .unwrap_or_else(|| "https://index.docker.io/v1/".into());
    let r = c.post(
        "/auth",
        json!({"username": a.username, "password": password, "serveraddress": server}),
    )?;
    // Remember the credentials the way docker does, in config.json.
    let path = config_path();
    let mut cfg: Value = std::fs::read(&path)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_else(|| json!({}));
    cfg["auths"][&server] =
        json!({"auth": base64(format!("{}:{password}", a.username).as_bytes(), false)});
    write_config(&path, &cfg)?;
    println!("{}", r["Status"].as_str().unwrap_or("Login Succeeded"));
    Ok(0)
}

/// Replace the client's config.json; the new file is private to its owner from the start (it
/// holds credentials).
fn write_config(path: &std::path::Path, cfg: &Value) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&serde_json::to_vec_pretty(cfg)?))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("write {}", path.display()))
}

/// `logout [SERVER]`: forget the saved credentials of a registry (Docker Hub by default).
pub fn logout(server: Option<&str>) -> Result<i32> {
    let server = server.unwrap_or("https://index.docker.io/v1/");
    let path = config_path();
    let mut cfg: Value = std::fs::read(&path)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_else(|| json!({}));
    let removed = cfg["auths"]
        .as_object_mut()
        .and_then(|m| m.remove(server))
        .is_some();
    if !removed {
        println!("Not logged in to {server}");
        return Ok(0);
    }
    println!("Removing login credentials for {server}");
    write_config(&path, &cfg)?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from a tar archive file instead of stdin
    #[arg(short = 'i', long)]
    input: Option<PathBuf>,
    #[arg(short = 'q', long)]
    quiet: bool,
}

pub fn load(c: &Client, a: &LoadArgs) -> Result<i32> {
    let mut src: Box<dyn std::io::Read> = match &a.input {
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?)
        }
        None => Box::new(std::io::stdin()),
    };
    let r = c
        .request("POST", "/images/load?quiet=1", &[], Body::Stream(&mut src))?
        .ok()?;
    let events = streams::progress(r, true)?;
    if !a.quiet {
        for e in events {
            if let Some(s) = e["stream"].as_str() {
                print!("{s}");
            }
        }
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file instead of stdout
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn save(c: &Client, a: &SaveArgs) -> Result<i32> {
    let names: Vec<String> = a.images.iter().map(|i| format!("names={}", q(i))).collect();
    let mut r = c
        .request(
            "GET",
            &format!("/images/get?{}", names.join("&")),
            &[],
            Body::Empty,
        )?
        .ok()?;
    match &a.output {
        Some(p) => {
            let mut f =
                std::fs::File::create(p).with_context(|| format!("create {}", p.display()))?;
            std::io::copy(&mut r, &mut f)?;
        }
        None => {
            if nix::unistd::isatty(1).unwrap_or(false) {
                return Err(anyhow!(
                    "refusing to write a tar archive to a terminal: use -o FILE or redirect"
                ));
            }
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut r, &mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction (CMD, ENV, WORKDIR, ...)
    #[arg(short = 'c', long = "change")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// A tarball file, or - for stdin
    file: String,
    /// repository[:tag]
    reference: Option<String>,
}

pub fn import(c: &Client, a: &ImportArgs) -> Result<i32> {
    let mut src: Box<dyn std::io::Read> = if a.file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&a.file).with_context(|| format!("open {}", a.file))?)
    };
    let mut path = "/images/create?fromSrc=-".to_string();
    if let Some(m) = &a.message {
        path.push_str(&format!("&message={}", q(m)));
    }
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", q(p)));
    }
    if let Some(r) = &a.reference {
        let (name, tag) = split_tag(r);
        path.push_str(&format!("&repo={}&tag={}", q(name), q(tag)));
    }
    for ch in &a.change {
        path.push_str(&format!("&changes={}", q(ch)));
    }
    let r = c
        .request("POST", &path, &[], Body::Stream(&mut src))?
        .ok()?;
    let events = streams::progress(r, true)?;
    if let Some(id) = events.iter().rev().find_map(|e| e["status"].as_str()) {
        println!("{id}");
    }
    Ok(0)
}

pub fn tag(c: &Client, source: &str, target: &str) -> Result<i32> {
    let (name, tag) = split_tag(target);
    c.request(
        "POST",
        &format!("/images/{}/tag?repo={}&tag={}", source, q(name), q(tag)),
        &[],
        Body::Empty,
    )?
    .ok()?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn rmi(c: &Client, a: &RmiArgs) -> Result<i32> {
    let mut code = 0;
    for img in &a.images {
        let r = c
            .request(
                "DELETE",
                &format!(
                    "/images/{}?force={}{}",
                    img,
                    u8::from(a.force),
                    if a.no_prune { "&noprune=1" } else { "" }
                ),
                &[],
                Body::Empty,
            )
            .and_then(|r| r.ok())
            .and_then(|r| r.json());
        match r {
            Ok(items) => {
                for it in items.as_array().into_iter().flatten() {
                    for (k, label) in [("Untagged", "Untagged"), ("Deleted", "Deleted")] {
                        if let Some(v) = it[k].as_str() {
                            println!("{label}: {v}");
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("{e:#}");
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_registries() {
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
        assert_eq!(split_tag("localhost:5000/x:v1"), ("localhost:5000/x", "v1"));
        assert_eq!(
            split_tag("localhost:5000/x"),
            ("localhost:5000/x", "latest")
        );
        assert_eq!(registry_of("localhost:5000/x"), "localhost:5000");
        assert_eq!(registry_of("127.0.0.1:5000/x:v1"), "127.0.0.1:5000");
        assert_eq!(
            registry_of("library/busybox"),
            "https://index.docker.io/v1/"
        );
        assert_eq!(decode_base64("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(full_reference("bb", false), "docker.io/library/bb:latest");
        assert_eq!(full_reference("me/bb:1", false), "docker.io/me/bb:1");
        assert_eq!(
            full_reference("localhost:5000/x", false),
            "localhost:5000/x:latest"
        );
        assert_eq!(full_reference("localhost:5000/x", true), "localhost:5000/x");
    }
}
