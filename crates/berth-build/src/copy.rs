//! COPY and ADD: sources resolved inside their root (the context, or a stage's or image's file
//! system), wildcards, directories copied by their contents, ADD's local tar auto-extraction (plain,
//! gzip, bzip2, xz or zstd), URLs refused; the content checksum the cache keys on; and the layer tar, written
//! directly (owners root unless `--chown`, modes kept unless `--chmod`, new parent directories made
//! with the `--chown` owner, existing ones keeping the image's metadata).

use crate::boundary::FileMeta;
use crate::ignore::Ignore;
use crate::tree::{shown, Meta, Tree};
use crate::BuildError;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};

/// One thing to put in the layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A regular file, a directory or a symlink from the source root, at `dest`.
    Path {
        /// The source, relative to its tree's root.
        src: String,
        /// Absolute path in the image.
        dest: String,
    },
    /// A tar archive (ADD) whose contents go under `dest`.
    Archive {
        /// The archive, relative to its tree's root.
        src: String,
        /// Absolute directory in the image.
        dest: String,
    },
}

/// A resolved COPY/ADD.
#[derive(Clone, Debug)]
pub struct CopyPlan {
    /// What goes where, in order.
    pub entries: Vec<Entry>,
    /// `file`, `dir` or `multi` (the classic builder's checksum prefix).
    pub kind: &'static str,
    /// `--chown` (uid, gid).
    pub chown: Option<(u32, u32)>,
    /// `--chmod` bits.
    pub chmod: Option<u32>,
    /// Directories that must exist above the entries (absolute, shortest first).
    pub parents: Vec<String>,
}

/// What COPY/ADD asks.
#[derive(Clone)]
pub struct CopyRequest<'a> {
    /// The source tree.
    pub root: &'a dyn Tree,
    /// `.dockerignore` (context sources only).
    pub ignore: Option<&'a Ignore>,
    /// Sources as written (substituted).
    pub sources: Vec<String>,
    /// Absolute destination, cleaned, symlinks of the image resolved.
    pub dest: String,
    /// Whether the destination is a directory (written with a trailing `/`, or one in the image).
    pub dest_is_dir: bool,
    /// ADD (archives extracted, URLs refused).
    pub add: bool,
    /// `--chown`.
    pub chown: Option<(u32, u32)>,
    /// `--chmod`.
    pub chmod: Option<u32>,
    /// `COPY` or `ADD`, for messages.
    pub keyword: &'a str,
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Clean a relative source path; refuse one that climbs out of the root.
pub fn clean_source(src: &str) -> Result<String, BuildError> {
    let mut out: Vec<&str> = Vec::new();
    for part in src.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() && !src.starts_with('/') {
                    return Err(BuildError::Copy(format!(
                        "forbidden path outside the build context: {src} ()"
                    )));
                }
            }
            x => out.push(x),
        }
    }
    Ok(out.join("/"))
}

/// `rel` with the symlinks on the way followed inside `root` (a path relative to it), as Docker
/// resolves COPY sources in scope: an absolute target restarts at the root and `..` stops there, so
/// a context's (or an image's) symlink never leads to the host's files. The last component is
/// followed only with `follow_last` (a directory to list; a source itself is copied as what it is).
pub fn in_root(root: &dyn Tree, rel: &str, follow_last: bool) -> Result<String, BuildError> {
    let mut parts: std::collections::VecDeque<String> = rel
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(String::from)
        .collect();
    let last = if follow_last { None } else { parts.pop_back() };
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(p) = parts.pop_front() {
        if p == "." {
            continue;
        }
        if p == ".." {
            done.pop();
            continue;
        }
        let mut cand = done.join("/");
        if !cand.is_empty() {
            cand.push('/');
        }
        cand.push_str(&p);
        match root.lstat(&cand) {
            Ok(m) if m.is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(BuildError::Copy(format!(
                        "too many levels of symbolic links resolving {rel}"
                    )));
                }
                let t = root
                    .read_link(&cand)
                    .map_err(|e| BuildError::io(format!("reading the link {rel}"), e))?;
                if t.starts_with('/') {
                    done.clear();
                }
                for x in t.split('/').rev().filter(|x| !x.is_empty()) {
                    parts.push_front(x.to_string());
                }
            }
            _ => done.push(p),
        }
    }
    if let Some(l) = last {
        done.push(l);
    }
    Ok(done.join("/"))
}

