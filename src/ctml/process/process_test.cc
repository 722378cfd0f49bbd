#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "ctml/core/crypto.h"
#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/process/batch_intent.h"
#include "ctml/process/compact.h"
#include "ctml/process/lake_writers.h"
#include "ctml/process/report.h"
#include "ctml/process/silver_rows.h"
#include "ctml/process/silver_writer.h"
#include "ctml/process/standards.h"
#include "ctml/store/factory.h"

namespace ctml::process {
namespace {
namespace fs = std::filesystem;

const Standards& Std() {
  static const Standards s = [] {
    auto r = Standards::Load(std::string(CTML_SOURCE_DIR) + "/config/standards");
    if (!r.ok()) throw std::runtime_error(r.status().ToString());
    return std::move(*r);
  }();
  return s;
}

// ------------------------------------------------------------------ standards tables

TEST(StandardsTest, FindsTestsByExistingStackNameSdtmCodeAndLoinc) {
  EXPECT_EQ(Std().FindTest("VS", "ctml", "heart_rate").test->code, "PULSE");
  EXPECT_EQ(Std().FindTest("VS", "ctml", "blood_pressure_systolic").test->code, "SYSBP");
  EXPECT_EQ(Std().FindTest("VS", "SDTM", "sysbp").test->code, "SYSBP");
  EXPECT_EQ(Std().FindTest("VS", "LOINC", "8480-6").test->code, "SYSBP");
  EXPECT_EQ(Std().FindTest("LB", "LN", "2345-7").test->code, "GLUC");
  EXPECT_EQ(Std().FindTest("LB", "ctml", "Blood Glucose").test->code, "GLUC");
  EXPECT_EQ(Std().FindTest("LB", "ctml", "Liver Enzyme (ALT)").test->code, "ALT");
  EXPECT_EQ(Std().FindTest("LB", "L", "WBC").test->code, "WBC");  // HL7 local code
  EXPECT_EQ(Std().FindTest("VS", "ctml", "temperature_celsius").implied_unit, "C");
  EXPECT_EQ(Std().FindTest("LB", "ctml", "Unobtainium").test, nullptr);
  EXPECT_EQ(Std().FindTest("VS", "LOINC", "2345-7").test, nullptr);  // a lab code is no vital
}

TEST(StandardsTest, ConvertsCdiscAndUcumSpellingsToStandardUnits) {
  auto conv = [](const char* domain, const char* test, const char* unit, double v) -> double {
    const StandardTest* t = Std().ByCode(domain, test);
    auto u = Std().CanonicalUnit(unit);
    if (!t || !u) return NAN;
    auto c = Std().ConversionTo(*t, *u);
    return c ? c->Apply(v) : NAN;
  };
  EXPECT_NEAR(conv("VS", "TEMP", "[degF]", 98.6), 37.0, 1e-9);
  EXPECT_NEAR(conv("VS", "TEMP", "F", 212), 100.0, 1e-9);
  EXPECT_NEAR(conv("VS", "WEIGHT", "[lb_av]", 100), 45.359237, 1e-9);
  EXPECT_NEAR(conv("VS", "HEIGHT", "in", 70), 177.8, 1e-9);
  EXPECT_NEAR(conv("LB", "GLUC", "mg/dL", 100), 5.551, 1e-9);
  EXPECT_NEAR(conv("LB", "CREAT", "mg/dl", 1), 88.4, 1e-9);
  EXPECT_NEAR(conv("LB", "WBC", "10*9/L", 7.2), 7.2, 1e-12);
  EXPECT_NEAR(conv("LB", "WBC", "10*3/uL", 7.2), 7.2, 1e-12);
  EXPECT_NEAR(conv("LB", "SODIUM", "meq/L", 140), 140, 1e-12);
  EXPECT_NEAR(conv("LB", "HCT", "%", 42), 0.42, 1e-12);
  EXPECT_TRUE(std::isnan(conv("LB", "CA", "U/L", 1)));        // no such conversion
  EXPECT_TRUE(std::isnan(conv("LB", "GLUC", "furlong", 1)));  // unknown spelling
}

TEST(StandardsTest, ABadTableNamesTheFileAndLine) {
  fs::path dir = fs::path(::testing::TempDir()) / ("ctml-std-" + HexEncode(RandomBytes(4)));
  fs::create_directories(dir);
  for (const char* f : {"tests.csv", "test_aliases.csv", "units.csv", "conversions.csv"}) {
    fs::copy_file(fs::path(CTML_SOURCE_DIR) / "config/standards" / f, dir / f);
  }
  {
    std::ofstream out(dir / "conversions.csv", std::ios::app);
    out << "GLUC,mg/dL,mmol/L,abc,0\n";
  }
  auto s = Standards::Load(dir.string());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("conversions.csv:"), std::string::npos)
      << s.status().ToString();
  EXPECT_NE(s.status().message().find("'abc' is not a number"), std::string::npos);
  fs::remove_all(dir);
}

// ------------------------------------------------------------------ extraction

ingest::CanonicalEvent Vitals(const std::string& id, const std::string& subject, int64_t t,
                              const std::string& measurements, int64_t received = 0) {
  ingest::CanonicalEvent ev;
  ev.event_id = id;
  ev.event_type = "vital_signs";
  ev.study_id = "STUDY1";
  ev.site_id = "SITE1";
  ev.subject_key = subject;
  ev.event_time_us = t;
  ev.received_at_us = received ? received : t + kMicrosPerSecond;
  ev.source = "gateway";
  ev.payload_json = R"({"measurements":[)" + measurements + R"(],"precision":"second"})";
  return ev;
}

std::string M(const char* test, const char* value, const char* unit, const char* system = "ctml") {
  return std::string(R"({"test":")") + test + R"(","code_system":")" + system + R"(","value":)" +
         value + R"(,"unit":")" + unit + R"("})";
}

const int64_t kT0 = 1'709'280'000'000'000;  // 2024-03-01T08:00:00Z

template <typename T>
T Cell(const SilverRow& r, const char* col) {
  int i = SchemaOf(r.table).Column(col);
  EXPECT_GE(i, 0) << col;
  return std::get<T>(r.cells[static_cast<size_t>(i)]);
}
bool IsNull(const SilverRow& r, const char* col) {
  return std::holds_alternative<std::monostate>(
      r.cells[static_cast<size_t>(SchemaOf(r.table).Column(col))]);
}

TEST(ExtractTest, VitalsAreStandardizedWithDerivedValuesAndClinicalFlags) {
  Extracted ex;
  ExtractRows(
      Vitals("e1", "S1", kT0,
             M("systolic_bp", "150", "mmHg") + "," + M("diastolic_bp", "95", "mm[Hg]") + "," +
                 M("heart_rate", "110", "/min") + "," + M("TEMP", "100.4", "[degF]", "SDTM") + "," +
                 M("oxygen_saturation", "93", "%") + "," + M("weight_kg", "80", "kg") + "," +
                 M("HEIGHT", "70", "[in_i]", "SDTM")),
      Std(), &ex);
  ASSERT_EQ(ex.quarantined.size(), 0u);
  ASSERT_EQ(ex.rows.size(), 7u);
  std::map<std::string, const SilverRow*> by;
  for (const auto& r : ex.rows) by[Cell<std::string>(r, "test_code")] = &r;
  EXPECT_EQ(Cell<std::string>(*by["TEMP"], "event_id"), "e1:TEMP");
  EXPECT_NEAR(Cell<double>(*by["TEMP"], "value"), 38.0, 1e-9);
  EXPECT_EQ(Cell<std::string>(*by["TEMP"], "unit"), "C");
  EXPECT_NEAR(Cell<double>(*by["TEMP"], "orig_value"), 100.4, 1e-9);
  EXPECT_EQ(Cell<std::string>(*by["TEMP"], "orig_unit"), "[degF]");
  EXPECT_EQ(Cell<std::string>(*by["TEMP"], "loinc"), "8310-5");
  EXPECT_EQ(Cell<std::string>(*by["PULSE"], "unit"), "beats/min");
  EXPECT_NEAR(Cell<double>(*by["HEIGHT"], "value"), 177.8, 1e-9);
  const SilverRow& any = *by["PULSE"];
  EXPECT_NEAR(Cell<double>(any, "map"), (150 + 2 * 95) / 3.0, 1e-9);
  EXPECT_NEAR(Cell<double>(any, "pulse_pressure"), 55, 1e-9);
  EXPECT_NEAR(Cell<double>(any, "bmi"), 80 / (1.778 * 1.778), 1e-9);
  EXPECT_TRUE(Cell<bool>(any, "tachycardia"));
  EXPECT_FALSE(Cell<bool>(any, "bradycardia"));
  EXPECT_TRUE(Cell<bool>(any, "hypertensive"));
  EXPECT_FALSE(Cell<bool>(any, "hypotensive"));
  EXPECT_TRUE(Cell<bool>(any, "febrile"));
  EXPECT_FALSE(Cell<bool>(any, "hypothermic"));
  EXPECT_TRUE(Cell<bool>(any, "hypoxic"));
}

TEST(ExtractTest, FlagsAreNullWithoutTheirMeasurement) {
  Extracted ex;
  ExtractRows(Vitals("e1", "S1", kT0, M("heart_rate", "55", "beats/min")), Std(), &ex);
  ASSERT_EQ(ex.rows.size(), 1u);
  EXPECT_TRUE(Cell<bool>(ex.rows[0], "bradycardia"));
  EXPECT_TRUE(IsNull(ex.rows[0], "febrile"));
  EXPECT_TRUE(IsNull(ex.rows[0], "map"));
}

TEST(ExtractTest, BadMeasurementsAreQuarantinedWithAReasonAndTheRestKept) {
  Extracted ex;
  ExtractRows(
      Vitals("e1", "S1", kT0,
             M("heart_rate", "900", "beats/min") + "," + M("mood", "3", "points") + "," +
                 M("systolic_bp", "120", "furlongs") + "," + M("TEMP", "37", "mmHg", "SDTM") + "," +
                 M("respiratory_rate", "16", "breaths/min")),
      Std(), &ex);
  ASSERT_EQ(ex.rows.size(), 1u);
  EXPECT_EQ(Cell<std::string>(ex.rows[0], "test_code"), "RESP");
  std::map<std::string, std::string> reasons;
  for (const auto& q : ex.quarantined) reasons[q.test] = q.reason_code;
  EXPECT_EQ(reasons["heart_rate"], "IMPLAUSIBLE_VALUE");
  EXPECT_EQ(reasons["mood"], "UNKNOWN_TEST_CODE");
  EXPECT_EQ(reasons["systolic_bp"], "UNKNOWN_UNIT");
  EXPECT_EQ(reasons["TEMP"], "UNIT_NOT_CONVERTIBLE");
  for (const auto& q : ex.quarantined) {
    EXPECT_EQ(q.source_event_id, "e1");
    EXPECT_FALSE(q.detail.empty());
  }
  Extracted orphan;
  ExtractRows(Vitals("e2", "", kT0, M("heart_rate", "70", "beats/min")), Std(), &orphan);
  ASSERT_EQ(orphan.quarantined.size(), 1u);
  EXPECT_EQ(orphan.quarantined[0].reason_code, "ORPHAN_RECORD");
}

ingest::CanonicalEvent Lab(const std::string& id, const std::string& payload, int64_t t = kT0) {
  ingest::CanonicalEvent ev;
  ev.event_id = id;
  ev.event_type = "lab_result";
  ev.study_id = "STUDY1";
  ev.site_id = "SITE1";
  ev.subject_key = "S1";
  ev.event_time_us = t;
  ev.received_at_us = t + 10;
  ev.source = "hl7";
  ev.payload_json = payload;
  return ev;
}

TEST(ExtractTest, LabRangesAreConvertedAndAFlagComputedWhenTheSourceGivesNone) {
  Extracted ex;
  ExtractRows(Lab("l1", R"({"test":"Blood Glucose","code_system":"ctml","value":200,
                            "value_text":"200","unit":"mg/dL","ref_low":70,"ref_high":100})"),
              Std(), &ex);
  ExtractRows(Lab("l2", R"({"test":"2345-7","code_system":"LN","value":3.0,"unit":"mmol/L",
                            "ref_low":3.9,"ref_high":6.1,"abnormal_flag":"N"})"),
              Std(), &ex);
  ASSERT_EQ(ex.rows.size(), 2u);
  const SilverRow& a = ex.rows[0];
  EXPECT_EQ(Cell<std::string>(a, "test_code"), "GLUC");
  EXPECT_NEAR(Cell<double>(a, "value"), 200 * 0.05551, 1e-9);
  EXPECT_EQ(Cell<std::string>(a, "unit"), "mmol/L");
  EXPECT_NEAR(Cell<double>(a, "ref_low"), 70 * 0.05551, 1e-9);
  EXPECT_NEAR(Cell<double>(a, "ref_high"), 100 * 0.05551, 1e-9);
  EXPECT_NEAR(Cell<double>(a, "orig_ref_high"), 100, 1e-9);
  EXPECT_EQ(Cell<std::string>(a, "range_flag"), "HIGH");
  EXPECT_EQ(Cell<std::string>(a, "range_flag_source"), "computed");
  // The source's own flag is kept, not recomputed.
  EXPECT_EQ(Cell<std::string>(ex.rows[1], "range_flag"), "NORMAL");
  EXPECT_EQ(Cell<std::string>(ex.rows[1], "range_flag_source"), "source");
}

