#!/usr/bin/env bash
# berthd beside a private dockerd, with the same docker CLI and the same busybox image:
#   hyperfine of `docker run --rm --network none IMG true`, N sequential `run -d`, `docker ps` with
#   them running, the daemons' idle RSS and the memory each running container adds (shim PSS).
# podman's service is not measured here yet.
# Usage: bash bench/engine.sh [runs] [containers]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
n=${2:-50}
target=${CARGO_TARGET_DIR:-$PWD/target}
CARGO_TARGET_DIR=$target cargo build --release -p berthd -p berth-shim -p berth-runtime >&2
docker=$(command -v docker)
work=$(mktemp -d /tmp/berth-engine.XXXXXX)
pids=()
cleanup() {
    set +e
    for h in "unix://$work/berth.sock" "unix://$work/docker.sock"; do
        ids=$(DOCKER_HOST=$h "$docker" ps -aq 2>/dev/null || true)
        [ -n "$ids" ] && DOCKER_HOST=$h "$docker" rm -f $ids >/dev/null 2>&1 || true
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; done
    grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf "$work" 2>/dev/null || echo "some files of $work could not be removed" >&2
    return 0
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/bb.tar" .

"$target/release/berthd" -H "unix://$work/berth.sock" --data-root "$work/berth-data" \
    --exec-root "$work/berth-exec" --log-level error 2>"$work/berthd.log" &
pids+=($!); berthd_pid=$!
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
    -H "unix://$work/docker.sock" --bridge=none --iptables=false --ip-masq=false \
    --storage-driver=overlay2 --log-level=error 2>"$work/dockerd.log" &
pids+=($!); dockerd_pid=$!
for h in berth docker; do
    for _ in $(seq 100); do DOCKER_HOST="unix://$work/$h.sock" "$docker" version >/dev/null 2>&1 && break; sleep 0.3; done
    DOCKER_HOST="unix://$work/$h.sock" "$docker" import "$work/bb.tar" bb:bench >/dev/null
done
sleep 2
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
containerd_pid=$(pgrep -P "$dockerd_pid" containerd || true)
echo "idle RSS (kB): berthd $(rss "$berthd_pid"); dockerd $(rss "$dockerd_pid") + containerd $( [ -n "$containerd_pid" ] && rss "$containerd_pid" || echo n/a)"

hyperfine -N --warmup 3 --runs "$runs" \
    -n berthd "env DOCKER_HOST=unix://$work/berth.sock $docker run --rm --network none bb:bench true" \
    -n dockerd "env DOCKER_HOST=unix://$work/docker.sock $docker run --rm --network none bb:bench true"

for h in berth docker; do
    export DOCKER_HOST="unix://$work/$h.sock"
    start=$(date +%s.%N)
    for i in $(seq "$n"); do "$docker" run -d --network none bb:bench sleep 600 >/dev/null; done
    end=$(date +%s.%N)
    echo "$h: $n sequential run -d: $(awk "BEGIN {printf \"%.2f\", $end - $start}") s"
    hyperfine -N --runs 10 -n "$h ps ($n running)" "env DOCKER_HOST=$DOCKER_HOST $docker ps -q"
    if [ "$h" = berth ]; then
        pss=$(for p in $(pgrep -f "berth-shim --id"); do awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup"; done | awk '{s+=$1; c++} END {printf "%.0f kB over %d shims, %.0f kB each", s, c, s/c}')
    else
        pss=$(for p in $(pgrep -f "containerd-shim"); do awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup"; done | awk '{s+=$1; c++} END {if (c) printf "%.0f kB over %d shims, %.0f kB each", s, c, s/c; else print "n/a"}')
    fi
    echo "$h: shim PSS $pss"
    "$docker" rm -f $("$docker" ps -aq) >/dev/null
done
