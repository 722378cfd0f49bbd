// The ingestion core: the one path by which every source (gateway, batch, FHIR, HL7/MLLP,
// SDTM import, Kafka payloads, AMQP bridge) lands canonical events. It appends each event to
// the topic of its type (keyed by subject_key), raises alerts on `clinical-alerts`, and writes
// one hash-chained audit record per submitted batch (source, actor, counts, event id range,
// rejection counts by reason) before the caller acknowledges anything.
//
//   IngestCore core(*event_log, meta_store.get());
//   BatchInfo info; info.source = "hl7"; info.actor = "mllp:127.0.0.1";
//   info.rejected = 1; info.reject_reasons["INVALID_VALUE"] = 1;
//   CTML_ASSIGN_OR_RETURN(auto positions, core.Submit(events, info));   // one per event
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/store/event_log.h"

namespace ctml::store {
class MetaStore;
}

namespace ctml::ingest {

inline constexpr char kAlertsTopic[] = "clinical-alerts";

struct BatchInfo {
  std::string source;  // gateway|fhir|hl7|sdtm|kafka|amqp|generator
  std::string actor;   // API key id, "mllp:<peer ip>", "cli:<user>", ...; never a secret
  std::string object;  // what was submitted, e.g. "bundle", "ORU^R01 <control id>", "dm.xpt"
  int64_t rejected = 0;
  std::map<std::string, int64_t> reject_reasons;  // reason code -> count
};

struct SubmitResult {
  std::vector<store::RecordPosition> positions;  // one per submitted event, same order
  int64_t alerts = 0;
};

// Why an event deserves a clinical alert (critical vital, severe lab, serious AE), or nullopt.
// The rules are documented in docs/data/canonical-events.md ("Alerts").
std::optional<std::string> AlertReason(const CanonicalEvent& ev);

class IngestCore {
 public:
  // `meta` may be null (no audit trail: only for unit tests and the validate-only endpoints).
  IngestCore(store::EventLog& log, store::MetaStore* meta);

  // Appends all events (grouped by topic, order kept within a topic), then the alerts, then the
  // audit record. An empty `events` with rejections still writes the audit record. On error
  // nothing is acknowledged to the client: the caller answers 503 / AE and the sender retries
  // (events appended before the failure may then be seen twice; event_id dedupes them).
  Result<SubmitResult> Submit(const std::vector<CanonicalEvent>& events, const BatchInfo& info);

  // Records a batch that was rejected entirely (nothing accepted) in the audit trail.
  Status RecordRejection(const BatchInfo& info);

 private:
  store::EventLog& log_;
  store::MetaStore* meta_;
};

}  // namespace ctml::ingest
