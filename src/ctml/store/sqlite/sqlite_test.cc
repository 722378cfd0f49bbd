// Runs the EventLog, OnlineStore and MetaStore contract suites on the SQLite adapters (through
// the factory, as the services open them), plus SQLite-specific cross-process tests.
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "ctml/store/event_log_contract.h"
#include "ctml/store/factory.h"
#include "ctml/store/meta_store_contract.h"
#include "ctml/store/online_store_contract.h"
#include "ctml/store/sqlite/sqlite_event_log.h"

namespace ctml::store::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Sqlite, EventLogContract,
    ::testing::Values(EventLogFactory{"sqlite",
                                      [](const std::string& dir) {
                                        return OpenEventLog("sqlite://" + dir + "/var/eventlog.db");
                                      }},
                      EventLogFactory{"sqlite_4_partitions",
                                      [](const std::string& dir) {
                                        return OpenEventLog("sqlite://" + dir +
                                                            "/eventlog.db?partitions=4");
                                      }}),
    AdapterName());

INSTANTIATE_TEST_SUITE_P(Sqlite, OnlineStoreContract,
                         ::testing::Values(OnlineStoreFactory{
                             "sqlite",
                             [](const std::string& dir) {
                               return OpenOnlineStore("sqlite://" + dir + "/online.db");
                             }}),
                         AdapterName());

INSTANTIATE_TEST_SUITE_P(Sqlite, MetaStoreContract,
                         ::testing::Values(MetaStoreFactory{"sqlite",
                                                            [](const std::string& dir) {
                                                              return OpenMetaStore(
                                                                  "sqlite://" + dir + "/meta.db");
                                                            }}),
                         AdapterName());

TEST(SqliteEventLog, KeysSpreadOverPartitionsAndPartitionCountIsPersistent) {
  ScopedTempDir dir;
  std::string path = dir.path() + "/log.db";
  SqliteEventLogOptions four;
  four.partitions = 4;
  CTML_TEST_ASSIGN(auto log, OpenSqliteEventLog(path, four));
  std::set<int32_t> used;
  for (int i = 0; i < 64; ++i) {
    CTML_TEST_ASSIGN(auto pos, log->Append("t", "subject-" + std::to_string(i), "v"));
    used.insert(pos.partition);
  }
  EXPECT_GT(used.size(), 1u);
  // Another instance configured differently keeps the topic's partition count.
  CTML_TEST_ASSIGN(auto other, OpenSqliteEventLog(path));
  CTML_TEST_ASSIGN(auto parts, other->Partitions("t"));
  ASSERT_EQ(parts.size(), 4u);
  int64_t total = 0;
  for (const auto& p : parts) total += p.end_offset;
  EXPECT_EQ(total, 64);
}

TEST(SqliteEventLog, ConsumerOutlivesTheLogObject) {
  ScopedTempDir dir;
  CTML_TEST_ASSIGN(auto log, OpenSqliteEventLog(dir.path() + "/log.db"));
  CTML_TEST_OK(log->Append("t", "k", "v").status());
  CTML_TEST_ASSIGN(auto consumer, log->Subscribe("g", {"t"}));
  log.reset();
  CTML_TEST_ASSIGN(auto batch, consumer->Poll(10, std::chrono::milliseconds(1000)));
  ASSERT_EQ(batch.size(), 1u);
  CTML_TEST_OK(consumer->Commit(batch));
}

// Two real processes append to one file at the same time (the gateway and an importer), while
// this process also commits: offsets stay dense and unique, and every record arrives.
TEST(SqliteEventLog, TwoProcessesAppendConcurrently) {
  ScopedTempDir dir;
  std::string uri = "sqlite://" + dir.path() + "/log.db";
  { CTML_TEST_ASSIGN(auto init, OpenEventLog(uri)); }  // create the schema before forking
  constexpr int kEach = 200;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int failures = 0;
    auto log = OpenEventLog(uri);
    if (!log.ok()) _exit(2);
    for (int i = 0; i < kEach; ++i) {
      if (!(*log)->Append("t", "k", "child-" + std::to_string(i)).ok()) ++failures;
    }
    _exit(failures == 0 ? 0 : 1);
  }
  CTML_TEST_ASSIGN(auto log, OpenEventLog(uri));
  for (int i = 0; i < kEach; ++i) {
    CTML_TEST_OK(log->Append("t", "k", "parent-" + std::to_string(i)).status());
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);

  CTML_TEST_ASSIGN(auto consumer, log->Subscribe("g", {"t"}));
  std::vector<LogRecord> all;
  for (int tries = 0; tries < 100 && all.size() < 2u * kEach; ++tries) {
    CTML_TEST_ASSIGN(auto batch, consumer->Poll(1000, std::chrono::milliseconds(100)));
    all.insert(all.end(), batch.begin(), batch.end());
  }
  ASSERT_EQ(all.size(), 2u * kEach);
  std::set<std::string> values;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].offset, static_cast<int64_t>(i));
    values.insert(all[i].value);
  }
  EXPECT_EQ(values.size(), 2u * kEach);
  EXPECT_EQ(values.count("child-199"), 1u);
}

// The audit chain stays linear when two processes append at the same time.
TEST(SqliteMetaStore, TwoProcessesAppendAuditWithoutForking) {
  ScopedTempDir dir;
  std::string uri = "sqlite://" + dir.path() + "/meta.db";
  { CTML_TEST_ASSIGN(auto init, OpenMetaStore(uri)); }
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto meta = OpenMetaStore(uri);
    if (!meta.ok()) _exit(2);
    for (int i = 0; i < 50; ++i) {
      if (!(*meta)->AppendAudit("child", "x", "o", "{}").ok()) _exit(1);
    }
    _exit(0);
  }
  CTML_TEST_ASSIGN(auto meta, OpenMetaStore(uri));
  for (int i = 0; i < 50; ++i) CTML_TEST_OK(meta->AppendAudit("parent", "x", "o", "{}").status());
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  CTML_TEST_ASSIGN(auto chain, meta->ListAudit(1, 1000));
  ASSERT_EQ(chain.size(), 100u);
  CTML_TEST_OK(VerifyAuditChain(chain));
}

}  // namespace
}  // namespace ctml::store::testing
