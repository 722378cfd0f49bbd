#include "ctml/ml/split.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "ctml/core/crypto.h"

namespace ctml::ml {

Split SplitBySubject(const std::vector<std::string>& subject_keys, SplitFractions fractions,
                     uint64_t seed) {
  Split out;
  std::map<std::string, int> split_of;  // subject -> 0 train, 1 valid, 2 test
  for (const auto& k : subject_keys) split_of.emplace(k, 0);
  std::vector<std::pair<uint64_t, std::string>> order;
  order.reserve(split_of.size());
  std::string prefix = std::to_string(seed) + ":";
  for (const auto& [k, _] : split_of) order.emplace_back(Hash64(prefix + k), k);
  std::sort(order.begin(), order.end());

  double total = fractions.train + fractions.valid + fractions.test;
  if (total <= 0) total = 1, fractions = {1, 0, 0};
  const size_t n = order.size();
  auto count = [&](double f) {
    return static_cast<size_t>(std::llround(f / total * static_cast<double>(n)));
  };
  size_t n_valid = count(fractions.valid);
  size_t n_test = count(fractions.test);
  if (n >= 3) {
    if (fractions.valid > 0) n_valid = std::max<size_t>(n_valid, 1);
    if (fractions.test > 0) n_test = std::max<size_t>(n_test, 1);
  }
  n_valid = std::min(n_valid, n);
  n_test = std::min(n_test, n - n_valid);
  size_t n_train = n - n_valid - n_test;
  if (n >= 3 && n_train == 0 && fractions.train > 0) {
    // Take one subject back from the larger of valid/test.
    (n_valid >= n_test ? n_valid : n_test) -= 1;
    n_train = 1;
  }
  for (size_t i = 0; i < n; ++i) {
    split_of[order[i].second] = i < n_train ? 0 : (i < n_train + n_valid ? 1 : 2);
  }
  for (size_t row = 0; row < subject_keys.size(); ++row) {
    switch (split_of[subject_keys[row]]) {
      case 0:
        out.train.push_back(row);
        break;
      case 1:
        out.valid.push_back(row);
        break;
      default:
        out.test.push_back(row);
        break;
    }
  }
  return out;
}

}  // namespace ctml::ml
