// Feature materialization: the streaming service (silver.<table> topics -> online store) and the
// daily batch (Silver -> features/offline/<view>/date=D/part-0.parquet). Both use the engine.
//
//   Materializer m(spec, *online);
//   CTML_RETURN_NOT_OK(m.Rebuild(*lake));                 // state from Silver, vectors written
//   std::atomic<bool> stop{false};
//   CTML_RETURN_NOT_OK(m.Run(*log, {}, stop));            // until stop; Put then Commit per batch
//
//   CTML_ASSIGN_OR_RETURN(auto report, WriteDailySnapshots(*lake, spec, {"2024-03-01"}, nullptr));
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/features/spec.h"
#include "ctml/store/event_log.h"     // LogRecord (Apply's input)
#include "ctml/store/online_store.h"  // FeatureVector (VectorFor's result)

namespace ctml::store {
class Lake;
}

namespace ctml::features {

struct MaterializerOptions {
  // Topics: silver.<table> of every table the spec reads.
  std::string group = "features";
  size_t batch_records = 5000;
  std::chrono::milliseconds poll{500};
};

struct MaterializerStats {
  uint64_t events = 0;           // records consumed from the topics
  uint64_t duplicates = 0;       // records Silver's dedupe rules dropped (already in the state)
  uint64_t invalid = 0;          // records that could not be parsed (skipped)
  uint64_t vectors_written = 0;  // vectors Put to the online store
  size_t subjects = 0;
  int64_t last_event_time_us = 0;
};

class Materializer {
 public:
  Materializer(const FeatureSpec& spec, store::OnlineStore& online);
  ~Materializer();
  Materializer(const Materializer&) = delete;
  Materializer& operator=(const Materializer&) = delete;

  // Loads every subject's history from the spec's Silver tables (none is fine) and writes each
  // subject's vector as of its latest event_time.
  Status Rebuild(store::Lake& lake);
  // Applies one batch of silver.<table> records (Silver's dedupe rules), then writes the vector
  // of every touched subject in one Put. Records that cannot be parsed are counted and skipped.
  Status Apply(const std::vector<store::LogRecord>& records);
  // Consumes the silver.<table> topics of the spec's tables in `opts.group` until `stop`: Poll,
  // Apply, then Commit. A failed Apply rewinds to the committed offsets and retries after
  // `opts.poll`.
  Status Run(store::EventLog& log, const MaterializerOptions& opts, const std::atomic<bool>& stop);

  // The vector of `subject_key` as of its latest event_time (as written to the online store).
  Result<store::FeatureVector> VectorFor(const std::string& subject_key) const;
  MaterializerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct SnapshotReport {
  std::vector<std::string> dates;  // YYYY-MM-DD written
  std::vector<std::string> paths;  // lake paths written
  size_t rows = 0;
};

// Writes, for each date D in `dates` (YYYY-MM-DD; empty = every date with a Silver row of the
// spec's tables, the days on which a vector can change),
// features/offline/<view>/date=D/part-0.parquet with one row per subject that has events on or
// before D: its vector as of its latest event at or before D 23:59:59.999999Z (the online
// store's definition; equal to what it held at the end of D when data arrives in event-time
// order). `progress` (may be null) gets lines.
Result<SnapshotReport> WriteDailySnapshots(store::Lake& lake, const FeatureSpec& spec,
                                           const std::vector<std::string>& dates,
                                           const std::function<void(const std::string&)>& progress);

}  // namespace ctml::features
