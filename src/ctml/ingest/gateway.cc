#include "ctml/ingest/gateway.h"

#include "ctml/core/ids.h"
#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/core/time.h"
#include "ctml/ingest/vital_signs.h"

namespace ctml::ingest {

Gateway::Gateway(GatewayOptions options, store::EventLog& log, privacy::Pseudonymizer pseudonymizer)
    : options_(std::move(options)),
      log_(log),
      pseudonymizer_(std::move(pseudonymizer)),
      started_us_(NowMicros()) {}

void Gateway::Register(net::HttpServer& server) {
  server.Route("POST", "/api/clinical/data", [this](const auto& r) { return HandleData(r); });
  server.Route("POST", "/api/clinical/validate",
               [this](const auto& r) { return HandleValidate(r); });
  server.Route("GET", "/stats", [this](const auto& r) { return HandleStats(r); });
}

net::HttpResponse Gateway::HandleData(const net::HttpRequest& req) {
  static auto& ok_count = Metrics().Counter("ctml_gateway_records_total", "Records by outcome",
                                            {{"type", "vital_signs"}, {"outcome", "accepted"}});
  static auto& bad_count = Metrics().Counter("ctml_gateway_records_total", "Records by outcome",
                                             {{"type", "any"}, {"outcome", "rejected"}});
  auto doc = ParseJson(req.body, options_.max_json_depth);
  Result<CanonicalEvent> ev =
      doc.ok() ? ParseClinicalEnvelope(*doc, pseudonymizer_, NowMicros(), options_.source)
               : Result<CanonicalEvent>(doc.status());
  if (!ev.ok()) {
    bad_count.Inc();
    rejected_++;
    // The field name and reason only: never the value or the body.
    log::Info("gateway", "rejected record", {{"field", ev.status().field()}});
    return net::HttpResponse::Error(ev.status());
  }
  std::string topic = TopicFor(ev->event_type);
  auto pos = log_.Append(topic, ev->subject_key, ev->ToJson());
  if (!pos.ok()) {
    log::Error("gateway", "event log append failed", {{"error", pos.status().message()}});
    return net::HttpResponse::Error(503, "UNAVAILABLE", "the event log is unavailable; retry later",
                                    "");
  }
  ok_count.Inc();
  accepted_++;
  Json body = {{"status", "SUCCESS"},
               {"messageId", ev->event_id},
               {"processingId", NewUuidV7()},
               {"dataType", ev->event_type},
               {"subjectKey", ev->subject_key},
               {"topic", topic},
               {"partition", pos->partition},
               {"offset", pos->offset},
               {"receivedAt", FormatIso8601(ev->received_at_us)}};
  return net::HttpResponse::Json(200, body.dump());
}

net::HttpResponse Gateway::HandleValidate(const net::HttpRequest& req) {
  auto doc = ParseJson(req.body, options_.max_json_depth);
  Result<CanonicalEvent> ev =
      doc.ok() ? ParseClinicalEnvelope(*doc, pseudonymizer_, NowMicros(), options_.source)
               : Result<CanonicalEvent>(doc.status());
  if (!ev.ok()) return net::HttpResponse::Error(ev.status());
  Json body = {{"status", "VALID"}, {"dataType", ev->event_type}, {"messageId", ev->event_id}};
  return net::HttpResponse::Json(200, body.dump());
}

net::HttpResponse Gateway::HandleStats(const net::HttpRequest&) {
  Json body = {{"service", "gateway"},
               {"startedAt", FormatIso8601(started_us_)},
               {"uptimeSeconds", (NowMicros() - started_us_) / kMicrosPerSecond},
               {"accepted", accepted_.load()},
               {"rejected", rejected_.load()}};
  return net::HttpResponse::Json(200, body.dump());
}

}  // namespace ctml::ingest
