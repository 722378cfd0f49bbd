#include "ctml/store/secret_refs.h"

#include <fstream>
#include <sstream>

#include "ctml/core/url.h"

namespace ctml::store {

Result<std::string> ResolveSecretRefs(const std::string& uri) {
  std::string out = uri;
  size_t from = 0;
  size_t start;
  while ((start = out.find("${file:", from)) != std::string::npos) {
    size_t end = out.find('}', start);
    if (end == std::string::npos) return Status::Invalid("unclosed ${file: in a store URI", "uri");
    const std::string path = out.substr(start + 7, end - start - 7);
    std::ifstream in(path);
    if (!in) {
      return Status::NotFound("secret file '" + path +
                              "' named in a store URI cannot be read (is the service started? "
                              "scripts/services/<name>.sh start writes its secrets)");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string secret = ss.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' ||
                               secret.back() == ' ' || secret.back() == '\t')) {
      secret.pop_back();
    }
    if (secret.empty()) return Status::Invalid("secret file '" + path + "' is empty", "uri");
    const std::string encoded = PercentEncode(secret);
    out.replace(start, end - start + 1, encoded);
    from = start + encoded.size();
  }
  return out;
}

}  // namespace ctml::store
