#include <arrow/api.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "ctml/core/crypto.h"
#include "ctml/core/time.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/process/lake_writers.h"
#include "ctml/store/factory.h"

namespace ctml::process {
namespace {
namespace fs = std::filesystem;

class LakeWritersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("ctml-process-" + HexEncode(RandomBytes(4)));
    auto lake = store::OpenLake("file://" + dir_.string());
    ASSERT_TRUE(lake.ok()) << lake.status().ToString();
    lake_ = std::move(*lake);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static store::LogRecord Record(int64_t offset, const std::string& event_id, const char* when,
                                 bool with_spo2 = true) {
    ingest::CanonicalEvent ev;
    ev.event_id = event_id;
    ev.event_type = "vital_signs";
    ev.subject_key = "SUBJECTKEYAAAAAAAAAAAAAAAA";
    ev.event_time_us = *ParseIso8601(when);
    ev.received_at_us = ev.event_time_us + kMicrosPerSecond;
    ev.source = "gateway";
    auto m = [](const char* test, const char* value, const char* unit) {
      return std::string(R"({"test":")") + test + R"(","code_system":"ctml","value":)" + value +
             R"(,"unit":")" + unit + R"("})";
    };
    ev.payload_json = std::string(R"({"measurements":[)") + m("systolic_bp", "120", "mmHg") + "," +
                      m("diastolic_bp", "80", "mmHg") + "," + m("heart_rate", "70", "beats/min") +
                      "," + m("temperature_celsius", "36.6", "C") + "," +
                      m("respiratory_rate", "14", "breaths/min") + "," +
                      m("oxygen_saturation", with_spo2 ? "97" : "null", "%") + "]}";
    store::LogRecord r;
    r.topic = "patient-vitals";
    r.offset = offset;
    r.key = ev.subject_key;
    r.value = ev.ToJson();
    r.timestamp_us = ev.received_at_us;
    return r;
  }

  int64_t Rows(const std::string& dir) {
    auto t = lake_->ReadDataset(dir);
    return t.ok() ? (*t)->num_rows() : 0;
  }

  fs::path dir_;
  std::unique_ptr<store::Lake> lake_;
};

TEST_F(LakeWritersTest, SilverIsTallTypedPartitionedByEventDateAndQuarantinesBadRecords) {
  std::vector<store::LogRecord> batch = {
      Record(10, "e1", "2024-03-01T23:30:00Z"),
      Record(11, "e2", "2024-03-02T00:30:00Z", /*with_spo2=*/false),
      Record(12, "e1", "2024-03-01T23:30:00Z"),  // same event twice in one batch
  };
  store::LogRecord bad;
  bad.topic = "patient-vitals";
  bad.offset = 13;
  bad.value = "{not json";
  bad.timestamp_us = *ParseIso8601("2024-03-05T00:00:00Z");
  batch.push_back(bad);

  auto published = WriteSilverVitals(*lake_, batch);
  ASSERT_TRUE(published.ok()) << published.status().ToString();
  EXPECT_EQ(published->size(), 6u + 5u);  // e1: 6 vitals, e2: 5 (no SpO2), duplicate dropped
  EXPECT_EQ(Rows("silver/vitals/date=2024-03-01"), 6);
  EXPECT_EQ(Rows("silver/vitals/date=2024-03-02"), 5);
  EXPECT_TRUE(fs::exists(dir_ / "silver/vitals/date=2024-03-01/part-0-10.parquet"));

  auto silver = lake_->ReadDataset("silver/vitals");
  ASSERT_TRUE(silver.ok());
  auto codes = (*silver)->GetColumnByName("test_code");
  ASSERT_NE(codes, nullptr);
  EXPECT_EQ((*silver)->schema()->GetFieldByName("event_time")->type()->ToString(),
            "timestamp[us, tz=UTC]");

  auto q = lake_->ReadDataset("quarantine/vital_signs");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ((*q)->num_rows(), 1);
  auto reason =
      std::static_pointer_cast<arrow::StringArray>((*q)->GetColumnByName("reason_code")->chunk(0));
  EXPECT_EQ(reason->GetString(0), "MALFORMED_EVENT");
}

TEST_F(LakeWritersTest, AReplayedBatchOverwritesInsteadOfDuplicating) {
  std::vector<store::LogRecord> first = {Record(0, "a", "2024-03-01T10:00:00Z"),
                                         Record(1, "b", "2024-03-01T11:00:00Z")};
  ASSERT_TRUE(WriteBronze(*lake_, "vital_signs", first).ok());
  ASSERT_TRUE(WriteSilverVitals(*lake_, first).ok());
  // After a crash before the commit, the batch is read again from the same offset, with more.
  std::vector<store::LogRecord> replay = first;
  replay.push_back(Record(2, "c", "2024-03-01T12:00:00Z"));
  ASSERT_TRUE(WriteBronze(*lake_, "vital_signs", replay).ok());
  ASSERT_TRUE(WriteSilverVitals(*lake_, replay).ok());
  EXPECT_EQ(Rows("bronze/vital_signs"), 3);
  EXPECT_EQ(Rows("silver/vitals"), 18);
}

}  // namespace
}  // namespace ctml::process
