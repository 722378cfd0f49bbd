// Pseudonymization at the edge (DESIGN.md section 8):
//   subject_key = base32(HMAC-SHA256(key, subject_id))[:26]
// The key comes from $CTML_PRIVACY_KEY_FILE or cfg privacy.key_file; when that file does not
// exist it is generated (32 random bytes, hex, mode 0600). The key is never logged.
//
//   CTML_ASSIGN_OR_RETURN(auto p, ctml::privacy::Pseudonymizer::FromConfig(cfg));
//   std::string key = p.SubjectKey("PT1A2B3C4D");
#pragma once

#include <string>
#include <string_view>

#include "ctml/core/config.h"
#include "ctml/core/status.h"

namespace ctml::privacy {

class Pseudonymizer {
 public:
  explicit Pseudonymizer(std::string key) : key_(std::move(key)) {}
  static Result<Pseudonymizer> FromConfig(const Config& cfg);

  // 26 characters of [A-Z2-7]; the same id always maps to the same key under one secret.
  std::string SubjectKey(std::string_view subject_id) const;

 private:
  std::string key_;
};

// Reads the key file at `path`, creating it (with its directory, mode 0700/0600) when absent.
// Refuses a file readable by group or others.
Result<std::string> LoadOrCreateKey(const std::string& path);

}  // namespace ctml::privacy
