#include "ctml/serve/model_holder.h"

#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/core/time.h"

namespace ctml::serve {

ModelHolder::ModelHolder(store::MetaStore& meta, store::Lake& lake, std::string name,
                         std::string alias)
    : meta_(meta), lake_(lake), name_(std::move(name)), alias_(std::move(alias)) {}

ModelHolder::~ModelHolder() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

std::shared_ptr<const LoadedModel> ModelHolder::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

Status ModelHolder::Reload() {
  std::lock_guard reload_lock(reload_mu_);
  CTML_ASSIGN_OR_RETURN(store::ModelVersion mv, meta_.GetAlias(name_, alias_));
  auto cur = Current();
  if (cur && cur->version == mv.version) return Status::OK();

  auto manifest = ParseJson(mv.manifest_json, 64);
  if (!manifest.ok()) return manifest.status().WithContext("manifest of " + name_);
  auto model = std::make_shared<LoadedModel>();
  model->name = name_;
  model->version = mv.version;
  model->alias = alias_;
  model->run_id = mv.run_id;
  model->loaded_at_us = NowMicros();
  try {
    model->threshold = manifest->at("threshold").get<double>();
    model->feature_names = manifest->at("feature_names").get<std::vector<std::string>>();
    model->spec_hash = manifest->value("spec_hash", "");
  } catch (const Json::exception& e) {
    return Status::Invalid(std::string("model manifest lacks a field: ") + e.what());
  }
  // A missing model file is not "no alias yet": the watcher must report it, not wait quietly.
  auto bytes = lake_.GetBytes(mv.artifact_uri + "/model.ubj");
  if (!bytes.ok()) {
    Metrics()
        .Counter("ctml_serve_model_load_failures_total", "Versions that could not be loaded",
                 {{"model", name_}})
        .Inc();
    return Status::FailedPrecondition(name_ + " v" + std::to_string(mv.version) + " (" + alias_ +
                                      ") cannot be loaded: " + bytes.status().message() +
                                      "; still serving the previous version");
  }
  CTML_ASSIGN_OR_RETURN(model->booster, ml::Booster::Load(*bytes));
  {
    std::lock_guard lock(mu_);
    current_ = std::move(model);
  }
  Metrics()
      .Gauge("ctml_serve_model_version", "Version of the served model", {{"model", name_}})
      .Set(static_cast<double>(mv.version));
  Metrics()
      .Gauge("ctml_serve_model_loaded_timestamp_seconds", "When the served version was loaded",
             {{"model", name_}})
      .Set(static_cast<double>(NowMicros()) / 1e6);
  log::Info("serve", "model loaded",
            {{"model", name_}, {"version", std::to_string(mv.version)}, {"alias", alias_}});
  return Status::OK();
}

void ModelHolder::StartWatching(std::chrono::milliseconds interval) {
  watcher_ = std::thread([this, interval] {
    std::unique_lock lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, interval, [this] { return stop_; })) {
      lock.unlock();
      Status st = Reload();
      if (!st.ok() && st.code() != StatusCode::kNotFound) {
        log::Warn("serve", "model reload failed", {{"error", st.message()}});
      }
      lock.lock();
    }
  });
}

}  // namespace ctml::serve
