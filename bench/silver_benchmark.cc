// Level 2 throughput: a generated stream of 1,000,000 vital-sign events (6 measurements each,
// 1,000 subjects over 30 days) through the streaming Silver writer (parse, standardize,
// dedupe, Parquet write to a file:// lake in micro-batches of 2,000), on one core.
//   build/bin/ctml_bench --benchmark_filter=Silver
// Figures to read: records_per_s (events) and rows_per_s (Silver rows) of BM_SilverStream, and
// the share of BM_SilverPrepareOnly (parse + standardize, no dedupe or write).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "ctml/core/time.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/process/silver_writer.h"
#include "ctml/process/standards.h"
#include "ctml/store/factory.h"

namespace {

using namespace ctml;

// CTML_BENCH_SILVER_EVENTS overrides the stream length (for quick runs while optimizing).
const int kEvents = std::getenv("CTML_BENCH_SILVER_EVENTS")
                        ? std::atoi(std::getenv("CTML_BENCH_SILVER_EVENTS"))
                        : 1'000'000;
constexpr size_t kBatch = 2000;

const std::vector<store::LogRecord>& Stream() {
  static const std::vector<store::LogRecord> records = [] {
    std::vector<store::LogRecord> out;
    out.reserve(kEvents);
    std::mt19937 rng(42);
    std::normal_distribution<double> noise(0, 1);
    const int64_t t0 = 1'709'251'200'000'000;  // 2024-03-01
    const int64_t step = 30LL * 86'400 * kMicrosPerSecond / (kEvents / 1000);
    for (int i = 0; i < kEvents; ++i) {
      ingest::CanonicalEvent ev;
      ev.event_id = "bench-" + std::to_string(i);
      ev.event_type = "vital_signs";
      ev.study_id = "BENCH";
      ev.site_id = "SITE" + std::to_string(i % 20);
      ev.subject_key = "SUBJ" + std::to_string(100000 + i % 1000);
      ev.event_time_us = t0 + (i / 1000) * step + (i % 1000) * kMicrosPerSecond;
      ev.received_at_us = ev.event_time_us + 2 * kMicrosPerSecond;
      ev.source = "generator";
      auto m = [&](const char* test, double v, const char* unit) {
        return std::string(R"({"test":")") + test + R"(","code_system":"ctml","value":)" +
               std::to_string(v) + R"(,"unit":")" + unit + R"("})";
      };
      ev.payload_json = R"({"measurements":[)" + m("systolic_bp", 120 + 10 * noise(rng), "mmHg") +
                        "," + m("diastolic_bp", 80 + 8 * noise(rng), "mmHg") + "," +
                        m("heart_rate", 72 + 9 * noise(rng), "beats/min") + "," +
                        m("temperature_celsius", 36.8 + 0.4 * noise(rng), "C") + "," +
                        m("respiratory_rate", 16 + 2 * noise(rng), "breaths/min") + "," +
                        m("oxygen_saturation", std::min(100.0, 97 + noise(rng)), "%") +
                        R"(],"precision":"second"})";
      store::LogRecord r;
      r.topic = "patient-vitals";
      r.offset = i;
      r.key = ev.subject_key;
      r.value = ev.ToJson();
      r.timestamp_us = ev.received_at_us;
      out.push_back(std::move(r));
    }
    return out;
  }();
  return records;
}

const process::Standards& Std() {
  static const process::Standards s =
      process::Standards::Load(std::string(CTML_SOURCE_DIR) + "/config/standards").value();
  return s;
}

void BM_SilverStream(benchmark::State& state) {
  const auto& records = Stream();
  namespace fs = std::filesystem;
  for (auto _ : state) {
    state.PauseTiming();
    fs::path dir = fs::temp_directory_path() / "ctml-bench-silver";
    fs::remove_all(dir);
    auto lake = store::OpenLake("file://" + dir.string());
    process::SilverWriter writer(**lake, Std());
    state.ResumeTiming();
    int64_t rows = 0;
    for (size_t i = 0; i < records.size(); i += kBatch) {
      std::vector<store::LogRecord> batch(
          records.begin() + static_cast<std::ptrdiff_t>(i),
          records.begin() + static_cast<std::ptrdiff_t>(std::min(records.size(), i + kBatch)));
      auto p = writer.Prepare(batch);
      auto out = writer.Write(**p);
      if (!out.ok()) state.SkipWithError(out.status().ToString().c_str());
      for (const auto& c : out->counts) rows += c.silver_rows;
    }
    state.PauseTiming();
    state.counters["records_per_s"] =
        benchmark::Counter(static_cast<double>(records.size()), benchmark::Counter::kIsRate);
    state.counters["rows_per_s"] =
        benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
    state.counters["silver_rows"] = static_cast<double>(rows);
    fs::remove_all(dir);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_SilverStream)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void BM_SilverPrepareOnly(benchmark::State& state) {
  const auto& records = Stream();
  namespace fs = std::filesystem;
  auto lake = store::OpenLake("file://" + (fs::temp_directory_path() / "ctml-bench-prep").string());
  process::SilverWriter writer(**lake, Std());
  for (auto _ : state) {
    for (size_t i = 0; i < records.size(); i += kBatch) {
      std::vector<store::LogRecord> batch(
          records.begin() + static_cast<std::ptrdiff_t>(i),
          records.begin() + static_cast<std::ptrdiff_t>(std::min(records.size(), i + kBatch)));
      benchmark::DoNotOptimize(writer.Prepare(batch));
    }
    state.counters["records_per_s"] =
        benchmark::Counter(static_cast<double>(records.size()), benchmark::Counter::kIsRate);
  }
}
BENCHMARK(BM_SilverPrepareOnly)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
