#include "ctml/core/json.h"

namespace ctml {

Result<Json> ParseJson(std::string_view text, int max_depth) {
  bool too_deep = false;
  auto cb = [&](int depth, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= max_depth) {
      too_deep = true;
      return false;
    }
    return true;
  };
  Json doc = Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (too_deep) {
    return Status::Invalid("JSON nesting deeper than " + std::to_string(max_depth) + " levels");
  }
  if (doc.is_discarded()) return Status::Invalid("malformed JSON body");
  return doc;
}

std::string ErrorBody(std::string_view code, std::string_view message, std::string_view field) {
  Json err = {{"code", code}, {"message", message}};
  err["field"] = field.empty() ? Json(nullptr) : Json(field);
  return Json{{"error", err}}.dump();
}

std::string ErrorBody(const Status& status) {
  return ErrorBody(StatusCodeName(status.code()), status.message(), status.field());
}

}  // namespace ctml
