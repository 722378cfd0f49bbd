#include "ctml/features/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "ctml/core/crypto.h"
#include "ctml/core/time.h"

namespace ctml::features {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMicrosPerHourD = 3600.0 * 1e6;
constexpr double kMicrosPerDayD = 86400.0 * 1e6;

bool Before(const Observation& a, const Observation& b) {
  if (a.event_time_us != b.event_time_us) return a.event_time_us < b.event_time_us;
  return a.row_id < b.row_id;
}

// First observation with event_time > t.
std::vector<Observation>::const_iterator After(const std::vector<Observation>& s, int64_t t) {
  return std::upper_bound(s.begin(), s.end(), t,
                          [](int64_t v, const Observation& o) { return v < o.event_time_us; });
}

// First observation with event_time >= t.
std::vector<Observation>::const_iterator AtOrAfter(const std::vector<Observation>& s, int64_t t) {
  return std::lower_bound(s.begin(), s.end(), t,
                          [](const Observation& o, int64_t v) { return o.event_time_us < v; });
}

bool Matches(const SeriesDef& sd, const Row& row) {
  if (sd.any_of.empty()) return true;
  for (const auto& alt : sd.any_of) {
    bool all = true;
    for (const auto& c : alt) {
      const Cell& cell = row.cells[static_cast<size_t>(c.column)];
      if (cell.null || std::find(c.values.begin(), c.values.end(), cell.text) == c.values.end()) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

// The end of the last day an ISO date (or date-time) names; 0 when absent or unreadable.
int64_t EndOfDay(const Cell& cell) {
  if (cell.null || cell.text.size() < 10) return 0;
  auto t = ParseIso8601(cell.text.substr(0, 10));
  if (!t.ok()) return 0;
  return DayStart(*t) + kMicrosPerDay - 1;
}

}  // namespace

Cell Cell::Text(std::string s) {
  Cell c;
  c.null = false;
  c.text = std::move(s);
  return c;
}

Cell Cell::Number(double v) {
  if (!std::isfinite(v)) return Null();
  Cell c;
  c.null = false;
  c.num = v;
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
  }
  c.text = buf;
  return c;
}

Cell Cell::Bool(bool v) {
  Cell c;
  c.null = false;
  c.num = v ? 1 : 0;
  c.text = v ? "true" : "false";
  return c;
}

bool SubjectState::Apply(const FeatureSpec& spec, const Row& row) {
  if (series_.size() != spec.series().size()) series_.resize(spec.series().size());
  const std::string table_prefix = std::to_string(row.table) + "/";
  const std::string row_key = table_prefix + row.event_id;
  const uint64_t row_id = Hash64(row.event_id);
  // Silver's rule (src/ctml/process/silver_writer.cc ExistingWins): the latest received_at
  // wins; between different rows an exact tie goes to the larger row hash.
  bool removed = false;  // an older version of this row left the state
  if (auto it = rows_.find(row_key); it != rows_.end()) {
    if (it->second.received_at_us >= row.received_at_us) return false;
    Remove(row_key);
    removed = true;
  }
  const std::string dk = row.dedupe_key.empty() ? "" : table_prefix + row.dedupe_key;
  if (!dk.empty()) {
    if (auto it = keys_.find(dk); it != keys_.end()) {
      const Kept& other = rows_.at(it->second);
      const bool other_wins = other.received_at_us != row.received_at_us
                                  ? other.received_at_us > row.received_at_us
                                  : other.row_id > row_id;
      if (other_wins) return removed;
      Remove(std::string(it->second));
    }
  }
  Kept kept;
  kept.table = row.table;
  kept.event_time_us = row.event_time_us;
  kept.received_at_us = row.received_at_us;
  kept.row_id = row_id;
  kept.dedupe_key = dk;
  for (size_t s = 0; s < spec.series().size(); ++s) {
    const SeriesDef& sd = spec.series()[s];
    if (sd.table != row.table || !Matches(sd, row)) continue;
    Observation o;
    o.event_time_us = row.event_time_us;
    o.received_at_us = row.received_at_us;
    o.row_id = row_id;
    if (sd.value_column < 0) {
      o.value = 1;
    } else {
      const Cell& cell = row.cells[static_cast<size_t>(sd.value_column)];
      if (cell.null) continue;
      if (!sd.indicator.empty()) {
        o.value = cell.text == sd.indicator ? 1 : 0;
      } else {
        if (!std::isfinite(cell.num)) continue;
        o.value = cell.num;
      }
    }
    if (sd.end_column >= 0) o.end_us = EndOfDay(row.cells[static_cast<size_t>(sd.end_column)]);
    auto& vec = series_[s];
    if (vec.empty() || !Before(o, vec.back())) {
      vec.push_back(o);
    } else {
      vec.insert(std::upper_bound(vec.begin(), vec.end(), o, Before), o);
    }
    kept.series.push_back(static_cast<int>(s));
  }
  times_.insert({row.event_time_us, row.received_at_us});
  table_times_[row.table].insert(row.event_time_us);
  if (!dk.empty()) keys_[dk] = row_key;
  rows_.emplace(row_key, std::move(kept));
  return true;
}

void SubjectState::Remove(const std::string& row_key) {
  auto it = rows_.find(row_key);
  if (it == rows_.end()) return;
  const Kept& k = it->second;
  for (int s : k.series) {
    auto& vec = series_[static_cast<size_t>(s)];
    for (auto o = AtOrAfter(vec, k.event_time_us);
         o != vec.end() && o->event_time_us == k.event_time_us; ++o) {
      if (o->row_id == k.row_id) {
        vec.erase(o);
        break;
      }
    }
  }
  times_.erase(times_.find({k.event_time_us, k.received_at_us}));
  auto& times = table_times_[k.table];
  times.erase(times.find(k.event_time_us));
  if (!k.dedupe_key.empty()) {
    auto kk = keys_.find(k.dedupe_key);
    if (kk != keys_.end() && kk->second == row_key) keys_.erase(kk);
  }
  rows_.erase(it);
}

std::vector<int64_t> SubjectState::DaysWithRows(int table) const {
  std::vector<int64_t> out;
  auto it = table_times_.find(table);
  if (it == table_times_.end()) return out;
  for (int64_t t : it->second) {
    const int64_t d = DayStart(t);
    if (out.empty() || out.back() != d) out.push_back(d);
  }
  return out;
}

std::optional<int64_t> SubjectState::FirstEventKnownAt(int64_t t, bool strict) const {
  for (const auto& [event_time, received_at] : times_) {
    if (event_time > t) break;
    if (!strict || received_at <= t) return event_time;
  }
  return std::nullopt;
}

std::optional<int64_t> SubjectState::FirstEventTime(int table) const {
  auto it = table_times_.find(table);
  if (it == table_times_.end() || it->second.empty()) return std::nullopt;
  return *it->second.begin();
}

double Aggregate(Agg agg, const std::vector<const Observation*>& w, int64_t as_of_us,
                 double baseline_value) {
  const size_t n = w.size();
  if (agg == Agg::kCount) return static_cast<double>(n);
  if (n == 0) return kNaN;
  switch (agg) {
    case Agg::kLast:
      return w.back()->value;
    case Agg::kSum:
    case Agg::kMean: {
      double sum = 0;
      for (const auto* o : w) sum += o->value;
      return agg == Agg::kSum ? sum : sum / static_cast<double>(n);
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
    case Agg::kDeltaBaseline:
      return w.back()->value - baseline_value;  // NaN when there is no baseline value
    case Agg::kDaysSinceLast:
      return static_cast<double>(as_of_us - w.back()->event_time_us) / kMicrosPerDayD;
    case Agg::kDaysSinceFirst:
      return static_cast<double>(as_of_us - w.front()->event_time_us) / kMicrosPerDayD;
    case Agg::kDoseTotal: {
      double total = 0;
      for (const auto* o : w) {
        const int64_t end = o->end_us > 0 ? std::min(o->end_us, as_of_us) : as_of_us;
        if (end < o->event_time_us) continue;
        const int64_t days = (DayStart(end) - DayStart(o->event_time_us)) / kMicrosPerDay + 1;
        total += o->value * static_cast<double>(days);
      }
      return total;
    }
    case Agg::kCount:
      break;
  }
  return kNaN;
}

std::optional<int64_t> BaselineTime(const FeatureSpec& spec, const SubjectState& state,
                                    int64_t as_of_us, bool strict) {
  if (spec.baseline_series() >= 0) {
    for (const Observation& o : state.Series(spec.baseline_series())) {
      if (o.event_time_us > as_of_us) break;
      if (!strict || o.received_at_us <= as_of_us) return o.event_time_us;
    }
  }
  return state.FirstEventKnownAt(as_of_us, strict);
}

std::vector<double> Compute(const FeatureSpec& spec, const SubjectState& state, int64_t as_of_us,
                            bool strict) {
  std::vector<double> out;
  out.reserve(spec.features().size());
  const std::optional<int64_t> baseline = BaselineTime(spec, state, as_of_us, strict);
  std::vector<const Observation*> window;
  for (const FeatureDef& f : spec.features()) {
    window.clear();
    const auto& s = state.Series(f.series);
    auto end = After(s, as_of_us);
    auto begin = s.begin();
    if (f.window == WindowKind::kDuration) {
      begin = After(s, as_of_us - f.window_us);
    } else if (f.window == WindowKind::kBaseline) {
      begin = baseline ? AtOrAfter(s, *baseline) : end;
    }
    for (auto it = begin; it < end; ++it) {
      if (strict && it->received_at_us > as_of_us) continue;
      window.push_back(&*it);
    }
    double baseline_value = kNaN;
    if (f.agg == Agg::kDeltaBaseline && baseline) {
      // The last value at or before the baseline (SDTM's pre-dose baseline), else the first
      // value after it (up to as_of).
      for (auto it = s.begin(); it < end; ++it) {
        if (strict && it->received_at_us > as_of_us) continue;
        if (it->event_time_us <= *baseline || std::isnan(baseline_value)) {
          baseline_value = it->value;
        }
        if (it->event_time_us > *baseline) break;
      }
    }
    out.push_back(Aggregate(f.agg, window, as_of_us, baseline_value));
  }
  return out;
}

LabelOutcome Label(const LabelDef& label, const SubjectState& state, int64_t as_of_us) {
  const auto& s = state.Series(label.series);
  auto ok = [&](const Observation& o) {
    return !label.has_threshold || Compare(label.op, o.value, label.threshold);
  };
  const auto past_end = After(s, as_of_us);
  if (label.terminal) {
    for (auto it = s.begin(); it < past_end; ++it) {
      if (ok(*it)) return LabelOutcome::kAfterTerminal;
    }
  }
  const auto end = After(s, as_of_us + label.horizon_us);
  for (auto it = past_end; it < end; ++it) {
    if (ok(*it)) return LabelOutcome::kPositive;
  }
  if (state.empty() || state.last_event_time_us() < as_of_us + label.horizon_us) {
    return LabelOutcome::kCensored;
  }
  return LabelOutcome::kNegative;
}

}  // namespace ctml::features
