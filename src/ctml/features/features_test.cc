#include <arrow/api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "ctml/core/time.h"
#include "ctml/features/engine.h"
#include "ctml/features/lake_io_internal.h"
#include "ctml/features/materializer.h"
#include "ctml/features/spec.h"
#include "ctml/features/training_set.h"
#include "ctml/store/lake.h"
#include "ctml/store/online_store.h"

namespace ctml::features {
namespace {

constexpr int64_t kH = kMicrosPerHour;
// 2024-03-01T00:00:00Z
constexpr int64_t kT0 = 1709251200LL * kMicrosPerSecond;

const char* kSpecYaml = R"(view: vitals
entity: subject
source: silver/vitals
features:
  - {name: vs_spo2_last_24h, test_code: SPO2, agg: last, window: 24h}
  - {name: vs_spo2_mean_6h, test_code: SPO2, agg: mean, window: 6h}
  - {name: vs_spo2_min_6h, test_code: SPO2, agg: min, window: 6h}
  - {name: vs_spo2_max_6h, test_code: SPO2, agg: max, window: 6h}
  - {name: vs_spo2_std_6h, test_code: SPO2, agg: std, window: 6h}
  - {name: vs_spo2_count_6h, test_code: SPO2, agg: count, window: 6h}
  - {name: vs_spo2_slope_6h, test_code: SPO2, agg: slope, window: 6h}
  - {name: vs_spo2_delta_6h, test_code: SPO2, agg: delta, window: 6h}
  - {name: vs_pulse_mean_24h, test_code: PULSE, agg: mean, window: 24h}
labels:
  - {name: spo2_below_90_24h, test_code: SPO2, op: "<", threshold: 90, horizon: 24h}
)";

FeatureSpec TestSpec() {
  auto spec = FeatureSpec::FromYaml(kSpecYaml, "test.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

Observation Obs(const std::string& id, const std::string& test, int64_t t, double v,
                int64_t received = -1) {
  return Observation{t, received < 0 ? t : received, test, v, id};
}

size_t Idx(const FeatureSpec& spec, const std::string& name) {
  for (size_t i = 0; i < spec.names().size(); ++i) {
    if (spec.names()[i] == name) return i;
  }
  ADD_FAILURE() << "no feature " << name;
  return 0;
}

// Equal, treating NaN == NaN.
void ExpectSameVector(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      EXPECT_TRUE(std::isnan(a[i]) && std::isnan(b[i])) << "feature " << i;
    } else {
      EXPECT_DOUBLE_EQ(a[i], b[i]) << "feature " << i;
    }
  }
}

// ---------------------------------------------------------------------------------- spec

TEST(FeatureSpecTest, ParsesTheCommittedVitalsSpec) {
  auto spec = FeatureSpec::LoadFile(std::string(CTML_SOURCE_DIR) + "/config/features/vitals.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->view(), "vitals");
  EXPECT_EQ(spec->entity(), "subject");
  EXPECT_EQ(spec->source(), "silver/vitals");
  EXPECT_GE(spec->names().size(), 25u);
  EXPECT_LE(spec->names().size(), 35u);
  EXPECT_EQ(spec->max_window_us(), 72 * kH);
  EXPECT_EQ(spec->spec_hash().size(), 16u);
  const LabelDef* l = spec->FindLabel("spo2_below_90_24h");
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->test_code, "SPO2");
  EXPECT_EQ(l->op, CompareOp::kLt);
  EXPECT_EQ(l->threshold, 90);
  EXPECT_EQ(l->horizon_us, 24 * kH);
  std::set<std::string> tests;
  for (const auto& f : spec->features()) tests.insert(f.test_code);
  EXPECT_EQ(tests, (std::set<std::string>{"DIABP", "PULSE", "RESP", "SPO2", "SYSBP", "TEMP"}));
}

TEST(FeatureSpecTest, LoadResolvesAgainstConfigDir) {
  auto cfg =
      Config::FromYaml("features:\n  spec: config/features/vitals.yaml\n", CTML_SOURCE_DIR, false);
  ASSERT_TRUE(cfg.ok());
  auto spec = FeatureSpec::Load(*cfg);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->view(), "vitals");
}

TEST(FeatureSpecTest, ParsesFieldsAndHashIsFormattingIndependent) {
  FeatureSpec spec = TestSpec();
  ASSERT_EQ(spec.features().size(), 9u);
  EXPECT_EQ(spec.features()[6].name, "vs_spo2_slope_6h");
  EXPECT_EQ(spec.features()[6].agg, Agg::kSlope);
  EXPECT_EQ(spec.features()[6].window_us, 6 * kH);
  EXPECT_EQ(spec.max_window_us(), 24 * kH);

  // Same spec, other YAML layout and a different label: same hash (labels are not features).
  std::string reformatted = std::string(kSpecYaml);
  reformatted.replace(reformatted.find("window: 24h}"), 12, "window: 1d}");
  reformatted.replace(reformatted.find("threshold: 90"), 13, "threshold: 88");
  auto other = FeatureSpec::FromYaml("# comment\n" + reformatted, "x.yaml");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->spec_hash(), spec.spec_hash());

  // A changed window changes the hash.
  std::string changed = std::string(kSpecYaml);
  changed.replace(changed.find("agg: mean, window: 6h"), 21, "agg: mean, window: 12h");
  auto third = FeatureSpec::FromYaml(changed, "x.yaml");
  ASSERT_TRUE(third.ok());
  EXPECT_NE(third->spec_hash(), spec.spec_hash());
}

