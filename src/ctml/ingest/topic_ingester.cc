#include "ctml/ingest/topic_ingester.h"

#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/time.h"
#include "ctml/ingest/topic_payloads.h"

namespace ctml::ingest {

TopicIngester::TopicIngester(IngestCore& core, store::EventLog& ctml_log,
                             const privacy::Deidentifier& deid, std::string prefix,
                             std::string group)
    : core_(core),
      ctml_log_(ctml_log),
      deid_(deid),
      prefix_(std::move(prefix)),
      group_(std::move(group)) {}

std::vector<std::string> TopicIngester::Topics() const {
  std::vector<std::string> out;
  for (const auto& t : ExistingStackTopics()) out.push_back(prefix_ + t);
  return out;
}

Status TopicIngester::Handle(const std::vector<store::LogRecord>& batch) {
  int64_t now = NowMicros();
  std::vector<CanonicalEvent> events;
  std::vector<std::pair<std::string, std::string>> rejected;
  BatchInfo info;
  info.source = "kafka";
  info.actor = "kafka:" + group_;
  info.object = "topics";
  for (const store::LogRecord& rec : batch) {
    std::string topic = rec.topic.substr(std::min(prefix_.size(), rec.topic.size()));
    auto doc = ParseJson(rec.value, 32);
    Result<CanonicalEvent> ev = doc.ok() ? ParseTopicPayload(topic, *doc, deid_, now)
                                         : Result<CanonicalEvent>(doc.status());
    if (ev.ok()) {
      events.push_back(std::move(*ev));
      continue;
    }
    std::string reason = doc.ok() ? "INVALID_FIELD" : "MALFORMED_JSON";
    info.rejected++;
    info.reject_reasons[reason]++;
    Json r = {{"source_topic", rec.topic},
              {"partition", rec.partition},
              {"offset", rec.offset},
              {"reason_code", reason},
              {"field", ev.status().field()},
              {"message", ev.status().message().substr(0, 200)},
              {"rejected_at", FormatIso8601(now)}};
    rejected.emplace_back(rec.topic, r.dump());
  }
  if (!events.empty()) {
    CTML_RETURN_NOT_OK(core_.Submit(events, info).status());
  } else if (info.rejected > 0) {
    CTML_RETURN_NOT_OK(core_.RecordRejection(info));
  }
  if (!rejected.empty()) {
    CTML_RETURN_NOT_OK(ctml_log_.AppendBatch(kRejectedTopic, rejected).status());
    log::Info("ingest-topics", "rejected payloads", {{"count", std::to_string(rejected.size())}});
  }
  accepted_ += static_cast<int64_t>(events.size());
  rejected_ += info.rejected;
  return Status::OK();
}

}  // namespace ctml::ingest
