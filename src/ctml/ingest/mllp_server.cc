// MllpServer: Boost.Asio C++20 coroutines. One acceptor coroutine on a control strand, one
// coroutine per connection on its own strand, an io_context run on `threads` threads (the same
// shape as net/http_server.cc).
//
// Per connection: read -> MllpDecoder -> for each complete frame parse/convert, Submit, write the
// framed ACK, in order. Graceful shutdown (Stop() or SIGTERM/SIGINT): the acceptor closes, idle
// connections are cancelled, a connection handling a read finishes its messages (ACKs written)
// and then closes; a drain coroutine waits up to kDrainTimeout before stopping the io_context.
#include "ctml/ingest/mllp_server.h"

#include <arpa/inet.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <csignal>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/core/time.h"
#include "ctml/ingest/hl7/mllp.h"
#include "ctml/ingest/hl7/oru.h"
#include "ctml/net/http.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kDrainTimeout{5};
constexpr std::chrono::seconds kWriteTimeout{30};
constexpr const char* kComponent = "mllp";

std::string Trimmed(std::string s) {
  size_t a = s.find_first_not_of(" \t");
  size_t b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::optional<uint32_t> ParseIpv4(const std::string& text) {
  in_addr addr{};
  if (inet_pton(AF_INET, text.c_str(), &addr) != 1) return std::nullopt;
  return ntohl(addr.s_addr);
}

CounterMetric& MessagesMetric(const char* outcome) {
  return Metrics().Counter("ctml_mllp_messages_total", "HL7 messages answered, by ACK code",
                           {{"outcome", outcome}});
}
CounterMetric& FramesRejectedMetric(const char* reason) {
  return Metrics().Counter("ctml_mllp_frames_rejected_total",
                           "MLLP frames or bytes rejected before parsing", {{"reason", reason}});
}
CounterMetric& ConnectionsMetric(const char* result) {
  return Metrics().Counter("ctml_mllp_connections_total", "MLLP connections, by result",
                           {{"result", result}});
}
GaugeMetric& OpenConnectionsMetric() {
  return Metrics().Gauge("ctml_mllp_connections_open", "MLLP connections open now");
}
CounterMetric& ObxMetric(const char* outcome) {
  return Metrics().Counter("ctml_mllp_obx_total", "OBX segments, landed or skipped",
                           {{"outcome", outcome}});
}

struct Connection {
  explicit Connection(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  bool busy = false;  // handling a read's messages; touched only on the connection's strand
};

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<IpAllowList> IpAllowList::Parse(const std::vector<std::string>& entries) {
  IpAllowList list;
  for (const auto& raw : entries) {
    std::string e = Trimmed(raw);
    if (e.empty()) continue;
    std::string addr = e;
    int bits = 32;
    if (size_t slash = e.find('/'); slash != std::string::npos) {
      addr = e.substr(0, slash);
      std::string len = e.substr(slash + 1);
      if (len.empty() || len.size() > 2 ||
          len.find_first_not_of("0123456789") != std::string::npos) {
        return Status::Invalid("allow-list entry '" + e + "' has a bad prefix length",
                               "mllp.allow");
      }
      bits = std::stoi(len);
      if (bits > 32) {
        return Status::Invalid("allow-list entry '" + e + "' has a bad prefix length",
                               "mllp.allow");
      }
    }
    auto ip = ParseIpv4(addr);
    if (!ip) {
      return Status::Invalid("allow-list entry '" + e + "' is not an IPv4 address or CIDR",
                             "mllp.allow");
    }
    uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    list.blocks_.push_back(Block{*ip & mask, mask});
  }
  return list;
}

bool IpAllowList::Allows(const std::string& address) const {
  std::string a = address;
  static const std::string kMapped = "::ffff:";
  if (a.size() > kMapped.size() && a.compare(0, kMapped.size(), kMapped) == 0) {
    a = a.substr(kMapped.size());
  }
  auto ip = ParseIpv4(a);
  if (!ip) return false;
  for (const auto& b : blocks_) {
    if ((*ip & b.mask) == b.network) return true;
  }
  return false;
}

Result<MllpServerOptions> MllpServerOptions::FromConfig(const Config& cfg) {
  MllpServerOptions o;
  o.host = cfg.GetString("mllp.host", o.host);
  int64_t port = cfg.GetInt("mllp.port", o.port);
  if (port < 0 || port > 65535) return Status::Invalid("mllp.port must be 0..65535", "mllp.port");
  o.port = static_cast<uint16_t>(port);
  int64_t http_port = cfg.GetInt("mllp.http_port", o.http_port);
  if (http_port < 0 || http_port > 65535) {
    return Status::Invalid("mllp.http_port must be 0..65535", "mllp.http_port");
  }
  o.http_port = static_cast<uint16_t>(http_port);
  int64_t max_frame = cfg.GetInt("mllp.max_frame_bytes", static_cast<int64_t>(o.max_frame_bytes));
  if (max_frame < 1024 || max_frame > (int64_t{64} << 20)) {
    return Status::Invalid("mllp.max_frame_bytes must be 1024..67108864", "mllp.max_frame_bytes");
  }
  o.max_frame_bytes = static_cast<size_t>(max_frame);
  int64_t idle = cfg.GetInt("mllp.idle_timeout_seconds", o.idle_timeout.count());
  if (idle < 1 || idle > 86400) {
    return Status::Invalid("mllp.idle_timeout_seconds must be 1..86400",
                           "mllp.idle_timeout_seconds");
  }
  o.idle_timeout = std::chrono::seconds(idle);
  int64_t threads = cfg.GetInt("mllp.threads", o.threads);
  if (threads < 1 || threads > 64)
    return Status::Invalid("mllp.threads must be 1..64", "mllp.threads");
  o.threads = static_cast<int>(threads);
  o.study_id = cfg.GetString("mllp.study_id", o.study_id);
  if (o.study_id.empty()) o.study_id = "UNKNOWN";
  if (o.study_id.size() > 64) {
    return Status::Invalid("mllp.study_id is longer than 64 characters", "mllp.study_id");
  }
  if (cfg.Has("mllp.allow")) {
    o.allow.clear();
    std::string list = cfg.GetString("mllp.allow");
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      std::string item = Trimmed(
          list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (!item.empty()) o.allow.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (o.allow.empty()) {
    return Status::Invalid("mllp.allow must list at least one address or CIDR", "mllp.allow");
  }
  CTML_RETURN_NOT_OK(IpAllowList::Parse(o.allow).status());
  return o;
}

std::string MllpStats::ToJson() const {
  Json j = {{"connections_accepted", connections_accepted},
            {"connections_denied", connections_denied},
            {"connections_open", connections_open},
            {"messages_accepted", messages_accepted},
            {"messages_rejected", messages_rejected},
            {"messages_failed", messages_failed},
            {"obx_landed", obx_landed},
            {"obx_skipped", obx_skipped},
            {"frames_oversize", frames_oversize},
            {"garbage_bytes", garbage_bytes},
            {"connections_closed_garbage", connections_closed_garbage}};
  return j.dump();
}

// ---------------------------------------------------------------------------------------------

struct MllpServer::Impl {
  Impl(MllpServerOptions o, IngestCore& c, const privacy::Deidentifier& d)
      : opts(std::move(o)),
        core(c),
        deid(d),
        ioc(std::max(1, opts.threads)),
        ctrl(asio::make_strand(ioc)) {}

  MllpServerOptions opts;
  IngestCore& core;
  const privacy::Deidentifier& deid;
  IpAllowList allow;
  std::mutex submit_mu;  // one Submit at a time: keeps each batch's audit record in order

  struct Counters {
    std::atomic<int64_t> connections_accepted{0}, connections_denied{0}, connections_open{0},
        messages_accepted{0}, messages_rejected{0}, messages_failed{0}, obx_landed{0},
        obx_skipped{0}, frames_oversize{0}, garbage_bytes{0}, connections_closed_garbage{0};
  } counters;

  // Declared before ioc: coroutine frames destroyed with the io_context may still touch these.
  std::mutex mu;
  std::set<std::shared_ptr<Connection>> conns;

  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> ctrl;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::signal_set> signals;
  std::unique_ptr<net::HttpServer> http;
  std::vector<std::thread> threads;
  std::mutex start_mu;
  std::mutex join_mu;
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::atomic<uint16_t> port{0};

  MllpStats Stats() const {
    MllpStats s;
    s.connections_accepted = counters.connections_accepted.load();
    s.connections_denied = counters.connections_denied.load();
    s.connections_open = counters.connections_open.load();
    s.messages_accepted = counters.messages_accepted.load();
    s.messages_rejected = counters.messages_rejected.load();
    s.messages_failed = counters.messages_failed.load();
    s.obx_landed = counters.obx_landed.load();
    s.obx_skipped = counters.obx_skipped.load();
    s.frames_oversize = counters.frames_oversize.load();
    s.garbage_bytes = counters.garbage_bytes.load();
    s.connections_closed_garbage = counters.connections_closed_garbage.load();
    return s;
  }

  // Parses, lands and answers one message; returns the ACK (unframed). Never throws.
  std::string HandleMessage(const std::string& text, const std::string& peer_ip) {
    const int64_t now = NowMicros();
    hl7::Hl7Outcome out =
        hl7::ProcessHl7(text, deid, hl7::OruOptions{.study_id = opts.study_id}, now);
    BatchInfo info;
    info.source = "hl7";
    info.actor = "mllp:" + peer_ip;
    std::string type = out.header.message_type.empty() ? "HL7" : out.header.message_type;
    info.object = type + " " + out.header.control_id.substr(0, 64);
    std::optional<hl7::Hl7Error> error = out.error;
    hl7::AckCode code = out.ack;
    if (code == hl7::AckCode::kAA) {
      Result<SubmitResult> r = Status::Internal("not submitted");
      {
        std::lock_guard lk(submit_mu);
        try {
          r = core.Submit(out.events, info);
        } catch (...) {
          r = Status::Internal("ingestion core threw");
        }
      }
      if (r.ok()) {
        counters.messages_accepted++;
        counters.obx_landed += static_cast<int64_t>(out.events.size());
        counters.obx_skipped += out.obx_skipped;
        ObxMetric("landed").Inc(static_cast<double>(out.events.size()));
        ObxMetric("skipped").Inc(static_cast<double>(out.obx_skipped));
        log::Info(kComponent, "message accepted",
                  {{"peer", peer_ip},
                   {"events", std::to_string(out.events.size())},
                   {"obx_skipped", std::to_string(out.obx_skipped)}});
      } else {
        counters.messages_failed++;
        code = hl7::AckCode::kAE;
        error = hl7::Hl7Error{hl7::kApplicationInternalError,
                              "",
                              0,
                              0,
                              "INTERNAL",
                              "message could not be stored now; send it again"};
        log::Warn(kComponent, "submit failed",
                  {{"peer", peer_ip}, {"code", StatusCodeName(r.status().code())}});
      }
    } else {
      counters.messages_rejected++;
      info.rejected = 1;
      info.reject_reasons[error->reason] = 1;
      Status st;
      {
        std::lock_guard lk(submit_mu);
        try {
          st = core.RecordRejection(info);
        } catch (...) {
          st = Status::Internal("ingestion core threw");
        }
      }
      if (!st.ok()) {
        log::Warn(kComponent, "audit of rejection failed", {{"code", StatusCodeName(st.code())}});
      }
      log::Info(kComponent, "message rejected",
                {{"peer", peer_ip},
                 {"ack", hl7::AckCodeName(code)},
                 {"hl7_error", std::to_string(error->code)},
                 {"reason", error->reason},
                 {"segment", error->segment},
                 {"field", std::to_string(error->field)}});
    }
    MessagesMetric(hl7::AckCodeName(code)).Inc();
    return hl7::BuildAck(out.header, code, error ? &*error : nullptr, hl7::NewAckControlId(),
                         NowMicros());
  }

  // An oversize frame: an AR ACK when its MSH-10 could be read, else nullopt (close).
  std::optional<std::string> HandleOversize(const std::string& prefix, const std::string& peer_ip) {
    counters.frames_oversize++;
    FramesRejectedMetric("oversize").Inc();
    auto header = hl7::PeekHeader(prefix);
    BatchInfo info;
    info.source = "hl7";
    info.actor = "mllp:" + peer_ip;
    info.object = header ? (header->message_type.empty() ? "HL7" : header->message_type) + " " +
                               header->control_id.substr(0, 64)
                         : "MLLP frame";
    info.rejected = 1;
    info.reject_reasons["TOO_LARGE"] = 1;
    {
      std::lock_guard lk(submit_mu);
      Status st = core.RecordRejection(info);
      if (!st.ok()) {
        log::Warn(kComponent, "audit of rejection failed", {{"code", StatusCodeName(st.code())}});
      }
    }
    log::Warn(kComponent, "frame too large",
              {{"peer", peer_ip},
               {"limit", std::to_string(opts.max_frame_bytes)},
               {"answered", header ? "AR" : "close"}});
    if (!header) return std::nullopt;
    counters.messages_rejected++;
    MessagesMetric("AR").Inc();
    hl7::Hl7Error err{hl7::kApplicationInternalError,
                      "",
                      0,
                      0,
                      "TOO_LARGE",
                      "message exceeds " + std::to_string(opts.max_frame_bytes) +
                          " bytes (mllp.max_frame_bytes)"};
    return hl7::BuildAck(*header, hl7::AckCode::kAR, &err, hl7::NewAckControlId(), NowMicros());
  }

  asio::awaitable<bool> WriteFrame(const std::shared_ptr<Connection>& c, const std::string& ack) {
    std::string framed = hl7::MllpDecoder::Frame(ack);
    c->stream.expires_after(kWriteTimeout);
    auto [ec, n] = co_await asio::async_write(c->stream, asio::buffer(framed), kUseTuple);
    co_return !ec;
  }

  asio::awaitable<void> Session(std::shared_ptr<Connection> c, std::string peer_ip) {
    struct Unregister {
      Impl* impl;
      std::shared_ptr<Connection> c;
      ~Unregister() {
        impl->counters.connections_open--;
        OpenConnectionsMetric().Inc(-1);
        std::lock_guard lk(impl->mu);
        impl->conns.erase(c);
      }
    } unregister{this, c};

    hl7::MllpDecoder decoder(opts.max_frame_bytes);
    std::vector<hl7::MllpEvent> events;
    std::array<char, 16 * 1024> buf;
    bool open = true;
    while (open && !stopping.load()) {
      c->stream.expires_after(opts.idle_timeout);
      auto [ec, n] = co_await c->stream.async_read_some(asio::buffer(buf), kUseTuple);
      if (ec) break;  // closed by the peer, idle timeout, or shutdown
      c->busy = true;
      events.clear();
      decoder.Feed(std::string_view(buf.data(), n), &events);
      for (auto& e : events) {
        if (!open) break;
        switch (e.kind) {
          case hl7::MllpEvent::kMessage: {
            std::string ack = HandleMessage(e.data, peer_ip);
            open = co_await WriteFrame(c, ack);
            break;
          }
          case hl7::MllpEvent::kOversize: {
            auto ack = HandleOversize(e.data, peer_ip);
            if (ack) {
              open = co_await WriteFrame(c, *ack);
            } else {
              open = false;  // no control id to answer: close the connection
            }
            break;
          }
          case hl7::MllpEvent::kGarbage:
            counters.garbage_bytes += static_cast<int64_t>(e.bytes);
            FramesRejectedMetric("garbage").Inc();
            log::Warn(kComponent, "discarded bytes outside MLLP frames",
                      {{"peer", peer_ip}, {"bytes", std::to_string(e.bytes)}});
            break;
        }
      }
      c->busy = false;
      if (open && decoder.pending_garbage() > opts.max_frame_bytes) {
        counters.connections_closed_garbage++;
        counters.garbage_bytes += static_cast<int64_t>(decoder.pending_garbage());
        FramesRejectedMetric("garbage").Inc();
        log::Warn(kComponent, "closing connection that sends no MLLP frames",
                  {{"peer", peer_ip}, {"bytes", std::to_string(decoder.pending_garbage())}});
        open = false;
      }
    }
    if (open) {
      events.clear();
      decoder.Finish(&events);
      for (const auto& e : events) {
        counters.garbage_bytes += static_cast<int64_t>(e.bytes);
        FramesRejectedMetric("garbage").Inc();
      }
    }
    beast::error_code ec;
    c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c->stream.socket().close(ec);
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(asio::make_strand(ioc), kUseTuple);
      if (ec) {
        if (stopping.load() || ec == asio::error::operation_aborted || !acceptor->is_open()) {
          co_return;
        }
        log::Warn(kComponent, "accept failed", {{"error", ec.message()}});
        asio::steady_timer t(co_await asio::this_coro::executor);
        t.expires_after(std::chrono::milliseconds(50));
        co_await t.async_wait(kUseTuple);
        continue;
      }
      beast::error_code pec;
      auto ep = socket.remote_endpoint(pec);
      std::string peer_ip = pec ? std::string() : ep.address().to_string();
      if (pec || !allow.Allows(peer_ip)) {
        counters.connections_denied++;
        ConnectionsMetric("denied").Inc();
        log::Warn(kComponent, "connection refused: peer not in mllp.allow", {{"peer", peer_ip}});
        beast::error_code cec;
        socket.close(cec);
        continue;
      }
      socket.set_option(tcp::no_delay(true), pec);
      auto conn = std::make_shared<Connection>(std::move(socket));
      {
        std::lock_guard lk(mu);
        if (stopping.load()) co_return;
        conns.insert(conn);
      }
      counters.connections_accepted++;
      counters.connections_open++;
      ConnectionsMetric("accepted").Inc();
      OpenConnectionsMetric().Inc();
      asio::co_spawn(conn->stream.get_executor(), Session(conn, peer_ip), [](std::exception_ptr e) {
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
                  {{"open", std::to_string(open)}});
        break;
      }
      t.expires_after(std::chrono::milliseconds(20));
      co_await t.async_wait(kUseTuple);
    }
    ioc.stop();
  }

  void BeginShutdown() {
    if (stopping.exchange(true)) return;
    log::Info(kComponent, "stopping");
    if (http) http->Stop();
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
      return Status::FailedPrecondition("MLLP server already started or stopped");
    }
    CTML_ASSIGN_OR_RETURN(allow, IpAllowList::Parse(opts.allow));
    const std::string addr = opts.host + ":" + std::to_string(opts.port);
    beast::error_code ec;
    auto address = asio::ip::make_address(opts.host, ec);
    if (ec) return Status::Invalid("mllp.host must be an IP address", "mllp.host");
    tcp::endpoint endpoint(address, opts.port);
    acceptor.emplace(ctrl);
    auto fail = [&](const char* what) {
      Status st =
          Status::Unavailable(std::string("cannot ") + what + " " + addr + ": " + ec.message());
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

    if (opts.http_enabled) {
      net::ServerOptions hopts;
      hopts.host = opts.host;
      hopts.port = opts.http_port;
      hopts.service = "mllp";
      hopts.threads = 1;
      hopts.handle_signals = false;  // this server owns the signals and stops the HTTP side
      http = std::make_unique<net::HttpServer>(hopts);
      http->Route("GET", "/stats", [this](const net::HttpRequest&) {
        return net::HttpResponse::Json(200, Stats().ToJson());
      });
      http->Route("GET", "/health", [this](const net::HttpRequest&) {
        Json body = {{"status", stopping.load() ? "STOPPING" : "UP"},
                     {"service", "mllp"},
                     {"mllp_port", port.load()}};
        return net::HttpResponse::Json(stopping.load() ? 503 : 200, body.dump());
      });
      Status st = http->Start();
      if (!st.ok()) {
        beast::error_code ignored;
        acceptor->close(ignored);
        acceptor.reset();
        http.reset();
        return st;
      }
    }

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
              {{"addr", opts.host + ":" + std::to_string(port.load())},
               {"http_port", std::to_string(http ? http->port() : 0)},
               {"allow", std::to_string(allow.size()) + " entries"}});
    return Status::OK();
  }

  void Wait() {
    std::lock_guard lk(join_mu);
    bool joined = false;
    for (auto& t : threads) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) {
        t.join();
        joined = true;
      }
    }
    if (joined && stopping.load()) {
      // Handlers that became ready after the drain stopped the io_context (a connection accepted
      // just before the listener closed, a cancelled read) run once more so that their sockets
      // close now rather than when the server is destroyed.
      ioc.restart();
      ioc.poll();
    }
    if (http) http->Wait();
  }
};

MllpServer::MllpServer(MllpServerOptions options, IngestCore& core,
                       const privacy::Deidentifier& deid)
    : impl_(std::make_unique<Impl>(std::move(options), core, deid)) {}

MllpServer::~MllpServer() {
  Stop();
  Wait();
}

Status MllpServer::Start() { return impl_->Start(); }

Status MllpServer::Run() {
  CTML_RETURN_NOT_OK(impl_->Start());
  impl_->Wait();
  return Status::OK();
}

void MllpServer::Stop() {
  std::lock_guard lk(impl_->start_mu);
  if (!impl_->started.load()) {
    impl_->stopping.store(true);
    return;
  }
  impl_->BeginShutdown();
}

void MllpServer::Wait() { impl_->Wait(); }

uint16_t MllpServer::port() const { return impl_->port.load(); }

uint16_t MllpServer::http_port() const { return impl_->http ? impl_->http->port() : 0; }

MllpStats MllpServer::stats() const { return impl_->Stats(); }

}  // namespace ctml::ingest
