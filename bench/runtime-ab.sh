#!/usr/bin/env bash
# Interleaved timing of `run /bin/true` for A/B comparisons on a shared,
# loaded machine: each round runs every runtime once, in a rotating order,
# so load from other processes falls on all of them alike (hyperfine runs
# each command's runs in one block, so a load spike lands on one of them).
# Prints median, p10, p25 and min per runtime, and for the first against
# each other both the ratio of medians and the median of per-round ratios.
# Usage (as root): bash bench/runtime-ab.sh ROUNDS name=/path/to/runtime ...
#   e.g. bash bench/runtime-ab.sh 200 new=target/release/berth-runtime \
#            old=/tmp/berth-runtime.old crun=$(command -v crun)
# Like bench/runtime.sh it runs in a private mount namespace with
# /sys/fs/cgroup/unified unmounted and a bundle saying ociVersion 1.0.2
# (crun 1.8 refuses the hybrid layout and newer versions).
set -euo pipefail
if [ -z "${BERTH_AB_INNER:-}" ]; then
    export BERTH_AB_INNER=1
    exec unshare -m --propagation private bash "$0" "$@"
fi
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
rounds=$1
shift
work=$(mktemp -d /tmp/berth-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/etc"
cp /bin/busybox "$work/bundle/rootfs/bin/"
ln -s busybox "$work/bundle/rootfs/bin/true"
first=${1#*=}
"$first" spec --bundle "$work/bundle"
jq '.ociVersion="1.0.2" | .process.terminal=false | .process.args=["/bin/true"]' \
    "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
python3 - "$rounds" "$work" "$@" <<'PY'
import statistics, subprocess, sys, time
rounds, work = int(sys.argv[1]), sys.argv[2]
rts = [a.split("=", 1) for a in sys.argv[3:]]
times = {n: [] for n, _ in rts}
for r in range(rounds + 3):  # the first 3 rounds warm up
    k = r % len(rts)
    for name, path in rts[k:] + rts[:k]:
        cmd = [path, "--root", f"{work}/{name}", "run", "-b", f"{work}/bundle", "ab"]
        t0 = time.perf_counter_ns()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = (time.perf_counter_ns() - t0) / 1e6
        if p.returncode != 0:
            sys.exit(f"{name} failed ({p.returncode}): {p.stderr.decode()}")
        if r >= 3:
            times[name].append(dt)
for name, _ in rts:
    t = times[name]
    q = statistics.quantiles(t, n=20)
    print(f"{name:12s} median {statistics.median(t):7.2f} ms  p10 {q[1]:6.2f}"
          f"  p25 {statistics.quantiles(t, n=4)[0]:6.2f}  min {min(t):6.2f}")
ref = rts[0][0]
for name, _ in rts[1:]:
    paired = statistics.median(a / b for a, b in zip(times[ref], times[name]))
    print(f"{ref}/{name}: ratio of medians "
          f"{statistics.median(times[ref]) / statistics.median(times[name]):.3f}, "
          f"median of per-round ratios {paired:.3f}")
PY
