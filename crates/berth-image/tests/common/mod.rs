//! Helpers shared by the integration tests: generated images, tool lookup, skipping.
#![allow(dead_code)]

pub mod registry;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether we run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Find a tool on PATH (or in the given absolute paths first).
pub fn tool(name: &str) -> Option<PathBuf> {
    if name.starts_with('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]) {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// Require tools, printing why the test is skipped when one is missing.
pub fn need(test: &str, tools: &[&str]) -> Option<Vec<PathBuf>> {
    let mut out = Vec::new();
    for t in tools {
        match tool(t) {
            Some(p) => out.push(p),
            None => {
                println!("skipped: {test}: tool {t} is not installed");
                return None;
            }
        }
    }
    Some(out)
}

/// Run a command, panicking with its output on failure.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Deterministic pseudo-random bytes.
pub fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Path of a static busybox on this machine.
pub fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// A small tar builder for generated layers.
pub struct LayerBuilder(pub tar::Builder<Vec<u8>>);

impl Default for LayerBuilder {
    fn default() -> Self {
        LayerBuilder(tar::Builder::new(Vec::new()))
    }
}

impl LayerBuilder {
    /// Add a directory.
    pub fn dir(mut self, path: &str) -> Self {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }
    /// Add a file.
    pub fn file(mut self, path: &str, data: &[u8], mode: u32) -> Self {
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }
    /// Add a symlink.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }
    /// Add an entry with raw (unchecked) name and link name bytes, for hostile archives.
    pub fn raw(mut self, kind: tar::EntryType, name: &[u8], link: &[u8], data: &[u8]) -> Self {
        let mut h = header(kind, 0o644, data.len() as u64);
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    /// Add a device node.
    pub fn device(mut self, path: &str, kind: tar::EntryType, major: u32, minor: u32) -> Self {
        let mut h = header(kind, 0o600, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }
    /// Finish.
    pub fn build(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A busybox rootfs tar (bin/busybox, bin/sh link, etc/hostname) plus `extra` random bytes in data/blob.
pub fn busybox_rootfs(extra: usize, seed: u64) -> Vec<u8> {
    let bb = std::fs::read(busybox().expect("busybox-static is installed")).unwrap();
    LayerBuilder::default()
        .dir("bin/")
        .file("bin/busybox", &bb, 0o755)
        .symlink("bin/sh", "busybox")
        .dir("etc/")
        .file("etc/hostname", b"berth\n", 0o644)
        .dir("data/")
        .file("data/blob", &random_bytes(seed, extra), 0o644)
        .build()
}

/// gzip bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// sha256 hex of bytes.
pub fn sha256_hex(b: &[u8]) -> String {
    berth_image::Digest::of(b).hex().to_string()
}

/// Build image `name` with a busybox base layer plus one layer of `size` random bytes per entry of `sizes`
/// (gzip layers, OCI manifest). Returns its record.
pub fn generated_image(
    store: &berth_image::Store,
    name: &str,
    seed: u64,
    sizes: &[usize],
) -> berth_image::ImageRecord {
    use berth_image::image::{import_rootfs, lookup, ref_key, resolve, store_layer, write_image};
    let base = format!("{name}-base");
    import_rootfs(
        store,
        &busybox_rootfs(1000, seed)[..],
        &base,
        &["CMD [\"sh\"]".into()],
    )
    .unwrap();
    let info = resolve(store, &lookup(store, &base).unwrap()).unwrap();
    let mut cfg = info.config.clone();
    let mut layers = info.layers.clone();
    for (i, size) in sizes.iter().enumerate() {
        let tar = LayerBuilder::default()
            .file(
                &format!("layer{i}.bin"),
                &random_bytes(seed * 1000 + i as u64, *size),
                0o644,
            )
            .build();
        let (d, sz, diff_id) =
            store_layer(store, &tar[..], berth_image::compression::Compression::Gzip).unwrap();
        cfg.rootfs.diff_ids.push(diff_id.to_string());
        layers.push(berth_image::media::descriptor(
            berth_image::media::OCI_LAYER_GZIP,
            &d,
            sz,
        ));
    }
    let rec = write_image(store, &cfg, layers, false).unwrap();
    store.set_ref(&ref_key(name).unwrap(), rec.clone()).unwrap();
    store.remove_ref(&ref_key(&base).unwrap()).unwrap();
    rec
}
