#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ctml/ml/booster.h"
#include "ctml/ml/metrics.h"
#include "ctml/ml/split.h"

namespace ctml::ml {
namespace {

using V = std::vector<float>;

// ---------------------------------------------------------------- metrics

TEST(Metrics, RocAucPerfectReversedTied) {
  V y = {0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(RocAuc(y, V{0.1f, 0.2f, 0.8f, 0.9f}), 1.0);
  EXPECT_DOUBLE_EQ(RocAuc(y, V{0.9f, 0.8f, 0.2f, 0.1f}), 0.0);
  EXPECT_DOUBLE_EQ(RocAuc(y, V{0.5f, 0.5f, 0.5f, 0.5f}), 0.5);
  // One positive tied with one negative, above the other negative: (1 + 0.5) / 2.
  EXPECT_DOUBLE_EQ(RocAuc(V{0, 0, 1}, V{0.1f, 0.7f, 0.7f}), 0.75);
}

TEST(Metrics, RocAucHandComputed) {
  // Pairs (pos, neg): pos scores {0.8, 0.4}, neg scores {0.6, 0.2, 0.1}.
  // 0.8 beats 3; 0.4 beats 2 -> 5 of 6.
  V y = {1, 0, 1, 0, 0};
  V p = {0.8f, 0.6f, 0.4f, 0.2f, 0.1f};
  EXPECT_NEAR(RocAuc(y, p), 5.0 / 6.0, 1e-12);
  EXPECT_TRUE(std::isnan(RocAuc(V{1, 1}, V{0.2f, 0.3f})));
}

TEST(Metrics, PrAucAveragePrecision) {
  V y = {1, 0, 1, 0, 0};
  V p = {0.8f, 0.6f, 0.4f, 0.2f, 0.1f};
  // Ranked: 1 (P=1, R=.5), 0, 1 (P=2/3, R=1): AP = .5*1 + .5*(2/3).
  EXPECT_NEAR(PrAuc(y, p), 0.5 + 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(PrAuc(V{0, 1}, V{0.1f, 0.9f}), 1.0, 1e-12);
  // All tied: one threshold, precision = prevalence.
  EXPECT_NEAR(PrAuc(V{0, 1, 0, 1}, V{0.5f, 0.5f, 0.5f, 0.5f}), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(PrAuc(V{0, 0}, V{0.1f, 0.2f})));
}

TEST(Metrics, BrierAndLogLoss) {
  V y = {1, 0};
  V p = {0.75f, 0.25f};
  EXPECT_NEAR(Brier(y, p), 0.0625, 1e-9);
  EXPECT_NEAR(LogLoss(y, p), -std::log(0.75), 1e-7);
  // Clipping keeps a confident mistake finite.
  EXPECT_TRUE(std::isfinite(LogLoss(V{1}, V{0.0f})));
  EXPECT_GT(LogLoss(V{1}, V{0.0f}), 30.0);
}

TEST(Metrics, ConfusionAtThreshold) {
  V y = {1, 1, 1, 0, 0, 0, 0};
  V p = {0.9f, 0.6f, 0.3f, 0.7f, 0.4f, 0.2f, 0.1f};
  ConfusionMatrix c = Confusion(y, p, 0.5);
  EXPECT_EQ(c.tp, 2);
  EXPECT_EQ(c.fn, 1);
  EXPECT_EQ(c.fp, 1);
  EXPECT_EQ(c.tn, 3);
  EXPECT_NEAR(c.sensitivity, 2.0 / 3, 1e-12);
  EXPECT_NEAR(c.specificity, 3.0 / 4, 1e-12);
  EXPECT_NEAR(c.ppv, 2.0 / 3, 1e-12);
  EXPECT_NEAR(c.npv, 3.0 / 4, 1e-12);
  // Threshold is inclusive.
  EXPECT_EQ(Confusion(y, p, 0.6).tp, 2);
  EXPECT_TRUE(std::isnan(Confusion(y, p, 2.0).ppv));
}

TEST(Metrics, ThresholdForSensitivity) {
  V y = {1, 1, 1, 1, 0, 0};
  V p = {0.9f, 0.7f, 0.5f, 0.3f, 0.6f, 0.1f};
  // 4 positives: 0.75 needs 3 -> third highest positive score 0.5.
  EXPECT_FLOAT_EQ(ThresholdForSensitivity(y, p, 0.75), 0.5f);
  EXPECT_FLOAT_EQ(ThresholdForSensitivity(y, p, 0.8), 0.3f);  // needs 4
  EXPECT_FLOAT_EQ(ThresholdForSensitivity(y, p, 0.25), 0.9f);
  EXPECT_FLOAT_EQ(ThresholdForSensitivity(y, p, 1.0), 0.3f);
  double t = ThresholdForSensitivity(y, p, 0.75);
  EXPECT_GE(Confusion(y, p, t).sensitivity, 0.75);
  EXPECT_DOUBLE_EQ(ThresholdForSensitivity(V{0, 0}, V{0.2f, 0.4f}, 0.8), 0.5);
}

TEST(Metrics, CalibrationTable) {
  V y, p;
  for (int i = 0; i < 100; ++i) {
    p.push_back(static_cast<float>(i) / 100.0f);
    y.push_back(i % 2 == 0 ? 1.0f : 0.0f);
  }
  auto q = CalibrationTable(y, p, 10, true);
  ASSERT_EQ(q.size(), 10u);
  for (const auto& b : q) {
    EXPECT_EQ(b.count, 10);
    EXPECT_NEAR(b.observed_rate, 0.5, 1e-12);
  }
  EXPECT_NEAR(q[0].mean_predicted, 0.045, 1e-6);
  auto f = CalibrationTable(V{1, 0, 1}, V{0.05f, 0.07f, 0.95f}, 10, false);
  ASSERT_EQ(f.size(), 2u);  // empty bins omitted
  EXPECT_EQ(f[0].count, 2);
  EXPECT_NEAR(f[0].observed_rate, 0.5, 1e-12);
  EXPECT_NEAR(f[1].low, 0.9, 1e-12);
  EXPECT_EQ(f[1].count, 1);
}

TEST(Metrics, BootstrapCiBracketsAndIsDeterministic) {
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0, 1);
  V y, p;
  for (int i = 0; i < 400; ++i) {
    float label = i % 3 == 0 ? 1.0f : 0.0f;
    y.push_back(label);
    p.push_back(1.0f / (1.0f + std::exp(-(label * 1.5f + noise(rng)))));
  }
  double auc = RocAuc(y, p);
  Interval a = BootstrapCi(RocAuc, y, p, 200, 7);
  Interval b = BootstrapCi(RocAuc, y, p, 200, 7);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_LT(a.low, auc);
  EXPECT_GT(a.high, auc);
  EXPECT_GT(a.high - a.low, 0.02);
  EXPECT_LT(a.high - a.low, 0.3);
  Interval none = BootstrapCi(RocAuc, V{1, 1, 1}, V{0.1f, 0.2f, 0.3f}, 50, 1);
  EXPECT_TRUE(std::isnan(none.low));
}

// Rows of one subject are correlated: resampling subjects gives a wider interval than resampling
// rows when every subject contributes many copies of the same evidence.
TEST(Metrics, BootstrapBySubjectResamplesSubjects) {
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0, 1);
  V y, p;
  std::vector<std::string> subjects;
  for (int s = 0; s < 20; ++s) {
    const float label = s % 2 == 0 ? 1.0f : 0.0f;
    const float score = 1.0f / (1.0f + std::exp(-(label * 1.0f + noise(rng))));
    for (int k = 0; k < 25; ++k) {  // 25 identical rows per subject
      y.push_back(label);
      p.push_back(score);
      subjects.push_back("S" + std::to_string(s));
    }
  }
  Interval rows = BootstrapCi(RocAuc, y, p, 500, 7);
  Interval subj = BootstrapCiBySubject(RocAuc, y, p, subjects, 500, 7);
  Interval again = BootstrapCiBySubject(RocAuc, y, p, subjects, 500, 7);
  EXPECT_EQ(subj.low, again.low);
  EXPECT_EQ(subj.high, again.high);
  const double auc = RocAuc(y, p);
  EXPECT_LE(subj.low, auc);
  EXPECT_GE(subj.high, auc);
  EXPECT_GT(subj.high - subj.low, 2 * (rows.high - rows.low));
  // One subject of one class: no resample has both classes.
  Interval none = BootstrapCiBySubject(RocAuc, V{1, 1}, V{0.1f, 0.2f},
                                       std::vector<std::string>{"A", "A"}, 50, 1);
  EXPECT_TRUE(std::isnan(none.low));
}

// ---------------------------------------------------------------- split

std::vector<std::string> Keys(int subjects, int rows_each) {
  std::vector<std::string> keys;
  for (int r = 0; r < rows_each; ++r) {
    for (int s = 0; s < subjects; ++s) keys.push_back("SUBJ" + std::to_string(s));
  }
  return keys;
}

TEST(Split, DisjointCompleteAndDeterministic) {
  auto keys = Keys(50, 7);
  Split a = SplitBySubject(keys, {}, 42);
  Split b = SplitBySubject(keys, {}, 42);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.valid, b.valid);
  EXPECT_EQ(a.test, b.test);
  EXPECT_EQ(a.train.size() + a.valid.size() + a.test.size(), keys.size());
  std::set<std::string> tr, va, te;
  for (size_t i : a.train) tr.insert(keys[i]);
  for (size_t i : a.valid) va.insert(keys[i]);
  for (size_t i : a.test) te.insert(keys[i]);
  EXPECT_EQ(tr.size(), 30u);
  EXPECT_EQ(va.size(), 10u);
  EXPECT_EQ(te.size(), 10u);
  for (const auto& k : va) EXPECT_FALSE(tr.count(k)) << k;
  for (const auto& k : te) EXPECT_FALSE(tr.count(k) || va.count(k)) << k;
  // Another seed shuffles subjects differently.
  Split c = SplitBySubject(keys, {}, 43);
  EXPECT_NE(a.test, c.test);
}

TEST(Split, SmallCohortsStillGetEverySplit) {
  Split s = SplitBySubject(Keys(3, 2), {}, 1);
  EXPECT_EQ(s.train.size(), 2u);
  EXPECT_EQ(s.valid.size(), 2u);
  EXPECT_EQ(s.test.size(), 2u);
  EXPECT_TRUE(SplitBySubject({}, {}, 1).train.empty());
}

// ---------------------------------------------------------------- booster

struct Data {
  std::vector<float> x, y;
  size_t rows = 0, cols = 0;
  DMatrixView view() const { return {x.data(), rows, cols, y.data()}; }
};

// y = x0 + 0.5 * x1 + noise > 0; x2, x3 are noise; some values missing.
Data Learnable(size_t rows, uint32_t seed, bool pure_noise = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0, 1);
  Data d;
  d.rows = rows;
  d.cols = 4;
  for (size_t i = 0; i < rows; ++i) {
    float f[4];
    for (float& v : f) v = n01(rng);
    float score = pure_noise ? n01(rng) : f[0] + 0.5f * f[1] + 0.3f * n01(rng);
    if (i % 17 == 0) f[3] = std::nanf("");
    d.x.insert(d.x.end(), f, f + 4);
    d.y.push_back(score > 0.3f ? 1.0f : 0.0f);
  }
  return d;
}

