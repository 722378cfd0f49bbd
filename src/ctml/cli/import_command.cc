// `ctml import sdtm DIR`: imports a CDISC SDTM study directory (docs/ingest/sdtm.md).
#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "ctml/cli/commands.h"
#include "ctml/cli/ingest_stores.h"
#include "ctml/core/log.h"
#include "ctml/ingest/sdtm/importer.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::cli {
namespace {

struct SdtmArgs {
  std::string dir;
  std::string study;
  std::string domains;  // "DM,VS"
  bool dry_run = false;
};

std::string Actor() {
  const char* user = std::getenv("USER");
  std::string u = user && *user ? user : "";
  if (u.empty()) {
    if (const passwd* pw = getpwuid(geteuid()); pw && pw->pw_name) u = pw->pw_name;
  }
  if (u.empty()) u = "unknown";
  for (char& c : u) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  }
  return "cli:" + u.substr(0, 64);
}

int RunImportSdtm(const GlobalOptions& g, const SdtmArgs& a) {
  const std::string cmd = "import sdtm";
  auto cfg = LoadConfig(g, "import");
  if (!cfg.ok()) {
    Fail(cmd, cfg.status());
    return kExitConfig;
  }
  auto deid = privacy::Deidentifier::FromConfig(*cfg);
  if (!deid.ok()) {
    Fail(cmd, deid.status());
    return kExitConfig;
  }
  ingest::sdtm::ImportOptions opts;
  opts.dir = a.dir;
  opts.study_override = a.study;
  opts.dry_run = a.dry_run;
  opts.actor = Actor();
  opts.chunk_events =
      static_cast<size_t>(std::max<int64_t>(1, cfg->GetInt("sdtm.chunk_events", 2000)));
  opts.progress_rows = cfg->GetInt("sdtm.progress_rows", 5000);
  opts.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  std::stringstream ss(a.domains);
  for (std::string d; std::getline(ss, d, ',');) {
    if (!d.empty()) opts.domains.push_back(d);
  }

  IngestStores stores;  // none for a dry run
  if (!a.dry_run) {
    auto opened = OpenIngestStores(*cfg);
    if (!opened.ok()) {
      Fail(cmd, opened.status());
      return kExitUnavailable;
    }
    stores = std::move(*opened);
  }
  auto report = ingest::sdtm::ImportSdtm(opts, *deid, stores.core.get());
  if (!report.ok()) {
    Fail(cmd, report.status());
    switch (report.status().code()) {
      case StatusCode::kInvalid:
      case StatusCode::kNotFound:
        return kExitUsage;
      case StatusCode::kUnavailable:
        return kExitUnavailable;
      default:
        return kExitFailure;
    }
  }
  std::fputs(ingest::sdtm::FormatImportReport(*report).c_str(), stdout);
  log::Info("import", "sdtm import finished",
            {{"domains", std::to_string(report->domains.size())},
             {"submits", std::to_string(report->submits)},
             {"ok", report->ok() ? "true" : "false"}});
  return report->ok() ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterImportCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* imp = app.add_subcommand("import", "Level 1: import clinical trial data files");
  imp->require_subcommand(1);
  auto args = std::make_shared<SdtmArgs>();
  auto* sdtm = imp->add_subcommand(
      "sdtm",
      "Import a CDISC SDTM study directory (dm/vs/lb*/ae/ds/ex/cm as .xpt or .csv): DM first, "
      "rows -> canonical events, submitted in audited chunks; prints a per-domain report.\n"
      "Exit: 0 ran (even with rejected rows), 1 failure (a file unreadable), 2 usage, "
      "3 config, 4 store unavailable.");
  sdtm->add_option("DIR", args->dir, "Directory holding the SDTM datasets")->required();
  sdtm->add_option("--study", args->study, "Study id to use instead of STUDYID");
  sdtm->add_option("--domains", args->domains,
                   "Comma-separated subset of DM,VS,LB,AE,DS,EX,CM (default: all found)");
  sdtm->add_flag("--dry-run", args->dry_run, "Convert and report, submit nothing");
  sdtm->callback([&g, exit_code, args] { *exit_code = RunImportSdtm(g, *args); });
}

}  // namespace ctml::cli
