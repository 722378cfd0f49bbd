// The feature engine (engine.h) on hand-built rows: every aggregation and window, filters,
// Silver's dedupe rules in SubjectState::Apply, labels, and the point-in-time guarantees (no
// leakage from rows after as_of, strict mode, labels strictly after as_of).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ctml/core/crypto.h"
#include "ctml/core/time.h"
#include "ctml/features/engine.h"
#include "ctml/features/spec.h"

namespace ctml::features {
namespace {

constexpr int64_t kH = kMicrosPerHour;
constexpr int64_t kD = kMicrosPerDay;
// 2024-03-01T00:00:00Z
constexpr int64_t kT0 = 1709251200LL * kMicrosPerSecond;

// Every aggregation, window kind and filter kind, over six tables.
const char* kSpecYaml = R"(name: test_view
entity: subject
baseline: {table: exposure}
features:
  - name: spo2_{agg}_6h
    table: vitals
    test: SPO2
    agg: [last, mean, min, max, std, count, sum, slope, delta]
    window: 6h
  - {name: spo2_last_24h, table: vitals, test: SPO2, agg: last, window: 24h}
  - {name: "spo2_count_{window}", table: vitals, test: SPO2, agg: count, window: [bl, all]}
  - {name: spo2_delta_bl, table: vitals, test: SPO2, agg: delta_bl, window: bl}
  - {name: pulse_mean_24h, table: vitals, test: PULSE, agg: mean, window: 24h}
  - {name: tachy_count_7d, table: vitals, test: PULSE, where: {tachycardia: true}, agg: count, window: 7d}
  - {name: alt_delta_bl, table: labs, test: ALT, agg: delta_bl, window: bl}
  - {name: lb_abnormal_count_all, table: labs, where: {range_flag: [LOW, HIGH]}, agg: count, window: all}
  - {name: ae_count_all, table: adverse_events, agg: count, window: all}
  - {name: ae_sae_count_all, table: adverse_events, where_any: [{severity: SEVERE}, {serious: true}], agg: count, window: all}
  - {name: ae_grade3_count_all, table: adverse_events, where: {grade: 3}, agg: count, window: all}
  - {name: ae_days_since_last, table: adverse_events, agg: days_since_last, window: all}
  - {name: ae_days_since_first, table: adverse_events, agg: days_since_first, window: all}
  - {name: ctx_age, table: subjects, value: age, agg: last, window: all}
  - {name: ctx_female, table: subjects, value: sex, indicator: F, agg: last, window: all}
  - {name: ctx_days_on_study, table: exposure, agg: days_since_first, window: all}
  - {name: ctx_days_since_dose, table: exposure, end: end_date, agg: days_since_last, window: all}
  - {name: ctx_cum_dose, table: exposure, value: dose, end: end_date, agg: dose_total, window: all}
labels:
  - {name: spo2_below_90_24h, table: vitals, test: SPO2, op: "<", threshold: 90, horizon: 24h}
  - {name: severe_ae_14d, table: adverse_events, where_any: [{serious: true}, {severity: SEVERE}], horizon: 14d}
  - {name: ae_discontinuation_30d, table: disposition, where: {decod: ADVERSE EVENT}, horizon: 30d, terminal: true}
)";

const FeatureSpec& Spec() {
  static const FeatureSpec* spec = [] {
    auto s = FeatureSpec::FromYaml(kSpecYaml, "test.yaml");
    if (!s.ok()) {
      ADD_FAILURE() << s.status().ToString();
      return new FeatureSpec();
    }
    return new FeatureSpec(std::move(*s));
  }();
  return *spec;
}

size_t Idx(const FeatureSpec& spec, const std::string& name) {
  for (size_t i = 0; i < spec.names().size(); ++i) {
    if (spec.names()[i] == name) return i;
  }
  ADD_FAILURE() << "no feature " << name;
  return 0;
}

// The value of feature `name` in a vector of Spec().
double F(const std::vector<double>& x, const std::string& name) {
  const size_t i = Idx(Spec(), name);
  return i < x.size() ? x[i] : std::nan("");
}

// Equal, treating NaN == NaN.
void ExpectSameVector(const std::vector<double>& a, const std::vector<double>& b,
                      const std::string& where = "") {
  ASSERT_EQ(a.size(), b.size()) << where;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      EXPECT_TRUE(std::isnan(a[i]) && std::isnan(b[i]))
          << where << " " << Spec().names()[i] << ": " << a[i] << " vs " << b[i];
    } else {
      EXPECT_DOUBLE_EQ(a[i], b[i]) << where << " " << Spec().names()[i];
    }
  }
}

// A row of `table` with the given column values (columns the spec does not read are dropped,
// as ReadSubjects and RowFromJson do). received < 0: received at event time.
Row MakeRow(const std::string& table, const std::string& id, int64_t t,
            const std::vector<std::pair<std::string, Cell>>& cols, int64_t received = -1,
            const std::string& dedupe_key = "", const std::string& subject = "S1") {
  const FeatureSpec& spec = Spec();
  Row row;
  row.table = spec.TableIndex(table);
  EXPECT_GE(row.table, 0) << table;
  row.subject_key = subject;
  row.event_id = id;
  row.dedupe_key = dedupe_key;
  row.event_time_us = t;
  row.received_at_us = received < 0 ? t : received;
  if (row.table < 0) return row;
  const TableDef& def = spec.tables()[static_cast<size_t>(row.table)];
  row.cells.assign(def.columns.size(), Cell::Null());
  for (const auto& [name, cell] : cols) {
    auto it = std::find(def.columns.begin(), def.columns.end(), name);
    if (it != def.columns.end()) row.cells[static_cast<size_t>(it - def.columns.begin())] = cell;
  }
  return row;
}

Row Vital(const std::string& id, const std::string& test, int64_t t, double value,
          int64_t received = -1, const std::string& key = "") {
  return MakeRow("vitals", id, t, {{"test_code", Cell::Text(test)}, {"value", Cell::Number(value)}},
                 received, key);
}

Row Lab(const std::string& id, const std::string& test, int64_t t, double value) {
  return MakeRow("labs", id, t, {{"test_code", Cell::Text(test)}, {"value", Cell::Number(value)}});
}

Row Dose(const std::string& id, int64_t t, double dose, const std::string& end_date,
         int64_t received = -1) {
  return MakeRow("exposure", id, t,
                 {{"dose", Cell::Number(dose)},
                  {"end_date", end_date.empty() ? Cell::Null() : Cell::Text(end_date)}},
                 received);
}

Row Ae(const std::string& id, int64_t t, const Cell& severity, const Cell& serious,
       const Cell& grade = Cell::Null()) {
  return MakeRow("adverse_events", id, t,
                 {{"severity", severity}, {"serious", serious}, {"grade", grade}});
}

Row Disposition(const std::string& id, int64_t t, const std::string& decod) {
  return MakeRow("disposition", id, t, {{"decod", Cell::Text(decod)}});
}

SubjectState StateOf(const std::vector<Row>& rows) {
  SubjectState st(Spec());
  for (const auto& r : rows) st.Apply(Spec(), r);
  return st;
}

std::vector<double> X(const SubjectState& st, int64_t as_of, bool strict = false) {
  return Compute(Spec(), st, as_of, strict);
}

