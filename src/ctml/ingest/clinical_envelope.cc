#include "ctml/ingest/clinical_envelope.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "ctml/core/ids.h"
#include "ctml/ingest/field_reader.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest {
namespace {

constexpr VitalRange kRanges[] = {
    {"systolic_bp", 50, 300, true, "mmHg"},
    {"diastolic_bp", 20, 200, true, "mmHg"},
    {"heart_rate", 20, 250, true, "beats/min"},
    {"temperature_celsius", 30, 45, true, "C"},
    {"respiratory_rate", 4, 60, false, "breaths/min"},
    {"oxygen_saturation", 50, 100, false, "%"},
};

const char* kDataTypes[] = {"vital_signs", "patient_demographics", "lab_result", "adverse_event"};

// What one data sub-object contributes to the event, before de-identification of its dates.
struct Parsed {
  std::string event_type;
  std::string patient_id;
  PartialTime event_time;
  Json payload = Json::object();
  std::vector<std::pair<std::string, std::string>> dates;  // payload key -> ISO date to shift
};

Result<std::string> PatientId(FieldReader& r) {
  static const std::regex kPatientId("^PT[A-Z0-9]{8}$");
  CTML_ASSIGN_OR_RETURN(std::string id, r.String("patient_id", 64));
  if (!std::regex_match(id, kPatientId)) {
    return Status::Invalid("patient_id must match ^PT[A-Z0-9]{8}$", r.Path("patient_id"));
  }
  return id;
}

Result<Parsed> ParseVitals(FieldReader& r, int64_t latest) {
  Parsed p;
  p.event_type = "vital_signs";
  CTML_ASSIGN_OR_RETURN(p.patient_id, PatientId(r));
  CTML_ASSIGN_OR_RETURN(p.event_time, r.Time("measurement_time", latest));
  Json ms = Json::array();
  double sys = 0, dia = 0;
  for (const VitalRange& v : kRanges) {
    CTML_ASSIGN_OR_RETURN(auto value, r.OptionalNumber(v.field, v.min, v.max));
    if (!value) {
      if (v.required)
        return Status::Invalid(std::string(v.field) + " is required", r.Path(v.field));
      continue;
    }
    if (std::string(v.field) == "systolic_bp") sys = *value;
    if (std::string(v.field) == "diastolic_bp") dia = *value;
    ms.push_back({{"test", v.field},
                  {"code_system", "ctml"},
                  {"value", *value},
                  {"value_text", Json(*value).dump()},
                  {"unit", v.unit}});
  }
  if (dia >= sys) {
    return Status::Invalid("diastolic_bp must be lower than systolic_bp", r.Path("diastolic_bp"));
  }
  p.payload["measurements"] = std::move(ms);
  CTML_RETURN_NOT_OK(r.NoOtherFields());
  return p;
}

Result<Parsed> ParseDemographics(FieldReader& r, int64_t latest, int64_t received_at_us) {
  Parsed p;
  p.event_type = "demographics";
  CTML_ASSIGN_OR_RETURN(p.patient_id, PatientId(r));
  CTML_ASSIGN_OR_RETURN(double age, r.Number("age", 18, 120));
  CTML_ASSIGN_OR_RETURN(std::string gender, r.String("gender", 32));
  CTML_ASSIGN_OR_RETURN(auto ethnicity, r.OptionalString("ethnicity", 64));
  CTML_ASSIGN_OR_RETURN(auto weight, r.OptionalNumber("weight_kg", 30, 300));
  CTML_ASSIGN_OR_RETURN(auto height, r.OptionalNumber("height_cm", 100, 250));
  CTML_ASSIGN_OR_RETURN(auto study, r.OptionalString("study_id", 64));
  CTML_ASSIGN_OR_RETURN(auto enrolled, r.OptionalTime("enrollment_date", latest, true));
  CTML_RETURN_NOT_OK(r.NoOtherFields());
  int whole = static_cast<int>(age);
  p.payload["age"] = privacy::Deidentifier::CapAge(whole);
  if (whole > 89) p.payload["age_capped"] = true;
  p.payload["age_unit"] = "YEARS";
  p.payload["gender"] = gender;
  p.payload["sex"] = SexCode(gender);
  if (ethnicity) p.payload["ethnicity"] = *ethnicity;
  if (weight) p.payload["weight_kg"] = *weight;
  if (height) p.payload["height_cm"] = *height;
  if (study) p.payload["study_id"] = *study;
  if (enrolled) {
    p.event_time = *enrolled;
    p.dates.emplace_back("enrollment_date", FormatPartial(enrolled->micros, enrolled->precision));
  } else {
    p.event_time = PartialTime{received_at_us, TimePrecision::kSecond};
  }
  return p;
}

Result<Parsed> ParseLab(FieldReader& r, int64_t latest) {
  static const std::regex kTech("^LAB[0-9]{4}$");
  Parsed p;
  p.event_type = "lab_result";
  CTML_ASSIGN_OR_RETURN(p.patient_id, PatientId(r));
  CTML_ASSIGN_OR_RETURN(std::string test, r.String("test_type", 128));
  CTML_ASSIGN_OR_RETURN(double value, r.Number("result_value", -1e12, 1e12));
  CTML_ASSIGN_OR_RETURN(std::string unit, r.String("unit", 32));
  CTML_ASSIGN_OR_RETURN(auto range, r.OptionalString("reference_range", 64));
  CTML_ASSIGN_OR_RETURN(p.event_time, r.Time("test_date", latest, true));
  CTML_ASSIGN_OR_RETURN(auto tech, r.OptionalString("lab_technician_id", 16));
  if (tech && !std::regex_match(*tech, kTech)) {
    return Status::Invalid("lab_technician_id must match ^LAB[0-9]{4}$",
                           r.Path("lab_technician_id"));
  }
  CTML_ASSIGN_OR_RETURN(auto abnormal, r.OptionalBool("is_abnormal"));
  CTML_RETURN_NOT_OK(r.NoOtherFields());
  p.payload = {{"test", test},
               {"code_system", "ctml"},
               {"test_name", test},
               {"value", value},
               {"value_text", Json(value).dump()},
               {"unit", unit}};
  if (range) {
    p.payload["ref_text"] = *range;
    ParseReferenceRange(*range, &p.payload);
  }
  if (tech) p.payload["lab_technician_id"] = *tech;
  if (abnormal) {
    p.payload["is_abnormal"] = *abnormal;
    p.payload["abnormal_flag"] = *abnormal ? "A" : "N";
  }
  return p;
}

Result<Parsed> ParseAdverseEvent(FieldReader& r, int64_t latest) {
  Parsed p;
  p.event_type = "adverse_event";
  CTML_ASSIGN_OR_RETURN(p.patient_id, PatientId(r));
  CTML_ASSIGN_OR_RETURN(std::string text, r.String("event_description", 2000));
  CTML_ASSIGN_OR_RETURN(std::string severity, r.Enum("severity", {"Mild", "Moderate", "Severe"}));
  CTML_ASSIGN_OR_RETURN(p.event_time, r.Time("start_date", latest, true));
  CTML_ASSIGN_OR_RETURN(auto end, r.OptionalTime("end_date", INT64_MAX, true));
  if (end && end->micros < p.event_time.micros) {
    return Status::Invalid("end_date is before start_date", r.Path("end_date"));
  }
  CTML_ASSIGN_OR_RETURN(auto related, r.OptionalBool("related_to_study_drug"));
  if (!related) {
    return Status::Invalid("related_to_study_drug is required (true or false)",
                           r.Path("related_to_study_drug"));
  }
  CTML_ASSIGN_OR_RETURN(auto action, r.OptionalString("action_taken", 200));
  CTML_RETURN_NOT_OK(r.NoOtherFields());
  std::string upper = severity;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  p.payload = {{"term", privacy::Deidentifier::ScrubText(text)},
               {"severity", upper},
               {"related_to_study_drug", *related}};
  if (action) p.payload["action_taken"] = privacy::Deidentifier::ScrubText(*action);
  p.dates.emplace_back("start_date", FormatPartial(p.event_time.micros, p.event_time.precision));
  if (end) p.dates.emplace_back("end_date", FormatPartial(end->micros, end->precision));
  return p;
}

}  // namespace

