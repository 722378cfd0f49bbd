// Runs the MetaStore contract suite on the PostgreSQL adapter (through the factory, as the
// services open it) against the real server, plus PostgreSQL-specific tests: processes that
// migrate and append at the same time, URI errors, and (CTML_TEST_POSTGRES_RESTART=1) a server
// restart under the same handle.
//
// The server: CTML_TEST_POSTGRES_URI, else the one scripts/services/postgres.sh starts
// (postgresql://ctml:<password>@127.0.0.1:15432/ctml, the password read from
// var/services/postgres/password under CTML_SOURCE_DIR, or under CTML_SERVICES_DIR/postgres when
// that is set; the port from CTML_POSTGRES_PORT). Start it first:
//   scripts/services/postgres.sh start && build/ctml_store_test --gtest_filter='Postgres*'
// Each test works in its own schema (?schema=t_<the test's temp dir name>), dropped at the end.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "ctml/store/factory.h"
#include "ctml/store/meta_store_contract.h"
#include "ctml/store/postgres/postgres_meta_store.h"

namespace ctml::store::testing {
namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string SourceDir() { return EnvOr("CTML_SOURCE_DIR", CTML_SOURCE_DIR); }

// The URI of scripts/services/postgres.sh's server, with the password it generated.
std::string DefaultUri() {
  std::string services = EnvOr("CTML_SERVICES_DIR", SourceDir() + "/var/services");
  std::ifstream in(services + "/postgres/password");
  std::string password;
  std::getline(in, password);
  return "postgresql://ctml:" + password + "@127.0.0.1:" + EnvOr("CTML_POSTGRES_PORT", "15432") +
         "/ctml";
}

std::string BaseUri() { return ServiceUri("CTML_TEST_POSTGRES_URI", DefaultUri()); }

std::string WithSchema(const std::string& schema) {
  std::string base = BaseUri();
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
}

// "/tmp/ctml-store-3f9a1c2e" -> "t_ctml_store_3f9a1c2e": one schema per test location.
std::string SchemaFor(const std::string& location) {
  std::string base = location.substr(location.find_last_of('/') + 1);
  std::string schema = "t_";
  for (char c : base) {
    schema.push_back(std::isalnum(static_cast<unsigned char>(c))
                         ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                         : '_');
  }
  return schema.substr(0, 63);
}

// Schemas the tests made, dropped when all tests are done (not in forked children: they _exit).
std::mutex schemas_mu;
std::set<std::string>& Schemas() {
  static std::set<std::string> schemas;
  return schemas;
}

std::string UriFor(const std::string& location) {
  std::string schema = SchemaFor(location);
  std::lock_guard<std::mutex> lock(schemas_mu);
  Schemas().insert(schema);
  return WithSchema(schema);
}

class DropSchemas : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard<std::mutex> lock(schemas_mu);
    for (const auto& schema : Schemas()) {
      Status s = DropPostgresMetaSchema(WithSchema(schema));
      if (!s.ok())
        std::fprintf(stderr, "dropping schema %s: %s\n", schema.c_str(), s.ToString().c_str());
    }
  }
};
const auto* const kDropSchemas = ::testing::AddGlobalTestEnvironment(new DropSchemas);

INSTANTIATE_TEST_SUITE_P(
    Postgres, MetaStoreContract,
    ::testing::Values(MetaStoreFactory{
        "postgres", [](const std::string& location) { return OpenMetaStore(UriFor(location)); }}),
    AdapterName());

// Runs `child(i)` in `n` forked processes at once; each returns its exit code (0 = ok).
template <typename Fn>
void ForkEach(int n, Fn child, std::vector<int>* codes) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(child(i));
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    codes->push_back(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128);
  }
}

