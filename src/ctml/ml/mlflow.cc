#include "ctml/ml/mlflow.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <utility>

#include "ctml/core/json.h"
#include "ctml/core/url.h"
#include "ctml/net/http.h"
#include "ctml/store/meta_store.h"

namespace ctml::ml {

namespace {

constexpr const char* kApi = "/api/2.0/mlflow/";
constexpr const char* kVersionTag = "ctml.version";

// Cuts at `max` bytes without splitting a UTF-8 sequence.
std::string Truncate(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

Json Tag(const std::string& key, const std::string& value) {
  return {{"key", MlflowKey(key)}, {"value", Truncate(value, kMlflowMaxTagValueLength)}};
}

// MLflow filter string literal: single quotes, with embedded quotes escaped.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

}  // namespace

Result<MlflowEndpoint> ParseMlflowUri(const std::string& uri) {
  const std::string field = "tracking.mlflow_uri";
  if (uri.rfind("https://", 0) == 0) {
    return Status::Invalid("MLflow URI '" + uri +
                               "': https is not supported; use http:// (loopback or a private "
                               "network, or a local TLS-terminating proxy)",
                           field);
  }
  if (uri.rfind("http://", 0) != 0) {
    return Status::Invalid("MLflow URI '" + uri + "' must start with http://", field);
  }
  std::string rest = uri.substr(7);
  MlflowEndpoint ep;
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    ep.base_path = rest.substr(slash);
    while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();
    if (ep.base_path.find_first_of("?#") != std::string::npos) {
      return Status::Invalid("MLflow URI '" + uri + "' must not carry a query or fragment", field);
    }
  }
  if (authority.find('@') != std::string::npos) {
    return Status::Invalid("MLflow URI '" + uri + "' must not carry credentials", field);
  }
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string::npos) return Status::Invalid("MLflow URI '" + uri + "': bad host");
    ep.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Status::Invalid("MLflow URI '" + uri + "': bad host", field);
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    ep.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (ep.host.empty()) return Status::Invalid("MLflow URI '" + uri + "' has no host", field);
  if (!port_text.empty()) {
    long port = 0;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || port > 65535) {
        port = -1;
        break;
      }
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) {
      return Status::Invalid("MLflow URI '" + uri + "': bad port '" + port_text + "'", field);
    }
    ep.port = static_cast<uint16_t>(port);
  }
  return ep;
}

std::string MlflowKey(const std::string& key) {
  std::string out;
  for (unsigned char c : key) {
    bool ok =
        std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == ' ' || c == '/' || c == ':';
    out.push_back(ok ? static_cast<char>(c) : '_');
  }
  if (out.empty()) out = "_";
  return out.substr(0, kMlflowMaxKeyLength);
}

std::vector<std::string> MlflowLogBatchBodies(const std::string& mlflow_run_id,
                                              const store::RunRecord& run, int64_t timestamp_ms) {
  std::vector<Json> params, metrics;
  for (const auto& [k, v] : run.params) {
    params.push_back({{"key", MlflowKey(k)}, {"value", Truncate(v, kMlflowMaxParamValueLength)}});
  }
  for (const auto& [k, v] : run.metrics) {
    if (!std::isfinite(v)) continue;  // JSON has no NaN; MLflow would reject null
    metrics.push_back(
        {{"key", MlflowKey(k)}, {"value", v}, {"timestamp", timestamp_ms}, {"step", 0}});
  }
  std::vector<std::string> bodies;
  size_t pi = 0, mi = 0;
  while (pi < params.size() || mi < metrics.size()) {
    Json body = {{"run_id", mlflow_run_id},
                 {"params", Json::array()},
                 {"metrics", Json::array()},
                 {"tags", Json::array()}};
    size_t entities = 0;
    for (size_t n = 0; pi < params.size() && n < kMlflowMaxParamsPerBatch &&
                       entities < kMlflowMaxEntitiesPerBatch;
         ++n, ++entities) {
      body["params"].push_back(params[pi++]);
    }
    for (size_t n = 0; mi < metrics.size() && n < kMlflowMaxMetricsPerBatch &&
                       entities < kMlflowMaxEntitiesPerBatch;
         ++n, ++entities) {
      body["metrics"].push_back(metrics[mi++]);
    }
    bodies.push_back(body.dump());
  }
  return bodies;
}

MlflowTracker::MlflowTracker(MlflowEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)),
      http_(std::make_unique<net::HttpClient>(endpoint_.host, endpoint_.port, timeout)) {}

MlflowTracker::~MlflowTracker() = default;

Result<std::unique_ptr<MlflowTracker>> MlflowTracker::Create(const std::string& uri,
                                                             std::chrono::milliseconds timeout) {
  CTML_ASSIGN_OR_RETURN(auto ep, ParseMlflowUri(uri));
  return std::unique_ptr<MlflowTracker>(new MlflowTracker(std::move(ep), timeout));
}

