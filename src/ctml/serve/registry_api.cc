#include "ctml/serve/registry_api.h"

#include <charconv>
#include <string>
#include <vector>

#include "ctml/core/json.h"
#include "ctml/ml/mlflow.h"
#include "ctml/ml/registry.h"

namespace ctml::serve {
namespace {

namespace registry = ml::registry;

constexpr const char* kModelsPrefix = "/api/v1/models/";
constexpr const char* kRunsPrefix = "/api/v1/runs/";

// "a/b/c" -> {"a","b","c"}; empty segments are kept so that "a//b" does not match a route.
std::vector<std::string> Segments(const std::string& rest) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t slash = rest.find('/', start);
    out.push_back(
        rest.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// A failed status as a JSON error; `field` names the input when the status does not.
net::HttpResponse Error(const Status& st, const std::string& field) {
  if (!st.field().empty() || field.empty()) return net::HttpResponse::Error(st);
  return net::HttpResponse::Error(Status(st.code(), st.message(), field));
}

net::HttpResponse NoRoute(const std::string& path) {
  return net::HttpResponse::Error(404, "NOT_FOUND", "no route for " + path);
}

}  // namespace

RegistryApi::RegistryApi(store::MetaStore& meta, store::Lake* lake, const net::ApiKeys& keys)
    : meta_(meta), lake_(lake), keys_(keys) {}

void RegistryApi::Register(net::HttpServer& server) {
  server.Route("GET", "/api/v1/models",
               keys_.Guard("read", [this](const auto& r) { return HandleList(r); }));
  server.RoutePrefix("GET", kModelsPrefix,
                     keys_.Guard("read", [this](const auto& r) { return HandleModelGet(r); }));
  server.RoutePrefix("POST", kModelsPrefix,
                     keys_.Guard("admin", [this](const auto& r) { return HandleModelPost(r); }));
  server.Route("GET", "/api/v1/runs",
               keys_.Guard("read", [this](const auto& r) { return HandleRuns(r); }));
  server.RoutePrefix("GET", kRunsPrefix,
                     keys_.Guard("read", [this](const auto& r) { return HandleRun(r); }));
  server.Route("GET", "/ready", [this](const auto& r) { return HandleReady(r); });
}

net::HttpResponse RegistryApi::HandleList(const net::HttpRequest&) {
  auto models = registry::ListModels(meta_);
  if (!models.ok()) return Error(models.status(), "");
  return net::HttpResponse::Json(200, registry::ModelsJson(*models));
}

net::HttpResponse RegistryApi::HandleModelGet(const net::HttpRequest& req) {
  const auto seg = Segments(req.path.substr(std::string(kModelsPrefix).size()));
  const std::string& name = seg[0];
  if (name.empty()) return NoRoute(req.path);
  if (seg.size() == 1) {
    auto model = registry::GetModel(meta_, name);
    if (!model.ok()) return Error(model.status(), "name");
    return net::HttpResponse::Json(200, registry::ModelJson(*model));
  }
  if (seg.size() == 2 && seg[1] == "compare") {
    auto a = req.query.find("a");
    auto b = req.query.find("b");
    if (a == req.query.end() || a->second.empty()) {
      return net::HttpResponse::Error(400, "INVALID_ARGUMENT",
                                      "query parameter 'a' (version or alias) is required", "a");
    }
    if (b == req.query.end() || b->second.empty()) {
      return net::HttpResponse::Error(400, "INVALID_ARGUMENT",
                                      "query parameter 'b' (version or alias) is required", "b");
    }
    auto c = registry::Compare(meta_, name, a->second, b->second);
    if (!c.ok()) return Error(c.status(), "version");
    return net::HttpResponse::Json(200, registry::CompareJson(*c));
  }
  if (seg[1] != "versions" || seg.size() < 3 || seg.size() > 4 || seg[2].empty()) {
    return NoRoute(req.path);
  }
  auto mv = registry::GetVersion(meta_, name, seg[2]);
  if (!mv.ok()) return Error(mv.status(), "version");
  if (seg.size() == 3) return net::HttpResponse::Json(200, registry::ManifestJson(*mv));
  if (seg[3] == "card") return Artifact(*mv, "card.md", "text/markdown; charset=utf-8");
  if (seg[3] == "roc.png" || seg[3] == "calibration.png") {
    return Artifact(*mv, seg[3], "image/png");
  }
  return NoRoute(req.path);
}

net::HttpResponse RegistryApi::Artifact(const store::ModelVersion& mv, const std::string& file,
                                        const std::string& content_type) {
  if (lake_ == nullptr || mv.artifact_uri.empty()) {
    return net::HttpResponse::Error(404, "NOT_FOUND", "no artifacts for this version", "");
  }
  auto bytes = lake_->GetBytes(mv.artifact_uri + "/" + file);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) {
      return net::HttpResponse::Error(
          404, "NOT_FOUND", mv.name + " version " + std::to_string(mv.version) + " has no " + file,
          "");
    }
    return net::HttpResponse::Error(bytes.status());
  }
  net::HttpResponse r;
  r.status = 200;
  r.content_type = content_type;
  r.body = std::move(*bytes);
  return r;
}