TEST(ExtractTest, ANumberWithoutAUnitIsQuarantined) {
  Extracted no_unit;
  ExtractRows(Lab("l9", R"({"test":"GLUC","code_system":"SDTM","value":110})"), Std(), &no_unit);
  ASSERT_EQ(no_unit.quarantined.size(), 1u) << "a number without a unit is never assumed standard";
  EXPECT_EQ(no_unit.quarantined[0].reason_code, "MISSING_UNIT");
  Extracted text_only;  // a non-numeric result needs no unit
  ExtractRows(Lab("l10", R"({"test":"COLOR","code_system":"SDTM","value":null,"value_text":"N"})"),
              Std(), &text_only);
  EXPECT_EQ(text_only.rows.size(), 1u);
}

TEST(ExtractTest, EveryDomainHasItsTable) {
  Extracted ex;
  auto ev = Lab("a1", R"({"term":"HEADACHE","severity":"MILD","grade":1,"serious":false})");
  ev.event_type = "adverse_event";
  ExtractRows(ev, Std(), &ex);
  ev.event_type = "demographics";
  ev.payload_json = R"({"age":67,"sex":"F","race":"WHITE","weight_kg":70.5})";
  ExtractRows(ev, Std(), &ex);
  ev.event_type = "medication";
  ev.payload_json = R"({"name":"ASPIRIN","dose":81,"dose_unit":"mg"})";
  ExtractRows(ev, Std(), &ex);
  ev.event_type = "exposure";
  ev.payload_json = R"({"treatment":"XANOMELINE","dose":54,"dose_unit":"mg"})";
  ExtractRows(ev, Std(), &ex);
  ev.event_type = "disposition";
  ev.payload_json = R"({"term":"COMPLETED","decod":"COMPLETED"})";
  ExtractRows(ev, Std(), &ex);
  ASSERT_EQ(ex.rows.size(), 5u);
  EXPECT_EQ(ex.rows[0].table, Table::kAdverseEvents);
  EXPECT_EQ(Cell<std::string>(ex.rows[0], "term"), "HEADACHE");
  EXPECT_EQ(Cell<int64_t>(ex.rows[0], "grade"), 1);
  EXPECT_EQ(ex.rows[1].table, Table::kSubjects);
  EXPECT_EQ(Cell<int64_t>(ex.rows[1], "age"), 67);
  EXPECT_EQ(ex.rows[2].table, Table::kMedications);
  EXPECT_NEAR(Cell<double>(ex.rows[2], "dose"), 81, 1e-12);
  EXPECT_EQ(ex.rows[3].table, Table::kExposure);
  EXPECT_EQ(ex.rows[4].table, Table::kDisposition);
  EXPECT_EQ(Cell<std::string>(ex.rows[4], "decod"), "COMPLETED");
}

