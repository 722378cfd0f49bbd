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

// The mean value of the observations at the instant of `*it` (the run of equal event times
// containing it, within [begin, end)).
double InstantMean(const std::vector<const Observation*>& w, size_t i) {
  const int64_t t = w[i]->event_time_us;
  size_t lo = i, hi = i;
  while (lo > 0 && w[lo - 1]->event_time_us == t) --lo;
  while (hi + 1 < w.size() && w[hi + 1]->event_time_us == t) ++hi;
  double sum = 0;
  for (size_t k = lo; k <= hi; ++k) sum += w[k]->value;
  return sum / static_cast<double>(hi - lo + 1);
}

}  // namespace

int64_t KnownFrom(int64_t event_time_us, const std::string& precision) {
  if (precision == "day") return event_time_us + kMicrosPerDay - 1;
  if (precision == "month") return event_time_us + 31 * kMicrosPerDay - 1;
  if (precision == "year") return event_time_us + 366 * kMicrosPerDay - 1;
  return event_time_us;
}

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
  // Silver dedupes per (table, event date): a resend that moves to another day is another row.
  const std::string row_key =
      table_prefix + std::to_string(DayStart(row.event_time_us)) + "/" + row.event_id;
  const uint64_t row_id = Hash64(row.event_id);
  // Silver's rule (src/ctml/process/silver_writer.cc ExistingWins): the latest received_at
  // wins; between different rows an exact tie goes to the larger row hash.
  bool removed = false;  // an older version of this row left the state
  if (auto it = rows_.find(row_key); it != rows_.end()) {
    if (std::get<1>(it->second.times) >= row.received_at_us) return false;
    Remove(row_key);
    removed = true;
  }
  const std::string dk = row.dedupe_key.empty() ? "" : table_prefix + row.dedupe_key;
  if (!dk.empty()) {
    if (auto it = keys_.find(dk); it != keys_.end()) {
      const Kept& other = rows_.at(it->second);
      const int64_t other_received = std::get<1>(other.times);
      const bool other_wins = other_received != row.received_at_us
                                  ? other_received > row.received_at_us
                                  : other.row_id > row_id;
      if (other_wins) return removed;
      Remove(std::string(it->second));
    }
  }
  const int64_t known_from = KnownFrom(row.event_time_us, row.precision);
  Kept kept;
  kept.table = row.table;
  kept.feature_table = spec.tables()[static_cast<size_t>(row.table)].features;
  kept.times = {row.event_time_us, row.received_at_us, known_from};
  kept.row_id = row_id;
  kept.dedupe_key = dk;
  for (size_t s = 0; s < spec.series().size(); ++s) {
    const SeriesDef& sd = spec.series()[s];
    if (sd.table != row.table || !Matches(sd, row)) continue;
    Observation o;
    o.event_time_us = row.event_time_us;
    o.received_at_us = row.received_at_us;
    o.known_from_us = known_from;
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
  if (kept.feature_table) times_.insert(kept.times);
  all_times_.insert(row.event_time_us);
  table_times_[row.table].insert(row.event_time_us);
  if (!dk.empty()) keys_[dk] = row_key;
  rows_.emplace(row_key, std::move(kept));
  return true;
}

void SubjectState::Remove(const std::string& row_key) {
  auto it = rows_.find(row_key);
  if (it == rows_.end()) return;
  const Kept& k = it->second;
  const int64_t event_time = std::get<0>(k.times);
  for (int s : k.series) {
    auto& vec = series_[static_cast<size_t>(s)];
    for (auto o = AtOrAfter(vec, event_time); o != vec.end() && o->event_time_us == event_time;
         ++o) {
      if (o->row_id == k.row_id) {
        vec.erase(o);
        break;
      }
    }
  }
  if (k.feature_table) times_.erase(times_.find(k.times));
  all_times_.erase(all_times_.find(event_time));
  auto& times = table_times_[k.table];
  times.erase(times.find(event_time));
  if (!k.dedupe_key.empty()) {
    auto kk = keys_.find(k.dedupe_key);
    if (kk != keys_.end() && kk->second == row_key) keys_.erase(kk);
  }
  rows_.erase(it);
}

