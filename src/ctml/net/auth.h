// API keys with roles (DESIGN.md section 8). Keys live in a file named by auth.keys_file, one
// per line: `<id> <role,role,...> <sha256 hex of the key>`; only hashes are stored, and the
// key itself is printed once by `ctml auth add-key`. Roles: ingest, read, predict, admin
// (admin implies every role). With auth.required false (the embedded default) requests without
// a key pass as actor "anonymous"; a key that is sent is still checked.
//
//   CTML_ASSIGN_OR_RETURN(auto keys, ctml::net::ApiKeys::FromConfig(cfg));
//   server.Route("POST", "/api/clinical/data", keys.Guard("ingest", handler));
//   // handler sees req.actor == "<key id>"; 401 without/with a wrong key, 403 without the role
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "ctml/core/config.h"
#include "ctml/core/status.h"
#include "ctml/net/http.h"

namespace ctml::net {

class ApiKeys {
 public:
  ApiKeys() = default;
  // Reads auth.required (default false) and auth.keys_file (absent file = no keys).
  static Result<ApiKeys> FromConfig(const Config& cfg);
  static Result<ApiKeys> Load(const std::string& path, bool required);

  bool required() const { return required_; }
  size_t size() const { return by_hash_.size(); }

  enum class Decision { kAllowed, kUnknownKey, kMissingRole, kKeyRequired };
  // Checks a presented key ("" = none sent) for `role`; sets *actor to the key id (or
  // "anonymous" when no key was sent and none is required).
  Decision Authorize(std::string_view key, std::string_view role, std::string* actor) const;
  // Wraps a handler: reads X-API-Key (or "Authorization: Bearer <key>"), answers 401/403 JSON
  // errors, and passes a copy of the request with `actor` set to the key id.
  Handler Guard(std::string role, Handler handler) const;

  // Appends a new key with `roles` to `path` (created 0600) and returns the key (shown once).
  static Result<std::string> AddKey(const std::string& path, const std::string& id,
                                    const std::string& roles);
  static std::string HashKey(std::string_view key);  // hex SHA-256

 private:
  struct Entry {
    std::string id;
    std::set<std::string> roles;
  };
  bool required_ = false;
  std::map<std::string, Entry> by_hash_;
};

}  // namespace ctml::net
