#!/usr/bin/env bash
# /v1/predict latency (p50, p90, p99) and throughput on loopback, measured with wrk.
#
#   bench/serve_bench.sh [--duration S] [--warmup S] [--ctml BIN] [--keep]
#   bench/serve_bench.sh --var DIR --port P [--seed N] [--duration S] [--warmup S]
#
#   --duration S  seconds of load per scenario (default 15), each after a warm-up of --warmup S
#                 seconds (default 3) with the same connections and body
#   --ctml BIN    the ctml binary (default build/bin/ctml; copied first, so that a rebuild during
#                 the run changes nothing)
#   --keep        keep the temporary var/ (its path is printed)
#   --var DIR --port P
#                 bench a ctml serve that already runs on 127.0.0.1:P with its var/ in DIR instead
#                 of starting a Level 4 (DIR is read for the online vector and the model manifest)
#   --seed N      the demo generator's seed (default 7; with --var: the demo.seed the patients
#                 of that var/ were generated with)
#
# Without --var it starts its own Level 4 (`ctml manager --start --level 4`, embedded profile)
# in a temporary var/ on its own ports (3xxxx) and stops it at the end, whatever happens.
# Scenarios: one record by patient_id at 1 (wrk -t1 -c1) and 64 (-t2 -c64) connections, with
# "use_cache" false and true (the same body: every request after the first is a cache hit);
# explicit "features" (64 connections, cache off); a batch of 32 records by patient_id (64
# connections, cache off). Any non-2xx response or socket error fails the run (exit 1).
# Prints a table and appends it as Markdown to bench/results/serve-<UTC date>.md.
# Installs wrk (Debian package) when it is missing. Needs python3 and curl.
# Patient ids are demo ids (deterministic from the seed); they stay in memory and in the
# environment of wrk (bench/predict.lua reads the body from $CTML_BENCH_BODY): never in a file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

duration=15
warmup=3
ctml=$root/build/bin/ctml
keep=0
ext_var=""
ext_port=""
seed=7
patients=40  # demo patients of the own Level 4 (>= 32: the batch uses 32 distinct ones)
batch=32
# wrk's client timeout: a timed-out request counts as failed and drops out of the latency
# figures, so it is long (a 32-record batch at 64 connections took up to 5 s on 2 loaded cores).
timeout=30s
declare -A PORTS=([GATEWAY]=38782 [BRONZE_SINK]=38783 [PROCESS]=38784 [FEATURES]=38785
                  [SERVE]=38700 [MLLP]=32776 [MLLP_HTTP]=38786 [REGISTRY]=35700)

