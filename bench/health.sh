#!/usr/bin/env bash
# What health checks cost: N containers probing every second (`--health-cmd true
# --health-interval 1s`) for D seconds, through berthd (release). Reports berthd's own CPU time
# (utime+stime from /proc), the CPU time of everything else the probes ran (the runtime's exec
# and the probe; from the host's /proc/stat), and the probes recorded (State.Health logs).
# Usage: bash bench/health.sh [containers=100] [seconds=60]   (as root; not in CI)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
secs=${2:-60}
cargo build --release --locked -p berthd -p berth-shim -p berth-runtime -p berth-init >&2
work=$(mktemp -d /tmp/berth-health.XXXXXX)
sock="$work/b.sock"
target/release/berthd -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
    --pidfile "$work/pid" --bridge none 2> "$work/berthd.log" &
bd=$!
cleanup() {
    DOCKER_HOST="unix://$sock" docker ps -aq | xargs -r env DOCKER_HOST="unix://$sock" docker rm -f >/dev/null 2>&1 || true
    kill "$bd" 2>/dev/null || true
    wait "$bd" 2>/dev/null || true
    umount -R "$work/data" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
export DOCKER_HOST="unix://$sock"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
root="$work/rootfs"
mkdir -p "$root/bin" "$root/etc"
cp /bin/busybox "$root/bin/"
for a in sh true sleep; do ln -s busybox "$root/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
tar -C "$root" -c . | docker import - hbench:1 >/dev/null
for i in $(seq "$n"); do
    docker run -d --network none --health-cmd true --health-interval 1s hbench:1 sleep 100000 >/dev/null
done
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$bd/stat"; }
host() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
sleep 3
c0=$(cpu); h0=$(host); t0=$(date +%s.%N)
sleep "$secs"
c1=$(cpu); h1=$(host); t1=$(date +%s.%N)
probes=$(docker ps -q | xargs docker inspect --format '{{len .State.Health.Log}} {{.State.Health.Status}}' | sort | uniq -c)
rss=$(awk '/VmRSS/{print $2}' "/proc/$bd/status")
awk -v c0="$c0" -v c1="$c1" -v h0="$h0" -v h1="$h1" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v n="$n" -v rss="$rss" 'BEGIN {
    wall = t1 - t0
    printf "%d containers probing every 1s for %.1f s\n", n, wall
    printf "berthd CPU: %.2f s = %.1f%% of one core (RSS %d kB)\n", (c1-c0)/hz, 100*(c1-c0)/hz/wall, rss
    printf "whole host CPU (runtime exec + probes + berthd + rest): %.1f%% of one core\n", 100*(h1-h0)/hz/wall
}'
echo "health log lengths / status: $probes"
