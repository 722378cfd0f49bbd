// The features module on real stores: Silver tables written as Parquet (the process module's
// schemas, every column) to a file:// lake, silver.<table> topic records as process publishes
// them (process::RowJson), the SQLite event log and online store. Covers ReadSubjects, training
// sets, the streaming materializer (== batch) and the daily snapshots, with the small spec below
// and the committed config/features/clinical.yaml.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "ctml/core/crypto.h"
#include "ctml/core/time.h"
#include "ctml/features/engine.h"
#include "ctml/features/lake_io_internal.h"
#include "ctml/features/materializer.h"
#include "ctml/features/spec.h"
#include "ctml/features/training_set.h"
#include "ctml/process/silver_rows.h"
#include "ctml/process/silver_writer.h"
#include "ctml/store/factory.h"

namespace ctml::features {
namespace {

namespace fs = std::filesystem;
using process::Value;

constexpr int64_t kH = kMicrosPerHour;
constexpr int64_t kD = kMicrosPerDay;
constexpr int64_t kMin = 60 * kMicrosPerSecond;
constexpr int64_t kT0 = 1709251200LL * kMicrosPerSecond;  // 2024-03-01T00:00:00Z

const char* kSmallSpec = R"(name: small
entity: subject
features:
  - {name: spo2_last_24h, table: vitals, test: SPO2, agg: last, window: 24h}
  - {name: spo2_count_6h, table: vitals, test: SPO2, agg: count, window: 6h}
  - {name: spo2_min_7d, table: vitals, test: SPO2, agg: min, window: 7d}
  - {name: tachy_count_all, table: vitals, test: PULSE, where: {tachycardia: true}, agg: count, window: all}
  - {name: alt_last_30d, table: labs, test: ALT, agg: last, window: 30d}
  - {name: lb_high_count_all, table: labs, where: {range_flag: HIGH}, agg: count, window: all}
  - {name: ae_count_all, table: adverse_events, agg: count, window: all}
labels:
  - {name: spo2_below_90_24h, table: vitals, test: SPO2, op: "<", threshold: 90, horizon: 24h}
  - {name: disc_30d, table: disposition, where: {decod: ADVERSE EVENT}, horizon: 30d, terminal: true}
)";

FeatureSpec SmallSpec() {
  auto spec = FeatureSpec::FromYaml(kSmallSpec, "small.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return spec.ok() ? *spec : FeatureSpec();
}

FeatureSpec ClinicalSpec() {
  auto spec =
      FeatureSpec::LoadFile(std::string(CTML_SOURCE_DIR) + "/config/features/clinical.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return spec.ok() ? *spec : FeatureSpec();
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("ctml_features_" + HexEncode(RandomBytes(6)));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

std::unique_ptr<store::Lake> OpenTestLake(const TempDir& dir) {
  auto lake = store::OpenLake("file://" + dir.str() + "/lake");
  EXPECT_TRUE(lake.ok()) << lake.status().ToString();
  return lake.ok() ? std::move(*lake) : nullptr;
}

// ---------------------------------------------------------------------------------- Silver rows

// One Silver row: the common columns, plus the table's own columns by name (others null).
struct SRow {
  std::string table, id, subject, key;
  int64_t t = 0, received = 0;
  std::map<std::string, Value> cols;
};

const process::TableSchema& SchemaNamed(const std::string& table) {
  for (const auto& s : process::SilverSchemas()) {
    if (s.name == table) return s;
  }
  ADD_FAILURE() << "no Silver table " << table;
  return process::SilverSchemas().front();
}

// The row as process builds it (every column of the table's schema).
process::SilverRow ToSilver(const SRow& r) {
  const process::TableSchema& schema = SchemaNamed(r.table);
  process::SilverRow row;
  row.table = schema.table;
  row.event_time_us = r.t;
  row.received_at_us = r.received;
  row.date = FormatDate(r.t);
  row.row_id = r.id;
  row.cells.assign(schema.columns.size(), Value());
  row.cells[process::kColEventId] = r.id;
  row.cells[process::kColSourceEventId] = "src-" + r.id;
  if (!r.key.empty()) row.cells[process::kColDedupeKey] = r.key;
  if (!r.subject.empty()) row.cells[process::kColSubjectKey] = r.subject;
  row.cells[process::kColStudyId] = std::string("CDISCPILOT01");
  row.cells[process::kColSiteId] = std::string("701");
  row.cells[process::kColSource] = std::string("sdtm");
  row.cells[process::kColEventTime] = r.t;
  row.cells[process::kColReceivedAt] = r.received;
  row.cells[process::kColPrecision] = std::string("second");
  for (const auto& [name, v] : r.cols) {
    const int c = schema.Column(name);
    EXPECT_GE(c, 0) << r.table << " has no column " << name;
    if (c >= 0) row.cells[static_cast<size_t>(c)] = v;
  }
  return row;
}

// The silver.<table> topic record of the row, as `ctml process` publishes it.
std::string RowJsonOf(const SRow& r) { return process::RowJson(ToSilver(r)); }

double AsDouble(const Value& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  ADD_FAILURE() << "not a number";
  return 0;
}
int64_t AsInt(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  ADD_FAILURE() << "not an integer";
  return 0;
}

template <typename Builder, typename Append>
std::shared_ptr<arrow::Array> BuildColumn(Builder& b, const std::vector<const Value*>& values,
                                          Append append) {
  for (const Value* v : values) {
    if (std::holds_alternative<std::monostate>(*v)) {
      EXPECT_TRUE(b.AppendNull().ok());
    } else {
      EXPECT_TRUE(append(b, *v).ok());
    }
  }
  std::shared_ptr<arrow::Array> out;
  EXPECT_TRUE(b.Finish(&out).ok());
  return out;
}

// Rows of one table as an Arrow table of its Silver schema, less the `drop` columns.
std::shared_ptr<arrow::Table> SilverTable(const std::string& table,
                                          const std::vector<process::SilverRow>& rows,
                                          const std::set<std::string>& drop = {}) {
  const process::TableSchema& schema = SchemaNamed(table);
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::vector<std::shared_ptr<arrow::Array>> arrays;
  auto ts_type = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  for (size_t c = 0; c < schema.columns.size(); ++c) {
    const auto& col = schema.columns[c];
    if (drop.count(col.name)) continue;
    std::vector<const Value*> values;
    for (const auto& r : rows) values.push_back(&r.cells[c]);
    std::shared_ptr<arrow::Array> arr;
    std::shared_ptr<arrow::DataType> type;
    switch (col.type) {
      case process::ColumnType::kString: {
        arrow::StringBuilder b;
        arr = BuildColumn(
            b, values, [](auto& b, const Value& v) { return b.Append(std::get<std::string>(v)); });
        type = arrow::utf8();
        break;
      }
      case process::ColumnType::kDouble: {
        arrow::DoubleBuilder b;
        arr = BuildColumn(b, values, [](auto& b, const Value& v) { return b.Append(AsDouble(v)); });
        type = arrow::float64();
        break;
      }
      case process::ColumnType::kInt64: {
        arrow::Int64Builder b;
        arr = BuildColumn(b, values, [](auto& b, const Value& v) { return b.Append(AsInt(v)); });
        type = arrow::int64();
        break;
      }
      case process::ColumnType::kInt32: {
        arrow::Int32Builder b;
        arr = BuildColumn(b, values, [](auto& b, const Value& v) {
          return b.Append(static_cast<int32_t>(AsInt(v)));
        });
        type = arrow::int32();
        break;
      }
      case process::ColumnType::kTimestampUs: {
        arrow::TimestampBuilder b(ts_type, arrow::default_memory_pool());
        arr = BuildColumn(b, values, [](auto& b, const Value& v) { return b.Append(AsInt(v)); });
        type = ts_type;
        break;
      }
      case process::ColumnType::kBool: {
        arrow::BooleanBuilder b;
        arr = BuildColumn(b, values,
                          [](auto& b, const Value& v) { return b.Append(std::get<bool>(v)); });
        type = arrow::boolean();
        break;
      }
    }
    fields.push_back(arrow::field(col.name, type));
    arrays.push_back(arr);
  }
  return arrow::Table::Make(arrow::schema(fields), arrays, static_cast<int64_t>(rows.size()));
}

// Writes rows as Silver: silver/<table>/date=<event date>/<part>.parquet.
void WriteSilver(store::Lake& lake, const std::vector<SRow>& rows,
                 const std::string& part = "part-0", const std::set<std::string>& drop = {}) {
  std::map<std::pair<std::string, std::string>, std::vector<process::SilverRow>> files;
  for (const auto& r : rows) files[{r.table, FormatDate(r.t)}].push_back(ToSilver(r));
  for (const auto& [where, silver] : files) {
    const std::string path =
        "silver/" + where.first + "/date=" + where.second + "/" + part + ".parquet";
    ASSERT_TRUE(lake.WriteParquet(path, SilverTable(where.first, silver, drop)).ok()) << path;
  }
}

std::string Key(const std::string& natural) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(Hash64(natural)));
  return buf;
}

SRow Vital(const std::string& subject, const std::string& test, int64_t t, double value,
           int64_t received = -1) {
  SRow r{"vitals",
         subject + "-vs-" + std::to_string(t) + ":" + test,
         subject,
         Key(subject + "|VS|" + test + "|" + std::to_string(t)),
         t,
         received < 0 ? t : received,
         {{"test_code", test}, {"value", value}, {"unit", std::string("x")}}};
  if (test == "PULSE") r.cols["tachycardia"] = value > 100;
  if (test == "SPO2") r.cols["hypoxic"] = value < 90;
  return r;
}

SRow LabRow(const std::string& subject, const std::string& test, int64_t t, double value,
            const Value& flag) {
  return {"labs",
          subject + "-lb-" + std::to_string(t) + ":" + test,
          subject,
          Key(subject + "|LB|" + test + "|" + std::to_string(t)),
          t,
          t + 2 * kH,
          {{"test_code", test}, {"value", value}, {"range_flag", flag}}};
}

SRow Other(const std::string& table, const std::string& subject, const std::string& id, int64_t t,
           std::map<std::string, Value> cols) {
  return {table, subject + "-" + id, subject, Key(subject + "|" + table + "|" + id), t,
          t,     std::move(cols)};
}

// ---------------------------------------------------------------------------------- readers

SubjectState StateOf(const FeatureSpec& spec, const std::vector<SRow>& rows,
                     const std::function<bool(const SRow&)>& keep = {}) {
  SubjectState st(spec);
  for (const auto& r : rows) {
    const int t = spec.TableIndex(r.table);
    if (t < 0 || (keep && !keep(r))) continue;
    auto row = RowFromJson(spec, t, RowJsonOf(r));
    EXPECT_TRUE(row.ok()) << row.status().ToString();
    if (row.ok()) st.Apply(spec, *row);
  }
  return st;
}

std::vector<SRow> RowsOf(const std::vector<SRow>& rows, const std::string& subject) {
  std::vector<SRow> out;
  for (const auto& r : rows) {
    if (r.subject == subject) out.push_back(r);
  }
  return out;
}

bool Same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void ExpectSameVector(const FeatureSpec& spec, const std::vector<double>& got,
                      const std::vector<double>& want, const std::string& where) {
  ASSERT_EQ(got.size(), want.size()) << where;
  size_t bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    if (!Same(got[i], want[i])) {
      ++bad;
      ADD_FAILURE() << where << " " << spec.names()[i] << ": " << got[i] << " vs " << want[i];
    }
  }
}

size_t Idx(const FeatureSpec& spec, const std::string& name) {
  auto it = std::find(spec.names().begin(), spec.names().end(), name);
  EXPECT_NE(it, spec.names().end()) << name;
  return static_cast<size_t>(it - spec.names().begin());
}

std::vector<double> DoubleColumn(const arrow::Table& t, const std::string& name) {
  std::vector<double> out;
  auto col = t.GetColumnByName(name);
  EXPECT_NE(col, nullptr) << name;
  if (!col) return out;
  for (const auto& chunk : col->chunks()) {
    auto arr = std::static_pointer_cast<arrow::DoubleArray>(chunk);
    for (int64_t i = 0; i < arr->length(); ++i) {
      out.push_back(arr->IsNull(i) ? std::nan("") : arr->Value(i));
    }
  }
  return out;
}

std::vector<int64_t> Int64Column(const arrow::Table& t, const std::string& name) {
  std::vector<int64_t> out;
  auto col = t.GetColumnByName(name);
  EXPECT_NE(col, nullptr) << name;
  if (!col) return out;
  for (const auto& chunk : col->chunks()) {
    const auto* raw = chunk->data()->GetValues<int64_t>(1);
    for (int64_t i = 0; i < chunk->length(); ++i) out.push_back(raw[i]);
  }
  return out;
}

std::vector<std::string> StringColumn(const arrow::Table& t, const std::string& name) {
  std::vector<std::string> out;
  auto col = t.GetColumnByName(name);
  EXPECT_NE(col, nullptr) << name;
  if (!col) return out;
  for (const auto& chunk : col->chunks()) {
    auto arr = std::static_pointer_cast<arrow::StringArray>(chunk);
    for (int64_t i = 0; i < arr->length(); ++i) out.push_back(arr->GetString(i));
  }
  return out;
}

// ---------------------------------------------------------------------------------- fakes

class MemoryOnline : public store::OnlineStore {
 public:
  Status Put(const std::vector<store::FeatureVector>& vectors) override {
    ++puts;
    if (fail_next) {
      fail_next = false;
      return Status::Unavailable("injected");
    }
    for (const auto& v : vectors) data[v.entity_key + "/" + v.view] = v;
    return Status::OK();
  }
  Result<std::optional<store::FeatureVector>> Get(const std::string& key,
                                                  const std::string& view) override {
    auto it = data.find(key + "/" + view);
    if (it == data.end()) return std::optional<store::FeatureVector>();
    return std::optional<store::FeatureVector>(it->second);
  }
  Result<int64_t> Count(const std::string&) override { return static_cast<int64_t>(data.size()); }
  Result<std::vector<std::string>> Keys(const std::string&, size_t) override {
    return std::vector<std::string>{};
  }
  Status Ping() override { return Status::OK(); }

