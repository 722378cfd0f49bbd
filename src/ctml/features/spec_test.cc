// The declarative feature spec (spec.h): the committed config/features/clinical.yaml, template
// expansion, the spec hash and "file:LINE: message" errors.
#include "ctml/features/spec.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ctml/core/config.h"
#include "ctml/core/time.h"
#include "ctml/process/standards.h"

namespace ctml::features {
namespace {

constexpr int64_t kH = kMicrosPerHour;
constexpr int64_t kD = kMicrosPerDay;

std::string ClinicalPath() {
  return std::string(CTML_SOURCE_DIR) + "/config/features/clinical.yaml";
}

const FeatureDef* FindFeature(const FeatureSpec& spec, const std::string& name) {
  for (const auto& f : spec.features()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const std::string& TableOf(const FeatureSpec& spec, int series) {
  return spec.tables()[static_cast<size_t>(spec.series()[static_cast<size_t>(series)].table)].name;
}

const std::string& ColumnOf(const FeatureSpec& spec, int series, int column) {
  const SeriesDef& sd = spec.series()[static_cast<size_t>(series)];
  return spec.tables()[static_cast<size_t>(sd.table)].columns[static_cast<size_t>(column)];
}

// The conditions of a series as {column: values}, for one alternative.
std::map<std::string, std::vector<std::string>> Conditions(const FeatureSpec& spec, int series,
                                                           size_t alternative) {
  std::map<std::string, std::vector<std::string>> out;
  const SeriesDef& sd = spec.series()[static_cast<size_t>(series)];
  if (alternative >= sd.any_of.size()) return out;
  for (const auto& c : sd.any_of[alternative]) out[ColumnOf(spec, series, c.column)] = c.values;
  return out;
}

Result<FeatureSpec> Parse(const std::string& yaml) { return FeatureSpec::FromYaml(yaml, "t.yaml"); }

// ---------------------------------------------------------------------------------- committed

TEST(FeatureSpecTest, ParsesTheCommittedClinicalSpec) {
  auto spec = FeatureSpec::LoadFile(ClinicalPath());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->view(), "clinical");
  EXPECT_EQ(spec->entity(), "subject");
  EXPECT_GE(spec->names().size(), 120u);
  EXPECT_EQ(spec->spec_hash().size(), 16u);
  ASSERT_EQ(spec->names().size(), spec->features().size());
  std::set<std::string> unique;
  for (size_t i = 0; i < spec->features().size(); ++i) {
    EXPECT_EQ(spec->names()[i], spec->features()[i].name);
    EXPECT_TRUE(unique.insert(spec->names()[i]).second) << "duplicate " << spec->names()[i];
  }
  // Every Silver table is read (medications by cm_count_*, disposition by a label).
  std::set<std::string> tables;
  for (const auto& t : spec->tables()) tables.insert(t.name);
  EXPECT_EQ(tables, (std::set<std::string>{"subjects", "vitals", "labs", "adverse_events",
                                           "medications", "exposure", "disposition"}));
  // The baseline is the first exposure row.
  ASSERT_GE(spec->baseline_series(), 0);
  EXPECT_EQ(TableOf(*spec, spec->baseline_series()), "exposure");

  // The names the issue and DESIGN.md use, with what they mean.
  struct Expect {
    std::string name, table;
    Agg agg;
    WindowKind window;
    int64_t window_us;
  };
  const std::vector<Expect> expected = {
      {"vs_sysbp_mean_7d", "vitals", Agg::kMean, WindowKind::kDuration, 7 * kD},
      {"vs_spo2_min_24h", "vitals", Agg::kMin, WindowKind::kDuration, 24 * kH},
      {"vs_spo2_slope_6h", "vitals", Agg::kSlope, WindowKind::kDuration, 6 * kH},
      {"vs_pulse_std_24h", "vitals", Agg::kStd, WindowKind::kDuration, 24 * kH},
      {"vs_sysbp_delta_bl", "vitals", Agg::kDeltaBaseline, WindowKind::kBaseline, 0},
      {"lb_alt_last_30d", "labs", Agg::kLast, WindowKind::kDuration, 30 * kD},
      {"lb_alt_delta_bl", "labs", Agg::kDeltaBaseline, WindowKind::kBaseline, 0},
      {"lb_abnormal_count_bl", "labs", Agg::kCount, WindowKind::kBaseline, 0},
      {"ae_count_severe_30d", "adverse_events", Agg::kCount, WindowKind::kDuration, 30 * kD},
      {"ae_days_since_last", "adverse_events", Agg::kDaysSinceLast, WindowKind::kAll, 0},
      {"ctx_age", "subjects", Agg::kLast, WindowKind::kAll, 0},
      {"ctx_days_on_study", "exposure", Agg::kDaysSinceFirst, WindowKind::kAll, 0},
      {"ctx_cum_dose", "exposure", Agg::kDoseTotal, WindowKind::kAll, 0},
      {"cm_count_30d", "medications", Agg::kCount, WindowKind::kDuration, 30 * kD},
  };
  for (const auto& e : expected) {
    const FeatureDef* f = FindFeature(*spec, e.name);
    ASSERT_NE(f, nullptr) << e.name;
    EXPECT_EQ(TableOf(*spec, f->series), e.table) << e.name;
    EXPECT_EQ(f->agg, e.agg) << e.name;
    EXPECT_EQ(f->window, e.window) << e.name;
    EXPECT_EQ(f->window_us, e.window_us) << e.name;
  }
  // Filters: the test code, a where list, a boolean.
  const FeatureDef* sysbp = FindFeature(*spec, "vs_sysbp_mean_7d");
  EXPECT_EQ(Conditions(*spec, sysbp->series, 0),
            (std::map<std::string, std::vector<std::string>>{{"test_code", {"SYSBP"}}}));
  EXPECT_EQ(ColumnOf(*spec, sysbp->series, spec->series()[sysbp->series].value_column), "value");
  const FeatureDef* severe = FindFeature(*spec, "ae_count_severe_30d");
  EXPECT_EQ(Conditions(*spec, severe->series, 0),
            (std::map<std::string, std::vector<std::string>>{{"severity", {"SEVERE"}}}));
  EXPECT_EQ(spec->series()[severe->series].value_column, -1);  // an occurrence counts 1
  const FeatureDef* abnormal = FindFeature(*spec, "lb_abnormal_count_30d");
  ASSERT_NE(abnormal, nullptr);
  EXPECT_EQ(Conditions(*spec, abnormal->series, 0),
            (std::map<std::string, std::vector<std::string>>{
                {"range_flag", {"LOW", "HIGH", "ABNORMAL"}}}));
  const FeatureDef* serious = FindFeature(*spec, "ae_count_serious_30d");
  ASSERT_NE(serious, nullptr);
  EXPECT_EQ(Conditions(*spec, serious->series, 0),
            (std::map<std::string, std::vector<std::string>>{{"serious", {"true"}}}));
  const FeatureDef* female = FindFeature(*spec, "ctx_sex_female");
  ASSERT_NE(female, nullptr);
  EXPECT_EQ(spec->series()[female->series].indicator, "F");
  EXPECT_EQ(ColumnOf(*spec, female->series, spec->series()[female->series].value_column), "sex");
  const FeatureDef* dose = FindFeature(*spec, "ctx_cum_dose");
  const SeriesDef& dose_series = spec->series()[dose->series];
  EXPECT_EQ(ColumnOf(*spec, dose->series, dose_series.value_column), "dose");
  ASSERT_GE(dose_series.end_column, 0);
  EXPECT_EQ(ColumnOf(*spec, dose->series, dose_series.end_column), "end_date");
  // Features reading the same rows share one series (computed once per row).
  EXPECT_EQ(FindFeature(*spec, "vs_sysbp_mean_7d")->series,
            FindFeature(*spec, "vs_sysbp_last_24h")->series);
  EXPECT_LT(spec->series().size(), spec->features().size() / 2);

  // Labels.
  const LabelDef* disc = spec->FindLabel("ae_discontinuation_30d");
  ASSERT_NE(disc, nullptr);
  EXPECT_EQ(TableOf(*spec, disc->series), "disposition");
  EXPECT_EQ(Conditions(*spec, disc->series, 0),
            (std::map<std::string, std::vector<std::string>>{{"decod", {"ADVERSE EVENT"}}}));
  EXPECT_EQ(disc->horizon_us, 30 * kD);
  EXPECT_TRUE(disc->terminal);
  EXPECT_FALSE(disc->has_threshold);
  EXPECT_FALSE(disc->description.empty());
  const LabelDef* sae = spec->FindLabel("severe_ae_14d");
  ASSERT_NE(sae, nullptr);
  EXPECT_EQ(TableOf(*spec, sae->series), "adverse_events");
  ASSERT_EQ(spec->series()[sae->series].any_of.size(), 2u);
  EXPECT_EQ(Conditions(*spec, sae->series, 0),
            (std::map<std::string, std::vector<std::string>>{{"serious", {"true"}}}));
  EXPECT_EQ(Conditions(*spec, sae->series, 1),
            (std::map<std::string, std::vector<std::string>>{{"severity", {"SEVERE"}}}));
  EXPECT_EQ(sae->horizon_us, 14 * kD);
  EXPECT_FALSE(sae->terminal);
  const LabelDef* spo2 = spec->FindLabel("spo2_below_90_24h");
  ASSERT_NE(spo2, nullptr);
  EXPECT_EQ(TableOf(*spec, spo2->series), "vitals");
  EXPECT_TRUE(spo2->has_threshold);
  EXPECT_EQ(spo2->op, CompareOp::kLt);
  EXPECT_EQ(spo2->threshold, 90);
  EXPECT_EQ(spo2->horizon_us, 24 * kH);
  EXPECT_EQ(spec->FindLabel("no_such_label"), nullptr);
  EXPECT_EQ(spec->labels().size(), 3u);
}

TEST(FeatureSpecTest, LoadResolvesAgainstTheConfigDirAndDefaultsToClinical) {
  auto cfg = Config::FromYaml("features:\n  spec: config/features/clinical.yaml\n", CTML_SOURCE_DIR,
                              false);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  auto spec = FeatureSpec::Load(*cfg);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->view(), "clinical");
  auto direct = FeatureSpec::LoadFile(ClinicalPath());
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(spec->spec_hash(), direct->spec_hash());

  auto no_key = Config::FromYaml("log:\n  level: info\n", CTML_SOURCE_DIR, false);
  ASSERT_TRUE(no_key.ok());
  auto by_default = FeatureSpec::Load(*no_key);
  ASSERT_TRUE(by_default.ok()) << by_default.status().ToString();
  EXPECT_EQ(by_default->spec_hash(), direct->spec_hash());

  auto missing = FeatureSpec::LoadFile("/nonexistent/spec.yaml");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------- templates

TEST(FeatureSpecTest, TemplatesExpandEveryCombinationInOrder) {
  auto spec = Parse(R"(name: t
entity: subject
features:
  - name: vs_{test}_{agg}_{window}
    table: vitals
    test: [SYSBP, SPO2]
    agg: [mean, max]
    window: [24h, 7d]
  - {name: "ae_count_{window}", table: adverse_events, agg: count, window: [bl, all]}
  - {name: "{test}_only", table: labs, test: ALT, agg: last, window: 30d}
)");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->names(),
            (std::vector<std::string>{"vs_sysbp_mean_24h", "vs_sysbp_mean_7d", "vs_sysbp_max_24h",
                                      "vs_sysbp_max_7d", "vs_spo2_mean_24h", "vs_spo2_mean_7d",
                                      "vs_spo2_max_24h", "vs_spo2_max_7d", "ae_count_bl",
                                      "ae_count_all", "alt_only"}));
  const auto& f = spec->features();
  EXPECT_EQ(f[0].agg, Agg::kMean);
  EXPECT_EQ(f[0].window_us, 24 * kH);
  EXPECT_EQ(f[1].window_us, 7 * kD);
  EXPECT_EQ(f[2].agg, Agg::kMax);
  EXPECT_EQ(f[8].window, WindowKind::kBaseline);
  EXPECT_EQ(f[9].window, WindowKind::kAll);
  // {test} selects the rows: the SYSBP features share one series, the SPO2 ones another.
  EXPECT_EQ(f[0].series, f[3].series);
  EXPECT_EQ(f[4].series, f[7].series);
  EXPECT_NE(f[0].series, f[4].series);
  EXPECT_EQ(Conditions(*spec, f[0].series, 0),
            (std::map<std::string, std::vector<std::string>>{{"test_code", {"SYSBP"}}}));
  EXPECT_EQ(Conditions(*spec, f[4].series, 0),
            (std::map<std::string, std::vector<std::string>>{{"test_code", {"SPO2"}}}));
  EXPECT_TRUE(spec->series()[f[8].series].any_of.empty());  // every AE row
  EXPECT_EQ(spec->baseline_series(), -1);
  EXPECT_TRUE(spec->labels().empty());

  // The expansion is what writing every feature out gives, hash included.
  auto spelled = Parse(R"(name: t
entity: subject
features:
  - {name: vs_sysbp_mean_24h, table: vitals, test: SYSBP, agg: mean, window: 24h}
  - {name: vs_sysbp_mean_7d, table: vitals, test: SYSBP, agg: mean, window: 7d}
  - {name: vs_sysbp_max_24h, table: vitals, test: SYSBP, agg: max, window: 24h}
  - {name: vs_sysbp_max_7d, table: vitals, test: SYSBP, agg: max, window: 7d}
  - {name: vs_spo2_mean_24h, table: vitals, test: SPO2, agg: mean, window: 24h}
  - {name: vs_spo2_mean_7d, table: vitals, test: SPO2, agg: mean, window: 7d}
  - {name: vs_spo2_max_24h, table: vitals, test: SPO2, agg: max, window: 24h}
  - {name: vs_spo2_max_7d, table: vitals, test: SPO2, agg: max, window: 7d}
  - {name: ae_count_bl, table: adverse_events, agg: count, window: bl}
  - {name: ae_count_all, table: adverse_events, agg: count, window: all}
  - {name: alt_only, table: labs, where: {test_code: ALT}, agg: last, window: 30d}
)");
  ASSERT_TRUE(spelled.ok()) << spelled.status().ToString();
  EXPECT_EQ(spelled->names(), spec->names());
  EXPECT_EQ(spelled->Canonical(), spec->Canonical());
  EXPECT_EQ(spelled->spec_hash(), spec->spec_hash());
}

// ---------------------------------------------------------------------------------- hash

const char* kHashYaml = R"(name: t
entity: subject
baseline: {table: exposure}
features:
  - {name: spo2_mean_6h, table: vitals, test: SPO2, agg: mean, window: 6h}
  - {name: tachy_count_7d, table: vitals, test: PULSE, where: {tachycardia: true}, agg: count, window: 7d}
  - {name: sae_count_all, table: adverse_events, where_any: [{serious: true}, {severity: SEVERE}], agg: count, window: all}
labels:
  - {name: spo2_below_90_24h, table: vitals, test: SPO2, op: "<", threshold: 90, horizon: 24h}
)";

std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

TEST(FeatureSpecTest, HashIgnoresYamlFormattingAndLabels) {
  auto spec = Parse(kHashYaml);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();

  // Block style, comments, other key order, quoted scalars, 1d for 24h-equivalent windows.
  auto block = Parse(R"(# the same spec, written out
entity: subject
name: "t"
baseline:
  table: exposure
features:
  - window: 6h
    agg: mean
    test: SPO2
    table: vitals
    name: spo2_mean_6h
    description: a comment-like description does not change the vector
  - name: tachy_count_7d
    table: vitals
    test: "PULSE"
    where:
      tachycardia: "true"
    agg: count
    window: 1w
  - name: sae_count_all
    table: adverse_events
    where_any:
      - serious: true
      - {severity: SEVERE}
    agg: count
    window: all
)");
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  EXPECT_EQ(block->Canonical(), spec->Canonical());
  EXPECT_EQ(block->spec_hash(), spec->spec_hash());

  // Adding, removing or editing a label leaves the hash (and the vector layout) alone.
  auto more_labels =
      Parse(std::string(kHashYaml) +
            "  - {name: sae_14d, table: adverse_events, where: {serious: true}, "
            "horizon: 14d}\n"
            "  - {name: disc_30d, table: disposition, where: {decod: ADVERSE EVENT}, "
            "horizon: 30d, terminal: true}\n");
  ASSERT_TRUE(more_labels.ok()) << more_labels.status().ToString();
  EXPECT_EQ(more_labels->labels().size(), 3u);
  EXPECT_EQ(more_labels->spec_hash(), spec->spec_hash());
  EXPECT_EQ(more_labels->names(), spec->names());
  auto edited_label = Parse(Replaced(kHashYaml, "threshold: 90", "threshold: 88"));
  ASSERT_TRUE(edited_label.ok());
  EXPECT_EQ(edited_label->spec_hash(), spec->spec_hash());
  EXPECT_NE(edited_label->CanonicalLabel(*edited_label->FindLabel("spo2_below_90_24h")),
            spec->CanonicalLabel(*spec->FindLabel("spo2_below_90_24h")));

  // Anything that changes a value or the layout changes the hash.
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"agg: mean, window: 6h", "agg: mean, window: 12h"},  // window
      {"agg: mean, window: 6h", "agg: max, window: 6h"},    // aggregation
      {"test: SPO2, agg: mean", "test: RESP, agg: mean"},   // rows
      {"{tachycardia: true}", "{bradycardia: true}"},       // filter
      {"{severity: SEVERE}", "{severity: MODERATE}"},       // where_any
      {"name: spo2_mean_6h", "name: spo2_avg_6h"},          // name
      {"baseline: {table: exposure}\n", ""},                // baseline
      {"name: t\n", "name: other\n"},                       // view
  };
  for (const auto& [from, to] : changes) {
    auto changed = Parse(Replaced(kHashYaml, from, to));
    ASSERT_TRUE(changed.ok()) << to << ": " << changed.status().ToString();
    EXPECT_NE(changed->spec_hash(), spec->spec_hash()) << from << " -> " << to;
  }
  // Feature order is the vector layout.
  auto swapped = Parse(R"(name: t
entity: subject
baseline: {table: exposure}
features:
  - {name: tachy_count_7d, table: vitals, test: PULSE, where: {tachycardia: true}, agg: count, window: 7d}
  - {name: spo2_mean_6h, table: vitals, test: SPO2, agg: mean, window: 6h}
  - {name: sae_count_all, table: adverse_events, where_any: [{serious: true}, {severity: SEVERE}], agg: count, window: all}
)");
  ASSERT_TRUE(swapped.ok());
  EXPECT_NE(swapped->spec_hash(), spec->spec_hash());
}

