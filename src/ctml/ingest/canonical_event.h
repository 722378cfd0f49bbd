// The canonical, de-identified event every ingestion path produces (DESIGN.md section 3) and
// its JSON form on the EventLog.
//
//   CanonicalEvent ev; ev.event_type = "vital_signs"; ...
//   log->Append(TopicFor(ev.event_type), ev.subject_key, ev.ToJson());
//   CTML_ASSIGN_OR_RETURN(auto back, CanonicalEvent::FromJson(record.value));
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "ctml/core/status.h"

namespace ctml::ingest {

struct CanonicalEvent {
  static constexpr int kSchemaVersion = 2;

  std::string event_id;    // client message_id or a UUIDv7; the dedupe key
  std::string event_type;  // demographics|vital_signs|lab_result|adverse_event|medication|...
  std::string study_id;
  std::string site_id;
  std::string subject_key;  // pseudonym, never the raw identifier
  int64_t event_time_us = 0;
  int64_t received_at_us = 0;
  std::string source;  // gateway|fhir|hl7|sdtm|kafka|amqp|generator
  int schema_version = kSchemaVersion;
  std::string payload_json;  // de-identified JSON object

  std::string ToJson() const;
  static Result<CanonicalEvent> FromJson(std::string_view json);
  // The same, also handing out the payload already parsed (Level 2 reads it field by field;
  // this saves parsing it a second time from payload_json).
  static Result<CanonicalEvent> FromJson(std::string_view json, nlohmann::json* payload);
};

// The existing stack's topic names: vital_signs -> "patient-vitals", ...
std::string TopicFor(std::string_view event_type);

}  // namespace ctml::ingest