std::optional<int64_t> SubjectState::LastEventAtOrBefore(int64_t t) const {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  auto it = times_.upper_bound({t, kMax, kMax});
  if (it == times_.begin()) return std::nullopt;
  return std::get<0>(*std::prev(it));
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
  for (const auto& [event_time, received_at, known_from] : times_) {
    if (event_time > t) break;
    if (known_from <= t && (!strict || received_at <= t)) return event_time;
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
      return InstantMean(w, n - 1);
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
      if (w.front()->event_time_us == w.back()->event_time_us) return kNaN;  // one instant
      return InstantMean(w, n - 1) - InstantMean(w, 0);
    case Agg::kDeltaBaseline:
      return InstantMean(w, n - 1) - baseline_value;  // NaN when there is no baseline value
    case Agg::kDaysSinceLast: {
      // With an end date (a dosing period): days since the period's end, 0 while it lasts.
      int64_t last = w.back()->event_time_us;
      for (const auto* o : w) {
        if (o->end_us >= o->event_time_us) last = std::max(last, std::min(o->end_us, as_of_us));
      }
      return static_cast<double>(as_of_us - last) / kMicrosPerDayD;
    }
    case Agg::kDaysSinceFirst:
      return static_cast<double>(as_of_us - w.front()->event_time_us) / kMicrosPerDayD;
    case Agg::kDoseTotal: {
      // A row without a readable end date covers its start day only; one that ends before it
      // starts, nothing.
      double total = 0;
      for (const auto* o : w) {
        if (o->end_us != 0 && o->end_us < o->event_time_us) continue;
        const int64_t end = std::min(o->end_us == 0 ? o->event_time_us : o->end_us, as_of_us);
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
      if (o.known_from_us <= as_of_us && (!strict || o.received_at_us <= as_of_us)) {
        return o.event_time_us;
      }
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
    auto known = [&](const Observation& o) {
      return o.known_from_us <= as_of_us && (!strict || o.received_at_us <= as_of_us);
    };
    for (auto it = begin; it < end; ++it) {
      if (known(*it)) window.push_back(&*it);
    }
    double baseline_value = kNaN;
    if (f.agg == Agg::kDeltaBaseline && baseline) {
      // The last value at or before the baseline (SDTM's pre-dose baseline), else the first
      // value after it (up to as_of); readings at one instant are averaged.
      std::vector<const Observation*> at_or_before, after;
      for (auto it = s.begin(); it < end; ++it) {
        if (!known(*it)) continue;
        if (it->event_time_us <= *baseline) {
          at_or_before.push_back(&*it);
        } else {
          after.push_back(&*it);
        }
      }
      if (!at_or_before.empty()) {
        baseline_value = InstantMean(at_or_before, at_or_before.size() - 1);
      } else if (!after.empty()) {
        baseline_value = InstantMean(after, 0);
      }
    }
    out.push_back(Aggregate(f.agg, window, as_of_us, baseline_value));
  }
  return out;
}

LabelOutcome Label(const LabelDef& label, const SubjectState& state, int64_t as_of_us) {
  const int64_t horizon_end = as_of_us + label.horizon_us;
  bool past = false, positive = false, uncertain = false;
  for (const Observation& o : state.Series(label.series)) {
    if (o.event_time_us > horizon_end) break;
    if (label.has_threshold && !Compare(label.op, o.value, label.threshold)) continue;
    if (o.known_from_us <= as_of_us) {
      past = true;  // surely at or before as_of
    } else if (o.event_time_us > as_of_us && o.known_from_us <= horizon_end) {
      positive = true;  // its whole period lies in (as_of, as_of + horizon]
    } else {
      uncertain = true;  // a coarse date whose period straddles as_of or the horizon's end
    }
  }
  if (label.terminal && past) return LabelOutcome::kAfterTerminal;
  if (positive) return LabelOutcome::kPositive;
  if (uncertain || state.empty() || state.follow_up_end_us() < horizon_end) {
    return LabelOutcome::kCensored;
  }
  return LabelOutcome::kNegative;
}

}  // namespace ctml::features