TEST(FeatureSpecTest, BadSpecNamesFileAndLine) {
  std::string bad = kSpecYaml;
  bad.replace(bad.find("agg: mean, window: 6h"), 9, "agg: avg");
  auto spec = FeatureSpec::FromYaml(bad, "vitals.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalid);
  EXPECT_NE(spec.status().message().find("vitals.yaml:6: unknown aggregation 'avg'"),
            std::string::npos)
      << spec.status().message();
}

TEST(FeatureSpecTest, OtherErrorsAreReportedWithLines) {
  struct Case {
    std::string from, to, expect;
  };
  std::vector<Case> cases = {
      {"window: 6h}", "window: 6x}", "test.yaml:6: bad duration unit"},
      {"op: \"<\"", "op: \"=~\"", "test.yaml:15: unknown operator"},
      {"vs_pulse_mean_24h", "vs_spo2_last_24h", "test.yaml:13: duplicate feature name"},
      {"  - {name: vs_spo2_mean_6h, test_code: SPO2,", "  - {name: vs_spo2_mean_6h, code: SPO2,",
       "test.yaml:6: unknown key 'code'"},
      {"threshold: 90", "threshold: ninety", "test.yaml:15: threshold 'ninety'"},
      {"features:\n", "features: [\n", "test.yaml:"},  // YAML syntax error
  };
  for (const auto& c : cases) {
    std::string text = kSpecYaml;
    auto pos = text.find(c.from);
    ASSERT_NE(pos, std::string::npos) << c.from;
    text.replace(pos, c.from.size(), c.to);
    auto spec = FeatureSpec::FromYaml(text, "test.yaml");
    ASSERT_FALSE(spec.ok()) << c.to;
    EXPECT_NE(spec.status().message().find(c.expect), std::string::npos) << spec.status().message();
  }
  EXPECT_FALSE(FeatureSpec::FromYaml("view: vitals\n", "t.yaml").ok());
  auto missing = FeatureSpec::LoadFile("/nonexistent/spec.yaml");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(FeatureSpecTest, Durations) {
  EXPECT_EQ(*ParseDuration("30m"), 30 * 60 * kMicrosPerSecond);
  EXPECT_EQ(*ParseDuration("6h"), 6 * kH);
  EXPECT_EQ(*ParseDuration("3d"), 72 * kH);
  EXPECT_EQ(*ParseDuration("1w"), 168 * kH);
  EXPECT_FALSE(ParseDuration("0h").ok());
  EXPECT_FALSE(ParseDuration("h").ok());
  EXPECT_FALSE(ParseDuration("-1h").ok());
  EXPECT_FALSE(ParseDuration("1.5h").ok());
}

// ---------------------------------------------------------------------------------- engine

TEST(EngineTest, WindowAggregations) {
  FeatureSpec spec = TestSpec();
  SubjectState st;
  // SPO2 at t0+0h..t0+10h: 98 at 0h; then 97, 95, 93 at 8h, 9h, 10h.
  st.Add(Obs("a", "SPO2", kT0, 98));
  st.Add(Obs("b", "SPO2", kT0 + 8 * kH, 97));
  st.Add(Obs("c", "SPO2", kT0 + 9 * kH, 95));
  st.Add(Obs("d", "SPO2", kT0 + 10 * kH, 93));
  st.Add(Obs("p1", "PULSE", kT0 + 1 * kH, 80));
  st.Add(Obs("p2", "PULSE", kT0 + 2 * kH, 90));

  auto x = Compute(spec, st, kT0 + 10 * kH);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_last_24h")], 93);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_mean_6h")], 95);  // 97, 95, 93 (98 is 10h ago)
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_min_6h")], 93);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_max_6h")], 97);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_std_6h")], 2);  // sample std of 97, 95, 93
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_count_6h")], 3);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_slope_6h")], -2);  // per hour
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_delta_6h")], -4);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_pulse_mean_24h")], 85);

  // Window is (as_of - w, as_of]: at as_of = 14h the 8h reading sits exactly on the open edge.
  x = Compute(spec, st, kT0 + 14 * kH);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_count_6h")], 2);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_mean_6h")], 94);

  // One observation: std, slope and delta need two.
  x = Compute(spec, st, kT0 + 15 * kH + 1);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_count_6h")], 1);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_mean_6h")], 93);
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_spo2_std_6h")]));
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_spo2_slope_6h")]));
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_spo2_delta_6h")]));

  // Empty windows: NaN, except count which is 0.
  x = Compute(spec, st, kT0 + 40 * kH);
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_spo2_last_24h")]));
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_spo2_mean_6h")]));
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_spo2_min_6h")]));
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_spo2_max_6h")]));
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_pulse_mean_24h")]));
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_count_6h")], 0);

  // Before any data at all.
  x = Compute(spec, st, kT0 - kH);
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_spo2_last_24h")]));
  // A subject with no history.
  x = Compute(spec, SubjectState{}, kT0);
  EXPECT_TRUE(std::isnan(x[Idx(spec, "vs_pulse_mean_24h")]));
}

