#!/usr/bin/env bash
# Level 3 figures on the CDISC pilot: times `ctml features --batch --all`, `ctml features
# training-set --label ae_discontinuation_30d --grid visits` and the streaming materializer
# (`ctml features` consuming every silver.* topic from the start until /stats stops growing).
#
#   bench/features_pilot.sh [--var DIR] [--prepare] [--ctml BIN] [--sdtm DIR] [--port N] [--keep]
#
#   --var DIR    var dir holding the imported and processed pilot (default /dev/shm/pilot/var)
#   --prepare    create DIR first: `ctml import sdtm`, then `ctml bronze-sink` and `ctml process`
#                (ports 18583/18584) until `ctml process report` balances and both consumers
#                have read everything, then stop them
#   --ctml BIN   the ctml binary (default build/bin/ctml)
#   --sdtm DIR   pilot SDTM files for --prepare (default ../shared/data/sdtm/cdiscpilot01)
#   --port N     port of the streaming service's /stats (default 18585)
#   --keep       keep the work copy (its path and logs are printed)
#
# DIR itself is never written after --prepare: every step runs on a copy of its event log and
# silver/ (under /dev/shm when it exists); each streaming run gets its own copy without the
# "features" consumer group (sqlite3 needed) and with an empty online store. Streaming is timed twice: "cold" with an empty lake (the
# state is built from the topics alone: parse, engine, sqlite online store) and "after rebuild"
# (the service's normal start: state loaded from Silver, then the topic records are repeats).
# Services listen on 127.0.0.1 only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

var=/dev/shm/pilot/var
prepare=0
keep=0
port=18585
ctml=$root/build/bin/ctml
sdtm=$root/../shared/data/sdtm/cdiscpilot01
raw_topics="patient-vitals lab-results adverse-events medications demographics exposure disposition"

die() {
  echo "features_pilot.sh: $*" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --var) [ $# -ge 2 ] || die "--var needs a directory"; var=$2; shift 2 ;;
    --prepare) prepare=1; shift ;;
    --ctml) [ $# -ge 2 ] || die "--ctml needs a path"; ctml=$2; shift 2 ;;
    --sdtm) [ $# -ge 2 ] || die "--sdtm needs a directory"; sdtm=$2; shift 2 ;;
    --port) [ $# -ge 2 ] || die "--port needs a number"; port=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[ -x "$ctml" ] || die "no ctml binary at $ctml (build it, or pass --ctml)"
command -v curl >/dev/null || die "curl is required (it reads the service's /stats)"
ctml=$(cd "$(dirname "$ctml")" && pwd)/$(basename "$ctml")
var=$(mkdir -p "$(dirname "$var")" && cd "$(dirname "$var")" && pwd)/$(basename "$var")

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

pids=()
work=""
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ -n "$work" ] && [ "$keep" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops one service started by this script (by its pid) and forgets it.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep_pids=()
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep_pids+=("$p"); done
  pids=("${keep_pids[@]+"${keep_pids[@]}"}")
}

C=("$ctml" --config "$root/ctml.yaml")

# Records not yet committed by `group` on the raw topics (-1 when it cannot be told).
lag() {
  command -v sqlite3 >/dev/null || { echo -1; return; }
  local list
  list=$(printf "'%s'," $raw_topics)
  sqlite3 -readonly "$var/eventlog.db" \
    "SELECT (SELECT COALESCE(SUM(end_offset), 0) FROM partitions WHERE topic IN (${list%,})) -
            (SELECT COALESCE(SUM(next_offset), 0) FROM group_offsets
             WHERE grp = '$1' AND topic IN (${list%,}))" 2>/dev/null || echo -1
}

