#!/bin/bash
# Learned profiles of three workloads beside Docker's default, and the cost
# of learning mode (issue 14). Needs root, busybox-static, gcc (static libc)
# and hyperfine; uses the binaries in target/${PROFILE:-debug} and a private
# berthd (own socket, data root, exec root; no bridge). Writes its figures
# to stdout (bench/PROFILES.md keeps a run). RUNS=N sets hyperfine's runs.
set -euo pipefail
cd "$(dirname "$0")/.."
T=target/${PROFILE:-debug}
RUNS=${RUNS:-10}
W=$(mktemp -d /tmp/bench-prof-XXXXXX)
SOCK=$W/b.sock
export DOCKER_HOST=unix://$SOCK
cleanup() {
    if [ -f "$W/pid" ]; then
        docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
        kill "$(cat "$W/pid")" 2>/dev/null || true
        sleep 1
    fi
    grep " $W" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/rootfs/bin" "$W/rootfs/etc" "$W/rootfs/tmp" "$W/rootfs/www"
cp /bin/busybox "$W/rootfs/bin/"
for a in sh echo cat ls mkdir rm wc seq httpd wget kill sleep timeout md5sum; do ln -s busybox "$W/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$W/rootfs/etc/passwd"
echo "hello from httpd" > "$W/rootfs/www/index.html"
gcc -O2 -static -o "$W/rootfs/bin/static-sum" bench/profiles/static.c
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .

"$T/berthd" -H "unix://$SOCK" --data-root "$W/data" --exec-root "$W/exec" --pidfile "$W/pid" --bridge none > "$W/berthd.log" 2>&1 &
for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
docker import "$W/rootfs.tar" bench-prof:1 >/dev/null

HTTPD='httpd -p 127.0.0.1:80 -h /www && for i in $(seq 100); do timeout 5 wget -q -O /dev/null http://127.0.0.1/index.html; done; echo served'
SHELL_W='for i in $(seq 100); do echo $i > /tmp/f$i; cat /tmp/f$i | wc -c > /dev/null; done; mkdir -p /tmp/a/b; rm -r /tmp/a /tmp/f*; ls / > /dev/null; echo done'

declare -A CMD=(
    [httpd]="sh -c '$HTTPD'"
    [shell]="sh -c '$SHELL_W'"
    [static]="static-sum"
)

printf '%-8s %9s %6s  %s\n' workload syscalls caps capabilities
docker_default=""
for w in httpd shell static; do
    eval "$T/berth profile learn --name bench-$w --network none bench-prof:1 ${CMD[$w]}" > /dev/null 2> "$W/$w.learn"
    "$T/berth" profile show --format json "bench-$w" > "$W/$w.json"
    python3 - "$W/$w.json" "$w" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<8} {len(p['syscalls']):>9} {len(p['capabilities']):>6}  {','.join(p['capabilities']) or '-'}")
PY
    docker_default=$(python3 -c "import json,sys; p=json.load(open('$W/$w.json')); print(p['dockerDefault']['syscalls'], p['dockerDefault']['capabilities'])")
done
echo "docker default: $docker_default (syscalls caps)"

echo
echo "learning-mode cost (hyperfine, $RUNS runs; docker run --rm of the workload):"
for w in httpd shell static; do
    hyperfine -N --runs "$RUNS" --warmup 1 --export-markdown "$W/$w.md" \
        -n "$w default" "docker run --rm --network none bench-prof:1 ${CMD[$w]}" \
        -n "$w learning" "docker run --rm --network none --label run.berth.profile.learn=bench-$w-h bench-prof:1 ${CMD[$w]}" \
        > /dev/null 2>&1 || { echo "hyperfine failed for $w"; continue; }
    cat "$W/$w.md"
done
