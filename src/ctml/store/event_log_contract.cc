// The EventLog contract (see event_log_contract.h). Topic and group names carry a random suffix
// so that the suite also runs against a shared distributed broker.
#include "ctml/store/event_log_contract.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace ctml::store::testing {
namespace {

using std::chrono::milliseconds;

// Polls until `n` records arrived or `patience` elapsed (a bound, not a timing assertion).
std::vector<LogRecord> PollN(Consumer* consumer, size_t n,
                             milliseconds patience = milliseconds(15000)) {
  std::vector<LogRecord> out;
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto batch = consumer->Poll(n - out.size(), milliseconds(200));
    EXPECT_TRUE(batch.ok()) << batch.status().ToString();
    if (!batch.ok()) break;
    for (auto& r : *batch) out.push_back(std::move(r));
  }
  return out;
}

// Offsets within each partition are 0, 1, 2, ... in delivery order.
void ExpectDensePerPartition(const std::vector<LogRecord>& records, int64_t first = 0) {
  std::map<int32_t, int64_t> next;
  for (const auto& r : records) {
    auto it = next.try_emplace(r.partition, first).first;
    EXPECT_EQ(r.offset, it->second) << "partition " << r.partition;
    it->second = r.offset + 1;
  }
}

TEST_P(EventLogContract, AppendThenConsumeInOrderWithDenseOffsets) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("vitals");
  for (int i = 0; i < 5; ++i) {
    CTML_TEST_ASSIGN(auto pos, log->Append(topic, "subject-1", "v" + std::to_string(i)));
    EXPECT_EQ(pos.offset, i);
    EXPECT_GE(pos.partition, 0);
  }
  CTML_TEST_ASSIGN(auto consumer, log->Subscribe(Unique("g"), {topic}));
  auto got = PollN(consumer.get(), 5);
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(got[i].topic, topic);
    EXPECT_EQ(got[i].key, "subject-1");
    EXPECT_EQ(got[i].value, "v" + std::to_string(i));
    EXPECT_EQ(got[i].offset, i);
    EXPECT_EQ(got[i].partition, got[0].partition);
    EXPECT_GT(got[i].timestamp_us, 0);
  }
}

TEST_P(EventLogContract, KeyedRecordsStayInOnePartitionInOrder) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("labs");
  std::map<std::string, int32_t> partition_of;
  for (int i = 0; i < 30; ++i) {
    std::string key = "k" + std::to_string(i % 3);
    CTML_TEST_ASSIGN(auto pos, log->Append(topic, key, key + ":" + std::to_string(i)));
    auto [it, fresh] = partition_of.try_emplace(key, pos.partition);
    EXPECT_EQ(it->second, pos.partition) << key;
  }
  CTML_TEST_ASSIGN(auto parts, log->Partitions(topic));
  ASSERT_FALSE(parts.empty());
  int64_t total = 0;
  for (const auto& p : parts) total += p.end_offset;
  EXPECT_EQ(total, 30);

  CTML_TEST_ASSIGN(auto consumer, log->Subscribe(Unique("g"), {topic}));
  auto got = PollN(consumer.get(), 30);
  ASSERT_EQ(got.size(), 30u);
  ExpectDensePerPartition(got);
  std::map<std::string, int> last_seen;
  for (const auto& r : got) {
    EXPECT_EQ(r.partition, partition_of[r.key]);
    int i = std::stoi(r.value.substr(r.value.find(':') + 1));
    auto it = last_seen.find(r.key);
    if (it != last_seen.end()) {
      EXPECT_LT(it->second, i) << "order of key " << r.key;
    }
    last_seen[r.key] = i;
  }
}

TEST_P(EventLogContract, BatchAppendAssignsDenseOffsets) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("batch");
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < 100; ++i) kvs.emplace_back("same-key", "value-" + std::to_string(i));
  CTML_TEST_ASSIGN(auto positions, log->AppendBatch(topic, kvs));
  ASSERT_EQ(positions.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(positions[i].offset, i);
  CTML_TEST_ASSIGN(auto more, log->AppendBatch(topic, {{"same-key", "value-100"}}));
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].offset, 100);
  CTML_TEST_ASSIGN(auto none, log->AppendBatch(topic, {}));
  EXPECT_TRUE(none.empty());

  CTML_TEST_ASSIGN(auto consumer, log->Subscribe(Unique("g"), {topic}));
  auto got = PollN(consumer.get(), 101);
  ASSERT_EQ(got.size(), 101u);
  for (int i = 0; i < 101; ++i) EXPECT_EQ(got[i].value, "value-" + std::to_string(i));
}

