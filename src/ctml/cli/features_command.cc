// `ctml features`: Level 3 feature materialization.
//   ctml features                                   streaming service (silver.<table> -> online)
//   ctml features --batch --date 2024-03-01         daily offline snapshot(s)
//   ctml features --batch --all
//   ctml features training-set --label ae_discontinuation_30d --grid visits|daily|1h
//                              [--from D] [--to D] [--strict] [--study STUDYID]
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <tuple>

#include "ctml/cli/commands.h"
#include "ctml/core/log.h"
#include "ctml/core/time.h"
#include "ctml/features/materializer.h"
#include "ctml/features/spec.h"
#include "ctml/features/training_set.h"
#include "ctml/net/http.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

struct FeaturesArgs {
  bool batch = false;
  bool all = false;
  std::string date;
  std::string label;
  bool strict = false;
  std::string grid = "visits";
  std::string from, to;
  std::string study;
  bool no_write = false;
  CLI::App* training_set = nullptr;
};

Result<uint16_t> Port(const Config& cfg, const std::string& key, int64_t fallback) {
  const int64_t p = cfg.GetInt(key, fallback);
  if (p < 0 || p > 65535) return Status::Invalid(key + " must be a port number", key);
  return static_cast<uint16_t>(p);
}

Status RunService(const Config& cfg, const features::FeatureSpec& spec) {
  CTML_ASSIGN_OR_RETURN(auto lake, store::OpenLake(cfg.GetString("lake.uri")));
  CTML_ASSIGN_OR_RETURN(auto online, store::OpenOnlineStore(cfg.GetString("online.uri")));
  CTML_ASSIGN_OR_RETURN(auto event_log, store::OpenEventLog(cfg.GetString("log.uri")));
  CTML_ASSIGN_OR_RETURN(uint16_t port, Port(cfg, "features.port", 8085));

  features::Materializer materializer(spec, *online);
  features::MaterializerOptions opts;
  opts.batch_records =
      static_cast<size_t>(std::max<int64_t>(1, cfg.GetInt("features.batch_records", 5000)));
  opts.poll = std::chrono::milliseconds(std::max<int64_t>(10, cfg.GetInt("features.poll_ms", 500)));
  opts.group = cfg.GetString("features.group", "features");

  std::atomic<bool> ready{false};
  net::ServerOptions so;
  so.host = cfg.GetString("features.host", "127.0.0.1");
  so.port = port;
  so.service = "features";
  net::HttpServer server(so);
  server.Route("GET", "/ready", [&](const net::HttpRequest&) {
    if (!ready.load()) {
      return net::HttpResponse::Error(503, "UNAVAILABLE", "rebuilding state from silver");
    }
    // Not ready while a store it reads or writes is down (it retries with backoff meanwhile).
    for (auto [what, st] :
         {std::pair{"event log", event_log->Ping()}, std::pair{"online store", online->Ping()},
          std::pair{"lake", lake->Ping()}}) {
      if (!st.ok()) {
        return net::HttpResponse::Error(503, "UNAVAILABLE",
                                        std::string(what) + ": " + st.message());
      }
    }
    return net::HttpResponse::Json(200, R"({"status":"ready"})");
  });
  server.Route("GET", "/stats", [&](const net::HttpRequest&) {
    const features::MaterializerStats s = materializer.stats();
    nlohmann::json body = {{"view", spec.view()},
                           {"spec_hash", spec.spec_hash()},
                           {"features", spec.names().size()},
                           {"ready", ready.load()},
                           {"subjects", s.subjects},
                           {"events", s.events},
                           {"duplicates", s.duplicates},
                           {"invalid", s.invalid},
                           {"vectors_written", s.vectors_written},
                           {"last_event_time_us", s.last_event_time_us}};
    return net::HttpResponse::Json(200, body.dump());
  });
  CTML_RETURN_NOT_OK(server.Start());
  log::Info("features", "listening",
            {{"host", so.host},
             {"port", std::to_string(server.port())},
             {"spec_hash", spec.spec_hash()}});

  std::atomic<bool> stop{false};
  Status consumer_status;
  std::thread consumer([&] {
    Status st = materializer.Rebuild(*lake);
    if (st.ok()) {
      ready.store(true);
      st = materializer.Run(*event_log, opts, stop);
    }
    if (!st.ok()) {
      consumer_status = st;
      server.Stop();  // a dead consumer must not look healthy
    }
  });
  server.Wait();  // returns on SIGTERM/SIGINT (or Stop above)
  stop.store(true);
  consumer.join();
  const features::MaterializerStats s = materializer.stats();
  log::Info("features", "stopped",
            {{"events", std::to_string(s.events)},
             {"vectors_written", std::to_string(s.vectors_written)}});
  return consumer_status;
}

