#include "ctml/store/factory.h"

#include <filesystem>
#include <fstream>

#include "ctml/store/contract_testing.h"
#include "ctml/store/secret_refs.h"

namespace ctml::store::testing {
namespace {

TEST(Factory, UnknownSchemeNamesTheUriAndTheSupportedSchemes) {
  auto log = OpenEventLog("mysql://localhost/db");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kInvalid);
  EXPECT_NE(log.status().message().find("mysql://localhost/db"), std::string::npos);
  EXPECT_NE(log.status().message().find("sqlite://"), std::string::npos);
  auto lake = OpenLake("ftp://x/y");
  ASSERT_FALSE(lake.ok());
  EXPECT_NE(lake.status().message().find("file://"), std::string::npos);
  EXPECT_EQ(OpenOnlineStore("nope://x").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(OpenMetaStore("nope://x").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(OpenCache("nope://x").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(OpenCache("not a uri").status().code(), StatusCode::kInvalid);
}

TEST(Factory, SecretFileReferencesAreReadAtOpenAndNeverEchoed) {
  ScopedTempDir dir;
  const std::string pw = dir.path() + "/pw";
  std::ofstream(pw) << "s3cr@t/x\n";
  CTML_TEST_ASSIGN(auto uri, ResolveSecretRefs("postgresql://ctml:${file:" + pw + "}@h:1/db"));
  EXPECT_EQ(uri, "postgresql://ctml:s3cr%40t%2Fx@h:1/db");  // trimmed, percent-encoded
  CTML_TEST_ASSIGN(auto plain, ResolveSecretRefs("sqlite:///a/b.db"));
  EXPECT_EQ(plain, "sqlite:///a/b.db");
  // A missing file names the file, and the store cannot open.
  auto missing = OpenMetaStore("postgresql://ctml:${file:" + dir.path() + "/nope}@h:1/db");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir.path() + "/nope"), std::string::npos);
  // The secret itself never appears in an error.
  auto bad = OpenEventLog("nosuch://user:${file:" + pw + "}@host/x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("s3cr"), std::string::npos) << bad.status().message();
}

TEST(Factory, SqliteCreatesParentDirectories) {
  ScopedTempDir dir;
  std::string db = dir.path() + "/deep/er/meta.db";
  CTML_TEST_ASSIGN(auto meta, OpenMetaStore("sqlite://" + db));
  CTML_TEST_OK(meta->Ping());
  EXPECT_TRUE(std::filesystem::exists(db));
  EXPECT_EQ(OpenEventLog("sqlite://").status().code(), StatusCode::kInvalid);
}

TEST(Factory, SqliteSynchronousIsFullOrNormal) {
  ScopedTempDir dir;
  for (const char* ok : {"normal", "FULL"}) {
    auto meta = OpenMetaStore("sqlite://" + dir.path() + "/meta.db?synchronous=" + ok);
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    CTML_TEST_OK((*meta)->AppendAudit("t", "a", "o", "{}").status());
  }
  auto bad = OpenMetaStore("sqlite://" + dir.path() + "/meta.db?synchronous=off");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalid);
  EXPECT_NE(bad.status().message().find("synchronous must be full or normal in meta store"),
            std::string::npos);
  EXPECT_EQ(OpenEventLog("sqlite://" + dir.path() + "/log.db?synchronous=0").status().code(),
            StatusCode::kInvalid);
}

TEST(Factory, CacheCapacityMustBePositive) {
  EXPECT_TRUE(OpenCache("memory://?capacity=5").ok());
  EXPECT_TRUE(OpenCache("memory://").ok());
  EXPECT_EQ(OpenCache("memory://?capacity=0").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(OpenCache("memory://?capacity=abc").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(OpenEventLog("sqlite:///tmp/x.db?partitions=-1").status().code(), StatusCode::kInvalid);
}

TEST(AuditHash, IsDeterministicAndCoversEveryField) {
  AuditRecord r;
  r.seq = 1;
  r.ts_us = 1709280000000000;
  r.actor = "alice";
  r.action = "model.promote";
  r.object = "vitals_risk/3";
  r.detail = "{\"from\":\"staging\"}";
  std::string h = AuditHash(r);
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h, AuditHash(r));
  auto changed = [&](auto mutate) {
    AuditRecord c = r;
    mutate(c);
    return AuditHash(c) != h;
  };
  EXPECT_TRUE(changed([](AuditRecord& c) { c.seq = 2; }));
  EXPECT_TRUE(changed([](AuditRecord& c) { c.ts_us += 1; }));
  EXPECT_TRUE(changed([](AuditRecord& c) { c.actor = "bob"; }));
  EXPECT_TRUE(changed([](AuditRecord& c) { c.action = "model.rollback"; }));
  EXPECT_TRUE(changed([](AuditRecord& c) { c.object = "vitals_risk/4"; }));
  EXPECT_TRUE(changed([](AuditRecord& c) { c.detail = "{}"; }));
  EXPECT_TRUE(changed([](AuditRecord& c) { c.prev_hash = "00"; }));
  // The stored hash itself is not an input.
  EXPECT_FALSE(changed([](AuditRecord& c) { c.hash = "ff"; }));
}

}  // namespace
}  // namespace ctml::store::testing
