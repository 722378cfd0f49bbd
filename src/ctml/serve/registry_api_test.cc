// The registry HTTP API in-process on port 0, over the SQLite MetaStore and a file:// lake.
#include "ctml/serve/registry_api.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "ctml/core/ids.h"
#include "ctml/core/json.h"
#include "ctml/store/factory.h"

namespace ctml::serve {
namespace {

const std::string kPng = std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);

std::string Manifest(int version, double auc, const std::string& dataset) {
  Json m = {{"name", "vitals_risk"},
            {"version", version},
            {"feature_names", {"a", "b"}},
            {"spec_hash", "s1"},
            {"threshold", 0.3},
            {"dataset_id", dataset},
            {"metrics",
             {{"roc_auc", auc},
              {"roc_auc_ci_low", auc - 0.05},
              {"roc_auc_ci_high", auc + 0.05},
              {"brier", 0.1}}},
            {"feature_importance_gain", {{"a", 2.0}, {"b", 1.0}}},
            {"promotion",
             {{"alias", version == 1 ? "production" : "staging"},
              {"passed", version == 1},
              {"reason", version == 1 ? "first version" : "below production"}}}};
  return m.dump();
}

Json Body(const net::ClientResponse& r) {
  auto doc = ParseJson(r.body);
  EXPECT_TRUE(doc.ok()) << r.body;
  return doc.ok() ? *doc : Json();
}

class RegistryApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ctml_registry_api_" + NewUuidV7());
    std::filesystem::create_directories(dir_);
    auto meta = store::OpenMetaStore("sqlite://" + (dir_ / "meta.db").string());
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    meta_ = std::move(*meta);
    auto lake = store::OpenLake("file://" + (dir_ / "lake").string());
    ASSERT_TRUE(lake.ok()) << lake.status().ToString();
    lake_ = std::move(*lake);
    for (int v = 1; v <= 2; ++v) {
      store::RunRecord run;
      run.run_id = "run-" + std::to_string(v);
      run.experiment = "vitals_risk";
      run.status = "FINISHED";
      run.start_us = v;
      ASSERT_TRUE(meta_->CreateRun(run).ok());
      const std::string uri = "models/vitals_risk/" + std::to_string(v);
      ASSERT_TRUE(meta_
                      ->CreateModelVersion("vitals_risk", run.run_id, uri,
                                           Manifest(v, v == 1 ? 0.8 : 0.9, v == 1 ? "d1" : "d2"))
                      .ok());
    }
    ASSERT_TRUE(meta_->SetAlias("vitals_risk", "production", 1).ok());
    ASSERT_TRUE(meta_->SetAlias("vitals_risk", "staging", 2).ok());
    ASSERT_TRUE(lake_->PutBytes("models/vitals_risk/1/card.md", "# vitals_risk v1\n").ok());
    ASSERT_TRUE(lake_->PutBytes("models/vitals_risk/1/roc.png", kPng).ok());
  }
  void TearDown() override {
    if (server_) {
      server_->Stop();
      server_->Wait();
    }
    server_.reset();
    api_.reset();
    meta_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Start(net::ApiKeys keys) {
    keys_ = std::move(keys);
    net::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.service = "registry-test";
    o.handle_signals = false;
    server_ = std::make_unique<net::HttpServer>(o);
    api_ = std::make_unique<RegistryApi>(*meta_, lake_.get(), keys_);
    api_->Register(*server_);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<net::HttpClient>("127.0.0.1", server_->port());
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::MetaStore> meta_;
  std::unique_ptr<store::Lake> lake_;
  net::ApiKeys keys_;
  std::unique_ptr<RegistryApi> api_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
};

TEST_F(RegistryApiTest, ReadEndpoints) {
  Start(net::ApiKeys());
  auto list = client_->Get("/api/v1/models");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->status, 200);
  Json models = Body(*list)["models"];
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["aliases"]["production"], 1);
  EXPECT_EQ(models[0]["versions"][1]["promotion"]["reason"], "below production");

  auto model = client_->Get("/api/v1/models/vitals_risk");
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->status, 200);
  EXPECT_EQ(Body(*model)["versions"].size(), 2u);

  auto by_alias = client_->Get("/api/v1/models/vitals_risk/versions/staging");
  ASSERT_TRUE(by_alias.ok());
  EXPECT_EQ(by_alias->status, 200);
  EXPECT_EQ(Body(*by_alias)["version"], 2);
  auto by_number = client_->Get("/api/v1/models/vitals_risk/versions/1");
  ASSERT_TRUE(by_number.ok());
  EXPECT_EQ(Body(*by_number)["dataset_id"], "d1");

  auto cmp = client_->Get("/api/v1/models/vitals_risk/compare?a=1&b=staging");
  ASSERT_TRUE(cmp.ok());
  EXPECT_EQ(cmp->status, 200);
  Json c = Body(*cmp);
  EXPECT_EQ(c["metrics"][0]["metric"], "roc_auc");
  EXPECT_NEAR(c["metrics"][0]["diff"].get<double>(), 0.1, 1e-9);
  EXPECT_EQ(c["same_dataset"], false);
  EXPECT_EQ(c["roc_auc_ci_overlap"], true);
  EXPECT_NE(c["notes"].dump().find("not strictly comparable"), std::string::npos);

  auto card = client_->Get("/api/v1/models/vitals_risk/versions/production/card");
  ASSERT_TRUE(card.ok());
  EXPECT_EQ(card->status, 200);
  EXPECT_EQ(card->headers.at("content-type"), "text/markdown; charset=utf-8");
  EXPECT_EQ(card->body, "# vitals_risk v1\n");
  auto png = client_->Get("/api/v1/models/vitals_risk/versions/1/roc.png");
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->status, 200);
  EXPECT_EQ(png->headers.at("content-type"), "image/png");
  EXPECT_EQ(png->body, kPng);
  auto no_png = client_->Get("/api/v1/models/vitals_risk/versions/1/calibration.png");
  ASSERT_TRUE(no_png.ok());
  EXPECT_EQ(no_png->status, 404);
  EXPECT_EQ(Body(*no_png)["error"]["code"], "NOT_FOUND");

  auto runs = client_->Get("/api/v1/runs?experiment=vitals_risk");
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(Body(*runs)["runs"].size(), 2u);
  auto run = client_->Get("/api/v1/runs/run-2");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, 200);
  EXPECT_EQ(Body(*run)["status"], "FINISHED");
  auto ready = client_->Get("/ready");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(Body(*ready)["ready"], true);
}

