#!/usr/bin/env bash
# Public conformance suites against an OCI runtime (berth-runtime by default; runc
# or crun for comparison). The suites are not part of this repository: check them
# out from their public repositories and pass the checkout's path.
#
#   scripts/conformance.sh runtime-tools SRC [RUNTIME]
#       The OCI runtime-tools validation suite (github.com/opencontainers/runtime-tools,
#       e.g. Debian's commit 0105384 or head 5e63903). Builds runtimetest and every
#       validation/*/*.t once (from the vendored modules: GOFLAGS=-mod=vendor GOPROXY=off;
#       Debian's golang-go 1.19 builds 0105384, head needs Go >= 1.21 for its vendored
#       moby/sys (stdlib `slices`): GO=/usr/lib/go-1.23/bin/go from bookworm-backports'
#       golang-1.23-go), then runs each file with
#       RUNTIME=... from SRC and prints
#           files passing / ok / not ok   (a file passes: exit 0 and no `not ok`)
#   scripts/conformance.sh bats SRC [RUNTIME]
#       runc's integration suite (github.com/opencontainers/runc at v1.1.5,
#       tests/integration/*.bats) with RUNC=RUNTIME (through a symlink named runc, as a
#       drop-in is installed: help.bats and version.bats match "runc"), under a terminal
#       (`script`), and prints (CONFORMANCE_BATS_FILES picks files, e.g.
#       tests/integration/events.bats)
#           pass / fail / skip
#       It builds the suite's helpers (recvtty, sd-helper, seccompagent) from the checkout
#       and, with no internet, makes the suite's two images itself when they are missing:
#       busybox from Debian's busybox-static (docker-library's passwd/group), and the
#       "debian" image (used only by hooks.bats: ldconfig -p) as busybox plus glibc's
#       loader, libc and ldconfig from the host.
#
# RUNTIME defaults to target/debug/berth-runtime (built if missing). crun 1.8 refuses
# this machine's hybrid cgroup layout, so for a runtime named crun the suite runs in a
# private mount namespace with /sys/fs/cgroup/unified unmounted (set
# CONFORMANCE_HIDE_UNIFIED=1 to do that for any runtime). Logs (every TAP line) go to
# $CONFORMANCE_LOGS (default /tmp/berth-conformance/<suite>-<runtime>).
# Needs root, go (apt golang-go), bats, gawk, jq, gcc, libseccomp-dev, busybox-static.
# Run one suite at a time: runc's tests use fixed container ids and cgroup paths
# (test_busybox), so two runs at once fail each other's tests.
#
# Checkouts, from the mirrors of the public repositories:
#   git --git-dir=RUNTIME_TOOLS.git archive 0105384 | tar -x -C rt-0105384
#   git --git-dir=RUNC.git archive v1.1.5 | tar -x -C runc-1.1.5
# Measured counts and what still fails: bench/CONFORMANCE.md.
set -uo pipefail

