// `ctml bronze-sink`, `ctml process` (streaming, --batch, report) and `ctml lake compact`: Level 2.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <map>

#include "ctml/cli/commands.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/process/batch_intent.h"
#include "ctml/process/compact.h"
#include "ctml/process/lake_writers.h"
#include "ctml/process/report.h"
#include "ctml/process/silver_writer.h"
#include "ctml/process/standards.h"
#include "ctml/process/stream_worker.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

process::StreamWorkerOptions WorkerOptions(const Config& cfg, const std::string& section,
                                           const std::string& service) {
  process::StreamWorkerOptions o;
  o.service = service;
  o.group = service;
  o.topics = process::RawTopics();
  o.batch_records = static_cast<size_t>(cfg.GetInt(section + ".batch_records", 2000));
  o.poll = std::chrono::milliseconds(cfg.GetInt(section + ".poll_ms", 500));
  o.http.host = cfg.GetString(section + ".host", "127.0.0.1");
  o.http.port = static_cast<uint16_t>(cfg.GetInt(section + ".port", 0));
  o.http.service = service;
  return o;
}

int RunBronzeSink(const GlobalOptions& g) {
  auto cfg = LoadConfig(g, "bronze-sink");
  if (!cfg.ok()) {
    Fail("bronze-sink", cfg.status());
    return kExitConfig;
  }
  auto log = store::OpenEventLog(cfg->GetString("log.uri"));
  if (!log.ok()) return Fail("bronze-sink", log.status());
  auto lake = store::OpenLake(cfg->GetString("lake.uri"));
  if (!lake.ok()) return Fail("bronze-sink", lake.status());
  auto options = WorkerOptions(*cfg, "bronze_sink", "bronze-sink");
  options.http.ready = [&log, &lake]() -> Status {
    CTML_RETURN_NOT_OK((*log)->Ping().WithContext("event log"));
    return (*lake)->Ping().WithContext("lake");
  };
  process::BatchIntent intent(**lake, **log, "bronze-sink", options.group);
  options.after_commit = [&] { return intent.Committed(); };
  Status st = process::RunStreamWorker(options, **log, [&](const auto& batch) -> Status {
    CTML_RETURN_NOT_OK(intent.Recover().status());
    CTML_RETURN_NOT_OK(intent.Begin(batch, process::BronzeFiles(batch)));
    return process::WriteBronze(**lake, batch);
  });
  return st.ok() ? kExitOk : Fail("bronze-sink", st);
}

struct ProcessArgs {
  bool batch = false;
  bool all = false;
  bool force = false;
  std::vector<std::string> dates;
  std::string report_date;
  bool report_json = false;
};

// A relative process.standards_dir is relative to the config file, like features.spec.
Result<process::Standards> LoadStandards(const Config& cfg) {
  std::filesystem::path p(cfg.GetString("process.standards_dir", "config/standards"));
  if (p.is_relative() && !cfg.dir().empty()) p = std::filesystem::path(cfg.dir()) / p;
  return process::Standards::Load(p.lexically_normal().string());
}

int RunProcessBatch(const Config& cfg, store::Lake& lake, const process::Standards& standards,
                    const ProcessArgs& args) {
  if (!args.force) {
    auto log = store::OpenEventLog(cfg.GetString("log.uri"));
    if (!log.ok()) return Fail("process --batch", log.status());
    Status safe = process::CheckRebuildSafe(**log, lake);
    if (!safe.ok()) return Fail("process --batch", safe);
  }
  process::SilverWriter writer(lake, standards);
  auto out = writer.RebuildFromBronze(args.all ? std::vector<std::string>{} : args.dates,
                                      [](const std::string& line) { std::cerr << line << "\n"; });
  if (!out.ok()) return Fail("process --batch", out.status());
  for (size_t t = 0; t < process::kTableCount; ++t) {
    const auto& c = out->counts[t];
    if (c.input_rows == 0) continue;
    std::cout << process::SilverSchemas()[t].name << ": " << c.input_rows << " input rows -> "
              << c.silver_rows << " silver, " << c.quarantined << " quarantined, " << c.duplicates
              << " duplicates\n";
  }
  return kExitOk;
}

