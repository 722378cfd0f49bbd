// The features module on the real embedded adapters: a file:// lake (Parquet on disk, Hive
// "date" partitions), the SQLite event log and the SQLite online store.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "ctml/core/crypto.h"
#include "ctml/core/time.h"
#include "ctml/features/engine.h"
#include "ctml/features/materializer.h"
#include "ctml/features/spec.h"
#include "ctml/features/training_set.h"
#include "ctml/store/factory.h"

namespace ctml::features {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kH = kMicrosPerHour;
constexpr int64_t kT0 = 1709251200LL * kMicrosPerSecond;  // 2024-03-01T00:00:00Z

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

struct Reading {
  std::string event_id, subject, test;
  int64_t t;
  double value;
};

// 3 subjects, 60 hours of hourly SPO2/PULSE/RESP; S2 desaturates from hour 50.
std::vector<Reading> Readings() {
  std::vector<Reading> out;
  for (int s = 0; s < 3; ++s) {
    const std::string subject = "S" + std::to_string(s);
    for (int h = 0; h < 60; ++h) {
      const int64_t t = kT0 + h * kH + s * 60 * kMicrosPerSecond;
      const double spo2 = (s == 2 && h >= 50) ? 87 : 95 + ((h + s) % 4);
      out.push_back({subject + "-spo2-" + std::to_string(h), subject, "SPO2", t, spo2});
      out.push_back({subject + "-pulse-" + std::to_string(h), subject, "PULSE", t, 70.0 + (h % 7)});
      out.push_back({subject + "-resp-" + std::to_string(h), subject, "RESP", t, 14.0 + (h % 3)});
    }
  }
  return out;
}

// Writes the readings as Silver, one file per event date, with the contract's columns.
void WriteSilver(store::Lake& lake, const std::vector<Reading>& readings) {
  std::map<std::string, std::vector<const Reading*>> by_date;
  for (const auto& r : readings) by_date[FormatDate(r.t)].push_back(&r);
  auto ts_type = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  for (const auto& [date, rows] : by_date) {
    arrow::StringBuilder event_id, source_event_id, subject, study, site, source, test, loinc, unit,
        orig_unit;
    arrow::TimestampBuilder event_time(ts_type, arrow::default_memory_pool()),
        received(ts_type, arrow::default_memory_pool());
    arrow::DoubleBuilder value, orig_value;
    for (const Reading* r : rows) {
      ASSERT_TRUE(event_id.Append(r->event_id).ok());
      ASSERT_TRUE(source_event_id.Append("src-" + r->event_id).ok());
      ASSERT_TRUE(subject.Append(r->subject).ok());
      ASSERT_TRUE(study.Append("CTML-001").ok());
      ASSERT_TRUE(site.Append("SITE-1").ok());
      ASSERT_TRUE(source.Append("generator").ok());
      ASSERT_TRUE(test.Append(r->test).ok());
      ASSERT_TRUE(loinc.Append("0000-0").ok());
      ASSERT_TRUE(unit.Append("x").ok());
      ASSERT_TRUE(orig_unit.Append("x").ok());
      ASSERT_TRUE(event_time.Append(r->t).ok());
      ASSERT_TRUE(received.Append(r->t + 30 * kMicrosPerSecond).ok());
      ASSERT_TRUE(value.Append(r->value).ok());
      ASSERT_TRUE(orig_value.Append(r->value).ok());
    }
    std::vector<std::shared_ptr<arrow::Array>> arrays(14);
    ASSERT_TRUE(event_id.Finish(&arrays[0]).ok());
    ASSERT_TRUE(source_event_id.Finish(&arrays[1]).ok());
    ASSERT_TRUE(subject.Finish(&arrays[2]).ok());
    ASSERT_TRUE(study.Finish(&arrays[3]).ok());
    ASSERT_TRUE(site.Finish(&arrays[4]).ok());
    ASSERT_TRUE(source.Finish(&arrays[5]).ok());
    ASSERT_TRUE(event_time.Finish(&arrays[6]).ok());
    ASSERT_TRUE(received.Finish(&arrays[7]).ok());
    ASSERT_TRUE(test.Finish(&arrays[8]).ok());
    ASSERT_TRUE(loinc.Finish(&arrays[9]).ok());
    ASSERT_TRUE(value.Finish(&arrays[10]).ok());
    ASSERT_TRUE(unit.Finish(&arrays[11]).ok());
    ASSERT_TRUE(orig_value.Finish(&arrays[12]).ok());
    ASSERT_TRUE(orig_unit.Finish(&arrays[13]).ok());
    auto schema = arrow::schema(
        {arrow::field("event_id", arrow::utf8()), arrow::field("source_event_id", arrow::utf8()),
         arrow::field("subject_key", arrow::utf8()), arrow::field("study_id", arrow::utf8()),
         arrow::field("site_id", arrow::utf8()), arrow::field("source", arrow::utf8()),
         arrow::field("event_time", ts_type), arrow::field("received_at", ts_type),
         arrow::field("test_code", arrow::utf8()), arrow::field("loinc", arrow::utf8()),
         arrow::field("value", arrow::float64()), arrow::field("unit", arrow::utf8()),
         arrow::field("orig_value", arrow::float64()), arrow::field("orig_unit", arrow::utf8())});
    auto table = arrow::Table::Make(schema, arrays);
    ASSERT_TRUE(lake.WriteParquet("silver/vitals/date=" + date + "/part-0.parquet", table).ok());
  }
}

std::string EventJson(const Reading& r) {
  return nlohmann::json{{"event_id", r.event_id},
                        {"subject_key", r.subject},
                        {"event_time_us", r.t},
                        {"received_at_us", r.t + 30 * kMicrosPerSecond},
                        {"test_code", r.test},
                        {"value", r.value},
                        {"unit", "x"}}
      .dump();
}

FeatureSpec VitalsSpec() {
  auto spec = FeatureSpec::LoadFile(std::string(CTML_SOURCE_DIR) + "/config/features/vitals.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

TEST(FeaturesOnRealStoresTest, TrainingSetAndSnapshotsOnAFileLake) {
  TempDir dir;
  auto lake = store::OpenLake("file://" + dir.str() + "/lake");
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  const auto readings = Readings();
  WriteSilver(**lake, readings);
  FeatureSpec spec = VitalsSpec();

  auto ts = BuildTrainingSet(**lake, spec, "spo2_below_90_24h", {});
  ASSERT_TRUE(ts.ok()) << ts.status().ToString();
  // Per subject: as_of from first + 6h to last - 24h (59h - 24h = 35h) hourly -> 30 rows.
  EXPECT_EQ(ts->rows, 90u);
  size_t positives = 0;
  for (float y : ts->y) positives += y > 0.5f;
  // S2 (events at :02) desaturates at 50h: as_of in [26h, 35h] -> 10 positives.
  EXPECT_EQ(positives, 10u);
  ASSERT_TRUE(fs::exists(dir.str() + "/lake/" + ts->dataset_path));
  auto back = (*lake)->ReadParquet(ts->dataset_path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ((*back)->num_rows(), 90);
  EXPECT_EQ((*back)->num_columns(), 3 + static_cast<int>(spec.names().size()));

  // The id depends on the Silver files: adding data gives another id.
  const std::string first_id = ts->dataset_id;
  auto same = BuildTrainingSet(**lake, spec, "spo2_below_90_24h", {.write = false});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->dataset_id, first_id);
  WriteSilver(**lake, {{"extra", "S9", "SPO2", kT0 + 100 * kH, 97}});
  auto changed = BuildTrainingSet(**lake, spec, "spo2_below_90_24h", {.write = false});
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(changed->dataset_id, first_id);

  auto report = WriteDailySnapshots(**lake, spec, {"2024-03-02"}, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->rows, 3u);  // S9 only starts on 2024-03-05
  auto snap = (*lake)->ReadDataset("features/offline/vitals");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ((*snap)->num_rows(), 3);
  EXPECT_NE((*snap)->GetColumnByName("vs_spo2_min_24h"), nullptr);
}

TEST(FeaturesOnRealStoresTest, StreamingServiceWritesOnlineVectorsAndCommits) {
  TempDir dir;
  auto lake = store::OpenLake("file://" + dir.str() + "/lake");
  auto log = store::OpenEventLog("sqlite://" + dir.str() + "/log.db");
  auto online = store::OpenOnlineStore("sqlite://" + dir.str() + "/online.db");
  ASSERT_TRUE(lake.ok() && log.ok() && online.ok());
  FeatureSpec spec = VitalsSpec();
  const auto readings = Readings();
  // The first 100 readings are already in Silver (and on the topic); the rest only on the topic.
  WriteSilver(**lake, std::vector<Reading>(readings.begin(), readings.begin() + 100));
  std::vector<std::pair<std::string, std::string>> kvs;
  for (const auto& r : readings) kvs.emplace_back(r.subject, EventJson(r));
  ASSERT_TRUE((*log)->AppendBatch("silver.vitals", kvs).ok());

  Materializer m(spec, **online);
  ASSERT_TRUE(m.Rebuild(**lake).ok());
  std::atomic<bool> stop{false};
  Status run_status;
  std::thread consumer([&] {
    run_status = m.Run(**log, {.batch_records = 50, .poll = std::chrono::milliseconds(20)}, stop);
  });
  // Wait (bounded) until every record was consumed and committed.
  int64_t lag = -1;
  for (int i = 0; i < 600 && lag != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto lags = (*log)->Lag("silver.vitals");
    ASSERT_TRUE(lags.ok());
    for (const auto& g : *lags) {
      if (g.group == "features") lag = g.lag;
    }
  }
  stop.store(true);
  consumer.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  EXPECT_EQ(lag, 0);
  EXPECT_EQ(m.stats().events, readings.size());
  EXPECT_EQ(m.stats().duplicates, 100u);

  auto count = (*online)->Count("vitals");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 3);
  // Online vectors equal the batch engine's at the same as_of (parity).
  SubjectState s2;
  for (const auto& r : readings) {
    if (r.subject == "S2") s2.Add({r.t, r.t + 30 * kMicrosPerSecond, r.test, r.value, r.event_id});
  }
  auto got = (*online)->Get("S2", "vitals");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  const store::FeatureVector& v = **got;
  EXPECT_EQ(v.spec_hash, spec.spec_hash());
  EXPECT_EQ(v.as_of_us, s2.last_event_time_us());
  const auto expect = Compute(spec, s2, v.as_of_us);
  ASSERT_EQ(v.values.size(), expect.size());
  for (size_t j = 0; j < expect.size(); ++j) {
    EXPECT_EQ(v.values[j].first, spec.names()[j]);
    if (std::isnan(expect[j])) {
      EXPECT_TRUE(std::isnan(v.values[j].second)) << v.values[j].first;
    } else {
      EXPECT_NEAR(v.values[j].second, expect[j], 1e-9) << v.values[j].first;
    }
  }
}

}  // namespace
}  // namespace ctml::features
