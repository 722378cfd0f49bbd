// Probes of the manager: HTTP GET/POST against a service on loopback, and opening a level-0
// store by its configured URI (via store/factory.h) followed by Ping().
//
//   int code = HttpGetStatus({"127.0.0.1", 8082}, "/health");       // 0 when unreachable
//   Status st = ProbeStore(*FindRow("event-log"), cfg);
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "ctml/core/config.h"
#include "ctml/core/status.h"
#include "ctml/manager/levels.h"

namespace ctml::manager {

struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // The service speaks HTTPS (`<section>.tls_cert_file` set). The manager has no TLS client, so
  // such a service is probed by a TCP connect: any probe that connects counts as status 200.
  bool tls = false;
};

// The service's host and port from config ("<section>.host", "<section>.port").
// The config key of the port a service answers /health on: `<key>.http_port` when the config
// has one (services whose own protocol is not HTTP, e.g. mllp), else `<key>.port`.
std::string HealthPortKey(const ServiceRow& row, const Config& cfg);
Endpoint ServiceEndpoint(const ServiceRow& row, const Config& cfg);
std::string BaseUrl(const Endpoint& ep);  // http://127.0.0.1:8082

// HTTP status of GET `target`, 0 when the service cannot be reached.
int HttpGetStatus(const Endpoint& ep, const std::string& target,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
// POSTs `body`; returns the HTTP status or the transport error.
Result<int> HttpPostStatus(const Endpoint& ep, const std::string& target, const std::string& body,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

// Opens the store of a level-0 row with its configured URI and pings it.
Status ProbeStore(const ServiceRow& row, const Config& cfg);

// The URI without user:password@ (for printing).
std::string RedactUri(const std::string& uri);

}  // namespace ctml::manager