int RunProcess(const GlobalOptions& g, const ProcessArgs& args) {
  auto cfg = LoadConfig(g, "process");
  if (!cfg.ok()) {
    Fail("process", cfg.status());
    return kExitConfig;
  }
  if (args.batch == (args.dates.empty() && !args.all)) {
    std::cerr << "ctml process: --batch needs --date D (repeatable) or --all, and --date/--all "
                 "need --batch\n";
    return kExitUsage;
  }
  auto standards = LoadStandards(*cfg);
  if (!standards.ok()) {
    Fail("process", standards.status());
    return kExitConfig;
  }
  auto lake = store::OpenLake(cfg->GetString("lake.uri"));
  if (!lake.ok()) return Fail("process", lake.status());
  if (args.batch) return RunProcessBatch(*cfg, **lake, *standards, args);

  auto log = store::OpenEventLog(cfg->GetString("log.uri"));
  if (!log.ok()) return Fail("process", log.status());
  store::EventLog& event_log = **log;
  auto options = WorkerOptions(*cfg, "process", "process");
  options.http.ready = [&log, &lake]() -> Status {
    CTML_RETURN_NOT_OK((*log)->Ping().WithContext("event log"));
    return (*lake)->Ping().WithContext("lake");
  };
  process::BatchIntent intent(**lake, event_log, "process", options.group);
  process::SilverWriter writer(**lake, *standards);
  options.after_commit = [&] { return intent.Committed(); };
  std::array<CounterMetric*, process::kTableCount * 4> counters{};
  for (size_t t = 0; t < process::kTableCount; ++t) {
    Labels l = {{"table", process::SilverSchemas()[t].name}};
    counters[t * 4] = &Metrics().Counter("ctml_process_input_rows_total", "Input rows", l);
    counters[t * 4 + 1] = &Metrics().Counter("ctml_process_silver_rows_total", "Silver rows", l);
    counters[t * 4 + 2] =
        &Metrics().Counter("ctml_process_quarantined_rows_total", "Quarantined rows", l);
    counters[t * 4 + 3] =
        &Metrics().Counter("ctml_process_duplicate_rows_total", "Duplicates removed", l);
  }
  auto& malformed = Metrics().Counter("ctml_process_malformed_events_total",
                                      "Records that are not canonical events (skipped; bronze-sink "
                                      "quarantines them)");
  Status st = process::RunStreamWorker(options, event_log, [&](const auto& batch) -> Status {
    CTML_ASSIGN_OR_RETURN(bool rolled_back, intent.Recover());
    if (rolled_back) writer.ResetIndex();
    CTML_ASSIGN_OR_RETURN(auto prepared, writer.Prepare(batch));
    CTML_RETURN_NOT_OK(intent.Begin(batch, writer.FilesOf(*prepared)));
    auto out = writer.Write(*prepared);
    if (!out.ok()) {
      writer.ResetIndex();  // it may hold rows of the failed attempt
      return out.status();
    }
    // Published after the Silver write and before the commit: a crash in between replays the
    // batch, and Level 3 drops the repeats by event_id.
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_topic;
    for (const auto& row : out->written) {
      by_topic["silver." + process::SchemaOf(row.table).name].emplace_back(
          std::get<std::string>(row.cells[process::kColSubjectKey]), process::RowJson(row));
    }
    for (const auto& [topic, kvs] : by_topic) {
      CTML_RETURN_NOT_OK(event_log.AppendBatch(topic, kvs).status());
    }
    for (size_t t = 0; t < process::kTableCount; ++t) {
      counters[t * 4]->Inc(static_cast<double>(out->counts[t].input_rows));
      counters[t * 4 + 1]->Inc(static_cast<double>(out->counts[t].silver_rows));
      counters[t * 4 + 2]->Inc(static_cast<double>(out->counts[t].quarantined));
      counters[t * 4 + 3]->Inc(static_cast<double>(out->counts[t].duplicates));
    }
    if (out->malformed_events > 0) {
      malformed.Inc(static_cast<double>(out->malformed_events));
      log::Warn("process", "skipped records that are not canonical events",
                {{"count", std::to_string(out->malformed_events)}});
    }
    return Status::OK();
  });
  return st.ok() ? kExitOk : Fail("process", st);
}

int RunProcessReport(const GlobalOptions& g, const ProcessArgs& args) {
  auto cfg = LoadConfig(g, "process");
  if (!cfg.ok()) {
    Fail("process report", cfg.status());
    return kExitConfig;
  }
  auto lake = store::OpenLake(cfg->GetString("lake.uri"));
  if (!lake.ok()) return Fail("process report", lake.status());
  auto r = process::BuildReport(**lake, args.report_date);
  if (!r.ok()) return Fail("process report", r.status());
  std::cout << (args.report_json ? process::ReportJson(*r) + "\n" : process::FormatReport(*r));
  return r->balanced() ? kExitOk : kExitFailure;
}

