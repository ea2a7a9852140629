#!/bin/sh
# Builds the libFuzzer target in its own clang build tree and runs its ctest
# (safetensors_fuzz). Exits 77, which ctest reports as skipped, only when
# clang++ or libFuzzer is missing; any other problem is a failure.
#   run_fuzzer.sh <source root> <fuzz build dir> [runs]
set -eu
src=$1
build=$2
runs=${3:-}

if ! command -v clang++ >/dev/null 2>&1; then
  echo "clang++ not found: skipping the libFuzzer run"
  exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
  > "$probe/probe.cc"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe/probe.cc" -o "$probe/probe" \
     > "$probe/log" 2>&1; then
  cat "$probe/log"
  echo "clang++ cannot link libFuzzer (libclang-rt-dev missing?): skipping the libFuzzer run"
  exit 77
fi

cmake -S "$src" -B "$build" -DALIGN_FUZZ_ONLY=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo ${runs:+-DALIGN_FUZZ_RUNS=$runs}
cmake --build "$build" --parallel "${ALIGN_FUZZ_JOBS:-2}"

status=0
(cd "$build" && ctest --output-on-failure -V -R '^safetensors_fuzz$') > "$build/fuzz.log" 2>&1 || status=$?
cat "$build/fuzz.log"
executed=$(sed -n 's/.*Done \([0-9][0-9]*\) runs.*/\1/p' "$build/fuzz.log" | tail -n 1)
echo "libFuzzer executed ${executed:-no} inputs (exit status $status)"
exit "$status"
