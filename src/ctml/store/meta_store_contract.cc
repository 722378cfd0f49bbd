// The MetaStore contract (see meta_store_contract.h).
#include "ctml/store/meta_store_contract.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

namespace ctml::store::testing {
namespace {

RunRecord SampleRun(const std::string& id, const std::string& experiment, int64_t start) {
  RunRecord r;
  r.run_id = id;
  r.experiment = experiment;
  r.status = "RUNNING";
  r.start_us = start;
  r.params = {{"max_depth", "4"}, {"eta", "0.1"}};
  r.metrics = {{"auc", 0.81}};
  r.tags = {{"code_version", "abc123"}};
  return r;
}

TEST_P(MetaStoreContract, RunsCreateGetUpdateList) {
  CTML_TEST_ASSIGN(auto meta, Open());
  std::string exp = Unique("vitals_risk");
  CTML_TEST_OK(meta->CreateRun(SampleRun("run-1", exp, 100)));
  CTML_TEST_OK(meta->CreateRun(SampleRun("run-2", exp, 200)));
  CTML_TEST_OK(meta->CreateRun(SampleRun("run-3", Unique("other"), 300)));
  EXPECT_EQ(meta->CreateRun(SampleRun("run-1", exp, 100)).code(), StatusCode::kAlreadyExists);

  CTML_TEST_ASSIGN(auto got, meta->GetRun("run-1"));
  EXPECT_EQ(got.experiment, exp);
  EXPECT_EQ(got.status, "RUNNING");
  EXPECT_EQ(got.start_us, 100);
  EXPECT_EQ(got.params.at("max_depth"), "4");
  EXPECT_EQ(got.metrics.at("auc"), 0.81);
  EXPECT_EQ(got.tags.at("code_version"), "abc123");

  got.status = "FINISHED";
  got.end_us = 150;
  got.metrics["auc_ci_low"] = 0.75;
  got.metrics["undefined"] = std::numeric_limits<double>::quiet_NaN();
  got.params["n_rounds"] = "200";
  CTML_TEST_OK(meta->UpdateRun(got));
  CTML_TEST_ASSIGN(auto updated, meta->GetRun("run-1"));
  EXPECT_EQ(updated.status, "FINISHED");
  EXPECT_EQ(updated.end_us, 150);
  EXPECT_EQ(updated.experiment, exp);
  EXPECT_EQ(updated.metrics.at("auc_ci_low"), 0.75);
  EXPECT_TRUE(std::isnan(updated.metrics.at("undefined")));
  EXPECT_EQ(updated.params.at("n_rounds"), "200");

  CTML_TEST_ASSIGN(auto runs, meta->ListRuns(exp));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].run_id, "run-1");
  EXPECT_EQ(runs[1].run_id, "run-2");

