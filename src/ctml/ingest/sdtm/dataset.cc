// Row access, text/number helpers and the extension dispatch shared by the SDTM readers.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "ctml/ingest/sdtm/sdtm.h"

namespace ctml::ingest::sdtm {
namespace {

bool IEndsWith(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) !=
        std::tolower(static_cast<unsigned char>(suffix[i]))) {
      return false;
    }
  }
  return true;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // sequence cut off at the end
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
        (c == 0xF4 && c1 >= 0x90)) {
      return false;  // overlong, surrogate or beyond U+10FFFF
    }
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

std::string CleanText(std::string_view raw) {
  size_t end = raw.size();
  while (end > 0 && (raw[end - 1] == ' ' || raw[end - 1] == '\t' || raw[end - 1] == '\r' ||
                     raw[end - 1] == '\n' || raw[end - 1] == '\0')) {
    --end;
  }
  raw = raw.substr(0, end);
  if (ValidUtf8(raw)) return std::string(raw);
  std::string out;
  out.reserve(raw.size() + 8);
  for (char ch : raw) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

std::optional<double> ParseNumber(std::string_view text) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  text = text.substr(b, e - b);
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  if (text.empty() || text.size() > 64) return std::nullopt;
  // Only digits, one sign, '.', exponent: from_chars would also take "inf"/"nan".
  for (char c : text) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' ||
          c == 'e' || c == 'E')) {
      return std::nullopt;
    }
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::string FormatNumber(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  return buf;
}

int Row::Find(std::string_view name) const {
  for (size_t i = 0; i < names_->size(); ++i) {
    if ((*names_)[i] == name) return static_cast<int>(i);
  }
  return -1;
}

void Row::Reset(int64_t index) {
  index_ = index;
  text_.assign(names_->size(), std::string());
  number_.assign(names_->size(), std::nullopt);
}

void Row::SetText(size_t col, std::string text) {
  if (col < text_.size()) text_[col] = std::move(text);
}

void Row::SetNumber(size_t col, std::optional<double> value) {
  if (col >= number_.size()) return;
  number_[col] = value;
  text_[col] = value ? FormatNumber(*value) : std::string();
}

std::string_view Row::String(std::string_view name) const {
  int i = Find(name);
  if (i < 0) return {};
  return text_[static_cast<size_t>(i)];
}

std::optional<double> Row::Number(std::string_view name) const {
  int i = Find(name);
  if (i < 0) return std::nullopt;
  if ((*numeric_)[static_cast<size_t>(i)]) return number_[static_cast<size_t>(i)];
  return ParseNumber(text_[static_cast<size_t>(i)]);
}

Status ReadDataset(const std::string& path, const RowHandler& on_row, int64_t* rows) {
  if (rows) *rows = 0;
  if (IEndsWith(path, ".xpt")) return ReadXpt(path, on_row, rows);
  if (IEndsWith(path, ".csv")) return ReadCsv(path, on_row, rows);
  return Status::Invalid("unsupported SDTM dataset file (expected .xpt or .csv): " + path);
}

}  // namespace ctml::ingest::sdtm
