#!/usr/bin/env bash
# create + start + delete of /bin/true with the config.json berthd writes for `docker run IMG`
# (Docker's defaults: its seccomp profile, 14 capabilities, 10 mounts with /sys/fs/cgroup and
# three /etc binds, 12 masked and 5 read-only paths, device rules, 5 namespaces), for
# berth-runtime, runc and crun in interleaved rounds (each round runs every runtime once, in a
# rotating order, so load from other processes falls on all alike), beside the minimal bundle
# of `berth-runtime spec`. Prints median create/start/delete/total per runtime and the ratios.
#
# The config is bench/docker-default.config.json, a template made by this script's
# `--regenerate` mode: it starts a private berthd (target/debug, `--bridge none`), imports a
# busybox image, `docker create`s a container with default options, takes the config.json the
# engine wrote for it and replaces its paths (rootfs, the /etc binds) and id with placeholders.
# Regenerate it when berthd's defaults change.
#
# As bench/runtime.sh: runs in a private mount namespace with /sys/fs/cgroup/unified unmounted
# (crun 1.8 refuses the hybrid layout), ociVersion 1.0.2 (crun 1.8 refuses newer ones).
# Usage (as root): bash bench/runtime-docker.sh [rounds]        (default 60)
#                  bash bench/runtime-docker.sh --regenerate
# BERTH_BENCH_BIN=/path/to/berth-runtime times that binary instead of target/release's (no
# build); BERTH_BENCH_BASE=/path/to/older/berth-runtime adds it as "berth-base".
# Figures (release with thin LTO and 16 codegen units, 2 shared cores at load ~7, 100 rounds,
# 2026-12-06, berth-base = main at 1079503, seccomp as a linear list): total median berth
# 24.8-26.6 ms, base/berth 1.05-1.10 (per round 1.00-1.05), runc/berth 5.3-5.4, crun/berth
# 2.8-2.9 (create alone 5.7-6.5 and 3.6-4.0), the minimal bundle within 10% of Docker's config.
# The host layout (unified mounted, as berthd runs) at load 3.7: see ARCHITECTURE.md, the table
# "What `create` costs with the config berthd writes".
set -euo pipefail
cd "$(dirname "$0")/.."
template="$PWD/bench/docker-default.config.json"

regenerate() {
    local w bin sock id cfg
    w=$(mktemp -d /tmp/berth-dcfg.XXXXXX)
    bin="$PWD/target/debug"
    cargo build -p berthd -p berth-shim -p berth-runtime -p berth-init >&2
    sock="$w/b.sock"
    mkdir -p "$w/rootfs/bin" "$w/rootfs/etc" "$w/rootfs/tmp"
    cp /bin/busybox "$w/rootfs/bin/"
    ln -s busybox "$w/rootfs/bin/true"
    ln -s busybox "$w/rootfs/bin/sleep"
    echo 'root:x:0:0:root:/root:/bin/sh' > "$w/rootfs/etc/passwd"
    echo 'root:x:0:' > "$w/rootfs/etc/group"
    tar -C "$w/rootfs" -cf "$w/rootfs.tar" .
    "$bin/berthd" -H "unix://$sock" --data-root "$w/data" --exec-root "$w/exec" \
        --pidfile "$w/berthd.pid" --bridge none --firewall-prefix "BDCFG$$" 2> "$w/berthd.log" &
    local pid=$!
    # shellcheck disable=SC2064
    trap "DOCKER_HOST=unix://$sock docker rm -f dcfg >/dev/null 2>&1; kill $pid; wait $pid; rm -rf '$w'" EXIT
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    export DOCKER_HOST="unix://$sock"
    docker import "$w/rootfs.tar" bench:1 >/dev/null
    id=$(docker create --name dcfg bench:1 sleep 100)
    docker start dcfg >/dev/null
    # The runtime's copy of the bundle's config, while the container runs.
    cfg=$(find "$w/exec" -path "*$id*" -name config.json | head -1)
    [ -n "$cfg" ] || { echo "no config.json for $id under $w/exec" >&2; exit 1; }
    cp "$cfg" "$w/config.json"
    cfg="$w/config.json"
    # Paths of this run become placeholders the bench fills in: @BUNDLE@ (the bundle
    # directory), and the container id becomes "bench".
    jq --arg d "$w/data/containers/$id" --arg id "$id" --arg short "${id:0:12}" '
        .root.path = "rootfs"
        | .mounts |= map(if .type == "bind" and (.source | startswith($d))
                         then .source = ("@BUNDLE@" + (.source | ltrimstr($d))) else . end)
        | .linux.cgroupsPath |= sub($id; "bench")
        | .hostname = "bench"
        | .process.env |= map(if startswith("HOSTNAME=") then "HOSTNAME=bench" else . end)
        | .process.args = ["/bin/true"]' "$cfg" > "$template"
    echo "wrote $template" >&2
}

