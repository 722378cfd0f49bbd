#include "ctml/ingest/topic_payloads.h"

#include <regex>

#include "ctml/core/ids.h"
#include "ctml/ingest/clinical_envelope.h"
#include "ctml/ingest/field_reader.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest {
namespace {

struct Common {
  std::string patient_id;
  PartialTime time;
  std::string site;
  std::string study;
};

Result<Common> ReadCommon(FieldReader& r, int64_t received_at_us, const char* time_field) {
  Common c;
  CTML_RETURN_NOT_OK(r.RequireObject());
  CTML_ASSIGN_OR_RETURN(c.patient_id, r.String("patient_id", 64));
  CTML_ASSIGN_OR_RETURN(c.time, r.Time(time_field, received_at_us + kMaxClockSkewUs, true));
  CTML_ASSIGN_OR_RETURN(auto site, r.OptionalString("trial_site", 64));
  CTML_ASSIGN_OR_RETURN(auto study, r.OptionalString("study_id", 64));
  c.site = site.value_or("UNKNOWN");
  c.study = study.value_or("UNKNOWN");
  r.Allow("source");
  r.Allow("message_id");
  return c;
}

// The same payload re-sent gives the same event id. Keyed: the payload holds the patient id,
// so an unkeyed hash of it could be guessed back.
std::string ContentId(const std::string& topic, const Json& doc,
                      const privacy::Deidentifier& deid) {
  std::string material =
      doc.contains("message_id") && doc["message_id"].is_string()
          ? topic + "/" + doc["message_id"].get<std::string>()
          : topic + "/" + doc.dump(-1, ' ', false, Json::error_handler_t::replace);
  return "kafka-" + deid.SubjectKey("event-id:" + material);
}

Result<Json> Vitals(FieldReader& r) {
  struct Map {
    const char* in;
    const char* out;
  };
  static const Map kMap[] = {{"blood_pressure_systolic", "systolic_bp"},
                             {"blood_pressure_diastolic", "diastolic_bp"},
                             {"heart_rate", "heart_rate"},
                             {"temperature", "temperature_celsius"},
                             {"respiratory_rate", "respiratory_rate"},
                             {"spo2", "oxygen_saturation"}};
  size_t n = 0;
  const VitalRange* ranges = VitalRanges(&n);
  Json ms = Json::array();
  for (const Map& m : kMap) {
    const VitalRange* vr = nullptr;
    for (size_t i = 0; i < n; ++i) {
      if (std::string(ranges[i].field) == m.out) vr = &ranges[i];
    }
    CTML_ASSIGN_OR_RETURN(auto v, r.OptionalNumber(m.in, vr->min, vr->max));
    if (!v) continue;
    ms.push_back({{"test", m.out},
                  {"code_system", "ctml"},
                  {"value", *v},
                  {"value_text", Json(*v).dump()},
                  {"unit", vr->unit}});
  }
  if (ms.empty())
    return Status::Invalid("no vital sign value in the message", r.Path("heart_rate"));
  CTML_ASSIGN_OR_RETURN(auto arm, r.OptionalString("trial_arm", 64));
  Json p = {{"measurements", std::move(ms)}};
  if (arm) p["arm"] = *arm;
  return p;
}

Result<std::optional<std::string>> OneOf(FieldReader& r, const char* a, const char* b,
                                         size_t max_len) {
  CTML_ASSIGN_OR_RETURN(auto x, r.OptionalString(a, max_len));
  if (x) {
    r.Allow(b);
    return x;
  }
  return r.OptionalString(b, max_len);
}

Result<std::optional<double>> OneOfNumber(FieldReader& r, const char* a, const char* b) {
  CTML_ASSIGN_OR_RETURN(auto x, r.OptionalNumber(a, -1e12, 1e12));
  if (x) {
    r.Allow(b);
    return x;
  }
  return r.OptionalNumber(b, -1e12, 1e12);
}

Result<Json> Lab(FieldReader& r) {
  CTML_ASSIGN_OR_RETURN(auto test, OneOf(r, "test_name", "test_type", 128));
  if (!test) return Status::Invalid("test_name is required", r.Path("test_name"));
  CTML_ASSIGN_OR_RETURN(auto value, OneOfNumber(r, "value", "result_value"));
  if (!value) return Status::Invalid("value is required (a number)", r.Path("value"));
  CTML_ASSIGN_OR_RETURN(std::string unit, r.String("unit", 32));
  CTML_ASSIGN_OR_RETURN(auto range, r.OptionalString("reference_range", 64));
  CTML_ASSIGN_OR_RETURN(auto abnormal, r.OptionalBool("is_abnormal"));
  CTML_ASSIGN_OR_RETURN(auto flag, r.OptionalString("abnormal_flag", 8));
  CTML_ASSIGN_OR_RETURN(auto tech, r.OptionalString("lab_technician_id", 16));
  static const std::regex kTech("^LAB[0-9]{4}$");
  if (tech && !std::regex_match(*tech, kTech)) {
    return Status::Invalid("lab_technician_id must match ^LAB[0-9]{4}$",
                           r.Path("lab_technician_id"));
  }
  Json p = {{"test", *test},
            {"code_system", "ctml"},
            {"test_name", *test},
            {"value", *value},
            {"value_text", Json(*value).dump()},
            {"unit", unit}};
  if (range) {
    p["ref_text"] = *range;
    ParseReferenceRange(*range, &p);
  }
  if (abnormal) p["is_abnormal"] = *abnormal;
  if (flag) {
    p["abnormal_flag"] = *flag;
  } else if (abnormal) {
    p["abnormal_flag"] = *abnormal ? "A" : "N";
  }
  if (tech) p["lab_technician_id"] = *tech;
  return p;
}

Result<Json> Medication(FieldReader& r) {
  CTML_ASSIGN_OR_RETURN(auto name, OneOf(r, "medication_name", "drug_name", 200));
  if (!name) return Status::Invalid("medication_name is required", r.Path("medication_name"));
  CTML_ASSIGN_OR_RETURN(auto dose, OneOfNumber(r, "dosage", "dose"));
  CTML_ASSIGN_OR_RETURN(auto unit, OneOf(r, "unit", "dose_unit", 32));
  CTML_ASSIGN_OR_RETURN(auto route, r.OptionalString("route", 64));
  CTML_ASSIGN_OR_RETURN(auto freq, r.OptionalString("frequency", 64));
  CTML_ASSIGN_OR_RETURN(auto arm, r.OptionalString("trial_arm", 64));
  Json p = {{"name", *name}, {"category", "concomitant"}};
  if (dose) {
    p["dose"] = *dose;
    p["dose_text"] = Json(*dose).dump();
  }
  if (unit) p["dose_unit"] = *unit;
  if (route) p["route"] = *route;
  if (freq) p["frequency"] = *freq;
  if (arm) p["arm"] = *arm;
  return p;
}

Result<Json> AdverseEvent(FieldReader& r) {
  CTML_ASSIGN_OR_RETURN(auto text, OneOf(r, "event_description", "description", 2000));
  if (!text) {
    CTML_ASSIGN_OR_RETURN(text, r.OptionalString("event_type", 2000));
  } else {
    r.Allow("event_type");
  }
  if (!text) return Status::Invalid("event_description is required", r.Path("event_description"));
  CTML_ASSIGN_OR_RETURN(std::string sev, r.String("severity", 16));
  struct Grade {
    const char* in;
    const char* severity;
    int grade;
  };
  static const Grade kGrades[] = {
      {"grade_1", "MILD", 1},      {"grade_2", "MODERATE", 2}, {"grade_3", "SEVERE", 3},
      {"grade_4", "SEVERE", 4},    {"grade_5", "SEVERE", 5},   {"Mild", "MILD", 0},
      {"Moderate", "MODERATE", 0}, {"Severe", "SEVERE", 0},
  };
  const Grade* g = nullptr;
  for (const Grade& k : kGrades) {
    if (sev == k.in) g = &k;
  }
  if (g == nullptr) {
    return Status::Invalid("severity must be grade_1..grade_5 or Mild|Moderate|Severe",
                           r.Path("severity"));
  }
  CTML_ASSIGN_OR_RETURN(auto serious, r.OptionalBool("serious"));
  CTML_ASSIGN_OR_RETURN(auto related, r.OptionalBool("related_to_study_drug"));
  CTML_ASSIGN_OR_RETURN(auto action, r.OptionalString("action_taken", 200));
  Json p = {{"term", privacy::Deidentifier::ScrubText(*text)}, {"severity", g->severity}};
  if (g->grade > 0) p["grade"] = g->grade;
  p["serious"] = serious.value_or(g->grade >= 4);
  if (related) p["related_to_study_drug"] = *related;
  if (action) p["action_taken"] = privacy::Deidentifier::ScrubText(*action);
  return p;
}

}  // namespace

