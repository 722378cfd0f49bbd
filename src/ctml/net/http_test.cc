#include "ctml/net/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "ctml/core/json.h"
#include "ctml/core/metrics.h"
#include "ctml/net/http_internal.h"

namespace ctml::net {
namespace {

ServerOptions TestOptions(const std::string& service) {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.service = service;
  o.handle_signals = false;
  return o;
}

Json ParseBody(const ClientResponse& r) {
  auto doc = ParseJson(r.body);
  EXPECT_TRUE(doc.ok()) << r.body;
  return doc.ok() ? *doc : Json();
}

// Sends `raw` on a plain POSIX socket and returns everything the server sends until it closes.
std::string RawExchange(uint16_t port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    ADD_FAILURE() << "connect failed";
    return "";
  }
  size_t sent = 0;
  while (sent < raw.size()) {
    ssize_t n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

TEST(HttpInternal, SplitTargetDecodesPathAndQuery) {
  std::string path;
  std::map<std::string, std::string> q;
  internal::SplitTarget("/v1/a%20b?x=1&name=hello%20world&plus=a+b&flag&bad=%zz&x=2", &path, &q);
  EXPECT_EQ(path, "/v1/a b");
  EXPECT_EQ(q.at("x"), "2");
  EXPECT_EQ(q.at("name"), "hello world");
  EXPECT_EQ(q.at("plus"), "a b");
  EXPECT_EQ(q.at("flag"), "");
  EXPECT_EQ(q.at("bad"), "%zz");
  EXPECT_EQ(q.size(), 5u);

  q.clear();
  internal::SplitTarget("/plain", &path, &q);
  EXPECT_EQ(path, "/plain");
  EXPECT_TRUE(q.empty());
}

TEST(HttpResponse, ErrorMapsStatusCodes) {
  EXPECT_EQ(HttpResponse::Error(Status::Invalid("bad", "a.b")).status, 400);
  EXPECT_EQ(HttpResponse::Error(Status::NotFound("x")).status, 404);
  EXPECT_EQ(HttpResponse::Error(Status::FailedPrecondition("x")).status, 409);
  EXPECT_EQ(HttpResponse::Error(Status(StatusCode::kPayloadTooLarge, "x")).status, 413);
  EXPECT_EQ(HttpResponse::Error(Status::Unavailable("x")).status, 503);
  EXPECT_EQ(HttpResponse::Error(Status::IOError("x")).status, 500);
  EXPECT_EQ(HttpResponse::Error(Status::Internal("x")).status, 500);

  HttpResponse r = HttpResponse::Error(Status::Invalid("heart rate out of range", "vitals.hr"));
  EXPECT_EQ(r.content_type, "application/json");
  Json body = Json::parse(r.body);
  EXPECT_EQ(body["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(body["error"]["message"], "heart rate out of range");
  EXPECT_EQ(body["error"]["field"], "vitals.hr");
  EXPECT_TRUE(
      Json::parse(HttpResponse::Error(404, "NOT_FOUND", "m").body)["error"]["field"].is_null());
}

TEST(HttpServer, RoutesUnknownPathAndWrongMethod) {
  HttpServer server(TestOptions("route-test"));
  server.Route("GET", "/a", [](const HttpRequest&) { return HttpResponse::Text(200, "A"); });
  server.Route("POST", "/b", [](const HttpRequest&) { return HttpResponse::Json(201, "{}"); });
  ASSERT_TRUE(server.Start().ok());
  ASSERT_NE(server.port(), 0);
  HttpClient client("127.0.0.1", server.port());

  auto a = client.Get("/a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "A");
  EXPECT_EQ(a->headers.at("content-type"), "text/plain; charset=utf-8");

  auto b = client.Post("/b", "{}");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->status, 201);

  auto missing = client.Get("/nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(ParseBody(*missing)["error"]["code"], "NOT_FOUND");
  EXPECT_TRUE(ParseBody(*missing)["error"]["field"].is_null());

  auto wrong = client.Get("/b");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(ParseBody(*wrong)["error"]["code"], "METHOD_NOT_ALLOWED");
  EXPECT_EQ(wrong->headers.at("allow"), "POST");

  // Exact match only.
  auto trailing = client.Get("/a/");
  ASSERT_TRUE(trailing.ok());
  EXPECT_EQ(trailing->status, 404);
  server.Stop();
  server.Wait();
}

TEST(HttpServer, PrefixRoutesExactWinsThenLongestPrefix) {
  HttpServer server(TestOptions("prefix-test"));
  auto echo = [](const std::string& tag) {
    return [tag](const HttpRequest& req) { return HttpResponse::Text(200, tag + " " + req.path); };
  };
  server.RoutePrefix("GET", "/api/", echo("api"));
  server.RoutePrefix("GET", "/api/models/", echo("models"));
  server.RoutePrefix("POST", "/api/models/", echo("post"));
  server.Route("GET", "/api/models/special", echo("exact"));
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port());

  auto body = [&](const std::string& method, const std::string& target) {
    auto r = client.Request(method, target, "", "text/plain");
    EXPECT_TRUE(r.ok());
    return r.ok() ? std::to_string(r->status) + " " + r->body : std::string("error");
  };
  EXPECT_EQ(body("GET", "/api/models/special"), "200 exact /api/models/special");
  EXPECT_EQ(body("GET", "/api/models/m1/versions/2"), "200 models /api/models/m1/versions/2");
  EXPECT_EQ(body("POST", "/api/models/m1/aliases/x"), "200 post /api/models/m1/aliases/x");
  EXPECT_EQ(body("GET", "/api/runs/r1?x=1"), "200 api /api/runs/r1");
  EXPECT_EQ(body("GET", "/api/models/"), "200 models /api/models/");
  // The prefix itself without its trailing slash does not match it.
  EXPECT_EQ(body("GET", "/api"), "404 " + ErrorBody("NOT_FOUND", "no route for /api", ""));
  // The longest matching prefix decides the method: 405 names the allowed ones.
  auto wrong = client.Request("DELETE", "/api/models/m1", "", "text/plain");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->headers.at("allow"), "GET, POST");
  // Built-ins stay exact routes.
  auto health = client.Get("/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  server.Stop();
  server.Wait();
  // One metrics label per prefix, not per path.
  EXPECT_NE(Metrics().Exposition().find("path=\"/api/models/*\""), std::string::npos);
}

TEST(HttpServer, JsonEchoWithHeadersAndQuery) {
  HttpServer server(TestOptions("echo-test"));
  server.Route("POST", "/echo", [](const HttpRequest& req) {
    auto doc = ParseJson(req.body);
    if (!doc.ok()) return HttpResponse::Error(doc.status());
    Json out = {{"got", *doc},
                {"method", req.method},
                {"path", req.path},
                {"target", req.target},
                {"query", req.query},
                {"trace", req.Header("x-trace-id")},
                {"content_type", req.Header("content-type")}};
    return HttpResponse::Json(200, out.dump());
  });
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port());
  client.SetDefaultHeader("X-Trace-Id", "t-123");

  auto r = client.Post("/echo?study=S%201&site=A+B&empty", R"({"a":[1,2,{"b":"c"}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.at("content-type"), "application/json");
  Json body = ParseBody(*r);
  EXPECT_EQ(body["got"]["a"][2]["b"], "c");
  EXPECT_EQ(body["method"], "POST");
  EXPECT_EQ(body["path"], "/echo");
  EXPECT_EQ(body["target"], "/echo?study=S%201&site=A+B&empty");
  EXPECT_EQ(body["query"]["study"], "S 1");
  EXPECT_EQ(body["query"]["site"], "A B");
  EXPECT_EQ(body["query"]["empty"], "");
  EXPECT_EQ(body["trace"], "t-123");
  EXPECT_EQ(body["content_type"], "application/json");

  auto bad = client.Post("/echo", "{not json");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(ParseBody(*bad)["error"]["code"], "INVALID_ARGUMENT");
}

TEST(HttpServer, KeepAliveReusesOneConnectionAndHonoursClose) {
  HttpServer server(TestOptions("keepalive-test"));
  server.Route("GET", "/peer",
               [](const HttpRequest& req) { return HttpResponse::Text(200, req.peer); });
  server.Route("GET", "/bye", [](const HttpRequest& req) {
    HttpResponse r = HttpResponse::Text(200, req.peer);
    r.headers.emplace_back("Connection", "close");
    return r;
  });
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port());

  std::set<std::string> peers;
  for (int i = 0; i < 5; ++i) {
    auto r = client.Get("/peer");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->body.empty());
    peers.insert(r->body);
  }
  EXPECT_EQ(peers.size(), 1u) << "all requests should share one connection";

  auto bye = client.Get("/bye");
  ASSERT_TRUE(bye.ok());
  EXPECT_EQ(*peers.begin(), bye->body);
  auto after = client.Get("/peer");
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->body, bye->body) << "client must reconnect after Connection: close";

  // A raw HTTP/1.1 request with Connection: close gets one response and then EOF.
  std::string raw =
      RawExchange(server.port(), "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(raw.find("HTTP/1.1 200"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Connection: close"), std::string::npos) << raw;
}

TEST(HttpServer, ClientReconnectsAfterServerClosedIdleConnection) {
  ServerOptions o = TestOptions("idle-test");
  o.idle_timeout = std::chrono::seconds(1);
  HttpServer server(o);
  server.Route("GET", "/peer",
               [](const HttpRequest& req) { return HttpResponse::Text(200, req.peer); });
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port());
  auto first = client.Get("/peer");
  ASSERT_TRUE(first.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));  // let the idle timeout fire
  auto second = client.Get("/peer");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->status, 200);
  EXPECT_NE(first->body, second->body) << "expected a new connection";
}

