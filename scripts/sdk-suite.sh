#!/usr/bin/env bash
# Run the Python docker SDK's own integration tests (the docker 6.1.3 sdist
# ships tests/integration) for the container and image modules against an
# Engine API endpoint: berthd, or a dockerd to compare with.
# Usage: bash scripts/sdk-suite.sh unix:///path/to.sock [extra pytest args]
# Prints pytest's summary line; the full log is in $SDK_WORK/<name>.log.
set -euo pipefail
host=${1:?usage: sdk-suite.sh unix:///path/to.sock}
shift
work=${SDK_WORK:-/tmp/berth-sdk}
mkdir -p "$work"

if [ ! -d "$work/docker-6.1.3" ]; then
    (cd "$work" && pip download -q --no-deps --no-binary :all: docker==6.1.3 -d . && tar xzf docker-6.1.3.tar.gz)
fi
if [ ! -x "$work/venv/bin/pytest" ]; then
    python3 -m venv "$work/venv"
    # docker 6.1.3 predates requests 2.32, which broke its http+docker scheme.
    "$work/venv/bin/pip" install -q docker==6.1.3 "requests<2.32" "urllib3<2" pytest pytest-timeout paramiko
fi

# The suite's images, made offline: a full busybox (every applet, passwd and
# group) tagged under the names the tests use.
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
cp /bin/busybox "$rootfs/bin/busybox"
chroot "$rootfs" /bin/busybox --install -s /bin
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
export DOCKER_HOST=$host
tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/sh"]' - busybox:latest >/dev/null
for t in alpine:3.10 alpine:latest; do docker tag busybox:latest "$t"; done

name=$(echo "$host" | tr -c 'a-zA-Z0-9\n' '_')
cd "$work/docker-6.1.3"
"$work/venv/bin/pytest" -q -rfE -p no:cacheprovider --timeout 120 \
    tests/integration/api_container_test.py tests/integration/api_image_test.py \
    tests/integration/models_containers_test.py tests/integration/models_images_test.py \
    "$@" > "$work/$name.log" 2>&1 || true
tail -1 "$work/$name.log"