Status RunBatch(const Config& cfg, const features::FeatureSpec& spec, const FeaturesArgs& a) {
  if (a.all == !a.date.empty()) {
    return Status::Invalid("--batch needs exactly one of --date YYYY-MM-DD or --all", "date");
  }
  CTML_ASSIGN_OR_RETURN(auto lake, store::OpenLake(cfg.GetString("lake.uri")));
  std::vector<std::string> dates;
  if (!a.all) dates.push_back(a.date);
  CTML_ASSIGN_OR_RETURN(
      auto report, features::WriteDailySnapshots(*lake, spec, dates, [](const std::string& line) {
        std::fprintf(stderr, "features --batch: %s\n", line.c_str());
      }));
  std::fprintf(stderr, "features --batch: wrote %zu file(s), %zu rows\n", report.paths.size(),
               report.rows);
  return Status::OK();
}

Status RunTrainingSet(const Config& cfg, const features::FeatureSpec& spec, const FeaturesArgs& a) {
  const std::string label = a.label.empty() ? cfg.GetString("train.label") : a.label;
  if (label.empty()) return Status::Invalid("--label is required", "label");
  features::TrainingSetOptions opts;
  CTML_RETURN_NOT_OK(features::ParseGrid(a.grid, &opts));
  for (auto [text, out, name] :
       {std::tuple{&a.from, &opts.from_us, "from"}, std::tuple{&a.to, &opts.to_us, "to"}}) {
    if (text->empty()) continue;
    auto t = ParseIso8601(*text);
    if (!t.ok()) {
      return Status::Invalid(std::string("--") + name + ": '" + *text +
                                 "' is not a date (YYYY-MM-DD) or ISO-8601 time",
                             name);
    }
    // A bare date as --to means its whole day.
    *out = (text->size() == 10 && std::string(name) == "to") ? *t + kMicrosPerDay - 1 : *t;
  }
  opts.strict = a.strict;
  opts.study = a.study;
  opts.write = !a.no_write;
  CTML_ASSIGN_OR_RETURN(auto lake, store::OpenLake(cfg.GetString("lake.uri")));
  CTML_ASSIGN_OR_RETURN(
      auto ts, features::BuildTrainingSet(*lake, spec, label, opts, [](const std::string& line) {
        std::fprintf(stderr, "features training-set: %s\n", line.c_str());
      }));
  std::fprintf(stderr,
               "features training-set: label=%s grid=%s examples=%zu positives=%zu subjects=%zu "
               "features=%zu (skipped grid points: %zu censored, %zu after the event) %s\n",
               label.c_str(), a.grid.c_str(), ts.rows, ts.positives, ts.subjects,
               ts.feature_names.size(), ts.censored, ts.after_terminal,
               ts.dataset_path.empty() ? "(not written)" : ts.dataset_path.c_str());
  std::printf("%s\n", ts.dataset_id.c_str());
  return Status::OK();
}

}  // namespace

void RegisterFeaturesCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto args = std::make_shared<FeaturesArgs>();
  CLI::App* cmd = app.add_subcommand(
      "features", "Level 3: materialize point-in-time features (streaming, --batch, training-set)");
  cmd->add_flag("--batch", args->batch, "Write daily offline snapshots instead of streaming");
  cmd->add_option("--date", args->date, "With --batch: the day to snapshot (YYYY-MM-DD)");
  cmd->add_flag("--all", args->all,
                "With --batch: every day with a Silver row (the days vectors change)");
  CLI::App* ts = cmd->add_subcommand("training-set", "Build a point-in-time training set");
  ts->add_option("--label", args->label, "Label name from the spec (default: train.label)");
  ts->add_flag("--strict", args->strict, "Also require received_at <= as_of for features");
  ts->add_option("--grid", args->grid,
                 "Example times per subject: visits (end of each day with vitals or labs), "
                 "daily, or a step such as 1h (default visits)");
  ts->add_option("--from", args->from, "First example time (YYYY-MM-DD or ISO-8601)");
  ts->add_option("--to", args->to, "Last example time (YYYY-MM-DD: that whole day)");
  ts->add_option("--study", args->study, "Only this study_id's Silver rows (default: all)");
  ts->add_flag("--no-write", args->no_write, "Compute and print the id without writing");
  args->training_set = ts;
  RegisterFeatureTools(cmd, g, exit_code);

  cmd->callback([&g, exit_code, args, cmd] {
    const bool training = args->training_set->parsed();
    for (const CLI::App* sub : cmd->get_subcommands()) {
      if (sub != args->training_set) return;  // a utility ran its own callback
    }
    const std::string name = training ? "features training-set" : "features";
    auto cfg = LoadConfig(g, "features");
    if (!cfg.ok()) {
      Fail(name, cfg.status());
      *exit_code = kExitConfig;
      return;
    }
    auto spec = features::FeatureSpec::Load(*cfg);
    if (!spec.ok()) {
      Fail(name, spec.status());
      *exit_code = kExitConfig;
      return;
    }
    Status st;
    if (training) {
      st = RunTrainingSet(*cfg, *spec, *args);
    } else if (args->batch) {
      st = RunBatch(*cfg, *spec, *args);
    } else if (!args->date.empty() || args->all) {
      st = Status::Invalid("--date/--all need --batch", "batch");
    } else {
      st = RunService(*cfg, *spec);
    }
    *exit_code = st.ok() ? kExitOk : Fail(name, st);
  });
}

}  // namespace ctml::cli
