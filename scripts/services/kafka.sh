#!/usr/bin/env bash
# Apache Kafka 4.x in KRaft mode (one combined broker+controller node) from the Maven Central
# jars, run with the machine's Java 17: the distributed EventLog (kafka://127.0.0.1:19092).
#
# Install: scripts/services/kafka/pom.xml resolves org.apache.kafka:kafka_2.13 (+ kafka-tools
# and a log4j2 binding); `mvn dependency:copy-dependencies` puts the jars in
# .deps/kafka/<version>/libs (Maven's download cache: .deps/kafka/m2). A second install is a
# no-op. CTML_KAFKA_VERSION picks another 4.x version.
# Version: 4.4.0, the newest 4.x on Maven Central here; the adapter's tests (produce, consume,
# group commit, admin: create topics, list groups and group offsets) pass on it and on 4.1.1
# with Debian's librdkafka 2.0.2 despite KIP-896 (4.0 removed old protocol versions).
# Broker settings (var/services/kafka/server.properties, rewritten at each start; the storage
# is formatted once): single node, replication factors 1, group.initial.rebalance.delay.ms=0
# (consumers get their partitions at once), num.partitions=4, and auto.create.topics.enable=false:
# ctml's adapter creates each topic itself through the admin API with the partition count of
# its URI (?partitions=N), so a typo'd consumer topic never appears with a default layout.
NAME=kafka
PORT_ENV=CTML_KAFKA_PORT
PORT=${CTML_KAFKA_PORT:-19092}
CONTROLLER_PORT=${CTML_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_VERSION=${CTML_KAFKA_VERSION:-4.4.0}
DESCRIPTION="Apache Kafka $KAFKA_VERSION (KRaft, Maven Central jars, Java 17): the distributed event log.
Controller on 127.0.0.1:$CONTROLLER_PORT (CTML_KAFKA_CONTROLLER_PORT). status lists topics (kcat);
CTML_KAFKA_STATUS_GROUPS=1 also prints consumer-group lag (a JVM admin call, a few seconds)."
source "$(dirname "$0")/lib.sh"

KAFKA_HOME="$SVC_ROOT/.deps/kafka/$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"

svc_install() {
  # kcat (librdkafka's own CLI, the same library as the adapter): the readiness probe and topic list.
  svc_apt_install openjdk-17-jre-headless maven kcat
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  svc_say "fetching Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS"
  rm -rf "$KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS"
  local mvn_log="$SVC_ROOT/.deps/kafka/mvn-$KAFKA_VERSION.log"
  if ! mvn -q -B -f "$SVC_ROOT/scripts/services/kafka/pom.xml" \
    -Dstyle.color=never -Dmaven.repo.local="$SVC_ROOT/.deps/kafka/m2" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" \
    >"$mvn_log" 2>&1; then
    tail -n 30 "$mvn_log" >&2
    svc_die "maven could not fetch Kafka $KAFKA_VERSION (log: $mvn_log)"
  fi
  touch "$KAFKA_LIBS/.complete"
}

kafka_java() {
  exec java -Xms64m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SVC_DIR/log4j2.properties" -cp "$KAFKA_LIBS/*" "$@"
}

svc_prepare() {
  cat >"$SVC_DIR/server.properties" <<PROPS
# Written by scripts/services/kafka.sh at each start: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$SVC_DATA/kraft
num.partitions=4
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
  cat >"$SVC_DIR/log4j2.properties" <<'PROPS'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.controller.name = org.apache.kafka.controller
logger.controller.level = info
# One line per partition at every start otherwise.
logger.storage.name = org.apache.kafka.storage.internals
logger.storage.level = warn
logger.logmgr.name = kafka.log
logger.logmgr.level = warn
logger.partition.name = kafka.cluster.Partition
logger.partition.level = warn
PROPS
  if [ ! -f "$SVC_DATA/kraft/meta.properties" ]; then
    local cluster_id
    # Kafka's own generator: an id made by hand from random bytes may start with '-', which the
    # StorageTool then parses as an option (CI hit "-JTfC1lLh..." and the format failed).
    # The id is its last line of output (log4j writes an INFO line before it).
    cluster_id=$( (kafka_java kafka.tools.StorageTool random-uuid) 2>>"$SVC_LOG") ||
      svc_die "could not generate a cluster id; log: $SVC_LOG"
    cluster_id=$(printf '%s\n' "$cluster_id" | tail -n 1)
    case "$cluster_id" in -* | "") svc_die "unusable cluster id '$cluster_id'" ;; esac
    svc_say "formatting the KRaft storage (cluster $cluster_id)"
    (kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$SVC_DIR/server.properties" \
      --ignore-formatted) >>"$SVC_LOG" 2>&1 || svc_die "storage format failed; log: $SVC_LOG"
  fi
}

svc_run() { kafka_java kafka.Kafka "$SVC_DIR/server.properties"; }

# Ready = the broker answers a Metadata request and lists itself (not just an open port).
svc_ready() {
  kcat -b "127.0.0.1:$PORT" -L -m 2 -J 2>/dev/null | grep -q '"brokers":\[{"id":1'
}

svc_uri() { printf 'kafka://127.0.0.1:%s' "$PORT"; }

svc_status_extra() {
  # At most CTML_KAFKA_STATUS_TOPICS topics (default 20; test runs leave their own namespaces
  # behind on a long-lived broker), then how many more there are.
  local max="${CTML_KAFKA_STATUS_TOPICS:-20}" topics
  topics=$(kcat -b "127.0.0.1:$PORT" -L -m 2 2>/dev/null |
    sed -n 's/^  topic "\([^"]*\)" with \([0-9]*\) partitions:/\1 (\2)/p' | grep -v '^__' | sort || true)
  echo "  topics (partitions): $(printf '%s' "$topics" | grep -c . || true)"
  printf '%s\n' "$topics" | awk -v max="$max" 'NF && ++n <= max {print "    " $0}
    END {if (n > max) printf "    ... %d more (CTML_KAFKA_STATUS_TOPICS=N shows N)\n", n - max}'
  if [ "${CTML_KAFKA_STATUS_GROUPS:-0}" = 1 ]; then
    echo "  consumer groups (lag):"
    (kafka_java org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
      --bootstrap-server "127.0.0.1:$PORT" --describe --all-groups 2>/dev/null) |
      awk 'NF >= 6 && $1 != "GROUP" && $1 !~ /^\[/ {lag[$1" "$2] += ($6 == "-" ? 0 : $6)}
           END {for (k in lag) printf "    %s lag %d\n", k, lag[k]}' || true
  fi
}

svc_main "$@"