TEST_F(RegistryApiTest, ErrorsNameTheField) {
  Start(net::ApiKeys());
  auto expect = [&](const std::string& target, int status, const std::string& field) {
    auto r = client_->Get(target);
    ASSERT_TRUE(r.ok()) << target;
    EXPECT_EQ(r->status, status) << target << " " << r->body;
    Json err = Body(*r)["error"];
    if (field.empty()) {
      EXPECT_TRUE(err["field"].is_null()) << target << " " << r->body;
    } else {
      EXPECT_EQ(err["field"], field) << target << " " << r->body;
    }
  };
  expect("/api/v1/models/nope", 404, "name");
  expect("/api/v1/models/vitals_risk/versions/9", 404, "version");
  expect("/api/v1/models/vitals_risk/versions/canary", 404, "version");
  expect("/api/v1/models/vitals_risk/versions/Bad%20Alias", 400, "version");
  expect("/api/v1/models/vitals_risk/compare?a=1", 400, "b");
  expect("/api/v1/models/vitals_risk/compare?b=1", 400, "a");
  expect("/api/v1/models/vitals_risk/compare?a=1&b=7", 404, "version");
  expect("/api/v1/models/vitals_risk/versions/2/card", 404, "");
  expect("/api/v1/models/vitals_risk/other", 404, "");
  expect("/api/v1/runs/nope", 404, "run_id");
}

TEST_F(RegistryApiTest, PromoteMovesAliasAndAuditsWithKeyId) {
  const std::string keys_file = (dir_ / "api-keys").string();
  auto admin = net::ApiKeys::AddKey(keys_file, "ops-admin", "admin");
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  auto reader = net::ApiKeys::AddKey(keys_file, "dashboard", "read");
  ASSERT_TRUE(reader.ok());
  auto keys = net::ApiKeys::Load(keys_file, /*required=*/true);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  Start(std::move(*keys));

  const std::string target = "/api/v1/models/vitals_risk/aliases/production";
  const std::string body = R"({"version": 2, "reason": "better on review"})";
  auto anonymous = client_->Post(target, body);
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(anonymous->status, 401);
  auto anonymous_read = client_->Get("/api/v1/models");
  ASSERT_TRUE(anonymous_read.ok());
  EXPECT_EQ(anonymous_read->status, 401);

  client_->SetDefaultHeader("X-API-Key", *reader);
  auto list = client_->Get("/api/v1/models");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->status, 200);
  auto forbidden = client_->Post(target, body);
  ASSERT_TRUE(forbidden.ok());
  EXPECT_EQ(forbidden->status, 403);
  EXPECT_EQ(meta_->GetAlias("vitals_risk", "production")->version, 1);

  client_->SetDefaultHeader("X-API-Key", *admin);
  auto ok = client_->Post(target, body);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(Body(*ok)["previous_version"], 1);
  EXPECT_EQ(meta_->GetAlias("vitals_risk", "production")->version, 2);
  auto audit = meta_->ListAudit(1, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->back().action, "model.promote");
  EXPECT_EQ(audit->back().actor, "ops-admin");
  EXPECT_EQ(audit->back().object, "vitals_risk/2");
  auto detail = ParseJson(audit->back().detail);
  ASSERT_TRUE(detail.ok());
  EXPECT_EQ((*detail)["reason"], "better on review");
  EXPECT_EQ((*detail)["previous_version"], 1);
  auto prod = client_->Get("/api/v1/models/vitals_risk/versions/production");
  ASSERT_TRUE(prod.ok());
  EXPECT_EQ(Body(*prod)["version"], 2);

  auto expect = [&](const std::string& t, const std::string& b, int status,
                    const std::string& field) {
    auto r = client_->Post(t, b);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, status) << t << " " << b << " " << r->body;
    EXPECT_EQ(Body(*r)["error"]["field"], field) << r->body;
  };
  expect(target, R"({"version": 9})", 404, "version");
  expect("/api/v1/models/vitals_risk/aliases/Prod!", R"({"version": 1})", 400, "alias");
  expect(target, R"({"reason": "no version"})", 400, "version");
  expect(target, R"({"version": "x"})", 400, "version");
  expect(target, R"({"version": 1, "reason": 5})", 400, "reason");
  expect(target, "[1]", 400, "body");
  expect(target, "{not json", 400, "body");
  // Refusals change nothing and audit nothing.
  EXPECT_EQ(meta_->GetAlias("vitals_risk", "production")->version, 2);
  EXPECT_EQ(meta_->ListAudit(1, 100)->size(), 1u);
}

}  // namespace
}  // namespace ctml::serve
