// Level 2 writers: EventLog batches -> Bronze envelopes and Silver vitals (DESIGN.md section 3).
//
// File names derive from the batch's first input offset:
//   bronze/<event_type>/date=D/part-<partition>-<first_offset>.parquet
//   silver/vitals/date=D/part-<partition>-<first_offset>.parquet
// so a batch replayed after a crash (which starts at the same committed offset) overwrites the
// files it wrote before instead of duplicating them. Records that cannot be parsed go to
// quarantine/<event_type>/date=<received date>/ with a reason_code.
//
//   CTML_RETURN_NOT_OK(WriteBronze(*lake, "vital_signs", batch));
//   CTML_ASSIGN_OR_RETURN(auto std_events, WriteSilverVitals(*lake, batch));
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/store/event_log.h"
#include "ctml/store/lake.h"

namespace ctml::process {

// One standardized vital (a Silver row) as published on topic "silver.vitals".
struct StandardizedVital {
  std::string subject_key;
  std::string
      json;  // {"event_id","subject_key","event_time_us","received_at_us","test_code","value","unit"}
};

// The vital-signs fields of the canonical payload and their SDTM/LOINC codes and units.
struct VitalCode {
  const char* field;
  const char* test_code;
  const char* loinc;
  const char* unit;
};
const std::vector<VitalCode>& VitalCodes();

Status WriteBronze(store::Lake& lake, const std::string& event_type,
                   const std::vector<store::LogRecord>& batch);

// Writes Silver vitals (and quarantine) for the batch; returns the standardized events to
// publish, in input order, deduplicated by event_id within the batch.
Result<std::vector<StandardizedVital>> WriteSilverVitals(
    store::Lake& lake, const std::vector<store::LogRecord>& batch);

}  // namespace ctml::process
