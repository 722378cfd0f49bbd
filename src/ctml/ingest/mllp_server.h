// The HL7 v2 MLLP listener (Level 1): accepts ORU^R01 messages over MLLP, turns each into
// canonical lab_result events (ingest/hl7/oru.h), lands them through the IngestCore and answers
// an HL7 ACK: AA only after IngestCore::Submit succeeded, AE/AR with an ERR segment otherwise
// (docs/ingest/hl7-mllp.md). Boost.Asio C++20 coroutines inside mllp_server.cc; this header stays
// free of Boost. A small HttpServer beside it answers GET /health, /metrics and /stats.
//
//   CTML_ASSIGN_OR_RETURN(auto opts, MllpServerOptions::FromConfig(cfg));
//   IngestCore core(*event_log, meta_store.get());
//   MllpServer server(opts, core, deid);
//   CTML_RETURN_NOT_OK(server.Run());   // blocks until SIGTERM/SIGINT or Stop(); drains
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ctml/core/config.h"
#include "ctml/core/status.h"
#include "ctml/ingest/ingest_core.h"

namespace ctml::privacy {
class Deidentifier;
}

namespace ctml::ingest {

// IPv4 allow-list of addresses and CIDR blocks ("127.0.0.1", "10.0.0.0/8").
class IpAllowList {
 public:
  static Result<IpAllowList> Parse(const std::vector<std::string>& entries);
  // `address` in dotted form; IPv4-mapped IPv6 ("::ffff:10.1.2.3") counts as IPv4; anything
  // else (other IPv6, malformed) is not allowed.
  bool Allows(const std::string& address) const;
  size_t size() const { return blocks_.size(); }

 private:
  struct Block {
    uint32_t network = 0;
    uint32_t mask = 0;
  };
  std::vector<Block> blocks_;
};

struct MllpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 2575;  // 0 = pick a free port (see MllpServer::port())
  size_t max_frame_bytes = 1 << 20;
  std::vector<std::string> allow = {"127.0.0.1/32"};
  std::chrono::seconds idle_timeout{300};
  int threads = 2;
  bool handle_signals = true;
  std::string study_id = "UNKNOWN";
  // The side HTTP server (/health, /metrics, /stats); http_port 0 = a free port; disabled when
  // http_enabled is false.
  bool http_enabled = true;
  uint16_t http_port = 8086;

  // mllp.host, mllp.port, mllp.max_frame_bytes, mllp.allow (comma-joined list),
  // mllp.idle_timeout_seconds, mllp.threads, mllp.study_id, mllp.http_port. Invalid values give
  // kInvalid naming the key.
  static Result<MllpServerOptions> FromConfig(const Config& cfg);
};

// Counters since start (also exported as Prometheus metrics).
struct MllpStats {
  int64_t connections_accepted = 0;
  int64_t connections_denied = 0;  // peer not on the allow-list
  int64_t connections_open = 0;
  int64_t messages_accepted = 0;  // AA
  int64_t messages_rejected = 0;  // AE/AR for the message's content
  int64_t messages_failed = 0;    // AE 207: the ingestion core failed (sender retries)
  int64_t obx_landed = 0;         // lab_result events appended
  int64_t obx_skipped = 0;        // OBX of unsupported value types
  int64_t frames_oversize = 0;
  int64_t garbage_bytes = 0;  // bytes outside MLLP frames, discarded
  int64_t connections_closed_garbage = 0;
  std::string ToJson() const;
};

class MllpServer {
 public:
  // `core` and `deid` must outlive the server.
  MllpServer(MllpServerOptions options, IngestCore& core, const privacy::Deidentifier& deid);
  ~MllpServer();
  MllpServer(const MllpServer&) = delete;
  MllpServer& operator=(const MllpServer&) = delete;

  // Validates the allow-list, binds both listeners and serves on background threads.
  Status Start();
  // Start() then blocks until Stop() or a signal; open connections finish their current
  // message first.
  Status Run();
  void Stop();
  void Wait();
  uint16_t port() const;       // the bound MLLP port
  uint16_t http_port() const;  // the bound HTTP port (0 when disabled)
  MllpStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ctml::ingest
