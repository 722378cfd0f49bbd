#include "ctml/process/stream_worker.h"

#include <atomic>
#include <thread>
#include <typeinfo>

#include "ctml/core/log.h"
#include "ctml/core/metrics.h"

namespace ctml::process {

Status RunStreamWorker(const StreamWorkerOptions& options, store::EventLog& log,
                       const BatchHandler& handler) {
  CTML_ASSIGN_OR_RETURN(auto consumer, log.Subscribe(options.group, options.topics));
  net::HttpServer server(options.http);
  CTML_RETURN_NOT_OK(server.Start());
  log::Info(options.service, "consuming",
            {{"group", options.group}, {"port", std::to_string(server.port())}});

  Labels labels = {{"service", options.service}};
  auto& records = Metrics().Counter("ctml_stream_records_total", "Records consumed", labels);
  auto& batches = Metrics().Counter("ctml_stream_batches_total", "Batches committed", labels);
  auto& errors = Metrics().Counter("ctml_stream_errors_total", "Failed batch attempts", labels);
  auto& latency = Metrics().Histogram("ctml_stream_batch_seconds", "Batch write time", labels);

  std::atomic<bool> stop{false};
  std::thread loop([&] {
    std::chrono::milliseconds backoff{200};
    while (!stop.load()) {
      auto batch = consumer->Poll(options.batch_records, options.poll);
      if (!batch.ok()) {
        errors.Inc();
        log::Warn(options.service, "poll failed", {{"error", batch.status().message()}});
        std::this_thread::sleep_for(backoff);
        continue;
      }
      if (batch->empty()) continue;
      auto t0 = std::chrono::steady_clock::now();
      Status st;
      try {
        st = handler(*batch);
      } catch (const std::exception& e) {
        // A handler bug must not kill the service: retried with backoff like any failure, and
        // visible in the log (the exception type only; its text may quote record bytes).
        st = Status::Internal(std::string("batch handler threw ") + typeid(e).name());
      }
      if (st.ok()) st = consumer->Commit(*batch);
      if (!st.ok()) {
        errors.Inc();
        log::Error(options.service, "batch failed; will retry",
                   {{"error", st.message()}, {"records", std::to_string(batch->size())}});
        // Back to the committed offsets before polling again: a consumer left after the failed
        // batch would skip it. Rewinding itself fails while the log is unreachable (Kafka
        // restarting): retry until it succeeds.
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
        for (Status rw = consumer->Rewind(); !rw.ok() && !stop.load(); rw = consumer->Rewind()) {
          errors.Inc();
          log::Warn(options.service, "rewind failed; will retry", {{"error", rw.message()}});
          std::this_thread::sleep_for(backoff);
          backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
        }
        continue;
      }
      if (options.after_commit) {
        Status ac = options.after_commit();
        if (!ac.ok())
          log::Warn(options.service, "after-commit step failed", {{"error", ac.message()}});
      }
      backoff = std::chrono::milliseconds(200);
      records.Inc(static_cast<double>(batch->size()));
      batches.Inc();
      latency.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  });
  server.Wait();  // returns on SIGTERM/SIGINT
  stop = true;
  loop.join();
  log::Info(options.service, "stopped");
  return Status::OK();
}

}  // namespace ctml::process
