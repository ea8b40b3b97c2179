#!/usr/bin/env bash
# Build the berth .deb with dpkg-deb from a staged tree: berthd, berth-runtime, berth-shim,
# berth-init and berth in /usr/bin, the systemd units (berthd.socket, berthd.service), shell
# completions and man pages, and the maintainer scripts in packaging/deb (the `berth` group).
#
#   bash scripts/build-deb.sh                       # release build, then package: target/deb/berth_VERSION_ARCH.deb
#   bash scripts/build-deb.sh --bin-dir target/debug --out DIR   # package binaries already built (tests, CI)
#
# Why dpkg-deb and not cargo-deb: cargo-deb has to be compiled first (cargo install), which on the
# CI machine costs minutes on every fresh clone, while dpkg-deb is already there; the staged tree
# below is what cargo-deb's metadata would describe.
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir="" out="target/deb"
while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) bin_dir="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "build-deb: unknown argument $1 (want --bin-dir DIR, --out DIR)" >&2; exit 2 ;;
    esac
done
bins=(berthd berth-runtime berth-shim berth-init berth)
if [ -z "$bin_dir" ]; then
    cargo build --release --locked $(printf -- '-p %s ' "${bins[@]}")
    bin_dir=target/release
fi
for b in "${bins[@]}"; do
    [ -x "$bin_dir/$b" ] || { echo "build-deb: $bin_dir/$b is missing" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
mkdir -p "$out"
stage=$(mktemp -d "${TMPDIR:-/tmp}/berth-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT

install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" \
    "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
    "$stage/usr/share/fish/vendor_completions.d" "$stage/usr/share/man/man1" \
    "$stage/usr/share/man/man8" "$stage/usr/share/doc/berth" "$stage/etc/berth"
for b in "${bins[@]}"; do
    install -m 0755 --strip "$bin_dir/$b" "$stage/usr/bin/$b"
done
install -m 0644 packaging/systemd/berthd.socket packaging/systemd/berthd.service "$stage/lib/systemd/system/"
"$bin_dir/berth" completion bash > "$stage/usr/share/bash-completion/completions/berth"
"$bin_dir/berth" completion zsh > "$stage/usr/share/zsh/vendor-completions/_berth"
"$bin_dir/berth" completion fish > "$stage/usr/share/fish/vendor_completions.d/berth.fish"
"$bin_dir/berth" man "$stage/usr/share/man/man1"
"$bin_dir/berthd" __man "$stage/usr/share/man/man8"
gzip -9n "$stage"/usr/share/man/man*/*
cat > "$stage/usr/share/doc/berth/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: berth

Files: *
License: $(sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml | head -1)
COPY
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: berth
Version: $version
Architecture: $arch
Maintainer: Berth developers <berth@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34), libgcc-s1, libseccomp2 (>= 2.5), iptables, procps, adduser
Recommends: docker-cli | docker.io
Suggests: criu
Section: admin
Priority: optional
Description: container engine with a Docker Engine API (berthd) and an OCI runtime
 berthd serves the Docker Engine API on /run/berth/berth.sock (socket-activated by
 systemd, group berth), so the stock docker CLI, SDKs and Compose work against it:
 docker context create berth --docker host=unix:///run/berth/berth.sock.
 Also berth-runtime (a runc-compatible OCI runtime), berth-shim, berth-init and the
 berth command line. Configuration: /etc/berth/daemon.json (dockerd's keys).
CONTROL
deb="$out/berth_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
echo "$deb"
