#!/usr/bin/env bash
# Soak (not in CI): CLIENTS docker clients doing mixed run/exec/logs/rm against one berthd for MINUTES,
# with a kill -9 of berthd (and a restart) every KILL_EVERY seconds. Reports operations and errors
# per kind, berthd's RSS over time, and what was left after `rm -f` of everything (must be nothing:
# no container, shim, init, cgroup, runtime state, shim socket, mount or veth).
# Usage: bash bench/soak.sh [minutes=30] [clients=8] [kill-every-seconds=180]
#        (as root, with the docker CLI and busybox-static; honours CARGO_TARGET_DIR; the debug build)
set -uo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
clients=${2:-8}
kill_every=${3:-180}

cargo build -p berthd -p berth-shim -p berth-runtime -p berth-init >&2 || exit 1
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug"
work=$(mktemp -d /tmp/berth-soak.XXXXXX)
bridge="bsk$(($$ % 10000))"
bip="10.231.$(($$ % 200 + 10)).1/24"
export DOCKER_HOST="unix://$work/berthd.sock" DOCKER_CONFIG="$work/docker-config"
mkdir -p "$work/cids" "$work/ops"

daemon_pid() { cat "$work/daemon.pid" 2>/dev/null; }
start_daemon() {
    "$bin/berthd" -H "unix://$work/berthd.sock" --data-root "$work/data" --exec-root "$work/exec" \
        --bridge "$bridge" --bip "$bip" </dev/null >/dev/null 2>>"$work/berthd.log" &
    echo $! >"$work/daemon.pid"
    for _ in $(seq 200); do
        docker version >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "berthd did not come up; see $work/berthd.log" >&2
    return 1
}
stop_daemon() {
    local pid
    pid=$(daemon_pid)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    [ -n "$pid" ] && wait "$pid" 2>/dev/null
}
cleanup() {
    stop_daemon
    ip link del "$bridge" 2>/dev/null
    for t in filter nat; do
        iptables-save -t "$t" 2>/dev/null | grep -- "-A .*${bridge^^}" | sed 's/^-A/-D/' |
            while read -r rule; do eval "iptables -t $t $rule" 2>/dev/null; done
        iptables-save -t "$t" 2>/dev/null | grep -o "^:${bridge^^}-[A-Z]*" | tr -d : |
            while read -r chain; do iptables -t "$t" -F "$chain"; iptables -t "$t" -X "$chain"; done
    done
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
    echo "work directory (logs): $work" >&2
}
trap cleanup EXIT

start_daemon || exit 1
root="$work/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/tmp"
cp /bin/busybox "$root/bin/"
for t in sh echo cat sleep true seq yes; do ln -s busybox "$root/bin/$t"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
tar -C "$root" -cf "$work/rootfs.tar" . && docker import "$work/rootfs.tar" soak:1 >/dev/null || exit 1

end=$(($(date +%s) + minutes * 60))
# One operation: `op <client> <kind> <command...>`; records "<time> <kind> <rc>".
op() {
    local c=$1 kind=$2
    shift 2
    timeout 120 "$@" >"$work/ops/$c.out" 2>"$work/ops/$c.err"
    local rc=$?
    echo "$(date +%s) $kind $rc" >>"$work/ops/$c.log"
    [ "$rc" -ne 0 ] && echo "$(date +%s) $kind: $(head -c 300 "$work/ops/$c.err")" >>"$work/ops/$c.errors"
    return $rc
}
client() {
    local c=$1 n=0
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$((n + 1))
        local name="s$c-$n" cid="$work/cids/$c-$n"
        case $((n % 4)) in
        0)  # docker run --rm with its output checked
            if op "$c" run-rm docker run --rm --cidfile "$cid" soak:1 sh -c 'seq 1 200'; then
                [ "$(wc -l <"$work/ops/$c.out")" -eq 200 ] ||
                    echo "$(date +%s) run-rm: lost output ($(wc -l <"$work/ops/$c.out") of 200 lines)" >>"$work/ops/$c.errors"
            fi ;;
        1)  # detached, exec, logs, rm -f
            op "$c" run-d docker run -d --name "$name" --cidfile "$cid" soak:1 sh -c 'seq 1 50; sleep 30'
            op "$c" exec docker exec "$name" sh -c 'echo hi'
            op "$c" logs docker logs "$name"
            op "$c" rm-f docker rm -f "$name" ;;
        2)  # a chatty container followed to its end, then removed
            op "$c" create docker create --name "$name" --cidfile "$cid" soak:1 sh -c 'seq 1 1000'
            op "$c" start docker start "$name"
            op "$c" logs-f docker logs -f "$name"
            op "$c" rm docker rm -f "$name" ;;
        3)  # stop and start again
            op "$c" run-d docker run -d --name "$name" --cidfile "$cid" soak:1 sleep 100
            op "$c" stop docker stop -t 1 "$name"
            op "$c" start docker start "$name"
            op "$c" rm-f docker rm -f "$name" ;;
        esac
    done
}

