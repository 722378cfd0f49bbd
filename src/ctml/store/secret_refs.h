// Secrets in store URIs: `${file:/abs/path}` stands for the content of a file (trimmed, then
// percent-encoded so any character is safe inside a URI's user info or query). The config keeps
// the reference (core/config.h), so the secret only exists in memory, for the adapter.
//
//   // meta.uri: postgresql://ctml:${file:var/services/postgres/password}@127.0.0.1:15432/ctml
//   CTML_ASSIGN_OR_RETURN(std::string uri, ResolveSecretRefs(cfg.GetString("meta.uri")));
#pragma once

#include <string>

#include "ctml/core/status.h"

namespace ctml::store {

// Replaces every ${file:PATH} by the file's content. NotFound naming the file (never its content)
// when it cannot be read, e.g. before the service that writes it has started.
Result<std::string> ResolveSecretRefs(const std::string& uri);

}  // namespace ctml::store
