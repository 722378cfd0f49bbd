// Runs the Lake contract suite on the local-directory adapter, plus local-only behaviour.
#include <arrow/api.h>

#include <filesystem>
#include <fstream>

#include "ctml/store/factory.h"
#include "ctml/store/lake_contract.h"

namespace ctml::store::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(ArrowFs, LakeContract,
                         ::testing::Values(LakeFactory{"local",
                                                       [](const std::string& dir) {
                                                         return OpenLake("file://" + dir + "/lake");
                                                       }}),
                         AdapterName());

TEST(ArrowLake, CreatesTheRootAndWritesRealParquetFiles) {
  ScopedTempDir dir;
  std::string root = dir.path() + "/a/b/lake";
  CTML_TEST_ASSIGN(auto lake, OpenLake("file://" + root));
  EXPECT_TRUE(std::filesystem::is_directory(root));
  CTML_TEST_OK(lake->WriteParquet("silver/t/date=2024-01-01/p.parquet", OneColumn(1)));
  EXPECT_TRUE(std::filesystem::is_regular_file(root + "/silver/t/date=2024-01-01/p.parquet"));
}

TEST(ArrowLake, IgnoresInFlightTemporaryFiles) {
  ScopedTempDir dir;
  CTML_TEST_ASSIGN(auto lake, OpenLake("file://" + dir.path()));
  CTML_TEST_OK(lake->WriteParquet("d/date=2024-01-01/p.parquet", OneColumn(7)));
  // A crashed writer's leftover: not valid parquet, and must neither be listed nor read.
  std::ofstream(dir.path() + "/d/date=2024-01-01/p.parquet.tmp-deadbeef") << "garbage";
  std::ofstream(dir.path() + "/d/date=2024-01-01/q.parquet.tmp-0011") << "garbage";
  CTML_TEST_ASSIGN(auto files, lake->List("d"));
  ASSERT_EQ(files.size(), 1u);
  CTML_TEST_ASSIGN(auto t, lake->ReadDataset("d"));
  EXPECT_EQ(t->num_rows(), 1);
  EXPECT_NE(t->GetColumnByName("date"), nullptr);
}

TEST(ArrowLake, DecodesUrlEncodedPartitionValues) {
  ScopedTempDir dir;
  CTML_TEST_ASSIGN(auto lake, OpenLake("file://" + dir.path()));
  CTML_TEST_OK(lake->WriteParquet("d/site=A%2FB/p.parquet", OneColumn(1)));
  CTML_TEST_ASSIGN(auto t, lake->ReadDataset("d"));
  auto site = t->GetColumnByName("site");
  ASSERT_NE(site, nullptr);
  auto s = std::static_pointer_cast<arrow::StringScalar>(site->GetScalar(0).ValueOrDie());
  EXPECT_EQ(s->value->ToString(), "A/B");
}

TEST(ArrowLake, DeleteRemovesADirectoryTree) {
  ScopedTempDir dir;
  CTML_TEST_ASSIGN(auto lake, OpenLake("file://" + dir.path()));
  CTML_TEST_OK(lake->PutBytes("datasets/x/run1/a.bin", "a"));
  CTML_TEST_OK(lake->PutBytes("datasets/x/run1/sub/b.bin", "b"));
  CTML_TEST_OK(lake->Delete("datasets/x/run1"));
  CTML_TEST_ASSIGN(auto files, lake->List("datasets/x"));
  EXPECT_TRUE(files.empty());
}

}  // namespace
}  // namespace ctml::store::testing
