#!/usr/bin/env bash
# berth-runtime beside runc and crun, in one hyperfine run per scenario:
#   `run` of /bin/true, create+start+delete, `list`; then the peak RSS of
#   `run` and the RSS of the parked init between create and start.
# crun 1.8 refuses this machine's hybrid cgroup layout, so everything runs
# in a private mount namespace with /sys/fs/cgroup/unified unmounted, and
# the bundle says ociVersion 1.0.2 (crun 1.8 refuses newer ones).
# Usage: bash bench/runtime.sh [runs]   (as root; BLOCKS=8 pairs of alternating blocks of `run`)
# BERTH_BENCH_BASE=/path/to/older/berth-runtime adds that binary as a fourth
# command ("berth-base") to `run` and the memory table, to compare a change
# with what it replaces in the same run.
# Figures (release profile as in Cargo.toml, 2 shared cores, load ~1.5-2.5, 30 runs, after the
# DT_RELR link; berth-base = main at ab33cb3): `run` back to back berth 4.22 ms, crun/berth 1.34
# (0.75x crun; goal 0.7x), base/berth 0.98; 100 ms apart berth 6.46 ms, crun/berth 4.16;
# create+start+delete crun/berth 1.86; list 2.09. Peak RSS of `run` (binaries read back into
# the page cache): berth 3364 kB, crun 3396 (3312-3440 over runs), base 3404; parked init
# 688 kB (crun 2132). With the state directories on a tmpfs instead of ext4 /tmp the `run`
# ratio was 0.70-0.75x (ext4 scans its recently deleted inodes at every create, and a run
# creates four: the state directory, exec.fifo, config.json, state.json).
# Session close (2026-12-06 11:46, quiet host, load 1.1, release as in Cargo.toml, `30`): run back to
# back berth 3.83 ms median, crun/berth 1.23 (0.81x; crun's median 4.71 ms, faster than in earlier
# runs), runc/berth 3.06; 100 ms apart berth 5.52 ms, crun/berth 4.15; create+start+delete
# crun/berth 1.72; list 1.86. Peak RSS of run: berth 3364 kB, crun 3392; parked init 688 against
# 2180 kB. bench/runtime-ab.sh, 300 interleaved rounds (12:09, load 1.2-1.7): berth 5.66 ms median,
# crun 9.25 (0.61x; interleaved, crun's runs do not follow each other and meet the cgroup lock idle).
# Session 5 (2026-12-06 13:51, host NOT quiet: load 4-8 from other builds, so times are 4-5x the
# quiet ones and hyperfine's blocks are noise: run crun/berth 0.99, base/berth 0.85 this time;
# BERTH_BENCH_BASE = main at 817df28, `30`). Peak RSS of run: berth 2980 kB (base 3364), crun 3388
# (3296-3400 over the session's runs); parked init 684 kB (crun 2168). bench/runtime-ab.sh, 300-400
# interleaved rounds at load 6-8: this round's head against base 0.961, 0.986 and 1.047 (medians;
# per-round 0.969, 0.989, 0.994), head/crun 0.62. The round's changes: 770 -> 687 syscalls per run
# (cgroup dirs with one mkdir/rmdir, config.json written during init's mounts, run's teardown from
# memory) and a page sweep once the config is loaded (26 more faults, peak RSS -384 kB). Where the
# time goes, beside crun: ARCHITECTURE.md, the paragraph "Time of `run` /bin/true".
# Session close (2026-12-06 14:33 and 14:44, quiet host, load 0.9-1.2, release as in Cargo.toml, main
# at 3c17fb2), two runs of `30`: run back to back berth 4.80 / 5.97 ms, crun/berth 1.39 / 1.27 (0.72x /
# 0.79x), runc/berth 3.73 / 3.63; 100 ms apart crun/berth 4.95 / 3.66; create+start+delete 2.21 /
# 1.72; list 2.44 / 2.18. Peak RSS of run: berth 2980 kB, crun 3364 / 3376; parked init 684 kB
# against 2272 / 2204.
# Session 6 (2026-12-06 16:24-16:26, host NOT quiet: load 2-3.3 from other builds; release as in
# Cargo.toml; BERTH_BENCH_BASE = this round's start, d4fa2ff; head 1366b43). `30` twice and `100`
# once: run back to back berth 4.80 / 4.06 / 5.61 ms median, crun/berth 1.09 / 1.92 / 1.22
# (0.92x / 0.52x / 0.82x: hyperfine's blocks swing with the load, so not the quiet-host figure the
# goal asks for), base/berth 0.82 / 1.39 / 1.13; 100 ms apart crun/berth 3.63 / 3.91 / 2.87;
# create+start+delete 1.82 / 2.11 / 1.24; list 2.12 / 2.26 / 1.62. Peak RSS of run: berth 2988 kB,
# crun 3328-3400, base 3100; parked init 680 kB (crun 2132-2216). perf stat -r 100, back to back
# (load ~2.4): berth 9.22 / 8.65 ms elapsed and 4.1 / 5.3 ms task-clock, crun 14.55 / 13.66 and
# 8.2 / 8.4, base 9.25 and 5.8. bench/runtime-ab.sh, 400 interleaved rounds (load 2-3.3): head/crun
# 0.445 (per-round 0.474), head/base 0.812 (0.829); with the config berthd writes for `docker run
# --network none` (200 rounds): head/base 0.871 (0.861), head/crun 0.213. The round's changes: a
# run's state directory holds one file (the config inside state.json, no exec.fifo: init is
# released over the sync socket after the state is written), and a removed container's emptied
# directory (its state file kept as state.tmp, overwritten rather than truncated) is parked as
# <root>/.spare for the next create; per 100 runs (perf stat -a, ext4 tracepoints) base made 400
# inodes and 100 discards (the rmdir of the state directory waits for the disk's discard, ~2-3 ms
# at load 6), head 0 and 0; init reads the mount table once less. Syscalls per run 689 -> 660.
# Session close (2026-12-06 16:57-17:19, quiet host, load 0.1-0.9 except the fourth run (2.7, right
# after engine.sh); release as in Cargo.toml, main at 3811a47; `30` four times, the third with
# BERTH_BENCH_BASE = d4fa2ff): run back to back berth 4.97 / 4.11 / 5.26 / 5.67 ms median, crun/berth
# 2.06 / 1.44 / 1.48 / 1.14 (0.49x / 0.69x / 0.68x / 0.88x; crun's own median swung 6.8-12 ms
# between runs: its rmdir of the state directory waits for this disk's discard), base/berth 1.12;
# 100 ms apart crun/berth 4.96 / 4.61 / 4.49 / 4.2; create+start+delete 1.5 / 2.34 / 2.32 / 1.57;
# list 2.16 / 1.49 / 2.88 / 2.1. Peak RSS of run: berth 3004 kB (base 2868 in the same run), crun
# 3312-3400; parked init 684-688 kB against crun 2104-2172. The same with /tmp a tmpfs (the state
# directories there, as on hosts whose /run is a tmpfs; `unshare -m` + `mount -t tmpfs tmpfs /tmp`,
# 17:39, load 0.1, BERTH_BENCH_BASE = d4fa2ff): run berth 3.9 ms, crun/berth 1.24 (0.81x), base/berth
# 0.96: without ext4's discard the state-directory reuse gains nothing and the goal is not met there.
# Session 10 (2026-12-06 19:08-19:35, quiet host, load 0.3-1.3, release as in Cargo.toml, main at
# 782886d+; this VM ran everything ~1.4x slower than the last session's: /bin/true 0.8 ms, docker
# --version 14.5 ms): `30` three times and `60` twice, run back to back crun/berth 1.46 / 1.79 / 1.33 /
# 1.13 / 1.38 (0.68x / 0.56x / 0.75x / 0.88x / 0.72x; berth 5.9-8.0 ms median); then with the
# alternating pairs of blocks (`30`, 8 pairs) three times: median of the pairs' ratios 0.692 / 0.715 /
# 0.697 (pairs from 0.51 to 0.79; berth's block medians 5.3-8.2 ms, crun's 8.7-11.3), single blocks
# 0.74x / 0.64x / 0.72x. 100 ms apart crun/berth 3.2-3.5. Peak RSS of run: berth 3008 kB, crun
# 3356-3400; parked init 680-684 kB (crun 2068-2240). bench/runtime-ab.sh 300 interleaved rounds:
# berth/crun 0.621 (ext4), 0.516 (BERTH_AB_TMPFS=1).
# Session 11 (2026-12-06 23:16-23:19, quiet host, load 1.1-1.6, main at 129cd5a: the command line read
# without clap, no drop before init's clone), `30` five times: run back to back crun/berth 2.15 / 1.53 /
# 1.63 / 1.73 / 1.68 (0.47x / 0.65x / 0.61x / 0.58x / 0.60x; berth 5.4-7.8 ms median); median of the
# alternating pairs' ratios 0.701 / 0.644 / 0.647 / 0.652 / 0.624 (pairs 0.51-0.77). 100 ms apart
# crun/berth 3.33-3.7; create+start+delete 1.95-2.49; list 1.79-2.3. Peak RSS of run: berth 2896 kB, crun
# 3324-3372; parked init 704-712 kB (crun 2108-2300).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}

