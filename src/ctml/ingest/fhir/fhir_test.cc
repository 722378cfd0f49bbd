#include "ctml/ingest/fhir/fhir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "ctml/core/crypto.h"
#include "ctml/core/time.h"
#include "ctml/ingest/fhir/fhir_resources.h"
#include "ctml/ingest/ingest_testing.h"
#include "ctml/store/factory.h"

namespace ctml::ingest::fhir {
namespace {

const privacy::Deidentifier& Deid() {
  static const privacy::Deidentifier d(privacy::Pseudonymizer(std::string(64, 'k')), "shift",
                                       privacy::Policy::kSafeHarbor);
  return d;
}

// The event id of a resource with an id: keyed by the pseudonym function, so it cannot be
// guessed back from the (subject) id.
std::string KeyedId(const std::string& type, const std::string& id) {
  return "fhir-" + HexEncode(Sha256(type + "/" + Deid().SubjectKey(type + "/" + id))).substr(0, 32);
}

int64_t Received() { return *ParseIso8601("2024-05-01T10:00:00Z"); }

FhirOptions Opts() {
  FhirOptions o;
  o.study_id = "STUDY1";
  o.site_id = "SITE01";
  return o;
}

BundleResult Convert(const Json& bundle, const FhirOptions& o = Opts()) {
  auto r = ConvertBundle(bundle, o, Deid(), Received());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : BundleResult{};
}

Json Payload(const CanonicalEvent& ev) { return Json::parse(ev.payload_json); }

Json Entry(const Json& resource, const std::string& full_url = "") {
  Json e = {{"resource", resource},
            {"request", {{"method", "POST"}, {"url", resource.value("resourceType", "")}}}};
  if (!full_url.empty()) e["fullUrl"] = full_url;
  return e;
}

Json MakeBundle(const std::string& type, const std::vector<Json>& entries) {
  return {{"resourceType", "Bundle"}, {"type", type}, {"entry", entries}};
}

Json PatientRes() {
  return Json::parse(R"({"resourceType":"Patient","id":"pat-123",
    "extension":[
      {"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[
        {"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3","display":"White"}},
        {"url":"text","valueString":"White"}]},
      {"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity","extension":[
        {"url":"text","valueString":"Not Hispanic or Latino"}]},
      {"url":"http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName","valueString":"Maidenname77"},
      {"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"Birthtown55","state":"Kansas","country":"US"}}],
    "identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"999-12-3456"}],
    "name":[{"family":"Smithfamily","given":["Givenname1"]}],
    "telecom":[{"system":"phone","value":"555-123-4567"}],
    "gender":"female","birthDate":"1950-07-04",
    "address":[{"line":["12 Secret Lane"],"city":"Hiddenville","state":"MA","postalCode":"02139","country":"US"}]})");
}

Json HeartRate(const std::string& subject_ref, const std::string& id = "hr-1") {
  Json o = Json::parse(R"({"resourceType":"Observation","status":"final",
    "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
    "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},
    "effectiveDateTime":"2024-04-30T08:15:00Z",
    "valueQuantity":{"value":72,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}})");
  o["id"] = id;
  o["subject"] = {{"reference", subject_ref}};
  return o;
}

Json BpPanel(const std::string& subject_ref) {
  Json o = Json::parse(R"({"resourceType":"Observation","id":"bp-1","status":"final",
    "category":[{"coding":[{"code":"vital-signs"}]}],
    "code":{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel"}]},
    "effectiveDateTime":"2024-04-30T08:15:00Z",
    "component":[
      {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":128,"unit":"mm[Hg]","code":"mm[Hg]"}},
      {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":82.5,"unit":"mm[Hg]","code":"mm[Hg]"}}]})");
  o["subject"] = {{"reference", subject_ref}};
  return o;
}

Json Glucose(const std::string& subject_ref) {
  Json o = Json::parse(R"({"resourceType":"Observation","id":"lab-1","status":"final",
    "category":[{"coding":[{"code":"laboratory"}]}],
    "code":{"coding":[{"system":"http://loinc.org","code":"2339-0","display":"Glucose [Mass/volume] in Blood"}],"text":"Glucose"},
    "effectiveDateTime":"2024-04-29",
    "valueQuantity":{"value":101.5,"unit":"mg/dL","code":"mg/dL"},
    "referenceRange":[{"low":{"value":70},"high":{"value":99},"text":"70-99"}],
    "interpretation":[{"coding":[{"code":"H"}]}]})");
  o["subject"] = {{"reference", subject_ref}};
  return o;
}

Json AdverseEventRes(const std::string& subject_ref) {
  Json o = Json::parse(R"({"resourceType":"AdverseEvent","id":"ae-1","actuality":"actual",
    "event":{"text":"Rash on arm, call 555-987-6543","coding":[{"system":"http://snomed.info/sct","code":"271807003","display":"Eruption of skin"}]},
    "seriousness":{"coding":[{"code":"non-serious"}]},
    "severity":{"coding":[{"code":"moderate"}]},
    "outcome":{"coding":[{"code":"resolved"}]},
    "date":"2024-04-20"})");
  o["subject"] = {{"reference", subject_ref}};
  return o;
}

Json MedStatement(const std::string& subject_ref) {
  Json o = Json::parse(R"({"resourceType":"MedicationStatement","id":"ms-1","status":"active",
    "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"243670","display":"Aspirin 81 MG Oral Tablet"}]},
    "effectivePeriod":{"start":"2024-03","end":"2024-04-15"},
    "reasonCode":[{"text":"Cardiac prophylaxis"}],
    "dosage":[{"route":{"text":"oral"},"doseAndRate":[{"doseQuantity":{"value":81,"unit":"mg","code":"mg"}}]}]})");
  o["subject"] = {{"reference", subject_ref}};
  return o;
}

Json MedAdministration(const std::string& subject_ref) {
  Json o =
      Json::parse(R"({"resourceType":"MedicationAdministration","id":"ma-1","status":"completed",
    "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"197361","display":"Amlodipine 5 MG"}]},
    "effectiveDateTime":"2024-04-28T09:00:00Z",
    "dosage":{"route":{"coding":[{"display":"Oral route"}]},"dose":{"value":5,"unit":"mg"}}})");
  o["patient"] = {{"reference", subject_ref}};  // tolerated alias of subject
  o["subject"] = {{"reference", subject_ref}};
  return o;
}

