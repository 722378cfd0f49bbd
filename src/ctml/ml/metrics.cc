#include "ctml/ml/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <string_view>

namespace ctml::ml {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool Pos(float y) { return y > 0.5f; }

double Ratio(int64_t a, int64_t b) {
  return b == 0 ? kNaN : static_cast<double>(a) / static_cast<double>(b);
}

// Indices sorted by score, descending (stable for determinism).
std::vector<size_t> OrderDesc(Scores p) {
  std::vector<size_t> idx(p.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  return idx;
}

double Percentile(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  if (v.size() == 1) return v[0];
  double pos = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  double frac = pos - static_cast<double>(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

}  // namespace

double RocAuc(Labels y, Scores p) {
  size_t n = std::min(y.size(), p.size());
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  double pos_rank_sum = 0;
  int64_t npos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && p[idx[j]] == p[idx[i]]) ++j;
    double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;  // 1-based
    for (size_t k = i; k < j; ++k) {
      if (Pos(y[idx[k]])) {
        pos_rank_sum += avg_rank;
        ++npos;
      }
    }
    i = j;
  }
  int64_t nneg = static_cast<int64_t>(n) - npos;
  if (npos == 0 || nneg == 0) return kNaN;
  double u = pos_rank_sum - static_cast<double>(npos) * static_cast<double>(npos + 1) / 2.0;
  return u / (static_cast<double>(npos) * static_cast<double>(nneg));
}

double PrAuc(Labels y, Scores p) {
  size_t n = std::min(y.size(), p.size());
  int64_t npos = 0;
  for (size_t i = 0; i < n; ++i) npos += Pos(y[i]) ? 1 : 0;
  if (npos == 0) return kNaN;
  auto idx = OrderDesc(p.first(n));
  double ap = 0, prev_recall = 0;
  int64_t tp = 0, seen = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && p[idx[j]] == p[idx[i]]) {
      tp += Pos(y[idx[j]]) ? 1 : 0;
      ++seen;
      ++j;
    }
    double recall = static_cast<double>(tp) / static_cast<double>(npos);
    double precision = static_cast<double>(tp) / static_cast<double>(seen);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    i = j;
  }
  return ap;
}

std::vector<RocPoint> RocCurve(Labels y, Scores p) {
  size_t n = std::min(y.size(), p.size());
  int64_t npos = 0;
  for (size_t i = 0; i < n; ++i) npos += Pos(y[i]) ? 1 : 0;
  const int64_t nneg = static_cast<int64_t>(n) - npos;
  std::vector<RocPoint> out;
  if (npos == 0 || nneg == 0) return out;
  auto idx = OrderDesc(p.first(n));
  out.push_back({0.0, 0.0, std::numeric_limits<double>::infinity()});
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && p[idx[j]] == p[idx[i]]) {
      (Pos(y[idx[j]]) ? tp : fp) += 1;
      ++j;
    }
    out.push_back({Ratio(fp, nneg), Ratio(tp, npos), static_cast<double>(p[idx[i]])});
    i = j;
  }
  return out;
}

double Brier(Labels y, Scores p) {
  size_t n = std::min(y.size(), p.size());
  if (n == 0) return kNaN;
  double s = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = static_cast<double>(p[i]) - (Pos(y[i]) ? 1.0 : 0.0);
    s += d * d;
  }
  return s / static_cast<double>(n);
}

double LogLoss(Labels y, Scores p) {
  size_t n = std::min(y.size(), p.size());
  if (n == 0) return kNaN;
  constexpr double kEps = 1e-15;
  double s = 0;
  for (size_t i = 0; i < n; ++i) {
    double q = std::clamp(static_cast<double>(p[i]), kEps, 1 - kEps);
    s -= Pos(y[i]) ? std::log(q) : std::log(1 - q);
  }
  return s / static_cast<double>(n);
}

ConfusionMatrix Confusion(Labels y, Scores p, double threshold) {
  ConfusionMatrix c;
  size_t n = std::min(y.size(), p.size());
  for (size_t i = 0; i < n; ++i) {
    bool pred = static_cast<double>(p[i]) >= threshold;
    bool truth = Pos(y[i]);
    if (pred && truth)
      ++c.tp;
    else if (pred && !truth)
      ++c.fp;
    else if (!pred && truth)
      ++c.fn;
    else
      ++c.tn;
  }
  c.sensitivity = Ratio(c.tp, c.tp + c.fn);
  c.specificity = Ratio(c.tn, c.tn + c.fp);
  c.ppv = Ratio(c.tp, c.tp + c.fp);
  c.npv = Ratio(c.tn, c.tn + c.fn);
  return c;
}