// Two `where` conditions written in the other key order are the same filter (a YAML mapping has
// no order), so the canonical text, and the hash, should not change.
TEST(FeatureSpecTest, HashIgnoresTheKeyOrderOfAWhereMapping) {
  auto a = Parse(R"(name: t
entity: subject
features:
  - {name: x_count_7d, table: labs, where: {test_code: ALT, range_flag: HIGH}, agg: count, window: 7d}
)");
  auto b = Parse(R"(name: t
entity: subject
features:
  - {name: x_count_7d, table: labs, where: {range_flag: HIGH, test_code: ALT}, agg: count, window: 7d}
)");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->spec_hash(), b->spec_hash()) << a->Canonical() << "\n" << b->Canonical();
}

// ---------------------------------------------------------------------------------- errors

// Line 4 holds a valid feature; the case goes on line 5.
const char* kErrBase = R"(name: t
entity: subject
features:
  - {name: ok_last_24h, table: vitals, test: SPO2, agg: last, window: 24h}
)";

void ExpectError(const std::string& yaml, const std::string& expect) {
  auto spec = Parse(yaml);
  ASSERT_FALSE(spec.ok()) << "accepted:\n" << yaml;
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalid) << spec.status().ToString();
  EXPECT_NE(spec.status().message().find(expect), std::string::npos)
      << "expected '" << expect << "' in: " << spec.status().message();
}

