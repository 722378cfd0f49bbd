// The AMQP bridge without a broker: queue -> payload mapping, dead-letter reason codes, event ids
// that survive redelivery, and --check against a port where nothing listens. The broker side is
// tests/e2e/test_bridge.py (real ActiveMQ).
#include "ctml/ingest/bridge/amqp_bridge.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/ingest_core.h"
#include "ctml/privacy/deidentifier.h"
#include "ctml/store/contract_testing.h"
#include "ctml/store/event_log.h"

namespace ctml::ingest {
namespace {

const privacy::Deidentifier kDeid(privacy::Pseudonymizer(std::string(64, 'k')), "shift-key",
                                  privacy::Policy::kSafeHarbor);

int64_t Now() { return *ParseIso8601("2024-05-01T10:00:00Z"); }

const char kVitals[] = R"({"patient_id":"P-1001","timestamp":"2024-05-01T09:00:00Z",
  "heart_rate":88,"blood_pressure_systolic":130,"blood_pressure_diastolic":85,
  "temperature":37.1,"spo2":97,"trial_site":"SITE-3"})";
const char kLab[] = R"({"patient_id":"P-1001","timestamp":"2024-05-01T08:00:00Z",
  "test_name":"Blood Glucose","value":112,"unit":"mg/dL","reference_range":"70-100"})";
const char kAdverse[] = R"({"patient_id":"P-1001","timestamp":"2024-04-30T12:00:00Z",
  "event_description":"Headache","severity":"grade_2","serious":false})";
const char kDemographicsEnvelope[] = R"({"patient_demographics":{"patient_id":"PT12AB34CD",
  "age":54,"gender":"Female","study_id":"ONC-001"}})";
const char kDemographicsBare[] = R"({"patient_id":"PT12AB34CD","age":54,"gender":"Male"})";
const char kPriorityLab[] = R"({"lab_result":{"patient_id":"PT12AB34CD","test_type":"WBC",
  "result_value":7.1,"unit":"10^9/L","test_date":"2024-04-30T08:00:00Z"}})";

TEST(AmqpBridge, DefaultQueuesAndTheirPayloads) {
  ASSERT_EQ(DefaultBridgeQueues().size(), 5u);
  EXPECT_EQ(MappingForQueue("CLINICAL.VITAL.SIGNS").topic_payload, "patient-vitals");
  EXPECT_EQ(MappingForQueue("CLINICAL.LAB.RESULTS").topic_payload, "lab-results");
  EXPECT_EQ(MappingForQueue("CLINICAL.ADVERSE.EVENTS").topic_payload, "adverse-events");
  EXPECT_EQ(MappingForQueue("CLINICAL.DEMOGRAPHICS").topic_payload, "");
  EXPECT_EQ(MappingForQueue("CLINICAL.DEMOGRAPHICS").envelope_kind, "patient_demographics");
  EXPECT_EQ(MappingForQueue("CLINICAL.PRIORITY").topic_payload, "");
  EXPECT_EQ(MappingForQueue("CLINICAL.PRIORITY").envelope_kind, "");
  EXPECT_EQ(MappingForQueue("SITE7.ANYTHING").envelope_kind, "");  // other queues: envelope
  EXPECT_EQ(SplitQueueList(" A.B, C ,,D "), (std::vector<std::string>{"A.B", "C", "D"}));
}

TEST(AmqpBridge, EachQueueGivesItsEventType) {
  struct Case {
    const char* queue;
    const char* body;
    const char* type;
  } cases[] = {{"CLINICAL.VITAL.SIGNS", kVitals, "vital_signs"},
               {"CLINICAL.LAB.RESULTS", kLab, "lab_result"},
               {"CLINICAL.ADVERSE.EVENTS", kAdverse, "adverse_event"},
               {"CLINICAL.DEMOGRAPHICS", kDemographicsEnvelope, "demographics"},
               {"CLINICAL.DEMOGRAPHICS", kDemographicsBare, "demographics"},
               {"CLINICAL.PRIORITY", kPriorityLab, "lab_result"},
               {"CLINICAL.PRIORITY", kDemographicsEnvelope, "demographics"}};
  for (const Case& c : cases) {
    BridgeParse p = ParseBridgeMessage(c.queue, c.body, "ID:1", kDeid, Now());
    ASSERT_TRUE(p.ok) << c.queue << ": " << p.reason << " " << p.field << " " << p.message;
    EXPECT_EQ(p.event.event_type, c.type) << c.queue;
    EXPECT_EQ(p.event.source, "amqp");
    EXPECT_EQ(p.event.ToJson().find("P-1001"), std::string::npos);  // pseudonymized
    EXPECT_EQ(p.event.ToJson().find("PT12AB34CD"), std::string::npos);
  }
}

