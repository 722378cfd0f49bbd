#!/usr/bin/env bash
# The one test command: bootstrap, build, run every test (unit, contract suites, end to end).
# Exits non-zero when anything fails. Extra arguments go to ctest (e.g. -R core).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bootstrap.sh
scripts/build.sh release
cd build
ctest --output-on-failure --timeout 900 "$@"
