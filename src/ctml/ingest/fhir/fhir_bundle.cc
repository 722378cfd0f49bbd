// FHIR R4 Bundle processing and the HTTP endpoint (docs/ingest/fhir.md).

#include <algorithm>

#include "ctml/core/ids.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/core/time.h"
#include "ctml/ingest/fhir/fhir.h"
#include "ctml/ingest/fhir/fhir_resources.h"

namespace ctml::ingest::fhir {
namespace {

using internal::Converted;
using internal::Rejection;

constexpr char kFhirJson[] = "application/fhir+json";

std::string StatusLine(int http_status) {
  switch (http_status) {
    case 200:
      return "200 OK";
    case 201:
      return "201 Created";
    case 400:
      return "400 Bad Request";
    case 422:
      return "422 Unprocessable Entity";
    default:
      return std::to_string(http_status);
  }
}

Json Issue(const std::string& issue_code, const std::string& path, const std::string& message,
           const std::string& reason = "") {
  Json issue = {{"severity", "error"},
                {"code", issue_code},
                {"diagnostics", path.empty() ? message : path + ": " + message}};
  if (!path.empty()) issue["expression"] = Json::array({path});
  if (!reason.empty()) issue["details"] = {{"text", reason}};
  return issue;
}

Json OutcomeOf(const Rejection& r) {
  return {{"resourceType", "OperationOutcome"},
          {"issue", Json::array({Issue(r.issue_code, r.path, r.message, r.reason)})}};
}

// A bundle refused as a whole.
BundleResult Refuse(int http_status, const std::string& reason, const std::string& issue_code,
                    const std::string& path, const std::string& message, int64_t rejected) {
  BundleResult out;
  out.http_status = http_status;
  Json oo = {{"resourceType", "OperationOutcome"},
             {"issue", Json::array({Issue(issue_code, path, message, reason)})}};
  out.response = std::move(oo);
  out.rejected = std::max<int64_t>(rejected, 1);
  out.reasons[reason] = out.rejected;
  return out;
}

struct EntryOutcome {
  std::optional<Rejection> rejection;
  std::vector<CanonicalEvent> events;
  std::string resource_type;
};

EntryOutcome ConvertEntry(const Json& entry, size_t i, const internal::SubjectResolver& refs,
                          const FhirOptions& options, const privacy::Deidentifier& deid,
                          int64_t received_at_us) {
  EntryOutcome out;
  std::string path = "Bundle.entry[" + std::to_string(i) + "]";
  auto reject = [&](std::string reason, std::string issue, std::string p, std::string msg,
                    int status) {
    out.rejection =
        Rejection{std::move(reason), std::move(issue), std::move(p), std::move(msg), status};
    return out;
  };
  if (!entry.is_object()) return reject("INVALID_VALUE", "invalid", path, "must be an object", 400);
  std::string full_url;
  if (auto it = entry.find("fullUrl"); it != entry.end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>().size() > 4096) {
      return reject("INVALID_VALUE", "invalid", path + ".fullUrl",
                    "must be a string of at most 4096 characters", 400);
    }
    full_url = it->get<std::string>();
  }
  if (auto it = entry.find("request"); it != entry.end() && !it->is_null()) {
    if (!it->is_object())
      return reject("INVALID_VALUE", "invalid", path + ".request", "must be an object", 400);
    if (auto m = it->find("method"); m != it->end() && !m->is_null()) {
      if (!m->is_string()) {
        return reject("INVALID_VALUE", "invalid", path + ".request.method", "must be a string",
                      400);
      }
      const std::string& method = m->get_ref<const std::string&>();
      if (method != "POST" && method != "PUT") {
        return reject("UNSUPPORTED_OPERATION", "not-supported", path + ".request.method",
                      "only POST and PUT entries are accepted", 422);
      }
    }
  }
  auto res = entry.find("resource");
  if (res == entry.end() || res->is_null()) {
    return reject("MISSING_FIELD", "required", path + ".resource", "a resource is required", 400);
  }
  if (res->is_object()) {
    if (auto t = res->find("resourceType"); t != res->end() && t->is_string()) {
      const std::string& type = t->get_ref<const std::string&>();
      if (type.size() <= 64) out.resource_type = type;
    }
  }
  internal::ResourceContext ctx{options, deid, received_at_us, refs, path + ".resource", full_url};
  Converted c = internal::ConvertResource(*res, ctx);
  out.rejection = std::move(c.rejection);
  out.events = std::move(c.events);
  return out;
}

CounterMetric& EntryCounter(const char* outcome) {
  return Metrics().Counter("ctml_fhir_entries_total", "FHIR bundle entries by outcome",
                           {{"outcome", outcome}});
}

bool AcceptableContentType(const net::HttpRequest& req) {
  std::string ct = req.Header("content-type");
  std::transform(ct.begin(), ct.end(), ct.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto semi = ct.find(';');
  if (semi != std::string::npos) ct.resize(semi);
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  return ct == "application/fhir+json" || ct == "application/json";
}

net::HttpResponse FhirResponse(int status, const Json& body) {
  net::HttpResponse resp = net::HttpResponse::Json(status, body.dump());
  resp.content_type = kFhirJson;
  return resp;
}

net::HttpResponse Outcome(int status, const std::string& issue_code, const std::string& path,
                          const std::string& message) {
  return FhirResponse(status, OperationOutcome(issue_code, path, message));
}

}  // namespace

Json OperationOutcome(const std::string& issue_code, const std::string& path,
                      const std::string& message) {
  return {{"resourceType", "OperationOutcome"},
          {"issue", Json::array({Issue(issue_code, path, message)})}};
}

Result<BundleResult> ConvertBundle(const Json& bundle, const FhirOptions& options,
                                   const privacy::Deidentifier& deid, int64_t received_at_us) {
  if (internal::JsonDepth(bundle, options.max_json_depth) > options.max_json_depth) {
    return Refuse(400, "MALFORMED", "too-costly", "Bundle",
                  "JSON nesting is deeper than " + std::to_string(options.max_json_depth), 1);
  }
  if (!bundle.is_object()) {
    return Refuse(400, "MALFORMED", "invalid", "Bundle", "the body must be a JSON object", 1);
  }
  auto rt = bundle.find("resourceType");
  if (rt == bundle.end() || !rt->is_string() || rt->get_ref<const std::string&>() != "Bundle") {
    return Refuse(400, "UNSUPPORTED_RESOURCE", "invalid", "Bundle.resourceType",
                  "this endpoint accepts a Bundle (post single Observations to "
                  "/fhir/r4/Observation)",
                  1);
  }
  auto type_it = bundle.find("type");
  if (type_it == bundle.end() || !type_it->is_string()) {
    return Refuse(400, "MISSING_FIELD", "required", "Bundle.type", "must be a string", 1);
  }
  const std::string type = type_it->get<std::string>();
  if (type != "batch" && type != "collection" && type != "transaction") {
    return Refuse(400, "UNSUPPORTED_BUNDLE", "not-supported", "Bundle.type",
                  "only batch, collection and transaction bundles are accepted", 1);
  }
  static const Json kNoEntries = Json::array();
  const Json* entries = &kNoEntries;
  if (auto e = bundle.find("entry"); e != bundle.end() && !e->is_null()) {
    if (!e->is_array()) {
      return Refuse(400, "INVALID_VALUE", "invalid", "Bundle.entry", "must be an array", 1);
    }
    entries = &*e;
  }
  if (entries->size() > options.max_entries) {
    return Refuse(413, "TOO_MANY_ENTRIES", "too-costly", "Bundle.entry",
                  "more than " + std::to_string(options.max_entries) + " entries",
                  static_cast<int64_t>(entries->size()));
  }

  // Pass 1: the bundle's Patients, so that entries may reference a Patient appearing later.
  internal::SubjectResolver refs;
  for (const Json& entry : *entries) {
    if (!entry.is_object()) continue;
    auto res = entry.find("resource");
    if (res == entry.end() || !res->is_object()) continue;
    auto t = res->find("resourceType");
    if (t == res->end() || !t->is_string() || t->get_ref<const std::string&>() != "Patient") {
      continue;
    }
    std::string full_url, id;
    if (auto f = entry.find("fullUrl"); f != entry.end() && f->is_string()) {
      full_url = f->get<std::string>();
    }
    if (auto i = res->find("id"); i != res->end() && i->is_string()) id = i->get<std::string>();
    refs.AddPatient(full_url, id, internal::PatientSubjectId(*res));
  }

  // Pass 2: convert each entry.
  std::vector<EntryOutcome> outcomes;
  outcomes.reserve(entries->size());
  for (size_t i = 0; i < entries->size(); ++i) {
    outcomes.push_back(ConvertEntry((*entries)[i], i, refs, options, deid, received_at_us));
  }

  BundleResult out;
  int64_t failed = 0;
  for (const EntryOutcome& o : outcomes) {
    if (o.rejection) {
      ++failed;
      out.reasons[o.rejection->reason]++;
    }
  }

  if (type == "transaction" && failed > 0) {
    // All or nothing: nothing lands, one issue per failing entry.
    Json issues = Json::array();
    for (const EntryOutcome& o : outcomes) {
      if (o.rejection) {
        issues.push_back(Issue(o.rejection->issue_code, o.rejection->path, o.rejection->message,
                               o.rejection->reason));
      }
    }
    out.http_status = 400;
    out.response = {{"resourceType", "OperationOutcome"}, {"issue", std::move(issues)}};
    out.rejected = static_cast<int64_t>(outcomes.size());
    if (out.rejected > failed) out.reasons["TRANSACTION_ROLLED_BACK"] = out.rejected - failed;
    return out;
  }

  Json response_entries = Json::array();
  for (EntryOutcome& o : outcomes) {
    Json response;
    if (o.rejection) {
      response = {{"status", StatusLine(o.rejection->http_status)},
                  {"outcome", OutcomeOf(*o.rejection)}};
    } else {
      std::string type_name = o.resource_type.empty() ? "Resource" : o.resource_type;
      std::string location = o.events.empty() ? "" : type_name + "/" + o.events.front().event_id;
      response = {{"status", StatusLine(201)}, {"location", location}};
      for (CanonicalEvent& ev : o.events) out.events.push_back(std::move(ev));
    }
    response_entries.push_back({{"response", std::move(response)}});
  }
  out.rejected = failed;
  out.http_status = 200;
  out.response = {{"resourceType", "Bundle"},
                  {"id", NewUuidV7()},
                  {"type", type == "transaction" ? "transaction-response" : "batch-response"},
                  {"entry", std::move(response_entries)}};
  return out;
}

Result<CanonicalEvent> ConvertObservation(const Json& observation, const FhirOptions& options,
                                          const privacy::Deidentifier& deid,
                                          int64_t received_at_us) {
  if (internal::JsonDepth(observation, options.max_json_depth) > options.max_json_depth) {
    return Status::Invalid("MALFORMED: JSON nesting is too deep", "Observation");
  }
  if (!observation.is_object()) {
    return Status::Invalid("MALFORMED: the body must be a JSON object", "Observation");
  }
  auto rt = observation.find("resourceType");
  if (rt == observation.end() || !rt->is_string() ||
      rt->get_ref<const std::string&>() != "Observation") {
    return Status::Invalid("UNSUPPORTED_RESOURCE: an Observation is expected",
                           "Observation.resourceType");
  }
  internal::SubjectResolver refs;
  refs.set_bundle_context(false);
  internal::ResourceContext ctx{options, deid, received_at_us, refs, "Observation", ""};
  Converted c = internal::ConvertResource(observation, ctx);
  if (c.rejection) {
    return Status::Invalid(c.rejection->reason + ": " + c.rejection->message, c.rejection->path);
  }
  if (c.events.size() != 1) return Status::Internal("an Observation gives exactly one event");
  return std::move(c.events.front());
}

FhirEndpoint::FhirEndpoint(FhirOptions options, IngestCore& core, const privacy::Deidentifier& deid)
    : options_(std::move(options)), core_(core), deid_(deid) {}

net::HttpResponse FhirEndpoint::HandleBundle(const net::HttpRequest& req) {
  static CounterMetric& accepted = EntryCounter("accepted");
  static CounterMetric& rejected = EntryCounter("rejected");
  BatchInfo info;
  info.source = "fhir";
  info.actor = req.actor;
  info.object = "Bundle";
  if (!AcceptableContentType(req)) {
    return Outcome(415, "not-supported", "", "Content-Type must be application/fhir+json");
  }
  auto doc = ParseJson(req.body, options_.max_json_depth);
  if (!doc.ok()) {
    // The parser's message may quote the body: never echo it.
    info.rejected = 1;
    info.reject_reasons["MALFORMED"] = 1;
    rejected.Inc();
    if (auto st = core_.RecordRejection(info); !st.ok()) {
      return Outcome(503, "transient", "", "the audit trail is unavailable; retry later");
    }
    log::Info("fhir", "bundle refused", {{"reason", "MALFORMED"}});
    return Outcome(400, "invalid", "Bundle",
                   "the body is not valid JSON or is nested deeper than " +
                       std::to_string(options_.max_json_depth));
  }
  if (doc->is_object()) {
    if (auto t = doc->find("type");
        t != doc->end() && t->is_string() && t->get_ref<const std::string&>().size() <= 32) {
      info.object = "Bundle/" + t->get<std::string>();
    }
  }
  auto result = ConvertBundle(*doc, options_, deid_, NowMicros());
  if (!result.ok()) {
    log::Error("fhir", "bundle conversion failed", {{"error", result.status().message()}});
    return Outcome(500, "exception", "", "internal error");
  }
  info.rejected = result->rejected;
  info.reject_reasons = result->reasons;
  if (!result->events.empty()) {
    auto submitted = core_.Submit(result->events, info);
    if (!submitted.ok()) {
      log::Error("fhir", "submit failed", {{"error", submitted.status().message()}});
      return Outcome(503, "transient", "", "the event store is unavailable; retry later");
    }
  } else if (result->rejected > 0) {
    if (auto st = core_.RecordRejection(info); !st.ok()) {
      return Outcome(503, "transient", "", "the audit trail is unavailable; retry later");
    }
  }
  accepted.Inc(static_cast<double>(result->events.size()));
  rejected.Inc(static_cast<double>(result->rejected));
  log::Info("fhir", "bundle processed",
            {{"type", info.object},
             {"status", std::to_string(result->http_status)},
             {"events", std::to_string(result->events.size())},
             {"rejected", std::to_string(result->rejected)}});
  return FhirResponse(result->http_status, result->response);
}

net::HttpResponse FhirEndpoint::HandleObservation(const net::HttpRequest& req) {
  static CounterMetric& accepted = EntryCounter("accepted");
  static CounterMetric& rejected = EntryCounter("rejected");
  BatchInfo info;
  info.source = "fhir";
  info.actor = req.actor;
  info.object = "Observation";
  if (!AcceptableContentType(req)) {
    return Outcome(415, "not-supported", "", "Content-Type must be application/fhir+json");
  }
  auto doc = ParseJson(req.body, options_.max_json_depth);
  Result<CanonicalEvent> ev =
      doc.ok()
          ? ConvertObservation(*doc, options_, deid_, NowMicros())
          : Result<CanonicalEvent>(Status::Invalid(
                "MALFORMED: the body is not valid JSON or is nested too deeply", "Observation"));
  if (!ev.ok()) {
    const Status st = ev.status();
    const std::string& msg = st.message();
    auto colon = msg.find(": ");
    std::string reason = colon == std::string::npos ? "INVALID_VALUE" : msg.substr(0, colon);
    std::string text = colon == std::string::npos ? msg : msg.substr(colon + 2);
    std::string issue = reason == "MISSING_FIELD"          ? "required"
                        : reason == "UNKNOWN_REFERENCE"    ? "not-found"
                        : reason == "UNSUPPORTED_RESOURCE" ? "not-supported"
                        : reason == "UNSUPPORTED_VALUE"    ? "not-supported"
                                                           : "invalid";
    info.rejected = 1;
    info.reject_reasons[reason] = 1;
    rejected.Inc();
    if (auto st = core_.RecordRejection(info); !st.ok()) {
      return Outcome(503, "transient", "", "the audit trail is unavailable; retry later");
    }
    log::Info("fhir", "observation refused", {{"reason", reason}, {"field", st.field()}});
    Json oo = {{"resourceType", "OperationOutcome"},
               {"issue", Json::array({Issue(issue, st.field(), text, reason)})}};
    return FhirResponse(400, oo);
  }
  auto submitted = core_.Submit({*ev}, info);
  if (!submitted.ok()) {
    log::Error("fhir", "submit failed", {{"error", submitted.status().message()}});
    return Outcome(503, "transient", "", "the event store is unavailable; retry later");
  }
  accepted.Inc();
  std::string location = "Observation/" + ev->event_id;
  Json body = {{"resourceType", "OperationOutcome"},
               {"issue", Json::array({{{"severity", "information"},
                                       {"code", "informational"},
                                       {"diagnostics", "created " + location}}})}};
  net::HttpResponse resp = FhirResponse(201, body);
  resp.headers.emplace_back("Location", location);
  return resp;
}

}  // namespace ctml::ingest::fhir