TEST_P(EventLogContract, BinaryKeysAndValuesRoundTrip) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("bin");
  std::string value("a\0b\xff\x01{}", 7);
  std::string key("k\0x", 3);
  CTML_TEST_OK(log->Append(topic, key, value).status());
  CTML_TEST_OK(log->Append(topic, key, "").status());
  CTML_TEST_ASSIGN(auto consumer, log->Subscribe(Unique("g"), {topic}));
  auto got = PollN(consumer.get(), 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, key);
  EXPECT_EQ(got[0].value, value);
  EXPECT_EQ(got[1].value, "");
}

TEST_P(EventLogContract, GroupsAreIndependent) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("t");
  for (int i = 0; i < 4; ++i) CTML_TEST_OK(log->Append(topic, "k", std::to_string(i)).status());
  CTML_TEST_ASSIGN(auto a, log->Subscribe(Unique("ga"), {topic}));
  auto got_a = PollN(a.get(), 4);
  ASSERT_EQ(got_a.size(), 4u);
  CTML_TEST_OK(a->Commit(got_a));
  CTML_TEST_ASSIGN(auto b, log->Subscribe(Unique("gb"), {topic}));
  auto got_b = PollN(b.get(), 4);
  ASSERT_EQ(got_b.size(), 4u);
  EXPECT_EQ(got_b.front().value, "0");
  EXPECT_EQ(got_b.back().value, "3");
}

TEST_P(EventLogContract, NewConsumerResumesAfterCommittedOffset) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("t");
  std::string group = Unique("g");
  for (int i = 0; i < 5; ++i) CTML_TEST_OK(log->Append(topic, "k", std::to_string(i)).status());
  {
    CTML_TEST_ASSIGN(auto c, log->Subscribe(group, {topic}));
    auto got = PollN(c.get(), 3);
    ASSERT_EQ(got.size(), 3u);
    CTML_TEST_OK(c->Commit(got));
  }  // the "process" stops
  CTML_TEST_ASSIGN(auto restarted, log->Subscribe(group, {topic}));
  auto rest = PollN(restarted.get(), 2);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].value, "3");
  EXPECT_EQ(rest[0].offset, 3);
  EXPECT_EQ(rest[1].value, "4");
  CTML_TEST_ASSIGN(auto tail, restarted->Poll(10, milliseconds(100)));
  EXPECT_TRUE(tail.empty());
}

TEST_P(EventLogContract, UncommittedRecordsAreRedelivered) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("t");
  std::string group = Unique("g");
  for (int i = 0; i < 3; ++i) CTML_TEST_OK(log->Append(topic, "k", std::to_string(i)).status());
  {
    CTML_TEST_ASSIGN(auto c, log->Subscribe(group, {topic}));
    ASSERT_EQ(PollN(c.get(), 3).size(), 3u);  // crash before commit
  }
  CTML_TEST_ASSIGN(auto again, log->Subscribe(group, {topic}));
  auto got = PollN(again.get(), 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].value, "0");
  EXPECT_EQ(got[0].offset, 0);
}

TEST_P(EventLogContract, RewindReturnsToCommittedPosition) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("t");
  for (int i = 0; i < 5; ++i) CTML_TEST_OK(log->Append(topic, "k", std::to_string(i)).status());
  CTML_TEST_ASSIGN(auto c, log->Subscribe(Unique("g"), {topic}));
  auto got = PollN(c.get(), 5);
  ASSERT_EQ(got.size(), 5u);
  CTML_TEST_OK(c->Commit({got[0], got[1]}));
  CTML_TEST_ASSIGN(auto nothing, c->Poll(10, milliseconds(100)));
  EXPECT_TRUE(nothing.empty());  // the position stays after the delivered records
  CTML_TEST_OK(c->Rewind());
  auto replay = PollN(c.get(), 3);
  ASSERT_EQ(replay.size(), 3u);
  EXPECT_EQ(replay[0].offset, 2);
  EXPECT_EQ(replay[0].value, "2");
  EXPECT_EQ(replay[2].value, "4");
}

