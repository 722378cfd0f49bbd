// The ingestion core, the gateway's batch endpoint and the existing stack's Kafka payloads,
// over real embedded stores (SQLite EventLog and MetaStore in a temporary directory).
#include "ctml/ingest/ingest_core.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "ctml/core/crypto.h"
#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/gateway.h"
#include "ctml/ingest/topic_ingester.h"
#include "ctml/ingest/topic_payloads.h"
#include "ctml/net/auth.h"
#include "ctml/privacy/deidentifier.h"
#include "ctml/store/factory.h"
#include "ctml/store/meta_store.h"

namespace ctml::ingest {
namespace {
namespace fs = std::filesystem;

class IngestFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("ctml-ingest-" + HexEncode(RandomBytes(4)));
    fs::create_directories(dir_);
    log_ = store::OpenEventLog("sqlite://" + (dir_ / "log.db").string()).value();
    meta_ = store::OpenMetaStore("sqlite://" + (dir_ / "meta.db").string()).value();
    core_ = std::make_unique<IngestCore>(*log_, meta_.get());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<store::LogRecord> ReadAll(const std::string& topic) {
    auto c = log_->Subscribe("test-" + topic + HexEncode(RandomBytes(3)), {topic});
    std::vector<store::LogRecord> all;
    while (true) {
      auto b = (*c)->Poll(1000, std::chrono::milliseconds(50));
      if (!b.ok() || b->empty()) break;
      all.insert(all.end(), b->begin(), b->end());
    }
    return all;
  }

  fs::path dir_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<store::MetaStore> meta_;
  std::unique_ptr<IngestCore> core_;
  privacy::Deidentifier deid_{privacy::Pseudonymizer(std::string(64, 'k')), "shift",
                              privacy::Policy::kSafeHarbor};
};

net::HttpRequest Post(std::string body) {
  net::HttpRequest r;
  r.method = "POST";
  r.body = std::move(body);
  r.actor = "site-a";
  return r;
}

std::string Vitals(const std::string& pid, int hr, const std::string& msg_id) {
  return R"({"message_id":")" + msg_id + R"(","vital_signs":{"patient_id":")" + pid +
         R"(","measurement_time":"2024-05-01T09:00:00Z","systolic_bp":120,"diastolic_bp":80,)" +
         R"("heart_rate":)" + std::to_string(hr) + R"(,"temperature_celsius":36.8}})";
}

TEST_F(IngestFixture, BatchAcceptsGoodRecordsAndNamesTheBadOnes) {
  Gateway gw(GatewayOptions{}, *core_, deid_);
  std::string body = "[" + Vitals("PT00000001", 72, "m1") + "," + Vitals("PT00000002", 900, "m2") +
                     "," + R"({"vital_signs":"x"})" + "," + Vitals("PT00000003", 140, "m3") + "]";
  auto res = gw.HandleBatch(Post(body));
  ASSERT_EQ(res.status, 200) << res.body;
  Json j = Json::parse(res.body);
  EXPECT_EQ(j["status"], "PARTIAL");
  EXPECT_EQ(j["accepted"], 2);
  EXPECT_EQ(j["rejected"], 2);
  EXPECT_EQ(j["results"][1]["error"]["field"], "vital_signs.heart_rate");
  EXPECT_EQ(j["results"][2]["error"]["field"], "vital_signs");
  EXPECT_EQ(j["results"][3]["status"], "SUCCESS");
  auto vitals = ReadAll("patient-vitals");
  ASSERT_EQ(vitals.size(), 2u);
  for (const auto& r : vitals) EXPECT_EQ(r.value.find("PT0000000"), std::string::npos);
  // Heart rate 140 is a critical vital: one alert with its reason.
  auto alerts = ReadAll(kAlertsTopic);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(Json::parse(alerts[0].value)["reason"].get<std::string>().find("heart rate"),
            std::string::npos);
  // One audit record for the batch, with the actor and the counts.
  auto audit = meta_->ListAudit(1, 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].actor, "site-a");
  Json detail = Json::parse((*audit)[0].detail);
  EXPECT_EQ(detail["accepted"], 2);
  EXPECT_EQ(detail["rejected"], 2);
  EXPECT_EQ(detail["first_event_id"], "m1");
  EXPECT_EQ(detail["last_event_id"], "m3");
}

