// The model-serving API (Level 4): GET /ready, POST /v1/predict, POST /model/reload.
//
// /v1/predict {"model":"ae-discontinuation-30d"?, "records":[{"patient_id":"PT...",
//              "features":{...}?}], "use_cache":true, "explain":false}
//  -> {"model":{name,version,alias,run_id,loaded_at},
//      "results":[{patient_id,probability,predicted_class,threshold,features_as_of?,explanation?}],
//      "cached":bool}
// "model" picks one of the served models (default: PredictionOptions::default_model). Without
// "features" the subject is looked up in the online store by the pseudonym of its patient_id;
// with "features" every feature of the model's manifest must be present (null = missing) and no
// other may be sent. "cached" is true only when every record was answered from the cache; cache
// keys include the model name and version, so another version's entries are never served.
// Every answered request appends one audit record ("predict": actor, model/version, and per
// record the subject key - never the raw id - and the score) before the response is sent.
// With API keys (net/auth.h) /v1/predict needs the "predict" role and /model/reload "admin".
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ctml/net/auth.h"
#include "ctml/net/http.h"
#include "ctml/privacy/pseudonymizer.h"
#include "ctml/serve/model_holder.h"
#include "ctml/store/cache.h"
#include "ctml/store/online_store.h"

namespace ctml::serve {

struct PredictionOptions {
  std::string view = "clinical";
  std::string default_model;  // empty: the first served model
  size_t max_records = 1000;
  std::chrono::seconds cache_ttl{3600};
  int explain_top = 5;
  bool audit = true;  // one audit record per answered /v1/predict request
};

class PredictionService {
 public:
  // `models`: the served models (at least one; they must outlive the service).
  PredictionService(PredictionOptions options, std::vector<ModelHolder*> models,
                    store::OnlineStore& online, store::Cache& cache, store::MetaStore& meta,
                    privacy::Pseudonymizer pseudonymizer, net::ApiKeys keys = {});
  void Register(net::HttpServer& server);

  net::HttpResponse HandlePredict(const net::HttpRequest& req);
  net::HttpResponse HandleReady(const net::HttpRequest& req);
  net::HttpResponse HandleReload(const net::HttpRequest& req);

 private:
  ModelHolder* Find(const std::string& name) const;

  PredictionOptions options_;
  std::vector<ModelHolder*> models_;
  std::map<std::string, ModelHolder*> by_name_;
  store::OnlineStore& online_;
  store::Cache& cache_;
  store::MetaStore& meta_;
  privacy::Pseudonymizer pseudonymizer_;
  net::ApiKeys keys_;
};

}  // namespace ctml::serve
