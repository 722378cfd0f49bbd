// `ctml bridge`: the IBM MQ / AMQP 1.0 bridge (docs/ingest/amqp-bridge.md). Consumes the queues of
// bridge.queues from bridge.url into the ingestion core: a message is accepted only after its
// event is durable in the EventLog; invalid ones go to bridge.dead_letter_queue with the reason.
//
//   ctml bridge                       # run until SIGTERM/SIGINT
//   ctml bridge --check               # connect and open every queue; exit 0 ok, 4 unreachable,
//                                     # 2 refused (credentials, queue), 3 configuration
//   ctml bridge send --queue CLINICAL.PRIORITY --file msg.json [--lines] [--id-prefix t1-]
//   ctml bridge drain --queue CLINICAL.DLQ [--max 100] [--idle-ms 2000]   # JSON lines on stdout
//
// Credentials: CTML_AMQP_USER / CTML_AMQP_PASSWORD, else bridge.user and the file
// bridge.password_file (scripts/services/activemq.sh writes one). Never printed.
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "ctml/cli/commands.h"
#include "ctml/cli/ingest_stores.h"
#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/ingest/bridge/amqp_bridge.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::cli {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

struct BridgeArgs {
  bool check = false;
  std::string send_queue;
  std::string send_file;
  bool send_lines = false;
  std::string id_prefix;
  std::string drain_queue;
  int drain_max = 1000;
  int64_t drain_idle_ms = 2000;
};

Result<ingest::BridgeOptions> OptionsFromConfig(const Config& cfg) {
  ingest::BridgeOptions o;
  o.url = cfg.GetString("bridge.url", o.url);
  if (cfg.Has("bridge.queues")) o.queues = ingest::SplitQueueList(cfg.GetString("bridge.queues"));
  o.dead_letter_queue = cfg.GetString("bridge.dead_letter_queue", o.dead_letter_queue);
  o.credit = static_cast<int>(cfg.GetInt("bridge.credit", o.credit));
  if (o.credit < 1 || o.credit > 100000) {
    return Status::Invalid("bridge.credit must be between 1 and 100000", "bridge.credit");
  }
  if (o.queues.empty()) return Status::Invalid("bridge.queues is empty", "bridge.queues");
  if (o.url.rfind("amqp://", 0) != 0 && o.url.rfind("amqps://", 0) != 0) {
    return Status::Invalid("bridge.url must start with amqp:// or amqps://", "bridge.url");
  }
  const char* user = std::getenv("CTML_AMQP_USER");
  const char* password = std::getenv("CTML_AMQP_PASSWORD");
  o.user = user != nullptr ? user : cfg.GetString("bridge.user");
  if (password != nullptr) {
    o.password = password;
  } else if (!o.user.empty()) {
    std::string path = cfg.GetString("bridge.password_file");
    if (!path.empty()) {
      std::ifstream in(path);
      if (!in) {
        return Status::Invalid(
            "cannot read bridge.password_file " + path + " (or set CTML_AMQP_PASSWORD)",
            "bridge.password_file");
      }
      std::getline(in, o.password);
    }
  }
  return o;
}

int RunSend(const ingest::BridgeOptions& o, const BridgeArgs& a) {
  std::ifstream in(a.send_file, std::ios::binary);
  if (!in) return Fail("bridge send", Status::Invalid("cannot read " + a.send_file, "--file"));
  std::vector<std::pair<std::string, std::string>> msgs;
  if (a.send_lines) {
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      std::string id = a.id_prefix.empty() ? "" : a.id_prefix + std::to_string(msgs.size() + 1);
      msgs.emplace_back(id, line);
    }
  } else {
    std::stringstream ss;
    ss << in.rdbuf();
    msgs.emplace_back(a.id_prefix.empty() ? "" : a.id_prefix + "1", ss.str());
  }
  Status st = ingest::SendToQueue(o, a.send_queue, msgs);
  if (!st.ok()) return Fail("bridge send", st);
  std::printf("sent %zu message(s) to %s\n", msgs.size(), a.send_queue.c_str());
  return kExitOk;
}

