// SDTM domain mapping. The rules (and why) are in docs/ingest/sdtm.md.
#include "ctml/ingest/sdtm/domains.h"

#include <cctype>
#include <cmath>
#include <initializer_list>

#include "ctml/core/crypto.h"
#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest::sdtm {
namespace {

// SAS v5 character values are at most 200 bytes; anything far longer is hostile or broken.
constexpr size_t kMaxValueBytes = 1000;

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Trimmed(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

struct EventTime {
  int64_t micros = 0;
  TimePrecision precision = TimePrecision::kSecond;
  std::string variable;  // which variable gave it ("" = time of receipt)
};

class Converter {
 public:
  Converter(std::string_view domain, const Row& row, const ConvertContext& ctx)
      : domain_(domain), row_(row), ctx_(ctx) {}

  bool failed() const { return !reason_.empty(); }
  void Fail(std::string reason, std::string field) {
    if (failed()) return;
    reason_ = std::move(reason);
    field_ = std::move(field);
  }
  RowOutcome Rejected() const { return RowOutcome{std::nullopt, reason_, field_}; }

  // Non-empty trimmed text or nullopt; an over-long value fails the row (INVALID_VALUE).
  std::optional<std::string> Text(const std::string& var) {
    std::string v = Trimmed(row_.String(var));
    if (v.empty()) return std::nullopt;
    if (v.size() > kMaxValueBytes) {
      Fail("INVALID_VALUE", var);
      return std::nullopt;
    }
    return v;
  }
  void PutText(Json& p, const char* key, const std::string& var, bool scrub = false) {
    if (auto v = Text(var)) p[key] = scrub ? privacy::Deidentifier::ScrubText(*v) : *v;
  }
  void PutNumber(Json& p, const char* key, const std::string& var) {
    if (auto v = row_.Number(var)) p[key] = *v;
  }
  // A payload date, shifted per subject with its precision kept; INVALID_DATE when unparseable.
  void PutDate(Json& p, const char* key, const std::string& var) {
    auto v = Text(var);
    if (!v) return;
    auto shifted = ctx_.deid->ShiftDate(usubjid_, *v);
    if (!shifted.ok()) {
      Fail("INVALID_DATE", var);
      return;
    }
    p[key] = *shifted;
  }

  // The first non-empty variable of `vars` gives the event time. A value that is there but
  // not a (partial) ISO-8601 date rejects the row (INVALID_DATE): we never skip a bad date to
  // a later fallback. None given: the time of receipt when `allow_received`, else
  // MISSING_FIELD naming the first variable.
  std::optional<EventTime> ChooseTime(std::initializer_list<std::string> vars,
                                      bool allow_received) {
    for (const std::string& var : vars) {
      auto v = Text(var);
      if (failed()) return std::nullopt;
      if (!v) continue;
      auto t = ParsePartialIso8601(*v);
      if (!t.ok()) {
        Fail("INVALID_DATE", var);
        return std::nullopt;
      }
      return EventTime{t->micros, t->precision, var};
    }
    if (allow_received) return EventTime{ctx_.received_at_us, TimePrecision::kSecond, ""};
    Fail("MISSING_FIELD", *vars.begin());
    return std::nullopt;
  }

  // Fills the envelope; false (with a reason) when the row has no USUBJID.
  bool Begin(const char* event_type, const std::string& seq_var) {
    auto u = Text("USUBJID");
    if (!u) {
      if (!failed()) Fail("MISSING_FIELD", "USUBJID");
      return false;
    }
    usubjid_ = *u;
    ev_.event_type = event_type;
    ev_.source = "sdtm";
    ev_.schema_version = CanonicalEvent::kSchemaVersion;
    ev_.received_at_us = ctx_.deid->ShiftTime(usubjid_, ctx_.received_at_us);
    auto study = Text("STUDYID");
    ev_.study_id = !ctx_.study_override.empty() ? ctx_.study_override : study.value_or("UNKNOWN");
    ev_.site_id = "UNKNOWN";
    if (ctx_.sites) {
      auto it = ctx_.sites->find(usubjid_);
      if (it != ctx_.sites->end() && !it->second.empty()) ev_.site_id = it->second;
    }
    ev_.subject_key = ctx_.deid->SubjectKey(usubjid_);
    std::string seq;
    if (seq_var.empty()) {
      seq = "DM";
    } else if (auto s = Text(seq_var)) {
      seq = *s;
    } else {
      // No --SEQ: the row's content identifies it, so a re-send still dedupes.
      std::string all;
      for (const std::string& n : row_.names()) {
        all += row_.String(n);
        all += '\x1f';
      }
      seq = "row:" + HexEncode(Sha256(all)).substr(0, 32);
    }
    // Keyed by the pseudonym, not USUBJID: an unkeyed hash of a small id space is reversible.
    ev_.event_id = SdtmEventId(study.value_or(ev_.study_id), domain_, ev_.subject_key, seq);
    return !failed();
  }

  RowOutcome Finish(Json payload, const EventTime& t) {
    if (failed()) return Rejected();
    payload["precision"] = PrecisionName(t.precision);
    ev_.event_time_us = ctx_.deid->ShiftTime(usubjid_, t.micros);
    ev_.payload_json = payload.dump(-1, ' ', false, Json::error_handler_t::replace);
    return RowOutcome{std::move(ev_), {}, {}};
  }

  const std::string& usubjid() const { return usubjid_; }
  CanonicalEvent& event() { return ev_; }
  const Row& row() const { return row_; }

 private:
  std::string domain_;
  const Row& row_;
  const ConvertContext& ctx_;
  CanonicalEvent ev_;
  std::string usubjid_;
  std::string reason_, field_;
};

// Value + original text of a --ORRES result: number when the whole text is one, else null.
void PutResult(Converter& c, Json& p, const std::string& var) {
  auto text = c.Text(var);
  if (text) {
    auto num = ParseNumber(*text);
    p["value"] = num ? Json(*num) : Json(nullptr);
    p["value_text"] = *text;
  } else {
    p["value"] = nullptr;
  }
}

void PutVisit(Converter& c, Json& p) {
  c.PutText(p, "visit", "VISIT");
  c.PutNumber(p, "visit_num", "VISITNUM");
}

RowOutcome ConvertDm(Converter& c) {
  if (!c.Begin("demographics", "")) return c.Rejected();
  // Enrollment (reference start) first; screen failures have none and get the informed-consent
  // date, then the date demographics were collected, then the time of receipt.
  auto t = c.ChooseTime({"RFSTDTC", "RFICDTC", "DMDTC"}, /*allow_received=*/true);
  if (!t) return c.Rejected();
  // SITEID of the DM row itself (the map is built from it).
  if (auto site = c.Text("SITEID")) c.event().site_id = *site;
  Json p = Json::object();
  std::optional<double> age = c.row().Number("AGE");
  std::string unit = Upper(c.Text("AGEU").value_or(""));
  if (!age) {
    // Birth date -> age at the event time; the birth date itself is never kept.
    if (auto b = c.Text("BRTHDTC")) {
      auto birth = ParsePartialIso8601(*b);
      if (birth.ok()) {
        int years = privacy::AgeAt(birth->micros, t->micros);
        if (years >= 0) {
          age = years;
          unit = "YEARS";
        }
      }
    }
  }
  if (age && *age >= 0) {
    double per_year = unit == "MONTHS"  ? 12
                      : unit == "WEEKS" ? 52.1775
                      : unit == "DAYS"  ? 365.25
                                        : 1;
    double years = *age / per_year;
    if (years > 89) {
      p["age"] = privacy::Deidentifier::CapAge(static_cast<int>(std::floor(years)));
      p["age_unit"] = "YEARS";
      p["age_capped"] = true;
    } else {
      p["age"] = per_year == 1 ? Json(static_cast<int>(std::floor(*age))) : Json(*age);
      if (!unit.empty()) p["age_unit"] = unit;
    }
  }
  if (auto sex = c.Text("SEX")) {
    p["sex"] = *sex;
    std::string s = Upper(*sex);
    if (s == "F") p["gender"] = "female";
    if (s == "M") p["gender"] = "male";
    if (s == "U") p["gender"] = "unknown";
  }
  c.PutText(p, "race", "RACE");
  c.PutText(p, "ethnicity", "ETHNIC");
  c.PutText(p, "arm", "ARM");
  c.PutText(p, "arm_code", "ARMCD");
  c.PutText(p, "country", "COUNTRY");
  c.PutDate(p, "enrollment_date", "RFSTDTC");
  if (c.row().Has("DTHFL")) p["deceased"] = Upper(c.Text("DTHFL").value_or("")) == "Y";
  return c.Finish(std::move(p), *t);
}

RowOutcome ConvertVs(Converter& c) {
  if (!c.Begin("vital_signs", "VSSEQ")) return c.Rejected();
  auto test = c.Text("VSTESTCD");
  if (!test) {
    c.Fail("MISSING_FIELD", "VSTESTCD");
    return c.Rejected();
  }
  auto t = c.ChooseTime({"VSDTC"}, false);
  if (!t) return c.Rejected();
  Json m = {{"test", *test}, {"code_system", "SDTM"}};
  PutResult(c, m, "VSORRES");
  c.PutText(m, "unit", "VSORRESU");
  Json p = {{"measurements", Json::array({m})}};
  c.PutText(p, "position", "VSPOS");
  c.PutText(p, "location", "VSLOC");
  c.PutText(p, "timepoint", "VSTPT");
  PutVisit(c, p);
  return c.Finish(std::move(p), *t);
}

RowOutcome ConvertLb(Converter& c) {
  if (!c.Begin("lab_result", "LBSEQ")) return c.Rejected();
  auto test = c.Text("LBTESTCD");
  if (!test) {
    c.Fail("MISSING_FIELD", "LBTESTCD");
    return c.Rejected();
  }
  auto t = c.ChooseTime({"LBDTC"}, false);
  if (!t) return c.Rejected();
  Json p = {{"test", *test}, {"code_system", "SDTM"}};
  c.PutText(p, "test_name", "LBTEST");
  c.PutText(p, "loinc", "LBLOINC");
  PutResult(c, p, "LBORRES");
  c.PutText(p, "unit", "LBORRESU");
  auto lo = c.Text("LBORNRLO"), hi = c.Text("LBORNRHI");
  if (lo) {
    if (auto v = ParseNumber(*lo)) p["ref_low"] = *v;
  }
  if (hi) {
    if (auto v = ParseNumber(*hi)) p["ref_high"] = *v;
  }
  if (lo && hi) {
    p["ref_text"] = *lo + "-" + *hi;
  } else if (lo) {
    p["ref_text"] = ">=" + *lo;
  } else if (hi) {
    p["ref_text"] = "<=" + *hi;
  }
  if (auto flag = c.Text("LBNRIND")) {
    p["abnormal_flag"] = *flag;
    std::string f = Upper(*flag);
    if (f == "NORMAL" || f == "N") {
      p["is_abnormal"] = false;
    } else if (f == "HIGH" || f == "LOW" || f == "ABNORMAL" || f == "H" || f == "L" || f == "A" ||
               f == "HH" || f == "LL" || f == "AA") {
      p["is_abnormal"] = true;
    }
  }
  c.PutText(p, "category", "LBCAT");
  c.PutText(p, "specimen", "LBSPEC");
  c.PutText(p, "status", "LBSTAT");
  PutVisit(c, p);
  return c.Finish(std::move(p), *t);
}

RowOutcome ConvertAe(Converter& c) {
  if (!c.Begin("adverse_event", "AESEQ")) return c.Rejected();
  // No start date: the date the AE was recorded (it was known by then).
  auto t = c.ChooseTime({"AESTDTC", "AEDTC"}, false);
  if (!t) return c.Rejected();
  Json p = Json::object();
  c.PutText(p, "term", "AETERM", /*scrub=*/true);
  c.PutText(p, "decod", "AEDECOD");
  c.PutText(p, "body_system", "AEBODSYS");
  std::optional<int> grade;
  if (auto g = c.row().Number("AETOXGR"); g && *g >= 1 && *g <= 5) grade = static_cast<int>(*g);
  std::string sev = Upper(c.Text("AESEV").value_or(""));
  if (sev == "MILD" || sev == "MODERATE" || sev == "SEVERE") {
    p["severity"] = sev;
  } else if (!sev.empty()) {
    p["severity"] = *c.Text("AESEV");
  } else if (grade) {
    p["severity"] = *grade == 1 ? "MILD" : *grade == 2 ? "MODERATE" : "SEVERE";
  }
  if (grade) p["grade"] = *grade;
  if (auto ser = c.Text("AESER")) p["serious"] = Upper(*ser) == "Y";
  if (grade && *grade >= 4) p["serious"] = true;
  if (auto rel = c.Text("AEREL")) {
    p["related"] = *rel;
    std::string r = Upper(*rel);
    for (const char* yes : {"Y", "YES", "RELATED", "PROBABLE", "POSSIBLE", "DEFINITE",
                            "PROBABLY RELATED", "POSSIBLY RELATED", "DEFINITELY RELATED"}) {
      if (r == yes) p["related_to_study_drug"] = true;
    }
    for (const char* no : {"N", "NO", "NONE", "NOT RELATED", "UNRELATED", "UNLIKELY", "REMOTE",
                           "UNLIKELY RELATED"}) {
      if (r == no) p["related_to_study_drug"] = false;
    }
  }
  c.PutText(p, "action_taken", "AEACN");
  c.PutText(p, "outcome", "AEOUT");
  c.PutDate(p, "start_date", "AESTDTC");
  c.PutDate(p, "end_date", "AEENDTC");
  return c.Finish(std::move(p), *t);
}

RowOutcome ConvertDs(Converter& c) {
  if (!c.Begin("disposition", "DSSEQ")) return c.Rejected();
  auto t = c.ChooseTime({"DSSTDTC", "DSDTC"}, false);
  if (!t) return c.Rejected();
  Json p = Json::object();
  c.PutText(p, "term", "DSTERM", /*scrub=*/true);
  c.PutText(p, "decod", "DSDECOD");
  c.PutText(p, "category", "DSCAT");
  c.PutText(p, "epoch", "EPOCH");
  PutVisit(c, p);
  return c.Finish(std::move(p), *t);
}

RowOutcome ConvertEx(Converter& c) {
  if (!c.Begin("exposure", "EXSEQ")) return c.Rejected();
  auto t = c.ChooseTime({"EXSTDTC"}, false);
  if (!t) return c.Rejected();
  Json p = Json::object();
  c.PutText(p, "treatment", "EXTRT");
  c.PutNumber(p, "dose", "EXDOSE");
  c.PutText(p, "dose_unit", "EXDOSU");
  c.PutText(p, "route", "EXROUTE");
  c.PutText(p, "frequency", "EXDOSFRQ");
  c.PutDate(p, "start_date", "EXSTDTC");
  c.PutDate(p, "end_date", "EXENDTC");
  PutVisit(c, p);
  return c.Finish(std::move(p), *t);
}

RowOutcome ConvertCm(Converter& c) {
  if (!c.Begin("medication", "CMSEQ")) return c.Rejected();
  // No start date: the date the medication was recorded (CMDTC); start_date stays absent.
  auto t = c.ChooseTime({"CMSTDTC", "CMDTC"}, false);
  if (!t) return c.Rejected();
  Json p = Json::object();
  c.PutText(p, "name", "CMTRT");
  c.PutText(p, "decod", "CMDECOD");
  c.PutNumber(p, "dose", "CMDOSE");
  if (c.row().Has("CMDOSTXT") && c.Text("CMDOSTXT")) {
    c.PutText(p, "dose_text", "CMDOSTXT");
  } else {
    c.PutText(p, "dose_text", "CMDOSE");
  }
  c.PutText(p, "dose_unit", "CMDOSU");
  c.PutText(p, "route", "CMROUTE");
  c.PutText(p, "frequency", "CMDOSFRQ");
  c.PutText(p, "indication", "CMINDC", /*scrub=*/true);
  p["category"] = "concomitant";
  c.PutDate(p, "start_date", "CMSTDTC");
  c.PutDate(p, "end_date", "CMENDTC");
  // The pilot records a medication again at every visit: the visit keeps those records apart.
  PutVisit(c, p);
  return c.Finish(std::move(p), *t);
}

}  // namespace

bool IsSupportedDomain(std::string_view domain) {
  for (const char* d : {"DM", "VS", "LB", "AE", "DS", "EX", "CM"}) {
    if (domain == d) return true;
  }
  return false;
}

std::optional<std::string> DomainForFile(std::string_view filename) {
  size_t slash = filename.find_last_of('/');
  if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
  size_t dot = filename.find_last_of('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string ext = Upper(filename.substr(dot + 1));
  if (ext != "XPT" && ext != "CSV") return std::nullopt;
  std::string stem = Upper(filename.substr(0, dot));
  if (IsSupportedDomain(stem)) return stem;
  // Split LB datasets (lbch, lbhe, lbur, ...): LB followed by letters/digits only.
  if (stem.size() > 2 && stem.size() <= 8 && stem.compare(0, 2, "LB") == 0) {
    for (char ch : stem) {
      if (!std::isalnum(static_cast<unsigned char>(ch))) return std::nullopt;
    }
    return std::string("LB");
  }
  return std::nullopt;
}

std::string SdtmEventId(std::string_view study, std::string_view domain,
                        std::string_view subject_key, std::string_view seq) {
  std::string key;
  key.reserve(study.size() + domain.size() + subject_key.size() + seq.size() + 3);
  key.append(study)
      .append("/")
      .append(domain)
      .append("/")
      .append(subject_key)
      .append("/")
      .append(seq);
  return "sdtm-" + HexEncode(Sha256(key)).substr(0, 32);
}

RowOutcome ConvertRow(std::string_view domain, const Row& row, const ConvertContext& ctx) {
  if (!ctx.deid) return RowOutcome{std::nullopt, "INTERNAL", "deidentifier"};
  Converter c(domain, row, ctx);
  if (domain == "DM") return ConvertDm(c);
  if (domain == "VS") return ConvertVs(c);
  if (domain == "LB") return ConvertLb(c);
  if (domain == "AE") return ConvertAe(c);
  if (domain == "DS") return ConvertDs(c);
  if (domain == "EX") return ConvertEx(c);
  if (domain == "CM") return ConvertCm(c);
  return RowOutcome{std::nullopt, "UNSUPPORTED_DOMAIN", std::string(domain)};
}

}  // namespace ctml::ingest::sdtm