/// Join an absolute image path and a relative one (`/a` + `b/c` = `/a/b/c`).
pub fn join_abs(base: &str, rel: &str) -> String {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return base.to_string();
    }
    if base == "/" || base.is_empty() {
        format!("/{rel}")
    } else {
        format!("{}/{rel}", base.trim_end_matches('/'))
    }
}

/// Expand one source pattern to relative paths under `root` (element by element, as Go's Glob).
fn expand(
    root: &dyn Tree,
    pattern: &str,
    ignore: Option<&Ignore>,
) -> Result<Vec<String>, BuildError> {
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let mut found = vec![String::new()];
    for part in parts {
        let mut next = Vec::new();
        for base in &found {
            let dir = in_root(root, base, true)?;
            if !has_meta(part) {
                let p = if base.is_empty() {
                    part.to_string()
                } else {
                    format!("{base}/{part}")
                };
                if root.lstat(&in_root(root, &p, false)?).is_ok() {
                    next.push(p);
                }
                continue;
            }
            let Ok(rd) = root.read_dir(&dir) else {
                continue;
            };
            let pat: Vec<char> = part.chars().collect();
            let mut names: Vec<String> = rd
                .into_iter()
                .filter(|n| crate::ignore::glob(&pat, &n.chars().collect::<Vec<_>>()))
                .collect();
            names.sort();
            for n in names {
                next.push(if base.is_empty() {
                    n
                } else {
                    format!("{base}/{n}")
                });
            }
        }
        found = next;
    }
    Ok(found
        .into_iter()
        .filter(|p| !p.is_empty())
        .filter(|p| !ignore.is_some_and(|i| i.ignored(p)))
        .collect())
}

fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://")
        || l.starts_with("https://")
        || l.starts_with("git@")
        || l.starts_with("git://")
}

/// Whether a file is a tar archive ADD unpacks (plain, gzip, bzip2, xz or zstd compressed).
pub fn is_archive(root: &dyn Tree, p: &str) -> bool {
    let Ok(f) = root.open(p) else {
        return false;
    };
    let Ok(mut r) = berth_image::compression::decompress_archive(f, u64::MAX) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n == 512 && &head[257..262] == b"ustar"
}

