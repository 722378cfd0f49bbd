#!/usr/bin/env bash
# Formats every C++ source with the repository's .clang-format (Google base, 100 columns).
#   scripts/format.sh          rewrite files in place
#   scripts/format.sh --check  list files that are not formatted; exit 1 if any
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! command -v clang-format >/dev/null; then
  echo "format.sh: clang-format not found; install it with: apt-get install clang-format" >&2
  exit 2
fi
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'bench/*.cc')
case "${1:-}" in
  --check)
    bad=0
    for f in "${files[@]}"; do
      if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then echo "$f"; bad=1; fi
    done
    exit $bad ;;
  -h|--help) sed -n '2,4p' "$0" | sed 's/^# //'; exit 0 ;;
  "") clang-format -i "${files[@]}" ;;
  *) echo "format.sh: unknown option '$1' (--check|--help)" >&2; exit 2 ;;
esac
