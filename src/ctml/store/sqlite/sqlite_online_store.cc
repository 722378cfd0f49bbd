#include "ctml/store/sqlite/sqlite_online_store.h"

#include <cmath>
#include <limits>
#include <mutex>
#include <utility>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/store/sqlite/sqlite_internal.h"

namespace ctml::store {
namespace {

using sqlite_internal::Db;
using sqlite_internal::Txn;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS feature_vectors(
  view TEXT NOT NULL,
  entity_key TEXT NOT NULL,
  as_of_us INTEGER NOT NULL,
  spec_hash TEXT NOT NULL,
  vals TEXT NOT NULL,
  updated_us INTEGER NOT NULL,
  PRIMARY KEY(view, entity_key));
)sql";

// [[name, value], ...] with null for NaN and "inf"/"-inf" for infinities (JSON has neither).
std::string EncodeValues(const std::vector<std::pair<std::string, double>>& values) {
  Json arr = Json::array();
  for (const auto& [name, v] : values) {
    Json jv;
    if (std::isnan(v)) {
      jv = nullptr;
    } else if (std::isinf(v)) {
      jv = v > 0 ? "inf" : "-inf";
    } else {
      jv = v;
    }
    arr.push_back(Json::array({name, std::move(jv)}));
  }
  return arr.dump();
}

Result<std::vector<std::pair<std::string, double>>> DecodeValues(const std::string& text) {
  CTML_ASSIGN_OR_RETURN(Json arr, ParseJson(text, 4));
  std::vector<std::pair<std::string, double>> out;
  if (!arr.is_array()) return Status::Internal("online store: corrupt feature vector");
  out.reserve(arr.size());
  for (const auto& item : arr) {
    if (!item.is_array() || item.size() != 2 || !item[0].is_string()) {
      return Status::Internal("online store: corrupt feature vector entry");
    }
    double v = std::numeric_limits<double>::quiet_NaN();
    const Json& jv = item[1];
    if (jv.is_number()) {
      v = jv.get<double>();
    } else if (jv.is_string()) {
      v = jv.get<std::string>() == "-inf" ? -std::numeric_limits<double>::infinity()
                                          : std::numeric_limits<double>::infinity();
    }
    out.emplace_back(item[0].get<std::string>(), v);
  }
  return out;
}

class SqliteOnlineStore final : public OnlineStore {
 public:
  explicit SqliteOnlineStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  Status Put(const std::vector<FeatureVector>& vectors) override {
    if (vectors.empty()) return Status::OK();
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(db_.get());
    CTML_RETURN_NOT_OK(txn.Begin());
    CTML_ASSIGN_OR_RETURN(
        auto st, db_->Prepare("INSERT INTO feature_vectors(view, entity_key, as_of_us, spec_hash, "
                              "vals, updated_us) VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(view, "
                              "entity_key) DO UPDATE SET as_of_us = excluded.as_of_us, spec_hash "
                              "= excluded.spec_hash, vals = excluded.vals, updated_us = "
                              "excluded.updated_us"));
    int64_t now = NowMicros();
    for (const auto& v : vectors) {
      if (v.entity_key.empty()) {
        return Status::Invalid("entity_key must not be empty", "entity_key");
      }
      if (v.view.empty()) return Status::Invalid("view must not be empty", "view");
      CTML_RETURN_NOT_OK(st.Reset());
      st.Bind(1, v.view)
          .Bind(2, v.entity_key)
          .Bind(3, v.as_of_us)
          .Bind(4, v.spec_hash)
          .Bind(5, EncodeValues(v.values))
          .Bind(6, now);
      CTML_RETURN_NOT_OK(st.Run());
    }
    return txn.Commit();
  }

  Result<std::optional<FeatureVector>> Get(const std::string& entity_key,
                                           const std::string& view) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st,
                          db_->Prepare("SELECT as_of_us, spec_hash, vals FROM feature_vectors "
                                       "WHERE view = ? AND entity_key = ?"));
    st.Bind(1, view).Bind(2, entity_key);
    CTML_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<FeatureVector>();
    FeatureVector v;
    v.entity_key = entity_key;
    v.view = view;
    v.as_of_us = st.Int64(0);
    v.spec_hash = st.Text(1);
    CTML_ASSIGN_OR_RETURN(v.values, DecodeValues(st.Text(2)));
    return std::optional<FeatureVector>(std::move(v));
  }

  Result<int64_t> Count(const std::string& view) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st,
                          db_->Prepare("SELECT COUNT(*) FROM feature_vectors WHERE view = ?"));
    st.Bind(1, view);
    CTML_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? st.Int64(0) : int64_t{0};
  }

  Result<std::vector<std::string>> Keys(const std::string& view, size_t limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT entity_key FROM feature_vectors WHERE "
                                                "view = ? ORDER BY entity_key LIMIT ?"));
    st.Bind(1, view).Bind(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
    return st.TextColumn();
  }

  Status Ping() override {
    std::lock_guard<std::mutex> lock(mu_);
    CTML_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT 1"));
    CTML_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? Status::OK() : Status::Unavailable("sqlite online store: ping returned no row");
  }

 private:
  std::mutex mu_;
  std::unique_ptr<Db> db_;
};

}  // namespace

Result<std::unique_ptr<OnlineStore>> OpenSqliteOnlineStore(const std::string& path) {
  CTML_ASSIGN_OR_RETURN(auto db, Db::OpenWithSchema(path, "NORMAL", kSchema));
  return std::unique_ptr<OnlineStore>(new SqliteOnlineStore(std::move(db)));
}

}  // namespace ctml::store
