// `ctml gateway`: the Level 1 ingestion gateway (REST).
#include <CLI/CLI.hpp>

#include "ctml/cli/commands.h"
#include "ctml/cli/ingest_stores.h"
#include "ctml/core/log.h"
#include "ctml/ingest/fhir/fhir.h"
#include "ctml/ingest/gateway.h"
#include "ctml/net/auth.h"
#include "ctml/net/http.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::cli {
namespace {

int RunGateway(const GlobalOptions& g) {
  auto cfg = LoadConfig(g, "gateway");
  if (!cfg.ok()) {
    Fail("gateway", cfg.status());
    return kExitConfig;
  }
  auto deid = privacy::Deidentifier::FromConfig(*cfg);
  if (!deid.ok()) return Fail("gateway", deid.status());
  auto keys = net::ApiKeys::FromConfig(*cfg);
  if (!keys.ok()) return Fail("gateway", keys.status());
  auto stores = OpenIngestStores(*cfg);
  if (!stores.ok()) return Fail("gateway", stores.status());

  net::ServerOptions opts;
  opts.host = cfg->GetString("gateway.host", "127.0.0.1");
  opts.port = static_cast<uint16_t>(cfg->GetInt("gateway.port", 8082));
  opts.service = "gateway";
  opts.max_body_bytes = static_cast<size_t>(cfg->GetInt("gateway.max_body_bytes", 8 << 20));
  opts.threads = static_cast<int>(cfg->GetInt("gateway.threads", 2));
  opts.tls_cert_file = cfg->GetString("gateway.tls_cert_file");
  opts.tls_key_file = cfg->GetString("gateway.tls_key_file");
  // Not ready while a store it acknowledges into is down (clients get 503 and retry meanwhile).
  opts.ready = [&stores] { return stores->Ping(); };
  net::HttpServer server(opts);
  ingest::IngestCore& core = *stores->core;
  ingest::GatewayOptions gopts;
  gopts.max_json_depth = static_cast<int>(cfg->GetInt("gateway.max_json_depth", 32));
  gopts.max_batch_records = static_cast<size_t>(cfg->GetInt("gateway.max_batch_records", 10000));
  ingest::Gateway gateway(gopts, core, *deid);
  gateway.Register(server, *keys);
  ingest::fhir::FhirOptions fopts;
  fopts.study_id = cfg->GetString("fhir.study_id", "UNKNOWN");
  fopts.site_id = cfg->GetString("fhir.site_id", "UNKNOWN");
  fopts.max_json_depth = static_cast<int>(cfg->GetInt("fhir.max_json_depth", 64));
  fopts.max_entries = static_cast<size_t>(cfg->GetInt("fhir.max_entries", 10000));
  ingest::fhir::FhirEndpoint fhir(fopts, core, *deid);
  server.Route("POST", "/fhir/r4",
               keys->Guard("ingest", [&fhir](const auto& r) { return fhir.HandleBundle(r); }));
  server.Route("POST", "/fhir/r4/Observation",
               keys->Guard("ingest", [&fhir](const auto& r) { return fhir.HandleObservation(r); }));
  log::Info("gateway", "starting",
            {{"policy", privacy::PolicyName(deid->policy())},
             {"auth_required", keys->required() ? "true" : "false"},
             {"api_keys", std::to_string(keys->size())}});
  Status st = server.Run();
  if (!st.ok()) return Fail("gateway", st);
  log::Info("gateway", "stopped");
  return kExitOk;
}

}  // namespace

void RegisterGatewayCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub = app.add_subcommand("gateway",
                                 "Level 1: REST ingestion gateway (POST "
                                 "/api/clinical/data|validate|batch, /fhir/r4) on gateway.port");
  sub->callback([&g, exit_code] { *exit_code = RunGateway(g); });
}

}  // namespace ctml::cli
