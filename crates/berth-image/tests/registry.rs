//! Push and pull against Debian's `docker-registry` on 127.0.0.1: htpasswd basic auth, token auth (with
//! TLS and an extra CA), identical digests after push then pull, a corrupted blob rejected, and a pull cut
//! off midway that resumes without fetching finished layers again.

mod common;

use berth_image::image::{lookup, resolve};
use berth_image::registry::{
    AuthConfig, Client, ClientOptions, Credentials, Progress, RegistryError,
};
use berth_image::{Reference, Store};
use common::registry::{Auth, CutProxy, Registry, PASS, USER};
use std::sync::Mutex;

fn creds(host: &str, pass: &str) -> AuthConfig {
    let mut a = AuthConfig::default();
    a.insert(
        host,
        Credentials {
            username: USER.into(),
            password: pass.into(),
        },
    );
    a
}

fn insecure(host: &str, auth: AuthConfig) -> ClientOptions {
    ClientOptions {
        auth,
        insecure_registries: vec![host.to_string()],
        ..Default::default()
    }
}

fn quiet(_: &Progress) {}

/// Push an image, pull it into a fresh store by tag and by digest: same manifest, config and layers.
fn push_pull_round_trip(opts: ClientOptions, host: &str, chunked: bool) {
    let t = tempfile::tempdir().unwrap();
    let src = Store::open(t.path().join("src")).unwrap();
    let rec = common::generated_image(&src, "berth.test/rt:1", 3, &[300_000, 700_000]);
    let target = Reference::parse(&format!("{host}/berth/rt:v1")).unwrap();
    let opts = ClientOptions {
        chunk_size: if chunked { Some(256 * 1024) } else { None },
        ..opts
    };
    let client = Client::new(opts.clone()).unwrap();
    client.ping(host).unwrap();
    assert_eq!(
        client.push(&src, &rec, &target, None, &quiet).unwrap(),
        rec.digest
    );

    let dst = Store::open(t.path().join("dst")).unwrap();
    let client = Client::new(opts).unwrap();
    let events = Mutex::new(Vec::new());
    let pulled = client
        .pull(&dst, &target, &|p| events.lock().unwrap().push(p.clone()))
        .unwrap();
    assert_eq!(
        pulled.digest, rec.digest,
        "same manifest digest after push and pull"
    );
    let a = resolve(&src, &rec).unwrap();
    let b = resolve(&dst, &lookup(&dst, &target.to_string()).unwrap()).unwrap();
    assert_eq!(a.config_digest, b.config_digest);
    assert_eq!(a.layers, b.layers);
    let done = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Progress::BlobDone { .. }))
        .count();
    assert_eq!(done, 4, "config and three layers fetched");
    // By digest, into a third store.
    let dst2 = Store::open(t.path().join("dst2")).unwrap();
    let by_digest = target.with_digest(rec.digest.clone());
    assert_eq!(
        client.pull(&dst2, &by_digest, &quiet).unwrap().digest,
        rec.digest
    );
    // Cross-repository mount: pushing the same image to another repo mounts every blob.
    let other = Reference::parse(&format!("{host}/berth/other:v1")).unwrap();
    let events = Mutex::new(Vec::new());
    client
        .push(&dst, &pulled, &other, Some(&target), &|p| {
            events.lock().unwrap().push(p.clone())
        })
        .unwrap();
    let mounted = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Progress::BlobMounted { .. }))
        .count();
    assert_eq!(mounted, 4, "config and layers mounted from berth/rt");
}

#[test]
fn basic_auth_push_pull() {
    let Some(reg) = Registry::start("basic_auth_push_pull", Auth::Basic) else {
        return;
    };
    let host = reg.host.clone();
    // No credentials, then wrong ones: refused.
    let anon = Client::new(insecure(&host, AuthConfig::default())).unwrap();
    assert!(matches!(
        anon.ping(&host),
        Err(RegistryError::Unauthorized { .. })
    ));
    let wrong = Client::new(insecure(&host, creds(&host, "nope"))).unwrap();
    assert!(matches!(
        wrong.ping(&host),
        Err(RegistryError::Unauthorized { .. })
    ));
    push_pull_round_trip(insecure(&host, creds(&host, PASS)), &host, false);
}

