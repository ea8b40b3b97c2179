#!/usr/bin/env bash
# Interleaved timing of `run /bin/true` for A/B comparisons on a shared,
# loaded machine: each round runs every runtime once, in a rotating order,
# so load from other processes falls on all of them alike (hyperfine runs
# each command's runs in one block, so a load spike lands on one of them).
# Prints median, p10, p25 and min per runtime, the mean CPU time of a run
# (user + system of the runtime and the processes it reaped, from rusage),
# and for the first against each other both the ratio of medians and the
# median of per-round ratios. On 2 loaded cores a run's runtime and init
# seldom overlap (wall follows CPU), so the CPU column tells a cut in work
# from a change that only overlaps work.
# Usage (as root): bash bench/runtime-ab.sh ROUNDS name=/path/to/runtime ...
#   e.g. bash bench/runtime-ab.sh 200 new=target/release/berth-runtime \
#            old=/tmp/berth-runtime.old crun=$(command -v crun)
# Like bench/runtime.sh it runs in a private mount namespace with
# /sys/fs/cgroup/unified unmounted and a bundle saying ociVersion 1.0.2
# (crun 1.8 refuses the hybrid layout and newer versions).
# BERTH_AB_TMPFS=1 puts the state roots and the bundle on a tmpfs (no ext4
# discard or inode scan in the times) and runs copies of the runtimes made
# there: how a binary's pages sit in the page cache (large folios or not,
# from how the file was written or read back) moved an A/A comparison of one
# binary in two files by 8% in wall time and 14% in CPU on kernel 6.18.
set -euo pipefail
if [ -z "${BERTH_AB_INNER:-}" ]; then
    export BERTH_AB_INNER=1
    exec unshare -m --propagation private bash "$0" "$@"
fi
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
if [ -n "${BERTH_AB_TMPFS:-}" ]; then
    # Over /tmp in this private namespace only: the runtimes must live elsewhere.
    for a in "${@:2}"; do
        case ${a#*=} in /tmp/*) echo "BERTH_AB_TMPFS: $a is under /tmp" >&2; exit 2 ;; esac
    done
    mount -t tmpfs tmpfs /tmp
    mkdir /tmp/bin
    args=("$1")
    for a in "${@:2}"; do
        cp "${a#*=}" "/tmp/bin/${a%%=*}"
        args+=("${a%%=*}=/tmp/bin/${a%%=*}")
    done
    set -- "${args[@]}"
fi
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
import resource, statistics, subprocess, sys, time
rounds, work = int(sys.argv[1]), sys.argv[2]
rts = [a.split("=", 1) for a in sys.argv[3:]]
times = {n: [] for n, _ in rts}
cpu = {n: [] for n, _ in rts}
def used():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
for r in range(rounds + 3):  # the first 3 rounds warm up
    k = r % len(rts)
    for name, path in rts[k:] + rts[:k]:
        cmd = [path, "--root", f"{work}/{name}", "run", "-b", f"{work}/bundle", "ab"]
        c0, t0 = used(), time.perf_counter_ns()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = (time.perf_counter_ns() - t0) / 1e6
        dc = (used() - c0) * 1e3
        if p.returncode != 0:
            sys.exit(f"{name} failed ({p.returncode}): {p.stderr.decode()}")
        if r >= 3:
            times[name].append(dt)
            cpu[name].append(dc)
for name, _ in rts:
    t = times[name]
    q = statistics.quantiles(t, n=20)
    print(f"{name:12s} median {statistics.median(t):7.2f} ms  p10 {q[1]:6.2f}"
          f"  p25 {statistics.quantiles(t, n=4)[0]:6.2f}  min {min(t):6.2f}"
          f"  cpu {statistics.mean(cpu[name]):5.2f}")
ref = rts[0][0]
for name, _ in rts[1:]:
    paired = statistics.median(a / b for a, b in zip(times[ref], times[name]))
    print(f"{ref}/{name}: ratio of medians "
          f"{statistics.median(times[ref]) / statistics.median(times[name]):.3f}, "
          f"median of per-round ratios {paired:.3f}, "
          f"cpu {statistics.mean(cpu[ref]) / statistics.mean(cpu[name]):.3f}")
PY