die() {
  echo "serve_bench.sh: $*" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) [ $# -ge 2 ] || die "--duration needs seconds"; duration=$2; shift 2 ;;
    --warmup) [ $# -ge 2 ] || die "--warmup needs seconds"; warmup=$2; shift 2 ;;
    --ctml) [ $# -ge 2 ] || die "--ctml needs a path"; ctml=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --var) [ $# -ge 2 ] || die "--var needs a directory"; ext_var=$2; shift 2 ;;
    --port) [ $# -ge 2 ] || die "--port needs a number"; ext_port=$2; shift 2 ;;
    --seed) [ $# -ge 2 ] || die "--seed needs a number"; seed=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ $duration =~ ^[1-9][0-9]*$ ]] || die "--duration must be a positive number of seconds"
[[ $warmup =~ ^[0-9]+$ ]] || die "--warmup must be a number of seconds"
[[ $seed =~ ^[0-9]+$ ]] || die "--seed must be a number"
if [ -n "$ext_var$ext_port" ]; then
  [ -n "$ext_var" ] && [ -n "$ext_port" ] || die "--var and --port go together"
  [ -d "$ext_var" ] || die "no directory $ext_var"
  [[ $ext_port =~ ^[0-9]+$ ]] || die "--port must be a number"
fi
[ -x "$ctml" ] || die "no ctml binary at $ctml (build it, or pass --ctml)"
command -v python3 >/dev/null || die "python3 is required"
command -v curl >/dev/null || die "curl is required"

if ! command -v wrk >/dev/null; then
  echo "serve_bench: installing wrk (Debian package)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

mask() { sed -E 's/PT[A-Z0-9]{8}/PT********/g'; }  # demo ids never reach a log or the results

tmp=""
started=0
C=()
cleanup() {
  local rc=$?
  if [ "$started" = 1 ]; then
    echo "serve_bench: stopping the Level 4 it started"
    "${C[@]}" manager --stop --level 4 2>&1 | mask | sed 's/^/  | /' || true
    if pgrep -f "$tmp/" >/dev/null; then
      echo "serve_bench: processes of $tmp still run after --stop:" >&2
      pgrep -af "$tmp/" >&2 || true
    fi
  fi
  if [ -n "$tmp" ]; then
    if [ "$keep" = 1 ]; then echo "serve_bench: kept $tmp"; else rm -rf "$tmp"; fi
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$ext_var" ]; then
  var=$(cd "$ext_var" && pwd)
  port=$ext_port
  mode="the running service on 127.0.0.1:$port (var $var)"
  pid=""
  export CTML_PATHS_VAR=$var
else
  tmp=$(mktemp -d /tmp/ctml-bench.XXXXXX)
  # A private copy of the binary: the manager spawns the services from its own path, and other
  # work may relink build/bin/ctml meanwhile (the build lock waits for a link in progress).
  flock -w 900 /tmp/ctml-build.lock cp "$ctml" "$tmp/ctml" 2>/dev/null || cp "$ctml" "$tmp/ctml"
  ctml=$tmp/ctml
  var=$tmp/var
  port=${PORTS[SERVE]}
  mode="its own Level 4 (embedded profile, $patients demo patients, temporary var/)"
  export CTML_PATHS_VAR=$var CTML_DEMO_PATIENTS=$patients CTML_DEMO_HOURS=96 CTML_DEMO_SEED=$seed
  unset CTML_PRIVACY_KEY_FILE
  for name in "${!PORTS[@]}"; do
    export "CTML_${name}_PORT=${PORTS[$name]}"
    if (exec 3<>"/dev/tcp/127.0.0.1/${PORTS[$name]}") 2>/dev/null; then
      die "port ${PORTS[$name]} ($name) is in use"
    fi
  done
fi
C=("$ctml" --config "$root/ctml.yaml")
url=http://127.0.0.1:$port/v1/predict

if [ -z "$ext_var" ]; then
  echo "serve_bench: starting Level 4 in $var (2-3 min: demo data, pilot import, training)"
  started=1
  t0=$(date +%s)
  if ! start_out=$("${C[@]}" manager --start --level 4 2>&1); then
    echo "$start_out" | mask | tail -40 | sed 's/^/  | /' >&2
    die "ctml manager --start --level 4 failed"
  fi
  echo "serve_bench: Level 4 up after $(($(date +%s) - t0)) s"
  pid=$(grep -oE 'PT[A-Z0-9]{8}' <<<"$start_out" | head -1 || true)
  [ -n "$pid" ] || die "the manager printed no demo patient id"
fi

# The demo ids (XXH3-64 of "demo-patient:<seed>:<i>" in base 36, as ctml::ingest::DemoPatientId).
ids=$(SEED=$seed N=$batch python3 - <<'EOF'
import ctypes, os
lib = ctypes.CDLL("libxxhash.so.0")
lib.XXH3_64bits.restype = ctypes.c_uint64
lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
for i in range(int(os.environ["N"])):
    s = ("demo-patient:%s:%d" % (os.environ["SEED"], i)).encode()
    h, out = lib.XXH3_64bits(s, len(s)), "PT"
    for _ in range(8):
        out += alphabet[h % 36]
        h //= 36
    print(out)
EOF
) || die "cannot compute the demo patient ids (python3 with libxxhash.so.0 needed)"
first_id=$(head -1 <<<"$ids")
if [ -n "$pid" ] && [ "$pid" != "$first_id" ]; then
  die "the demo id the manager printed is not demo patient 0 of seed $seed"
fi
pid=$first_id

json_records() {  # JSON body of the ids on stdin, use_cache $1
  USE_CACHE=$1 python3 -c 'import json, os, sys
print(json.dumps({"records": [{"patient_id": l.strip()} for l in sys.stdin if l.strip()],
                  "use_cache": os.environ["USE_CACHE"] == "true"}, separators=(",", ":")))'
}
post() {  # POST $1 -> "<status>\n<body>"
  curl -sS -m 30 -X POST -H 'Content-Type: application/json' --data-binary "$1" \
    -w '\n%{http_code}' "$url"
}
field() {  # field() PYTHON-EXPR JSON: evaluate on the parsed document d
  python3 -c 'import json, sys; d = json.loads(sys.argv[2]); print(eval(sys.argv[1]))' "$1" "$2"
}
check() {  # check NAME BODY: one request must answer 200; prints the response body
  local out status
  out=$(post "$2") || die "$1: POST $url failed"
  status=$(tail -1 <<<"$out")
  out=$(sed '$d' <<<"$out")
  if [ "$status" != 200 ]; then
    echo "$out" | mask >&2
    die "$1: HTTP $status on the check request"
  fi
  printf '%s' "$out"
}

body_id_off=$(json_records false <<<"$pid")
body_id_on=$(json_records true <<<"$pid")
body_batch=$(json_records false <<<"$ids")

echo "serve_bench: checking each body once"
resp=$(check "by patient_id" "$body_id_off")
model_name=$(field 'd["model"]["name"]' "$resp")
model_version=$(field 'd["model"]["version"]' "$resp")
prob_id=$(field 'd["results"][0]["probability"]' "$resp")
[ "$(field 'd["cached"]' "$(check "cache off" "$body_id_off")")" = False ] ||
  die "use_cache false answered from the cache"
check "cache on (first)" "$body_id_on" >/dev/null
[ "$(field 'd["cached"]' "$(check "cache on" "$body_id_on")")" = True ] ||
  die "the same body with use_cache true was not answered from the cache"
[ "$(field 'len(d["results"])' "$(check "batch" "$body_batch")")" = "$batch" ] ||
  die "the batch did not answer $batch results"

# Explicit features: the online vector of the same patient, restricted to the model's features.
manifest=$var/lake/models/$model_name/$model_version/manifest.json
[ -f "$manifest" ] || die "no manifest at $manifest"
online=$("${C[@]}" features query-online "$pid" --json 2>/dev/null) || {
  "${C[@]}" features query-online "$pid" --json 2>&1 | mask >&2 || true
  die "ctml features query-online failed"
}
body_feat=$(ONLINE=$online python3 - "$manifest" <<'EOF'
import json, os, sys
names = json.load(open(sys.argv[1]))["feature_names"]
values = json.loads(os.environ["ONLINE"])["features"]
missing = [n for n in names if n not in values]
if missing:
    sys.exit("the online vector lacks model features: " + ", ".join(missing))
print(json.dumps({"records": [{"features": {n: values[n] for n in names}}], "use_cache": False},
                 separators=(",", ":")))
EOF
) || die "cannot build the features body"
prob_feat=$(field 'd["results"][0]["probability"]' "$(check "features" "$body_feat")")
agree=$(python3 -c 'import sys
print("agree" if abs(float(sys.argv[1]) - float(sys.argv[2])) < 1e-6 else "DIFFER")' \
  "$prob_id" "$prob_feat")
echo "serve_bench: model $model_name v$model_version;" \
  "by patient_id and by features $agree ($prob_id vs $prob_feat)"

wrk_version=$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}' || true)
cores=$(nproc)
echo "serve_bench: wrk and the server share the $cores cores of this machine:" \
  "the figures are a lower bound"
echo

load_before=$(cut -d' ' -f1 /proc/loadavg)
rows=()
failed=0
declare -A RPS P50
# run NAME CONNS CACHE RECORDS BODY
run() {
  local name=$1 conns=$2 cache=$3 records=$4 body=$5 threads=2 out line
  [ "$conns" -gt 1 ] || threads=1
  echo "== $name: $conns connection(s), cache $cache, $records record(s) per request"
  if [ "$warmup" -gt 0 ]; then
    CTML_BENCH_BODY=$body wrk -t"$threads" -c"$conns" -d"${warmup}s" --timeout "$timeout" \
      -s "$root/bench/predict.lua" "$url" >/dev/null
  fi
  out=$(CTML_BENCH_BODY=$body wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout "$timeout" \
    --latency -s "$root/bench/predict.lua" "$url")
  echo "$out" | grep -v '^CTML_BENCH' | sed 's/^/  /'
  line=$(grep '^CTML_BENCH' <<<"$out") || die "no CTML_BENCH line from wrk"
  local requests duration_us rps p50_us p90_us p99_us max_us non2xx cached socket_errors p50 p90 p99
  eval "$(tr ' ' '\n' <<<"${line#CTML_BENCH }" | grep -E '^[a-z0-9_]+=[0-9.]+$')"
  p50=$(awk -v v="$p50_us" 'BEGIN { printf "%.2f", v / 1000 }')
  p90=$(awk -v v="$p90_us" 'BEGIN { printf "%.2f", v / 1000 }')
  p99=$(awk -v v="$p99_us" 'BEGIN { printf "%.2f", v / 1000 }')
  local errors=$((non2xx + socket_errors)) recs hits
  recs=$(awk -v r="$rps" -v n="$records" 'BEGIN { printf "%.0f", r * n }')
  hits=$(awk -v c="$cached" -v r="$requests" 'BEGIN { printf "%.1f%%", r ? 100 * c / r : 0 }')
  [ "$errors" -eq 0 ] || failed=1
  echo "  -> $rps req/s, p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, $errors error(s)" \
    "($non2xx non-2xx, $socket_errors socket), cache hits $hits"
  echo
  rows+=("$name|$conns|$cache|$rps|$recs|$p50|$p90|$p99|$hits|$errors")
  RPS[$name/$conns]=$rps
  P50[$name/$conns]=$p50
}

run "patient_id" 1 off 1 "$body_id_off"
run "patient_id, cached" 1 on 1 "$body_id_on"
run "patient_id" 64 off 1 "$body_id_off"
run "patient_id, cached" 64 on 1 "$body_id_on"
run "features" 64 off 1 "$body_feat"
run "batch of $batch" 64 off "$batch" "$body_batch"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$root" status --porcelain -uno 2>/dev/null)" ] || commit="$commit (+ uncommitted changes)"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_after=$(cut -d' ' -f1 /proc/loadavg)

report() {  # the Markdown report (also what the terminal shows)
  echo "## /v1/predict on loopback, $stamp"
  echo
  echo "- ctml $commit, model $model_name v$model_version, $mode"
  echo "- $wrk_version, ${duration} s per scenario after a ${warmup} s warm-up; -t1 -c1 and -t2 -c64;"
  echo "  client timeout $timeout"
  echo "- $cores cores ($cpu) shared by wrk and every service: the figures are a lower bound"
  echo "  (1-min load average $load_before before the load, $load_after after it: other work on the"
  echo "  machine lowers them further)"
  echo "- by patient_id: one online-store lookup per record; cache on: the same body each time"
  echo "  (a hit after the first); by patient_id and by features $agree for the same patient"
  echo
  echo "| scenario | conns | cache | req/s | records/s | p50 ms | p90 ms | p99 ms | cache hits | errors |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
  for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
  echo
  for c in 1 64; do
    on="patient_id, cached/$c" off="patient_id/$c"
    echo "- cache on / off at $c connection(s): req/s x$(ratio "${RPS[$on]}" "${RPS[$off]}")," \
      "p50 x$(ratio "${P50[$on]}" "${P50[$off]}")"
  done
  [ "$failed" = 0 ] || echo "- FAILED: some requests got a non-2xx answer or a socket error"
  echo
}

mkdir -p "$root/bench/results"
results=$root/bench/results/serve-$(date -u +%F).md
report | tee -a "$results"
echo "serve_bench: appended to ${results#"$root"/}"
[ "$failed" = 0 ] || { echo "serve_bench: some requests failed" >&2; exit 1; }
