// The served model: loaded from the registry alias (MetaStore) and the lake, swapped atomically
// when the alias moves, so requests in flight keep the model they started with.
//
//   ModelHolder holder(meta, lake, "vitals_risk", "production");
//   CTML_RETURN_NOT_OK(holder.Reload());          // or holder.StartWatching(2s)
//   std::shared_ptr<const LoadedModel> m = holder.Current();   // nullptr until loaded
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/ml/booster.h"
#include "ctml/store/lake.h"
#include "ctml/store/meta_store.h"

namespace ctml::serve {

struct LoadedModel {
  std::string name;
  int64_t version = 0;
  std::string alias;
  std::string run_id;
  std::string spec_hash;
  int64_t loaded_at_us = 0;
  double threshold = 0.5;
  std::vector<std::string> feature_names;
  std::unique_ptr<ml::Booster> booster;
};

class ModelHolder {
 public:
  ModelHolder(store::MetaStore& meta, store::Lake& lake, std::string name, std::string alias);
  ~ModelHolder();

  // Loads the version the alias points at when it differs from the current one.
  // Returns OK without change when it is already loaded.
  Status Reload();
  std::shared_ptr<const LoadedModel> Current() const;
  const std::string& name() const { return name_; }
  // Polls the alias every `interval` on a background thread until destruction.
  void StartWatching(std::chrono::milliseconds interval);

 private:
  store::MetaStore& meta_;
  store::Lake& lake_;
  std::string name_;
  std::string alias_;
  mutable std::mutex mu_;
  std::mutex reload_mu_;
  std::shared_ptr<const LoadedModel> current_;
  std::thread watcher_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
};

}  // namespace ctml::serve
