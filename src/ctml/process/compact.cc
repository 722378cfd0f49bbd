#include "ctml/process/compact.h"

#include <arrow/api.h>

#include <algorithm>
#include <map>
#include <set>

#include "ctml/core/json.h"
#include "ctml/process/silver_rows.h"
#include "ctml/process/silver_writer.h"

namespace ctml::process {
namespace {

constexpr const char* kIntent = "_state/compact/intent.json";

Status FinishIntent(store::Lake& lake) {
  auto bytes = lake.GetBytes(kIntent);
  if (!bytes.ok()) {
    return bytes.status().code() == StatusCode::kNotFound ? Status::OK() : bytes.status();
  }
  auto j = ParseJson(*bytes);
  if (!j.ok()) return Status::Internal(std::string("unreadable ") + kIntent);
  std::string output = (*j)["output"].get<std::string>();
  auto out = lake.ReadParquet(output);
  if (out.ok() && (*out)->num_rows() == (*j)["rows"].get<int64_t>()) {
    for (const auto& f : (*j)["inputs"]) {
      if (f.get<std::string>() != output) CTML_RETURN_NOT_OK(lake.Delete(f.get<std::string>()));
    }
  } else {
    CTML_RETURN_NOT_OK(lake.Delete(output));  // inputs untouched: nothing happened
  }
  return lake.Delete(kIntent);
}

// Files a streaming batch in flight will create or may roll back: never merged.
Result<std::set<std::string>> InFlightFiles(store::Lake& lake) {
  std::set<std::string> files;
  for (const char* service : {"process", "bronze-sink"}) {
    auto bytes = lake.GetBytes(std::string("_state/") + service + "/intent.json");
    if (!bytes.ok()) continue;
    auto j = ParseJson(*bytes);
    if (!j.ok() || !j->contains("files")) continue;
    for (const auto& f : (*j)["files"]) files.insert(f.get<std::string>());
  }
  return files;
}

std::vector<std::string> PartitionDirs(const std::string& date) {
  std::vector<std::string> dirs;
  for (const auto& s : SilverSchemas()) {
    dirs.push_back("bronze/" + s.event_type + "/date=" + date);
    for (const char* area : {"silver", "quarantine", "duplicates"}) {
      dirs.push_back(std::string(area) + "/" + s.name + "/date=" + date);
    }
  }
  dirs.push_back("quarantine/envelopes/date=" + date);
  return dirs;
}

}  // namespace

Result<std::vector<std::string>> CompactableDates(store::Lake& lake) {
  std::set<std::string> dates;
  std::vector<std::string> dirs = {"quarantine/envelopes"};
  for (const auto& s : SilverSchemas()) {
    dirs.push_back("bronze/" + s.event_type);
    for (const char* area : {"silver", "quarantine", "duplicates"}) {
      dirs.push_back(std::string(area) + "/" + s.name);
    }
  }
  for (const auto& dir : dirs) {
    CTML_ASSIGN_OR_RETURN(auto d, PartitionDates(lake, dir));
    dates.insert(d.begin(), d.end());
  }
  return std::vector<std::string>(dates.begin(), dates.end());
}

Result<CompactResult> CompactDate(store::Lake& lake, const std::string& date,
                                  const std::function<void(const std::string&)>& progress) {
  CTML_RETURN_NOT_OK(FinishIntent(lake));
  CompactResult r;
  for (const auto& dir : PartitionDirs(date)) {
    CTML_ASSIGN_OR_RETURN(auto listed, lake.List(dir));
    std::vector<std::string> files;
    std::vector<int64_t> sizes;
    for (const auto& f : listed) {
      if (f.path.size() > 8 && f.path.compare(f.path.size() - 8, 8, ".parquet") == 0) {
        files.push_back(f.path);
        sizes.push_back(f.size);
      }
    }
    r.files_before += static_cast<int>(files.size());
    CTML_ASSIGN_OR_RETURN(auto in_flight, InFlightFiles(lake));
    bool busy = std::any_of(files.begin(), files.end(),
                            [&](const std::string& f) { return in_flight.count(f) > 0; });
    if (busy) {
      r.skipped.push_back(dir + ": a streaming batch is writing it; try again later");
      r.files_after += static_cast<int>(files.size());
      continue;
    }
    if (files.size() < 2) {
      r.files_after += static_cast<int>(files.size());
      continue;
    }
    std::vector<std::shared_ptr<arrow::Table>> tables;
    int64_t rows = 0;
    for (const auto& f : files) {
      CTML_ASSIGN_OR_RETURN(auto t, lake.ReadParquet(f));
      rows += t->num_rows();
      tables.push_back(t);
    }
    auto merged = arrow::ConcatenateTables(tables);
    if (!merged.ok()) {
      r.skipped.push_back(dir + ": files have different schemas (" +
                          merged.status().message().substr(0, 120) + ")");
      r.files_after += static_cast<int>(files.size());
      continue;
    }
    std::string seed;
    for (const auto& f : files) seed += f + "|";
    char name[48];
    std::snprintf(name, sizeof name, "/part-compact-%016llx.parquet",
                  static_cast<unsigned long long>(Hash64(seed)));
    std::string output = dir + name;
    Json intent = {{"output", output}, {"inputs", files}, {"rows", rows}};
    CTML_RETURN_NOT_OK(lake.PutBytes(kIntent, intent.dump()));
    CTML_RETURN_NOT_OK(lake.WriteParquet(output, *merged));
    // A writer that touched an input meanwhile (a superseded row removed, a batch rolled back)
    // makes the merged copy stale: drop it and leave the partition as it is.
    CTML_ASSIGN_OR_RETURN(auto relisted, lake.List(dir));
    std::map<std::string, int64_t> now;
    for (const auto& f : relisted) now[f.path] = f.size;
    CTML_ASSIGN_OR_RETURN(in_flight, InFlightFiles(lake));
    bool changed = false;
    for (size_t i = 0; i < files.size(); ++i) {
      auto it = now.find(files[i]);
      changed |= it == now.end() || it->second != sizes[i] || in_flight.count(files[i]) > 0;
    }
    if (changed) {
      CTML_RETURN_NOT_OK(lake.Delete(output));
      CTML_RETURN_NOT_OK(lake.Delete(kIntent));
      r.skipped.push_back(dir + ": changed while compacting; try again later");
      r.files_after += static_cast<int>(files.size());
      continue;
    }
    for (const auto& f : files) {
      if (f != output) CTML_RETURN_NOT_OK(lake.Delete(f));
    }
    CTML_RETURN_NOT_OK(lake.Delete(kIntent));
    ++r.partitions_compacted;
    ++r.files_after;
    r.rows += rows;
    if (progress) {
      progress(dir + ": " + std::to_string(files.size()) + " files -> 1 (" + std::to_string(rows) +
               " rows)");
    }
  }
  return r;
}

}  // namespace ctml::process