// ------------------------------------------------------------------ writer, dedupe, modes

class WriterTest : public ::testing::Test {
 public:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("ctml-process-" + HexEncode(RandomBytes(4)));
    auto lake = store::OpenLake("file://" + (dir_ / "lake").string());
    ASSERT_TRUE(lake.ok()) << lake.status().ToString();
    lake_ = std::move(*lake);
    auto log = store::OpenEventLog("sqlite://" + (dir_ / "log.db").string());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Append(const ingest::CanonicalEvent& ev) {
    ASSERT_TRUE(log_->Append(ingest::TopicFor(ev.event_type), ev.subject_key, ev.ToJson()).ok());
  }

  // Streams everything in the log through bronze and silver in batches of `n`.
  void Stream(size_t n, const std::string& group = "process") {
    auto consumer = log_->Subscribe(group, RawTopics());
    ASSERT_TRUE(consumer.ok());
    auto bronze = log_->Subscribe(group + "-bronze", RawTopics());
    ASSERT_TRUE(bronze.ok());
    SilverWriter writer(*lake_, Std());
    BatchIntent intent(*lake_, *log_, group, group);
    for (;;) {
      auto b = (*bronze)->Poll(n, std::chrono::milliseconds(0));
      ASSERT_TRUE(b.ok());
      if (b->empty()) break;
      ASSERT_TRUE(WriteBronze(*lake_, *b).ok());
      ASSERT_TRUE((*bronze)->Commit(*b).ok());
    }
    for (;;) {
      auto batch = (*consumer)->Poll(n, std::chrono::milliseconds(0));
      ASSERT_TRUE(batch.ok());
      if (batch->empty()) break;
      auto rolled = intent.Recover();
      ASSERT_TRUE(rolled.ok());
      if (*rolled) writer.ResetIndex();
      auto p = writer.Prepare(*batch);
      ASSERT_TRUE(p.ok());
      ASSERT_TRUE(intent.Begin(*batch, writer.FilesOf(**p)).ok());
      auto out = writer.Write(**p);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      ASSERT_TRUE((*consumer)->Commit(*batch).ok());
      ASSERT_TRUE(intent.Committed().ok());
    }
  }

