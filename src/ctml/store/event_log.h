// EventLog port: durable topics of keyed records, consumed by groups with committed offsets.
// Kafka's model: a topic has partitions; a key always maps to the same partition, so one
// subject's events stay ordered. Adapters: sqlite:// (embedded), kafka:// (distributed).
//
//   CTML_ASSIGN_OR_RETURN(auto log, ctml::store::OpenEventLog("sqlite:///path/log.db"));
//   CTML_ASSIGN_OR_RETURN(auto pos, log->Append("patient-vitals", subject_key, event_json));
//   CTML_ASSIGN_OR_RETURN(auto consumer, log->Subscribe("process", {"patient-vitals"}));
//   CTML_ASSIGN_OR_RETURN(auto batch, consumer->Poll(500, std::chrono::milliseconds(200)));
//   ... make the effect of `batch` durable ...
//   CTML_RETURN_NOT_OK(consumer->Commit(batch));   // at-least-once; replays overwrite
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::store {

struct LogRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  int64_t timestamp_us = 0;  // append time
};

struct RecordPosition {
  int32_t partition = 0;
  int64_t offset = 0;
};

struct PartitionInfo {
  int32_t partition = 0;
  int64_t end_offset = 0;  // offset the next append gets (= number of records ever appended)
};

struct GroupLag {
  std::string group;
  std::string topic;
  int64_t committed = 0;  // sum over partitions of committed next-offsets
  int64_t lag = 0;        // sum over partitions of end_offset - committed
};

class Consumer {
 public:
  virtual ~Consumer() = default;
  // Up to `max_records` records after the consumer's position; waits up to `timeout` when none
  // is available and returns an empty batch on timeout. A new consumer starts at the group's
  // committed offsets (0 when the group never committed).
  virtual Result<std::vector<LogRecord>> Poll(size_t max_records,
                                              std::chrono::milliseconds timeout) = 0;
  // Commits, for each partition present in `records`, the offset after its last record.
  virtual Status Commit(const std::vector<LogRecord>& records) = 0;
  // Moves the position back to the committed offsets (used after a failed write).
  virtual Status Rewind() = 0;
};

class EventLog {
 public:
  virtual ~EventLog() = default;
  virtual Result<RecordPosition> Append(const std::string& topic, const std::string& key,
                                        const std::string& value) = 0;
  // Appends all records atomically where the adapter can (SQLite: one transaction).
  virtual Result<std::vector<RecordPosition>> AppendBatch(
      const std::string& topic, const std::vector<std::pair<std::string, std::string>>& kvs) = 0;
  virtual Result<std::unique_ptr<Consumer>> Subscribe(const std::string& group,
                                                      const std::vector<std::string>& topics) = 0;
  // Topics that exist (have been appended to or created).
  virtual Result<std::vector<std::string>> ListTopics() = 0;
  virtual Result<std::vector<PartitionInfo>> Partitions(const std::string& topic) = 0;
  // Committed offsets and lag of every group that committed on `topic`.
  virtual Result<std::vector<GroupLag>> Lag(const std::string& topic) = 0;
  // Cheap liveness check (used by /ready and -h).
  virtual Status Ping() = 0;
};

}  // namespace ctml::store
