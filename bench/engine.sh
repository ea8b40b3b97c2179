#!/usr/bin/env bash
# berthd beside a private dockerd and a private `podman system service`, with the same docker CLI and the same
# busybox image: one hyperfine run of `docker run --rm --network none IMG true` against all three, N sequential
# `run -d`, `docker ps` with them running, the daemons' idle RSS and the memory each running container adds
# (PSS of berth-shim / containerd-shim / conmon).
# podman 4.3's crun refuses this machine's hybrid cgroup layout, so its service runs in a private mount
# namespace with /sys/fs/cgroup/unified unmounted (the CLI reaches it through its socket as usual); it gets
# containers.conf default ulimits under root's hard limits (root here lacks CAP_SYS_RESOURCE).
# Usage: bash bench/engine.sh [runs] [containers]   (as root; set NO_PODMAN=1 to leave podman out,
# BATCHES=N to split the runs of `run --rm` into N batches, default 4)
# Measured here (release with thin LTO, 2-core VM shared with other builds, 2026-12-06): run --rm 45.5 ms
# (berthd) / 262 ms (dockerd 20.10) / 570 ms (podman 4.3) means over 20 runs, 0.17x; in interleaved rounds
# (150 each, same host, same hour) berthd's median went 48.9 -> 46.9 ms when the shim started answering
# wait before its `runtime delete`. 20 sequential run -d: 1.07 s / 6.98 s / 2.44 s; ps with 20 running
# 15 / 19 / 49 ms; idle RSS berthd 13 MB, dockerd 79 + containerd 38 MB, podman service 44 MB;
# supervisor PSS per container 311 kB (berth-shim) / 2.9 MB (containerd-shim) / 391 kB (conmon).
# 150 interleaved rounds (2026-12-06, load 1.8-2.6, thin LTO): berthd at ab33cb3 42.2 ms mean / 39.4 median,
# with the --rm container's create insert unsynced 41.7 / 39.6, dockerd 272.7 / 266.5 (0.155x -> 0.153x).
# 200 interleaved rounds of bench/run-ab.sh (2026-12-06, load 4.7-6.7, thin LTO): main at 1079503 59.4 ms
# median, with the standby shim (its runtime process forked ahead) and the one-call start without a network
# 51.9, dockerd 394.9 (0.150x -> 0.132x); berthd's own share (ping received to removal done) 40.6 -> 30.6.
# 120 more rounds (load 4.6-5.8): 53.2 -> 46.6 / 49.6 ms (standby spawned on a tokio worker / on a blocking
# thread), dockerd 379.9: 0.140x -> 0.123x / 0.130x.
# Where run --rm's time goes (berthd's debug log, microseconds per step): see ARCHITECTURE.md.
# berth-shim's PSS below includes berthd's idle standby shim and its forked runtime process (~270 kB).
# Session close (2026-12-06 11:43-11:46, quiet host, load 1.1-1.6, release as in Cargo.toml, main at
# a1dc7f8 with the one-call start and the standby shim): run --rm berthd 26.6 / 30.4 / 29.2 ms, dockerd
# 221.9 / 233.2 / 204.2 ms (means of 30 / 40 / 40): 0.120x / 0.130x / 0.143x; bench/run-ab.sh, 100
# interleaved rounds 100 ms apart: medians 27.9 against 203.2 ms, 0.137x. podman 355 ms (112-779).
# 10 sequential run -d 0.20 s / 1.79 s / 0.66 s; idle RSS berthd 11 MB; supervisor PSS 295 kB each.
# runperf5 (2026-12-06 13:47-14:05, thin LTO, load 2-6 from other builds: no quiet host): a --rm
# container's bundle made ahead of its start, spare snapshot directories, one hand-over and one
# store write fewer at its exit and removal; bench/run-ab.sh rounds against main at 817df28 (medians):
# see its header and ARCHITECTURE.md. berthd's own share fell 28.2 -> 25.6 ms (80 rounds, debug log).
# Session close (2026-12-06 14:34, quiet host, load 1.2, release as in Cargo.toml, main at 3c17fb2;
# this host ran slower than at the last close: dockerd 220-279 ms against 204-233): engine.sh `40`:
# berthd 33.5 ms, dockerd 220.7 ms (means): 0.152x; podman 351 ms. bench/run-ab.sh, 100 rounds 100 ms
# apart: 32.5 against 247.3 ms (medians), 0.131x; then main at 817df28 (the last close), this main and
# dockerd interleaved: 38.1 / 36.1 / 278.8 ms, 0.137x -> 0.130x.
# Session close (2026-12-06 17:13 and 17:16, quiet host at the start of each, load 1.7 / 3.4, release
# as in Cargo.toml, main at c33bbd4), `40` twice: berthd 17.3 / 18.8 ms, dockerd 146.9 / 172.7 ms,
# podman 363 / 307 ms (means): 0.118x / 0.109x of dockerd. Back to back (hyperfine) both engines run
# faster than 100 ms apart (bench/run-ab.sh, same half hour: 0.123-0.132x of dockerd's median).
# Session 10 (2026-12-06 19:10, quiet host, load 1.6 after the release build, main at 782886d; this
# VM was ~1.4x slower than at the last close), `40`: berthd 37.3 ms, dockerd 254.2 ms, podman 359.7
# (means): 0.147x of dockerd.
# Session 13 (2026-12-07 04:16, load 1.0, main at b6802e8), `40` twice (podman 340 ms in the first):
# berthd 33.5 / 33.8 ms, dockerd 269.8 / 255.7 ms (means, back to back): 0.124x / 0.132x. A run right after
# another pays for the kernel's teardown of the one before (see ARCHITECTURE.md, "Back to back").
# It now prints the medians too. With d43e231 (05:13-05:15), twice: berthd 28.2 / 31.8 ms median
# (28.9 / 32.5 mean), dockerd 237.5 / 251.1 (244.2 / 251.1): 0.119x / 0.127x of the median, 0.118x
# / 0.129x of the mean; podman 280.7 / 311.7 median.
# Session 14 (2026-12-07 07:00-07:06, load 0.9-1.3, main at afe419d), `40` twice: berthd 25.4 / 29.3 ms
# median (25.7 / 29.0 mean), dockerd 209.0 / 236.6 (211.5 / 240.4): 0.122x / 0.124x of the median,
# 0.121x / 0.121x of the mean; podman 341.8 / 262.7 median. Idle RSS berthd 11.4 / 11.3 MB, dockerd
# and containerd 113.0 / 113.3 MB, podman service 42.7 / 44.6 MB; 50 sequential run -d 1.20 / 1.35 s,
# 9.38 / 10.19 s, 3.74 / 4.27 s; supervisor PSS 246-247 / 2665-2684 / 369 kB per container.
# Session 15 (2026-12-07, a fresh VM; `40` five times): main at 03036a0 (10:07) berthd 25.1 ms median, dockerd
# 207.3 (0.121x); with d5e39a7 (the shim deletes a container of Berth's runtime in its own process)
# 10:31 / 10:33 / 10:53 / 10:55: berthd 31.4 / 41.9 / 25.3 / 30.2, dockerd 304.0 / 277.8 / 209.0 /
# 258.0: 0.103x / 0.151x / 0.121x / 0.117x of the median. This VM's speed drifted within minutes
# (berthd 25 to 42 ms, dockerd 207 to 304); bench/run-ab.sh's interleaved rounds see through that.
# Idle RSS berthd 11.1-11.5 MB, dockerd and containerd 113-116 MB, podman 43-45 MB; supervisor PSS
# 246-247 / 2652-2675 / 370 kB; 50 sequential run -d 1.24-1.69 s / 8.2-12.6 s / 3.9-5.0 s.
# Session 16 (2026-12-07 13:40, load 1.0, main at 223e815 with the three audits' fixes; `40`, now in 4
# batches with the engines rotated): berthd 28.5 ms median, dockerd 218.0, podman 266.2: 0.131x of
# dockerd's median (per batch 0.142x / 0.123x / 0.130x / 0.133x). Idle RSS berthd 11.7 MB, dockerd and
# containerd 112.3 MB, podman service 43.6 MB; 50 sequential run -d 1.51 / 9.98 / 4.15 s; supervisor PSS
# 250 / 2666 / 369 kB. bench/run-ab.sh right after (session start c259cc3 / this main): 150 rounds 100
# ms apart 36.5 / 36.8 ms against dockerd's 314.4 (0.116x / 0.117x), back to back (BURST=4, 60 rounds)
# 33.9 / 32.6 against 267.2 (0.127x / 0.122x).
# Session 17 (2026-12-07 16:36, load 1.9, main at cb60561 with five helpers' branches merged), `40`: berthd
# 33.5 ms median, dockerd 265.5, podman 308.5: 0.126x of dockerd's median (per batch 0.126x / 0.137x /
# 0.121x / 0.130x). Idle RSS berthd 12.1 MB, dockerd 73.6 + containerd 37.7 MB, podman 45.1 MB; 50 run -d
# 1.65 / 10.05 / 4.40 s; supervisor PSS 251 / 2670 / 370 kB. bench/run-ab.sh (60 rounds 100 ms apart,
# load 3.0-3.5 from a CI run): b0f6225 52.8 ms, 6646738 51.3, dockerd 412.1 (0.128x / 0.124x).
# Session 19 (2026-12-07, `40` three times): 20:55 (load 0.2) berthd 30.8 ms median, dockerd 232.4, podman
# 365.3: 0.132x (per batch 0.121x / 0.126x / 0.113x / 0.146x); 21:38 (the host slow: load 2) 52.8 / 390.3 /
# 401.8: 0.135x; 22:17 (load 1.0) 28.1 / 217.9 / 282.8: 0.129x (0.127x / 0.138x / 0.131x / 0.127x). Idle
# RSS berthd 11.9-13.3 MB, dockerd 74 + containerd 38 MB, podman 43 MB; 50 run -d 1.33-1.87 / 9.90-13.42 /
# 3.86-5.17 s; supervisor PSS 250-251 / 2647-2676 / 370 kB.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
n=${2:-50}
target=${CARGO_TARGET_DIR:-$PWD/target}
CARGO_TARGET_DIR=$target cargo build --release -p berthd -p berth-shim -p berth-runtime >&2
docker=$(command -v docker)
work=$(mktemp -d /tmp/berth-engine.XXXXXX)
engines=(berth docker)
if [ -z "${NO_PODMAN:-}" ] && command -v podman >/dev/null; then engines+=(podman); fi
pids=()
cleanup() {
    set +e
    for h in "${engines[@]}"; do
        ids=$(DOCKER_HOST="unix://$work/$h.sock" "$docker" ps -aq 2>/dev/null || true)
        [ -n "$ids" ] && DOCKER_HOST="unix://$work/$h.sock" "$docker" rm -f $ids >/dev/null 2>&1 || true
    done
    bench_stop_pids
    bench_unmount_under "$work"
    rm -rf "$work" 2>/dev/null || echo "some files of $work could not be removed" >&2
    return 0
}
trap cleanup EXIT

