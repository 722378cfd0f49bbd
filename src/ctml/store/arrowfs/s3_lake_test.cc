// Runs the Lake contract suite on a real S3-compatible server (scripts/services/s3.sh start),
// plus S3-specific tests. The server: CTML_TEST_S3_URI, else the script's default URI. Each test
// gets its own prefix s3://<bucket>/ctml-test/<unique>; the prefixes are deleted at the end.
// Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when set, else the service's
// credentials file var/services/s3/credentials under CTML_SOURCE_DIR (CTest sets it), passed as
// ?credentials_file=. CTML_TEST_S3_RESTART=1 also stops and restarts the server to check Ping.
#include <arrow/api.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>

#include "ctml/store/factory.h"
#include "ctml/store/lake_contract.h"

namespace ctml::store::testing {
namespace {

const char* const kDefaultS3Uri = "s3://ctml?endpoint_override=127.0.0.1:19000&scheme=http";

std::string SourceDir() {
  const char* v = std::getenv("CTML_SOURCE_DIR");
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(CTML_SOURCE_DIR);
}

// `uri` with credentials_file= added when the environment has no credentials.
std::string WithCredentials(std::string uri) {
  const char* ak = std::getenv("AWS_ACCESS_KEY_ID");
  if ((ak == nullptr || *ak == '\0') && uri.find("credentials_file=") == std::string::npos) {
    uri += (uri.find('?') == std::string::npos ? "?" : "&");
    uri += "credentials_file=" + SourceDir() + "/var/services/s3/credentials";
  }
  return uri;
}

std::string BaseUri() { return WithCredentials(ServiceUri("CTML_TEST_S3_URI", kDefaultS3Uri)); }

// s3://bucket?query -> s3://bucket/<prefix>?query
std::string WithPrefix(const std::string& uri, const std::string& prefix) {
  auto q = uri.find('?');
  std::string head = uri.substr(0, q);
  while (!head.empty() && head.back() == '/') head.pop_back();
  return head + "/" + prefix + (q == std::string::npos ? "" : uri.substr(q));
}

std::mutex used_mu;
std::set<std::string> used_prefixes;

// One prefix per test location: two Open()s on the same location share it (one store).
Result<std::unique_ptr<Lake>> OpenAt(const std::string& location) {
  std::string prefix = "ctml-test/" + std::filesystem::path(location).filename().string();
  {
    std::lock_guard<std::mutex> lock(used_mu);
    used_prefixes.insert(prefix);
  }
  return OpenLake(WithPrefix(BaseUri(), prefix));
}

// Deletes what the tests wrote, so that the service's bucket does not grow with each run.
class CleanUp : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard<std::mutex> lock(used_mu);
    if (used_prefixes.empty()) return;
    auto bucket = OpenLake(BaseUri());
    if (!bucket.ok()) return;
    for (const auto& prefix : used_prefixes) (void)(*bucket)->Delete(prefix);
  }
};
[[maybe_unused]] ::testing::Environment* const clean_up =
    ::testing::AddGlobalTestEnvironment(new CleanUp);

INSTANTIATE_TEST_SUITE_P(S3, LakeContract, ::testing::Values(LakeFactory{"s3", OpenAt}),
                         AdapterName());

TEST(S3Lake, AUriWithoutBucketIsInvalidAndNamesTheUri) {
  for (std::string uri : {"s3://?endpoint_override=127.0.0.1:19000&scheme=http", "s3:///prefix"}) {
    auto lake = OpenLake(uri);
    ASSERT_FALSE(lake.ok()) << uri;
    EXPECT_EQ(lake.status().code(), StatusCode::kInvalid) << uri;
    EXPECT_NE(lake.status().message().find(uri), std::string::npos) << lake.status().ToString();
  }
}

