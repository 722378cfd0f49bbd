// The model-serving API (Level 4): GET /ready, POST /v1/predict, POST /model/reload.
//
// /v1/predict {"records":[{"patient_id":"PT...","features":{...}?}],"use_cache":true,
//              "explain":false}
//  -> {"model":{name,version,alias,run_id,loaded_at},
//      "results":[{patient_id,probability,predicted_class,threshold,features_as_of?,explanation?}],
//      "cached":bool}
// Without "features" the subject is looked up in the online store by the pseudonym of its
// patient_id. "cached" is true only when every record was answered from the cache; cache keys
// include the model name and version, so another version's entries are never served.
#pragma once

#include <string>

#include "ctml/net/http.h"
#include "ctml/privacy/pseudonymizer.h"
#include "ctml/serve/model_holder.h"
#include "ctml/store/cache.h"
#include "ctml/store/online_store.h"

namespace ctml::serve {

struct PredictionOptions {
  std::string view = "clinical";
  size_t max_records = 1000;
  std::chrono::seconds cache_ttl{3600};
  int explain_top = 5;
};

class PredictionService {
 public:
  PredictionService(PredictionOptions options, ModelHolder& models, store::OnlineStore& online,
                    store::Cache& cache, store::MetaStore& meta,
                    privacy::Pseudonymizer pseudonymizer);
  void Register(net::HttpServer& server);

  net::HttpResponse HandlePredict(const net::HttpRequest& req);
  net::HttpResponse HandleReady(const net::HttpRequest& req);
  net::HttpResponse HandleReload(const net::HttpRequest& req);

 private:
  PredictionOptions options_;
  ModelHolder& models_;
  store::OnlineStore& online_;
  store::Cache& cache_;
  store::MetaStore& meta_;
  privacy::Pseudonymizer pseudonymizer_;
};

}  // namespace ctml::serve