  // Every row of silver/<table> as sorted strings (content, independent of file layout).
  std::vector<std::string> Content(const std::string& area, const std::string& table) {
    std::vector<std::string> rows;
    auto t = lake_->ReadDataset(area + "/" + table);
    if (!t.ok()) return rows;
    for (int64_t i = 0; i < (*t)->num_rows(); ++i) {
      std::string row;
      for (int c = 0; c < (*t)->num_columns(); ++c) {
        if ((*t)->field(c)->name() == "date") continue;
        auto s = (*t)->column(c)->GetScalar(i);
        row += (s.ok() ? (*s)->ToString() : "?") + "|";
      }
      rows.push_back(row);
    }
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  std::vector<std::string> Column(const std::string& table, const std::string& col) {
    std::vector<std::string> out;
    auto t = lake_->ReadDataset("silver/" + table);
    if (!t.ok()) return out;
    for (int64_t i = 0; i < (*t)->num_rows(); ++i) {
      out.push_back((*(*t)->GetColumnByName(col)->GetScalar(i))->ToString());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
  std::unique_ptr<store::Lake> lake_;
  std::unique_ptr<store::EventLog> log_;
};

// A stream with exact repeats, natural-key duplicates, a correction arriving later, late and
// out-of-order events across dates, and bad rows.
void MessyStream(WriterTest* t, std::vector<ingest::CanonicalEvent>* events) {
  const int64_t day = 86'400 * kMicrosPerSecond;
  for (int i = 0; i < 30; ++i) {
    std::string s = "S" + std::to_string(i % 4);
    int64_t when = kT0 + (i % 3) * day + i * kMicrosPerSecond;
    events->push_back(Vitals("v" + std::to_string(i), s, when,
                             M("heart_rate", std::to_string(60 + i).c_str(), "beats/min") + "," +
                                 M("systolic_bp", "120", "mmHg"),
                             when + 5 * kMicrosPerSecond));
  }
  events->push_back(events->at(3));  // exact repeat (same event id, same receipt)
  auto again = events->at(4);        // the same event re-sent later: latest received wins
  again.received_at_us += 60 * kMicrosPerSecond;
  again.payload_json = R"({"measurements":[)" + M("heart_rate", "99", "beats/min") + "]}";
  events->push_back(again);
  auto other = events->at(5);  // same subject/test/time under another id: natural-key duplicate
  other.event_id = "v5-resent";
  other.received_at_us -= kMicrosPerSecond;  // received earlier: loses
  events->push_back(other);
  auto late = events->at(6);  // late, for a day long gone, received last: wins its key
  late.event_id = "v6-late";
  late.received_at_us += 3600 * kMicrosPerSecond;
  events->push_back(late);
  events->push_back(Vitals("bad", "S1", kT0, M("heart_rate", "-5", "beats/min")));
  events->push_back(
      Lab("lab1", R"({"test":"GLUC","code_system":"SDTM","value":90,"unit":"mg/dL"})"));
  events->push_back(Lab("lab2", R"({"test":"XYZ","code_system":"SDTM","value":1,"unit":"mg/dL"})"));
  for (const auto& ev : *events) t->Append(ev);
}

TEST_F(WriterTest, DedupeKeepsTheLatestReceivedAcrossBatchesAndTheReportBalances) {
  std::vector<ingest::CanonicalEvent> events;
  MessyStream(this, &events);
  Stream(4);
  auto ids = Column("vitals", "event_id");
  std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size()) << "a row id appears twice in silver/vitals";
  EXPECT_EQ(unique.count("v3:PULSE"), 1u);
  // Dedupe is per row (measurement): the resend of v4 carries only PULSE, so it replaces v4's
  // PULSE row and leaves its SYSBP row alone.
  EXPECT_EQ(unique.count("v4:SYSBP"), 1u);
  EXPECT_EQ(unique.count("v4:PULSE"), 1u);
  EXPECT_EQ(unique.count("v5-resent:PULSE"), 0u);
  EXPECT_EQ(unique.count("v5:PULSE"), 1u);
  EXPECT_EQ(unique.count("v6-late:PULSE"), 1u);
  EXPECT_EQ(unique.count("v6:PULSE"), 0u);
  EXPECT_EQ(ids.size(), 60u);  // 30 events x 2 rows; every repeat replaced or dropped
  auto values = Content("silver", "vitals");
  bool v4_is_99 = std::any_of(values.begin(), values.end(), [](const std::string& r) {
    return r.rfind("v4:PULSE|", 0) == 0 && r.find("|99|") != std::string::npos;
  });
  EXPECT_TRUE(v4_is_99) << "the later received version of v4 must be the one kept";
  auto report = BuildReport(*lake_, "");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->balanced()) << FormatReport(*report);
  const auto& vit = report->totals[static_cast<size_t>(Table::kVitals)];
  EXPECT_EQ(vit.input_rows, 30 * 2 + 2 + 1 + 2 + 2 + 1);
  EXPECT_EQ(vit.silver, 60);
  EXPECT_EQ(vit.quarantined, 1);
  EXPECT_EQ(vit.duplicates, vit.input_rows - 60 - 1);
  EXPECT_EQ(report->quarantine_reasons["labs"]["UNKNOWN_TEST_CODE"], 1);
  // Deleting a Silver file is caught.
  auto files = lake_->List("silver/vitals");
  ASSERT_TRUE(files.ok() && !files->empty());
  ASSERT_TRUE(lake_->Delete(files->front().path).ok());
  auto broken = BuildReport(*lake_, "");
  ASSERT_TRUE(broken.ok());
  EXPECT_FALSE(broken->balanced());
}

TEST_F(WriterTest, StreamingAndBatchGiveTheSameSilver) {
  std::vector<ingest::CanonicalEvent> events;
  MessyStream(this, &events);
  Stream(3);
  std::map<std::string, std::vector<std::string>> streamed;
  for (const auto& s : SilverSchemas()) streamed[s.name] = Content("silver", s.name);
  SilverWriter writer(*lake_, Std());
  auto out = writer.RebuildFromBronze({}, nullptr);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  for (const auto& s : SilverSchemas()) {
    EXPECT_EQ(Content("silver", s.name), streamed[s.name]) << s.name;
  }
  EXPECT_FALSE(streamed["vitals"].empty());
  auto report = BuildReport(*lake_, "");
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->balanced()) << FormatReport(*report);
  // Batch once more: idempotent.
  ASSERT_TRUE(writer.RebuildFromBronze({}, nullptr).ok());
  EXPECT_EQ(Content("silver", "vitals"), streamed["vitals"]);
}