TEST(AmqpBridge, DeadLetterReasonCodes) {
  struct Case {
    const char* queue;
    std::string body;
    const char* reason;
    const char* field;
  } cases[] = {
      {"CLINICAL.VITAL.SIGNS", "not json {", kReasonMalformedJson, ""},
      {"CLINICAL.VITAL.SIGNS", "[1,2,3]", kReasonMalformedJson, ""},
      {"CLINICAL.VITAL.SIGNS", R"({"timestamp":"2024-05-01T09:00:00Z","heart_rate":80})",
       kReasonInvalidField, "patient_id"},
      {"CLINICAL.LAB.RESULTS", R"({"patient_id":"P-1","timestamp":"2024-05-01T09:00:00Z"})",
       kReasonInvalidField, nullptr},
      {"CLINICAL.DEMOGRAPHICS", kPriorityLab, kReasonWrongKind, "lab_result"},
      {"CLINICAL.PRIORITY", R"({"nothing":1})", kReasonInvalidField, nullptr},
      {"CLINICAL.PRIORITY", std::string(kMaxBridgeBodyBytes + 1, ' '), kReasonTooLarge, ""},
  };
  for (const Case& c : cases) {
    BridgeParse p = ParseBridgeMessage(c.queue, c.body, "ID:2", kDeid, Now());
    EXPECT_FALSE(p.ok) << c.queue << " " << c.body.substr(0, 60);
    EXPECT_EQ(p.reason, c.reason) << c.queue << " " << c.body.substr(0, 60);
    if (c.field != nullptr) {
      EXPECT_EQ(p.field, c.field) << c.body.substr(0, 60);
    }
    EXPECT_LE(p.message.size(), 200u);
    EXPECT_EQ(p.message.find("P-1"), std::string::npos) << p.message;  // no body in the reason
  }
}

TEST(AmqpBridge, EventIdSurvivesRedeliveryAndHidesTheBody) {
  auto a = ParseBridgeMessage("CLINICAL.VITAL.SIGNS", kVitals, "ID:abc:1:1:1", kDeid, Now());
  auto again = ParseBridgeMessage("CLINICAL.VITAL.SIGNS", kVitals, "ID:abc:1:1:1", kDeid,
                                  Now() + 60'000'000);  // redelivered a minute later
  auto other = ParseBridgeMessage("CLINICAL.VITAL.SIGNS", kVitals, "ID:abc:1:1:2", kDeid, Now());
  ASSERT_TRUE(a.ok && again.ok && other.ok);
  EXPECT_EQ(a.event.event_id, again.event.event_id);
  EXPECT_NE(a.event.event_id, other.event.event_id);  // another message with the same content
  EXPECT_EQ(a.event.event_id.rfind("amqp-", 0), 0u);
  EXPECT_EQ(a.event.event_id.find("abc"), std::string::npos);
  // Without a message-id: a keyed hash of the body.
  EXPECT_EQ(BridgeEventId("", kVitals, kDeid), BridgeEventId("", kVitals, kDeid));
  EXPECT_NE(BridgeEventId("", kVitals, kDeid), BridgeEventId("", kLab, kDeid));
  EXPECT_NE(BridgeEventId("", kVitals, kDeid), BridgeEventId("x", kVitals, kDeid));
}

TEST(AmqpBridge, RedactsCredentialsInUrls) {
  EXPECT_EQ(RedactAmqpUrl("amqp://ctml:s3cret@mq.example:5672"), "amqp://***@mq.example:5672");
  EXPECT_EQ(RedactAmqpUrl("amqps://mq.example:5671"), "amqps://mq.example:5671");
}

TEST(AmqpBridge, CheckFailsClearlyWhenNothingListens) {
  BridgeOptions o;
  o.url = "amqp://127.0.0.1:1";  // nothing listens on port 1
  o.check_timeout_ms = 5000;
  Status st = CheckBridge(o);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
}

