#include "ctml/store/postgres/postgres_meta_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

#include "ctml/core/time.h"
#include "ctml/store/run_codec.h"

namespace ctml::store {
namespace {

constexpr const char* kDefaultSchema = "ctml";
// Key space of our advisory locks (pg_advisory_xact_lock(kLockSpace, hashtext(schema))): "ctml".
constexpr int32_t kLockSpace = 0x63746d6c;

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Applied in order at open, each once (schema_migrations). Never edit a released migration:
// append a new one. Text that must come back byte for byte (manifest_json, the audit fields the
// hash covers) is text, not jsonb, which would normalise it.
const Migration kMigrations[] = {
    {1, "runs, model registry, audit chain, state", R"sql(
CREATE TABLE runs(
  run_id text PRIMARY KEY,
  experiment text NOT NULL,
  status text NOT NULL,
  start_us bigint NOT NULL,
  end_us bigint NOT NULL,
  params jsonb NOT NULL,
  metrics jsonb NOT NULL,
  tags jsonb NOT NULL);
CREATE INDEX runs_by_experiment ON runs(experiment, start_us);
CREATE TABLE registered_models(
  name text PRIMARY KEY,
  created_us bigint NOT NULL,
  last_version bigint NOT NULL);
CREATE TABLE model_versions(
  name text NOT NULL REFERENCES registered_models(name),
  version bigint NOT NULL,
  run_id text NOT NULL,
  artifact_uri text NOT NULL,
  manifest_json text NOT NULL,
  created_us bigint NOT NULL,
  PRIMARY KEY(name, version));
CREATE TABLE model_aliases(
  name text NOT NULL,
  alias text NOT NULL,
  version bigint NOT NULL,
  updated_us bigint NOT NULL,
  PRIMARY KEY(name, alias),
  FOREIGN KEY(name, version) REFERENCES model_versions(name, version));
CREATE TABLE audit(
  seq bigint PRIMARY KEY CHECK (seq > 0),
  ts_us bigint NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  object text NOT NULL,
  detail text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL UNIQUE);
CREATE TABLE state(
  key text PRIMARY KEY,
  value bytea NOT NULL,
  updated_us bigint NOT NULL);
)sql"},
};

// ---------------------------------------------------------------------------------------------
// The URI

struct Target {
  std::string conninfo;  // libpq keyword=value string (schema, timeouts and options folded in)
  std::string schema;
  bool schema_given = false;
  std::string shown;     // the URI with the password replaced by ***, for messages
  std::string password;  // only to scrub it from libpq's messages
};

// "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db"; also hides a password
// given as a query parameter (?password=...).
std::string RedactUri(const std::string& uri) {
  std::string out = uri;
  auto sep = out.find("://");
  if (sep != std::string::npos) {
    auto at = out.find('@', sep + 3);
    auto slash = out.find('/', sep + 3);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      auto colon = out.find(':', sep + 3);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  auto q = out.find('?');
  while (q != std::string::npos) {
    auto key = q + 1;
    if (out.compare(key, 9, "password=") == 0) {
      auto end = out.find('&', key);
      out.replace(key + 9, (end == std::string::npos ? out.size() : end) - key - 9, "***");
    }
    q = out.find('&', key);
  }
  return out;
}

std::string Scrub(std::string text, const std::string& password) {
  if (!password.empty()) {
    for (auto pos = text.find(password); pos != std::string::npos; pos = text.find(password)) {
      text.replace(pos, password.size(), "***");
    }
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

bool ValidSchema(const std::string& s) {
  if (s.empty() || s.size() > 63 || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string QuoteIdent(const std::string& s) { return "\"" + s + "\""; }  // s is ValidSchema

// libpq keyword=value quoting: single quotes, backslash escapes.
std::string ConninfoValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

Result<Target> ParseTarget(const std::string& uri) {
  Target t;
  t.shown = RedactUri(uri);
  auto invalid = [&](const std::string& why) {
    return Status::Invalid("meta store URI '" + t.shown + "': " + why, "uri");
  };
  auto sep = uri.find("://");
  std::string scheme = sep == std::string::npos ? "" : uri.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "postgresql" && scheme != "postgres") {
    return invalid("expected postgresql://[user[:password]@]host[:port][/database][?schema=S]");
  }
  // Our own parameter (schema) comes out of the query; the rest is libpq's to parse, and libpq
  // (PQconninfoParse) rejects what it does not know, so a typo does not go unnoticed.
  std::string rest = uri.substr(sep + 3);
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  std::vector<std::string> kept;
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t amp = query.find('&', start);
    std::string kv =
        query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (kv.rfind("schema=", 0) == 0) {
      if (t.schema_given) return invalid("schema is given twice");
      t.schema = kv.substr(7);
      t.schema_given = true;
    } else if (!kv.empty()) {
      kept.push_back(kv);
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  if (!t.schema_given) t.schema = kDefaultSchema;
  if (!ValidSchema(t.schema)) {
    return invalid("schema '" + t.schema +
                   "' must be letters, digits and '_', not start with a digit, at most 63 long");
  }
  // The password as written (user:password@), to scrub it from libpq's parse errors, which may
  // quote a malformed part of it.
  if (auto at = rest.find('@'); at != std::string::npos) {
    auto colon = rest.find(':');
    if (colon != std::string::npos && colon < at)
      t.password = rest.substr(colon + 1, at - colon - 1);
  }
  std::string libpq_uri = "postgresql://" + rest;
  for (size_t i = 0; i < kept.size(); ++i) libpq_uri += (i == 0 ? "?" : "&") + kept[i];

  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(libpq_uri.c_str(), &err);
  if (opts == nullptr) {
    std::string why = err != nullptr ? err : "cannot parse it";
    if (err != nullptr) PQfreemem(err);
    return invalid(Scrub(why, t.password));
  }
  std::string options;
  bool has_timeout = false;
  bool has_app = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string key = o->keyword;
    std::string val = o->val;
    if (key == "password") t.password = val;  // decoded: what libpq's errors could show
    if (key == "port") {
      // Checked here: libpq only notices a bad port when it connects.
      bool ok = !val.empty() && std::all_of(val.begin(), val.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == ',';
      });
      if (!ok) {
        PQconninfoFree(opts);
        return invalid("port must be a number");
      }
    }
    if (key == "options") {
      options = val;
      continue;
    }
    has_timeout = has_timeout || key == "connect_timeout";
    has_app = has_app || key == "application_name";
    t.conninfo += key + "=" + ConninfoValue(val) + " ";
  }
  PQconninfoFree(opts);
  if (!has_timeout) t.conninfo += "connect_timeout='2' ";
  if (!has_app) t.conninfo += "application_name='ctml' ";
  // Every session of this store works in its schema; NOTICEs ("already exists, skipping") would
  // go to stderr through libpqxx's default notice handler.
  options += " -c search_path=" + QuoteIdent(t.schema) + " -c client_min_messages=warning";
  t.conninfo += "options=" + ConninfoValue(options);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Values

Status NoNul(const std::string& value, const char* field) {
  if (value.find('\0') != std::string::npos) {
    return Status::Invalid(std::string(field) + " must not contain NUL characters", field);
  }
  return Status::OK();
}

// jsonb comes back as text (::text) so it is parsed like the SQLite adapter's columns.
constexpr const char* kRunColumns =
    "run_id, experiment, status, start_us, end_us, params::text, metrics::text, tags::text";

Result<RunRecord> ReadRun(const pqxx::row& row) {
  RunRecord r;
  r.run_id = row[0].as<std::string>();
  r.experiment = row[1].as<std::string>();
  r.status = row[2].as<std::string>();
  r.start_us = row[3].as<int64_t>();
  r.end_us = row[4].as<int64_t>();
  CTML_RETURN_NOT_OK(run_codec::Decode(row[5].as<std::string>(), row[6].as<std::string>(),
                                       row[7].as<std::string>(), &r));
  return r;
}

constexpr const char* kVersionColumns =
    "name, version, run_id, artifact_uri, manifest_json, created_us";

ModelVersion ReadVersion(const pqxx::row& row) {
  ModelVersion v;
  v.name = row[0].as<std::string>();
  v.version = row[1].as<int64_t>();
  v.run_id = row[2].as<std::string>();
  v.artifact_uri = row[3].as<std::string>();
  v.manifest_json = row[4].as<std::string>();
  v.created_us = row[5].as<int64_t>();
  return v;
}

AuditRecord ReadAudit(const pqxx::row& row) {
  AuditRecord r;
  r.seq = row[0].as<int64_t>();
  r.ts_us = row[1].as<int64_t>();
  r.actor = row[2].as<std::string>();
  r.action = row[3].as<std::string>();
  r.object = row[4].as<std::string>();
  r.detail = row[5].as<std::string>();
  r.prev_hash = row[6].as<std::string>();
  r.hash = row[7].as<std::string>();
  return r;
}

// SQLSTATEs that mean the session is gone or the server is going away: reconnect.
bool ConnectionLost(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

// The first line of a server message (later lines repeat the values of the row).
std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// ---------------------------------------------------------------------------------------------
// The store

using Body = std::function<Status(pqxx::transaction_base&)>;
// After a COMMIT whose outcome is unknown: true when the first attempt did commit.
using Committed = std::function<bool(pqxx::transaction_base&)>;

class PostgresMetaStore final : public MetaStore {
 public:
  explicit PostgresMetaStore(Target target) : t_(std::move(target)) {}

  Status Migrate() {
    return Write("migrate", [this](pqxx::transaction_base& tx) -> Status {
      const std::string schema = QuoteIdent(t_.schema);
      tx.exec_params("SELECT pg_advisory_xact_lock($1::int, hashtext($2))", kLockSpace,
                     "migrate " + t_.schema);
      // Created only when missing: a role without CREATE on the database can use a schema an
      // administrator made for it.
      if (tx.exec_params("SELECT 1 FROM pg_namespace WHERE nspname = $1", t_.schema).empty()) {
        tx.exec("CREATE SCHEMA " + schema);
      }
      tx.exec("SET LOCAL search_path TO " + schema);
      tx.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations(version integer PRIMARY KEY, "
          "description text NOT NULL, applied_us bigint NOT NULL)");
      auto current =
          tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
      int latest = 0;
      for (const Migration& m : kMigrations) {
        latest = m.version;
        if (m.version <= current) continue;
        tx.exec(m.sql);
        tx.exec_params(
            "INSERT INTO schema_migrations(version, description, applied_us) VALUES($1, $2, $3)",
            m.version, std::string(m.description), NowMicros());
      }
      if (current > latest) {
        return Status::FailedPrecondition("postgres meta store: schema '" + t_.schema +
                                          "' is at migration " + std::to_string(current) +
                                          ", newer than this ctml knows (" +
                                          std::to_string(latest) + "); upgrade ctml");
      }
      return Status::OK();
    });
  }

  Status CreateRun(const RunRecord& run) override {
    if (run.run_id.empty()) return Status::Invalid("run_id must not be empty", "run_id");
    CTML_RETURN_NOT_OK(NoNul(run.run_id, "run_id"));
    CTML_RETURN_NOT_OK(NoNul(run.experiment, "experiment"));
    CTML_RETURN_NOT_OK(NoNul(run.status, "status"));
    CTML_ASSIGN_OR_RETURN(run_codec::EncodedRun text, run_codec::Encode(run));
    Status s = Write(
        "create run",
        [&](pqxx::transaction_base& tx) {
          tx.exec_params(
              "INSERT INTO runs(run_id, experiment, status, start_us, end_us, params, metrics, "
              "tags) VALUES($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb)",
              run.run_id, run.experiment, run.status, run.start_us, run.end_us, text.params,
              text.metrics, text.tags);
          return Status::OK();
        },
        // In doubt: did our row make it? (A run id is not reused, so the same id, experiment and
        // start is our insert.)
        [&](pqxx::transaction_base& tx) {
          return !tx.exec_params(
                        "SELECT 1 FROM runs WHERE run_id = $1 AND experiment = $2 AND "
                        "start_us = $3",
                        run.run_id, run.experiment, run.start_us)
                      .empty();
        });
    if (s.code() == StatusCode::kAlreadyExists) {
      return Status::AlreadyExists("run '" + run.run_id + "' already exists");
    }
    return s;
  }

  Status UpdateRun(const RunRecord& run) override {
    CTML_RETURN_NOT_OK(NoNul(run.run_id, "run_id"));
    CTML_RETURN_NOT_OK(NoNul(run.status, "status"));
    CTML_ASSIGN_OR_RETURN(run_codec::EncodedRun text, run_codec::Encode(run));
    // Idempotent: replaying it after an unknown COMMIT outcome is harmless.
    return Write("update run", [&](pqxx::transaction_base& tx) {
      auto r = tx.exec_params(
          "UPDATE runs SET status = $1, end_us = $2, params = $3::jsonb, metrics = $4::jsonb, "
          "tags = $5::jsonb WHERE run_id = $6",
          run.status, run.end_us, text.params, text.metrics, text.tags, run.run_id);
      if (r.affected_rows() == 0) return Status::NotFound("run '" + run.run_id + "' not found");
      return Status::OK();
    });
  }

  Result<RunRecord> GetRun(const std::string& run_id) override {
    CTML_RETURN_NOT_OK(NoNul(run_id, "run_id"));
    RunRecord out;
    CTML_RETURN_NOT_OK(Read("get run", [&](pqxx::transaction_base& tx) -> Status {
      auto r = tx.exec_params(std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id = $1",
                              run_id);
      if (r.empty()) return Status::NotFound("run '" + run_id + "' not found");
      CTML_ASSIGN_OR_RETURN(out, ReadRun(r[0]));
      return Status::OK();
    }));
    return out;
  }

  Result<std::vector<RunRecord>> ListRuns(const std::string& experiment) override {
    CTML_RETURN_NOT_OK(NoNul(experiment, "experiment"));
    std::vector<RunRecord> out;
    CTML_RETURN_NOT_OK(Read("list runs", [&](pqxx::transaction_base& tx) -> Status {
      out.clear();
      auto r = tx.exec_params(std::string("SELECT ") + kRunColumns +
                                  " FROM runs WHERE experiment = $1 ORDER BY start_us, run_id "
                                  "COLLATE \"C\"",
                              experiment);
      for (const auto& row : r) {
        CTML_ASSIGN_OR_RETURN(auto run, ReadRun(row));
        out.push_back(std::move(run));
      }
      return Status::OK();
    }));
    return out;
  }

  Result<ModelVersion> CreateModelVersion(const std::string& name, const std::string& run_id,
                                          const std::string& artifact_uri,
                                          const std::string& manifest_json) override {
    if (name.empty()) return Status::Invalid("model name must not be empty", "name");
    CTML_RETURN_NOT_OK(NoNul(name, "name"));
    CTML_RETURN_NOT_OK(NoNul(run_id, "run_id"));
    CTML_RETURN_NOT_OK(NoNul(artifact_uri, "artifact_uri"));
    CTML_RETURN_NOT_OK(NoNul(manifest_json, "manifest_json"));
    ModelVersion v;
    v.name = name;
    v.run_id = run_id;
    v.artifact_uri = artifact_uri;
    v.manifest_json = manifest_json;
    CTML_RETURN_NOT_OK(Write(
        "create model version",
        [&](pqxx::transaction_base& tx) {
          v.created_us = NowMicros();
          // The upsert takes the registered model's row lock: concurrent creators of versions of
          // one name queue here, each getting the next number.
          v.version = tx.exec_params(
                            "INSERT INTO registered_models(name, created_us, last_version) "
                            "VALUES($1, $2, 1) ON CONFLICT(name) DO UPDATE SET last_version = "
                            "registered_models.last_version + 1 RETURNING last_version",
                            name, v.created_us)[0][0]
                          .as<int64_t>();
          tx.exec_params(std::string("INSERT INTO model_versions(") + kVersionColumns +
                             ") VALUES($1, $2, $3, $4, $5, $6)",
                         name, v.version, run_id, artifact_uri, manifest_json, v.created_us);
          return Status::OK();
        },
        [&](pqxx::transaction_base& tx) {
          // The row lock waits for the lost session's transaction, should it still be running.
          tx.exec_params("SELECT 1 FROM registered_models WHERE name = $1 FOR UPDATE", name);
          return !tx.exec_params(
                        "SELECT 1 FROM model_versions WHERE name = $1 AND version = $2 "
                        "AND created_us = $3 AND run_id = $4",
                        name, v.version, v.created_us, run_id)
                      .empty();
        }));
    return v;
  }

  Result<ModelVersion> GetModelVersion(const std::string& name, int64_t version) override {
    CTML_RETURN_NOT_OK(NoNul(name, "name"));
    ModelVersion out;
    CTML_RETURN_NOT_OK(Read("get model version", [&](pqxx::transaction_base& tx) -> Status {
      CTML_ASSIGN_OR_RETURN(out, GetVersion(tx, name, version));
      return Status::OK();
    }));
    return out;
  }

  Result<std::vector<ModelVersion>> ListModelVersions(const std::string& name) override {
    CTML_RETURN_NOT_OK(NoNul(name, "name"));
    std::vector<ModelVersion> out;
    CTML_RETURN_NOT_OK(Read("list model versions", [&](pqxx::transaction_base& tx) {
      out.clear();
      auto r = tx.exec_params(std::string("SELECT ") + kVersionColumns +
                                  " FROM model_versions WHERE name = $1 ORDER BY version",
                              name);
      for (const auto& row : r) out.push_back(ReadVersion(row));
      return Status::OK();
    }));
    return out;
  }

  Result<std::vector<std::string>> ListModels() override {
    std::vector<std::string> out;
    CTML_RETURN_NOT_OK(Read("list models", [&](pqxx::transaction_base& tx) {
      out.clear();
      for (const auto& row : tx.exec("SELECT name FROM registered_models ORDER BY name COLLATE "
                                     "\"C\"")) {
        out.push_back(row[0].as<std::string>());
      }
      return Status::OK();
    }));
    return out;
  }

  Status SetAlias(const std::string& name, const std::string& alias, int64_t version) override {
    if (alias.empty()) return Status::Invalid("alias must not be empty", "alias");
    CTML_RETURN_NOT_OK(NoNul(name, "name"));
    CTML_RETURN_NOT_OK(NoNul(alias, "alias"));
    // Idempotent: replaying it after an unknown COMMIT outcome is harmless.
    return Write("set alias", [&](pqxx::transaction_base& tx) -> Status {
      CTML_RETURN_NOT_OK(GetVersion(tx, name, version).status());
      tx.exec_params(
          "INSERT INTO model_aliases(name, alias, version, updated_us) VALUES($1, $2, $3, $4) "
          "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version, updated_us = "
          "excluded.updated_us",
          name, alias, version, NowMicros());
      return Status::OK();
    });
  }

  Result<ModelVersion> GetAlias(const std::string& name, const std::string& alias) override {
    CTML_RETURN_NOT_OK(NoNul(name, "name"));
    CTML_RETURN_NOT_OK(NoNul(alias, "alias"));
    ModelVersion out;
    CTML_RETURN_NOT_OK(Read("get alias", [&](pqxx::transaction_base& tx) -> Status {
      auto r = tx.exec_params(
          "SELECT v.name, v.version, v.run_id, v.artifact_uri, v.manifest_json, v.created_us "
          "FROM model_aliases a JOIN model_versions v ON v.name = a.name AND v.version = "
          "a.version WHERE a.name = $1 AND a.alias = $2",
          name, alias);
      if (r.empty()) {
        return Status::NotFound("alias '" + alias + "' of model '" + name + "' is not set");
      }
      out = ReadVersion(r[0]);
      return Status::OK();
    }));
    return out;
  }

  Result<std::map<std::string, int64_t>> ListAliases(const std::string& name) override {
    CTML_RETURN_NOT_OK(NoNul(name, "name"));
    std::map<std::string, int64_t> out;
    CTML_RETURN_NOT_OK(Read("list aliases", [&](pqxx::transaction_base& tx) {
      out.clear();
      for (const auto& row :
           tx.exec_params("SELECT alias, version FROM model_aliases WHERE name = $1", name)) {
        out[row[0].as<std::string>()] = row[1].as<int64_t>();
      }
      return Status::OK();
    }));
    return out;
  }

  Result<AuditRecord> AppendAudit(const std::string& actor, const std::string& action,
                                  const std::string& object, const std::string& detail) override {
    CTML_RETURN_NOT_OK(NoNul(actor, "actor"));
    CTML_RETURN_NOT_OK(NoNul(action, "action"));
    CTML_RETURN_NOT_OK(NoNul(object, "object"));
    CTML_RETURN_NOT_OK(NoNul(detail, "detail"));
    AuditRecord r;
    r.actor = actor;
    r.action = action;
    r.object = object;
    r.detail = detail;
    // The table lock (SHARE ROW EXCLUSIVE conflicts with itself, not with readers) holds the
    // chain head until COMMIT: appenders from any process queue, and each links to the last.
    CTML_RETURN_NOT_OK(Write(
        "append audit",
        [&](pqxx::transaction_base& tx) {
          tx.exec("LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE");
          auto head = tx.exec("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
          r.seq = head.empty() ? 1 : head[0][0].as<int64_t>() + 1;
          r.prev_hash = head.empty() ? "" : head[0][1].as<std::string>();
          r.ts_us = NowMicros();
          r.hash = AuditHash(r);
          tx.exec_params(
              "INSERT INTO audit(seq, ts_us, actor, action, object, detail, prev_hash, hash) "
              "VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
              r.seq, r.ts_us, r.actor, r.action, r.object, r.detail, r.prev_hash, r.hash);
          return Status::OK();
        },
        [&](pqxx::transaction_base& tx) {
          // The lock waits for the lost session's transaction, should it still be running; the
          // hash covers seq and the microsecond timestamp, so it names our record.
          tx.exec("LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE");
          return !tx.exec_params("SELECT 1 FROM audit WHERE hash = $1", r.hash).empty();
        }));
    return r;
  }

  Result<std::vector<AuditRecord>> ListAudit(int64_t from_seq, size_t limit) override {
    std::vector<AuditRecord> out;
    const auto n = static_cast<int64_t>(
        std::min<size_t>(limit, static_cast<size_t>(std::numeric_limits<int64_t>::max())));
    CTML_RETURN_NOT_OK(Read("list audit", [&](pqxx::transaction_base& tx) {
      out.clear();
      for (const auto& row : tx.exec_params("SELECT seq, ts_us, actor, action, object, detail, "
                                            "prev_hash, hash FROM audit WHERE seq >= $1 ORDER BY "
                                            "seq LIMIT $2",
                                            from_seq, n)) {
        out.push_back(ReadAudit(row));
      }
      return Status::OK();
    }));
    return out;
  }

  Status PutState(const std::string& key, const std::string& value) override {
    if (key.empty()) return Status::Invalid("state key must not be empty", "key");
    CTML_RETURN_NOT_OK(NoNul(key, "key"));
    // Idempotent: replaying it after an unknown COMMIT outcome is harmless.
    return Write("put state", [&](pqxx::transaction_base& tx) {
      tx.exec_params(
          "INSERT INTO state(key, value, updated_us) VALUES($1, $2, $3) ON CONFLICT(key) DO "
          "UPDATE SET value = excluded.value, updated_us = excluded.updated_us",
          key, pqxx::binarystring(value), NowMicros());
      return Status::OK();
    });
  }

  Result<std::optional<std::string>> GetState(const std::string& key) override {
    CTML_RETURN_NOT_OK(NoNul(key, "key"));
    std::optional<std::string> out;
    CTML_RETURN_NOT_OK(Read("get state", [&](pqxx::transaction_base& tx) {
      auto r = tx.exec_params("SELECT value FROM state WHERE key = $1", key);
      out.reset();
      if (!r.empty()) out = pqxx::binarystring(r[0][0]).str();
      return Status::OK();
    }));
    return out;
  }

  Status Ping() override {
    return Read("ping", [](pqxx::transaction_base& tx) {
      tx.exec("SELECT 1");
      return Status::OK();
    });
  }

 private:
  static Result<ModelVersion> GetVersion(pqxx::transaction_base& tx, const std::string& name,
                                         int64_t version) {
    auto r = tx.exec_params(std::string("SELECT ") + kVersionColumns +
                                " FROM model_versions WHERE name = $1 AND version = $2",
                            name, version);
    if (r.empty()) {
      return Status::NotFound("model '" + name + "' has no version " + std::to_string(version));
    }
    return ReadVersion(r[0]);
  }

  Status Write(const char* what, const Body& body, const Committed& committed = nullptr) {
    return Run<pqxx::work>(what, body, committed);
  }
  // One statement, no BEGIN/COMMIT round trips.
  Status Read(const char* what, const Body& body) {
    return Run<pqxx::nontransaction>(what, body, nullptr);
  }

  Status Unavailable(const char* what, const std::string& why) const {
    return Status::Unavailable("postgres meta store " + t_.shown + ": " + what + ": " +
                               Scrub(FirstLine(why), t_.password));
  }

  // mu_ held. Connects when there is no open connection; after a failure, further attempts wait
  // for a back-off (50 ms doubling to 1 s) so callers do not queue behind connect timeouts.
  Status Connect(const char* what) {
    if (conn_ != nullptr && conn_->is_open()) return Status::OK();
    conn_.reset();
    auto now = std::chrono::steady_clock::now();
    if (now < next_connect_) return Unavailable(what, "server unreachable: " + last_error_);
    try {
      conn_ = std::make_unique<pqxx::connection>(t_.conninfo);
      backoff_ = std::chrono::milliseconds(0);
      return Status::OK();
    } catch (const std::exception& e) {
      conn_.reset();
      last_error_ = Scrub(FirstLine(e.what()), t_.password);
      backoff_ = std::min(std::chrono::milliseconds(1000),
                          std::max(std::chrono::milliseconds(50), backoff_ * 2));
      next_connect_ = now + backoff_;
      return Unavailable(what, "cannot connect: " + last_error_);
    }
  }

  // Runs `body` in a transaction of type Txn. A connection lost before COMMIT: the transaction
  // did not happen, so it runs once more on a new connection. A connection lost during COMMIT
  // (libpqxx's in_doubt_error): `committed`, when given, looks on a new connection whether the
  // first attempt made it, and only if not is the body run again; without `committed` the body
  // must be idempotent. libpqxx exceptions end here.
  template <typename Txn>
  Status Run(const char* what, const Body& body, const Committed& committed) {
    std::lock_guard<std::mutex> lock(mu_);
    Status last;
    bool in_doubt = false;
    for (int attempt = 0; attempt < 2; ++attempt) {
      CTML_RETURN_NOT_OK(Connect(what));
      bool committing = false;
      try {
        if (in_doubt && committed) {
          pqxx::work check(*conn_);
          bool done = committed(check);
          check.commit();
          if (done) return Status::OK();
        }
        in_doubt = false;
        Txn tx(*conn_);
        Status s = body(tx);
        if (!s.ok()) {
          tx.abort();
          return s;
        }
        committing = true;
        tx.commit();
        return Status::OK();
      } catch (const pqxx::in_doubt_error& e) {
        in_doubt = true;
        last = Unavailable(what, std::string("connection lost during COMMIT: ") + e.what());
      } catch (const pqxx::broken_connection& e) {
        in_doubt = committing;
        last = Unavailable(what, std::string("connection lost: ") + e.what());
      } catch (const pqxx::sql_error& e) {
        if (!ConnectionLost(e.sqlstate()) && conn_->is_open()) {
          return FromSqlError(what, e);
        }
        in_doubt = committing;
        last = Unavailable(what, std::string("connection lost: ") + e.what());
      } catch (const std::exception& e) {
        if (conn_->is_open()) {
          return Status::Internal("postgres meta store: " + std::string(what) + ": " +
                                  Scrub(FirstLine(e.what()), t_.password));
        }
        in_doubt = committing;
        last = Unavailable(what, std::string("connection lost: ") + e.what());
      }
      conn_.reset();  // the next attempt (or call) connects afresh
    }
    return last;
  }

  Status FromSqlError(const char* what, const pqxx::sql_error& e) const {
    const std::string& state = e.sqlstate();
    std::string msg = "postgres meta store: " + std::string(what) + ": " +
                      Scrub(FirstLine(e.what()), t_.password) + " (SQLSTATE " + state + ")";
    if (state == "23505") return Status::AlreadyExists(msg);
    if (state == "23503") return Status::NotFound(msg);
    if (state.rfind("22", 0) == 0) return Status::Invalid(msg);
    if (state == "42501" || state == "3F000" || state == "42P01") {
      return Status::FailedPrecondition(msg);
    }
    if (state == "40001" || state == "40P01" || state == "55P03" || state == "53300") {
      return Status::Unavailable(msg);
    }
    return Status::Internal(msg);
  }

  const Target t_;
  std::mutex mu_;
  std::unique_ptr<pqxx::connection> conn_;
  std::chrono::steady_clock::time_point next_connect_{};
  std::chrono::milliseconds backoff_{0};
  std::string last_error_;
};

}  // namespace

Result<std::unique_ptr<MetaStore>> OpenPostgresMetaStore(const std::string& uri) {
  CTML_ASSIGN_OR_RETURN(Target target, ParseTarget(uri));
  auto store = std::make_unique<PostgresMetaStore>(std::move(target));
  CTML_RETURN_NOT_OK(store->Migrate());
  return std::unique_ptr<MetaStore>(std::move(store));
}

Status DropPostgresMetaSchema(const std::string& uri) {
  CTML_ASSIGN_OR_RETURN(Target t, ParseTarget(uri));
  if (!t.schema_given) {
    return Status::Invalid("meta store URI '" + t.shown + "' names no schema (?schema=S) to drop",
                           "uri");
  }
  try {
    pqxx::connection conn(t.conninfo);
    pqxx::work tx(conn);
    tx.exec("DROP SCHEMA IF EXISTS " + QuoteIdent(t.schema) + " CASCADE");
    tx.commit();
    return Status::OK();
  } catch (const std::exception& e) {
    return Status::Unavailable("postgres meta store " + t.shown +
                               ": drop schema: " + Scrub(FirstLine(e.what()), t.password));
  }
}

}  // namespace ctml::store
