#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every CTest test
# (unit, golden, fuzz and integration tests).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ALIGN_BUILD_DIR:-$root/build}"

"$root/deploy/install-deps.sh"
"$root/deploy/build.sh"
cd "$build"
ctest --output-on-failure -j "${ALIGN_JOBS:-$(nproc)}" "$@"