bench_image_tar "$work" sh true sleep

"$target/release/berthd" -H "unix://$work/berth.sock" --data-root "$work/berth-data" \
    --exec-root "$work/berth-exec" --bridge none --log-level error 2>"$work/berthd.log" &
pids+=($!); berthd_pid=$!
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
    -H "unix://$work/docker.sock" --bridge=none --iptables=false --ip-masq=false \
    --storage-driver=overlay2 --log-level=error 2>"$work/dockerd.log" &
pids+=($!); dockerd_pid=$!
podman_pid=
if [[ " ${engines[*]} " == *" podman "* ]]; then
    printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nevents_logger = "none"\n' \
        > "$work/containers.conf"
    CONTAINERS_CONF=$work/containers.conf unshare -m --propagation private sh -c \
        "umount /sys/fs/cgroup/unified 2>/dev/null; exec podman --root $work/podman-root --runroot $work/podman-run \
         --tmpdir $work/podman-tmp system service --time=0 unix://$work/podman.sock" 2>"$work/podman.log" &
    pids+=($!); podman_pid=$!
fi
for h in "${engines[@]}"; do
    for _ in $(seq 100); do DOCKER_HOST="unix://$work/$h.sock" "$docker" version >/dev/null 2>&1 && break; sleep 0.3; done
    DOCKER_HOST="unix://$work/$h.sock" "$docker" import "$work/bb.tar" bb:bench >/dev/null
