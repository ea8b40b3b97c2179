#!/usr/bin/env bash
# Interleaved A/B rounds of `docker run --rm --network none IMG true`: berthd builds (each from its own
# directory of berthd, berth-shim and berth-runtime binaries) and a private dockerd, one run on each per
# round in turn, so load changes on the host hit all of them alike. Prints mean, median, p25 and p75 per
# engine and the ratios to dockerd's median.
# With CLI_ALONE=1 (the default; 0 leaves it out) the rounds also time the docker CLI alone against a
# server that answers the run at once (bench_run_stub: "cli-alone", the client's floor, which no
# engine can go under), and it prints each engine's median over the CLI alone's, each engine's share
# (the median of its per-round differences from the CLI alone, with p25 and p75) and each berthd's
# share over dockerd's.
# Usage: ROUNDS=60 GAP_MS=100 bash bench/run-ab.sh DIR_A DIR_B [DIR_C ...]
#   (BURST=N: each engine's turn is N runs back to back, as hyperfine runs them in bench/engine.sh, so
#   each run after the first meets what the one before left running; the times are per run, the
#   turn's total over N)
#   (as root; NO_DOCKERD=1 leaves dockerd out; LOG_LEVEL=debug and KEEP=DIR keep berthd's logs, with
#   microseconds per step of start, exit and removal, as DIR/a.log, b.log, ..., and the rounds'
#   times as DIR/NAME.times, one line per round, and DIR/order)
# The rounds take every order of the engines in turn (bench_rounds; GAP_MS between runs, 5x that
# between rounds; ROUNDS best a multiple of the number of engines) and time each run from bash's
# EPOCHREALTIME. Up to 2026-12-06 17:12 (the figures below until then) the order was fixed (the
# berthds, then dockerd) and each run timed with two `date +%s%N`, which counted one fork and exec
# of date in every run.
# One binary with and without the bundle made ahead of a --rm start: a DIR whose `berthd` is a script
# `BERTHD_PRESTART=off exec /path/to/berthd "$@"` (berthd finds the shim and runtime beside the real one).
# 2026-12-06 (thin LTO, 2-core VM shared with 4 builds, load 4.6-5.1), 150 rounds: main at 817df28
# 39.9 ms median, with the runperf5 changes 38.2, the same without the bundle made ahead 40.8, dockerd
# 296.9 (0.134x -> 0.129x); at load 3.6-5: 44.4 / 44.6 / 44.5, dockerd 342.0 (0.130x each). At these
# loads the difference is inside the spread between rounds (-1.7 to +2.1 ms): see ARCHITECTURE.md.
# 2026-12-06 16:14 (fat LTO as in Cargo.toml, load 4.1-4.3 from other builds), 150 rounds, LOG_LEVEL=debug:
# main at d4fa2ff 51.9 ms median, with the runperf6 changes 49.2, those without the deferred refills
# 51.9, dockerd 472.0 (0.110x -> 0.104x); berthd's share 30.2 -> 27.1 ms (steps: ARCHITECTURE.md).
# Again at 16:25 (load 3.7-4.7): 41.6 / 43.1 ms, dockerd 319.3 (0.130x / 0.135x), berthd's share
# 22.5 / 22.3; at 16:33 (load 4.8-5.5) 47.5 / 51.2 ms, dockerd 465.9 (0.102x / 0.110x): at these loads
# the client's difference is inside the spread between rounds.
# A DIR whose `berthd` script sets BERTHD_NONE_NETNS=off leaves `--network none`'s namespace to the runtime.
# Session close (2026-12-06 16:58-17:12, quiet host, load 0.2-1.4, release as in Cargo.toml): main at
# d4fa2ff (a), 3811a47 (b) and with the refills 5 ms after a removal (c, c33bbd4). 100 rounds a/b:
# 26.8 / 26.7 ms, dockerd 206.0 (0.130x each); 80 rounds a/b with LOG_LEVEL=debug: 30.3 / 30.4,
# dockerd 230.0 (0.132x each; berthd's share 16.2 -> 15.0 ms, shim and runtime 7.6 -> 6.3, exit 0.57
# -> 0.46, removal 0.91 -> 0.59); 100 rounds a/b/c: 31.8 / 31.0 / 29.8, dockerd 241.6 (0.132x /
# 0.128x / 0.123x); 100 rounds b/c: 33.0 / 32.7, dockerd 255.7 (0.129x / 0.128x).
# With the CLI alone (2026-12-06 19:19-19:24, release as in Cargo.toml from main at 782886d, load
# 0.9-2.4 with the lead's conformance suites; `ROUNDS=60 GAP_MS=100 bash bench/run-ab.sh DIR`, DIR
# a copy of target/release's four binaries): medians a 34.3 / 33.0 ms, the CLI alone 19.8 / 23.0,
# dockerd 260.8 / 279.0 (a 0.131x / 0.118x dockerd's; the CLI alone 0.076x / 0.082x); berthd's share
# 13.5 ms (p25 10.2, p75 16.6) / 9.0 (6.2, 13.6), dockerd's 241.2 / 259.1, berthd's share 0.056x /
# 0.035x dockerd's. A/A (two copies of DIR, 60 rounds, load 0.9-1.3 rising during the run): 43.6 /
# 43.4 ms, the CLI alone 26.1, dockerd 329.1 (0.133x / 0.132x); shares 17.5 / 18.3 ms, 0.057x /
# 0.060x dockerd's 304.9. So of a run on berthd ~60-70% is the client's own: at 0.12x dockerd's
# time berthd may add at most 0.12x dockerd's minus the CLI alone, 11.5 ms in the first run above.
# Beside it (bench_rounds, 60 rounds, load 1.0-1.3): the stub advertising API 1.41 (dockerd's)
# instead of 1.47: 25.6 / 25.4 ms, no difference; `docker --version` 13.4 ms and /bin/true 1.2
# against the stub's run 23.5 ms: the CLI's start is over half of its floor. The stub answers each
# request in 0.15-0.6 ms (strace -f -tt of the CLI, under which the CLI spent ~5 ms between
# create's answer and the attach).
# Session 10 close (2026-12-06 19:27, quiet host, load 0.3-0.5, main at 782886d), 100 rounds: berthd
# 37.1 ms median, the CLI alone 23.7, dockerd 284.9: 0.130x dockerd's; berthd's share 13.1 ms (p25
# 10.3, p75 16.3), dockerd's 260.4, 0.050x. Earlier (19:13, load 1.5-2.2, 100 rounds, without the
# CLI-alone row) main at 958d8a4 / 782886d: 44.1 / 45.3 ms, dockerd 324.6 (0.136x / 0.140x).
# The spare directories (20:01, quiet, load 1.1, 100 rounds): main at 864803f / with the data
# directory made ahead / with the run directory and the snapshot's parent file too: 0.134x / 0.131x /
# 0.128x dockerd's median (319.4 ms); berthd's share over the CLI alone 18.1 / 15.4 / 15.4 ms.
# startpath (2026-12-06 22:28, load 0.75-0.9, 150 rounds): main at f46e149 37.1 ms median, with the
# early attach/wait connections, the deferred trash and the spare run directory's files 34.8, the CLI
# alone 22.0, dockerd 275.2 (0.135x / 0.126x); shares 14.7 / 12.7 ms; per-round difference -2.15 ms.
# Session 12 (2026-12-07 00:20-00:56, quiet host, 150 rounds each, the VM's speed moving between runs:
# dockerd 254-312 ms, the CLI alone 19.7-24.4): main at af92f3f (a) against the standby runtime (b),
# the socket bound after the hand-over (c) and the mount namespace held (d): 0.125x / 0.124x / 0.120x
# (shares 11.8 / 12.3 / 10.4 ms); a / c / d 0.121x / 0.120x / 0.120x (11.0 / 10.4 / 10.0 ms); a and
# the session's final code 0.119x / 0.117x (11.3 / 11.0 ms). Per-round differences from a (medians):
# -0.4 and -0.1 ms (b), -1.5 and -0.8 (c), -0.8 and -0.7 (d). With the init layer per image too
# (02:18 and 02:23, load 0.3-1.8): a 0.125x / 0.127x, final 0.118x / 0.119x (shares 14.3 -> 10.8 and
# 12.4 -> 10.4 ms; per round -2.57 and -2.45 ms, faster in 104 and 105 of 150).
# Session 13 (2026-12-07 04:08-04:13, load 0.4-2.0): main at 8104a45 (a) against b6802e8 (b: init
# mounts /sys/fs/cgroup last, standby runtime keeps its pages, `done` before the runtime's exit,
# fewer reads). 150 rounds: 0.114x / 0.113x of dockerd's median (283.6 ms), shares 10.3 / 10.0 ms,
# per round -0.65 ms (faster in 79). BURST=4 (back to back, 60 rounds): 0.128x / 0.119x (244.9 ms),
# shares 11.1 / 10.0, per turn -1.61 ms (36 of 60). With d43e231 (04:47-04:54): 0.116x / 0.115x
# (269.9 ms; -0.77 ms per round, faster in 86 of 150); BURST=4 0.124x / 0.123x (242.7 ms; -1.02 ms,
# 44 of 60).
# Session 14 (2026-12-07 06:53-07:00, load 0.5-1.3): main at 6aef68f (a) against afe419d (b: bundle
# files and exit.tmp written over instead of truncated, the default seccomp section kept). 150
# rounds: 0.112x / 0.112x of dockerd's median (223.3 ms), the CLI alone 17.3, shares 7.9 / 7.5 ms.
# BURST=4 (60 rounds): 0.120x / 0.115x (221.8 ms), the CLI alone 16.6, shares 9.2 / 8.9 ms.
# Session 15 (2026-12-07 10:34-10:40, load 1.1-2.3): main at 03036a0 (a) against d5e39a7 (b: the shim
# deletes a container of Berth's runtime in its own process). 150 rounds: 0.122x / 0.118x of dockerd's
# median (250.4 ms), the CLI alone 20.3, shares 10.6 / 9.2 ms, per-round median -1.71 ms (faster in 98
# of 150). BURST=4 (60 rounds): 0.125x / 0.122x (241.8 ms), shares 10.5 / 10.6 ms, +0.06 ms (29 of 60).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bash bench/run-ab.sh DIR_A [DIR_B ...]" >&2; exit 2; }
rounds=${ROUNDS:-50}
gap=${GAP_MS:-100}
docker=$(command -v docker)
work=$(mktemp -d /tmp/berth-ab.XXXXXX)
bench_name_dirs "$@"
berths=("${engines[@]}")
if [ "${CLI_ALONE:-1}" != 0 ]; then engines+=(cli-alone); fi
if [ -z "${NO_DOCKERD:-}" ]; then engines+=(docker); fi
pids=()
cleanup() {
    set +e
    for h in "${engines[@]}"; do
        [ "$h" = cli-alone ] && continue
        ids=$(DOCKER_HOST="unix://$work/$h.sock" "$docker" ps -aq 2>/dev/null || true)
        [ -n "$ids" ] && DOCKER_HOST="unix://$work/$h.sock" "$docker" rm -f $ids >/dev/null 2>&1
    done
    bench_stop_pids
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        for h in "${berths[@]}"; do cp "$work/$h.log" "$KEEP"/; done
        cp "$work"/rounds/* "$KEEP"/ 2>/dev/null
    fi
    bench_unmount_under "$work"
    rm -rf "$work" 2>/dev/null || echo "some files of $work could not be removed" >&2
    return 0
}
trap cleanup EXIT

bench_image_tar "$work" sh true sleep

bench_start_engines "$work"
if [[ " ${engines[*]} " == *" cli-alone "* ]]; then
    bench_run_stub "$work/cli-alone.sock"
    pids+=($!)
fi
burst=${BURST:-1}
run1() { DOCKER_HOST="unix://$work/$1.sock" "$docker" run --rm --network none bb:bench true; }
run() { local i; for ((i = 0; i < burst; i++)); do run1 "$1"; done; }
for h in "${engines[@]}"; do
    for _ in $(seq 100); do DOCKER_HOST="unix://$work/$h.sock" "$docker" version >/dev/null 2>&1 && break; sleep 0.3; done
    [ "$h" = cli-alone ] || DOCKER_HOST="unix://$work/$h.sock" "$docker" import "$work/bb.tar" bb:bench >/dev/null
    for _ in 1 2 3; do run1 "$h"; done
done
sleep 1
mkdir -p "$work/rounds"
load0=$(cut -d' ' -f1 /proc/loadavg)
bench_rounds "$work/rounds" "$rounds" "$gap" run "${engines[@]}"
if [ "$burst" != 1 ]; then
    for f in "$work"/rounds/*.times; do awk -v n="$burst" '{printf "%d\n", $1 / n}' "$f" >"$f.1" && mv "$f.1" "$f"; done
fi
for h in "${engines[@]}"; do
    sort -n "$work/rounds/$h.times" | awk -v h="$h" '{v[NR] = $1; s += $1} END {
        printf "%s: mean %.1f ms, median %.1f, p25 %.1f, p75 %.1f (%d runs)\n", h, s / NR / 1000,
            v[int((NR + 1) / 2)] / 1000, v[int(NR / 4) + 1] / 1000, v[int(NR * 3 / 4)] / 1000, NR
    }' | tee -a "$work/summary"
done
if [[ " ${engines[*]} " == *" docker "* ]]; then
    med() { sort -n "$work/rounds/$1.times" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
    d=$(med docker)
    for h in "${berths[@]}"; do
        echo "$h (${dirs[$h]}): median $(awk "BEGIN {printf \"%.3f\", $(med "$h") / $d}")x dockerd's"
    done
fi
if [[ " ${engines[*]} " == *" cli-alone "* ]]; then
    python3 - "$work/rounds" "${engines[@]}" <<'PY'
import statistics as st, sys
d, names = sys.argv[1], [n for n in sys.argv[2:] if n != "cli-alone"]
t = lambda n: [int(x) / 1000 for x in open(f"{d}/{n}.times")]
cli = t("cli-alone")
share = {}
for n in names:
    s = [x - c for x, c in zip(t(n), cli)]
    q1, share[n], q3 = st.quantiles(s, n=4, method="inclusive")
    print(f"{n}: median {st.median(t(n)) / st.median(cli):.3f}x the CLI alone's; share over the CLI alone "
          f"{share[n]:.1f} ms (p25 {q1:.1f}, p75 {q3:.1f})")
if "docker" in share:
    for n in names:
        if n != "docker":
            print(f"{n}: share {share[n] / share['docker']:.3f}x dockerd's")
PY
fi
echo "load at the first round: $load0"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