usage() {
    echo "usage: $0 runtime-tools|bats SRC [RUNTIME]" >&2
    exit 2
}
[ $# -ge 2 ] || usage
suite=$1
src=$(readlink -f "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)
runtime=${3:-}
if [ -z "$runtime" ]; then
    runtime="$repo/target/debug/berth-runtime"
    [ -x "$runtime" ] || (cd "$repo" && cargo build -p berth-runtime --bin berth-runtime >&2) || exit 1
fi
runtime=$(command -v "$runtime" || echo "$runtime")
runtime=$(readlink -f "$runtime")
[ -x "$runtime" ] || { echo "no runtime binary at $runtime" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
name=$(basename "$runtime")
logs=${CONFORMANCE_LOGS:-/tmp/berth-conformance/$suite-$name}

# crun 1.8: "cgroups in hybrid mode not supported"; hide the hybrid cgroup2 mount.
if [ -z "${CONFORMANCE_INNER:-}" ] && { [ "$name" = crun ] || [ -n "${CONFORMANCE_HIDE_UNIFIED:-}" ]; }; then
    export CONFORMANCE_INNER=1
    exec unshare -m --propagation private bash "$0" "$suite" "$src" "$runtime"
fi
if [ -n "${CONFORMANCE_INNER:-}" ] && mountpoint -q /sys/fs/cgroup/unified; then
    umount /sys/fs/cgroup/unified
fi

export GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local GO111MODULE=on
go=${GO:-go}
mkdir -p "$logs"

runtime_tools() {
    cd "$src" || exit 2
    [ -f rootfs-amd64.tar.gz ] || { echo "$src is no runtime-tools checkout" >&2; exit 2; }
    local files=()
    mapfile -t files < <(find validation -name '*.go' ! -path '*/util/*' | sort)
    if [ ! -x runtimetest ]; then
        CGO_ENABLED=0 "$go" build -tags "netgo osusergo" -o runtimetest ./cmd/runtimetest || exit 1
    fi
    local f
    for f in "${files[@]}"; do
        [ -x "${f%.go}.t" ] || CGO_ENABLED=0 "$go" build -o "${f%.go}.t" "$f" || exit 1
    done
    local pass=0 ok=0 notok=0 total=0 failed=()
    for f in "${files[@]}"; do
        local t=${f%.go}.t base
        base=$(basename "$t" .t)
        total=$((total + 1))
        RUNTIME="$runtime" timeout -k 5 "${CONFORMANCE_FILE_TIMEOUT:-300}" "./$t" >"$logs/$base.tap" 2>"$logs/$base.err" </dev/null
        local rc=$? o n
        o=$(grep -c '^ok' "$logs/$base.tap")
        n=$(grep -c '^not ok' "$logs/$base.tap")
        ok=$((ok + o))
        notok=$((notok + n))
        if [ "$rc" = 0 ] && [ "$n" = 0 ]; then
            pass=$((pass + 1))
        else
            failed+=("$base(rc=$rc,not_ok=$n)")
        fi
    done
    echo "runtime-tools $(git -C "$src" rev-parse --short HEAD 2>/dev/null || basename "$src") with $runtime"
    echo "failing files: ${failed[*]}"
    echo "files passing / ok / not ok: $pass/$total / $ok / $notok"
}

make_images() {
    local td="$src/tests/integration/testdata" tmp
    [ -e "$td/busybox-amd64.tar.xz" ] && [ -e "$td/debian-amd64.tar.xz" ] && return 0
    [ -x /bin/busybox ] || { echo "needs busybox-static" >&2; exit 2; }
    tmp=$(mktemp -d)
    local bb=$tmp/bb
    # No proc or sys: docker-library's busybox rootfs has neither (the runtime
    # makes the mount points), and mask.bats' "prohibit symlink /proc|/sys"
    # replace them with symlinks (`ln -s /symlink rootfs/proc` would make a
    # link inside an existing directory instead, and the test could not fail
    # the way it means to).
    mkdir -p "$bb"/{bin,etc,dev,tmp,root,home,var/spool/mail,var/www,usr/sbin,usr/bin}
    chmod 1777 "$bb/tmp"
    cp /bin/busybox "$bb/bin/busybox"
    local a
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -f "$bb/bin/busybox" "$bb/bin/$a"; done
    printf '%s\n' root:x:0:0:root:/root:/bin/sh daemon:x:1:1:daemon:/usr/sbin:/bin/false \
        bin:x:2:2:bin:/bin:/bin/false sys:x:3:3:sys:/dev:/bin/false sync:x:4:100:sync:/bin:/bin/sync \
        mail:x:8:8:mail:/var/spool/mail:/bin/false www-data:x:33:33:www-data:/var/www:/bin/false \
        operator:x:37:37:Operator:/var:/bin/false nobody:x:65534:65534:nobody:/home:/bin/false >"$bb/etc/passwd"
    printf '%s\n' root:x:0: daemon:x:1: bin:x:2: sys:x:3: adm:x:4: tty:x:5: disk:x:6: lp:x:7: mail:x:8: \
        kmem:x:9: wheel:x:10:root cdrom:x:11: dialout:x:18: floppy:x:19: video:x:28: audio:x:29: tape:x:32: \
        www-data:x:33: operator:x:37: utmp:x:43: plugdev:x:46: staff:x:50: lock:x:54: netdev:x:82: \
        users:x:100: nogroup:x:65534: >"$bb/etc/group"
    tar -C "$bb" -cJf "$td/busybox-amd64.tar.xz" .
    local deb=$tmp/deb
    cp -a "$bb" "$deb"
    mkdir -p "$deb/lib/x86_64-linux-gnu" "$deb/lib64" "$deb/sbin" "$deb/etc/ld.so.conf.d"
    cp -L /lib/x86_64-linux-gnu/libc.so.6 "$deb/lib/x86_64-linux-gnu/"
    cp -L /lib64/ld-linux-x86-64.so.2 "$deb/lib64/"
    rm -f "$deb/bin/ldconfig"
    cp /sbin/ldconfig "$deb/sbin/"
    echo /lib >"$deb/etc/ld.so.conf.d/lib.conf"
    echo 'include /etc/ld.so.conf.d/*.conf' >"$deb/etc/ld.so.conf"
    tar -C "$deb" -cJf "$td/debian-amd64.tar.xz" .
    rm -rf "$tmp"
}

runc_bats() {
    cd "$src" || exit 2
    [ -d tests/integration ] || { echo "$src is no runc checkout" >&2; exit 2; }
    local d
    # seccompagent needs the seccomp build tag (cgo, libseccomp-dev), or it
    # only prints "Not supported" and every SCMP_ACT_NOTIFY test fails.
    for d in recvtty sd-helper seccompagent; do
        [ -x "contrib/cmd/$d/$d" ] || "$go" build -tags seccomp -o "contrib/cmd/$d/$d" "./contrib/cmd/$d" || exit 1
    done
    make_images
    # A runtime that hangs on a pre-frozen cgroup (cgroups.bats; issue 15's bug 4)
    # would stall the suite: thaw the suite's cgroups frozen for over 60 s.
    # (bats' own BATS_TEST_TIMEOUT breaks events.bats' background readers.)
    (
        declare -A frozen
        while sleep 10; do
            for f in /sys/fs/cgroup/freezer/runc-cgroups-integration-test/*/freezer.state; do
                if grep -qs FROZEN "$f"; then
                    frozen[$f]=$((${frozen[$f]:-0} + 10))
                    if [ "${frozen[$f]}" -ge 60 ]; then
                        echo "thawed $f after 60 s" >>"$logs/thawed.log"
                        echo THAWED >"$f"
                        unset "frozen[$f]"
                    fi
                else
                    unset "frozen[$f]"
                fi
            done
        done
    ) &
    local watchdog=$!
    # The suite's helpers.bash wants a terminal for the -t tests: run under script(1).
    # Installed as runc, as a drop-in is: the suite matches "runc version" and
    # "runc - ..." in the output of the binary it runs.
    local as_runc=$runtime
    if [ "$name" != runc ]; then
        as_runc=$(mktemp -d)/runc
        ln -s "$runtime" "$as_runc"
    fi
    RUNC="$as_runc" script -qefc "bats -t ${CONFORMANCE_BATS_FILES:-tests/integration}" /dev/null </dev/null | tr -d '\r' >"$logs/bats.tap"
    kill "$watchdog"
    local pass fail skip
    pass=$(grep '^ok' "$logs/bats.tap" | grep -vc '# skip')
    skip=$(grep '^ok' "$logs/bats.tap" | grep -c '# skip')
    fail=$(grep -c '^not ok' "$logs/bats.tap")
    echo "runc bats $(git -C "$src" describe --tags 2>/dev/null || basename "$src") with $runtime"
    grep '^not ok' "$logs/bats.tap"
    echo "pass / fail / skip: $pass / $fail / $skip   (TAP: $logs/bats.tap)"
}

# A runtime under test may change the host's /dev/null: crun 1.8.1 chowns it to the exec user in
# exec.bats' "--user vs /dev/null ownership" (runc and berth-runtime leave it). Put it back after
# the run whatever happened, so one runtime's run never fails the next one's.
devnull_owner=$(stat -c %u:%g /dev/null)
trap 'if [ "$(stat -c %u:%g /dev/null)" != "$devnull_owner" ]; then
        echo "the run changed the owner of /dev/null to $(stat -c %u:%g /dev/null); restored $devnull_owner" >&2
        chown "$devnull_owner" /dev/null
      fi' EXIT

case $suite in
runtime-tools) runtime_tools ;;
bats) runc_bats ;;
*) usage ;;
esac