  EXPECT_EQ(meta->GetRun("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(meta->UpdateRun(SampleRun("nope", exp, 1)).code(), StatusCode::kNotFound);
}

TEST_P(MetaStoreContract, RunsKeepInfinitiesAndRejectTextThatIsNotUtf8) {
  CTML_TEST_ASSIGN(auto meta, Open());
  const std::string exp = Unique("exp");
  RunRecord r = SampleRun("run-inf", exp, 1);
  r.metrics["up"] = std::numeric_limits<double>::infinity();
  r.metrics["down"] = -std::numeric_limits<double>::infinity();
  CTML_TEST_OK(meta->CreateRun(r));
  CTML_TEST_ASSIGN(auto got, meta->GetRun("run-inf"));
  EXPECT_EQ(got.metrics.at("up"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(got.metrics.at("down"), -std::numeric_limits<double>::infinity());

  // "caf\xe9" is Latin-1: an Invalid naming the field, never a crash, and nothing stored.
  RunRecord bad = SampleRun("run-latin1", exp, 2);
  bad.params["note"] = "caf\xe9";
  Status st = meta->CreateRun(bad);
  EXPECT_EQ(st.code(), StatusCode::kInvalid) << st.ToString();
  EXPECT_EQ(st.field(), "params");
  EXPECT_EQ(meta->GetRun("run-latin1").status().code(), StatusCode::kNotFound);
  got.tags["who"] = "\xff";
  st = meta->UpdateRun(got);
  EXPECT_EQ(st.code(), StatusCode::kInvalid) << st.ToString();
  EXPECT_EQ(st.field(), "tags");
}

TEST_P(MetaStoreContract, VersionsAreNumberedPerName) {
  CTML_TEST_ASSIGN(auto meta, Open());
  std::string a = Unique("model_a");
  std::string b = Unique("model_b");
  CTML_TEST_ASSIGN(auto a1, meta->CreateModelVersion(a, "run-1", "models/a/1", "{\"t\":0.5}"));
  CTML_TEST_ASSIGN(auto a2, meta->CreateModelVersion(a, "run-2", "models/a/2", "{}"));
  CTML_TEST_ASSIGN(auto b1, meta->CreateModelVersion(b, "run-3", "models/b/1", "{}"));
  EXPECT_EQ(a1.version, 1);
  EXPECT_EQ(a2.version, 2);
  EXPECT_EQ(b1.version, 1);
  EXPECT_EQ(a1.name, a);
  EXPECT_GT(a1.created_us, 0);

  CTML_TEST_ASSIGN(auto got, meta->GetModelVersion(a, 1));
  EXPECT_EQ(got.run_id, "run-1");
  EXPECT_EQ(got.artifact_uri, "models/a/1");
  EXPECT_EQ(got.manifest_json, "{\"t\":0.5}");
  EXPECT_EQ(meta->GetModelVersion(a, 3).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(meta->GetModelVersion(Unique("none"), 1).status().code(), StatusCode::kNotFound);

  CTML_TEST_ASSIGN(auto versions, meta->ListModelVersions(a));
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version, 1);
  EXPECT_EQ(versions[1].version, 2);
  CTML_TEST_ASSIGN(auto models, meta->ListModels());
  EXPECT_NE(std::find(models.begin(), models.end(), a), models.end());
  EXPECT_NE(std::find(models.begin(), models.end(), b), models.end());
}

TEST_P(MetaStoreContract, ConcurrentVersionCreationNeverDuplicates) {
  CTML_TEST_ASSIGN(auto m1, Open());
  CTML_TEST_ASSIGN(auto m2, Open());
  std::string name = Unique("model");
  auto work = [&](MetaStore* meta) {
    for (int i = 0; i < 10; ++i) {
      auto v = meta->CreateModelVersion(name, "r", "u", "{}");
      EXPECT_TRUE(v.ok()) << v.status().ToString();
    }
  };
  std::thread t1(work, m1.get());
  std::thread t2(work, m2.get());
  t1.join();
  t2.join();
  CTML_TEST_ASSIGN(auto versions, m1->ListModelVersions(name));
  ASSERT_EQ(versions.size(), 20u);
  for (size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i].version, int64_t(i + 1));
}

TEST_P(MetaStoreContract, AliasesPointAtExistingVersions) {
  CTML_TEST_ASSIGN(auto meta, Open());
  std::string name = Unique("vitals_risk");
  EXPECT_EQ(meta->SetAlias(name, "production", 1).code(), StatusCode::kNotFound);
  CTML_TEST_OK(meta->CreateModelVersion(name, "r1", "u1", "{}").status());
  CTML_TEST_OK(meta->CreateModelVersion(name, "r2", "u2", "{}").status());
  EXPECT_EQ(meta->GetAlias(name, "production").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(meta->SetAlias(name, "production", 7).code(), StatusCode::kNotFound);

  CTML_TEST_OK(meta->SetAlias(name, "production", 1));
  CTML_TEST_OK(meta->SetAlias(name, "staging", 2));
  CTML_TEST_ASSIGN(auto prod, meta->GetAlias(name, "production"));
  EXPECT_EQ(prod.version, 1);
  EXPECT_EQ(prod.run_id, "r1");
  CTML_TEST_OK(meta->SetAlias(name, "production", 2));  // promotion moves the alias
  CTML_TEST_ASSIGN(auto promoted, meta->GetAlias(name, "production"));
  EXPECT_EQ(promoted.version, 2);
  EXPECT_EQ(promoted.artifact_uri, "u2");
  CTML_TEST_ASSIGN(auto aliases, meta->ListAliases(name));
  EXPECT_EQ(aliases, (std::map<std::string, int64_t>{{"production", 2}, {"staging", 2}}));
  CTML_TEST_ASSIGN(auto none, meta->ListAliases(Unique("other")));
  EXPECT_TRUE(none.empty());
}

TEST_P(MetaStoreContract, AuditAppendsAChainThatVerifies) {
  CTML_TEST_ASSIGN(auto meta, Open());
  CTML_TEST_ASSIGN(auto first, meta->AppendAudit("alice", "model.promote", "m/1", "{\"a\":1}"));
  EXPECT_EQ(first.seq, 1);
  EXPECT_EQ(first.prev_hash, "");
  EXPECT_EQ(first.hash.size(), 64u);
  EXPECT_EQ(first.hash, AuditHash(first));
  EXPECT_GT(first.ts_us, 0);
  CTML_TEST_ASSIGN(auto second, meta->AppendAudit("bob", "model.rollback", "m/1", "{}"));
  EXPECT_EQ(second.seq, 2);
  EXPECT_EQ(second.prev_hash, first.hash);

  CTML_TEST_ASSIGN(auto all, meta->ListAudit(1, 100));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].actor, "alice");
  EXPECT_EQ(all[0].detail, "{\"a\":1}");
  EXPECT_EQ(all[1].hash, second.hash);
  CTML_TEST_OK(VerifyAuditChain(all));

  CTML_TEST_ASSIGN(auto from2, meta->ListAudit(2, 100));
  ASSERT_EQ(from2.size(), 1u);
  EXPECT_EQ(from2[0].seq, 2);
  CTML_TEST_ASSIGN(auto limited, meta->ListAudit(1, 1));
  ASSERT_EQ(limited.size(), 1u);
  EXPECT_EQ(limited[0].seq, 1);
}

TEST_P(MetaStoreContract, AuditVerifyDetectsEditDeleteAndReorder) {
  CTML_TEST_ASSIGN(auto meta, Open());
  for (int i = 1; i <= 5; ++i) {
    CTML_TEST_OK(meta->AppendAudit("trainer", "model.create", "m/" + std::to_string(i),
                                   "{\"version\":" + std::to_string(i) + "}")
                     .status());
  }
  CTML_TEST_ASSIGN(auto chain, meta->ListAudit(1, 1000));
  ASSERT_EQ(chain.size(), 5u);
  CTML_TEST_OK(VerifyAuditChain(chain));

  auto edited = chain;
  edited[2].detail = "{\"version\":99}";
  Status st = VerifyAuditChain(edited);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("seq 3"), std::string::npos) << st.message();

  auto rehashed = chain;  // an edit that also recomputes its own hash breaks the next link
  rehashed[2].actor = "mallory";
  rehashed[2].hash = AuditHash(rehashed[2]);
  st = VerifyAuditChain(rehashed);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("seq 4"), std::string::npos) << st.message();

