// Level 2: canonical events -> Silver tables, deduplicated, with quarantine and a duplicates
// ledger (docs/data/silver.md, docs/architecture.md "Level 2 processing").
//
// Streaming (`ctml process`): WriteBatch() per consumed micro-batch; files are named after the
// batch's first input offset (BatchIntent makes replays with other boundaries safe too).
// Batch (`ctml process --batch`): RebuildFromBronze() recomputes whole date partitions from
// Bronze with the same extraction and the same dedupe rule, so both give the same Silver rows.
//
// Dedupe, per table and event-date partition (every natural key contains the event time):
//  - exact: same row id (event id [+ test code]): the latest received_at is kept;
//  - natural key (dedupe_key column): the latest received_at is kept, ties by row id hash.
// Every removed row is written to duplicates/<table>/date=D/ with its reason, so
// `ctml process report` can balance: input rows = Silver + quarantined + duplicates.
//
//   SilverWriter w(lake, standards);
//   CTML_ASSIGN_OR_RETURN(auto out, w.WriteBatch(batch));   // durable when OK
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/process/silver_rows.h"
#include "ctml/store/event_log.h"
#include "ctml/store/lake.h"

namespace ctml::process {

class Standards;

struct TableCounts {
  int64_t input_rows = 0;
  int64_t silver_rows = 0;
  int64_t quarantined = 0;
  int64_t duplicates = 0;  // new rows dropped + older rows superseded
};

struct WriteOutcome {
  std::array<TableCounts, kTableCount> counts{};
  int64_t malformed_events = 0;    // not canonical events; bronze-sink quarantines them
  std::vector<SilverRow> written;  // rows that reached Silver, for publishing
  std::vector<std::string> files;  // the batch's own files (not superseded-row rewrites)
};

// Standardized row as JSON for topic "silver.<table>" (all columns; timestamps as ISO-8601 plus
// event_time_us/received_at_us).
std::string RowJson(const SilverRow& row);

class SilverWriter {
 public:
  SilverWriter(store::Lake& lake, const Standards& standards);
  ~SilverWriter();

  // The files a batch will create (for BatchIntent) are only known after extraction, so the
  // batch is prepared first, then written.
  struct Prepared {
    std::string part;  // file name, from the batch's first input offset
    std::vector<SilverRow> rows;
    std::vector<QuarantineRow> quarantined;
    std::array<TableCounts, kTableCount> counts{};
    int64_t malformed = 0;
    std::set<std::pair<int, std::string>> touched;  // (table, date) partitions it writes
  };
  Result<std::unique_ptr<Prepared>> Prepare(const std::vector<store::LogRecord>& batch);
  std::vector<std::string> FilesOf(const Prepared& p) const;
  Result<WriteOutcome> Write(Prepared& p);

  // Drops the in-memory dedupe index (after a rolled-back attempt); reloaded from the lake.
  void ResetIndex();

  // Rebuilds silver/, quarantine/ and duplicates/ of every table for `dates` (all dates in
  // Bronze when empty) from bronze/. `progress` gets one line per date.
  Result<WriteOutcome> RebuildFromBronze(const std::vector<std::string>& dates,
                                         const std::function<void(const std::string&)>& progress);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether `process --batch` may rebuild Silver from Bronze now: no streaming batch in flight, and
// bronze-sink has consumed exactly what process has, on every raw topic (otherwise the rebuild
// would drop rows Bronze does not have yet, or add rows the stream will add again).
Status CheckRebuildSafe(store::EventLog& log, store::Lake& lake);

// Dates (YYYY-MM-DD) with a partition under `dir` (e.g. "bronze/vital_signs"), sorted.
Result<std::vector<std::string>> PartitionDates(store::Lake& lake, const std::string& dir);

}  // namespace ctml::process
