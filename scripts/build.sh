#!/usr/bin/env bash
# Configures (once) and builds ctml with Ninja and ccache. Usage: scripts/build.sh [preset]
# Presets: release (default, build/), debug (build-debug/), asan (build-asan/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
preset=${1:-release}
case "$preset" in
  release) dir=build ;;
  debug) dir=build-debug ;;
  asan) dir=build-asan ;;
  -h|--help) sed -n '2,3p' "$0" | sed 's/^# //'; exit 0 ;;
  *) echo "build.sh: unknown preset '$preset' (release|debug|asan)" >&2; exit 2 ;;
esac
export CCACHE_DIR=${CCACHE_DIR:-$root/.deps/ccache}
if [ ! -f "$dir/build.ninja" ]; then
  cmake --preset "$preset" >/dev/null
fi
cmake --build "$dir" -- -j"$(nproc)"
