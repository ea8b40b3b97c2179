#!/usr/bin/env bash
# Set up a fresh Debian machine and run the main job: install packages, build
# in release mode, run a container with berth-runtime directly, then start
# berthd with its default state (/var/lib/berth, /run/berth/berth.sock),
# import a busybox image with the berth CLI and run a container through it.
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
bash scripts/compose-v2.sh >/dev/null

cargo build --release --locked -p berth-runtime -p berthd -p berth-shim -p berth
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

# The engine: berthd with its default paths, driven by the berth CLI.
berthd="$PWD/target/release/berthd"
berth="$PWD/target/release/berth"
"$berthd" --pidfile /run/berth/quickstart.pid >/tmp/berthd-quickstart.log 2>&1 &
daemon=$!
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$bundle"' EXIT
for _ in $(seq 100); do "$berth" version >/dev/null 2>&1 && break; sleep 0.1; done
tar -C "$bundle/rootfs" -c . | "$berth" import --change 'CMD ["/bin/sh"]' - quickstart/busybox:latest
"$berth" run --rm quickstart/busybox:latest \
    sh -c 'echo "hello from a berthd container (pid $$, $(hostname), $(ip -4 -o addr show eth0 | awk "{print \$4}") on berth0)"'
echo "quickstart: ok (berth-runtime, berthd and berth in $PWD/target/release; berthd log: /tmp/berthd-quickstart.log)"
