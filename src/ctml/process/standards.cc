#include "ctml/process/standards.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>

namespace ctml::process {
namespace {

std::string Upper(std::string_view s) {
  std::string u(s);
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::toupper(c); });
  return u;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// The tables are ours and never quote: a plain comma split is the whole format (documented in
// each file's header), so no CSV library is pulled in for it.
using Rows = std::vector<std::pair<int, std::vector<std::string>>>;  // (line number, fields)

Result<Rows> ReadTable(const std::string& path, size_t fields) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read standardization table " + path);
  Rows rows;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Trim(line).empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    size_t start = 0;
    while (true) {
      size_t comma = line.find(',', start);
      f.push_back(Trim(std::string_view(line).substr(start, comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (f.size() != fields) {
      return Status::Invalid(path + ":" + std::to_string(n) + ": expected " +
                             std::to_string(fields) + " comma-separated fields, found " +
                             std::to_string(f.size()));
    }
    rows.emplace_back(n, std::move(f));
  }
  return rows;
}

Result<std::optional<double>> Number(const std::string& path, int line, const std::string& s) {
  if (s.empty()) return std::optional<double>();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return Status::Invalid(path + ":" + std::to_string(line) + ": '" + s + "' is not a number");
  }
  return std::optional<double>(v);
}

bool IsLoincSystem(std::string_view system) {
  std::string u = Upper(system);
  return u == "LOINC" || u == "LN" || u == "HTTP://LOINC.ORG";
}

}  // namespace

Result<Standards> Standards::Load(const std::string& dir) {
  Standards s;
  std::string path = dir + "/tests.csv";
  CTML_ASSIGN_OR_RETURN(Rows tests, ReadTable(path, 7));
  s.tests_.reserve(tests.size());
  for (auto& [line, f] : tests) {
    StandardTest t{.domain = Upper(f[0]),
                   .code = Upper(f[1]),
                   .name = f[2],
                   .loinc = f[3],
                   .unit = f[4],
                   .min = std::nullopt,
                   .max = std::nullopt};
    CTML_ASSIGN_OR_RETURN(t.min, Number(path, line, f[5]));
    CTML_ASSIGN_OR_RETURN(t.max, Number(path, line, f[6]));
    if (t.domain != "VS" && t.domain != "LB") {
      return Status::Invalid(path + ":" + std::to_string(line) + ": domain must be VS or LB");
    }
    if (!s.by_code_.emplace(t.domain + "|" + t.code, s.tests_.size()).second) {
      return Status::Invalid(path + ":" + std::to_string(line) + ": duplicate test " + t.code);
    }
    if (!t.loinc.empty()) s.by_loinc_.emplace(t.domain + "|" + t.loinc, s.tests_.size());
    s.tests_.push_back(std::move(t));
  }
  // Pointers into tests_ are stable from here on.
  path = dir + "/units.csv";
  CTML_ASSIGN_OR_RETURN(Rows units, ReadTable(path, 2));
  for (auto& [line, f] : units) {
    s.units_[f[0]] = f[1];
    s.units_ci_.emplace(Upper(f[0]), f[1]);
    s.units_.emplace(f[1], f[1]);  // a canonical spelling is its own spelling
    s.units_ci_.emplace(Upper(f[1]), f[1]);
  }
  path = dir + "/test_aliases.csv";
  CTML_ASSIGN_OR_RETURN(Rows aliases, ReadTable(path, 5));
  for (auto& [line, f] : aliases) {
    std::string domain = Upper(f[0]);
    const StandardTest* t = s.ByCode(domain, f[3]);
    if (t == nullptr) {
      return Status::Invalid(path + ":" + std::to_string(line) + ": test code " + f[3] +
                             " is not in tests.csv");
    }
    std::string implied;
    if (!f[4].empty()) {
      auto u = s.CanonicalUnit(f[4]);
      if (!u) {
        return Status::Invalid(path + ":" + std::to_string(line) + ": unit " + f[4] +
                               " is not in units.csv");
      }
      implied = *u;
    }
    std::string system = IsLoincSystem(f[1]) ? "LOINC" : Upper(f[1]);
    s.by_alias_[domain + "|" + system + "|" + Upper(f[2])] = TestMatch{t, implied};
  }
  path = dir + "/conversions.csv";
  CTML_ASSIGN_OR_RETURN(Rows conv, ReadTable(path, 5));
  for (auto& [line, f] : conv) {
    CTML_ASSIGN_OR_RETURN(auto factor, Number(path, line, f[3]));
    CTML_ASSIGN_OR_RETURN(auto offset, Number(path, line, f[4]));
    if (!factor || !offset) {
      return Status::Invalid(path + ":" + std::to_string(line) + ": factor and offset required");
    }
    s.conversions_[Upper(f[0]) + "|" + f[1] + "|" + f[2]] = Conversion{*factor, *offset};
  }
  return s;
}

const StandardTest* Standards::ByCode(std::string_view domain, std::string_view code) const {
  auto it = by_code_.find(Upper(domain) + "|" + Upper(code));
  return it == by_code_.end() ? nullptr : &tests_[it->second];
}

TestMatch Standards::FindTest(std::string_view domain, std::string_view code_system,
                              std::string_view test) const {
  std::string d = Upper(domain);
  std::string name = Upper(Trim(test));
  bool loinc = IsLoincSystem(code_system);
  std::string system = loinc ? "LOINC" : Upper(code_system);
  // 1. an alias declared for this code system, or for any system
  for (const std::string& sys : {system, std::string("*")}) {
    auto it = by_alias_.find(d + "|" + sys + "|" + name);
    if (it != by_alias_.end()) return it->second;
  }
  // 2. a LOINC code of tests.csv
  if (loinc) {
    auto it = by_loinc_.find(d + "|" + name);
    return it == by_loinc_.end() ? TestMatch{} : TestMatch{&tests_[it->second], ""};
  }
  // 3. the SDTM code itself (SDTM files, HL7 local codes that use it)
  if (const StandardTest* t = ByCode(d, name)) return TestMatch{t, ""};
  // 4. the existing stack's names under any other system (HL7 "L" local codes, FHIR text)
  auto it = by_alias_.find(d + "|CTML|" + name);
  return it == by_alias_.end() ? TestMatch{} : it->second;
}

std::optional<std::string> Standards::CanonicalUnit(std::string_view spelling) const {
  std::string s = Trim(spelling);
  if (auto it = units_.find(s); it != units_.end()) return it->second;
  if (auto it = units_ci_.find(Upper(s)); it != units_ci_.end()) return it->second;
  return std::nullopt;
}

std::optional<Conversion> Standards::ConversionTo(const StandardTest& test,
                                                  std::string_view canonical_unit) const {
  if (canonical_unit == test.unit) return Conversion{};
  std::string tail = "|" + std::string(canonical_unit) + "|" + test.unit;
  if (auto it = conversions_.find(test.code + tail); it != conversions_.end()) return it->second;
  if (auto it = conversions_.find("*" + tail); it != conversions_.end()) return it->second;
  return std::nullopt;
}

}  // namespace ctml::process
