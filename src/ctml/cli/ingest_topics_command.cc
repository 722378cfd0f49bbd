// `ctml ingest-topics`: the existing stack's Kafka producers switch to ctml unchanged. Consumes
// their topics (patient-vitals, lab-results, medications, adverse-events) from the source
// EventLog `topics_in.uri`, turns each payload into a canonical, de-identified event through the
// ingestion core, and commits the source offsets only after the events are durable in ctml's
// EventLog. Rejected payloads are recorded on topic `ingest-rejected` with a reason (without the
// payload: it may hold PHI). docs/ingest/kafka-topics.md.
#include <CLI/CLI.hpp>

#include "ctml/cli/commands.h"
#include "ctml/cli/ingest_stores.h"
#include "ctml/core/log.h"
#include "ctml/ingest/topic_ingester.h"
#include "ctml/privacy/deidentifier.h"
#include "ctml/process/stream_worker.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

int RunIngestTopics(const GlobalOptions& g) {
  auto cfg = LoadConfig(g, "ingest-topics");
  if (!cfg.ok()) {
    Fail("ingest-topics", cfg.status());
    return kExitConfig;
  }
  std::string src_uri = cfg->GetString("topics_in.uri");
  std::string prefix = cfg->GetString("topics_in.prefix");
  if (src_uri.empty()) {
    Fail("ingest-topics",
         Status::Invalid("set topics_in.uri (or CTML_TOPICS_IN_URI) to the EventLog the existing "
                         "producers write to",
                         "topics_in.uri"));
    return kExitConfig;
  }
  if (src_uri == cfg->GetString("log.uri") && prefix.empty()) {
    Fail(
        "ingest-topics",
        Status::Invalid("topics_in.uri is ctml's own log.uri: the input topics would be ctml's "
                        "canonical topics; set topics_in.prefix (e.g. \"raw.\") or use another log",
                        "topics_in.prefix"));
    return kExitConfig;
  }
  auto deid = privacy::Deidentifier::FromConfig(*cfg);
  if (!deid.ok()) return Fail("ingest-topics", deid.status());
  auto src = store::OpenEventLog(src_uri);
  if (!src.ok()) return Fail("ingest-topics", src.status());
  auto stores = OpenIngestStores(*cfg);
  if (!stores.ok()) return Fail("ingest-topics", stores.status());
  ingest::IngestCore& core = *stores->core;

  process::StreamWorkerOptions o;
  o.service = "ingest-topics";
  o.group = cfg->GetString("topics_in.group", "ctml-ingest-topics");
  o.batch_records = static_cast<size_t>(cfg->GetInt("topics_in.batch_records", 2000));
  o.poll = std::chrono::milliseconds(cfg->GetInt("topics_in.poll_ms", 500));
  o.http.host = cfg->GetString("topics_in.host", "127.0.0.1");
  o.http.port = static_cast<uint16_t>(cfg->GetInt("topics_in.port", 0));
  o.http.service = "ingest-topics";
  ingest::TopicIngester ingester(core, *stores->log, *deid, prefix, o.group);
  o.topics = ingester.Topics();
  Status st =
      process::RunStreamWorker(o, **src, [&](const auto& batch) { return ingester.Handle(batch); });
  return st.ok() ? kExitOk : Fail("ingest-topics", st);
}

}  // namespace

void RegisterIngestTopicsCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub = app.add_subcommand(
      "ingest-topics",
      "Level 1: consume the existing stack's Kafka payloads (patient-vitals, lab-results, "
      "medications, adverse-events) from topics_in.uri into ctml's canonical topics");
  sub->callback([&g, exit_code] { *exit_code = RunIngestTopics(g); });
}

}  // namespace ctml::cli
