#include "ctml/ml/mlflow.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ctml/core/json.h"
#include "ctml/store/meta_store.h"

namespace ctml::ml {
namespace {

TEST(MlflowUri, ParsesHostPortAndPrefix) {
  auto ep = ParseMlflowUri("http://127.0.0.1:5500");
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 5500);
  EXPECT_EQ(ep->base_path, "");

  ep = ParseMlflowUri("http://mlflow.internal/tracking/");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "mlflow.internal");
  EXPECT_EQ(ep->port, 80);
  EXPECT_EQ(ep->base_path, "/tracking");

  ep = ParseMlflowUri("http://[::1]:5000");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 5000);
}

TEST(MlflowUri, RejectsHttpsAndMalformed) {
  auto https = ParseMlflowUri("https://127.0.0.1:5500");
  ASSERT_FALSE(https.ok());
  EXPECT_EQ(https.status().code(), StatusCode::kInvalid);
  EXPECT_NE(https.status().message().find("https is not supported"), std::string::npos);
  EXPECT_FALSE(ParseMlflowUri("127.0.0.1:5500").ok());
  EXPECT_FALSE(ParseMlflowUri("http://:5500").ok());
  EXPECT_FALSE(ParseMlflowUri("http://host:0").ok());
  EXPECT_FALSE(ParseMlflowUri("http://host:99999").ok());
  EXPECT_FALSE(ParseMlflowUri("http://host:12ab").ok());
  EXPECT_FALSE(ParseMlflowUri("http://user:pw@host:5000").ok());
}

TEST(MlflowKey, ReplacesCharactersMlflowRejectsAndCaps) {
  EXPECT_EQ(MlflowKey("roc_auc"), "roc_auc");
  EXPECT_EQ(MlflowKey("a.b-c/d e:f"), "a.b-c/d e:f");
  EXPECT_EQ(MlflowKey("x=1,y[2]"), "x_1_y_2_");
  EXPECT_EQ(MlflowKey(""), "_");
  EXPECT_EQ(MlflowKey(std::string(300, 'k')).size(), kMlflowMaxKeyLength);
}

TEST(MlflowLogBatch, SplitsAtMlflowLimitsAndSkipsNonFinite) {
  store::RunRecord run;
  for (int i = 0; i < 250; ++i) run.params["p" + std::to_string(i)] = "v";
  run.params["long"] = std::string(7000, 'x');
  for (int i = 0; i < 1500; ++i) run.metrics["m" + std::to_string(i)] = i * 0.5;
  run.metrics["nan"] = std::nan("");
  run.metrics["inf"] = INFINITY;
  auto bodies = MlflowLogBatchBodies("run123", run, 1700000000000);
  size_t params = 0, metrics = 0;
  bool saw_long = false;
  for (const auto& b : bodies) {
    auto doc = ParseJson(b);
    ASSERT_TRUE(doc.ok());
    EXPECT_EQ((*doc)["run_id"], "run123");
    size_t np = (*doc)["params"].size(), nm = (*doc)["metrics"].size();
    EXPECT_LE(np, kMlflowMaxParamsPerBatch);
    EXPECT_LE(nm, kMlflowMaxMetricsPerBatch);
    EXPECT_LE(np + nm, kMlflowMaxEntitiesPerBatch);
    EXPECT_GT(np + nm, 0u);
    params += np;
    metrics += nm;
    for (const auto& p : (*doc)["params"]) {
      EXPECT_LE(p["value"].get<std::string>().size(), kMlflowMaxParamValueLength);
      if (p["key"] == "long") saw_long = true;
    }
    for (const auto& m : (*doc)["metrics"]) {
      EXPECT_TRUE(m["value"].is_number());
      EXPECT_EQ(m["timestamp"], 1700000000000);
      EXPECT_EQ(m["step"], 0);
    }
  }
  EXPECT_EQ(params, 251u);
  EXPECT_EQ(metrics, 1500u);  // nan and inf left out
  EXPECT_TRUE(saw_long);
  EXPECT_GE(bodies.size(), 3u);
}

TEST(MlflowTracker, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  auto t = MlflowTracker::Create("http://127.0.0.1:1", std::chrono::milliseconds(2000));
  ASSERT_TRUE(t.ok());
  store::RunRecord run;
  run.run_id = "r1";
  run.experiment = "m";
  auto id = (*t)->LogRun(run);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kUnavailable) << id.status().ToString();
}

}  // namespace
}  // namespace ctml::ml
