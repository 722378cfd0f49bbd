#include "ctml/process/lake_writers.h"

#include <map>
#include <set>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/process/table_builder.h"

namespace ctml::process {
namespace {

std::string PartName(const std::vector<store::LogRecord>& batch) {
  return "part-" + std::to_string(batch.front().partition) + "-" +
         std::to_string(batch.front().offset) + ".parquet";
}

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

Status WriteQuarantine(store::Lake& lake, const std::string& event_type,
                       const std::vector<Quarantined>& rows,
                       const std::vector<store::LogRecord>& batch) {
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
  return parts.WriteAll(lake, "quarantine/" + event_type, PartName(batch));
}

}  // namespace

const std::vector<VitalCode>& VitalCodes() {
  static const std::vector<VitalCode> kCodes = {
      {"systolic_bp", "SYSBP", "8480-6", "mmHg"},
      {"diastolic_bp", "DIABP", "8462-4", "mmHg"},
      {"heart_rate", "PULSE", "8867-4", "beats/min"},
      {"temperature_celsius", "TEMP", "8310-5", "C"},
      {"respiratory_rate", "RESP", "9279-1", "breaths/min"},
      {"oxygen_saturation", "SPO2", "59408-5", "%"},
  };
  return kCodes;
}

Status WriteBronze(store::Lake& lake, const std::string& event_type,
                   const std::vector<store::LogRecord>& batch) {
  if (batch.empty()) return Status::OK();
  std::vector<ColumnDef> cols = {
      {"event_id", ColumnType::kString},         {"event_type", ColumnType::kString},
      {"study_id", ColumnType::kString},         {"site_id", ColumnType::kString},
      {"subject_key", ColumnType::kString},      {"event_time", ColumnType::kTimestampUs},
      {"received_at", ColumnType::kTimestampUs}, {"source", ColumnType::kString},
      {"schema_version", ColumnType::kInt32},    {"payload", ColumnType::kString},
      {"log_topic", ColumnType::kString},        {"log_partition", ColumnType::kInt32},
      {"log_offset", ColumnType::kInt64}};
  DatePartitions parts(cols);
  std::vector<Quarantined> bad;
  for (const auto& rec : batch) {
    auto ev = ingest::CanonicalEvent::FromJson(rec.value);
    if (!ev.ok()) {
      bad.push_back({&rec, "MALFORMED_EVENT", ev.status().message().substr(0, 200)});
      continue;
    }
    TableBuilder& b = parts.For(FormatDate(ev->event_time_us));
    b.String(0, ev->event_id);
    b.String(1, ev->event_type);
    b.String(2, ev->study_id);
    b.String(3, ev->site_id);
    b.String(4, ev->subject_key);
    b.Timestamp(5, ev->event_time_us);
    b.Timestamp(6, ev->received_at_us);
    b.String(7, ev->source);
    b.Int32(8, ev->schema_version);
    b.String(9, ev->payload_json);
    b.String(10, rec.topic);
    b.Int32(11, rec.partition);
    b.Int64(12, rec.offset);
    b.EndRow();
  }
  CTML_RETURN_NOT_OK(parts.WriteAll(lake, "bronze/" + event_type, PartName(batch)));
  return WriteQuarantine(lake, event_type, bad, batch);
}

Result<std::vector<StandardizedVital>> WriteSilverVitals(
    store::Lake& lake, const std::vector<store::LogRecord>& batch) {
  std::vector<StandardizedVital> out;
  if (batch.empty()) return out;
  std::vector<ColumnDef> cols = {
      {"event_id", ColumnType::kString},        {"source_event_id", ColumnType::kString},
      {"subject_key", ColumnType::kString},     {"study_id", ColumnType::kString},
      {"site_id", ColumnType::kString},         {"source", ColumnType::kString},
      {"event_time", ColumnType::kTimestampUs}, {"received_at", ColumnType::kTimestampUs},
      {"test_code", ColumnType::kString},       {"loinc", ColumnType::kString},
      {"value", ColumnType::kDouble},           {"unit", ColumnType::kString},
      {"orig_value", ColumnType::kDouble},      {"orig_unit", ColumnType::kString}};
  DatePartitions parts(cols);
  std::vector<Quarantined> bad;
  std::set<std::string> seen;
  for (const auto& rec : batch) {
    auto ev = ingest::CanonicalEvent::FromJson(rec.value);
    if (!ev.ok()) {
      bad.push_back({&rec, "MALFORMED_EVENT", ev.status().message().substr(0, 200)});
      continue;
    }
    if (ev->event_type != "vital_signs") {
      bad.push_back({&rec, "UNEXPECTED_EVENT_TYPE", "event_type " + ev->event_type});
      continue;
    }
    if (!seen.insert(ev->event_id).second) continue;  // duplicate within the batch
    auto payload = ParseJson(ev->payload_json);
    if (!payload.ok() || !payload->is_object()) {
      bad.push_back({&rec, "MALFORMED_PAYLOAD", "payload is not a JSON object"});
      continue;
    }
    auto m = payload->find("measurements");
    if (m == payload->end() || !m->is_array() || m->empty()) {
      bad.push_back({&rec, "MALFORMED_PAYLOAD", "payload has no measurements list"});
      continue;
    }
    TableBuilder& b = parts.For(FormatDate(ev->event_time_us));
    for (const Json& x : *m) {
      if (!x.is_object() || !x.contains("test") || !x["test"].is_string()) {
        bad.push_back({&rec, "MALFORMED_PAYLOAD", "measurement without a test"});
        continue;
      }
      if (!x.contains("value") || !x["value"].is_number()) continue;  // non-numeric result
      std::string test = x["test"].get<std::string>();
      std::string unit =
          x.contains("unit") && x["unit"].is_string() ? x["unit"].get<std::string>() : "";
      const VitalCode* vc = nullptr;
      for (const VitalCode& c : VitalCodes()) {
        if (test == c.field || test == c.test_code || test == c.loinc) vc = &c;
      }
      // Until table-driven standardization lands (issue 4) only codes already in their standard
      // unit reach Silver; the rest is quarantined with the reason, never dropped.
      if (vc == nullptr) {
        bad.push_back({&rec, "UNKNOWN_TEST_CODE", "vital test " + test.substr(0, 40)});
        continue;
      }
      if (!unit.empty() && unit != vc->unit) {
        bad.push_back(
            {&rec, "UNIT_NOT_STANDARDIZED", test.substr(0, 40) + " in " + unit.substr(0, 20)});
        continue;
      }
      double value = x["value"].get<double>();
      std::string row_id = ev->event_id + ":" + vc->test_code;
      b.String(0, row_id);
      b.String(1, ev->event_id);
      b.String(2, ev->subject_key);
      b.String(3, ev->study_id);
      b.String(4, ev->site_id);
      b.String(5, ev->source);
      b.Timestamp(6, ev->event_time_us);
      b.Timestamp(7, ev->received_at_us);
      b.String(8, vc->test_code);
      b.String(9, vc->loinc);
      b.Double(10, value);
      b.String(11, vc->unit);
      b.Double(12, value);
      b.String(13, unit.empty() ? vc->unit : unit);
      b.EndRow();
      Json msg = {{"event_id", row_id},
                  {"subject_key", ev->subject_key},
                  {"event_time_us", ev->event_time_us},
                  {"received_at_us", ev->received_at_us},
                  {"test_code", vc->test_code},
                  {"value", value},
                  {"unit", vc->unit}};
      out.push_back({ev->subject_key, msg.dump()});
    }
  }
  CTML_RETURN_NOT_OK(parts.WriteAll(lake, "silver/vitals", PartName(batch)));
  CTML_RETURN_NOT_OK(WriteQuarantine(lake, "vital_signs", bad, batch));
  return out;
}

}  // namespace ctml::process