if [ "${1:-}" = "--regenerate" ]; then
    regenerate
    exit 0
fi

if [ -z "${BERTH_BENCH_INNER:-}" ]; then
    if [ -z "${BERTH_BENCH_BIN:-}" ]; then cargo build --release -p berth-runtime >&2; fi
    export BERTH_BENCH_INNER=1
    exec unshare -m --propagation private bash "$0" "$@"
fi
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
rounds=${1:-60}
berth=${BERTH_BENCH_BIN:-$PWD/target/release/berth-runtime}
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$work"; for d in /sys/fs/cgroup/*/"$cgparent"; do rmdir "$d" 2>/dev/null || true; done' EXIT

# The Docker bundle: rootfs, the three /etc files berthd binds, the template's config.
mkdir -p "$work/docker/rootfs/bin" "$work/docker/rootfs/etc"
cp /bin/busybox "$work/docker/rootfs/bin/"
ln -s busybox "$work/docker/rootfs/bin/true"
echo 'nameserver 127.0.0.1' > "$work/docker/resolv.conf"
echo bench > "$work/docker/hostname"
printf '127.0.0.1\tlocalhost\n' > "$work/docker/hosts"
# A cgroup parent of this run's own, removed at the end.
cgparent="berth-bench-$$"
sed "s|@BUNDLE@|$work/docker|g" "$template" |
    jq --arg p "/$cgparent/bench" '.linux.cgroupsPath = $p' > "$work/docker/config.json"
# The minimal bundle of `berth-runtime spec`.
mkdir -p "$work/minimal"
cp -a "$work/docker/rootfs" "$work/minimal/"
"$berth" spec --bundle "$work/minimal"
jq '.ociVersion="1.0.2" | .process.terminal=false | .process.args=["/bin/true"]' \
    "$work/minimal/config.json" > "$work/c" && mv "$work/c" "$work/minimal/config.json"

echo "## versions"
"$berth" --version | head -1; runc --version | head -1; crun --version | head -1
echo "## create + start + delete of /bin/true, $rounds interleaved rounds (ms)"
python3 - "$rounds" "$work" \
    "berth=$berth:$work/docker" \
    ${BERTH_BENCH_BASE:+"berth-base=$BERTH_BENCH_BASE:$work/docker"} \
    "runc=$(command -v runc):$work/docker" \
    "crun=$(command -v crun):$work/docker" \
    "berth-minimal=$berth:$work/minimal" <<'PY'
import statistics, subprocess, sys, time
rounds, work = int(sys.argv[1]), sys.argv[2]
runs = []
for a in sys.argv[3:]:
    name, rest = a.split("=", 1)
    runtime, bundle = rest.split(":", 1)
    runs.append((name, runtime, bundle))
steps = ("create", "start", "delete")
times = {n: {s: [] for s in steps + ("total",)} for n, _, _ in runs}
# Init keeps the runtime's stderr: a file, never a pipe (a pipe would stay open until init exits).
err = open(f"{work}/stderr", "w+")
for r in range(rounds + 3):  # the first 3 rounds warm up
    k = r % len(runs)
    for name, runtime, bundle in runs[k:] + runs[:k]:
        took = []
        for args in (["create", "-b", bundle, "bench"], ["start", "bench"], ["delete", "-f", "bench"]):
            t0 = time.perf_counter_ns()
            p = subprocess.run([runtime, "--root", f"{work}/state-{name}"] + args,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            took.append((time.perf_counter_ns() - t0) / 1e6)
            if p.returncode != 0:
                err.seek(0)
                sys.exit(f"{name} {args[0]} failed ({p.returncode}): {err.read()}")
        if r >= 3:
            for s, t in zip(steps, took):
                times[name][s].append(t)
            times[name]["total"].append(sum(took))
med = {n: {s: statistics.median(v) for s, v in t.items()} for n, t in times.items()}
print(f"{'runtime':14s} {'create':>7s} {'start':>7s} {'delete':>7s} {'total':>7s} {'p25':>7s}")
for name, _, _ in runs:
    m = med[name]
    p25 = statistics.quantiles(times[name]["total"], n=4)[0]
    print(f"{name:14s} {m['create']:7.2f} {m['start']:7.2f} {m['delete']:7.2f} {m['total']:7.2f} {p25:7.2f}")
print("## ratios to berth (above 1: berth is faster): of median totals, and the median of per-round ratios")
b = med["berth"]["total"]
for name, _, _ in runs[1:]:
    paired = {s: statistics.median(x / y for x, y in zip(times[name][s], times["berth"][s]))
              for s in ("create", "total")}
    print(f"{name}/berth total {med[name]['total'] / b:.2f} (per round {paired['total']:.2f}),"
          f" create {med[name]['create'] / med['berth']['create']:.2f} (per round {paired['create']:.2f})")
PY
