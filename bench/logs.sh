#!/usr/bin/env bash
# `docker logs` of a large json-file log, berthd beside a private dockerd (same run, same CLI, same
# log lines): for each size given (MiB; the log grows from one to the next by appending json-file
# lines directly to the container's log file, which both daemons read as written), the time of
# `docker logs --tail 3`, of `docker logs` (the whole log, through the CLI's demultiplexing) and of
# the endpoint alone (`GET /containers/{id}/logs?stdout=1&stderr=1` by curl), with berthd's peak RSS
# (VmHWM, reset before each read); then berthd's times as fractions of dockerd's. Compares berthd
# binaries when given several.
# Usage: bash bench/logs.sh [BERTHD...]   (as root; default: target/release/berthd, built here)
#        SIZES="50 400 2048" to choose the sizes; NO_DOCKERD=1 to leave dockerd out; REPS=N reads
#        per measure (the median is kept; default 5).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
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
    set +e
    if [ -n "$pid" ]; then
        DOCKER_HOST=unix://$work/s.sock docker rm -f big >/dev/null 2>&1
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    bench_unmount_under "$work"
    rm -rf "$work"
    return 0
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
ln -s busybox "$work/rootfs/bin/echo"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
export DOCKER_HOST=unix://$work/s.sock

peak() { [ -r "/proc/$pid/status" ] && awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
now() { date +%s.%N; }
# label, key, command...: runs the command REPS times (default 5; one read of a 50 MiB log through
# berthd varied 85-155 ms here) and prints the median seconds and (for berthd) the peak KiB over
# all of them; keeps the median as times[key].
reps=${REPS:-5}
declare -A times
timed() {
    local label=$1 key=$2; shift 2
    [ "$engine" = berthd ] && echo 5 > "/proc/$pid/clear_refs"
    local t0 t1 s all=() i
    for ((i = 0; i < reps; i++)); do
        t0=$(now)
        "$@" > /dev/null 2>&1
        t1=$(now)
        all+=("$(echo "$t1 - $t0" | bc)")
    done
    s=$(printf '%s\n' "${all[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p")
    times[$key]=$s
    if [ "$engine" = berthd ]; then
        printf '  %-22s %6.2f s  peak RSS %7d KiB\n' "$label" "$s" "$(peak)"
    else
        printf '  %-22s %6.2f s\n' "$label" "$s"
    fi
}

run_engine() { # engine label, then the daemon command line
    engine=$1; local label=$2; shift 2
    echo "== $label"
    rm -rf "$work/data" "$work/exec" "$work/s.sock"
    "$@" 2>"$work/$engine.log" &
    pid=$!
    for _ in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
    docker import "$work/rootfs.tar" bb >/dev/null
    docker run --name big bb echo first >/dev/null
    local id log have=0
    id=$(docker inspect -f '{{.Id}}' big)
    log=$(docker inspect -f '{{.LogPath}}' big)
    [ "$engine" = berthd ] && echo "  idle RSS $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") KiB"
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
        timed "logs --tail 3" "$engine/$mib/tail" docker logs --tail 3 big
        timed "logs (all)" "$engine/$mib/all" docker logs big
        timed "endpoint (curl)" "$engine/$mib/endpoint" curl -sf --unix-socket "$work/s.sock" \
            "http://d/containers/$id/logs?stdout=1&stderr=1"
    done
    docker rm -f big >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true
    pid=
    bench_unmount_under "$work"
}

if [ -z "${NO_DOCKERD:-}" ]; then
    run_engine dockerd "dockerd $(dockerd --version | awk '{print $3}' | tr -d ,)" \
        dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/docker.pid" \
        -H "unix://$work/s.sock" --bridge=none --iptables=false --ip-masq=false \
        --storage-driver=overlay2 --log-level=error
fi
for bin in "$@"; do
    # Siblings (shim, runtime, init) come from the release directory.
    run_engine berthd "$bin" \
        "$bin" -H "unix://$work/s.sock" --data-root "$work/data" --exec-root "$work/exec" \
        --bridge none --shim-binary "$target/berth-shim" --add-runtime "berth=$target/berth-runtime" \
        --init-path "$target/berth-init"
    if [ -z "${NO_DOCKERD:-}" ]; then
        for mib in $sizes; do
            for k in all endpoint; do
                printf '  %4s MiB %-9s berthd/dockerd %.3f\n' "$mib" "$k" \
                    "$(echo "${times[berthd/$mib/$k]} / ${times[dockerd/$mib/$k]}" | bc -l)"
            done
        done
    fi
done
