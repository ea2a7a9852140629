#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every CTest test
# (unit, golden, fuzz and integration tests).
#
#   deploy/run-tests.sh [CTEST_ARGS...]
#   deploy/run-tests.sh --stress N [CTEST_ARGS...]
#
# --stress N runs the integration tests (real coordinator, mpirun worker
# groups, Prometheus, the demo) N times, each time beside a CPU hog on every
# core (stress-ng), and reports every test that failed in any round: a test
# that waits a fixed time or reads state before it is there fails there long
# before it fails on a quiet machine. docs/testing.md has the details.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ALIGN_BUILD_DIR:-$root/build}"

rounds=
if [[ "${1:-}" == --stress ]]; then
  if [[ ! "${2:-}" =~ ^[1-9][0-9]*$ ]]; then
    echo "run-tests.sh: --stress needs a number of rounds (a positive integer), got '${2:-}'" >&2
    exit 2
  fi
  rounds=$2
  shift 2
fi

"$root/deploy/install-deps.sh"
"$root/deploy/build.sh"
cd "$build"
if [[ -z "$rounds" ]]; then
  ctest --output-on-failure -j "${ALIGN_JOBS:-$(nproc)}" "$@"
  exit 0
fi

# ---- --stress N ----------------------------------------------------------------
# The scripts in tests/integration and the GoogleTest suites that start the
# real programs (align-worker under mpirun, align-coordinator, alignctl).
# A -R in CTEST_ARGS comes later on ctest's command line and replaces this.
integration='^(alignctl_coordinator_cli|worker_coordinator_integration|grafana_dashboards|deploy_demo)$|IntegrationTest\.'
command -v stress-ng > /dev/null || { echo "run-tests.sh: stress-ng is missing (deploy/install-deps.sh installs it)" >&2; exit 2; }
tests=$(ctest -N -R "$integration" "$@" | sed -n 's/^Total Tests: //p')
if [[ -z "$tests" || "$tests" == 0 ]]; then
  echo "run-tests.sh: no integration tests match in $build" >&2
  exit 2
fi
cores=$(nproc)
results=$(mktemp -d)

hog=
stop_hog() {
  # stress-ng stops its workers when it gets SIGTERM.
  if [[ -n "$hog" ]]; then
    kill -TERM "$hog" 2>/dev/null || true
    wait "$hog" 2>/dev/null || true
    hog=
  fi
}
trap 'stop_hog; rm -rf "$results"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
stress-ng --cpu "$cores" --quiet &
hog=$!

for ((round = 1; round <= rounds; ++round)); do
  kill -0 "$hog" 2>/dev/null || { echo "run-tests.sh: stress-ng exited; no load to test under" >&2; exit 2; }
  echo "== stress round $round of $rounds: $tests integration tests beside stress-ng --cpu $cores"
  # A failed test makes ctest exit non-zero; the JUnit file says which one.
  ctest --output-on-failure -j "${ALIGN_JOBS:-$cores}" -R "$integration" \
    --output-junit "$results/round-$round.xml" "$@" || true
done
stop_hog

# Every test that did not pass in some round, with the rounds it failed in. A
# round without results (ctest could not run) counts as failed for all tests.
python3 - "$results" "$rounds" "$tests" "$cores" <<'PY'
import glob, os, sys
import xml.etree.ElementTree as ET

results, rounds, tests, cores = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
failed = {}  # test name -> rounds it failed in
for round in range(1, rounds + 1):
    path = os.path.join(results, f"round-{round}.xml")
    try:
        cases = ET.parse(path).getroot().iter("testcase")
    except (OSError, ET.ParseError):
        failed.setdefault("(the whole round: ctest wrote no results)", []).append(round)
        continue
    for case in cases:
        # "run" passed; "disabled" never runs. Anything else (fail, a
        # timeout, notrun) is a failure.
        if case.get("status") not in ("run", "disabled"):
            failed.setdefault(case.get("name"), []).append(round)
print(f"== stress: {rounds} round(s) of {tests} integration tests beside stress-ng --cpu {cores}")
if not failed:
    print("   every test passed in every round")
    sys.exit(0)
for name, where in sorted(failed.items()):
    print(f"   FAILED {name}: in {len(where)} of {rounds} round(s) ({', '.join(map(str, where))})")
sys.exit(1)
PY
