#!/usr/bin/env bash
# Berth on a fresh Debian machine, as root: install the packages the build needs, build in release
# mode, run a container with berth-runtime directly, then leave berthd running with its default
# state (/var/lib/berth, /run/berth/berth.sock):
#   - where systemd is PID 1: as the berth package's systemd service (socket-activated, enabled,
#     so it comes back after a reboot);
#   - elsewhere: in the background, pid file /run/berth/berthd.pid, log /var/log/berthd.log.
# It creates the docker context `berth` and runs a container through it.
#
#   bash scripts/quickstart.sh          # set up and leave berthd running
#   bash scripts/quickstart.sh --stop   # stop it and remove what the quickstart made
#
# Environment (for tests and CI): BERTH_QUICKSTART_BIN_DIR=DIR uses binaries already built there
# (no apt, no build); BERTH_QUICKSTART_DAEMON_ARGS adds berthd flags in background mode.
set -euo pipefail
cd "$(dirname "$0")/.."

sock=/run/berth/berth.sock
pidfile=/run/berth/berthd.pid
log=/var/log/berthd.log
state=/run/berth/quickstart   # what this script made, for --stop

if [ "$(id -u)" != 0 ]; then
    echo "quickstart: run as root (it installs packages and creates namespaces)" >&2
    exit 1
fi
systemd_runs() { [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; }
have_docker() { command -v docker >/dev/null 2>&1; }

stop() {
    if [ -f "$state/image" ] && [ -S "$sock" ]; then
        DOCKER_HOST="unix://$sock" docker rmi "$(cat "$state/image")" >/dev/null 2>&1 || true
    fi
    if [ -f "$state/package" ]; then
        apt-get remove -y -qq berth >/dev/null
        echo "quickstart: removed the berth package (berthd.service and berthd.socket stopped)"
    elif [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$pidfile"
        echo "quickstart: stopped berthd (pid $pid); containers it ran keep running until removed"
    fi
    if [ -f "$state/context" ] && have_docker; then
        [ "$(docker context show 2>/dev/null)" = berth ] && docker context use default >/dev/null
        docker context rm -f berth >/dev/null 2>&1 || true
        echo "quickstart: removed the docker context berth"
    fi
    rm -rf "$state"
    # The exec root's empty directories, the runtime's seccomp cache and its spare state
    # directory (a removed container's, kept for the next one; anything in use stays).
    rm -rf /run/berth/runtime/*/.seccomp-cache /run/berth/runtime/*/.spare
    [ -d /run/berth ] && find /run/berth -depth -type d -empty -delete 2>/dev/null || true
    echo "quickstart: stopped (state in /var/lib/berth is kept; remove it by hand if you want it gone)"
}

if [ "${1:-}" = --stop ]; then
    stop
    exit 0
elif [ -n "${1:-}" ]; then
    echo "quickstart: unknown argument $1 (want nothing, or --stop)" >&2
    exit 2
fi

bin="${BERTH_QUICKSTART_BIN_DIR:-}"
if [ -z "$bin" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    mapfile -t pkgs < <(cat .ci/apt-packages.d/*.txt | sed 's/#.*//' | awk 'NF' | sort -u)
    apt-get install -y -qq "${pkgs[@]}" >/dev/null
    cargo build --release --locked -p berth-runtime -p berthd -p berth-shim -p berth-init -p berth
    bin="$PWD/target/release"
fi
bin=$(cd "$bin" && pwd)

# 1. The runtime alone: a busybox bundle run by berth-runtime, as runc would run it.
bundle=$(mktemp -d /tmp/berth-quickstart.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for tool in $(/bin/busybox --list); do
    [ "$tool" = busybox ] || ln -s busybox "$bundle/rootfs/bin/$tool"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$bundle/rootfs/etc/passwd"
"$bin/berth-runtime" spec --bundle "$bundle"
jq '.process.terminal = false
    | .process.args = ["sh", "-c", "echo hello from $(hostname), pid $$, in a berth container"]' \
    "$bundle/config.json" > "$bundle/config.new" && mv "$bundle/config.new" "$bundle/config.json"
"$bin/berth-runtime" run --bundle "$bundle" "quickstart-$$"

# 2. The engine, left running.
mkdir -p "$state"
if [ -S "$sock" ] && DOCKER_HOST="unix://$sock" "$bin/berth" version >/dev/null 2>&1; then
    echo "quickstart: a berthd already serves $sock; using it"
elif systemd_runs; then
    deb=$(bash scripts/build-deb.sh --bin-dir "$bin" --out target/deb)
    apt-get install -y -qq "./$deb" >/dev/null
    touch "$state/package"
    systemctl enable --now berthd.socket berthd.service
else
    mkdir -p /run/berth
    # shellcheck disable=SC2086
    setsid "$bin/berthd" --pidfile "$pidfile" ${BERTH_QUICKSTART_DAEMON_ARGS:-} \
        </dev/null >>"$log" 2>&1 &
    echo "quickstart: systemd is not PID 1 here: berthd runs in the background (pid $!, pid file $pidfile, log $log)"
fi
for _ in $(seq 200); do
    DOCKER_HOST="unix://$sock" "$bin/berth" version >/dev/null 2>&1 && break
    sleep 0.1
done
DOCKER_HOST="unix://$sock" "$bin/berth" version >/dev/null || {
    echo "quickstart: berthd did not come up; its log: $log (or journalctl -u berthd)" >&2
    exit 1
}

# 3. An image made from the bundle's rootfs (nothing comes from Docker Hub), and a container.
image=quickstart/busybox:latest
tar -C "$bundle/rootfs" -c . | DOCKER_HOST="unix://$sock" "$bin/berth" import --change 'CMD ["/bin/sh"]' - "$image" >/dev/null
echo "$image" > "$state/image"
if have_docker; then
    if docker context inspect berth >/dev/null 2>&1; then
        docker context update berth --docker "host=unix://$sock" >/dev/null
    else
        docker context create berth --docker "host=unix://$sock" >/dev/null
        touch "$state/context"
    fi
    docker --context berth run --rm "$image" sh -c 'echo "hello from a berthd container ($(hostname))"'
else
    DOCKER_HOST="unix://$sock" "$bin/berth" run --rm "$image" sh -c 'echo "hello from a berthd container ($(hostname))"'
fi

cat <<USAGE

quickstart: berthd is running on $sock.
  docker --context berth ps                 # the stock docker CLI, through the context "berth"
  docker --context berth run --rm $image echo hi
  docker context use berth                  # make it the default for plain "docker ..."
  DOCKER_HOST=unix://$sock $bin/berth ps    # or the berth CLI
Stop it and remove what the quickstart made:  bash scripts/quickstart.sh --stop
USAGE