// Every string (keys and values) inside a JSON document.
void CollectStrings(const Json& j, std::vector<std::string>* out) {
  if (j.is_string()) out->push_back(j.get<std::string>());
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      out->push_back(it.key());
      CollectStrings(it.value(), out);
    }
  } else if (j.is_array()) {
    for (const Json& c : j) CollectStrings(c, out);
  }
}

// Fails when `phi` occurs in `doc`: as a substring of the dump when it has a non-digit (a digit-
// only string such as "00000" could occur inside a timestamp number), else inside any string.
void ExpectAbsent(const Json& doc, const std::string& phi, const std::string& what) {
  if (phi.size() < 3) return;
  bool digits = phi.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) {
    EXPECT_EQ(doc.dump().find(phi), std::string::npos) << what << " leaked";
    return;
  }
  std::vector<std::string> strings;
  CollectStrings(doc, &strings);
  for (const auto& s : strings) EXPECT_EQ(s.find(phi), std::string::npos) << what << " leaked";
}

const Json* FindIssuePath(const Json& oo, const std::string& path) {
  for (const Json& issue : oo["issue"]) {
    if (issue.contains("expression") && issue["expression"][0] == path) return &issue;
  }
  return nullptr;
}

// ------------------------------------------------------------------------------------------

TEST(FhirPatient, SafeHarborDemographics) {
  BundleResult r = Convert(MakeBundle("batch", {Entry(PatientRes(), "urn:uuid:p1")}));
  ASSERT_EQ(r.http_status, 200);
  ASSERT_EQ(r.events.size(), 1u);
  const CanonicalEvent& ev = r.events[0];
  EXPECT_EQ(ev.event_type, "demographics");
  EXPECT_EQ(ev.source, "fhir");
  EXPECT_EQ(ev.schema_version, 2);
  EXPECT_EQ(ev.study_id, "STUDY1");
  EXPECT_EQ(ev.site_id, "SITE01");
  EXPECT_EQ(ev.subject_key, Deid().SubjectKey("pat-123"));
  // Keyed: the Patient id is the subject id, an unkeyed hash of it could be guessed back.
  EXPECT_EQ(ev.event_id, KeyedId("Patient", "pat-123"));
  EXPECT_EQ(ev.event_id.find(HexEncode(Sha256("Patient/pat-123")).substr(0, 32)),
            std::string::npos);
  EXPECT_EQ(ev.received_at_us, Deid().ShiftTime("pat-123", Received()));  // shifted too
  EXPECT_EQ(ev.event_time_us, Deid().ShiftTime("pat-123", Received()));
  EXPECT_LT(ev.event_time_us, Received());
  Json p = Payload(ev);
  EXPECT_EQ(p["age"], 73);
  EXPECT_EQ(p["age_unit"], "YEARS");
  EXPECT_FALSE(p.contains("age_capped"));
  EXPECT_EQ(p["gender"], "female");
  EXPECT_EQ(p["sex"], "F");
  EXPECT_EQ(p["race"], "White");
  EXPECT_EQ(p["ethnicity"], "Not Hispanic or Latino");
  EXPECT_EQ(p["state"], "MA");
  EXPECT_EQ(p["country"], "US");
  EXPECT_EQ(p["zip3"], "021");
  EXPECT_TRUE(p["deceased"].is_null());
  EXPECT_EQ(p["precision"], "second");
  Json wire = Json::parse(ev.ToJson());
  for (const char* phi :
       {"pat-123", "Smithfamily", "Givenname1", "555-123-4567", "999-12-3456", "12 Secret Lane",
        "Hiddenville", "02139", "1950-07-04", "Maidenname77", "Birthtown55", "Kansas"}) {
    ExpectAbsent(wire, phi, phi);
  }
  EXPECT_EQ(r.response["type"], "batch-response");
  EXPECT_EQ(r.response["entry"][0]["response"]["status"], "201 Created");
  EXPECT_EQ(r.response["entry"][0]["response"]["location"], "Patient/" + ev.event_id);
  ExpectAbsent(r.response, "pat-123", "response patient id");
}

TEST(FhirPatient, AgeCappedDeceasedIdentifierSubject) {
  Json pat = Json::parse(R"({"resourceType":"Patient","gender":"male","birthDate":"1920",
    "deceasedDateTime":"2001-02-03","identifier":[{"system":"urn:mrn","value":"MRN0001"}]})");
  BundleResult r = Convert(MakeBundle("collection", {Entry(pat)}));
  ASSERT_EQ(r.events.size(), 1u);
  Json p = Payload(r.events[0]);
  EXPECT_EQ(p["age"], 90);
  EXPECT_EQ(p["age_capped"], true);
  EXPECT_EQ(p["sex"], "M");
  EXPECT_EQ(p["deceased"], true);
  EXPECT_EQ(r.events[0].subject_key, Deid().SubjectKey("urn:mrn|MRN0001"));
  EXPECT_EQ(r.events[0].event_id.rfind("fhir-", 0), std::string::npos);  // no id, no fullUrl
  EXPECT_EQ(r.response["type"], "batch-response");  // collection answers batch-response
  ExpectAbsent(Json::parse(r.events[0].ToJson()), "MRN0001", "mrn");
  ExpectAbsent(Json::parse(r.events[0].ToJson()), "2001-02-03", "death date");
}

