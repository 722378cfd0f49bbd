#include "ctml/process/silver_rows.h"

#include <climits>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/process/standards.h"

// Header-only xxHash (vendored by Arrow): a fast, stable 64-bit hash for natural keys, which are
// written to Silver (dedupe_key) and read back, so std::hash (unspecified) will not do.
#define XXH_INLINE_ALL
#include "arrow/vendored/xxhash/xxhash.h"

namespace ctml::process {
namespace {

using CT = ColumnType;

constexpr int kPayloadDepth = 64;  // as CanonicalEvent::FromJson, so every path agrees
constexpr int64_t kMinEventTimeUs = -2208988800LL * 1000000;  // 1900-01-01
constexpr int64_t kMaxEventTimeUs = 7258118400LL * 1000000;   // 2200-01-01

std::vector<ColumnDef> WithCommon(std::vector<ColumnDef> own) {
  std::vector<ColumnDef> c = {{"event_id", CT::kString},         {"source_event_id", CT::kString},
                              {"dedupe_key", CT::kString},       {"subject_key", CT::kString},
                              {"study_id", CT::kString},         {"site_id", CT::kString},
                              {"source", CT::kString},           {"event_time", CT::kTimestampUs},
                              {"received_at", CT::kTimestampUs}, {"precision", CT::kString}};
  c.insert(c.end(), own.begin(), own.end());
  return c;
}

std::vector<TableSchema> MakeSchemas() {
  std::vector<TableSchema> s;
  s.push_back({Table::kSubjects,
               "subjects",
               "demographics",
               WithCommon({{"age", CT::kInt64},
                           {"age_unit", CT::kString},
                           {"age_capped", CT::kBool},
                           {"sex", CT::kString},
                           {"gender", CT::kString},
                           {"race", CT::kString},
                           {"ethnicity", CT::kString},
                           {"weight_kg", CT::kDouble},
                           {"height_cm", CT::kDouble},
                           {"arm", CT::kString},
                           {"arm_code", CT::kString},
                           {"country", CT::kString},
                           {"state", CT::kString},
                           {"zip3", CT::kString},
                           {"enrollment_date", CT::kString},
                           {"deceased", CT::kBool}}),
               {}});
  s.push_back({Table::kVitals,
               "vitals",
               "vital_signs",
               WithCommon({{"test_code", CT::kString},
                           {"test_name", CT::kString},
                           {"loinc", CT::kString},
                           {"value", CT::kDouble},
                           {"unit", CT::kString},
                           {"orig_test", CT::kString},
                           {"orig_code_system", CT::kString},
                           {"orig_value", CT::kDouble},
                           {"orig_text", CT::kString},
                           {"orig_unit", CT::kString},
                           {"position", CT::kString},
                           {"location", CT::kString},
                           {"timepoint", CT::kString},
                           {"visit", CT::kString},
                           {"visit_num", CT::kDouble},
                           {"map", CT::kDouble},
                           {"pulse_pressure", CT::kDouble},
                           {"bmi", CT::kDouble},
                           {"tachycardia", CT::kBool},
                           {"bradycardia", CT::kBool},
                           {"hypertensive", CT::kBool},
                           {"hypotensive", CT::kBool},
                           {"febrile", CT::kBool},
                           {"hypothermic", CT::kBool},
                           {"hypoxic", CT::kBool}}),
               {}});
  s.push_back({Table::kLabs,
               "labs",
               "lab_result",
               WithCommon({{"test_code", CT::kString},
                           {"test_name", CT::kString},
                           {"loinc", CT::kString},
                           {"category", CT::kString},
                           {"specimen", CT::kString},
                           {"value", CT::kDouble},
                           {"unit", CT::kString},
                           {"orig_test", CT::kString},
                           {"orig_code_system", CT::kString},
                           {"orig_value", CT::kDouble},
                           {"orig_text", CT::kString},
                           {"orig_unit", CT::kString},
                           {"ref_low", CT::kDouble},
                           {"ref_high", CT::kDouble},
                           {"orig_ref_low", CT::kDouble},
                           {"orig_ref_high", CT::kDouble},
                           {"ref_text", CT::kString},
                           {"range_flag", CT::kString},
                           {"range_flag_source", CT::kString},
                           {"orig_abnormal_flag", CT::kString},
                           {"visit", CT::kString},
                           {"visit_num", CT::kDouble},
                           {"status", CT::kString}}),
               {}});
  s.push_back({Table::kAdverseEvents,
               "adverse_events",
               "adverse_event",
               WithCommon({{"term", CT::kString},
                           {"decod", CT::kString},
                           {"body_system", CT::kString},
                           {"severity", CT::kString},
                           {"grade", CT::kInt64},
                           {"serious", CT::kBool},
                           {"related", CT::kString},
                           {"related_to_study_drug", CT::kBool},
                           {"action_taken", CT::kString},
                           {"outcome", CT::kString},
                           {"start_date", CT::kString},
                           {"end_date", CT::kString}}),
               {}});
  s.push_back({Table::kMedications,
               "medications",
               "medication",
               WithCommon({{"name", CT::kString},
                           {"decod", CT::kString},
                           {"code", CT::kString},
                           {"code_system", CT::kString},
                           {"dose", CT::kDouble},
                           {"dose_text", CT::kString},
                           {"dose_unit", CT::kString},
                           {"route", CT::kString},
                           {"frequency", CT::kString},
                           {"indication", CT::kString},
                           {"category", CT::kString},
                           {"status", CT::kString},
                           {"start_date", CT::kString},
                           {"end_date", CT::kString},
                           {"visit", CT::kString},
                           {"visit_num", CT::kDouble}}),
               {}});
  s.push_back({Table::kExposure,
               "exposure",
               "exposure",
               WithCommon({{"treatment", CT::kString},
                           {"dose", CT::kDouble},
                           {"dose_unit", CT::kString},
                           {"route", CT::kString},
                           {"frequency", CT::kString},
                           {"start_date", CT::kString},
                           {"end_date", CT::kString},
                           {"visit", CT::kString},
                           {"visit_num", CT::kDouble}}),
               {}});
  s.push_back({Table::kDisposition,
               "disposition",
               "disposition",
               WithCommon({{"term", CT::kString},
                           {"decod", CT::kString},
                           {"category", CT::kString},
                           {"epoch", CT::kString},
                           {"visit", CT::kString},
                           {"visit_num", CT::kDouble}}),
               {}});
  return s;
}

// Typed reads of optional payload fields: absent, null or of another type -> null.
Value Str(const Json& p, const char* k) {
  auto it = p.find(k);
  if (it == p.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return it->dump();
  return {};
}
Value Num(const Json& p, const char* k) {
  auto it = p.find(k);
  if (it == p.end() || !it->is_number()) return {};
  double v = it->get<double>();
  return std::isfinite(v) ? Value(v) : Value();
}
Value Int(const Json& p, const char* k) {
  auto it = p.find(k);
  if (it == p.end() || !it->is_number()) return {};
  if (it->is_number_integer()) return it->get<int64_t>();
  double v = it->get<double>();
  if (!std::isfinite(v) || v < -9.0e18 || v > 9.0e18) return {};  // the cast would be UB
  return static_cast<int64_t>(v);
}
Value Bool(const Json& p, const char* k) {
  auto it = p.find(k);
  if (it == p.end() || !it->is_boolean()) return {};
  return it->get<bool>();
}
std::string Text(const Value& v) {
  const std::string* s = std::get_if<std::string>(&v);
  return s ? *s : std::string();
}
std::string KeyPart(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* d = std::get_if<double>(&v)) return Json(*d).dump();
  return "";
}

// Fills the named columns of a row of `schema`.
class RowFiller {
 public:
  RowFiller(const TableSchema& schema, std::vector<Value>* cells) : schema_(schema), cells_(cells) {
    cells_->assign(schema.columns.size(), Value());
  }
  void Set(const char* column, Value v) {
    int i = schema_.Column(column);
    if (i >= 0) (*cells_)[static_cast<size_t>(i)] = std::move(v);
  }
  // Copies payload field `field` of the column's type into column `column`.
  void Copy(const Json& p, const char* column, const char* field = nullptr) {
    int i = schema_.Column(column);
    if (i < 0) return;
    const char* f = field ? field : column;
    switch (schema_.columns[static_cast<size_t>(i)].type) {
      case CT::kString:
        (*cells_)[static_cast<size_t>(i)] = Str(p, f);
        break;
      case CT::kDouble:
        (*cells_)[static_cast<size_t>(i)] = Num(p, f);
        break;
      case CT::kInt64:
      case CT::kInt32:
        (*cells_)[static_cast<size_t>(i)] = Int(p, f);
        break;
      case CT::kBool:
        (*cells_)[static_cast<size_t>(i)] = Bool(p, f);
        break;
      case CT::kTimestampUs:
        break;
    }
  }

