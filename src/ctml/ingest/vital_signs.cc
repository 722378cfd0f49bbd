#include "ctml/ingest/vital_signs.h"

#include <cmath>
#include <regex>

#include "ctml/core/ids.h"
#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/privacy/pseudonymizer.h"

namespace ctml::ingest {
namespace {

constexpr VitalRange kRanges[] = {
    {"systolic_bp", 50, 300, true},     {"diastolic_bp", 20, 200, true},
    {"heart_rate", 20, 250, true},      {"temperature_celsius", 30, 45, true},
    {"respiratory_rate", 4, 60, false}, {"oxygen_saturation", 50, 100, false},
};

const char* kDataTypes[] = {"vital_signs", "patient_demographics", "lab_result", "adverse_event"};

Result<std::string> OptionalString(const Json& doc, const char* name, size_t max_len,
                                   const std::string& fallback) {
  if (!doc.contains(name) || doc[name].is_null()) return fallback;
  if (!doc[name].is_string()) return Status::Invalid(std::string(name) + " must be a string", name);
  std::string v = doc[name].get<std::string>();
  if (v.size() > max_len) {
    return Status::Invalid(
        std::string(name) + " is longer than " + std::to_string(max_len) + " characters", name);
  }
  return v;
}

}  // namespace

const VitalRange* VitalRanges(size_t* count) {
  *count = std::size(kRanges);
  return kRanges;
}

Result<CanonicalEvent> ParseClinicalEnvelope(const Json& doc,
                                             const privacy::Pseudonymizer& pseudonymizer,
                                             int64_t received_at_us, const std::string& source) {
  if (!doc.is_object()) return Status::Invalid("request body must be a JSON object");
  std::string data_type;
  for (const char* t : kDataTypes) {
    if (doc.contains(t)) {
      if (!data_type.empty()) {
        return Status::Invalid(
            "exactly one of vital_signs, patient_demographics, lab_result, "
            "adverse_event is allowed per message",
            t);
      }
      data_type = t;
    }
  }
  if (data_type.empty()) {
    return Status::Invalid(
        "missing data: expected one of vital_signs, patient_demographics, "
        "lab_result, adverse_event",
        "vital_signs");
  }
  if (data_type != "vital_signs") {
    return Status::Invalid("data type '" + data_type + "' is not supported yet by this gateway",
                           data_type);
  }

  CanonicalEvent ev;
  ev.event_type = "vital_signs";
  ev.source = source;
  ev.received_at_us = received_at_us;
  CTML_ASSIGN_OR_RETURN(ev.event_id, OptionalString(doc, "message_id", 128, ""));
  if (ev.event_id.empty()) ev.event_id = NewUuidV7();
  CTML_ASSIGN_OR_RETURN(ev.site_id, OptionalString(doc, "site_id", 64, "UNKNOWN"));
  CTML_ASSIGN_OR_RETURN(ev.study_id, OptionalString(doc, "study_id", 64, "UNKNOWN"));
  CTML_ASSIGN_OR_RETURN(std::string phase, OptionalString(doc, "study_phase", 64, ""));
  CTML_ASSIGN_OR_RETURN(std::string ts, OptionalString(doc, "timestamp", 64, ""));
  if (!ts.empty() && !ParseIso8601(ts).ok()) {
    return Status::Invalid("timestamp is not an ISO-8601 time", "timestamp");
  }

  const Json& vs = doc["vital_signs"];
  if (!vs.is_object()) return Status::Invalid("vital_signs must be an object", "vital_signs");

  // patient_id: required, the existing stack's format. Never echoed back in errors.
  if (!vs.contains("patient_id") || vs["patient_id"].is_null()) {
    return Status::Invalid("patient_id is required", "vital_signs.patient_id");
  }
  if (!vs["patient_id"].is_string()) {
    return Status::Invalid("patient_id must be a string", "vital_signs.patient_id");
  }
  static const std::regex kPatientId("^PT[A-Z0-9]{8}$");
  const std::string& patient_id = vs["patient_id"].get_ref<const std::string&>();
  if (!std::regex_match(patient_id, kPatientId)) {
    return Status::Invalid("patient_id must match ^PT[A-Z0-9]{8}$", "vital_signs.patient_id");
  }

  if (!vs.contains("measurement_time") || !vs["measurement_time"].is_string()) {
    return Status::Invalid("measurement_time is required (ISO-8601 string)",
                           "vital_signs.measurement_time");
  }
  auto t = ParseIso8601(vs["measurement_time"].get<std::string>());
  if (!t.ok()) {
    return Status::Invalid(t.status().message(), "vital_signs.measurement_time");
  }
  if (*t > received_at_us + 5 * 60 * kMicrosPerSecond) {
    return Status::Invalid("measurement_time is in the future", "vital_signs.measurement_time");
  }
  ev.event_time_us = *t;

  Json payload = Json::object();
  for (const VitalRange& r : kRanges) {
    std::string field = std::string("vital_signs.") + r.field;
    if (!vs.contains(r.field) || vs[r.field].is_null()) {
      if (r.required) return Status::Invalid(std::string(r.field) + " is required", field);
      payload[r.field] = nullptr;
      continue;
    }
    if (!vs[r.field].is_number()) {
      return Status::Invalid(std::string(r.field) + " must be a number", field);
    }
    double v = vs[r.field].get<double>();
    if (!std::isfinite(v) || v < r.min || v > r.max) {
      return Status::Invalid(std::string(r.field) + " is out of range [" + Json(r.min).dump() +
                                 ", " + Json(r.max).dump() + "]",
                             field);
    }
    payload[r.field] = v;
  }
  if (payload["diastolic_bp"].get<double>() >= payload["systolic_bp"].get<double>()) {
    return Status::Invalid("diastolic_bp must be lower than systolic_bp",
                           "vital_signs.diastolic_bp");
  }
  for (const auto& [k, v] : vs.items()) {
    if (k == "patient_id" || k == "measurement_time" || payload.contains(k)) continue;
    return Status::Invalid("unknown field '" + k + "'", "vital_signs." + k);
  }
  if (!phase.empty()) payload["study_phase"] = phase;
  // message_id is stored as the event id: it must not carry the identifier we pseudonymize.
  if (ev.event_id.find(patient_id) != std::string::npos) {
    return Status::Invalid("message_id must not contain the patient identifier", "message_id");
  }
  ev.subject_key = pseudonymizer.SubjectKey(patient_id);
  ev.payload_json = payload.dump();
  return ev;
}

}  // namespace ctml::ingest
