// The AMQP 1.0 bridge (docs/ingest/amqp-bridge.md): consumes the existing stack's IBM MQ queues
// (CLINICAL.VITAL.SIGNS, CLINICAL.LAB.RESULTS, CLINICAL.ADVERSE.EVENTS, CLINICAL.DEMOGRAPHICS,
// CLINICAL.PRIORITY) over AMQP 1.0 (Qpid Proton C++; tested against ActiveMQ) and feeds the
// ingestion core. A message is accepted (settled) only after IngestCore::Submit returned OK; on a
// store error it is released (the broker redelivers) and the bridge backs off. An invalid message
// is copied to the dead-letter queue with the reason (application properties ctml_reason,
// ctml_field, ctml_source_queue), and accepted from its source queue only after the broker
// accepted that copy. event_id comes from the AMQP message-id (or an HMAC of the body when there
// is none), so a redelivered message yields the same event_id.
//
//   BridgeOptions o; o.url = "amqp://127.0.0.1:15673"; o.user = "ctml"; o.password = pw;
//   o.queues = DefaultBridgeQueues();
//   Status st = RunBridge(o, core, deid, &stop_flag);        // until *stop_flag, or a fatal error
//   Status ok = CheckBridge(o);                               // connect + open every queue
//   Status sent = SendToQueue(o, "CLINICAL.PRIORITY", {{"id-1", body}});  // tests/operators
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/ingest/canonical_event.h"

namespace ctml::privacy {
class Deidentifier;
}

namespace ctml::ingest {

class IngestCore;

inline constexpr char kDefaultDeadLetterQueue[] = "CLINICAL.DLQ";
// Bodies larger than this are dead-lettered (reason TOO_LARGE) without parsing.
inline constexpr size_t kMaxBridgeBodyBytes = 1 << 20;

// The five queues of the existing stack, in the order of the issue.
const std::vector<std::string>& DefaultBridgeQueues();
// "A, B ,C" -> {"A","B","C"} (empty items dropped).
std::vector<std::string> SplitQueueList(const std::string& text);

// How the bodies of a queue are read.
struct QueueMapping {
  // The existing stack's Kafka payload kind parsed by ParseTopicPayload ("patient-vitals", ...);
  // empty: the REST envelope of POST /api/clinical/data (ParseClinicalEnvelope).
  std::string topic_payload;
  // For the envelope: the one data kind the queue carries ("patient_demographics"); empty: any.
  std::string envelope_kind;
};
// CLINICAL.VITAL.SIGNS -> patient-vitals, CLINICAL.LAB.RESULTS -> lab-results,
// CLINICAL.ADVERSE.EVENTS -> adverse-events, CLINICAL.DEMOGRAPHICS -> envelope
// (patient_demographics), CLINICAL.PRIORITY and any other queue -> envelope (any kind).
QueueMapping MappingForQueue(const std::string& queue);

// Dead-letter reason codes (the ctml_reason property; also the audit reject_reasons keys).
inline constexpr char kReasonMalformedJson[] = "MALFORMED_JSON";
inline constexpr char kReasonInvalidField[] = "INVALID_FIELD";
inline constexpr char kReasonWrongKind[] = "WRONG_KIND";
inline constexpr char kReasonUnsupportedBody[] = "UNSUPPORTED_BODY";
inline constexpr char kReasonTooLarge[] = "TOO_LARGE";

// The outcome of one message: an event, or a reason to dead-letter it.
struct BridgeParse {
  bool ok = false;
  CanonicalEvent event;
  std::string reason;   // one of the kReason* codes when !ok
  std::string field;    // the offending field, when known
  std::string message;  // why (never the body: it may hold PHI)
};
// Parses a message body taken from `queue`. `message_id` is the AMQP message-id as text ("" when
// absent). The event's source is "amqp" and its event_id is BridgeEventId(...).
BridgeParse ParseBridgeMessage(const std::string& queue, const std::string& body,
                               const std::string& message_id, const privacy::Deidentifier& deid,
                               int64_t received_at_us);
// "amqp-" + keyed hash of the message-id, or of the body when there is no message-id: the same
// message redelivered gets the same event_id, and the id reveals nothing about the body.
std::string BridgeEventId(const std::string& message_id, const std::string& body,
                          const privacy::Deidentifier& deid);

struct BridgeOptions {
  std::string url = "amqp://127.0.0.1:15673";  // amqp:// or amqps:// (TLS, system trust store)
  std::string user;                            // SASL PLAIN when set
  std::string password;
  std::vector<std::string> queues = DefaultBridgeQueues();
  std::string dead_letter_queue = kDefaultDeadLetterQueue;
  int credit = 100;                   // prefetch per queue (and the largest Submit batch)
  bool reconnect = true;              // RunBridge: reconnect with backoff when the broker goes away
  int64_t stats_interval_ms = 10000;  // progress log period
  int64_t check_timeout_ms = 10000;   // CheckBridge / SendToQueue give up after this
};

// Progress counters (logged every stats_interval_ms and at exit).
struct BridgeCounters {
  int64_t received = 0;
  int64_t accepted = 0;       // settled after a durable Submit
  int64_t dead_lettered = 0;  // copied to the DLQ and settled
  int64_t released = 0;       // given back to the broker after a store error
};

// Runs until *stop becomes true (checked every 200 ms) or a fatal error (bad credentials, a queue
// that cannot be opened). Returns the counters through `counters` when not null.
Status RunBridge(const BridgeOptions& options, IngestCore& core, const privacy::Deidentifier& deid,
                 const std::atomic<bool>* stop, BridgeCounters* counters = nullptr);
// Connects, opens a receiver on every queue and a sender on the DLQ, then closes. OK when all
// opened; Unavailable (cannot connect) or Invalid (refused: credentials, queue) otherwise.
Status CheckBridge(const BridgeOptions& options);
// Sends durable messages (message-id, body as an AMQP string) to `queue` and waits until the
// broker accepted each. For tests and operators (`ctml bridge send`).
Status SendToQueue(const BridgeOptions& options, const std::string& queue,
                   const std::vector<std::pair<std::string, std::string>>& id_and_body);

// A message read back from a queue (tests, `ctml bridge browse`): message-id, body, and the
// application properties as text.
struct QueueMessage {
  std::string message_id;
  std::string body;
  std::vector<std::pair<std::string, std::string>> properties;
};
// Receives (and accepts) up to `max` messages from `queue`, stopping when none arrived for
// `idle_ms`. Removes them from the queue: for tests and for draining a DLQ.
Result<std::vector<QueueMessage>> DrainQueue(const BridgeOptions& options, const std::string& queue,
                                             int max, int64_t idle_ms);

// amqp://user:secret@host -> amqp://***@host (for logs and errors).
std::string RedactAmqpUrl(const std::string& url);

}  // namespace ctml::ingest