TEST(Booster, LearnsASignalAndGeneralises) {
  Data train = Learnable(1500, 1), valid = Learnable(400, 2), test = Learnable(600, 3);
  TrainParams params;
  params.max_rounds = 150;
  TrainReport report;
  auto b = Booster::Train(train.view(), valid.view(), params, &report);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto p = (*b)->Predict(test.x.data(), test.rows, test.cols);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->size(), test.rows);
  for (float v : *p) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
  EXPECT_GT(RocAuc(test.y, *p), 0.93);
  EXPECT_GT(report.scale_pos_weight, 1.0);  // fewer positives than negatives
  EXPECT_FALSE(report.valid_logloss.empty());
  EXPECT_DOUBLE_EQ(report.best_valid_logloss, report.valid_logloss[report.best_iteration]);
  // The kept model is the best round's: its validation logloss is the best one.
  auto pv = (*b)->Predict(valid.x.data(), valid.rows, valid.cols);
  ASSERT_TRUE(pv.ok());
  EXPECT_NEAR(LogLoss(valid.y, *pv), report.best_valid_logloss, 1e-4);

  auto gain = (*b)->GainImportance();
  ASSERT_TRUE(gain.ok()) << gain.status().ToString();
  ASSERT_TRUE(gain->count(0));
  for (const auto& [idx, g] : *gain) {
    if (idx != 0) {
      EXPECT_GT((*gain)[0], g) << "feature " << idx;
    }
  }
}

