// ctml: one binary, many services. `ctml --help` lists the subcommands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "ctml/cli/commands.h"
#include "ctml/core/log.h"

namespace ctml::cli {

Result<Config> LoadConfig(const GlobalOptions& g, const std::string& service) {
  CTML_ASSIGN_OR_RETURN(Config cfg, Config::Load(g.config_path));
  std::string level = g.log_level.empty() ? cfg.GetString("logging.level", "info") : g.log_level;
  log::Init(service, level);
  return cfg;
}

int Fail(const std::string& command, const Status& status) {
  std::fprintf(stderr, "ctml %s: %s\n", command.c_str(), status.ToString().c_str());
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalid:
      return kExitUsage;
    case StatusCode::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitFailure;
  }
}

}  // namespace ctml::cli

int main(int argc, char** argv) {
  using namespace ctml::cli;
  CLI::App app{"ctml - Clinical Trials MLOps Platform (one binary, many services)", "ctml"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ctml ") + CTML_VERSION);
  GlobalOptions g;
  g.log_level.clear();
  app.add_option("--config", g.config_path, "Config file (default: $CTML_CONFIG or ./ctml.yaml)")
      ->option_text("FILE");
  app.add_option("--log-level", g.log_level, "trace|debug|info|warn|error (default from config)");
  app.fallthrough();

  int exit_code = kExitOk;
  RegisterGatewayCommand(app, g, &exit_code);
  RegisterGenerateCommand(app, g, &exit_code);
  RegisterBronzeSinkCommand(app, g, &exit_code);
  RegisterProcessCommand(app, g, &exit_code);
  RegisterFeaturesCommand(app, g, &exit_code);
  RegisterTrainCommand(app, g, &exit_code);
  RegisterRegistryCommand(app, g, &exit_code);
  RegisterServeCommand(app, g, &exit_code);
  RegisterManagerCommand(app, g, &exit_code);
  RegisterAuditCommand(app, g, &exit_code);
  RegisterIngestTopicsCommand(app, g, &exit_code);
  RegisterAuthCommand(app, g, &exit_code);
  RegisterImportCommand(app, g, &exit_code);
  RegisterMllpCommand(app, g, &exit_code);
  RegisterLakeCommand(app, g, &exit_code);
  RegisterBridgeCommand(app, g, &exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}