TEST(EngineTest, OutOfOrderInsertsKeepSeriesSorted) {
  FeatureSpec spec = TestSpec();
  SubjectState in_order, shuffled;
  std::vector<Observation> obs = {
      Obs("a", "SPO2", kT0 + 1 * kH, 96), Obs("b", "SPO2", kT0 + 2 * kH, 94),
      Obs("c", "SPO2", kT0 + 3 * kH, 97), Obs("d", "SPO2", kT0 + 4 * kH, 91)};
  for (const auto& o : obs) in_order.Add(o);
  for (int i : {3, 0, 2, 1}) shuffled.Add(obs[static_cast<size_t>(i)]);
  ExpectSameVector(Compute(spec, in_order, kT0 + 4 * kH), Compute(spec, shuffled, kT0 + 4 * kH));
  EXPECT_DOUBLE_EQ(Compute(spec, shuffled, kT0 + 4 * kH)[Idx(spec, "vs_spo2_last_24h")], 91);
  EXPECT_EQ(shuffled.first_event_time_us(), kT0 + kH);
  EXPECT_EQ(shuffled.last_event_time_us(), kT0 + 4 * kH);
}

TEST(EngineTest, NoLeakageFromTheFuture) {
  FeatureSpec spec = TestSpec();
  SubjectState st;
  for (int h = 0; h < 12; ++h) {
    st.Add(Obs("s" + std::to_string(h), "SPO2", kT0 + h * kH, 95 + (h % 3)));
    st.Add(Obs("p" + std::to_string(h), "PULSE", kT0 + h * kH, 70 + h));
  }
  const int64_t as_of = kT0 + 11 * kH;
  const auto before = Compute(spec, st, as_of);
  // Future observations (event_time > as_of), some extreme, one just 1us after as_of.
  st.Add(Obs("f1", "SPO2", as_of + 1, 50));
  st.Add(Obs("f2", "SPO2", as_of + kH, 40));
  st.Add(Obs("f3", "PULSE", as_of + 2 * kH, 180));
  ExpectSameVector(before, Compute(spec, st, as_of));
  ExpectSameVector(before, Compute(spec, st, as_of, /*strict=*/true));
  // ...while they do count once as_of moves past them.
  EXPECT_DOUBLE_EQ(Compute(spec, st, as_of + 1)[Idx(spec, "vs_spo2_last_24h")], 50);
}

TEST(EngineTest, StrictModeIgnoresLateReceivedObservations) {
  FeatureSpec spec = TestSpec();
  SubjectState st;
  const int64_t as_of = kT0 + 5 * kH;
  st.Add(Obs("a", "SPO2", kT0 + 3 * kH, 96));
  // Measured before as_of but received after it (a late upload).
  st.Add(Obs("late", "SPO2", kT0 + 4 * kH, 88, /*received=*/as_of + 30 * 60 * kMicrosPerSecond));
  // Received exactly at as_of: still visible in strict mode.
  st.Add(Obs("edge", "PULSE", kT0 + 4 * kH, 100, /*received=*/as_of));

  auto loose = Compute(spec, st, as_of, false);
  auto strict = Compute(spec, st, as_of, true);
  EXPECT_DOUBLE_EQ(loose[Idx(spec, "vs_spo2_last_24h")], 88);
  EXPECT_DOUBLE_EQ(loose[Idx(spec, "vs_spo2_count_6h")], 2);
  EXPECT_DOUBLE_EQ(strict[Idx(spec, "vs_spo2_last_24h")], 96);
  EXPECT_DOUBLE_EQ(strict[Idx(spec, "vs_spo2_count_6h")], 1);
  EXPECT_DOUBLE_EQ(strict[Idx(spec, "vs_pulse_mean_24h")], 100);
  // Once as_of reaches its receipt time, strict sees it too.
  auto later = Compute(spec, st, as_of + kH, true);
  EXPECT_DOUBLE_EQ(later[Idx(spec, "vs_spo2_last_24h")], 88);
}

