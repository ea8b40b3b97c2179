#!/usr/bin/env bash
# User-defined networks, berthd beside a private dockerd (same docker CLI, same busybox image):
#  1. `run --rm` on a user network vs `--network none` (hyperfine, all four in one run: the difference of
#     the medians is the network setup and teardown; whole runs are noisy on a shared machine, so there
#     are warmups, medians, and berthd's own timing of the setup and teardown from its debug log);
#  2. DNS: mean time of a container-name lookup from inside a container (busybox nslookup in a loop, so
#     it includes the nslookup process; compare the two daemons, not the absolute figure);
#  3. TCP throughput between two containers on one user network (iperf3 from the host, run inside the
#     containers' network namespaces with nsenter) beside host loopback: rounds of loopback, berthd,
#     dockerd one after the other (so a busy moment hits all three), the median of each.
# dockerd runs with --iptables=false and no default bridge (it must not touch the host's firewall);
# berthd gets a bridge and chains of its own. Everything stays on loopback and the two test networks.
# Usage: bash bench/network.sh [runs] [iperf-rounds]   (as root; defaults 40 and 3; PROFILE=debug uses the
# debug build instead of release; IPERF_ONLY=1 measures only the throughput, part 3)
# Figures (2-core VM shared with other builds, 2026-12-06, release with thin LTO, `20 3`):
#   before the exit path stopped deleting the veth (last session, quiet host): the user network
#   added 11.9 ms (medians) / 15.2 ms (paired, quartiles 10.8-21.0) to a berthd `run --rm`;
#   berthd's teardown 13.46 ms median (RTM_DELLINK waiting for the rtnl lock the kernel holds
#   while it dismantles the dead container's namespace).
#   after, run 1 (load ~3): +5.1 ms (medians 45.9 -> 51.0) / +4.3 ms paired (1.3-7.0); setup
#   1.88 ms, teardown 1.62 ms median; dockerd +24.7 / +123.5 ms (none 305 ms); DNS 14 us
#   against dockerd's 48 us; iperf3 berthd 77%, dockerd 86% of loopback (33.0 Gbit/s).
#   run 2 (load ~5-10): +2.4 ms (medians 52.3 -> 54.7) / +10.3 ms paired (-4.0-17.5, noise);
#   setup 1.39, teardown 1.25 ms; dockerd +104.8 / +139.8 ms; iperf3 berthd 70%, dockerd 38%.
#   Interleaved A/B of the old and new berthd (30 random-order pairs each, same run): old +20.5
#   ms (12.0-33.4), new +2.0 ms (-0.4-5.5); a second A/B at load ~5.5 was noise-bound (old +6.0,
#   new +3.6 ms, quartiles about -5 .. 16), but berthd's own teardown timing over both A/Bs (same
#   host, same minutes) was old 14.30 ms median (9.92-18.65, n=99), new 1.26 ms (0.55-1.69,
#   n=129); setup 1.76 against 1.73 ms. Throughput between containers is noise-bound here
#   (rounds vary 17-29 Gbit/s); bench/net-ceiling.sh shows br_netfilter costs nothing beyond
#   that noise, and veth and bridge run at the kernel's defaults, as Docker's (MTU 1500, TSO/GSO
#   on, GRO off; GRO on did not help).
#   With BIG TCP on the veths (192 KiB GSO/GRO sizes, berthd's default on Linux 6.7+, MTU still
#   1500; same day, load 4-10, `20 5` and IPERF_ONLY=1 `20 9`), three runs, medians of interleaved
#   rounds: berthd 28.1 / 38.1 / 32.8 Gbit/s = 112% / 106% / 90% of host loopback (25.1 / 36.0 /
#   36.4), dockerd 79% / 70% / 65%. Same binary, `--big-tcp=false` beside the default (9
#   interleaved rounds): 16.9 against 24.8 Gbit/s (84% and 123% of loopback's 20.2), the default
#   ahead in every round. Setup with and without (300 interleaved `run --rm` each): 2.90 and 2.62
#   ms median, quartiles 1.78-5.00 and 1.69-5.03 (noise; creating the veth pair itself, 200 each:
#   432 and 414 us). bench/net-ceiling.sh has the kernel's ceiling without berthd.
#   The method is fair to the containers: client and server run under nsenter from this script
#   in all three cases (same cgroup, same iperf3 flags: one stream, 128 KiB writes, 5 s), only
#   the namespaces differ. Host loopback itself is held to 64 KiB packets (lo's gso_max_size),
#   which is why containers with BIG TCP can pass it.
# Session close (2026-12-06 11:50-11:54, quiet host, load 0.3-1.2, release as in Cargo.toml, with the
# one-call start for containers without a network): `20 5`: +6.3 ms (medians 28.2 -> 34.5) / +5.8 ms
# paired (3.3-7.6): --network none now starts in one runtime call and a container on a network
# cannot yet (its veth goes into init's namespace between create and start); berthd's own setup
# 1.73 ms, teardown 1.35 ms median; dockerd +120.2 ms. DNS 21 us against dockerd's 34 us. iperf3:
# berthd 71%, dockerd 73% of loopback 41.6 Gbit/s (its rounds 31.6-52.9); then IPERF_ONLY=1 `20 7`:
# berthd 94%, dockerd 89% of 33.0 Gbit/s.
# Networked containers in one runtime call (2026-12-06 13:50-13:59, release with thin LTO and 16
# codegen units, `30 3`; berthd makes the namespace ahead, sets up the network beside the bundle,
# then `run --detach`): run 1 (load 1.8-5.8): +0.0 ms (medians 48.2 -> 48.2) / +3.2 ms paired
# (-10.5 .. 22.4); setup 4.61 ms median (wall time, beside the bundle), namespace 0 (the spare),
# teardown 1.67 ms; dockerd +190.5 / +162.5 ms; DNS 15 against 66 us; iperf3 berthd 116%, dockerd
# 66% of 29.0 Gbit/s. Run 2 (load ~5): +9.0 ms (25.5 -> 34.5) / +7.0 ms paired (3.7 .. 10.8);
# setup 6.60 ms, teardown 1.29 ms; dockerd +149.4 / +121.9 ms; DNS 20 against 41 us; iperf3 95% /
# 68% of 38.0 Gbit/s. Whole runs stay noise-bound on this shared host; bench/net-ab.sh's
# interleaved A/B against the code before (figures in ARCHITECTURE.md, "Network namespaces made by
# berthd") and berthd's own start timing (+7.6 -> +3.1 ms from request to started) show the gain.
# Session close (2026-12-06 14:35-14:43, quiet host, load 1.0-1.9, release as in Cargo.toml, main at
# 3c17fb2: networked containers in one runtime call), two runs of `30 5`: the user network adds
# +1.7 / +3.4 ms (medians 36.8 -> 38.5, 0.15x / 0.14x dockerd with none) and +3.9 / +4.0 ms paired
# (quartiles 0.7 .. 5.5 and 0.4 .. 7.1); setup 2.78 / 4.22 ms median (beside the bundle), namespace 0
# (the spare), teardown 2.11 / 2.14 ms; dockerd +127.8 / +107.6 ms. DNS 29 against 55 us. iperf3:
# berthd 93% / 98%, dockerd 82% / 88% of loopback 32.9 / 37.7 Gbit/s.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-40}
rounds=${2:-3}
profile=${PROFILE:-release}
target=${CARGO_TARGET_DIR:-$PWD/target}
flag=--release; [ "$profile" = debug ] && flag=
CARGO_TARGET_DIR=$target cargo build $flag -p berthd -p berth-shim -p berth-runtime -p berth-init >&2
docker=$(command -v docker)
work=$(mktemp -d /tmp/berth-netbench.XXXXXX)
tag=$(( $$ % 200 + 20 ))
bridge="bnb$tag"
pids=()
cleanup() {
    set +e
    for h in berth docker; do
        ids=$(DOCKER_HOST="unix://$work/$h.sock" "$docker" ps -aq 2>/dev/null || true)
        [ -n "$ids" ] && DOCKER_HOST="unix://$work/$h.sock" "$docker" rm -f $ids >/dev/null 2>&1
        DOCKER_HOST="unix://$work/$h.sock" "$docker" network prune -f >/dev/null 2>&1
    done
    [ -n "${iperf_pid:-}" ] && kill "$iperf_pid" 2>/dev/null
    bench_stop_pids
    ip link del "$bridge" 2>/dev/null
    bench_drop_bridge_chains "$bridge"
    bench_unmount_under "$work"
    rm -rf "$work" 2>/dev/null || echo "some files of $work could not be removed" >&2
    return 0
}
trap cleanup EXIT

