// Level 3 throughput: a generated Silver history of 10,000 subjects x 90 days in the seven tables
// of the committed spec (config/features/clinical.yaml): two vital-sign visits a day (7 tests
// each), the spec's 13 labs weekly, exposure every two weeks (dose, end_date), a few adverse
// events and medications, one subjects row, and dispositions (~8 % ADVERSE EVENT
// discontinuations, after which the subject's data stops); about 14 million rows, on one core.
//   build/bin/ctml_bench --benchmark_filter=Features
//   CTML_BENCH_FEATURES_SUBJECTS=500 build/bin/ctml_bench --benchmark_filter=Features  (quick)
// Figures to read:
//   BM_FeaturesMaterialize/sqlite  events_per_s: silver.<table> JSON records (as `ctml process`
//       publishes them) through Materializer::Apply in batches of 5,000 into the sqlite:// online
//       store, in event-time order; vectors_written. /map_store: the same into a map (no sqlite).
//   BM_FeaturesJsonParse           events_per_s of RowFromJson alone (the JSON share; 9 days).
//   BM_FeaturesEngineOnly          events_per_s of SubjectState::Apply + one Compute per subject.
//   BM_FeaturesTrainingSet/{daily,visits}  seconds, examples, positives (ae_discontinuation_30d)
//       from a file:// lake of Parquet Silver files (one per table and date, like Silver).
//   BM_FeaturesDailySnapshots      seconds and rows of WriteDailySnapshots for every day.
// The lake is written once per process (lake_build_s) under the temp directory and removed at
// exit; the row generation and JSON encoding are outside the timings.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctml/core/time.h"
#include "ctml/features/engine.h"
#include "ctml/features/lake_io_internal.h"
#include "ctml/features/materializer.h"
#include "ctml/features/spec.h"
#include "ctml/features/training_set.h"
#include "ctml/process/silver_rows.h"
#include "ctml/process/silver_writer.h"
#include "ctml/process/table_builder.h"
#include "ctml/store/factory.h"

namespace {

using namespace ctml;
using process::SilverRow;
using process::Table;
using process::Value;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// CTML_BENCH_FEATURES_SUBJECTS overrides the number of subjects (for quick runs).
const int kSubjects = std::getenv("CTML_BENCH_FEATURES_SUBJECTS")
                          ? std::max(1, std::atoi(std::getenv("CTML_BENCH_FEATURES_SUBJECTS")))
                          : 10'000;
constexpr int kDays = 90;
constexpr size_t kBatch = 5000;
constexpr int64_t kT0 = 1'709'251'200'000'000;  // 2024-03-01T00:00:00Z
constexpr int64_t kMinute = 60 * kMicrosPerSecond;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double RssMb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

const features::FeatureSpec& Spec() {
  static const features::FeatureSpec spec =
      features::FeatureSpec::LoadFile(std::string(CTML_SOURCE_DIR) +
                                      "/config/features/clinical.yaml")
          .value();
  return spec;
}

std::string Hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The generated study. Everything is a function of (subject, day), so any order of generation
// gives the same rows.

struct Plan {
  std::string key;  // 26-char base32 pseudonym, like Silver's subject_key
  std::string site;
  int arm = 0;  // 0 placebo, 1 low dose, 2 high dose
  int64_t age = 0;
  bool female = false;
  double height = 0, sysbp = 0, diabp = 0, pulse = 0, temp = 0, resp = 0, spo2 = 0, weight = 0;
  int minute = 0;  // visit-time offset of this subject (0..239 minutes)
  int last_day = kDays - 1;
  bool discontinued = false;             // ADVERSE EVENT on last_day
  std::vector<std::pair<int, int>> aes;  // (day, severity 0..2)
  std::vector<int> meds;                 // days
};

const char* const kArms[] = {"Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"};
const char* const kArmCodes[] = {"Pbo", "Xan_Lo", "Xan_Hi"};
const double kDoses[] = {0, 54, 81};

const std::vector<Plan>& Plans() {
  static const std::vector<Plan> plans = [] {
    std::vector<Plan> out(static_cast<size_t>(kSubjects));
    static const char kB32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for (int s = 0; s < kSubjects; ++s) {
      Plan& p = out[static_cast<size_t>(s)];
      std::mt19937_64 rng(0x5eed0000ULL + static_cast<uint64_t>(s));
      std::normal_distribution<double> n(0, 1);
      std::uniform_real_distribution<double> u(0, 1);
      for (int i = 0; i < 26; ++i) {
        p.key +=
            kB32[process::Hash64("subject/" + std::to_string(s) + "/" + std::to_string(i)) % 32];
      }
      p.site = "SITE" + std::to_string(700 + s % 40);
      p.arm = s % 3;
      p.age = 50 + static_cast<int64_t>(rng() % 40);
      p.female = rng() % 2 == 0;
      p.height = (p.female ? 162 : 176) + 7 * n(rng);
      p.sysbp = 128 + 12 * n(rng);
      p.diabp = 78 + 7 * n(rng);
      p.pulse = 72 + 8 * n(rng);
      p.temp = 36.7 + 0.2 * n(rng);
      p.resp = 16 + 1.5 * n(rng);
      p.spo2 = 97 + 0.8 * n(rng);
      p.weight = (p.female ? 68 : 82) + 11 * n(rng);
      p.minute = static_cast<int>(rng() % 240);
      // ADVERSE EVENT discontinuations: 4 % placebo, 8 % low, 12 % high dose.
      if (u(rng) < 0.04 * (1 + p.arm)) {
        p.discontinued = true;
        p.last_day = 10 + static_cast<int>(rng() % 79);
      }
      const int n_ae = static_cast<int>(rng() % 5);
      for (int i = 0; i < n_ae; ++i) {
        const double r = u(rng);
        const int severity = r < 0.6 ? 0 : (r < 0.9 ? 1 : 2);  // 60 % mild, 30 % moderate
        p.aes.emplace_back(1 + static_cast<int>(rng() % static_cast<uint64_t>(p.last_day)),
                           severity);
      }
      if (p.discontinued) p.aes.emplace_back(std::max(1, p.last_day - 2), 2);
      const int n_cm = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < n_cm; ++i) {
        p.meds.push_back(static_cast<int>(rng() % static_cast<uint64_t>(p.last_day + 1)));
      }
    }
    return out;
  }();
  return plans;
}

