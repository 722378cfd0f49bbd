// HttpServer: Boost.Beast over Asio C++20 coroutines. One acceptor coroutine on a control strand,
// one coroutine per connection on its own strand, an io_context run on `threads` threads.
//
// Graceful shutdown (Stop() or SIGTERM/SIGINT): the acceptor closes, idle connections (waiting
// for the next request) are cancelled, busy connections finish their current response and then
// close; a drain coroutine waits up to kDrainTimeout for all connections before stopping the
// io_context, after which the worker threads return.
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <typeinfo>

#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/net/http.h"
#include "ctml/net/http_internal.h"

namespace ctml::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kHeaderLimit = 16 * 1024;
constexpr std::chrono::seconds kDrainTimeout{5};
constexpr std::chrono::seconds kIoTimeout{30};  // reading a body, writing a response
constexpr std::chrono::seconds kLingerTimeout{1};
constexpr const char* kComponent = "http";

struct Connection {
  template <class Socket>
  explicit Connection(Socket&& s) : stream(std::forward<Socket>(s)) {}
  beast::tcp_stream stream;
  bool busy = false;  // a request is being handled; touched only on the connection's strand
};

std::string MethodLabel(http::verb v) {
  switch (v) {
    case http::verb::get:
    case http::verb::post:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::patch:
    case http::verb::head:
    case http::verb::options:
      return std::string(http::to_string(v));
    default:
      return "OTHER";
  }
}

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(ServerOptions o)
      : opts(std::move(o)), ioc(std::max(1, opts.threads)), ctrl(asio::make_strand(ioc)) {}

  ServerOptions opts;
  std::map<std::string, std::map<std::string, Handler>> routes;
  std::map<std::string, std::map<std::string, Handler>> prefix_routes;  // prefix -> method -> h

  // Declared before ioc: coroutine frames destroyed with the io_context may still touch these.
  std::mutex mu;
  std::set<std::shared_ptr<Connection>> conns;

  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> ctrl;  // acceptor, signals, drain
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::ssl::context> tls;  // set when opts.tls_cert_file is given
  std::optional<asio::signal_set> signals;
  std::vector<std::thread> threads;
  std::mutex start_mu;
  std::mutex join_mu;
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::atomic<uint16_t> port{0};

  std::string Addr() const { return opts.host + ":" + std::to_string(opts.port); }

  void AddBuiltins() {
    if (!routes.count("/health")) {
      Json body = {{"status", "UP"}, {"service", opts.service}};
      std::string text = body.dump();
      routes["/health"]["GET"] = [text](const HttpRequest&) {
        return HttpResponse::Json(200, text);
      };
    }
    if (!routes.count("/ready") && opts.ready) {
      auto check = opts.ready;
      std::string service = opts.service;
      routes["/ready"]["GET"] = [check, service](const HttpRequest&) {
        Status st = check();
        if (st.ok()) {
          return HttpResponse::Json(200, Json{{"status", "READY"}, {"service", service}}.dump());
        }
        return HttpResponse::Json(
            503, Json{{"status", "NOT_READY"},
                      {"service", service},
                      {"error", {{"code", StatusCodeName(st.code())}, {"message", st.message()}}}}
                     .dump());
      };
    }
    if (!routes.count("/metrics")) {
      routes["/metrics"]["GET"] = [](const HttpRequest&) {
        HttpResponse r;
        r.status = 200;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = Metrics().Exposition();
        return r;
      };
    }
  }

  void Record(const std::string& method, const std::string& route, int status, double seconds) {
    Metrics()
        .Counter("ctml_http_requests_total", "HTTP requests served",
                 {{"service", opts.service},
                  {"method", method},
                  {"path", route},
                  {"status", std::to_string(status)}})
        .Inc();
    Metrics()
        .Histogram("ctml_http_request_duration_seconds", "HTTP request latency in seconds",
                   {{"service", opts.service}, {"path", route}})
        .Observe(seconds);
  }

  // The handlers for `path`: the exact route, else the longest matching prefix route. `route`
  // receives the metrics label ("unmatched", the path, or "<prefix>*" so that path parameters
  // do not multiply the label values).
  const std::map<std::string, Handler>* Match(const std::string& path, std::string* route) const {
    auto rit = routes.find(path);
    if (rit != routes.end()) {
      *route = rit->first;
      return &rit->second;
    }
    const std::map<std::string, Handler>* best = nullptr;
    size_t best_len = 0;
    for (const auto& [prefix, handlers] : prefix_routes) {
      if (path.starts_with(prefix) && (best == nullptr || prefix.size() > best_len)) {
        best = &handlers;
        best_len = prefix.size();
        *route = prefix + "*";
      }
    }
    if (best == nullptr) *route = "unmatched";
    return best;
  }

  // Runs the matching handler; never throws. `route` receives the metrics label.
  HttpResponse Dispatch(const HttpRequest& req, std::string* route) {
    const auto* handlers = Match(req.path, route);
    if (handlers == nullptr) {
      return HttpResponse::Error(404, "NOT_FOUND", "no route for " + req.path);
    }
    auto mit = handlers->find(req.method);
    if (mit == handlers->end()) {
      std::string allow;
      for (const auto& [m, h] : *handlers) allow += (allow.empty() ? "" : ", ") + m;
      HttpResponse r = HttpResponse::Error(405, "METHOD_NOT_ALLOWED",
                                           "method " + req.method + " not allowed on " + req.path);
      r.headers.emplace_back("Allow", allow);
      return r;
    }
    try {
      return mit->second(req);
    } catch (const std::exception& e) {
      // Never log e.what(): parse errors can quote request bytes.
      log::Error(kComponent, "handler threw",
                 {{"service", opts.service}, {"path", *route}, {"type", typeid(e).name()}});
    } catch (...) {
      log::Error(kComponent, "handler threw", {{"service", opts.service}, {"path", *route}});
    }
    return HttpResponse::Error(500, "INTERNAL", "internal server error");
  }

  asio::awaitable<void> Session(std::shared_ptr<Connection> c) {
    struct Unregister {
      Impl* impl;
      std::shared_ptr<Connection> c;
      ~Unregister() {
        std::lock_guard lk(impl->mu);
        impl->conns.erase(c);
      }
    } unregister{this, c};

    std::string peer;
    {
      beast::error_code pec;
      auto ep = c->stream.socket().remote_endpoint(pec);
      if (!pec) peer = ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    if (tls) {
      // TLS over the connection's tcp_stream, whose timeouts still bound every read and write.
      asio::ssl::stream<beast::tcp_stream&> s(c->stream, *tls);
      c->stream.expires_after(kIoTimeout);
      auto [hec] = co_await s.async_handshake(asio::ssl::stream_base::server, kUseTuple);
      if (!hec) co_await Serve(c, s, peer);
    } else {
      co_await Serve(c, c->stream, peer);
    }
    beast::error_code ec;
    c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c->stream.socket().close(ec);
  }

  // The request loop of one connection over `s` (the plain tcp_stream or a TLS stream on it).
  template <class Stream>
  asio::awaitable<void> Serve(const std::shared_ptr<Connection>& c, Stream& s,
                              const std::string& peer) {
    beast::flat_buffer buffer;
    while (!stopping.load()) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      // Checked by hand after the header (Beast would report a too-long Content-Length as a
      // header error); set for the body read below, where it catches chunked bodies.
      parser.body_limit((std::numeric_limits<std::uint64_t>::max)());
      c->stream.expires_after(opts.idle_timeout);
      auto [ec, n] = co_await http::async_read_header(s, buffer, parser, kUseTuple);
      if (ec) {
        if (IsHttpParseError(ec)) {
          c->busy = true;
          bool too_big = ec == http::error::header_limit;
          HttpResponse r = too_big ? HttpResponse::Error(431, "HEADERS_TOO_LARGE",
                                                         "request headers exceed the limit")
                                   : HttpResponse::Error(400, "BAD_REQUEST", "malformed request");
          co_await WriteResponse(c, s, std::move(r), 11, false);
          Record("OTHER", "unmatched", too_big ? 431 : 400, 0.0);
        }
        break;
      }
      c->busy = true;
      auto start = std::chrono::steady_clock::now();
      const auto& hdr = parser.get();
      const unsigned version = hdr.version();
      const bool client_keep_alive = hdr.keep_alive();
      HttpRequest req;
      req.method = std::string(hdr.method_string());
      req.target = std::string(hdr.target());
      internal::SplitTarget(req.target, &req.path, &req.query);
      req.peer = peer;
      const std::string method_label = MethodLabel(hdr.method());

      HttpResponse resp;
      std::string route;
      bool too_large = false;
      if (parser.content_length() && *parser.content_length() > opts.max_body_bytes) {
        too_large = true;
      } else {
        if (beast::iequals(hdr[http::field::expect], "100-continue")) {
          http::response<http::empty_body> cont{http::status::continue_, version};
          c->stream.expires_after(kIoTimeout);
          auto [cec, cn] = co_await http::async_write(s, cont, kUseTuple);
          if (cec) break;
        }
        parser.body_limit(opts.max_body_bytes);
        c->stream.expires_after(kIoTimeout);
        auto [rec, rn] = co_await http::async_read(s, buffer, parser, kUseTuple);
        if (rec == http::error::body_limit) {
          too_large = true;
        } else if (rec) {
          break;
        }
      }

      if (too_large) {
        (void)Match(req.path, &route);
        resp = HttpResponse::Error(
            413, "PAYLOAD_TOO_LARGE",
            "request body exceeds " + std::to_string(opts.max_body_bytes) + " bytes");
      } else {
        auto msg = parser.release();
        for (const auto& field : msg) {
          std::string name = internal::ToLower(field.name_string());
          auto [it, inserted] = req.headers.emplace(name, std::string(field.value()));
          if (!inserted) it->second += ", " + std::string(field.value());
        }
        req.body = std::move(msg.body());
        resp = Dispatch(req, &route);
      }

      const int status = resp.status;
      bool handler_close = false;
      for (const auto& [name, value] : resp.headers) {
        if (beast::iequals(name, "connection") && beast::iequals(value, "close")) {
          handler_close = true;
        }
      }
      const bool keep_alive = client_keep_alive && !too_large && !handler_close && !stopping.load();
      // Recorded before the write so that a client that has the response also sees it counted.
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      Record(method_label, route, status, seconds);
      beast::error_code wec = co_await WriteResponse(c, s, std::move(resp), version, keep_alive);
      c->busy = false;
      if (wec) break;
      if (too_large) {
        // Read (and drop) what the client is still sending so that closing does not reset the
        // connection before it has read the 413.
        beast::error_code sec;
        c->stream.socket().shutdown(tcp::socket::shutdown_send, sec);
        c->stream.expires_after(kLingerTimeout);
        std::array<char, 8192> junk;
        size_t drained = 0;
        while (drained < 4 * opts.max_body_bytes + (1 << 16)) {
          auto [dec, dn] = co_await s.async_read_some(asio::buffer(junk), kUseTuple);
          if (dec) break;
          drained += dn;
        }
        break;
      }
      if (!keep_alive) break;
    }
  }

  template <class Stream>
  asio::awaitable<beast::error_code> WriteResponse(const std::shared_ptr<Connection>& c, Stream& s,
                                                   HttpResponse r, unsigned version,
                                                   bool keep_alive) {
    http::response<http::string_body> res;
    res.version(version);
    res.result(static_cast<unsigned>(r.status));
    res.set(http::field::server, "ctml");
    if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) {
      if (!beast::iequals(name, "connection")) res.set(name, value);  // keep_alive() decides
    }
    res.body() = std::move(r.body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    c->stream.expires_after(kIoTimeout);
    auto [ec, n] = co_await http::async_write(s, res, kUseTuple);
    co_return ec;
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(asio::make_strand(ioc), kUseTuple);
      if (ec) {
        if (stopping.load() || ec == asio::error::operation_aborted || !acceptor->is_open()) {
          co_return;
        }
        log::Warn(kComponent, "accept failed",
                  {{"service", opts.service}, {"error", ec.message()}});
        asio::steady_timer t(co_await asio::this_coro::executor);
        t.expires_after(std::chrono::milliseconds(50));
        co_await t.async_wait(kUseTuple);
        continue;
      }
      auto conn = std::make_shared<Connection>(std::move(socket));
      {
        std::lock_guard lk(mu);
        if (stopping.load()) co_return;  // the socket closes with `conn`
        conns.insert(conn);
      }
      asio::co_spawn(conn->stream.get_executor(), Session(conn), [](std::exception_ptr e) {
        if (e) log::Error(kComponent, "connection coroutine failed");
      });
    }
  }

  asio::awaitable<void> Drain() {
    auto deadline = std::chrono::steady_clock::now() + kDrainTimeout;
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (;;) {
      size_t open;
      {
        std::lock_guard lk(mu);
        open = conns.size();
      }
      if (open == 0) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        log::Warn(kComponent, "drain timeout, closing connections",
                  {{"service", opts.service}, {"open", std::to_string(open)}});
        break;
      }
      t.expires_after(std::chrono::milliseconds(20));
      co_await t.async_wait(kUseTuple);
    }
    ioc.stop();
  }

  void BeginShutdown() {
    if (stopping.exchange(true)) return;
    log::Info(kComponent, "stopping", {{"service", opts.service}});
    asio::post(ctrl, [this] {
      beast::error_code ec;
      if (acceptor) acceptor->close(ec);
      if (signals) signals->cancel(ec);
    });
    {
      std::lock_guard lk(mu);
      for (const auto& c : conns) {
        asio::post(c->stream.get_executor(), [c] {
          if (!c->busy) c->stream.cancel();
        });
      }
    }
    asio::co_spawn(ctrl, Drain(), asio::detached);
  }

  Status Start() {
    std::lock_guard lk(start_mu);
    if (started.load() || stopping.load()) {
      return Status::FailedPrecondition("HTTP server already started or stopped");
    }
    AddBuiltins();
    if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
      if (opts.tls_cert_file.empty() || opts.tls_key_file.empty()) {
        return Status::Invalid("TLS needs both a certificate and a key file", "tls_cert_file");
      }
      boost::system::error_code tec;
      tls.emplace(asio::ssl::context::tls_server);
      tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1,
                       tec);
      if (!tec) tls->use_certificate_chain_file(opts.tls_cert_file, tec);
      if (tec) {
        tls.reset();
        return Status::Invalid(
            "cannot use TLS certificate " + opts.tls_cert_file + ": " + tec.message(),
            "tls_cert_file");
      }
      tls->use_private_key_file(opts.tls_key_file, asio::ssl::context::pem, tec);
      if (tec) {
        tls.reset();
        return Status::Invalid("cannot use TLS key " + opts.tls_key_file + ": " + tec.message(),
                               "tls_key_file");
      }
    }
    beast::error_code ec;
    tcp::endpoint endpoint;
    auto address = asio::ip::make_address(opts.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, opts.port);
    } else {
      tcp::resolver resolver(ioc);
      auto results = resolver.resolve(opts.host, std::to_string(opts.port), ec);
      if (ec || results.empty()) {
        return Status::Unavailable("cannot resolve " + Addr() + ": " + ec.message());
      }
      endpoint = results.begin()->endpoint();
    }
    acceptor.emplace(ctrl);
    auto fail = [&](const char* what) {
      Status st =
          Status::Unavailable(std::string("cannot ") + what + " " + Addr() + ": " + ec.message());
      beast::error_code ignored;
      acceptor->close(ignored);
      acceptor.reset();
      return st;
    };
    if (acceptor->open(endpoint.protocol(), ec)) return fail("open socket for");
    if (acceptor->set_option(asio::socket_base::reuse_address(true), ec)) return fail("configure");
    if (acceptor->bind(endpoint, ec)) return fail("bind");
    if (acceptor->listen(asio::socket_base::max_listen_connections, ec)) return fail("listen on");
    port.store(acceptor->local_endpoint(ec).port());

    if (opts.handle_signals) {
      signals.emplace(ctrl, SIGINT, SIGTERM);
      signals->async_wait([this](const beast::error_code& sec, int signo) {
        if (sec) return;
        log::Info(kComponent, "signal received", {{"signal", std::to_string(signo)}});
        BeginShutdown();
      });
    }
    asio::co_spawn(ctrl, Accept(), [](std::exception_ptr e) {
      if (e) log::Error(kComponent, "acceptor coroutine failed");
    });
    for (int i = 0; i < std::max(1, opts.threads); ++i) {
      threads.emplace_back([this] {
        try {
          ioc.run();
        } catch (const std::exception& e) {
          log::Error(kComponent, "io thread failed", {{"type", typeid(e).name()}});
        }
      });
    }
    started.store(true);
    log::Info(kComponent, "listening",
              {{"service", opts.service}, {"addr", opts.host + ":" + std::to_string(port.load())}});
    return Status::OK();
  }

  void Wait() {
    std::lock_guard lk(join_mu);
    for (auto& t : threads) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
  }
};

HttpServer::HttpServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() {
  Stop();
  Wait();
}

void HttpServer::Route(const std::string& method, const std::string& path, Handler handler) {
  impl_->routes[path][method] = std::move(handler);
}

void HttpServer::RoutePrefix(const std::string& method, const std::string& prefix,
                             Handler handler) {
  impl_->prefix_routes[prefix][method] = std::move(handler);
}

Status HttpServer::Start() { return impl_->Start(); }

Status HttpServer::Run() {
  CTML_RETURN_NOT_OK(impl_->Start());
  impl_->Wait();
  return Status::OK();
}

void HttpServer::Stop() {
  std::lock_guard lk(impl_->start_mu);  // orders Stop against a concurrent Start
  if (!impl_->started.load()) {
    impl_->stopping.store(true);
    return;
  }
  impl_->BeginShutdown();
}

void HttpServer::Wait() { impl_->Wait(); }

uint16_t HttpServer::port() const { return impl_->port.load(); }

}  // namespace ctml::net
