// The prediction service over the embedded adapters (SQLite MetaStore and online store, file://
// lake, memory:// cache) with tiny XGBoost models trained in the test and registered like the
// trainer does (model.ubj + a manifest with feature_names and threshold). Handlers are called
// directly; authentication and hot reload go through a real HttpServer on port 0.
#include "ctml/serve/prediction_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "ctml/core/ids.h"
#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ml/booster.h"
#include "ctml/store/factory.h"

namespace ctml::serve {
namespace {

const std::vector<std::string> kFeaturesA = {"vs_pulse_mean", "vs_sysbp_mean", "lb_alt_max",
                                             "lb_creat_max",  "ae_count_30d",  "age_years",
                                             "dose_mg"};
const std::vector<std::string> kFeaturesB = {"ex_missed_doses", "lb_hgb_min", "weight_kg"};
const std::string kModelA = "risk_a";
const std::string kModelB = "risk_b";
// Synthetic test ids; they must never reach the audit trail.
const std::vector<std::string> kPatients = {"PT0SRVTEST01", "PT0SRVTEST02", "PT0SRVTEST03"};
const std::string kUnknownPatient = "PT0SRVTEST99";
const int64_t kAsOfUs = 1767225600000000;  // 2026-01-01T00:00:00Z

// Trains a small gbtree on `cols` standard-normal features whose label is `score(x) > 0`.
std::unique_ptr<ml::Booster> TrainTiny(size_t cols, uint32_t seed,
                                       const std::function<float(const float*)>& score) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0, 1);
  auto make = [&](size_t rows, std::vector<float>& x, std::vector<float>& y) {
    for (size_t i = 0; i < rows; ++i) {
      std::vector<float> row(cols);
      for (float& v : row) v = n01(rng);
      y.push_back(score(row.data()) + 0.3f * n01(rng) > 0 ? 1.0f : 0.0f);
      x.insert(x.end(), row.begin(), row.end());
    }
  };
  std::vector<float> tx, ty, vx, vy;
  make(300, tx, ty);
  make(100, vx, vy);
  ml::TrainParams p;
  p.max_rounds = 25;
  p.early_stopping_rounds = 10;
  p.max_depth = 3;
  p.eta = 0.3;
  p.nthread = 1;
  auto b = ml::Booster::Train({tx.data(), ty.size(), cols, ty.data()},
                              {vx.data(), vy.size(), cols, vy.data()}, p);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(*b) : nullptr;
}

Json Body(const std::string& body) {
  auto doc = ParseJson(body);
  EXPECT_TRUE(doc.ok()) << body;
  return doc.ok() ? *doc : Json();
}

float Logit(double p) { return static_cast<float>(std::log(p / (1 - p))); }

class PredictionServiceTest : public ::testing::Test {
 protected:
  // The boosters are trained once for the whole suite.
  static void SetUpTestSuite() {
    a1_ = TrainTiny(kFeaturesA.size(), 11, [](const float* x) {
            return x[0] + 0.8f * x[1] - 0.5f * x[2];
          }).release();
    a2_ = TrainTiny(kFeaturesA.size(), 12, [](const float* x) { return x[3] - x[0]; }).release();
    b1_ = TrainTiny(kFeaturesB.size(), 13, [](const float* x) { return x[0] - x[2]; }).release();
  }
  static void TearDownTestSuite() {
    delete a1_;
    delete a2_;
    delete b1_;
  }

  void SetUp() override {
    ASSERT_NE(a1_, nullptr);
    ASSERT_NE(a2_, nullptr);
    ASSERT_NE(b1_, nullptr);
    dir_ = std::filesystem::temp_directory_path() / ("ctml_prediction_" + NewUuidV7());
    std::filesystem::create_directories(dir_);
    auto meta = store::OpenMetaStore("sqlite://" + (dir_ / "meta.db").string());
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    meta_ = std::move(*meta);
    auto lake = store::OpenLake("file://" + (dir_ / "lake").string());
    ASSERT_TRUE(lake.ok()) << lake.status().ToString();
    lake_ = std::move(*lake);
    auto online = store::OpenOnlineStore("sqlite://" + (dir_ / "online.db").string());
    ASSERT_TRUE(online.ok()) << online.status().ToString();
    online_ = std::move(*online);
    auto cache = store::OpenCache("memory://");
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    cache_ = std::move(*cache);

    Register(kModelA, *a1_, kFeaturesA, 0.5);  // risk_a v1
    Register(kModelA, *a2_, kFeaturesA, 0.4);  // risk_a v2
    Register(kModelB, *b1_, kFeaturesB, 0.3);  // risk_b v1
    ASSERT_TRUE(meta_->SetAlias(kModelA, "production", 1).ok());
    ASSERT_TRUE(meta_->SetAlias(kModelB, "production", 1).ok());

    // One online vector per patient holds the features of both models (one view).
    std::mt19937 rng(7);
    std::normal_distribution<double> n01(0, 1);
    std::vector<store::FeatureVector> vectors;
    for (size_t i = 0; i < kPatients.size(); ++i) {
      store::FeatureVector v;
      v.entity_key = pseudo_.SubjectKey(kPatients[i]);
      v.view = "clinical";
      v.as_of_us = kAsOfUs;
      v.spec_hash = "spec-test";
      for (const auto* names : {&kFeaturesA, &kFeaturesB}) {
        for (const auto& n : *names) v.values.emplace_back(n, n01(rng));
      }
      v.values.emplace_back("not_in_any_model", 1.0);
      if (i == 1) v.values[2].second = std::numeric_limits<double>::quiet_NaN();  // lb_alt_max
      vectors.push_back(v);
      online_values_[kPatients[i]] = {v.values.begin(), v.values.end()};
    }
    ASSERT_TRUE(online_->Put(vectors).ok());

    holder_a_ = std::make_unique<ModelHolder>(*meta_, *lake_, kModelA, "production");
    holder_b_ = std::make_unique<ModelHolder>(*meta_, *lake_, kModelB, "production");
  }