// One REST call; a non-2xx answer becomes a Status carrying MLflow's error_code and message.
Result<std::string> MlflowTracker::Send(const std::string& method, const std::string& endpoint,
                                        const std::string& query, const std::string& body) {
  std::string target = endpoint_.base_path + kApi + endpoint;
  if (!query.empty()) target += "?" + query;
  auto resp = http_->Request(method, target, method == "GET" ? "" : body, "application/json");
  if (!resp.ok()) return resp.status().WithContext("MLflow " + endpoint);
  if (resp->status >= 200 && resp->status < 300) return std::move(resp->body);
  std::string code = "HTTP_" + std::to_string(resp->status), message = resp->body.substr(0, 300);
  if (auto doc = ParseJson(resp->body, 16); doc.ok() && doc->is_object()) {
    if (auto it = doc->find("error_code"); it != doc->end() && it->is_string()) code = *it;
    if (auto it = doc->find("message"); it != doc->end() && it->is_string()) message = *it;
  }
  std::string text = "MLflow " + endpoint + ": " + code + ": " + message;
  if (code == "RESOURCE_DOES_NOT_EXIST" || resp->status == 404) return Status::NotFound(text);
  if (code == "RESOURCE_ALREADY_EXISTS") return Status::AlreadyExists(text);
  if (code == "INVALID_PARAMETER_VALUE" || code == "BAD_REQUEST") return Status::Invalid(text);
  if (resp->status >= 500) return Status::Unavailable(text);
  return Status::Internal(text);
}

namespace {

Result<Json> ParseBody(const Result<std::string>& body, const char* what) {
  if (!body.ok()) return body.status();
  auto doc = ParseJson(*body, 64);
  if (!doc.ok() || !doc->is_object()) {
    return Status::Internal(std::string("MLflow ") + what + ": answer is not a JSON object");
  }
  return std::move(*doc);
}

// Reads a string at a JSON pointer, failing with a message naming it.
Result<std::string> StringAt(const Json& doc, const char* pointer, const char* what) {
  const Json::json_pointer p(pointer);
  if (!doc.contains(p) || !doc.at(p).is_string()) {
    return Status::Internal(std::string("MLflow ") + what + ": answer has no " + pointer);
  }
  return doc.at(p).get<std::string>();
}

}  // namespace

Result<std::string> MlflowTracker::ExperimentId(const std::string& name) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto got = Send("GET", "experiments/get-by-name", "experiment_name=" + PercentEncode(name), "");
    if (got.ok()) {
      CTML_ASSIGN_OR_RETURN(auto doc, ParseBody(got, "experiments/get-by-name"));
      return StringAt(doc, "/experiment/experiment_id", "experiments/get-by-name");
    }
    if (got.status().code() != StatusCode::kNotFound) return got.status();
    auto created = Send("POST", "experiments/create", "", Json{{"name", name}}.dump());
    if (created.ok()) {
      CTML_ASSIGN_OR_RETURN(auto doc, ParseBody(created, "experiments/create"));
      return StringAt(doc, "/experiment_id", "experiments/create");
    }
    // Another writer created it between our get and create: read it again.
    if (created.status().code() != StatusCode::kAlreadyExists) return created.status();
  }
  return Status::Internal("MLflow: experiment '" + name + "' could not be found nor created");
}

Result<std::string> MlflowTracker::LogRun(const store::RunRecord& run) {
  const std::string experiment = run.experiment.empty() ? "ctml" : run.experiment;
  CTML_ASSIGN_OR_RETURN(std::string experiment_id, ExperimentId(experiment));

  Json tags = Json::array();
  tags.push_back(Tag("ctml.run_id", run.run_id));
  for (const auto& [k, v] : run.tags) {
    // dataset_id, spec_hash, code_version, actor, model_version ... as ctml.<key>
    tags.push_back(Tag("ctml." + k, v));
  }
  tags.push_back(Tag("mlflow.source.name", "ctml train"));
  tags.push_back(Tag("mlflow.source.type", "JOB"));
  if (tags.size() > kMlflowMaxTagsPerBatch)
    tags.erase(tags.begin() + kMlflowMaxTagsPerBatch, tags.end());
  const int64_t start_ms = run.start_us / 1000;
  Json create = {{"experiment_id", experiment_id},
                 {"run_name", run.run_id},
                 {"start_time", start_ms},
                 {"tags", tags}};
  CTML_ASSIGN_OR_RETURN(auto created,
                        ParseBody(Send("POST", "runs/create", "", create.dump()), "runs/create"));
  CTML_ASSIGN_OR_RETURN(std::string mlflow_run_id,
                        StringAt(created, "/run/info/run_id", "runs/create"));

  const int64_t end_ms = run.end_us > 0 ? run.end_us / 1000 : start_ms;
  for (const std::string& body : MlflowLogBatchBodies(mlflow_run_id, run, end_ms)) {
    CTML_RETURN_NOT_OK(Send("POST", "runs/log-batch", "", body).status());
  }
  std::string status = run.status;
  if (status != "FINISHED" && status != "FAILED" && status != "RUNNING" && status != "KILLED") {
    status = "FAILED";
  }
  if (status != "RUNNING") {
    Json update = {{"run_id", mlflow_run_id}, {"status", status}, {"end_time", end_ms}};
    CTML_RETURN_NOT_OK(Send("POST", "runs/update", "", update.dump()).status());
  }
  return mlflow_run_id;
}

