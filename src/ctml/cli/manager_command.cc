// `ctml manager`: the pipeline manager (wrapped by ./pipeline-manager.sh). See
// src/ctml/manager/options.h for the flags and manager.h for what each does.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>

#include "ctml/cli/commands.h"
#include "ctml/ingest/demo_ids.h"
#include "ctml/manager/manager.h"
#include "ctml/manager/options.h"

namespace ctml::cli {

void RegisterManagerCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  CLI::App* sub = app.add_subcommand(
      "manager",
      "Start, stop, probe and tail the platform's services by level (./pipeline-manager.sh)");
  auto flags = std::make_shared<manager::ManagerFlags>();
  manager::AddManagerFlags(sub, flags.get());
  sub->footer(
      "Examples:\n"
      "  ctml manager --start --level 4     start everything, load demo data, train, serve\n"
      "  ctml manager -s -h --level 4       summary and health\n"
      "  ctml manager --stop                stop levels 1-4\n"
      "Exit codes: 0 ok, 1 a service failed to start or is unhealthy, 2 usage, 3 config.");
  sub->callback([sub, flags, &g, exit_code] {
    auto options = manager::ValidateManagerFlags(*flags);
    if (!options.ok()) {
      *exit_code = Fail("manager", options.status());
      return;
    }
    if (options->Empty()) {
      std::cout << sub->help("ctml");
      *exit_code = kExitUsage;
      return;
    }
    auto cfg = LoadConfig(g, "manager");
    if (!cfg.ok()) {
      Fail("manager", cfg.status());
      *exit_code = kExitConfig;
      return;
    }
    manager::ManagerEnv env;
    env.config_path = cfg->path();
    env.demo_patient_id = [](uint64_t seed, int index) {
      return ingest::DemoPatientId(seed, index);
    };
    manager::Manager manager(*cfg, *options, env);
    *exit_code = manager.Run();
  });
}

}  // namespace ctml::cli