TEST_F(WriterTest, AnUncommittedAttemptIsRolledBackWhateverTheReplayBoundaries) {
  for (int i = 0; i < 10; ++i) {
    Append(Vitals("v" + std::to_string(i), "S1", kT0 + i * 86'400 * kMicrosPerSecond,
                  M("heart_rate", "70", "beats/min")));
  }
  {
    // A first attempt writes 10 records over 10 dates, then "crashes" before its commit.
    auto consumer = log_->Subscribe("process", RawTopics());
    auto batch = (*consumer)->Poll(10, std::chrono::milliseconds(0));
    ASSERT_EQ(batch->size(), 10u);
    SilverWriter writer(*lake_, Std());
    BatchIntent intent(*lake_, *log_, "process", "process");
    ASSERT_TRUE(intent.Recover().ok());
    auto p = writer.Prepare(*batch);
    ASSERT_TRUE(intent.Begin(*batch, writer.FilesOf(**p)).ok());
    ASSERT_TRUE(writer.Write(**p).ok());
  }
  EXPECT_EQ(Column("vitals", "event_id").size(), 10u);
  // The restart replays with batches of 3: without the rollback, the first attempt's files for
  // dates 4..10 would stay beside the replay's and duplicate those rows.
  Stream(3);
  auto ids = Column("vitals", "event_id");
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 10u);
}