// One Silver row of `table` with the common columns set; the rest null.
SilverRow Base(Table table, const Plan& p, const std::string& source_event_id,
               const std::string& row_id, int64_t time_us) {
  const process::TableSchema& s = process::SchemaOf(table);
  SilverRow r;
  r.table = table;
  r.event_time_us = time_us;
  r.date = FormatDate(time_us);
  r.received_at_us = time_us + 40 * kMicrosPerSecond;
  r.row_id = row_id;
  r.row_hash = process::Hash64(row_id);
  r.cells.assign(s.columns.size(), Value{});
  r.cells[process::kColEventId] = row_id;
  r.cells[process::kColSourceEventId] = source_event_id;
  r.cells[process::kColSubjectKey] = p.key;
  r.cells[process::kColStudyId] = std::string("CDISCPILOT01");
  r.cells[process::kColSiteId] = p.site;
  r.cells[process::kColSource] = std::string("generator");
  r.cells[process::kColEventTime] = time_us;
  r.cells[process::kColReceivedAt] = r.received_at_us;
  r.cells[process::kColPrecision] = std::string("minute");
  return r;
}

void Set(SilverRow& r, std::string_view column, Value v) {
  const int i = process::SchemaOf(r.table).Column(column);
  if (i < 0) {
    std::fprintf(stderr, "features_benchmark: no column %.*s\n", static_cast<int>(column.size()),
                 column.data());
    std::abort();
  }
  r.cells[static_cast<size_t>(i)] = std::move(v);
}

// The natural key (dedupe_key): the key columns for findings, else the whole row (the payload).
void Finish(SilverRow& r, const std::string& natural) {
  std::string nk = std::get<std::string>(r.cells[process::kColSubjectKey]) + "|" +
                   std::to_string(r.event_time_us) + "|" + natural;
  r.natural_key = process::Hash64(nk);
  r.cells[process::kColDedupeKey] = Hex16(r.natural_key);
}

std::string EventId(int s, int day, const char* kind, int n) {
  const std::string base =
      std::to_string(s) + "/" + std::to_string(day) + "/" + kind + "/" + std::to_string(n);
  return "gen-" + Hex16(process::Hash64("evt:" + base)) + Hex16(process::Hash64("id:" + base));
}