TEST(Booster, EarlyStoppingStopsOnNoise) {
  Data train = Learnable(600, 4, true), valid = Learnable(300, 5, true);
  TrainParams params;
  params.max_rounds = 300;
  params.early_stopping_rounds = 10;
  params.eta = 0.3;
  TrainReport report;
  auto b = Booster::Train(train.view(), valid.view(), params, &report);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_LT(report.valid_logloss.size(), 300u);
  EXPECT_EQ(static_cast<int>(report.valid_logloss.size()), report.best_iteration + 1 + 10);
}

TEST(Booster, SaveLoadRoundTripIsExact) {
  Data train = Learnable(800, 6), valid = Learnable(200, 7), test = Learnable(300, 8);
  TrainParams params;
  params.max_rounds = 60;
  auto b = Booster::Train(train.view(), valid.view(), params);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto bytes = (*b)->Save();
  ASSERT_TRUE(bytes.ok());
  ASSERT_FALSE(bytes->empty());
  EXPECT_EQ((*bytes)[0], '{');  // UBJSON object
  auto loaded = Booster::Load(*bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto p1 = (*b)->Predict(test.x.data(), test.rows, test.cols);
  auto p2 = (*loaded)->Predict(test.x.data(), test.rows, test.cols);
  ASSERT_TRUE(p1.ok() && p2.ok());
  EXPECT_EQ(*p1, *p2);
  // Wrong width and garbage are errors, not crashes.
  EXPECT_FALSE((*loaded)->Predict(test.x.data(), 1, 3).ok());
  auto bad = Booster::Load("not a model");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("xgboost"), std::string::npos);
}

