// The AMQP bridge without a broker: queue -> payload mapping, dead-letter reason codes, event ids
// that survive redelivery, and --check against a port where nothing listens. The broker side is
// tests/e2e/test_bridge.py (real ActiveMQ).
#include "ctml/ingest/bridge/amqp_bridge.h"

#include <gtest/gtest.h>

#include <string>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/privacy/deidentifier.h"

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

}  // namespace
}  // namespace ctml::ingest