TEST(S3Lake, RejectsUnknownParametersBadSchemesAndCredentialsInTheUri) {
  EXPECT_EQ(OpenLake("s3://ctml?endpoint=127.0.0.1:19000").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(OpenLake("s3://ctml?endpoint_override=127.0.0.1:19000&scheme=ftp").status().code(),
            StatusCode::kInvalid);
  auto with_secret = OpenLake("s3://AKIDEXAMPLE:s3cr3tvalue@ctml?endpoint_override=h:1");
  ASSERT_EQ(with_secret.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(with_secret.status().message().find("s3cr3tvalue"), std::string::npos);
  auto no_file = OpenLake("s3://ctml?endpoint_override=h:1&credentials_file=/nonexistent/creds");
  EXPECT_EQ(no_file.status().code(), StatusCode::kInvalid);
}

TEST(S3Lake, PrefixesIsolateLakesInOneBucket) {
  std::string a = Unique("iso-a");
  std::string b = Unique("iso-b");
  CTML_TEST_ASSIGN(auto lake_a, OpenAt(a));
  CTML_TEST_ASSIGN(auto lake_b, OpenAt(b));
  CTML_TEST_OK(lake_a->WriteParquet("t/date=2024-01-01/p.parquet", OneColumn(1)));
  CTML_TEST_ASSIGN(auto in_b, lake_b->List(""));
  EXPECT_TRUE(in_b.empty());
  // The bucket root sees lake a's file under its prefix.
  CTML_TEST_ASSIGN(auto bucket, OpenLake(BaseUri()));
  CTML_TEST_ASSIGN(auto under_a, bucket->List("ctml-test/" + a));
  ASSERT_EQ(under_a.size(), 1u);
  EXPECT_EQ(under_a[0].path, "ctml-test/" + a + "/t/date=2024-01-01/p.parquet");
}

TEST(S3Lake, DeleteRemovesAPrefixTree) {
  ScopedTempDir dir;
  CTML_TEST_ASSIGN(auto lake, OpenAt(dir.path()));
  CTML_TEST_OK(lake->PutBytes("datasets/x/run1/a.bin", "a"));
  CTML_TEST_OK(lake->PutBytes("datasets/x/run1/sub/b.bin", "b"));
  CTML_TEST_OK(lake->PutBytes("datasets/x/run2/c.bin", "c"));
  CTML_TEST_OK(lake->Delete("datasets/x/run1"));
  CTML_TEST_ASSIGN(auto files, lake->List("datasets/x"));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].path, "datasets/x/run2/c.bin");
}

TEST(S3Lake, PingIsUnavailableWhenNothingListens) {
  // A loopback port nothing listens on: connection refused, no DNS or timeouts involved.
  CTML_TEST_ASSIGN(
      auto lake, OpenLake(WithCredentials("s3://ctml?endpoint_override=127.0.0.1:1&scheme=http")));
  EXPECT_EQ(lake->Ping().code(), StatusCode::kUnavailable);
}

TEST(S3Lake, PingIsUnavailableWhileTheServerIsStopped) {
  const char* restart = std::getenv("CTML_TEST_S3_RESTART");
  if (restart == nullptr || std::string(restart) != "1") {
    GTEST_SKIP() << "set CTML_TEST_S3_RESTART=1 to stop and restart scripts/services/s3.sh";
  }
  ScopedTempDir dir;
  CTML_TEST_ASSIGN(auto lake, OpenAt(dir.path()));
  CTML_TEST_OK(lake->PutBytes("before.txt", "kept"));
  std::string script = SourceDir() + "/scripts/services/s3.sh";
  ASSERT_EQ(std::system((script + " stop >/dev/null").c_str()), 0);
  Status down = lake->Ping();
  int started = std::system((script + " start >/dev/null").c_str());
  EXPECT_EQ(down.code(), StatusCode::kUnavailable) << down.ToString();
  ASSERT_EQ(started, 0);
  CTML_TEST_OK(lake->Ping());  // the same handle reconnects
  CTML_TEST_ASSIGN(auto kept, lake->GetBytes("before.txt"));
  EXPECT_EQ(kept, "kept");
}

}  // namespace
}  // namespace ctml::store::testing