TEST(FhirObservation, HeartRateVital) {
  BundleResult r = Convert(MakeBundle("batch", {Entry(HeartRate("Patient/pat-9"))}));
  ASSERT_EQ(r.events.size(), 1u) << r.response.dump();
  const CanonicalEvent& ev = r.events[0];
  EXPECT_EQ(ev.event_type, "vital_signs");
  EXPECT_EQ(TopicFor(ev.event_type), "patient-vitals");
  EXPECT_EQ(ev.subject_key, Deid().SubjectKey("pat-9"));
  EXPECT_EQ(ev.event_time_us, Deid().ShiftTime("pat-9", *ParseIso8601("2024-04-30T08:15:00Z")));
  Json p = Payload(ev);
  ASSERT_EQ(p["measurements"].size(), 1u);
  EXPECT_EQ(p["measurements"][0]["test"], "8867-4");
  EXPECT_EQ(p["measurements"][0]["code_system"], "LOINC");
  EXPECT_EQ(p["measurements"][0]["value"], 72.0);
  EXPECT_EQ(p["measurements"][0]["value_text"], "72");
  EXPECT_EQ(p["measurements"][0]["unit"], "beats/minute");
  EXPECT_EQ(p["precision"], "second");
  EXPECT_EQ(r.response["entry"][0]["response"]["location"], "Observation/" + ev.event_id);
}

TEST(FhirObservation, BloodPressurePanelIsOneEventTwoMeasurements) {
  BundleResult r = Convert(MakeBundle("batch", {Entry(BpPanel("Patient/pat-9"))}));
  ASSERT_EQ(r.events.size(), 1u) << r.response.dump();
  Json p = Payload(r.events[0]);
  ASSERT_EQ(p["measurements"].size(), 2u);
  EXPECT_EQ(p["measurements"][0]["test"], "8480-6");
  EXPECT_EQ(p["measurements"][0]["value"], 128.0);
  EXPECT_EQ(p["measurements"][0]["unit"], "mm[Hg]");
  EXPECT_EQ(p["measurements"][1]["test"], "8462-4");
  EXPECT_EQ(p["measurements"][1]["value"], 82.5);

  // A panel without its diastolic component is refused, naming the element.
  Json bad = BpPanel("Patient/pat-9");
  bad["component"].erase(1);
  BundleResult rb = Convert(MakeBundle("batch", {Entry(bad)}));
  EXPECT_TRUE(rb.events.empty());
  EXPECT_EQ(rb.response["entry"][0]["response"]["status"], "400 Bad Request");
  EXPECT_EQ(rb.response["entry"][0]["response"]["outcome"]["issue"][0]["expression"][0],
            "Bundle.entry[0].resource.component");
  // A component with a non-numeric value.
  Json bad2 = BpPanel("Patient/pat-9");
  bad2["component"][1]["valueQuantity"]["value"] = "82";
  BundleResult rb2 = Convert(MakeBundle("batch", {Entry(bad2)}));
  EXPECT_EQ(rb2.response["entry"][0]["response"]["outcome"]["issue"][0]["expression"][0],
            "Bundle.entry[0].resource.component[1].valueQuantity.value");
}

TEST(FhirObservation, LabResult) {
  BundleResult r = Convert(MakeBundle("batch", {Entry(Glucose("Patient/pat-9"))}));
  ASSERT_EQ(r.events.size(), 1u) << r.response.dump();
  const CanonicalEvent& ev = r.events[0];
  EXPECT_EQ(ev.event_type, "lab_result");
  Json p = Payload(ev);
  EXPECT_EQ(p["test"], "2339-0");
  EXPECT_EQ(p["code_system"], "LOINC");
  EXPECT_EQ(p["test_name"], "Glucose [Mass/volume] in Blood");
  EXPECT_EQ(p["value"], 101.5);
  EXPECT_EQ(p["unit"], "mg/dL");
  EXPECT_EQ(p["ref_low"], 70.0);
  EXPECT_EQ(p["ref_high"], 99.0);
  EXPECT_EQ(p["ref_text"], "70-99");
  EXPECT_EQ(p["abnormal_flag"], "H");
  EXPECT_EQ(p["status"], "final");
  EXPECT_EQ(p["category"], "laboratory");
  EXPECT_EQ(p["precision"], "day");
  EXPECT_EQ(ev.event_time_us, Deid().ShiftTime("pat-9", *ParseIso8601("2024-04-29")));

  // Any other LOINC code with a quantity (no category) is a lab result too.
  Json other = Glucose("Patient/pat-9");
  other.erase("category");
  other["effectiveDateTime"] = "2024-04";
  BundleResult r2 = Convert(MakeBundle("batch", {Entry(other)}));
  ASSERT_EQ(r2.events.size(), 1u);
  EXPECT_EQ(r2.events[0].event_type, "lab_result");
  EXPECT_EQ(Payload(r2.events[0])["precision"], "month");
}

TEST(FhirObservation, DataAbsentReasonAndMissingValue) {
  Json absent = HeartRate("Patient/p");
  absent.erase("valueQuantity");
  absent["dataAbsentReason"] = {{"coding", {{{"code", "asked-declined"}}}}};
  BundleResult r = Convert(MakeBundle("batch", {Entry(absent)}));
  ASSERT_EQ(r.events.size(), 1u);
  Json m = Payload(r.events[0])["measurements"][0];
  EXPECT_TRUE(m["value"].is_null());
  EXPECT_EQ(m["value_text"], "asked-declined");

  Json missing = HeartRate("Patient/p");
  missing.erase("valueQuantity");
  BundleResult r2 = Convert(MakeBundle("batch", {Entry(missing)}));
  EXPECT_TRUE(r2.events.empty());
  const Json& issue = r2.response["entry"][0]["response"]["outcome"]["issue"][0];
  EXPECT_EQ(issue["code"], "required");
  EXPECT_EQ(issue["expression"][0], "Bundle.entry[0].resource.valueQuantity");

  // Unknown code in the vital-signs category without a value.
  Json unknown = HeartRate("Patient/p");
  unknown["code"]["coding"][0]["code"] = "99999-9";
  unknown.erase("valueQuantity");
  unknown["dataAbsentReason"] = {{"text", "unknown"}};
  BundleResult r3 = Convert(MakeBundle("batch", {Entry(unknown)}));
  EXPECT_TRUE(r3.events.empty());
  EXPECT_EQ(r3.reasons["MISSING_FIELD"], 1);

  // No time at all.
  Json untimed = HeartRate("Patient/p");
  untimed.erase("effectiveDateTime");
  BundleResult r4 = Convert(MakeBundle("batch", {Entry(untimed)}));
  EXPECT_TRUE(r4.events.empty());
  // A date without a year.
  Json bad_date = HeartRate("Patient/p");
  bad_date["effectiveDateTime"] = "--04-30";
  BundleResult r5 = Convert(MakeBundle("batch", {Entry(bad_date)}));
  EXPECT_EQ(r5.reasons["INVALID_DATE"], 1);
}