// An empty window: count is 0, every other aggregation NaN.
void ExpectAllEmpty(const std::vector<double>& x, const std::string& where) {
  ASSERT_EQ(x.size(), Spec().features().size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (Spec().features()[i].agg == Agg::kCount) {
      EXPECT_EQ(x[i], 0) << where << " " << Spec().names()[i];
    } else {
      EXPECT_TRUE(std::isnan(x[i])) << where << " " << Spec().names()[i] << " = " << x[i];
    }
  }
}

// ---------------------------------------------------------------------------------- cells

TEST(CellTest, TextOfNumbersAndBooleans) {
  EXPECT_EQ(Cell::Number(3).text, "3");
  EXPECT_EQ(Cell::Number(-2).text, "-2");
  EXPECT_EQ(Cell::Number(1.5).text, "1.5");
  EXPECT_EQ(Cell::Number(3).num, 3);
  EXPECT_FALSE(Cell::Number(3).null);
  EXPECT_TRUE(Cell::Number(std::nan("")).null);
  EXPECT_EQ(Cell::Bool(true).text, "true");
  EXPECT_EQ(Cell::Bool(false).text, "false");
  EXPECT_EQ(Cell::Bool(true).num, 1);
  EXPECT_EQ(Cell::Text("SEVERE").text, "SEVERE");
  EXPECT_TRUE(std::isnan(Cell::Text("SEVERE").num));
  EXPECT_TRUE(Cell::Null().null);
}

// ---------------------------------------------------------------------------------- windows

TEST(EngineTest, DurationWindowAggregations) {
  // SPO2 98 at 0h; then 97, 95, 93 at 8h, 9h, 10h. PULSE 80, 90 at 1h, 2h.
  SubjectState st =
      StateOf({Vital("a", "SPO2", kT0, 98), Vital("b", "SPO2", kT0 + 8 * kH, 97),
               Vital("c", "SPO2", kT0 + 9 * kH, 95), Vital("d", "SPO2", kT0 + 10 * kH, 93),
               Vital("p1", "PULSE", kT0 + 1 * kH, 80), Vital("p2", "PULSE", kT0 + 2 * kH, 90)});
  EXPECT_EQ(st.rows(), 6u);
  auto x = X(st, kT0 + 10 * kH);
  EXPECT_DOUBLE_EQ(F(x, "spo2_last_24h"), 93);
  EXPECT_DOUBLE_EQ(F(x, "spo2_last_6h"), 93);
  EXPECT_DOUBLE_EQ(F(x, "spo2_mean_6h"), 95);  // 97, 95, 93 (98 is 10h old)
  EXPECT_DOUBLE_EQ(F(x, "spo2_min_6h"), 93);
  EXPECT_DOUBLE_EQ(F(x, "spo2_max_6h"), 97);
  EXPECT_DOUBLE_EQ(F(x, "spo2_std_6h"), 2);  // sample std of 97, 95, 93
  EXPECT_DOUBLE_EQ(F(x, "spo2_count_6h"), 3);
  EXPECT_DOUBLE_EQ(F(x, "spo2_sum_6h"), 285);
  EXPECT_DOUBLE_EQ(F(x, "spo2_slope_6h"), -2);  // per hour
  EXPECT_DOUBLE_EQ(F(x, "spo2_delta_6h"), -4);
  EXPECT_DOUBLE_EQ(F(x, "pulse_mean_24h"), 85);
  EXPECT_DOUBLE_EQ(F(x, "spo2_count_all"), 4);

  // The window is (as_of - w, as_of]: at 14h the 8h reading sits exactly on the open edge.
  x = X(st, kT0 + 14 * kH);
  EXPECT_DOUBLE_EQ(F(x, "spo2_count_6h"), 2);
  EXPECT_DOUBLE_EQ(F(x, "spo2_mean_6h"), 94);
  EXPECT_DOUBLE_EQ(F(x, "spo2_sum_6h"), 188);
  x = X(st, kT0 + 14 * kH - 1);
  EXPECT_DOUBLE_EQ(F(x, "spo2_count_6h"), 3);

  // One observation: std, slope and delta need two.
  x = X(st, kT0 + 15 * kH + 1);
  EXPECT_DOUBLE_EQ(F(x, "spo2_count_6h"), 1);
  EXPECT_DOUBLE_EQ(F(x, "spo2_mean_6h"), 93);
  EXPECT_DOUBLE_EQ(F(x, "spo2_sum_6h"), 93);
  EXPECT_TRUE(std::isnan(F(x, "spo2_std_6h")));
  EXPECT_TRUE(std::isnan(F(x, "spo2_slope_6h")));
  EXPECT_TRUE(std::isnan(F(x, "spo2_delta_6h")));

  // Empty windows: NaN (missing), never a silent 0 -- except count, where 0 is the observation.
  x = X(st, kT0 + 40 * kH);
  for (const char* name :
       {"spo2_last_6h", "spo2_mean_6h", "spo2_min_6h", "spo2_max_6h", "spo2_std_6h", "spo2_sum_6h",
        "spo2_slope_6h", "spo2_delta_6h", "spo2_last_24h", "pulse_mean_24h"}) {
    EXPECT_TRUE(std::isnan(F(x, name))) << name;
  }
  EXPECT_EQ(F(x, "spo2_count_6h"), 0);
  EXPECT_EQ(F(x, "spo2_count_all"), 4);  // `all` still sees everything before as_of

  // Before any data, and a subject without history: every count 0, everything else NaN.
  ExpectAllEmpty(X(st, kT0 - kH), "before the first row");
  ExpectAllEmpty(X(SubjectState(Spec()), kT0), "empty subject");
}

TEST(EngineTest, SlopeOfObservationsAtOneInstantIsMissing) {
  SubjectState st = StateOf({Vital("a", "SPO2", kT0, 98), Vital("b", "SPO2", kT0, 94)});
  auto x = X(st, kT0);
  EXPECT_EQ(F(x, "spo2_count_6h"), 2);
  EXPECT_TRUE(std::isnan(F(x, "spo2_slope_6h")));
  EXPECT_DOUBLE_EQ(F(x, "spo2_mean_6h"), 96);
  EXPECT_NEAR(F(x, "spo2_std_6h"), std::sqrt(8.0), 1e-12);
}

TEST(EngineTest, OutOfOrderRowsKeepSeriesSorted) {
  std::vector<Row> rows = {
      Vital("a", "SPO2", kT0 + 1 * kH, 96), Vital("b", "SPO2", kT0 + 2 * kH, 94),
      Vital("c", "SPO2", kT0 + 3 * kH, 97), Vital("d", "SPO2", kT0 + 4 * kH, 91)};
  SubjectState in_order = StateOf(rows);
  SubjectState shuffled = StateOf({rows[3], rows[0], rows[2], rows[1]});
  ExpectSameVector(X(in_order, kT0 + 4 * kH), X(shuffled, kT0 + 4 * kH));
  EXPECT_DOUBLE_EQ(F(X(shuffled, kT0 + 4 * kH), "spo2_last_6h"), 91);
  EXPECT_DOUBLE_EQ(F(X(shuffled, kT0 + 4 * kH), "spo2_delta_6h"), -5);
  EXPECT_EQ(shuffled.first_event_time_us(), kT0 + kH);
  EXPECT_EQ(shuffled.last_event_time_us(), kT0 + 4 * kH);
  const auto& s = shuffled.Series(Spec().features()[Idx(Spec(), "spo2_mean_6h")].series);
  ASSERT_EQ(s.size(), 4u);
  for (size_t i = 1; i < s.size(); ++i) EXPECT_LT(s[i - 1].event_time_us, s[i].event_time_us);
  EXPECT_EQ(shuffled.LastEventAtOrBefore(kT0 + 3 * kH + 5), kT0 + 3 * kH);
  EXPECT_EQ(shuffled.LastEventAtOrBefore(kT0), std::nullopt);
}

