#!/usr/bin/env bash
# The one test command: bootstrap, build, start the real services, run every test (unit,
# contract suites on the embedded and the distributed adapters, end to end).
# Exits non-zero when anything fails. Extra arguments go to ctest (e.g. -R core).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bootstrap.sh
scripts/build.sh release

# Kafka, Redis, PostgreSQL, the S3 server and ActiveMQ on 127.0.0.1 (installed on first use,
# data under var/services/): the distributed adapters' contract suites, the AMQP bridge and
# tests/e2e/test_distributed.py run against them. Those this script starts, it stops at the end;
# ones already running stay. The adapters' restart tests (each restarts its service) run too:
# ctest runs one test at a time.
SERVICES=(redis postgres s3 kafka activemq)
started=()
stop_started() {
  local s
  for s in "${started[@]+"${started[@]}"}"; do "$root/scripts/services/$s.sh" stop >/dev/null 2>&1 || true; done
}
trap stop_started EXIT
for s in "${SERVICES[@]}"; do
  if ! scripts/services/$s.sh status >/dev/null 2>&1; then
    scripts/services/$s.sh start
    started+=("$s")
  fi
done

export CTML_TEST_REDIS_RESTART=1 CTML_TEST_POSTGRES_RESTART=1 CTML_TEST_KAFKA_RESTART=1 \
  CTML_TEST_S3_RESTART=1 CTML_TEST_AMQP_RESTART="$root/scripts/services/activemq.sh restart"
cd build
ctest --output-on-failure --timeout 900 "$@"