TEST(FhirAdverseEvent, Converts) {
  BundleResult r = Convert(MakeBundle("batch", {Entry(AdverseEventRes("Patient/pat-9"))}));
  ASSERT_EQ(r.events.size(), 1u) << r.response.dump();
  const CanonicalEvent& ev = r.events[0];
  EXPECT_EQ(ev.event_type, "adverse_event");
  Json p = Payload(ev);
  EXPECT_EQ(p["term"].get<std::string>().find("555-987-6543"), std::string::npos);
  EXPECT_NE(p["term"].get<std::string>().find("Rash on arm"), std::string::npos);
  EXPECT_EQ(p["decod"], "Eruption of skin");
  EXPECT_EQ(p["serious"], false);
  EXPECT_EQ(p["severity"], "MODERATE");
  EXPECT_EQ(p["outcome"], "resolved");
  EXPECT_EQ(p["start_date"], *Deid().ShiftDate("pat-9", "2024-04-20"));
  EXPECT_NE(p["start_date"], "2024-04-20");
  EXPECT_EQ(p["precision"], "day");
  EXPECT_EQ(ev.event_time_us, Deid().ShiftTime("pat-9", *ParseIso8601("2024-04-20")));
}

TEST(FhirMedication, StatementAndAdministration) {
  BundleResult r = Convert(MakeBundle(
      "batch", {Entry(MedStatement("Patient/pat-9")), Entry(MedAdministration("Patient/pat-9"))}));
  ASSERT_EQ(r.events.size(), 2u) << r.response.dump();
  Json s = Payload(r.events[0]);
  EXPECT_EQ(r.events[0].event_type, "medication");
  EXPECT_EQ(s["name"], "Aspirin 81 MG Oral Tablet");
  EXPECT_EQ(s["code"], "243670");
  EXPECT_EQ(s["code_system"], "RXNORM");
  EXPECT_EQ(s["dose"], 81.0);
  EXPECT_EQ(s["dose_text"], "81");
  EXPECT_EQ(s["dose_unit"], "mg");
  EXPECT_EQ(s["route"], "oral");
  EXPECT_EQ(s["category"], "concomitant");
  EXPECT_EQ(s["status"], "active");
  EXPECT_EQ(s["indication"], "Cardiac prophylaxis");
  EXPECT_EQ(s["start_date"], *Deid().ShiftDate("pat-9", "2024-03"));
  EXPECT_EQ(s["end_date"], *Deid().ShiftDate("pat-9", "2024-04-15"));
  EXPECT_EQ(s["precision"], "month");
  Json a = Payload(r.events[1]);
  EXPECT_EQ(a["name"], "Amlodipine 5 MG");
  EXPECT_EQ(a["dose"], 5.0);
  EXPECT_EQ(a["route"], "Oral route");
  EXPECT_EQ(a["status"], "completed");
  EXPECT_EQ(TopicFor(r.events[1].event_type), "medications");
  EXPECT_EQ(r.response["entry"][1]["response"]["location"],
            "MedicationAdministration/" + r.events[1].event_id);
}

TEST(FhirBundle, UnsupportedResourceIsNotSupported) {
  Json enc = {{"resourceType", "Encounter"}, {"id", "e1"}};
  BundleResult r = Convert(MakeBundle("batch", {Entry(enc)}));
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.rejected, 1);
  EXPECT_EQ(r.reasons["UNSUPPORTED_RESOURCE"], 1);
  const Json& resp = r.response["entry"][0]["response"];
  EXPECT_EQ(resp["status"], "422 Unprocessable Entity");
  EXPECT_EQ(resp["outcome"]["resourceType"], "OperationOutcome");
  EXPECT_EQ(resp["outcome"]["issue"][0]["severity"], "error");
  EXPECT_EQ(resp["outcome"]["issue"][0]["code"], "not-supported");
}

TEST(FhirBundle, MixedBatchPerEntryStatuses) {
  Json bad_value = HeartRate("Patient/pat-1", "hr-bad");
  bad_value["valueQuantity"]["value"] = "seventy";
  Json no_subject = Glucose("Patient/pat-1");
  no_subject.erase("subject");
  Json bad_ref = HeartRate("urn:uuid:nowhere", "hr-ref");
  Json bundle = MakeBundle(
      "batch", {Entry(PatientRes(), "urn:uuid:p1"), Entry(HeartRate("urn:uuid:p1")),
                Entry(bad_value), Entry(no_subject), Entry(bad_ref), Json("not an entry")});
  BundleResult r = Convert(bundle);
  ASSERT_EQ(r.http_status, 200);
  EXPECT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.rejected, 4);
  EXPECT_EQ(r.reasons["INVALID_VALUE"], 2);
  EXPECT_EQ(r.reasons["MISSING_FIELD"], 1);
  EXPECT_EQ(r.reasons["UNKNOWN_REFERENCE"], 1);
  const Json& entries = r.response["entry"];
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[0]["response"]["status"], "201 Created");
  EXPECT_EQ(entries[1]["response"]["status"], "201 Created");
  EXPECT_EQ(entries[2]["response"]["status"], "400 Bad Request");
  const Json& i2 = entries[2]["response"]["outcome"]["issue"][0];
  EXPECT_EQ(i2["code"], "invalid");
  EXPECT_EQ(i2["expression"][0], "Bundle.entry[2].resource.valueQuantity.value");
  EXPECT_NE(
      i2["diagnostics"].get<std::string>().find("Bundle.entry[2].resource.valueQuantity.value"),
      std::string::npos);
  EXPECT_EQ(entries[3]["response"]["outcome"]["issue"][0]["code"], "required");
  EXPECT_EQ(entries[3]["response"]["outcome"]["issue"][0]["expression"][0],
            "Bundle.entry[3].resource.subject");
  EXPECT_EQ(entries[4]["response"]["status"], "422 Unprocessable Entity");
  EXPECT_EQ(entries[4]["response"]["outcome"]["issue"][0]["code"], "not-found");
  EXPECT_EQ(entries[5]["response"]["status"], "400 Bad Request");
  for (const char* phi : {"seventy", "urn:uuid:nowhere", "pat-123", "pat-1"}) {
    ExpectAbsent(r.response, phi, phi);
  }
  // Only the valid entries produced events; both for the in-bundle Patient.
  for (const auto& ev : r.events) EXPECT_EQ(ev.subject_key, Deid().SubjectKey("pat-123"));
}

