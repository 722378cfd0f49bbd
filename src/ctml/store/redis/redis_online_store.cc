#include "ctml/store/redis/redis_online_store.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "ctml/core/json.h"
#include "ctml/store/redis/redis_connection.h"

namespace ctml::store {
namespace {

using redis_internal::RedisCommand;
using redis_internal::RedisConnection;
using redis_internal::RedisReply;

constexpr size_t kVectorsPerRoundTrip = 500;
constexpr size_t kKeysPerScan = 1000;
constexpr const char* kWhat = "online store";

// Shortest decimal that reads back to the same double ("nan", "inf", "-inf" included).
std::string FormatDouble(double v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

bool ParseDouble(const std::string& s, double* v) {
  if (s == "nan") {
    *v = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  auto res = std::from_chars(s.data(), s.data() + s.size(), *v);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

bool ParseInt64(const std::string& s, int64_t* v) {
  auto res = std::from_chars(s.data(), s.data() + s.size(), *v);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

class RedisOnlineStore final : public OnlineStore {
 public:
  explicit RedisOnlineStore(std::unique_ptr<RedisConnection> conn) : conn_(std::move(conn)) {}

  Status Put(const std::vector<FeatureVector>& vectors) override {
    for (size_t begin = 0; begin < vectors.size(); begin += kVectorsPerRoundTrip) {
      size_t end = std::min(vectors.size(), begin + kVectorsPerRoundTrip);
      std::vector<RedisCommand> commands;
      commands.reserve((end - begin) * 4 + 1);
      std::map<std::string, RedisCommand> index;  // view -> SADD command
      for (size_t i = begin; i < end; ++i) {
        const FeatureVector& v = vectors[i];
        CTML_ASSIGN_OR_RETURN(RedisCommand hset, HashSet(v));
        std::string key = hset[1];
        commands.push_back({"MULTI"});
        commands.push_back({"DEL", key});
        commands.push_back(std::move(hset));
        commands.push_back({"EXEC"});
        auto [it, inserted] = index.try_emplace(v.view);
        if (inserted) it->second = {"SADD", IndexKey(v.view)};
        it->second.push_back(v.entity_key);
      }
      // The index is another key (another Cluster slot), so it cannot join the MULTI; it goes in
      // the same round trip, after the vectors.
      for (auto& [view, sadd] : index) commands.push_back(std::move(sadd));
      CTML_ASSIGN_OR_RETURN(auto replies, conn_->Pipeline(commands));
      for (size_t i = 0; i < replies.size(); ++i) {
        const RedisReply& r = replies[i];
        if (r.type == RedisReply::Type::kError) {
          return redis_internal::ReplyStatus(r, std::string(kWhat) + ": " + commands[i][0]);
        }
        if (commands[i][0] == "EXEC") {
          if (r.type != RedisReply::Type::kArray) {
            return Status::IOError(std::string(kWhat) + ": a MULTI/EXEC was aborted");
          }
          for (const auto& e : r.elements) {
            if (e.type == RedisReply::Type::kError) {
              return redis_internal::ReplyStatus(e, std::string(kWhat) + ": EXEC");
            }
          }
        }
      }
    }
    return Status::OK();
  }

  Result<std::optional<FeatureVector>> Get(const std::string& entity_key,
                                           const std::string& view) override {
    CTML_ASSIGN_OR_RETURN(auto reply, conn_->Run({"HGETALL", VectorKey(entity_key, view)}));
    if (reply.type != RedisReply::Type::kArray || reply.elements.size() % 2 != 0) {
      return Status::IOError(std::string(kWhat) + ": unexpected HGETALL reply");
    }
    if (reply.elements.empty()) return std::optional<FeatureVector>();
    std::unordered_map<std::string, std::string> fields;
    for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
      fields[reply.elements[i].str] = std::move(reply.elements[i + 1].str);
    }
    auto corrupt = [&](const std::string& why) {
      return Status::Internal(std::string(kWhat) + ": corrupt feature vector of view '" + view +
                              "': " + why);
    };
    FeatureVector v;
    v.entity_key = entity_key;
    v.view = view;
    v.spec_hash = fields["spec_hash"];
    if (!ParseInt64(fields["as_of_us"], &v.as_of_us)) return corrupt("as_of_us");
    auto order = ParseJson(fields["_order"], 2);
    if (!order.ok() || !order->is_array()) return corrupt("_order");
    v.values.reserve(order->size());
    for (const auto& name : *order) {
      if (!name.is_string()) return corrupt("_order");
      auto it = fields.find("f:" + name.get<std::string>());
      double value = 0;
      if (it == fields.end() || !ParseDouble(it->second, &value)) {
        return corrupt("feature '" + name.get<std::string>() + "'");
      }
      v.values.emplace_back(name.get<std::string>(), value);
    }
    return std::optional<FeatureVector>(std::move(v));
  }

  Result<int64_t> Count(const std::string& view) override {
    CTML_ASSIGN_OR_RETURN(auto reply, conn_->Run({"SCARD", IndexKey(view)}));
    if (reply.type != RedisReply::Type::kInteger) {
      return Status::IOError(std::string(kWhat) + ": unexpected SCARD reply");
    }
    return static_cast<int64_t>(reply.integer);
  }

  Result<std::vector<std::string>> Keys(const std::string& view, size_t limit) override {
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;  // SSCAN may return a member twice
    std::string cursor = "0";
    std::string count = std::to_string(std::clamp<size_t>(limit, 10, kKeysPerScan));
    while (out.size() < limit) {
      CTML_ASSIGN_OR_RETURN(auto reply,
                            conn_->Run({"SSCAN", IndexKey(view), cursor, "COUNT", count}));
      if (reply.type != RedisReply::Type::kArray || reply.elements.size() != 2 ||
          reply.elements[1].type != RedisReply::Type::kArray) {
        return Status::IOError(std::string(kWhat) + ": unexpected SSCAN reply");
      }
      for (auto& member : reply.elements[1].elements) {
        if (out.size() < limit && seen.insert(member.str).second) out.push_back(member.str);
      }
      cursor = reply.elements[0].str;
      if (cursor == "0") break;
    }
    return out;
  }

  Status Ping() override { return conn_->Run({"PING"}).status(); }

 private:
  std::string VectorKey(const std::string& entity_key, const std::string& view) const {
    return conn_->options().prefix + "fv:{" + redis_internal::EscapeHashTag(entity_key) +
           "}:" + view;
  }
  std::string IndexKey(const std::string& view) const {
    return conn_->options().prefix + "idx:{" + redis_internal::EscapeHashTag(view) + "}";
  }

  // HSET key as_of_us .. spec_hash .. _order [names] f:<name> <value> ...
  Result<RedisCommand> HashSet(const FeatureVector& v) const {
    RedisCommand cmd{"HSET",      VectorKey(v.entity_key, v.view),
                     "as_of_us",  std::to_string(v.as_of_us),
                     "spec_hash", v.spec_hash};
    Json names = Json::array();
    std::unordered_set<std::string> seen;
    cmd.reserve(cmd.size() + 2 + 2 * v.values.size());
    for (const auto& [name, value] : v.values) {
      if (!seen.insert(name).second) {
        return Status::Invalid(std::string(kWhat) + ": feature '" + name +
                                   "' appears twice in a vector of view '" + v.view + "'",
                               "values");
      }
      names.push_back(name);
    }
    cmd.push_back("_order");
    cmd.push_back(names.dump());
    for (const auto& [name, value] : v.values) {
      cmd.push_back("f:" + name);
      cmd.push_back(FormatDouble(value));
    }
    return cmd;
  }

  std::unique_ptr<RedisConnection> conn_;
};

}  // namespace

Result<std::unique_ptr<OnlineStore>> OpenRedisOnlineStore(const std::string& uri) {
  CTML_ASSIGN_OR_RETURN(auto conn, RedisConnection::Open(uri, kWhat));
  return std::unique_ptr<OnlineStore>(std::make_unique<RedisOnlineStore>(std::move(conn)));
}

}  // namespace ctml::store
