//! A managed plugin's content: the rootfs layer (gzip tar) and config blob in berthd's plugin
//! content store (`<data-root>/plugins/store`, apart from images so image GC never touches them),
//! made from `docker plugin create`'s tar, pushed and pulled as a Docker v2 manifest whose config
//! is `application/vnd.docker.plugin.v1+json` (what dockerd and Docker Hub serve). Synchronous:
//! handlers call these on blocking threads.

use berth_image::compression::{Compression, Compressor};
use berth_image::digest::HashingWriter;
use berth_image::registry::{Client, Progress};
use berth_image::{Digest, ImageRecord, Reference, Store};
use berth_plugin::managed::config::{Config, RootFs, MEDIA_TYPE_CONFIG};
use std::io::Read;
use std::path::Path;

/// Docker's v2 manifest media type (what registries accept for plugins).
const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The rootfs layer's media type.
const LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A plugin's content in the store.
#[derive(Debug, Clone)]
pub struct Content {
    /// The parsed configuration.
    pub config: Config,
    /// The config blob.
    pub config_digest: Digest,
    /// The layer blob.
    pub layer_digest: Digest,
}

/// What went wrong making, sending or getting plugin content.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The user's archive or the registry's content is not a plugin.
    #[error("{0}")]
    Invalid(String),
    /// No such plugin in the registry.
    #[error("{0}")]
    NotFound(String),
    /// Anything else (I/O, the registry's transport).
    #[error("{0}")]
    Failed(String),
}

fn failed(what: &str) -> impl Fn(std::io::Error) -> DistError + '_ {
    move |e| DistError::Failed(format!("{what}: {e}"))
}

/// `docker plugin create`'s archive (plain or compressed tar of `config.json` and `rootfs/`): the
/// rootfs becomes a gzip layer, the configuration (with that layer's diff id) the config blob.
pub fn from_context(store: &Store, archive: &Path) -> Result<Content, DistError> {
    let f = std::fs::File::open(archive).map_err(failed("open the context"))?;
    let plain = berth_image::compression::decompress_bounded(f, store.max_uncompressed())
        .map_err(failed("read the context"))?;
    let tmp = store.temp_path("plugin-layer");
    let out = std::fs::File::create(&tmp).map_err(failed("create the layer"))?;
    let res = (|| {
        let compressed = HashingWriter::new(out);
        let gz = Compressor::new(compressed, Compression::Gzip).map_err(failed("gzip"))?;
        let mut builder = tar::Builder::new(HashingWriter::new(gz));
        builder.follow_symlinks(false);
        let mut config_json: Option<Vec<u8>> = None;
        let mut ar = tar::Archive::new(plain);
        for entry in ar.entries().map_err(failed("read the context"))? {
            let mut e = entry.map_err(failed("read the context"))?;
            let path = e.path_bytes().to_vec();
            let name = String::from_utf8_lossy(&path).to_string();
            let name = name.trim_start_matches("./").trim_start_matches('/');
            if name == "config.json" {
                let mut b = Vec::new();
                e.by_ref()
                    .take(1 << 20)
                    .read_to_end(&mut b)
                    .map_err(failed("read config.json"))?;
                config_json = Some(b);
                continue;
            }
            let Some(rest) = name.strip_prefix("rootfs/") else {
                continue;
            };
            if rest.is_empty() {
                continue;
            }
            let mut h = e.header().clone();
            let link: Option<String> = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned());
            match (h.entry_type(), link) {
                (tar::EntryType::Symlink, Some(target)) => builder
                    .append_link(&mut h, rest, target)
                    .map_err(failed("write the layer"))?,
                (tar::EntryType::Link, Some(target)) => {
                    // Hard links name rootfs/ paths: strip the prefix there too.
                    let t = target.trim_start_matches("./").trim_start_matches('/');
                    let t = t.strip_prefix("rootfs/").unwrap_or(t).to_string();
                    builder
                        .append_link(&mut h, rest, t)
                        .map_err(failed("write the layer"))?
                }
                _ => builder
                    .append_data(&mut h, rest, &mut e)
                    .map_err(failed("write the layer"))?,
            }
        }
        let config_json = config_json.ok_or_else(|| {
            DistError::Invalid("config not found: the context has no config.json".into())
        })?;
        let mut config =
            Config::parse(&config_json).map_err(|e| DistError::Invalid(e.to_string()))?;
        let hashed = builder.into_inner().map_err(failed("write the layer"))?;
        let (gz, diff_id, _) = hashed.finish();
        let compressed = gz.finish().map_err(failed("gzip"))?;
        let (file, layer_digest, size) = compressed.finish();
        file.sync_all().map_err(failed("write the layer"))?;
        drop(file);
        store
            .commit_hashed(&tmp, &layer_digest, size, &layer_digest)
            .map_err(|e| DistError::Failed(e.to_string()))?;
        config.rootfs = Some(RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id.to_string()],
        });
        let blob = serde_json::to_vec(&config).unwrap_or_default();
        let config_digest = store
            .write_blob(&blob)
            .map_err(|e| DistError::Failed(e.to_string()))?;
        Ok(Content {
            config,
            config_digest,
            layer_digest,
        })
    })();
    let _ = std::fs::remove_file(&tmp);
    res
}

