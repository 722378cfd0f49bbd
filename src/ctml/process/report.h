// `ctml process report`: reconciles Level 2 from what is in the lake, per table and date:
//   input rows (counted from bronze/: vitals measurements, one per other event)
//   = Silver rows + quarantined rows + duplicates removed (duplicates/ ledger).
// Each side is counted from its own files, so a lost or duplicated row shows as an imbalance.
//
//   CTML_ASSIGN_OR_RETURN(auto r, BuildReport(lake, "2014-01-02"));   // "" = every date
//   std::cout << FormatReport(r);  return r.balanced() ? 0 : 1;
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/store/lake.h"

namespace ctml::process {

struct ReportLine {
  std::string table;
  std::string date;  // "" for the table's total
  int64_t input_rows = 0, silver = 0, quarantined = 0, duplicates = 0;
  bool balanced() const { return input_rows == silver + quarantined + duplicates; }
};

struct ProcessReport {
  std::vector<ReportLine> totals;      // one per table
  std::vector<ReportLine> unbalanced;  // dates that do not balance
  std::map<std::string, std::map<std::string, int64_t>> quarantine_reasons;  // table -> code -> n
  std::map<std::string, int64_t> duplicate_reasons;
  int64_t envelopes_quarantined = 0;  // records that never were canonical events (not in bronze)
  int64_t orphan_subjects = 0;        // subjects with events but no subjects row
  bool balanced() const { return unbalanced.empty(); }
};

Result<ProcessReport> BuildReport(store::Lake& lake, const std::string& date);
std::string FormatReport(const ProcessReport& r);
std::string ReportJson(const ProcessReport& r);

}  // namespace ctml::process
