// RocCurve: hand-computed points and the trapezoid area against RocAuc.
#include "ctml/ml/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace ctml::ml {
namespace {

using V = std::vector<float>;

double TrapezoidArea(const std::vector<RocPoint>& roc) {
  double a = 0;
  for (size_t i = 1; i < roc.size(); ++i) {
    a += (roc[i].fpr - roc[i - 1].fpr) * (roc[i].tpr + roc[i - 1].tpr) / 2;
  }
  return a;
}

TEST(RocCurve, HandComputed) {
  // Scores descending: 0.8 (pos), 0.6 (neg), 0.4 (pos), 0.2 (neg), 0.1 (neg); 2 pos, 3 neg.
  V y = {1, 0, 1, 0, 0};
  V p = {0.8f, 0.6f, 0.4f, 0.2f, 0.1f};
  auto roc = RocCurve(y, p);
  ASSERT_EQ(roc.size(), 6u);
  const double want[6][3] = {{0, 0, INFINITY},    {0, 0.5, 0.8},       {1.0 / 3, 0.5, 0.6},
                             {1.0 / 3, 1.0, 0.4}, {2.0 / 3, 1.0, 0.2}, {1.0, 1.0, 0.1}};
  for (size_t i = 0; i < roc.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_NEAR(roc[i].fpr, want[i][0], 1e-12);
    EXPECT_NEAR(roc[i].tpr, want[i][1], 1e-12);
    if (std::isinf(want[i][2])) {
      EXPECT_TRUE(std::isinf(roc[i].threshold));
    } else {
      EXPECT_NEAR(roc[i].threshold, want[i][2], 1e-6);
    }
  }
  EXPECT_NEAR(TrapezoidArea(roc), 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(TrapezoidArea(roc), RocAuc(y, p), 1e-12);
}

TEST(RocCurve, TiesMoveDiagonallyAndOneClassIsEmpty) {
  // One positive tied with one negative at 0.7: a single point for the tie.
  V y = {0, 0, 1};
  V p = {0.1f, 0.7f, 0.7f};
  auto roc = RocCurve(y, p);
  ASSERT_EQ(roc.size(), 3u);
  EXPECT_NEAR(roc[1].fpr, 0.5, 1e-12);
  EXPECT_NEAR(roc[1].tpr, 1.0, 1e-12);
  EXPECT_NEAR(TrapezoidArea(roc), 0.75, 1e-12);
  EXPECT_NEAR(TrapezoidArea(roc), RocAuc(y, p), 1e-12);
  // All tied: straight diagonal, area 1/2.
  auto flat = RocCurve(V{0, 1, 0, 1}, V{0.5f, 0.5f, 0.5f, 0.5f});
  ASSERT_EQ(flat.size(), 2u);
  EXPECT_NEAR(TrapezoidArea(flat), 0.5, 1e-12);
  EXPECT_TRUE(RocCurve(V{1, 1}, V{0.2f, 0.3f}).empty());
  EXPECT_TRUE(RocCurve(V{}, V{}).empty());
}

TEST(RocCurve, AreaEqualsRocAucOnRandomScoresWithTies) {
  std::mt19937 rng(7);
  std::bernoulli_distribution coin(0.3);
  std::uniform_int_distribution<int> level(0, 20);  // coarse scores: many ties
  V y, p;
  for (int i = 0; i < 500; ++i) {
    const bool pos = coin(rng);
    y.push_back(pos ? 1.0f : 0.0f);
    p.push_back(static_cast<float>(std::min(20, level(rng) + (pos ? 4 : 0))) / 20.0f);
  }
  auto roc = RocCurve(y, p);
  ASSERT_GE(roc.size(), 3u);
  EXPECT_EQ(roc.front().fpr, 0.0);
  EXPECT_EQ(roc.front().tpr, 0.0);
  EXPECT_EQ(roc.back().fpr, 1.0);
  EXPECT_EQ(roc.back().tpr, 1.0);
  for (size_t i = 1; i < roc.size(); ++i) {
    EXPECT_GE(roc[i].fpr, roc[i - 1].fpr);
    EXPECT_GE(roc[i].tpr, roc[i - 1].tpr);
    EXPECT_LT(roc[i].threshold, roc[i - 1].threshold);
  }
  EXPECT_NEAR(TrapezoidArea(roc), RocAuc(y, p), 1e-9);
}

}  // namespace
}  // namespace ctml::ml
