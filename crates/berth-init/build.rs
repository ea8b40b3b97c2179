//! berth-init runs inside containers, whose images may have no C library (busybox) or an older one than
//! the host's, so the binary must be static: static_pie.rs says how.

mod static_pie;

fn main() {
    static_pie::link_bins_static(&[]);
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=static_pie.rs");
}