TEST(EngineTest, BaselineWindowStartsAtTheFirstDoseElseTheFirstEvent) {
  // Pre-dose SPO2 99 (0h), 98 (1h); first dose at 3h; then 96 (5h), 92 (7h).
  SubjectState st = StateOf({Vital("a", "SPO2", kT0, 99), Vital("b", "SPO2", kT0 + kH, 98),
                             Dose("e1", kT0 + 3 * kH, 50, ""), Vital("c", "SPO2", kT0 + 5 * kH, 96),
                             Vital("d", "SPO2", kT0 + 7 * kH, 92)});
  EXPECT_EQ(BaselineTime(Spec(), st, kT0 + 7 * kH), kT0 + 3 * kH);
  auto x = X(st, kT0 + 7 * kH);
  EXPECT_EQ(F(x, "spo2_count_bl"), 2);   // 5h, 7h
  EXPECT_EQ(F(x, "spo2_count_all"), 4);  // everything
  // delta_bl: the last value at or before the first dose is the baseline (SDTM's pre-dose).
  EXPECT_DOUBLE_EQ(F(x, "spo2_delta_bl"), 92 - 98);
  // Before the first dose the baseline is the subject's first event (the first-event fallback).
  EXPECT_EQ(BaselineTime(Spec(), st, kT0 + 2 * kH), kT0);
  x = X(st, kT0 + 2 * kH);
  EXPECT_EQ(F(x, "spo2_count_bl"), 2);
  EXPECT_DOUBLE_EQ(F(x, "spo2_delta_bl"), 98 - 99);
  EXPECT_DOUBLE_EQ(F(X(st, kT0), "spo2_delta_bl"), 0);
  EXPECT_EQ(BaselineTime(Spec(), st, kT0 - 1), std::nullopt);
  EXPECT_EQ(BaselineTime(Spec(), SubjectState(Spec()), kT0), std::nullopt);

  // A value at the dose's instant is the baseline value and inside the bl window.
  SubjectState at_dose =
      StateOf({Vital("a", "SPO2", kT0, 99), Dose("e1", kT0 + 3 * kH, 50, ""),
               Vital("b", "SPO2", kT0 + 3 * kH, 97), Vital("d", "SPO2", kT0 + 7 * kH, 92)});
  x = X(at_dose, kT0 + 7 * kH);
  EXPECT_DOUBLE_EQ(F(x, "spo2_delta_bl"), 92 - 97);
  EXPECT_EQ(F(x, "spo2_count_bl"), 2);

  // No value at or before the dose: the first value after it is the baseline value.
  SubjectState post_only =
      StateOf({Dose("e1", kT0 + 3 * kH, 50, ""), Vital("c", "SPO2", kT0 + 5 * kH, 96),
               Vital("d", "SPO2", kT0 + 7 * kH, 92)});
  EXPECT_DOUBLE_EQ(F(X(post_only, kT0 + 7 * kH), "spo2_delta_bl"), 92 - 96);
  EXPECT_DOUBLE_EQ(F(X(post_only, kT0 + 5 * kH), "spo2_delta_bl"), 0);

  // Only pre-dose values: nothing since baseline, so delta_bl is missing (not 0).
  SubjectState pre_only = StateOf({Vital("a", "SPO2", kT0, 99), Dose("e1", kT0 + 3 * kH, 50, "")});
  x = X(pre_only, kT0 + 7 * kH);
  EXPECT_TRUE(std::isnan(F(x, "spo2_delta_bl")));
  EXPECT_EQ(F(x, "spo2_count_bl"), 0);

  // Without any dose: the first event of any table is the baseline.
  SubjectState no_dose =
      StateOf({Ae("ae", kT0, Cell::Text("MILD"), Cell::Bool(false)),
               Vital("b", "SPO2", kT0 + 2 * kH, 97), Vital("c", "SPO2", kT0 + 6 * kH, 94)});
  EXPECT_EQ(BaselineTime(Spec(), no_dose, kT0 + 6 * kH), kT0);
  x = X(no_dose, kT0 + 6 * kH);
  EXPECT_DOUBLE_EQ(F(x, "spo2_delta_bl"), 94 - 97);
  EXPECT_EQ(F(x, "spo2_count_bl"), 2);

  // Labs: ALT 40 pre-dose (day 0), dose on day 1, then 50 (day 3), 65 (day 5).
  SubjectState labs = StateOf(
      {Lab("l0", "ALT", kT0, 40), Dose("e1", kT0 + kD, 50, ""), Lab("l1", "ALT", kT0 + 3 * kD, 50),
       Lab("l2", "ALT", kT0 + 5 * kD, 65), Lab("l3", "AST", kT0 + 5 * kD, 999)});
  EXPECT_DOUBLE_EQ(F(X(labs, kT0 + 5 * kD), "alt_delta_bl"), 25);
  EXPECT_DOUBLE_EQ(F(X(labs, kT0 + 3 * kD), "alt_delta_bl"), 10);
  EXPECT_TRUE(std::isnan(F(X(labs, kT0 + 2 * kD), "alt_delta_bl")));  // no ALT since the dose
}

TEST(EngineTest, DaysSinceAndDoseTotal) {
  const int64_t mar01_08 = kT0 + 8 * kH;
  const int64_t mar11_08 = kT0 + 10 * kD + 8 * kH;
  const int64_t mar21_08 = kT0 + 20 * kD + 8 * kH;
  SubjectState st = StateOf({
      Dose("e1", mar01_08, 50, "2024-03-10"),        // 10 days of 50
      Dose("e2", mar11_08, 100, ""),                 // no end date: its start day only
      Dose("e3", mar21_08, 25, "2024-03-20T23:00"),  // ends before it starts: contributes nothing
      Ae("ae1", kT0 + kD + 12 * kH, Cell::Text("MILD"), Cell::Bool(false)),  // Mar 2 12:00
      Ae("ae2", kT0 + 3 * kD, Cell::Text("MILD"), Cell::Bool(false)),        // Mar 4 00:00
  });
  // Mar 5 12:00: the end date is clipped at as_of, and the day of as_of counts (5 days).
  auto x = X(st, kT0 + 4 * kD + 12 * kH);
  EXPECT_DOUBLE_EQ(F(x, "ctx_cum_dose"), 5 * 50);
  EXPECT_DOUBLE_EQ(F(x, "ctx_days_on_study"), 4 + 4.0 / 24);
  EXPECT_DOUBLE_EQ(F(x, "ctx_days_since_dose"), 0);  // e1 is still being taken
  EXPECT_DOUBLE_EQ(F(x, "ae_days_since_last"), 1.5);
  EXPECT_DOUBLE_EQ(F(x, "ae_days_since_first"), 3);
  // Mar 15 08:00: 10 days of 50, then Mar 11 (no end date) of 100; the last dose: Mar 11 08:00.
  x = X(st, kT0 + 14 * kD + 8 * kH);
  EXPECT_DOUBLE_EQ(F(x, "ctx_cum_dose"), 10 * 50 + 100);
  EXPECT_DOUBLE_EQ(F(x, "ctx_days_on_study"), 14);
  EXPECT_DOUBLE_EQ(F(x, "ctx_days_since_dose"), 4);
  // Mar 25 00:00: e1 ended on Mar 10, e2 covered its start day, e3 is skipped (its start counts
  // as the last dose time).
  x = X(st, kT0 + 24 * kD);
  EXPECT_DOUBLE_EQ(F(x, "ctx_cum_dose"), 10 * 50 + 100);
  EXPECT_NEAR(F(x, "ctx_days_since_dose"), 3 + 16.0 / 24, 1e-12);
  // Before the first dose and the first AE: missing.
  x = X(st, kT0 + kH);
  EXPECT_TRUE(std::isnan(F(x, "ctx_cum_dose")));
  EXPECT_TRUE(std::isnan(F(x, "ctx_days_on_study")));
  EXPECT_TRUE(std::isnan(F(x, "ae_days_since_last")));
  EXPECT_EQ(F(x, "ae_count_all"), 0);
}