Result<std::string> MlflowTracker::FindVersion(const std::string& name, int64_t our_version) {
  const std::string want = std::to_string(our_version);
  std::string page_token;
  do {
    std::string query = "filter=" + PercentEncode("name=" + Quote(name)) + "&max_results=1000";
    if (!page_token.empty()) query += "&page_token=" + PercentEncode(page_token);
    CTML_ASSIGN_OR_RETURN(auto doc, ParseBody(Send("GET", "model-versions/search", query, ""),
                                              "model-versions/search"));
    page_token.clear();
    if (auto it = doc.find("next_page_token"); it != doc.end() && it->is_string()) {
      page_token = *it;
    }
    auto versions = doc.find("model_versions");
    if (versions == doc.end() || !versions->is_array()) continue;
    for (const Json& v : *versions) {
      auto tags = v.find("tags");
      if (tags == v.end() || !tags->is_array() || !v.contains("version")) continue;
      for (const Json& t : *tags) {
        if (t.value("key", "") == kVersionTag && t.value("value", "") == want) {
          const Json& num = v["version"];
          return num.is_string() ? num.get<std::string>() : num.dump();
        }
      }
    }
  } while (!page_token.empty());
  return Status::NotFound("MLflow: " + name + " has no version tagged " + kVersionTag + "=" + want);
}

Status MlflowTracker::LogModelVersion(const std::string& name, int64_t our_version,
                                      const std::string& mlflow_run_id,
                                      const std::string& artifact_uri, const std::string& alias,
                                      const std::string& description) {
  auto got = Send("GET", "registered-models/get", "name=" + PercentEncode(name), "");
  if (!got.ok()) {
    if (got.status().code() != StatusCode::kNotFound) return got.status();
    Json create = {{"name", name},
                   {"description", "Registered by ctml; the ctml registry is the source of truth."},
                   {"tags", Json::array({Tag("ctml.source", "ctml")})}};
    auto created = Send("POST", "registered-models/create", "", create.dump());
    if (!created.ok() && created.status().code() != StatusCode::kAlreadyExists) {
      return created.status();
    }
  }
  auto existing = FindVersion(name, our_version);
  if (!existing.ok()) {
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();
    Json create = {{"name", name},
                   {"source", artifact_uri},
                   {"run_id", mlflow_run_id},
                   {"description", Truncate(description, 5000)},
                   {"tags", Json::array({Tag(kVersionTag, std::to_string(our_version))})}};
    CTML_ASSIGN_OR_RETURN(auto doc,
                          ParseBody(Send("POST", "model-versions/create", "", create.dump()),
                                    "model-versions/create"));
    CTML_ASSIGN_OR_RETURN(std::string v,
                          StringAt(doc, "/model_version/version", "model-versions/create"));
    existing = v;
  }
  if (alias.empty()) return Status::OK();
  Json body = {{"name", name}, {"alias", alias}, {"version", *existing}};
  return Send("POST", "registered-models/alias", "", body.dump()).status();
}

Status MlflowTracker::SetAlias(const std::string& name, int64_t our_version,
                               const std::string& alias) {
  CTML_ASSIGN_OR_RETURN(std::string v, FindVersion(name, our_version));
  Json body = {{"name", name}, {"alias", alias}, {"version", v}};
  return Send("POST", "registered-models/alias", "", body.dump()).status();
}

Status LogTrainingToMlflow(const std::string& uri, store::RunRecord* run, const std::string& name,
                           int64_t version, const std::string& artifact_uri,
                           const std::string& alias, const std::string& description) {
  CTML_ASSIGN_OR_RETURN(auto tracker, MlflowTracker::Create(uri));
  CTML_ASSIGN_OR_RETURN(std::string mlflow_run_id, tracker->LogRun(*run));
  run->tags["mlflow_run_id"] = mlflow_run_id;
  return tracker->LogModelVersion(name, version, mlflow_run_id, "ctml-lake:/" + artifact_uri, alias,
                                  description);
}

}  // namespace ctml::ml