bench_image_tar "$work" sh true sleep nslookup

"$target/$profile/berthd" -H "unix://$work/berth.sock" --data-root "$work/berth-data" \
    --exec-root "$work/berth-exec" --bridge "$bridge" --bip "10.228.$tag.1/24" --log-level debug \
    2>"$work/berthd.log" &
pids+=($!)
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
    -H "unix://$work/docker.sock" --bridge=none --iptables=false --ip-masq=false \
    --storage-driver=overlay2 --log-level=error 2>"$work/dockerd.log" &
pids+=($!)
declare -A subnet=([berth]="10.229.$tag.0/24" [docker]="10.230.$tag.0/24")
for h in berth docker; do
    for _ in $(seq 100); do DOCKER_HOST="unix://$work/$h.sock" "$docker" version >/dev/null 2>&1 && break; sleep 0.3; done
    DOCKER_HOST="unix://$work/$h.sock" "$docker" import "$work/bb.tar" bb:bench >/dev/null
    DOCKER_HOST="unix://$work/$h.sock" "$docker" network create --subnet "${subnet[$h]}" benchnet >/dev/null
done

if [ -z "${IPERF_ONLY:-}" ]; then
echo "== run --rm: user network vs none"
cmds=()
for h in berth docker; do
    name=$h; [ "$h" = berth ] && name=berthd; [ "$h" = docker ] && name=dockerd
    for net in none benchnet; do
        cmds+=(-n "$name --network $net" "env DOCKER_HOST=unix://$work/$h.sock $docker run --rm --network $net bb:bench true")
    done
