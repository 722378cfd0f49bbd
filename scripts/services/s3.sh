#!/usr/bin/env bash
# An S3-compatible server for the Lake: versitygw (built with `go install`, cached under .deps/)
# serving the POSIX directory var/services/s3/data, one bucket `ctml` (a directory there).
# Credentials are generated once into var/services/s3/credentials (mode 0600, never in git, never
# printed by start/status/uri); `scripts/services/s3.sh env` prints them as export lines:
#
#   scripts/services/s3.sh start && eval "$(scripts/services/s3.sh env)"
#   ctml ... --set lake.uri="$(scripts/services/s3.sh uri)"
NAME=s3
PORT_ENV=CTML_S3_PORT
PORT=${CTML_S3_PORT:-19000}
DESCRIPTION="S3-compatible object store (versitygw on a POSIX directory): the Lake, bucket 'ctml'.
Credentials: generated once into the service directory's 'credentials' file (0600)."
VERSITYGW_VERSION=v1.8.0  # the Go module proxy's latest; needs Go >= 1.25
BUCKET=ctml
REGION=us-east-1
source "$(dirname "$0")/lib.sh"

VGW_DEPS="$SVC_ROOT/.deps"
VGW_BIN="$VGW_DEPS/versitygw-$VERSITYGW_VERSION/bin/versitygw"

svc_install() {
  [ -x "$VGW_BIN" ] && return 0
  command -v go >/dev/null || svc_die "'go' is not on PATH (versitygw is built with go install)"
  svc_say "building versitygw $VERSITYGW_VERSION with $(go version | cut -d' ' -f3) (cold: minutes)"
  # The binary goes to .deps/; Go's own module and build caches (~/go/pkg/mod, ~/.cache/go-build,
  # as the go command keeps them) are shared by every checkout on the machine, so a fresh clone
  # (CI) relinks in seconds instead of compiling the AWS SDK again (~8 min cold on 2 cores).
  mkdir -p "$VGW_DEPS"
  (cd "$VGW_DEPS" && GOBIN="$(dirname "$VGW_BIN")" \
      GOFLAGS="-buildvcs=false -modcacherw" GOTOOLCHAIN=local \
      nice go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION") ||
    svc_die "go install of versitygw $VERSITYGW_VERSION failed"
}

# The credentials file: AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=... lines (ctml's s3://
# lake reads the same file with ?credentials_file=...). Created once; its values never echoed.
s3_credentials() {
  S3_CREDS="$SVC_DIR/credentials"
  if [ ! -s "$S3_CREDS" ]; then
    (
      umask 077
      local ak sk
      # Finite reads (no `tr </dev/urandom | head`: its SIGPIPE fails under pipefail).
      ak=$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
      sk=$(head -c 30 /dev/urandom | base64 | tr '+/' 'xy')
      printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$ak" "$sk" >"$S3_CREDS.tmp"
      mv "$S3_CREDS.tmp" "$S3_CREDS"
    )
  fi
  chmod 600 "$S3_CREDS"
  S3_ACCESS=$(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$S3_CREDS")
  S3_SECRET=$(sed -n 's/^AWS_SECRET_ACCESS_KEY=//p' "$S3_CREDS")
  [ -n "$S3_ACCESS" ] && [ -n "$S3_SECRET" ] || svc_die "malformed $S3_CREDS (delete it to regenerate)"
}

svc_prepare() { s3_credentials; }

svc_run() {
  s3_credentials
  # Root credentials through the environment, not argv (ps would show them).
  export ROOT_ACCESS_KEY_ID="$S3_ACCESS" ROOT_SECRET_ACCESS_KEY="$S3_SECRET"
  exec "$VGW_BIN" --port "127.0.0.1:$PORT" --region "$REGION" --quiet posix "$SVC_DATA"
}

# A SigV4-signed request to the server (curl's --aws-sigv4); the user:secret goes through a config
# on stdin, not argv. Prints the HTTP status code.
s3_request() {  # s3_request METHOD PATH
  s3_credentials
  local method=(-X "$1")
  [ "$1" = HEAD ] && method=(--head)  # -X HEAD would wait for the body Content-Length announces
  printf 'user = "%s:%s"\n' "$S3_ACCESS" "$S3_SECRET" |
    curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -K - "${method[@]}" \
      --aws-sigv4 "aws:amz:$REGION:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
      "http://127.0.0.1:$PORT$2" 2>/dev/null
}

# Ready = a signed HeadBucket on `ctml` succeeds; the bucket is created (CreateBucket) when the
# server answers that it is missing, so that `start` leaves a usable bucket.
svc_ready() {
  local code
  code=$(s3_request HEAD "/$BUCKET") || return 1
  [ "$code" = 200 ] && return 0
  [ "$code" = 404 ] || return 1
  code=$(s3_request PUT "/$BUCKET") || return 1
  [ "$code" = 200 ] || { svc_say "CreateBucket $BUCKET answered HTTP $code" >&2; return 1; }
  [ "$(s3_request HEAD "/$BUCKET")" = 200 ]
}

svc_uri() { printf 's3://%s?endpoint_override=127.0.0.1:%s&scheme=http' "$BUCKET" "$PORT"; }

# Buckets are the top-level directories; objects the files below them (versitygw's own temporary
# and metadata directories start with '.').
svc_status_extra() {
  local b count bytes
  for b in "$SVC_DATA"/*/; do
    [ -d "$b" ] || continue
    read -r count bytes < <(find "$b" -path '*/.*' -prune -o -type f -printf '%s\n' |
      awk '{n++; s+=$1} END {printf "%d %d\n", n, s}')
    echo "  bucket $(basename "$b"): $count objects, $bytes bytes"
  done
}

s3_env() {
  s3_credentials
  printf 'export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\n' "$S3_ACCESS" "$S3_SECRET"
}

eval "lib_svc_usage() $(declare -f svc_usage | tail -n +2)"
svc_usage() {
  lib_svc_usage
  echo "  env       print 'export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...' lines (eval them)"
}

if [ "${1:-}" = env ]; then
  svc_dirs
  s3_env
  exit 0
fi
svc_main "$@"
