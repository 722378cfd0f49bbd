// Benchmarks of ctml's hot paths (not tests: they print figures, they assert nothing).
//   build/bin/ctml_bench                       # all
//   build/bin/ctml_bench --benchmark_filter=Gateway
// Figures to read: items_per_second of the gateway path (validate + pseudonymize + canonical
// JSON per record), of the feature engine (one 33-feature vector from 96 h of hourly vitals) and
// of XGBoost prediction (rows per second, single-row vs batched: the batching ratio).
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ctml/core/config.h"
#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/features/engine.h"
#include "ctml/features/spec.h"
#include "ctml/ingest/clinical_envelope.h"
#include "ctml/ingest/generator.h"
#include "ctml/ml/booster.h"
#include "ctml/privacy/deidentifier.h"
#include "ctml/privacy/pseudonymizer.h"

namespace {

using namespace ctml;

const privacy::Deidentifier kPseudo(privacy::Pseudonymizer(std::string(64, 'k')), "shift",
                                    privacy::Policy::kSafeHarbor);

void BM_GatewayVitalSignsRecord(benchmark::State& state) {
  ingest::GeneratorOptions opts;
  opts.patients = 50;
  opts.hours = 24;
  int64_t now = NowMicros();
  auto readings = ingest::SimulateCohort(opts, now);
  std::vector<std::string> bodies;
  for (const auto& r : readings) bodies.push_back(ingest::EnvelopeJson(opts, r));
  size_t i = 0;
  for (auto _ : state) {
    auto doc = ParseJson(bodies[i++ % bodies.size()]);
    auto ev = ingest::ParseClinicalEnvelope(*doc, kPseudo, now, "gateway");
    benchmark::DoNotOptimize(ev->ToJson());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GatewayVitalSignsRecord);

void BM_Pseudonymize(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(kPseudo.SubjectKey("PT12AB34CD"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Pseudonymize);

void BM_FeatureVectorFrom96hOfVitals(benchmark::State& state) {
  auto cfg = Config::Load(std::string(CTML_SOURCE_DIR) + "/ctml.yaml");
  auto spec = features::FeatureSpec::Load(*cfg);
  if (!spec.ok()) {
    state.SkipWithError(spec.status().ToString().c_str());
    return;
  }
  features::SubjectState subject(*spec);
  std::mt19937 rng(1);
  std::normal_distribution<double> noise(0, 1);
  const char* codes[] = {"SPO2", "RESP", "PULSE", "TEMP", "SYSBP", "DIABP"};
  const double base[] = {97, 15, 75, 36.8, 120, 78};
  const int vitals = spec->TableIndex("vitals");
  const auto& columns = spec->tables()[static_cast<size_t>(vitals)].columns;
  int64_t t0 = NowMicros() - 96 * kMicrosPerHour;
  for (int h = 0; h < 96; ++h) {
    for (int c = 0; c < 6; ++c) {
      features::Row row;
      row.table = vitals;
      row.subject_key = "S1";
      row.event_id = std::to_string(h) + codes[c];
      row.event_time_us = t0 + h * kMicrosPerHour;
      row.received_at_us = row.event_time_us;
      row.precision = "minute";
      row.cells.assign(columns.size(), features::Cell::Null());
      for (size_t k = 0; k < columns.size(); ++k) {
        if (columns[k] == "test_code") row.cells[k] = features::Cell::Text(codes[c]);
        if (columns[k] == "value") row.cells[k] = features::Cell::Number(base[c] + noise(rng));
      }
      subject.Apply(*spec, row);
    }
  }
  int64_t as_of = t0 + 95 * kMicrosPerHour;
  for (auto _ : state) benchmark::DoNotOptimize(features::Compute(*spec, subject, as_of));
  state.SetItemsProcessed(state.iterations());
  state.counters["features"] = static_cast<double>(spec->names().size());
}
BENCHMARK(BM_FeatureVectorFrom96hOfVitals);

// XGBoost prediction of a 33-feature, ~100-tree model: one row per call vs 256 rows per call.
void BM_BoosterPredict(benchmark::State& state) {
  const size_t cols = 33, rows = 2000;
  std::mt19937 rng(2);
  std::normal_distribution<float> n01(0, 1);
  std::vector<float> x(rows * cols), y(rows);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) x[r * cols + c] = n01(rng);
    y[r] = x[r * cols] + 0.5f * n01(rng) > 0 ? 1.f : 0.f;
  }
  ml::DMatrixView train{x.data(), rows, cols, y.data()};
  ml::TrainParams params;
  params.max_rounds = 100;
  params.early_stopping_rounds = 100;
  auto booster = ml::Booster::Train(train, train, params);
  if (!booster.ok()) {
    state.SkipWithError(booster.status().ToString().c_str());
    return;
  }
  const size_t batch = static_cast<size_t>(state.range(0));
  size_t off = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize((*booster)->Predict(&x[off * cols], batch, cols));
    off = (off + batch) % (rows - batch);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
}
BENCHMARK(BM_BoosterPredict)->Arg(1)->Arg(256);

}  // namespace

BENCHMARK_MAIN();