TEST(FeatureSpecTest, BadFeaturesNameFileAndLine) {
  ASSERT_TRUE(Parse(kErrBase).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{name: x, table: vitals, test: SPO2, agg: avg, window: 24h}",
       "t.yaml:5: unknown aggregation 'avg' (expected last|mean|"},
      {"{name: x, table: vital, test: SPO2, agg: last, window: 24h}",
       "t.yaml:5: unknown table 'vital' (Silver tables: subjects, vitals"},
      {"{name: x, table: vitals, where: {colour: red}, agg: count, window: 24h}",
       "t.yaml:5: table 'vitals' has no column 'colour'"},
      {"{name: x, table: vitals, test: SPO2, value: valu, agg: last, window: 24h}",
       "t.yaml:5: table 'vitals' has no column 'valu'"},
      {"{name: x, table: vitals, test: SPO2, value: unit, agg: mean, window: 24h}",
       "t.yaml:5: column 'unit' of 'vitals' is not numeric"},
      {"{name: x_24h, table: vitals, test: SPO2, agg: [mean, max], window: 24h}",
       "t.yaml:5: name 'x_24h' must contain {agg} when 'agg' is a list"},
      {"{name: \"x_{agg}\", table: vitals, test: [SPO2, PULSE], agg: [mean, max], window: 24h}",
       "t.yaml:5: name 'x_{agg}' must contain {test} when 'test' is a list"},
      {"{name: \"x_{agg}\", table: vitals, test: SPO2, agg: mean, window: [6h, 24h]}",
       "must contain {window} when 'window' is a list"},
      {"{name: ok_last_24h, table: vitals, test: PULSE, agg: last, window: 24h}",
       "t.yaml:5: duplicate feature name 'ok_last_24h'"},
      {"{name: \"ok_{agg}_24h\", table: vitals, test: SPO2, agg: [mean, last], window: 24h}",
       "t.yaml:5: duplicate feature name 'ok_last_24h'"},
      {"{name: dose, table: exposure, value: dose, agg: dose_total, window: all}",
       "t.yaml:5: 'dose_total' needs 'end'"},
      {"{name: x, table: vitals, test: SPO2, colour: red, agg: last, window: 24h}",
       "t.yaml:5: unknown key 'colour' in a feature"},
      {"{name: x, table: vitals, test: SPO2, agg: last, window: 6x}",
       "t.yaml:5: bad duration unit in '6x'"},
      {"{name: x, table: vitals, test: SPO2, agg: last, window: forever}",
       "t.yaml:5: bad duration"},
      {"{name: x, table: vitals, test: spo2, agg: last, window: 24h}", "t.yaml:5: bad test code"},
      {"{name: x, table: subjects, indicator: F, agg: last, window: all}",
       "t.yaml:5: 'indicator' needs 'value'"},
      {"{name: x, table: adverse_events, agg: mean, window: all}",
       "t.yaml:5: aggregation 'mean' needs 'value'"},
      {"{name: x, table: vitals, where_any: {test_code: SPO2}, agg: count, window: all}",
       "t.yaml:5: 'where_any' must be a non-empty list"},
      {"{name: X-Y, table: vitals, test: SPO2, agg: last, window: 24h}",
       "t.yaml:5: feature name 'X-Y' must match"},
      {"{table: vitals, test: SPO2, agg: last, window: 24h}", "t.yaml:5: missing 'name'"},
      {"{name: x, table: vitals, test: SPO2, window: 24h}", "t.yaml:5: missing 'agg'"},
      // Values that could never match are errors, not silent NaN / 0 features.
      {"{name: x, table: adverse_events, where: {severity: severe}, agg: count, window: all}",
       "t.yaml:5: 'severe' is not a value of adverse_events.severity (MILD, MODERATE, SEVERE)"},
      {"{name: x, table: labs, where: {range_flag: H}, agg: count, window: all}",
       "t.yaml:5: 'H' is not a value of labs.range_flag"},
      {"{name: x, table: adverse_events, where: {serious: Y}, agg: count, window: all}",
       "t.yaml:5: column 'serious' is boolean: expected true or false, not 'Y'"},
      {"{name: x, table: vitals, where: {visit_num: one}, agg: count, window: all}",
       "t.yaml:5: column 'visit_num' is numeric: 'one' is not a number"},
      {"{name: x, table: exposure, value: dose, end: event_time, agg: dose_total, window: all}",
       "t.yaml:5: column 'event_time' is a timestamp"},
      {"{name: label, table: vitals, test: SPO2, agg: last, window: 24h}",
       "t.yaml:5: 'label' is a column of every feature table"},
      {"{name: \"x_{test}\", table: vitals, agg: count, window: 24h}",
       "t.yaml:5: name 'x_{test}' uses {test} but the feature has no 'test'"},
  };
  for (const auto& [line, expect] : cases) {
    SCOPED_TRACE(line);
    ExpectError(std::string(kErrBase) + "  - " + line + "\n", expect);
  }
}

