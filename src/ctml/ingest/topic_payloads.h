// The existing stack's Kafka payloads, accepted unchanged so its producers can switch to ctml:
//   patient-vitals  {patient_id, timestamp, heart_rate, blood_pressure_systolic,
//                    blood_pressure_diastolic, temperature, spo2, respiratory_rate?, source?,
//                    trial_site?, trial_arm?, study_id?}
//   lab-results     {patient_id, timestamp, test_name|test_type, value|result_value, unit,
//                    reference_range?, is_abnormal?, abnormal_flag?, trial_site?, ...}
//   medications     {patient_id, timestamp, medication_name|drug_name, dosage|dose, unit?,
//                    route?, frequency?, trial_site?, ...}
//   adverse-events  {patient_id, timestamp, event_description|description|event_type,
//                    severity grade_1..grade_4|Mild|Moderate|Severe, serious?,
//                    related_to_study_drug?, action_taken?, trial_site?}
// (docs/ingest/kafka-topics.md). Fields not listed are dropped, never stored: they may hold PHI.
//
//   CTML_ASSIGN_OR_RETURN(CanonicalEvent ev,
//       ParseTopicPayload("patient-vitals", doc, deid, NowMicros()));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ctml/core/json.h"
#include "ctml/core/status.h"
#include "ctml/ingest/canonical_event.h"

namespace ctml::privacy {
class Deidentifier;
}

namespace ctml::ingest {

// The input topics this parser understands.
const std::vector<std::string>& ExistingStackTopics();

Result<CanonicalEvent> ParseTopicPayload(const std::string& topic, const Json& doc,
                                         const privacy::Deidentifier& deid, int64_t received_at_us);

}  // namespace ctml::ingest