/// Resolve what to copy.
pub fn resolve(req: &CopyRequest) -> Result<CopyPlan, BuildError> {
    let mut items: Vec<(String, bool)> = Vec::new(); // (relative path, from a wildcard)
    for s in &req.sources {
        if is_url(s) {
            if req.add {
                return Err(BuildError::Copy(format!(
                    "ADD of a URL ({s}) is not supported: Berth's builder does not download remote files; download it into the build context and ADD or COPY it from there"
                )));
            }
            return Err(BuildError::Copy(format!(
                "source can't be a URL for COPY: {s}"
            )));
        }
        let rel = clean_source(s)?;
        if has_meta(&rel) {
            for m in expand(req.root, &rel, req.ignore)? {
                items.push((m, true));
            }
            continue;
        }
        let excluded = req
            .ignore
            .is_some_and(|i| !rel.is_empty() && i.ignored(&rel));
        if excluded || req.root.lstat(&in_root(req.root, &rel, false)?).is_err() {
            return Err(BuildError::Copy(format!(
                "{} failed: file not found in build context or excluded by .dockerignore: stat {rel}: file does not exist",
                req.keyword
            )));
        }
        items.push((rel, false));
    }
    if items.is_empty() {
        return Err(BuildError::Copy(format!(
            "{} failed: no source files were specified",
            req.keyword
        )));
    }
    let multi = items.len() > 1;
    if multi && !req.dest_is_dir {
        return Err(BuildError::Copy(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            req.keyword
        )));
    }
    let mut entries = Vec::new();
    let mut kind = "file";
    for (rel, _) in &items {
        let src = in_root(req.root, rel, false)?;
        let md = req
            .root
            .lstat(&src)
            .map_err(|e| BuildError::io(format!("stat {rel}"), e))?;
        if md.is_dir() {
            kind = "dir";
            walk(req.root, rel, &req.dest, req.ignore, &mut entries)?;
        } else {
            let base = rel.rsplit('/').next().unwrap_or(rel);
            if req.add && md.is_file() && is_archive(req.root, &src) {
                entries.push(Entry::Archive {
                    src,
                    dest: req.dest.clone(),
                });
                continue;
            }
            let dest = if req.dest_is_dir {
                join_abs(&req.dest, base)
            } else {
                req.dest.clone()
            };
            entries.push(Entry::Path { src, dest });
        }
    }
    if multi {
        kind = "multi";
    }
    // Directories above every entry; a directory destination is one of them.
    let mut parents = std::collections::BTreeSet::new();
    let mut add_parents = |p: &str, include_self: bool| {
        let mut cur = String::new();
        let parts: Vec<&str> = p.split('/').filter(|x| !x.is_empty()).collect();
        let n = if include_self {
            parts.len()
        } else {
            parts.len().saturating_sub(1)
        };
        for part in &parts[..n] {
            cur = format!("{cur}/{part}");
            parents.insert(cur.clone());
        }
    };
    if req.dest_is_dir || kind == "dir" {
        add_parents(&req.dest, true);
    }
    for e in &entries {
        match e {
            Entry::Path { dest, .. } => add_parents(dest, false),
            Entry::Archive { dest, .. } => add_parents(dest, true),
        }
    }
    let own: std::collections::BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Path { dest, .. } => Some(dest.as_str()),
            _ => None,
        })
        .collect();
    let mut parents: Vec<String> = parents
        .into_iter()
        .filter(|p| !own.contains(p.as_str()))
        .collect();
    parents.sort_by_key(|p| (p.matches('/').count(), p.clone()));
    Ok(CopyPlan {
        entries,
        kind,
        chown: req.chown,
        chmod: req.chmod,
        parents,
    })
}

/// A directory's contents (not itself), sorted, ignored paths skipped.
fn walk(
    root: &dyn Tree,
    rel: &str,
    dest: &str,
    ignore: Option<&Ignore>,
    out: &mut Vec<Entry>,
) -> Result<(), BuildError> {
    let dir = in_root(root, rel, true)?;
    let mut names: Vec<String> = root
        .read_dir(&dir)
        .map_err(|e| BuildError::io(format!("reading {rel}"), e))?;
    names.sort();
    for n in names {
        let r = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let ignored = ignore.is_some_and(|i| i.ignored(&r));
        let src = if dir.is_empty() {
            n.clone()
        } else {
            format!("{dir}/{n}")
        };
        let md = root
            .lstat(&src)
            .map_err(|e| BuildError::io(format!("stat {r}"), e))?;
        let d = join_abs(dest, &n);
        if md.is_dir() {
            if ignored && !ignore.is_some_and(Ignore::has_exceptions) {
                continue;
            }
            if !ignored {
                out.push(Entry::Path {
                    src: src.clone(),
                    dest: d.clone(),
                });
            }
            walk(root, &r, &d, ignore, out)?;
        } else if !ignored {
            out.push(Entry::Path { src, dest: d });
        }
    }
    Ok(())
}

/// A regular file's content digest: the one the tree knows, or read.
fn hash_file(root: &dyn Tree, p: &str) -> Result<String, BuildError> {
    if let Some(d) = root.digest(p) {
        return Ok(d);
    }
    let read = || -> io::Result<String> {
        let mut f = root.open(p)?;
        crate::tree::content_digest(&mut f)
    };
    read().map_err(|e| BuildError::io(format!("reading {}", shown(p).display()), e))
}

