#!/usr/bin/env bash
# docker build of one multi-stage project (about 4 MB of context, five RUN steps) on berthd, on a private
# dockerd with its classic builder (DOCKER_BUILDKIT=0, the same docker CLI) and with buildah (Debian),
# in one run: a cold build (--no-cache) and an unchanged rebuild (all steps from the cache), with the ratios.
# RUN steps get no network on berthd and dockerd (--network none); buildah runs them with --isolation chroot,
# which shares the host network
# (its OCI isolation needs a cgroup layout this machine's hybrid v1 one is not).
# Usage: bash bench/build.sh [cold-runs] [cached-runs] [rounds]   (as root; GAP_MS=50 between
#   runs, 5x that between rounds; KEEP=DIR keeps the rounds' times: DIR/NAME.times, one line per
#   round, and DIR/order)
# What it prints, in order:
# 1. hyperfine, cold builds (cold-runs each, default 5): berthd, dockerd classic, buildah.
# 2. The cached rebuild in interleaved rounds (default 42; the goal's figure): per round one rebuild
#    on berthd, one on dockerd and one by the docker CLI alone against a server that answers /build
#    as soon as it has read the context (bench_build_stub: the CLI's own share, which no engine can
#    go under), the six orders of the three in turn (bench_rounds), so load that comes and goes on a
#    shared host hits all three alike. Medians, quartiles and means; berthd / dockerd is the ratio
#    of the medians. "berthd over the CLI alone" is the median of the per-round differences:
#    berthd's own share of a rebuild.
# 3. hyperfine, cached rebuilds (cached-runs each after a warm-up, default 10): berthd, dockerd,
#    buildah and the CLI alone, one series after the other; then the means of 1 and 3 and their
#    ratios, as the figures below up to 2026-12-06 17:01 were taken. Series measured one after the
#    other move with the load between them (once the CLI alone, right after buildah's writes, came
#    out slower than berthd itself): for berthd against dockerd and the CLI, read 2.
# The figures below up to the session close of 2026-12-06 17:00 are of 1 and 3 only.
# Measured 2026-12-06 (2 shared cores, 7 other builds running; `bash bench/build.sh 3 5`), two runs:
#   cold:   berthd 668 / 1356 ms, dockerd classic 1679 / 2925 ms (berthd/dockerd 0.40 / 0.46), buildah 8.1 s
#   cached: berthd 261 / 219 ms, dockerd classic 117 / 126 ms (1.73-2.24x dockerd), buildah 683 / 918 ms
# Profiled then (berthd's debug log, perf; load average 12): of a cached rebuild's ~540 ms in
# berthd, flattening the build stage for COPY --from took ~330 ms, unpacking the context ~100 ms
# (hashed twice, unasked), hashing the COPY sources ~40 ms, and SHA-256 itself ran at a quarter
# of its speed (opt-level "s" kept the SHA instructions out of line). Now: the COPY --from
# checksum is remembered per source image ID (no flattening when cached), the context is kept in
# memory and unpacked without digests, hashing crates are built at opt-level 3, image lookups
# read the store once per build, an unchanged tag is not rewritten and the response ends before
# the build directory is removed. Server side 12-26 ms (receiving the context as the CLI sends it
# 4-16, unpacking 4, the COPY checksum and lookups ~5). Three runs, load average 6-14
# (`bash bench/build.sh 3 10` twice, `1 20` once):
#   cold:   berthd 1605 / 1394 / 1539 ms, dockerd classic 6245 / 4560 / 5070 ms (0.26 / 0.31 / 0.30)
#   cached: berthd 51 / 58 / 55 ms, dockerd classic 267 / 266 / 233 ms (0.19 / 0.22 / 0.23),
#           the CLI alone 22 / 30 / 21 ms; without it berthd / dockerd = 0.12 / 0.12 / 0.16.
#   The first run's berthd lacked the last two changes (metadata-step containers, the context in
#   memory). At this load the cached ratio sits at the goal of 0.2, noise either side (berthd's
#   runs ranged 26-104 ms); the docker CLI's own time is 0.08-0.11 of dockerd's.
# Then (2026-12-06, profiled with berthd's debug log and strace -f -tt -T): nothing reached the
# unpacker before the context's last byte, and COPY read the 4 MB again in 8 KiB reads to hash it
# (~530 reads); from the last byte to the end of the answer took 11-20 ms. Now the context is
# unpacked while it arrives and each file hashed as it is written (the checksum reads none again;
# see ARCHITECTURE.md for the exactness rule): 2-4 ms from the last byte to the end of the answer.
# No fsync, no SQLite, no container and no store write happen in a cached rebuild.
# Three runs, load average 3.5-5 (release with CARGO_PROFILE_RELEASE_LTO=thin and
# CODEGEN_UNITS=16; `bash bench/build.sh 3 10`, then `2 20` twice):
#   cold:   berthd 1264 / 1088 / 1130 ms, dockerd classic 4678 / 3682 / 2259 ms (0.27 / 0.30 / 0.50)
#   cached: berthd 40 / 34 / 42 ms, dockerd classic 112 / 155 / 168 ms (0.36 / 0.22 / 0.25),
#           the CLI alone 26 / 28 / 27 ms; without it berthd / dockerd = 0.16 / 0.04 / 0.11.
#   The cached goal of 0.2 is out of reach at this load: the docker CLI alone, against a server
#   that answers as soon as it has the context, takes 0.17-0.24 of dockerd's time; berthd adds
#   5-14 ms to it.
# Then (2026-12-06, release with thin LTO and 16 CGUs; berthd's debug log, strace -f -tt -T, perf,
# and berthd's CPU time from /proc over 20 cached builds): the CLI never waited on berthd while
# sending (berthd sat in epoll_wait between the CLI's writes, up to 20 ms at once; reads of
# 16-256 KiB), and the end of the answer came 1-2 ms after the last byte (aux and stream in one
# writev, the chunked end in a second). A cached rebuild made 9 files and directories (build dir,
# context dir, src, 6 files) in ~490 8 KiB writes and removed them; berthd spent 10.5-12.5 ms of
# CPU on it, mostly SHA-256 of the 4 MB context, copies, and page faults on fresh memory (with
# their memory-cgroup charging). Now the context is held in memory (nothing written: see
# ARCHITECTURE.md, --build-context-memory), its files digested with BLAKE3, and its slab of file
# contents kept for the next build: 6-6.5 ms of CPU per cached build. A/B on the same host (old
# and new berthd side by side, hyperfine 40 runs each, load 3-6, medians): before 31.6 ms, now
# 25.2 ms, the CLI alone 18.8 ms (berthd's share 12.8 -> 6.4 ms). Three runs of this script,
# load average 4.9-5.9 (`bash bench/build.sh 3 10`, then `2 20` twice):
#   cold:   berthd 573 / 1034 / 1423 ms, dockerd classic 2179 / 3329 / 3949 ms (0.26 / 0.31 / 0.36)
#   cached: berthd 34 / 28 / 29 ms, dockerd classic 170 / 150 / 145 ms (0.20 / 0.19 / 0.20),
#           the CLI alone 19 / 20 / 19 ms; without it berthd / dockerd = 0.10 / 0.06 / 0.08.
#   At the goal of 0.2, not clearly under it: the CLI alone is 0.11-0.13 of dockerd's time, and
#   berthd's 6-6.5 ms of CPU (receiving 4 MB, copying it, hashing it) shares 2 loaded cores with it.
# With the kept slab no longer zeroed, on a quiet host (load 2; `3 10`, then `2 20`): A/B medians
# before 22.4 ms, now 15.4 ms, the CLI alone 15.0 ms; this script:
#   cold:   berthd 449 / 543 ms, dockerd classic 1659 / 2071 ms (0.27 / 0.26)
#   cached: berthd 19 / 22 ms, dockerd classic 86 / 88 ms (0.22 / 0.25), the CLI alone 17 / 20 ms
#           (0.20 / 0.23 of dockerd by itself); without it berthd / dockerd = 0.03 / 0.02.
#   Here dockerd's cached rebuild is fast enough that the docker CLI's own time is at or above a
#   fifth of it: berthd adds 2 ms to the CLI, and the goal is out of reach for any server.
# Session close (2026-12-06 11:55-11:57, quiet host, load 1.0, release as in Cargo.toml; `2 10`, then
# `1 30` twice): cold 0.24 / 0.25 / 0.23 of dockerd (berthd 420 / 409 / 426 ms); cached berthd 15 / 17
# / 18 ms, dockerd classic 71 / 81 / 73 ms (0.21 / 0.21 / 0.25), the CLI alone 11 / 14 / 12 ms
# (0.15-0.17 of dockerd by itself).
# Then (2026-12-06, buildperf4; release with thin LTO and 16 CGUs throughout, host load 1.8-6 from
# other builds; berthd's debug log, perf record / perf stat, strace -c and -f over 20-30 cached
# rebuilds each). Where a cached rebuild spent berthd's time: the CLI sends the context in ~130
# chunks of 28 KiB and never blocked on a write (berthd read it in ~40 reads as it came); the tree
# was unpacked 0.3 ms (median) after the body's last byte; from there to the answer 1.1-2.5 ms:
# the store's listing (refs.json and 21 blobs read and parsed), two unpacking workers started for
# images whose layers were all there (each after reading the cgroup's CPU quota), the remembered
# COPY --from checksum and the tag's refs.json read. The answer: aux and stream in one writev, the
# chunked end in a second after the tag. No file or directory made, no fsync, no SQLite: 24
# read-only opens. CPU 6.0-6.6 ms per build (perf stat), of it 7.6% memset: the kept slab never
# served (the empty default context of the request's options took it, so every context was read
# into fresh memory zeroed again), and the context went through two 256 KiB buffers. Now the
# listing is read while the context arrives, no worker starts for unpacked images, the context
# is read from the body's frames (one copy, into the slab), each piece of a file is hashed as it
# comes, and the slab is kept (grown by allocate-and-free so glibc's malloc keeps the read buffers'
# memory: see ARCHITECTURE.md). Last byte to answer: 0.4-0.65 ms; CPU 4.7-5.3 ms per build
# against 6.0-6.6 before (three alternating pairs, 30 builds each); 505 syscalls per build (515
# before, 2 thread starts less). A/B, old and new berthd and the CLI alone interleaved (medians):
# load 1.8-3.9, 60 rounds: 20.8 / 20.4 / 18.2 ms; load 3-5, 40 rounds: 31.3 / 29.4 / 24.2 ms;
# load 5.3-6.4, 40 rounds: 28.3 / 27.4 / 24.5 ms (berthd's share 2.6 -> 2.2, 7.1 -> 5.2,
# 3.8 -> 2.9 ms). This script, four runs (`2 10` twice, `1 30`, `2 20`), load 1.8-6.1:
#   cold:   berthd 651 / 712 / 784 / 921 ms, dockerd classic 2827 / 2849 / 3233 / 3011 ms
#           (0.23 / 0.25 / 0.24 / 0.31)
#   cached: berthd 27 / 22 / 34 / 26 ms, dockerd classic 94 / 135 / 146 / 147 ms
#           (0.29 / 0.17 / 0.24 / 0.18), the CLI alone 18 / 30 / 19 / 24 ms.
#   At this load the spread of one series (hyperfine runs the four commands one after the other,
#   so load that changes between them moves the ratio) is larger than berthd's remaining share;
#   the cached goal of 0.2 is met in two runs of four, and in the others berthd is 8-15 ms above
#   a CLI alone measured minutes apart. What is left of berthd's CPU is receiving 4 MB (the
#   kernel's copy, ~30%), BLAKE3 of it, one copy into the slab, and ~180 context switches (one
#   wakeup per 28 KiB chunk).
# Session close (2026-12-06 14:38-14:44, quiet host, load 1.4-1.7, release as in Cargo.toml, main at
# 3c17fb2), two runs of `2 10`: cold berthd 487 / 403 ms, dockerd classic 2305 / 1729 ms (0.21 /
# 0.23), buildah 7.7 / 7.9 s; cached berthd 24 / 29 ms, dockerd classic 110 / 98 ms (0.22 / 0.29),
# buildah 538 / 429 ms; the docker CLI alone 20 / 20 ms (0.18 / 0.20 of dockerd's cached build).
# Then (2026-12-06 15:35-16:45, buildperf5; release with thin LTO and 16 CGUs, load 2-5 from the
# other helpers' builds). Why berthd costs more than the stub, the CLI's side (strace -f -tt of the
# CLI against each): the CLI does the same against both (HEAD /_ping, then POST /v1.NN/build with
# the chunked tar in ~250 writes of 4 and 28 KiB plus the chunk lines; API 1.47 from berthd, 1.41
# from the stub, nothing else it reacts to), and exits ~0.4 ms after its last read. One
# difference: berthd sent the response's head alone as soon as the context was in and the lines
# and the chunked end after the build, so the CLI read twice (207 bytes, then 195); the stub's
# answer came in one read. Now the head waits (up to 20 ms) for the build's lines and end: one
# read of 402 bytes. The server's side (perf stat over 30-50 cached builds, alternating): berthd
# 3.9-7.7 ms of CPU per build, ~160-230 context switches; the stub 2.1 ms, 160; the CLI 18.7 ms of
# CPU (user+sys) per build on the 2 cores it shares with them. berthd's profile: BLAKE3 (AVX-512
# assembly, at full speed) 15%, the copy into the slab 10%, the kernel's copy out of the socket
# 10%, scheduling and futex wakeups ~10%, malloc/free of hyper's read buffers ~7%. Handing the
# context to the unpacking thread in 128 KiB batches instead of frame by frame was tried and
# dropped: context switches and CPU unchanged within noise, medians 0.5-3 ms worse. Interleaved
# A/B (old berthd, new berthd, the stub; 120 rounds each, medians): load 4.7, 17.9 / 18.9 / 17.5 ms
# and 18.3 / 17.4 / 17.0 ms: berthd's share 0.4-1.4 ms either way, the answer's coalescing
# neutral within noise. This script (`2 10`, load 3-5): cold berthd 542 ms, dockerd classic
# 2512 ms (0.22), buildah 8.2 s; cached berthd 33 ms, dockerd classic 154 ms (0.21), buildah
# 552 ms, the docker CLI alone 29 ms (0.19 of dockerd by itself). `1 30` (load falling from 3 to
# 0.1): cold 449 / 1715 ms (0.26); cached berthd 19.4 +- 2.2 ms, dockerd classic 84.3 +- 7.7 ms
# (0.23), buildah 632 ms, the CLI alone 30.5 +- 3.1 ms: measured right after buildah's series (its
# vfs writes), slower than berthd itself, so that series' order moves the CLI's row by more than
# berthd's whole share.
# Session close (2026-12-06 17:00-17:01, quiet host, load 0.7-1.0, release as in Cargo.toml, main at
# 3811a47), `2 10` twice: cold berthd 406 / 541 ms, dockerd classic 2041 / 2186 ms (0.20 / 0.25),
# buildah 8.1 / 7.8 s; cached berthd 16 / 16 ms, dockerd classic 84 / 75 ms (0.19 / 0.21), buildah
# 511 / 438 ms, the docker CLI alone 13 / 14 ms (0.15 / 0.19 of dockerd by itself).
# Interleaved rounds (2026-12-06 18:31-18:48, buildbench; release as in Cargo.toml, main at 958d8a4;
# load 2.4-7 from the other helpers' builds). berthd / dockerd and the CLI alone / dockerd (ratios
# of medians), berthd over the CLI alone (median of the per-round differences):
#   `2 10 40`, each name after another in rotation: 0.175 / 0.143, 3.3 ms (load 4.1-4.7);
#     0.257 / 0.243, 1.5 ms (3.9); 0.234 / 0.208, 1.7 ms (2.9); 0.247 / 0.224, 2.0 ms (2.7);
#     `1 5 60`: 0.215 / 0.198, 1.2 ms (2.4).
#   Every order in turn (as now), `2 10` (42 rounds): 0.191 / 0.188, -1.0 ms (load 5.0, no pause
#     between rounds); 0.234 / 0.188, 4.0 ms (2.9-4.1); 0.216 / 0.229, 0.4 ms (3.8); `1 5`: 0.171 /
#     0.158, 2.7 ms (5.3-5.8); `2 10 84`: 0.271 / 0.240, 3.8 ms (p25 0.3, p75 7.0; load 4.3-2.9).
#   berthd's medians 19-32 ms, dockerd's 84-153 ms, the CLI alone's 17-31 ms.
#   How to read it: berthd's ratio follows the CLI's own, 0.14-0.24 of dockerd's time here (dockerd
#   slows more than the CLI under load, so both ratios fall as load rises); berthd adds 0.4-4 ms to
#   the CLI. An A/A check (`bash bench/build-ab.sh DIR DIR`, the same binaries twice, 48 rounds,
#   load 5-7): the two estimates of berthd's share came out -0.4 and 1.7 ms, so differences under
#   ~2 ms are not resolved at such loads (NO_DOCKERD=1, 96 rounds, load 2-3.6: 1.34 and 1.33 ms,
#   though the two medians of the whole rebuild differed by 1.6 ms). The goal of 0.2 is met when
#   the CLI alone is well under 0.2 of dockerd's time, and out of any server's reach when it is at
#   or above it.
# Then where berthd's share goes (base as above; debug log over 30 cached rebuilds, perf stat and
# perf record over 30-40, strace -f -tt -T of berthd and the CLI over 5): the CLI's 300-350 writes
# of the context never waited on berthd (the longest 0.27 ms, under strace), so socket buffers are
# not in the way; the tar's end marker arrives before the body's last two chunks and the build runs
# while they come: from the body's last byte to the build's end median 0.36 ms (p25 0.29, p75
# 0.41, at most 0.91; in 2 builds of 30 it had ended before it). The 20 ms hold-back ends as soon
# as the build's sender closes, so it never delayed a cached answer: head, both lines and the
# chunked end leave in one writev of 402 bytes right after the build. berthd spends 5.2 ms of CPU
# and ~220 context switches per rebuild: the kernel's context switches 16%, memmove 11% (the copy
# into the slab among it), the kernel's copy out of the socket 10%, malloc/free ~5%, berthd's own
# code (BLAKE3 among it) 29%. Nothing changed: what is left is receiving 4 MB as the CLI sends it,
# and cutting it by the ~0.5 ms a copy costs would not show above the A/A noise.
# Session 10 close (2026-12-06 19:15 and 19:31, quiet host, load 1.3 / 0.9, main at 782886d; this VM
# ran the docker CLI ~1.6x slower than at the last close: `docker --version` 14.5 ms), `2 10` and
# `1 10`: interleaved medians berthd 24.3 / 24.7 ms, dockerd 100.3 / 105.9, the CLI alone 22.2 / 22.8:
# berthd / dockerd 0.242 / 0.233 with the CLI alone at 0.222 / 0.216 (over the goal by itself);
# berthd over the CLI alone 2.1 / 1.3 ms. Cold: berthd 470 ms, dockerd 2424, buildah 8102 (0.19x).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -euo pipefail
cd "$(dirname "$0")/.."
cold=${1:-5}
cached=${2:-10}
rounds=${3:-42}
gap=${GAP_MS:-50}
target=${CARGO_TARGET_DIR:-$PWD/target}
CARGO_TARGET_DIR=$target cargo build --release -p berthd -p berth-shim -p berth-runtime >&2
docker=$(command -v docker)
work=$(mktemp -d /tmp/berth-build.XXXXXX)
pids=()
B=(--root "$work/buildah-root" --runroot "$work/buildah-run" --storage-driver vfs)
cleanup() {
    set +e
    bench_stop_pids
    buildah "${B[@]}" rm --all >/dev/null 2>&1
    bench_unmount_under "$work"
    rm -rf "$work" 2>/dev/null || echo "some files of $work could not be removed" >&2
    return 0
}
trap cleanup EXIT