#[test]
fn basic_auth_chunked_upload_and_docker_config() {
    let Some(reg) = Registry::start("basic_auth_chunked_upload_and_docker_config", Auth::Basic)
    else {
        return;
    };
    let host = reg.host.clone();
    let cfg = format!(r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#, {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
    });
    let auth = AuthConfig::parse(cfg.as_bytes()).unwrap();
    push_pull_round_trip(insecure(&host, auth), &host, true);
}

#[test]
fn token_auth_over_tls_push_pull() {
    let Some(reg) = Registry::start("token_auth_over_tls_push_pull", Auth::TokenTls) else {
        return;
    };
    let host = reg.host.clone();
    let ca = reg.ca_pem.clone().unwrap();
    // Without the extra CA, TLS fails.
    let no_ca = Client::new(ClientOptions {
        auth: creds(&host, PASS),
        ..Default::default()
    })
    .unwrap();
    assert!(matches!(
        no_ca.ping(&host),
        Err(RegistryError::Transport { .. })
    ));
    let opts = ClientOptions {
        auth: creds(&host, PASS),
        extra_ca_pem: vec![ca.clone()],
        ..Default::default()
    };
    push_pull_round_trip(opts, &host, false);
    // Anonymous tokens only grant pull: pulling works, pushing is refused.
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let anon = Client::new(ClientOptions {
        extra_ca_pem: vec![ca],
        ..Default::default()
    })
    .unwrap();
    let r = Reference::parse(&format!("{host}/berth/rt:v1")).unwrap();
    let rec = anon.pull(&s, &r, &quiet).unwrap();
    let err = anon
        .push(
            &s,
            &rec,
            &Reference::parse(&format!("{host}/berth/anon:v1")).unwrap(),
            None,
            &quiet,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Unauthorized { .. }
                | RegistryError::Status {
                    status: 401 | 403,
                    ..
                }
        ),
        "{err}"
    );
}

#[test]
fn corrupted_blob_is_rejected() {
    let Some(reg) = Registry::start("corrupted_blob_is_rejected", Auth::None) else {
        return;
    };
    let host = reg.host.clone();
    let t = tempfile::tempdir().unwrap();
    let src = Store::open(t.path().join("src")).unwrap();
    let rec = common::generated_image(&src, "berth.test/bad:1", 5, &[200_000]);
    let target = Reference::parse(&format!("{host}/berth/bad:1")).unwrap();
    let client = Client::new(insecure(&host, AuthConfig::default())).unwrap();
    client.push(&src, &rec, &target, None, &quiet).unwrap();
    let info = resolve(&src, &rec).unwrap();
    let layer = berth_image::media::desc_digest(info.layers.last().unwrap()).unwrap();
    let f = reg.blob_file(layer.hex());
    let mut data = std::fs::read(&f).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&f, data).unwrap();
    let dst = Store::open(t.path().join("dst")).unwrap();
    let err = client.pull(&dst, &target, &quiet).unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Store(berth_image::store::StoreError::DigestMismatch { .. })
        ),
        "{err}"
    );
    assert!(!dst.has_blob(&layer), "corrupt blob not stored");
    assert!(
        lookup(&dst, &target.to_string()).is_err(),
        "no name for a failed pull"
    );
}