TEST_P(EventLogContract, RewindWithoutCommitStartsOver) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("t");
  for (int i = 0; i < 2; ++i) CTML_TEST_OK(log->Append(topic, "k", std::to_string(i)).status());
  CTML_TEST_ASSIGN(auto c, log->Subscribe(Unique("g"), {topic}));
  ASSERT_EQ(PollN(c.get(), 2).size(), 2u);
  CTML_TEST_OK(c->Rewind());
  auto replay = PollN(c.get(), 2);
  ASSERT_EQ(replay.size(), 2u);
  EXPECT_EQ(replay[0].value, "0");
}

TEST_P(EventLogContract, PollTimesOutWithEmptyBatch) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("quiet");
  CTML_TEST_ASSIGN(auto c, log->Subscribe(Unique("g"), {topic}));
  CTML_TEST_ASSIGN(auto batch, c->Poll(100, milliseconds(150)));
  EXPECT_TRUE(batch.empty());
  CTML_TEST_OK(log->Append(topic, "k", "x").status());
  auto got = PollN(c.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  CTML_TEST_ASSIGN(auto after, c->Poll(100, milliseconds(150)));
  EXPECT_TRUE(after.empty());
}

TEST_P(EventLogContract, PollWaitsForARecordAppendedMeanwhile) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("late");
  CTML_TEST_OK(log->Append(topic, "k", "first").status());
  CTML_TEST_ASSIGN(auto c, log->Subscribe(Unique("g"), {topic}));
  ASSERT_EQ(PollN(c.get(), 1).size(), 1u);
  std::thread producer([&] {
    std::this_thread::sleep_for(milliseconds(200));
    EXPECT_TRUE(log->Append(topic, "k", "second").ok());
  });
  // One long Poll: it must return the late record rather than time out empty.
  CTML_TEST_ASSIGN(auto batch, c->Poll(10, milliseconds(20000)));
  producer.join();
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].value, "second");
}

TEST_P(EventLogContract, MaxRecordsBoundsABatch) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("t");
  for (int i = 0; i < 10; ++i) CTML_TEST_OK(log->Append(topic, "k", std::to_string(i)).status());
  CTML_TEST_ASSIGN(auto c, log->Subscribe(Unique("g"), {topic}));
  auto first = PollN(c.get(), 4);
  ASSERT_EQ(first.size(), 4u);
  CTML_TEST_ASSIGN(auto batch, c->Poll(4, milliseconds(5000)));
  EXPECT_LE(batch.size(), 4u);
  ASSERT_FALSE(batch.empty());
  EXPECT_EQ(batch[0].value, "4");
}

TEST_P(EventLogContract, ConsumerReadsSeveralTopics) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string t1 = Unique("a");
  std::string t2 = Unique("b");
  CTML_TEST_OK(log->Append(t1, "k", "a0").status());
  CTML_TEST_OK(log->Append(t2, "k", "b0").status());
  CTML_TEST_OK(log->Append(t2, "k", "b1").status());
  CTML_TEST_ASSIGN(auto c, log->Subscribe(Unique("g"), {t1, t2}));
  auto got = PollN(c.get(), 3);
  ASSERT_EQ(got.size(), 3u);
  std::multiset<std::string> values;
  for (const auto& r : got) values.insert(r.topic + "/" + r.value);
  EXPECT_EQ(values, (std::multiset<std::string>{t1 + "/a0", t2 + "/b0", t2 + "/b1"}));
  CTML_TEST_OK(c->Commit(got));
  CTML_TEST_ASSIGN(auto topics, log->ListTopics());
  EXPECT_NE(std::find(topics.begin(), topics.end(), t1), topics.end());
  EXPECT_NE(std::find(topics.begin(), topics.end(), t2), topics.end());
}