start=$(date +%s)
echo "soak: $minutes min, $clients clients, kill -9 every ${kill_every}s, bridge $bridge, in $work" >&2
pids=()
for c in $(seq "$clients"); do
    client "$c" &
    pids+=($!)
done
kills=0
next_kill=$((start + kill_every))
echo "seconds rss_kb" >"$work/rss.tsv"
while [ "$(date +%s)" -lt "$end" ]; do
    sleep 10
    now=$(date +%s)
    pid=$(daemon_pid)
    echo "$((now - start)) $(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)" >>"$work/rss.tsv"
    if [ "$now" -ge "$next_kill" ] && [ "$now" -lt "$end" ]; then
        stop_daemon
        echo "$now" >>"$work/kills"
        kills=$((kills + 1))
        start_daemon || exit 1
        next_kill=$((now + kill_every))
    fi
done
wait "${pids[@]}"

echo "## operations (kind, total, failed)"
cat "$work"/ops/*.log | awk '{t[$2]++; if ($3 != 0) f[$2]++} END {for (k in t) printf "%-8s %6d %6d\n", k, t[k], f[k]}' | sort
echo "berthd killed $kills times"
echo "## errors more than 10 s after a kill (the operations in flight at a kill, and the rest of their"
echo "## sequence, fail as expected; any error listed here is not)"
grep -h '^[0-9]' "$work"/ops/*.errors 2>/dev/null | sort -n | awk -v kills="$(tr '\n' ' ' <"$work/kills" 2>/dev/null)" '
    BEGIN { n = split(kills, k, " ") }
    { hit = 0; for (i = 1; i <= n; i++) if ($1 >= k[i] && $1 <= k[i] + 10) hit = 1
      if (hit) expected++; else { other++; if (other <= 20) print } }
    END { printf "errors within 10 s of a kill: %d, other errors: %d\n", expected, other }'
echo "## berthd RSS (kB) over time"
column -t "$work/rss.tsv"

docker ps -aq | xargs -r docker rm -f >/dev/null
sleep 1
echo "## left after rm -f of everything"
left=0
report() { echo "LEFT: $*"; left=$((left + 1)); }
[ -z "$(docker ps -aq)" ] || report "containers: $(docker ps -aq | tr '\n' ' ')"
dpid=$(daemon_pid)
for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$dpid" ] && continue
    if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "$work"; then
        report "process ${p#/proc/}: $(tr '\0' ' ' <"$p/cmdline")"
    fi
done
for f in "$work"/cids/*; do
    [ -s "$f" ] || continue
    id=$(cat "$f")
    for cg in /sys/fs/cgroup/*/berth/"$id"; do [ -e "$cg" ] && report "cgroup $cg"; done
    grep -l "/berth/$id" /proc/[0-9]*/cgroup 2>/dev/null | while read -r p; do echo "LEFT: process in $id: $p"; done
    [ -e "/sys/class/net/vb${id:0:11}" ] && report "veth vb${id:0:11}"
done
for s in "$work"/exec/runtime/*/*; do [ -e "$s" ] && report "runtime state $s"; done
for s in "$work"/exec/s/*; do [ -e "$s" ] && report "socket $s"; done
grep -q " $work/data/containers" /proc/self/mountinfo && report "mounts: $(grep -c " $work/data/containers" /proc/self/mountinfo)"
[ -z "$(ip -o link show master "$bridge" 2>/dev/null)" ] || report "veths on $bridge: $(ip -o link show master "$bridge" | wc -l)"
echo "left: $left"
[ "$left" -eq 0 ]