  std::map<std::string, store::FeatureVector> data;
  int puts = 0;
  bool fail_next = false;
};

std::vector<double> ValuesOf(const store::FeatureVector& v) {
  std::vector<double> out;
  for (const auto& [name, x] : v.values) out.push_back(x);
  return out;
}

// ---------------------------------------------------------------------------------- clinical data

// Eight subjects over ~45 days, in every Silver table: staggered starts, visits with gaps, late
// uploads (day 7 vitals arrive two days late), subjects without exposure (the first-event
// baseline), missing range flags, an AE discontinuation, desaturations.
std::vector<SRow> ClinicalRows() {
  std::vector<SRow> rows;
  std::mt19937 rng(2024);
  std::normal_distribution<double> noise(0, 1);
  const char* arms[] = {"Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"};
  for (int s = 0; s < 8; ++s) {
    const std::string sk = "S" + std::to_string(s);
    const int64_t day0 = kT0 + (s % 3) * kD;
    auto day = [&](int d, int64_t at) { return day0 + d * kD + at; };
    rows.push_back(Other("subjects", sk, "dm", day(0, 9 * kH),
                         {{"age", int64_t{55 + 3 * s}},
                          {"sex", std::string(s % 2 ? "M" : "F")},
                          {"arm", std::string(arms[s % 3])},
                          {"age_capped", false},
                          {"enrollment_date", FormatDate(day0)}}));
    rows.push_back(Other("disposition", sk, "ds-ic", day(0, 9 * kH),
                         {{"term", std::string("INFORMED CONSENT OBTAINED")},
                          {"decod", std::string("INFORMED CONSENT OBTAINED")},
                          {"epoch", std::string("SCREENING")}}));
    if (s % 4 != 3) {  // S3 and S7 never dosed
      rows.push_back(Other("exposure", sk, "ex1", day(1, 8 * kH),
                           {{"treatment", std::string("XANOMELINE")},
                            {"dose", 54.0},
                            {"start_date", FormatDate(day(1, 0))},
                            {"end_date", FormatDate(day(14, 0))}}));
      rows.push_back(Other("exposure", sk, "ex2", day(15, 8 * kH),
                           {{"treatment", std::string("XANOMELINE")}, {"dose", 81.0}}));
    }
    for (int d : {0, 1, 3, 7, 10, 14, 21, 28}) {
      const int64_t t = day(d, 10 * kH + s * kMin);
      const int64_t received = d == 7 ? t + 2 * kD : t + 5 * kMin;
      const bool sick = s % 3 == 0 && d >= 10;
      const double pulse = 72 + 5 * noise(rng) + (sick ? 35 : 0);
      const double spo2 = 96 + noise(rng);
      for (auto [test, v] : std::vector<std::pair<std::string, double>>{
               {"SYSBP", 128 + 8 * noise(rng)},
               {"DIABP", 80 + 5 * noise(rng)},
               {"PULSE", pulse},
               {"TEMP", 36.8 + 0.3 * noise(rng) + (sick ? 1.5 : 0)},
               {"RESP", 16 + noise(rng)},
               {"SPO2", spo2}}) {
        rows.push_back(Vital(sk, test, t, std::round(v * 10) / 10, received));
      }
      if (d % 14 == 0) rows.push_back(Vital(sk, "WEIGHT", t, 70 + s, received));
      if (sick && d == 10) rows.push_back(Vital(sk, "SPO2", day(11, 9 * kH), 87));
    }
    if (s == 0) {  // hourly SpO2 on day 20, dipping below 90 in the afternoon
      for (int h = 0; h < 24; ++h) {
        rows.push_back(Vital(sk, "SPO2", day(20, h * kH), h >= 14 && h < 18 ? 88 : 95));
      }
    }
    for (int d : {0, 7, 14, 28}) {
      for (auto [test, v, hi] : std::vector<std::tuple<std::string, double, double>>{
               {"ALT", 25 + 10 * noise(rng) + (s == 1 && d > 0 ? 40 : 0), 40},
               {"AST", 22 + 8 * noise(rng), 40},
               {"CREAT", 80 + 10 * noise(rng), 110},
               {"HGB", 135 + 8 * noise(rng), 170}}) {
        const Value flag =
            s == 2 && d == 7 ? Value() : Value(std::string(v > hi ? "HIGH" : "NORMAL"));
        rows.push_back(LabRow(sk, test, day(d, 8 * kH), std::round(v), flag));
      }
    }
    if (s % 2 == 0) {
      rows.push_back(Other("adverse_events", sk, "ae-headache", day(5, 15 * kH),
                           {{"term", std::string("HEADACHE")},
                            {"severity", std::string("MILD")},
                            {"serious", false},
                            {"grade", int64_t{1}},
                            {"related_to_study_drug", false}}));
    }
    if (s % 3 == 1) {
      rows.push_back(Other("adverse_events", sk, "ae-severe", day(12, 11 * kH),
                           {{"term", std::string("SYNCOPE")},
                            {"severity", std::string("SEVERE")},
                            {"serious", false},
                            {"grade", int64_t{3}},
                            {"related_to_study_drug", true}}));
    }
    if (s == 4) {
      rows.push_back(Other("adverse_events", sk, "ae-serious", day(18, 7 * kH),
                           {{"term", std::string("PNEUMONIA")},
                            {"severity", std::string("MODERATE")},
                            {"serious", true},
                            {"grade", int64_t{2}}}));
    }
    if (s % 2 == 1) {
      rows.push_back(Other("medications", sk, "cm1", day(2, 9 * kH),
                           {{"name", std::string("PARACETAMOL")}, {"dose", 500.0}}));
    }
    if (s % 5 == 1) {
      rows.push_back(
          Other("disposition", sk, "ds-end", day(20, 12 * kH),
                {{"term", std::string("ADVERSE EVENT")}, {"decod", std::string("ADVERSE EVENT")}}));
    } else {
      rows.push_back(
          Other("disposition", sk, "ds-end", day(30, 12 * kH),
                {{"term", std::string("COMPLETED")}, {"decod", std::string("COMPLETED")}}));
    }
  }
  return rows;
}

std::set<std::string> SubjectsOf(const std::vector<SRow>& rows) {
  std::set<std::string> out;
  for (const auto& r : rows) out.insert(r.subject);
  return out;
}

// ---------------------------------------------------------------------------------- lake I/O

TEST(LakeIoTest, ReadsEverySilverTableOfTheSpecFromAFileLake) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = ClinicalSpec();
  const std::vector<SRow> rows = ClinicalRows();
  WriteSilver(*lake, rows);
  ReadStats stats;
  std::vector<std::string> progress;
  auto states =
      ReadSubjects(*lake, spec, &stats, [&](const std::string& l) { progress.push_back(l); });
  ASSERT_TRUE(states.ok()) << states.status().ToString();
  EXPECT_EQ(states->size(), 8u);
  EXPECT_EQ(stats.rows, rows.size());
  EXPECT_EQ(stats.applied, rows.size());
  EXPECT_EQ(stats.duplicates, 0u);
  EXPECT_EQ(stats.skipped, 0u);
  EXPECT_EQ(progress.size(), spec.tables().size());  // a line per table

