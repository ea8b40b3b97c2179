#!/usr/bin/env bash
# The Python docker SDK 7.x plugin tests (tests/integration/api_plugin_test.py) against berthd and a
# private dockerd, offline: the tests install `vieux/sshfs:latest` from Docker Hub, so a plugin of
# that name is served from a local docker-registry given to both daemons as `--registry-mirror`.
# It has the fields the tests touch (settable DEBUG env, the `state`/`sshkey` mounts, /dev/fuse,
# CAP_SYS_ADMIN, host network, propagated mount /mnt/volumes); its program is the volume plugin of
# berthd's managed-plugin test (crates/berthd/tests/fixtures/plugins/managed_volume.rs, std-only
# Rust compiled here), not sshfs. The `state` mount's source is /tmp (the real plugin's
# /var/lib/docker/plugins/ need not exist on this host).
# Usage: bash scripts/sdk7-plugins.sh /path/to/docker-py/tests [TARGET_DIR]   (as root)
# Prints both pytest summary lines; logs in $SDK_WORK (default /tmp/berth-sdk).
set -euo pipefail
tests=$(realpath "${1:?the docker-py tests directory (git archive 7.1.0 tests)}")
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${2:-$repo/target/debug}")
work=$(mktemp -d /tmp/sdkplg.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    { grep " $work" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$work" || { sleep 2; rm -rf "$work"; }
}
trap cleanup EXIT

wait_sock() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.1; done; echo "no $1" >&2; return 1; }

# The registry.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/registry" "$port" > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
pids+=($!)
mirror=http://127.0.0.1:$port

# The plugin's context.
ctx=$work/ctx
mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/mnt/volumes" "$ctx/rootfs/mnt/state" "$ctx/rootfs/root/.ssh" \
    "$ctx/rootfs/run/docker/plugins" "$ctx/rootfs/etc" "$ctx/rootfs/tmp"
cp /bin/busybox "$ctx/rootfs/bin/busybox"
ln -s busybox "$ctx/rootfs/bin/sh"
rustc --edition 2021 -C opt-level=1 -C strip=symbols -o "$ctx/rootfs/bin/mvp" \
    "$repo/crates/berthd/tests/fixtures/plugins/managed_volume.rs"
for lib in $(ldd "$ctx/rootfs/bin/mvp" | grep -o '/[^ ]*'); do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp "$lib" "$ctx/rootfs$lib"
done
cat > "$ctx/config.json" <<'JSON'
{"description": "sshFS plugin for Docker (Berth's offline stand-in)",
 "documentation": "https://docs.docker.com/engine/extend/plugins/",
 "entrypoint": ["/bin/sh", "-c", "trap 'exit 0' TERM; /bin/mvp sshfs.sock /mnt/volumes & wait"],
 "env": [{"name": "DEBUG", "settable": ["value"], "value": "0"}],
 "interface": {"socket": "sshfs.sock", "types": ["docker.volumedriver/1.0"]},
 "linux": {"capabilities": ["CAP_SYS_ADMIN"], "devices": [{"path": "/dev/fuse"}]},
 "mounts": [{"destination": "/mnt/state", "options": ["rbind"], "name": "state", "source": "/tmp",
             "settable": ["source"], "type": "bind"},
            {"destination": "/root/.ssh", "options": ["rbind"], "name": "sshkey", "source": "",
             "settable": ["source"], "type": "bind"}],
 "network": {"type": "host"},
 "propagatedmount": "/mnt/volumes"}
JSON

# berthd, which also puts the plugin into the registry.
b=$work/b
mkdir -p "$b"
"$bin/berthd" -H "unix://$b/b.sock" --data-root "$b/data" --exec-root "$b/exec" --pidfile "$b/pid" \
    --bridge none --registry-mirror "$mirror" 2>"$b/log" &
pids+=($!)
wait_sock "$b/b.sock"
export DOCKER_HOST=unix://$b/b.sock
docker plugin create "127.0.0.1:$port/vieux/sshfs" "$ctx" >/dev/null
docker plugin push "127.0.0.1:$port/vieux/sshfs" >/dev/null
docker plugin rm "127.0.0.1:$port/vieux/sshfs" >/dev/null
echo "berthd:  $(SDK7_FILES=plugin bash "$repo/scripts/sdk7-suite.sh" "unix://$b/b.sock" "$tests")"
docker plugin rm -f vieux/sshfs >/dev/null 2>&1 || true
docker plugin rm -f docker-sdk-py/dummy >/dev/null 2>&1 || true

# A private dockerd with the same mirror.
dd=$work/d
mkdir -p "$dd"
dockerd -H "unix://$dd/d.sock" --data-root "$dd/data" --exec-root "$dd/exec" --pidfile "$dd/pid" \
    --bridge none --iptables=false --registry-mirror "$mirror" >"$dd/log" 2>&1 &
pids+=($!)
wait_sock "$dd/d.sock"
echo "dockerd: $(SDK7_FILES=plugin bash "$repo/scripts/sdk7-suite.sh" "unix://$dd/d.sock" "$tests")"
DOCKER_HOST=unix://$dd/d.sock docker plugin rm -f vieux/sshfs >/dev/null 2>&1 || true
DOCKER_HOST=unix://$dd/d.sock docker plugin rm -f docker-sdk-py/dummy >/dev/null 2>&1 || true
