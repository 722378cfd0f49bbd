// `ctml generate`: the demo generator (see src/ctml/ingest/generator.h for the planted pattern).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "ctml/cli/commands.h"
#include "ctml/core/time.h"
#include "ctml/ingest/generator.h"

namespace ctml::cli {
namespace {

struct GenerateArgs {
  int patients = -1;
  double rate = -1;
  int hours = -1;
  int interval_minutes = -1;
  int64_t seed = -1;
  int batch = -1;
};

int RunGenerate(const GlobalOptions& g, const GenerateArgs& a) {
  auto cfg = LoadConfig(g, "generate");
  if (!cfg.ok()) {
    Fail("generate", cfg.status());
    return kExitConfig;
  }
  ingest::GeneratorOptions o;
  o.patients = a.patients > 0 ? a.patients : static_cast<int>(cfg->GetInt("demo.patients", 60));
  o.rate = a.rate >= 0 ? a.rate : cfg->GetDouble("demo.rate", 2000);
  o.hours = a.hours > 0 ? a.hours : static_cast<int>(cfg->GetInt("demo.hours", 96));
  o.interval_minutes = a.interval_minutes > 0
                           ? a.interval_minutes
                           : static_cast<int>(cfg->GetInt("demo.interval_minutes", 60));
  o.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed)
                       : static_cast<uint64_t>(cfg->GetInt("demo.seed", 7));
  o.host = cfg->GetString("gateway.host", "127.0.0.1");
  o.port = static_cast<uint16_t>(cfg->GetInt("gateway.port", 8082));
  o.batch = a.batch > 0 ? a.batch : static_cast<int>(cfg->GetInt("demo.batch", 100));
  if (const char* k = std::getenv("CTML_API_KEY"); k && *k) o.api_key = k;
  if (o.patients > 100000 || o.interval_minutes < 1) {
    return Fail("generate", Status::Invalid("--patients must be <= 100000 and "
                                            "--interval-minutes >= 1"));
  }
  auto readings = ingest::SimulateCohort(o, NowMicros());
  std::fprintf(stderr,
               "generate: %d patients, %d h of history every %d min: %zu records -> "
               "gateway %s:%u at %.0f/s\n",
               o.patients, o.hours, o.interval_minutes, readings.size(), o.host.c_str(), o.port,
               o.rate);
  auto report = ingest::PostReadings(o, readings, [](int64_t done, int64_t total) {
    std::fprintf(stderr, "generate: %lld/%lld records (%d%%)\n", static_cast<long long>(done),
                 static_cast<long long>(total), static_cast<int>(100 * done / total));
  });
  if (!report.ok()) return Fail("generate", report.status());
  std::fprintf(stderr, "generate: %lld accepted in %.1f s (%.0f records/s)\n",
               static_cast<long long>(report->accepted), report->seconds,
               report->seconds > 0 ? static_cast<double>(report->accepted) / report->seconds : 0);
  return kExitOk;
}

}  // namespace

void RegisterGenerateCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto a = std::make_shared<GenerateArgs>();
  auto* sub = app.add_subcommand(
      "generate",
      "Demo generator: post realistic vital signs with a planted early-warning "
      "pattern to the gateway (defaults from demo.* in the config; $CTML_API_KEY is sent "
      "as X-API-Key)");
  sub->add_option("--patients", a->patients, "Number of synthetic patients");
  sub->add_option("--rate", a->rate, "Records per second (0 = as fast as possible)");
  sub->add_option("--hours", a->hours, "Hours of history per patient, ending now");
  sub->add_option("--interval-minutes", a->interval_minutes, "Minutes between readings");
  sub->add_option("--batch", a->batch,
                  "Records per request (1 = POST /api/clinical/data; default demo.batch)");
  sub->add_option("--seed", a->seed, "Random seed (also determines the patient ids)");
  sub->callback([&g, a, exit_code] { *exit_code = RunGenerate(g, *a); });
}

}  // namespace ctml::cli