  // Each subject's state is what the same rows give through the topic path (RowFromJson).
  for (const std::string& s : SubjectsOf(rows)) {
    const SubjectState expected = StateOf(spec, RowsOf(rows, s));
    const SubjectState& got = states->at(s);
    EXPECT_EQ(got.rows(), RowsOf(rows, s).size()) << s;
    EXPECT_EQ(got.first_event_time_us(), expected.first_event_time_us());
    EXPECT_EQ(got.last_event_time_us(), expected.last_event_time_us());
    for (int d = 0; d <= 32; d += 4) {
      const int64_t as_of = kT0 + d * kD + 12 * kH;
      ExpectSameVector(spec, Compute(spec, got, as_of), Compute(spec, expected, as_of),
                       s + " day " + std::to_string(d));
    }
  }
  // Values from every table: S1 is male, 58, on Xanomeline Low Dose, dosed from day 1, with a
  // severe AE on day 12 and a high ALT from day 7.
  const SubjectState& s1 = states->at("S1");
  const int64_t day0 = kT0 + kD;
  auto x = Compute(spec, s1, day0 + 13 * kD + 12 * kH);
  EXPECT_EQ(x[Idx(spec, "ctx_age")], 58);
  EXPECT_EQ(x[Idx(spec, "ctx_sex_female")], 0);
  EXPECT_EQ(x[Idx(spec, "ctx_arm_xanomeline_low")], 1);
  EXPECT_EQ(x[Idx(spec, "ctx_arm_placebo")], 0);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "ctx_days_on_study")], 12 + 4.0 / 24);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "ctx_cum_dose")], 13 * 54.0);  // days 1..13 of 54 mg
  EXPECT_EQ(x[Idx(spec, "ae_count_severe_30d")], 1);
  EXPECT_EQ(x[Idx(spec, "ae_count_serious_30d")], 0);
  EXPECT_EQ(x[Idx(spec, "ae_count_related_30d")], 1);
  EXPECT_EQ(x[Idx(spec, "cm_count_30d")], 1);
  EXPECT_EQ(x[Idx(spec, "vs_weight_last_all")], 71);
  EXPECT_GE(x[Idx(spec, "lb_alt_high_count_bl")], 1);
  EXPECT_FALSE(std::isnan(x[Idx(spec, "lb_alt_delta_bl")]));
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_spo2_slope_6h")]));  // no SpO2 in the last 6 hours
  // S3 was never dosed: no exposure features (missing), its first event is its baseline.
  auto x3 = Compute(spec, states->at("S3"), kT0 + 20 * kD);
  EXPECT_TRUE(std::isnan(x3[Idx(spec, "ctx_cum_dose")]));
  EXPECT_TRUE(std::isnan(x3[Idx(spec, "ctx_days_on_study")]));
  EXPECT_FALSE(std::isnan(x3[Idx(spec, "vs_sysbp_delta_bl")]));

  // No Silver at all: no subjects, no error.
  TempDir empty_dir;
  auto empty = OpenTestLake(empty_dir);
  auto none = ReadSubjects(*empty, spec, nullptr);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
}

