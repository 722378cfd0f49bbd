#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/ingest/clinical_envelope.h"
#include "ctml/ingest/demo_ids.h"
#include "ctml/ingest/generator.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest {
namespace {

const privacy::Deidentifier kPseudo(privacy::Pseudonymizer(std::string(64, 'k')), "shift-key",
                                    privacy::Policy::kSafeHarbor);

double Measurement(const CanonicalEvent& ev, const std::string& test) {
  Json payload = Json::parse(ev.payload_json);
  for (const Json& m : payload["measurements"]) {
    if (m["test"] == test) return m["value"].get<double>();
  }
  return -1;
}

Json GoodEnvelope() {
  return Json::parse(R"({"message_id":"m-1","timestamp":"2024-05-01T10:00:00Z",
    "study_phase":"Phase II","site_id":"SITE1","vital_signs":{"patient_id":"PT12AB34CD",
    "measurement_time":"2024-05-01T09:55:00Z","systolic_bp":120,"diastolic_bp":80,
    "heart_rate":72,"temperature_celsius":36.9,"respiratory_rate":16,"oxygen_saturation":98}})");
}

int64_t Now() { return *ParseIso8601("2024-05-01T10:00:00Z"); }

TEST(VitalSigns, AcceptsAndDeidentifies) {
  auto ev = ParseClinicalEnvelope(GoodEnvelope(), kPseudo, Now(), "gateway");
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->event_id, "m-1");
  EXPECT_EQ(ev->event_type, "vital_signs");
  EXPECT_EQ(ev->subject_key, kPseudo.SubjectKey("PT12AB34CD"));
  // safe_harbor: the subject's dates move back by its keyed offset (1-365 days).
  EXPECT_EQ(ev->event_time_us, *ParseIso8601("2024-05-01T09:55:00Z") -
                                   kPseudo.ShiftDays("PT12AB34CD") * kMicrosPerDay);
  EXPECT_LT(ev->event_time_us, *ParseIso8601("2024-05-01T09:55:00Z"));
  std::string wire = ev->ToJson();
  EXPECT_EQ(wire.find("PT12AB34CD"), std::string::npos);
  auto back = CanonicalEvent::FromJson(wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->subject_key, ev->subject_key);
  EXPECT_EQ(Measurement(*back, "heart_rate"), 72.0);
  EXPECT_EQ(Json::parse(back->payload_json)["measurements"].size(), 6u);
  EXPECT_EQ(TopicFor("vital_signs"), "patient-vitals");
}

struct BadCase {
  const char* name;
  std::function<void(Json&)> mutate;
  const char* field;
};

TEST(VitalSigns, RejectsNamingTheField) {
  std::vector<BadCase> cases = {
      {"heart rate 900", [](Json& j) { j["vital_signs"]["heart_rate"] = 900; },
       "vital_signs.heart_rate"},
      {"no patient id", [](Json& j) { j["vital_signs"].erase("patient_id"); },
       "vital_signs.patient_id"},
      {"bad patient id", [](Json& j) { j["vital_signs"]["patient_id"] = "12345"; },
       "vital_signs.patient_id"},
      {"string number", [](Json& j) { j["vital_signs"]["systolic_bp"] = "120"; },
       "vital_signs.systolic_bp"},
      {"missing required", [](Json& j) { j["vital_signs"].erase("temperature_celsius"); },
       "vital_signs.temperature_celsius"},
      {"bad time", [](Json& j) { j["vital_signs"]["measurement_time"] = "yesterday"; },
       "vital_signs.measurement_time"},
      {"future time",
       [](Json& j) { j["vital_signs"]["measurement_time"] = "2024-05-02T10:00:00Z"; },
       "vital_signs.measurement_time"},
      {"dia >= sys", [](Json& j) { j["vital_signs"]["diastolic_bp"] = 130; },
       "vital_signs.diastolic_bp"},
      {"spo2 > 100", [](Json& j) { j["vital_signs"]["oxygen_saturation"] = 101; },
       "vital_signs.oxygen_saturation"},
      {"unknown field", [](Json& j) { j["vital_signs"]["ssn"] = "123-45-6789"; },
       "vital_signs.ssn"},
      {"two types", [](Json& j) { j["lab_result"] = Json::object(); }, "lab_result"},
      {"no data", [](Json& j) { j.erase("vital_signs"); }, "vital_signs"},
      {"id in message_id", [](Json& j) { j["message_id"] = "site1-PT12AB34CD-0001"; },
       "message_id"},
  };
  for (const auto& c : cases) {
    Json j = GoodEnvelope();
    c.mutate(j);
    auto ev = ParseClinicalEnvelope(j, kPseudo, Now(), "gateway");
    ASSERT_FALSE(ev.ok()) << c.name;
    EXPECT_EQ(ev.status().code(), StatusCode::kInvalid) << c.name;
    EXPECT_EQ(ev.status().field(), c.field) << c.name;
    EXPECT_EQ(ev.status().message().find("PT12AB34CD"), std::string::npos) << c.name;
  }
}

