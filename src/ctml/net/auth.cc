#include "ctml/net/auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "ctml/core/crypto.h"

namespace ctml::net {
namespace fs = std::filesystem;

std::string ApiKeys::HashKey(std::string_view key) { return HexEncode(Sha256(key)); }

Result<ApiKeys> ApiKeys::FromConfig(const Config& cfg) {
  return Load(cfg.GetString("auth.keys_file"), cfg.GetBool("auth.required", false));
}

Result<ApiKeys> ApiKeys::Load(const std::string& path, bool required) {
  ApiKeys keys;
  keys.required_ = required;
  if (path.empty() || !fs::exists(path)) {
    if (required) {
      return Status::FailedPrecondition(
          "auth.required is true but the key file " + path +
          " does not exist: create a key with `ctml auth add-key --id NAME --roles ingest`");
    }
    return keys;
  }
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read API key file " + path);
  static const std::regex kLine(R"(^\s*([A-Za-z0-9_.:-]{1,64})\s+([a-z,]+)\s+([0-9a-f]{64})\s*$)");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::smatch m;
    if (!std::regex_match(line, m, kLine)) {
      return Status::Invalid(
          path + ":" + std::to_string(n) + ": expected `<id> <roles> <sha256 hex>`",
          "auth.keys_file");
    }
    Entry e;
    e.id = m[1].str();
    std::stringstream roles(m[2].str());
    for (std::string r; std::getline(roles, r, ',');) {
      if (r != "ingest" && r != "read" && r != "predict" && r != "admin") {
        return Status::Invalid(path + ":" + std::to_string(n) + ": unknown role '" + r +
                                   "' (ingest, read, predict, admin)",
                               "auth.keys_file");
      }
      e.roles.insert(r);
    }
    keys.by_hash_[m[3].str()] = std::move(e);
  }
  return keys;
}

ApiKeys::Decision ApiKeys::Authorize(std::string_view key, std::string_view role,
                                     std::string* actor) const {
  if (key.empty()) {
    *actor = "anonymous";
    return required_ ? Decision::kKeyRequired : Decision::kAllowed;
  }
  auto it = by_hash_.find(HashKey(key));
  if (it == by_hash_.end()) return Decision::kUnknownKey;
  *actor = it->second.id;
  const auto& roles = it->second.roles;
  if (roles.count(std::string(role)) || roles.count("admin")) return Decision::kAllowed;
  return Decision::kMissingRole;
}

Handler ApiKeys::Guard(std::string role, Handler handler) const {
  return [this, role = std::move(role), handler = std::move(handler)](const HttpRequest& req) {
    std::string key = req.Header("x-api-key");
    if (key.empty()) {
      std::string auth = req.Header("authorization");
      if (auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
    }
    std::string actor;
    switch (Authorize(key, role, &actor)) {
      case Decision::kAllowed:
        break;
      case Decision::kKeyRequired:
        return HttpResponse::Error(401, "UNAUTHENTICATED",
                                   "an API key is required: send it in the X-API-Key header",
                                   "X-API-Key");
      case Decision::kUnknownKey:
        return HttpResponse::Error(401, "UNAUTHENTICATED", "the API key is not valid", "X-API-Key");
      case Decision::kMissingRole:
        return HttpResponse::Error(403, "FORBIDDEN", "the API key lacks the '" + role + "' role",
                                   "X-API-Key");
    }
    HttpRequest copy = req;
    copy.actor = actor;
    return handler(copy);
  };
}

Result<std::string> ApiKeys::AddKey(const std::string& path, const std::string& id,
                                    const std::string& roles) {
  static const std::regex kId(R"(^[A-Za-z0-9_.:-]{1,64}$)");
  static const std::regex kRoles(R"(^(ingest|read|predict|admin)(,(ingest|read|predict|admin))*$)");
  if (!std::regex_match(id, kId)) {
    return Status::Invalid("key id must be 1-64 of [A-Za-z0-9_.:-]", "id");
  }
  if (!std::regex_match(roles, kRoles)) {
    return Status::Invalid("roles must be a comma list of ingest, read, predict, admin", "roles");
  }
  CTML_ASSIGN_OR_RETURN(ApiKeys existing, Load(path, false));
  for (const auto& [h, e] : existing.by_hash_) {
    if (e.id == id) return Status::AlreadyExists("a key with id '" + id + "' exists in " + path);
  }
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string key = "ctml_" + HexEncode(RandomBytes(24));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) return Status::IOError("cannot open " + path + " for writing");
  std::string line = id + " " + roles + " " + HashKey(key) + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) return Status::IOError("cannot write " + path);
  return key;
}

}  // namespace ctml::net
