#include "ctml/store/sqlite/sqlite_meta_store.h"

#include <mutex>
#include <utility>

#include "ctml/core/time.h"
#include "ctml/store/run_codec.h"
#include "ctml/store/sqlite/sqlite_internal.h"

namespace ctml::store {
namespace {

using sqlite_internal::Db;
using sqlite_internal::Stmt;
using sqlite_internal::Txn;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs(
  run_id TEXT PRIMARY KEY,
  experiment TEXT NOT NULL,
  status TEXT NOT NULL,
  start_us INTEGER NOT NULL,
  end_us INTEGER NOT NULL,
  params TEXT NOT NULL,
  metrics TEXT NOT NULL,
  tags TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, start_us);
CREATE TABLE IF NOT EXISTS registered_models(
  name TEXT PRIMARY KEY,
  created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS model_versions(
  name TEXT NOT NULL REFERENCES registered_models(name),
  version INTEGER NOT NULL,
  run_id TEXT NOT NULL,
  artifact_uri TEXT NOT NULL,
  manifest_json TEXT NOT NULL,
  created_us INTEGER NOT NULL,
  PRIMARY KEY(name, version));
CREATE TABLE IF NOT EXISTS model_aliases(
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_us INTEGER NOT NULL,
  PRIMARY KEY(name, alias),
  FOREIGN KEY(name, version) REFERENCES model_versions(name, version));
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY,
  ts_us INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  object TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state(
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  updated_us INTEGER NOT NULL);
)sql";

constexpr const char* kRunColumns =
    "run_id, experiment, status, start_us, end_us, params, metrics, tags";

Result<RunRecord> ReadRun(const Stmt& st) {
  RunRecord r;
  r.run_id = st.Text(0);
  r.experiment = st.Text(1);
  r.status = st.Text(2);
  r.start_us = st.Int64(3);
  r.end_us = st.Int64(4);
  CTML_RETURN_NOT_OK(run_codec::Decode(st.Text(5), st.Text(6), st.Text(7), &r));
  return r;
}

constexpr const char* kVersionColumns =
    "name, version, run_id, artifact_uri, manifest_json, created_us";

ModelVersion ReadVersion(const Stmt& st) {
  ModelVersion v;
  v.name = st.Text(0);
  v.version = st.Int64(1);
  v.run_id = st.Text(2);
  v.artifact_uri = st.Text(3);
  v.manifest_json = st.Text(4);
  v.created_us = st.Int64(5);
  return v;
}

class SqliteMetaStore final : public MetaStore {
 public:
  explicit SqliteMetaStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  Status CreateRun(const RunRecord& run) override {
    if (run.run_id.empty()) return Status::Invalid("run_id must not be empty", "run_id");
    CTML_ASSIGN_OR_RETURN(run_codec::EncodedRun text, run_codec::Encode(run));
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("INSERT INTO runs(") + kRunColumns +
                                                ") VALUES(?, ?, ?, ?, ?, ?, ?, ?)"));
    st.Bind(1, run.run_id)
        .Bind(2, run.experiment)
        .Bind(3, run.status)
        .Bind(4, run.start_us)
        .Bind(5, run.end_us)
        .Bind(6, text.params)
        .Bind(7, text.metrics)
        .Bind(8, text.tags);
    Status s = st.Run();
    if (s.code() == StatusCode::kAlreadyExists) {
      return Status::AlreadyExists("run '" + run.run_id + "' already exists");
    }
    return s;
  }

