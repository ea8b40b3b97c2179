//! Links berth-shim as a static PIE (see berth-init's static_pie.rs): berthd execs it for every
//! container start, and without the dynamic loader and the shared libraries it starts sooner.

#[path = "../berth-init/static_pie.rs"]
mod static_pie;

fn main() {
    // berth-runtime's library (the in-process delete) links libseccomp; the static archive, as
    // for the runtime's binary (the delete itself calls none of it).
    static_pie::link_bins_static(&[("seccomp", &["libseccomp.a"])]);
    // Relative relocations packed as DT_RELR: fewer pages read at each start.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../berth-init/static_pie.rs");
}
