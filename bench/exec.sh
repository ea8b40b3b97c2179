#!/usr/bin/env bash
# `exec <id> /bin/true` into a running container: berth-runtime beside runc
# and crun in one hyperfine run, each runtime against its own container on a
# copy of the same busybox bundle; prints the medians' ratios.
# crun 1.8 refuses this machine's hybrid cgroup layout, so everything runs
# in a private mount namespace with /sys/fs/cgroup/unified unmounted, and
# the bundle says ociVersion 1.0.2 (crun 1.8 refuses newer ones).
# Usage: bash bench/exec.sh [runs]   (as root; honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}

if [ -z "${BERTH_BENCH_INNER:-}" ]; then
    cargo build --release -p berth-runtime >&2
    export BERTH_BENCH_INNER=1
    exec unshare -m --propagation private bash "$0" "$@"
fi
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi

berth="${CARGO_TARGET_DIR:-$PWD/target}/release/berth-runtime"
runc=$(command -v runc)
crun=$(command -v crun)
work=$(mktemp -d /tmp/berth-bench-exec.XXXXXX)
cleanup() {
    for r in berth runc crun; do
        "${!r}" --root "$work/$r" delete -f "exec-$r" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/etc"
cp /bin/busybox "$work/bundle/rootfs/bin/"
for t in sh true sleep; do ln -s busybox "$work/bundle/rootfs/bin/$t"; done
"$berth" spec --bundle "$work/bundle"
jq '.ociVersion="1.0.2" | .process.terminal=false | .process.args=["sleep","3600"]' "$work/bundle/config.json" > "$work/c"
mv "$work/c" "$work/bundle/config.json"
for r in berth runc crun; do
    cp -a "$work/bundle" "$work/bundle-$r"
    "${!r}" --root "$work/$r" run -d -b "$work/bundle-$r" "exec-$r" </dev/null >/dev/null 2>"$work/$r.err" || {
        echo "$r: run -d failed: $(cat "$work/$r.err")" >&2
        exit 1
    }
    [ "$("${!r}" --root "$work/$r" state "exec-$r" | jq -r .status)" = running ] || {
        echo "$r: container did not start" >&2
        exit 1
    }
done

echo "## versions"
"$berth" --version | head -1; "$runc" --version | head -1; "$crun" --version | head -1
echo

echo "## exec <id> /bin/true"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/exec.json" \
    -n berth-runtime "$berth --root $work/berth exec exec-berth /bin/true" \
    -n runc "$runc --root $work/runc exec exec-runc /bin/true" \
    -n crun "$crun --root $work/crun exec exec-crun /bin/true"

echo "## ratios (median time of runc and crun / berth-runtime; above 1 means berth is faster)"
jq -r '
    (.results | map({(.command): .median}) | add) as $m
    | "exec: berth \($m["berth-runtime"]*1000 | .*100|round/100) ms, runc \($m.runc*1000 | .*100|round/100) ms, crun \($m.crun*1000 | .*100|round/100) ms; runc/berth \($m.runc/$m["berth-runtime"] | .*100|round/100), crun/berth \($m.crun/$m["berth-runtime"] | .*100|round/100)"' "$work/exec.json"