impl CopyPlan {
    /// The checksum the cache keys on: `file:<sha256>`, `dir:<sha256>` or `multi:<sha256>` over the
    /// destinations, types, modes, owners and contents (a file's digest taken from the tree when
    /// it knows it, as a context's are, taken while it was unpacked).
    pub fn checksum(&self, root: &dyn Tree) -> Result<String, BuildError> {
        let mut h = Sha256::new();
        h.update(format!("{:?} {:?}\n", self.chown, self.chmod));
        for e in &self.entries {
            match e {
                Entry::Path { src, dest } => {
                    let md = root
                        .lstat(src)
                        .map_err(|e| BuildError::io(format!("stat {}", shown(src).display()), e))?;
                    let content = if md.is_file() {
                        hash_file(root, src)?
                    } else if md.is_symlink() {
                        root.read_link(src).unwrap_or_default()
                    } else {
                        String::new()
                    };
                    h.update(format!("{dest}\0{:o}\0{}\n", md.mode, content));
                }
                Entry::Archive { src, dest } => {
                    let c = hash_file(root, src)?;
                    h.update(format!("archive {dest}\0{c}\n"));
                }
            }
        }
        Ok(format!("{}:{}", self.kind, hex::encode(h.finalize())))
    }

    /// Write the layer as an uncompressed tar. `existing` gives the image's metadata of the parent
    /// directories that exist (others are made 0755, owned by `--chown`'s owner or root).
    pub fn write_layer<W: Write>(
        &self,
        root: &dyn Tree,
        w: W,
        existing: &BTreeMap<String, FileMeta>,
    ) -> Result<W, BuildError> {
        let ioe = |e: io::Error| BuildError::io("writing the COPY layer", e);
        let mut b = tar::Builder::new(w);
        let (uid, gid) = self.chown.unwrap_or((0, 0));
        for p in &self.parents {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            match existing.get(p) {
                Some(m) => {
                    h.set_mode(m.mode & 0o7777);
                    h.set_uid(m.uid as u64);
                    h.set_gid(m.gid as u64);
                }
                None => {
                    h.set_mode(0o755);
                    h.set_uid(uid as u64);
                    h.set_gid(gid as u64);
                }
            }
            h.set_size(0);
            h.set_mtime(0);
            b.append_data(&mut h, p.trim_start_matches('/'), io::empty())
                .map_err(ioe)?;
        }
        for e in &self.entries {
            match e {
                Entry::Path { src, dest } => {
                    self.append_path(root, &mut b, src, dest).map_err(ioe)?
                }
                Entry::Archive { src, dest } => {
                    self.append_archive(root, &mut b, src, dest).map_err(ioe)?
                }
            }
        }
        b.into_inner().map_err(ioe)
    }