if [ "$prepare" = 1 ]; then
  [ -d "$sdtm" ] || die "no SDTM directory at $sdtm (pass --sdtm)"
  [ ! -e "$var/eventlog.db" ] || die "$var already holds an event log; --prepare needs a new dir"
  mkdir -p "$var/bench-logs"
  export CTML_PATHS_VAR=$var
  export CTML_BRONZE_SINK_HOST=127.0.0.1 CTML_BRONZE_SINK_PORT=18583
  export CTML_PROCESS_HOST=127.0.0.1 CTML_PROCESS_PORT=18584
  export CTML_BRONZE_SINK_BATCH_RECORDS=10000 CTML_PROCESS_BATCH_RECORDS=10000
  echo "prepare: importing $sdtm into $var" >&2
  t0=$(now)
  "${C[@]}" import sdtm "$sdtm" >"$var/bench-logs/import.log" 2>&1 ||
    die "import failed (see $var/bench-logs/import.log)"
  "${C[@]}" bronze-sink >"$var/bench-logs/bronze-sink.log" 2>&1 &
  sink=$!
  pids+=("$sink")
  "${C[@]}" process >"$var/bench-logs/process.log" 2>&1 &
  proc=$!
  pids+=("$proc")
  done=0
  last=""
  for _ in $(seq 1 360); do
    sleep 5
    kill -0 "$sink" 2>/dev/null || die "bronze-sink exited (see $var/bench-logs/bronze-sink.log)"
    kill -0 "$proc" 2>/dev/null || die "process exited (see $var/bench-logs/process.log)"
    if "${C[@]}" process report >"$var/bench-logs/report.txt" 2>&1; then
      l1=$(lag bronze-sink)
      l2=$(lag process)
      report=$(cat "$var/bench-logs/report.txt")
      # Without sqlite3 (lag -1): two equal balanced reports in a row.
      if { [ "$l1" = 0 ] && [ "$l2" = 0 ]; } ||
         { [ "$l1" = -1 ] && [ "$report" = "$last" ]; }; then
        done=1
        break
      fi
      last=$report
    fi
  done
  [ "$done" = 1 ] || die "process report did not balance in 30 min (see $var/bench-logs/)"
  stop "$proc"
  stop "$sink"
  echo "prepare: done in $(elapsed "$t0" "$(now)") s; report: $var/bench-logs/report.txt" >&2
  unset CTML_PATHS_VAR
fi

[ -f "$var/eventlog.db" ] || die "$var has no eventlog.db (use --prepare to create it)"
[ -d "$var/lake/silver" ] || die "$var has no lake/silver (run ctml process on it first)"

base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/ctml-features-pilot.XXXXXX")
mkdir -p "$work/logs"
echo "work copy: $work" >&2

# A var copy with the event log, silver/ and the secrets (never the original's online store,
# features/ or datasets/). $1: target var dir; $2: "empty" for an empty lake. The event log is
# copied with sqlite's online backup (services may be using the original) and the copy's
# "features" consumer group is dropped, so `ctml features` reads every topic from the start.
copy_var() {
  mkdir -p "$1/lake"
  if command -v sqlite3 >/dev/null; then
    sqlite3 -readonly "$var/eventlog.db" ".backup '$1/eventlog.db'"
    sqlite3 "$1/eventlog.db" "DELETE FROM group_offsets WHERE grp = 'features'"
  else
    echo "features_pilot.sh: no sqlite3: plain copy of the event log, consumer group kept" >&2
    cp "$var/eventlog.db" "$1/"
    for f in "$var/eventlog.db-wal" "$var/eventlog.db-shm"; do [ ! -f "$f" ] || cp "$f" "$1/"; done
  fi
  [ ! -d "$var/secrets" ] || cp -a "$var/secrets" "$1/"
  [ "${2:-}" = empty ] || cp -a "$var/lake/silver" "$1/lake/"
}

export CTML_FEATURES_HOST=127.0.0.1 CTML_FEATURES_PORT=$port

# --- offline: daily snapshots and the training set -----------------------------------------------
copy_var "$work/var"
export CTML_PATHS_VAR=$work/var
t0=$(now)
"${C[@]}" features --batch --all >"$work/logs/batch.log" 2>&1 ||
  die "features --batch --all failed (see $work/logs/batch.log)"
batch_s=$(elapsed "$t0" "$(now)")
batch_line=$(grep -o 'wrote [0-9]* file(s), [0-9]* rows' "$work/logs/batch.log" | tail -1)
batch_files=$(echo "$batch_line" | awk '{print $2}')
batch_rows=$(echo "$batch_line" | awk '{print $4}')

