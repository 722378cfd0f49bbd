// The feature engine: one subject's Silver rows, reduced to the series a FeatureSpec reads, and
// the point-in-time computation of the spec over them. The streaming materializer, the daily
// batch and training-set generation all call these same functions, so online and offline values
// agree by construction.
//
//   SubjectState state(spec);
//   state.Apply(row);                                      // Silver's dedupe rules apply
//   std::vector<double> x = Compute(spec, state, as_of_us);  // NaN = no data
//   LabelOutcome y = Label(*spec.FindLabel("severe_ae_14d"), state, as_of_us);
//
// Point in time: a feature of window w uses observations with event_time in (as_of - w, as_of]
// (and received_at <= as_of when strict); a label looks at (as_of, as_of + horizon].
#pragma once

#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ctml/features/spec.h"

namespace ctml::features {

// One column value of a Silver row: its text (what `where` compares) and, for numbers and
// booleans, its number.
struct Cell {
  bool null = true;
  std::string text;
  double num = std::numeric_limits<double>::quiet_NaN();

  static Cell Null() { return {}; }
  static Cell Text(std::string s);
  static Cell Number(double v);  // text: integral values without a fraction, else %.17g
  static Cell Bool(bool v);      // text "true"/"false", number 1/0
};

// One Silver row, reduced to the columns the spec reads from its table.
struct Row {
  int table = -1;  // index into spec.tables()
  std::string subject_key, event_id, dedupe_key;
  int64_t event_time_us = 0, received_at_us = 0;
  std::string precision;    // Silver's `precision`: year | month | day | minute | second
  std::vector<Cell> cells;  // spec.tables()[table].columns order
};

// When an event of `precision` placed at `event_time_us` (the start of its period) is known to
// have happened: the end of its period (a month counts 31 days, a year 366: after date shifting
// the calendar period is not known, so the bound errs late). Minute/second/unknown: event time.
int64_t KnownFrom(int64_t event_time_us, const std::string& precision);

struct Observation {
  int64_t event_time_us = 0;
  int64_t received_at_us = 0;
  int64_t known_from_us = 0;  // KnownFrom(): used as of a time t only when known_from <= t
  double value = 0;
  int64_t end_us = 0;   // end of the last day covered (`end` column); 0 = none or unreadable
  uint64_t row_id = 0;  // hash of the row's event_id: order among equal times, removal
};

// One subject's history.
class SubjectState {
 public:
  explicit SubjectState(const FeatureSpec& spec) : series_(spec.series().size()) {}

  // Applies one row as Silver deduplicates: per table and event date, the same event_id again
  // keeps the one received last; per table, the same dedupe_key under another id too (an exact
  // tie goes to the larger event-id hash). Returns whether the state changed.
  bool Apply(const FeatureSpec& spec, const Row& row);

  // The series `s` (spec.series() index), sorted by (event_time, row_id).
  const std::vector<Observation>& Series(int s) const { return series_[static_cast<size_t>(s)]; }
  size_t rows() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  // Rows of tables that features read (label-only tables do not move a vector's as_of).
  bool has_feature_rows() const { return !times_.empty(); }
  // Over the rows of feature tables; 0 when there are none.
  int64_t first_event_time_us() const { return times_.empty() ? 0 : std::get<0>(*times_.begin()); }
  int64_t last_event_time_us() const { return times_.empty() ? 0 : std::get<0>(*times_.rbegin()); }
  // The latest event time over every row (feature and label tables): how far the subject's data
  // reaches (label censoring). 0 when empty.
  int64_t follow_up_end_us() const { return all_times_.empty() ? 0 : *all_times_.rbegin(); }
  // The earliest event time of a feature-table row known at t (event_time <= t, known_from <= t,
  // and received_at <= t when strict).
  std::optional<int64_t> FirstEventKnownAt(int64_t t, bool strict) const;
  // The latest event time of a feature-table row at or before `t`; nullopt when there is none.
  std::optional<int64_t> LastEventAtOrBefore(int64_t t) const;
  // Distinct UTC days (day starts) with a row of `table`, ascending.
  std::vector<int64_t> DaysWithRows(int table) const;
  // The earliest event time of a row of `table`; nullopt when there is none.
  std::optional<int64_t> FirstEventTime(int table) const;

 private:
  using Times = std::tuple<int64_t, int64_t, int64_t>;  // event_time, received_at, known_from
  struct Kept {
    int table = -1;
    bool feature_table = false;
    Times times{0, 0, 0};
    uint64_t row_id = 0;
    std::string dedupe_key;
    std::vector<int> series;
  };
  void Remove(const std::string& row_key);

  std::vector<std::vector<Observation>> series_;
  std::unordered_map<std::string, Kept> rows_;         // "<table>/<event day>/<event_id>" -> row
  std::unordered_map<std::string, std::string> keys_;  // "<table>/<dedupe_key>" -> row key
  std::multiset<Times> times_;                         // rows of feature tables
  std::multiset<int64_t> all_times_;                   // event times of every row
  std::unordered_map<int, std::multiset<int64_t>> table_times_;  // event times per table
};

// One aggregate over the observations of a window (sorted by event_time). Observations at the
// same instant (e.g. supine and standing readings of one visit) are averaged where an aggregate
// picks one end: `last`, `delta` (needs 2 instants), `delta_bl`.
// NaN when there are too few: count is 0 for an empty window; std/slope/delta need 2.
double Aggregate(Agg agg, const std::vector<const Observation*>& window, int64_t as_of_us,
                 double baseline_value);

// The subject's baseline time as of `as_of_us`: its first baseline-series occurrence (first
// dose) at or before as_of, else its first event; nullopt when neither is at or before as_of.
// Strict: only rows received at or before as_of count.
std::optional<int64_t> BaselineTime(const FeatureSpec& spec, const SubjectState& state,
                                    int64_t as_of_us, bool strict = false);

// The feature vector of `spec` (in spec.names() order) as of `as_of_us`.
std::vector<double> Compute(const FeatureSpec& spec, const SubjectState& state, int64_t as_of_us,
                            bool strict = false);

enum class LabelOutcome {
  kNegative,
  kPositive,
  kCensored,      // no occurrence, and the subject's data ends before as_of + horizon
  kAfterTerminal  // a terminal label's event already happened at or before as_of
};

// Positive when the label's series has an occurrence (satisfying its threshold, if any) with
// event_time in (as_of, as_of + horizon].
LabelOutcome Label(const LabelDef& label, const SubjectState& state, int64_t as_of_us);

}  // namespace ctml::features