mkdir -p "$work/rootfs/tmp"
bench_image_tar "$work" sh true sleep cat ls mkdir cp echo wc
bench_build_project "$work"
ctx=$work/ctx

"$target/release/berthd" -H "unix://$work/berth.sock" --data-root "$work/berth-data" \
    --exec-root "$work/berth-exec" --bridge none --log-level error 2>"$work/berthd.log" &
pids+=($!)
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
    -H "unix://$work/docker.sock" --bridge=none --iptables=false --ip-masq=false \
    --storage-driver=overlay2 --log-level=error 2>"$work/dockerd.log" &
pids+=($!)
bench_build_stub "$work/stub.sock"
pids+=($!)
for h in berth docker; do
    for _ in $(seq 100); do DOCKER_HOST="unix://$work/$h.sock" "$docker" version >/dev/null 2>&1 && break; sleep 0.3; done
    DOCKER_HOST="unix://$work/$h.sock" "$docker" import "$work/bb.tar" bb:bench >/dev/null
done
c=$(buildah "${B[@]}" from scratch)
buildah "${B[@]}" add "$c" "$work/bb.tar" / >/dev/null
buildah "${B[@]}" commit -q "$c" bb:bench >/dev/null
buildah "${B[@]}" rm "$c" >/dev/null

dk() { echo "env DOCKER_BUILDKIT=0 DOCKER_HOST=unix://$work/$1.sock $docker build -q --network none $2 -t out:bench $ctx"; }
bh() { echo "buildah ${B[*]} build -q --layers --isolation chroot $1 -t out:bench $ctx"; }
# Check that all three build it and the image says what it should.
for h in berth docker; do
    DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$work/$h.sock" "$docker" build -q --network none -t out:bench "$ctx" >/dev/null
    out=$(DOCKER_HOST="unix://$work/$h.sock" "$docker" run --rm --network none out:bench)
    [ "$out" = "$(printf 'blob.md5\nsize')" ] || { echo "$h built a wrong image: $out" >&2; exit 1; }