TEST(HttpServer, BodyOverLimitIs413) {
  ServerOptions o = TestOptions("limit-test");
  o.max_body_bytes = 1024;
  HttpServer server(o);
  std::atomic<int> calls{0};
  server.Route("POST", "/in", [&](const HttpRequest& req) {
    calls++;
    return HttpResponse::Json(200, "{\"n\":" + std::to_string(req.body.size()) + "}");
  });
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port());

  auto ok = client.Post("/in", std::string(1024, 'x'), "text/plain");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);

  auto big = client.Post("/in", std::string(64 * 1024, 'x'), "text/plain");
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->status, 413);
  Json err = ParseBody(*big);
  EXPECT_EQ(err["error"]["code"], "PAYLOAD_TOO_LARGE");
  EXPECT_TRUE(err["error"]["field"].is_null());
  EXPECT_EQ(big->headers.at("connection"), "close");
  EXPECT_EQ(calls.load(), 1) << "the handler must not see an oversized body";

  // Chunked bodies have no Content-Length: the parser's limit catches them.
  std::string chunk(2000, 'y');
  char size_hex[16];
  std::snprintf(size_hex, sizeof(size_hex), "%zx", chunk.size());
  const std::string head = "POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string raw =
      RawExchange(server.port(), head + std::string(size_hex) + "\r\n" + chunk + "\r\n0\r\n\r\n");
  EXPECT_NE(raw.find("HTTP/1.1 413"), std::string::npos) << raw.substr(0, 200);
  EXPECT_NE(raw.find("PAYLOAD_TOO_LARGE"), std::string::npos);

  // The client carries on after the server closed the connection.
  auto again = client.Post("/in", "{}");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(calls.load(), 2);
}

