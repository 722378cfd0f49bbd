#include "ctml/process/batch_intent.h"

#include <set>

#include "ctml/core/json.h"
#include "ctml/core/log.h"

namespace ctml::process {

std::string PartName(const std::vector<store::LogRecord>& batch) {
  return "part-" + batch.front().topic + "-" + std::to_string(batch.front().partition) + "-" +
         std::to_string(batch.front().offset) + ".parquet";
}

BatchIntent::BatchIntent(store::Lake& lake, store::EventLog& log, std::string service,
                         std::string group)
    : lake_(lake), log_(log), service_(std::move(service)), group_(std::move(group)) {}

Result<std::map<std::string, int64_t>> BatchIntent::CommittedOffsets(
    const std::vector<std::string>& topics) {
  std::map<std::string, int64_t> out;
  for (const auto& t : topics) {
    CTML_ASSIGN_OR_RETURN(auto lags, log_.Lag(t));
    out[t] = 0;
    for (const auto& g : lags) {
      if (g.group == group_) out[t] = g.committed;
    }
  }
  return out;
}

Result<bool> BatchIntent::Recover() {
  if (!pending_) return false;
  auto bytes = lake_.GetBytes(path());
  if (!bytes.ok()) {
    if (bytes.status().code() != StatusCode::kNotFound) return bytes.status();
    pending_ = false;
    return false;
  }
  auto j = ParseJson(*bytes);
  if (!j.ok() || !j->is_object()) return Status::Internal("unreadable " + path());
  std::vector<std::string> topics;
  for (auto& [t, v] : (*j)["committed"].items()) topics.push_back(t);
  CTML_ASSIGN_OR_RETURN(auto now, CommittedOffsets(topics));
  bool committed = false;
  for (auto& [t, v] : (*j)["committed"].items()) {
    // Committed offsets never go back: a lower figure is an incomplete answer (a restarting
    // Kafka coordinator), and taking it for "moved" would keep the files of an uncommitted
    // attempt. Retry later instead.
    if (now[t] < v.get<int64_t>()) {
      return Status::Unavailable("committed offsets of group " + group_ + " on " + t +
                                 " read lower than before the batch; retrying");
    }
    committed |= now[t] > v.get<int64_t>();
  }
  size_t deleted = 0;
  if (!committed) {
    for (const auto& f : (*j)["files"]) {
      CTML_RETURN_NOT_OK(lake_.Delete(f.get<std::string>()));
      ++deleted;
    }
  }
  CTML_RETURN_NOT_OK(lake_.Delete(path()));
  pending_ = false;
  log::Info(service_,
            committed ? "previous batch was committed" : "rolled back an uncommitted batch",
            {{"files_deleted", std::to_string(deleted)}});
  return !committed;
}

Status BatchIntent::Begin(const std::vector<store::LogRecord>& batch,
                          const std::vector<std::string>& files) {
  std::set<std::string> topics;
  for (const auto& r : batch) topics.insert(r.topic);
  CTML_ASSIGN_OR_RETURN(auto committed,
                        CommittedOffsets(std::vector<std::string>(topics.begin(), topics.end())));
  Json j = {{"group", group_}, {"committed", committed}, {"files", files}};
  CTML_RETURN_NOT_OK(lake_.PutBytes(path(), j.dump()));
  pending_ = true;
  return Status::OK();
}

Status BatchIntent::Committed() {
  CTML_RETURN_NOT_OK(lake_.Delete(path()));
  pending_ = false;
  return Status::OK();
}

}  // namespace ctml::process