TEST(FhirBundle, TransactionAllOrNothing) {
  Json ok =
      MakeBundle("transaction", {Entry(PatientRes(), "urn:uuid:p1"),
                                 Entry(HeartRate("urn:uuid:p1")), Entry(BpPanel("urn:uuid:p1"))});
  BundleResult r = Convert(ok);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.rejected, 0);
  EXPECT_EQ(r.response["type"], "transaction-response");
  for (const Json& e : r.response["entry"]) EXPECT_EQ(e["response"]["status"], "201 Created");

  Json bad_hr = HeartRate("urn:uuid:p1", "hr-2");
  bad_hr["valueQuantity"]["value"] = Json::array({1});
  Json enc = {{"resourceType", "Encounter"}};
  Json bad = MakeBundle("transaction", {Entry(PatientRes(), "urn:uuid:p1"), Entry(bad_hr),
                                        Entry(HeartRate("urn:uuid:p1")), Entry(enc)});
  BundleResult rb = Convert(bad);
  EXPECT_EQ(rb.http_status, 400);
  EXPECT_TRUE(rb.events.empty());
  EXPECT_EQ(rb.rejected, 4);
  EXPECT_EQ(rb.reasons["INVALID_VALUE"], 1);
  EXPECT_EQ(rb.reasons["UNSUPPORTED_RESOURCE"], 1);
  EXPECT_EQ(rb.reasons["TRANSACTION_ROLLED_BACK"], 2);
  EXPECT_EQ(rb.response["resourceType"], "OperationOutcome");
  ASSERT_EQ(rb.response["issue"].size(), 2u);
  EXPECT_NE(FindIssuePath(rb.response, "Bundle.entry[1].resource.valueQuantity.value"), nullptr);
  EXPECT_NE(FindIssuePath(rb.response, "Bundle.entry[3].resource.resourceType"), nullptr);
}

TEST(FhirBundle, ReferencesResolveInTwoPasses) {
  // The Observation comes first and references the Patient appearing later (forward ref).
  Json pat2 = PatientRes();
  pat2["id"] = "pat-456";
  Json bundle = MakeBundle(
      "batch",
      {Entry(HeartRate("urn:uuid:later", "hr-a")), Entry(HeartRate("Patient/pat-456", "hr-b")),
       Entry(HeartRate("http://example.org/fhir/Patient/pat-777/_history/2", "hr-c")),
       Entry(PatientRes(), "urn:uuid:later"), Entry(pat2, "http://example.org/Patient/pat-456"),
       Entry(HeartRate("Observation/hr-a", "hr-d"))});
  BundleResult r = Convert(bundle);
  ASSERT_EQ(r.events.size(), 5u) << r.response.dump();
  EXPECT_EQ(r.events[0].subject_key, Deid().SubjectKey("pat-123"));
  EXPECT_EQ(r.events[1].subject_key, Deid().SubjectKey("pat-456"));
  EXPECT_EQ(r.events[2].subject_key, Deid().SubjectKey("pat-777"));
  // Same subject, same date shift across resources of one subject.
  EXPECT_EQ(r.events[0].event_time_us,
            Deid().ShiftTime("pat-123", *ParseIso8601("2024-04-30T08:15:00Z")));
  EXPECT_EQ(r.reasons["UNKNOWN_REFERENCE"], 1);
  EXPECT_EQ(r.response["entry"][5]["response"]["outcome"]["issue"][0]["expression"][0],
            "Bundle.entry[5].resource.subject.reference");
  // Logical reference by identifier.
  Json by_ident = HeartRate("x", "hr-e");
  by_ident["subject"] = {{"identifier", {{"system", "urn:mrn"}, {"value", "M1"}}}};
  BundleResult r2 = Convert(MakeBundle("batch", {Entry(by_ident)}));
  ASSERT_EQ(r2.events.size(), 1u);
  EXPECT_EQ(r2.events[0].subject_key, Deid().SubjectKey("urn:mrn|M1"));
}

TEST(FhirBundle, EventIdsAreStableAndHashed) {
  BundleResult a = Convert(MakeBundle("batch", {Entry(HeartRate("Patient/p", "obs-42"))}));
  BundleResult b = Convert(MakeBundle("batch", {Entry(HeartRate("Patient/p", "obs-42"))}));
  ASSERT_EQ(a.events.size(), 1u);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(a.events[0].event_id, b.events[0].event_id);
  EXPECT_EQ(a.events[0].event_id, KeyedId("Observation", "obs-42"));
  Json no_id = HeartRate("Patient/p");
  no_id.erase("id");
  BundleResult c = Convert(MakeBundle("batch", {Entry(no_id, "urn:uuid:abc")}));
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].event_id,
            "fhir-" + HexEncode(Sha256(Deid().SubjectKey("urn:uuid:abc"))).substr(0, 32));
}

