// Level 2 standardization tables (config/standards/*.csv, docs/data/standardization.md): which
// standard test (SDTM VSTESTCD/LBTESTCD + LOINC) a source's test name or code means, how unit
// spellings map to one canonical spelling, and how to convert a value to the SDTM standard unit.
// Everything is data: adding a test, a spelling or a conversion needs no code change.
//
//   CTML_ASSIGN_OR_RETURN(Standards s, Standards::Load("config/standards"));
//   const StandardTest* t = s.FindTest("LB", "ctml", "Blood Glucose");     // GLUC, mmol/L
//   auto c = s.ConversionTo(*t, s.CanonicalUnit("mg/dL"));                  // x 0.05551
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::process {

struct StandardTest {
  std::string domain;  // VS | LB
  std::string code;    // SDTM test code: SYSBP, GLUC, ...
  std::string name;
  std::string loinc;
  std::string unit;                // SDTM standard unit; empty for unitless results
  std::optional<double> min, max;  // physiologically possible range in `unit`
};

struct Conversion {
  double factor = 1.0;
  double offset = 0.0;
  double Apply(double v) const { return v * factor + offset; }
};

struct TestMatch {
  const StandardTest* test = nullptr;
  std::string implied_unit;  // the unit the source's name implies ("temperature_celsius": C)
};

class Standards {
 public:
  // Movable, not copyable: lookups hold pointers into the tests table.
  Standards() = default;
  Standards(const Standards&) = delete;
  Standards& operator=(const Standards&) = delete;
  Standards(Standards&&) noexcept = default;
  Standards& operator=(Standards&&) noexcept = default;

  // Reads tests.csv, test_aliases.csv, units.csv and conversions.csv from `dir`; an error names
  // the file and line.
  static Result<Standards> Load(const std::string& dir);

  // The standard test a source's test means; test == nullptr when unknown. Accepts the SDTM
  // code itself, the LOINC of tests.csv (code_system LOINC/LN/http://loinc.org) and the aliases.
  TestMatch FindTest(std::string_view domain, std::string_view code_system,
                     std::string_view test) const;
  const StandardTest* ByCode(std::string_view domain, std::string_view code) const;
  // The canonical spelling of a unit; nullopt for a spelling units.csv does not know.
  std::optional<std::string> CanonicalUnit(std::string_view spelling) const;
  // From a canonical unit to the test's standard unit (identity when equal); nullopt when no
  // conversion is known.
  std::optional<Conversion> ConversionTo(const StandardTest& test,
                                         std::string_view canonical_unit) const;

 private:
  std::vector<StandardTest> tests_;
  std::unordered_map<std::string, size_t> by_code_;          // "VS|SYSBP"
  std::unordered_map<std::string, size_t> by_loinc_;         // "VS|8480-6"
  std::unordered_map<std::string, TestMatch> by_alias_;      // "VS|CTML|HEART_RATE", "VS|*|..."
  std::unordered_map<std::string, std::string> units_;       // exact spelling
  std::unordered_map<std::string, std::string> units_ci_;    // upper-cased spelling
  std::unordered_map<std::string, Conversion> conversions_;  // "GLUC|mg/dL|mmol/L", "*|F|C"
};

}  // namespace ctml::process
