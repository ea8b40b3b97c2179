//! Linking a crate's binaries as static PIEs (shared by the build scripts of
//! berth-init and berth-runtime). The gnu target's `crt-static` cannot be set
//! for one crate (RUSTFLAGS are workspace-wide), so: rustc asks for
//! `-lgcc_s -lc -lm ...` (and a C library's own `-l`) in dynamic mode; a
//! directory first on the search path answers each with a linker script naming
//! the static archive (`libgcc_eh.a`, `libc.a`, ...), and `-static-pie` picks
//! the static start files. Only the binaries are linked this way (unit and
//! integration tests stay ordinary).

use std::path::PathBuf;
use std::process::Command;

/// Where the C compiler finds a file (`cc -print-file-name`); panics with the package to install.
fn archive(name: &str) -> String {
    let out = Command::new("cc")
        .arg(format!("-print-file-name={name}"))
        .output()
        .expect("run cc -print-file-name");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        PathBuf::from(&path).is_absolute(),
        "static linking needs {name} (Debian: libc6-dev, libgcc-12-dev, libseccomp-dev)"
    );
    path
}

/// Link the crate's binaries statically; `extra` adds C libraries by their
/// `-l` name and archives (`("seccomp", &["libseccomp.a"])`).
pub fn link_bins_static(extra: &[(&str, &[&str])]) {
    let dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("static-libs");
    std::fs::create_dir_all(&dir).expect("create static-libs");
    let libs: &[(&str, &[&str])] = &[
        ("gcc_s", &["libgcc_eh.a", "libgcc.a"]),
        ("c", &["libc.a"]),
        ("m", &["libm.a"]),
        // Merged into libc since glibc 2.34; empty groups keep older link lines working.
        ("util", &[]),
        ("rt", &[]),
        ("pthread", &[]),
        ("dl", &[]),
    ];
    for (lib, archives) in libs.iter().chain(extra) {
        let files: Vec<String> = archives.iter().map(|a| archive(a)).collect();
        std::fs::write(
            dir.join(format!("lib{lib}.so")),
            format!("GROUP({})\n", files.join(" ")),
        )
        .expect("write linker script");
    }
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    println!("cargo:rustc-link-arg-bins=-static-pie");
}