// The audit chain stays linear when processes append at the same time.
TEST(PostgresMetaStore, TwoProcessesAppendAuditWithoutForking) {
  ScopedTempDir dir;
  std::string uri = UriFor(dir.path());
  { CTML_TEST_ASSIGN(auto init, OpenMetaStore(uri)); }  // no connection is shared with children
  constexpr int kEach = 100;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto meta = OpenMetaStore(uri);
    if (!meta.ok()) _exit(2);
    for (int i = 0; i < kEach; ++i) {
      if (!(*meta)->AppendAudit("child", "x", "c/" + std::to_string(i), "{}").ok()) _exit(1);
    }
    _exit(0);
  }
  CTML_TEST_ASSIGN(auto meta, OpenMetaStore(uri));
  for (int i = 0; i < kEach; ++i) {
    CTML_TEST_OK(meta->AppendAudit("parent", "x", "p/" + std::to_string(i), "{}").status());
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  CTML_TEST_ASSIGN(auto chain, meta->ListAudit(1, 1000));
  ASSERT_EQ(chain.size(), 2u * kEach);
  CTML_TEST_OK(VerifyAuditChain(chain));
}

// Processes that open a fresh schema at the same time all migrate it without an error, once.
TEST(PostgresMetaStore, ProcessesOpeningAFreshSchemaAtOnceMigrateItOnce) {
  ScopedTempDir dir;
  std::string uri = UriFor(dir.path());
  std::vector<int> codes;
  ForkEach(
      4,
      [&](int i) {
        auto meta = OpenMetaStore(uri);
        if (!meta.ok()) {
          std::fprintf(stderr, "child %d: %s\n", i, meta.status().ToString().c_str());
          return 1;
        }
        return (*meta)->CreateModelVersion("m", "r" + std::to_string(i), "u", "{}").ok() ? 0 : 3;
      },
      &codes);
  EXPECT_EQ(codes, std::vector<int>(4, 0));
  CTML_TEST_ASSIGN(auto meta, OpenMetaStore(uri));
  CTML_TEST_ASSIGN(auto versions, meta->ListModelVersions("m"));
  ASSERT_EQ(versions.size(), 4u);
  for (size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i].version, int64_t(i + 1));
}

// A second handle on the same schema, opened later, sees everything (migrations are idempotent).
TEST(PostgresMetaStore, ReopeningKeepsTheData) {
  ScopedTempDir dir;
  std::string uri = UriFor(dir.path());
  {
    CTML_TEST_ASSIGN(auto meta, OpenMetaStore(uri));
    CTML_TEST_OK(meta->CreateModelVersion("m", "r", "u", "{\"k\": [1, 2]}").status());
    CTML_TEST_OK(meta->SetAlias("m", "production", 1));
    CTML_TEST_OK(meta->AppendAudit("a", "model.promote", "m/1", "{}").status());
  }
  CTML_TEST_ASSIGN(auto meta, OpenMetaStore(uri));
  CTML_TEST_ASSIGN(auto prod, meta->GetAlias("m", "production"));
  EXPECT_EQ(prod.manifest_json, "{\"k\": [1, 2]}");  // text, byte for byte
  CTML_TEST_ASSIGN(auto next, meta->AppendAudit("a", "model.rollback", "m/1", "{}"));
  EXPECT_EQ(next.seq, 2);
}

TEST(PostgresMetaStore, MalformedUriIsInvalidAndHidesThePassword) {
  const std::string secret = "s3cret-Pw";
  for (const std::string& uri : std::vector<std::string>{
           "postgresql://ctml:" + secret + "@127.0.0.1:notaport/ctml",
           "postgresql://ctml:" + secret + "@127.0.0.1:15432/ctml?schema=bad-name",
           "postgresql://ctml:" + secret + "@127.0.0.1:15432/ctml?schema=1abc",
           "postgresql://ctml:" + secret + "@127.0.0.1:15432/ctml?schema=a&schema=b",
           "postgres://ctml:" + secret + "@127.0.0.1:15432/ctml?no_such_parameter=1",
           "postgresql://ctml:" + secret + "%zz@127.0.0.1:15432/ctml",
       }) {
    auto meta = OpenMetaStore(uri);
    ASSERT_FALSE(meta.ok()) << uri;
    EXPECT_EQ(meta.status().code(), StatusCode::kInvalid) << meta.status().ToString();
    EXPECT_EQ(meta.status().field(), "uri");
    EXPECT_NE(meta.status().message().find("127.0.0.1"), std::string::npos)
        << meta.status().message();  // names the URI
    EXPECT_EQ(meta.status().message().find(secret), std::string::npos) << meta.status().message();
  }
  EXPECT_FALSE(DropPostgresMetaSchema(BaseUri()).ok());  // no explicit schema: refused
}