    fn header(&self, md: &Meta) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        let (uid, gid) = self.chown.unwrap_or((0, 0));
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        let mode = self.chmod.unwrap_or(md.mode & 0o7777);
        h.set_mode(mode);
        h.set_mtime(md.mtime.max(0) as u64);
        h
    }

    fn append_path<W: Write>(
        &self,
        root: &dyn Tree,
        b: &mut tar::Builder<W>,
        src: &str,
        dest: &str,
    ) -> io::Result<()> {
        let md = root.lstat(src)?;
        let mut h = self.header(&md);
        let name = dest.trim_start_matches('/');
        if md.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, name, io::empty())
        } else if md.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            b.append_link(&mut h, name, root.read_link(src)?)
        } else if md.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.size);
            b.append_data(&mut h, name, root.open(src)?)
        } else {
            // Devices, fifos and sockets of a context are not copied (as Docker's archiver skips sockets).
            Ok(())
        }
    }

    fn append_archive<W: Write>(
        &self,
        root: &dyn Tree,
        b: &mut tar::Builder<W>,
        src: &str,
        dest: &str,
    ) -> io::Result<()> {
        let r = berth_image::compression::decompress_archive(
            root.open(src)?,
            berth_image::compression::DEFAULT_MAX_UNCOMPRESSED,
        )?;
        let mut a = tar::Archive::new(r);
        for e in a.entries()? {
            let mut e = e?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let Ok(rel) = clean_source(raw.trim_start_matches('/')) else {
                continue; // climbs out: skipped, never written outside the destination
            };
            if rel.is_empty() {
                continue;
            }
            let name = join_abs(dest, &rel);
            let mut h = e.header().clone();
            if let Some((u, g)) = self.chown {
                h.set_uid(u as u64);
                h.set_gid(g as u64);
            }
            if let Some(m) = self.chmod {
                h.set_mode(m);
            }
            let name = name.trim_start_matches('/').to_string();
            match h.entry_type() {
                tar::EntryType::Link => {
                    let target = e
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let Ok(t) = clean_source(target.trim_start_matches('/')) else {
                        continue;
                    };
                    let t = join_abs(dest, &t);
                    b.append_link(&mut h, &name, t.trim_start_matches('/'))?;
                }
                tar::EntryType::Symlink => {
                    let target = e
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    b.append_link(&mut h, &name, target)?;
                }
                tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink => {}
                _ => {
                    b.append_data(&mut h, &name, &mut e)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::DirTree;
    use std::fs;

    fn ctx() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        fs::create_dir_all(p.join("src/sub")).unwrap();
        fs::write(p.join("src/a.txt"), "a").unwrap();
        fs::write(p.join("src/sub/b.txt"), "b").unwrap();
        fs::write(p.join("src/skip.log"), "x").unwrap();
        fs::write(p.join("one.txt"), "1").unwrap();
        fs::write(p.join("two.txt"), "2").unwrap();
        t
    }

    fn req<'a>(
        root: &'a dyn Tree,
        ig: Option<&'a Ignore>,
        srcs: &[&str],
        dest: &str,
        dir: bool,
    ) -> CopyRequest<'a> {
        CopyRequest {
            root,
            ignore: ig,
            sources: srcs.iter().map(|s| s.to_string()).collect(),
            dest: dest.into(),
            dest_is_dir: dir,
            add: false,
            chown: None,
            chmod: None,
            keyword: "COPY",
        }
    }

    fn names(layer: &[u8]) -> Vec<(String, u64, u32)> {
        let mut a = tar::Archive::new(layer);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().uid().unwrap(),
                    e.header().mode().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn directory_contents_wildcards_and_ignore() {
        let t = ctx();
        let root = DirTree(t.path().to_path_buf());
        let ig = Ignore::parse("*/*.log\n");
        let p = resolve(&req(&root, Some(&ig), &["src"], "/app", false)).unwrap();
        assert_eq!(p.kind, "dir");
        let layer = p.write_layer(&root, Vec::new(), &BTreeMap::new()).unwrap();
        let n: Vec<String> = names(&layer).into_iter().map(|x| x.0).collect();
        assert_eq!(n, ["app", "app/a.txt", "app/sub", "app/sub/b.txt"]);
        let p = resolve(&req(&root, None, &["*.txt"], "/d/", true)).unwrap();
        assert_eq!(p.kind, "multi");
        let e = resolve(&req(&root, None, &["*.txt"], "/d", false)).unwrap_err();
        assert!(
            e.to_string()
                .contains("must be a directory and end with a /"),
            "{e}"
        );
        let e = resolve(&req(&root, Some(&ig), &["src/skip.log"], "/x", false)).unwrap_err();
        assert!(e.to_string().contains("excluded by .dockerignore"), "{e}");
        let e = resolve(&req(&root, None, &["../etc/passwd"], "/x", false)).unwrap_err();
        assert!(e.to_string().contains("outside the build context"), "{e}");
        let e = resolve(&req(&root, None, &["nomatch*"], "/x/", true)).unwrap_err();
        assert!(e.to_string().contains("no source files"), "{e}");
    }

    #[test]
    fn owners_modes_parents_and_checksum() {
        let t = ctx();
        let root = DirTree(t.path().to_path_buf());
        let mut r = req(&root, None, &["one.txt"], "/usr/local/bin/", true);
        r.chown = Some((7, 8));
        r.chmod = Some(0o700);
        let p = resolve(&r).unwrap();
        let existing: BTreeMap<String, FileMeta> = [(
            "/usr".to_string(),
            FileMeta {
                mode: 0o040755,
                uid: 0,
                gid: 0,
                link: None,
            },
        )]
        .into();
        let layer = p.write_layer(&root, Vec::new(), &existing).unwrap();
        assert_eq!(
            names(&layer),
            [
                ("usr".to_string(), 0, 0o755),
                ("usr/local".to_string(), 7, 0o755),
                ("usr/local/bin".to_string(), 7, 0o755),
                ("usr/local/bin/one.txt".to_string(), 7, 0o700),
            ]
        );
        let c1 = p.checksum(&root).unwrap();
        assert!(c1.starts_with("file:"));
        fs::write(t.path().join("one.txt"), "changed").unwrap();
        assert_ne!(resolve(&r).unwrap().checksum(&root).unwrap(), c1);
    }

    #[test]
    fn symlinks_in_a_source_path_stay_inside_the_root() {
        let t = ctx();
        let root = DirTree(t.path().to_path_buf());
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "host").unwrap();
        fs::create_dir_all(outside.path().join("d")).unwrap();
        fs::write(outside.path().join("d/f"), "host").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("out")).unwrap();
        std::os::unix::fs::symlink("../../src", t.path().join("up")).unwrap();
        // Through a link that points out of the context: resolved inside it, so not found.
        for src in ["out/secret", "out/d", "out/*"] {
            let e = resolve(&req(&root, None, &[src], "/x/", true)).unwrap_err();
            assert!(
                e.to_string().contains("no source files") || e.to_string().contains("not found"),
                "{src}: {e}"
            );
        }
        // A relative link climbing above the root stops at it: up/a.txt is src/a.txt.
        let p = resolve(&req(&root, None, &["up/a.txt"], "/x", false)).unwrap();
        assert_eq!(
            p.entries,
            [Entry::Path {
                src: "src/a.txt".into(),
                dest: "/x".into()
            }]
        );
        let p = resolve(&req(&root, None, &["up/sub"], "/x", false)).unwrap();
        let layer = p.write_layer(&root, Vec::new(), &BTreeMap::new()).unwrap();
        let n: Vec<String> = names(&layer).into_iter().map(|x| x.0).collect();
        assert_eq!(n, ["x", "x/b.txt"]);
    }

    #[test]
    fn add_extracts_local_archives_and_refuses_urls() {
        let t = ctx();
        let root = DirTree(t.path().to_path_buf());
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o640);
        h.set_uid(5);
        b.append_data(&mut h, "x/y.txt", &b"hi"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        b.append_data(&mut h, "../../evil", &b"e"[..]).unwrap_or(());
        fs::write(t.path().join("a.tar"), b.into_inner().unwrap()).unwrap();
        let mut r = req(&root, None, &["a.tar"], "/opt", false);
        r.add = true;
        let p = resolve(&r).unwrap();
        let layer = p.write_layer(&root, Vec::new(), &BTreeMap::new()).unwrap();
        let n = names(&layer);
        assert!(n.contains(&("opt/x/y.txt".to_string(), 5, 0o640)), "{n:?}");
        assert!(n.iter().all(|(p, _, _)| p.starts_with("opt")), "{n:?}");
        r.sources = vec!["https://example.com/x.tgz".into()];
        let e = resolve(&r).unwrap_err();
        assert!(e.to_string().contains("does not download"), "{e}");
    }
}
