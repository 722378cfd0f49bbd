// Level 3 utilities over the two stores (the existing stack's --compare-stores,
// --query-offline-features, --inspect-feature-volume): read offline snapshots, compare them with
// the online store, and measure the offline store.
//
//   CTML_ASSIGN_OR_RETURN(auto snap, ReadSnapshot(*lake, spec.view(), ""));   // latest date
//   CTML_ASSIGN_OR_RETURN(ParityReport r, CompareStores(*lake, *online, spec, ""));
//   r.mismatched_cells == 0 && r.missing_online == 0 && r.online_behind == 0  // exact parity
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::store {
class Lake;
class OnlineStore;
}  // namespace ctml::store

namespace ctml::features {

class FeatureSpec;

// One daily snapshot: features/offline/<view>/date=D/part-0.parquet.
struct Snapshot {
  std::string date;  // the partition read
  std::string path;
  std::vector<std::string> names;  // feature columns, in file order
  std::vector<std::string> subject_keys;
  std::vector<int64_t> as_of_us;
  std::vector<std::string> spec_hashes;
  std::vector<double> values;  // rows x names, row-major; NaN = null
  size_t rows() const { return subject_keys.size(); }
};

// The snapshot of `date` (YYYY-MM-DD); when there is no partition for it, the latest one before
// it (what the store held on that day); "" = the latest. NotFound when there is none.
Result<Snapshot> ReadSnapshot(store::Lake& lake, const std::string& view, const std::string& date);

// Dates (YYYY-MM-DD) with a snapshot of `view`, ascending.
Result<std::vector<std::string>> SnapshotDates(store::Lake& lake, const std::string& view);

struct ParityReport {
  std::string date, path, spec_hash;
  size_t features = 0;
  size_t offline_subjects = 0;
  size_t online_subjects = 0;
  size_t compared = 0;           // subjects whose vectors were compared feature by feature
  size_t missing_online = 0;     // in the snapshot, not in the online store
  size_t online_only = 0;        // in the online store, not in the snapshot
  size_t online_newer = 0;       // online as_of later than the snapshot's (not comparable)
  size_t online_behind = 0;      // online as_of earlier than the snapshot's (stale online store)
  size_t spec_hash_differs = 0;  // online vectors computed from another spec than the current
  size_t stale_snapshot = 0;     // snapshot rows computed from another spec than the current
  bool latest = false;           // the snapshot is the latest one (online should equal it)
  uint64_t cells = 0;            // feature values compared
  uint64_t mismatched_cells = 0;
  size_t subjects_with_mismatch = 0;
  // Features with mismatches, most first.
  std::vector<std::pair<std::string, uint64_t>> worst;
  // A few mismatches: "subject feature offline=... online=...".
  std::vector<std::string> examples;
  // Every subject compared equal; on the latest snapshot also none only online or newer.
  bool exact() const {
    return compared > 0 && mismatched_cells == 0 && missing_online == 0 && online_behind == 0 &&
           spec_hash_differs == 0 && stale_snapshot == 0 &&
           (!latest || (online_only == 0 && online_newer == 0));
  }
};

// Compares, for every subject of the snapshot of `date` ("" = latest), its online vector with its
// snapshot row: both from the current spec, the same as_of (a snapshot row is the vector as of
// the subject's latest event by the end of its day), then every feature exactly (NaN == NaN).
Result<ParityReport> CompareStores(store::Lake& lake, store::OnlineStore& online,
                                   const FeatureSpec& spec, const std::string& date);

struct VolumeReport {
  std::string dir;  // features/offline/<view>
  size_t partitions = 0, files = 0;
  int64_t bytes = 0;
  int64_t rows = 0;
  std::string first_date, last_date;
  // datasets/<label>/<id>: rows and bytes per training set.
  struct Dataset {
    std::string path;
    int64_t rows = 0, bytes = 0;
  };
  std::vector<Dataset> datasets;
};

// Rows and Parquet files under `dir` of the lake (0, 0 when absent); reads only the footers.
struct RowCount {
  int64_t rows = 0;
  size_t files = 0;
};
Result<RowCount> CountRows(store::Lake& lake, const std::string& dir);

Result<VolumeReport> InspectVolume(store::Lake& lake, const std::string& view);

}  // namespace ctml::features
