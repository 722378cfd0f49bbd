#include "ctml/core/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ctml {
namespace {

std::string RenderLabels(const Labels& labels, const std::string& extra = "") {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ',';
    out += k + "=\"";
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  if (!extra.empty()) {
    if (!out.empty()) out += ',';
    out += extra;
  }
  return out.empty() ? "" : "{" + out + "}";
}

std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

}  // namespace

void CounterMetric::Inc(double v) {
  double cur = value_.load();
  while (!value_.compare_exchange_weak(cur, cur + v)) {
  }
}

void GaugeMetric::Inc(double v) {
  double cur = value_.load();
  while (!value_.compare_exchange_weak(cur, cur + v)) {
  }
}

HistogramMetric::HistogramMetric(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  std::sort(bounds_.begin(), bounds_.end());
}

void HistogramMetric::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard lock(mu_);
  counts_[i]++;
  sum_ += v;
  count_++;
}

void HistogramMetric::Snapshot(std::vector<uint64_t>* cumulative, double* sum,
                               uint64_t* count) const {
  std::lock_guard lock(mu_);
  cumulative->assign(counts_.size(), 0);
  uint64_t acc = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    acc += counts_[i];
    (*cumulative)[i] = acc;
  }
  *sum = sum_;
  *count = count_;
}

std::vector<double> MetricsRegistry::LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

CounterMetric& MetricsRegistry::Counter(const std::string& name, const std::string& help,
                                        const Labels& l) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = "counter";
  f.help = help;
  auto& slot = f.counters[RenderLabels(l)];
  if (!slot) slot = std::make_unique<CounterMetric>();
  return *slot;
}

GaugeMetric& MetricsRegistry::Gauge(const std::string& name, const std::string& help,
                                    const Labels& l) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = "gauge";
  f.help = help;
  auto& slot = f.gauges[RenderLabels(l)];
  if (!slot) slot = std::make_unique<GaugeMetric>();
  return *slot;
}

HistogramMetric& MetricsRegistry::Histogram(const std::string& name, const std::string& help,
                                            const Labels& l, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = "histogram";
  f.help = help;
  auto& slot = f.histograms[RenderLabels(l)];
  if (!slot) {
    if (bounds.empty()) bounds = LatencyBuckets();
    slot = std::make_unique<HistogramMetric>(std::move(bounds));
  }
  return *slot;
}

std::string MetricsRegistry::Exposition() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, c] : f.counters) out += name + labels + " " + Num(c->Value()) + "\n";
    for (const auto& [labels, g] : f.gauges) out += name + labels + " " + Num(g->Value()) + "\n";
    for (const auto& [labels, h] : f.histograms) {
      std::vector<uint64_t> cum;
      double sum;
      uint64_t count;
      h->Snapshot(&cum, &sum, &count);
      // Rebuild the label set with "le" appended: strip braces from the rendered labels.
      std::string inner = labels.empty() ? "" : labels.substr(1, labels.size() - 2);
      auto with_le = [&](const std::string& le) {
        return "{" + inner + (inner.empty() ? "" : ",") + "le=\"" + le + "\"}";
      };
      for (size_t i = 0; i < h->bounds().size(); ++i) {
        out +=
            name + "_bucket" + with_le(Num(h->bounds()[i])) + " " + std::to_string(cum[i]) + "\n";
      }
      out += name + "_bucket" + with_le("+Inf") + " " + std::to_string(cum.back()) + "\n";
      out += name + "_sum" + labels + " " + Num(sum) + "\n";
      out += name + "_count" + labels + " " + std::to_string(count) + "\n";
    }
  }
  return out;
}

MetricsRegistry& Metrics() {
  static MetricsRegistry registry;
  return registry;
}

}  // namespace ctml
