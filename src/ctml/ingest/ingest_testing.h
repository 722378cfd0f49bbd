// Test doubles shared by the ingestion tests (included only by *_test.cc files).
//
//   UnavailableEventLog down;
//   IngestCore core(down, nullptr);   // every Submit fails: the source must not acknowledge
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ctml/store/event_log.h"

namespace ctml::ingest {

// An EventLog that is down: every call answers Unavailable.
class UnavailableEventLog : public store::EventLog {
 public:
  Result<store::RecordPosition> Append(const std::string&, const std::string&,
                                       const std::string&) override {
    return Down();
  }
  Result<std::vector<store::RecordPosition>> AppendBatch(
      const std::string&, const std::vector<std::pair<std::string, std::string>>&) override {
    return Down();
  }
  Result<std::unique_ptr<store::Consumer>> Subscribe(const std::string&,
                                                     const std::vector<std::string>&) override {
    return Down();
  }
  Result<std::vector<std::string>> ListTopics() override { return Down(); }
  Result<std::vector<store::PartitionInfo>> Partitions(const std::string&) override {
    return Down();
  }
  Result<std::vector<store::GroupLag>> Lag(const std::string&) override { return Down(); }
  Status Ping() override { return Down(); }

 private:
  static Status Down() { return Status::Unavailable("event log down (test double)"); }
};

}  // namespace ctml::ingest
