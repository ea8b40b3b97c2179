#!/usr/bin/env bash
# The ceiling of TCP throughput between two network namespaces on this kernel, with plain iproute2 and
# nothing of berthd: iperf3 (one stream, its defaults) over host loopback, over loopback inside one
# namespace, over a bare veth pair, over two veths on a bridge (with and without br_netfilter and
# conntrack), with BIG TCP sizes (gso/gro max size, generic and IPv4) and with larger MTUs. Every
# configuration gets namespaces of its own, set up once; the rounds then run all of them one after the
# other, so a busy moment hits every configuration alike, and the script prints the median of each.
# "nf" means `bridge-nf-call-iptables=1` in the bridge's namespace plus berthd-like FORWARD and
# MASQUERADE rules there (so conntrack and nat see every bridged packet, as on a host running berthd).
# Usage: bash bench/net-ceiling.sh [rounds] [seconds]   (as root; iperf3, iptables; defaults 5 3)
# BIG=N sets the BIG TCP size (default 196608, berthd's). Nothing pinned to a CPU.
# Figures (2-core VM shared with other builds, Linux 6.18, 2026-12-06; Gbit/s medians and % of host
# loopback; three runs: `5 3` at load ~10, `7 3` at load 4-9, `7 3` at load ~6):
#   host loopback (MTU 65536, 64 KiB GSO)     24.0        29.4        26.8
#   loopback in a netns                       24.0 100%   23.9  81%   28.7 107%
#   the same, lo with 192 KiB GSO/GRO            -           -        37.0 138%
#   veth pair, MTU 1500                       15.3  64%   22.0  75%   26.2  98%
#   veth pair, MTU 1500, 192 KiB              26.3 110%   34.5 117%   35.1 131%
#   veth pair, MTU 9000 / 65535               19.0 / 20.4 19.0 / 25.2 23.9 / 25.3
#   bridge, 2 veths, MTU 1500                 16.0  67%   25.3  86%   23.8  89%
#   bridge + br_netfilter/conntrack/nat (nf)  18.2  76%   20.7  70%   23.3  87%   <- Docker's path
#   nf, GRO on the veths                      18.1  75%   22.7  77%   22.9  86%
#   nf, MTU 9000                              16.1  67%   18.2  62%   23.1  86%
#   nf, MTU 65535                             22.0  92%   26.9  91%   26.8 100%
#   bridge, 192 KiB GSO/GRO                   24.2 101%   29.7 101%   31.4 117%
#   nf, 192 KiB GSO/GRO                       29.2 122%   32.4 110%   32.9 123%   <- berthd's path
# So the veth+bridge path with the kernel's 64 KiB packets tops out at 70-89% of host loopback
# (br_netfilter and conntrack cost nothing beyond the noise); larger MTUs (which would change the
# wire) and GRO do not lift it reliably; BIG TCP's 192 KiB packets take it past loopback (whose
# own packets are held to 64 KiB) in every run.
set -eu
rounds=${1:-5}; secs=${2:-3}
big=${BIG:-196608}
p=nc$$
nss=()
cleanup() { set +e; for n in "${nss[@]}"; do ip netns del "$n" 2>/dev/null; done; }
trap cleanup EXIT
mkns() { ip netns add "$1"; nss+=("$1"); nsenter --net=/run/netns/"$1" ip link set lo up; }
inn() { local n=$1; shift; nsenter --net=/run/netns/"$n" "$@"; }
# setgso NS IFNAME SIZE: gso_max_size, gro_max_size, gso_ipv4_max_size and gro_ipv4_max_size of a link
# (iproute2 before 6.3 cannot set the IPv4 ones, so this speaks rtnetlink itself).
setgso() {
    inn "$1" python3 - "$2" "$3" <<'PY'
import os, socket, struct, sys
name, size = sys.argv[1], int(sys.argv[2])
attrs = b"".join(struct.pack("=HHI", 8, t, size) for t in (41, 58, 63, 64))  # IFLA_{GSO,GRO}_MAX_SIZE, IFLA_{GSO,GRO}_IPV4_MAX_SIZE
body = struct.pack("=BxHiII", 0, 0, socket.if_nametoindex(name), 0, 0) + attrs
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.send(struct.pack("=IHHII", 16 + len(body), 16, 1 | 4, 1, 0) + body)  # RTM_NEWLINK, REQUEST|ACK
err = struct.unpack("=i", s.recv(4096)[16:20])[0]
if err:
    sys.exit(f"setting the gso/gro sizes of {name}: {os.strerror(-err)}")
PY
}
# pair NAME MTU GSO: two namespaces NAME-a (10.98.0.1) and NAME-b (10.98.0.2) joined by one veth pair.
pair() {
    local a=$p$1a b=$p$1b
    mkns "$a"; mkns "$b"
    inn "$a" ip link add eth0 mtu "$2" type veth peer name eth0 netns "$b" mtu "$2"
    inn "$a" ip addr add 10.98.0.1/24 dev eth0; inn "$b" ip addr add 10.98.0.2/24 dev eth0
    if [ "$3" != - ]; then setgso "$a" eth0 "$3"; setgso "$b" eth0 "$3"; fi
    inn "$a" ip link set eth0 up; inn "$b" ip link set eth0 up
}
# bridged NAME MTU GSO NF GRO: namespaces NAME-h (the bridge), NAME-a (10.99.0.2), NAME-b (10.99.0.3).
bridged() {
    local h=$p$1h mtu=$2 gso=$3 nf=$4 gro=$5 i=2
    mkns "$h"
    inn "$h" ip link add brx mtu "$mtu" type bridge
    inn "$h" ip addr add 10.99.0.1/24 dev brx
    inn "$h" ip link set brx up
    inn "$h" sh -c "echo $nf > /proc/sys/net/bridge/bridge-nf-call-iptables"
    if [ "$nf" = 1 ]; then
        inn "$h" iptables -w -A FORWARD -i brx -j ACCEPT
        inn "$h" iptables -w -A FORWARD -o brx -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        inn "$h" iptables -w -t nat -A POSTROUTING -s 10.99.0.0/24 ! -o brx -j MASQUERADE
    fi
    for c in a b; do
        mkns "$p$1$c"
        inn "$h" ip link add vh$c mtu "$mtu" type veth peer name eth0 netns "$p$1$c" mtu "$mtu"
        if [ "$gso" != - ]; then setgso "$h" vh$c "$gso"; setgso "$p$1$c" eth0 "$gso"; fi
        if [ "$gro" = on ]; then inn "$h" ethtool -K vh$c gro on >/dev/null; inn "$p$1$c" ethtool -K eth0 gro on >/dev/null; fi
        inn "$h" ip link set vh$c master brx up
        inn "$p$1$c" ip addr add 10.99.0.$i/24 dev eth0
        inn "$p$1$c" ip link set eth0 up
        i=$((i + 1))
    done
    # A bridge takes its tso_max_size from its ports, so its own sizes can be raised only now.
    if [ "$gso" != - ]; then setgso "$h" brx "$gso"; fi
}
# The configurations: label, server namespace, client namespace, server address.
configs=()
add() { configs+=("$1 $2 $3 $4"); }
add host-loopback - - 127.0.0.1
mkns "${p}lo"; add netns-loopback "${p}lo" "${p}lo" 127.0.0.1
mkns "${p}lob"; setgso "${p}lob" lo "$big"; add "netns-loopback-bigtcp$big" "${p}lob" "${p}lob" 127.0.0.1
pair v1500 1500 -; add veth-mtu1500 "${p}v1500b" "${p}v1500a" 10.98.0.2
pair vbig 1500 "$big"; add "veth-mtu1500-bigtcp$big" "${p}vbigb" "${p}vbiga" 10.98.0.2
pair v9000 9000 -; add veth-mtu9000 "${p}v9000b" "${p}v9000a" 10.98.0.2
pair v65535 65535 -; add veth-mtu65535 "${p}v65535b" "${p}v65535a" 10.98.0.2
bridged b0 1500 - 0 off; add bridge-mtu1500 "${p}b0b" "${p}b0a" 10.99.0.3
bridged b1 1500 - 1 off; add bridge-mtu1500-nf "${p}b1b" "${p}b1a" 10.99.0.3
bridged bg 1500 - 1 on; add bridge-mtu1500-nf-gro "${p}bgb" "${p}bga" 10.99.0.3
bridged bb0 1500 "$big" 0 off; add "bridge-mtu1500-bigtcp$big" "${p}bb0b" "${p}bb0a" 10.99.0.3
bridged bb1 1500 "$big" 1 off; add "bridge-mtu1500-nf-bigtcp$big" "${p}bb1b" "${p}bb1a" 10.99.0.3
bridged b9 9000 - 1 off; add bridge-mtu9000-nf "${p}b9b" "${p}b9a" 10.99.0.3
bridged b65 65535 - 1 off; add bridge-mtu65535-nf "${p}b65b" "${p}b65a" 10.99.0.3
ns() { if [ "$1" = - ]; then echo /proc/self/ns/net; else echo "/run/netns/$1"; fi; }
run() { # server ns, client ns, address
    nsenter --net="$(ns "$1")" iperf3 -s -1 -p 5302 >/dev/null 2>&1 & local sp=$!
    sleep 0.4
    nsenter --net="$(ns "$2")" iperf3 -c "$3" -p 5302 -t "$secs" -J |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)'
    wait $sp || true
}
out=$(for r in $(seq "$rounds"); do
    for c in "${configs[@]}"; do
        set -- $c
        echo "$1 $(run "$2" "$3" "$4")"
    done
    echo "round $r done" >&2
done)
echo "$out" | python3 -c '
import collections, statistics, sys
v = collections.defaultdict(list)
for line in sys.stdin:
    k, g = line.split()
    v[k].append(float(g))
lo = statistics.median(v["host-loopback"])
for k, xs in v.items():
    m = statistics.median(xs)
    rounds = ", ".join("%.1f" % x for x in xs)
    print(f"{k:34} median {m:5.1f} Gbit/s {100 * m / lo:4.0f}% of host loopback (rounds: {rounds})")
'
