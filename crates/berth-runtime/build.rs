//! Records the git commit for `berth-runtime --version` (runc prints its
//! own the same way); "unknown" outside a git checkout. Links the binary
//! statically (libc and libseccomp; see berth-init's static_pie.rs): every
//! container start runs it two or three times, and without the dynamic
//! loader and shared libraries it starts sooner and maps fewer pages.

#[path = "../berth-init/static_pie.rs"]
mod static_pie;

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    // Rebuild the string when HEAD moves (a commit, a checkout).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/logs/HEAD");
    }
    static_pie::link_bins_static(&[("seccomp", &["libseccomp.a"])]);
    // Relative relocations packed as DT_RELR (binutils 2.38+, glibc 2.36+):
    // the ~10,000 that a static PIE applies to itself at every start shrink
    // from 240 kB of RELA entries, all read (and so resident) by each start,
    // to a few kB of bitmaps.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../berth-init/static_pie.rs");
}