/// Unpack the layer into a plugin's root filesystem (no entry escapes it).
pub fn unpack(store: &Store, layer: &Digest, rootfs: &Path) -> Result<(), String> {
    let f = store.open_blob(layer).map_err(|e| e.to_string())?;
    let bounded = berth_image::compression::Bounded::new(f, u64::MAX);
    berth_image::extract::extract_layer(bounded, rootfs, &Default::default(), None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The manifest of a plugin's content, stored as a blob; returns its record.
fn manifest(store: &Store, c: &Content) -> Result<ImageRecord, DistError> {
    let size = |d: &Digest| {
        store
            .blob_size(d)
            .ok_or_else(|| DistError::Failed(format!("blob {d} is missing from the plugin store")))
    };
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": MEDIA_TYPE_CONFIG, "size": size(&c.config_digest)?,
                   "digest": c.config_digest.to_string()},
        "layers": [{"mediaType": LAYER, "size": size(&c.layer_digest)?,
                    "digest": c.layer_digest.to_string()}],
    });
    let bytes = serde_json::to_vec(&m).unwrap_or_default();
    let digest = store
        .write_blob(&bytes)
        .map_err(|e| DistError::Failed(e.to_string()))?;
    Ok(ImageRecord {
        digest,
        media_type: MANIFEST.into(),
        size: bytes.len() as u64,
    })
}

/// Push a plugin's content to `target`; returns the manifest's digest and size.
pub fn push(
    client: &Client,
    store: &Store,
    c: &Content,
    target: &Reference,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<(Digest, u64), DistError> {
    let rec = manifest(store, c)?;
    let d = client
        .push(store, &rec, target, None, progress)
        .map_err(|e| DistError::Failed(e.to_string()))?;
    Ok((d, rec.size))
}

/// Fetch the manifest and config of plugin `r` (the config blob lands in the store).
pub fn fetch_config(
    client: &Client,
    store: &Store,
    r: &Reference,
) -> Result<(Content, u64), DistError> {
    let reference = r.reference_part();
    let reference = reference.trim_start_matches([':', '@']);
    let (bytes, mt, _) = client.fetch_manifest(r, reference).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("404") || msg.contains("MANIFEST_UNKNOWN") || msg.contains("NAME_UNKNOWN") {
            DistError::NotFound(format!(
                "plugin {} not found in the registry: {msg}",
                r.familiar()
            ))
        } else {
            DistError::Failed(msg)
        }
    })?;
    if !berth_image::media::is_manifest(&mt) {
        return Err(DistError::Invalid(format!(
            "{} is not a plugin (manifest type {mt})",
            r.familiar()
        )));
    }
    let m: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| DistError::Invalid(e.to_string()))?;
    if m["config"]["mediaType"] != MEDIA_TYPE_CONFIG {
        return Err(DistError::Invalid(format!(
            "{} is not a plugin: its config is {}",
            r.familiar(),
            m["config"]["mediaType"]
        )));
    }
    let desc = |v: &serde_json::Value| -> Result<(Digest, u64), DistError> {
        let d = Digest::parse(v["digest"].as_str().unwrap_or_default())
            .map_err(|e| DistError::Invalid(e.to_string()))?;
        Ok((d, v["size"].as_u64().unwrap_or(0)))
    };
    let (cd, cs) = desc(&m["config"])?;
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    let [layer] = layers.as_slice() else {
        return Err(DistError::Invalid(format!(
            "{}: a plugin has one layer, this one has {}",
            r.familiar(),
            layers.len()
        )));
    };
    let (ld, ls) = desc(layer)?;
    client
        .fetch_blob(store, r, &cd, cs, &|_| {})
        .map_err(|e| DistError::Failed(e.to_string()))?;
    let blob = store
        .read_blob(&cd)
        .map_err(|e| DistError::Failed(e.to_string()))?;
    let config = Config::parse(&blob).map_err(|e| DistError::Invalid(e.to_string()))?;
    Ok((
        Content {
            config,
            config_digest: cd,
            layer_digest: ld,
        },
        ls,
    ))
}