TEST(VitalSigns, OptionalVitalsMayBeNull) {
  Json j = GoodEnvelope();
  j["vital_signs"]["oxygen_saturation"] = nullptr;
  j["vital_signs"].erase("respiratory_rate");
  auto ev = ParseClinicalEnvelope(j, kPseudo, Now(), "gateway");
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(Json::parse(ev->payload_json)["measurements"].size(), 4u);
  EXPECT_EQ(Measurement(*ev, "oxygen_saturation"), -1);
}

TEST(ClinicalEnvelope, AllFourTypesOfTheExistingStack) {
  auto demo = ParseClinicalEnvelope(
      Json::parse(R"({"patient_demographics":{"patient_id":"PT12AB34CD","age":95,
        "gender":"Female","ethnicity":"Hispanic","weight_kg":61.5,"height_cm":160,
        "study_id":"ONC-001","enrollment_date":"2024-04-02"}})"),
      kPseudo, Now(), "gateway");
  ASSERT_TRUE(demo.ok()) << demo.status().ToString();
  Json d = Json::parse(demo->payload_json);
  EXPECT_EQ(demo->event_type, "demographics");
  EXPECT_EQ(demo->study_id, "ONC-001");
  EXPECT_EQ(d["age"], 90);  // > 89 -> 90
  EXPECT_EQ(d["sex"], "F");
  EXPECT_NE(d["enrollment_date"], "2024-04-02");  // shifted
  EXPECT_EQ(d["enrollment_date"].get<std::string>().size(), 10u);

  auto lab = ParseClinicalEnvelope(
      Json::parse(R"({"lab_result":{"patient_id":"PT12AB34CD","test_type":"Blood Glucose",
        "result_value":412,"unit":"mg/dL","reference_range":"70-100",
        "test_date":"2024-04-30T08:00:00Z","lab_technician_id":"LAB0042","is_abnormal":true}})"),
      kPseudo, Now(), "gateway");
  ASSERT_TRUE(lab.ok()) << lab.status().ToString();
  Json l = Json::parse(lab->payload_json);
  EXPECT_EQ(l["test"], "Blood Glucose");
  EXPECT_EQ(l["ref_low"], 70.0);
  EXPECT_EQ(l["ref_high"], 100.0);
  EXPECT_EQ(TopicFor(lab->event_type), "lab-results");

  auto ae = ParseClinicalEnvelope(Json::parse(R"({"adverse_event":{"patient_id":"PT12AB34CD",
        "event_description":"Severe nausea, patient phone 617-555-0100","severity":"Severe",
        "start_date":"2024-04-29","related_to_study_drug":true,"action_taken":"Dose reduced"}})"),
                                  kPseudo, Now(), "gateway");
  ASSERT_TRUE(ae.ok()) << ae.status().ToString();
  Json a = Json::parse(ae->payload_json);
  EXPECT_EQ(a["severity"], "SEVERE");
  EXPECT_EQ(a["precision"], "day");
  EXPECT_EQ(a["term"].get<std::string>().find("617"), std::string::npos);
  EXPECT_NE(a["term"].get<std::string>().find("nausea"), std::string::npos);

  struct Bad {
    const char* body;
    const char* field;
  };
  for (const Bad& b : std::vector<Bad>{
           {R"({"patient_demographics":{"patient_id":"PT12AB34CD","age":12,"gender":"F"}})",
            "patient_demographics.age"},
           {R"({"patient_demographics":{"patient_id":"PT12AB34CD","age":40,"gender":"F",
               "weight_kg":400}})",
            "patient_demographics.weight_kg"},
           {R"({"lab_result":{"patient_id":"PT12AB34CD","test_type":"WBC","result_value":"7",
               "unit":"10*9/L","test_date":"2024-04-30"}})",
            "lab_result.result_value"},
           {R"({"lab_result":{"patient_id":"PT12AB34CD","test_type":"WBC","result_value":7,
               "unit":"10*9/L","test_date":"2024-04-30","lab_technician_id":"TECH1"}})",
            "lab_result.lab_technician_id"},
           {R"({"adverse_event":{"patient_id":"PT12AB34CD","event_description":"x",
               "severity":"grade_3","start_date":"2024-04-29","related_to_study_drug":false}})",
            "adverse_event.severity"},
           {R"({"adverse_event":{"patient_id":"PT12AB34CD","event_description":"x",
               "severity":"Mild","start_date":"2024-04-29","end_date":"2024-04-01",
               "related_to_study_drug":false}})",
            "adverse_event.end_date"},
           {R"({"adverse_event":{"patient_id":"PT12AB34CD","event_description":"x",
               "severity":"Mild","start_date":"2024-04-29"}})",
            "adverse_event.related_to_study_drug"},
           {R"({"lab_result":[1,2]})", "lab_result"},
           {R"({"vital_signs":{},"extra":1})", "extra"},
       }) {
    auto ev = ParseClinicalEnvelope(Json::parse(b.body), kPseudo, Now(), "gateway");
    ASSERT_FALSE(ev.ok()) << b.body;
    EXPECT_EQ(ev.status().field(), b.field) << b.body;
  }
}

