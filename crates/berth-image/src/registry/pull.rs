//! Pulling: manifests (with platform choice from indexes), config and layers fetched in parallel, each
//! verified against its digest and resumed with `Range` from the partial file after a failure.

use super::client::{pull_scope, Body, Client, Progress, RegistryError};
use crate::digest::Digest;
use crate::media::{self, Parsed, ACCEPT_MANIFESTS};
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};
use sha2::Digest as _;
use std::collections::{BTreeSet, VecDeque};
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::sync::Mutex;

const MAX_MANIFEST: u64 = 4 << 20;

impl Client {
    /// Fetch a manifest or index by tag or digest; returns (bytes, media type, digest). The digest is checked
    /// against the requested digest, or the registry's `Docker-Content-Digest`.
    pub fn fetch_manifest(
        &self,
        r: &Reference,
        reference: &str,
    ) -> Result<(Vec<u8>, String, Digest), RegistryError> {
        let host = r.api_host();
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base(host),
            r.repository(),
            reference
        );
        let resp = self.send(
            "GET",
            &url,
            host,
            &[pull_scope(r.repository())],
            &[("Accept", ACCEPT_MANIFESTS.to_string())],
            Body::Empty,
        )?;
        let resp = Client::expect("GET", &url, resp, &[200])?;
        let ct = resp.header("Content-Type").map(String::from);
        let header_digest = resp
            .header("Docker-Content-Digest")
            .and_then(|d| Digest::parse(d).ok());
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| RegistryError::Transport {
                url: url.clone(),
                message: e.to_string(),
            })?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(RegistryError::ManifestTooLarge(url));
        }
        let actual = Digest::of(&bytes);
        let expected = Digest::parse(reference).ok().or(header_digest);
        if let Some(e) = expected {
            if e != actual {
                return Err(RegistryError::DigestMismatch {
                    url,
                    expected: e,
                    actual,
                });
            }
        }
        let mt = media::detect_media_type(&bytes, ct.as_deref())?;
        Ok((bytes, mt, actual))
    }

    /// Pull an image into the store and name it `r`. Returns the record of what `r` points to (an index for
    /// multi-platform images; only the chosen platform's content is fetched).
    pub fn pull(
        &self,
        store: &Store,
        r: &Reference,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<ImageRecord, RegistryError> {
        self.pull_as(store, r, r, progress)
    }

    /// Pull `from` (e.g. the same repository on a mirror) and name it `name` in the store.
    pub fn pull_as(
        &self,
        store: &Store,
        from: &Reference,
        name: &Reference,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<ImageRecord, RegistryError> {
        // A failed pull leaves nothing: the blobs it brought are removed again. Only an
        // interrupted transfer (a retryable error) keeps its verified blobs and partial download,
        // so that pulling again resumes.
        let mut created = Vec::new();
        let res = self.pull_into(store, from, name, progress, &mut created);
        if res.as_ref().is_err_and(|e| !e.is_retryable()) {
            crate::transfer::remove_blobs(store, &created);
        }
        res
    }

    fn pull_into(
        &self,
        store: &Store,
        r: &Reference,
        name: &Reference,
        progress: &(dyn Fn(&Progress) + Sync),
        created: &mut Vec<Digest>,
    ) -> Result<ImageRecord, RegistryError> {
        let (bytes, mt, digest) = self.fetch_manifest(r, &r.reference_part())?;
        if !store.has_blob(&digest) {
            created.push(digest.clone());
        }
        store.write_blob_expected(&bytes, &digest)?;
        progress(&Progress::Manifest {
            digest: digest.clone(),
        });
        let top = ImageRecord {
            digest: digest.clone(),
            media_type: mt.clone(),
            size: bytes.len() as u64,
        };
        let manifest = match media::parse(&bytes, &mt)? {
            Parsed::Manifest(m) => *m,
            Parsed::Index(idx) => {
                let (os, arch, variant) = self
                    .opts
                    .platform
                    .clone()
                    .unwrap_or_else(media::host_platform);
                let d = media::choose_platform(&idx, &os, &arch, variant.as_deref())
                    .ok_or_else(|| crate::image::ImageError::NoPlatform(format!("{os}/{arch}")))?;
                let dd = media::desc_digest(d)?;
                let (b, cmt, cd) = self.fetch_manifest(r, dd.as_str())?;
                if !store.has_blob(&cd) {
                    created.push(cd.clone());
                }
                store.write_blob_expected(&b, &cd)?;
                progress(&Progress::Manifest { digest: cd });
                match media::parse(&b, &cmt)? {
                    Parsed::Manifest(m) => *m,
                    Parsed::Index(_) => {
                        return Err(media::MediaError::Unsupported("nested index".into()).into())
                    }
                }
            }
        };
        let mut seen = BTreeSet::new();
        let mut blobs = VecDeque::new();
        for d in std::iter::once(manifest.config()).chain(manifest.layers().iter()) {
            let dd = media::desc_digest(d)?;
            if seen.insert(dd.clone()) {
                if !store.has_blob(&dd) {
                    created.push(dd.clone());
                }
                blobs.push_back((dd, d.size()));
            }
        }
        self.fetch_blobs(store, r, blobs, progress)?;
        store.set_ref(&name.to_string(), top.clone())?;
        Ok(top)
    }

    /// Fetch blobs with up to `parallel` workers.
    fn fetch_blobs(
        &self,
        store: &Store,
        r: &Reference,
        blobs: VecDeque<(Digest, u64)>,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(), RegistryError> {
        let workers = self.opts.parallel.max(1).min(blobs.len().max(1));
        let queue = Mutex::new(blobs);
        let first_err: Mutex<Option<RegistryError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    if first_err
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_some()
                    {
                        return;
                    }
                    let Some((d, size)) =
                        queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                    else {
                        return;
                    };
                    if let Err(e) = self.fetch_blob(store, r, &d, size, progress) {
                        first_err
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                });
            }
        });
        match first_err.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Fetch one blob into the store, retrying and resuming from the partial file.
    pub fn fetch_blob(
        &self,
        store: &Store,
        r: &Reference,
        d: &Digest,
        size: u64,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(), RegistryError> {
        if store.has_blob(d) {
            store.touch_blob(d);
            progress(&Progress::BlobExists { digest: d.clone() });
            return Ok(());
        }
        let partial = store.partial_path(d);
        let mut attempt = 0;
        let (actual, got) = loop {
            match self.download(r, d, size, &partial, progress) {
                Ok(v) => break v,
                Err(e) if e.is_retryable() && attempt < self.opts.retries => {
                    attempt += 1;
                    progress(&Progress::Retry {
                        digest: d.clone(),
                        attempt,
                        error: e.to_string(),
                    });
                    std::thread::sleep(std::time::Duration::from_millis(100 * attempt as u64));
                }
                Err(e) => {
                    // Given up on bad content: the partial download goes too (an interrupted
                    // one stays for the next pull to resume).
                    if !e.is_retryable() {
                        let _ = std::fs::remove_file(&partial);
                    }
                    return Err(e);
                }
            }
        };
        if got != size {
            let _ = std::fs::remove_file(&partial);
            return Err(crate::store::StoreError::SizeMismatch {
                digest: d.clone(),
                expected: size,
                actual: got,
            }
            .into());
        }
        store.commit_hashed(&partial, &actual, got, d)?;
        progress(&Progress::BlobDone { digest: d.clone() });
        Ok(())
    }

    /// Download (the rest of) a blob into `partial`, hashing as it goes; returns digest and size of the file.
    fn download(
        &self,
        r: &Reference,
        d: &Digest,
        size: u64,
        partial: &std::path::Path,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(Digest, u64), RegistryError> {
        let io_err = |source| RegistryError::Io {
            path: partial.to_path_buf(),
            source,
        };
        let hash_prefix = |len: u64| -> Result<sha2::Sha256, RegistryError> {
            let mut h = sha2::Sha256::new();
            if len > 0 {
                let f = std::fs::File::open(partial).map_err(io_err)?;
                std::io::copy(&mut f.take(len), &mut h).map_err(io_err)?;
            }
            Ok(h)
        };
        let finish = |h: sha2::Sha256| {
            Digest::from_hex(&hex::encode(h.finalize())).expect("sha256 is 64 hex digits")
        };
        let mut offset = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
        if offset > size {
            std::fs::remove_file(partial).map_err(io_err)?;
            offset = 0;
        }
        if offset == size && size > 0 {
            return Ok((finish(hash_prefix(size)?), size));
        }
        progress(&Progress::BlobStart {
            digest: d.clone(),
            size,
            offset,
        });
        let host = r.api_host();
        let url = format!("{}/v2/{}/blobs/{}", self.base(host), r.repository(), d);
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push(("Range", format!("bytes={offset}-")));
        }
        let resp = self.send(
            "GET",
            &url,
            host,
            &[pull_scope(r.repository())],
            &headers,
            Body::Empty,
        )?;
        let resp = Client::expect("GET", &url, resp, &[200, 206])?;
        let mut f = if resp.status() == 206 && offset > 0 {
            OpenOptions::new()
                .append(true)
                .open(partial)
                .map_err(io_err)?
        } else {
            offset = 0;
            OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(partial)
                .map_err(io_err)?
        };
        let mut hasher = hash_prefix(offset)?;
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; 256 * 1024];
        let mut done = offset;
        let mut last_report = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    f.flush().map_err(io_err)?;
                    return Err(RegistryError::Transport {
                        url,
                        message: e.to_string(),
                    });
                }
            };
            f.write_all(&buf[..n]).map_err(io_err)?;
            hasher.update(&buf[..n]);
            done += n as u64;
            if done - last_report >= 4 << 20 || done == size {
                last_report = done;
                progress(&Progress::BlobProgress {
                    digest: d.clone(),
                    done,
                    total: size,
                });
            }
            if done > size {
                break;
            }
        }
        f.flush().map_err(io_err)?;
        if done < size {
            return Err(RegistryError::Incomplete {
                digest: d.clone(),
                got: done,
                want: size,
            });
        }
        Ok((finish(hasher), done))
    }
}