TEST(LakeIoTest, MissingOptionalColumnsReadAsNullAndBadRowsAreSkipped) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = SmallSpec();
  const std::vector<SRow> vitals = {Vital("A", "PULSE", kT0, 120), Vital("A", "SPO2", kT0, 95),
                                    Vital("A", "PULSE", kT0 + kH, 130)};
  const std::vector<SRow> labs = {LabRow("A", "ALT", kT0, 80, std::string("HIGH"))};
  // Files written before these columns existed (or by another writer): no flags, no keys.
  WriteSilver(*lake, vitals, "part-0", {"tachycardia", "hypoxic", "dedupe_key", "loinc"});
  WriteSilver(*lake, labs, "part-0", {"range_flag"});
  // Rows without an event id, a subject or an event time cannot be placed: skipped.
  SRow no_subject = Vital("", "SPO2", kT0 + 2 * kH, 91);
  SRow no_id = Vital("A", "SPO2", kT0 + 2 * kH, 92);
  no_id.id = "";
  std::vector<process::SilverRow> bad = {ToSilver(no_subject), ToSilver(no_id)};
  bad[1].cells[process::kColEventId] = Value();
  SRow no_time = Vital("A", "SPO2", kT0 + 3 * kH, 93);
  bad.push_back(ToSilver(no_time));
  bad[2].cells[process::kColEventTime] = Value();
  ASSERT_TRUE(
      lake->WriteParquet("silver/vitals/date=2024-03-01/part-1.parquet", SilverTable("vitals", bad))
          .ok());

  ReadStats stats;
  auto states = ReadSubjects(*lake, spec, &stats);
  ASSERT_TRUE(states.ok()) << states.status().ToString();
  EXPECT_EQ(stats.rows, 7u);
  EXPECT_EQ(stats.skipped, 3u);
  EXPECT_EQ(stats.applied, 4u);
  ASSERT_EQ(states->size(), 1u);
  auto x = Compute(spec, states->at("A"), kT0 + 4 * kH);
  EXPECT_EQ(x[Idx(spec, "tachy_count_all")], 0);    // no column: no row matches
  EXPECT_EQ(x[Idx(spec, "lb_high_count_all")], 0);  // likewise
  EXPECT_EQ(x[Idx(spec, "alt_last_30d")], 80);
  EXPECT_EQ(x[Idx(spec, "spo2_last_24h")], 95);
  EXPECT_EQ(x[Idx(spec, "ae_count_all")], 0);  // no adverse_events table at all

  // A required column missing is an error naming it (and the file).
  auto no_event_time = SilverTable("vitals", {ToSilver(vitals[0])}, {"event_time"});
  ASSERT_TRUE(
      lake->WriteParquet("silver/vitals/date=2024-03-02/part-0.parquet", no_event_time).ok());
  auto broken = ReadSubjects(*lake, spec, nullptr);
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalid);
  EXPECT_NE(broken.status().message().find("event_time"), std::string::npos)
      << broken.status().message();
}

TEST(LakeIoTest, RowsSupersededAcrossFilesFollowSilversRules) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = SmallSpec();
  // Two files of one partition, as before `ctml process` removed the superseded row: the same
  // dedupe_key under two ids (received 1h apart), and the same id twice (a correction).
  SRow original = Vital("A", "SPO2", kT0 + kH, 97, kT0 + kH);
  SRow superseding = original;
  superseding.id = "A-resent";
  superseding.received = kT0 + 2 * kH;
  superseding.cols["value"] = 89.0;
  SRow corrected_before = Vital("A", "SPO2", kT0 + 3 * kH, 80, kT0 + 3 * kH);
  SRow corrected = corrected_before;
  corrected.received = kT0 + 4 * kH;
  corrected.cols["value"] = 94.0;
  WriteSilver(*lake, {superseding, corrected_before}, "part-0");
  WriteSilver(*lake, {original, corrected}, "part-1");
  ReadStats stats;
  auto states = ReadSubjects(*lake, spec, &stats);
  ASSERT_TRUE(states.ok()) << states.status().ToString();
  EXPECT_EQ(stats.rows, 4u);
  EXPECT_EQ(stats.duplicates, 1u);  // the original lost to the row received later
  EXPECT_EQ(states->at("A").rows(), 2u);
  auto x = Compute(spec, states->at("A"), kT0 + 5 * kH);
  EXPECT_EQ(x[Idx(spec, "spo2_count_6h")], 2);
  EXPECT_EQ(x[Idx(spec, "spo2_min_7d")], 89);
  EXPECT_EQ(x[Idx(spec, "spo2_last_24h")], 94);
}

// ---------------------------------------------------------------------------------- training

// Subject A: SpO2 on days 0, 1 (88: the event), 2 and 40 at 10:00; ALT on day 4; an AE and an AE
// discontinuation on day 3. Subject B: SpO2 on days 0 and 1 at 12:00 (follow-up too short).
std::vector<SRow> TrainingRows() {
  std::vector<SRow> rows = {
      Vital("A", "SPO2", kT0 + 10 * kH, 97),
      Vital("A", "SPO2", kT0 + kD + 10 * kH, 88),
      Vital("A", "SPO2", kT0 + 2 * kD + 10 * kH, 96),
      Vital("A", "SPO2", kT0 + 40 * kD + 10 * kH, 95),
      LabRow("A", "ALT", kT0 + 4 * kD + 9 * kH, 35, std::string("NORMAL")),
      Other("adverse_events", "A", "ae1", kT0 + 3 * kD, {{"severity", std::string("MILD")}}),
      Other("disposition", "A", "ds", kT0 + 3 * kD + 12 * kH,
            {{"decod", std::string("ADVERSE EVENT")}}),
      Vital("B", "SPO2", kT0 + 12 * kH, 95),
      Vital("B", "SPO2", kT0 + kD + 12 * kH, 94),
  };
  return rows;
}

int64_t EndOfDay(int day) { return kT0 + (day + 1) * kD - 1; }

