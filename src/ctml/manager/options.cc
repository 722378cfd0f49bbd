#include "ctml/manager/options.h"

#include <CLI/CLI.hpp>
#include <utility>

#include "ctml/manager/levels.h"

namespace ctml::manager {

const char* ActionName(Action action) {
  switch (action) {
    case Action::kNone:
      return "none";
    case Action::kStart:
      return "start";
    case Action::kStop:
      return "stop";
    case Action::kRestartRebuild:
      return "restart-rebuild";
    case Action::kClean:
      return "clean";
  }
  return "?";
}

void AddManagerFlags(CLI::App* app, ManagerFlags* f) {
  app->set_help_flag("--help", "Print this help and exit");
  auto* actions = "Actions (at most one)";
  app->add_flag("--start", f->start,
                "Start levels 0..N (idempotent); at level 4 also load demo "
                "data, train the first model and make serving ready")
      ->group(actions);
  app->add_flag("--stop", f->stop, "Stop the services of levels 1..N (SIGTERM, then SIGKILL)")
      ->group(actions);
  app->add_flag("--restart-rebuild", f->restart_rebuild,
                "Stop levels 1..N, rebuild (scripts/build.sh), start levels 0..N")
      ->group(actions);
  app->add_flag("--clean", f->clean,
                "Stop everything and delete var/ data (keeps var/secrets/ unless --all-data)")
      ->group(actions);
  app->add_flag("--all-data", f->all_data, "With --clean: also delete var/secrets/ (privacy key)")
      ->group(actions);
  app->add_option("--level", f->level, "Level 0-4 or 'all' (default: all = 4)")
      ->option_text("N|all");
  auto* views = "Views (combinable, run after the action)";
  app->add_flag("-s,--summary", f->summary, "Summary: services, topics, lag, lake, registry")
      ->group(views);
  app->add_flag("-h,--health", f->health, "Health: probe services and stores (exit 1 if down)")
      ->group(views);
  app->add_flag("-l,--logs", f->logs, "Logs: last lines of each service log")->group(views);
  app->add_option("-n,--lines", f->log_lines, "Lines per log with -l (default 20)")
      ->group(views)
      ->option_text("N");
  app->add_flag("-o,--urls", f->urls, "URLs of the services")->group(views);
  app->add_flag("-v,--topology", f->topology, "Topology: levels, services, ports, topics")
      ->group(views);
  app->add_flag("-d,--demo", f->demo, "Sample payloads: gateway and /v1/predict curls")
      ->group(views);
  auto* tools = "Level 3 utilities (ctml features ...; use with --level 3)";
  app->add_option("--compare-stores", f->compare_stores,
                  "Online vs offline, per feature, every subject (exit 1 on any mismatch)")
      ->expected(0, 1)
      ->option_text("[DATE]")
      ->group(tools);
  app->add_option("--query-offline-features", f->query_offline,
                  "Rows of the offline snapshot of DATE (default: the latest)")
      ->expected(0, 1)
      ->option_text("[DATE]")
      ->group(tools);
  app->add_option("--query-online-features", f->query_online,
                  "The online vector of PATIENT (raw id; pseudonymized for the lookup)")
      ->option_text("PATIENT")
      ->group(tools);
  app->add_option("--monitor-feature-pipeline", f->monitor_features,
                  "Events in, features written, lag, freshness")
      ->expected(0, 1)
      ->option_text("[DATE]")
      ->group(tools);
  app->add_option("--inspect-feature-volume", f->inspect_volume,
                  "Files, partitions, sizes, row counts of the offline store and datasets")
      ->expected(0, 1)
      ->option_text("[NAME]")
      ->group(tools);
}

Result<ManagerOptions> ValidateManagerFlags(const ManagerFlags& f) {
  ManagerOptions o;
  int actions = 0;
  const std::pair<bool, Action> given[] = {{f.start, Action::kStart},
                                           {f.stop, Action::kStop},
                                           {f.restart_rebuild, Action::kRestartRebuild},
                                           {f.clean, Action::kClean}};
  for (const auto& [set, action] : given) {
    if (!set) continue;
    o.action = action;
    ++actions;
  }
  if (actions > 1) {
    return Status::Invalid("--start, --stop, --restart-rebuild and --clean are exclusive",
                           "action");
  }
  auto level = ParseLevel(f.level);
  if (!level) {
    return Status::Invalid(
        "--level must be 0-" + std::to_string(kMaxLevel) + " or 'all', got '" + f.level + "'",
        "--level");
  }
  o.level = *level;
  if (f.all_data && !f.clean) return Status::Invalid("--all-data needs --clean", "--all-data");
  if (f.log_lines < 1) return Status::Invalid("-n must be at least 1", "-n");
  o.all_data = f.all_data;
  static_cast<ManagerViews&>(o) = f;
  auto tool = [&](const std::string& value, const char* sub, const char* option) {
    if (value == kNotGiven) return;
    std::vector<std::string> args = {sub};
    if (!value.empty()) {
      // "--" first for a positional value, so an id that starts with '-' is not an option.
      args.push_back(option[0] != '\0' ? option : "--");
      args.push_back(value);
    }
    o.feature_tools.push_back(std::move(args));
  };
  if (f.query_online != kNotGiven && f.query_online.empty()) {
    return Status::Invalid("--query-online-features needs the patient id",
                           "--query-online-features");
  }
  tool(f.compare_stores, "compare-stores", "--date");
  tool(f.query_offline, "query-offline", "--date");
  tool(f.query_online, "query-online", "");
  tool(f.monitor_features, "monitor", "--date");
  tool(f.inspect_volume, "volume", "");
  return o;
}

}  // namespace ctml::manager
