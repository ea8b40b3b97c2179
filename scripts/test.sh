#!/usr/bin/env bash
# Run every test of the workspace. Root tests (namespaces, cgroups, real
# engines) need root; without it they print "skipped: ..." and pass.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