TEST_F(IngestFixture, NdjsonBatchAndLimits) {
  GatewayOptions o;
  o.max_batch_records = 3;
  Gateway gw(o, *core_, deid_);
  std::string nd = Vitals("PT00000001", 70, "a") + "\n\n" + Vitals("PT00000002", 71, "b") + "\n";
  auto res = gw.HandleBatch(Post(nd));
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(Json::parse(res.body)["accepted"], 2);
  std::string big = nd + nd;  // 4 records > 3
  EXPECT_EQ(gw.HandleBatch(Post(big)).status, 413);
  EXPECT_EQ(gw.HandleBatch(Post("   ")).status, 400);
  // A truncated NDJSON line is one rejected record; the others land.
  auto part = gw.HandleBatch(Post(Vitals("PT00000004", 70, "c") + "\n{\"vital_signs\":"));
  ASSERT_EQ(part.status, 200);
  EXPECT_EQ(Json::parse(part.body)["rejected"], 1);
  EXPECT_EQ(ReadAll("patient-vitals").size(), 3u);
}

TEST_F(IngestFixture, SingleRejectionIsAuditedAndStoresNothing) {
  Gateway gw(GatewayOptions{}, *core_, deid_);
  auto res = gw.HandleData(Post(Vitals("PT00000001", 900, "x")));
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(Json::parse(res.body)["error"]["field"], "vital_signs.heart_rate");
  EXPECT_TRUE(ReadAll("patient-vitals").empty());
  auto audit = meta_->ListAudit(1, 10);
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].action, "ingest.reject");
  EXPECT_TRUE(store::VerifyAuditChain(*audit).ok());
}

TEST_F(IngestFixture, ExistingProducersTopicsLandAsCanonicalEventsAndRejectsAreRecorded) {
  auto src = store::OpenEventLog("sqlite://" + (dir_ / "producers.db").string()).value();
  ASSERT_TRUE(src->Append("raw.patient-vitals", "P-1",
                          R"({"patient_id":"P-1","timestamp":"2024-05-01T09:00:00Z",
                              "heart_rate":88,"spo2":97,"trial_site":"S3"})")
                  .ok());
  ASSERT_TRUE(src->Append("raw.adverse-events", "P-1",
                          R"({"patient_id":"P-1","timestamp":"2024-05-01T09:00:00Z",
                              "event_description":"Febrile neutropenia","severity":"grade_4"})")
                  .ok());
  ASSERT_TRUE(
      src->Append("raw.lab-results", "P-2", R"({"patient_id":"P-2","timestamp":"x"})").ok());
  ASSERT_TRUE(src->Append("raw.medications", "P-2", "{not json").ok());
  TopicIngester ingester(*core_, *log_, deid_, "raw.", "g1");
  EXPECT_EQ(ingester.Topics().size(), 4u);
  EXPECT_EQ(ingester.Topics()[0], "raw.patient-vitals");
  auto consumer = src->Subscribe("g1", ingester.Topics()).value();
  auto batch = consumer->Poll(100, std::chrono::milliseconds(100)).value();
  ASSERT_EQ(batch.size(), 4u);
  ASSERT_TRUE(ingester.Handle(batch).ok());
  EXPECT_EQ(ingester.accepted(), 2);
  EXPECT_EQ(ingester.rejected(), 2);
  auto vitals = ReadAll("patient-vitals");
  ASSERT_EQ(vitals.size(), 1u);
  auto ev = CanonicalEvent::FromJson(vitals[0].value).value();
  EXPECT_EQ(ev.source, "kafka");
  EXPECT_EQ(ev.site_id, "S3");
  EXPECT_EQ(ReadAll("adverse-events").size(), 1u);
  EXPECT_EQ(ReadAll(kAlertsTopic).size(), 1u);  // grade 4 AE
  auto rejected = ReadAll(kRejectedTopic);
  ASSERT_EQ(rejected.size(), 2u);
  std::set<std::string> reasons;
  for (const auto& r : rejected) {
    Json j = Json::parse(r.value);
    reasons.insert(j["reason_code"].get<std::string>());
    EXPECT_EQ(r.value.find("P-2"), std::string::npos);  // the payload is never copied
  }
  EXPECT_EQ(reasons, (std::set<std::string>{"INVALID_FIELD", "MALFORMED_JSON"}));
  // A replay of the same batch (crash before the source commit) gives the same event ids.
  ASSERT_TRUE(ingester.Handle(batch).ok());
  auto again = ReadAll("patient-vitals");
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(CanonicalEvent::FromJson(again[1].value).value().event_id, ev.event_id);
}