const std::vector<std::string>& ExistingStackTopics() {
  static const std::vector<std::string> kTopics = {"patient-vitals", "lab-results", "medications",
                                                   "adverse-events"};
  return kTopics;
}

Result<CanonicalEvent> ParseTopicPayload(const std::string& topic, const Json& doc,
                                         const privacy::Deidentifier& deid,
                                         int64_t received_at_us) {
  FieldReader r(doc, "");
  const char* time_field = "timestamp";
  if (topic == "adverse-events" && !r.Has("timestamp")) time_field = "onset_date";
  CTML_ASSIGN_OR_RETURN(Common c, ReadCommon(r, received_at_us, time_field));
  CanonicalEvent ev;
  Result<Json> payload = Status::OK();
  if (topic == "patient-vitals") {
    ev.event_type = "vital_signs";
    payload = Vitals(r);
  } else if (topic == "lab-results") {
    ev.event_type = "lab_result";
    payload = Lab(r);
  } else if (topic == "medications") {
    ev.event_type = "medication";
    payload = Medication(r);
  } else if (topic == "adverse-events") {
    ev.event_type = "adverse_event";
    payload = AdverseEvent(r);
  } else {
    return Status::Invalid("topic '" + topic + "' is not an input topic of the existing stack",
                           "topic");
  }
  CTML_RETURN_NOT_OK(payload.status());
  ev.event_id = ContentId(topic, doc, deid);
  ev.source = "kafka";
  ev.study_id = c.study;
  ev.site_id = c.site;
  ev.received_at_us = deid.ShiftTime(c.patient_id, received_at_us);
  ev.subject_key = deid.SubjectKey(c.patient_id);
  ev.event_time_us = deid.ShiftTime(c.patient_id, c.time.micros);
  Json p = std::move(*payload);
  if (ev.event_type == "adverse_event" || ev.event_type == "medication") {
    CTML_ASSIGN_OR_RETURN(
        p["start_date"],
        deid.ShiftDate(c.patient_id, FormatPartial(c.time.micros, c.time.precision)));
  }
  p["precision"] = PrecisionName(c.time.precision);
  ev.payload_json = p.dump();
  return ev;
}

}  // namespace ctml::ingest
