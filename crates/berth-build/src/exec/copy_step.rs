//! COPY and ADD: their sources resolved (the context, another stage or an image), ownership from
//! `--chown` looked up in the image's own passwd and group files, the content checksum that keys the
//! cache, and the layer committed.

use super::*;
use crate::tree::{DirTree, Tree};
use std::sync::Arc;

impl Builder<'_> {
    fn resolve_in_image(&mut self, image: Option<&str>, path: &str) -> Result<String, BuildError> {
        let Some(id) = image else {
            return Ok(path.to_string());
        };
        let mut parts: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while !parts.is_empty() {
            let p = parts.remove(0);
            let cand = format!("/{}", [done.clone(), vec![p.clone()]].concat().join("/"));
            match self.images.lstat(id, &cand)? {
                Some(m) if m.link.is_some() => {
                    hops += 1;
                    if hops > 40 {
                        return Err(BuildError::Copy(format!(
                            "too many levels of symbolic links resolving {path}"
                        )));
                    }
                    let t = m.link.unwrap_or_default();
                    if t.starts_with('/') {
                        done.clear();
                    }
                    let mut new: Vec<String> = t
                        .split('/')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect();
                    new.extend(parts);
                    parts = new;
                }
                _ => {
                    if p == ".." {
                        done.pop();
                    } else if p != "." {
                        done.push(p);
                    }
                }
            }
        }
        Ok(format!("/{}", done.join("/")))
    }

    fn chown(&mut self, spec: &str, st: &State) -> Result<(u32, u32), BuildError> {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let bad = || {
            BuildError::Invalid(format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {spec}"))
        };
        let read = |b: &mut Self, file: &str| -> Result<String, BuildError> {
            let Some(id) = st.image.clone() else {
                return Err(bad());
            };
            let root = DirTree(b.images.rootfs(&id)?);
            // The image's own file, its symlinks followed inside its root file system.
            let path = copy::in_root(&root, file, true)?;
            let mut s = String::new();
            if let Ok(mut f) = root.open(&path) {
                let _ = std::io::Read::read_to_string(&mut f, &mut s);
            }
            Ok(s)
        };
        let (uid, primary) = match u.parse::<u32>() {
            Ok(n) => (n, n),
            Err(_) => {
                let passwd = read(self, "etc/passwd")?;
                let line = passwd
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() > 3 && f[0] == u)
                    .ok_or_else(bad)?;
                (
                    line[2].parse().map_err(|_| bad())?,
                    line[3].parse().map_err(|_| bad())?,
                )
            }
        };
        let gid = match g {
            None => primary,
            Some(g) => match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    let group = read(self, "etc/group")?;
                    let line = group
                        .lines()
                        .map(|l| l.split(':').collect::<Vec<_>>())
                        .find(|f| f.len() > 2 && f[0] == g)
                        .ok_or_else(bad)?;
                    line[2].parse().map_err(|_| bad())?
                }
            },
        };
        Ok((uid, gid))
    }

    pub(super) fn copy_step(
        &mut self,
        ins: &Instruction,
        st: &mut State,
    ) -> Result<(), BuildError> {
        let add = ins.keyword == "ADD";
        comma_free_flags(
            ins,
            if add {
                &["chown", "chmod"]
            } else {
                &["from", "chown", "chmod"]
            },
        )?;
        let words = self.words(ins, st)?;
        if words.len() < 2 {
            return Err(BuildError::Invalid(format!(
                "{} requires at least two arguments",
                ins.keyword
            )));
        }
        let (srcs, raw_dest) = words.split_at(words.len() - 1);
        let raw_dest = &raw_dest[0];
        let dir_syntax = raw_dest.ends_with('/') || raw_dest == "." || raw_dest.ends_with("/.");
        let abs = if raw_dest.starts_with('/') {
            raw_dest.clone()
        } else {
            join_abs(&st.workdir(), raw_dest)
        };
        let abs = format!("/{}", crate::ignore::clean(&abs)).replace("/.", "/");
        let abs = if abs.len() > 1 {
            abs.trim_end_matches('/').to_string()
        } else {
            abs
        };
        let dest = self.resolve_in_image(st.image.as_deref(), &abs)?;
        let dest_is_dir = dir_syntax
            || match st.image.clone() {
                Some(id) => self.images.lstat(&id, &dest)?.is_some_and(|m| m.is_dir()),
                None => false,
            };
        let chown = ins.flag("chown").map(|c| self.chown(c, st)).transpose()?;
        let chmod = ins
            .flag("chmod")
            .map(|m| {
                u32::from_str_radix(m, 8)
                    .map_err(|_| BuildError::Invalid(format!("invalid chmod parameter: {m}")))
            })
            .transpose()?;
        // The source: the context, or another stage's or an image's files (by image ID).
        let from = match ins.flag("from") {
            None => None,
            Some(f) => {
                let lf = f.to_ascii_lowercase();
                let by_name = self
                    .stages
                    .iter()
                    .find(|(n, _)| n.as_deref() == Some(lf.as_str()));
                let id = match (by_name, lf.parse::<usize>()) {
                    (Some((_, id)), _) => id.clone(),
                    (None, Ok(i)) if i < self.stages.len() => self.stages[i].1.clone(),
                    (None, Ok(i)) => {
                        return Err(BuildError::Invalid(format!(
                            "invalid from flag value {i}: refers to current or future build stage"
                        )))
                    }
                    (None, Err(_)) => Some(self.images.get(f, self.opts.pull, self.out)?.id),
                };
                Some(id.ok_or_else(|| {
                    BuildError::Invalid(format!("stage {f} made no image to copy from"))
                })?)
            }
        };
        type Resolved = (copy::CopyPlan, Arc<dyn Tree>);
        let resolve = |b: &mut Self| -> Result<Resolved, BuildError> {
            let (root, ignore): (Arc<dyn Tree>, _) = match &from {
                None => (b.opts.context.0.clone(), Some(&b.opts.ignore)),
                Some(id) => (Arc::new(DirTree(b.images.rootfs(id)?)), None),
            };
            let plan = copy::resolve(&CopyRequest {
                root: &*root,
                ignore,
                sources: srcs.to_vec(),
                dest: dest.clone(),
                dest_is_dir,
                add,
                chown,
                chmod,
                keyword: &ins.keyword,
            })?;
            Ok((plan, root))
        };
        // An image's files are fixed by its ID, so the checksum of a COPY --from is remembered
        // under everything that goes into it: a cached step then needs no root file system.
        let memo = from.as_ref().map(|id| {
            format!(
                "{id}\0{srcs:?}\0{dest}\0{dest_is_dir}\0{add}\0{chown:?}\0{chmod:?}\0{}",
                ins.keyword
            )
        });
        let mut plan = None;
        let sum = match memo
            .as_ref()
            .and_then(|k| self.images.remembered_checksum(k))
        {
            Some(sum) => sum,
            None => {
                let p = resolve(self)?;
                // A context file's digest was taken as the context was unpacked.
                let sum = p.0.checksum(&*p.1)?;
                if let Some(k) = &memo {
                    self.images.remember_checksum(k, &sum);
                }
                plan = Some(p);
                sum
            }
        };
        let run = st.run();
        let mut key = run.clone();
        let mut cmd = st.shell();
        let shown = if dir_syntax && abs != "/" {
            format!("{abs}/")
        } else {
            abs.clone()
        };
        cmd.push(format!("#(nop) {} {sum} in {shown} ", ins.keyword));
        key.cmd = Some(cmd);
        if let Some(hit) = self.probe(st, &key, &run)? {
            self.use_cached(st, hit);
            return Ok(());
        }
        let (plan, root) = match plan {
            Some(p) => p,
            None => resolve(self)?,
        };
        let mut existing = BTreeMap::new();
        if let Some(id) = st.image.clone() {
            for p in &plan.parents {
                if let Some(m) = self.images.lstat(&id, p)? {
                    if m.is_dir() {
                        existing.insert(p.clone(), m);
                    }
                }
            }
        }
        let tmp = std::fs::create_dir_all(&self.opts.scratch)
            .and_then(|()| tempfile::NamedTempFile::new_in(&self.opts.scratch))
            .map_err(|e| BuildError::io("creating a layer file", e))?;
        {
            let w = std::io::BufWriter::new(tmp.as_file());
            let mut w = plan.write_layer(&*root, w, &existing)?;
            std::io::Write::flush(&mut w).map_err(|e| BuildError::io("writing a layer file", e))?;
        }
        self.commit(st, run, key, Layer::Tar(tmp.path().to_path_buf()), Some(()))
    }
}