if [ -z "${BERTH_BENCH_INNER:-}" ]; then
    cargo build --release -p berth-runtime >&2
    export BERTH_BENCH_INNER=1
    exec unshare -m --propagation private bash "$0" "$@"
fi
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi

berth="$PWD/target/release/berth-runtime"
runc=$(command -v runc)
crun=$(command -v crun)
base=${BERTH_BENCH_BASE:-}
runtimes="berth runc crun${base:+ base}"
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'for r in $runtimes; do for id in $("${!r}" --root "$work/$r" list -q 2>/dev/null); do "${!r}" --root "$work/$r" delete -f "$id" 2>/dev/null; done; done; rm -rf "$work"' EXIT

mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/etc"
cp /bin/busybox "$work/bundle/rootfs/bin/"
for t in sh true sleep; do ln -s busybox "$work/bundle/rootfs/bin/$t"; done
"$berth" spec --bundle "$work/bundle"
jq '.ociVersion="1.0.2" | .process.terminal=false | .process.args=["/bin/true"]' "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
b="$work/bundle"

echo "## versions"
"$berth" --version | head -1; "$runc" --version | head -1; "$crun" --version | head -1
echo

echo "## run /bin/true"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" \
    -n berth-runtime "$berth --root $work/berth run -b $b bench" \
    -n runc "$runc --root $work/runc run -b $b bench" \
    -n crun "$crun --root $work/crun run -b $b bench" \
    ${base:+-n berth-base "$base --root $work/base run -b $b bench"}

