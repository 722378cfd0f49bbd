# Shared by scripts/services/<name>.sh: one real service on 127.0.0.1, data and logs under
# var/services/<name>/ (CTML_SERVICES_DIR overrides var/services), started in the background
# with a pid file. A service script sets NAME, PORT and DESCRIPTION and defines:
#   svc_install   idempotent: installs what the service needs (Debian packages, jars, binaries)
#   svc_run       execs the service in the foreground (lib.sh backgrounds it and keeps the pid)
#   svc_ready     returns 0 when the service answers (not just when the port is open)
#   svc_uri       prints the URI ctml uses to reach it (e.g. redis://127.0.0.1:16379)
# optional: svc_prepare (before the first start, e.g. initdb), svc_status_extra.
# then calls: svc_main "$@"
# Commands: install | start | stop | restart | status | uri | logs  (exit 0 ok, 1 failed,
# 3 = status: not running, 2 = usage).
set -euo pipefail

SVC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SVC_BASE=${CTML_SERVICES_DIR:-$SVC_ROOT/var/services}
SVC_SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

svc_dirs() {
  SVC_DIR="$SVC_BASE/$NAME"
  SVC_DATA="$SVC_DIR/data"
  SVC_LOG="$SVC_DIR/$NAME.log"
  SVC_PID="$SVC_DIR/$NAME.pid"
  mkdir -p "$SVC_DATA"
}

svc_say() { echo "$NAME: $*"; }
svc_die() { echo "$NAME: error: $*" >&2; exit 1; }

svc_apt_install() {  # svc_apt_install pkg...: installs the Debian packages that are missing
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  svc_say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
}

svc_pid() { [ -f "$SVC_PID" ] && cat "$SVC_PID" 2>/dev/null || true; }

svc_alive() {
  local pid
  pid=$(svc_pid)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

svc_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

svc_start() {
  if svc_alive && svc_ready >/dev/null 2>&1; then
    svc_say "already running (pid $(svc_pid)) at $(svc_uri)"
    return 0
  fi
  svc_alive && svc_stop
  if svc_port_open "$PORT"; then
    svc_die "port $PORT on 127.0.0.1 is taken by another process; set ${PORT_ENV} to another port"
  fi
  svc_install
  if declare -F svc_prepare >/dev/null; then svc_prepare; fi
  # setsid: the service outlives this script and is not killed with its process group. The
  # script runs itself with the internal command __run, which execs svc_run.
  setsid "$SVC_SELF" __run >>"$SVC_LOG" 2>&1 </dev/null &
  echo $! >"$SVC_PID"
  local waited=0 limit=${SVC_START_TIMEOUT:-90}
  until svc_ready >/dev/null 2>&1; do
    if ! svc_alive; then
      tail -n 20 "$SVC_LOG" >&2 || true
      svc_die "exited during start-up; log: $SVC_LOG"
    fi
    if [ "$waited" -ge $((limit * 5)) ]; then
      tail -n 20 "$SVC_LOG" >&2 || true
      svc_die "not ready after ${limit}s; log: $SVC_LOG"
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  svc_say "started (pid $(svc_pid)) at $(svc_uri)"
}

svc_stop() {
  local pid
  pid=$(svc_pid)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$SVC_PID"
    svc_say "not running"
    return 0
  fi
  # The whole session (setsid above): the service and any child it forked.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    svc_say "did not stop in 30s; killing"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$SVC_PID"
  svc_say "stopped"
}

svc_status() {
  if svc_alive && svc_ready >/dev/null 2>&1; then
    echo "$NAME: running (pid $(svc_pid)) at $(svc_uri); data $SVC_DATA"
    if declare -F svc_status_extra >/dev/null; then svc_status_extra || true; fi
    return 0
  fi
  if svc_alive; then
    echo "$NAME: started (pid $(svc_pid)) but not answering at $(svc_uri); log: $SVC_LOG"
    return 1
  fi
  echo "$NAME: not running (start: scripts/services/$NAME.sh start)"
  return 3
}

svc_usage() {
  cat <<USAGE
Usage: scripts/services/$NAME.sh install|start|stop|restart|status|uri|logs

$DESCRIPTION
Listens on 127.0.0.1:$PORT (${PORT_ENV} overrides); data and log under $SVC_BASE/$NAME/.

  install   install what it needs (idempotent)
  start     install if needed, start in the background, wait until it answers
  stop      stop it (TERM, then KILL after 30 s)
  restart   stop, then start
  status    exit 0 running, 1 not answering, 3 not running
  uri       print the URI ctml's config takes
  logs      print the last 50 lines of its log
USAGE
}

svc_main() {
  svc_dirs
  case "${1:-}" in
    install) svc_install ;;
    start) svc_start ;;
    stop) svc_stop ;;
    restart) svc_stop; svc_start ;;
    status) svc_status ;;
    uri) svc_uri; echo ;;
    logs) tail -n 50 "$SVC_LOG" 2>/dev/null || true ;;
    __run) svc_run ;;
    -h | --help | help) svc_usage ;;
    *) svc_usage >&2; exit 2 ;;
  esac
}