  void TearDown() override {
    if (server_) {
      server_->Stop();
      server_->Wait();
    }
    server_.reset();
    service_.reset();
    holder_a_.reset();
    holder_b_.reset();
    cache_.reset();
    online_.reset();
    lake_.reset();
    meta_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Register(const std::string& name, const ml::Booster& booster,
                const std::vector<std::string>& features, double threshold) {
    store::RunRecord run;
    run.run_id = "run-" + NewUuidV7();
    run.experiment = name;
    run.status = "FINISHED";
    run.start_us = NowMicros();
    ASSERT_TRUE(meta_->CreateRun(run).ok());
    const std::string uri = "models/" + name + "/" + run.run_id;
    auto bytes = booster.Save();
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    ASSERT_TRUE(lake_->PutBytes(uri + "/model.ubj", *bytes).ok());
    Json manifest = {{"name", name},
                     {"feature_names", features},
                     {"threshold", threshold},
                     {"spec_hash", "spec-test"}};
    auto mv = meta_->CreateModelVersion(name, run.run_id, uri, manifest.dump());
    ASSERT_TRUE(mv.ok()) << mv.status().ToString();
  }

  void MakeService(net::ApiKeys keys = {}, size_t max_records = 4) {
    PredictionOptions o;
    o.default_model = kModelA;
    o.max_records = max_records;
    service_ = std::make_unique<PredictionService>(
        o, std::vector<ModelHolder*>{holder_a_.get(), holder_b_.get()}, *online_, *cache_, *meta_,
        pseudo_, std::move(keys));
  }
  void LoadBoth() {
    ASSERT_TRUE(holder_a_->Reload().ok());
    ASSERT_TRUE(holder_b_->Reload().ok());
  }

  void StartServer() {
    net::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.service = "serve-test";
    o.handle_signals = false;
    server_ = std::make_unique<net::HttpServer>(o);
    service_->Register(*server_);
    ASSERT_TRUE(server_->Start().ok());
  }

  struct Reply {
    int status = 0;
    Json body;
  };
  Reply Predict(const Json& body, const std::string& actor = "anonymous") {
    net::HttpRequest req;
    req.method = "POST";
    req.target = req.path = "/v1/predict";
    req.body = body.dump();
    req.actor = actor;
    net::HttpResponse r = service_->HandlePredict(req);
    return {r.status, Body(r.body)};
  }
  Reply Ready() {
    net::HttpRequest req;
    req.method = "GET";
    req.target = req.path = "/ready";
    net::HttpResponse r = service_->HandleReady(req);
    return {r.status, Body(r.body)};
  }

  // The online-store values of `patient` for `features`, as a request's "features" object.
  Json FeaturesOf(const std::string& patient, const std::vector<std::string>& features) {
    Json f = Json::object();
    for (const auto& n : features) {
      double v = online_values_.at(patient).at(n);
      f[n] = std::isnan(v) ? Json(nullptr) : Json(v);
    }
    return f;
  }
  // A feature object for model A from explicit values.
  static Json FeaturesA(std::vector<double> v) {
    Json f = Json::object();
    for (size_t j = 0; j < kFeaturesA.size(); ++j) f[kFeaturesA[j]] = v[j];
    return f;
  }
  // What `booster` predicts for a request's feature object (null = NaN).
  static float Direct(const ml::Booster& booster, const Json& features,
                      const std::vector<std::string>& names) {
    std::vector<float> x;
    for (const auto& n : names) {
      x.push_back(features[n].is_null() ? std::numeric_limits<float>::quiet_NaN()
                                        : features[n].get<float>());
    }
    auto p = booster.Predict(x.data(), 1, x.size());
    EXPECT_TRUE(p.ok());
    return p.ok() ? (*p)[0] : -1.0f;
  }
  static float Prob(const Json& result) {
    return static_cast<float>(result["probability"].get<double>());
  }
  size_t AuditCount() {
    auto a = meta_->ListAudit(1, 100000);
    EXPECT_TRUE(a.ok());
    return a.ok() ? a->size() : 0;
  }

  static ml::Booster* a1_;
  static ml::Booster* a2_;
  static ml::Booster* b1_;

  std::filesystem::path dir_;
  std::unique_ptr<store::MetaStore> meta_;
  std::unique_ptr<store::Lake> lake_;
  std::unique_ptr<store::OnlineStore> online_;
  std::unique_ptr<store::Cache> cache_;
  privacy::Pseudonymizer pseudo_{"0123456789abcdef0123456789abcdef-test-key"};
  std::map<std::string, std::map<std::string, double>> online_values_;
  std::unique_ptr<ModelHolder> holder_a_;
  std::unique_ptr<ModelHolder> holder_b_;
  std::unique_ptr<PredictionService> service_;
  std::unique_ptr<net::HttpServer> server_;
};

ml::Booster* PredictionServiceTest::a1_ = nullptr;
ml::Booster* PredictionServiceTest::a2_ = nullptr;
ml::Booster* PredictionServiceTest::b1_ = nullptr;

// 1. ------------------------------------------------------------------------------------------

TEST_F(PredictionServiceTest, PatientIdAndExplicitFeaturesAgree) {
  MakeService();
  LoadBoth();
  for (const auto& pid : kPatients) {
    Json features = FeaturesOf(pid, kFeaturesA);
    auto lookup = Predict({{"records", {{{"patient_id", pid}}}}, {"use_cache", false}});
    ASSERT_EQ(lookup.status, 200) << lookup.body.dump();
    auto given = Predict(
        {{"records", {{{"patient_id", pid}, {"features", features}}}}, {"use_cache", false}});
    ASSERT_EQ(given.status, 200) << given.body.dump();
    const Json& l = lookup.body["results"][0];
    const Json& g = given.body["results"][0];
    EXPECT_EQ(l["probability"], g["probability"]) << pid;
    EXPECT_EQ(Prob(l), Direct(*a1_, features, kFeaturesA)) << pid;
    EXPECT_EQ(l["predicted_class"], g["predicted_class"]);
    EXPECT_EQ(l["patient_id"], pid);
    EXPECT_EQ(l["threshold"], 0.5);
    EXPECT_EQ(l["predicted_class"], Prob(l) >= 0.5f ? 1 : 0);
    EXPECT_EQ(l["features_as_of"], FormatIso8601(kAsOfUs));
    EXPECT_FALSE(g.contains("features_as_of")) << g.dump();
    EXPECT_FALSE(l.contains("explanation"));
    EXPECT_EQ(lookup.body["model"]["name"], kModelA);
    EXPECT_EQ(lookup.body["model"]["version"], 1);
    EXPECT_EQ(lookup.body["model"]["alias"], "production");
  }
  // The second patient has a NaN in the store: sent as null it must give the same answer.
  EXPECT_TRUE(FeaturesOf(kPatients[1], kFeaturesA)["lb_alt_max"].is_null());
  // Features without a patient_id are fine too.
  auto anon = Predict({{"records", {{{"features", FeaturesOf(kPatients[0], kFeaturesA)}}}}});
  ASSERT_EQ(anon.status, 200) << anon.body.dump();
  EXPECT_EQ(anon.body["results"][0]["patient_id"], "");
}

// 2. ------------------------------------------------------------------------------------------

TEST_F(PredictionServiceTest, ValidationErrorsNameTheProblem) {
  MakeService();
  LoadBoth();
  const size_t audit_before = AuditCount();
  auto expect = [&](const Json& body, int status, const std::string& field,
                    const std::vector<std::string>& in_message) {
    auto r = Predict(body);
    EXPECT_EQ(r.status, status) << body.dump() << " -> " << r.body.dump();
    const Json& err = r.body["error"];
    if (field.empty()) {
      EXPECT_TRUE(err["field"].is_null()) << r.body.dump();
    } else {
      EXPECT_EQ(err["field"], field) << r.body.dump();
    }
    const std::string msg = err.value("message", "");
    for (const auto& s : in_message) {
      EXPECT_NE(msg.find(s), std::string::npos) << "'" << s << "' not in: " << msg;
    }
  };
  const Json good = FeaturesOf(kPatients[0], kFeaturesA);

  Json unknown = good;
  unknown["bogus_feature"] = 1.0;
  unknown["other_bogus"] = 2.0;
  expect({{"records", {{{"features", good}}, {{"features", unknown}}}}}, 400, "records[1].features",
         {"unknown features", "bogus_feature", "other_bogus"});

  Json missing = good;
  missing.erase("lb_creat_max");
  missing.erase("dose_mg");
  expect({{"records", {{{"features", missing}}}}}, 400, "records[0].features",
         {"missing features", "lb_creat_max", "dose_mg"});
  // Another model's features are unknown to this one, and its own are missing.
  expect({{"records", {{{"features", FeaturesOf(kPatients[0], kFeaturesB)}}}}}, 400,
         "records[0].features", {"ex_missed_doses"});

  Json text = good;
  text["age_years"] = "sixty";
  expect({{"records", {{{"features", text}}}}}, 400, "records[0].features.age_years", {"number"});
  Json boolean = good;
  boolean["dose_mg"] = true;
  expect({{"records", {{{"features", boolean}}}}}, 400, "records[0].features.dose_mg", {"number"});
  expect({{"records", {{{"features", Json::array({1, 2})}}}}}, 400, "records[0].features", {});

  expect({{"model", "no_such_model"}, {"records", {{{"patient_id", kPatients[0]}}}}}, 400, "model",
         {"no_such_model", kModelA, kModelB});
  expect({{"model", 3}, {"records", {{{"patient_id", kPatients[0]}}}}}, 400, "model", {});

  expect({{"records", {{{"patient_id", kUnknownPatient}}}}}, 404, "records[0].patient_id", {});
  expect({{"records", Json::array()}}, 400, "records", {});
  expect({{"other", 1}}, 400, "records", {});
  Json five = Json::array();
  for (int i = 0; i < 5; ++i) five.push_back({{"patient_id", kPatients[0]}});
  expect({{"records", five}}, 400, "records", {"at most 4"});
  expect({{"records", {Json::object()}}}, 400, "records[0].patient_id", {});
  expect({{"records", {{{"patient_id", 42}}}}}, 400, "records[0].patient_id", {});
  expect({{"records", {"PT0SRVTEST01"}}}, 400, "records[0]", {});
  expect(Json::array(), 400, "", {});
  // Flags of the wrong type are client errors, not server errors.
  expect({{"records", {{{"patient_id", kPatients[0]}}}}, {"use_cache", "yes"}}, 400, "use_cache",
         {});
  expect({{"records", {{{"patient_id", kPatients[0]}}}}, {"explain", 1}}, 400, "explain", {});

  net::HttpRequest bad;
  bad.method = "POST";
  bad.path = "/v1/predict";
  bad.body = "{not json";
  EXPECT_EQ(service_->HandlePredict(bad).status, 400);

  // Exactly max_records is fine.
  Json four = Json::array();
  for (int i = 0; i < 4; ++i) four.push_back({{"patient_id", kPatients[i % 3]}});
  auto ok = Predict({{"records", four}});
  EXPECT_EQ(ok.status, 200) << ok.body.dump();
  EXPECT_EQ(ok.body["results"].size(), 4u);
  // One unknown patient in a batch does not fail the others: its result carries the error.
  auto mixed =
      Predict({{"records", {{{"patient_id", kPatients[0]}}, {{"patient_id", kUnknownPatient}}}}});
  ASSERT_EQ(mixed.status, 200) << mixed.body.dump();
  ASSERT_EQ(mixed.body["results"].size(), 2u);
  EXPECT_TRUE(mixed.body["results"][0].contains("probability"));
  EXPECT_FALSE(mixed.body["results"][0].contains("error"));
  EXPECT_EQ(mixed.body["results"][1]["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(mixed.body["results"][1]["error"]["field"], "records[1].patient_id");
  EXPECT_FALSE(mixed.body["results"][1].contains("probability"));
  // Refused requests audit nothing; the answered ones audit once each.
  EXPECT_EQ(AuditCount(), audit_before + 2);
}

// 3. ------------------------------------------------------------------------------------------

TEST_F(PredictionServiceTest, TwoModelsAndReadiness) {
  MakeService();
  // Nothing loaded: not ready, both listed.
  auto r0 = Ready();
  EXPECT_EQ(r0.status, 503);
  EXPECT_EQ(r0.body["ready"], false);
  EXPECT_EQ(r0.body["model_loaded"], false);
  EXPECT_EQ(r0.body["default_model"], kModelA);
  ASSERT_EQ(r0.body["models"].size(), 2u);

  // Only the non-default model loaded: still not ready, but it answers when named.
  ASSERT_TRUE(holder_b_->Reload().ok());
  auto r1 = Ready();
  EXPECT_EQ(r1.status, 503) << r1.body.dump();
  EXPECT_EQ(r1.body["ready"], false);
  EXPECT_EQ(r1.body["models"][0]["name"], kModelA);
  EXPECT_EQ(r1.body["models"][0]["loaded"], false);
  EXPECT_EQ(r1.body["models"][1]["name"], kModelB);
  EXPECT_EQ(r1.body["models"][1]["loaded"], true);
  auto not_loaded = Predict({{"records", {{{"patient_id", kPatients[0]}}}}});
  EXPECT_EQ(not_loaded.status, 503) << not_loaded.body.dump();
  auto only_b = Predict({{"model", kModelB}, {"records", {{{"patient_id", kPatients[0]}}}}});
  EXPECT_EQ(only_b.status, 200) << only_b.body.dump();

  ASSERT_TRUE(holder_a_->Reload().ok());
  auto r2 = Ready();
  EXPECT_EQ(r2.status, 200) << r2.body.dump();
  EXPECT_EQ(r2.body["ready"], true);
  EXPECT_EQ(r2.body["model"]["name"], kModelA);
  EXPECT_EQ(r2.body["models"][0]["version"], 1);
  EXPECT_EQ(r2.body["models"][1]["version"], 1);
  EXPECT_EQ(r2.body["online_store"], "UP");
  EXPECT_EQ(r2.body["meta_store"], "UP");

  // "model" picks the model; each validates its own feature list.
  Json fb = FeaturesOf(kPatients[2], kFeaturesB);
  auto b = Predict({{"model", kModelB}, {"records", {{{"features", fb}}}}});
  ASSERT_EQ(b.status, 200) << b.body.dump();
  EXPECT_EQ(b.body["model"]["name"], kModelB);
  EXPECT_EQ(b.body["results"][0]["threshold"], 0.3);
  EXPECT_EQ(Prob(b.body["results"][0]), Direct(*b1_, fb, kFeaturesB));
  auto b_by_id = Predict({{"model", kModelB}, {"records", {{{"patient_id", kPatients[2]}}}}});
  ASSERT_EQ(b_by_id.status, 200);
  EXPECT_EQ(b_by_id.body["results"][0]["probability"], b.body["results"][0]["probability"]);
  // Model A's features are refused by model B.
  auto wrong = Predict(
      {{"model", kModelB}, {"records", {{{"features", FeaturesOf(kPatients[2], kFeaturesA)}}}}});
  EXPECT_EQ(wrong.status, 400);
  EXPECT_NE(wrong.body["error"]["message"].get<std::string>().find("vs_pulse_mean"),
            std::string::npos);

  // Without "model" (or with null) the default model answers.
  Json fa = FeaturesOf(kPatients[2], kFeaturesA);
  for (const Json& body : {Json{{"records", {{{"features", fa}}}}},
                           Json{{"model", nullptr}, {"records", {{{"features", fa}}}}}}) {
    auto a = Predict(body);
    ASSERT_EQ(a.status, 200) << a.body.dump();
    EXPECT_EQ(a.body["model"]["name"], kModelA);
    EXPECT_EQ(Prob(a.body["results"][0]), Direct(*a1_, fa, kFeaturesA));
  }
}

// 4. ------------------------------------------------------------------------------------------

TEST_F(PredictionServiceTest, CacheIsPerVersionAndReportsOnlyFullHits) {
  MakeService();
  LoadBoth();
  const Json r1 = FeaturesA({1.5, 0.5, 0.0, -1.0, 0.2, 0.1, -0.3});
  const Json r2 = FeaturesA({-1.2, 0.3, 0.7, 1.4, -0.5, 0.0, 0.9});
  const Json one = {{"records", {{{"features", r1}}}}};

  auto first = Predict(one);
  ASSERT_EQ(first.status, 200) << first.body.dump();
  EXPECT_EQ(first.body["cached"], false);
  auto second = Predict(one);
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(second.body["cached"], true);
  EXPECT_EQ(second.body["results"], first.body["results"]);
  const float v1_r1 = Prob(first.body["results"][0]);
  EXPECT_EQ(v1_r1, Direct(*a1_, r1, kFeaturesA));

  // A batch with one new record is not "cached"; the old record keeps its value.
  auto batch = Predict({{"records", {{{"features", r1}}, {{"features", r2}}}}});
  ASSERT_EQ(batch.status, 200);
  EXPECT_EQ(batch.body["cached"], false);
  EXPECT_EQ(Prob(batch.body["results"][0]), v1_r1);
  EXPECT_EQ(Prob(batch.body["results"][1]), Direct(*a1_, r2, kFeaturesA));
  auto batch_again = Predict({{"records", {{{"features", r1}}, {{"features", r2}}}}});
  EXPECT_EQ(batch_again.body["cached"], true);
  EXPECT_EQ(batch_again.body["results"], batch.body["results"]);

  // use_cache false never reports cached, even for values that are in the cache.
  for (int i = 0; i < 2; ++i) {
    auto nc = Predict({{"records", {{{"features", r1}}}}, {"use_cache", false}});
    ASSERT_EQ(nc.status, 200);
    EXPECT_EQ(nc.body["cached"], false);
    EXPECT_EQ(Prob(nc.body["results"][0]), v1_r1);
  }

  // The alias moves: the first request after the reload is computed by version 2.
  const float v2_r1 = Direct(*a2_, r1, kFeaturesA);
  ASSERT_GT(std::fabs(v2_r1 - v1_r1), 0.05f) << "the two versions must disagree on r1";
  ASSERT_TRUE(meta_->SetAlias(kModelA, "production", 2).ok());
  ASSERT_TRUE(holder_a_->Reload().ok());
  auto after = Predict(one);
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(after.body["cached"], false);
  EXPECT_EQ(after.body["model"]["version"], 2);
  EXPECT_EQ(Prob(after.body["results"][0]), v2_r1);
  EXPECT_EQ(after.body["results"][0]["threshold"], 0.4);
  auto after2 = Predict(one);
  EXPECT_EQ(after2.body["cached"], true);
  EXPECT_EQ(Prob(after2.body["results"][0]), v2_r1);
  // The other model's cache entries are its own.
  auto b = Predict(
      {{"model", kModelB}, {"records", {{{"features", FeaturesOf(kPatients[0], kFeaturesB)}}}}});
  EXPECT_EQ(b.body["cached"], false);

  // Back to version 1 (a rollback): its entries are valid again, version 2's are not served.
  ASSERT_TRUE(meta_->SetAlias(kModelA, "production", 1).ok());
  ASSERT_TRUE(holder_a_->Reload().ok());
  auto back = Predict(one);
  EXPECT_EQ(back.body["model"]["version"], 1);
  EXPECT_EQ(Prob(back.body["results"][0]), v1_r1);
}

// 5. ------------------------------------------------------------------------------------------

TEST_F(PredictionServiceTest, ExplainGivesTopContributionsThatAddUp) {
  MakeService();
  LoadBoth();
  // Model A has 7 features: the 5 largest |contributions| are shown, in order.
  for (const auto& pid : kPatients) {
    Json fa = FeaturesOf(pid, kFeaturesA);
    auto r = Predict({{"records", {{{"patient_id", pid}}}}, {"explain", true}});
    ASSERT_EQ(r.status, 200) << r.body.dump();
    const Json& res = r.body["results"][0];
    const Json& top = res["explanation"]["top_features"];
    ASSERT_EQ(top.size(), 5u) << res.dump();
    for (size_t k = 1; k < top.size(); ++k) {
      EXPECT_GE(std::fabs(top[k - 1]["contribution"].get<double>()),
                std::fabs(top[k]["contribution"].get<double>()))
          << res.dump();
    }
    std::vector<float> x;
    for (const auto& n : kFeaturesA) {
      x.push_back(fa[n].is_null() ? std::numeric_limits<float>::quiet_NaN() : fa[n].get<float>());
    }
    auto c = a1_->Contributions(x.data(), 1, x.size());
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->size(), kFeaturesA.size() + 1);
    double sum = (*c)[kFeaturesA.size()];
    std::vector<double> mags;
    for (size_t j = 0; j < kFeaturesA.size(); ++j) {
      sum += (*c)[j];
      mags.push_back(std::fabs((*c)[j]));
    }
    std::sort(mags.rbegin(), mags.rend());
    for (size_t k = 0; k < top.size(); ++k) {
      const std::string name = top[k]["feature"];
      const size_t j = static_cast<size_t>(std::find(kFeaturesA.begin(), kFeaturesA.end(), name) -
                                           kFeaturesA.begin());
      ASSERT_LT(j, kFeaturesA.size()) << name;
      EXPECT_NEAR(top[k]["contribution"].get<double>(), (*c)[j], 1e-6) << name;
      EXPECT_NEAR(std::fabs(top[k]["contribution"].get<double>()), mags[k], 1e-6);
      if (fa[name].is_null()) {
        EXPECT_TRUE(top[k]["value"].is_null());
      } else {
        EXPECT_NEAR(top[k]["value"].get<double>(), fa[name].get<double>(), 1e-5);
      }
    }
    EXPECT_NEAR(res["explanation"]["bias"].get<double>(), (*c)[kFeaturesA.size()], 1e-6);
    EXPECT_NEAR(sum, Logit(res["probability"].get<double>()), 1e-4) << pid;
  }
  // Model B has 3 features: all of them are shown and they add up with the bias.
  Json fb = FeaturesOf(kPatients[0], kFeaturesB);
  auto r = Predict({{"model", kModelB}, {"records", {{{"features", fb}}}}, {"explain", true}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const Json& e = r.body["results"][0]["explanation"];
  ASSERT_EQ(e["top_features"].size(), 3u);
  double sum = e["bias"].get<double>();
  for (const auto& t : e["top_features"]) sum += t["contribution"].get<double>();
  EXPECT_NEAR(sum, Logit(r.body["results"][0]["probability"].get<double>()), 1e-4);
  // A cached answer is explained too; without "explain" there is no explanation.
  auto again = Predict({{"model", kModelB}, {"records", {{{"features", fb}}}}, {"explain", true}});
  EXPECT_EQ(again.body["cached"], true);
  EXPECT_EQ(again.body["results"][0]["explanation"], e);
  auto plain = Predict({{"model", kModelB}, {"records", {{{"features", fb}}}}});
  EXPECT_FALSE(plain.body["results"][0].contains("explanation"));
}

// 6. ------------------------------------------------------------------------------------------

TEST_F(PredictionServiceTest, EachAnsweredRequestIsAuditedWithPseudonyms) {
  MakeService();
  LoadBoth();
  const size_t before = AuditCount();

  auto one = Predict({{"records", {{{"patient_id", kPatients[0]}}}}});
  ASSERT_EQ(one.status, 200);
  auto batch =
      Predict({{"records",
                {{{"patient_id", kPatients[1]}},
                 {{"patient_id", kPatients[2]}, {"features", FeaturesOf(kPatients[2], kFeaturesA)}},
                 {{"features", FeaturesOf(kPatients[0], kFeaturesA)}}}}},
              "clinic-app");
  ASSERT_EQ(batch.status, 200) << batch.body.dump();
  auto cached = Predict({{"records", {{{"patient_id", kPatients[0]}}}}}, "clinic-app");
  ASSERT_EQ(cached.status, 200);
  ASSERT_EQ(cached.body["cached"], true);
  auto b = Predict({{"model", kModelB}, {"records", {{{"patient_id", kPatients[0]}}}}});
  ASSERT_EQ(b.status, 200);
  // Refused requests append nothing.
  EXPECT_EQ(Predict({{"records", Json::array()}}).status, 400);
  EXPECT_EQ(Predict({{"records", {{{"patient_id", kUnknownPatient}}}}}).status, 404);
  EXPECT_EQ(Predict({{"model", "nope"}, {"records", {{{"patient_id", kPatients[0]}}}}}).status,
            400);

  auto audit = meta_->ListAudit(1, 100000);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), before + 4);
  EXPECT_TRUE(store::VerifyAuditChain(*audit).ok());
  std::vector<store::AuditRecord> got(audit->begin() + static_cast<long>(before), audit->end());
  const std::vector<std::pair<std::string, const Reply*>> expected = {
      {"anonymous", &one}, {"clinic-app", &batch}, {"clinic-app", &cached}, {"anonymous", &b}};
  for (size_t i = 0; i < got.size(); ++i) {
    const auto& rec = got[i];
    const Json& resp = expected[i].second->body;
    EXPECT_EQ(rec.action, "predict");
    EXPECT_EQ(rec.actor, expected[i].first);
    EXPECT_EQ(rec.object, resp["model"]["name"].get<std::string>() + "/" +
                              std::to_string(resp["model"]["version"].get<int64_t>()));
    Json d = Body(rec.detail);
    EXPECT_EQ(d["model"], resp["model"]["name"]);
    EXPECT_EQ(d["version"], resp["model"]["version"]);
    EXPECT_EQ(d["cached"], resp["cached"]);
    ASSERT_EQ(d["predictions"].size(), resp["results"].size()) << rec.detail;
    for (size_t k = 0; k < d["predictions"].size(); ++k) {
      const Json& p = d["predictions"][k];
      const Json& r = resp["results"][k];
      const std::string pid = r["patient_id"];
      if (pid.empty()) {
        EXPECT_TRUE(p["subject_key"].is_null()) << rec.detail;
      } else {
        EXPECT_EQ(p["subject_key"], pseudo_.SubjectKey(pid)) << rec.detail;
      }
      EXPECT_NEAR(p["score"].get<double>(), r["probability"].get<double>(), 1e-7);
    }
  }
  EXPECT_EQ(got[0].object, kModelA + "/1");
  EXPECT_EQ(got[3].object, kModelB + "/1");
  // No raw patient id anywhere in the trail.
  for (const auto& rec : *audit) {
    const std::string all = rec.actor + "|" + rec.action + "|" + rec.object + "|" + rec.detail;
    for (const auto& pid : kPatients) {
      EXPECT_EQ(all.find(pid), std::string::npos) << "raw id in audit record " << rec.seq;
    }
  }

  // With auditing off nothing is appended.
  PredictionOptions o;
  o.audit = false;
  PredictionService quiet(o, {holder_a_.get()}, *online_, *cache_, *meta_, pseudo_);
  net::HttpRequest req;
  req.method = "POST";
  req.path = "/v1/predict";
  req.body = Json{{"records", {{{"patient_id", kPatients[0]}}}}}.dump();
  EXPECT_EQ(quiet.HandlePredict(req).status, 200);
  EXPECT_EQ(AuditCount(), before + 4);
}

// 7. ------------------------------------------------------------------------------------------

TEST_F(PredictionServiceTest, ApiKeyRoles) {
  const std::string keys_file = (dir_ / "api-keys").string();
  auto reader = net::ApiKeys::AddKey(keys_file, "dashboard", "read");
  auto predictor = net::ApiKeys::AddKey(keys_file, "clinic-app", "predict");
  auto admin = net::ApiKeys::AddKey(keys_file, "ops-admin", "admin");
  ASSERT_TRUE(reader.ok() && predictor.ok() && admin.ok());
  auto keys = net::ApiKeys::Load(keys_file, /*required=*/true);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  MakeService(std::move(*keys));
  LoadBoth();
  StartServer();
  const size_t before = AuditCount();
  const std::string body = Json{{"records", {{{"patient_id", kPatients[0]}}}}}.dump();

  net::HttpClient client("127.0.0.1", server_->port());
  auto none = client.Post("/v1/predict", body);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->status, 401) << none->body;
  auto reload_none = client.Post("/model/reload", "");
  ASSERT_TRUE(reload_none.ok());
  EXPECT_EQ(reload_none->status, 401);
  auto ready = client.Get("/ready");  // probes need no key
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200);

