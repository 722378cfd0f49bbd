// Level 2 Bronze writer: EventLog batches -> immutable envelopes (DESIGN.md section 3).
//
// File names derive from the batch's first input offset (PartName in batch_intent.h):
//   bronze/<event_type>/date=D/part-<topic>-<partition>-<first_offset>.parquet
// so a batch replayed after a crash overwrites the files it wrote before; BatchIntent covers a
// replay with other boundaries.
//
//   CTML_RETURN_NOT_OK(WriteBronze(*lake, batch));
#pragma once

#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/store/event_log.h"
#include "ctml/store/lake.h"

namespace ctml::process {

// Writes the batch's canonical events to bronze/<event_type>/date=<event date>/<part>, and records
// that are not canonical events of one of the seven types to
// quarantine/envelopes/date=<append date>/<part> (MALFORMED_EVENT, UNEXPECTED_EVENT_TYPE).
Status WriteBronze(store::Lake& lake, const std::vector<store::LogRecord>& batch);

// The files WriteBronze(batch) creates (for BatchIntent).
std::vector<std::string> BronzeFiles(const std::vector<store::LogRecord>& batch);

}  // namespace ctml::process