# The same back-to-back runs of berth-runtime and crun in alternating blocks (the order swapped
# every pair), so a load that comes and goes during the run lands on both: one block each is
# what the table above compares, and on this VM one block's median moves by 20-30% from block to
# block. Per pair the ratio of the two blocks' medians; the figure is the median of those ratios.
blocks=${BLOCKS:-8}
echo "## run /bin/true back to back, $blocks alternating pairs of blocks of $runs runs (berth-runtime, crun)"
for ((k = 0; k < blocks; k++)); do
    order="berth crun"
    if ((k % 2)); then order="crun berth"; fi
    for r in $order; do
        hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$work/blk-$r-$k.json" \
            -n "$r" "${!r} --root $work/$r run -b $b bench" >/dev/null
    done
done
python3 - "$work" "$blocks" <<'PY' | tee "$work/blocks.txt"
import json, statistics as st, sys
w, n = sys.argv[1], int(sys.argv[2])
med = {r: [json.load(open(f"{w}/blk-{r}-{k}.json"))["results"][0]["median"] * 1000 for k in range(n)]
       for r in ("berth", "crun")}
ratios = [b / c for b, c in zip(med["berth"], med["crun"])]
for r, v in med.items():
    print(f"  {r:<6} block medians (ms): " + " ".join(f"{x:.2f}" for x in v))
print("  berth/crun per pair: " + " ".join(f"{x:.2f}" for x in ratios))
print(f"  median of the pairs' ratios {st.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f});"
      f" pairs at or under 0.7: {sum(x <= 0.7 for x in ratios)} of {n}")
PY

