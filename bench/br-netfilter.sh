#!/usr/bin/env bash
# What br_netfilter costs bridged TCP between two containers: iperf3 between two namespaces on one
# bridge, with `net.bridge.bridge-nf-call-iptables` 1 and 0, rounds alternating, beside loopback.
# All in namespaces the script makes (the sysctl is per network namespace since Linux 5.3), so the
# host's setting is not touched; the bridge's namespace gets berthd-like FORWARD and MASQUERADE
# rules, so conntrack and nat are active there as on a host running berthd.
# Usage: bash bench/br-netfilter.sh [rounds] [seconds]   (as root; iperf3, iptables; defaults 3 5)
# Figures (2-core VM, 2026-12-06, `7 4`, load ~3): loopback median 39.8 Gbit/s; with
# bridge-nf-call-iptables=1 34.1 (86%), with 0 33.6 (84%): no cost beyond the noise. A run under
# load ~10 showed 15.7-27.6 against 31-34 (half speed), which a quiet host did not confirm: judge
# only alternating rounds on a quiet host. br_netfilter's default is 1 (built into this kernel);
# berthd sets only an icc=false bridge's own flag (see ARCHITECTURE.md).
set -eu
rounds=${1:-3}; secs=${2:-5}
H=bnfH$$; C1=bnfA$$; C2=bnfB$$
cleanup() { set +e; for n in $H $C1 $C2; do ip netns del $n 2>/dev/null; done; }
trap cleanup EXIT
for n in $H $C1 $C2; do ip netns add $n; done
inh() { nsenter --net=/run/netns/$H "$@"; }
inh ip link set lo up
inh ip link add brx type bridge
inh ip addr add 10.99.0.1/24 dev brx
inh ip link set brx up
i=2
for c in $C1 $C2; do
  inh ip link add vh$i type veth peer name eth0 netns $c
  inh ip link set vh$i master brx up
  nsenter --net=/run/netns/$c sh -c "ip link set lo up; ip addr add 10.99.0.$i/24 dev eth0; ip link set eth0 up; ip route add default via 10.99.0.1"
  i=$((i+1))
done
inh iptables -w -A FORWARD -i brx -j ACCEPT
inh iptables -w -A FORWARD -o brx -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
inh iptables -w -t nat -A POSTROUTING -s 10.99.0.0/24 ! -o brx -j MASQUERADE
inh iptables -w -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j RETURN
run() { # server ns, client ns, addr
  nsenter --net=/run/netns/$1 iperf3 -s -1 -p 5301 >/dev/null 2>&1 & local sp=$!
  sleep 0.4
  nsenter --net=/run/netns/$2 iperf3 -c $3 -p 5301 -t $secs -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)'
  wait $sp || true
}
out=$(for r in $(seq $rounds); do
  echo "loopback $(run $H $H 127.0.0.1)"
  for v in 1 0; do
    inh sh -c "echo $v > /proc/sys/net/bridge/bridge-nf-call-iptables"
    echo "bridge-nf-call-iptables=$v $(run $C2 $C1 10.99.0.3)"
  done
done)
echo "$out" | python3 -c '
import collections, statistics, sys
v = collections.defaultdict(list)
for line in sys.stdin:
    k, g = line.split()
    v[k].append(float(g))
lo = statistics.median(v["loopback"])
for k, xs in v.items():
    m = statistics.median(xs)
    rounds = ", ".join("%.1f" % x for x in xs)
    print(f"{k}: median {m:.1f} Gbit/s, {100 * m / lo:.0f}% of loopback (rounds: {rounds})")
'