// ---------------------------------------------------------------------------------- filters

TEST(EngineTest, WhereFiltersMatchStringsBooleansAndNumbers) {
  const std::vector<std::pair<std::string, Cell>> spo2 = {{"test_code", Cell::Text("SPO2")},
                                                          {"value", Cell::Number(95)},
                                                          {"tachycardia", Cell::Bool(true)}};
  auto pulse = [](double v, const Cell& tachy) {
    return std::vector<std::pair<std::string, Cell>>{
        {"test_code", Cell::Text("PULSE")}, {"value", Cell::Number(v)}, {"tachycardia", tachy}};
  };
  auto flag = [](const Cell& f) {
    return std::vector<std::pair<std::string, Cell>>{
        {"test_code", Cell::Text("ALT")}, {"value", Cell::Number(30)}, {"range_flag", f}};
  };
  SubjectState st = StateOf({
      MakeRow("vitals", "p1", kT0 + 1 * kH, pulse(120, Cell::Bool(true))),
      MakeRow("vitals", "p2", kT0 + 2 * kH, pulse(80, Cell::Bool(false))),
      MakeRow("vitals", "p3", kT0 + 3 * kH, pulse(90, Cell::Null())),
      MakeRow("vitals", "p4", kT0 + 4 * kH, pulse(130, Cell::Bool(true))),
      MakeRow("vitals", "s1", kT0 + 4 * kH, spo2),  // tachycardia, but not a PULSE row
      MakeRow("labs", "l1", kT0, flag(Cell::Text("LOW"))),
      MakeRow("labs", "l2", kT0, flag(Cell::Text("HIGH"))),
      MakeRow("labs", "l3", kT0, flag(Cell::Text("NORMAL"))),
      MakeRow("labs", "l4", kT0, flag(Cell::Null())),
      MakeRow("labs", "l5", kT0, flag(Cell::Text("high"))),  // values compare as they are
      Ae("a1", kT0, Cell::Text("MILD"), Cell::Bool(false), Cell::Number(1)),
      Ae("a2", kT0, Cell::Text("SEVERE"), Cell::Bool(false), Cell::Number(3)),
      Ae("a3", kT0, Cell::Text("MODERATE"), Cell::Bool(true), Cell::Number(2)),
      Ae("a4", kT0, Cell::Text("SEVERE"), Cell::Bool(true), Cell::Number(3)),
      Ae("a5", kT0, Cell::Null(), Cell::Null(), Cell::Null()),
  });
  auto x = X(st, kT0 + 5 * kH);
  EXPECT_EQ(F(x, "tachy_count_7d"), 2);
  EXPECT_DOUBLE_EQ(F(x, "pulse_mean_24h"), (120 + 80 + 90 + 130) / 4.0);
  EXPECT_EQ(F(x, "lb_abnormal_count_all"), 2);
  EXPECT_EQ(F(x, "ae_count_all"), 5);
  EXPECT_EQ(F(x, "ae_sae_count_all"), 3);     // SEVERE or serious: a2, a3, a4
  EXPECT_EQ(F(x, "ae_grade3_count_all"), 2);  // the number 3 matches `grade: 3`
  EXPECT_EQ(F(x, "spo2_count_6h"), 1);
}

TEST(EngineTest, IndicatorsAndMissingValues) {
  auto subject = [](const Cell& age, const Cell& sex) {
    return MakeRow("subjects", "dm", kT0, {{"age", age}, {"sex", sex}});
  };
  auto x = X(StateOf({subject(Cell::Number(64), Cell::Text("F"))}), kT0 + kD);
  EXPECT_EQ(F(x, "ctx_age"), 64);
  EXPECT_EQ(F(x, "ctx_female"), 1);
  x = X(StateOf({subject(Cell::Number(71), Cell::Text("M"))}), kT0 + kD);
  EXPECT_EQ(F(x, "ctx_female"), 0);
  // Unknown sex and age: missing, not 0 (which would read as "male" / "aged 0").
  x = X(StateOf({subject(Cell::Null(), Cell::Null())}), kT0 + kD);
  EXPECT_TRUE(std::isnan(F(x, "ctx_female")));
  EXPECT_TRUE(std::isnan(F(x, "ctx_age")));

  // A row without a value still counts as an occurrence, but contributes no value.
  SubjectState st =
      StateOf({Vital("a", "SPO2", kT0 + kH, 95),
               MakeRow("vitals", "b", kT0 + 2 * kH,
                       {{"test_code", Cell::Text("SPO2")}, {"value", Cell::Null()}})});
  x = X(st, kT0 + 2 * kH);
  EXPECT_EQ(F(x, "spo2_count_6h"), 2);
  EXPECT_DOUBLE_EQ(F(x, "spo2_mean_6h"), 95);
  EXPECT_DOUBLE_EQ(F(x, "spo2_last_6h"), 95);
}

// ---------------------------------------------------------------------------------- dedupe