  client.SetDefaultHeader("X-API-Key", "not-a-key");
  auto wrong = client.Post("/v1/predict", body);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 401);

  client.SetDefaultHeader("X-API-Key", *reader);
  auto read_only = client.Post("/v1/predict", body);
  ASSERT_TRUE(read_only.ok());
  EXPECT_EQ(read_only->status, 403) << read_only->body;

  client.SetDefaultHeader("X-API-Key", *predictor);
  auto ok = client.Post("/v1/predict", body);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto reload_forbidden = client.Post("/model/reload", "");
  ASSERT_TRUE(reload_forbidden.ok());
  EXPECT_EQ(reload_forbidden->status, 403) << reload_forbidden->body;

  client.SetDefaultHeader("X-API-Key", *admin);
  auto reload = client.Post("/model/reload", R"({"model": "risk_b"})");
  ASSERT_TRUE(reload.ok());
  EXPECT_EQ(reload->status, 200) << reload->body;
  EXPECT_EQ(Body(reload->body)["model"]["name"], kModelB);
  auto reload_unknown = client.Post("/model/reload", R"({"model": "nope"})");
  ASSERT_TRUE(reload_unknown.ok());
  EXPECT_EQ(reload_unknown->status, 404);
  auto admin_predict = client.Post("/v1/predict", body);  // admin implies predict
  ASSERT_TRUE(admin_predict.ok());
  EXPECT_EQ(admin_predict->status, 200);

  client.SetDefaultHeader("Authorization", "Bearer " + *predictor);
  client.SetDefaultHeader("X-API-Key", "");
  auto bearer = client.Post("/v1/predict", body);
  ASSERT_TRUE(bearer.ok());
  EXPECT_EQ(bearer->status, 200) << bearer->body;

  // Only the answered predictions are audited, under the key ids (never the keys).
  auto audit = meta_->ListAudit(1, 100000);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), before + 3);
  EXPECT_EQ((*audit)[before].actor, "clinic-app");
  EXPECT_EQ((*audit)[before + 1].actor, "ops-admin");
  EXPECT_EQ((*audit)[before + 2].actor, "clinic-app");
  for (const auto& rec : *audit) {
    for (const auto* key : {&*reader, &*predictor, &*admin}) {
      EXPECT_EQ((rec.actor + rec.detail).find(*key), std::string::npos);
    }
  }
}

