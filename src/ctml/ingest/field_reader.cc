#include "ctml/ingest/field_reader.h"

#include <cctype>
#include <cmath>

namespace ctml::ingest {

Status FieldReader::RequireObject() const {
  if (!obj_.is_object()) return Status::Invalid(prefix_ + " must be an object", prefix_);
  return Status::OK();
}

bool FieldReader::Has(const char* name) const {
  return obj_.is_object() && obj_.contains(name) && !obj_[name].is_null();
}

const Json* FieldReader::Find(const char* name) {
  seen_.insert(name);
  if (!obj_.is_object()) return nullptr;
  auto it = obj_.find(name);
  if (it == obj_.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::optional<std::string>> FieldReader::OptionalString(const char* name, size_t max_len) {
  CTML_RETURN_NOT_OK(RequireObject());
  const Json* v = Find(name);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return Status::Invalid(std::string(name) + " must be a string", Path(name));
  const std::string& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) {
    return Status::Invalid(
        std::string(name) + " is longer than " + std::to_string(max_len) + " characters",
        Path(name));
  }
  return std::optional<std::string>(s);
}

Result<std::string> FieldReader::String(const char* name, size_t max_len) {
  CTML_ASSIGN_OR_RETURN(auto s, OptionalString(name, max_len));
  if (!s || s->empty()) return Status::Invalid(std::string(name) + " is required", Path(name));
  return *s;
}

Result<std::string> FieldReader::Enum(const char* name,
                                      std::initializer_list<const char*> allowed) {
  CTML_ASSIGN_OR_RETURN(std::string s, String(name, 64));
  std::string list;
  for (const char* a : allowed) {
    if (s == a) return s;
    list += (list.empty() ? "" : "|") + std::string(a);
  }
  return Status::Invalid(std::string(name) + " must be one of " + list, Path(name));
}

Result<std::optional<double>> FieldReader::OptionalNumber(const char* name, double min,
                                                          double max) {
  CTML_RETURN_NOT_OK(RequireObject());
  const Json* v = Find(name);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return Status::Invalid(std::string(name) + " must be a number", Path(name));
  double d = v->get<double>();
  if (!std::isfinite(d) || d < min || d > max) {
    return Status::Invalid(
        std::string(name) + " is out of range [" + Json(min).dump() + ", " + Json(max).dump() + "]",
        Path(name));
  }
  return std::optional<double>(d);
}

Result<double> FieldReader::Number(const char* name, double min, double max) {
  CTML_ASSIGN_OR_RETURN(auto d, OptionalNumber(name, min, max));
  if (!d) return Status::Invalid(std::string(name) + " is required", Path(name));
  return *d;
}

Result<std::optional<bool>> FieldReader::OptionalBool(const char* name) {
  CTML_RETURN_NOT_OK(RequireObject());
  const Json* v = Find(name);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) {
    return Status::Invalid(std::string(name) + " must be true or false", Path(name));
  }
  return std::optional<bool>(v->get<bool>());
}

Result<std::optional<PartialTime>> FieldReader::OptionalTime(const char* name, int64_t not_after_us,
                                                             bool partial) {
  CTML_ASSIGN_OR_RETURN(auto s, OptionalString(name, 64));
  if (!s) return std::optional<PartialTime>();
  Result<PartialTime> t = partial ? ParsePartialIso8601(*s) : Result<PartialTime>(Status::OK());
  if (!partial) {
    auto full = ParseIso8601(*s);
    if (!full.ok())
      return Status::Invalid(std::string(name) + " is not an ISO-8601 time", Path(name));
    t = ParsePartialIso8601(*s);
    if (!t.ok()) t = PartialTime{*full, TimePrecision::kSecond};
  }
  if (!t.ok()) return Status::Invalid(std::string(name) + " is not an ISO-8601 time", Path(name));
  if (t->micros > not_after_us) {
    return Status::Invalid(std::string(name) + " is in the future", Path(name));
  }
  return std::optional<PartialTime>(*t);
}

Result<PartialTime> FieldReader::Time(const char* name, int64_t not_after_us, bool partial) {
  CTML_ASSIGN_OR_RETURN(auto t, OptionalTime(name, not_after_us, partial));
  if (!t) return Status::Invalid(std::string(name) + " is required (ISO-8601)", Path(name));
  return *t;
}

Status FieldReader::NoOtherFields() const {
  CTML_RETURN_NOT_OK(RequireObject());
  for (const auto& [k, v] : obj_.items()) {
    if (seen_.count(k)) continue;
    // Echo the name only when it is a plain identifier: a name may be anything (invalid UTF-8
    // would break the JSON error body, a long one would flood the log).
    bool plain = !k.empty() && k.size() <= 64;
    for (char c : k) {
      plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
    }
    std::string name = plain ? k : std::string("?");
    return Status::Invalid("unknown field '" + name + "'", Path(name.c_str()));
  }
  return Status::OK();
}

}  // namespace ctml::ingest