TEST(DedupeTest, SameEventIdReceivedLaterReplaces) {
  const FeatureSpec& spec = Spec();
  SubjectState st(spec);
  EXPECT_TRUE(st.Apply(spec, Vital("a", "SPO2", kT0 + kH, 95, kT0 + kH)));
  // A correction under the same id, received later, replaces the row.
  EXPECT_TRUE(st.Apply(spec, Vital("a", "SPO2", kT0 + kH, 88, kT0 + 2 * kH)));
  EXPECT_EQ(st.rows(), 1u);
  auto x = X(st, kT0 + 2 * kH);
  EXPECT_EQ(F(x, "spo2_count_6h"), 1);
  EXPECT_EQ(F(x, "spo2_last_6h"), 88);
  // The same id again, received at the same time or earlier: ignored.
  EXPECT_FALSE(st.Apply(spec, Vital("a", "SPO2", kT0 + kH, 70, kT0 + 2 * kH)));
  EXPECT_FALSE(st.Apply(spec, Vital("a", "SPO2", kT0 + kH, 60, kT0 + kH + 1)));
  EXPECT_EQ(F(X(st, kT0 + 2 * kH), "spo2_last_6h"), 88);
  // A correction that moves the event within its day: the old time is gone everywhere.
  EXPECT_TRUE(st.Apply(spec, Vital("a", "SPO2", kT0 + 5 * kH, 92, kT0 + 3 * kH)));
  EXPECT_EQ(st.rows(), 1u);
  EXPECT_EQ(st.first_event_time_us(), kT0 + 5 * kH);
  EXPECT_EQ(F(X(st, kT0 + 2 * kH), "spo2_count_all"), 0);
  EXPECT_EQ(F(X(st, kT0 + 5 * kH), "spo2_last_6h"), 92);
  // One that moves it to another day is another row, as in Silver (dedupe per table and date).
  EXPECT_TRUE(st.Apply(spec, Vital("a", "SPO2", kT0 + 30 * kH, 91, kT0 + 31 * kH)));
  EXPECT_EQ(st.rows(), 2u);
  EXPECT_EQ(st.DaysWithRows(spec.TableIndex("vitals")), (std::vector<int64_t>{kT0, kT0 + kD}));
  EXPECT_EQ(F(X(st, kT0 + 30 * kH), "spo2_last_6h"), 91);
  // The same id in another table is another row.
  EXPECT_TRUE(st.Apply(spec, Lab("a", "ALT", kT0 + 30 * kH, 20)));
  EXPECT_EQ(st.rows(), 3u);
}

TEST(DedupeTest, SameDedupeKeyUnderAnotherIdLatestReceivedWins) {
  const FeatureSpec& spec = Spec();
  const Row first = Vital("x", "SPO2", kT0 + kH, 90, kT0 + 10 * kH, "K1");
  const Row later = Vital("y", "SPO2", kT0 + kH, 80, kT0 + 20 * kH, "K1");
  SubjectState forward(spec), backward(spec);
  EXPECT_TRUE(forward.Apply(spec, first));
  EXPECT_TRUE(forward.Apply(spec, later));  // supersedes x
  EXPECT_TRUE(backward.Apply(spec, later));
  EXPECT_FALSE(backward.Apply(spec, first));  // loses to y
  for (const SubjectState* st : {&forward, &backward}) {
    EXPECT_EQ(st->rows(), 1u);
    auto x = X(*st, kT0 + 2 * kH);
    EXPECT_EQ(F(x, "spo2_count_6h"), 1);
    EXPECT_EQ(F(x, "spo2_last_6h"), 80);
  }
  // The superseded row's id is gone too: a replay of x does not come back.
  EXPECT_FALSE(forward.Apply(spec, first));
  EXPECT_EQ(F(X(forward, kT0 + 2 * kH), "spo2_last_6h"), 80);
  // Keys are per table: the same key in labs is another observation.
  Row lab = Lab("z", "ALT", kT0 + kH, 30);
  lab.dedupe_key = "K1";
  EXPECT_TRUE(forward.Apply(spec, lab));
  EXPECT_EQ(forward.rows(), 2u);
  // Rows without a key are never merged by key.
  SubjectState no_key = StateOf({Vital("f", "SPO2", kT0, 90), Vital("g", "SPO2", kT0, 90)});
  EXPECT_EQ(no_key.rows(), 2u);
  EXPECT_EQ(F(X(no_key, kT0), "spo2_count_6h"), 2);
}

TEST(DedupeTest, ExactTieGoesToTheLargerEventIdHash) {
  const int64_t recv = kT0 + 5 * kH;
  const Row x = Vital("tie-x", "SPO2", kT0 + kH, 91, recv, "K");
  const Row y = Vital("tie-y", "SPO2", kT0 + kH, 81, recv, "K");
  ASSERT_NE(Hash64("tie-x"), Hash64("tie-y"));
  const double winner = Hash64("tie-x") > Hash64("tie-y") ? 91 : 81;
  SubjectState xy = StateOf({x, y});
  SubjectState yx = StateOf({y, x});
  EXPECT_EQ(xy.rows(), 1u);
  EXPECT_EQ(yx.rows(), 1u);
  EXPECT_EQ(F(X(xy, kT0 + kH), "spo2_last_6h"), winner);
  EXPECT_EQ(F(X(yx, kT0 + kH), "spo2_last_6h"), winner);
}

TEST(DedupeTest, ResultDoesNotDependOnArrivalOrder) {
  // Pairs linked by an id or by a key (Silver documents chains of three as order-dependent).
  std::vector<Row> rows = {
      Vital("a", "SPO2", kT0 + 1 * kH, 95, kT0 + 1 * kH),
      Vital("a", "SPO2", kT0 + 1 * kH, 85, kT0 + 3 * kH),  // correction of a
      Vital("b", "SPO2", kT0 + 2 * kH, 93, kT0 + 2 * kH, "K1"),
      Vital("c", "SPO2", kT0 + 2 * kH, 83, kT0 + 5 * kH, "K1"),  // supersedes b
      Vital("d", "PULSE", kT0 + 2 * kH, 70, kT0 + 4 * kH, "K2"),
      Vital("e", "PULSE", kT0 + 2 * kH, 75, kT0 + 4 * kH, "K2"),  // tie with d
      Vital("f", "SPO2", kT0 + 4 * kH, 97, kT0 + 6 * kH, "K3"),
      Vital("g", "SPO2", kT0 + 5 * kH, 96),
      Lab("l", "ALT", kT0 + 3 * kH, 40),
      Dose("e1", kT0 + 2 * kH, 50, "2024-03-03"),
      Dose("e1", kT0 + 2 * kH, 75, "2024-03-03", kT0 + 8 * kH),  // dose corrected
      Ae("ae1", kT0 + 4 * kH, Cell::Text("SEVERE"), Cell::Bool(false)),
  };
  const SubjectState reference = StateOf(rows);
  EXPECT_EQ(reference.rows(), 8u);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::shuffle(rows.begin(), rows.end(), rng);
    SubjectState st = StateOf(rows);
    ASSERT_EQ(st.rows(), reference.rows()) << "round " << round;
    for (int64_t as_of : {kT0 + 2 * kH, kT0 + 4 * kH, kT0 + 6 * kH, kT0 + 3 * kD}) {
      ExpectSameVector(X(st, as_of), X(reference, as_of), "round " + std::to_string(round));
    }
    EXPECT_EQ(st.first_event_time_us(), reference.first_event_time_us());
    EXPECT_EQ(st.last_event_time_us(), reference.last_event_time_us());
    if (HasFailure()) break;
  }
  auto x = X(reference, kT0 + 6 * kH);
  EXPECT_EQ(F(x, "spo2_count_6h"), 4);  // a, c, f, g
  EXPECT_EQ(F(x, "spo2_min_6h"), 83);
  EXPECT_EQ(F(x, "pulse_mean_24h"), Hash64("d") > Hash64("e") ? 70 : 75);
  EXPECT_DOUBLE_EQ(F(X(reference, kT0 + 3 * kD), "ctx_cum_dose"), 3 * 75);
}

// ---------------------------------------------------------------------------------- labels

const LabelDef& L(const std::string& name) {
  const LabelDef* l = Spec().FindLabel(name);
  EXPECT_NE(l, nullptr) << name;
  static const LabelDef kNone;
  return l ? *l : kNone;
}

