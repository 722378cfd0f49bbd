#include "ctml/store/sqlite/sqlite_event_log.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "ctml/core/crypto.h"
#include "ctml/core/time.h"
#include "ctml/store/sqlite/sqlite_internal.h"

namespace ctml::store {
namespace {

using sqlite_internal::Db;
using sqlite_internal::ReadTxn;
using sqlite_internal::Txn;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS topics(
  topic TEXT PRIMARY KEY,
  partitions INTEGER NOT NULL,
  created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS partitions(
  topic TEXT NOT NULL,
  part INTEGER NOT NULL,
  end_offset INTEGER NOT NULL,
  PRIMARY KEY(topic, part));
CREATE TABLE IF NOT EXISTS records(
  topic TEXT NOT NULL,
  part INTEGER NOT NULL,
  off INTEGER NOT NULL,
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  ts_us INTEGER NOT NULL,
  PRIMARY KEY(topic, part, off));
CREATE TABLE IF NOT EXISTS group_offsets(
  grp TEXT NOT NULL,
  topic TEXT NOT NULL,
  part INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  updated_us INTEGER NOT NULL,
  PRIMARY KEY(grp, topic, part));
)sql";

// State shared by the log and its consumers (a consumer may outlive the log object).
struct Shared {
  std::mutex mu;
  std::unique_ptr<Db> db;
  SqliteEventLogOptions options;
};

using PartKey = std::pair<std::string, int32_t>;

class SqliteConsumer final : public Consumer {
 public:
  SqliteConsumer(std::shared_ptr<Shared> shared, std::string group, std::vector<std::string> topics)
      : shared_(std::move(shared)), group_(std::move(group)), topics_(std::move(topics)) {}

  Result<std::vector<LogRecord>> Poll(size_t max_records,
                                      std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> self(mu_);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto interval = std::chrono::milliseconds(shared_->options.poll_interval_ms);
    for (;;) {
      CTML_ASSIGN_OR_RETURN(auto batch, FetchOnce(max_records));
      if (!batch.empty() || max_records == 0) return batch;
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return batch;
      auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
          interval, std::max(remaining, std::chrono::milliseconds(1))));
    }
  }

  Status Commit(const std::vector<LogRecord>& records) override {
    std::map<PartKey, int64_t> next;
    for (const auto& r : records) {
      auto& n = next[{r.topic, r.partition}];
      n = std::max(n, r.offset + 1);
    }
    if (next.empty()) return Status::OK();
    std::lock_guard<std::mutex> lock(shared_->mu);
    Db* db = shared_->db.get();
    Txn txn(db);
    CTML_RETURN_NOT_OK(txn.Begin());
    CTML_ASSIGN_OR_RETURN(auto st,
                          db->Prepare("INSERT INTO group_offsets(grp, topic, part, next_offset, "
                                      "updated_us) VALUES(?, ?, ?, ?, ?) ON CONFLICT(grp, topic, "
                                      "part) DO UPDATE SET next_offset = excluded.next_offset, "
                                      "updated_us = excluded.updated_us"));
    int64_t now = NowMicros();
    for (const auto& [tp, off] : next) {
      CTML_RETURN_NOT_OK(st.Reset());
      st.Bind(1, group_).Bind(2, tp.first).Bind(3, tp.second).Bind(4, off).Bind(5, now);
      CTML_RETURN_NOT_OK(st.Run());
    }
    return txn.Commit();
  }

  Status Rewind() override {
    std::lock_guard<std::mutex> self(mu_);
    position_.clear();  // reloaded from the committed offsets on the next Poll
    return Status::OK();
  }

