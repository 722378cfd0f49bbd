// `ctml mllp`: the Level 1 HL7 v2 listener (ORU^R01 over MLLP, docs/ingest/hl7-mllp.md).
#include <CLI/CLI.hpp>

#include "ctml/cli/commands.h"
#include "ctml/cli/ingest_stores.h"
#include "ctml/core/log.h"
#include "ctml/ingest/mllp_server.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::cli {
namespace {

struct MllpArgs {
  int port = -1;       // -1: from config
  int http_port = -1;  // -1: from config
};

int RunMllp(const GlobalOptions& g, const MllpArgs& a) {
  const std::string cmd = "mllp";
  auto cfg = LoadConfig(g, "mllp");
  if (!cfg.ok()) {
    Fail(cmd, cfg.status());
    return kExitConfig;
  }
  auto opts = ingest::MllpServerOptions::FromConfig(*cfg);
  if (!opts.ok()) {
    Fail(cmd, opts.status());
    return kExitConfig;
  }
  if (a.port >= 0) opts->port = static_cast<uint16_t>(a.port);
  if (a.http_port >= 0) opts->http_port = static_cast<uint16_t>(a.http_port);
  auto deid = privacy::Deidentifier::FromConfig(*cfg);
  if (!deid.ok()) {
    Fail(cmd, deid.status());
    return kExitConfig;
  }
  auto stores = OpenIngestStores(*cfg);
  if (!stores.ok()) {
    Fail(cmd, stores.status());
    return kExitUnavailable;
  }
  ingest::MllpServer server(*opts, *stores->core, *deid);
  Status st = server.Run();
  if (!st.ok()) {
    Fail(cmd, st);
    return st.code() == StatusCode::kUnavailable ? kExitUnavailable
           : st.code() == StatusCode::kInvalid   ? kExitConfig
                                                 : kExitFailure;
  }
  ingest::MllpStats stats = server.stats();
  log::Info("mllp", "stopped",
            {{"messages_accepted", std::to_string(stats.messages_accepted)},
             {"messages_rejected", std::to_string(stats.messages_rejected)},
             {"obx_landed", std::to_string(stats.obx_landed)}});
  return kExitOk;
}

}  // namespace

void RegisterMllpCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto args = std::make_shared<MllpArgs>();
  auto* sub = app.add_subcommand(
      "mllp",
      "Level 1: HL7 v2 listener. Accepts ORU^R01 (v2.3-2.5.1) over MLLP on mllp.host:mllp.port "
      "(default 127.0.0.1:2575) from the addresses in mllp.allow; each numeric/string OBX becomes "
      "a lab_result event; answers ACK AA after the events are stored, AE/AR with an ERR segment "
      "otherwise. GET /health, /metrics, /stats on mllp.http_port (8086). Stops on SIGTERM.\n"
      "Exit: 0 stopped cleanly, 1 failure, 2 usage, 3 config error, 4 store or port "
      "unavailable.");
  sub->add_option("--port", args->port, "MLLP port (overrides mllp.port)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--http-port", args->http_port,
                  "HTTP port for /health, /metrics, /stats (overrides mllp.http_port)")
      ->check(CLI::Range(0, 65535));
  sub->callback([&g, exit_code, args] { *exit_code = RunMllp(g, *args); });
}

}  // namespace ctml::cli