TEST(HttpServer, MalformedRequestIs400) {
  HttpServer server(TestOptions("malformed-test"));
  ASSERT_TRUE(server.Start().ok());
  std::string raw = RawExchange(server.port(), "NOT AN HTTP REQUEST\r\n\r\n");
  EXPECT_NE(raw.find(" 400 "), std::string::npos) << raw;
  EXPECT_NE(raw.find("BAD_REQUEST"), std::string::npos) << raw;
}

TEST(HttpServer, HealthAndMetricsBuiltins) {
  // A fresh service label per run keeps the counts exact under --gtest_repeat.
  static int run = 0;
  const std::string service = "metrics-test-" + std::to_string(++run);
  HttpServer server(TestOptions(service));
  server.Route("GET", "/a", [](const HttpRequest&) { return HttpResponse::Text(200, "A"); });
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port());

  auto health = client.Get("/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  Json h = ParseBody(*health);
  EXPECT_EQ(h["status"], "UP");
  EXPECT_EQ(h["service"], service);

  ASSERT_TRUE(client.Get("/a?patient_id=SECRET-42").ok());
  ASSERT_TRUE(client.Get("/a").ok());
  ASSERT_TRUE(client.Get("/zzz-unknown-path").ok());

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->headers.at("content-type").rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& text = metrics->body;
  const std::string svc = "service=\"" + service + "\"";
  EXPECT_NE(text.find("ctml_http_requests_total{" + svc +
                      ",method=\"GET\",path=\"/a\",status=\"200\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ctml_http_requests_total{" + svc +
                      ",method=\"GET\",path=\"unmatched\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("ctml_http_request_duration_seconds_count{" + svc + ",path=\"/a\"} 2"),
            std::string::npos);
  EXPECT_EQ(text.find("SECRET-42"), std::string::npos) << "raw targets must not become labels";
  EXPECT_EQ(text.find("zzz-unknown-path"), std::string::npos);

  double before =
      Metrics()
          .Counter(
              "ctml_http_requests_total", "",
              {{"service", service}, {"method", "GET"}, {"path", "/health"}, {"status", "200"}})
          .Value();
  ASSERT_TRUE(client.Get("/health").ok());
  double after =
      Metrics()
          .Counter(
              "ctml_http_requests_total", "",
              {{"service", service}, {"method", "GET"}, {"path", "/health"}, {"status", "200"}})
          .Value();
  EXPECT_EQ(after, before + 1);
}

TEST(HttpServer, ServiceCanOverrideHealth) {
  HttpServer server(TestOptions("override-test"));
  server.Route("GET", "/health",
               [](const HttpRequest&) { return HttpResponse::Json(503, R"({"status":"DOWN"})"); });
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port());
  auto r = client.Get("/health");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(ParseBody(*r)["status"], "DOWN");
}