TEST(AlertReason, RulesPerType) {
  CanonicalEvent v;
  v.event_type = "vital_signs";
  v.payload_json = R"({"measurements":[{"test":"SYSBP","value":185,"unit":"mmHg"}]})";
  EXPECT_TRUE(AlertReason(v).has_value());
  v.payload_json = R"({"measurements":[{"test":"TEMP","value":99.5,"unit":"F"}]})";
  EXPECT_FALSE(AlertReason(v).has_value());  // 37.5 C
  v.payload_json = R"({"measurements":[{"test":"oxygen_saturation","value":86,"unit":"%"}]})";
  EXPECT_TRUE(AlertReason(v).has_value());
  CanonicalEvent l;
  l.event_type = "lab_result";
  l.payload_json = R"({"test":"K","value":7.1,"abnormal_flag":"HH"})";
  EXPECT_TRUE(AlertReason(l).has_value());
  l.payload_json = R"({"test":"ALT","value":400,"ref_low":7,"ref_high":56,"abnormal_flag":"H"})";
  EXPECT_TRUE(AlertReason(l).has_value());
  l.payload_json = R"({"test":"ALT","value":400,"ref_high":56,"abnormal_flag":null})";
  EXPECT_TRUE(AlertReason(l).has_value());  // a null flag does not hide the value rule
  l.payload_json = R"({"test":"ALT","value":60,"ref_low":7,"ref_high":56,"abnormal_flag":"H"})";
  EXPECT_FALSE(AlertReason(l).has_value());
  CanonicalEvent a;
  a.event_type = "adverse_event";
  a.payload_json = R"({"term":"x","severity":"MILD","serious":true})";
  EXPECT_TRUE(AlertReason(a).has_value());
  a.payload_json = R"({"term":"x","severity":"MODERATE","serious":false})";
  EXPECT_FALSE(AlertReason(a).has_value());
  a.payload_json = R"({"term":"x","severity":7})";  // wrong type: no alert, no crash
  EXPECT_FALSE(AlertReason(a).has_value());
}

TEST(TopicPayloads, TheExistingStacksShapes) {
  privacy::Deidentifier deid(privacy::Pseudonymizer(std::string(64, 'k')), "s",
                             privacy::Policy::kSafeHarbor);
  int64_t now = *ParseIso8601("2024-05-01T10:00:00Z");
  auto v = ParseTopicPayload(
      "patient-vitals",
      Json::parse(R"({"patient_id":"P-1001","timestamp":"2024-05-01T09:00:00Z","heart_rate":88,
        "blood_pressure_systolic":130,"blood_pressure_diastolic":85,"temperature":37.1,
        "spo2":97,"source":"monitor-7","trial_site":"SITE-3","trial_arm":"treatment",
        "patient_name":"Jane Roe"})"),
      deid, now);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->event_type, "vital_signs");
  EXPECT_EQ(v->site_id, "SITE-3");
  EXPECT_EQ(v->source, "kafka");
  EXPECT_EQ(Json::parse(v->payload_json)["measurements"].size(), 5u);
  EXPECT_EQ(v->ToJson().find("Jane"), std::string::npos);  // unknown fields are dropped
  EXPECT_EQ(v->ToJson().find("P-1001"), std::string::npos);
  // The same payload again gives the same event id (a re-send dedupes downstream).
  auto again = ParseTopicPayload("patient-vitals", Json::parse(R"({"patient_id":"P-1001",
      "timestamp":"2024-05-01T09:00:00Z","heart_rate":88})"),
                                 deid, now);
  auto again2 = ParseTopicPayload("patient-vitals", Json::parse(R"({"patient_id":"P-1001",
      "timestamp":"2024-05-01T09:00:00Z","heart_rate":88})"),
                                  deid, now);
  EXPECT_EQ(again->event_id, again2->event_id);

  auto ae = ParseTopicPayload(
      "adverse-events", Json::parse(R"({"patient_id":"P-1001","timestamp":"2024-04-30T12:00:00Z",
        "event_description":"Neutropenia","severity":"grade_4","trial_site":"SITE-3"})"),
      deid, now);
  ASSERT_TRUE(ae.ok()) << ae.status().ToString();
  Json p = Json::parse(ae->payload_json);
  EXPECT_EQ(p["severity"], "SEVERE");
  EXPECT_EQ(p["grade"], 4);
  EXPECT_EQ(p["serious"], true);
  auto lab = ParseTopicPayload("lab-results", Json::parse(R"({"patient_id":"P-1","timestamp":
      "2024-04-30T12:00:00Z","test_name":"ALT","value":41,"unit":"U/L","reference_range":"7-56"})"),
                               deid, now);
  ASSERT_TRUE(lab.ok()) << lab.status().ToString();
  EXPECT_EQ(Json::parse(lab->payload_json)["ref_high"], 56.0);
  auto med = ParseTopicPayload("medications", Json::parse(R"({"patient_id":"P-1","timestamp":
      "2024-04-30T12:00:00Z","medication_name":"Ondansetron","dosage":8,"unit":"mg",
      "route":"oral"})"),
                               deid, now);
  ASSERT_TRUE(med.ok()) << med.status().ToString();
  EXPECT_EQ(med->event_type, "medication");
  EXPECT_EQ(TopicFor(med->event_type), "medications");

  struct Bad {
    const char* topic;
    const char* body;
    const char* field;
  };
  for (const Bad& b : std::vector<Bad>{
           {"patient-vitals", R"({"timestamp":"2024-05-01T09:00:00Z","heart_rate":88})",
            "patient_id"},
           {"patient-vitals", R"({"patient_id":"P","timestamp":"2024-05-01T09:00:00Z"})",
            "heart_rate"},
           {"patient-vitals",
            R"({"patient_id":"P","timestamp":"2024-05-01T09:00:00Z","spo2":"97"})", "spo2"},
           {"patient-vitals", R"({"patient_id":"P","timestamp":"soon","heart_rate":80})",
            "timestamp"},
           {"adverse-events",
            R"({"patient_id":"P","timestamp":"2024-05-01","event_description":"x",
                "severity":"grade_9"})",
            "severity"},
           {"lab-results", R"({"patient_id":"P","timestamp":"2024-05-01","value":1,"unit":"x"})",
            "test_name"},
           {"other-topic", R"({"patient_id":"P","timestamp":"2024-05-01"})", "topic"},
           {"patient-vitals", R"([1,2,3])", ""},
       }) {
    auto ev = ParseTopicPayload(b.topic, Json::parse(b.body), deid, now);
    ASSERT_FALSE(ev.ok()) << b.body;
    if (*b.field) {
      EXPECT_EQ(ev.status().field(), b.field) << b.body;
    }
  }
}

