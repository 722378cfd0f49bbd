// EventLog on Apache Kafka (librdkafka). Open it through the factory with a kafka:// URI:
//
//   CTML_ASSIGN_OR_RETURN(auto log, ctml::store::OpenEventLog(
//       "kafka://127.0.0.1:19092?partitions=4&prefix=ctml."));
//   CTML_ASSIGN_OR_RETURN(auto pos, log->Append("patient-vitals", subject_key, event_json));
//
// URI: kafka://host:port[,host2:port2...][?param=value&...]
//   partitions=N    partition count of the topics this adapter creates (default 4). A topic that
//                   Append or Subscribe meets missing is created through the admin API (the
//                   project's broker runs with auto.create.topics.enable=false).
//   replication=N   replication factor of created topics (default: the broker's default).
//   prefix=P        namespaces topic AND consumer-group names on the cluster ("P" + name), so
//                   several ctml installs or test runs share one cluster; callers always see the
//                   unprefixed names (ListTopics lists only this prefix's topics).
//   rdkafka.<prop>=v  any librdkafka setting for the producer, the consumers and the admin calls,
//                   e.g. rdkafka.security.protocol=SASL_SSL&rdkafka.sasl.mechanisms=PLAIN&
//                   rdkafka.sasl.username=u&rdkafka.sasl.password=p,
//                   rdkafka.session.timeout.ms=6000, rdkafka.message.timeout.ms=30000. Values of
//                   parameters whose name says password/secret/key/jaas are never echoed in errors.
//
// Semantics:
// - Producer: enable.idempotence=true, acks=all (no duplicates or reordering on retries);
//   partitioner=murmur2_random, the Java client's default (murmur2 of the key), so Java and C++
//   producers put a key in the same partition (librdkafka's own default, consistent_random
//   (CRC32), would not). Append/AppendBatch wait for the delivery reports and return the real
//   partition and offset. AppendBatch is NOT atomic on Kafka (no transactions): on error some
//   records may be written; an ordered retry can duplicate them (consumers are idempotent).
// - Consumers: one group member per Subscribe, enable.auto.commit=false,
//   auto.offset.reset=earliest (a group that never committed starts at the beginning). Commit
//   commits offset+1 per partition synchronously, only for partitions this consumer still owns
//   (a partition lost in a rebalance is skipped: its new owner resumes from the last commit).
//   Rewind re-assigns the owned partitions at their committed offsets.
// - Broker down: librdkafka reconnects by itself. Append fails (Unavailable) only after
//   message.timeout.ms (default here 30 s); Poll returns empty batches meanwhile; Ping fails fast.
// - Kafka 4.x (KIP-896 removed old protocol versions) works with Debian's librdkafka 2.0.2:
//   scripts/services/kafka.sh runs 4.4.0; the contract suite passes on 4.4.0 and 4.1.1.
#pragma once

#include <memory>
#include <string>

#include "ctml/core/status.h"
#include "ctml/store/event_log.h"

namespace ctml::store {

// Opens a Kafka event log from a kafka:// URI (syntax above). Checks the syntax only: an
// unreachable cluster is not an error here (Ping says so; Append waits for it).
Result<std::unique_ptr<EventLog>> OpenKafkaEventLog(const std::string& uri);

// The URI with the userinfo and secret-looking query values replaced by "***" (for errors/logs).
std::string RedactKafkaUri(const std::string& uri);

}  // namespace ctml::store