TEST(TrainingSetTest, VisitsGridCountsAndManifest) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = SmallSpec();
  WriteSilver(*lake, TrainingRows());
  TrainingSetOptions opts;
  ASSERT_TRUE(ParseGrid("visits", &opts).ok());
  EXPECT_EQ(opts.grid, Grid::kVisits);
  std::vector<std::string> progress;
  auto ts = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", opts,
                             [&](const std::string& l) { progress.push_back(l); });
  ASSERT_TRUE(ts.ok()) << ts.status().ToString();
  EXPECT_FALSE(progress.empty());
  // A's visits: days 0, 1, 2, 4 (labs) and 40; day 3 (AE only) is not a visit; day 40 is
  // censored (no data 24h after). B's two visits are censored.
  EXPECT_EQ(ts->as_of_us,
            (std::vector<int64_t>{EndOfDay(0), EndOfDay(1), EndOfDay(2), EndOfDay(4)}));
  EXPECT_EQ(ts->subject_keys, (std::vector<std::string>(4, "A")));
  EXPECT_EQ(ts->y, (std::vector<float>{1, 0, 0, 0}));  // day 0: the 88 of day 1 follows
  EXPECT_EQ(ts->rows, 4u);
  EXPECT_EQ(ts->positives, 1u);
  EXPECT_EQ(ts->subjects, 1u);
  EXPECT_EQ(ts->censored, 3u);
  EXPECT_EQ(ts->after_terminal, 0u);
  EXPECT_EQ(ts->feature_names, spec.names());
  EXPECT_EQ(ts->spec_hash, spec.spec_hash());
  ASSERT_EQ(ts->x.size(), ts->rows * spec.names().size());
  // Features of the day-1 row: as of 23:59:59.999999 on day 1, the 88 is the last value.
  const size_t k = spec.names().size();
  EXPECT_EQ(ts->x[1 * k + Idx(spec, "spo2_last_24h")], 88);
  EXPECT_EQ(ts->x[1 * k + Idx(spec, "spo2_min_7d")], 88);
  EXPECT_TRUE(std::isnan(ts->x[1 * k + Idx(spec, "alt_last_30d")]));  // ALT only on day 4
  EXPECT_EQ(ts->x[3 * k + Idx(spec, "alt_last_30d")], 35);
  EXPECT_EQ(ts->x[3 * k + Idx(spec, "ae_count_all")], 1);
  EXPECT_TRUE(std::isnan(ts->x[3 * k + Idx(spec, "spo2_last_24h")]));  // nothing since day 2

  // Parquet: subject_key, as_of, label, then the features (NaN as null); and the manifest.
  ASSERT_EQ(ts->dataset_path, "datasets/spo2_below_90_24h/" + ts->dataset_id + "/part-0.parquet");
  auto table = lake->ReadParquet(ts->dataset_path);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ((*table)->num_rows(), 4);
  EXPECT_EQ((*table)->schema()->field(0)->name(), "subject_key");
  EXPECT_EQ((*table)->schema()->field(1)->name(), "as_of");
  EXPECT_EQ((*table)->schema()->field(1)->type()->ToString(), "timestamp[us, tz=UTC]");
  EXPECT_EQ((*table)->schema()->field(2)->name(), "label");
  EXPECT_EQ((*table)->num_columns(), 3 + static_cast<int>(k));
  EXPECT_EQ(Int64Column(**table, "as_of"), ts->as_of_us);
  const auto alt = DoubleColumn(**table, "alt_last_30d");
  ASSERT_EQ(alt.size(), 4u);
  EXPECT_TRUE(std::isnan(alt[0]));
  EXPECT_EQ(alt[3], 35);
  auto bytes = lake->GetBytes("datasets/spo2_below_90_24h/" + ts->dataset_id + "/manifest.json");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto m = nlohmann::json::parse(*bytes);
  EXPECT_EQ(m["dataset_id"], ts->dataset_id);
  EXPECT_EQ(m["label"], "spo2_below_90_24h");
  EXPECT_EQ(m["spec_hash"], spec.spec_hash());
  EXPECT_EQ(m["view"], "small");
  EXPECT_EQ(m["rows"], 4);
  EXPECT_EQ(m["positives"], 1);
  EXPECT_EQ(m["subjects"], 1);
  EXPECT_EQ(m["subjects_in_silver"], 2);
  EXPECT_EQ(m["censored"], 3);
  EXPECT_EQ(m["after_terminal"], 0);
  EXPECT_EQ(m["options"]["grid"], "visits");
  EXPECT_EQ(m["options"]["strict"], false);
  EXPECT_EQ(m["feature_names"].get<std::vector<std::string>>(), spec.names());
  EXPECT_EQ(m["label_spec"], spec.CanonicalLabel(*spec.FindLabel("spo2_below_90_24h")));
  std::set<std::string> inputs;
  for (const auto& in : m["inputs"]) inputs.insert(in["path"].get<std::string>());
  EXPECT_EQ(inputs.size(), 7u);  // one file per (table, date) written above
  EXPECT_TRUE(inputs.count("silver/vitals/date=2024-03-01/part-0.parquet"));

  // Terminal label: after the day-3 discontinuation A has no more examples.
  auto disc = BuildTrainingSet(*lake, spec, "disc_30d", opts);
  ASSERT_TRUE(disc.ok()) << disc.status().ToString();
  EXPECT_EQ(disc->as_of_us, (std::vector<int64_t>{EndOfDay(0), EndOfDay(1), EndOfDay(2)}));
  EXPECT_EQ(disc->y, (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(disc->positives, 3u);
  EXPECT_EQ(disc->after_terminal, 2u);  // A's day 4 and day 40
  EXPECT_EQ(disc->censored, 2u);        // B
  EXPECT_NE(disc->dataset_id, ts->dataset_id);
}

TEST(TrainingSetTest, DailyStepAndFromToGrids) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = SmallSpec();
  WriteSilver(*lake, TrainingRows());
  TrainingSetOptions opts;
  opts.write = false;

  ASSERT_TRUE(ParseGrid("daily", &opts).ok());
  auto daily = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(daily.ok()) << daily.status().ToString();
  // A: the end of days 0..40; days 39 and 40 censored. B: days 0 and 1, both censored.
  EXPECT_EQ(daily->rows, 39u);
  EXPECT_EQ(daily->as_of_us.front(), EndOfDay(0));
  EXPECT_EQ(daily->as_of_us.back(), EndOfDay(38));
  EXPECT_EQ(daily->positives, 1u);
  EXPECT_EQ(daily->censored, 4u);
  EXPECT_EQ(daily->subjects, 1u);
  EXPECT_EQ(daily->dataset_path, "");  // write = false

  // Step (the default, hourly): from first event + 6h to the last event.
  TrainingSetOptions step;
  step.write = false;
  auto hourly = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", step);
  ASSERT_TRUE(hourly.ok());
  EXPECT_EQ(hourly->as_of_us.front(), kT0 + 16 * kH);
  EXPECT_EQ(hourly->rows, 931u);
  EXPECT_EQ(hourly->positives, 18u);  // as_of 16:00 on day 0 .. 09:00 on day 1
  EXPECT_EQ(hourly->censored, 24u + 19u);
  ASSERT_TRUE(ParseGrid("2h", &step).ok());
  EXPECT_EQ(step.grid, Grid::kStep);
  EXPECT_EQ(step.grid_step_us, 2 * kH);
  auto two_hourly = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", step);
  ASSERT_TRUE(two_hourly.ok());
  EXPECT_EQ(two_hourly->rows, 466u);
  EXPECT_EQ(two_hourly->positives, 9u);
  EXPECT_EQ(two_hourly->censored, 12u + 10u);
  EXPECT_NE(two_hourly->dataset_id, hourly->dataset_id);
  EXPECT_FALSE(ParseGrid("weekly", &step).ok());

  // --from / --to bound the grid (inclusive); points outside are not counted at all.
  ASSERT_TRUE(ParseGrid("visits", &opts).ok());
  opts.from_us = kT0 + kD;
  opts.to_us = kT0 + 3 * kD;
  auto bounded = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(bounded.ok());
  EXPECT_EQ(bounded->as_of_us, (std::vector<int64_t>{EndOfDay(1), EndOfDay(2)}));
  EXPECT_EQ(bounded->positives, 0u);
  EXPECT_EQ(bounded->censored, 1u);  // B's day 1
  opts.from_us = EndOfDay(2);
  opts.to_us = EndOfDay(2);
  auto one = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->as_of_us, (std::vector<int64_t>{EndOfDay(2)}));
  EXPECT_NE(one->dataset_id, bounded->dataset_id);
}