TEST(FhirBundle, RefusedBundles) {
  BundleResult r =
      Convert(Json::parse(R"({"resourceType":"Bundle","type":"searchset","entry":[]})"));
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.response["resourceType"], "OperationOutcome");
  EXPECT_EQ(r.response["issue"][0]["code"], "not-supported");

  BundleResult r2 = Convert(HeartRate("Patient/p"));
  EXPECT_EQ(r2.http_status, 400);
  EXPECT_EQ(r2.response["resourceType"], "OperationOutcome");

  BundleResult r3 = Convert(Json::array({1, 2}));
  EXPECT_EQ(r3.http_status, 400);

  BundleResult r4 = Convert(Json::parse(R"({"resourceType":"Bundle","type":"batch","entry":{}})"));
  EXPECT_EQ(r4.http_status, 400);
  EXPECT_EQ(r4.response["issue"][0]["expression"][0], "Bundle.entry");

  FhirOptions small = Opts();
  small.max_entries = 2;
  std::vector<Json> three(3, Entry(HeartRate("Patient/p")));
  BundleResult r5 = Convert(MakeBundle("batch", three), small);
  EXPECT_EQ(r5.http_status, 413);
  EXPECT_TRUE(r5.events.empty());
  EXPECT_EQ(r5.rejected, 3);

  BundleResult empty = Convert(Json::parse(R"({"resourceType":"Bundle","type":"batch"})"));
  EXPECT_EQ(empty.http_status, 200);
  EXPECT_TRUE(empty.response["entry"].empty());
}

TEST(FhirBundle, DeepJsonRefused) {
  Json deep = Json::object();
  Json* cur = &deep;
  for (int i = 0; i < 100; ++i) {
    (*cur)["x"] = Json::object();
    cur = &(*cur)["x"];
  }
  Json bundle = MakeBundle("batch", {Entry(HeartRate("Patient/p"))});
  bundle["entry"][0]["resource"]["extension"] = Json::array({deep});
  BundleResult r = Convert(bundle);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_TRUE(r.events.empty());
}

TEST(FhirBundle, WrongTypesNamePaths) {
  struct Case {
    std::function<void(Json&)> mutate;
    std::string path;
  };
  std::vector<Case> cases = {
      {[](Json& o) { o["valueQuantity"]["value"] = "72"; }, "valueQuantity.value"},
      {[](Json& o) { o["valueQuantity"] = Json::array({72}); }, "valueQuantity"},
      {[](Json& o) { o["code"] = Json::array(); }, "code"},
      {[](Json& o) {
         o["code"]["coding"] = {{"code", "8867-4"}};
       },
       "code.coding"},
      {[](Json& o) {
         o["category"] = {{"coding", Json::array()}};
       },
       "category"},
      {[](Json& o) { o["subject"] = "Patient/p"; }, "subject"},
      {[](Json& o) { o["subject"]["reference"] = 5; }, "subject.reference"},
      {[](Json& o) { o["effectiveDateTime"] = 20240430; }, "effectiveDateTime"},
      {[](Json& o) { o["valueQuantity"]["unit"] = Json::object(); }, "valueQuantity.unit"},
      {[](Json& o) { o["valueQuantity"]["value"] = nullptr; }, "valueQuantity.value"},
  };
  for (const Case& c : cases) {
    Json obs = HeartRate("Patient/p");
    c.mutate(obs);
    BundleResult r = Convert(MakeBundle("batch", {Entry(obs)}));
    EXPECT_TRUE(r.events.empty()) << c.path;
    const Json& resp = r.response["entry"][0]["response"];
    EXPECT_EQ(resp["status"], "400 Bad Request") << c.path;
    EXPECT_EQ(resp["outcome"]["issue"][0]["expression"][0], "Bundle.entry[0].resource." + c.path);
  }
  // Patient: string where an array is expected.
  Json pat = PatientRes();
  pat["address"] = "somewhere";
  BundleResult r = Convert(MakeBundle("batch", {Entry(pat)}));
  EXPECT_EQ(r.response["entry"][0]["response"]["outcome"]["issue"][0]["expression"][0],
            "Bundle.entry[0].resource.address");
  ExpectAbsent(r.response, "somewhere", "address value");
  Json pat2 = PatientRes();
  pat2["gender"] = "F";
  BundleResult r2 = Convert(MakeBundle("batch", {Entry(pat2)}));
  EXPECT_EQ(r2.reasons["INVALID_VALUE"], 1);
}

TEST(FhirBundle, HugeStringsDoNotCrashOrLeak) {
  std::string huge(200000, 'A');
  Json ae = AdverseEventRes("Patient/p");
  ae["event"]["text"] = huge;
  Json pat = PatientRes();
  pat["name"][0]["family"] = huge;  // dropped unread: the Patient is still accepted
  Json obs = HeartRate("Patient/p");
  obs["code"]["coding"][0]["code"] = huge;
  Json ref = HeartRate(huge);
  BundleResult r =
      Convert(MakeBundle("batch", {Entry(ae), Entry(pat), Entry(obs), Entry(ref, huge)}));
  EXPECT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].event_type, "demographics");
  EXPECT_EQ(r.rejected, 3);
  EXPECT_EQ(r.response.dump().find(std::string(100, 'A')), std::string::npos);
}

TEST(FhirBundle, ConvertObservationSingle) {
  auto ev = ConvertObservation(HeartRate("Patient/pat-9"), Opts(), Deid(), Received());
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->event_type, "vital_signs");
  auto bad = ConvertObservation(HeartRate("urn:uuid:p1"), Opts(), Deid(), Received());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().field(), "Observation.subject.reference");
  EXPECT_EQ(bad.status().message().rfind("UNKNOWN_REFERENCE", 0), 0u);
  auto absolute =
      ConvertObservation(HeartRate("http://x.org/Patient/p1"), Opts(), Deid(), Received());
  EXPECT_FALSE(absolute.ok());
}