 private:
  Result<std::vector<LogRecord>> FetchOnce(size_t max_records) {
    std::vector<LogRecord> out;
    if (max_records == 0) return out;
    std::lock_guard<std::mutex> lock(shared_->mu);
    Db* db = shared_->db.get();
    ReadTxn snapshot(db);
    CTML_RETURN_NOT_OK(snapshot.Begin());

    // Partitions with records after the consumer's position.
    struct Pending {
      std::string topic;
      int32_t part;
      int64_t pos;
    };
    std::vector<Pending> pending;
    CTML_ASSIGN_OR_RETURN(auto parts,
                          db->Prepare("SELECT part, end_offset FROM partitions WHERE topic = ? "
                                      "ORDER BY part"));
    CTML_ASSIGN_OR_RETURN(auto committed,
                          db->Prepare("SELECT next_offset FROM group_offsets WHERE grp = ? AND "
                                      "topic = ? AND part = ?"));
    for (const auto& topic : topics_) {
      CTML_RETURN_NOT_OK(parts.Reset());
      parts.Bind(1, topic);
      for (;;) {
        CTML_ASSIGN_OR_RETURN(bool row, parts.Step());
        if (!row) break;
        auto part = static_cast<int32_t>(parts.Int64(0));
        int64_t end = parts.Int64(1);
        PartKey pk{topic, part};
        auto it = position_.find(pk);
        if (it == position_.end()) {
          CTML_RETURN_NOT_OK(committed.Reset());
          committed.Bind(1, group_).Bind(2, topic).Bind(3, part);
          CTML_ASSIGN_OR_RETURN(bool has, committed.Step());
          it = position_.emplace(pk, has ? committed.Int64(0) : 0).first;
        }
        if (it->second < end) pending.push_back({topic, part, it->second});
      }
    }
    if (pending.empty()) return out;

    CTML_ASSIGN_OR_RETURN(auto recs,
                          db->Prepare("SELECT off, key, value, ts_us FROM records WHERE topic = ? "
                                      "AND part = ? AND off >= ? ORDER BY off LIMIT ?"));
    // Start at a rotating partition so that one busy partition cannot starve the others.
    size_t start = next_start_++ % pending.size();
    for (size_t i = 0; i < pending.size() && out.size() < max_records; ++i) {
      const Pending& p = pending[(start + i) % pending.size()];
      CTML_RETURN_NOT_OK(recs.Reset());
      recs.Bind(1, p.topic)
          .Bind(2, p.part)
          .Bind(3, p.pos)
          .Bind(4, static_cast<int64_t>(max_records - out.size()));
      int64_t last = -1;
      for (;;) {
        CTML_ASSIGN_OR_RETURN(bool row, recs.Step());
        if (!row) break;
        LogRecord r;
        r.topic = p.topic;
        r.partition = p.part;
        r.offset = recs.Int64(0);
        r.key = recs.Text(1);
        r.value = recs.Text(2);
        r.timestamp_us = recs.Int64(3);
        last = r.offset;
        out.push_back(std::move(r));
      }
      if (last >= 0) position_[{p.topic, p.part}] = last + 1;
    }
    return out;
  }

  std::shared_ptr<Shared> shared_;
  std::string group_;
  std::vector<std::string> topics_;
  std::mutex mu_;  // guards position_ and next_start_
  std::map<PartKey, int64_t> position_;
  size_t next_start_ = 0;
};

class SqliteEventLog final : public EventLog {
 public:
  explicit SqliteEventLog(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  Result<RecordPosition> Append(const std::string& topic, const std::string& key,
                                const std::string& value) override {
    CTML_ASSIGN_OR_RETURN(auto pos, AppendBatch(topic, {{key, value}}));
    return pos.front();
  }

  Result<std::vector<RecordPosition>> AppendBatch(
      const std::string& topic,
      const std::vector<std::pair<std::string, std::string>>& kvs) override {
    if (topic.empty()) return Status::Invalid("topic must not be empty", "topic");
    std::vector<RecordPosition> out;
    if (kvs.empty()) return out;
    out.reserve(kvs.size());
    std::lock_guard<std::mutex> lock(shared_->mu);
    Db* db = shared_->db.get();
    Txn txn(db);
    CTML_RETURN_NOT_OK(txn.Begin());
    CTML_ASSIGN_OR_RETURN(int32_t nparts, EnsureTopic(db, topic));

    CTML_ASSIGN_OR_RETURN(auto ends,
                          db->Prepare("SELECT part, end_offset FROM partitions WHERE topic = ?"));
    ends.Bind(1, topic);
    std::map<int32_t, int64_t> end;
    for (;;) {
      CTML_ASSIGN_OR_RETURN(bool row, ends.Step());
      if (!row) break;
      end[static_cast<int32_t>(ends.Int64(0))] = ends.Int64(1);
    }
    CTML_ASSIGN_OR_RETURN(auto ins, db->Prepare("INSERT INTO records(topic, part, off, key, value, "
                                                "ts_us) VALUES(?, ?, ?, ?, ?, ?)"));
    int64_t now = NowMicros();
    for (const auto& [key, value] : kvs) {
      int32_t part = nparts <= 1 ? 0 : static_cast<int32_t>(Hash64(key) % nparts);
      int64_t off = end[part]++;
      CTML_RETURN_NOT_OK(ins.Reset());
      ins.Bind(1, topic).Bind(2, part).Bind(3, off).BindBlob(4, key).BindBlob(5, value).Bind(6,
                                                                                             now);
      CTML_RETURN_NOT_OK(ins.Run());
      out.push_back({part, off});
    }
    CTML_ASSIGN_OR_RETURN(auto upd, db->Prepare("UPDATE partitions SET end_offset = ? WHERE "
                                                "topic = ? AND part = ?"));
    for (const auto& [part, e] : end) {
      CTML_RETURN_NOT_OK(upd.Reset());
      upd.Bind(1, e).Bind(2, topic).Bind(3, part);
      CTML_RETURN_NOT_OK(upd.Run());
    }
    CTML_RETURN_NOT_OK(txn.Commit());
    return out;
  }

  Result<std::unique_ptr<Consumer>> Subscribe(const std::string& group,
                                              const std::vector<std::string>& topics) override {
    if (group.empty()) return Status::Invalid("consumer group must not be empty", "group");
    if (topics.empty()) return Status::Invalid("subscribe needs at least one topic", "topics");
    std::vector<std::string> unique = topics;
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    return std::unique_ptr<Consumer>(new SqliteConsumer(shared_, group, std::move(unique)));
  }

  Result<std::vector<std::string>> ListTopics() override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    CTML_ASSIGN_OR_RETURN(auto st, shared_->db->Prepare("SELECT topic FROM topics ORDER BY topic"));
    return st.TextColumn();
  }

