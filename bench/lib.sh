# Pieces the bench scripts share; sourced by them (`. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`).
bench_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# bench_image_tar DIR APPLET...: a busybox-static root at DIR/rootfs (the applets as links to
# busybox; /etc/passwd with root when it has an etc/) packed as DIR/bb.tar. Make extra directories
# under DIR/rootfs before calling.
bench_image_tar() {
    local dir=$1 a
    shift
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc"
    cp /bin/busybox "$dir/rootfs/bin/"
    for a in "$@"; do ln -s busybox "$dir/rootfs/bin/$a"; done
    echo "root:x:0:0:root:/root:/bin/sh" >"$dir/rootfs/etc/passwd"
    tar -C "$dir/rootfs" -cf "$dir/bb.tar" .
}

# bench_unmount_under DIR: lazily unmount every mount below DIR, deepest first.
bench_unmount_under() {
    { grep " $1" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r |
        while read -r m; do umount -l "$m" || true; done
}

# bench_drop_bridge_chains BRIDGE: take out the iptables chains berthd made for BRIDGE (named after
# it in capitals) and the jumps to them.
bench_drop_bridge_chains() {
    local chain c
    chain=$(echo "$1" | tr a-z A-Z)
    iptables -w -D FORWARD -j "$chain-FORWARD" 2>/dev/null
    iptables -w -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j "$chain-DNAT" 2>/dev/null
    iptables -w -t nat -D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j "$chain-DNAT" 2>/dev/null
    iptables -w -t nat -D POSTROUTING -j "$chain-POSTROUTING" 2>/dev/null
    for c in FORWARD ISO1 ISO2; do iptables -w -F "$chain-$c" 2>/dev/null; done
    for c in FORWARD ISO1 ISO2; do iptables -w -X "$chain-$c" 2>/dev/null; done
    for c in DNAT POSTROUTING; do
        iptables -w -t nat -F "$chain-$c" 2>/dev/null
        iptables -w -t nat -X "$chain-$c" 2>/dev/null
    done
    return 0
}

# bench_name_dirs DIR...: the A/B scripts' builds, named a, b, c... (at most six): sets the array
# `engines` to the names and the associative array `dirs` to each name's directory.
bench_name_dirs() {
    local names=(a b c d e f) i=0 d
    engines=()
    declare -gA dirs
    for d in "$@"; do
        engines+=("${names[i]}")
        dirs[${names[i]}]=$(realpath "$d")
        i=$((i + 1))
    done
}

# bench_build_project DIR: bench/build.sh's project in DIR/ctx: a two-stage Dockerfile over bb:bench
# (see bench_image_tar; it needs the applets sh cat ls mkdir cp echo wc) with five RUN steps, a
# COPY of 4 MB of random files in src/ and a COPY --from. A build's image prints
# "blob.md5\nsize" when run.
bench_build_project() {
    local ctx=$1/ctx i
    mkdir -p "$ctx/src"
    for i in 1 2 3 4; do head -c 1000000 /dev/urandom >"$ctx/src/part$i.bin"; done
    echo "app" >"$ctx/app.txt"
    cat >"$ctx/Dockerfile" <<'DF'
FROM bb:bench AS build
COPY src /src
RUN cat /src/* > /blob && wc -c /blob > /size
RUN /bin/busybox md5sum /blob > /blob.md5
RUN mkdir -p /out && cp /blob.md5 /size /out/
FROM bb:bench
COPY --from=build /out /out
COPY app.txt /app/
RUN ls /out > /listing
RUN echo done > /done
CMD ["cat", "/listing"]
DF
}

# bench_start_engines WORK: a berthd for each NAME in the array berths (dirs[NAME]/berthd, socket
# WORK/NAME.sock, data and exec roots beside it, no bridge, LOG_LEVEL (error), its log WORK/NAME.log)
# and, when the array engines holds "docker", a private dockerd on WORK/docker.sock (no bridge, no
# iptables, overlay2); their PIDs are added to the array pids.
bench_start_engines() {
    local work=$1 h
    for h in "${berths[@]}"; do
        "${dirs[$h]}/berthd" -H "unix://$work/$h.sock" --data-root "$work/$h-data" --exec-root "$work/$h-exec" \
            --bridge none --log-level "${LOG_LEVEL:-error}" 2>"$work/$h.log" &
        pids+=($!)
    done
    if [[ " ${engines[*]} " == *" docker "* ]]; then
        dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
            -H "unix://$work/docker.sock" --bridge=none --iptables=false --ip-masq=false \
            --storage-driver=overlay2 --log-level=error 2>"$work/dockerd.log" &
        pids+=($!)
    fi
}

# bench_stop_pids: sends SIGTERM to every PID in the array pids (the processes the bench started)
# and waits up to 20 s for each to go.
bench_stop_pids() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; done
}

# bench_build_stub SOCKET: starts (in the background; its PID in $!) a server on SOCKET that answers
# `docker build` as soon as it has read the context (and _ping and version at once): timing the
# docker CLI against it gives the CLI's own share of a build, which no engine can go under.
bench_build_stub() {
    python3 "$bench_lib_dir/stub.py" build "$1" &
}

# bench_run_stub SOCKET [API_VERSION]: starts (in the background; its PID in $!) a server on SOCKET
# that answers what the docker CLI sends for `docker run --rm IMG CMD` without a TTY or stdin, at
# once and with no output: _ping, version, create (201 and an ID), the attach (101, then held
# open), the wait for removal (200 headers at once, {"StatusCode":0} once the start came) and the
# start (204, then the attach is closed, as when the container's program exits, and the wait
# answered). It advertises API_VERSION (default 1.47, berthd's). Timing the CLI against it gives
# the CLI's own share of a run, which no engine can go under. A request it does not know gets a
# 404 and a line on its stderr.
bench_run_stub() {
    python3 "$bench_lib_dir/stub.py" run "$@" &
}

# bench_rounds DIR ROUNDS GAP_MS FUNC NAME...: ROUNDS rounds of `FUNC NAME`, one run per NAME and
# round, GAP_MS between runs and five times that between rounds. The rounds take every order of the
# NAMEs in turn, so within a round each NAME runs first, in between and last, and right after each
# other NAME, alike; the longer pause between rounds damps what the last run of a round leaves to
# the first of the next (a rotation alone put each NAME after one of the others twice as often as
# after another: the docker CLI right after a dockerd build was ~1 ms slower than after berthd's).
# The orders come as the rotations of one cycle after those of the next (abcd bcda cdab dabc, abdc
# ...), so every N rounds of N NAMEs give each NAME each place once even when ROUNDS is not a
# multiple of N! (60 rounds in itertools' sequence of orders put none of the last two of five NAMEs
# first, and the last 12 of them only the first two of four).
# Each run's wall time in microseconds goes to DIR/NAME.times, line i for round i (so the NAMEs'
# runs of one round can be paired), and "NAME microseconds" in the order run to DIR/order. FUNC's
# output is the caller's business.
bench_rounds() {
    local dir=$1 rounds=$2 gap=$3 fn=$4 r t0 t1 name orders
    shift 4
    mapfile -t orders < <(python3 -c 'import itertools, sys
for p in itertools.permutations(sys.argv[2:]):
    c = [sys.argv[1], *p]
    for i in range(len(c)): print(*c[i:], *c[:i])' "$@")
    for ((r = 0; r < rounds; r++)); do
        for name in ${orders[r % ${#orders[@]}]}; do
            t0=$EPOCHREALTIME
            "$fn" "$name"
            t1=$EPOCHREALTIME
            echo $((${t1//[.,]/} - ${t0//[.,]/})) >>"$dir/$name.times"
            echo "$name $((${t1//[.,]/} - ${t0//[.,]/}))" >>"$dir/order"
            sleep "$(awk "BEGIN {print $gap / 1000}")"
        done
        sleep "$(awk "BEGIN {print $gap * 4 / 1000}")"
    done
}

# bench_rounds_summary DIR REF NAME...: for each NAME (bench_rounds' DIR/NAME.times): mean, median
# and quartiles in ms, and its median over REF's (one of the NAMEs).
bench_rounds_summary() {
    python3 - "$@" <<'PY'
import statistics as st, sys
d, ref, names = sys.argv[1], sys.argv[2], sys.argv[3:]
t = {n: [int(x) / 1000 for x in open(f"{d}/{n}.times")] for n in names}
m = {n: st.median(v) for n, v in t.items()}
w = max(map(len, names))
for n, v in t.items():
    q1, _, q3 = st.quantiles(v, n=4, method="inclusive")
    print(f"  {n:<{w}}  median {m[n]:6.1f} ms  p25 {q1:6.1f}  p75 {q3:6.1f}  mean {st.mean(v):6.1f}"
          f"  ({len(v)} runs)  median / {ref}'s {m[n] / m[ref]:.3f}")
PY
}