TEST(EngineTest, LabelLooksStrictlyAfterAsOfAndCensors) {
  FeatureSpec spec = TestSpec();
  const std::string label = "spo2_below_90_24h";
  SubjectState st;
  st.Add(Obs("a", "SPO2", kT0, 85));  // at as_of: must not count
  st.Add(Obs("b", "SPO2", kT0 + 2 * kH, 95));
  st.Add(Obs("c", "PULSE", kT0 + 30 * kH, 80));  // data continues past the horizon
  EXPECT_EQ(Label(spec, label, st, kT0), std::optional<int>(0));
  // Just before the 85: it is inside (as_of, as_of + 24h].
  EXPECT_EQ(Label(spec, label, st, kT0 - 1), std::optional<int>(1));
  // Exactly 24h before the 85: the horizon's closed end includes it.
  EXPECT_EQ(Label(spec, label, st, kT0 - 24 * kH), std::optional<int>(1));
  EXPECT_EQ(Label(spec, label, st, kT0 - 24 * kH - 1), std::optional<int>(0));
  // Censored: the subject's data ends (30h) before as_of + 24h.
  EXPECT_EQ(Label(spec, label, st, kT0 + 6 * kH), std::optional<int>(0));
  EXPECT_EQ(Label(spec, label, st, kT0 + 6 * kH + 1), std::nullopt);
  EXPECT_EQ(Label(spec, label, st, kT0 + 20 * kH), std::nullopt);
  // Unknown label and empty subject.
  EXPECT_EQ(Label(spec, "nope", st, kT0), std::nullopt);
  EXPECT_EQ(Label(spec, label, SubjectState{}, kT0), std::nullopt);
  // 90 itself is not "< 90".
  SubjectState edge;
  edge.Add(Obs("x", "SPO2", kT0 + kH, 90));
  edge.Add(Obs("y", "SPO2", kT0 + 48 * kH, 97));
  EXPECT_EQ(Label(spec, label, edge, kT0), std::optional<int>(0));
}

TEST(EngineTest, DedupeByEventIdAndEviction) {
  FeatureSpec spec = TestSpec();
  SubjectState st;
  EXPECT_TRUE(st.Add(Obs("a", "SPO2", kT0, 96)));
  EXPECT_TRUE(st.Add(Obs("b", "SPO2", kT0 + kH, 92)));
  // A replay of "b" (even with another value) is ignored.
  EXPECT_FALSE(st.Add(Obs("b", "SPO2", kT0 + kH, 10)));
  EXPECT_FALSE(st.Add(Obs("a", "PULSE", kT0 + 2 * kH, 10)));
  EXPECT_EQ(st.size(), 2u);
  auto x = Compute(spec, st, kT0 + kH);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_count_6h")], 2);
  EXPECT_DOUBLE_EQ(x[Idx(spec, "vs_spo2_mean_6h")], 94);

  st.Add(Obs("c", "SPO2", kT0 + 30 * kH, 97));
  st.Evict(kT0 + 6 * kH);
  EXPECT_EQ(st.size(), 1u);
  EXPECT_EQ(st.first_event_time_us(), kT0 + 30 * kH);
  // Older than the eviction point: ignored, so a replay cannot resurrect evicted history.
  EXPECT_FALSE(st.Add(Obs("a", "SPO2", kT0, 96)));
  EXPECT_TRUE(st.Add(Obs("d", "SPO2", kT0 + 29 * kH, 95)));
  EXPECT_DOUBLE_EQ(Compute(spec, st, kT0 + 30 * kH)[Idx(spec, "vs_spo2_mean_6h")], 96);
}

// ---------------------------------------------------------------------------------- fakes

// An in-memory Lake: enough of the port for the features module (no "date" column).
class MemoryLake : public store::Lake {
 public:
  Status WriteParquet(const std::string& path, const std::shared_ptr<arrow::Table>& t) override {
    tables_[path] = t;
    return Status::OK();
  }
  Result<std::shared_ptr<arrow::Table>> ReadParquet(const std::string& path) override {
    auto it = tables_.find(path);
    if (it == tables_.end()) return Status::NotFound(path);
    return it->second;
  }
  Result<std::shared_ptr<arrow::Table>> ReadParquetColumns(
      const std::string& path, const std::vector<std::string>& columns) override {
    CTML_ASSIGN_OR_RETURN(auto t, ReadParquet(path));
    std::vector<int> keep;
    for (const auto& c : columns) {
      if (t->schema()->GetFieldIndex(c) >= 0) keep.push_back(t->schema()->GetFieldIndex(c));
    }
    auto selected = t->SelectColumns(keep);
    if (!selected.ok()) return Status::Internal(selected.status().ToString());
    return *selected;
  }
  Result<std::shared_ptr<arrow::Table>> ReadDataset(const std::string& dir) override {
    std::vector<std::shared_ptr<arrow::Table>> parts;
    for (const auto& [p, t] : tables_) {
      if (p.rfind(dir + "/", 0) == 0) parts.push_back(t);
    }
    if (parts.empty()) return Status::NotFound(dir);
    auto t = arrow::ConcatenateTables(parts);
    if (!t.ok()) return Status::Internal(t.status().ToString());
    return *t;
  }
  Result<std::vector<store::LakeFile>> List(const std::string& dir) override {
    std::vector<store::LakeFile> out;
    for (const auto& [p, t] : tables_) {
      if (p.rfind(dir + "/", 0) == 0) out.push_back({p, t->num_rows() * 100});
    }
    for (const auto& [p, b] : bytes_) {
      if (p.rfind(dir + "/", 0) == 0) out.push_back({p, static_cast<int64_t>(b.size())});
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.path < b.path; });
    return out;
  }
  Status PutBytes(const std::string& path, const std::string& bytes) override {
    bytes_[path] = bytes;
    return Status::OK();
  }
  Result<std::string> GetBytes(const std::string& path) override {
    auto it = bytes_.find(path);
    if (it == bytes_.end()) return Status::NotFound(path);
    return it->second;
  }
  Status Delete(const std::string& path) override {
    tables_.erase(path);
    bytes_.erase(path);
    return Status::OK();
  }
  Status Ping() override { return Status::OK(); }
  std::string uri() const override { return "memory://test"; }

  std::map<std::string, std::shared_ptr<arrow::Table>> tables_;
  std::map<std::string, std::string> bytes_;
};