TEST(LabelTest, LooksStrictlyAfterAsOfAndCensors) {
  const LabelDef& l = L("spo2_below_90_24h");
  SubjectState st = StateOf({Vital("a", "SPO2", kT0, 85),  // at as_of: must not count
                             Vital("b", "SPO2", kT0 + 2 * kH, 95),
                             Vital("c", "PULSE", kT0 + 30 * kH, 80)});  // data runs to 30h
  EXPECT_EQ(Label(l, st, kT0), LabelOutcome::kNegative);
  // Just before the 85: it is inside (as_of, as_of + 24h].
  EXPECT_EQ(Label(l, st, kT0 - 1), LabelOutcome::kPositive);
  // Exactly 24h before the 85: the horizon's closed end includes it.
  EXPECT_EQ(Label(l, st, kT0 - 24 * kH), LabelOutcome::kPositive);
  EXPECT_EQ(Label(l, st, kT0 - 24 * kH - 1), LabelOutcome::kNegative);
  // Censored: no event, and the subject's data ends (30h) before as_of + 24h.
  EXPECT_EQ(Label(l, st, kT0 + 6 * kH), LabelOutcome::kNegative);
  EXPECT_EQ(Label(l, st, kT0 + 6 * kH + 1), LabelOutcome::kCensored);
  EXPECT_EQ(Label(l, st, kT0 + 20 * kH), LabelOutcome::kCensored);
  EXPECT_EQ(Label(l, SubjectState(Spec()), kT0), LabelOutcome::kCensored);
  // 90 itself is not "< 90".
  SubjectState edge =
      StateOf({Vital("x", "SPO2", kT0 + kH, 90), Vital("y", "SPO2", kT0 + 48 * kH, 97)});
  EXPECT_EQ(Label(l, edge, kT0), LabelOutcome::kNegative);
  // Other tests do not count (a PULSE of 50 is not an SpO2 below 90).
  SubjectState pulse =
      StateOf({Vital("p", "PULSE", kT0 + kH, 50), Vital("q", "PULSE", kT0 + 48 * kH, 70)});
  EXPECT_EQ(Label(l, pulse, kT0), LabelOutcome::kNegative);
}

TEST(LabelTest, PositivesAreNeverCensored) {
  // The desaturation is the subject's last row: its data ends before as_of + 24h, but the
  // event happened, so the example is positive.
  SubjectState st = StateOf({Vital("a", "SPO2", kT0, 96), Vital("b", "SPO2", kT0 + 2 * kH, 84)});
  EXPECT_EQ(Label(L("spo2_below_90_24h"), st, kT0), LabelOutcome::kPositive);
  EXPECT_EQ(Label(L("spo2_below_90_24h"), st, kT0 + 2 * kH), LabelOutcome::kCensored);
}

TEST(LabelTest, WhereAnyLabel) {
  const LabelDef& l = L("severe_ae_14d");
  SubjectState st = StateOf({Ae("a1", kT0 + 2 * kD, Cell::Text("MILD"), Cell::Bool(false)),
                             Ae("a2", kT0 + 10 * kD, Cell::Text("MODERATE"), Cell::Bool(true)),
                             Ae("a3", kT0 + 40 * kD, Cell::Text("SEVERE"), Cell::Bool(false)),
                             Vital("v", "SPO2", kT0 + 60 * kD, 97)});
  EXPECT_EQ(Label(l, st, kT0), LabelOutcome::kPositive);                // a2 (serious) at day 10
  EXPECT_EQ(Label(l, st, kT0 + 10 * kD), LabelOutcome::kNegative);      // a2 is at as_of
  EXPECT_EQ(Label(l, st, kT0 + 26 * kD), LabelOutcome::kPositive);      // a3 (SEVERE) at day 40
  EXPECT_EQ(Label(l, st, kT0 + 26 * kD - 1), LabelOutcome::kNegative);  // day 40 is 1us past
  EXPECT_EQ(Label(l, st, kT0 + 46 * kD), LabelOutcome::kNegative);      // data reaches day 60
  EXPECT_EQ(Label(l, st, kT0 + 46 * kD + 1), LabelOutcome::kCensored);
}

TEST(LabelTest, TerminalLabelEndsTheSubjectsExamples) {
  const LabelDef& l = L("ae_discontinuation_30d");
  ASSERT_TRUE(l.terminal);
  SubjectState st = StateOf({Disposition("ic", kT0, "INFORMED CONSENT OBTAINED"),
                             Disposition("ds", kT0 + 10 * kD, "ADVERSE EVENT"),
                             Vital("v", "SPO2", kT0 + 50 * kD, 97)});
  EXPECT_EQ(Label(l, st, kT0), LabelOutcome::kPositive);
  EXPECT_EQ(Label(l, st, kT0 + 10 * kD - 1), LabelOutcome::kPositive);
  EXPECT_EQ(Label(l, st, kT0 + 10 * kD), LabelOutcome::kAfterTerminal);
  EXPECT_EQ(Label(l, st, kT0 + 30 * kD), LabelOutcome::kAfterTerminal);
  // Another disposition is not the label's event, and not terminal.
  SubjectState completed = StateOf({Disposition("ic", kT0, "INFORMED CONSENT OBTAINED"),
                                    Disposition("ds", kT0 + 10 * kD, "COMPLETED"),
                                    Vital("v", "SPO2", kT0 + 50 * kD, 97)});
  EXPECT_EQ(Label(l, completed, kT0), LabelOutcome::kNegative);
  EXPECT_EQ(Label(l, completed, kT0 + 15 * kD), LabelOutcome::kNegative);
  EXPECT_EQ(Label(l, completed, kT0 + 25 * kD), LabelOutcome::kCensored);
}

// Label against a brute-force reading of its definition, over random histories: a positive
// always comes from an event in (as_of, as_of + horizon], never from one at or before as_of.
TEST(LabelTest, MatchesItsDefinitionOnRandomHistories) {
  const LabelDef& l = L("spo2_below_90_24h");
  std::mt19937 rng(42);
  std::uniform_int_distribution<int64_t> minute(0, 5 * 24 * 60);
  std::uniform_real_distribution<double> value(84, 99);
  size_t positives = 0, censored = 0, negatives = 0;
  for (int subject = 0; subject < 30; ++subject) {
    std::vector<std::pair<int64_t, double>> obs;
    std::vector<Row> rows;
    for (int i = 0; i < 25; ++i) {
      const int64_t t = kT0 + minute(rng) * 60 * kMicrosPerSecond;
      const double v = value(rng);
      obs.emplace_back(t, v);
      rows.push_back(Vital("r" + std::to_string(i), "SPO2", t, v));
    }
    SubjectState st = StateOf(rows);
    int64_t last = 0;
    for (const auto& o : obs) last = std::max(last, o.first);
    for (int64_t as_of = kT0 - 2 * kH; as_of < kT0 + 6 * kD; as_of += 37 * 60 * kMicrosPerSecond) {
      bool event = false;
      for (const auto& [t, v] : obs) event |= t > as_of && t <= as_of + 24 * kH && v < 90;
      const LabelOutcome want = event                    ? LabelOutcome::kPositive
                                : last < as_of + 24 * kH ? LabelOutcome::kCensored
                                                         : LabelOutcome::kNegative;
      ASSERT_EQ(Label(l, st, as_of), want) << "subject " << subject << " as_of " << as_of;
      positives += want == LabelOutcome::kPositive;
      censored += want == LabelOutcome::kCensored;
      negatives += want == LabelOutcome::kNegative;
    }
  }
  EXPECT_GT(positives, 50u);
  EXPECT_GT(censored, 50u);
  EXPECT_GT(negatives, 20u);
}

