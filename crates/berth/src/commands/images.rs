//! Image verbs: images, pull, push, login, load, save, import, tag, rmi.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::client::{base64, q, Body, Client};
use crate::streams;

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images
    #[arg(short = 'a', long)]
    all: bool,
    /// Only show image ids
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Filter output (dangling=true, reference=x, label=k=v, ...)
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
}

pub fn list(c: &Client, a: &ImagesArgs) -> Result<i32> {
    let mut path = format!("/images/json?all={}", u8::from(a.all));
    if let Some(f) = super::filters_query(&a.filter)? {
        path.push_str(&format!("&filters={f}"));
    }
    let list = c.get(&path)?;
    let short = |id: &str| {
        id.trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>()
    };
    let mut rows = Vec::new();
    for img in list.as_array().into_iter().flatten() {
        let id = short(img["Id"].as_str().unwrap_or(""));
        if a.quiet {
            println!("{id}");
            continue;
        }
        let tags: Vec<String> = img["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        let tags = if tags.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            tags
        };
        for t in tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t.as_str(), "<none>"));
            rows.push(vec![
                repo.to_string(),
                tag.to_string(),
                id.clone(),
                streams::ago(img["Created"].as_i64().unwrap_or(0)),
                streams::human(img["Size"].as_u64().unwrap_or(0)),
            ]);
        }
    }
    if !a.quiet {
        streams::table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows);
    }
    Ok(0)
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

pub fn pull(c: &Client, image: &str) -> Result<i32> {
    let tty = nix::unistd::isatty(1).unwrap_or(false);
    pull_to(c, image, Some((&mut std::io::stdout().lock(), tty)))?;
    Ok(0)
}

/// Pull `image`, showing its progress on the given output (with bars when it is a terminal), or
/// nowhere with `None`.
pub(super) fn pull_to(c: &Client, image: &str, out: Option<(&mut dyn Write, bool)>) -> Result<()> {
    let (name, tag) = split_tag(image);
    let auth = registry_auth(image);
    let mut path = format!("/images/create?fromImage={}", q(name));
    if !tag.is_empty() {
        path.push_str(&format!("&tag={}", q(tag)));
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

pub fn push(c: &Client, image: &str) -> Result<i32> {
    let (name, tag) = split_tag(image);
    let auth = registry_auth(image);
    let path = format!("/images/{}/push?tag={}", name, q(tag));
    let r = c
        .request("POST", &path, &[("X-Registry-Auth", &auth)], Body::Empty)?
        .ok()?;
    streams::progress(r, false)?;
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
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn rmi(c: &Client, a: &RmiArgs) -> Result<i32> {
    let mut code = 0;
    for img in &a.images {
        let r = c
            .request(
                "DELETE",
                &format!("/images/{}?force={}", img, u8::from(a.force)),
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
    }
}
