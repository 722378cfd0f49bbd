// Validation and de-identification of the existing stack's vital-signs envelope:
//   {message_id?, timestamp?, study_phase?, study_id?, site_id?, vital_signs:{patient_id,
//    measurement_time, systolic_bp, diastolic_bp, heart_rate, temperature_celsius,
//    respiratory_rate?, oxygen_saturation?}}
// An invalid envelope gives Status::Invalid naming the field ("vital_signs.heart_rate").
//
//   CTML_ASSIGN_OR_RETURN(CanonicalEvent ev, ParseClinicalEnvelope(doc, pseudonymizer, now,
//   "gateway"));
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "ctml/core/status.h"
#include "ctml/ingest/canonical_event.h"

namespace ctml::privacy {
class Pseudonymizer;
}

namespace ctml::ingest {

// A physiological field and its accepted range (inclusive).
struct VitalRange {
  const char* field;
  double min;
  double max;
  bool required;
};
// The accepted ranges; the same table drives validation and the docs/tests.
const VitalRange* VitalRanges(size_t* count);

// Validates a whole envelope (exactly one data sub-object; only vital_signs is supported by
// this build) and returns the canonical, de-identified event.
Result<CanonicalEvent> ParseClinicalEnvelope(const nlohmann::json& doc,
                                             const privacy::Pseudonymizer& pseudonymizer,
                                             int64_t received_at_us, const std::string& source);

}  // namespace ctml::ingest
