// XGBoost 1.7 C API behind ctml::ml::Booster.
#include "ctml/ml/booster.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>

#include "ctml/core/json.h"

namespace ctml::ml {

namespace {

Status XgbError(const char* what) {
  const char* err = XGBGetLastError();
  return Status::Internal(std::string("xgboost ") + what + ": " + (err ? err : "unknown error"));
}

#define CTML_XGB(call, what)                \
  do {                                      \
    if ((call) != 0) return XgbError(what); \
  } while (false)

// Owns a DMatrixHandle.
class DMatrix {
 public:
  DMatrix() = default;
  ~DMatrix() {
    if (h_ != nullptr) XGDMatrixFree(h_);
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  DMatrixHandle* out() { return &h_; }
  DMatrixHandle get() const { return h_; }

 private:
  DMatrixHandle h_ = nullptr;
};

Status MakeDMatrix(const DMatrixView& v, bool need_labels, DMatrix* out) {
  if (v.x == nullptr && v.rows > 0) return Status::Invalid("matrix data is null");
  if (v.cols == 0) return Status::Invalid("matrix has no columns");
  if (need_labels && v.y == nullptr) return Status::Invalid("matrix has no labels");
  CTML_XGB(XGDMatrixCreateFromMat(v.x, v.rows, v.cols, std::numeric_limits<float>::quiet_NaN(),
                                  out->out()),
           "XGDMatrixCreateFromMat");
  if (v.y != nullptr) {
    CTML_XGB(XGDMatrixSetFloatInfo(out->get(), "label", v.y, v.rows), "XGDMatrixSetFloatInfo");
  }
  return Status::OK();
}

// Predict configs (see XGBoosterPredictFromDMatrix): type 0 = probability, 2 = contributions.
constexpr const char* kPredictValue =
    R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false})";
constexpr const char* kPredictContribs =
    R"({"type":2,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false})";
// In-place prediction: NaN is not JSON, but XGBoost's reader accepts it; 1.7 requires cache_id
// (0 = no cache).
constexpr const char* kInplaceValue =
    R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false,)"
    R"("missing":NaN,"cache_id":0})";

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

double LogLossOf(const float* y, const float* p, size_t n) {
  constexpr double kEps = 1e-15;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    double q = std::clamp(static_cast<double>(p[i]), kEps, 1 - kEps);
    sum += y[i] > 0.5f ? -std::log(q) : -std::log(1 - q);
  }
  return n == 0 ? 0 : sum / static_cast<double>(n);
}

}  // namespace

struct Booster::Impl {
  BoosterHandle h = nullptr;
  size_t num_features = 0;
  bool linear = false;
  mutable std::mutex mu;  // XGBoost's prediction buffers are per booster: serialise calls.

  ~Impl() {
    if (h != nullptr) XGBoosterFree(h);
  }

  // Predicts through a DMatrix with `config` (XGBoosterPredictFromDMatrix); `expected` is the
  // number of output values (rows, or rows x (cols + 1) for contributions).
  Result<std::vector<float>> PredictViaDMatrix(const float* x, size_t rows, size_t cols,
                                               const char* config, size_t expected) const {
    DMatrix m;
    CTML_RETURN_NOT_OK(MakeDMatrix(DMatrixView{x, rows, cols, nullptr}, false, &m));
    std::lock_guard<std::mutex> lock(mu);
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* out = nullptr;
    CTML_XGB(XGBoosterPredictFromDMatrix(h, m.get(), config, &shape, &dim, &out),
             "XGBoosterPredictFromDMatrix");
    size_t n = 1;
    for (bst_ulong i = 0; i < dim; ++i) n *= shape[i];
    if (n != expected) return Status::Internal("unexpected prediction shape from xgboost");
    return std::vector<float>(out, out + n);
  }

  Status SetParam(const std::string& k, const std::string& v) {
    CTML_XGB(XGBoosterSetParam(h, k.c_str(), v.c_str()), ("XGBoosterSetParam " + k).c_str());
    return Status::OK();
  }

  // Copies the booster's model out as UBJSON.
  Result<std::string> SaveUbj() const {
    bst_ulong len = 0;
    const char* data = nullptr;
    CTML_XGB(XGBoosterSaveModelToBuffer(h, R"({"format":"ubj"})", &len, &data),
             "XGBoosterSaveModelToBuffer");
    return std::string(data, len);
  }

  Status LoadUbj(const std::string& bytes) {
    if (h == nullptr) CTML_XGB(XGBoosterCreate(nullptr, 0, &h), "XGBoosterCreate");
    CTML_XGB(XGBoosterLoadModelFromBuffer(h, bytes.data(), bytes.size()),
             "XGBoosterLoadModelFromBuffer");
    return Status::OK();
  }

