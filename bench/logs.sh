#!/usr/bin/env bash
# `docker logs` of a large json-file log: time and berthd's peak RSS (VmHWM, reset before each
# read) for the whole log and for --tail 3, at each size given (MiB; the log grows from one to the
# next by appending json-file lines directly). Compares berthd binaries when given several.
# Usage: bash bench/logs.sh [BERTHD...]   (as root; default: target/release/berthd, built here)
#        SIZES="50 400 2048" to choose the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}/release"
sizes=${SIZES:-"50 400"}
if [ $# -eq 0 ]; then
    cargo build --release -p berthd -p berth-shim -p berth-runtime -p berth-init >&2
    set -- "$target/berthd"
fi
work=$(mktemp -d /tmp/berth-bench-logs.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        DOCKER_HOST=unix://$work/s.sock docker rm -f big >/dev/null 2>&1 || true
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
ln -s busybox "$work/rootfs/bin/echo"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
export DOCKER_HOST=unix://$work/s.sock

peak() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
timed() { # label, docker args...: seconds and peak KiB
    local label=$1; shift
    echo 5 > "/proc/$pid/clear_refs"
    local t0 t1
    t0=$(date +%s.%N)
    docker "$@" > /dev/null 2>&1
    t1=$(date +%s.%N)
    printf '  %-22s %6.2f s  peak RSS %7d KiB\n' "$label" "$(echo "$t1 - $t0" | bc)" "$(peak)"
}

for bin in "$@"; do
    echo "== $bin"
    rm -rf "$work/data" "$work/exec"
    # Siblings (shim, runtime, init) come from the release directory.
    "$bin" -H "unix://$work/s.sock" --data-root "$work/data" --exec-root "$work/exec" \
        --bridge none --shim-binary "$target/berth-shim" --add-runtime "berth=$target/berth-runtime" \
        --init-path "$target/berth-init" 2>"$work/berthd.log" &
    pid=$!
    for _ in $(seq 100); do [ -S "$work/s.sock" ] && break; sleep 0.1; done
    docker import "$work/rootfs.tar" bb >/dev/null
    docker run --name big bb echo first >/dev/null
    id=$(docker inspect -f '{{.Id}}' big)
    log="$work/data/containers/$id/$id-json.log"
    have=0
    echo "  idle RSS $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") KiB"
    for mib in $sizes; do
        python3 - "$log" $((mib - have)) <<'PY'
import sys
line = ('{"log":"%s\\n","stream":"stdout","time":"2026-12-05T10:00:00.000000000Z"}\n' % ("filler " * 20)).encode()
block = line * ((1 << 20) // len(line))
with open(sys.argv[1], "ab") as f:
    for _ in range(int(sys.argv[2])):
        f.write(block)
PY
        have=$mib
        echo " $mib MiB log:"
        timed "logs --tail 3" logs --tail 3 big
        timed "logs (all)" logs big
    done
    docker rm -f big >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true
    pid=
done