/// Fetch the layer of content whose config `fetch_config` got.
pub fn fetch_layer(
    client: &Client,
    store: &Store,
    r: &Reference,
    c: &Content,
    size: u64,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<(), DistError> {
    client
        .fetch_blob(store, r, &c.layer_digest, size, progress)
        .map_err(|e| DistError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(dir: &Path, config: Option<&str>, extra: &[(&str, &[u8])]) -> std::path::PathBuf {
        let path = dir.join("ctx.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, data).unwrap();
        };
        if let Some(c) = config {
            add("config.json", c.as_bytes());
        }
        add("rootfs/bin/plugin", b"#!/bin/sh\n");
        add("README", b"not part of the rootfs");
        for (n, d) in extra {
            add(n, d);
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "rootfs/bin/sh", "plugin").unwrap();
        b.finish().unwrap();
        path
    }

    const CONFIG: &str = r#"{"entrypoint":["/bin/plugin"],
        "interface":{"types":["docker.volumedriver/1.0"],"socket":"p.sock"}}"#;

    #[test]
    fn a_context_becomes_a_layer_and_a_config() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path().join("store")).unwrap();
        let ctx = context(t.path(), Some(CONFIG), &[]);
        let c = from_context(&store, &ctx).unwrap();
        assert_eq!(c.config.entrypoint, ["/bin/plugin"]);
        let diff = &c.config.rootfs.as_ref().unwrap().diff_ids[0];
        assert!(diff.starts_with("sha256:"));
        // The config blob carries the layer's diff id; the layer holds only rootfs/, unprefixed.
        let blob: Config =
            serde_json::from_slice(&store.read_blob(&c.config_digest).unwrap()).unwrap();
        assert_eq!(blob.rootfs, c.config.rootfs);
        let root = t.path().join("root");
        std::fs::create_dir(&root).unwrap();
        unpack(&store, &c.layer_digest, &root).unwrap();
        assert_eq!(
            std::fs::read(root.join("bin/plugin")).unwrap(),
            b"#!/bin/sh\n"
        );
        assert_eq!(
            std::fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("plugin")
        );
        assert!(!root.join("README").exists() && !root.join("config.json").exists());
        let m = manifest(&store, &c).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&store.read_blob(&m.digest).unwrap()).unwrap();
        assert_eq!(v["config"]["mediaType"], MEDIA_TYPE_CONFIG);
        assert_eq!(v["layers"][0]["digest"], c.layer_digest.to_string());
    }

    #[test]
    fn bad_contexts_are_refused_and_leave_no_temp_files() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path().join("store")).unwrap();
        let none = context(t.path(), None, &[]);
        let e = from_context(&store, &none).unwrap_err();
        assert!(matches!(e, DistError::Invalid(_)), "{e}");
        assert!(e.to_string().contains("config not found"));
        let bad = context(t.path(), Some(r#"{"entrypoint":[]}"#), &[]);
        assert!(matches!(
            from_context(&store, &bad),
            Err(DistError::Invalid(_))
        ));
        let tmp = store.temp_path("x");
        let left: Vec<_> = std::fs::read_dir(tmp.parent().unwrap()).unwrap().collect();
        assert!(left.is_empty(), "temp files left: {left:?}");
    }
}
