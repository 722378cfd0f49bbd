// Internal to the Redis adapters (redis_online_store, redis_cache): the URI syntax and one
// hiredis connection shared by the threads of a process, guarded by a mutex, reconnecting after
// errors. hiredis stays inside redis_connection.cc.
//
//   redis://[[user]:password@]host[:port][/db][?prefix=P&connect_timeout_ms=1000&timeout_ms=2000]
//
// The password may also come from the environment variable REDIS_PASSWORD (the URI wins); it is
// never echoed in errors. prefix (default "ctml:") starts every key the adapters write.
//
//   CTML_ASSIGN_OR_RETURN(auto conn, RedisConnection::Open(uri, "online store"));
//   CTML_ASSIGN_OR_RETURN(auto pong, conn->Run({"PING"}));
//   CTML_ASSIGN_OR_RETURN(auto replies, conn->Pipeline({{"SET", "k", "v"}, {"GET", "k"}}));
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::store::redis_internal {

struct RedisOptions {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string username;  // empty: the default user
  std::string password;  // empty: no AUTH; never printed
  std::string prefix = "ctml:";
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{2000};
  std::string redacted_uri;  // the URI with any credentials replaced by "***", for messages
};

// Parses a redis:// URI (syntax above). `what` names the port in errors ("online store").
Result<RedisOptions> ParseRedisUri(const std::string& uri, const std::string& what);

// "%", "{" and "}" percent-encoded: a name inside a {hash tag} that cannot end the tag early.
std::string EscapeHashTag(const std::string& name);

// A reply, copied out of hiredis.
struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisReply> elements;  // kArray
};

using RedisCommand = std::vector<std::string>;

// A Status for an error reply: LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN -> Unavailable,
// anything else -> IOError.
Status ReplyStatus(const RedisReply& reply, const std::string& context);

class RedisConnection {
 public:
  // Parses the URI and tries to connect. An unreachable server is not an error here (the handle
  // connects on its next call, which returns Unavailable until the server answers); a rejected
  // AUTH or SELECT is (Invalid).
  static Result<std::unique_ptr<RedisConnection>> Open(const std::string& uri,
                                                       const std::string& what);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends every command in one write and reads one reply per command (error replies are returned
  // as kError replies, not as a Status). Connection failures -> Unavailable. A broken reused
  // connection (the server restarted) is reconnected and the pipeline sent once more, so the
  // commands must be idempotent (every command the adapters send is).
  Result<std::vector<RedisReply>> Pipeline(const std::vector<RedisCommand>& commands);
  // One command; an error reply becomes a Status.
  Result<RedisReply> Run(const RedisCommand& command);

  const RedisOptions& options() const { return options_; }

 private:
  struct Context;
  explicit RedisConnection(RedisOptions options);
  Status ConnectLocked();  // mu_ held
  Result<std::vector<RedisReply>> SendLocked(const std::vector<RedisCommand>& commands,
                                             bool* retryable);

  RedisOptions options_;
  std::string label_;  // "online store: redis at host:port/db", for messages
  std::mutex mu_;
  std::unique_ptr<Context> ctx_;  // null when not connected
};

}  // namespace ctml::store::redis_internal
