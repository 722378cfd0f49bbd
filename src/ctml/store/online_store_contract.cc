// The OnlineStore contract (see online_store_contract.h).
#include "ctml/store/online_store_contract.h"

#include <cmath>
#include <limits>
#include <set>

namespace ctml::store::testing {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

FeatureVector Vec(const std::string& key, const std::string& view, int64_t as_of,
                  std::vector<std::pair<std::string, double>> values) {
  return FeatureVector{key, view, as_of, "spec-" + view, std::move(values)};
}

TEST_P(OnlineStoreContract, PutThenGetRoundTripsValuesInOrderWithNaN) {
  CTML_TEST_ASSIGN(auto store, Open());
  std::string view = Unique("vitals");
  auto v = Vec("SUBJ1", view, 1709280000000000,
               {{"vs_pulse_mean_24h", 81.5},
                {"vs_sysbp_max_7d", kNaN},
                {"a_first", -0.1},
                {"tiny", 1e-300},
                {"big", 12345678901234.5}});
  CTML_TEST_OK(store->Put({v}));
  CTML_TEST_ASSIGN(auto got, store->Get("SUBJ1", view));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->entity_key, "SUBJ1");
  EXPECT_EQ(got->view, view);
  EXPECT_EQ(got->as_of_us, 1709280000000000);
  EXPECT_EQ(got->spec_hash, "spec-" + view);
  ASSERT_EQ(got->values.size(), 5u);
  EXPECT_EQ(got->values[0], v.values[0]);
  EXPECT_EQ(got->values[1].first, "vs_sysbp_max_7d");
  EXPECT_TRUE(std::isnan(got->values[1].second));
  EXPECT_EQ(got->values[2], v.values[2]);
  EXPECT_EQ(got->values[3], v.values[3]);  // exact, not approximately
  EXPECT_EQ(got->values[4], v.values[4]);
}

TEST_P(OnlineStoreContract, MissingEntityIsNullopt) {
  CTML_TEST_ASSIGN(auto store, Open());
  std::string view = Unique("v");
  CTML_TEST_ASSIGN(auto none, store->Get("nobody", view));
  EXPECT_FALSE(none.has_value());
  CTML_TEST_OK(store->Put({Vec("SUBJ1", view, 1, {{"f", 1.0}})}));
  CTML_TEST_ASSIGN(auto other_view, store->Get("SUBJ1", Unique("v")));
  EXPECT_FALSE(other_view.has_value());
}

TEST_P(OnlineStoreContract, UpsertReplacesTheWholeVector) {
  CTML_TEST_ASSIGN(auto store, Open());
  std::string view = Unique("v");
  CTML_TEST_OK(store->Put({Vec("SUBJ1", view, 100, {{"a", 1.0}, {"b", 2.0}, {"c", 3.0}})}));
  auto newer = Vec("SUBJ1", view, 200, {{"a", 10.0}});
  newer.spec_hash = "spec-2";
  CTML_TEST_OK(store->Put({newer}));
  CTML_TEST_ASSIGN(auto got, store->Get("SUBJ1", view));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->as_of_us, 200);
  EXPECT_EQ(got->spec_hash, "spec-2");
  ASSERT_EQ(got->values.size(), 1u);
  EXPECT_EQ(got->values[0].second, 10.0);
  CTML_TEST_ASSIGN(auto n, store->Count(view));
  EXPECT_EQ(n, 1);
}

TEST_P(OnlineStoreContract, CountAndKeysArePerView) {
  CTML_TEST_ASSIGN(auto store, Open());
  std::string view = Unique("v");
  std::string other = Unique("w");
  std::vector<FeatureVector> batch;
  for (int i = 0; i < 250; ++i) batch.push_back(Vec("S" + std::to_string(i), view, i, {{"x", i}}));
  batch.push_back(Vec("S0", other, 1, {{"y", 1.0}}));
  CTML_TEST_OK(store->Put(batch));
  CTML_TEST_ASSIGN(auto n, store->Count(view));
  EXPECT_EQ(n, 250);
  CTML_TEST_ASSIGN(auto m, store->Count(other));
  EXPECT_EQ(m, 1);
  CTML_TEST_ASSIGN(auto zero, store->Count(Unique("empty")));
  EXPECT_EQ(zero, 0);
  CTML_TEST_ASSIGN(auto some, store->Keys(view, 10));
  EXPECT_EQ(some.size(), 10u);
  CTML_TEST_ASSIGN(auto all, store->Keys(view, 1000));
  std::set<std::string> keys(all.begin(), all.end());
  EXPECT_EQ(keys.size(), 250u);
  EXPECT_EQ(keys.count("S249"), 1u);
  for (const auto& k : some) EXPECT_EQ(keys.count(k), 1u);
  CTML_TEST_ASSIGN(auto got, store->Get("S7", view));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->values[0].second, 7.0);
}

TEST_P(OnlineStoreContract, EmptyVectorAndEmptyPut) {
  CTML_TEST_ASSIGN(auto store, Open());
  std::string view = Unique("v");
  CTML_TEST_OK(store->Put({}));
  CTML_TEST_OK(store->Put({Vec("S", view, 5, {})}));
  CTML_TEST_ASSIGN(auto got, store->Get("S", view));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->values.empty());
  EXPECT_EQ(got->as_of_us, 5);
}

TEST_P(OnlineStoreContract, AnotherInstanceSeesPuts) {
  CTML_TEST_ASSIGN(auto writer, Open());  // the features materializer
  CTML_TEST_ASSIGN(auto reader, Open());  // the serving process
  std::string view = Unique("v");
  CTML_TEST_OK(writer->Put({Vec("S", view, 1, {{"f", 2.5}})}));
  CTML_TEST_ASSIGN(auto got, reader->Get("S", view));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->values.at(0).second, 2.5);
  CTML_TEST_OK(writer->Put({Vec("S", view, 2, {{"f", 3.5}})}));
  CTML_TEST_ASSIGN(auto newer, reader->Get("S", view));
  ASSERT_TRUE(newer.has_value());
  EXPECT_EQ(newer->values.at(0).second, 3.5);
  CTML_TEST_OK(reader->Ping());
}

}  // namespace
}  // namespace ctml::store::testing
