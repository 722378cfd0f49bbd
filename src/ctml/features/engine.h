// The feature engine: one subject's observation history and the point-in-time computation of
// a FeatureSpec over it. The streaming materializer, the daily batch and training-set generation
// all call these same functions, so online and offline values agree by construction.
//
//   SubjectState state;
//   state.Add({.event_time_us = t, .received_at_us = r, .test_code = "SPO2", .value = 95,
//              .event_id = "e1"});                       // false for a duplicate event_id
//   std::vector<double> x = Compute(spec, state, as_of_us);           // NaN = no data
//   std::optional<int> y = Label(spec, "spo2_below_90_24h", state, as_of_us);  // nullopt: censored
//
// Point in time: a feature of window w uses observations with event_time in (as_of - w, as_of]
// (and received_at <= as_of when strict); a label looks at (as_of, as_of + horizon].
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "ctml/features/spec.h"

namespace ctml::features {

struct Observation {
  int64_t event_time_us = 0;
  int64_t received_at_us = 0;
  std::string test_code;
  double value = 0;
  std::string event_id;
};

// One subject's history: per test code, observations sorted by (event_time, event_id).
class SubjectState {
 public:
  // Adds `obs` unless its event_id was seen before (or it is older than what was evicted);
  // returns whether it was added.
  bool Add(Observation obs);
  // Drops observations with event_time < before_us; later Adds older than that are ignored.
  void Evict(int64_t before_us);

  // The sorted series of `test_code`, nullptr when there is none.
  const std::vector<Observation>* Series(const std::string& test_code) const;
  size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }
  // Over all test codes; 0 when empty.
  int64_t first_event_time_us() const { return first_event_time_us_; }
  int64_t last_event_time_us() const { return last_event_time_us_; }

 private:
  std::map<std::string, std::vector<Observation>> series_;
  std::unordered_set<std::string> ids_;
  int64_t first_event_time_us_ = 0;
  int64_t last_event_time_us_ = 0;
  int64_t evicted_before_us_ = std::numeric_limits<int64_t>::min();
};

// One aggregate over the observations of a window (sorted by event_time).
// NaN when there are too few: last/mean/min/max need 1, std/slope/delta need 2; count never NaN.
double Aggregate(Agg agg, const std::vector<const Observation*>& window);

// The feature vector of `spec` (in spec.names() order) as of `as_of_us`.
std::vector<double> Compute(const FeatureSpec& spec, const SubjectState& state, int64_t as_of_us,
                            bool strict = false);

// The label `label_name` at `as_of_us`: 1 when a value of its test code with event_time in
// (as_of, as_of + horizon] satisfies the comparison, else 0; nullopt when the subject's data
// ends before as_of + horizon (censored) or the label is unknown.
std::optional<int> Label(const FeatureSpec& spec, const std::string& label_name,
                         const SubjectState& state, int64_t as_of_us);
std::optional<int> Label(const LabelDef& label, const SubjectState& state, int64_t as_of_us);

}  // namespace ctml::features
