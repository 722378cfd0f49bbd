// CDISC SDTM datasets, read row by row: SAS transport v5 (.xpt, through ReadStat) and CSV
// extracts (.csv: a header row of variable names, RFC-4180 quoting, empty cell = missing).
//
//   int64_t rows = 0;
//   CTML_RETURN_NOT_OK(ctml::ingest::sdtm::ReadDataset(
//       "/data/sdtm/vs.xpt",
//       [&](const Row& row) -> Status {
//         std::string_view test = row.String("VSTESTCD");      // "" when missing/absent
//         std::optional<double> n = row.Number("VSSTRESN");     // nullopt when missing
//         return Status::OK();                                  // an error stops the read
//       },
//       &rows));
//
// Character values are right-trimmed (SAS pads them), and text that is not valid UTF-8 is read
// as Latin-1 and re-encoded, so every value can go into JSON. Variable names are upper-cased.
// Malformed, truncated or non-SDTM files give a Status error (never a crash).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::ingest::sdtm {

// One observation of a dataset. Valid only inside the on_row callback.
class Row {
 public:
  // Whether the dataset has this variable at all (name in upper case, e.g. "LBLOINC").
  bool Has(std::string_view name) const { return Find(name) >= 0; }
  // The value as text: a character value right-trimmed, a numeric value printed with up to 15
  // significant digits ("1", "3.5"); "" when missing or when the variable is absent.
  std::string_view String(std::string_view name) const;
  // A numeric value; a character value parsed as a whole decimal number ("5.2", "-1e3");
  // nullopt when missing, absent or not a number ("<0.2", "N").
  std::optional<double> Number(std::string_view name) const;
  // 0-based observation number within the file.
  int64_t index() const { return index_; }
  const std::vector<std::string>& names() const { return *names_; }

  // Used by the readers.
  Row(const std::vector<std::string>* names, const std::vector<bool>* numeric)
      : names_(names), numeric_(numeric) {}
  void Reset(int64_t index);
  void SetText(size_t col, std::string text);
  void SetNumber(size_t col, std::optional<double> value);

 private:
  int Find(std::string_view name) const;

  const std::vector<std::string>* names_;
  const std::vector<bool>* numeric_;  // per column: a SAS numeric variable
  int64_t index_ = 0;
  std::vector<std::string> text_;
  std::vector<std::optional<double>> number_;
};

using RowHandler = std::function<Status(const Row&)>;

// Reads `path` (.xpt or .csv by extension, any case), calling `on_row` for every observation in
// file order. `*rows` (may be null) gets the number of rows delivered, also on error. An error
// returned by `on_row` stops the read and is returned as is.
Status ReadDataset(const std::string& path, const RowHandler& on_row, int64_t* rows);
Status ReadXpt(const std::string& path, const RowHandler& on_row, int64_t* rows);
Status ReadCsv(const std::string& path, const RowHandler& on_row, int64_t* rows);

// Helpers shared by the readers (exposed for tests).
// Whole-string decimal number ("  5.20 " ok; "", "<0.2", "0x10", "inf", "1,5" -> nullopt).
std::optional<double> ParseNumber(std::string_view text);
// Trailing spaces/tabs/CR/NUL removed; invalid UTF-8 re-read as Latin-1.
std::string CleanText(std::string_view raw);
// "%.15g" of a finite number.
std::string FormatNumber(double v);

}  // namespace ctml::ingest::sdtm