  Result<std::vector<PartitionInfo>> Partitions(const std::string& topic) override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    CTML_ASSIGN_OR_RETURN(auto st, shared_->db->Prepare("SELECT part, end_offset FROM partitions "
                                                        "WHERE topic = ? ORDER BY part"));
    st.Bind(1, topic);
    std::vector<PartitionInfo> out;
    for (;;) {
      CTML_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({static_cast<int32_t>(st.Int64(0)), st.Int64(1)});
    }
    if (out.empty()) return Status::NotFound("unknown topic '" + topic + "'");
    return out;
  }

  Result<std::vector<GroupLag>> Lag(const std::string& topic) override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    Db* db = shared_->db.get();
    ReadTxn snapshot(db);
    CTML_RETURN_NOT_OK(snapshot.Begin());
    CTML_ASSIGN_OR_RETURN(auto total, db->Prepare("SELECT COALESCE(SUM(end_offset), 0) FROM "
                                                  "partitions WHERE topic = ?"));
    total.Bind(1, topic);
    CTML_ASSIGN_OR_RETURN(bool has_total, total.Step());
    int64_t end = has_total ? total.Int64(0) : 0;
    CTML_ASSIGN_OR_RETURN(auto st, db->Prepare("SELECT grp, SUM(next_offset) FROM group_offsets "
                                               "WHERE topic = ? GROUP BY grp ORDER BY grp"));
    st.Bind(1, topic);
    std::vector<GroupLag> out;
    for (;;) {
      CTML_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      GroupLag g;
      g.group = st.Text(0);
      g.topic = topic;
      g.committed = st.Int64(1);
      g.lag = std::max<int64_t>(0, end - g.committed);
      out.push_back(std::move(g));
    }
    return out;
  }

  Status Ping() override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    CTML_ASSIGN_OR_RETURN(auto st, shared_->db->Prepare("SELECT 1"));
    CTML_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? Status::OK() : Status::Unavailable("sqlite event log: ping returned no row");
  }

 private:
  // Inside a write transaction: creates the topic and its partitions when new; returns the
  // topic's partition count.
  Result<int32_t> EnsureTopic(Db* db, const std::string& topic) {
    CTML_ASSIGN_OR_RETURN(auto sel, db->Prepare("SELECT partitions FROM topics WHERE topic = ?"));
    sel.Bind(1, topic);
    CTML_ASSIGN_OR_RETURN(bool row, sel.Step());
    if (row) return static_cast<int32_t>(sel.Int64(0));
    int32_t n = std::max<int32_t>(1, shared_->options.partitions);
    CTML_ASSIGN_OR_RETURN(auto ins, db->Prepare("INSERT INTO topics(topic, partitions, created_us) "
                                                "VALUES(?, ?, ?)"));
    ins.Bind(1, topic).Bind(2, n).Bind(3, NowMicros());
    CTML_RETURN_NOT_OK(ins.Run());
    CTML_ASSIGN_OR_RETURN(auto part, db->Prepare("INSERT INTO partitions(topic, part, end_offset) "
                                                 "VALUES(?, ?, 0)"));
    for (int32_t p = 0; p < n; ++p) {
      CTML_RETURN_NOT_OK(part.Reset());
      part.Bind(1, topic).Bind(2, p);
      CTML_RETURN_NOT_OK(part.Run());
    }
    return n;
  }

  std::shared_ptr<Shared> shared_;
};

}  // namespace

Result<std::unique_ptr<EventLog>> OpenSqliteEventLog(const std::string& path,
                                                     const SqliteEventLogOptions& options) {
  auto shared = std::make_shared<Shared>();
  shared->options = options;
  CTML_ASSIGN_OR_RETURN(
      shared->db, Db::OpenWithSchema(path, options.synchronous, kSchema, options.busy_timeout_ms));
  return std::unique_ptr<EventLog>(new SqliteEventLog(std::move(shared)));
}

}  // namespace ctml::store
