// Validation and de-identification of the existing stack's REST envelope
// (POST /api/clinical/data): {message_id?, timestamp?, study_phase?, study_id?, site_id?} plus
// exactly one of
//   vital_signs:          {patient_id, measurement_time, systolic_bp, diastolic_bp, heart_rate,
//                          temperature_celsius, respiratory_rate?, oxygen_saturation?}
//   patient_demographics: {patient_id, age 18-120, gender, ethnicity?, weight_kg? 30-300,
//                          height_cm? 100-250, study_id?, enrollment_date?}
//   lab_result:           {patient_id, test_type, result_value, unit, reference_range?,
//                          test_date, lab_technician_id? ^LAB[0-9]{4}$, is_abnormal?}
//   adverse_event:        {patient_id, event_description, severity Mild|Moderate|Severe,
//                          start_date, end_date?, related_to_study_drug, action_taken?}
// An invalid envelope gives Status::Invalid naming the field ("vital_signs.heart_rate"); the
// result is the canonical event of docs/data/canonical-events.md.
//
//   CTML_ASSIGN_OR_RETURN(CanonicalEvent ev,
//                         ParseClinicalEnvelope(doc, deidentifier, NowMicros(), "gateway"));
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ctml/core/json.h"
#include "ctml/core/status.h"
#include "ctml/ingest/canonical_event.h"

namespace ctml::privacy {
class Deidentifier;
}

namespace ctml::ingest {

// A physiological field of the vital-signs envelope, its accepted range (inclusive) and unit.
struct VitalRange {
  const char* field;
  double min;
  double max;
  bool required;
  const char* unit;
};
// The accepted ranges; the same table drives validation, the docs and the tests.
const VitalRange* VitalRanges(size_t* count);

Result<CanonicalEvent> ParseClinicalEnvelope(const Json& doc, const privacy::Deidentifier& deid,
                                             int64_t received_at_us, const std::string& source);

// How far in the future (relative to receipt) an event time may be: clocks drift.
inline constexpr int64_t kMaxClockSkewUs = 5LL * 60 * 1'000'000;

// Shared by the envelope and the Kafka payloads: "Male"/"female"/"M" ... -> "M" | "F" | "U".
std::string SexCode(const std::string& gender);
// "70-100", "<5", ">10", "3.5 - 5.0 mmol/L" -> low/high (either may be absent).
void ParseReferenceRange(const std::string& text, Json* payload);

}  // namespace ctml::ingest
