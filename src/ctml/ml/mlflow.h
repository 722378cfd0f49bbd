// Mirrors ctml runs and model versions to an MLflow tracking server through its REST API 2.0
// (the MetaStore stays the source of truth; MLflow is a read-only copy for MLflow users).
//
//   CTML_ASSIGN_OR_RETURN(auto tracker, ctml::ml::MlflowTracker::Create("http://127.0.0.1:5500"));
//   CTML_ASSIGN_OR_RETURN(std::string mlflow_run_id, tracker->LogRun(run_record));
//   CTML_RETURN_NOT_OK(tracker->LogModelVersion("vitals_risk", 3, mlflow_run_id,
//                                               "ctml-lake:/models/vitals_risk/3", "production",
//                                               "test roc_auc 0.91"));
//
// Experiment = our run's experiment (the model name); MLflow run name = our run id. Errors carry
// MLflow's error_code and message. Every request times out after 10 s. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::store {
struct RunRecord;
}

namespace ctml::net {
class HttpClient;
}

namespace ctml::ml {

struct MlflowEndpoint {
  std::string host;
  uint16_t port = 80;
  std::string base_path;  // "" or "/prefix" (no trailing slash) when MLflow sits under a path
};

// Parses "http://host[:port][/prefix]". https:// is rejected (not supported: use plain HTTP on
// loopback or a private network).
Result<MlflowEndpoint> ParseMlflowUri(const std::string& uri);

// MLflow's limits (mlflow/utils/validation.py).
inline constexpr size_t kMlflowMaxParamsPerBatch = 100;
inline constexpr size_t kMlflowMaxMetricsPerBatch = 1000;
inline constexpr size_t kMlflowMaxTagsPerBatch = 100;
inline constexpr size_t kMlflowMaxEntitiesPerBatch = 1000;
inline constexpr size_t kMlflowMaxParamValueLength = 6000;
inline constexpr size_t kMlflowMaxTagValueLength = 8000;
inline constexpr size_t kMlflowMaxKeyLength = 250;

// A key MLflow accepts: letters, digits, '_', '-', '.', ' ', '/', ':' (others become '_'),
// at most 250 characters.
std::string MlflowKey(const std::string& key);

// The JSON bodies of runs/log-batch for a run's params and finite metrics (timestamp_ms), split
// so that no batch exceeds MLflow's limits; param values are cut to 6000 characters.
std::vector<std::string> MlflowLogBatchBodies(const std::string& mlflow_run_id,
                                              const store::RunRecord& run, int64_t timestamp_ms);

class MlflowTracker;

// What `ctml train` calls at the end of a successful training: logs `run` and the model version
// (source "ctml-lake:/<artifact_uri>", alias unless empty) to the MLflow server at `uri`; on
// success sets run->tags["mlflow_run_id"]. The caller decides what a failure means.
Status LogTrainingToMlflow(const std::string& uri, store::RunRecord* run, const std::string& name,
                           int64_t version, const std::string& artifact_uri,
                           const std::string& alias, const std::string& description);

class MlflowTracker {
 public:
  static Result<std::unique_ptr<MlflowTracker>> Create(
      const std::string& uri, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~MlflowTracker();
  MlflowTracker(const MlflowTracker&) = delete;
  MlflowTracker& operator=(const MlflowTracker&) = delete;

  // Creates (or finds) the experiment, creates a run with our run's times, tags, params and
  // metrics and our status (FINISHED/FAILED/RUNNING). Returns the MLflow run id.
  Result<std::string> LogRun(const store::RunRecord& run);

  // Registers `name` if needed and creates an MLflow model version for our `our_version`
  // (tag ctml.version; reused when one already carries it), then points `alias` at it unless
  // the alias is empty.
  Status LogModelVersion(const std::string& name, int64_t our_version,
                         const std::string& mlflow_run_id, const std::string& artifact_uri,
                         const std::string& alias, const std::string& description);

  // Points MLflow `alias` of `name` at the MLflow version tagged ctml.version = our_version
  // (NotFound when that version was never logged to MLflow).
  Status SetAlias(const std::string& name, int64_t our_version, const std::string& alias);

  // The MLflow version number ("1", "2", ...) tagged ctml.version = our_version, or NotFound.
  Result<std::string> FindVersion(const std::string& name, int64_t our_version);

 private:
  MlflowTracker(MlflowEndpoint endpoint, std::chrono::milliseconds timeout);
  Result<std::string> Send(const std::string& method, const std::string& endpoint,
                           const std::string& query, const std::string& body);
  Result<std::string> ExperimentId(const std::string& name);

  MlflowEndpoint endpoint_;
  std::unique_ptr<net::HttpClient> http_;
};

}  // namespace ctml::ml
