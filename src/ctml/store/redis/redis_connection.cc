#include "ctml/store/redis/redis_connection.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sys/time.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <utility>

#include "ctml/core/url.h"

namespace ctml::store::redis_internal {
namespace {

// "redis://:secret@host" -> "redis://***@host": never echo credentials. The credentials end at
// the last '@' (see ParseRedisUri), so a password with an unencoded '/', '?' or '@' is redacted.
std::string RedactUri(const std::string& uri) {
  auto sep = uri.find("://");
  if (sep == std::string::npos) return uri;
  auto at = uri.rfind('@');
  if (at == std::string::npos || at < sep + 3) return uri;
  return uri.substr(0, sep + 3) + "***" + uri.substr(at);
}

// A non-negative integer no larger than `max`, or -1.
long long ParseNumber(const std::string& s, long long max) {
  if (s.empty() || s.size() > 12) return -1;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v <= max ? v : -1;
}

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

RedisReply Copy(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Copy(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

// hiredis writes with write(2), so a write to a connection the server closed (a Redis restart)
// raises SIGPIPE, which kills a process that does not ignore it. Ignoring it process-wide is not
// this library's call, so SIGPIPE is blocked in the calling thread around hiredis I/O, and one
// raised meanwhile is consumed before unblocking (the usual per-thread recipe; Linux has no
// SO_NOSIGPIPE and hiredis 0.14 does not use MSG_NOSIGNAL).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{};
        while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

}  // namespace

struct RedisConnection::Context {
  explicit Context(redisContext* context) : c(context) {}
  ~Context() { redisFree(c); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  redisContext* c;
};

Result<RedisOptions> ParseRedisUri(const std::string& uri, const std::string& what) {
  RedisOptions o;
  o.redacted_uri = RedactUri(uri);
  auto bad = [&](const std::string& why) {
    return Status::Invalid(what + " URI '" + o.redacted_uri + "': " + why, "uri");
  };
  auto sep = uri.find("://");
  std::string scheme = sep == std::string::npos ? "" : uri.substr(0, sep);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "redis") return bad("expected redis://");
  std::string rest = uri.substr(sep + 3);
  // The credentials end at the last '@': a password with an unencoded '/', '?' or '@' still
  // parses (a '@' in a query value must be written %40).
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    std::string user = userinfo.substr(0, colon);
    std::string password = colon == std::string::npos ? "" : userinfo.substr(colon + 1);
    auto username = PercentDecode(user, {.strict = true});
    auto secret = PercentDecode(password, {.strict = true});
    if (!username || !secret) return bad("bad percent-encoding in the credentials");
    o.username = std::move(*username);
    o.password = std::move(*secret);
  }
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  std::string path;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    path = rest.substr(slash + 1);
    rest.resize(slash);
  }
  const std::string& hostport = rest;
  if (o.password.empty()) {
    if (const char* env = std::getenv("REDIS_PASSWORD"); env != nullptr) o.password = env;
  }
  if (!o.username.empty() && o.password.empty()) {
    return bad("the user has no password (user:password@host or REDIS_PASSWORD)");
  }
  std::string port;
  if (!hostport.empty() && hostport[0] == '[') {  // [::1]:6379
    auto close = hostport.find(']');
    if (close == std::string::npos) return bad("unterminated [IPv6 address]");
    o.host = hostport.substr(1, close - 1);
    std::string after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("expected :port after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else if (auto colon = hostport.rfind(':'); colon != std::string::npos) {
    o.host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
    if (port.empty()) return bad("empty port");
  } else {
    o.host = hostport;
  }
  if (o.host.empty()) return bad("no host (redis://host:port)");
  if (!port.empty()) {
    long long p = ParseNumber(port, 65535);
    if (p <= 0) return bad("port must be 1-65535");
    o.port = static_cast<int>(p);
  }
  if (!path.empty()) {
    long long db = ParseNumber(path, 1 << 20);
    if (db < 0) return bad("the path must be a database number (redis://host:port/0)");
    o.db = static_cast<int>(db);
  }
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    std::string kv =
        query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    start = amp == std::string::npos ? query.size() : amp + 1;
    if (kv.empty()) continue;
    auto eq = kv.find('=');
    std::string key = kv.substr(0, eq);
    auto decoded =
        PercentDecode(eq == std::string::npos ? "" : kv.substr(eq + 1), {.strict = true});
    if (!decoded) return bad("bad percent-encoding in " + key);
    const std::string value = std::move(*decoded);
    if (key == "prefix") {
      if (value.find_first_of("{}") != std::string::npos) {
        return bad("prefix must not contain '{' or '}' (they would move the Cluster hash tag)");
      }
      o.prefix = value;
    } else if (key == "connect_timeout_ms" || key == "timeout_ms") {
      long long ms = ParseNumber(value, 3600 * 1000);
      if (ms <= 0) return bad(key + " must be a positive number of milliseconds");
      (key == "timeout_ms" ? o.command_timeout : o.connect_timeout) = std::chrono::milliseconds(ms);
    } else {
      return bad("unknown parameter '" + key + "' (known: prefix, connect_timeout_ms, timeout_ms)");
    }
  }
  return o;
}

std::string EscapeHashTag(const std::string& name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '%') {
      out += "%25";
    } else if (c == '{') {
      out += "%7B";
    } else if (c == '}') {
      out += "%7D";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Status ReplyStatus(const RedisReply& reply, const std::string& context) {
  std::string code = reply.str.substr(0, reply.str.find(' '));
  std::string msg = context + ": " + reply.str;
  if (code == "LOADING" || code == "BUSY" || code == "TRYAGAIN" || code == "CLUSTERDOWN" ||
      code == "MASTERDOWN") {
    return Status::Unavailable(msg);
  }
  if (code == "NOAUTH" || code == "WRONGPASS" || code == "NOPERM") {
    return Status::Invalid(msg + " (the password goes in the URI or REDIS_PASSWORD)", "uri");
  }
  if (code == "MOVED" || code == "ASK") {
    return Status::IOError(msg +
                           " (a Redis Cluster node: ctml talks to one node; put a cluster proxy "
                           "in front or point it at a standalone or Sentinel primary)");
  }
  return Status::IOError(msg);
}

RedisConnection::RedisConnection(RedisOptions options) : options_(std::move(options)) {}
RedisConnection::~RedisConnection() = default;

Result<std::unique_ptr<RedisConnection>> RedisConnection::Open(const std::string& uri,
                                                               const std::string& what) {
  CTML_ASSIGN_OR_RETURN(auto options, ParseRedisUri(uri, what));
  std::unique_ptr<RedisConnection> conn(new RedisConnection(std::move(options)));
  conn->label_ = what + ": redis at " + conn->options_.host + ":" +
                 std::to_string(conn->options_.port) + "/" + std::to_string(conn->options_.db);
  std::lock_guard lock(conn->mu_);
  SigpipeGuard guard;
  Status st = conn->ConnectLocked();
  // Down now is fine (the next call connects); rejected credentials or database are not.
  if (!st.ok() && st.code() != StatusCode::kUnavailable) return st;
  return conn;
}

Status RedisConnection::ConnectLocked() {
  ctx_.reset();
  redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                            ToTimeval(options_.connect_timeout));
  if (c == nullptr) return Status::Unavailable(label_ + ": cannot allocate a connection");
  auto ctx = std::make_unique<Context>(c);
  if (c->err != 0) return Status::Unavailable(label_ + " is unreachable: " + c->errstr);
  if (redisSetTimeout(c, ToTimeval(options_.command_timeout)) != REDIS_OK ||
      redisEnableKeepAlive(c) != REDIS_OK) {
    return Status::Unavailable(label_ + ": " + c->errstr);
  }
  std::vector<RedisCommand> setup;
  if (!options_.password.empty()) {
    setup.push_back(options_.username.empty()
                        ? RedisCommand{"AUTH", options_.password}
                        : RedisCommand{"AUTH", options_.username, options_.password});
  }
  if (options_.db != 0) setup.push_back({"SELECT", std::to_string(options_.db)});
  ctx_ = std::move(ctx);
  if (setup.empty()) return Status::OK();
  bool retryable = false;
  auto replies = SendLocked(setup, &retryable);
  if (!replies.ok()) return replies.status();
  for (size_t i = 0; i < replies->size(); ++i) {
    if ((*replies)[i].type == RedisReply::Type::kError) {
      ctx_.reset();
      Status st = ReplyStatus((*replies)[i], label_ + ": " + setup[i][0] + " failed");
      if (st.code() == StatusCode::kIOError) return Status::Invalid(st.message(), "uri");
      return st;
    }
  }
  return Status::OK();
}

Result<std::vector<RedisReply>> RedisConnection::SendLocked(
    const std::vector<RedisCommand>& commands, bool* retryable) {
  *retryable = false;
  if (ctx_ == nullptr) CTML_RETURN_NOT_OK(ConnectLocked());
  redisContext* c = ctx_->c;
  std::vector<const char*> argv;
  std::vector<size_t> argvlen;
  for (const auto& cmd : commands) {
    argv.clear();
    argvlen.clear();
    for (const auto& arg : cmd) {
      argv.push_back(arg.data());
      argvlen.push_back(arg.size());
    }
    if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), argvlen.data()) !=
        REDIS_OK) {
      std::string err = c->errstr;
      ctx_.reset();
      return Status::Unavailable(label_ + ": " + err);
    }
  }
  std::vector<RedisReply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    errno = 0;
    if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
      int saved_errno = errno;
      // A closed or reset connection (a restarted server) is worth one more try; a timeout
      // (EAGAIN) is not: the server is there but slow, and trying again would double the wait.
      *retryable = c->err == REDIS_ERR_EOF ||
                   (c->err == REDIS_ERR_IO && (saved_errno == EPIPE || saved_errno == ECONNRESET ||
                                               saved_errno == ECONNABORTED));
      std::string err = c->errstr;
      ctx_.reset();
      return Status::Unavailable(label_ + ": " + err);
    }
    auto* reply = static_cast<redisReply*>(raw);
    out.push_back(Copy(reply));
    freeReplyObject(reply);
  }
  return out;
}

Result<std::vector<RedisReply>> RedisConnection::Pipeline(
    const std::vector<RedisCommand>& commands) {
  if (commands.empty()) return std::vector<RedisReply>{};
  std::lock_guard lock(mu_);
  SigpipeGuard guard;
  bool reused = ctx_ != nullptr;
  bool retryable = false;
  auto replies = SendLocked(commands, &retryable);
  if (!replies.ok() && reused && retryable) replies = SendLocked(commands, &retryable);
  return replies;
}

Result<RedisReply> RedisConnection::Run(const RedisCommand& command) {
  CTML_ASSIGN_OR_RETURN(auto replies, Pipeline({command}));
  if (replies.at(0).type == RedisReply::Type::kError) {
    return ReplyStatus(replies[0], label_ + ": " + command.at(0));
  }
  return std::move(replies[0]);
}

}  // namespace ctml::store::redis_internal
