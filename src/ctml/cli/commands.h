// Subcommand registration for the `ctml` binary. Each subcommand lives in its own
// <name>_command.cc and registers itself here; main.cc calls every Register* function.
//
// Exit codes (all commands): 0 success, 1 runtime failure, 2 usage error, 3 configuration
// error, 4 a store or service is unavailable.
#pragma once

#include <string>

#include "ctml/core/config.h"
#include "ctml/core/status.h"

namespace CLI {
class App;
}

namespace ctml::cli {

enum ExitCode {
  kExitOk = 0,
  kExitFailure = 1,
  kExitUsage = 2,
  kExitConfig = 3,
  kExitUnavailable = 4
};

struct GlobalOptions {
  std::string config_path;  // --config; "" = default search (see Config::Load)
  std::string log_level = "info";
};

// Loads the config named by the global options and initialises logging for `service`.
Result<Config> LoadConfig(const GlobalOptions& g, const std::string& service);
// Maps a failed status to an exit code and prints "ctml <cmd>: <message>" to stderr.
int Fail(const std::string& command, const Status& status);

void RegisterGatewayCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterGenerateCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterBronzeSinkCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterProcessCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterFeaturesCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterTrainCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterRegistryCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterServeCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterManagerCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterAuditCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterIngestTopicsCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterAuthCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterImportCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterMllpCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterLakeCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterBridgeCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
// The Level 3 utilities under `ctml features` (features_tools.cc).
void RegisterFeatureTools(CLI::App* features, GlobalOptions& g, int* exit_code);

}  // namespace ctml::cli