TEST(FeatureSpecTest, TestCodesAreCheckedAgainstTheStandardsTables) {
  auto standards = process::Standards::Load(std::string(CTML_SOURCE_DIR) + "/config/standards");
  ASSERT_TRUE(standards.ok()) << standards.status().ToString();
  const std::string base = std::string(kErrBase);
  auto ok = FeatureSpec::FromYaml(
      base + "  - {name: x, table: labs, test: ALT, agg: last, window: all}\n", "t.yaml",
      &*standards);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  auto bad = FeatureSpec::FromYaml(
      base + "  - {name: x, table: labs, test: POTASSIUM, agg: last, window: all}\n", "t.yaml",
      &*standards);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("t.yaml:5: unknown LB test code 'POTASSIUM'"),
            std::string::npos)
      << bad.status().message();
  auto where = FeatureSpec::FromYaml(
      base +
          "  - {name: x, table: vitals, where: {test_code: [SPO2, O2SAT]}, agg: count, "
          "window: all}\n",
      "t.yaml", &*standards);
  ASSERT_FALSE(where.ok());
  EXPECT_NE(where.status().message().find("unknown VS test code 'O2SAT'"), std::string::npos);
  // The committed spec passes through the same check (Load reads process.standards_dir).
  auto cfg = Config::FromYaml("features:\n  spec: config/features/clinical.yaml\n", CTML_SOURCE_DIR,
                              false);
  ASSERT_TRUE(cfg.ok());
  auto spec = FeatureSpec::Load(*cfg);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
}