struct LabTest {
  const char* code;
  const char* name;
  const char* loinc;
  const char* category;
  const char* unit;
  double low, high, mean, sd;
};
const LabTest kLabs[] = {
    {"ALT", "Alanine Aminotransferase", "1742-6", "CHEMISTRY", "U/L", 6, 34, 20, 8},
    {"AST", "Aspartate Aminotransferase", "1920-8", "CHEMISTRY", "U/L", 10, 34, 22, 7},
    {"ALP", "Alkaline Phosphatase", "6768-6", "CHEMISTRY", "U/L", 35, 125, 75, 20},
    {"BILI", "Bilirubin", "1975-2", "CHEMISTRY", "umol/L", 3, 21, 9, 4},
    {"CREAT", "Creatinine", "2160-0", "CHEMISTRY", "umol/L", 53, 115, 85, 15},
    {"UREAN", "Blood Urea Nitrogen", "3094-0", "CHEMISTRY", "mmol/L", 2.5, 7.1, 5, 1.3},
    {"HGB", "Hemoglobin", "718-7", "HEMATOLOGY", "mmol/L", 7.4, 10.7, 8.8, 0.8},
    {"WBC", "Leukocytes", "6690-2", "HEMATOLOGY", "10^9/L", 3.8, 10.7, 6.5, 1.6},
    {"PLAT", "Platelets", "777-3", "HEMATOLOGY", "10^9/L", 140, 400, 250, 50},
    {"SODIUM", "Sodium", "2951-2", "CHEMISTRY", "mmol/L", 135, 145, 140, 2.5},
    {"K", "Potassium", "2823-3", "CHEMISTRY", "mmol/L", 3.5, 5.1, 4.3, 0.4},
    {"GLUC", "Glucose", "2345-7", "CHEMISTRY", "mmol/L", 3.9, 6.4, 5.4, 1.0},
    {"ALB", "Albumin", "1751-7", "CHEMISTRY", "g/L", 35, 50, 42, 3},
};