done
buildah "${B[@]}" build -q --layers --isolation chroot -t out:bench "$ctx" >/dev/null

hyperfine -N --runs "$cold" --export-json "$work/cold.json" \
    -n "berthd cold" "$(dk berth --no-cache)" \
    -n "dockerd classic cold" "$(dk docker --no-cache)" \
    -n "buildah cold" "$(bh --no-cache)"

# The cached rebuild in interleaved rounds: the same command as hyperfine's below. The cold
# builds' writes go to disk first, and one round that is not counted warms all three up.
declare -A sock=([berthd]=berth [dockerd]=docker [cli-alone]=stub)
rebuild() {
    DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$work/${sock[$1]}.sock" "$docker" build -q --network none \
        -t out:bench "$ctx" >/dev/null 2>"$work/rebuild.err" || {
        cat "$work/rebuild.err" >&2
        return 1
    }
}
sync
mkdir -p "$work/warm" "$work/rounds"
bench_rounds "$work/warm" 1 "$gap" rebuild berthd dockerd cli-alone
load0=$(cut -d' ' -f1 /proc/loadavg)
bench_rounds "$work/rounds" "$rounds" "$gap" rebuild berthd dockerd cli-alone
echo "Cached rebuild, $rounds interleaved rounds (load average $load0 -> $(cut -d' ' -f1 /proc/loadavg)):"
bench_rounds_summary "$work/rounds" dockerd berthd dockerd cli-alone
python3 - "$work/rounds" <<'PY'
import statistics as st, sys
t = {n: [int(x) / 1000 for x in open(f"{sys.argv[1]}/{n}.times")] for n in ("berthd", "dockerd", "cli-alone")}
m = {n: st.median(v) for n, v in t.items()}
b = [x - c for x, c in zip(t["berthd"], t["cli-alone"])]
d = [x - c for x, c in zip(t["dockerd"], t["cli-alone"])]
q1, _, q3 = st.quantiles(b, n=4, method="inclusive")
print(f"  berthd / dockerd = {m['berthd'] / m['dockerd']:.3f} (medians); the CLI alone / dockerd = "
      f"{m['cli-alone'] / m['dockerd']:.3f}")
