// `ctml import sdtm DIR`: finds the SDTM datasets of a study directory, reads DM first (for the
// USUBJID -> SITEID map), converts every row of DM VS LB AE DS EX CM to canonical events and
// submits them in chunks through IngestCore (one audit record per chunk).
//
//   ImportOptions opts{.dir = "/data/sdtm/cdiscpilot01", .actor = "cli:alice"};
//   opts.progress = [](const std::string& line) { std::cerr << line << "\n"; };
//   CTML_ASSIGN_OR_RETURN(ImportReport report, ImportSdtm(opts, deid, &core));
//   std::cout << FormatImportReport(report);        // per-domain table
//   return report.ok() ? 0 : 1;
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::privacy {
class Deidentifier;
}

namespace ctml::ingest {
class IngestCore;
}

namespace ctml::ingest::sdtm {

struct ImportOptions {
  std::string dir;
  std::string study_override;        // replaces STUDYID when set
  std::vector<std::string> domains;  // upper-case subset of DM VS LB AE DS EX CM; empty = all
  bool dry_run = false;              // convert and count, submit nothing
  std::string actor = "cli";
  size_t chunk_events = 2000;  // events per IngestCore::Submit (= per audit record)
  int64_t progress_rows = 5000;
  std::function<void(const std::string&)> progress;  // one line per call; may be empty
  int64_t received_at_us = 0;                        // 0 = now
};

struct DomainReport {
  std::string domain;
  std::vector<std::string> files;  // base names
  int64_t rows_read = 0;
  int64_t accepted = 0;
  int64_t rejected = 0;
  std::map<std::string, int64_t> reasons;  // "INVALID_DATE(AESTDTC)" -> count
  std::string error;                       // a file could not be read (the rest was imported)
};

struct ImportReport {
  std::vector<DomainReport> domains;       // DM first, then VS LB AE DS EX CM
  std::vector<std::string> ignored_files;  // datasets of other domains (mh.xpt, suppae.xpt...)
  int64_t submits = 0;                     // IngestCore::Submit calls (audit records)
  int64_t alerts = 0;
  double seconds = 0;
  bool dry_run = false;
  bool ok() const;  // no file failed to read
};

// Dataset files of `dir` per supported domain (DM first), base names sorted; when a domain file
// exists as both .xpt and .csv, the .xpt wins and the .csv goes to `ignored`.
Result<std::vector<std::pair<std::string, std::vector<std::string>>>> FindDomainFiles(
    const std::string& dir, std::vector<std::string>* ignored);

// `core` may be null only with opts.dry_run. Fails (Status) on a bad option, a missing
// directory, or when IngestCore::Submit fails (nothing after that chunk is submitted).
Result<ImportReport> ImportSdtm(const ImportOptions& opts, const privacy::Deidentifier& deid,
                                IngestCore* core);

// The per-domain table printed on stdout.
std::string FormatImportReport(const ImportReport& report);

}  // namespace ctml::ingest::sdtm
