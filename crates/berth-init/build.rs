//! berth-init runs inside containers, whose images may have no C library (busybox) or an older one than
//! the host's, so the binary must be static. The gnu target's `crt-static` cannot be set for one crate
//! (RUSTFLAGS are workspace-wide), so this links the binary as a static PIE by hand: rustc asks for
//! `-lgcc_s -lc -lm ...` in dynamic mode; a directory first on the search path answers each with a
//! linker script naming the static archive (`libgcc_eh.a`, `libc.a`, ...), and `-static-pie` picks the
//! static start files. Only the binary is linked this way (its unit tests stay ordinary).

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
        "berth-init links statically and needs {name} (Debian: libc6-dev, libgcc-12-dev)"
    );
    path
}

fn main() {
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
    for (lib, archives) in libs {
        let files: Vec<String> = archives.iter().map(|a| archive(a)).collect();
        std::fs::write(
            dir.join(format!("lib{lib}.so")),
            format!("GROUP({})\n", files.join(" ")),
        )
        .expect("write linker script");
    }
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    println!("cargo:rustc-link-arg-bins=-static-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