TEST_F(WriterTest, DedupeStillHoldsForPartitionsDroppedFromTheIndex) {
  // More days than the writer keeps indexed (256): the first day is dropped from memory and
  // must be reloaded from the lake when its event comes again.
  const int64_t day = 86'400 * kMicrosPerSecond;
  for (int i = 0; i < 300; ++i) {
    Append(
        Vitals("d" + std::to_string(i), "S1", kT0 + i * day, M("heart_rate", "70", "beats/min")));
  }
  Append(Vitals("d0", "S1", kT0, M("heart_rate", "70", "beats/min")));  // exact repeat of day 0
  Stream(50);
  auto ids = Column("vitals", "event_id");
  EXPECT_EQ(ids.size(), 300u);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "d0:PULSE"), 1);
  auto report = BuildReport(*lake_, FormatDate(kT0));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->totals[static_cast<size_t>(Table::kVitals)].duplicates, 1);
}

TEST_F(WriterTest, ACommittedBatchIsNotRolledBack) {
  Append(Vitals("v1", "S1", kT0, M("heart_rate", "70", "beats/min")));
  auto consumer = log_->Subscribe("process", RawTopics());
  auto batch = (*consumer)->Poll(10, std::chrono::milliseconds(0));
  SilverWriter writer(*lake_, Std());
  {
    BatchIntent intent(*lake_, *log_, "process", "process");
    auto p = writer.Prepare(*batch);
    ASSERT_TRUE(intent.Begin(*batch, writer.FilesOf(**p)).ok());
    ASSERT_TRUE(writer.Write(**p).ok());
    ASSERT_TRUE((*consumer)->Commit(*batch).ok());
    // crash before the intent is removed
  }
  BatchIntent after_restart(*lake_, *log_, "process", "process");
  auto rolled = after_restart.Recover();
  ASSERT_TRUE(rolled.ok());
  EXPECT_FALSE(*rolled);
  EXPECT_EQ(Column("vitals", "event_id").size(), 1u);
}