TEST(Booster, ContributionsSumToMargin) {
  Data train = Learnable(800, 9), valid = Learnable(200, 10), test = Learnable(50, 11);
  TrainParams params;
  params.max_rounds = 40;
  auto b = Booster::Train(train.view(), valid.view(), params);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto p = (*b)->Predict(test.x.data(), test.rows, test.cols);
  auto c = (*b)->Contributions(test.x.data(), test.rows, test.cols);
  ASSERT_TRUE(p.ok() && c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), test.rows * (test.cols + 1));
  for (size_t r = 0; r < test.rows; ++r) {
    double sum = 0;
    for (size_t k = 0; k <= test.cols; ++k) sum += (*c)[r * (test.cols + 1) + k];
    double q = (*p)[r];
    EXPECT_NEAR(sum, std::log(q / (1 - q)), 2e-3) << "row " << r;
  }
}

TEST(Booster, GblinearTrainsAndHasNoGain) {
  Data train = Learnable(800, 12), valid = Learnable(200, 13), test = Learnable(400, 14);
  TrainParams params;
  params.booster = "gblinear";
  params.eta = 0.5;
  params.lambda = 0;
  params.max_rounds = 100;
  TrainReport report;
  auto b = Booster::Train(train.view(), valid.view(), params, &report);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto p = (*b)->Predict(test.x.data(), test.rows, test.cols);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_GT(RocAuc(test.y, *p), 0.85);
  auto pv = (*b)->Predict(valid.x.data(), valid.rows, valid.cols);
  EXPECT_NEAR(LogLoss(valid.y, *pv), report.best_valid_logloss, 1e-4);
  auto gain = (*b)->GainImportance();
  ASSERT_TRUE(gain.ok());
  EXPECT_TRUE(gain->empty());
  auto loaded = Booster::Load(*(*b)->Save());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*(*loaded)->Predict(test.x.data(), test.rows, test.cols), *p);
}

TEST(Booster, PredictIsSafeFromSeveralThreads) {
  Data train = Learnable(600, 15), valid = Learnable(200, 16), test = Learnable(200, 17);
  TrainParams params;
  params.max_rounds = 30;
  auto b = Booster::Train(train.view(), valid.view(), params);
  ASSERT_TRUE(b.ok());
  auto expected = *(*b)->Predict(test.x.data(), test.rows, test.cols);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        size_t row = static_cast<size_t>(i * 7 + t) % test.rows;
        auto p = (*b)->Predict(test.x.data() + row * test.cols, 1, test.cols);
        if (!p.ok() || (*p)[0] != expected[row]) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(Booster, RejectsBadInput) {
  Data train = Learnable(100, 18), valid = Learnable(50, 19);
  TrainParams params;
  params.booster = "dart";
  EXPECT_EQ(Booster::Train(train.view(), valid.view(), params).status().code(),
            StatusCode::kInvalid);
  EXPECT_FALSE(Booster::Train(train.view(), DMatrixView{}, TrainParams{}).ok());
}

}  // namespace
}  // namespace ctml::ml