TEST(PostgresMetaStore, UnreachableServerIsUnavailableWithoutThePassword) {
  // Port 1 on loopback: nothing listens there.
  auto meta = OpenMetaStore("postgresql://ctml:s3cret-Pw@127.0.0.1:1/ctml?schema=x");
  ASSERT_FALSE(meta.ok());
  EXPECT_EQ(meta.status().code(), StatusCode::kUnavailable) << meta.status().ToString();
  EXPECT_EQ(meta.status().message().find("s3cret-Pw"), std::string::npos);
}

TEST(PostgresMetaStore, WrongPasswordIsRefusedWithoutEchoingIt) {
  std::string base = BaseUri();
  auto at = base.find('@');
  ASSERT_NE(at, std::string::npos) << "the test URI carries no user";
  auto colon = base.find(':', base.find("://") + 3);
  std::string user = base.substr(0, colon < at ? colon : at);
  auto meta = OpenMetaStore(user + ":wrong-Secret" + base.substr(at) + "?schema=x");
  ASSERT_FALSE(meta.ok());
  EXPECT_EQ(meta.status().message().find("wrong-Secret"), std::string::npos)
      << meta.status().message();
}

TEST(PostgresMetaStore, StateAndTextValidation) {
  ScopedTempDir dir;
  CTML_TEST_ASSIGN(auto meta, OpenMetaStore(UriFor(dir.path())));
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  CTML_TEST_OK(meta->PutState("bin", binary));
  CTML_TEST_ASSIGN(auto got, meta->GetState("bin"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, binary);
  EXPECT_EQ(meta->PutState(std::string("a\0b", 3), "v").code(), StatusCode::kInvalid);
  EXPECT_EQ(meta->AppendAudit("a", "x", "o", std::string("{\0}", 3)).status().code(),
            StatusCode::kInvalid);
  CTML_TEST_ASSIGN(auto chain, meta->ListAudit(1, 10));
  EXPECT_TRUE(chain.empty());
}

// A connection the server dropped between calls (here: pg_terminate_backend, as a failover or an
// idle timeout would) costs the next call nothing: it is retried once on a new connection, and
// the audit record is written once. Uses psql, installed with the server.
TEST(PostgresMetaStore, ADroppedConnectionIsRetriedOnANewOne) {
  ScopedTempDir dir;
  std::string app = "ctml_test_" + HexEncode(RandomBytes(4));
  CTML_TEST_ASSIGN(auto meta, OpenMetaStore(UriFor(dir.path()) + "&application_name=" + app));
  CTML_TEST_OK(meta->AppendAudit("test", "x", "o/1", "{}").status());
  // The URI goes through the environment, not the command line (it may carry the password).
  ASSERT_EQ(setenv("CTML_TEST_PSQL_URI", BaseUri().c_str(), 1), 0);
  std::string psql =
      "psql -X -q -At \"$CTML_TEST_PSQL_URI\" -c \"SELECT count(pg_terminate_backend(pid)) FROM "
      "pg_stat_activity WHERE application_name = '" +
      app + "'\" >&2";
  ASSERT_EQ(std::system(psql.c_str()), 0);
  CTML_TEST_OK(meta->AppendAudit("test", "x", "o/2", "{}").status());
  ASSERT_EQ(std::system(psql.c_str()), 0);
  CTML_TEST_OK(meta->Ping());
  CTML_TEST_ASSIGN(auto chain, meta->ListAudit(1, 100));
  ASSERT_EQ(chain.size(), 2u);
  CTML_TEST_OK(VerifyAuditChain(chain));
}

int RunServiceScript(const std::string& command) {
  std::string cmd = SourceDir() + "/scripts/services/postgres.sh " + command + " >&2";
  return std::system(cmd.c_str());
}

Status WaitUntilReady(MetaStore* meta, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  Status s;
  while (std::chrono::steady_clock::now() < deadline) {
    s = meta->Ping();
    if (s.ok()) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return s;
}

// The restart e2e (CTML_TEST_POSTGRES_RESTART=1; it stops the server the tests use): while the
// server is down calls fail with Unavailable; afterwards the same handle works again, nothing
// committed is lost and no audit record is written twice, even for appends cut off mid-flight.
TEST(PostgresMetaStore, SurvivesAServerRestart) {
  if (EnvOr("CTML_TEST_POSTGRES_RESTART", "") != "1") {
    GTEST_SKIP() << "set CTML_TEST_POSTGRES_RESTART=1 to restart scripts/services/postgres.sh";
  }
  ScopedTempDir dir;
  CTML_TEST_ASSIGN(auto meta, OpenMetaStore(UriFor(dir.path())));
  CTML_TEST_OK(meta->CreateModelVersion("m", "r", "u", "{}").status());
  CTML_TEST_OK(meta->PutState("checkpoint", "41"));
  CTML_TEST_OK(meta->AppendAudit("test", "before", "b/0", "{}").status());

  ASSERT_EQ(RunServiceScript("stop"), 0);
  EXPECT_EQ(meta->Ping().code(), StatusCode::kUnavailable);
  auto down = meta->AppendAudit("test", "down", "d/0", "{}");
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().ToString();
  std::string base = BaseUri();
  auto at = base.find('@');
  auto colon = base.find(':', base.find("://") + 3);
  if (at != std::string::npos && colon < at) {  // the message never shows the password
    EXPECT_EQ(down.status().message().find(base.substr(colon + 1, at - colon - 1)),
              std::string::npos);
  }
  ASSERT_EQ(RunServiceScript("start"), 0);
  CTML_TEST_OK(WaitUntilReady(meta.get(), std::chrono::seconds(30)));

  // Appends from a second thread while the server restarts once more.
  std::atomic<bool> stop{false};
  std::vector<AuditRecord> acked;
  int failures = 0;
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      auto r = meta->AppendAudit("test", "during", "w/" + std::to_string(i), "{}");
      if (r.ok()) {
        acked.push_back(*r);
      } else {
        EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
        ++failures;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int restarted = RunServiceScript("restart");
  CTML_TEST_OK(WaitUntilReady(meta.get(), std::chrono::seconds(30)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  writer.join();
  ASSERT_EQ(restarted, 0);

  CTML_TEST_ASSIGN(auto version, meta->GetModelVersion("m", 1));
  EXPECT_EQ(version.run_id, "r");
  CTML_TEST_ASSIGN(auto state, meta->GetState("checkpoint"));
  EXPECT_EQ(state.value_or(""), "41");
  CTML_TEST_ASSIGN(auto chain, meta->ListAudit(1, 100000));
  CTML_TEST_OK(VerifyAuditChain(chain));
  std::set<std::string> objects;
  std::set<std::string> hashes;
  for (const auto& r : chain) {
    EXPECT_TRUE(objects.insert(r.object).second) << "written twice: " << r.object;
    hashes.insert(r.hash);
  }
  for (const auto& r : acked) EXPECT_EQ(hashes.count(r.hash), 1u) << "lost: " << r.object;
  EXPECT_EQ(objects.count("d/0"), 0u);
  EXPECT_GT(acked.size(), 0u);
  std::fprintf(stderr, "restart: %zu appends acknowledged, %d failed while down, chain %zu\n",
               acked.size(), failures, chain.size());
}

}  // namespace
}  // namespace ctml::store::testing
