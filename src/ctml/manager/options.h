// Flags of `ctml manager` (and of pipeline-manager.sh, which forwards them), parsed with CLI11
// and validated into ManagerOptions. `-h` means health here; help is `--help` only.
//
//   CLI::App* sub = app.add_subcommand("manager", "...");
//   ManagerFlags flags;
//   AddManagerFlags(sub, &flags);
//   ... after parsing:
//   CTML_ASSIGN_OR_RETURN(ManagerOptions opts, ValidateManagerFlags(flags));
#pragma once

#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace CLI {
class App;
}

namespace ctml::manager {

enum class Action { kNone, kStart, kStop, kRestartRebuild, kClean };
const char* ActionName(Action action);

// The composable views (-s -h -l -o -v -d); shared by the raw flags and the options.
struct ManagerViews {
  bool summary = false;
  bool health = false;
  bool logs = false;
  int log_lines = 20;
  bool urls = false;
  bool topology = false;
  bool demo = false;
};

// What a Level 3 utility flag holds when it was not given (given without a value: "").
inline constexpr const char* kNotGiven = "\x1f";

// Raw flag values as CLI11 fills them.
struct ManagerFlags : ManagerViews {
  // The Level 3 utilities (value optional except for --query-online-features).
  std::string compare_stores = kNotGiven;    // [DATE]
  std::string query_offline = kNotGiven;     // [DATE]
  std::string query_online = kNotGiven;      // PATIENT
  std::string monitor_features = kNotGiven;  // [DATE]
  std::string inspect_volume = kNotGiven;    // [NAME]
  bool start = false;
  bool stop = false;
  bool restart_rebuild = false;
  bool clean = false;
  bool all_data = false;
  std::string level = "all";
};

struct ManagerOptions : ManagerViews {
  Action action = Action::kNone;
  int level = 4;          // levels 0..level are selected
  bool all_data = false;  // --clean also deletes var/secrets/
  // Level 3 utilities to run after the views: the arguments of `ctml features ...` each.
  std::vector<std::vector<std::string>> feature_tools;

  // True when neither an action nor a view was asked for (the CLI prints --help then).
  bool Empty() const {
    return action == Action::kNone && !summary && !health && !logs && !urls && !topology && !demo &&
           feature_tools.empty();
  }
};

// Registers the flags on `app` (sets its help flag to --help only). `flags` must outlive parsing.
void AddManagerFlags(CLI::App* app, ManagerFlags* flags);

// Checks combinations: at most one action; --level 0..4 or "all"; -n >= 1; --all-data only with
// --clean. kInvalid (exit code 2) names the offending flag.
Result<ManagerOptions> ValidateManagerFlags(const ManagerFlags& flags);

}  // namespace ctml::manager
