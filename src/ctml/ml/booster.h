// XGBoost through its C API: training with early stopping, prediction, SHAP contributions and
// (de)serialisation as UBJSON. xgboost/c_api.h stays inside booster.cc.
//
//   ctml::ml::DMatrixView train{x.data(), rows, cols, y.data()};
//   CTML_ASSIGN_OR_RETURN(auto booster, ctml::ml::Booster::Train(train, valid, params));
//   CTML_ASSIGN_OR_RETURN(auto p, booster->Predict(x.data(), rows, cols));
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::ml {

// Dense row-major float matrix (NaN = missing) with optional labels; does not own the data.
struct DMatrixView {
  const float* x = nullptr;
  size_t rows = 0;
  size_t cols = 0;
  const float* y = nullptr;  // rows labels, may be null for prediction
};

struct TrainParams {
  std::string booster = "gbtree";  // or "gblinear"
  int max_rounds = 400;
  int early_stopping_rounds = 30;
  int max_depth = 4;
  double eta = 0.08;
  double subsample = 0.8;
  double colsample_bytree = 0.8;
  double min_child_weight = 1.0;
  double lambda = 1.0;
  bool balance_classes = true;  // scale_pos_weight = negatives / positives of the train split
  uint64_t seed = 42;
  int nthread = 2;
};

struct TrainReport {
  int best_iteration = 0;  // 0-based round with the best validation logloss
  double best_valid_logloss = 0;
  double scale_pos_weight = 1;
  std::vector<double> valid_logloss;  // per round
};

class Booster {
 public:
  ~Booster();
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;

  // Trains on `train`, stops when the validation logloss has not improved for
  // early_stopping_rounds, and keeps the model up to the best round.
  static Result<std::unique_ptr<Booster>> Train(const DMatrixView& train, const DMatrixView& valid,
                                                const TrainParams& params,
                                                TrainReport* report = nullptr);
  static Result<std::unique_ptr<Booster>> Load(const std::string& ubj_bytes);
  Result<std::string> Save() const;  // UBJSON bytes

  // Probabilities of the positive class, one per row. Thread-safe.
  Result<std::vector<float>> Predict(const float* x, size_t rows, size_t cols) const;
  // SHAP contributions: rows x (cols + 1), the last column being the bias. Thread-safe.
  Result<std::vector<float>> Contributions(const float* x, size_t rows, size_t cols) const;
  // Total gain per feature index ("f12" -> 3.4 mapped to names by the caller's order).
  Result<std::map<size_t, double>> GainImportance() const;

 private:
  Booster() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ctml::ml