// ------------------------------------------------------------------------------------------
// Against the real broker of scripts/services/activemq.sh (see BrokerOptions); the end to end
// with the binary is tests/e2e/test_bridge.py.
namespace broker {

// An EventLog that keeps records in memory and can be switched down.
class MemoryLog : public store::EventLog {
 public:
  std::atomic<bool> down{false};
  Result<store::RecordPosition> Append(const std::string& t, const std::string& k,
                                       const std::string& v) override {
    auto r = AppendBatch(t, {{k, v}});
    if (!r.ok()) return r.status();
    return (*r)[0];
  }
  Result<std::vector<store::RecordPosition>> AppendBatch(
      const std::string& topic,
      const std::vector<std::pair<std::string, std::string>>& kvs) override {
    if (down.load()) return Status::Unavailable("down (test)");
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<store::RecordPosition> out;
    for (const auto& kv : kvs) {
      values_.push_back({topic, kv.second});
      out.push_back({0, static_cast<int64_t>(values_.size())});
    }
    return out;
  }
  Result<std::unique_ptr<store::Consumer>> Subscribe(const std::string&,
                                                     const std::vector<std::string>&) override {
    return Status::Unavailable("n/a");
  }
  Result<std::vector<std::string>> ListTopics() override { return Status::Unavailable("n/a"); }
  Result<std::vector<store::PartitionInfo>> Partitions(const std::string&) override {
    return Status::Unavailable("n/a");
  }
  Result<std::vector<store::GroupLag>> Lag(const std::string&) override {
    return Status::Unavailable("n/a");
  }
  Status Ping() override { return Status::OK(); }
  // event ids of the canonical events of source amqp (with repeats)
  std::vector<std::string> AmqpEventIds() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& [topic, v] : values_) {
      Json j = Json::parse(v, nullptr, false);
      if (j.is_object() && j.value("source", "") == "amqp") out.push_back(j["event_id"]);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> values_;
};

// The broker scripts/services/activemq.sh starts (scripts/test.sh starts it before the tests;
// alone: `scripts/services/activemq.sh start`), or CTML_TEST_AMQP_URI. A broker that is down
// fails these tests; they never skip.
bool BrokerOptions(BridgeOptions* o) {
  o->url = store::testing::ServiceUri("CTML_TEST_AMQP_URI", "amqp://127.0.0.1:15673");
  o->user = "ctml";
  const char* pw = std::getenv("CTML_AMQP_PASSWORD");
  if (pw != nullptr) {
    o->password = pw;
  } else {
    const char* dir = std::getenv("CTML_SERVICES_DIR");
    std::ifstream in((dir != nullptr && *dir != '\0'
                          ? std::string(dir)
                          : std::string(CTML_SOURCE_DIR) + "/var/services") +
                     "/activemq/password");
    std::getline(in, o->password);
  }
  o->check_timeout_ms = 20000;
  o->stats_interval_ms = 1000;
  return true;
}

void DrainAll(const BridgeOptions& o) {
  for (const auto& q : DefaultBridgeQueues()) ASSERT_TRUE(DrainQueue(o, q, 100000, 500).ok());
  ASSERT_TRUE(DrainQueue(o, kDefaultDeadLetterQueue, 100000, 500).ok());
}

std::set<std::string> WaitFor(MemoryLog& log, size_t n) {
  for (int i = 0; i < 600; ++i) {
    auto ids = log.AmqpEventIds();
    std::set<std::string> distinct(ids.begin(), ids.end());
    if (distinct.size() >= n) return distinct;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto ids = log.AmqpEventIds();
  return {ids.begin(), ids.end()};
}

TEST(AmqpBridgeBroker, AcceptsAfterSubmitDeadLettersWithReasonAndRetriesAStoreError) {
  BridgeOptions o;
  ASSERT_TRUE(BrokerOptions(&o));
  ASSERT_TRUE(CheckBridge(o).ok()) << CheckBridge(o).ToString();
  DrainAll(o);
  const std::string run = store::testing::Unique("run");
  ASSERT_TRUE(
      SendToQueue(o, "CLINICAL.VITAL.SIGNS", {{run + "-v1", kVitals}, {run + "-v2", "not json {"}})
          .ok());
  ASSERT_TRUE(SendToQueue(o, "CLINICAL.LAB.RESULTS", {{run + "-l1", kLab}}).ok());
  ASSERT_TRUE(SendToQueue(o, "CLINICAL.ADVERSE.EVENTS", {{run + "-a1", kAdverse}}).ok());
  ASSERT_TRUE(SendToQueue(o, "CLINICAL.DEMOGRAPHICS",
                          {{run + "-d1", kDemographicsEnvelope}, {run + "-d2", kPriorityLab}})
                  .ok());
  ASSERT_TRUE(SendToQueue(o, "CLINICAL.PRIORITY", {{run + "-p1", kPriorityLab}}).ok());

  MemoryLog log;
  log.down = true;  // the first deliveries hit a store error: released, redelivered later
  IngestCore core(log, nullptr);
  std::atomic<bool> stop{false};
  BridgeCounters counters;
  Status st;
  std::thread t([&] { st = RunBridge(o, core, kDeid, &stop, &counters); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(log.AmqpEventIds().empty());
  log.down = false;
  auto ids = WaitFor(log, 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  stop = true;
  t.join();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_GE(counters.released, 1);
  EXPECT_EQ(counters.dead_lettered, 2);
  EXPECT_EQ(counters.accepted, 5);

  auto dead = DrainQueue(o, kDefaultDeadLetterQueue, 100, 1500);
  ASSERT_TRUE(dead.ok()) << dead.status().ToString();
  ASSERT_EQ(dead->size(), 2u);
  std::map<std::string, std::string> reason_by_id;
  for (const auto& m : *dead) {
    std::map<std::string, std::string> p(m.properties.begin(), m.properties.end());
    reason_by_id[p["ctml_message_id"]] = p["ctml_reason"];
    if (p["ctml_message_id"] == run + "-v2") {
      EXPECT_EQ(m.body, "not json {");
      EXPECT_EQ(p["ctml_source_queue"], "CLINICAL.VITAL.SIGNS");
    }
  }
  EXPECT_EQ(reason_by_id[run + "-v2"], kReasonMalformedJson);
  EXPECT_EQ(reason_by_id[run + "-d2"], kReasonWrongKind);
  for (const auto& q : DefaultBridgeQueues()) {  // everything settled
    auto left = DrainQueue(o, q, 100, 500);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->empty()) << q;
  }
}

TEST(AmqpBridgeBroker, WrongPasswordIsRefusedWithoutEchoingIt) {
  BridgeOptions o;
  ASSERT_TRUE(BrokerOptions(&o));
  o.password = "not-the-password-42";
  Status st = CheckBridge(o);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.ToString().find("not-the-password-42"), std::string::npos);
}

// Set CTML_TEST_AMQP_RESTART to the command that restarts the broker (e.g.
// "scripts/services/activemq.sh restart") to check the reconnect.
TEST(AmqpBridgeBroker, ReconnectsAfterABrokerRestart) {
  BridgeOptions o;
  const char* restart = std::getenv("CTML_TEST_AMQP_RESTART");
  if (!BrokerOptions(&o) || restart == nullptr) {
    GTEST_SKIP() << "set CTML_TEST_AMQP_URI and CTML_TEST_AMQP_RESTART";
  }
  DrainAll(o);
  const std::string run = store::testing::Unique("rc");
  ASSERT_TRUE(SendToQueue(o, "CLINICAL.VITAL.SIGNS", {{run + "-1", kVitals}}).ok());
  MemoryLog log;
  IngestCore core(log, nullptr);
  std::atomic<bool> stop{false};
  BridgeCounters counters;
  Status st;
  std::thread t([&] { st = RunBridge(o, core, kDeid, &stop, &counters); });
  EXPECT_EQ(WaitFor(log, 1).size(), 1u);
  ASSERT_EQ(std::system(restart), 0);
  ASSERT_TRUE(SendToQueue(o, "CLINICAL.LAB.RESULTS", {{run + "-2", kLab}}).ok());
  EXPECT_EQ(WaitFor(log, 2).size(), 2u);
  stop = true;
  t.join();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(counters.accepted, 2);
}

}  // namespace broker
}  // namespace
}  // namespace ctml::ingest
