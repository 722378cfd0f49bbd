// FHIR R4 resource -> canonical event conversion (docs/ingest/fhir.md). Validation errors are
// thrown internally as RejectError and caught in ConvertResource: no exception leaves this file.
// Messages name element paths and what is wrong, never a value from the resource.

#include "ctml/ingest/fhir/fhir_resources.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <set>

#include "ctml/core/crypto.h"
#include "ctml/core/ids.h"
#include "ctml/core/time.h"

namespace ctml::ingest::fhir::internal {
namespace {

constexpr size_t kMaxId = 256;        // FHIR ids are <= 64; leave room for identifiers
constexpr size_t kMaxString = 1024;   // codes, systems, units, displays
constexpr size_t kMaxText = 4096;     // free text (CodeableConcept.text, valueString)
constexpr size_t kMaxFullUrl = 4096;  // references and fullUrls

constexpr char kLoinc[] = "http://loinc.org";
constexpr char kRaceUrl[] = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race";
constexpr char kEthnicityUrl[] =
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity";
constexpr char kBpPanel[] = "85354-9";
constexpr char kSystolic[] = "8480-6";
constexpr char kDiastolic[] = "8462-4";

// LOINC codes of the vital-sign set: heart rate, BP panel + systolic/diastolic, body
// temperature, respiratory rate, SpO2 (two codes), body weight, body height, BMI.
const std::set<std::string>& VitalLoincCodes() {
  static const std::set<std::string> codes = {"8867-4",  kBpPanel, kSystolic, kDiastolic,
                                              "8310-5",  "9279-1", "59408-5", "2708-6",
                                              "29463-7", "8302-2", "39156-5"};
  return codes;
}

struct RejectError {
  Rejection rejection;
};

[[noreturn]] void Reject(std::string reason, std::string issue_code, std::string path,
                         std::string message, int http_status = 400) {
  throw RejectError{Rejection{std::move(reason), std::move(issue_code), std::move(path),
                              std::move(message), http_status}};
}

[[noreturn]] void WrongType(const std::string& path, const char* expected) {
  Reject("INVALID_VALUE", "invalid", path, std::string("must be ") + expected);
}

[[noreturn]] void Missing(const std::string& path, const std::string& message) {
  Reject("MISSING_FIELD", "required", path, message);
}

std::string Join(const std::string& base, const char* key) { return base + "." + key; }
std::string Index(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

// The member `key` of `obj` when present and not null.
const Json* Get(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const Json* ObjectAt(const Json& obj, const char* key, const std::string& path) {
  const Json* v = Get(obj, key);
  if (v != nullptr && !v->is_object()) WrongType(Join(path, key), "an object");
  return v;
}

const Json* ArrayAt(const Json& obj, const char* key, const std::string& path) {
  const Json* v = Get(obj, key);
  if (v != nullptr && !v->is_array()) WrongType(Join(path, key), "an array");
  return v;
}

std::optional<std::string> StringAt(const Json& obj, const char* key, const std::string& path,
                                    size_t max_len = kMaxString) {
  const Json* v = Get(obj, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) WrongType(Join(path, key), "a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) {
    Reject("INVALID_VALUE", "invalid", Join(path, key),
           "is longer than " + std::to_string(max_len) + " characters");
  }
  return s;
}

std::optional<double> NumberAt(const Json& obj, const char* key, const std::string& path) {
  const Json* v = Get(obj, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) WrongType(Join(path, key), "a number");
  double d = v->get<double>();
  if (!std::isfinite(d)) Reject("INVALID_VALUE", "invalid", Join(path, key), "is not finite");
  return d;
}

std::optional<bool> BoolAt(const Json& obj, const char* key, const std::string& path) {
  const Json* v = Get(obj, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) WrongType(Join(path, key), "a boolean");
  return v->get<bool>();
}

// The object at index i of an array element, type-checked.
const Json& ObjectIn(const Json& arr, size_t i, const std::string& arr_path) {
  const Json& v = arr[i];
  if (!v.is_object()) WrongType(Index(arr_path, i), "an object");
  return v;
}

Json OrNull(const std::optional<std::string>& s) {
  return s.has_value() && !s->empty() ? Json(*s) : Json(nullptr);
}

struct Coding {
  std::string system, code, display;
};

// The codings of a CodeableConcept (`cc` an object at `path`), validated.
std::vector<Coding> Codings(const Json& cc, const std::string& path) {
  std::vector<Coding> out;
  const Json* arr = ArrayAt(cc, "coding", path);
  if (arr == nullptr) return out;
  std::string arr_path = Join(path, "coding");
  for (size_t i = 0; i < arr->size(); ++i) {
    const Json& c = ObjectIn(*arr, i, arr_path);
    std::string p = Index(arr_path, i);
    Coding coding;
    coding.system = StringAt(c, "system", p, kMaxFullUrl).value_or("");
    coding.code = StringAt(c, "code", p).value_or("");
    coding.display = StringAt(c, "display", p).value_or("");
    out.push_back(std::move(coding));
  }
  return out;
}

std::string SystemName(const std::string& system) {
  if (system == kLoinc) return "LOINC";
  if (system == "http://snomed.info/sct") return "SNOMED";
  if (system == "http://www.nlm.nih.gov/research/umls/rxnorm") return "RXNORM";
  if (system == "http://hl7.org/fhir/sid/ndc") return "NDC";
  if (system == "http://unitsofmeasure.org") return "UCUM";
  return system;
}

// CodeableConcept text, else the first coding's display, else its code; empty when none.
std::string ConceptLabel(const Json& cc, const std::string& path, size_t max_len = kMaxText) {
  std::string text = StringAt(cc, "text", path, max_len).value_or("");
  if (!text.empty()) return text;
  for (const Coding& c : Codings(cc, path)) {
    if (!c.display.empty()) return c.display;
  }
  for (const Coding& c : Codings(cc, path)) {
    if (!c.code.empty()) return c.code;
  }
  return "";
}

// The first code of a CodeableConcept, or empty.
std::string FirstCode(const Json& cc, const std::string& path) {
  for (const Coding& c : Codings(cc, path)) {
    if (!c.code.empty()) return c.code;
  }
  return "";
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}
std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

PartialTime TimeFrom(const std::string& iso, const std::string& path) {
  auto t = ParsePartialIso8601(iso);
  if (!t.ok()) Reject("INVALID_DATE", "invalid", path, "is not an ISO-8601 date/time");
  return *t;
}

// A date string of the subject, shifted under the policy (keeps its precision).
std::string ShiftedDate(const ResourceContext& ctx, const std::string& subject,
                        const std::string& iso, const std::string& path) {
  auto shifted = ctx.deid.ShiftDate(subject, iso);
  if (!shifted.ok()) Reject("INVALID_DATE", "invalid", path, "is not an ISO-8601 date/time");
  return *shifted;
}

// When something happened: the first of `candidates` ("effectiveDateTime",
// "effectivePeriod.start", ...) that is present.
struct When {
  std::string iso;
  std::string path;
  PartialTime time;
};

std::optional<When> FindTime(const Json& r, const std::string& path,
                             std::initializer_list<const char*> candidates) {
  for (const char* c : candidates) {
    std::string name(c);
    auto dot = name.find('.');
    std::optional<std::string> iso;
    std::string p;
    if (dot == std::string::npos) {
      iso = StringAt(r, c, path, 64);
      p = Join(path, c);
    } else {
      std::string outer = name.substr(0, dot), inner = name.substr(dot + 1);
      const Json* o = ObjectAt(r, outer.c_str(), path);
      if (o == nullptr) continue;
      p = Join(path, outer.c_str());
      iso = StringAt(*o, inner.c_str(), p, 64);
      p = Join(p, inner.c_str());
    }
    if (!iso.has_value()) continue;
    return When{*iso, p, TimeFrom(*iso, p)};
  }
  return std::nullopt;
}

// The subject id the resource's `subject` (or `patient`) reference resolves to.
std::string SubjectOf(const Json& r, const ResourceContext& ctx) {
  for (const char* key : {"subject", "patient"}) {
    const Json* ref = ObjectAt(r, key, ctx.path);
    if (ref == nullptr) continue;
    std::string subject;
    if (auto rej = ctx.refs.Resolve(*ref, Join(ctx.path, key), &subject)) {
      throw RejectError{*rej};
    }
    return subject;
  }
  Missing(Join(ctx.path, "subject"), "a subject (Patient reference) is required");
}

CanonicalEvent NewEvent(const char* event_type, const std::string& resource_type, const Json& r,
                        const ResourceContext& ctx, const std::string& subject, int64_t t_us) {
  CanonicalEvent ev;
  std::string id = StringAt(r, "id", ctx.path, kMaxId).value_or("");
  // Keyed material (the resource id may be the subject id): an unkeyed hash would be reversible.
  ev.event_id =
      EventIdFor(resource_type, id.empty() ? "" : ctx.deid.SubjectKey(resource_type + "/" + id),
                 ctx.full_url.empty() ? "" : ctx.deid.SubjectKey(ctx.full_url));
  ev.event_type = event_type;
  ev.study_id = ctx.options.study_id;
  ev.site_id = ctx.options.site_id;
  ev.subject_key = ctx.deid.SubjectKey(subject);
  ev.event_time_us = ctx.deid.ShiftTime(subject, t_us);
  ev.received_at_us = ctx.deid.ShiftTime(subject, ctx.received_at_us);
  ev.source = "fhir";
  ev.schema_version = CanonicalEvent::kSchemaVersion;
  return ev;
}

// ---------------------------------------------------------------------------------------------
// Patient -> demographics (Safe Harbor: names, telecom, address lines/city/postal code,
// identifiers, photo, contact, birth date and extensions other than race/ethnicity dropped).

// us-core-race / us-core-ethnicity: the first ombCategory display, else the text.
std::optional<std::string> UsCoreCategory(const Json& ext, const std::string& path) {
  const Json* inner = ArrayAt(ext, "extension", path);
  if (inner == nullptr) return std::nullopt;
  std::string inner_path = Join(path, "extension");
  std::optional<std::string> omb, text;
  for (size_t i = 0; i < inner->size(); ++i) {
    const Json& e = ObjectIn(*inner, i, inner_path);
    std::string p = Index(inner_path, i);
    std::string url = StringAt(e, "url", p, kMaxFullUrl).value_or("");
    if (url == "ombCategory" && !omb.has_value()) {
      if (const Json* coding = ObjectAt(e, "valueCoding", p)) {
        std::string cp = Join(p, "valueCoding");
        omb = StringAt(*coding, "display", cp);
        if (!omb.has_value()) omb = StringAt(*coding, "code", cp);
      }
    } else if (url == "text") {
      text = StringAt(e, "valueString", p);
    }
  }
  if (omb.has_value() && !omb->empty()) return omb;
  if (text.has_value() && !text->empty()) return text;
  return std::nullopt;
}

Converted ConvertPatient(const Json& r, const ResourceContext& ctx) {
  (void)StringAt(r, "id", ctx.path, kMaxId);  // type check
  if (const Json* ids = ArrayAt(r, "identifier", ctx.path); ids != nullptr && !ids->empty()) {
    const Json& first = ObjectIn(*ids, 0, Join(ctx.path, "identifier"));
    std::string p = Index(Join(ctx.path, "identifier"), 0);
    (void)StringAt(first, "system", p, kMaxFullUrl);
    (void)StringAt(first, "value", p, kMaxId);
  }
  std::string subject = PatientSubjectId(r);
  if (subject.empty()) Missing(Join(ctx.path, "id"), "a Patient needs an id or an identifier");

  const int64_t t = ctx.received_at_us;
  Json p = Json::object();
  p["age"] = nullptr;
  if (auto birth = StringAt(r, "birthDate", ctx.path, 64)) {
    std::string path = Join(ctx.path, "birthDate");
    PartialTime bt = TimeFrom(*birth, path);
    int age = privacy::AgeAt(bt.micros, t);
    if (age < 0) Reject("OUT_OF_RANGE", "invalid", path, "is after the time of receipt", 422);
    int capped = privacy::Deidentifier::CapAge(age);
    p["age"] = capped;
    p["age_unit"] = "YEARS";
    if (capped != age) p["age_capped"] = true;
  }
  p["gender"] = nullptr;
  p["sex"] = nullptr;
  if (auto gender = StringAt(r, "gender", ctx.path, 16)) {
    const std::string& g = *gender;
    if (g != "male" && g != "female" && g != "other" && g != "unknown") {
      Reject("INVALID_VALUE", "invalid", Join(ctx.path, "gender"),
             "must be one of male, female, other, unknown");
    }
    p["gender"] = g;
    p["sex"] = g == "male" ? "M" : g == "female" ? "F" : "U";
  }
  p["race"] = nullptr;
  p["ethnicity"] = nullptr;
  if (const Json* exts = ArrayAt(r, "extension", ctx.path)) {
    std::string ep = Join(ctx.path, "extension");
    for (size_t i = 0; i < exts->size(); ++i) {
      const Json& e = ObjectIn(*exts, i, ep);
      std::string pi = Index(ep, i);
      std::string url = StringAt(e, "url", pi, kMaxFullUrl).value_or("");
      if (url == kRaceUrl) {
        if (auto v = UsCoreCategory(e, pi)) p["race"] = *v;
      } else if (url == kEthnicityUrl) {
        if (auto v = UsCoreCategory(e, pi)) p["ethnicity"] = *v;
      }
      // Everything else (mothersMaidenName, birthPlace, birthsex, ...) is dropped unread.
    }
  }
  p["deceased"] = nullptr;
  if (auto b = BoolAt(r, "deceasedBoolean", ctx.path)) p["deceased"] = *b;
  if (auto dt = StringAt(r, "deceasedDateTime", ctx.path, 64)) {
    (void)TimeFrom(*dt, Join(ctx.path, "deceasedDateTime"));
    p["deceased"] = true;  // the date itself is not kept
  }
  p["country"] = nullptr;
  p["state"] = nullptr;
  p["zip3"] = nullptr;
  if (const Json* addrs = ArrayAt(r, "address", ctx.path); addrs != nullptr && !addrs->empty()) {
    std::string ap = Join(ctx.path, "address");
    size_t pick = 0;
    for (size_t i = 0; i < addrs->size(); ++i) {
      const Json& a = ObjectIn(*addrs, i, ap);
      if (StringAt(a, "use", Index(ap, i), 16).value_or("") != "old") {
        pick = i;
        break;
      }
    }
    const Json& a = (*addrs)[pick];
    std::string pp = Index(ap, pick);
    p["state"] = OrNull(StringAt(a, "state", pp, 64));
    p["country"] = OrNull(StringAt(a, "country", pp, 64));
    if (auto zip = StringAt(a, "postalCode", pp, 16)) {
      if (auto z = ctx.deid.Zip(*zip)) p["zip3"] = *z;
    }
  }
  p["precision"] = PrecisionName(TimePrecision::kSecond);

  Converted out;
  CanonicalEvent ev = NewEvent("demographics", "Patient", r, ctx, subject, t);
  ev.payload_json = p.dump();
  out.events.push_back(std::move(ev));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Observation -> vital_signs / lab_result

// A measurement {test, code_system, value, value_text, unit} from a Quantity.
Json QuantityMeasurement(const Json& q, const std::string& q_path, const Coding& code,
                         bool unit_first) {
  const Json* v = Get(q, "value");
  if (v == nullptr) Missing(Join(q_path, "value"), "a value is required");
  double value = *NumberAt(q, "value", q_path);
  std::string text = v->dump();
  if (auto comparator = StringAt(q, "comparator", q_path, 2)) text = *comparator + text;
  auto unit = StringAt(q, "unit", q_path);
  auto ucum = StringAt(q, "code", q_path);
  std::optional<std::string> u = unit_first ? (unit ? unit : ucum) : (ucum ? ucum : unit);
  return Json{{"test", code.code},
              {"code_system", SystemName(code.system)},
              {"value", value},
              {"value_text", text},
              {"unit", OrNull(u)}};
}

// The coding of an Observation's (or component's) code: LOINC preferred, else the first with
// a code.
Coding ObservationCoding(const Json& holder, const std::string& path) {
  const Json* code = ObjectAt(holder, "code", path);
  std::string cp = Join(path, "code");
  if (code == nullptr) Missing(cp, "a code is required");
  std::vector<Coding> codings = Codings(*code, cp);
  for (const Coding& c : codings) {
    if (c.system == kLoinc && !c.code.empty()) return c;
  }
  for (const Coding& c : codings) {
    if (!c.code.empty()) return c;
  }
  Missing(Join(cp, "coding"), "a coding with a code is required");
}

std::string AbsentReasonText(const Json& dar, const std::string& path) {
  std::string code = FirstCode(dar, path);
  return code.empty() ? ConceptLabel(dar, path, kMaxString) : code;
}

Converted ConvertObservationResource(const Json& r, const ResourceContext& ctx) {
  std::string subject = SubjectOf(r, ctx);
  Coding coding = ObservationCoding(r, ctx.path);
  const bool loinc = coding.system == kLoinc;
  const bool vital_code = loinc && VitalLoincCodes().count(coding.code) > 0;

  std::set<std::string> categories;
  std::string first_category;
  if (const Json* cats = ArrayAt(r, "category", ctx.path)) {
    std::string cp = Join(ctx.path, "category");
    for (size_t i = 0; i < cats->size(); ++i) {
      const Json& cat = ObjectIn(*cats, i, cp);
      for (const Coding& c : Codings(cat, Index(cp, i))) {
        if (first_category.empty()) first_category = c.code;
        categories.insert(c.code);
      }
    }
  }
  const bool vital = vital_code || categories.count("vital-signs") > 0;
  const bool lab = categories.count("laboratory") > 0;
  auto status = StringAt(r, "status", ctx.path, 32);

  const Json* vq = ObjectAt(r, "valueQuantity", ctx.path);
  const Json* dar = ObjectAt(r, "dataAbsentReason", ctx.path);
  const std::string vq_path = Join(ctx.path, "valueQuantity");

  if (!vital && !lab && !(loinc && vq != nullptr)) {
    Reject("UNSUPPORTED_RESOURCE", "not-supported", Join(ctx.path, "category"),
           "only vital-signs and laboratory Observations (or LOINC-coded quantities) are "
           "supported",
           422);
  }

  auto when = FindTime(
      r, ctx.path, {"effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"});
  if (!when.has_value()) {
    Missing(Join(ctx.path, "effectiveDateTime"),
            "effectiveDateTime, effectivePeriod.start or issued is required");
  }

  Json p = Json::object();
  const char* event_type = nullptr;
  if (vital) {
    event_type = "vital_signs";
    Json measurements = Json::array();
    if (vq != nullptr) {
      measurements.push_back(QuantityMeasurement(*vq, vq_path, coding, /*unit_first=*/true));
    } else if (const Json* comps = ArrayAt(r, "component", ctx.path);
               comps != nullptr && !comps->empty()) {
      std::string cp = Join(ctx.path, "component");
      bool has_sys = false, has_dia = false;
      for (size_t i = 0; i < comps->size(); ++i) {
        const Json& comp = ObjectIn(*comps, i, cp);
        std::string pi = Index(cp, i);
        Coding cc = ObservationCoding(comp, pi);
        has_sys |= cc.system == kLoinc && cc.code == kSystolic;
        has_dia |= cc.system == kLoinc && cc.code == kDiastolic;
        if (const Json* cq = ObjectAt(comp, "valueQuantity", pi)) {
          measurements.push_back(
              QuantityMeasurement(*cq, Join(pi, "valueQuantity"), cc, /*unit_first=*/true));
        } else if (const Json* cdar = ObjectAt(comp, "dataAbsentReason", pi)) {
          measurements.push_back(
              {{"test", cc.code},
               {"code_system", SystemName(cc.system)},
               {"value", nullptr},
               {"value_text", AbsentReasonText(*cdar, Join(pi, "dataAbsentReason"))},
               {"unit", nullptr}});
        } else {
          Missing(Join(pi, "valueQuantity"), "a value or dataAbsentReason is required");
        }
      }
      if (loinc && coding.code == kBpPanel && !(has_sys && has_dia)) {
        Missing(cp, "a blood pressure panel needs 8480-6 and 8462-4 components");
      }
    } else if (dar != nullptr && vital_code) {
      measurements.push_back(
          {{"test", coding.code},
           {"code_system", SystemName(coding.system)},
           {"value", nullptr},
           {"value_text", AbsentReasonText(*dar, Join(ctx.path, "dataAbsentReason"))},
           {"unit", nullptr}});
    } else {
      Missing(vq_path, vital_code ? "a valueQuantity or dataAbsentReason is required"
                                  : "a valueQuantity is required for a vital sign of this code");
    }
    p["measurements"] = std::move(measurements);
    p["position"] = nullptr;
    p["location"] = nullptr;
  } else {
    event_type = "lab_result";
    p["test"] = coding.code;
    p["code_system"] = SystemName(coding.system);
    std::string name = coding.display;
    if (name.empty()) {
      name = StringAt(*Get(r, "code"), "text", Join(ctx.path, "code"), kMaxString).value_or("");
    }
    p["test_name"] = name.empty() ? Json(nullptr) : Json(name);
    p["value"] = nullptr;
    p["value_text"] = nullptr;
    p["unit"] = nullptr;
    if (vq != nullptr) {
      Json m = QuantityMeasurement(*vq, vq_path, coding, /*unit_first=*/false);
      p["value"] = m["value"];
      p["value_text"] = m["value_text"];
      p["unit"] = m["unit"];
    } else if (auto vs = StringAt(r, "valueString", ctx.path, kMaxText)) {
      p["value_text"] = privacy::Deidentifier::ScrubText(*vs);
    } else if (const Json* vcc = ObjectAt(r, "valueCodeableConcept", ctx.path)) {
      std::string label = ConceptLabel(*vcc, Join(ctx.path, "valueCodeableConcept"));
      if (label.empty()) {
        Missing(Join(ctx.path, "valueCodeableConcept"), "a coding or text is required");
      }
      p["value_text"] = privacy::Deidentifier::ScrubText(label);
    } else if (dar != nullptr) {
      p["value_text"] = AbsentReasonText(*dar, Join(ctx.path, "dataAbsentReason"));
    } else {
      Missing(vq_path,
              "a value (valueQuantity, valueString, valueCodeableConcept) or "
              "dataAbsentReason is required");
    }
    p["ref_low"] = nullptr;
    p["ref_high"] = nullptr;
    p["ref_text"] = nullptr;
    if (const Json* ranges = ArrayAt(r, "referenceRange", ctx.path);
        ranges != nullptr && !ranges->empty()) {
      std::string rp = Join(ctx.path, "referenceRange");
      const Json& range = ObjectIn(*ranges, 0, rp);
      std::string r0 = Index(rp, 0);
      if (const Json* low = ObjectAt(range, "low", r0)) {
        if (auto v = NumberAt(*low, "value", Join(r0, "low"))) p["ref_low"] = *v;
      }
      if (const Json* high = ObjectAt(range, "high", r0)) {
        if (auto v = NumberAt(*high, "value", Join(r0, "high"))) p["ref_high"] = *v;
      }
      p["ref_text"] = OrNull(StringAt(range, "text", r0));
    }
    p["abnormal_flag"] = nullptr;
    if (const Json* interp = ArrayAt(r, "interpretation", ctx.path);
        interp != nullptr && !interp->empty()) {
      std::string ip = Join(ctx.path, "interpretation");
      const Json& i0 = ObjectIn(*interp, 0, ip);
      std::string code = FirstCode(i0, Index(ip, 0));
      if (!code.empty()) p["abnormal_flag"] = code;
    }
    p["category"] = first_category.empty() ? Json(nullptr) : Json(first_category);
    p["specimen"] = nullptr;
    p["status"] = OrNull(status);
  }
  p["precision"] = PrecisionName(when->time.precision);

  Converted out;
  CanonicalEvent ev = NewEvent(event_type, "Observation", r, ctx, subject, when->time.micros);
  ev.payload_json = p.dump();
  out.events.push_back(std::move(ev));
  return out;
}

// ---------------------------------------------------------------------------------------------
// AdverseEvent -> adverse_event

Converted ConvertAdverseEvent(const Json& r, const ResourceContext& ctx) {
  std::string subject = SubjectOf(r, ctx);
  const Json* event = ObjectAt(r, "event", ctx.path);
  std::string ep = Join(ctx.path, "event");
  if (event == nullptr) Missing(ep, "event (the adverse event term) is required");
  std::string term = StringAt(*event, "text", ep, kMaxText).value_or("");
  std::string decod;
  for (const Coding& c : Codings(*event, ep)) {
    if (!c.display.empty()) {
      decod = c.display;
      break;
    }
  }
  if (term.empty()) term = decod;
  if (term.empty()) Missing(ep, "event.text or event.coding.display is required");

  auto when = FindTime(r, ctx.path, {"date", "detected", "recordedDate"});
  if (!when.has_value())
    Missing(Join(ctx.path, "date"), "date, detected or recordedDate is required");

  Json p = Json::object();
  p["term"] = privacy::Deidentifier::ScrubText(term);
  p["decod"] = decod.empty() ? Json(nullptr) : Json(privacy::Deidentifier::ScrubText(decod));
  p["serious"] = nullptr;
  if (const Json* s = ObjectAt(r, "seriousness", ctx.path)) {
    std::string code = Lower(FirstCode(*s, Join(ctx.path, "seriousness")));
    if (code == "serious") p["serious"] = true;
    if (code == "non-serious") p["serious"] = false;
  }
  p["severity"] = nullptr;
  if (const Json* s = ObjectAt(r, "severity", ctx.path)) {
    std::string label = FirstCode(*s, Join(ctx.path, "severity"));
    if (label.empty()) label = ConceptLabel(*s, Join(ctx.path, "severity"), kMaxString);
    std::string upper = Upper(label);
    if (upper == "MILD" || upper == "MODERATE" || upper == "SEVERE") {
      p["severity"] = upper;
    } else if (!label.empty()) {
      p["severity"] = label;
    }
  }
  p["outcome"] = nullptr;
  if (const Json* o = ObjectAt(r, "outcome", ctx.path)) {
    std::string label = FirstCode(*o, Join(ctx.path, "outcome"));
    if (label.empty()) label = ConceptLabel(*o, Join(ctx.path, "outcome"), kMaxString);
    if (!label.empty()) p["outcome"] = privacy::Deidentifier::ScrubText(label);
  }
  p["start_date"] = ShiftedDate(ctx, subject, when->iso, when->path);
  p["end_date"] = nullptr;
  p["precision"] = PrecisionName(when->time.precision);

  Converted out;
  CanonicalEvent ev = NewEvent("adverse_event", "AdverseEvent", r, ctx, subject, when->time.micros);
  ev.payload_json = p.dump();
  out.events.push_back(std::move(ev));
  return out;
}

// ---------------------------------------------------------------------------------------------
// MedicationStatement / MedicationAdministration -> medication

Converted ConvertMedication(const Json& r, const std::string& resource_type,
                            const ResourceContext& ctx) {
  std::string subject = SubjectOf(r, ctx);
  const bool statement = resource_type == "MedicationStatement";
  const Json* med = ObjectAt(r, "medicationCodeableConcept", ctx.path);
  std::string mp = Join(ctx.path, "medicationCodeableConcept");
  if (med == nullptr) {
    if (Get(r, "medicationReference") != nullptr) {
      Reject("UNSUPPORTED_VALUE", "not-supported", Join(ctx.path, "medicationReference"),
             "medicationReference is not supported; send medicationCodeableConcept", 422);
    }
    Missing(mp, "medicationCodeableConcept is required");
  }
  Json p = Json::object();
  std::vector<Coding> codings = Codings(*med, mp);
  Coding first;
  for (const Coding& c : codings) {
    if (!c.code.empty()) {
      first = c;
      break;
    }
  }
  std::string name = first.display;
  if (name.empty()) name = StringAt(*med, "text", mp, kMaxString).value_or("");
  if (name.empty() && first.code.empty()) Missing(mp, "a coding or text is required");
  p["name"] = name.empty() ? Json(nullptr) : Json(name);
  p["decod"] = nullptr;
  p["code"] = first.code.empty() ? Json(nullptr) : Json(first.code);
  p["code_system"] = first.system.empty() ? Json(nullptr) : Json(SystemName(first.system));

  // Dosage: MedicationStatement.dosage[0] (Dosage: doseAndRate[0].doseQuantity, route),
  // MedicationAdministration.dosage (dose, route).
  const Json* dosage = nullptr;
  std::string dp;
  const Json* dose = nullptr;
  std::string dose_path;
  if (statement) {
    if (const Json* ds = ArrayAt(r, "dosage", ctx.path); ds != nullptr && !ds->empty()) {
      dosage = &ObjectIn(*ds, 0, Join(ctx.path, "dosage"));
      dp = Index(Join(ctx.path, "dosage"), 0);
      if (const Json* dr = ArrayAt(*dosage, "doseAndRate", dp); dr != nullptr && !dr->empty()) {
        std::string drp = Join(dp, "doseAndRate");
        const Json& d0 = ObjectIn(*dr, 0, drp);
        dose = ObjectAt(d0, "doseQuantity", Index(drp, 0));
        dose_path = Join(Index(drp, 0), "doseQuantity");
      }
    }
  } else {
    dosage = ObjectAt(r, "dosage", ctx.path);
    dp = Join(ctx.path, "dosage");
    if (dosage != nullptr) {
      dose = ObjectAt(*dosage, "dose", dp);
      dose_path = Join(dp, "dose");
    }
  }
  p["dose"] = nullptr;
  p["dose_text"] = nullptr;
  p["dose_unit"] = nullptr;
  if (dose != nullptr) {
    if (auto v = NumberAt(*dose, "value", dose_path)) {
      p["dose"] = *v;
      p["dose_text"] = (*dose)["value"].dump();
    }
    auto unit = StringAt(*dose, "unit", dose_path);
    if (!unit.has_value()) unit = StringAt(*dose, "code", dose_path);
    p["dose_unit"] = OrNull(unit);
  }
  p["route"] = nullptr;
  if (dosage != nullptr) {
    if (const Json* route = ObjectAt(*dosage, "route", dp)) {
      std::string label = ConceptLabel(*route, Join(dp, "route"), kMaxString);
      if (!label.empty()) p["route"] = label;
    }
  }
  p["frequency"] = nullptr;
  p["indication"] = nullptr;
  if (const Json* reasons = ArrayAt(r, "reasonCode", ctx.path);
      reasons != nullptr && !reasons->empty()) {
    std::string rp = Join(ctx.path, "reasonCode");
    std::string label = ConceptLabel(ObjectIn(*reasons, 0, rp), Index(rp, 0));
    if (!label.empty()) p["indication"] = privacy::Deidentifier::ScrubText(label);
  }
  p["category"] = "concomitant";
  p["status"] = OrNull(StringAt(r, "status", ctx.path, 32));

  auto when = statement ? FindTime(r, ctx.path,
                                   {"effectiveDateTime", "effectivePeriod.start", "dateAsserted"})
                        : FindTime(r, ctx.path, {"effectiveDateTime", "effectivePeriod.start"});
  if (!when.has_value()) {
    Missing(Join(ctx.path, "effectiveDateTime"),
            "effectiveDateTime or effectivePeriod.start is required");
  }
  p["start_date"] = ShiftedDate(ctx, subject, when->iso, when->path);
  p["end_date"] = nullptr;
  if (const Json* period = ObjectAt(r, "effectivePeriod", ctx.path)) {
    std::string pp = Join(ctx.path, "effectivePeriod");
    if (auto end = StringAt(*period, "end", pp, 64)) {
      (void)TimeFrom(*end, Join(pp, "end"));
      p["end_date"] = ShiftedDate(ctx, subject, *end, Join(pp, "end"));
    }
  }
  p["precision"] = PrecisionName(when->time.precision);

  Converted out;
  CanonicalEvent ev = NewEvent("medication", resource_type, r, ctx, subject, when->time.micros);
  ev.payload_json = p.dump();
  out.events.push_back(std::move(ev));
  return out;
}

bool IsFhirId(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.'; });
}

Rejection MakeRejection(std::string reason, std::string issue, std::string path,
                        std::string message, int http_status) {
  return Rejection{std::move(reason), std::move(issue), std::move(path), std::move(message),
                   http_status};
}

}  // namespace

void SubjectResolver::AddPatient(const std::string& full_url, const std::string& id,
                                 const std::string& subject_id) {
  if (subject_id.empty()) return;
  if (!full_url.empty()) by_full_url_.emplace(full_url, subject_id);
  if (!id.empty()) by_id_.emplace(id, subject_id);
}

std::optional<Rejection> SubjectResolver::Resolve(const Json& ref, const std::string& path,
                                                  std::string* subject_id) const {
  if (!ref.is_object()) {
    return MakeRejection("INVALID_VALUE", "invalid", path, "must be an object", 400);
  }
  auto it = ref.find("reference");
  if (it != ref.end() && !it->is_null()) {
    std::string rp = path + ".reference";
    if (!it->is_string())
      return MakeRejection("INVALID_VALUE", "invalid", rp, "must be a string", 400);
    const std::string& reference = it->get_ref<const std::string&>();
    if (reference.size() > kMaxFullUrl) {
      return MakeRejection("INVALID_VALUE", "invalid", rp, "is too long", 400);
    }
    if (bundle_context_) {
      if (auto f = by_full_url_.find(reference); f != by_full_url_.end()) {
        *subject_id = f->second;
        return std::nullopt;
      }
    }
    // "Patient/<id>", optionally "/_history/<v>"; absolute URLs ending so only in bundles.
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t slash = reference.find('/', start);
      parts.push_back(reference.substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (parts.size() >= 4 && parts[parts.size() - 2] == "_history") parts.resize(parts.size() - 2);
    bool relative = parts.size() == 2;
    if (parts.size() >= 2 && parts[parts.size() - 2] == "Patient" && IsFhirId(parts.back()) &&
        (relative || bundle_context_) && reference.rfind("urn:", 0) != 0) {
      const std::string& id = parts.back();
      auto f = by_id_.find(id);
      *subject_id = f != by_id_.end() ? f->second : id;
      return std::nullopt;
    }
    return MakeRejection("UNKNOWN_REFERENCE", "not-found", rp,
                         bundle_context_
                             ? "does not resolve to a Patient entry of this bundle or a "
                               "Patient/<id> reference"
                             : "must be a Patient/<id> reference",
                         422);
  }
  auto id_it = ref.find("identifier");
  if (id_it != ref.end() && !id_it->is_null()) {
    std::string ip = path + ".identifier";
    if (!id_it->is_object())
      return MakeRejection("INVALID_VALUE", "invalid", ip, "must be an object", 400);
    auto sys = id_it->find("system");
    auto val = id_it->find("value");
    if (val == id_it->end() || !val->is_string() || val->get_ref<const std::string&>().empty() ||
        val->get_ref<const std::string&>().size() > kMaxId) {
      return MakeRejection("MISSING_FIELD", "required", ip + ".value", "must be a non-empty string",
                           400);
    }
    std::string system;
    if (sys != id_it->end() && !sys->is_null()) {
      if (!sys->is_string() || sys->get_ref<const std::string&>().size() > kMaxFullUrl) {
        return MakeRejection("INVALID_VALUE", "invalid", ip + ".system", "must be a string", 400);
      }
      system = sys->get<std::string>();
    }
    *subject_id = system + "|" + val->get<std::string>();
    return std::nullopt;
  }
  return MakeRejection("MISSING_FIELD", "required", path + ".reference",
                       "a Patient reference is required", 400);
}

std::string PatientSubjectId(const Json& patient) {
  if (!patient.is_object()) return "";
  auto id = patient.find("id");
  if (id != patient.end() && id->is_string() && !id->get_ref<const std::string&>().empty() &&
      id->get_ref<const std::string&>().size() <= kMaxId) {
    return id->get<std::string>();
  }
  auto ids = patient.find("identifier");
  if (ids == patient.end() || !ids->is_array() || ids->empty()) return "";
  const Json& first = (*ids)[0];
  if (!first.is_object()) return "";
  auto val = first.find("value");
  if (val == first.end() || !val->is_string() || val->get_ref<const std::string&>().empty() ||
      val->get_ref<const std::string&>().size() > kMaxId) {
    return "";
  }
  std::string system;
  auto sys = first.find("system");
  if (sys != first.end() && sys->is_string()) system = sys->get<std::string>();
  return system + "|" + val->get<std::string>();
}

std::string EventIdFor(const std::string& resource_type, const std::string& id,
                       const std::string& full_url) {
  if (!id.empty()) return "fhir-" + HexEncode(Sha256(resource_type + "/" + id)).substr(0, 32);
  if (!full_url.empty()) return "fhir-" + HexEncode(Sha256(full_url)).substr(0, 32);
  return NewUuidV7();
}

int JsonDepth(const Json& value, int limit) {
  if (!value.is_structured()) return 0;
  if (limit < 0) return 1;
  int deepest = 0;
  for (const Json& child : value) {
    deepest = std::max(deepest, JsonDepth(child, limit - 1));
    if (deepest > limit) break;
  }
  return deepest + 1;
}

Converted ConvertResource(const Json& resource, const ResourceContext& ctx) {
  Converted out;
  try {
    if (!resource.is_object()) WrongType(ctx.path, "an object");
    auto type = StringAt(resource, "resourceType", ctx.path, 64);
    if (!type.has_value()) Missing(Join(ctx.path, "resourceType"), "resourceType is required");
    if (*type == "Patient") return ConvertPatient(resource, ctx);
    if (*type == "Observation") return ConvertObservationResource(resource, ctx);
    if (*type == "AdverseEvent") return ConvertAdverseEvent(resource, ctx);
    if (*type == "MedicationStatement" || *type == "MedicationAdministration") {
      return ConvertMedication(resource, *type, ctx);
    }
    Reject("UNSUPPORTED_RESOURCE", "not-supported", Join(ctx.path, "resourceType"),
           "this resource type is not supported", 422);
  } catch (const RejectError& e) {
    out.events.clear();
    out.rejection = e.rejection;
  } catch (const std::exception&) {
    out.events.clear();
    out.rejection = MakeRejection("MALFORMED", "invalid", ctx.path, "could not be read", 400);
  }
  return out;
}

}  // namespace ctml::ingest::fhir::internal
