// The registry and tracking HTTP API (`ctml registry serve`, registry.port 5000). JSON bodies;
// errors are {"error":{"code","message","field"}}. Read endpoints need the "read" role and
// promotion the "admin" role when auth.required (net/auth.h); the key id is the audit actor.
//
//   GET  /api/v1/models                                 every model, its versions and aliases
//   GET  /api/v1/models/{name}                          one model
//   GET  /api/v1/models/{name}/versions/{v}             the manifest (v = number or alias)
//   GET  /api/v1/models/{name}/versions/{v}/card        card.md (text/markdown)
//   GET  /api/v1/models/{name}/versions/{v}/roc.png     image/png (also calibration.png)
//   GET  /api/v1/models/{name}/compare?a=1&b=production
//   POST /api/v1/models/{name}/aliases/{alias}          {"version":3,"reason":"..."} -> promote
//   GET  /api/v1/runs?experiment=NAME                   runs (all models' when no experiment)
//   GET  /api/v1/runs/{run_id}
//   GET  /ready                                         200 when the MetaStore answers, else 503
//
//   ctml::serve::RegistryApi api(*meta, lake.get(), keys);   // all three outlive the server
//   api.Register(server);
#pragma once

#include "ctml/net/auth.h"
#include "ctml/net/http.h"
#include "ctml/store/lake.h"
#include "ctml/store/meta_store.h"

namespace ctml::serve {

class RegistryApi {
 public:
  // `lake` may be null: artifact endpoints then answer 404.
  RegistryApi(store::MetaStore& meta, store::Lake* lake, const net::ApiKeys& keys);
  void Register(net::HttpServer& server);
  // When set (tracking.mlflow_uri), a promotion also moves the MLflow alias; a failure there is
  // reported in the response ("mlflow") and does not undo the promotion.
  void SetMlflowUri(std::string uri) { mlflow_uri_ = std::move(uri); }

  net::HttpResponse HandleList(const net::HttpRequest& req);
  net::HttpResponse HandleModelGet(const net::HttpRequest& req);   // under /api/v1/models/
  net::HttpResponse HandleModelPost(const net::HttpRequest& req);  // under /api/v1/models/
  net::HttpResponse HandleRuns(const net::HttpRequest& req);
  net::HttpResponse HandleRun(const net::HttpRequest& req);
  net::HttpResponse HandleReady(const net::HttpRequest& req);

 private:
  net::HttpResponse Artifact(const store::ModelVersion& mv, const std::string& file,
                             const std::string& content_type);

  store::MetaStore& meta_;
  store::Lake* lake_;
  const net::ApiKeys& keys_;
  std::string mlflow_uri_;
};

}  // namespace ctml::serve
