#!/usr/bin/env bash
# Run the Python docker SDK 7.x integration tests (non-swarm files) against an Engine API
# endpoint: berthd, or a dockerd to compare with. The 7.x sdists ship no tests: give the
# `tests` directory of the docker/docker-py repository at the tag (git archive 7.1.0 tests).
# Usage: bash scripts/sdk7-suite.sh unix:///path/to.sock /path/to/tests [extra pytest args]
# Prints pytest's summary line; the full log is in $SDK_WORK/<name>-7.log.
#
# The suite's credentials tests replace os.environ, so every later test loses DOCKER_HOST and
# talks to /var/run/docker.sock: the run happens in a private mount namespace where that path
# is the daemon under test (so a dockerd of the host is never touched).
set -euo pipefail
host=${1:?usage: sdk7-suite.sh unix:///path/to.sock /path/to/tests}
tests=$(realpath "${2:?the docker-py tests directory (git archive 7.1.0 tests)}")
shift 2
sock=${host#unix://}
work=${SDK_WORK:-/tmp/berth-sdk}
mkdir -p "$work"
if [ ! -x "$work/venv7/bin/pytest" ]; then
    python3 -m venv "$work/venv7"
    "$work/venv7/bin/pip" install -q docker==7.1.0 pytest pytest-timeout paramiko
fi

# The suite's images, made offline: a full busybox (every applet, passwd and group) tagged
# under the names the tests use.
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
cp /bin/busybox "$rootfs/bin/busybox"
chroot "$rootfs" /bin/busybox --install -s /bin
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
export DOCKER_HOST=$host
tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/sh"]' - busybox:latest >/dev/null
for t in busybox:buildroot-2014.02 alpine:3.10 alpine:latest; do docker tag busybox:latest "$t"; done

name=$(echo "$host" | tr -c 'a-zA-Z0-9\n' '_')
# The context tests write ~/.docker: a fresh home per run, so a run never sees an earlier one's.
rm -rf "$work/home-$name"
# The context tests also leave a `contexts` store beside the tests directory (seen after a run:
# $tests/../contexts with a context `test`); the next run's context tests then fail on it.
rm -rf "$(dirname "$tests")/contexts"
mkdir -p "$work/home-$name"
export HOME="$work/home-$name"
# SDK7_FILES=PATTERN runs the files matching it instead (e.g. `plugin`: scripts/sdk7-plugins.sh).
if [ -n "${SDK7_FILES:-}" ]; then
    files=$(cd "$tests/integration" && ls ./*_test.py | grep -E "$SDK7_FILES" | sed "s|^\./|$tests/integration/|")
else
    files=$(cd "$tests/integration" && ls ./*_test.py | grep -v -E 'swarm|service|secret|config|node|plugin' | sed "s|^\./|$tests/integration/|")
fi
# shellcheck disable=SC2086
unshare -m bash -c '
    set -e
    mount -t tmpfs tmpfs /run
    ln -s "$1" /run/docker.sock
    cd "$2/.."
    shift 2
    exec "$@"
' _ "$sock" "$tests" "$work/venv7/bin/pytest" -q -rfE -p no:cacheprovider --timeout 120 \
    $files "$@" > "$work/$name-7.log" 2>&1 || true
tail -1 "$work/$name-7.log"