class MemoryOnline : public store::OnlineStore {
 public:
  Status Put(const std::vector<store::FeatureVector>& vectors) override {
    ++puts;
    if (fail_next) {
      fail_next = false;
      return Status::Unavailable("injected");
    }
    for (const auto& v : vectors) data[v.entity_key + "/" + v.view] = v;
    return Status::OK();
  }
  Result<std::optional<store::FeatureVector>> Get(const std::string& key,
                                                  const std::string& view) override {
    auto it = data.find(key + "/" + view);
    if (it == data.end()) return std::optional<store::FeatureVector>();
    return std::optional<store::FeatureVector>(it->second);
  }
  Result<int64_t> Count(const std::string&) override { return static_cast<int64_t>(data.size()); }
  Result<std::vector<std::string>> Keys(const std::string&, size_t) override {
    return std::vector<std::string>{};
  }
  Status Ping() override { return Status::OK(); }

  std::map<std::string, store::FeatureVector> data;
  int puts = 0;
  bool fail_next = false;
};

struct Row {
  std::string event_id, subject, test;
  int64_t t, received;
  double value;
};

std::shared_ptr<arrow::Table> SilverTable(const std::vector<Row>& rows) {
  arrow::StringBuilder id, sk, src, tc;
  auto ts_type = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  arrow::TimestampBuilder et(ts_type, arrow::default_memory_pool()),
      ra(ts_type, arrow::default_memory_pool());
  arrow::DoubleBuilder val;
  for (const auto& r : rows) {
    EXPECT_TRUE(id.Append(r.event_id).ok());
    EXPECT_TRUE(sk.Append(r.subject).ok());
    EXPECT_TRUE(src.Append("generator").ok());
    EXPECT_TRUE(tc.Append(r.test).ok());
    EXPECT_TRUE(et.Append(r.t).ok());
    EXPECT_TRUE(ra.Append(r.received).ok());
    EXPECT_TRUE(val.Append(r.value).ok());
  }
  std::shared_ptr<arrow::Array> a_id, a_sk, a_src, a_tc, a_et, a_ra, a_val;
  EXPECT_TRUE(id.Finish(&a_id).ok());
  EXPECT_TRUE(sk.Finish(&a_sk).ok());
  EXPECT_TRUE(src.Finish(&a_src).ok());
  EXPECT_TRUE(tc.Finish(&a_tc).ok());
  EXPECT_TRUE(et.Finish(&a_et).ok());
  EXPECT_TRUE(ra.Finish(&a_ra).ok());
  EXPECT_TRUE(val.Finish(&a_val).ok());
  auto schema = arrow::schema(
      {arrow::field("event_id", arrow::utf8()), arrow::field("subject_key", arrow::utf8()),
       arrow::field("source", arrow::utf8()), arrow::field("test_code", arrow::utf8()),
       arrow::field("event_time", ts_type), arrow::field("received_at", ts_type),
       arrow::field("value", arrow::float64())});
  return arrow::Table::Make(schema, {a_id, a_sk, a_src, a_tc, a_et, a_ra, a_val});
}

// Two subjects, hourly SPO2 + PULSE for 48h; subject B desaturates at hour 40.
std::vector<Row> DemoRows() {
  std::vector<Row> rows;
  for (const std::string s : {"SUBJA", "SUBJB"}) {
    for (int h = 0; h < 48; ++h) {
      const int64_t t = kT0 + h * kH;
      double spo2 = 96 + (h % 3);
      if (s == "SUBJB" && h >= 40) spo2 = 86;
      rows.push_back({s + "-s" + std::to_string(h), s, "SPO2", t, t + 60 * kMicrosPerSecond, spo2});
      rows.push_back(
          {s + "-p" + std::to_string(h), s, "PULSE", t, t + 60 * kMicrosPerSecond, 70.0 + h % 5});
    }
  }
  return rows;
}