net::HttpResponse RegistryApi::HandleModelPost(const net::HttpRequest& req) {
  const auto seg = Segments(req.path.substr(std::string(kModelsPrefix).size()));
  if (seg.size() != 3 || seg[0].empty() || seg[1] != "aliases") return NoRoute(req.path);
  const std::string& name = seg[0];
  const std::string& alias = seg[2];
  if (!registry::ValidAliasName(alias)) {
    return net::HttpResponse::Error(400, "INVALID_ARGUMENT", "alias must match [a-z0-9_-]{1,32}",
                                    "alias");
  }
  auto doc = ParseJson(req.body, 8);
  if (!doc.ok()) return Error(doc.status(), "body");
  if (!doc->is_object()) {
    return net::HttpResponse::Error(400, "INVALID_ARGUMENT", "body must be a JSON object", "body");
  }
  int64_t version = 0;
  auto v = doc->find("version");
  if (v != doc->end() && v->is_number_integer()) {
    version = v->get<int64_t>();
  } else if (v != doc->end() && v->is_string()) {
    const std::string s = v->get<std::string>();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), version);
    if (ec != std::errc() || ptr != s.data() + s.size()) version = 0;
  }
  if (version <= 0) {
    return net::HttpResponse::Error(400, "INVALID_ARGUMENT",
                                    "'version' must be a positive version number", "version");
  }
  std::string reason;
  auto rs = doc->find("reason");
  if (rs != doc->end() && !rs->is_null()) {
    if (!rs->is_string()) {
      return net::HttpResponse::Error(400, "INVALID_ARGUMENT", "'reason' must be a string",
                                      "reason");
    }
    reason = rs->get<std::string>();
    if (reason.size() > 1000) {
      return net::HttpResponse::Error(400, "INVALID_ARGUMENT",
                                      "'reason' must be at most 1000 characters", "reason");
    }
  }
  auto p = registry::Promote(meta_, name, version, alias, req.actor,
                             reason.empty() ? "promoted through the registry API" : reason);
  if (!p.ok()) return Error(p.status(), "version");
  if (mlflow_uri_.empty()) return net::HttpResponse::Json(200, registry::PromoteJson(*p));
  auto tracker = ml::MlflowTracker::Create(mlflow_uri_);
  Status st = tracker.ok() ? (*tracker)->SetAlias(name, p->version, alias) : tracker.status();
  Json body = Json::parse(registry::PromoteJson(*p));
  body["mlflow"] = st.ok() ? "alias moved" : "warning: MLflow alias not moved: " + st.message();
  return net::HttpResponse::Json(200, body.dump());
}

net::HttpResponse RegistryApi::HandleRuns(const net::HttpRequest& req) {
  auto it = req.query.find("experiment");
  auto runs = registry::ListRuns(meta_, it == req.query.end() ? "" : it->second);
  if (!runs.ok()) return Error(runs.status(), "experiment");
  return net::HttpResponse::Json(200, registry::RunsJson(*runs));
}

net::HttpResponse RegistryApi::HandleRun(const net::HttpRequest& req) {
  const std::string id = req.path.substr(std::string(kRunsPrefix).size());
  if (id.empty() || id.find('/') != std::string::npos) return NoRoute(req.path);
  auto run = registry::GetRun(meta_, id);
  if (!run.ok()) return Error(run.status(), "run_id");
  return net::HttpResponse::Json(200, registry::RunJson(*run));
}

net::HttpResponse RegistryApi::HandleReady(const net::HttpRequest&) {
  Status meta = meta_.Ping();
  Json body = {{"ready", meta.ok()}, {"meta_store", meta.ok() ? "UP" : "DOWN"}};
  return net::HttpResponse::Json(meta.ok() ? 200 : 503, body.dump());
}

}  // namespace ctml::serve