int RunLakeCompact(const GlobalOptions& g, const std::string& date, bool all) {
  if (date.empty() == !all) {
    std::cerr << "ctml lake compact: give exactly one of --date D or --all\n";
    return kExitUsage;
  }
  auto cfg = LoadConfig(g, "lake");
  if (!cfg.ok()) {
    Fail("lake compact", cfg.status());
    return kExitConfig;
  }
  auto lake = store::OpenLake(cfg->GetString("lake.uri"));
  if (!lake.ok()) return Fail("lake compact", lake.status());
  std::vector<std::string> dates = {date};
  if (all) {
    auto d = process::CompactableDates(**lake);
    if (!d.ok()) return Fail("lake compact", d.status());
    dates = *d;
  }
  process::CompactResult total;
  for (size_t i = 0; i < dates.size(); ++i) {
    if (all) std::cerr << "[" << i + 1 << "/" << dates.size() << "] " << dates[i] << "\n";
    auto r = process::CompactDate(**lake, dates[i],
                                  [](const std::string& line) { std::cerr << line << "\n"; });
    if (!r.ok()) return Fail("lake compact", r.status());
    if (!all || r->partitions_compacted > 0 || !r->skipped.empty()) {
      std::cout << "date " << dates[i] << ": " << r->partitions_compacted
                << " partitions compacted, " << r->files_before << " files -> " << r->files_after
                << " (" << r->rows << " rows merged)\n";
    }
    for (const auto& s : r->skipped) std::cout << "skipped " << s << "\n";
    total.partitions_compacted += r->partitions_compacted;
    total.files_before += r->files_before;
    total.files_after += r->files_after;
  }
  if (all) {
    std::cout << dates.size() << " dates: " << total.partitions_compacted
              << " partitions compacted, " << total.files_before << " files -> "
              << total.files_after << "\n";
  }
  return kExitOk;
}

// The --date check of every Level 2 command: YYYY-MM-DD.
CLI::Validator DateValidator() {
  return CLI::Validator(
      [](const std::string& d) {
        bool ok =
            d.size() == 10 && d[4] == '-' && d[7] == '-' &&
            std::all_of(d.begin(), d.end(), [](char c) { return std::isdigit(c) || c == '-'; });
        return ok ? std::string() : std::string("expected YYYY-MM-DD");
      },
      "YYYY-MM-DD");
}

}  // namespace

void RegisterBronzeSinkCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub = app.add_subcommand(
      "bronze-sink",
      "Level 2: the raw topics -> bronze/<event_type>/ Parquet (immutable envelopes)");
  sub->callback([&g, exit_code] { *exit_code = RunBronzeSink(g); });
}

void RegisterProcessCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto args = std::make_shared<ProcessArgs>();
  auto* sub = app.add_subcommand(
      "process",
      "Level 2: raw topics -> standardized, deduplicated silver/<table>/ Parquet + topics "
      "silver.<table> (streaming); --batch rebuilds Silver from Bronze");
  sub->add_flag("--batch", args->batch, "Rebuild Silver from Bronze instead of streaming");
  sub->add_option("--date", args->dates, "With --batch: event date YYYY-MM-DD (repeatable)")
      ->check(DateValidator());
  sub->add_flag("--all", args->all, "With --batch: every date in Bronze");
  sub->add_flag("--force", args->force,
                "With --batch: rebuild even when bronze-sink and process have not consumed the "
                "same records (e.g. the event log is gone)");
  auto* report = sub->add_subcommand(
      "report",
      "Reconcile: input rows = Silver + quarantined + duplicates, per table (exit 1 "
      "when a table does not balance)");
  report->add_option("--date", args->report_date, "Only this event date (YYYY-MM-DD)")
      ->check(DateValidator());
  report->add_flag("--json", args->report_json, "Machine-readable output");
  report->callback([&g, exit_code, args] { *exit_code = RunProcessReport(g, *args); });
  sub->callback([&g, exit_code, args, report] {
    if (report->parsed()) return;
    *exit_code = RunProcess(g, *args);
  });
}

void RegisterLakeCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* lake = app.add_subcommand("lake", "Lake maintenance");
  lake->require_subcommand(1);
  auto date = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  auto* compact = lake->add_subcommand(
      "compact",
      "Merge the small files of a date's partitions (bronze, silver, quarantine, duplicates) "
      "into one file each, without changing content");
  compact->add_option("--date", *date, "Event date YYYY-MM-DD")->check(DateValidator());
  compact->add_flag("--all", *all, "Every date in the lake (progress on stderr)");
  compact->callback([&g, exit_code, date, all] { *exit_code = RunLakeCompact(g, *date, *all); });
}

}  // namespace ctml::cli