TEST_P(EventLogContract, LagReportsCommittedAndRemaining) {
  CTML_TEST_ASSIGN(auto log, Open());
  std::string topic = Unique("t");
  std::string group = Unique("g");
  for (int i = 0; i < 10; ++i) CTML_TEST_OK(log->Append(topic, "k", std::to_string(i)).status());
  CTML_TEST_ASSIGN(auto c, log->Subscribe(group, {topic}));
  auto got = PollN(c.get(), 4);
  ASSERT_EQ(got.size(), 4u);
  CTML_TEST_OK(c->Commit(got));
  CTML_TEST_ASSIGN(auto lags, log->Lag(topic));
  auto it =
      std::find_if(lags.begin(), lags.end(), [&](const GroupLag& g) { return g.group == group; });
  ASSERT_NE(it, lags.end());
  EXPECT_EQ(it->topic, topic);
  EXPECT_EQ(it->committed, 4);
  EXPECT_EQ(it->lag, 6);
  for (const auto& g : lags) EXPECT_TRUE(g.group == group) << "unexpected group " << g.group;
}

TEST_P(EventLogContract, AnotherInstanceSeesAppendsAndCommits) {
  CTML_TEST_ASSIGN(auto gateway, Open());    // e.g. the gateway process
  CTML_TEST_ASSIGN(auto processor, Open());  // e.g. the process service
  std::string topic = Unique("t");
  std::string group = Unique("g");
  CTML_TEST_OK(gateway->Append(topic, "k", "from-gateway-0").status());
  CTML_TEST_ASSIGN(auto c, processor->Subscribe(group, {topic}));
  auto first = PollN(c.get(), 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].value, "from-gateway-0");
  CTML_TEST_OK(gateway->Append(topic, "k", "from-gateway-1").status());
  auto second = PollN(c.get(), 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].value, "from-gateway-1");
  CTML_TEST_OK(c->Commit(second));
  // The commit made by one instance is what another instance's consumer resumes from.
  CTML_TEST_ASSIGN(auto other, gateway->Subscribe(group, {topic}));
  CTML_TEST_ASSIGN(auto none, other->Poll(10, milliseconds(150)));
  EXPECT_TRUE(none.empty());
  CTML_TEST_ASSIGN(auto lags, gateway->Lag(topic));
  ASSERT_EQ(lags.size(), 1u);
  EXPECT_EQ(lags[0].committed, 2);
  EXPECT_EQ(lags[0].lag, 0);
}

TEST_P(EventLogContract, ConcurrentAppendersFromTwoInstancesGetDistinctDenseOffsets) {
  CTML_TEST_ASSIGN(auto a, Open());
  CTML_TEST_ASSIGN(auto b, Open());
  std::string topic = Unique("t");
  constexpr int kEach = 100;
  auto run = [&](EventLog* log, const std::string& who) {
    for (int i = 0; i < kEach; ++i) {
      auto pos = log->Append(topic, "k", who + std::to_string(i));
      EXPECT_TRUE(pos.ok()) << pos.status().ToString();
    }
  };
  std::thread ta(run, a.get(), "a");
  std::thread tb(run, b.get(), "b");
  ta.join();
  tb.join();
  CTML_TEST_ASSIGN(auto c, a->Subscribe(Unique("g"), {topic}));
  auto got = PollN(c.get(), 2 * kEach);
  ASSERT_EQ(got.size(), 2u * kEach);
  ExpectDensePerPartition(got);
  std::set<std::string> values;
  for (const auto& r : got) values.insert(r.value);
  EXPECT_EQ(values.size(), 2u * kEach);
}

TEST_P(EventLogContract, ValidatesArgumentsAndPings) {
  CTML_TEST_ASSIGN(auto log, Open());
  CTML_TEST_OK(log->Ping());
  EXPECT_EQ(log->Append("", "k", "v").status().code(), StatusCode::kInvalid);
  EXPECT_FALSE(log->Subscribe("", {"t"}).ok());
  EXPECT_FALSE(log->Subscribe("g", {}).ok());
  EXPECT_EQ(log->Partitions(Unique("never")).status().code(), StatusCode::kNotFound);
  CTML_TEST_ASSIGN(auto lags, log->Lag(Unique("never")));
  EXPECT_TRUE(lags.empty());
}

}  // namespace
}  // namespace ctml::store::testing
