// MetaStore port: experiment runs, the model registry (versions and aliases) and the
// hash-chained audit trail. Adapters: sqlite:// (embedded), postgresql:// (distributed).
//
//   CTML_ASSIGN_OR_RETURN(auto v, meta->CreateModelVersion("vitals_risk", run_id, uri, manifest));
//   CTML_RETURN_NOT_OK(meta->SetAlias("vitals_risk", "production", v.version));
//   CTML_ASSIGN_OR_RETURN(auto prod, meta->GetAlias("vitals_risk", "production"));
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::store {

struct RunRecord {
  std::string run_id;
  std::string experiment;  // e.g. the model name
  std::string status;      // RUNNING | FINISHED | FAILED
  int64_t start_us = 0;
  int64_t end_us = 0;
  std::map<std::string, std::string> params;
  std::map<std::string, double> metrics;
  std::map<std::string, std::string> tags;
};

struct ModelVersion {
  std::string name;
  int64_t version = 0;  // 1, 2, ... per name
  std::string run_id;
  std::string artifact_uri;   // lake path of the version's folder
  std::string manifest_json;  // feature order, threshold, metrics ...
  int64_t created_us = 0;
};

struct AuditRecord {
  int64_t seq = 0;  // 1, 2, ...
  int64_t ts_us = 0;
  std::string actor;
  std::string action;     // e.g. "model.promote"
  std::string object;     // e.g. "vitals_risk/3"
  std::string detail;     // JSON, never PHI
  std::string prev_hash;  // hex; "" for seq 1
  std::string hash;       // hex SHA-256(prev_hash || canonical record)
};

class MetaStore {
 public:
  virtual ~MetaStore() = default;

  virtual Status CreateRun(const RunRecord& run) = 0;
  // Replaces status/end/params/metrics/tags of an existing run.
  virtual Status UpdateRun(const RunRecord& run) = 0;
  virtual Result<RunRecord> GetRun(const std::string& run_id) = 0;
  virtual Result<std::vector<RunRecord>> ListRuns(const std::string& experiment) = 0;

  // Assigns the next version number for `name` (creating the registered model if needed).
  virtual Result<ModelVersion> CreateModelVersion(const std::string& name,
                                                  const std::string& run_id,
                                                  const std::string& artifact_uri,
                                                  const std::string& manifest_json) = 0;
  virtual Result<ModelVersion> GetModelVersion(const std::string& name, int64_t version) = 0;
  virtual Result<std::vector<ModelVersion>> ListModelVersions(const std::string& name) = 0;
  virtual Result<std::vector<std::string>> ListModels() = 0;
  // Points `alias` of `name` at `version` (which must exist).
  virtual Status SetAlias(const std::string& name, const std::string& alias, int64_t version) = 0;
  // The version an alias points at; NotFound when the alias is unset.
  virtual Result<ModelVersion> GetAlias(const std::string& name, const std::string& alias) = 0;
  virtual Result<std::map<std::string, int64_t>> ListAliases(const std::string& name) = 0;

  // Appends to the audit chain (seq, ts, prev_hash and hash are computed by the store, inside
  // one transaction so concurrent writers cannot fork the chain). Returns the stored record.
  virtual Result<AuditRecord> AppendAudit(const std::string& actor, const std::string& action,
                                          const std::string& object, const std::string& detail) = 0;
  virtual Result<std::vector<AuditRecord>> ListAudit(int64_t from_seq, size_t limit) = 0;

  // Small durable key/value state (checkpoints, settings).
  virtual Status PutState(const std::string& key, const std::string& value) = 0;
  virtual Result<std::optional<std::string>> GetState(const std::string& key) = 0;

  virtual Status Ping() = 0;
};

// Hash of an audit record given its predecessor's hash: hex SHA-256 over prev_hash followed by
// the canonical JSON of {seq, ts_us, actor, action, object, detail}. Shared by all adapters and
// by `ctml audit verify`.
std::string AuditHash(const AuditRecord& record);
// Verifies the chain; returns the first broken seq in the error message.
Status VerifyAuditChain(const std::vector<AuditRecord>& records);

}  // namespace ctml::store