done
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/run.json" "${cmds[@]}"
python3 - "$work/run.json" <<'PY'
import json, statistics, sys
r = {x["command"]: x["times"] for x in json.load(open(sys.argv[1]))["results"]}
med = {k: statistics.median(v) * 1e3 for k, v in r.items()}
for k, v in med.items():
    print(f"{k}: median {v:.1f} ms")
add = {}
for name in ("berthd", "dockerd"):
    add[name] = med[f"{name} --network benchnet"] - med[f"{name} --network none"]
    print(f"{name}: the user network adds {add[name]:.1f} ms to a run (difference of the medians)")
ratio = lambda n: med[f"berthd --network {n}"] / med[f"dockerd --network {n}"]
print(f"berthd/dockerd: {ratio('none'):.2f} with --network none, {ratio('benchnet'):.2f} on the user network")
PY
# hyperfine ran berthd's `--network none` runs first (warmups included), then those on benchnet.
python3 - "$work/berthd.log" $((runs + 5)) <<'PY'
import re, statistics, sys
text, n = open(sys.argv[1]).read(), int(sys.argv[2])
for what, pat in (("namespace made", r"network namespace of \w+: (\d+) us"),
                  ("setup", r"network setup of \w+: (\d+) us"),
                  ("teardown", r"user networks teardown of \w+: (\d+) us")):
    v = [int(x) / 1e3 for x in re.findall(pat, text)]
    # A container without a network has no namespace made and no setup logged (before the
    # one-call start of networked containers it logged a setup of ~0).
    parts = (("--network none", v[:n]), ("benchnet", v[n:2 * n])) if len(v) >= 2 * n else (("benchnet", v[:n]),)
    for label, part in parts:
        if part:
            print(f"berthd's own timing of the network {what}, {label}: median {statistics.median(part):.2f} ms, "
                  f"max {max(part):.2f} ms over {len(part)} runs")