  Status ReadShape() {
    bst_ulong n = 0;
    CTML_XGB(XGBoosterGetNumFeature(h, &n), "XGBoosterGetNumFeature");
    num_features = n;
    // The model's JSON config names the booster.
    bst_ulong len = 0;
    const char* cfg = nullptr;
    CTML_XGB(XGBoosterSaveJsonConfig(h, &len, &cfg), "XGBoosterSaveJsonConfig");
    auto doc = ParseJson(std::string_view(cfg, len), 64);
    if (doc.ok()) {
      auto& j = *doc;
      auto it = j.find("learner");
      if (it != j.end() && it->contains("gradient_booster")) {
        const auto& gb = (*it)["gradient_booster"];
        linear = gb.value("name", std::string()) == "gblinear";
      }
    }
    return Status::OK();
  }
};

Booster::~Booster() = default;

Result<std::unique_ptr<Booster>> Booster::Train(const DMatrixView& train, const DMatrixView& valid,
                                                const TrainParams& params, TrainReport* report) {
  if (train.rows == 0) return Status::Invalid("training set is empty");
  if (valid.rows == 0) return Status::Invalid("validation set is empty");
  if (valid.cols != train.cols) return Status::Invalid("train/valid column counts differ");
  if (params.booster != "gbtree" && params.booster != "gblinear") {
    return Status::Invalid("booster must be gbtree or gblinear", "booster");
  }
  if (params.max_rounds <= 0) return Status::Invalid("max_rounds must be > 0", "max_rounds");

  DMatrix dtrain, dvalid;
  CTML_RETURN_NOT_OK(MakeDMatrix(train, true, &dtrain));
  CTML_RETURN_NOT_OK(MakeDMatrix(valid, true, &dvalid));

  size_t pos = 0;
  for (size_t i = 0; i < train.rows; ++i) pos += train.y[i] > 0.5f ? 1 : 0;
  size_t neg = train.rows - pos;
  double spw = 1.0;
  if (params.balance_classes && pos > 0 && neg > 0) {
    spw = static_cast<double>(neg) / static_cast<double>(pos);
  }

  std::unique_ptr<Booster> b(new Booster());
  b->impl_ = std::make_unique<Impl>();
  Impl& im = *b->impl_;
  im.linear = params.booster == "gblinear";
  im.num_features = train.cols;
  DMatrixHandle cache[2] = {dtrain.get(), dvalid.get()};
  CTML_XGB(XGBoosterCreate(cache, 2, &im.h), "XGBoosterCreate");

  CTML_RETURN_NOT_OK(im.SetParam("verbosity", "1"));
  CTML_RETURN_NOT_OK(im.SetParam("objective", "binary:logistic"));
  CTML_RETURN_NOT_OK(im.SetParam("eval_metric", "logloss"));
  CTML_RETURN_NOT_OK(im.SetParam("booster", params.booster));
  CTML_RETURN_NOT_OK(im.SetParam("eta", Num(params.eta)));
  CTML_RETURN_NOT_OK(im.SetParam("lambda", Num(params.lambda)));
  CTML_RETURN_NOT_OK(im.SetParam("seed", std::to_string(params.seed)));
  CTML_RETURN_NOT_OK(im.SetParam("nthread", std::to_string(std::max(1, params.nthread))));
  CTML_RETURN_NOT_OK(im.SetParam("scale_pos_weight", Num(spw)));
  if (im.linear) {
    // coord_descent is deterministic with several threads (shotgun is not).
    CTML_RETURN_NOT_OK(im.SetParam("updater", "coord_descent"));
  } else {
    CTML_RETURN_NOT_OK(im.SetParam("tree_method", "hist"));
    CTML_RETURN_NOT_OK(im.SetParam("max_depth", std::to_string(params.max_depth)));
    CTML_RETURN_NOT_OK(im.SetParam("subsample", Num(params.subsample)));
    CTML_RETURN_NOT_OK(im.SetParam("colsample_bytree", Num(params.colsample_bytree)));
    CTML_RETURN_NOT_OK(im.SetParam("min_child_weight", Num(params.min_child_weight)));
  }

  TrainReport rep;
  rep.scale_pos_weight = spw;
  double best = std::numeric_limits<double>::infinity();
  int best_iter = 0;
  std::string best_linear;  // gblinear cannot be sliced: keep a snapshot of the best round
  for (int iter = 0; iter < params.max_rounds; ++iter) {
    CTML_XGB(XGBoosterUpdateOneIter(im.h, iter, dtrain.get()), "XGBoosterUpdateOneIter");
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* out = nullptr;
    CTML_XGB(XGBoosterPredictFromDMatrix(im.h, dvalid.get(), kPredictValue, &shape, &dim, &out),
             "XGBoosterPredictFromDMatrix");
    double ll = LogLossOf(valid.y, out, valid.rows);
    rep.valid_logloss.push_back(ll);
    if (ll < best - 1e-12) {
      best = ll;
      best_iter = iter;
      if (im.linear) {
        CTML_ASSIGN_OR_RETURN(best_linear, im.SaveUbj());
      }
    } else if (params.early_stopping_rounds > 0 &&
               iter - best_iter >= params.early_stopping_rounds) {
      break;
    }
  }
  rep.best_iteration = best_iter;
  rep.best_valid_logloss = best;

  int rounds = static_cast<int>(rep.valid_logloss.size());
  if (im.linear) {
    if (best_iter + 1 < rounds) {
      XGBoosterFree(im.h);
      im.h = nullptr;
      CTML_RETURN_NOT_OK(im.LoadUbj(best_linear));
    }
  } else if (best_iter + 1 < rounds) {
    BoosterHandle sliced = nullptr;
    CTML_XGB(XGBoosterSlice(im.h, 0, best_iter + 1, 1, &sliced), "XGBoosterSlice");
    XGBoosterFree(im.h);
    im.h = sliced;
  }
  CTML_XGB(XGBoosterSetAttr(im.h, "best_iteration", std::to_string(best_iter).c_str()),
           "XGBoosterSetAttr");
  CTML_XGB(XGBoosterSetAttr(im.h, "best_score", Num(best).c_str()), "XGBoosterSetAttr");
  // Drop the references the booster holds to the training matrices' prediction caches.
  CTML_ASSIGN_OR_RETURN(std::string bytes, im.SaveUbj());
  XGBoosterFree(im.h);
  im.h = nullptr;
  CTML_RETURN_NOT_OK(im.LoadUbj(bytes));
  CTML_RETURN_NOT_OK(im.SetParam("nthread", std::to_string(std::max(1, params.nthread))));
  if (report != nullptr) *report = std::move(rep);
  return b;
}

