// CSV SDTM extracts: RFC-4180 (quoted fields may hold commas, doubled quotes and line breaks),
// first record = variable names, empty cell = missing. Streams the file in 64 KiB blocks.
#include <cctype>
#include <cstdio>
#include <memory>
#include <set>

#include "ctml/ingest/sdtm/sdtm.h"

namespace ctml::ingest::sdtm {
namespace {

constexpr size_t kMaxFieldBytes = 1 << 20;
constexpr size_t kMaxColumns = 4096;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Status ReadCsv(const std::string& path, const RowHandler& on_row, int64_t* rows) {
  if (rows) *rows = 0;
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return Status::NotFound("cannot open SDTM dataset " + path);

  std::vector<std::string> names;
  std::vector<bool> numeric;
  std::unique_ptr<Row> row;
  std::vector<std::string> record;
  std::string field;
  bool in_quotes = false, quote_pending = false, field_quoted = false;
  int64_t line = 1, record_line = 1, delivered = 0;
  bool first_block = true;

  auto end_field = [&]() -> Status {
    if (record.size() >= kMaxColumns) {
      return Status::Invalid("CSV record has more than " + std::to_string(kMaxColumns) +
                             " fields (line " + std::to_string(record_line) + ")");
    }
    record.push_back(std::move(field));
    field.clear();
    field_quoted = false;
    return Status::OK();
  };
  auto end_record = [&]() -> Status {
    CTML_RETURN_NOT_OK(end_field());
    if (record.size() == 1 && record[0].empty()) {  // blank line
      record.clear();
      return Status::OK();
    }
    if (names.empty()) {
      std::set<std::string> seen;
      for (auto& raw : record) {
        std::string n = CleanText(raw);
        size_t b = n.find_first_not_of(" \t");
        n = b == std::string::npos ? std::string() : n.substr(b);
        for (char& ch : n) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        if (n.empty()) return Status::Invalid("CSV header has an empty variable name: " + path);
        if (!seen.insert(n).second) {
          return Status::Invalid("CSV header repeats variable " + n + ": " + path);
        }
        names.push_back(std::move(n));
      }
      numeric.assign(names.size(), false);
      row = std::make_unique<Row>(&names, &numeric);
    } else {
      if (record.size() > names.size()) {
        return Status::Invalid("CSV record at line " + std::to_string(record_line) + " has " +
                               std::to_string(record.size()) + " fields, header has " +
                               std::to_string(names.size()) + ": " + path);
      }
      row->Reset(delivered);
      for (size_t i = 0; i < record.size(); ++i) row->SetText(i, CleanText(record[i]));
      ++delivered;
      if (rows) *rows = delivered;
      CTML_RETURN_NOT_OK(on_row(*row));
    }
    record.clear();
    return Status::OK();
  };

  std::vector<char> buf(1 << 16);
  for (;;) {
    size_t n = std::fread(buf.data(), 1, buf.size(), file.get());
    if (n == 0) break;
    size_t i = 0;
    if (first_block) {
      first_block = false;
      if (n >= 3 && static_cast<unsigned char>(buf[0]) == 0xEF &&
          static_cast<unsigned char>(buf[1]) == 0xBB &&
          static_cast<unsigned char>(buf[2]) == 0xBF) {
        i = 3;  // UTF-8 byte order mark
      }
    }
    for (; i < n; ++i) {
      char c = buf[i];
      if (c == '\0') return Status::Invalid("CSV file contains NUL bytes (binary?): " + path);
      if (quote_pending) {
        quote_pending = false;
        if (c == '"') {
          field.push_back('"');
          continue;
        }
        in_quotes = false;  // that quote closed the field; handle c below
      }
      if (in_quotes) {
        if (c == '"') {
          quote_pending = true;
        } else {
          if (c == '\n') ++line;
          field.push_back(c);
        }
      } else if (c == '"' && field.empty() && !field_quoted) {
        in_quotes = true;
        field_quoted = true;
      } else if (c == ',') {
        CTML_RETURN_NOT_OK(end_field());
      } else if (c == '\n') {
        CTML_RETURN_NOT_OK(end_record());
        ++line;
        record_line = line;
      } else if (c != '\r') {
        field.push_back(c);  // also a stray quote inside an unquoted field, kept as text
      }
      if (field.size() > kMaxFieldBytes) {
        return Status::Invalid("CSV field longer than " + std::to_string(kMaxFieldBytes) +
                               " bytes at line " + std::to_string(record_line) + ": " + path);
      }
    }
  }
  if (std::ferror(file.get())) return Status::IOError("read error on " + path);
  if (in_quotes && !quote_pending) {
    return Status::Invalid("CSV file ends inside a quoted field (line " +
                           std::to_string(record_line) + "): " + path);
  }
  if (!field.empty() || !record.empty() || field_quoted) CTML_RETURN_NOT_OK(end_record());
  if (names.empty()) return Status::Invalid("CSV file has no header row: " + path);
  return Status::OK();
}

}  // namespace ctml::ingest::sdtm
