// The existing stack's Kafka payloads -> canonical events (docs/ingest/kafka-topics.md): one
// polled batch of source records at a time. Valid payloads go through the ingestion core;
// rejected ones become records on ctml's topic `ingest-rejected` (source position + reason,
// never the payload). The caller commits the source offsets after Handle() succeeded.
//
//   TopicIngester ingester(core, ctml_log, deid, /*prefix=*/"raw.", "ctml-ingest-topics");
//   RunStreamWorker(options, source_log, [&](const auto& b) { return ingester.Handle(b); });
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/ingest/ingest_core.h"
#include "ctml/store/event_log.h"

namespace ctml::privacy {
class Deidentifier;
}

namespace ctml::ingest {

inline constexpr char kRejectedTopic[] = "ingest-rejected";

class TopicIngester {
 public:
  TopicIngester(IngestCore& core, store::EventLog& ctml_log, const privacy::Deidentifier& deid,
                std::string prefix, std::string group);
  // The source topics to subscribe to: prefix + each of ExistingStackTopics().
  std::vector<std::string> Topics() const;
  Status Handle(const std::vector<store::LogRecord>& batch);

  int64_t accepted() const { return accepted_; }
  int64_t rejected() const { return rejected_; }

 private:
  IngestCore& core_;
  store::EventLog& ctml_log_;
  const privacy::Deidentifier& deid_;
  std::string prefix_;
  std::string group_;
  int64_t accepted_ = 0;
  int64_t rejected_ = 0;
};

}  // namespace ctml::ingest