TEST(FeatureSpecTest, BaselineAppliesItsTestAndMarksFeatureTables) {
  auto spec = Parse(R"(name: v
entity: subject
baseline: {table: vitals, test: WEIGHT}
features:
  - {name: x, table: labs, test: ALT, agg: last, window: all}
labels:
  - {name: y, table: disposition, horizon: 30d}
)");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  const SeriesDef& b = spec->series()[static_cast<size_t>(spec->baseline_series())];
  ASSERT_EQ(b.any_of.size(), 1u);
  ASSERT_EQ(b.any_of[0].size(), 1u);
  EXPECT_EQ(b.any_of[0][0].values, std::vector<std::string>{"WEIGHT"});
  // Tables read by features or the baseline move a vector's as_of; label-only tables do not.
  EXPECT_TRUE(spec->tables()[static_cast<size_t>(spec->TableIndex("vitals"))].features);
  EXPECT_TRUE(spec->tables()[static_cast<size_t>(spec->TableIndex("labs"))].features);
  EXPECT_FALSE(spec->tables()[static_cast<size_t>(spec->TableIndex("disposition"))].features);
}

TEST(FeatureSpecTest, ErrorsPointAtTheLineOfTheBadKey) {
  // In block style the error names the line of the offending entry, not the feature's first.
  ExpectError(std::string(kErrBase) + R"(  - name: x_{agg}_24h
    table: vitals
    test: SPO2
    agg: [mean, avg]
    window: 24h
)",
              "t.yaml:8: unknown aggregation 'avg'");
  ExpectError(std::string(kErrBase) + R"(  - name: x_count_24h
    table: vitals
    where:
      test_code: SPO2
      colour: red
    agg: count
    window: 24h
)",
              "t.yaml:9: table 'vitals' has no column 'colour'");
  ExpectError(std::string(kErrBase) + R"(  - name: x_last_24h
    table: vitals
    test: SPO2
    agg: last
    window: 24h
    colour: red
)",
              "t.yaml:10: unknown key 'colour' in a feature");
}