TEST(HttpServer, HandlerExceptionIs500WithoutLeakingText) {
  HttpServer server(TestOptions("throw-test"));
  server.Route("POST", "/boom", [](const HttpRequest& req) -> HttpResponse {
    throw std::runtime_error("bad record: " + req.body);
  });
  server.Route("GET", "/boom2", [](const HttpRequest&) -> HttpResponse { throw 42; });
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port());
  auto r = client.Post("/boom", R"({"patient_id":"PHI-SSN-123"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(ParseBody(*r)["error"]["code"], "INTERNAL");
  EXPECT_EQ(r->body.find("PHI-SSN-123"), std::string::npos);
  auto r2 = client.Get("/boom2");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->status, 500);
  // The connection survives a handler failure.
  auto health = client.Get("/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
}

TEST(HttpServer, StopDrainsInFlightRequestAndReturnsWithIdleClient) {
  HttpServer server(TestOptions("stop-test"));
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  server.Route("GET", "/slow", [&](const HttpRequest&) {
    std::unique_lock lk(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lk, [&] { return release; });
    return HttpResponse::Text(200, "done");
  });
  ASSERT_TRUE(server.Start().ok());
  uint16_t port = server.port();

  // An idle keep-alive client stays connected throughout.
  HttpClient idle("127.0.0.1", port);
  ASSERT_TRUE(idle.Get("/health").ok());

  auto slow = std::async(std::launch::async, [port] {
    HttpClient c("127.0.0.1", port);
    return c.Get("/slow");
  });
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return entered; });
  }
  server.Stop();
  {
    std::lock_guard lk(mu);
    release = true;
  }
  cv.notify_all();
  server.Wait();

  auto r = slow.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "done");
  EXPECT_EQ(r->headers.at("connection"), "close");

  auto refused = idle.Get("/health");
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
}

