// The ingestion gateway (Level 1): the existing stack's REST API in front of the ingestion core.
//
//   Gateway gw(options, core, deidentifier);
//   gw.Register(server, api_keys);   // POST /api/clinical/{data,validate,batch}, GET /stats
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "ctml/ingest/ingest_core.h"
#include "ctml/net/auth.h"
#include "ctml/net/http.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest {

struct GatewayOptions {
  int max_json_depth = 32;
  size_t max_batch_records = 10000;
  std::string source = "gateway";
};

class Gateway {
 public:
  Gateway(GatewayOptions options, IngestCore& core, const privacy::Deidentifier& deid);
  // Routes guarded by `keys` (role ingest; /stats role read).
  void Register(net::HttpServer& server, const net::ApiKeys& keys);

  net::HttpResponse HandleData(const net::HttpRequest& req);
  net::HttpResponse HandleValidate(const net::HttpRequest& req);
  // A JSON array of envelopes, or NDJSON (one envelope per line): per-record results; one bad
  // record never rejects the others.
  net::HttpResponse HandleBatch(const net::HttpRequest& req);
  net::HttpResponse HandleStats(const net::HttpRequest& req);

 private:
  void Count(const std::string& type, bool accepted, int64_t n = 1);
  GatewayOptions options_;
  IngestCore& core_;
  const privacy::Deidentifier& deid_;
  int64_t started_us_;
  std::mutex mu_;
  std::map<std::string, int64_t> accepted_by_type_;
  int64_t accepted_ = 0;
  int64_t rejected_ = 0;
  int64_t alerts_ = 0;
};

}  // namespace ctml::ingest