int RunDrain(const ingest::BridgeOptions& o, const BridgeArgs& a) {
  auto msgs = ingest::DrainQueue(o, a.drain_queue, a.drain_max, a.drain_idle_ms);
  if (!msgs.ok()) return Fail("bridge drain", msgs.status());
  for (const auto& m : *msgs) {
    Json props = Json::object();
    for (const auto& [k, v] : m.properties) props[k] = v;
    Json j = {{"message_id", m.message_id}, {"properties", props}, {"body", m.body}};
    std::printf("%s\n", j.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
  }
  return kExitOk;
}

int RunBridgeCommand(const GlobalOptions& g, const BridgeArgs& a, bool send, bool drain) {
  const char* name = send ? "bridge send" : drain ? "bridge drain" : "bridge";
  auto cfg = LoadConfig(g, "bridge");
  if (!cfg.ok()) {
    Fail(name, cfg.status());
    return kExitConfig;
  }
  auto o = OptionsFromConfig(*cfg);
  if (!o.ok()) {
    Fail(name, o.status());
    return kExitConfig;
  }
  if (send) return RunSend(*o, a);
  if (drain) return RunDrain(*o, a);
  if (a.check) {
    Status st = ingest::CheckBridge(*o);
    if (!st.ok()) return Fail("bridge --check", st);
    std::printf("ok: %s reachable; queues %zu and dead-letter queue %s can be opened\n",
                ingest::RedactAmqpUrl(o->url).c_str(), o->queues.size(),
                o->dead_letter_queue.c_str());
    return kExitOk;
  }
  auto deid = privacy::Deidentifier::FromConfig(*cfg);
  if (!deid.ok()) return Fail(name, deid.status());
  auto stores = OpenIngestStores(*cfg);
  if (!stores.ok()) return Fail(name, stores.status());
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  log::Info("bridge", "starting",
            {{"url", ingest::RedactAmqpUrl(o->url)},
             {"queues", cfg->GetString("bridge.queues")},
             {"dead_letter_queue", o->dead_letter_queue}});
  ingest::BridgeCounters counters;
  Status st = ingest::RunBridge(*o, *stores->core, *deid, &g_stop, &counters);
  log::Info("bridge", "stopped",
            {{"received", std::to_string(counters.received)},
             {"accepted", std::to_string(counters.accepted)},
             {"dead_lettered", std::to_string(counters.dead_lettered)}});
  return st.ok() ? kExitOk : Fail(name, st);
}

}  // namespace

void RegisterBridgeCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto args = std::make_shared<BridgeArgs>();
  auto* sub = app.add_subcommand(
      "bridge",
      "IBM MQ / AMQP 1.0 bridge: consume bridge.queues (CLINICAL.VITAL.SIGNS, ...) into the "
      "ingestion core; accept after the durable write, dead-letter invalid messages with the "
      "reason (docs/ingest/amqp-bridge.md)");
  sub->add_flag("--check", args->check,
                "Connect, open every queue and the dead-letter queue, exit (0 ok, 4 broker "
                "unreachable, 2 refused: credentials or queue, 3 configuration)");
  auto* send = sub->add_subcommand(
      "send",
      "Test/operator tool: send the file (or each line with --lines) as durable "
      "messages to a queue; waits until the broker accepted them");
  send->add_option("--queue", args->send_queue, "Target queue")->required();
  send->add_option("--file", args->send_file, "Message body file (JSON)")->required();
  send->add_flag("--lines", args->send_lines, "One message per non-empty line");
  send->add_option("--id-prefix", args->id_prefix,
                   "AMQP message-id = prefix + 1-based message number (default: none)");
  auto* drain = sub->add_subcommand(
      "drain",
      "Test/operator tool: receive and REMOVE messages from a queue (e.g. the "
      "dead-letter queue), print them as JSON lines (message_id, ctml_* properties, "
      "body) on stdout; bodies are the sender's data and may hold PHI");
  drain->add_option("--queue", args->drain_queue, "Queue to drain")->required();
  drain->add_option("--max", args->drain_max, "At most this many messages (default 1000)");
  drain->add_option("--idle-ms", args->drain_idle_ms,
                    "Stop when no message arrived for this long (default 2000)");
  send->callback([&g, exit_code, args] { *exit_code = RunBridgeCommand(g, *args, true, false); });
  drain->callback([&g, exit_code, args] { *exit_code = RunBridgeCommand(g, *args, false, true); });
  sub->callback([&g, exit_code, args, send, drain] {
    if (send->parsed() || drain->parsed()) return;
    *exit_code = RunBridgeCommand(g, *args, false, false);
  });
}

}  // namespace ctml::cli
