//! Media types of the OCI image spec and Docker schema 2, and parsing of manifests and indexes.

use crate::digest::Digest;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker container config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer (docker save).
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker zstd layer.
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Docker foreign (non-distributable) layer.
pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Annotation holding the tag of a manifest inside an OCI layout's index.json.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Accept header value listing every manifest type we understand.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Errors from manifest parsing.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// JSON did not parse as the expected document.
    #[error("malformed {what}: {source}")]
    Json {
        /// What was being parsed.
        what: &'static str,
        /// Parser error.
        source: serde_json::Error,
    },
    /// The document's media type is not a manifest or index.
    #[error("unsupported manifest media type {0:?}")]
    Unsupported(String),
    /// A digest inside the document is invalid.
    #[error("invalid digest in manifest: {0}")]
    Digest(#[from] crate::digest::DigestError),
}

/// Whether a media type is an index or manifest list.
pub fn is_index(mt: &str) -> bool {
    mt == OCI_INDEX || mt == DOCKER_MANIFEST_LIST
}

/// Whether a media type is a single-image manifest.
pub fn is_manifest(mt: &str) -> bool {
    mt == OCI_MANIFEST || mt == DOCKER_MANIFEST
}

/// Compression a layer media type implies.
pub fn layer_compression(mt: &str) -> Option<crate::compression::Compression> {
    use crate::compression::Compression;
    match mt {
        OCI_LAYER | DOCKER_LAYER | "application/vnd.oci.image.layer.nondistributable.v1.tar" => {
            Some(Compression::None)
        }
        OCI_LAYER_GZIP
        | DOCKER_LAYER_GZIP
        | DOCKER_LAYER_FOREIGN
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => Some(Compression::Gzip),
        OCI_LAYER_ZSTD
        | DOCKER_LAYER_ZSTD
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// A media type as a string.
pub fn media_str(mt: &MediaType) -> String {
    mt.to_string()
}

/// A parsed top-level document: a single manifest or an index.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// A single image manifest (OCI or Docker schema 2).
    Manifest(Box<ImageManifest>),
    /// An index or manifest list.
    Index(Box<ImageIndex>),
}

#[derive(serde::Deserialize)]
struct Probe {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    layers: Option<serde_json::Value>,
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u32>,
}

/// Figure out the media type of manifest bytes (from a header hint or the document itself).
pub fn detect_media_type(bytes: &[u8], hint: Option<&str>) -> Result<String, MediaError> {
    let hint = hint.map(|h| h.split(';').next().unwrap_or(h).trim());
    if let Some(h) = hint {
        if is_index(h) || is_manifest(h) {
            return Ok(h.to_string());
        }
    }
    let p: Probe = serde_json::from_slice(bytes).map_err(|source| MediaError::Json {
        what: "manifest",
        source,
    })?;
    if p.schema_version == Some(1) {
        return Err(MediaError::Unsupported("docker schema 1".into()));
    }
    match p.media_type {
        Some(mt) => Ok(mt),
        None if p.manifests.is_some() => Ok(OCI_INDEX.to_string()),
        None if p.layers.is_some() => Ok(OCI_MANIFEST.to_string()),
        None => Err(MediaError::Unsupported("no mediaType".into())),
    }
}

/// Parse manifest or index bytes of the given media type.
pub fn parse(bytes: &[u8], media_type: &str) -> Result<Parsed, MediaError> {
    if is_index(media_type) {
        let idx: ImageIndex = serde_json::from_slice(bytes).map_err(|source| MediaError::Json {
            what: "image index",
            source,
        })?;
        Ok(Parsed::Index(Box::new(idx)))
    } else if is_manifest(media_type) {
        let m: ImageManifest =
            serde_json::from_slice(bytes).map_err(|source| MediaError::Json {
                what: "image manifest",
                source,
            })?;
        Ok(Parsed::Manifest(Box::new(m)))
    } else {
        Err(MediaError::Unsupported(media_type.to_string()))
    }
}

/// Our digest of a descriptor.
pub fn desc_digest(d: &Descriptor) -> Result<Digest, MediaError> {
    Ok(Digest::from_oci(d.digest())?)
}

/// Build a descriptor.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, digest.to_oci())
}

/// The platform string (`os/arch[/variant]`) of this machine in OCI terms.
pub fn host_platform() -> (String, String, Option<String>) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    let variant = match arch {
        "arm64" => Some("v8".to_string()),
        "arm" => Some("v7".to_string()),
        _ => None,
    };
    ("linux".to_string(), arch.to_string(), variant)
}

/// Pick the manifest for `os/arch[/variant]` from an index.
pub fn choose_platform<'a>(
    idx: &'a ImageIndex,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<&'a Descriptor> {
    let candidates: Vec<&Descriptor> = idx
        .manifests()
        .iter()
        .filter(|d| {
            d.platform()
                .as_ref()
                .map(|p| p.os().to_string() == os && p.architecture().to_string() == arch)
                .unwrap_or(false)
        })
        .collect();
    if let Some(v) = variant {
        if let Some(d) = candidates
            .iter()
            .find(|d| d.platform().as_ref().and_then(|p| p.variant().as_deref()) == Some(v))
        {
            return Some(d);
        }
    }
    candidates.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_docker_and_oci() {
        let d = Digest::of(b"x");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","size":1,"digest":"{d}"}},"layers":[{{"mediaType":"{DOCKER_LAYER_GZIP}","size":1,"digest":"{d}"}}]}}"#
        );
        let mt = detect_media_type(m.as_bytes(), None).unwrap();
        assert_eq!(mt, DOCKER_MANIFEST);
        match parse(m.as_bytes(), &mt).unwrap() {
            Parsed::Manifest(m) => {
                assert_eq!(m.layers().len(), 1);
                assert_eq!(
                    layer_compression(m.layers()[0].media_type().as_ref()),
                    Some(crate::compression::Compression::Gzip)
                );
            }
            _ => panic!("expected manifest"),
        }
        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{d}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},{{"mediaType":"{OCI_MANIFEST}","size":2,"digest":"{d}","platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let mt = detect_media_type(i.as_bytes(), None).unwrap();
        assert_eq!(mt, OCI_INDEX);
        match parse(i.as_bytes(), &mt).unwrap() {
            Parsed::Index(idx) => {
                assert_eq!(
                    choose_platform(&idx, "linux", "amd64", None)
                        .unwrap()
                        .size(),
                    2
                );
                assert_eq!(
                    choose_platform(&idx, "linux", "arm64", Some("v8"))
                        .unwrap()
                        .size(),
                    1
                );
                assert!(choose_platform(&idx, "linux", "s390x", None).is_none());
            }
            _ => panic!("expected index"),
        }
    }
}
