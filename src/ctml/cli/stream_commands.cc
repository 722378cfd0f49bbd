// `ctml bronze-sink` and `ctml process`: the Level 2 streaming services.
#include <CLI/CLI.hpp>

#include "ctml/cli/commands.h"
#include "ctml/process/lake_writers.h"
#include "ctml/process/stream_worker.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

process::StreamWorkerOptions WorkerOptions(const Config& cfg, const std::string& section,
                                           const std::string& service) {
  process::StreamWorkerOptions o;
  o.service = service;
  o.group = service;
  o.topics = {"patient-vitals"};
  o.batch_records = static_cast<size_t>(cfg.GetInt(section + ".batch_records", 2000));
  o.poll = std::chrono::milliseconds(cfg.GetInt(section + ".poll_ms", 500));
  o.http.host = cfg.GetString(section + ".host", "127.0.0.1");
  o.http.port = static_cast<uint16_t>(cfg.GetInt(section + ".port", 0));
  o.http.service = service;
  return o;
}

int RunBronzeSink(const GlobalOptions& g) {
  auto cfg = LoadConfig(g, "bronze-sink");
  if (!cfg.ok()) {
    Fail("bronze-sink", cfg.status());
    return kExitConfig;
  }
  auto log = store::OpenEventLog(cfg->GetString("log.uri"));
  if (!log.ok()) return Fail("bronze-sink", log.status());
  auto lake = store::OpenLake(cfg->GetString("lake.uri"));
  if (!lake.ok()) return Fail("bronze-sink", lake.status());
  Status st = process::RunStreamWorker(
      WorkerOptions(*cfg, "bronze_sink", "bronze-sink"), **log,
      [&](const auto& batch) { return process::WriteBronze(**lake, "vital_signs", batch); });
  return st.ok() ? kExitOk : Fail("bronze-sink", st);
}

int RunProcess(const GlobalOptions& g) {
  auto cfg = LoadConfig(g, "process");
  if (!cfg.ok()) {
    Fail("process", cfg.status());
    return kExitConfig;
  }
  auto log = store::OpenEventLog(cfg->GetString("log.uri"));
  if (!log.ok()) return Fail("process", log.status());
  auto lake = store::OpenLake(cfg->GetString("lake.uri"));
  if (!lake.ok()) return Fail("process", lake.status());
  store::EventLog& event_log = **log;
  Status st = process::RunStreamWorker(
      WorkerOptions(*cfg, "process", "process"), event_log, [&](const auto& batch) -> Status {
        CTML_ASSIGN_OR_RETURN(auto standardized, process::WriteSilverVitals(**lake, batch));
        if (standardized.empty()) return Status::OK();
        std::vector<std::pair<std::string, std::string>> kvs;
        kvs.reserve(standardized.size());
        for (auto& s : standardized) kvs.emplace_back(std::move(s.subject_key), std::move(s.json));
        // Published after the Silver write and before the commit: a crash in between replays
        // the batch, and the features service drops the repeats by event_id.
        return event_log.AppendBatch("silver.vitals", kvs).status();
      });
  return st.ok() ? kExitOk : Fail("process", st);
}

}  // namespace

void RegisterBronzeSinkCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub = app.add_subcommand(
      "bronze-sink", "Level 2: topic patient-vitals -> bronze/vital_signs Parquet (immutable)");
  sub->callback([&g, exit_code] { *exit_code = RunBronzeSink(g); });
}

void RegisterProcessCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub =
      app.add_subcommand("process",
                         "Level 2: topic patient-vitals -> typed silver/vitals Parquet + topic "
                         "silver.vitals (standardized events for Level 3)");
  sub->callback([&g, exit_code] { *exit_code = RunProcess(g); });
}

}  // namespace ctml::cli
