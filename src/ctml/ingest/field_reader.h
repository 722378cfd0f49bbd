// Typed, path-naming access to the fields of one JSON object of an incoming message: every
// failure is Status::Invalid(message, "<prefix>.<field>") and never echoes the value (it may be
// PHI). Used by the gateway envelope and the existing stack's Kafka payloads.
//
//   FieldReader r(doc["lab_result"], "lab_result");
//   CTML_ASSIGN_OR_RETURN(std::string test, r.String("test_type", 128));
//   CTML_ASSIGN_OR_RETURN(double v, r.Number("result_value"));
//   CTML_ASSIGN_OR_RETURN(auto end, r.OptionalString("end_date", 40));
//   CTML_RETURN_NOT_OK(r.NoOtherFields());
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>

#include "ctml/core/json.h"
#include "ctml/core/status.h"
#include "ctml/core/time.h"

namespace ctml::ingest {

class FieldReader {
 public:
  // `obj` must outlive the reader. A non-object gives an error on the first access.
  FieldReader(const Json& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

  Status RequireObject() const;
  bool Has(const char* name) const;

  Result<std::string> String(const char* name, size_t max_len);
  Result<std::optional<std::string>> OptionalString(const char* name, size_t max_len);
  // A string that must be one of `allowed` (exact match).
  Result<std::string> Enum(const char* name, std::initializer_list<const char*> allowed);
  Result<double> Number(const char* name, double min, double max);
  Result<std::optional<double>> OptionalNumber(const char* name, double min, double max);
  Result<std::optional<bool>> OptionalBool(const char* name);
  // An ISO-8601 date or date-time (partial dates allowed when `partial`), not later than
  // `not_after_us` (pass INT64_MAX for no bound).
  Result<PartialTime> Time(const char* name, int64_t not_after_us, bool partial = false);
  Result<std::optional<PartialTime>> OptionalTime(const char* name, int64_t not_after_us,
                                                  bool partial = false);
  // Marks a field as known without reading it.
  void Allow(const char* name) { seen_.insert(name); }
  // Fails naming the first field that no accessor asked for.
  Status NoOtherFields() const;

  std::string Path(const char* name) const { return prefix_.empty() ? name : prefix_ + "." + name; }

 private:
  const Json* Find(const char* name);
  const Json& obj_;
  std::string prefix_;
  std::set<std::string> seen_;
};

}  // namespace ctml::ingest
