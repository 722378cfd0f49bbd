// Private helpers shared by http_server.cc, http_client.cc and the tests (no Boost here).
//
//   std::string path;
//   std::map<std::string, std::string> query;
//   ctml::net::internal::SplitTarget("/v1/x?a=1&b=%20", &path, &query);
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace ctml::net::internal {

// Splits a request target into its decoded path and decoded query parameters. A key without
// '=' maps to ""; a repeated key keeps its last value.
void SplitTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query);

// ASCII lower-casing for header names.
std::string ToLower(std::string_view s);

}  // namespace ctml::net::internal
