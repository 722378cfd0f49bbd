#include "ctml/ingest/canonical_event.h"

#include "ctml/core/json.h"

namespace ctml::ingest {

std::string CanonicalEvent::ToJson() const {
  Json j = {{"event_id", event_id},
            {"event_type", event_type},
            {"study_id", study_id},
            {"site_id", site_id},
            {"subject_key", subject_key},
            {"event_time_us", event_time_us},
            {"received_at_us", received_at_us},
            {"source", source},
            {"schema_version", schema_version}};
  j["payload"] = payload_json.empty() ? Json::object() : Json::parse(payload_json);
  // Source text (a facility name, a free-text field) may not be valid UTF-8: replace such bytes
  // rather than throw, so one odd field never turns an acceptable record into a retry loop.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<CanonicalEvent> CanonicalEvent::FromJson(std::string_view text) {
  return FromJson(text, nullptr);
}

Result<CanonicalEvent> CanonicalEvent::FromJson(std::string_view text, Json* payload) {
  CTML_ASSIGN_OR_RETURN(Json j, ParseJson(text, 64));
  if (!j.is_object()) return Status::Invalid("canonical event is not a JSON object");
  CanonicalEvent ev;
  try {
    ev.event_id = j.at("event_id").get<std::string>();
    ev.event_type = j.at("event_type").get<std::string>();
    ev.study_id = j.value("study_id", "");
    ev.site_id = j.value("site_id", "");
    ev.subject_key = j.at("subject_key").get<std::string>();
    ev.event_time_us = j.at("event_time_us").get<int64_t>();
    ev.received_at_us = j.at("received_at_us").get<int64_t>();
    ev.source = j.value("source", "");
    ev.schema_version = j.value("schema_version", 1);
    auto p = j.find("payload");
    ev.payload_json = p != j.end() ? p->dump() : "{}";
    if (payload != nullptr) *payload = p != j.end() ? std::move(*p) : Json::object();
  } catch (const Json::exception& e) {
    return Status::Invalid(std::string("canonical event lacks a field: ") + e.what());
  }
  return ev;
}

std::string TopicFor(std::string_view event_type) {
  if (event_type == "vital_signs") return "patient-vitals";
  if (event_type == "lab_result") return "lab-results";
  if (event_type == "adverse_event") return "adverse-events";
  if (event_type == "medication") return "medications";
  if (event_type == "demographics") return "demographics";
  return std::string(event_type);
}

}  // namespace ctml::ingest
