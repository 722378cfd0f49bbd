// HttpClient: blocking calls over one keep-alive Beast tcp_stream. Every operation runs
// asynchronously on a private io_context (tcp_stream timeouts only apply to async operations)
// and the call waits for it, so each step is bounded by `timeout`.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "ctml/net/http.h"
#include "ctml/net/http_internal.h"

namespace ctml::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxResponseBody = 64u << 20;

}  // namespace

struct HttpClient::Impl {
  Impl(std::string h, uint16_t p, std::chrono::milliseconds t)
      : host(std::move(h)), port(p), timeout(t) {}

  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::vector<std::pair<std::string, std::string>> default_headers;

  std::string Addr() const { return host + ":" + std::to_string(port); }

  // Starts an async operation with a completion handler and runs the io_context until it is done.
  template <class StartOp>
  beast::error_code RunOp(StartOp&& start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  Status Failure(const char* what, const beast::error_code& ec) const {
    if (ec == beast::error::timeout) {
      return Status::Unavailable(std::string("timeout ") + what + " " + Addr() + " after " +
                                 std::to_string(timeout.count()) + " ms");
    }
    return Status::Unavailable(std::string("error ") + what + " " + Addr() + ": " + ec.message());
  }

  void Close() {
    if (stream) {
      beast::error_code ec;
      stream->socket().shutdown(tcp::socket::shutdown_both, ec);
      stream->socket().close(ec);
      stream.reset();
    }
    buffer.clear();
  }

  Status Connect() {
    Close();
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Status::Unavailable("cannot resolve " + Addr() + ": " + ec.message());
    stream.emplace(ioc);
    stream->expires_after(timeout);
    ec = RunOp([&](auto handler) { stream->async_connect(results, std::move(handler)); });
    if (ec) {
      Close();
      if (ec == beast::error::timeout) return Failure("connecting to", ec);
      return Status::Unavailable("cannot connect to " + Addr() + ": " + ec.message());
    }
    return Status::OK();
  }

  Result<ClientResponse> Request(const std::string& method, const std::string& target,
                                 const std::string& body, const std::string& content_type) {
    http::request<http::string_body> req;
    http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) {
      req.method_string(method);
    } else {
      req.method(verb);
    }
    req.target(target);
    req.version(11);
    req.set(http::field::host, Addr());
    req.set(http::field::user_agent, "ctml-http-client");
    for (const auto& [name, value] : default_headers) req.set(name, value);
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put ||
        verb == http::verb::patch) {
      if (!content_type.empty()) req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.keep_alive(true);
    req.prepare_payload();

    for (int attempt = 0;; ++attempt) {
      const bool reused = stream.has_value();
      if (!reused) CTML_RETURN_NOT_OK(Connect());
      // A reused connection may have been closed by the server while idle: retry once on a new
      // one when nothing of the response arrived.
      const bool may_retry = reused && attempt == 0;

      stream->expires_after(timeout);
      beast::error_code ec =
          RunOp([&](auto handler) { http::async_write(*stream, req, std::move(handler)); });
      if (ec) {
        Close();
        if (may_retry && ec != beast::error::timeout) continue;
        return Failure("writing to", ec);
      }

      http::response_parser<http::string_body> parser;
      parser.body_limit(kMaxResponseBody);
      stream->expires_after(timeout);
      ec = RunOp(
          [&](auto handler) { http::async_read(*stream, buffer, parser, std::move(handler)); });
      if (ec) {
        const bool nothing = !parser.got_some();
        Close();
        if (may_retry && nothing && ec != beast::error::timeout) continue;
        return Failure("reading from", ec);
      }

      const auto& msg = parser.get();
      ClientResponse out;
      out.status = static_cast<int>(msg.result_int());
      for (const auto& field : msg) {
        std::string name = internal::ToLower(field.name_string());
        auto [it, inserted] = out.headers.emplace(name, std::string(field.value()));
        if (!inserted) it->second += ", " + std::string(field.value());
      }
      const bool keep_alive = msg.keep_alive();
      out.body = parser.release().body();
      if (!keep_alive) Close();
      return out;
    }
  }
};

HttpClient::HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(std::move(host), port, timeout)) {}

HttpClient::~HttpClient() {
  if (impl_) impl_->Close();
}

Result<ClientResponse> HttpClient::Get(const std::string& target) {
  return impl_->Request("GET", target, "", "");
}

Result<ClientResponse> HttpClient::Post(const std::string& target, const std::string& body,
                                        const std::string& content_type) {
  return impl_->Request("POST", target, body, content_type);
}

Result<ClientResponse> HttpClient::Request(const std::string& method, const std::string& target,
                                           const std::string& body,
                                           const std::string& content_type) {
  return impl_->Request(method, target, body, content_type);
}

void HttpClient::SetDefaultHeader(const std::string& name, const std::string& value) {
  auto& headers = impl_->default_headers;
  for (auto& [n, v] : headers) {
    if (internal::ToLower(n) == internal::ToLower(name)) {
      v = value;
      return;
    }
  }
  headers.emplace_back(name, value);
}

}  // namespace ctml::net
