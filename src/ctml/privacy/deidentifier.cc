#include "ctml/privacy/deidentifier.h"

#include <cstdlib>
#include <regex>

#include "ctml/core/crypto.h"
#include "ctml/core/time.h"

namespace ctml::privacy {
namespace {

// 3-digit ZIP prefixes whose areas hold 20,000 people or fewer (HHS Safe Harbor guidance,
// 2000 census): they must be written as "000".
constexpr const char* kRestrictedZip3[] = {"036", "059", "063", "102", "203", "556",
                                           "692", "790", "821", "823", "830", "831",
                                           "878", "879", "884", "890", "893"};

constexpr char kShiftKeyLabel[] = "ctml date-shift key v1";

}  // namespace

Result<Policy> ParsePolicy(std::string_view name) {
  if (name.empty() || name == "safe_harbor") return Policy::kSafeHarbor;
  if (name == "limited_dataset") return Policy::kLimitedDataset;
  return Status::Invalid("privacy.policy must be safe_harbor or limited_dataset", "privacy.policy");
}

const char* PolicyName(Policy p) {
  return p == Policy::kSafeHarbor ? "safe_harbor" : "limited_dataset";
}

Deidentifier::Deidentifier(Pseudonymizer pseudonymizer, std::string date_shift_key, Policy policy)
    : pseudonymizer_(std::move(pseudonymizer)),
      date_shift_key_(std::move(date_shift_key)),
      policy_(policy) {}

Result<Deidentifier> Deidentifier::FromConfig(const Config& cfg) {
  std::string path = cfg.GetString("privacy.key_file");
  if (const char* env = std::getenv("CTML_PRIVACY_KEY_FILE"); env && *env) path = env;
  CTML_ASSIGN_OR_RETURN(std::string key, LoadOrCreateKey(path));
  CTML_ASSIGN_OR_RETURN(Policy policy, ParsePolicy(cfg.GetString("privacy.policy", "safe_harbor")));
  // The date-shift key is derived from the pseudonym key, so one secret file serves both while
  // a pseudonym never reveals a shift.
  std::string shift_key = HmacSha256(key, kShiftKeyLabel);
  return Deidentifier(Pseudonymizer(std::move(key)), std::move(shift_key), policy);
}

std::string Deidentifier::SubjectKey(std::string_view subject_id) const {
  return pseudonymizer_.SubjectKey(subject_id);
}

int Deidentifier::ShiftDays(std::string_view subject_id) const {
  if (policy_ == Policy::kLimitedDataset) return 0;
  std::string mac = HmacSha256(date_shift_key_, subject_id);
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(mac[i]);
  return 1 + static_cast<int>(v % 365);
}

int64_t Deidentifier::ShiftTime(std::string_view subject_id, int64_t t_us) const {
  return t_us - static_cast<int64_t>(ShiftDays(subject_id)) * kMicrosPerDay;
}

Result<std::string> Deidentifier::ShiftDate(std::string_view subject_id,
                                            std::string_view iso) const {
  CTML_ASSIGN_OR_RETURN(PartialTime t, ParsePartialIso8601(iso));
  if (policy_ == Policy::kLimitedDataset) return std::string(iso);
  return FormatPartial(ShiftTime(subject_id, t.micros), t.precision);
}

std::string Deidentifier::ScrubText(std::string_view text) {
  // std::regex is slow but free text here is short (AE terms, indications); correctness and
  // readability of the patterns matter more than speed on this path.
  static const std::regex kPatterns[] = {
      std::regex(R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"),
      std::regex(R"(\b\d{3}-\d{2}-\d{4}\b)"),
      std::regex(
          R"(\b(MRN|mrn|Mrn|medical record( number)?|Medical Record( Number)?)\s*[:#]?\s*[A-Za-z0-9-]+)"),
      std::regex(R"((\+\d{1,3}[\s.-]?)?\(?\b\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}\b)"),
      std::regex(R"(\+\d[\d\s-]{7,}\d)"),
      std::regex(R"(\b\d{6,}\b)"),
  };
  // Dates in free text would carry the real (unshifted) date and so reveal the subject's offset.
  static const std::regex kDates[] = {
      std::regex(
          R"(\b\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?\b)"),
      std::regex(R"(\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b)"),
      std::regex(
          R"(\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}(st|nd|rd|th)?,?\s+\d{4}\b)",
          std::regex::icase),
      std::regex(
          R"(\b\d{1,2}(st|nd|rd|th)?\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?,?\s+\d{4}\b)",
          std::regex::icase),
  };
  std::string out(text);
  for (const auto& re : kDates) out = std::regex_replace(out, re, "[DATE]");
  for (const auto& re : kPatterns) out = std::regex_replace(out, re, "[REDACTED]");
  return out;
}

int Deidentifier::CapAge(int age_years) { return age_years > 89 ? 90 : age_years; }

std::optional<std::string> Deidentifier::Zip(std::string_view zip) const {
  std::string digits;
  for (char c : zip) {
    if (c >= '0' && c <= '9') digits += c;
    if (c == '-') break;  // ZIP+4
  }
  if (digits.size() < 3) return std::nullopt;
  if (policy_ == Policy::kLimitedDataset && digits.size() >= 5) return digits.substr(0, 5);
  std::string zip3 = digits.substr(0, 3);
  for (const char* r : kRestrictedZip3) {
    if (zip3 == r) return std::string("000");
  }
  return zip3;
}

int AgeAt(int64_t birth_us, int64_t at_us) {
  if (birth_us > at_us) return -1;
  std::string b = FormatDate(birth_us), a = FormatDate(at_us);  // YYYY-MM-DD
  int age = std::stoi(a.substr(0, 4)) - std::stoi(b.substr(0, 4));
  if (a.substr(5) < b.substr(5)) --age;  // birthday not reached yet this year
  return age;
}

}  // namespace ctml::privacy
