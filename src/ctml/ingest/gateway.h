// The ingestion gateway (Level 1): the existing stack's REST API in front of the EventLog.
//
//   Gateway gw(options, *event_log, pseudonymizer);
//   gw.Register(server);   // POST /api/clinical/data, POST /api/clinical/validate, GET /stats
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "ctml/net/http.h"
#include "ctml/privacy/pseudonymizer.h"
#include "ctml/store/event_log.h"

namespace ctml::ingest {

struct GatewayOptions {
  int max_json_depth = 32;
  std::string source = "gateway";
};

class Gateway {
 public:
  Gateway(GatewayOptions options, store::EventLog& log, privacy::Pseudonymizer pseudonymizer);
  void Register(net::HttpServer& server);

  net::HttpResponse HandleData(const net::HttpRequest& req);
  net::HttpResponse HandleValidate(const net::HttpRequest& req);
  net::HttpResponse HandleStats(const net::HttpRequest& req);

 private:
  GatewayOptions options_;
  store::EventLog& log_;
  privacy::Pseudonymizer pseudonymizer_;
  int64_t started_us_;
  std::atomic<int64_t> accepted_{0};
  std::atomic<int64_t> rejected_{0};
};

}  // namespace ctml::ingest
