//! Small CLI over berth-image, used by `bench/image.sh`:
//!
//! - `berth-image-pull pull <store> <ref> [--insecure] [--unpack <snapshots>]`: pull (and unpack) an image.
//! - `berth-image-pull unpack <store> <ref> <snapshots>`: unpack an image already in the store.
//! - `berth-image-pull gen-push <ref> <total-MiB> <layers> [--insecure]`: generate an image (half random, half
//!   compressible data, busybox base if present) in a temporary store and push it.

use berth_image::compression::Compression;
use berth_image::image::{lookup, resolve, store_layer, unpack, write_image};
use berth_image::registry::{Client, ClientOptions, Progress};
use berth_image::snapshot::OverlaySnapshotter;
use berth_image::{Reference, Store};
use std::time::Instant;

fn die(msg: String) -> ! {
    eprintln!("berth-image-pull: {msg}");
    std::process::exit(1)
}

fn client(r: &Reference, insecure: bool) -> Client {
    let auth = berth_image::registry::AuthConfig::load_default().unwrap_or_default();
    let opts = ClientOptions {
        auth,
        insecure_registries: if insecure {
            vec![r.registry().to_string()]
        } else {
            vec![]
        },
        parallel: 6,
        ..Default::default()
    };
    Client::new(opts).unwrap_or_else(|e| die(e.to_string()))
}

fn data(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut v = Vec::with_capacity(n);
    while v.len() < n / 2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    let mut i = 0u64;
    while v.len() < n {
        v.extend_from_slice(format!("line {i} of generated text for seed {seed}\n").as_bytes());
        i += 1;
    }
    v.truncate(n);
    v
}

fn layer_tar(seed: u64, bytes: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let files = 16;
    for f in 0..files {
        let d = data(seed * 100 + f, bytes / files as usize);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(d.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, format!("data/layer{seed}/file{f}.bin"), &d[..])
            .unwrap();
    }
    b.into_inner().unwrap()
}

fn gen_push(r: &Reference, mib: usize, layers: usize, insecure: bool) {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    for i in 0..layers {
        let tar = layer_tar(i as u64 + 1, mib * 1024 * 1024 / layers);
        let (d, size, diff) = store_layer(&store, &tar[..], Compression::Gzip).unwrap();
        diff_ids.push(diff.to_string());
        descs.push(berth_image::media::descriptor(
            berth_image::media::OCI_LAYER_GZIP,
            &d,
            size,
        ));
    }
    let cfg = berth_image::config::ImageConfig::new_for_host(diff_ids);
    let rec = write_image(&store, &cfg, descs, false).unwrap();
    client(r, insecure)
        .push(&store, &rec, r, None, &|_| {})
        .unwrap_or_else(|e| die(e.to_string()));
    println!("pushed {r} {}", rec.digest);
}

fn do_unpack(store: &Store, r: &Reference, snaps: &str) {
    let t = Instant::now();
    let snap = OverlaySnapshotter::open(snaps).unwrap_or_else(|e| die(e.to_string()));
    let info = resolve(
        store,
        &lookup(store, &r.to_string()).unwrap_or_else(|e| die(e.to_string())),
    )
    .unwrap_or_else(|e| die(e.to_string()));
    unpack(store, &snap, &info).unwrap_or_else(|e| die(e.to_string()));
    eprintln!(
        "unpacked {} layers in {:.2}s",
        info.layers.len(),
        t.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let insecure = args.iter().any(|a| a == "--insecure");
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let pos: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let parse = |s: &str| Reference::parse(s).unwrap_or_else(|e| die(e.to_string()));
    match pos.first().map(|s| s.as_str()) {
        Some("pull") if pos.len() >= 3 => {
            let store = Store::open(pos[1]).unwrap_or_else(|e| die(e.to_string()));
            let r = parse(pos[2]);
            let t = Instant::now();
            let progress = |p: &Progress| {
                if let Progress::BlobDone { digest } = p {
                    eprintln!("done {digest}");
                }
            };
            let rec = client(&r, insecure).pull(&store, &r, &progress).unwrap_or_else(|e| die(e.to_string()));
            eprintln!("pulled {} in {:.2}s", rec.digest, t.elapsed().as_secs_f64());
            if let Some(s) = flag("--unpack") {
                do_unpack(&store, &r, &s);
            }
        }
        Some("unpack") if pos.len() >= 4 => {
            let store = Store::open(pos[1]).unwrap_or_else(|e| die(e.to_string()));
            do_unpack(&store, &parse(pos[2]), pos[3]);
        }
        Some("gen-push") if pos.len() >= 4 => {
            let mib = pos[2].parse().unwrap_or_else(|_| die("bad size".into()));
            let layers = pos[3].parse().unwrap_or_else(|_| die("bad layer count".into()));
            gen_push(&parse(pos[1]), mib, layers, insecure);
        }
        _ => die("usage: pull <store> <ref> [--insecure] [--unpack <dir>] | unpack <store> <ref> <dir> | gen-push <ref> <MiB> <layers> [--insecure]".into()),
    }
}
