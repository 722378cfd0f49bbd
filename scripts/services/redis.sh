#!/usr/bin/env bash
# Redis from Debian's redis-server, for the online store and the prediction cache.
NAME=redis
PORT_ENV=CTML_REDIS_PORT
PORT=${CTML_REDIS_PORT:-16379}
DESCRIPTION="Redis (Debian redis-server): online feature store and prediction cache, append-only file on."
source "$(dirname "$0")/lib.sh"

svc_install() { svc_apt_install redis-server; }
svc_run() {
  exec /usr/bin/redis-server --bind 127.0.0.1 --port "$PORT" --dir "$SVC_DATA" \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes --daemonize no
}
svc_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = "PONG" ]; }
svc_uri() { printf 'redis://127.0.0.1:%s' "$PORT"; }
svc_status_extra() { echo "  keys: $(redis-cli -h 127.0.0.1 -p "$PORT" dbsize)"; }

svc_main "$@"