TEST(FeatureSpecTest, BadLabelsAndTopLevelNameFileAndLine) {
  const std::string labels = std::string(kErrBase) + "labels:\n  - ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{name: l, table: vitals, test: SPO2, op: \"=~\", threshold: 90, horizon: 24h}",
       "t.yaml:6: unknown operator '=~'"},
      {"{name: l, table: vitals, test: SPO2, op: \"<\", threshold: ninety, horizon: 24h}",
       "t.yaml:6: threshold 'ninety' is not a number"},
      {"{name: l, table: vitals, test: SPO2, op: \"<\", horizon: 24h}",
       "t.yaml:6: missing 'threshold'"},
      {"{name: l, table: disposition, where: {decod: X}, horizon: 30d, terminal: maybe}",
       "t.yaml:6: 'terminal' must be true or false"},
      {"{name: l, table: disposition, where: {decod: X}}", "t.yaml:6: missing 'horizon'"},
      {"{name: l, table: disposition, where: {decod: X}, horizon: 0d}", "must be positive"},
      {"{name: ok_last_24h, table: vitals, test: SPO2, horizon: 24h}",
       "t.yaml:6: duplicate name 'ok_last_24h'"},
      {"{name: l, table: vitals, test: SPO2, window: 24h, horizon: 24h}",
       "t.yaml:6: unknown key 'window' in a label"},
      {"{name: l, table: labz, horizon: 24h}", "t.yaml:6: unknown table 'labz'"},
  };
  for (const auto& [line, expect] : cases) {
    SCOPED_TRACE(line);
    ExpectError(labels + line + "\n", expect);
  }

  // The old (Level 3 draft) format is rejected by name.
  ExpectError("view: vitals\nentity: subject\nsource: silver/vitals\nfeatures: []\n",
              "t.yaml:1: unknown key 'view' in the spec");
  ExpectError(
      "name: t\nentity: patient\nfeatures:\n  - {name: a, table: vitals, agg: count, "
      "window: all}\n",
      "t.yaml:2: entity must be 'subject'");
  ExpectError("name: t\nentity: subject\n", "missing 'features'");
  ExpectError("name: t\nentity: subject\nfeatures: []\n",
              "t.yaml:3: 'features' must be a non-empty list");
  ExpectError(
      "name: T!\nentity: subject\nfeatures:\n  - {name: a, table: vitals, agg: count, "
      "window: all}\n",
      "t.yaml:1: name 'T!' must be a lower-case identifier");
  ExpectError(std::string(kErrBase) + "baseline: {table: exposure, colour: red}\n",
              "t.yaml:5: unknown key 'colour' in baseline");
  ExpectError("name: t\nentity: subject\nfeatures: [\n", "t.yaml:");  // YAML syntax error
  ExpectError("- just\n- a list\n", "t.yaml: the spec must be a YAML mapping");
}

