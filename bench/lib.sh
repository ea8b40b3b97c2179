# Pieces the bench scripts share; sourced by them (`. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`).

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