// Subject s's rows of day d (0-based from kT0), appended to `out`.
void DayRows(int s, int d, std::vector<SilverRow>* out) {
  const Plan& p = Plans()[static_cast<size_t>(s)];
  if (d > p.last_day) return;
  std::mt19937_64 rng(0xda10000000ULL + static_cast<uint64_t>(s) * 131 + static_cast<uint64_t>(d));
  std::normal_distribution<double> n(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  const int64_t day = kT0 + d * kMicrosPerDay;
  const int64_t offset = p.minute * kMinute;
  const std::string visit = "DAY " + std::to_string(d + 1);
  const double visit_num = d + 1;
  const std::string date = FormatDate(day);

  if (d == 0) {
    const std::string id = EventId(s, d, "dm", 0);
    SilverRow r = Base(Table::kSubjects, p, id, id, day + 7 * kMicrosPerHour + offset);
    Set(r, "age", p.age);
    Set(r, "age_unit", std::string("YEARS"));
    Set(r, "age_capped", false);
    Set(r, "sex", std::string(p.female ? "F" : "M"));
    Set(r, "race", std::string("WHITE"));
    Set(r, "ethnicity", std::string("NOT HISPANIC OR LATINO"));
    Set(r, "weight_kg", std::round(p.weight * 10) / 10);
    Set(r, "height_cm", std::round(p.height));
    Set(r, "arm", std::string(kArms[p.arm]));
    Set(r, "arm_code", std::string(kArmCodes[p.arm]));
    Set(r, "country", std::string("USA"));
    Set(r, "zip3", std::to_string(100 + s % 800));
    Set(r, "enrollment_date", date);
    Set(r, "deceased", false);
    Finish(r, std::string("dm"));
    out->push_back(std::move(r));

    const std::string ds = EventId(s, d, "ds", 0);
    SilverRow q = Base(Table::kDisposition, p, ds, ds, day + 7 * kMicrosPerHour + offset);
    Set(q, "term", std::string("RANDOMIZED"));
    Set(q, "decod", std::string("RANDOMIZED"));
    Set(q, "category", std::string("PROTOCOL MILESTONE"));
    Set(q, "epoch", std::string("SCREENING"));
    Set(q, "visit", visit);
    Set(q, "visit_num", visit_num);
    Finish(q, std::string("ds-randomized"));
    out->push_back(std::move(q));
  }

  // Vital signs: two visits, seven measurements each; discontinuations worsen in their last
  // two weeks.
  const double worse = p.discontinued ? std::max(0.0, 1.0 - (p.last_day - d) / 14.0) : 0.0;
  for (int v = 0; v < 2; ++v) {
    const int64_t t = day + (8 + 12 * v) * kMicrosPerHour + offset;
    const std::string id = EventId(s, d, "vs", v);
    const double sys = std::round(p.sysbp + 9 * n(rng) + 15 * worse);
    const double dia = std::round(p.diabp + 6 * n(rng) + 6 * worse);
    const double pulse = std::round(p.pulse + 7 * n(rng) + 22 * worse);
    const double temp = std::round((p.temp + 0.25 * n(rng) + 0.8 * worse) * 10) / 10;
    const double resp = std::round(p.resp + 1.5 * n(rng) + 4 * worse);
    const double spo2 = std::min(100.0, std::round(p.spo2 + 1.0 * n(rng) - 4 * worse));
    const double weight = std::round((p.weight - 0.02 * d + 0.3 * n(rng)) * 10) / 10;
    struct M {
      const char* code;
      const char* name;
      const char* loinc;
      const char* unit;
      double value;
    };
    const M ms[] = {{"SYSBP", "Systolic Blood Pressure", "8480-6", "mmHg", sys},
                    {"DIABP", "Diastolic Blood Pressure", "8462-4", "mmHg", dia},
                    {"PULSE", "Pulse Rate", "8867-4", "beats/min", pulse},
                    {"TEMP", "Temperature", "8310-5", "C", temp},
                    {"RESP", "Respiratory Rate", "9279-1", "breaths/min", resp},
                    {"SPO2", "Oxygen Saturation", "59408-5", "%", spo2},
                    {"WEIGHT", "Weight", "29463-7", "kg", weight}};
    for (const M& m : ms) {
      SilverRow r = Base(Table::kVitals, p, id, id + ":" + m.code, t);
      Set(r, "test_code", std::string(m.code));
      Set(r, "test_name", std::string(m.name));
      Set(r, "loinc", std::string(m.loinc));
      Set(r, "value", m.value);
      Set(r, "unit", std::string(m.unit));
      Set(r, "orig_test", std::string(m.code));
      Set(r, "orig_code_system", std::string("SDTM"));
      Set(r, "orig_value", m.value);
      Set(r, "orig_unit", std::string(m.unit));
      Set(r, "position", std::string("SITTING"));
      Set(r, "timepoint", std::string(v == 0 ? "MORNING" : "EVENING"));
      Set(r, "visit", visit);
      Set(r, "visit_num", visit_num);
      Set(r, "map", std::round((sys + 2 * dia) / 3 * 10) / 10);
      Set(r, "pulse_pressure", sys - dia);
      Set(r, "bmi", std::round(weight / (p.height / 100 * p.height / 100) * 10) / 10);
      Set(r, "tachycardia", pulse > 100);
      Set(r, "bradycardia", pulse < 60);
      Set(r, "hypertensive", sys >= 140 || dia >= 90);
      Set(r, "hypotensive", sys < 90 || dia < 60);
      Set(r, "febrile", temp >= 38);
      Set(r, "hypothermic", temp < 36);
      Set(r, "hypoxic", spo2 < 95);
      Finish(r, std::string(m.code) + "|SITTING||" + (v == 0 ? "MORNING" : "EVENING") + "|" +
                    std::to_string(d + 1));
      out->push_back(std::move(r));
    }
  }

  // Labs: the spec's 13 tests weekly.
  if (d % 7 == 0) {
    const int64_t t = day + 9 * kMicrosPerHour + offset;
    int i = 0;
    for (const LabTest& l : kLabs) {
      const std::string id = EventId(s, d, "lb", i++);
      double value = l.mean + l.sd * n(rng);
      if ((std::string_view(l.code) == "ALT" || std::string_view(l.code) == "AST") && worse > 0) {
        value += 3 * l.high * worse;
      }
      value = std::max(l.low * 0.3, std::round(value * 100) / 100);
      SilverRow r = Base(Table::kLabs, p, id, id, t);
      Set(r, "test_code", std::string(l.code));
      Set(r, "test_name", std::string(l.name));
      Set(r, "loinc", std::string(l.loinc));
      Set(r, "category", std::string(l.category));
      Set(r, "specimen", std::string("BLOOD"));
      Set(r, "value", value);
      Set(r, "unit", std::string(l.unit));
      Set(r, "orig_test", std::string(l.code));
      Set(r, "orig_code_system", std::string("SDTM"));
      Set(r, "orig_value", value);
      Set(r, "orig_unit", std::string(l.unit));
      Set(r, "ref_low", l.low);
      Set(r, "ref_high", l.high);
      Set(r, "orig_ref_low", l.low);
      Set(r, "orig_ref_high", l.high);
      Set(r, "range_flag", std::string(value < l.low ? "LOW" : value > l.high ? "HIGH" : "NORMAL"));
      Set(r, "range_flag_source", std::string("computed"));
      Set(r, "visit", visit);
      Set(r, "visit_num", visit_num);
      Set(r, "status", std::string("final"));
      Finish(r, std::string(l.code) + "|BLOOD|" + std::to_string(d + 1));
      out->push_back(std::move(r));
    }
  }

  // Exposure: the arm's daily dose for two weeks from days 1, 15, 29, ...
  if (d % 14 == 1) {
    const std::string id = EventId(s, d, "ex", 0);
    SilverRow r =
        Base(Table::kExposure, p, id, id, day + 8 * kMicrosPerHour + 30 * kMinute + offset);
    Set(r, "treatment", std::string(p.arm == 0 ? "PLACEBO" : "XANOMELINE"));
    Set(r, "dose", kDoses[p.arm]);
    Set(r, "dose_unit", std::string("mg"));
    Set(r, "route", std::string("TRANSDERMAL"));
    Set(r, "frequency", std::string("QD"));
    Set(r, "start_date", date);
    Set(r, "end_date", FormatDate(kT0 + std::min(d + 13, p.last_day) * kMicrosPerDay));
    Set(r, "visit", visit);
    Set(r, "visit_num", visit_num);
    Finish(r, "ex|" + date);
    out->push_back(std::move(r));
  }

  static const char* const kAeTerms[][2] = {
      {"APPLICATION SITE PRURITUS", "SKIN"}, {"DIZZINESS", "NERVOUS SYSTEM"},
      {"NAUSEA", "GASTROINTESTINAL"},        {"HEADACHE", "NERVOUS SYSTEM"},
      {"SINUS BRADYCARDIA", "CARDIAC"},      {"ERYTHEMA", "SKIN"}};
  static const char* const kSeverity[] = {"MILD", "MODERATE", "SEVERE"};
  int ae_n = 0;
  for (const auto& [ae_day, severity] : p.aes) {
    if (ae_day != d) continue;
    const std::string id = EventId(s, d, "ae", ae_n++);
    const auto& term = kAeTerms[(static_cast<size_t>(s) + static_cast<size_t>(ae_n)) % 6];
    const bool serious = severity == 2 && u(rng) < 0.4;
    SilverRow r = Base(Table::kAdverseEvents, p, id, id, day + 12 * kMicrosPerHour + offset);
    Set(r, "term", std::string(term[0]));
    Set(r, "decod", std::string(term[0]));
    Set(r, "body_system", std::string(term[1]));
    Set(r, "severity", std::string(kSeverity[severity]));
    Set(r, "grade", static_cast<int64_t>(severity + 1));
    Set(r, "serious", serious);
    Set(r, "related", std::string(p.arm == 0 ? "NONE" : "POSSIBLE"));
    Set(r, "related_to_study_drug", p.arm != 0);
    Set(r, "action_taken", std::string("DOSE NOT CHANGED"));
    Set(r, "outcome", std::string("RECOVERED/RESOLVED"));
    Set(r, "start_date", date);
    Set(r, "end_date", FormatDate(day + 5 * kMicrosPerDay));
    Finish(r, std::string("ae|") + term[0] + "|" + kSeverity[severity]);
    out->push_back(std::move(r));
  }

  static const char* const kMeds[] = {"PARACETAMOL", "IBUPROFEN", "OMEPRAZOLE", "ASPIRIN",
                                      "SIMVASTATIN"};
  int cm_n = 0;
  for (int cm_day : p.meds) {
    if (cm_day != d) continue;
    const std::string id = EventId(s, d, "cm", cm_n++);
    const char* name = kMeds[(static_cast<size_t>(s) * 7 + static_cast<size_t>(cm_n)) % 5];
    SilverRow r = Base(Table::kMedications, p, id, id, day + 10 * kMicrosPerHour + offset);
    Set(r, "name", std::string(name));
    Set(r, "decod", std::string(name));
    Set(r, "dose", 100.0 * (1 + cm_n % 3));
    Set(r, "dose_unit", std::string("mg"));
    Set(r, "route", std::string("ORAL"));
    Set(r, "frequency", std::string("QD"));
    Set(r, "category", std::string("concomitant"));
    Set(r, "start_date", date);
    Set(r, "visit", visit);
    Set(r, "visit_num", visit_num);
    Finish(r, "cm|" + std::string(name) + "|" + std::to_string(cm_n));
    out->push_back(std::move(r));
  }

  if (d == p.last_day) {
    const std::string id = EventId(s, d, "ds", 1);
    SilverRow r = Base(Table::kDisposition, p, id, id, day + 23 * kMicrosPerHour);
    const char* decod = p.discontinued ? "ADVERSE EVENT" : "COMPLETED";
    Set(r, "term", std::string(decod));
    Set(r, "decod", std::string(decod));
    Set(r, "category", std::string("DISPOSITION EVENT"));
    Set(r, "epoch", std::string("TREATMENT"));
    Set(r, "visit", visit);
    Set(r, "visit_num", visit_num);
    Finish(r, std::string("ds|") + decod);
    out->push_back(std::move(r));
  }
}

// Every subject's rows of day d, in event-time order (the order a stream delivers them).
std::vector<SilverRow> Day(int d) {
  std::vector<SilverRow> rows;
  for (int s = 0; s < kSubjects; ++s) DayRows(s, d, &rows);
  std::stable_sort(rows.begin(), rows.end(), [](const SilverRow& a, const SilverRow& b) {
    return a.event_time_us < b.event_time_us;
  });
  return rows;
}

// The day's rows as silver.<table> topic records, in batches of kBatch (what `ctml process`
// publishes: process::RowJson, keyed by subject_key).
std::vector<std::vector<store::LogRecord>> DayRecords(int d, int64_t* offset) {
  std::vector<std::vector<store::LogRecord>> batches;
  for (SilverRow& r : Day(d)) {
    if (batches.empty() || batches.back().size() == kBatch) {
      batches.emplace_back();
      batches.back().reserve(kBatch);
    }
    store::LogRecord rec;
    rec.topic = "silver." + process::SchemaOf(r.table).name;
    rec.offset = (*offset)++;
    rec.key = std::get<std::string>(r.cells[process::kColSubjectKey]);
    rec.value = process::RowJson(r);
    rec.timestamp_us = r.received_at_us;
    batches.back().push_back(std::move(rec));
  }
  return batches;
}

// A Silver row as the engine's Row (what AddTable makes of a Parquet row).
features::Row ToRow(const features::FeatureSpec& spec, const SilverRow& r) {
  const process::TableSchema& schema = process::SchemaOf(r.table);
  features::Row row;
  row.table = spec.TableIndex(schema.name);
  row.subject_key = std::get<std::string>(r.cells[process::kColSubjectKey]);
  row.event_id = r.row_id;
  row.dedupe_key = std::get<std::string>(r.cells[process::kColDedupeKey]);
  row.event_time_us = r.event_time_us;
  row.received_at_us = r.received_at_us;
  if (row.table < 0) return row;
  for (const auto& c : spec.tables()[static_cast<size_t>(row.table)].columns) {
    const int i = schema.Column(c);
    const Value* v = i < 0 ? nullptr : &r.cells[static_cast<size_t>(i)];
    if (v == nullptr || std::holds_alternative<std::monostate>(*v)) {
      row.cells.push_back(features::Cell::Null());
    } else if (const auto* s = std::get_if<std::string>(v)) {
      row.cells.push_back(features::Cell::Text(*s));
    } else if (const auto* b = std::get_if<bool>(v)) {
      row.cells.push_back(features::Cell::Bool(*b));
    } else if (const auto* n = std::get_if<int64_t>(v)) {
      row.cells.push_back(features::Cell::Number(static_cast<double>(*n)));
    } else {
      row.cells.push_back(features::Cell::Number(std::get<double>(*v)));
    }
  }
  return row;
}

// ---------------------------------------------------------------------------------------------
// Online stores.

std::unique_ptr<store::OnlineStore> SqliteStore(const fs::path& file) {
  fs::remove(file);
  fs::remove(file.string() + "-wal");
  fs::remove(file.string() + "-shm");
  auto s = store::OpenOnlineStore("sqlite://" + file.string());
  if (!s.ok()) {
    std::fprintf(stderr, "features_benchmark: %s\n", s.status().ToString().c_str());
    std::abort();
  }
  return std::move(*s);
}

// The trivial store: a map of the latest vector per (entity, view), to split out sqlite's share.
class MapStore : public store::OnlineStore {
 public:
  Status Put(const std::vector<store::FeatureVector>& vectors) override {
    for (const auto& v : vectors) map_[{v.view, v.entity_key}] = v;
    return Status::OK();
  }
  Result<std::optional<store::FeatureVector>> Get(const std::string& entity_key,
                                                  const std::string& view) override {
    auto it = map_.find({view, entity_key});
    if (it == map_.end()) return std::optional<store::FeatureVector>();
    return std::optional<store::FeatureVector>(it->second);
  }
  Result<int64_t> Count(const std::string& view) override {
    int64_t n = 0;
    for (const auto& [k, v] : map_) n += k.first == view ? 1 : 0;
    return n;
  }
  Result<std::vector<std::string>> Keys(const std::string& view, size_t limit) override {
    std::vector<std::string> out;
    for (const auto& [k, v] : map_) {
      if (k.first == view && out.size() < limit) out.push_back(k.second);
    }
    return out;
  }
  Status Ping() override { return Status::OK(); }

 private:
  std::map<std::pair<std::string, std::string>, store::FeatureVector> map_;
};

// ---------------------------------------------------------------------------------------------
// Benchmarks.

void BM_FeaturesEngineOnly(benchmark::State& state) {
  const auto& spec = Spec();
  for (auto _ : state) {
    int64_t rows = 0;
    Clock::duration apply{}, compute{};
    for (int s = 0; s < kSubjects; ++s) {
      state.PauseTiming();
      std::vector<SilverRow> silver;
      for (int d = 0; d < kDays; ++d) DayRows(s, d, &silver);
      std::vector<features::Row> in;
      in.reserve(silver.size());
      for (const auto& r : silver) in.push_back(ToRow(spec, r));
      silver.clear();
      state.ResumeTiming();
      const auto t0 = Clock::now();
      features::SubjectState st(spec);
      for (const auto& r : in) st.Apply(spec, r);
      const auto t1 = Clock::now();
      benchmark::DoNotOptimize(features::Compute(spec, st, st.last_event_time_us()));
      compute += Clock::now() - t1;
      apply += t1 - t0;
      rows += static_cast<int64_t>(in.size());
    }
    state.counters["events"] = static_cast<double>(rows);
    state.counters["events_per_s"] =
        benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
    state.counters["apply_rows_per_s"] = static_cast<double>(rows) / Seconds(apply);
    state.counters["compute_us_per_vector"] = Seconds(compute) * 1e6 / kSubjects;
  }
}
BENCHMARK(BM_FeaturesEngineOnly)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void BM_FeaturesMaterialize(benchmark::State& state, bool sqlite) {
  const auto& spec = Spec();
  const fs::path db = fs::temp_directory_path() / "ctml-bench-features-online.db";
  for (auto _ : state) {
    state.PauseTiming();
    std::unique_ptr<store::OnlineStore> online =
        sqlite ? SqliteStore(db) : std::make_unique<MapStore>();
    auto m = std::make_unique<features::Materializer>(spec, *online);
    int64_t offset = 0;
    state.ResumeTiming();
    for (int d = 0; d < kDays; ++d) {
      state.PauseTiming();
      const auto batches = DayRecords(d, &offset);
      state.ResumeTiming();
      for (const auto& batch : batches) {
        Status st = m->Apply(batch);
        if (!st.ok()) state.SkipWithError(st.ToString().c_str());
      }
    }
    state.PauseTiming();
    const features::MaterializerStats s = m->stats();
    if (s.invalid > 0 || s.duplicates > 0) {
      state.SkipWithError("generated records were rejected or counted as duplicates");
    }
    auto stored = online->Count(spec.view());
    state.counters["events"] = static_cast<double>(s.events);
    state.counters["events_per_s"] =
        benchmark::Counter(static_cast<double>(s.events), benchmark::Counter::kIsRate);
    state.counters["vectors_written"] = static_cast<double>(s.vectors_written);
    state.counters["vectors_per_s"] =
        benchmark::Counter(static_cast<double>(s.vectors_written), benchmark::Counter::kIsRate);
    state.counters["subjects"] = static_cast<double>(stored.ok() ? *stored : -1);
    state.counters["rss_mb"] = RssMb();
    if (sqlite) {
      state.counters["db_mb"] = static_cast<double>(fs::file_size(db)) / 1048576.0;
    }
    m.reset();
    online.reset();
    if (sqlite) {
      fs::remove(db);
      fs::remove(db.string() + "-wal");
      fs::remove(db.string() + "-shm");
    }
    state.ResumeTiming();
  }
}
BENCHMARK_CAPTURE(BM_FeaturesMaterialize, sqlite, true)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_FeaturesMaterialize, map_store, false)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