TEST(FeatureSpecTest, DurationsAndAggregationNames) {
  EXPECT_EQ(*ParseDuration("30m"), 30 * 60 * kMicrosPerSecond);
  EXPECT_EQ(*ParseDuration("6h"), 6 * kH);
  EXPECT_EQ(*ParseDuration("3d"), 72 * kH);
  EXPECT_EQ(*ParseDuration("1w"), 168 * kH);
  EXPECT_FALSE(ParseDuration("0h").ok());
  EXPECT_FALSE(ParseDuration("h").ok());
  EXPECT_FALSE(ParseDuration("-1h").ok());
  EXPECT_FALSE(ParseDuration("1.5h").ok());
  EXPECT_FALSE(ParseDuration("6y").ok());
  EXPECT_FALSE(ParseDuration("").ok());
  for (Agg a : {Agg::kLast, Agg::kMean, Agg::kMin, Agg::kMax, Agg::kStd, Agg::kCount, Agg::kSum,
                Agg::kSlope, Agg::kDelta, Agg::kDeltaBaseline, Agg::kDaysSinceLast,
                Agg::kDaysSinceFirst, Agg::kDoseTotal}) {
    auto back = ParseAgg(AggName(a));
    ASSERT_TRUE(back.ok()) << AggName(a);
    EXPECT_EQ(*back, a);
  }
  EXPECT_FALSE(ParseAgg("avg").ok());
  EXPECT_TRUE(Compare(CompareOp::kLt, 89, 90));
  EXPECT_FALSE(Compare(CompareOp::kLt, 90, 90));
  EXPECT_TRUE(Compare(CompareOp::kLe, 90, 90));
  EXPECT_TRUE(Compare(CompareOp::kGt, 91, 90));
  EXPECT_FALSE(Compare(CompareOp::kGe, 89, 90));
}

}  // namespace
}  // namespace ctml::features