TEST(TrainingSetTest, DatasetIdIsStableForTheSameInputsAndStrictUsesReceivedData) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = SmallSpec();
  // Hourly SpO2 for 48 hours, every reading uploaded 3 hours late.
  std::vector<SRow> rows;
  for (int h = 0; h < 48; ++h) {
    rows.push_back(Vital("C", "SPO2", kT0 + h * kH, 95 + h % 3, kT0 + h * kH + 3 * kH));
  }
  WriteSilver(*lake, rows);
  TrainingSetOptions opts;
  auto loose = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(loose.ok()) << loose.status().ToString();
  opts.write = false;
  auto again = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->dataset_id, loose->dataset_id);
  opts.strict = true;
  auto strict = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(strict.ok());
  EXPECT_NE(strict->dataset_id, loose->dataset_id);
  ASSERT_EQ(strict->rows, loose->rows);
  ASSERT_EQ(loose->rows, 18u);  // as_of 6h .. 23h (47h - 24h)
  const size_t k = spec.names().size(), count6 = Idx(spec, "spo2_count_6h");
  const size_t last24 = Idx(spec, "spo2_last_24h");
  for (size_t r = 0; r < strict->rows; ++r) {
    // (as_of - 6h, as_of] holds 6 readings, of which the 3 oldest were received by as_of.
    EXPECT_EQ(loose->x[r * k + count6], 6);
    EXPECT_EQ(strict->x[r * k + count6], 3);
    const int64_t h = (strict->as_of_us[r] - kT0) / kH;
    EXPECT_EQ(loose->x[r * k + last24], 95 + h % 3);
    EXPECT_EQ(strict->x[r * k + last24], 95 + (h - 3) % 3);
  }
  // New Silver data gives another id.
  WriteSilver(*lake, {Vital("D", "SPO2", kT0 + 100 * kH, 97)});
  opts.strict = false;
  auto changed = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(changed->dataset_id, loose->dataset_id);
}

TEST(TrainingSetTest, ErrorsAreClear) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = SmallSpec();
  auto none = BuildTrainingSet(*lake, spec, "spo2_below_90_24h", {});
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  WriteSilver(*lake, TrainingRows());
  auto bad = BuildTrainingSet(*lake, spec, "no_such_label", {});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalid);
  EXPECT_NE(bad.status().message().find("spo2_below_90_24h"), std::string::npos);
  TrainingSetOptions zero;
  zero.grid_step_us = 0;
  EXPECT_EQ(BuildTrainingSet(*lake, spec, "spo2_below_90_24h", zero).status().code(),
            StatusCode::kInvalid);
}

// The labels of the committed spec, read straight from their definition in clinical.yaml.
struct LabelOracle {
  std::string name;
  int64_t horizon;
  bool terminal;
  std::function<bool(const SRow&)> event;
};

std::vector<LabelOracle> ClinicalLabels() {
  auto str = [](const SRow& r, const char* c) {
    auto it = r.cols.find(c);
    return it != r.cols.end() && std::holds_alternative<std::string>(it->second)
               ? std::get<std::string>(it->second)
               : std::string();
  };
  return {
      {"ae_discontinuation_30d", 30 * kD, true,
       [=](const SRow& r) {
         return r.table == "disposition" && str(r, "decod") == "ADVERSE EVENT";
       }},
      {"severe_ae_14d", 14 * kD, false,
       [=](const SRow& r) {
         if (r.table != "adverse_events") return false;
         auto s = r.cols.find("serious");
         const bool serious = s != r.cols.end() && std::holds_alternative<bool>(s->second) &&
                              std::get<bool>(s->second);
         return serious || str(r, "severity") == "SEVERE";
       }},
      {"spo2_below_90_24h", 24 * kH, false,
       [=](const SRow& r) {
         return r.table == "vitals" && str(r, "test_code") == "SPO2" &&
                AsDouble(r.cols.at("value")) < 90;
       }},
  };
}

// Every example of every label of the committed spec, on the visits grid: the label agrees with
// its definition, and the features equal the engine's on only the rows with event_time <= as_of
// (strict: also received_at <= as_of) -- nothing after as_of reaches a training row.
TEST(TrainingSetTest, CommittedSpecExamplesUseOnlyThePast) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = ClinicalSpec();
  const std::vector<SRow> rows = ClinicalRows();
  WriteSilver(*lake, rows);
  for (bool strict : {false, true}) {
    for (const LabelOracle& oracle : ClinicalLabels()) {
      SCOPED_TRACE(oracle.name + (strict ? " strict" : ""));
      TrainingSetOptions opts;
      ASSERT_TRUE(ParseGrid("visits", &opts).ok());
      opts.strict = strict;
      opts.write = false;
      auto ts = BuildTrainingSet(*lake, spec, oracle.name, opts);
      ASSERT_TRUE(ts.ok()) << ts.status().ToString();
      // The expected examples, from the raw rows.
      std::vector<std::pair<std::string, int64_t>> want;
      std::vector<float> want_y;
      size_t censored = 0, after_terminal = 0;
      for (const std::string& s : SubjectsOf(rows)) {
        const std::vector<SRow> mine = RowsOf(rows, s);
        std::set<int64_t> visit_days;
        int64_t last = 0;
        for (const auto& r : mine) {
          last = std::max(last, r.t);
          if (r.table == "vitals" || r.table == "labs") visit_days.insert(DayStart(r.t));
        }
        for (int64_t d : visit_days) {
          const int64_t as_of = d + kD - 1;
          bool before = false, after = false;
          for (const auto& r : mine) {
            if (!oracle.event(r)) continue;
            before |= r.t <= as_of;
            after |= r.t > as_of && r.t <= as_of + oracle.horizon;
          }
          if (oracle.terminal && before) {
            ++after_terminal;
          } else if (!after && last < as_of + oracle.horizon) {
            ++censored;
          } else {
            want.emplace_back(s, as_of);
            want_y.push_back(after ? 1.0f : 0.0f);
          }
        }
      }
      ASSERT_EQ(ts->rows, want.size());
      EXPECT_EQ(ts->y, want_y);
      EXPECT_EQ(ts->censored, censored);
      EXPECT_EQ(ts->after_terminal, after_terminal);
      size_t positives = 0;
      for (float y : want_y) positives += y > 0.5f;
      EXPECT_EQ(ts->positives, positives);
      EXPECT_GT(positives, 0u);
      const size_t k = spec.names().size();
      for (size_t r = 0; r < ts->rows; ++r) {
        ASSERT_EQ(ts->subject_keys[r], want[r].first);
        ASSERT_EQ(ts->as_of_us[r], want[r].second);
        const int64_t as_of = want[r].second;
        const SubjectState known = StateOf(spec, RowsOf(rows, want[r].first), [&](const SRow& row) {
          return row.t <= as_of && (!strict || row.received <= as_of);
        });
        const std::vector<double> expect = Compute(spec, known, as_of);
        std::vector<double> got(ts->x.begin() + static_cast<std::ptrdiff_t>(r * k),
                                ts->x.begin() + static_cast<std::ptrdiff_t>((r + 1) * k));
        std::vector<double> expect_f;
        for (double v : expect) expect_f.push_back(static_cast<double>(static_cast<float>(v)));
        ExpectSameVector(spec, got, expect_f, want[r].first + " " + FormatIso8601(as_of));
      }
      if (HasFailure()) return;
    }
  }
}

// ---------------------------------------------------------------------------------- streaming

// Records the silver.<table> topics carry beyond the Silver rows: a row later superseded by
// another id with the same dedupe_key, the first version of a correction (same id), the loser
// of an exact tie, and a plain replay. Silver holds only the winners (`rows`).
struct TopicExtras {
  std::vector<SRow> winners;  // replaces the matching rows of ClinicalRows() in Silver
  std::vector<SRow> losers;   // only on the topics
};

