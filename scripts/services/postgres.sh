#!/usr/bin/env bash
# PostgreSQL 15 from Debian's postgresql package, for the meta store (runs, model registry, audit
# chain). Our own cluster under var/services/postgres/ (not Debian's system cluster): TCP only on
# 127.0.0.1, the unix socket inside var/services/postgres/run, fsync on. Role and database `ctml`
# (scram-sha-256, generated password in var/services/postgres/password, mode 0600); the cluster's
# superuser logs in over the socket only (peer). As root the server runs as the `postgres` system
# user (PostgreSQL refuses to run as root).
#
#   scripts/services/postgres.sh start
#   CTML_META_URI=$(scripts/services/postgres.sh uri)   # postgresql://ctml:<password>@127.0.0.1:15432/ctml
NAME=postgres
PORT_ENV=CTML_POSTGRES_PORT
PORT=${CTML_POSTGRES_PORT:-15432}
DESCRIPTION="PostgreSQL 15 (Debian postgresql): meta store (runs, model registry, audit chain), fsync on."
# Only `uri` prints the password; start/status/logs show postgresql://ctml:***@...
[ "${1:-}" = "uri" ] && PG_SHOW_PASSWORD=1
source "$(dirname "$0")/lib.sh"

svc_dirs  # SVC_DIR and SVC_DATA for the paths below (svc_main sets them again)
PG_BIN=/usr/lib/postgresql/15/bin
PG_SOCK="$SVC_DIR/run"
PG_PASSWORD_FILE="$SVC_DIR/password"

# Runs a PostgreSQL program as the cluster owner: the `postgres` system user when we are root.
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- "$@"
  else
    "$@"
  fi
}

# psql as the superuser over the unix socket (peer authentication).
pg_psql() { pg_as_owner "$PG_BIN/psql" -X -q -h "$PG_SOCK" -p "$PORT" -v ON_ERROR_STOP=1 "$@"; }

svc_install() {
  svc_apt_install postgresql
  [ -x "$PG_BIN/postgres" ] || svc_die "$PG_BIN/postgres missing (Debian package postgresql-15)"
}

# Once: initdb into data.init, create role and database in single-user mode, then rename to data,
# so an interrupted prepare leaves no half-made cluster behind.
svc_prepare() {
  mkdir -p "$PG_SOCK"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$PG_SOCK"; fi
  chmod 0700 "$PG_SOCK"
  [ -f "$SVC_DATA/PG_VERSION" ] && return 0
  local init="$SVC_DIR/data.init" owner
  rm -rf "$init"
  mkdir -p "$init"
  chmod 0700 "$init"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$init"
    owner=postgres
  else
    owner=$(id -un)
  fi
  if [ ! -s "$PG_PASSWORD_FILE" ]; then
    (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$PG_PASSWORD_FILE")
  fi
  chmod 0600 "$PG_PASSWORD_FILE"
  svc_say "initdb (superuser $owner, socket only) into $SVC_DATA"
  pg_as_owner "$PG_BIN/initdb" -D "$init" -U "$owner" -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >>"$SVC_LOG" 2>&1 ||
    svc_die "initdb failed; log: $SVC_LOG"
  # The superuser over the socket only (peer); everyone else with a password.
  cat >"$init/pg_hba.conf" <<HBA
# TYPE  DATABASE  USER     ADDRESS        METHOD
local   all       $owner                  peer
local   all       all                     scram-sha-256
host    all       all      127.0.0.1/32   scram-sha-256
HBA
  [ "$owner" = postgres ] && chown postgres:postgres "$init/pg_hba.conf"
  local password
  password=$(cat "$PG_PASSWORD_FILE")
  # Single-user mode: no port is opened while the role and database are created. The password is
  # hashed (scram-sha-256) by the server; the SQL goes through stdin, never a command line.
  printf "CREATE ROLE ctml LOGIN PASSWORD '%s';\nCREATE DATABASE ctml OWNER ctml;\n" "$password" |
    pg_as_owner "$PG_BIN/postgres" --single -D "$init" -c password_encryption=scram-sha-256 \
      postgres >/dev/null 2>>"$SVC_LOG" || svc_die "creating role and database failed; log: $SVC_LOG"
  rmdir "$SVC_DATA" 2>/dev/null || rm -rf "$SVC_DATA"
  mv "$init" "$SVC_DATA"
}

svc_run() {
  local cmd=("$PG_BIN/postgres" -D "$SVC_DATA" -c listen_addresses=127.0.0.1 -c port="$PORT"
    -c unix_socket_directories="$PG_SOCK" -c fsync=on -c synchronous_commit=on
    -c full_page_writes=on -c password_encryption=scram-sha-256)
  if [ "$(id -u)" -eq 0 ]; then
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${cmd[@]}"
  fi
  exec "${cmd[@]}"
}

# Replaces lib.sh's svc_stop: PostgreSQL's backends are process-group leaders of their own, so
# lib.sh's TERM to the group reaches only the postmaster, for which TERM is a "smart" shutdown
# that waits for every client to disconnect. SIGINT is the "fast" shutdown (clients are
# disconnected, open transactions roll back, a checkpoint is written); SIGQUIT the "immediate"
# one (crash recovery at the next start), and KILL only if even that hangs.
svc_stop() {
  local pid sig i
  pid=$(svc_pid)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$SVC_PID"
    svc_say "not running"
    return 0
  fi
  for sig in INT QUIT KILL; do
    kill -"$sig" "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break 2
      sleep 0.2
    done
    svc_say "no exit 30 s after SIG$sig"
  done
  rm -f "$SVC_PID"
  svc_say "stopped"
}

svc_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -d ctml -U ctml -t 2; }

svc_uri() {
  local password='***'
  if [ -n "${PG_SHOW_PASSWORD:-}" ]; then
    [ -s "$PG_PASSWORD_FILE" ] || svc_die "no password yet in $PG_PASSWORD_FILE: run start first"
    password=$(cat "$PG_PASSWORD_FILE")
  fi
  printf 'postgresql://ctml:%s@127.0.0.1:%s/ctml' "$password" "$PORT"
}

svc_status_extra() {
  echo "  database ctml: $(pg_psql -d ctml -At -c "SELECT pg_size_pretty(pg_database_size('ctml'))")"
  local schemas
  schemas=$(pg_psql -d ctml -At -F ' ' -c "SELECT n.nspname, count(c.oid) FROM pg_namespace n
      LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind = 'r'
      WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
      GROUP BY 1 ORDER BY 1 LIMIT 20")
  echo "  schemas (tables): $(echo "$schemas" | awk 'NF { printf "%s%s (%s)", sep, $1, $2; sep=", " }')"
  local tables
  tables=$(pg_psql -d ctml -At -c "SELECT string_agg(relname || ' ' || n_live_tup, ', ' ORDER BY relname)
      FROM pg_stat_user_tables WHERE schemaname = 'ctml'")
  [ -z "$tables" ] || echo "  schema ctml (rows): $tables"
}

svc_main "$@"
