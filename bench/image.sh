#!/usr/bin/env bash
# Pull a generated ~200 MB multi-layer image from a private local docker-registry with Berth (pull + unpack
# into overlay snapshots), skopeo (copy to a dir, no unpack) and a private dockerd (`docker pull`, which
# unpacks), in one hyperfine run; Berth's unpack alone is timed too. Needs root, docker-registry, skopeo,
# docker.io and hyperfine. Everything it starts it stops by PID; everything lives under one temp dir.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-200}
LAYERS=${LAYERS:-5}
RUNS=${RUNS:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-image}

for t in docker-registry skopeo hyperfine dockerd; do
    command -v "$t" >/dev/null || { echo "bench/image.sh: $t is not installed" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/image.sh: needs root (dockerd, overlay mounts)" >&2; exit 1; }
DOCKER=/usr/bin/docker; [ -x "$DOCKER" ] || DOCKER=$(command -v docker)

W=$(mktemp -d /tmp/berth-bench.XXXXXX)
REG_PID=""; DOCKERD_PID=""
cleanup() {
    local rc=$?
    set +e
    [ -n "$DOCKERD_PID" ] && kill "$DOCKERD_PID" 2>/dev/null && for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null
    grep -o " $W[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$W"
    exit "$rc"
}
trap cleanup EXIT

(cd "$HERE" && cargo build -q --release -p berth-image --example berth-image-pull)
BERTH="$CARGO_TARGET_DIR/release/examples/berth-image-pull"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat > "$W/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/registry
http:
  addr: $REG
YML
docker-registry serve "$W/registry.yml" 2>"$W/registry.log" &
REG_PID=$!
for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

IMAGE=$REG/bench/big:1
echo "generating and pushing ${SIZE_MIB} MiB in $LAYERS layers to $IMAGE"
"$BERTH" gen-push "$IMAGE" "$SIZE_MIB" "$LAYERS" --insecure

DS=overlay2; grep -q overlay /proc/filesystems || DS=vfs
dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" --pidfile "$W/docker.pid" -H "unix://$W/docker.sock" \
    --bridge=none --iptables=false --ip-masq=false --storage-driver=$DS --insecure-registry "$REG" \
    --log-level=error 2>"$W/dockerd.log" &
DOCKERD_PID=$!
D="$DOCKER -H unix://$W/docker.sock"
for _ in $(seq 150); do $D version >/dev/null 2>&1 && break; sleep 0.2; done

hyperfine --runs "$RUNS" --export-markdown "$W/results.md" \
    --prepare "rm -rf $W/berth $W/berth-snap" \
    -n "berth pull+unpack" "$BERTH pull $W/berth $IMAGE --insecure --unpack $W/berth-snap" \
    --prepare "rm -rf $W/berth-pull" \
    -n "berth pull only" "$BERTH pull $W/berth-pull $IMAGE --insecure" \
    --prepare "rm -rf $W/skopeo" \
    -n "skopeo copy (no unpack)" "skopeo copy -q --src-tls-verify=false docker://$IMAGE dir:$W/skopeo" \
    --prepare "$D rmi -f $IMAGE >/dev/null 2>&1 || true" \
    -n "docker pull (unpacks)" "$D pull -q $IMAGE" \
    --prepare "rm -rf $W/berth-snap2" \
    -n "berth unpack only" "$BERTH unpack $W/berth $IMAGE $W/berth-snap2"
cat "$W/results.md"
