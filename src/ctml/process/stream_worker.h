// The consume -> durable write -> commit loop shared by the streaming services (bronze-sink,
// process), with an HTTP server for /health and /metrics.
//
// Exactly-once effect: the handler makes a batch durable (files named after input offsets, so a
// replay overwrites), and only then are the offsets committed. A failing handler rewinds the
// consumer and retries with backoff; nothing is skipped.
//
//   StreamWorkerOptions o{.service = "process", .group = "process", .topics = {"patient-vitals"}};
//   CTML_RETURN_NOT_OK(RunStreamWorker(o, *log, [&](const auto& batch) { return Write(batch); }));
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/net/http.h"
#include "ctml/store/event_log.h"

namespace ctml::process {

struct StreamWorkerOptions {
  std::string service;
  std::string group;
  std::vector<std::string> topics;
  size_t batch_records = 2000;
  std::chrono::milliseconds poll{500};
  net::ServerOptions http;
  // Called after a batch's offsets are committed (e.g. BatchIntent::Committed); a failure is
  // logged and left to the next batch's recovery.
  std::function<Status()> after_commit;
};

using BatchHandler = std::function<Status(const std::vector<store::LogRecord>&)>;

// Blocks until SIGTERM/SIGINT; the batch in progress is finished and committed first.
Status RunStreamWorker(const StreamWorkerOptions& options, store::EventLog& log,
                       const BatchHandler& handler);

}  // namespace ctml::process