// ---------------------------------------------------------------------------------- leakage

std::vector<Row> History() {
  return {
      MakeRow("subjects", "dm", kT0, {{"age", Cell::Number(64)}, {"sex", Cell::Text("F")}}),
      Vital("s0", "SPO2", kT0 + 1 * kH, 97),
      Dose("e1", kT0 + 2 * kH, 50, "2024-03-04"),
      Vital("s1", "SPO2", kT0 + 20 * kH, 95),
      Vital("p1", "PULSE", kT0 + 21 * kH, 88),
      Lab("l1", "ALT", kT0 + 22 * kH, 31),
      Ae("ae1", kT0 + 23 * kH, Cell::Text("MODERATE"), Cell::Bool(false), Cell::Number(2)),
      Vital("s2", "SPO2", kT0 + 26 * kH, 93),
      Lab("l2", "ALT", kT0 + 2 * kD, 44),
      Vital("s3", "SPO2", kT0 + 2 * kD + 3 * kH, 92),
  };
}

// Rows after as_of, of every table the spec reads, some extreme, one 1us after as_of.
std::vector<Row> FutureRows(int64_t as_of) {
  return {
      Vital("f1", "SPO2", as_of + 1, 50),
      Vital("f2", "SPO2", as_of + kH, 40),
      MakeRow("vitals", "f3", as_of + 2 * kH,
              {{"test_code", Cell::Text("PULSE")},
               {"value", Cell::Number(180)},
               {"tachycardia", Cell::Bool(true)}}),
      Lab("f4", "ALT", as_of + 3 * kH, 900),
      MakeRow("labs", "f5", as_of + 3 * kH,
              {{"test_code", Cell::Text("AST")},
               {"value", Cell::Number(500)},
               {"range_flag", Cell::Text("HIGH")}}),
      Ae("f6", as_of + kD, Cell::Text("SEVERE"), Cell::Bool(true), Cell::Number(3)),
      Dose("f7", as_of + 1, 1000, ""),
      MakeRow("subjects", "f8", as_of + kH, {{"age", Cell::Number(99)}, {"sex", Cell::Text("M")}}),
      Disposition("f9", as_of + 2 * kD, "ADVERSE EVENT"),
  };
}

TEST(NoLeakageTest, RowsAfterAsOfLeaveTheVectorUnchanged) {
  const std::vector<Row> history = History();
  const std::vector<int64_t> times = {kT0,           kT0 + 1 * kH,  kT0 + 2 * kH, kT0 + 20 * kH,
                                      kT0 + 23 * kH, kT0 + 26 * kH, kT0 + 2 * kD, kT0 + 3 * kD};
  for (int64_t as_of : times) {
    // Only what happened by as_of, versus everything plus the future.
    std::vector<Row> past, all = history;
    for (const auto& r : history) {
      if (r.event_time_us <= as_of) past.push_back(r);
    }
    for (const auto& r : FutureRows(as_of)) all.push_back(r);
    SubjectState known = StateOf(past), full = StateOf(all);
    const std::string where = "as_of=" + FormatIso8601(as_of);
    ExpectSameVector(X(full, as_of), X(known, as_of), where);
    ExpectSameVector(X(full, as_of, true), X(known, as_of, true), where + " strict");
    // ...while the future rows do count once as_of moves past them.
    EXPECT_EQ(F(X(full, as_of + 1), "spo2_last_24h"), 50) << where;
  }
}

TEST(NoLeakageTest, StrictModeIgnoresRowsReceivedAfterAsOf) {
  const int64_t as_of = kT0 + 5 * kH;
  SubjectState st = StateOf({
      Vital("a", "SPO2", kT0 + 3 * kH, 96),
      // Measured before as_of but received after it (a late upload).
      Vital("late", "SPO2", kT0 + 4 * kH, 88, as_of + 30 * 60 * kMicrosPerSecond),
      // Received exactly at as_of: still visible in strict mode.
      Vital("edge", "PULSE", kT0 + 4 * kH, 100, as_of),
      Ae("ae-prompt", kT0 + 4 * kH, Cell::Text("SEVERE"), Cell::Bool(true)),
  });
  // The AE above was received at its event time; this one arrives late.
  Row late_ae = Ae("ae-late2", kT0 + 4 * kH, Cell::Text("MILD"), Cell::Bool(false));
  late_ae.received_at_us = as_of + 1;
  st.Apply(Spec(), late_ae);

  auto loose = X(st, as_of, false);
  auto strict = X(st, as_of, true);
  EXPECT_EQ(F(loose, "spo2_last_24h"), 88);
  EXPECT_EQ(F(loose, "spo2_count_6h"), 2);
  EXPECT_EQ(F(loose, "ae_count_all"), 2);
  EXPECT_EQ(F(strict, "spo2_last_24h"), 96);
  EXPECT_EQ(F(strict, "spo2_count_6h"), 1);
  EXPECT_EQ(F(strict, "spo2_count_all"), 1);
  EXPECT_EQ(F(strict, "pulse_mean_24h"), 100);
  EXPECT_EQ(F(strict, "ae_count_all"), 1);
  // Once as_of reaches its receipt time, strict sees it too.
  EXPECT_EQ(F(X(st, as_of + kH, true), "spo2_last_24h"), 88);
}

// Strict mode means "what was known at as_of": a first dose received after as_of must not move
// the baseline either (the bl windows and delta_bl), exactly as if the dose were not there yet.
TEST(NoLeakageTest, StrictModeBaselineIgnoresADoseReceivedAfterAsOf) {
  const int64_t as_of = kT0 + 10 * kH;
  const std::vector<Row> known = {Vital("a", "SPO2", kT0, 99), Vital("b", "SPO2", kT0 + 2 * kH, 97),
                                  Vital("c", "SPO2", kT0 + 6 * kH, 94)};
  std::vector<Row> with_late_dose = known;
  with_late_dose.push_back(Dose("e1", kT0 + 4 * kH, 50, "", /*received=*/as_of + kH));
  auto expected = X(StateOf(known), as_of, true);
  auto got = X(StateOf(with_late_dose), as_of, true);
  EXPECT_EQ(F(expected, "spo2_count_bl"), 3);
  EXPECT_EQ(F(got, "spo2_count_bl"), F(expected, "spo2_count_bl"));
  EXPECT_EQ(F(got, "spo2_delta_bl"), F(expected, "spo2_delta_bl"));
  ExpectSameVector(got, expected, "strict, dose received after as_of");
}