TEST(HttpServer, SigtermStopsRun) {
  ServerOptions o = TestOptions("signal-test");
  o.handle_signals = true;
  HttpServer server(o);
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port());
  ASSERT_TRUE(client.Get("/health").ok());
  std::raise(SIGTERM);
  server.Wait();  // returns only because the signal stopped the server
  EXPECT_FALSE(client.Get("/health").ok());
}

TEST(HttpServer, ConcurrentClients) {
  HttpServer server(TestOptions("concurrent-test"));
  std::atomic<int> handled{0};
  server.Route("POST", "/inc", [&](const HttpRequest& req) {
    handled++;
    return HttpResponse::Json(200, req.body);
  });
  ASSERT_TRUE(server.Start().ok());
  const uint16_t port = server.port();
  std::vector<std::future<int>> workers;
  for (int t = 0; t < 6; ++t) {
    workers.push_back(std::async(std::launch::async, [port, t] {
      HttpClient c("127.0.0.1", port);
      int ok = 0;
      for (int i = 0; i < 50; ++i) {
        std::string body = "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}";
        auto r = c.Post("/inc", body);
        if (r.ok() && r->status == 200 && r->body == body) ok++;
      }
      return ok;
    }));
  }
  int total = 0;
  for (auto& w : workers) total += w.get();
  EXPECT_EQ(total, 300);
  EXPECT_EQ(handled.load(), 300);
}

TEST(HttpServer, BindConflictIsUnavailableNamingAddress) {
  HttpServer first(TestOptions("bind-a"));
  ASSERT_TRUE(first.Start().ok());
  ServerOptions o = TestOptions("bind-b");
  o.port = first.port();
  HttpServer second(o);
  Status st = second.Start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("127.0.0.1:" + std::to_string(first.port())), std::string::npos)
      << st.message();
  EXPECT_FALSE(first.Start().ok()) << "second Start on the same server must fail";
}

TEST(HttpClient, ClosedPortIsUnavailable) {
  uint16_t port;
  {
    HttpServer server(TestOptions("closed-test"));
    ASSERT_TRUE(server.Start().ok());
    port = server.port();
  }  // destroyed: the port is closed now
  HttpClient client("127.0.0.1", port, std::chrono::milliseconds(2000));
  auto r = client.Get("/health");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.status().message();
}

TEST(HttpClient, TimeoutIsUnavailable) {
  HttpServer server(TestOptions("timeout-test"));
  std::promise<void> done;
  auto done_future = done.get_future().share();
  server.Route("GET", "/hang", [done_future](const HttpRequest&) {
    done_future.wait_for(std::chrono::seconds(10));
    return HttpResponse::Text(200, "late");
  });
  ASSERT_TRUE(server.Start().ok());
  HttpClient client("127.0.0.1", server.port(), std::chrono::milliseconds(200));
  auto r = client.Get("/hang");
  done.set_value();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("timeout"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace ctml::net

namespace ctml::net {
namespace {

TEST(HttpServerTls, MissingOrHalfConfiguredCertificateIsAClearError) {
  ServerOptions o;
  o.handle_signals = false;
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  HttpServer missing(o);
  Status st = missing.Start();
  EXPECT_EQ(st.code(), StatusCode::kInvalid);
  EXPECT_EQ(st.field(), "tls_cert_file");
  ServerOptions half;
  half.handle_signals = false;
  half.tls_cert_file = "/nonexistent/cert.pem";
  HttpServer h(half);
  EXPECT_EQ(h.Start().code(), StatusCode::kInvalid);
}

}  // namespace
}  // namespace ctml::net