done
sleep 2
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
containerd_pid=$(pgrep -P "$dockerd_pid" containerd || true)
echo "idle RSS (kB): berthd $(rss "$berthd_pid"); dockerd $(rss "$dockerd_pid") + containerd $( [ -n "$containerd_pid" ] && rss "$containerd_pid" || echo n/a)$( [ -n "$podman_pid" ] && echo "; podman service $(rss "$podman_pid")")"

# The runs go in BATCHES hyperfine batches (default 4), the engines in a rotated order in each, so a
# drift of this VM's speed over the minutes of the run (seen here: berthd 25-42 ms, dockerd 207-304 ms
# in runs half an hour apart) falls on every engine alike instead of on whichever ran while it was slow.
batches=${BATCHES:-4}
per=$(( (runs + batches - 1) / batches ))
names=()
for h in "${engines[@]}"; do
    name=$h; [ "$h" = berth ] && name=berthd; [ "$h" = docker ] && name=dockerd
    names+=("$name")
done
for ((b = 0; b < batches; b++)); do
    cmds=()
    for ((i = 0; i < ${#engines[@]}; i++)); do
        j=$(( (i + b) % ${#engines[@]} ))
        cmds+=(-n "${names[$j]}" "env DOCKER_HOST=unix://$work/${engines[$j]}.sock $docker run --rm --network none bb:bench true")
    done
    hyperfine -N --style basic --warmup 3 --runs "$per" --export-json "$work/run-$b.json" "${cmds[@]}"
done
# The medians and means over all batches; the spread of the per-batch ratios shows how much the host
# drifted meanwhile.
python3 - "$work"/run-*.json <<'PY'
import json, statistics, sys
times, per_batch = {}, []
for f in sys.argv[1:]:
    r = {x["command"]: x["times"] for x in json.load(open(f))["results"]}
    per_batch.append(r)
    for name, t in r.items():
        times.setdefault(name, []).extend(t)
d = times.get("dockerd")
for name, t in times.items():
    med, mean = statistics.median(t) * 1000, statistics.mean(t) * 1000
    line = f"{name}: median {med:.1f} ms, mean {mean:.1f} ms over {len(t)} runs"
    if d and name != "dockerd":
        line += f" ({statistics.median(t) / statistics.median(d):.3f}x / {statistics.mean(t) / statistics.mean(d):.3f}x dockerd's"
        ratios = [statistics.median(b[name]) / statistics.median(b["dockerd"]) for b in per_batch]
        line += f"; per batch {' '.join(f'{x:.3f}x' for x in ratios)})"
    print(line)
PY

for h in "${engines[@]}"; do
    export DOCKER_HOST="unix://$work/$h.sock"
    start=$(date +%s.%N)
    for i in $(seq "$n"); do "$docker" run -d --network none bb:bench sleep 600 >/dev/null; done
    end=$(date +%s.%N)
    echo "$h: $n sequential run -d: $(awk "BEGIN {printf \"%.2f\", $end - $start}") s"
    hyperfine -N --runs 10 -n "$h ps ($n running)" "env DOCKER_HOST=$DOCKER_HOST $docker ps -q"
    case $h in
        berth) pattern="berth-shim .*$work" ;;
        docker) pattern="containerd-shim.*" ;;
        podman) pattern="conmon.*$work" ;;
    esac
    pss=$(for p in $(pgrep -f "$pattern"); do awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null; done |
        awk '{s+=$1; c++} END {if (c) printf "%.0f kB over %d processes, %.0f kB each", s, c, s/c; else print "n/a"}')
    echo "$h: per-container supervisor PSS $pss"
    "$docker" rm -f $("$docker" ps -aq) >/dev/null
done