#[test]
fn interrupted_pull_resumes_without_refetching() {
    let Some(reg) = Registry::start("interrupted_pull_resumes_without_refetching", Auth::None)
    else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let src = Store::open(t.path().join("src")).unwrap();
    let rec = common::generated_image(&src, "berth.test/resume:1", 9, &[1_500_000, 1_500_000]);
    let info = resolve(&src, &rec).unwrap();
    let direct = Client::new(insecure(&reg.host, AuthConfig::default())).unwrap();
    direct
        .push(
            &src,
            &rec,
            &Reference::parse(&format!("{}/berth/resume:1", reg.host)).unwrap(),
            None,
            &quiet,
        )
        .unwrap();

    let proxy = CutProxy::start(&reg.host);
    let target = Reference::parse(&format!("{}/berth/resume:1", proxy.host)).unwrap();
    let layers: Vec<_> = info
        .layers
        .iter()
        .map(|l| berth_image::media::desc_digest(l).unwrap())
        .collect();
    let (first, cut) = (&layers[1], &layers[2]);
    // One worker, no retries: the pull fails when the last layer is cut after 600 kB.
    *proxy.cut.lock().unwrap() = Some((cut.hex().to_string(), 600_000));
    let dst = Store::open(t.path().join("dst")).unwrap();
    let no_retry = Client::new(ClientOptions {
        parallel: 1,
        retries: 0,
        ..insecure(&proxy.host, AuthConfig::default())
    })
    .unwrap();
    let err = no_retry.pull(&dst, &target, &quiet).unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(dst.has_blob(first), "finished layer kept");
    let partial = std::fs::metadata(dst.partial_path(cut))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(partial > 0, "partial download kept");
    // Pull again: the finished layer is not requested, the cut one continues with a Range request.
    let before = proxy.requests(first.hex()).len();
    let rec2 = no_retry.pull(&dst, &target, &quiet).unwrap();
    assert_eq!(rec2.digest, rec.digest);
    assert_eq!(
        proxy.requests(first.hex()).len(),
        before,
        "finished layer fetched again"
    );
    let resumed = proxy.requests(cut.hex());
    assert!(
        resumed
            .last()
            .unwrap()
            .contains(&format!("bytes={partial}-")),
        "{resumed:?}"
    );

    // Within one pull, retries resume by themselves.
    let dst2 = Store::open(t.path().join("dst2")).unwrap();
    *proxy.cut.lock().unwrap() = Some((cut.hex().to_string(), 300_000));
    let retrying = Client::new(ClientOptions {
        parallel: 3,
        retries: 2,
        ..insecure(&proxy.host, AuthConfig::default())
    })
    .unwrap();
    let events = Mutex::new(Vec::new());
    retrying
        .pull(&dst2, &target, &|p| events.lock().unwrap().push(p.clone()))
        .unwrap();
    let ev = events.lock().unwrap();
    assert!(ev.iter().any(|e| matches!(e, Progress::Retry { .. })));
    assert!(
        ev.iter()
            .any(|e| matches!(e, Progress::BlobStart { offset, .. } if *offset > 0)),
        "retry resumed at an offset"
    );
}

#[test]
fn index_push_and_platform_pull() {
    let Some(reg) = Registry::start("index_push_and_platform_pull", Auth::None) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let src = Store::open(t.path().join("src")).unwrap();
    let amd = common::generated_image(&src, "berth.test/amd:1", 21, &[10_000]);
    let arm = common::generated_image(&src, "berth.test/arm:1", 22, &[10_000]);
    let idx = serde_json::json!({"schemaVersion": 2, "mediaType": berth_image::media::OCI_INDEX, "manifests": [
        {"mediaType": amd.media_type, "digest": amd.digest, "size": amd.size, "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": arm.media_type, "digest": arm.digest, "size": arm.size, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]});
    let bytes = serde_json::to_vec(&idx).unwrap();
    let rec = berth_image::ImageRecord {
        digest: src.write_blob(&bytes).unwrap(),
        media_type: berth_image::media::OCI_INDEX.into(),
        size: bytes.len() as u64,
    };
    let target = Reference::parse(&format!("{}/berth/multi:1", reg.host)).unwrap();
    let client = Client::new(insecure(&reg.host, AuthConfig::default())).unwrap();
    assert_eq!(
        client.push(&src, &rec, &target, None, &quiet).unwrap(),
        rec.digest
    );

    let dst = Store::open(t.path().join("dst")).unwrap();
    let platform = Some((
        "linux".to_string(),
        "arm64".to_string(),
        Some("v8".to_string()),
    ));
    let arm_client = Client::new(ClientOptions {
        platform,
        ..insecure(&reg.host, AuthConfig::default())
    })
    .unwrap();
    let got = arm_client.pull(&dst, &target, &quiet).unwrap();
    assert_eq!(got.digest, rec.digest, "the name points at the index");
    let info = berth_image::image::resolve_for(&dst, &got, "linux", "arm64", Some("v8")).unwrap();
    assert_eq!(info.manifest_digest, arm.digest);
    assert!(!dst.has_blob(&amd.digest), "other platform not fetched");
    // GC keeps the chosen platform's content under the index.
    berth_image::gc::collect(&dst, None).unwrap();
    assert!(dst.has_blob(&info.config_digest));
}