TopicExtras Extras(const std::vector<SRow>& rows) {
  TopicExtras e;
  // S0's day-3 PULSE: first sent under another id, superseded by the Silver row received later.
  for (const auto& r : rows) {
    if (r.subject == "S0" && r.table == "vitals" && r.t == kT0 + 3 * kD + 10 * kH &&
        std::get<std::string>(r.cols.at("test_code")) == "PULSE") {
      SRow first = r;
      first.id = r.id + "-first";
      first.received = r.received - kH;
      first.cols["value"] = 150.0;
      first.cols["tachycardia"] = true;
      e.losers.push_back(first);
    }
    // S1's day-7 ALT: a correction under the same id; the first version was received earlier.
    if (r.subject == "S1" && r.table == "labs" && r.t == kT0 + kD + 7 * kD + 8 * kH &&
        std::get<std::string>(r.cols.at("test_code")) == "ALT") {
      SRow first = r;
      first.received = r.received - 30 * kMin;
      first.cols["value"] = 999.0;
      first.cols["range_flag"] = std::string("HIGH");
      e.losers.push_back(first);
    }
    if (r.subject == "S3" && r.table == "vitals" && r.t == kT0 + 10 * kH + 3 * kMin &&
        std::get<std::string>(r.cols.at("test_code")) == "SPO2") {
      e.losers.push_back(r);  // a replay of a Silver row
    }
  }
  // S2: two AEs with one natural key received at the same instant; the larger id hash wins.
  SRow a = Other("adverse_events", "S2", "tie-a", kT0 + 2 * kD + 6 * kD,
                 {{"severity", std::string("SEVERE")}, {"serious", true}});
  SRow b = a;
  b.id = "S2-tie-b";
  b.cols["severity"] = std::string("MILD");
  b.cols["serious"] = false;
  const bool a_wins = Hash64(a.id) > Hash64(b.id);
  e.winners.push_back(a_wins ? a : b);
  e.losers.push_back(a_wins ? b : a);
  return e;
}

std::vector<store::LogRecord> Records(const std::vector<SRow>& rows) {
  std::vector<store::LogRecord> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    store::LogRecord rec;
    rec.topic = "silver." + rows[i].table;
    rec.offset = static_cast<int64_t>(i);
    rec.key = rows[i].subject;
    rec.value = RowJsonOf(rows[i]);
    out.push_back(rec);
  }
  return out;
}

TEST(MaterializerTest, StreamingVectorsEqualTheBatchEngine) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = ClinicalSpec();
  std::vector<SRow> silver = ClinicalRows();
  const TopicExtras extras = Extras(silver);
  ASSERT_EQ(extras.losers.size(), 4u);
  silver.insert(silver.end(), extras.winners.begin(), extras.winners.end());
  WriteSilver(*lake, silver);
  ReadStats rs;
  auto batch = ReadSubjects(*lake, spec, &rs);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();

  // The topics: every Silver row in an arbitrary interleaving of the tables, and the extras
  // before or after them, applied in batches of 37, plus a record that does not parse and one of
  // a table the spec does not read.
  std::vector<SRow> shuffled = silver;
  std::mt19937 rng(11);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  for (bool losers_first : {false, true}) {
    SCOPED_TRACE(losers_first ? "losers first" : "losers last");
    std::vector<SRow> topic = losers_first ? extras.losers : shuffled;
    const auto& rest = losers_first ? shuffled : extras.losers;
    topic.insert(topic.end(), rest.begin(), rest.end());
    std::vector<store::LogRecord> records = Records(topic);
    store::LogRecord garbage = records.front();
    garbage.value = "{not json";
    store::LogRecord unread = records.front();
    unread.topic = "silver.quarantine";
    records.insert(records.begin() + 100, garbage);
    records.push_back(unread);
    MemoryOnline online;
    Materializer m(spec, online);
    for (size_t i = 0; i < records.size(); i += 37) {
      std::vector<store::LogRecord> part(
          records.begin() + static_cast<std::ptrdiff_t>(i),
          records.begin() + static_cast<std::ptrdiff_t>(std::min(records.size(), i + 37)));
      ASSERT_TRUE(m.Apply(part).ok());
    }
    const MaterializerStats stats = m.stats();
    EXPECT_EQ(stats.events, records.size());
    EXPECT_EQ(stats.invalid, 2u);
    // Last, every extra loses; first, they are applied and then superseded (but the replay).
    EXPECT_EQ(stats.duplicates, losers_first ? 1u : extras.losers.size());
    EXPECT_EQ(stats.subjects, 8u);
    EXPECT_EQ(online.puts, static_cast<int>((records.size() + 36) / 37));
    ASSERT_EQ(online.data.size(), 8u);
    int64_t latest = 0;
    for (const auto& [key, st] : *batch) {
      SCOPED_TRACE(key);
      latest = std::max(latest, st.last_event_time_us());
      const store::FeatureVector& v = online.data.at(key + "/clinical");
      EXPECT_EQ(v.entity_key, key);
      EXPECT_EQ(v.view, "clinical");
      EXPECT_EQ(v.spec_hash, spec.spec_hash());
      EXPECT_EQ(v.as_of_us, st.last_event_time_us());
      ASSERT_EQ(v.values.size(), spec.names().size());
      for (size_t j = 0; j < v.values.size(); ++j) EXPECT_EQ(v.values[j].first, spec.names()[j]);
      ExpectSameVector(spec, ValuesOf(v), Compute(spec, st, v.as_of_us), "online vs batch");
      auto direct = m.VectorFor(key);
      ASSERT_TRUE(direct.ok());
      ExpectSameVector(spec, ValuesOf(*direct), ValuesOf(v), "VectorFor");
    }
    EXPECT_EQ(stats.last_event_time_us, latest);
    EXPECT_EQ(m.VectorFor("nobody").status().code(), StatusCode::kNotFound);
    const auto& s0 = online.data.at("S0/clinical");
    EXPECT_LT(s0.values[Idx(spec, "vs_pulse_max_30d")].second, 150);
  }
}

TEST(MaterializerTest, RebuildThenReplayIsIdempotent) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = ClinicalSpec();
  std::vector<SRow> silver = ClinicalRows();
  const TopicExtras extras = Extras(silver);
  silver.insert(silver.end(), extras.winners.begin(), extras.winners.end());
  WriteSilver(*lake, silver);
  MemoryOnline online;
  Materializer m(spec, online);
  ASSERT_TRUE(m.Rebuild(*lake).ok());
  ASSERT_EQ(online.data.size(), 8u);
  EXPECT_EQ(m.stats().vectors_written, 8u);
  const auto rebuilt = online.data;

  // The topics replay everything Silver already holds, and the losers: nothing changes.
  std::vector<SRow> topic = silver;
  topic.insert(topic.end(), extras.losers.begin(), extras.losers.end());
  const auto records = Records(topic);
  ASSERT_TRUE(m.Apply(records).ok());
  EXPECT_EQ(m.stats().duplicates, records.size());
  for (const auto& [key, v] : rebuilt) {
    const auto& now = online.data.at(key);
    EXPECT_EQ(now.as_of_us, v.as_of_us) << key;
    ExpectSameVector(spec, ValuesOf(now), ValuesOf(v), key + " after replay");
  }

  // A new event moves the vector forward; a failed Put surfaces as an error, and the replay
  // after the failure rewrites the vector although the event is now a duplicate.
  const SRow next = Vital("S5", "SPO2", kT0 + 45 * kD, 84);
  online.fail_next = true;
  EXPECT_FALSE(m.Apply(Records({next})).ok());
  EXPECT_EQ(online.data.at("S5/clinical").as_of_us, rebuilt.at("S5/clinical").as_of_us);
  ASSERT_TRUE(m.Apply(Records({next})).ok());
  const auto& moved = online.data.at("S5/clinical");
  EXPECT_EQ(moved.as_of_us, kT0 + 45 * kD);
  EXPECT_EQ(moved.values[Idx(spec, "vs_spo2_last_24h")].second, 84);
}

// ---------------------------------------------------------------------------------- snapshots