TEST(DemoIds, DeterministicAndValid) {
  EXPECT_EQ(DemoPatientId(7, 3), DemoPatientId(7, 3));
  EXPECT_NE(DemoPatientId(7, 3), DemoPatientId(7, 4));
  EXPECT_NE(DemoPatientId(7, 3), DemoPatientId(8, 3));
  Json j = GoodEnvelope();
  j["vital_signs"]["patient_id"] = DemoPatientId(7, 3);
  EXPECT_TRUE(ParseClinicalEnvelope(j, kPseudo, Now(), "gateway").ok());
}

TEST(Generator, ReadingsAreValidAndCarryThePlantedPattern) {
  GeneratorOptions opts;
  opts.patients = 80;
  opts.hours = 96;
  int64_t end = Now();
  auto readings = SimulateCohort(opts, end);
  ASSERT_FALSE(readings.empty());
  EXPECT_TRUE(
      std::is_sorted(readings.begin(), readings.end(),
                     [](const Reading& a, const Reading& b) { return a.time_us < b.time_us; }));
  // Every generated envelope passes the gateway's validation.
  for (size_t i = 0; i < readings.size(); i += 37) {
    auto ev = ParseClinicalEnvelope(Json::parse(EnvelopeJson(opts, readings[i])), kPseudo, end,
                                    "generator");
    ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  }
  // SpO2 < 90 happens exactly in episodes; heart rate in the 6 h before an episode is higher
  // than the same patients' heart rate far from episodes.
  std::map<int, std::vector<const Reading*>> by_patient;
  for (const auto& r : readings) by_patient[r.patient_index].push_back(&r);
  double pre_sum = 0, far_sum = 0;
  int pre_n = 0, far_n = 0, episodes = 0;
  for (auto& [p, rs] : by_patient) {
    for (size_t i = 0; i < rs.size(); ++i) {
      EXPECT_EQ(rs[i]->oxygen_saturation < 90, rs[i]->in_episode);
      if (rs[i]->in_episode) continue;
      bool pre = false;
      for (size_t k = i + 1; k < rs.size() && rs[k]->time_us - rs[i]->time_us <= 6 * kMicrosPerHour;
           ++k) {
        if (rs[k]->in_episode) pre = true;
      }
      bool any_soon = false;
      for (size_t k = i + 1;
           k < rs.size() && rs[k]->time_us - rs[i]->time_us <= 24 * kMicrosPerHour; ++k) {
        if (rs[k]->in_episode) any_soon = true;
      }
      if (pre) {
        pre_sum += rs[i]->heart_rate;
        pre_n++;
      } else if (!any_soon) {
        far_sum += rs[i]->heart_rate;
        far_n++;
      }
    }
    for (size_t i = 1; i < rs.size(); ++i) episodes += rs[i]->in_episode && !rs[i - 1]->in_episode;
  }
  ASSERT_GT(episodes, 5);
  ASSERT_GT(pre_n, 10);
  EXPECT_GT(pre_sum / pre_n, far_sum / far_n + 8);
}

}  // namespace
}  // namespace ctml::ingest
