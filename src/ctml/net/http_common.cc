#include <cctype>

#include "ctml/core/json.h"
#include "ctml/core/url.h"
#include "ctml/net/http.h"
#include "ctml/net/http_internal.h"

namespace ctml::net {
namespace internal {

void SplitTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query) {
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  size_t hash = raw_path.find('#');
  if (hash != std::string_view::npos) raw_path = raw_path.substr(0, hash);
  *path = *PercentDecode(raw_path);
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key = *PercentDecode(pair.substr(0, eq), {.plus_is_space = true});
    std::string value = eq == std::string_view::npos
                            ? std::string()
                            : *PercentDecode(pair.substr(eq + 1), {.plus_is_space = true});
    (*query)[std::move(key)] = std::move(value);
  }
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace internal

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Error(const Status& status) {
  int http = 500;
  switch (status.code()) {
    case StatusCode::kInvalid:
      http = 400;
      break;
    case StatusCode::kNotFound:
      http = 404;
      break;
    case StatusCode::kFailedPrecondition:
      http = 409;
      break;
    case StatusCode::kPayloadTooLarge:
      http = 413;
      break;
    case StatusCode::kUnavailable:
      http = 503;
      break;
    default:
      http = 500;
      break;
  }
  return Json(http, ErrorBody(status));
}

HttpResponse HttpResponse::Error(int http_status, const std::string& code,
                                 const std::string& message, const std::string& field) {
  return Json(http_status, ErrorBody(code, message, field));
}

}  // namespace ctml::net