  Status UpdateRun(const RunRecord& run) override {
    CTML_ASSIGN_OR_RETURN(run_codec::EncodedRun text, run_codec::Encode(run));
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("UPDATE runs SET status = ?, end_us = ?, params = "
                                                "?, metrics = ?, tags = ? WHERE run_id = ?"));
    st.Bind(1, run.status)
        .Bind(2, run.end_us)
        .Bind(3, text.params)
        .Bind(4, text.metrics)
        .Bind(5, text.tags)
        .Bind(6, run.run_id);
    CTML_RETURN_NOT_OK(st.Run());
    if (db_->Changes() == 0) return Status::NotFound("run '" + run.run_id + "' not found");
    return Status::OK();
  }

  Result<RunRecord> GetRun(const std::string& run_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kRunColumns +
                                                " FROM runs WHERE run_id = ?"));
    st.Bind(1, run_id);
    CTML_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("run '" + run_id + "' not found");
    return ReadRun(st);
  }

  Result<std::vector<RunRecord>> ListRuns(const std::string& experiment) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kRunColumns +
                                                " FROM runs WHERE experiment = ? "
                                                "ORDER BY start_us, run_id"));
    st.Bind(1, experiment);
    std::vector<RunRecord> out;
    for (;;) {
      CTML_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      CTML_ASSIGN_OR_RETURN(auto r, ReadRun(st));
      out.push_back(std::move(r));
    }
    return out;
  }

  Result<ModelVersion> CreateModelVersion(const std::string& name, const std::string& run_id,
                                          const std::string& artifact_uri,
                                          const std::string& manifest_json) override {
    if (name.empty()) return Status::Invalid("model name must not be empty", "name");
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(db_.get());
    CTML_RETURN_NOT_OK(txn.Begin());
    int64_t now = NowMicros();
    {
      CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT OR IGNORE INTO registered_models(name, "
                                                  "created_us) VALUES(?, ?)"));
      st.Bind(1, name).Bind(2, now);
      CTML_RETURN_NOT_OK(st.Run());
    }
    ModelVersion v;
    v.name = name;
    v.run_id = run_id;
    v.artifact_uri = artifact_uri;
    v.manifest_json = manifest_json;
    v.created_us = now;
    {
      CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT COALESCE(MAX(version), 0) + 1 FROM "
                                                  "model_versions WHERE name = ?"));
      st.Bind(1, name);
      CTML_ASSIGN_OR_RETURN(bool row, st.Step());
      v.version = row ? st.Int64(0) : 1;
    }
    {
      CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("INSERT INTO model_versions(") +
                                                  kVersionColumns + ") VALUES(?, ?, ?, ?, ?, ?)"));
      st.Bind(1, name)
          .Bind(2, v.version)
          .Bind(3, run_id)
          .Bind(4, artifact_uri)
          .Bind(5, manifest_json)
          .Bind(6, now);
      CTML_RETURN_NOT_OK(st.Run());
    }
    CTML_RETURN_NOT_OK(txn.Commit());
    return v;
  }

  Result<ModelVersion> GetModelVersion(const std::string& name, int64_t version) override {
    std::lock_guard<std::mutex> lock(mu_);
    return GetVersionLocked(name, version);
  }

  Result<std::vector<ModelVersion>> ListModelVersions(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st,
                          db_->Prepare(std::string("SELECT ") + kVersionColumns +
                                       " FROM model_versions WHERE name = ? ORDER BY version"));
    st.Bind(1, name);
    std::vector<ModelVersion> out;
    for (;;) {
      CTML_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadVersion(st));
    }
    return out;
  }

  Result<std::vector<std::string>> ListModels() override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st,
                          db_->Prepare("SELECT name FROM registered_models ORDER BY name"));
    return st.TextColumn();
  }

  Status SetAlias(const std::string& name, const std::string& alias, int64_t version) override {
    if (alias.empty()) return Status::Invalid("alias must not be empty", "alias");
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(db_.get());
    CTML_RETURN_NOT_OK(txn.Begin());
    CTML_RETURN_NOT_OK(GetVersionLocked(name, version).status());
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT INTO model_aliases(name, alias, version, "
                                                "updated_us) VALUES(?, ?, ?, ?) ON CONFLICT(name, "
                                                "alias) DO UPDATE SET version = excluded.version, "
                                                "updated_us = excluded.updated_us"));
    st.Bind(1, name).Bind(2, alias).Bind(3, version).Bind(4, NowMicros());
    CTML_RETURN_NOT_OK(st.Run());
    return txn.Commit();
  }

  Result<ModelVersion> GetAlias(const std::string& name, const std::string& alias) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT v.name, v.version, v.run_id, "
                                                "v.artifact_uri, v.manifest_json, v.created_us "
                                                "FROM model_aliases a JOIN model_versions v ON "
                                                "v.name = a.name AND v.version = a.version WHERE "
                                                "a.name = ? AND a.alias = ?"));
    st.Bind(1, name).Bind(2, alias);
    CTML_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("alias '" + alias + "' of model '" + name + "' is not set");
    return ReadVersion(st);
  }

  Result<std::map<std::string, int64_t>> ListAliases(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT alias, version FROM model_aliases WHERE "
                                                "name = ? ORDER BY alias"));
    st.Bind(1, name);
    std::map<std::string, int64_t> out;
    for (;;) {
      CTML_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out[st.Text(0)] = st.Int64(1);
    }
    return out;
  }

  Result<AuditRecord> AppendAudit(const std::string& actor, const std::string& action,
                                  const std::string& object, const std::string& detail) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(db_.get());
    CTML_RETURN_NOT_OK(txn.Begin());  // the write lock: no other process can fork the chain
    AuditRecord r;
    r.seq = 1;
    {
      CTML_ASSIGN_OR_RETURN(auto st,
                            db_->Prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"));
      CTML_ASSIGN_OR_RETURN(bool row, st.Step());
      if (row) {
        r.seq = st.Int64(0) + 1;
        r.prev_hash = st.Text(1);
      }
    }
    r.ts_us = NowMicros();
    r.actor = actor;
    r.action = action;
    r.object = object;
    r.detail = detail;
    r.hash = AuditHash(r);
    {
      CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT INTO audit(seq, ts_us, actor, action, "
                                                  "object, detail, prev_hash, hash) VALUES(?, ?, "
                                                  "?, ?, ?, ?, ?, ?)"));
      st.Bind(1, r.seq)
          .Bind(2, r.ts_us)
          .Bind(3, r.actor)
          .Bind(4, r.action)
          .Bind(5, r.object)
          .Bind(6, r.detail)
          .Bind(7, r.prev_hash)
          .Bind(8, r.hash);
      CTML_RETURN_NOT_OK(st.Run());
    }
    CTML_RETURN_NOT_OK(txn.Commit());
    return r;
  }

  Result<std::vector<AuditRecord>> ListAudit(int64_t from_seq, size_t limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT seq, ts_us, actor, action, object, "
                                                "detail, prev_hash, hash FROM audit WHERE seq >= "
                                                "? ORDER BY seq LIMIT ?"));
    st.Bind(1, from_seq).Bind(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
    std::vector<AuditRecord> out;
    for (;;) {
      CTML_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      AuditRecord r;
      r.seq = st.Int64(0);
      r.ts_us = st.Int64(1);
      r.actor = st.Text(2);
      r.action = st.Text(3);
      r.object = st.Text(4);
      r.detail = st.Text(5);
      r.prev_hash = st.Text(6);
      r.hash = st.Text(7);
      out.push_back(std::move(r));
    }
    return out;
  }

  Status PutState(const std::string& key, const std::string& value) override {
    if (key.empty()) return Status::Invalid("state key must not be empty", "key");
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT INTO state(key, value, updated_us) "
                                                "VALUES(?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                                                "value = excluded.value, updated_us = "
                                                "excluded.updated_us"));
    st.Bind(1, key).BindBlob(2, value).Bind(3, NowMicros());
    return st.Run();
  }

  Result<std::optional<std::string>> GetState(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT value FROM state WHERE key = ?"));
    st.Bind(1, key);
    CTML_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(st.Text(0));
  }

  Status Ping() override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT 1"));
    CTML_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? Status::OK() : Status::Unavailable("sqlite meta store: ping returned no row");
  }

 private:
  Result<ModelVersion> GetVersionLocked(const std::string& name, int64_t version) {
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kVersionColumns +
                                                " FROM model_versions WHERE name = ? AND "
                                                "version = ?"));
    st.Bind(1, name).Bind(2, version);
    CTML_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) {
      return Status::NotFound("model '" + name + "' has no version " + std::to_string(version));
    }
    return ReadVersion(st);
  }

  std::mutex mu_;
  std::unique_ptr<Db> db_;
};

}  // namespace

Result<std::unique_ptr<MetaStore>> OpenSqliteMetaStore(const std::string& path,
                                                       const std::string& synchronous) {
  CTML_ASSIGN_OR_RETURN(auto db, Db::OpenWithSchema(path, synchronous, kSchema));
  return std::unique_ptr<MetaStore>(new SqliteMetaStore(std::move(db)));
}

}  // namespace ctml::store