t0=$(now)
"${C[@]}" features training-set --label ae_discontinuation_30d --grid visits \
  >"$work/logs/training-set.out" 2>"$work/logs/training-set.log" ||
  die "features training-set failed (see $work/logs/training-set.log)"
ts_s=$(elapsed "$t0" "$(now)")
ts_line=$(grep -o 'examples=[0-9]* positives=[0-9]* subjects=[0-9]*' "$work/logs/training-set.log" |
  tail -1)
silver_rows=$(grep -o 'read [0-9]* rows of silver/' "$work/logs/training-set.log" |
  awk '{s += $2} END {print s + 0}')

# --- streaming ------------------------------------------------------------------------------------
stats() { curl -s --max-time 2 "http://127.0.0.1:$port/stats" 2>/dev/null || true; }
field() { echo "$1" | grep -o "\"$2\":[a-z0-9]*" | head -1 | cut -d: -f2; }

# $1: label, $2: "empty" for the cold run. Sets r_rebuild (s to /ready), r_events, r_s (s from
# /ready to the last growth of events) and r_vectors.
stream() {
  local v=$work/stream-$1
  if curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$port/"; then
    die "port $port is already in use on 127.0.0.1 (pass --port)"
  fi
  copy_var "$v/var" "${2:-}"
  export CTML_PATHS_VAR=$v/var
  local t0 ready_t="" t_last events=0 vectors=0 s e idle=0
  t0=$(now)
  "${C[@]}" features >"$work/logs/stream-$1.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  t_last=$t0
  while :; do
    sleep 0.2
    kill -0 "$pid" 2>/dev/null || die "ctml features exited (see $work/logs/stream-$1.log)"
    s=$(stats)
    [ -n "$s" ] || continue
    if [ -z "$ready_t" ]; then
      [ "$(field "$s" ready)" = true ] || continue
      ready_t=$(now)
      t_last=$ready_t
    fi
    e=$(field "$s" events)
    if [ "${e:-0}" != "$events" ]; then
      events=$e
      vectors=$(field "$s" vectors_written)
      t_last=$(now)
      idle=0
    else
      idle=$((idle + 1))
      # 4 s without growth (the service polls every 500 ms): the topics are consumed.
      [ "$idle" -lt 20 ] || break
    fi
  done
  stop "$pid"
  r_rebuild=$(elapsed "$t0" "$ready_t")
  r_events=$events
  r_s=$(elapsed "$ready_t" "$t_last")
  r_vectors=$vectors
}

stream cold empty
cold_rebuild=$r_rebuild cold_events=$r_events cold_s=$r_s cold_vectors=$r_vectors
stream rebuild
warm_rebuild=$r_rebuild warm_events=$r_events warm_s=$r_s
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }

cores=$(nproc)
echo
echo "Level 3 on the CDISC pilot ($var: $silver_rows Silver rows of the spec's tables; $cores cores)"
printf '%-46s %9s  %s\n' "step" "seconds" "figures"
printf '%-46s %9s  %s\n' "features --batch --all" "$batch_s" \
  "$batch_files daily snapshots, $batch_rows rows"
printf '%-46s %9s  %s\n' "features training-set (ae_discontinuation_30d," "$ts_s" "$ts_line"
printf '%-46s\n' "  --grid visits)"
printf '%-46s %9s  %s\n' "features streaming, cold (empty lake)" "$cold_s" \
  "$cold_events events, $(rate "$cold_events" "$cold_s") events/s, $cold_vectors vectors written"
printf '%-46s %9s  %s\n' "features streaming after rebuild from Silver" "$warm_s" \
  "$warm_events events (repeats), $(rate "$warm_events" "$warm_s") events/s, rebuild ${warm_rebuild} s"
echo "(streaming seconds: from /ready to the last growth of /stats events, 0.2 s resolution;"
echo " cold start to /ready ${cold_rebuild} s)"
if [ "$keep" = 1 ]; then echo "kept: $work (logs in $work/logs)"; fi