Result<std::unique_ptr<Booster>> Booster::Load(const std::string& ubj_bytes) {
  if (ubj_bytes.empty()) return Status::Invalid("empty model");
  std::unique_ptr<Booster> b(new Booster());
  b->impl_ = std::make_unique<Impl>();
  CTML_RETURN_NOT_OK(b->impl_->LoadUbj(ubj_bytes));
  CTML_RETURN_NOT_OK(b->impl_->ReadShape());
  return b;
}

Result<std::string> Booster::Save() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->SaveUbj();
}

Result<std::vector<float>> Booster::Predict(const float* x, size_t rows, size_t cols) const {
  if (rows == 0) return std::vector<float>{};
  if (x == nullptr) return Status::Invalid("matrix data is null");
  if (impl_->num_features != 0 && cols != impl_->num_features) {
    return Status::Invalid("model expects " + std::to_string(impl_->num_features) +
                           " features, got " + std::to_string(cols));
  }
  if (impl_->linear) {
    // gblinear has no in-place prediction in 1.7: go through a DMatrix.
    return impl_->PredictViaDMatrix(x, rows, cols, kPredictValue, rows);
  }
  Json iface = {{"data", Json::array({reinterpret_cast<uintptr_t>(x), true})},
                {"shape", Json::array({rows, cols})},
                {"typestr", "<f4"},
                {"version", 3}};
  std::string iface_s = iface.dump();
  std::lock_guard<std::mutex> lock(impl_->mu);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  CTML_XGB(XGBoosterPredictFromDense(impl_->h, iface_s.c_str(), kInplaceValue, nullptr, &shape,
                                     &dim, &out),
           "XGBoosterPredictFromDense");
  return std::vector<float>(out, out + rows);
}

Result<std::vector<float>> Booster::Contributions(const float* x, size_t rows, size_t cols) const {
  if (rows == 0) return std::vector<float>{};
  if (impl_->num_features != 0 && cols != impl_->num_features) {
    return Status::Invalid("model expects " + std::to_string(impl_->num_features) +
                           " features, got " + std::to_string(cols));
  }
  // In-place prediction does not do contributions in 1.7: go through a DMatrix.
  return impl_->PredictViaDMatrix(x, rows, cols, kPredictContribs, rows * (cols + 1));
}

Result<std::map<size_t, double>> Booster::GainImportance() const {
  std::map<size_t, double> result;
  if (impl_->linear) return result;
  std::lock_guard<std::mutex> lock(impl_->mu);
  bst_ulong n_features = 0, dim = 0;
  const char** names = nullptr;
  const bst_ulong* shape = nullptr;
  const float* scores = nullptr;
  CTML_XGB(XGBoosterFeatureScore(impl_->h, R"({"importance_type":"total_gain"})", &n_features,
                                 &names, &dim, &shape, &scores),
           "XGBoosterFeatureScore");
  for (bst_ulong i = 0; i < n_features; ++i) {
    std::string name = names[i];
    // Without feature names XGBoost calls them f0, f1, ...
    if (name.size() < 2 || name[0] != 'f') continue;
    size_t idx = 0;
    bool ok = true;
    for (size_t k = 1; k < name.size(); ++k) {
      if (name[k] < '0' || name[k] > '9') {
        ok = false;
        break;
      }
      idx = idx * 10 + static_cast<size_t>(name[k] - '0');
    }
    if (ok) result[idx] = scores[i];
  }
  return result;
}

}  // namespace ctml::ml
