#include "ctml/features/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ctml::features {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMicrosPerHourD = 3600.0 * 1e6;

bool Before(const Observation& a, const Observation& b) {
  if (a.event_time_us != b.event_time_us) return a.event_time_us < b.event_time_us;
  return a.event_id < b.event_id;
}

// First observation with event_time > t.
std::vector<Observation>::const_iterator After(const std::vector<Observation>& s, int64_t t) {
  return std::upper_bound(s.begin(), s.end(), t,
                          [](int64_t v, const Observation& o) { return v < o.event_time_us; });
}

}  // namespace

bool SubjectState::Add(Observation obs) {
  if (obs.event_time_us < evicted_before_us_) return false;
  if (!ids_.insert(obs.event_id).second) return false;
  if (ids_.size() == 1) {
    first_event_time_us_ = last_event_time_us_ = obs.event_time_us;
  } else {
    first_event_time_us_ = std::min(first_event_time_us_, obs.event_time_us);
    last_event_time_us_ = std::max(last_event_time_us_, obs.event_time_us);
  }
  auto& s = series_[obs.test_code];
  if (s.empty() || !Before(obs, s.back())) {
    s.push_back(std::move(obs));
  } else {
    auto pos = std::upper_bound(s.begin(), s.end(), obs, Before);
    s.insert(pos, std::move(obs));
  }
  return true;
}

void SubjectState::Evict(int64_t before_us) {
  if (before_us <= evicted_before_us_) return;
  evicted_before_us_ = before_us;
  bool any = false;
  for (auto it = series_.begin(); it != series_.end();) {
    auto& s = it->second;
    auto keep =
        std::lower_bound(s.begin(), s.end(), before_us,
                         [](const Observation& o, int64_t v) { return o.event_time_us < v; });
    for (auto o = s.begin(); o != keep; ++o) ids_.erase(o->event_id);
    s.erase(s.begin(), keep);
    if (s.empty()) {
      it = series_.erase(it);
    } else {
      if (!any || s.front().event_time_us < first_event_time_us_) {
        first_event_time_us_ = s.front().event_time_us;
      }
      any = true;
      ++it;
    }
  }
  if (!any) first_event_time_us_ = last_event_time_us_ = 0;
}

const std::vector<Observation>* SubjectState::Series(const std::string& test_code) const {
  auto it = series_.find(test_code);
  return it == series_.end() ? nullptr : &it->second;
}

double Aggregate(Agg agg, const std::vector<const Observation*>& w) {
  const size_t n = w.size();
  if (agg == Agg::kCount) return static_cast<double>(n);
  if (n == 0) return kNaN;
  switch (agg) {
    case Agg::kLast:
      return w.back()->value;
    case Agg::kMean: {
      double sum = 0;
      for (const auto* o : w) sum += o->value;
      return sum / static_cast<double>(n);
    }
    case Agg::kMin: {
      double m = w.front()->value;
      for (const auto* o : w) m = std::min(m, o->value);
      return m;
    }
    case Agg::kMax: {
      double m = w.front()->value;
      for (const auto* o : w) m = std::max(m, o->value);
      return m;
    }
    case Agg::kStd: {  // sample standard deviation (n - 1)
      if (n < 2) return kNaN;
      double mean = 0;
      for (const auto* o : w) mean += o->value;
      mean /= static_cast<double>(n);
      double ss = 0;
      for (const auto* o : w) ss += (o->value - mean) * (o->value - mean);
      return std::sqrt(ss / static_cast<double>(n - 1));
    }
    case Agg::kSlope: {  // least squares, value units per hour
      if (n < 2) return kNaN;
      const int64_t t0 = w.front()->event_time_us;
      double mx = 0, my = 0;
      for (const auto* o : w) {
        mx += static_cast<double>(o->event_time_us - t0) / kMicrosPerHourD;
        my += o->value;
      }
      mx /= static_cast<double>(n);
      my /= static_cast<double>(n);
      double sxy = 0, sxx = 0;
      for (const auto* o : w) {
        const double dx = static_cast<double>(o->event_time_us - t0) / kMicrosPerHourD - mx;
        sxy += dx * (o->value - my);
        sxx += dx * dx;
      }
      if (sxx <= 0) return kNaN;  // all at the same instant
      return sxy / sxx;
    }
    case Agg::kDelta:
      if (n < 2) return kNaN;
      return w.back()->value - w.front()->value;
    case Agg::kCount:
      break;
  }
  return kNaN;
}

std::vector<double> Compute(const FeatureSpec& spec, const SubjectState& state, int64_t as_of_us,
                            bool strict) {
  std::vector<double> out;
  out.reserve(spec.features().size());
  std::vector<const Observation*> window;
  for (const FeatureDef& f : spec.features()) {
    window.clear();
    if (const auto* s = state.Series(f.test_code)) {
      auto end = After(*s, as_of_us);
      auto begin = After(*s, as_of_us - f.window_us);
      for (auto it = begin; it < end; ++it) {
        if (strict && it->received_at_us > as_of_us) continue;
        window.push_back(&*it);
      }
    }
    out.push_back(Aggregate(f.agg, window));
  }
  return out;
}

std::optional<int> Label(const LabelDef& label, const SubjectState& state, int64_t as_of_us) {
  if (state.empty() || state.last_event_time_us() < as_of_us + label.horizon_us) {
    return std::nullopt;  // censored: the horizon is not fully covered by the subject's data
  }
  if (const auto* s = state.Series(label.test_code)) {
    auto end = After(*s, as_of_us + label.horizon_us);
    for (auto it = After(*s, as_of_us); it < end; ++it) {
      if (Compare(label.op, it->value, label.threshold)) return 1;
    }
  }
  return 0;
}

std::optional<int> Label(const FeatureSpec& spec, const std::string& label_name,
                         const SubjectState& state, int64_t as_of_us) {
  const LabelDef* l = spec.FindLabel(label_name);
  if (l == nullptr) return std::nullopt;
  return Label(*l, state, as_of_us);
}

}  // namespace ctml::features