 private:
  const TableSchema& schema_;
  std::vector<Value>* cells_;
};

// At most n bytes of s, never cutting a UTF-8 sequence (Parquet readers refuse invalid UTF-8).
std::string Clip(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// FormatDate of the same day as the previous call: consecutive rows share their event's day.
const std::string& DateOf(int64_t micros) {
  thread_local int64_t day = INT64_MIN;
  thread_local std::string date;
  int64_t d = micros >= 0 ? micros / (86'400 * kMicrosPerSecond)
                          : -((-micros - 1) / (86'400 * kMicrosPerSecond)) - 1;
  if (d != day) {
    day = d;
    date = FormatDate(micros);
  }
  return date;
}

std::string Hex(uint64_t h) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) s[static_cast<size_t>(i)] = kDigits[h & 0xf];
  return s;
}

void FillCommon(const ingest::CanonicalEvent& ev, const Json& payload, SilverRow* row) {
  std::vector<Value>& c = row->cells;
  c[kColEventId] = row->row_id;
  c[kColSourceEventId] = ev.event_id;
  c[kColDedupeKey] = Hex(row->natural_key);
  c[kColSubjectKey] = ev.subject_key;
  c[kColStudyId] = ev.study_id;
  c[kColSiteId] = ev.site_id;
  c[kColSource] = ev.source;
  c[kColEventTime] = ev.event_time_us;
  c[kColReceivedAt] = ev.received_at_us;
  c[kColPrecision] = Str(payload, "precision");
  row->event_time_us = ev.event_time_us;
  row->date = DateOf(ev.event_time_us);
  row->received_at_us = ev.received_at_us;
  row->row_hash = Hash64(row->row_id);
}

QuarantineRow Reject(Table t, const ingest::CanonicalEvent& ev, std::string row_id,
                     std::string test, std::string reason, std::string detail) {
  QuarantineRow q;
  q.table = t;
  q.event_time_us = ev.event_time_us;
  q.date = DateOf(ev.event_time_us);
  q.received_at_us = ev.received_at_us;
  q.row_id = std::move(row_id);
  q.source_event_id = ev.event_id;
  q.subject_key = ev.subject_key;
  q.study_id = ev.study_id;
  q.site_id = ev.site_id;
  q.source = ev.source;
  q.test = std::move(test);
  q.reason_code = std::move(reason);
  q.detail = std::move(detail);
  q.payload = ev.payload_json;
  return q;
}

std::string Fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A finding's value in the standard unit, or the quarantine reason.
struct Standardized {
  const StandardTest* test = nullptr;
  std::optional<double> value;  // null for a non-numeric result
  std::string orig_unit;        // as sent (or implied)
  std::optional<Conversion> conversion;
  std::string reason, detail;  // set when the finding must be quarantined
};

Standardized StandardizeFinding(const Standards& standards, const char* domain,
                                const std::string& system, const std::string& test,
                                const Value& value, const Value& unit_value) {
  Standardized out;
  TestMatch m = standards.FindTest(domain, system, test);
  if (m.test == nullptr) {
    out.reason = "UNKNOWN_TEST_CODE";
    out.detail = std::string(domain) + " test '" + Clip(test, 60) + "' (" + Clip(system, 20) +
                 ") is not in config/standards";
    return out;
  }
  out.test = m.test;
  std::string unit = Text(unit_value);
  out.orig_unit = unit;
  std::string canonical;
  if (unit.empty()) {
    // No unit: the one the source's name implies; else the test's own when it is unitless or
    // the result is not a number (nothing to convert); a numeric result is never assumed to be
    // in the standard unit.
    if (!m.implied_unit.empty()) {
      canonical = m.implied_unit;
      out.orig_unit = m.implied_unit;
    } else if (m.test->unit.empty() || !std::holds_alternative<double>(value)) {
      canonical = m.test->unit;
    } else {
      out.reason = "MISSING_UNIT";
      out.detail = m.test->code + " needs a unit (standard " + m.test->unit + ")";
      return out;
    }
  } else {
    auto c = standards.CanonicalUnit(unit);
    if (!c) {
      out.reason = "UNKNOWN_UNIT";
      out.detail = m.test->code + " unit '" + Clip(unit, 30) + "' is not in units.csv";
      return out;
    }
    canonical = *c;
  }
  out.conversion = standards.ConversionTo(*m.test, canonical);
  if (!out.conversion) {
    out.reason = "UNIT_NOT_CONVERTIBLE";
    out.detail = m.test->code + ": no conversion from " + canonical + " to " +
                 (m.test->unit.empty() ? "(unitless)" : m.test->unit);
    return out;
  }
  if (const double* v = std::get_if<double>(&value)) {
    double s = out.conversion->Apply(*v);
    if ((m.test->min && s < *m.test->min) || (m.test->max && s > *m.test->max)) {
      out.reason = "IMPLAUSIBLE_VALUE";
      out.detail = m.test->code + " " + Fmt(s) + " " + m.test->unit + " outside the possible " +
                   Fmt(m.test->min.value_or(-INFINITY)) + ".." +
                   Fmt(m.test->max.value_or(INFINITY));
      return out;
    }
    out.value = s;
  }
  return out;
}

Value Opt(std::optional<double> v) { return v ? Value(*v) : Value(); }

// A flag from the event's standardized vitals: null when the event has none of the inputs.
Value Flag(const std::map<std::string, double>& v, std::initializer_list<const char*> codes,
           const std::function<bool(const std::string&, double)>& test) {
  bool any = false, hit = false;
  for (const char* c : codes) {
    auto it = v.find(c);
    if (it == v.end()) continue;
    any = true;
    hit = hit || test(c, it->second);
  }
  return any ? Value(hit) : Value();
}

void ExtractVitals(const ingest::CanonicalEvent& ev, const Json& p, const Standards& standards,
                   Extracted* out) {
  const TableSchema& schema = SchemaOf(Table::kVitals);
  auto m = p.find("measurements");
  if (m == p.end() || !m->is_array() || m->empty()) {
    out->quarantined.push_back(Reject(Table::kVitals, ev, ev.event_id, "", "MALFORMED_PAYLOAD",
                                      "vital_signs payload has no measurements list"));
    return;
  }
  size_t first = out->rows.size();
  std::map<std::string, double> std_values;  // test code -> standardized value, for derived
  size_t index = 0;
  for (const Json& x : *m) {
    ++index;
    std::string test = x.is_object() ? Text(Str(x, "test")) : "";
    std::string row_id_fallback = ev.event_id + ":#" + std::to_string(index);
    if (test.empty()) {
      out->quarantined.push_back(Reject(Table::kVitals, ev, row_id_fallback, "",
                                        "MALFORMED_PAYLOAD", "measurement without a test"));
      continue;
    }
    std::string system = Text(Str(x, "code_system"));
    Value value = Num(x, "value");
    Standardized s = StandardizeFinding(standards, "VS", system, test, value, Str(x, "unit"));
    std::string row_id = s.test ? ev.event_id + ":" + s.test->code : row_id_fallback;
    if (!s.reason.empty()) {
      out->quarantined.push_back(
          Reject(Table::kVitals, ev, row_id, Clip(test, 60), s.reason, s.detail));
      continue;
    }
    SilverRow row;
    row.table = Table::kVitals;
    row.row_id = row_id;
    RowFiller f(schema, &row.cells);
    f.Set("test_code", s.test->code);
    f.Set("test_name", s.test->name);
    f.Set("loinc", s.test->loinc.empty() ? Value() : Value(s.test->loinc));
    f.Set("value", Opt(s.value));
    f.Set("unit", s.test->unit);
    f.Set("orig_test", test);
    f.Set("orig_code_system", system.empty() ? Value() : Value(system));
    f.Set("orig_value", value);
    f.Copy(x, "orig_text", "value_text");
    f.Set("orig_unit", s.orig_unit.empty() ? Value() : Value(s.orig_unit));
    f.Copy(p, "position");
    f.Copy(p, "location");
    f.Copy(p, "timepoint");
    f.Copy(p, "visit");
    f.Copy(p, "visit_num");
    if (s.value) std_values[s.test->code] = *s.value;
    // Natural key: subject, test, time, position and time point (+ location and visit, which
    // the CDISC pilot needs to tell repeated measurements apart).
    std::string key = ev.subject_key + "|VS|" + s.test->code + "|" +
                      std::to_string(ev.event_time_us) + "|" + KeyPart(Str(p, "position")) + "|" +
                      KeyPart(Str(p, "location")) + "|" + KeyPart(Str(p, "timepoint")) + "|" +
                      KeyPart(Num(p, "visit_num"));
    row.natural_key = Hash64(key);
    FillCommon(ev, p, &row);
    out->rows.push_back(std::move(row));
  }
  // Derived vitals and the existing stack's clinical flags, from this event's measurements.
  auto get = [&](const char* c) -> std::optional<double> {
    auto it = std_values.find(c);
    return it == std_values.end() ? std::nullopt : std::optional<double>(it->second);
  };
  auto sys = get("SYSBP"), dia = get("DIABP"), wt = get("WEIGHT"), ht = get("HEIGHT");
  Value map = sys && dia ? Value((*sys + 2 * *dia) / 3) : Value();
  Value pp = sys && dia ? Value(*sys - *dia) : Value();
  Value bmi = wt && ht && *ht > 0 ? Value(*wt / ((*ht / 100) * (*ht / 100))) : Value();
  Value tachy = Flag(std_values, {"PULSE"}, [](auto&, double v) { return v > 100; });
  Value brady = Flag(std_values, {"PULSE"}, [](auto&, double v) { return v < 60; });
  Value hyper = Flag(std_values, {"SYSBP", "DIABP"},
                     [](auto& c, double v) { return c == "SYSBP" ? v >= 140 : v >= 90; });
  Value hypo = Flag(std_values, {"SYSBP", "DIABP"},
                    [](auto& c, double v) { return c == "SYSBP" ? v < 90 : v < 60; });
  Value febrile = Flag(std_values, {"TEMP"}, [](auto&, double v) { return v >= 38; });
  Value hypothermic = Flag(std_values, {"TEMP"}, [](auto&, double v) { return v < 36; });
  Value hypoxic = Flag(std_values, {"SPO2"}, [](auto&, double v) { return v < 95; });
  for (size_t i = first; i < out->rows.size(); ++i) {
    auto& cells = out->rows[i].cells;
    auto set = [&](const char* c, const Value& v) {
      cells[static_cast<size_t>(schema.Column(c))] = v;
    };
    set("map", map);
    set("pulse_pressure", pp);
    set("bmi", bmi);
    set("tachycardia", tachy);
    set("bradycardia", brady);
    set("hypertensive", hyper);
    set("hypotensive", hypo);
    set("febrile", febrile);
    set("hypothermic", hypothermic);
    set("hypoxic", hypoxic);
  }
}

std::string FlagFromSource(const std::string& f) {
  std::string u;
  for (char c : f) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u == "L" || u == "LL" || u == "LOW" || u == "<") return "LOW";
  if (u == "H" || u == "HH" || u == "HIGH" || u == ">") return "HIGH";
  if (u == "N" || u == "NORMAL") return "NORMAL";
  if (u == "A" || u == "AA" || u == "ABNORMAL") return "ABNORMAL";
  return "";
}

void ExtractLab(const ingest::CanonicalEvent& ev, const Json& p, const Standards& standards,
                Extracted* out) {
  const TableSchema& schema = SchemaOf(Table::kLabs);
  std::string test = Text(Str(p, "test"));
  if (test.empty()) {
    out->quarantined.push_back(Reject(Table::kLabs, ev, ev.event_id, "", "MALFORMED_PAYLOAD",
                                      "lab_result payload has no test"));
    return;
  }
  std::string system = Text(Str(p, "code_system"));
  Value value = Num(p, "value");
  Standardized s = StandardizeFinding(standards, "LB", system, test, value, Str(p, "unit"));
  if (!s.test) {
    // A LOINC code given beside the source's own code (SDTM LBLOINC) may still identify it.
    std::string loinc = Text(Str(p, "loinc"));
    if (!loinc.empty()) {
      Standardized by_loinc =
          StandardizeFinding(standards, "LB", "LOINC", loinc, value, Str(p, "unit"));
      if (by_loinc.test) s = by_loinc;
    }
  }
  if (!s.reason.empty()) {
    out->quarantined.push_back(
        Reject(Table::kLabs, ev, ev.event_id, Clip(test, 60), s.reason, s.detail));
    return;
  }
  SilverRow row;
  row.table = Table::kLabs;
  row.row_id = ev.event_id;
  RowFiller f(schema, &row.cells);
  f.Set("test_code", s.test->code);
  f.Set("test_name", s.test->name);
  f.Set("loinc", s.test->loinc.empty() ? Value() : Value(s.test->loinc));
  f.Copy(p, "category");
  f.Copy(p, "specimen");
  f.Set("value", Opt(s.value));
  f.Set("unit", s.test->unit);
  f.Set("orig_test", test);
  f.Set("orig_code_system", system.empty() ? Value() : Value(system));
  f.Set("orig_value", value);
  f.Copy(p, "orig_text", "value_text");
  f.Set("orig_unit", s.orig_unit.empty() ? Value() : Value(s.orig_unit));
  Value lo = Num(p, "ref_low"), hi = Num(p, "ref_high");
  f.Set("orig_ref_low", lo);
  f.Set("orig_ref_high", hi);
  std::optional<double> std_lo, std_hi;
  if (const double* v = std::get_if<double>(&lo)) std_lo = s.conversion->Apply(*v);
  if (const double* v = std::get_if<double>(&hi)) std_hi = s.conversion->Apply(*v);
  f.Set("ref_low", Opt(std_lo));
  f.Set("ref_high", Opt(std_hi));
  f.Copy(p, "ref_text");
  std::string source_flag = Text(Str(p, "abnormal_flag"));
  f.Set("orig_abnormal_flag", source_flag.empty() ? Value() : Value(source_flag));
  std::string flag = FlagFromSource(source_flag);
  if (!flag.empty()) {
    f.Set("range_flag", flag);
    f.Set("range_flag_source", "source");
  } else if (s.value && (std_lo || std_hi)) {
    // Computed only when the source gives no flag: below the low limit LOW, above the high
    // limit HIGH, else NORMAL (a one-sided range judges only its side).
    flag = std_lo && *s.value < *std_lo ? "LOW" : std_hi && *s.value > *std_hi ? "HIGH" : "NORMAL";
    f.Set("range_flag", flag);
    f.Set("range_flag_source", "computed");
  }
  f.Copy(p, "visit");
  f.Copy(p, "visit_num");
  f.Copy(p, "status");
  std::string key = ev.subject_key + "|LB|" + s.test->code + "|" +
                    std::to_string(ev.event_time_us) + "|" + KeyPart(Str(p, "specimen")) + "|" +
                    KeyPart(Num(p, "visit_num"));
  row.natural_key = Hash64(key);
  FillCommon(ev, p, &row);
  out->rows.push_back(std::move(row));
}

// Events and interventions have no test code: their natural key is the subject, the event time
// and the whole de-identified payload (JSON objects dump with sorted keys), so only a record
// repeated with identical content (e.g. sent by two sources) is a natural-key duplicate; a
// correction sent under the same event id replaces the old row by exact dedupe.
void ExtractOther(const ingest::CanonicalEvent& ev, const Json& p, const TableSchema& schema,
                  Extracted* out) {
  SilverRow row;
  row.table = schema.table;
  row.row_id = ev.event_id;
  RowFiller f(schema, &row.cells);
  for (size_t i = kCommonColumns; i < schema.columns.size(); ++i) {
    f.Copy(p, schema.columns[i].name.c_str());
  }
  row.natural_key = Hash64(ev.subject_key + "|" + schema.name + "|" + ev.study_id + "|" +
                           std::to_string(ev.event_time_us) + "|" + p.dump());
  FillCommon(ev, p, &row);
  out->rows.push_back(std::move(row));
}

}  // namespace

int TableSchema::Column(std::string_view n) const {
  auto it = index.find(n);
  return it == index.end() ? -1 : it->second;
}

const std::vector<TableSchema>& SilverSchemas() {
  static const std::vector<TableSchema> kSchemas = [] {
    auto s = MakeSchemas();
    for (auto& t : s) {
      for (size_t i = 0; i < t.columns.size(); ++i)
        t.index[t.columns[i].name] = static_cast<int>(i);
    }
    return s;
  }();
  return kSchemas;
}

const TableSchema& SchemaOf(Table t) { return SilverSchemas()[static_cast<size_t>(t)]; }

const TableSchema* SchemaForEventType(const std::string& event_type) {
  for (const auto& s : SilverSchemas()) {
    if (s.event_type == event_type) return &s;
  }
  return nullptr;
}

std::vector<std::string> RawTopics() {
  std::vector<std::string> t;
  for (const auto& s : SilverSchemas()) t.push_back(ingest::TopicFor(s.event_type));
  return t;
}

uint64_t Hash64(const std::string& s) { return XXH3_64bits(s.data(), s.size()); }

const std::vector<ColumnDef>& QuarantineColumns() {
  static const std::vector<ColumnDef> kCols = {{"event_id", CT::kString},
                                               {"source_event_id", CT::kString},
                                               {"subject_key", CT::kString},
                                               {"study_id", CT::kString},
                                               {"site_id", CT::kString},
                                               {"source", CT::kString},
                                               {"event_time", CT::kTimestampUs},
                                               {"received_at", CT::kTimestampUs},
                                               {"test", CT::kString},
                                               {"reason_code", CT::kString},
                                               {"detail", CT::kString},
                                               {"payload", CT::kString}};
  return kCols;
}

void AppendQuarantine(TableBuilder& b, const QuarantineRow& q) {
  b.String(0, q.row_id);
  b.String(1, q.source_event_id);
  b.String(2, q.subject_key);
  b.String(3, q.study_id);
  b.String(4, q.site_id);
  b.String(5, q.source);
  b.Timestamp(6, q.event_time_us);
  b.Timestamp(7, q.received_at_us);
  if (q.test.empty())
    b.Null(8);
  else
    b.String(8, q.test);
  b.String(9, q.reason_code);
  b.String(10, q.detail);
  b.String(11, q.payload);
  b.EndRow();
}

void AppendRow(TableBuilder& b, const SilverRow& row) {
  const TableSchema& schema = SchemaOf(row.table);
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    const Value& v = row.cells[i];
    if (std::holds_alternative<std::monostate>(v)) {
      b.Null(i);
      continue;
    }
    switch (schema.columns[i].type) {
      case CT::kString:
        b.String(i, std::get<std::string>(v));
        break;
      case CT::kDouble:
        b.Double(i, std::get<double>(v));
        break;
      case CT::kInt64:
        b.Int64(i, std::get<int64_t>(v));
        break;
      case CT::kInt32:
        b.Int32(i, static_cast<int32_t>(std::get<int64_t>(v)));
        break;
      case CT::kTimestampUs:
        b.Timestamp(i, std::get<int64_t>(v));
        break;
      case CT::kBool:
        b.Bool(i, std::get<bool>(v));
        break;
    }
  }
  b.EndRow();
}

int64_t InputRows(const ingest::CanonicalEvent& ev) {
  if (ev.event_type != "vital_signs") return 1;
  auto p = ParseJson(ev.payload_json, kPayloadDepth);
  if (!p.ok() || !p->is_object()) return 1;
  auto m = p->find("measurements");
  if (m == p->end() || !m->is_array() || m->empty()) return 1;
  return static_cast<int64_t>(m->size());
}

void ExtractRows(const ingest::CanonicalEvent& ev, const Standards& standards, Extracted* out,
                 const Json* parsed) {
  const TableSchema* schema = SchemaForEventType(ev.event_type);
  Table table = schema ? schema->table : Table::kVitals;
  Result<Json> own = Json();
  if (parsed == nullptr) own = ParseJson(ev.payload_json, kPayloadDepth);
  const Json* payload = parsed != nullptr ? parsed : own.ok() ? &*own : nullptr;
  auto reject = [&](const char* reason, std::string detail) {
    int64_t n = InputRows(ev);
    for (int64_t i = 0; i < n; ++i) {
      out->quarantined.push_back(
          Reject(table, ev, n > 1 ? ev.event_id + ":#" + std::to_string(i + 1) : ev.event_id, "",
                 reason, detail));
    }
  };
  if (schema == nullptr) {
    return reject("UNEXPECTED_EVENT_TYPE", "event_type '" + Clip(ev.event_type, 40) + "'");
  }
  if (payload == nullptr || !payload->is_object()) {
    return reject("MALFORMED_PAYLOAD", "payload is not a JSON object");
  }
  if (ev.subject_key.empty()) {
    return reject("ORPHAN_RECORD", "event has no subject_key");
  }
  if (ev.event_time_us < kMinEventTimeUs || ev.event_time_us >= kMaxEventTimeUs) {
    return reject("INVALID_TIME", "event_time outside 1900..2199");
  }
  switch (schema->table) {
    case Table::kVitals:
      return ExtractVitals(ev, *payload, standards, out);
    case Table::kLabs:
      return ExtractLab(ev, *payload, standards, out);
    default:
      return ExtractOther(ev, *payload, *schema, out);
  }
}

}  // namespace ctml::process
