// The level/service table of the platform, as data: which services and stores each level has,
// the subcommand that runs them, the config keys of their ports or URIs and the topics they use.
//
//   for (const auto& row : ctml::manager::RowsInLevels(1, 4, ctml::manager::RowKind::kService))
//     Start(row.name, row.command, cfg.GetInt(row.port_key, 0));
//   const ServiceRow* serve = ctml::manager::FindRow("serve");   // nullptr when unknown
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ctml::manager {

constexpr int kMinLevel = 0;
constexpr int kMaxLevel = 4;

enum class RowKind {
  kStore,    // level 0: an embedded/distributed store, probed by opening its URI
  kService,  // a long-running process `ctml <command>` with /health and /metrics on its port
  kJob,      // a one-shot command (`ctml generate`, `ctml train`), not supervised
};

struct ServiceRow {
  int level = 0;
  RowKind kind = RowKind::kService;
  std::string name;        // "bronze-sink": pid file var/run/<name>.pid, log var/logs/<name>.log
  std::string command;     // subcommand of the ctml binary ("" for stores)
  std::string config_key;  // services: the section ("bronze_sink"); stores: the URI key
  bool has_ready = false;  // answers GET /ready (stores reachable, model loaded, ...)
  std::string consumes;    // topics/inputs, for the topology diagram and docs
  std::string produces;
  std::string description;
  std::string api;  // extra endpoints besides /health and /metrics, ';'-separated

  std::string PortKey() const { return config_key + ".port"; }
  std::string HostKey() const { return config_key + ".host"; }
};

// A consumer group that must have caught up with a topic before the pipeline counts as drained.
struct DrainCheck {
  std::string group;
  std::string topic;
};

// The topic the demo generator fills (through the gateway).
inline constexpr std::string_view kDemoTopic = "patient-vitals";
// The online-store view counted by the summary.
inline constexpr std::string_view kOnlineView = "clinical";
// Top-level lake folders counted by the summary.
const std::vector<std::string>& LakeFolders();
// Groups/topics checked after loading demo data (bronze-sink and process on the 7 raw topics,
// features on the 7 silver.<table> topics).
const std::vector<DrainCheck>& DrainChecks();

// Every row, ordered by level then start order.
const std::vector<ServiceRow>& ServiceTable();
// Title of a level ("infrastructure", "ingestion", ...); "" outside kMinLevel..kMaxLevel.
std::string_view LevelTitle(int level);
// Rows with from <= level <= to (in table order), optionally only of one kind.
std::vector<ServiceRow> RowsInLevels(int from, int to, std::optional<RowKind> kind = {});
// The row named `name`, or nullptr.
const ServiceRow* FindRow(std::string_view name);
// Parses "0".."4" or "all" (= kMaxLevel); nullopt otherwise.
std::optional<int> ParseLevel(std::string_view text);

}  // namespace ctml::manager
