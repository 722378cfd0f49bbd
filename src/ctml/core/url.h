// Percent-encoding of URL components (RFC 3986), shared by the HTTP server, the MLflow client and
// the store URIs.
//
//   ctml::PercentEncode("name='a b'") == "name%3D%27a%20b%27"
//   ctml::PercentDecode("a%20b+c", {.plus_is_space = true}) == "a b c"
//   ctml::PercentDecode("%zz", {.strict = true}) == std::nullopt
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ctml {

// Escapes every byte but the unreserved characters (ALPHA DIGIT - . _ ~) as %XX.
std::string PercentEncode(std::string_view s);

struct PercentDecodeOptions {
  bool plus_is_space = false;  // '+' means ' ' (query strings, form bodies)
  bool strict = false;         // a malformed escape fails the call instead of staying verbatim
};

// Decodes %XX escapes (either case of hex digit). nullopt only when `strict` and an escape is
// malformed ("%", "%4", "%zz").
std::optional<std::string> PercentDecode(std::string_view in, PercentDecodeOptions options = {});

}  // namespace ctml
