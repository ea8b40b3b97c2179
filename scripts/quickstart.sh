#!/usr/bin/env bash
# Set up a fresh Debian machine and run a container with berth-runtime:
# install packages, build in release mode, make a busybox bundle, run it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "quickstart: run as root (it installs packages and creates namespaces)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
mapfile -t pkgs < <(cat .ci/apt-packages.d/*.txt | sed 's/#.*//' | awk 'NF' | sort -u)
apt-get install -y -qq "${pkgs[@]}" >/dev/null

cargo build --release --locked
bin="$PWD/target/release/berth-runtime"

bundle=$(mktemp -d /tmp/berth-quickstart.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for tool in $(/bin/busybox --list); do
    [ "$tool" = busybox ] || ln -s busybox "$bundle/rootfs/bin/$tool"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$bundle/rootfs/etc/passwd"
"$bin" spec --bundle "$bundle"
jq '.process.terminal = false
    | .process.args = ["sh", "-c", "echo hello from $(hostname), pid $$, in a berth container; cat /proc/self/status | grep -E \"^(Cap|NoNewPrivs)\""]' \
    "$bundle/config.json" > "$bundle/config.new" && mv "$bundle/config.new" "$bundle/config.json"
"$bin" run --bundle "$bundle" "quickstart-$$"
echo "quickstart: ok ($bin)"
