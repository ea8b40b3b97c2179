#!/usr/bin/env bash
# Interleaved A/B rounds of bench/build.sh's cached rebuild (`docker build -q --network none` of its
# unchanged project, every step from the cache): berthd builds (each from its own directory of
# berthd, berth-shim and berth-runtime binaries), the docker CLI alone against a server that answers
# as soon as it has read the context (bench_build_stub), and a private dockerd with its classic
# builder, one rebuild on each per round, every order of them in turn (bench_rounds; ROUNDS best a
# multiple of their number of orders: 6 for three, 24 for four). Prints median, quartiles and
# mean per engine, each median over the CLI alone's, and each berthd's share over the CLI alone (the
# median of the per-round differences).
# Usage: ROUNDS=48 GAP_MS=50 bash bench/build-ab.sh DIR_A DIR_B [DIR_C ...]
#   (as root; NO_DOCKERD=1 leaves dockerd out; LOG_LEVEL=debug and KEEP=DIR keep berthd's logs as
#   DIR/a.log, b.log, ...)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bash bench/build-ab.sh DIR_A [DIR_B ...]" >&2; exit 2; }
rounds=${ROUNDS:-48}
gap=${GAP_MS:-50}
docker=$(command -v docker)
work=$(mktemp -d /tmp/berth-build-ab.XXXXXX)
bench_name_dirs "$@"
berths=("${engines[@]}")
engines+=(cli-alone)
if [ -z "${NO_DOCKERD:-}" ]; then engines+=(docker); fi
pids=()
cleanup() {
    set +e
    bench_stop_pids
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; for h in "${berths[@]}"; do cp "$work/$h.log" "$KEEP"/; done; fi
    bench_unmount_under "$work"
    rm -rf "$work" 2>/dev/null || echo "some files of $work could not be removed" >&2
    return 0
}
trap cleanup EXIT

mkdir -p "$work/rootfs/tmp"
bench_image_tar "$work" sh true sleep cat ls mkdir cp echo wc
bench_build_project "$work"
bench_start_engines "$work"
bench_build_stub "$work/cli-alone.sock"
pids+=($!)
rebuild() {
    DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$work/$1.sock" "$docker" build -q --network none \
        -t out:bench "$work/ctx" >/dev/null 2>"$work/rebuild.err" || {
        cat "$work/rebuild.err" >&2
        return 1
    }
}
for h in "${engines[@]}"; do
    [ "$h" = cli-alone ] && continue
    for _ in $(seq 100); do DOCKER_HOST="unix://$work/$h.sock" "$docker" version >/dev/null 2>&1 && break; sleep 0.3; done
    DOCKER_HOST="unix://$work/$h.sock" "$docker" import "$work/bb.tar" bb:bench >/dev/null
    rebuild "$h"
    out=$(DOCKER_HOST="unix://$work/$h.sock" "$docker" run --rm --network none out:bench)
    [ "$out" = "$(printf 'blob.md5\nsize')" ] || { echo "$h built a wrong image: $out" >&2; exit 1; }
done
sync
mkdir -p "$work/warm" "$work/rounds"
bench_rounds "$work/warm" 2 "$gap" rebuild "${engines[@]}"
load0=$(cut -d' ' -f1 /proc/loadavg)
bench_rounds "$work/rounds" "$rounds" "$gap" rebuild "${engines[@]}"
echo "Cached rebuild, $rounds interleaved rounds (load average $load0 -> $(cut -d' ' -f1 /proc/loadavg)):"
for h in "${berths[@]}"; do echo "  $h: ${dirs[$h]}"; done
bench_rounds_summary "$work/rounds" cli-alone "${engines[@]}"
python3 - "$work/rounds" "${berths[@]}" <<'PY'
import statistics as st, sys
d = sys.argv[1]
t = lambda n: [int(x) / 1000 for x in open(f"{d}/{n}.times")]
cli = t("cli-alone")
for n in sys.argv[2:]:
    s = [x - c for x, c in zip(t(n), cli)]
    q1, m, q3 = st.quantiles(s, n=4, method="inclusive")
    print(f"  {n} over the CLI alone: median {m:.2f} ms (p25 {q1:.2f}, p75 {q3:.2f})")
PY