// 8. ------------------------------------------------------------------------------------------

TEST_F(PredictionServiceTest, HotReloadUnderLoadFailsNoRequest) {
  MakeService({}, 100);
  LoadBoth();
  StartServer();
  // Expected probabilities per version and patient (by lookup), computed off the service.
  std::map<std::pair<int64_t, std::string>, float> expected;
  for (const auto& pid : kPatients) {
    Json f = FeaturesOf(pid, kFeaturesA);
    expected[{1, pid}] = Direct(*a1_, f, kFeaturesA);
    expected[{2, pid}] = Direct(*a2_, f, kFeaturesA);
  }
  holder_a_->StartWatching(std::chrono::milliseconds(20));

  constexpr int kThreads = 4;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, wrong_scores{0};
  std::vector<std::vector<int64_t>> versions(kThreads);
  std::vector<std::string> first_error(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      net::HttpClient client("127.0.0.1", server_->port());
      for (int i = 0; !stop.load(); ++i) {
        const std::string& pid = kPatients[static_cast<size_t>(i + t) % kPatients.size()];
        // Half the threads use the cache, half do not.
        Json body = {{"records", {{{"patient_id", pid}}}}, {"use_cache", t % 2 == 0}};
        auto r = client.Post("/v1/predict", body.dump());
        if (!r.ok() || r->status != 200) {
          failures.fetch_add(1);
          if (first_error[t].empty()) {
            first_error[t] = r.ok() ? std::to_string(r->status) + " " + r->body.substr(0, 200)
                                    : r.status().ToString();
          }
          continue;
        }
        auto doc = ParseJson(r->body);
        if (!doc.ok()) {
          failures.fetch_add(1);
          continue;
        }
        const int64_t v = (*doc)["model"]["version"].get<int64_t>();
        versions[t].push_back(v);
        const float p = static_cast<float>((*doc)["results"][0]["probability"].get<double>());
        if (p != expected[{v, pid}]) wrong_scores.fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_TRUE(meta_->SetAlias(kModelA, "production", 2).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (holder_a_->Current()->version != 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  stop = true;
  for (auto& th : threads) th.join();

  EXPECT_EQ(holder_a_->Current()->version, 2);
  EXPECT_EQ(failures.load(), 0) << first_error[0] << first_error[1] << first_error[2]
                                << first_error[3];
  EXPECT_EQ(wrong_scores.load(), 0);
  size_t v1 = 0, v2 = 0;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_FALSE(versions[t].empty()) << "thread " << t;
    // Each thread's requests are sequential: once it saw version 2 it never sees 1 again.
    for (size_t i = 1; i < versions[t].size(); ++i) {
      ASSERT_LE(versions[t][i - 1], versions[t][i]) << "thread " << t << " request " << i;
    }
    EXPECT_EQ(versions[t].back(), 2) << "thread " << t;
    for (int64_t v : versions[t]) (v == 1 ? v1 : v2)++;
  }
  EXPECT_GT(v1, 0u);
  EXPECT_GT(v2, 0u);
  // Every answered request was audited.
  EXPECT_EQ(AuditCount(), v1 + v2);
}

}  // namespace
}  // namespace ctml::serve