// RowFromJson alone over the first kParseDays days (a per-record cost: the state plays no part).
constexpr int kParseDays = 9;

void BM_FeaturesJsonParse(benchmark::State& state) {
  const auto& spec = Spec();
  for (auto _ : state) {
    int64_t offset = 0, parsed = 0;
    for (int d = 0; d < kParseDays; ++d) {
      state.PauseTiming();
      const auto batches = DayRecords(d, &offset);
      state.ResumeTiming();
      for (const auto& batch : batches) {
        for (const auto& rec : batch) {
          auto row = features::RowFromJson(spec, spec.TableIndex(rec.topic.substr(7)), rec.value);
          parsed += row.ok() ? 1 : 0;
          benchmark::DoNotOptimize(row);
        }
      }
    }
    state.counters["events"] = static_cast<double>(offset);
    state.counters["events_per_s"] =
        benchmark::Counter(static_cast<double>(offset), benchmark::Counter::kIsRate);
    if (parsed != offset) state.SkipWithError("some records did not parse");
  }
}
BENCHMARK(BM_FeaturesJsonParse)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// The generated Silver tables as Parquet in a file:// lake:
// silver/<table>/date=D/part-bench.parquet (zstd, like `ctml process`). Written once per process,
// removed at exit.
struct BenchLake {
  fs::path dir = fs::temp_directory_path() / "ctml-bench-features-lake";
  std::unique_ptr<store::Lake> lake;
  int64_t rows = 0;
  size_t files = 0;
  double build_s = 0;
  std::string error;