print(f"  berthd over the CLI alone: median {st.median(b):.1f} ms (p25 {q1:.1f}, p75 {q3:.1f}); "
      f"dockerd over it {st.median(d):.1f} ms; ratio {st.median(b) / st.median(d):.3f}")
PY
[ -z "${KEEP:-}" ] || { mkdir -p "$KEEP" && cp "$work"/rounds/* "$KEEP"/; }

hyperfine -N --warmup 1 --runs "$cached" --export-json "$work/cached.json" \
    -n "berthd cached" "$(dk berth "")" \
    -n "dockerd classic cached" "$(dk docker "")" \
    -n "buildah cached" "$(bh "")" \
    -n "docker CLI alone (a server that answers at once)" "$(dk stub "")"
echo "Means of the hyperfine series (cold, then cached one series after the other):"
python3 - "$work/cold.json" "$work/cached.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    r = {x["command"]: x["mean"] for x in json.load(open(f))["results"]}
    names = list(r)
    b = r[names[0]]
    print(", ".join(f"{n}: {r[n]*1000:.0f} ms" for n in names))
    print(f"  berthd / dockerd = {b / r[names[1]]:.2f}, berthd / buildah = {b / r[names[2]]:.2f}")
    if len(names) > 3:
        cli = r[names[3]]
        print(f"  without the CLI's own {cli*1000:.0f} ms: berthd / dockerd = "
              f"{(b - cli) / (r[names[1]] - cli):.2f}")
PY