const VitalRange* VitalRanges(size_t* count) {
  *count = std::size(kRanges);
  return kRanges;
}

std::string SexCode(const std::string& gender) {
  std::string g;
  for (char c : gender) g += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (g == "m" || g == "male" || g == "man") return "M";
  if (g == "f" || g == "female" || g == "woman") return "F";
  return "U";
}

void ParseReferenceRange(const std::string& text, Json* payload) {
  static const std::regex kBetween(
      R"(^\s*(-?[0-9]*\.?[0-9]+)\s*(-|–|to)\s*(-?[0-9]*\.?[0-9]+).*$)");
  static const std::regex kBound(R"(^\s*([<>]=?)\s*(-?[0-9]*\.?[0-9]+).*$)");
  std::smatch m;
  if (std::regex_match(text, m, kBetween)) {
    (*payload)["ref_low"] = std::stod(m[1].str());
    (*payload)["ref_high"] = std::stod(m[3].str());
  } else if (std::regex_match(text, m, kBound)) {
    (*payload)[m[1].str()[0] == '<' ? "ref_high" : "ref_low"] = std::stod(m[2].str());
  }
}

Result<CanonicalEvent> ParseClinicalEnvelope(const Json& doc, const privacy::Deidentifier& deid,
                                             int64_t received_at_us, const std::string& source) {
  if (!doc.is_object()) return Status::Invalid("request body must be a JSON object");
  std::string data_type;
  for (const char* t : kDataTypes) {
    if (doc.contains(t)) {
      if (!data_type.empty()) {
        return Status::Invalid(
            "exactly one of vital_signs, patient_demographics, lab_result, adverse_event is "
            "allowed per message",
            t);
      }
      data_type = t;
    }
  }
  if (data_type.empty()) {
    return Status::Invalid(
        "missing data: expected one of vital_signs, patient_demographics, lab_result, "
        "adverse_event",
        "vital_signs");
  }
  FieldReader env(doc, "");
  CanonicalEvent ev;
  ev.source = source;
  CTML_ASSIGN_OR_RETURN(auto message_id, env.OptionalString("message_id", 128));
  CTML_ASSIGN_OR_RETURN(auto site, env.OptionalString("site_id", 64));
  CTML_ASSIGN_OR_RETURN(auto study, env.OptionalString("study_id", 64));
  CTML_ASSIGN_OR_RETURN(auto phase, env.OptionalString("study_phase", 64));
  CTML_RETURN_NOT_OK(env.OptionalTime("timestamp", INT64_MAX).status());
  env.Allow(data_type.c_str());
  CTML_RETURN_NOT_OK(env.NoOtherFields());

  FieldReader r(doc[data_type], data_type);
  CTML_RETURN_NOT_OK(r.RequireObject());
  int64_t latest = received_at_us + kMaxClockSkewUs;
  Result<Parsed> parsed = Status::OK();
  if (data_type == "vital_signs") parsed = ParseVitals(r, latest);
  if (data_type == "patient_demographics") parsed = ParseDemographics(r, latest, received_at_us);
  if (data_type == "lab_result") parsed = ParseLab(r, latest);
  if (data_type == "adverse_event") parsed = ParseAdverseEvent(r, latest);
  CTML_RETURN_NOT_OK(parsed.status());

  ev.event_id = message_id && !message_id->empty() ? *message_id : NewUuidV7();
  // message_id is stored as the event id: it must not carry the identifier we pseudonymize.
  if (ev.event_id.find(parsed->patient_id) != std::string::npos) {
    return Status::Invalid("message_id must not contain the patient identifier", "message_id");
  }
  ev.event_type = parsed->event_type;
  ev.site_id = site.value_or("UNKNOWN");
  ev.study_id = study.value_or(parsed->payload.value("study_id", std::string("UNKNOWN")));
  ev.subject_key = deid.SubjectKey(parsed->patient_id);
  ev.event_time_us = deid.ShiftTime(parsed->patient_id, parsed->event_time.micros);
  // Shifted like every other date of the subject: an unshifted receipt time next to a shifted
  // event time would reveal the offset.
  ev.received_at_us = deid.ShiftTime(parsed->patient_id, received_at_us);
  Json payload = std::move(parsed->payload);
  payload.erase("study_id");
  for (const auto& [key, iso] : parsed->dates) {
    CTML_ASSIGN_OR_RETURN(payload[key], deid.ShiftDate(parsed->patient_id, iso));
  }
  if (phase) payload["study_phase"] = *phase;
  payload["precision"] = PrecisionName(parsed->event_time.precision);
  ev.payload_json = payload.dump();
  return ev;
}

}  // namespace ctml::ingest
