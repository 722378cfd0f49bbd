#include "ctml/store/redis/redis_cache.h"

#include <utility>

#include "ctml/store/redis/redis_connection.h"

namespace ctml::store {
namespace {

using redis_internal::RedisCommand;
using redis_internal::RedisConnection;
using redis_internal::RedisReply;

class RedisCache final : public Cache {
 public:
  explicit RedisCache(std::unique_ptr<RedisConnection> conn) : conn_(std::move(conn)) {}

  Result<std::optional<std::string>> Get(const std::string& key) override {
    CTML_ASSIGN_OR_RETURN(auto reply, conn_->Run({"GET", Key(key)}));
    if (reply.type == RedisReply::Type::kNil) return std::optional<std::string>();
    if (reply.type != RedisReply::Type::kString) {
      return Status::IOError("cache: unexpected GET reply");
    }
    return std::optional<std::string>(std::move(reply.str));
  }

  Status Put(const std::string& key, const std::string& value, std::chrono::seconds ttl) override {
    RedisCommand cmd{"SET", Key(key), value};
    if (ttl.count() > 0) {
      cmd.push_back("EX");
      cmd.push_back(std::to_string(ttl.count()));
    }
    return conn_->Run(cmd).status();
  }

  Status Ping() override { return conn_->Run({"PING"}).status(); }

 private:
  std::string Key(const std::string& key) const { return conn_->options().prefix + "cache:" + key; }

  std::unique_ptr<RedisConnection> conn_;
};

}  // namespace

Result<std::unique_ptr<Cache>> OpenRedisCache(const std::string& uri) {
  CTML_ASSIGN_OR_RETURN(auto conn, RedisConnection::Open(uri, "cache"));
  return std::unique_ptr<Cache>(std::make_unique<RedisCache>(std::move(conn)));
}

}  // namespace ctml::store
