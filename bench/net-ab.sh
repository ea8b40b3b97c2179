#!/usr/bin/env bash
# Interleaved A/B of what a user network adds to `docker run --rm IMG true`: berthd builds (each from
# its own directory of berthd, berth-shim, berth-runtime and berth-init binaries), each with a user
# network. Every round runs, on each build in turn, one `--network none` and one `--network benchnet`
# run one right after the other (order alternating), so a busy moment hits both halves of a pair and
# all builds alike. Prints per build the medians of both, their difference, the median and quartiles
# of the paired differences, and berthd's own timings from its debug log (namespace made, network
# setup, teardown of a networked container).
# Usage: ROUNDS=40 GAP_MS=50 bash bench/net-ab.sh DIR_A [DIR_B ...]   (as root)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bash bench/net-ab.sh DIR_A [DIR_B ...]" >&2; exit 2; }
rounds=${ROUNDS:-40}
gap=${GAP_MS:-50}
docker=$(command -v docker)
work=$(mktemp -d /tmp/berth-netab.XXXXXX)
tag=$(( $$ % 200 + 20 ))
bench_name_dirs "$@"
pids=()
cleanup() {
    set +e
    for h in "${engines[@]}"; do
        ids=$(DOCKER_HOST="unix://$work/$h.sock" "$docker" ps -aq 2>/dev/null || true)
        [ -n "$ids" ] && DOCKER_HOST="unix://$work/$h.sock" "$docker" rm -f $ids >/dev/null 2>&1
        DOCKER_HOST="unix://$work/$h.sock" "$docker" network prune -f >/dev/null 2>&1
    done
    bench_stop_pids
    for h in "${engines[@]}"; do
        chain="NAB$tag$h"
        iptables-save | grep -q "$chain" || continue
        bench_drop_bridge_chains "$chain"
    done
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; for h in "${engines[@]}"; do cp "$work/$h.log" "$KEEP"/; done; fi
    bench_unmount_under "$work"
    rm -rf "$work" 2>/dev/null || echo "some files of $work could not be removed" >&2
    return 0
}
trap cleanup EXIT

bench_image_tar "$work" sh true sleep

n=0
for h in "${engines[@]}"; do
    "${dirs[$h]}/berthd" -H "unix://$work/$h.sock" --data-root "$work/$h-data" --exec-root "$work/$h-exec" \
        --bridge none --firewall-prefix "NAB$tag$h" --log-level debug 2>"$work/$h.log" &
    pids+=($!)
    for _ in $(seq 100); do DOCKER_HOST="unix://$work/$h.sock" "$docker" version >/dev/null 2>&1 && break; sleep 0.3; done
    DOCKER_HOST="unix://$work/$h.sock" "$docker" import "$work/bb.tar" bb:bench >/dev/null
    DOCKER_HOST="unix://$work/$h.sock" "$docker" network create --subnet "10.240.$((tag + n)).0/24" benchnet >/dev/null
    n=$((n + 1))
    for _ in 1 2 3; do
        for net in none benchnet; do DOCKER_HOST="unix://$work/$h.sock" "$docker" run --rm --network $net bb:bench true; done
    done
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
sleep 1
for i in $(seq "$rounds"); do
    for h in "${engines[@]}"; do
        order="none benchnet"; [ $((i % 2)) = 0 ] && order="benchnet none"
        for net in $order; do
            t0=$(date +%s%N)
            DOCKER_HOST="unix://$work/$h.sock" "$docker" run --rm --network $net bb:bench true
            t1=$(date +%s%N)
            echo "$i $(((t1 - t0) / 1000))" >>"$work/$h.$net"
        done
        sleep "$(awk "BEGIN {print $gap / 1000}")"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for h in "${engines[@]}"; do
    python3 - "$h" "${dirs[$h]}" "$work/$h.none" "$work/$h.benchnet" "$work/$h.log" <<'PY'
import re, statistics, sys
h, d, none_f, net_f, log = sys.argv[1:]
read = lambda f: {int(a): int(b) / 1e3 for a, b in (l.split() for l in open(f))}
none, net = read(none_f), read(net_f)
m0, m1 = statistics.median(none.values()), statistics.median(net.values())
diff = [net[i] - none[i] for i in none if i in net]
q = statistics.quantiles(diff, n=4)
print(f"{h} ({d}): --network none {m0:.1f} ms, benchnet {m1:.1f} ms (medians of {len(none)}): "
      f"the network adds {m1 - m0:.1f} ms; paired {statistics.median(diff):.1f} ms ({q[0]:.1f} .. {q[2]:.1f})")
text = open(log).read()
# Runs of one build follow each other, so its log's lines come in the order of its runs: 3 warmup
# pairs (none first), then each round's pair (none first in odd rounds).
seq = ["none", "benchnet"] * 3
for i in sorted(none):
    seq += ["none", "benchnet"] if i % 2 else ["benchnet", "none"]
starts = re.findall(r"started container \w+ pid \d+ \(us from the request: bundle (\d+), shim and "
                    r"runtime (\w+) (\d+), ready to start \d+, .*? done (\d+)\)", text)
if len(starts) == len(seq):
    for net in ("none", "benchnet"):
        mine = [x for x, n in zip(starts, seq) if n == net][3:]
        med = lambda k: statistics.median(int(x[k]) for x in mine) / 1e3
        kinds = sorted({x[1] for x in mine})
        print(f"  start of a container on {net} (ms from berthd receiving it, medians): bundle "
              f"(and network) {med(0):.2f}, runtime {'/'.join(kinds)} returned {med(2):.2f}, started {med(3):.2f}")
for what, pat in (("namespace made", r"network namespace of \w+: (\d+) us"),
                  ("network setup", r"network setup of \w+: (\d+) us"),
                  ("teardown", r"user networks teardown of \w+: (\d+) us")):
    v = [int(x) / 1e3 for x in re.findall(pat, text)]
    if len(v) == len(seq):
        # Logged for every run: keep the networked ones.
        v = [x for x, net in zip(v, seq) if net == "benchnet"]
    v = v[3:]  # not the warmups'
    if len(v) > 1:
        q = statistics.quantiles(v, n=4)
        print(f"  berthd's {what}: median {statistics.median(v):.2f} ms ({q[0]:.2f} .. {q[2]:.2f}, n={len(v)})")
PY
done