TEST(ApiKeys, RolesHashesAndGuard) {
  fs::path dir = fs::path(::testing::TempDir()) / ("ctml-keys-" + HexEncode(RandomBytes(4)));
  std::string path = (dir / "api-keys").string();
  auto ingest_key = net::ApiKeys::AddKey(path, "site-a", "ingest");
  auto admin_key = net::ApiKeys::AddKey(path, "ops", "admin");
  ASSERT_TRUE(ingest_key.ok() && admin_key.ok());
  EXPECT_FALSE(net::ApiKeys::AddKey(path, "site-a", "ingest").ok());  // duplicate id
  EXPECT_FALSE(net::ApiKeys::AddKey(path, "x y", "ingest").ok());
  EXPECT_FALSE(net::ApiKeys::AddKey(path, "z", "root").ok());
  // Only hashes are stored.
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find(*ingest_key), std::string::npos);
  EXPECT_NE(text.find(net::ApiKeys::HashKey(*ingest_key)), std::string::npos);

  auto keys = net::ApiKeys::Load(path, true);
  ASSERT_TRUE(keys.ok());
  auto guarded = keys->Guard("ingest", [](const net::HttpRequest& r) {
    return net::HttpResponse::Json(200, Json({{"actor", r.actor}}).dump());
  });
  net::HttpRequest req;
  EXPECT_EQ(guarded(req).status, 401);
  req.headers["x-api-key"] = "wrong";
  EXPECT_EQ(guarded(req).status, 401);
  req.headers["x-api-key"] = *ingest_key;
  auto ok = guarded(req);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(Json::parse(ok.body)["actor"], "site-a");
  req.headers.erase("x-api-key");
  req.headers["authorization"] = "Bearer " + *admin_key;  // admin implies every role
  EXPECT_EQ(guarded(req).status, 200);
  auto read_only = keys->Guard(
      "read", [](const net::HttpRequest&) { return net::HttpResponse::Json(200, "{}"); });
  req.headers["authorization"] = "Bearer " + *ingest_key;
  EXPECT_EQ(read_only(req).status, 403);
  // Not required: anonymous passes, a wrong key still fails.
  auto open = net::ApiKeys::Load(path, false);
  auto g2 = open->Guard("ingest", [](const net::HttpRequest& r) {
    return net::HttpResponse::Json(200, Json({{"actor", r.actor}}).dump());
  });
  net::HttpRequest anon;
  EXPECT_EQ(Json::parse(g2(anon).body)["actor"], "anonymous");
  anon.headers["x-api-key"] = "nope";
  EXPECT_EQ(g2(anon).status, 401);
  EXPECT_FALSE(net::ApiKeys::Load((dir / "missing").string(), true).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ctml::ingest
