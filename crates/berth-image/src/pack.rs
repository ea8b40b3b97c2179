//! Writing directory trees as tars: a plain tree as `docker export` and `docker cp` archive it, or
//! an overlayfs upper dir, whose whiteout devices and opaque directories become `.wh.` entries (the
//! diff for `commit`).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// What kind of tree is being packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackMode {
    /// Every file as it is, with only the `security.capability` xattr (as dockerd's archives).
    Plain,
    /// An overlayfs upper dir: 0/0 char devices become `.wh.<name>`, opaque dirs get `.wh..wh..opq`;
    /// every xattr but overlayfs' own is kept.
    OverlayDiff,
}

/// Names for the entries' owner fields (`uname`, `gname`): what the archived tree's own
/// /etc/passwd and /etc/group call its ids, as dockerd names them in a container's archives. An id
/// neither file names goes without a name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owners {
    /// uid to user name.
    pub users: HashMap<u32, String>,
    /// gid to group name.
    pub groups: HashMap<u32, String>,
}

impl Owners {
    /// From the text of a passwd and a group file (`name:x:id:...`); the first line for an id wins.
    pub fn parse(passwd: &str, group: &str) -> Owners {
        fn ids(text: &str) -> HashMap<u32, String> {
            let mut m = HashMap::new();
            for l in text.lines().filter(|l| !l.starts_with('#')) {
                let f: Vec<&str> = l.split(':').collect();
                if let (Some(name), Some(Ok(id))) = (f.first(), f.get(2).map(|i| i.parse())) {
                    if !name.is_empty() {
                        m.entry(id).or_insert_with(|| name.to_string());
                    }
                }
            }
            m
        }
        Owners {
            users: ids(passwd),
            groups: ids(group),
        }
    }
}

/// Write the tree under `root` as an uncompressed tar (entries sorted, no `./` prefix) into `w`.
pub fn pack_dir<W: Write>(root: &Path, w: W, mode: PackMode) -> io::Result<W> {
    pack_dir_owned(root, w, mode, &Owners::default())
}

/// [`pack_dir`], the owners named from `owners`.
pub fn pack_dir_owned<W: Write>(
    root: &Path,
    w: W,
    mode: PackMode,
    owners: &Owners,
) -> io::Result<W> {
    let mut b = tar::Builder::new(w);
    let mut p = Packer {
        mode,
        owners,
        links: HashMap::new(),
    };
    p.walk(&mut b, root, b"")?;
    b.into_inner()
}

/// Append `path` itself under `name` (a directory as `name/` with everything below it as
/// `name/...`), not following symlinks, in [`PackMode::Plain`]: what `docker cp` sends for a
/// container path. `name` is written as given (`./` included).
pub fn append_tree<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &[u8],
    owners: &Owners,
) -> io::Result<()> {
    let mut p = Packer {
        mode: PackMode::Plain,
        owners,
        links: HashMap::new(),
    };
    let md = fs::symlink_metadata(path)?;
    p.entry(b, path, &md, name.to_vec())
}

fn xattrs_of(p: &Path, mode: PackMode) -> Vec<(String, Vec<u8>)> {
    if mode == PackMode::Plain {
        return lgetxattr(p, "security.capability")
            .map(|v| vec![("security.capability".to_string(), v)])
            .unwrap_or_default();
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    let Ok(n) = rustix::fs::llistxattr(p, &mut buf[..]) else {
        return out;
    };
    let names = &buf[..n];
    for n in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::str::from_utf8(n) else {
            continue;
        };
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        if let Some(v) = lgetxattr(p, name) {
            out.push((name.to_string(), v));
        }
    }
    out
}