TEST(NoLeakageTest, AddingALabelDoesNotChangeTheVectors) {
  // Spec B = spec A + a label on a table no feature reads: the same hash, and the same vectors
  // even though B's states also hold that table's rows.
  const std::string features = R"(name: t
entity: subject
features:
  - {name: spo2_count_bl, table: vitals, test: SPO2, agg: count, window: bl}
  - {name: spo2_delta_bl, table: vitals, test: SPO2, agg: delta_bl, window: bl}
  - {name: spo2_mean_24h, table: vitals, test: SPO2, agg: mean, window: 24h}
)";
  auto a = FeatureSpec::FromYaml(features, "a.yaml");
  auto b = FeatureSpec::FromYaml(features + R"(labels:
  - {name: disc_30d, table: disposition, where: {decod: ADVERSE EVENT}, horizon: 30d, terminal: true}
)",
                                 "b.yaml");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->spec_hash(), b->spec_hash());
  auto vital = [](const FeatureSpec& spec, const std::string& id, int64_t t, double v) {
    Row r;
    r.table = spec.TableIndex("vitals");
    r.subject_key = "S1";
    r.event_id = id;
    r.event_time_us = r.received_at_us = t;
    r.cells.assign(spec.tables()[static_cast<size_t>(r.table)].columns.size(), Cell::Null());
    r.cells[0] = Cell::Text("SPO2");  // test_code is the first column the spec reads
    r.cells[1] = Cell::Number(v);
    return r;
  };
  ASSERT_EQ(a->tables()[static_cast<size_t>(a->TableIndex("vitals"))].columns,
            (std::vector<std::string>{"test_code", "value"}));
  SubjectState sa(*a), sb(*b);
  const std::vector<std::tuple<std::string, int64_t, double>> vitals = {
      {"v1", kT0 + 2 * kD, 97}, {"v2", kT0 + 3 * kD, 95}, {"v3", kT0 + 4 * kD, 91}};
  for (const auto& [id, t, v] : vitals) {
    sa.Apply(*a, vital(*a, id, t, v));
    sb.Apply(*b, vital(*b, id, t, v));
  }
  Row consent;
  consent.table = b->TableIndex("disposition");
  consent.subject_key = "S1";
  consent.event_id = "ic";
  consent.event_time_us = consent.received_at_us = kT0;  // before every vital sign
  consent.cells.assign(1, Cell::Text("INFORMED CONSENT OBTAINED"));
  sb.Apply(*b, consent);
  for (int64_t as_of = kT0; as_of <= kT0 + 5 * kD; as_of += 12 * kH) {
    auto xa = Compute(*a, sa, as_of), xb = Compute(*b, sb, as_of);
    ASSERT_EQ(xa.size(), xb.size());
    for (size_t i = 0; i < xa.size(); ++i) {
      EXPECT_TRUE((std::isnan(xa[i]) && std::isnan(xb[i])) || xa[i] == xb[i])
          << a->names()[i] << " at " << FormatIso8601(as_of) << ": " << xa[i] << " vs " << xb[i];
    }
  }
}

// ---------------------------------------------------------------------------------- precision

Row WithPrecision(Row r, const std::string& precision) {
  r.precision = precision;
  return r;
}

TEST(PrecisionTest, ACoarseDateCountsOnlyOnceItsPeriodIsOver) {
  // An AE known only to the month (placed at the start of its period) and a vital sign known
  // to the day: as of a time inside their period they may not have happened yet.
  SubjectState st = StateOf({
      WithPrecision(Ae("ae1", kT0, Cell::Text("MILD"), Cell::Bool(false)), "month"),
      WithPrecision(Vital("v1", "SPO2", kT0, 97), "day"),
      Vital("v2", "PULSE", kT0 + 2 * kH, 80),  // minute precision: known at its time
  });
  auto x = X(st, kT0 + 12 * kH);
  EXPECT_EQ(F(x, "ae_count_all"), 0);
  EXPECT_EQ(F(x, "spo2_count_all"), 0);
  EXPECT_TRUE(std::isnan(F(x, "spo2_last_24h")));
  EXPECT_EQ(F(x, "pulse_mean_24h"), 80);
  x = X(st, kT0 + kD - 1);  // the end of the day
  EXPECT_EQ(F(x, "spo2_last_24h"), 97);
  EXPECT_EQ(F(x, "ae_count_all"), 0);
  x = X(st, kT0 + 31 * kD - 1);  // a month counts 31 days
  EXPECT_EQ(F(x, "ae_count_all"), 1);
  EXPECT_EQ(KnownFrom(kT0, "year"), kT0 + 366 * kD - 1);
  EXPECT_EQ(KnownFrom(kT0, "second"), kT0);
  EXPECT_EQ(KnownFrom(kT0, ""), kT0);
}

TEST(PrecisionTest, ALabelNeedsTheWholePeriodInsideTheHorizon) {
  const LabelDef& severe = *Spec().FindLabel("severe_ae_14d");
  const Row follow_up = Vital("late", "SPO2", kT0 + 90 * kD, 97);
  // A severe AE known to the day, 5 days ahead: positive.
  SubjectState day =
      StateOf({WithPrecision(Ae("a", kT0 + 5 * kD, Cell::Text("SEVERE"), Cell::Bool(false)), "day"),
               follow_up});
  EXPECT_EQ(Label(severe, day, kT0), LabelOutcome::kPositive);
  // Known only to the month: it may fall after the 14 days -> censored, not negative.
  SubjectState month = StateOf(
      {WithPrecision(Ae("a", kT0 + 5 * kD, Cell::Text("SEVERE"), Cell::Bool(false)), "month"),
       follow_up});
  EXPECT_EQ(Label(severe, month, kT0), LabelOutcome::kCensored);
  // Its period started before as_of and is not over: it may be in the past or the future.
  EXPECT_EQ(Label(severe, month, kT0 + 10 * kD), LabelOutcome::kCensored);
  // Once the period is over it is the past: no positive, the horizon is clear -> negative.
  EXPECT_EQ(Label(severe, month, kT0 + 40 * kD), LabelOutcome::kNegative);
}

// ---------------------------------------------------------------------------------- instants

TEST(EngineTest, ReadingsAtOneInstantAreAveragedWherePickingAnEnd) {
  // Supine, standing 1 min and standing 3 min readings share the visit's time.
  SubjectState st = StateOf(
      {Vital("a", "SPO2", kT0, 90), Vital("b", "SPO2", kT0, 94), Vital("c", "SPO2", kT0, 98)});
  auto x = X(st, kT0 + kH);
  EXPECT_EQ(F(x, "spo2_last_6h"), 94);
  EXPECT_TRUE(std::isnan(F(x, "spo2_delta_6h")));  // one instant: no change to measure
  EXPECT_EQ(F(x, "spo2_count_6h"), 3);
  EXPECT_EQ(F(x, "spo2_min_6h"), 90);
  st.Apply(Spec(), Vital("d", "SPO2", kT0 + 2 * kH, 96));
  st.Apply(Spec(), Vital("e", "SPO2", kT0 + 2 * kH, 100));
  x = X(st, kT0 + 3 * kH);
  EXPECT_EQ(F(x, "spo2_last_6h"), 98);
  EXPECT_EQ(F(x, "spo2_delta_6h"), 98 - 94);
}

TEST(EngineTest, LabelOnlyTablesDoNotMoveTheVectorsAsOf) {
  SubjectState st =
      StateOf({Vital("a", "SPO2", kT0, 97), Disposition("d", kT0 + 5 * kD, "COMPLETED")});
  EXPECT_EQ(st.last_event_time_us(), kT0);
  EXPECT_EQ(st.follow_up_end_us(), kT0 + 5 * kD);
  EXPECT_EQ(st.LastEventAtOrBefore(kT0 + 10 * kD), kT0);
  SubjectState ds_only = StateOf({Disposition("d", kT0, "COMPLETED")});
  EXPECT_FALSE(ds_only.has_feature_rows());
  EXPECT_FALSE(ds_only.empty());
}

}  // namespace
}  // namespace ctml::features
