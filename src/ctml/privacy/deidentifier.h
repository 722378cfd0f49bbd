// De-identification at the edge (DESIGN.md section 8, docs/data/canonical-events.md): one
// object every ingestion path uses to turn a source subject identifier into a pseudonym, shift
// that subject's dates, reduce quasi-identifiers and scrub free text.
//
//   CTML_ASSIGN_OR_RETURN(auto deid, ctml::privacy::Deidentifier::FromConfig(cfg));
//   ev.subject_key   = deid.SubjectKey(usubjid);
//   ev.event_time_us = deid.ShiftTime(usubjid, t_us);          // safe_harbor: moved back
//   payload["start_date"] = deid.ShiftDate(usubjid, "2014-01-03");
//   payload["term"]  = deid.ScrubText(free_text);
//   payload["age"]   = deid.CapAge(AgeAt(birth_us, t_us));     // > 89 -> 90
//   payload["zip3"]  = deid.Zip(zip);                          // "021" / "000"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ctml/core/config.h"
#include "ctml/core/status.h"
#include "ctml/privacy/pseudonymizer.h"

namespace ctml::privacy {

enum class Policy { kSafeHarbor, kLimitedDataset };

Result<Policy> ParsePolicy(std::string_view name);  // "safe_harbor" | "limited_dataset"
const char* PolicyName(Policy p);

class Deidentifier {
 public:
  Deidentifier(Pseudonymizer pseudonymizer, std::string date_shift_key, Policy policy);
  // Key file from privacy.key_file (created when absent), policy from privacy.policy
  // (default safe_harbor).
  static Result<Deidentifier> FromConfig(const Config& cfg);

  Policy policy() const { return policy_; }

  // base32(HMAC-SHA256(key, subject_id))[:26]
  std::string SubjectKey(std::string_view subject_id) const;

  // Whole days this subject's dates move back under safe_harbor (1..365); 0 under
  // limited_dataset. Deterministic: the same subject gets the same offset from every source.
  int ShiftDays(std::string_view subject_id) const;
  // t - ShiftDays(subject) days.
  int64_t ShiftTime(std::string_view subject_id, int64_t t_us) const;
  // Shifts an ISO-8601 date or date-time string (full or partial: "2014", "2014-03",
  // "2014-03-05", "2014-03-05T10:30", with or without zone). Keeps the given precision:
  // a partial date is shifted from the start of its period and printed with the same number of
  // components. Invalid input gives Status::Invalid.
  Result<std::string> ShiftDate(std::string_view subject_id, std::string_view iso) const;

  // Replaces dates (ISO, d/m/y, "March 5, 2014", "5 Mar 2014") with "[DATE]" and phone numbers,
  // e-mail addresses, SSN-like (ddd-dd-dddd) and MRN-like (6+ digit runs, "MRN: ..." tokens)
  // numbers with "[REDACTED]". Other text is kept (personal names are not detected).
  static std::string ScrubText(std::string_view text);
  // Ages above 89 become 90 (HIPAA Safe Harbor); negative ages are returned unchanged.
  static int CapAge(int age_years);
  // ZIP code reduced to its first 3 digits ("000" for restricted prefixes) under safe_harbor;
  // the 5-digit ZIP under limited_dataset. Returns nullopt when `zip` has fewer than 3 digits.
  std::optional<std::string> Zip(std::string_view zip) const;

 private:
  Pseudonymizer pseudonymizer_;
  std::string date_shift_key_;
  Policy policy_;
};

// Whole years between a birth instant and `at` (both UTC µs); -1 when birth is after `at`.
int AgeAt(int64_t birth_us, int64_t at_us);

}  // namespace ctml::privacy