/// Read one xattr of a path without following a final symlink.
pub fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    let n = rustix::fs::lgetxattr(p, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Put `name` in the header's name (or, `link`, link name) field as it is; one too long for the
/// field goes first as a GNU long-name (`L`) or long-link (`K`) record. (The tar crate's own
/// setters would drop a leading `./`.)
fn raw_name<W: Write>(
    b: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &[u8],
    link: bool,
) -> io::Result<()> {
    let field = if link {
        &mut h.as_old_mut().linkname
    } else {
        &mut h.as_old_mut().name
    };
    field.fill(0);
    if name.len() <= field.len() {
        field[..name.len()].copy_from_slice(name);
        return Ok(());
    }
    let n = field.len();
    field.copy_from_slice(&name[..n]);
    let mut long = tar::Header::new_gnu();
    long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    long.set_mode(0o644);
    long.set_entry_type(if link {
        tar::EntryType::GNULongLink
    } else {
        tar::EntryType::GNULongName
    });
    let mut data = name.to_vec();
    data.push(0);
    long.set_size(data.len() as u64);
    long.set_cksum();
    b.append(&long, data.as_slice())
}

struct Packer<'a> {
    mode: PackMode,
    owners: &'a Owners,
    /// Regular files with more than one link, by (device, inode): the name first written.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl Packer<'_> {
    fn header_for(&self, md: &fs::Metadata) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        // dockerd's (Go's) archives carry the file type bits in the mode too (0o100644).
        let type_bits = match self.mode {
            PackMode::Plain => md.mode() & 0o170000,
            PackMode::OverlayDiff => 0,
        };
        h.set_mode(md.mode() & 0o7777 | type_bits);
        h.set_uid(md.uid() as u64);
        h.set_gid(md.gid() as u64);
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_size(0);
        // A name too long for the field goes without, as no name at all.
        if let Some(u) = self.owners.users.get(&md.uid()) {
            let _ = h.set_username(u);
        }
        if let Some(g) = self.owners.groups.get(&md.gid()) {
            let _ = h.set_groupname(g);
        }
        h
    }

    /// Append `h` under `name` (and, for a link, `target`) with `data`.
    fn append<W: Write>(
        &self,
        b: &mut tar::Builder<W>,
        mut h: tar::Header,
        name: &[u8],
        target: Option<&[u8]>,
        data: impl io::Read,
    ) -> io::Result<()> {
        if let Some(t) = target {
            raw_name(b, &mut h, t, true)?;
        }
        raw_name(b, &mut h, name, false)?;
        h.set_cksum();
        b.append(&h, data)
    }

    fn walk<W: Write>(
        &mut self,
        b: &mut tar::Builder<W>,
        dir: &Path,
        prefix: &[u8],
    ) -> io::Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort_by(|a, c| a.as_bytes().cmp(c.as_bytes()));
        for name in names {
            let p = dir.join(&name);
            let md = fs::symlink_metadata(&p)?;
            let ft = md.file_type();
            if self.mode == PackMode::OverlayDiff && ft.is_char_device() && md.rdev() == 0 {
                let mut h = self.header_for(&md);
                h.set_entry_type(tar::EntryType::Regular);
                let wh = [prefix, b".wh.", name.as_bytes()].concat();
                self.append(b, h, &wh, None, io::empty())?;
                continue;
            }
            self.entry(b, &p, &md, [prefix, name.as_bytes()].concat())?;
        }
        Ok(())
    }

    /// One path under `rel` (a directory with its contents).
    fn entry<W: Write>(
        &mut self,
        b: &mut tar::Builder<W>,
        p: &Path,
        md: &fs::Metadata,
        mut rel: Vec<u8>,
    ) -> io::Result<()> {
        let ft = md.file_type();
        if ft.is_socket() {
            return Ok(()); // sockets are not archived
        }
        let xa = xattrs_of(p, self.mode);
        if !xa.is_empty() {
            b.append_pax_extensions(
                xa.iter()
                    .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|(k, v)| (k.as_str(), *v)),
            )?;
        }
        let mut h = self.header_for(md);
        if ft.is_dir() {
            if !rel.is_empty() && !rel.ends_with(b"/") {
                rel.push(b'/');
            }
            h.set_entry_type(tar::EntryType::Directory);
            self.append(b, h, &rel, None, io::empty())?;
            if self.mode == PackMode::OverlayDiff
                && lgetxattr(p, "trusted.overlay.opaque")
                    .map(|v| v == b"y")
                    .unwrap_or(false)
            {
                let mut oh = self.header_for(md);
                oh.set_entry_type(tar::EntryType::Regular);
                oh.set_mode(0o644);
                let opq = [rel.as_slice(), b".wh..wh..opq"].concat();
                self.append(b, oh, &opq, None, io::empty())?;
            }
            self.walk(b, p, &rel)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                let key = (md.dev(), md.ino());
                if let Some(first) = self.links.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    return self.append(b, h, &rel, Some(first), io::empty());
                }
                self.links.insert(key, rel.clone());
            }
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(p)?;
            self.append(b, h, &rel, None, f)?;
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(p)?;
            self.append(b, h, &rel, Some(target.as_os_str().as_bytes()), io::empty())?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            h.set_entry_type(if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            });
            if !ft.is_fifo() {
                h.set_device_major(rustix::fs::major(md.rdev()))?;
                h.set_device_minor(rustix::fs::minor(md.rdev()))?;
            }
            self.append(b, h, &rel, None, io::empty())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_from_account_files() {
        let o = Owners::parse(
            "root:x:0:0:root:/root:/bin/sh\n# c\nfoo:x:42:7::/:/bin/sh\nbar:x:42:7::/:/bin/sh\n",
            "root:x:0:\ngrp:x:43:\n",
        );
        assert_eq!(o.users.get(&42).map(String::as_str), Some("foo"));
        assert_eq!(o.groups.get(&43).map(String::as_str), Some("grp"));
        assert_eq!(o.groups.get(&7), None);
    }

    /// A tree as `docker cp` archives it: directories end in `/` at every depth, a second link to
    /// a file is a hard link entry, owners carry the names the tree's accounts give them.
    #[test]
    fn trees_archive_as_dockerd_does() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("d");
        fs::create_dir_all(top.join("sub/deep")).unwrap();
        fs::write(top.join("f"), "hi\n").unwrap();
        fs::hard_link(top.join("f"), top.join("hl")).unwrap();
        std::os::unix::fs::symlink("f", top.join("sl")).unwrap();
        let me = fs::metadata(&top).unwrap().uid();
        let owners = Owners::parse(&format!("me:x:{me}:0::/:/\n"), "");
        let mut b = tar::Builder::new(Vec::new());
        append_tree(&mut b, &top, b"d", &owners).unwrap();
        let tar = b.into_inner().unwrap();
        let mut a = tar::Archive::new(tar.as_slice());
        let got: Vec<(String, String, String)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    String::from_utf8_lossy(&h.as_old().name)
                        .trim_end_matches('\0')
                        .to_string(),
                    h.link_name()
                        .unwrap()
                        .map(|l| l.display().to_string())
                        .unwrap_or_default(),
                    h.username().unwrap().unwrap_or("").to_string(),
                )
            })
            .collect();
        let names: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            names,
            ["d/", "d/f", "d/hl", "d/sl", "d/sub/", "d/sub/deep/"]
        );
        assert_eq!(got[2].1, "d/f", "second link: a hard link to the first");
        assert_eq!(got[3].1, "f");
        assert!(got.iter().all(|g| g.2 == "me"), "{got:?}");
    }
}