PY
echo "== run --rm, paired: --network none and benchnet one right after the other (order alternating), $runs pairs"
# A busy machine slows whole runs by more than the network costs; differences within a pair cancel most of it.
python3 - "$docker" "$work" "$runs" <<'PY'
import os, statistics, subprocess, sys, time
docker, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for h, name in (("berth", "berthd"), ("docker", "dockerd")):
    env = dict(os.environ, DOCKER_HOST=f"unix://{work}/{h}.sock")
    def run(net):
        t = time.perf_counter()
        subprocess.run([docker, "run", "--rm", "--network", net, "bb:bench", "true"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        return (time.perf_counter() - t) * 1e3
    for _ in range(3):
        run("none"), run("benchnet")
    d = []
    for i in range(n):
        order = ("none", "benchnet") if i % 2 == 0 else ("benchnet", "none")
        t = {net: run(net) for net in order}
        d.append(t["benchnet"] - t["none"])
    q = statistics.quantiles(d, n=4)
    print(f"{name}: the user network adds {statistics.median(d):.1f} ms to a run "
          f"(median of {n} paired differences; quartiles {q[0]:.1f} .. {q[2]:.1f} ms)")
PY

fi

[ -z "${IPERF_ONLY:-}" ] && echo "== DNS: mean answer time for a container name (1000 UDP queries from the client's namespace)"
for h in berth docker; do
    export DOCKER_HOST="unix://$work/$h.sock"
    "$docker" run -d --name srv --network benchnet bb:bench sleep 600 >/dev/null
    "$docker" run -d --name cli --network benchnet bb:bench sleep 600 >/dev/null
    [ -n "${IPERF_ONLY:-}" ] && continue
    ns=$("$docker" exec cli sh -c 'while read -r k v; do [ "$k" = nameserver ] && echo "$v" && break; done < /etc/resolv.conf')
    cli_pid=$("$docker" inspect -f '{{.State.Pid}}' cli)
    nsenter --net="/proc/$cli_pid/ns/net" python3 - "$ns" srv <<'PY'
import socket, struct, sys, time
server, name = sys.argv[1], sys.argv[2]
q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
n, t0 = 1000, time.perf_counter()
for i in range(n):
    s.sendto(struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1), (server, 53))
    r = s.recv(512)
    assert struct.unpack(">H", r[6:8])[0] >= 1, "no answer"
print(f"{(time.perf_counter() - t0) / n * 1e6:.0f} us per query (resolver {server})")
PY
done

echo "== TCP throughput (iperf3, 5 s, $rounds rounds of loopback, berthd, dockerd; medians)"
# iperf3 between two namespaces: the server in $1's, the client in $2's, to address $3.
iperf() {
    local srv_ns=$1 cli_ns=$2 addr=$3
    nsenter --net="$srv_ns" iperf3 -s -1 -p 5299 >/dev/null 2>&1 & iperf_pid=$!
    sleep 0.5
    nsenter --net="$cli_ns" iperf3 -c "$addr" -p 5299 -t 5 -J |
        awk -F: '/"bits_per_second"/ {v=$2} END {gsub(/[ ,]/, "", v); print v}'
    wait "$iperf_pid" 2>/dev/null || true; iperf_pid=
}
declare -A ns_srv ns_cli ip_srv
for h in berth docker; do
    export DOCKER_HOST="unix://$work/$h.sock"
    ns_srv[$h]=/proc/$("$docker" inspect -f '{{.State.Pid}}' srv)/ns/net
    ns_cli[$h]=/proc/$("$docker" inspect -f '{{.State.Pid}}' cli)/ns/net
    ip_srv[$h]=$("$docker" inspect -f '{{(index .NetworkSettings.Networks "benchnet").IPAddress}}' srv)
done
: > "$work/iperf.txt"
for _ in $(seq "$rounds"); do
    echo "loopback $(iperf /proc/self/ns/net /proc/self/ns/net 127.0.0.1)" >> "$work/iperf.txt"
    for h in berth docker; do
        echo "$h $(iperf "${ns_srv[$h]}" "${ns_cli[$h]}" "${ip_srv[$h]}")" >> "$work/iperf.txt"
    done
done
python3 - "$work/iperf.txt" <<'PY'
import collections, statistics, sys
v = collections.defaultdict(list)
for line in open(sys.argv[1]):
    k, bps = line.split()
    v[k].append(float(bps))
lo = statistics.median(v["loopback"])
print(f"host loopback: {lo / 1e9:.2f} Gbit/s (rounds: {', '.join(f'{x / 1e9:.2f}' for x in v['loopback'])})")
for k in ("berth", "docker"):
    m = statistics.median(v[k])
    print(f"{k}: container to container {m / 1e9:.2f} Gbit/s, {100 * m / lo:.0f}% of loopback "
          f"(rounds: {', '.join(f'{x / 1e9:.2f}' for x in v[k])})")
PY
for h in berth docker; do DOCKER_HOST="unix://$work/$h.sock" "$docker" rm -f srv cli >/dev/null; done
