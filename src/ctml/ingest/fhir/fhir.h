// FHIR R4 ingestion (docs/ingest/fhir.md): Bundles (batch, collection, transaction) and single
// Observations become de-identified canonical events (Patient -> demographics, Observation ->
// vital_signs / lab_result, AdverseEvent -> adverse_event, MedicationStatement /
// MedicationAdministration -> medication) landed through the IngestCore.
//
//   FhirEndpoint fhir({.study_id = "S1", .site_id = "SITE01"}, core, deid);
//   server.Route("POST", "/fhir/r4", [&](const auto& r) { return fhir.HandleBundle(r); });
//   server.Route("POST", "/fhir/r4/Observation",
//                [&](const auto& r) { return fhir.HandleObservation(r); });
//
//   // Pure conversion, no I/O:
//   CTML_ASSIGN_OR_RETURN(auto res, ConvertBundle(bundle_json, options, deid, NowMicros()));
//   res.http_status; res.response;  // batch-response Bundle or OperationOutcome
//   res.events;                     // what to Submit (empty when the bundle is rejected)
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ctml/core/json.h"
#include "ctml/core/status.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/ingest/ingest_core.h"
#include "ctml/net/http.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest::fhir {

struct FhirOptions {
  std::string study_id = "UNKNOWN";
  std::string site_id = "UNKNOWN";
  int max_json_depth = 64;
  size_t max_entries = 10000;
};

// What a Bundle turns into. `response` is the body to answer with (a batch-response /
// transaction-response Bundle, or an OperationOutcome when the bundle as a whole is refused),
// `http_status` its status (200, 400, 413). `events` are the canonical events of the accepted
// entries (empty when nothing may land); `rejected`/`reasons` count refused entries by reason
// code (UNKNOWN_REFERENCE, INVALID_VALUE, ...) for the audit record. Until the events are
// submitted, the `location`s in `response` are promises: the endpoint answers 503 instead when
// the submit fails.
struct BundleResult {
  Json response;
  int http_status = 200;
  std::vector<CanonicalEvent> events;
  int64_t rejected = 0;
  std::map<std::string, int64_t> reasons;
};

// Converts a parsed Bundle. Never fails on bad input (that is a 4xx BundleResult); an error
// Status means an internal problem.
Result<BundleResult> ConvertBundle(const Json& bundle, const FhirOptions& options,
                                   const privacy::Deidentifier& deid, int64_t received_at_us);

// Converts one Observation posted on its own (references "Patient/<id>" or a subject
// identifier only). Invalid input: Status::Invalid whose field() is the element path
// ("Observation.valueQuantity.value") and whose message starts with the reason code
// ("INVALID_VALUE: ..."); never contains a value from the resource.
Result<CanonicalEvent> ConvertObservation(const Json& observation, const FhirOptions& options,
                                          const privacy::Deidentifier& deid,
                                          int64_t received_at_us);

// FHIR OperationOutcome with one error issue (code: invalid|required|not-supported|not-found|
// too-costly|transient|...), diagnostics "<path>: <message>".
Json OperationOutcome(const std::string& issue_code, const std::string& path,
                      const std::string& message);

class FhirEndpoint {
 public:
  FhirEndpoint(FhirOptions options, IngestCore& core, const privacy::Deidentifier& deid);

  net::HttpResponse HandleBundle(const net::HttpRequest& req);       // POST /fhir/r4
  net::HttpResponse HandleObservation(const net::HttpRequest& req);  // POST /fhir/r4/Observation

 private:
  FhirOptions options_;
  IngestCore& core_;
  const privacy::Deidentifier& deid_;
};

}  // namespace ctml::ingest::fhir