TEST(SnapshotTest, EachDayHoldsTheVectorAsOfTheLatestEventOfThatDay) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  const FeatureSpec spec = ClinicalSpec();
  const std::vector<SRow> rows = ClinicalRows();
  WriteSilver(*lake, rows);
  auto states = ReadSubjects(*lake, spec, nullptr);
  ASSERT_TRUE(states.ok());

  // --all: exactly the days with a Silver row (not the gaps between visits).
  std::set<std::string> days_with_rows;
  for (const auto& r : rows) days_with_rows.insert(FormatDate(r.t));
  std::vector<std::string> lines;
  auto report =
      WriteDailySnapshots(*lake, spec, {}, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->dates, std::vector<std::string>(days_with_rows.begin(), days_with_rows.end()));
  EXPECT_FALSE(lines.empty());
  EXPECT_EQ(report->paths.size(), report->dates.size());
  size_t total = 0;
  for (size_t i = 0; i < report->dates.size(); ++i) {
    const std::string& date = report->dates[i];
    SCOPED_TRACE(date);
    EXPECT_EQ(report->paths[i], "features/offline/clinical/date=" + date + "/part-0.parquet");
    auto t = lake->ReadParquet(report->paths[i]);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    const int64_t end = *ParseIso8601(date) + kD - 1;
    const auto keys = StringColumn(**t, "subject_key");
    const auto as_of = Int64Column(**t, "as_of");
    const auto hashes = StringColumn(**t, "spec_hash");
    std::vector<std::string> expect_keys;
    for (const auto& [key, st] : *states) {
      if (st.LastEventAtOrBefore(end)) expect_keys.push_back(key);
    }
    ASSERT_EQ(keys, expect_keys);  // subjects with events on or before D
    total += keys.size();
    for (size_t r = 0; r < keys.size(); ++r) {
      const SubjectState& st = states->at(keys[r]);
      EXPECT_EQ(as_of[r], *st.LastEventAtOrBefore(end));
      EXPECT_EQ(hashes[r], spec.spec_hash());
      const std::vector<double> want = Compute(spec, st, as_of[r]);
      std::vector<double> got;
      for (const auto& name : spec.names()) got.push_back(DoubleColumn(**t, name)[r]);
      ExpectSameVector(spec, got, want, keys[r]);
    }
    if (HasFailure()) return;
  }
  EXPECT_EQ(report->rows, total);

  // The last day's snapshot is what the online store holds after a rebuild.
  MemoryOnline online;
  Materializer m(spec, online);
  ASSERT_TRUE(m.Rebuild(*lake).ok());
  auto last = lake->ReadParquet(report->paths.back());
  ASSERT_TRUE(last.ok());
  const auto keys = StringColumn(**last, "subject_key");
  const auto as_of = Int64Column(**last, "as_of");
  ASSERT_EQ(keys.size(), online.data.size());
  for (size_t r = 0; r < keys.size(); ++r) {
    const auto& v = online.data.at(keys[r] + "/clinical");
    EXPECT_EQ(as_of[r], v.as_of_us);
    std::vector<double> got;
    for (const auto& name : spec.names()) got.push_back(DoubleColumn(**last, name)[r]);
    ExpectSameVector(spec, got, ValuesOf(v), keys[r] + " snapshot vs online");
  }

  // A named day without rows (a gap between visits): each subject as of its latest event
  // before it.
  std::string gap;
  for (int64_t d = kT0; d < kT0 + 40 * kD && gap.empty(); d += kD) {
    if (!days_with_rows.count(FormatDate(d))) gap = FormatDate(d);
  }
  ASSERT_FALSE(gap.empty());
  auto one = WriteDailySnapshots(*lake, spec, {gap}, nullptr);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->dates, std::vector<std::string>{gap});
  auto g = lake->ReadParquet(one->paths[0]);
  ASSERT_TRUE(g.ok());
  const auto gap_as_of = Int64Column(**g, "as_of");
  const auto gap_keys = StringColumn(**g, "subject_key");
  const int64_t gap_end = *ParseIso8601(gap) + kD - 1;
  std::vector<std::string> gap_expect;
  for (const auto& [key, st] : *states) {
    if (st.LastEventAtOrBefore(gap_end)) gap_expect.push_back(key);
  }
  ASSERT_EQ(gap_keys, gap_expect);
  for (size_t r = 0; r < gap_keys.size(); ++r) {
    EXPECT_EQ(gap_as_of[r], *states->at(gap_keys[r]).LastEventAtOrBefore(gap_end));
    EXPECT_LT(gap_as_of[r], *ParseIso8601(gap));  // from an earlier day
  }
  EXPECT_EQ(WriteDailySnapshots(*lake, spec, {"03/02/2024"}, nullptr).status().code(),
            StatusCode::kInvalid);
  TempDir empty_dir;
  auto empty = OpenTestLake(empty_dir);
  EXPECT_EQ(WriteDailySnapshots(*empty, spec, {}, nullptr).status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------- service

TEST(FeaturesOnRealStoresTest, StreamingServiceConsumesEveryTopicCommitsAndMatchesBatch) {
  TempDir dir;
  auto lake = OpenTestLake(dir);
  auto log = store::OpenEventLog("sqlite://" + dir.str() + "/log.db");
  auto online = store::OpenOnlineStore("sqlite://" + dir.str() + "/online.db");
  ASSERT_TRUE(log.ok() && online.ok());
  const FeatureSpec spec = ClinicalSpec();
  std::vector<SRow> rows = ClinicalRows();
  const TopicExtras extras = Extras(rows);
  rows.insert(rows.end(), extras.winners.begin(), extras.winners.end());
  // The first 300 rows are already in Silver (and on the topics); the rest only on the topics.
  WriteSilver(*lake, std::vector<SRow>(rows.begin(), rows.begin() + 300));
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_topic;
  std::vector<SRow> topic = rows;
  topic.insert(topic.end(), extras.losers.begin(), extras.losers.end());
  for (const auto& r : topic) by_topic["silver." + r.table].emplace_back(r.subject, RowJsonOf(r));
  for (const auto& [t, kvs] : by_topic) ASSERT_TRUE((*log)->AppendBatch(t, kvs).ok()) << t;
  EXPECT_EQ(by_topic.size(), 7u);

  Materializer m(spec, **online);
  ASSERT_TRUE(m.Rebuild(*lake).ok());
  std::atomic<bool> stop{false};
  Status run_status;
  std::thread consumer([&] {
    MaterializerOptions opts;
    opts.batch_records = 50;
    opts.poll = std::chrono::milliseconds(20);
    run_status = m.Run(**log, opts, stop);
  });
  // Wait (bounded) until every record of every topic was consumed and committed.
  int64_t lag = -1;
  for (int i = 0; i < 600 && lag != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    lag = 0;
    for (const auto& [t, kvs] : by_topic) {
      auto lags = (*log)->Lag(t);
      ASSERT_TRUE(lags.ok());
      bool seen = false;
      for (const auto& g : *lags) {
        if (g.group == "features") {
          lag += g.lag;
          seen = true;
        }
      }
      if (!seen) lag += static_cast<int64_t>(kvs.size());
    }
  }
  stop.store(true);
  consumer.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  EXPECT_EQ(lag, 0);
  EXPECT_EQ(m.stats().events, topic.size());
  EXPECT_EQ(m.stats().duplicates, 300u + extras.losers.size());

  // Online vectors equal the batch engine over all of Silver (written now) at the same as_of.
  WriteSilver(*lake, rows);
  auto states = ReadSubjects(*lake, spec, nullptr);
  ASSERT_TRUE(states.ok());
  auto count = (*online)->Count("clinical");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 8);
  for (const auto& [key, st] : *states) {
    auto got = (*online)->Get(key, "clinical");
    ASSERT_TRUE(got.ok() && got->has_value()) << key;
    const store::FeatureVector& v = **got;
    EXPECT_EQ(v.spec_hash, spec.spec_hash());
    EXPECT_EQ(v.as_of_us, st.last_event_time_us());
    ExpectSameVector(spec, ValuesOf(v), Compute(spec, st, v.as_of_us), key + " sqlite online");
  }
}

}  // namespace
}  // namespace ctml::features
