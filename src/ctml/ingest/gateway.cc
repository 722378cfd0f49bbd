#include "ctml/ingest/gateway.h"

#include "ctml/core/ids.h"
#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/core/time.h"
#include "ctml/ingest/clinical_envelope.h"

namespace ctml::ingest {
namespace {

net::HttpResponse Unavailable(const Status& st) {
  log::Error("gateway", "ingestion failed", {{"error", st.message()}});
  return net::HttpResponse::Error(503, "UNAVAILABLE", "the event log is unavailable; retry later",
                                  "");
}

// Splits a batch body into records: a JSON array, or NDJSON (blank lines ignored).
Result<std::vector<Result<Json>>> SplitBatch(const std::string& body, int max_depth,
                                             size_t max_records) {
  std::vector<Result<Json>> out;
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return Status::Invalid("the batch is empty", "body");
  if (body[first] == '[') {
    CTML_ASSIGN_OR_RETURN(Json arr, ParseJson(body, max_depth + 1));
    if (!arr.is_array()) return Status::Invalid("batch must be a JSON array or NDJSON", "body");
    if (arr.size() > max_records) {
      return Status::PayloadTooLarge("a batch holds at most " + std::to_string(max_records) +
                                     " records");
    }
    for (auto& j : arr) out.push_back(std::move(j));
  } else {
    size_t pos = 0;
    while (pos < body.size()) {
      size_t nl = body.find('\n', pos);
      std::string_view line(body.data() + pos, (nl == std::string::npos ? body.size() : nl) - pos);
      pos = nl == std::string::npos ? body.size() : nl + 1;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      if (out.size() == max_records) {
        return Status::PayloadTooLarge("a batch holds at most " + std::to_string(max_records) +
                                       " records");
      }
      out.push_back(ParseJson(line, max_depth));
    }
  }
  if (out.empty()) return Status::Invalid("the batch is empty", "body");
  return out;
}

Json ErrorJson(const Status& st) {
  return {{"code", StatusCodeName(st.code())}, {"message", st.message()}, {"field", st.field()}};
}

}  // namespace

Gateway::Gateway(GatewayOptions options, IngestCore& core, const privacy::Deidentifier& deid)
    : options_(std::move(options)), core_(core), deid_(deid), started_us_(NowMicros()) {}

void Gateway::Register(net::HttpServer& server, const net::ApiKeys& keys) {
  server.Route("POST", "/api/clinical/data",
               keys.Guard("ingest", [this](const auto& r) { return HandleData(r); }));
  server.Route("POST", "/api/clinical/validate",
               keys.Guard("ingest", [this](const auto& r) { return HandleValidate(r); }));
  server.Route("POST", "/api/clinical/batch",
               keys.Guard("ingest", [this](const auto& r) { return HandleBatch(r); }));
  server.Route("GET", "/stats",
               keys.Guard("read", [this](const auto& r) { return HandleStats(r); }));
}

void Gateway::Count(const std::string& type, bool accepted, int64_t n) {
  Metrics()
      .Counter("ctml_gateway_records_total", "Records by type and outcome",
               {{"type", type}, {"outcome", accepted ? "accepted" : "rejected"}})
      .Inc(static_cast<double>(n));
  std::lock_guard lock(mu_);
  if (accepted) {
    accepted_ += n;
    accepted_by_type_[type] += n;
  } else {
    rejected_ += n;
  }
}

net::HttpResponse Gateway::HandleData(const net::HttpRequest& req) {
  const int64_t now = NowMicros();
  auto doc = ParseJson(req.body, options_.max_json_depth);
  Result<CanonicalEvent> ev = doc.ok() ? ParseClinicalEnvelope(*doc, deid_, now, options_.source)
                                       : Result<CanonicalEvent>(doc.status());
  BatchInfo info;
  info.source = options_.source;
  info.actor = req.actor;
  info.object = "data";
  if (!ev.ok()) {
    Count("any", false);
    // The field name and reason only: never the value or the body.
    log::Info("gateway", "rejected record", {{"field", ev.status().field()}});
    info.rejected = 1;
    info.reject_reasons[StatusCodeName(ev.status().code())] = 1;
    if (Status st = core_.RecordRejection(info); !st.ok()) return Unavailable(st);
    return net::HttpResponse::Error(ev.status());
  }
  auto res = core_.Submit({*ev}, info);
  if (!res.ok()) return Unavailable(res.status());
  Count(ev->event_type, true);
  {
    std::lock_guard lock(mu_);
    alerts_ += res->alerts;
  }
  const auto& pos = res->positions.front();
  Json body = {{"status", "SUCCESS"},           {"messageId", ev->event_id},
               {"processingId", NewUuidV7()},   {"dataType", ev->event_type},
               {"subjectKey", ev->subject_key}, {"topic", TopicFor(ev->event_type)},
               {"partition", pos.partition},    {"offset", pos.offset},
               {"alert", res->alerts > 0},      {"receivedAt", FormatIso8601(now)}};
  return net::HttpResponse::Json(200, body.dump());
}

net::HttpResponse Gateway::HandleValidate(const net::HttpRequest& req) {
  auto doc = ParseJson(req.body, options_.max_json_depth);
  Result<CanonicalEvent> ev = doc.ok()
                                  ? ParseClinicalEnvelope(*doc, deid_, NowMicros(), options_.source)
                                  : Result<CanonicalEvent>(doc.status());
  if (!ev.ok()) return net::HttpResponse::Error(ev.status());
  Json body = {{"status", "VALID"}, {"dataType", ev->event_type}, {"messageId", ev->event_id}};
  return net::HttpResponse::Json(200, body.dump());
}

net::HttpResponse Gateway::HandleBatch(const net::HttpRequest& req) {
  auto records = SplitBatch(req.body, options_.max_json_depth, options_.max_batch_records);
  if (!records.ok()) return net::HttpResponse::Error(records.status());
  int64_t now = NowMicros();
  std::vector<CanonicalEvent> events;
  std::vector<size_t> event_index;  // record index of each event
  Json results = Json::array();
  BatchInfo info;
  info.source = options_.source;
  info.actor = req.actor;
  info.object = "batch";
  for (size_t i = 0; i < records->size(); ++i) {
    const Result<Json>& doc = (*records)[i];
    Result<CanonicalEvent> ev = doc.ok() ? ParseClinicalEnvelope(*doc, deid_, now, options_.source)
                                         : Result<CanonicalEvent>(doc.status());
    if (!ev.ok()) {
      results.push_back({{"index", i}, {"status", "REJECTED"}, {"error", ErrorJson(ev.status())}});
      info.rejected++;
      info.reject_reasons[StatusCodeName(ev.status().code())]++;
      continue;
    }
    results.push_back({{"index", i},
                       {"status", "SUCCESS"},
                       {"messageId", ev->event_id},
                       {"dataType", ev->event_type}});
    event_index.push_back(i);
    events.push_back(std::move(*ev));
  }
  int64_t alerts = 0;
  if (!events.empty()) {
    auto res = core_.Submit(events, info);
    if (!res.ok()) return Unavailable(res.status());
    alerts = res->alerts;
    for (size_t k = 0; k < events.size(); ++k) {
      Json& r = results[event_index[k]];
      r["topic"] = TopicFor(events[k].event_type);
      r["partition"] = res->positions[k].partition;
      r["offset"] = res->positions[k].offset;
      Count(events[k].event_type, true);
    }
  } else if (Status st = core_.RecordRejection(info); !st.ok()) {
    return Unavailable(st);
  }
  if (info.rejected > 0) {
    Count("any", false, info.rejected);
    log::Info("gateway", "batch had rejected records",
              {{"rejected", std::to_string(info.rejected)}});
  }
  {
    std::lock_guard lock(mu_);
    alerts_ += alerts;
  }
  Json body = {{"status", info.rejected == 0 ? "SUCCESS"
                          : events.empty()   ? "REJECTED"
                                             : "PARTIAL"},
               {"accepted", events.size()},
               {"rejected", info.rejected},
               {"alerts", alerts},
               {"results", std::move(results)}};
  return net::HttpResponse::Json(200, body.dump());
}

net::HttpResponse Gateway::HandleStats(const net::HttpRequest&) {
  std::lock_guard lock(mu_);
  Json body = {{"service", "gateway"},
               {"startedAt", FormatIso8601(started_us_)},
               {"uptimeSeconds", (NowMicros() - started_us_) / kMicrosPerSecond},
               {"accepted", accepted_},
               {"acceptedByType", accepted_by_type_},
               {"rejected", rejected_},
               {"alerts", alerts_},
               {"policy", privacy::PolicyName(deid_.policy())}};
  return net::HttpResponse::Json(200, body.dump());
}

}  // namespace ctml::ingest
