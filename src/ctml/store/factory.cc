// Opens the adapter a URI names. The only place that knows which adapters exist.
#include "ctml/store/factory.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <system_error>

#include "ctml/store/arrowfs/arrow_lake.h"
#include "ctml/store/kafka/kafka_event_log.h"
#include "ctml/store/memory/memory_cache.h"
#include "ctml/store/postgres/postgres_meta_store.h"
#include "ctml/store/redis/redis_cache.h"
#include "ctml/store/redis/redis_online_store.h"
#include "ctml/store/secret_refs.h"
#include "ctml/store/sqlite/sqlite_event_log.h"
#include "ctml/store/sqlite/sqlite_meta_store.h"
#include "ctml/store/sqlite/sqlite_online_store.h"

namespace ctml::store {
namespace {

struct ParsedUri {
  std::string scheme;  // lower-case, without "://"
  std::string rest;    // after "://", without the query
  std::map<std::string, std::string> query;
};

// "postgresql://user:secret@host/db" -> "postgresql://***@host/db": never echo credentials.
std::string Redact(const std::string& uri) {
  auto sep = uri.find("://");
  if (sep == std::string::npos) return uri;
  auto at = uri.find('@', sep + 3);
  auto slash = uri.find('/', sep + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return uri;
  return uri.substr(0, sep + 3) + "***" + uri.substr(at);
}

Result<ParsedUri> Parse(const std::string& uri, const char* what) {
  auto sep = uri.find("://");
  if (sep == std::string::npos || sep == 0) {
    return Status::Invalid(
        std::string(what) + ": '" + Redact(uri) + "' is not a URI (expected scheme://...)", "uri");
  }
  ParsedUri p;
  for (char c : uri.substr(0, sep)) p.scheme.push_back(static_cast<char>(std::tolower(c)));
  p.rest = uri.substr(sep + 3);
  if (auto q = p.rest.find('?'); q != std::string::npos) {
    std::string query = p.rest.substr(q + 1);
    p.rest.resize(q);
    size_t start = 0;
    while (start <= query.size()) {
      size_t amp = query.find('&', start);
      std::string kv =
          query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      if (!kv.empty()) {
        auto eq = kv.find('=');
        p.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
      }
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  return p;
}

Result<int64_t> PositiveInt(const ParsedUri& p, const std::string& key, int64_t fallback,
                            const std::string& uri) {
  auto it = p.query.find(key);
  if (it == p.query.end()) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v <= 0) {
    return Status::Invalid("'" + Redact(uri) + "': " + key + " must be a positive integer", key);
  }
  return static_cast<int64_t>(v);
}

// sqlite:///abs/path.db (or sqlite://relative/path.db): the file path, parent dirs created.
Result<std::string> SqlitePath(const ParsedUri& p, const std::string& uri) {
  if (p.rest.empty()) return Status::Invalid("'" + uri + "' has no file path", "uri");
  std::filesystem::path path(p.rest);
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return Status::IOError("cannot create the directory of '" + uri + "': " + ec.message());
  }
  return p.rest;
}

Status Unsupported(const std::string& uri, const char* what, const char* supported) {
  return Status::Invalid("unsupported " + std::string(what) + " URI '" + Redact(uri) +
                             "'; supported schemes: " + supported,
                         "uri");
}

}  // namespace

namespace {

// The `synchronous` query parameter of a sqlite:// URI: "FULL" or "NORMAL" (any case).
Result<std::string> Synchronous(const ParsedUri& p, const std::string& fallback,
                                const std::string& what, const std::string& uri) {
  auto sync = p.query.find("synchronous");
  if (sync == p.query.end()) return fallback;
  if (sync->second == "full" || sync->second == "FULL") return std::string("FULL");
  if (sync->second == "normal" || sync->second == "NORMAL") return std::string("NORMAL");
  return Status::Invalid(
      "synchronous must be full or normal in " + what + " URI '" + Redact(uri) + "'", "uri");
}

}  // namespace

Result<std::unique_ptr<EventLog>> OpenEventLog(const std::string& configured) {
  CTML_ASSIGN_OR_RETURN(const std::string uri, ResolveSecretRefs(configured));
  CTML_ASSIGN_OR_RETURN(auto p, Parse(uri, "event log"));
  if (p.scheme == "sqlite") {
    CTML_ASSIGN_OR_RETURN(auto path, SqlitePath(p, uri));
    SqliteEventLogOptions opts;
    CTML_ASSIGN_OR_RETURN(int64_t parts, PositiveInt(p, "partitions", 1, uri));
    opts.partitions = static_cast<int32_t>(std::min<int64_t>(parts, 1024));
    CTML_ASSIGN_OR_RETURN(opts.synchronous, Synchronous(p, "NORMAL", "event log", uri));
    return OpenSqliteEventLog(path, opts);
  }
  if (p.scheme == "kafka") return OpenKafkaEventLog(uri);
  return Unsupported(uri, "event log", "sqlite://, kafka://");
}

Result<std::unique_ptr<Lake>> OpenLake(const std::string& configured) {
  CTML_ASSIGN_OR_RETURN(const std::string uri, ResolveSecretRefs(configured));
  CTML_ASSIGN_OR_RETURN(auto p, Parse(uri, "lake"));
  if (p.scheme == "file" || p.scheme == "s3") return OpenArrowLake(uri);
  return Unsupported(uri, "lake", "file://, s3://");
}

Result<std::unique_ptr<OnlineStore>> OpenOnlineStore(const std::string& configured) {
  CTML_ASSIGN_OR_RETURN(const std::string uri, ResolveSecretRefs(configured));
  CTML_ASSIGN_OR_RETURN(auto p, Parse(uri, "online store"));
  if (p.scheme == "sqlite") {
    CTML_ASSIGN_OR_RETURN(auto path, SqlitePath(p, uri));
    return OpenSqliteOnlineStore(path);
  }
  if (p.scheme == "redis") return OpenRedisOnlineStore(uri);
  return Unsupported(uri, "online store", "sqlite://, redis://");
}

Result<std::unique_ptr<MetaStore>> OpenMetaStore(const std::string& configured) {
  CTML_ASSIGN_OR_RETURN(const std::string uri, ResolveSecretRefs(configured));
  CTML_ASSIGN_OR_RETURN(auto p, Parse(uri, "meta store"));
  if (p.scheme == "sqlite") {
    CTML_ASSIGN_OR_RETURN(auto path, SqlitePath(p, uri));
    CTML_ASSIGN_OR_RETURN(auto sync, Synchronous(p, "FULL", "meta store", uri));
    return OpenSqliteMetaStore(path, sync);
  }
  if (p.scheme == "postgresql" || p.scheme == "postgres") {
    return OpenPostgresMetaStore(uri);
  }
  return Unsupported(uri, "meta store", "sqlite://, postgresql://");
}

Result<std::unique_ptr<Cache>> OpenCache(const std::string& configured) {
  CTML_ASSIGN_OR_RETURN(const std::string uri, ResolveSecretRefs(configured));
  CTML_ASSIGN_OR_RETURN(auto p, Parse(uri, "cache"));
  if (p.scheme == "memory") {
    CTML_ASSIGN_OR_RETURN(int64_t capacity,
                          PositiveInt(p, "capacity", kDefaultMemoryCacheCapacity, uri));
    return NewMemoryCache(static_cast<size_t>(capacity));
  }
  if (p.scheme == "redis") return OpenRedisCache(uri);
  return Unsupported(uri, "cache", "memory://, redis://");
}

}  // namespace ctml::store