# Back to back, the runs above keep the kernel's cgroup lock warm for runtimes that move
# processes by pid (runc, crun): its first writer after a quiet spell waits for an RCU grace
# period, the next ones within a grace period do not. berth-runtime moves nobody by pid. An
# isolated `docker run` meets the lock idle: the same runs, 100 ms apart (not timed).
echo "## run /bin/true, 100 ms apart"
hyperfine -N --warmup 3 --runs "$runs" --prepare "sleep 0.1" --export-json "$work/spaced.json" \
    -n berth-runtime "$berth --root $work/berth run -b $b bench" \
    -n runc "$runc --root $work/runc run -b $b bench" \
    -n crun "$crun --root $work/crun run -b $b bench" \
    ${base:+-n berth-base "$base --root $work/base run -b $b bench"}

echo "## create + start + delete"
hyperfine --warmup 3 --runs "$runs" --export-json "$work/csd.json" \
    -n berth-runtime "$berth --root $work/berth create -b $b csd && $berth --root $work/berth start csd && $berth --root $work/berth delete -f csd" \
    -n runc "$runc --root $work/runc create -b $b csd && $runc --root $work/runc start csd && $runc --root $work/runc delete -f csd" \
    -n crun "$crun --root $work/crun create -b $b csd && $crun --root $work/crun start csd && $crun --root $work/crun delete -f csd"

# Five created containers each, so `list` has something to read.
for r in $runtimes; do
    for i in 1 2 3 4 5; do "${!r}" --root "$work/$r" create -b "$b" "l$i" >/dev/null; done
done
echo "## list (5 created containers)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/list.json" \
    -n berth-runtime "$berth --root $work/berth list" \
    -n runc "$runc --root $work/runc list" \
    -n crun "$crun --root $work/crun list"

echo "## memory (kB)"
# Peak RSS counts the binary's file-backed pages (shared page cache); the
# parked init's anonymous RSS is the memory a created container really costs.
# A binary's pages count by the page-cache folios they sit in, and those depend on how the
# file reached the cache (written whole by a linker or cp: large folios, mapped a folio at
# a time; read back by page faults: read-ahead's folios): 300 kB apart for the same berth
# binary. So each binary is written back, dropped from the cache (GNU dd's nocache) and
# read back by one run before its five are measured, as a binary is cached after a reboot.
printf '%-14s %12s %16s %16s %16s %10s\n' runtime "peak RSS run" "parked init RSS" "parked init anon" "parked init file" "binary"
for r in $runtimes; do
    bin=${!r}
    sync "$bin" && dd if="$bin" iflag=nocache count=0 status=none
    "$bin" --root "$work/$r" run -b "$b" rss >/dev/null 2>&1
    peaks=()
    for i in 1 2 3 4 5; do
        peaks+=("$(/usr/bin/time -f %M "$bin" --root "$work/$r" run -b "$b" rss 2>&1 >/dev/null | tail -1)")
    done
    peak=$(printf '%s\n' "${peaks[@]}" | sort -n | sed -n 3p)
    pid=$("$bin" --root "$work/$r" state l1 | jq .pid)
    parked=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    anon=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")
    file=$(awk '/RssFile/ {print $2}' "/proc/$pid/status")
    size=$(( $(stat -L -c %s "$bin") / 1024 ))
    printf '%-14s %12s %16s %16s %16s %10s\n' "$r" "$peak" "$parked" "$anon" "$file" "$size"
done
echo

echo "## ratios (median time of runc, crun (and berth-base) / berth-runtime; above 1 means berth is faster)"
for f in run spaced csd list; do
    jq -r --arg f "$f" '
        (.results | map({(.command): .median}) | add) as $m
        | "\($f): berth \($m["berth-runtime"]*1000 | .*100|round/100) ms, runc/berth \($m.runc/$m["berth-runtime"] | .*100|round/100), crun/berth \($m.crun/$m["berth-runtime"] | .*100|round/100)"
        + (if $m["berth-base"] then ", base/berth \($m["berth-base"]/$m["berth-runtime"] | .*100|round/100)" else "" end)' "$work/$f.json"
done
echo "run, $blocks alternating pairs of blocks: $(tail -1 "$work/blocks.txt" | sed 's/^ *//')"
