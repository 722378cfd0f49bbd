// A process-wide metrics registry with Prometheus text exposition (format 0.0.4).
//
//   static auto& accepted = ctml::Metrics().Counter("ctml_gateway_records_total",
//                                                   "Records accepted", {{"type", "vital_signs"}});
//   accepted.Inc();
//   std::string text = ctml::Metrics().Exposition();
//
// Written here rather than taken from prometheus-cpp, which is not among the chosen dependencies
// (DESIGN.md section 5): the text exposition format is small and stable, and this keeps one
// atomic per series with no extra library on the hot path.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ctml {

using Labels = std::vector<std::pair<std::string, std::string>>;

class CounterMetric {
 public:
  void Inc(double v = 1.0);
  double Value() const { return value_.load(); }

 private:
  std::atomic<double> value_{0.0};
};

class GaugeMetric {
 public:
  void Set(double v) { value_.store(v); }
  void Inc(double v = 1.0);
  double Value() const { return value_.load(); }

 private:
  std::atomic<double> value_{0.0};
};

class HistogramMetric {
 public:
  explicit HistogramMetric(std::vector<double> bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative bucket counts (one per bound, then +Inf), sum and count, read consistently.
  void Snapshot(std::vector<uint64_t>* cumulative, double* sum, uint64_t* count) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

class MetricsRegistry {
 public:
  CounterMetric& Counter(const std::string& name, const std::string& help, const Labels& l = {});
  GaugeMetric& Gauge(const std::string& name, const std::string& help, const Labels& l = {});
  HistogramMetric& Histogram(const std::string& name, const std::string& help, const Labels& l = {},
                             std::vector<double> bounds = {});
  std::string Exposition() const;

  static std::vector<double> LatencyBuckets();  // seconds, 100us .. 10s

 private:
  struct Family {
    std::string type;
    std::string help;
    std::map<std::string, std::unique_ptr<CounterMetric>> counters;
    std::map<std::string, std::unique_ptr<GaugeMetric>> gauges;
    std::map<std::string, std::unique_ptr<HistogramMetric>> histograms;
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// The process-wide registry.
MetricsRegistry& Metrics();

}  // namespace ctml
