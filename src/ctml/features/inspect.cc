#include "ctml/features/inspect.h"

#include <arrow/api.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "ctml/core/time.h"
#include "ctml/features/lake_io_internal.h"
#include "ctml/features/spec.h"
#include "ctml/store/lake.h"
#include "ctml/store/online_store.h"

namespace ctml::features {
namespace {

std::string FormatValue(double v) {
  if (std::isnan(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

bool Same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// "features/offline/v/date=2024-03-01/part-0.parquet" -> "2024-03-01"; "" when not a partition.
std::string DateOf(const std::string& path) {
  const size_t p = path.find("/date=");
  if (p == std::string::npos || path.size() < p + 16) return "";
  return path.substr(p + 6, 10);
}

}  // namespace

Result<std::vector<std::string>> SnapshotDates(store::Lake& lake, const std::string& view) {
  std::set<std::string> dates;
  auto files = lake.List("features/offline/" + view);
  if (!files.ok()) {
    if (files.status().code() == StatusCode::kNotFound) return std::vector<std::string>{};
    return files.status();
  }
  for (const auto& f : *files) {
    const std::string d = DateOf(f.path);
    if (!d.empty()) dates.insert(d);
  }
  return std::vector<std::string>(dates.begin(), dates.end());
}

Result<Snapshot> ReadSnapshot(store::Lake& lake, const std::string& view, const std::string& date) {
  if (!date.empty() && (date.size() != 10 || !ParseIso8601(date).ok())) {
    return Status::Invalid("bad date '" + date + "' (expected YYYY-MM-DD)", "date");
  }
  CTML_ASSIGN_OR_RETURN(auto dates, SnapshotDates(lake, view));
  std::string pick;
  for (const auto& d : dates) {
    if (date.empty() || d <= date) pick = d;
  }
  if (pick.empty()) {
    return Status::NotFound("no offline snapshot of '" + view + "'" +
                            (date.empty() ? "" : " on or before " + date) +
                            " (run: ctml features --batch --all)");
  }
  Snapshot s;
  s.date = pick;
  s.path = "features/offline/" + view + "/date=" + pick + "/part-0.parquet";
  CTML_ASSIGN_OR_RETURN(auto table, lake.ReadParquet(s.path));
  CTML_ASSIGN_OR_RETURN(auto cols, ReadFeatureColumns(*table));
  s.names = std::move(cols.names);
  s.subject_keys = std::move(cols.subject_keys);
  s.as_of_us = std::move(cols.as_of_us);
  s.spec_hashes = std::move(cols.spec_hashes);
  s.values = std::move(cols.values);
  return s;
}

Result<ParityReport> CompareStores(store::Lake& lake, store::OnlineStore& online,
                                   const FeatureSpec& spec, const std::string& date) {
  CTML_ASSIGN_OR_RETURN(Snapshot snap, ReadSnapshot(lake, spec.view(), date));
  CTML_ASSIGN_OR_RETURN(auto dates, SnapshotDates(lake, spec.view()));
  ParityReport r;
  r.latest = !dates.empty() && snap.date == dates.back();
  r.date = snap.date;
  r.path = snap.path;
  r.spec_hash = spec.spec_hash();
  r.features = snap.names.size();
  r.offline_subjects = snap.rows();
  CTML_ASSIGN_OR_RETURN(auto keys, online.Keys(spec.view(), 100'000'000));
  r.online_subjects = keys.size();
  std::set<std::string> offline_keys(snap.subject_keys.begin(), snap.subject_keys.end());
  for (const auto& k : keys) r.online_only += offline_keys.count(k) ? 0 : 1;

  std::map<std::string, uint64_t> by_feature;
  const size_t k = snap.names.size();
  for (size_t row = 0; row < snap.rows(); ++row) {
    const std::string& subject = snap.subject_keys[row];
    if (snap.spec_hashes[row] != spec.spec_hash()) {
      ++r.stale_snapshot;
      continue;
    }
    CTML_ASSIGN_OR_RETURN(auto vec, online.Get(subject, spec.view()));
    if (!vec) {
      ++r.missing_online;
      continue;
    }
    if (vec->spec_hash != spec.spec_hash()) {
      ++r.spec_hash_differs;
      continue;
    }
    if (vec->as_of_us > snap.as_of_us[row]) {
      ++r.online_newer;
      continue;
    }
    if (vec->as_of_us < snap.as_of_us[row]) {
      ++r.online_behind;
      continue;
    }
    ++r.compared;
    std::map<std::string, double> online_values(vec->values.begin(), vec->values.end());
    bool any = false;
    for (size_t j = 0; j < k; ++j) {
      ++r.cells;
      const double off = snap.values[row * k + j];
      auto it = online_values.find(snap.names[j]);
      const double on = it == online_values.end() ? std::nan("") : it->second;
      if (it != online_values.end() && Same(off, on)) continue;
      ++r.mismatched_cells;
      ++by_feature[snap.names[j]];
      any = true;
      if (r.examples.size() < 5) {
        r.examples.push_back(subject + " " + snap.names[j] + " offline=" + FormatValue(off) +
                             " online=" + (it == online_values.end() ? "absent" : FormatValue(on)));
      }
    }
    if (any) ++r.subjects_with_mismatch;
  }
  r.worst.assign(by_feature.begin(), by_feature.end());
  std::sort(r.worst.begin(), r.worst.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  return r;
}

Result<RowCount> CountRows(store::Lake& lake, const std::string& dir) {
  RowCount c;
  auto list = lake.List(dir);
  if (!list.ok()) {
    if (list.status().code() == StatusCode::kNotFound) return c;
    return list.status();
  }
  for (const auto& f : *list) {
    if (f.path.size() < 8 || f.path.compare(f.path.size() - 8, 8, ".parquet") != 0) continue;
    CTML_ASSIGN_OR_RETURN(auto t, lake.ReadParquetColumns(f.path, {}));
    c.rows += t->num_rows();
    ++c.files;
  }
  return c;
}

Result<VolumeReport> InspectVolume(store::Lake& lake, const std::string& view) {
  VolumeReport v;
  v.dir = "features/offline/" + view;
  std::set<std::string> dates;
  auto files = lake.List(v.dir);
  if (!files.ok() && files.status().code() != StatusCode::kNotFound) return files.status();
  if (files.ok()) {
    for (const auto& f : *files) {
      ++v.files;
      v.bytes += f.size;
      const std::string d = DateOf(f.path);
      if (!d.empty()) dates.insert(d);
      if (f.path.size() > 8 && f.path.compare(f.path.size() - 8, 8, ".parquet") == 0) {
        CTML_ASSIGN_OR_RETURN(auto t, lake.ReadParquetColumns(f.path, {}));
        v.rows += t->num_rows();
      }
    }
  }
  v.partitions = dates.size();
  if (!dates.empty()) {
    v.first_date = *dates.begin();
    v.last_date = *dates.rbegin();
  }
  auto ds = lake.List("datasets");
  if (!ds.ok() && ds.status().code() != StatusCode::kNotFound) return ds.status();
  if (ds.ok()) {
    for (const auto& f : *ds) {
      if (f.path.size() < 8 || f.path.compare(f.path.size() - 8, 8, ".parquet") != 0) continue;
      CTML_ASSIGN_OR_RETURN(auto t, lake.ReadParquetColumns(f.path, {}));
      v.datasets.push_back({f.path, t->num_rows(), f.size});
    }
  }
  return v;
}

}  // namespace ctml::features
