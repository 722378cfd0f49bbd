// Status and Result<T>: errors as values across module boundaries (Arrow's style).
//
//   ctml::Result<int> ParsePort(std::string_view s);
//   CTML_ASSIGN_OR_RETURN(int port, ParsePort(text));
//   if (port == 0) return ctml::Status::Invalid("port must be > 0", "gateway.port");
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ctml {

enum class StatusCode {
  kOk = 0,
  kInvalid,  // bad input: names the offending field when there is one
  kNotFound,
  kAlreadyExists,
  kIOError,
  kUnavailable,         // a dependency (store, service) cannot be reached now; retry later
  kFailedPrecondition,  // the system is not in a state where the call makes sense
  kPayloadTooLarge,
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::string field = {})
      : code_(code), message_(std::move(message)), field_(std::move(field)) {}

  static Status OK() { return {}; }
  static Status Invalid(std::string msg, std::string field = {}) {
    return {StatusCode::kInvalid, std::move(msg), std::move(field)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {StatusCode::kAlreadyExists, std::move(msg)};
  }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, std::move(msg)};
  }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status PayloadTooLarge(std::string msg) {
    return {StatusCode::kPayloadTooLarge, std::move(msg)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // The input field the error is about ("vital_signs.heart_rate"), empty when not about a field.
  const std::string& field() const { return field_; }
  std::string ToString() const;
  // Returns a copy with `context: ` prefixed to the message.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string field_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result constructed from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  T ValueOr(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ctml

#define CTML_CONCAT_IMPL(a, b) a##b
#define CTML_CONCAT(a, b) CTML_CONCAT_IMPL(a, b)

#define CTML_RETURN_NOT_OK(expr) \
  do {                           \
    ::ctml::Status _st = (expr); \
    if (!_st.ok()) return _st;   \
  } while (false)

#define CTML_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#define CTML_ASSIGN_OR_RETURN(lhs, rexpr) \
  CTML_ASSIGN_OR_RETURN_IMPL(CTML_CONCAT(_res_, __LINE__), lhs, rexpr)