TEST_F(WriterTest, CompactionMergesFilesWithoutChangingContent) {
  std::vector<ingest::CanonicalEvent> events;
  MessyStream(this, &events);
  Stream(2);
  std::string date = FormatDate(kT0);
  auto before = lake_->List("silver/vitals/date=" + date);
  ASSERT_TRUE(before.ok());
  ASSERT_GT(before->size(), 1u);
  std::map<std::string, std::vector<std::string>> content;
  for (const char* area : {"bronze", "silver", "quarantine", "duplicates"}) {
    for (const auto& s : SilverSchemas()) {
      std::string t = std::string(area) == "bronze" ? s.event_type : s.name;
      content[std::string(area) + "/" + t] = Content(area, t);
    }
  }
  auto r = CompactDate(*lake_, date, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->partitions_compacted, 0);
  auto after = lake_->List("silver/vitals/date=" + date);
  EXPECT_EQ(after->size(), 1u);
  for (const auto& [dir, rows] : content) {
    auto slash = dir.find('/');
    EXPECT_EQ(Content(dir.substr(0, slash), dir.substr(slash + 1)), rows) << dir;
  }
  // Every date the lake holds is found for `ctml lake compact --all`.
  auto dates = CompactableDates(*lake_);
  ASSERT_TRUE(dates.ok());
  std::set<std::string> expected;
  for (const auto& ev : events) expected.insert(FormatDate(ev.event_time_us));
  EXPECT_EQ(std::set<std::string>(dates->begin(), dates->end()), expected);
  // The streaming writer still works on compacted partitions (its index reloads).
  Append(Vitals("v-new", "S9", kT0, M("heart_rate", "70", "beats/min")));
  Stream(2);
  auto ids = Column("vitals", "event_id");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "v-new:PULSE"), 1);
}

