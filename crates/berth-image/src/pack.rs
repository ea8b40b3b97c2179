//! Writing directory trees as layer tars: a plain tree (rootfs export) or an overlayfs upper dir, whose
//! whiteout devices and opaque directories become `.wh.` entries (the diff for `commit`).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// What kind of tree is being packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackMode {
    /// Every file as it is.
    Plain,
    /// An overlayfs upper dir: 0/0 char devices become `.wh.<name>`, opaque dirs get `.wh..wh..opq`.
    OverlayDiff,
}

/// Write the tree under `root` as an uncompressed tar (entries sorted, no `./` prefix) into `w`.
pub fn pack_dir<W: Write>(root: &Path, w: W, mode: PackMode) -> io::Result<W> {
    let mut b = tar::Builder::new(w);
    let mut links = HashMap::new();
    walk(&mut b, root, "", mode, &mut links)?;
    b.into_inner()
}

fn xattrs_of(p: &Path) -> Vec<(String, Vec<u8>)> {
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

fn header_for(md: &fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(md.uid() as u64);
    h.set_gid(md.gid() as u64);
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_size(0);
    h
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &str,
    mode: PackMode,
    links: &mut HashMap<(u64, u64), String>,
) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort_by(|a, c| a.as_bytes().cmp(c.as_bytes()));
    for name in names {
        let p = dir.join(&name);
        let md = fs::symlink_metadata(&p)?;
        let rel = format!("{prefix}{}", name.to_string_lossy());
        let ft = md.file_type();
        if mode == PackMode::OverlayDiff && ft.is_char_device() && md.rdev() == 0 {
            let mut h = header_for(&md);
            h.set_entry_type(tar::EntryType::Regular);
            let wh = format!("{prefix}.wh.{}", name.to_string_lossy());
            b.append_data(&mut h, wh, io::empty())?;
            continue;
        }
        let xa = xattrs_of(&p);
        if !xa.is_empty() {
            b.append_pax_extensions(
                xa.iter()
                    .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|(k, v)| (k.as_str(), *v)),
            )?;
        }
        let mut h = header_for(&md);
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, format!("{rel}/"), io::empty())?;
            if mode == PackMode::OverlayDiff
                && lgetxattr(&p, "trusted.overlay.opaque")
                    .map(|v| v == b"y")
                    .unwrap_or(false)
            {
                let mut oh = header_for(&md);
                oh.set_entry_type(tar::EntryType::Regular);
                oh.set_mode(0o644);
                b.append_data(&mut oh, format!("{rel}/.wh..wh..opq"), io::empty())?;
            }
            walk(b, &p, &format!("{rel}/"), mode, links)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                let key = (md.dev(), md.ino());
                if let Some(first) = links.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    b.append_link(&mut h, &rel, first)?;
                    continue;
                }
                links.insert(key, rel.clone());
            }
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(&p)?;
            b.append_data(&mut h, &rel, f)?;
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(&p)?;
            b.append_link(&mut h, &rel, target)?;
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
            b.append_data(&mut h, &rel, io::empty())?;
        }
        // Sockets are not archived.
    }
    Ok(())
}