double ThresholdForSensitivity(Labels y, Scores p, double target) {
  size_t n = std::min(y.size(), p.size());
  std::vector<float> pos_scores;
  for (size_t i = 0; i < n; ++i) {
    if (Pos(y[i])) pos_scores.push_back(p[i]);
  }
  if (pos_scores.empty()) return 0.5;
  std::sort(pos_scores.begin(), pos_scores.end(), std::greater<float>());
  double need =
      std::ceil(std::clamp(target, 0.0, 1.0) * static_cast<double>(pos_scores.size()) - 1e-9);
  size_t k = std::clamp<size_t>(static_cast<size_t>(need), 1, pos_scores.size());
  return pos_scores[k - 1];
}

std::vector<CalibrationBin> CalibrationTable(Labels y, Scores p, int bins, bool quantile) {
  size_t n = std::min(y.size(), p.size());
  std::vector<CalibrationBin> out;
  if (n == 0 || bins <= 0) return out;
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  auto b_of = [&](size_t rank) -> size_t {
    if (quantile) return rank * static_cast<size_t>(bins) / n;
    double v = std::clamp(static_cast<double>(p[idx[rank]]), 0.0, 1.0);
    return std::min(static_cast<size_t>(v * bins), static_cast<size_t>(bins - 1));
  };
  for (size_t i = 0; i < n;) {
    size_t b = b_of(i);
    size_t j = i;
    CalibrationBin bin;
    double sum_p = 0, sum_y = 0;
    while (j < n && b_of(j) == b) {
      sum_p += p[idx[j]];
      sum_y += Pos(y[idx[j]]) ? 1 : 0;
      ++j;
    }
    bin.count = static_cast<int64_t>(j - i);
    bin.low = quantile ? p[idx[i]] : static_cast<double>(b) / bins;
    bin.high = quantile ? p[idx[j - 1]] : static_cast<double>(b + 1) / bins;
    bin.mean_predicted = sum_p / static_cast<double>(bin.count);
    bin.observed_rate = sum_y / static_cast<double>(bin.count);
    out.push_back(bin);
    i = j;
  }
  return out;
}

Interval BootstrapCi(const MetricFn& metric, Labels y, Scores p, int n_resamples, uint64_t seed) {
  size_t n = std::min(y.size(), p.size());
  if (n == 0 || n_resamples <= 0) return {kNaN, kNaN};
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<float> ys(n), ps(n);
  std::vector<double> values;
  values.reserve(static_cast<size_t>(n_resamples));
  for (int r = 0; r < n_resamples; ++r) {
    for (size_t i = 0; i < n; ++i) {
      size_t k = pick(rng);
      ys[i] = y[k];
      ps[i] = p[k];
    }
    double v = metric(ys, ps);
    if (!std::isnan(v)) values.push_back(v);
  }
  if (values.empty()) return {kNaN, kNaN};
  Interval ci;
  ci.low = Percentile(values, 0.025);
  ci.high = Percentile(values, 0.975);
  return ci;
}

Interval BootstrapCiBySubject(const MetricFn& metric, Labels y, Scores p,
                              std::span<const std::string> subjects, int n_resamples,
                              uint64_t seed) {
  const size_t n = std::min({y.size(), p.size(), subjects.size()});
  if (n == 0 || n_resamples <= 0) return {kNaN, kNaN};
  // Rows of each subject, subjects in first-seen order (deterministic for a given input).
  std::vector<std::vector<size_t>> groups;
  std::map<std::string_view, size_t> index;
  for (size_t i = 0; i < n; ++i) {
    auto [it, fresh] = index.try_emplace(subjects[i], groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, groups.size() - 1);
  std::vector<float> ys, ps;
  std::vector<double> values;
  values.reserve(static_cast<size_t>(n_resamples));
  for (int r = 0; r < n_resamples; ++r) {
    ys.clear();
    ps.clear();
    for (size_t g = 0; g < groups.size(); ++g) {
      for (size_t i : groups[pick(rng)]) {
        ys.push_back(y[i]);
        ps.push_back(p[i]);
      }
    }
    double v = metric(ys, ps);
    if (!std::isnan(v)) values.push_back(v);
  }
  if (values.empty()) return {kNaN, kNaN};
  return {Percentile(values, 0.025), Percentile(values, 0.975)};
}

}  // namespace ctml::ml
