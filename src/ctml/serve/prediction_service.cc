#include "ctml/serve/prediction_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "ctml/core/crypto.h"
#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/core/time.h"

namespace ctml::serve {
namespace {

Json ModelInfo(const LoadedModel& m) {
  return {{"name", m.name},
          {"version", m.version},
          {"alias", m.alias},
          {"run_id", m.run_id},
          {"loaded_at", FormatIso8601(m.loaded_at_us)}};
}

// Cache key: model identity + the exact feature values (bit patterns), hashed.
std::string CacheKey(const LoadedModel& m, const float* x, size_t n) {
  std::string buf = m.name + "\x1f" + std::to_string(m.version) + "\x1f";
  buf.append(reinterpret_cast<const char*>(x), n * sizeof(float));
  return "pred:" + m.name + ":" + std::to_string(m.version) + ":" +
         HexEncode(Sha256(buf)).substr(0, 32);
}

struct RecordInput {
  std::string patient_id;
  std::string subject_key;  // pseudonym of patient_id ("" without one): the audit's subject
  std::vector<float> x;
  int64_t as_of_us = 0;   // 0 when features were given by the client
  std::string not_found;  // the field, when the patient has no online features (not scored)
};

}  // namespace

PredictionService::PredictionService(PredictionOptions options, std::vector<ModelHolder*> models,
                                     store::OnlineStore& online, store::Cache& cache,
                                     store::MetaStore& meta, privacy::Pseudonymizer pseudonymizer,
                                     net::ApiKeys keys)
    : options_(std::move(options)),
      models_(std::move(models)),
      online_(online),
      cache_(cache),
      meta_(meta),
      pseudonymizer_(std::move(pseudonymizer)),
      keys_(std::move(keys)) {
  for (ModelHolder* m : models_) by_name_[m->name()] = m;
  if (options_.default_model.empty() && !models_.empty()) {
    options_.default_model = models_.front()->name();
  }
}

ModelHolder* PredictionService::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void PredictionService::Register(net::HttpServer& server) {
  server.Route("POST", "/v1/predict",
               keys_.Guard("predict", [this](const auto& r) { return HandlePredict(r); }));
  server.Route("GET", "/ready", [this](const auto& r) { return HandleReady(r); });
  server.Route("POST", "/model/reload",
               keys_.Guard("admin", [this](const auto& r) { return HandleReload(r); }));
}

// Ready when the default model is loaded and both stores answer; every served model is listed.
net::HttpResponse PredictionService::HandleReady(const net::HttpRequest&) {
  ModelHolder* def = Find(options_.default_model);
  auto model = def ? def->Current() : nullptr;
  Status online = online_.Ping();
  Status meta = meta_.Ping();
  bool ready = model && online.ok() && meta.ok();
  Json models = Json::array();
  for (ModelHolder* m : models_) {
    auto cur = m->Current();
    Json entry = {{"name", m->name()}, {"loaded", cur != nullptr}};
    if (cur) entry["version"] = cur->version;
    models.push_back(std::move(entry));
  }
  Json body = {{"ready", ready},
               {"model_loaded", model != nullptr},
               {"default_model", options_.default_model},
               {"models", models},
               {"online_store", online.ok() ? "UP" : "DOWN"},
               {"meta_store", meta.ok() ? "UP" : "DOWN"}};
  if (model) body["model"] = ModelInfo(*model);
  return net::HttpResponse::Json(ready ? 200 : 503, body.dump());
}

// Reloads every served model (or the one named by {"model": NAME}).
net::HttpResponse PredictionService::HandleReload(const net::HttpRequest& req) {
  std::vector<ModelHolder*> targets = models_;
  if (!req.body.empty()) {
    auto doc = ParseJson(req.body, 8);
    if (!doc.ok()) return net::HttpResponse::Error(doc.status());
    if (doc->is_object() && doc->contains("model")) {
      const Json& name = (*doc)["model"];
      if (!name.is_string()) {
        return net::HttpResponse::Error(400, "INVALID_ARGUMENT", "model must be a string", "model");
      }
      ModelHolder* m = Find(name.get<std::string>());
      if (m == nullptr) {
        return net::HttpResponse::Error(404, "NOT_FOUND", "model is not served here", "model");
      }
      targets = {m};
    }
  }
  Json loaded = Json::array();
  Json missing = Json::array();
  for (ModelHolder* m : targets) {
    Status st = m->Reload();
    if (!st.ok() && st.code() != StatusCode::kNotFound) return net::HttpResponse::Error(st);
    auto cur = m->Current();
    if (cur) {
      loaded.push_back(ModelInfo(*cur));
    } else {
      missing.push_back(m->name());
    }
  }
  if (loaded.empty()) {
    return net::HttpResponse::Error(404, "NOT_FOUND",
                                    "no model version has the serving alias yet; run "
                                    "`ctml train` first",
                                    "");
  }
  Json body = {{"status", "LOADED"}, {"models", loaded}, {"not_loaded", missing}};
  body["model"] = loaded.front();
  return net::HttpResponse::Json(200, body.dump());
}

net::HttpResponse PredictionService::HandlePredict(const net::HttpRequest& req) {
  static auto& hits = Metrics().Counter("ctml_serve_cache_hits_total", "Prediction cache hits");
  static auto& misses =
      Metrics().Counter("ctml_serve_cache_misses_total", "Prediction cache misses");
  static auto& ratio = Metrics().Gauge("ctml_serve_cache_hit_ratio", "Cache hits / lookups");

  auto doc = ParseJson(req.body, 16);
  if (!doc.ok()) return net::HttpResponse::Error(doc.status());
  if (!doc->is_object())
    return net::HttpResponse::Error(400, "INVALID_ARGUMENT", "body must be a JSON object", "");
  std::string model_name = options_.default_model;
  if (doc->contains("model") && !(*doc)["model"].is_null()) {
    if (!(*doc)["model"].is_string()) {
      return net::HttpResponse::Error(400, "INVALID_ARGUMENT", "model must be a string", "model");
    }
    model_name = (*doc)["model"].get<std::string>();
  }
  ModelHolder* holder = Find(model_name);
  if (holder == nullptr) {
    std::string served;
    for (ModelHolder* m : models_) served += (served.empty() ? "" : ", ") + m->name();
    return net::HttpResponse::Error(
        400, "INVALID_ARGUMENT",
        "unknown model '" + model_name.substr(0, 64) + "'; served models: " + served, "model");
  }
  // The version this request uses from start to end, even if the alias moves meanwhile.
  auto model = holder->Current();
  if (!model) {
    return net::HttpResponse::Error(
        503, "UNAVAILABLE",
        "model " + model_name + " is not loaded yet; train it (`ctml train`) and retry", "model");
  }
  auto recs = doc->find("records");
  if (recs == doc->end() || !recs->is_array() || recs->empty()) {
    return net::HttpResponse::Error(400, "INVALID_ARGUMENT", "records must be a non-empty array",
                                    "records");
  }
  if (recs->size() > options_.max_records) {
    return net::HttpResponse::Error(
        400, "INVALID_ARGUMENT",
        "at most " + std::to_string(options_.max_records) + " records per request", "records");
  }
  // Json::value() throws on a type mismatch; a flag of the wrong type is the client's error.
  for (const char* name : {"use_cache", "explain"}) {
    auto it = doc->find(name);
    if (it != doc->end() && !it->is_boolean() && !it->is_null()) {
      return net::HttpResponse::Error(400, "INVALID_ARGUMENT",
                                      std::string(name) + " must be true or false", name);
    }
  }
  auto flag = [&](const char* name, bool fallback) {
    auto it = doc->find(name);
    return it == doc->end() || it->is_null() ? fallback : it->get<bool>();
  };
  const bool use_cache = flag("use_cache", true);
  const bool explain = flag("explain", false);
  const size_t nf = model->feature_names.size();

  std::vector<RecordInput> inputs;
  inputs.reserve(recs->size());
  for (size_t i = 0; i < recs->size(); ++i) {
    const Json& r = (*recs)[i];
    std::string where = "records[" + std::to_string(i) + "]";
    if (!r.is_object()) {
      return net::HttpResponse::Error(400, "INVALID_ARGUMENT", "each record must be an object",
                                      where);
    }
    RecordInput in;
    if (r.contains("patient_id")) {
      if (!r["patient_id"].is_string() || r["patient_id"].get_ref<const std::string&>().empty() ||
          r["patient_id"].get_ref<const std::string&>().size() > 64) {
        return net::HttpResponse::Error(400, "INVALID_ARGUMENT",
                                        "patient_id must be a non-empty string (max 64)",
                                        where + ".patient_id");
      }
      in.patient_id = r["patient_id"].get<std::string>();
      in.subject_key = pseudonymizer_.SubjectKey(in.patient_id);
    }
    in.x.assign(nf, std::numeric_limits<float>::quiet_NaN());
    if (r.contains("features") && !r["features"].is_null()) {
      const Json& f = r["features"];
      if (!f.is_object()) {
        return net::HttpResponse::Error(400, "INVALID_ARGUMENT", "features must be an object",
                                        where + ".features");
      }
      std::vector<std::string> unknown, missing;
      std::set<std::string> known(model->feature_names.begin(), model->feature_names.end());
      for (const auto& [k, v] : f.items()) {
        if (!known.count(k)) unknown.push_back(k);
      }
      for (size_t j = 0; j < nf; ++j) {
        auto it = f.find(model->feature_names[j]);
        if (it == f.end()) {
          missing.push_back(model->feature_names[j]);
        } else if (it->is_number()) {
          in.x[j] = it->get<float>();
        } else if (!it->is_null()) {
          return net::HttpResponse::Error(400, "INVALID_ARGUMENT",
                                          "feature values must be numbers or null",
                                          where + ".features." + model->feature_names[j]);
        }
      }
      auto join = [](const std::vector<std::string>& v) {
        std::string s;
        for (size_t k = 0; k < v.size() && k < 20; ++k) s += (k ? ", " : "") + v[k];
        if (v.size() > 20) s += ", ... (" + std::to_string(v.size()) + " in all)";
        return s;
      };
      if (!unknown.empty()) {
        return net::HttpResponse::Error(400, "INVALID_ARGUMENT",
                                        "unknown features: " + join(unknown), where + ".features");
      }
      if (!missing.empty()) {
        return net::HttpResponse::Error(
            400, "INVALID_ARGUMENT",
            "missing features (send null for unknown values): " + join(missing),
            where + ".features");
      }
    } else {
      if (in.patient_id.empty()) {
        return net::HttpResponse::Error(400, "INVALID_ARGUMENT",
                                        "a record needs features or a patient_id",
                                        where + ".patient_id");
      }
      auto vec = online_.Get(in.subject_key, options_.view);
      if (!vec.ok())
        return net::HttpResponse::Error(503, "UNAVAILABLE", "online store unavailable", "");
      if (!vec->has_value()) {
        // One unknown patient does not fail the others: its result carries the error.
        in.not_found = where + ".patient_id";
        inputs.push_back(std::move(in));
        continue;
      }
      // Values of another feature spec would be mapped by name into the wrong meaning.
      if (!model->spec_hash.empty() && !(*vec)->spec_hash.empty() &&
          (*vec)->spec_hash != model->spec_hash) {
        return net::HttpResponse::Error(
            409, "FAILED_PRECONDITION",
            "the online features of this patient come from feature spec " + (*vec)->spec_hash +
                " but model " + model->name + " v" + std::to_string(model->version) +
                " was trained on spec " + model->spec_hash +
                ": retrain the model or let ctml features rematerialize",
            where + ".patient_id");
      }
      std::map<std::string, double> by_name((*vec)->values.begin(), (*vec)->values.end());
      for (size_t j = 0; j < nf; ++j) {
        auto it = by_name.find(model->feature_names[j]);
        if (it != by_name.end()) in.x[j] = static_cast<float>(it->second);
      }
      in.as_of_us = (*vec)->as_of_us;
    }
    inputs.push_back(std::move(in));
  }

  constexpr const char* kNoFeatures = "no features in the online store for this patient";
  size_t scored = 0;
  for (const auto& in : inputs) scored += in.not_found.empty() ? 1 : 0;
  if (scored == 0) {  // nothing to score: the request as a whole is not found
    return net::HttpResponse::Error(404, "NOT_FOUND", kNoFeatures, inputs.front().not_found);
  }

  // Cache lookups, then one batched prediction for the misses.
  std::vector<float> probs(inputs.size(), 0.f);
  std::vector<size_t> todo;
  std::vector<std::string> keys(inputs.size());
  size_t hit_count = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].not_found.empty()) continue;
    keys[i] = CacheKey(*model, inputs[i].x.data(), nf);
    if (use_cache) {
      auto got = cache_.Get(keys[i]);
      if (got.ok() && got->has_value()) {
        probs[i] = std::stof(**got);
        ++hit_count;
        continue;
      }
    }
    todo.push_back(i);
  }
  if (use_cache) {
    hits.Inc(static_cast<double>(hit_count));
    misses.Inc(static_cast<double>(todo.size()));
    double total = hits.Value() + misses.Value();
    ratio.Set(total > 0 ? hits.Value() / total : 0);
  }
  if (!todo.empty()) {
    std::vector<float> x(todo.size() * nf);
    for (size_t k = 0; k < todo.size(); ++k) {
      std::memcpy(&x[k * nf], inputs[todo[k]].x.data(), nf * sizeof(float));
    }
    auto p = model->booster->Predict(x.data(), todo.size(), nf);
    if (!p.ok()) return net::HttpResponse::Error(p.status());
    for (size_t k = 0; k < todo.size(); ++k) {
      probs[todo[k]] = (*p)[k];
      if (use_cache)
        (void)cache_.Put(keys[todo[k]], fmt::format("{:.9g}", (*p)[k]), options_.cache_ttl);
    }
  }
  Metrics()
      .Counter("ctml_serve_predictions_total", "Records scored", {{"model", model->name}})
      .Inc(static_cast<double>(scored));

  std::vector<float> contribs;
  if (explain) {
    std::vector<float> x(inputs.size() * nf);
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::memcpy(&x[i * nf], inputs[i].x.data(), nf * sizeof(float));
    }
    auto c = model->booster->Contributions(x.data(), inputs.size(), nf);
    if (!c.ok()) return net::HttpResponse::Error(c.status());
    contribs = std::move(*c);
  }

  Json results = Json::array();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].not_found.empty()) {
      results.push_back(
          {{"patient_id", inputs[i].patient_id},
           {"error",
            {{"code", "NOT_FOUND"}, {"message", kNoFeatures}, {"field", inputs[i].not_found}}}});
      continue;
    }
    Json r = {{"patient_id", inputs[i].patient_id},
              {"probability", probs[i]},
              {"predicted_class", probs[i] >= model->threshold ? 1 : 0},
              {"threshold", model->threshold}};
    if (inputs[i].as_of_us) r["features_as_of"] = FormatIso8601(inputs[i].as_of_us);
    if (explain) {
      std::vector<size_t> order(nf);
      for (size_t j = 0; j < nf; ++j) order[j] = j;
      const float* row = &contribs[i * (nf + 1)];
      std::sort(order.begin(), order.end(),
                [&](size_t a, size_t b) { return std::fabs(row[a]) > std::fabs(row[b]); });
      Json top = Json::array();
      for (size_t k = 0; k < order.size() && static_cast<int>(k) < options_.explain_top; ++k) {
        size_t j = order[k];
        float v = inputs[i].x[j];
        top.push_back({{"feature", model->feature_names[j]},
                       {"value", std::isnan(v) ? Json(nullptr) : Json(v)},
                       {"contribution", row[j]}});
      }
      r["explanation"] = {{"top_features", top}, {"bias", row[nf]}};
    }
    results.push_back(std::move(r));
  }
  const bool all_cached = use_cache && hit_count == scored;
  if (options_.audit) {
    // Before answering: a prediction that was not audited is not given out.
    Json audited = Json::array();
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].not_found.empty()) continue;  // not scored
      audited.push_back(
          {{"subject_key",
            inputs[i].subject_key.empty() ? Json(nullptr) : Json(inputs[i].subject_key)},
           {"score", probs[i]}});
    }
    Json detail = {{"model", model->name},
                   {"version", model->version},
                   {"cached", all_cached},
                   {"predictions", audited}};
    auto st = meta_.AppendAudit(req.actor, "predict",
                                model->name + "/" + std::to_string(model->version), detail.dump());
    if (!st.ok()) {
      return net::HttpResponse::Error(503, "UNAVAILABLE",
                                      "the audit trail is unavailable; no prediction is given "
                                      "without an audit record",
                                      "");
    }
  }
  Json body = {{"model", ModelInfo(*model)}, {"results", results}, {"cached", all_cached}};
  return net::HttpResponse::Json(200, body.dump());
}

}  // namespace ctml::serve