TEST_F(WriterTest, BronzeKeepsEveryEventTypeAndQuarantinesForeignRecords) {
  Append(Vitals("v1", "S1", kT0, M("heart_rate", "70", "beats/min")));
  Append(Lab("l1", R"({"test":"GLUC","code_system":"SDTM","value":5,"unit":"mmol/L"})"));
  ASSERT_TRUE(log_->Append("lab-results", "k", "not json").ok());
  auto odd = Lab("x1", "{}");
  odd.event_type = "../../etc";  // not a type: must not become a Bronze folder
  ASSERT_TRUE(log_->Append("lab-results", "k", odd.ToJson()).ok());
  auto consumer = log_->Subscribe("bronze-sink", RawTopics());
  auto batch = (*consumer)->Poll(10, std::chrono::milliseconds(0));
  ASSERT_EQ(batch->size(), 4u);
  auto files = BronzeFiles(*batch);
  ASSERT_TRUE(WriteBronze(*lake_, *batch).ok());
  for (const auto& f : files) {
    auto t = lake_->ReadParquet(f);
    EXPECT_TRUE(t.ok()) << f;
  }
  EXPECT_EQ(Content("bronze", "vital_signs").size(), 1u);
  EXPECT_EQ(Content("bronze", "lab_result").size(), 1u);
  auto q = lake_->ReadDataset("quarantine/envelopes");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)->num_rows(), 2);
  auto bronze = lake_->List("bronze");
  for (const auto& f : *bronze) EXPECT_EQ(f.path.find(".."), std::string::npos) << f.path;
}

TEST_F(WriterTest, ARebuildReplacesEveryOlderFileOfItsPartitions) {
  Append(Vitals("v1", "S1", kT0, M("heart_rate", "70", "beats/min")));
  Stream(10);
  // A stale quarantine file (as an earlier rebuild under other standards would have left).
  std::string date = FormatDate(kT0);
  TableBuilder b(QuarantineColumns());
  QuarantineRow stale;
  stale.row_id = "v1:PULSE";
  stale.reason_code = "UNKNOWN_UNIT";
  AppendQuarantine(b, stale);
  ASSERT_TRUE(
      lake_->WriteParquet("quarantine/vitals/date=" + date + "/part-bronze.parquet", *b.Finish())
          .ok());
  SilverWriter writer(*lake_, Std());
  ASSERT_TRUE(writer.RebuildFromBronze({date}, nullptr).ok());
  EXPECT_TRUE(lake_->List("quarantine/vitals/date=" + date)->empty());
  auto report = BuildReport(*lake_, date);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->balanced()) << FormatReport(*report);
}

TEST_F(WriterTest, ARebuildIsRefusedWhileBronzeAndTheStreamDiffer) {
  Append(Vitals("v1", "S1", kT0, M("heart_rate", "70", "beats/min")));
  auto process = log_->Subscribe("process", RawTopics());
  auto batch = (*process)->Poll(10, std::chrono::milliseconds(0));
  ASSERT_TRUE((*process)->Commit(*batch).ok());  // process is ahead of bronze-sink
  Status st = CheckRebuildSafe(*log_, *lake_);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bronze-sink has consumed 0"), std::string::npos) << st.message();
  auto bronze = log_->Subscribe("bronze-sink", RawTopics());
  auto b = (*bronze)->Poll(10, std::chrono::milliseconds(0));
  ASSERT_TRUE((*bronze)->Commit(*b).ok());
  EXPECT_TRUE(CheckRebuildSafe(*log_, *lake_).ok());
}

}  // namespace
}  // namespace ctml::process
