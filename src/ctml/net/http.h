// HTTP/1.1 server and client (Boost.Beast + Asio C++20 coroutines inside http_server.cc and
// http_client.cc; this header stays free of Boost).
//
//   ctml::net::HttpServer server({.host = "127.0.0.1", .port = 8082, .service = "gateway"});
//   server.Route("POST", "/api/clinical/data", [&](const HttpRequest& req) {
//     return HttpResponse::Json(200, R"({"status":"SUCCESS"})");
//   });
//   CTML_RETURN_NOT_OK(server.Run());   // blocks until SIGTERM/SIGINT or Stop(); drains requests
//
// Every server answers GET /health and GET /metrics (Prometheus text of ctml::Metrics()) unless
// the service registers its own handler for them; errors are JSON bodies
// {"error":{"code","message","field"}}: unknown path 404, wrong method 405, body over the limit
// 413, handler exception 500.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::net {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // raw target, "/v1/predict?x=1"
  std::string path;                            // "/v1/predict"
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string peer;  // client "ip:port" (tells connections apart; not a patient identifier)
  // Who sent it, set by the API-key guard (net/auth.h): the key's id, or "anonymous" when
  // authentication is off. Never the key itself.
  std::string actor = "anonymous";
  std::string Header(const std::string& lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Json(int status, std::string body);
  static HttpResponse Text(int status, std::string body);
  // JSON error body; `status` maps from the code (kInvalid 400, kNotFound 404,
  // kPayloadTooLarge 413, kUnavailable 503, kFailedPrecondition 409, else 500).
  static HttpResponse Error(const Status& status);
  static HttpResponse Error(int http_status, const std::string& code, const std::string& message,
                            const std::string& field = "");
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;             // 0 = pick a free port (see HttpServer::port())
  std::string service = "ctml";  // label in metrics and logs
  size_t max_body_bytes = 1 << 20;
  int threads = 2;
  std::chrono::seconds idle_timeout{30};
  bool handle_signals = true;  // stop gracefully on SIGTERM/SIGINT
  // TLS (HTTPS) when both are set: PEM certificate chain and private key; TLS 1.2+ only.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Readiness: when set (and no handler is registered for /ready), GET /ready answers 200
  // {"status":"READY"} when it returns OK, else 503 {"status":"NOT_READY","error":{...}} (e.g. a
  // store the service writes to is down). /health stays liveness: the process answers.
  std::function<Status()> ready;
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers a handler for an exact path. Must be called before Start/Run.
  void Route(const std::string& method, const std::string& path, Handler handler);
  // Registers a handler for every path starting with `prefix` (e.g. "/api/v1/models/"); the
  // handler parses the rest of req.path. Exact routes win, then the longest matching prefix; a
  // path whose best prefix lacks the method is 405. Must be called before Start/Run.
  void RoutePrefix(const std::string& method, const std::string& prefix, Handler handler);

  // Binds and starts serving on background threads; returns once listening.
  Status Start();
  // Start() then blocks until Stop() or a signal; in-flight requests finish first.
  Status Run();
  void Stop();
  // Blocks until the server stopped (after Start()).
  void Wait();
  uint16_t port() const;  // the bound port (useful with port 0)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ClientResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// A blocking HTTP/1.1 client with one keep-alive connection (reconnects when the server closed
// it). Not thread-safe: one per thread.
class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<ClientResponse> Get(const std::string& target);
  Result<ClientResponse> Post(const std::string& target, const std::string& body,
                              const std::string& content_type = "application/json");
  Result<ClientResponse> Request(const std::string& method, const std::string& target,
                                 const std::string& body, const std::string& content_type);
  // Adds a header sent with every request (e.g. "X-API-Key"); replaces one of the same name.
  void SetDefaultHeader(const std::string& name, const std::string& value);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ctml::net
