// Train/validation/test split by subject: every row of a subject lands in the same split, so a
// model is never evaluated on a subject it has seen.
//
//   auto s = ctml::ml::SplitBySubject(ts.subject_keys, {0.6, 0.2, 0.2}, /*seed=*/42);
//   // s.train, s.valid, s.test: row indices (ascending)
//
// Deterministic: the distinct subjects are ordered by a hash of (seed, subject key) and the first
// round(0.6 * n) go to train, the next round(0.2 * n) to valid, the rest to test (each split gets
// at least one subject when there are >= 3). Exact proportions matter more than stability here
// because trials are small; adding subjects may move others between splits.
// Nothing guarantees that a split contains positives: callers check and report (metrics such as
// ROC-AUC are then NaN).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ctml::ml {

struct SplitFractions {
  double train = 0.6;
  double valid = 0.2;
  double test = 0.2;
};

struct Split {
  std::vector<size_t> train, valid, test;
};

Split SplitBySubject(const std::vector<std::string>& subject_keys, SplitFractions fractions = {},
                     uint64_t seed = 42);

}  // namespace ctml::ml
