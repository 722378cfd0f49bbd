#include "ctml/process/lake_writers.h"

#include <map>
#include <set>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/process/batch_intent.h"
#include "ctml/process/silver_rows.h"
#include "ctml/process/table_builder.h"

namespace ctml::process {
namespace {

// One TableBuilder per event date; writes <prefix>/date=D/<part> for each date with rows.
class DatePartitions {
 public:
  explicit DatePartitions(std::vector<ColumnDef> cols) : cols_(std::move(cols)) {}
  TableBuilder& For(const std::string& date) {
    auto it = by_date_.find(date);
    if (it == by_date_.end()) it = by_date_.emplace(date, TableBuilder(cols_)).first;
    return it->second;
  }
  Status WriteAll(store::Lake& lake, const std::string& prefix, const std::string& part) {
    for (auto& [date, b] : by_date_) {
      if (b.rows() == 0) continue;
      CTML_ASSIGN_OR_RETURN(auto table, b.Finish());
      CTML_RETURN_NOT_OK(lake.WriteParquet(prefix + "/date=" + date + "/" + part, table));
    }
    return Status::OK();
  }

 private:
  std::vector<ColumnDef> cols_;
  std::map<std::string, TableBuilder> by_date_;
};

struct Quarantined {
  const store::LogRecord* record;
  std::string reason_code;
  std::string detail;
};

// Records that are not canonical events: quarantine/envelopes/date=<append date>/.
Status WriteQuarantine(store::Lake& lake, const std::vector<Quarantined>& rows,
                       const std::string& part) {
  if (rows.empty()) return Status::OK();
  DatePartitions parts({{"log_topic", ColumnType::kString},
                        {"log_partition", ColumnType::kInt32},
                        {"log_offset", ColumnType::kInt64},
                        {"received_at", ColumnType::kTimestampUs},
                        {"reason_code", ColumnType::kString},
                        {"detail", ColumnType::kString}});
  for (const auto& q : rows) {
    TableBuilder& b = parts.For(FormatDate(q.record->timestamp_us));
    b.String(0, q.record->topic);
    b.Int32(1, q.record->partition);
    b.Int64(2, q.record->offset);
    b.Timestamp(3, q.record->timestamp_us);
    b.String(4, q.reason_code);
    b.String(5, q.detail);  // a parser message; never the record's values
    b.EndRow();
  }
  return parts.WriteAll(lake, "quarantine/envelopes", part);
}

}  // namespace

namespace {

struct Parsed {
  const store::LogRecord* record;
  Result<ingest::CanonicalEvent> event;
};

std::vector<Parsed> ParseAll(const std::vector<store::LogRecord>& batch) {
  std::vector<Parsed> out;
  out.reserve(batch.size());
  for (const auto& rec : batch) out.push_back({&rec, ingest::CanonicalEvent::FromJson(rec.value)});
  return out;
}

}  // namespace

std::vector<std::string> BronzeFiles(const std::vector<store::LogRecord>& batch) {
  std::set<std::string> files;
  if (batch.empty()) return {};
  std::string part = PartName(batch);
  for (const auto& p : ParseAll(batch)) {
    if (p.event.ok() && SchemaForEventType(p.event->event_type) != nullptr) {
      files.insert("bronze/" + p.event->event_type + "/date=" + FormatDate(p.event->event_time_us) +
                   "/" + part);
    } else {
      files.insert("quarantine/envelopes/date=" + FormatDate(p.record->timestamp_us) + "/" + part);
    }
  }
  return {files.begin(), files.end()};
}

Status WriteBronze(store::Lake& lake, const std::vector<store::LogRecord>& batch) {
  if (batch.empty()) return Status::OK();
  std::vector<ColumnDef> cols = {
      {"event_id", ColumnType::kString},         {"event_type", ColumnType::kString},
      {"study_id", ColumnType::kString},         {"site_id", ColumnType::kString},
      {"subject_key", ColumnType::kString},      {"event_time", ColumnType::kTimestampUs},
      {"received_at", ColumnType::kTimestampUs}, {"source", ColumnType::kString},
      {"schema_version", ColumnType::kInt32},    {"payload", ColumnType::kString},
      {"log_topic", ColumnType::kString},        {"log_partition", ColumnType::kInt32},
      {"log_offset", ColumnType::kInt64}};
  std::map<std::string, DatePartitions> by_type;
  std::vector<Quarantined> bad;
  for (const auto& p : ParseAll(batch)) {
    const store::LogRecord& rec = *p.record;
    if (!p.event.ok()) {
      bad.push_back({&rec, "MALFORMED_EVENT", p.event.status().message().substr(0, 200)});
      continue;
    }
    if (SchemaForEventType(p.event->event_type) == nullptr) {
      // Only the seven known types have a Bronze folder (and a Silver table); anything else,
      // including names that are not safe path segments, is quarantined here.
      bad.push_back({&rec, "UNEXPECTED_EVENT_TYPE", "not one of the seven event types"});
      continue;
    }
    const ingest::CanonicalEvent& ev = *p.event;
    auto it = by_type.find(ev.event_type);
    if (it == by_type.end()) it = by_type.emplace(ev.event_type, DatePartitions(cols)).first;
    TableBuilder& b = it->second.For(FormatDate(ev.event_time_us));
    b.String(0, ev.event_id);
    b.String(1, ev.event_type);
    b.String(2, ev.study_id);
    b.String(3, ev.site_id);
    b.String(4, ev.subject_key);
    b.Timestamp(5, ev.event_time_us);
    b.Timestamp(6, ev.received_at_us);
    b.String(7, ev.source);
    b.Int32(8, ev.schema_version);
    b.String(9, ev.payload_json);
    b.String(10, rec.topic);
    b.Int32(11, rec.partition);
    b.Int64(12, rec.offset);
    b.EndRow();
  }
  std::string part = PartName(batch);
  for (auto& [type, parts] : by_type)
    CTML_RETURN_NOT_OK(parts.WriteAll(lake, "bronze/" + type, part));
  return WriteQuarantine(lake, bad, part);
}

}  // namespace ctml::process
