//! Pushing: blobs that the registry lacks are mounted from another repository when possible, otherwise
//! uploaded monolithically or in chunks; then manifests (children of an index first).

use super::client::{pull_scope, push_scope, qs, Body, Client, Progress, RegistryError};
use crate::digest::Digest;
use crate::media::{self, Parsed};
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};

impl Client {
    /// Push a local image (manifest or index) to `target` (by its tag, or by digest if it has none). Blobs
    /// the target lacks are mounted from `mount_from` (same registry) when given. Returns the digest of what
    /// `target` now points to.
    pub fn push(
        &self,
        store: &Store,
        local: &ImageRecord,
        target: &Reference,
        mount_from: Option<&Reference>,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<Digest, RegistryError> {
        let bytes = store.read_blob(&local.digest)?;
        match media::parse(&bytes, &local.media_type)? {
            Parsed::Manifest(m) => {
                for d in std::iter::once(m.config()).chain(m.layers().iter()) {
                    self.push_blob(store, target, &media::desc_digest(d)?, mount_from, progress)?;
                }
            }
            Parsed::Index(idx) => {
                for d in idx.manifests() {
                    let dd = media::desc_digest(d)?;
                    if !store.has_blob(&dd) {
                        continue;
                    }
                    let child = ImageRecord {
                        digest: dd.clone(),
                        media_type: d.media_type().to_string(),
                        size: d.size(),
                    };
                    self.push(store, &child, &target.with_digest(dd), mount_from, progress)?;
                }
            }
        }
        let reference = match target.tag() {
            Some(t) => t.to_string(),
            None => local.digest.to_string(),
        };
        let host = target.api_host();
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base(host),
            target.repository(),
            reference
        );
        let resp = self.send(
            "PUT",
            &url,
            host,
            &[push_scope(target.repository())],
            &[("Content-Type", local.media_type.clone())],
            Body::Bytes(&bytes),
        )?;
        Client::expect("PUT", &url, resp, &[200, 201])?;
        progress(&Progress::Manifest {
            digest: local.digest.clone(),
        });
        Ok(local.digest.clone())
    }

    fn scopes(target: &Reference, mount_from: Option<&Reference>) -> Vec<String> {
        let mut s = vec![push_scope(target.repository())];
        if let Some(m) = mount_from {
            s.push(pull_scope(m.repository()));
        }
        s
    }

    /// Whether the repository has a blob.
    pub fn blob_exists(&self, target: &Reference, d: &Digest) -> Result<bool, RegistryError> {
        let host = target.api_host();
        let url = format!("{}/v2/{}/blobs/{}", self.base(host), target.repository(), d);
        let resp = self.send(
            "HEAD",
            &url,
            host,
            &[push_scope(target.repository())],
            &[],
            Body::Empty,
        )?;
        match resp.status() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Client::expect("HEAD", &url, resp, &[200]).map(|_| true),
        }
    }

    fn push_blob(
        &self,
        store: &Store,
        target: &Reference,
        d: &Digest,
        mount_from: Option<&Reference>,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(), RegistryError> {
        if self.blob_exists(target, d)? {
            progress(&Progress::BlobExists { digest: d.clone() });
            return Ok(());
        }
        let host = target.api_host();
        let scopes = Self::scopes(target, mount_from);
        let mut url = format!(
            "{}/v2/{}/blobs/uploads/",
            self.base(host),
            target.repository()
        );
        if let Some(m) = mount_from
            .filter(|m| m.registry() == target.registry() && m.repository() != target.repository())
        {
            url.push_str(&format!(
                "?mount={}&from={}",
                qs(d.as_str()),
                qs(m.repository())
            ));
        }
        let resp = self.send("POST", &url, host, &scopes, &[], Body::Empty)?;
        let resp = Client::expect("POST", &url, resp, &[201, 202])?;
        if resp.status() == 201 {
            progress(&Progress::BlobMounted {
                digest: d.clone(),
                from: mount_from
                    .map(|m| m.repository().to_string())
                    .unwrap_or_default(),
            });
            return Ok(());
        }
        let mut location = self.absolute(host, resp.header("Location").unwrap_or_default());
        let _ = resp.into_string();
        let path = store.blob_path(d);
        let size = store
            .blob_size(d)
            .ok_or_else(|| crate::store::StoreError::NotFound(d.clone()))?;
        progress(&Progress::BlobStart {
            digest: d.clone(),
            size,
            offset: 0,
        });
        let octet = ("Content-Type", "application/octet-stream".to_string());
        let final_body = match self.opts.chunk_size {
            Some(chunk) if chunk > 0 && size > chunk => {
                let mut off = 0;
                while off < size {
                    let len = chunk.min(size - off);
                    let headers = [
                        octet.clone(),
                        ("Content-Range", format!("{}-{}", off, off + len - 1)),
                    ];
                    let resp = self.send(
                        "PATCH",
                        &location,
                        host,
                        &scopes,
                        &headers,
                        Body::File {
                            path: &path,
                            offset: off,
                            len,
                        },
                    )?;
                    let resp = Client::expect("PATCH", &location, resp, &[202, 204])?;
                    location = self.absolute(
                        host,
                        resp.header("Location")
                            .unwrap_or(&location)
                            .to_string()
                            .as_str(),
                    );
                    let _ = resp.into_string();
                    off += len;
                    progress(&Progress::BlobProgress {
                        digest: d.clone(),
                        done: off,
                        total: size,
                    });
                }
                Body::Empty
            }
            _ => Body::File {
                path: &path,
                offset: 0,
                len: size,
            },
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put_url = format!("{location}{sep}digest={}", qs(d.as_str()));
        let resp = self.send("PUT", &put_url, host, &scopes, &[octet], final_body)?;
        Client::expect("PUT", &put_url, resp, &[201, 204])?;
        progress(&Progress::BlobDone { digest: d.clone() });
        Ok(())
    }
}
