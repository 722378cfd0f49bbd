#!/usr/bin/env bash
# pipeline-manager.sh: start, stop, probe and tail the ctml platform by level.
# A thin wrapper over `build/bin/ctml manager` that keeps the flags of the stack ctml replaces;
# it (re)builds the binary first when it is missing or older than the sources.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin="$root/build/bin/ctml"

usage() {
  cat <<'USAGE'
Usage: ./pipeline-manager.sh [--profile NAME] ACTION|VIEW... [--level N|all]

Actions (at most one):
  --start              start levels 0..N (idempotent); with level 4 also load the demo data,
                       train the first model and make serving ready
  --stop               stop the services of levels 1..N (SIGTERM, then SIGKILL); with every
                       level (the default) also the profile's own Level 0 services
                       (services.managed: kafka, redis, postgres, s3 in the distributed profile)
  --restart-rebuild    stop levels 1..N, rebuild, start levels 0..N
  --clean              stop everything and delete var/ data (keeps var/secrets/)
  --all-data           with --clean: also delete var/secrets/ (the privacy key)

Views (combinable, shown after the action):
  -s   summary: services, pids, ports, uptime; topics, lag, lake files, models
  -h   health: UP/DOWN per service and store (exit 1 if anything is down)
  -l   logs: last 20 lines of each service log (-n N for more)
  -o   URLs of the services
  -v   topology: levels, services, ports, topics
  -d   sample payloads (gateway and /v1/predict curls)

Level 3 utilities (with --level 3; each is `ctml features <tool>`, see its --help):
  --compare-stores [DATE]            online vs offline store, per feature, every subject
                                     (exit 1 on any mismatch)
  --query-offline-features [DATE]    rows of the offline snapshot (default: the latest)
  --query-online-features PATIENT    the online vector of a patient (raw id, pseudonymized)
  --monitor-feature-pipeline [DATE]  events in, features written, lag, freshness
  --inspect-feature-volume [NAME]    files, partitions, sizes, row counts

Options:
  --level N|all        levels 0-4 (default: all)
  --profile NAME       use ctml.NAME.yaml (embedded = ctml.yaml, the default; distributed =
                       Kafka, S3, Redis, PostgreSQL started by scripts/services/*.sh)
  --help               this help (`build/bin/ctml manager --help` for the binary's own)

Examples:
  ./pipeline-manager.sh --start --level 4
  ./pipeline-manager.sh --start --level 4 --profile distributed
  ./pipeline-manager.sh -s -h --level 4
  ./pipeline-manager.sh --level 3 --compare-stores
  ./pipeline-manager.sh --stop

Exit codes: 0 ok, 1 a service failed to start or is unhealthy, 2 usage error.
USAGE
}

config=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --help) usage; exit 0 ;;
    --profile)
      [ $# -ge 2 ] || { echo "pipeline-manager.sh: --profile needs a NAME" >&2; exit 2; }
      profile=$2; shift 2
      if [ "$profile" = "embedded" ]; then
        config="$root/ctml.yaml"
      else
        config="$root/ctml.$profile.yaml"
      fi
      if [ ! -f "$config" ]; then
        echo "pipeline-manager.sh: no config for profile '$profile' ($config)" >&2
        exit 2
      fi
      ;;
    --profile=*)
      set -- --profile "${1#--profile=}" "${@:2}" ;;
    *) args+=("$1"); shift ;;
  esac
done

# Rebuild when the binary is missing or any build input is newer than it.
needs_build=0
if [ ! -x "$bin" ]; then
  needs_build=1
elif [ -n "$(find "$root/src" "$root/cmake" "$root/CMakeLists.txt" -newer "$bin" -print -quit 2>/dev/null)" ]; then
  needs_build=1
fi
if [ "$needs_build" -eq 1 ]; then
  missing_deps=0
  [ -x "$root/.venv/bin/python3" ] || missing_deps=1
  for p in cmake ninja-build libboost1.81-dev libsqlite3-dev libxgboost-dev libcli11-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_deps=1
  done
  if [ "$missing_deps" -eq 1 ]; then
    echo "pipeline-manager.sh: installing build dependencies (scripts/bootstrap.sh)" >&2
    "$root/scripts/bootstrap.sh"
  fi
  echo "pipeline-manager.sh: building build/bin/ctml (scripts/build.sh)" >&2
  "$root/scripts/build.sh" >&2
fi

if [ -n "$config" ]; then
  exec "$bin" --config "$config" manager ${args[@]+"${args[@]}"}
fi
exec "$bin" manager ${args[@]+"${args[@]}"}
