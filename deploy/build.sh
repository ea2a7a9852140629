#!/usr/bin/env bash
# Configures and builds the project into ./build (or $ALIGN_BUILD_DIR), with
# ccache when present. Extra arguments go to the CMake configure step.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ALIGN_BUILD_DIR:-$root/build}"
jobs="${ALIGN_JOBS:-$(nproc)}"

# ccache keys relative to the checkout, so a fresh clone elsewhere (CI) hits what this
# checkout compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"

generator=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$build/Makefile" ]; then generator=(-G Ninja); fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" "$@"
cmake --build "$build" -j "$jobs"
