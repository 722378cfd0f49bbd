// The CDISC pilot's own standardized results (--STRESN/--STRESU) as an independent oracle for
// Level 2 standardization: every VS and LB row goes through the SDTM import's conversion (which
// reads only --ORRES/--ORRESU) and ExtractRows, and the Silver value must match --STRESN within
// 0.5% relative for at least 99.9% of the rows with a numeric original result (issue 4).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "ctml/ingest/canonical_event.h"
#include "ctml/ingest/sdtm/domains.h"
#include "ctml/ingest/sdtm/sdtm.h"
#include "ctml/privacy/deidentifier.h"
#include "ctml/privacy/pseudonymizer.h"
#include "ctml/process/silver_rows.h"
#include "ctml/process/standards.h"

namespace ctml::process {
namespace {

const std::string kDir = std::string(CTML_SOURCE_DIR) + "/../shared/data/sdtm/cdiscpilot01/";

struct Tally {
  int64_t rows = 0, numeric = 0, matched = 0, quarantined = 0, non_numeric_in_silver = 0,
          non_numeric_quarantined = 0;
  std::map<std::string, int64_t> mismatch_by_test;
  std::vector<std::string> examples;
};

bool Close(double a, double b) {
  // The xpt files store an exact zero as 5.4e-79 (the smallest IBM float), hence the absolute
  // floor; otherwise 0.5% relative.
  return std::fabs(a - b) <= 0.005 * std::max(std::fabs(a), std::fabs(b)) + 1e-9;
}

void Check(const std::string& file, const char* domain, const char* prefix,
           const Standards& standards, Tally* t) {
  privacy::Deidentifier deid(privacy::Pseudonymizer(std::string(64, 'k')), std::string(32, 's'),
                             privacy::Policy::kSafeHarbor);
  ingest::sdtm::ConvertContext ctx{&deid, "", nullptr, 1'700'000'000'000'000};
  const std::string p = prefix;
  Status st = ingest::sdtm::ReadDataset(
      kDir + file,
      [&](const ingest::sdtm::Row& row) -> Status {
        ++t->rows;
        auto outcome = ingest::sdtm::ConvertRow(domain, row, ctx);
        if (!outcome.event) {
          return Status::Internal("import rejected a pilot row: " + outcome.reason);
        }
        Extracted ex;
        ExtractRows(*outcome.event, standards, &ex);
        if (ex.rows.size() + ex.quarantined.size() != 1) {
          return Status::Internal("a VS/LB row must give exactly one output");
        }
        auto orres = ingest::sdtm::ParseNumber(row.String(p + "ORRES"));
        if (!ex.quarantined.empty()) {
          ++t->quarantined;
          if (orres)
            ++t->numeric;
          else
            ++t->non_numeric_quarantined;
          t->mismatch_by_test[std::string(row.String(p + "TESTCD")) + " quarantined " +
                              ex.quarantined[0].reason_code]++;
          return Status::OK();
        }
        const TableSchema& s = SchemaOf(ex.rows[0].table);
        const auto& cells = ex.rows[0].cells;
        const Value& value = cells[static_cast<size_t>(s.Column("value"))];
        const std::string unit =
            std::get<std::string>(cells[static_cast<size_t>(s.Column("unit"))]);
        if (!orres) {
          // Non-numeric results ("<40", "N") stay in Silver with their text and no value.
          if (std::holds_alternative<std::monostate>(value)) ++t->non_numeric_in_silver;
          return Status::OK();
        }
        ++t->numeric;
        auto stresn = row.Number(p + "STRESN");
        std::string stresu(row.String(p + "STRESU"));
        bool ok = stresn && std::holds_alternative<double>(value) &&
                  Close(std::get<double>(value), *stresn) && unit == stresu;
        if (ok) {
          ++t->matched;
        } else {
          std::string test(row.String(p + "TESTCD"));
          t->mismatch_by_test[test]++;
          if (t->examples.size() < 10) {
            t->examples.push_back(
                test + " " + std::string(row.String(p + "ORRES")) + " " +
                std::string(row.String(p + "ORRESU")) + " -> " +
                (std::holds_alternative<double>(value) ? std::to_string(std::get<double>(value))
                                                       : std::string("null")) +
                " " + unit + " (STRESN " + (stresn ? std::to_string(*stresn) : "missing") + " " +
                stresu + ")");
          }
        }
        return Status::OK();
      },
      nullptr);
  ASSERT_TRUE(st.ok()) << file << ": " << st.ToString();
}

TEST(CdiscOracleTest, SilverMatchesTheStandardizedResultsOfThePilot) {
  auto standards = Standards::Load(std::string(CTML_SOURCE_DIR) + "/config/standards");
  ASSERT_TRUE(standards.ok()) << standards.status().ToString();
  Tally t;
  Check("vs.xpt", "VS", "VS", *standards, &t);
  for (const char* f : {"lbch.xpt", "lbhe.xpt", "lbur.xpt"}) Check(f, "LB", "LB", *standards, &t);
  std::string report;
  for (const auto& [k, n] : t.mismatch_by_test)
    report += "  " + k + ": " + std::to_string(n) + "\n";
  for (const auto& e : t.examples) report += "  e.g. " + e + "\n";
  std::cout << "CDISC pilot VS+LB: " << t.rows << " rows, " << t.numeric << " numeric, "
            << t.matched << " match --STRESN/--STRESU, " << t.quarantined << " quarantined, "
            << t.non_numeric_in_silver << " non-numeric kept as text\n"
            << report;
  EXPECT_EQ(t.rows, 29643 + 32740 + 21927 + 4913);
  ASSERT_GT(t.numeric, 80000);
  EXPECT_GE(static_cast<double>(t.matched), 0.999 * static_cast<double>(t.numeric)) << report;
  // Every row is accounted for: matched, mismatched (listed), quarantined or non-numeric text.
  EXPECT_EQ(t.rows - t.numeric, t.non_numeric_in_silver + t.non_numeric_quarantined) << report;
}

}  // namespace
}  // namespace ctml::process