  BenchLake() {
    const auto t0 = Clock::now();
    fs::remove_all(dir);
    auto l = store::OpenLake("file://" + dir.string());
    if (!l.ok()) {
      error = l.status().ToString();
      return;
    }
    lake = std::move(*l);
    for (int d = 0; d < kDays && error.empty(); ++d) {
      std::map<Table, process::TableBuilder> builders;
      std::string date;
      for (const SilverRow& r : Day(d)) {
        auto it = builders.find(r.table);
        if (it == builders.end()) {
          it = builders.emplace(r.table, process::TableBuilder(process::SchemaOf(r.table).columns))
                   .first;
        }
        process::AppendRow(it->second, r);
        date = r.date;
        ++rows;
      }
      for (auto& [table, b] : builders) {
        auto t = b.Finish();
        Status st = t.ok() ? lake->WriteParquet("silver/" + process::SchemaOf(table).name +
                                                    "/date=" + date + "/part-bench.parquet",
                                                *t)
                           : t.status();
        if (!st.ok()) {
          error = st.ToString();
          break;
        }
        ++files;
      }
    }
    build_s = Seconds(Clock::now() - t0);
  }
  ~BenchLake() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

BenchLake& Lake() {
  static BenchLake lake;
  return lake;
}

void LakeCounters(benchmark::State& state, const BenchLake& l) {
  state.counters["silver_rows"] = static_cast<double>(l.rows);
  state.counters["silver_files"] = static_cast<double>(l.files);
  state.counters["lake_build_s"] = l.build_s;
}

void BM_FeaturesTrainingSet(benchmark::State& state, features::Grid grid) {
  const auto& spec = Spec();
  BenchLake& l = Lake();
  if (!l.error.empty()) {
    state.SkipWithError(l.error.c_str());
    return;
  }
  for (auto _ : state) {
    features::TrainingSetOptions opts;
    opts.grid = grid;
    auto ts = features::BuildTrainingSet(*l.lake, spec, "ae_discontinuation_30d", opts);
    if (!ts.ok()) {
      state.SkipWithError(ts.status().ToString().c_str());
      break;
    }
    state.counters["examples"] = static_cast<double>(ts->rows);
    state.counters["positives"] = static_cast<double>(ts->positives);
    state.counters["subjects"] = static_cast<double>(ts->subjects);
    state.counters["censored"] = static_cast<double>(ts->censored);
    state.counters["after_terminal"] = static_cast<double>(ts->after_terminal);
    state.counters["examples_per_s"] =
        benchmark::Counter(static_cast<double>(ts->rows), benchmark::Counter::kIsRate);
    state.counters["rss_mb"] = RssMb();
  }
  LakeCounters(state, l);
}
BENCHMARK_CAPTURE(BM_FeaturesTrainingSet, daily, features::Grid::kDaily)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_FeaturesTrainingSet, visits, features::Grid::kVisits)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

void BM_FeaturesDailySnapshots(benchmark::State& state) {
  const auto& spec = Spec();
  BenchLake& l = Lake();
  if (!l.error.empty()) {
    state.SkipWithError(l.error.c_str());
    return;
  }
  for (auto _ : state) {
    auto report = features::WriteDailySnapshots(*l.lake, spec, {}, nullptr);
    if (!report.ok()) {
      state.SkipWithError(report.status().ToString().c_str());
      break;
    }
    state.counters["dates"] = static_cast<double>(report->dates.size());
    state.counters["rows"] = static_cast<double>(report->rows);
    state.counters["rows_per_s"] =
        benchmark::Counter(static_cast<double>(report->rows), benchmark::Counter::kIsRate);
    state.counters["rss_mb"] = RssMb();
  }
  LakeCounters(state, l);
}
BENCHMARK(BM_FeaturesDailySnapshots)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