// The Synthea fixture: every Patient lands as demographics and nothing identifying survives.
TEST(FhirSynthea, PatientsAreDeidentified) {
  std::string path = std::string(CTML_SOURCE_DIR) + "/../shared/data/fhir/Patient.10.ndjson";
  if (!std::filesystem::exists(std::filesystem::path(path).parent_path())) {
    GTEST_SKIP() << "fixture directory absent";
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good());
  std::vector<Json> entries;
  std::set<std::string> phi;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json p = Json::parse(line);
    if (p.contains("id")) phi.insert(p["id"].get<std::string>());
    for (const Json& n : p.value("name", Json::array())) {
      if (n.contains("family")) phi.insert(n["family"].get<std::string>());
      for (const Json& g : n.value("given", Json::array())) phi.insert(g.get<std::string>());
    }
    for (const Json& a : p.value("address", Json::array())) {
      for (const Json& l : a.value("line", Json::array())) phi.insert(l.get<std::string>());
      if (a.contains("city")) phi.insert(a["city"].get<std::string>());
      if (a.contains("postalCode")) phi.insert(a["postalCode"].get<std::string>());
    }
    for (const Json& t : p.value("telecom", Json::array()))
      phi.insert(t["value"].get<std::string>());
    for (const Json& i : p.value("identifier", Json::array()))
      phi.insert(i["value"].get<std::string>());
    if (p.contains("birthDate")) phi.insert(p["birthDate"].get<std::string>());
    if (p.contains("deceasedDateTime")) phi.insert(p["deceasedDateTime"].get<std::string>());
    for (const Json& e : p.value("extension", Json::array())) {
      if (e.contains("valueString") &&
          e["url"].get<std::string>().find("mothersMaidenName") != std::string::npos) {
        phi.insert(e["valueString"].get<std::string>());
      }
      if (e.contains("valueAddress") && e["valueAddress"].contains("city")) {
        phi.insert(e["valueAddress"]["city"].get<std::string>());
      }
    }
    entries.push_back(Entry(p, "urn:uuid:" + p["id"].get<std::string>()));
  }
  ASSERT_GE(entries.size(), 10u);  // the file named ".10" holds 13 Patients
  ASSERT_GT(phi.size(), 50u);
  BundleResult r = Convert(MakeBundle("batch", entries));
  ASSERT_EQ(r.http_status, 200);
  ASSERT_EQ(r.events.size(), entries.size()) << r.response.dump();
  EXPECT_EQ(r.rejected, 0);
  int capped = 0;
  for (const CanonicalEvent& ev : r.events) {
    EXPECT_EQ(ev.event_type, "demographics");
    Json wire = Json::parse(ev.ToJson());
    for (const std::string& s : phi) ExpectAbsent(wire, s, "synthea value");
    Json p = wire["payload"];
    ASSERT_TRUE(p["age"].is_number());
    EXPECT_LE(p["age"].get<int>(), 90);
    EXPECT_GE(p["age"].get<int>(), 0);
    capped += p.value("age_capped", false);
    EXPECT_TRUE(p["sex"] == "M" || p["sex"] == "F");
    EXPECT_TRUE(p["race"].is_string());
    EXPECT_TRUE(p["zip3"].is_string());
    EXPECT_EQ(p["zip3"].get<std::string>().size(), 3u);
    for (const char* k : {"name", "telecom", "address", "identifier", "birthDate", "line", "city",
                          "postalCode", "extension"}) {
      EXPECT_FALSE(p.contains(k)) << k;
    }
  }
  EXPECT_GE(capped, 1);  // three patients born 1927
  for (const std::string& s : phi) ExpectAbsent(r.response, s, "response");
}

// ------------------------------------------------------------------------------------------
// The endpoint over embedded SQLite stores.

class FhirEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ctml-fhir-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto log = store::OpenEventLog("sqlite://" + (dir_ / "log.db").string());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
    auto meta = store::OpenMetaStore("sqlite://" + (dir_ / "meta.db").string());
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    meta_ = std::move(*meta);
    core_ = std::make_unique<IngestCore>(*log_, meta_.get());
    endpoint_ = std::make_unique<FhirEndpoint>(Opts(), *core_, Deid());
  }
  void TearDown() override {
    endpoint_.reset();
    core_.reset();
    log_.reset();
    meta_.reset();
    std::filesystem::remove_all(dir_);
  }

  net::HttpRequest Post(const std::string& body, const std::string& ct = "application/fhir+json") {
    net::HttpRequest req;
    req.method = "POST";
    req.path = req.target = "/fhir/r4";
    req.headers["content-type"] = ct;
    req.body = body;
    req.actor = "key-fhir-test";
    return req;
  }

  std::vector<store::LogRecord> ReadAll(const std::vector<std::string>& topics) {
    auto consumer = log_->Subscribe("fhir-test", topics);
    EXPECT_TRUE(consumer.ok());
    std::vector<store::LogRecord> all;
    if (!consumer.ok()) return all;
    while (true) {
      auto batch = (*consumer)->Poll(1000, std::chrono::milliseconds(50));
      EXPECT_TRUE(batch.ok());
      if (!batch.ok() || batch->empty()) break;
      all.insert(all.end(), batch->begin(), batch->end());
    }
    return all;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<store::MetaStore> meta_;
  std::unique_ptr<IngestCore> core_;
  std::unique_ptr<FhirEndpoint> endpoint_;
};

