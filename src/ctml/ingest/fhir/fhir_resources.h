// Internal to src/ctml/ingest/fhir/: converting one FHIR resource into canonical events.
// Used by fhir_bundle.cc; not part of the module's API.
//
//   SubjectResolver refs;                      // filled from the bundle's Patient entries
//   ResourceContext ctx{options, deid, received_at_us, refs, "Bundle.entry[3].resource",
//                       full_url};
//   Converted c = ConvertResource(resource, ctx);
//   if (c.rejection) ... c.rejection->path ... else ... c.events ...
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ctml/core/json.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/ingest/fhir/fhir.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest::fhir::internal {

// Why one resource was refused. Never carries a value from the resource.
struct Rejection {
  std::string reason;      // UPPER_SNAKE: MISSING_FIELD, INVALID_VALUE, UNKNOWN_REFERENCE, ...
  std::string issue_code;  // FHIR issue type: invalid|required|not-supported|not-found
  std::string path;        // "Bundle.entry[3].resource.valueQuantity.value"
  std::string message;     // what is wrong, without values
  int http_status = 400;   // 400 structure/type, 422 business rule (reference, unsupported)
};

// Resolves Patient references to source subject ids.
class SubjectResolver {
 public:
  // A Patient of the bundle: its fullUrl (may be empty), id (may be empty), subject id.
  void AddPatient(const std::string& full_url, const std::string& id,
                  const std::string& subject_id);
  // Whether "urn:uuid:..." / fullUrl references to in-bundle Patients are allowed (bundles) or
  // only "Patient/<id>" (a single posted resource).
  void set_bundle_context(bool v) { bundle_context_ = v; }
  // `ref` is the Reference element ({"reference": ...} or {"identifier": {...}}).
  // Returns the subject id or a Rejection (UNKNOWN_REFERENCE / INVALID_VALUE).
  std::optional<Rejection> Resolve(const Json& ref, const std::string& path,
                                   std::string* subject_id) const;

 private:
  std::map<std::string, std::string> by_full_url_;
  std::map<std::string, std::string> by_id_;
  bool bundle_context_ = true;
};

struct ResourceContext {
  const FhirOptions& options;
  const privacy::Deidentifier& deid;
  int64_t received_at_us;
  const SubjectResolver& refs;
  std::string path;      // "Bundle.entry[3].resource" or "Observation"
  std::string full_url;  // entry fullUrl, may be empty
};

struct Converted {
  std::vector<CanonicalEvent> events;  // one per resource today
  std::optional<Rejection> rejection;
};

// The subject id a Patient resource stands for: Patient.id, else its first identifier as
// "system|value"; empty when it has neither (or they are not strings).
std::string PatientSubjectId(const Json& patient);

// Dispatches on resourceType. Never throws.
Converted ConvertResource(const Json& resource, const ResourceContext& ctx);

// event_id: "fhir-" + sha256(resourceType + "/" + id)[:32], else of the fullUrl, else UUIDv7.
std::string EventIdFor(const std::string& resource_type, const std::string& id,
                       const std::string& full_url);

// Nesting depth of a JSON value (scalars 0, [] / {} 1, ...), stopping once past `limit`.
int JsonDepth(const Json& value, int limit);

}  // namespace ctml::ingest::fhir::internal
