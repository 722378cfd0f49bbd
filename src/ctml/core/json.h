// JSON helpers on nlohmann::json: bounded parsing and the platform's error body.
// Include only from .cc files: nlohmann/json.hpp is heavy.
//
//   CTML_ASSIGN_OR_RETURN(auto doc, ctml::ParseJson(body, /*max_depth=*/32));
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ctml/core/status.h"

namespace ctml {

using Json = nlohmann::json;

// Parses `text`; fails with kInvalid on malformed JSON or nesting deeper than `max_depth`.
Result<Json> ParseJson(std::string_view text, int max_depth = 32);

// {"error":{"code":..., "message":..., "field":...}}
std::string ErrorBody(const Status& status);
std::string ErrorBody(std::string_view code, std::string_view message, std::string_view field);

}  // namespace ctml