TEST_F(FhirEndpointTest, BundleLandsOnTopicsWithAudit) {
  Json bad = HeartRate("urn:uuid:p1", "hr-bad");
  bad["valueQuantity"]["value"] = "x";
  Json bundle =
      MakeBundle("batch", {Entry(PatientRes(), "urn:uuid:p1"), Entry(HeartRate("urn:uuid:p1")),
                           Entry(Glucose("urn:uuid:p1")), Entry(AdverseEventRes("urn:uuid:p1")),
                           Entry(MedStatement("urn:uuid:p1")), Entry(bad)});
  net::HttpResponse resp = endpoint_->HandleBundle(Post(bundle.dump()));
  ASSERT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(resp.content_type, "application/fhir+json");
  Json body = Json::parse(resp.body);
  EXPECT_EQ(body["type"], "batch-response");
  EXPECT_EQ(body["entry"][5]["response"]["status"], "400 Bad Request");

  std::map<std::string, std::string> type_by_topic;
  auto records =
      ReadAll({"demographics", "patient-vitals", "lab-results", "adverse-events", "medications"});
  ASSERT_EQ(records.size(), 5u);
  std::set<std::string> ids;
  for (const auto& rec : records) {
    auto ev = CanonicalEvent::FromJson(rec.value);
    ASSERT_TRUE(ev.ok());
    EXPECT_EQ(rec.topic, TopicFor(ev->event_type));
    EXPECT_EQ(rec.key, Deid().SubjectKey("pat-123"));
    EXPECT_EQ(rec.value.find("pat-123"), std::string::npos);
    ids.insert(ev->event_id);
    type_by_topic[rec.topic] = ev->event_type;
  }
  EXPECT_EQ(type_by_topic.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    std::string loc = body["entry"][i]["response"]["location"];
    EXPECT_EQ(ids.count(loc.substr(loc.find('/') + 1)), 1u) << loc;
  }

  auto audit = meta_->ListAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  const auto& a = audit->front();
  EXPECT_EQ(a.actor, "key-fhir-test");
  EXPECT_NE(a.object.find("Bundle/batch"), std::string::npos);
  Json detail = Json::parse(a.detail);
  EXPECT_EQ(detail["rejected"], 1);
  EXPECT_EQ(a.detail.find("pat-123"), std::string::npos);
}

TEST_F(FhirEndpointTest, RefusalsAreAuditedAndNothingLands) {
  // Transaction with a failing entry: 400, nothing lands.
  Json bad = HeartRate("urn:uuid:p1", "hr-bad");
  bad["valueQuantity"]["value"] = "x";
  Json tx = MakeBundle("transaction", {Entry(PatientRes(), "urn:uuid:p1"), Entry(bad)});
  net::HttpResponse resp = endpoint_->HandleBundle(Post(tx.dump()));
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(Json::parse(resp.body)["resourceType"], "OperationOutcome");

  // Truncated JSON, deep JSON, wrong content type, non-Bundle.
  std::string truncated = tx.dump().substr(0, 60);
  ASSERT_NE(truncated.find("urn:uuid:p1"), std::string::npos);
  EXPECT_EQ(endpoint_->HandleBundle(Post(truncated)).status, 400);
  net::HttpResponse t = endpoint_->HandleBundle(Post(truncated));
  EXPECT_EQ(t.body.find("urn:uuid:p1"), std::string::npos);  // the body is never echoed
  std::string deep = std::string(200, '[') + std::string(200, ']');
  EXPECT_EQ(endpoint_->HandleBundle(Post(deep)).status, 400);
  EXPECT_EQ(endpoint_->HandleBundle(Post(tx.dump(), "text/plain")).status, 415);
  EXPECT_EQ(endpoint_->HandleBundle(Post(HeartRate("Patient/p").dump())).status, 400);
  EXPECT_EQ(endpoint_->HandleBundle(Post("", "application/json")).status, 400);

  EXPECT_TRUE(ReadAll({"demographics", "patient-vitals"}).empty());
  auto audit = meta_->ListAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  EXPECT_GE(audit->size(), 5u);
  for (const auto& a : *audit) EXPECT_EQ(a.action, "ingest.reject");
}

TEST_F(FhirEndpointTest, SingleObservation) {
  net::HttpRequest req = Post(HeartRate("Patient/pat-9").dump(), "application/json; charset=utf-8");
  req.path = req.target = "/fhir/r4/Observation";
  net::HttpResponse resp = endpoint_->HandleObservation(req);
  ASSERT_EQ(resp.status, 201) << resp.body;
  std::string location;
  for (const auto& [k, v] : resp.headers) {
    if (k == "Location") location = v;
  }
  EXPECT_EQ(location, "Observation/" + KeyedId("Observation", "hr-1"));
  auto records = ReadAll({"patient-vitals"});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, Deid().SubjectKey("pat-9"));

  Json bad = HeartRate("Patient/pat-9");
  bad["valueQuantity"]["value"] = "72";
  req.body = bad.dump();
  net::HttpResponse r2 = endpoint_->HandleObservation(req);
  EXPECT_EQ(r2.status, 400);
  Json oo = Json::parse(r2.body);
  EXPECT_EQ(oo["resourceType"], "OperationOutcome");
  EXPECT_EQ(oo["issue"][0]["expression"][0], "Observation.valueQuantity.value");
  EXPECT_EQ(oo["issue"][0]["code"], "invalid");
  req.body = HeartRate("urn:uuid:x").dump();
  net::HttpResponse r3 = endpoint_->HandleObservation(req);
  EXPECT_EQ(r3.status, 400);
  EXPECT_EQ(Json::parse(r3.body)["issue"][0]["code"], "not-found");
  req.body = PatientRes().dump();
  EXPECT_EQ(endpoint_->HandleObservation(req).status, 400);
}

// With the EventLog down the endpoint answers 503 (transient) and acknowledges nothing.
TEST(FhirEndpointDown, SubmitFailureIs503) {
  UnavailableEventLog log;
  IngestCore core(log, nullptr);
  FhirEndpoint endpoint(Opts(), core, Deid());
  net::HttpRequest req;
  req.headers["content-type"] = "application/fhir+json";
  req.body = MakeBundle("batch", {Entry(HeartRate("Patient/p"))}).dump();
  net::HttpResponse resp = endpoint.HandleBundle(req);
  EXPECT_EQ(resp.status, 503);
  Json oo = Json::parse(resp.body);
  EXPECT_EQ(oo["issue"][0]["code"], "transient");
}

}  // namespace
}  // namespace ctml::ingest::fhir