std::string EventJson(const Row& r) {
  return nlohmann::json{{"event_id", r.event_id},
                        {"subject_key", r.subject},
                        {"event_time_us", r.t},
                        {"received_at_us", r.received},
                        {"test_code", r.test},
                        {"value", r.value},
                        {"unit", "x"}}
      .dump();
}

// ---------------------------------------------------------------------------------- lake I/O

TEST(LakeIoTest, ReadsSilverIntoStatesAndDedupes) {
  MemoryLake lake;
  auto rows = DemoRows();
  std::vector<Row> first(rows.begin(), rows.begin() + 100), second(rows.begin() + 90, rows.end());
  ASSERT_TRUE(
      lake.WriteParquet("silver/vitals/date=2024-03-01/part-0.parquet", SilverTable(first)).ok());
  ASSERT_TRUE(
      lake.WriteParquet("silver/vitals/date=2024-03-02/part-0.parquet", SilverTable(second)).ok());
  ReadStats stats;
  auto states = ReadSubjects(lake, "silver/vitals", &stats);
  ASSERT_TRUE(states.ok()) << states.status().ToString();
  EXPECT_EQ(states->size(), 2u);
  EXPECT_EQ(stats.rows, rows.size() + 10);
  EXPECT_EQ(stats.duplicates, 10u);
  EXPECT_EQ(stats.added, rows.size());
  EXPECT_EQ(states->at("SUBJA").size(), 96u);
  EXPECT_EQ(states->at("SUBJB").last_event_time_us(), kT0 + 47 * kH);

  // No Silver yet: no subjects, no error.
  MemoryLake empty;
  auto none = ReadSubjects(empty, "silver/vitals", nullptr);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(LakeIoTest, MissingColumnIsInvalid) {
  auto t = SilverTable(DemoRows());
  auto dropped = t->RemoveColumn(t->schema()->GetFieldIndex("test_code"));
  ASSERT_TRUE(dropped.ok());
  SubjectStates states;
  Status st = AddTable(**dropped, &states, nullptr);
  EXPECT_EQ(st.code(), StatusCode::kInvalid);
  EXPECT_NE(st.message().find("test_code"), std::string::npos);
}

// ---------------------------------------------------------------------------------- training

TEST(TrainingSetTest, BuildsPointInTimeExamples) {
  FeatureSpec spec = TestSpec();
  MemoryLake lake;
  ASSERT_TRUE(
      lake.WriteParquet("silver/vitals/date=2024-03-01/part-0.parquet", SilverTable(DemoRows()))
          .ok());
  TrainingSetOptions opts;
  auto ts = BuildTrainingSet(lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(ts.ok()) << ts.status().ToString();
  // Per subject: as_of from 6h to 47h - 24h = 23h, hourly -> 18 examples.
  EXPECT_EQ(ts->rows, 36u);
  EXPECT_EQ(ts->x.size(), ts->rows * spec.names().size());
  EXPECT_EQ(ts->y.size(), ts->rows);
  EXPECT_EQ(ts->feature_names, spec.names());
  EXPECT_EQ(ts->spec_hash, spec.spec_hash());
  EXPECT_EQ(ts->dataset_id.size(), 16u);
  ASSERT_EQ(ts->subject_keys.size(), ts->rows);
  size_t positives = 0;
  SubjectStates reference;
  ASSERT_TRUE(AddTable(*SilverTable(DemoRows()), &reference, nullptr).ok());
  for (size_t r = 0; r < ts->rows; ++r) {
    const int64_t as_of = ts->as_of_us[r];
    const std::string& s = ts->subject_keys[r];
    // B desaturates at 40h: labels are 1 exactly when 40h is in (as_of, as_of + 24h].
    const bool expect = s == "SUBJB" && as_of >= kT0 + 16 * kH;
    EXPECT_EQ(ts->y[r], expect ? 1.0f : 0.0f) << s << " " << FormatIso8601(as_of);
    positives += expect;
    // Features are the engine's, row by row (parity by construction).
    auto x = Compute(spec, reference.at(s), as_of);
    for (size_t j = 0; j < x.size(); ++j) {
      const float got = ts->x[r * x.size() + j];
      if (std::isnan(x[j])) {
        EXPECT_TRUE(std::isnan(got));
      } else {
        EXPECT_FLOAT_EQ(got, static_cast<float>(x[j]));
      }
    }
  }
  EXPECT_EQ(positives, 8u);  // as_of 16h..23h for B

  // Written with its manifest; the Parquet has subject_key, as_of, label, then the features.
  ASSERT_EQ(ts->dataset_path, "datasets/spo2_below_90_24h/" + ts->dataset_id + "/part-0.parquet");
  auto table = lake.ReadParquet(ts->dataset_path);
  ASSERT_TRUE(table.ok());
  EXPECT_EQ((*table)->num_rows(), 36);
  EXPECT_EQ((*table)->schema()->field(0)->name(), "subject_key");
  EXPECT_EQ((*table)->schema()->field(1)->name(), "as_of");
  EXPECT_EQ((*table)->schema()->field(1)->type()->ToString(), "timestamp[us, tz=UTC]");
  EXPECT_EQ((*table)->schema()->field(2)->name(), "label");
  EXPECT_EQ((*table)->num_columns(), 3 + static_cast<int>(spec.names().size()));
  auto manifest = lake.GetBytes("datasets/spo2_below_90_24h/" + ts->dataset_id + "/manifest.json");
  ASSERT_TRUE(manifest.ok());
  auto mj = nlohmann::json::parse(*manifest);
  EXPECT_EQ(mj["rows"], 36);
  EXPECT_EQ(mj["positives"], 8);
  EXPECT_EQ(mj["spec_hash"], spec.spec_hash());

  // Same inputs and options -> same id; other options or inputs -> another id.
  opts.write = false;
  auto again = BuildTrainingSet(lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->dataset_id, ts->dataset_id);
  EXPECT_EQ(again->dataset_path, "");
  opts.strict = true;
  auto strict = BuildTrainingSet(lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(strict.ok());
  EXPECT_NE(strict->dataset_id, ts->dataset_id);
  opts.strict = false;
  opts.grid_step_us = 2 * kH;
  auto coarse = BuildTrainingSet(lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(coarse.ok());
  EXPECT_EQ(coarse->rows, 18u);
  EXPECT_NE(coarse->dataset_id, ts->dataset_id);
}

TEST(TrainingSetTest, StrictModeUsesOnlyReceivedData) {
  FeatureSpec spec = TestSpec();
  MemoryLake lake;
  std::vector<Row> rows = DemoRows();
  for (auto& r : rows) r.received = r.t + 3 * kH;  // every reading uploaded 3 hours late
  ASSERT_TRUE(
      lake.WriteParquet("silver/vitals/date=2024-03-01/part-0.parquet", SilverTable(rows)).ok());
  TrainingSetOptions opts;
  opts.write = false;
  opts.strict = true;
  auto ts = BuildTrainingSet(lake, spec, "spo2_below_90_24h", opts);
  ASSERT_TRUE(ts.ok());
  const size_t k = spec.names().size();
  const size_t count6 = Idx(spec, "vs_spo2_count_6h");
  for (size_t r = 0; r < ts->rows; ++r) {
    // (as_of - 6h, as_of] holds 6 readings, of which only the 3 oldest were received by as_of.
    EXPECT_FLOAT_EQ(ts->x[r * k + count6], 3.0f);
  }
}

TEST(TrainingSetTest, ErrorsAreClear) {
  FeatureSpec spec = TestSpec();
  MemoryLake lake;
  auto none = BuildTrainingSet(lake, spec, "spo2_below_90_24h", {});
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(
      lake.WriteParquet("silver/vitals/date=2024-03-01/part-0.parquet", SilverTable(DemoRows()))
          .ok());
  auto bad = BuildTrainingSet(lake, spec, "no_such_label", {});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalid);
  EXPECT_NE(bad.status().message().find("spo2_below_90_24h"), std::string::npos);
}

// ---------------------------------------------------------------------------------- materialize

TEST(MaterializerTest, StreamsVectorsMatchingTheBatchEngine) {
  FeatureSpec spec = TestSpec();
  MemoryOnline online;
  Materializer m(spec, online);
  std::vector<store::LogRecord> batch;
  auto rows = DemoRows();
  for (size_t i = 0; i < rows.size(); ++i) {
    batch.push_back(
        {"silver.vitals", 0, static_cast<int64_t>(i), rows[i].subject, EventJson(rows[i]), 0});
  }
  // Plus one garbage record and one replayed duplicate.
  batch.push_back({"silver.vitals", 0, 9998, "SUBJA", "{not json", 0});
  batch.push_back({"silver.vitals", 0, 9999, rows[5].subject, EventJson(rows[5]), 0});
  ASSERT_TRUE(m.Apply(batch).ok());
  EXPECT_EQ(online.puts, 1);  // one Put per batch
  ASSERT_EQ(online.data.size(), 2u);
  auto stats = m.stats();
  EXPECT_EQ(stats.events, batch.size());
  EXPECT_EQ(stats.invalid, 1u);
  EXPECT_EQ(stats.duplicates, 1u);
  EXPECT_EQ(stats.vectors_written, 2u);
  EXPECT_EQ(stats.last_event_time_us, kT0 + 47 * kH);

  SubjectStates reference;
  ASSERT_TRUE(AddTable(*SilverTable(rows), &reference, nullptr).ok());
  for (const std::string s : {"SUBJA", "SUBJB"}) {
    const auto& v = online.data.at(s + "/vitals");
    EXPECT_EQ(v.view, "vitals");
    EXPECT_EQ(v.spec_hash, spec.spec_hash());
    EXPECT_EQ(v.as_of_us, kT0 + 47 * kH);
    ASSERT_EQ(v.values.size(), spec.names().size());
    std::vector<double> got;
    for (size_t j = 0; j < v.values.size(); ++j) {
      EXPECT_EQ(v.values[j].first, spec.names()[j]);
      got.push_back(v.values[j].second);
    }
    ExpectSameVector(got, Compute(spec, reference.at(s), v.as_of_us));
  }
  EXPECT_DOUBLE_EQ(online.data.at("SUBJB/vitals").values[Idx(spec, "vs_spo2_last_24h")].second, 86);
}

TEST(MaterializerTest, RebuildFromSilverThenReplayIsIdempotent) {
  FeatureSpec spec = TestSpec();
  MemoryLake lake;
  auto rows = DemoRows();
  ASSERT_TRUE(
      lake.WriteParquet("silver/vitals/date=2024-03-01/part-0.parquet", SilverTable(rows)).ok());
  MemoryOnline online;
  Materializer m(spec, online);
  ASSERT_TRUE(m.Rebuild(lake).ok());
  ASSERT_EQ(online.data.size(), 2u);
  const auto rebuilt = online.data.at("SUBJB/vitals");

  // The topic replays everything already in Silver: the vectors do not change.
  std::vector<store::LogRecord> batch;
  for (size_t i = 0; i < rows.size(); ++i) {
    batch.push_back(
        {"silver.vitals", 0, static_cast<int64_t>(i), rows[i].subject, EventJson(rows[i]), 0});
  }
  ASSERT_TRUE(m.Apply(batch).ok());
  EXPECT_EQ(m.stats().duplicates, rows.size());
  const auto replayed = online.data.at("SUBJB/vitals");
  EXPECT_EQ(replayed.as_of_us, rebuilt.as_of_us);
  for (size_t j = 0; j < rebuilt.values.size(); ++j) {
    const double a = rebuilt.values[j].second, b = replayed.values[j].second;
    EXPECT_TRUE((std::isnan(a) && std::isnan(b)) || a == b) << rebuilt.values[j].first;
  }

  // A new event moves the vector forward; a failed Put surfaces as an error.
  Row next{"SUBJB-new", "SUBJB", "SPO2", kT0 + 48 * kH, kT0 + 48 * kH, 80};
  online.fail_next = true;
  std::vector<store::LogRecord> one = {{"silver.vitals", 0, 500, "SUBJB", EventJson(next), 0}};
  EXPECT_FALSE(m.Apply(one).ok());
  // The replay after the failure rewrites the vector although the event is now a duplicate.
  ASSERT_TRUE(m.Apply(one).ok());
  const auto& moved = online.data.at("SUBJB/vitals");
  EXPECT_EQ(moved.as_of_us, kT0 + 48 * kH);
  EXPECT_DOUBLE_EQ(moved.values[Idx(spec, "vs_spo2_last_24h")].second, 80);
}

TEST(MaterializerTest, DailySnapshotsUseEndOfDayAsOf) {
  FeatureSpec spec = TestSpec();
  MemoryLake lake;
  auto rows = DemoRows();
  rows.push_back({"late-subject", "SUBJC", "SPO2", kT0 + 30 * kH, kT0 + 30 * kH, 93});
  ASSERT_TRUE(
      lake.WriteParquet("silver/vitals/date=2024-03-01/part-0.parquet", SilverTable(rows)).ok());
  std::vector<std::string> lines;
  auto report =
      WriteDailySnapshots(lake, spec, {}, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->dates, (std::vector<std::string>{"2024-03-01", "2024-03-02"}));
  EXPECT_EQ(report->rows, 2u + 3u);  // SUBJC starts on day 2
  EXPECT_FALSE(lines.empty());

  auto t = lake.ReadParquet("features/offline/vitals/date=2024-03-01/part-0.parquet");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->num_rows(), 2);
  EXPECT_EQ((*t)->schema()->field(2)->name(), "spec_hash");
  EXPECT_EQ((*t)->num_columns(), 3 + static_cast<int>(spec.names().size()));
  auto as_of = std::static_pointer_cast<arrow::TimestampArray>((*t)->column(1)->chunk(0));
  EXPECT_EQ(as_of->Value(0), kT0 + kMicrosPerDay - 1);
  // Value parity with the engine at the same as_of.
  SubjectStates reference;
  ASSERT_TRUE(AddTable(*SilverTable(rows), &reference, nullptr).ok());
  auto expect = Compute(spec, reference.at("SUBJA"), kT0 + kMicrosPerDay - 1);
  auto mean6 = std::static_pointer_cast<arrow::DoubleArray>(
      (*t)->GetColumnByName("vs_spo2_mean_6h")->chunk(0));
  EXPECT_DOUBLE_EQ(mean6->Value(0), expect[Idx(spec, "vs_spo2_mean_6h")]);

  auto one = WriteDailySnapshots(lake, spec, {"2024-03-02"}, nullptr);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->rows, 3u);
  EXPECT_EQ(WriteDailySnapshots(lake, spec, {"03/02/2024"}, nullptr).status().code(),
            StatusCode::kInvalid);
}

}  // namespace
}  // namespace ctml::features