  auto deleted = chain;
  deleted.erase(deleted.begin() + 1);
  st = VerifyAuditChain(deleted);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("seq 3"), std::string::npos) << st.message();

  auto first_deleted = chain;
  first_deleted.erase(first_deleted.begin());
  EXPECT_FALSE(VerifyAuditChain(first_deleted).ok());

  auto reordered = chain;
  std::swap(reordered[1], reordered[3]);
  EXPECT_FALSE(VerifyAuditChain(reordered).ok());

  auto ts_changed = chain;
  ts_changed[4].ts_us += 1;
  EXPECT_FALSE(VerifyAuditChain(ts_changed).ok());

  EXPECT_TRUE(VerifyAuditChain({}).ok());
}

TEST_P(MetaStoreContract, ConcurrentAuditWritersDoNotForkTheChain) {
  CTML_TEST_ASSIGN(auto m1, Open());
  CTML_TEST_ASSIGN(auto m2, Open());
  auto work = [](MetaStore* meta, const std::string& actor) {
    for (int i = 0; i < 25; ++i) {
      auto r = meta->AppendAudit(actor, "ingest.batch", "b/" + std::to_string(i), "{}");
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    }
  };
  std::thread t1(work, m1.get(), "gateway");
  std::thread t2(work, m2.get(), "process");
  t1.join();
  t2.join();
  CTML_TEST_ASSIGN(auto chain, m2->ListAudit(1, 1000));
  ASSERT_EQ(chain.size(), 50u);
  CTML_TEST_OK(VerifyAuditChain(chain));
}

TEST_P(MetaStoreContract, StateKeyValue) {
  CTML_TEST_ASSIGN(auto meta, Open());
  std::string key = Unique("checkpoint");
  CTML_TEST_ASSIGN(auto none, meta->GetState(key));
  EXPECT_FALSE(none.has_value());
  CTML_TEST_OK(meta->PutState(key, "42"));
  CTML_TEST_ASSIGN(auto got, meta->GetState(key));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "42");
  CTML_TEST_OK(meta->PutState(key, std::string("a\0b", 3)));
  CTML_TEST_ASSIGN(auto again, meta->GetState(key));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, std::string("a\0b", 3));
  CTML_TEST_ASSIGN(auto other, Open());  // another process sees it
  CTML_TEST_ASSIGN(auto seen, other->GetState(key));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(*seen, std::string("a\0b", 3));
  CTML_TEST_OK(meta->Ping());
}

}  // namespace
}  // namespace ctml::store::testing
